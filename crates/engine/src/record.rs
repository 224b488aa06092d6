//! Container records on disk (Docker's layout): `<root>/containers/<id>/config.v2.json` and
//! `hostconfig.json`, written atomically (temp + rename) under a per-container flock
//! (`<root>/containers/<id>/.lock`), so many berth processes and the monitor can update them.
//! Names are reserved with `O_EXCL` files in `<root>/names/` (no global lock).

use crate::types::{Config, ContainerState, ContainerStatus, HostConfig, NetworkSettings};
use crate::volume::ContainerMount;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

pub const NEVER: &str = "0001-01-01T00:00:00Z";

/// A container's persistent record (`config.v2.json`), Docker's field names.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Record {
    #[serde(rename = "ID")]
    pub id: String,
    pub created: String,
    pub path: String,
    pub args: Vec<String>,
    pub config: Config,
    /// The image ID (`sha256:...`); `rmi` looks for this field.
    pub image: String,
    pub state: ContainerState,
    pub network_settings: NetworkSettings,
    /// "/name"
    pub name: String,
    pub driver: String,
    pub restart_count: i64,
    pub has_been_started_before: bool,
    pub has_been_manually_stopped: bool,
    pub mount_points: Vec<ContainerMount>,
    pub hostname_path: String,
    pub hosts_path: String,
    pub resolv_conf_path: String,
    pub log_path: String,
    /// The monitor's PID while one runs (0 otherwise); with its start time to detect reuse.
    pub monitor_pid: i64,
    pub monitor_start_time: u64,
    /// The joined network namespace for `container:` mode ("" otherwise).
    pub net_ns_path: String,
    /// The process whose `commit` paused the container, with its start time (0 when paused
    /// by `pause`, or not paused): a pause whose owner died is undone (commit_pause.rs).
    #[serde(skip_serializing_if = "is_zero")]
    pub pause_owner_pid: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub pause_owner_start_time: u64,
}

fn is_zero<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

impl Record {
    pub fn short_name(&self) -> &str {
        self.name.trim_start_matches('/')
    }

    /// Whether the recorded monitor process is still alive (PID not reused).
    pub fn monitor_alive(&self) -> bool {
        self.monitor_pid > 0
            && runtime::state::pid_start_time(self.monitor_pid as i32)
                .is_some_and(|t| t == self.monitor_start_time)
    }

    /// The state as it really is: a record saying running whose monitor died is "exited"
    /// (status 137 unknown; Docker would show the last known state until the daemon restarts).
    pub fn effective_status(&self) -> ContainerStatus {
        match self.state.status {
            s if s.is_up() && !self.monitor_alive() => ContainerStatus::Exited,
            s => s,
        }
    }
}

#[derive(Clone)]
pub struct Paths {
    pub root: PathBuf,
    pub runroot: PathBuf,
}

impl Paths {
    pub fn containers(&self) -> PathBuf {
        self.root.join("containers")
    }
    pub fn dir(&self, id: &str) -> PathBuf {
        self.root.join("containers").join(id)
    }
    pub fn names(&self) -> PathBuf {
        self.root.join("names")
    }
    /// Per-container runtime dir: bundle (config.json), attach socket.
    pub fn run_dir(&self, id: &str) -> PathBuf {
        self.runroot.join("containers").join(id)
    }
    pub fn socket(&self, id: &str) -> PathBuf {
        self.run_dir(id).join("attach.sock")
    }
    pub fn runtime_root(&self) -> PathBuf {
        self.runroot.join("runtime")
    }
    pub fn log_path(&self, id: &str) -> PathBuf {
        self.dir(id).join(format!("{id}-json.log"))
    }
}

/// Writes `data` to `path` via temp file + rename (no fsync: records are rebuilt from the live
/// state on the next update; a torn write cannot happen with rename).
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    write_atomic_mode(path, data, 0o644)
}

/// [`write_atomic`] of a file created with `mode` (the umask can only take bits away).
pub fn write_atomic_mode(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let res = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(data)?;
        fs::rename(&tmp, path)
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res.map_err(Error::io(format!("writing {}", path.display())))
}

/// [`write_atomic`] for a file that usually does not exist yet (a first start): created and
/// written in place, which spares the temporary file and the rename. Nobody reads it before
/// the start it belongs to; an existing file (a restart) is replaced atomically as before.
pub fn write_fresh(path: &Path, data: &[u8]) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(path)
    {
        Ok(mut f) => f
            .write_all(data)
            .map_err(Error::io(format!("writing {}", path.display()))),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => write_atomic(path, data),
        Err(e) => Err(Error::io(format!("writing {}", path.display()))(e)),
    }
}

/// An exclusive flock on one container's record, released on drop.
pub struct Lock(File);

impl Lock {
    pub fn fd(&self) -> std::os::fd::RawFd {
        self.0.as_raw_fd()
    }
}

pub fn lock(dir: &Path, id: &str) -> Result<Lock> {
    let p = dir.join(".lock");
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&p)
        .map_err(|e| {
            if e.kind() == ErrorKind::NotFound {
                Error::NoSuchContainer(id.to_string())
            } else {
                Error::Io {
                    context: format!("locking {}", p.display()),
                    source: e,
                }
            }
        })?;
    loop {
        // SAFETY: flock on an fd we own.
        let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
        if r == 0 {
            break;
        }
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(Error::io("flock")(e));
        }
    }
    Ok(Lock(f))
}

pub fn load(paths: &Paths, id: &str) -> Result<Record> {
    let r = read(paths, id)?;
    // The monitor records the end and then exits: a record saying running whose monitor is
    // gone may have been read just before that last write. Read again: what is there now is
    // final (still "running" only if the monitor died without recording).
    if matches!(
        r.state.status,
        ContainerStatus::Running | ContainerStatus::Paused | ContainerStatus::Restarting
    ) && !r.monitor_alive()
    {
        return read(paths, id);
    }
    Ok(r)
}

fn read(paths: &Paths, id: &str) -> Result<Record> {
    let p = paths.dir(id).join("config.v2.json");
    let data = fs::read(&p).map_err(|e| {
        if e.kind() == ErrorKind::NotFound {
            Error::NoSuchContainer(id.to_string())
        } else {
            Error::io(format!("reading {}", p.display()))(e)
        }
    })?;
    serde_json::from_slice(&data)
        .map_err(|e| Error::Other(format!("corrupt record {}: {e}", p.display())))
}

pub fn save(paths: &Paths, r: &Record) -> Result<()> {
    let data = serde_json::to_vec(r).expect("record serializes");
    // The container's environment (secrets passed with -e) is in it: root's only.
    write_atomic_mode(
        &paths.dir(&r.id).join("config.v2.json"),
        &data,
        crate::perms::CONFIG,
    )
}

pub fn load_host_config(paths: &Paths, id: &str) -> Result<HostConfig> {
    let p = paths.dir(id).join("hostconfig.json");
    let data = fs::read(&p).map_err(|e| {
        if e.kind() == ErrorKind::NotFound {
            Error::NoSuchContainer(id.to_string())
        } else {
            Error::io(format!("reading {}", p.display()))(e)
        }
    })?;
    serde_json::from_slice(&data)
        .map_err(|e| Error::Other(format!("corrupt record {}: {e}", p.display())))
}

pub fn save_host_config(paths: &Paths, id: &str, h: &HostConfig) -> Result<()> {
    let data = serde_json::to_vec(h).expect("hostconfig serializes");
    write_atomic(&paths.dir(id).join("hostconfig.json"), &data)
}

/// Locks, loads, applies `f`, saves. Returns what `f` returns.
pub fn update<T>(paths: &Paths, id: &str, f: impl FnOnce(&mut Record) -> Result<T>) -> Result<T> {
    let _l = lock(&paths.dir(id), id)?;
    let mut r = load(paths, id)?;
    let out = f(&mut r)?;
    save(paths, &r)?;
    Ok(out)
}

/// Reserves `name` for `id`; fails with NameInUse when taken.
pub fn reserve_name(paths: &Paths, name: &str, id: &str) -> Result<()> {
    reserve_name_locked(paths, name, id).map(drop)
}

/// Reserves `name` for `id` and returns the reservation file holding an exclusive flock: the
/// creator keeps it until the container's record is saved. A reservation that is unlocked and
/// whose container has no record was left by a creator killed mid-create: its leftovers
/// (layers, directory) are removed and the name is taken over.
pub fn reserve_name_locked(paths: &Paths, name: &str, id: &str) -> Result<fs::File> {
    use std::os::fd::AsRawFd;
    let dir = paths.names();
    let p = dir.join(name);
    for _ in 0..3 {
        match create_locked(&dir, &p, id) {
            Ok(f) => return Ok(f),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                let owner = fs::read_to_string(&p).unwrap_or_default();
                let in_use = || Error::NameInUse {
                    name: name.to_string(),
                    id: owner.clone(),
                };
                if owner.is_empty() {
                    // Its creator is between create_new and writing its id.
                    return Err(in_use());
                }
                let Ok(f) = OpenOptions::new().read(true).open(&p) else {
                    continue;
                };
                // SAFETY: non-blocking flock on an fd we own.
                if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
                    return Err(in_use()); // a create in progress
                }
                let has_record =
                    !owner.is_empty() && paths.dir(&owner).join("config.v2.json").exists();
                if has_record {
                    return Err(in_use());
                }
                if paths.dir(&owner).exists() {
                    crate::remove_all(paths, &owner);
                    let _ = fs::remove_dir_all(paths.dir(&owner));
                }
                let _ = fs::remove_file(&p);
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {
                fs::create_dir_all(&dir)
                    .map_err(Error::io(format!("creating {}", dir.display())))?;
            }
            Err(e) => return Err(Error::io(format!("creating {}", p.display()))(e)),
        }
    }
    Err(Error::Other(format!("cannot reserve name {name}")))
}

/// Creates `path` holding `id`, flocked, at once: the file is made unnamed (O_TMPFILE) in
/// `dir`, filled and locked, then linked at `path` (AlreadyExists if taken). A creator killed
/// at any point leaves either nothing or a complete, unlocked reservation. Where O_TMPFILE is
/// not supported: create_new, then write (a kill in between leaves an empty file).
fn create_locked(dir: &Path, path: &Path, id: &str) -> std::io::Result<fs::File> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = OpenOptions::new()
        .write(true)
        .mode(0o644)
        .custom_flags(libc::O_TMPFILE)
        .open(dir);
    let mut f = match tmp {
        Ok(f) => f,
        Err(e) if matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP | libc::EISDIR)) => {
            let mut f = OpenOptions::new().write(true).create_new(true).open(path)?;
            // SAFETY: flock on a file we just created.
            unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
            f.write_all(id.as_bytes())?;
            return Ok(f);
        }
        Err(e) => return Err(e),
    };
    // SAFETY: flock on our own unnamed file; nobody else can reach it yet.
    unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
    f.write_all(id.as_bytes())?;
    let from = std::ffi::CString::new(format!("/proc/self/fd/{}", f.as_raw_fd()))?;
    let to = std::ffi::CString::new(path.as_os_str().as_bytes())?;
    // SAFETY: linkat with NUL-terminated paths; AT_SYMLINK_FOLLOW resolves the fd's magic link
    // to the unnamed inode (allowed for O_TMPFILE files opened without O_EXCL).
    let r = unsafe {
        libc::linkat(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::AT_SYMLINK_FOLLOW,
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(f)
}

/// Releases `name` if it still belongs to `id`.
pub fn release_name(paths: &Paths, name: &str, id: &str) {
    let p = paths.names().join(name);
    if fs::read_to_string(&p).is_ok_and(|o| o == id) {
        let _ = fs::remove_file(p);
    }
}

/// [`release_name`] by moving the name file to `dest` (deleted later with it): freed as
/// surely, without a deletion on the caller's path.
pub fn release_name_into(paths: &Paths, name: &str, id: &str, dest: &std::path::Path) {
    let p = paths.names().join(name);
    if fs::read_to_string(&p).is_ok_and(|o| o == id) && fs::rename(&p, dest).is_err() {
        let _ = fs::remove_file(p);
    }
}

pub fn name_owner(paths: &Paths, name: &str) -> Option<String> {
    if name.is_empty() || name.contains('/') || name.starts_with('.') {
        return None;
    }
    fs::read_to_string(paths.names().join(name)).ok()
}

pub fn new_state() -> ContainerState {
    ContainerState {
        status: ContainerStatus::Created,
        started_at: NEVER.into(),
        finished_at: NEVER.into(),
        ..Default::default()
    }
}

/// Docker's name rule: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn valid_name(n: &str) -> bool {
    let b = n.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_alphanumeric()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || b"_.-".contains(c))
}
