//! COPY and ADD (and WORKDIR's mkdir): sources from the context, a stage, a heredoc, a local
//! archive (ADD extracts it) or a URL (ADD downloads it, `--checksum` verified), written into
//! a snapshot of the current image through the same path-safe extraction as `cp`.

use super::context::{digest, Entry, Source, Tree};
use super::stage::{fs_step, Snapshot, State};
use super::{cache, step_err, Shared};
use crate::{Error, Result};
use build::ignore::{clean, Ignore};
use build::instructions::{CopyArgs, Step};
use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// uid/gid from `--chown` (names looked up in the destination's /etc/passwd and /etc/group).
fn chown_ids(root: &Path, spec: &str, line: usize) -> Result<(u32, u32)> {
    let (u, g) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let lookup = |file: &str, name: &str, field: usize| -> Result<(u32, Option<u32>)> {
        if let Ok(n) = name.parse::<u32>() {
            return Ok((n, None));
        }
        let text = std::fs::read_to_string(root.join(file)).unwrap_or_default();
        for l in text.lines() {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() > 3 && f[0] == name {
                let id = f[2].parse().unwrap_or(0);
                let gid = f.get(field).and_then(|x| x.parse().ok());
                return Ok((id, gid));
            }
        }
        Err(step_err(
            line,
            format!("unable to convert uid/gid chown string to host mapping: can't find uid for user {name}: no such user: {name}"),
        ))
    };
    let (uid, primary) = lookup("etc/passwd", u, 3)?;
    let gid = match g {
        Some(g) => lookup("etc/group", g, 99)?.0,
        None => primary.unwrap_or(uid),
    };
    Ok((uid, gid))
}

/// `mkdir -p` of the absolute container path `dir` in the mounted rootfs; directories it
/// creates get `owner`. Symlinks on the way resolve inside the root.
pub(crate) fn mkdir_p(
    _sh: &Shared,
    _st: &State,
    root: &Path,
    dir: &str,
    line: usize,
) -> Result<Vec<String>> {
    mkdir_owned(root, dir, None, line)
}

fn mkdir_owned(
    root: &Path,
    dir: &str,
    owner: Option<(u32, u32)>,
    line: usize,
) -> Result<Vec<String>> {
    let rootfd = storage::fsutil::open_dir(root).map_err(Error::io("opening the rootfs"))?;
    let rel = clean(dir).trim_start_matches('/').to_string();
    let mut created = Vec::new();
    let mut prefix = PathBuf::new();
    for c in rel.split('/').filter(|c| !c.is_empty()) {
        prefix.push(c);
        if storage::fsutil::open_dir_in(rootfd.as_fd(), &prefix).is_err() {
            created.push(prefix.to_string_lossy().into_owned());
        }
    }
    storage::fsutil::open_dir_create(rootfd.as_fd(), Path::new(&rel))
        .map_err(|e| step_err(line, format!("mkdir {dir}: {e}")))?;
    if let Some((u, g)) = owner {
        for c in &created {
            let fd = storage::fsutil::open_dir_in(rootfd.as_fd(), Path::new(c))
                .map_err(Error::io(format!("opening {c}")))?;
            rustix::fs::fchown(
                &fd,
                Some(rustix::fs::Uid::from_raw(u)),
                Some(rustix::fs::Gid::from_raw(g)),
            )
            .map_err(|e| Error::io(format!("chown {c}"))(e.into()))?;
        }
    }
    Ok(created)
}

/// What one COPY/ADD puts into the snapshot.
enum Item {
    /// Entries extracted under `dir`.
    Files { dir: String, entries: Vec<Entry> },
    /// A file's bytes (heredoc, download) at `dir`/`name`.
    Bytes {
        dir: String,
        name: String,
        base: String,
        data: Vec<u8>,
        mode: u32,
        mtime: u64,
    },
    /// A local archive ADD extracts into `dir`.
    Archive { dir: String, path: PathBuf },
}

fn is_archive(p: &Path) -> bool {
    let mut head = [0u8; 512];
    let Ok(mut f) = std::fs::File::open(p) else {
        return false;
    };
    let n = f.read(&mut head).unwrap_or(0);
    let h = &head[..n];
    h.starts_with(&[0x1f, 0x8b])
        || h.starts_with(b"BZh")
        || h.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0])
        || h.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
        || (n >= 262 && &h[257..262] == b"ustar")
}

fn archive_reader(p: &Path) -> Result<Box<dyn Read + Send>> {
    let f = std::fs::File::open(p).map_err(Error::io(format!("open {}", p.display())))?;
    let mut head = [0u8; 4];
    let n = std::fs::File::open(p)
        .and_then(|mut g| g.read(&mut head))
        .unwrap_or(0);
    let h = &head[..n];
    Ok(if h.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::MultiGzDecoder::new(f))
    } else if h.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Box::new(zstd::stream::read::Decoder::new(f).map_err(Error::io("zstd"))?)
    } else if h.starts_with(b"BZh") || h.starts_with(&[0xfd, b'7']) {
        return Err(Error::InvalidArgument(
            "ADD of bzip2/xz archives is not supported yet".into(),
        ));
    } else {
        Box::new(f)
    })
}

fn download(url: &str, checksum: Option<&str>, line: usize) -> Result<(Vec<u8>, u64)> {
    let resp = ureq::get(url).call().map_err(|e| {
        step_err(
            line,
            format!("failed to load cache key: invalid response status: {e}"),
        )
    })?;
    let mtime = resp
        .header("Last-Modified")
        .and_then(|m| chrono::DateTime::parse_from_rfc2822(m).ok())
        .map(|t| t.timestamp().max(0) as u64)
        .unwrap_or(0);
    let mut data = Vec::new();
    resp.into_reader()
        .read_to_end(&mut data)
        .map_err(|e| step_err(line, format!("downloading {url}: {e}")))?;
    if let Some(c) = checksum {
        let want = c
            .strip_prefix("sha256:")
            .ok_or_else(|| step_err(line, format!("unsupported digest algorithm in {c:?}")))?;
        let got = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&data));
        if got != want {
            return Err(step_err(
                line,
                format!("digest mismatch sha256:{got}: sha256:{want}"),
            ));
        }
    }
    Ok((data, mtime))
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

pub(crate) fn copy_step(
    sh: &Shared,
    st: &mut State,
    s: &Step,
    c: &CopyArgs,
    title: &str,
) -> Result<()> {
    let line = s.line;
    if c.keep_git_dir {
        return Err(step_err(
            line,
            "ADD --keep-git-dir applies to git sources, which berth does not fetch yet",
        ));
    }
    let ex = |w: &str| st.expand(sh, w, line);
    let dest_raw = ex(&c.dest)?;
    let wd = st.workdir();
    let dest_abs = if dest_raw.starts_with('/') {
        dest_raw.clone()
    } else {
        format!("{}/{dest_raw}", wd.trim_end_matches('/'))
    };
    let dest_is_dir = dest_raw.ends_with('/') || dest_raw == "." || dest_raw.ends_with("/.");
    let dest_clean = clean(&dest_abs);
    let name = if c.add { "ADD" } else { "COPY" };
    let from = c.from.as_deref().map(ex).transpose()?;
    let chown = c.chown.as_deref().map(ex).transpose()?;
    let chmod = match c.chmod.as_deref().map(ex).transpose()? {
        Some(m) => Some(u32::from_str_radix(&m, 8).map_err(|_| {
            step_err(
                line,
                format!("invalid chmod parameter {m:?}: only octal modes are supported"),
            )
        })?),
        None => None,
    };
    let excludes: Vec<String> = c.excludes.iter().map(|e| ex(e)).collect::<Result<_>>()?;
    let exclude = if excludes.is_empty() {
        None
    } else {
        Some(Ignore::parse(&excludes.join("\n")).map_err(|e| step_err(line, e))?)
    };
    // The source tree: the context, or a stage's / an image's rootfs.
    let store = sh.engine.images()?;
    let from_image = match &from {
        None => None,
        Some(f) => Some(match sh.df.stage_index(f) {
            Some(j) => sh.board.wait(j)?.image.unwrap_or_default(),
            None => match store.resolve(f) {
                Ok(id) => id,
                Err(_) => match sh.req.puller {
                    Some(pull) => pull(f).map_err(|e| step_err(line, e))?,
                    None => return Err(step_err(line, format!("{f}: image not found"))),
                },
            },
        }),
    };
    let mut srcs: Vec<String> = Vec::new();
    for src in &c.sources {
        if src.starts_with("<<") {
            srcs.push(src.clone());
        } else {
            srcs.push(ex(src)?);
        }
    }
    let mut flags = String::new();
    if let Some(f) = &from {
        flags.push_str(&format!("--from={f} "));
    }
    if let Some(o) = &chown {
        flags.push_str(&format!("--chown={o} "));
    }
    if let Some(m) = &c.chmod {
        flags.push_str(&format!("--chmod={m} "));
    }
    if c.parents {
        flags.push_str("--parents ");
    }
    for x in &excludes {
        flags.push_str(&format!("--exclude={x} "));
    }
    // BuildKit's history text leaves the flags out (they are in the cache key).
    let created_by = format!("{name} {} {dest_raw} # buildkit", srcs.join(" "));
    // An image is immutable: its ID stands for the content of what is copied from it, so a
    // hit needs no snapshot.
    let image_key = from_image.as_ref().map(|id| {
        let extra = format!("{flags}|{}", chmod.unwrap_or(0));
        cache::key(st, &created_by, &[extra.as_bytes(), id.as_bytes()])
    });
    if let Some(k) = &image_key {
        if let Some(id) = cache::lookup(sh, st, k, &created_by) {
            let p = sh.progress.step(title);
            super::stage::adopt(sh, st, &id)?;
            p.cached();
            return Ok(());
        }
    }
    let from_snap = match &from_image {
        Some(id) => Some(Snapshot::new(
            store.layers(),
            store.get(id)?.top_layer().as_deref(),
        )?),
        None => None,
    };
    let tree = Tree {
        root: from_snap.as_ref().map_or(&sh.ctx.root, |s| &s.root),
        ignore: if from_snap.is_some() {
            None
        } else {
            Some(&sh.ctx.ignore)
        },
        exclude,
    };
    let mut resolved: Vec<(String, Vec<Source>)> = Vec::new();
    let mut count = 0;
    for src in &srcs {
        if src.starts_with("<<") || (c.add && is_url(src)) {
            count += 1;
            resolved.push((src.clone(), Vec::new()));
            continue;
        }
        let v = tree.sources(src).map_err(|e| {
            step_err(
                line,
                format!("failed to compute cache key: failed to calculate checksum of ref: {e}"),
            )
        })?;
        count += v.len();
        resolved.push((src.clone(), v));
    }
    if count > 1 && !dest_is_dir {
        return Err(step_err(
            line,
            format!("When using {name} with more than one source file, the destination must be a directory and end with a /"),
        ));
    }
    // Items and the content digest; whether a lone file goes *into* an existing dir is
    // decided in the snapshot.
    let mut items: Vec<(Item, bool)> = Vec::new();
    let mut digests: Vec<String> = Vec::new();
    for (src, list) in &resolved {
        if let Some(hname) = src.strip_prefix("<<") {
            let h = c
                .heredocs
                .iter()
                .find(|h| h.name == hname)
                .ok_or_else(|| step_err(line, format!("heredoc {hname} not found")))?;
            let mut content = if h.chomp {
                build::parser::chomp_heredoc_content(&h.content)
            } else {
                h.content.clone()
            };
            if h.expand {
                content = st.expand(sh, &content, line)?;
            }
            digests.push(hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
                content.as_bytes(),
            )));
            let (dir, fname) = split_dest(&dest_clean, dest_is_dir, hname);
            items.push((
                Item::Bytes {
                    dir,
                    name: fname,
                    base: hname.to_string(),
                    data: content.into_bytes(),
                    mode: 0o644,
                    mtime: unix_now(),
                },
                !dest_is_dir,
            ));
            continue;
        }
        if c.add && is_url(src) {
            let (data, mtime) = download(src, c.checksum.as_deref(), line)?;
            digests.push(hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&data)));
            let base = src
                .split(['?', '#'])
                .next()
                .unwrap_or("")
                .rsplit('/')
                .next()
                .filter(|b| !b.is_empty())
                .unwrap_or("index.html")
                .to_string();
            let (dir, fname) = split_dest(&dest_clean, dest_is_dir, &base);
            items.push((
                Item::Bytes {
                    dir,
                    name: fname,
                    base,
                    data,
                    mode: 0o600,
                    mtime,
                },
                !dest_is_dir,
            ));
            continue;
        }
        for so in list {
            if c.add && !so.is_dir && is_archive(&so.host) {
                digests.push(digest(&[Entry {
                    src: so.host.clone(),
                    name: "archive".into(),
                    md: std::fs::metadata(&so.host).map_err(Error::io("stat"))?,
                }])?);
                items.push((
                    Item::Archive {
                        dir: dest_clean.clone(),
                        path: so.host.clone(),
                    },
                    false,
                ));
                continue;
            }
            let parents_prefix = if c.parents {
                Path::new(&so.rel)
                    .parent()
                    .map(|p| p.to_string_lossy().into_owned())
                    .filter(|p| !p.is_empty() && p != ".")
            } else {
                None
            };
            let mut entries = Vec::new();
            let base = Path::new(&so.rel)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let (dir, fname) = if so.is_dir {
                (dest_clean.clone(), String::new())
            } else {
                split_dest(&dest_clean, dest_is_dir || count > 1, &base)
            };
            let fname = match (&parents_prefix, so.is_dir) {
                (Some(p), true) => format!("{p}/{base}"),
                (Some(p), false) => format!("{p}/{fname}"),
                (None, _) => fname,
            };
            crate::timing::mark("build:copy:walk");
            tree.entries(so, &fname, &mut entries)
                .map_err(|e| step_err(line, e.to_string()))?;
            crate::timing::mark("build:copy:walked");
            digests.push(digest(&entries)?);
            crate::timing::mark("build:copy:hashed");
            items.push((
                Item::Files { dir, entries },
                !so.is_dir && !dest_is_dir && count == 1,
            ));
        }
    }
    let all = digests.join(",");
    let key = match image_key {
        Some(k) => k,
        None => {
            let extra = format!("{all}|{flags}|{}", chmod.unwrap_or(0));
            cache::key(st, &created_by, &[extra.as_bytes()])
        }
    };
    let cfg = st.config.clone();
    fs_step(
        sh,
        st,
        s,
        title,
        cfg,
        created_by,
        key,
        move |_sh, _st, root| {
            let owner = chown
                .as_deref()
                .map(|c| chown_ids(root, c, line))
                .transpose()?;
            for (item, lone_file) in items {
                apply(root, item, lone_file, owner, chmod, line)?;
            }
            Ok(())
        },
    )
}

/// The directory to extract into and the entry name for a file `base` copied to `dest`.
fn split_dest(dest: &str, into_dir: bool, base: &str) -> (String, String) {
    if into_dir {
        (dest.to_string(), base.to_string())
    } else {
        let p = Path::new(dest);
        (
            p.parent()
                .map_or("/".into(), |d| d.to_string_lossy().into_owned()),
            p.file_name()
                .map_or(base.to_string(), |n| n.to_string_lossy().into_owned()),
        )
    }
}

fn apply(
    root: &Path,
    item: Item,
    lone_file: bool,
    owner: Option<(u32, u32)>,
    chmod: Option<u32>,
    line: usize,
) -> Result<()> {
    let (uid, gid) = owner.unwrap_or((0, 0));
    match item {
        Item::Archive { dir, path } => {
            mkdir_owned(root, &dir, owner, line)?;
            let mut r = archive_reader(&path)?;
            crate::cp::copy_in(root, &dir, &mut r).map_err(|e| step_err(line, e.to_string()))
        }
        Item::Bytes {
            dir,
            name,
            base,
            data,
            mode,
            mtime,
        } => {
            let (dir, name) = into_existing_dir(root, dir, name, lone_file, &base);
            mkdir_owned(root, &dir, owner, line)?;
            let mode = chmod.unwrap_or(mode);
            let mut r = storage::diff::spawn_tar(move |b| {
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(data.len() as u64);
                h.set_mode(mode);
                h.set_uid(uid as u64);
                h.set_gid(gid as u64);
                h.set_mtime(mtime);
                b.append_data(&mut h, &name, &data[..])
            });
            crate::cp::copy_in(root, &dir, &mut r).map_err(|e| step_err(line, e.to_string()))
        }
        Item::Files { dir, mut entries } => {
            if lone_file && entries.len() == 1 {
                let base = entries[0]
                    .src
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let (d, n) =
                    into_existing_dir(root, dir.clone(), entries[0].name.clone(), true, &base);
                entries[0].name = n;
                return write_entries(root, &d, entries, owner, chmod, line);
            }
            write_entries(root, &dir, entries, owner, chmod, line)
        }
    }
}

/// A lone file copied to `dir/name` where `dir/name` is an existing directory goes into it.
fn into_existing_dir(
    root: &Path,
    dir: String,
    name: String,
    lone: bool,
    base: &str,
) -> (String, String) {
    if lone {
        let full = format!("{}/{name}", dir.trim_end_matches('/'));
        if let Ok(st) = crate::cp::stat_in(root, &full, true) {
            if st.is_dir {
                return (full, base.to_string());
            }
        }
    }
    (dir, name)
}

fn write_entries(
    root: &Path,
    dir: &str,
    entries: Vec<Entry>,
    owner: Option<(u32, u32)>,
    chmod: Option<u32>,
    line: usize,
) -> Result<()> {
    mkdir_owned(root, dir, owner, line)?;
    if entries.is_empty() {
        return Ok(());
    }
    let (uid, gid) = owner.unwrap_or((0, 0));
    let fallback = entries
        .first()
        .and_then(|e| {
            Path::new(&e.src)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_default();
    let mut r = storage::diff::spawn_tar(move |b| {
        for e in entries {
            let name = if e.name.is_empty() {
                fallback.clone()
            } else {
                e.name.clone()
            };
            let mut h = tar::Header::new_gnu();
            let ft = e.md.file_type();
            let mode = chmod.unwrap_or(e.md.mode() & 0o7777);
            h.set_mode(mode);
            h.set_uid(uid as u64);
            h.set_gid(gid as u64);
            h.set_mtime(e.md.mtime().max(0) as u64);
            if ft.is_dir() {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                b.append_data(&mut h, format!("{name}/"), std::io::empty())?;
            } else if ft.is_symlink() {
                let t = std::fs::read_link(&e.src)?;
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                h.set_mode(0o777);
                b.append_link(&mut h, &name, &t)?;
            } else if ft.is_file() {
                let f = std::fs::File::open(&e.src)?;
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(e.md.len());
                b.append_data(&mut h, &name, f)?;
            }
            // Sockets, FIFOs and devices in a context are not copied (as BuildKit).
        }
        Ok(())
    });
    crate::timing::mark("build:copy:extract");
    let res = crate::cp::copy_in(root, dir, &mut r).map_err(|e| step_err(line, e.to_string()));
    crate::timing::mark("build:copy:extracted");
    res
}
