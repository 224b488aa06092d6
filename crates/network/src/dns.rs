//! Embedded DNS for user-defined networks.
//!
//! [`answer`] is the resolver logic: given a query and a name lookup, it builds the reply for
//! names the network knows (container names and aliases) or returns `None` so the caller
//! forwards the query upstream. [`serve`] is a minimal UDP server around it, and [`DnsServer`]
//! runs one inside a sandbox on 127.0.0.11:53 — see the crate docs for why.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Docker's embedded DNS address, inside each container's namespace.
pub const EMBEDDED_DNS: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 11);

const TYPE_A: u16 = 1;
const TYPE_AAAA: u16 = 28;
const TYPE_ANY: u16 = 255;
const TTL: u32 = 600;

/// Name → addresses, names lower-case without a trailing dot.
pub type Records = HashMap<String, Vec<IpAddr>>;

/// A shareable name lookup for [`DnsServer`].
pub type Lookup = Arc<dyn Fn(&str) -> Option<Vec<IpAddr>> + Send + Sync>;

/// Parses the single question of a query: (lower-case name, qtype, end offset of the question).
fn question(q: &[u8]) -> Option<(String, u16, usize)> {
    if q.len() < 12 || q[2] & 0x80 != 0 || u16::from_be_bytes([q[4], q[5]]) != 1 {
        return None;
    }
    let mut i = 12;
    let mut labels = Vec::new();
    loop {
        let l = *q.get(i)? as usize;
        i += 1;
        if l == 0 {
            break;
        }
        if l > 63 {
            return None; // compression pointers do not occur in a query's question
        }
        labels.push(String::from_utf8_lossy(q.get(i..i + l)?).to_ascii_lowercase());
        i += l;
    }
    let qtype = u16::from_be_bytes([*q.get(i)?, *q.get(i + 1)?]);
    let qclass = u16::from_be_bytes([*q.get(i + 2)?, *q.get(i + 3)?]);
    if qclass != 1 {
        return None;
    }
    Some((labels.join("."), qtype, i + 4))
}

/// Answers `query` if `lookup` knows the name: A records for A queries, AAAA records (the
/// v6 addresses on dual-stack networks) for AAAA queries, both for ANY, an empty NOERROR
/// answer for other types (or AAAA of a v4-only name) so clients do not wait on upstream for
/// a local name. Returns `None` for names to forward and for anything that is not a plain
/// one-question query.
pub fn answer(query: &[u8], lookup: impl Fn(&str) -> Option<Vec<IpAddr>>) -> Option<Vec<u8>> {
    let (name, qtype, end) = question(query)?;
    let ips: Vec<IpAddr> = lookup(&name)?
        .into_iter()
        .filter(|ip| match ip {
            IpAddr::V4(_) => qtype == TYPE_A || qtype == TYPE_ANY,
            IpAddr::V6(_) => qtype == TYPE_AAAA || qtype == TYPE_ANY,
        })
        .collect();
    let mut r = Vec::with_capacity(end + ips.len() * 16);
    r.extend_from_slice(&query[0..2]); // id
    let rd = query[2] & 0x01;
    r.push(0x80 | 0x04 | rd); // QR, AA, RD copied
    r.push(0x80); // RA, RCODE 0
    r.extend_from_slice(&1u16.to_be_bytes());
    r.extend_from_slice(&(ips.len() as u16).to_be_bytes());
    r.extend_from_slice(&[0, 0, 0, 0]);
    r.extend_from_slice(&query[12..end]);
    for ip in ips {
        let (ty, data) = match ip {
            IpAddr::V4(a) => (TYPE_A, a.octets().to_vec()),
            IpAddr::V6(a) => (TYPE_AAAA, a.octets().to_vec()),
        };
        r.extend_from_slice(&[0xc0, 12]); // pointer to the question's name
        r.extend_from_slice(&ty.to_be_bytes());
        r.extend_from_slice(&1u16.to_be_bytes());
        r.extend_from_slice(&TTL.to_be_bytes());
        r.extend_from_slice(&(data.len() as u16).to_be_bytes());
        r.extend_from_slice(&data);
    }
    Some(r)
}

/// Builds a one-question query (recursion desired); used by tests and health checks.
pub fn build_query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut q = Vec::new();
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    for l in name.trim_end_matches('.').split('.') {
        q.push(l.len() as u8);
        q.extend_from_slice(l.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    q
}

/// Extracts the A records of a reply (assumes the answer names are compressed pointers, as
/// [`answer`] and most servers write them). Returns (rcode, addresses).
pub fn parse_reply(r: &[u8]) -> Option<(u8, Vec<Ipv4Addr>)> {
    parse_reply_all(r).map(|(rc, v4, _)| (rc, v4))
}

/// Like [`parse_reply`], with the AAAA records too: (rcode, A addresses, AAAA addresses).
pub fn parse_reply_all(r: &[u8]) -> Option<(u8, Vec<Ipv4Addr>, Vec<Ipv6Addr>)> {
    let (_, _, mut i) = question_any(r)?;
    let an = u16::from_be_bytes([r[6], r[7]]);
    let mut out = Vec::new();
    let mut v6 = Vec::new();
    for _ in 0..an {
        // skip name (pointer or labels)
        loop {
            let l = *r.get(i)?;
            if l & 0xc0 == 0xc0 {
                i += 2;
                break;
            }
            i += 1 + l as usize;
            if l == 0 {
                break;
            }
        }
        let ty = u16::from_be_bytes([*r.get(i)?, *r.get(i + 1)?]);
        let len = u16::from_be_bytes([*r.get(i + 8)?, *r.get(i + 9)?]) as usize;
        let data = r.get(i + 10..i + 10 + len)?;
        if ty == TYPE_A && len == 4 {
            out.push(Ipv4Addr::new(data[0], data[1], data[2], data[3]));
        }
        if ty == TYPE_AAAA && len == 16 {
            v6.push(Ipv6Addr::from(<[u8; 16]>::try_from(data).unwrap()));
        }
        i += 10 + len;
    }
    Some((r[3] & 0x0f, out, v6))
}

fn question_any(r: &[u8]) -> Option<(String, u16, usize)> {
    let mut q = r.to_vec();
    q.get_mut(2).map(|b| *b &= 0x7f)?;
    question(&q)
}

/// A SERVFAIL reply to `query`, when no upstream answered.
fn servfail(query: &[u8]) -> Option<Vec<u8>> {
    let (_, _, end) = question(query)?;
    let mut r = query[..end].to_vec();
    r[2] = 0x80 | (query[2] & 0x01);
    r[3] = 0x82;
    r[6..12].fill(0);
    Some(r)
}

/// Serves DNS on `listen` until `stop_fd` becomes readable. Local names come from `lookup`;
/// other queries are relayed one at a time through `forward` (a socket that may live in another
/// namespace, e.g. the host's, so host-only resolvers such as 127.0.0.53 stay reachable) to
/// the first upstream that answers within 2 s.
pub fn serve(
    listen: &UdpSocket,
    forward: Option<&UdpSocket>,
    upstream: &[SocketAddr],
    lookup: impl Fn(&str) -> Option<Vec<IpAddr>>,
    stop_fd: i32,
) -> io::Result<()> {
    if let Some(f) = forward {
        f.set_read_timeout(Some(Duration::from_secs(2)))?;
    }
    let mut buf = [0u8; 1500];
    let mut rbuf = [0u8; 4096];
    loop {
        let mut fds = [
            libc::pollfd {
                fd: listen.as_raw_fd(),
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
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if fds[1].revents != 0 {
            return Ok(());
        }
        let (len, peer) = match listen.recv_from(&mut buf) {
            Ok(x) => x,
            Err(_) => continue,
        };
        let q = &buf[..len];
        let reply = match answer(q, &lookup) {
            Some(r) => Some(r),
            None => forward
                .and_then(|f| {
                    upstream.iter().find_map(|u| {
                        f.send_to(q, u).ok()?;
                        // Skip stale replies from an earlier, timed-out query.
                        loop {
                            let (n, from) = f.recv_from(&mut rbuf).ok()?;
                            if from == *u && n >= 2 && rbuf[..2] == q[..2] {
                                return Some(rbuf[..n].to_vec());
                            }
                        }
                    })
                })
                .or_else(|| servfail(q)),
        };
        if let Some(r) = reply {
            let _ = listen.send_to(&r, peer);
        }
    }
}

/// A DNS server thread answering on 127.0.0.11:53 inside a sandbox's namespace; stops and
/// joins on drop.
pub struct DnsServer {
    stop_w: i32,
    thread: Option<rawthread::JoinHandle<io::Result<()>>>,
}

impl DnsServer {
    /// Starts the server for `netns` (a sandbox path). `lookup` is consulted per query (the
    /// engine passes a closure reading the network's current endpoints). Upstream queries leave
    /// from the caller's namespace.
    pub fn start(netns: &Path, upstream: Vec<SocketAddr>, lookup: Lookup) -> io::Result<DnsServer> {
        let forward = UdpSocket::bind("0.0.0.0:0")?;
        let listen = crate::netns::run_in(netns, || UdpSocket::bind((EMBEDDED_DNS, 53)))??;
        let mut p = [0i32; 2];
        // SAFETY: p is a valid 2-int array.
        if unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let stop_r = p[0];
        // It runs in the container's monitor, possibly a fork of a multi-threaded process.
        let thread = rawthread::spawn(512 << 10, move || {
            let r = serve(&listen, Some(&forward), &upstream, |n| lookup(n), stop_r);
            // SAFETY: we own the read end of the pipe.
            unsafe { libc::close(stop_r) };
            r
        });
        let thread = match thread {
            Ok(t) => t,
            Err(e) => {
                // SAFETY: both ends are ours and unused.
                unsafe {
                    libc::close(p[0]);
                    libc::close(p[1]);
                }
                return Err(e);
            }
        };
        Ok(DnsServer {
            stop_w: p[1],
            thread: Some(thread),
        })
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        // SAFETY: closing the write end we own wakes the poll (POLLHUP) on the read end.
        unsafe { libc::close(self.stop_w) };
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(n: &str) -> Option<Vec<IpAddr>> {
        match n {
            "web" | "www-alias" => Some(vec![Ipv4Addr::new(10, 0, 0, 2).into()]),
            "dual" => Some(vec![
                Ipv4Addr::new(10, 0, 0, 3).into(),
                "fd39::3".parse::<Ipv6Addr>().unwrap().into(),
            ]),
            _ => None,
        }
    }

    #[test]
    fn aaaa_answers_the_v6_addresses_of_dual_stack_names() {
        let v6: Ipv6Addr = "fd39::3".parse().unwrap();
        let r = answer(&build_query(3, "dual", TYPE_AAAA), lookup).unwrap();
        assert_eq!(parse_reply_all(&r), Some((0, vec![], vec![v6])));
        let r = answer(&build_query(3, "dual", TYPE_A), lookup).unwrap();
        assert_eq!(
            parse_reply_all(&r),
            Some((0, vec![Ipv4Addr::new(10, 0, 0, 3)], vec![]))
        );
        let r = answer(&build_query(3, "dual", TYPE_ANY), lookup).unwrap();
        assert_eq!(
            parse_reply_all(&r),
            Some((0, vec![Ipv4Addr::new(10, 0, 0, 3)], vec![v6]))
        );
    }

    #[test]
    fn answers_names_and_aliases_case_insensitively() {
        for name in ["web", "WWW-Alias.", "Web"] {
            let r = answer(&build_query(7, name, TYPE_A), lookup).unwrap();
            assert_eq!(&r[0..2], &7u16.to_be_bytes());
            assert_eq!(parse_reply(&r), Some((0, vec![Ipv4Addr::new(10, 0, 0, 2)])));
        }
    }

    #[test]
    fn aaaa_for_local_name_is_empty_and_unknown_names_forward() {
        let r = answer(&build_query(1, "web", 28), lookup).unwrap();
        assert_eq!(parse_reply(&r), Some((0, vec![])));
        assert!(answer(&build_query(1, "example.com", TYPE_A), lookup).is_none());
        assert!(answer(&[1, 2, 3], lookup).is_none());
        let s = servfail(&build_query(1, "example.com", TYPE_A)).unwrap();
        assert_eq!(parse_reply(&s), Some((2, vec![])));
    }
}
