#!/usr/bin/env bash
# Regenerates scripts/berth.order, the link order of the functions and data that berth's hot
# commands touch (run --rm, run -d, exec, ps, inspect, images, rm), which scripts/build.sh gives
# lld (--symbol-ordering-file) so they sit together at the start of .text/.rodata.
#
# Why: every process on the start path (the CLI, its monitor fork, the container's init clone)
# maps its code by page faults, one per 64 KB window (fault-around), and a fork starts with no
# page tables for the executable. Scattered over 10 MB of text that was ~180 faults of ~3 us
# per `run --rm` here; grouped, ~85. A stale list is harmless (unknown names are skipped):
# rerun this after large changes to the start path. Needs perf (Debian's linux-perf).
#
# Usage (as root, from the project root): scripts/symbol-order.sh [iterations, default 3]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v perf >/dev/null || { echo "needs perf (apt-get install linux-perf)"; exit 1; }
ROUNDS=${1:-3}
ORDER=scripts/berth.order
W=$(mktemp -d /var/tmp/berth-order.XXXXXX)
B=$PWD/target/release/berth
berth() { "$B" --root "$W/root" --runroot "$W/run" "$@"; }
cleanup() {
    ids=$(berth ps -aq --no-trunc 2>/dev/null || true)
    [ -z "$ids" ] || berth rm -f $ids >/dev/null 2>&1 || true
    rm -rf "$W"
}
trap cleanup EXIT
scripts/build.sh >/dev/null
mkdir -p "$W/rootfs"/{bin,etc,proc,sys,dev,tmp,root}
cp /bin/busybox "$W/rootfs/bin/"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$W/rootfs/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' >"$W/rootfs/etc/passwd"
tar -C "$W/rootfs" -cf "$W/busybox.tar" .
berth import -c 'ENV PATH=/bin' "$W/busybox.tar" busybox >/dev/null
touch "$ORDER"
for round in $(seq "$ROUNDS"); do
    # Page faults with their addresses (first touches of each 64 KB window) and dense CPU
    # samples (the functions in between), over the hot commands.
    perf record -q -e page-faults/period=1/ -d -e cpu-clock/freq=25000/ -o "$W/perf.data" -- bash -c "
        B='$B'; o='--root $W/root --runroot $W/run'
        for i in \$(seq 15); do \$B \$o run --rm --network none busybox true; \$B \$o run --rm busybox true; done
        \$B \$o run -d --name hot busybox sleep 100 >/dev/null
        for i in \$(seq 10); do \$B \$o exec hot true; \$B \$o ps; \$B \$o inspect hot; \$B \$o images; done
        \$B \$o rm -f hot" >/dev/null 2>&1
    perf script -i "$W/perf.data" -F comm,event,addr,ip 2>/dev/null >"$W/events"
    nm -n -S --defined-only "$B" >"$W/syms"
    python3 - "$W/syms" "$W/events" "$ORDER" >"$W/order" <<'PY'
import bisect, sys
syms = []
for l in open(sys.argv[1]):
    p = l.split()
    if len(p) == 4 and p[2] in "tTrRdD":
        syms.append((int(p[0], 16), int(p[1], 16), p[3]))
starts = [s[0] for s in syms]
prev = [l.strip() for l in open(sys.argv[3]) if l.strip()]
seen, order = set(prev), list(prev)
def touch(a):
    i = bisect.bisect_right(starts, a) - 1
    if i >= 0 and a < syms[i][0] + max(syms[i][1], 1) and syms[i][2] not in seen:
        seen.add(syms[i][2])
        order.append(syms[i][2])
for l in open(sys.argv[2]):
    p = l.split()
    if not p or not p[0].startswith("berth"):
        continue
    try:
        k = next(i for i, x in enumerate(p) if x.startswith(("page-faults", "cpu-clock")))
        for x in p[k + 1:k + 3]:
            a = int(x, 16)
            if 0 < a < 1 << 32:  # the executable's own image (static, not PIE)
                touch(a)
    except (StopIteration, ValueError):
        pass
print("\n".join(order))
print(f"{len(order) - len(prev)} new, {len(order)} in all", file=sys.stderr)
PY
    mv "$W/order" "$ORDER"
    echo "round $round: $(wc -l <"$ORDER") symbols" >&2
    touch crates/cli/src/main.rs # cargo does not see a changed order file: relink
    scripts/build.sh >/dev/null
done
