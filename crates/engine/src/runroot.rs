//! The runroot (`--runroot`, default /run/berth) holds volatile state only: bundles, pid
//! files, attach sockets, runtime state, netns bind mounts, locks. It is meant to live on a
//! tmpfs, as /run does on a systemd host, and to vanish at reboot.
//!
//! Some hosts (VM images among them) have /run on the root disk. Each `berth run` then makes
//! and deletes a dozen inodes there, and on ext4 without a journal every new inode scans past
//! all inodes deleted in the last minutes of that block group (`recently_deleted()` in
//! ext4's allocator): the longer the host has been busy, the slower each start. So when the
//! runroot is under /run (or /var/run) on a disk filesystem and holds no state yet, berth
//! mounts a tmpfs there, restoring what /run promises. A runroot elsewhere (a test's temp
//! dir, a user's choice) is left as it is.

use std::path::Path;

use nix::sys::statfs::{statfs, FsType, TMPFS_MAGIC};

/// ramfs (nix names no constant for it).
const RAMFS_MAGIC: FsType = FsType(0x8584_58f6);

fn on_memory_fs(p: &Path) -> bool {
    statfs(p).is_ok_and(|s| [TMPFS_MAGIC, RAMFS_MAGIC].contains(&s.filesystem_type()))
}

/// The runroot's caches (compiled seccomp filters): not state, dropped before a mount.
const CACHES: &[&str] = &["seccomp"];

/// True when the tree holds nothing but (empty) directories and caches: no state of an
/// earlier start would be hidden by a mount over it.
fn holds_no_state(dir: &Path, depth: u32, top: bool) -> bool {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return false;
    };
    for e in rd {
        let Ok(e) = e else { return false };
        if top && CACHES.iter().any(|c| e.file_name() == *c) {
            continue;
        }
        match e.file_type() {
            Ok(t) if t.is_dir() && depth > 0 => {
                if !holds_no_state(&e.path(), depth - 1, false) {
                    return false;
                }
            }
            _ => return false,
        }
    }
    true
}

/// Makes sure `runroot` exists and, where it belongs on a tmpfs (see the module doc), is one.
pub fn prepare(runroot: &Path) -> std::io::Result<()> {
    // The common case, one statfs: the runroot is there on a memory filesystem.
    if on_memory_fs(runroot) {
        return Ok(());
    }
    crate::perms::mkdir(runroot, crate::perms::RUNROOT)?;
    if !(runroot.starts_with("/run") || runroot.starts_with("/var/run")) || on_memory_fs(runroot) {
        return Ok(());
    }
    // One mounter at a time: the lock is on the disk directory under the mount point, so a
    // second berth that waited finds the tmpfs when it looks again.
    let dir = std::fs::File::open(runroot)?;
    let _locked = nix::fcntl::Flock::lock(dir, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| std::io::Error::from(e))?;
    if !on_memory_fs(runroot) && holds_no_state(runroot, 3, true) {
        for c in CACHES {
            let _ = std::fs::remove_dir_all(runroot.join(c));
        }
        // A failure (no CAP_SYS_ADMIN, say) leaves the runroot working as it is, only slower.
        let _ = nix::mount::mount(
            Some("tmpfs"),
            runroot,
            Some("tmpfs"),
            nix::mount::MsFlags::MS_NOSUID | nix::mount::MsFlags::MS_NODEV,
            // Root's only, as /run/docker (see perms).
            Some("mode=700"),
        );
    }
    Ok(())
}
