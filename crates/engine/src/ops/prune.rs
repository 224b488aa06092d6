//! `container prune`.

use crate::status::parse_time;
use crate::types::ContainerStatus;
use crate::{types, Engine, PruneReport, RemoveOptions, Result};

impl Engine {
    /// `container prune`: removes the stopped containers `select` accepts, given their labels
    /// and creation time (unix seconds).
    pub fn prune(&self, select: &dyn Fn(&types::Map<String>, i64) -> bool) -> Result<PruneReport> {
        let mut rep = PruneReport::default();
        for r in self.all_records() {
            if matches!(
                r.effective_status(),
                ContainerStatus::Running | ContainerStatus::Paused | ContainerStatus::Restarting
            ) {
                continue;
            }
            let created = parse_time(&r.created).map_or(0, |t| t.timestamp());
            if !select(&r.config.labels, created) {
                continue;
            }
            let size = self
                .images()
                .ok()
                .and_then(|i| i.layers().container_size(&r.id).ok())
                .unwrap_or(0);
            if self.remove(&r.id, &RemoveOptions::default()).is_ok() {
                rep.containers_deleted.push(r.id.clone());
                rep.space_reclaimed += size;
            }
        }
        Ok(rep)
    }
}
