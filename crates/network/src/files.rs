//! /etc/hosts and /etc/resolv.conf contents for a sandbox (the engine writes them into the
//! container's init layer).

use std::net::{IpAddr, Ipv4Addr};

/// Public resolvers used when the host only lists loopback resolvers (systemd-resolved,
/// dnsmasq...), which are unreachable from a container's namespace. Written into files only.
pub const FALLBACK_DNS: [Ipv4Addr; 2] = [Ipv4Addr::new(8, 8, 8, 8), Ipv4Addr::new(8, 8, 4, 4)];

/// Docker's /etc/hosts: localhost entries, then `ip hostname [aliases]` when the container has
/// an address, then extra `--add-host` entries.
pub fn hosts(
    hostname: &str,
    ip: Option<Ipv4Addr>,
    aliases: &[String],
    extra: &[(String, IpAddr)],
) -> String {
    let mut s = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
         fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    for (name, ip) in extra {
        s.push_str(&format!("{ip}\t{name}\n"));
    }
    if let Some(ip) = ip {
        s.push_str(&format!("{ip}\t{hostname}"));
        for a in aliases.iter().filter(|a| a.as_str() != hostname) {
            s.push(' ');
            s.push_str(a);
        }
        s.push('\n');
    }
    s
}

/// The parts of a resolv.conf berth cares about.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ResolvConf {
    pub nameservers: Vec<IpAddr>,
    pub search: Vec<String>,
    pub options: Vec<String>,
}

impl ResolvConf {
    pub fn parse(text: &str) -> ResolvConf {
        let mut r = ResolvConf::default();
        for line in text.lines() {
            let mut w = line.split_whitespace();
            match w.next() {
                Some("nameserver") => {
                    if let Some(ip) = w.next().and_then(|a| a.parse().ok()) {
                        r.nameservers.push(ip);
                    }
                }
                Some("search") | Some("domain") => r.search = w.map(String::from).collect(),
                Some("options") => r.options.extend(w.map(String::from)),
                _ => {}
            }
        }
        r
    }

    /// The host's /etc/resolv.conf (empty if unreadable).
    pub fn host() -> ResolvConf {
        ResolvConf::parse(&std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default())
    }

    /// Upstream servers for the embedded DNS (queried from the host's namespace, so loopback
    /// ones are fine); falls back to public resolvers when the host lists none.
    pub fn upstreams(&self) -> Vec<std::net::SocketAddr> {
        let mut v: Vec<_> = self.nameservers.iter().map(|ip| (*ip, 53).into()).collect();
        if v.is_empty() {
            v = FALLBACK_DNS
                .iter()
                .map(|ip| (IpAddr::V4(*ip), 53).into())
                .collect();
        }
        v
    }

    pub fn render(&self) -> String {
        let mut s = String::new();
        if !self.search.is_empty() {
            s.push_str(&format!("search {}\n", self.search.join(" ")));
        }
        for ns in &self.nameservers {
            s.push_str(&format!("nameserver {ns}\n"));
        }
        if !self.options.is_empty() {
            s.push_str(&format!("options {}\n", self.options.join(" ")));
        }
        s
    }
}

/// The container's resolv.conf. With `embedded_dns` (user-defined networks) the only
/// nameserver is 127.0.0.11; otherwise the host's non-loopback resolvers, or [`FALLBACK_DNS`]
/// when none is left. `dns`, `search`, `options` are `--dns`, `--dns-search`, `--dns-option`.
pub fn resolv_conf(
    host: &ResolvConf,
    embedded_dns: bool,
    dns: &[IpAddr],
    search: &[String],
    options: &[String],
) -> String {
    let mut r = ResolvConf {
        nameservers: Vec::new(),
        search: if search.is_empty() {
            host.search.clone()
        } else {
            search.to_vec()
        },
        options: if options.is_empty() {
            host.options.clone()
        } else {
            options.to_vec()
        },
    };
    if embedded_dns {
        r.nameservers.push(IpAddr::V4(crate::dns::EMBEDDED_DNS));
        if !r.options.iter().any(|o| o.starts_with("ndots:")) {
            r.options.push("ndots:0".into());
        }
    } else if !dns.is_empty() {
        r.nameservers = dns.to_vec();
    } else {
        r.nameservers = host
            .nameservers
            .iter()
            .filter(|ip| !ip.is_loopback())
            .copied()
            .collect();
        if r.nameservers.is_empty() {
            r.nameservers = FALLBACK_DNS.iter().map(|ip| IpAddr::V4(*ip)).collect();
        }
    }
    r.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_resolvers_fall_back_to_public() {
        let host = ResolvConf::parse("nameserver 127.0.0.53\nsearch example.org\noptions edns0\n");
        let s = resolv_conf(&host, false, &[], &[], &[]);
        assert_eq!(
            s,
            "search example.org\nnameserver 8.8.8.8\nnameserver 8.8.4.4\noptions edns0\n"
        );
        let host = ResolvConf::parse("nameserver 10.1.1.1\nnameserver 127.0.0.1\n");
        assert_eq!(
            resolv_conf(&host, false, &[], &[], &[]),
            "nameserver 10.1.1.1\n"
        );
        assert!(resolv_conf(&host, true, &[], &[], &[]).contains("nameserver 127.0.0.11\n"));
        assert_eq!(host.upstreams().len(), 2);
    }

    #[test]
    fn hosts_lists_container_address() {
        let h = hosts("c1", Some(Ipv4Addr::new(10, 0, 0, 2)), &["web".into()], &[]);
        assert!(h.starts_with("127.0.0.1\tlocalhost\n"));
        assert!(h.ends_with("10.0.0.2\tc1 web\n"));
    }
}
