//! `network create --ipv6`: the IPv6 `--subnet`/`--gateway` next to the IPv4 ones (the engine
//! parses and checks them).

use super::Fail;

/// Takes the IPv6 entries (those with a ':') out of `--subnet` and `--gateway`, at most one
/// each, leaving the IPv4 ones for the v4 pool.
pub(super) fn split_v6(
    subnets: &mut Vec<String>,
    gateways: &mut Vec<String>,
) -> Result<(Option<String>, Option<String>), Fail> {
    let is_v6 = |s: &String| s.contains(':');
    let (s6, s4): (Vec<String>, Vec<String>) = subnets.drain(..).partition(is_v6);
    let (g6, g4): (Vec<String>, Vec<String>) = gateways.drain(..).partition(is_v6);
    *subnets = s4;
    *gateways = g4;
    let one = |v: Vec<String>, flag: &str| match v.len() {
        0 | 1 => Ok(v.into_iter().next()),
        _ => Err(Fail(format!(
            "berth supports one IPv6 pool per network: pass one IPv6 {flag}"
        ))),
    };
    Ok((one(s6, "--subnet")?, one(g6, "--gateway")?))
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
        assert_eq!(s6.as_deref(), Some("fd39:1::/64"));
        assert_eq!(g6.as_deref(), Some("fd39:1::fe"));
        let mut s = vec!["fd39:1::/64".to_string(), "fd39:2::/64".to_string()];
        assert!(split_v6(&mut s, &mut vec![]).is_err());
    }
}
