#!/usr/bin/env bash
# OCI runtime conformance: youki's contest suite (../shared/conformance/contest.sh) against
# berth-runtime and runc (and youki with YOUKI=path) on this machine; prints both summary lines and fails when berth-runtime
# passes fewer tests than runc or crashes a group that runc completes.
# Not part of scripts/test.sh: building the suite takes 15-30 minutes on 2 cores and fetches
# its crates from crates.io (once; `contest.sh build` is idempotent). A run takes ~2 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root"; exit 1; }
CONTEST=${CONTEST:-../shared/conformance/contest.sh}
RUNC=${RUNC:-$(command -v runc || echo /usr/sbin/runc)}
"$CONTEST" build
cargo build --release -p berth-runtime
OUT=${OUT:-/var/tmp/berth-contest}
# The suite's fd_control test checks that nothing but stdio reaches the container: run it with
# no stray descriptors of ours (a test harness often leaves one on fd 10).
for fd in $(ls /proc/$$/fd); do
  [ "$fd" -gt 2 ] && [ "$fd" != 255 ] && eval "exec $fd>&-" 2>/dev/null || true
done
# The suite leaves things behind for every runtime: the rootfs binds of its root_readonly test
# and the containers of the groups it crashed (their ids are UUIDs). Removed after each run.
cleanup() {
  grep -o ' /tmp/\.tmp[^ ]*/bundle/rootfs ' /proc/self/mountinfo | xargs -r -n1 umount -l || true
  local uuid='[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}' dirs d
  dirs=$(find /sys/fs/cgroup -mindepth 1 -maxdepth 5 -type d -regextype egrep \
    -regex ".*/(:youki:)?$uuid" 2>/dev/null || true)
  for d in $dirs; do xargs -r kill -9 <"$d/cgroup.procs" 2>/dev/null || true; done
  sleep 1
  for d in $dirs; do find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true; done
}
berth=$("$CONTEST" run "$PWD/target/release/berth-runtime" "$OUT/out-berth-runtime")
cleanup
runc=$("$CONTEST" run "$RUNC" "$OUT/out-runc")
cleanup
echo "berth-runtime $berth"
echo "runc          $runc"
# youki has no Debian package: YOUKI=path runs one built from the suite's snapshot as well
# (cargo build --release -p youki --features "v1 v2 seccomp" in /var/tmp/youki-contest-src).
if [ -n "${YOUKI:-}" ]; then
  echo "youki         $("$CONTEST" run "$YOUKI" "$OUT/out-youki")"
  cleanup
fi
ok() { sed -E 's/^contest: ([0-9]+) ok.*/\1/' <<<"$1"; }
crashed() { cat "$1/crashed.txt" 2>/dev/null | cut -d' ' -f1 | sort; }
extra=$(comm -23 <(crashed "$OUT/out-berth-runtime") <(crashed "$OUT/out-runc"))
[ -z "$extra" ] || { echo "groups only berth-runtime crashed: $extra"; exit 1; }
[ "$(ok "$berth")" -ge "$(ok "$runc")" ] || { echo "berth-runtime passes fewer tests than runc"; exit 1; }
