//! `commit` and `export`: the container's filesystem as layers and tars (`cp` is in cp.rs).

use crate::record::Record;
use crate::{CommitOptions, Engine, Error, Result};
use image::config::{History, ImageConfig};
use std::io::Write;
use std::path::Path;

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
    image::change::apply_changes(&mut cc, &opts.changes)?;
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
