//! `push`: layers (HEAD, cross-repository mount, or gzip + upload), config, manifest.

use crate::client::{push_scope, registry_host, Body, Client, RegistryOptions};
use crate::manifest::{self, Descriptor, Manifest};
use crate::progress::Progress;
use crate::{metadata, short, Error, Result};
use image::{ImageStore, Reference};
use sha2::{Digest as _, Sha256};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

#[derive(Debug, Clone, Default)]
pub struct PushOptions {
    /// `NAME[:TAG]` of a local image.
    pub reference: String,
    pub registry: RegistryOptions,
    /// Parallel layer uploads; 0 = 5 (Docker's default).
    pub max_concurrent_uploads: usize,
    /// Blobs larger than this are uploaded in PATCH chunks of this size; 0 = 64 MiB;
    /// `u64::MAX` = always one PUT.
    pub chunk_size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushResult {
    /// Full reference pushed: `localhost:5000/x:latest`.
    pub reference: String,
    pub tag: String,
    /// Digest and size of the manifest PUT.
    pub digest: String,
    pub size: usize,
}

pub const DEFAULT_CHUNK: u64 = 64 << 20;

/// `berth push`. Prints Docker's output through `progress`.
pub fn push(store: &ImageStore, opts: &PushOptions, progress: &Progress) -> Result<PushResult> {
    let r = Reference::parse(&opts.reference)?;
    if r.digest.is_some() {
        return Err(Error::Invalid(format!(
            "cannot push a digest reference ({}): tag the image and push the tag",
            opts.reference
        )));
    }
    let tag = r.tag.clone().expect("parse adds a tag");
    let id = store.resolve(&r.familiar_string()).map_err(|e| match e {
        image::Error::NotFound(_) => Error::NotFound(format!(
            "An image does not exist locally with the tag: {}",
            r.familiar_name()
        )),
        e => e.into(),
    })?;
    let img = store.get(&id)?;
    progress.message(&format!("The push refers to repository [{}]", r.name()));
    let client = Client::connect(&registry_host(&r.domain), None, &opts.registry)?;
    let repo = r.path.as_str();
    let diff_ids = img.config.diff_ids().to_vec();
    let chains = image::config::chain_ids(&diff_ids);
    // A private spool directory in the store for compressed layers, removed with the op.
    let op = store.begin()?;
    let chunk = match opts.chunk_size {
        0 => DEFAULT_CHUNK,
        c => c,
    };
    let n = diff_ids.len();
    for d in diff_ids.iter().rev() {
        progress.status(&short(d), "Preparing");
    }
    let results: Vec<Mutex<Option<Result<Descriptor>>>> =
        (0..n).map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let abort = AtomicBool::new(false);
    let threads = match opts.max_concurrent_uploads {
        0 => 5,
        m => m,
    };
    std::thread::scope(|s| {
        for _ in 0..threads.min(n) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= n || abort.load(Ordering::SeqCst) {
                    return;
                }
                let ctx = LayerCtx {
                    store,
                    client: &client,
                    r: &r,
                    spool: op.dir(),
                    progress,
                    chunk,
                };
                let res = push_layer(&ctx, i, &diff_ids[i], &chains[i]);
                if res.is_err() {
                    abort.store(true, Ordering::SeqCst);
                }
                *results[i].lock().unwrap() = Some(res);
            });
        }
    });
    let mut layers = Vec::with_capacity(n);
    for (i, res) in results.into_iter().enumerate() {
        match res.into_inner().unwrap() {
            Some(Ok(d)) => layers.push(d),
            Some(Err(e)) => return Err(e),
            None => {
                return Err(Error::Registry(format!(
                    "layer {} was not pushed (an earlier layer failed)",
                    diff_ids[i]
                )))
            }
        }
    }
    drop(op);

    let scopes = [push_scope(repo)];
    if client.blob_exists(repo, &id, &scopes)?.is_none() {
        client.upload_blob(repo, &id, Body::Bytes(&img.raw), chunk, &mut |_| {})?;
    }
    let m = Manifest {
        schema_version: 2,
        media_type: Some(manifest::DOCKER_MANIFEST.into()),
        config: Descriptor::new(manifest::DOCKER_CONFIG, img.raw.len() as u64, &id),
        layers,
    };
    let body = serde_json::to_vec_pretty(&m).expect("serializable");
    let digest = client.put_manifest(repo, &tag, manifest::DOCKER_MANIFEST, &body)?;
    // Like Docker, remember the pushed manifest as a RepoDigest of the image.
    let by_digest = Reference {
        tag: None,
        digest: Some(digest.clone()),
        ..r.clone()
    };
    store.tag(&id, &by_digest)?;
    progress.message(&format!("{tag}: digest: {digest} size: {}", body.len()));
    if progress.is_quiet() {
        // `docker push -q` prints just the reference.
        progress.result(&r.to_string());
    }
    Ok(PushResult {
        reference: r.to_string(),
        tag,
        digest,
        size: body.len(),
    })
}

struct LayerCtx<'a, 'p> {
    store: &'a ImageStore,
    client: &'a Client,
    r: &'a Reference,
    spool: &'a Path,
    progress: &'a Progress<'p>,
    chunk: u64,
}

fn push_layer(c: &LayerCtx, i: usize, diff_id: &str, chain: &str) -> Result<Descriptor> {
    let id = short(diff_id);
    let repo = c.r.path.as_str();
    let scopes = [push_scope(repo)];
    let done = |digest: &str, size: u64, status: &str| {
        c.progress.status(&id, status);
        metadata::add(c.store, diff_id, digest, &c.r.name());
        Descriptor::new(manifest::DOCKER_LAYER_GZIP, size, digest)
    };
    // Blobs this layer is known under: already here, or mountable from a sibling repository.
    for m in metadata::get(c.store, diff_id) {
        let Ok(src) = Reference::parse_normalized(&m.source_repository) else {
            continue;
        };
        if registry_host(&src.domain) != c.client.host() {
            continue;
        }
        if src.path != repo && c.client.mount_blob(repo, &m.digest, &src.path)? {
            let size = c.client.blob_exists(repo, &m.digest, &scopes)?.unwrap_or(0);
            return Ok(done(&m.digest, size, &format!("Mounted from {}", src.path)));
        }
        if let Some(size) = c.client.blob_exists(repo, &m.digest, &scopes)? {
            return Ok(done(&m.digest, size, "Layer already exists"));
        }
    }
    // The digest is needed before the upload's PUT: compress to a spool file first.
    let tmp = c.spool.join(format!("layer-{i}.tar.gz"));
    let res = (|| {
        let (digest, size) = compress(c.store.layers().layer_tar(chain)?, &tmp)?;
        if let Some(size) = c.client.blob_exists(repo, &digest, &scopes)? {
            return Ok(done(&digest, size, "Layer already exists"));
        }
        c.progress.status(&id, "Pushing");
        c.client.upload_blob(
            repo,
            &digest,
            Body::File {
                path: &tmp,
                offset: 0,
                len: size,
            },
            c.chunk,
            &mut |sent| c.progress.bytes(&id, "Pushing", sent, Some(size)),
        )?;
        Ok(done(&digest, size, "Pushed"))
    })();
    let _ = std::fs::remove_file(&tmp);
    res
}

/// Hashes and counts what passes through to the file.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    n: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.n += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// gzips `tar` into `path`; returns the compressed blob's digest and size.
fn compress(mut tar: Box<dyn io::Read + Send>, path: &Path) -> Result<(String, u64)> {
    let ctx = format!("compressing layer into {}", path.display());
    let f = File::create(path).map_err(Error::io(ctx.clone()))?;
    let hw = HashingWriter {
        inner: BufWriter::with_capacity(1 << 20, f),
        hasher: Sha256::new(),
        n: 0,
    };
    let mut enc = flate2::write::GzEncoder::new(hw, flate2::Compression::default());
    io::copy(&mut tar, &mut enc).map_err(Error::io(ctx.clone()))?;
    let mut hw = enc.finish().map_err(Error::io(ctx.clone()))?;
    hw.flush().map_err(Error::io(ctx))?;
    Ok((
        format!("sha256:{}", hex::encode(hw.hasher.finalize())),
        hw.n,
    ))
}
