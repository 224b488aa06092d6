//! An attach session's stdio: our input to the container's monitor (through the detach-key
//! matcher with a tty), its output to ours, and our window size on SIGWINCH.

use crate::detach::EscapeProxy;
use crate::{monitor, Attachment, Error, Result, WaitResult};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};

/// How an attach session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pumped {
    /// The output ended; the container's exit when it ended while attached.
    Ended(Option<WaitResult>),
    /// The detach keys were typed: the container runs on.
    Detached,
}

fn send(sock: &Mutex<UnixStream>, kind: u8, data: &[u8]) -> bool {
    let mut s = sock.lock().unwrap_or_else(|e| e.into_inner());
    monitor::write_frame(&mut *s, kind, data).is_ok()
}

fn resize_frame(rows: u16, cols: u16) -> [u8; 4] {
    let mut d = [0u8; 4];
    d[..2].copy_from_slice(&rows.to_be_bytes());
    d[2..].copy_from_slice(&cols.to_be_bytes());
    d
}

impl Attachment {
    /// Like [`Attachment::pump`]; with a tty, `detach_keys` typed on `stdin` end the session
    /// (nothing is sent to the container: its stdin stays open), and our window size follows
    /// SIGWINCH.
    pub fn pump_detachable(
        self,
        stdin: Option<Box<dyn Read + Send>>,
        stdout: &mut dyn Write,
        stderr: &mut dyn Write,
        detach_keys: &[u8],
    ) -> Result<Pumped> {
        self.pump_inner(stdin, stdout, stderr, detach_keys, true)
    }

    /// [`Attachment::pump_detachable`] for a remote client (the API server): the window
    /// size is not ours to follow (the client sends resizes as requests).
    pub fn pump_remote(
        self,
        stdin: Option<Box<dyn Read + Send>>,
        stdout: &mut dyn Write,
        stderr: &mut dyn Write,
        detach_keys: &[u8],
    ) -> Result<Pumped> {
        self.pump_inner(stdin, stdout, stderr, detach_keys, false)
    }

    fn pump_inner(
        self,
        stdin: Option<Box<dyn Read + Send>>,
        stdout: &mut dyn Write,
        stderr: &mut dyn Write,
        detach_keys: &[u8],
        follow_winch: bool,
    ) -> Result<Pumped> {
        let writer = Arc::new(Mutex::new(
            self.sock.try_clone().map_err(Error::io("attach socket"))?,
        ));
        // Set when the input thread saw the detach keys (before it shuts the socket down).
        let detached = Arc::new(std::sync::atomic::AtomicBool::new(false));
        if self.tty && follow_winch {
            if let Some(fd) = crate::pty_relay::winch_fd() {
                let w = writer.clone();
                std::thread::spawn(move || loop {
                    crate::pty_relay::wait_winch(fd);
                    if let Some((r, c)) = crate::pty_relay::our_window_size() {
                        if !send(&w, monitor::RESIZE, &resize_frame(r, c)) {
                            return;
                        }
                    }
                });
            }
        }
        if let (true, Some(mut input)) = (self.stdin, stdin) {
            let w = writer.clone();
            let keys = if self.tty {
                detach_keys.to_vec()
            } else {
                Vec::new()
            };
            let det = detached.clone();
            std::thread::spawn(move || {
                let mut proxy = EscapeProxy::new(&keys);
                let mut buf = vec![0u8; 32 * 1024];
                let mut out = Vec::with_capacity(buf.len());
                loop {
                    match input.read(&mut buf) {
                        Ok(0) | Err(_) => {
                            send(&w, monitor::STDIN_EOF, &[]);
                            break;
                        }
                        Ok(n) => {
                            out.clear();
                            let done = proxy.feed(&buf[..n], &mut out);
                            if !out.is_empty() && !send(&w, monitor::STDIN, &out) {
                                break;
                            }
                            if done {
                                det.store(true, std::sync::atomic::Ordering::SeqCst);
                                let s = w.lock().unwrap_or_else(|e| e.into_inner());
                                // Ends our read of the output below; the monitor just
                                // drops this client.
                                let _ = s.shutdown(std::net::Shutdown::Both);
                                break;
                            }
                        }
                    }
                }
            });
        }
        let mut r = std::io::BufReader::with_capacity(64 * 1024, &self.sock);
        let end = loop {
            match monitor::read_frame(&mut r) {
                Ok(Some((monitor::STDOUT, d))) => {
                    let _ = stdout.write_all(&d);
                    let _ = stdout.flush();
                }
                Ok(Some((monitor::STDERR, d))) => {
                    let _ = stderr.write_all(&d);
                    let _ = stderr.flush();
                }
                Ok(Some((monitor::EXIT, d))) => break Some(monitor::parse_exit(&d)),
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break None,
            }
        };
        if end.is_none() && detached.load(std::sync::atomic::Ordering::SeqCst) {
            return Ok(Pumped::Detached);
        }
        Ok(Pumped::Ended(end))
    }
}
