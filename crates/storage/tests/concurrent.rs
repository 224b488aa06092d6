//! Concurrent unpack of a layer chain (`unpack` + `commit_unpacked` via `ordered_parallel`):
//! same layers, chain IDs and bytes as sequential `register`, cross-layer hard links resolved
//! at commit, owners/modes exact even where the unpacker skips chown/chmod, errors clean up.

mod common;
use common::*;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use storage::{Error, Store};

/// A regular file entry with explicit owner and mode.
fn file(b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8], mode: u32, uid: u64, gid: u64) {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(data.len() as u64);
    h.set_mode(mode);
    h.set_uid(uid);
    h.set_gid(gid);
    h.set_mtime(1_600_000_000);
    b.append_data(&mut h, path, data).unwrap();
}

fn link(b: &mut tar::Builder<Vec<u8>>, path: &str, target: &str) {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Link);
    h.set_size(0);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_600_000_000);
    b.append_link(&mut h, path, target).unwrap();
}

fn chain_tars() -> Vec<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    file(&mut b, "bin/tool", b"TOOL", 0o755, 0, 0);
    file(&mut b, "bin/suid", b"S", 0o4755, 0, 0);
    file(&mut b, "home/u/own", b"U", 0o640, 1000, 1001);
    file(&mut b, "wide", b"W", 0o777, 0, 0);
    file(&mut b, "gone", b"G", 0o644, 0, 0);
    let base = b.into_inner().unwrap();
    let mut b = tar::Builder::new(Vec::new());
    // A link into the parent (copied up at commit), then a link to that link.
    link(&mut b, "bin/tool2", "bin/tool");
    link(&mut b, "bin/tool3", "bin/tool2");
    file(&mut b, "x", b"X", 0o600, 0, 0);
    file(&mut b, ".wh.gone", b"", 0o600, 0, 0);
    let mid = b.into_inner().unwrap();
    let mut b = tar::Builder::new(Vec::new());
    for i in 0..200 {
        file(
            &mut b,
            &format!("many/f{i}"),
            format!("{i}").as_bytes(),
            0o644,
            0,
            0,
        );
    }
    let top = b.into_inner().unwrap();
    vec![base, mid, top]
}

fn chains_of(diff_ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for d in diff_ids {
        let c = match out.last() {
            None => d.clone(),
            Some(p) => sha(format!("{p} {d}").as_bytes()),
        };
        out.push(c);
    }
    out
}

fn read_all(mut r: impl Read) -> Vec<u8> {
    let mut v = Vec::new();
    r.read_to_end(&mut v).unwrap();
    v
}

/// Unpacks the whole chain on `threads` threads and commits it in order.
fn register_concurrently(s: &Store, tars: &[Vec<u8>], threads: usize) -> Vec<String> {
    let diff_ids: Vec<String> = tars.iter().map(|t| sha(t)).collect();
    let chains = chains_of(&diff_ids);
    let parent_of = |i: usize| {
        if i == 0 {
            None
        } else {
            Some(chains[i - 1].as_str())
        }
    };
    storage::ordered_parallel(
        tars.len(),
        threads,
        |i| s.unpack(&mut &tars[i][..], parent_of(i)),
        |i, u| {
            assert_eq!(u.diff_id(), diff_ids[i]);
            let l = s.commit_unpacked(u, parent_of(i), Some(&diff_ids[i]))?;
            assert_eq!(l.chain_id, chains[i]);
            Ok(())
        },
    )
    .unwrap();
    chains
}

#[test]
fn concurrent_chain_equals_sequential_register() {
    let t = TestRoot::new("conc");
    let s = t.store(Some("overlay2"));
    assert!(s.concurrent_unpack());
    let tars = chain_tars();
    let chains = register_concurrently(&s, &tars, 3);

    // Same chain IDs as one-by-one registration in another store.
    let t2 = TestRoot::new("conc-seq");
    let s2 = t2.store(Some("overlay2"));
    let mut parent: Option<String> = None;
    for (i, tar) in tars.iter().enumerate() {
        let l = s2.register(&mut &tar[..], parent.as_deref(), None).unwrap();
        assert_eq!(l.chain_id, chains[i]);
        parent = Some(l.chain_id);
    }

    let base = s.layer_dir(&chains[0]).unwrap();
    let meta = |p: &str| std::fs::symlink_metadata(base.join(p)).unwrap();
    assert_eq!(meta("bin/tool").mode() & 0o7777, 0o755);
    assert_eq!(meta("bin/suid").mode() & 0o7777, 0o4755);
    assert_eq!(meta("wide").mode() & 0o7777, 0o777, "mode beyond the umask");
    let own = meta("home/u/own");
    assert_eq!(
        (own.uid(), own.gid(), own.mode() & 0o7777),
        (1000, 1001, 0o640)
    );
    assert_eq!(own.mtime(), 1_600_000_000);

    // The cross-layer link was copied up at commit; the link to it shares its inode.
    let mid = s.layer_dir(&chains[1]).unwrap();
    assert_eq!(std::fs::read(mid.join("bin/tool2")).unwrap(), b"TOOL");
    let t2m = std::fs::metadata(mid.join("bin/tool2")).unwrap();
    assert_eq!(t2m.mode() & 0o7777, 0o755);
    assert_eq!(
        t2m.ino(),
        std::fs::metadata(mid.join("bin/tool3")).unwrap().ino()
    );
    assert_eq!(t2m.nlink(), 2);
    // The whiteout became an overlay whiteout (char 0/0).
    let wh = std::fs::symlink_metadata(mid.join("gone")).unwrap();
    assert!(std::os::unix::fs::FileTypeExt::is_char_device(
        &wh.file_type()
    ));

    // Byte-exact tars back (same diff IDs).
    for (i, tar) in tars.iter().enumerate() {
        assert_eq!(
            &read_all(s.layer_tar(&chains[i]).unwrap()),
            tar,
            "layer {i}"
        );
    }
    // Each layer carries the one reference its commit gave (like register).
    for c in chains.iter().rev() {
        s.release(c).unwrap();
        s2.release(c).unwrap();
    }
    assert!(s.layers().unwrap().is_empty());
}

#[test]
fn removed_layers_leave_no_files() {
    let t = TestRoot::new("bury");
    let s = t.store(Some("overlay2"));
    let chains = register_concurrently(&s, &chain_tars(), 2);
    for c in chains.iter().rev() {
        s.release(c).unwrap();
    }
    assert_eq!(entries(&t.dir.join("root/overlay2")), ["l"]);
    // Only empty directory trees may wait in the tombstones.
    fn no_files(p: &std::path::Path) {
        for e in std::fs::read_dir(p).unwrap().flatten() {
            let ft = e.file_type().unwrap();
            assert!(ft.is_dir(), "file left behind: {}", e.path().display());
            no_files(&e.path());
        }
    }
    let graves = t.dir.join("root/image/overlay2/tombstones");
    if graves.exists() {
        no_files(&graves);
    }
}

#[test]
fn deferred_link_without_target_fails_at_commit_and_cleans_up() {
    let t = TestRoot::new("deflink");
    let s = t.store(Some("overlay2"));
    let base = tar_of(&[E::File("a", b"A")]);
    let lb = s.register(&mut &base[..], None, None).unwrap();
    let mut b = tar::Builder::new(Vec::new());
    link(&mut b, "h", "nonexistent");
    let top = b.into_inner().unwrap();
    let u = s.unpack(&mut &top[..], Some(&lb.chain_id)).unwrap();
    // Committing on another parent than it was unpacked for is refused.
    let r = s.commit_unpacked(u, None, None);
    assert!(matches!(r, Err(Error::Other(_))), "{r:?}");
    let u = s.unpack(&mut &top[..], Some(&lb.chain_id)).unwrap();
    let r = s.commit_unpacked(u, Some(&lb.chain_id), None);
    assert!(matches!(r, Err(Error::InvalidLayer(_))), "{r:?}");
    // Nothing but the base layer (and no staging dir) is left.
    assert_eq!(s.layers().unwrap().len(), 1);
    let mut left = entries(&t.dir.join("root/overlay2"));
    left.retain(|e| e != "l");
    assert_eq!(left.len(), 1, "{left:?}");
    s.release(&lb.chain_id).unwrap();
}

#[test]
fn ordered_parallel_keeps_order_and_stops_at_the_first_error() {
    for threads in [1, 2, 4] {
        let mut seen = Vec::new();
        storage::ordered_parallel(
            50,
            threads,
            |i| Ok::<_, String>(i * 10),
            |i, v| {
                assert_eq!(v, i * 10);
                seen.push(i);
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(seen, (0..50).collect::<Vec<_>>());

        // A failing job: nothing at or after it is handed over.
        let mut seen = Vec::new();
        let r = storage::ordered_parallel(
            50,
            threads,
            |i| {
                if i == 7 {
                    Err(format!("job {i}"))
                } else {
                    Ok(i)
                }
            },
            |i, _| {
                seen.push(i);
                Ok(())
            },
        );
        assert_eq!(r, Err("job 7".to_string()));
        assert!(seen.iter().all(|i| *i < 7), "{seen:?}");
        // A failing consumer stops it too.
        let mut calls = 0;
        let r = storage::ordered_parallel(50, threads, Ok::<_, String>, |i, _| {
            calls += 1;
            if i == 3 {
                Err("stop".to_string())
            } else {
                Ok(())
            }
        });
        assert_eq!(r, Err("stop".to_string()));
        assert_eq!(calls, 4);
    }
}

/// A parent released once too often (the journal of a process killed between a store change
/// and its journal line claims a reference the parent no longer holds for it) is not deleted
/// under its child: the child still mounts on it. The child's removal collects both.
#[test]
fn a_layer_with_children_outlives_a_stale_release() {
    let t = TestRoot::new("stale");
    let s = t.store(Some("overlay2"));
    let tars = chain_tars();
    let base = s.register(&mut &tars[0][..], None, None).unwrap();
    let top = s
        .register(&mut &tars[1][..], Some(&base.chain_id), None)
        .unwrap();
    s.release(&base.chain_id).unwrap(); // the caller's own reference
    s.release(&base.chain_id).unwrap(); // the stale claim
    assert!(
        s.get(&base.chain_id).is_ok(),
        "parent deleted under its child"
    );
    assert!(s.layer_dir(&base.chain_id).unwrap().is_dir());
    s.release(&top.chain_id).unwrap();
    assert!(s.layers().unwrap().is_empty());
    assert_eq!(entries(&t.dir.join("root/overlay2")), ["l"]);
}
