//! `image/<driver>/layerdb`: Docker's files per chain ID (`diff`, `cache-id`, `size`, `parent`)
//! plus berth's `refs` (persisted reference count) and `berth-tar-split`; container mounts in
//! `mounts/<id>/{mount-id,init-id,parent}` like Docker.

use crate::fsutil::write_atomic;
use crate::{Error, Layer, Result};
use std::path::{Path, PathBuf};

pub const TAR_SPLIT: &str = "berth-tar-split";

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

    pub fn refs(&self, chain_id: &str) -> Result<u64> {
        Ok(read(&self.entry(chain_id)?.join("refs"))
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0))
    }

    pub fn set_refs(&self, chain_id: &str, n: u64) -> Result<()> {
        Ok(write_atomic(
            &self.entry(chain_id)?.join("refs"),
            n.to_string().as_bytes(),
        )?)
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

    pub fn write_mount(&self, id: &str, parent: Option<&str>) -> Result<()> {
        let tmp = self
            .dir
            .join("mounts")
            .join(format!(".tmp-{}", crate::random_hex(8)));
        std::fs::create_dir_all(&tmp)?;
        std::fs::write(tmp.join("mount-id"), id)?;
        std::fs::write(tmp.join("init-id"), format!("{id}-init"))?;
        std::fs::write(tmp.join("parent"), parent.unwrap_or(""))?;
        std::fs::rename(&tmp, self.mount_dir(id))?;
        Ok(())
    }
}
