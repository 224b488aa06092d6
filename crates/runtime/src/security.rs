//! Process security and attributes applied by the container's init just before execve:
//! rlimits, ioPriority, scheduler, personality, oomScoreAdj, capabilities (all five sets),
//! user switch (uid, gid, additionalGids), umask, noNewPrivileges, seccomp, apparmor/selinux
//! (accepted, warned about when unsupported), sysctl.
//!
//! Everything here runs in the single-threaded container init: raw syscalls that affect only
//! the calling thread are fine, nothing panics, every failure is a `crate::Error` naming what
//! failed.

use crate::{Error, Result, SysContext};
use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use nix::errno::Errno;
use oci_spec::runtime::{
    Capabilities, Capability, IOPriorityClass, LinuxCapabilities, LinuxIOPriority, LinuxNamespace,
    LinuxNamespaceType, LinuxPersonality, LinuxPersonalityDomain, LinuxSchedulerFlag,
    LinuxSchedulerPolicy, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag,
    LinuxSeccompOperator, PosixRlimit, PosixRlimitType, Process, Scheduler, User,
};
use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;

/// Kernel capability names, indexed by capability number (linux/capability.h).
pub const CAPABILITY_NAMES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The kernel number of a capability name ("CAP_SYS_ADMIN"; the "CAP_" prefix and case are
/// optional, as oci-spec accepts "sys_admin" too). `None` for names this build does not know.
pub fn capability_number(name: &str) -> Option<u8> {
    let upper = name.trim().to_ascii_uppercase();
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    CAPABILITY_NAMES
        .iter()
        .position(|n| *n == full)
        .map(|i| i as u8)
}

fn oci_capability_number(cap: &Capability) -> Option<u8> {
    // oci-spec serializes a Capability as its "CAP_..." name.
    match serde_json::to_value(cap) {
        Ok(serde_json::Value::String(name)) => capability_number(&name),
        _ => None,
    }
}

/// Removes capability names oci-spec cannot parse from a raw config.json (runc ignores unknown
/// capabilities with a warning instead of rejecting the spec). Call before deserializing into
/// `oci_spec::runtime::Spec`; returns the removed names so the caller can warn about them.
pub fn strip_unknown_capabilities(spec: &mut serde_json::Value) -> Vec<String> {
    let mut removed = Vec::new();
    let Some(caps) = spec
        .pointer_mut("/process/capabilities")
        .and_then(|c| c.as_object_mut())
    else {
        return removed;
    };
    for set in caps.values_mut() {
        if let Some(list) = set.as_array_mut() {
            list.retain(|v| {
                let ok = serde_json::from_value::<Capability>(v.clone()).is_ok();
                if !ok {
                    removed.push(v.as_str().unwrap_or("<not a string>").to_string());
                }
                ok
            });
        }
    }
    removed.sort();
    removed.dedup();
    removed
}

static WARN_SINK: std::sync::OnceLock<fn(&str)> = std::sync::OnceLock::new();

/// Routes this module's warnings (unknown capabilities, unsupported LSM labels, ambient
/// capabilities the kernel refused, ...) to `sink`, e.g. the runtime's `--log`. Set once,
/// before the container's init is cloned (the init inherits it). Default: stderr.
pub fn set_warning_sink(sink: fn(&str)) {
    let _ = WARN_SINK.set(sink);
}

fn warn(msg: &str) {
    match WARN_SINK.get() {
        Some(sink) => sink(msg),
        None => eprintln!("berth-runtime: warning: {msg}"),
    }
}

// ---------------------------------------------------------------------------------------------
// seccomp

/// A compiled seccomp filter, ready to load: the kernel BPF program and the seccomp(2) flags.
///
/// Compiling Docker's default profile with libseccomp costs milliseconds of CPU in every
/// container init and every exec, so [`compile_seccomp`] keeps the exported program in a cache
/// directory (see [`set_seccomp_cache_dir`]) and later loads it with seccomp(2) directly.
pub struct SeccompFilter {
    bpf: Vec<u8>,
    flags: libc::c_ulong,
    skipped: Vec<String>,
    ctx: Option<ScmpFilterContext>,
}

impl SeccompFilter {
    /// The program and its seccomp(2) flags (to hand to another process).
    #[allow(clippy::unnecessary_cast)] // c_ulong is u32 on 32-bit targets
    pub(crate) fn into_raw(self) -> (Vec<u8>, u64) {
        (self.bpf, self.flags as u64)
    }

    /// A filter from [`SeccompFilter::into_raw`]'s parts.
    #[allow(clippy::unnecessary_cast)] // c_ulong is u32 on 32-bit targets
    pub(crate) fn from_raw(bpf: Vec<u8>, flags: u64) -> SeccompFilter {
        SeccompFilter {
            bpf,
            flags: flags as libc::c_ulong,
            skipped: Vec::new(),
            ctx: None,
        }
    }

    /// Installs the filter on the calling thread. Needs no_new_privs or CAP_SYS_ADMIN.
    /// A notifying filter's listener fd is closed (its notified syscalls then fail with
    /// ENOSYS): the init hands it to the agent with [`SeccompFilter::load_with_listener`].
    pub fn load(self) -> Result<()> {
        self.load_with_listener().map(drop)
    }

    /// Whether loading returns a notify fd (the profile has SCMP_ACT_NOTIFY rules).
    pub(crate) fn has_listener(&self) -> bool {
        self.flags & libc::SECCOMP_FILTER_FLAG_NEW_LISTENER != 0
    }

    /// Installs the filter; returns the notify fd when the profile notifies.
    pub(crate) fn load_with_listener(self) -> Result<Option<std::os::fd::OwnedFd>> {
        let prog = libc::sock_fprog {
            len: (self.bpf.len() / BPF_INSN) as libc::c_ushort,
            filter: self.bpf.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: `prog` points at `len` whole instructions in `self.bpf`, alive for the call.
        let r = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                self.flags,
                &prog as *const libc::sock_fprog,
            )
        };
        if r < 0 {
            let e = std::io::Error::last_os_error();
            return Err(Error::other(format!("loading the seccomp filter: {e}")));
        }
        if self.has_listener() {
            use std::os::fd::FromRawFd;
            // SAFETY: with NEW_LISTENER the kernel returns a new fd, ours.
            return Ok(Some(unsafe { std::os::fd::OwnedFd::from_raw_fd(r as i32) }));
        }
        if r > 0 {
            // With TSYNC the kernel returns the ID of a thread it could not synchronise.
            return Err(Error::other(format!(
                "loading the seccomp filter: thread {r} could not be synchronised"
            )));
        }
        Ok(None)
    }

    /// Syscall names of the profile that libseccomp does not know (skipped, like runc does).
    /// The caller may log them at debug level.
    pub fn skipped_syscalls(&self) -> &[String] {
        &self.skipped
    }

    /// Number of BPF instructions in the program.
    pub fn instructions(&self) -> usize {
        self.bpf.len() / BPF_INSN
    }

    /// The filter as libseccomp's human-readable pseudo filter code (for debugging and tests;
    /// it recompiles when the filter came from the cache).
    pub fn export_pfc(&self) -> Result<String> {
        if self.ctx.is_none() {
            return Err(Error::other(
                "exporting the seccomp filter: compiled from the cache, use compile_seccomp_uncached",
            ));
        }
        let ctx = self.ctx.as_ref().unwrap();
        let mut file = memfd(c"berth-seccomp-pfc")?;
        ctx.export_pfc(&file)
            .map_err(|e| Error::other(format!("exporting the seccomp filter: {e}")))?;
        read_back(&mut file)
    }
}

/// sizeof(struct sock_filter).
const BPF_INSN: usize = 8;

fn memfd(name: &std::ffi::CStr) -> Result<std::fs::File> {
    // SAFETY: a valid NUL-terminated name; the returned fd is owned below.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    let fd = Errno::result(fd).ctx(|| "memfd_create".to_string())?;
    // SAFETY: `fd` was just created and is owned by nobody else.
    Ok(unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd) })
}

fn read_back(file: &mut std::fs::File) -> Result<String> {
    use std::io::{Read, Seek};
    let mut text = String::new();
    file.rewind()?;
    file.read_to_string(&mut text)?;
    Ok(text)
}

/// Where compiled filters are cached: the directory's path and an fd of it. The fd keeps the
/// cache reachable from a container init after it entered its own mount namespace (and from
/// an exec after setns): lookups use openat on it.
static CACHE_DIR: std::sync::Mutex<Option<CacheDir>> = std::sync::Mutex::new(None);

struct CacheDir {
    fd: std::os::fd::OwnedFd,
    /// Device and inode of the directory: the fd is used only while it still refers to it.
    id: (u64, u64),
}

fn fd_identity(fd: std::os::fd::RawFd) -> Option<(u64, u64)> {
    // SAFETY: fstat into a zeroed struct we own.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: see above; `fd` may be anything, fstat only reads it.
    if unsafe { libc::fstat(fd, &mut st) } != 0 || st.st_mode & libc::S_IFMT != libc::S_IFDIR {
        return None;
    }
    Some((st.st_dev, st.st_ino))
}

/// The cache directory's fd, if set and still the directory it was opened as.
fn cache_dir_fd() -> Option<std::os::fd::RawFd> {
    use std::os::fd::AsRawFd;
    let guard = CACHE_DIR.lock().unwrap_or_else(|e| e.into_inner());
    let d = guard.as_ref()?;
    let fd = d.fd.as_raw_fd();
    (fd_identity(fd)? == d.id).then_some(fd)
}

/// Sets (creating it) the directory where [`compile_seccomp`] caches compiled filters, e.g.
/// `<runroot>/seccomp`, for this process and its forks. Call again in a child that closed its
/// inherited fds. Without it, every filter is compiled with libseccomp.
pub fn set_seccomp_cache_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let _ = std::fs::DirBuilder::new().mode(0o700).create(dir);
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC | libc::O_NOFOLLOW)
        .open(dir)
        .map_err(|e| Error::other(format!("seccomp cache {}: {e}", dir.display())))?;
    // A high fd number: a container init moves its preserved and standard fds to the low ones.
    // Below 64, though: growing the fd table of a multi-threaded process waits for an RCU
    // grace period (~10 ms).
    use std::os::fd::{AsRawFd, FromRawFd};
    // SAFETY: F_DUPFD_CLOEXEC on an fd we own; the result is a new fd we then own.
    let high = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 60) };
    let fd = if high >= 0 {
        // SAFETY: fresh fd from fcntl.
        unsafe { std::os::fd::OwnedFd::from_raw_fd(high) }
    } else {
        f.into()
    };
    let id = fd_identity(fd.as_raw_fd())
        .ok_or_else(|| Error::other(format!("seccomp cache {}: not a directory", dir.display())))?;
    let new_fd = fd.as_raw_fd();
    let old = CACHE_DIR
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .replace(CacheDir { fd, id });
    if let Some(old) = old {
        // A forked child that closed its inherited fds (the monitor) may have this number
        // reused, even by the new fd: close the old one only if it is still ours.
        if old.fd.as_raw_fd() == new_fd || fd_identity(old.fd.as_raw_fd()) != Some(old.id) {
            std::mem::forget(old.fd);
        }
    }
    Ok(())
}

/// The cache directory's fd, to hand to a re-executed runtime stage (see init_stage).
pub(crate) fn seccomp_cache_fd() -> Option<std::os::fd::RawFd> {
    cache_dir_fd()
}

/// Takes `fd` (inherited from the process that re-executed us) as the cache directory.
pub(crate) fn adopt_seccomp_cache_fd(fd: std::os::fd::RawFd) {
    use std::os::fd::FromRawFd;
    let Some(id) = fd_identity(fd) else {
        return;
    };
    // SAFETY: an fd handed to us for this, owned from here.
    let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
    let old = CACHE_DIR
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .replace(CacheDir { fd, id });
    std::mem::forget(old.map(|o| o.fd));
}

/// Closes the cache directory's fd in this process (a container init calls it once its
/// filter is compiled, so no host directory fd can be preserved into the container).
pub fn close_seccomp_cache_dir() {
    let old = CACHE_DIR.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(old) = old {
        use std::os::fd::AsRawFd;
        if fd_identity(old.fd.as_raw_fd()) != Some(old.id) {
            // Not ours any more (closed and reused behind our back): leave it alone.
            std::mem::forget(old.fd);
        }
    }
}

/// The cache key: everything the compiled program depends on (libseccomp's version, the
/// native architecture, the profile). Stored in full in the entry and compared on lookup, so a
/// hash collision can only miss, never load a wrong filter.
fn cache_key(seccomp: &LinuxSeccomp) -> Option<Vec<u8>> {
    let v = libseccomp::ScmpVersion::current().ok()?;
    let mut key = format!(
        "berth-seccomp-v2 libseccomp {}.{}.{} {}\n",
        v.major,
        v.minor,
        v.micro,
        std::env::consts::ARCH
    )
    .into_bytes();
    serde_json::to_writer(&mut key, seccomp).ok()?;
    Some(key)
}

fn cache_name(key: &[u8]) -> String {
    // FNV-1a (stable across builds, unlike std's hasher); collisions only cost a recompile.
    let mut h = 0xcbf29ce484222325u64;
    for b in key {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{h:016x}{:016x}.bpf", key.len())
}

/// Entry layout: key length, flags, skipped-names length (u64 LE each), the key, the skipped
/// syscall names (one per line), the BPF program.
fn cache_lookup(key: &[u8]) -> Option<(Vec<u8>, libc::c_ulong, Vec<String>)> {
    use std::io::Read;
    let dir = cache_dir_fd()?;
    let name = std::ffi::CString::new(cache_name(key)).ok()?;
    // SAFETY: openat on a directory fd we own with a NUL-terminated relative name.
    let fd = unsafe {
        libc::openat(
            dir,
            name.as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW,
        )
    };
    if fd < 0 {
        return None;
    }
    // SAFETY: fresh fd from openat.
    let mut f = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let mut buf = Vec::with_capacity(key.len() + 32 * 1024);
    f.read_to_end(&mut buf).ok()?;
    let klen = u64::from_le_bytes(buf.get(..8)?.try_into().ok()?) as usize;
    let flags = u64::from_le_bytes(buf.get(8..16)?.try_into().ok()?) as libc::c_ulong;
    let slen = u64::from_le_bytes(buf.get(16..24)?.try_into().ok()?) as usize;
    if klen != key.len() || buf.get(24..24 + klen)? != key {
        return None;
    }
    let names = std::str::from_utf8(buf.get(24 + klen..24 + klen + slen)?).ok()?;
    let skipped = names.lines().map(str::to_string).collect();
    let bpf = buf.split_off(24 + klen + slen);
    (!bpf.is_empty() && bpf.len() % BPF_INSN == 0 && bpf.len() / BPF_INSN <= 4096)
        .then_some((bpf, flags, skipped))
}

/// Best effort: a failed store only means the next start compiles again. Written to a temp
/// name and renamed, so readers never see a partial entry; no fsync (a lost entry is rebuilt).
fn cache_store(key: &[u8], f: &SeccompFilter) {
    let Some(dir) = cache_dir_fd() else {
        return;
    };
    let name = cache_name(key);
    let tmp = format!(".tmp-{}-{name}", std::process::id());
    let (Ok(cname), Ok(ctmp)) = (
        std::ffi::CString::new(name),
        std::ffi::CString::new(tmp.clone()),
    ) else {
        return;
    };
    let names = f.skipped.join("\n");
    let mut data = Vec::with_capacity(24 + key.len() + names.len() + f.bpf.len());
    data.extend_from_slice(&(key.len() as u64).to_le_bytes());
    data.extend_from_slice(&f.flags.to_le_bytes());
    data.extend_from_slice(&(names.len() as u64).to_le_bytes());
    data.extend_from_slice(key);
    data.extend_from_slice(names.as_bytes());
    data.extend_from_slice(&f.bpf);
    // SAFETY: openat/write/renameat/unlinkat on our directory fd with NUL-terminated names;
    // the file fd is closed on every path.
    unsafe {
        let fd = libc::openat(
            dir,
            ctmp.as_ptr(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC | libc::O_NOFOLLOW,
            0o600,
        );
        if fd < 0 {
            return;
        }
        let mut f = <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd);
        let ok = std::io::Write::write_all(&mut f, &data).is_ok();
        drop(f);
        if !ok || libc::renameat(dir, ctmp.as_ptr(), dir, cname.as_ptr()) != 0 {
            libc::unlinkat(dir, ctmp.as_ptr(), 0);
        }
    }
}

/// The seccomp(2) flags libseccomp would pass for the profile's `flags`.
fn filter_flags(seccomp: &LinuxSeccomp) -> libc::c_ulong {
    let mut flags = 0;
    for flag in seccomp.flags().iter().flatten() {
        flags |= match flag {
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => libc::SECCOMP_FILTER_FLAG_TSYNC,
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => libc::SECCOMP_FILTER_FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => {
                libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW
            }
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => 0,
        };
    }
    let notify = seccomp.default_action() == LinuxSeccompAction::ScmpActNotify
        || seccomp
            .syscalls()
            .iter()
            .flatten()
            .any(|s| s.action() == LinuxSeccompAction::ScmpActNotify);
    if notify {
        // The kernel returns the notify fd for the agent (see seccomp_notify).
        flags |= libc::SECCOMP_FILTER_FLAG_NEW_LISTENER;
    }
    flags
}

/// Compiles the spec's seccomp profile ahead of time (before privileges are dropped), from the
/// cache when an earlier compile of the same profile is there.
pub fn compile_seccomp(seccomp: &LinuxSeccomp) -> Result<SeccompFilter> {
    let key = cache_key(seccomp);
    if let Some((bpf, flags, skipped)) = key.as_deref().and_then(cache_lookup) {
        return Ok(SeccompFilter {
            bpf,
            flags,
            skipped,
            ctx: None,
        });
    }
    let f = compile_seccomp_uncached(seccomp)?;
    if let Some(key) = key {
        cache_store(&key, &f);
    }
    Ok(f)
}

/// Compiles the profile with libseccomp, bypassing the cache.
pub fn compile_seccomp_uncached(seccomp: &LinuxSeccomp) -> Result<SeccompFilter> {
    let ctx = build_context(seccomp)?;
    let (ctx, skipped) = ctx;
    let mut file = memfd(c"berth-seccomp-bpf")?;
    ctx.export_bpf(&file)
        .map_err(|e| Error::other(format!("exporting the seccomp filter: {e}")))?;
    let bpf = {
        use std::io::{Read, Seek};
        let mut v = Vec::new();
        file.rewind()?;
        file.read_to_end(&mut v)?;
        v
    };
    if bpf.is_empty() || bpf.len() % BPF_INSN != 0 {
        return Err(Error::other(format!(
            "seccomp: libseccomp exported a malformed program ({} bytes)",
            bpf.len()
        )));
    }
    Ok(SeccompFilter {
        bpf,
        flags: filter_flags(seccomp),
        skipped,
        ctx: Some(ctx),
    })
}

fn seccomp_err(
    what: impl std::fmt::Display,
) -> impl FnOnce(libseccomp::error::SeccompError) -> Error {
    move |e| Error::other(format!("seccomp: {what}: {e}"))
}

fn seccomp_action(action: LinuxSeccompAction, errno_ret: Option<u32>) -> Result<ScmpAction> {
    let data = |kind: &str| -> Result<u32> {
        let v = errno_ret.unwrap_or(libc::EPERM as u32);
        if v > u16::MAX as u32 {
            return Err(Error::Spec(format!(
                "seccomp: {kind} value {v} does not fit in 16 bits"
            )));
        }
        Ok(v)
    };
    Ok(match action {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(data("errnoRet")? as i32),
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(data("errnoRet (trace)")? as u16),
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        // Handed to the seccomp agent at listenerPath (see seccomp_notify).
        LinuxSeccompAction::ScmpActNotify => ScmpAction::Notify,
    })
}

fn seccomp_compare(arg: &oci_spec::runtime::LinuxSeccompArg) -> Result<ScmpArgCompare> {
    if arg.index() >= 6 {
        return Err(Error::Spec(format!(
            "seccomp: argument index {} out of range (syscalls have 6 arguments)",
            arg.index()
        )));
    }
    let index = arg.index() as u32;
    let op = match arg.op() {
        LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
        LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
        LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
        LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
        // The OCI spec (and runc) read `value` as the mask and `valueTwo` as the datum.
        LinuxSeccompOperator::ScmpCmpMaskedEq => {
            return Ok(ScmpArgCompare::new(
                index,
                ScmpCompareOp::MaskedEqual(arg.value()),
                arg.value_two().unwrap_or(0),
            ))
        }
    };
    Ok(ScmpArgCompare::new(index, op, arg.value()))
}

fn seccomp_arch(arch: &oci_spec::runtime::Arch) -> Result<ScmpArch> {
    let name = match serde_json::to_value(arch) {
        Ok(serde_json::Value::String(s)) => s,
        _ => return Err(Error::Spec(format!("seccomp: bad architecture {arch:?}"))),
    };
    ScmpArch::from_str(&name).map_err(|_| {
        Error::Spec(format!(
            "seccomp: architecture {name} is not supported by this libseccomp"
        ))
    })
}

/// Builds the libseccomp filter for a profile; also returns the syscall names it skipped.
fn build_context(seccomp: &LinuxSeccomp) -> Result<(ScmpFilterContext, Vec<String>)> {
    if filter_flags(seccomp) & libc::SECCOMP_FILTER_FLAG_NEW_LISTENER != 0
        && !crate::seccomp_notify::wants_listener(seccomp)
    {
        return Err(Error::Spec(
            "seccomp: SCMP_ACT_NOTIFY needs linux.seccomp.listenerPath (the seccomp agent's \
             socket)"
                .into(),
        ));
    }
    let default_action = seccomp_action(seccomp.default_action(), seccomp.default_errno_ret())?;
    let mut ctx =
        ScmpFilterContext::new(default_action).map_err(seccomp_err("creating the filter"))?;
    // We set no_new_privs ourselves, only when the spec asks for it.
    ctx.set_ctl_nnp(false)
        .map_err(seccomp_err("clearing the NNP attribute"))?;
    // Report the kernel's errno on load failures instead of ECANCELED (libseccomp >= 2.5).
    let _ = ctx.set_api_sysrawrc(true);
    // A binary tree over syscall numbers instead of one linear chain: besides faster syscalls
    // in the container, loading gets cheaper, as the kernel runs the filter once per syscall
    // number and architecture to build its allow cache (Docker's profile as a chain: ~1 ms).
    let _ = ctx.set_ctl_optimize(2);

    for arch in seccomp.architectures().iter().flatten() {
        let arch = seccomp_arch(arch)?;
        let present = ctx
            .is_arch_present(arch)
            .map_err(seccomp_err(format!("checking architecture {arch:?}")))?;
        if !present {
            ctx.add_arch(arch)
                .map_err(seccomp_err(format!("adding architecture {arch:?}")))?;
        }
    }

    for flag in seccomp.flags().iter().flatten() {
        match flag {
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => ctx.set_ctl_tsync(true),
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => ctx.set_ctl_log(true),
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => ctx.set_ctl_ssb(true),
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => {
                return Err(Error::Spec(
                    "seccomp: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV is not supported yet \
                     (it only matters for SCMP_ACT_NOTIFY)"
                        .into(),
                ))
            }
        }
        .map_err(seccomp_err(format!("setting flag {flag:?}")))?;
    }

    let mut skipped = Vec::new();
    for rule in seccomp.syscalls().iter().flatten() {
        let action = seccomp_action(rule.action(), rule.errno_ret())?;
        // libseccomp refuses rules that repeat the default action; they are no-ops anyway.
        if action == default_action {
            continue;
        }
        let conds = rule
            .args()
            .iter()
            .flatten()
            .map(seccomp_compare)
            .collect::<Result<Vec<_>>>()?;
        // libseccomp compares each argument at most once per rule. Like runc, a rule that
        // names one argument several times becomes one rule per condition.
        let mut seen = [0u8; 6];
        for a in rule.args().iter().flatten() {
            seen[a.index()] += 1;
        }
        let split = seen.iter().any(|&n| n > 1);
        for name in rule.names() {
            let Ok(sys) = ScmpSyscall::from_name(name) else {
                skipped.push(name.clone());
                continue;
            };
            let what = || format!("adding the rule for {name}");
            if split {
                for c in &conds {
                    ctx.add_rule_conditional(action, sys, std::slice::from_ref(c))
                        .map_err(seccomp_err(what()))?;
                }
            } else {
                ctx.add_rule_conditional(action, sys, &conds)
                    .map_err(seccomp_err(what()))?;
            }
        }
    }
    Ok((ctx, skipped))
}

// ---------------------------------------------------------------------------------------------
// sysctl

/// Checks a sysctl key is a plain dotted name that cannot escape /proc/sys.
pub fn validate_sysctl_key(key: &str) -> Result<()> {
    let bad = key.is_empty()
        || key.contains('/')
        || key.contains("..")
        || key.contains('\0')
        || key.starts_with('.')
        || key.ends_with('.');
    if bad {
        return Err(Error::Spec(format!("invalid sysctl key {key:?}")));
    }
    Ok(())
}

/// The namespace a sysctl belongs to, if it is namespaced at all (the list runc validates).
pub fn sysctl_namespace(key: &str) -> Option<LinuxNamespaceType> {
    const IPC: [&str; 8] = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    if IPC.contains(&key) || key.starts_with("fs.mqueue.") {
        Some(LinuxNamespaceType::Ipc)
    } else if key.starts_with("net.") {
        Some(LinuxNamespaceType::Network)
    } else if key == "kernel.hostname" || key == "kernel.domainname" {
        Some(LinuxNamespaceType::Uts)
    } else {
        None
    }
}

/// Validates `linux.sysctl` against the spec's namespaces before the container is created:
/// each key must be well formed, namespaced, and its namespace must be in `namespaces`
/// (new or joined by path) so that writing it cannot change the host.
pub fn validate_sysctls(
    sysctl: &HashMap<String, String>,
    namespaces: &[LinuxNamespace],
) -> Result<()> {
    for key in sysctl.keys() {
        validate_sysctl_key(key)?;
        let Some(ns) = sysctl_namespace(key) else {
            return Err(Error::Spec(format!(
                "sysctl {key:?} is not namespaced and would change the host; not allowed"
            )));
        };
        if !namespaces.iter().any(|n| n.typ() == ns) {
            return Err(Error::Spec(format!(
                "sysctl {key:?} needs a {ns} namespace in linux.namespaces"
            )));
        }
    }
    Ok(())
}

/// Writes `linux.sysctl` under /proc/sys (after pivot_root, before /proc/sys turns read-only).
/// Keys outside the namespaced families are refused so the host is never changed.
pub fn apply_sysctl(sysctl: &HashMap<String, String>) -> Result<()> {
    apply_sysctl_at(Path::new("/proc/sys"), sysctl)
}

fn apply_sysctl_at(root: &Path, sysctl: &HashMap<String, String>) -> Result<()> {
    for (key, value) in sysctl {
        validate_sysctl_key(key)?;
        if sysctl_namespace(key).is_none() {
            return Err(Error::Spec(format!(
                "sysctl {key:?} is not namespaced and would change the host; not allowed"
            )));
        }
        let path = root.join(key.replace('.', "/"));
        std::fs::write(&path, value.as_bytes()).map_err(|e| {
            Error::other(format!(
                "setting sysctl {key}={value:?} ({}): {e}",
                path.display()
            ))
        })?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// process attributes

/// The setrlimit resource for an rlimit name such as "RLIMIT_NOFILE".
pub fn rlimit_resource(name: &str) -> Option<libc::c_int> {
    PosixRlimitType::from_str(name)
        .ok()
        .map(rlimit_type_resource)
}

/// Sets the process's rlimits. The init does it before it reports READY (as runc sets them
/// before `create` returns), so a limit the kernel refuses fails `create`; `finalize_process`
/// sets them again (same values) for exec'd processes.
pub(crate) fn set_rlimits(rlimits: &[PosixRlimit]) -> Result<()> {
    for rl in rlimits {
        let name = rl.typ().to_string();
        let resource = rlimit_type_resource(rl.typ());
        let lim = libc::rlimit {
            rlim_cur: rl.soft(),
            rlim_max: rl.hard(),
        };
        // SAFETY: `lim` is a valid rlimit for the duration of the call.
        let r = unsafe { libc::setrlimit(resource as _, &lim) };
        Errno::result(r)
            .ctx(|| format!("setting {name} to soft {} hard {}", rl.soft(), rl.hard()))?;
    }
    Ok(())
}

fn rlimit_type_resource(t: PosixRlimitType) -> libc::c_int {
    use PosixRlimitType::*;
    (match t {
        RlimitCpu => libc::RLIMIT_CPU,
        RlimitFsize => libc::RLIMIT_FSIZE,
        RlimitData => libc::RLIMIT_DATA,
        RlimitStack => libc::RLIMIT_STACK,
        RlimitCore => libc::RLIMIT_CORE,
        RlimitRss => libc::RLIMIT_RSS,
        RlimitNproc => libc::RLIMIT_NPROC,
        RlimitNofile => libc::RLIMIT_NOFILE,
        RlimitMemlock => libc::RLIMIT_MEMLOCK,
        RlimitAs => libc::RLIMIT_AS,
        RlimitLocks => libc::RLIMIT_LOCKS,
        RlimitSigpending => libc::RLIMIT_SIGPENDING,
        RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        RlimitNice => libc::RLIMIT_NICE,
        RlimitRtprio => libc::RLIMIT_RTPRIO,
        RlimitRttime => libc::RLIMIT_RTTIME,
    } as libc::c_int)
}

fn set_oom_score_adj(adj: i32) -> Result<()> {
    std::fs::write("/proc/self/oom_score_adj", adj.to_string())
        .map_err(|e| Error::other(format!("setting oomScoreAdj to {adj}: {e}")))
}

fn set_io_priority(io: &LinuxIOPriority) -> Result<()> {
    const IOPRIO_WHO_PROCESS: libc::c_long = 1;
    const IOPRIO_CLASS_SHIFT: i64 = 13;
    let class: i64 = match io.class() {
        IOPriorityClass::IoprioClassRt => 1,
        IOPriorityClass::IoprioClassBe => 2,
        IOPriorityClass::IoprioClassIdle => 3,
    };
    if !(0..8).contains(&io.priority()) {
        return Err(Error::Spec(format!(
            "ioPriority.priority {} out of range 0..=7",
            io.priority()
        )));
    }
    let prio = (class << IOPRIO_CLASS_SHIFT) | io.priority();
    // SAFETY: ioprio_set takes three integers and touches no memory of ours.
    let r = unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, prio) };
    Errno::result(r).ctx(|| format!("setting ioPriority {:?}", io))?;
    Ok(())
}

/// struct sched_attr (SCHED_ATTR_SIZE_VER0 = 48 bytes).
#[repr(C)]
#[derive(Default)]
struct SchedAttr {
    size: u32,
    sched_policy: u32,
    sched_flags: u64,
    sched_nice: i32,
    sched_priority: u32,
    sched_runtime: u64,
    sched_deadline: u64,
    sched_period: u64,
}

fn sched_attr(s: &Scheduler) -> Result<SchedAttr> {
    let policy = match s.policy() {
        LinuxSchedulerPolicy::SchedOther => 0,
        LinuxSchedulerPolicy::SchedFifo => 1,
        LinuxSchedulerPolicy::SchedRr => 2,
        LinuxSchedulerPolicy::SchedBatch => 3,
        LinuxSchedulerPolicy::SchedIso => 4,
        LinuxSchedulerPolicy::SchedIdle => 5,
        LinuxSchedulerPolicy::SchedDeadline => 6,
    };
    let mut flags = 0u64;
    for f in s.flags().iter().flatten() {
        flags |= match f {
            LinuxSchedulerFlag::SchedResetOnFork => 0x01,
            LinuxSchedulerFlag::SchedFlagReclaim => 0x02,
            LinuxSchedulerFlag::SchedFlagDLOverrun => 0x04,
            LinuxSchedulerFlag::SchedFlagKeepPolicy => 0x08,
            LinuxSchedulerFlag::SchedFlagKeepParams => 0x10,
            LinuxSchedulerFlag::SchedFlagUtilClampMin => 0x20,
            LinuxSchedulerFlag::SchedFlagUtilClampMax => 0x40,
        };
    }
    let priority = s.priority().unwrap_or(0);
    if priority < 0 {
        return Err(Error::Spec(format!(
            "scheduler.priority {priority} must not be negative"
        )));
    }
    Ok(SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        sched_policy: policy,
        sched_flags: flags,
        sched_nice: s.nice().unwrap_or(0),
        sched_priority: priority as u32,
        sched_runtime: s.runtime().unwrap_or(0),
        sched_deadline: s.deadline().unwrap_or(0),
        sched_period: s.period().unwrap_or(0),
    })
}

fn set_scheduler(s: &Scheduler) -> Result<()> {
    let attr = sched_attr(s)?;
    // SAFETY: `attr` is a valid, fully initialized sched_attr whose `size` field matches.
    let r = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) };
    Errno::result(r).ctx(|| format!("setting scheduler {:?}", s.policy()))?;
    Ok(())
}

/// Sets `linux.personality` (LINUX or LINUX32). Call it just before [`finalize_process`]:
/// the personality lives in `linux`, not in `process`. Flags are not supported and ignored
/// with a warning, like runc.
pub fn set_personality(p: &LinuxPersonality) -> Result<()> {
    const PER_LINUX: libc::c_ulong = 0x0000;
    const PER_LINUX32: libc::c_ulong = 0x0008;
    let persona = match p.domain() {
        LinuxPersonalityDomain::PerLinux => PER_LINUX,
        LinuxPersonalityDomain::PerLinux32 => PER_LINUX32,
    };
    if p.flags().as_ref().is_some_and(|f| !f.is_empty()) {
        warn("linux.personality.flags are not supported and are ignored");
    }
    // SAFETY: personality takes an integer and touches no memory of ours.
    let r = unsafe { libc::personality(persona) };
    Errno::result(r).ctx(|| format!("setting personality {:?}", p.domain()))?;
    Ok(())
}

fn apparmor_enabled() -> bool {
    Path::new("/sys/kernel/security/apparmor").exists()
        || std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
            .is_ok_and(|s| s.trim() == "Y")
}

fn selinux_enabled() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
}

/// Whether the host supports AppArmor / SELinux labels (for the features document).
pub fn lsm_support() -> (bool, bool) {
    (apparmor_enabled(), selinux_enabled())
}

fn apply_lsm(process: &Process) -> Result<()> {
    if let Some(profile) = process
        .apparmor_profile()
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        if apparmor_enabled() {
            let attr = if Path::new("/proc/self/attr/apparmor/exec").exists() {
                "/proc/self/attr/apparmor/exec"
            } else {
                "/proc/self/attr/exec"
            };
            std::fs::write(attr, format!("exec {profile}")).map_err(|e| {
                Error::other(format!(
                    "setting AppArmor profile {profile:?} ({attr}): {e}"
                ))
            })?;
        } else {
            // As runc (its write to the attr file fails): a profile that cannot hold is an error.
            return Err(Error::other(format!(
                "apparmorProfile {profile:?} cannot be applied: AppArmor is not enabled on this host"
            )));
        }
    }
    if let Some(label) = process.selinux_label().as_deref().filter(|l| !l.is_empty()) {
        if selinux_enabled() {
            std::fs::write("/proc/self/attr/exec", label)
                .map_err(|e| Error::other(format!("setting SELinux label {label:?}: {e}")))?;
        } else {
            // runc's validator refuses it too ("selinux is disabled or not supported").
            return Err(Error::other(format!(
                "selinuxLabel {label:?} cannot be applied: SELinux is not enabled on this host"
            )));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// capabilities and user

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// The five capability sets as bitmasks (bit n = capability number n).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CapSets {
    pub bounding: u64,
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
    pub ambient: u64,
}

fn last_cap() -> u8 {
    static LAST: std::sync::OnceLock<u8> = std::sync::OnceLock::new();
    *LAST.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .ok()
            .and_then(|s| s.trim().parse::<u8>().ok())
            .unwrap_or((CAPABILITY_NAMES.len() - 1) as u8)
            .min(63)
    })
}

fn cap_mask(set: &Option<Capabilities>, last: u8, set_name: &str) -> u64 {
    let mut mask = 0u64;
    for cap in set.iter().flatten() {
        match oci_capability_number(cap) {
            Some(n) if n <= last => mask |= 1 << n,
            _ => warn(&format!(
                "capability {cap} ({set_name}) is not known to this kernel; ignored"
            )),
        }
    }
    mask
}

impl CapSets {
    /// The sets a spec asks for; capabilities unknown to the kernel are skipped with a
    /// warning. No `capabilities` at all means every set is empty (as in runc).
    pub fn from_spec(caps: Option<&LinuxCapabilities>) -> CapSets {
        let Some(c) = caps else {
            return CapSets::default();
        };
        let last = last_cap();
        CapSets {
            bounding: cap_mask(c.bounding(), last, "bounding"),
            effective: cap_mask(c.effective(), last, "effective"),
            permitted: cap_mask(c.permitted(), last, "permitted"),
            inheritable: cap_mask(c.inheritable(), last, "inheritable"),
            ambient: cap_mask(c.ambient(), last, "ambient"),
        }
    }

    /// The calling thread's current sets (capget + PR_CAPBSET_READ + PR_CAP_AMBIENT_IS_SET).
    pub fn current() -> Result<CapSets> {
        let mut hdr = CapHeader {
            version: LINUX_CAPABILITY_VERSION_3,
            pid: 0,
        };
        let mut data = [CapData::default(); 2];
        // SAFETY: header and a two-element data array, as capget v3 expects.
        let r = unsafe { libc::syscall(libc::SYS_capget, &mut hdr, data.as_mut_ptr()) };
        Errno::result(r).ctx(|| "capget".to_string())?;
        let join = |f: fn(&CapData) -> u32| (f(&data[0]) as u64) | ((f(&data[1]) as u64) << 32);
        let mut sets = CapSets {
            effective: join(|d| d.effective),
            permitted: join(|d| d.permitted),
            inheritable: join(|d| d.inheritable),
            ..CapSets::default()
        };
        for n in 0..=last_cap() {
            // SAFETY: prctl with integer arguments only.
            if unsafe { libc::prctl(libc::PR_CAPBSET_READ, n as libc::c_ulong, 0, 0, 0) } == 1 {
                sets.bounding |= 1 << n;
            }
            // SAFETY: as above.
            let amb = unsafe {
                libc::prctl(
                    libc::PR_CAP_AMBIENT,
                    libc::PR_CAP_AMBIENT_IS_SET as libc::c_ulong,
                    n as libc::c_ulong,
                    0,
                    0,
                )
            };
            if amb == 1 {
                sets.ambient |= 1 << n;
            }
        }
        Ok(sets)
    }
}

fn prctl(op: libc::c_int, arg: libc::c_ulong, what: impl FnOnce() -> String) -> Result<()> {
    // SAFETY: prctl options used here take integer arguments only.
    let r = unsafe { libc::prctl(op, arg, 0, 0, 0) };
    Errno::result(r).ctx(what)?;
    Ok(())
}

fn drop_bounding(keep: u64) -> Result<()> {
    for n in 0..=last_cap() {
        if keep & (1 << n) == 0 {
            // SAFETY: prctl with integer arguments only.
            let r = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, n as libc::c_ulong, 0, 0, 0) };
            // EINVAL: a capability this kernel does not have; nothing to drop.
            if r != 0 && Errno::last() != Errno::EINVAL {
                return Err(Error::Sys {
                    context: format!(
                        "dropping {} from the bounding set",
                        CAPABILITY_NAMES.get(n as usize).unwrap_or(&"capability")
                    ),
                    source: Errno::last(),
                });
            }
        }
    }
    Ok(())
}

fn capset(sets: &CapSets) -> Result<()> {
    let mut hdr = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let split = |m: u64| [m as u32, (m >> 32) as u32];
    let (e, p, i) = (
        split(sets.effective),
        split(sets.permitted),
        split(sets.inheritable),
    );
    let data = [
        CapData {
            effective: e[0],
            permitted: p[0],
            inheritable: i[0],
        },
        CapData {
            effective: e[1],
            permitted: p[1],
            inheritable: i[1],
        },
    ];
    // SAFETY: header and a two-element data array, as capset v3 expects.
    let r = unsafe { libc::syscall(libc::SYS_capset, &mut hdr, data.as_ptr()) };
    Errno::result(r).ctx(|| {
        format!(
            "setting capabilities (effective {:#x}, permitted {:#x}, inheritable {:#x}); \
             effective must be a subset of permitted",
            sets.effective, sets.permitted, sets.inheritable
        )
    })?;
    Ok(())
}

/// Raises the ambient capabilities that are also permitted and inheritable; the others cannot
/// be ambient (the kernel refuses them) and are left out without a word, as youki does (specs
/// such as oci-spec's default list ambient capabilities that are not inheritable, and a
/// warning on every create and exec, onto the container's terminal too, helps nobody).
fn raise_ambient(sets: &CapSets) -> Result<()> {
    let ambient = sets.ambient & sets.permitted & sets.inheritable;
    prctl(
        libc::PR_CAP_AMBIENT,
        libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
        || "clearing the ambient capability set".to_string(),
    )?;
    for n in 0..64u8 {
        if ambient & (1 << n) == 0 {
            continue;
        }
        // SAFETY: prctl with integer arguments only.
        let r = unsafe {
            libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
                n as libc::c_ulong,
                0,
                0,
            )
        };
        if r != 0 {
            warn(&format!(
                "cannot raise ambient capability {}: {}",
                CAPABILITY_NAMES.get(n as usize).unwrap_or(&"?"),
                Errno::last()
            ));
        }
    }
    Ok(())
}

fn set_user(user: &User) -> Result<()> {
    let gids: Vec<libc::gid_t> = user.additional_gids().clone().unwrap_or_default();
    // In a user namespace whose setgroups is "deny" (rootless), setgroups always fails.
    let allowed = std::fs::read_to_string("/proc/self/setgroups")
        .map(|s| s.trim() != "deny")
        .unwrap_or(true);
    if allowed {
        // SAFETY: `gids` outlives the call and its length is passed with it. Raw syscall:
        // only this (single) thread changes credentials, no glibc setxid broadcast.
        let r = unsafe { libc::syscall(libc::SYS_setgroups, gids.len(), gids.as_ptr()) };
        Errno::result(r).ctx(|| format!("setgroups({gids:?})"))?;
    } else if !gids.is_empty() {
        return Err(Error::Spec(format!(
            "cannot set additionalGids {gids:?}: setgroups is denied in this user namespace"
        )));
    }
    let (uid, gid) = (user.uid(), user.gid());
    // SAFETY: integer arguments only.
    let r = unsafe { libc::syscall(libc::SYS_setresgid, gid, gid, gid) };
    Errno::result(r)
        .ctx(|| format!("setgid({gid}) (is gid {gid} mapped in the user namespace?)"))?;
    // SAFETY: integer arguments only.
    let r = unsafe { libc::syscall(libc::SYS_setresuid, uid, uid, uid) };
    Errno::result(r)
        .ctx(|| format!("setuid({uid}) (is uid {uid} mapped in the user namespace?)"))?;
    Ok(())
}

/// Everything about the process that is set from inside, in runc's order: rlimits, oomScoreAdj,
/// ioPriority, scheduler, AppArmor/SELinux, drop bounding set, keep caps across the user
/// switch, setgroups/setgid/setuid, set effective/permitted/inheritable/ambient, umask,
/// no_new_privs, then the seccomp filter last (only execve follows).
///
/// Without noNewPrivileges, loading a seccomp filter needs CAP_SYS_ADMIN, which the process
/// may be about to lose; then (as runc does) the filter is loaded before the capabilities and
/// the user change, so the profile must allow capset/setuid/setgid/setgroups/prctl.
/// `linux.personality` is not part of `Process`: call [`set_personality`] before this.
/// Does not chdir and does not exec: the caller does both.
pub fn finalize_process(process: &Process, seccomp: Option<SeccompFilter>) -> Result<()> {
    set_rlimits(process.rlimits().as_deref().unwrap_or_default())?;
    if let Some(adj) = process.oom_score_adj() {
        set_oom_score_adj(adj)?;
    }
    if let Some(io) = process.io_priority() {
        set_io_priority(io)?;
    }
    if let Some(s) = process.scheduler() {
        set_scheduler(s)?;
    }
    apply_lsm(process)?;

    let nnp = process.no_new_privileges().unwrap_or(false);
    let mut seccomp = seccomp;
    if !nnp {
        if let Some(filter) = seccomp.take() {
            filter.load()?;
        }
    }

    let caps = CapSets::from_spec(process.capabilities().as_ref());
    drop_bounding(caps.bounding)?;
    prctl(libc::PR_SET_KEEPCAPS, 1, || {
        "prctl(PR_SET_KEEPCAPS, 1)".into()
    })?;
    set_user(process.user())?;
    prctl(libc::PR_SET_KEEPCAPS, 0, || {
        "prctl(PR_SET_KEEPCAPS, 0)".into()
    })?;
    capset(&caps)?;
    raise_ambient(&caps)?;

    if let Some(mask) = process.user().umask() {
        // SAFETY: umask cannot fail.
        unsafe { libc::umask(mask as libc::mode_t) };
    }
    if nnp {
        prctl(libc::PR_SET_NO_NEW_PRIVS, 1, || {
            "prctl(PR_SET_NO_NEW_PRIVS, 1)".into()
        })?;
    }
    if let Some(filter) = seccomp {
        filter.load()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! Tests that need a process fork one: the child applies the settings to itself, checks
    //! their effect and reports "ok" or what went wrong through a pipe, then `_exit`s. The
    //! child only runs our code (glibc keeps malloc usable after fork), so these tests are
    //! safe under the default multi-threaded test harness.

    use super::*;
    use serde_json::json;
    use std::io::Read;
    use std::os::fd::{FromRawFd, OwnedFd};

    fn process(v: serde_json::Value) -> Process {
        let mut base = json!({"user": {"uid": 0, "gid": 0}, "cwd": "/", "args": ["true"]});
        base.as_object_mut()
            .unwrap()
            .extend(v.as_object().unwrap().clone());
        serde_json::from_value(base).unwrap()
    }

    fn seccomp(v: serde_json::Value) -> LinuxSeccomp {
        serde_json::from_value(v).unwrap()
    }

    fn mask(names: &[&str]) -> u64 {
        names
            .iter()
            .map(|n| 1u64 << capability_number(n).unwrap())
            .fold(0, |a, b| a | b)
    }

    /// Runs `f` in a forked child and returns what it reported ("ok" on success).
    fn in_child(f: impl FnOnce() -> std::result::Result<(), String>) -> String {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors pipe2 writes.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        // SAFETY: the child only runs `f` and then `_exit`s, never returning into the harness.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            let msg = match f() {
                Ok(()) => "ok".to_string(),
                Err(e) => e,
            };
            // SAFETY: writing a valid buffer to our pipe end, then leaving without unwinding.
            unsafe {
                libc::write(fds[1], msg.as_ptr().cast(), msg.len());
                libc::_exit(0);
            }
        }
        // SAFETY: both fds were just created by pipe2 and are owned here.
        let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        drop(w);
        let mut msg = String::new();
        std::fs::File::from(r).read_to_string(&mut msg).unwrap();
        let mut status = 0;
        // SAFETY: waiting for our own child.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "child died: status {status:#x}, said {msg:?}"
        );
        msg
    }

    fn check(cond: bool, what: impl Into<String>) -> std::result::Result<(), String> {
        if cond {
            Ok(())
        } else {
            Err(what.into())
        }
    }

    fn status_field(name: &str) -> String {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .unwrap_or("")
            .trim()
            .to_string()
    }

    fn errno_of(r: libc::c_int) -> i32 {
        if r < 0 {
            Errno::last() as i32
        } else {
            0
        }
    }

    // ---- pure logic

    #[test]
    fn capability_names_parse() {
        assert_eq!(capability_number("CAP_CHOWN"), Some(0));
        assert_eq!(capability_number("CAP_SYS_ADMIN"), Some(21));
        assert_eq!(capability_number("sys_admin"), Some(21));
        assert_eq!(capability_number("CAP_CHECKPOINT_RESTORE"), Some(40));
        assert_eq!(capability_number("CAP_NOT_A_CAP"), None);
        // Every oci-spec capability maps to a kernel number.
        for name in CAPABILITY_NAMES {
            let cap: Capability = serde_json::from_value(json!(name)).unwrap();
            assert_eq!(
                oci_capability_number(&cap),
                capability_number(name),
                "{name}"
            );
        }
    }

    #[test]
    fn unknown_capabilities_are_stripped_from_raw_specs() {
        let mut spec = json!({"process": {"capabilities": {
            "bounding": ["CAP_KILL", "CAP_FROM_THE_FUTURE"],
            "effective": ["CAP_KILL"]
        }}});
        assert_eq!(
            strip_unknown_capabilities(&mut spec),
            vec!["CAP_FROM_THE_FUTURE".to_string()]
        );
        assert_eq!(
            spec["process"]["capabilities"]["bounding"],
            json!(["CAP_KILL"])
        );
        let caps: LinuxCapabilities =
            serde_json::from_value(spec["process"]["capabilities"].clone()).unwrap();
        assert_eq!(
            CapSets::from_spec(Some(&caps)).bounding,
            mask(&["CAP_KILL"])
        );
    }

    #[test]
    fn rlimit_names_map_to_resources() {
        assert_eq!(
            rlimit_resource("RLIMIT_NOFILE"),
            Some(libc::RLIMIT_NOFILE as _)
        );
        assert_eq!(
            rlimit_resource("RLIMIT_RTTIME"),
            Some(libc::RLIMIT_RTTIME as _)
        );
        assert_eq!(rlimit_resource("RLIMIT_AS"), Some(libc::RLIMIT_AS as _));
        assert_eq!(rlimit_resource("RLIMIT_BOGUS"), None);
        assert_eq!(rlimit_resource("nofile"), None);
    }

    #[test]
    fn sysctl_keys_are_validated() {
        validate_sysctl_key("net.ipv4.ip_forward").unwrap();
        for bad in ["", "net/ipv4", "net..ipv4", ".net", "net.", "a\0b"] {
            assert!(validate_sysctl_key(bad).is_err(), "{bad:?}");
        }
        let ns: Vec<LinuxNamespace> =
            serde_json::from_value(json!([{"type": "network"}, {"type": "ipc"}])).unwrap();
        let ok: HashMap<String, String> = [
            ("net.ipv4.ip_forward".to_string(), "1".to_string()),
            ("kernel.shm_rmid_forced".to_string(), "1".to_string()),
            ("fs.mqueue.msg_max".to_string(), "20".to_string()),
        ]
        .into();
        validate_sysctls(&ok, &ns).unwrap();
        let host_global: HashMap<String, String> =
            [("vm.swappiness".to_string(), "0".to_string())].into();
        let err = validate_sysctls(&host_global, &ns).unwrap_err().to_string();
        assert!(err.contains("vm.swappiness"), "{err}");
        let no_uts: HashMap<String, String> =
            [("kernel.domainname".to_string(), "x".to_string())].into();
        let err = validate_sysctls(&no_uts, &ns).unwrap_err().to_string();
        assert!(err.contains("uts"), "{err}");
    }

    #[test]
    fn sysctl_writes_under_the_given_root() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("net/ipv4")).unwrap();
        std::fs::write(dir.path().join("net/ipv4/ip_forward"), "0").unwrap();
        let s: HashMap<String, String> =
            [("net.ipv4.ip_forward".to_string(), "1".to_string())].into();
        apply_sysctl_at(dir.path(), &s).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("net/ipv4/ip_forward")).unwrap(),
            "1"
        );
        let bad: HashMap<String, String> = [("kernel.panic".to_string(), "1".to_string())].into();
        assert!(apply_sysctl_at(dir.path(), &bad).is_err());
    }

    #[test]
    fn scheduler_attr_is_built_from_the_spec() {
        let s: Scheduler = serde_json::from_value(json!({
            "policy": "SCHED_DEADLINE", "runtime": 10, "deadline": 20, "period": 30,
            "flags": ["SCHED_RESET_ON_FORK", "SCHED_FLAG_RECLAIM"]
        }))
        .unwrap();
        let a = sched_attr(&s).unwrap();
        assert_eq!(a.size, 48);
        assert_eq!(a.sched_policy, 6);
        assert_eq!(a.sched_flags, 0x03);
        assert_eq!(
            (a.sched_runtime, a.sched_deadline, a.sched_period),
            (10, 20, 30)
        );
    }

    #[test]
    fn seccomp_profile_with_args_compiles() {
        let f = compile_seccomp(&seccomp(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "flags": ["SECCOMP_FILTER_FLAG_LOG"],
            "syscalls": [
                {"names": ["mkdir", "mkdirat", "no_such_syscall_xyz"],
                 "action": "SCMP_ACT_ERRNO", "errnoRet": 18},
                {"names": ["socket"], "action": "SCMP_ACT_ERRNO",
                 "args": [{"index": 1, "value": 15, "valueTwo": 2, "op": "SCMP_CMP_MASKED_EQ"}]},
                {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
                 "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"},
                          {"index": 0, "value": 131080, "op": "SCMP_CMP_EQ"}]},
                {"names": ["getpid"], "action": "SCMP_ACT_ALLOW"}
            ]
        })))
        .unwrap();
        assert_eq!(f.skipped_syscalls(), ["no_such_syscall_xyz".to_string()]);
        let pfc = f.export_pfc().unwrap();
        // The filter really contains the rules: mkdir's errno 18, socket's masked compare.
        assert!(pfc.contains("mkdir"), "{pfc}");
        assert!(pfc.contains("ERRNO(18)"), "{pfc}");
        assert!(pfc.contains("socket"), "{pfc}");
        assert!(pfc.contains("& 0x0000000f"), "{pfc}");
        assert!(pfc.contains("x86_64") && pfc.contains("x32"), "{pfc}");
        // The rule repeating the default action is dropped, not rejected.
        assert!(!pfc.contains("getpid"), "{pfc}");
    }

    #[test]
    fn seccomp_notify_without_listener_is_refused_clearly() {
        let err = compile_seccomp(&seccomp(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]
        })))
        .err()
        .unwrap()
        .to_string();
        assert!(err.contains("SCMP_ACT_NOTIFY needs"), "{err}");
        let f = compile_seccomp(&seccomp(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": "/run/agent.sock",
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]
        })))
        .unwrap();
        assert!(f.has_listener());
    }

    // ---- effects on a real process (root)

    #[test]
    fn seccomp_denies_with_the_configured_errno() {
        let f = compile_seccomp(&seccomp(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 18},
                {"names": ["rmdir"], "action": "SCMP_ACT_ERRNO"},
                {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 93,
                 "args": [{"index": 1, "value": 15, "valueTwo": 2, "op": "SCMP_CMP_MASKED_EQ"}]}
            ]
        })))
        .unwrap();
        let p = process(json!({"noNewPrivileges": true}));
        let msg = in_child(move || {
            finalize_process(&p, Some(f)).map_err(|e| e.to_string())?;
            // errno is read right after each call (errno_of), before the next syscall.
            // SAFETY: plain syscalls with valid NUL-terminated paths.
            let mk =
                errno_of(unsafe { libc::mkdir(c"/tmp/berth-seccomp-test-never".as_ptr(), 0o700) });
            // SAFETY: as above.
            let rm = errno_of(unsafe { libc::rmdir(c"/nonexistent-berth-dir".as_ptr()) });
            check(mk == libc::EXDEV, format!("mkdir errno {mk}"))?;
            check(rm == libc::EPERM, format!("rmdir errno {rm}"))?;
            // SAFETY: socket takes integers.
            let dgram = errno_of(unsafe {
                libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0)
            });
            // SAFETY: as above.
            let stream =
                unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
            check(
                dgram == libc::EPROTONOSUPPORT,
                format!("dgram socket errno {dgram}"),
            )?;
            check(
                stream >= 0,
                "stream socket must be allowed by the masked compare",
            )?;
            check(status_field("Seccomp") == "2", "Seccomp mode is not filter")?;
            check(status_field("NoNewPrivs") == "1", "NoNewPrivs not set")
        });
        assert_eq!(msg, "ok");
        assert!(!Path::new("/tmp/berth-seccomp-test-never").exists());
    }

    #[test]
    fn seccomp_cache_serves_the_same_program_and_it_loads() {
        let dir = tempfile::tempdir().unwrap();
        set_seccomp_cache_dir(dir.path()).unwrap();
        // errnoRet 77 and the unknown name make this profile (and its cache entry) ours alone.
        let profile = seccomp(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 77},
                {"names": ["no_such_syscall_cache"], "action": "SCMP_ACT_ERRNO"}
            ]
        }));
        let key = cache_key(&profile).unwrap();
        let entry = dir.path().join(cache_name(&key));
        let first = compile_seccomp(&profile).unwrap();
        assert!(first.ctx.is_some(), "first compile must use libseccomp");
        assert!(entry.exists(), "no cache entry written");
        let cached = compile_seccomp(&profile).unwrap();
        assert!(
            cached.ctx.is_none(),
            "second compile must come from the cache"
        );
        assert_eq!(cached.bpf, first.bpf);
        assert_eq!(cached.flags, first.flags);
        assert_eq!(
            cached.skipped_syscalls(),
            ["no_such_syscall_cache".to_string()]
        );

        let p = process(json!({"noNewPrivileges": true}));
        let msg = in_child(move || {
            finalize_process(&p, Some(cached)).map_err(|e| e.to_string())?;
            // SAFETY: a plain syscall with a valid NUL-terminated path.
            let mk =
                errno_of(unsafe { libc::mkdir(c"/tmp/berth-seccomp-cache-never".as_ptr(), 0o700) });
            check(mk == 77, format!("mkdir errno {mk}"))?;
            check(status_field("Seccomp") == "2", "Seccomp mode is not filter")
        });
        assert_eq!(msg, "ok");
        assert!(!Path::new("/tmp/berth-seccomp-cache-never").exists());

        // A damaged entry is ignored and rewritten, never loaded.
        std::fs::write(&entry, b"garbage").unwrap();
        let again = compile_seccomp(&profile).unwrap();
        assert!(again.ctx.is_some(), "a damaged entry must be recompiled");
        assert_eq!(again.bpf, first.bpf);
        assert!(std::fs::metadata(&entry).unwrap().len() > 100);
    }

    #[test]
    fn user_caps_rlimits_umask_and_attributes_are_applied() {
        let p = process(json!({
            "user": {"uid": 1000, "gid": 1001, "additionalGids": [2000, 3000], "umask": 23},
            "capabilities": {
                "bounding": ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"],
                "effective": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "permitted": ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"],
                "inheritable": ["CAP_NET_BIND_SERVICE"],
                "ambient": ["CAP_NET_BIND_SERVICE"]
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200},
                        {"type": "RLIMIT_CORE", "soft": 0, "hard": 0}],
            "noNewPrivileges": true,
            "oomScoreAdj": 500,
            "ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": 5},
            "scheduler": {"policy": "SCHED_BATCH", "nice": 7}
        }));
        let personality: LinuxPersonality =
            serde_json::from_value(json!({"domain": "LINUX32"})).unwrap();
        let msg = in_child(move || {
            set_personality(&personality).map_err(|e| e.to_string())?;
            finalize_process(&p, None).map_err(|e| e.to_string())?;
            // SAFETY: the getters below take no pointers or valid out-pointers.
            unsafe {
                check(
                    (
                        libc::getuid(),
                        libc::geteuid(),
                        libc::getgid(),
                        libc::getegid(),
                    ) == (1000, 1000, 1001, 1001),
                    "uid/gid",
                )?;
                let mut groups = [0 as libc::gid_t; 8];
                let n = libc::getgroups(8, groups.as_mut_ptr());
                check(
                    groups[..n.max(0) as usize] == [2000, 3000],
                    format!("groups {groups:?}"),
                )?;
                let old = libc::umask(0);
                check(old == 0o027, format!("umask {old:o}"))?;
                let mut rl = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: 0,
                };
                libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl);
                check((rl.rlim_cur, rl.rlim_max) == (100, 200), "RLIMIT_NOFILE")?;
                let ioprio = libc::syscall(libc::SYS_ioprio_get, 1, 0);
                check(ioprio == (2 << 13) | 5, format!("ioprio {ioprio:#x}"))?;
                check(
                    libc::sched_getscheduler(0) == libc::SCHED_BATCH,
                    "SCHED_BATCH",
                )?;
                check(libc::getpriority(libc::PRIO_PROCESS, 0) == 7, "nice")?;
                check(
                    libc::personality(0xffff_ffff) & 0xff == 0x0008,
                    "personality",
                )?;
            }
            let got = CapSets::current().map_err(|e| e.to_string())?;
            let want = CapSets {
                bounding: mask(&["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"]),
                effective: mask(&["CAP_KILL", "CAP_NET_BIND_SERVICE"]),
                permitted: mask(&["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"]),
                inheritable: mask(&["CAP_NET_BIND_SERVICE"]),
                ambient: mask(&["CAP_NET_BIND_SERVICE"]),
            };
            check(got == want, format!("caps {got:x?} != {want:x?}"))?;
            check(status_field("NoNewPrivs") == "1", "NoNewPrivs")?;
            let adj = std::fs::read_to_string("/proc/self/oom_score_adj").unwrap_or_default();
            check(adj.trim() == "500", format!("oom_score_adj {adj}"))
        });
        assert_eq!(msg, "ok");
    }

    #[test]
    fn dropped_capability_is_really_gone() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "x").unwrap();
        let path = std::ffi::CString::new(file.to_str().unwrap()).unwrap();
        let run = |caps: &[&str]| {
            let p = process(json!({"capabilities": {
                "bounding": caps, "effective": caps, "permitted": caps
            }}));
            let path = path.clone();
            in_child(move || {
                finalize_process(&p, None).map_err(|e| e.to_string())?;
                // SAFETY: valid NUL-terminated path.
                let e = errno_of(unsafe { libc::chown(path.as_ptr(), 1234, 1234) });
                check(e == 0, format!("chown errno {e}"))
            })
        };
        // Root without CAP_CHOWN cannot chown; with it, it can (so the test can fail).
        assert_eq!(run(&["CAP_KILL"]), format!("chown errno {}", libc::EPERM));
        assert_eq!(run(&["CAP_KILL", "CAP_CHOWN"]), "ok");
    }

    #[test]
    fn seccomp_loads_before_dropping_privileges_without_nnp() {
        let f = compile_seccomp(&seccomp(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]
        })))
        .unwrap();
        let p = process(json!({"user": {"uid": 65534, "gid": 65534}}));
        let msg = in_child(move || {
            finalize_process(&p, Some(f)).map_err(|e| e.to_string())?;
            check(
                CapSets::current().map(|c| c.effective).ok() == Some(0),
                "caps left",
            )?;
            check(status_field("NoNewPrivs") == "0", "NoNewPrivs must stay 0")?;
            check(status_field("Seccomp") == "2", "no seccomp filter")?;
            // SAFETY: valid NUL-terminated path.
            let e = errno_of(unsafe { libc::mkdir(c"/proc/berth-never".as_ptr(), 0o700) });
            check(e == libc::EACCES, format!("mkdir errno {e}"))
        });
        assert_eq!(msg, "ok");
    }

    #[test]
    fn namespaced_sysctls_are_written_in_new_namespaces() {
        let s: HashMap<String, String> = [
            ("net.ipv4.ip_forward".to_string(), "1".to_string()),
            ("kernel.shm_rmid_forced".to_string(), "1".to_string()),
        ]
        .into();
        let host_shm = std::fs::read_to_string("/proc/sys/kernel/shm_rmid_forced").unwrap();
        let msg = in_child(move || {
            // SAFETY: unshare takes flags only; we are single-threaded after fork.
            let e = errno_of(unsafe { libc::unshare(libc::CLONE_NEWNET | libc::CLONE_NEWIPC) });
            check(e == 0, format!("unshare errno {e}"))?;
            // A fresh netns starts with forwarding off: reading 1 proves the write.
            apply_sysctl(&s).map_err(|e| e.to_string())?;
            let fwd = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap_or_default();
            let shm =
                std::fs::read_to_string("/proc/sys/kernel/shm_rmid_forced").unwrap_or_default();
            check(
                fwd.trim() == "1" && shm.trim() == "1",
                format!("{fwd} {shm}"),
            )
        });
        assert_eq!(msg, "ok");
        // The host's (ipc namespace's) value is untouched.
        assert_eq!(
            std::fs::read_to_string("/proc/sys/kernel/shm_rmid_forced").unwrap(),
            host_shm
        );
    }

    #[test]
    fn no_capabilities_field_means_empty_sets() {
        let p = process(json!({}));
        let msg = in_child(move || {
            finalize_process(&p, None).map_err(|e| e.to_string())?;
            let c = CapSets::current().map_err(|e| e.to_string())?;
            check(c == CapSets::default(), format!("{c:x?}"))
        });
        assert_eq!(msg, "ok");
    }
}
