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
    let id = e.resolve(&a.container)?;
    e.rename(&id, &a.new_name)?;
    Ok(())
}
