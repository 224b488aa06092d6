//! `volume-subpath` without a race: the subpath is opened inside its volume with
//! `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)` and that exact inode is bind-mounted (via
//! `/proc/self/fd/N`) on a staging point, `<runroot>/subpaths/<container-id>-<n>`, which is
//! what the container's spec binds. A container that shares the volume and swaps a component
//! for a symlink after the check cannot redirect the mount (Docker's safepath does the same).
//!
//! The staging mounts live as long as the container runs (restarts reuse its spec) and go
//! with its resources ([`release`]); a crash's leftovers are `system check` findings (their
//! owner is the ID in the name). Nothing here ever deletes recursively: a staging point is
//! removed with `rmdir`/`unlink` once unmounted, never through a mount.

use crate::record::Paths;
use crate::{Error, Result};
use rustix::fs::{Mode, OFlags, ResolveFlags};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

fn dir(paths: &Paths) -> PathBuf {
    paths.runroot.join("subpaths")
}

fn gone(p: &Path) {
    while super::store::is_mounted(p) {
        if rustix::mount::unmount(p, rustix::mount::UnmountFlags::DETACH).is_err() {
            return;
        }
    }
    // Only an empty dir or a plain file: never recursive.
    if std::fs::remove_dir(p).is_err() {
        let _ = std::fs::remove_file(p);
    }
}

/// Mounts `sub` of the volume at `data` on container `id`'s `n`th staging point.
pub(crate) fn stage(paths: &Paths, id: &str, n: usize, data: &Path, sub: &str) -> Result<PathBuf> {
    let cannot = |e: std::io::Error| {
        Error::InvalidArgument(format!(
            "cannot access path {}: {e}",
            data.join(sub.trim_start_matches('/')).display()
        ))
    };
    let root = storage::fsutil::open_dir(data).map_err(cannot)?;
    let rel = sub.trim_start_matches('/');
    let fd = rustix::fs::openat2(
        &root,
        if rel.is_empty() { "." } else { rel },
        OFlags::PATH | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    )
    .map_err(|e| cannot(e.into()))?;
    let is_dir = rustix::fs::fstat(&fd)
        .map(|st| rustix::fs::FileType::from_raw_mode(st.st_mode).is_dir())
        .map_err(|e| cannot(e.into()))?;
    let d = dir(paths);
    crate::perms::mkdir(&d, 0o700)
        .or_else(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => Ok(()),
            _ => Err(e),
        })
        .map_err(Error::io(format!("creating {}", d.display())))?;
    let target = d.join(format!("{id}-{n}"));
    gone(&target);
    if is_dir {
        std::fs::create_dir(&target)
    } else {
        std::fs::File::create(&target).map(drop)
    }
    .map_err(Error::io(format!("creating {}", target.display())))?;
    let from = format!("/proc/self/fd/{}", fd.as_raw_fd());
    rustix::mount::mount_bind_recursive(from.as_str(), &target).map_err(|e| {
        gone(&target);
        Error::Other(format!(
            "mounting volume subpath {sub}: {}",
            std::io::Error::from(e)
        ))
    })?;
    Ok(target)
}

/// Unmounts and removes container `id`'s staging points.
pub(crate) fn release(paths: &Paths, id: &str) {
    let prefix = format!("{id}-");
    for e in std::fs::read_dir(dir(paths))
        .into_iter()
        .flatten()
        .flatten()
    {
        if e.file_name().to_string_lossy().starts_with(&prefix) {
            gone(&e.path());
        }
    }
}
