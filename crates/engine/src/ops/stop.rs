//! `stop`.

use super::kill::parse_signal;
use crate::types::ContainerStatus;
use crate::{events, monitor, record, Engine, Result};

impl Engine {
    /// `stop -t`: StopSignal (default SIGTERM), then SIGKILL after `timeout` seconds (None: the
    /// container's StopTimeout or 10).
    pub fn stop(&self, id: &str, timeout: Option<i64>) -> Result<()> {
        self.stop_with(id, timeout, None)
    }

    /// `stop -s SIG`: that signal instead of the container's StopSignal (Docker >= 22; a
    /// 20.10 daemon ignores the flag).
    pub fn stop_with(&self, id: &str, timeout: Option<i64>, signal: Option<&str>) -> Result<()> {
        let forced = signal.map(parse_signal).transpose()?;
        // A container that died with its monitor is settled, not restarted only to be stopped.
        let (id, _) = self.record_settled(id)?;
        let rec = record::update(&self.paths, &id, |r| {
            if r.effective_status() == ContainerStatus::Running
                || r.effective_status() == ContainerStatus::Paused
                || r.effective_status() == ContainerStatus::Restarting
            {
                r.has_been_manually_stopped = true;
            }
            Ok(r.clone())
        })?;
        if !rec.monitor_alive() {
            return Ok(());
        }
        let sig = match forced {
            Some(s) => s,
            None => parse_signal(rec.config.stop_signal.as_deref().unwrap_or("SIGTERM"))?,
        };
        let t = timeout.or(rec.config.stop_timeout).unwrap_or(10);
        if rec.state.status == ContainerStatus::Paused {
            let rt = runtime::state::StateRoot::new(self.paths.runtime_root());
            if let Ok(c) = runtime::Container::load(&rt, &id) {
                let _ = c.resume();
            }
        }
        // Docker's events: kill (signal=N) for each signal sent, then stop.
        let kill_event = |s: i32| {
            events::container_event_of(
                &self.paths.root,
                &id,
                Some(&rec),
                "kill",
                &[("signal", s.to_string())],
            )
        };
        let stopped = || {
            events::container_event_of(&self.paths.root, &id, Some(&rec), "stop", &[]);
            Ok(())
        };
        let mpid = rec.monitor_pid as i32;
        if t != 0 {
            if self.signal_init(&rec, sig).is_ok() {
                kill_event(sig);
            }
            let ms = if t < 0 { -1 } else { (t * 1000) as i32 };
            if monitor::wait_pid_exit(mpid, ms) {
                return stopped();
            }
        }
        if self.signal_init(&rec, libc::SIGKILL).is_ok() {
            kill_event(libc::SIGKILL);
        }
        monitor::wait_pid_exit(mpid, -1);
        stopped()
    }
}
