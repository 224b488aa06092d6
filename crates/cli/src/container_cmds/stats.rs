//! `stats`.

use super::{finish, open_engine};
use crate::format::format_rows;
use crate::human::human_size_prec;
use crate::{CmdResult, Failure, Global};
use clap::Args;
use engine::Engine;
use serde_json::{json, Value};
use std::io::{IsTerminal, Write};

#[derive(Args)]
pub struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Pretty-print stats using a Go template
    #[arg(long)]
    pub format: Option<String>,
    /// Disable streaming stats and only pull the first result
    #[arg(long = "no-stream")]
    pub no_stream: bool,
    /// Do not truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    pub containers: Vec<String>,
}

pub const STATS_HEADERS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Container", "CONTAINER"),
    ("Name", "NAME"),
    ("CPUPerc", "CPU %"),
    ("MemUsage", "MEM USAGE / LIMIT"),
    ("MemPerc", "MEM %"),
    ("NetIO", "NET I/O"),
    ("BlockIO", "BLOCK I/O"),
    ("PIDs", "PIDS"),
];

/// One `stats` row from two samples (CPU % needs a delta).
pub fn stats_row(
    cur: &engine::StatsSample,
    prev: Option<&engine::StatsSample>,
    shown_as: &str,
    trunc: bool,
) -> Value {
    let cpu = prev.map(|p| cur.cpu_percent(p)).unwrap_or(0.0);
    let io = |a: u64, b: u64| {
        format!(
            "{} / {}",
            human_size_prec(a as f64, 3),
            human_size_prec(b as f64, 3)
        )
    };
    json!({
        "ID": if trunc { engine::images::short_id(&cur.id) } else { cur.id.clone() },
        "Container": shown_as,
        "Name": cur.name.trim_start_matches('/'),
        "CPUPerc": format!("{cpu:.2}%"),
        "MemUsage": format!("{} / {}", crate::system::bytes_size(cur.mem_usage), crate::system::bytes_size(cur.mem_limit)),
        "MemPerc": format!("{:.2}%", cur.mem_percent()),
        "NetIO": io(cur.net_rx, cur.net_tx),
        "BlockIO": io(cur.blk_read, cur.blk_write),
        "PIDs": cur.pids.to_string(),
    })
}

pub(super) fn stats(g: &Global, a: StatsArgs) -> CmdResult {
    let e = open_engine(g)?;
    let targets: Vec<(String, String)> = if a.containers.is_empty() {
        e.list(&engine::ListOptions {
            all: a.all,
            ..Default::default()
        })?
        .into_iter()
        .map(|c| {
            let id = c.id.clone();
            (
                if a.no_trunc {
                    id.clone()
                } else {
                    engine::images::short_id(&id)
                },
                id,
            )
        })
        .collect()
    } else {
        let mut v = Vec::new();
        for n in &a.containers {
            v.push((n.clone(), e.resolve(n)?));
        }
        v
    };
    let format = match a.format.as_deref() {
        Some(f) if !f.is_empty() && f != "table" => f.to_string(),
        _ => "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}".to_string(),
    };
    let sample_all = |e: &Engine| -> Vec<Option<engine::StatsSample>> {
        targets.iter().map(|(_, id)| e.stats(id).ok()).collect()
    };
    let tty = std::io::stdout().is_terminal();
    let mut prev = sample_all(&e);
    loop {
        // CPU % is a rate: it needs a second sample some time after the first.
        std::thread::sleep(std::time::Duration::from_millis(if a.no_stream {
            500
        } else {
            1000
        }));
        let cur = sample_all(&e);
        let rows: Vec<Value> = targets
            .iter()
            .zip(cur.iter().zip(prev.iter()))
            .filter_map(|((shown, _), (c, p))| {
                c.as_ref()
                    .map(|c| stats_row(c, p.as_ref(), shown, !a.no_trunc))
            })
            .collect();
        if !a.containers.is_empty() && rows.len() < targets.len() && a.no_stream {
            let missing: Vec<String> = targets
                .iter()
                .zip(cur.iter())
                .filter(|(_, c)| c.is_none())
                .map(|((n, _), _)| format!("No such container: {n}"))
                .collect();
            return finish(missing);
        }
        let text = format_rows(&format, &rows, STATS_HEADERS).map_err(|m| Failure::new(m, 1))?;
        let mut out = std::io::stdout().lock();
        if tty && !a.no_stream {
            out.write_all(b"\x1b[2J\x1b[H")?;
        }
        out.write_all(text.as_bytes())?;
        out.flush()?;
        if a.no_stream {
            return Ok(());
        }
        prev = cur;
    }
}
