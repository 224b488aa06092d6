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
//! - `exec`: [`Engine::exec`] runs the process with pipes it relays to the caller's stdio
//!   (fd 0/1/2); the caller's own fds never reach the container.
//! - `berth-init` (`--init`): the CLI calls [`init::main`] when invoked as `berth-init` or with
//!   argv[1] == "init-internal" (see [`init`]).
//!
//! Errors map to Docker's exit codes with [`Error::exit_code`].

mod attach_io;
mod blkio;
pub mod build;
mod check;
mod commit;
mod cp;
pub mod detach;
pub mod events;
pub use attach_io::Pumped;
mod exec;
mod fork_heap;
pub mod init;
mod ipc;
mod logs;
mod mnt_release;
mod monitor;
pub mod names;
pub mod network;
mod orphan;
pub mod perms;
pub mod pty_relay;
mod record;
pub mod runroot;
mod seccomp;
pub mod settings;
mod shim;
pub mod spec;
mod stdio_relay;
pub mod storage_opts;
pub mod types;

pub use check::Finding;
pub use events::Event;
pub use monitor::resume as monitor_resume;
pub use record::Record;
pub use runtime::timing;

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
    /// The user typed the detach keys: the session ended, the container (or exec'd process)
    /// runs on. Docker's CLI message.
    #[error("read escape sequence")]
    Detached,
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
    /// A failed `build` (the Dockerfile line it points at, and the cause).
    #[error("{0}")]
    Build(Box<build::BuildFailure>),
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

#[global_allocator]
static HEAP: fork_heap::Heap = fork_heap::Heap;

/// The engine: a handle on the stores under `root`/`runroot`. Cheap to open; holds no lock.
pub struct Engine {
    pub(crate) opts: EngineOptions,
    pub(crate) paths: record::Paths,
    images: std::sync::OnceLock<image::store::ImageStore>,
    /// The network namespace `create_to_start` began making for the container it created.
    prefetched: std::sync::Mutex<Option<::network::PendingSandbox>>,
}

/// The exit code a start error leaves in the record (Docker's 125/126/127).
pub(crate) fn exit_code_of(e: &Error) -> i64 {
    e.exit_code() as i64
}

/// The layer store of existing containers (never a new one: see `Store::open_existing`).
pub(crate) fn open_storage(paths: &record::Paths) -> Option<storage::Store> {
    let driver = std::fs::read_to_string(paths.root.join("engine-driver")).ok();
    storage::Store::open_existing(&paths.root, driver.as_deref().map(str::trim)).ok()
}

/// Releases what a stopped container holds: its rootfs mount, its network sandbox, its runtime
/// state and run dir. Idempotent; works from the records alone (the monitor may be gone).
pub(crate) fn release_resources(paths: &record::Paths, id: &str) {
    release_resources_in(paths, id, open_storage(paths).as_ref());
}

fn release_resources_in(paths: &record::Paths, id: &str, store: Option<&storage::Store>) {
    let rt = runtime::state::StateRoot::new(paths.runtime_root());
    if let Ok(c) = runtime::Container::load(&rt, id) {
        let _ = c.delete(true);
    }
    // A runtime state dir torn by a crash: remove the cgroup from the spec's path.
    let _ = std::fs::remove_dir_all(rt.dir(id));
    let cg = record::load_host_config(paths, id)
        .map(|h| spec::cgroups_path(&h, id))
        .unwrap_or_else(|_| format!("/berth/{id}"));
    if let Ok(m) = cgroups::manager(Some(&cg), id) {
        if m.exists() {
            let _ = m.kill_all(libc::SIGKILL);
        }
        // Unconditionally: a start killed while making them left only some hierarchies.
        let _ = m.destroy();
    }
    if let Some(st) = store {
        let _ = st.unmount(id);
    }
    let np = network::NetPaths {
        root: &paths.root,
        runroot: &paths.runroot,
    };
    let _ = network::detach(&np, id);
    ipc::unmount_shm(&paths.run_dir(id));
    let _ = std::fs::remove_dir_all(paths.run_dir(id));
}

/// The monitor's `--rm` ending: releases and removes with one storage handle and the
/// records it has already read (`rec` under the record lock).
pub(crate) fn release_and_remove(
    paths: &record::Paths,
    id: &str,
    deleting: Option<rawthread::JoinHandle<()>>,
    host: Option<&HostConfig>,
    rec: Option<Record>,
) -> Leftovers {
    let store = open_storage(paths);
    match deleting {
        // The runtime delete runs in that thread (nothing of the container is left running):
        // the mount, the network and the records go meanwhile.
        Some(t) => {
            if let Some(st) = &store {
                let _ = st.unmount(id);
            }
            timing::mark("rm:unmounted");
            let np = network::NetPaths {
                root: &paths.root,
                runroot: &paths.runroot,
            };
            let none = host.is_some_and(|h| h.network_mode == "none");
            let _ = if none {
                network::detach_none(&np, id)
            } else {
                network::detach(&np, id)
            };
            timing::mark("rm:net_detached");
            let left = remove_all_in(paths, id, store.as_ref(), rec);
            timing::mark("rm:records");
            let _ = t.join();
            timing::mark("rm:runtime_joined");
            remove_run_dir(&paths.run_dir(id));
            left
        }
        None => {
            release_resources_in(paths, id, store.as_ref());
            remove_all_in(paths, id, store.as_ref(), rec)
        }
    }
}

/// Deletes a container's run dir: the files a monitor leaves there by name, then the dir
/// (a full walk only when something else is in it).
fn remove_run_dir(dir: &std::path::Path) {
    for f in ["config.json", "monitor.pid"] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    if std::fs::remove_dir(dir).is_err_and(|e| e.kind() != std::io::ErrorKind::NotFound) {
        ipc::unmount_shm(dir);
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Removed containers' record directories are renamed to `containers/.removed-<id>` (one
/// rename instead of deleting each file, which costs a device discard per file with data on
/// a `discard`-mounted disk) and deleted by [`Leftovers::finish`] once nobody waits.
const REMOVED_PREFIX: &str = ".removed-";

/// What a container's removal left to delete: its layers' files and its old record dir.
#[must_use = "call finish() to delete the files"]
pub(crate) struct Leftovers {
    layers: Option<storage::Removed>,
    paths: record::Paths,
}

impl Leftovers {
    pub(crate) fn finish(self) {
        if let Some(l) = self.layers {
            l.finish();
        }
        // Also those of removals whose finish never ran (a monitor killed meanwhile).
        for e in std::fs::read_dir(self.paths.containers())
            .into_iter()
            .flatten()
            .flatten()
        {
            if e.file_name().to_string_lossy().starts_with(REMOVED_PREFIX) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

/// Removes a stopped container entirely: layers, records, name. Idempotent.
pub(crate) fn remove_all(paths: &record::Paths, id: &str) {
    let rec = record::load(paths, id).ok();
    remove_all_in(paths, id, open_storage(paths).as_ref(), rec).finish();
}

fn remove_all_in(
    paths: &record::Paths,
    id: &str,
    store: Option<&storage::Store>,
    rec: Option<Record>,
) -> Leftovers {
    let layers = store.and_then(|st| st.remove_deferred(id).ok());
    let dir = paths.dir(id);
    if let Some(r) = &rec {
        // The name file goes into the record dir, to be deleted with it.
        record::release_name_into(paths, r.short_name(), id, &dir.join(".name"));
        events::container_event_rec(&paths.root, r, "destroy");
    }
    let trash = paths.containers().join(format!("{REMOVED_PREFIX}{id}"));
    if std::fs::rename(&dir, &trash).is_err() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Leftovers {
        layers,
        paths: paths.clone(),
    }
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

fn parse_time(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
        .filter(|t| t.timestamp() > 0)
}

/// Docker's `units.HumanDuration`.
pub fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    let m = s / 60;
    let h = (s as f64 / 3600.0).round() as i64;
    if s < 1 {
        "Less than a second".into()
    } else if s == 1 {
        "1 second".into()
    } else if s < 60 {
        format!("{s} seconds")
    } else if m == 1 {
        "About a minute".into()
    } else if m < 60 {
        format!("{m} minutes")
    } else if h == 1 {
        "About an hour".into()
    } else if h < 48 {
        format!("{h} hours")
    } else if h < 24 * 7 * 2 {
        format!("{} days", h / 24)
    } else if h < 24 * 30 * 2 {
        format!("{} weeks", h / 24 / 7)
    } else if h < 24 * 365 * 2 {
        format!("{} months", h / 24 / 30)
    } else {
        format!("{} years", h / 24 / 365)
    }
}

/// `ps`'s STATUS column.
fn status_text(r: &Record) -> String {
    let now = chrono::Utc::now();
    let since = |t: &str| parse_time(t).map(|t| (now - t).num_seconds()).unwrap_or(0);
    match r.effective_status() {
        "running" => format!("Up {}", human_duration(since(&r.state.started_at))),
        "paused" => format!("Up {} (Paused)", human_duration(since(&r.state.started_at))),
        "restarting" => format!(
            "Restarting ({}) {} ago",
            r.state.exit_code,
            human_duration(since(&r.state.finished_at))
        ),
        "created" => "Created".into(),
        "removing" => "Removal In Progress".into(),
        "dead" => "Dead".into(),
        _ if r.state.finished_at == record::NEVER || parse_time(&r.state.finished_at).is_none() => {
            if r.has_been_started_before {
                format!("Exited ({})", r.state.exit_code)
            } else {
                "Created".into()
            }
        }
        _ => format!(
            "Exited ({}) {} ago",
            r.state.exit_code,
            human_duration(since(&r.state.finished_at))
        ),
    }
}

fn parse_signal(s: &str) -> Result<i32> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(libc::SIGKILL);
    }
    if let Ok(n) = s.parse::<i32>() {
        if n > 0 && n < 65 {
            return Ok(n);
        }
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    let sig: std::result::Result<nix::sys::signal::Signal, _> = format!("SIG{name}").parse();
    sig.map(|s| s as i32)
        .map_err(|_| Error::InvalidArgument(format!("Invalid signal: {s}")))
}

/// Merges the image's config into the container's (Docker's `merge`).
fn merge_image_config(c: &mut Config, img: &image::config::ContainerConfig) {
    if c.user.is_empty() {
        c.user = img.user.clone();
    }
    let mut env = img.env.clone().unwrap_or_default();
    spec::merge_env(&mut env, &c.env);
    c.env = env;
    // Docker: an entrypoint of the user's (even `--entrypoint ""`, sent as [""]) replaces the
    // image's entrypoint and cmd; [""] itself means none.
    if c.entrypoint.as_deref() == Some(&[String::new()][..]) {
        c.entrypoint = None;
    } else if c.entrypoint.as_ref().is_none_or(|e| e.is_empty()) {
        if c.cmd.as_ref().is_none_or(|v| v.is_empty()) {
            c.cmd = img.cmd.clone();
        }
        if c.entrypoint.is_none() {
            c.entrypoint = img.entrypoint.clone();
        }
    }
    if c.working_dir.is_empty() {
        c.working_dir = img.working_dir.clone();
    }
    for (k, v) in img.labels.iter().flatten() {
        c.labels.entry(k.clone()).or_insert_with(|| v.clone());
    }
    if let Some(p) = &img.exposed_ports {
        let e = c.exposed_ports.get_or_insert_with(Default::default);
        for k in p.keys() {
            e.entry(k.clone()).or_default();
        }
    }
    if let Some(v) = &img.volumes {
        let e = c.volumes.get_or_insert_with(Default::default);
        for k in v.keys() {
            e.entry(k.clone()).or_default();
        }
    }
    if c.stop_signal.is_none() && !img.stop_signal.is_empty() {
        c.stop_signal = Some(img.stop_signal.clone());
    }
    if c.on_build.is_none() {
        c.on_build = img.on_build.clone();
    }
}

fn read_host_file(p: &str) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

fn default_hosts(hostname: &str, ip: &str) -> String {
    let mut s = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    if !ip.is_empty() {
        s.push_str(&format!("{ip}\t{hostname}\n"));
    }
    s
}

/// The host's resolv.conf without loopback nameservers (unreachable from a private netns), or
/// Google's public resolvers when nothing is left (Docker's rule).
fn container_resolv_conf(host: &HostConfig) -> String {
    let src = read_host_file("/etc/resolv.conf");
    let mut out = String::new();
    let mut ns = 0;
    for l in src.lines() {
        let t = l.trim();
        if let Some(a) = t.strip_prefix("nameserver") {
            let a = a.trim();
            if a.starts_with("127.") || a == "::1" {
                continue;
            }
            if !host.dns.is_empty() {
                continue;
            }
            ns += 1;
        }
        if (t.starts_with("search") && !host.dns_search.is_empty())
            || (t.starts_with("options") && !host.dns_options.is_empty())
        {
            continue;
        }
        out.push_str(l);
        out.push('\n');
    }
    for d in &host.dns {
        out.push_str(&format!("nameserver {d}\n"));
        ns += 1;
    }
    if ns == 0 {
        out.push_str("nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    }
    if !host.dns_search.is_empty() {
        out.push_str(&format!("search {}\n", host.dns_search.join(" ")));
    }
    if !host.dns_options.is_empty() {
        out.push_str(&format!("options {}\n", host.dns_options.join(" ")));
    }
    out
}

fn cgroup_v2_only() -> bool {
    std::fs::metadata("/sys/fs/cgroup/cgroup.controllers").is_ok()
}

impl Engine {
    pub fn open(opts: EngineOptions) -> Result<Engine> {
        let paths = record::Paths {
            root: opts.root.clone(),
            runroot: opts.runroot.clone(),
        };
        runroot::prepare(&paths.runroot)
            .map_err(Error::io(format!("creating {}", paths.runroot.display())))?;
        // A fresh root is made by the first (0710, as containers/).
        for (d, mode) in [
            (&paths.containers(), perms::CONTAINERS),
            (&paths.names(), perms::NAMES),
        ] {
            perms::mkdir(d, mode).map_err(Error::io(format!("creating {}", d.display())))?;
        }
        let rc = paths.runroot.join("containers");
        perms::mkdir(&rc, perms::RUNROOT)
            .map_err(Error::io(format!("creating {}", rc.display())))?;
        // A root or runroot an earlier version left readable by others: repaired (one stat
        // each when they are fine).
        perms::check(&paths);
        if let Some(d) = &opts.storage_driver {
            let p = paths.root.join("engine-driver");
            if std::fs::read_to_string(&p).ok().as_deref() != Some(d.as_str()) {
                let _ = record::write_atomic(&p, d.as_bytes());
            }
        }
        Ok(Engine {
            opts,
            paths,
            images: std::sync::OnceLock::new(),
            prefetched: std::sync::Mutex::new(None),
        })
    }

    pub fn options(&self) -> &EngineOptions {
        &self.opts
    }

    /// The image store (for `images`, `rmi`, `pull` into the same root), opened on first use.
    pub fn images(&self) -> Result<&image::store::ImageStore> {
        if let Some(s) = self.images.get() {
            return Ok(s);
        }
        let s =
            image::store::ImageStore::open(&self.opts.root, self.opts.storage_driver.as_deref())?;
        Ok(self.images.get_or_init(|| s))
    }

    /// Full ID of a container from a full ID, a unique ID prefix or a name (with or without '/').
    pub fn resolve(&self, name_or_id: &str) -> Result<String> {
        let q = name_or_id.trim_start_matches('/');
        if q.is_empty() {
            return Err(Error::NoSuchContainer(name_or_id.to_string()));
        }
        if q.len() == 64 && self.paths.dir(q).join("config.v2.json").exists() {
            return Ok(q.to_string());
        }
        if let Some(id) = record::name_owner(&self.paths, q) {
            if self.paths.dir(&id).exists() {
                return Ok(id);
            }
        }
        if q.bytes().all(|b| b.is_ascii_hexdigit()) {
            let mut found = None;
            for e in std::fs::read_dir(self.paths.containers())
                .into_iter()
                .flatten()
                .flatten()
            {
                let n = e.file_name();
                let n = n.to_string_lossy();
                if n.starts_with(q) && n.len() == 64 {
                    if found.is_some() {
                        return Err(Error::Ambiguous(q.to_string()));
                    }
                    found = Some(n.to_string());
                }
            }
            if let Some(id) = found {
                return Ok(id);
            }
        }
        Err(Error::NoSuchContainer(name_or_id.to_string()))
    }

    /// The record of `id`, settled first if its monitor died (see orphan.rs).
    fn record(&self, id: &str) -> Result<(String, Record)> {
        let id = self.resolve(id)?;
        let mut r = record::load(&self.paths, &id)?;
        if orphan::orphaned(&r) {
            self.settle_orphan(&id);
            r = record::load(&self.paths, &id)?;
        }
        Ok((id, r))
    }

    /// [`Engine::record`] without the restart policy: for `stop` and `rm`, which want the
    /// container stopped anyway.
    fn record_settled(&self, id: &str) -> Result<(String, Record)> {
        let id = self.resolve(id)?;
        let mut r = record::load(&self.paths, &id)?;
        if orphan::orphaned(&r) {
            orphan::settle(&self.paths, &id);
            r = record::load(&self.paths, &id)?;
        }
        Ok((id, r))
    }

    /// Settles a container whose monitor died (orphan.rs) and applies its restart policy as
    /// the monitor would have: started again under a new monitor, `RestartCount` + 1. Returns
    /// the end it recorded (None: nothing to settle).
    fn settle_orphan(&self, id: &str) -> Option<WaitResult> {
        let s = orphan::settle(&self.paths, id)?;
        if s.restart {
            if let Ok(Some(_)) = self.start_inner(id, None) {
                let _ = record::update(&self.paths, id, |r| {
                    r.restart_count += 1;
                    Ok(())
                });
            }
        }
        Some(s.result)
    }

    pub fn create(&self, req: CreateRequest) -> Result<CreateResponse> {
        self.create_inner(req, false)
    }

    /// `create` for a container that is started right after (`run`): its network namespace
    /// is made in the background meanwhile and picked up by `start`.
    pub fn create_to_start(&self, req: CreateRequest) -> Result<CreateResponse> {
        self.create_inner(req, true)
    }

    fn create_inner(&self, req: CreateRequest, prefetch: bool) -> Result<CreateResponse> {
        let mut config = req.config;
        let mut host = req.host_config;
        // The container's network namespace is slow kernel work: begun first, it is made
        // while the rest of create runs (and pinned at its path once the record dir exists).
        let early_netns = prefetch
            .then(|| network::begin_netns(&host.network_mode))
            .flatten();
        let warnings = Vec::new();
        if host.auto_remove && !matches!(host.restart_policy.name.as_str(), "" | "no") {
            return Err(Error::InvalidArgument(
                "Conflicting options: --restart and --rm".into(),
            ));
        }
        match host.restart_policy.name.as_str() {
            "" | "no" | "always" | "unless-stopped" | "on-failure" => {}
            p => {
                return Err(Error::InvalidArgument(format!(
                    "invalid restart policy '{p}'"
                )))
            }
        }
        if host.memory > 0 && host.memory < 6 * 1024 * 1024 {
            return Err(Error::InvalidArgument(
                "Minimum memory limit allowed is 6MB".into(),
            ));
        }
        if host.memory_swap > 0 && host.memory > 0 && host.memory_swap < host.memory {
            return Err(Error::InvalidArgument(
                "Minimum memoryswap limit should be larger than memory limit, see usage".into(),
            ));
        }
        if host.nano_cpus > 0 && (host.cpu_quota > 0 || host.cpu_period > 0) {
            return Err(Error::InvalidArgument(
                "Conflicting options: Nano CPUs and CPU Period cannot both be set".into(),
            ));
        }
        if host.nano_cpus > 0 {
            let ncpu = std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1) as i64;
            if host.nano_cpus > ncpu * 1_000_000_000 {
                return Err(Error::InvalidArgument(format!(
                    "Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available"
                )));
            }
        }
        // Validate mounts and capabilities now rather than at start.
        for b in host.binds.iter().flatten() {
            spec::parse_bind(b)?;
        }
        // Docker checks the stop signal at create; a bad one would only surface at stop.
        if let Some(sig) = config.stop_signal.as_deref().filter(|s| !s.is_empty()) {
            parse_signal(sig)?;
        }
        let caps = spec::capabilities(&host)?;
        if host.security_opt.as_ref().is_some_and(|o| !o.is_empty()) {
            settings::security_opts(&host, &caps)?;
        }
        blkio::validate(&host)?;
        settings::validate(&host)?;
        for d in &host.devices {
            if std::fs::metadata(&d.path_on_host).is_err() {
                return Err(Error::InvalidArgument(format!(
                    "error gathering device information while adding custom device \"{}\": no such file or directory",
                    d.path_on_host
                )));
            }
        }
        let images = self.images()?;
        let image_id = images.resolve(&config.image).map_err(|e| match e {
            image::Error::NotFound(_) => Error::NoSuchImage(config.image.clone()),
            e => e.into(),
        })?;
        let img = images.get(&image_id)?;
        timing::mark("eng:c_image");
        storage_opts::validate(&host, images.layers().driver_name())?;
        if let Some(ic) = &img.config.config {
            merge_image_config(&mut config, ic);
        }
        if spec::command(&config).is_empty() {
            return Err(Error::InvalidArgument("No command specified".into()));
        }
        if host.network_mode.is_empty() {
            host.network_mode = "default".into();
        }
        if host.shm_size == 0 {
            host.shm_size = 64 << 20;
        }
        if host.log_config.kind.is_empty() {
            host.log_config.kind = "json-file".into();
        }
        if host.restart_policy.name.is_empty() {
            host.restart_policy.name = "no".into();
        }
        if host.cgroupns_mode.is_empty() {
            host.cgroupns_mode = if cgroup_v2_only() { "private" } else { "host" }.into();
        }
        if host.ipc_mode.is_empty() {
            host.ipc_mode = "private".into();
        }
        let id = hex::encode(rand::random::<[u8; 32]>());
        if config.hostname.is_empty() {
            config.hostname = if host.network_mode == "host" {
                nix::unistd::gethostname()
                    .ok()
                    .and_then(|h| h.into_string().ok())
                    .unwrap_or_default()
            } else {
                id[..12].to_string()
            };
        }
        // Reserve the name (locked until the record exists, see reserve_name_locked).
        let (name, name_guard) = match &req.name {
            Some(n) => {
                let n = n.trim_start_matches('/');
                if !record::valid_name(n) {
                    return Err(Error::InvalidArgument(format!(
                        "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                    )));
                }
                let guard = record::reserve_name_locked(&self.paths, n, &id)?;
                (n.to_string(), guard)
            }
            None => {
                let mut i = 0;
                loop {
                    let n = names::generate(i);
                    match record::reserve_name_locked(&self.paths, &n, &id) {
                        Ok(guard) => break (n, guard),
                        Err(Error::NameInUse { .. }) if i < 20 => i += 1,
                        Err(e) => return Err(e),
                    }
                }
            }
        };
        timing::mark("eng:c_named");
        let dir = self.paths.dir(&id);
        let res = (|| -> Result<Record> {
            perms::mkdir(&dir, perms::CONTAINER_DIR)
                .map_err(Error::io(format!("creating {}", dir.display())))?;
            // Held until the layers exist: a `start` or `rm` of the record waits for them.
            let lock = record::lock(&dir, &id)?;
            timing::mark("eng:c_dir");
            let store = images.layers();
            let args = spec::command(&config);
            let rec = Record {
                id: id.clone(),
                created: now_rfc3339(),
                path: args[0].clone(),
                args: args[1..].to_vec(),
                config: config.clone(),
                image: image_id.clone(),
                state: record::new_state(),
                // Like Docker: the requested endpoints (aliases, --ip) wait in Networks until
                // start turns them into live endpoints.
                network_settings: types::NetworkSettings {
                    networks: req.networking.endpoints_config.clone(),
                    ..Default::default()
                },
                name: format!("/{name}"),
                driver: store.driver_name().to_string(),
                mount_points: mount_points(&host, &self.paths.root.join("volumes")),
                hostname_path: dir.join("hostname").display().to_string(),
                hosts_path: dir.join("hosts").display().to_string(),
                resolv_conf_path: dir.join("resolv.conf").display().to_string(),
                log_path: self.paths.log_path(&id).display().to_string(),
                ..Default::default()
            };
            if std::fs::read_to_string(self.paths.root.join("engine-driver"))
                .ok()
                .as_deref()
                != Some(store.driver_name())
            {
                let _ = record::write_atomic(
                    &self.paths.root.join("engine-driver"),
                    store.driver_name().as_bytes(),
                );
            }
            // The record first, then what it owns: killed at any point after this, `ps -a`
            // lists the container and `rm -f` removes whatever of it exists.
            record::save_host_config(&self.paths, &id, &host)?;
            record::save(&self.paths, &rec)?;
            drop(name_guard);
            timing::mark("eng:c_saved");
            if prefetch {
                let np = network::NetPaths {
                    root: &self.paths.root,
                    runroot: &self.paths.runroot,
                };
                *self.prefetched.lock().unwrap_or_else(|e| e.into_inner()) =
                    early_netns.and_then(|ns| network::prefetch_sandbox(&np, &id, ns));
            }
            let hosts = default_hosts(&config.hostname, "");
            store.prepare(
                &id,
                img.top_layer().as_deref(),
                &storage::InitLayerSpec {
                    hostname: format!("{}\n", config.hostname),
                    hosts,
                    resolv_conf: String::new(),
                },
            )?;
            timing::mark("eng:c_layers");
            drop(lock);
            Ok(rec)
        })();
        let rec = match res {
            Ok(r) => r,
            Err(e) => {
                // Removes the namespace if one was started.
                drop(
                    self.prefetched
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .take(),
                );
                let _ = images.layers().remove(&id);
                let _ = std::fs::remove_dir_all(&dir);
                record::release_name(&self.paths, &name, &id);
                return Err(e);
            }
        };
        events::container_event_rec(&self.paths.root, &rec, "create");
        Ok(CreateResponse { id, warnings })
    }

    /// Resolves `container:<x>` to the other container's namespace path.
    fn join_ns(&self, mode: &str, kind: &str) -> Result<spec::Ns> {
        if mode == "host" {
            return Ok(spec::Ns::Host);
        }
        if let Some(other) = mode.strip_prefix("container:") {
            let (oid, r) = self.record(other)?;
            if r.effective_status() != "running" && r.effective_status() != "paused" {
                return Err(Error::Conflict(format!(
                    "cannot join namespace of a non running container: container {oid} is not running"
                )));
            }
            return Ok(spec::Ns::Join(
                format!("/proc/{}/ns/{kind}", r.state.pid).into(),
            ));
        }
        Ok(spec::Ns::Private)
    }

    /// Everything before the monitor: rootfs mount, network, files, spec. Returns (tty,
    /// open_stdin). On error, undoes what it did.
    fn prepare_start(
        &self,
        id: &str,
        rec: &mut Record,
        host: &HostConfig,
    ) -> Result<(serde_json::Value, Vec<u8>)> {
        let images = self.images()?;
        let store = images.layers();
        timing::mark("eng:ps_store");
        let volatile = storage_opts::volatile(host);
        let rootfs = match store.mount_with(id, volatile) {
            // A create killed between its record and its layers (the record goes first, see
            // `create`): the layers of a container that never ran are exactly what create
            // makes, so make them now. Only on this error: nothing on the usual path.
            Err(storage::Error::LayerNotFound(_)) if rec.state.started_at == record::NEVER => {
                let img = images.get(&rec.image)?;
                let hostname = &rec.config.hostname;
                store.prepare(
                    id,
                    img.top_layer().as_deref(),
                    &storage::InitLayerSpec {
                        hostname: format!("{hostname}\n"),
                        hosts: default_hosts(hostname, ""),
                        resolv_conf: String::new(),
                    },
                )?;
                store.mount_with(id, volatile)?
            }
            r => r?,
        };
        timing::mark("eng:ps_mounted");
        let res = (|| -> Result<(serde_json::Value, Vec<u8>)> {
            let dir = self.paths.dir(id);
            let mode = host.network_mode.as_str();
            let prefetched = self
                .prefetched
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
                .filter(|p| p.id() == id);
            let (net, hosts, resolv, settings) = if mode == "none" && prefetched.is_none() {
                (
                    spec::Ns::Private,
                    default_hosts(&rec.config.hostname, ""),
                    container_resolv_conf(host),
                    types::NetworkSettings {
                        networks: [("none".to_string(), types::EndpointSettings::default())]
                            .into_iter()
                            .collect(),
                        ..Default::default()
                    },
                )
            } else if let Some(other) = mode.strip_prefix("container:") {
                let (oid, _) = self.record(other)?;
                let ns = self.join_ns(mode, "net")?;
                let od = self.paths.dir(&oid);
                (
                    ns,
                    std::fs::read_to_string(od.join("hosts")).unwrap_or_default(),
                    std::fs::read_to_string(od.join("resolv.conf")).unwrap_or_default(),
                    types::NetworkSettings::default(),
                )
            } else {
                let np = network::NetPaths {
                    root: &self.paths.root,
                    runroot: &self.paths.runroot,
                };
                // Requested endpoint settings only: live ones (with an EndpointID) are the
                // previous run's and get re-created.
                let requested = types::NetworkingConfig {
                    endpoints_config: rec
                        .network_settings
                        .networks
                        .iter()
                        .map(|(k, v)| {
                            let mut v = v.clone();
                            if !v.endpoint_id.is_empty() {
                                v = types::EndpointSettings {
                                    aliases: v.aliases.clone(),
                                    ipam_config: v.ipam_config.clone(),
                                    ..Default::default()
                                };
                            }
                            (k.clone(), v)
                        })
                        .collect(),
                };
                let a = network::attach(
                    &np,
                    id,
                    rec.short_name(),
                    &rec.config.hostname,
                    &rec.config,
                    host,
                    &requested,
                    prefetched,
                )?;
                let ns = match a.netns {
                    Some(p) => spec::Ns::Join(p),
                    None => spec::Ns::Host,
                };
                (ns, a.hosts, a.resolv_conf, a.settings)
            };
            rec.network_settings = settings;
            timing::mark("eng:ps_net");
            record::write_fresh(&dir.join("hosts"), hosts.as_bytes())?;
            record::write_fresh(&dir.join("resolv.conf"), resolv.as_bytes())?;
            record::write_fresh(
                &dir.join("hostname"),
                format!("{}\n", rec.config.hostname).as_bytes(),
            )?;
            timing::mark("eng:ps_files");
            let pid = self.join_ns(&host.pid_mode, "pid")?;
            let (ipc, shm) = match host.ipc_mode.as_str() {
                "host" => (spec::Ns::Host, Some("/dev/shm".into())),
                "shareable" => {
                    let d = ipc::mount_shareable_shm(&self.paths.run_dir(id), host.shm_size)?;
                    (spec::Ns::Private, Some(d))
                }
                m => match m.strip_prefix("container:") {
                    Some(other) => {
                        let (oid, r) = self.record(other)?;
                        let oh = record::load_host_config(&self.paths, &oid)?;
                        let running = matches!(r.effective_status(), "running" | "paused");
                        let (ns, shm) =
                            ipc::donor(&oid, r.state.pid, running, &oh, &self.paths.run_dir(&oid))?;
                        (ns, Some(shm))
                    }
                    None => (spec::Ns::Private, None),
                },
            };
            let uts = self.join_ns(&host.uts_mode, "uts")?;
            let init_binary = if host.init.unwrap_or(false) {
                Some(init::binary_path())
            } else {
                None
            };
            let spec = spec::build(&spec::SpecInput {
                id,
                config: &rec.config,
                host,
                rootfs: &rootfs,
                container_dir: &dir,
                volumes_dir: &self.paths.root.join("volumes"),
                net,
                pid,
                ipc,
                uts,
                shm,
                cgroup_v2: cgroup_v2_only(),
                init_binary,
            })?;
            timing::mark("eng:ps_spec");
            let run_dir = self.paths.run_dir(id);
            std::fs::create_dir_all(&run_dir)
                .map_err(Error::io(format!("creating {}", run_dir.display())))?;
            let bytes = serde_json::to_vec(&spec).unwrap();
            record::write_fresh(&run_dir.join("config.json"), &bytes)?;
            Ok((spec, bytes))
        })();
        if res.is_err() {
            release_resources(&self.paths, id);
        }
        res
    }

    /// Starts the container; returns its record when this call started it (None: it was
    /// already running).
    fn start_inner(
        &self,
        id: &str,
        client: Option<monitor::EarlyClient>,
    ) -> Result<Option<Record>> {
        let id = self.resolve(id)?;
        // A container whose monitor died is settled (and maybe restarted) first: never a
        // second copy next to one still running.
        if record::load(&self.paths, &id).is_ok_and(|r| orphan::orphaned(&r)) {
            self.settle_orphan(&id);
        }
        let lock = record::lock(&self.paths.dir(&id), &id)?;
        let mut rec = record::load(&self.paths, &id)?;
        let host = record::load_host_config(&self.paths, &id)?;
        match rec.effective_status() {
            "running" | "restarting" => return Ok(None),
            "paused" => {
                return Err(Error::Conflict(
                    "cannot start a paused container, try unpause instead".into(),
                ))
            }
            "removing" | "dead" => {
                return Err(Error::Conflict(
                    "container is marked for removal and cannot be started".into(),
                ))
            }
            _ => {}
        }
        // A monitor that died (kill -9) left resources behind.
        if rec.state.status == "running" || rec.state.status == "paused" {
            release_resources(&self.paths, &id);
        }
        // Creating cgroup directories is slow kernel work (~0.5 ms for a v1 host's nine
        // hierarchies): a thread does it while we mount and write the spec; the runtime then
        // finds them made. Joined before the fork of the monitor.
        let cg_path = spec::cgroups_path(&host, &id);
        let cg_id = id.clone();
        let cgroups = std::thread::Builder::new()
            .stack_size(128 << 10)
            .spawn(move || {
                if let Ok(m) = cgroups::manager(Some(&cg_path), &cg_id) {
                    let _ = m.prepare_join();
                }
            })
            .ok();
        timing::mark("eng:prepare_start");
        let prepared = self.prepare_start(&id, &mut rec, &host);
        if let Some(t) = cgroups {
            let _ = t.join();
        }
        if prepared.is_err() {
            // prepare_start cleaned up, possibly before the thread made the cgroup.
            release_resources(&self.paths, &id);
        }
        let spec = prepared?;
        timing::mark("eng:spawn");
        let started = monitor::spawn(monitor::Spawn {
            paths: &self.paths,
            id: &id,
            tty: rec.config.tty,
            open_stdin: rec.config.open_stdin,
            client,
            dns: network::may_have_dns(&rec.network_settings),
            record_lock: lock.fd(),
            spec,
        });
        match started {
            Ok(s) => {
                rec.state.status = "running".into();
                rec.state.running = true;
                rec.state.paused = false;
                rec.state.restarting = false;
                rec.state.oom_killed = false;
                rec.state.dead = false;
                rec.state.error.clear();
                rec.state.exit_code = 0;
                rec.state.pid = s.pid as i64;
                rec.state.started_at = s.started_at;
                rec.state.finished_at = record::NEVER.into();
                rec.has_been_started_before = true;
                rec.has_been_manually_stopped = false;
                rec.monitor_pid = s.monitor_pid as i64;
                rec.monitor_start_time = match s.monitor_start_time {
                    0 => runtime::state::pid_start_time(s.monitor_pid).unwrap_or(0),
                    t => t,
                };
                timing::mark("eng:running");
                record::save(&self.paths, &rec)?;
                events::container_event_rec(&self.paths.root, &rec, "start");
                timing::mark("eng:saved");
                Ok(Some(rec))
            }
            Err(e) => {
                release_resources(&self.paths, &id);
                rec.state.status = if rec.has_been_started_before {
                    "exited"
                } else {
                    "created"
                }
                .into();
                rec.state.running = false;
                rec.state.pid = 0;
                rec.state.exit_code = exit_code_of(&e);
                rec.state.error = e.to_string();
                rec.monitor_pid = 0;
                let _ = record::save(&self.paths, &rec);
                Err(e)
            }
        }
    }

    /// Starts a created or stopped container (no-op if running); returns when it runs.
    pub fn start(&self, id: &str) -> Result<()> {
        self.start_inner(id, None).map(|_| ())
    }

    /// Starts the container with an attach stream set up before its process runs.
    pub fn start_attached(&self, id: &str, opts: &AttachOptions) -> Result<Attachment> {
        let (a, b) = UnixStream::pair().map_err(Error::io("socketpair"))?;
        let client = monitor::EarlyClient {
            sock: b,
            stdin: opts.stdin,
            stdout: opts.stdout,
            stderr: opts.stderr,
        };
        match self.start_inner(id, Some(client))? {
            None => self.attach(id, opts),
            Some(rec) => Ok(Attachment {
                sock: a,
                tty: rec.config.tty,
                stdin: opts.stdin,
            }),
        }
    }

    /// Attaches to a running container's stdio.
    pub fn attach(&self, id: &str, opts: &AttachOptions) -> Result<Attachment> {
        let (id, rec) = self.record(id)?;
        match rec.effective_status() {
            "running" | "restarting" => {}
            "paused" => {
                return Err(Error::Conflict(
                    "You cannot attach to a paused container, unpause it first".into(),
                ))
            }
            _ => {
                return Err(Error::Conflict(
                    "You cannot attach to a stopped container, start it first".into(),
                ))
            }
        }
        let sock = monitor::connect(&self.paths, &id, opts.stdin, opts.stdout, opts.stderr)
            .map_err(|_| {
                Error::Conflict("You cannot attach to a stopped container, start it first".into())
            })?;
        Ok(Attachment {
            sock,
            tty: rec.config.tty,
            stdin: opts.stdin,
        })
    }

    pub fn wait(&self, id: &str, cond: WaitCondition) -> Result<WaitResult> {
        let (id, rec) = self.record(id)?;
        let running = matches!(rec.effective_status(), "running" | "paused" | "restarting");
        if cond == WaitCondition::NotRunning && !running {
            return Ok(WaitResult {
                status_code: rec.state.exit_code,
                oom_killed: rec.state.oom_killed,
                error: None,
            });
        }
        let mut result = None;
        if let Ok(mut s) = monitor::connect(&self.paths, &id, false, false, false) {
            while let Ok(Some((kind, d))) = monitor::read_frame(&mut s) {
                if kind == monitor::EXIT {
                    result = Some(monitor::parse_exit(&d));
                    break;
                }
            }
        }
        if result.is_none() && running && rec.monitor_alive() {
            // No EXIT frame (socket not there yet, or closed unaccepted as the monitor finished):
            // the record is final only once the monitor is gone.
            monitor::wait_pid_exit(rec.monitor_pid as i32, -1);
        }
        if result.is_none() && running {
            // A monitor killed before it could tell: the container died with it.
            result = self.settle_orphan(&id);
        }
        if cond == WaitCondition::Removed {
            let rec = record::load(&self.paths, &id).ok();
            if let Some(r) = rec {
                if r.monitor_alive() {
                    monitor::wait_pid_exit(r.monitor_pid as i32, -1);
                }
            }
        }
        if let Some(r) = result {
            return Ok(r);
        }
        let r = record::load(&self.paths, &id).unwrap_or(rec);
        Ok(WaitResult {
            status_code: r.state.exit_code,
            oom_killed: r.state.oom_killed,
            error: None,
        })
    }

    fn signal_init(&self, rec: &Record, sig: i32) -> Result<()> {
        if rec.state.pid <= 0 || !rec.monitor_alive() {
            return Err(Error::Conflict(format!(
                "Container {} is not running",
                rec.id
            )));
        }
        // SAFETY: kill(2) on the container's init PID; its monitor (its parent) is alive so the
        // PID cannot have been reused.
        if unsafe { libc::kill(rec.state.pid as i32, sig) } != 0 {
            return Err(Error::io("kill")(std::io::Error::last_os_error()));
        }
        Ok(())
    }

    /// `stop -t`: StopSignal (default SIGTERM), then SIGKILL after `timeout` seconds (None: the
    /// container's StopTimeout or 10).
    pub fn stop(&self, id: &str, timeout: Option<i64>) -> Result<()> {
        // A container that died with its monitor is settled, not restarted only to be stopped.
        let (id, _) = self.record_settled(id)?;
        let rec = record::update(&self.paths, &id, |r| {
            if r.effective_status() == "running"
                || r.effective_status() == "paused"
                || r.effective_status() == "restarting"
            {
                r.has_been_manually_stopped = true;
            }
            Ok(r.clone())
        })?;
        if !rec.monitor_alive() {
            return Ok(());
        }
        let sig = parse_signal(rec.config.stop_signal.as_deref().unwrap_or("SIGTERM"))?;
        let t = timeout.or(rec.config.stop_timeout).unwrap_or(10);
        if rec.state.status == "paused" {
            let rt = runtime::state::StateRoot::new(self.paths.runtime_root());
            if let Ok(c) = runtime::Container::load(&rt, &id) {
                let _ = c.resume();
            }
        }
        let mpid = rec.monitor_pid as i32;
        if t != 0 {
            let _ = self.signal_init(&rec, sig);
            let ms = if t < 0 { -1 } else { (t * 1000) as i32 };
            if monitor::wait_pid_exit(mpid, ms) {
                return Ok(());
            }
        }
        let _ = self.signal_init(&rec, libc::SIGKILL);
        monitor::wait_pid_exit(mpid, -1);
        Ok(())
    }

    /// `kill -s SIG` (name like "KILL"/"SIGKILL" or a number; "" = KILL).
    pub fn kill(&self, id: &str, signal: &str) -> Result<()> {
        let sig = parse_signal(signal)?;
        let (_, rec) = self.record(id)?;
        if rec.effective_status() != "running" && rec.effective_status() != "paused" {
            return Err(Error::Conflict(format!(
                "Cannot kill container: {}: Container {} is not running",
                id, rec.id
            )));
        }
        self.signal_init(&rec, sig)?;
        events::container_event_with(
            &self.paths.root,
            &rec.id,
            "kill",
            &[("signal", sig.to_string())],
        );
        Ok(())
    }

    pub fn restart(&self, id: &str, timeout: Option<i64>) -> Result<()> {
        self.stop(id, timeout)?;
        let (id, _) = self.record(id)?;
        // The monitor may still be finishing its records: wait for it.
        let rec = record::load(&self.paths, &id)?;
        if rec.monitor_alive() {
            monitor::wait_pid_exit(rec.monitor_pid as i32, -1);
        }
        self.start(&id)?;
        events::container_event(&self.paths.root, &id, "restart");
        Ok(())
    }

    pub fn remove(&self, id: &str, opts: &RemoveOptions) -> Result<()> {
        let (id, rec) = self.record_settled(id)?;
        let running = matches!(rec.effective_status(), "running" | "paused" | "restarting");
        if running && !opts.force {
            let what = if rec.effective_status() == "paused" {
                "paused"
            } else {
                "running"
            };
            return Err(Error::Conflict(format!(
                "You cannot remove a {what} container {id}. Stop the container before attempting removal or force remove"
            )));
        }
        // "removing" with its monitor alive: an `rm -f` killed before it stopped the
        // container (issue 12), or one in progress: stop it again (harmless), never just
        // wait for a monitor nobody asked to stop.
        let removing = rec.effective_status() == "removing" && rec.monitor_alive();
        if running || (removing && opts.force) {
            let rec = record::update(&self.paths, &id, |r| {
                r.state.status = "removing".into();
                Ok(r.clone())
            })?;
            let rt = runtime::state::StateRoot::new(self.paths.runtime_root());
            if let Ok(c) = runtime::Container::load(&rt, &id) {
                let _ = c.kill(nix::sys::signal::Signal::SIGKILL, true);
            }
            let _ = self.signal_init(&rec, libc::SIGKILL);
            if rec.monitor_alive() {
                monitor::wait_pid_exit(rec.monitor_pid as i32, -1);
            }
        } else if rec.monitor_alive() {
            // A monitor finishing up (e.g. --rm cleanup): let it.
            monitor::wait_pid_exit(rec.monitor_pid as i32, -1);
        }
        {
            let _l = record::lock(&self.paths.dir(&id), &id).ok();
            // A monitor the record doesn't know (its starter was killed before saving it)
            // would go on creating the container behind our back: stop it first.
            if !rec.monitor_alive() {
                monitor::stop_recorded_monitor(&self.paths, &id);
            }
            release_resources(&self.paths, &id);
            if opts.volumes {
                for m in &rec.mount_points {
                    if m.kind == "volume" && m.name.len() == 64 {
                        let _ =
                            std::fs::remove_dir_all(self.paths.root.join("volumes").join(&m.name));
                    }
                }
            }
            remove_all(&self.paths, &id);
        }
        Ok(())
    }

    fn summary(&self, r: &Record, host: Option<&HostConfig>, size: bool) -> ContainerSummary {
        let mut ports = Vec::new();
        for (k, v) in &r.network_settings.ports {
            let (port, proto) = k.split_once('/').unwrap_or((k, "tcp"));
            let pp = port.parse().unwrap_or(0);
            match v {
                Some(bs) if !bs.is_empty() && r.effective_status() == "running" => {
                    for b in bs {
                        ports.push(PortSummary {
                            ip: b.host_ip.clone(),
                            private_port: pp,
                            public_port: b.host_port.parse().ok(),
                            kind: proto.into(),
                        })
                    }
                }
                _ => ports.push(PortSummary {
                    private_port: pp,
                    kind: proto.into(),
                    ..Default::default()
                }),
            }
        }
        let (size_rw, size_root) = if size {
            let rw = self
                .images()
                .ok()
                .and_then(|i| i.layers().container_size(&r.id).ok())
                .unwrap_or(0) as i64;
            let img = self
                .images()
                .ok()
                .and_then(|i| i.get(&r.image).ok().map(|im| i.size(&im)))
                .unwrap_or(0) as i64;
            (Some(rw), Some(rw + img))
        } else {
            (None, None)
        };
        let mut command = r.path.clone();
        for a in &r.args {
            command.push(' ');
            command.push_str(a);
        }
        ContainerSummary {
            id: r.id.clone(),
            names: vec![r.name.clone()],
            image: r.config.image.clone(),
            image_id: r.image.clone(),
            command,
            created: parse_time(&r.created).map(|t| t.timestamp()).unwrap_or(0),
            ports,
            size_rw,
            size_root_fs: size_root,
            labels: r.config.labels.clone(),
            state: r.effective_status().to_string(),
            status: status_text(r),
            host_config: SummaryHostConfig {
                network_mode: host.map(|h| h.network_mode.clone()).unwrap_or_default(),
            },
            network_settings: SummaryNetworkSettings {
                networks: r.network_settings.networks.clone(),
            },
            mounts: r.mount_points.clone(),
        }
    }

    fn all_records(&self) -> Vec<Record> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(self.paths.containers())
            .into_iter()
            .flatten()
            .flatten()
        {
            let n = e.file_name();
            let n = n.to_string_lossy();
            if n.len() != 64 {
                continue;
            }
            match record::load(&self.paths, &n) {
                Ok(r) if orphan::orphaned(&r) => {
                    self.settle_orphan(&n);
                    out.extend(record::load(&self.paths, &n).ok());
                }
                Ok(r) => out.push(r),
                Err(_) => {}
            }
        }
        out.sort_by(|a, b| b.created.cmp(&a.created));
        out
    }

    pub fn list(&self, opts: &ListOptions) -> Result<Vec<ContainerSummary>> {
        let mut recs = self.all_records();
        let all = opts.all || opts.limit > 0 || opts.latest;
        let f = &opts.filters;
        fn get<'a>(f: &'a [(String, String)], k: &'a str) -> impl Iterator<Item = &'a str> + 'a {
            f.iter()
                .filter(move |(fk, _)| fk == k)
                .map(|(_, v)| v.as_str())
        }
        let get = |k: &'static str| get(f, k);
        // before/since are relative to the creation order.
        let pos = |q: &str, recs: &[Record]| -> Result<usize> {
            let id = self.resolve(q)?;
            Ok(recs.iter().position(|r| r.id == id).unwrap_or(0))
        };
        if let Some(b) = get("before").next() {
            let p = pos(b, &recs)?;
            recs = recs.split_off(p + 1);
        }
        if let Some(s) = get("since").next() {
            let p = pos(s, &recs)?;
            recs.truncate(p);
        }
        let any_or = |k: &'static str, pred: &dyn Fn(&str) -> bool| {
            let mut it = get(k).peekable();
            it.peek().is_none() || it.any(pred)
        };
        let mut out = Vec::new();
        for r in &recs {
            let st = r.effective_status();
            let explicit_status = get("status").next().is_some();
            // A removal in progress (or whose `rm -f` was killed) of a container still running
            // is listed, as Docker lists it (its `State.Running`).
            let up = matches!(st, "running" | "paused" | "restarting")
                || (st == "removing" && r.state.running && r.monitor_alive());
            if !all && !explicit_status && !up {
                continue;
            }
            let ok = any_or("id", &|v| r.id.starts_with(v))
                && any_or("name", &|v| {
                    r.short_name().contains(v.trim_start_matches('/'))
                })
                && any_or("status", &|v| v == st)
                && any_or("exited", &|v| {
                    st == "exited" && v.parse() == Ok(r.state.exit_code)
                })
                && any_or("ancestor", &|v| {
                    r.config.image == v
                        || r.image == v
                        || r.image.trim_start_matches("sha256:").starts_with(v)
                        || self
                            .images()
                            .ok()
                            .and_then(|i| i.resolve(v).ok())
                            .is_some_and(|id| id == r.image)
                })
                && get("label").all(|v| match v.split_once('=') {
                    Some((k, val)) => r.config.labels.get(k).is_some_and(|x| x == val),
                    None => r.config.labels.contains_key(v),
                })
                && any_or("network", &|v| r.network_settings.networks.contains_key(v))
                && any_or("volume", &|v| {
                    r.mount_points
                        .iter()
                        .any(|m| m.name == v || m.destination == v || m.source == v)
                });
            if !ok {
                continue;
            }
            let host = record::load_host_config(&self.paths, &r.id).ok();
            out.push(self.summary(r, host.as_ref(), opts.size));
        }
        if opts.latest {
            out.truncate(1);
        } else if opts.limit > 0 {
            out.truncate(opts.limit);
        }
        Ok(out)
    }

    pub fn inspect(&self, id: &str) -> Result<ContainerJson> {
        let (id, r) = self.record(id)?;
        let host = record::load_host_config(&self.paths, &id)?;
        let mut state = r.state.clone();
        let st = r.effective_status().to_string();
        if st != state.status {
            state.running = false;
            state.paused = false;
            state.restarting = false;
            state.pid = 0;
        }
        state.status = st;
        let mut gd = types::GraphDriver {
            name: r.driver.clone(),
            ..Default::default()
        };
        if let Some(s) = open_storage(&self.paths) {
            for (k, v) in s.metadata(&id).unwrap_or_default() {
                gd.data.insert(k, v);
            }
        }
        Ok(ContainerJson {
            id: id.clone(),
            created: r.created.clone(),
            path: r.path.clone(),
            args: r.args.clone(),
            state,
            image: r.image.clone(),
            resolv_conf_path: r.resolv_conf_path.clone(),
            hostname_path: r.hostname_path.clone(),
            hosts_path: r.hosts_path.clone(),
            log_path: r.log_path.clone(),
            name: r.name.clone(),
            restart_count: r.restart_count,
            driver: r.driver.clone(),
            platform: "linux".into(),
            mount_label: String::new(),
            process_label: String::new(),
            app_armor_profile: String::new(),
            exec_ids: None,
            host_config: host,
            graph_driver: gd,
            mounts: r.mount_points.clone(),
            config: r.config.clone(),
            network_settings: r.network_settings.clone(),
        })
    }

    pub fn logs(
        &self,
        id: &str,
        opts: &LogsOptions,
        stdout: &mut dyn Write,
        stderr: &mut dyn Write,
    ) -> Result<()> {
        let (id, _) = self.record(id)?;
        logs::read(&self.paths, &id, opts, stdout, stderr)
    }

    /// Runs a process in the running container, its stdio relayed to the caller's; returns its exit code
    /// (0 at once with `detach`).
    pub fn exec(&self, id: &str, cfg: &ExecConfig) -> Result<i64> {
        let (id, rec) = self.record(id)?;
        match rec.effective_status() {
            "running" => {}
            "paused" => {
                return Err(Error::Conflict(format!(
                    "Container {id} is paused, unpause the container before exec"
                )))
            }
            _ => return Err(Error::Conflict(format!("Container {id} is not running"))),
        }
        exec::run(&self.paths, &id, &rec, cfg)
    }

    /// `top [ps OPTIONS]` (default "-ef").
    pub fn top(&self, id: &str, ps_args: &[String]) -> Result<TopResult> {
        let (id, rec) = self.record(id)?;
        if rec.effective_status() != "running" && rec.effective_status() != "paused" {
            return Err(Error::Conflict(format!("Container {id} is not running")));
        }
        let rt = runtime::state::StateRoot::new(self.paths.runtime_root());
        let pids = runtime::Container::load(&rt, &id)?.pids()?;
        let args: Vec<String> = if ps_args.is_empty() {
            vec!["-ef".into()]
        } else {
            ps_args.to_vec()
        };
        let out = std::process::Command::new("ps")
            .args(&args)
            .output()
            .map_err(Error::io("running ps"))?;
        if !out.status.success() {
            return Err(Error::Other(format!(
                "Error running ps: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let mut lines = text.lines();
        let header = lines.next().unwrap_or("");
        let titles: Vec<String> = header.split_whitespace().map(String::from).collect();
        let pid_col = titles
            .iter()
            .position(|t| t == "PID")
            .ok_or_else(|| Error::Other("Couldn't find PID field in ps output".into()))?;
        let mut procs = Vec::new();
        for l in lines {
            let fields: Vec<&str> = l.split_whitespace().collect();
            if fields.len() < titles.len() {
                continue;
            }
            let Ok(p) = fields[pid_col].parse::<i32>() else {
                continue;
            };
            if !pids.contains(&p) {
                continue;
            }
            let mut row: Vec<String> = fields[..titles.len() - 1]
                .iter()
                .map(|s| s.to_string())
                .collect();
            row.push(fields[titles.len() - 1..].join(" "));
            procs.push(row);
        }
        Ok(TopResult {
            titles,
            processes: procs,
        })
    }

    pub fn stats(&self, id: &str) -> Result<StatsSample> {
        let (id, rec) = self.record(id)?;
        let mut s = StatsSample {
            id: id.clone(),
            name: rec.short_name().to_string(),
            online_cpus: std::thread::available_parallelism()
                .map(|n| n.get() as u32)
                .unwrap_or(1),
            ..Default::default()
        };
        // /proc/stat's cpu line, in ns (USER_HZ = 100).
        if let Ok(t) = std::fs::read_to_string("/proc/stat") {
            if let Some(l) = t.lines().next() {
                let ticks: u64 = l
                    .split_whitespace()
                    .skip(1)
                    .take(7)
                    .filter_map(|x| x.parse::<u64>().ok())
                    .sum();
                s.system_cpu_ns = ticks * 10_000_000;
            }
        }
        if rec.effective_status() != "running" && rec.effective_status() != "paused" {
            return Ok(s);
        }
        let rt = runtime::state::StateRoot::new(self.paths.runtime_root());
        let st = runtime::Container::load(&rt, &id)?.stats()?;
        s.cpu_total_ns = st.cpu_usage_total_ns;
        s.mem_usage = st.memory_usage.saturating_sub(st.memory_cache);
        s.mem_limit = if st.memory_limit == 0 || st.memory_limit >= i64::MAX as u64 / 2 {
            host_memory()
        } else {
            st.memory_limit.min(host_memory())
        };
        s.blk_read = st.blkio_read_bytes;
        s.blk_write = st.blkio_write_bytes;
        s.pids = st.pids_current;
        if let Ok(t) = std::fs::read_to_string(format!("/proc/{}/net/dev", rec.state.pid)) {
            for l in t.lines().skip(2) {
                let Some((ifc, rest)) = l.split_once(':') else {
                    continue;
                };
                if ifc.trim() == "lo" {
                    continue;
                }
                let f: Vec<u64> = rest
                    .split_whitespace()
                    .filter_map(|x| x.parse().ok())
                    .collect();
                if f.len() >= 9 {
                    s.net_rx += f[0];
                    s.net_tx += f[8];
                }
            }
        }
        Ok(s)
    }

    pub fn pause(&self, id: &str) -> Result<()> {
        let (id, _) = self.record(id)?;
        record::update(&self.paths, &id, |r| {
            match r.effective_status() {
                "running" => {}
                "paused" => {
                    return Err(Error::Conflict(format!("Container {id} is already paused")))
                }
                _ => return Err(Error::Conflict(format!("Container {id} is not running"))),
            }
            let rt = runtime::state::StateRoot::new(self.paths.runtime_root());
            runtime::Container::load(&rt, &id)?.pause()?;
            r.state.status = "paused".into();
            r.state.paused = true;
            Ok(())
        })?;
        events::container_event(&self.paths.root, &id, "pause");
        Ok(())
    }

    pub fn unpause(&self, id: &str) -> Result<()> {
        let (id, _) = self.record(id)?;
        record::update(&self.paths, &id, |r| {
            if r.effective_status() != "paused" {
                return Err(Error::Conflict(format!("Container {id} is not paused")));
            }
            let rt = runtime::state::StateRoot::new(self.paths.runtime_root());
            runtime::Container::load(&rt, &id)?.resume()?;
            r.state.status = "running".into();
            r.state.paused = false;
            Ok(())
        })?;
        events::container_event(&self.paths.root, &id, "unpause");
        Ok(())
    }

    pub fn rename(&self, id: &str, new_name: &str) -> Result<()> {
        let (id, _) = self.record(id)?;
        let new = new_name.trim_start_matches('/');
        if !record::valid_name(new) {
            return Err(Error::InvalidArgument(format!(
                "Invalid container name ({new}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        record::reserve_name(&self.paths, new, &id)?;
        let old = record::update(&self.paths, &id, |r| {
            let old = r.short_name().to_string();
            r.name = format!("/{new}");
            Ok(old)
        });
        match old {
            Ok(old) => {
                record::release_name(&self.paths, &old, &id);
                events::container_event_with(
                    &self.paths.root,
                    &id,
                    "rename",
                    &[("oldName", format!("/{old}"))],
                );
                Ok(())
            }
            Err(e) => {
                record::release_name(&self.paths, new, &id);
                Err(e)
            }
        }
    }

    /// Returns warnings.
    pub fn update(&self, id: &str, cfg: &UpdateConfig) -> Result<Vec<String>> {
        let (id, rec) = self.record(id)?;
        let _l = record::lock(&self.paths.dir(&id), &id)?;
        let mut h = record::load_host_config(&self.paths, &id)?;
        let set = |dst: &mut i64, v: Option<i64>| {
            if let Some(v) = v.filter(|v| *v != 0) {
                *dst = v;
            }
        };
        set(&mut h.cpu_shares, cfg.cpu_shares);
        set(&mut h.nano_cpus, cfg.nano_cpus);
        set(&mut h.cpu_period, cfg.cpu_period);
        set(&mut h.cpu_quota, cfg.cpu_quota);
        set(&mut h.memory, cfg.memory);
        set(&mut h.memory_swap, cfg.memory_swap);
        set(&mut h.memory_reservation, cfg.memory_reservation);
        if let Some(p) = cfg.pids_limit.filter(|p| *p != 0) {
            h.pids_limit = Some(p);
        }
        if let Some(w) = cfg.blkio_weight.filter(|w| *w != 0) {
            h.blkio_weight = w;
        }
        if let Some(c) = &cfg.cpuset_cpus {
            h.cpuset_cpus = c.clone();
        }
        if let Some(c) = &cfg.cpuset_mems {
            h.cpuset_mems = c.clone();
        }
        if let Some(p) = &cfg.restart_policy {
            if h.auto_remove && !matches!(p.name.as_str(), "" | "no") {
                return Err(Error::InvalidArgument(
                    "Restart policy cannot be updated because AutoRemove is enabled for the container".into(),
                ));
            }
            h.restart_policy = p.clone();
        }
        if h.memory > 0 && h.memory_swap > 0 && h.memory_swap < h.memory {
            return Err(Error::InvalidArgument(
                "Minimum memoryswap limit should be larger than memory limit, see usage".into(),
            ));
        }
        // A weight this kernel cannot apply is refused now, not saved to fail the next start.
        if cfg.blkio_weight.is_some_and(|w| w != 0) {
            blkio::validate(&h)?;
        }
        if matches!(rec.effective_status(), "running" | "paused") {
            let mut h2 = h.clone();
            // Swap follows memory only when the user gave memory without swap.
            if cfg.memory.is_some() && cfg.memory_swap.is_none() && h.memory_swap == 0 {
                h2.memory_swap = 0;
            }
            let res: oci_spec::runtime::LinuxResources =
                serde_json::from_value(spec::resources(&h2)?)
                    .map_err(|e| Error::Other(format!("resources: {e}")))?;
            let rt = runtime::state::StateRoot::new(self.paths.runtime_root());
            runtime::Container::load(&rt, &id)?.update(&res)?;
        }
        record::save_host_config(&self.paths, &id, &h)?;
        events::container_event(&self.paths.root, &id, "update");
        Ok(Vec::new())
    }

    /// Published ports: "80/tcp" -> bindings.
    pub fn port(&self, id: &str) -> Result<BTreeMap<String, Option<Vec<PortBinding>>>> {
        let (_, r) = self.record(id)?;
        Ok(r.network_settings.ports.clone())
    }

    pub fn changes(&self, id: &str) -> Result<Vec<Change>> {
        let (id, _) = self.record(id)?;
        Ok(self.images()?.layers().changes(&id)?)
    }

    /// Returns the new image ID (`sha256:...`).
    pub fn commit(&self, id: &str, opts: &CommitOptions) -> Result<String> {
        let (id, rec) = self.record(id)?;
        let paused = opts.pause && rec.effective_status() == "running";
        if paused {
            let _ = self.pause(&id);
        }
        let res = commit::commit(self, &id, &rec, opts);
        if paused {
            let _ = self.unpause(&id);
        }
        let img = res?;
        events::container_event_with(
            &self.paths.root,
            &id,
            "commit",
            &[("comment", opts.message.clone())],
        );
        Ok(img)
    }

    /// The container's whole filesystem as a tar.
    pub fn export(&self, id: &str, w: &mut dyn Write) -> Result<()> {
        let (id, _) = self.record(id)?;
        let st = self.images()?.layers();
        let _l = record::lock(&self.paths.dir(&id), &id)?;
        let rec = record::load(&self.paths, &id)?;
        let mounted_by_us = !matches!(rec.effective_status(), "running" | "paused");
        let merged = st.mount(&id)?;
        let res = commit::tar_dir(&merged, w);
        if mounted_by_us {
            let _ = st.unmount(&id);
        }
        res?;
        events::container_event(&self.paths.root, &id, "export");
        Ok(())
    }

    fn with_rootfs<T>(&self, id: &str, f: impl FnOnce(&std::path::Path) -> Result<T>) -> Result<T> {
        let (id, _) = self.record(id)?;
        let st = self.images()?.layers();
        let _l = record::lock(&self.paths.dir(&id), &id)?;
        let rec = record::load(&self.paths, &id)?;
        let running = matches!(rec.effective_status(), "running" | "paused");
        let merged = if running {
            st.merged_dir(&id)
        } else {
            st.mount(&id)?
        };
        let res = f(&merged);
        if !running {
            let _ = st.unmount(&id);
        }
        res
    }

    /// `stat` of `path` in the container; `follow` resolves a final symlink (inside the root).
    pub fn stat_path(&self, id: &str, path: &str, follow: bool) -> Result<PathStat> {
        self.with_rootfs(id, |root| cp::stat_in(root, path, follow))
    }

    /// `cp CONTAINER:path -`: a tar of `path` (its last element as the top entry); `follow`
    /// (`-L`) copies what a symlink given as `path` points to in the container.
    pub fn copy_from_container(
        &self,
        id: &str,
        path: &str,
        follow: bool,
        w: &mut dyn Write,
    ) -> Result<PathStat> {
        self.with_rootfs(id, |root| cp::copy_out(root, path, follow, w))
    }

    /// `cp - CONTAINER:path`: extracts the tar stream into the directory `path`.
    pub fn copy_to_container(&self, id: &str, path: &str, tar: &mut dyn Read) -> Result<()> {
        self.with_rootfs(id, |root| cp::copy_in(root, path, tar))
    }

    /// Calls `f` for each matching event; stops when it returns false.
    pub fn events(&self, opts: &EventsOptions, f: &mut dyn FnMut(&Event) -> bool) -> Result<()> {
        logs::events(&self.paths.root, opts, f)
    }

    /// `container prune`: removes the stopped containers `select` accepts, given their labels
    /// and creation time (unix seconds).
    pub fn prune(&self, select: &dyn Fn(&types::Map<String>, i64) -> bool) -> Result<PruneReport> {
        let mut rep = PruneReport::default();
        for r in self.all_records() {
            if matches!(r.effective_status(), "running" | "paused" | "restarting") {
                continue;
            }
            let created = parse_time(&r.created).map_or(0, |t| t.timestamp());
            if !select(&r.config.labels, created) {
                continue;
            }
            let size = self
                .images()
                .ok()
                .and_then(|i| i.layers().container_size(&r.id).ok())
                .unwrap_or(0);
            if self.remove(&r.id, &RemoveOptions::default()).is_ok() {
                rep.containers_deleted.push(r.id.clone());
                rep.space_reclaimed += size;
            }
        }
        Ok(rep)
    }

    pub fn info(&self) -> Result<Info> {
        let mut i = Info::default();
        for r in self.all_records() {
            i.containers += 1;
            match r.effective_status() {
                "running" | "restarting" => i.running += 1,
                "paused" => i.paused += 1,
                _ => i.stopped += 1,
            }
        }
        Ok(i)
    }
}

fn host_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// inspect's Mounts for the binds/volumes/tmpfs of a HostConfig.
fn mount_points(h: &HostConfig, volumes: &std::path::Path) -> Vec<types::MountPoint> {
    let mut out = Vec::new();
    for b in h.binds.iter().flatten() {
        if let Ok((src, dst, ro, prop, named)) = spec::parse_bind(b) {
            if named || src.is_empty() {
                out.push(types::MountPoint {
                    kind: "volume".into(),
                    name: src.clone(),
                    source: volumes.join(&src).join("_data").display().to_string(),
                    destination: dst,
                    driver: "local".into(),
                    mode: if ro { "ro".into() } else { "z".into() },
                    rw: !ro,
                    propagation: String::new(),
                });
            } else {
                out.push(types::MountPoint {
                    kind: "bind".into(),
                    source: src,
                    destination: dst,
                    mode: if ro { "ro".into() } else { String::new() },
                    rw: !ro,
                    propagation: if prop.is_empty() {
                        "rprivate".into()
                    } else {
                        prop
                    },
                    ..Default::default()
                });
            }
        }
    }
    for m in h.mounts.iter().flatten() {
        out.push(types::MountPoint {
            kind: m.kind.clone(),
            name: if m.kind == "volume" {
                m.source.clone()
            } else {
                String::new()
            },
            source: if m.kind == "tmpfs" {
                String::new()
            } else {
                m.source.clone()
            },
            destination: m.target.clone(),
            driver: if m.kind == "volume" {
                "local".into()
            } else {
                String::new()
            },
            mode: String::new(),
            rw: !m.read_only,
            propagation: if m.kind == "bind" {
                "rprivate".into()
            } else {
                String::new()
            },
        });
    }
    out
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
        match self.pump_detachable(stdin, stdout, stderr, &[])? {
            attach_io::Pumped::Ended(w) => Ok(w),
            attach_io::Pumped::Detached => Err(Error::Detached),
        }
    }

    /// Resizes the container's tty (no-op without one).
    pub fn resize(&self, rows: u16, cols: u16) -> Result<()> {
        if !self.tty {
            return Ok(());
        }
        let mut d = [0u8; 4];
        d[..2].copy_from_slice(&rows.to_be_bytes());
        d[2..].copy_from_slice(&cols.to_be_bytes());
        let mut s = &self.sock;
        monitor::write_frame(&mut s, monitor::RESIZE, &d).map_err(Error::io("resize"))
    }
}
