//! `build`: a Dockerfile and a context directory to a layered image, as an engine operation.
//!
//! The Dockerfile language is the `build` crate's (parser, lexer, stages); this module executes
//! it. Each instruction makes one image on its parent (classic-builder style, so every step is
//! a cache entry): filesystem-changing ones (RUN, COPY, ADD, WORKDIR) commit one layer, or
//! none and `empty_layer: true` when nothing changed; the others add a history entry with
//! `empty_layer: true`. RUN steps are berth containers (create, start attached, wait, diff,
//! remove); COPY/ADD/WORKDIR work on a storage snapshot of the parent (no container). Stages
//! the target needs run in parallel threads, each waiting for the stages it uses.
//!
//! The cache: `<root>/builder/cache/<key>` names the image a step made, where the key is the
//! parent image, the instruction after expansion, the build args in scope and, for COPY/ADD,
//! the content (not mtimes) of every source file. `--no-cache` skips lookups;
//! `--cache-from IMAGE` also accepts the steps of that image's history as hits.

mod cache;
mod context;
mod copy;
mod progress;
mod run;
mod stage;

pub use cache::prune as prune_cache;
pub use progress::ProgressMode;

use crate::{Engine, Error, Result};
use build::instructions::Dockerfile;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::{Condvar, Mutex};

/// Pulls a reference the store does not have (or, with `--pull`, refreshes it); returns the
/// image ID. The front end supplies it (it owns registry options and credentials).
pub type Puller<'a> = &'a (dyn Fn(&str) -> std::result::Result<String, String> + Sync);

/// `docker build`'s options.
pub struct BuildRequest<'a> {
    /// The context directory (the front end unpacks tar/URL/stdin contexts into one).
    pub context: PathBuf,
    /// The Dockerfile's text.
    pub dockerfile: String,
    /// The Dockerfile's path, when it is a file: `<path>.dockerignore` is preferred to the
    /// context's `.dockerignore`.
    pub dockerfile_path: Option<PathBuf>,
    pub tags: Vec<String>,
    /// `--build-arg K=V` (None: take K from the caller's environment, or leave it unset).
    pub build_args: Vec<(String, Option<String>)>,
    pub target: Option<String>,
    pub no_cache: bool,
    pub pull: bool,
    pub labels: BTreeMap<String, String>,
    /// `--network` for RUN steps (default: the default bridge).
    pub network: Option<String>,
    /// `--secret id=ID,src=PATH`.
    pub secrets: BTreeMap<String, PathBuf>,
    pub cache_from: Vec<String>,
    pub progress: ProgressMode,
    pub puller: Option<Puller<'a>>,
}

/// What a build made.
#[derive(Debug, Clone)]
pub struct BuildResult {
    /// `sha256:...`
    pub image_id: String,
    /// Build args given that no ARG consumed.
    pub unused_args: Vec<String>,
}

/// A failed build: the message, and the Dockerfile lines it points at (Docker prints them).
#[derive(Debug, Clone)]
pub struct BuildFailure {
    pub message: String,
    /// 1-based line, 0 when the failure is not about one instruction.
    pub line: usize,
    /// The excerpt of the Dockerfile around `line`, formatted as BuildKit prints it.
    pub excerpt: String,
}

impl std::fmt::Display for BuildFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.excerpt.is_empty() {
            write!(f, "{}", self.excerpt)?;
        }
        write!(f, "ERROR: failed to solve: {}", self.message)
    }
}

/// An error inside a step, before the Dockerfile excerpt is attached.
pub(crate) fn step_err(line: usize, message: impl Into<String>) -> Error {
    Error::Build(Box::new(BuildFailure {
        message: message.into(),
        line,
        excerpt: String::new(),
    }))
}

/// An error as its progress line shows it.
pub(crate) fn brief(e: &Error) -> String {
    match e {
        Error::Build(f) => f.message.clone(),
        e => e.to_string(),
    }
}

/// BuildKit's excerpt: the lines up to `line`, the failing one marked `>>>`.
fn excerpt(name: &str, src: &str, line: usize) -> String {
    if line == 0 {
        return String::new();
    }
    let lines: Vec<&str> = src.lines().collect();
    let from = line.saturating_sub(3).max(1);
    let to = line.min(lines.len());
    let mut s = format!("{name}:{line}\n--------------------\n");
    for n in from..=to {
        let mark = if n == line { ">>>" } else { "   " };
        s.push_str(&format!("{n:>4} | {mark} {}\n", lines[n - 1]));
    }
    s.push_str("--------------------\n");
    s
}

/// The result of one stage, for stages that use it.
#[derive(Clone)]
pub(crate) struct StageOut {
    pub image: Option<String>,
    pub config: image::config::ImageConfig,
}

/// Stage results published to the stages waiting for them.
pub(crate) struct Board {
    slots: Mutex<Vec<Option<std::result::Result<StageOut, String>>>>,
    cv: Condvar,
    /// The stage that failed first (those waiting on it fail after it).
    first_failed: Mutex<Option<usize>>,
}

impl Board {
    fn new(n: usize) -> Board {
        Board {
            slots: Mutex::new(vec![None; n]),
            cv: Condvar::new(),
            first_failed: Mutex::new(None),
        }
    }
    fn publish(&self, i: usize, r: std::result::Result<StageOut, String>) {
        if r.is_err() {
            self.first_failed.lock().unwrap().get_or_insert(i);
        }
        self.slots.lock().unwrap()[i] = Some(r);
        self.cv.notify_all();
    }
    /// Waits for stage `i`'s result.
    pub(crate) fn wait(&self, i: usize) -> Result<StageOut> {
        let mut g = self.slots.lock().unwrap();
        loop {
            if let Some(r) = &g[i] {
                return r
                    .clone()
                    .map_err(|e| Error::Other(format!("stage {i} failed: {e}")));
            }
            g = self.cv.wait(g).unwrap();
        }
    }
}

/// What every stage of one build shares.
pub(crate) struct Shared<'a> {
    pub engine: &'a Engine,
    pub req: &'a BuildRequest<'a>,
    pub df: &'a Dockerfile,
    pub ctx: context::Context,
    pub progress: progress::Progress,
    pub board: Board,
    /// Build args an ARG consumed (for the unused-args warning).
    pub used_args: Mutex<Vec<String>>,
    /// Values of the build args given (resolved from the environment where asked).
    pub args: BTreeMap<String, String>,
    /// Meta ARGs (before the first FROM) with their values.
    pub meta: Vec<(String, Option<String>)>,
    pub cache_from: Vec<String>,
}

impl Shared<'_> {
    /// Expands a word with the meta args only (FROM, stage references).
    pub(crate) fn expand_meta(&self, w: &str) -> std::result::Result<String, String> {
        let lex = build::Lex::new(self.df.escape);
        let get = |k: &str| {
            self.meta
                .iter()
                .rev()
                .find(|(n, _)| n == k)
                .and_then(|(_, v)| v.clone())
                // FROM --platform=$BUILDPLATFORM works without an ARG, as in BuildKit.
                .or_else(|| predefined_arg(k))
        };
        lex.process_word(w, &get).map_err(|e| e.to_string())
    }
}

/// The build args BuildKit defines for every build (usable after `ARG NAME`).
pub(crate) fn predefined_arg(name: &str) -> Option<String> {
    let v = match name {
        "TARGETPLATFORM" | "BUILDPLATFORM" => "linux/amd64",
        "TARGETOS" | "BUILDOS" => "linux",
        "TARGETARCH" | "BUILDARCH" => "amd64",
        "TARGETVARIANT" | "BUILDVARIANT" => "",
        _ => return None,
    };
    Some(v.to_string())
}

/// Proxy args are passed to RUN without an ARG and kept out of history (as Docker does).
pub(crate) fn is_proxy_arg(name: &str) -> bool {
    matches!(
        name.to_ascii_uppercase().as_str(),
        "HTTP_PROXY" | "HTTPS_PROXY" | "FTP_PROXY" | "NO_PROXY" | "ALL_PROXY"
    )
}

impl Engine {
    /// Builds the Dockerfile in `req`; progress goes to `out` (BuildKit's plain format).
    pub fn build(&self, req: &BuildRequest, out: Box<dyn Write + Send>) -> Result<BuildResult> {
        let name = req
            .dockerfile_path
            .as_ref()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "Dockerfile".into());
        let wrap = |e: Error| match e {
            Error::Build(mut f) => {
                f.excerpt = excerpt(&name, &req.dockerfile, f.line);
                Error::Build(f)
            }
            e => e,
        };
        self.build_inner(req, out).map_err(wrap)
    }

    fn build_inner(&self, req: &BuildRequest, out: Box<dyn Write + Send>) -> Result<BuildResult> {
        let progress = progress::Progress::new(out, req.progress);
        run::reap_stale(self);
        let parsed = build::parse(&req.dockerfile)
            .map_err(|e| step_err(e.line, format!("failed to parse Dockerfile: {e}")))?;
        let df = build::dockerfile(&parsed).map_err(|e| {
            step_err(
                e.line,
                format!("dockerfile parse error on line {}: {e}", e.line),
            )
        })?;
        let ctx = context::Context::open(&req.context, req.dockerfile_path.as_deref())?;
        let mut args = BTreeMap::new();
        for (k, v) in &req.build_args {
            match v {
                Some(v) => {
                    args.insert(k.clone(), v.clone());
                }
                None => {
                    if let Ok(v) = std::env::var(k) {
                        args.insert(k.clone(), v);
                    }
                }
            }
        }
        let mut meta: Vec<(String, Option<String>)> = Vec::new();
        for (k, default) in &df.meta_args {
            let lex = build::Lex::new(df.escape);
            let get = |n: &str| {
                meta.iter()
                    .rev()
                    .find(|(m, _)| m == n)
                    .and_then(|(_, v)| v.clone())
            };
            let d = match default {
                Some(d) => Some(
                    lex.process_word(d, &get)
                        .map_err(|e| step_err(0, e.to_string()))?,
                ),
                None => None,
            };
            let v = args.get(k).cloned().or(d).or_else(|| predefined_arg(k));
            meta.push((k.clone(), v));
        }
        let mut cache_from = Vec::new();
        for r in &req.cache_from {
            if let Ok(id) = self.images()?.resolve(r) {
                cache_from.push(id);
            }
        }
        let shared = Shared {
            engine: self,
            req,
            df: &df,
            ctx,
            progress,
            board: Board::new(df.stages.len()),
            used_args: Mutex::new(Vec::new()),
            args,
            meta,
            cache_from,
        };
        let target = match &req.target {
            Some(t) => df
                .stage_index(t)
                .filter(|i| df.stages[*i].name.is_some() || t.parse::<usize>().is_err())
                .ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "failed to reach build target {t} in Dockerfile"
                    ))
                })?,
            None => df.stages.len() - 1,
        };
        let bases: Vec<String> = df
            .stages
            .iter()
            .map(|s| {
                shared
                    .expand_meta(&s.base)
                    .unwrap_or_else(|_| s.base.clone())
            })
            .collect();
        let deps = build::stages::dependencies(&df, &|i| bases[i].clone(), &|s| {
            shared.expand_meta(s).unwrap_or_else(|_| s.to_string())
        });
        let needed = build::stages::needed(&deps, target);
        shared
            .progress
            .internal("load build definition from Dockerfile");
        let result = std::thread::scope(|s| {
            let handles: Vec<_> = needed
                .iter()
                .map(|&i| {
                    let sh = &shared;
                    s.spawn(move || {
                        let r = stage::run_stage(sh, i);
                        sh.board
                            .publish(i, r.as_ref().map(|o| o.clone()).map_err(|e| e.to_string()));
                        r
                    })
                })
                .collect();
            let mut target_out = None;
            let mut errs = BTreeMap::new();
            for (h, &i) in handles.into_iter().zip(&needed) {
                match h
                    .join()
                    .unwrap_or_else(|_| Err(Error::Other("build stage panicked".into())))
                {
                    Ok(o) if i == target => target_out = Some(o),
                    Ok(_) => {}
                    Err(e) => {
                        errs.insert(i, e);
                    }
                }
            }
            // The failure of the stage that failed first, not of those that waited on it.
            let first = *shared.board.first_failed.lock().unwrap();
            match first
                .and_then(|i| errs.remove(&i))
                .or_else(|| errs.into_values().next())
            {
                Some(e) => Err(e),
                None => {
                    target_out.ok_or_else(|| Error::Other("the target stage made no image".into()))
                }
            }
        })?;
        let image_id = stage::finish(&shared, result)?;
        let used = shared.used_args.lock().unwrap().clone();
        let mut unused: Vec<String> = shared
            .args
            .keys()
            .filter(|k| !used.contains(k) && !is_proxy_arg(k) && predefined_arg(k).is_none())
            .filter(|k| !shared.meta.iter().any(|(m, _)| m == *k))
            .cloned()
            .collect();
        unused.sort();
        Ok(BuildResult {
            image_id,
            unused_args: unused,
        })
    }
}

/// A context unpacked from a tar (`build -`, a tar file, a URL) into a private directory,
/// removed on drop.
pub struct TarContext {
    pub dir: PathBuf,
}

impl Drop for TarContext {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether `head` (the first bytes of a stream) is a tar or a compressed stream.
pub fn looks_like_archive(head: &[u8]) -> bool {
    head.starts_with(&[0x1f, 0x8b])
        || head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
        || (head.len() >= 262 && &head[257..262] == b"ustar")
}

impl Engine {
    /// Unpacks a context tar (plain, gzip or zstd) into a new private directory under the
    /// root; entries that would land outside it are refused by the tar unpacker.
    pub fn context_from_tar(&self, r: &mut dyn std::io::Read) -> Result<TarContext> {
        let dir = self
            .paths
            .root
            .join("builder")
            .join("tmp")
            .join(format!("context-{:016x}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).map_err(Error::io(format!("creating {}", dir.display())))?;
        let ctx = TarContext { dir };
        let mut head = vec![0u8; 512];
        let mut n = 0;
        while n < head.len() {
            let k = r
                .read(&mut head[n..])
                .map_err(Error::io("reading the context"))?;
            if k == 0 {
                break;
            }
            n += k;
        }
        head.truncate(n);
        let chained = std::io::Cursor::new(head.clone()).chain(r);
        let reader: Box<dyn std::io::Read + '_> = if head.starts_with(&[0x1f, 0x8b]) {
            Box::new(flate2::read::MultiGzDecoder::new(chained))
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Box::new(zstd::stream::read::Decoder::new(chained).map_err(Error::io("zstd"))?)
        } else {
            Box::new(chained)
        };
        let mut a = tar::Archive::new(reader);
        a.set_preserve_permissions(true);
        a.set_preserve_mtime(true);
        a.unpack(&ctx.dir)
            .map_err(|e| Error::InvalidArgument(format!("unpacking the build context: {e}")))?;
        Ok(ctx)
    }

    /// Downloads a context tar from an http(s) URL (see [`Engine::context_from_tar`]).
    pub fn context_from_url(&self, url: &str) -> Result<TarContext> {
        let resp = ureq::get(url).call().map_err(|e| {
            Error::InvalidArgument(format!("unable to download remote context {url}: {e}"))
        })?;
        let mut r = resp.into_reader();
        self.context_from_tar(&mut r)
    }
}
