//! The per-container monitor: a process forked (twice, then `setsid`) from the CLI whose argv
//! reads `berth-monitor <id>`. It creates and starts the container through the runtime library
//! (so it is the init's parent and reaps it), owns its stdio (pipes, or the pty master for
//! `-t`), writes the json-file log, serves attach/wait on `<runroot>/containers/<id>/attach.sock`,
//! records the exit (code, OOMKilled, FinishedAt), applies restart policies and `--rm`, writes
//! events, then exits. Lifecycle waits use a pidfd and poll(2), never sleeps.
//!
//! Wire format on the socket (both ways): frames of an 8-byte header `[kind, 0, 0, 0, len:u32
//! big-endian]` + payload (Docker's stdcopy header). Client → monitor: HELLO `[stdin, stdout,
//! stderr]`, STDIN data, STDIN_EOF, RESIZE `[rows:u16, cols:u16]`. Monitor → client: STDOUT,
//! STDERR, EXIT (JSON `{"StatusCode", "OOMKilled", "Error"}`) then close.

use crate::record::{self, Paths};
use crate::{events, Error, Result, WaitResult};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::{UnixListener, UnixStream};

pub const STDIN: u8 = 0;
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
pub const EXIT: u8 = 3;
pub const STDIN_EOF: u8 = 4;
pub const RESIZE: u8 = 5;
pub const HELLO: u8 = 6;

pub fn write_frame(w: &mut impl Write, kind: u8, data: &[u8]) -> std::io::Result<()> {
    let mut h = [0u8; 8];
    h[0] = kind;
    h[4..].copy_from_slice(&(data.len() as u32).to_be_bytes());
    let mut buf = Vec::with_capacity(8 + data.len());
    buf.extend_from_slice(&h);
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
    let len = u32::from_be_bytes(h[4..].try_into().unwrap()) as usize;
    let mut data = vec![0; len];
    r.read_exact(&mut data)?;
    Ok(Some((h[0], data)))
}

/// What the monitor tells the CLI once the container runs (or failed to).
#[derive(serde::Serialize, serde::Deserialize, Debug)]
struct Status {
    ok: bool,
    pid: i32,
    monitor: i32,
    started_at: String,
    error: String,
}

pub struct Started {
    pub pid: i32,
    pub monitor_pid: i32,
    pub started_at: String,
}

/// An attach client known before the container starts (`start_attached`).
pub struct EarlyClient {
    pub sock: UnixStream,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
}

pub struct Spawn<'a> {
    pub paths: &'a Paths,
    pub id: &'a str,
    pub tty: bool,
    pub open_stdin: bool,
    pub client: Option<EarlyClient>,
}

/// Forks the monitor (double fork + setsid) and returns once the container runs.
pub fn spawn(s: Spawn) -> Result<Started> {
    let (mut rd, wr) = std::io::pipe().map_err(Error::io("pipe"))?;
    // SAFETY: fork; the child only runs our code and leaves with _exit.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(Error::io("fork")(std::io::Error::last_os_error()));
    }
    if pid == 0 {
        drop(rd);
        // SAFETY: second fork; the intermediate child exits at once so the monitor is
        // reparented to init (or the nearest subreaper) and never becomes our zombie.
        let pid2 = unsafe { libc::fork() };
        if pid2 != 0 {
            // SAFETY: leave the intermediate child without running destructors.
            unsafe { libc::_exit(0) }
        }
        // SAFETY: new session, detached from the CLI's terminal and process group.
        unsafe { libc::setsid() };
        let wr: OwnedFd = wr.into();
        let code = run(s, wr);
        // SAFETY: the monitor must never return into the CLI's code.
        unsafe { libc::_exit(code) }
    }
    drop(wr);
    let mut st = 0;
    // SAFETY: reap the intermediate child.
    unsafe { libc::waitpid(pid, &mut st, 0) };
    let mut buf = Vec::new();
    rd.read_to_end(&mut buf)
        .map_err(Error::io("reading monitor status"))?;
    let status: Status = serde_json::from_slice(&buf)
        .map_err(|_| Error::Other("container monitor died during start".into()))?;
    if !status.ok {
        return Err(classify(&status.error));
    }
    Ok(Started {
        pid: status.pid,
        monitor_pid: status.monitor,
        started_at: status.started_at,
    })
}

/// Maps a runtime start error to Docker's exit codes (127 not found, 126 cannot invoke).
pub fn classify(msg: &str) -> Error {
    let full =
        format!("failed to create task for container: OCI runtime create failed: {msg}: unknown");
    if msg.contains("executable file not found") || msg.contains("no such file or directory") {
        Error::CommandNotFound(full)
    } else if msg.contains("permission denied") || msg.contains("is a directory") {
        Error::CannotInvoke(full)
    } else {
        Error::Other(full)
    }
}

/// Makes the monitor show up as `berth-monitor <id>` in ps: comm via PR_SET_NAME, and argv by
/// overwriting the inherited argument area in place (setproctitle's way; PR_SET_MM needs
/// checkpoint/restore privileges many hosts deny). A short original argv truncates the ID.
fn set_title(id: &str) {
    // SAFETY: PR_SET_NAME with a NUL-terminated string.
    unsafe {
        libc::prctl(
            libc::PR_SET_NAME,
            c"berth-monitor".as_ptr() as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return;
    };
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
        return;
    };
    let f: Vec<&str> = rest.split(' ').collect();
    let (Some(Ok(start)), Some(Ok(end))) = (
        f.get(45).map(|s| s.parse::<usize>()),
        f.get(46).map(|s| s.parse::<usize>()),
    ) else {
        return;
    };
    if end <= start + 1 {
        return;
    }
    let title = format!("berth-monitor {id}");
    let len = end - start;
    let n = title.len().min(len - 1);
    // SAFETY: [start, end) is this process's own argument area (on its stack, writable); the
    // original argv strings are not used after the fork.
    unsafe {
        let p = start as *mut u8;
        std::ptr::copy_nonoverlapping(title.as_ptr(), p, n);
        std::ptr::write_bytes(p.add(n), 0, len - n);
    }
}

/// Closes every fd but `keep` and points 0/1/2 at /dev/null, so the monitor holds nothing of
/// the CLI (its pipes to a shell's `$(...)`, the record lock).
fn sanitize_fds(keep: &[RawFd]) {
    let fds: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    for fd in fds {
        if fd > 2 && !keep.contains(&fd) {
            // SAFETY: closing fds inherited from the CLI that nothing in the monitor owns.
            unsafe { libc::close(fd) };
        }
    }
    // SAFETY: open/dup2 on fds 0-2.
    unsafe {
        let n = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if n >= 0 {
            for t in 0..3 {
                libc::dup2(n, t);
            }
            if n > 2 {
                libc::close(n);
            }
        }
    }
}

struct Client {
    sock: UnixStream,
    stdin: bool,
    stdout: bool,
    stderr: bool,
    hello: bool,
}

struct Io {
    /// stdout (or the pty master), stderr (None with a tty).
    out: Option<OwnedFd>,
    err: Option<OwnedFd>,
    stdin: Option<File>,
    master: Option<OwnedFd>,
}

fn pipe2() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two fds we then own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fresh fds from pipe2.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn dup_onto(fd: RawFd, target: RawFd) {
    // SAFETY: dup2 onto a standard fd of this process (the init inherits 0-2).
    unsafe { libc::dup2(fd, target) };
}

/// Creates and starts the container with fresh stdio. Returns the runtime container and the
/// monitor's ends of its stdio.
fn start_container(
    paths: &Paths,
    id: &str,
    tty: bool,
    open_stdin: bool,
) -> Result<(runtime::Container, Io)> {
    let root = runtime::state::StateRoot::new(paths.runtime_root());
    // A previous run's runtime state (restart, start after exit).
    if let Ok(c) = runtime::Container::load(&root, id) {
        let _ = c.delete(true);
    }
    let run_dir = paths.run_dir(id);
    let mut opts = runtime::CreateOptions {
        id: id.to_string(),
        bundle: run_dir.clone(),
        ..Default::default()
    };
    let mut io = Io {
        out: None,
        err: None,
        stdin: None,
        master: None,
    };
    // The runtime connects to the console socket from this process: a short
    // /proc/self/fd path keeps it under the sun_path limit.
    let _dir_fd;
    let console = if tty {
        let p = run_dir.join("console.sock");
        let _ = std::fs::remove_file(&p);
        let (d, short) = short_dir(&p).map_err(Error::io("console socket"))?;
        _dir_fd = d;
        let l = UnixListener::bind(&short).map_err(Error::io("console socket"))?;
        opts.console_socket = Some(short);
        Some(l)
    } else {
        None
    };
    let mut keep = Vec::new();
    if !tty {
        let (or, ow) = pipe2().map_err(Error::io("pipe"))?;
        let (er, ew) = pipe2().map_err(Error::io("pipe"))?;
        dup_onto(ow.as_raw_fd(), 1);
        dup_onto(ew.as_raw_fd(), 2);
        if open_stdin {
            let (ir, iw) = pipe2().map_err(Error::io("pipe"))?;
            dup_onto(ir.as_raw_fd(), 0);
            io.stdin = Some(File::from(iw));
            keep.push(ir);
        }
        io.out = Some(or);
        io.err = Some(er);
        keep.push(ow);
        keep.push(ew);
    }
    let res = runtime::Container::create_and_start(&root, &opts);
    // The container has its copies; the monitor's standard fds go back to /dev/null.
    sanitize_std();
    drop(keep);
    let c = res.map_err(|e| Error::Other(e.to_string()))?;
    if let Some(l) = console {
        let (s, _) = l.accept().map_err(Error::io("console socket accept"))?;
        let master = recv_fd(&s).map_err(Error::io("receiving the pty master"))?;
        let _ = std::fs::remove_file(run_dir.join("console.sock"));
        // SAFETY: dup of the master fd we own, for stdin writes.
        let dup = unsafe { libc::dup(master.as_raw_fd()) };
        if dup >= 0 && open_stdin {
            // SAFETY: fresh fd from dup.
            io.stdin = Some(unsafe { File::from_raw_fd(dup) });
        } else if dup >= 0 {
            // SAFETY: fresh fd from dup, unused.
            unsafe { libc::close(dup) };
        }
        // SAFETY: dup of the master fd for the output side.
        let dup2 = unsafe { libc::dup(master.as_raw_fd()) };
        // SAFETY: fresh fd from dup.
        io.out = Some(unsafe { OwnedFd::from_raw_fd(dup2) });
        io.master = Some(master);
    }
    Ok((c, io))
}

fn sanitize_std() {
    // SAFETY: open/dup2 of /dev/null onto 0-2.
    unsafe {
        let n = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC);
        if n >= 0 {
            for t in 0..3 {
                libc::dup2(n, t);
            }
            libc::close(n);
        }
    }
}

fn recv_fd(s: &UnixStream) -> std::io::Result<OwnedFd> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let mut buf = [0u8; 256];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(
        s.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(std::io::Error::from)?;
    for c in msg.cmsgs().map_err(std::io::Error::from)? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(fd) = fds.first() {
                // SAFETY: the fd was just received and is ours.
                return Ok(unsafe { OwnedFd::from_raw_fd(*fd) });
            }
        }
    }
    Err(std::io::Error::other("no fd received"))
}

fn pidfd_open(pid: i32) -> std::io::Result<OwnedFd> {
    // SAFETY: pidfd_open returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fresh fd.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Waits until `pid` (any process) exits, or `timeout_ms` passes (-1: forever). True if exited.
pub fn wait_pid_exit(pid: i32, timeout_ms: i32) -> bool {
    let Ok(fd) = pidfd_open(pid) else {
        return true;
    };
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        // SAFETY: poll on one valid pollfd.
        let r = unsafe { libc::poll(&mut p, 1, timeout_ms) };
        if r > 0 {
            return true;
        }
        if r == 0 {
            return false;
        }
        if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return true;
        }
    }
}

/// JSON-file log writer (Docker's format), buffering partial lines per stream.
struct Log {
    file: Option<File>,
    partial: [Vec<u8>; 2],
}

impl Log {
    fn write(&mut self, stream: usize, data: &[u8]) {
        let Some(f) = self.file.as_mut() else { return };
        let name = if stream == 0 { "stdout" } else { "stderr" };
        let buf = &mut self.partial[stream];
        buf.extend_from_slice(data);
        let mut out = Vec::new();
        let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        while let Some(pos) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=pos).collect();
            log_line(&mut out, &line, name, &time);
        }
        // Docker splits lines longer than 16 KiB.
        if buf.len() >= 16 * 1024 {
            let line: Vec<u8> = std::mem::take(buf);
            log_line(&mut out, &line, name, &time);
        }
        if !out.is_empty() {
            let _ = f.write_all(&out);
        }
    }
    fn flush(&mut self) {
        for s in 0..2 {
            if !self.partial[s].is_empty() {
                let line = std::mem::take(&mut self.partial[s]);
                let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
                let mut out = Vec::new();
                log_line(
                    &mut out,
                    &line,
                    if s == 0 { "stdout" } else { "stderr" },
                    &time,
                );
                if let Some(f) = self.file.as_mut() {
                    let _ = f.write_all(&out);
                }
            }
        }
    }
}

fn log_line(out: &mut Vec<u8>, line: &[u8], stream: &str, time: &str) {
    #[derive(serde::Serialize)]
    struct L<'a> {
        log: &'a str,
        stream: &'a str,
        time: &'a str,
    }
    let s = String::from_utf8_lossy(line);
    let _ = serde_json::to_writer(
        &mut *out,
        &L {
            log: &s,
            stream,
            time,
        },
    );
    out.push(b'\n');
}

fn report(wr: &mut File, st: &Status) {
    let _ = wr.write_all(&serde_json::to_vec(st).unwrap());
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// The monitor's body; returns its exit code.
/// `<run dir>/monitor.pid`: "PID START_TIME" of the monitor of `id`.
fn monitor_pid_file(paths: &Paths, id: &str) -> std::path::PathBuf {
    paths.run_dir(id).join("monitor.pid")
}

fn write_monitor_pid(paths: &Paths, id: &str) {
    let pid = std::process::id() as i32;
    let start = runtime::state::pid_start_time(pid).unwrap_or(0);
    let _ = std::fs::create_dir_all(paths.run_dir(id));
    let _ = std::fs::write(monitor_pid_file(paths, id), format!("{pid} {start}"));
}

/// Kills and waits for the monitor of `id` named by its pid file, if it still runs (the PID
/// is checked against its start time, so a recycled PID is never signalled).
pub fn stop_recorded_monitor(paths: &Paths, id: &str) {
    let Ok(s) = std::fs::read_to_string(monitor_pid_file(paths, id)) else {
        return;
    };
    let mut it = s.split_whitespace().filter_map(|x| x.parse::<u64>().ok());
    let (Some(pid), Some(start)) = (it.next(), it.next()) else {
        return;
    };
    let pid = pid as i32;
    if pid as u32 == std::process::id() || runtime::state::pid_start_time(pid) != Some(start) {
        return;
    }
    // SAFETY: kill(2) on a PID whose start time matched just above.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    wait_pid_exit(pid, -1);
}

fn run(s: Spawn, status_wr: OwnedFd) -> i32 {
    let paths = s.paths;
    let id = s.id.to_string();
    let mut keep = vec![status_wr.as_raw_fd()];
    if let Some(c) = &s.client {
        keep.push(c.sock.as_raw_fd());
    }
    sanitize_fds(&keep);
    // Before anything else: say who we are, so `rm -f` finds (and stops) a monitor whose
    // starter died before recording it (kill -9 of `berth run` during start).
    write_monitor_pid(paths, &id);
    // The cache dir fd inherited from the CLI was closed with the rest.
    let _ = runtime::security::set_seccomp_cache_dir(&paths.runroot.join("seccomp"));
    set_title(&id);
    // SAFETY: prctl flags on ourselves: orphans of the container (e.g. `--pid host`) are
    // reparented to us and reaped.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    let mut status_wr = Some(File::from(status_wr));

    let sock_path = paths.socket(&id);
    let _ = std::fs::remove_file(&sock_path);
    let listener = match short_path(&sock_path, |p| UnixListener::bind(p)) {
        Ok(l) => l,
        Err(e) => {
            if let Some(w) = status_wr.as_mut() {
                report(
                    w,
                    &Status {
                        ok: false,
                        pid: 0,
                        monitor: 0,
                        started_at: String::new(),
                        error: format!("attach socket {}: {e}", sock_path.display()),
                    },
                );
            }
            return 1;
        }
    };
    let _ = listener.set_nonblocking(true);
    let mut clients: Vec<Client> = Vec::new();
    if let Some(c) = s.client {
        clients.push(Client {
            sock: c.sock,
            stdin: c.stdin,
            stdout: c.stdout,
            stderr: c.stderr,
            hello: true,
        });
    }
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(paths.log_path(&id))
        .ok();
    let mut log = Log {
        file: log_file,
        partial: [Vec::new(), Vec::new()],
    };
    let monitor_pid = std::process::id() as i32;

    loop {
        // The embedded DNS server of user networks listens in the sandbox before the container's
        // process runs (its first lookup must find it) and lives as long as the container.
        let dns = crate::network::monitor_started(
            &crate::network::NetPaths {
                root: &paths.root,
                runroot: &paths.runroot,
            },
            &id,
            0,
        );
        runtime::timing::mark("mon:start_container");
        let (container, mut io) = match start_container(paths, &id, s.tty, s.open_stdin) {
            Ok(x) => x,
            Err(e) => {
                let msg = e.to_string();
                if let Some(mut w) = status_wr.take() {
                    report(
                        &mut w,
                        &Status {
                            ok: false,
                            pid: 0,
                            monitor: monitor_pid,
                            started_at: String::new(),
                            error: msg,
                        },
                    );
                    // The CLI records the failure and cleans up.
                    return 1;
                }
                // A restart failed: record it and stop.
                let code = crate::exit_code_of(&classify(&msg));
                finish(
                    paths,
                    &id,
                    &mut clients,
                    WaitResult {
                        status_code: code,
                        oom_killed: false,
                        error: Some(msg),
                    },
                    false,
                );
                return 0;
            }
        };
        runtime::timing::mark("mon:started");
        let pid = container.pid();
        let started_at = now();
        match status_wr.take() {
            Some(mut w) => report(
                &mut w,
                &Status {
                    ok: true,
                    pid,
                    monitor: monitor_pid,
                    started_at: started_at.clone(),
                    error: String::new(),
                },
            ),
            None => {
                // A restart: the monitor owns the record now.
                let _ = record::update(paths, &id, |r| {
                    r.state.status = "running".into();
                    r.state.running = true;
                    r.state.restarting = false;
                    r.state.pid = pid as i64;
                    r.state.started_at = started_at.clone();
                    r.restart_count += 1;
                    Ok(())
                });
                events::container_event(&paths.root, &id, "start");
            }
        }
        shrink_idle();
        let code = serve(&container, &mut io, &listener, &mut clients, &mut log);
        runtime::timing::mark("mon:exited");
        log.flush();
        let oom = container
            .stats()
            .map(|s| s.oom_kill_count > 0)
            .unwrap_or(false);
        let _ = container.delete(true);
        runtime::timing::mark("mon:runtime_deleted");
        drop(dns);
        drop(io);
        let result = WaitResult {
            status_code: code as i64,
            oom_killed: oom,
            error: None,
        };
        // Restart policy.
        let hc = record::load_host_config(paths, &id).ok();
        let rec = record::load(paths, &id).ok();
        let restart = match (&hc, &rec) {
            (Some(h), Some(r))
                if !h.auto_remove
                    && !r.has_been_manually_stopped
                    && r.state.status != "removing" =>
            {
                let p = &h.restart_policy;
                match p.name.as_str() {
                    "always" | "unless-stopped" => true,
                    "on-failure" => {
                        code != 0
                            && (p.maximum_retry_count <= 0
                                || r.restart_count < p.maximum_retry_count)
                    }
                    _ => false,
                }
            }
            _ => false,
        };
        if restart {
            let _ = record::update(paths, &id, |r| {
                r.state.status = "restarting".into();
                r.state.restarting = true;
                r.state.running = true;
                r.state.exit_code = code as i64;
                r.state.oom_killed = oom;
                r.state.finished_at = now();
                Ok(())
            });
            events::container_event_with(
                &paths.root,
                &id,
                "die",
                &[("exitCode", code.to_string())],
            );
            send_exit(&mut clients, &result);
            continue;
        }
        drop(listener);
        let auto_remove = hc.map(|h| h.auto_remove).unwrap_or(false);
        finish(paths, &id, &mut clients, result, auto_remove);
        return 0;
    }
}

fn send_exit(clients: &mut Vec<Client>, result: &WaitResult) {
    let payload = serde_json::to_vec(&serde_json::json!({
        "StatusCode": result.status_code,
        "OOMKilled": result.oom_killed,
        "Error": result.error,
    }))
    .unwrap();
    for c in clients.iter_mut() {
        let _ = write_frame(&mut c.sock, EXIT, &payload);
    }
    clients.clear();
}

/// The container stopped for good: record it, release its resources, tell the clients.
fn finish(
    paths: &Paths,
    id: &str,
    clients: &mut Vec<Client>,
    result: WaitResult,
    auto_remove: bool,
) {
    // With --rm the record is about to go: no point rewriting it (each rewrite frees a block).
    let _ = (!auto_remove).then(|| {
        record::update(paths, id, |r| {
            r.state.status = "exited".into();
            r.state.running = false;
            r.state.paused = false;
            r.state.restarting = false;
            r.state.pid = 0;
            r.state.exit_code = result.status_code;
            r.state.oom_killed = result.oom_killed;
            if let Some(e) = &result.error {
                r.state.error = e.clone();
            }
            r.state.finished_at = now();
            r.monitor_pid = 0;
            r.monitor_start_time = 0;
            Ok(())
        })
    });
    let _ = std::fs::remove_file(paths.socket(id));
    events::container_event_with(
        &paths.root,
        id,
        "die",
        &[("exitCode", result.status_code.to_string())],
    );
    if auto_remove {
        // Wait for whoever started us to finish recording the start (it holds the record
        // lock until then): a container that exits at once must not be removed under it.
        let _l = record::lock(&paths.dir(id), id).ok();
        runtime::timing::mark("mon:remove");
        crate::release_and_remove(paths, id);
    } else {
        crate::release_resources(paths, id);
    }
    runtime::timing::mark("mon:reply");
    send_exit(clients, &result);
}

/// Gives back memory the idle monitor does not need: one per container, it mostly sleeps in
/// poll(2). It is a fork of the CLI, so its RSS holds the pages the CLI and the container start
/// touched: free heap (returned with malloc_trim) and clean pages of the program and libraries
/// (dropped with MADV_DONTNEED: the page cache keeps them, a later use faults them back in).
/// Only private read-only file mappings without a modified page are dropped, so no relocated
/// or written data is lost.
fn shrink_idle() {
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
        return;
    };
    let mut ranges = Vec::new();
    let mut stack: Option<(usize, usize)> = None;
    let mut cur: Option<(usize, usize)> = None;
    for line in smaps.lines() {
        let mut f = line.split_whitespace();
        let first = f.next().unwrap_or("");
        if let Some((a, b)) = first.split_once('-') {
            let (Ok(start), Ok(end)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
            else {
                cur = None;
                continue;
            };
            let perms = f.next().unwrap_or("");
            let inode = f.nth(2).unwrap_or("0");
            let path = f.next().unwrap_or("");
            if path == "[stack]" {
                stack = Some((start, end));
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
                    ranges.push(r);
                }
            }
        }
    }
    drop(smaps);
    for (start, end) in ranges {
        let (p, len) = (start as *mut libc::c_void, end - start);
        // SAFETY: a private, read-only, file-backed mapping with no anonymous (modified) page:
        // dropping its pages loses nothing, they are read back from the file on next access.
        // MADV_RANDOM stops fault-around from mapping 16 pages back for each one used.
        // (RANDOM first: madvise itself runs from libc's text and faults it back in.)
        unsafe {
            libc::madvise(p, len, libc::MADV_RANDOM);
            libc::madvise(p, len, libc::MADV_DONTNEED);
        }
    }
    // The stack below us (deep CLI and runtime calls before the fork) is unused now.
    let here = 0u8;
    let sp = std::ptr::addr_of!(here) as usize;
    if let Some((start, end)) = stack {
        let top = (sp.saturating_sub(8 * 1024)) & !4095;
        if top > start && top < end {
            // SAFETY: [start, top) lies below the current stack pointer with an 8 KiB margin:
            // no live frame is there; the pages come back zeroed if the stack grows again.
            unsafe { libc::madvise(start as *mut libc::c_void, top - start, libc::MADV_DONTNEED) };
        }
    }
    // SAFETY: malloc_trim only returns free heap memory to the kernel.
    unsafe { libc::malloc_trim(0) };
}

/// Relays output to the log and clients until the init exits; returns its exit code.
fn serve(
    c: &runtime::Container,
    io: &mut Io,
    listener: &UnixListener,
    clients: &mut Vec<Client>,
    log: &mut Log,
) -> i32 {
    let pid = c.pid();
    let pidfd = pidfd_open(pid).ok();
    let mut exited: Option<i32> = None;
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        if exited.is_some() && io.out.is_none() && io.err.is_none() {
            break;
        }
        let mut fds: Vec<libc::pollfd> = Vec::new();
        let pfd = |fd: RawFd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        fds.push(pfd(io.out.as_ref().map_or(-1, |f| f.as_raw_fd())));
        fds.push(pfd(io.err.as_ref().map_or(-1, |f| f.as_raw_fd())));
        fds.push(pfd(if exited.is_none() {
            pidfd.as_ref().map_or(-1, |f| f.as_raw_fd())
        } else {
            -1
        }));
        fds.push(pfd(listener.as_raw_fd()));
        for cl in clients.iter() {
            fds.push(pfd(cl.sock.as_raw_fd()));
        }
        // After the init exited, remaining output is drained without blocking on writers that
        // outlive it (daemons in a --pid host container).
        let timeout = if exited.is_some() { 0 } else { -1 };
        // SAFETY: poll over a vector of valid pollfds.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
        if n < 0 {
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            break;
        }
        if n == 0 && exited.is_some() {
            break;
        }
        for (i, slot) in [(0usize, &mut io.out), (1, &mut io.err)] {
            if fds[i].revents == 0 {
                continue;
            }
            let Some(f) = slot.as_ref() else { continue };
            // SAFETY: read into our buffer from an fd we own.
            let r = unsafe { libc::read(f.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if r <= 0 {
                if r < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                *slot = None;
                continue;
            }
            let data = &buf[..r as usize];
            log.write(i, data);
            let kind = if i == 0 { STDOUT } else { STDERR };
            clients.retain_mut(|cl| {
                if !cl.hello || (kind == STDOUT && !cl.stdout) || (kind == STDERR && !cl.stderr) {
                    return true;
                }
                write_frame(&mut cl.sock, kind, data).is_ok()
            });
        }
        if fds[2].revents != 0 && exited.is_none() {
            let mut st = 0;
            // SAFETY: reaping our own child (the init).
            let r = unsafe { libc::waitpid(pid, &mut st, libc::WNOHANG) };
            if r == pid {
                exited = Some(if libc::WIFEXITED(st) {
                    libc::WEXITSTATUS(st)
                } else if libc::WIFSIGNALED(st) {
                    128 + libc::WTERMSIG(st)
                } else {
                    255
                });
                // Make further reads non-blocking for the drain.
                for f in [&io.out, &io.err].into_iter().flatten() {
                    // SAFETY: fcntl on an fd we own.
                    unsafe {
                        let fl = libc::fcntl(f.as_raw_fd(), libc::F_GETFL);
                        libc::fcntl(f.as_raw_fd(), libc::F_SETFL, fl | libc::O_NONBLOCK);
                    }
                }
                // Reap other children (subreaper orphans) without blocking.
                // SAFETY: waitpid on any child, non-blocking.
                while unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) } > 0 {}
            } else {
                // SAFETY: reap orphans.
                while unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) } > 0 {}
            }
        }
        if fds[3].revents != 0 {
            while let Ok((sock, _)) = listener.accept() {
                let _ = sock.set_nonblocking(false);
                clients.push(Client {
                    sock,
                    stdin: false,
                    stdout: false,
                    stderr: false,
                    hello: false,
                });
            }
        }
        let mut drop_idx = Vec::new();
        for (k, cl) in clients.iter_mut().enumerate() {
            let Some(p) = fds.get(4 + k) else { break };
            if p.revents == 0 {
                continue;
            }
            match read_frame(&mut cl.sock) {
                Ok(Some((HELLO, d))) => {
                    cl.hello = true;
                    cl.stdin = d.first() == Some(&1);
                    cl.stdout = d.get(1) == Some(&1);
                    cl.stderr = d.get(2) == Some(&1);
                }
                Ok(Some((STDIN, d))) if cl.stdin => {
                    if let Some(w) = io.stdin.as_mut() {
                        if w.write_all(&d).is_err() {
                            io.stdin = None;
                        }
                    }
                }
                Ok(Some((STDIN_EOF, _))) if cl.stdin => {
                    // With a tty, EOF is the terminal's ^D; pipes are closed.
                    if io.master.is_some() {
                        if let Some(w) = io.stdin.as_mut() {
                            let _ = w.write_all(&[4]);
                        }
                    } else {
                        io.stdin = None;
                    }
                }
                Ok(Some((RESIZE, d))) if d.len() == 4 => {
                    if let Some(m) = &io.master {
                        let ws = libc::winsize {
                            ws_row: u16::from_be_bytes([d[0], d[1]]),
                            ws_col: u16::from_be_bytes([d[2], d[3]]),
                            ws_xpixel: 0,
                            ws_ypixel: 0,
                        };
                        // SAFETY: TIOCSWINSZ on the pty master with a valid winsize.
                        unsafe { libc::ioctl(m.as_fd().as_raw_fd(), libc::TIOCSWINSZ, &ws) };
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => drop_idx.push(k),
            }
        }
        for k in drop_idx.into_iter().rev() {
            clients.remove(k);
        }
    }
    let _ = c;
    exited.unwrap_or(255)
}

/// Connects to the monitor of `id` with a HELLO; Err when no monitor listens.
pub fn connect(
    paths: &Paths,
    id: &str,
    stdin: bool,
    stdout: bool,
    stderr: bool,
) -> std::io::Result<UnixStream> {
    let mut s = short_path(&paths.socket(id), |p| UnixStream::connect(p))?;
    write_frame(&mut s, HELLO, &[stdin as u8, stdout as u8, stderr as u8])?;
    Ok(s)
}

pub fn parse_exit(d: &[u8]) -> WaitResult {
    let v: serde_json::Value = serde_json::from_slice(d).unwrap_or_default();
    WaitResult {
        status_code: v["StatusCode"].as_i64().unwrap_or(0),
        oom_killed: v["OOMKilled"].as_bool().unwrap_or(false),
        error: v["Error"].as_str().map(String::from),
    }
}

/// Unix socket paths are limited to 108 bytes; deep --runroot paths go through an O_PATH fd of
/// the directory (`/proc/self/fd/N/name`).
pub fn short_path<T>(
    p: &std::path::Path,
    f: impl FnOnce(&std::path::Path) -> std::io::Result<T>,
) -> std::io::Result<T> {
    if p.as_os_str().len() < 100 {
        return f(p);
    }
    let dir = p.parent().unwrap_or(std::path::Path::new("/"));
    let d = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
        .open(dir)?;
    let name = p.file_name().unwrap_or_default();
    let short = std::path::Path::new(&format!("/proc/self/fd/{}", d.as_raw_fd())).join(name);
    f(&short)
}

/// An O_PATH fd of `p`'s directory and the `/proc/self/fd/N/name` path through it (valid while
/// the fd lives).
pub fn short_dir(p: &std::path::Path) -> std::io::Result<(File, std::path::PathBuf)> {
    let dir = p.parent().unwrap_or(std::path::Path::new("/"));
    let d = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
        .open(dir)?;
    let name = p.file_name().unwrap_or_default();
    let short = std::path::Path::new(&format!("/proc/self/fd/{}", d.as_raw_fd())).join(name);
    Ok((d, short))
}
