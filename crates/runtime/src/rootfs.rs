//! The container's root filesystem: mount propagation, spec mounts (resolved safely inside the
//! rootfs), default devices and /dev symlinks, pivot_root (chroot fallback), masked and read-only
//! paths, read-only root.
//!
//! Everything here runs in the container's init (single-threaded, in its new mount namespace),
//! so it uses plain syscalls only: no threads, no subprocesses, no panics.
//!
//! Safety of mount destinations: every destination is opened with
//! `openat2(rootfs_fd, dest, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)` (missing components are
//! created one by one, refusing symlinks) and the mount goes onto `/proc/self/fd/N`, the exact
//! inode that was resolved. A symlink planted in the image (`rootfs/proc -> /etc`,
//! `rootfs/mnt -> ../../../tmp`) therefore resolves inside the rootfs, never onto the host.

use crate::{Error, Result, SysContext};
use nix::errno::Errno;
use nix::fcntl::{self, OFlag, OpenHow, ResolveFlag};
use nix::mount::{self, MntFlags, MsFlags};
use nix::sys::stat::{self, Mode, SFlag};
use nix::sys::statfs;
use nix::sys::statvfs::{self, FsFlags};
use nix::unistd;
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType, LinuxNamespaceType, Mount, Spec};
use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

pub struct RootfsOptions<'a> {
    pub spec: &'a Spec,
    /// Absolute path of the rootfs on the host (bundle-relative `root.path` already resolved).
    pub rootfs: &'a Path,
    /// `--no-pivot`: chroot instead of pivot_root (also used when / is a ramfs).
    pub no_pivot: bool,
    /// The container runs in a new user namespace (mknod is impossible: bind-mount devices).
    pub in_userns: bool,
}

/// Runs in the container's new mount namespace before the user's process exists:
/// rootfsPropagation, bind rootfs onto itself, spec mounts, devices, /dev symlinks, /dev/ptmx,
/// then `before_pivot` (the createContainer hooks), then pivot_root or chroot, chdir("/").
pub fn setup_rootfs(
    opts: &RootfsOptions,
    before_pivot: &mut dyn FnMut() -> Result<()>,
) -> Result<()> {
    let spec = opts.spec;
    let rootfs = opts.rootfs;
    let propagation = match spec
        .linux()
        .as_ref()
        .and_then(|l| l.rootfs_propagation().as_deref())
    {
        Some(p) if !p.is_empty() => Some(propagation_flag(p).ok_or_else(|| {
            Error::Spec(format!(
                "linux.rootfsPropagation {p:?} is not one of shared, slave, private, \
                 unbindable (or their r-prefixed variants)"
            ))
        })?),
        _ => None,
    };

    // Without a mount namespace of its own (allowed by the runtime-spec) the container's
    // mounts are made in the caller's namespace, under the rootfs only, and its root is a
    // chroot, as runc and youki do: nothing of the caller's / is touched.
    let own_mount_ns = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| ns.iter().any(|n| n.typ() == LinuxNamespaceType::Mount));
    if !own_mount_ns && propagation.is_some() {
        return Err(Error::Spec(
            "linux.rootfsPropagation needs a mount namespace of the container's own".into(),
        ));
    }

    // 1. Nothing we mount from here on may propagate back to the host. An unbindable /
    //    could not give the rootfs bind below: slave first, unbindable after the pivot (8.).
    let root_prop = match propagation {
        Some(p) if !p.contains(MsFlags::MS_UNBINDABLE) => p,
        _ => MsFlags::MS_SLAVE | MsFlags::MS_REC,
    };
    if own_mount_ns {
        sys_mount(None::<&str>, "/", None, root_prop, None)
            .ctx(|| format!("set mount propagation {root_prop:?} on /"))?;
    }
    if own_mount_ns && root_prop.contains(MsFlags::MS_SHARED) {
        // pivot_root refuses a shared parent mount, and the bind below must not show up in
        // the host's peers.
        make_parent_private(rootfs)?;
    }

    // 2. pivot_root needs the rootfs to be a mount point.
    sys_mount(
        Some(rootfs),
        rootfs,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
    )
    .ctx(|| format!("bind mount the rootfs {} onto itself", rootfs.display()))?;

    {
        let ctx = Ctx::new(opts)?;
        // 3. Spec mounts, in order.
        for m in spec.mounts().iter().flatten() {
            ctx.mount_entry(m)?;
        }
        // 4. + 5. Devices and /dev symlinks, unless /dev comes from the host.
        if needs_dev_setup(spec) {
            ctx.setup_dev()?;
        }
        // The fds are closed here: nothing of the host may stay open across the pivot.
    }

    // 6. createContainer hooks: in the container's mount namespace, before the pivot.
    before_pivot()?;

    // 7. Switch the root.
    if !own_mount_ns {
        unistd::chroot(rootfs).ctx(|| format!("chroot into {}", rootfs.display()))?;
        return unistd::chdir("/").ctx(|| "chdir /".into());
    }
    if opts.no_pivot {
        move_root(rootfs)?;
    } else {
        match pivot_root(rootfs) {
            Err(Error::Sys {
                source: Errno::EINVAL,
                ..
            }) if root_is_ramfs() => move_root(rootfs)?,
            r => r?,
        }
    }

    // 8. Propagation the spec asked for, now on the container's own root (runc does the same;
    //    setting it before the pivot would affect the host's mounts). Private is already done.
    if let Some(p) = propagation {
        if !p.contains(MsFlags::MS_PRIVATE) {
            sys_mount(None::<&str>, "/", None, p, None)
                .ctx(|| format!("set rootfsPropagation {p:?} on the container's /"))?;
        }
    }
    Ok(())
}

/// After pivot (and after sysctls are written): maskedPaths, readonlyPaths, read-only root.
pub fn finish_rootfs(spec: &Spec) -> Result<()> {
    let linux = spec.linux().as_ref();
    for p in linux
        .and_then(|l| l.readonly_paths().as_ref())
        .into_iter()
        .flatten()
    {
        readonly_path(p)?;
    }
    let masked = linux.and_then(|l| l.masked_paths().as_ref());
    if let Some(masked) = masked.filter(|m| !m.is_empty()) {
        let null = NullDevice::open()?;
        for p in masked {
            mask_path(p, &null)?;
        }
    }
    // A read-only /dev was mounted read-write so the devices could be created: finish it now.
    let dev_ro = spec.mounts().iter().flatten().any(|m| {
        clean(m.destination()) == Path::new("/dev")
            && !is_bind(m)
            && parse_options(m.options().as_deref().unwrap_or(&[]))
                .map(|o| o.flags.contains(MsFlags::MS_RDONLY))
                .unwrap_or(false)
    });
    if dev_ro {
        remount_readonly("/dev")?;
    }
    if spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false)
    {
        remount_readonly("/")?;
    }
    Ok(())
}

/// After the pivot, with a terminal: makes /dev/console the container's pty slave (bind mount
/// over an empty file, like runc), so programs that open /dev/console reach the terminal.
pub fn bind_console(slave: BorrowedFd) -> Result<()> {
    let f =
        OFlag::O_CREAT | OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_NOCTTY | OFlag::O_CLOEXEC;
    // An existing /dev/console (a device node from the image) is fine to mount over; a
    // symlink is refused by O_NOFOLLOW.
    match fcntl::open("/dev/console", f, Mode::from_bits_truncate(0o666)) {
        Ok(_) => {}
        Err(Errno::ENXIO | Errno::ENODEV) => {}
        Err(e) => return Err(e).ctx(|| "create /dev/console".into()),
    }
    sys_mount::<str, str>(
        Some(&fd_path(slave)),
        "/dev/console",
        None,
        MsFlags::MS_BIND,
        None,
    )
    .ctx(|| "bind the console pty onto /dev/console".into())
}

/// Resolves `unsafe_path` inside `root` as if `root` were `/`: symlinks (absolute or relative) and
/// `..` can never leave `root`. Returns the host path.
///
/// Components that do not exist are taken literally, so the result is where the path would be
/// created. `root` itself is trusted (pass a canonical path). The answer is only as good as the
/// moment it was computed: to act on the path without races, open it relative to a root fd
/// (as the mount code in this module does).
pub fn secure_join(root: &Path, unsafe_path: &Path) -> Result<PathBuf> {
    // Same limit as the kernel's MAXSYMLINKS (40) would be too strict for long chains in images;
    // filepath-securejoin uses 255.
    const MAX_SYMLINKS: u32 = 255;
    let mut resolved = PathBuf::new();
    // Components still to walk, last one on top.
    let mut pending: Vec<OsString> = Vec::new();
    push_components(&mut pending, unsafe_path.as_os_str());
    let mut links = 0;
    while let Some(c) = pending.pop() {
        if c.is_empty() || c == "." {
            continue;
        }
        if c == ".." {
            resolved.pop();
            continue;
        }
        let candidate = root.join(&resolved).join(&c);
        match fs::symlink_metadata(&candidate) {
            Ok(md) if md.file_type().is_symlink() => {
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(Error::Other(format!(
                        "resolving {} inside {}: too many levels of symbolic links",
                        unsafe_path.display(),
                        root.display()
                    )));
                }
                let target = fs::read_link(&candidate)
                    .map_err(|e| Error::Other(format!("readlink {}: {e}", candidate.display())))?;
                if target.is_absolute() {
                    resolved = PathBuf::new();
                }
                push_components(&mut pending, target.as_os_str());
            }
            Ok(_) => resolved.push(&c),
            Err(e)
                if e.kind() == std::io::ErrorKind::NotFound
                    || e.raw_os_error() == Some(libc::ENOTDIR) =>
            {
                resolved.push(&c)
            }
            Err(e) => {
                return Err(Error::Other(format!(
                    "resolving {} inside {}: {}: {e}",
                    unsafe_path.display(),
                    root.display(),
                    candidate.display()
                )))
            }
        }
    }
    Ok(root.join(resolved))
}

/// Pushes the '/'-separated components of `path` so that the first one is on top of `stack`.
fn push_components(stack: &mut Vec<OsString>, path: &OsStr) {
    for c in path.as_bytes().rsplit(|b| *b == b'/') {
        if !c.is_empty() {
            stack.push(OsStr::from_bytes(c).to_owned());
        }
    }
}

/// Lexically cleaned absolute form of a spec path: "/a/./b/../c" -> "/a/c", "dev" -> "/dev".
fn clean(p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Thin syscall wrappers.

fn sys_mount<S: AsRef<Path> + ?Sized, T: AsRef<Path> + ?Sized>(
    src: Option<&S>,
    target: &T,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> nix::Result<()> {
    mount::mount(
        src.map(|s| s.as_ref()),
        target.as_ref(),
        fstype,
        flags,
        data,
    )
}

/// The path through which `fd` is reached again by path-based syscalls (mount, statvfs).
fn fd_path(fd: BorrowedFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

const MOUNT_ATTR_RDONLY: u64 = 0x1;
const MOUNT_ATTR_NOSUID: u64 = 0x2;
const MOUNT_ATTR_NODEV: u64 = 0x4;
const MOUNT_ATTR_NOEXEC: u64 = 0x8;
const MOUNT_ATTR_ATIME_MASK: u64 = 0x70;
const MOUNT_ATTR_RELATIME: u64 = 0x0;
const MOUNT_ATTR_NOATIME: u64 = 0x10;
const MOUNT_ATTR_STRICTATIME: u64 = 0x20;
const MOUNT_ATTR_NODIRATIME: u64 = 0x80;
const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x20_0000;

/// `struct mount_attr` of mount_setattr(2), version 0.
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// mount_setattr(2) on the mount `fd` refers to (and, if `recursive`, every mount below it).
fn mount_setattr(fd: BorrowedFd, recursive: bool, set: u64, clr: u64) -> nix::Result<()> {
    let attr = MountAttr {
        attr_set: set,
        attr_clr: clr,
        propagation: 0,
        userns_fd: 0,
    };
    let mut flags = libc::AT_EMPTY_PATH;
    if recursive {
        flags |= libc::AT_RECURSIVE;
    }
    // SAFETY: a valid fd, a NUL-terminated empty path, and a pointer to a live mount_attr whose
    // size is passed along; the kernel only reads it.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    Errno::result(r).map(drop)
}

/// mount_setattr bits for per-mount MS_* flags (set) and for flags explicitly cleared.
fn ms_to_attr(set: MsFlags, clear: MsFlags) -> (u64, u64) {
    let (mut s, mut c) = (0u64, 0u64);
    for (ms, attr) in [
        (MsFlags::MS_RDONLY, MOUNT_ATTR_RDONLY),
        (MsFlags::MS_NOSUID, MOUNT_ATTR_NOSUID),
        (MsFlags::MS_NODEV, MOUNT_ATTR_NODEV),
        (MsFlags::MS_NOEXEC, MOUNT_ATTR_NOEXEC),
        (MsFlags::MS_NODIRATIME, MOUNT_ATTR_NODIRATIME),
        (ms_nosymfollow(), MOUNT_ATTR_NOSYMFOLLOW),
    ] {
        if set.contains(ms) {
            s |= attr;
        } else if clear.contains(ms) {
            c |= attr;
        }
    }
    // The atime mode is one field: changing it means clearing the whole mask.
    let atime = if set.contains(MsFlags::MS_NOATIME) {
        Some(MOUNT_ATTR_NOATIME)
    } else if set.contains(MsFlags::MS_STRICTATIME) {
        Some(MOUNT_ATTR_STRICTATIME)
    } else if set.contains(MsFlags::MS_RELATIME) {
        Some(MOUNT_ATTR_RELATIME)
    } else {
        None
    };
    if let Some(a) = atime {
        s |= a;
        c |= MOUNT_ATTR_ATIME_MASK;
    }
    (s, c)
}

fn ms_nosymfollow() -> MsFlags {
    MsFlags::from_bits_retain(libc::MS_NOSYMFOLLOW)
}

/// The per-mount flags of the mount at `path`/`fd` that a bind remount must keep: in a user
/// namespace the kernel locks nosuid/nodev/noexec/atime of mounts inherited from the host and
/// refuses a remount that would drop them.
fn locked_flags(vfs: &statvfs::Statvfs) -> MsFlags {
    let f = vfs.flags();
    let mut out = MsFlags::empty();
    for (st, ms) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if f.contains(st) {
            out |= ms;
        }
    }
    if !f.intersects(FsFlags::ST_NOATIME | FsFlags::ST_RELATIME) {
        out |= MsFlags::MS_STRICTATIME;
    }
    out
}

/// Sets `flags`' ro/nosuid/nodev/noexec on the mount at `fd` and every mount below it with
/// mount_setattr(2) (Linux 5.12). False if the kernel can't: the caller remounts one by one.
fn set_mount_flags_recursive(fd: BorrowedFd, flags: MsFlags) -> bool {
    let only = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    let (set, _) = ms_to_attr(flags & only, MsFlags::empty());
    mount_setattr(fd, true, set, 0).is_ok()
}

/// Bind remount with `flags`; if the kernel refuses (locked flags in a user namespace), again
/// with the mount's current flags added.
fn remount_bind(target: &str, flags: MsFlags) -> nix::Result<()> {
    let base = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | flags;
    match sys_mount::<str, str>(None, target, None, base, None) {
        Err(Errno::EPERM) => {
            let vfs = statvfs::statvfs(target)?;
            sys_mount::<str, str>(None, target, None, base | locked_flags(&vfs), None)
        }
        r => r,
    }
}

/// Makes the mount at `path` read-only, keeping its other flags.
fn remount_readonly(path: &str) -> Result<()> {
    let vfs = statvfs::statvfs(path).ctx(|| format!("statvfs {path}"))?;
    let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | locked_flags(&vfs);
    sys_mount::<str, str>(None, path, None, flags, None).ctx(|| format!("remount {path} read-only"))
}

fn propagation_flag(name: &str) -> Option<MsFlags> {
    let rec = MsFlags::MS_REC;
    Some(match name {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | rec,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | rec,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | rec,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | rec,
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------------------
// Mount options.

/// A spec mount's `options`, split the way mount(2) wants them.
#[derive(Debug, PartialEq)]
struct MountOptions {
    /// Flags for mount(2) (including MS_BIND/MS_REC/MS_REMOUNT).
    flags: MsFlags,
    /// Flags the options explicitly turned off ("rw", "suid", ...).
    cleared: MsFlags,
    /// Propagation changes applied after the mount, in order.
    propagation: Vec<MsFlags>,
    /// Recursive attributes ("rro", "rnosuid", ...) for mount_setattr(AT_RECURSIVE).
    rec_set: u64,
    rec_clr: u64,
    /// Everything else, for the filesystem ("mode=755,size=65536k").
    data: String,
    /// "tmpcopyup": a tmpfs starts with a copy of what it covers.
    copy_up: bool,
}

fn parse_options(options: &[String]) -> Result<MountOptions> {
    let mut o = MountOptions {
        flags: MsFlags::empty(),
        cleared: MsFlags::empty(),
        propagation: Vec::new(),
        rec_set: 0,
        rec_clr: 0,
        data: String::new(),
        copy_up: false,
    };
    for opt in options {
        let opt = opt.as_str();
        let flag = |set: bool, f: MsFlags| (set, f);
        let simple = match opt {
            "defaults" => continue,
            "ro" => flag(true, MsFlags::MS_RDONLY),
            "rw" => flag(false, MsFlags::MS_RDONLY),
            "nosuid" => flag(true, MsFlags::MS_NOSUID),
            "suid" => flag(false, MsFlags::MS_NOSUID),
            "nodev" => flag(true, MsFlags::MS_NODEV),
            "dev" => flag(false, MsFlags::MS_NODEV),
            "noexec" => flag(true, MsFlags::MS_NOEXEC),
            "exec" => flag(false, MsFlags::MS_NOEXEC),
            "sync" => flag(true, MsFlags::MS_SYNCHRONOUS),
            "async" => flag(false, MsFlags::MS_SYNCHRONOUS),
            "dirsync" => flag(true, MsFlags::MS_DIRSYNC),
            "remount" => flag(true, MsFlags::MS_REMOUNT),
            "mand" => flag(true, MsFlags::MS_MANDLOCK),
            "nomand" => flag(false, MsFlags::MS_MANDLOCK),
            "noatime" => flag(true, MsFlags::MS_NOATIME),
            "atime" => flag(false, MsFlags::MS_NOATIME),
            "nodiratime" => flag(true, MsFlags::MS_NODIRATIME),
            "diratime" => flag(false, MsFlags::MS_NODIRATIME),
            "relatime" => flag(true, MsFlags::MS_RELATIME),
            "norelatime" => flag(false, MsFlags::MS_RELATIME),
            "strictatime" => flag(true, MsFlags::MS_STRICTATIME),
            "nostrictatime" => flag(false, MsFlags::MS_STRICTATIME),
            "iversion" => flag(true, MsFlags::MS_I_VERSION),
            "noiversion" => flag(false, MsFlags::MS_I_VERSION),
            "lazytime" => flag(true, MsFlags::MS_LAZYTIME),
            "nolazytime" => flag(false, MsFlags::MS_LAZYTIME),
            "silent" => flag(true, MsFlags::MS_SILENT),
            "loud" => flag(false, MsFlags::MS_SILENT),
            "nosymfollow" => flag(true, ms_nosymfollow()),
            "symfollow" => flag(false, ms_nosymfollow()),
            "bind" => flag(true, MsFlags::MS_BIND),
            "rbind" => flag(true, MsFlags::MS_BIND | MsFlags::MS_REC),
            _ => {
                if let Some(p) = propagation_flag(opt) {
                    o.propagation.push(p);
                } else if let Some((set, clr)) = recursive_attr(opt) {
                    o.rec_set = (o.rec_set & !clr) | set;
                    o.rec_clr = (o.rec_clr & !set) | clr;
                } else if opt == "idmap" || opt == "ridmap" {
                    return Err(Error::Spec(format!(
                        "mount option {opt:?} (id-mapped mounts) is not supported by berth"
                    )));
                } else if opt == "tmpcopyup" {
                    o.copy_up = true;
                } else if opt.starts_with("x-") {
                    // Options for userspace mount helpers, not for the kernel.
                } else {
                    if !o.data.is_empty() {
                        o.data.push(',');
                    }
                    o.data.push_str(opt);
                }
                continue;
            }
        };
        let (set, f) = simple;
        if set {
            o.flags |= f;
            o.cleared -= f;
        } else {
            o.flags -= f;
            o.cleared |= f;
        }
    }
    Ok(o)
}

/// The recursive mount attributes runc accepts ("rro", "rnosuid", ...): (set, clear).
fn recursive_attr(opt: &str) -> Option<(u64, u64)> {
    Some(match opt {
        "rro" => (MOUNT_ATTR_RDONLY, 0),
        "rrw" => (0, MOUNT_ATTR_RDONLY),
        "rnosuid" => (MOUNT_ATTR_NOSUID, 0),
        "rsuid" => (0, MOUNT_ATTR_NOSUID),
        "rnodev" => (MOUNT_ATTR_NODEV, 0),
        "rdev" => (0, MOUNT_ATTR_NODEV),
        "rnoexec" => (MOUNT_ATTR_NOEXEC, 0),
        "rexec" => (0, MOUNT_ATTR_NOEXEC),
        "rnodiratime" => (MOUNT_ATTR_NODIRATIME, 0),
        "rdiratime" => (0, MOUNT_ATTR_NODIRATIME),
        "rnosymfollow" => (MOUNT_ATTR_NOSYMFOLLOW, 0),
        "rsymfollow" => (0, MOUNT_ATTR_NOSYMFOLLOW),
        "rnoatime" => (MOUNT_ATTR_NOATIME, MOUNT_ATTR_ATIME_MASK),
        "rstrictatime" => (MOUNT_ATTR_STRICTATIME, MOUNT_ATTR_ATIME_MASK),
        "rrelatime" | "ratime" | "rnorelatime" | "rnostrictatime" => {
            (MOUNT_ATTR_RELATIME, MOUNT_ATTR_ATIME_MASK)
        }
        _ => return None,
    })
}

fn is_bind(m: &Mount) -> bool {
    m.typ().as_deref() == Some("bind")
        || m.options()
            .iter()
            .flatten()
            .any(|o| o == "bind" || o == "rbind")
}

fn needs_dev_setup(spec: &Spec) -> bool {
    !spec
        .mounts()
        .iter()
        .flatten()
        .any(|m| clean(m.destination()) == Path::new("/dev") && is_bind(m))
}

/// Mounts inside /proc that runc allows (lxcfs-style bind mounts); anything else under /proc
/// could hide the masks and read-only paths that protect the host.
const PROC_ALLOWED: &[&str] = &[
    "/proc/cpuinfo",
    "/proc/diskstats",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/swaps",
    "/proc/uptime",
    "/proc/loadavg",
    "/proc/slabinfo",
    "/proc/net/dev",
    "/proc/sys/kernel/ns_last_pid",
];

// ---------------------------------------------------------------------------------------------
// Safe resolution inside the rootfs.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Create {
    No,
    Dir,
    File,
}

/// The rootfs as an fd (for resolution) and its canonical host path (for messages and checks).
struct Root {
    fd: OwnedFd,
    path: PathBuf,
}

impl Root {
    fn open(path: &Path) -> Result<Root> {
        let fd = fcntl::open(
            path,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .ctx(|| format!("open rootfs {}", path.display()))?;
        let real = fs::read_link(fd_path(fd.as_fd()))
            .map_err(|e| Error::Other(format!("resolve rootfs {}: {e}", path.display())))?;
        Ok(Root { fd, path: real })
    }

    /// An O_PATH fd for `dest` (a container path) resolved inside the rootfs, creating what is
    /// missing as `create` says (parents are always directories).
    fn resolve(&self, dest: &Path, create: Create) -> Result<OwnedFd> {
        let rel = relative(dest);
        let how = OpenHow::new()
            .flags(OFlag::O_PATH | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
        // EAGAIN: a concurrent rename raced with ".." resolution; the kernel asks to retry.
        let mut res = Err(Errno::EAGAIN);
        for _ in 0..16 {
            res = fcntl::openat2(self.fd.as_fd(), rel, how);
            if !matches!(res, Err(Errno::EAGAIN)) {
                break;
            }
        }
        match res {
            Ok(fd) => Ok(fd),
            Err(Errno::ENOENT) if create != Create::No => self.create(dest, create),
            // No openat2 (kernel < 5.6 or filtered): resolve in userspace, then walk safely.
            Err(Errno::ENOSYS) => self.walk(dest, create),
            Err(e) => Err(Error::Sys {
                context: format!(
                    "resolve {} inside the rootfs {}",
                    dest.display(),
                    self.path.display()
                ),
                source: e,
            }),
        }
    }

    /// `dest` is missing: resolve its parent (creating it as needed), then create the last
    /// component right there. Anything unusual (a dangling symlink in the way, "..") goes to
    /// the slower userspace walk, which follows symlinks inside the root.
    fn create(&self, dest: &Path, create: Create) -> Result<OwnedFd> {
        let rel = relative(dest);
        let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else {
            return self.walk(dest, create);
        };
        let what = || {
            format!(
                "{} inside the rootfs {}",
                dest.display(),
                self.path.display()
            )
        };
        let parent_fd = if parent.as_os_str().is_empty() {
            fcntl::openat(
                self.fd.as_fd(),
                ".",
                OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .ctx(|| format!("open {}", self.path.display()))?
        } else {
            self.resolve(&Path::new("/").join(parent), Create::Dir)?
        };
        if create == Create::File {
            // O_EXCL|O_NOFOLLOW: the fd is the regular file we just made, nothing else.
            let f = OFlag::O_CREAT
                | OFlag::O_EXCL
                | OFlag::O_WRONLY
                | OFlag::O_NOFOLLOW
                | OFlag::O_NOCTTY
                | OFlag::O_CLOEXEC;
            return match fcntl::openat(parent_fd.as_fd(), name, f, Mode::from_bits_truncate(0o644))
            {
                Ok(fd) => Ok(fd),
                Err(Errno::EEXIST) => self.walk(dest, create),
                Err(e) => Err(e).ctx(|| format!("create {}", what())),
            };
        }
        match stat::mkdirat(parent_fd.as_fd(), name, Mode::from_bits_truncate(0o755)) {
            Ok(()) => {}
            Err(Errno::EEXIST) => return self.walk(dest, create),
            Err(e) => return Err(e).ctx(|| format!("mkdir {}", what())),
        }
        // O_DIRECTORY|O_NOFOLLOW: fails rather than follow a symlink swapped in meanwhile.
        fcntl::openat(
            parent_fd.as_fd(),
            name,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .ctx(|| format!("open {}", what()))
    }

    /// Resolves `dest` with `secure_join`, then walks the (symlink-free) result one component
    /// at a time with O_NOFOLLOW, creating missing ones. A symlink swapped in meanwhile makes
    /// the walk fail instead of escaping.
    fn walk(&self, dest: &Path, create: Create) -> Result<OwnedFd> {
        let what = || {
            format!(
                "{} inside the rootfs {}",
                dest.display(),
                self.path.display()
            )
        };
        let joined = secure_join(&self.path, dest)?;
        let rel = joined.strip_prefix(&self.path).unwrap_or(Path::new(""));
        let comps: Vec<&OsStr> = rel
            .components()
            .filter_map(|c| match c {
                Component::Normal(n) => Some(n),
                _ => None,
            })
            .collect();
        let base = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let mut cur = fcntl::openat(
            self.fd.as_fd(),
            ".",
            base | OFlag::O_DIRECTORY,
            Mode::empty(),
        )
        .ctx(|| format!("open {}", what()))?;
        for (i, c) in comps.iter().enumerate() {
            let last = i + 1 == comps.len();
            let flags = if last {
                base
            } else {
                base | OFlag::O_DIRECTORY
            };
            let fd = match fcntl::openat(cur.as_fd(), *c, flags, Mode::empty()) {
                Ok(fd) => fd,
                Err(Errno::ENOENT) if create != Create::No => {
                    if !last || create == Create::Dir {
                        match stat::mkdirat(cur.as_fd(), *c, Mode::from_bits_truncate(0o755)) {
                            Ok(()) | Err(Errno::EEXIST) => {}
                            Err(e) => return Err(e).ctx(|| format!("mkdir {}", what())),
                        }
                    } else {
                        let f = OFlag::O_CREAT
                            | OFlag::O_EXCL
                            | OFlag::O_WRONLY
                            | OFlag::O_NOFOLLOW
                            | OFlag::O_NOCTTY
                            | OFlag::O_CLOEXEC;
                        match fcntl::openat(cur.as_fd(), *c, f, Mode::from_bits_truncate(0o644)) {
                            Ok(_) | Err(Errno::EEXIST) => {}
                            Err(e) => return Err(e).ctx(|| format!("create {}", what())),
                        }
                    }
                    fcntl::openat(cur.as_fd(), *c, flags, Mode::empty())
                        .ctx(|| format!("open {}", what()))?
                }
                Err(e) => return Err(e).ctx(|| format!("open {}", what())),
            };
            cur = fd;
        }
        let st = stat::fstat(cur.as_fd()).ctx(|| format!("stat {}", what()))?;
        if SFlag::from_bits_truncate(st.st_mode & libc::S_IFMT) == SFlag::S_IFLNK {
            return Err(Error::Other(format!(
                "{} changed into a symlink while being resolved; refusing to mount on it",
                what()
            )));
        }
        // The walk only went down from the root fd, but a directory could have been moved out
        // of the rootfs meanwhile: check where we really are.
        let real = fs::read_link(fd_path(cur.as_fd()))
            .map_err(|e| Error::Other(format!("readlink of the fd for {}: {e}", what())))?;
        if !real.starts_with(&self.path) {
            return Err(Error::Other(format!(
                "{} resolved to {} outside the rootfs; refusing to mount on it",
                what(),
                real.display()
            )));
        }
        Ok(cur)
    }
}

/// `dest` relative to the container's root ("/dev/pts" -> "dev/pts", "/" -> ".").
fn relative(dest: &Path) -> &Path {
    let s = dest.as_os_str().as_bytes();
    let mut i = 0;
    while i < s.len() && s[i] == b'/' {
        i += 1;
    }
    if i == s.len() {
        Path::new(".")
    } else {
        Path::new(OsStr::from_bytes(&s[i..]))
    }
}

// ---------------------------------------------------------------------------------------------
// Spec mounts.

struct Ctx<'a> {
    root: Root,
    spec: &'a Spec,
    /// The container has its own cgroup namespace (cgroupfs can be mounted, not bound).
    cgroupns: bool,
    in_userns: bool,
    /// Where relative bind sources are resolved (the bundle, per the OCI spec).
    bundle: Option<PathBuf>,
}

impl<'a> Ctx<'a> {
    fn new(opts: &'a RootfsOptions) -> Result<Ctx<'a>> {
        let spec = opts.spec;
        let cgroupns = spec
            .linux()
            .as_ref()
            .and_then(|l| l.namespaces().as_ref())
            .is_some_and(|ns| ns.iter().any(|n| n.typ() == LinuxNamespaceType::Cgroup));
        Ok(Ctx {
            root: Root::open(opts.rootfs)?,
            spec,
            cgroupns,
            in_userns: opts.in_userns,
            bundle: bundle_dir(spec, opts.rootfs),
        })
    }

    fn mount_entry(&self, m: &Mount) -> Result<()> {
        let dest = m.destination();
        let typ = m.typ().as_deref().unwrap_or("");
        let opts = parse_options(m.options().as_deref().unwrap_or(&[]))?;
        let cleaned = clean(dest);
        if cleaned.starts_with("/proc")
            && !(cleaned == Path::new("/proc") && (typ == "proc" || is_bind(m)))
            && !PROC_ALLOWED.iter().any(|p| cleaned == Path::new(p))
        {
            return Err(Error::Spec(format!(
                "mount destination {} is inside /proc, which is not allowed (it could hide \
                 the masked and read-only /proc paths)",
                dest.display()
            )));
        }
        if is_bind(m) {
            return self.mount_bind(m, &cleaned, &opts);
        }
        match typ {
            "cgroup" => self.mount_cgroup(&cleaned, &opts),
            "cgroup2" => self.mount_cgroup2(&cleaned, &opts),
            _ => self.mount_fs(m, &cleaned, typ, &opts),
        }
    }

    /// proc and sysfs go only onto a real directory (or where nothing is yet): a symlink in
    /// the image's place of /proc or /sys is refused, not followed (runc's check and words;
    /// mounted through a symlink they could land where the masks do not apply).
    fn check_ordinary_dir(&self, dest: &Path, typ: &str) -> Result<()> {
        let rel = relative(dest);
        let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else {
            return Ok(());
        };
        let parent_fd = match self.root.resolve(&Path::new("/").join(parent), Create::No) {
            Ok(fd) => fd,
            // A missing parent is created (as directories) by the mount that follows.
            Err(Error::Sys {
                source: Errno::ENOENT,
                ..
            }) => return Ok(()),
            Err(e) => return Err(e),
        };
        match stat::fstatat(
            parent_fd.as_fd(),
            name,
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        ) {
            Ok(st) if SFlag::from_bits_truncate(st.st_mode & libc::S_IFMT) != SFlag::S_IFDIR => {
                Err(Error::Spec(format!(
                    "filesystem {typ:?} must be mounted on ordinary directory ({} is not one)",
                    dest.display()
                )))
            }
            Ok(_) | Err(Errno::ENOENT) => Ok(()),
            Err(e) => Err(e).ctx(|| format!("stat {}", dest.display())),
        }
    }

    /// Fails if the resolved target lies on a procfs where the spec path said otherwise
    /// (a symlink like rootfs/x -> /proc/sys must not let a mount shadow /proc files).
    fn check_proc_target(&self, fd: BorrowedFd, dest: &Path, typ: &str) -> Result<()> {
        let st = statfs::fstatfs(fd).ctx(|| format!("statfs {}", dest.display()))?;
        if st.filesystem_type() != statfs::PROC_SUPER_MAGIC {
            return Ok(());
        }
        let allowed = (dest == Path::new("/proc") && typ == "proc")
            || PROC_ALLOWED.iter().any(|p| dest == Path::new(p));
        if allowed {
            Ok(())
        } else {
            Err(Error::Spec(format!(
                "mount destination {} resolves into /proc, which is not allowed",
                dest.display()
            )))
        }
    }

    fn mount_fs(&self, m: &Mount, dest: &Path, typ: &str, opts: &MountOptions) -> Result<()> {
        let mut flags = opts.flags;
        if dest == Path::new("/dev") {
            // Devices are created in it next; finish_rootfs makes it read-only afterwards.
            flags -= MsFlags::MS_RDONLY;
        }
        if typ == "proc" || typ == "sysfs" {
            self.check_ordinary_dir(dest, typ)?;
        }
        let fd = self.root.resolve(dest, Create::Dir)?;
        self.check_proc_target(fd.as_fd(), dest, typ)?;
        let target = fd_path(fd.as_fd());
        let source: PathBuf = m
            .source()
            .clone()
            .unwrap_or_else(|| PathBuf::from(if typ.is_empty() { "none" } else { typ }));
        let data = Some(opts.data.as_str()).filter(|d| !d.is_empty());
        let fstype = Some(typ).filter(|t| !t.is_empty());
        let what = || format!("mount {typ} on {}", dest.display());
        let copy_up = opts.copy_up && typ == "tmpfs";
        if copy_up {
            // Filled first, made read-only after.
            flags -= MsFlags::MS_RDONLY;
        }
        match sys_mount(Some(&source), &target, fstype, flags, data) {
            Ok(()) => {}
            // Without its own network namespace (or in a user namespace that does not own
            // it) sysfs cannot be mounted: show the host's, like runc.
            Err(Errno::EPERM) if typ == "sysfs" => {
                return self.bind_host_dir(Path::new("/sys"), dest, opts);
            }
            // mqueue needs an IPC namespace owned by our user namespace.
            Err(Errno::EPERM) if typ == "mqueue" && Path::new("/dev/mqueue").is_dir() => {
                return self.bind_host_dir(Path::new("/dev/mqueue"), dest, opts);
            }
            Err(e) => return Err(e).ctx(what),
        }
        if copy_up {
            // `fd` still names the directory underneath the new tmpfs.
            let top = self.root.resolve(dest, Create::No)?;
            copy_up_dir(fd.as_fd(), top.as_fd(), !opts.data.contains("mode="))
                .ctx(|| format!("tmpcopyup into {}", dest.display()))?;
            if opts.flags.contains(MsFlags::MS_RDONLY) {
                sys_mount(
                    Some(&source),
                    &fd_path(top.as_fd()),
                    fstype,
                    flags | MsFlags::MS_RDONLY | MsFlags::MS_REMOUNT,
                    data,
                )
                .ctx(|| format!("remount {} read-only", dest.display()))?;
            }
        }
        drop(fd);
        self.after_mount(dest, opts, false)
    }

    /// Recursive bind of a host directory (fallback for sysfs/mqueue), with the flags applied
    /// to every mount below.
    fn bind_host_dir(&self, src: &Path, dest: &Path, opts: &MountOptions) -> Result<()> {
        let fd = self.root.resolve(dest, Create::Dir)?;
        sys_mount::<Path, str>(
            Some(src),
            &fd_path(fd.as_fd()),
            None,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None,
        )
        .ctx(|| format!("bind {} on {}", src.display(), dest.display()))?;
        drop(fd);
        let mut o = MountOptions {
            flags: opts.flags | MsFlags::MS_BIND | MsFlags::MS_REC,
            cleared: opts.cleared,
            propagation: opts.propagation.clone(),
            rec_set: opts.rec_set,
            rec_clr: opts.rec_clr,
            data: String::new(),
            copy_up: false,
        };
        o.flags -= MsFlags::MS_REMOUNT;
        self.after_mount(dest, &o, true)
    }

    fn mount_bind(&self, m: &Mount, dest: &Path, opts: &MountOptions) -> Result<()> {
        let src = m.source().as_ref().ok_or_else(|| {
            Error::Spec(format!("bind mount on {} has no source", dest.display()))
        })?;
        let src = match (&self.bundle, src.is_relative()) {
            (Some(b), true) => b.join(src),
            _ => src.clone(),
        };
        let md = fs::metadata(&src).map_err(|e| {
            Error::Spec(format!(
                "bind mount source {} for {}: {e}",
                src.display(),
                dest.display()
            ))
        })?;
        let create = if md.is_dir() {
            Create::Dir
        } else {
            Create::File
        };
        let fd = self.root.resolve(dest, create)?;
        self.check_proc_target(fd.as_fd(), dest, "bind")?;
        let rec = opts.flags & MsFlags::MS_REC;
        sys_mount::<Path, str>(
            Some(&src),
            &fd_path(fd.as_fd()),
            None,
            MsFlags::MS_BIND | rec,
            None,
        )
        .ctx(|| format!("bind mount {} on {}", src.display(), dest.display()))?;
        drop(fd);
        self.after_mount(dest, opts, true)
    }

    /// What a mount needs after it exists: per-mount flags of a bind (only settable by a
    /// remount), recursive attributes, propagation. Works on a fresh fd of `dest`, which now
    /// is the new mount's root.
    fn after_mount(&self, dest: &Path, opts: &MountOptions, bind: bool) -> Result<()> {
        let extra = if bind {
            opts.flags
                - (MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT | MsFlags::MS_SILENT)
        } else {
            MsFlags::empty()
        };
        let rec_attrs = opts.rec_set != 0 || opts.rec_clr != 0;
        if extra.is_empty() && !rec_attrs && opts.propagation.is_empty() {
            return Ok(());
        }
        let fd = self.root.resolve(dest, Create::No)?;
        let target = fd_path(fd.as_fd());
        if !extra.is_empty() {
            // The bind's own mount only, also for rbind (runc and youki): flags for every
            // submount are asked for with the recursive options ("rro", "rnosuid", ...).
            remount_bind(&target, extra)
                .ctx(|| format!("remount {} with {extra:?}", dest.display()))?;
        }
        if rec_attrs {
            mount_setattr(fd.as_fd(), true, opts.rec_set, opts.rec_clr)
                .ctx(|| format!("set recursive mount attributes on {}", dest.display()))?;
        }
        for p in &opts.propagation {
            sys_mount::<str, str>(None, &target, None, *p, None)
                .ctx(|| format!("set propagation {p:?} on {}", dest.display()))?;
        }
        Ok(())
    }

    /// cgroup2 (explicitly asked for, or the host is cgroup v2 only).
    fn mount_cgroup2(&self, dest: &Path, opts: &MountOptions) -> Result<()> {
        let flags = opts.flags - (MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT);
        let fd = self.root.resolve(dest, Create::Dir)?;
        let target = fd_path(fd.as_fd());
        match sys_mount(Some("cgroup2"), &target, Some("cgroup2"), flags, None) {
            Ok(()) => {}
            // Without a cgroup namespace (or not allowed to mount): bind our own cgroup.
            Err(Errno::EPERM | Errno::EBUSY) => {
                drop(fd);
                let own = own_cgroups()?;
                let path = own
                    .iter()
                    .find(|c| c.controllers.is_empty())
                    .map(|c| c.path.clone())
                    .unwrap_or_else(|| "/".into());
                let host = Path::new("/sys/fs/cgroup").join(path.trim_start_matches('/'));
                return self.bind_host_dir(&host, dest, opts);
            }
            Err(e) => return Err(e).ctx(|| format!("mount cgroup2 on {}", dest.display())),
        }
        drop(fd);
        self.after_mount(dest, opts, false)
    }

    /// A "cgroup" mount. On a cgroup v2 host that is cgroup2. On a v1 or hybrid host it is a
    /// tmpfs holding one directory per host hierarchy: with a cgroup namespace each hierarchy
    /// is mounted (the kernel shows the namespace's root), without one the container's own
    /// cgroup directory is bound there (like runc).
    fn mount_cgroup(&self, dest: &Path, opts: &MountOptions) -> Result<()> {
        let base = Path::new("/sys/fs/cgroup");
        if statfs::statfs(base)
            .map(|s| s.filesystem_type() == statfs::CGROUP2_SUPER_MAGIC)
            .unwrap_or(false)
        {
            return self.mount_cgroup2(dest, opts);
        }
        let flags = opts.flags - (MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT);
        // The cgroups crate's parse of mountinfo, made (and cached) before this process was
        // cloned from its parent: reading mountinfo again here cost ~0.25 ms per start.
        let hierarchies: Vec<MountInfo> = match cgroups::mounts::mounts() {
            Ok(m) => m
                .all
                .iter()
                .map(|c| MountInfo {
                    root: c.root.clone(),
                    mount_point: c.mount_point.clone(),
                    optional: String::new(),
                    fstype: c.fstype.clone(),
                    super_opts: c.super_opts.clone(),
                })
                .collect(),
            Err(_) => read_mountinfo()?,
        }
        .into_iter()
        .filter(|mi| {
            (mi.fstype == "cgroup" || mi.fstype == "cgroup2")
                && Path::new(&mi.mount_point).parent() == Some(base)
        })
        .collect();
        let own = if self.cgroupns {
            Vec::new()
        } else {
            own_cgroups()?
        };

        let fd = self.root.resolve(dest, Create::Dir)?;
        let what = || format!("mount the cgroup tmpfs on {}", dest.display());
        sys_mount(
            Some("tmpfs"),
            &fd_path(fd.as_fd()),
            Some("tmpfs"),
            flags - MsFlags::MS_RDONLY,
            Some("mode=755"),
        )
        .ctx(what)?;
        drop(fd);
        let dir = self.root.resolve(dest, Create::No)?;
        let sub_flags = flags | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        // Binds whose flags are still to be set (all at once below when the kernel can).
        let mut binds: Vec<(String, PathBuf)> = Vec::new();
        for h in &hierarchies {
            let name = Path::new(&h.mount_point)
                .file_name()
                .unwrap_or_default()
                .to_owned();
            let sub = dest.join(&name);
            // The directory lives in the tmpfs we just mounted, which nothing else can see or
            // change: create it and reach it through the tmpfs' fd, no resolution needed.
            match stat::mkdirat(
                dir.as_fd(),
                name.as_os_str(),
                Mode::from_bits_truncate(0o755),
            ) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(e).ctx(|| format!("mkdir {}", sub.display())),
            }
            let target = format!("{}/{}", fd_path(dir.as_fd()), name.to_string_lossy());
            if self.cgroupns {
                // The kernel shows the namespace's root: nothing of the host's tree.
                let data = cgroup_mount_data(&h.super_opts);
                let (fstype, data) = if h.fstype == "cgroup2" {
                    ("cgroup2", None)
                } else {
                    ("cgroup", Some(data.as_str()))
                };
                sys_mount(Some(fstype), &target, Some(fstype), sub_flags, data)
                    .ctx(|| format!("mount {fstype} ({}) on {}", h.super_opts, sub.display()))?;
            } else {
                let src = host_cgroup_dir(h, &own);
                sys_mount::<Path, str>(Some(&src), &target, None, MsFlags::MS_BIND, None)
                    .ctx(|| format!("bind {} on {}", src.display(), sub.display()))?;
                binds.push((target, sub));
            }
            // Co-mounted controllers ("cpu,cpuacct") are also reachable by each name.
            let name_bytes = name.as_bytes();
            if name_bytes.contains(&b',') {
                for part in name_bytes.split(|b| *b == b',') {
                    let part = OsStr::from_bytes(part);
                    match unistd::symlinkat(name.as_os_str(), dir.as_fd(), part) {
                        Ok(()) | Err(Errno::EEXIST) => {}
                        Err(e) => {
                            return Err(e).ctx(|| {
                                format!("symlink {} in {}", part.to_string_lossy(), dest.display())
                            })
                        }
                    }
                }
            }
        }
        // One mount_setattr(2) over the tmpfs and every bind in it instead of a remount each
        // (the tmpfs already has `flags`; the binds get `sub_flags`, a superset).
        if binds.is_empty() || !set_mount_flags_recursive(dir.as_fd(), sub_flags) {
            for (target, sub) in &binds {
                remount_bind(target, sub_flags)
                    .ctx(|| format!("remount {} with {sub_flags:?}", sub.display()))?;
            }
            if flags.contains(MsFlags::MS_RDONLY) {
                let target = fd_path(dir.as_fd());
                sys_mount(
                    Some("tmpfs"),
                    &target,
                    Some("tmpfs"),
                    flags | MsFlags::MS_REMOUNT,
                    Some("mode=755"),
                )
                .ctx(|| format!("remount the cgroup tmpfs on {} read-only", dest.display()))?;
            }
        }
        drop(dir);
        self.after_mount(dest, opts, false)
    }

    fn setup_dev(&self) -> Result<()> {
        let dev = self.root.resolve(Path::new("/dev"), Create::Dir)?;
        let spec_devices: &[LinuxDevice] = self
            .spec
            .linux()
            .as_ref()
            .and_then(|l| l.devices().as_deref())
            .unwrap_or(&[]);
        // Exact modes: 0666 must not become 0644.
        let old_umask = stat::umask(Mode::empty());
        let res = self.create_devices(&dev, spec_devices);
        stat::umask(old_umask);
        res?;

        let mut links = vec![
            ("fd", "/proc/self/fd"),
            ("stdin", "/proc/self/fd/0"),
            ("stdout", "/proc/self/fd/1"),
            ("stderr", "/proc/self/fd/2"),
        ];
        if Path::new("/proc/kcore").exists() {
            links.push(("core", "/proc/kcore"));
        }
        for (name, target) in links {
            match unistd::symlinkat(target, dev.as_fd(), name) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(e).ctx(|| format!("symlink /dev/{name} -> {target}")),
            }
        }
        // /dev/ptmx must be the devpts instance of this container.
        match unistd::unlinkat(dev.as_fd(), "ptmx", unistd::UnlinkatFlags::NoRemoveDir) {
            Ok(()) | Err(Errno::ENOENT) => {}
            Err(e) => return Err(e).ctx(|| "remove /dev/ptmx".into()),
        }
        unistd::symlinkat("pts/ptmx", dev.as_fd(), "ptmx")
            .ctx(|| "symlink /dev/ptmx -> pts/ptmx".into())?;
        Ok(())
    }

    fn create_devices(&self, dev: &OwnedFd, spec_devices: &[LinuxDevice]) -> Result<()> {
        const DEFAULTS: [(&str, u64, u64); 6] = [
            ("null", 1, 3),
            ("zero", 1, 5),
            ("full", 1, 7),
            ("random", 1, 8),
            ("urandom", 1, 9),
            ("tty", 5, 0),
        ];
        for (name, major, minor) in DEFAULTS {
            let path = PathBuf::from("/dev").join(name);
            if spec_devices.iter().any(|d| clean(d.path()) == path) {
                continue;
            }
            let node = Node {
                kind: SFlag::S_IFCHR,
                perm: 0o666,
                major,
                minor,
                uid: 0,
                gid: 0,
            };
            self.make_device(dev.as_fd(), OsStr::new(name), &path, &node)?;
        }
        for d in spec_devices {
            let path = clean(d.path());
            let kind = match d.typ() {
                LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
                LinuxDeviceType::B => SFlag::S_IFBLK,
                LinuxDeviceType::P => SFlag::S_IFIFO,
                LinuxDeviceType::A => {
                    return Err(Error::Spec(format!(
                        "device {}: type must be c, b, u or p",
                        d.path().display()
                    )))
                }
            };
            let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
                return Err(Error::Spec(format!(
                    "device path {:?} is not a file path",
                    d.path()
                )));
            };
            let (Ok(major), Ok(minor)) = (u64::try_from(d.major()), u64::try_from(d.minor()))
            else {
                return Err(Error::Spec(format!(
                    "device {}: negative major/minor",
                    d.path().display()
                )));
            };
            let node = Node {
                kind,
                perm: d.file_mode().unwrap_or(0o666) & 0o7777,
                major,
                minor,
                uid: d.uid().unwrap_or(0),
                gid: d.gid().unwrap_or(0),
            };
            let parent_fd = self.root.resolve(parent, Create::Dir)?;
            self.make_device(parent_fd.as_fd(), name, &path, &node)?;
        }
        Ok(())
    }

    /// mknod in `parent` (root-owned unless the spec says otherwise); in a user namespace,
    /// where mknod is not permitted, the host's node at the same path is bind-mounted instead.
    fn make_device(&self, parent: BorrowedFd, name: &OsStr, path: &Path, n: &Node) -> Result<()> {
        if !self.in_userns {
            let mode = Mode::from_bits_truncate(n.perm);
            let dev = libc::makedev(n.major as u32, n.minor as u32);
            match stat::mknodat(parent, name, n.kind, mode, dev) {
                Ok(()) => {
                    if n.uid != 0 || n.gid != 0 {
                        unistd::fchownat(
                            parent,
                            name,
                            Some(n.uid.into()),
                            Some(n.gid.into()),
                            fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
                        )
                        .ctx(|| format!("chown {}", path.display()))?;
                    }
                    return Ok(());
                }
                // Already there (an image's /dev, a bind): keep it, like runc.
                Err(Errno::EEXIST) => return Ok(()),
                Err(Errno::EPERM) => {}
                Err(e) => return Err(e).ctx(|| format!("mknod {}", path.display())),
            }
        }
        let f = OFlag::O_CREAT
            | OFlag::O_EXCL
            | OFlag::O_WRONLY
            | OFlag::O_NOFOLLOW
            | OFlag::O_NOCTTY
            | OFlag::O_CLOEXEC;
        match fcntl::openat(parent, name, f, Mode::from_bits_truncate(0o644)) {
            Ok(_) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(e).ctx(|| format!("create {} for a bind mount", path.display())),
        }
        let target = fcntl::openat(
            parent,
            name,
            OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .ctx(|| format!("open {}", path.display()))?;
        sys_mount::<Path, str>(
            Some(path),
            &fd_path(target.as_fd()),
            None,
            MsFlags::MS_BIND,
            None,
        )
        .ctx(|| {
            format!(
                "bind mount the host's {} into the container",
                path.display()
            )
        })
    }
}

/// Copies the tree under `src` (the directory a tmpfs now covers) into `dst` (the tmpfs):
/// files, directories, symlinks and special files with their modes and owners. Works on fds
/// only and never follows symlinks. With `root_attrs`, the tmpfs root takes the covered
/// directory's mode and owner too.
fn copy_up_dir(src: BorrowedFd, dst: BorrowedFd, root_attrs: bool) -> nix::Result<()> {
    let dir_flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    // "." of an fd taken before the mount is the covered directory, not the tmpfs on top.
    let s = fcntl::openat(src, ".", dir_flags, Mode::empty())?;
    let d = fcntl::openat(dst, ".", dir_flags, Mode::empty())?;
    if root_attrs {
        let st = stat::fstat(s.as_fd())?;
        unistd::fchown(d.as_fd(), Some(st.st_uid.into()), Some(st.st_gid.into()))?;
        stat::fchmod(d.as_fd(), Mode::from_bits_truncate(st.st_mode & 0o7777))?;
    }
    copy_tree(s, d.as_fd())
}

fn copy_tree(src: OwnedFd, dst: BorrowedFd) -> nix::Result<()> {
    let dir_flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let src_fd = fcntl::openat(src.as_fd(), ".", dir_flags, Mode::empty())?;
    let mut dir = nix::dir::Dir::from_fd(src_fd)?;
    for entry in dir.iter() {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_bytes() == b"." || name.to_bytes() == b".." {
            continue;
        }
        let st = stat::fstatat(src.as_fd(), name, fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)?;
        let perm = Mode::from_bits_truncate(st.st_mode & 0o7777);
        let kind = SFlag::from_bits_truncate(st.st_mode & libc::S_IFMT);
        match kind {
            SFlag::S_IFDIR => {
                stat::mkdirat(dst, name, Mode::from_bits_truncate(0o700))?;
                let s = fcntl::openat(src.as_fd(), name, dir_flags, Mode::empty())?;
                let d = fcntl::openat(dst, name, dir_flags, Mode::empty())?;
                copy_tree(s, d.as_fd())?;
            }
            SFlag::S_IFREG => {
                let ro = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
                let s = fcntl::openat(src.as_fd(), name, ro, Mode::empty())?;
                let wo = OFlag::O_CREAT
                    | OFlag::O_EXCL
                    | OFlag::O_WRONLY
                    | OFlag::O_NOFOLLOW
                    | OFlag::O_CLOEXEC;
                let d = fcntl::openat(dst, name, wo, Mode::from_bits_truncate(0o600))?;
                let (mut s, mut d) = (fs::File::from(s), fs::File::from(d));
                std::io::copy(&mut s, &mut d)
                    .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
            }
            SFlag::S_IFLNK => {
                let target = fcntl::readlinkat(src.as_fd(), name)?;
                unistd::symlinkat(target.as_os_str(), dst, name)?;
            }
            SFlag::S_IFCHR | SFlag::S_IFBLK | SFlag::S_IFIFO => {
                stat::mknodat(dst, name, kind, perm, st.st_rdev)?;
            }
            // Sockets belong to a process that is not there anymore.
            _ => continue,
        }
        unistd::fchownat(
            dst,
            name,
            Some(st.st_uid.into()),
            Some(st.st_gid.into()),
            fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )?;
        if kind != SFlag::S_IFLNK {
            // After chown, which clears set-id bits. Not a symlink: we just made it in our
            // own tmpfs.
            stat::fchmodat(dst, name, perm, stat::FchmodatFlags::FollowSymlink)?;
        }
    }
    Ok(())
}

struct Node {
    kind: SFlag,
    perm: u32,
    major: u64,
    minor: u64,
    uid: u32,
    gid: u32,
}

/// The bundle directory, for relative bind sources: the rootfs minus the spec's relative
/// `root.path` ("rootfs" -> parent). None when root.path is absolute (then the cwd is used).
fn bundle_dir(spec: &Spec, rootfs: &Path) -> Option<PathBuf> {
    let rp = spec.root().as_ref().map(|r| r.path().clone())?;
    if rp.is_absolute() {
        return None;
    }
    let mut b = rootfs.to_path_buf();
    for c in rp.components() {
        match c {
            Component::Normal(_) => {
                b.pop();
            }
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(b)
}

// ---------------------------------------------------------------------------------------------
// /proc/self/mountinfo and /proc/self/cgroup (read once per use, never in loops).

#[derive(Debug, Clone)]
struct MountInfo {
    root: String,
    mount_point: String,
    optional: String,
    fstype: String,
    super_opts: String,
}

fn read_mountinfo() -> Result<Vec<MountInfo>> {
    let text = fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| Error::Other(format!("read /proc/self/mountinfo: {e}")))?;
    Ok(parse_mountinfo(&text))
}

fn parse_mountinfo(text: &str) -> Vec<MountInfo> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let l: Vec<&str> = left.split(' ').collect();
            let r: Vec<&str> = right.split(' ').collect();
            if l.len() < 6 || r.len() < 3 {
                return None;
            }
            Some(MountInfo {
                root: unescape(l[3]),
                mount_point: unescape(l[4]),
                optional: l[6..].join(" "),
                fstype: r[0].to_string(),
                super_opts: r[2].to_string(),
            })
        })
        .collect()
}

/// mountinfo escapes space, tab, newline and backslash as \ooo.
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

#[derive(Debug, Clone)]
struct OwnCgroup {
    /// Empty for the v2 hierarchy ("0::/path").
    controllers: Vec<String>,
    path: String,
}

fn own_cgroups() -> Result<Vec<OwnCgroup>> {
    // One read into a page-sized buffer (read_to_string starts at 32 bytes for a procfs file,
    // whose size reads 0, and doubles: seven reads).
    let text = (|| {
        use std::io::Read;
        let mut s = String::with_capacity(4096);
        fs::File::open("/proc/self/cgroup")?.read_to_string(&mut s)?;
        Ok::<_, std::io::Error>(s)
    })()
    .map_err(|e| Error::Other(format!("read /proc/self/cgroup: {e}")))?;
    Ok(text
        .lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, ':');
            let _id = it.next()?;
            let ctrl = it.next()?;
            let path = it.next()?;
            Some(OwnCgroup {
                controllers: ctrl
                    .split(',')
                    .filter(|c| !c.is_empty())
                    .map(String::from)
                    .collect(),
                path: path.to_string(),
            })
        })
        .collect())
}

/// Options to mount an existing v1 hierarchy again: its controllers and name, without the
/// read-write flag and without release_agent (which only the host may set).
fn cgroup_mount_data(super_opts: &str) -> String {
    super_opts
        .split(',')
        .filter(|o| *o != "rw" && *o != "ro" && !o.starts_with("release_agent="))
        .collect::<Vec<_>>()
        .join(",")
}

/// The host directory of our own cgroup in hierarchy `h`.
fn host_cgroup_dir(h: &MountInfo, own: &[OwnCgroup]) -> PathBuf {
    let opts: Vec<&str> = h.super_opts.split(',').collect();
    let entry = own.iter().find(|c| {
        if h.fstype == "cgroup2" {
            c.controllers.is_empty()
        } else {
            !c.controllers.is_empty() && c.controllers.iter().all(|x| opts.contains(&x.as_str()))
        }
    });
    let path = entry.map(|c| c.path.as_str()).unwrap_or("/");
    let rel = Path::new(path)
        .strip_prefix(&h.root)
        .unwrap_or(Path::new(path.trim_start_matches('/')));
    Path::new(&h.mount_point).join(rel)
}

/// Makes the mount that contains `rootfs` private if it is shared (pivot_root requires it).
fn make_parent_private(rootfs: &Path) -> Result<()> {
    let mounts = read_mountinfo()?;
    let parent = mounts
        .iter()
        .filter(|m| rootfs.starts_with(&m.mount_point))
        .max_by_key(|m| m.mount_point.len());
    if let Some(p) = parent {
        if p.optional.split(' ').any(|o| o.starts_with("shared:")) {
            sys_mount::<str, str>(None, &p.mount_point, None, MsFlags::MS_PRIVATE, None)
                .ctx(|| format!("make {} private", p.mount_point))?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Switching the root.

fn pivot_root(rootfs: &Path) -> Result<()> {
    let dir = OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC;
    let old = fcntl::open("/", dir, Mode::empty()).ctx(|| "open /".into())?;
    let new = fcntl::open(rootfs, dir, Mode::empty())
        .ctx(|| format!("open rootfs {}", rootfs.display()))?;
    unistd::fchdir(&new).ctx(|| format!("chdir to {}", rootfs.display()))?;
    // pivot_root(".", "."): the old root ends up stacked on top of the new one, no put_old
    // directory needed inside the container.
    unistd::pivot_root(".", ".").ctx(|| format!("pivot_root into {}", rootfs.display()))?;
    unistd::fchdir(&old).ctx(|| "chdir to the old root".into())?;
    // The old root's mounts are slaves already unless the spec asked for shared: make sure the
    // unmount below cannot propagate to the host.
    sys_mount::<str, str>(None, ".", None, MsFlags::MS_SLAVE | MsFlags::MS_REC, None)
        .ctx(|| "make the old root rslave".into())?;
    mount::umount2(".", MntFlags::MNT_DETACH).ctx(|| "detach the old root".into())?;
    unistd::chdir("/").ctx(|| "chdir /".into())
}

/// --no-pivot (or a ramfs root, where pivot_root is impossible): move the rootfs over / and
/// chroot into it. Mounts outside the rootfs are detached first so the container cannot pin
/// or reach the host's mounts through them.
fn move_root(rootfs: &Path) -> Result<()> {
    let mounts = read_mountinfo()?;
    for m in mounts.iter().rev() {
        let mp = Path::new(&m.mount_point);
        if mp.starts_with(rootfs) || rootfs.starts_with(mp) {
            continue;
        }
        // Private first: unmounting a shared mount would propagate to its peers.
        let _ = sys_mount::<str, Path>(None, mp, None, MsFlags::MS_PRIVATE, None);
        let _ = mount::umount2(mp, MntFlags::MNT_DETACH);
    }
    unistd::chdir(rootfs).ctx(|| format!("chdir to {}", rootfs.display()))?;
    sys_mount::<str, str>(Some("."), "/", None, MsFlags::MS_MOVE, None)
        .ctx(|| format!("move the rootfs {} onto /", rootfs.display()))?;
    unistd::chroot(".").ctx(|| format!("chroot into {}", rootfs.display()))?;
    unistd::chdir("/").ctx(|| "chdir /".into())
}

const RAMFS_MAGIC: libc::__fsword_t = 0x8584_58f6;

/// The initial ramfs/tmpfs root ("rootfs") cannot be pivoted away from.
fn root_is_ramfs() -> bool {
    statfs::statfs("/").is_ok_and(|s| {
        s.filesystem_type() == statfs::FsType(RAMFS_MAGIC)
            || s.filesystem_type() == statfs::TMPFS_MAGIC
    })
}

// ---------------------------------------------------------------------------------------------
// After the pivot.

/// The container's /dev/null, checked to really be the null device before it is bound over
/// masked paths (a symlink or a regular file there would unmask or expose data).
struct NullDevice {
    /// Keeps `source` (/proc/self/fd/N) valid.
    _fd: OwnedFd,
    source: String,
}

impl NullDevice {
    fn open() -> Result<NullDevice> {
        let fd = fcntl::open(
            "/dev/null",
            OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .ctx(|| "open /dev/null to mask paths".into())?;
        let st = stat::fstat(fd.as_fd()).ctx(|| "stat /dev/null".into())?;
        if SFlag::from_bits_truncate(st.st_mode & libc::S_IFMT) != SFlag::S_IFCHR
            || st.st_rdev != libc::makedev(1, 3)
        {
            return Err(Error::Other(
                "cannot mask paths: /dev/null in the container is not the null device (1:3)".into(),
            ));
        }
        // Bind the checked inode itself when /proc is there to name it.
        let p = fd_path(fd.as_fd());
        let source = if Path::new(&p).exists() {
            p
        } else {
            "/dev/null".to_string()
        };
        Ok(NullDevice { _fd: fd, source })
    }
}

fn mask_path(path: &str, null: &NullDevice) -> Result<()> {
    match sys_mount::<str, str>(Some(&null.source), path, None, MsFlags::MS_BIND, None) {
        Ok(()) | Err(Errno::ENOENT) => Ok(()),
        // A directory: hide it under an empty read-only tmpfs.
        Err(Errno::ENOTDIR) => {
            sys_mount(Some("tmpfs"), path, Some("tmpfs"), MsFlags::MS_RDONLY, None)
                .ctx(|| format!("mask {path} with an empty read-only tmpfs"))
        }
        Err(e) => Err(e).ctx(|| format!("mask {path} with /dev/null")),
    }
}

fn readonly_path(path: &str) -> Result<()> {
    match sys_mount::<str, str>(
        Some(path),
        path,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
    ) {
        Ok(()) => remount_readonly(path),
        Err(Errno::ENOENT) => Ok(()),
        Err(e) => Err(e).ctx(|| format!("bind {path} on itself to make it read-only")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sched::CloneFlags;
    use nix::sys::wait::{waitpid, WaitStatus};
    use nix::unistd::ForkResult;
    use serde_json::json;
    use std::io::{Read, Write};
    use std::os::unix::fs::{symlink, FileTypeExt, MetadataExt, PermissionsExt};

    // ---- pure logic -------------------------------------------------------------------------

    #[test]
    fn secure_join_plain_and_dotdot_stay_inside() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        fs::create_dir_all(root.join("a/b")).unwrap();
        assert_eq!(
            secure_join(root, Path::new("/a/b")).unwrap(),
            root.join("a/b")
        );
        assert_eq!(
            secure_join(root, Path::new("a//./b/")).unwrap(),
            root.join("a/b")
        );
        assert_eq!(
            secure_join(root, Path::new("/../../..")).unwrap(),
            root.to_path_buf()
        );
        assert_eq!(
            secure_join(root, Path::new("/a/../../../etc/passwd")).unwrap(),
            root.join("etc/passwd")
        );
        assert_eq!(
            secure_join(root, Path::new("")).unwrap(),
            root.to_path_buf()
        );
    }

    #[test]
    fn secure_join_symlinks_resolve_inside_root() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        fs::create_dir_all(root.join("real/dir")).unwrap();
        symlink("/etc", root.join("abs")).unwrap();
        symlink("../../../../../../tmp", root.join("rel")).unwrap();
        symlink("real", root.join("good")).unwrap();
        symlink("/good/dir", root.join("chain")).unwrap();
        symlink("../real/dir/../..", root.join("real/up")).unwrap();
        symlink("/nonexistent/x", root.join("dangling")).unwrap();
        let j = |p: &str| secure_join(root, Path::new(p)).unwrap();
        assert_eq!(j("/abs/passwd"), root.join("etc/passwd"));
        assert_eq!(j("/rel/x"), root.join("tmp/x"));
        assert_eq!(j("/good/dir"), root.join("real/dir"));
        assert_eq!(j("/chain/f"), root.join("real/dir/f"));
        // real/up -> ../real/dir/../.. = (from /real) /real/dir/../.. = /
        assert_eq!(j("/real/up/etc"), root.join("etc"));
        assert_eq!(j("/dangling"), root.join("nonexistent/x"));
        // A file in the middle: the rest is taken literally (and later fails to open).
        fs::write(root.join("file"), "").unwrap();
        assert_eq!(j("/file/x"), root.join("file/x"));
    }

    #[test]
    fn secure_join_symlink_loop_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        symlink("b", d.path().join("a")).unwrap();
        symlink("a", d.path().join("b")).unwrap();
        let err = secure_join(d.path(), Path::new("/a/x")).unwrap_err();
        assert!(err.to_string().contains("too many levels"), "{err}");
    }

    #[test]
    fn options_split_into_flags_propagation_and_data() {
        let o = |v: &[&str]| parse_options(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let m = o(&[
            "nosuid",
            "noexec",
            "mode=755",
            "size=65536k",
            "rprivate",
            "ro",
        ])
        .unwrap();
        assert_eq!(
            m.flags,
            MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_RDONLY
        );
        assert_eq!(m.data, "mode=755,size=65536k");
        assert_eq!(m.propagation, vec![MsFlags::MS_PRIVATE | MsFlags::MS_REC]);
        // Later options win; "rw" records an explicit clear.
        let m = o(&["ro", "rw", "rbind", "x-systemd.automount", "tmpcopyup"]).unwrap();
        assert_eq!(m.flags, MsFlags::MS_BIND | MsFlags::MS_REC);
        assert_eq!(m.cleared, MsFlags::MS_RDONLY);
        assert_eq!(m.data, "");
        let m = o(&["rro", "rnosuid", "rnoatime"]).unwrap();
        assert_eq!(
            m.rec_set,
            MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOATIME
        );
        assert_eq!(m.rec_clr, MOUNT_ATTR_ATIME_MASK);
        assert!(o(&["idmap"]).is_err());
    }

    #[test]
    fn ms_flags_map_to_mount_attrs() {
        let (s, c) = ms_to_attr(
            MsFlags::MS_RDONLY | MsFlags::MS_NODEV | MsFlags::MS_STRICTATIME,
            MsFlags::MS_NOSUID,
        );
        assert_eq!(
            s,
            MOUNT_ATTR_RDONLY | MOUNT_ATTR_NODEV | MOUNT_ATTR_STRICTATIME
        );
        assert_eq!(c, MOUNT_ATTR_NOSUID | MOUNT_ATTR_ATIME_MASK);
    }

    #[test]
    fn mountinfo_and_cgroup_helpers() {
        let text = "31 23 0:28 / /sys/fs/cgroup rw,relatime shared:9 - tmpfs tmpfs rw,mode=755\n\
                    32 31 0:29 /sub /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n\
                    40 31 0:37 / /mnt/with\\040space rw - ext4 /dev/sda rw\n";
        let mi = parse_mountinfo(text);
        assert_eq!(mi.len(), 3);
        assert_eq!(mi[0].optional, "shared:9");
        assert_eq!(mi[1].root, "/sub");
        assert_eq!(mi[2].mount_point, "/mnt/with space");
        assert_eq!(
            cgroup_mount_data("rw,xattr,release_agent=/x,name=systemd"),
            "xattr,name=systemd"
        );
        let own = vec![
            OwnCgroup {
                controllers: vec!["cpu".into(), "cpuacct".into()],
                path: "/sub/ctr".into(),
            },
            OwnCgroup {
                controllers: vec![],
                path: "/v2".into(),
            },
        ];
        assert_eq!(
            host_cgroup_dir(&mi[1], &own),
            PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/ctr")
        );
    }

    #[test]
    fn bundle_dir_strips_relative_root_path() {
        let mut spec = Spec::default();
        let mut root = oci_spec::runtime::Root::default();
        root.set_path("./rootfs".into());
        spec.set_root(Some(root.clone()));
        assert_eq!(
            bundle_dir(&spec, Path::new("/b/rootfs")),
            Some(PathBuf::from("/b"))
        );
        root.set_path("/abs/rootfs".into());
        spec.set_root(Some(root));
        assert_eq!(bundle_dir(&spec, Path::new("/abs/rootfs")), None);
    }

    // ---- real kernel: forked children in new namespaces ---------------------------------------

    /// Runs `f` as PID 1 of new mount/pid/uts/net/ipc namespaces (plus `extra`) in a forked
    /// grandchild and returns its error message. The namespaces (and every mount made in them)
    /// die with it. The child code avoids locks other test threads could hold at fork time.
    fn in_new_namespaces(
        extra: CloneFlags,
        f: impl FnOnce() -> std::result::Result<(), String>,
    ) -> std::result::Result<(), String> {
        let (r, w) = unistd::pipe2(OFlag::O_CLOEXEC).unwrap();
        // SAFETY: the child runs only the code below and leaves with _exit.
        match unsafe { unistd::fork() }.unwrap() {
            ForkResult::Child => {
                drop(r);
                let fail = |msg: &str| -> ! {
                    let _ = fs::File::from(w.try_clone().unwrap()).write_all(msg.as_bytes());
                    // SAFETY: leave without running the test harness' destructors.
                    unsafe { libc::_exit(1) }
                };
                let flags = CloneFlags::CLONE_NEWNS
                    | CloneFlags::CLONE_NEWPID
                    | CloneFlags::CLONE_NEWUTS
                    | CloneFlags::CLONE_NEWNET
                    | CloneFlags::CLONE_NEWIPC
                    | extra;
                if let Err(e) = nix::sched::unshare(flags) {
                    fail(&format!("unshare: {e}"));
                }
                // Whatever the test mounts before setup_rootfs must not reach the host either.
                if let Err(e) = sys_mount(
                    None::<&str>,
                    "/",
                    None,
                    MsFlags::MS_SLAVE | MsFlags::MS_REC,
                    None,
                ) {
                    fail(&format!("make / rslave: {e}"));
                }
                // SAFETY: as above; the grandchild is PID 1 of the new pid namespace.
                match unsafe { unistd::fork() } {
                    Ok(ForkResult::Child) => {
                        let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
                        match res {
                            Ok(Ok(())) => unsafe { libc::_exit(0) }, // SAFETY: see above.
                            Ok(Err(msg)) => fail(&msg),
                            Err(_) => fail("panicked"),
                        }
                    }
                    Ok(ForkResult::Parent { child }) => {
                        let code = match waitpid(child, None) {
                            Ok(WaitStatus::Exited(_, c)) => c,
                            _ => 2,
                        };
                        // SAFETY: see above.
                        unsafe { libc::_exit(code) }
                    }
                    Err(e) => fail(&format!("fork: {e}")),
                }
            }
            ForkResult::Parent { child } => {
                drop(w);
                let mut msg = String::new();
                fs::File::from(r).read_to_string(&mut msg).unwrap();
                match waitpid(child, None).unwrap() {
                    WaitStatus::Exited(_, 0) => Ok(()),
                    st => Err(format!("{st:?}: {msg}")),
                }
            }
        }
    }

    macro_rules! ensure {
        ($cond:expr, $($fmt:tt)+) => {
            if !$cond {
                return Err(format!($($fmt)+));
            }
        };
    }

    fn fs_type(p: &str) -> std::result::Result<statfs::FsType, String> {
        statfs::statfs(p)
            .map(|s| s.filesystem_type())
            .map_err(|e| format!("statfs {p}: {e}"))
    }

    fn is_ro(p: &str) -> std::result::Result<bool, String> {
        statvfs::statvfs(p)
            .map(|s| s.flags().contains(FsFlags::ST_RDONLY))
            .map_err(|e| format!("statvfs {p}: {e}"))
    }

    fn rdev_of(p: &str) -> std::result::Result<(u64, u64, u32, fs::Metadata), String> {
        let md = fs::symlink_metadata(p).map_err(|e| format!("{p}: {e}"))?;
        let r = md.rdev();
        Ok((
            libc::major(r) as u64,
            libc::minor(r) as u64,
            md.mode() & 0o7777,
            md,
        ))
    }

    fn write_fails_erofs(p: &str) -> std::result::Result<(), String> {
        match fs::OpenOptions::new().append(true).create(true).open(p) {
            Err(e) if e.raw_os_error() == Some(libc::EROFS) => Ok(()),
            other => Err(format!("writing {p} should fail with EROFS, got {other:?}")),
        }
    }

    fn host_mountinfo_mentions(p: &Path) -> bool {
        fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .contains(p.to_str().unwrap())
    }

    fn is_mount_point(p: &Path) -> bool {
        let md = fs::metadata(p).unwrap();
        let parent = fs::metadata(p.parent().unwrap()).unwrap();
        md.dev() != parent.dev()
    }

    fn spec_of(b: &testutil::Bundle) -> Spec {
        serde_json::from_value(b.spec.clone()).unwrap()
    }

    #[test]
    fn full_rootfs_setup_in_new_namespaces() {
        testutil::require_root();
        let host = tempfile::Builder::new()
            .prefix("berth-rootfs-host")
            .tempdir()
            .unwrap();
        fs::write(host.path().join("hello"), "from host\n").unwrap();
        fs::create_dir(host.path().join("sub")).unwrap();
        let escape = tempfile::Builder::new()
            .prefix("berth-rootfs-escape")
            .tempdir()
            .unwrap();
        let escape_path = escape.path().to_path_buf();

        let mut b = testutil::Bundle::new(&["true"]);
        let rootfs = fs::canonicalize(b.rootfs()).unwrap();
        // Symlinks planted "in the image" that point at the host directory.
        symlink(&escape_path, rootfs.join("escape")).unwrap();
        symlink(
            format!("../../../../../../../..{}", escape_path.display()),
            rootfs.join("rel"),
        )
        .unwrap();
        let host_dir = host.path().to_str().unwrap().to_string();
        b.edit(|s| {
            let mounts = s["mounts"].as_array_mut().unwrap();
            mounts.push(
                json!({"destination": "/mnt/tmp", "type": "tmpfs", "source": "tmpfs",
                "options": ["nosuid", "size=1m", "mode=700"]}),
            );
            mounts.push(
                json!({"destination": "/data", "type": "bind", "source": host_dir,
                "options": ["rbind", "ro", "rro"]}),
            );
            mounts.push(json!({"destination": "/etc/hostfile", "type": "bind",
                "source": format!("{host_dir}/hello"), "options": ["bind"]}));
            mounts.push(json!({"destination": "/escape", "type": "tmpfs", "source": "tmpfs"}));
            mounts.push(
                json!({"destination": "/www", "type": "tmpfs", "source": "tmpfs",
                "options": ["tmpcopyup", "ro", "nodev"]}),
            );
            mounts.push(json!({"destination": "/rel", "type": "tmpfs", "source": "tmpfs"}));
            s["linux"]["devices"] = json!([
                {"path": "/dev/mydev", "type": "c", "major": 1, "minor": 7,
                 "fileMode": 0o600, "uid": 1000, "gid": 1000},
                {"path": "/dev/fifo0", "type": "p", "major": 0, "minor": 0},
                {"path": "/dev/sub/blk", "type": "b", "major": 7, "minor": 0}
            ]);
        });
        fs::create_dir(rootfs.join("www/sub")).unwrap();
        fs::write(rootfs.join("www/sub/f"), "deep\n").unwrap();
        std::os::unix::fs::lchown(rootfs.join("www/sub/f"), Some(12), Some(34)).unwrap();
        // After chown, which clears set-id bits.
        fs::set_permissions(rootfs.join("www/sub/f"), fs::Permissions::from_mode(0o4751)).unwrap();
        symlink("sub/f", rootfs.join("www/link")).unwrap();
        fs::set_permissions(rootfs.join("www"), fs::Permissions::from_mode(0o751)).unwrap();
        let spec = spec_of(&b);
        let rootfs_c = rootfs.clone();
        let host_sub = host.path().join("sub");

        let res = in_new_namespaces(CloneFlags::CLONE_NEWCGROUP, || {
            // A submount in the rbind source: "ro" must reach it too.
            sys_mount(
                Some("tmpfs"),
                &host_sub,
                Some("tmpfs"),
                MsFlags::empty(),
                None,
            )
            .map_err(|e| format!("mount tmpfs on host sub: {e}"))?;
            let opts = RootfsOptions {
                spec: &spec,
                rootfs: &rootfs_c,
                no_pivot: false,
                in_userns: false,
            };
            let mut hook_ran = false;
            let mut before = || -> Result<()> {
                hook_ran = true;
                // Still in the host's tree: the escape dir must be untouched.
                let ok = !is_mount_point(&escape_path)
                    && fs::read_dir(&escape_path).unwrap().next().is_none();
                let inside = rootfs_c.join(escape_path.strip_prefix("/").unwrap());
                let landed = statfs::statfs(&inside)
                    .is_ok_and(|s| s.filesystem_type() == statfs::TMPFS_MAGIC);
                if ok && landed {
                    Ok(())
                } else {
                    Err(Error::other(format!(
                        "symlink escape: host dir mounted={} empty={} landed in rootfs={landed}",
                        is_mount_point(&escape_path),
                        fs::read_dir(&escape_path).unwrap().next().is_none()
                    )))
                }
            };
            setup_rootfs(&opts, &mut before).map_err(|e| format!("setup_rootfs: {e}"))?;
            ensure!(hook_ran, "before_pivot was not called");
            finish_rootfs(&spec).map_err(|e| format!("finish_rootfs: {e}"))?;

            // pivoted into the busybox rootfs, PID 1 with our own /proc
            ensure!(Path::new("/bin/busybox").exists(), "not in the rootfs");
            ensure!(
                fs::read_link("/proc/self").map_err(|e| e.to_string())? == Path::new("1"),
                "/proc is not the container's"
            );
            ensure!(fs_type("/")? != statfs::PROC_SUPER_MAGIC, "bad root");
            // devices
            for (p, maj, min) in [
                ("/dev/null", 1, 3),
                ("/dev/zero", 1, 5),
                ("/dev/full", 1, 7),
                ("/dev/random", 1, 8),
                ("/dev/urandom", 1, 9),
                ("/dev/tty", 5, 0),
            ] {
                let (ma, mi, mode, md) = rdev_of(p)?;
                ensure!(md.file_type().is_char_device(), "{p} is not a char device");
                ensure!(
                    (ma, mi, mode) == (maj, min, 0o666),
                    "{p}: {ma}:{mi} {mode:o}"
                );
                ensure!(md.uid() == 0 && md.gid() == 0, "{p} not root-owned");
            }
            let (ma, mi, mode, md) = rdev_of("/dev/mydev")?;
            ensure!(
                (ma, mi, mode, md.uid(), md.gid()) == (1, 7, 0o600, 1000, 1000),
                "/dev/mydev: {ma}:{mi} {mode:o} {}:{}",
                md.uid(),
                md.gid()
            );
            ensure!(rdev_of("/dev/fifo0")?.3.file_type().is_fifo(), "fifo0");
            let (ma, mi, _, md) = rdev_of("/dev/sub/blk")?;
            ensure!(
                md.file_type().is_block_device() && (ma, mi) == (7, 0),
                "blk"
            );
            // /dev symlinks
            for (l, t) in [
                ("/dev/fd", "/proc/self/fd"),
                ("/dev/stdin", "/proc/self/fd/0"),
                ("/dev/stdout", "/proc/self/fd/1"),
                ("/dev/stderr", "/proc/self/fd/2"),
                ("/dev/ptmx", "pts/ptmx"),
            ] {
                let got = fs::read_link(l).map_err(|e| format!("{l}: {e}"))?;
                ensure!(got == Path::new(t), "{l} -> {got:?}");
            }
            ensure!(Path::new("/dev/pts/ptmx").exists(), "no devpts");
            ensure!(fs::File::open("/dev/ptmx").is_ok(), "cannot open /dev/ptmx");
            // filesystems
            ensure!(fs_type("/dev")? == statfs::TMPFS_MAGIC, "/dev");
            ensure!(fs_type("/dev/shm")? == statfs::TMPFS_MAGIC, "/dev/shm");
            ensure!(
                fs_type("/dev/mqueue")? == statfs::FsType(0x1980_0202),
                "mqueue"
            );
            ensure!(
                fs_type("/sys")? == statfs::SYSFS_MAGIC && is_ro("/sys")?,
                "/sys"
            );
            fs::write("/dev/shm/x", "x").map_err(|e| format!("/dev/shm not writable: {e}"))?;
            // cgroup v1 hierarchies mounted in the cgroup namespace, read-only
            ensure!(
                Path::new("/sys/fs/cgroup/memory/memory.limit_in_bytes").exists(),
                "no memory cgroup: {:?}",
                fs::read_dir("/sys/fs/cgroup").map(|d| d.count())
            );
            ensure!(
                Path::new("/sys/fs/cgroup/unified/cgroup.procs").exists(),
                "no unified cgroup"
            );
            ensure!(
                is_ro("/sys/fs/cgroup")? && is_ro("/sys/fs/cgroup/memory")?,
                "cgroup rw"
            );
            write_fails_erofs("/sys/fs/cgroup/x")?;
            // tmpfs with options
            ensure!(fs_type("/mnt/tmp")? == statfs::TMPFS_MAGIC, "/mnt/tmp");
            let md = fs::metadata("/mnt/tmp").map_err(|e| e.to_string())?;
            ensure!(
                md.permissions().mode() & 0o7777 == 0o700,
                "mode {:o}",
                md.mode()
            );
            let vfs = statvfs::statvfs("/mnt/tmp").map_err(|e| e.to_string())?;
            ensure!(
                vfs.flags().contains(FsFlags::ST_NOSUID),
                "/mnt/tmp not nosuid"
            );
            ensure!(
                vfs.blocks() as u64 * vfs.fragment_size() as u64 == 1 << 20,
                "/mnt/tmp size"
            );
            fs::write("/mnt/tmp/f", "x").map_err(|e| format!("/mnt/tmp: {e}"))?;
            // binds: recursive read-only ("rro"), file bind
            let hello = fs::read_to_string("/data/hello").map_err(|e| e.to_string())?;
            ensure!(hello == "from host\n", "/data/hello = {hello:?}");
            write_fails_erofs("/data/new")?;
            ensure!(
                fs_type("/data/sub")? == statfs::TMPFS_MAGIC,
                "rbind lost the submount"
            );
            write_fails_erofs("/data/sub/new")?;
            let f = fs::read_to_string("/etc/hostfile").map_err(|e| e.to_string())?;
            ensure!(f == "from host\n", "/etc/hostfile = {f:?}");
            // the escape attempts landed inside
            ensure!(fs_type("/escape")? == statfs::TMPFS_MAGIC, "/escape");
            ensure!(fs_type("/rel")? == statfs::TMPFS_MAGIC, "/rel");
            // tmpcopyup: the tmpfs starts with a faithful copy, then becomes read-only
            ensure!(
                fs_type("/www")? == statfs::TMPFS_MAGIC && is_ro("/www")?,
                "/www"
            );
            let idx = fs::read_to_string("/www/index.html").map_err(|e| e.to_string())?;
            ensure!(idx == "hello\n", "/www/index.html = {idx:?}");
            let f = fs::read_to_string("/www/link").map_err(|e| e.to_string())?;
            ensure!(f == "deep\n", "/www/link = {f:?}");
            let md = fs::symlink_metadata("/www/sub/f").map_err(|e| e.to_string())?;
            ensure!(
                (md.mode() & 0o7777, md.uid(), md.gid()) == (0o4751, 12, 34),
                "/www/sub/f: {:o} {}:{}",
                md.mode(),
                md.uid(),
                md.gid()
            );
            let md = fs::metadata("/www").map_err(|e| e.to_string())?;
            ensure!(md.mode() & 0o7777 == 0o751, "/www mode {:o}", md.mode());
            ensure!(
                fs::read_link("/www/link").map_err(|e| e.to_string())? == Path::new("sub/f"),
                "link"
            );
            // masked and read-only paths, read-only root
            let keys = fs::read_to_string("/proc/keys").map_err(|e| e.to_string())?;
            ensure!(keys.is_empty(), "/proc/keys not masked");
            let tl = fs::read_to_string("/proc/timer_list").map_err(|e| e.to_string())?;
            ensure!(tl.is_empty(), "/proc/timer_list not masked");
            let fw = fs::read_dir("/sys/firmware").map_err(|e| e.to_string())?;
            ensure!(fw.count() == 0, "/sys/firmware not masked");
            write_fails_erofs("/sys/firmware/x")?;
            write_fails_erofs("/proc/sys/kernel/hostname")?;
            ensure!(is_ro("/proc/sys")? && !is_ro("/proc")?, "/proc/sys");
            write_fails_erofs("/newfile")?;
            write_fails_erofs("/etc/newfile")?;
            // console: a pty of the container's devpts becomes /dev/console
            let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY)
                .map_err(|e| format!("openpt: {e}"))?;
            nix::pty::grantpt(&master).map_err(|e| e.to_string())?;
            nix::pty::unlockpt(&master).map_err(|e| e.to_string())?;
            let name = nix::pty::ptsname_r(&master).map_err(|e| e.to_string())?;
            let slave = fs::File::open(&name).map_err(|e| format!("{name}: {e}"))?;
            bind_console(slave.as_fd()).map_err(|e| format!("bind_console: {e}"))?;
            let (ma, mi, _, _) = rdev_of("/dev/console")?;
            let (sma, smi, _, _) = rdev_of(&name)?;
            ensure!(
                (ma, mi) == (sma, smi),
                "/dev/console is {ma}:{mi}, pty {sma}:{smi}"
            );
            Ok(())
        });
        res.unwrap();
        // Nothing leaked to the host.
        assert!(
            !host_mountinfo_mentions(&rootfs),
            "rootfs mounts on the host"
        );
        assert!(!is_mount_point(&escape_path));
        assert!(!is_mount_point(&host.path().join("sub")));
        assert!(fs::read_dir(&escape_path).unwrap().next().is_none());
    }

    #[test]
    fn no_pivot_userns_devices_and_bound_cgroups() {
        testutil::require_root();
        let mut b = testutil::Bundle::new(&["true"]);
        b.edit(|s| {
            s["root"]["readonly"] = json!(false);
            // No cgroup namespace: the container's own cgroup directories are bound.
            let ns = s["linux"]["namespaces"].as_array_mut().unwrap();
            ns.retain(|n| n["type"] != "cgroup");
            s["linux"]["rootfsPropagation"] = json!("rprivate");
        });
        let spec = spec_of(&b);
        let rootfs = fs::canonicalize(b.rootfs()).unwrap();
        let res = in_new_namespaces(CloneFlags::empty(), || {
            let opts = RootfsOptions {
                spec: &spec,
                rootfs: &rootfs,
                no_pivot: true,
                // Pretend mknod is impossible: devices must be bind-mounted from the host.
                in_userns: true,
            };
            setup_rootfs(&opts, &mut || Ok(())).map_err(|e| format!("setup_rootfs: {e}"))?;
            finish_rootfs(&spec).map_err(|e| format!("finish_rootfs: {e}"))?;
            ensure!(
                Path::new("/bin/busybox").exists(),
                "not chrooted into the rootfs"
            );
            ensure!(
                fs::read_link("/proc/self").map_err(|e| e.to_string())? == Path::new("1"),
                "/proc is not the container's"
            );
            let (ma, mi, _, md) = rdev_of("/dev/null")?;
            ensure!(
                md.file_type().is_char_device() && (ma, mi) == (1, 3),
                "/dev/null"
            );
            fs::write("/dev/null", "x").map_err(|e| format!("/dev/null: {e}"))?;
            // cgroup: bound, and it is our own cgroup (cgroup.procs lists this process).
            let procs = fs::read_to_string("/sys/fs/cgroup/memory/cgroup.procs")
                .map_err(|e| format!("memory cgroup: {e}"))?;
            ensure!(!procs.is_empty(), "empty memory cgroup.procs");
            ensure!(is_ro("/sys/fs/cgroup/memory")?, "cgroup rw");
            // writable root
            fs::write("/newfile", "x").map_err(|e| format!("root not writable: {e}"))?;
            Ok(())
        });
        res.unwrap();
        assert!(b.rootfs().join("newfile").exists());
        assert!(!host_mountinfo_mentions(&rootfs));
    }

    #[test]
    fn rshared_root_propagation_applies_to_the_new_root() {
        testutil::require_root();
        let mut b = testutil::Bundle::new(&["true"]);
        b.edit(|s| s["linux"]["rootfsPropagation"] = json!("rshared"));
        let spec = spec_of(&b);
        let rootfs = fs::canonicalize(b.rootfs()).unwrap();
        // The helper made the child's mounts slaves of the host first: "shared" here forms
        // new peer groups that cannot propagate back to the host.
        let res = in_new_namespaces(CloneFlags::CLONE_NEWCGROUP, || {
            let opts = RootfsOptions {
                spec: &spec,
                rootfs: &rootfs,
                no_pivot: false,
                in_userns: false,
            };
            setup_rootfs(&opts, &mut || Ok(())).map_err(|e| format!("setup_rootfs: {e}"))?;
            let mi = fs::read_to_string("/proc/self/mountinfo").map_err(|e| e.to_string())?;
            let root = parse_mountinfo(&mi)
                .into_iter()
                .find(|m| m.mount_point == "/")
                .ok_or("no / in mountinfo")?;
            ensure!(root.optional.contains("shared:"), "/ is not shared: {mi}");
            Ok(())
        });
        res.unwrap();
        assert!(!host_mountinfo_mentions(&rootfs));
    }

    #[test]
    fn mounts_over_proc_files_are_refused() {
        testutil::require_root();
        for (dest, link) in [("/proc/sys", None), ("/sneaky", Some("/proc/sys"))] {
            let mut b = testutil::Bundle::new(&["true"]);
            if let Some(l) = link {
                symlink(l, b.rootfs().join(dest.trim_start_matches('/'))).unwrap();
            }
            b.edit(|s| {
                s["mounts"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"destination": dest, "type": "tmpfs", "source": "tmpfs"}));
            });
            let spec = spec_of(&b);
            let rootfs = fs::canonicalize(b.rootfs()).unwrap();
            let res = in_new_namespaces(CloneFlags::CLONE_NEWCGROUP, || {
                let opts = RootfsOptions {
                    spec: &spec,
                    rootfs: &rootfs,
                    no_pivot: false,
                    in_userns: false,
                };
                match setup_rootfs(&opts, &mut || Ok(())) {
                    Err(e) if e.to_string().contains("/proc") => Ok(()),
                    other => Err(format!("{dest}: expected a /proc error, got {other:?}")),
                }
            });
            res.unwrap();
        }
    }

    #[test]
    fn bad_propagation_is_a_spec_error() {
        let mut b = testutil::Bundle::new(&["true"]);
        b.edit(|s| s["linux"]["rootfsPropagation"] = json!("sideways"));
        let spec = spec_of(&b);
        let opts = RootfsOptions {
            spec: &spec,
            rootfs: &b.rootfs(),
            no_pivot: false,
            in_userns: false,
        };
        // Fails before touching any mount.
        let err = setup_rootfs(&opts, &mut || Ok(())).unwrap_err();
        assert!(matches!(err, Error::Spec(_)), "{err}");
    }
}
