//! berth's nftables table.
//!
//! Everything lives in `table ip berth`. Its rules never change per container or per network:
//! they consult sets and maps, and only *elements* are added and removed on the run path, through
//! one nf_tables netlink batch (no subprocess):
//!
//! * `bridges` / `internal` (`ifname`): berth's bridge devices (NAT'd / internal networks);
//! * `same` (`ifname . ifname`): `BR . BR` for each bridge: "this packet stays on its bridge";
//! * `ports_any` (`inet_proto . inet_service : ipv4_addr . inet_service`): `-p PORT:CPORT`;
//! * `ports_ip` (`ipv4_addr . inet_proto . inet_service : ...`): `-p IP:PORT:CPORT`;
//! * `hairpin` (`ipv4_addr . ipv4_addr`): `CIP . CIP` for each container publishing ports.
//!
//! The rules themselves are installed by one `nft -f -` the first time a network is created (the
//! script is idempotent and atomic: `add` + `flush chain` + rules in one transaction, so
//! concurrent berth processes cannot duplicate rules and existing elements survive). Writing
//! nf_tables expressions by hand over netlink was not worth it for a once-per-boot step.
//!
//! DNAT runs in `prerouting` (traffic from other hosts and from containers, which gives hairpin)
//! and in `output` (the host itself, including 127.0.0.1 thanks to `route_localnet=1` on the
//! bridge). Masquerade covers traffic leaving a bridge for elsewhere, traffic from 127.0.0.0/8
//! going into a bridge, and hairpin: DNAT'd traffic from a container to itself. The hairpin rule
//! matches on addresses, not interfaces, because with br_netfilter loaded such a packet is
//! bridged back out of its port and the postrouting hook sees no input interface.
//!
//! Isolation (Docker's DOCKER-ISOLATION-STAGE-1/2 and its FORWARD policy, in the `isolation`
//! chain): a connection may enter a bridge from another interface only as a reply or when it was
//! DNAT'd to a published port, so containers on different networks (of any berth root: all
//! share this table) cannot reach each other, nor can other hosts reach unpublished container
//! ports, while a container still reaches another network's published port through a host
//! address, as with Docker. Bridged traffic between ports of one bridge reaches the forward hook
//! too when br_netfilter is loaded, with the bridge as both input and output interface: the
//! `same` set exempts it (nft cannot compare two interface names directly). An internal
//! bridge's traffic may not leave it at all, and towards the host only its own addresses (the
//! gateway) are reachable, not the host's other addresses (`input`). The rules only apply to
//! bridges registered in `same`, so networks made by an older berth (whose script flushes
//! `forward` and knows no `same`) never lose their own traffic; [`ensure_table`] registers the
//! bridges it finds. Elements go with their network; the rules are inert without them.

use crate::netlink::{
    Msg, Netlink, NlResult, NETLINK_NETFILTER, NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL,
};
use std::io::Write;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

pub const TABLE: &str = "berth";

const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;
const NFT_MSG_NEWSETELEM: u16 = 12;
const NFT_MSG_DELSETELEM: u16 = 14;
pub(crate) const NFPROTO_IPV4: u8 = 2;

const SCRIPT: &str = r#"
add table ip berth
add set ip berth bridges { type ifname; }
add set ip berth internal { type ifname; }
add set ip berth same { type ifname . ifname; }
add set ip berth hairpin { type ipv4_addr . ipv4_addr; }
add map ip berth ports_any { type inet_proto . inet_service : ipv4_addr . inet_service; }
add map ip berth ports_ip { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }
add chain ip berth publish
add chain ip berth prerouting { type nat hook prerouting priority dstnat; policy accept; }
add chain ip berth output { type nat hook output priority -100; policy accept; }
add chain ip berth postrouting { type nat hook postrouting priority srcnat; policy accept; }
add chain ip berth forward { type filter hook forward priority filter; policy accept; }
add chain ip berth isolation { type filter hook forward priority filter; policy accept; }
add chain ip berth input { type filter hook input priority filter; policy accept; }
flush chain ip berth publish
flush chain ip berth prerouting
flush chain ip berth output
flush chain ip berth postrouting
flush chain ip berth forward
flush chain ip berth isolation
flush chain ip berth input
add rule ip berth publish dnat ip addr . port to ip daddr . meta l4proto . th dport map @ports_ip
add rule ip berth publish dnat ip addr . port to meta l4proto . th dport map @ports_any
add rule ip berth prerouting fib daddr type local jump publish
add rule ip berth output fib daddr type local jump publish
add rule ip berth postrouting iifname @bridges oifname != @bridges masquerade
add rule ip berth postrouting oifname @bridges ip saddr 127.0.0.0/8 masquerade
add rule ip berth postrouting ct status dnat ip saddr . ip daddr @hairpin masquerade
add rule ip berth forward iifname @internal oifname != @internal drop
add rule ip berth forward oifname @internal iifname != @internal drop
add rule ip berth isolation iifname @internal iifname . iifname @same iifname . oifname != @same drop
add rule ip berth isolation oifname @internal oifname . oifname @same iifname . oifname != @same drop
add rule ip berth isolation oifname . oifname @same iifname . oifname != @same ct state != { established, related } ct status & dnat == 0 drop
add rule ip berth input iifname @internal fib daddr . iif type != { local, broadcast, multicast } drop
"#;

/// Revision of the table's rules and sets (`SCRIPT`). A network whose state records an older
/// one makes its next join reinstall them (see `NetworkController::join`).
pub const REV: u32 = 2;

/// `same` elements for the bridges already registered in a table made by an older revision
/// (which had no `same` set): without them, the isolation rules would cut containers on those
/// networks off from each other until each network is used again. Every root's bridges are
/// there, so one migration covers them all.
fn migration() -> String {
    let Ok(out) = Command::new("nft")
        .args(["-j", "list", "table", "ip", TABLE])
        .stderr(Stdio::null())
        .output()
    else {
        return String::new();
    };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&out.stdout) else {
        return String::new();
    };
    let mut names = Vec::new();
    for o in v["nftables"].as_array().into_iter().flatten() {
        let set = &o["set"];
        if set["name"] == "bridges" || set["name"] == "internal" {
            names.extend(
                set["elem"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|e| e.as_str())
                    .filter(|n| valid_ifname(n))
                    .map(str::to_string),
            );
        }
    }
    names
        .iter()
        .map(|n| format!("add element ip berth same {{ \"{n}\" . \"{n}\" }}\n"))
        .collect()
}

pub(crate) fn valid_ifname(n: &str) -> bool {
    !n.is_empty()
        && n.len() < 16
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-@".contains(&b))
}

/// Installs (or repairs, or upgrades) the table and its rules with one `nft -f -`.
pub fn ensure_table() -> Result<(), String> {
    run_script(&format!("{SCRIPT}{}", migration()), "ip")
}

/// Runs one `nft -f -` script (one transaction) installing `table FAMILY berth`.
pub(crate) fn run_script(script: &str, family: &str) -> Result<(), String> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run nft (install the nftables package): {e}"))?;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .map_err(|e| format!("writing to nft: {e}"))?;
    let out = child.wait_with_output().map_err(|e| format!("nft: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "nft failed to install table {family} {TABLE}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

/// One set/map element: which set, its key and (for maps) its data, already encoded.
#[derive(Debug, Clone, PartialEq)]
pub struct Elem {
    /// NFPROTO_IPV4 (`table ip berth`) or NFPROTO_IPV6 (`table ip6 berth`, see `nft6`).
    pub family: u8,
    pub set: &'static str,
    pub key: Vec<u8>,
    pub data: Option<Vec<u8>>,
}

/// Concatenated set keys put every field in a 4-byte-aligned register slot.
pub(crate) fn pad4(v: &mut Vec<u8>, field: &[u8]) {
    v.extend_from_slice(field);
    while !v.len().is_multiple_of(4) {
        v.push(0);
    }
}

/// Sets that hold one element per network (its bridge), as opposed to per container.
pub const BRIDGE_SETS: [&str; 3] = ["bridges", "internal", "same"];

/// A network's registration: its bridge in `bridges` or `internal`, and `bridge . bridge` in
/// `same` (traffic that stays on that bridge is exempt from the isolation rules).
pub fn bridge_elems(internal: bool, ifname: &str) -> Vec<Elem> {
    let mut name = ifname.as_bytes().to_vec();
    name.resize(16, 0); // IFNAMSIZ
    let mut pair = name.clone();
    pair.extend_from_slice(&name);
    vec![
        Elem {
            family: NFPROTO_IPV4,
            set: if internal { "internal" } else { "bridges" },
            key: name,
            data: None,
        },
        Elem {
            family: NFPROTO_IPV4,
            set: "same",
            key: pair,
            data: None,
        },
    ]
}

/// A published port: `host_ip` None means every host address (`ports_any`).
pub fn port_elem(
    host_ip: Option<Ipv4Addr>,
    proto: u8,
    host_port: u16,
    cip: Ipv4Addr,
    cport: u16,
) -> Elem {
    let mut key = Vec::with_capacity(12);
    if let Some(ip) = host_ip {
        pad4(&mut key, &ip.octets());
    }
    pad4(&mut key, &[proto]);
    pad4(&mut key, &host_port.to_be_bytes());
    let mut data = Vec::with_capacity(8);
    pad4(&mut data, &cip.octets());
    pad4(&mut data, &cport.to_be_bytes());
    Elem {
        family: NFPROTO_IPV4,
        set: if host_ip.is_some() {
            "ports_ip"
        } else {
            "ports_any"
        },
        key,
        data: Some(data),
    }
}

/// Masquerades a container's traffic to itself through one of its published ports.
pub fn hairpin_elem(cip: Ipv4Addr) -> Elem {
    let mut key = cip.octets().to_vec();
    key.extend_from_slice(&cip.octets());
    Elem {
        family: NFPROTO_IPV4,
        set: "hairpin",
        key,
        data: None,
    }
}

fn nfgen(family: u8, res_id: u16) -> [u8; 4] {
    let r = res_id.to_be_bytes();
    [family, 0, r[0], r[1]]
}

fn elem_msg(add: bool, e: &Elem) -> Msg {
    let (ty, flags) = if add {
        (NFT_MSG_NEWSETELEM, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK)
    } else {
        (NFT_MSG_DELSETELEM, NLM_F_ACK)
    };
    let mut m = Msg::new((NFNL_SUBSYS_NFTABLES << 8) | ty, flags);
    m.raw(&nfgen(e.family, 0))
        .attr_str(1, TABLE) // NFTA_SET_ELEM_LIST_TABLE
        .attr_str(2, e.set) // NFTA_SET_ELEM_LIST_SET
        .nest(3) // NFTA_SET_ELEM_LIST_ELEMENTS
        .nest(1) // NFTA_LIST_ELEM
        .nest(1) // NFTA_SET_ELEM_KEY
        .attr(1, &e.key) // NFTA_DATA_VALUE
        .end();
    if let Some(d) = &e.data {
        m.nest(2).attr(1, d).end(); // NFTA_SET_ELEM_DATA
    }
    m.end().end();
    m
}

/// Adds (or deletes) elements in one atomic nf_tables batch. Returns one result per element;
/// the batch is all-or-nothing in the kernel, so on any error nothing was changed.
pub fn apply(nl: &mut Netlink, add: bool, elems: &[Elem]) -> NlResult<Vec<NlResult<()>>> {
    if elems.is_empty() {
        return Ok(Vec::new());
    }
    let mut msgs = Vec::with_capacity(elems.len() + 2);
    let mut b = Msg::new(NFNL_MSG_BATCH_BEGIN, 0);
    b.raw(&nfgen(0, NFNL_SUBSYS_NFTABLES));
    msgs.push(b);
    msgs.extend(elems.iter().map(|e| elem_msg(add, e)));
    let mut e = Msg::new(NFNL_MSG_BATCH_END, 0);
    e.raw(&nfgen(0, NFNL_SUBSYS_NFTABLES));
    msgs.push(e);
    let mut r = nl.transact(&mut msgs)?;
    r.pop();
    let _ = r.remove(0);
    Ok(r)
}

pub fn open() -> std::io::Result<Netlink> {
    Netlink::open(NETLINK_NETFILTER)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_keys_are_register_aligned() {
        let e = port_elem(None, 6, 8080, Ipv4Addr::new(10, 0, 0, 2), 80);
        assert_eq!(e.set, "ports_any");
        assert_eq!(e.key, vec![6, 0, 0, 0, 0x1f, 0x90, 0, 0]);
        assert_eq!(e.data.unwrap(), vec![10, 0, 0, 2, 0, 80, 0, 0]);
        let e = port_elem(
            Some(Ipv4Addr::LOCALHOST),
            17,
            53,
            Ipv4Addr::new(10, 0, 0, 2),
            53,
        );
        assert_eq!(e.set, "ports_ip");
        assert_eq!(e.key, vec![127, 0, 0, 1, 17, 0, 0, 0, 0, 53, 0, 0]);
    }
}
