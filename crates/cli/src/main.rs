//! `berth`: a Docker-compatible command line. Image commands for now (import, save, load,
//! images, inspect, history, tag, rmi, image prune), `info`, `system df`, `version`.
//!
//! Exit codes as Docker's CLI: 125 for usage errors and engine (storage) failures, 1 for
//! command errors such as an unknown image.

mod format;
mod human;
mod image_cmds;
mod system;

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
    #[arg(long, global = true, default_value = "/var/lib/berth")]
    pub root: PathBuf,
    /// Root of runtime state (bundles, sockets, locks)
    #[arg(long, global = true, default_value = "/run/berth")]
    pub runroot: PathBuf,
    /// Storage driver (overlay2, vfs, btrfs); auto-detected when not given
    #[arg(long = "storage-driver", global = true)]
    pub storage_driver: Option<String>,
    /// Logging level (debug, info, warn, error, fatal)
    #[arg(short = 'l', long = "log-level", global = true, default_value = "info")]
    pub log_level: String,
    /// Debug mode
    #[arg(short = 'D', long, global = true)]
    pub debug: bool,
}

#[derive(Subcommand)]
enum Cmd {
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
    /// Return low-level information on images
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

#[derive(Subcommand)]
enum ImageCmd {
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
enum SystemCmd {
    /// Show disk usage
    Df(system::DfArgs),
    /// Display system-wide information
    Info(system::InfoArgs),
}

/// A failure with the exit code Docker's CLI would use.
#[derive(Debug)]
pub struct Failure {
    pub msg: String,
    pub code: i32,
}

impl Failure {
    pub fn new(msg: impl Into<String>, code: i32) -> Failure {
        Failure {
            msg: msg.into(),
            code,
        }
    }
}

impl From<image::Error> for Failure {
    fn from(e: image::Error) -> Failure {
        let code = match e {
            image::Error::Storage(_) | image::Error::Io { .. } => 125,
            _ => 1,
        };
        Failure::new(e.to_string(), code)
    }
}

impl From<storage::Error> for Failure {
    fn from(e: storage::Error) -> Failure {
        Failure::new(e.to_string(), 125)
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

fn main() {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => 125,
            };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let g = cli.global.clone();
    let res = match cli.cmd {
        Cmd::Import(a) => image_cmds::import(&g, a),
        Cmd::Save(a) => image_cmds::save(&g, a),
        Cmd::Load(a) => image_cmds::load(&g, a),
        Cmd::Images(a) => image_cmds::images(&g, a),
        Cmd::Image(c) => match c {
            ImageCmd::Ls(a) => image_cmds::images(&g, a),
            ImageCmd::Inspect(a) => image_cmds::inspect(&g, a.into(), true),
            ImageCmd::History(a) => image_cmds::history(&g, a),
            ImageCmd::Tag(a) => image_cmds::tag(&g, a),
            ImageCmd::Rm(a) => image_cmds::rmi(&g, a),
            ImageCmd::Prune(a) => image_cmds::prune(&g, a),
            ImageCmd::Import(a) => image_cmds::import(&g, a),
            ImageCmd::Save(a) => image_cmds::save(&g, a),
            ImageCmd::Load(a) => image_cmds::load(&g, a),
        },
        Cmd::Inspect(a) => image_cmds::inspect(&g, a, false),
        Cmd::History(a) => image_cmds::history(&g, a),
        Cmd::Tag(a) => image_cmds::tag(&g, a),
        Cmd::Rmi(a) => image_cmds::rmi(&g, a),
        Cmd::Info(a) => system::info(&g, a),
        Cmd::System(SystemCmd::Df(a)) => system::df(&g, a),
        Cmd::System(SystemCmd::Info(a)) => system::info(&g, a),
        Cmd::Version(a) => system::version(&g, a),
    };
    if let Err(f) = res {
        if !f.msg.is_empty() {
            eprintln!("Error: {}", f.msg);
        }
        std::process::exit(f.code);
    }
}
