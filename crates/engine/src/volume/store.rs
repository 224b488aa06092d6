//! The volumes on disk, as Docker's `local` driver keeps them: `<root>/volumes/<name>/_data`
//! (the data), `<root>/volumes/<name>/opts.json` (the mount options of a volume made with
//! `-o type=...`, Docker's format) and `<root>/volumes/<name>/meta.json` (what Docker keeps
//! in its `metadata.db`: creation time, labels, the options as given). Creations, removals
//! and the registration of a container's volumes hold `<root>/volumes/.lock` (flock), so a
//! volume is never removed while a container that uses it is being created.

use super::{VolumeError, ANONYMOUS_LABEL};
use crate::record::{self, Paths};
use crate::types::Map;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// `volumes/<name>/meta.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct Meta {
    pub created_at: String,
    pub labels: Option<Map<String>>,
    pub options: Option<Map<String>>,
}

/// `volumes/<name>/opts.json`, the local driver's mount options (Docker's `optsConfig`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct MountOpts {
    pub mount_type: String,
    pub mount_opts: String,
    pub mount_device: String,
    pub quota: Quota,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct Quota {
    pub size: u64,
}

pub(crate) fn volumes_dir(paths: &Paths) -> PathBuf {
    paths.root.join("volumes")
}

pub(crate) fn volume_dir(paths: &Paths, name: &str) -> PathBuf {
    volumes_dir(paths).join(name)
}

pub(crate) fn data_dir(paths: &Paths, name: &str) -> PathBuf {
    volume_dir(paths, name).join("_data")
}

/// Docker's local volume names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub(crate) fn valid_name(n: &str) -> bool {
    n.len() >= 2
        && n.chars()
            .enumerate()
            .all(|(i, c)| c.is_ascii_alphanumeric() || (i > 0 && "_.-".contains(c)))
}

pub(crate) fn invalid_name_msg(n: &str) -> String {
    format!(
        "\"{n}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
    )
}

/// An exclusive flock on `volumes/.lock`, released on drop.
pub(crate) struct VolumesLock(#[allow(dead_code)] File);

pub(crate) fn lock(paths: &Paths) -> Result<VolumesLock> {
    let dir = volumes_dir(paths);
    crate::perms::mkdir(&dir, crate::perms::VOLUMES)
        .map_err(Error::io(format!("creating {}", dir.display())))?;
    let p = dir.join(".lock");
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&p)
        .map_err(Error::io(format!("locking {}", p.display())))?;
    loop {
        // SAFETY: flock on an fd we own.
        let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
        if r == 0 {
            return Ok(VolumesLock(f));
        }
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(Error::io("flock volumes/.lock")(e));
        }
    }
}

/// Checks the local driver's options (`type`, `device`, `o`) as Docker does.
pub(crate) fn validate_options(name: &str, o: &Map<String>) -> Result<()> {
    let bad = |why: String| -> Error {
        VolumeError::Invalid {
            name: name.to_string(),
            why,
        }
        .into()
    };
    for k in o.keys() {
        match k.as_str() {
            "type" | "device" | "o" => {}
            // Docker accepts `size` on xfs with project quotas only; berth has no quotas.
            "size" => return Err(bad("quota size requested but no quota support".into())),
            _ => return Err(bad(format!("invalid option: \"{k}\""))),
        }
    }
    if o.contains_key("type") && !o.contains_key("device") {
        return Err(bad("missing required option: \"device\"".into()));
    }
    if o.contains_key("device") && !o.contains_key("type") {
        return Err(bad("missing required option: \"type\"".into()));
    }
    Ok(())
}

pub(crate) fn read_meta(paths: &Paths, name: &str) -> Option<Meta> {
    let dir = volume_dir(paths, name);
    let md = std::fs::symlink_metadata(&dir)
        .ok()
        .filter(|m| m.is_dir())?;
    let mut meta: Meta = match std::fs::read(dir.join("meta.json")) {
        Ok(b) => serde_json::from_slice(&b).unwrap_or_default(),
        // A volume of a berth before meta.json: those named with 64 hex digits were made
        // anonymous (its `rm -v` removed them).
        Err(_) if name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()) => Meta {
            labels: Some([(ANONYMOUS_LABEL.to_string(), String::new())].into()),
            ..Default::default()
        },
        Err(_) => Meta::default(),
    };
    if meta.created_at.is_empty() {
        // A volume made by an older berth (or a create killed before its meta.json): the
        // directory's time, as Docker's local driver reports it.
        let t: chrono::DateTime<chrono::Utc> = md
            .modified()
            .map(Into::into)
            .unwrap_or_else(|_| chrono::Utc::now());
        meta.created_at = t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    }
    Some(meta)
}

pub(crate) fn read_opts(paths: &Paths, name: &str) -> Option<MountOpts> {
    std::fs::read(volume_dir(paths, name).join("opts.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
}

/// Creates the volume under the lock the caller holds; an existing one is returned as it is
/// (Docker's behaviour, whatever labels and options were asked). Returns whether it was new.
pub(crate) fn create_locked(
    paths: &Paths,
    name: &str,
    labels: &Map<String>,
    options: &Map<String>,
) -> Result<bool> {
    let dir = volume_dir(paths, name);
    if read_meta(paths, name).is_some() && dir.join("_data").is_dir() {
        return Ok(false);
    }
    crate::perms::mkdir(&dir, crate::perms::VOLUMES)
        .map_err(Error::io(format!("creating volume {name}")))?;
    let meta = Meta {
        created_at: chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        labels: (!labels.is_empty()).then(|| labels.clone()),
        options: (!options.is_empty()).then(|| options.clone()),
    };
    if !options.is_empty() {
        let o = MountOpts {
            mount_type: options.get("type").cloned().unwrap_or_default(),
            mount_opts: options.get("o").cloned().unwrap_or_default(),
            mount_device: options.get("device").cloned().unwrap_or_default(),
            quota: Quota::default(),
        };
        record::write_atomic_mode(
            &dir.join("opts.json"),
            &serde_json::to_vec(&o).expect("serializable"),
            0o600,
        )?;
    }
    record::write_atomic_mode(
        &dir.join("meta.json"),
        &serde_json::to_vec(&meta).expect("serializable"),
        0o600,
    )?;
    match crate::perms::mkdir(&dir.join("_data"), 0o755) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(Error::io(format!("creating volume {name}"))(e)),
    }
    Ok(true)
}

/// Names of the volumes on disk, sorted.
pub(crate) fn names(paths: &Paths) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(volumes_dir(paths))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| valid_name(n))
        .collect();
    v.sort();
    v
}

pub(crate) fn is_anonymous(meta: &Meta) -> bool {
    meta.labels
        .as_ref()
        .is_some_and(|l| l.contains_key(ANONYMOUS_LABEL))
}

/// Which containers use which volume (name → container IDs), from the containers' records.
pub(crate) fn users(paths: &Paths) -> Map<Vec<String>> {
    let mut out: Map<Vec<String>> = Map::new();
    for e in std::fs::read_dir(paths.containers())
        .into_iter()
        .flatten()
        .flatten()
    {
        let Ok(id) = e.file_name().into_string() else {
            continue;
        };
        if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            continue;
        }
        let Ok(r) = record::load(paths, &id) else {
            continue;
        };
        for m in &r.mount_points {
            if m.kind == "volume" && !m.name.is_empty() {
                let ids = out.entry(m.name.clone()).or_default();
                if !ids.contains(&id) {
                    ids.push(id.clone());
                }
            }
        }
    }
    out
}

/// Whether `p` is a mount point in our mount namespace.
pub(crate) fn is_mounted(p: &Path) -> bool {
    // mountinfo escapes space, tab, newline and backslash as octal.
    fn unescape(s: &str) -> String {
        let b = s.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'\\'
                && i + 3 < b.len()
                && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
            {
                out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
                i += 4;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|m| Path::new(&unescape(m)) == p)
}

/// `<runroot>/volume-mounts/<name>/<container-id>`: which running containers use a volume
/// made with `-o type=...` (the local driver's active count; volatile like the mounts).
fn refs_dir(paths: &Paths) -> PathBuf {
    paths.runroot.join("volume-mounts")
}

/// Mounts a volume made with `-o type=...` on its `_data` for container `id` (the first user
/// mounts it; [`release_mounts`] unmounts it after the last, as Docker's local driver).
pub(crate) fn mount_for(paths: &Paths, name: &str, id: &str) -> Result<()> {
    if read_opts(paths, name).is_none_or(|o| o.mount_type.is_empty() && o.mount_device.is_empty()) {
        return Ok(());
    }
    let _l = lock(paths)?;
    mount_options(paths, name)?;
    let d = refs_dir(paths).join(name);
    std::fs::create_dir_all(&d).map_err(Error::io(format!("creating {}", d.display())))?;
    std::fs::write(d.join(id), b"").map_err(Error::io(format!("writing {}", d.display())))
}

/// Container `id` no longer runs: the `-o type=...` volumes it was the last user of are
/// unmounted (a tmpfs volume's content goes, as with Docker). One failed `read_dir` when no
/// such volume is in use.
pub(crate) fn release_mounts(paths: &Paths, id: &str) {
    let Ok(rd) = std::fs::read_dir(refs_dir(paths)) else {
        return;
    };
    let mine: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|d| d.join(id).exists())
        .collect();
    if mine.is_empty() {
        return;
    }
    let Ok(_l) = lock(paths) else { return };
    for d in mine {
        let _ = std::fs::remove_file(d.join(id));
        if std::fs::remove_dir(&d).is_ok() {
            if let Some(name) = d.file_name().and_then(|n| n.to_str()) {
                let data = data_dir(paths, name);
                while is_mounted(&data) {
                    if rustix::mount::unmount(&data, rustix::mount::UnmountFlags::DETACH).is_err() {
                        break;
                    }
                }
            }
        }
    }
}

/// Mounts a volume made with `-o type=...` on its `_data` unless it is.
fn mount_options(paths: &Paths, name: &str) -> Result<()> {
    let Some(o) = read_opts(paths, name) else {
        return Ok(());
    };
    if o.mount_type.is_empty() && o.mount_device.is_empty() {
        return Ok(());
    }
    let data = data_dir(paths, name);
    if is_mounted(&data) {
        return Ok(());
    }
    use rustix::mount::MountFlags as F;
    let mut flags = F::empty();
    let mut rest = Vec::new();
    for x in o.mount_opts.split(',').filter(|x| !x.is_empty()) {
        match x {
            "bind" => flags |= F::BIND,
            "rbind" => flags |= F::BIND | F::REC,
            "ro" => flags |= F::RDONLY,
            "rw" => {}
            "nosuid" => flags |= F::NOSUID,
            "nodev" => flags |= F::NODEV,
            "noexec" => flags |= F::NOEXEC,
            "sync" => flags |= F::SYNCHRONOUS,
            "dirsync" => flags |= F::DIRSYNC,
            "noatime" => flags |= F::NOATIME,
            "nodiratime" => flags |= F::NODIRATIME,
            "relatime" => flags |= F::RELATIME,
            "strictatime" => flags |= F::STRICTATIME,
            "suid" | "dev" | "exec" | "async" | "atime" | "diratime" | "defaults" => {}
            d => rest.push(d),
        }
    }
    let data_opts = rest.join(",");
    rustix::mount::mount(
        o.mount_device.as_str(),
        &data,
        o.mount_type.as_str(),
        flags,
        Some(std::ffi::CString::new(data_opts.clone()).unwrap_or_default().as_c_str()),
    )
    .map_err(|e| {
        Error::Other(format!(
            "error while mounting volume '{}': failed to mount local volume: mount {}:{}, flags: {:#x}, data: {}: {}",
            data.display(),
            o.mount_device,
            data.display(),
            flags.bits(),
            data_opts,
            std::io::Error::from(e)
        ))
    })
}

/// Removes a volume under the lock the caller holds: unmounts what `-o` mounted on `_data`
/// first and never deletes through a mount that would not go (a bound host directory).
pub(crate) fn remove_locked(paths: &Paths, name: &str) -> Result<()> {
    let dir = volume_dir(paths, name);
    let data = dir.join("_data");
    if is_mounted(&data) {
        let _ = rustix::mount::unmount(&data, rustix::mount::UnmountFlags::DETACH);
        if is_mounted(&data) {
            return Err(Error::Other(format!(
                "remove {name}: cannot unmount {}",
                data.display()
            )));
        }
    }
    let _ = std::fs::remove_dir_all(refs_dir(paths).join(name));
    std::fs::remove_dir_all(&dir).map_err(Error::io(format!("remove {name}")))
}

/// Bytes in a volume's files (regular files' sizes, hard links once), as Docker's `system df`.
pub(crate) fn size(paths: &Paths, name: &str) -> u64 {
    fn walk(p: &Path, seen: &mut std::collections::HashSet<(u64, u64)>) -> u64 {
        use std::os::unix::fs::MetadataExt;
        let mut n = 0;
        for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
            let Ok(md) = e.metadata() else { continue };
            if md.is_dir() {
                n += walk(&e.path(), seen);
            } else if md.is_file() && (md.nlink() == 1 || seen.insert((md.dev(), md.ino()))) {
                n += md.len();
            }
        }
        n
    }
    walk(&data_dir(paths, name), &mut Default::default())
}
