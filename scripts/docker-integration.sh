#!/usr/bin/env bash
# Debian's dockerd drives berth-runtime (`--add-runtime berth=...`): echo, PID 1, cgroup limits,
# exec, tty, pause/unpause, stop, update. Runs its own dockerd on private paths, a private socket
# and a bridge of its own (--bridge=none would make dockerd delete the host's docker0), no
# iptables; containers use --network none. Removes everything it made.
set -uo pipefail
cd "$(dirname "$0")/.."
BRT=${BERTH_RUNTIME:-$PWD/target/release/berth-runtime}
[ -x "$BRT" ] || { echo "build first: cargo build --release"; exit 1; }
W=$(mktemp -d /var/tmp/berth-dockerd.XXXXXX)
SOCK="unix://$W/docker.sock"
D() { /usr/bin/docker -H "$SOCK" "$@"; }
pass=0; fail=0
ok()   { pass=$((pass+1)); echo "ok   - $1"; }
bad()  { fail=$((fail+1)); echo "FAIL - $1${2:+: $2}"; }
check() { # name, expected, actual
  if [ "$2" = "$3" ]; then ok "$1"; else bad "$1" "expected [$2], got [$3]"; fi
}
cleanup() {
  D ps -aq 2>/dev/null | xargs -r /usr/bin/docker -H "$SOCK" rm -f >/dev/null 2>&1
  if [ -f "$W/docker.pid" ]; then
    pid=$(cat "$W/docker.pid"); kill "$pid" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  grep -o " $W[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
  ip link del "$BR" 2>/dev/null
  rm -rf "$W"
}
trap cleanup EXIT

BR="bdk$$"
ip link add "$BR" type bridge && ip addr add "10.213.$((200 + $$ % 50)).1/24" dev "$BR" || { echo "cannot create bridge $BR"; exit 1; }
dockerd --data-root "$W/data" --exec-root "$W/exec" -H "$SOCK" --pidfile "$W/docker.pid" \
  --bridge="$BR" --iptables=false --ip6tables=false --storage-driver overlay2 \
  --add-runtime "berth=$BRT" >"$W/dockerd.log" 2>&1 &
for _ in $(seq 1 100); do D info >/dev/null 2>&1 && break; sleep 0.2; done
D info >/dev/null 2>&1 || { echo "dockerd did not start"; tail -20 "$W/dockerd.log"; exit 1; }

mkdir -p "$W/rootfs"/{bin,etc,proc,sys,dev,tmp,root}
cp /bin/busybox "$W/rootfs/bin/"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$W/rootfs/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' >"$W/rootfs/etc/passwd"
tar -C "$W/rootfs" -cf "$W/rootfs.tar" .
D import -c 'ENV PATH=/bin' "$W/rootfs.tar" berthtest/busybox >/dev/null
R=(--runtime berth --network none)
IMG=berthtest/busybox

check "run echo" "hello" "$(D run --rm "${R[@]}" $IMG echo hello 2>&1)"
check "ps shows PID 1" "1 ps" "$(D run --rm "${R[@]}" $IMG ps -o pid,comm | awk 'NR==2{print $1, $2}')"
check "exit code" "3" "$(D run --rm "${R[@]}" $IMG sh -c 'exit 3'; echo $?)"

id=$(D run -d "${R[@]}" --memory 64m --cpus 0.5 --cpuset-cpus 0 --pids-limit 50 $IMG sleep 1000)
if [ -n "$id" ]; then
  cg=/sys/fs/cgroup
  check "--memory" "67108864" "$(cat $cg/memory/docker/$id/memory.limit_in_bytes 2>&1)"
  check "--cpus" "50000 100000" "$(cat $cg/cpu/docker/$id/cpu.cfs_quota_us 2>&1) $(cat $cg/cpu/docker/$id/cpu.cfs_period_us 2>&1)"
  check "--cpuset-cpus" "0" "$(cat $cg/cpuset/docker/$id/cpuset.cpus 2>&1)"
  check "--pids-limit" "50" "$(cat $cg/pids/docker/$id/pids.max 2>&1)"
  check "exec" "inside" "$(D exec "$id" echo inside 2>&1)"
  check "exec sees container pids" "1" "$(D exec "$id" ps -o pid,comm | awk '$2=="sleep"{print $1}')"
  check "exec -t gets a tty" "/dev/pts/0" "$(D exec -t "$id" tty 2>&1 | tr -d '\r')"
  D pause "$id" >/dev/null 2>&1
  check "pause" "true FROZEN" "$(D inspect -f '{{.State.Paused}}' "$id") $(cat $cg/freezer/docker/$id/freezer.state 2>&1)"
  D unpause "$id" >/dev/null 2>&1
  check "unpause" "false THAWED" "$(D inspect -f '{{.State.Paused}}' "$id") $(cat $cg/freezer/docker/$id/freezer.state 2>&1)"
  D update --memory 96m "$id" >/dev/null 2>&1
  check "update --memory" "100663296" "$(cat $cg/memory/docker/$id/memory.limit_in_bytes 2>&1)"
  D stop -t 1 "$id" >/dev/null 2>&1
  check "stop" "false" "$(D inspect -f '{{.State.Running}}' "$id")"
  D rm "$id" >/dev/null 2>&1
  check "cgroup removed" "no" "$([ -d $cg/memory/docker/$id ] && echo yes || echo no)"
else
  bad "run -d" "$(tail -5 "$W/dockerd.log")"
fi
check "run -t gets a tty" "/dev/pts/0" "$(D run --rm -t "${R[@]}" $IMG tty 2>&1 | tr -d '\r')"
check "missing command exits 127" "127" "$(D run --rm "${R[@]}" $IMG nosuchcmd >/dev/null 2>&1; echo $?)"

echo "docker-integration: $pass passed, $fail failed"
[ "$fail" = 0 ]
