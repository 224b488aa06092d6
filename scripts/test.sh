#!/usr/bin/env bash
# The whole test suite: unit + integration tests (root, real kernel), then the dockerd
# interoperability check of berth-runtime.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root (the integration tests create namespaces, cgroups, mounts)"; exit 1; }
scripts/deps.sh
scripts/build.sh
cargo test --workspace --no-fail-fast -- --test-threads=4
scripts/docker-integration.sh
