//! Binds a container's truthful /proc files (crates/procfs) over its `/proc` and
//! `/sys/devices/system/cpu/online`, in the init's own mount namespace before `pivot_root`.
//!
//! The caller (berth's monitor) made the FUSE connection and serves it, and hands the init a
//! created filesystem context (`procfs::fuse::Connection::context`). The init turns it into a
//! detached mount with `fsmount` (read-only, nosuid, nodev, noexec), clones each file out of
//! it with `open_tree(OPEN_TREE_CLONE)` and moves the clone onto its target, resolved inside
//! the rootfs with `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS)`. The FUSE mount itself is
//! never attached anywhere: nothing appears on the host, and the binds go away with the
//! container's mount namespace. A target that does not exist (no /sys mounted) is skipped.

use crate::{Error, Result};
use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

const FSMOUNT_CLOEXEC: u32 = 1;
const MOUNT_ATTR_RDONLY: u32 = 1;
const MOUNT_ATTR_NOSUID: u32 = 2;
const MOUNT_ATTR_NODEV: u32 = 4;
const MOUNT_ATTR_NOEXEC: u32 = 8;
const OPEN_TREE_CLONE: u32 = 1;
const MOVE_MOUNT_F_EMPTY_PATH: u32 = 4;
const MOVE_MOUNT_T_EMPTY_PATH: u32 = 0x40;

fn sys(what: &str, r: libc::c_long) -> Result<RawFd> {
    if r < 0 {
        Err(Error::other(format!(
            "procfs: {what}: {}",
            std::io::Error::last_os_error()
        )))
    } else {
        Ok(r as RawFd)
    }
}

fn owned(fd: RawFd) -> OwnedFd {
    // SAFETY: a fresh fd a syscall just returned to us.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Binds every file of the FUSE filesystem context `context` over its target under `rootfs`.
pub(crate) fn bind(rootfs: &Path, context: RawFd) -> Result<()> {
    let attrs = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
    // SAFETY: fsmount of a created filesystem context fd we were handed.
    let mnt = owned(sys("fsmount", unsafe {
        libc::syscall(libc::SYS_fsmount, context, FSMOUNT_CLOEXEC, attrs)
    })?);
    let root = nix::fcntl::open(
        rootfs,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| Error::other(format!("procfs: open rootfs: {e}")))?;
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_SYMLINKS);
    for f in procfs::render::File::ALL {
        let target = match openat2(&root, f.target().trim_start_matches('/'), how) {
            Ok(t) => t,
            Err(nix::errno::Errno::ENOENT) => continue,
            Err(e) => return Err(Error::other(format!("procfs: resolve {}: {e}", f.target()))),
        };
        let name = CString::new(f.name()).expect("no NUL in names");
        // SAFETY: open_tree on our detached mount fd with a NUL-terminated relative name.
        let tree = owned(sys(&format!("open_tree {}", f.name()), unsafe {
            libc::syscall(
                libc::SYS_open_tree,
                mnt.as_raw_fd(),
                name.as_ptr(),
                OPEN_TREE_CLONE | libc::O_CLOEXEC as u32,
            )
        })?);
        // SAFETY: move_mount between two fds we hold, both by their empty paths.
        sys(&format!("move_mount onto {}", f.target()), unsafe {
            libc::syscall(
                libc::SYS_move_mount,
                tree.as_raw_fd(),
                c"".as_ptr(),
                target.as_raw_fd(),
                c"".as_ptr(),
                MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
            )
        })?;
    }
    Ok(())
}

/// Installs the sysinfo(2) filter (`procfs::sysinfo`) on the init, which the user's program
/// inherits, and sends its listener over `sock` to the server of the container's files.
pub(crate) fn sysinfo_filter(sock: RawFd) -> Result<()> {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
    let listener = procfs::sysinfo::install_filter()
        .map_err(|e| Error::other(format!("procfs: sysinfo filter: {e}")))?;
    let fds = [listener.as_raw_fd()];
    let iov = [std::io::IoSlice::new(b"L")];
    sendmsg::<()>(
        sock,
        &iov,
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .map_err(|e| Error::other(format!("procfs: send the sysinfo listener: {e}")))?;
    Ok(())
}
