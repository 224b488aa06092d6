//! `kill`.

use super::each;
use crate::{CmdResult, Global};
use clap::Args;

#[derive(Args)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short = 's', long, default_value = "KILL")]
    pub signal: String,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

pub(super) fn kill(g: &Global, a: KillArgs) -> CmdResult {
    each(g, &a.containers, |e, id| e.kill(id, &a.signal))
}
