#!/bin/sh
# Benchmark of the container's own /proc files (issue 16): reads of /proc/meminfo inside a
# container served by berth's monitor vs the kernel's procfs (--security-opt procfs=host) vs
# Debian's lxcfs (bound over /proc/meminfo the way lxcfs is used), sysinfo(2) and any syscall
# with and without the sysinfo filter, and `run --rm` start times with and without.
# Usage (root): scripts/bench_procfs.sh [BERTH_BIN_DIR] (default target/release).
set -eu
cd "$(dirname "$0")/.."
BIN=${1:-target/release}
W=$(mktemp -d /var/tmp/berth-bench-procfs.XXXXXX)
LXCFS_PID=
cleanup() {
    "$BIN/berth" --root "$W/root" --runroot "$W/run" rm -f $("$BIN/berth" --root "$W/root" --runroot "$W/run" ps -aq) >/dev/null 2>&1 || true
    [ -n "$LXCFS_PID" ] && kill "$LXCFS_PID" 2>/dev/null && sleep 0.5
    umount "$W/lxcfs" 2>/dev/null || true
    rm -rf "$W"
}
trap cleanup EXIT
B() { "$BIN/berth" --root "$W/root" --runroot "$W/run" "$@"; }

# A busybox image with the probe.
mkdir -p "$W/rootfs/bin" "$W/rootfs/proc" "$W/rootfs/sys" "$W/rootfs/dev" "$W/rootfs/tmp"
cp /bin/busybox "$W/rootfs/bin/"
for a in sh cat true date; do ln -s busybox "$W/rootfs/bin/$a"; done
rustc -O -C target-feature=+crt-static -o "$W/rootfs/bin/probe" scripts/bench/procfs_probe.rs
tar -C "$W/rootfs" -cf "$W/img.tar" .
B import "$W/img.tar" bench >/dev/null

N=2000
echo "# ns per operation (probe inside the container, N=$N); lines = per line of a 1000-line byte-at-a-time read"
echo "# mode     whole  lines  sysinfo  getppid"
probe() { B run --rm --network none --memory 256m "$@" bench probe $N | awk '{printf "%s=%s ", $1, $2} END {print ""}'; }
echo "kernel:  $(probe --security-opt procfs=host)"
echo "berth:   $(probe)"
# Debian's lxcfs on a private mount point, its meminfo bound over the container's.
mkdir -p "$W/lxcfs"
lxcfs "$W/lxcfs" >/dev/null 2>&1 &
LXCFS_PID=$!
i=0; while [ ! -e "$W/lxcfs/proc/meminfo" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
echo "lxcfs:   $(probe --security-opt procfs=host -v "$W/lxcfs/proc/meminfo:/proc/meminfo:ro")"

# A shell `read` loop over 1000 lines (busybox sh, byte-at-a-time reads).
LOOP='n=0; while [ $n -lt 1000 ]; do while read -r l && [ $n -lt 1000 ]; do n=$((n+1)); done < /proc/meminfo; done'
echo "# shell read loop (busybox sh), 1000 lines of /proc/meminfo, us"
echo "kernel:  $(B run --rm --network none --memory 256m --security-opt procfs=host bench probe time sh -c "$LOOP")"
echo "berth:   $(B run --rm --network none --memory 256m bench probe time sh -c "$LOOP")"
echo "lxcfs:   $(B run --rm --network none --memory 256m --security-opt procfs=host -v "$W/lxcfs/proc/meminfo:/proc/meminfo:ro" bench probe time sh -c "$LOOP")"

# run --rm start-to-exit, median of $RUNS (21), alternating.
median() {
    for i in $(seq ${RUNS:-21}); do
        s=$(date +%s%N); B run --rm --network none --memory 256m "$@" bench true; e=$(date +%s%N)
        echo $(( (e - s) / 1000 ))
    done | sort -n | sed -n "$(( (${RUNS:-21} + 1) / 2 ))p"
}
B run --rm --network none bench true
echo "# run --rm --memory 256m true, median of ${RUNS:-21}, us"
echo "without: $(median --security-opt procfs=host)"
echo "with:    $(median)"
echo "without: $(median --security-opt procfs=host)"
echo "with:    $(median)"
