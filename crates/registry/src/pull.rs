//! `pull`: manifest → config → layers (parallel downloads and unpacks, in-order commits) → image.

use crate::client::{registry_host, Client, RegistryOptions};
use crate::digest::{is_mismatch, VerifyingReader};
use crate::manifest::{self, Descriptor, Parsed, Platform};
use crate::progress::Progress;
use crate::{metadata, short, Error, Result};
use image::{ImageStore, Reference};
use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
use std::sync::Mutex;

/// Bytes per message between a download thread and the registering thread.
const CHUNK: usize = 256 << 10;
/// Messages buffered per layer: a download runs at most CHUNK * BUFFERED bytes (8 MiB) ahead
/// of the layer being unpacked, which bounds memory without a temp copy of any blob.
const BUFFERED: usize = 32;

#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    /// `NAME[:TAG|@DIGEST]`
    pub reference: String,
    /// `--platform os/arch[/variant]`; None = the host's.
    pub platform: Option<String>,
    /// `-a`: every tag of the repository.
    pub all_tags: bool,
    pub registry: RegistryOptions,
    /// Parallel layer downloads; 0 = 3 (Docker's default).
    pub max_concurrent_downloads: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullResult {
    /// Full reference pulled: `docker.io/library/busybox:latest`.
    pub reference: String,
    pub image_id: String,
    /// Digest of the manifest (or manifest list) the reference resolved to.
    pub digest: String,
    /// False when the image was already up to date.
    pub downloaded: bool,
}

/// `berth pull`. Prints Docker's output through `progress`; returns one result per pulled
/// reference (several with `all_tags`).
pub fn pull(
    store: &ImageStore,
    opts: &PullOptions,
    progress: &Progress,
) -> Result<Vec<PullResult>> {
    let mut r = Reference::parse_normalized(&opts.reference)?;
    let platform = match &opts.platform {
        Some(p) if !p.is_empty() => Platform::parse(p)?,
        _ => Platform::host(),
    };
    if opts.all_tags && (r.tag.is_some() || r.digest.is_some()) {
        return Err(Error::Invalid(
            "tag can't be used with --all-tags/-a".into(),
        ));
    }
    let client = Client::connect(&registry_host(&r.domain), None, &opts.registry)
        .map_err(|e| pull_error(e, &r))?;
    let max = if opts.max_concurrent_downloads == 0 {
        3
    } else {
        opts.max_concurrent_downloads
    };
    if opts.all_tags {
        let tags = client.tags(&r.path).map_err(|e| pull_error(e, &r))?;
        let mut out = Vec::new();
        for t in tags {
            let tr = Reference {
                tag: Some(t),
                ..r.clone()
            };
            out.push(pull_one(store, &client, &tr, &platform, progress, max)?);
        }
        return Ok(out);
    }
    if r.tag.is_none() && r.digest.is_none() {
        progress.message("Using default tag: latest");
        r.tag = Some(image::reference::DEFAULT_TAG.to_string());
    }
    Ok(vec![pull_one(
        store, &client, &r, &platform, progress, max,
    )?])
}

/// Docker's wording for a missing or inaccessible repository / manifest.
fn pull_error(e: Error, r: &Reference) -> Error {
    match e {
        Error::Unauthorized(m) => Error::Unauthorized(format!(
            "pull access denied for {}, repository does not exist or may require 'berth login': {m}",
            r.familiar_name()
        )),
        Error::NotFound(m) if m.starts_with("manifest ") => {
            let detail = m.split_once(" not found: ").map(|x| x.1).unwrap_or(&m);
            Error::NotFound(format!(
                "manifest for {} not found: {detail}",
                r.familiar_string()
            ))
        }
        e => e,
    }
}

fn pull_one(
    store: &ImageStore,
    client: &Client,
    r: &Reference,
    platform: &Platform,
    progress: &Progress,
    max: usize,
) -> Result<PullResult> {
    let repo = &r.path;
    let reference = r.digest.clone().or(r.tag.clone()).expect("tag or digest");
    progress.message(&format!("{reference}: Pulling from {repo}"));
    let (body, ct, top_digest) = client
        .get_manifest(repo, &reference)
        .map_err(|e| pull_error(e, r))?;
    let m = match manifest::parse(ct.as_deref(), &body)? {
        Parsed::Manifest(m) => m,
        Parsed::Index(idx) => {
            let d = manifest::select(&idx, platform)?;
            let (b, ct, _) = client.get_manifest(repo, &d.digest)?;
            match manifest::parse(ct.as_deref(), &b)? {
                Parsed::Manifest(m) => m,
                Parsed::Index(_) => {
                    return Err(Error::Unsupported(format!(
                        "{}: nested manifest lists are not supported",
                        r.familiar_string()
                    )))
                }
            }
        }
    };
    let cfg_raw = client.get_blob_bytes(repo, &m.config.digest, manifest::MAX_CONFIG)?;
    let cfg = image::ImageConfig::from_bytes(&cfg_raw)?;
    let diff_ids = cfg.diff_ids().to_vec();
    if diff_ids.len() != m.layers.len() {
        return Err(Error::Invalid(format!(
            "{}: the manifest has {} layers but the image configuration {} has {}",
            r.familiar_string(),
            m.layers.len(),
            m.config.digest,
            diff_ids.len()
        )));
    }
    let chains = image::config::chain_ids(&diff_ids);
    let mut op = store.begin()?;
    let downloaded = fetch_layers(
        store, &mut op, client, repo, &m.layers, &diff_ids, &chains, progress, max,
    )?;

    // Everything is in the store: make the image visible (config, then tags) in one step.
    let before = store.resolve(&r.familiar_string()).ok();
    let lock = store.lock()?;
    let (id, _created) = store.create_locked(&lock, &mut op, &cfg_raw, None)?;
    if r.tag.is_some() {
        store.tag_locked(&lock, &id, &r.with_tag_only())?;
    }
    let by_digest = Reference {
        tag: None,
        digest: Some(top_digest.clone()),
        ..r.clone()
    };
    store.tag_locked(&lock, &id, &by_digest)?;
    for (l, d) in m.layers.iter().zip(&diff_ids) {
        metadata::add(store, d, &l.digest, &r.name());
    }
    drop(lock);
    op.release_all()?;

    let newer = downloaded || before.as_deref() != Some(id.as_str());
    progress.message(&format!("Digest: {top_digest}"));
    progress.message(&format!(
        "Status: {} {}",
        if newer {
            "Downloaded newer image for"
        } else {
            "Image is up to date for"
        },
        r.familiar_string()
    ));
    progress.result(&r.to_string());
    Ok(PullResult {
        reference: r.to_string(),
        image_id: id,
        digest: top_digest,
        downloaded: newer,
    })
}

enum Msg {
    /// A chunk buffer and how much of it is filled.
    Data(Vec<u8>, usize),
    End,
    Err(Error),
}

/// The registering side of a layer's download: a `Read` over the download thread's chunks
/// that reaches EOF only after the thread verified the blob's digest.
struct ChannelReader {
    rx: Receiver<Msg>,
    /// Emptied chunk buffers go back to the download thread (no allocation per chunk).
    back: Sender<Vec<u8>>,
    cur: Vec<u8>,
    len: usize,
    pos: usize,
    eof: bool,
    err: Option<Error>,
}

impl ChannelReader {
    fn new(rx: Receiver<Msg>, back: Sender<Vec<u8>>) -> Self {
        ChannelReader {
            rx,
            back,
            cur: Vec::new(),
            len: 0,
            pos: 0,
            eof: false,
            err: None,
        }
    }

    /// Waits for the download's verdict (the unpacker may stop before the blob's end).
    fn finish(&mut self) -> Result<()> {
        io::copy(self, &mut io::sink()).map(|_| ()).map_err(|e| {
            self.err
                .take()
                .unwrap_or_else(|| Error::io("downloading layer")(e))
        })
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.pos < self.len {
                let n = buf.len().min(self.len - self.pos);
                buf[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
                self.pos += n;
                return Ok(n);
            }
            if self.eof {
                return Ok(0);
            }
            if let Some(e) = &self.err {
                return Err(io::Error::other(e.to_string()));
            }
            match self.rx.recv() {
                Ok(Msg::Data(d, len)) => {
                    let old = std::mem::replace(&mut self.cur, d);
                    if old.len() == CHUNK {
                        let _ = self.back.send(old);
                    }
                    self.len = len;
                    self.pos = 0;
                }
                Ok(Msg::End) => self.eof = true,
                Ok(Msg::Err(e)) => self.err = Some(e),
                Err(_) => {
                    self.err = Some(Error::Registry("layer download ended unexpectedly".into()))
                }
            }
        }
    }
}

/// Downloads and registers the layers not in the store yet. Returns whether any was
/// downloaded. References taken are journaled in `op`.
#[allow(clippy::too_many_arguments)]
fn fetch_layers(
    store: &ImageStore,
    op: &mut image::store::Op,
    client: &Client,
    repo: &str,
    layers: &[Descriptor],
    diff_ids: &[String],
    chains: &[String],
    progress: &Progress,
    max: usize,
) -> Result<bool> {
    let n = layers.len();
    // A present layer implies its parents: what exists is a prefix of the chain.
    let mut k = 0;
    while k < n && store.layers().get(&chains[k]).is_ok() {
        k += 1;
    }
    for l in &layers[..k] {
        progress.status(&short(&l.digest), "Already exists");
    }
    if k > 0 {
        // Hold the prefix while we build on it (a concurrent rmi must not delete it).
        store.layers().retain(&chains[k - 1])?;
        op.took(&chains[k - 1])?;
    }
    if k == n {
        return Ok(false);
    }
    for l in &layers[k..] {
        progress.status(&short(&l.digest), "Pulling fs layer");
    }
    let abort = AtomicBool::new(false);
    let next = AtomicUsize::new(k);
    let mut senders = Vec::new();
    let mut receivers = Vec::new();
    for _ in k..n {
        let (tx, rx) = sync_channel(BUFFERED);
        let (back_tx, back_rx) = channel();
        senders.push(Mutex::new(Some((tx, back_rx))));
        receivers.push(Mutex::new(Some((rx, back_tx))));
    }
    let parent_of = |i: usize| {
        if i == 0 {
            None
        } else {
            Some(chains[i - 1].as_str())
        }
    };
    let layer_store = store.layers();
    std::thread::scope(|s| {
        for _ in 0..max.min(n - k) {
            s.spawn(|| loop {
                // Layers are taken bottom first so the ones being unpacked are always moving.
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= n || abort.load(Ordering::SeqCst) {
                    return;
                }
                let (tx, back) = senders[i - k]
                    .lock()
                    .unwrap()
                    .take()
                    .expect("each layer taken once");
                download(client, repo, &layers[i], tx, back, progress);
            });
        }
        // Each download streams into its own unpack (concurrently where the driver allows);
        // the layers are committed bottom first, each only once its blob digest checked out.
        let res = storage::ordered_parallel(
            n - k,
            layer_store.unpack_threads(n - k).min(max),
            |j| -> Result<storage::Unpacked> {
                let i = k + j;
                let (rx, back) = receivers[j]
                    .lock()
                    .unwrap()
                    .take()
                    .expect("each layer unpacked once");
                let mut reader = ChannelReader::new(rx, back);
                match layer_store.unpack(&mut reader, parent_of(i)) {
                    Ok(u) => {
                        reader.finish()?;
                        Ok(u)
                    }
                    // The download's own error says more than the unpacker's view of it.
                    Err(e) => Err(reader.err.take().unwrap_or(Error::Storage(e))),
                }
            },
            |j, u| {
                let i = k + j;
                let l = layer_store.commit_unpacked(u, parent_of(i), Some(&diff_ids[i]))?;
                op.took(&l.chain_id)?;
                if l.chain_id != chains[i] {
                    return Err(Error::Invalid(format!(
                        "layer {} registered as {} instead of {}",
                        layers[i].digest, l.chain_id, chains[i]
                    )));
                }
                progress.status(&short(&layers[i].digest), "Pull complete");
                Ok(())
            },
        );
        if res.is_err() {
            // Stop the downloads: pending ones see the flag, running ones a closed channel.
            abort.store(true, Ordering::SeqCst);
            for r in &receivers {
                r.lock().unwrap().take();
            }
        }
        res
    })?;
    Ok(true)
}

fn is_gzip(media_type: &str) -> bool {
    matches!(
        media_type,
        manifest::DOCKER_LAYER_GZIP | manifest::OCI_LAYER_GZIP | manifest::DOCKER_FOREIGN_LAYER
    )
}

/// Counts bytes for the progress bar.
struct Counting<'a, 'p, R> {
    inner: R,
    n: u64,
    total: u64,
    id: &'a str,
    progress: &'a Progress<'p>,
}

impl<R: Read> Read for Counting<'_, '_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.n += n as u64;
        self.progress
            .bytes(self.id, "Downloading", self.n, Some(self.total));
        Ok(n)
    }
}

/// Retries to resume an interrupted blob download.
const RESUME_RETRIES: u32 = 5;

/// A blob body that survives dropped connections: it asks again from where it stopped with a
/// `Range` request (or skips what it has when the registry ignores ranges).
struct Resuming<'a> {
    client: &'a Client,
    repo: &'a str,
    desc: &'a Descriptor,
    inner: Box<dyn Read + Send + Sync>,
    offset: u64,
    retries: u32,
}

impl Resuming<'_> {
    fn reopen(&mut self) -> io::Result<()> {
        let resp = self
            .client
            .get_blob(self.repo, &self.desc.digest, self.offset)
            .map_err(io::Error::other)?;
        let partial = resp.status() == 206;
        let mut r: Box<dyn Read + Send + Sync> = Box::new(body_reader(resp));
        if !partial {
            io::copy(&mut (&mut r).take(self.offset), &mut io::sink())?;
        }
        self.inner = r;
        Ok(())
    }
}

impl Read for Resuming<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let res = self.inner.read(buf);
            let broken = match &res {
                Ok(0) => self.offset < self.desc.size,
                Ok(_) => false,
                Err(e) => e.kind() != io::ErrorKind::Interrupted,
            };
            if !broken || self.retries >= RESUME_RETRIES || buf.is_empty() {
                if let Ok(n) = res {
                    self.offset += n as u64;
                }
                return res;
            }
            self.retries += 1;
            self.reopen()?;
        }
    }
}

/// A blob body read in large pieces: one recv per up to 1 MiB instead of one per few KiB.
fn body_reader(resp: ureq::Response) -> io::BufReader<Box<dyn Read + Send + Sync>> {
    io::BufReader::with_capacity(1 << 20, resp.into_reader())
}

/// One layer: HTTP → digest check → gunzip (gzip layers) → the registering thread.
fn download(
    client: &Client,
    repo: &str,
    desc: &Descriptor,
    tx: SyncSender<Msg>,
    back: Receiver<Vec<u8>>,
    progress: &Progress,
) {
    let id = short(&desc.digest);
    let what = format!(
        "filesystem layer verification failed for digest {}",
        desc.digest
    );
    let res = (|| -> Result<()> {
        let resp = client.get_blob(repo, &desc.digest, 0)?;
        let resuming = Resuming {
            client,
            repo,
            desc,
            inner: Box::new(body_reader(resp)),
            offset: 0,
            retries: 0,
        };
        let counting = Counting {
            inner: resuming,
            n: 0,
            total: desc.size,
            id: &id,
            progress,
        };
        let mut vr = VerifyingReader::new(counting, &desc.digest, Some(desc.size))
            .map_err(|e| Error::Unsupported(e.to_string()))?;
        let verdict = |e: io::Error, vr: &mut VerifyingReader<_>| -> Error {
            // A corrupt blob usually breaks the decompressor first: the digest is the
            // clearer diagnosis, so check it before blaming the format.
            let e = if is_mismatch(&e) {
                e
            } else {
                vr.finish().err().filter(is_mismatch).unwrap_or(e)
            };
            if is_mismatch(&e) {
                Error::Invalid(format!("{what}: {e}"))
            } else {
                Error::io(format!("downloading layer {}", desc.digest))(e)
            }
        };
        let send = |d: Vec<u8>, n: usize| -> Result<()> {
            tx.send(Msg::Data(d, n))
                .map_err(|_| Error::Registry("pull aborted".into()))
        };
        // Buffers circulate between this thread and the reader: filled here, sent without a
        // copy, returned once consumed.
        let next_buf = || back.try_recv().unwrap_or_else(|_| vec![0u8; CHUNK]);
        if is_gzip(&desc.media_type) {
            let mut dec = flate2::read::MultiGzDecoder::new(&mut vr);
            loop {
                let mut buf = next_buf();
                match read_full(&mut dec, &mut buf) {
                    Ok(0) => break,
                    Ok(n) => send(buf, n)?,
                    Err(e) => {
                        drop(dec);
                        return Err(verdict(e, &mut vr));
                    }
                }
            }
            drop(dec);
        } else {
            // zstd / plain tar: the layer store sniffs and decompresses.
            loop {
                let mut buf = next_buf();
                match read_full(&mut vr, &mut buf) {
                    Ok(0) => break,
                    Ok(n) => send(buf, n)?,
                    Err(e) => return Err(verdict(e, &mut vr)),
                }
            }
        }
        if let Err(e) = vr.finish() {
            return Err(verdict(e, &mut vr));
        }
        progress.status(&id, "Verifying Checksum");
        progress.status(&id, "Download complete");
        tx.send(Msg::End)
            .map_err(|_| Error::Registry("pull aborted".into()))
    })();
    if let Err(e) = res {
        let _ = tx.send(Msg::Err(e));
    }
}

/// Fills `buf` as far as the stream allows (fewer, larger messages).
fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(m) => n += m,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}
