//! `berth`: a Docker-compatible command line: containers (run, create, start, ps, exec, logs,
//! ...), images (import, save, load, images, inspect, history, tag, rmi, prune), registries
//! (pull, push, login, logout), `info`, `system df|prune`, `version`.
//!
//! Exit codes as Docker's CLI: 125 for usage errors and engine failures, 126/127 when a
//! container's command can't be invoked / found, the container's own code for `run`, `start -a`
//! and `exec`, 1 for other command errors such as an unknown image.

mod build_cmd;
mod container_cmds;
mod detach_keys;
mod df_verbose;
mod format;
mod health_opts;
mod human;
mod image_cmds;
mod image_filters;
mod network_cmds;
mod progress;
mod prune_filters;
mod registry_cmds;
mod run_opts;
mod service_cmd;
mod system;
mod system_check;
mod volume_cmds;

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "berth",
    version,
    about = "A Docker-compatible container engine",
    disable_help_subcommand = true
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Args, Clone)]
pub struct Global {
    /// Root of persistent state (images, layers, containers)
    #[arg(long, default_value = "/var/lib/berth")]
    pub root: PathBuf,
    /// Root of runtime state (bundles, sockets, locks)
    #[arg(long, default_value = "/run/berth")]
    pub runroot: PathBuf,
    /// Storage driver (overlay2, vfs, btrfs); auto-detected when not given
    #[arg(long = "storage-driver")]
    pub storage_driver: Option<String>,
    /// Logging level (debug, info, warn, error, fatal)
    // No short -l: it would shadow `ps -l` and `run -l` (labels) in every subcommand.
    #[arg(long = "log-level", default_value = "info")]
    pub log_level: String,
    /// Debug mode
    #[arg(short = 'D', long)]
    pub debug: bool,
    /// Registry (host[:port]) to reach over plain HTTP (repeatable)
    #[arg(long = "insecure-registry")]
    pub insecure_registry: Vec<String>,
}

#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
#[command(defer = true)]
enum Cmd {
    #[command(flatten)]
    Container(container_cmds::ContainerCmd),
    /// List containers
    Ps(container_cmds::PsArgs),
    /// Manage containers
    #[command(subcommand, name = "container")]
    ContainerSub(ContainerSub),
    /// Get real time events from the server
    Events(container_cmds::EventsArgs),
    /// Build an image from a Dockerfile
    Build(build_cmd::BuildArgs),
    /// Manage builds
    #[command(subcommand)]
    Builder(build_cmd::BuilderCmd),
    /// Manage networks
    #[command(subcommand)]
    Network(network_cmds::NetworkCmd),
    /// Manage volumes
    #[command(subcommand)]
    Volume(volume_cmds::VolumeCmd),
    /// Download an image from a registry
    Pull(registry_cmds::PullArgs),
    /// Upload an image to a registry
    Push(registry_cmds::PushArgs),
    /// Log in to a registry
    Login(registry_cmds::LoginArgs),
    /// Log out from a registry
    Logout(registry_cmds::LogoutArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(image_cmds::ImportArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(image_cmds::SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(image_cmds::LoadArgs),
    /// List images
    Images(image_cmds::ImagesArgs),
    /// Manage images
    #[command(subcommand)]
    Image(ImageCmd),
    /// Return low-level information on containers and images
    Inspect(image_cmds::InspectArgs),
    /// Show the history of an image
    History(image_cmds::HistoryArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(image_cmds::TagArgs),
    /// Remove one or more images
    Rmi(image_cmds::RmiArgs),
    /// Display system-wide information
    Info(system::InfoArgs),
    /// Manage berth
    #[command(subcommand)]
    System(SystemCmd),
    /// Show the berth version information
    Version(system::VersionArgs),
}

// Parsed once per process: the size of the run/create variant doesn't matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
#[command(defer = true)]
enum ContainerSub {
    #[command(flatten)]
    C(container_cmds::ContainerCmd),
    /// List containers
    #[command(visible_alias = "ps", alias = "list")]
    Ls(container_cmds::PsArgs),
    /// Display detailed information on one or more containers
    Inspect(ContainerInspectArgs),
    /// Remove all stopped containers
    Prune(container_cmds::ContainerPruneArgs),
}

#[derive(Args)]
struct ContainerInspectArgs {
    /// Format the output using the given Go template
    #[arg(short = 'f', long)]
    format: Option<String>,
    /// Display total file sizes
    #[arg(short = 's', long)]
    size: bool,
    #[arg(required = true)]
    names: Vec<String>,
}

#[derive(Subcommand)]
#[command(defer = true)]
enum ImageCmd {
    /// Build an image from a Dockerfile
    Build(build_cmd::BuildArgs),
    /// Download an image from a registry
    Pull(registry_cmds::PullArgs),
    /// Upload an image to a registry
    Push(registry_cmds::PushArgs),
    #[command(visible_alias = "list")]
    Ls(image_cmds::ImagesArgs),
    Inspect(image_cmds::ImageInspectArgs),
    History(image_cmds::HistoryArgs),
    Tag(image_cmds::TagArgs),
    Rm(image_cmds::RmiArgs),
    Prune(image_cmds::PruneArgs),
    Import(image_cmds::ImportArgs),
    Save(image_cmds::SaveArgs),
    Load(image_cmds::LoadArgs),
}

#[derive(Subcommand)]
#[command(defer = true)]
enum SystemCmd {
    /// Show disk usage
    Df(system::DfArgs),
    /// Display system-wide information
    Info(system::InfoArgs),
    /// Remove unused data
    Prune(container_cmds::SystemPruneArgs),
    /// Get real time events from the server
    Events(container_cmds::EventsArgs),
    /// Find (and with --repair remove) what crashes left behind
    Check(system_check::CheckArgs),
    /// Remove everything berth made on this host for this root
    Reset(system_check::ResetArgs),
    /// Serve the Docker Engine API (unix socket, loopback TCP or systemd socket)
    Service(service_cmd::ServiceArgs),
}

/// A failure with the exit code Docker's CLI would use.
#[derive(Debug)]
pub struct Failure {
    pub msg: String,
    pub code: i32,
    /// Printed as is, without the `Error: ` prefix (Docker's status errors).
    pub bare: bool,
}

impl Failure {
    pub fn new(msg: impl Into<String>, code: i32) -> Failure {
        Failure {
            msg: msg.into(),
            code,
            bare: false,
        }
    }

    /// `inspect --format` that does not parse: Docker's CLI prints the message alone, exit 64.
    pub fn template_parse(e: impl std::fmt::Display) -> Failure {
        Failure {
            msg: format!("template parsing error: {e}"),
            code: 64,
            bare: true,
        }
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Failure {
        // A closed pipe (`berth images | head`) is not worth a message.
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            return Failure::new("", 0);
        }
        Failure::new(e.to_string(), 125)
    }
}

pub type CmdResult = Result<(), Failure>;

/// `Cli::try_parse`, minus freeing clap's command tree and matches: the process ends soon
/// and dropping them costs more than building the part we use.
fn parse_cli() -> Result<Cli, clap::Error> {
    use clap::{CommandFactory, FromArgMatches};
    let mut cmd = Cli::command();
    let matches = cmd.try_get_matches_from_mut(std::env::args_os())?;
    let cli = Cli::from_arg_matches(&matches).map_err(|e| e.format(&mut cmd));
    std::mem::forget(matches);
    std::mem::forget(cmd);
    cli
}

fn main() {
    // The engine runs `--init` containers with this binary as their init.
    let mut argv = std::env::args();
    let argv0 = argv.next().unwrap_or_default();
    let first = argv.next();
    if argv0.ends_with("berth-init") {
        engine::init::main(std::env::args().skip(1).collect());
    }
    if first.as_deref() == Some("init-internal") {
        engine::init::main(std::env::args().skip(2).collect());
    }
    // A container's monitor coming back from `berth-monitor` to record the container's exit.
    if argv0 == "berth-monitor" {
        std::process::exit(engine::monitor_resume());
    }
    // A healthcheck probe started by a container's monitor.
    if argv0 == engine::health::sched::PROBE_NAME {
        let args: Vec<String> = std::env::args().skip(1).collect();
        std::process::exit(engine::health::probe::main(&args));
    }
    engine::timing::mark("cli:main");
    let cli = match parse_cli() {
        Ok(c) => c,
        Err(e) if e.kind() == clap::error::ErrorKind::InvalidSubcommand => {
            // Docker CLI: `docker: unknown command: docker NAME`, exit 1.
            let prog = std::path::Path::new(&argv0)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "berth".into());
            let name = e
                .get(clap::error::ContextKind::InvalidSubcommand)
                .map(|v| v.to_string())
                .unwrap_or_default();
            eprintln!("{prog}: unknown command: {prog} {name}\n\nRun '{prog} --help' for more information");
            std::process::exit(1);
        }
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => 125,
            };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    engine::timing::mark("cli:parsed");
    let g = cli.global.clone();
    let res = match cli.cmd {
        Cmd::Container(c) => container_cmds::dispatch(&g, c),
        Cmd::Ps(a) => container_cmds::ps(&g, a),
        Cmd::ContainerSub(c) => match c {
            ContainerSub::C(c) => container_cmds::dispatch(&g, c),
            ContainerSub::Ls(a) => container_cmds::ps(&g, a),
            ContainerSub::Inspect(a) => container_cmds::inspect(
                &g,
                image_cmds::InspectArgs {
                    format: a.format,
                    kind: None,
                    size: a.size,
                    names: a.names,
                },
                true,
            ),
            ContainerSub::Prune(a) => container_cmds::container_prune(&g, a),
        },
        Cmd::Events(a) => container_cmds::events(&g, a),
        Cmd::Build(a) => build_cmd::build(&g, a),
        Cmd::Builder(c) => build_cmd::builder(&g, c),
        Cmd::Network(c) => match network_cmds::run(c, &g.root, &g.runroot) {
            Ok(0) => Ok(()),
            Ok(code) => Err(Failure::new("", code)),
            Err(e) => Err(Failure::new(e.to_string(), 1)),
        },
        Cmd::Volume(c) => volume_cmds::run(&g, c),
        Cmd::Pull(a) => registry_cmds::pull(&g, a),
        Cmd::Push(a) => registry_cmds::push(&g, a),
        Cmd::Login(a) => registry_cmds::login(&g, a),
        Cmd::Logout(a) => registry_cmds::logout(&g, a),
        Cmd::Import(a) => image_cmds::import(&g, a),
        Cmd::Save(a) => image_cmds::save(&g, a),
        Cmd::Load(a) => image_cmds::load(&g, a),
        Cmd::Images(a) => image_cmds::images(&g, a),
        Cmd::Image(c) => match c {
            ImageCmd::Build(a) => build_cmd::build(&g, a),
            ImageCmd::Ls(a) => image_cmds::images(&g, a),
            ImageCmd::Pull(a) => registry_cmds::pull(&g, a),
            ImageCmd::Push(a) => registry_cmds::push(&g, a),
            ImageCmd::Inspect(a) => image_cmds::inspect(&g, a.into(), true),
            ImageCmd::History(a) => image_cmds::history(&g, a),
            ImageCmd::Tag(a) => image_cmds::tag(&g, a),
            ImageCmd::Rm(a) => image_cmds::rmi(&g, a),
            ImageCmd::Prune(a) => image_cmds::prune(&g, a),
            ImageCmd::Import(a) => image_cmds::import(&g, a),
            ImageCmd::Save(a) => image_cmds::save(&g, a),
            ImageCmd::Load(a) => image_cmds::load(&g, a),
        },
        Cmd::Inspect(a) => container_cmds::inspect(&g, a, false),
        Cmd::History(a) => image_cmds::history(&g, a),
        Cmd::Tag(a) => image_cmds::tag(&g, a),
        Cmd::Rmi(a) => image_cmds::rmi(&g, a),
        Cmd::Info(a) => system::info(&g, a),
        Cmd::System(SystemCmd::Df(a)) => system::df(&g, a),
        Cmd::System(SystemCmd::Info(a)) => system::info(&g, a),
        Cmd::System(SystemCmd::Prune(a)) => container_cmds::system_prune(&g, a),
        Cmd::System(SystemCmd::Check(a)) => system_check::check(&g, a),
        Cmd::System(SystemCmd::Reset(a)) => system_check::reset(&g, a),
        Cmd::System(SystemCmd::Service(a)) => service_cmd::service(&g, a),
        Cmd::System(SystemCmd::Events(a)) => container_cmds::events(&g, a),
        Cmd::Version(a) => system::version(&g, a),
    };
    if let Err(f) = res {
        if f.bare {
            eprintln!("{}", f.msg);
        } else if !f.msg.is_empty() {
            eprintln!("Error: {}", f.msg);
        }
        std::process::exit(f.code);
    }
}
