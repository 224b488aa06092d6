//! Test helpers: synthetic layer tars (including malicious raw names) and a store in a temp root
//! that is unmounted and removed on drop.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use storage::{InitLayerSpec, Store};

pub enum E<'a> {
    Dir(&'a str),
    File(&'a str, &'a [u8]),
    FileMode(&'a str, &'a [u8], u32),
    Sym(&'a str, &'a str),
    Link(&'a str, &'a str),
    Fifo(&'a str),
    /// A whiteout marker `.wh.` file (name given in full).
    Empty(&'a str),
}

/// Writes `name` raw into the header (bypasses the tar crate's `..` checks).
fn raw_name(h: &mut tar::Header, name: &str) {
    let n = name.as_bytes();
    let field = &mut h.as_old_mut().name;
    assert!(n.len() < field.len());
    field.fill(0);
    field[..n.len()].copy_from_slice(n);
}

fn raw_link(h: &mut tar::Header, name: &str) {
    let n = name.as_bytes();
    let field = &mut h.as_old_mut().linkname;
    field.fill(0);
    field[..n.len()].copy_from_slice(n);
}

pub fn tar_of(entries: &[E]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(1_600_000_000);
        h.set_uid(0);
        h.set_gid(0);
        let (name, data): (&str, &[u8]) = match e {
            E::Dir(n) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                (n, b"")
            }
            E::File(n, d) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                (n, d)
            }
            E::FileMode(n, d, m) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(*m);
                (n, d)
            }
            E::Empty(n) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o600);
                (n, b"")
            }
            E::Sym(n, t) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                raw_link(&mut h, t);
                (n, b"")
            }
            E::Link(n, t) => {
                h.set_entry_type(tar::EntryType::Link);
                h.set_mode(0o644);
                raw_link(&mut h, t);
                (n, b"")
            }
            E::Fifo(n) => {
                h.set_entry_type(tar::EntryType::Fifo);
                h.set_mode(0o600);
                (n, b"")
            }
        };
        raw_name(&mut h, name);
        h.set_size(data.len() as u64);
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

pub fn sha(data: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)))
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// A temporary store root; on drop: unmount every container it mounted, remove everything.
pub struct TestRoot {
    pub dir: PathBuf,
    pub mounted: std::cell::RefCell<Vec<PathBuf>>,
    pub extra_umount: Vec<PathBuf>,
}

impl TestRoot {
    pub fn new(tag: &str) -> TestRoot {
        testutil::require_root();
        let dir =
            PathBuf::from("/var/tmp").join(testutil::unique_name(&format!("berth-storage-{tag}")));
        std::fs::create_dir_all(&dir).unwrap();
        TestRoot {
            dir,
            mounted: Default::default(),
            extra_umount: Vec::new(),
        }
    }

    pub fn store(&self, driver: Option<&str>) -> Store {
        Store::open(&self.dir.join("root"), driver).unwrap()
    }

    pub fn mount(&self, s: &Store, id: &str) -> PathBuf {
        let m = s.mount(id).unwrap();
        self.mounted.borrow_mut().push(m.clone());
        m
    }
}

impl Drop for TestRoot {
    fn drop(&mut self) {
        for m in self.mounted.borrow().iter() {
            let _ = nix::mount::umount2(m, nix::mount::MntFlags::MNT_DETACH);
        }
        // Anything still mounted below the root (a failing test): detach it.
        if let Ok(mi) = std::fs::read_to_string("/proc/self/mountinfo") {
            let mut mps: Vec<&str> = mi
                .lines()
                .filter_map(|l| l.split(' ').nth(4))
                .filter(|p| Path::new(p).starts_with(&self.dir))
                .collect();
            mps.sort_by_key(|p| std::cmp::Reverse(p.len()));
            for p in mps {
                let _ = nix::mount::umount2(p, nix::mount::MntFlags::MNT_DETACH);
            }
        }
        for m in &self.extra_umount {
            let _ = nix::mount::umount2(m, nix::mount::MntFlags::MNT_DETACH);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn init_spec() -> InitLayerSpec {
    InitLayerSpec {
        hostname: "box1".into(),
        hosts: "127.0.0.1 localhost\n".into(),
        resolv_conf: "nameserver 10.0.0.1\n".into(),
    }
}

/// Entries of a dir other than those listed (driver dirs should be empty after failures).
pub fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}
