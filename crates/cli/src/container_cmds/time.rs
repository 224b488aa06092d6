//! `--since`/`--until` values: Go durations, unix times and RFC 3339.

/// Docker's timestamps for `--since`/`--until`: unix seconds (with fraction), RFC 3339 (or a
/// date / date-time without zone, taken as local), or a Go duration back from now ("10m").
/// Returns unix nanoseconds.
pub fn parse_time(s: &str, now_ns: i64) -> Result<i64, String> {
    if let Ok(v) = s.parse::<f64>() {
        return Ok((v * 1e9) as i64);
    }
    if let Some(d) = parse_go_duration(s) {
        return Ok(now_ns - d);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp_nanos_opt().unwrap_or(0));
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
    ] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, f) {
            if let Some(l) = t.and_local_timezone(chrono::Local).earliest() {
                return Ok(l.timestamp_nanos_opt().unwrap_or(0));
            }
        }
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        if let Some(l) = d
            .and_hms_opt(0, 0, 0)
            .and_then(|t| t.and_local_timezone(chrono::Local).earliest())
        {
            return Ok(l.timestamp_nanos_opt().unwrap_or(0));
        }
    }
    Err(format!(
        "invalid value for \"since\"/\"until\": failed to parse value as time or duration: {s:?}"
    ))
}

/// Go's `time.ParseDuration` ("1h30m", "10s", "250ms") in nanoseconds.
pub fn parse_go_duration(s: &str) -> Option<i64> {
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

pub(super) fn now_ns() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
}
