//! `images`: the image list (Docker's `GET /images/json`).

use crate::images::{ImageListOptions, ImageSummary, RepoRef};
use crate::{Engine, Result};

/// The display parts of a stored reference.
pub(crate) fn repo_ref(r: &image::Reference) -> RepoRef {
    RepoRef {
        repository: r.familiar_name(),
        name: r.name(),
        tag: r.tag.clone(),
        digest: r.digest.clone(),
        familiar: r.familiar_string(),
    }
}

impl Engine {
    /// The images, newest first; without `all`, intermediate images (untagged parents of
    /// other images) are left out.
    pub fn image_list(&self, opts: &ImageListOptions) -> Result<Vec<ImageSummary>> {
        let store = self.images()?;
        let mut imgs = store.images()?;
        imgs.sort_by_key(|i| std::cmp::Reverse(i.config.created_unix()));
        let parents: std::collections::HashSet<String> =
            imgs.iter().filter_map(|i| i.parent.clone()).collect();
        // How many images hold each layer: a layer of two or more is shared.
        let chains: Vec<Vec<String>> = imgs
            .iter()
            .map(|i| image::config::chain_ids(i.config.diff_ids()))
            .collect();
        let mut holders: std::collections::HashMap<&str, usize> = Default::default();
        if opts.shared_size {
            for l in chains.iter().flatten() {
                *holders.entry(l.as_str()).or_default() += 1;
            }
        }
        let mut out = Vec::new();
        for (img, chain) in imgs.iter().zip(&chains) {
            if !opts.all
                && img.tags.is_empty()
                && img.digests.is_empty()
                && parents.contains(&img.id)
            {
                continue;
            }
            out.push(ImageSummary {
                id: img.id.clone(),
                parent_id: img.parent.clone().unwrap_or_default(),
                tags: img.tags.iter().map(repo_ref).collect(),
                digests: img.digests.iter().map(repo_ref).collect(),
                created: img.config.created_unix(),
                created_at: img.config.created.clone(),
                size: store.size(img),
                shared_size: opts.shared_size.then(|| {
                    chain
                        .iter()
                        .filter(|l| holders.get(l.as_str()).is_some_and(|n| *n > 1))
                        .map(|l| store.layers().get(l).map(|x| x.size).unwrap_or(0))
                        .sum()
                }),
                labels: img
                    .config
                    .config
                    .as_ref()
                    .and_then(|c| c.labels.clone())
                    .unwrap_or_default()
                    .into_iter()
                    .collect(),
                dangling: img.is_dangling(),
            });
        }
        Ok(out)
    }

    /// Whether `name` (reference or ID) names a local image.
    pub fn image_exists(&self, name: &str) -> Result<bool> {
        match self.images()?.resolve(name) {
            Ok(_) => Ok(true),
            Err(image::Error::NotFound(_)) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}

/// Parses `NAME[:TAG][@DIGEST]` as Docker does (errors: "invalid reference format...").
pub fn parse_reference(s: &str) -> Result<RepoRef> {
    Ok(repo_ref(&image::Reference::parse(s)?))
}

/// [`parse_reference`] that also accepts a repository given by its familiar name's prefix
/// forms (`busybox`, `library/busybox`): normalized (for `images REPOSITORY`, `push -a`).
pub fn parse_reference_normalized(s: &str) -> Result<RepoRef> {
    Ok(repo_ref(&image::Reference::parse_normalized(s)?))
}
