//! An attached session's terminal, signals and exit code (shared by `run`, `start -a`,
//! `attach` and `exec`).

use super::{open_engine, run_failure};
use crate::{CmdResult, Failure, Global};
use engine::Engine;
use std::io::{IsTerminal, Read};

/// Restores the terminal's settings on drop.
pub struct TermGuard {
    saved: libc::termios,
}

impl TermGuard {
    fn modify(f: impl FnOnce(&mut libc::termios)) -> Option<TermGuard> {
        // SAFETY: tcgetattr fills the zeroed termios for fd 0; failure is checked.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: see above.
        if unsafe { libc::tcgetattr(0, &mut t) } != 0 {
            return None;
        }
        let saved = t;
        f(&mut t);
        // SAFETY: t is a valid termios from tcgetattr.
        if unsafe { libc::tcsetattr(0, libc::TCSANOW, &t) } != 0 {
            return None;
        }
        Some(TermGuard { saved })
    }
    /// Raw mode for `-t` sessions: keys go to the container unprocessed.
    pub fn raw() -> Option<TermGuard> {
        // SAFETY: cfmakeraw only edits the struct.
        Self::modify(|t| unsafe { libc::cfmakeraw(t) })
    }
    /// No echo (password prompts).
    pub fn no_echo() -> Option<TermGuard> {
        Self::modify(|t| t.c_lflag &= !libc::ECHO)
    }
}

impl Drop for TermGuard {
    fn drop(&mut self) {
        // SAFETY: restores the settings read in `modify`.
        unsafe { libc::tcsetattr(0, libc::TCSANOW, &self.saved) };
    }
}

pub(super) fn window_size() -> Option<(u16, u16)> {
    engine::pty_relay::our_window_size()
}

static SIG_PIPE_W: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

extern "C" fn on_signal(sig: libc::c_int) {
    let fd = SIG_PIPE_W.load(std::sync::atomic::Ordering::Relaxed);
    if fd >= 0 {
        let b = sig as u8;
        // SAFETY: write(2) is async-signal-safe; the buffer is one byte on the stack.
        unsafe { libc::write(fd, &b as *const u8 as *const libc::c_void, 1) };
    }
}

/// `--sig-proxy`: the signals the CLI receives are sent to the container (Docker's set minus
/// the ones that concern the CLI's own terminal). A handler (not a blocked mask) is used so
/// nothing leaks into processes the engine starts: handlers reset to default on exec.
pub(super) fn proxy_signals(g: &Global, id: &str) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills the two-element array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return;
    }
    SIG_PIPE_W.store(fds[1], std::sync::atomic::Ordering::Relaxed);
    for sig in [
        libc::SIGINT,
        libc::SIGTERM,
        libc::SIGHUP,
        libc::SIGQUIT,
        libc::SIGUSR1,
        libc::SIGUSR2,
    ] {
        // SAFETY: installs an async-signal-safe handler (it only writes to a pipe).
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
    let (g, id, rfd) = (g.clone(), id.to_string(), fds[0]);
    std::thread::spawn(move || {
        // Opened at the first signal: most runs never get one.
        let mut engine = None;
        loop {
            let mut b = 0u8;
            // SAFETY: reads one byte into a stack variable from our own pipe.
            let n = unsafe { libc::read(rfd, &mut b as *mut u8 as *mut libc::c_void, 1) };
            if n == 1 {
                if engine.is_none() {
                    engine = open_engine(&g).ok();
                }
                let Some(e) = &engine else { return };
                let _ = e.kill(&id, &b.to_string());
            } else if n < 0
                && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
            {
                continue;
            } else {
                return;
            }
        }
    });
}

/// The exit code of a finished attach (or of the container, asked after the stream ended).
fn exit_of(
    e: &Engine,
    id: &str,
    res: engine::Result<Option<engine::WaitResult>>,
) -> Result<i32, Failure> {
    let w = match res.map_err(run_failure)? {
        Some(w) => w,
        None => e
            .wait(id, engine::WaitCondition::NotRunning)
            .map_err(|err| Failure::new(err.to_string(), 125))?,
    };
    if let Some(msg) = &w.error {
        return Err(Failure::new(msg.clone(), w.status_code as i32));
    }
    Ok(w.status_code as i32)
}

/// Pumps an attachment with our stdio; tty raw mode and window size when `-t` on a terminal,
/// and `keys` detach (with a tty and stdin, as Docker). The terminal is restored on return.
pub(super) fn pump(
    att: engine::Attachment,
    stdin: bool,
    keys: &[u8],
) -> engine::Result<engine::Pumped> {
    let tty = att.tty();
    let _raw = (tty && stdin && std::io::stdin().is_terminal())
        .then(TermGuard::raw)
        .flatten();
    if tty {
        if let Some((r, c)) = window_size() {
            let _ = att.resize(r, c);
        }
    }
    let input: Option<Box<dyn Read + Send>> = stdin.then(|| Box::new(std::io::stdin()) as _);
    let mut out = std::io::stdout();
    let mut err = std::io::stderr();
    att.pump_detachable(input, &mut out, &mut err, keys)
}

/// The exit code of a pumped session; None when the user detached.
pub(super) fn exit_of_pumped(
    e: &Engine,
    id: &str,
    res: engine::Result<engine::Pumped>,
) -> Result<Option<i32>, Failure> {
    match res {
        Ok(engine::Pumped::Detached) => Ok(None),
        Ok(engine::Pumped::Ended(w)) => exit_of(e, id, Ok(w)).map(Some),
        Err(err) => exit_of(e, id, Err(err)).map(Some),
    }
}

/// Docker refuses `-it` when stdin is not a terminal (a pipe would be echoed by the pty).
pub(super) fn check_tty(tty: bool, interactive: bool) -> CmdResult {
    if tty && interactive && !std::io::stdin().is_terminal() {
        return Err(Failure::new("the input device is not a TTY", 1));
    }
    Ok(())
}
