//! `image inspect` (Docker's `GET /images/NAME/json`).

use crate::images::{ImageGraphDriver, ImageInspect, ImageMetadata, ImageRootFs, OverlayData};
use crate::{Engine, Error, Result};
use std::path::Path;

impl Engine {
    /// The inspect object of image `name` (reference or ID); [`Error::NoSuchImage`] when
    /// there is none.
    pub fn image_inspect(&self, name: &str) -> Result<ImageInspect> {
        let store = self.images()?;
        let img = store
            .resolve(name)
            .and_then(|id| store.get(&id))
            .map_err(|e| match e {
                image::Error::NotFound(_) => Error::NoSuchImage(name.to_string()),
                e => e.into(),
            })?;
        let c = &img.config;
        let size = store.size(&img);
        let chains = image::config::chain_ids(c.diff_ids());
        let data = match (store.driver(), chains.last()) {
            ("overlay2", Some(top)) => {
                let dir = |ch: &str| store.layers().layer_dir(ch).ok();
                let upper = dir(top).unwrap_or_default();
                let base = upper.parent().map(Path::to_path_buf).unwrap_or_default();
                let lowers: Vec<String> = chains[..chains.len() - 1]
                    .iter()
                    .rev()
                    .filter_map(|ch| dir(ch))
                    .map(|p| p.display().to_string())
                    .collect();
                Some(OverlayData {
                    lower_dir: (!lowers.is_empty()).then(|| lowers.join(":")),
                    merged_dir: base.join("merged").display().to_string(),
                    upper_dir: upper.display().to_string(),
                    work_dir: base.join("work").display().to_string(),
                })
            }
            _ => None,
        };
        const ZERO_TIME: &str = "0001-01-01T00:00:00Z";
        Ok(ImageInspect {
            id: img.id.clone(),
            repo_tags: img.tags.iter().map(|t| t.familiar_string()).collect(),
            repo_digests: img.digests.iter().map(|t| t.familiar_string()).collect(),
            parent: img.parent.clone().unwrap_or_default(),
            comment: c.comment.clone(),
            created: c.created.clone().unwrap_or_else(|| ZERO_TIME.into()),
            container: c.container.clone(),
            container_config: c.container_config.clone().unwrap_or_default(),
            docker_version: c.docker_version.clone(),
            author: c.author.clone(),
            config: c.config.clone(),
            architecture: c.architecture.clone(),
            variant: c.variant.clone(),
            os: c.os.clone(),
            os_version: c.extra.get("os.version").cloned(),
            size,
            virtual_size: size,
            graph_driver: ImageGraphDriver {
                data,
                name: store.driver().to_string(),
            },
            root_fs: ImageRootFs {
                kind: c
                    .rootfs
                    .as_ref()
                    .map(|r| r.kind.clone())
                    .unwrap_or_else(|| "layers".into()),
                layers: c.diff_ids().to_vec(),
            },
            metadata: ImageMetadata {
                last_tag_time: img
                    .last_tag_time
                    .clone()
                    .unwrap_or_else(|| ZERO_TIME.into()),
            },
        })
    }
}
