//! `berth system check [--repair]` and `berth system reset`: what crashes and kill -9 leave on
//! a host, found and (on request) removed. One module per kind of leftover, each a small
//! function that finds and, when asked, repairs:
//!
//! * [`containers`]: records whose process runs without a monitor, records that say running
//!   while nothing runs, records whose layers are gone, record dirs of interrupted creates;
//! * [`mounts`]: rootfs (overlay `merged`), /dev/shm and other mounts under the root or the
//!   runroot of containers that do not run;
//! * [`cgroups`]: `berth/<id>` cgroups in every v1 hierarchy and in v2 with no live container;
//! * network (the network crate's `NetworkController::audit`): endpoints, IPAM addresses,
//!   veths, nft elements and netns files without a running owner;
//! * [`names`]: name reservations of creators that died (unlocked, no record);
//! * [`storage`]: the layer store's lock left marked by a dead holder, half-made layers and
//!   image operations (interrupted pull/load/commit), layer dirs nothing references, container
//!   layers without container, images whose layers are missing.
//!
//! Nothing that belongs to a live container is touched: a container is live while its record
//! lock is held by another process (a start, a removal), its monitor runs (PID + start time),
//! its init runs (the runtime state's PID + start time) or its cgroup holds a process. Repairs
//! of a container's things hold its record lock (taken without waiting) and look again first.

mod cgroups;
mod containers;
mod mounts;
mod names;
mod reset;
mod storage;

use crate::record::{self, Paths};
use crate::types::ContainerStatus;
use crate::{Engine, Result};
use serde::Serialize;
use std::fs::File;
use std::os::fd::AsRawFd;

/// One thing found wrong. Docker-like field names for `--format json`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Finding {
    /// "container", "mount", "cgroup", "netns", "veth", "nft", "ipam", "endpoint", "layer",
    /// "image", "lock".
    pub kind: String,
    pub object: String,
    pub problem: String,
    /// What `--repair` does (or did).
    pub action: String,
    /// Whether it was repaired (false without `--repair`, or when the repair failed).
    pub repaired: bool,
    /// Why the repair failed ("" otherwise).
    pub error: String,
}

impl Finding {
    pub(crate) fn new(
        kind: &str,
        object: impl Into<String>,
        problem: impl Into<String>,
        action: &str,
    ) -> Finding {
        Finding {
            kind: kind.into(),
            object: object.into(),
            problem: problem.into(),
            action: action.into(),
            repaired: false,
            error: String::new(),
        }
    }

    pub(crate) fn outcome<E: std::fmt::Display>(&mut self, r: std::result::Result<(), E>) {
        match r {
            Ok(()) => self.repaired = true,
            Err(e) => self.error = e.to_string(),
        }
    }
}

/// What a check shares between its parts.
pub(crate) struct Ctx<'a> {
    pub paths: &'a Paths,
    pub repair: bool,
    pub found: Vec<Finding>,
}

impl Ctx<'_> {
    pub(crate) fn push(&mut self, f: Finding) {
        self.found.push(f);
    }
}

pub(crate) fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

pub(crate) fn is_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// An exclusive flock taken without waiting, released on drop.
pub(crate) struct TryLock(#[allow(dead_code)] File);

/// Takes `path`'s flock if nobody holds it (None: held, or no such file).
pub(crate) fn try_flock(path: &std::path::Path) -> Option<TryLock> {
    let f = File::open(path).ok()?;
    // SAFETY: flock on an fd we own.
    let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    (r == 0).then_some(TryLock(f))
}

/// Whether the flock of `path` is held by some process (an existing file only).
pub(crate) fn flock_held(path: &std::path::Path) -> bool {
    path.exists() && try_flock(path).is_none()
}

/// Whether container `id`'s init (or any process of its cgroup) runs.
pub(crate) fn process_alive(paths: &Paths, id: &str) -> bool {
    let rt = runtime::state::StateRoot::new(paths.runtime_root());
    if runtime::Container::load(&rt, id)
        .is_ok_and(|c| c.status() != runtime::state::Status::Stopped)
    {
        return true;
    }
    let cg = record::load_host_config(paths, id)
        .map(|h| crate::spec::cgroups_path(&h, id))
        .unwrap_or_else(|_| format!("/berth/{id}"));
    ::cgroups::manager(Some(&cg), id)
        .ok()
        .filter(|m| m.exists())
        .and_then(|m| m.pids().ok())
        .is_some_and(|p| !p.is_empty())
}

/// Whether the monitor named by the run dir's `monitor.pid` ("PID START_TIME") still runs: a
/// monitor that recorded the exit may still be releasing the container's things.
pub(crate) fn pid_file_monitor_alive(paths: &Paths, id: &str) -> bool {
    let Ok(s) = std::fs::read_to_string(paths.run_dir(id).join("monitor.pid")) else {
        return false;
    };
    let mut it = s.split_whitespace().filter_map(|x| x.parse::<u64>().ok());
    match (it.next(), it.next()) {
        (Some(pid), Some(start)) => runtime::state::pid_start_time(pid as i32) == Some(start),
        _ => false,
    }
}

/// Whether container `id` of this root may own resources now: another process holds its
/// record lock (starting, stopping, removing it), or its monitor or a process of it runs.
pub(crate) fn owned(paths: &Paths, id: &str) -> bool {
    let dir = paths.dir(id);
    if !dir.exists() {
        return false;
    }
    if flock_held(&dir.join(".lock")) {
        return true;
    }
    match record::load(paths, id) {
        Ok(r) if r.monitor_alive() || just_created(&r) => return true,
        _ => {}
    }
    pid_file_monitor_alive(paths, id) || process_alive(paths, id)
}

/// A `run` makes its container's network namespace and layers before it starts the monitor:
/// a container created in the last [`YOUNG_SECS`] and never started may be one of those.
fn just_created(r: &record::Record) -> bool {
    r.state.status == ContainerStatus::Created
        && crate::parse_time(&r.created)
            .is_some_and(|t| (chrono::Utc::now() - t).num_seconds() < YOUNG_SECS)
}

/// How long a leftover of something just made is given before it counts as one.
pub(crate) const YOUNG_SECS: i64 = 10;

/// Seconds since `p` was last modified (0 when unknown).
pub(crate) fn age_secs(p: &std::path::Path) -> u64 {
    std::fs::metadata(p)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .map_or(0, |d| d.as_secs())
}

/// Holds container `id`'s record lock (when it has a record dir) for a repair of its things,
/// once it is sure the container is not live; None: leave them alone.
pub(crate) fn claim(paths: &Paths, id: &str) -> Option<Option<TryLock>> {
    let dir = paths.dir(id);
    let lock = if dir.exists() {
        let p = dir.join(".lock");
        // A record dir without its lock file (a crash right after its mkdir): made here.
        let _ = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&p);
        Some(try_flock(&p)?)
    } else {
        None
    };
    let live = record::load(paths, id).is_ok_and(|r| r.monitor_alive() || just_created(&r))
        || pid_file_monitor_alive(paths, id)
        || process_alive(paths, id);
    (!live).then_some(lock)
}

/// The containers (IDs) under this root, with or without a complete record.
pub(crate) fn container_ids(paths: &Paths) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(paths.containers())
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| is_id(n))
        .collect();
    v.sort();
    v
}

impl Engine {
    /// `berth system check`: finds what crashes left under this root and on the host for it;
    /// with `repair`, removes each (see the module doc for what is never touched).
    pub fn system_check(&self, repair: bool) -> Result<Vec<Finding>> {
        let mut cx = Ctx {
            paths: &self.paths,
            repair,
            found: Vec::new(),
        };
        // Storage's lock first: opening the store would sweep a dead holder's leftovers.
        storage::lock(&mut cx);
        containers::check(&mut cx);
        names::check(&mut cx);
        mounts::check(&mut cx);
        cgroups::check(&mut cx);
        network(&mut cx)?;
        storage::check(&mut cx);
        Ok(cx.found)
    }

    /// `berth system reset`: removes everything berth made on this host for this root (see
    /// [`reset`]).
    pub fn system_reset(&self) -> Result<Vec<String>> {
        reset::reset(self)
    }
}

/// This root's network leftovers (the network crate knows its state).
fn network(cx: &mut Ctx) -> Result<()> {
    if !cx.paths.root.join("network").exists() {
        return Ok(());
    }
    let np = crate::network::NetPaths {
        root: &cx.paths.root,
        runroot: &cx.paths.runroot,
    };
    let ctl = np.controller()?;
    let paths = cx.paths;
    let leaks = ctl.audit(&|id| owned(paths, id), cx.repair)?;
    for l in leaks {
        let mut f = Finding::new(l.kind, l.object, l.problem, l.action);
        if let Some(r) = l.repaired {
            f.outcome(r);
        }
        cx.push(f);
    }
    Ok(())
}
