#!/usr/bin/env bash
# Fresh machine -> a real container: installs packages, builds berth, imports a busybox image
# made from Debian's busybox-static and runs it with `berth run`. Uses its own --root/--runroot
# so it touches nothing else on the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root (containers need it)"; exit 1; }
scripts/deps.sh
scripts/build.sh
# Not /tmp: it may be a tmpfs without the xattrs overlayfs needs.
mkdir -p /var/tmp
B=$(mktemp -d /var/tmp/berth-quickstart.XXXXXX)
berth() { target/release/berth --root "$B/root" --runroot "$B/run" "$@"; }
cleanup() {
    ids=$(berth ps -aq --no-trunc 2>/dev/null || true)
    [ -z "$ids" ] || berth rm -f $ids >/dev/null 2>&1 || true
    rm -rf "$B"
}
trap cleanup EXIT
mkdir -p "$B/rootfs"/{bin,etc,proc,sys,dev,tmp,root}
cp /bin/busybox "$B/rootfs/bin/"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$B/rootfs/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' >"$B/rootfs/etc/passwd"
tar -C "$B/rootfs" -cf "$B/busybox.tar" .
berth import "$B/busybox.tar" busybox
berth run --rm --network none busybox echo hello from berth
# A real container: its own hostname (the short ID), PID namespace (sh is PID 1) and cgroup.
berth run --rm --network none --memory 64m busybox sh -c 'hostname; ps -o pid,comm; cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max'
# --init: berth-init is PID 1, reaps zombies and forwards signals.
berth run --rm --init --network none busybox ps -o pid,comm
id=$(berth run -d --network none busybox sleep 1000)
berth exec "$id" ps -ef
berth ps
berth rm -f "$id" >/dev/null
