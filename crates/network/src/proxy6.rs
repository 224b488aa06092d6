//! A userland TCP proxy for published ports on `[::1]`.
//!
//! The kernel cannot DNAT IPv6 loopback traffic to a bridge (IPv6 has no `route_localnet`:
//! a packet from `::1` leaving a non-loopback interface is dropped), so, as dockerd's
//! docker-proxy does, the container's monitor listens on `[::1]:PORT` in the host namespace
//! and relays each connection to the container (`-p [::1]:P:C`, and `-p P:C` of a container
//! on a dual-stack network, which Docker also answers on `[::1]`). TCP only: UDP on `[::1]` is
//! refused when the container is created.
//!
//! Hand-written rather than a crate: it is an accept loop and two `io::copy` per connection;
//! the monitor's idle budget rules out an async runtime.

use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;

/// The proxies of one container; dropping it closes the listeners (open connections finish on
/// their own threads).
pub struct Proxy6 {
    stop_w: i32,
    threads: Vec<rawthread::JoinHandle<()>>,
}

impl Proxy6 {
    /// Listens on every `(listen, target)` pair; fails if a listener cannot bind.
    pub fn start(pairs: &[(SocketAddr, SocketAddr)]) -> io::Result<Proxy6> {
        let mut p = [0i32; 2];
        // SAFETY: p is a valid array of two ints for pipe2 to fill.
        if unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let mut me = Proxy6 {
            stop_w: p[1],
            threads: Vec::new(),
        };
        let stop_r = p[0];
        let listeners = pairs
            .iter()
            .map(|(l, t)| Ok((TcpListener::bind(l)?, *t)))
            .collect::<io::Result<Vec<_>>>();
        let listeners = match listeners {
            Ok(l) => l,
            Err(e) => {
                // SAFETY: closing the read end we own (the write end goes with `me`).
                unsafe { libc::close(stop_r) };
                return Err(e);
            }
        };
        for (l, target) in listeners {
            // SAFETY: dup of the pipe's read end we own; each thread closes its copy.
            let fd = unsafe { libc::dup(stop_r) };
            // Raw threads: the monitor may be a fork of a multi-threaded process (rawthread).
            match rawthread::spawn(64 << 10, move || accept_loop(l, target, fd)) {
                Ok(t) => me.threads.push(t),
                Err(e) => {
                    // SAFETY: both are fds we own (the thread never started).
                    unsafe {
                        libc::close(fd);
                        libc::close(stop_r);
                    }
                    return Err(e);
                }
            }
        }
        // SAFETY: the threads have their own duplicates.
        unsafe { libc::close(stop_r) };
        Ok(me)
    }
}

impl Drop for Proxy6 {
    fn drop(&mut self) {
        // SAFETY: closing the write end we own wakes every accept loop (POLLHUP).
        unsafe { libc::close(self.stop_w) };
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn accept_loop(l: TcpListener, target: SocketAddr, stop_fd: i32) {
    loop {
        let mut fds = [
            libc::pollfd {
                fd: l.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: stop_fd,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: fds is a valid array of two pollfd structs.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
            continue;
        }
        if n < 0 || fds[1].revents != 0 {
            break;
        }
        if let Ok((c, _)) = l.accept() {
            // Detached (the handle's drop): a connection ends on its own.
            let _ = rawthread::spawn(64 << 10, move || relay(c, target));
        }
    }
    // SAFETY: our duplicate of the stop pipe's read end.
    unsafe { libc::close(stop_fd) };
}

fn relay(client: TcpStream, target: SocketAddr) {
    let Ok(upstream) = TcpStream::connect(target) else {
        return; // the client sees the connection closed, as with docker-proxy
    };
    let (Ok(mut c2), Ok(mut u2)) = (client.try_clone(), upstream.try_clone()) else {
        return;
    };
    let t = rawthread::spawn(64 << 10, move || {
        let _ = io::copy(&mut c2, &mut u2);
        let _ = u2.shutdown(Shutdown::Write);
    });
    let (mut c, mut u) = (client, upstream);
    let _ = io::copy(&mut u, &mut c);
    let _ = c.shutdown(Shutdown::Write);
    if let Ok(t) = t {
        let _ = t.join();
    }
}

/// The `[::1]` listeners an endpoint needs: `(listen, target)` per TCP binding on `::1`, and
/// per `-p P:C` binding of an endpoint with a v6 address. The target is the container's v6
/// address when it has one, else its v4 address.
pub fn pairs(ep: &crate::Endpoint) -> Vec<(SocketAddr, SocketAddr)> {
    use std::net::{IpAddr, Ipv6Addr};
    ep.ports
        .iter()
        .filter(|p| p.proto == crate::Proto::Tcp)
        .filter(|p| match p.host_ip {
            Some(IpAddr::V6(h)) => h.is_loopback(),
            None => ep.ipv6.is_some(),
            _ => false,
        })
        .map(|p| {
            let target: IpAddr = ep.ipv6.map(IpAddr::V6).unwrap_or(IpAddr::V4(ep.ipv4));
            (
                SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), p.host_port),
                SocketAddr::new(target, p.container_port),
            )
        })
        .collect()
}
