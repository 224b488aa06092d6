//! The stdio relay of a running container's monitor: output (pipes or the pty master) to the
//! json-file log and the attached clients, new clients from the attach listener, stdin and
//! resizes from them to the container, the init's exit from its pidfd, the healthcheck's
//! probes when due (health/sched.rs).
//!
//! One loop for both forms of the monitor: the full monitor (monitor.rs, for a short grace
//! after the start and when no idle binary is installed) and the idle `berth-monitor`
//! (shim.rs). Like shim.rs this file is compiled twice, into the engine and (by `#[path]`)
//! into the `berth-monitor` binary, so it uses std and libc only.

use crate::health::sched::Sched;
use crate::shim::{read_frame, write_frame, Log, HELLO, RESIZE, STDERR, STDIN, STDIN_EOF, STDOUT};
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Instant;

/// An attach/wait client of the monitor. Until its HELLO it receives nothing.
pub struct Client {
    pub sock: File,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub hello: bool,
}

impl Client {
    /// A client just accepted (streams chosen by its HELLO).
    pub fn new(sock: File) -> Client {
        Client {
            sock,
            stdin: false,
            stdout: false,
            stderr: false,
            hello: false,
        }
    }
}

/// The monitor's ends of the container's stdio.
#[derive(Default)]
pub struct Io {
    /// stdout (or the pty master), stderr (None with a tty).
    pub out: Option<OwnedFd>,
    pub err: Option<OwnedFd>,
    pub stdin: Option<File>,
    /// The pty master (for resizes and ^D), with a tty.
    pub master: Option<OwnedFd>,
    /// The container's /proc files and sysinfo(2), when it has them.
    pub procfs: Option<Procfs>,
}

/// The server of a container's /proc files (crates/procfs; see procfs_serve.rs): its FUSE
/// connection and, once the init sent it, the listener of its sysinfo(2) filter. Requests are
/// answered between the other work of the loop, one per wakeup and source.
pub struct Procfs {
    pub fuse: OwnedFd,
    pub server: procfs::fuse::Server,
    pub sysinfo: Option<procfs::sysinfo::Notifier>,
}

impl Procfs {
    fn fds(&self) -> [RawFd; 2] {
        [
            self.fuse.as_raw_fd(),
            self.sysinfo.as_ref().map_or(-1, |n| n.listener.as_raw_fd()),
        ]
    }

    /// Answers what `revents` (of [`Procfs::fds`]) say is waiting. False once the
    /// filesystem is gone (the container's mount namespace ended).
    fn serve(&mut self, revents: [i16; 2], buf: &mut [u8]) -> bool {
        use procfs::fuse::Handled;
        if revents[1] != 0 {
            if let Some(n) = &self.sysinfo {
                if n.handle(self.server.renderer()) == Handled::Gone {
                    self.sysinfo = None;
                }
            }
        }
        revents[0] == 0 || self.server.handle(self.fuse.as_raw_fd(), buf) != Handled::Gone
    }
}

/// What the loop does while nothing happens.
pub enum Idle<'a> {
    /// Waits for as long as it takes.
    Never,
    /// Returns None at this time if the init still runs (the full monitor then hands over to
    /// `berth-monitor`).
    Until(Instant),
    /// Calls this after the given milliseconds without work (the idle monitor gives back the
    /// memory its last work used; see shim.rs's `Shrink`).
    Quiet(i32, &'a dyn Fn(&mut Vec<u8>)),
}

/// The container's healthcheck (health/sched.rs): its timer and how to start a probe.
pub struct Probes<'a> {
    pub sched: &'a mut Sched,
    pub spawn: &'a dyn Fn(&mut Sched),
}

/// Docker's exit code of a wait status: the code, or 128 + the signal.
pub fn exit_code(st: libc::c_int) -> i32 {
    if libc::WIFEXITED(st) {
        libc::WEXITSTATUS(st)
    } else if libc::WIFSIGNALED(st) {
        128 + libc::WTERMSIG(st)
    } else {
        255
    }
}

/// Reaps zombie children other than `init` (orphans reparented to us, the subreaper), without
/// touching the init's status (WNOWAIT peeks first): a plain waitpid(-1) could reap the init
/// itself if it became waitable meanwhile, and lose its exit status.
pub fn reap_orphans(init: i32) {
    loop {
        // SAFETY: a zeroed siginfo_t is a valid out-parameter for waitid.
        let mut si: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waitid on our children, non-blocking, without reaping.
        let r = unsafe {
            libc::waitid(
                libc::P_ALL,
                0,
                &mut si,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        // SAFETY: si_pid is valid after a successful waitid (0 when none was waitable).
        let pid = unsafe { si.si_pid() };
        if r != 0 || pid <= 0 || pid == init {
            return;
        }
        // SAFETY: reaping that zombie child by pid.
        unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG) };
    }
}

/// Relays until the init (`pid`, our child, polled through `pidfd`) exited and its output is
/// drained; returns its exit code. None only with [`Idle::Until`], when that time came first
/// (nothing is lost: no frame or line is half-read between calls, partial log lines stay in
/// `log`).
/// `listener` (non-blocking) stays open; the fds of `io` that reached EOF are closed.
/// With `probes`, the healthcheck's probes are started when due and their ends awaited.
#[allow(clippy::too_many_arguments)] // the loop's whole state, owned by two different callers
pub fn serve(
    pid: i32,
    pidfd: Option<RawFd>,
    io: &mut Io,
    listener: RawFd,
    clients: &mut Vec<Client>,
    log: &mut Log,
    idle: Idle,
    mut probes: Option<Probes>,
) -> Option<i32> {
    let mut exited: Option<i32> = None;
    let mut buf = vec![0u8; 32 * 1024];
    let mut fds: Vec<libc::pollfd> = Vec::with_capacity(16);
    // Set after any work (with Idle::Quiet): once quiet long enough, `Quiet`'s call.
    let mut busy = false;
    if let Idle::Quiet(_, quiet) = &idle {
        quiet(&mut buf);
    }
    let pfd = |fd: RawFd| libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        if exited.is_some() && io.out.is_none() && io.err.is_none() {
            break;
        }
        let left = match idle {
            Idle::Until(d) => Some(d.saturating_duration_since(Instant::now())),
            _ => None,
        };
        if exited.is_none() && left.is_some_and(|l| l.is_zero()) {
            return None;
        }
        fds.clear();
        fds.push(pfd(io.out.as_ref().map_or(-1, |f| f.as_raw_fd())));
        fds.push(pfd(io.err.as_ref().map_or(-1, |f| f.as_raw_fd())));
        fds.push(pfd(match (pidfd, exited) {
            (Some(p), None) => p,
            _ => -1,
        }));
        fds.push(pfd(listener));
        fds.push(pfd(probes.as_ref().map_or(-1, |p| p.sched.poll_fd())));
        let pf = io.procfs.as_ref().map_or([-1, -1], |p| p.fds());
        fds.extend(pf.map(pfd));
        fds.extend(clients.iter().map(|c| pfd(c.sock.as_raw_fd())));
        // After the init exited, remaining output is drained without blocking on writers that
        // outlive it (daemons in a --pid host container).
        let timeout = match (exited, left, &idle) {
            (Some(_), _, _) => 0,
            // Rounded up: waking a little late is fine, spinning on 0 ms is not.
            (None, Some(l), _) => l.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32,
            (None, None, Idle::Quiet(ms, _)) if busy => *ms,
            (None, None, _) => -1,
        };
        let timeout = match (&probes, exited) {
            (Some(p), None) => p.sched.min_timeout(timeout),
            _ => timeout,
        };
        // SAFETY: poll over a vector of valid pollfds.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
        if n < 0 {
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            break;
        }
        if n == 0 && exited.is_some() {
            break;
        }
        if let Some(p) = probes.as_mut() {
            if exited.is_none() && p.sched.due() {
                (p.spawn)(p.sched);
                if n == 0 {
                    continue;
                }
            }
            if fds[4].revents != 0 && p.sched.poll_fd() >= 0 && p.sched.on_readable() {
                // A probe's work is over: what it used goes back at once (with probes more
                // often than the quiet time, that time would never come).
                if let Idle::Quiet(_, quiet) = &idle {
                    quiet(&mut buf);
                    busy = false;
                }
                if n == 1 {
                    continue;
                }
            }
        }
        if n == 0 {
            if let Idle::Quiet(_, quiet) = &idle {
                quiet(&mut buf);
                busy = false;
            }
            continue;
        }
        busy = true;
        for (i, slot) in [(0usize, &mut io.out), (1, &mut io.err)] {
            if fds[i].revents == 0 {
                continue;
            }
            let Some(f) = slot.as_ref() else { continue };
            // SAFETY: read into our buffer from an fd we own.
            let r = unsafe { libc::read(f.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if r <= 0 {
                if r < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                *slot = None;
                continue;
            }
            let data = &buf[..r as usize];
            log.write(i, data);
            let kind = if i == 0 { STDOUT } else { STDERR };
            clients.retain_mut(|cl| {
                if !cl.hello || (kind == STDOUT && !cl.stdout) || (kind == STDERR && !cl.stderr) {
                    return true;
                }
                write_frame(&mut cl.sock, kind, data).is_ok()
            });
        }
        if fds[2].revents != 0 && exited.is_none() {
            let mut st = 0;
            // SAFETY: reaping our own child (the init).
            let r = unsafe { libc::waitpid(pid, &mut st, libc::WNOHANG) };
            if r == pid {
                exited = Some(exit_code(st));
                // Make further reads non-blocking for the drain.
                for f in [&io.out, &io.err].into_iter().flatten() {
                    // SAFETY: fcntl on an fd we own.
                    unsafe {
                        let fl = libc::fcntl(f.as_raw_fd(), libc::F_GETFL);
                        libc::fcntl(f.as_raw_fd(), libc::F_SETFL, fl | libc::O_NONBLOCK);
                    }
                }
            }
        }
        // Orphans reparented to us (e.g. `--pid host` daemons) are reaped on every wakeup.
        reap_orphans(if exited.is_some() { 0 } else { pid });
        if fds[3].revents != 0 {
            loop {
                // SAFETY: accept4 on our listener; the new fd is owned right below.
                let s = unsafe {
                    libc::accept4(
                        listener,
                        std::ptr::null_mut(),
                        std::ptr::null_mut(),
                        libc::SOCK_CLOEXEC,
                    )
                };
                if s < 0 {
                    break;
                }
                // SAFETY: a fresh fd from accept4 (blocking: accept4 without SOCK_NONBLOCK).
                clients.push(Client::new(unsafe { File::from_raw_fd(s) }));
            }
        }
        if let Some(p) = io.procfs.as_mut() {
            if !p.serve([fds[5].revents, fds[6].revents], &mut buf) {
                io.procfs = None;
            }
        }
        let mut drop_idx = Vec::new();
        for (k, cl) in clients.iter_mut().enumerate() {
            let Some(p) = fds.get(7 + k) else { break };
            if p.revents == 0 {
                continue;
            }
            match read_frame(&mut cl.sock) {
                Ok(Some((HELLO, d))) => {
                    cl.hello = true;
                    cl.stdin = d.first() == Some(&1);
                    cl.stdout = d.get(1) == Some(&1);
                    cl.stderr = d.get(2) == Some(&1);
                }
                Ok(Some((STDIN, d))) if cl.stdin => {
                    if let Some(w) = io.stdin.as_mut() {
                        if w.write_all(&d).is_err() {
                            io.stdin = None;
                        }
                    }
                }
                Ok(Some((STDIN_EOF, _))) if cl.stdin => {
                    // With a tty, EOF is the terminal's ^D; pipes are closed.
                    if io.master.is_some() {
                        if let Some(w) = io.stdin.as_mut() {
                            let _ = w.write_all(&[4]);
                        }
                    } else {
                        io.stdin = None;
                    }
                }
                Ok(Some((RESIZE, d))) if d.len() == 4 => {
                    if let Some(m) = &io.master {
                        let ws = libc::winsize {
                            ws_row: u16::from_be_bytes([d[0], d[1]]),
                            ws_col: u16::from_be_bytes([d[2], d[3]]),
                            ws_xpixel: 0,
                            ws_ypixel: 0,
                        };
                        // SAFETY: TIOCSWINSZ on the pty master with a valid winsize.
                        unsafe { libc::ioctl(m.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => drop_idx.push(k),
            }
        }
        for k in drop_idx.into_iter().rev() {
            clients.remove(k);
        }
    }
    Some(exited.unwrap_or(255))
}
