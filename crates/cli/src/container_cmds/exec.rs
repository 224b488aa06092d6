//! `exec`.

use super::session::{check_tty, window_size, TermGuard};
use super::{open_engine, run_failure};
use crate::{detach_keys, run_opts, CmdResult, Failure, Global};
use clap::Args;
use engine::ErrorKind;
use std::io::IsTerminal;

#[derive(Args)]
pub struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file")]
    pub env_file: Vec<String>,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Give extended privileges to the command
    #[arg(long)]
    pub privileged: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short = 'u', long, default_value = "")]
    pub user: String,
    /// Working directory inside the container
    #[arg(short = 'w', long, default_value = "")]
    pub workdir: String,
    pub container: String,
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    pub cmd: Vec<String>,
}

pub(super) fn exec(g: &Global, a: ExecArgs) -> CmdResult {
    let mut env = Vec::new();
    for f in &a.env_file {
        env.extend(run_opts::read_kv_file(f, true).map_err(|m| Failure::new(m, 125))?);
    }
    for v in &a.env {
        env.push(run_opts::parse_env(v).map_err(|m| Failure::new(m, 125))?);
    }
    let keys = if a.detach {
        Vec::new()
    } else {
        check_tty(a.tty, a.interactive)?;
        detach_keys::resolve(a.detach_keys.as_deref(), detach_keys::For::Exec, 1)?
    };
    let e = open_engine(g)?;
    let id = e.resolve(&a.container)?;
    let cfg = engine::ExecConfig {
        cmd: a.cmd,
        env,
        user: a.user,
        workdir: a.workdir,
        tty: a.tty,
        attach_stdin: a.interactive,
        detach: a.detach,
        privileged: a.privileged,
        detach_keys: if a.tty && a.interactive {
            keys
        } else {
            Vec::new()
        },
        console_size: if a.tty { window_size() } else { None },
    };
    let _raw = (a.tty && a.interactive && !a.detach && std::io::stdin().is_terminal())
        .then(TermGuard::raw)
        .flatten();
    let res = e.exec(&id, &cfg);
    drop(_raw);
    let code = res.map_err(|err| match err.kind() {
        // Docker's CLI: the message on stderr (the terminal restored first), exit 1.
        ErrorKind::Detached => {
            eprintln!("read escape sequence");
            Failure::new("", 1)
        }
        ErrorKind::CommandNotFound | ErrorKind::NotExecutable => run_failure(err),
        ErrorKind::NotFound | ErrorKind::Conflict => Failure::new(err.to_string(), 1),
        _ => Failure::new(err.to_string(), 126),
    })?;
    if code != 0 {
        return Err(Failure::new("", code as i32));
    }
    Ok(())
}
