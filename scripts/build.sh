#!/usr/bin/env bash
# Release build of the binaries, each relinked static-pie (still position independent: ASLR
# stays). Why static: a dynamic berth spent ~0.5-0.9 ms of every command in the loader (three
# libraries, thousands of symbol bindings and relocations) before main; berth-init runs inside
# containers without their libraries; berth-monitor is smallest static (~220 KB RSS).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bins
for b in berth berth-init berth-monitor; do
    cargo rustc --release -p berth --bin "$b" -- -C target-feature=+crt-static
done
cargo rustc --release -p berth-runtime --bin berth-runtime -- -C target-feature=+crt-static
