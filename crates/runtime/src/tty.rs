//! Console: a pty allocated inside the container (from its own devpts) whose master is sent to
//! the caller over `--console-socket` with SCM_RIGHTS, as runc does; the slave becomes stdio.

use crate::{Error, Result, SysContext};
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use std::io::IoSlice;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

/// Connects to the caller's console socket (done by the runtime before the init is cloned, so
/// the path resolves on the host).
pub fn connect(path: &Path) -> Result<UnixStream> {
    UnixStream::connect(path)
        .map_err(|e| Error::other(format!("console socket {}: {e}", path.display())))
}

/// Opens a new pty master/slave pair from the current /dev/ptmx.
pub fn open_pty() -> Result<(OwnedFd, OwnedFd)> {
    use nix::fcntl::OFlag;
    use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};
    let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .ctx(|| "open /dev/ptmx".into())?;
    grantpt(&master).ctx(|| "grantpt".into())?;
    unlockpt(&master).ctx(|| "unlockpt".into())?;
    let name = ptsname_r(&master).ctx(|| "ptsname".into())?;
    let slave = nix::fcntl::open(
        name.as_str(),
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .ctx(|| format!("open {name}"))?;
    // SAFETY: the master fd was just returned by posix_openpt and is owned by `master`.
    let master =
        unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(master_into_raw(master)) };
    Ok((master, slave))
}

fn master_into_raw(m: nix::pty::PtyMaster) -> RawFd {
    use std::os::fd::IntoRawFd;
    m.into_raw_fd()
}

/// Sets the pty's window size (rows, cols); best effort.
pub fn set_size(master: &OwnedFd, rows: u64, cols: u64) {
    let ws = libc::winsize {
        ws_row: rows.min(u16::MAX as u64) as u16,
        ws_col: cols.min(u16::MAX as u64) as u16,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ on a pty master fd we own, with a valid winsize.
    unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
}

/// Sends the master to the console socket (the name is the pty path, like runc).
pub fn send_master(sock: &UnixStream, master: &OwnedFd) -> Result<()> {
    let fds = [master.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let name = b"/dev/ptmx";
    sendmsg::<()>(
        sock.as_raw_fd(),
        &[IoSlice::new(name)],
        &cmsg,
        MsgFlags::empty(),
        None,
    )
    .ctx(|| "send pty master over console socket".into())?;
    Ok(())
}

/// Makes `slave` the controlling terminal and stdin/stdout/stderr of this process.
pub fn become_console(slave: &OwnedFd) -> Result<()> {
    let fd = slave.as_raw_fd();
    nix::unistd::setsid().ctx(|| "setsid".into())?;
    // SAFETY: TIOCSCTTY on a pty slave fd we own; dup2 onto the standard fds.
    unsafe {
        if libc::ioctl(fd, libc::TIOCSCTTY, 0) < 0 {
            return Err(std::io::Error::last_os_error().into());
        }
        for target in 0..3 {
            if libc::dup2(fd, target) < 0 {
                return Err(std::io::Error::last_os_error().into());
            }
        }
    }
    Ok(())
}
