//! The image store: configs by ID, tags, metadata, image removal and the journal of layer
//! references held by operations in progress.

use crate::config::{chain_ids, ImageConfig};
use crate::reference::{is_hex64, Reference};
use crate::{sha256_digest, short_id, Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// One image as stored.
#[derive(Debug, Clone)]
pub struct Image {
    /// `sha256:<hex>`
    pub id: String,
    /// The config bytes exactly as stored (their sha256 is the ID).
    pub raw: Vec<u8>,
    pub config: ImageConfig,
    pub parent: Option<String>,
    /// RFC 3339 time of the last tag operation (`metadata/.../lastUpdated`).
    pub last_tag_time: Option<String>,
    /// `repo:tag` references (normalized), sorted.
    pub tags: Vec<Reference>,
    /// `repo@digest` references, sorted.
    pub digests: Vec<Reference>,
}

impl Image {
    /// Chain ID of the top layer (the one the image holds a reference on).
    pub fn top_layer(&self) -> Option<String> {
        chain_ids(self.config.diff_ids()).pop()
    }
    pub fn is_dangling(&self) -> bool {
        self.tags.is_empty() && self.digests.is_empty()
    }
}

/// What `rmi`/`prune` did, in Docker's order and wording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteItem {
    Untagged(String),
    Deleted(String),
}

#[derive(Default, Serialize, Deserialize)]
struct Repositories {
    #[serde(rename = "Repositories", default)]
    repositories: BTreeMap<String, BTreeMap<String, String>>,
}

pub struct ImageStore {
    layers: storage::Store,
    base: PathBuf,
}

static TMP_SEQ: AtomicU64 = AtomicU64::new(0);

fn unique_suffix() -> String {
    format!(
        "{}-{}-{}",
        std::process::id(),
        TMP_SEQ.fetch_add(1, Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
    )
}

/// Writes `data` to `path` via a temp file + fsync + rename + directory fsync.
pub(crate) fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let dir = path.parent().expect("path has a parent");
    fs::create_dir_all(dir).map_err(Error::io(format!("creating {}", dir.display())))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name().unwrap().to_string_lossy(),
        unique_suffix()
    ));
    let res = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res.map_err(Error::io(format!("writing {}", path.display())))
}

fn hex_of(id: &str) -> &str {
    id.strip_prefix("sha256:").unwrap_or(id)
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// An exclusive lock on the image store's mutable state, released on drop.
pub struct StoreLock(#[allow(dead_code)] File);

impl ImageStore {
    /// Opens the layer store and the image store under `root`, releasing layer references left
    /// behind by killed berth processes.
    pub fn open(root: &Path, driver: Option<&str>) -> Result<ImageStore> {
        let layers = storage::Store::open(root, driver)?;
        let base = root.join("image").join(layers.driver_name());
        for d in ["imagedb/content/sha256", "imagedb/metadata/sha256", "tmp"] {
            let p = base.join(d);
            fs::create_dir_all(&p).map_err(Error::io(format!("creating {}", p.display())))?;
        }
        let s = ImageStore { layers, base };
        s.recover();
        Ok(s)
    }

    pub fn layers(&self) -> &storage::Store {
        &self.layers
    }
    pub fn driver(&self) -> &str {
        self.layers.driver_name()
    }
    /// `<root>/image/<driver>`
    pub fn base(&self) -> &Path {
        &self.base
    }

    /// Serializes mutations of tags and configs between berth processes.
    pub fn lock(&self) -> Result<StoreLock> {
        // Not `.lock`: the layer store flocks that one, and flock conflicts between two
        // opens of one file even inside one process.
        let p = self.base.join("repositories.json.lock");
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(Error::io(format!("opening {}", p.display())))?;
        f.lock()
            .map_err(Error::io(format!("locking {}", p.display())))?;
        Ok(StoreLock(f))
    }

    fn content_path(&self, id: &str) -> PathBuf {
        self.base.join("imagedb/content/sha256").join(hex_of(id))
    }
    fn meta_dir(&self, id: &str) -> PathBuf {
        self.base.join("imagedb/metadata/sha256").join(hex_of(id))
    }
    fn repos_path(&self) -> PathBuf {
        self.base.join("repositories.json")
    }

    fn read_repos(&self) -> Result<Repositories> {
        match fs::read(self.repos_path()) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| {
                Error::Invalid(format!("{} is corrupt: {e}", self.repos_path().display()))
            }),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(Repositories::default()),
            Err(e) => Err(Error::io("reading repositories.json")(e)),
        }
    }
    fn write_repos(&self, r: &Repositories) -> Result<()> {
        let b = serde_json::to_vec(r).expect("serializable");
        write_atomic(&self.repos_path(), &b)
    }

    /// All references, grouped by image ID.
    fn refs_by_id(&self) -> Result<BTreeMap<String, Vec<Reference>>> {
        let mut out: BTreeMap<String, Vec<Reference>> = BTreeMap::new();
        for repo in self.read_repos()?.repositories.values() {
            for (k, id) in repo {
                if let Ok(r) = Reference::parse_normalized(k) {
                    out.entry(id.clone()).or_default().push(r);
                }
            }
        }
        Ok(out)
    }

    /// IDs of all stored images.
    pub fn ids(&self) -> Result<Vec<String>> {
        let dir = self.base.join("imagedb/content/sha256");
        let mut ids = Vec::new();
        for e in fs::read_dir(&dir).map_err(Error::io(format!("reading {}", dir.display())))? {
            let e = e.map_err(Error::io("reading imagedb"))?;
            let name = e.file_name().to_string_lossy().to_string();
            if is_hex64(&name) {
                ids.push(format!("sha256:{name}"));
            }
        }
        ids.sort();
        Ok(ids)
    }

    pub fn exists(&self, id: &str) -> bool {
        self.content_path(id).exists()
    }

    fn load_image(&self, id: &str, refs: &BTreeMap<String, Vec<Reference>>) -> Result<Image> {
        let raw = match fs::read(self.content_path(id)) {
            Ok(b) => b,
            Err(e) if e.kind() == ErrorKind::NotFound => return Err(Error::NotFound(id.into())),
            Err(e) => return Err(Error::io(format!("reading image {id}"))(e)),
        };
        let config = ImageConfig::from_bytes(&raw)?;
        let meta = self.meta_dir(id);
        let read = |n: &str| {
            fs::read_to_string(meta.join(n))
                .ok()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
        };
        let mut tags = Vec::new();
        let mut digests = Vec::new();
        for r in refs.get(id).into_iter().flatten() {
            if r.digest.is_some() {
                digests.push(r.clone());
            } else {
                tags.push(r.clone());
            }
        }
        tags.sort();
        digests.sort();
        Ok(Image {
            id: id.to_string(),
            raw,
            config,
            parent: read("parent"),
            last_tag_time: read("lastUpdated"),
            tags,
            digests,
        })
    }

    pub fn get(&self, id: &str) -> Result<Image> {
        self.load_image(id, &self.refs_by_id()?)
    }

    /// All images (configs that fail to parse are skipped: a broken config must not hide
    /// the others).
    pub fn images(&self) -> Result<Vec<Image>> {
        let refs = self.refs_by_id()?;
        let mut out = Vec::new();
        for id in self.ids()? {
            match self.load_image(&id, &refs) {
                Ok(i) => out.push(i),
                Err(Error::NotFound(_)) => {}
                Err(e) => eprintln!("warning: skipping image {id}: {e}"),
            }
        }
        Ok(out)
    }

    /// Resolves a reference, a full ID or an unambiguous ID prefix to an image ID, like
    /// Docker's `GetImage`.
    pub fn resolve(&self, ref_or_id: &str) -> Result<String> {
        let hex = ref_or_id.strip_prefix("sha256:").unwrap_or(ref_or_id);
        if is_hex64(hex) {
            let id = format!("sha256:{hex}");
            return if self.exists(&id) {
                Ok(id)
            } else {
                Err(Error::NotFound(ref_or_id.into()))
            };
        }
        match Reference::parse(ref_or_id) {
            Ok(r) => {
                let repos = self.read_repos()?;
                if let Some(id) = repos
                    .repositories
                    .get(&r.familiar_name())
                    .and_then(|m| m.get(&r.familiar_string()))
                {
                    return Ok(id.clone());
                }
            }
            Err(e) if !ref_or_id.starts_with("sha256:") => return Err(e),
            Err(_) => {}
        }
        self.search(ref_or_id)?
            .ok_or_else(|| Error::NotFound(ref_or_id.into()))
    }

    /// An ID by unique hex prefix (`abc`, `sha256:abc`).
    fn search(&self, prefix: &str) -> Result<Option<String>> {
        let p = prefix.strip_prefix("sha256:").unwrap_or(prefix);
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let found: Vec<String> = self
            .ids()?
            .into_iter()
            .filter(|id| hex_of(id).starts_with(p))
            .collect();
        match found.len() {
            0 => Ok(None),
            1 => Ok(found.into_iter().next()),
            _ => Err(Error::Invalid(format!(
                "multiple IDs found with provided prefix: {p}"
            ))),
        }
    }

    fn is_id_prefix(id: &str, input: &str) -> bool {
        let p = input.strip_prefix("sha256:").unwrap_or(input);
        !p.is_empty() && hex_of(id).starts_with(p)
    }

    /// Points `r` at image `id` (moving it from another image if needed). Returns the image
    /// it was taken from, if any. Caller holds the lock.
    pub fn tag_locked(&self, _lock: &StoreLock, id: &str, r: &Reference) -> Result<Option<String>> {
        if !self.exists(id) {
            return Err(Error::NotFound(id.into()));
        }
        let mut repos = self.read_repos()?;
        let name = r.familiar_name();
        if name == "sha256" {
            return Err(Error::Invalid(
                "refusing to create an ambiguous tag using digest algorithm as name".into(),
            ));
        }
        let key = r.familiar_string();
        let m = repos.repositories.entry(name).or_default();
        let old = m.insert(key, id.to_string());
        if old.as_deref() == Some(id) {
            return Ok(None);
        }
        self.write_repos(&repos)?;
        write_atomic(
            &self.meta_dir(id).join("lastUpdated"),
            now_rfc3339().as_bytes(),
        )?;
        Ok(old)
    }

    pub fn tag(&self, id: &str, r: &Reference) -> Result<Option<String>> {
        let l = self.lock()?;
        self.tag_locked(&l, id, r)
    }

    /// Stores a config as a new image holding the reference on `top` that `op` owns (one is
    /// taken if `op` holds none). If the image exists already, nothing is transferred: the op
    /// releases its references when it ends. Returns (id, created).
    pub fn create_locked(
        &self,
        _lock: &StoreLock,
        op: &mut Op,
        raw: &[u8],
        parent: Option<&str>,
    ) -> Result<(String, bool)> {
        let id = sha256_digest(raw);
        if self.exists(&id) {
            return Ok((id, false));
        }
        let config = ImageConfig::from_bytes(raw)?;
        if let Some(top) = chain_ids(config.diff_ids()).pop() {
            if !op.owns(&top) {
                self.layers.retain(&top)?;
                op.took(&top)?;
            }
            // Metadata first: the content file is what makes the image exist.
            if let Some(p) = parent {
                write_atomic(&self.meta_dir(&id).join("parent"), p.as_bytes())?;
            }
            write_atomic(&self.content_path(&id), raw)?;
            op.transferred(&top)?;
        } else {
            if let Some(p) = parent {
                write_atomic(&self.meta_dir(&id).join("parent"), p.as_bytes())?;
            }
            write_atomic(&self.content_path(&id), raw)?;
        }
        Ok((id, true))
    }

    /// Total size of an image's layers (Docker's Size).
    pub fn size(&self, img: &Image) -> u64 {
        chain_ids(img.config.diff_ids())
            .iter()
            .filter_map(|c| self.layers.layer_size(c).ok())
            .sum()
    }

    /// Sizes of each layer, bottom first (0 for missing ones).
    pub fn layer_sizes(&self, img: &Image) -> Vec<u64> {
        chain_ids(img.config.diff_ids())
            .iter()
            .map(|c| self.layers.layer_size(c).unwrap_or(0))
            .collect()
    }

    fn children(&self, id: &str) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for other in self.ids()? {
            let p = self.meta_dir(&other).join("parent");
            if fs::read_to_string(p).is_ok_and(|s| s.trim() == id) {
                out.push(other);
            }
        }
        Ok(out)
    }

    /// Removes the image record and releases its top layer. Caller holds the lock and has
    /// removed its references.
    fn delete_image(&self, img: &Image, out: &mut Vec<DeleteItem>) -> Result<()> {
        // The content file goes first: once it is gone the image no longer exists.
        match fs::remove_file(self.content_path(&img.id)) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(format!("removing image {}", img.id))(e)),
        }
        let _ = fs::remove_dir_all(self.meta_dir(&img.id));
        out.push(DeleteItem::Deleted(img.id.clone()));
        if let Some(top) = img.top_layer() {
            for chain in self.layers.release(&top)? {
                out.push(DeleteItem::Deleted(chain));
            }
        }
        Ok(())
    }

    fn remove_refs(&self, repos: &mut Repositories, refs: &[Reference], out: &mut Vec<DeleteItem>) {
        for r in refs {
            let name = r.familiar_name();
            if let Some(m) = repos.repositories.get_mut(&name) {
                if m.remove(&r.familiar_string()).is_some() {
                    out.push(DeleteItem::Untagged(r.familiar_string()));
                }
                if m.is_empty() {
                    repos.repositories.remove(&name);
                }
            }
        }
    }

    /// `docker rmi`: untags a reference and deletes the image when nothing refers to it any
    /// more; by ID it removes every tag (all in one repository unless `force`).
    /// `is_used(id)` tells whether a container uses the image.
    pub fn remove(
        &self,
        ref_or_id: &str,
        force: bool,
        is_used: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<DeleteItem>> {
        self.remove_with(ref_or_id, force, is_used, is_used)
    }

    /// [`ImageStore::remove`], told also which images a *running* container uses: as dockerd,
    /// a forced removal deletes an image that only stopped containers use (they keep its ID)
    /// and only untags one a running container uses.
    pub fn remove_with(
        &self,
        ref_or_id: &str,
        force: bool,
        is_used: &dyn Fn(&str) -> bool,
        is_used_running: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<DeleteItem>> {
        let lock = self.lock()?;
        let id = self.resolve(ref_or_id)?;
        let img = self.get(&id)?;
        let mut repos = self.read_repos()?;
        let mut out = Vec::new();
        let all_refs: Vec<Reference> = img.tags.iter().chain(&img.digests).cloned().collect();
        let by_id = Self::is_id_prefix(&id, ref_or_id)
            && Reference::parse(ref_or_id)
                .map(|r| !all_refs.contains(&r))
                .unwrap_or(true);
        let short = short_id(&id);
        if !by_id {
            let r = Reference::parse(ref_or_id)?;
            let mut to_remove = vec![r.clone()];
            let mut remaining: Vec<&Reference> = all_refs.iter().filter(|x| **x != r).collect();
            // Like Docker: with the last tag of a repository go that repository's digest
            // references (else `rmi repo:tag` would leave the image held by `repo@sha256:...`).
            if r.digest.is_none()
                && !remaining
                    .iter()
                    .any(|x| x.digest.is_none() && x.name() == r.name())
            {
                let (same, rest): (Vec<&Reference>, Vec<&Reference>) = remaining
                    .into_iter()
                    .partition(|x| x.digest.is_some() && x.name() == r.name());
                to_remove.extend(same.into_iter().cloned());
                remaining = rest;
            }
            if !remaining.is_empty() {
                self.remove_refs(&mut repos, &to_remove, &mut out);
                self.write_repos(&repos)?;
                return Ok(out);
            }
            if is_used(&id) && !force {
                return Err(Error::Conflict(format!(
                    "conflict: unable to remove repository reference \"{ref_or_id}\" (must force) - container is using its referenced image {short}"
                )));
            }
            self.check_children(&id, &short)?;
            self.remove_refs(&mut repos, &to_remove, &mut out);
            self.write_repos(&repos)?;
        } else {
            let names: BTreeSet<String> = all_refs.iter().map(|r| r.name()).collect();
            if names.len() > 1 && !force {
                return Err(Error::Conflict(format!(
                    "conflict: unable to delete {short} (must be forced) - image is referenced in multiple repositories"
                )));
            }
            if is_used(&id) {
                return Err(Error::Conflict(format!(
                    "conflict: unable to delete {short} (must be forced) - image is being used by a container"
                )));
            }
            self.check_children(&id, &short)?;
            self.remove_refs(&mut repos, &all_refs, &mut out);
            self.write_repos(&repos)?;
        }
        if is_used_running(&id) {
            // Forced untag of an image a running container uses: the image stays (dangling).
            return Ok(out);
        }
        self.delete_image(&img, &mut out)?;
        drop(lock);
        Ok(out)
    }

    fn check_children(&self, id: &str, short: &str) -> Result<()> {
        if !self.children(id)?.is_empty() {
            return Err(Error::Conflict(format!(
                "conflict: unable to delete {short} (cannot be forced) - image has dependent child images"
            )));
        }
        Ok(())
    }

    /// `docker image prune`: dangling images (or, with `all`, every image no container uses).
    /// Returns what was done and the bytes reclaimed.
    pub fn prune(
        &self,
        all: bool,
        is_used: &dyn Fn(&str) -> bool,
    ) -> Result<(Vec<DeleteItem>, u64)> {
        self.prune_matching(all, is_used, &|_| true)
    }

    /// [`ImageStore::prune`] of the images `select` accepts (`image prune --filter`).
    pub fn prune_matching(
        &self,
        all: bool,
        is_used: &dyn Fn(&str) -> bool,
        select: &dyn Fn(&Image) -> bool,
    ) -> Result<(Vec<DeleteItem>, u64)> {
        let lock = self.lock()?;
        let mut out = Vec::new();
        let mut reclaimed = 0;
        // Children first so that parents become removable.
        let mut imgs = self.images()?;
        imgs.sort_by_key(|i| std::cmp::Reverse(i.config.created_unix()));
        let mut repos = self.read_repos()?;
        for img in imgs {
            if is_used(&img.id) || !self.children(&img.id)?.is_empty() {
                continue;
            }
            if !all && !img.is_dangling() {
                continue;
            }
            if !select(&img) {
                continue;
            }
            let sizes: u64 = self.size(&img);
            let refs: Vec<Reference> = img.tags.iter().chain(&img.digests).cloned().collect();
            self.remove_refs(&mut repos, &refs, &mut out);
            self.write_repos(&repos)?;
            let before = out.len();
            self.delete_image(&img, &mut out)?;
            // Only count bytes of layers that actually went away.
            if out.len() > before + 1 {
                reclaimed += sizes;
            }
        }
        drop(lock);
        Ok((out, reclaimed))
    }

    /// Starts an operation that takes layer references (journaled until it ends).
    ///
    /// Layers half-unpacked by a pull, load or commit that was killed (staging dirs whose
    /// flock is free) are removed first: the retry of a killed load whose layers all got
    /// registered unpacks nothing, so without this they stayed until `system check --repair`.
    pub fn begin(&self) -> Result<Op<'_>> {
        self.layers.sweep_staging();
        Op::new(self)
    }

    /// Releases the references journaled by operations whose process died, and removes their
    /// spool files. Errors are reported, not fatal: the command at hand should still run.
    fn recover(&self) {
        let tmp = self.base.join("tmp");
        let Ok(rd) = fs::read_dir(&tmp) else { return };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            let dir = e.path();
            if name.starts_with(".new-") {
                // A directory that never became an op: its creator died before the rename
                // (an op in creation holds its lock too, so only take abandoned ones).
                if let Ok(f) = File::open(dir.join("lock")) {
                    if f.try_lock().is_err() {
                        continue;
                    }
                }
                let _ = fs::remove_dir_all(&dir);
                continue;
            }
            if !name.starts_with("op-") {
                continue;
            }
            let Ok(f) = File::open(dir.join("lock")) else {
                let _ = fs::remove_dir_all(&dir);
                continue;
            };
            if f.try_lock().is_err() {
                continue; // alive
            }
            let journal = fs::read_to_string(dir.join("journal")).unwrap_or_default();
            let mut ok = true;
            for chain in outstanding(&journal) {
                if let Err(e) = self.layers.release(&chain) {
                    if !matches!(e, storage::Error::LayerNotFound(_)) {
                        eprintln!(
                            "warning: releasing layer {chain} of an interrupted operation: {e}"
                        );
                        ok = false;
                    }
                }
            }
            if ok {
                let _ = fs::remove_dir_all(&dir);
            }
        }
    }
}

/// Chain IDs taken and neither released nor handed to an image, from a journal's lines
/// (`took X`, `released X`, `transferred X`).
fn outstanding(journal: &str) -> Vec<String> {
    let mut held: Vec<String> = Vec::new();
    for line in journal.lines() {
        match line.split_once(' ') {
            Some(("took", c)) => held.push(c.to_string()),
            Some(("released" | "transferred", c)) => {
                if let Some(i) = held.iter().position(|x| x == c) {
                    held.remove(i);
                }
            }
            _ => {}
        }
    }
    held
}

/// An operation holding layer references: every reference is journaled (fsync'd) so a
/// killed process's references can be released later. Owns a private directory for spool
/// files. On drop, releases what it still holds and removes its directory.
pub struct Op<'a> {
    store: &'a ImageStore,
    dir: PathBuf,
    _lock: File,
    journal: File,
    held: Vec<String>,
}

impl<'a> Op<'a> {
    fn new(store: &'a ImageStore) -> Result<Op<'a>> {
        let tmp = store.base.join("tmp");
        let suffix = unique_suffix();
        let new = tmp.join(format!(".new-{suffix}"));
        let dir = tmp.join(format!("op-{suffix}"));
        let io = Error::io(format!("creating operation directory {}", dir.display()));
        let (lock, journal) = (|| {
            fs::create_dir_all(&new)?;
            let lock = File::create(new.join("lock"))?;
            lock.lock()?;
            let journal = OpenOptions::new()
                .create(true)
                .append(true)
                .open(new.join("journal"))?;
            fs::rename(&new, &dir)?;
            Ok((lock, journal))
        })()
        .map_err(|e| {
            let _ = fs::remove_dir_all(&new);
            io(e)
        })?;
        Ok(Op {
            store,
            dir,
            _lock: lock,
            journal,
            held: Vec::new(),
        })
    }

    /// A private directory inside the store for spool files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn log(&mut self, what: &str, chain: &str) -> Result<()> {
        (|| {
            writeln!(self.journal, "{what} {chain}")?;
            self.journal.sync_data()
        })()
        .map_err(Error::io("writing the operation journal"))
    }

    /// Records one reference on `chain` now owned by this operation.
    pub fn took(&mut self, chain: &str) -> Result<()> {
        self.held.push(chain.to_string());
        self.log("took", chain)
    }

    pub fn owns(&self, chain: &str) -> bool {
        self.held.iter().any(|c| c == chain)
    }

    fn transferred(&mut self, chain: &str) -> Result<()> {
        if let Some(i) = self.held.iter().position(|c| c == chain) {
            self.held.remove(i);
        }
        self.log("transferred", chain)
    }

    /// Releases everything still held (also done on drop).
    pub fn release_all(&mut self) -> Result<()> {
        let mut first_err = None;
        while let Some(c) = self.held.pop() {
            match self.store.layers.release(&c) {
                Ok(_) => {
                    let _ = self.log("released", &c);
                }
                Err(e) => {
                    let _ = self.log("released", &c);
                    first_err.get_or_insert(e);
                }
            }
        }
        match first_err {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }
}

impl Drop for Op<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.release_all() {
            eprintln!("warning: releasing layers: {e}");
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_outstanding() {
        let j = "took a\ntook b\ntook a\ntransferred a\nreleased b\ntook c\n";
        assert_eq!(outstanding(j), vec!["a".to_string(), "c".to_string()]);
        assert!(outstanding("").is_empty());
    }

    #[test]
    fn atomic_write_replaces() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x/y.json");
        write_atomic(&p, b"1").unwrap();
        write_atomic(&p, b"22").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"22");
        assert_eq!(fs::read_dir(p.parent().unwrap()).unwrap().count(), 1);
    }
}
