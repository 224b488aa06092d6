//! Releasing and removing what a container holds (shared by `rm`, the monitor's `--rm`, start
//! failures and `system check --repair`).

use crate::record::{self, Record};
use crate::types::{HostConfig, NetworkMode};
use crate::{events, ipc, network, spec, timing, Error};

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
    crate::volume::release(paths, id);
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
            let none = host.is_some_and(|h| h.network_mode() == NetworkMode::None);
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
            crate::volume::release(paths, id);
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
pub(crate) const REMOVED_PREFIX: &str = ".removed-";

/// What a container's removal left to delete: its layers' files and its old record dir.
#[must_use = "call finish() to delete the files"]
pub(crate) struct Leftovers {
    id: String,
    layers: Option<storage::Removed>,
    paths: record::Paths,
}

impl Leftovers {
    pub(crate) fn finish(self) {
        if let Some(l) = self.layers {
            l.finish();
        }
        let _ = std::fs::remove_dir_all(removed_dir(&self.paths, &self.id));
        // Also what removals and creates killed midway left (removed.rs).
        crate::removed::sweep(&self.paths);
    }
}

fn removed_dir(paths: &record::Paths, id: &str) -> std::path::PathBuf {
    paths.containers().join(format!("{REMOVED_PREFIX}{id}"))
}

/// Removes a stopped container entirely: layers, records, name. Idempotent.
pub(crate) fn remove_all(paths: &record::Paths, id: &str) {
    let rec = record::load(paths, id).ok();
    remove_all_in(paths, id, open_storage(paths).as_ref(), rec).finish();
}

/// The record goes first (renamed away in one step), then the layers: a removal killed in
/// between leaves no record (no command shows the container, its name is free) but layers
/// that the renamed record dir names, which the next removal's [`Leftovers::finish`] removes
/// (removed.rs). The other order left, killed in between, a record whose layers were gone:
/// listed, but `start` failed ("layer ... not found").
fn remove_all_in(
    paths: &record::Paths,
    id: &str,
    store: Option<&storage::Store>,
    rec: Option<Record>,
) -> Leftovers {
    let dir = paths.dir(id);
    if let Some(r) = &rec {
        // The name file goes into the record dir, to be deleted with it.
        record::release_name_into(paths, r.short_name(), id, &dir.join(".name"));
        events::container_event_rec(&paths.root, r, "destroy");
    }
    if std::fs::rename(&dir, removed_dir(paths, id)).is_err() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let layers = store.and_then(|st| st.remove_deferred(id).ok());
    Leftovers {
        id: id.to_string(),
        layers,
        paths: paths.clone(),
    }
}
