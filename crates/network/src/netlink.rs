//! A small synchronous netlink client: one socket, requests batched into one `sendmsg`, completion
//! by kernel ACKs (never sleeps). Used for rtnetlink (links, addresses, routes) and for nf_tables
//! set elements. Hand-rolled on purpose: the handful of messages berth needs are simpler to encode
//! directly than to map through a large generic crate, and it keeps the run path allocation-light.

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

pub const NETLINK_ROUTE: i32 = 0;
pub const NETLINK_NETFILTER: i32 = 12;

pub const NLM_F_REQUEST: u16 = 0x1;
pub const NLM_F_ACK: u16 = 0x4;
pub const NLM_F_DUMP: u16 = 0x300;
pub const NLM_F_EXCL: u16 = 0x200;
pub const NLM_F_CREATE: u16 = 0x400;
pub const NLM_F_REPLACE: u16 = 0x100;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
pub const NLA_F_NESTED: u16 = 1 << 15;

pub const RTM_NEWLINK: u16 = 16;
pub const RTM_DELLINK: u16 = 17;
pub const RTM_GETLINK: u16 = 18;
pub const RTM_NEWADDR: u16 = 20;
pub const RTM_NEWROUTE: u16 = 24;
pub const RTM_GETROUTE: u16 = 26;

pub const IFLA_ADDRESS: u16 = 1;
pub const IFLA_IFNAME: u16 = 3;
pub const IFLA_MASTER: u16 = 10;
pub const IFLA_LINKINFO: u16 = 18;
pub const IFLA_NET_NS_FD: u16 = 28;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const VETH_INFO_PEER: u16 = 1;

pub(crate) const IFA_ADDRESS: u16 = 1;
pub(crate) const IFA_LOCAL: u16 = 2;
const IFA_BROADCAST: u16 = 4;
pub(crate) const RTA_DST: u16 = 1;
pub(crate) const RTA_OIF: u16 = 4;
pub(crate) const RTA_GATEWAY: u16 = 5;
pub(crate) const RTA_TABLE: u16 = 15;
pub(crate) const RT_TABLE_MAIN: u8 = 254;

const IFF_UP: u32 = 0x1;

/// A netlink error: the errno plus the kernel's extended-ACK text when it gave one.
#[derive(Debug)]
pub struct NlError {
    pub errno: i32,
    pub msg: Option<String>,
}

impl NlError {
    pub fn io(&self) -> io::Error {
        io::Error::from_raw_os_error(self.errno)
    }
}

impl std::fmt::Display for NlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.io())?;
        if let Some(m) = &self.msg {
            write!(f, " ({m})")?;
        }
        Ok(())
    }
}

impl From<io::Error> for NlError {
    fn from(e: io::Error) -> Self {
        NlError {
            errno: e.raw_os_error().unwrap_or(libc::EIO),
            msg: Some(e.to_string()),
        }
    }
}

pub type NlResult<T> = Result<T, NlError>;

/// One netlink message under construction.
pub struct Msg {
    buf: Vec<u8>,
    nests: Vec<usize>,
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

impl Msg {
    pub fn new(ty: u16, flags: u16) -> Msg {
        let mut buf = Vec::with_capacity(256);
        buf.extend_from_slice(&0u32.to_ne_bytes()); // len, patched in finish
        buf.extend_from_slice(&ty.to_ne_bytes());
        buf.extend_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes()); // seq
        buf.extend_from_slice(&0u32.to_ne_bytes()); // pid
        Msg {
            buf,
            nests: Vec::new(),
        }
    }

    fn flags(&self) -> u16 {
        u16::from_ne_bytes([self.buf[6], self.buf[7]])
    }

    /// Appends a fixed header (ifinfomsg, rtmsg, nfgenmsg...), padded to 4 bytes.
    pub fn raw(&mut self, data: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(data);
        self.buf.resize(align4(self.buf.len()), 0);
        self
    }

    pub fn attr(&mut self, ty: u16, data: &[u8]) -> &mut Self {
        let len = (4 + data.len()) as u16;
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.raw(data)
    }

    pub fn attr_u32(&mut self, ty: u16, v: u32) -> &mut Self {
        self.attr(ty, &v.to_ne_bytes())
    }

    pub fn attr_str(&mut self, ty: u16, s: &str) -> &mut Self {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        self.attr(ty, &v)
    }

    pub fn nest(&mut self, ty: u16) -> &mut Self {
        self.nest_raw(ty | NLA_F_NESTED)
    }

    /// A container attribute without NLA_F_NESTED: for payloads that start with a struct, like
    /// VETH_INFO_PEER (ifinfomsg + attributes), which the kernel rejects when flagged nested.
    pub fn nest_raw(&mut self, ty: u16) -> &mut Self {
        self.nests.push(self.buf.len());
        self.buf.extend_from_slice(&0u16.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self
    }

    pub fn end(&mut self) -> &mut Self {
        let start = self.nests.pop().expect("unbalanced netlink nest");
        let len = (self.buf.len() - start) as u16;
        self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
        self
    }

    fn finish(&mut self, seq: u32) {
        debug_assert!(self.nests.is_empty());
        let len = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        self.buf[8..12].copy_from_slice(&seq.to_ne_bytes());
    }
}

/// Parses a run of netlink attributes into (type without flags, payload).
pub fn attrs(mut b: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while b.len() >= 4 {
        let len = u16::from_ne_bytes([b[0], b[1]]) as usize;
        let ty = u16::from_ne_bytes([b[2], b[3]]) & 0x3fff;
        if len < 4 || len > b.len() {
            break;
        }
        out.push((ty, &b[4..len]));
        b = &b[align4(len).min(b.len())..];
    }
    out
}

/// A netlink socket of one protocol, bound to the network namespace it was created in.
pub struct Netlink {
    fd: OwnedFd,
    seq: u32,
    buf: Vec<u8>,
}

impl Netlink {
    pub fn open(proto: i32) -> io::Result<Netlink> {
        Self::open_groups(proto, 0)
    }

    /// A socket that also receives the multicast `groups` (e.g. RTMGRP_LINK = 1 for link
    /// events), read with [`next_events`](Self::next_events).
    pub fn open_groups(proto: i32, groups: u32) -> io::Result<Netlink> {
        // SAFETY: plain socket(2); the result is checked and owned immediately.
        let fd =
            unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, proto) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: sockaddr_nl is plain data; zeroed means "kernel assigns the port id".
        let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        sa.nl_family = libc::AF_NETLINK as u16;
        sa.nl_groups = groups;
        // SAFETY: sa is a valid sockaddr_nl of the given size.
        let r = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                &sa as *const _ as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_nl>() as u32,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        // Extended ACKs give readable reasons ("Invalid argument (Nexthop has invalid gateway)");
        // CAP_ACK keeps ACKs short. Both are best effort.
        for opt in [11 /* NETLINK_EXT_ACK */, 10 /* NETLINK_CAP_ACK */] {
            let one: libc::c_int = 1;
            // SAFETY: setsockopt with a valid int pointer and size.
            unsafe {
                libc::setsockopt(
                    fd.as_raw_fd(),
                    270, /* SOL_NETLINK */
                    opt,
                    &one as *const _ as *const libc::c_void,
                    4,
                )
            };
        }
        Ok(Netlink {
            fd,
            seq: rand::random::<u32>() >> 1,
            buf: vec![0; 64 * 1024],
        })
    }

    fn send(&mut self, msgs: &mut [Msg]) -> NlResult<Vec<u32>> {
        let mut out = Vec::new();
        let mut seqs = Vec::new();
        for m in msgs.iter_mut() {
            self.seq = self.seq.wrapping_add(1);
            m.finish(self.seq);
            seqs.push(self.seq);
            out.extend_from_slice(&m.buf);
        }
        // SAFETY: out is a valid buffer; the socket is bound, so send goes to the kernel (port 0).
        let n = unsafe { libc::send(self.fd.as_raw_fd(), out.as_ptr().cast(), out.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error().into());
        }
        Ok(seqs)
    }

    fn recv(&mut self) -> NlResult<usize> {
        loop {
            // SAFETY: recv into our owned buffer of the stated length.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    self.buf.as_mut_ptr().cast(),
                    self.buf.len(),
                    0,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e.into());
            }
            return Ok(n as usize);
        }
    }

    /// Waits for the next datagram (at most `timeout`) and returns its messages as
    /// (type, payload). Times out with `ErrorKind::WouldBlock`.
    pub fn next_events(&mut self, timeout: std::time::Duration) -> NlResult<Vec<(u16, Vec<u8>)>> {
        let tv = libc::timeval {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_usec: timeout.subsec_micros() as libc::suseconds_t,
        };
        // SAFETY: setsockopt with a valid timeval of the stated size.
        unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                &tv as *const _ as *const libc::c_void,
                std::mem::size_of::<libc::timeval>() as u32,
            )
        };
        let n = self.recv()?;
        Ok(split(&self.buf[..n])
            .into_iter()
            .map(|(t, _, p)| (t, p.to_vec()))
            .collect())
    }

    /// Sends all messages in one datagram and waits for the ACK of every message that asked
    /// for one. Returns, per message, `Ok` or its error (so callers can ignore e.g. ENOENT).
    pub fn transact(&mut self, msgs: &mut [Msg]) -> NlResult<Vec<NlResult<()>>> {
        let want: Vec<bool> = msgs.iter().map(|m| m.flags() & NLM_F_ACK != 0).collect();
        let seqs = self.send(msgs)?;
        let mut results: Vec<Option<NlResult<()>>> = want
            .iter()
            .map(|w| if *w { None } else { Some(Ok(())) })
            .collect();
        while results.iter().any(|r| r.is_none()) {
            let n = self.recv()?;
            for (ty, seq, payload) in split(&self.buf[..n]) {
                if ty != NLMSG_ERROR {
                    continue;
                }
                if let Some(i) = seqs.iter().position(|s| *s == seq) {
                    results[i] = Some(parse_err(payload));
                }
            }
        }
        Ok(results.into_iter().map(|r| r.unwrap()).collect())
    }

    /// Like [`transact`](Self::transact) but fails on the first error.
    pub fn exec(&mut self, msgs: &mut [Msg]) -> NlResult<()> {
        for r in self.transact(msgs)? {
            r?;
        }
        Ok(())
    }

    /// Sends one request and collects the payloads of all replies (dump or single answer).
    pub fn query(&mut self, mut msg: Msg) -> NlResult<Vec<(u16, Vec<u8>)>> {
        let dump = msg.flags() & NLM_F_DUMP == NLM_F_DUMP;
        let seq = self.send(std::slice::from_mut(&mut msg))?[0];
        let mut out = Vec::new();
        loop {
            let n = self.recv()?;
            let mut done = false;
            for (ty, s, payload) in split(&self.buf[..n]) {
                if s != seq {
                    continue;
                }
                match ty {
                    NLMSG_DONE => done = true,
                    NLMSG_ERROR => {
                        parse_err(payload)?;
                        done = true;
                    }
                    _ => {
                        out.push((ty, payload.to_vec()));
                        if !dump {
                            done = true;
                        }
                    }
                }
            }
            if done {
                return Ok(out);
            }
        }
    }
}

fn split(mut b: &[u8]) -> Vec<(u16, u32, &[u8])> {
    let mut out = Vec::new();
    while b.len() >= 16 {
        let len = u32::from_ne_bytes(b[0..4].try_into().unwrap()) as usize;
        if len < 16 || len > b.len() {
            break;
        }
        let ty = u16::from_ne_bytes([b[4], b[5]]);
        let seq = u32::from_ne_bytes(b[8..12].try_into().unwrap());
        out.push((ty, seq, &b[16..len]));
        b = &b[align4(len).min(b.len())..];
    }
    out
}

fn parse_err(p: &[u8]) -> NlResult<()> {
    if p.len() < 4 {
        return Err(NlError {
            errno: libc::EIO,
            msg: Some("short netlink error message".into()),
        });
    }
    let code = i32::from_ne_bytes(p[0..4].try_into().unwrap());
    if code == 0 {
        return Ok(());
    }
    // With CAP_ACK the original header (16 bytes) follows, then the ext-ack TLVs.
    let mut msg = None;
    // NETLINK_CAP_ACK is set: only the 16-byte header of the request is echoed, then ext-ack TLVs.
    if p.len() > 20 {
        for (ty, v) in attrs(&p[20..]) {
            if ty == 1 {
                // NLMSGERR_ATTR_MSG
                msg = Some(
                    String::from_utf8_lossy(v)
                        .trim_end_matches('\0')
                        .to_string(),
                );
            }
        }
    }
    Err(NlError { errno: -code, msg })
}

// ---- rtnetlink helpers ----

fn ifinfomsg(index: i32, flags: u32, change: u32) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[0] = libc::AF_UNSPEC as u8;
    b[4..8].copy_from_slice(&index.to_ne_bytes());
    b[8..12].copy_from_slice(&flags.to_ne_bytes());
    b[12..16].copy_from_slice(&change.to_ne_bytes());
    b
}

/// RTM_NEWLINK creating a bridge, up, with a fixed MAC (so it does not follow its ports' MACs).
pub fn new_bridge(name: &str, mac: [u8; 6]) -> Msg {
    let mut m = Msg::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK);
    m.raw(&ifinfomsg(0, IFF_UP, IFF_UP))
        .attr_str(IFLA_IFNAME, name)
        .attr(IFLA_ADDRESS, &mac)
        .nest(IFLA_LINKINFO)
        .attr_str(IFLA_INFO_KIND, "bridge")
        .end();
    m
}

/// RTM_NEWLINK creating a veth pair: `host` enslaved to `master` and up; the peer created directly
/// inside the namespace `netns_fd` as `peer` with `mac` (down: bring it up from inside). No rename or move step needed.
pub fn new_veth(host: &str, master: u32, peer: &str, mac: [u8; 6], netns_fd: i32) -> Msg {
    let mut m = Msg::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK);
    m.raw(&ifinfomsg(0, IFF_UP, IFF_UP))
        .attr_str(IFLA_IFNAME, host)
        .attr_u32(IFLA_MASTER, master)
        .nest(IFLA_LINKINFO)
        .attr_str(IFLA_INFO_KIND, "veth")
        .nest(IFLA_INFO_DATA)
        .nest_raw(VETH_INFO_PEER)
        // Not up here: veth_open fails with ENOTCONN until both ends are paired.
        .raw(&ifinfomsg(0, 0, 0))
        .attr_str(IFLA_IFNAME, peer)
        .attr(IFLA_ADDRESS, &mac)
        .attr_u32(IFLA_NET_NS_FD, netns_fd as u32)
        .end()
        .end()
        .end();
    m
}

pub fn del_link(name: &str) -> Msg {
    let mut m = Msg::new(RTM_DELLINK, NLM_F_ACK);
    m.raw(&ifinfomsg(0, 0, 0)).attr_str(IFLA_IFNAME, name);
    m
}

pub fn set_up(name: &str) -> Msg {
    let mut m = Msg::new(RTM_NEWLINK, NLM_F_ACK);
    m.raw(&ifinfomsg(0, IFF_UP, IFF_UP))
        .attr_str(IFLA_IFNAME, name);
    m
}

pub fn get_link(name: &str) -> Msg {
    let mut m = Msg::new(RTM_GETLINK, 0);
    m.raw(&ifinfomsg(0, 0, 0)).attr_str(IFLA_IFNAME, name);
    m
}

/// Name of the interface in an RTM_NEWLINK/RTM_DELLINK payload.
pub fn link_name(payload: &[u8]) -> Option<String> {
    attrs(payload.get(16..)?)
        .into_iter()
        .find(|(t, _)| *t == IFLA_IFNAME)
        .map(|(_, v)| {
            String::from_utf8_lossy(v)
                .trim_end_matches('\0')
                .to_string()
        })
}

/// Index of the interface from an RTM_NEWLINK reply payload.
pub fn link_index(payload: &[u8]) -> Option<u32> {
    (payload.len() >= 16).then(|| i32::from_ne_bytes(payload[4..8].try_into().unwrap()) as u32)
}

pub fn new_addr(index: u32, ip: Ipv4Addr, prefix: u8) -> Msg {
    let mut m = Msg::new(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK);
    let mut h = [0u8; 8];
    h[0] = libc::AF_INET as u8;
    h[1] = prefix;
    h[4..8].copy_from_slice(&index.to_ne_bytes());
    let bcast = if prefix < 31 {
        Ipv4Addr::from(u32::from(ip) | (u32::MAX >> prefix))
    } else {
        ip
    };
    m.raw(&h)
        .attr(IFA_LOCAL, &ip.octets())
        .attr(IFA_ADDRESS, &ip.octets())
        .attr(IFA_BROADCAST, &bcast.octets());
    m
}

pub fn new_default_route(gateway: Ipv4Addr, oif: u32) -> Msg {
    let mut m = Msg::new(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK);
    // rtmsg: family, dst_len, src_len, tos, table, protocol (boot), scope (universe), type (unicast)
    let h = [
        libc::AF_INET as u8,
        0,
        0,
        0,
        RT_TABLE_MAIN,
        3,
        0,
        1,
        0,
        0,
        0,
        0,
    ];
    m.raw(&h)
        .attr(RTA_GATEWAY, &gateway.octets())
        .attr_u32(RTA_OIF, oif);
    m
}

/// IPv4 destinations (network, prefix length) of the main routing table, default route excluded.
pub fn ipv4_routes(nl: &mut Netlink) -> NlResult<Vec<(Ipv4Addr, u8)>> {
    let mut m = Msg::new(RTM_GETROUTE, NLM_F_DUMP);
    m.raw(&[libc::AF_INET as u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    let mut out = Vec::new();
    for (_, p) in nl.query(m)? {
        if p.len() < 12 || p[0] != libc::AF_INET as u8 {
            continue;
        }
        let dst_len = p[1];
        let mut table = p[4] as u32;
        let mut dst = None;
        for (ty, v) in attrs(&p[12..]) {
            match ty {
                RTA_DST if v.len() == 4 => dst = Some(Ipv4Addr::new(v[0], v[1], v[2], v[3])),
                RTA_TABLE if v.len() == 4 => table = u32::from_ne_bytes(v.try_into().unwrap()),
                _ => {}
            }
        }
        if table != RT_TABLE_MAIN as u32 || dst_len == 0 {
            continue;
        }
        if let Some(d) = dst {
            out.push((d, dst_len));
        }
    }
    Ok(out)
}
