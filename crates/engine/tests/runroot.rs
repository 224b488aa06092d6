//! The runroot is volatile state: under /run on a disk filesystem berth mounts a tmpfs there
//! (once, and never over state it finds); elsewhere it leaves the directory as it is.

use std::path::Path;

fn fs_type(p: &Path) -> i64 {
    nix::sys::statfs::statfs(p).unwrap().filesystem_type().0
}

const TMPFS: i64 = 0x0102_1994;

fn mounts_at(p: &Path) -> usize {
    let p = p.to_str().unwrap();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.split(' ').nth(4) == Some(p))
        .count()
}

/// Unmounts whatever is at `p` and removes it, also when the test fails.
struct Cleanup<'a>(&'a Path);
impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        while mounts_at(self.0) > 0 {
            if nix::mount::umount2(self.0, nix::mount::MntFlags::MNT_DETACH).is_err() {
                break;
            }
        }
        let _ = std::fs::remove_dir_all(self.0);
    }
}

#[test]
fn runroot_under_run_becomes_a_tmpfs_once() {
    testutil::require_root();
    let run_is_tmpfs = fs_type(Path::new("/run")) == TMPFS;
    let rr = Path::new("/run").join(format!("berth-test-runroot-{}", std::process::id()));
    let _c = Cleanup(&rr);
    // Many berth processes at once: one mount, whoever makes it.
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let rr = rr.clone();
            std::thread::spawn(move || engine::runroot::prepare(&rr).unwrap())
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert!(rr.is_dir());
    assert_eq!(fs_type(&rr), TMPFS);
    // On a host whose /run is a tmpfs already, nothing is mounted.
    assert_eq!(mounts_at(&rr), usize::from(!run_is_tmpfs));
    // Again: nothing more.
    engine::runroot::prepare(&rr).unwrap();
    assert_eq!(mounts_at(&rr), usize::from(!run_is_tmpfs));
}

#[test]
fn runroot_with_state_is_not_hidden() {
    testutil::require_root();
    if fs_type(Path::new("/run")) == TMPFS {
        return; // nothing to decide on such a host
    }
    let rr = Path::new("/run").join(format!("berth-test-runroot-state-{}", std::process::id()));
    let _c = Cleanup(&rr);
    // A live container's state, left by a berth that ran before on the disk runroot.
    std::fs::create_dir_all(rr.join("containers/abc")).unwrap();
    std::fs::write(rr.join("containers/abc/monitor.pid"), "1").unwrap();
    // A cache does not count as state.
    std::fs::create_dir_all(rr.join("seccomp")).unwrap();
    std::fs::write(rr.join("seccomp/x.bpf"), "x").unwrap();
    engine::runroot::prepare(&rr).unwrap();
    assert_eq!(mounts_at(&rr), 0);
    assert!(rr.join("containers/abc/monitor.pid").exists());
    // Only caches and empty directories: mounted, and the cache dropped from the disk.
    std::fs::remove_file(rr.join("containers/abc/monitor.pid")).unwrap();
    engine::runroot::prepare(&rr).unwrap();
    assert_eq!(mounts_at(&rr), 1);
    assert_eq!(fs_type(&rr), TMPFS);
}

#[test]
fn runroot_elsewhere_is_left_alone() {
    testutil::require_root();
    let dir = tempfile::Builder::new()
        .prefix("berth-runroot-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let rr = dir.path().join("run");
    engine::runroot::prepare(&rr).unwrap();
    assert!(rr.is_dir());
    assert_eq!(mounts_at(&rr), 0);
}
