//! `sysinfo(2)` with the container's numbers: busybox `free` and `uptime`, and many runtimes,
//! ask the kernel instead of reading /proc. The container's init installs a small seccomp
//! filter ([`install_filter`]) that turns only `sysinfo` into a user notification
//! (SECCOMP_RET_USER_NOTIF) and hands the listener to its monitor, which answers each call
//! ([`Notifier::handle`]): it renders the same numbers as /proc/meminfo, /proc/uptime and
//! /proc/loadavg, writes the struct into the caller's memory through `/proc/<pid>/mem` opened
//! *before* checking that the notification is still valid (so a recycled pid can never be
//! written to), and lets the call return 0. Every other syscall passes the filter at once (it
//! is four BPF instructions, stacked under the container's own seccomp profile: a profile
//! that denies `sysinfo` still wins, as ERRNO takes precedence over USER_NOTIF).

use crate::cgroup::{self, Cpu, Memory};
use crate::config::boottime_ns;
use crate::render::{meminfo, meminfo_kb, Renderer};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xc000_003e;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xc000_00b7;

const BPF_LD_W_ABS: u16 = 0x20;
const BPF_JEQ_K: u16 = 0x15;
const BPF_RET_K: u16 = 0x06;
const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;

fn insn(code: u16, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// Installs the filter on the calling thread and returns the listener (close-on-exec).
/// Needs CAP_SYS_ADMIN or no_new_privs, like any seccomp filter.
pub fn install_filter() -> std::io::Result<OwnedFd> {
    // seccomp_data: nr at offset 0, arch at offset 4.
    let prog = [
        insn(BPF_LD_W_ABS, 0, 0, 4),
        insn(BPF_JEQ_K, 1, 0, AUDIT_ARCH),
        insn(BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW),
        insn(BPF_LD_W_ABS, 0, 0, 0),
        insn(BPF_JEQ_K, 0, 1, libc::SYS_sysinfo as u32),
        insn(BPF_RET_K, 0, 0, libc::SECCOMP_RET_USER_NOTIF),
        insn(BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW),
    ];
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: seccomp(2) with a valid program that outlives the call.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            libc::SECCOMP_FILTER_FLAG_NEW_LISTENER,
            &fprog,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a fresh listener fd from seccomp(2).
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// The container's sysinfo: the host's, with its memory, swap, uptime, loads and task count.
pub fn compute(r: &mut Renderer) -> libc::sysinfo {
    // SAFETY: sysinfo fills the struct we pass; zeroed is a valid initial value.
    let mut si: libc::sysinfo = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe { libc::sysinfo(&mut si) };
    let c = r.config.clone();
    let host = std::fs::read_to_string(c.proc_root.join("meminfo")).unwrap_or_default();
    let m = Memory::read(&c);
    let text = meminfo(&host, &m);
    let unit = u64::from(si.mem_unit.max(1));
    let kb = |k: &str| meminfo_kb(&text, k).unwrap_or(0) * 1024 / unit;
    if m.limit.is_some() && text != host {
        si.totalram = kb("MemTotal") as _;
        si.freeram = kb("MemFree") as _;
        si.sharedram = kb("Shmem") as _;
        si.bufferram = 0;
        si.totalswap = kb("SwapTotal") as _;
        si.freeswap = kb("SwapFree") as _;
    }
    let up = boottime_ns().saturating_sub(c.start_ns);
    si.uptime = (up / 1_000_000_000) as _;
    let cpu = Cpu::read(&c);
    let (total, _, wait) = cgroup::tasks_and_wait(&c);
    let loads = r.load_now(cpu.user_ns + cpu.system_ns + wait);
    for (l, v) in si.loads.iter_mut().zip(loads) {
        *l = (v * 65536.0) as _;
    }
    si.procs = total.min(u16::MAX as u64) as u16;
    si
}

/// Answers the notifications of one listener.
pub struct Notifier {
    pub listener: OwnedFd,
}

impl Notifier {
    /// Receives one notification and answers it (the caller polled the listener).
    pub fn handle(&self, r: &mut Renderer) -> crate::fuse::Handled {
        use crate::fuse::Handled;
        let fd = self.listener.as_raw_fd();
        // SAFETY: zeroed is the required initial state of the receive buffer.
        let mut n: libc::seccomp_notif = unsafe { std::mem::zeroed() };
        // SAFETY: ioctl with a buffer of the size the request encodes.
        if unsafe { libc::ioctl(fd, libc::SECCOMP_IOCTL_NOTIF_RECV, &mut n) } != 0 {
            return match std::io::Error::last_os_error().raw_os_error() {
                // ENOENT: the caller went away before we received it.
                Some(libc::EINTR) | Some(libc::ENOENT) => Handled::Nothing,
                _ => Handled::Gone,
            };
        }
        let mut resp = libc::seccomp_notif_resp {
            id: n.id,
            val: 0,
            error: 0,
            flags: 0,
        };
        if n.data.nr as i64 != libc::SYS_sysinfo {
            resp.error = -libc::ENOSYS;
        } else {
            let si = compute(r);
            // The memory file first, then the check that the notification (so the pid) is
            // still the caller's: the fd is bound to that process even if the pid is reused.
            let mem = std::fs::OpenOptions::new()
                .write(true)
                .open(format!("/proc/{}/mem", n.pid));
            // SAFETY: ioctl with a pointer to the u64 id.
            let valid = unsafe { libc::ioctl(fd, libc::SECCOMP_IOCTL_NOTIF_ID_VALID, &n.id) } == 0;
            if !valid {
                return Handled::Nothing;
            }
            let addr = n.data.args[0];
            let written = mem.ok().is_some_and(|f| {
                use std::os::unix::fs::FileExt;
                // SAFETY: viewing the plain-data struct as its bytes.
                let bytes = unsafe {
                    std::slice::from_raw_parts(
                        (&si as *const libc::sysinfo).cast::<u8>(),
                        std::mem::size_of::<libc::sysinfo>(),
                    )
                };
                f.write_all_at(bytes, addr).is_ok()
            });
            if !written {
                resp.error = -libc::EFAULT;
            }
        }
        // SAFETY: ioctl with the response struct; ENOENT means the caller is gone.
        unsafe { libc::ioctl(fd, libc::SECCOMP_IOCTL_NOTIF_SEND, &mut resp) };
        Handled::Request
    }
}
