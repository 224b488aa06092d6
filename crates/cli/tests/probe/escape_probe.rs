//! The escape suite's probe (crates/cli/tests/escape.rs): run inside a container, it tries one
//! escape per argument and prints `<name> <result>` per line, where the result is `OK` (the
//! call succeeded) or the errno's name. Built static by the test with plain rustc (libc only).
//!
//! Every probe is safe for the host even when the call is permitted: files are opened for
//! writing and closed without a byte written; syscalls get arguments that fail anyway when
//! permitted (a permitted call answers EINVAL/EFAULT/EBADF/EOPNOTSUPP, a blocked one EPERM),
//! the idea of moby's contrib/syscall-test programs (acct.c, ns.c, userns.c) and of the
//! seccomp tests in moby's integration-cli (TestRunSeccompDefaultProfile*), which run such
//! calls in a default container and expect "Operation not permitted".

use std::ffi::CString;
use std::ptr::null;

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn ename(e: i32) -> String {
    let n = match e {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::ESRCH => "ESRCH",
        libc::EIO => "EIO",
        libc::ENXIO => "ENXIO",
        libc::EBADF => "EBADF",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::ENOTDIR => "ENOTDIR",
        libc::EISDIR => "EISDIR",
        libc::EINVAL => "EINVAL",
        libc::EROFS => "EROFS",
        libc::ENOSYS => "ENOSYS",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::ENOEXEC => "ENOEXEC",
        _ => return format!("E{e}"),
    };
    n.to_string()
}

/// `OK` for a non-negative return, else the errno's name.
fn res(r: i64) -> String {
    if r < 0 {
        ename(errno())
    } else {
        "OK".into()
    }
}

fn c(s: &str) -> CString {
    CString::new(s).unwrap()
}

/// Opens `path` with `flags` and closes it at once (never reads or writes).
fn open_close(path: &str, flags: i32) -> String {
    let p = c(path);
    // SAFETY: a valid C string; the fd is closed right away.
    let fd = unsafe { libc::open(p.as_ptr(), flags | libc::O_CLOEXEC | libc::O_NONBLOCK) };
    let r = res(fd as i64);
    if fd >= 0 {
        // SAFETY: our own fd.
        unsafe { libc::close(fd) };
    }
    r
}

/// Makes a device node, tries to open it for reading (never reads), removes it.
fn mknod_open(kind: &str, major: u32, minor: u32) -> String {
    let path = c("/tmp/.escape-probe-dev");
    let mode = if kind == "b" {
        libc::S_IFBLK
    } else {
        libc::S_IFCHR
    } | 0o600;
    // SAFETY: valid C strings.
    unsafe { libc::unlink(path.as_ptr()) };
    let r = unsafe { libc::mknod(path.as_ptr(), mode, libc::makedev(major, minor)) };
    let made = res(r as i64);
    if r < 0 {
        return format!("mknod={made}");
    }
    let opened = open_close("/tmp/.escape-probe-dev", libc::O_RDONLY);
    // SAFETY: as above.
    unsafe { libc::unlink(path.as_ptr()) };
    format!("mknod={made},open={opened}")
}

fn statvfs_ro(path: &str) -> String {
    let p = c(path);
    // SAFETY: zeroed plain struct, filled by the kernel.
    let mut v: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(p.as_ptr(), &mut v) } < 0 {
        return ename(errno());
    }
    if v.f_flag & libc::ST_RDONLY != 0 {
        "RO".into()
    } else {
        "RW".into()
    }
}

fn probe(name: &str, arg: Option<&str>) -> String {
    // SAFETY (all the raw syscalls below): arguments are null pointers, invalid commands or
    // invalid fds the kernel rejects without touching memory; nothing is written anywhere.
    match name {
        "mount-tmpfs" => {
            let r = unsafe {
                libc::mount(
                    c("none").as_ptr(),
                    c("/mnt").as_ptr(),
                    c("tmpfs").as_ptr(),
                    0,
                    null(),
                )
            };
            if r == 0 {
                unsafe { libc::umount2(c("/mnt").as_ptr(), libc::MNT_DETACH) };
            }
            res(r as i64)
        }
        "mount-bind" => {
            let r = unsafe {
                libc::mount(
                    c("/").as_ptr(),
                    c("/mnt").as_ptr(),
                    null(),
                    libc::MS_BIND | libc::MS_REC,
                    null(),
                )
            };
            if r == 0 {
                unsafe { libc::umount2(c("/mnt").as_ptr(), libc::MNT_DETACH) };
            }
            res(r as i64)
        }
        "fsopen" => {
            let fd = unsafe { libc::syscall(libc::SYS_fsopen, c("tmpfs").as_ptr(), 0) };
            if fd >= 0 {
                unsafe { libc::close(fd as i32) };
            }
            res(fd)
        }
        "open_tree" => {
            // OPEN_TREE_CLONE (1): a detached copy of the mount, the first step of a bind.
            let fd =
                unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, c("/").as_ptr(), 1) };
            if fd >= 0 {
                unsafe { libc::close(fd as i32) };
            }
            res(fd)
        }
        "mknod" => {
            // "b:MAJ:MIN" or "c:MAJ:MIN"
            let a = arg.unwrap_or("c:1:1");
            let v: Vec<&str> = a.split(':').collect();
            mknod_open(v[0], v[1].parse().unwrap(), v[2].parse().unwrap())
        }
        "open-write" => open_close(arg.unwrap(), libc::O_WRONLY),
        "open-read" => open_close(arg.unwrap(), libc::O_RDONLY),
        "access-write" => {
            let r = unsafe { libc::access(c(arg.unwrap()).as_ptr(), libc::W_OK) };
            res(r as i64)
        }
        "statvfs" => statvfs_ro(arg.unwrap()),
        // Reads at most 64 bytes (for masked files: /proc/kcore is a /dev/null bind).
        "read-len" => match std::fs::File::open(arg.unwrap()) {
            Ok(mut f) => {
                use std::io::Read;
                let mut b = [0u8; 64];
                match f.read(&mut b) {
                    Ok(n) => format!("len={n}"),
                    Err(e) => ename(e.raw_os_error().unwrap_or(0)),
                }
            }
            Err(e) => ename(e.raw_os_error().unwrap_or(0)),
        },
        // Every release_agent under /sys/fs/cgroup opened for writing (CVE-2022-0492).
        "release-agents" => {
            let mut out = Vec::new();
            let mut paths = vec!["/sys/fs/cgroup/release_agent".to_string()];
            if let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") {
                for e in rd.flatten() {
                    paths.push(format!("{}/release_agent", e.path().display()));
                }
            }
            for p in paths {
                if std::path::Path::new(&p).exists() {
                    out.push(open_close(&p, libc::O_WRONLY));
                }
            }
            if out.is_empty() {
                "NONE".into()
            } else {
                out.sort();
                out.dedup();
                out.join(",")
            }
        }
        "init_module" => {
            res(unsafe { libc::syscall(libc::SYS_init_module, null::<u8>(), 0, c("").as_ptr()) })
        }
        "finit_module" => {
            res(unsafe { libc::syscall(libc::SYS_finit_module, -1, c("").as_ptr(), 0) })
        }
        // LINUX_REBOOT_MAGIC1 with an invalid second magic: EINVAL if the caller may reboot.
        "reboot" => res(unsafe {
            libc::syscall(libc::SYS_reboot, 0xfee1deadu32 as i32, 0, 0, null::<u8>())
        }),
        "kexec_load" => res(unsafe { libc::syscall(libc::SYS_kexec_load, 0, 0, null::<u8>(), 0) }),
        // An empty path: ENOENT if permitted (acct(NULL) would switch the host's accounting off).
        "acct" => res(unsafe { libc::syscall(libc::SYS_acct, c("").as_ptr()) }),
        // PTRACE_SEIZE (not ATTACH): the tracee is never stopped, and our exit detaches it.
        "ptrace" => {
            let pid: i32 = arg.unwrap().parse().unwrap();
            res(unsafe { libc::ptrace(libc::PTRACE_SEIZE, pid, null::<u8>(), null::<u8>()) })
        }
        // An invalid keyctl command: EOPNOTSUPP if permitted.
        "keyctl" => res(unsafe { libc::syscall(libc::SYS_keyctl, 9999, 0, 0, 0, 0) }),
        "add_key" => res(unsafe {
            libc::syscall(
                libc::SYS_add_key,
                null::<u8>(),
                null::<u8>(),
                null::<u8>(),
                0,
                0,
            )
        }),
        // An invalid bpf command: EINVAL if permitted.
        "bpf" => res(unsafe { libc::syscall(libc::SYS_bpf, 9999, null::<u8>(), 0) }),
        // A null attr: EFAULT if permitted.
        "perf_event_open" => {
            res(unsafe { libc::syscall(libc::SYS_perf_event_open, null::<u8>(), 0, -1, -1, 0) })
        }
        // An invalid mount fd and handle: EBADF if permitted (the "shocker" escape's call).
        "open_by_handle_at" => {
            res(unsafe { libc::syscall(libc::SYS_open_by_handle_at, -1, null::<u8>(), 0) })
        }
        // Only this process enters the new namespace, and it exits right after.
        "unshare-user" => res(unsafe { libc::unshare(libc::CLONE_NEWUSER) } as i64),
        "unshare-mnt" => res(unsafe { libc::unshare(libc::CLONE_NEWNS) } as i64),
        // The classic chroot escape (mkdir x; chroot x; cd ../../..; chroot .), then compares
        // the reached root with the container's: pivot_root must leave nothing above it.
        "chroot" => {
            let mut before: libc::stat = unsafe { std::mem::zeroed() };
            unsafe { libc::stat(c("/").as_ptr(), &mut before) };
            let _ = std::fs::create_dir_all("/tmp/.escape-probe-chroot");
            if unsafe { libc::chroot(c("/tmp/.escape-probe-chroot").as_ptr()) } < 0 {
                return format!("chroot={}", ename(errno()));
            }
            for _ in 0..64 {
                unsafe { libc::chdir(c("..").as_ptr()) };
            }
            unsafe { libc::chroot(c(".").as_ptr()) };
            let mut after: libc::stat = unsafe { std::mem::zeroed() };
            unsafe { libc::stat(c("/").as_ptr(), &mut after) };
            if (after.st_dev, after.st_ino) == (before.st_dev, before.st_ino) {
                "CONTAINED".into()
            } else {
                "ESCAPED".into()
            }
        }
        // The fds this process holds, except the one reading the listing.
        "fds" => {
            let dir = std::fs::read_dir("/proc/self/fd").unwrap();
            let mut fds: Vec<String> = dir
                .flatten()
                .filter_map(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    let t = std::fs::read_link(e.path()).ok()?;
                    Some(format!("{n}={}", t.display()))
                })
                .collect();
            fds.sort();
            fds.join(",")
        }
        "cwd" => {
            let mut buf = [0u8; 4096];
            let p = unsafe { libc::getcwd(buf.as_mut_ptr() as *mut libc::c_char, buf.len()) };
            let cwd = if p.is_null() {
                ename(errno())
            } else {
                let n = buf.iter().position(|b| *b == 0).unwrap();
                String::from_utf8_lossy(&buf[..n]).into_owned()
            };
            let link = std::fs::read_link("/proc/self/cwd")
                .map(|l| l.display().to_string())
                .unwrap_or_else(|e| ename(e.raw_os_error().unwrap_or(0)));
            format!("getcwd={cwd},link={link}")
        }
        "status" => {
            let s = std::fs::read_to_string("/proc/self/status").unwrap();
            let field = |k: &str| {
                s.lines()
                    .find_map(|l| l.strip_prefix(k))
                    .unwrap_or("")
                    .trim()
                    .to_string()
            };
            format!(
                "CapEff={},CapBnd={},CapAmb={},CapInh={},Seccomp={},NoNewPrivs={}",
                field("CapEff:"),
                field("CapBnd:"),
                field("CapAmb:"),
                field("CapInh:"),
                field("Seccomp:"),
                field("NoNewPrivs:")
            )
        }
        _ => "UNKNOWN-PROBE".into(),
    }
}

fn main() {
    // Arguments: name or name=arg, one probe each.
    for a in std::env::args().skip(1) {
        let (name, arg) = match a.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (a.clone(), None),
        };
        println!("{a} {}", probe(&name, arg.as_deref()));
    }
}
