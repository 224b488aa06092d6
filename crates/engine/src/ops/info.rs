//! `info`'s container counts.

use crate::types::ContainerStatus;
use crate::{Engine, Info, Result};

impl Engine {
    pub fn info(&self) -> Result<Info> {
        let mut i = Info::default();
        for r in self.all_records() {
            i.containers += 1;
            match r.effective_status() {
                ContainerStatus::Running | ContainerStatus::Restarting => i.running += 1,
                ContainerStatus::Paused => i.paused += 1,
                _ => i.stopped += 1,
            }
        }
        Ok(i)
    }
}
