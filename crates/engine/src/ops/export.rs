//! `export`.

use crate::types::ContainerStatus;
use crate::{commit, events, record, Engine, Result};
use std::io::Write;

impl Engine {
    /// The container's whole filesystem as a tar.
    pub fn export(&self, id: &str, w: &mut dyn Write) -> Result<()> {
        let (id, _) = self.record(id)?;
        let st = self.images()?.layers();
        let _l = record::lock(&self.paths.dir(&id), &id)?;
        let rec = record::load(&self.paths, &id)?;
        let mounted_by_us = !matches!(
            rec.effective_status(),
            ContainerStatus::Running | ContainerStatus::Paused
        );
        let merged = st.mount(&id)?;
        let res = commit::tar_dir(&merged, w);
        if mounted_by_us {
            let _ = st.unmount(&id);
        }
        res?;
        events::container_event(&self.paths.root, &id, "export");
        Ok(())
    }
}
