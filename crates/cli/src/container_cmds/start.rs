//! `start`.

use super::session::{exit_of_pumped, proxy_signals, pump};
use super::{each, open_engine, run_failure};
use crate::{detach_keys, CmdResult, Failure, Global};
use clap::Args;

#[derive(Args)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short = 'a', long)]
    pub attach: bool,
    /// Attach container's STDIN
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

pub fn start(g: &Global, a: StartArgs) -> CmdResult {
    if !(a.attach || a.interactive) {
        return each(g, &a.containers, |e, id| e.start(id));
    }
    if a.containers.len() > 1 {
        return Err(Failure::new(
            "you cannot start and attach multiple containers at once",
            1,
        ));
    }
    let keys = detach_keys::resolve(a.detach_keys.as_deref(), detach_keys::For::Attach, 1)?;
    let e = open_engine(g)?;
    let id = e.resolve(&a.containers[0])?;
    let opts = engine::AttachOptions {
        stdin: a.interactive,
        stdout: true,
        stderr: true,
    };
    let att = e.start_attached(&id, &opts).map_err(run_failure)?;
    if !att.tty() {
        proxy_signals(g, &id);
    }
    // Detached: as `run`, silent and 0.
    let Some(code) = exit_of_pumped(&e, &id, pump(att, a.interactive, &keys))? else {
        return Ok(());
    };
    if code != 0 {
        return Err(Failure::new("", code));
    }
    Ok(())
}
