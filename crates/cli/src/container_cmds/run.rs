//! `run`.

use super::create::create_container;
use super::session::{check_tty, exit_of_pumped, proxy_signals, pump};
use super::{open_engine, run_failure};
use crate::run_opts::CreateFlags;
use crate::{detach_keys, CmdResult, Failure, Global};
use clap::Args;
use engine::Engine;
use std::io::Write;

#[derive(Args)]
pub struct RunArgs {
    /// Run container in background and print container ID
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Proxy received signals to the process
    #[arg(long = "sig-proxy", default_value_t = true, action = clap::ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub sig_proxy: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    #[command(flatten)]
    pub flags: CreateFlags,
}

pub fn run(g: &Global, a: RunArgs) -> CmdResult {
    let keys = if a.detach {
        Vec::new()
    } else {
        check_tty(a.flags.tty, a.flags.interactive)?;
        detach_keys::resolve(a.detach_keys.as_deref(), detach_keys::For::Attach, 125)?
    };
    let e = open_engine(g)?;
    engine::timing::mark("cli:create");
    let created = create_container(g, &e, &a.flags, a.detach, true)?;
    engine::timing::mark("cli:created");
    let id = created.id;
    let auto_remove = a.flags.rm;
    let cleanup = |e: &Engine| {
        if auto_remove {
            let _ = e.remove(
                &id,
                &engine::RemoveOptions {
                    force: true,
                    volumes: true,
                },
            );
        }
    };
    if a.detach {
        if let Err(err) = e.start(&id) {
            cleanup(&e);
            return Err(run_failure(err));
        }
        println!("{id}");
        return Ok(());
    }
    let opts = created.attach;
    let att = match e.start_attached(&id, &opts) {
        Ok(att) => att,
        Err(err) => {
            cleanup(&e);
            return Err(run_failure(err));
        }
    };
    engine::timing::mark("cli:started");
    if a.sig_proxy && !created.tty {
        proxy_signals(g, &id);
    }
    // Detached: the container runs on; Docker's `run` says nothing and exits 0.
    let Some(code) = exit_of_pumped(&e, &id, pump(att, opts.stdin, &keys))? else {
        return Ok(());
    };
    engine::timing::mark("cli:exit");
    std::io::stdout().flush()?;
    if code != 0 {
        return Err(Failure::new("", code));
    }
    Ok(())
}
