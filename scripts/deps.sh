#!/usr/bin/env bash
# Installs the system packages berth's build and tests need (Debian 12). Idempotent.
set -euo pipefail
PKGS=(busybox-static libseccomp-dev pkg-config build-essential nftables iproute2 btrfs-progs
      docker.io runc skopeo docker-registry hyperfine python3 curl ca-certificates openssl procps
      xz-utils bzip2)
missing=()
for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# Debian's docker.io/containerd/docker-registry units must not run on their own: tests start
# their own instances on private sockets and ports.
for s in docker.socket docker containerd docker-registry; do
  systemctl stop "$s" >/dev/null 2>&1 || true
done
