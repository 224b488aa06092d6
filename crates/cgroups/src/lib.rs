//! Control groups for berth: one `Manager` trait over cgroup v1, v2 and hybrid hierarchies.
//!
//! A manager is built from an OCI `cgroupsPath` (absolute `/a/b`, relative `a/b` under the
//! runtime's parent, or systemd `slice:prefix:name` which is refused) and is cheap to rebuild from
//! the path recorded in the runtime state, so every runtime command can find a container's cgroup.
//!
//! STATUS: interface stub — being implemented.

use oci_spec::runtime::LinuxResources;
use serde::{Deserialize, Serialize};

pub type Result<T> = std::result::Result<T, Error>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cgroup {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid cgroup value: {0}")]
    Invalid(String),
    #[error("{0}")]
    Unsupported(String),
}

/// Which layout this host mounts under /sys/fs/cgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Hierarchy {
    /// v1 controllers only.
    Legacy,
    /// v1 controllers plus a v2 mount at /sys/fs/cgroup/unified.
    Hybrid,
    /// v2 only, mounted at /sys/fs/cgroup.
    Unified,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FreezerState {
    Thawed,
    Frozen,
}

/// Resource usage, the subset `runc events --stats` / `docker stats` need.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Stats {
    pub cpu_usage_total_ns: u64,
    pub cpu_usage_user_ns: u64,
    pub cpu_usage_kernel_ns: u64,
    pub memory_usage: u64,
    pub memory_limit: u64,
    pub memory_max_usage: u64,
    pub memory_cache: u64,
    pub oom_kill_count: u64,
    pub pids_current: u64,
    pub pids_limit: u64,
    pub blkio_read_bytes: u64,
    pub blkio_write_bytes: u64,
}

pub trait Manager: Send + Sync {
    /// Creates the cgroup (in every hierarchy) and moves `pid` into it.
    fn apply(&self, pid: i32) -> Result<()>;
    /// Writes the resources (also used by `update`; absent fields are left alone).
    fn set(&self, resources: &LinuxResources) -> Result<()>;
    fn freeze(&self, state: FreezerState) -> Result<()>;
    fn freezer_state(&self) -> Result<FreezerState>;
    /// PIDs in the cgroup and its descendants.
    fn pids(&self) -> Result<Vec<i32>>;
    fn stats(&self) -> Result<Stats>;
    /// Removes the cgroup directories (all processes must be gone; retries briefly on EBUSY).
    fn destroy(&self) -> Result<()>;
    /// The directory of `controller` ("memory", "cpu", ..., or "" for the v2 unified dir).
    fn path(&self, controller: &str) -> Option<std::path::PathBuf>;
}

/// Detects the host's hierarchy.
pub fn hierarchy() -> Hierarchy {
    todo!()
}

/// Builds the manager for `cgroups_path` (None -> `/berth/<container_id>`, like runc's default).
pub fn manager(cgroups_path: Option<&str>, container_id: &str) -> Result<Box<dyn Manager>> {
    let _ = (cgroups_path, container_id);
    todo!()
}
