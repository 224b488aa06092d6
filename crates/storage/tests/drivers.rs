//! vfs and btrfs drivers (btrfs on a loop-mounted image file made by the test).

mod common;
use common::*;
use std::io::Read;
use std::process::Command;
use storage::{Change, Store};

fn read_all(mut r: impl Read) -> Vec<u8> {
    let mut v = Vec::new();
    r.read_to_end(&mut v).unwrap();
    v
}

/// Whiteouts, opaque dirs, container changes and diff round trip on a copy/snapshot driver.
fn exercise(t: &TestRoot, s: &Store) {
    let base = tar_of(&[
        E::Dir("a/"),
        E::File("a/f1", b"one"),
        E::File("a/f2", b"two"),
        E::Dir("b/"),
        E::File("b/x", b"x"),
        E::File("c", b"c"),
        E::File("h1", b"H"),
        E::Link("h2", "h1"),
        E::Fifo("p"),
    ]);
    let l1 = s.register(&mut &base[..], None, Some(&sha(&base))).unwrap();
    let top = tar_of(&[
        E::Empty(".wh.c"),
        E::Empty("a/.wh.f1"),
        E::File("b/y", b"y"),
        E::Empty("b/.wh..wh..opq"),
    ]);
    let l2 = s.register(&mut &top[..], Some(&l1.chain_id), None).unwrap();
    assert_eq!(read_all(s.layer_tar(&l2.chain_id).unwrap()), top);
    let d = s.layer_dir(&l2.chain_id).unwrap();
    assert!(!d.join("c").exists() && !d.join("a/f1").exists() && !d.join("b/x").exists());
    assert_eq!(
        std::fs::read(d.join("b/y")).unwrap(),
        b"y",
        "opaque keeps this layer's own entries"
    );
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        std::fs::metadata(d.join("h1")).unwrap().ino(),
        std::fs::metadata(d.join("h2")).unwrap().ino()
    );

    s.prepare("c1", Some(&l2.chain_id), &init_spec()).unwrap();
    let m = t.mount(s, "c1");
    assert_eq!(std::fs::read(m.join("a/f2")).unwrap(), b"two");
    assert_eq!(
        std::fs::read_to_string(m.join("etc/resolv.conf")).unwrap(),
        "nameserver 10.0.0.1\n"
    );
    std::fs::write(m.join("a/new"), b"n").unwrap();
    std::fs::remove_file(m.join("a/f2")).unwrap();
    let ch = s.changes("c1").unwrap();
    let want: Vec<Change> = [('C', "/a"), ('D', "/a/f2"), ('A', "/a/new")]
        .iter()
        .map(|(k, p)| Change {
            kind: *k,
            path: p.to_string(),
        })
        .collect();
    assert_eq!(ch, want);
    let dt = read_all(s.diff_tar("c1").unwrap());
    let l3 = s.register(&mut &dt[..], Some(&l2.chain_id), None).unwrap();
    let d3 = s.layer_dir(&l3.chain_id).unwrap();
    assert!(d3.join("a/new").exists() && !d3.join("a/f2").exists() && d3.join("b/y").exists());
    s.remove("c1").unwrap();
    for l in [&l3, &l2, &l1] {
        s.release(&l.chain_id).unwrap();
    }
    assert!(s.layers().unwrap().is_empty());
}

#[test]
fn vfs_driver() {
    let t = TestRoot::new("vfs");
    let s = t.store(Some("vfs"));
    assert_eq!(s.driver_name(), "vfs");
    exercise(&t, &s);
    assert!(entries(&t.dir.join("root/vfs/dir")).is_empty());
}

#[test]
fn btrfs_driver_on_loop_device() {
    let mut t = TestRoot::new("btrfs");
    let img = t.dir.join("btrfs.img");
    let mnt = t.dir.join("root");
    std::fs::create_dir_all(&mnt).unwrap();
    std::fs::File::create(&img)
        .unwrap()
        .set_len(300 << 20)
        .unwrap();
    let ok = |c: &mut Command| assert!(c.status().unwrap().success(), "{c:?}");
    ok(Command::new("mkfs.btrfs").arg("-q").arg(&img));
    ok(Command::new("mount")
        .arg("-o")
        .arg("loop")
        .arg(&img)
        .arg(&mnt));
    // `mount -o loop` sets autoclear: the loop device goes away with the unmount in Drop.
    t.extra_umount.push(mnt.clone());
    let s = t.store(None);
    assert_eq!(
        s.driver_name(),
        "btrfs",
        "auto-detected from the backing filesystem"
    );
    assert!(s
        .driver_status()
        .contains(&("Backing Filesystem".to_string(), "btrfs".to_string())));
    exercise(&t, &s);
    assert!(entries(&mnt.join("btrfs/subvolumes")).is_empty());
    drop(s);
    drop(t);
}
