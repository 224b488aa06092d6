//! `attach`.

use super::open_engine;
use super::session::{exit_of_pumped, proxy_signals, pump};
use crate::{detach_keys, CmdResult, Failure, Global};
use clap::Args;

#[derive(Args)]
pub struct AttachArgs {
    /// Do not attach STDIN
    #[arg(long = "no-stdin")]
    pub no_stdin: bool,
    /// Proxy all received signals to the process
    #[arg(long = "sig-proxy", default_value_t = true, action = clap::ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub sig_proxy: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    pub container: String,
}

pub fn attach(g: &Global, a: AttachArgs) -> CmdResult {
    let keys = detach_keys::resolve(a.detach_keys.as_deref(), detach_keys::For::Attach, 1)?;
    let e = open_engine(g)?;
    let id = e.resolve(&a.container)?;
    let info = e.inspect(&id)?;
    if !info.state.running {
        return Err(Failure::new(
            "You cannot attach to a stopped container, start it first",
            1,
        ));
    }
    let stdin = !a.no_stdin && info.config.open_stdin;
    let att = e.attach(
        &id,
        &engine::AttachOptions {
            stdin,
            stdout: true,
            stderr: true,
        },
    )?;
    if a.sig_proxy && !att.tty() {
        proxy_signals(g, &id);
    }
    let Some(code) = exit_of_pumped(&e, &id, pump(att, stdin, &keys))? else {
        // Docker's CLI: the message on stderr, exit 1.
        eprintln!("read escape sequence");
        return Err(Failure::new("", 1));
    };
    if code != 0 {
        return Err(Failure::new("", code));
    }
    Ok(())
}
