//! overlay2 driver: whiteouts, opaque dirs, hard links, changes/diff round trip, 500 layers,
//! refcounted removal, layer_tar reproducing the diff ID. Root + real kernel.

mod common;
use common::*;
use std::io::Read;
use storage::{Change, Error};

fn read_all(mut r: impl Read) -> Vec<u8> {
    let mut v = Vec::new();
    r.read_to_end(&mut v).unwrap();
    v
}

#[test]
fn whiteouts_opaque_changes_and_diff_roundtrip() {
    let t = TestRoot::new("wh");
    let s = t.store(Some("overlay2"));
    assert_eq!(s.driver_name(), "overlay2");
    let base = tar_of(&[
        E::Dir("a/"),
        E::File("a/f1", b"one"),
        E::File("a/f2", b"two"),
        E::Dir("b/"),
        E::File("b/x", b"x"),
        E::File("c", b"c"),
        E::FileMode("bin/suid", b"#!", 0o4755),
    ]);
    let l1 = s
        .register(&mut &gzip(&base)[..], None, Some(&sha(&base)))
        .unwrap();
    assert_eq!(l1.chain_id, sha(&base));
    let top = tar_of(&[
        E::Empty(".wh.c"),
        E::Empty("a/.wh.f1"),
        E::Empty("b/.wh..wh..opq"),
        E::File("b/y", b"y"),
        E::Empty(".wh..wh.plnk"),
    ]);
    let l2 = s.register(&mut &top[..], Some(&l1.chain_id), None).unwrap();
    assert_eq!(l2.diff_id, sha(&top));
    assert_eq!(l2.parent.as_deref(), Some(l1.chain_id.as_str()));

    // layer_tar reproduces the original bytes (hence the diff ID).
    assert_eq!(read_all(s.layer_tar(&l1.chain_id).unwrap()), base);
    assert_eq!(read_all(s.layer_tar(&l2.chain_id).unwrap()), top);

    let mounts = s.prepare("c1", Some(&l2.chain_id), &init_spec()).unwrap();
    assert_eq!(mounts.len(), 1);
    assert!(
        mounts[0].options[0].starts_with("lowerdir="),
        "{:?}",
        mounts[0]
    );
    let md = s.metadata("c1").unwrap();
    assert_eq!(
        md.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        ["LowerDir", "MergedDir", "UpperDir", "WorkDir"]
    );
    let m = t.mount(&s, "c1");
    assert!(!m.join("c").exists(), "whiteout must hide c");
    assert!(!m.join("a/f1").exists());
    assert_eq!(std::fs::read(m.join("a/f2")).unwrap(), b"two");
    assert!(
        !m.join("b/x").exists(),
        "opaque dir must hide lower content"
    );
    assert_eq!(std::fs::read(m.join("b/y")).unwrap(), b"y");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(m.join("bin/suid"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777,
        0o4755
    );
    assert_eq!(
        std::fs::read_to_string(m.join("etc/hostname")).unwrap(),
        "box1\n"
    );
    assert_eq!(
        std::fs::read_link(m.join("etc/mtab")).unwrap().to_str(),
        Some("/proc/mounts")
    );
    assert!(m.join(".dockerenv").exists() && m.join("dev/pts").is_dir() && m.join("proc").is_dir());

    // Changes in the container: add, modify, delete.
    std::fs::write(m.join("a/new"), b"n").unwrap();
    std::fs::write(m.join("b/y"), b"yy").unwrap();
    std::fs::remove_file(m.join("a/f2")).unwrap();
    std::fs::create_dir(m.join("d")).unwrap();
    std::fs::write(m.join("d/e"), b"e").unwrap();
    let ch = s.changes("c1").unwrap();
    let want = [
        ('C', "/a"),
        ('D', "/a/f2"),
        ('A', "/a/new"),
        ('C', "/b"),
        ('C', "/b/y"),
        ('A', "/d"),
        ('A', "/d/e"),
    ];
    let want: Vec<Change> = want
        .iter()
        .map(|(k, p)| Change {
            kind: *k,
            path: p.to_string(),
        })
        .collect();
    assert_eq!(ch, want);

    // diff_tar → register as a new layer → a new container sees the same tree.
    let dt = read_all(s.diff_tar("c1").unwrap());
    let l3 = s
        .register(&mut &dt[..], Some(&l2.chain_id), Some(&sha(&dt)))
        .unwrap();
    s.prepare("c2", Some(&l3.chain_id), &init_spec()).unwrap();
    let m2 = t.mount(&s, "c2");
    assert_eq!(std::fs::read(m2.join("a/new")).unwrap(), b"n");
    assert_eq!(std::fs::read(m2.join("b/y")).unwrap(), b"yy");
    assert!(!m2.join("a/f2").exists() && !m2.join("a/f1").exists() && !m2.join("c").exists());
    assert_eq!(std::fs::read(m2.join("d/e")).unwrap(), b"e");
    assert_eq!(s.changes("c2").unwrap(), vec![]);

    // Removal: containers first, then images; everything goes.
    s.remove("c1").unwrap();
    s.remove("c2").unwrap();
    assert_eq!(s.release(&l3.chain_id).unwrap(), vec![l3.chain_id.clone()]);
    assert_eq!(s.release(&l2.chain_id).unwrap(), vec![l2.chain_id.clone()]);
    assert_eq!(s.release(&l1.chain_id).unwrap(), vec![l1.chain_id.clone()]);
    assert_eq!(entries(&t.dir.join("root/overlay2")), ["l"]);
    assert!(entries(&t.dir.join("root/overlay2/l")).is_empty());
    assert!(s.layers().unwrap().is_empty());
}

#[test]
fn hard_links_within_and_across_layers() {
    let t = TestRoot::new("hl");
    let s = t.store(Some("overlay2"));
    let base = tar_of(&[E::FileMode("bin/tool", b"TOOL", 0o755)]);
    let l1 = s.register(&mut &base[..], None, None).unwrap();
    let top = tar_of(&[
        E::File("x", b"X"),
        E::Link("y", "x"),
        E::Link("bin/tool2", "/bin/tool"),
    ]);
    let l2 = s.register(&mut &top[..], Some(&l1.chain_id), None).unwrap();
    let d = s.layer_dir(&l2.chain_id).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        std::fs::metadata(d.join("x")).unwrap().ino(),
        std::fs::metadata(d.join("y")).unwrap().ino()
    );
    assert_eq!(std::fs::metadata(d.join("x")).unwrap().nlink(), 2);
    // The lower file was copied up into this layer.
    assert_eq!(std::fs::read(d.join("bin/tool2")).unwrap(), b"TOOL");
    assert_eq!(read_all(s.layer_tar(&l2.chain_id).unwrap()), top);
    s.prepare("c", Some(&l2.chain_id), &init_spec()).unwrap();
    let m = t.mount(&s, "c");
    assert_eq!(std::fs::read(m.join("bin/tool2")).unwrap(), b"TOOL");
    assert_eq!(std::fs::read(m.join("y")).unwrap(), b"X");
    s.remove("c").unwrap();
}

#[test]
fn five_hundred_layers() {
    let t = TestRoot::new("500");
    let s = t.store(Some("overlay2"));
    let mut parent: Option<String> = None;
    let mut chain = Vec::new();
    for i in 0..500 {
        let name = format!("layer{i}");
        let tar = tar_of(&[E::File(&name, name.as_bytes())]);
        let l = s.register(&mut &tar[..], parent.as_deref(), None).unwrap();
        chain.push(l.chain_id.clone());
        parent = Some(l.chain_id);
    }
    let mounts = s.prepare("deep", parent.as_deref(), &init_spec()).unwrap();
    assert_eq!(mounts.len(), 2, "501 lowers need the stacked overlay");
    let m = t.mount(&s, "deep");
    assert_eq!(std::fs::read(m.join("layer0")).unwrap(), b"layer0");
    assert_eq!(std::fs::read(m.join("layer499")).unwrap(), b"layer499");
    std::fs::write(m.join("layer0"), b"changed").unwrap();
    assert_eq!(
        s.changes("deep").unwrap(),
        vec![Change {
            kind: 'C',
            path: "/layer0".into()
        }]
    );
    s.remove("deep").unwrap();
    // The image holds one reference per layer (one per register).
    let deleted: usize = chain
        .iter()
        .rev()
        .map(|c| s.release(c).unwrap().len())
        .sum();
    assert_eq!(deleted, 500);
    assert_eq!(entries(&t.dir.join("root/overlay2")), ["l"]);
}

#[test]
fn refcounted_removal_of_shared_base() {
    let t = TestRoot::new("rc");
    let s = t.store(Some("overlay2"));
    let base = tar_of(&[E::File("base", b"b")]);
    let t2 = tar_of(&[E::File("two", b"2")]);
    let t3 = tar_of(&[E::File("three", b"3")]);
    // image 1 = [base, two], image 2 = [base, three]; each load registers its whole chain.
    let b1 = s.register(&mut &base[..], None, None).unwrap();
    let l2 = s.register(&mut &t2[..], Some(&b1.chain_id), None).unwrap();
    let b2 = s.register(&mut &base[..], None, Some(&sha(&base))).unwrap();
    assert_eq!(b1, b2);
    let l3 = s.register(&mut &t3[..], Some(&b2.chain_id), None).unwrap();
    assert_eq!(s.refs(&b1.chain_id).unwrap(), 4);
    // rmi image 1
    assert_eq!(s.release(&l2.chain_id).unwrap(), vec![l2.chain_id.clone()]);
    assert!(s.release(&b1.chain_id).unwrap().is_empty());
    assert!(s.get(&l2.chain_id).is_err());
    assert_eq!(
        std::fs::read(s.layer_dir(&b1.chain_id).unwrap().join("base")).unwrap(),
        b"b"
    );
    // rmi image 2
    assert_eq!(s.release(&l3.chain_id).unwrap(), vec![l3.chain_id.clone()]);
    assert_eq!(s.release(&b1.chain_id).unwrap(), vec![b1.chain_id.clone()]);
    assert!(matches!(s.get(&b1.chain_id), Err(Error::LayerNotFound(_))));
    assert_eq!(entries(&t.dir.join("root/overlay2")), ["l"]);
}

#[test]
fn zstd_and_reopen_keeps_driver() {
    let t = TestRoot::new("zst");
    let s = t.store(Some("vfs"));
    let tar = tar_of(&[E::File("z", b"zstd")]);
    let z = zstd::encode_all(&tar[..], 1).unwrap();
    let l = s.register(&mut &z[..], None, Some(&sha(&tar))).unwrap();
    drop(s);
    let s = t.store(None);
    assert_eq!(s.driver_name(), "vfs");
    assert_eq!(s.get(&l.chain_id).unwrap(), l);
    for d in ["aufs", "devicemapper", "zfs"] {
        assert!(matches!(
            storage::Store::open(&t.dir.join("root"), Some(d)),
            Err(Error::DriverUnsupported(_))
        ));
    }
}
