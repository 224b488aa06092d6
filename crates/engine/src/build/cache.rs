//! The build cache index: `<root>/builder/cache/<key>` holds the ID of the image a step made.
//! An entry whose image is gone is a miss. `builder prune` empties the index and removes the
//! untagged images only the cache kept.

use super::stage::State;
use super::Shared;
use crate::{Engine, Result};
use std::path::PathBuf;

fn dir(e: &Engine) -> PathBuf {
    e.paths.root.join("builder").join("cache")
}

/// The key of a step: its parent image, its text after expansion, the build args in scope
/// and `extra` (the content digest of COPY/ADD sources, RUN's mounts).
pub(crate) fn key(st: &State, text: &str, extra: &[&[u8]]) -> String {
    let args: Vec<String> = st.args.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let args = args.join("\n");
    let mut parts: Vec<&[u8]> = vec![st.image.as_bytes(), text.as_bytes(), args.as_bytes()];
    parts.extend_from_slice(extra);
    build::stages::cache_key(&parts)
}

/// The image a step made before: from the index, else (`--cache-from`) an image in the
/// ancestry of a cache-from image that is a child of the current one made by the same
/// instruction. COPY/ADD never hit through `--cache-from`: history does not record the
/// content of their sources.
pub(crate) fn lookup(sh: &Shared, st: &State, key: &str, created_by: &str) -> Option<String> {
    if sh.req.no_cache {
        return None;
    }
    let store = sh.engine.images().ok()?;
    if let Ok(id) = std::fs::read_to_string(dir(sh.engine).join(key)) {
        let id = id.trim().to_string();
        if store.exists(&id) {
            return Some(id);
        }
    }
    if created_by.starts_with("COPY ") || created_by.starts_with("ADD ") {
        return None;
    }
    for cf in &sh.cache_from {
        let mut cur = Some(cf.clone());
        while let Some(id) = cur {
            let img = store.get(&id).ok()?;
            if img.parent.as_deref() == Some(st.image.as_str())
                && img
                    .config
                    .history
                    .last()
                    .is_some_and(|h| h.created_by == created_by)
            {
                return Some(id);
            }
            cur = img.parent.clone();
        }
    }
    None
}

pub(crate) fn store(sh: &Shared, key: &str, id: &str) {
    let d = dir(sh.engine);
    if std::fs::create_dir_all(&d).is_ok() {
        // A lost entry only costs a rebuild of that step.
        let _ = storage::fsutil::write_atomic(&d.join(key), id.as_bytes());
    }
}

/// `builder prune`: forgets every cache entry and removes the untagged images that were
/// only kept as cache (intermediate step images no tagged image or container uses).
/// Returns the number of entries removed and the bytes reclaimed.
pub fn prune(e: &Engine) -> Result<(usize, u64)> {
    let d = dir(e);
    let mut ids = Vec::new();
    if let Ok(rd) = std::fs::read_dir(&d) {
        for ent in rd.flatten() {
            if let Ok(id) = std::fs::read_to_string(ent.path()) {
                ids.push(id.trim().to_string());
            }
            let _ = std::fs::remove_file(ent.path());
        }
    }
    let n = ids.len();
    let store = e.images()?;
    let used: std::collections::HashSet<String> = e
        .list(&crate::ListOptions {
            all: true,
            ..Default::default()
        })?
        .into_iter()
        .map(|c| c.image_id)
        .collect();
    let is_used = |id: &str| used.contains(id);
    let (_, reclaimed) = store.prune_matching(false, &is_used, &|img| ids.contains(&img.id))?;
    Ok((n, reclaimed))
}
