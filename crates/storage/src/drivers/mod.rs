//! Graph drivers: where a layer's files live and how a staging copy is made and committed.
//!
//! Staging: every new layer is built in `<layers dir>/.tmp-<rand>/` (flocked by its builder while
//! alive) and renamed into place under the store lock; a crashed builder leaves only that dir,
//! which the next `Store::open` removes (its flock is free).

pub mod btrfs;
pub mod overlay2;

use crate::fsutil;
use crate::unpack::WhiteoutMode;
use crate::{Error, Result};
use rustix::fs::{flock, FlockOperation};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Overlay2,
    Vfs,
    Btrfs,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Overlay2 => "overlay2",
            Kind::Vfs => "vfs",
            Kind::Btrfs => "btrfs",
        }
    }
    pub fn parse(s: &str) -> Result<Kind> {
        match s {
            "overlay2" | "overlay" => Ok(Kind::Overlay2),
            "vfs" => Ok(Kind::Vfs),
            "btrfs" => Ok(Kind::Btrfs),
            other => Err(Error::DriverUnsupported(format!(
                "{other:?} (berth supports overlay2, vfs and btrfs; aufs, devicemapper and zfs are not available)"
            ))),
        }
    }
}

#[derive(Clone)]
pub struct Driver {
    pub kind: Kind,
    /// `<root>/<driver name>`
    pub home: PathBuf,
}

pub struct Staging {
    pub dir: PathBuf,
    /// Where the layer content goes (overlay: `diff`, vfs/btrfs: `rootfs`).
    pub root: PathBuf,
    pub split: PathBuf,
    _lock: OwnedFd,
}

impl Driver {
    pub fn layers_dir(&self) -> PathBuf {
        match self.kind {
            Kind::Overlay2 => self.home.clone(),
            Kind::Vfs => self.home.join("dir"),
            Kind::Btrfs => self.home.join("subvolumes"),
        }
    }

    /// The directory holding the layer's own files (overlay) or its full rootfs (vfs/btrfs).
    pub fn layer_root(&self, cache_id: &str) -> PathBuf {
        match self.kind {
            Kind::Overlay2 => self.home.join(cache_id).join("diff"),
            _ => self.layers_dir().join(cache_id),
        }
    }

    pub fn whiteout_mode(&self) -> WhiteoutMode {
        match self.kind {
            Kind::Overlay2 => WhiteoutMode::Overlay,
            _ => WhiteoutMode::Delete,
        }
    }

    pub fn init(&self) -> Result<()> {
        std::fs::create_dir_all(self.layers_dir())?;
        // ext4 without a journal passes over every inode freed in the last minutes when it
        // allocates one: unpacking thousands of files into the block group an `rmi` just
        // emptied gets quadratically slow (seconds). The TOPDIR hint (like /home's) makes it
        // place each new layer dir, and so its files, in a fresh block group instead.
        fsutil::set_topdir(&self.layers_dir());
        if self.kind == Kind::Overlay2 {
            std::fs::create_dir_all(self.home.join("l"))?;
        }
        Ok(())
    }

    /// Creates a staging layer on top of `parent` (a cache id).
    pub fn stage(&self, parent: Option<&str>) -> Result<Staging> {
        // Born locked: made and flocked under another name, then renamed, so a sweeper never
        // sees an unlocked `.tmp-` dir that is still in use.
        let rand = crate::random_hex(16);
        let dir = self.layers_dir().join(format!(".tmp-{rand}"));
        let newborn = self.layers_dir().join(format!(".new-{rand}"));
        std::fs::create_dir(&newborn)?;
        let lock = fsutil::open_dir(&newborn)?;
        flock(&lock, FlockOperation::LockExclusive)?;
        std::fs::rename(&newborn, &dir)?;
        let st = Staging {
            root: self.content_dir(&dir),
            split: dir.join("tar-split"),
            dir,
            _lock: lock,
        };
        let res = (|| -> Result<()> {
            match self.kind {
                Kind::Overlay2 => {
                    std::fs::create_dir(&st.root)?;
                    std::fs::create_dir(st.dir.join("work"))?;
                }
                Kind::Vfs => match parent {
                    Some(p) => fsutil::copy_tree(&self.layer_root(p), &st.root)?,
                    None => std::fs::create_dir(&st.root)?,
                },
                Kind::Btrfs => match parent {
                    Some(p) => btrfs::snapshot(&self.layer_root(p), &st.root)?,
                    None => btrfs::subvol_create(&st.root)?,
                },
            }
            Ok(())
        })();
        if let Err(e) = res {
            self.discard(st);
            return Err(e);
        }
        Ok(st)
    }

    fn content_dir(&self, staging: &Path) -> PathBuf {
        match self.kind {
            Kind::Overlay2 => staging.join("diff"),
            _ => staging.join("rootfs"),
        }
    }

    /// Moves a staging layer into place as `cache_id`. Call with the store lock held.
    /// `lower` is the overlay `lower` file content of the parent chain (None for a base layer).
    pub fn commit(&self, st: Staging, cache_id: &str, lower: Option<String>) -> Result<()> {
        let dst = self.layers_dir().join(cache_id);
        match self.kind {
            Kind::Overlay2 => {
                let link = overlay2::new_link_id();
                std::fs::write(st.dir.join("link"), &link)?;
                if let Some(l) = lower {
                    std::fs::write(st.dir.join("lower"), l)?;
                }
                let _ = std::fs::remove_file(&st.split);
                std::fs::rename(&st.dir, &dst)?;
                std::os::unix::fs::symlink(
                    format!("../{cache_id}/diff"),
                    self.home.join("l").join(&link),
                )?;
            }
            _ => {
                std::fs::rename(&st.root, &dst)?;
                let _ = fsutil::remove_path(&st.dir);
            }
        }
        Ok(())
    }

    pub fn discard(&self, st: Staging) {
        if self.kind == Kind::Btrfs && st.root.exists() {
            let _ = btrfs::subvol_delete(&st.root);
        }
        let _ = fsutil::remove_path(&st.dir);
    }

    /// Removes a committed layer (image or container layer).
    pub fn remove(&self, cache_id: &str) -> Result<()> {
        let dir = self.layers_dir().join(cache_id);
        match self.kind {
            Kind::Overlay2 => {
                if let Ok(link) = std::fs::read_to_string(dir.join("link")) {
                    let link = link.trim();
                    if !link.is_empty() && !link.contains('/') {
                        let _ = std::fs::remove_file(self.home.join("l").join(link));
                    }
                }
            }
            Kind::Btrfs => {
                if dir.exists() && btrfs::subvol_delete(&dir).is_ok() {
                    return Ok(());
                }
            }
            Kind::Vfs => {}
        }
        if self.bury(&dir, cache_id).is_ok() {
            return Ok(());
        }
        fsutil::remove_path(&dir)?;
        Ok(())
    }

    /// Where removed layers' empty directory trees wait (see [`Driver::bury`]).
    fn tombstones(&self) -> PathBuf {
        let root = self.home.parent().unwrap_or(Path::new("/"));
        root.join("image").join(self.kind.name()).join("tombstones")
    }

    /// Removes a layer's files but keeps its (empty) directories for a while, moved aside.
    ///
    /// Why: ext4 without a journal skips inodes freed in the last minutes when it allocates
    /// new ones, one by one (quadratic: seconds for a layer of thousands of files). And for a
    /// new top-level directory it picks the block group with the fewest directories — which,
    /// right after `rmi`, is the group the removed layer just emptied. Keeping the directories
    /// keeps that group as full as it was, so the next layer goes elsewhere. They are removed
    /// by a later `remove` or store open once that window (at most 300 s) has passed.
    fn bury(&self, dir: &Path, cache_id: &str) -> std::io::Result<()> {
        let fd = fsutil::open_dir(dir)?;
        fsutil::remove_files(std::os::fd::AsFd::as_fd(&fd))?;
        let graves = self.tombstones();
        std::fs::create_dir_all(&graves)?;
        let now = crate::unix_now();
        std::fs::rename(dir, graves.join(format!("{now}-{cache_id}")))?;
        self.purge_tombstones(now);
        Ok(())
    }

    /// Removes tombstones older than ten minutes.
    pub fn purge_tombstones(&self, now: u64) {
        let Ok(rd) = std::fs::read_dir(self.tombstones()) else {
            return;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let born = name
                .split_once('-')
                .and_then(|(t, _)| t.parse::<u64>().ok())
                .unwrap_or(0);
            if born + 600 <= now || born > now + 60 {
                let _ = fsutil::remove_path(&e.path());
            }
        }
    }

    /// Removes staging dirs whose builder died (their flock is free). Call with the store lock held.
    pub fn sweep_staging(&self) {
        let Ok(rd) = std::fs::read_dir(self.layers_dir()) else {
            return;
        };
        for e in rd.flatten() {
            if !e.file_name().to_string_lossy().starts_with(".tmp-") {
                continue;
            }
            let Ok(fd) = fsutil::open_dir(&e.path()) else {
                continue;
            };
            if flock(&fd, FlockOperation::NonBlockingLockExclusive).is_ok() {
                let root = self.content_dir(&e.path());
                if self.kind == Kind::Btrfs && root.exists() {
                    let _ = btrfs::subvol_delete(&root);
                }
                let _ = fsutil::remove_path(&e.path());
            }
        }
    }

    /// Removes committed layer dirs no metadata refers to (a crash between the rename of the layer
    /// dir and the rename of its layerdb entry). Call with the store lock held.
    pub fn sweep_orphans(&self, referenced: &std::collections::HashSet<String>) {
        let Ok(rd) = std::fs::read_dir(self.layers_dir()) else {
            return;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || name == "l" || referenced.contains(&name) {
                continue;
            }
            let _ = self.remove(&name);
        }
        if self.kind == Kind::Overlay2 {
            // Dangling short links.
            if let Ok(rd) = std::fs::read_dir(self.home.join("l")) {
                for e in rd.flatten() {
                    if std::fs::metadata(e.path()).is_err() {
                        let _ = std::fs::remove_file(e.path());
                    }
                }
            }
        }
    }
}
