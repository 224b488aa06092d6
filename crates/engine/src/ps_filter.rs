//! `ps --filter` (Docker's `daemon/list.go`): which keys exist, their values' checks (with the
//! daemon's wording) and whether one container passes. `before`/`since` (positions in the
//! creation order) are applied by the caller. Values of one key OR, different keys AND.

use crate::record::Record;
use crate::types::HostConfig;
use crate::{Error, Result};

const KEYS: &[&str] = &[
    "ancestor",
    "before",
    "expose",
    "exited",
    "health",
    "id",
    "is-task",
    "isolation",
    "label",
    "name",
    "network",
    "publish",
    "since",
    "status",
    "volume",
];
const STATUSES: &[&str] = &[
    "created",
    "restarting",
    "running",
    "removing",
    "paused",
    "exited",
    "dead",
];
const HEALTH: &[&str] = &["starting", "healthy", "unhealthy", "none"];

/// The daemon's refusals, before anything is listed.
pub fn validate(f: &[(String, String)]) -> Result<()> {
    let bad = |m: String| Err(Error::InvalidArgument(m));
    for (k, v) in f {
        if !KEYS.contains(&k.as_str()) {
            return bad(format!("Invalid filter '{k}'"));
        }
        match k.as_str() {
            "status" if !STATUSES.contains(&v.as_str()) => {
                return bad(format!("Invalid filter 'status={v}'"))
            }
            "health" if !HEALTH.contains(&v.as_str()) => {
                return bad(format!("Unrecognised filter value for health: {v}"))
            }
            "is-task" if v != "true" && v != "false" => {
                return bad(format!("Invalid filter 'is-task=[{v}]'"))
            }
            "exited" if v.parse::<i64>().is_err() => {
                return bad(format!("strconv.Atoi: parsing \"{v}\": invalid syntax"))
            }
            "publish" | "expose" => {
                ports(k, v)?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// Docker's `portOp`: "80", "80/udp", "8000-8010/tcp" as "port/proto" keys.
fn ports(key: &str, v: &str) -> Result<Vec<String>> {
    if v.contains(':') {
        return Err(Error::InvalidArgument(format!(
            "filter for '{key}' should not contain ':': {v}"
        )));
    }
    let (port, proto) = v.split_once('/').unwrap_or((v, "tcp"));
    let parse = |p: &str| {
        p.parse::<u16>().map_err(|_| {
            Error::InvalidArgument(format!(
                "error while looking up for {key} {port}: strconv.ParseUint: parsing \"{p}\": invalid syntax"
            ))
        })
    };
    let (a, b) = match port.split_once('-') {
        Some((a, b)) => (parse(a)?, parse(b)?),
        None => {
            let p = parse(port)?;
            (p, p)
        }
    };
    Ok((a..=b).map(|p| format!("{p}/{proto}")).collect())
}

/// Go's `regexp.MatchString` as Docker's `Args.Match` uses it: an invalid pattern matches
/// nothing.
fn re_match(pat: &str, s: &str) -> bool {
    regex::Regex::new(pat).is_ok_and(|r| r.is_match(s))
}

/// Whether `r` (with effective status `st`) passes every filter but before/since.
pub fn matches(
    r: &Record,
    st: &str,
    f: &[(String, String)],
    host: &dyn Fn() -> Option<HostConfig>,
    ancestor: &dyn Fn(&str) -> bool,
) -> bool {
    let mut keys: Vec<&str> = f.iter().map(|(k, _)| k.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    let mut host_cfg: Option<Option<HostConfig>> = None;
    keys.iter().all(|&key| {
        let mut vals = f.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str());
        match key {
            "before" | "since" => true,
            // Labels AND (Docker's MatchKVList).
            "label" => vals.all(|v| match v.split_once('=') {
                Some((k, val)) => r.config.labels.get(k).is_some_and(|x| x == val),
                None => r.config.labels.contains_key(v),
            }),
            "id" => vals.any(|v| re_match(v, &r.id)),
            "name" => vals.any(|v| re_match(v, &r.name) || re_match(v, r.short_name())),
            "status" => vals.any(|v| v == st),
            "exited" => vals.any(|v| st == "exited" && v.parse() == Ok(r.state.exit_code)),
            "health" => {
                let h = r
                    .state
                    .health
                    .as_ref()
                    .map_or("none", |h| h.status.as_str());
                vals.any(|v| v == h)
            }
            "is-task" => vals.any(|v| v == "false"),
            "isolation" => vals.any(|v| v.is_empty() || v == "default"),
            "ancestor" => vals.any(ancestor),
            "network" => vals.any(|v| {
                r.network_settings.networks.contains_key(v)
                    || r.network_settings
                        .networks
                        .values()
                        .any(|e| !v.is_empty() && e.network_id.starts_with(v))
            }),
            "volume" => vals.any(|v| {
                r.mount_points
                    .iter()
                    .any(|m| m.name == v || m.destination == v || m.source == v)
            }),
            "publish" => {
                let h = host_cfg.get_or_insert_with(host);
                vals.any(|v| {
                    ports("publish", v)
                        .unwrap_or_default()
                        .iter()
                        .any(|p| h.as_ref().is_some_and(|h| h.port_bindings.contains_key(p)))
                })
            }
            "expose" => vals.any(|v| {
                ports("expose", v).unwrap_or_default().iter().any(|p| {
                    r.config
                        .exposed_ports
                        .as_ref()
                        .is_some_and(|e| e.contains_key(p))
                })
            }),
            _ => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(k: &str, val: &str) -> Vec<(String, String)> {
        vec![(k.to_string(), val.to_string())]
    }

    /// dockerd 20.10's messages for bad `ps --filter`s.
    #[test]
    fn refusals_as_dockerd() {
        let e = |k: &str, val: &str| validate(&v(k, val)).unwrap_err().to_string();
        assert_eq!(e("foo", "1"), "Invalid filter 'foo'");
        assert_eq!(e("status", "bogus"), "Invalid filter 'status=bogus'");
        assert_eq!(e("is-task", "maybe"), "Invalid filter 'is-task=[maybe]'");
        assert_eq!(
            e("exited", "x"),
            "strconv.Atoi: parsing \"x\": invalid syntax"
        );
        assert_eq!(
            e("publish", "abc"),
            "error while looking up for publish abc: strconv.ParseUint: parsing \"abc\": invalid syntax"
        );
        assert_eq!(
            e("health", "bogus"),
            "Unrecognised filter value for health: bogus"
        );
        assert!(validate(&v("publish", "8000-8001/udp")).is_ok());
        assert_eq!(
            ports("expose", "8000-8001/udp").unwrap(),
            vec!["8000/udp", "8001/udp"]
        );
    }

    #[test]
    fn names_are_regular_expressions() {
        let mut r = Record {
            name: "/web".into(),
            id: "abc123".into(),
            ..Default::default()
        };
        let none = || None;
        let no = |_: &str| false;
        let m = |r: &Record, f: &[(String, String)]| matches(r, "running", f, &none, &no);
        assert!(m(&r, &v("name", "^web$")));
        assert!(m(&r, &v("name", "^/web$")));
        assert!(m(&r, &v("name", "we")));
        assert!(!m(&r, &v("name", "^we$")));
        assert!(!m(&r, &v("name", "[")));
        assert!(m(&r, &v("id", "abc")));
        assert!(m(&r, &v("health", "none")));
        assert!(!m(&r, &v("is-task", "true")));
        r.state.health = Some(crate::health::Health {
            status: "healthy".into(),
            ..Default::default()
        });
        assert!(m(&r, &v("health", "healthy")));
        assert!(!m(&r, &v("health", "none")));
    }
}
