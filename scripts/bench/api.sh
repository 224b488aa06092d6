#!/usr/bin/env bash
# berth's Docker Engine API server against a private Debian dockerd 20.10, in one run:
#   - GET /containers/json and GET /containers/ID/json over the socket (keep-alive, mean latency)
#   - `docker run --rm busybox true` (docker CLI 28) through each server
#   - `run --rm busybox true` through berth's API (docker CLI) vs berth's own CLI
#   - the server's idle RSS
#   - 50 concurrent API clients each running `run --rm busybox true` (errors counted)
# Usage (root, from the project root, after `cargo build --release -p berth`): scripts/bench/api.sh
# Each side has its own root and bridge on 10.232.250.0/24 (dockerd, no iptables) and
# 10.232.251.0/24 (berth); everything is stopped by PID and removed at the end.
set -euo pipefail
BERTH=${BERTH:-$PWD/target/release/berth}
DOCKER=${DOCKER:-/usr/local/bin/docker}
W=${BENCH_DIR:-/var/tmp/berth-api-bench}
RUNS=${RUNS:-20}
[ -x "$BERTH" ] || { echo "no $BERTH (cargo build --release -p berth)"; exit 1; }
command -v dockerd >/dev/null && command -v hyperfine >/dev/null || scripts/deps.sh
rm -rf "$W"; mkdir -p "$W"
DSOCK=$W/docker.sock BSOCK=$W/berth.sock
B() { "$BERTH" --root "$W/broot" --runroot "$W/brun" "$@"; }

cleanup() {
  set +e
  [ -f "$W/berth.pid" ] && kill "$(cat "$W/berth.pid")" 2>/dev/null
  DOCKER_HOST=unix://$DSOCK "$DOCKER" rm -f bench-peer >/dev/null 2>&1
  [ -f "$W/docker.pid" ] && kill "$(cat "$W/docker.pid")" 2>/dev/null && sleep 2
  B rm -f bench-berth >/dev/null 2>&1
  B system reset -f >/dev/null 2>&1
  grep " $W" /proc/self/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null
  ip link del bapid0 2>/dev/null; ip link del bapib0 2>/dev/null
}
trap cleanup EXIT

# busybox rootfs tar from Debian's static busybox
mkdir -p "$W/rootfs"/{bin,etc,proc,sys,dev,tmp,root,www}
cp /bin/busybox "$W/rootfs/bin/"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$W/rootfs/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' >"$W/rootfs/etc/passwd"; echo 'root:x:0:' >"$W/rootfs/etc/group"
tar -C "$W/rootfs" -cf "$W/busybox.tar" .

# dockerd 20.10: own roots, socket and bridge, no iptables
ip link add bapid0 type bridge && ip addr add 10.232.250.1/24 dev bapid0
setsid dockerd --data-root "$W/ddata" --exec-root "$W/dexec" -H "unix://$DSOCK" --pidfile "$W/docker.pid" \
  --bridge=bapid0 --iptables=false --ip6tables=false --storage-driver=overlay2 >"$W/dockerd.log" 2>&1 &
for _ in $(seq 1 180); do DOCKER_HOST=unix://$DSOCK "$DOCKER" version >/dev/null 2>&1 && break; sleep 0.5; done
# berth: its default bridge on its own subnet, then the server
B network create --subnet 10.232.251.0/24 -o com.docker.network.bridge.name=bapib0 bridge >/dev/null
"$BERTH" --root "$W/broot" --runroot "$W/brun" system service --time 0 "unix://$BSOCK" >"$W/berth.log" 2>&1 &
echo $! >"$W/berth.pid"
for _ in $(seq 1 100); do [ -S "$BSOCK" ] && break; sleep 0.05; done
export DOCKER_CONFIG=$W/dockercfg
for s in "$DSOCK" "$BSOCK"; do
  DOCKER_HOST=unix://$s "$DOCKER" import -c 'ENV PATH=/bin' "$W/busybox.tar" busybox:latest >/dev/null
done
DOCKER_HOST=unix://$DSOCK "$DOCKER" run -d --name bench-peer busybox sleep 3600 >/dev/null
DOCKER_HOST=unix://$BSOCK "$DOCKER" run -d --name bench-berth busybox sleep 3600 >/dev/null

python3 - "$DSOCK" "$BSOCK" <<'PY'
import http.client, socket, sys, time
class U(http.client.HTTPConnection):
    def __init__(self, path): super().__init__("localhost"); self.path = path
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX); self.sock.connect(self.path)
def mean_us(sock, url, n=300):
    c = U(sock)
    for _ in range(20):
        c.request("GET", url); c.getresponse().read()
    t = time.perf_counter()
    for _ in range(n):
        c.request("GET", url); r = c.getresponse(); r.read(); assert r.status == 200, r.status
    return (time.perf_counter() - t) / n * 1e6
d, b = sys.argv[1], sys.argv[2]
for name, du, bu in [("GET /containers/json", "/v1.41/containers/json", "/v1.41/containers/json"),
                     ("GET /containers/ID/json", "/v1.41/containers/bench-peer/json", "/v1.41/containers/bench-berth/json")]:
    x, y = mean_us(d, du), mean_us(b, bu)
    print(f"{name:<34} dockerd {x:8.1f} us   berth {y:8.1f} us   berth/dockerd {y/x:6.3f}")
PY

mean() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][int(sys.argv[2])]["mean"])' "$1" "$2"; }
pair() { # name, label a, command a, label b, command b
  local j="$W/h.json"
  hyperfine -N -w 3 -r "$RUNS" --export-json "$j" "$3" "$5" >/dev/null 2>"$W/h.err" || { echo "$1 FAILED: $(tail -c 300 "$W/h.err")"; return 0; }
  python3 -c "import sys; a,b=float(sys.argv[4]),float(sys.argv[5]); print(f'{sys.argv[1]:<34} {sys.argv[2]} {a*1000:8.1f} ms   {sys.argv[3]} {b*1000:8.1f} ms   ratio {b/a:6.3f}')" \
    "$1" "$2" "$4" "$(mean "$j" 0)" "$(mean "$j" 1)"
}
pair "docker run --rm busybox true" dockerd "$DOCKER -H unix://$DSOCK run --rm busybox true" berth-api "$DOCKER -H unix://$BSOCK run --rm busybox true"
pair "run --rm true: CLI vs API" berth-cli "$BERTH --root $W/broot --runroot $W/brun run --rm busybox true" berth-api "$DOCKER -H unix://$BSOCK run --rm busybox true"

rss() { awk '/VmRSS/ {print $2, $3}' /proc/"$(cat "$W/berth.pid")"/status; }
echo "berth server RSS, idle after the runs above: $(rss)"

# 50 concurrent clients
fails=0; pids=()
t0=$(date +%s.%N)
for i in $(seq 1 50); do
  DOCKER_HOST=unix://$BSOCK "$DOCKER" run --rm busybox true >"$W/c$i.log" 2>&1 & pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fails=$((fails + 1)); done
t1=$(date +%s.%N)
echo "50 concurrent docker run --rm via berth API: $fails errors, $(python3 -c "print(f'{$t1-$t0:.2f}')") s"
sleep 12  # the blocking pool's idle threads end after 10 s
echo "berth server RSS, idle after the 50 concurrent clients: $(rss)"
left=$(DOCKER_HOST=unix://$BSOCK "$DOCKER" ps -aq | wc -l)
echo "containers left after them: $((left - 1)) (besides bench-berth)"
