//! Container lifecycle: create (clone the init and wait until it is ready), start (release it
//! through exec.fifo), state, kill, pause/resume, update, exec (join a running container),
//! delete. Each is a short-lived call working on the state directory, so the runtime keeps no
//! daemon: whoever called `create` (a shim, the engine's monitor) becomes the init's parent or
//! subreaper.

use crate::namespaces::{self, Plan};
use crate::state::{self, State, StateRoot, Status};
use crate::sync::{self, SyncPipe};
use crate::{exec_stage, hooks, init, init_stage, security, tty, Error, Result, SysContext};
use cgroups::{FreezerState, Manager};
use nix::sched::{unshare, CloneFlags};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use oci_spec::runtime::{
    LinuxDeviceCgroup, LinuxDeviceType, LinuxNamespaceType, LinuxResources, Process, Spec,
};
use std::fs;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// What `create` needs besides the bundle.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    pub id: String,
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub no_pivot: bool,
    /// Extra fds (3..3+N) passed through to the container's process.
    pub preserve_fds: i32,
    /// The bundle's config.json already parsed, with its bytes (a caller that just wrote it,
    /// and writes it only by replacing the file): create uses it instead of reading and
    /// parsing the file again, and links the file into its state instead of copying it.
    pub preloaded: Option<std::sync::Arc<(Spec, Vec<u8>)>>,
    /// The container's init stays tied to its creator for its whole life: it gets SIGKILL
    /// when the creating thread dies (PR_SET_PDEATHSIG, kept past READY and armed again after
    /// the credential change that clears it). For a supervisor that stays the init's parent
    /// (berth's monitor): a dead supervisor then means a dead container, never one running
    /// unsupervised. Not for `create`, which exits after READY.
    pub die_with_parent: bool,
    /// A created FUSE filesystem context whose connection the caller serves with the `procfs`
    /// crate's server (`procfs::fuse::Connection`): the init mounts it and binds its files
    /// over the container's /proc (see procfs_mount.rs). Not supported with a joined pid
    /// namespace (the sealed init stage).
    pub procfs_fd: Option<RawFd>,
    /// With `procfs_fd`: a socket on which the init sends the listener of its sysinfo(2)
    /// seccomp filter (`procfs::sysinfo`), for the same server to answer.
    pub procfs_sysinfo: Option<RawFd>,
}

/// An extra process in a running container.
#[derive(Debug, Clone)]
pub struct ExecOptions {
    pub process: Process,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub preserve_fds: i32,
    /// fds of the caller that become the process's 0, 1 and 2 (default: the caller's own).
    /// The engine passes pipes it owns: a container must never get the caller's files.
    pub stdio: Option<[RawFd; 3]>,
}

pub struct Container {
    root: StateRoot,
    pub state: State,
}

fn cgroup_manager(state: &State) -> Result<Box<dyn Manager>> {
    Ok(cgroups::manager(state.cgroups_path.as_deref(), &state.id)?)
}

/// Reads and checks `<bundle>/config.json`.
pub fn load_spec(bundle: &Path) -> Result<(Spec, Vec<u8>)> {
    let path = bundle.join("config.json");
    let bytes =
        fs::read(&path).map_err(|e| Error::Spec(format!("cannot read {}: {e}", path.display())))?;
    // Fast path: a spec oci-spec accepts as is. Otherwise drop capability names it doesn't know
    // (runc ignores them with a warning) and parse again.
    if let Ok(spec) = serde_json::from_slice::<Spec>(&bytes) {
        return Ok((spec, bytes));
    }
    let mut raw: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| Error::Spec(format!("{}: {e}", path.display())))?;
    let unknown = crate::security::strip_unknown_capabilities(&mut raw);
    if !unknown.is_empty() {
        // runc's words (the conformance suite looks for them).
        eprintln!(
            "berth-runtime: warning: ignoring unknown or unavailable capabilities: [{}]",
            unknown.join(" ")
        );
    }
    let bytes = serde_json::to_vec(&raw).map_err(|e| Error::Spec(e.to_string()))?;
    let spec: Spec =
        serde_json::from_value(raw).map_err(|e| Error::Spec(format!("{}: {e}", path.display())))?;
    Ok((spec, bytes))
}

/// `ociVersion` must be a SemVer 1.x.y (with an optional pre-release or build suffix): a
/// spec of another major version means something else (youki's check; runc skips it).
fn validate_oci_version(v: &str) -> Result<()> {
    let core = v.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    let numeric = |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if parts.len() != 3 || !parts.iter().all(numeric) || parts[0] != "1" {
        return Err(Error::Spec(format!(
            "unsupported ociVersion {v:?}: berth-runtime runs specs of version 1.x.y"
        )));
    }
    Ok(())
}

fn validate(spec: &Spec, rootfs: &Path) -> Result<()> {
    validate_oci_version(spec.version())?;
    if let Some(linux) = spec.linux() {
        if let Some(sysctl) = linux.sysctl() {
            crate::security::validate_sysctls(
                sysctl,
                linux.namespaces().as_deref().unwrap_or(&[]),
            )?;
        }
    }
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::Spec("process is required".into()))?;
    if process.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(Error::Spec("process.args must not be empty".into()));
    }
    // LSM settings the host cannot apply are refused (runc's validator does for SELinux).
    let (apparmor, selinux) = crate::security::lsm_support();
    if let Some(p) = process
        .apparmor_profile()
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        if !apparmor {
            return Err(Error::Spec(format!(
                "apparmorProfile {p:?} cannot be applied: AppArmor is not enabled on this host"
            )));
        }
    }
    if let Some(l) = process.selinux_label().as_deref().filter(|l| !l.is_empty()) {
        if !selinux {
            return Err(Error::Spec(format!(
                "selinuxLabel {l:?} cannot be applied: SELinux is not enabled on this host"
            )));
        }
    }
    if !rootfs.is_dir() {
        return Err(Error::Spec(format!(
            "rootfs ({}) does not exist",
            rootfs.display()
        )));
    }
    let linux = spec
        .linux()
        .as_ref()
        .ok_or_else(|| Error::Spec("linux section is required".into()))?;
    // Settings berth-runtime does not implement fail the create instead of being dropped.
    if linux.intel_rdt().is_some() {
        return Err(Error::Spec(
            "linux.intelRdt (resctrl) is not supported by berth-runtime".into(),
        ));
    }
    let nss = linux.namespaces().clone().unwrap_or_default();
    if !nss.iter().any(|n| n.typ() == LinuxNamespaceType::Mount) {
        // Allowed (the container then shares the caller's mounts; see rootfs), but masks and
        // read-only paths need a mount namespace (runc's check and words).
        let restricts = |v: &Option<Vec<String>>| v.as_ref().is_some_and(|v| !v.is_empty());
        if restricts(linux.masked_paths()) || restricts(linux.readonly_paths()) {
            return Err(Error::Spec(
                "unable to restrict sys entries without a private MNT namespace".into(),
            ));
        }
    }
    let user = nss.iter().any(|n| n.typ() == LinuxNamespaceType::User);
    if user && linux.uid_mappings().as_ref().is_none_or(|m| m.is_empty()) {
        let new_user = nss
            .iter()
            .any(|n| n.typ() == LinuxNamespaceType::User && n.path().is_none());
        if new_user {
            return Err(Error::Spec(
                "user namespace requires uidMappings and gidMappings".into(),
            ));
        }
    }
    Ok(())
}

/// The device rules the cgroup enforces: the spec's, then the devices every container gets
/// (like runc's AllowedDevices), then the spec's own device nodes.
fn device_rules(spec: &Spec) -> Vec<LinuxDeviceCgroup> {
    let linux = spec.linux().as_ref();
    let mut rules: Vec<LinuxDeviceCgroup> = linux
        .and_then(|l| l.resources().as_ref())
        .and_then(|r| r.devices().clone())
        .unwrap_or_default();
    let rule = |typ, major: Option<i64>, minor: Option<i64>, access: &str| {
        let mut r = LinuxDeviceCgroup::default();
        r.set_allow(true)
            .set_typ(Some(typ))
            .set_major(major)
            .set_minor(minor)
            .set_access(Some(access.to_string()));
        r
    };
    use LinuxDeviceType::{B, C};
    rules.push(rule(C, None, None, "m"));
    rules.push(rule(B, None, None, "m"));
    for (maj, min) in [
        (1, 3),
        (1, 5),
        (1, 7),
        (1, 8),
        (1, 9),
        (5, 0),
        (5, 1),
        (5, 2),
    ] {
        rules.push(rule(C, Some(maj), Some(min), "rwm"));
    }
    rules.push(rule(C, Some(136), None, "rwm"));
    for d in linux.and_then(|l| l.devices().clone()).unwrap_or_default() {
        let typ = match d.typ() {
            LinuxDeviceType::B => B,
            _ => C,
        };
        rules.push(rule(typ, Some(d.major()), Some(d.minor()), "rwm"));
    }
    rules
}

/// Resources as the cgroup manager should write them at create time.
fn create_resources(spec: &Spec) -> LinuxResources {
    let mut r = spec
        .linux()
        .as_ref()
        .and_then(|l| l.resources().clone())
        .unwrap_or_default();
    r.set_devices(Some(device_rules(spec)));
    r
}

/// Removes what a failed create made, in reverse order.
struct CreateGuard<'a> {
    dir: &'a Path,
    pid: Option<Pid>,
    cgroup: Option<&'a dyn Manager>,
    armed: bool,
}

impl Drop for CreateGuard<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Some(pid) = self.pid {
            let _ = kill(pid, Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(pid, None);
        }
        if let Some(cg) = self.cgroup {
            let _ = cg.destroy();
        }
        let _ = fs::remove_dir_all(self.dir);
    }
}

/// linux/sched.h (libc's c_int constant overflows).
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// `struct clone_args` up to `cgroup` (CLONE_ARGS_SIZE_VER2).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// Like [`clone_process`], and the child is born in the cgroup `join` names (v2 part, with
/// `CLONE_INTO_CGROUP`) and enters its v1 hierarchies itself before anything else; see
/// [`cgroups::Join`]. Returns (pid, whether the parent still has to move the child into the v2
/// cgroup: kernels before 5.7). A child that cannot join sends `ERROR` on `sync` and exits.
fn clone_joined(flags: CloneFlags, join: &cgroups::Join, sync: &SyncPipe) -> Result<(i32, bool)> {
    let mut fallback = false;
    let pid = match join.clone_into() {
        Some(fd) => {
            let mut args = CloneArgs {
                flags: flags.bits() as u64 | CLONE_INTO_CGROUP,
                exit_signal: libc::SIGCHLD as u64,
                cgroup: fd as u64,
                ..Default::default()
            };
            // SAFETY: clone3 without CLONE_VM and without a stack behaves like fork(), as in
            // clone_process.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_clone3,
                    &mut args as *mut CloneArgs,
                    std::mem::size_of::<CloneArgs>(),
                )
            };
            let errno = nix::Error::last();
            if r < 0 && matches!(errno, nix::Error::ENOSYS | nix::Error::E2BIG) {
                fallback = true;
                clone_process(flags)?
            } else if r < 0 {
                return Err(Error::Sys {
                    context: "clone3 container process into its cgroup".into(),
                    source: errno,
                });
            } else {
                r as i32
            }
        }
        None => clone_process(flags)?,
    };
    if pid == 0 {
        if let Err(errno) = join.join_self() {
            let msg = format!(
                "joining the container's cgroup: {}",
                std::io::Error::from_raw_os_error(errno)
            );
            let _ = sync.send(sync::ERROR, msg.as_bytes());
            // SAFETY: end the child without running the parent's destructors.
            unsafe { libc::_exit(1) }
        }
    }
    Ok((pid, fallback))
}

/// Waits for the init's READY; a seccomp notify fd it sends first goes to the spec's agent.
fn wait_ready(sync: &SyncPipe, spec: &Spec, state_json: &[u8]) -> Result<()> {
    loop {
        match sync.recv_with_fd()? {
            Some((sync::READY, _, _)) => return Ok(()),
            Some((sync::SECCOMP_FD, _, Some(fd))) => {
                let seccomp = spec
                    .linux()
                    .as_ref()
                    .and_then(|l| l.seccomp().as_ref())
                    .ok_or_else(|| Error::other("seccomp notify fd without a seccomp profile"))?;
                let state: serde_json::Value =
                    serde_json::from_slice(state_json).map_err(|e| Error::other(e.to_string()))?;
                crate::seccomp_notify::forward_to_agent(seccomp, &state, &fd)?;
            }
            Some((sync::ERROR, msg, _)) => {
                return Err(Error::Other(String::from_utf8_lossy(&msg).into_owned()))
            }
            Some((t, _, _)) => {
                return Err(Error::other(format!(
                    "sync: expected {:?}, got {:?}",
                    sync::READY as char,
                    t as char
                )))
            }
            None => return Err(Error::other("container init exited before it was ready")),
        }
    }
}

/// fork-like clone with namespace flags. Returns 0 in the child.
fn clone_process(flags: CloneFlags) -> Result<i32> {
    // SAFETY: clone without CLONE_VM and without a new stack behaves like fork(): the child gets
    // a copy of this single-threaded process and continues from here.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (flags.bits() as libc::c_ulong) | libc::SIGCHLD as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    if r < 0 {
        return Err(Error::Sys {
            context: "clone container init".into(),
            source: nix::Error::last(),
        });
    }
    Ok(r as i32)
}

fn write_id_maps(pid: i32, spec: &Spec) -> Result<()> {
    let Some(linux) = spec.linux().as_ref() else {
        return Ok(());
    };
    let fmt = |maps: &[oci_spec::runtime::LinuxIdMapping]| {
        maps.iter()
            .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
            .collect::<String>()
    };
    if let Some(m) = linux.uid_mappings() {
        fs::write(format!("/proc/{pid}/uid_map"), fmt(m))
            .map_err(|e| Error::other(format!("write uid_map: {e}")))?;
    }
    if let Some(m) = linux.gid_mappings() {
        fs::write(format!("/proc/{pid}/gid_map"), fmt(m))
            .map_err(|e| Error::other(format!("write gid_map: {e}")))?;
    }
    Ok(())
}

/// New time namespace for the init: created by unshare in the runtime (clone(2) can't) with the
/// spec's offsets written before any process enters it.
fn setup_time_ns(spec: &Spec) -> Result<()> {
    unshare(CloneFlags::from_bits_retain(libc::CLONE_NEWTIME))
        .ctx(|| "unshare time namespace".into())?;
    if let Some(offs) = spec
        .linux()
        .as_ref()
        .and_then(|l| l.time_offsets().as_ref())
    {
        let mut s = String::new();
        for (clock, o) in offs {
            s.push_str(&format!(
                "{} {} {}\n",
                clock,
                o.secs().unwrap_or(0),
                o.nanosecs().unwrap_or(0)
            ));
        }
        fs::write("/proc/self/timens_offsets", s)
            .map_err(|e| Error::other(format!("write timens_offsets: {e}")))?;
    }
    Ok(())
}

fn pidfd_open(pid: i32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    // SAFETY: fd is a fresh descriptor we own.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Waits (without polling loops or sleeps) until `pid`, not necessarily our child, exits.
fn wait_exit(pid: i32) {
    let Some(fd) = pidfd_open(pid) else { return };
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        // SAFETY: poll on one valid pollfd.
        let r = unsafe { libc::poll(&mut p, 1, -1) };
        if r >= 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return;
        }
    }
}

fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    state::write_atomic(path, pid.to_string().as_bytes())
}

impl Container {
    /// Creates the container: its init waits on exec.fifo until `start`. When `run_now` is set,
    /// there is no fifo: the init goes straight on to exec (used by `run`).
    pub fn create(root: &StateRoot, opts: &CreateOptions) -> Result<Container> {
        Self::create_inner(root, opts, false)
    }

    fn create_inner(root: &StateRoot, opts: &CreateOptions, run_now: bool) -> Result<Container> {
        crate::timing::mark("rt:create");
        let bundle = fs::canonicalize(&opts.bundle)
            .map_err(|e| Error::Spec(format!("bundle {}: {e}", opts.bundle.display())))?;
        let loaded;
        let (spec, spec_bytes): (&Spec, &[u8]) = match &opts.preloaded {
            Some(p) => (&p.0, &p.1),
            None => {
                loaded = load_spec(&bundle)?;
                (&loaded.0, &loaded.1)
            }
        };
        let root_path = spec
            .root()
            .as_ref()
            .map(|r| r.path().clone())
            .unwrap_or_else(|| PathBuf::from("rootfs"));
        let rootfs = bundle.join(root_path);
        // runc refuses a root that is a symlink ("invalid rootfs"): where it points is not
        // what the bundle says.
        if fs::symlink_metadata(&rootfs).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(Error::Spec(format!(
                "invalid rootfs {}: not an absolute path, or a symlink",
                rootfs.display()
            )));
        }
        validate(spec, &rootfs)?;
        let rootfs = fs::canonicalize(&rootfs)?;
        let process = spec.process().as_ref().unwrap();
        if process.terminal().unwrap_or(false) && opts.console_socket.is_none() {
            return Err(Error::Spec(
                "terminal is set but no --console-socket was given".into(),
            ));
        }
        let plan = Plan::from_spec(
            spec.linux()
                .as_ref()
                .and_then(|l| l.namespaces().as_deref())
                .unwrap_or(&[]),
        )?;

        let cgroups_path = spec
            .linux()
            .as_ref()
            .and_then(|l| l.cgroups_path().as_ref())
            .map(|p| p.to_string_lossy().into_owned());
        let cgroup = cgroups::manager(cgroups_path.as_deref(), &opts.id)?;
        let dir = root.claim(&opts.id)?;
        let mut guard = CreateGuard {
            dir: &dir,
            pid: None,
            cgroup: None,
            armed: true,
        };
        // The state keeps the spec for later commands (exec, delete's hooks).
        let linked = opts.preloaded.is_some()
            && fs::hard_link(bundle.join("config.json"), dir.join(state::CONFIG_FILE)).is_ok();
        if !linked {
            state::write_new(&dir.join(state::CONFIG_FILE), spec_bytes)?;
        }

        let fifo = if run_now {
            None
        } else {
            let p = dir.join(state::EXEC_FIFO);
            nix::unistd::mkfifo(&p, nix::sys::stat::Mode::from_bits_truncate(0o622))
                .ctx(|| "mkfifo exec.fifo".into())?;
            // 0622 whatever the umask: the init opens it for writing after it became the
            // spec's user (as runc, which makes it 0622 for the same reason).
            fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o622))?;
            Some(
                fs::OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_PATH)
                    .open(&p)?,
            )
        };
        let console = match &opts.console_socket {
            Some(p) if process.terminal().unwrap_or(false) => Some(tty::connect(p)?),
            _ => None,
        };
        let hooks = spec.hooks().as_ref();
        let hook_sync = hooks.is_some_and(|h| {
            h.prestart().as_ref().is_some_and(|v| !v.is_empty())
                || h.create_runtime().as_ref().is_some_and(|v| !v.is_empty())
        });

        let mut st = State {
            oci_version: spec.version().clone(),
            id: opts.id.clone(),
            status: Status::Creating,
            pid: 0,
            pid_start_time: 0,
            bundle: bundle.clone(),
            rootfs: rootfs.clone(),
            created: state::now_rfc3339(),
            owner: String::new(),
            annotations: spec.annotations().clone().unwrap_or_default(),
            cgroups_path,
            poststop: Some(
                hooks
                    .and_then(|h| h.poststop().as_ref())
                    .is_some_and(|v| !v.is_empty()),
            ),
        };

        // Joining another container's pid namespace (`--pid container:X`), the init is
        // visible to X from birth: it is cloned by the sealed runtime (see init_stage). Other
        // inits are seen by nobody before they exec and are cloned directly.
        let sealed = if plan.joins(LinuxNamespaceType::Pid) {
            Some(exec_stage::sealed_exe()?)
        } else {
            None
        };
        if sealed.is_some() && opts.procfs_fd.is_some() {
            return Err(Error::other(
                "the container's own /proc files are not supported with a joined pid namespace",
            ));
        }
        if plan.creates(LinuxNamespaceType::Time) {
            setup_time_ns(spec)?;
        }
        let (parent_sync, child_sync) = sync::pair()?;
        let clone_flags = plan.create
            - CloneFlags::CLONE_NEWCGROUP
            - CloneFlags::from_bits_retain(libc::CLONE_NEWTIME);
        // The cgroup is made and configured before the init exists; the init enters it as it
        // is born (no migration by pid: see cgroups::Join).
        guard.cgroup = Some(cgroup.as_ref());
        let join = cgroup.prepare_join()?;
        cgroup.set(&create_resources(spec))?;
        crate::timing::mark("rt:clone");
        let first_flags = match sealed {
            Some(_) => CloneFlags::empty(),
            None => clone_flags,
        };
        let (pid, join_v2_by_pid) = clone_joined(first_flags, &join, &child_sync)?;
        if pid == 0 {
            // Until it reports ready, the init dies with its creator: a creator killed midway
            // (a monitor killed by `rm -f` while starting the container) must not leave a
            // half-made container running on. Cleared before READY (see init::run). (Not for
            // exec'd processes: `exec --detach` exits as soon as its process runs.)
            // SAFETY: prctl on ourselves.
            unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) };
            join.close();
            drop(parent_sync);
            if let Some(exe) = &sealed {
                // SAFETY: prctl on ourselves.
                unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
                let r = child_sync.expect(sync::STAGE_GO).and_then(|()| {
                    init_stage::exec_sealed(
                        exe,
                        &init_stage::InitStageConfig {
                            id: &opts.id,
                            spec_bytes,
                            rootfs: &rootfs,
                            plan: &plan,
                            clone_flags,
                            sync_fd: child_sync.raw_fd(),
                            fifo_fd: fifo.as_ref().map_or(-1, |f| f.as_raw_fd()),
                            console_fd: console.as_ref().map_or(-1, |c| c.as_raw_fd()),
                            no_pivot: opts.no_pivot,
                            preserve_fds: opts.preserve_fds,
                            hook_sync,
                            die_with_parent: opts.die_with_parent,
                        },
                    )
                });
                let msg = r.err().map(|e| e.to_string()).unwrap_or_default();
                let _ = child_sync.send(sync::ERROR, msg.as_bytes());
                // SAFETY: end the child without running the parent's destructors.
                unsafe { libc::_exit(1) }
            }
            crate::timing::mark("init:start");
            init::run(init::InitArgs {
                id: &opts.id,
                spec,
                rootfs: &rootfs,
                plan: &plan,
                sync: &child_sync,
                fifo_fd: fifo.as_ref().map(|f| f.as_raw_fd()),
                console: console.as_ref(),
                no_pivot: opts.no_pivot,
                preserve_fds: opts.preserve_fds,
                hook_sync,
                die_with_parent: opts.die_with_parent,
                procfs_fd: opts.procfs_fd,
                procfs_sysinfo: opts.procfs_sysinfo,
            });
        }
        drop(child_sync);
        drop(console);
        guard.pid = Some(Pid::from_raw(pid));
        if join_v2_by_pid {
            join.join_v2_by_pid(pid)?;
        }
        drop(join);
        let pid = if sealed.is_some() {
            // Stage 1 execs the sealed stage, which clones the init and reports its pid.
            parent_sync.send(sync::STAGE_GO, &[])?;
            let r = parent_sync.recv();
            guard.pid = None;
            let _ = nix::sys::wait::waitpid(Pid::from_raw(pid), None);
            match r? {
                Some((sync::PID, b)) if b.len() == 4 => {
                    let p = i32::from_ne_bytes(b.try_into().unwrap());
                    guard.pid = Some(Pid::from_raw(p));
                    p
                }
                Some((sync::ERROR, msg)) => {
                    return Err(Error::Other(String::from_utf8_lossy(&msg).into_owned()))
                }
                _ => return Err(Error::other("create: the runtime's init stage died")),
            }
        } else {
            pid
        };

        if plan.creates(LinuxNamespaceType::User) {
            write_id_maps(pid, spec)?;
        }
        st.pid = pid;
        st.pid_start_time = state::pid_start_time(pid).unwrap_or(0);
        let state_json = serde_json::to_vec(&st.oci_json(Status::Creating)).unwrap();
        parent_sync.send(sync::GO, &state_json)?;
        if hook_sync {
            parent_sync.expect(sync::HOOKS)?;
            let h = hooks.unwrap();
            if let Some(v) = h.prestart() {
                hooks::run_hooks(v, &state_json)?;
            }
            if let Some(v) = h.create_runtime() {
                hooks::run_hooks(v, &state_json)?;
            }
            parent_sync.send(sync::HOOKS_DONE, &[])?;
        }
        wait_ready(&parent_sync, spec, &state_json)?;
        crate::timing::mark("rt:ready");

        // `run` saves once, as Running, in create_and_start.
        st.status = if run_now {
            Status::Running
        } else {
            Status::Created
        };
        root.save(&st)?;
        if run_now {
            if let Some(h) = hooks.and_then(|h| h.poststart().as_ref()) {
                hooks::run_hooks(
                    h,
                    &serde_json::to_vec(&st.oci_json(Status::Running)).unwrap(),
                )?;
            }
        }
        if let Some(p) = &opts.pid_file {
            write_pid_file(p, pid)?;
        }
        guard.armed = false;
        drop(guard);
        Ok(Container {
            root: root.clone(),
            state: st,
        })
    }

    /// `run`: create and start at once (no exec.fifo round trip). Returns the container; the
    /// caller is the init's parent and waits for it.
    pub fn create_and_start(root: &StateRoot, opts: &CreateOptions) -> Result<Container> {
        Self::create_inner(root, opts, true)
    }

    pub fn load(root: &StateRoot, id: &str) -> Result<Container> {
        Ok(Container {
            root: root.clone(),
            state: root.load(id)?,
        })
    }

    pub fn id(&self) -> &str {
        &self.state.id
    }

    pub fn pid(&self) -> i32 {
        self.state.pid
    }

    fn dir(&self) -> PathBuf {
        self.root.dir(&self.state.id)
    }

    /// The spec the container was created with.
    pub fn spec(&self) -> Result<Spec> {
        let b = fs::read(self.dir().join(state::CONFIG_FILE))?;
        serde_json::from_slice(&b).map_err(|e| Error::Spec(e.to_string()))
    }

    fn alive(&self) -> bool {
        self.state.pid > 0
            && state::pid_start_time(self.state.pid) == Some(self.state.pid_start_time)
    }

    /// The live status: stopped once the init is gone, created while exec.fifo exists, paused
    /// while the cgroup is frozen.
    pub fn status(&self) -> Status {
        if !self.alive() {
            return Status::Stopped;
        }
        if self.dir().join(state::EXEC_FIFO).exists() {
            return Status::Created;
        }
        if let Ok(cg) = cgroup_manager(&self.state) {
            if cg.freezer_state().ok() == Some(FreezerState::Frozen) {
                return Status::Paused;
            }
        }
        Status::Running
    }

    pub fn oci_state(&self) -> serde_json::Value {
        self.state.oci_json(self.status())
    }

    /// Releases the init waiting on exec.fifo.
    pub fn start(&mut self) -> Result<()> {
        let status = self.status();
        if status != Status::Created {
            return Err(Error::other(format!(
                "cannot start a container that is {status} (only created containers start)"
            )));
        }
        let fifo_path = self.dir().join(state::EXEC_FIFO);
        // Non-blocking open + poll with the init's pidfd: a dead init can't hang us.
        let fifo = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(&fifo_path)?;
        let pidfd =
            pidfd_open(self.state.pid).ok_or_else(|| Error::other("container init is gone"))?;
        let mut fds = [
            libc::pollfd {
                fd: fifo.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: pidfd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        loop {
            // SAFETY: poll on two valid pollfds.
            let r = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
            if r < 0 {
                if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                return Err(std::io::Error::last_os_error().into());
            }
            if fds[0].revents & libc::POLLIN != 0 {
                break;
            }
            if fds[1].revents != 0 || fds[0].revents & libc::POLLHUP != 0 {
                return Err(Error::other("container init exited before start"));
            }
        }
        let mut b = [0u8; 1];
        // SAFETY: read one byte into a local buffer.
        let n = unsafe { libc::read(fifo.as_raw_fd(), b.as_mut_ptr().cast(), 1) };
        if n != 1 {
            return Err(Error::other("container init exited before start"));
        }
        let _ = fs::remove_file(&fifo_path);
        self.state.status = Status::Running;
        self.root.save(&self.state)?;
        self.poststart()
    }

    fn poststart(&self) -> Result<()> {
        let spec = self.spec()?;
        if let Some(h) = spec.hooks().as_ref().and_then(|h| h.poststart().as_ref()) {
            let sj = serde_json::to_vec(&self.oci_state()).unwrap();
            hooks::run_hooks(h, &sj)?;
        }
        Ok(())
    }

    /// Sends `sig` to the init, or with `all` to every process in the container's cgroup.
    pub fn kill(&self, sig: Signal, all: bool) -> Result<()> {
        let status = self.status();
        if all {
            // Every process of the container (freezing first on v1, cgroup.kill on v2).
            cgroup_manager(&self.state)?.kill_all(sig as i32)?;
            return Ok(());
        }
        if status == Status::Stopped {
            return Err(Error::other("container not running"));
        }
        kill(Pid::from_raw(self.state.pid), sig).ctx(|| format!("kill {}", self.state.pid))
    }

    pub fn pause(&self) -> Result<()> {
        match self.status() {
            Status::Running => Ok(cgroup_manager(&self.state)?.freeze(FreezerState::Frozen)?),
            s => Err(Error::other(format!("container not running: {s}"))),
        }
    }

    pub fn resume(&self) -> Result<()> {
        match self.status() {
            Status::Paused => Ok(cgroup_manager(&self.state)?.freeze(FreezerState::Thawed)?),
            s => Err(Error::other(format!("container not paused: {s}"))),
        }
    }

    pub fn update(&self, resources: &LinuxResources) -> Result<()> {
        if self.status() == Status::Stopped {
            return Err(Error::other("container not running"));
        }
        Ok(cgroup_manager(&self.state)?.set(resources)?)
    }

    pub fn pids(&self) -> Result<Vec<i32>> {
        Ok(cgroup_manager(&self.state)?.pids()?)
    }

    pub fn stats(&self) -> Result<cgroups::Stats> {
        Ok(cgroup_manager(&self.state)?.stats()?)
    }

    /// PIDs left in the container's cgroup.
    pub fn processes(&self) -> Result<Vec<i32>> {
        Ok(cgroup_manager(&self.state)?.pids()?)
    }

    /// How many times the kernel OOM-killed a process of the container (one cgroup file read).
    pub fn oom_kill_count(&self) -> Result<u64> {
        Ok(cgroup_manager(&self.state)?.oom_kill_count()?)
    }

    /// Removes the container. A running or paused one needs `force` (it is killed first); a
    /// created one is killed like runc does.
    pub fn delete(self, force: bool) -> Result<()> {
        let status = self.status();
        match status {
            Status::Stopped => {}
            Status::Created | Status::Creating => self.kill_and_wait()?,
            Status::Running | Status::Paused if force => self.kill_and_wait()?,
            s => {
                return Err(Error::other(format!(
                    "cannot delete container {} that is not stopped: {s}",
                    self.state.id
                )))
            }
        }
        let spec = match self.state.poststop {
            Some(false) => None,
            _ => self.spec().ok(),
        };
        let mut st = self.state.oci_json(Status::Stopped);
        st["pid"] = serde_json::json!(self.state.pid);
        if let Some(h) = spec
            .as_ref()
            .and_then(|s| s.hooks().as_ref())
            .and_then(|h| h.poststop().as_ref())
        {
            // Poststop failures are reported but never block removal (runtime-spec).
            if let Err(e) = hooks::run_hooks(h, &serde_json::to_vec(&st).unwrap()) {
                eprintln!("berth-runtime: poststop hook: {e}");
            }
        }
        cgroup_manager(&self.state)?.destroy()?;
        fs::remove_dir_all(self.dir())?;
        Ok(())
    }

    fn kill_and_wait(&self) -> Result<()> {
        let cg = cgroup_manager(&self.state)?;
        let _ = cg.freeze(FreezerState::Thawed);
        if self.alive() {
            let _ = kill(Pid::from_raw(self.state.pid), Signal::SIGKILL);
            wait_exit(self.state.pid);
        }
        // Processes of a container sharing the host pid namespace survive their init.
        for p in cg.pids().unwrap_or_default() {
            let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
            wait_exit(p);
        }
        Ok(())
    }

    /// Starts `opts.process` inside the running container. Returns its host PID; the caller is
    /// its parent.
    pub fn exec(&self, opts: &ExecOptions) -> Result<i32> {
        self.exec_checked(opts, false)
    }

    /// `exec --ignore-paused`: like [`Container::exec`], also into a paused container (the
    /// process starts frozen with the others and runs once the container is resumed).
    pub fn exec_ignoring_pause(&self, opts: &ExecOptions) -> Result<i32> {
        self.exec_checked(opts, true)
    }

    fn exec_checked(&self, opts: &ExecOptions, ignore_paused: bool) -> Result<i32> {
        let status = self.status();
        let paused_ok = ignore_paused && status == Status::Paused;
        if status != Status::Running && status != Status::Created && !paused_ok {
            return Err(Error::other(format!("cannot exec in a {status} container")));
        }
        let spec = self.spec()?;
        let process = &opts.process;
        if process.terminal().unwrap_or(false) && opts.console_socket.is_none() {
            return Err(Error::Spec(
                "terminal is set but no --console-socket was given".into(),
            ));
        }
        // Join every namespace of the init that differs from ours.
        let mut join = Vec::new();
        for t in namespaces::JOIN_ORDER {
            let name = namespaces::proc_name(t);
            let theirs = format!("/proc/{}/ns/{name}", self.state.pid);
            let ours = format!("/proc/self/ns/{name}");
            let (Ok(a), Ok(b)) = (fs::metadata(&theirs), fs::metadata(&ours)) else {
                continue;
            };
            use std::os::unix::fs::MetadataExt;
            if a.ino() != b.ino() || a.dev() != b.dev() {
                join.push((t, fs::File::open(&theirs)?));
            }
        }
        if !self.alive() {
            return Err(Error::other("container init exited"));
        }
        let plan = Plan {
            create: CloneFlags::empty(),
            join,
        };
        let console = match &opts.console_socket {
            Some(p) if process.terminal().unwrap_or(false) => Some(tty::connect(p)?),
            _ => None,
        };
        let cg = cgroup_manager(&self.state)?;
        let filter_spec = spec.linux().as_ref().and_then(|l| l.seccomp().clone());
        // CVE-2019-5736: see exec_stage. Sealed here, before anything joins the container.
        crate::timing::mark("rt:exec-seal");
        let sealed = exec_stage::sealed_exe()?;
        crate::timing::mark("rt:exec-sealed");
        let (parent_sync, child_sync) = sync::pair()?;
        let join = cg.prepare_join()?;
        let (pid, join_v2_by_pid) = clone_joined(CloneFlags::empty(), &join, &child_sync)?;
        if pid == 0 {
            // Not visible in the container yet (we are in the host's pid namespace), but
            // non-dumpable before the first setns all the same.
            // SAFETY: prctl on ourselves.
            unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
            join.close();
            drop(parent_sync);
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                exec_stage1(
                    &self.state.id,
                    &plan,
                    &child_sync,
                    &sealed,
                    process,
                    console.as_ref(),
                    filter_spec.as_ref(),
                    spec.linux().as_ref(),
                    opts,
                )
            }));
            let msg = match r {
                Ok(Err(e)) => e.to_string(),
                _ => "exec child failed".into(),
            };
            let _ = child_sync.send(sync::ERROR, msg.as_bytes());
            // SAFETY: end the child without running the parent's destructors.
            unsafe { libc::_exit(1) }
        }
        drop(child_sync);
        drop(console);
        drop(sealed);
        let reap = |p: i32| {
            let _ = nix::sys::wait::waitpid(Pid::from_raw(p), None);
        };
        let fail = |e: Error| {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            reap(pid);
            e
        };
        if join_v2_by_pid {
            join.join_v2_by_pid(pid).map_err(|e| fail(e.into()))?;
        }
        drop(join);
        parent_sync.send(sync::GO, &[]).map_err(fail)?;
        // Stage 1 (then the sealed stage, same pid) reports the final process's pid and exits.
        let final_pid = match parent_sync.recv().map_err(fail)? {
            Some((sync::PID, b)) if b.len() == 4 => i32::from_ne_bytes(b.try_into().unwrap()),
            Some((sync::ERROR, msg)) => {
                reap(pid);
                // The final process (our child too, CLONE_PARENT) may report its failure
                // before the stage reported its pid: both write here. Then the pid follows
                // (the stage has exited): reap that process as well, or its zombie keeps the
                // container's pid namespace from ever dying (its init hangs in exit).
                if let Ok(Some((sync::PID, b))) = parent_sync.recv() {
                    if let Ok(b) = <[u8; 4]>::try_from(b.as_slice()) {
                        reap(i32::from_ne_bytes(b));
                    }
                }
                return Err(Error::Other(String::from_utf8_lossy(&msg).into_owned()));
            }
            None => {
                reap(pid);
                return Err(Error::other("exec: the runtime's exec stage died"));
            }
            Some(_) => return Err(fail(Error::other("exec: unexpected sync message"))),
        };
        reap(pid);
        // The sync socket is close-on-exec: EOF means the exec happened.
        match parent_sync.recv() {
            Ok(None) => {}
            Ok(Some((sync::ERROR, msg))) => {
                reap(final_pid);
                return Err(Error::Other(String::from_utf8_lossy(&msg).into_owned()));
            }
            Ok(Some(_)) | Err(_) => {
                let _ = kill(Pid::from_raw(final_pid), Signal::SIGKILL);
                reap(final_pid);
                return Err(Error::other("exec: unexpected sync message"));
            }
        }
        if let Some(p) = &opts.pid_file {
            write_pid_file(p, final_pid)?;
        }
        Ok(final_pid)
    }
}

/// Stage 1 of exec (see exec_stage): joins the container's namespaces but the mount and pid
/// ones, and execs the sealed runtime, which joins those two.
// The container's id joins the others: it names the session keyring, joined only once we are
// in the container's user namespace (where the init made it).
#[allow(clippy::too_many_arguments)]
fn exec_stage1(
    id: &str,
    plan: &Plan,
    sync: &SyncPipe,
    sealed: &OwnedFd,
    process: &Process,
    console: Option<&std::os::unix::net::UnixStream>,
    seccomp: Option<&oci_spec::runtime::LinuxSeccomp>,
    linux: Option<&oci_spec::runtime::Linux>,
    opts: &ExecOptions,
) -> Result<()> {
    sync.expect(sync::GO)?;
    // Kept across the clones and execs into the container: the spec's personality and memory
    // policy (as the init has them), the process's initial CPU affinity.
    if let Some(p) = linux.and_then(|l| l.personality().as_ref()) {
        security::set_personality(p)?;
    }
    if let Some(mp) = linux.and_then(|l| l.memory_policy().as_ref()) {
        crate::process_attrs::set_memory_policy(mp)?;
    }
    if let Some(cpus) = process
        .exec_cpu_affinity()
        .as_ref()
        .and_then(|a| a.initial().as_deref())
    {
        crate::process_attrs::set_cpu_affinity(cpus)?;
    }
    if let Some(fds) = opts.stdio {
        for (target, fd) in fds.into_iter().enumerate() {
            // SAFETY: dup2 within this forked child's own fd table.
            if unsafe { libc::dup2(fd, target as RawFd) } < 0 {
                return Err(std::io::Error::last_os_error().into());
            }
        }
    }
    // Compiled (or taken from the cache) before we are in the container's mount namespace.
    let seccomp = match seccomp {
        Some(s) => Some(security::compile_seccomp(s)?.into_raw()),
        None => None,
    };
    // The mount and pid namespaces are joined by the sealed stage: its exec must find the
    // binary's loader and libraries (test and debug builds are dynamic) on the host.
    let late = |t| t == LinuxNamespaceType::Mount || t == LinuxNamespaceType::Pid;
    plan.enter(|t| !late(t))?;
    // The container's session keyring, not the caller's (see keyring); kept across the exec.
    crate::keyring::join_session(id, false, false)?;
    let ns_fd = |want| {
        plan.join
            .iter()
            .find(|(t, _)| *t == want)
            .map_or(-1, |(_, f)| f.as_raw_fd())
    };
    exec_stage::exec_sealed(
        sealed,
        &exec_stage::StageConfig {
            process,
            seccomp,
            preserve_fds: opts.preserve_fds,
            sync_fd: sync.raw_fd(),
            console_fd: console.map_or(-1, |c| c.as_raw_fd()),
            mnt_fd: ns_fd(LinuxNamespaceType::Mount),
            pid_fd: ns_fd(LinuxNamespaceType::Pid),
        },
    )
}

/// Waits for our child `pid`, forwarding the usual terminal/termination signals to it, and
/// returns its exit code in the shell's convention (128+N for a signal).
pub fn wait_forwarding(pid: i32) -> Result<i32> {
    use nix::sys::signal::{SigSet, SigmaskHow};
    use nix::sys::signalfd::{SfdFlags, SignalFd};
    let mut set = SigSet::empty();
    for s in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGWINCH,
    ] {
        set.add(s);
    }
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None)
        .ctx(|| "sigprocmask".into())?;
    let sfd = SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC).ctx(|| "signalfd".into())?;
    let pidfd = pidfd_open(pid).ok_or_else(|| Error::other("pidfd_open"))?;
    loop {
        let mut fds = [
            libc::pollfd {
                fd: pidfd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: sfd.as_fd().as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: poll on two valid pollfds.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if r < 0 {
            continue;
        }
        if fds[1].revents & libc::POLLIN != 0 {
            if let Ok(Some(si)) = sfd.read_signal() {
                let _ = nix::sys::signal::kill(
                    Pid::from_raw(pid),
                    Signal::try_from(si.ssi_signo as i32).ok(),
                );
            }
        }
        if fds[0].revents != 0 {
            use nix::sys::wait::{waitpid, WaitStatus};
            return match waitpid(Pid::from_raw(pid), None).ctx(|| "waitpid".into())? {
                WaitStatus::Exited(_, c) => Ok(c),
                WaitStatus::Signaled(_, s, _) => Ok(128 + s as i32),
                _ => Ok(255),
            };
        }
    }
}
