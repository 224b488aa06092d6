//! `commit`.

use super::open_engine;
use crate::{CmdResult, Global};
use clap::Args;

#[derive(Args)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short = 'a', long, default_value = "")]
    pub author: String,
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change")]
    pub change: Vec<String>,
    /// Commit message
    #[arg(short = 'm', long, default_value = "")]
    pub message: String,
    /// Pause container during commit
    #[arg(short = 'p', long, default_value_t = true, action = clap::ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub pause: bool,
    pub container: String,
    /// REPOSITORY[:TAG]
    pub reference: Option<String>,
}

pub(super) fn commit(g: &Global, a: CommitArgs) -> CmdResult {
    if let Some(r) = &a.reference {
        engine::parse_reference(r).map_err(crate::image_cmds::image_failure)?;
    }
    let e = open_engine(g)?;
    let id = e.resolve(&a.container)?;
    let img = e.commit(
        &id,
        &engine::CommitOptions {
            reference: a.reference,
            author: a.author,
            message: a.message,
            changes: a.change,
            pause: a.pause,
        },
    )?;
    println!("{img}");
    Ok(())
}
