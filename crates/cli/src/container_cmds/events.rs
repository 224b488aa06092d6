//! `events`.

use super::time::{now_ns, parse_time};
use super::{open_engine, parse_filters};
use crate::format::Template;
use crate::{CmdResult, Failure, Global};
use clap::Args;
use std::io::Write;

#[derive(Args)]
pub struct EventsArgs {
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format the output using the given Go template
    #[arg(long)]
    pub format: Option<String>,
    /// Show all events created since timestamp
    #[arg(long)]
    pub since: Option<String>,
    /// Stream events until this timestamp
    #[arg(long)]
    pub until: Option<String>,
}

/// Docker's default event line: "2024-01-02T15:04:05.000000000+01:00 container start ID (a=b, …)".
pub fn event_line(ev: &engine::Event) -> String {
    let t = chrono::DateTime::from_timestamp(
        ev.time_nano / 1_000_000_000,
        (ev.time_nano % 1_000_000_000) as u32,
    )
    .unwrap_or_default()
    .with_timezone(&chrono::Local);
    let ts = t.format("%Y-%m-%dT%H:%M:%S%.9f").to_string();
    let off = t.format("%:z").to_string();
    let off = if off == "+00:00" {
        "Z".to_string()
    } else {
        off
    };
    let mut s = format!("{ts}{off} {} {} {}", ev.kind, ev.action, ev.actor.id);
    if !ev.actor.attributes.is_empty() {
        let attrs: Vec<String> = ev
            .actor
            .attributes
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        s.push_str(&format!(" ({})", attrs.join(", ")));
    }
    s
}

/// An event as templates see it: its JSON (what `{{json .}}` prints) where Go's field names
/// (`.Status`, `.ID`, `.From`, `.Scope`, `.Time`, `.TimeNano`) read the JSON-tagged keys.
fn event_value(ev: &engine::Event) -> serde_json::Value {
    let mut v = serde_json::to_value(ev).unwrap_or_default();
    if let serde_json::Value::Object(o) = &mut v {
        // Go's empty string fields (network events have no status/id/from) print as "".
        const EMPTY: &str = "\u{0}empty";
        o.insert(EMPTY.into(), "".into());
        let mut aliases = serde_json::Map::new();
        for (go, key) in [
            ("Status", "status"),
            ("ID", "id"),
            ("From", "from"),
            ("Scope", "scope"),
            ("Time", "time"),
            ("TimeNano", "timeNano"),
        ] {
            let to = if o.contains_key(key) { key } else { EMPTY };
            aliases.insert(go.into(), to.into());
        }
        o.insert(crate::format::ALIASES.into(), aliases.into());
    }
    v
}

pub fn events(g: &Global, a: EventsArgs) -> CmdResult {
    let now = now_ns();
    let t = |v: &Option<String>| -> Result<Option<f64>, Failure> {
        v.as_deref()
            .map(|s| parse_time(s, now).map(|ns| ns as f64 / 1e9))
            .transpose()
            .map_err(|m| Failure::new(m, 1))
    };
    let opts = engine::EventsOptions {
        since: t(&a.since)?,
        until: t(&a.until)?,
        filters: parse_filters(&a.filter)?,
        follow: a.until.is_none(),
    };
    let tmpl = a
        .format
        .as_deref()
        .map(|f| {
            Template::parse(f).map_err(|e| Failure::new(format!("template parsing error: {e}"), 1))
        })
        .transpose()?;
    let e = open_engine(g)?;
    let mut out = std::io::stdout();
    let mut err = None;
    e.events(&opts, &mut |ev| {
        let line = match &tmpl {
            Some(t) => match t.execute(&event_value(ev)) {
                Ok(s) => s,
                Err(m) => {
                    err = Some(m);
                    return false;
                }
            },
            None => event_line(ev),
        };
        // A closed pipe ends the stream quietly.
        writeln!(out, "{line}").and_then(|_| out.flush()).is_ok()
    })?;
    if let Some(m) = err {
        return Err(Failure::new(m, 1));
    }
    Ok(())
}
