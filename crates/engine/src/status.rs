//! Times and the `ps` STATUS text.

use crate::record::{self, Record};
use crate::types::ContainerStatus;

pub(crate) fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

pub(crate) fn parse_time(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
        .filter(|t| t.timestamp() > 0)
}

/// Docker's `units.HumanDuration`.
pub fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    let m = s / 60;
    let h = (s as f64 / 3600.0).round() as i64;
    if s < 1 {
        "Less than a second".into()
    } else if s == 1 {
        "1 second".into()
    } else if s < 60 {
        format!("{s} seconds")
    } else if m == 1 {
        "About a minute".into()
    } else if m < 60 {
        format!("{m} minutes")
    } else if h == 1 {
        "About an hour".into()
    } else if h < 48 {
        format!("{h} hours")
    } else if h < 24 * 7 * 2 {
        format!("{} days", h / 24)
    } else if h < 24 * 30 * 2 {
        format!("{} weeks", h / 24 / 7)
    } else if h < 24 * 365 * 2 {
        format!("{} months", h / 24 / 30)
    } else {
        format!("{} years", h / 24 / 365)
    }
}

/// `ps`'s STATUS column.
pub(crate) fn status_text(r: &Record) -> String {
    let now = chrono::Utc::now();
    let since = |t: &str| parse_time(t).map(|t| (now - t).num_seconds()).unwrap_or(0);
    match r.effective_status() {
        ContainerStatus::Running => match &r.state.health {
            Some(h) => format!(
                "Up {} ({})",
                human_duration(since(&r.state.started_at)),
                h.summary()
            ),
            None => format!("Up {}", human_duration(since(&r.state.started_at))),
        },
        ContainerStatus::Paused => {
            format!("Up {} (Paused)", human_duration(since(&r.state.started_at)))
        }
        ContainerStatus::Restarting => format!(
            "Restarting ({}) {} ago",
            r.state.exit_code,
            human_duration(since(&r.state.finished_at))
        ),
        ContainerStatus::Created => "Created".into(),
        ContainerStatus::Removing => "Removal In Progress".into(),
        ContainerStatus::Dead => "Dead".into(),
        _ if r.state.finished_at == record::NEVER || parse_time(&r.state.finished_at).is_none() => {
            if r.has_been_started_before {
                format!("Exited ({})", r.state.exit_code)
            } else {
                "Created".into()
            }
        }
        _ => format!(
            "Exited ({}) {} ago",
            r.state.exit_code,
            human_duration(since(&r.state.finished_at))
        ),
    }
}
