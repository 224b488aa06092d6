//! What `berth rmi -f REF; berth pull -q REF` does, for timing pulls until the CLI has `pull`:
//!
//! ```text
//! cargo build --release -p registry --example pull_bench
//! hyperfine -N "target/release/examples/pull_bench /var/lib/berth 127.0.0.1:5055/bench/pull:1" \
//!   "sh -c 'docker rmi -f 127.0.0.1:5055/bench/pull:1; docker pull -q 127.0.0.1:5055/bench/pull:1'"
//! ```
//!
//! Usage: `pull_bench ROOT REFERENCE [--keep]` (`--keep`: do not remove the image first).
//! Prints the pulled reference and the time the pull itself took on stderr.

use std::path::Path;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(root), Some(reference)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: pull_bench ROOT REFERENCE [--keep]");
        std::process::exit(2);
    };
    let store = image::ImageStore::open(Path::new(root), None)?;
    if args.get(3).map(String::as_str) != Some("--keep") {
        // Like `berth rmi -f REF` then `berth image prune -f`: a missing image is fine.
        let _ = store.remove(reference, true, &|_| false);
        store.prune(false, &|_| false)?;
    }
    let start = Instant::now();
    let opts = registry::PullOptions {
        reference: reference.clone(),
        ..Default::default()
    };
    let pulled = registry::pull(&store, &opts, &registry::Progress::stdout(true))?;
    eprintln!(
        "pulled {} ({}) in {} ms",
        pulled[0].reference,
        pulled[0].image_id,
        start.elapsed().as_millis()
    );
    Ok(())
}
