//! `berth-monitor`: the idle monitor a running container's monitor shrinks into (see the doc
//! of crates/engine/src/shim.rs). std + libc only, so one resident copy per container stays
//! small: the engine's shim and relay modules are compiled in directly instead of linking the engine.
//! The engine finds it next to the `berth` binary. Smallest when static, like berth-init:
//! `cargo rustc --release -p berth --bin berth-monitor -- -C target-feature=+crt-static`.

#[path = "../../../engine/src/relay.rs"]
#[allow(dead_code)] // the full monitor's parts
mod relay;
#[path = "../../../engine/src/shim.rs"]
mod shim;

#[path = "../../../engine/src/health/sched.rs"]
mod health_sched;

/// The healthcheck timer, at the same path as in the engine (shim.rs names it so).
mod health {
    pub(crate) use crate::health_sched as sched;
}

fn main() {
    std::process::exit(shim::main());
}
