#!/usr/bin/env bash
# Release build of the binaries, each relinked static and position dependent (as Go builds
# docker, containerd and runc by default). Why static: a dynamic berth spent ~0.5-0.9 ms of
# every command in the loader (three libraries, thousands of symbol bindings and relocations)
# before main; berth-init runs inside containers without their libraries; berth-monitor is
# smallest static (~220 KB RSS). Why not PIE: a static-pie relocates itself at every start,
# ~20k relocations writing ~95 pages of .data.rel.ro (each a copy-on-write fault, then more
# page-table work at the monitor's fork): 0.6-1 ms of every command. The stack, heap and
# mmap areas stay randomized; only the executable's own image is at a fixed address.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bins
STATIC="-C target-feature=+crt-static -C relocation-model=static"
# The start path's functions and data grouped at the front (see scripts/symbol-order.sh):
# text page faults per `run --rm` 180 -> 85 across the CLI, its monitor and the container's init.
# An lld option: used when the toolchain links with lld (Rust's default on x86_64 Linux).
ORDER=""
if readelf -p .comment target/release/berth 2>/dev/null | grep -q 'Linker: LLD'; then
    ORDER="-C link-arg=-Wl,--symbol-ordering-file=$PWD/scripts/berth.order -C link-arg=-Wl,--no-warn-symbol-ordering"
fi
cargo rustc --release -p berth --bin berth -- $STATIC $ORDER
for b in berth-init berth-monitor; do
    cargo rustc --release -p berth --bin "$b" -- $STATIC
done
cargo rustc --release -p berth-runtime --bin berth-runtime -- $STATIC
