//! The relay of an `exec -t`'d process's pty (the master berth owns; the container holds only
//! the slave), window-size changes (SIGWINCH) and detaching.
//!
//! On detach the exec'd process must keep running: its pty master is handed to a small holder
//! process (forked here, in its own session) that drains and discards the output until the
//! last slave closes, as containerd's shim keeps an exec's pty after `docker exec -it` detached.

use crate::detach::EscapeProxy;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::OnceLock;

/// How a relay ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The pty closed: the process (and whatever shared its terminal) is done.
    Closed,
    /// The detach keys were typed.
    Detached,
}

static WINCH_W: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_winch(_: libc::c_int) {
    let fd = WINCH_W.load(Ordering::Relaxed);
    if fd >= 0 {
        let b = 0u8;
        // SAFETY: write(2) is async-signal-safe; one byte from the stack to our pipe.
        unsafe { libc::write(fd, (&b as *const u8).cast(), 1) };
    }
}

/// The read end of a pipe that gets a byte on every SIGWINCH of this process (the handler is
/// installed on first use; a handler, not a mask, so nothing leaks into children).
pub fn winch_fd() -> Option<RawFd> {
    static R: OnceLock<Option<RawFd>> = OnceLock::new();
    *R.get_or_init(|| {
        let mut fds = [0; 2];
        // SAFETY: pipe2 fills the array with two fds this process keeps for its lifetime.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
            return None;
        }
        WINCH_W.store(fds[1], Ordering::Relaxed);
        // SAFETY: installs an async-signal-safe handler (it only writes to a pipe).
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_winch as *const () as usize;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigaction(libc::SIGWINCH, &sa, std::ptr::null_mut());
        }
        Some(fds[0])
    })
}

/// Empties the SIGWINCH pipe (non-blocking); true if at least one signal came.
fn drain(fd: RawFd) -> bool {
    let mut buf = [0u8; 64];
    let mut any = false;
    // SAFETY: reading into a stack buffer from our non-blocking pipe.
    while unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) } > 0 {
        any = true;
    }
    any
}

/// Blocks until the next SIGWINCH (coalesced).
pub fn wait_winch(fd: RawFd) {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        // SAFETY: poll on one pollfd.
        let r = unsafe { libc::poll(&mut p, 1, -1) };
        if r > 0 && drain(fd) {
            return;
        }
    }
}

/// The window size of the terminal on `fd` (rows, cols).
pub fn window_size(fd: RawFd) -> Option<(u16, u16)> {
    // SAFETY: TIOCGWINSZ fills a zeroed winsize.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: see above.
    let r = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) };
    (r == 0 && ws.ws_row > 0).then_some((ws.ws_row, ws.ws_col))
}

/// Our terminal's size: stdin's, else stdout's (Docker's CLI asks its output stream).
pub fn our_window_size() -> Option<(u16, u16)> {
    window_size(1).or_else(|| window_size(0))
}

fn set_size(master: RawFd, (rows, cols): (u16, u16)) {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ on our pty master with a valid winsize.
    unsafe { libc::ioctl(master, libc::TIOCSWINSZ, &ws) };
}

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

/// Relays our stdin (with `stdin`) to the pty and the pty to our stdout, and our window size
/// to the pty on SIGWINCH, until the pty closes or `detach_keys` are typed. On detach the
/// master goes to a holder process, so the process keeps its terminal.
pub fn relay(master: OwnedFd, stdin: bool, detach_keys: &[u8]) -> Outcome {
    let m = master.as_raw_fd();
    // Detach signal from the stdin thread.
    let mut dp = [0; 2];
    // SAFETY: pipe2 fills the array; both ends are owned below.
    let detach = if unsafe { libc::pipe2(dp.as_mut_ptr(), libc::O_CLOEXEC) } == 0 {
        // SAFETY: fresh fds from pipe2.
        Some(unsafe { (OwnedFd::from_raw_fd(dp[0]), OwnedFd::from_raw_fd(dp[1])) })
    } else {
        None
    };
    let detach_r = detach.as_ref().map_or(-1, |d| d.0.as_raw_fd());
    if stdin {
        if let (Ok(w), Some(dw)) = (
            master.try_clone(),
            detach.as_ref().and_then(|d| d.1.try_clone().ok()),
        ) {
            let keys = detach_keys.to_vec();
            // A thread: our stdin may be a terminal that must stay blocking for the caller.
            // Left blocked in read when the process ends first (the CLI exits then).
            std::thread::spawn(move || stdin_loop(w, dw, &keys));
        }
    }
    let winch = winch_fd().unwrap_or(-1);
    let mut buf = vec![0u8; 16384];
    loop {
        let mut fds = [
            libc::pollfd {
                fd: m,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: detach_r,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: winch,
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
            return Outcome::Closed;
        }
        if fds[2].revents != 0 && drain(winch) {
            if let Some(ws) = our_window_size() {
                set_size(m, ws);
            }
        }
        if fds[0].revents != 0 {
            // SAFETY: reading into a live buffer of the given length.
            let n = unsafe { libc::read(m, buf.as_mut_ptr().cast(), buf.len()) };
            if n < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            // EIO: the last slave closed.
            if n <= 0 {
                return Outcome::Closed;
            }
            let _ = write_all(1, &buf[..n as usize]);
        }
        if fds[1].revents != 0 {
            hand_to_holder(master);
            return Outcome::Detached;
        }
    }
}

fn stdin_loop(master: OwnedFd, detached: OwnedFd, keys: &[u8]) {
    let mut proxy = EscapeProxy::new(keys);
    let mut buf = [0u8; 4096];
    let mut out = Vec::with_capacity(4096);
    loop {
        // SAFETY: reading our fd 0 into a live buffer.
        let n = unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        if n <= 0 {
            return;
        }
        out.clear();
        let done = proxy.feed(&buf[..n as usize], &mut out);
        if !out.is_empty() && !write_all(master.as_raw_fd(), &out) {
            return;
        }
        if done {
            let _ = write_all(detached.as_raw_fd(), b"d");
            return;
        }
    }
}

/// Forks a holder that keeps `master` open (draining it) until the process's terminal closes,
/// then exits. It is reparented to init when we exit.
fn hand_to_holder(master: OwnedFd) {
    let m = master.as_raw_fd();
    // The holder must not die of the SIGHUP our session's terminal may send when we exit
    // (we may be a session leader): blocked across the fork, ignored in the child before
    // it leaves our session.
    // SAFETY: sigset operations on local sets; pthread_sigmask on this thread.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: see above.
    unsafe {
        let mut hup: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut hup);
        libc::sigaddset(&mut hup, libc::SIGHUP);
        libc::pthread_sigmask(libc::SIG_BLOCK, &hup, &mut old);
    }
    // SAFETY: fork of a (possibly multi-threaded) process: the child only makes raw syscalls
    // (no allocation, no locks) and ends with _exit.
    let pid = unsafe { libc::fork() };
    if pid != 0 {
        // Parent (or fork failed: the process then gets a hangup when we exit).
        // SAFETY: restores this thread's mask saved above.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
        return;
    }
    // SAFETY: plain syscalls on our own fds and a stack buffer; see above.
    unsafe {
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
        libc::setsid();
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        // Keep only the master: our stdio (the caller's terminal) must not stay open.
        let keep = libc::dup2(m, 3);
        if keep == 3 {
            libc::syscall(libc::SYS_close_range, 0u32, 2u32, 0u32);
            libc::syscall(libc::SYS_close_range, 4u32, u32::MAX, 0u32);
        }
        let mut buf = [0u8; 4096];
        loop {
            let n = libc::read(3, buf.as_mut_ptr().cast(), buf.len());
            if n < 0 && *libc::__errno_location() == libc::EINTR {
                continue;
            }
            if n <= 0 {
                break;
            }
        }
        libc::_exit(0);
    }
}
