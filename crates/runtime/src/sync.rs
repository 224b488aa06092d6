//! Parent/child synchronisation over a SOCK_SEQPACKET socketpair: one message per packet, a tag
//! byte plus an optional payload. Blocking reads are the only waiting on the create path.

use crate::{Error, Result};
use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
use std::os::fd::{AsRawFd, OwnedFd};

/// parent -> child: namespaces mapped and cgroup joined, carry on.
pub const GO: u8 = b'G';
/// child -> parent: mounts are done, run prestart/createRuntime hooks.
pub const HOOKS: u8 = b'H';
/// parent -> child: hooks done.
pub const HOOKS_DONE: u8 = b'h';
/// child -> parent: the container is created and waits for start.
pub const READY: u8 = b'R';
/// child -> parent: setup failed; payload is the message.
pub const ERROR: u8 = b'E';
/// caller -> stage 1 of a sealed init (see init_stage): cgroup joined, go on.
pub const STAGE_GO: u8 = b'S';
/// exec stage -> caller: the host pid (i32, native endian) of the process it forked.
pub const PID: u8 = b'P';
/// child -> parent: the seccomp notify fd (SCM_RIGHTS) of the filter the init loaded, for the
/// runtime to hand to the spec's `listenerPath` (see seccomp_notify).
pub const SECCOMP_FD: u8 = b'N';

/// A received message: tag, payload and the fd it carried, if any.
pub type Message = (u8, Vec<u8>, Option<OwnedFd>);

pub struct SyncPipe {
    fd: OwnedFd,
}

pub fn pair() -> Result<(SyncPipe, SyncPipe)> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|e| Error::Sys {
        context: "socketpair".into(),
        source: e,
    })?;
    Ok((SyncPipe { fd: a }, SyncPipe { fd: b }))
}

impl SyncPipe {
    pub fn from_fd(fd: OwnedFd) -> SyncPipe {
        SyncPipe { fd }
    }

    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }

    pub fn send(&self, tag: u8, payload: &[u8]) -> Result<()> {
        let mut buf = Vec::with_capacity(1 + payload.len());
        buf.push(tag);
        buf.extend_from_slice(payload);
        // SAFETY: writing an owned buffer to an fd we own.
        let n = unsafe { libc::write(self.fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) };
        if n < 0 {
            return Err(std::io::Error::last_os_error().into());
        }
        Ok(())
    }

    /// Receives one message; `None` when the other side closed (exited).
    pub fn recv(&self) -> Result<Option<(u8, Vec<u8>)>> {
        let mut buf = vec![0u8; 65536];
        loop {
            // SAFETY: reading into an owned buffer of the given length.
            let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                if e.raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                return Err(e.into());
            }
            if n == 0 {
                return Ok(None);
            }
            buf.truncate(n as usize);
            let tag = buf.remove(0);
            return Ok(Some((tag, buf)));
        }
    }

    /// Sends one message carrying `fd` (SCM_RIGHTS) with it.
    pub fn send_fd(&self, tag: u8, fd: std::os::fd::BorrowedFd) -> Result<()> {
        use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
        let fds = [fd.as_raw_fd()];
        let iov = [std::io::IoSlice::new(std::slice::from_ref(&tag))];
        sendmsg::<()>(
            self.fd.as_raw_fd(),
            &iov,
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::empty(),
            None,
        )
        .map_err(|e| Error::Sys {
            context: "send an fd over the sync socket".into(),
            source: e,
        })?;
        Ok(())
    }

    /// Like [`SyncPipe::recv`], also returning an fd the message carried (close-on-exec).
    pub fn recv_with_fd(&self) -> Result<Option<Message>> {
        use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
        use std::os::fd::FromRawFd;
        let mut buf = vec![0u8; 65536];
        let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        loop {
            let mut iov = [std::io::IoSliceMut::new(&mut buf)];
            let msg = match recvmsg::<()>(
                self.fd.as_raw_fd(),
                &mut iov,
                Some(&mut space),
                MsgFlags::MSG_CMSG_CLOEXEC,
            ) {
                Err(nix::Error::EINTR) => continue,
                Err(e) => {
                    return Err(Error::Sys {
                        context: "receive on the sync socket".into(),
                        source: e,
                    })
                }
                Ok(m) => m,
            };
            let mut fd = None;
            for c in msg.cmsgs().into_iter().flatten() {
                if let ControlMessageOwned::ScmRights(fds) = c {
                    for f in fds {
                        // SAFETY: the kernel just installed this fd in our table; ours now
                        // (extra ones are closed when dropped).
                        let owned = unsafe { OwnedFd::from_raw_fd(f) };
                        fd.get_or_insert(owned);
                    }
                }
            }
            let n = msg.bytes;
            if n == 0 {
                return Ok(None);
            }
            let mut data = buf[..n].to_vec();
            let tag = data.remove(0);
            return Ok(Some((tag, data, fd)));
        }
    }

    /// Waits for `want`; an ERROR message or a closed socket becomes an error.
    pub fn expect(&self, want: u8) -> Result<()> {
        match self.recv()? {
            Some((t, _)) if t == want => Ok(()),
            Some((ERROR, msg)) => Err(Error::Other(String::from_utf8_lossy(&msg).into_owned())),
            Some((t, _)) => Err(Error::other(format!(
                "sync: expected {:?}, got {:?}",
                want as char, t as char
            ))),
            None => Err(Error::other("container init exited before it was ready")),
        }
    }
}
