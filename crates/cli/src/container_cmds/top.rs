//! `top`.

use super::open_engine;
use crate::{CmdResult, Global};
use clap::Args;
use std::io::Write;

#[derive(Args)]
pub struct TopArgs {
    pub container: String,
    /// ps options (default -ef)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

/// Go's tabwriter with Docker's `top` settings (minwidth 20, padding 3).
pub fn tabwrite_min(rows: &[Vec<String>], min: usize, pad: usize) -> String {
    let mut widths: Vec<usize> = Vec::new();
    for r in rows {
        for (j, c) in r.iter().enumerate().take(r.len().saturating_sub(1)) {
            let w = (c.chars().count() + pad).max(min);
            if widths.len() <= j {
                widths.push(w);
            } else {
                widths[j] = widths[j].max(w);
            }
        }
    }
    let mut out = String::new();
    for r in rows {
        for (j, c) in r.iter().enumerate() {
            out.push_str(c);
            if j + 1 < r.len() {
                out.push_str(&" ".repeat(widths[j] - c.chars().count()));
            }
        }
        out.push('\n');
    }
    out
}

pub(super) fn top(g: &Global, a: TopArgs) -> CmdResult {
    let e = open_engine(g)?;
    let id = e.resolve(&a.container)?;
    let t = e.top(&id, &a.ps_args)?;
    let mut rows = vec![t.titles];
    rows.extend(t.processes);
    std::io::stdout().write_all(tabwrite_min(&rows, 20, 3).as_bytes())?;
    Ok(())
}
