//! The healthcheck timer of a container's monitor (std + libc only: this file is compiled into
//! the engine and into the small `berth-monitor` binary, like shim.rs).
//!
//! The monitor holds a [`Sched`]: a few integers, and while a probe runs the read end of a pipe.
//! When the next probe is due, it forks and execs `berth` as `berth-health <id> <root>
//! <runroot> <fd>` (the probe process, see probe.rs), which writes one verdict byte to fd and
//! exits. On the pipe's EOF the monitor reaps it and arms the timer again, one interval after
//! the probe ended, as Docker's `monitor` does (`intervalTimer.Reset` after each result). So an
//! idle monitor between probes holds nothing more than it did without a healthcheck.

#![allow(dead_code)] // the engine and berth-monitor each use a part of it

use std::ffi::{CString, OsStr};
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;

/// argv[0] of the probe process (the CLI dispatches on it).
pub const PROBE_NAME: &str = "berth-health";

/// Verdicts the probe writes (the container's health after its result).
pub const V_STARTING: u8 = b's';
pub const V_HEALTHY: u8 = b'h';
pub const V_UNHEALTHY: u8 = b'u';

/// When probes run (Docker's defaults already filled in).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Timing {
    pub interval_ns: u64,
    /// Used while the container is starting within its start period.
    pub start_interval_ns: u64,
    pub start_period_ns: u64,
}

/// The monitor's healthcheck state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sched {
    pub timing: Timing,
    /// CLOCK_MONOTONIC of the container's start.
    pub started_ns: u64,
    /// CLOCK_MONOTONIC when the next probe is due (meaningless while one runs).
    pub next_ns: u64,
    /// The last verdict was "starting".
    pub starting: bool,
    /// The running probe's verdict pipe (-1: none runs).
    pub probe_fd: RawFd,
    pub probe_pid: i32,
    /// The running probe's verdict, once read.
    pub verdict: u8,
}

pub fn mono_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime fills the timespec we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

impl Sched {
    pub fn new(timing: Timing) -> Sched {
        Sched {
            timing,
            started_ns: 0,
            next_ns: u64::MAX,
            starting: true,
            probe_fd: -1,
            probe_pid: 0,
            verdict: 0,
        }
    }

    /// The container (re)started now: "starting", first probe one interval from now. A probe
    /// of the previous run is let go (it records nothing for this run; it is reaped as an
    /// orphan).
    pub fn restart(&mut self) {
        self.forget_probe();
        let now = mono_ns();
        self.started_ns = now;
        self.starting = true;
        self.next_ns = now.saturating_add(self.interval(now));
    }

    fn forget_probe(&mut self) {
        if self.probe_fd >= 0 {
            // SAFETY: closing the pipe end this state owns.
            unsafe { libc::close(self.probe_fd) };
        }
        self.probe_fd = -1;
        self.probe_pid = 0;
        self.verdict = 0;
    }

    /// Docker's `getInterval`: the start interval while starting within the start period.
    fn interval(&self, now: u64) -> u64 {
        let t = &self.timing;
        if now.saturating_sub(self.started_ns) < t.start_period_ns && self.starting {
            t.start_interval_ns
        } else {
            t.interval_ns
        }
    }

    /// The fd to poll for the running probe's verdict (-1: none).
    pub fn poll_fd(&self) -> RawFd {
        self.probe_fd
    }

    /// Milliseconds until the next probe is due (rounded up), None while one runs.
    pub fn timeout_ms(&self) -> Option<i32> {
        if self.probe_fd >= 0 || self.next_ns == u64::MAX {
            return None;
        }
        let left = self.next_ns.saturating_sub(mono_ns());
        Some(left.div_ceil(1_000_000).min(i32::MAX as u64) as i32)
    }

    /// Whether a probe is due now.
    pub fn due(&self) -> bool {
        self.probe_fd < 0 && self.next_ns != u64::MAX && mono_ns() >= self.next_ns
    }

    /// Poll timeout combined with another (-1: none).
    pub fn min_timeout(&self, other: i32) -> i32 {
        match (self.timeout_ms(), other) {
            (None, o) => o,
            (Some(t), -1) => t,
            (Some(t), o) => t.min(o),
        }
    }

    /// Starts the probe process from `exe` (an fd of the `berth` executable). On failure the
    /// probe is skipped and the next one scheduled.
    pub fn spawn(&mut self, exe: RawFd, id: &str, root: &OsStr, runroot: &OsStr) {
        let now = mono_ns();
        if spawn_probe(self, exe, id, root, runroot).is_err() {
            self.next_ns = now.saturating_add(self.interval(now));
        }
    }

    /// The probe's pipe is readable: keeps its verdict byte; at EOF (the probe exited) reaps
    /// it and arms the timer. Returns true when the probe finished.
    pub fn on_readable(&mut self) -> bool {
        let mut b = [0u8; 8];
        // SAFETY: read into our buffer from the pipe end we own.
        let r = unsafe { libc::read(self.probe_fd, b.as_mut_ptr().cast(), b.len()) };
        if r > 0 {
            self.verdict = b[r as usize - 1];
            return false;
        }
        if r < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            return false;
        }
        let pid = self.probe_pid;
        let verdict = self.verdict;
        self.forget_probe();
        if pid > 0 {
            // The pipe's last writer was the probe, which is exiting: reap it (ECHILD if an
            // orphan reaper got it first).
            loop {
                // SAFETY: waiting for our own child.
                let w = unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
                if w >= 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                    break;
                }
            }
        }
        match verdict {
            V_STARTING => self.starting = true,
            V_HEALTHY | V_UNHEALTHY => self.starting = false,
            _ => {}
        }
        let now = mono_ns();
        self.next_ns = now.saturating_add(self.interval(now));
        true
    }

    /// `a b c d e f g h` for the monitor handoff.
    pub fn encode(&self) -> String {
        format!(
            "{} {} {} {} {} {} {} {}",
            self.timing.interval_ns,
            self.timing.start_interval_ns,
            self.timing.start_period_ns,
            self.started_ns,
            self.next_ns,
            self.starting as u8,
            self.probe_fd,
            self.probe_pid
        )
    }

    pub fn decode(s: &str) -> Option<Sched> {
        let v: Vec<&str> = s.split(' ').collect();
        if v.len() != 8 {
            return None;
        }
        let u = |i: usize| v[i].parse::<u64>().ok();
        Some(Sched {
            timing: Timing {
                interval_ns: u(0)?,
                start_interval_ns: u(1)?,
                start_period_ns: u(2)?,
            },
            started_ns: u(3)?,
            next_ns: u(4)?,
            starting: u(5)? != 0,
            probe_fd: v[6].parse().ok()?,
            probe_pid: v[7].parse().ok()?,
            verdict: 0,
        })
    }
}

fn spawn_probe(
    s: &mut Sched,
    exe: RawFd,
    id: &str,
    root: &OsStr,
    runroot: &OsStr,
) -> std::io::Result<()> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two fds we then own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let (rd, wr) = (fds[0], fds[1]);
    // Everything the child needs is made before the fork (it only makes syscalls).
    let c = |b: &[u8]| CString::new(b).unwrap_or_default();
    let args = [
        c(PROBE_NAME.as_bytes()),
        c(id.as_bytes()),
        c(root.as_bytes()),
        c(runroot.as_bytes()),
        c(wr.to_string().as_bytes()),
    ];
    let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let env: Vec<CString> = std::env::vars_os()
        .filter(|(k, _)| k != "BERTH_MONITOR_HANDOFF")
        .filter_map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).ok()
        })
        .collect();
    let mut envp: Vec<*const libc::c_char> = env.iter().map(|e| e.as_ptr()).collect();
    envp.push(std::ptr::null());
    // SAFETY: fork; the child only makes async-signal-safe syscalls and leaves by exec/_exit.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: in the child: the write end is let through the exec, nothing else of ours
        // (every fd of the monitor is close-on-exec); then exec the probe or give up.
        unsafe {
            libc::fcntl(wr, libc::F_SETFD, 0);
            libc::syscall(
                libc::SYS_execveat,
                exe,
                c"".as_ptr(),
                argv.as_ptr(),
                envp.as_ptr(),
                libc::AT_EMPTY_PATH,
            );
            libc::_exit(127);
        }
    }
    let err = std::io::Error::last_os_error();
    // SAFETY: our copy of the write end: the child has its own.
    unsafe { libc::close(wr) };
    if pid < 0 {
        // SAFETY: the read end we own.
        unsafe { libc::close(rd) };
        return Err(err);
    }
    s.probe_fd = rd;
    s.probe_pid = pid;
    s.verdict = 0;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_for_the_handoff() {
        let mut s = Sched::new(Timing {
            interval_ns: 1,
            start_interval_ns: 2,
            start_period_ns: 3,
        });
        s.started_ns = 4;
        s.next_ns = 5;
        s.probe_fd = 6;
        s.probe_pid = 7;
        assert_eq!(Sched::decode(&s.encode()), Some(s));
        assert_eq!(Sched::decode("1 2 3"), None);
    }

    #[test]
    fn start_interval_only_while_starting_in_the_start_period() {
        let mut s = Sched::new(Timing {
            interval_ns: 10,
            start_interval_ns: 3,
            start_period_ns: 100,
        });
        s.started_ns = 1000;
        assert_eq!(s.interval(1050), 3);
        assert_eq!(s.interval(1100), 10);
        s.starting = false;
        assert_eq!(s.interval(1050), 10);
    }
}
