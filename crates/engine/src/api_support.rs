//! What a long-lived front end (the API server) needs beyond the CLI's operations: the pid
//! of the monitor it forked, so it can reap it.

use crate::{record, Engine};

impl Engine {
    /// The pid of the container's monitor while it is alive (a child of this process when
    /// this process started the container).
    pub fn monitor_pid(&self, id: &str) -> Option<i32> {
        let id = self.resolve(id).ok()?;
        let r = record::load(&self.paths, &id).ok()?;
        (r.monitor_pid > 0 && r.monitor_alive()).then_some(r.monitor_pid as i32)
    }
}
