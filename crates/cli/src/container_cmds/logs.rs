//! `logs`.

use super::open_engine;
use super::time::{now_ns, parse_time};
use crate::{CmdResult, Failure, Global};
use clap::Args;

#[derive(Args)]
pub struct LogsArgs {
    /// Show extra details provided to logs
    #[arg(long)]
    pub details: bool,
    /// Follow log output
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m)
    #[arg(long)]
    pub since: Option<String>,
    /// Number of lines to show from the end of the logs
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Show timestamps
    #[arg(short = 't', long)]
    pub timestamps: bool,
    /// Show logs before a timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m)
    #[arg(long)]
    pub until: Option<String>,
    pub container: String,
}

pub(super) fn logs(g: &Global, a: LogsArgs) -> CmdResult {
    let now = now_ns();
    let t = |v: &Option<String>| {
        v.as_deref()
            .map(|s| parse_time(s, now))
            .transpose()
            .map_err(|m| Failure::new(m, 1))
    };
    let tail = match a.tail.as_str() {
        "all" | "" => None,
        n => match n.parse::<i64>() {
            Ok(v) if v < 0 => None,
            Ok(v) => Some(v as usize),
            // dockerd (20.10 and later) reads a --tail it cannot parse as "all".
            Err(_) => None,
        },
    };
    let opts = engine::LogsOptions {
        follow: a.follow,
        tail,
        since: t(&a.since)?,
        until: t(&a.until)?,
        timestamps: a.timestamps,
        stdout: true,
        stderr: true,
    };
    let e = open_engine(g)?;
    let id = e.resolve(&a.container)?;
    let mut out = std::io::stdout();
    let mut err = std::io::stderr();
    if a.details {
        let attrs = super::log_details::attributes(&e.inspect(&id)?);
        let mut out = super::log_details::Prefixed::new(&mut out, &attrs);
        let mut err = super::log_details::Prefixed::new(&mut err, &attrs);
        e.logs(&id, &opts, &mut out, &mut err)?;
        return Ok(());
    }
    e.logs(&id, &opts, &mut out, &mut err)?;
    Ok(())
}
