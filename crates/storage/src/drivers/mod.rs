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

/// Beside the tombstones dir: its mtime is the time of the last purge.
const PURGE_STAMP: &str = ".tombstones-purged";
const PURGE_EVERY_SECS: u64 = 15;
/// Tombstones one purge deletes at most (a purge runs off the path anyone waits on, see
/// `Store::purge_tombstones_if_due`, but each deletion's discard goes through the filesystem's
/// journal, which every container start then waits on: small, spread-out purges).
const PURGE_BUDGET: usize = 128;
/// Spare container layer trees kept of each kind (see [`Driver::spares`]).
const SPARES_PER_KIND: usize = 4;

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

/// Deletes the files of a tombstone, keeping its directories (see [`Driver::remove`]).
pub fn strip_files(grave: &Path) -> std::io::Result<()> {
    fsutil::remove_files_owned(fsutil::open_dir(grave)?)
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
        fsutil::mkdir_mode(&self.home, fsutil::LAYERS_MODE)?;
        std::fs::create_dir_all(self.layers_dir())?;
        // ext4 without a journal passes over every inode freed in the last minutes when it
        // allocates one: unpacking thousands of files into the block group an `rmi` just
        // emptied gets quadratically slow (seconds). The TOPDIR hint (like /home's) makes it
        // place each new layer dir, and so its files, in a fresh block group instead.
        fsutil::set_topdir(&self.layers_dir());
        if self.kind == Kind::Overlay2 {
            fsutil::mkdir_mode(&self.home.join("l"), 0o700)?;
        }
        std::fs::create_dir_all(self.tombstones())?;
        Ok(())
    }

    /// Creates a staging layer on top of `parent` (a cache id).
    pub fn stage(&self, parent: Option<&str>) -> Result<Staging> {
        // Born locked: made and flocked under another name, then renamed, so a sweeper never
        // sees an unlocked `.tmp-` dir that is still in use. A sweeper may take a `.new-` dir
        // between its mkdir and our flock (it cannot tell ours from one whose maker was killed
        // right there): then the rename finds it gone and we make another.
        let mut tries = 0;
        let (dir, lock) = loop {
            let rand = crate::random_hex(16);
            let dir = self.layers_dir().join(format!(".tmp-{rand}"));
            let newborn = self.layers_dir().join(format!(".new-{rand}"));
            fsutil::mkdir_one(&newborn, fsutil::LAYERS_MODE)?;
            let lock = fsutil::open_dir(&newborn)?;
            flock(&lock, FlockOperation::LockExclusive)?;
            match std::fs::rename(&newborn, &dir) {
                Ok(()) => break (dir, lock),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && tries < 3 => tries += 1,
                Err(e) => return Err(e.into()),
            }
        };
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
        if let Some(grave) = self.remove_deferred(cache_id)? {
            let _ = strip_files(&grave);
        }
        Ok(())
    }

    /// Like [`Driver::remove`], but a layer moved into the tombstones keeps its files there:
    /// the returned tombstone is for [`strip_files`] once nobody waits (deleting files with
    /// data costs a device discard each on a `discard`-mounted disk, ~80 us measured here).
    /// Left unstripped, the purge deletes it with the rest.
    pub fn remove_deferred(&self, cache_id: &str) -> Result<Option<PathBuf>> {
        let dir = self.layers_dir().join(cache_id);
        match self.kind {
            Kind::Overlay2 => {
                // Container and init layers have no short link (nothing stacks on them).
                if let Ok(link) = fsutil::read_small(&dir.join("link")) {
                    let link = link.trim();
                    if !link.is_empty() && !link.contains('/') {
                        let _ = std::fs::remove_file(self.home.join("l").join(link));
                    }
                }
            }
            Kind::Btrfs => {
                if dir.exists() && btrfs::subvol_delete(&dir).is_ok() {
                    return Ok(None);
                }
            }
            Kind::Vfs => {}
        }
        match self.bury(&dir, cache_id) {
            Ok(grave) => return Ok(Some(grave)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(_) => {}
        }
        fsutil::remove_path(&dir)?;
        Ok(None)
    }

    /// Where removed container layer trees wait, emptied, to be reused by the next container
    /// (overlay2): `rw-<n>` (diff, work, merged) and `init-<n>` (the init layer's fixed tree).
    /// A container start then renames two directories instead of making a dozen, and a
    /// removal deletes only what the container wrote, not the trees: less journal and discard
    /// work for every start that runs meanwhile.
    pub fn spares(&self) -> PathBuf {
        self.meta_dir().join("spares")
    }

    /// Moves a spare of `kind` ("rw" or "init") to `<layers dir>/<name>`; false if none is left
    /// (or `name` is taken). Concurrent takers race on the rename: each spare goes to one.
    pub fn take_spare(&self, kind: &str, name: &str) -> bool {
        if self.kind != Kind::Overlay2 {
            return false;
        }
        let Ok(rd) = std::fs::read_dir(self.spares()) else {
            return false;
        };
        let dst = self.layers_dir().join(name);
        let prefix = format!("{kind}-");
        for e in rd.flatten() {
            if !e.file_name().to_string_lossy().starts_with(&prefix) {
                continue;
            }
            let moved = rustix::fs::renameat_with(
                rustix::fs::CWD,
                e.path(),
                rustix::fs::CWD,
                &dst,
                rustix::fs::RenameFlags::NOREPLACE,
            );
            match moved {
                Ok(()) => return true,
                Err(rustix::io::Errno::EXIST) => return false,
                Err(_) => continue,
            }
        }
        false
    }

    /// Moves a removed container layer aside to be cleaned into a spare (see
    /// [`Driver::spares`]); None when there are spares enough (or it cannot be moved): then it
    /// is buried as before.
    pub fn retire(&self, cache_id: &str, kind: &str) -> Option<PathBuf> {
        if self.kind != Kind::Overlay2 {
            return None;
        }
        let spares = self.spares();
        let n = std::fs::read_dir(&spares).map_or(0, |rd| rd.count());
        if n >= 2 * SPARES_PER_KIND {
            return None;
        }
        let dirty = spares.join(format!(".dirty-{}-{kind}-{cache_id}", crate::unix_now()));
        let src = self.layers_dir().join(cache_id);
        match std::fs::rename(&src, &dirty) {
            Ok(()) => Some(dirty),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && src.exists() => {
                std::fs::create_dir_all(&spares).ok()?;
                std::fs::rename(&src, &dirty).ok().map(|_| dirty)
            }
            Err(_) => None,
        }
    }

    /// Makes a retired layer a spare: an rw layer gets new, empty diff and work directories
    /// (new inodes: should anything still hold the old container's overlay, it keeps writing
    /// into the old, deleted ones, never into the next container's) and the old ones, with
    /// everything the container wrote, are deleted; an init layer is kept as it is (a lower
    /// layer: never written through the overlay). Anything unexpected buries it instead.
    pub fn clean_spare(&self, dirty: &Path, kind: &str) {
        let cleaned = (|| -> std::io::Result<()> {
            if kind == "rw" {
                if std::fs::read_dir(dirty.join("merged"))?.next().is_some() {
                    return Err(std::io::Error::other("merged is not empty"));
                }
                for sub in ["diff", "work"] {
                    let old = dirty.join(sub);
                    let aside = dirty.join(format!(".old-{sub}"));
                    std::fs::rename(&old, &aside)?;
                    let mode = if sub == "diff" { 0o755 } else { 0o700 };
                    fsutil::mkdir_one(&old, mode)?;
                    fsutil::remove_path(&aside)?;
                }
            }
            let spare = self
                .spares()
                .join(format!("{kind}-{}", crate::random_hex(8)));
            std::fs::rename(dirty, spare)
        })();
        if cleaned.is_err() {
            let name = dirty
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if let Ok(g) = self.bury(dirty, &name) {
                let _ = strip_files(&g);
            }
        }
    }

    /// Where removed layers' empty directory trees wait (see [`Driver::bury`]).
    pub fn tombstones(&self) -> PathBuf {
        self.meta_dir().join("tombstones")
    }

    /// `<root>/image/<driver>`: the store's own directories beside imagedb and layerdb.
    fn meta_dir(&self) -> PathBuf {
        let root = self.home.parent().unwrap_or(Path::new("/"));
        root.join("image").join(self.kind.name())
    }

    /// Removes a layer's files but keeps its (empty) directories for a while, moved aside.
    ///
    /// Why: ext4 without a journal skips inodes freed in the last minutes when it allocates
    /// new ones, one by one (quadratic: seconds for a layer of thousands of files). And for a
    /// new top-level directory it picks the block group with the fewest directories — which,
    /// right after `rmi`, is the group the removed layer just emptied. Keeping the directories
    /// keeps that group as full as it was, so the next layer goes elsewhere. They are removed
    /// once that window (at most 300 s) has passed by [`Driver::purge_tombstones_if_due`].
    fn bury(&self, dir: &Path, cache_id: &str) -> std::io::Result<PathBuf> {
        let graves = self.tombstones();
        let grave = graves.join(format!("{}-{cache_id}", crate::unix_now()));
        match std::fs::rename(dir, &grave) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && dir.exists() => {
                std::fs::create_dir_all(&graves)?;
                std::fs::rename(dir, &grave)?;
            }
            r => r?,
        }
        Ok(grave)
    }

    /// A new, empty directory for the layer `name` (a container's), made in the tombstones dir
    /// and moved to `<layers dir>/<name>` by the returned `place` (AlreadyExists if taken).
    ///
    /// Why not mkdir in place: the layers dir is TOPDIR (see [`Driver::init`]), so ext4 puts
    /// each new directory there in a fresh block group, which costs disk reads of that group's
    /// bitmaps (~1.5 reads per mkdir measured here): worth it for an image layer of thousands
    /// of files, not for a container's few. A crash leaves only a dated tombstone.
    #[allow(clippy::type_complexity)]
    pub fn new_layer_dir(
        &self,
        name: &str,
    ) -> std::io::Result<(PathBuf, impl Fn(&Path) -> std::io::Result<()>)> {
        // Random too: a builder killed in the same second left its dir under the same name.
        let tmp = self.tombstones().join(format!(
            "{}-new-{name}-{}",
            crate::unix_now(),
            crate::random_hex(4)
        ));
        fsutil::mkdir_one(&tmp, fsutil::LAYERS_MODE)?;
        let dst = self.layers_dir().join(name);
        let place = move |tmp: &Path| -> std::io::Result<()> {
            rustix::fs::renameat_with(
                rustix::fs::CWD,
                tmp,
                rustix::fs::CWD,
                &dst,
                rustix::fs::RenameFlags::NOREPLACE,
            )
            .map_err(std::io::Error::from)
        };
        Ok((tmp, place))
    }

    /// Purges old tombstones at most every [`PURGE_EVERY_SECS`]: listing hundreds of them on
    /// every removal cost more than the removal itself. The stamp's mtime is the last purge; its
    /// flock makes one purger at a time (monitors of back-to-back `run --rm`s all found the
    /// purge due while the first one was still at it, and fought over the same directories).
    pub fn purge_tombstones_if_due(&self) {
        let stamp = self.tombstones().with_file_name(PURGE_STAMP);
        let Ok(f) = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&stamp)
        else {
            return;
        };
        if flock(&f, FlockOperation::NonBlockingLockExclusive).is_err() {
            return;
        }
        let now = std::time::SystemTime::now();
        let due = match f.metadata().and_then(|m| m.modified()) {
            // A stamp in the future (clock set back) counts as due too. A new stamp is due.
            Ok(t) => {
                f.metadata().is_ok_and(|m| m.len() == 0)
                    || now
                        .duration_since(t)
                        .map_or(true, |d| d.as_secs() >= PURGE_EVERY_SECS)
            }
            Err(_) => true,
        };
        if !due {
            return;
        }
        // One purge deletes a bounded number (each is a few rmdirs, and a discard each here)
        // and stamps even if more are left: a backlog (thousands of `run --rm` in a loop) is
        // worked off a budget per interval, not by every removal (which made each monitor
        // spend seconds in the journal while the next containers started).
        let _ = self.purge_tombstones(crate::unix_now(), PURGE_BUDGET);
        self.purge_dirty_spares(crate::unix_now());
        use std::io::Write;
        let _ = (&f).write_all(b"1");
        let _ = f.set_modified(now);
    }

    /// Removes retired layers whose cleaning never finished (a monitor killed meanwhile).
    fn purge_dirty_spares(&self, now: u64) {
        let Ok(rd) = std::fs::read_dir(self.spares()) else {
            return;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(rest) = name.strip_prefix(".dirty-") else {
                continue;
            };
            let born = rest
                .split_once('-')
                .and_then(|(t, _)| t.parse::<u64>().ok())
                .unwrap_or(0);
            if born + 60 <= now || born > now + 60 {
                let _ = fsutil::remove_path(&e.path());
            }
        }
    }

    /// Removes up to `budget` tombstones older than ten minutes; true if none are left over.
    pub fn purge_tombstones(&self, now: u64, budget: usize) -> bool {
        let Ok(rd) = std::fs::read_dir(self.tombstones()) else {
            return true;
        };
        let mut left = budget;
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let born = name
                .split_once('-')
                .and_then(|(t, _)| t.parse::<u64>().ok())
                .unwrap_or(0);
            if born + 600 <= now || born > now + 60 {
                if left == 0 {
                    return false;
                }
                left -= 1;
                let _ = fsutil::remove_path(&e.path());
            }
        }
        true
    }

    /// Removes staging dirs whose builder died (their flock is free), also `.new-` ones (a
    /// builder killed between their mkdir and its flock; a live one that loses its `.new-`
    /// dir here makes another, see [`Driver::stage`]). Safe without the store lock.
    pub fn sweep_staging(&self) {
        let Ok(rd) = std::fs::read_dir(self.layers_dir()) else {
            return;
        };
        for e in rd.flatten() {
            let n = e.file_name();
            let n = n.to_string_lossy();
            if !(n.starts_with(".tmp-") || n.starts_with(".new-")) {
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
