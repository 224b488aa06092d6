//! The container's init, running in the cloned child: it finishes the namespaces, builds the
//! rootfs, hands the console out, drops privileges, waits for `start` on exec.fifo and execs
//! the user's program. Every failure before `READY` goes back to the runtime over the sync
//! socket; the child never returns into the caller's code (it `_exit`s).

use crate::namespaces::Plan;
use crate::rootfs::{self, RootfsOptions};
use crate::security;
use crate::sync::{self, SyncPipe};
use crate::{hooks, tty, Error, Result, SysContext};
use nix::sched::{unshare, CloneFlags};
use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};
use std::ffi::CString;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

pub(crate) struct InitArgs<'a> {
    /// The container's id (names its session keyring).
    pub id: &'a str,
    pub spec: &'a Spec,
    pub rootfs: &'a Path,
    pub plan: &'a Plan,
    pub sync: &'a SyncPipe,
    /// O_PATH fd of exec.fifo (None for containers started right away by `run`).
    pub fifo_fd: Option<RawFd>,
    pub console: Option<&'a UnixStream>,
    pub no_pivot: bool,
    pub preserve_fds: i32,
    /// The runtime-side hooks (prestart, createRuntime) run in the parent: stop for them.
    pub hook_sync: bool,
    /// Keep the death signal (SIGKILL when the creator dies) for the container's life: see
    /// `CreateOptions::die_with_parent`.
    pub die_with_parent: bool,
    /// See `CreateOptions::procfs_fd`.
    pub procfs_fd: Option<RawFd>,
    /// See `CreateOptions::procfs_sysinfo`.
    pub procfs_sysinfo: Option<RawFd>,
}

/// Entry point of the cloned init. Never returns.
pub(crate) fn run(a: InitArgs) -> ! {
    let sync = a.sync;
    let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| init(&a)));
    let msg = match res {
        Ok(Err(e)) => e.to_string(),
        Err(_) => "container init panicked".to_string(),
        Ok(Ok(())) => unreachable!("init returns only on error"),
    };
    if READY_SENT.load(std::sync::atomic::Ordering::Relaxed) {
        // Nobody reads the sync socket after READY: the container's stderr is where the
        // caller of `create` (or `run`) sees it.
        eprintln!("berth-runtime: error: {msg}");
    }
    let _ = sync.send(sync::ERROR, msg.as_bytes());
    // SAFETY: terminating the child without running the parent's destructors.
    unsafe { libc::_exit(1) }
}

/// The init reported READY: from then on its failures go to stderr.
static READY_SENT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn init(a: &InitArgs) -> Result<()> {
    let spec = a.spec;
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::Spec("process is required".into()))?;

    // The runtime maps ids and joins the cgroup, then sends GO with the state JSON for hooks.
    let state_json = match a.sync.recv()? {
        Some((sync::GO, payload)) => payload,
        Some((t, _)) => return Err(Error::other(format!("sync: unexpected {:?}", t as char))),
        None => return Err(Error::other("runtime went away")),
    };

    if a.plan.creates(LinuxNamespaceType::User) {
        // Become the mapped root of the new user namespace.
        nix::unistd::setresgid(0.into(), 0.into(), 0.into())
            .ctx(|| "setresgid(0) in user namespace".into())?;
        nix::unistd::setresuid(0.into(), 0.into(), 0.into())
            .ctx(|| "setresuid(0) in user namespace".into())?;
    }
    // pid was joined by the parent before clone (it only affects children).
    a.plan.enter(|t| t != LinuxNamespaceType::Pid)?;
    // Not the caller's session keyring (before seccomp, which usually refuses keyctl).
    let userns = a.plan.creates(LinuxNamespaceType::User) || a.plan.joins(LinuxNamespaceType::User);
    crate::keyring::join_session(a.id, true, userns)?;
    if a.plan.creates(LinuxNamespaceType::Cgroup) {
        // After the parent moved us into our cgroup, so that it becomes the namespace's root.
        unshare(CloneFlags::CLONE_NEWCGROUP).ctx(|| "unshare cgroup namespace".into())?;
    }

    let has_uts = a.plan.creates(LinuxNamespaceType::Uts) || a.plan.joins(LinuxNamespaceType::Uts);
    if let Some(h) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        if !has_uts {
            return Err(Error::Spec(
                "unable to set hostname without a private UTS namespace".into(),
            ));
        }
        nix::unistd::sethostname(h).ctx(|| format!("sethostname {h}"))?;
    }
    if let Some(d) = spec.domainname().as_deref().filter(|d| !d.is_empty()) {
        if !has_uts {
            return Err(Error::Spec(
                "unable to set domainname without a private UTS namespace".into(),
            ));
        }
        // SAFETY: setdomainname with a valid buffer and length.
        if unsafe { libc::setdomainname(d.as_ptr().cast(), d.len()) } < 0 {
            return Err(Error::other(format!(
                "setdomainname {d}: {}",
                std::io::Error::last_os_error()
            )));
        }
    }

    let hooks = spec.hooks().as_ref();
    let mut before_pivot = || -> Result<()> {
        // The container's own /proc files, after its /proc and /sys are mounted.
        if let Some(fd) = a.procfs_fd {
            crate::procfs_mount::bind(a.rootfs, fd)?;
            if let Some(sock) = a.procfs_sysinfo {
                crate::procfs_mount::sysinfo_filter(sock)?;
            }
        }
        if a.hook_sync {
            a.sync.send(sync::HOOKS, &[])?;
            a.sync.expect(sync::HOOKS_DONE)?;
        }
        if let Some(h) = hooks.and_then(|h| h.create_container().as_ref()) {
            hooks::run_hooks(h, &state_json)?;
        }
        Ok(())
    };
    let opts = RootfsOptions {
        spec,
        rootfs: a.rootfs,
        no_pivot: a.no_pivot,
        in_userns: a.plan.creates(LinuxNamespaceType::User)
            || a.plan.joins(LinuxNamespaceType::User),
    };
    crate::timing::mark("init:rootfs");
    rootfs::setup_rootfs(&opts, &mut before_pivot)?;
    crate::timing::mark("init:rootfs_done");

    if process.terminal().unwrap_or(false) {
        let sock = a
            .console
            .ok_or_else(|| Error::Spec("terminal requested but no console socket given".into()))?;
        let (master, slave) = tty::open_pty()?;
        if let Some(cs) = process.console_size() {
            tty::set_size(&master, cs.height(), cs.width());
        }
        tty::send_master(sock, &master)?;
        drop(master);
        rootfs::bind_console(std::os::fd::AsFd::as_fd(&slave))?;
        tty::become_console(&slave)?;
    }

    if let Some(sysctl) = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) {
        security::apply_sysctl(sysctl)?;
    }
    rootfs::finish_rootfs(spec)?;
    crate::timing::mark("init:masked");

    let (path, argv, envp) = prepare_exec(process)?;
    chdir_cwd(process)?;
    let mut filter = match spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
        Some(s) => Some(security::compile_seccomp(s)?),
        None => None,
    };
    security::close_seccomp_cache_dir();
    // Limits (and a memory policy) the kernel refuses fail `create` itself, as in runc.
    security::set_rlimits(process.rlimits().as_deref().unwrap_or_default())?;
    if let Some(mp) = spec
        .linux()
        .as_ref()
        .and_then(|l| l.memory_policy().as_ref())
    {
        crate::process_attrs::set_memory_policy(mp)?;
    }
    if filter.as_ref().is_some_and(|f| f.has_listener()) {
        // A seccomp agent learns about the container at create (see seccomp_notify).
        let f = filter.take().unwrap();
        if let Some(fd) = f.load_with_listener()? {
            crate::seccomp_notify::send_to_runtime(a.sync, fd)?;
        }
    }
    if let Some(p) = spec.linux().as_ref().and_then(|l| l.personality().as_ref()) {
        security::set_personality(p)?;
    }
    // Capabilities, user, no_new_privs and seccomp before READY, as runc does: what the
    // kernel refuses (a capability outside the bounding set, an unmapped user) fails
    // `create`, not a `start` that would report success. Only the startContainer hooks and
    // the exec of the program come after `start`.
    security::finalize_process(process, filter)?;
    crate::timing::mark("init:ready");
    // From here the container stands on its own (`create` exits after READY): no more death
    // signal from the creator, unless it supervises the container for its whole life. A
    // change of uid or gid (the spec's user) has cleared it anyway: arm it again then. (If
    // seccomp refuses prctl, or the creator died in between, berth's readers still find and
    // kill what runs in the container's cgroup without a monitor.)
    let deathsig = if a.die_with_parent { libc::SIGKILL } else { 0 };
    // SAFETY: prctl on ourselves.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, deathsig, 0, 0, 0) };
    a.sync.send(sync::READY, &[])?;
    READY_SENT.store(true, std::sync::atomic::Ordering::Relaxed);

    if let Some(fd) = a.fifo_fd {
        wait_for_start(fd)?;
    }
    if let Some(h) = hooks.and_then(|h| h.start_container().as_ref()) {
        let env = process.env().as_deref().unwrap_or_default();
        hooks::run_hooks_inheriting_env(h, &state_json, env)?;
    }
    crate::timing::mark("init:exec");
    exec(&path, &argv, &envp, a.preserve_fds)
}

/// Blocks until `start` opens exec.fifo for reading, then tells it we are going.
fn wait_for_start(fifo: RawFd) -> Result<()> {
    let p = CString::new(format!("/proc/self/fd/{fifo}")).unwrap();
    // SAFETY: open/write/close on a path we built; blocks until the reader arrives.
    unsafe {
        let fd = libc::open(p.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(Error::other(format!(
                "open exec fifo: {}",
                std::io::Error::last_os_error()
            )));
        }
        let b = [b'0'];
        let n = libc::write(fd, b.as_ptr().cast(), 1);
        libc::close(fd);
        libc::close(fifo);
        if n != 1 {
            return Err(Error::other("write exec fifo"));
        }
    }
    Ok(())
}

/// chdir to the process's cwd, then checks that it is inside the container's root: a cwd of
/// `/proc/self/fd/N` naming a host directory fd still open in this process (CVE-2024-21626's
/// class) would leave the program outside the rootfs, free to walk the host's tree with `..`.
/// The check is runc's (`verifyCwd`): the kernel's getcwd marks a directory not reachable from
/// the process's root with "(unreachable)" instead of a leading '/'.
pub(crate) fn chdir_cwd(process: &Process) -> Result<()> {
    let cwd = process.cwd();
    nix::unistd::chdir(cwd).map_err(|e| {
        Error::other(format!(
            "chdir to cwd ({:?}) set in config.json failed: {}",
            cwd.display().to_string(),
            e.desc().to_lowercase()
        ))
    })?;
    let mut buf = [0u8; 4096];
    // SAFETY: the raw getcwd syscall writes at most buf.len() bytes into our buffer.
    let n = unsafe { libc::syscall(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len()) };
    // ERANGE (a path longer than the buffer) still comes from inside the root: the kernel
    // fails that way only after building a reachable path.
    let erange = n < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ERANGE);
    if !erange && (n <= 0 || buf[0] != b'/') {
        return Err(Error::other(format!(
            "current working directory ({:?}) is outside of the container's root -- possible container breakout detected",
            cwd.display().to_string()
        )));
    }
    Ok(())
}

/// Resolves args[0] against the process's PATH inside the container, like runc does before
/// reporting the container as created (so a missing binary fails `create`, not `start`).
pub(crate) fn prepare_exec(process: &Process) -> Result<(CString, Vec<CString>, Vec<CString>)> {
    let args = process
        .args()
        .as_ref()
        .filter(|a| !a.is_empty())
        .ok_or_else(|| Error::Spec("process.args must not be empty".into()))?;
    let env: Vec<String> = process.env().clone().unwrap_or_default();
    let path_var = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    let path = look_path(&args[0], path_var)?;
    let c = |s: &str| CString::new(s).map_err(|_| Error::Spec(format!("NUL byte in {s:?}")));
    let argv = args.iter().map(|a| c(a)).collect::<Result<Vec<_>>>()?;
    let envp = env.iter().map(|e| c(e)).collect::<Result<Vec<_>>>()?;
    let path = CString::new(path.as_os_str().as_bytes()).unwrap();
    Ok((path, argv, envp))
}

fn look_path(name: &str, path_var: &str) -> Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let is_exec = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if name.contains('/') {
        let p = PathBuf::from(name);
        return match std::fs::metadata(&p) {
            Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => Ok(p),
            Ok(_) => Err(Error::other(format!("exec: {name:?}: permission denied"))),
            Err(_) => Err(Error::other(format!(
                "exec: {name:?}: stat {name}: no such file or directory"
            ))),
        };
    }
    for dir in path_var.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let p = Path::new(dir).join(name);
        if is_exec(&p) {
            return Ok(p);
        }
    }
    Err(Error::other(format!(
        "exec: {name:?}: executable file not found in $PATH"
    )))
}

/// The last steps before the user's program: no fd of ours survives exec (CVE-2024-21626), signal
/// state is the default one, then execve.
pub(crate) fn exec(
    path: &CString,
    argv: &[CString],
    envp: &[CString],
    preserve_fds: i32,
) -> Result<()> {
    // SAFETY: close_range only flags fds close-on-exec; sigprocmask/signal reset this process's
    // signal state; execve replaces the process image (returns only on failure).
    unsafe {
        let first = 3 + preserve_fds.max(0) as u32;
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        );
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        // Rust's runtime ignores SIGPIPE; the container must get the default.
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        let mut a: Vec<*const libc::c_char> = argv.iter().map(|s| s.as_ptr()).collect();
        a.push(std::ptr::null());
        let mut e: Vec<*const libc::c_char> = envp.iter().map(|s| s.as_ptr()).collect();
        e.push(std::ptr::null());
        libc::execve(path.as_ptr(), a.as_ptr(), e.as_ptr());
    }
    let err = std::io::Error::last_os_error();
    let msg = format!("exec {:?}: {err}", path);
    // After READY nobody listens on the sync socket: say it on stderr too.
    eprintln!("berth-runtime: {msg}");
    let code = if err.raw_os_error() == Some(libc::ENOENT) {
        127
    } else {
        126
    };
    // SAFETY: leave the child without unwinding into the parent's frames.
    unsafe { libc::_exit(code) }
}
