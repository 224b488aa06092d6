//! Reaps the container monitors this process forked. A monitor is a fork of whoever started
//! the container; the CLI exits soon after and the monitor is reparented, but this server
//! lives on, so each exited monitor would stay a zombie. Only known monitor pids are
//! reaped: a wait for any child would steal the exit status of an exec'd process from the
//! engine thread that waits for it.

use crate::state::State;
use std::sync::Arc;

pub fn spawn(state: Arc<State>) {
    let Ok(mut sig) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::child()) else {
        return;
    };
    tokio::spawn(async move {
        while sig.recv().await.is_some() {
            sweep(&state);
        }
    });
}

/// Reaps the known monitors that have exited.
pub fn sweep(state: &State) {
    let mut m = state.monitors.lock().unwrap_or_else(|e| e.into_inner());
    m.retain(|&pid| {
        let mut st = 0;
        // SAFETY: waitpid on a pid we forked (a monitor), without blocking.
        let r = unsafe { libc::waitpid(pid, &mut st, libc::WNOHANG) };
        r == 0
    });
}
