//! berth's OCI runtime library: an OCI bundle (config.json + rootfs) becomes an isolated process.
//!
//! The flow (see `container`): the runtime process clones the container's init with its new
//! namespaces, born into its cgroup (see `cgroups::Join`); the parent writes uid/gid maps, runs
//! the runtime-side hooks; the init builds the rootfs, pivots, drops privileges and waits on
//! `exec.fifo` until `start`, then execs the user's program. No threads; the runtime binary is
//! re-executed only by `exec`, sealed (see `exec_stage`).

pub mod container;
mod exec_stage;
pub mod hooks;
mod init;
mod init_stage;
mod keyring;
mod namespaces;
pub mod process_attrs;
mod procfs_mount;
pub mod rootfs;
mod seccomp_notify;
pub mod security;
pub mod spec_default;
pub mod state;
mod sync;
pub mod timing;
pub mod tty;

pub use container::{Container, CreateOptions, ExecOptions};
pub use state::{State, Status};

pub type Result<T> = std::result::Result<T, Error>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{context}: {source}")]
    Sys { context: String, source: nix::Error },
    #[error("invalid spec: {0}")]
    Spec(String),
    #[error("container {0} does not exist")]
    NotFound(String),
    #[error("container {0} already exists")]
    Exists(String),
    #[error("cgroup: {0}")]
    Cgroup(#[from] cgroups::Error),
    #[error("{0}")]
    Other(String),
}

impl Error {
    pub fn other(msg: impl Into<String>) -> Error {
        Error::Other(msg.into())
    }
}

/// Adds a description to nix errors: `sys(mount(...), "mount /proc")?`.
pub(crate) trait SysContext<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> SysContext<T> for std::result::Result<T, nix::Error> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Sys {
            context: what(),
            source,
        })
    }
}
