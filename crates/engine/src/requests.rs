//! The typed requests and responses of the engine's operations (what front ends build and
//! render).

use crate::types::{self, Config, HostConfig, NetworkingConfig, RestartPolicy};
use std::collections::BTreeMap;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

/// Where the engine keeps its state.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// `--root` (default /var/lib/berth): images, layers, containers, volumes, networks.
    pub root: PathBuf,
    /// `--runroot` (default /run/berth): runtime state, monitor sockets, locks, netns mounts.
    pub runroot: PathBuf,
    /// `--storage-driver` (None: the store's default / what is already on disk).
    pub storage_driver: Option<String>,
}

/// `docker create` / the create half of `docker run`.
#[derive(Debug, Clone, Default)]
pub struct CreateRequest {
    /// `--name` (None: a generated adjective_noun name).
    pub name: Option<String>,
    /// `Config.Image` is the image reference; it must exist locally (the CLI pulls first).
    pub config: Config,
    pub host_config: HostConfig,
    pub networking: NetworkingConfig,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct CreateResponse {
    pub id: String,
    pub warnings: Vec<String>,
}

/// Which streams an attach carries (Docker's attach parameters).
#[derive(Debug, Clone, Copy)]
pub struct AttachOptions {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
}

impl Default for AttachOptions {
    fn default() -> Self {
        AttachOptions {
            stdin: false,
            stdout: true,
            stderr: true,
        }
    }
}

/// A live attach connection to a container's monitor.
pub struct Attachment {
    pub(crate) sock: UnixStream,
    pub(crate) tty: bool,
    pub(crate) stdin: bool,
}

/// `wait`'s condition (Docker's `--condition` of the API).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WaitCondition {
    /// Returns at once if the container is not running, else when it stops.
    #[default]
    NotRunning,
    /// Waits for the next exit even if it is not running now.
    NextExit,
    /// Waits until the container is removed.
    Removed,
}

/// How a container ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WaitResult {
    pub status_code: i64,
    pub oom_killed: bool,
    /// Set when the container failed to start (then status_code is 125/126/127).
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct RemoveOptions {
    /// `-f`: kill a running container first.
    pub force: bool,
    /// `-v`: remove anonymous volumes.
    pub volumes: bool,
}

/// `docker ps` options.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    pub all: bool,
    /// `-n N` (0 = no limit; implies all).
    pub limit: usize,
    /// `-l`
    pub latest: bool,
    /// `-s`
    pub size: bool,
    /// `-f key=value` filters: id, name, label (key or key=value), status, exited, ancestor,
    /// before, since, network, volume, publish, expose, is-task.
    pub filters: Vec<(String, String)>,
}

/// One `/containers/json` entry (Docker's `types.Container`).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerSummary {
    pub id: String,
    pub names: Vec<String>,
    pub image: String,
    #[serde(rename = "ImageID")]
    pub image_id: String,
    pub command: String,
    pub created: i64,
    pub ports: Vec<PortSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_rw: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_root_fs: Option<i64>,
    pub labels: BTreeMap<String, String>,
    pub state: String,
    pub status: String,
    pub host_config: SummaryHostConfig,
    pub network_settings: SummaryNetworkSettings,
    pub mounts: Vec<types::MountPoint>,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PortSummary {
    #[serde(rename = "IP", skip_serializing_if = "String::is_empty", default)]
    pub ip: String,
    pub private_port: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_port: Option<u16>,
    #[serde(rename = "Type")]
    pub kind: String,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SummaryHostConfig {
    pub network_mode: String,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SummaryNetworkSettings {
    pub networks: BTreeMap<String, types::EndpointSettings>,
}

/// `docker logs` options.
#[derive(Debug, Clone, Default)]
pub struct LogsOptions {
    pub follow: bool,
    /// `--tail N` (None = all).
    pub tail: Option<usize>,
    /// `--since`/`--until` as unix nanoseconds (the CLI parses durations/timestamps).
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub timestamps: bool,
    pub stdout: bool,
    pub stderr: bool,
}

/// `docker exec` options. The process's stdio is relayed to the caller's (fd 0/1/2) through
/// pipes, or with `tty` through a pty the engine makes.
#[derive(Debug, Clone, Default)]
pub struct ExecConfig {
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    /// `-u user[:group]` ("" = the container's user).
    pub user: String,
    /// `-w` ("" = the container's working dir).
    pub workdir: String,
    pub tty: bool,
    /// `-i`: keep stdin attached (without it the process gets /dev/null).
    pub attach_stdin: bool,
    /// `-d`: start it and return at once (exit code 0).
    pub detach: bool,
    pub privileged: bool,
    /// With `tty` and `attach_stdin`: the keys that detach (empty: none). See [`detach`].
    pub detach_keys: Vec<u8>,
    /// With `tty`: the pty's initial size (rows, cols).
    pub console_size: Option<(u16, u16)>,
}

/// `docker top`: ps columns and rows of the container's processes.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TopResult {
    pub titles: Vec<String>,
    pub processes: Vec<Vec<String>>,
}

/// One `docker stats` sample. CPU % needs two samples: [`StatsSample::cpu_percent`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatsSample {
    pub id: String,
    pub name: String,
    /// Container CPU time in ns (cgroup cpuacct/cpu.stat).
    pub cpu_total_ns: u64,
    /// Host CPU time in ns (/proc/stat, all CPUs), for the ratio.
    pub system_cpu_ns: u64,
    pub online_cpus: u32,
    /// Memory usage minus page cache (Docker's "MEM USAGE").
    pub mem_usage: u64,
    pub mem_limit: u64,
    pub net_rx: u64,
    pub net_tx: u64,
    pub blk_read: u64,
    pub blk_write: u64,
    pub pids: u64,
}

impl StatsSample {
    /// Docker's CPU %: container delta / system delta × online CPUs × 100.
    pub fn cpu_percent(&self, prev: &StatsSample) -> f64 {
        let cd = self.cpu_total_ns.saturating_sub(prev.cpu_total_ns) as f64;
        let sd = self.system_cpu_ns.saturating_sub(prev.system_cpu_ns) as f64;
        if sd <= 0.0 {
            return 0.0;
        }
        cd / sd * self.online_cpus.max(1) as f64 * 100.0
    }
    pub fn mem_percent(&self) -> f64 {
        if self.mem_limit == 0 {
            0.0
        } else {
            self.mem_usage as f64 / self.mem_limit as f64 * 100.0
        }
    }
}

/// `docker update`: None/0 leaves a value unchanged (Docker's semantics).
#[derive(Debug, Clone, Default)]
pub struct UpdateConfig {
    pub cpu_shares: Option<i64>,
    pub nano_cpus: Option<i64>,
    pub cpu_period: Option<i64>,
    pub cpu_quota: Option<i64>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    pub memory: Option<i64>,
    pub memory_swap: Option<i64>,
    pub memory_reservation: Option<i64>,
    pub pids_limit: Option<i64>,
    pub blkio_weight: Option<u16>,
    pub restart_policy: Option<RestartPolicy>,
}

/// `docker diff` line: kind 'A', 'C' or 'D'.
pub type Change = storage::Change;

/// `docker commit` options.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// `repo[:tag]` to tag the new image with.
    pub reference: Option<String>,
    pub author: String,
    pub message: String,
    /// `-c` Dockerfile instructions.
    pub changes: Vec<String>,
    /// `--pause` (Docker's default true).
    pub pause: bool,
}

/// What `cp` needs to know about a path in the container.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PathStat {
    pub name: String,
    pub size: u64,
    pub mode: u32,
    pub is_dir: bool,
    /// Symlink target when the path itself is a symlink.
    pub link_target: String,
}

/// `docker events` options (times as unix seconds with fraction).
#[derive(Debug, Clone, Default)]
pub struct EventsOptions {
    pub since: Option<f64>,
    pub until: Option<f64>,
    /// `-f key=value`: container, event, image, label, type.
    pub filters: Vec<(String, String)>,
    /// Keep streaming new events (until `until` or the callback returns false).
    pub follow: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct PruneReport {
    pub containers_deleted: Vec<String>,
    pub space_reclaimed: u64,
}

/// `docker info`'s container counts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Info {
    pub containers: usize,
    pub running: usize,
    pub paused: usize,
    pub stopped: usize,
}
