//! Layer register throughput: builds a synthetic 5-layer image in memory (random data, text, a
//! directory of 3000 small files, like the `peers.sh pull` image), then registers it into a
//! scratch store, one layer after the other and as a concurrently unpacked chain, and prints
//! MB/s and files/s for each. The layers are released (deleted) between rounds, so each round
//! also pays for unpacking right after a removal, as `rmi` + `load` does.
//!
//! `cargo run --release -p storage --example register_bench [-- SCRATCH_DIR [ROUNDS]]`
//! (default scratch dir: a temp dir under /var/tmp, removed at the end; needs root for overlay2).

use rand::RngCore;
use sha2::{Digest as _, Sha256};
use std::time::Instant;

fn tar_of(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, path, &data[..]).unwrap();
    }
    b.into_inner().unwrap()
}

fn text(lines: usize, suffix: &str) -> Vec<u8> {
    let mut v = Vec::new();
    for i in 1..=lines {
        v.extend_from_slice(format!("{i}{suffix}\n").as_bytes());
    }
    v
}

fn random(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    rand::thread_rng().fill_bytes(&mut v);
    v
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let scratch = match args.get(1) {
        Some(d) => std::path::PathBuf::from(d),
        None => std::env::temp_dir().join(format!("berth-register-bench-{}", std::process::id())),
    };
    let own_scratch = args.get(1).is_none();
    let rounds: usize = args.get(2).and_then(|r| r.parse().ok()).unwrap_or(3);

    let mut many = Vec::new();
    many.push(("r2".to_string(), random(30_000_000)));
    for i in 1..=3000 {
        many.push((format!("many/f{i}"), format!("{i}\n").into_bytes()));
    }
    let layers = [
        tar_of(&[("etc/hostname".to_string(), b"bench\n".to_vec())]),
        tar_of(&[("r1".to_string(), random(40_000_000))]),
        tar_of(&[("t1".to_string(), text(6_000_000, ""))]),
        tar_of(&many),
        tar_of(&[("t2".to_string(), text(4_000_000, " lorem ipsum"))]),
    ];
    let bytes: usize = layers.iter().map(Vec::len).sum();
    let sha = |b: &[u8]| format!("sha256:{}", hex::encode(Sha256::digest(b)));
    let diff_ids: Vec<String> = layers.iter().map(|l| sha(l)).collect();
    let mut chains: Vec<String> = Vec::new();
    for d in &diff_ids {
        let c = match chains.last() {
            None => d.clone(),
            Some(p) => sha(format!("{p} {d}").as_bytes()),
        };
        chains.push(c);
    }
    let files = 3005;

    let store = storage::Store::open(&scratch, None).expect("opening the scratch store");
    println!(
        "driver {}, {} layers, {:.0} MB, {files} files",
        store.driver_name(),
        layers.len(),
        bytes as f64 / 1e6
    );
    let report = |what: &str, secs: f64| {
        println!(
            "{what:<28} {:6.0} ms  {:6.0} MB/s  {:7.0} files/s",
            secs * 1000.0,
            bytes as f64 / 1e6 / secs,
            files as f64 / secs
        );
    };
    for _ in 0..rounds {
        // One after the other, like `register` in a loop.
        let t = Instant::now();
        let mut parent: Option<String> = None;
        for l in &layers {
            let layer = store
                .register(&mut &l[..], parent.as_deref(), None)
                .expect("register");
            parent = Some(layer.chain_id);
        }
        report("sequential register", t.elapsed().as_secs_f64());
        store.release(parent.as_deref().unwrap()).expect("release");

        // Unpacked concurrently, committed in order (what load and pull do: the diff IDs,
        // hence the chain IDs, are known up front from the image config).
        let threads = store.unpack_threads(layers.len());
        let parent_of = |i: usize| {
            if i == 0 {
                None
            } else {
                Some(chains[i - 1].as_str())
            }
        };
        let t = Instant::now();
        storage::ordered_parallel(
            layers.len(),
            threads,
            |i| store.unpack(&mut &layers[i][..], parent_of(i)),
            |i, u| {
                store.commit_unpacked(u, parent_of(i), Some(&diff_ids[i]))?;
                Ok(())
            },
        )
        .expect("concurrent register");
        report(
            &format!("concurrent ({threads} threads)"),
            t.elapsed().as_secs_f64(),
        );
        store.release(chains.last().unwrap()).expect("release");
    }
    drop(store);
    if own_scratch {
        let _ = std::fs::remove_dir_all(&scratch);
    }
}
