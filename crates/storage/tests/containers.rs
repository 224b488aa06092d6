//! Container layers without counted references: rmi while a container uses the image, layout
//! migration of older stores (their mounts keep a counted reference), crash leftovers, tombstone
//! purging, prepare over leftovers. Root + real kernel.

mod common;
use common::*;
use std::path::Path;
use storage::{Error, Store};

fn overlay_entries(t: &TestRoot) -> Vec<String> {
    entries(&t.dir.join("root/overlay2"))
}

fn refs_file(t: &TestRoot, chain: &str) -> String {
    let hex = chain.strip_prefix("sha256:").unwrap();
    std::fs::read_to_string(
        t.dir
            .join("root/image/overlay2/layerdb/sha256")
            .join(hex)
            .join("refs"),
    )
    .unwrap()
}

fn two_layers(s: &Store) -> (String, String) {
    let base = tar_of(&[E::File("base", b"b")]);
    let top = tar_of(&[E::File("top", b"t")]);
    let l1 = s.register(&mut &base[..], None, None).unwrap();
    let l2 = s.register(&mut &top[..], Some(&l1.chain_id), None).unwrap();
    (l1.chain_id, l2.chain_id)
}

/// rmi (release) while a container stands on the image: the layer stays until the container goes.
#[test]
fn rmi_while_a_container_uses_the_layers() {
    let t = TestRoot::new("rmiuse");
    let s = t.store(Some("overlay2"));
    let (c1, c2) = two_layers(&s);
    s.prepare("ctr", Some(&c2), &init_spec()).unwrap();
    // The container writes no count, but is reported as a holder.
    assert_eq!(refs_file(&t, &c2).trim(), "1");
    assert_eq!(s.refs(&c2).unwrap(), 2);
    // The image lets go of both layers (top first, like ImageStore's delete).
    assert!(s.release(&c2).unwrap().is_empty());
    assert!(s.release(&c1).unwrap().is_empty());
    assert_eq!(refs_file(&t, &c2), "");
    assert_eq!(s.refs(&c2).unwrap(), 1);
    let m = t.mount(&s, "ctr");
    assert_eq!(std::fs::read(m.join("top")).unwrap(), b"t");
    assert_eq!(std::fs::read(m.join("base")).unwrap(), b"b");
    // Reopened (a new process): removing the container collects the whole chain.
    let s = t.store(None);
    s.remove("ctr").unwrap();
    assert!(matches!(s.get(&c2), Err(Error::LayerNotFound(_))));
    assert!(matches!(s.get(&c1), Err(Error::LayerNotFound(_))));
    assert_eq!(overlay_entries(&t), ["l"]);
    assert!(entries(&t.dir.join("root/overlay2/l")).is_empty());
}

/// Two containers on one released layer: the first removal keeps it, the second collects it.
#[test]
fn released_layer_lives_until_its_last_container() {
    let t = TestRoot::new("lastctr");
    let s = t.store(Some("overlay2"));
    let base = tar_of(&[E::File("f", b"x")]);
    let l = s.register(&mut &base[..], None, None).unwrap();
    s.prepare("a", Some(&l.chain_id), &init_spec()).unwrap();
    s.prepare("b", Some(&l.chain_id), &init_spec()).unwrap();
    assert_eq!(s.refs(&l.chain_id).unwrap(), 3);
    assert!(s.release(&l.chain_id).unwrap().is_empty());
    s.remove("a").unwrap();
    assert!(s.get(&l.chain_id).is_ok());
    // Still usable: a new container can be prepared on it meanwhile.
    s.prepare("c", Some(&l.chain_id), &init_spec()).unwrap();
    s.remove("b").unwrap();
    s.remove("c").unwrap();
    assert!(s.get(&l.chain_id).is_err());
    assert_eq!(overlay_entries(&t), ["l"]);
    // Unknown containers: not found, nothing touched.
    assert!(matches!(s.remove("a"), Err(Error::LayerNotFound(_))));
}

/// A store written by an older berth (containers counted in `refs`, no layout mark) is migrated
/// on open: those containers keep their counted reference and release it on removal.
#[test]
fn older_layout_is_migrated_and_counted_mounts_release_their_reference() {
    let t = TestRoot::new("legacy");
    let s = t.store(Some("overlay2"));
    let base = tar_of(&[E::File("f", b"x")]);
    let l = s.register(&mut &base[..], None, None).unwrap();
    s.prepare("old", Some(&l.chain_id), &init_spec()).unwrap();
    drop(s);
    // What the older version left: the container's count in refs, no layout mark.
    let img = t.dir.join("root/image/overlay2");
    let hex = l.chain_id.strip_prefix("sha256:").unwrap();
    std::fs::write(img.join("layerdb/sha256").join(hex).join("refs"), "2").unwrap();
    std::fs::remove_file(img.join("layout-v2")).unwrap();

    let s = t.store(None);
    assert_eq!(s.driver_name(), "overlay2");
    assert!(img.join("layout-v2").exists());
    assert!(img.join("layerdb/mounts/old/berth-counted-ref").exists());
    // A container made now holds no count.
    s.prepare("new", Some(&l.chain_id), &init_spec()).unwrap();
    assert!(!img.join("layerdb/mounts/new/berth-counted-ref").exists());
    assert_eq!(s.refs(&l.chain_id).unwrap(), 3);
    // The image goes: the old container's count keeps the layer.
    assert!(s.release(&l.chain_id).unwrap().is_empty());
    assert_eq!(refs_file(&t, &l.chain_id).trim(), "1");
    s.remove("old").unwrap();
    // Its count is gone, the new container still stands on the layer.
    assert!(s.get(&l.chain_id).is_ok());
    assert_eq!(s.refs(&l.chain_id).unwrap(), 1);
    s.remove("new").unwrap();
    assert!(s.get(&l.chain_id).is_err());
    assert_eq!(overlay_entries(&t), ["l"]);
}

/// A removal killed after dropping the container's entry but before collecting its released
/// parent: the next open (the lock is still marked) collects it.
#[test]
fn crash_before_collecting_a_released_layer_is_repaired() {
    let t = TestRoot::new("collect");
    let s = t.store(Some("overlay2"));
    let base = tar_of(&[E::File("f", b"x")]);
    let l = s.register(&mut &base[..], None, None).unwrap();
    s.prepare("ctr", Some(&l.chain_id), &init_spec()).unwrap();
    assert!(s.release(&l.chain_id).unwrap().is_empty());
    drop(s);
    // The state at the crash: layers and entry gone, the lock marked as held.
    let root = t.dir.join("root");
    for d in [
        "overlay2/ctr",
        "overlay2/ctr-init",
        "image/overlay2/layerdb/mounts/ctr",
    ] {
        std::fs::remove_dir_all(root.join(d)).unwrap();
    }
    std::fs::write(root.join("image/overlay2/.lock"), "1").unwrap();
    let s = t.store(None);
    assert!(matches!(s.get(&l.chain_id), Err(Error::LayerNotFound(_))));
    assert_eq!(overlay_entries(&t), ["l"]);
}

/// A prepare killed before its mounts entry: the next open sweeps the layer dirs; an id with
/// leftovers (no entry) can be prepared again, a live one cannot.
#[test]
fn prepare_leftovers_are_swept_and_live_layers_kept() {
    let t = TestRoot::new("leftover");
    let s = t.store(Some("overlay2"));
    let base = tar_of(&[E::File("f", b"x")]);
    let l = s.register(&mut &base[..], None, None).unwrap();
    s.prepare("live", Some(&l.chain_id), &init_spec()).unwrap();
    let err = s
        .prepare("live", Some(&l.chain_id), &init_spec())
        .unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    assert!(t
        .dir
        .join("root/overlay2/live-init/diff/etc/hosts")
        .exists());
    // Leftovers of a removal that failed midway (dirs, no entry): prepare replaces them.
    let root = t.dir.join("root");
    std::fs::create_dir_all(root.join("overlay2/gone-init/diff/junk")).unwrap();
    std::fs::create_dir_all(root.join("overlay2/gone/diff/junk")).unwrap();
    s.prepare("gone", Some(&l.chain_id), &init_spec()).unwrap();
    assert!(!root.join("overlay2/gone/diff/junk").exists());
    assert!(!root.join("overlay2/gone-init/diff/junk").exists());
    // A killed prepare: dirs without an entry, the lock marked.
    drop(s);
    std::fs::create_dir_all(root.join("overlay2/dead-init/diff")).unwrap();
    std::fs::create_dir_all(root.join("overlay2/dead/diff")).unwrap();
    std::fs::write(root.join("image/overlay2/.lock"), "1").unwrap();
    let s = t.store(None);
    let mut left = overlay_entries(&t);
    left.retain(|n| n != "l" && n.len() != 64);
    assert_eq!(left, ["gone", "gone-init", "live", "live-init"]);
    s.remove("live").unwrap();
    s.remove("gone").unwrap();
    s.release(&l.chain_id).unwrap();
    assert_eq!(overlay_entries(&t), ["l"]);
}

/// Killed removals and prepares (issue 12): a removal killed inside the entry's removal
/// (its `parent` gone, the entry dir left) is finished by the next `remove`, which once
/// failed with "layer container layer ... not found" (so `system check --repair` could not
/// remove it); and a prepare killed after it made its layer dir in the tombstones does not
/// make the next prepare of that container, in the same second, fail with "File exists".
#[test]
fn killed_removal_and_prepare_are_finished_by_the_next() {
    let t = TestRoot::new("killedrm");
    let s = t.store(Some("overlay2"));
    let base = tar_of(&[E::File("f", b"x")]);
    let l = s.register(&mut &base[..], None, None).unwrap();
    let root = t.dir.join("root");
    // Every name a prepare of `again` could give its new dirs this second (no spares yet: it
    // makes new ones), already taken.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let graves = root.join("image/overlay2/tombstones");
    for sec in [now, now + 1] {
        for n in ["again", "again-init"] {
            std::fs::create_dir_all(graves.join(format!("{sec}-new-{n}"))).unwrap();
        }
    }
    s.prepare("again", Some(&l.chain_id), &init_spec()).unwrap();
    s.prepare("half", Some(&l.chain_id), &init_spec()).unwrap();
    let entry = root.join("image/overlay2/layerdb/mounts/half");
    for f in ["mount-id", "init-id", "parent"] {
        std::fs::remove_file(entry.join(f)).unwrap();
    }
    s.remove("half").unwrap();
    assert!(!entry.exists());
    assert!(!root.join("overlay2/half").exists());
    assert!(matches!(s.remove("half"), Err(Error::LayerNotFound(_))));
    s.remove("again").unwrap();
    s.release(&l.chain_id).unwrap();
}

fn graves(t: &TestRoot) -> Vec<String> {
    entries(&t.dir.join("root/image/overlay2/tombstones"))
}

fn spares(t: &TestRoot) -> Vec<String> {
    entries(&t.dir.join("root/image/overlay2/spares"))
}

/// A removed container's layers become spares for the next container, which finds nothing of
/// what the first one wrote (files, directories, whiteouts, the root's mode and overlay
/// xattrs) and its own init files; more removals than spares kept go to the tombstones.
#[test]
fn removed_container_layers_are_reused_clean() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let t = TestRoot::new("spares");
    let s = t.store(Some("overlay2"));
    let base = tar_of(&[E::File("etc/base", b"b")]);
    let l = s.register(&mut &base[..], None, None).unwrap();
    s.prepare("c1", Some(&l.chain_id), &init_spec()).unwrap();
    let m = t.mount(&s, "c1");
    std::fs::create_dir_all(m.join("data/deep")).unwrap();
    std::fs::write(m.join("data/deep/secret"), b"c1's").unwrap();
    std::fs::remove_file(m.join("etc/base")).unwrap(); // a whiteout in diff
    std::fs::set_permissions(&m, std::fs::Permissions::from_mode(0o700)).unwrap();
    s.unmount("c1").unwrap();
    s.remove("c1").unwrap();
    let sp = spares(&t);
    assert_eq!(sp.len(), 2, "{sp:?}");
    assert!(sp.iter().any(|n| n.starts_with("rw-")) && sp.iter().any(|n| n.starts_with("init-")));

    let spec2 = storage::InitLayerSpec {
        hostname: "second".into(),
        hosts: "127.0.0.1 localhost second\n".into(),
        resolv_conf: String::new(),
    };
    s.prepare("c2", Some(&l.chain_id), &spec2).unwrap();
    assert!(spares(&t).is_empty(), "{:?}", spares(&t));
    let layer = t.dir.join("root/overlay2/c2");
    assert!(entries(&layer.join("diff")).is_empty());
    assert!(entries(&layer.join("work")).is_empty());
    let md = std::fs::metadata(layer.join("diff")).unwrap();
    assert_eq!((md.mode() & 0o7777, md.uid(), md.gid()), (0o755, 0, 0));
    let xattrs = nix_listxattr(&layer.join("diff"));
    assert!(xattrs.is_empty(), "{xattrs:?}");
    let m = t.mount(&s, "c2");
    assert!(!m.join("data").exists());
    assert_eq!(std::fs::read(m.join("etc/base")).unwrap(), b"b");
    assert_eq!(std::fs::read(m.join("etc/hostname")).unwrap(), b"second\n");
    assert_eq!(
        std::fs::read(m.join("etc/hosts")).unwrap(),
        b"127.0.0.1 localhost second\n"
    );
    assert_eq!(std::fs::read(m.join("etc/resolv.conf")).unwrap(), b"");
    assert_eq!(
        std::fs::metadata(&m).unwrap().mode() & 0o7777,
        0o755,
        "the root's mode"
    );
    s.unmount("c2").unwrap();
    s.remove("c2").unwrap();

    // At most four spares of each kind: the rest are buried.
    for i in 0..6 {
        s.prepare(&format!("x{i}"), Some(&l.chain_id), &init_spec())
            .unwrap();
    }
    for i in 0..6 {
        s.remove(&format!("x{i}")).unwrap();
    }
    assert_eq!(spares(&t).len(), 8, "{:?}", spares(&t));
    assert!(graves(&t).iter().filter(|g| g.contains("-x")).count() >= 4);
}

fn nix_listxattr(p: &Path) -> Vec<String> {
    let mut buf = vec![0u8; 4096];
    let n = rustix::fs::llistxattr(p, &mut buf).unwrap();
    buf[..n]
        .split(|b| *b == 0)
        .filter(|n| !n.is_empty())
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .collect()
}

/// Expired tombstones go with a removal once the purge stamp is old enough, not before.
#[test]
fn tombstones_are_purged_at_intervals_by_the_caller() {
    let t = TestRoot::new("purge");
    let s = t.store(Some("overlay2"));
    let base = tar_of(&[E::File("f", b"x")]);
    let l = s.register(&mut &base[..], None, None).unwrap();
    let g = t.dir.join("root/image/overlay2/tombstones");
    let stamp = t.dir.join("root/image/overlay2/.tombstones-purged");
    let old = |name: &str| std::fs::create_dir_all(g.join(name).join("sub")).unwrap();
    old("1000-expired");
    s.prepare("c1", Some(&l.chain_id), &init_spec()).unwrap();
    s.remove("c1").unwrap();
    // Removal itself never purges (it is on the path of `run --rm`)...
    assert!(graves(&t).contains(&"1000-expired".to_string()));
    assert!(!stamp.exists());
    // ...the caller does, later: no stamp yet, so it purges the expired one and stamps.
    s.purge_tombstones_if_due();
    assert!(!graves(&t).contains(&"1000-expired".to_string()));
    assert!(stamp.exists());
    // A fresh stamp: the next purge leaves an expired tombstone alone...
    old("1000-again");
    s.prepare("c2", Some(&l.chain_id), &init_spec()).unwrap();
    s.remove("c2").unwrap();
    s.purge_tombstones_if_due();
    assert!(graves(&t).contains(&"1000-again".to_string()));
    // ...until the stamp is old.
    let f = std::fs::File::options().write(true).open(&stamp).unwrap();
    f.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(61))
        .unwrap();
    s.prepare("c3", Some(&l.chain_id), &init_spec()).unwrap();
    s.remove("c3").unwrap();
    s.purge_tombstones_if_due();
    assert!(!graves(&t).contains(&"1000-again".to_string()));
    // Recent ones (the three containers' mounts entries) wait, as empty directory trees; their
    // layers became spares, each reused by the next container.
    assert_eq!(graves(&t).len(), 3, "{:?}", graves(&t));
    assert_eq!(spares(&t).len(), 2, "{:?}", spares(&t));
    fn no_files(p: &Path) {
        for e in std::fs::read_dir(p).unwrap().flatten() {
            assert!(e.file_type().unwrap().is_dir(), "{}", e.path().display());
            no_files(&e.path());
        }
    }
    no_files(&g);
    s.release(&l.chain_id).unwrap();
}

/// The init layer's content and a reopened store's fast path.
#[test]
fn init_layer_content_and_reopen() {
    let t = TestRoot::new("initl");
    let s = t.store(Some("overlay2"));
    let base = tar_of(&[E::Dir("etc/"), E::File("etc/os", b"x")]);
    let l = s.register(&mut &base[..], None, None).unwrap();
    drop(s);
    let s = t.store(None);
    let spec = storage::InitLayerSpec {
        hostname: "box".into(),
        hosts: "127.0.0.1\tlocalhost\n".into(),
        resolv_conf: "nameserver 10.0.0.1\n".into(),
    };
    let mounts = s.prepare("ctr", Some(&l.chain_id), &spec).unwrap();
    assert_eq!(mounts, s.mounts("ctr").unwrap());
    let m = t.mount(&s, "ctr");
    assert_eq!(
        std::fs::read_to_string(m.join("etc/hostname")).unwrap(),
        "box\n"
    );
    assert_eq!(
        std::fs::read_to_string(m.join("etc/hosts")).unwrap(),
        "127.0.0.1\tlocalhost\n"
    );
    assert_eq!(
        std::fs::read_to_string(m.join("etc/resolv.conf")).unwrap(),
        "nameserver 10.0.0.1\n"
    );
    assert_eq!(std::fs::read(m.join("etc/os")).unwrap(), b"x");
    for d in ["dev/pts", "dev/shm", "proc", "sys"] {
        assert!(m.join(d).is_dir(), "{d}");
    }
    assert!(m.join(".dockerenv").is_file());
    assert!(m.join("dev/console").is_file());
    assert_eq!(
        std::fs::read_link(m.join("etc/mtab")).unwrap(),
        Path::new("/proc/mounts")
    );
    // The init layer is no part of the container's changes.
    assert!(s.changes("ctr").unwrap().is_empty());
    s.remove("ctr").unwrap();
    s.release(&l.chain_id).unwrap();
    assert_eq!(overlay_entries(&t), ["l"]);
}
