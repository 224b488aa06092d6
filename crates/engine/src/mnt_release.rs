//! Letting go of a stopped container's mount namespace off every waited-for path.
//!
//! The namespace holds the last reference to the container's overlay (the host's mount of it is
//! gone by then). Putting a durable overlay's superblock syncs its whole upper filesystem
//! (overlayfs' sync_fs on a non-`volatile` mount): ~100-200 ms on this VM's disk, more with
//! dirty data of other programs. The monitor holds the namespace past its reply (else the
//! sync would run in the exiting container init and delay the exit the monitor waits for);
//! but `stop`, `rm -f` and `wait` also wait for the monitor's own exit. So the last reference
//! goes to a child of the monitor that nobody waits for: it closes the namespace once the
//! monitor has closed its copy, pays the sync, and exits.
//!
//! Nothing visible is left meanwhile: the overlay is mounted in no namespace anyone can enter
//! through the store, the container's record, name and image reference are gone or final, and
//! the layer's directories are renamed away (spares get fresh diff/work inodes). Durability
//! does not depend on this sync: an `fsync` in the container reached the disk when it returned
//! (the layer is not volatile), the rest goes by the normal writeback.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};

/// A hold on a container's overlay rootfs as the host mounts it (`<root>/overlay2/<id>/merged`),
/// taken before it is unmounted: an O_PATH fd on the mount keeps its superblock, so the
/// unmount (made lazy by the busy mount) is cheap and the last put goes to
/// [`release_detached`]. For a monitor that lost the container's mount namespace (handed over
/// to `berth-monitor`, or the namespace could not be opened), the host's mount is the last
/// reference. None where nothing is mounted there (vfs, btrfs: no overlay to sync).
pub(crate) fn hold_rootfs(root: &std::path::Path, id: &str) -> Option<OwnedFd> {
    let merged = root.join("overlay2").join(id).join("merged");
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW)
        .open(&merged)
        .ok()?;
    // Only a mount root is worth holding (an unmounted dir holds nothing).
    let parent = std::fs::metadata(merged.parent()?).ok()?;
    let here = f.metadata().ok()?;
    (here.dev() != parent.dev()).then(|| f.into())
}

/// Drops `fds` (a container's `/proc/<pid>/ns/mnt`, a [`hold_rootfs`]) so that their final put,
/// and the sync that comes with it, happens in a detached child. Falls back to dropping them
/// here.
pub(crate) fn release_detached(fds: Vec<OwnedFd>) {
    if fds.is_empty() {
        return;
    }
    let mut p = [0; 2];
    // SAFETY: pipe2 fills two fds we then own.
    if unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return drop(fds);
    }
    // SAFETY: fresh fds from pipe2.
    let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(p[0]), OwnedFd::from_raw_fd(p[1])) };
    let r = rd.as_raw_fd();
    let mut keep: Vec<u32> = fds.iter().map(|f| f.as_raw_fd() as u32).collect();
    keep.push(r as u32);
    keep.sort_unstable();
    // SAFETY: the child calls only async-signal-safe functions (close_range, close, read,
    // _exit) on fds it inherited, so forking a process that may have had threads is fine.
    match unsafe { libc::fork() } {
        0 => unsafe {
            // Every other fd goes (client sockets, logs): nobody must wait on this child
            // through a copy of theirs. Then wait for the monitor's copies to be closed.
            let mut from = 0u32;
            for &k in &keep {
                if k > from {
                    libc::syscall(libc::SYS_close_range, from, k - 1, 0u32);
                }
                from = k + 1;
            }
            libc::syscall(libc::SYS_close_range, from, u32::MAX, 0u32);
            let mut b = 0u8;
            while libc::read(r, (&mut b as *mut u8).cast(), 1) < 0
                && *libc::__errno_location() == libc::EINTR
            {}
            for &k in &keep {
                libc::close(k as i32);
            }
            libc::_exit(0);
        },
        -1 => drop(fds),
        _ => {
            // Ours first, then the pipe's write end: the child's closes are the last puts.
            drop(fds);
            drop(wr);
            drop(rd);
        }
    }
}
