//! `--filter` of `image prune`, `container prune` and `system prune`, as Docker's daemon applies
//! them (moby's daemon/prune.go and api/types/filters): `label=K`, `label=K=V` (every one must
//! match), `label!=K[=V]` (items matching every one of them are kept), `until=TIME` (only items
//! created before TIME), and for images `dangling=true|false`. Any other key is refused with
//! Docker's "Invalid filter 'KEY'" (exit 1, as the docker CLI exits on a daemon error).
//! TIME is Docker's `GetTimestamp`: a Go duration before now (`10m`, `2h`, `1.5h`), an RFC 3339
//! date or date-time (local time without a zone), or unix seconds[.nanoseconds].

use crate::Failure;
use std::collections::BTreeMap;

/// Parsed prune filters.
#[derive(Debug, Default)]
pub struct PruneFilters {
    label: Vec<String>,
    not_label: Vec<String>,
    /// Unix seconds; items created after it are kept.
    until: Option<f64>,
    /// `dangling=false`: all unused images, as `-a`.
    pub dangling: Option<bool>,
}

/// Keys a container prune accepts; images also take `dangling`.
pub const CONTAINER_KEYS: &[&str] = &["label", "label!", "until"];
pub const IMAGE_KEYS: &[&str] = &["dangling", "label", "label!", "until"];

fn invalid(what: &str) -> Failure {
    Failure::new(format!("Invalid filter '{what}'"), 1)
}

impl PruneFilters {
    /// Parses `--filter` values (KEY=VALUE) against the keys the command accepts.
    pub fn parse(filters: &[String], keys: &[&str]) -> Result<PruneFilters, Failure> {
        let mut p = PruneFilters::default();
        let mut untils = Vec::new();
        for f in filters {
            let Some((k, v)) = f.split_once('=') else {
                return Err(Failure::new(
                    format!("bad format of filter (expected name=value): {f}"),
                    1,
                ));
            };
            let k = k.trim().to_ascii_lowercase();
            if !keys.contains(&k.as_str()) {
                return Err(invalid(&k));
            }
            match k.as_str() {
                "label" => p.label.push(v.to_string()),
                "label!" => p.not_label.push(v.to_string()),
                "until" => untils.push(v.to_string()),
                _ => {
                    p.dangling = Some(match v {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        _ => return Err(invalid(&format!("dangling={v}"))),
                    })
                }
            }
        }
        if untils.len() > 1 {
            return Err(Failure::new("more than one until filter specified", 1));
        }
        if let Some(u) = untils.first() {
            p.until = Some(timestamp(u, chrono::Utc::now())?);
        }
        Ok(p)
    }

    /// Whether an item with these labels, created at `created` (unix seconds), is pruned.
    pub fn matches(&self, labels: &BTreeMap<String, String>, created: i64) -> bool {
        if let Some(u) = self.until {
            if created as f64 > u {
                return false;
            }
        }
        if !self.label.iter().all(|l| kv_match(l, labels)) {
            return false;
        }
        if !self.not_label.is_empty() && self.not_label.iter().all(|l| kv_match(l, labels)) {
            return false;
        }
        true
    }
}

/// moby's `filters.MatchKVList` for one value: `K` is present, or `K=V` is there with V.
fn kv_match(f: &str, labels: &BTreeMap<String, String>) -> bool {
    match f.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
        None => labels.contains_key(f),
    }
}

/// Docker's `timetypes.GetTimestamp` + `ParseTimestamps`: unix seconds (with fraction).
pub fn timestamp(value: &str, now: chrono::DateTime<chrono::Utc>) -> Result<f64, Failure> {
    if let Some(d) = go_duration(value) {
        return Ok(now.timestamp() as f64 + now.timestamp_subsec_nanos() as f64 / 1e9 - d);
    }
    use chrono::{NaiveDate, NaiveDateTime, TimeZone};
    let in_location = !(value.contains(['z', 'Z', '+']) || value.matches('-').count() == 3);
    let local = |n: NaiveDateTime| {
        chrono::Local
            .from_local_datetime(&n)
            .earliest()
            .map(|t| t.timestamp() as f64 + t.timestamp_subsec_nanos() as f64 / 1e9)
    };
    let parsed = if !in_location {
        chrono::DateTime::parse_from_rfc3339(value)
            .ok()
            .map(|t| t.timestamp() as f64 + t.timestamp_subsec_nanos() as f64 / 1e9)
            .or_else(|| {
                // `2006-01-02Z07:00` (a date with a zone)
                let (d, z) = value.split_at(value.find(['Z', 'z', '+']).unwrap_or(value.len()));
                let z = if z.eq_ignore_ascii_case("z") {
                    "+00:00"
                } else {
                    z
                };
                chrono::DateTime::parse_from_rfc3339(&format!("{d}T00:00:00{z}"))
                    .ok()
                    .map(|t| t.timestamp() as f64)
            })
    } else if value.contains('T') {
        ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H"]
            .iter()
            .find_map(|f| {
                NaiveDateTime::parse_from_str(value, f).ok().or_else(|| {
                    // chrono needs minutes: `2006-01-02T15`
                    (*f == "%Y-%m-%dT%H")
                        .then(|| {
                            NaiveDateTime::parse_from_str(&format!("{value}:00"), "%Y-%m-%dT%H:%M")
                                .ok()
                        })
                        .flatten()
                })
            })
            .and_then(local)
    } else {
        NaiveDate::parse_from_str(value, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .and_then(local)
    };
    if let Some(t) = parsed {
        return Ok(t);
    }
    if value.contains('-') {
        return Err(Failure::new(
            format!("failed to parse value as time or duration: {value:?}"),
            1,
        ));
    }
    // Unix seconds, optionally with a fraction of up to 9 digits.
    let (s, frac) = value.split_once('.').unwrap_or((value, ""));
    let digits = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit());
    if digits(s) && (frac.is_empty() || (digits(frac) && frac.len() <= 9)) {
        if let Ok(v) = value.parse::<f64>() {
            return Ok(v);
        }
    }
    Err(Failure::new(
        format!("failed to parse value as time or duration: {value:?}"),
        1,
    ))
}

/// Go's `time.ParseDuration` in seconds (`300ms`, `-1.5h`, `2h45m`); None if not one.
fn go_duration(s: &str) -> Option<f64> {
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Some(0.0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total = 0.0;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..u] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[u..];
        total += num * unit;
    }
    Some(if neg { -total } else { total })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn durations_dates_and_unix_seconds() {
        let now = chrono::DateTime::parse_from_rfc3339("2024-01-01T12:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let t = |v: &str| timestamp(v, now).unwrap();
        let n = now.timestamp() as f64;
        assert_eq!(t("10m"), n - 600.0);
        assert_eq!(t("2h"), n - 7200.0);
        assert_eq!(t("1.5h"), n - 5400.0);
        assert_eq!(t("-1h"), n + 3600.0);
        assert_eq!(t("1h30m"), n - 5400.0);
        assert_eq!(t("2020-01-01T00:00:00Z"), 1577836800.0);
        assert_eq!(t("2020-01-01T02:00:00+02:00"), 1577836800.0);
        assert_eq!(t("1600000000"), 1600000000.0);
        assert_eq!(t("1600000000.5"), 1600000000.5);
        for bad in ["bogus", "10x", "", "2020-13-45"] {
            let e = timestamp(bad, now).unwrap_err();
            assert!(
                e.msg.contains("failed to parse value as time or duration"),
                "{bad}: {}",
                e.msg
            );
        }
    }

    #[test]
    fn unknown_keys_are_refused_as_docker() {
        let e = PruneFilters::parse(&["foo=bar".into()], IMAGE_KEYS).unwrap_err();
        assert_eq!((e.msg.as_str(), e.code), ("Invalid filter 'foo'", 1));
        let e = PruneFilters::parse(&["dangling=true".into()], CONTAINER_KEYS).unwrap_err();
        assert_eq!(e.msg, "Invalid filter 'dangling'");
        let e = PruneFilters::parse(&["dangling=maybe".into()], IMAGE_KEYS).unwrap_err();
        assert_eq!(e.msg, "Invalid filter 'dangling=maybe'");
        let two = ["until=1h".to_string(), "until=2h".to_string()];
        assert!(PruneFilters::parse(&two, IMAGE_KEYS).is_err());
    }

    #[test]
    fn labels_and_until_select() {
        let f = |v: &[&str]| {
            PruneFilters::parse(
                &v.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                IMAGE_KEYS,
            )
            .unwrap()
        };
        let old = labels(&[("old", "yes"), ("team", "a")]);
        let new = labels(&[("team", "b")]);
        assert!(f(&["label=old=yes"]).matches(&old, 0));
        assert!(!f(&["label=old=yes"]).matches(&new, 0));
        assert!(f(&["label=old"]).matches(&old, 0));
        assert!(!f(&["label=old", "label=team=b"]).matches(&old, 0));
        assert!(!f(&["label!=old"]).matches(&old, 0));
        assert!(f(&["label!=old"]).matches(&new, 0));
        assert!(f(&["label!=team=a"]).matches(&new, 0));
        assert!(f(&["until=1600000000"]).matches(&new, 1500000000));
        assert!(!f(&["until=1600000000"]).matches(&new, 1700000000));
    }
}
