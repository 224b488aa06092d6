//! `commit`, `export` and `cp`: the container's filesystem as layers and tars. Paths inside the
//! container are resolved with `runtime::rootfs::secure_join`, so a symlink in the container can
//! never send a copy outside its rootfs.

use crate::record::Record;
use crate::{CommitOptions, Engine, Error, PathStat, Result};
use image::config::{History, ImageConfig};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

pub fn commit(e: &Engine, id: &str, rec: &Record, opts: &CommitOptions) -> Result<String> {
    let store = e.images()?;
    let img = store.get(&rec.image)?;
    let parent_chain = img.top_layer();
    let mut op = store.begin()?;
    let mut tar = store.layers().diff_tar(id)?;
    let layer = store
        .layers()
        .register(&mut tar, parent_chain.as_deref(), None)?;
    op.took(&layer.chain_id)?;
    let mut cfg: ImageConfig = img.config.clone();
    // The container's config becomes the image's, with the -c changes on top.
    let mut cc = cfg.config.clone().unwrap_or_default();
    let c = &rec.config;
    cc.env = Some(c.env.clone());
    cc.cmd = c.cmd.clone();
    cc.entrypoint = c.entrypoint.clone();
    cc.working_dir = c.working_dir.clone();
    cc.user = c.user.clone();
    cc.labels = if c.labels.is_empty() {
        None
    } else {
        Some(c.labels.clone().into_iter().collect())
    };
    cc.hostname = c.hostname.clone();
    cc.tty = c.tty;
    cc.open_stdin = c.open_stdin;
    cc.image = rec.image.clone();
    for ch in &opts.changes {
        image::change::apply_change(&mut cc, ch)?;
    }
    let created = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    cfg.config = Some(cc);
    cfg.container = id.to_string();
    cfg.created = Some(created.clone());
    cfg.author = opts.author.clone();
    cfg.comment = opts.message.clone();
    cfg.parent = String::new();
    let rootfs = cfg.rootfs.get_or_insert_with(Default::default);
    rootfs.kind = "layers".into();
    rootfs.diff_ids.push(layer.diff_id.clone());
    cfg.history.push(History {
        created: Some(created),
        author: opts.author.clone(),
        created_by: format!("{} {}", rec.path, rec.args.join(" "))
            .trim()
            .to_string(),
        comment: opts.message.clone(),
        ..Default::default()
    });
    let raw = serde_json::to_vec(&cfg).map_err(|e| Error::Other(e.to_string()))?;
    let lock = store.lock()?;
    let (new_id, _) = store.create_locked(&lock, &mut op, &raw, Some(&rec.image))?;
    if let Some(r) = &opts.reference {
        let r = image::Reference::parse_normalized(r)?;
        store.tag_locked(&lock, &new_id, &r)?;
    }
    drop(lock);
    op.release_all()?;
    Ok(new_id)
}

/// Writes the whole tree under `dir` as a tar (paths relative, like `docker export`).
pub fn tar_dir(dir: &Path, w: &mut dyn Write) -> Result<()> {
    let mut b = tar::Builder::new(w);
    b.follow_symlinks(false);
    b.mode(tar::HeaderMode::Complete);
    for e in std::fs::read_dir(dir).map_err(Error::io(format!("reading {}", dir.display())))? {
        let e = e.map_err(Error::io("readdir"))?;
        let name = e.file_name();
        let p = e.path();
        let md =
            std::fs::symlink_metadata(&p).map_err(Error::io(format!("stat {}", p.display())))?;
        if md.is_dir() {
            b.append_dir_all(&name, &p)
                .map_err(Error::io(format!("archiving {}", p.display())))?;
        } else {
            b.append_path_with_name(&p, &name)
                .map_err(Error::io(format!("archiving {}", p.display())))?;
        }
    }
    b.finish().map_err(Error::io("writing tar"))?;
    Ok(())
}

fn resolve(root: &Path, path: &str) -> Result<PathBuf> {
    runtime::rootfs::secure_join(root, Path::new(path))
        .map_err(|e| Error::Other(format!("resolving {path} in the container: {e}")))
}

/// Resolves `path` keeping its last element unresolved (cp copies a symlink itself).
fn resolve_parent(root: &Path, path: &str) -> Result<(PathBuf, String)> {
    let p = Path::new(path);
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let parent = p
        .parent()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|| "/".into());
    let dir = resolve(root, if parent.is_empty() { "/" } else { &parent })?;
    Ok((dir, name))
}

pub fn stat_in(root: &Path, path: &str) -> Result<PathStat> {
    use std::os::unix::fs::MetadataExt;
    let (dir, name) = resolve_parent(root, path)?;
    let full = if name.is_empty() {
        dir.clone()
    } else {
        dir.join(&name)
    };
    let md = std::fs::symlink_metadata(&full).map_err(|_| {
        Error::InvalidArgument(format!("Could not find the file {path} in container"))
    })?;
    let link_target = if md.file_type().is_symlink() {
        std::fs::read_link(&full)
            .map(|l| l.display().to_string())
            .unwrap_or_default()
    } else {
        String::new()
    };
    Ok(PathStat {
        name: if name.is_empty() { "/".into() } else { name },
        size: md.len(),
        mode: md.mode(),
        is_dir: md.is_dir(),
        link_target,
    })
}

pub fn copy_out(root: &Path, path: &str, w: &mut dyn Write) -> Result<PathStat> {
    let st = stat_in(root, path)?;
    let (dir, name) = resolve_parent(root, path)?;
    let full = if name.is_empty() {
        dir.clone()
    } else {
        dir.join(&name)
    };
    let top = if name.is_empty() {
        ".".to_string()
    } else {
        name.clone()
    };
    let mut b = tar::Builder::new(w);
    b.follow_symlinks(false);
    b.mode(tar::HeaderMode::Complete);
    if st.is_dir {
        b.append_dir_all(&top, &full)
            .map_err(Error::io(format!("archiving {path}")))?;
    } else {
        b.append_path_with_name(&full, &top)
            .map_err(Error::io(format!("archiving {path}")))?;
    }
    b.finish().map_err(Error::io("writing tar"))?;
    Ok(st)
}

/// Extracts `tar` into the directory `path` of the container. Every entry is resolved inside
/// the rootfs (the tar crate refuses `..`; symlinks already in the container are followed only
/// within it by resolving each entry's parent with secure_join).
pub fn copy_in(root: &Path, path: &str, tar_stream: &mut dyn Read) -> Result<()> {
    let dest = resolve(root, path)?;
    if !dest.is_dir() {
        return Err(Error::InvalidArgument(format!(
            "extraction point is not a directory: {path}"
        )));
    }
    let mut a = tar::Archive::new(tar_stream);
    a.set_preserve_permissions(true);
    a.set_overwrite(true);
    for entry in a.entries().map_err(Error::io("reading tar"))? {
        let mut entry = entry.map_err(Error::io("reading tar"))?;
        let rel = entry.path().map_err(Error::io("tar path"))?.into_owned();
        if rel
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
        {
            return Err(Error::InvalidArgument(format!(
                "refusing tar entry {} outside the destination",
                rel.display()
            )));
        }
        let inside = Path::new(path).join(&rel);
        let (dir, name) = resolve_parent(root, &inside.to_string_lossy())?;
        if name.is_empty() {
            continue;
        }
        std::fs::create_dir_all(&dir).map_err(Error::io(format!("creating {}", dir.display())))?;
        let target = dir.join(&name);
        // Never write through an existing symlink at the final element.
        if std::fs::symlink_metadata(&target).is_ok_and(|m| m.file_type().is_symlink()) {
            let _ = std::fs::remove_file(&target);
        }
        entry
            .unpack(&target)
            .map_err(Error::io(format!("extracting {}", inside.display())))?;
    }
    Ok(())
}
