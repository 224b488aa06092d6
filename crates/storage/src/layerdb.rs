//! `image/<driver>/layerdb`: Docker's files per chain ID (`diff`, `cache-id`, `size`, `parent`)
//! plus berth's `refs` (persisted reference count) and `berth-tar-split`; container mounts in
//! `mounts/<id>/{mount-id,init-id,parent}` like Docker.
//!
//! `refs` counts the holders that come and go rarely: images (one per top layer) and child
//! layers. Containers do not write it: their `mounts/<id>/parent` files are the record of their
//! use, read only when a count is about to drop to zero (`rmi`). An empty `refs` file means zero
//! references; such a layer survives only while a container still names it, and that
//! container's removal collects it. Mounts created by berth before this scheme also hold a
//! counted reference; they are marked with [`LEGACY_REF`] (see `Store::open`).

use crate::fsutil::write_atomic;
use crate::{Error, Layer, Result};
use std::path::{Path, PathBuf};

pub const TAR_SPLIT: &str = "berth-tar-split";

/// In `mounts/<id>/`: this container holds one counted reference in its parent's `refs` (made
/// by a berth from before containers stopped writing `refs`); its removal releases it.
pub const LEGACY_REF: &str = "berth-counted-ref";

pub struct LayerDb {
    pub dir: PathBuf,
}

pub fn hex_of(chain_id: &str) -> Result<&str> {
    match chain_id.strip_prefix("sha256:") {
        Some(h)
            if h.len() == 64
                && h.bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) =>
        {
            Ok(h)
        }
        _ => Err(Error::LayerNotFound(format!(
            "{chain_id} (not a sha256:<64 hex> chain ID)"
        ))),
    }
}

fn read(p: &Path) -> Result<String> {
    Ok(std::fs::read_to_string(p)?.trim().to_string())
}

impl LayerDb {
    pub fn entry(&self, chain_id: &str) -> Result<PathBuf> {
        Ok(self.dir.join("sha256").join(hex_of(chain_id)?))
    }

    pub fn get(&self, chain_id: &str) -> Result<Layer> {
        let d = self.entry(chain_id)?;
        if !d.is_dir() {
            return Err(Error::LayerNotFound(chain_id.to_string()));
        }
        let parent = match read(&d.join("parent")) {
            Ok(p) if !p.is_empty() => Some(p),
            _ => None,
        };
        Ok(Layer {
            chain_id: chain_id.to_string(),
            diff_id: read(&d.join("diff"))?,
            parent,
            cache_id: read(&d.join("cache-id"))?,
            size: read(&d.join("size"))?.parse().unwrap_or(0),
        })
    }

    /// Just the layer's size (one file read; listings ask it of every layer of every image).
    pub fn size(&self, chain_id: &str) -> Result<u64> {
        match read(&self.entry(chain_id)?.join("size")) {
            Ok(s) => Ok(s.parse().unwrap_or(0)),
            Err(_) => Err(Error::LayerNotFound(chain_id.to_string())),
        }
    }

    pub fn refs(&self, chain_id: &str) -> Result<u64> {
        Ok(read(&self.entry(chain_id)?.join("refs"))
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0))
    }

    /// Zero is written as an empty file, so [`LayerDb::refs_zero`] needs one stat.
    pub fn set_refs(&self, chain_id: &str, n: u64) -> Result<()> {
        let text = if n == 0 { String::new() } else { n.to_string() };
        Ok(write_atomic(
            &self.entry(chain_id)?.join("refs"),
            text.as_bytes(),
        )?)
    }

    /// Whether the layer's count was released to zero (an empty `refs` file) while containers
    /// still used it. A layer without the file (another tool's) is never collected this way.
    pub fn refs_zero(&self, chain_id: &str) -> Result<bool> {
        match std::fs::metadata(self.entry(chain_id)?.join("refs")) {
            Ok(m) => Ok(m.len() == 0),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// The layer's driver directory name (a cheaper [`LayerDb::get`] for the hot path).
    pub fn cache_id(&self, chain_id: &str) -> Result<String> {
        match crate::fsutil::read_small(&self.entry(chain_id)?.join("cache-id")) {
            Ok(c) if !c.trim().is_empty() => Ok(c.trim().to_string()),
            Ok(_) => Err(Error::LayerNotFound(chain_id.to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(Error::LayerNotFound(chain_id.to_string()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Prepares a new entry in a temp dir; [`LayerDb::publish`] renames it into place.
    pub fn stage(&self, l: &Layer, split: &Path) -> Result<PathBuf> {
        let tmp = self
            .dir
            .join("sha256")
            .join(format!(".tmp-{}", crate::random_hex(8)));
        std::fs::create_dir_all(&tmp)?;
        std::fs::write(tmp.join("diff"), &l.diff_id)?;
        std::fs::write(tmp.join("cache-id"), &l.cache_id)?;
        std::fs::write(tmp.join("size"), l.size.to_string())?;
        if let Some(p) = &l.parent {
            std::fs::write(tmp.join("parent"), p)?;
        }
        std::fs::write(tmp.join("refs"), "1")?;
        if split.exists() {
            std::fs::rename(split, tmp.join(TAR_SPLIT))?;
        }
        Ok(tmp)
    }

    pub fn publish(&self, tmp: &Path, chain_id: &str) -> Result<()> {
        std::fs::rename(tmp, self.entry(chain_id)?)?;
        Ok(())
    }

    pub fn remove(&self, chain_id: &str) -> Result<()> {
        let d = self.entry(chain_id)?;
        let tmp = self
            .dir
            .join("sha256")
            .join(format!(".tmp-del-{}", crate::random_hex(8)));
        std::fs::rename(&d, &tmp)?;
        std::fs::remove_dir_all(&tmp)?;
        Ok(())
    }

    pub fn list(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.dir.join("sha256"))
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| !n.starts_with('.'))
                    .map(|n| format!("sha256:{n}"))
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Removes half-written entries (only ever present after a crash; call with the lock held).
    pub fn sweep(&self) {
        for sub in ["sha256", "mounts"] {
            if let Ok(rd) = std::fs::read_dir(self.dir.join(sub)) {
                for e in rd.flatten() {
                    if e.file_name().to_string_lossy().starts_with(".tmp-") {
                        let _ = std::fs::remove_dir_all(e.path());
                    }
                }
            }
        }
    }

    pub fn mount_dir(&self, id: &str) -> PathBuf {
        self.dir.join("mounts").join(id)
    }

    /// Container mounts: (id, parent chain) pairs.
    pub fn mounts(&self) -> Vec<(String, Option<String>)> {
        std::fs::read_dir(self.dir.join("mounts"))
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| !n.starts_with('.'))
                    .map(|n| {
                        let p = read(&self.mount_dir(&n).join("parent"))
                            .ok()
                            .filter(|p| !p.is_empty());
                        (n, p)
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The parent chain recorded for container `id`; NotFound if there is no such mount.
    pub fn mount_parent(&self, id: &str) -> std::io::Result<Option<String>> {
        let p = crate::fsutil::read_small(&self.mount_dir(id).join("parent"))?;
        Ok(Some(p.trim().to_string()).filter(|p| !p.is_empty()))
    }

    /// Containers whose parent is `chain_id`: (id, holds a legacy counted reference).
    /// Whether some layer entry names `chain_id` as its parent. A layer with children is never
    /// deleted, whatever its count says: a process killed between stacking a layer on a parent
    /// (which hands the caller's reference on the parent to the child) and journaling that
    /// leaves a journal that still claims the parent, and its recovery must not pull the
    /// parent out from under the child. Reads every entry's `parent`: only asked when a count
    /// reaches zero.
    pub fn has_children(&self, chain_id: &str) -> bool {
        self.list().iter().any(|c| {
            self.entry(c)
                .ok()
                .and_then(|d| read(&d.join("parent")).ok())
                .is_some_and(|p| p == chain_id)
        })
    }

    pub fn mount_users(&self, chain_id: &str) -> Vec<(String, bool)> {
        self.mounts()
            .into_iter()
            .filter(|(_, p)| p.as_deref() == Some(chain_id))
            .map(|(id, _)| {
                let legacy = self.mount_dir(&id).join(LEGACY_REF).exists();
                (id, legacy)
            })
            .collect()
    }

    /// Marks every existing mount as holding a counted reference (the layout migration; see
    /// [`LEGACY_REF`]). Idempotent; call with the store lock held.
    pub fn mark_legacy_mounts(&self) -> Result<()> {
        for (id, _) in self.mounts() {
            std::fs::write(self.mount_dir(&id).join(LEGACY_REF), b"")?;
        }
        Ok(())
    }

    /// Removes container `id`'s entry; returns whether it held a legacy counted reference.
    /// `parent` goes last: until then a retry after a crash still finds the entry, and the
    /// legacy mark goes before the caller releases the reference, so that happens at most once
    /// (a crash in between leaks one count: the layer outlives its last user, never the reverse).
    /// The emptied dir is moved into `graves` (freeing its block would cost a discard on the
    /// hot path; the tombstone purge frees it later).
    pub fn remove_mount(&self, id: &str, graves: &Path) -> Result<bool> {
        let d = self.mount_dir(id);
        let gone = |r: std::io::Result<()>| match r {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        };
        gone(std::fs::remove_file(d.join("mount-id")))?;
        gone(std::fs::remove_file(d.join("init-id")))?;
        let legacy = gone(std::fs::remove_file(d.join(LEGACY_REF)))?;
        gone(std::fs::remove_file(d.join("parent")))?;
        let grave = graves.join(format!("{}-mount-{id}", crate::unix_now()));
        if std::fs::rename(&d, grave).is_ok() {
            return Ok(legacy);
        }
        match std::fs::remove_dir(&d) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            // Something else in there (another tool's file): remove it all.
            Err(_) => std::fs::remove_dir_all(&d)?,
        }
        Ok(legacy)
    }

    pub fn write_mount(&self, id: &str, parent: Option<&str>) -> Result<()> {
        let tmp = self
            .dir
            .join("mounts")
            .join(format!(".tmp-{}", crate::random_hex(8)));
        std::fs::create_dir(&tmp)?;
        let res = (|| -> std::io::Result<()> {
            std::fs::write(tmp.join("mount-id"), id)?;
            std::fs::write(tmp.join("init-id"), format!("{id}-init"))?;
            std::fs::write(tmp.join("parent"), parent.unwrap_or(""))?;
            std::fs::rename(&tmp, self.mount_dir(id))
        })();
        if let Err(e) = res {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e.into());
        }
        Ok(())
    }
}
