//! Copy-up: a volume that is empty when a container first mounts it takes the content of the
//! image at the mount's destination (files, modes, owners, times, xattrs, hard links), and
//! the destination directory's own owner and mode (Docker's `CopyImagePathContent`).
//!
//! The destination is opened inside the container's root with `openat2(RESOLVE_IN_ROOT)`:
//! a symlink in the image (`/data -> /etc`) resolves inside the image, never to the host.

use super::store;
use crate::record::Paths;
use crate::{Error, Result};
use std::os::fd::AsRawFd;
use std::path::Path;

fn is_empty(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_none())
}

/// Populates volume `name` from `rootfs`/`dest` when the volume is empty.
pub(crate) fn populate(paths: &Paths, name: &str, rootfs: &Path, dest: &str) -> Result<()> {
    let data = store::data_dir(paths, name);
    if !is_empty(&data) {
        return Ok(());
    }
    let root = storage::fsutil::open_dir(rootfs)
        .map_err(Error::io(format!("opening {}", rootfs.display())))?;
    let rel = Path::new(dest.trim_start_matches('/'));
    let src = match storage::fsutil::open_dir_in(std::os::fd::AsFd::as_fd(&root), rel) {
        Ok(fd) => fd,
        // Nothing (or no directory) there in the image: nothing to copy.
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::ENOENT) | Some(libc::ENOTDIR) | Some(libc::ELOOP)
            ) =>
        {
            return Ok(())
        }
        Err(e) => return Err(Error::io(format!("opening {dest} in the image"))(e)),
    };
    // Two containers starting on one new volume: one copies, the other finds it filled.
    let _l = store::lock(paths)?;
    if !is_empty(&data) {
        return Ok(());
    }
    let from = format!("/proc/self/fd/{}", src.as_raw_fd());
    runtime::timing::mark("vol:copy_up");
    let r = storage::fsutil::copy_tree(Path::new(&from), &data);
    runtime::timing::mark("vol:copied_up");
    r.map_err(|e| {
        Error::Other(format!(
            "copying the image's {dest} into volume {name}: {e}"
        ))
    })
}
