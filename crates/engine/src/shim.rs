//! `berth-monitor`: the idle half of a container's monitor, small enough to stay resident for
//! every running container (std + libc only).
//!
//! The full monitor (a fork of the `berth` CLI, see monitor.rs) creates and starts the
//! container. Once it has reported the start and the container still runs after a short grace,
//! it execs this binary and hands over, by fd number, everything the serve loop needs (a
//! [`Handoff`] in a memfd named by `$BERTH_MONITOR_HANDOFF`): the init's pid (still our child:
//! execve keeps children and the subreaper flag) and pidfd, the stdout/stderr pipes or the pty
//! master, the stdin write end, the attach listener and clients, the json-file log and its
//! partial lines, an fd of the `berth` executable and the healthcheck timer (health/sched.rs,
//! with a running probe's pipe). This process then relays output to the log and the attach
//! clients, accepts new clients, forwards stdin and resizes, and starts the healthcheck's
//! probes (as `berth-health` processes), exactly like the full monitor's loop. When the init exits it reaps it, drains the output and execs `berth`
//! again (argv0 `berth-monitor`, which the CLI dispatches to `monitor::resume`) with the exit
//! code, the listener, the log and the clients: that records the exit and applies `--rm` and
//! restart policies. Both execs keep argv `berth-monitor <id>`, the pid and its start time, so
//! `ps`, `rm -f` and the record's monitor pid see one process throughout.
//!
//! This file is compiled twice: into the engine (the handoff format, frames and the log writer
//! are shared with monitor.rs, so both write the same bytes) and into the `berth-monitor`
//! binary (its [`main`]); the serve loop both monitors run is relay.rs, compiled the same way.
#![allow(dead_code)] // each of the two crates uses a part of it

use std::ffi::{CString, OsStr, OsString};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use crate::health::sched::Sched;
use crate::relay::{self, Client};

pub const STDIN: u8 = 0;
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
pub const EXIT: u8 = 3;
pub const STDIN_EOF: u8 = 4;
pub const RESIZE: u8 = 5;
pub const HELLO: u8 = 6;

/// The environment variable naming the handoff memfd.
pub const HANDOFF_ENV: &str = "BERTH_MONITOR_HANDOFF";
/// argv[0] of the monitor in both its forms (ps, peers.sh and the CLI's dispatch use it).
pub const NAME: &str = "berth-monitor";

pub fn write_frame(w: &mut impl Write, kind: u8, data: &[u8]) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(8 + data.len());
    buf.extend_from_slice(&[kind, 0, 0, 0]);
    buf.extend_from_slice(&(data.len() as u32).to_be_bytes());
    buf.extend_from_slice(data);
    w.write_all(&buf)
}

/// Reads one frame; None at EOF.
pub fn read_frame(r: &mut impl Read) -> std::io::Result<Option<(u8, Vec<u8>)>> {
    let mut h = [0u8; 8];
    match r.read_exact(&mut h) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes([h[4], h[5], h[6], h[7]]) as usize;
    let mut data = vec![0; len];
    r.read_exact(&mut data)?;
    Ok(Some((h[0], data)))
}

/// The current UTC time as RFC 3339 with nanoseconds (`2024-05-01T12:00:00.123456789Z`), the
/// same text as chrono's `to_rfc3339_opts(SecondsFormat::Nanos, true)`.
pub fn now_rfc3339() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(d.as_secs() as i64, d.subsec_nanos())
}

fn rfc3339(secs: i64, nanos: u32) -> String {
    let (days, sod) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's days_from_civil inverse).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    )
}

/// Appends one json-file log line (Docker's format, byte for byte what serde_json writes for
/// `{"log", "stream", "time"}`: invalid UTF-8 replaced, control characters escaped).
fn log_line(out: &mut Vec<u8>, line: &[u8], stream: &str, time: &str) {
    out.extend_from_slice(b"{\"log\":");
    json_str(out, &String::from_utf8_lossy(line));
    out.extend_from_slice(b",\"stream\":");
    json_str(out, stream);
    out.extend_from_slice(b",\"time\":");
    json_str(out, time);
    out.extend_from_slice(b"}\n");
}

fn json_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    for &b in s.as_bytes() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            0..=0x1f => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 15) as usize]);
            }
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

/// JSON-file log writer (Docker's format), buffering partial lines per stream.
pub struct Log {
    pub file: Option<File>,
    pub partial: [Vec<u8>; 2],
}

impl Log {
    pub fn write(&mut self, stream: usize, data: &[u8]) {
        let Some(f) = self.file.as_mut() else { return };
        let name = if stream == 0 { "stdout" } else { "stderr" };
        let buf = &mut self.partial[stream];
        buf.extend_from_slice(data);
        let mut out = Vec::new();
        let time = now_rfc3339();
        let mut start = 0;
        while let Some(pos) = buf[start..].iter().position(|&b| b == b'\n') {
            log_line(&mut out, &buf[start..=start + pos], name, &time);
            start += pos + 1;
        }
        buf.drain(..start);
        // Docker splits lines longer than 16 KiB.
        if buf.len() >= 16 * 1024 {
            log_line(&mut out, buf, name, &time);
            *buf = Vec::new();
        }
        if !out.is_empty() {
            let _ = f.write_all(&out);
        }
    }

    /// Writes out the unterminated last lines.
    pub fn flush(&mut self) {
        for s in 0..2 {
            if self.partial[s].is_empty() {
                continue;
            }
            let line = std::mem::take(&mut self.partial[s]);
            let mut out = Vec::new();
            let name = if s == 0 { "stdout" } else { "stderr" };
            log_line(&mut out, &line, name, &now_rfc3339());
            if let Some(f) = self.file.as_mut() {
                let _ = f.write_all(&out);
            }
        }
    }
}

/// An attach client as handed over: its socket fd and what it asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandoffClient {
    pub fd: RawFd,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    /// Its HELLO arrived (before that it gets no output).
    pub hello: bool,
}

/// What one monitor image hands to the next across execve. Fds are numbers valid in the new
/// image (-1: none); the receiver owns them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handoff {
    pub id: String,
    pub root: OsString,
    pub runroot: OsString,
    pub tty: bool,
    pub open_stdin: bool,
    /// The container's init (our child).
    pub pid: i32,
    pub pidfd: RawFd,
    /// stdout pipe, or the pty master's output dup.
    pub out: RawFd,
    pub err: RawFd,
    pub stdin: RawFd,
    pub master: RawFd,
    pub listener: RawFd,
    pub log: RawFd,
    /// The `berth` executable, to exec when the init exits.
    pub exe: RawFd,
    pub clients: Vec<HandoffClient>,
    pub partial: [Vec<u8>; 2],
    /// Set by the idle monitor: the init's exit code.
    pub exit: Option<i32>,
    /// The `/dev/fuse` connection of the container's /proc files (-1: none), the listener of
    /// its sysinfo(2) filter (-1: none) and their `procfs::Config` text (procfs_serve.rs).
    pub procfs_fd: RawFd,
    pub sysinfo_fd: RawFd,
    pub procfs: String,
    /// The healthcheck timer (its running probe's pipe among the fds).
    pub health: Option<Sched>,
}

impl Default for Handoff {
    fn default() -> Self {
        Handoff {
            id: String::new(),
            root: OsString::new(),
            runroot: OsString::new(),
            tty: false,
            open_stdin: false,
            pid: 0,
            pidfd: -1,
            out: -1,
            err: -1,
            stdin: -1,
            master: -1,
            listener: -1,
            log: -1,
            exe: -1,
            clients: Vec::new(),
            partial: [Vec::new(), Vec::new()],
            exit: None,
            procfs_fd: -1,
            sysinfo_fd: -1,
            procfs: String::new(),
            health: None,
        }
    }
}

fn put(out: &mut Vec<u8>, key: &str, val: &[u8]) {
    out.extend_from_slice(key.as_bytes());
    out.push(b' ');
    out.extend_from_slice(val.len().to_string().as_bytes());
    out.push(b'\n');
    out.extend_from_slice(val);
    out.push(b'\n');
}

impl Handoff {
    /// Every fd it names.
    pub fn fds(&self) -> Vec<RawFd> {
        let mut v = vec![
            self.pidfd,
            self.out,
            self.err,
            self.stdin,
            self.master,
            self.listener,
            self.log,
            self.exe,
            self.procfs_fd,
            self.sysinfo_fd,
        ];
        v.extend(self.clients.iter().map(|c| c.fd));
        v.extend(self.health.as_ref().map(|h| h.probe_fd));
        v.retain(|&fd| fd >= 0);
        v
    }

    /// `key LEN\nBYTES\n` records: binary-safe (paths, partial log lines) and trivial to parse.
    /// Unknown keys are refused: bump "v" with any change (berth and berth-monitor must match).
    pub fn encode(&self) -> Vec<u8> {
        let mut o = Vec::new();
        let num = |n: i64| n.to_string().into_bytes();
        put(&mut o, "v", b"2");
        put(&mut o, "id", self.id.as_bytes());
        put(&mut o, "root", self.root.as_bytes());
        put(&mut o, "runroot", self.runroot.as_bytes());
        put(&mut o, "tty", &num(self.tty as i64));
        put(&mut o, "open_stdin", &num(self.open_stdin as i64));
        put(&mut o, "pid", &num(self.pid as i64));
        for (k, fd) in [
            ("pidfd", self.pidfd),
            ("out", self.out),
            ("err", self.err),
            ("stdin", self.stdin),
            ("master", self.master),
            ("listener", self.listener),
            ("log", self.log),
            ("exe", self.exe),
        ] {
            put(&mut o, k, &num(fd as i64));
        }
        for c in &self.clients {
            let f = |b: bool| if b { '1' } else { '0' };
            let v = format!(
                "{} {}{}{}{}",
                c.fd,
                f(c.stdin),
                f(c.stdout),
                f(c.stderr),
                f(c.hello)
            );
            put(&mut o, "client", v.as_bytes());
        }
        put(&mut o, "partial0", &self.partial[0]);
        put(&mut o, "partial1", &self.partial[1]);
        if let Some(code) = self.exit {
            put(&mut o, "exit", &num(code as i64));
        }
        if self.procfs_fd >= 0 {
            put(&mut o, "procfs_fd", &num(self.procfs_fd as i64));
            put(&mut o, "sysinfo_fd", &num(self.sysinfo_fd as i64));
            put(&mut o, "procfs", self.procfs.as_bytes());
        }
        if let Some(h) = &self.health {
            put(&mut o, "health", h.encode().as_bytes());
        }
        o
    }

    pub fn decode(mut b: &[u8]) -> Option<Handoff> {
        let mut h = Handoff::default();
        let mut version = false;
        while !b.is_empty() {
            let nl = b.iter().position(|&c| c == b'\n')?;
            let head = std::str::from_utf8(&b[..nl]).ok()?;
            let (key, len) = head.split_once(' ')?;
            let len: usize = len.parse().ok()?;
            let val = b.get(nl + 1..nl + 1 + len)?;
            if b.get(nl + 1 + len) != Some(&b'\n') {
                return None;
            }
            b = &b[nl + 2 + len..];
            let text = std::str::from_utf8(val).ok();
            let int = || text.and_then(|t| t.parse::<i32>().ok());
            match key {
                "v" => version = val == b"2",
                "id" => h.id = text?.to_string(),
                "root" => h.root = OsStr::from_bytes(val).to_os_string(),
                "runroot" => h.runroot = OsStr::from_bytes(val).to_os_string(),
                "tty" => h.tty = int()? != 0,
                "open_stdin" => h.open_stdin = int()? != 0,
                "pid" => h.pid = int()?,
                "pidfd" => h.pidfd = int()?,
                "out" => h.out = int()?,
                "err" => h.err = int()?,
                "stdin" => h.stdin = int()?,
                "master" => h.master = int()?,
                "listener" => h.listener = int()?,
                "log" => h.log = int()?,
                "exe" => h.exe = int()?,
                "client" => {
                    let (fd, f) = text?.split_once(' ')?;
                    let f = f.as_bytes();
                    if f.len() != 4 {
                        return None;
                    }
                    h.clients.push(HandoffClient {
                        fd: fd.parse().ok()?,
                        stdin: f[0] == b'1',
                        stdout: f[1] == b'1',
                        stderr: f[2] == b'1',
                        hello: f[3] == b'1',
                    });
                }
                "partial0" => h.partial[0] = val.to_vec(),
                "partial1" => h.partial[1] = val.to_vec(),
                "exit" => h.exit = Some(int()?),
                "procfs_fd" => h.procfs_fd = int()?,
                "sysinfo_fd" => h.sysinfo_fd = int()?,
                "procfs" => h.procfs = text?.to_string(),
                "health" => h.health = Some(Sched::decode(text?)?),
                _ => return None,
            }
        }
        version.then_some(h)
    }

    /// Reads the handoff named by `$BERTH_MONITOR_HANDOFF` (closing its memfd) and marks every
    /// fd it names close-on-exec: this image owns them now, and whatever it starts later (a
    /// restarted container) must not inherit them.
    pub fn receive() -> std::io::Result<Handoff> {
        let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
        let fd: RawFd = std::env::var(HANDOFF_ENV)
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|&fd| fd > 2)
            .ok_or_else(|| bad("no monitor handoff ($BERTH_MONITOR_HANDOFF)"))?;
        // SAFETY: the fd was handed to this image for this purpose alone; we take ownership.
        let mut f = unsafe { File::from_raw_fd(fd) };
        let mut buf = Vec::new();
        f.read_to_end(&mut buf)?;
        drop(f);
        let h = Handoff::decode(&buf).ok_or_else(|| bad("malformed monitor handoff"))?;
        for fd in h.fds() {
            set_cloexec(fd, true);
        }
        Ok(h)
    }
}

fn set_cloexec(fd: RawFd, on: bool) {
    // SAFETY: fcntl on an fd number; harmless on an fd we do not own (EBADF).
    unsafe {
        let fl = libc::fcntl(fd, libc::F_GETFD);
        if fl >= 0 {
            let nfl = if on {
                fl | libc::FD_CLOEXEC
            } else {
                fl & !libc::FD_CLOEXEC
            };
            libc::fcntl(fd, libc::F_SETFD, nfl);
        }
    }
}

/// What to exec.
pub enum Program<'a> {
    Path(&'a std::path::Path),
    /// An fd of the executable (execveat with AT_EMPTY_PATH): the very file we were started
    /// from, even if its path was replaced or removed since.
    Fd(RawFd),
}

/// Execs `prog` as `berth-monitor <id>` with `h` in a memfd. Every fd but those `h` names (and
/// 0-2) is close-on-exec first, so nothing else survives into the next image. Returns only on
/// failure, with the flags of `h`'s fds restored to close-on-exec.
pub fn exec_handoff(prog: Program, h: &Handoff) -> std::io::Error {
    let err = std::io::Error::last_os_error;
    // SAFETY: memfd_create with a NUL-terminated name; the fd is owned right below.
    let mfd = unsafe { libc::memfd_create(c"berth-handoff".as_ptr(), libc::MFD_CLOEXEC) };
    if mfd < 0 {
        return err();
    }
    // SAFETY: a fresh fd we own.
    let mut mem = unsafe { File::from_raw_fd(mfd) };
    if let Err(e) = mem.write_all(&h.encode()) {
        return e;
    }
    // SAFETY: lseek on our memfd.
    unsafe { libc::lseek(mfd, 0, libc::SEEK_SET) };
    let argv0 = CString::new(NAME).unwrap_or_default();
    let Ok(id) = CString::new(h.id.as_str()) else {
        return std::io::Error::other("container id with a NUL byte");
    };
    let argv = [argv0.as_ptr(), id.as_ptr(), std::ptr::null()];
    let mut env: Vec<CString> = std::env::vars_os()
        .filter(|(k, _)| k != HANDOFF_ENV)
        .filter_map(|(k, v)| {
            let mut kv = k.into_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).ok()
        })
        .collect();
    env.push(CString::new(format!("{HANDOFF_ENV}={mfd}")).unwrap_or_default());
    let mut envp: Vec<*const libc::c_char> = env.iter().map(|c| c.as_ptr()).collect();
    envp.push(std::ptr::null());
    let path = match &prog {
        Program::Path(p) => CString::new(p.as_os_str().as_bytes()).ok(),
        Program::Fd(_) => None,
    };
    // Everything from fd 3 up closes on exec, then the handed-over fds are let through.
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets flags, it closes nothing.
    unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    let mut pass = h.fds();
    pass.push(mfd);
    if let Program::Fd(fd) = prog {
        // The executable's own fd is not needed by the next image.
        pass.retain(|&x| x != fd);
    }
    for &fd in &pass {
        set_cloexec(fd, false);
    }
    // SAFETY: argv and envp are NUL-terminated arrays of pointers to live CStrings.
    unsafe {
        match (&prog, &path) {
            (Program::Path(_), Some(p)) => {
                libc::execve(p.as_ptr(), argv.as_ptr(), envp.as_ptr());
            }
            (Program::Fd(fd), _) => {
                libc::syscall(
                    libc::SYS_execveat,
                    *fd,
                    c"".as_ptr(),
                    argv.as_ptr(),
                    envp.as_ptr(),
                    libc::AT_EMPTY_PATH,
                );
            }
            _ => {}
        }
    }
    let e = err();
    for &fd in &pass {
        set_cloexec(fd, true);
    }
    drop(mem);
    e
}

/// Gives back memory an idle monitor does not need (see [`Shrink`]).
pub fn shrink_idle() {
    Shrink::new().apply(&mut []);
}

/// What an idle monitor can give back: free heap (malloc_trim), the clean pages of its program
/// and libraries (MADV_DONTNEED: the page cache keeps them, a later use faults them back in),
/// and the stack below the caller. Only private read-only file mappings without a modified page
/// are dropped, so no relocated or written data is lost. Found once; applied again whenever the
/// monitor goes quiet after some work (each use faults back 64 KiB windows of text).
pub struct Shrink {
    ranges: Vec<(usize, usize)>,
    stack: Option<(usize, usize)>,
}

impl Shrink {
    pub fn new() -> Shrink {
        let mut s = Shrink {
            ranges: Vec::new(),
            stack: None,
        };
        let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
            return s;
        };
        let mut cur: Option<(usize, usize)> = None;
        for line in smaps.lines() {
            let mut f = line.split_whitespace();
            let first = f.next().unwrap_or("");
            if let Some((a, b)) = first.split_once('-') {
                let (Ok(start), Ok(end)) =
                    (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
                else {
                    cur = None;
                    continue;
                };
                let perms = f.next().unwrap_or("");
                let inode = f.nth(2).unwrap_or("0");
                let path = f.next().unwrap_or("");
                if path == "[stack]" {
                    s.stack = Some((start, end));
                }
                let clean_file = perms.len() == 4
                    && !perms.contains('w')
                    && perms.ends_with('p')
                    && inode != "0"
                    && path.starts_with('/');
                cur = clean_file.then_some((start, end));
            } else if first == "Anonymous:" {
                if let Some(r) = cur.take() {
                    if f.next() == Some("0") {
                        s.ranges.push(r);
                    }
                }
            }
        }
        s
    }

    /// Gives the memory back; `scratch` is a buffer whose contents are dead (its whole pages
    /// are dropped and come back zeroed).
    pub fn apply(&self, scratch: &mut [u8]) {
        // First: malloc_trim and the scratch buffer run code that the text drop then discards.
        // SAFETY: malloc_trim only returns free heap memory to the kernel.
        unsafe { libc::malloc_trim(0) };
        let a = (scratch.as_mut_ptr() as usize + 4095) & !4095;
        let b = (scratch.as_mut_ptr() as usize + scratch.len()) & !4095;
        if b > a {
            // SAFETY: whole pages inside a buffer we hold exclusively and whose contents the
            // caller declared dead; they read back as zeros.
            unsafe { libc::madvise(a as *mut libc::c_void, b - a, libc::MADV_DONTNEED) };
        }
        for &(start, end) in &self.ranges {
            // SAFETY: a private, read-only, file-backed mapping that had no anonymous
            // (modified) page: dropping its pages loses nothing, they are read back from the
            // file on next access. (Kernels before 6.x skipped fault-around with MADV_RANDOM;
            // it stays as a hint against readahead.)
            unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_RANDOM);
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED);
            }
        }
        // The stack below us (deep calls before this point) is unused now.
        let here = 0u8;
        let sp = std::ptr::addr_of!(here) as usize;
        if let Some((start, end)) = self.stack {
            let top = (sp.saturating_sub(8 * 1024)) & !4095;
            if top > start && top < end {
                // SAFETY: [start, top) lies below the current stack pointer with an 8 KiB
                // margin: no live frame is there; the pages come back zeroed if it grows again.
                unsafe {
                    libc::madvise(start as *mut libc::c_void, top - start, libc::MADV_DONTNEED)
                };
            }
        }
    }
}

fn own(fd: RawFd) -> Option<OwnedFd> {
    // SAFETY: a handed-over fd number that this image owns from now on.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
}

/// How long the idle monitor must be quiet before it gives back what its last work used.
const QUIET_MS: i32 = 2000;

/// The idle monitor's serve loop (relay.rs, the full monitor's too); returns the init's exit
/// code once it exited and its output is drained.
fn serve(h: &mut Handoff, log: &mut Log, clients: &mut Vec<Client>, shrink: &Shrink) -> i32 {
    let pidfd = own(h.pidfd);
    let mut io = relay::Io {
        out: own(h.out),
        err: own(h.err),
        stdin: own(h.stdin).map(File::from),
        master: own(h.master),
        procfs: None,
    };
    let sysinfo = own(h.sysinfo_fd).map(|listener| procfs::sysinfo::Notifier { listener });
    if let (Some(fuse), Some(cfg)) = (own(h.procfs_fd), procfs::Config::decode(&h.procfs)) {
        io.procfs = Some(relay::Procfs {
            fuse,
            server: procfs::fuse::Server::new(cfg),
            sysinfo,
        });
    }
    let quiet = |buf: &mut Vec<u8>| shrink.apply(buf);
    let mut health = h.health.take();
    let (exe, id, root, runroot) = (h.exe, &h.id, &h.root, &h.runroot);
    let spawn = |s: &mut Sched| s.spawn(exe, id, root, runroot);
    // The listener is kept as a number: it must stay open (and be handed back) after this.
    let code = relay::serve(
        h.pid,
        pidfd.as_ref().map(|p| p.as_raw_fd()),
        &mut io,
        h.listener,
        clients,
        log,
        relay::Idle::Quiet(QUIET_MS, &quiet),
        health.as_mut().map(|sched| relay::Probes {
            sched,
            spawn: &spawn,
        }),
    );
    h.health = health;
    h.pidfd = -1;
    h.out = -1;
    h.err = -1;
    h.stdin = -1;
    h.master = -1;
    // The container is gone: its /proc files with it.
    h.procfs_fd = -1;
    h.sysinfo_fd = -1;
    drop(io);
    code.unwrap_or(255)
}

/// `berth-monitor`'s body: serve until the init exits, then hand back to `berth`.
pub fn main() -> i32 {
    let mut h = match Handoff::receive() {
        Ok(h) => h,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "{NAME}: {e}");
            return 2;
        }
    };
    // SAFETY: PR_SET_NAME with a NUL-terminated string (execve named us after the file already;
    // this is for a binary installed under another name).
    unsafe { libc::prctl(libc::PR_SET_NAME, c"berth-monitor".as_ptr(), 0, 0, 0) };
    // Not dumpable: processes of the same uid without CAP_SYS_PTRACE (root in a `--pid host`
    // container) cannot reach our fds through /proc/<pid>/fd (the berth executable among
    // them). execve makes the next image dumpable again, as the full monitor always was.
    // SAFETY: prctl flag on ourselves.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    let mut log = Log {
        file: own(h.log).map(File::from),
        partial: std::mem::take(&mut h.partial),
    };
    let mut clients: Vec<Client> = h
        .clients
        .iter()
        .map(|c| Client {
            // SAFETY: a handed-over client socket fd, ours from now on.
            sock: unsafe { File::from_raw_fd(c.fd) },
            stdin: c.stdin,
            stdout: c.stdout,
            stderr: c.stderr,
            hello: c.hello,
        })
        .collect();
    let shrink = Shrink::new();
    let code = serve(&mut h, &mut log, &mut clients, &shrink);
    // Hand everything that is still open back to `berth` with the exit code. The fds stay
    // owned by `log`/`clients` here (into_raw would lose them if the exec failed).
    h.exit = Some(code);
    h.partial = std::mem::take(&mut log.partial);
    h.clients = clients
        .iter()
        .map(|c| HandoffClient {
            fd: c.sock.as_raw_fd(),
            stdin: c.stdin,
            stdout: c.stdout,
            stderr: c.stderr,
            hello: c.hello,
        })
        .collect();
    h.log = log.file.as_ref().map_or(-1, |f| f.as_raw_fd());
    let exe = h.exe;
    h.exe = -1;
    let e = exec_handoff(Program::Fd(exe), &h);
    // `berth` could not be run: the exit cannot be recorded (the record then reads as a
    // monitor that died: "exited", resources released by the next start or rm). Still end the
    // log and tell the clients the exit code.
    let _ = writeln!(std::io::stderr(), "{NAME}: exec berth: {e}");
    log.flush();
    let payload = format!("{{\"StatusCode\":{code},\"OOMKilled\":false,\"Error\":null}}");
    for c in clients.iter_mut() {
        let _ = write_frame(&mut c.sock, EXIT, payload.as_bytes());
    }
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handoff_round_trips() {
        let h = Handoff {
            id: "abc".into(),
            root: OsString::from_vec(b"/var/lib/be\nrth".to_vec()),
            runroot: "/run/berth".into(),
            tty: true,
            open_stdin: false,
            pid: 4242,
            pidfd: 5,
            out: 6,
            err: -1,
            stdin: 7,
            master: 8,
            listener: 9,
            log: 10,
            exe: 11,
            clients: vec![
                HandoffClient {
                    fd: 12,
                    stdin: true,
                    stdout: false,
                    stderr: true,
                    hello: true,
                },
                HandoffClient {
                    fd: 13,
                    stdin: false,
                    stdout: true,
                    stderr: false,
                    hello: false,
                },
            ],
            partial: [b"half a li\n\0ne".to_vec(), Vec::new()],
            exit: Some(137),
            procfs_fd: 15,
            sysinfo_fd: -1,
            procfs: "memory /sys/fs/cgroup/memory/berth/abc\nstart 5\n".into(),
            health: Some({
                let mut s = Sched::new(crate::health::sched::Timing {
                    interval_ns: 1,
                    start_interval_ns: 2,
                    start_period_ns: 3,
                });
                s.probe_fd = 14;
                s
            }),
        };
        let d = Handoff::decode(&h.encode()).unwrap();
        assert_eq!(d, h);
        assert_eq!(d.fds(), vec![5, 6, 7, 8, 9, 10, 11, 15, 12, 13, 14]);
        // Without the /proc files, nothing of them is written.
        let plain = Handoff {
            procfs_fd: -1,
            procfs: String::new(),
            ..h.clone()
        };
        assert!(!String::from_utf8_lossy(&plain.encode()).contains("procfs"));
        let mut e = h.encode();
        e.truncate(e.len() - 3);
        assert_eq!(Handoff::decode(&e), None);
        assert_eq!(Handoff::decode(b"v 1\n1\n"), None);
    }

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc3339(951_782_400, 5), "2000-02-29T00:00:00.000000005Z");
        assert_eq!(
            rfc3339(1_709_251_199, 999_999_999),
            "2024-02-29T23:59:59.999999999Z"
        );
    }
}
