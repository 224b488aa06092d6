//! How long one rendering of each file takes (the server's share of a read):
//! `cargo run --release -p procfs --example render_cost [MEMORY_CGROUP_DIR]`.
use procfs::render::{File, Renderer};
use std::time::Instant;

fn main() {
    let mut c = procfs::Config::new();
    c.memory = Some(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "/sys/fs/cgroup/memory".into())
            .into(),
    );
    c.start_ns = procfs::config::boottime_ns();
    let mut r = Renderer::new(c);
    for f in File::ALL {
        let n = 2000;
        let t = Instant::now();
        for _ in 0..n {
            std::hint::black_box(r.render(f));
        }
        println!("{} {} ns", f.name(), t.elapsed().as_nanos() / n);
    }
}
