//! Image archives: `save` writes a docker-archive (docker 20.10 layout, manifest first so a
//! reader can stream it); `load` reads docker-archives (20.10 and the OCI-style layout of
//! docker 25+), OCI image layout directories and OCI archives.
//!
//! Load paths:
//! - a seekable uncompressed tar file is indexed first (headers only), then each layer is
//!   registered straight from its offset in the file: nothing is copied; an image's new layers
//!   are unpacked concurrently (where the storage driver allows) and committed in order;
//! - a stream (stdin, compressed file) is read once: a layer whose place in the image is
//!   already known (manifest seen, parent registered) goes straight to the layer store, others
//!   are spooled to files in the operation's directory inside the store (never to RAM);
//! - a directory is read in place.
//!
//! The image becomes visible (config stored, tags written) only after all its layers are
//! registered and verified; on failure the operation releases every layer reference it took.

use crate::config::{chain_ids, ContainerConfig, ImageConfig};
use crate::reference::{valid_digest, Reference};
use crate::store::{ImageStore, Op};
use crate::{sha256_digest, Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Entries up to this size are held in memory while streaming (configs, manifests, tiny layers).
const SMALL: u64 = 1 << 20;
/// Total memory for small entries before they are spooled too.
const MEM_BUDGET: u64 = 64 << 20;

fn invalid(msg: impl Into<String>) -> Error {
    Error::Invalid(msg.into())
}

#[derive(Serialize, Deserialize)]
struct ManifestItem {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
}

/// A reader that hashes what passes through.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    n: u64,
}

impl<R: Read> HashingReader<R> {
    fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            n: 0,
        }
    }
    fn digest(self) -> (String, u64) {
        (
            format!("sha256:{}", hex::encode(self.hasher.finalize())),
            self.n,
        )
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.n += n as u64;
        Ok(n)
    }
}

// ---------------------------------------------------------------------------------------------
// save

/// Writes a docker-archive of `names` (references or IDs) to `out`. A name without a tag saves
/// every tag of that repository, an ID saves the image untagged (like `docker save`).
pub fn save(store: &ImageStore, names: &[String], out: &mut dyn Write) -> Result<()> {
    // (image id, tags) in the order given, merged by image.
    let mut order: Vec<(String, Vec<Reference>)> = Vec::new();
    let images = store.images()?;
    for name in names {
        // A repository name alone saves every tag of that repository.
        if let Ok(r) = Reference::parse_normalized(name) {
            let name_only = r.tag.is_none() && r.digest.is_none();
            let tagged: Vec<(String, Reference)> = images
                .iter()
                .flat_map(|i| i.tags.iter().map(move |t| (i.id.clone(), t.clone())))
                .filter(|(_, t)| t.name() == r.name())
                .collect();
            if name_only && !tagged.is_empty() {
                for (id, t) in tagged {
                    push_tag(&mut order, &id, t);
                }
                continue;
            }
        }
        let id = store.resolve(name)?;
        let mut tags = Vec::new();
        let is_id = {
            let p = name.strip_prefix("sha256:").unwrap_or(name);
            id.strip_prefix("sha256:").unwrap_or(&id).starts_with(p)
                && Reference::parse(name)
                    .map(|r| !images.iter().any(|i| i.tags.contains(&r)))
                    .unwrap_or(true)
        };
        if !is_id {
            let r = Reference::parse(name)?;
            if r.tag.is_some() {
                tags.push(r.with_tag_only());
            }
        }
        match order.iter_mut().find(|(i, _)| *i == id) {
            Some((_, t)) => {
                for x in tags {
                    if !t.contains(&x) {
                        t.push(x)
                    }
                }
            }
            None => order.push((id, tags)),
        }
    }

    let mut op = store.begin()?;
    // Keep the layers alive while saving (a concurrent rmi must not pull them away).
    let mut configs: Vec<(Vec<u8>, ImageConfig)> = Vec::new();
    for (id, _) in &order {
        let img = store.get(id)?;
        if let Some(top) = img.top_layer() {
            store.layers().retain(&top)?;
            op.took(&top)?;
        }
        configs.push((img.raw, img.config));
    }

    // Spool each distinct layer once: the tar header needs its size before the data.
    struct Spooled {
        path: PathBuf,
        size: u64,
        digest: String,
    }
    let mut spooled: HashMap<String, Spooled> = HashMap::new();
    for (_, cfg) in &configs {
        for chain in chain_ids(cfg.diff_ids()) {
            if spooled.contains_key(&chain) {
                continue;
            }
            let path = op.dir().join(format!("layer-{}", spooled.len()));
            let mut r = HashingReader::new(store.layers().layer_tar(&chain)?);
            let mut f = File::create(&path).map_err(Error::io("creating a spool file"))?;
            io::copy(&mut r, &mut f).map_err(Error::io(format!("reading layer {chain}")))?;
            let (digest, size) = r.digest();
            spooled.insert(chain, Spooled { path, size, digest });
        }
    }

    let mut tar = tar::Builder::new(out);
    let mut manifest = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut written_layers: HashMap<String, ()> = HashMap::new();
    let mut layer_entries: Vec<(String, String, Vec<u8>, i64)> = Vec::new(); // v1, chain, json, mtime
    let mut config_entries: Vec<(String, Vec<u8>, i64)> = Vec::new();
    for ((_, tags), (raw, cfg)) in order.iter().zip(&configs) {
        let chains = chain_ids(cfg.diff_ids());
        // A layer tar that does not hash to its diff ID (the layer store could not reproduce
        // the original bytes) would be refused by `docker load`: rewrite the config then.
        let actual: Vec<String> = chains.iter().map(|c| spooled[c].digest.clone()).collect();
        let raw: Vec<u8> = if actual.as_slice() != cfg.diff_ids() {
            let mut v: Value =
                serde_json::from_slice(raw).map_err(|e| invalid(format!("image config: {e}")))?;
            v["rootfs"]["diff_ids"] = serde_json::json!(actual);
            eprintln!(
                "warning: the layer store did not reproduce the original layer tars; the saved image gets a new ID"
            );
            serde_json::to_vec(&v).expect("serializable")
        } else {
            raw.clone()
        };
        let id = sha256_digest(&raw);
        let hex = id.trim_start_matches("sha256:").to_string();
        let mtime = cfg.created_unix();
        let mut parent_v1: Option<String> = None;
        let mut layers = Vec::new();
        for (i, chain) in chains.iter().enumerate() {
            let top = i + 1 == chains.len();
            let created = if top {
                cfg.created.clone().unwrap_or_default()
            } else {
                "1970-01-01T00:00:00Z".into()
            };
            let v1_input = serde_json::json!({
                "created": created,
                "layer_id": chain,
                "parent": parent_v1.as_ref().map(|p| format!("sha256:{p}")),
                "config": if top { Some(&hex) } else { None },
            });
            let v1 = short_hex(&sha256_digest(v1_input.to_string().as_bytes()));
            let mut j = serde_json::Map::new();
            j.insert("id".into(), v1.clone().into());
            if let Some(p) = &parent_v1 {
                j.insert("parent".into(), p.clone().into());
            }
            if top {
                for (k, val) in v1_fields(cfg) {
                    j.insert(k, val);
                }
            } else {
                j.insert("created".into(), created.into());
                j.insert(
                    "container_config".into(),
                    serde_json::to_value(ContainerConfig::default()).unwrap(),
                );
            }
            if !cfg.os.is_empty() {
                j.insert("os".into(), cfg.os.clone().into());
            }
            if written_layers.insert(v1.clone(), ()).is_none() {
                layer_entries.push((
                    v1.clone(),
                    chain.clone(),
                    serde_json::to_vec(&j).unwrap(),
                    mtime,
                ));
            }
            layers.push(format!("{v1}/layer.tar"));
            parent_v1 = Some(v1);
        }
        for t in tags {
            repositories.entry(t.familiar_name()).or_default().insert(
                t.tag.clone().unwrap_or_default(),
                parent_v1.clone().unwrap_or_default(),
            );
        }
        manifest.push(ManifestItem {
            config: format!("{hex}.json"),
            repo_tags: Some(tags.iter().map(|t| t.familiar_string()).collect()),
            layers,
        });
        config_entries.push((format!("{hex}.json"), raw, mtime));
    }

    let io_err = |e: io::Error| Error::io("writing the archive")(e);
    let file = |tar: &mut tar::Builder<&mut dyn Write>, name: &str, data: &[u8], mtime: i64| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(mtime.max(0) as u64);
        h.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut h, name, data)
    };
    // Metadata first: lets a streaming reader register layers as they come.
    file(
        &mut tar,
        "manifest.json",
        &serde_json::to_vec(&manifest).unwrap(),
        0,
    )
    .map_err(io_err)?;
    if !repositories.is_empty() {
        file(
            &mut tar,
            "repositories",
            &serde_json::to_vec(&repositories).unwrap(),
            0,
        )
        .map_err(io_err)?;
    }
    for (name, raw, mtime) in &config_entries {
        file(&mut tar, name, raw, *mtime).map_err(io_err)?;
    }
    for (v1, chain, json, mtime) in &layer_entries {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        h.set_mtime(mtime.max(&0).unsigned_abs());
        tar.append_data(&mut h, format!("{v1}/"), io::empty())
            .map_err(io_err)?;
        file(&mut tar, &format!("{v1}/VERSION"), b"1.0", *mtime).map_err(io_err)?;
        file(&mut tar, &format!("{v1}/json"), json, *mtime).map_err(io_err)?;
        let sp = &spooled[chain];
        let f = File::open(&sp.path).map_err(Error::io("reading a spool file"))?;
        let mut h = tar::Header::new_gnu();
        h.set_size(sp.size);
        h.set_mode(0o644);
        h.set_mtime(mtime.max(&0).unsigned_abs());
        h.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut h, format!("{v1}/layer.tar"), BufReader::new(f))
            .map_err(io_err)?;
    }
    tar.into_inner().map_err(io_err)?.flush().map_err(io_err)?;
    drop(op);
    Ok(())
}

fn push_tag(order: &mut Vec<(String, Vec<Reference>)>, id: &str, t: Reference) {
    match order.iter_mut().find(|(i, _)| i == id) {
        Some((_, tags)) => {
            if !tags.contains(&t) {
                tags.push(t)
            }
        }
        None => order.push((id.to_string(), vec![t])),
    }
}

fn short_hex(d: &str) -> String {
    d.trim_start_matches("sha256:").to_string()
}

/// The V1Image fields of a config (the top layer's `json` in a docker-archive).
fn v1_fields(cfg: &ImageConfig) -> Vec<(String, Value)> {
    let v = ImageConfig {
        rootfs: None,
        history: Vec::new(),
        extra: Default::default(),
        id: String::new(),
        parent: String::new(),
        ..cfg.clone()
    };
    match serde_json::to_value(v) {
        Ok(Value::Object(m)) => m.into_iter().collect(),
        _ => Vec::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// load: where the bytes of an archive entry are

#[derive(Clone)]
enum Blob {
    Mem(std::sync::Arc<Vec<u8>>),
    /// A byte range of a file (the indexed archive, a spool file, a file of a directory).
    File {
        path: PathBuf,
        offset: u64,
        len: u64,
    },
    /// A (sym or hard) link to another entry.
    Link(String),
}

#[derive(Default)]
struct Entries {
    map: HashMap<String, Blob>,
}

/// `./a//b/` → `a/b`
fn clean(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    parts.join("/")
}

impl Entries {
    fn resolve(&self, path: &str) -> Option<&Blob> {
        let mut p = clean(path);
        for _ in 0..16 {
            match self.map.get(&p)? {
                Blob::Link(t) => p = t.clone(),
                b => return Some(b),
            }
        }
        None
    }

    fn has(&self, path: &str) -> bool {
        self.resolve(path).is_some()
    }

    fn open(&self, path: &str) -> Result<Option<Box<dyn Read + '_>>> {
        Ok(match self.resolve(path) {
            None => None,
            Some(Blob::Mem(b)) => Some(Box::new(io::Cursor::new(b.as_slice()))),
            Some(Blob::File {
                path: f,
                offset,
                len,
            }) => {
                let mut file =
                    File::open(f).map_err(Error::io(format!("opening {}", f.display())))?;
                file.seek(SeekFrom::Start(*offset))
                    .map_err(Error::io(format!("reading {}", f.display())))?;
                Some(Box::new(BufReader::with_capacity(1 << 20, file.take(*len))))
            }
            Some(Blob::Link(_)) => None,
        })
    }

    fn read_small(&self, path: &str) -> Result<Option<Vec<u8>>> {
        let Some(mut r) = self.open(path)? else {
            return Ok(None);
        };
        let mut v = Vec::new();
        (&mut r)
            .take(64 << 20)
            .read_to_end(&mut v)
            .map_err(Error::io(format!("reading {path}")))?;
        Ok(Some(v))
    }
}

// ---------------------------------------------------------------------------------------------
// load: what to register

#[derive(Debug, Clone)]
struct PlannedLayer {
    path: String,
    /// The blob digest to verify (OCI), if any.
    blob_digest: Option<String>,
}

#[derive(Debug, Clone)]
struct PlannedImage {
    config: Vec<u8>,
    diff_ids: Vec<String>,
    layers: Vec<PlannedLayer>,
    tags: Vec<Reference>,
}

enum PlanError {
    /// A file the plan needs has not been seen (yet).
    Missing(String),
    Bad(Error),
}

impl From<Error> for PlanError {
    fn from(e: Error) -> Self {
        PlanError::Bad(e)
    }
}

fn need(entries: &Entries, path: &str) -> std::result::Result<Vec<u8>, PlanError> {
    entries
        .read_small(path)?
        .ok_or_else(|| PlanError::Missing(path.to_string()))
}

fn blob_path(digest: &str) -> std::result::Result<String, PlanError> {
    if !valid_digest(digest) {
        return Err(PlanError::Bad(invalid(format!(
            "invalid digest {digest:?} in archive"
        ))));
    }
    let (alg, hex) = digest.split_once(':').unwrap();
    Ok(format!("blobs/{alg}/{hex}"))
}

fn plan_image(
    config: Vec<u8>,
    layers: Vec<PlannedLayer>,
    tags: Vec<Reference>,
) -> Result<PlannedImage> {
    let cfg = ImageConfig::from_bytes(&config)?;
    let diff_ids = cfg.diff_ids().to_vec();
    if diff_ids.len() != layers.len() {
        return Err(invalid(format!(
            "invalid archive: the image config lists {} layers, the manifest {}",
            diff_ids.len(),
            layers.len()
        )));
    }
    Ok(PlannedImage {
        config,
        diff_ids,
        layers,
        tags,
    })
}

const INDEX_TYPES: [&str; 2] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/// Builds the list of images to load from `manifest.json` (docker-archive) or `index.json`
/// (OCI layout).
fn plan(entries: &Entries) -> std::result::Result<Vec<PlannedImage>, PlanError> {
    if entries.has("manifest.json") {
        let items: Vec<ManifestItem> = serde_json::from_slice(&need(entries, "manifest.json")?)
            .map_err(|e| invalid(format!("invalid manifest.json: {e}")))?;
        let mut out = Vec::new();
        for it in items {
            let config = need(entries, &it.config)?;
            let mut tags = Vec::new();
            for t in it.repo_tags.unwrap_or_default() {
                tags.push(
                    Reference::parse(&t)
                        .map_err(|e| invalid(format!("invalid tag {t:?} in manifest.json: {e}")))?,
                );
            }
            let layers = it
                .layers
                .iter()
                .map(|l| PlannedLayer {
                    path: clean(l),
                    // docker 25+ names layers blobs/sha256/<hex>: the name is a digest to check.
                    blob_digest: clean(l)
                        .strip_prefix("blobs/")
                        .map(|s| s.replacen('/', ":", 1))
                        .filter(|d| valid_digest(d)),
                })
                .collect();
            out.push(plan_image(config, layers, tags)?);
        }
        return Ok(out);
    }
    if entries.has("index.json") {
        let index: Value = serde_json::from_slice(&need(entries, "index.json")?)
            .map_err(|e| invalid(format!("invalid index.json: {e}")))?;
        let mut out = Vec::new();
        oci_index(entries, &index, &mut out, 0)?;
        return Ok(out);
    }
    Err(PlanError::Missing("manifest.json or index.json".into()))
}

fn oci_index(
    entries: &Entries,
    index: &Value,
    out: &mut Vec<PlannedImage>,
    depth: u32,
) -> std::result::Result<(), PlanError> {
    if depth > 4 {
        return Err(invalid("OCI index nesting too deep").into());
    }
    let empty = Vec::new();
    let manifests = index["manifests"].as_array().unwrap_or(&empty);
    let arch = crate::import::host_architecture();
    for desc in manifests {
        let digest = desc["digest"].as_str().unwrap_or_default();
        let media = desc["mediaType"].as_str().unwrap_or_default();
        if let Some(p) = desc.get("platform") {
            // Images for other platforms in a multi-platform index are skipped.
            if depth > 0 && (p["os"] != "linux" || p["architecture"] != arch) {
                continue;
            }
        }
        let bytes = need(entries, &blob_path(digest)?)?;
        if sha256_digest(&bytes) != digest {
            return Err(invalid(format!(
                "manifest {digest}: content does not match its digest"
            ))
            .into());
        }
        let m: Value = serde_json::from_slice(&bytes)
            .map_err(|e| invalid(format!("invalid manifest {digest}: {e}")))?;
        let mt = m["mediaType"].as_str().unwrap_or(media);
        if INDEX_TYPES.contains(&mt) || m.get("manifests").is_some() {
            let before = out.len();
            oci_index(entries, &m, out, depth + 1)?;
            tag_new(desc, &mut out[before..]);
            continue;
        }
        let cdigest = m["config"]["digest"].as_str().unwrap_or_default();
        let config = need(entries, &blob_path(cdigest)?)?;
        if sha256_digest(&config) != cdigest {
            return Err(invalid(format!(
                "config {cdigest}: content does not match its digest"
            ))
            .into());
        }
        let mut layers = Vec::new();
        for l in m["layers"].as_array().unwrap_or(&empty) {
            let d = l["digest"].as_str().unwrap_or_default();
            layers.push(PlannedLayer {
                path: blob_path(d)?,
                blob_digest: Some(d.to_string()),
            });
        }
        let mut img = plan_image(config, layers, Vec::new())?;
        tag_new(desc, std::slice::from_mut(&mut img));
        out.push(img);
    }
    Ok(())
}

/// Tags from a descriptor's annotations: `io.containerd.image.name` (docker 25+) or a full
/// reference in `org.opencontainers.image.ref.name`. A bare tag there names no repository, so
/// the image stays untagged.
fn tag_new(desc: &Value, imgs: &mut [PlannedImage]) {
    let a = &desc["annotations"];
    let name = a["io.containerd.image.name"].as_str().or_else(|| {
        a["org.opencontainers.image.ref.name"]
            .as_str()
            .filter(|n| n.contains(['/', ':', '@']))
    });
    if let Some(r) = name.and_then(|n| Reference::parse(n).ok()) {
        for i in imgs {
            if !i.tags.contains(&r) {
                i.tags.push(r.clone());
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// load: registering

struct Loader<'s, 'o> {
    store: &'s ImageStore,
    op: &'o mut Op<'s>,
    /// (layer path, parent chain) → chain registered by this load.
    done: HashMap<(String, Option<String>), String>,
}

impl Loader<'_, '_> {
    /// Registers (or reuses) layer `idx` of `img` reading it from `r`.
    fn register(
        &mut self,
        img: &PlannedImage,
        idx: usize,
        parent: Option<&str>,
        r: Option<&mut dyn Read>,
        entries: &Entries,
    ) -> Result<String> {
        let l = &img.layers[idx];
        let key = (l.path.clone(), parent.map(str::to_string));
        if let Some(c) = self.done.get(&key) {
            return Ok(c.clone());
        }
        let diff = &img.diff_ids[idx];
        let chain = match parent {
            None => diff.clone(),
            Some(p) => sha256_digest(format!("{p} {diff}").as_bytes()),
        };
        // Already stored (shared with another image): take a reference, skip the bytes.
        if self.store.layers().get(&chain).is_ok() {
            if let Ok(layer) = self.store.layers().retain(&chain) {
                self.op.took(&layer.chain_id)?;
                self.done.insert(key, chain.clone());
                return Ok(chain);
            }
        }
        let mut opened;
        let r: &mut dyn Read = match r {
            Some(r) => r,
            None => {
                opened = entries.open(&l.path)?.ok_or_else(|| {
                    invalid(format!("invalid archive: layer {} is missing", l.path))
                })?;
                &mut opened
            }
        };
        let mut hr = HashingReader::new(r);
        let layer = self.store.layers().register(&mut hr, parent, Some(diff))?;
        self.op.took(&layer.chain_id)?;
        // Drain what the unpacker left (tar padding) so the digest covers the whole blob.
        io::copy(&mut hr, &mut io::sink()).map_err(Error::io(format!("reading {}", l.path)))?;
        if let Some(want) = &l.blob_digest {
            let (got, _) = hr.digest();
            if &got != want {
                return Err(invalid(format!(
                    "layer {}: content digest {got} does not match {want}",
                    l.path
                )));
            }
        }
        if layer.diff_id != *diff {
            return Err(invalid(format!(
                "invalid diffID for layer {idx}: expected {diff:?}, got {:?}",
                layer.diff_id
            )));
        }
        self.done.insert(key, layer.chain_id.clone());
        Ok(layer.chain_id)
    }

    /// Registers all layers of `img`: the stored prefix by reference, the rest unpacked
    /// concurrently where the driver allows it and committed in order.
    fn register_image(&mut self, img: &PlannedImage, entries: &Entries) -> Result<()> {
        let n = img.layers.len();
        let chains = chain_ids(&img.diff_ids);
        let layers = self.store.layers();
        let mut parent: Option<String> = None;
        let mut k = 0;
        while k < n && layers.get(&chains[k]).is_ok() {
            parent = Some(self.register(img, k, parent.as_deref(), None, entries)?);
            k += 1;
        }
        if k == n {
            return Ok(());
        }
        // register returned chains[k - 1] (diff IDs verified): the rest builds on `chains`.
        let parent_of = |i: usize| {
            if i == 0 {
                None
            } else {
                Some(chains[i - 1].as_str())
            }
        };
        storage::ordered_parallel(
            n - k,
            layers.unpack_threads(n - k),
            |j| unpack_layer(layers, img, k + j, parent_of(k + j), entries),
            |j, u| {
                let i = k + j;
                let layer = layers.commit_unpacked(u, parent_of(i), Some(&img.diff_ids[i]))?;
                self.op.took(&layer.chain_id)?;
                let key = (img.layers[i].path.clone(), parent_of(i).map(str::to_string));
                self.done.insert(key, layer.chain_id);
                Ok(())
            },
        )
    }

    /// Registers every layer not registered yet, then stores the images and their tags.
    fn finish(mut self, plan: &[PlannedImage], entries: &Entries) -> Result<Vec<String>> {
        for img in plan {
            self.register_image(img, entries)?;
        }
        let lock = self.store.lock()?;
        let mut lines = Vec::new();
        for img in plan {
            let (id, _) = self
                .store
                .create_locked(&lock, self.op, &img.config, None)?;
            if img.tags.is_empty() {
                lines.push(format!("Loaded image ID: {id}"));
            }
            for t in &img.tags {
                if let Some(old) = self.store.tag_locked(&lock, &id, t)? {
                    lines.push(format!(
                        "The image {} already exists, renaming the old one with ID {old} to empty string",
                        t.familiar_string()
                    ));
                }
                lines.push(format!("Loaded image: {}", t.familiar_string()));
            }
        }
        drop(lock);
        self.op.release_all()?;
        Ok(lines)
    }
}

/// Unpacks layer `idx` of `img` from the archive (not committed yet), checking its blob digest.
fn unpack_layer(
    layers: &storage::Store,
    img: &PlannedImage,
    idx: usize,
    parent: Option<&str>,
    entries: &Entries,
) -> Result<storage::Unpacked> {
    let l = &img.layers[idx];
    let mut r = entries
        .open(&l.path)?
        .ok_or_else(|| invalid(format!("invalid archive: layer {} is missing", l.path)))?;
    // An uncompressed blob's digest is its diff ID, which the commit verifies: hash it once.
    let Some(want) = l.blob_digest.as_ref().filter(|b| **b != img.diff_ids[idx]) else {
        return Ok(layers.unpack(&mut r, parent)?);
    };
    let mut hr = HashingReader::new(r);
    let u = layers.unpack(&mut hr, parent)?;
    // Drain what the unpacker left (tar padding) so the digest covers the whole blob.
    io::copy(&mut hr, &mut io::sink()).map_err(Error::io(format!("reading {}", l.path)))?;
    let (got, _) = hr.digest();
    if &got != want {
        return Err(invalid(format!(
            "layer {}: content digest {got} does not match {want}",
            l.path
        )));
    }
    Ok(u)
}

fn plan_or_error(entries: &Entries) -> Result<Vec<PlannedImage>> {
    match plan(entries) {
        Ok(p) => Ok(p),
        Err(PlanError::Bad(e)) => Err(e),
        Err(PlanError::Missing(what)) => Err(invalid(format!(
            "invalid archive: {what} not found (expected a docker-archive from docker save, an OCI image layout or an OCI archive)"
        ))),
    }
}

enum Compression {
    None,
    Gzip,
    Zstd,
}

fn sniff(head: &[u8]) -> Result<Compression> {
    Ok(match head {
        [0x1f, 0x8b, ..] => Compression::Gzip,
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Compression::Zstd,
        [b'B', b'Z', b'h', ..] => {
            return Err(Error::Unsupported(
                "bzip2-compressed archives are not supported: decompress it first (bunzip2)".into(),
            ))
        }
        [0xfd, b'7', b'z', b'X', b'Z', 0, ..] => {
            return Err(Error::Unsupported(
                "xz-compressed archives are not supported: decompress it first (unxz)".into(),
            ))
        }
        _ => Compression::None,
    })
}

/// Loads images from a file (tar, possibly compressed) or a directory (OCI layout or an
/// unpacked docker-archive). Returns Docker's output lines ("Loaded image: …").
pub fn load_path(store: &ImageStore, path: &Path) -> Result<Vec<String>> {
    let meta = fs::metadata(path).map_err(Error::io(format!("opening {}", path.display())))?;
    if meta.is_dir() {
        let mut entries = Entries::default();
        index_dir(path, path, &mut entries)?;
        let plan = plan_or_error(&entries)?;
        let mut op = store.begin()?;
        let loader = Loader {
            store,
            op: &mut op,
            done: HashMap::new(),
        };
        return loader.finish(&plan, &entries);
    }
    let mut f = File::open(path).map_err(Error::io(format!("opening {}", path.display())))?;
    let mut head = [0u8; 6];
    let n =
        read_full(&mut f, &mut head).map_err(Error::io(format!("reading {}", path.display())))?;
    f.seek(SeekFrom::Start(0)).map_err(Error::io("seeking"))?;
    match sniff(&head[..n])? {
        Compression::None if meta.is_file() => load_indexed(store, path, f),
        _ => load_stream(store, &mut BufReader::new(f)),
    }
}

fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

fn index_dir(root: &Path, dir: &Path, entries: &mut Entries) -> Result<()> {
    for e in fs::read_dir(dir).map_err(Error::io(format!("reading {}", dir.display())))? {
        let e = e.map_err(Error::io(format!("reading {}", dir.display())))?;
        let p = e.path();
        let ft = e.file_type().map_err(Error::io("stat"))?;
        let rel = p.strip_prefix(root).unwrap().to_string_lossy().to_string();
        if ft.is_dir() {
            index_dir(root, &p, entries)?;
        } else if ft.is_file() || ft.is_symlink() {
            let len = fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
            entries.map.insert(
                clean(&rel),
                Blob::File {
                    path: p,
                    offset: 0,
                    len,
                },
            );
        }
    }
    Ok(())
}

fn link_target(entry_path: &str, link: &str, symlink: bool) -> String {
    if symlink && !link.starts_with('/') {
        let dir = entry_path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
        clean(&format!("{dir}/{link}"))
    } else {
        clean(link)
    }
}

/// A seekable plain tar: index the headers, then read each layer from its offset.
fn load_indexed(store: &ImageStore, path: &Path, f: File) -> Result<Vec<String>> {
    let mut entries = Entries::default();
    let mut ar = tar::Archive::new(f);
    let err = |e: io::Error| invalid(format!("invalid archive {}: {e}", path.display()));
    for e in ar.entries_with_seek().map_err(err)? {
        let e = e.map_err(err)?;
        let name = clean(&String::from_utf8_lossy(&e.path_bytes()));
        match e.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                entries.map.insert(
                    name,
                    Blob::File {
                        path: path.to_path_buf(),
                        offset: e.raw_file_position(),
                        len: e.size(),
                    },
                );
            }
            t @ (tar::EntryType::Symlink | tar::EntryType::Link) => {
                if let Some(l) = e.link_name_bytes() {
                    let target = link_target(&name, &String::from_utf8_lossy(&l), t.is_symlink());
                    entries.map.insert(name, Blob::Link(target));
                }
            }
            _ => {}
        }
    }
    let plan = plan_or_error(&entries)?;
    let mut op = store.begin()?;
    let loader = Loader {
        store,
        op: &mut op,
        done: HashMap::new(),
    };
    loader.finish(&plan, &entries)
}

/// Loads from a stream (stdin or a compressed file), reading it once.
pub fn load_stream(store: &ImageStore, r: &mut dyn Read) -> Result<Vec<String>> {
    let mut br = BufReader::with_capacity(1 << 20, r);
    let mut head = [0u8; 6];
    let n = {
        use io::BufRead;
        let buf = br.fill_buf().map_err(Error::io("reading the archive"))?;
        let n = buf.len().min(6);
        head[..n].copy_from_slice(&buf[..n]);
        n
    };
    if n == 0 {
        return Err(invalid(
            "invalid archive: empty input (use -i FILE or pipe an archive)",
        ));
    }
    let mut input: Box<dyn Read> = match sniff(&head[..n])? {
        Compression::None => Box::new(br),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(br)),
        Compression::Zstd => {
            Box::new(zstd::stream::read::Decoder::with_buffer(br).map_err(Error::io("zstd"))?)
        }
    };
    let mut op = store.begin()?;
    let spool_dir = op.dir().to_path_buf();
    let mut entries = Entries::default();
    let mut plan: Option<Vec<PlannedImage>> = None;
    let mut mem_used = 0u64;
    let mut spools = 0u32;
    let mut loader = Loader {
        store,
        op: &mut op,
        done: HashMap::new(),
    };
    let mut ar = tar::Archive::new(&mut input);
    let err = |e: io::Error| invalid(format!("invalid archive: {e}"));
    for e in ar.entries().map_err(err)? {
        let mut e = e.map_err(err)?;
        let name = clean(&String::from_utf8_lossy(&e.path_bytes()));
        let ty = e.header().entry_type();
        if ty.is_symlink() || ty.is_hard_link() {
            if let Some(l) = e.link_name_bytes() {
                let target = link_target(&name, &String::from_utf8_lossy(&l), ty.is_symlink());
                entries.map.insert(name, Blob::Link(target));
            }
            continue;
        }
        if !ty.is_file() {
            continue;
        }
        // A layer whose place is known and whose parent is in: straight to the layer store.
        if let Some(p) = &plan {
            if let Some((img, idx, parent)) = next_layer(p, &name, &loader.done) {
                loader.register(&p[img], idx, parent.as_deref(), Some(&mut e), &entries)?;
                continue;
            }
        }
        let size = e.size();
        if size <= SMALL && mem_used + size <= MEM_BUDGET {
            let mut v = Vec::with_capacity(size as usize);
            e.read_to_end(&mut v).map_err(err)?;
            mem_used += size;
            entries.map.insert(name, Blob::Mem(std::sync::Arc::new(v)));
        } else {
            let path = spool_dir.join(format!("spool-{spools}"));
            spools += 1;
            let mut f = File::create(&path).map_err(Error::io("creating a spool file"))?;
            let len = io::copy(&mut e, &mut f).map_err(err)?;
            entries.map.insert(
                name,
                Blob::File {
                    path,
                    offset: 0,
                    len,
                },
            );
        }
        if plan.is_none() && (entries.has("manifest.json") || entries.has("index.json")) {
            match self::plan(&entries) {
                Ok(p) => plan = Some(p),
                Err(PlanError::Missing(_)) => {}
                Err(PlanError::Bad(e)) => return Err(e),
            }
        }
    }
    let plan = match plan {
        Some(p) => p,
        None => plan_or_error(&entries)?,
    };
    loader.finish(&plan, &entries)
}

/// The (image, layer index, parent chain) that entry `name` can be registered as now.
fn next_layer(
    plan: &[PlannedImage],
    name: &str,
    done: &HashMap<(String, Option<String>), String>,
) -> Option<(usize, usize, Option<String>)> {
    for (ii, img) in plan.iter().enumerate() {
        let mut parent: Option<String> = None;
        for (li, l) in img.layers.iter().enumerate() {
            let key = (l.path.clone(), parent.clone());
            match done.get(&key) {
                Some(c) => parent = Some(c.clone()),
                None => {
                    if l.path == name {
                        return Some((ii, li, parent));
                    }
                    break;
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_paths() {
        assert_eq!(clean("./a//b/"), "a/b");
        assert_eq!(clean("/manifest.json"), "manifest.json");
        assert_eq!(clean("a/../b"), "b");
        assert_eq!(
            link_target("x/layer.tar", "../y/layer.tar", true),
            "y/layer.tar"
        );
        assert_eq!(
            link_target("x/layer.tar", "y/layer.tar", false),
            "y/layer.tar"
        );
    }

    fn mem(e: &mut Entries, p: &str, b: &[u8]) {
        e.map
            .insert(p.into(), Blob::Mem(std::sync::Arc::new(b.to_vec())));
    }

    #[test]
    fn plans_docker_archive_and_waits_for_missing() {
        let mut e = Entries::default();
        let cfg = br#"{"rootfs":{"type":"layers","diff_ids":["sha256:aa","sha256:bb"]}}"#;
        mem(
            &mut e,
            "manifest.json",
            br#"[{"Config":"c.json","RepoTags":["busybox:latest","x/y:1"],"Layers":["a/layer.tar","b/layer.tar"]}]"#,
        );
        assert!(matches!(plan(&e), Err(PlanError::Missing(p)) if p == "c.json"));
        mem(&mut e, "c.json", cfg);
        let p = plan(&e).ok().unwrap();
        assert_eq!(p[0].layers[1].path, "b/layer.tar");
        assert_eq!(p[0].tags[1].familiar_string(), "x/y:1");
        assert_eq!(p[0].diff_ids[0], "sha256:aa");
        let mut done = HashMap::new();
        assert_eq!(next_layer(&p, "b/layer.tar", &done), None);
        assert_eq!(next_layer(&p, "a/layer.tar", &done), Some((0, 0, None)));
        done.insert(("a/layer.tar".into(), None), "sha256:aa".into());
        assert_eq!(
            next_layer(&p, "b/layer.tar", &done),
            Some((0, 1, Some("sha256:aa".into())))
        );
    }

    #[test]
    fn plan_rejects_layer_count_mismatch() {
        let mut e = Entries::default();
        mem(
            &mut e,
            "manifest.json",
            br#"[{"Config":"c.json","Layers":["a/layer.tar"]}]"#,
        );
        mem(
            &mut e,
            "c.json",
            br#"{"rootfs":{"type":"layers","diff_ids":[]}}"#,
        );
        assert!(matches!(plan(&e), Err(PlanError::Bad(_))));
    }

    #[test]
    fn plans_oci_layout() {
        let mut e = Entries::default();
        let cfg = br#"{"rootfs":{"type":"layers","diff_ids":["sha256:aa"]}}"#.to_vec();
        let cd = sha256_digest(&cfg);
        let layer_d = format!("sha256:{}", "1".repeat(64));
        let m = serde_json::json!({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
            "config":{"digest":cd,"size":cfg.len()},"layers":[{"digest":layer_d,"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip"}]});
        let mb = serde_json::to_vec(&m).unwrap();
        let md = sha256_digest(&mb);
        let idx = serde_json::json!({"schemaVersion":2,"manifests":[{"digest":md,"mediaType":"application/vnd.oci.image.manifest.v1+json",
            "annotations":{"org.opencontainers.image.ref.name":"localhost:5000/x:1"}}]});
        mem(&mut e, "index.json", &serde_json::to_vec(&idx).unwrap());
        mem(&mut e, &format!("blobs/sha256/{}", &md[7..]), &mb);
        mem(&mut e, &format!("blobs/sha256/{}", &cd[7..]), &cfg);
        let p = plan(&e).ok().unwrap();
        assert_eq!(
            p[0].layers[0].blob_digest.as_deref(),
            Some(layer_d.as_str())
        );
        assert_eq!(p[0].tags[0].familiar_string(), "localhost:5000/x:1");
        // A tampered manifest is refused.
        mem(&mut e, &format!("blobs/sha256/{}", &md[7..]), b"{}");
        assert!(matches!(plan(&e), Err(PlanError::Bad(_))));
    }
}
