//! `berth build` and `berth builder prune`: Docker's flags; the work is the engine's
//! (`Engine::build`). Contexts: a directory, `-` (a tar, or a Dockerfile alone, on stdin), a
//! tar file, or an http(s) URL of a tar.

use crate::container_cmds::open_engine;
use crate::{CmdResult, Failure, Global};
use clap::{Args, Subcommand};
use engine::build::{BuildRequest, ProgressMode};
use std::collections::BTreeMap;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct BuildArgs {
    /// Name and optionally a tag in the "name:tag" format
    #[arg(short = 't', long = "tag")]
    pub tags: Vec<String>,
    /// Name of the Dockerfile (default: "PATH/Dockerfile")
    #[arg(short = 'f', long = "file")]
    pub file: Option<String>,
    /// Set build-time variables
    #[arg(long = "build-arg")]
    pub build_args: Vec<String>,
    /// Set the target build stage to build
    #[arg(long)]
    pub target: Option<String>,
    /// Do not use cache when building the image
    #[arg(long = "no-cache")]
    pub no_cache: bool,
    /// Always attempt to pull a newer version of the image
    #[arg(long)]
    pub pull: bool,
    /// Set metadata for an image
    #[arg(long = "label")]
    pub labels: Vec<String>,
    /// Write the image ID to the file
    #[arg(long)]
    pub iidfile: Option<PathBuf>,
    /// Suppress the build output and print image ID on success
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Set the networking mode for the RUN instructions during build
    #[arg(long)]
    pub network: Option<String>,
    /// Set type of progress output ("auto", "plain", "tty", "quiet")
    #[arg(long, default_value = "auto")]
    pub progress: String,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    pub platform: Option<String>,
    /// Secret to expose to the build (format: "id=mysecret[,src=/local/secret]")
    #[arg(long)]
    pub secret: Vec<String>,
    /// Images to consider as cache sources
    #[arg(long = "cache-from")]
    pub cache_from: Vec<String>,
    /// SSH agent socket or keys to expose to the build
    #[arg(long)]
    pub ssh: Vec<String>,
    #[arg(value_name = "PATH | URL | -")]
    pub context: String,
}

fn usage(msg: impl Into<String>) -> Failure {
    Failure::new(msg, 125)
}

fn parse_secret(s: &str) -> Result<(String, PathBuf), Failure> {
    let mut id = None;
    let mut src = None;
    for f in s.split(',') {
        match f.split_once('=') {
            Some(("id", v)) => id = Some(v.to_string()),
            Some(("src" | "source", v)) => src = Some(PathBuf::from(v)),
            Some(("type", "file")) => {}
            Some(("env", v)) => {
                return Err(usage(format!(
                    "--secret env={v}: secrets from the environment are not supported yet; use src="
                )))
            }
            _ => {
                return Err(usage(format!(
                    "invalid secret {s:?}: unexpected field {f:?}"
                )))
            }
        }
    }
    let id = id.ok_or_else(|| usage(format!("invalid secret {s:?}: id is required")))?;
    let src = src.unwrap_or_else(|| PathBuf::from(&id));
    Ok((id, src))
}

pub fn build(g: &Global, a: BuildArgs) -> CmdResult {
    if let Some(p) = &a.platform {
        if !matches!(p.as_str(), "linux/amd64" | "linux/x86_64" | "amd64") {
            return Err(usage(format!(
                "--platform {p}: berth builds linux/amd64 images only"
            )));
        }
    }
    if !a.ssh.is_empty() {
        return Err(usage("--ssh is not supported yet"));
    }
    let mode = match (a.quiet, a.progress.as_str()) {
        (true, _) | (_, "quiet") => ProgressMode::Quiet,
        (_, "auto" | "plain" | "tty" | "rawjson") if a.progress != "rawjson" => ProgressMode::Plain,
        (_, p) => return Err(usage(format!("invalid --progress value {p:?}"))),
    };
    let mut build_args = Vec::new();
    for b in &a.build_args {
        match b.split_once('=') {
            Some((k, v)) => build_args.push((k.to_string(), Some(v.to_string()))),
            None => build_args.push((b.clone(), None)),
        }
    }
    let mut labels = BTreeMap::new();
    for l in &a.labels {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        labels.insert(k.to_string(), v.to_string());
    }
    let mut secrets = BTreeMap::new();
    for s in &a.secret {
        let (id, src) = parse_secret(s)?;
        secrets.insert(id, src);
    }
    let e = open_engine(g)?;
    let fail = |e: engine::Error| Failure::new(e.to_string(), 1);
    // The context, and the Dockerfile's text and path.
    let stdin_df = a.file.as_deref() == Some("-");
    let mut _tmp = None;
    let mut stdin_text: Option<String> = None;
    let context: PathBuf = if a.context == "-" {
        if stdin_df {
            return Err(usage(
                "invalid argument: can't use stdin for both build context and dockerfile",
            ));
        }
        let mut stdin = std::io::stdin().lock();
        let mut head = vec![0u8; 512];
        let mut n = 0;
        while n < head.len() {
            let k = stdin.read(&mut head[n..])?;
            if k == 0 {
                break;
            }
            n += k;
        }
        head.truncate(n);
        if engine::build::looks_like_archive(&head) {
            let mut r = std::io::Cursor::new(head).chain(stdin);
            let t = e.context_from_tar(&mut r).map_err(fail)?;
            let d = t.dir.clone();
            _tmp = Some(t);
            d
        } else {
            // A Dockerfile alone: an empty context.
            let mut rest = Vec::new();
            stdin.read_to_end(&mut rest)?;
            head.extend(rest);
            stdin_text = Some(String::from_utf8_lossy(&head).into_owned());
            let t = e
                .context_from_tar(&mut std::io::Cursor::new(vec![0u8; 1024]))
                .map_err(fail)?;
            let d = t.dir.clone();
            _tmp = Some(t);
            d
        }
    } else if a.context.starts_with("http://") || a.context.starts_with("https://") {
        let t = e.context_from_url(&a.context).map_err(fail)?;
        let d = t.dir.clone();
        _tmp = Some(t);
        d
    } else if a.context.starts_with("git@") || a.context.ends_with(".git") {
        return Err(usage("git contexts are not supported yet"));
    } else {
        let p = PathBuf::from(&a.context);
        let md = std::fs::metadata(&p).map_err(|_| {
            Failure::new(
                format!("unable to prepare context: path {:?} not found", a.context),
                1,
            )
        })?;
        if md.is_file() {
            let mut f = std::fs::File::open(&p)?;
            let t = e.context_from_tar(&mut f).map_err(fail)?;
            let d = t.dir.clone();
            _tmp = Some(t);
            d
        } else {
            p
        }
    };
    let from_tar = _tmp.is_some();
    let (dockerfile, dockerfile_path) = if let Some(t) = stdin_text {
        (t, None)
    } else if stdin_df {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        (s, None)
    } else {
        let path = match &a.file {
            // In a tar/URL context -f names a file inside it; else a path from here.
            Some(f) if from_tar => context.join(f),
            Some(f) => PathBuf::from(f),
            None => context.join("Dockerfile"),
        };
        let text = std::fs::read_to_string(&path).map_err(|err| {
            let shown = if from_tar {
                Path::new(a.file.as_deref().unwrap_or("Dockerfile")).to_path_buf()
            } else {
                path.clone()
            };
            Failure::new(
                format!(
                    "failed to solve: failed to read dockerfile: open {}: {}",
                    shown.display(),
                    if err.kind() == std::io::ErrorKind::NotFound {
                        "no such file or directory".to_string()
                    } else {
                        err.to_string()
                    }
                ),
                1,
            )
        })?;
        (text, Some(path))
    };
    let store = crate::image_cmds::open_store(g)?;
    let platform = a.platform.clone();
    let puller = |r: &str| -> Result<String, String> {
        crate::registry_cmds::pull_for_run(g, &store, r, platform.clone()).map_err(|f| f.msg)
    };
    let req = BuildRequest {
        context,
        dockerfile,
        dockerfile_path,
        tags: a.tags.clone(),
        build_args,
        target: a.target.clone(),
        no_cache: a.no_cache,
        pull: a.pull,
        labels,
        network: a.network.clone(),
        secrets,
        cache_from: a.cache_from.clone(),
        progress: mode,
        puller: Some(&puller),
    };
    let out: Box<dyn Write + Send> = Box::new(std::io::stderr());
    let _ = std::io::stderr().is_terminal();
    match e.build(&req, out) {
        Ok(r) => {
            if !r.unused_args.is_empty() {
                eprintln!(
                    "[Warning] One or more build-args [{}] were not consumed",
                    r.unused_args.join(" ")
                );
            }
            if let Some(f) = &a.iidfile {
                std::fs::write(f, &r.image_id)
                    .map_err(|err| Failure::new(format!("failed to write iidfile: {err}"), 1))?;
            }
            if a.quiet {
                println!("{}", r.image_id);
            }
            Ok(())
        }
        Err(engine::Error::Build(f)) => {
            eprintln!("{f}");
            Err(Failure::new("", 1))
        }
        Err(err) => Err(Failure::new(err.to_string(), 1)),
    }
}

#[derive(Subcommand)]
pub enum BuilderCmd {
    /// Remove build cache
    Prune(BuilderPruneArgs),
}

#[derive(Args)]
pub struct BuilderPruneArgs {
    /// Remove all unused build cache, not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
}

pub fn builder(g: &Global, c: BuilderCmd) -> CmdResult {
    let BuilderCmd::Prune(a) = c;
    if !a.force {
        print!("WARNING! This will remove all dangling build cache. Are you sure you want to continue? [y/N] ");
        std::io::stdout().flush()?;
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
            return Ok(());
        }
    }
    let _ = a.all;
    let e = open_engine(g)?;
    let (_, bytes) = engine::build::prune_cache(&e).map_err(|e| Failure::new(e.to_string(), 1))?;
    println!("Total:\t{}", crate::human::human_size(bytes));
    Ok(())
}
