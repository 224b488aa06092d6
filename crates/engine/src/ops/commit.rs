//! `commit` (the layer and image are made in crate::commit).

use crate::{commit, events, CommitOptions, Engine, Result};

impl Engine {
    /// Returns the new image ID (`sha256:...`).
    pub fn commit(&self, id: &str, opts: &CommitOptions) -> Result<String> {
        let (id, rec) = self.record(id)?;
        let paused = opts.pause && rec.effective_status() == "running";
        if paused {
            let _ = self.pause(&id);
        }
        let res = commit::commit(self, &id, &rec, opts);
        if paused {
            let _ = self.unpause(&id);
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
