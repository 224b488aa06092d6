//! `rmi` and `image prune` (Docker's `DELETE /images/NAME`, `POST /images/prune`); whether a
//! container uses an image is the engine's to decide, from its records.

use crate::images::{ImageDeleteItem, ImagePruneReport};
use crate::types::ContainerStatus;
use crate::{record, Engine, Result};
use std::collections::BTreeMap;

fn item(d: image::DeleteItem) -> ImageDeleteItem {
    match d {
        image::DeleteItem::Untagged(r) => ImageDeleteItem::Untagged(r),
        image::DeleteItem::Deleted(d) => ImageDeleteItem::Deleted(d),
    }
}

impl Engine {
    /// Whether a container (in any state) uses image `id` (`sha256:...`).
    pub fn image_in_use(&self, id: &str) -> bool {
        let Ok(rd) = std::fs::read_dir(self.paths.containers()) else {
            return false;
        };
        // Only record dirs (named by a 64-hex id): a removed container's dir is renamed to
        // `.removed-<id>` before the removal replies and deleted after it; it holds no image.
        rd.flatten().any(|e| {
            let n = e.file_name();
            let Some(n) = n.to_str() else { return false };
            n.len() == 64
                && n.bytes().all(|b| b.is_ascii_hexdigit())
                && record::load(&self.paths, n).is_ok_and(|r| r.image == id)
        })
    }

    /// Whether a running (or paused/restarting) container uses image `id`.
    fn image_in_use_running(&self, id: &str) -> bool {
        let Ok(rd) = std::fs::read_dir(self.paths.containers()) else {
            return false;
        };
        rd.flatten().any(|e| {
            let n = e.file_name();
            let Some(n) = n.to_str() else { return false };
            n.len() == 64
                && n.bytes().all(|b| b.is_ascii_hexdigit())
                && record::load(&self.paths, n).is_ok_and(|r| {
                    r.image == id
                        && matches!(
                            r.effective_status(),
                            ContainerStatus::Running
                                | ContainerStatus::Paused
                                | ContainerStatus::Restarting
                        )
                })
        })
    }

    /// `rmi [-f] NAME`: untags and deletes as Docker does, refusing images containers use
    /// unless forced; forced, it deletes an image only stopped containers use (dockerd: they
    /// keep its ID) and only untags one a running container uses.
    pub fn image_remove(&self, name: &str, force: bool) -> Result<Vec<ImageDeleteItem>> {
        let used = |id: &str| self.image_in_use(id);
        let running = |id: &str| self.image_in_use_running(id);
        let items = self.images()?.remove_with(name, force, &used, &running)?;
        Ok(items.into_iter().map(item).collect())
    }

    /// `image prune [-a]`: dangling images (with `all`, every image no container uses) that
    /// `select` accepts, given their labels and creation time (unix seconds).
    pub fn image_prune(
        &self,
        all: bool,
        select: &dyn Fn(&BTreeMap<String, String>, i64) -> bool,
    ) -> Result<ImagePruneReport> {
        let used = |id: &str| self.image_in_use(id);
        let pick = |img: &image::Image| {
            let labels: BTreeMap<String, String> = img
                .config
                .config
                .as_ref()
                .and_then(|c| c.labels.clone())
                .unwrap_or_default()
                .into_iter()
                .collect();
            select(&labels, img.config.created_unix())
        };
        let (items, reclaimed) = self.images()?.prune_matching(all, &used, &pick)?;
        Ok(ImagePruneReport {
            deleted: items.into_iter().map(item).collect(),
            space_reclaimed: reclaimed,
        })
    }
}
