//! Opt-in timeline of the start/stop path for performance work: with `BERTH_TIMING=<file>` in
//! the environment, every process on the path (CLI, monitor, container init until exec)
//! appends `<monotonic ns> <pid> <label>` lines to that file. Without it, `mark` is one cached
//! environment lookup.
//!
//! For crash tests, `BERTH_TIMING_STOP=<label>` also makes the process that first reads it stop
//! itself (SIGSTOP) right after writing that label, so a test's `kill -9` lands exactly there
//! however busy the host is. The variable is taken out of the environment when read and the
//! stop applies only to the reading process (not to a forked monitor, which keeps the cache).

use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::sync::{Mutex, OnceLock};

static PATH: OnceLock<Option<std::ffi::OsString>> = OnceLock::new();
/// The open file and its (dev, ino): kept open so an init can still write after pivot_root;
/// checked before each write because a monitor closes inherited fds and reuses their numbers.
static FILE: Mutex<Option<(std::fs::File, (u64, u64))>> = Mutex::new(None);

fn identity(fd: i32) -> Option<(u64, u64)> {
    // SAFETY: fstat fills the struct; fd may be anything.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    (unsafe { libc::fstat(fd, &mut st) } == 0).then_some((st.st_dev, st.st_ino))
}

/// (label, pid) of `BERTH_TIMING_STOP`: the process `pid` stops itself at `label`.
static STOP: OnceLock<Option<(String, u32)>> = OnceLock::new();

fn stop_at() -> &'static Option<(String, u32)> {
    STOP.get_or_init(|| {
        let label = std::env::var("BERTH_TIMING_STOP").ok()?;
        // Only this process stops: children it execs must not inherit the request. (Read at the
        // first mark, early in main, before any thread that reads the environment exists.)
        std::env::remove_var("BERTH_TIMING_STOP");
        Some((label, std::process::id()))
    })
}

/// Records that this process reached `label` now.
pub fn mark(label: &str) {
    let Some(path) = PATH.get_or_init(|| std::env::var_os("BERTH_TIMING")) else {
        return;
    };
    write_mark(path, label);
    if let Some((stop, pid)) = stop_at() {
        if stop == label && *pid == std::process::id() {
            // SAFETY: raise only signals this process; SIGSTOP stops it until SIGCONT/SIGKILL.
            unsafe { libc::raise(libc::SIGSTOP) };
        }
    }
}

fn write_mark(path: &std::ffi::OsStr, label: &str) {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime fills the timespec we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    let ns = ts.tv_sec as u128 * 1_000_000_000 + ts.tv_nsec as u128;
    let line = format!("{ns} {} {label}\n", std::process::id());
    let mut g = FILE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((f, id)) = g.as_ref() {
        if identity(f.as_raw_fd()) != Some(*id) {
            std::mem::forget(g.take());
        }
    }
    if g.is_none() {
        if let Ok(f) = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
        {
            if let Ok(m) = f.metadata() {
                *g = Some((f, (m.dev(), m.ino())));
            }
        }
    }
    if let Some((f, _)) = g.as_mut() {
        let _ = f.write_all(line.as_bytes());
    }
}
