//! `diff`.

use super::open_engine;
use crate::{CmdResult, Global};
use clap::Args;
use std::io::Write;

#[derive(Args)]
pub struct DiffArgs {
    pub container: String,
}

pub(super) fn diff(g: &Global, a: DiffArgs) -> CmdResult {
    let e = open_engine(g)?;
    let id = e.resolve(&a.container)?;
    let mut out = std::io::stdout().lock();
    for c in e.changes(&id)? {
        writeln!(out, "{} {}", c.kind, c.path)?;
    }
    Ok(())
}
