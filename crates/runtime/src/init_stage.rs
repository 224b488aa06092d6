//! A container's init that joins another container's pid namespace (`--pid container:X`) is
//! visible to X's processes from its clone. Cloned from the runtime's caller (a monitor, a
//! shim), its `/proc/<pid>/exe` would be the host's runtime binary, open to a process of X
//! that holds CAP_SYS_PTRACE (the CVE-2019-5736 class, see `exec_stage`). So for this case
//! only, create goes through the sealed runtime as exec does: stage 1 (host pid namespace,
//! non-dumpable) execs the sealed binary as [`INIT_ARGV0`]; the stage joins the pid
//! namespace for its children and clones the init with CLONE_PARENT (the caller stays its
//! parent), which then runs as any init does. Containers with their own pid namespace are
//! seen by nobody before their program runs and keep the direct path (no exec, no cost).

use crate::exec_stage::{exec_with, fail};
use crate::namespaces::{Plan, JOIN_ORDER};
use crate::{init, sync, Error, Result};
use nix::sched::CloneFlags;
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

pub(crate) use crate::exec_stage::INIT_ARGV0;

/// What the sealed stage needs to clone and run the init.
pub(crate) struct InitStageConfig<'a> {
    /// The container's id (names its session keyring).
    pub id: &'a str,
    pub spec_bytes: &'a [u8],
    pub rootfs: &'a Path,
    pub plan: &'a Plan,
    pub clone_flags: CloneFlags,
    pub sync_fd: RawFd,
    pub fifo_fd: RawFd,
    pub console_fd: RawFd,
    pub no_pivot: bool,
    pub preserve_fds: i32,
    pub hook_sync: bool,
    pub die_with_parent: bool,
}

/// Stage 1 (a child of the caller in the host's pid namespace): hands `cfg` over and execs
/// the sealed runtime. Returns only on failure.
pub(crate) fn exec_sealed(exe: &OwnedFd, cfg: &InitStageConfig) -> Result<()> {
    let mut words: Vec<u64> = vec![
        cfg.sync_fd as i64 as u64,
        cfg.fifo_fd as i64 as u64,
        cfg.console_fd as i64 as u64,
        cfg.no_pivot as u64,
        cfg.preserve_fds as i64 as u64,
        // Bit 0: hook_sync; bit 1: die_with_parent.
        cfg.hook_sync as u64 | (cfg.die_with_parent as u64) << 1,
        cfg.clone_flags.bits() as i64 as u64,
        cfg.plan.create.bits() as i64 as u64,
        cfg.plan.join.len() as u64,
    ];
    // The compiled seccomp filters' cache: without it the init compiles the profile again
    // (~18 ms for Docker's).
    let cache_fd = crate::security::seccomp_cache_fd().unwrap_or(-1);
    let mut keep = vec![cfg.sync_fd, cfg.fifo_fd, cfg.console_fd, cache_fd];
    keep.extend(3..3 + cfg.preserve_fds.max(0));
    for (t, f) in &cfg.plan.join {
        let idx = JOIN_ORDER.iter().position(|o| o == t).unwrap_or(usize::MAX);
        words.extend([idx as u64, f.as_raw_fd() as u64]);
        keep.push(f.as_raw_fd());
    }
    let rootfs = cfg.rootfs.as_os_str().as_bytes();
    words.extend([
        rootfs.len() as u64,
        cfg.spec_bytes.len() as u64,
        cache_fd as i64 as u64,
        cfg.id.len() as u64,
    ]);
    // SAFETY: memfd_create with a constant name; the fd is ours.
    let fd = unsafe { libc::memfd_create(c"berth-init-stage".as_ptr(), 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    // SAFETY: fresh fd from memfd_create.
    let mut f = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    let head: Vec<u8> = words.iter().flat_map(|w| w.to_ne_bytes()).collect();
    f.write_all(&(words.len() as u64).to_ne_bytes())?;
    f.write_all(&head)?;
    f.write_all(rootfs)?;
    f.write_all(cfg.spec_bytes)?;
    f.write_all(cfg.id.as_bytes())?;
    f.rewind()?;
    keep.push(f.as_raw_fd());
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
    for k in keep.into_iter().filter(|&k| k >= 0) {
        // SAFETY: clearing FD_CLOEXEC on an fd of this (forked, private) fd table.
        unsafe { libc::fcntl(k, libc::F_SETFD, 0) };
    }
    exec_with(exe, INIT_ARGV0, f.as_raw_fd())
}

/// The sealed stage (from the ELF constructor): never returns.
pub(crate) fn stage(cfg_fd: RawFd) -> ! {
    // SAFETY: the memfd stage 1 left us; ours from here.
    let mut f = File::from(unsafe { OwnedFd::from_raw_fd(cfg_fd) });
    let mut data = Vec::new();
    if f.read_to_end(&mut data).is_err() || data.len() < 8 {
        // SAFETY: leave without running anything of the program.
        unsafe { libc::_exit(125) }
    }
    drop(f);
    let word = |i: usize| -> u64 {
        data.get(8 + i * 8..16 + i * 8)
            .map_or(0, |b| u64::from_ne_bytes(b.try_into().unwrap()))
    };
    let nwords = u64::from_ne_bytes(data[..8].try_into().unwrap()) as usize;
    let fd_at = |i: usize| word(i) as i64 as RawFd;
    // SAFETY: the sync socket stage 1 passed on; ours now.
    let sync = sync::SyncPipe::from_fd(unsafe { OwnedFd::from_raw_fd(fd_at(0)) });
    let (spec, rootfs, plan, id) = match decode(&data, nwords, &word) {
        Ok(v) => v,
        Err(e) => fail(&sync, e.to_string()),
    };
    let (fifo_fd, console_fd) = (fd_at(1), fd_at(2));
    let (no_pivot, preserve_fds) = (word(3) != 0, word(4) as i32);
    let (hook_sync, die_with_parent) = (word(5) & 1 != 0, word(5) & 2 != 0);
    let clone_flags = word(6) as i64 as libc::c_long;
    // Joined for our children only: the init is born in it.
    for (t, f) in &plan.join {
        if *t == LinuxNamespaceType::Pid {
            // SAFETY: setns on a namespace fd we hold.
            if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWPID) } != 0 {
                let e = std::io::Error::last_os_error();
                fail(&sync, format!("join pid namespace: {e}"));
            }
        }
    }
    // The cgroup mounts, parsed here (in the host's mount namespace) as the caller had them.
    let _ = cgroups::mounts::mounts();
    // SAFETY: a fork-like clone (no CLONE_VM, no new stack) of this single-threaded process.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (clone_flags | libc::CLONE_PARENT as libc::c_long | libc::SIGCHLD as libc::c_long)
                as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    if pid < 0 {
        let e = std::io::Error::last_os_error();
        fail(&sync, format!("clone container init: {e}"));
    }
    if pid == 0 {
        // As in create: until READY the init dies with its creator (our parent's too).
        // SAFETY: prctl on ourselves.
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) };
        let console = (console_fd >= 0).then(|| {
            // SAFETY: the console socket stage 1 passed on; ours now.
            unsafe { std::os::unix::net::UnixStream::from_raw_fd(console_fd) }
        });
        init::run(init::InitArgs {
            id: &id,
            spec: &spec,
            rootfs: &rootfs,
            plan: &plan,
            sync: &sync,
            fifo_fd: (fifo_fd >= 0).then_some(fifo_fd),
            console: console.as_ref(),
            no_pivot,
            preserve_fds,
            hook_sync,
            die_with_parent,
            procfs_fd: None,
            procfs_sysinfo: None,
        });
    }
    let _ = sync.send(sync::PID, &(pid as i32).to_ne_bytes());
    // SAFETY: leave without running the program's main.
    unsafe { libc::_exit(0) }
}

type Decoded = (Spec, PathBuf, Plan, String);

fn decode(data: &[u8], nwords: usize, word: &dyn Fn(usize) -> u64) -> Result<Decoded> {
    let bad = || Error::other("init stage: bad config");
    let njoin = word(8) as usize;
    if nwords != 9 + 2 * njoin + 4 {
        return Err(bad());
    }
    let mut join = Vec::with_capacity(njoin);
    for j in 0..njoin {
        let t = *JOIN_ORDER.get(word(9 + 2 * j) as usize).ok_or_else(bad)?;
        // SAFETY: a namespace fd stage 1 passed on; ours now.
        join.push((t, unsafe { File::from_raw_fd(word(10 + 2 * j) as RawFd) }));
    }
    let (rlen, slen) = (word(9 + 2 * njoin) as usize, word(10 + 2 * njoin) as usize);
    let cache_fd = word(11 + 2 * njoin) as i64 as RawFd;
    let idlen = word(12 + 2 * njoin) as usize;
    if cache_fd >= 0 {
        crate::security::adopt_seccomp_cache_fd(cache_fd);
    }
    let off = 8 + nwords * 8;
    let rootfs = data.get(off..off + rlen).ok_or_else(bad)?;
    let spec = data.get(off + rlen..off + rlen + slen).ok_or_else(bad)?;
    let id = data
        .get(off + rlen + slen..off + rlen + slen + idlen)
        .ok_or_else(bad)?;
    let id = String::from_utf8(id.to_vec()).map_err(|_| bad())?;
    let spec: Spec =
        serde_json::from_slice(spec).map_err(|e| Error::other(format!("init stage: {e}")))?;
    let rootfs = PathBuf::from(std::ffi::OsStr::from_bytes(rootfs));
    Ok((
        spec,
        rootfs,
        Plan {
            create: CloneFlags::from_bits_retain(word(7) as i64 as libc::c_int),
            join,
        },
        id,
    ))
}
