//! `cp`: stat, copy out, copy in (the path-safe work is crate::cp).

use crate::types::ContainerStatus;
use crate::{cp, record, Engine, PathStat, Result};
use std::io::{Read, Write};

impl Engine {
    fn with_rootfs<T>(&self, id: &str, f: impl FnOnce(&std::path::Path) -> Result<T>) -> Result<T> {
        let (id, _) = self.record(id)?;
        let st = self.images()?.layers();
        let _l = record::lock(&self.paths.dir(&id), &id)?;
        let rec = record::load(&self.paths, &id)?;
        let running = matches!(
            rec.effective_status(),
            ContainerStatus::Running | ContainerStatus::Paused
        );
        let merged = if running {
            st.merged_dir(&id)
        } else {
            st.mount(&id)?
        };
        let res = f(&merged);
        if !running {
            let _ = st.unmount(&id);
        }
        res
    }

    /// `stat` of `path` in the container; `follow` resolves a final symlink (inside the root).
    pub fn stat_path(&self, id: &str, path: &str, follow: bool) -> Result<PathStat> {
        self.with_rootfs(id, |root| cp::stat_in(root, path, follow))
    }

    /// `cp CONTAINER:path -`: a tar of `path` (its last element as the top entry); `follow`
    /// (`-L`) copies what a symlink given as `path` points to in the container.
    pub fn copy_from_container(
        &self,
        id: &str,
        path: &str,
        follow: bool,
        w: &mut dyn Write,
    ) -> Result<PathStat> {
        self.with_rootfs(id, |root| cp::copy_out(root, path, follow, w))
    }

    /// `cp - CONTAINER:path`: extracts the tar stream into the directory `path`.
    pub fn copy_to_container(&self, id: &str, path: &str, tar: &mut dyn Read) -> Result<()> {
        self.with_rootfs(id, |root| cp::copy_in(root, path, tar))
    }
}
