//! berth's layer store and graph drivers (overlay2, vfs, btrfs), Docker's on-disk layout.
//!
//! Two halves:
//! - the **layer store** (`layerdb`): read-only image layers by chain ID, reference counted,
//!   registered from (compressed) layer tars and streamed back out as tars with AUFS whiteouts;
//! - the **snapshotter** API for containers: `prepare` an `<id>-init` and an `<id>` layer on top of an
//!   image's top layer, get them back as mount specs, `diff`/`changes` of the writable layer, `remove`.
//!
//! Drivers only return mount specs; whoever runs the container performs the mount.
//!
//! Modules: [`unpack`] (streaming, path-safe tar apply + tar-split), [`diff`] (changes, export),
//! [`drivers`] (overlay2, vfs, btrfs), [`layerdb`] (Docker's metadata files + refcounts).
//!
//! Layout under `--root`: `image/<driver>/layerdb/sha256/<chain>/{diff,cache-id,size,parent,refs,
//! berth-tar-split}`, `image/<driver>/layerdb/mounts/<container>/`, `<driver>/...` (see drivers).
//!
//! Reproducing diff IDs: `register` records a tar-split (every non-content byte of the original
//! uncompressed stream plus, per regular file, its size and path) so `layer_tar` streams the exact
//! original bytes back (same diff ID) without keeping a second copy of the content. A layer whose
//! tar wrote the same path twice would not round-trip (the later content wins); such tars are rare.
//!
//! Concurrency: one flock per store (`image/<driver>/.lock`) around metadata changes; unpacking
//! runs outside it in a flocked staging dir. `register` = [`Store::unpack`] (any thread, no lock;
//! overlay2 needs no registered parent) + [`Store::commit_unpacked`] (in chain order), so load and
//! pull unpack an image's layers concurrently with [`ordered_parallel`].
//!
//! Speed notes: the unpacker keeps the last directory fd open, creates files with their final
//! mode (no chmod where the umask allows, no chown for the caller's own ids), copies contents in
//! 1 MiB writes and fsyncs nothing per layer (like Docker). Removed layers leave their empty
//! directories in `image/<driver>/tombstones` for ten minutes (see `Driver::bury`: ext4 without
//! a journal would otherwise make the next unpack scan the just-freed inodes for every file),
//! purged at most once a minute.
//!
//! The container path (`run --rm`) is kept to a few dozen syscalls: a reopened store costs two
//! stats (`layout-v2` mark, lock file), containers write no refcount (no fsync; see
//! [`layerdb`]), overlay2 container layers are built outside the TOPDIR layers dir (no
//! fresh-block-group reads) and removed by renaming their emptied trees into the tombstones.

pub mod diff;
pub mod drivers;
pub mod fsutil;
pub mod layerdb;
pub mod unpack;

use drivers::{overlay2, Driver, Kind};
use layerdb::LayerDb;
use rustix::fs::{flock, FlockOperation};
use std::collections::HashSet;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

pub type Result<T> = std::result::Result<T, Error>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("layer {0} not found")]
    LayerNotFound(String),
    #[error("invalid layer: {0}")]
    InvalidLayer(String),
    #[error("layer digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch { expected: String, actual: String },
    #[error("storage driver {0} is not supported on this host")]
    DriverUnsupported(String),
    #[error("{0}")]
    Other(String),
}

impl From<rustix::io::Errno> for Error {
    fn from(e: rustix::io::Errno) -> Self {
        Error::Io(e.into())
    }
}

/// A content digest, always in the `sha256:<64 hex>` form.
pub type Digest = String;

/// One read-only image layer, as recorded in `image/<driver>/layerdb/sha256/<chain-id>/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// sha256(parent chain id + " " + diff id), or the diff id for a base layer.
    pub chain_id: Digest,
    /// sha256 of the uncompressed layer tar.
    pub diff_id: Digest,
    pub parent: Option<Digest>,
    /// The driver's directory name for this layer (`overlay2/<cache-id>`).
    pub cache_id: String,
    /// Bytes of file content in this layer alone.
    pub size: u64,
}

/// A mount the caller performs (like containerd's `mount.Mount`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// "overlay", "bind", "btrfs"...
    pub kind: String,
    pub source: String,
    pub target: Option<PathBuf>,
    pub options: Vec<String>,
}

/// One entry of `docker diff`: kind is 'A', 'C' or 'D'.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub kind: char,
    pub path: String,
}

/// Files the engine puts into a container's `-init` layer.
#[derive(Debug, Clone, Default)]
pub struct InitLayerSpec {
    pub hostname: String,
    pub hosts: String,
    pub resolv_conf: String,
}

/// The layer store + graph driver under one `--root`.
pub struct Store {
    root: PathBuf,
    driver: Driver,
    db: LayerDb,
}

/// A layer unpacked by [`Store::unpack`], not in the store yet. Dropping it discards it.
pub struct Unpacked {
    staging: Option<drivers::Staging>,
    applied: unpack::Applied,
    parent: Option<String>,
    driver: Driver,
}

impl Unpacked {
    /// sha256 of the uncompressed tar.
    pub fn diff_id(&self) -> &str {
        &self.applied.diff_id
    }

    /// Bytes of file content.
    pub fn size(&self) -> u64 {
        self.applied.size
    }
}

impl Drop for Unpacked {
    fn drop(&mut self) {
        if let Some(st) = self.staging.take() {
            self.driver.discard(st);
        }
    }
}

/// Runs `work(i)` for `i` in `0..n` on up to `threads` threads, started in index order, and
/// hands each result to `done(i, ..)` on the calling thread in index order. The first error
/// (from `work` or `done`) stops new work, waits for the running jobs, drops their results
/// and is returned. With `threads <= 1` it is a plain loop: `work(i)` runs after `done(i - 1)`
/// (what layers that must be unpacked on a committed parent need).
///
/// Layer pipelines use it as: `work` = [`Store::unpack`], `done` = [`Store::commit_unpacked`].
pub fn ordered_parallel<T: Send, E: Send>(
    n: usize,
    threads: usize,
    work: impl Fn(usize) -> std::result::Result<T, E> + Sync,
    mut done: impl FnMut(usize, T) -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    if threads <= 1 || n <= 1 {
        for i in 0..n {
            done(i, work(i)?)?;
        }
        return Ok(());
    }
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::channel();
        for _ in 0..threads.min(n) {
            let tx = tx.clone();
            let (next, stop, work) = (&next, &stop, &work);
            s.spawn(move || loop {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= n {
                    return;
                }
                let r = work(i);
                let failed = r.is_err();
                // A closed channel: the caller gave up; dropping the result cleans it up.
                if tx.send((i, r)).is_err() || failed {
                    return;
                }
            });
        }
        drop(tx);
        let mut ready = std::collections::BTreeMap::new();
        let res = (|| {
            for want in 0..n {
                let r = loop {
                    if let Some(r) = ready.remove(&want) {
                        break r;
                    }
                    match rx.recv() {
                        Ok((_, Err(e))) => return Err(e),
                        Ok((i, r)) => {
                            ready.insert(i, r);
                        }
                        // Workers only quit early after sending an error: one panicked.
                        Err(_) => panic!("ordered_parallel: a worker thread panicked"),
                    }
                };
                done(want, r?)?;
            }
            Ok(())
        })();
        if res.is_err() {
            stop.store(true, Ordering::SeqCst);
        }
        drop(ready);
        drop(rx);
        res
    })
}

/// Holds the store-wide flock until dropped. While held, the lock file is non-empty: a holder
/// that dies mid-operation leaves it so, and the next [`Store::open`] then sweeps.
struct LockGuard(File);

impl Drop for LockGuard {
    fn drop(&mut self) {
        // The operation finished (or cleaned up after itself): nothing for open to sweep.
        let _ = self.0.set_len(0);
    }
}

pub(crate) fn random_hex(bytes: usize) -> String {
    use rand::RngCore;
    let mut b = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}

fn chain_of(parent: Option<&str>, diff_id: &str) -> String {
    use sha2::{Digest as _, Sha256};
    match parent {
        None => diff_id.to_string(),
        Some(p) => format!(
            "sha256:{}",
            hex::encode(Sha256::digest(format!("{p} {diff_id}")))
        ),
    }
}

fn check_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(Error::Other(format!("invalid container layer id {id:?}")))
    }
}

fn overlay_supported() -> bool {
    // fsopen loads the overlay module if needed. Once per process: the answer does not change.
    static SUPPORTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SUPPORTED.get_or_init(|| {
        rustix::mount::fsopen("overlay", rustix::mount::FsOpenFlags::FSOPEN_CLOEXEC).is_ok()
    })
}

const INIT_DIRS: &[&str] = &["dev/pts", "dev/shm", "proc", "sys", "etc"];

/// In `image/<driver>/`: the store was laid out (directories, driver checks) and migrated to the
/// current layout version (containers hold no counted references, see [`layerdb`]). Its
/// presence lets [`Store::open`] skip all of that: one stat instead of some thirty syscalls.
const LAYOUT_MARK: &str = "layout-v2";

impl Store {
    /// Opens (creating if needed) the store under `root` (`--root`, default /var/lib/berth).
    /// `driver` = None auto-detects (btrfs root -> btrfs, overlay available -> overlay2, else vfs).
    /// Without a flag, a driver already used under `root` is kept.
    pub fn open(root: &Path, driver: Option<&str>) -> Result<Store> {
        let mut prior = None;
        for k in Self::kinds(driver)? {
            // Fast path: a store this version laid out was checked then (its filesystem and
            // driver do not change under it), and all its directories exist.
            if Self::laid_out(root, k) {
                return Self::with_kind(root, k).finish_open();
            }
            if driver.is_none() && Self::has_store(root, k) {
                prior = Some(k);
                break;
            }
        }
        if let Some(d) = driver {
            // A root remembers its driver: another one asked for would lay out a second, empty
            // store beside it, and later commands would silently use one or the other.
            let asked = Kind::parse(d)?;
            let held = [Kind::Overlay2, Kind::Btrfs, Kind::Vfs]
                .into_iter()
                .find(|&k| k != asked && Self::has_store(root, k));
            if let Some(k) = held {
                return Err(Error::Other(format!(
                    "--storage-driver {}: the root {} holds a {} store (its images and containers); use --storage-driver {} or no flag with this root, or another --root",
                    asked.name(),
                    root.display(),
                    k.name(),
                    k.name()
                )));
            }
        }
        Self::lay_out(root, driver, prior)
    }

    /// [`Store::open`] of a store laid out already, which never creates one: for cleanups of
    /// containers (a monitor's work after its reply may run after the root was deleted, and
    /// must not lay out a fresh store there).
    pub fn open_existing(root: &Path, driver: Option<&str>) -> Result<Store> {
        match Self::kinds(driver)?
            .into_iter()
            .find(|&k| Self::laid_out(root, k))
        {
            Some(k) => Self::with_kind(root, k).finish_open(),
            None => Err(Error::Other(format!(
                "no layer store at {}",
                root.display()
            ))),
        }
    }

    /// The drivers to look for under a root: the one asked for, or each in detection order.
    fn kinds(driver: Option<&str>) -> Result<Vec<Kind>> {
        Ok(match driver {
            Some(d) => vec![Kind::parse(d)?],
            None => vec![Kind::Overlay2, Kind::Btrfs, Kind::Vfs],
        })
    }

    /// Whether a `kind` store (of any version) exists under `root`.
    fn has_store(root: &Path, kind: Kind) -> bool {
        Self::laid_out(root, kind)
            || root
                .join("image")
                .join(kind.name())
                .join("layerdb")
                .is_dir()
    }

    /// Whether this version laid out a `kind` store under `root` (its [`LAYOUT_MARK`]).
    fn laid_out(root: &Path, kind: Kind) -> bool {
        let mark = root.join("image").join(kind.name()).join(LAYOUT_MARK);
        rustix::fs::access(&mark, rustix::fs::Access::EXISTS).is_ok()
    }

    fn with_kind(root: &Path, kind: Kind) -> Store {
        Store {
            root: root.to_path_buf(),
            driver: Driver {
                kind,
                home: root.join(kind.name()),
            },
            db: LayerDb {
                dir: root.join("image").join(kind.name()).join("layerdb"),
            },
        }
    }

    fn finish_open(self) -> Result<Store> {
        // Crash leftovers (half-written entries, staging dirs, orphan layer dirs) exist only if
        // an operation died holding the lock; run/ps/inspect skip the walk otherwise.
        let dirty = std::fs::metadata(self.lock_path())
            .map(|m| m.len() > 0)
            .unwrap_or(false);
        if dirty {
            // Taking the lock sweeps if the mark is still there (its holder died).
            drop(self.lock()?);
        }
        // Old tombstones are purged by a later remove (at most once a minute), not on open: a
        // read-only ps/inspect must not walk (and delete in) a directory of hundreds.
        Ok(self)
    }

    /// First open of a store by this version: checks the driver, creates the directories,
    /// migrates an older layout, then sets [`LAYOUT_MARK`].
    fn lay_out(root: &Path, driver: Option<&str>, prior: Option<Kind>) -> Result<Store> {
        // Only root may look inside (Docker's modes; see [`fsutil::mkdir_mode`]): the root and
        // the driver's home 0710, `image/` 0700.
        fsutil::mkdir_mode(root, fsutil::ROOT_MODE)?;
        let magic = fsutil::fs_magic(root)?;
        let kind = match driver {
            Some(d) => Kind::parse(d)?,
            None => match prior {
                Some(k) => k,
                None if magic == fsutil::BTRFS_MAGIC => Kind::Btrfs,
                None if magic != fsutil::OVERLAY_MAGIC && overlay_supported() => Kind::Overlay2,
                None => Kind::Vfs,
            },
        };
        match kind {
            Kind::Btrfs if magic != fsutil::BTRFS_MAGIC => {
                return Err(Error::DriverUnsupported(format!(
                    "btrfs ({} is on {}, not btrfs)",
                    root.display(),
                    fsutil::fs_name(magic)
                )))
            }
            Kind::Overlay2 if magic == fsutil::OVERLAY_MAGIC || !overlay_supported() => {
                return Err(Error::DriverUnsupported(format!(
                    "overlay2 ({} is on {} or the kernel lacks overlayfs; try --storage-driver vfs)",
                    root.display(),
                    fsutil::fs_name(magic)
                )))
            }
            _ => {}
        }
        let store = Self::with_kind(root, kind);
        fsutil::mkdir_mode(&root.join("image"), fsutil::IMAGE_MODE)?;
        std::fs::create_dir_all(store.db.dir.join("sha256"))?;
        std::fs::create_dir_all(store.db.dir.join("mounts"))?;
        store.driver.init()?;
        let mark = root.join("image").join(kind.name()).join(LAYOUT_MARK);
        // The lock orders the migration against containers being prepared or removed (by this
        // version or an older one); the lock's own sweep runs first if an operation died.
        let g = store.lock()?;
        if !mark.exists() {
            // Mounts made before this layout hold a counted reference on their parent layer;
            // new ones do not. Marking is idempotent, so a crash here just redoes it.
            store.db.mark_legacy_mounts()?;
            // The marks must be durable before the layout mark says they are all there.
            let dir = fsutil::open_dir(&store.db.dir)?;
            rustix::fs::syncfs(&dir)?;
            fsutil::write_atomic(&mark, b"")?;
            rustix::fs::fsync(fsutil::open_dir(mark.parent().unwrap_or(root))?)?;
        }
        drop(g);
        Ok(store)
    }

    /// Removes the staging dirs of layer builders that died (their flock is free); live ones
    /// are left alone. Safe at any time, without the store lock (as [`Store::register`]).
    pub fn sweep_staging(&self) {
        self.driver.sweep_staging();
    }

    /// Removes what interrupted operations left behind (done by itself when one died holding
    /// the store lock). Safe at any time: takes the store lock.
    pub fn repair(&self) -> Result<()> {
        let _g = self.lock()?;
        self.sweep_locked();
        Ok(())
    }

    fn sweep_locked(&self) {
        self.db.sweep();
        self.driver.sweep_staging();
        // A removal that died between dropping a container's entry and collecting its parent
        // (which an `rmi` had left at zero references) leaves that layer unused: collect it.
        for c in self.db.list() {
            if self.db.refs_zero(&c).unwrap_or(false) && self.db.mount_users(&c).is_empty() {
                let _ = self.release_locked(&c);
            }
        }
        self.driver.sweep_orphans(&self.referenced_cache_ids());
    }

    fn lock_path(&self) -> PathBuf {
        self.root
            .join("image")
            .join(self.driver.kind.name())
            .join(".lock")
    }

    fn lock(&self) -> Result<LockGuard> {
        let f = File::options()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(self.lock_path())?;
        flock(&f, FlockOperation::LockExclusive)?;
        let g = LockGuard(f);
        // The mark of an operation in progress: still set, its holder died midway.
        let mut b = [0u8; 1];
        let stale = std::os::unix::fs::FileExt::read_at(&g.0, &mut b, 0)? > 0;
        std::os::unix::fs::FileExt::write_at(&g.0, b"1", 0)?;
        if stale {
            self.sweep_locked();
        }
        Ok(g)
    }

    fn referenced_cache_ids(&self) -> HashSet<String> {
        let mut s: HashSet<String> = self
            .db
            .list()
            .iter()
            .filter_map(|c| self.db.get(c).ok())
            .map(|l| l.cache_id)
            .collect();
        for (id, _) in self.db.mounts() {
            s.insert(format!("{id}-init"));
            s.insert(id);
        }
        s
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// "overlay2", "vfs" or "btrfs".
    pub fn driver_name(&self) -> &str {
        self.driver.kind.name()
    }

    /// Driver status lines for `berth info` (e.g. ("Backing Filesystem", "extfs")).
    pub fn driver_status(&self) -> Vec<(String, String)> {
        let fs = fsutil::fs_magic(&self.root)
            .map(fsutil::fs_name)
            .unwrap_or("<unknown>");
        let mut v = vec![("Backing Filesystem".to_string(), fs.to_string())];
        if self.driver.kind == Kind::Overlay2 {
            v.push(("Supports d_type".into(), "true".into()));
            v.push(("Using metacopy".into(), "false".into()));
            v.push(("Native Overlay Diff".into(), "true".into()));
            v.push(("userxattr".into(), "false".into()));
        }
        v
    }

    /// All image layers (chain IDs, sorted).
    pub fn layers(&self) -> Result<Vec<Layer>> {
        self.db.list().iter().map(|c| self.db.get(c)).collect()
    }

    /// Current reference count of a layer: images, child layers and containers on it.
    pub fn refs(&self, chain_id: &str) -> Result<u64> {
        self.db.get(chain_id)?;
        // Legacy mounts are in the stored count already.
        let containers = self
            .db
            .mount_users(chain_id)
            .iter()
            .filter(|(_, legacy)| !legacy)
            .count();
        Ok(self.db.refs(chain_id)? + containers as u64)
    }

    /// The directory with the layer's content (overlay2: its own files; vfs/btrfs: full rootfs).
    pub fn layer_dir(&self, chain_id: &str) -> Result<PathBuf> {
        Ok(self.driver.layer_root(&self.db.get(chain_id)?.cache_id))
    }

    /// Applies a layer tar (plain, gzip or zstd: sniffed) on top of `parent` as a streamed unpack,
    /// converting `.wh.` whiteouts, refusing path escapes, verifying `expected_diff_id` if given.
    /// Atomic: on any error nothing is left. If the resulting chain exists already, the new copy is
    /// discarded. Either way the returned layer carries one new reference owned by the caller.
    /// (`unpack` + `commit_unpacked` in one step; see those to unpack several layers at once.)
    pub fn register(
        &self,
        tar: &mut dyn Read,
        parent: Option<&str>,
        expected_diff_id: Option<&str>,
    ) -> Result<Layer> {
        // Staging dirs of killed registers (their builder's flock is gone) go before we add one.
        self.driver.sweep_staging();
        if let Some(d) = expected_diff_id {
            // Already present: skip the unpack entirely.
            let chain = chain_of(parent, d);
            if hex_ok(&chain) {
                let _g = self.lock()?;
                if let Ok(l) = self.db.get(&chain) {
                    self.db.set_refs(&chain, self.db.refs(&chain)? + 1)?;
                    return Ok(l);
                }
            }
        }
        let u = self.unpack(tar, parent)?;
        self.commit_unpacked(u, parent, expected_diff_id)
    }

    /// Whether [`Store::unpack`] accepts a parent that is not registered yet, so the layers of one
    /// image can be unpacked concurrently and committed in order (overlay2: each layer dir holds
    /// only its own files). Otherwise (vfs, btrfs: a layer starts as a copy of its parent) each
    /// layer must be unpacked after its parent was committed.
    pub fn concurrent_unpack(&self) -> bool {
        self.driver.kind == Kind::Overlay2
    }

    /// How many layers of a chain of `n` to unpack at once: 1 unless [`Store::concurrent_unpack`].
    /// File creation mostly waits on the filesystem, so a few threads overlap well even on two
    /// cores.
    pub fn unpack_threads(&self, n: usize) -> usize {
        if !self.concurrent_unpack() {
            return 1;
        }
        n.clamp(1, 3)
    }

    /// First half of [`Store::register`]: unpacks a layer tar into a private staging dir and
    /// computes its diff ID. Nothing is visible in the store until [`Store::commit_unpacked`];
    /// dropping the result discards it. `parent` must be registered already unless
    /// [`Store::concurrent_unpack`]; hard links into the parents are then resolved at commit.
    /// Safe to call from several threads at once.
    pub fn unpack(&self, tar: &mut dyn Read, parent: Option<&str>) -> Result<Unpacked> {
        let base = if self.concurrent_unpack() {
            None
        } else {
            parent.map(|p| self.db.get(p)).transpose()?
        };
        let staging = self
            .driver
            .stage(base.as_ref().map(|l| l.cache_id.as_str()))?;
        match unpack::apply(
            tar,
            &staging.root,
            self.driver.whiteout_mode(),
            None,
            Some(&staging.split),
        ) {
            Ok(applied) => Ok(Unpacked {
                staging: Some(staging),
                applied,
                parent: parent.map(str::to_string),
                driver: self.driver.clone(),
            }),
            Err(e) => {
                self.driver.discard(staging);
                Err(e)
            }
        }
    }

    /// Second half of [`Store::register`]: verifies the diff ID, copies up hard-linked files of
    /// the parents, and moves the layer into the store on top of `parent` (the same parent given
    /// to `unpack`; it must be registered by now). Returns the layer with one new reference.
    pub fn commit_unpacked(
        &self,
        mut u: Unpacked,
        parent: Option<&str>,
        expected_diff_id: Option<&str>,
    ) -> Result<Layer> {
        if u.parent.as_deref() != parent {
            return Err(Error::Other(format!(
                "layer unpacked on parent {:?} cannot be committed on {parent:?}",
                u.parent
            )));
        }
        if let Some(exp) = expected_diff_id {
            if exp != u.applied.diff_id {
                return Err(Error::DigestMismatch {
                    expected: exp.to_string(),
                    actual: u.applied.diff_id.clone(),
                });
            }
        }
        let parent_layer = parent.map(|p| self.db.get(p)).transpose()?;
        if !u.applied.deferred_links.is_empty() {
            // The parent chain's dirs, top first, hold the hard links' targets.
            let mut lowers = Vec::new();
            let mut cur = parent_layer.clone();
            while let Some(l) = cur {
                lowers.push(self.driver.layer_root(&l.cache_id));
                cur = l.parent.as_deref().map(|p| self.db.get(p)).transpose()?;
            }
            let st = u.staging.as_ref().expect("staging until committed");
            unpack::resolve_links(&st.root, &lowers, &u.applied.deferred_links)?;
        }
        let chain = chain_of(parent, &u.applied.diff_id);
        let _g = self.lock()?;
        if let Ok(l) = self.db.get(&chain) {
            // Someone registered the same chain meanwhile: theirs wins (ours is dropped).
            self.db.set_refs(&chain, self.db.refs(&chain)? + 1)?;
            return Ok(l);
        }
        if let Some(p) = parent {
            if self.db.get(p).is_err() {
                return Err(Error::LayerNotFound(format!(
                    "{p} (parent removed while registering)"
                )));
            }
        }
        let layer = Layer {
            chain_id: chain.clone(),
            diff_id: u.applied.diff_id.clone(),
            parent: parent.map(str::to_string),
            cache_id: random_hex(32),
            size: u.applied.size,
        };
        let staging = u.staging.take().expect("staging until committed");
        let res = (|| -> Result<()> {
            let tmp = self.db.stage(&layer, &staging.split)?;
            let lower = match &parent_layer {
                Some(p) => Some(self.overlay_lower_of(&p.cache_id)?),
                None => None,
            };
            self.driver.commit(staging, &layer.cache_id, lower)?;
            self.db.publish(&tmp, &chain)?;
            if let Some(p) = parent {
                self.db.set_refs(p, self.db.refs(p)? + 1)?;
            }
            Ok(())
        })();
        if let Err(e) = res {
            self.db.sweep();
            self.driver.sweep_staging();
            let _ = self.driver.remove(&layer.cache_id);
            return Err(e);
        }
        Ok(layer)
    }

    /// overlay2: the `lower` file content for a child of `cache_id`.
    fn overlay_lower_of(&self, cache_id: &str) -> Result<String> {
        if self.driver.kind != Kind::Overlay2 {
            return Ok(String::new());
        }
        let d = self.driver.home.join(cache_id);
        let link = fsutil::read_small(&d.join("link"))?;
        Ok(match fsutil::read_small(&d.join("lower")) {
            Ok(l) if !l.trim().is_empty() => format!("l/{}:{}", link.trim(), l.trim()),
            _ => format!("l/{}", link.trim()),
        })
    }

    /// Takes one more reference on an existing layer.
    pub fn retain(&self, chain_id: &str) -> Result<Layer> {
        let _g = self.lock()?;
        let l = self.db.get(chain_id)?;
        self.db.set_refs(chain_id, self.db.refs(chain_id)? + 1)?;
        Ok(l)
    }

    /// Looks a layer up by chain ID.
    pub fn get(&self, chain_id: &str) -> Result<Layer> {
        self.db.get(chain_id)
    }

    /// A layer's own size in bytes (its diff), without the rest of its metadata.
    pub fn layer_size(&self, chain_id: &str) -> Result<u64> {
        self.db.size(chain_id)
    }

    /// Drops one reference; a layer with none left is deleted, and releases its parent.
    /// Returns the chain IDs deleted.
    pub fn release(&self, chain_id: &str) -> Result<Vec<Digest>> {
        let _g = self.lock()?;
        let deleted = self.release_locked(chain_id)?;
        self.driver.purge_tombstones_if_due();
        Ok(deleted)
    }

    /// Drops one counted reference (or, at zero, collects a layer no container uses any more).
    fn release_locked(&self, chain_id: &str) -> Result<Vec<Digest>> {
        let mut deleted = Vec::new();
        let mut cur = Some(chain_id.to_string());
        while let Some(c) = cur.take() {
            let l = self.db.get(&c)?;
            let refs = self.db.refs(&c)?;
            if refs > 1 {
                self.db.set_refs(&c, refs - 1)?;
                break;
            }
            // The last counted reference. Containers hold none; their mount entries say whether
            // one still stands on this layer, and its removal then collects the layer. A child
            // layer's removal collects it likewise (see `has_children`).
            if !self.db.mount_users(&c).is_empty() || self.db.has_children(&c) {
                if refs != 0 {
                    self.db.set_refs(&c, 0)?;
                }
                break;
            }
            // Metadata first: a crash after this leaves an orphan dir the next open sweeps.
            self.db.remove(&c)?;
            self.driver.remove(&l.cache_id)?;
            deleted.push(c);
            cur = l.parent;
        }
        Ok(deleted)
    }

    /// The layer's own content as an uncompressed tar with AUFS whiteouts (for save/push).
    /// Byte-identical to the registered tar (same diff ID), rebuilt from the tar-split.
    pub fn layer_tar(&self, chain_id: &str) -> Result<Box<dyn Read + Send>> {
        let l = self.db.get(chain_id)?;
        let split = self.db.entry(chain_id)?.join(layerdb::TAR_SPLIT);
        let root = self.driver.layer_root(&l.cache_id);
        if split.exists() {
            return Ok(Box::new(unpack::SplitReader::new(&split, &root)?));
        }
        // No tar-split (layer from another tool): regenerate; the diff ID may differ.
        match self.driver.kind {
            Kind::Overlay2 => Ok(Box::new(diff::spawn_tar(move |b| {
                diff::overlay_tar(b, &root)
            }))),
            _ => {
                let old = match &l.parent {
                    Some(p) => Some(self.driver.layer_root(&self.db.get(p)?.cache_id)),
                    None => None,
                };
                let ch = diff::naive_changes(&root, old.as_deref())?;
                Ok(Box::new(diff::spawn_tar(move |b| {
                    diff::changes_tar(b, &root, &ch)
                })))
            }
        }
    }

    /// Creates `<id>-init` (from `init`) and the writable `<id>` layer over `parent` (an image's top
    /// chain ID, or none for an empty rootfs). Returns the mounts that assemble the rootfs.
    ///
    /// The container takes no counted reference on `parent` (nothing is written to its `refs`):
    /// its `layerdb/mounts/<id>` entry, committed last under the store lock, is what keeps the
    /// layer alive (see [`layerdb`]).
    pub fn prepare(
        &self,
        id: &str,
        parent: Option<&str>,
        init: &InitLayerSpec,
    ) -> Result<Vec<Mount>> {
        check_id(id)?;
        if self.driver.kind == Kind::Overlay2 {
            return self.prepare_overlay(id, parent, init, false);
        }
        let _g = self.lock()?;
        if self.db.mount_dir(id).exists() {
            return Err(Error::Other(format!("container layer {id} already exists")));
        }
        let parent_layer = parent.map(|p| self.db.get(p)).transpose()?;
        let init_id = format!("{id}-init");
        let res = (|| -> Result<()> {
            let pcache = parent_layer.as_ref().map(|l| l.cache_id.clone());
            let st = self.driver.stage(pcache.as_deref())?;
            write_init_layer(&st.root, init)?;
            self.driver.commit(st, &init_id, None)?;
            let st = self.driver.stage(Some(&init_id))?;
            self.driver.commit(st, id, None)?;
            self.db.write_mount(id, parent)
        })();
        if let Err(e) = res {
            let _ = self.driver.remove(id);
            let _ = self.driver.remove(&init_id);
            return Err(e);
        }
        drop(_g);
        self.mounts(id)
    }

    /// overlay2's [`Store::prepare`]: `overlay2/<id>-init/diff` (no work dir, no short link:
    /// it is only ever a lower, named by its path) and `overlay2/<id>/{diff,work,merged,lower}`.
    ///
    /// Each layer is built in the tombstones dir and renamed into place (see
    /// [`drivers::Driver::new_layer_dir`]); a crash leaves it there, where the tombstone purge
    /// removes it. The renames and the mounts entry happen under the store lock, whose mark
    /// stays set if we die, so layer dirs that no entry names are swept by the next open.
    fn prepare_overlay(
        &self,
        id: &str,
        parent: Option<&str>,
        init: &InitLayerSpec,
        retried: bool,
    ) -> Result<Vec<Mount>> {
        let _g = self.lock()?;
        let init_id = format!("{id}-init");
        let mut lower = format!("{init_id}/diff");
        if let Some(p) = parent {
            lower.push(':');
            lower.push_str(&self.overlay_lower_of(&self.db.cache_id(p)?)?);
        }
        // A spare init tree (see drivers::Driver::spares) only needs its files rewritten.
        let init_dir = self.driver.home.join(&init_id);
        let took_init = self.driver.take_spare("init", &init_id)
            && match refill_init_layer(&init_dir.join("diff"), init) {
                Ok(()) => true,
                Err(_) => {
                    let _ = fsutil::remove_path(&init_dir);
                    false
                }
            };
        if !took_init {
            let (tmp, place) = self.driver.new_layer_dir(&init_id)?;
            let filled = (|| -> Result<()> {
                let root = tmp.join("diff");
                fsutil::mkdir_one(&root, 0o755)?;
                write_fresh_init_layer(&root, init)
            })();
            let placed = match filled {
                Ok(()) => place(&tmp),
                Err(e) => {
                    let _ = fsutil::remove_path(&tmp);
                    return Err(e);
                }
            };
            match placed {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && !retried => {
                    let _ = fsutil::remove_path(&tmp);
                    if self.db.mount_dir(id).exists() {
                        return Err(Error::Other(format!("container layer {id} already exists")));
                    }
                    // Leftovers of a removal that failed midway (nothing names them): replace them.
                    self.driver.remove(id)?;
                    self.driver.remove(&init_id)?;
                    drop(_g);
                    return self.prepare_overlay(id, parent, init, true);
                }
                Err(e) => {
                    let _ = fsutil::remove_path(&tmp);
                    return Err(e.into());
                }
            }
        }
        let dir = self.driver.home.join(id);
        let res = (|| -> Result<()> {
            if self.driver.take_spare("rw", id) {
                rewrite_small(&dir.join("lower"), lower.as_bytes())?;
                return self.db.write_mount(id, parent);
            }
            let (tmp, place) = self.driver.new_layer_dir(id)?;
            let filled = (|| -> std::io::Result<()> {
                // Explicit modes (Docker's), whatever the umask: the upper dir's is the mode
                // of the container's "/".
                for (sub, mode) in [("diff", 0o755), ("work", 0o700), ("merged", 0o755)] {
                    fsutil::mkdir_one(&tmp.join(sub), mode)?;
                }
                std::fs::write(tmp.join("lower"), &lower)?;
                place(&tmp)
            })();
            if let Err(e) = filled {
                let _ = fsutil::remove_path(&tmp);
                return Err(e.into());
            }
            self.db.write_mount(id, parent)
        })();
        match res {
            Ok(()) => overlay2::container_mounts(
                &self.lowers_of(&lower),
                &dir.join("diff"),
                &dir.join("work"),
                &dir.join("stack"),
                false,
            ),
            Err(e) => {
                // With no mounts entry naming them, both dirs are ours (or orphans).
                if !self.db.mount_dir(id).exists() {
                    let _ = self.driver.remove(id);
                    let _ = self.driver.remove(&init_id);
                }
                Err(e)
            }
        }
    }

    fn parent_of_mount(&self, id: &str) -> Result<Option<String>> {
        check_id(id)?;
        let d = self.db.mount_dir(id);
        match std::fs::read_to_string(d.join("parent")) {
            Ok(p) => Ok(Some(p.trim().to_string()).filter(|p| !p.is_empty())),
            Err(_) => Err(Error::LayerNotFound(format!("container layer {id}"))),
        }
    }

    /// overlay2: absolute lower dirs of a container layer, top first (init layer first).
    fn overlay_lowers(&self, id: &str) -> Result<Vec<PathBuf>> {
        match fsutil::read_small(&self.driver.home.join(id).join("lower")) {
            Ok(lower) => Ok(self.lowers_of(&lower)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(Error::LayerNotFound(format!("container layer {id}")))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// A `lower` file's entries (relative to the driver home) as absolute paths.
    fn lowers_of(&self, lower: &str) -> Vec<PathBuf> {
        lower
            .trim()
            .split(':')
            .filter(|s| !s.is_empty())
            .map(|s| self.driver.home.join(s))
            .collect()
    }

    /// The mounts of a prepared container layer. The last one is the rootfs (target None =
    /// `merged_dir(id)`); earlier ones (deep images only) carry their own target. Options with
    /// `lowerdir+=` need the new mount API: use [`Store::mount`] or [`perform_mount`].
    pub fn mounts(&self, id: &str) -> Result<Vec<Mount>> {
        self.mounts_with(id, false)
    }

    /// [`Store::mounts`], `volatile` (overlay2 only; see [`drivers::overlay2::VOLATILE`]) or
    /// durable. The choice is the caller's to keep (the engine keeps it in the container's
    /// HostConfig.StorageOpt): the layer itself does not record it.
    pub fn mounts_with(&self, id: &str, volatile: bool) -> Result<Vec<Mount>> {
        check_id(id)?;
        match self.driver.kind {
            Kind::Overlay2 => {
                // The layer's `lower` file (written before its mounts entry) proves it exists.
                let d = self.driver.home.join(id);
                overlay2::container_mounts(
                    &self.overlay_lowers(id)?,
                    &d.join("diff"),
                    &d.join("work"),
                    &d.join("stack"),
                    volatile,
                )
            }
            _ => Ok(vec![Mount {
                kind: "bind".into(),
                source: {
                    self.parent_of_mount(id)?;
                    self.driver.layer_root(id).display().to_string()
                },
                target: None,
                options: vec!["rbind".into()],
            }]),
        }
    }

    /// Mounts the container's rootfs at `merged_dir(id)` and returns that path.
    pub fn mount(&self, id: &str) -> Result<PathBuf> {
        self.mount_with(id, false)
    }

    /// [`Store::mount`] with the layer `volatile` or durable (see [`Store::mounts_with`]).
    pub fn mount_with(&self, id: &str, volatile: bool) -> Result<PathBuf> {
        let mounts = self.mounts_with(id, volatile)?;
        let merged = self.merged_dir(id);
        let mut stacks = Vec::new();
        for m in &mounts {
            let target = m.target.clone().unwrap_or_else(|| merged.clone());
            // overlay2's `merged` exists since prepare; create it only if a mount fails for lack.
            if m.target.is_some() || self.driver.kind != Kind::Overlay2 {
                std::fs::create_dir_all(&target)?;
            }
            let mut res = perform_mount(m, &target);
            if res.is_err() && !target.is_dir() {
                std::fs::create_dir_all(&target)?;
                res = perform_mount(m, &target);
            }
            if let Err(e) = res {
                for s in &stacks {
                    let _ = rustix::mount::unmount(s, rustix::mount::UnmountFlags::DETACH);
                }
                return Err(e);
            }
            if m.target.is_some() {
                stacks.push(target);
            }
        }
        // The container overlay holds its own reference to the stack; detaching it now means
        // unmounting the rootfs alone releases everything.
        for s in &stacks {
            let _ = rustix::mount::unmount(s, rustix::mount::UnmountFlags::DETACH);
        }
        Ok(merged)
    }

    /// Unmounts what [`Store::mount`] (or the engine) mounted at `merged_dir(id)`; not mounted is fine.
    pub fn unmount(&self, id: &str) -> Result<()> {
        check_id(id)?;
        let merged = self.merged_dir(id);
        let mut targets = vec![merged];
        if self.driver.kind == Kind::Overlay2 {
            targets.push(self.driver.home.join(id).join("stack"));
        }
        for t in targets {
            loop {
                match rustix::mount::unmount(&t, rustix::mount::UnmountFlags::empty()) {
                    Ok(()) => continue, // stacked mounts: peel them all
                    Err(rustix::io::Errno::INVAL) | Err(rustix::io::Errno::NOENT) => break,
                    Err(rustix::io::Errno::BUSY) => {
                        rustix::mount::unmount(&t, rustix::mount::UnmountFlags::DETACH).map_err(
                            |e| Error::Other(format!("unmounting {}: {e}", t.display())),
                        )?;
                    }
                    Err(e) => return Err(Error::Other(format!("unmounting {}: {e}", t.display()))),
                }
            }
        }
        Ok(())
    }

    /// Driver data for inspect's GraphDriver.Data (LowerDir, UpperDir, WorkDir, MergedDir).
    pub fn metadata(&self, id: &str) -> Result<Vec<(String, String)>> {
        self.parent_of_mount(id)?;
        if self.driver.kind != Kind::Overlay2 {
            return Ok(Vec::new());
        }
        let d = self.driver.home.join(id);
        let lowers = self
            .overlay_lowers(id)?
            .iter()
            .map(|l| {
                std::fs::canonicalize(l)
                    .unwrap_or_else(|_| l.clone())
                    .display()
                    .to_string()
            })
            .collect::<Vec<_>>()
            .join(":");
        Ok(vec![
            ("LowerDir".into(), lowers),
            ("MergedDir".into(), d.join("merged").display().to_string()),
            ("UpperDir".into(), d.join("diff").display().to_string()),
            ("WorkDir".into(), d.join("work").display().to_string()),
        ])
    }

    /// The merged directory where the engine mounts the container's rootfs.
    pub fn merged_dir(&self, id: &str) -> PathBuf {
        match self.driver.kind {
            Kind::Overlay2 => self.driver.home.join(id).join("merged"),
            _ => self.driver.layer_root(id),
        }
    }

    /// `docker diff`: changes of the writable layer `<id>` against its parents (init layer excluded).
    pub fn changes(&self, id: &str) -> Result<Vec<Change>> {
        self.parent_of_mount(id)?;
        Ok(match self.driver.kind {
            Kind::Overlay2 => {
                diff::overlay_changes(&self.driver.layer_root(id), &self.overlay_lowers(id)?)?
            }
            _ => diff::naive_changes(
                &self.driver.layer_root(id),
                Some(&self.driver.layer_root(&format!("{id}-init"))),
            )?,
        })
    }

    /// The writable layer's changes as a layer tar with AUFS whiteouts (for commit).
    pub fn diff_tar(&self, id: &str) -> Result<Box<dyn Read + Send>> {
        self.parent_of_mount(id)?;
        let root = self.driver.layer_root(id);
        match self.driver.kind {
            Kind::Overlay2 => Ok(Box::new(diff::spawn_tar(move |b| {
                diff::overlay_tar(b, &root)
            }))),
            _ => {
                let ch = self.changes(id)?;
                Ok(Box::new(diff::spawn_tar(move |b| {
                    diff::changes_tar(b, &root, &ch)
                })))
            }
        }
    }

    /// Bytes used by a container's writable layer (for `system df` / `ps -s`).
    pub fn container_size(&self, id: &str) -> Result<u64> {
        self.parent_of_mount(id)?;
        fn walk(p: &Path) -> u64 {
            let Ok(rd) = std::fs::read_dir(p) else {
                return 0;
            };
            rd.flatten()
                .map(|e| match e.file_type() {
                    Ok(t) if t.is_dir() => walk(&e.path()),
                    Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
                    _ => 0,
                })
                .sum()
        }
        Ok(walk(&self.driver.layer_root(id)))
    }

    /// Removes a container's `<id>` and `<id>-init` layers (unmounting first if needed). Its
    /// parent layer is deleted too if an `rmi` released it meanwhile (its count is zero) and no
    /// other container uses it.
    pub fn remove(&self, id: &str) -> Result<()> {
        self.remove_deferred(id)?.finish();
        Ok(())
    }

    /// [`Store::remove`] whose slow part, deleting the removed layers' files, is left to the
    /// returned [`Removed`] (call `finish` once nobody waits; if it is never called the
    /// tombstone purge deletes them later). Everything else is done: the container's layers
    /// are gone from the store.
    pub fn remove_deferred(&self, id: &str) -> Result<Removed> {
        check_id(id)?;
        let parent = match self.db.mount_parent(id) {
            Ok(p) => p,
            // An entry without its `parent` (which goes last but for the dir): a removal
            // killed in `remove_mount`; its layers were retired before. Finish it.
            Err(e)
                if e.kind() == std::io::ErrorKind::NotFound && self.db.mount_dir(id).exists() =>
            {
                None
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::LayerNotFound(format!("container layer {id}")))
            }
            Err(e) => return Err(e.into()),
        };
        self.unmount(id)?;
        let _g = self.lock()?;
        // Layers before the entry: a failure or crash here leaves the entry, so a retry finds
        // the container and finishes (removing a missing layer dir is fine).
        let mut graves = Vec::new();
        let mut dirty = Vec::new();
        for (name, kind) in [(id.to_string(), "rw"), (format!("{id}-init"), "init")] {
            match self.driver.retire(&name, kind) {
                Some(p) => dirty.push((p, kind)),
                None => graves.extend(self.driver.remove_deferred(&name)?),
            }
        }
        let removed = Removed {
            graves,
            dirty,
            driver: self.driver.clone(),
        };
        let counted = self.db.remove_mount(id, &self.driver.tombstones())?;
        if let Some(p) = parent {
            // Both checks under the lock: a concurrent rmi or prepare sees the entry gone or
            // present, never half. (Dying before this: the lock's sweep collects the layer.)
            let unused =
                || self.db.refs_zero(&p).unwrap_or(false) && self.db.mount_users(&p).is_empty();
            if counted || unused() {
                self.release_locked(&p)?;
            }
        }
        // Tombstones are purged off this path (see purge_tombstones_if_due).
        Ok(removed)
    }

    /// Deletes expired tombstones (removed layers' empty directories, kept a while; see the
    /// driver) if the last purge is a minute old. A container's removal does not do it, as
    /// that is on the path of `run --rm`: callers run it once nobody waits for them, e.g. the
    /// monitor after it reported the exit.
    pub fn purge_tombstones_if_due(&self) {
        self.driver.purge_tombstones_if_due();
    }
}

/// The files of a removed container's layers, left to delete (see [`Store::remove_deferred`]).
#[must_use = "call finish() to delete the files now"]
pub struct Removed {
    graves: Vec<PathBuf>,
    /// Layers retired to become spares, with their kind, and the driver that cleans them.
    dirty: Vec<(PathBuf, &'static str)>,
    driver: drivers::Driver,
}

impl Removed {
    pub fn finish(self) {
        for g in &self.graves {
            let _ = drivers::strip_files(g);
        }
        for (p, kind) in &self.dirty {
            self.driver.clean_spare(p, kind);
        }
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn hex_ok(chain: &str) -> bool {
    layerdb::hex_of(chain).is_ok()
}

/// Performs one [`Mount`] at `target` (new mount API for `lowerdir+=` overlay specs).
pub fn perform_mount(m: &Mount, target: &Path) -> Result<()> {
    overlay2::perform(m, target)
}

/// The init layer's content for hostname `spec.hostname` etc.: (path, mode, content).
fn init_files(spec: &InitLayerSpec) -> [(&'static str, u32, String); 5] {
    let mut hostname = spec.hostname.clone();
    if !hostname.is_empty() && !hostname.ends_with('\n') {
        hostname.push('\n');
    }
    [
        ("etc/hosts", 0o644, spec.hosts.clone()),
        ("etc/hostname", 0o644, hostname),
        ("etc/resolv.conf", 0o644, spec.resolv_conf.clone()),
        ("dev/console", 0o755, String::new()),
        (".dockerenv", 0o644, String::new()),
    ]
}

/// Rewrites a small file in place (no truncation to zero first: its block stays, so nothing is
/// freed and discarded for a rewrite of a few bytes).
fn rewrite_small(path: &Path, data: &[u8]) -> Result<()> {
    use std::os::unix::fs::{FileExt, OpenOptionsExt};
    let f = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    f.write_all_at(data, 0)?;
    f.set_len(data.len() as u64)?;
    Ok(())
}

/// A spare init layer made the init layer of a new container: the same tree (see
/// [`write_fresh_init_layer`]), its files' contents rewritten.
fn refill_init_layer(root: &Path, spec: &InitLayerSpec) -> Result<()> {
    for (path, _mode, content) in init_files(spec) {
        rewrite_small(&root.join(path), content.as_bytes())?;
    }
    Ok(())
}

/// [`write_init_layer`] for a new, empty directory this process just made under the store lock
/// and that nothing names yet (overlay2's init layer): no other writer, no planted symlinks, so
/// plain `*at` calls relative to its fd do instead of a RESOLVE_IN_ROOT walk per component.
/// Everything is created exclusively (mkdirat, O_EXCL|O_NOFOLLOW), so anything unexpected there
/// is an error, never a write elsewhere.
fn write_fresh_init_layer(root: &Path, spec: &InitLayerSpec) -> Result<()> {
    use rustix::fs::{self as rfs, Mode, OFlags};
    use std::io::Write;
    let rfd = fsutil::open_dir(root)?;
    for d in ["dev", "dev/pts", "dev/shm", "proc", "sys", "etc"] {
        rfs::mkdirat(&rfd, d, Mode::from_raw_mode(0o755))?;
    }
    for (path, mode, content) in init_files(spec) {
        let fd = rfs::openat(
            &rfd,
            path,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(mode),
        )?;
        if !content.is_empty() {
            File::from(fd).write_all(content.as_bytes())?;
        }
    }
    rfs::symlinkat("/proc/mounts", &rfd, "etc/mtab")?;
    Ok(())
}

/// Fills an init layer dir: the files the engine manages plus Docker's mount-point placeholders.
/// The dir may hold a copy of the image (vfs, btrfs), so every path is resolved inside it.
fn write_init_layer(root: &Path, spec: &InitLayerSpec) -> Result<()> {
    use rustix::fs::{self as rfs, Mode, OFlags};
    use std::io::Write;
    use std::os::fd::AsFd;
    let rfd = fsutil::open_dir(root)?;
    for d in INIT_DIRS {
        fsutil::open_dir_create(rfd.as_fd(), Path::new(d))?;
    }
    for (path, mode, content) in init_files(spec) {
        let path = Path::new(path);
        let (dir, name) = (
            path.parent().unwrap_or(Path::new("")),
            path.file_name().unwrap_or_default(),
        );
        let p = fsutil::open_dir_create(rfd.as_fd(), dir)?;
        fsutil::remove_all_at(p.as_fd(), name)?;
        let fd = rfs::openat(
            &p,
            name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(mode),
        )?;
        File::from(fd).write_all(content.as_bytes())?;
    }
    let etc = fsutil::open_dir_create(rfd.as_fd(), Path::new("etc"))?;
    if fsutil::lstat_at(etc.as_fd(), std::ffi::OsStr::new("mtab"))?.is_none() {
        rfs::symlinkat("/proc/mounts", &etc, "mtab")?;
    }
    Ok(())
}
