//! `stop` and `restart`.

use super::each;
use crate::{CmdResult, Global};
use clap::Args;

#[derive(Args)]
pub struct StopArgs {
    /// Signal to send to the container
    #[arg(short = 's', long = "signal")]
    pub signal: Option<String>,
    /// Seconds to wait for stop before killing it
    #[arg(short = 't', long = "time", alias = "timeout")]
    pub time: Option<i64>,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

pub(super) fn stop(g: &Global, a: StopArgs, restart: bool) -> CmdResult {
    each(g, &a.containers, |e, id| {
        if restart {
            e.restart_with(id, a.time, a.signal.as_deref())
        } else {
            e.stop_with(id, a.time, a.signal.as_deref())
        }
    })
}
