//! `berth-init`: the init `--init` containers run as PID 1. It runs inside the container's root
//! filesystem, so it must be statically linked, and small: the engine's init module is compiled
//! in directly (it needs only std and libc) instead of linking the engine crate, whose C
//! dependencies don't link statically. Build:
//! `cargo rustc --release -p berth --bin berth-init -- -C target-feature=+crt-static`
//! (scripts/quickstart.sh does); the engine finds it next to the `berth` binary.

#[path = "../../../engine/src/init.rs"]
#[allow(dead_code)]
mod init;

fn main() {
    init::main(std::env::args().skip(1).collect());
}
