//! Which registry blob holds which layer, in Docker's files
//! (`image/<driver>/distribution/{v2metadata-by-diffid,diffid-by-digest}/sha256/<hex>`):
//! a push can then HEAD or cross-repository mount a layer instead of compressing it again.
//! A cache only: a lost or stale entry costs an upload, never correctness (blobs are checked
//! by HEAD before they are trusted).

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct V2Metadata {
    #[serde(rename = "Digest")]
    pub digest: String,
    /// Full repository name, `docker.io/library/busybox`, `localhost:5000/x`.
    #[serde(rename = "SourceRepository")]
    pub source_repository: String,
    #[serde(rename = "HMAC", default)]
    pub hmac: String,
}

fn dir(store: &image::ImageStore, kind: &str) -> PathBuf {
    store.base().join("distribution").join(kind).join("sha256")
}

fn hex(d: &str) -> Option<&str> {
    d.strip_prefix("sha256:")
        .filter(|h| image::reference::is_hex64(h))
}

/// Known blobs for a layer, most recent first.
pub fn get(store: &image::ImageStore, diff_id: &str) -> Vec<V2Metadata> {
    let Some(h) = hex(diff_id) else { return vec![] };
    std::fs::read(dir(store, "v2metadata-by-diffid").join(h))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Records that `digest` in `repository` holds layer `diff_id`. Best effort.
pub fn add(store: &image::ImageStore, diff_id: &str, digest: &str, repository: &str) {
    let (Some(dh), Some(bh)) = (hex(diff_id), hex(digest)) else {
        return;
    };
    let mut list = get(store, diff_id);
    list.retain(|m| !(m.digest == digest && m.source_repository == repository));
    list.insert(
        0,
        V2Metadata {
            digest: digest.into(),
            source_repository: repository.into(),
            hmac: String::new(),
        },
    );
    list.truncate(50);
    let _ = write(
        dir(store, "v2metadata-by-diffid").join(dh),
        &serde_json::to_vec(&list).expect("serializable"),
    );
    let _ = write(dir(store, "diffid-by-digest").join(bh), diff_id.as_bytes());
}

fn write(path: PathBuf, data: &[u8]) -> std::io::Result<()> {
    let d = path.parent().expect("has a parent");
    std::fs::create_dir_all(d)?;
    let tmp = d.join(format!(
        ".tmp-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::write(&tmp, data)?;
    std::fs::rename(&tmp, &path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}
