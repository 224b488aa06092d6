//! The storage facts of `info` and `system df`.

use crate::images::StorageInfo;
use crate::{Engine, Result};

/// `system df`'s image line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImageDiskUsage {
    pub total_count: usize,
    /// Images some container uses.
    pub active: usize,
    /// Bytes of all layers (each counted once).
    pub size: u64,
    /// Bytes of the layers of images no container uses.
    pub reclaimable: u64,
}

impl Engine {
    /// The storage driver, its status pairs and the image count.
    pub fn storage_info(&self) -> Result<StorageInfo> {
        let store = self.images()?;
        Ok(StorageInfo {
            driver: store.driver().to_string(),
            driver_status: store.layers().driver_status(),
            images: store.ids()?.len(),
        })
    }

    /// The images' disk usage.
    pub fn image_disk_usage(&self) -> Result<ImageDiskUsage> {
        let store = self.images()?;
        let imgs = store.images()?;
        let mut seen = std::collections::HashSet::new();
        let mut du = ImageDiskUsage {
            total_count: imgs.len(),
            ..Default::default()
        };
        for img in &imgs {
            let used = self.image_in_use(&img.id);
            du.active += used as usize;
            for chain in image::config::chain_ids(img.config.diff_ids()) {
                if seen.insert(chain.clone()) {
                    let s = store.layers().get(&chain).map(|l| l.size).unwrap_or(0);
                    du.size += s;
                    if !used {
                        du.reclaimable += s;
                    }
                }
            }
        }
        Ok(du)
    }
}
