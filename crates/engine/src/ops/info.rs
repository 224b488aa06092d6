//! `info`'s container counts.

use crate::{Engine, Info, Result};

impl Engine {
    pub fn info(&self) -> Result<Info> {
        let mut i = Info::default();
        for r in self.all_records() {
            i.containers += 1;
            match r.effective_status() {
                "running" | "restarting" => i.running += 1,
                "paused" => i.paused += 1,
                _ => i.stopped += 1,
            }
        }
        Ok(i)
    }
}
