//! Container records that lie or cannot work: a process running without a monitor, a record
//! saying running while nothing runs, a record whose layers are gone, a record dir an
//! interrupted create left without its record.

use super::{claim, container_ids, flock_held, process_alive, short, Ctx, Finding};
use crate::record::{self, Record};
use crate::types::ContainerStatus;

pub(super) fn check(cx: &mut Ctx) {
    removed_dirs(cx);
    run_state(cx);
    // Not the store itself: opening it sweeps what a dead lock holder left (see storage).
    let layout = super::storage::layout(&cx.paths.root);
    for id in container_ids(cx.paths) {
        let dir = cx.paths.dir(&id);
        if flock_held(&dir.join(".lock")) {
            continue; // another berth works on it
        }
        let rec = match record::load(cx.paths, &id) {
            Ok(r) => r,
            Err(_) if !dir.join("config.v2.json").exists() => {
                // A create makes the dir, then locks it: give it a moment.
                if super::age_secs(&dir) >= super::YOUNG_SECS as u64 {
                    half_created(cx, &id);
                }
                continue;
            }
            Err(_) => continue, // unreadable: not ours to judge
        };
        let says_running = matches!(
            rec.state.status,
            ContainerStatus::Running | ContainerStatus::Paused | ContainerStatus::Restarting
        );
        if rec.monitor_alive() || super::pid_file_monitor_alive(cx.paths, &id) {
            continue;
        }
        if process_alive(cx.paths, &id) {
            if says_running {
                unsupervised(cx, &id, &rec);
            }
            continue;
        }
        if says_running {
            stale_running(cx, &id, &rec);
        }
        if let Some(l) = &layout {
            let entry = l.meta.join("layerdb/mounts").join(&id);
            let layer_dir = l.layers.join(&id);
            if !entry.is_dir() || !layer_dir.exists() {
                let mut f = Finding::new(
                    "container",
                    format!("{} ({})", short(&id), rec.short_name()),
                    "its layers are missing: it can neither start nor be inspected",
                    "remove",
                );
                if cx.repair {
                    f.outcome(remove(cx, &id));
                }
                cx.push(f);
            }
        }
    }
}

fn remove(cx: &Ctx, id: &str) -> Result<(), String> {
    let Some(_lock) = claim(cx.paths, id) else {
        return Err("the container came alive".into());
    };
    crate::release_resources(cx.paths, id);
    crate::remove_all(cx.paths, id);
    Ok(())
}

/// A record dir with no record (a create killed before writing it): nothing can use it.
fn half_created(cx: &mut Ctx, id: &str) {
    let mut f = Finding::new(
        "container",
        short(id).to_string(),
        "directory without a record (interrupted create)",
        "remove",
    );
    if cx.repair {
        f.outcome(remove(cx, id));
    }
    cx.push(f);
}

/// The container's process runs but no monitor supervises it: `ps` says exited, `stop` does
/// nothing. Repaired by stopping it (SIGKILL to its cgroup) and recording the end honestly.
fn unsupervised(cx: &mut Ctx, id: &str, rec: &Record) {
    let mut f = Finding::new(
        "container",
        format!("{} ({})", short(id), rec.short_name()),
        "process runs without a monitor",
        "stop",
    );
    if cx.repair {
        f.outcome(stop_recorded(cx, id, 137));
    }
    cx.push(f);
}

/// The record says running, but neither a monitor nor a process of it is left.
fn stale_running(cx: &mut Ctx, id: &str, rec: &Record) {
    let mut f = Finding::new(
        "container",
        format!("{} ({})", short(id), rec.short_name()),
        format!("recorded {} but nothing runs", rec.state.status),
        "mark exited",
    );
    if cx.repair {
        f.outcome(stop_recorded(cx, id, 137));
    }
    cx.push(f);
}

fn stop_recorded(cx: &Ctx, id: &str, code: i64) -> Result<(), String> {
    let dir = cx.paths.dir(id);
    let Some(_lock) = super::try_flock(&dir.join(".lock")) else {
        return Err("its record is locked by another berth".into());
    };
    let r = record::load(cx.paths, id).map_err(|e| e.to_string())?;
    if r.monitor_alive() {
        return Err("a monitor took over".into());
    }
    // Kills every process of its cgroup, then releases the mount, network and runtime state.
    crate::release_resources(cx.paths, id);
    if process_alive(cx.paths, id) {
        return Err("its processes survived SIGKILL".into());
    }
    let mut r = r;
    r.state.status = ContainerStatus::Exited;
    r.state.running = false;
    r.state.paused = false;
    r.state.restarting = false;
    r.state.pid = 0;
    r.state.exit_code = code;
    r.state.finished_at = crate::now_rfc3339();
    r.monitor_pid = 0;
    r.monitor_start_time = 0;
    record::save(cx.paths, &r).map_err(|e| e.to_string())
}

/// Record dirs of removed containers (renamed `.removed-<id>`) whose deletion never ran (the
/// remover was killed); a removal in progress gets [`super::YOUNG_SECS`].
fn removed_dirs(cx: &mut Ctx) {
    for e in std::fs::read_dir(cx.paths.containers())
        .into_iter()
        .flatten()
        .flatten()
    {
        let n = e.file_name().to_string_lossy().into_owned();
        if !n.starts_with(crate::REMOVED_PREFIX)
            || super::age_secs(&e.path()) < super::YOUNG_SECS as u64
        {
            continue;
        }
        let mut f = Finding::new(
            "container",
            e.path().display().to_string(),
            "files of a removed container (interrupted removal)",
            "remove",
        );
        if cx.repair {
            f.outcome(std::fs::remove_dir_all(e.path()));
        }
        cx.push(f);
    }
}

/// Run dirs (`<runroot>/containers/<id>`) and runtime state (`<runroot>/runtime/<id>`) of
/// containers that do not run: only a running container has them.
fn run_state(cx: &mut Ctx) {
    let mut ids = std::collections::BTreeSet::new();
    for d in [cx.paths.runroot.join("containers"), cx.paths.runtime_root()] {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if super::is_id(&n) && super::age_secs(&e.path()) >= super::YOUNG_SECS as u64 {
                ids.insert(n);
            }
        }
    }
    for id in ids {
        if super::owned(cx.paths, &id) {
            continue;
        }
        let mut f = Finding::new(
            "container",
            format!("{} (runtime state)", short(&id)),
            "run dir or runtime state of a container that does not run",
            "remove",
        );
        if cx.repair {
            f.outcome(match claim(cx.paths, &id) {
                Some(_lock) => {
                    crate::release_resources(cx.paths, &id);
                    let rt = cx.paths.runtime_root().join(&id);
                    if cx.paths.run_dir(&id).exists() || rt.exists() {
                        Err("still there")
                    } else {
                        Ok(())
                    }
                }
                None => Err("the container came alive"),
            });
        }
        cx.push(f);
    }
}
