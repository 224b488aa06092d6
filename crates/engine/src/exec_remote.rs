//! `exec` for a remote client (the API server): the process's stdio relayed to streams the
//! caller gives (its hijacked connection) instead of this process's fds 0-2, and a handle to
//! resize its pty and report its pid while it runs.

use crate::record::Record;
use crate::{exec, Engine, Error, ExecConfig, Result};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;

/// The running process, for `exec inspect` (pid) and `exec resize`.
#[derive(Clone)]
pub struct ExecHandle {
    pub pid: i32,
    master: Option<Arc<OwnedFd>>,
}

impl ExecHandle {
    /// Sets the pty's window size (no-op without a tty).
    pub fn resize(&self, rows: u16, cols: u16) -> Result<()> {
        let Some(m) = &self.master else { return Ok(()) };
        let ws = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ on our pty master with a valid winsize.
        if unsafe { libc::ioctl(m.as_raw_fd(), libc::TIOCSWINSZ, &ws) } != 0 {
            return Err(Error::io("resize")(std::io::Error::last_os_error()));
        }
        Ok(())
    }
}

/// The client's side of an exec.
pub struct RemoteIo {
    /// The client's input (None: not attached; the process gets /dev/null or EOF).
    pub stdin: Option<Box<dyn Read + Send>>,
    pub stdout: Box<dyn Write + Send>,
    /// Unused with a tty (the pty merges the streams).
    pub stderr: Box<dyn Write + Send>,
    /// Called when the detach keys came (tty only): it must end the client's stream, which
    /// ends the relay; the process runs on.
    pub on_detach: Box<dyn FnOnce() + Send>,
}

/// Copies `from` to `to` until EOF or an error on either side.
fn copy_fd_to(from: &OwnedFd, to: &mut dyn Write) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        // SAFETY: reading into a live buffer of the given length.
        let n = unsafe { libc::read(from.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        if n <= 0 || to.write_all(&buf[..n as usize]).is_err() {
            return;
        }
        let _ = to.flush();
    }
}

/// Copies `from` into the fd `to` until EOF or an error (then `to` is closed by the caller).
fn copy_to_fd(from: &mut dyn Read, to: &OwnedFd, keys: &[u8]) -> bool {
    let mut proxy = crate::detach::EscapeProxy::new(keys);
    let mut buf = vec![0u8; 32 * 1024];
    let mut out = Vec::with_capacity(buf.len());
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => return false,
            Ok(n) => n,
        };
        out.clear();
        let detached = proxy.feed(&buf[..n], &mut out);
        let mut rest = &out[..];
        while !rest.is_empty() {
            // SAFETY: writing from a live buffer of the given length.
            let w = unsafe { libc::write(to.as_raw_fd(), rest.as_ptr().cast(), rest.len()) };
            if w < 0 {
                if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                return false;
            }
            rest = &rest[w as usize..];
        }
        if detached {
            return true;
        }
    }
}

impl Engine {
    /// Runs `cfg` in the running container with its stdio relayed to `io`; `started` gets
    /// the process's handle once it runs. Returns its exit code (0 at once with `detach`,
    /// the process then reaped by a thread). [`Error::Detached`] when the detach keys came.
    pub fn exec_remote(
        &self,
        id: &str,
        cfg: &ExecConfig,
        io: RemoteIo,
        started: &mut dyn FnMut(ExecHandle),
    ) -> Result<i64> {
        let (id, rec): (String, Record) = self.record(id)?;
        match rec.effective_status() {
            crate::types::ContainerStatus::Running => {}
            crate::types::ContainerStatus::Paused => {
                return Err(Error::Conflict(format!(
                    "Container {id} is paused, unpause the container before exec"
                )))
            }
            _ => return Err(Error::Conflict(format!("Container {id} is not running"))),
        }
        let sp = exec::spawn(&self.paths, &id, &rec, cfg)?;
        let pid = sp.pid;
        let master = sp.master.map(Arc::new);
        started(ExecHandle {
            pid,
            master: master.clone(),
        });
        if cfg.detach {
            // A long-lived caller reaps its own children.
            std::thread::spawn(move || {
                let _keep = master;
                exec::reap(pid)
            });
            return Ok(0);
        }
        let RemoteIo {
            stdin,
            mut stdout,
            mut stderr,
            on_detach,
        } = io;
        if let Some(m) = master {
            let detached = Arc::new(std::sync::atomic::AtomicBool::new(false));
            if let (true, Some(mut input)) = (cfg.attach_stdin, stdin) {
                let (m2, det) = (m.clone(), detached.clone());
                let keys = cfg.detach_keys.clone();
                std::thread::spawn(move || {
                    if copy_to_fd(&mut *input, &m2, &keys) {
                        det.store(true, std::sync::atomic::Ordering::SeqCst);
                        on_detach();
                    }
                });
            }
            // Output until the pty's last slave is closed (EIO) or the client is gone.
            copy_fd_to(&m, &mut *stdout);
            if detached.load(std::sync::atomic::Ordering::SeqCst) {
                // It runs on, its pty held by the reaping thread.
                std::thread::spawn(move || {
                    let _keep = m;
                    exec::reap(pid)
                });
                return Err(Error::Detached);
            }
            return Ok(exec::reap(pid));
        }
        let [inw, out, err] = match sp.relay {
            Some(r) => r.into_fds(),
            None => [None, None, None],
        };
        if let (Some(w), Some(mut input)) = (inw, stdin) {
            // Dropping `w` when the input ends is the process's stdin EOF.
            std::thread::spawn(move || copy_to_fd(&mut *input, &w, &[]));
        }
        let t = err.map(|e| std::thread::spawn(move || copy_fd_to(&e, &mut *stderr)));
        if let Some(o) = out {
            copy_fd_to(&o, &mut *stdout);
        }
        if let Some(t) = t {
            let _ = t.join();
        }
        Ok(exec::reap(pid))
    }
}
