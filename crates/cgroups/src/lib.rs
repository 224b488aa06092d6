//! Control groups for berth: one `Manager` trait over cgroup v1, v2 and hybrid hierarchies.
//!
//! A manager is built from an OCI `cgroupsPath` (absolute `/a/b`, relative `a/b` under the
//! runtime's own cgroup, or systemd `slice:prefix:name` which is refused) and is cheap to rebuild
//! from the path recorded in the runtime state, so every runtime command can find a container's
//! cgroup. Building a manager touches no cgroup files; /proc/self/mountinfo is parsed once per
//! process.
//!
//! * Legacy (v1) and hybrid hosts get a [`v1::V1Manager`]: resources go to the v1 controllers;
//!   on hybrid hosts the cgroup is also created and joined in the unified (v2) tree, like runc,
//!   and hugetlb limits fall back to v2 when no v1 hugetlb controller is mounted.
//! * Unified (v2) hosts get a [`v2::V2Manager`]; device rules become an eBPF program.

mod ebpf;
mod fsutil;
pub mod mounts;
pub mod v1;
pub mod v2;

use oci_spec::runtime::LinuxResources;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub type Result<T> = std::result::Result<T, Error>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cgroup {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    /// The kernel (or the file system) refused a value, e.g. a cpu quota below 1000.
    #[error("cgroup: cannot write {value:?} to {path}: {source}")]
    Write {
        path: String,
        value: String,
        source: std::io::Error,
    },
    #[error("invalid cgroup value: {0}")]
    Invalid(String),
    #[error("{0}")]
    Unsupported(String),
}

/// Which layout this host mounts under /sys/fs/cgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Hierarchy {
    /// v1 controllers only.
    Legacy,
    /// v1 controllers plus a v2 mount at /sys/fs/cgroup/unified.
    Hybrid,
    /// v2 only, mounted at /sys/fs/cgroup.
    Unified,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FreezerState {
    Thawed,
    Frozen,
}

/// Resource usage, the subset `runc events --stats` / `docker stats` need.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Stats {
    pub cpu_usage_total_ns: u64,
    pub cpu_usage_user_ns: u64,
    pub cpu_usage_kernel_ns: u64,
    pub memory_usage: u64,
    pub memory_limit: u64,
    pub memory_max_usage: u64,
    pub memory_cache: u64,
    pub oom_kill_count: u64,
    pub pids_current: u64,
    pub pids_limit: u64,
    pub blkio_read_bytes: u64,
    pub blkio_write_bytes: u64,
}

pub trait Manager: Send + Sync {
    /// Creates the cgroup (in every hierarchy) and moves `pid` into it.
    fn apply(&self, pid: i32) -> Result<()>;
    /// Creates the cgroup (in every hierarchy) and opens what a process about to be cloned
    /// needs to enter it without a migration by its parent: see [`Join`].
    fn prepare_join(&self) -> Result<Join>;
    /// Writes the resources (also used by `update`; absent fields are left alone).
    fn set(&self, resources: &LinuxResources) -> Result<()>;
    /// Freezes or thaws every process in the cgroup and returns once the kernel reports the
    /// new state.
    fn freeze(&self, state: FreezerState) -> Result<()>;
    fn freezer_state(&self) -> Result<FreezerState>;
    /// PIDs in the cgroup and its descendants.
    fn pids(&self) -> Result<Vec<i32>>;
    fn stats(&self) -> Result<Stats>;
    /// Removes the cgroup directories (all processes must be gone; retries briefly on EBUSY).
    fn destroy(&self) -> Result<()>;
    /// The directory of `controller` ("memory", "cpu", ..., or "" for the v2 unified dir).
    fn path(&self, controller: &str) -> Option<PathBuf>;

    /// Whether the cgroup directory exists (in the hierarchy used for `pids()`).
    fn exists(&self) -> bool;

    /// Sends `signal` to every process in the cgroup (`kill --all`). With SIGKILL the cgroup is
    /// frozen first (v1) or `cgroup.kill` is used (v2) so forking processes cannot escape.
    fn kill_all(&self, signal: i32) -> Result<()> {
        signal_pids(&self.pids()?, signal);
        Ok(())
    }

    /// How many times the kernel OOM-killed a process in this cgroup.
    fn oom_kill_count(&self) -> Result<u64> {
        Ok(self.stats()?.oom_kill_count)
    }
}

/// How a new process enters a container's cgroup without anybody writing its pid into
/// `cgroup.procs`.
///
/// Moving a process by pid takes the kernel's global `cgroup_threadgroup_rwsem` for writing,
/// which waits for an RCU grace period (7-30 ms measured on a 2-vCPU VM) whenever no other
/// migration happened just before: the largest single cost of starting a container there. Two
/// moves avoid it, as the kernel reserves them a cheaper path:
/// * v2 (pure, or the unified half of a hybrid host): the child is born in the cgroup with
///   `clone3(CLONE_INTO_CGROUP)` and [`Join::clone_into`]'s directory fd;
/// * v1: the child, still single-threaded, writes "0" into each hierarchy's `tasks` file,
///   moving only itself ([`Join::join_self`]); the files were opened by the parent, whose
///   credentials the kernel checks, so this also works from inside a new user namespace.
pub struct Join {
    tasks: Vec<std::os::fd::OwnedFd>,
    v2_dir: Option<std::os::fd::OwnedFd>,
}

impl Join {
    /// The cgroup2 directory to pass as `clone_args.cgroup` with `CLONE_INTO_CGROUP`.
    pub fn clone_into(&self) -> Option<std::os::fd::RawFd> {
        use std::os::fd::AsRawFd;
        self.v2_dir.as_ref().map(|f| f.as_raw_fd())
    }

    /// Run in the new, single-threaded child: enters every v1 hierarchy. Only raw syscalls (no
    /// allocation), so it is safe right after a fork-like clone. Returns the errno on failure.
    pub fn join_self(&self) -> std::result::Result<(), i32> {
        use std::os::fd::AsRawFd;
        for f in &self.tasks {
            // SAFETY: write of a static one-byte buffer to an fd we own.
            let r = unsafe { libc::write(f.as_raw_fd(), b"0".as_ptr().cast(), 1) };
            if r != 1 {
                return Err(std::io::Error::last_os_error()
                    .raw_os_error()
                    .unwrap_or(libc::EIO));
            }
        }
        Ok(())
    }

    /// When `CLONE_INTO_CGROUP` could not be used (kernel < 5.7): the parent moves `pid` into
    /// the v2 directory the slow way.
    pub fn join_v2_by_pid(&self, pid: i32) -> Result<()> {
        use std::io::Write;
        use std::os::fd::AsRawFd;
        let Some(d) = &self.v2_dir else { return Ok(()) };
        let path = format!("/proc/self/fd/{}/cgroup.procs", d.as_raw_fd());
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|mut f| f.write_all(pid.to_string().as_bytes()))
            .map_err(|source| Error::Write {
                path,
                value: pid.to_string(),
                source,
            })
    }

    /// Closes the descriptors (in the child, once joined; they are close-on-exec anyway).
    pub fn close(self) {}
}

fn open_fd(path: &Path, flags: i32) -> Result<std::os::fd::OwnedFd> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut o = std::fs::OpenOptions::new();
    if flags & libc::O_DIRECTORY != 0 {
        o.read(true);
    } else {
        o.write(true);
    }
    o.custom_flags(flags | libc::O_CLOEXEC)
        .open(path)
        .map(Into::into)
        .map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })
}

pub(crate) fn open_tasks(dir: &Path) -> Result<std::os::fd::OwnedFd> {
    open_fd(&dir.join("tasks"), 0)
}

pub(crate) fn open_dir(dir: &Path) -> Result<std::os::fd::OwnedFd> {
    open_fd(dir, libc::O_DIRECTORY)
}

pub(crate) fn signal_pids(pids: &[i32], signal: i32) {
    for &pid in pids {
        // SAFETY: kill(2) has no memory effects; ESRCH for an already-gone pid is expected.
        unsafe { libc::kill(pid, signal) };
    }
}

static WARN_HOOK: OnceLock<fn(&str)> = OnceLock::new();

/// Routes warnings (settings this host cannot honour and that are skipped) to `hook`, e.g. the
/// runtime's log. Without a hook they go to stderr. Can be set once per process.
pub fn set_warning_hook(hook: fn(&str)) {
    let _ = WARN_HOOK.set(hook);
}

/// Memory values must be -1 (unlimited), 0 (unset) or positive: runc writes them as given and
/// the kernel refuses other negatives; mapping them to "unlimited" would fail open.
pub(crate) fn check_memory(mem: &oci_spec::runtime::LinuxMemory) -> Result<()> {
    for (what, v) in [
        ("limit", mem.limit()),
        ("swap", mem.swap()),
        ("reservation", mem.reservation()),
        ("kernel", mem.kernel()),
        ("kernelTCP", mem.kernel_tcp()),
    ] {
        if let Some(v) = v.filter(|&v| v < -1) {
            return Err(Error::Invalid(format!(
                "invalid memory {what} {v}: must be -1 (unlimited), 0 (unset) or positive"
            )));
        }
    }
    // Linux no longer enforces kernel memory limits (v1 accepts the write and keeps no limit;
    // runc warns and ignores them): a limit that would not hold is refused.
    for (what, v) in [("kernel", mem.kernel()), ("kernelTCP", mem.kernel_tcp())] {
        if let Some(v) = v.filter(|&v| v > 0) {
            return Err(Error::Unsupported(format!(
                "memory {what} limit {v} cannot be applied: the kernel no longer enforces kernel memory limits"
            )));
        }
    }
    Ok(())
}

pub(crate) fn warn(msg: &str) {
    match WARN_HOOK.get() {
        Some(hook) => hook(msg),
        None => eprintln!("berth cgroups: warning: {msg}"),
    }
}

/// Detects the host's hierarchy (Legacy when nothing can be read).
pub fn hierarchy() -> Hierarchy {
    mounts::mounts()
        .map(|m| m.hierarchy())
        .unwrap_or(Hierarchy::Legacy)
}

/// A validated cgroupsPath.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CgroupPath {
    /// Relative to each hierarchy's mount point.
    Absolute(String),
    /// Relative to the calling process's own cgroup in each hierarchy.
    Relative(String),
}

/// Validates an OCI cgroupsPath (None -> `/berth/<container_id>`).
pub fn parse_cgroups_path(cgroups_path: Option<&str>, container_id: &str) -> Result<CgroupPath> {
    let p = match cgroups_path {
        None | Some("") => format!("/berth/{container_id}"),
        Some(p) => p.to_string(),
    };
    if p.contains(':') {
        return Err(Error::Unsupported(format!(
            "cgroupsPath {p:?} looks like a systemd path (slice:prefix:name); berth manages \
             cgroupfs directly and does not support the systemd cgroup driver - use a path like \
             /berth/{container_id}"
        )));
    }
    if p.split('/').any(|c| c == ".." || c == ".") {
        return Err(Error::Invalid(format!(
            "cgroupsPath {p:?} must not contain '.' or '..' components"
        )));
    }
    let trimmed = p.trim_matches('/');
    if trimmed.is_empty() {
        return Err(Error::Invalid(format!(
            "cgroupsPath {p:?} names the hierarchy root; a container needs its own cgroup"
        )));
    }
    Ok(if p.starts_with('/') {
        CgroupPath::Absolute(format!("/{trimmed}"))
    } else {
        CgroupPath::Relative(trimmed.to_string())
    })
}

/// Builds the manager for `cgroups_path` (None -> `/berth/<container_id>`, like runc's default).
pub fn manager(cgroups_path: Option<&str>, container_id: &str) -> Result<Box<dyn Manager>> {
    let path = parse_cgroups_path(cgroups_path, container_id)?;
    let m = mounts::mounts()?;
    match m.hierarchy() {
        Hierarchy::Unified => {
            let mount = m.v2.as_ref().expect("unified hierarchy has a v2 mount");
            Ok(Box::new(v2::V2Manager::for_mount(mount, &path, true)?))
        }
        Hierarchy::Legacy | Hierarchy::Hybrid => Ok(Box::new(v1::V1Manager::for_mounts(m, &path)?)),
    }
}

/// An explicit v2 manager for the cgroup2 hierarchy mounted at `root`; `path` is taken relative
/// to `root` (a leading '/' is ignored). On hybrid hosts pass `/sys/fs/cgroup/unified`.
pub fn manager_v2(root: &Path, path: &str) -> Result<Box<dyn Manager>> {
    match parse_cgroups_path(Some(path), "")? {
        CgroupPath::Absolute(p) | CgroupPath::Relative(p) => Ok(Box::new(v2::V2Manager::new(
            root,
            &root.join(p.trim_start_matches('/')),
            true,
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroups_path_forms() {
        assert_eq!(
            parse_cgroups_path(None, "abc").unwrap(),
            CgroupPath::Absolute("/berth/abc".into())
        );
        assert_eq!(
            parse_cgroups_path(Some("/a/b/"), "x").unwrap(),
            CgroupPath::Absolute("/a/b".into())
        );
        assert_eq!(
            parse_cgroups_path(Some("a/b"), "x").unwrap(),
            CgroupPath::Relative("a/b".into())
        );
        let e = parse_cgroups_path(Some("system.slice:berth:abc"), "abc").unwrap_err();
        assert!(matches!(e, Error::Unsupported(_)), "{e}");
        assert!(e.to_string().contains("systemd"));
        assert!(parse_cgroups_path(Some("/a/../../etc"), "x").is_err());
        assert!(parse_cgroups_path(Some("/"), "x").is_err());
    }
}
