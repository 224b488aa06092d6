//! IPv6 rtnetlink messages for dual-stack networks: addresses (without duplicate address
//! detection, as Docker adds them, so they are usable at once), the default route, and the
//! host's v6 routes (to refuse a subnet the host already routes).

use crate::netlink::{
    attrs, Msg, Netlink, NlResult, IFA_ADDRESS, IFA_LOCAL, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP,
    NLM_F_EXCL, RTA_DST, RTA_GATEWAY, RTA_OIF, RTA_TABLE, RTM_GETROUTE, RTM_NEWADDR, RTM_NEWROUTE,
    RT_TABLE_MAIN,
};
use std::net::Ipv6Addr;

const IFA_F_NODAD: u8 = 0x02;

pub fn new_addr6(index: u32, ip: Ipv6Addr, prefix: u8) -> Msg {
    let mut m = Msg::new(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK);
    // ifaddrmsg: family, prefixlen, flags, scope (universe), index
    let mut h = [0u8; 8];
    h[0] = libc::AF_INET6 as u8;
    h[1] = prefix;
    h[2] = IFA_F_NODAD;
    h[4..8].copy_from_slice(&index.to_ne_bytes());
    m.raw(&h)
        .attr(IFA_LOCAL, &ip.octets())
        .attr(IFA_ADDRESS, &ip.octets());
    m
}

pub fn new_default_route6(gateway: Ipv6Addr, oif: u32) -> Msg {
    let mut m = Msg::new(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK);
    // rtmsg: family, dst_len, src_len, tos, table, protocol (boot), scope (universe), type (unicast)
    let h = [
        libc::AF_INET6 as u8,
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

/// IPv6 destinations (network, prefix length) of the main table, excluding the default route,
/// link-local, multicast and host (/128) routes.
pub fn ipv6_routes(nl: &mut Netlink) -> NlResult<Vec<(Ipv6Addr, u8)>> {
    let mut m = Msg::new(RTM_GETROUTE, NLM_F_DUMP);
    m.raw(&[libc::AF_INET6 as u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    let mut out = Vec::new();
    for (_, p) in nl.query(m)? {
        if p.len() < 12 || p[0] != libc::AF_INET6 as u8 {
            continue;
        }
        let dst_len = p[1];
        let mut table = p[4] as u32;
        let mut dst = None;
        for (ty, v) in attrs(&p[12..]) {
            match ty {
                RTA_DST if v.len() == 16 => {
                    dst = Some(Ipv6Addr::from(<[u8; 16]>::try_from(v).unwrap()))
                }
                RTA_TABLE if v.len() == 4 => table = u32::from_ne_bytes(v.try_into().unwrap()),
                _ => {}
            }
        }
        if table != RT_TABLE_MAIN as u32 || dst_len == 0 || dst_len == 128 {
            continue;
        }
        if let Some(d) = dst {
            if d.is_multicast() || (d.segments()[0] & 0xffc0) == 0xfe80 {
                continue;
            }
            out.push((d, dst_len));
        }
    }
    Ok(out)
}
