//! `cp` between the host and a container.

use super::open_engine;
use crate::{CmdResult, Failure, Global};
use clap::Args;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information)
    #[arg(short = 'a', long)]
    pub archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long = "follow-link")]
    pub follow_link: bool,
    /// Suppress progress output during copy
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// CONTAINER:SRC_PATH or SRC_PATH|-
    pub src: String,
    /// CONTAINER:DEST_PATH or DEST_PATH|-
    pub dest: String,
}

/// "name:path" → Some((name, path)); host paths (absolute, ./relative, or without ':') → None.
pub(super) fn split_cp_arg(s: &str) -> Option<(&str, &str)> {
    if s.starts_with('/') || s.starts_with('.') {
        return None;
    }
    s.split_once(':')
        .filter(|(c, _)| !c.is_empty() && !c.contains('/'))
}

pub(super) fn basename(p: &str) -> String {
    Path::new(p.trim_end_matches('/'))
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| ".".into())
}

pub(super) fn cp(g: &Global, a: CpArgs) -> CmdResult {
    match (split_cp_arg(&a.src), split_cp_arg(&a.dest)) {
        (Some(_), Some(_)) => Err(Failure::new(
            "copying between containers is not supported",
            1,
        )),
        (None, None) => Err(Failure::new(
            "must specify at least one container source",
            1,
        )),
        (Some((c, path)), None) => cp_from(g, c, path, &a.dest, a.follow_link),
        (None, Some((c, path))) => cp_to(g, &a, c, path),
    }
}

/// `cp CONTAINER:path dest`; `follow` (-L) copies what a symlink `path` points to, resolved
/// inside the container (the copy is named after the link, as Docker's).
fn cp_from(g: &Global, container: &str, path: &str, dest: &str, follow: bool) -> CmdResult {
    let e = open_engine(g)?;
    let id = e.resolve(container)?;
    if dest == "-" {
        let mut w = std::io::BufWriter::new(std::io::stdout().lock());
        e.copy_from_container(&id, path, follow, &mut w)?;
        w.flush()?;
        return Ok(());
    }
    let stat = e.stat_path(&id, path, follow)?;
    let dest_p = Path::new(dest);
    let dest_is_dir = dest_p.is_dir();
    if dest_p.exists() && !dest_is_dir && stat.is_dir {
        return Err(Failure::new("cannot copy a directory to a file", 1));
    }
    if dest.ends_with('/') && !dest_is_dir {
        return Err(Failure::new(
            format!("invalid output path: directory {dest:?} does not exist"),
            1,
        ));
    }
    let parent = if dest_is_dir {
        dest_p.to_path_buf()
    } else {
        let p = dest_p
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if !p.is_dir() {
            return Err(Failure::new(
                format!(
                    "invalid output path: directory {:?} does not exist",
                    p.display().to_string()
                ),
                1,
            ));
        }
        p.to_path_buf()
    };
    // The archive goes through a scratch directory next to the target and is renamed into
    // place: the tar crate refuses ".." and absolute names, and the rename gives Docker's
    // "copy as DEST" naming.
    let scratch = parent.join(format!(".berth-cp-{}", std::process::id()));
    std::fs::create_dir(&scratch)?;
    struct Rm(PathBuf);
    impl Drop for Rm {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _guard = Rm(scratch.clone());
    let (reader, mut writer) = std::io::pipe()?;
    let dir = scratch.clone();
    let unpacker = std::thread::spawn(move || -> std::io::Result<()> {
        let mut ar = tar::Archive::new(reader);
        ar.set_preserve_permissions(true);
        ar.set_preserve_mtime(true);
        ar.set_overwrite(true);
        ar.unpack(&dir)
    });
    let res = e.copy_from_container(&id, path, follow, &mut writer);
    drop(writer);
    let unpacked = unpacker.join().expect("unpack thread");
    res?;
    unpacked.map_err(|err| Failure::new(format!("extracting archive: {err}"), 1))?;
    let top = std::fs::read_dir(&scratch)?
        .flatten()
        .next()
        .ok_or_else(|| Failure::new(format!("{path}: nothing was copied"), 1))?
        .path();
    let target = if dest_is_dir {
        dest_p.join(top.file_name().unwrap_or_default())
    } else {
        dest_p.to_path_buf()
    };
    if target.is_dir() && top.is_dir() {
        merge_dir(&top, &target)?;
    } else {
        std::fs::rename(&top, &target)?;
    }
    Ok(())
}

/// Moves `src`'s entries into the existing directory `dst` (cp -a's merge).
fn merge_dir(src: &Path, dst: &Path) -> std::io::Result<()> {
    for ent in std::fs::read_dir(src)? {
        let ent = ent?;
        let to = dst.join(ent.file_name());
        let ft = ent.file_type()?;
        if ft.is_dir() && to.is_dir() && !to.is_symlink() {
            merge_dir(&ent.path(), &to)?;
        } else {
            if to.is_dir() && !to.is_symlink() {
                std::fs::remove_dir_all(&to)?;
            }
            std::fs::rename(ent.path(), &to)?;
        }
    }
    Ok(())
}

/// Appends `src` (recursively) as `name`. Without `archive` (-a) the entries belong to root,
/// like Docker's `cp` into a container; `follow` (-L) follows a symlink given as `src` only.
fn append_tree<W: Write>(
    b: &mut tar::Builder<W>,
    src: &Path,
    name: &Path,
    follow: bool,
    archive: bool,
) -> std::io::Result<()> {
    let meta = if follow {
        std::fs::metadata(src)?
    } else {
        std::fs::symlink_metadata(src)?
    };
    let mut h = tar::Header::new_gnu();
    h.set_metadata_in_mode(&meta, tar::HeaderMode::Complete);
    if !archive {
        h.set_uid(0);
        h.set_gid(0);
        h.set_username("")?;
        h.set_groupname("")?;
    }
    let ft = meta.file_type();
    if ft.is_symlink() {
        let target = std::fs::read_link(src)?;
        b.append_link(&mut h, name, target)?;
    } else if ft.is_file() {
        b.append_data(&mut h, name, std::fs::File::open(src)?)?;
    } else if ft.is_dir() {
        b.append_data(&mut h, name, std::io::empty())?;
        let mut entries: Vec<_> = std::fs::read_dir(src)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            append_tree(b, &e.path(), &name.join(e.file_name()), false, archive)?;
        }
    } else {
        // FIFOs and device nodes: the header carries everything.
        h.set_size(0);
        b.append_data(&mut h, name, std::io::empty())?;
    }
    Ok(())
}

fn cp_to(g: &Global, a: &CpArgs, container: &str, path: &str) -> CmdResult {
    let e = open_engine(g)?;
    let id = e.resolve(container)?;
    if a.src == "-" {
        let mut input = std::io::stdin().lock();
        e.copy_to_container(&id, path, &mut input)?;
        return Ok(());
    }
    let src = PathBuf::from(&a.src);
    let meta = if a.follow_link {
        std::fs::metadata(&src)
    } else {
        std::fs::symlink_metadata(&src)
    }
    .map_err(|err| Failure::new(format!("lstat {}: {err}", src.display()), 1))?;
    // A symlink as the destination is followed once, as Docker's CLI does; the engine then
    // resolves the result inside the container.
    let mut path = path.to_string();
    let mut dst = e.stat_path(&id, &path, false);
    if let Ok(st) = &dst {
        if !st.link_target.is_empty() {
            path = if st.link_target.starts_with('/') {
                st.link_target.clone()
            } else {
                let parent = Path::new(&path).parent().unwrap_or(Path::new("/"));
                parent.join(&st.link_target).display().to_string()
            };
            dst = e.stat_path(&id, &path, false);
        }
    }
    let path = path.as_str();
    let (dir, name) = match dst {
        Ok(st) if st.is_dir => (path.to_string(), basename(&a.src)),
        Ok(_) if meta.is_dir() => return Err(Failure::new("cannot copy a directory to a file", 1)),
        _ => {
            if path.ends_with('/') {
                return Err(Failure::new(format!("no such directory: {path}"), 1));
            }
            let parent = Path::new(path)
                .parent()
                .map(|p| p.display().to_string())
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| "/".into());
            (parent, basename(path))
        }
    };
    let (mut reader, writer) = std::io::pipe()?;
    let follow = a.follow_link;
    let archive = a.archive;
    let packer = std::thread::spawn(move || -> std::io::Result<()> {
        let mut b = tar::Builder::new(writer);
        append_tree(&mut b, &src, Path::new(&name), follow, archive)?;
        b.into_inner()?.flush()
    });
    let res = e.copy_to_container(&id, &dir, &mut reader);
    drop(reader);
    let packed = packer.join().expect("pack thread");
    res?;
    packed.map_err(|err| Failure::new(format!("archiving {}: {err}", a.src), 1))?;
    Ok(())
}
