//! IPv4 subnets and address allocation (pure logic; persistence and locking are in the controller).

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// An IPv4 network in CIDR form; the address is always normalised to the network address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ipv4Net {
    addr: Ipv4Addr,
    prefix: u8,
}

impl Ipv4Net {
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Result<Ipv4Net, String> {
        if prefix > 32 {
            return Err(format!("invalid prefix length /{prefix}"));
        }
        Ok(Ipv4Net {
            addr: Ipv4Addr::from(u32::from(addr) & Self::mask_of(prefix)),
            prefix,
        })
    }
    fn mask_of(prefix: u8) -> u32 {
        if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - prefix)
        }
    }
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }
    pub fn prefix(&self) -> u8 {
        self.prefix
    }
    pub fn first(&self) -> u32 {
        u32::from(self.addr)
    }
    pub fn last(&self) -> u32 {
        self.first() | !Self::mask_of(self.prefix)
    }
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & Self::mask_of(self.prefix) == self.first()
    }
    pub fn contains_net(&self, other: &Ipv4Net) -> bool {
        self.prefix <= other.prefix && self.contains(other.addr)
    }
    pub fn overlaps(&self, other: &Ipv4Net) -> bool {
        self.contains(other.addr) || other.contains(self.addr)
    }
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.last())
    }
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Ipv4Net {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, p) = s
            .split_once('/')
            .ok_or_else(|| format!("invalid subnet {s:?}: expected CIDR like 10.1.0.0/16"))?;
        let addr: Ipv4Addr = a
            .parse()
            .map_err(|_| format!("invalid subnet {s:?}: {a:?} is not an IPv4 address"))?;
        let prefix: u8 = p
            .parse()
            .map_err(|_| format!("invalid subnet {s:?}: bad prefix length"))?;
        Ipv4Net::new(addr, prefix)
    }
}

impl Serialize for Ipv4Net {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Ipv4Net {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Docker's default address pools: 172.17.0.0/16 … 172.31.0.0/16, then 192.168.0.0/20 steps
/// up to 192.168.240.0/20.
pub fn default_pools() -> impl Iterator<Item = Ipv4Net> {
    let a = (17..=31).map(|b| Ipv4Net::new(Ipv4Addr::new(172, b, 0, 0), 16).unwrap());
    let b = (0..16).map(|i| Ipv4Net::new(Ipv4Addr::new(192, 168, i * 16, 0), 20).unwrap());
    a.chain(b)
}

/// The first default pool overlapping neither a host route nor a subnet already in use.
pub fn pick_subnet(host_routes: &[Ipv4Net], in_use: &[Ipv4Net]) -> Option<Ipv4Net> {
    default_pools().find(|p| !host_routes.iter().chain(in_use).any(|r| r.overlaps(p)))
}

/// The usable addresses of a network are those of `range` (or the subnet) minus the network
/// and broadcast addresses and the gateway.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Pool {
    pub allocated: BTreeSet<Ipv4Addr>,
    /// Last address handed out: allocation continues after it (like Docker), so a released
    /// address is not reused at once by the next container.
    #[serde(default)]
    pub last: Option<Ipv4Addr>,
}

impl Pool {
    pub fn allocate(
        &mut self,
        subnet: &Ipv4Net,
        range: Option<&Ipv4Net>,
        gateway: Ipv4Addr,
        wanted: Option<Ipv4Addr>,
    ) -> Result<Ipv4Addr, String> {
        let r = range.unwrap_or(subnet);
        let usable = |ip: u32| {
            let a = Ipv4Addr::from(ip);
            (subnet.prefix() >= 31 || (ip != subnet.first() && ip != subnet.last()))
                && a != gateway
                && !self.allocated.contains(&a)
        };
        if let Some(ip) = wanted {
            if !subnet.contains(ip) {
                return Err(format!("requested address {ip} is not in subnet {subnet}"));
            }
            if ip == gateway || !usable(u32::from(ip)) {
                return Err(format!("address {ip} is already in use on this network"));
            }
            self.allocated.insert(ip);
            return Ok(ip);
        }
        let (lo, hi) = (r.first(), r.last());
        let start = match self.last {
            Some(l) if r.contains(l) && u32::from(l) < hi => u32::from(l) + 1,
            _ => lo,
        };
        let found = (start..=hi).chain(lo..start).find(|ip| usable(*ip));
        match found {
            Some(ip) => {
                let a = Ipv4Addr::from(ip);
                self.allocated.insert(a);
                self.last = Some(a);
                Ok(a)
            }
            None => Err(format!("no available IPv4 addresses left in {r}")),
        }
    }

    pub fn release(&mut self, ip: Ipv4Addr) {
        self.allocated.remove(&ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    #[test]
    fn parse_and_normalise() {
        assert_eq!(n("10.1.2.3/16").to_string(), "10.1.0.0/16");
        assert!("10.1.0.0".parse::<Ipv4Net>().is_err());
        assert!("10.1.0.0/33".parse::<Ipv4Net>().is_err());
        assert!(n("10.0.0.0/8").overlaps(&n("10.2.0.0/16")));
        assert!(!n("10.1.0.0/16").overlaps(&n("10.2.0.0/16")));
        assert!(n("10.0.0.0/8").contains_net(&n("10.2.0.0/16")));
    }

    #[test]
    fn pool_choice_skips_host_routes_and_used() {
        let routes = [n("172.17.0.0/16"), n("172.18.5.0/24")];
        assert_eq!(pick_subnet(&routes, &[]), Some(n("172.19.0.0/16")));
        assert_eq!(
            pick_subnet(&routes, &[n("172.19.0.0/16")]),
            Some(n("172.20.0.0/16"))
        );
        let all172 = [n("172.16.0.0/12")];
        assert_eq!(pick_subnet(&all172, &[]), Some(n("192.168.0.0/20")));
        assert_eq!(pick_subnet(&[n("0.0.0.0/1"), n("128.0.0.0/1")], &[]), None);
    }

    #[test]
    fn allocation_skips_reserved_and_wraps() {
        let s = n("10.0.0.0/29"); // .1 gateway, .2-.6 usable, .7 broadcast
        let gw = Ipv4Addr::new(10, 0, 0, 1);
        let mut p = Pool::default();
        let got: Vec<_> = (0..5)
            .map(|_| p.allocate(&s, None, gw, None).unwrap())
            .collect();
        assert_eq!(got[0], Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(got[4], Ipv4Addr::new(10, 0, 0, 6));
        assert!(p.allocate(&s, None, gw, None).is_err());
        p.release(Ipv4Addr::new(10, 0, 0, 3));
        assert_eq!(
            p.allocate(&s, None, gw, None).unwrap(),
            Ipv4Addr::new(10, 0, 0, 3)
        );
        assert!(p.allocate(&s, None, gw, Some(gw)).is_err());
        assert!(p
            .allocate(&s, None, gw, Some(Ipv4Addr::new(10, 9, 0, 1)))
            .is_err());
    }

    #[test]
    fn allocation_in_range() {
        let s = n("10.0.0.0/24");
        let r = n("10.0.0.128/25");
        let mut p = Pool::default();
        let ip = p
            .allocate(&s, Some(&r), Ipv4Addr::new(10, 0, 0, 1), None)
            .unwrap();
        assert_eq!(ip, Ipv4Addr::new(10, 0, 0, 128));
        // The explicit --ip may be anywhere in the subnet.
        let ip = p
            .allocate(
                &s,
                Some(&r),
                Ipv4Addr::new(10, 0, 0, 1),
                Some(Ipv4Addr::new(10, 0, 0, 5)),
            )
            .unwrap();
        assert_eq!(ip, Ipv4Addr::new(10, 0, 0, 5));
    }
}
