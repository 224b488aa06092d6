//! Who records a start: the monitor, not the CLI that forked it (issue 12).
//!
//! A `start` (or `run`) whose CLI is killed after the monitor's fork must still end with a
//! record that tells the truth. Were the CLI to record the start after the monitor's reply,
//! a kill in between would leave the record `created` while the container runs (`ps` does
//! not list it, `stop` does nothing, the next `start` makes a second copy). So the monitor,
//! a fork of the starter with the record it prepared in memory, records the start itself
//! before it replies: `running` with its own PID once the container runs, or the failure
//! (resources released, `created`/`exited` with the exit code and error) when it could not
//! start it. The record lock, taken by the starter before the fork, is held by the monitor's
//! inherited copy until that is written, so a reader that waits for the lock (`start`,
//! `rm -f`) finds the record final even if the starter died meanwhile. The CLI then only
//! mirrors what the monitor wrote into its own copy (no second write).
//!
//! The cost is unchanged: one record write, now in the monitor instead of the CLI, still
//! before the CLI's reply.

use crate::record::{self, Paths, Record};
use crate::types::ContainerStatus;
use crate::{events, Error};
use std::os::fd::OwnedFd;

/// What the monitor takes over from its starter: the starter's copy of the record (as
/// `prepare_start` left it) and the record lock's inherited fd.
pub(crate) struct Starter {
    pub record: Record,
    pub lock: OwnedFd,
}

/// The record of a container that runs now under monitor `monitor_pid`.
pub(crate) fn mark_started(
    r: &mut Record,
    pid: i32,
    started_at: &str,
    monitor_pid: i32,
    monitor_start_time: u64,
) {
    r.state.status = ContainerStatus::Running;
    r.state.running = true;
    r.state.paused = false;
    r.state.restarting = false;
    r.state.oom_killed = false;
    r.state.dead = false;
    r.state.error.clear();
    r.state.exit_code = 0;
    r.state.pid = pid as i64;
    r.state.started_at = started_at.to_string();
    r.state.finished_at = record::NEVER.into();
    r.state.health = crate::health::on_start(r.config.healthcheck.as_ref(), r.state.health.take());
    r.has_been_started_before = true;
    r.has_been_manually_stopped = false;
    r.pause_owner_pid = 0;
    r.pause_owner_start_time = 0;
    r.monitor_pid = monitor_pid as i64;
    r.monitor_start_time = match monitor_start_time {
        0 => runtime::state::pid_start_time(monitor_pid).unwrap_or(0),
        t => t,
    };
}

/// The record of a container whose start failed with `e` (its resources released).
pub(crate) fn mark_failed(r: &mut Record, e: &Error) {
    r.state.status = if r.has_been_started_before {
        ContainerStatus::Exited
    } else {
        ContainerStatus::Created
    };
    r.state.running = false;
    r.state.pid = 0;
    r.state.exit_code = crate::exit_code_of(e);
    r.state.error = e.to_string();
    r.monitor_pid = 0;
    r.monitor_start_time = 0;
}

impl Starter {
    /// The container runs: records it (under the starter's lock, still held through our
    /// copy, which the caller drops next) and emits `start`.
    pub(crate) fn started(
        &self,
        paths: &Paths,
        pid: i32,
        started_at: &str,
        monitor_pid: i32,
        monitor_start_time: u64,
    ) -> crate::Result<()> {
        let mut r = self.record.clone();
        mark_started(&mut r, pid, started_at, monitor_pid, monitor_start_time);
        record::save(paths, &r)?;
        events::container_event_rec(&paths.root, &r, "start");
        Ok(())
    }

    /// The start failed with `e`: releases what the start made and records the failure.
    pub(crate) fn failed(self, paths: &Paths, e: &Error) {
        let mut r = self.record;
        crate::release_resources(paths, &r.id);
        mark_failed(&mut r, e);
        let _ = record::save(paths, &r);
        drop(self.lock);
    }
}
