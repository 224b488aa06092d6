//! Runtime state: one directory per container under the runtime root (`--root`, default
//! /run/berth-runtime): `state.json` (OCI state plus what later commands need), `config.json` (the
//! spec as created, so `exec` and `delete` don't depend on the bundle staying unchanged) and
//! `exec.fifo` while the container is created but not started.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

pub const STATE_FILE: &str = "state.json";
pub const CONFIG_FILE: &str = "config.json";
pub const EXEC_FIFO: &str = "exec.fifo";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        })
    }
}

/// What `state.json` holds. The OCI fields keep the spec's names; the rest is ours.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    pub oci_version: String,
    pub id: String,
    /// Last known status; `Container::status()` refines it from the live process.
    pub status: Status,
    pub pid: i32,
    /// /proc/<pid>/stat start time, so a recycled PID is never mistaken for the container.
    pub pid_start_time: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    /// RFC 3339, UTC.
    pub created: String,
    #[serde(default)]
    pub owner: String,
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub annotations: HashMap<String, String>,
    /// The cgroupsPath the container was created with (None: the runtime default).
    #[serde(default)]
    pub cgroups_path: Option<String>,
    /// Whether the spec has poststop hooks, so `delete` reads the spec back only then (None:
    /// state written by an older berth, which did not record it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poststop: Option<bool>,
}

impl State {
    /// The OCI state document (`runtime state ID`), as runc prints it.
    pub fn oci_json(&self, status: Status) -> serde_json::Value {
        let mut v = serde_json::json!({
            "ociVersion": self.oci_version,
            "id": self.id,
            "pid": if status == Status::Stopped { 0 } else { self.pid },
            "status": status.to_string(),
            "bundle": self.bundle,
            "rootfs": self.rootfs,
            "created": self.created,
            "owner": self.owner,
        });
        if !self.annotations.is_empty() {
            v["annotations"] = serde_json::json!(self.annotations);
        }
        v
    }
}

/// The directory holding all containers' state.
#[derive(Debug, Clone)]
pub struct StateRoot {
    pub root: PathBuf,
}

impl StateRoot {
    pub fn new(root: impl Into<PathBuf>) -> StateRoot {
        StateRoot { root: root.into() }
    }

    pub fn dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// Container IDs may not contain path separators or be `.`/`..` (they name directories).
    pub fn validate_id(id: &str) -> Result<()> {
        let ok = !id.is_empty()
            && id.len() <= 1024
            && id != "."
            && id != ".."
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_+-.".contains(c));
        if ok {
            Ok(())
        } else {
            Err(Error::other(format!("invalid container id format: {id:?}")))
        }
    }

    /// Claims the state directory for a new container; fails if the ID is taken.
    pub fn claim(&self, id: &str) -> Result<PathBuf> {
        Self::validate_id(id)?;
        // Only root reads the runtime's state (a bundle's config.json holds its environment),
        // as runc's: the root 0700, a container's dir 0711, its files 0600. Explicit modes:
        // the umask can only take bits away.
        // A root an earlier version made 0755 is tightened (the stat is needed anyway).
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        match fs::metadata(&self.root) {
            Ok(m) if m.is_dir() => {
                if m.permissions().mode() & 0o077 != 0 {
                    fs::set_permissions(&self.root, fs::Permissions::from_mode(0o700))?;
                }
            }
            _ => fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&self.root)?,
        }
        let dir = self.dir(id);
        match fs::DirBuilder::new().mode(0o711).create(&dir) {
            Ok(()) => Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(Error::Exists(id.to_string()))
            }
            Err(e) => Err(e.into()),
        }
    }

    pub fn load(&self, id: &str) -> Result<State> {
        Self::validate_id(id)?;
        let path = self.dir(id).join(STATE_FILE);
        match fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|e| Error::other(format!("corrupt state {}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(Error::NotFound(id.to_string()))
            }
            Err(e) => Err(e.into()),
        }
    }

    pub fn save(&self, state: &State) -> Result<()> {
        write_atomic(
            &self.dir(&state.id).join(STATE_FILE),
            &serde_json::to_vec(state).map_err(|e| Error::other(e.to_string()))?,
        )
    }

    /// IDs of every container with a state directory.
    pub fn list(&self) -> Result<Vec<String>> {
        let mut ids = Vec::new();
        match fs::read_dir(&self.root) {
            Ok(rd) => {
                for e in rd.flatten() {
                    if e.path().join(STATE_FILE).exists() {
                        ids.push(e.file_name().to_string_lossy().into_owned());
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        ids.sort();
        Ok(ids)
    }
}

/// Writes `data` to `path` through a temp file + rename, so readers never see half a file.
/// Writes a file that must not exist yet, in a directory nobody else uses yet (a state dir
/// just claimed): no temporary file and rename needed, a crash leaves a directory without
/// state.json, which is garbage either way.
pub fn write_new(path: &Path, data: &[u8]) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(data)?;
    Ok(())
}

pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(data)?;
    drop(f);
    fs::rename(&tmp, path)?;
    Ok(())
}

/// The text of a /proc/<pid>/stat file in one read (it is a few hundred bytes; std's
/// read_to_string would stat it and read it in five growing pieces).
pub fn read_proc_stat(path: &str) -> Option<String> {
    use std::io::Read;
    let mut f = fs::File::open(path).ok()?;
    let mut buf = vec![0u8; 1024];
    let mut len = 0;
    loop {
        let n = f.read(&mut buf[len..]).ok()?;
        len += n;
        if n == 0 || len < buf.len() {
            break;
        }
        buf.resize(buf.len() * 2, 0);
    }
    buf.truncate(len);
    String::from_utf8(buf).ok()
}

/// Field 22 of /proc/<pid>/stat (start time in clock ticks), or None if the process is gone.
pub fn pid_start_time(pid: i32) -> Option<u64> {
    stat_start_time(&read_proc_stat(&format!("/proc/{pid}/stat"))?)
}

/// The start time in a /proc stat text; None for a zombie.
pub fn stat_start_time(stat: &str) -> Option<u64> {
    // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_validated() {
        assert!(StateRoot::validate_id("abc-1_2.3").is_ok());
        for bad in ["", ".", "..", "a/b", "../x", "a b"] {
            assert!(StateRoot::validate_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn own_start_time_is_readable() {
        assert!(pid_start_time(std::process::id() as i32).is_some());
    }
}
