//! overlay2 specifics: short links and mount specs.
//!
//! Mount strategy (lowers = init layer + image layers, top first):
//! - fits in one page as `lowerdir=l/A:l/B...` with absolute short-link paths → one classic
//!   overlay [`Mount`] usable with mount(2) (options joined by `,`);
//! - otherwise the specs use the new mount API's `lowerdir+=DIR` options (one `fsconfig` call each,
//!   see [`perform`]); the kernel caps one overlay at 500 lowers, so beyond that the deepest layers
//!   are first mounted as a read-only overlay at `overlay2/<id>/stack` and that mount becomes the
//!   bottom lower of the container overlay (overlay over overlay is depth 2, which the kernel allows).
//!   Capacity: 499 + 500 layers.

use crate::{Error, Mount, Result};
use rustix::mount::{
    fsconfig_create, fsconfig_set_flag, fsconfig_set_string, fsmount, fsopen, move_mount,
    FsMountFlags, FsOpenFlags, MountAttrFlags, MoveMountFlags,
};
use std::path::{Path, PathBuf};

/// Max lower dirs of one overlay (measured: the 501st `lowerdir+` fails with EINVAL).
pub const MAX_LOWERS: usize = 500;
const PAGE: usize = 4000;

/// overlayfs' `volatile` option: the kernel skips every sync of the upper filesystem, so an
/// `fsync` in the container returns without the data on disk (lost on a host crash) and the
/// unmount does not sync the upper filesystem (measured here: ~200 ms → ~4 ms per `rm`).
/// Container layers are durable by default, as Docker's: `volatile` only when the container
/// asked for it (`--storage-opt volatile=true`). The unmount's sync of a durable layer is kept
/// off the reply paths by the engine (the container's mount namespace is let go by a process
/// nobody waits for). A volatile mount leaves `work/incompat/volatile` behind and refuses to
/// mount again while it exists, so [`perform`] clears it first — after a host crash the
/// layer's content is what reached the disk.
pub const VOLATILE: &str = "volatile";

pub fn new_link_id() -> String {
    use rand::Rng;
    const ALPHA: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut r = rand::thread_rng();
    (0..26)
        .map(|_| ALPHA[r.gen_range(0..ALPHA.len())] as char)
        .collect()
}

/// Mount specs for a container layer. `lowers`: absolute lower dirs, top first. `volatile`:
/// see [`VOLATILE`].
pub fn container_mounts(
    lowers: &[PathBuf],
    upper: &Path,
    work: &Path,
    stack: &Path,
    volatile: bool,
) -> Result<Vec<Mount>> {
    let up = format!("upperdir={}", upper.display());
    let wk = format!("workdir={}", work.display());
    let joined = lowers
        .iter()
        .map(|l| l.display().to_string())
        .collect::<Vec<_>>()
        .join(":");
    let overlay = |options| Mount {
        kind: "overlay".into(),
        source: "overlay".into(),
        target: None,
        options,
    };
    if lowers.is_empty() {
        return Err(Error::Other(
            "overlay2: a container layer needs at least its init layer".into(),
        ));
    }
    if lowers.len() <= MAX_LOWERS && joined.len() + up.len() + wk.len() + 32 < PAGE {
        let mut o = vec![format!("lowerdir={joined}"), up, wk];
        o.extend(volatile.then(|| VOLATILE.to_string()));
        return Ok(vec![overlay(o)]);
    }
    if lowers.len() > 2 * MAX_LOWERS - 1 {
        return Err(Error::Other(format!(
            "image has {} layers; overlay2 supports at most {}",
            lowers.len() - 1,
            2 * MAX_LOWERS - 2
        )));
    }
    let plus = |l: &PathBuf| format!("lowerdir+={}", l.display());
    if lowers.len() <= MAX_LOWERS {
        let mut o: Vec<String> = lowers.iter().map(plus).collect();
        o.extend([up, wk]);
        o.extend(volatile.then(|| VOLATILE.to_string()));
        return Ok(vec![overlay(o)]);
    }
    let top = MAX_LOWERS - 1;
    let mut stack_mount = overlay(lowers[top..].iter().map(plus).collect());
    stack_mount.target = Some(stack.to_path_buf());
    let mut o: Vec<String> = lowers[..top].iter().map(plus).collect();
    o.push(format!("lowerdir+={}", stack.display()));
    o.extend([up, wk]);
    o.extend(volatile.then(|| VOLATILE.to_string()));
    Ok(vec![stack_mount, overlay(o)])
}

/// Performs one mount spec at `target`. Overlay specs with `lowerdir+` use the new mount API
/// (each option is one fsconfig call); everything else uses mount(2).
pub fn perform(m: &Mount, target: &Path) -> Result<()> {
    let ctx = |e: std::io::Error| {
        Error::Other(format!("mounting {} at {}: {e}", m.kind, target.display()))
    };
    if m.kind == "overlay" && m.options.iter().any(|o| o == VOLATILE) {
        if let Some(work) = m.options.iter().find_map(|o| o.strip_prefix("workdir=")) {
            match std::fs::remove_dir_all(Path::new(work).join("work/incompat")) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(ctx(e)),
                _ => {}
            }
        }
    }
    if m.kind == "overlay" && m.options.iter().any(|o| o.starts_with("lowerdir+=")) {
        let fs = fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC).map_err(|e| ctx(e.into()))?;
        for opt in &m.options {
            let r = match opt.split_once('=') {
                Some((k, v)) => fsconfig_set_string(&fs, k, v),
                None => fsconfig_set_flag(&fs, opt.as_str()),
            };
            r.map_err(|e| Error::Other(format!("overlay option {opt}: {e}")))?;
        }
        fsconfig_create(&fs).map_err(|e| ctx(e.into()))?;
        let mnt = fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, MountAttrFlags::empty())
            .map_err(|e| ctx(e.into()))?;
        move_mount(
            &mnt,
            "",
            rustix::fs::CWD,
            target,
            MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
        )
        .map_err(|e| ctx(e.into()))?;
        return Ok(());
    }
    let mut flags = rustix::mount::MountFlags::empty();
    let mut data = Vec::new();
    for o in &m.options {
        match o.as_str() {
            "bind" => flags |= rustix::mount::MountFlags::BIND,
            "rbind" => flags |= rustix::mount::MountFlags::BIND | rustix::mount::MountFlags::REC,
            "ro" => flags |= rustix::mount::MountFlags::RDONLY,
            other => data.push(other),
        }
    }
    let data = std::ffi::CString::new(data.join(","))
        .map_err(|_| Error::Other("NUL in mount options".into()))?;
    rustix::mount::mount(
        m.source.as_str(),
        target,
        m.kind.as_str(),
        flags,
        Some(data.as_c_str()),
    )
    .map_err(|e| ctx(e.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_layers_are_volatile_only_when_asked() {
        let lowers = |n: usize| {
            (0..n)
                .map(|i| PathBuf::from(format!("/l/{i}")))
                .collect::<Vec<_>>()
        };
        let (up, wk, st) = (Path::new("/u"), Path::new("/w"), Path::new("/s"));
        // One classic mount, one with lowerdir+, and the stacked pair of a deep image.
        for n in [2, 300, 700] {
            for volatile in [false, true] {
                let ms = container_mounts(&lowers(n), up, wk, st, volatile).unwrap();
                let top = ms.last().unwrap();
                assert_eq!(
                    top.options.iter().any(|o| o == VOLATILE),
                    volatile,
                    "{n} lowers"
                );
                // The read-only stack below a deep image has no upper to sync.
                assert!(ms[..ms.len() - 1]
                    .iter()
                    .all(|m| !m.options.iter().any(|o| o == VOLATILE)));
            }
        }
    }
}
