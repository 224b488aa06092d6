//! Containers whose monitor died (kill -9, the OOM killer): what makes their state tell the
//! truth.
//!
//! # The design (issue 12, "a monitor killed with SIGKILL")
//!
//! Two ways were weighed:
//! - (a) **the container dies with its monitor.** The monitor is the init's parent (it creates
//!   the container from its main thread, which lives as long as the monitor, through both
//!   execs of the idle handoff), and the init keeps `PR_SET_PDEATHSIG = SIGKILL` for its whole
//!   life (`runtime::CreateOptions::die_with_parent`, armed again after the spec's `setuid`,
//!   which clears it). The kernel kills the init as the monitor exits, and with it its PID
//!   namespace. Whoever reads the record next (`ps`, `inspect`, `start`, `stop`, `wait`, `rm`,
//!   `logs`, ...) finds "running" with a dead monitor and settles it ([`settle`]): it kills
//!   whatever is left in the container's cgroup (processes of a `--pid host` container, an
//!   init that cleared its death signal), releases the container's resources, records the end
//!   as a kill (exit code 137, `FinishedAt` = when it was noticed), emits `die`, and applies
//!   the policy the monitor would have: `--rm` removes the container, a restart policy
//!   (`always`, `unless-stopped`, `on-failure` within its retries) starts it again under a new
//!   monitor with `RestartCount` + 1.
//! - (b) **a takeover**: another process adopts the running container. A process can only
//!   wait for its children, and the kernel reparents an orphan to its nearest
//!   `PR_SET_CHILD_SUBREAPER` ancestor, so the adopter would have to be a long-lived ancestor
//!   of every monitor (one more process, one more fork on the start path, and a daemon in all
//!   but name), and the container's stdout/stderr pipes, held by the dead monitor, would be
//!   gone anyway (their writers get EPIPE/SIGPIPE).
//!
//! berth does (a): it is the simplest design that never lies (no container process runs
//! without a supervisor: the kernel ends it with the monitor, the cgroup kill ends the rest),
//! costs nothing on the start path (one prctl in the init), and matches what Docker gives in
//! practice (a killed containerd-shim loses its container's stdio and the container with it).
//! Its trade-off: a container dies with its monitor instead of surviving it, and without a
//! daemon nothing happens until a berth command looks: the record on disk says "running"
//! until then, but no command shows it (every read settles first), and a restart policy is
//! honoured at that first look rather than at the moment of the death.
//!
//! Races: two readers settling at once serialize on the record lock; the second finds the
//! record settled. A monitor that is just ending normally is seen as dead only after its last
//! write ([`record::load`] reads again), so its own ending is never overwritten.

use crate::record::{self, Paths, Record};
use crate::types::ContainerStatus;
use crate::{events, WaitResult};

/// The exit code recorded for a container that died with its monitor (SIGKILL).
pub const KILLED: i64 = 128 + libc::SIGKILL as i64;

/// A record that says the container runs, but whose monitor is gone; or paused by a commit
/// that died (commit_pause.rs).
pub(crate) fn orphaned(r: &Record) -> bool {
    matches!(
        r.state.status,
        ContainerStatus::Running | ContainerStatus::Paused | ContainerStatus::Restarting
    ) && !r.monitor_alive()
        || crate::commit_pause::owner_dead(r)
}

/// What [`settle`] did.
pub(crate) struct Settled {
    pub result: WaitResult,
    /// The restart policy asks for a new run.
    pub restart: bool,
}

/// Settles the container `id` if its record says running and its monitor died: kills what is
/// left of it, releases its resources and records the end (or removes it, for `--rm`).
/// None when there was nothing to settle (or someone else did it first).
pub(crate) fn settle(paths: &Paths, id: &str) -> Option<Settled> {
    let lock = record::lock(&paths.dir(id), id).ok()?;
    let mut r = record::load(paths, id).ok()?;
    if !orphaned(&r) {
        return None;
    }
    if r.monitor_alive() {
        // Only the pause is orphaned: the container runs on.
        crate::commit_pause::undo_orphaned(paths, &mut r);
        return None;
    }
    let hc = record::load_host_config(paths, id).ok();
    // A paused container's processes are frozen and cannot die (cgroup v1): thaw them.
    let rt = runtime::state::StateRoot::new(paths.runtime_root());
    if let Ok(c) = runtime::Container::load(&rt, id) {
        if r.state.status == ContainerStatus::Paused {
            let _ = c.resume();
        }
    }
    // Every process left in the container's cgroup is killed and the cgroup removed; then
    // the mount, the network and the run dir go.
    crate::release_resources(paths, id);
    let result = WaitResult {
        status_code: KILLED,
        oom_killed: false,
        error: None,
    };
    let exit_code = [("exitCode", KILLED.to_string())];
    if hc.as_ref().is_some_and(|h| h.auto_remove) {
        events::container_event_of(&paths.root, id, Some(&r), "die", &exit_code);
        let anonymous = crate::volume::mounts::anonymous_of(paths, &r.mount_points);
        crate::remove_all(paths, id);
        crate::volume::mounts::remove_unused(paths, &anonymous);
        drop(lock);
        return Some(Settled {
            result,
            restart: false,
        });
    }
    r.state.status = ContainerStatus::Exited;
    r.state.running = false;
    r.state.paused = false;
    r.state.restarting = false;
    r.state.pid = 0;
    r.state.exit_code = KILLED;
    r.state.oom_killed = false;
    r.state.finished_at = runtime::state::now_rfc3339();
    crate::health::on_stop(&mut r.state.health);
    r.monitor_pid = 0;
    r.monitor_start_time = 0;
    r.pause_owner_pid = 0;
    r.pause_owner_start_time = 0;
    let restart = hc.as_ref().is_some_and(|h| {
        if r.has_been_manually_stopped {
            return false;
        }
        let p = &h.restart_policy;
        match p.name.as_str() {
            "always" | "unless-stopped" => true,
            // 137 is a failure.
            "on-failure" => p.maximum_retry_count <= 0 || r.restart_count < p.maximum_retry_count,
            _ => false,
        }
    });
    let _ = record::save(paths, &r);
    drop(lock);
    events::container_event_of(&paths.root, id, Some(&r), "die", &exit_code);
    Some(Settled { result, restart })
}
