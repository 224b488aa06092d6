//! Hijacked streams: `POST /containers/{id}/attach` (and exec start, see execs.rs) answer
//! `101 UPGRADED`, then the connection carries the container's stdin one way and its output
//! the other: raw with a tty, else in Docker's 8-byte multiplexed framing. The upgraded
//! socket goes back to a blocking std socket relayed by the engine's attach pump.

use crate::body::Body;
use crate::containers::{status_of, MUX, RAW};
use crate::error::{ApiError, ApiResult};
use crate::router::{Req, Resp};
use crate::state::{blocking, PendingAttach, State};
use bytes::Bytes;
use hyper::{header, StatusCode};
use hyper_util::rt::TokioIo;
use std::io::{Read, Write};
use std::net::Shutdown;
use std::sync::{Arc, Mutex};

/// A hijacked connection as a blocking socket.
pub trait Conn: Read + Write + Send {
    fn clone_box(&self) -> std::io::Result<Box<dyn Conn>>;
    fn shut(&self, how: Shutdown);
}

impl Conn for std::os::unix::net::UnixStream {
    fn clone_box(&self) -> std::io::Result<Box<dyn Conn>> {
        Ok(Box::new(self.try_clone()?))
    }
    fn shut(&self, how: Shutdown) {
        let _ = self.shutdown(how);
    }
}

impl Conn for std::net::TcpStream {
    fn clone_box(&self) -> std::io::Result<Box<dyn Conn>> {
        Ok(Box::new(self.try_clone()?))
    }
    fn shut(&self, how: Shutdown) {
        let _ = self.shutdown(how);
    }
}

/// The socket under an upgraded connection, and what hyper had read past the request.
fn into_conn(up: hyper::upgrade::Upgraded) -> std::io::Result<(Box<dyn Conn>, Bytes)> {
    let up = match up.downcast::<TokioIo<tokio::net::UnixStream>>() {
        Ok(p) => {
            let s = p.io.into_inner().into_std()?;
            s.set_nonblocking(false)?;
            return Ok((Box::new(s), p.read_buf));
        }
        Err(up) => up,
    };
    match up.downcast::<TokioIo<tokio::net::TcpStream>>() {
        Ok(p) => {
            let s = p.io.into_inner().into_std()?;
            s.set_nonblocking(false)?;
            Ok((Box::new(s), p.read_buf))
        }
        Err(_) => Err(std::io::Error::other("unexpected connection type")),
    }
}

/// Writes each chunk as one multiplexed frame; stdout and stderr writers share the socket
/// under one lock so frames never interleave.
struct Mux {
    conn: Arc<Mutex<Box<dyn Conn>>>,
    stream: u8,
}

impl Write for Mux {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut frame = Vec::with_capacity(8 + buf.len());
        frame.extend_from_slice(&[self.stream, 0, 0, 0]);
        frame.extend_from_slice(&(buf.len() as u32).to_be_bytes());
        frame.extend_from_slice(buf);
        let mut c = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        c.write_all(&frame)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The client's input: what hyper read ahead, then the socket.
pub fn input(conn: &dyn Conn, leftover: Bytes) -> std::io::Result<Box<dyn Read + Send>> {
    Ok(Box::new(
        std::io::Cursor::new(leftover).chain(conn.clone_box()?),
    ))
}

/// The client's output writers (stdout, stderr).
pub fn outputs(
    conn: &dyn Conn,
    tty: bool,
) -> std::io::Result<(Box<dyn Write + Send>, Box<dyn Write + Send>)> {
    if tty {
        Ok((conn.clone_box()?, conn.clone_box()?))
    } else {
        let shared = Arc::new(Mutex::new(conn.clone_box()?));
        Ok((
            Box::new(Mux {
                conn: shared.clone(),
                stream: 1,
            }),
            Box::new(Mux {
                conn: shared,
                stream: 2,
            }),
        ))
    }
}

/// Docker's detach keys ("ctrl-p,ctrl-q", "a,ctrl-x") as bytes.
pub fn parse_detach_keys(s: &str) -> ApiResult<Vec<u8>> {
    let bad = || ApiError::bad_request(format!("Invalid detach keys ({s}) provided"));
    let mut out = Vec::new();
    for k in s.split(',') {
        if let Some(c) = k.strip_prefix("ctrl-") {
            let b = match c.as_bytes() {
                [b @ b'a'..=b'z'] => b - b'a' + 1,
                [b'@'] => 0,
                [b'['] => 27,
                [b'\\'] => 28,
                [b']'] => 29,
                [b'^'] => 30,
                [b'_'] => 31,
                _ => return Err(bad()),
            };
            out.push(b);
        } else if k.len() == 1 {
            out.push(k.as_bytes()[0]);
        } else {
            return Err(bad());
        }
    }
    Ok(out)
}

/// The `101 UPGRADED` answer; `run` gets the socket once hyper hands it over.
pub fn upgrade<F>(state: &Arc<State>, r: &mut Req, tty: bool, run: F) -> ApiResult<Resp>
where
    F: FnOnce(Box<dyn Conn>, Bytes) + Send + 'static,
{
    let wants = r
        .inner
        .headers()
        .get(header::UPGRADE)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"tcp"));
    if !wants {
        return Err(ApiError::bad_request(
            "this endpoint hijacks the connection: send Connection: Upgrade and Upgrade: tcp",
        ));
    }
    let on = hyper::upgrade::on(&mut r.inner);
    let busy = state.busy();
    tokio::spawn(async move {
        let Ok(up) = on.await else { return };
        let Ok((conn, left)) = into_conn(up) else {
            return;
        };
        let _ = tokio::task::spawn_blocking(move || run(conn, left)).await;
        drop(busy);
    });
    let mut resp = Resp::new(Body::empty());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(
        header::CONNECTION,
        header::HeaderValue::from_static("Upgrade"),
    );
    h.insert(header::UPGRADE, header::HeaderValue::from_static("tcp"));
    h.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(if tty { RAW } else { MUX }),
    );
    Ok(resp)
}

pub async fn attach(state: Arc<State>, id: String, mut r: Req) -> ApiResult<Resp> {
    let opts = engine::AttachOptions {
        stdin: r.flag("stdin"),
        stdout: r.flag("stdout"),
        stderr: r.flag("stderr"),
    };
    if r.flag("logs") {
        return Err(ApiError::bad_request(
            "attach with logs=1 is not supported by berth: read /containers/{id}/logs",
        ));
    }
    if !r.flag("stream") {
        return Err(ApiError::bad_request(
            "attach without stream=1 is not supported by berth",
        ));
    }
    let keys = parse_detach_keys(
        r.q("detachKeys")
            .filter(|k| !k.is_empty())
            .unwrap_or("ctrl-p,ctrl-q"),
    )?;
    let st = state.clone();
    // Running: attached now; else registered for the coming start (docker run attaches
    // first), which hands over a stream set up before the process runs.
    let (tty, rx) = blocking(move || {
        let eng = st.engine()?;
        let (id, status, tty) = status_of(&eng, &id)?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        if status.is_up() {
            let _ = tx.send(Ok(eng.attach(&id, &opts)?));
        } else {
            st.pending_attach
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(id)
                .or_default()
                .push(PendingAttach { opts, tx });
        }
        Ok((tty, rx))
    })
    .await?;
    upgrade(&state, &mut r, tty, move |conn, left| {
        let Ok(Ok(att)) = rx.blocking_recv() else {
            conn.shut(Shutdown::Both);
            return;
        };
        let (Ok(inp), Ok((mut out, mut err))) = (input(&*conn, left), outputs(&*conn, tty)) else {
            return;
        };
        let _ = att.pump_remote(Some(inp), &mut out, &mut err, &keys);
        conn.shut(Shutdown::Both);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys() {
        assert_eq!(parse_detach_keys("ctrl-p,ctrl-q").unwrap(), vec![16, 17]);
        assert_eq!(parse_detach_keys("a,ctrl-[").unwrap(), vec![b'a', 27]);
        assert!(parse_detach_keys("ctrl-").is_err());
        assert!(parse_detach_keys("xy").is_err());
    }
}
