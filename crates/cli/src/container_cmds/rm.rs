//! `rm`.

use super::each;
use crate::{CmdResult, Global};
use clap::Args;

#[derive(Args)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short = 'v', long)]
    pub volumes: bool,
    /// Remove the specified link
    #[arg(short = 'l', long)]
    pub link: bool,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

pub(super) fn rm(g: &Global, a: RmArgs) -> CmdResult {
    let opts = engine::RemoveOptions {
        force: a.force,
        volumes: a.volumes,
    };
    if !a.force {
        return each(g, &a.containers, |e, id| e.remove(id, &opts));
    }
    // Docker CLI: with -f a missing container is reported but does not fail the command.
    let e = super::open_engine(g)?;
    let mut errors = Vec::new();
    for n in &a.containers {
        match e.resolve(n).and_then(|id| e.remove(&id, &opts)) {
            Ok(()) => println!("{n}"),
            Err(err @ engine::Error::NoSuchContainer(_)) => eprintln!("Error: {err}"),
            Err(err) => errors.push(err.to_string()),
        }
    }
    super::finish(errors)
}
