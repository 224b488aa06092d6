//! The storage work of one `berth run --rm`, repeated: open (CLI), prepare, mount, open again
//! (monitor), unmount, remove. Prints the mean time per phase; run it under `strace -c -f` (with
//! ROUNDS = 1) to count syscalls.
//!
//! `cargo run --release -p storage --example run_path -- ROOT CHAIN_ID [ROUNDS]`
//! (ROOT: a store holding the layer CHAIN_ID, e.g. a scratch `--root` with busybox loaded; the
//! container layers it makes are removed again).

use std::path::Path;
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: run_path ROOT CHAIN_ID [ROUNDS]");
        std::process::exit(2);
    }
    let root = Path::new(&args[1]);
    let chain = args[2].as_str();
    let rounds: u32 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(20);
    let names = ["open", "prepare", "mount", "reopen", "unmount", "remove"];
    let mut total = [Duration::ZERO; 6];
    let init = storage::InitLayerSpec {
        hostname: "bench\n".into(),
        hosts: "127.0.0.1\tlocalhost\n".into(),
        resolv_conf: String::new(),
    };
    for i in 0..rounds {
        let id = format!("runpath{}{i}", std::process::id());
        let mut t = Instant::now();
        let mut lap = |k: usize| {
            total[k] += t.elapsed();
            t = Instant::now();
        };
        let s = storage::Store::open(root, None).expect("open");
        lap(0);
        s.prepare(&id, Some(chain), &init).expect("prepare");
        lap(1);
        s.mount(&id).expect("mount");
        lap(2);
        drop(s);
        let s = storage::Store::open(root, None).expect("reopen");
        lap(3);
        s.unmount(&id).expect("unmount");
        lap(4);
        s.remove(&id).expect("remove");
        lap(5);
    }
    for (n, d) in names.iter().zip(total) {
        println!("{n:8} {:8.1} us", d.as_secs_f64() * 1e6 / rounds as f64);
    }
}
