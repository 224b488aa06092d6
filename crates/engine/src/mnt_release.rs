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

use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Drops `ns` (a container's `/proc/<pid>/ns/mnt`) so that its final put, and the sync that
/// comes with it, happens in a detached child. Falls back to dropping it here.
pub(crate) fn release_detached(ns: File) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two fds we then own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return drop(ns);
    }
    // SAFETY: fresh fds from pipe2.
    let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let (n, r) = (ns.as_raw_fd(), rd.as_raw_fd());
    // SAFETY: the child calls only async-signal-safe functions (close_range, close, read,
    // _exit) on fds it inherited, so forking a process that may have had threads is fine.
    match unsafe { libc::fork() } {
        0 => unsafe {
            // Every other fd goes (client sockets, logs): nobody must wait on this child
            // through a copy of theirs. Then wait for the monitor's copy of `ns` to be closed.
            let (lo, hi) = (n.min(r) as u32, n.max(r) as u32);
            if lo > 0 {
                libc::syscall(libc::SYS_close_range, 0u32, lo - 1, 0u32);
            }
            if hi > lo + 1 {
                libc::syscall(libc::SYS_close_range, lo + 1, hi - 1, 0u32);
            }
            libc::syscall(libc::SYS_close_range, hi + 1, u32::MAX, 0u32);
            let mut b = 0u8;
            while libc::read(r, (&mut b as *mut u8).cast(), 1) < 0
                && *libc::__errno_location() == libc::EINTR
            {}
            libc::close(n);
            libc::_exit(0);
        },
        -1 => drop(ns),
        _ => {
            // Ours first, then the pipe's write end: the child's close is the last put.
            drop(ns);
            drop(wr);
            drop(rd);
        }
    }
}
