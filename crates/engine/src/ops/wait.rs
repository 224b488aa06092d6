//! `wait`.

use crate::types::ContainerStatus;
use crate::{monitor, record, Engine, Result, WaitCondition, WaitResult};

impl Engine {
    pub fn wait(&self, id: &str, cond: WaitCondition) -> Result<WaitResult> {
        let (id, rec) = self.record(id)?;
        let running = matches!(
            rec.effective_status(),
            ContainerStatus::Running | ContainerStatus::Paused | ContainerStatus::Restarting
        );
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
}
