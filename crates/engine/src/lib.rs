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
//!
//! Layout: each operation is one file under `ops/` adding its methods to [`Engine`]; their
//! typed requests and responses are in `requests.rs`, errors in `error.rs`; the plumbing they
//! share (records, monitor, teardown, spec, network, storage options) in the other modules.

pub mod api_support;
mod attach_io;
mod blkio;
pub mod build;
mod check;
mod commit;
mod commit_pause;
mod cp;
pub mod detach;
mod error;
pub mod events;
pub mod health;
pub use attach_io::Pumped;
mod exec;
pub mod exec_remote;
mod fork_heap;
pub mod images;
pub mod import_source;
pub mod init;
mod ipc;
mod logs;
mod mnt_release;
mod monitor;
pub mod names;
pub mod network;
pub mod networks;
mod ops;
mod orphan;
pub mod perms;
pub mod procfs_serve;
mod ps_filter;
pub mod pty_relay;
mod record;
mod relay;
mod removed;
mod requests;
pub mod runroot;
mod seccomp;
pub mod settings;
mod shim;
pub mod spec;
mod start_record;
mod status;
mod stdio_relay;
pub mod storage_opts;
mod teardown;
pub mod types;
pub mod volume;

pub use check::Finding;
pub use events::Event;
pub use monitor::resume as monitor_resume;
pub use record::Record;
pub use runtime::timing;

pub use error::{Error, ErrorKind};
pub use ops::image_list::{parse_reference, parse_reference_normalized};
pub use ops::registry::{login, logout};
pub use ops::storage_info::ImageDiskUsage;
pub use requests::{
    AttachOptions, Attachment, Change, CommitOptions, ContainerSummary, CreateRequest,
    CreateResponse, EngineOptions, EventsOptions, ExecConfig, Info, ListOptions, LogsOptions,
    PathStat, PortSummary, PruneReport, RemoveOptions, StatsSample, SummaryHostConfig,
    SummaryNetworkSettings, TopResult, UpdateConfig, WaitCondition, WaitResult,
};
pub use status::human_duration;
pub(crate) use status::{now_rfc3339, parse_time};
pub(crate) use teardown::{
    exit_code_of, open_storage, release_and_remove, release_resources, remove_all, REMOVED_PREFIX,
};
use types::HostConfig;

pub type Result<T> = std::result::Result<T, Error>;

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

    /// The image store, opened on first use. Crate-private: front ends use the image
    /// operations (ops/image_*.rs), never the store.
    pub(crate) fn images(&self) -> Result<&image::store::ImageStore> {
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
}

impl Attachment {}
