//! `system check [--repair] [--format]` and `system reset [-f]`: formatting only; the engine
//! finds, repairs and removes (`Engine::system_check`, `Engine::system_reset`).

use crate::container_cmds::open_engine;
use crate::format::format_rows;
use crate::{CmdResult, Failure, Global};
use clap::Args;

#[derive(Args)]
pub struct CheckArgs {
    /// Repair what is found (never touches a running container)
    #[arg(long)]
    pub repair: bool,
    /// Format output using a custom template:
    /// 'table':            Print output in table format with column headers (default)
    /// 'table TEMPLATE':   Print output in table format using the given Go template
    /// 'json':             Print in JSON format
    /// 'TEMPLATE':         Print output using the given Go template
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Args)]
pub struct ResetArgs {
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
}

const HEADERS: &[(&str, &str)] = &[
    ("Kind", "KIND"),
    ("Object", "OBJECT"),
    ("Problem", "PROBLEM"),
    ("Action", "ACTION"),
    ("Result", "RESULT"),
];

pub fn check(g: &Global, a: CheckArgs) -> CmdResult {
    let e = open_engine(g)?;
    let found = e
        .system_check(a.repair)
        .map_err(|err| Failure::new(err.to_string(), 125))?;
    let rows: Vec<serde_json::Value> = found
        .iter()
        .map(|f| {
            let mut v = serde_json::to_value(f).unwrap_or_default();
            let result = if !a.repair {
                "found".to_string()
            } else if f.repaired {
                "repaired".to_string()
            } else {
                format!("failed: {}", f.error)
            };
            v["Result"] = result.into();
            v
        })
        .collect();
    let format = match a.format.as_deref().map(str::trim) {
        None | Some("") | Some("table") if a.repair => {
            "table {{.Kind}}\t{{.Object}}\t{{.Problem}}\t{{.Action}}\t{{.Result}}"
        }
        None | Some("") | Some("table") => {
            "table {{.Kind}}\t{{.Object}}\t{{.Problem}}\t{{.Action}}"
        }
        Some("json") => "{{json .}}",
        Some(f) => f,
    };
    let out = format_rows(format, &rows, HEADERS).map_err(|e| Failure::new(e, 125))?;
    print!("{out}");
    let left = found.iter().filter(|f| !f.repaired).count();
    if left == 0 {
        return Ok(());
    }
    let hint = if a.repair {
        format!("{left} problem(s) could not be repaired")
    } else {
        format!("{left} problem(s) found; `berth system check --repair` fixes them")
    };
    Err(Failure::new(hint, 1))
}

pub fn reset(g: &Global, a: ResetArgs) -> CmdResult {
    if !a.force {
        let w = format!(
            "WARNING! This will remove everything berth made on this host for the root {}:\n  - all containers (running ones are killed)\n  - all networks, their bridges and nftables elements\n  - all images, layers and volumes\n  - the cgroups, mounts and runtime state under {}\n",
            g.root.display(),
            g.runroot.display()
        );
        if !crate::container_cmds::confirm(&w)? {
            return Ok(());
        }
    }
    let e = open_engine(g)?;
    let done = e
        .system_reset()
        .map_err(|err| Failure::new(err.to_string(), 125))?;
    for d in done {
        println!("Removed {d}");
    }
    Ok(())
}
