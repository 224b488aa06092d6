//! berth's engine: containers and their lifecycle, composed from the runtime, storage, image and
//! network crates. No daemon: every call works on the store under `--root`/`--runroot`, and a
//! small per-container monitor (a process whose argv reads `berth-monitor <id>`) owns each
//! running container, so containers outlive the CLI.
//!
//! Typical CLI flows:
//! - `run -d`: [`Engine::create`] then [`Engine::start`]; print the ID.
//! - `run` (foreground): [`Engine::create`], [`Engine::start_attached`] (the attach stream exists
//!   before the container starts, so no output is lost), [`Attachment::pump`] which returns the
//!   container's exit once its output is drained; exit with that code.
//! - `exec`: [`Engine::exec`] runs the process with the caller's own stdio (fd 0/1/2).
//! - `berth-init` (`--init`): the CLI calls [`init::main`] when invoked as `berth-init` or with
//!   argv[1] == "init-internal" (see [`init`]).
//!
//! Errors map to Docker's exit codes with [`Error::exit_code`].

pub mod events;
pub mod init;
mod monitor;
pub mod names;
pub mod network;
mod record;
pub mod spec;
pub mod types;

pub use events::Event;
pub use record::Record;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use types::{Config, ContainerJson, HostConfig, NetworkingConfig, PortBinding, RestartPolicy};

pub type Result<T> = std::result::Result<T, Error>;

/// Engine errors. `Display` gives Docker's wording; [`Error::exit_code`] Docker's exit code for
/// `run`/`create`/`start`/`exec` (other commands exit 1 on any error).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// "No such container: x"
    #[error("No such container: {0}")]
    NoSuchContainer(String),
    /// "No such image: x"
    #[error("No such image: {0}")]
    NoSuchImage(String),
    /// A name already taken.
    #[error("Conflict. The container name \"/{name}\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name.")]
    NameInUse { name: String, id: String },
    /// An ID prefix that matches several containers.
    #[error("Multiple IDs found with provided prefix: {0}")]
    Ambiguous(String),
    /// The operation conflicts with the container's state ("You cannot remove a running
    /// container ...", "Container x is not running", "Container x is paused ...").
    #[error("{0}")]
    Conflict(String),
    /// Bad flag values or requests.
    #[error("{0}")]
    InvalidArgument(String),
    /// The command could not be found in the container (exit 127).
    #[error("{0}")]
    CommandNotFound(String),
    /// The command exists but cannot be run (exit 126).
    #[error("{0}")]
    CannotInvoke(String),
    #[error("{0}")]
    Runtime(#[from] runtime::Error),
    #[error("{0}")]
    Storage(#[from] storage::Error),
    #[error("{0}")]
    Image(#[from] image::Error),
    #[error("{0}")]
    Network(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// Docker's exit code for this error at `run`/`create`/`start`/`exec`: 127 command not
    /// found, 126 cannot invoke, 125 for any other engine error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::CommandNotFound(_) => 127,
            Error::CannotInvoke(_) => 126,
            _ => 125,
        }
    }
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }
}

impl From<::network::Error> for Error {
    fn from(e: ::network::Error) -> Self {
        Error::Network(e.to_string())
    }
}

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

/// `docker exec` options. The process uses the caller's stdio (fd 0/1/2); with `tty` the caller's
/// stdin must be a terminal or the engine relays through a pty it makes.
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

/// The engine: a handle on the stores under `root`/`runroot`. Cheap to open; holds no lock.
pub struct Engine {
    pub(crate) opts: EngineOptions,
    pub(crate) images: image::store::ImageStore,
}

impl Engine {
    pub fn open(opts: EngineOptions) -> Result<Engine> {
        todo!()
    }
    pub fn options(&self) -> &EngineOptions {
        &self.opts
    }
    /// The image store (for `images`, `rmi`, `pull` into the same root).
    pub fn images(&self) -> &image::store::ImageStore {
        &self.images
    }
    /// Full ID of a container from a full ID, a unique ID prefix or a name (with or without '/').
    pub fn resolve(&self, name_or_id: &str) -> Result<String> {
        todo!()
    }
    pub fn create(&self, req: CreateRequest) -> Result<CreateResponse> {
        todo!()
    }
    /// Starts a created or stopped container (no-op if running); returns when it runs.
    pub fn start(&self, id: &str) -> Result<()> {
        todo!()
    }
    /// Starts the container with an attach stream set up before its process runs.
    pub fn start_attached(&self, id: &str, opts: &AttachOptions) -> Result<Attachment> {
        todo!()
    }
    /// Attaches to a running container's stdio.
    pub fn attach(&self, id: &str, opts: &AttachOptions) -> Result<Attachment> {
        todo!()
    }
    pub fn wait(&self, id: &str, cond: WaitCondition) -> Result<WaitResult> {
        todo!()
    }
    /// `stop -t`: StopSignal (default SIGTERM), then SIGKILL after `timeout` seconds (None: the
    /// container's StopTimeout or 10).
    pub fn stop(&self, id: &str, timeout: Option<i64>) -> Result<()> {
        todo!()
    }
    /// `kill -s SIG` (name like "KILL"/"SIGKILL" or a number; "" = KILL).
    pub fn kill(&self, id: &str, signal: &str) -> Result<()> {
        todo!()
    }
    pub fn restart(&self, id: &str, timeout: Option<i64>) -> Result<()> {
        todo!()
    }
    pub fn remove(&self, id: &str, opts: &RemoveOptions) -> Result<()> {
        todo!()
    }
    pub fn list(&self, opts: &ListOptions) -> Result<Vec<ContainerSummary>> {
        todo!()
    }
    pub fn inspect(&self, id: &str) -> Result<ContainerJson> {
        todo!()
    }
    pub fn logs(
        &self,
        id: &str,
        opts: &LogsOptions,
        stdout: &mut dyn Write,
        stderr: &mut dyn Write,
    ) -> Result<()> {
        todo!()
    }
    /// Runs a process in the running container with the caller's stdio; returns its exit code
    /// (0 at once with `detach`).
    pub fn exec(&self, id: &str, cfg: &ExecConfig) -> Result<i64> {
        todo!()
    }
    /// `top [ps OPTIONS]` (default "-ef").
    pub fn top(&self, id: &str, ps_args: &[String]) -> Result<TopResult> {
        todo!()
    }
    pub fn stats(&self, id: &str) -> Result<StatsSample> {
        todo!()
    }
    pub fn pause(&self, id: &str) -> Result<()> {
        todo!()
    }
    pub fn unpause(&self, id: &str) -> Result<()> {
        todo!()
    }
    pub fn rename(&self, id: &str, new_name: &str) -> Result<()> {
        todo!()
    }
    /// Returns warnings.
    pub fn update(&self, id: &str, cfg: &UpdateConfig) -> Result<Vec<String>> {
        todo!()
    }
    /// Published ports: "80/tcp" -> bindings.
    pub fn port(&self, id: &str) -> Result<BTreeMap<String, Option<Vec<PortBinding>>>> {
        todo!()
    }
    pub fn changes(&self, id: &str) -> Result<Vec<Change>> {
        todo!()
    }
    /// Returns the new image ID (`sha256:...`).
    pub fn commit(&self, id: &str, opts: &CommitOptions) -> Result<String> {
        todo!()
    }
    /// The container's whole filesystem as a tar.
    pub fn export(&self, id: &str, w: &mut dyn Write) -> Result<()> {
        todo!()
    }
    pub fn stat_path(&self, id: &str, path: &str) -> Result<PathStat> {
        todo!()
    }
    /// `cp CONTAINER:path -`: a tar of `path` (its last element as the top entry).
    pub fn copy_from_container(&self, id: &str, path: &str, w: &mut dyn Write) -> Result<PathStat> {
        todo!()
    }
    /// `cp - CONTAINER:path`: extracts the tar stream into the directory `path`.
    pub fn copy_to_container(&self, id: &str, path: &str, tar: &mut dyn Read) -> Result<()> {
        todo!()
    }
    /// Calls `f` for each matching event; stops when it returns false.
    pub fn events(&self, opts: &EventsOptions, f: &mut dyn FnMut(&Event) -> bool) -> Result<()> {
        todo!()
    }
    /// `container prune`: removes all stopped containers.
    pub fn prune(&self, filters: &[(String, String)]) -> Result<PruneReport> {
        todo!()
    }
    pub fn info(&self) -> Result<Info> {
        todo!()
    }
}

impl Attachment {
    pub fn tty(&self) -> bool {
        self.tty
    }
    /// Relays `stdin` to the container (if attached with stdin) and its output to
    /// `stdout`/`stderr` until the output ends. Returns the container's exit when it ended
    /// while attached (None when the monitor went away without one).
    pub fn pump(
        self,
        stdin: Option<Box<dyn Read + Send>>,
        stdout: &mut dyn Write,
        stderr: &mut dyn Write,
    ) -> Result<Option<WaitResult>> {
        todo!()
    }
    /// Resizes the container's tty (no-op without one).
    pub fn resize(&self, rows: u16, cols: u16) -> Result<()> {
        todo!()
    }
}
