//! `network create --ipv6`: the IPv6 `--subnet`/`--gateway` next to the IPv4 ones.

use super::Fail;
use engine::network::net::Ipv6Net;
use std::net::Ipv6Addr;

/// Takes the IPv6 entries out of `--subnet` and `--gateway` (at most one each), leaving the
/// IPv4 ones for the v4 pool.
pub(super) fn split_v6(
    subnets: &mut Vec<String>,
    gateways: &mut Vec<String>,
) -> Result<(Option<Ipv6Net>, Option<Ipv6Addr>), Fail> {
    let is_v6 = |s: &String| s.contains(':');
    let (s6, s4): (Vec<String>, Vec<String>) = subnets.drain(..).partition(is_v6);
    let (g6, g4): (Vec<String>, Vec<String>) = gateways.drain(..).partition(is_v6);
    *subnets = s4;
    *gateways = g4;
    let too_many = |flag: &str| {
        Fail(format!(
            "berth supports one IPv6 pool per network: pass one IPv6 {flag}"
        ))
    };
    let subnet = match s6.as_slice() {
        [] => None,
        [s] => Some(
            s.parse::<Ipv6Net>()
                .map_err(|e| Fail(format!("invalid --subnet: {e}")))?,
        ),
        _ => return Err(too_many("--subnet")),
    };
    let gateway = match g6.as_slice() {
        [] => None,
        [g] => Some(
            g.parse::<Ipv6Addr>()
                .map_err(|_| Fail(format!("invalid --gateway {g:?}: expected an IP address")))?,
        ),
        _ => return Err(too_many("--gateway")),
    };
    if subnet.is_none() && gateway.is_some() {
        return Err(Fail(
            "an IPv6 --gateway needs an IPv6 --subnet (the pool it belongs to)".into(),
        ));
    }
    Ok((subnet, gateway))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_dual_stack_flags() {
        let mut s = vec!["10.239.1.0/24".to_string(), "fd39:1::/64".to_string()];
        let mut g = vec!["fd39:1::fe".to_string()];
        let Ok((s6, g6)) = split_v6(&mut s, &mut g) else {
            panic!("split_v6 failed")
        };
        assert_eq!(s, vec!["10.239.1.0/24"]);
        assert!(g.is_empty());
        assert_eq!(s6.unwrap().to_string(), "fd39:1::/64");
        assert_eq!(g6.unwrap().to_string(), "fd39:1::fe");
        let mut s = vec!["fd39:1::/64".to_string(), "fd39:2::/64".to_string()];
        assert!(split_v6(&mut s, &mut vec![]).is_err());
        let mut g = vec!["fd39:1::1".to_string()];
        assert!(split_v6(&mut vec![], &mut g).is_err());
    }
}
