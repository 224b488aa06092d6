//! `--health-*` and `--no-healthcheck` (Docker's `containerOptions` healthcheck flags), parsed
//! into `Config.Healthcheck` with the docker CLI's checks and wording.

use clap::Args;
use engine::health::HealthConfig;

#[derive(Args, Debug, Clone, Default)]
pub struct HealthFlags {
    /// Command to run to check health
    #[arg(long = "health-cmd", default_value = "")]
    pub cmd: String,
    /// Time between running the check (ms|s|m|h) (default 0s)
    #[arg(long = "health-interval", allow_hyphen_values = true)]
    pub interval: Option<String>,
    /// Consecutive failures needed to report unhealthy
    #[arg(long = "health-retries", allow_negative_numbers = true)]
    pub retries: Option<String>,
    /// Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)
    #[arg(long = "health-start-period", allow_hyphen_values = true)]
    pub start_period: Option<String>,
    /// Time between running the check during the start period (ms|s|m|h) (default 0s)
    #[arg(long = "health-start-interval", allow_hyphen_values = true)]
    pub start_interval: Option<String>,
    /// Maximum time to allow one check to run (ms|s|m|h) (default 0s)
    #[arg(long = "health-timeout", allow_hyphen_values = true)]
    pub timeout: Option<String>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long = "no-healthcheck")]
    pub none: bool,
}

fn duration(v: &Option<String>, flag: &str) -> Result<i64, String> {
    let Some(s) = v else { return Ok(0) };
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let ns = engine::health::parse_go_duration(body);
    match ns {
        Some(n) => Ok(if neg { -n } else { n }),
        None => Err(format!(
            "invalid argument \"{s}\" for \"{flag}\" flag: time: invalid duration \"{s}\""
        )),
    }
}

/// Docker's rules: `--no-healthcheck` is `Test: ["NONE"]` and excludes the other flags; any
/// other flag makes a healthcheck whose unset fields come from the image's.
pub fn to_health(f: &HealthFlags) -> Result<Option<HealthConfig>, String> {
    let interval = duration(&f.interval, "--health-interval")?;
    let timeout = duration(&f.timeout, "--health-timeout")?;
    let start_period = duration(&f.start_period, "--health-start-period")?;
    let start_interval = duration(&f.start_interval, "--health-start-interval")?;
    let retries = match &f.retries {
        None => 0,
        Some(r) => r.parse::<i64>().map_err(|_| {
            format!(
                "invalid argument \"{r}\" for \"--health-retries\" flag: strconv.ParseInt: parsing \"{r}\": invalid syntax"
            )
        })?,
    };
    let any = !f.cmd.is_empty()
        || interval != 0
        || timeout != 0
        || start_period != 0
        || retries != 0
        || start_interval != 0;
    if f.none {
        if any {
            return Err("--no-healthcheck conflicts with --health-* options".into());
        }
        return Ok(Some(HealthConfig {
            test: vec!["NONE".into()],
            ..Default::default()
        }));
    }
    if !any {
        return Ok(None);
    }
    for (v, name) in [
        (interval, "--health-interval"),
        (timeout, "--health-timeout"),
        (retries, "--health-retries"),
        (start_period, "--health-start-period"),
        (start_interval, "--health-start-interval"),
    ] {
        if v < 0 {
            return Err(format!("{name} cannot be negative"));
        }
    }
    Ok(Some(HealthConfig {
        test: if f.cmd.is_empty() {
            Vec::new()
        } else {
            vec!["CMD-SHELL".into(), f.cmd.clone()]
        },
        interval,
        timeout,
        start_period,
        start_interval,
        retries,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_as_dockers_cli() {
        let f = HealthFlags {
            cmd: "true".into(),
            interval: Some("1s".into()),
            retries: Some("2".into()),
            ..Default::default()
        };
        let h = to_health(&f).unwrap().unwrap();
        assert_eq!(h.test, vec!["CMD-SHELL", "true"]);
        assert_eq!((h.interval, h.retries), (1_000_000_000, 2));
        let neg = HealthFlags {
            interval: Some("-1s".into()),
            ..Default::default()
        };
        assert_eq!(
            to_health(&neg).unwrap_err(),
            "--health-interval cannot be negative"
        );
        let bad = HealthFlags {
            interval: Some("abc".into()),
            ..Default::default()
        };
        assert_eq!(
            to_health(&bad).unwrap_err(),
            "invalid argument \"abc\" for \"--health-interval\" flag: time: invalid duration \"abc\""
        );
        let both = HealthFlags {
            cmd: "x".into(),
            none: true,
            ..Default::default()
        };
        assert_eq!(
            to_health(&both).unwrap_err(),
            "--no-healthcheck conflicts with --health-* options"
        );
        let none = HealthFlags {
            none: true,
            ..Default::default()
        };
        assert_eq!(to_health(&none).unwrap().unwrap().test, vec!["NONE"]);
        assert_eq!(to_health(&HealthFlags::default()).unwrap(), None);
    }
}
