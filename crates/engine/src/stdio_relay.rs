//! The stdio of an `exec`'d process: pipes this process owns and relays to its own fds 0-2.
//!
//! Handing the caller's fds to the process (as berth once did) gives the container the
//! caller's files: a process in the container reopened `/proc/self/fd/0` of an exec and wrote
//! to the host file that was only redirected as stdin (`berth exec c cmd < file`). Docker and
//! runc's callers pass pipes; so does this. Semantics kept: stdin EOF reaches the process, the
//! process's exit code is the caller's, each stream keeps its order, output written before
//! the process exits is all delivered (a background child still holding the pipes does not
//! keep `exec` waiting).

use crate::{Error, Result};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two fds we then own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(Error::io("pipe")(std::io::Error::last_os_error()));
    }
    // SAFETY: fresh fds from pipe2.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn dev_null() -> Result<OwnedFd> {
    // SAFETY: open of a constant path; the fd is ours.
    let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(Error::io("/dev/null")(std::io::Error::last_os_error()));
    }
    // SAFETY: fresh fd from open.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The process's fds 0-2 and our ends of them.
pub struct ExecIo {
    child: [OwnedFd; 3],
    relay: Option<Relay>,
}

pub struct Relay {
    stdin: Option<OwnedFd>,
    out: Option<OwnedFd>,
    err: Option<OwnedFd>,
}

impl ExecIo {
    /// With a tty the pty replaces 0-2 (/dev/null until then); detached, the process gets
    /// /dev/null; otherwise pipes, stdin one only with `-i` (else /dev/null, as Docker).
    pub fn new(tty: bool, stdin: bool, detach: bool) -> Result<ExecIo> {
        let null = dev_null()?;
        let dup = |fd: &OwnedFd| fd.try_clone().map_err(Error::io("dup"));
        if tty || detach {
            return Ok(ExecIo {
                child: [dup(&null)?, dup(&null)?, null],
                relay: None,
            });
        }
        let (inr, inw) = if stdin {
            let (r, w) = pipe()?;
            (r, Some(w))
        } else {
            (null, None)
        };
        let (outr, outw) = pipe()?;
        let (errr, errw) = pipe()?;
        Ok(ExecIo {
            child: [inr, outw, errw],
            relay: Some(Relay {
                stdin: inw,
                out: Some(outr),
                err: Some(errr),
            }),
        })
    }

    pub fn child_fds(&self) -> [RawFd; 3] {
        [0, 1, 2].map(|i| self.child[i].as_raw_fd())
    }

    /// Closes the process's ends (it has its copies) and returns ours.
    pub fn into_relay(self) -> Option<Relay> {
        self.relay
    }
}

/// write(2) all of `buf` to `fd`; false when the reader is gone or the write failed.
fn write_all(fd: RawFd, mut buf: &[u8]) -> bool {
    while !buf.is_empty() {
        // SAFETY: writing from a live buffer of the given length.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if n < 0 {
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return false;
        }
        buf = &buf[n as usize..];
    }
    true
}

/// One read from `from` copied to `to`. Returns false when `from` is done (EOF, error, or
/// `to` no longer takes data: then the process gets EPIPE/SIGPIPE on its next write, as it
/// would have on our fd).
fn pump(from: &OwnedFd, to: RawFd, buf: &mut [u8]) -> bool {
    loop {
        // SAFETY: reading into a live buffer of the given length.
        let n = unsafe { libc::read(from.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            match std::io::Error::last_os_error().raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EAGAIN) => return true,
                _ => return false,
            }
        }
        return n > 0 && write_all(to, &buf[..n as usize]);
    }
}

impl Relay {
    /// Our ends: the process's stdin (write), stdout and stderr (read), for a relay to
    /// something else than our own fds (the API server's streams).
    pub fn into_fds(self) -> [Option<OwnedFd>; 3] {
        [self.stdin, self.out, self.err]
    }

    /// Relays until the process `pid` exited and what it wrote is delivered (or both its
    /// output pipes closed). Does not reap it.
    pub fn run(mut self, pid: i32) {
        if let Some(w) = self.stdin.take() {
            // A thread: our stdin may be a terminal or a file, which must not be made
            // non-blocking under the caller. Left blocked in read if the process ends first.
            std::thread::spawn(move || {
                let mut buf = [0u8; 16384];
                loop {
                    // SAFETY: reading our fd 0 into a live buffer.
                    let n = unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) };
                    if n < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR)
                    {
                        continue;
                    }
                    if n <= 0 || !write_all(w.as_raw_fd(), &buf[..n as usize]) {
                        break;
                    }
                }
                // Dropping `w` is the process's stdin EOF.
            });
        }
        // SAFETY: pidfd_open of our own child; the fd is ours (or -1 on old kernels, then we
        // relay until both pipes close).
        let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        // SAFETY: fresh fd from pidfd_open.
        let pidfd = (pidfd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(pidfd as RawFd) });
        let mut buf = vec![0u8; 65536];
        let raw = |f: &Option<OwnedFd>| f.as_ref().map_or(-1, |f| f.as_raw_fd());
        while self.out.is_some() || self.err.is_some() {
            let mut fds = [
                libc::pollfd {
                    fd: raw(&self.out),
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: raw(&self.err),
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: raw(&pidfd),
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            // SAFETY: poll on three pollfds (negative fds are ignored).
            let r = unsafe { libc::poll(fds.as_mut_ptr(), 3, -1) };
            if r < 0 {
                if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                break;
            }
            for (i, target) in [(0, 1), (1, 2)] {
                if fds[i].revents == 0 {
                    continue;
                }
                let slot = if i == 0 { &mut self.out } else { &mut self.err };
                if let Some(f) = slot.as_ref() {
                    if !pump(f, target, &mut buf) {
                        *slot = None;
                    }
                }
            }
            if fds[2].revents != 0 {
                // Exited: deliver what is left in the pipes, then stop.
                for (slot, target) in [(&mut self.out, 1), (&mut self.err, 2)] {
                    if let Some(f) = slot.take() {
                        // SAFETY: fcntl on our pipe end.
                        unsafe { libc::fcntl(f.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) };
                        while pump_more(&f, target, &mut buf) {}
                    }
                }
            }
        }
    }
}

/// Like [`pump`], false also once the pipe is empty (non-blocking).
fn pump_more(from: &OwnedFd, to: RawFd, buf: &mut [u8]) -> bool {
    loop {
        // SAFETY: reading into a live buffer of the given length.
        let n = unsafe { libc::read(from.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        return n > 0 && write_all(to, &buf[..n as usize]);
    }
}
