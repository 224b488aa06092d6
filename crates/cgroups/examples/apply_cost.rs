//! Measures the run-path cost of a cgroup: build the manager, apply (mkdir + join in every
//! hierarchy), set a typical docker resource set, destroy. Run as root:
//! `cargo run --release -p cgroups --example apply_cost [iterations]`.

use oci_spec::runtime::{
    LinuxCpuBuilder, LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResourcesBuilder,
};
use std::time::Instant;

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let mut child = std::process::Command::new("sleep")
        .arg("100")
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let res = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(64i64 << 20)
                .build()
                .unwrap(),
        )
        .cpu(LinuxCpuBuilder::default().shares(1024u64).build().unwrap())
        .pids(LinuxPidsBuilder::default().limit(1000i64).build().unwrap())
        .build()
        .unwrap();
    let top = format!("/berth-bench-{}", std::process::id());
    let (mut apply, mut set, mut destroy) = (0u128, 0u128, 0u128);
    let mut prev: Option<Box<dyn cgroups::Manager>> = None;
    for i in 0..n {
        let t = Instant::now();
        let m = cgroups::manager(Some(&format!("{top}/c{i}")), "x").unwrap();
        m.apply(pid).unwrap();
        apply += t.elapsed().as_nanos();
        let t = Instant::now();
        m.set(&res).unwrap();
        set += t.elapsed().as_nanos();
        if let Some(p) = prev.take() {
            let t = Instant::now();
            p.destroy().unwrap();
            destroy += t.elapsed().as_nanos();
        }
        prev = Some(m);
    }
    let _ = child.kill();
    let _ = child.wait();
    if let Some(p) = prev {
        p.destroy().unwrap();
    }
    cgroups::manager(Some(&top), "x")
        .unwrap()
        .destroy()
        .unwrap();
    let us = |x: u128, k: u32| x as f64 / 1000.0 / f64::from(k.max(1));
    println!(
        "per container: apply {:.0}us, set {:.0}us, destroy {:.0}us (n={n})",
        us(apply, n),
        us(set, n),
        us(destroy, n - 1)
    );
}
