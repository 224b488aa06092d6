//! The `HEALTHCHECK` instruction (moby's `parseHealthConfig`), for `commit`/`import --change`:
//! `HEALTHCHECK NONE`, or `HEALTHCHECK [--interval=D] [--timeout=D] [--start-period=D]
//! [--start-interval=D] [--retries=N] CMD command` (shell form: `CMD-SHELL`; JSON form: `CMD`).

use crate::{Error, Result};
use serde::{Deserialize, Serialize};

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// An image's `Healthcheck` (Docker's `container.HealthConfig`, fields omitted when empty).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Healthcheck {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub test: Vec<String>,
    #[serde(skip_serializing_if = "is_zero")]
    pub interval: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub timeout: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub start_period: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub start_interval: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub retries: i64,
}

fn bad(msg: impl Into<String>) -> Error {
    Error::Invalid(msg.into())
}

/// Go's `time.ParseDuration` in nanoseconds (unsigned forms).
pub fn go_duration(s: &str) -> Option<i64> {
    if s == "0" {
        return Some(0);
    }
    let mut rest = s;
    let mut total = 0f64;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if n == 0 {
            return None;
        }
        let v: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mul = match &rest[..u] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += v * mul;
        rest = &rest[u..];
    }
    Some(total as i64)
}

/// The `Healthcheck` object for an image config.
pub fn parse(rest: &str) -> Result<Healthcheck> {
    let mut rest = rest.trim();
    let mut flags: Vec<(String, String)> = Vec::new();
    while let Some(f) = rest.strip_prefix("--") {
        let end = f.find(char::is_whitespace).unwrap_or(f.len());
        let (k, v) = f[..end].split_once('=').unwrap_or((&f[..end], ""));
        flags.push((k.to_string(), v.to_string()));
        rest = f[end..].trim_start();
    }
    let (typ, args) = match rest.split_once(char::is_whitespace) {
        Some((t, a)) => (t, a.trim()),
        None => (rest, ""),
    };
    for (k, _) in &flags {
        if ![
            "interval",
            "timeout",
            "start-period",
            "start-interval",
            "retries",
        ]
        .contains(&k.as_str())
        {
            return Err(bad(format!("Unknown flag: {k}")));
        }
    }
    if typ.is_empty() {
        return Err(bad("HEALTHCHECK requires at least one argument"));
    }
    match typ.to_ascii_uppercase().as_str() {
        "NONE" => {
            if !args.is_empty() {
                return Err(bad("HEALTHCHECK NONE takes no arguments"));
            }
            return Ok(Healthcheck {
                test: vec!["NONE".into()],
                ..Default::default()
            });
        }
        "CMD" => {}
        _ => {
            return Err(bad(format!(
                "Unknown type \"{typ}\" in HEALTHCHECK (try CMD)"
            )))
        }
    }
    let test: Vec<String> = match serde_json::from_str::<Vec<String>>(args) {
        Ok(v) if args.starts_with('[') => std::iter::once("CMD".to_string()).chain(v).collect(),
        _ => vec!["CMD-SHELL".into(), args.to_string()],
    };
    let mut h = Healthcheck {
        test,
        ..Default::default()
    };
    for (flag, key) in [
        ("interval", &mut h.interval),
        ("timeout", &mut h.timeout),
        ("start-period", &mut h.start_period),
        ("start-interval", &mut h.start_interval),
    ] {
        let Some((_, v)) = flags.iter().rev().find(|(k, _)| k == flag) else {
            continue;
        };
        if v.is_empty() {
            continue;
        }
        let d = go_duration(v).ok_or_else(|| bad(format!("time: invalid duration \"{v}\"")))?;
        if d < 1_000_000 {
            return Err(bad(format!("Interval \"{flag}\" cannot be less than 1ms")));
        }
        *key = d;
    }
    if let Some((_, v)) = flags.iter().rev().find(|(k, _)| k == "retries") {
        let n: i64 = v
            .parse()
            .map_err(|_| bad(format!("strconv.ParseInt: parsing \"{v}\": invalid syntax")))?;
        if n < 1 {
            return Err(bad(format!("--retries must be at least 1 (not {n})")));
        }
        h.retries = n;
    }
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The configs and errors dockerd 20.10 gives for `import -c 'HEALTHCHECK ...'`.
    #[test]
    fn as_dockerd() {
        let s = |v: &Healthcheck| serde_json::to_string(v).unwrap();
        assert_eq!(
            s(&parse("--interval=1s --retries=2 CMD test -e /tmp/ok").unwrap()),
            r#"{"Test":["CMD-SHELL","test -e /tmp/ok"],"Interval":1000000000,"Retries":2}"#
        );
        assert_eq!(
            s(&parse(r#"--interval=1s CMD ["test","-e","/tmp/ok"]"#).unwrap()),
            r#"{"Test":["CMD","test","-e","/tmp/ok"],"Interval":1000000000}"#
        );
        assert_eq!(s(&parse("NONE").unwrap()), r#"{"Test":["NONE"]}"#);
        let e = |r: &str| parse(r).unwrap_err().to_string();
        assert!(e("--bogus=1 CMD x").contains("Unknown flag: bogus"));
        assert!(e("NONE x").contains("HEALTHCHECK NONE takes no arguments"));
        assert!(e("--interval=1s").contains("HEALTHCHECK requires at least one argument"));
        assert!(e("--timeout=0s CMD x").contains("Interval \"timeout\" cannot be less than 1ms"));
        assert!(
            e("--interval=10us CMD x").contains("Interval \"interval\" cannot be less than 1ms")
        );
    }
}
