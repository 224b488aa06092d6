//! `--ipc` modes as Docker 20.10 has them: `private` (default: a new IPC namespace and a
//! private /dev/shm tmpfs), `none` (a new IPC namespace, no /dev/shm), `shareable` (like
//! private, but its /dev/shm is a tmpfs on the host side, `<run dir>/shm`, that other
//! containers can mount), `host` (the host's namespace and /dev/shm) and `container:<x>`
//! (x's namespace and /dev/shm; only when x is `shareable` or `host`, else Docker's
//! "non-shareable IPC" error).

use crate::spec::Ns;
use crate::types::HostConfig;
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// Where a shareable container's /dev/shm lives on the host (Docker: `<ctr>/mounts/shm`).
pub fn shm_dir(run_dir: &Path) -> PathBuf {
    run_dir.join("shm")
}

/// Mounts the host-side tmpfs of a shareable container (size `--shm-size`).
pub fn mount_shareable_shm(run_dir: &Path, size: i64) -> Result<PathBuf> {
    use nix::mount::{mount, MsFlags};
    let dir = shm_dir(run_dir);
    std::fs::create_dir_all(&dir).map_err(Error::io(format!("creating {}", dir.display())))?;
    // A start after a crash finds the old tmpfs still mounted: replace it.
    unmount_shm(run_dir);
    let size = if size > 0 { size } else { 64 << 20 };
    mount(
        Some("shm"),
        &dir,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some(format!("mode=1777,size={size}").as_str()),
    )
    .map_err(|e| Error::Other(format!("mounting the shm of {}: {e}", dir.display())))?;
    Ok(dir)
}

/// Unmounts a shareable container's /dev/shm tmpfs (no-op when there is none).
pub fn unmount_shm(run_dir: &Path) {
    let dir = shm_dir(run_dir);
    while nix::mount::umount2(&dir, nix::mount::MntFlags::MNT_DETACH).is_ok() {}
}

/// The donor of `container:<x>`: its namespace path and the /dev/shm to bind, after Docker's
/// checks (`getIpcContainer`): running, and its IPC shareable.
pub fn donor(
    id: &str,
    pid: i64,
    running: bool,
    host: &HostConfig,
    run_dir: &Path,
) -> Result<(Ns, PathBuf)> {
    let err = |m: String| Error::Conflict(format!("can't join IPC of container {id}: {m}"));
    if !running {
        return Err(err(format!("container {id} is not running")));
    }
    match host.ipc_mode.as_str() {
        "host" => Ok((Ns::Host, PathBuf::from("/dev/shm"))),
        "shareable" if shm_dir(run_dir).is_dir() => Ok((
            Ns::Join(format!("/proc/{pid}/ns/ipc").into()),
            shm_dir(run_dir),
        )),
        _ => Err(err(
            "non-shareable IPC (hint: use IpcMode:shareable for the donor container)".into(),
        )),
    }
}
