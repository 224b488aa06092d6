//! IPv6 subnets and address allocation for dual-stack networks (pure logic; persistence and
//! locking are in the controller, as for [`crate::ipam`]).
//!
//! Like Docker's default IPAM: the gateway is the subnet's first host address (`::1`) unless
//! given, and containers get the following addresses in order (`::2`, `::3`, ...). Any prefix
//! length that leaves room for a gateway and one container is accepted (Docker accepts /80 and
//! /120 too); there is no SLAAC, so nothing needs a /64.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;
use std::net::Ipv6Addr;
use std::str::FromStr;

/// An IPv6 network in CIDR form; the address is always normalised to the network address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ipv6Net {
    addr: Ipv6Addr,
    prefix: u8,
}

impl Ipv6Net {
    pub fn new(addr: Ipv6Addr, prefix: u8) -> Result<Ipv6Net, String> {
        if prefix > 128 {
            return Err(format!("invalid prefix length /{prefix}"));
        }
        Ok(Ipv6Net {
            addr: Ipv6Addr::from(u128::from(addr) & Self::mask_of(prefix)),
            prefix,
        })
    }
    fn mask_of(prefix: u8) -> u128 {
        if prefix == 0 {
            0
        } else {
            u128::MAX << (128 - prefix)
        }
    }
    pub fn addr(&self) -> Ipv6Addr {
        self.addr
    }
    pub fn prefix(&self) -> u8 {
        self.prefix
    }
    pub fn first(&self) -> u128 {
        u128::from(self.addr)
    }
    pub fn last(&self) -> u128 {
        self.first() | !Self::mask_of(self.prefix)
    }
    pub fn contains(&self, ip: Ipv6Addr) -> bool {
        u128::from(ip) & Self::mask_of(self.prefix) == self.first()
    }
    pub fn overlaps(&self, other: &Ipv6Net) -> bool {
        self.contains(other.addr) || other.contains(self.addr)
    }
}

impl fmt::Display for Ipv6Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Ipv6Net {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, p) = s
            .split_once('/')
            .ok_or_else(|| format!("invalid subnet {s:?}: expected CIDR like fd00:1::/64"))?;
        let addr: Ipv6Addr = a
            .parse()
            .map_err(|_| format!("invalid subnet {s:?}: {a:?} is not an IPv6 address"))?;
        let prefix: u8 = p
            .parse()
            .map_err(|_| format!("invalid subnet {s:?}: bad prefix length"))?;
        Ipv6Net::new(addr, prefix)
    }
}

impl Serialize for Ipv6Net {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Ipv6Net {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Checks a user's v6 subnet: at least 2 host addresses besides the subnet-router anycast
/// address (the gateway and one container), and not a link-local, loopback, multicast or
/// unspecified range.
pub fn check_subnet(s: &Ipv6Net) -> Result<(), String> {
    if s.prefix() > 126 {
        return Err(format!(
            "subnet {s} is too small (at most /126: a gateway and a container)"
        ));
    }
    let a = s.addr();
    let special = a.is_multicast()
        || a.is_loopback()
        || a.is_unspecified() && s.prefix() < 128
        || (a.segments()[0] & 0xffc0) == 0xfe80;
    if special || s.prefix() < 8 {
        return Err(format!(
            "subnet {s} cannot be used for a network (use a unique local fd00::/8 or global unicast range)"
        ));
    }
    Ok(())
}

/// Allocated v6 addresses of a network (gateway included).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Pool6 {
    pub allocated: BTreeSet<Ipv6Addr>,
    /// Last address handed out: allocation continues after it (like the v4 pool).
    #[serde(default)]
    pub last: Option<Ipv6Addr>,
}

impl Pool6 {
    pub fn allocate(
        &mut self,
        subnet: &Ipv6Net,
        gateway: Ipv6Addr,
        wanted: Option<Ipv6Addr>,
    ) -> Result<Ipv6Addr, String> {
        let usable = |ip: u128| {
            let a = Ipv6Addr::from(ip);
            ip != subnet.first() && a != gateway && !self.allocated.contains(&a)
        };
        if let Some(ip) = wanted {
            if !subnet.contains(ip) {
                return Err(format!("requested address {ip} is not in subnet {subnet}"));
            }
            if !usable(u128::from(ip)) {
                return Err(format!("address {ip} is already in use on this network"));
            }
            self.allocated.insert(ip);
            return Ok(ip);
        }
        let (lo, hi) = (subnet.first(), subnet.last());
        let start = match self.last {
            Some(l) if subnet.contains(l) && u128::from(l) < hi => u128::from(l) + 1,
            _ => lo,
        };
        // Unusable addresses are the allocated ones, the gateway and the subnet address, so
        // a free one is among any `allocated + 3` consecutive candidates, if one exists: the
        // scan stays short even in a /64.
        let size = hi - lo + 1;
        let tries = size.min(self.allocated.len() as u128 + 3);
        let found = (0..tries)
            .map(|i| lo + (start - lo + i) % size)
            .find(|ip| usable(*ip));
        match found {
            Some(ip) => {
                let a = Ipv6Addr::from(ip);
                self.allocated.insert(a);
                self.last = Some(a);
                Ok(a)
            }
            None => Err(format!("no available IPv6 addresses left in {subnet}")),
        }
    }

    pub fn release(&mut self, ip: Ipv6Addr) {
        self.allocated.remove(&ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Ipv6Net {
        s.parse().unwrap()
    }
    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn parse_normalise_overlap() {
        assert_eq!(n("fd39:1::5/64").to_string(), "fd39:1::/64");
        assert!("fd39::".parse::<Ipv6Net>().is_err());
        assert!("fd39::/129".parse::<Ipv6Net>().is_err());
        assert!("10.0.0.0/8".parse::<Ipv6Net>().is_err());
        assert!(n("fd39::/48").overlaps(&n("fd39:0:0:5::/64")));
        assert!(!n("fd39:1::/64").overlaps(&n("fd39:2::/64")));
        assert!(check_subnet(&n("fd39:1::/64")).is_ok());
        assert!(check_subnet(&n("fd39:1::/120")).is_ok());
        assert!(check_subnet(&n("fd39:1::/127")).is_err());
        assert!(check_subnet(&n("fe80::/64")).is_err());
        assert!(check_subnet(&n("ff02::/64")).is_err());
        assert!(check_subnet(&n("::1/128")).is_err());
    }

    #[test]
    fn allocation_follows_the_gateway_and_wraps() {
        let s = n("fd39:9::/125"); // ::0 subnet, ::1 gateway, ::2-::7 usable
        let gw = a("fd39:9::1");
        let mut p = Pool6::default();
        p.allocated.insert(gw);
        let got: Vec<_> = (0..6).map(|_| p.allocate(&s, gw, None).unwrap()).collect();
        assert_eq!(got[0], a("fd39:9::2"));
        assert_eq!(got[5], a("fd39:9::7"));
        assert!(p.allocate(&s, gw, None).is_err());
        p.release(a("fd39:9::4"));
        assert_eq!(p.allocate(&s, gw, None).unwrap(), a("fd39:9::4"));
        assert!(p.allocate(&s, gw, Some(gw)).is_err());
        assert!(p.allocate(&s, gw, Some(a("fd39:8::2"))).is_err());
    }

    #[test]
    fn static_address_and_big_subnet() {
        let s = n("fd39:9::/64");
        let gw = a("fd39:9::1");
        let mut p = Pool6::default();
        p.allocated.insert(gw);
        assert_eq!(
            p.allocate(&s, gw, Some(a("fd39:9::99"))).unwrap(),
            a("fd39:9::99")
        );
        assert!(p.allocate(&s, gw, Some(a("fd39:9::99"))).is_err());
        assert_eq!(p.allocate(&s, gw, None).unwrap(), a("fd39:9::2"));
    }
}
