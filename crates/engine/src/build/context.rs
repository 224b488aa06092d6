//! The build context and other source trees (a stage's rootfs for `COPY --from`): resolving
//! COPY sources inside the tree (symlinks stay inside it), `.dockerignore`, the entries to
//! copy and their content digest for the cache key.

use crate::{Error, Result};
use build::ignore::{clean, has_glob, path_match, Ignore};
use sha2::{Digest, Sha256};
use std::fs::Metadata;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

pub(crate) struct Context {
    pub root: PathBuf,
    pub ignore: Ignore,
}

impl Context {
    /// Opens the context dir; `<dockerfile>.dockerignore` next to the Dockerfile wins over the
    /// context's `.dockerignore`.
    pub fn open(root: &Path, dockerfile: Option<&Path>) -> Result<Context> {
        let md = std::fs::metadata(root).map_err(Error::io(format!(
            "unable to prepare context: path {:?} not found",
            root.display()
        )))?;
        if !md.is_dir() {
            return Err(Error::InvalidArgument(format!(
                "unable to prepare context: {} is not a directory",
                root.display()
            )));
        }
        let mut candidates = Vec::new();
        if let Some(df) = dockerfile {
            let mut n = df.as_os_str().to_owned();
            n.push(".dockerignore");
            candidates.push(PathBuf::from(n));
        }
        candidates.push(root.join(".dockerignore"));
        let mut ignore = Ignore::default();
        for c in candidates {
            if let Ok(s) = std::fs::read_to_string(&c) {
                ignore = Ignore::parse(&s).map_err(|e| {
                    Error::InvalidArgument(format!("error reading {}: {e}", c.display()))
                })?;
                break;
            }
        }
        Ok(Context {
            root: root.to_path_buf(),
            ignore,
        })
    }
}

/// A tree sources are taken from: the context (with its ignore rules) or a rootfs.
pub(crate) struct Tree<'a> {
    pub root: &'a Path,
    pub ignore: Option<&'a Ignore>,
    /// `--exclude` patterns.
    pub exclude: Option<Ignore>,
}

/// One thing to copy: the host path and the name it gets under the destination.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub src: PathBuf,
    pub name: String,
    pub md: Metadata,
}

/// A resolved source: its path in the tree, and whether it is a directory.
pub(crate) struct Source {
    /// Cleaned path relative to the tree root ("." for the root).
    pub rel: String,
    pub host: PathBuf,
    pub is_dir: bool,
}

impl Tree<'_> {
    /// `rel` is relative to the tree (for .dockerignore), `srel` to the COPY source (for
    /// `--exclude`, as BuildKit matches it).
    fn excluded(&self, rel: &str, srel: &str) -> bool {
        rel != "."
            && (self.ignore.is_some_and(|i| i.excluded(rel))
                || self.exclude.as_ref().is_some_and(|i| i.excluded(srel)))
    }

    fn skip_dir(&self, rel: &str, srel: &str) -> bool {
        self.ignore.is_some_and(|i| i.skip_dir(rel))
            || self.exclude.as_ref().is_some_and(|i| i.skip_dir(srel))
    }

    /// `rel` with symlinks resolved inside the root (an absolute or climbing link stays in it).
    fn resolve(&self, rel: &str) -> Result<String> {
        let mut done: Vec<String> = Vec::new();
        let mut todo: Vec<String> = rel
            .split('/')
            .filter(|c| !c.is_empty() && *c != ".")
            .rev()
            .map(String::from)
            .collect();
        let mut hops = 0;
        while let Some(c) = todo.pop() {
            if c == ".." {
                done.pop();
                continue;
            }
            let mut p = self.root.to_path_buf();
            for d in &done {
                p.push(d);
            }
            p.push(&c);
            match std::fs::symlink_metadata(&p) {
                Ok(md) if md.file_type().is_symlink() => {
                    hops += 1;
                    if hops > 40 {
                        return Err(Error::InvalidArgument(format!("too many symlinks: {rel}")));
                    }
                    let t = std::fs::read_link(&p).map_err(Error::io("readlink"))?;
                    let t = t.to_string_lossy().into_owned();
                    if t.starts_with('/') {
                        done.clear();
                    }
                    for x in t.split('/').filter(|c| !c.is_empty() && *c != ".").rev() {
                        todo.push(x.to_string());
                    }
                }
                _ => done.push(c),
            }
        }
        Ok(if done.is_empty() {
            ".".into()
        } else {
            done.join("/")
        })
    }

    /// The sources a COPY argument names (globs expanded, in name order).
    pub fn sources(&self, arg: &str) -> Result<Vec<Source>> {
        let rel = clean(&format!("/{arg}"));
        let rel = rel.trim_start_matches('/');
        let rel = if rel.is_empty() { "." } else { rel };
        let not_found =
            || Error::InvalidArgument(format!("\"/{}\": not found", rel.trim_start_matches('.')));
        if has_glob(rel) {
            let mut out = Vec::new();
            self.walk_all(Path::new(""), &mut |r, md| {
                if path_match(rel, r) {
                    out.push(Source {
                        rel: r.to_string(),
                        host: self.root.join(r),
                        is_dir: md.is_dir(),
                    });
                }
            })?;
            if out.is_empty() {
                return Err(Error::InvalidArgument(format!(
                    "lstat {rel}: no such file or directory (no source files were specified)"
                )));
            }
            return Ok(out);
        }
        if self.ignore.is_some_and(|i| rel != "." && i.excluded(rel)) {
            return Err(not_found());
        }
        let real = self.resolve(rel)?;
        let host = if real == "." {
            self.root.to_path_buf()
        } else {
            self.root.join(&real)
        };
        let md = std::fs::symlink_metadata(&host).map_err(|_| not_found())?;
        Ok(vec![Source {
            rel: rel.to_string(),
            host,
            is_dir: md.is_dir(),
        }])
    }

    /// Calls `f` for every path under `dir` (relative, not ignored), depth first, sorted.
    fn walk_all(&self, dir: &Path, f: &mut dyn FnMut(&str, &Metadata)) -> Result<()> {
        let abs = self.root.join(dir);
        let mut names: Vec<_> = std::fs::read_dir(&abs)
            .map_err(Error::io(format!("reading {}", abs.display())))?
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        names.sort();
        for n in names {
            let r = dir.join(&n);
            let rs = r.to_string_lossy().into_owned();
            let md = std::fs::symlink_metadata(self.root.join(&r))
                .map_err(Error::io(format!("stat {rs}")))?;
            if md.is_dir() {
                if self.skip_dir(&rs, &rs) {
                    continue;
                }
                if !self.excluded(&rs, &rs) {
                    f(&rs, &md);
                }
                self.walk_all(&r, f)?;
            } else if !self.excluded(&rs, &rs) {
                f(&rs, &md);
            }
        }
        Ok(())
    }

    /// The entries of one source: a file as `name`, a directory's contents under `name`
    /// ("" for the destination itself).
    pub fn entries(&self, s: &Source, name: &str, out: &mut Vec<Entry>) -> Result<()> {
        let md = std::fs::metadata(&s.host).map_err(Error::io(format!("stat {}", s.rel)))?;
        if !md.is_dir() {
            out.push(Entry {
                src: s.host.clone(),
                name: name.to_string(),
                md,
            });
            return Ok(());
        }
        if !name.is_empty() {
            out.push(Entry {
                src: s.host.clone(),
                name: name.to_string(),
                md,
            });
        }
        // Ignore rules apply to the logical path under the context.
        let base = if s.rel == "." {
            String::new()
        } else {
            s.rel.clone()
        };
        self.walk_dir(&s.host, &base, "", name, out)
    }

    fn walk_dir(
        &self,
        host: &Path,
        logical: &str,
        srel: &str,
        name: &str,
        out: &mut Vec<Entry>,
    ) -> Result<()> {
        let mut names: Vec<_> = std::fs::read_dir(host)
            .map_err(Error::io(format!("reading {}", host.display())))?
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        names.sort();
        for n in names {
            let ns = n.to_string_lossy();
            let lrel = if logical.is_empty() {
                ns.to_string()
            } else {
                format!("{logical}/{ns}")
            };
            let sr = if srel.is_empty() {
                ns.to_string()
            } else {
                format!("{srel}/{ns}")
            };
            let nrel = if name.is_empty() {
                ns.to_string()
            } else {
                format!("{name}/{ns}")
            };
            let p = host.join(&n);
            let md = std::fs::symlink_metadata(&p).map_err(Error::io(format!("stat {lrel}")))?;
            if md.is_dir() {
                if self.skip_dir(&lrel, &sr) {
                    continue;
                }
                if !self.excluded(&lrel, &sr) {
                    out.push(Entry {
                        src: p.clone(),
                        name: nrel.clone(),
                        md,
                    });
                }
                self.walk_dir(&p, &lrel, &sr, &nrel, out)?;
            } else if !self.excluded(&lrel, &sr) {
                out.push(Entry {
                    src: p,
                    name: nrel,
                    md,
                });
            }
        }
        Ok(())
    }
}

/// The content digest of entries: names, types, modes, link targets and file contents
/// (never mtimes or owners). Files are hashed on two threads.
pub(crate) fn digest(entries: &[Entry]) -> Result<String> {
    let file_hashes: Vec<Option<[u8; 32]>> = {
        let idx: Vec<usize> = (0..entries.len())
            .filter(|i| entries[*i].md.is_file())
            .collect();
        let mut res: Vec<Option<[u8; 32]>> = vec![None; entries.len()];
        let half = idx.len() / 2;
        let (a, b) = idx.split_at(half);
        let hash_all = |ix: &[usize]| -> Result<Vec<(usize, [u8; 32])>> {
            let mut out = Vec::with_capacity(ix.len());
            let mut buf = vec![0u8; 256 * 1024];
            for &i in ix {
                let mut f = std::fs::File::open(&entries[i].src)
                    .map_err(Error::io(format!("open {}", entries[i].src.display())))?;
                let mut h = Sha256::new();
                loop {
                    let n = f.read(&mut buf).map_err(Error::io("read"))?;
                    if n == 0 {
                        break;
                    }
                    h.update(&buf[..n]);
                }
                out.push((i, h.finalize().into()));
            }
            Ok(out)
        };
        let (ra, rb) = std::thread::scope(|s| {
            let t = s.spawn(|| hash_all(b));
            let ra = hash_all(a);
            (
                ra,
                t.join()
                    .unwrap_or_else(|_| Err(Error::Other("hash thread".into()))),
            )
        });
        for (i, h) in ra?.into_iter().chain(rb?) {
            res[i] = Some(h);
        }
        res
    };
    let mut h = Sha256::new();
    for (e, fh) in entries.iter().zip(file_hashes) {
        h.update(e.name.as_bytes());
        h.update([0]);
        h.update(e.md.mode().to_le_bytes());
        if e.md.file_type().is_symlink() {
            let t = std::fs::read_link(&e.src).unwrap_or_default();
            h.update(t.as_os_str().as_encoded_bytes());
        }
        if let Some(fh) = fh {
            h.update(fh);
        }
        h.update([0xff]);
    }
    Ok(hex::encode(h.finalize()))
}
