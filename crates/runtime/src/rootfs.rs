//! The container's root filesystem: mount propagation, spec mounts (resolved safely inside the
//! rootfs), default devices and /dev symlinks, pivot_root (chroot fallback), masked and read-only
//! paths, read-only root.
//!
//! STATUS: interface stub — being implemented.

use crate::{Error, Result};
use oci_spec::runtime::Spec;
use std::path::{Path, PathBuf};

pub struct RootfsOptions<'a> {
    pub spec: &'a Spec,
    /// Absolute path of the rootfs on the host (bundle-relative `root.path` already resolved).
    pub rootfs: &'a Path,
    /// `--no-pivot`: chroot instead of pivot_root (also used when / is a ramfs).
    pub no_pivot: bool,
    /// The container runs in a new user namespace (mknod is impossible: bind-mount devices).
    pub in_userns: bool,
}

/// Runs in the container's new mount namespace before the user's process exists:
/// rootfsPropagation, bind rootfs onto itself, spec mounts, devices, /dev symlinks, /dev/ptmx,
/// then `before_pivot` (the createContainer hooks), then pivot_root or chroot, chdir("/").
pub fn setup_rootfs(opts: &RootfsOptions, before_pivot: &mut dyn FnMut() -> Result<()>) -> Result<()> {
    let _ = (opts, before_pivot);
    Err(Error::Other("rootfs: not implemented".into()))
}

/// After pivot (and after sysctls are written): maskedPaths, readonlyPaths, read-only root.
pub fn finish_rootfs(spec: &Spec) -> Result<()> {
    let _ = spec;
    Ok(())
}

/// Resolves `unsafe_path` inside `root` as if `root` were `/`: symlinks (absolute or relative) and
/// `..` can never leave `root`. Returns the host path.
pub fn secure_join(root: &Path, unsafe_path: &Path) -> Result<PathBuf> {
    let _ = (root, unsafe_path);
    todo!()
}
