//! Container commands (`run`, `create`, `start`, `ps`, `exec`, `logs`, ...), wired to the engine.
//!
//! Exit codes as Docker's CLI: `run`/`create` exit 125 when the engine fails, 126/127 when the
//! command can't be invoked / isn't found, else the container's code; other commands exit 1 on
//! errors.

mod attach;
mod commit;
mod cp;
mod create;
mod diff;
mod events;
mod exec;
mod export;
mod inspect;
mod kill;
mod log_details;
mod logs;
mod port;
mod prune;
mod ps;
mod rename;
mod rm;
mod run;
mod session;
mod start;
mod stats;
mod stop;
#[cfg(test)]
mod tests;
mod time;
mod top;
mod update;
mod wait;

use crate::{CmdResult, Failure, Global};
use attach::AttachArgs;
use clap::{Args, Subcommand};
use commit::CommitArgs;
use cp::CpArgs;
use create::CreateArgs;
use diff::DiffArgs;
use engine::{Engine, EngineOptions};
pub use events::{events, EventsArgs};
use exec::ExecArgs;
use export::ExportArgs;
pub use inspect::inspect;
use kill::KillArgs;
use logs::LogsArgs;
use port::PortArgs;
pub use prune::{container_prune, system_prune, ContainerPruneArgs, SystemPruneArgs};
pub use ps::{ps, ps_row, PsArgs, PS_HEADERS};
use rename::RenameArgs;
use rm::RmArgs;
use run::RunArgs;
pub use session::TermGuard;
use start::StartArgs;
use stats::StatsArgs;
use std::io::Write;
use stop::StopArgs;
use top::TopArgs;
use update::UpdateArgs;

impl From<engine::Error> for Failure {
    fn from(e: engine::Error) -> Failure {
        Failure::new(e.to_string(), 1)
    }
}

/// An engine error at run/create/start/exec: Docker's 127 (command not found), 126 (cannot
/// invoke) or 125 (any other engine failure).
fn run_failure(e: engine::Error) -> Failure {
    let code = match e.kind() {
        engine::ErrorKind::CommandNotFound => 127,
        engine::ErrorKind::NotExecutable => 126,
        _ => 125,
    };
    Failure::new(e.to_string(), code)
}

pub fn open_engine(g: &Global) -> Result<Engine, Failure> {
    Engine::open(EngineOptions {
        root: g.root.clone(),
        runroot: g.runroot.clone(),
        storage_driver: g.storage_driver.clone(),
    })
    .map_err(|e| Failure::new(e.to_string(), 125))
}

/// Commands that exist both at the top level and under `berth container`.
#[derive(Subcommand)]
#[command(defer = true)]
pub enum ContainerCmd {
    /// Create and run a new container from an image
    #[command(disable_help_flag = true)]
    Run(RunArgs),
    /// Create a new container
    #[command(disable_help_flag = true)]
    Create(CreateArgs),
    /// Start one or more stopped containers
    Start(StartArgs),
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Kill one or more running containers
    Kill(KillArgs),
    /// Restart one or more containers
    Restart(StopArgs),
    /// Remove one or more containers
    Rm(RmArgs),
    /// Fetch the logs of a container
    Logs(LogsArgs),
    /// Run a command in a running container
    Exec(ExecArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(AttachArgs),
    /// Display the running processes of a container
    Top(TopArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(StatsArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(NamesArgs),
    /// Pause all processes within one or more containers
    Pause(NamesArgs),
    /// Unpause all processes within one or more containers
    Unpause(NamesArgs),
    /// Rename a container
    Rename(RenameArgs),
    /// Update configuration of one or more containers
    Update(UpdateArgs),
    /// List port mappings or a specific mapping for the container
    Port(PortArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(DiffArgs),
    /// Create a new image from a container's changes
    Commit(CommitArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(CpArgs),
    /// Export a container's filesystem as a tar archive
    Export(ExportArgs),
}

pub fn dispatch(g: &Global, c: ContainerCmd) -> CmdResult {
    match c {
        ContainerCmd::Run(a) => run::run(g, a),
        ContainerCmd::Create(a) => create::create(g, a),
        ContainerCmd::Start(a) => start::start(g, a),
        ContainerCmd::Stop(a) => stop::stop(g, a, false),
        ContainerCmd::Restart(a) => stop::stop(g, a, true),
        ContainerCmd::Kill(a) => kill::kill(g, a),
        ContainerCmd::Rm(a) => rm::rm(g, a),
        ContainerCmd::Logs(a) => logs::logs(g, a),
        ContainerCmd::Exec(a) => exec::exec(g, a),
        ContainerCmd::Attach(a) => attach::attach(g, a),
        ContainerCmd::Top(a) => top::top(g, a),
        ContainerCmd::Stats(a) => stats::stats(g, a),
        ContainerCmd::Wait(a) => wait::wait(g, a),
        ContainerCmd::Pause(a) => each(g, &a.containers, |e, id| e.pause(id)),
        ContainerCmd::Unpause(a) => each(g, &a.containers, |e, id| e.unpause(id)),
        ContainerCmd::Rename(a) => rename::rename(g, a),
        ContainerCmd::Update(a) => update::update(g, a),
        ContainerCmd::Port(a) => port::port(g, a),
        ContainerCmd::Diff(a) => diff::diff(g, a),
        ContainerCmd::Commit(a) => commit::commit(g, a),
        ContainerCmd::Cp(a) => cp::cp(g, a),
        ContainerCmd::Export(a) => export::export(g, a),
    }
}

/// Runs `f` on each named container, printing the name on success (Docker's style); the
/// errors are printed as they come and the command fails at the end.
fn each(
    g: &Global,
    names: &[String],
    mut f: impl FnMut(&Engine, &str) -> engine::Result<()>,
) -> CmdResult {
    let e = open_engine(g)?;
    let mut errors = Vec::new();
    for n in names {
        match e.resolve(n).and_then(|id| f(&e, &id)) {
            Ok(()) => println!("{n}"),
            Err(err) => errors.push(err.to_string()),
        }
    }
    finish(errors)
}

fn finish(mut errors: Vec<String>) -> CmdResult {
    let Some(last) = errors.pop() else {
        return Ok(());
    };
    for e in errors {
        eprintln!("Error: {e}");
    }
    Err(Failure::new(last, 1))
}

#[derive(Args)]
pub struct NamesArgs {
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

pub fn parse_filters(v: &[String]) -> Result<Vec<(String, String)>, Failure> {
    v.iter()
        .map(|f| {
            f.split_once('=')
                .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.to_string()))
                .ok_or_else(|| {
                    Failure::new(
                        format!("bad format of filter (expected name=value): {f}"),
                        1,
                    )
                })
        })
        .collect()
}

pub(crate) fn confirm(warning: &str) -> Result<bool, Failure> {
    print!("{warning}\nAre you sure you want to continue? [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}
