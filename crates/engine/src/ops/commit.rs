//! `commit` (the layer and image are made in crate::commit).

use crate::types::ContainerStatus;
use crate::{commit, commit_pause, events, CommitOptions, Engine, Result};

impl Engine {
    /// Returns the new image ID (`sha256:...`).
    pub fn commit(&self, id: &str, opts: &CommitOptions) -> Result<String> {
        let (id, rec) = self.record(id)?;
        // Owned by this process: if it dies meanwhile, the next command unpauses.
        let paused = opts.pause
            && rec.effective_status() == ContainerStatus::Running
            && commit_pause::pause(&self.paths, &id);
        let res = commit::commit(self, &id, &rec, opts);
        if paused {
            let _ = commit_pause::unpause(&self.paths, &id);
        }
        let img = res?;
        events::container_event_with(
            &self.paths.root,
            &id,
            "commit",
            &[("comment", opts.message.clone())],
        );
        Ok(img)
    }
}
