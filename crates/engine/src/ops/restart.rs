//! `restart`.

use crate::{events, monitor, record, Engine, Result};

impl Engine {
    pub fn restart(&self, id: &str, timeout: Option<i64>) -> Result<()> {
        self.restart_with(id, timeout, None)
    }

    /// `restart -s SIG`.
    pub fn restart_with(&self, id: &str, timeout: Option<i64>, signal: Option<&str>) -> Result<()> {
        self.stop_with(id, timeout, signal)?;
        let (id, _) = self.record(id)?;
        // The monitor may still be finishing its records: wait for it.
        let rec = record::load(&self.paths, &id)?;
        if rec.monitor_alive() {
            monitor::wait_pid_exit(rec.monitor_pid as i32, -1);
        }
        self.start(&id)?;
        events::container_event(&self.paths.root, &id, "restart");
        Ok(())
    }
}
