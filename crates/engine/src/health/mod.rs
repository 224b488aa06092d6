//! Healthchecks (Docker's `HEALTHCHECK`, `--health-*`), run without a daemon.
//!
//! - [`HealthConfig`] is the container's `Config.Healthcheck` (the user's flags merged over the
//!   image's, as Docker's `merge`); [`Health`] is `State.Health` in the record.
//! - [`sched`] is the timer in the container's monitor (both the full monitor and the small
//!   `berth-monitor`, into which it is compiled too): it starts one probe process at a time
//!   and waits for its one-byte verdict, so an idle monitor holds no more than a few integers.
//! - [`probe`] is that probe process (`berth` run as `berth-health`): it execs the test into
//!   the container through the runtime's sealed exec path, kills it at the timeout, and records
//!   the result, the failing streak and the status in the record (with `health_status`
//!   events), exactly as Docker's `handleProbeResult`.

pub mod probe;
pub mod sched;

use serde::{Deserialize, Serialize};

/// Docker's defaults (daemon/health.go).
pub const DEFAULT_INTERVAL_NS: i64 = 30_000_000_000;
pub const DEFAULT_TIMEOUT_NS: i64 = 30_000_000_000;
pub const DEFAULT_RETRIES: i64 = 3;
/// Probe output kept per result (Docker's `maxOutputLen`).
pub const MAX_OUTPUT: usize = 4096;
/// Results kept in `State.Health.Log` (Docker's `maxLogEntries`).
pub const MAX_LOG: usize = 5;
/// Docker's `MinimumDuration` for the durations of a healthcheck.
pub const MIN_DURATION_NS: i64 = 1_000_000;

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// `Config.Healthcheck` (Docker's `container.HealthConfig`; every field omitted when empty).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct HealthConfig {
    /// `[]` inherit, `["NONE"]` off, `["CMD", args...]`, `["CMD-SHELL", command]`.
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

/// What a healthcheck runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Test {
    /// `CMD`: the arguments as they are.
    Exec(Vec<String>),
    /// `CMD-SHELL`: one command line for the container's shell.
    Shell(String),
}

impl HealthConfig {
    /// The probe, if this healthcheck has one (`NONE`, an empty or unknown test: none, and then
    /// the container has no `State.Health`, as in Docker).
    pub fn test(&self) -> Option<Test> {
        match self.test.first().map(String::as_str) {
            Some("CMD") if self.test.len() > 1 => Some(Test::Exec(self.test[1..].to_vec())),
            Some("CMD-SHELL") if self.test.len() > 1 => Some(Test::Shell(self.test[1..].join(" "))),
            _ => None,
        }
    }

    /// The monitor's timer settings with Docker's defaults filled in.
    pub fn timing(&self) -> sched::Timing {
        let or = |v: i64, d: i64| if v > 0 { v } else { d } as u64;
        sched::Timing {
            interval_ns: or(self.interval, DEFAULT_INTERVAL_NS),
            // dockerd 20.10 (the oracle) probes every interval in the start period; Docker 25's
            // `--health-start-interval` changes that only when given (its 5 s default would
            // slow down what 20.10 users see).
            start_interval_ns: or(
                self.start_interval,
                or(self.interval, DEFAULT_INTERVAL_NS) as i64,
            ),
            start_period_ns: self.start_period.max(0) as u64,
        }
    }

    pub fn timeout_ns(&self) -> i64 {
        if self.timeout > 0 {
            self.timeout
        } else {
            DEFAULT_TIMEOUT_NS
        }
    }

    pub fn retries(&self) -> i64 {
        if self.retries > 0 {
            self.retries
        } else {
            DEFAULT_RETRIES
        }
    }

    /// The daemon's checks (Docker's `validateHealthCheck`), with its wording.
    pub fn validate(&self) -> Result<(), String> {
        let min = |v: i64, what: &str| {
            if v != 0 && v < MIN_DURATION_NS {
                Err(format!("{what} in Healthcheck cannot be less than 1ms"))
            } else {
                Ok(())
            }
        };
        min(self.interval, "Interval")?;
        min(self.timeout, "Timeout")?;
        if self.retries < 0 {
            return Err("Retries in Healthcheck cannot be negative".into());
        }
        min(self.start_period, "StartPeriod")?;
        min(self.start_interval, "StartInterval")
    }
}

/// Docker's `merge` of the image's healthcheck into the container's: the image's whole config
/// when the user gave none, else each unset field from the image.
pub fn merge(user: &mut Option<HealthConfig>, image: Option<&image::healthcheck::Healthcheck>) {
    let Some(i) = image else { return };
    let img = HealthConfig {
        test: i.test.clone(),
        interval: i.interval,
        timeout: i.timeout,
        start_period: i.start_period,
        start_interval: i.start_interval,
        retries: i.retries,
    };
    match user {
        None => *user = Some(img),
        Some(u) => {
            if u.test.is_empty() {
                u.test = img.test;
            }
            if u.interval == 0 {
                u.interval = img.interval;
            }
            if u.timeout == 0 {
                u.timeout = img.timeout;
            }
            if u.start_period == 0 {
                u.start_period = img.start_period;
            }
            if u.start_interval == 0 {
                u.start_interval = img.start_interval;
            }
            if u.retries == 0 {
                u.retries = img.retries;
            }
        }
    }
}

pub const STARTING: &str = "starting";
pub const HEALTHY: &str = "healthy";
pub const UNHEALTHY: &str = "unhealthy";

/// `State.Health`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Health {
    pub status: String,
    pub failing_streak: i64,
    pub log: Vec<HealthResult>,
}

/// One probe's result (Docker's `types.HealthcheckResult`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct HealthResult {
    /// RFC 3339 with Go's trimmed nanoseconds.
    pub start: String,
    pub end: String,
    pub exit_code: i64,
    pub output: String,
}

impl Health {
    /// The text in `ps`'s STATUS after "Up ..." (Docker's `Health.String`).
    pub fn summary(&self) -> String {
        if self.status == STARTING {
            "health: starting".into()
        } else {
            self.status.clone()
        }
    }

    /// Docker's `handleProbeResult`: appends `res` (keeping the last five), counts the failing
    /// streak (not while starting within the start period) and sets the status. Returns the
    /// new status if it changed (then a `health_status: <status>` event is due).
    pub fn record(
        &mut self,
        cfg: &HealthConfig,
        res: HealthResult,
        since_start_ns: i64,
    ) -> Option<String> {
        let old = self.status.clone();
        let ok = res.exit_code == 0;
        if self.log.len() >= MAX_LOG {
            self.log.drain(..self.log.len() + 1 - MAX_LOG);
        }
        self.log.push(res);
        if ok {
            self.failing_streak = 0;
            self.status = HEALTHY.into();
        } else {
            let in_start_period = self.status == STARTING && since_start_ns < cfg.start_period;
            if !in_start_period {
                self.failing_streak += 1;
                if self.failing_streak >= cfg.retries() {
                    self.status = UNHEALTHY.into();
                }
            }
        }
        (self.status != old).then(|| self.status.clone())
    }
}

/// The health a (re)started container begins with: "starting", streak 0, earlier results
/// kept (Docker's `initHealthMonitor`); None when it has no probe.
pub fn on_start(cfg: Option<&HealthConfig>, prev: Option<Health>) -> Option<Health> {
    cfg.and_then(HealthConfig::test)?;
    let mut h = prev.unwrap_or_default();
    h.status = STARTING.into();
    h.failing_streak = 0;
    Some(h)
}

/// A container that stopped reads "unhealthy" (what dockerd 20.10 shows after a stop; the
/// streak and the results stay, no event).
pub fn on_stop(h: &mut Option<Health>) {
    if let Some(h) = h {
        h.status = UNHEALTHY.into();
    }
}

/// The monitor's timer settings for a container's healthcheck, if it has a probe.
pub fn timing_of(cfg: Option<&HealthConfig>) -> Option<sched::Timing> {
    cfg.filter(|c| c.test().is_some()).map(HealthConfig::timing)
}

/// Starts a probe from the full monitor (the `berth` executable it runs).
pub(crate) fn spawn_from_monitor(s: &mut sched::Sched, paths: &crate::record::Paths, id: &str) {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    // O_PATH: enough for execveat.
    let exe = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH)
        .open("/proc/self/exe");
    s.spawn(
        exe.as_ref().map_or(-1, |f| f.as_raw_fd()),
        id,
        paths.root.as_os_str(),
        paths.runroot.as_os_str(),
    );
}

/// Go's `time.ParseDuration` of an unsigned duration ("1m30s", "250ms", "0"), in ns.
pub fn parse_go_duration(s: &str) -> Option<i64> {
    image::healthcheck::go_duration(s)
}

/// Go's `time.Duration.String()` ("500ms", "1m30s", "1.5s", "0s").
pub fn go_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let neg = ns < 0;
    let u = ns.unsigned_abs();
    let sign = if neg { "-" } else { "" };
    let frac = |v: u64, digits: u32| -> String {
        // v in units of 10^-digits, printed with trailing zeros trimmed.
        let p = 10u64.pow(digits);
        let (w, f) = (v / p, v % p);
        if f == 0 {
            return w.to_string();
        }
        let s = format!("{f:0width$}", width = digits as usize);
        format!("{w}.{}", s.trim_end_matches('0'))
    };
    if u < 1_000 {
        return format!("{sign}{u}ns");
    }
    if u < 1_000_000 {
        return format!("{sign}{}µs", frac(u, 3));
    }
    if u < 1_000_000_000 {
        return format!("{sign}{}ms", frac(u, 6));
    }
    let h = u / 3_600_000_000_000;
    let m = u / 60_000_000_000 % 60;
    let s = frac(u % 60_000_000_000, 9);
    match (h, m) {
        (0, 0) => format!("{sign}{s}s"),
        (0, m) => format!("{sign}{m}m{s}s"),
        (h, m) => format!("{sign}{h}h{m}m{s}s"),
    }
}

/// Go's `time.RFC3339Nano` of a UTC time (trailing zeros of the fraction trimmed).
pub fn go_time(t: chrono::DateTime<chrono::Utc>) -> String {
    let s = t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let (main, _) = s.split_at(s.len() - 1);
    match main.split_once('.') {
        Some((a, f)) => {
            let f = f.trim_end_matches('0');
            if f.is_empty() {
                format!("{a}Z")
            } else {
                format!("{a}.{f}Z")
            }
        }
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(code: i64) -> HealthResult {
        HealthResult {
            exit_code: code,
            ..Default::default()
        }
    }

    #[test]
    fn durations_print_as_go() {
        assert_eq!(go_duration(500_000_000), "500ms");
        assert_eq!(go_duration(1_000_000_000), "1s");
        assert_eq!(go_duration(1_500_000_000), "1.5s");
        assert_eq!(go_duration(90_000_000_000), "1m30s");
        assert_eq!(go_duration(30_000_000_000), "30s");
        assert_eq!(go_duration(3_600_000_000_000), "1h0m0s");
        assert_eq!(go_duration(1_000_000), "1ms");
        assert_eq!(go_duration(1_500), "1.5µs");
        assert_eq!(go_duration(0), "0s");
    }

    #[test]
    fn times_print_as_go() {
        let t = chrono::DateTime::parse_from_rfc3339("2026-12-07T22:36:25.380885300Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(go_time(t), "2026-12-07T22:36:25.3808853Z");
        let t = chrono::DateTime::parse_from_rfc3339("2026-12-07T22:36:25Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(go_time(t), "2026-12-07T22:36:25Z");
    }

    #[test]
    fn transitions_as_docker() {
        let cfg = HealthConfig {
            test: vec!["CMD-SHELL".into(), "x".into()],
            retries: 2,
            ..Default::default()
        };
        let mut h = on_start(Some(&cfg), None).unwrap();
        assert_eq!(h.summary(), "health: starting");
        assert_eq!(h.record(&cfg, res(1), 0), None);
        assert_eq!(h.failing_streak, 1);
        assert_eq!(h.record(&cfg, res(1), 0), Some("unhealthy".into()));
        assert_eq!(h.record(&cfg, res(1), 0), None);
        assert_eq!(h.failing_streak, 3);
        assert_eq!(h.record(&cfg, res(0), 0), Some("healthy".into()));
        assert_eq!(h.failing_streak, 0);
        for _ in 0..4 {
            h.record(&cfg, res(2), 0);
        }
        assert_eq!(h.log.len(), MAX_LOG);
        assert_eq!(h.status, "unhealthy");
        // A restart: starting again, results kept.
        let h = on_start(Some(&cfg), Some(h)).unwrap();
        assert_eq!(
            (h.status.as_str(), h.failing_streak, h.log.len()),
            ("starting", 0, 5)
        );
    }

    #[test]
    fn start_period_does_not_count_failures() {
        let cfg = HealthConfig {
            test: vec!["CMD".into(), "false".into()],
            start_period: 10_000_000_000,
            retries: 1,
            ..Default::default()
        };
        let mut h = on_start(Some(&cfg), None).unwrap();
        assert_eq!(h.record(&cfg, res(1), 5_000_000_000), None);
        assert_eq!((h.status.as_str(), h.failing_streak), ("starting", 0));
        assert_eq!(
            h.record(&cfg, res(1), 11_000_000_000),
            Some("unhealthy".into())
        );
    }

    #[test]
    fn none_and_merge() {
        let none = HealthConfig {
            test: vec!["NONE".into()],
            ..Default::default()
        };
        assert_eq!(on_start(Some(&none), None), None);
        let img = image::healthcheck::Healthcheck {
            test: vec!["CMD".into(), "true".into()],
            interval: 5,
            retries: 4,
            ..Default::default()
        };
        let mut u = Some(HealthConfig {
            interval: 7,
            ..Default::default()
        });
        merge(&mut u, Some(&img));
        let u = u.unwrap();
        assert_eq!(u.test, vec!["CMD", "true"]);
        assert_eq!((u.interval, u.retries), (7, 4));
        assert_eq!(
            serde_json::to_string(&HealthConfig {
                test: vec!["CMD-SHELL".into(), "x".into()],
                interval: 1_000_000_000,
                retries: 2,
                ..Default::default()
            })
            .unwrap(),
            r#"{"Test":["CMD-SHELL","x"],"Interval":1000000000,"Retries":2}"#
        );
    }
}
