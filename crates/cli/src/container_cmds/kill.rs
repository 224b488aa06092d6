//! `kill`.

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
    // The engine resolves each name itself: Docker's messages name the container as typed
    // ("Cannot kill container: web: Container <id> is not running").
    let e = super::open_engine(g)?;
    let mut errors = Vec::new();
    for n in &a.containers {
        match e.kill(n, &a.signal) {
            Ok(()) => println!("{n}"),
            Err(err) => errors.push(err.to_string()),
        }
    }
    super::finish(errors)
}
