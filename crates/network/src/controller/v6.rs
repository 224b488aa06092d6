//! The IPv6 half of dual-stack networks (`network create --ipv6 --subnet fd..::/64`): the v6
//! pool of a network, its validation at create time, and the v6 nf_tables elements of an
//! endpoint. Kernel objects are made by the controller next to their v4 counterparts.

use super::*;
use crate::ipam6::{self, Ipv6Net, Pool6};
use crate::nft6;
use std::net::{IpAddr, Ipv6Addr};

/// A network's v6 configuration and allocations (persisted in its state file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct V6 {
    pub subnet: Ipv6Net,
    pub gateway: Ipv6Addr,
    pub pool: Pool6,
}

/// Docker's message when `--ipv6` comes without a v6 `--subnet` and no default v6 pool exists
/// (dockerd 20.10 has none by default; berth has none either).
pub(crate) const NO_V6_POOL: &str =
    "could not find an available, non-overlapping IPv6 address pool among the defaults to assign to the network";

/// Validates the v6 options of `network create` against the other networks of this root and
/// the host's v6 routes (which include other roots' dual-stack bridges).
pub(crate) fn plan(
    opts: &NetworkOptions,
    all: &[NetState],
    host_routes: &[(Ipv6Addr, u8)],
) -> Result<Option<V6>> {
    if !opts.ipv6 {
        if let Some(s) = opts.subnet6 {
            return Err(Error::Invalid(format!(
                "--subnet {s} is an IPv6 subnet: pass --ipv6 to enable IPv6 on the network"
            )));
        }
        if let Some(g) = opts.gateway6 {
            return Err(Error::Invalid(format!(
                "--gateway {g} is an IPv6 address: pass --ipv6 and an IPv6 --subnet"
            )));
        }
        return Ok(None);
    }
    let Some(subnet) = opts.subnet6 else {
        return Err(Error::Invalid(NO_V6_POOL.into()));
    };
    ipam6::check_subnet(&subnet).map_err(Error::Invalid)?;
    if let Some(n) = all
        .iter()
        .find(|n| n.v6.as_ref().is_some_and(|v| v.subnet.overlaps(&subnet)))
    {
        return Err(Error::Conflict(format!(
            "Pool overlaps with other one on this address space: subnet {subnet} overlaps with network {} ({})",
            n.name,
            n.v6.as_ref().unwrap().subnet
        )));
    }
    if let Some(r) = host_routes
        .iter()
        .filter_map(|(a, p)| Ipv6Net::new(*a, *p).ok())
        .find(|r| r.overlaps(&subnet))
    {
        return Err(Error::Conflict(format!(
            "subnet {subnet} overlaps with a route to {r} on the host; choose another --subnet"
        )));
    }
    let gateway = match opts.gateway6 {
        Some(g) if !subnet.contains(g) || u128::from(g) == subnet.first() => {
            return Err(Error::Invalid(format!(
                "gateway {g} is not a host address of subnet {subnet}"
            )))
        }
        Some(g) => g,
        None => Ipv6Addr::from(subnet.first() + 1),
    };
    let mut pool = Pool6::default();
    pool.allocated.insert(gateway);
    Ok(Some(V6 {
        subnet,
        gateway,
        pool,
    }))
}

/// The v6 elements of an endpoint's published ports: DNAT on the host's v6 addresses for
/// `-p PORT` and `-p [V6ADDR]:PORT`, and the hairpin element. `[::1]` is the userland proxy's
/// (the kernel cannot DNAT it); v4 host addresses are the v4 table's.
pub(crate) fn port_elems6(ep: &Endpoint) -> Vec<Elem> {
    let Some(cip) = ep.ipv6 else {
        return Vec::new();
    };
    let mut v: Vec<Elem> = ep
        .ports
        .iter()
        .filter_map(|p| {
            match p.host_ip {
                None => Some(None),
                Some(IpAddr::V6(h)) if h.is_unspecified() => Some(None),
                Some(IpAddr::V6(h)) if !h.is_loopback() => Some(Some(h)),
                _ => None,
            }
            .map(|h| nft6::port_elem6(h, p.proto.number(), p.host_port, cip, p.container_port))
        })
        .collect();
    if !v.is_empty() {
        v.push(nft6::hairpin_elem6(cip));
    }
    v
}

/// On a dual-stack network `-p P:C` (TCP) is also served on `[::1]:P` by the monitor's proxy
/// ([`crate::proxy6`]): that port must be free there too, or the proxy could not listen.
pub(crate) fn check_loopback6(st: &NetState, ports: &[PortBinding]) -> Result<()> {
    if st.v6.is_none() {
        return Ok(());
    }
    for p in ports
        .iter()
        .filter(|p| p.host_ip.is_none() && p.proto == crate::Proto::Tcp)
    {
        let mut b = *p;
        b.host_ip = Some(IpAddr::V6(Ipv6Addr::LOCALHOST));
        crate::ports::reserve_host_port(&b).map_err(Error::Conflict)?;
    }
    Ok(())
}

/// Refuses bindings this endpoint cannot serve: a v6 host address (other than `::1`, which
/// the proxy forwards to any container address) needs the container to have a v6 address.
pub(crate) fn check_bindings(st: &NetState, ports: &[PortBinding]) -> Result<()> {
    for p in ports {
        if let Some(IpAddr::V6(h)) = p.host_ip {
            if st.v6.is_none() && !h.is_loopback() {
                return Err(Error::Invalid(format!(
                    "cannot publish on IPv6 host address [{h}]:{} on network {}: it has no IPv6 (create it with --ipv6)",
                    p.host_port, st.name
                )));
            }
        }
    }
    Ok(())
}
