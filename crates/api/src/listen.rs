//! Where the server listens: a unix socket (default `<runroot>/berth.sock`, mode 0660 with
//! group `berth` when that group exists, else 0600), a loopback TCP port, or the socket
//! systemd hands over (`LISTEN_FDS`, socket activation). Plus the accept loop and the idle
//! timeout.

use crate::state::State;
use crate::{ServeError, ServeOptions};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::os::fd::{FromRawFd, RawFd};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    Unix(PathBuf),
    Tcp(SocketAddr),
}

/// `unix:///path`, `/path`, `tcp://127.0.0.1:2375`. TCP only on loopback: the API gives root
/// on this host to whoever reaches it, and the server has no TLS.
pub fn parse_address(s: &str) -> Result<Address, String> {
    if let Some(p) = s.strip_prefix("unix://") {
        if p.is_empty() {
            return Err(format!("invalid address {s:?}: empty socket path"));
        }
        return Ok(Address::Unix(PathBuf::from(p)));
    }
    if s.starts_with('/') {
        return Ok(Address::Unix(PathBuf::from(s)));
    }
    if let Some(hp) = s.strip_prefix("tcp://") {
        let hp = hp.trim_end_matches('/');
        let addr: SocketAddr = match hp.parse() {
            Ok(a) => a,
            Err(_) => {
                let (h, p) = hp
                    .rsplit_once(':')
                    .ok_or_else(|| format!("invalid address {s:?}: no port"))?;
                let port: u16 = p
                    .parse()
                    .map_err(|_| format!("invalid address {s:?}: bad port"))?;
                if h != "localhost" {
                    return Err(format!("invalid address {s:?}: use an IP address"));
                }
                SocketAddr::from(([127, 0, 0, 1], port))
            }
        };
        if !addr.ip().is_loopback() {
            return Err(format!(
                "refusing to listen on {addr}: the API gives root on this host, and without TLS \
                 (not supported yet) it is served only on loopback addresses"
            ));
        }
        return Ok(Address::Tcp(addr));
    }
    Err(format!(
        "invalid address {s:?}: expected unix:///path or tcp://127.0.0.1:PORT"
    ))
}

pub enum Listener {
    Unix(tokio::net::UnixListener),
    Tcp(tokio::net::TcpListener),
}

/// The socket systemd passed (`LISTEN_PID` is us, `LISTEN_FDS` >= 1: fd 3), if any.
fn systemd_socket() -> Result<Option<Listener>, ServeError> {
    let pid_ok = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        == Some(std::process::id());
    let n: i32 = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    if !pid_ok || n < 1 {
        return Ok(None);
    }
    // Not for our children (containers' monitors are forks of this process).
    std::env::remove_var("LISTEN_PID");
    std::env::remove_var("LISTEN_FDS");
    std::env::remove_var("LISTEN_FDNAMES");
    let fd: RawFd = 3;
    // SAFETY: fcntl on fd 3, which systemd documents as ours.
    unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    let mut ss: libc::sockaddr_storage = unsafe {
        // SAFETY: plain data, zero is a valid bit pattern.
        std::mem::zeroed()
    };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: getsockname into a buffer of the size we pass.
    if unsafe { libc::getsockname(fd, &mut ss as *mut _ as *mut libc::sockaddr, &mut len) } != 0 {
        return Err(ServeError::Listen(format!(
            "LISTEN_FDS: fd 3 is not a socket: {}",
            std::io::Error::last_os_error()
        )));
    }
    if ss.ss_family as i32 == libc::AF_UNIX {
        // SAFETY: systemd gave us fd 3, a listening unix socket; we own it from here.
        let l = unsafe { std::os::unix::net::UnixListener::from_raw_fd(fd) };
        l.set_nonblocking(true)?;
        Ok(Some(Listener::Unix(tokio::net::UnixListener::from_std(l)?)))
    } else {
        // SAFETY: as above, a listening TCP socket.
        let l = unsafe { std::net::TcpListener::from_raw_fd(fd) };
        l.set_nonblocking(true)?;
        Ok(Some(Listener::Tcp(tokio::net::TcpListener::from_std(l)?)))
    }
}

/// The group id of `berth`, if that group exists.
fn berth_gid() -> Option<u32> {
    let s = std::fs::read_to_string("/etc/group").ok()?;
    s.lines().find_map(|l| {
        let mut f = l.split(':');
        (f.next()? == "berth").then(|| f.nth(1)?.parse().ok())?
    })
}

fn bind_unix(path: &std::path::Path) -> Result<tokio::net::UnixListener, ServeError> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d)?;
    }
    // A stale socket of an earlier server: replaced, unless a server still answers on it.
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        return Err(ServeError::Listen(format!(
            "{}: another server is listening there",
            path.display()
        )));
    }
    let _ = std::fs::remove_file(path);
    // Bound under a restrictive umask so the socket is never reachable by others before
    // its mode is set.
    // SAFETY: umask only changes this process's file creation mask.
    let old = unsafe { libc::umask(0o177) };
    let r = std::os::unix::net::UnixListener::bind(path);
    // SAFETY: as above.
    unsafe { libc::umask(old) };
    let l = r.map_err(|e| ServeError::Listen(format!("listen on {}: {e}", path.display())))?;
    if let Some(gid) = berth_gid() {
        std::os::unix::fs::chown(path, None, Some(gid))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    } else {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    l.set_nonblocking(true)?;
    Ok(tokio::net::UnixListener::from_std(l)?)
}

pub fn open(opts: &ServeOptions) -> Result<Listener, ServeError> {
    if opts.address.is_none() {
        if let Some(l) = systemd_socket()? {
            return Ok(l);
        }
    }
    let addr = opts
        .address
        .clone()
        .unwrap_or_else(|| Address::Unix(opts.engine.runroot.join("berth.sock")));
    match addr {
        Address::Unix(p) => Ok(Listener::Unix(bind_unix(&p)?)),
        Address::Tcp(a) => {
            let l = std::net::TcpListener::bind(a)
                .map_err(|e| ServeError::Listen(format!("listen on {a}: {e}")))?;
            l.set_nonblocking(true)?;
            Ok(Listener::Tcp(tokio::net::TcpListener::from_std(l)?))
        }
    }
}

fn serve_conn<IO>(io: IO, state: Arc<State>)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let busy = state.busy();
    tokio::spawn(async move {
        let st = state.clone();
        let svc = hyper::service::service_fn(move |req| crate::router::handle(st.clone(), req));
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(io), svc)
            .with_upgrades()
            .await;
        drop(busy);
    });
}

/// Accepts connections until `idle` passes with none open (None: forever).
pub async fn accept_loop(
    l: Listener,
    state: Arc<State>,
    idle: Option<Duration>,
) -> Result<(), ServeError> {
    loop {
        let idle_wait = async {
            match idle {
                Some(d) => loop {
                    // Hijacked streams (attach, exec) count as busy until their pump ends.
                    if state.active.load(Ordering::SeqCst) == 0 {
                        if tokio::time::timeout(d, state.activity.notified())
                            .await
                            .is_err()
                            && state.active.load(Ordering::SeqCst) == 0
                        {
                            return;
                        }
                    } else {
                        state.activity.notified().await;
                    }
                },
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = idle_wait => return Ok(()),
            r = accept(&l) => match r {
                Ok(Conn::Unix(s)) => serve_conn(s, state.clone()),
                Ok(Conn::Tcp(s)) => serve_conn(s, state.clone()),
                Err(e) => {
                    // EMFILE and friends: wait a moment rather than spin.
                    eprintln!("berth system service: accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}

enum Conn {
    Unix(tokio::net::UnixStream),
    Tcp(tokio::net::TcpStream),
}

async fn accept(l: &Listener) -> std::io::Result<Conn> {
    match l {
        Listener::Unix(l) => l.accept().await.map(|(s, _)| Conn::Unix(s)),
        Listener::Tcp(l) => l.accept().await.map(|(s, _)| {
            let _ = s.set_nodelay(true);
            Conn::Tcp(s)
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            parse_address("unix:///run/x.sock"),
            Ok(Address::Unix("/run/x.sock".into()))
        );
        assert_eq!(
            parse_address("tcp://127.0.0.1:2375"),
            Ok(Address::Tcp("127.0.0.1:2375".parse().unwrap()))
        );
        assert_eq!(
            parse_address("tcp://localhost:2375"),
            Ok(Address::Tcp("127.0.0.1:2375".parse().unwrap()))
        );
        assert!(parse_address("tcp://0.0.0.0:2375").is_err());
        assert!(parse_address("tcp://10.232.0.1:2375").is_err());
        assert!(parse_address("http://x").is_err());
    }
}
