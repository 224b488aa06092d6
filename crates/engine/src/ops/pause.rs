//! `pause` and `unpause`.

use crate::types::ContainerStatus;
use crate::{events, record, Engine, Error, Result};

impl Engine {
    pub fn pause(&self, id: &str) -> Result<()> {
        let (id, _) = self.record(id)?;
        record::update(&self.paths, &id, |r| {
            match r.effective_status() {
                ContainerStatus::Running => {}
                ContainerStatus::Paused => {
                    return Err(Error::Conflict(format!("Container {id} is already paused")))
                }
                _ => return Err(Error::Conflict(format!("Container {id} is not running"))),
            }
            let rt = runtime::state::StateRoot::new(self.paths.runtime_root());
            runtime::Container::load(&rt, &id)?.pause()?;
            r.state.status = ContainerStatus::Paused;
            r.state.paused = true;
            // The user's: until `unpause` (commit_pause.rs).
            r.pause_owner_pid = 0;
            r.pause_owner_start_time = 0;
            // dockerd 20.10: a paused container reads unhealthy and is not probed (no event);
            // probes go on after unpause.
            crate::health::on_stop(&mut r.state.health);
            Ok(())
        })?;
        events::container_event(&self.paths.root, &id, "pause");
        Ok(())
    }

    pub fn unpause(&self, id: &str) -> Result<()> {
        let (id, _) = self.record(id)?;
        record::update(&self.paths, &id, |r| {
            if r.effective_status() != ContainerStatus::Paused {
                return Err(Error::Conflict(format!("Container {id} is not paused")));
            }
            let rt = runtime::state::StateRoot::new(self.paths.runtime_root());
            runtime::Container::load(&rt, &id)?.resume()?;
            r.state.status = ContainerStatus::Running;
            r.state.paused = false;
            r.pause_owner_pid = 0;
            r.pause_owner_start_time = 0;
            Ok(())
        })?;
        events::container_event(&self.paths.root, &id, "unpause");
        Ok(())
    }
}
