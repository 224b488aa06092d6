#!/usr/bin/env bash
# berth build vs BuildKit (Debian's dockerd 20.10, DOCKER_BUILDKIT=1) on this machine, same
# busybox base image, RUN steps without network on both:
#   1. a 10-step Dockerfile with two independent stages, uncached (--no-cache)
#   2. the same, fully cached
#   3. a 200 MB context (200 files of 1 MB) copied in, uncached
# Prints the median of N runs (default 3) for each and berth/BuildKit ratios.
# Uses a private dockerd (own data-root, socket, bridge in 10.233.x) and a private berth root;
# removes everything it made.
set -uo pipefail
cd "$(dirname "$0")/.."
B=${BERTH:-$PWD/target/release/berth}
N=${N:-3}
[ -x "$B" ] || { echo "build first: cargo build --release -p berth"; exit 1; }
W=$(mktemp -d /var/tmp/berth-bench-build.XXXXXX)
SOCK="unix://$W/docker.sock"
D() { DOCKER_BUILDKIT=1 DOCKER_CONFIG=$W/client /usr/bin/docker -H "$SOCK" "$@"; }
BR() { "$B" --root "$W/berth" --runroot "$W/berth-run" "$@"; }
BRN="bbb$$"
cleanup() {
  if [ -f "$W/docker.pid" ]; then
    pid=$(cat "$W/docker.pid"); kill "$pid" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  BR system reset -f >/dev/null 2>&1
  grep -o " $W[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
  ip link del "$BRN" 2>/dev/null
  rm -rf "$W"
}
trap cleanup EXIT
ip link add "$BRN" type bridge && ip addr add "10.233.$((100 + $$ % 50)).1/24" dev "$BRN" || exit 1
dockerd --data-root "$W/data" --exec-root "$W/exec" -H "$SOCK" --pidfile "$W/docker.pid" \
  --bridge="$BRN" --iptables=false --ip6tables=false --storage-driver overlay2 >"$W/dockerd.log" 2>&1 &
for _ in $(seq 1 150); do D info >/dev/null 2>&1 && break; sleep 0.2; done

mkdir -p "$W/rootfs"/{bin,etc,proc,sys,dev,tmp,root}
cp /bin/busybox "$W/rootfs/bin/"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$W/rootfs/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' >"$W/rootfs/etc/passwd"
tar -C "$W/rootfs" -cf "$W/rootfs.tar" .
D import -c 'ENV PATH=/bin' "$W/rootfs.tar" bb >/dev/null
BR import -c 'ENV PATH=/bin' "$W/rootfs.tar" bb >/dev/null

mkdir -p "$W/ten" "$W/big"
echo f > "$W/ten/f"
cat >"$W/ten/Dockerfile" <<'EOF'
FROM bb AS a
RUN echo a > /a
RUN echo a2 >> /a
FROM bb AS b
RUN echo b > /b
RUN echo b2 >> /b
FROM bb
COPY --from=a /a /a
COPY --from=b /b /b
COPY f /f
RUN cat /a /b /f > /all
CMD ["cat", "/all"]
EOF
for i in $(seq 1 200); do head -c 1048576 /dev/urandom >"$W/big/f$i"; done
printf 'FROM bb\nCOPY . /ctx/\n' >"$W/big/Dockerfile"

ms() { local s e; s=$(date +%s%N); "$@" >/dev/null 2>&1 || echo "FAILED: $*" >&2; e=$(date +%s%N); echo $(( (e - s) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
run() { # label, then the command; N runs
  local label=$1; shift
  local m; m=$(for _ in $(seq 1 "$N"); do ms "$@"; done | median)
  echo "$m"
}
report() { # name berth_ms kit_ms
  awk -v n="$1" -v b="$2" -v k="$3" 'BEGIN { printf "%-34s berth %6d ms   buildkit %6d ms   ratio %.2f\n", n, b, k, (k > 0 ? b / k : 0) }'
}

# Warm both once (base image metadata, builder start).
BR build --network none -q -t warm "$W/ten" >/dev/null 2>&1
D build --network none -q -t warm "$W/ten" >/dev/null 2>&1

b1=$(run "10-step uncached" BR build --network none --no-cache -q -t ten "$W/ten")
k1=$(run "10-step uncached" D build --network none --no-cache -q -t ten "$W/ten")
report "10-step, 2 parallel stages, uncached" "$b1" "$k1"
b2=$(run "10-step cached" BR build --network none -q -t ten "$W/ten")
k2=$(run "10-step cached" D build --network none -q -t ten "$W/ten")
report "10-step, fully cached" "$b2" "$k2"
b3=$(run "200 MB context" BR build --network none --no-cache -q -t big "$W/big")
k3=$(run "200 MB context" D build --network none --no-cache -q -t big "$W/big")
report "200 MB context, uncached" "$b3" "$k3"
