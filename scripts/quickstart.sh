#!/usr/bin/env bash
# Fresh machine -> a real container: installs packages, builds berth, makes an OCI bundle from
# Debian's busybox-static and runs it with berth-runtime.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root (containers need it)"; exit 1; }
scripts/deps.sh
cargo build --release --bins
B=$(mktemp -d /tmp/berth-quickstart.XXXXXX)
trap 'rm -rf "$B"' EXIT
mkdir -p "$B/rootfs"/{bin,etc,proc,sys,dev,tmp,root}
cp /bin/busybox "$B/rootfs/bin/"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$B/rootfs/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' >"$B/rootfs/etc/passwd"
target/release/berth-runtime spec --bundle "$B"
python3 - "$B/config.json" <<'PY'
import json, sys
p = sys.argv[1]; c = json.load(open(p))
c["process"]["terminal"] = False
c["process"]["args"] = ["sh", "-c", "echo hello from a berth container; hostname; ps -o pid,comm"]
c["process"]["env"] = ["PATH=/bin"]
json.dump(c, open(p, "w"), indent=2)
PY
target/release/berth-runtime run --bundle "$B" "quickstart-$$"
