//! The pause of a `commit` (the default `--pause=true`): owned by the committing process, so
//! a commit killed mid-way (kill -9, issue 12) never leaves its container paused for good.
//!
//! Docker's daemon outlives a killed `docker commit` and unpauses. berth has no daemon, so
//! the pause carries its owner in the record (PID + start time, as the monitor's does): the
//! next berth command that reads a paused record whose owner is gone resumes the container
//! and records it running again (orphan.rs, next to a dead monitor's settling). A `pause` by
//! the user has no owner and stays until `unpause`.

use crate::record::{self, Paths, Record};
use crate::types::ContainerStatus;
use crate::{events, Error, Result};

/// Whether `r` is paused by a commit whose process died.
pub(crate) fn owner_dead(r: &Record) -> bool {
    r.state.status == ContainerStatus::Paused
        && r.pause_owner_pid > 0
        && runtime::state::pid_start_time(r.pause_owner_pid as i32)
            != Some(r.pause_owner_start_time)
}

/// Pauses running container `id` for this process's commit. False when it was not paused
/// here (not running, paused already, or the freeze failed): then the commit must not unpause.
pub(crate) fn pause(paths: &Paths, id: &str) -> bool {
    let me = std::process::id() as i32;
    let Some(start) = runtime::state::pid_start_time(me) else {
        return false;
    };
    let paused = record::update(paths, id, |r| {
        if r.effective_status() != ContainerStatus::Running {
            return Err(Error::Conflict(format!("Container {id} is not running")));
        }
        let rt = runtime::state::StateRoot::new(paths.runtime_root());
        runtime::Container::load(&rt, id)?.pause()?;
        r.state.status = ContainerStatus::Paused;
        r.state.paused = true;
        r.pause_owner_pid = me as i64;
        r.pause_owner_start_time = start;
        // As `pause` (dockerd pauses a commit's container the same way).
        crate::health::on_stop(&mut r.state.health);
        Ok(())
    });
    if paused.is_ok() {
        events::container_event(&paths.root, id, "pause");
    }
    paused.is_ok()
}

/// Undoes this process's [`pause`] (unless someone unpaused it meanwhile).
pub(crate) fn unpause(paths: &Paths, id: &str) -> Result<()> {
    let me = std::process::id() as i64;
    let undone =
        record::update(paths, id, |r| {
            Ok(r.state.status == ContainerStatus::Paused
                && r.pause_owner_pid == me
                && resume(paths, r))
        })?;
    if undone {
        events::container_event(&paths.root, id, "unpause");
    }
    Ok(())
}

/// Resumes the container of `r` and records it running (call under the record lock).
fn resume(paths: &Paths, r: &mut Record) -> bool {
    let rt = runtime::state::StateRoot::new(paths.runtime_root());
    let thawed = runtime::Container::load(&rt, &r.id).and_then(|c| c.resume());
    if thawed.is_err() {
        return false;
    }
    r.state.status = ContainerStatus::Running;
    r.state.paused = false;
    r.pause_owner_pid = 0;
    r.pause_owner_start_time = 0;
    true
}

/// A pause whose owning commit died: resumed and recorded running (`r` loaded under the
/// record lock, which the caller holds).
pub(crate) fn undo_orphaned(paths: &Paths, r: &mut Record) {
    if owner_dead(r) && resume(paths, r) && record::save(paths, r).is_ok() {
        events::container_event(&paths.root, &r.id, "unpause");
    }
}
