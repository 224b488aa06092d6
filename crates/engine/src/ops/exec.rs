//! `exec` (the process and its relay are crate::exec).

use crate::types::ContainerStatus;
use crate::{exec, Engine, Error, ExecConfig, Result};

impl Engine {
    /// Runs a process in the running container, its stdio relayed to the caller's; returns its exit code
    /// (0 at once with `detach`).
    pub fn exec(&self, id: &str, cfg: &ExecConfig) -> Result<i64> {
        let (id, rec) = self.record(id)?;
        match rec.effective_status() {
            ContainerStatus::Running => {}
            ContainerStatus::Paused => {
                return Err(Error::Conflict(format!(
                    "Container {id} is paused, unpause the container before exec"
                )))
            }
            _ => return Err(Error::Conflict(format!("Container {id} is not running"))),
        }
        exec::run(&self.paths, &id, &rec, cfg)
    }
}
