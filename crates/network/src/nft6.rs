//! `table ip6 berth`: NAT66, published ports and isolation for dual-stack networks.
//!
//! The same design as [`crate::nft`] (rules fixed, installed once by an idempotent `nft -f -`;
//! only set and map *elements* change per network and container, over nf_tables netlink), with
//! IPv6 keys. Only dual-stack bridges are registered here:
//!
//! * masquerade (NAT66) for traffic leaving a bridge for elsewhere, and hairpin;
//! * DNAT of published ports on the host's v6 addresses (`-p PORT:CPORT` answers on every
//!   host address, v6 included, like dockerd 20.10 with its `::` binding; `-p [ADDR]:...`
//!   only on ADDR) to the container's v6 address;
//! * the isolation and `--internal` rules of the v4 table, for v6.
//!
//! The kernel cannot DNAT `::1` out of the loopback interface (there is no IPv6
//! `route_localnet`: such packets are dropped), so `[::1]` bindings are served by a userland
//! proxy instead (see [`crate::proxy6`]), as dockerd's docker-proxy serves them.

use crate::nft::{pad4, run_script, Elem, TABLE};
use std::net::Ipv6Addr;

pub(crate) const NFPROTO_IPV6: u8 = 10;

const SCRIPT: &str = r#"
add table ip6 berth
add set ip6 berth bridges { type ifname; }
add set ip6 berth internal { type ifname; }
add set ip6 berth same { type ifname . ifname; }
add set ip6 berth hairpin { type ipv6_addr . ipv6_addr; }
add map ip6 berth ports_any { type inet_proto . inet_service : ipv6_addr . inet_service; }
add map ip6 berth ports_ip { type ipv6_addr . inet_proto . inet_service : ipv6_addr . inet_service; }
add chain ip6 berth publish
add chain ip6 berth prerouting { type nat hook prerouting priority dstnat; policy accept; }
add chain ip6 berth output { type nat hook output priority -100; policy accept; }
add chain ip6 berth postrouting { type nat hook postrouting priority srcnat; policy accept; }
add chain ip6 berth forward { type filter hook forward priority filter; policy accept; }
add chain ip6 berth isolation { type filter hook forward priority filter; policy accept; }
add chain ip6 berth input { type filter hook input priority filter; policy accept; }
flush chain ip6 berth publish
flush chain ip6 berth prerouting
flush chain ip6 berth output
flush chain ip6 berth postrouting
flush chain ip6 berth forward
flush chain ip6 berth isolation
flush chain ip6 berth input
add rule ip6 berth publish dnat ip6 addr . port to ip6 daddr . meta l4proto . th dport map @ports_ip
add rule ip6 berth publish dnat ip6 addr . port to meta l4proto . th dport map @ports_any
add rule ip6 berth prerouting fib daddr type local jump publish
add rule ip6 berth output ip6 daddr != ::1 fib daddr type local jump publish
add rule ip6 berth postrouting iifname @bridges oifname != @bridges masquerade
add rule ip6 berth postrouting ct status dnat ip6 saddr . ip6 daddr @hairpin masquerade
add rule ip6 berth forward iifname @internal oifname != @internal drop
add rule ip6 berth forward oifname @internal iifname != @internal drop
add rule ip6 berth isolation iifname @internal iifname . iifname @same iifname . oifname != @same drop
add rule ip6 berth isolation oifname @internal oifname . oifname @same iifname . oifname != @same drop
add rule ip6 berth isolation oifname . oifname @same iifname . oifname != @same ct state != { established, related } ct status & dnat == 0 drop
add rule ip6 berth input iifname @internal fib daddr . iif type != { local, multicast } drop
"#;

/// Installs (or repairs) `table ip6 berth` with one `nft -f -`.
pub fn ensure_table6() -> Result<(), String> {
    run_script(SCRIPT, "ip6")
}

/// Sets of the v6 table that hold one element per network.
pub const BRIDGE_SETS6: [&str; 3] = ["bridges", "internal", "same"];

/// A dual-stack network's registration in the v6 table.
pub fn bridge_elems6(internal: bool, ifname: &str) -> Vec<Elem> {
    let mut name = ifname.as_bytes().to_vec();
    name.resize(16, 0); // IFNAMSIZ
    let mut pair = name.clone();
    pair.extend_from_slice(&name);
    vec![
        Elem {
            family: NFPROTO_IPV6,
            set: if internal { "internal" } else { "bridges" },
            key: name,
            data: None,
        },
        Elem {
            family: NFPROTO_IPV6,
            set: "same",
            key: pair,
            data: None,
        },
    ]
}

/// A published port over v6: `host_ip` None means every host v6 address but `::1`.
pub fn port_elem6(
    host_ip: Option<Ipv6Addr>,
    proto: u8,
    host_port: u16,
    cip: Ipv6Addr,
    cport: u16,
) -> Elem {
    let mut key = Vec::with_capacity(24);
    if let Some(ip) = host_ip {
        pad4(&mut key, &ip.octets());
    }
    pad4(&mut key, &[proto]);
    pad4(&mut key, &host_port.to_be_bytes());
    let mut data = Vec::with_capacity(20);
    pad4(&mut data, &cip.octets());
    pad4(&mut data, &cport.to_be_bytes());
    Elem {
        family: NFPROTO_IPV6,
        set: if host_ip.is_some() {
            "ports_ip"
        } else {
            "ports_any"
        },
        key,
        data: Some(data),
    }
}

/// Masquerades a container's v6 traffic to itself through one of its published ports.
pub fn hairpin_elem6(cip: Ipv6Addr) -> Elem {
    let mut key = cip.octets().to_vec();
    key.extend_from_slice(&cip.octets());
    Elem {
        family: NFPROTO_IPV6,
        set: "hairpin",
        key,
        data: None,
    }
}

/// Whether `table ip6 berth` exists (for leak checks and tests).
pub fn table_exists() -> bool {
    std::process::Command::new("nft")
        .args(["list", "table", "ip6", TABLE])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v6_port_keys_are_register_aligned() {
        let c: Ipv6Addr = "fd39::2".parse().unwrap();
        let e = port_elem6(None, 6, 8080, c, 80);
        assert_eq!(e.set, "ports_any");
        assert_eq!(e.key, vec![6, 0, 0, 0, 0x1f, 0x90, 0, 0]);
        let mut d = c.octets().to_vec();
        d.extend_from_slice(&[0, 80, 0, 0]);
        assert_eq!(e.data.unwrap(), d);
        let h: Ipv6Addr = "fd39::1".parse().unwrap();
        let e = port_elem6(Some(h), 17, 53, c, 53);
        assert_eq!(e.set, "ports_ip");
        assert_eq!(e.key.len(), 24);
        assert_eq!(&e.key[16..], &[17, 0, 0, 0, 0, 53, 0, 0]);
    }
}
