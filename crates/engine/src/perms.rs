//! Who may read the store (the CVE-2021-41091 class): only root. Docker 20.10's modes, asked
//! of a private dockerd on this machine: the root, `containers/`, a container's dir and
//! `overlay2/` (and its layer dirs) 0710, `image/` 0700, `network/` 0750, `volumes/` 0701,
//! `config.v2.json` 0600, the json log 0640; the exec root (`/run/docker`) 0700, so is the
//! runroot here. hostname/hosts/resolv.conf stay 0644 (bound into the container, read there
//! by any user) behind the 0710 dirs.
//!
//! Files and directories are created with these modes (explicitly: the umask can only take
//! bits away). Roots made by earlier versions (0755 everywhere, 0644 records) are repaired on
//! their next use: [`check`] costs one stat each of the root and the runroot per command; the
//! repair walks the containers and the overlay2 layer dirs once and sets the root's own mode
//! last, so an interrupted repair is redone.

use crate::record::Paths;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

pub const ROOT: u32 = 0o710;
/// The root's own mode too: a fresh root is made with `containers/`.
pub const CONTAINERS: u32 = ROOT;
pub const CONTAINER_DIR: u32 = 0o710;
pub const CONFIG: u32 = 0o600;
pub const LOG: u32 = 0o640;
pub const NAMES: u32 = 0o700;
pub const RUNROOT: u32 = 0o700;
pub const NETWORK: u32 = 0o750;
pub const VOLUMES: u32 = 0o701;
pub const IMAGE: u32 = 0o700;
pub const LAYERS: u32 = 0o710;

/// The root's subdirectories and their modes (a missing one is skipped).
const TOP: &[(&str, u32)] = &[
    ("containers", CONTAINERS),
    ("names", NAMES),
    ("image", IMAGE),
    ("network", NETWORK),
    ("volumes", VOLUMES),
    ("overlay2", LAYERS),
    ("vfs", LAYERS),
    ("btrfs", LAYERS),
];

/// Creates `dir` (and missing parents) with `mode`; an existing one is left as it is.
pub fn mkdir(dir: &Path, mode: u32) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(dir)
}

/// Whether `p` exists with permission bits beyond `want`.
fn looser(p: &Path, want: u32) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.permissions().mode() & 0o7777 & !want != 0)
}

fn chmod(p: &Path, mode: u32) {
    let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode));
}

/// Gives a root and runroot made by an earlier version (or loosened since) safe modes.
pub fn check(paths: &Paths) {
    check_dirs(&paths.root, &paths.runroot);
}

/// [`check`] for callers that open the image store alone (the image commands).
pub fn check_dirs(root: &Path, runroot: &Path) {
    if looser(runroot, RUNROOT) {
        chmod(runroot, RUNROOT);
    }
    if looser(root, ROOT) {
        repair(root);
    }
}

/// Tightens everything under `root` an earlier version made readable by others.
pub fn repair(root: &Path) {
    for (sub, mode) in TOP {
        let p = root.join(sub);
        if p.exists() {
            chmod(&p, *mode);
        }
    }
    for e in std::fs::read_dir(root.join("containers"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let dir = e.path();
        if !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        chmod(&dir, CONTAINER_DIR);
        let id = e.file_name().to_string_lossy().into_owned();
        for f in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let name = f.file_name().to_string_lossy().into_owned();
            if name == "config.v2.json" {
                chmod(&f.path(), CONFIG);
            } else if name.starts_with(&format!("{id}-json.log")) {
                chmod(&f.path(), LOG);
            }
        }
    }
    // overlay2's layer dirs (diff, work, merged inside); vfs and btrfs layers are the
    // image's root directories themselves and keep the image's mode.
    let overlay = root.join("overlay2");
    for e in std::fs::read_dir(&overlay).into_iter().flatten().flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            let mode = if e.file_name() == "l" { 0o700 } else { LAYERS };
            chmod(&e.path(), mode);
        }
    }
    chmod(root, ROOT);
}
