//! Published ports: `-p` parsing and host port checks.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, UdpSocket};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    /// IANA protocol number, as nftables' `meta l4proto` sees it.
    pub fn number(self) -> u8 {
        match self {
            Proto::Tcp => 6,
            Proto::Udp => 17,
        }
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        })
    }
}

/// One `-p` mapping. `host_port == 0` asks for a free port chosen at join time; `host_ip`
/// None means every host address (Docker's `0.0.0.0`, and its `::` on dual-stack networks);
/// `::` every v6 host address; a v6 address needs a dual-stack network, except `::1` (served
/// by the userland proxy, see [`crate::proxy6`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortBinding {
    pub host_ip: Option<IpAddr>,
    pub host_port: u16,
    pub container_port: u16,
    pub proto: Proto,
}

impl fmt::Display for PortBinding {
    /// `berth port` style: `80/tcp -> 0.0.0.0:8080`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ip = self.host_ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let addr = SocketAddr::new(ip, self.host_port);
        write!(f, "{}/{} -> {addr}", self.container_port, self.proto)
    }
}

fn parse_range(s: &str, what: &str, spec: &str) -> Result<(u16, u16), String> {
    let bad = || format!("invalid {what} {s:?} in port spec {spec:?}");
    let (a, b) = match s.split_once('-') {
        Some((a, b)) => (a, b),
        None => (s, s),
    };
    let a: u16 = a.parse().map_err(|_| bad())?;
    let b: u16 = b.parse().map_err(|_| bad())?;
    if a == 0 || b < a {
        return Err(bad());
    }
    Ok((a, b))
}

/// Parses Docker's `-p` syntax: `[ip:][hostPort[-end]:]containerPort[-end][/tcp|udp]`,
/// including `ip::containerPort` (random host port on one address). Ranges map one to one.
pub fn parse_publish(spec: &str) -> Result<Vec<PortBinding>, String> {
    let (rest, proto) = match spec.rsplit_once('/') {
        Some((r, "tcp")) => (r, Proto::Tcp),
        Some((r, "udp")) => (r, Proto::Udp),
        Some((_, p)) => {
            return Err(format!(
                "invalid protocol {p:?} in port spec {spec:?}: use tcp or udp"
            ))
        }
        None => (spec, Proto::Tcp),
    };
    // Docker's splitParts: the container port after the last ':', the host port before it,
    // and everything before that is the IP (`[::1]` or a bare v6 address).
    let parts: Vec<&str> = rest.split(':').collect();
    let n = parts.len();
    let (ip, host, cont) = match n {
        1 => (None, "", parts[0]),
        2 => (None, parts[0], parts[1]),
        _ => (Some(parts[..n - 2].join(":")), parts[n - 2], parts[n - 1]),
    };
    let host_ip = match ip.as_deref() {
        None | Some("") | Some("0.0.0.0") => None,
        Some(i) => {
            let bare = i
                .strip_prefix('[')
                .and_then(|x| x.strip_suffix(']'))
                .unwrap_or(i);
            Some(
                bare.parse::<IpAddr>()
                    .map_err(|_| format!("invalid host IP {i:?} in port spec {spec:?}"))?,
            )
        }
    };
    let (c0, c1) = parse_range(cont, "container port", spec)?;
    let hosts = if host.is_empty() {
        None
    } else {
        let (h0, h1) = parse_range(host, "host port", spec)?;
        if h1 - h0 != c1 - c0 && h0 != h1 {
            return Err(format!(
                "port ranges in {spec:?} differ in length: host {host} vs container {cont}"
            ));
        }
        Some((h0, h1))
    };
    Ok((c0..=c1)
        .enumerate()
        .map(|(i, cp)| PortBinding {
            host_ip,
            host_port: match hosts {
                None => 0,
                Some((h0, h1)) if h0 == h1 => h0,
                Some((h0, _)) => h0 + i as u16,
            },
            container_port: cp,
            proto,
        })
        .collect())
}

/// Fails with a clear error if something on the host already uses the port; with port 0,
/// asks the kernel for a free one and returns it.
pub fn reserve_host_port(b: &PortBinding) -> Result<u16, String> {
    let addr = SocketAddr::new(
        b.host_ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        b.host_port,
    );
    let port = match b.proto {
        Proto::Tcp => TcpListener::bind(addr).and_then(|l| l.local_addr()),
        Proto::Udp => UdpSocket::bind(addr).and_then(|s| s.local_addr()),
    }
    .map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            format!(
                "Bind for {addr} failed: port is already allocated ({}/{} in use on the host)",
                b.host_port, b.proto
            )
        } else {
            format!("cannot reserve host port {addr}/{}: {e}", b.proto)
        }
    })?
    .port();
    Ok(port)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pb(ip: Option<[u8; 4]>, h: u16, c: u16, p: Proto) -> PortBinding {
        PortBinding {
            host_ip: ip.map(|a| IpAddr::V4(Ipv4Addr::from(a))),
            host_port: h,
            container_port: c,
            proto: p,
        }
    }

    #[test]
    fn parses_docker_forms() {
        assert_eq!(
            parse_publish("80").unwrap(),
            vec![pb(None, 0, 80, Proto::Tcp)]
        );
        assert_eq!(
            parse_publish("8080:80").unwrap(),
            vec![pb(None, 8080, 80, Proto::Tcp)]
        );
        assert_eq!(
            parse_publish("127.0.0.1:8080:80/udp").unwrap(),
            vec![pb(Some([127, 0, 0, 1]), 8080, 80, Proto::Udp)]
        );
        assert_eq!(
            parse_publish("127.0.0.1::80").unwrap(),
            vec![pb(Some([127, 0, 0, 1]), 0, 80, Proto::Tcp)]
        );
        assert_eq!(
            parse_publish("0.0.0.0:53:53/udp").unwrap(),
            vec![pb(None, 53, 53, Proto::Udp)]
        );
        assert_eq!(
            parse_publish("8000-8001:80-81").unwrap(),
            vec![
                pb(None, 8000, 80, Proto::Tcp),
                pb(None, 8001, 81, Proto::Tcp)
            ]
        );
        assert_eq!(parse_publish("80-81").unwrap().len(), 2);
    }

    #[test]
    fn parses_v6_host_addresses_like_docker() {
        let v6 = |ip: &str, h, c| PortBinding {
            host_ip: Some(ip.parse().unwrap()),
            host_port: h,
            container_port: c,
            proto: Proto::Tcp,
        };
        assert_eq!(
            parse_publish("[::1]:8080:80").unwrap(),
            vec![v6("::1", 8080, 80)]
        );
        // Docker's splitParts: all before the last two ':' is the address, brackets or not.
        assert_eq!(
            parse_publish("::1:8080:80").unwrap(),
            vec![v6("::1", 8080, 80)]
        );
        assert_eq!(
            parse_publish("[fd39::1]::80").unwrap(),
            vec![v6("fd39::1", 0, 80)]
        );
        assert_eq!(v6("::1", 8080, 80).to_string(), "80/tcp -> [::1]:8080");
        assert!(parse_publish("[fd39::zz]:80:80").is_err());
    }

    #[test]
    fn rejects_bad_specs() {
        for s in [
            "",
            "x",
            "80/sctp",
            "1:2:3:4",
            "0",
            "70000",
            "8000-8002:80-81",
            "90-80",
        ] {
            assert!(parse_publish(s).is_err(), "{s} should be rejected");
        }
    }

    #[test]
    fn display_like_docker_port() {
        assert_eq!(
            pb(None, 8080, 80, Proto::Tcp).to_string(),
            "80/tcp -> 0.0.0.0:8080"
        );
    }
}
