#!/usr/bin/env bash
# The compatibility test: runs every case of cases.sh against the real docker CLI
# (/usr/local/bin/docker, CLI 28) talking to a private Debian dockerd 20.10, and against berth
# (private --root/--runroot), normalizes IDs, times and sizes, and compares stdout, stderr and the
# exit code. A difference fails the run unless its case is listed in README.md's allow-list
# (a line "| `case-name` | reason |"). Everything it makes lives under one temp dir and is removed.
#
#   BERTH=path/to/berth scripts/compat/run.sh [-k]     (-k keeps the results dir)
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BERTH=${BERTH:-$HERE/../../target/debug/berth}
DOCKER_CLI=${DOCKER_CLI:-/usr/local/bin/docker}
KEEP=0; [ "${1:-}" = -k ] && KEEP=1
[ "$(id -u)" = 0 ] || { echo "compat: run as root"; exit 2; }
[ -x "$BERTH" ] || { echo "compat: no berth binary at $BERTH (cargo build -p berth)"; exit 2; }
[ -x "$DOCKER_CLI" ] || { echo "compat: FAIL: the docker CLI 28 oracle $DOCKER_CLI is missing"; exit 2; }
command -v dockerd >/dev/null || { echo "compat: FAIL: dockerd missing (apt-get install docker.io)"; exit 2; }
BERTH=$(readlink -f "$BERTH")

W=$(mktemp -d /var/tmp/berth-compat.XXXXXX)
SOCK="unix://$W/docker.sock"
BR="bcp$$"
cleanup() {
  for e in docker berth; do
    [ -x "$W/bin-$e/docker" ] || continue
    "$W/bin-$e/docker" ps -aq 2>/dev/null | xargs -r "$W/bin-$e/docker" rm -f >/dev/null 2>&1
    "$W/bin-$e/docker" network ls -q --filter type=custom 2>/dev/null | xargs -r "$W/bin-$e/docker" network rm >/dev/null 2>&1
  done
  if [ -f "$W/docker.pid" ]; then
    pid=$(cat "$W/docker.pid"); kill "$pid" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  grep -o " $W[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
  ip link del "$BR" 2>/dev/null
  if [ "$KEEP" = 1 ]; then echo "compat: results kept in $W/res"; find "$W" -mindepth 1 -maxdepth 1 ! -name res -exec rm -rf {} +; else rm -rf "$W"; fi
}
trap cleanup EXIT

# --- the oracle: a private dockerd (own bridge: --bridge=none would delete the host's docker0)
ip link add "$BR" type bridge && ip addr add "10.240.$((200 + $$ % 50)).1/24" dev "$BR" ||
  { echo "compat: cannot create bridge $BR"; exit 2; }
dockerd --data-root "$W/data" --exec-root "$W/exec" -H "$SOCK" --pidfile "$W/docker.pid" \
  --bridge="$BR" --iptables=false --ip6tables=false --storage-driver overlay2 >"$W/dockerd.log" 2>&1 &
mkdir -p "$W/bin-docker" "$W/bin-berth" "$W/client"
cat >"$W/bin-docker/docker" <<W1
#!/bin/sh
DOCKER_CONFIG=$W/client DOCKER_BUILDKIT=0 exec $DOCKER_CLI -H $SOCK "\$@"
W1
# argv[0] "docker", as with `ln -s berth docker` (berth names itself by argv[0] in messages).
cat >"$W/bin-berth/docker" <<W2
#!/bin/bash
exec -a docker $BERTH --root $W/berth-root --runroot $W/berth-run "\$@"
W2
chmod +x "$W"/bin-*/docker
for _ in $(seq 1 150); do "$W/bin-docker/docker" info >/dev/null 2>&1 && break; sleep 0.2; done
"$W/bin-docker/docker" info >/dev/null 2>&1 || { echo "compat: dockerd did not start"; tail -20 "$W/dockerd.log"; exit 2; }

# --- the same busybox image for both (as crates/testutil makes it)
R="$W/rootfs"
mkdir -p "$R"/{bin,etc,proc,sys,dev,tmp,root,home,var,run,www}
cp /bin/busybox "$R/bin/"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$R/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\napp:x:1000:1000:app:/home:/bin/sh\n' >"$R/etc/passwd"
printf 'root:x:0:\nnobody:x:65534:\napp:x:1000:\nextra:x:2000:app\nwheel:x:10:root,app\n' >"$R/etc/group"
echo hello >"$R/www/index.html"
tar -C "$R" -cf "$W/busybox.tar" .
export TAR="$W/busybox.tar"

# --- run every case against one engine: res/<engine>/<case> holds rc, stdout, stderr (normalized)
norm() {
  sed -E \
    -e "s#$W/work-(docker|berth)#<WORK>#g" -e "s#$W#<W>#g" \
    -e 's#sha256:[0-9a-f]{64}#sha256:<ID>#g' \
    -e 's#\b[0-9a-f]{64}\b#<ID>#g' \
    -e 's#\b[0-9a-f]{12}\b#<ID12>#g' \
    -e 's#[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?( ?(Z|[+-][0-9]{2}:?[0-9]{2})( [A-Z]{3,4})?)?#<TIME>#g' \
    -e 's#(Less than a second|About a minute|About an hour|[0-9]+ (second|minute|hour)s?)( ago)?#<DUR>\3#g' \
    -e 's#\b[0-9]+(\.[0-9]+)? ?(B|kB|KB|MB|GB|MiB|KiB|GiB)\b#<SIZE>#g' |
  # The one class of difference normalized away (README, "Daemonless errors"): where dockerd's
  # answer reads `Error response from daemon: X` (and `docker run`'s adds `docker: ` and a help
  # trailer), berth has no daemon and says `Error: X`.
  perl -0pe "s/^docker: Error response from daemon: (.*)\n\nRun 'docker (run|create) --help' for more information\n/Error: \$1\n/mg;
             s/^Error response from daemon: /Error: /mg"
}
run_engine() { # engine
  local e=$1 out="$W/res/$1"
  mkdir -p "$out" "$W/work-$e"
  c() { # name, command (bash, `docker` is the engine under test)
    local name=$1 cmd=$2 rc
    [ -e "$out/$name" ] && { echo "compat: duplicate case $name"; exit 2; }
    (cd "$W/work-$e" && PATH="$W/bin-$e:$PATH" W="$W/work-$e" timeout 60 bash -c "$cmd" \
      >"$out/.o" 2>"$out/.e" </dev/null)
    rc=$?
    { echo "\$ $cmd"; echo "exit $rc"; echo "--- stdout"; norm <"$out/.o"; echo "--- stderr"; norm <"$out/.e"; } >"$out/$name"
    echo "$name" >>"$W/res/order-$e"
  }
  # shellcheck source=cases.sh
  . "$HERE/cases.sh"
}
run_engine docker
run_engine berth

# --- compare
allowed() { grep -qF "| \`$1\` |" "$HERE/README.md"; }
n=0 same=0 allowed_n=0 bad=0
while read -r name; do
  n=$((n+1))
  if cmp -s "$W/res/docker/$name" "$W/res/berth/$name"; then
    same=$((same+1))
  elif allowed "$name"; then
    allowed_n=$((allowed_n+1))
  else
    bad=$((bad+1))
    echo "=== DIFF $name (docker vs berth)"
    diff "$W/res/docker/$name" "$W/res/berth/$name" | head -40
  fi
done <"$W/res/order-docker"
stale=$(grep -oE '^\| `[a-z0-9-]+` \|' "$HERE/README.md" | tr -d '|` ' | while read -r a; do
  [ -e "$W/res/docker/$a" ] && cmp -s "$W/res/docker/$a" "$W/res/berth/$a" && echo "$a"; done)
[ -n "$stale" ] && echo "compat: allow-listed but now identical (remove from README): $stale"
echo "compat: $n cases: $same identical, $allowed_n allowed differences, $bad unexpected differences"
[ "$n" -ge 100 ] || { echo "compat: FAIL: fewer than 100 cases"; exit 1; }
[ "$bad" = 0 ]
