//! `rename`.

use super::open_engine;
use crate::{CmdResult, Global};
use clap::Args;

#[derive(Args)]
pub struct RenameArgs {
    pub container: String,
    pub new_name: String,
}

pub(super) fn rename(g: &Global, a: RenameArgs) -> CmdResult {
    let e = open_engine(g)?;
    // Docker's CLI prints the engine's error, then its own.
    match e
        .resolve(&a.container)
        .and_then(|id| e.rename(&id, &a.new_name))
    {
        Ok(()) => Ok(()),
        Err(err) => {
            eprintln!("Error: {err}");
            Err(crate::Failure::new(
                format!("failed to rename container named {}", a.container),
                1,
            ))
        }
    }
}
