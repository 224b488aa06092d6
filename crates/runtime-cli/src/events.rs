//! `events`: the container's resource usage in runc's event schema (`{"type": "stats", "id",
//! "data": {"cpu": {"usage": ...}, "memory": {"usage": {"limit", "usage", "max", ...}}, ...}}`),
//! once with `--stats`, else every `--interval` until the container stops, with an `oom`
//! event whenever the kernel OOM-killed one of its processes (as runc does).

use anyhow::{bail, Context, Result};
use runtime::{Container, Status};
use serde_json::{json, Value};
use std::time::Duration;

/// One sample as runc's `types.Stats`. Zero fields that runc tags `omitempty` are left out.
pub fn stats_data(s: &cgroups::Stats) -> Value {
    let mut usage = json!({
        "limit": s.memory_limit,
        "failcnt": 0,
    });
    if s.memory_usage > 0 {
        usage["usage"] = json!(s.memory_usage);
    }
    if s.memory_max_usage > 0 {
        usage["max"] = json!(s.memory_max_usage);
    }
    let mut memory = json!({ "usage": usage });
    if s.memory_cache > 0 {
        memory["cache"] = json!(s.memory_cache);
    }
    let mut cpu_usage = json!({
        "kernel": s.cpu_usage_kernel_ns,
        "user": s.cpu_usage_user_ns,
    });
    if s.cpu_usage_total_ns > 0 {
        cpu_usage["total"] = json!(s.cpu_usage_total_ns);
    }
    let mut pids = json!({});
    if s.pids_current > 0 {
        pids["current"] = json!(s.pids_current);
    }
    if s.pids_limit > 0 {
        pids["limit"] = json!(s.pids_limit);
    }
    let mut blkio = json!({});
    let io: Vec<Value> = [("Read", s.blkio_read_bytes), ("Write", s.blkio_write_bytes)]
        .iter()
        .filter(|(_, v)| *v > 0)
        .map(|(op, v)| json!({"major": 0, "minor": 0, "op": op, "value": v}))
        .collect();
    if !io.is_empty() {
        blkio["ioServiceBytesRecursive"] = json!(io);
    }
    json!({
        "cpu": { "usage": cpu_usage, "throttling": {} },
        "cpuset": {},
        "memory": memory,
        "pids": pids,
        "blkio": blkio,
        "hugetlb": {},
        "intel_rdt": {},
        "network_interfaces": null,
    })
}

/// Go's duration syntax as runc takes it for `--interval` ("5s", "100ms", "1m", "1m30s").
pub fn parse_interval(s: &str) -> Result<Duration> {
    let mut total = Duration::ZERO;
    let mut rest = s.trim();
    if rest.is_empty() {
        bail!("invalid interval {s:?}");
    }
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .with_context(|| format!("invalid interval {s:?}: a unit is missing"))?;
        let num: f64 = rest[..n]
            .parse()
            .with_context(|| format!("invalid interval {s:?}"))?;
        rest = &rest[n..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let secs = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            u => bail!("invalid interval {s:?}: unknown unit {u:?}"),
        };
        total += Duration::from_secs_f64(num * secs);
        rest = &rest[unit_len..];
    }
    if total.is_zero() {
        bail!("duration interval must be greater than 0");
    }
    Ok(total)
}

/// Prints the events of `c`: one stats sample (`once`), or samples every `interval` and oom
/// events until the container stops.
pub fn run(c: &Container, once: bool, interval: Duration) -> Result<()> {
    let id = c.id().to_string();
    let sample = |c: &Container| -> Result<Value> {
        Ok(json!({"type": "stats", "id": id, "data": stats_data(&c.stats()?)}))
    };
    if once {
        println!("{}", sample(c)?);
        return Ok(());
    }
    let mut ooms = c.oom_kill_count().unwrap_or(0);
    loop {
        if c.status() == Status::Stopped {
            return Ok(());
        }
        let n = c.oom_kill_count().unwrap_or(ooms);
        if n > ooms {
            println!("{}", json!({"type": "oom", "id": id}));
            ooms = n;
        }
        match sample(c) {
            Ok(v) => println!("{v}"),
            // The container stopped (and its cgroup went) between the check and the read.
            Err(_) if c.status() == Status::Stopped => return Ok(()),
            Err(e) => return Err(e),
        }
        std::thread::sleep(interval);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_use_runcs_nested_schema() {
        let s = cgroups::Stats {
            cpu_usage_total_ns: 10,
            memory_usage: 4096,
            memory_limit: 1 << 20,
            pids_current: 2,
            ..Default::default()
        };
        let v = stats_data(&s);
        assert_eq!(v["memory"]["usage"]["limit"], 1 << 20);
        assert_eq!(v["memory"]["usage"]["usage"], 4096);
        assert_eq!(v["cpu"]["usage"]["total"], 10);
        assert_eq!(v["pids"]["current"], 2);
        assert!(v["pids"].get("limit").is_none());
    }

    #[test]
    fn intervals_parse_like_go_durations() {
        assert_eq!(parse_interval("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_interval("100ms").unwrap(), Duration::from_millis(100));
        assert_eq!(parse_interval("1m30s").unwrap(), Duration::from_secs(90));
        assert!(parse_interval("5").is_err());
        assert!(parse_interval("0s").is_err());
        assert!(parse_interval("5x").is_err());
    }
}
