//! The process that `exec` puts into a running container, kept away from the host's runtime
//! binary (the CVE-2019-5736 class).
//!
//! A process in the container's pid namespace can be reached by the container's processes:
//! `/proc/<pid>/exe`, `/proc/<pid>/root`, `/proc/<pid>/mem`. If the runtime forked itself into
//! that namespace, the container could open `/proc/<pid>/exe` — the host's `berth` binary — and
//! rewrite it (runc's CVE-2019-5736). Being non-dumpable stops a container without
//! CAP_SYS_PTRACE; one with it (`--cap-add SYS_PTRACE`) passes the dumpable check, so the
//! executable itself must not be writable. So `exec` works in three processes:
//!
//! 1. the caller (`berth exec`, `berth-runtime exec`) seals its own executable ([`sealed_exe`])
//!    and clones stage 1 in the host's pid namespace, invisible to the container;
//! 2. stage 1 makes itself non-dumpable, joins the container's namespaces but the mount and
//!    pid ones, and execs the sealed executable (still on the host's mounts: debug and test
//!    builds need the host's loader) with argv[0] = [`ARGV0`]: [`stage_ctor`] takes over
//!    before `main`;
//! 3. the sealed stage makes itself non-dumpable again (execve resets it), joins the mount
//!    namespace, then the pid namespace for its children (so whatever of ours shows in the
//!    container has the container's root as `/proc/<pid>/root`), and forks the final process
//!    with CLONE_PARENT (so the caller is its parent and waits for it) into the container's
//!    pid namespace. That process is non-dumpable and its `/proc/<pid>/exe` is the sealed
//!    file, until it execs the user's program.
//!
//! The mechanism ([`sealed_exe`]): a detached, read-only overlayfs mount that shows our binary's
//! directory (as runc ≥ 1.2 does in libcontainer/exeseal, "sealedOverlayfs"). Nothing is
//! copied: the overlay file shares the page cache of the real one, so the exec costs what any
//! exec of the binary costs. The mount is attached nowhere, so no mount namespace can reach it;
//! overlayfs without an upper layer is read-only at the superblock (a remount cannot make it
//! writable, unlike a read-only bind mount, which CAP_SYS_ADMIN could flip with
//! mount_setattr). Opening `/proc/<pid>/exe` for writing, directly or by re-opening an O_PATH
//! handle, fails with EROFS. Fallbacks: a detached read-only bind mount (kernels or setups
//! where overlayfs refuses the directory), then a sealed memfd copy (runc's original fix;
//! ~14 MB copied per exec, so only as a last resort).
//!
//! The stage is entered from an ELF constructor (as runc's nsexec is a C constructor of the
//! Go binary), so every program linking this library can exec — `berth`, `berth-runtime` and
//! test binaries alike — without wiring anything into its `main`.

use crate::{init, security, sync, tty, Error, Result};
use oci_spec::runtime::Process;
use std::ffi::{CStr, CString};
use std::io::{Read, Seek, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Bytes of the stage config's header (u64 words).
const HEAD: usize = 8 * 8;

/// argv[0] of the sealed stage.
pub(crate) const ARGV0: &CStr = c"berth:exec-stage";
/// argv[0] of the sealed stage that clones a container's init into a joined pid namespace.
pub(crate) const INIT_ARGV0: &CStr = c"berth:init-stage";

/// What stage 1 hands the sealed stage (through a memfd).
pub(crate) struct StageConfig<'a> {
    pub process: &'a Process,
    /// The compiled seccomp program and its flags.
    pub seccomp: Option<(Vec<u8>, u64)>,
    pub preserve_fds: i32,
    pub sync_fd: RawFd,
    pub console_fd: RawFd,
    /// The container's mount and pid namespaces (-1: not joined), entered by the stage.
    pub mnt_fd: RawFd,
    pub pid_fd: RawFd,
}

/// An O_PATH fd of our own executable that nobody can open for writing (see the module doc).
pub(crate) fn sealed_exe() -> Result<OwnedFd> {
    // The stage's constructor must be in every program that seals itself to exec it: a
    // library's object is linked only when something refers to it.
    #[cfg(target_env = "gnu")]
    let _ = std::hint::black_box(&STAGE_CTOR);
    let exe = std::fs::read_link("/proc/self/exe")?;
    let deleted = exe.to_string_lossy().ends_with(" (deleted)");
    if !deleted {
        if let (Some(dir), Some(name)) = (exe.parent(), exe.file_name()) {
            if let Ok(fd) = overlay_of(dir, name) {
                return Ok(fd);
            }
            if let Ok(fd) = ro_bind_of(&exe) {
                return Ok(fd);
            }
        }
    }
    memfd_copy()
}

fn cstr(s: &[u8]) -> Result<CString> {
    CString::new(s).map_err(|_| Error::other("NUL byte in a path"))
}

fn sys_fd(r: libc::c_long, what: &str) -> Result<OwnedFd> {
    if r < 0 {
        return Err(Error::other(format!(
            "{what}: {}",
            std::io::Error::last_os_error()
        )));
    }
    // SAFETY: a fresh fd returned by the syscall, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(r as RawFd) })
}

/// A detached read-only overlayfs mount of `dir`; returns `name` in it, opened O_PATH.
fn overlay_of(dir: &std::path::Path, name: &std::ffi::OsStr) -> Result<OwnedFd> {
    use std::os::unix::ffi::OsStrExt;
    let d = dir.as_os_str().as_bytes();
    if d.contains(&b':') || d.contains(&b',') {
        return Err(Error::other(
            "directory name not usable as an overlay layer",
        ));
    }
    // overlayfs needs two lower layers when it has no upper one, and refuses a layer twice:
    // the second is an empty detached tmpfs.
    let empty = detached_mount(c"tmpfs", None, MOUNT_ATTR_RDONLY)?;
    let mut lower = d.to_vec();
    lower.extend_from_slice(format!(":/proc/self/fd/{}", empty.as_raw_fd()).as_bytes());
    let lower = cstr(&lower)?;
    let mnt = detached_mount(
        c"overlay",
        Some((c"lowerdir", &lower)),
        MOUNT_ATTR_RDONLY | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID,
    )?;
    drop(empty);
    let n = cstr(name.as_bytes())?;
    // SAFETY: openat relative to the mount fd with a NUL-terminated name.
    let fd = sys_fd(
        unsafe {
            libc::openat(
                mnt.as_raw_fd(),
                n.as_ptr(),
                libc::O_PATH | libc::O_CLOEXEC | libc::O_NOFOLLOW,
            )
        } as libc::c_long,
        "open the sealed binary",
    )?;
    Ok(fd)
}

const MOUNT_ATTR_RDONLY: libc::c_uint = 0x1;
const MOUNT_ATTR_NOSUID: libc::c_uint = 0x2;
const MOUNT_ATTR_NODEV: libc::c_uint = 0x4;

/// A new `fstype` superblock (with one string option) mounted nowhere: fsopen, fsconfig,
/// fsmount.
fn detached_mount(
    fstype: &CStr,
    opt: Option<(&CStr, &CStr)>,
    attrs: libc::c_uint,
) -> Result<OwnedFd> {
    const FSOPEN_CLOEXEC: libc::c_uint = 1;
    const FSCONFIG_SET_STRING: libc::c_uint = 1;
    const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
    const FSMOUNT_CLOEXEC: libc::c_uint = 1;
    // SAFETY: fsopen with a NUL-terminated name.
    let fs = sys_fd(
        unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), FSOPEN_CLOEXEC) },
        "fsopen",
    )?;
    let config = |cmd: libc::c_uint, key: *const libc::c_char, val: *const libc::c_char| {
        // SAFETY: fsconfig on our fs context with NUL-terminated strings (or nulls for the
        // create command), alive for the call.
        let r = unsafe { libc::syscall(libc::SYS_fsconfig, fs.as_raw_fd(), cmd, key, val, 0) };
        if r < 0 {
            return Err(Error::other(format!(
                "fsconfig {fstype:?}: {}",
                std::io::Error::last_os_error()
            )));
        }
        Ok(())
    };
    if let Some((k, v)) = opt {
        config(FSCONFIG_SET_STRING, k.as_ptr(), v.as_ptr())?;
    }
    config(FSCONFIG_CMD_CREATE, std::ptr::null(), std::ptr::null())?;
    // SAFETY: fsmount of the configured context; returns a new detached mount fd.
    sys_fd(
        unsafe { libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), FSMOUNT_CLOEXEC, attrs) },
        "fsmount",
    )
}
/// A detached read-only bind mount of `exe` (open_tree + mount_setattr).
fn ro_bind_of(exe: &std::path::Path) -> Result<OwnedFd> {
    use std::os::unix::ffi::OsStrExt;
    const OPEN_TREE_CLONE: libc::c_uint = 1;
    #[repr(C)]
    struct MountAttr {
        set: u64,
        clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    let p = cstr(exe.as_os_str().as_bytes())?;
    // SAFETY: open_tree with a NUL-terminated path; returns a detached copy of the mount.
    let fd = sys_fd(
        unsafe {
            libc::syscall(
                libc::SYS_open_tree,
                libc::AT_FDCWD,
                p.as_ptr(),
                OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint,
            )
        },
        "open_tree",
    )?;
    let attr = MountAttr {
        set: MOUNT_ATTR_RDONLY as u64,
        clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: mount_setattr on our detached mount with a struct of the declared size.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if r < 0 {
        return Err(Error::other(format!(
            "mount_setattr: {}",
            std::io::Error::last_os_error()
        )));
    }
    Ok(fd)
}

/// A memfd copy of /proc/self/exe, sealed against every change.
fn memfd_copy() -> Result<OwnedFd> {
    // SAFETY: memfd_create with a constant name.
    let fd = sys_fd(
        unsafe {
            libc::memfd_create(
                c"berth-sealed-exe".as_ptr(),
                libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
            )
        } as libc::c_long,
        "memfd_create",
    )?;
    let mut f = std::fs::File::from(fd);
    let mut src = std::fs::File::open("/proc/self/exe")?;
    std::io::copy(&mut src, &mut f)?;
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // SAFETY: fcntl on our memfd.
    if unsafe { libc::fcntl(f.as_raw_fd(), libc::F_ADD_SEALS, seals) } < 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    Ok(OwnedFd::from(f))
}

/// Stage 1, after joining the container's namespaces: hands `cfg` to the sealed executable
/// and execs it. Returns only on failure.
pub(crate) fn exec_sealed(exe: &OwnedFd, cfg: &StageConfig) -> Result<()> {
    let process = serde_json::to_vec(cfg.process)
        .map_err(|e| Error::other(format!("exec: encoding the process: {e}")))?;
    // SAFETY: memfd_create with a constant name.
    let fd = sys_fd(
        unsafe { libc::memfd_create(c"berth-exec-stage".as_ptr(), 0) } as libc::c_long,
        "memfd_create",
    )?;
    let mut f = std::fs::File::from(fd);
    let (bpf, flags) = cfg.seccomp.clone().unwrap_or_default();
    let mut head = Vec::with_capacity(HEAD);
    for v in [
        cfg.seccomp.is_some() as u64,
        flags,
        bpf.len() as u64,
        cfg.preserve_fds as u64,
        cfg.sync_fd as u64,
        cfg.console_fd as u64,
        cfg.mnt_fd as u64,
        cfg.pid_fd as u64,
    ] {
        head.extend_from_slice(&v.to_ne_bytes());
    }
    f.write_all(&head)?;
    f.write_all(&bpf)?;
    f.write_all(&process)?;
    f.rewind()?;
    // The fds the stage and the final process need survive this exec; nothing else does.
    let keep = (3..3 + cfg.preserve_fds.max(0)).chain([
        cfg.sync_fd,
        cfg.console_fd,
        cfg.mnt_fd,
        cfg.pid_fd,
        f.as_raw_fd(),
    ]);
    // Everything else of the caller's (fds it inherited without close-on-exec) ends here, not
    // in a process the container can see.
    // SAFETY: close_range only flags this (forked, private) fd table's fds close-on-exec.
    unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    for k in keep.filter(|&k| k >= 0) {
        // SAFETY: clearing FD_CLOEXEC on an fd of this (forked, private) fd table.
        unsafe { libc::fcntl(k, libc::F_SETFD, 0) };
    }
    exec_with(exe, ARGV0, f.as_raw_fd())
}

/// Execs the sealed `exe` as `argv0 <cfg_fd>` with an empty environment. Returns only on
/// failure.
pub(crate) fn exec_with(exe: &OwnedFd, argv0: &CStr, cfg_fd: RawFd) -> Result<()> {
    let cfg_arg = cstr(cfg_fd.to_string().as_bytes())?;
    let argv = [argv0.as_ptr(), cfg_arg.as_ptr(), std::ptr::null()];
    // Nothing of our environment but the timeline's file (see timing).
    let timing = std::env::var_os("BERTH_TIMING").map(|p| {
        let mut v = b"BERTH_TIMING=".to_vec();
        v.extend_from_slice(std::os::unix::ffi::OsStrExt::as_bytes(p.as_os_str()));
        CString::new(v).unwrap_or_default()
    });
    let envp = [
        timing.as_ref().map_or(std::ptr::null(), |t| t.as_ptr()),
        std::ptr::null(),
    ];
    crate::timing::mark("rt:exec-stage1");
    // SAFETY: execveat of an fd we own with NUL-terminated argv/envp arrays; returns only on
    // failure.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            exe.as_raw_fd(),
            c"".as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    Err(Error::other(format!(
        "exec: re-executing the sealed runtime: {}",
        std::io::Error::last_os_error()
    )))
}

/// Runs the stage when this process was executed as it (argv[0] is [`ARGV0`]). Placed in
/// `.init_array`: glibc calls it with (argc, argv, envp) before `main` (other C libraries pass
/// no arguments: there the stage does not exist and exec fails cleanly with "stage died").
/// Every other start of the program pays one comparison of argc.
#[cfg(target_env = "gnu")]
#[used]
#[link_section = ".init_array"]
pub(crate) static STAGE_CTOR: extern "C" fn(
    libc::c_int,
    *const *const libc::c_char,
    *const *const libc::c_char,
) = stage_ctor;

extern "C" fn stage_ctor(
    argc: libc::c_int,
    argv: *const *const libc::c_char,
    _envp: *const *const libc::c_char,
) {
    if argc != 2 || argv.is_null() {
        return;
    }
    // SAFETY: glibc passes the process's argv: argc valid NUL-terminated strings.
    let (a0, a1) = unsafe { (CStr::from_ptr(*argv), CStr::from_ptr(*argv.add(1))) };
    if a0 != ARGV0 && a0 != INIT_ARGV0 {
        return;
    }
    // SAFETY: prctl on ourselves, before anything of ours can be seen from the container.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    let Some(cfg_fd) = a1.to_str().ok().and_then(|s| s.parse::<RawFd>().ok()) else {
        // SAFETY: leave without running anything of the program.
        unsafe { libc::_exit(125) }
    };
    crate::timing::mark("rt:stage");
    if a0 == INIT_ARGV0 {
        crate::init_stage::stage(cfg_fd)
    }
    stage(cfg_fd)
}

fn stage(cfg_fd: RawFd) -> ! {
    // SAFETY: the memfd stage 1 left us; we own it from here.
    let mut f = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(cfg_fd) });
    let mut data = Vec::new();
    let ok = f.read_to_end(&mut data).is_ok() && data.len() >= HEAD;
    drop(f);
    if !ok {
        // SAFETY: leave without running anything of the program.
        unsafe { libc::_exit(125) }
    }
    let word = |i: usize| u64::from_ne_bytes(data[i * 8..i * 8 + 8].try_into().unwrap());
    let (has_seccomp, flags, bpf_len) = (word(0) != 0, word(1), word(2) as usize);
    let preserve_fds = word(3) as i32;
    let sync_fd = word(4) as RawFd;
    let console_fd = word(5) as i64 as RawFd;
    let (mnt_fd, pid_fd) = (word(6) as i64 as RawFd, word(7) as i64 as RawFd);
    // SAFETY: the sync socket stage 1 passed on; ours now.
    let sync = sync::SyncPipe::from_fd(unsafe { OwnedFd::from_raw_fd(sync_fd) });
    let fail = |msg: String| fail(&sync, msg);
    let Some(bpf) = data.get(HEAD..HEAD + bpf_len) else {
        fail("exec: truncated stage config".into())
    };
    let process: Process = match serde_json::from_slice(&data[HEAD + bpf_len..]) {
        Ok(p) => p,
        Err(e) => fail(format!("exec: decoding the process: {e}")),
    };
    let seccomp = has_seccomp.then(|| security::SeccompFilter::from_raw(bpf.to_vec(), flags));
    let console = (console_fd >= 0).then(|| {
        // SAFETY: the console socket stage 1 passed on; ours now.
        unsafe { std::os::unix::net::UnixStream::from_raw_fd(console_fd) }
    });
    // Mount first: the moment the pid namespace is joined for our children, what they will
    // show the container (root, cwd) is already the container's.
    for (fd, flag, what) in [
        (mnt_fd, libc::CLONE_NEWNS, "mount"),
        (pid_fd, libc::CLONE_NEWPID, "pid"),
    ] {
        if fd < 0 {
            continue;
        }
        // SAFETY: setns on a namespace fd stage 1 passed on, then closing it.
        let r = unsafe { libc::setns(fd, flag) };
        let e = std::io::Error::last_os_error();
        // SAFETY: closing that fd, ours and used no more.
        unsafe { libc::close(fd) };
        if r != 0 {
            fail(format!("exec: join {what} namespace: {e}"));
        }
    }
    // The final process: a sibling of ours (CLONE_PARENT), so the caller reaps it; born in the
    // container's pid namespace (joined by stage 1 for its children).
    // SAFETY: a fork-like clone (no CLONE_VM, no new stack) of this single-threaded process.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (libc::CLONE_PARENT | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    if pid < 0 {
        fail(format!("exec: clone: {}", std::io::Error::last_os_error()));
    }
    if pid == 0 {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            final_process(&process, console.as_ref(), seccomp, preserve_fds)
        }));
        let msg = match r {
            Ok(Err(e)) => e.to_string(),
            _ => "exec child failed".into(),
        };
        fail(msg)
    }
    crate::timing::mark("rt:stage-cloned");
    let _ = sync.send(sync::PID, &(pid as i32).to_ne_bytes());
    // SAFETY: leave without running the program's main.
    unsafe { libc::_exit(0) }
}

pub(crate) fn fail(sync: &sync::SyncPipe, msg: String) -> ! {
    let _ = sync.send(sync::ERROR, msg.as_bytes());
    // SAFETY: leave without unwinding.
    unsafe { libc::_exit(1) }
}

/// The last steps in the container: console, cwd, privileges, seccomp, then execve.
fn final_process(
    process: &Process,
    console: Option<&std::os::unix::net::UnixStream>,
    seccomp: Option<security::SeccompFilter>,
    preserve_fds: i32,
) -> Result<()> {
    if process.terminal().unwrap_or(false) {
        let console = console.ok_or_else(|| Error::other("exec: no console socket"))?;
        let (master, slave) = tty::open_pty()?;
        // `process.consoleSize`: the caller's window size, in place before the process runs.
        if let Some(cs) = process.console_size() {
            tty::set_size(&master, cs.height(), cs.width());
        }
        tty::send_master(console, &master)?;
        drop(master);
        tty::become_console(&slave)?;
    }
    let (path, argv, envp) = init::prepare_exec(process)?;
    init::chdir_cwd(process)?;
    if let Some(cpus) = process
        .exec_cpu_affinity()
        .as_ref()
        .and_then(|a| a.cpu_affinity_final().as_deref())
    {
        crate::process_attrs::set_cpu_affinity(cpus)?;
    }
    security::finalize_process(process, seccomp)?;
    crate::timing::mark("rt:exec-final");
    init::exec(&path, &argv, &envp, preserve_fds)
}
