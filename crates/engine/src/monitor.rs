//! The per-container monitor: a process forked (twice, then `setsid`) from the CLI whose argv
//! reads `berth-monitor <id>`. It creates and starts the container through the runtime library
//! (so it is the init's parent and reaps it), records the start before it replies to its
//! starter (start_record.rs), owns its stdio (pipes, or the pty master for
//! `-t`), writes the json-file log, serves attach/wait on `<runroot>/containers/<id>/attach.sock`,
//! records the exit (code, OOMKilled, FinishedAt), applies restart policies and `--rm`, writes
//! events, then exits. Lifecycle waits use a pidfd and poll(2), never sleeps.
//!
//! A container still running [`IDLE_GRACE`] after its start is served by the small
//! `berth-monitor` binary instead (see shim.rs): this process execs it with its fds, and it
//! execs `berth` again when the container exits ([`resume`]), so the ending (and a restart,
//! which may shrink again) runs here. Same process throughout: pid, start time and argv stay.
//! Without that binary, or with the embedded DNS of user networks (threads of this process),
//! the monitor stays as it is.
//!
//! The container lives no longer than its monitor: the init is created from this process's
//! main thread with `die_with_parent` (PR_SET_PDEATHSIG = SIGKILL for its whole life), so a
//! monitor killed with SIGKILL takes its container with it, and the next berth command that
//! reads the record settles it (exit 137, restart policy, `--rm`): see orphan.rs. Hence the
//! init must only ever be created from the main thread, which must outlive it.
//!
//! Wire format on the socket (both ways): frames of an 8-byte header `[kind, 0, 0, 0, len:u32
//! big-endian]` + payload (Docker's stdcopy header). Client → monitor: HELLO `[stdin, stdout,
//! stderr]`, STDIN data, STDIN_EOF, RESIZE `[rows:u16, cols:u16]`. Monitor → client: STDOUT,
//! STDERR, EXIT (JSON `{"StatusCode", "OOMKilled", "Error"}`) then close.

use crate::record::{self, Paths};
use crate::types::ContainerStatus;
use crate::{events, Error, HostConfig, Result, WaitResult};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::health::sched::{Sched, Timing};
use crate::relay::{self, Client, Io};
use crate::shim::{self, Log};
pub use crate::shim::{
    read_frame, write_frame, EXIT, HELLO, RESIZE, STDERR, STDIN, STDIN_EOF, STDOUT,
};
use crate::start_record::Starter;

/// What the monitor tells the CLI once the container runs (or failed to).
#[derive(serde::Serialize, serde::Deserialize, Debug)]
struct Status {
    ok: bool,
    pid: i32,
    monitor: i32,
    /// The monitor's start time (field 22 of its /proc stat), for the record.
    #[serde(default)]
    monitor_start: u64,
    started_at: String,
    error: String,
}

pub struct Started {
    pub pid: i32,
    pub monitor_pid: i32,
    pub monitor_start_time: u64,
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
    /// The container may be on a network with the embedded DNS (a user network): only then
    /// does the monitor look its endpoints up.
    pub dns: bool,
    /// The starter's record lock: the monitor holds it too until it recorded the start (see
    /// start_record.rs), so a reader that takes the lock after the starter's death finds the
    /// record final, and an `rm -f` finds the monitor (its pid file is written first).
    pub record_lock: RawFd,
    /// The record as the starter prepared it: the monitor records the start in it.
    pub record: &'a crate::record::Record,
    /// The spec just written to the bundle (the monitor, a fork, has it in memory already).
    pub spec: (serde_json::Value, Vec<u8>),
    /// The healthcheck's timer settings, if the container has a probe.
    pub health: Option<Timing>,
}

/// Forks the monitor (one fork + setsid) and returns once the container runs.
///
/// No double fork: the monitor stays our child only while this short-lived CLI lives (it
/// waits for the monitor's reply and, attached, for the container's exit, by which time the
/// monitor is ending too); when we exit it is reparented to init or the nearest subreaper.
/// Why [`spawn`] failed; `recorded`: the monitor recorded the failure and released what the
/// start made (else the starter must).
pub struct SpawnError {
    pub error: Error,
    pub recorded: bool,
}

pub fn spawn(s: Spawn) -> std::result::Result<Started, SpawnError> {
    let unrecorded = |error| SpawnError {
        error,
        recorded: false,
    };
    spawn_inner(s).map_err(|e| match e {
        Ok(error) => SpawnError {
            error,
            recorded: true,
        },
        Err(e) => unrecorded(e),
    })
}

/// [`spawn`]; errors: Ok(the monitor's, recorded by it), Err(ours).
fn spawn_inner(s: Spawn) -> std::result::Result<Started, Result<Error>> {
    let (mut rd, wr) = std::io::pipe().map_err(|e| Err(Error::io("pipe")(e)))?;
    // SAFETY: fork; the child only runs our code and leaves with _exit.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(Err(Error::io("fork")(std::io::Error::last_os_error())));
    }
    if pid == 0 {
        crate::fork_heap::enter();
        drop(rd);
        // SAFETY: new session, detached from the CLI's terminal and process group.
        unsafe { libc::setsid() };
        let wr: OwnedFd = wr.into();
        let code = run(s, wr);
        // SAFETY: the monitor must never return into the CLI's code.
        unsafe { libc::_exit(code) }
    }
    drop(wr);
    // One line, read up to its newline rather than to EOF: the container's init holds a copy
    // of the write end until its exec.
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while buf.last() != Some(&b'\n') {
        match rd.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Err(Error::io("reading monitor status")(e))),
        }
    }
    runtime::timing::mark("eng:status");
    let status: Status = serde_json::from_slice(&buf)
        .map_err(|_| Err(Error::Other("container monitor died during start".into())))?;
    if !status.ok {
        return Err(Ok(classify(&status.error)));
    }
    Ok(Started {
        pid: status.pid,
        monitor_pid: status.monitor,
        monitor_start_time: status.monitor_start,
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
/// `stat` is this process's /proc stat if already read (its argument area does not change).
fn set_title(id: &str, stat: Option<&str>) {
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
    let read;
    let stat = match stat {
        Some(s) => s,
        None => match runtime::state::read_proc_stat("/proc/self/stat") {
            Some(s) => {
                read = s;
                &read
            }
            None => return,
        },
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
    let mut keep: Vec<RawFd> = keep.iter().copied().filter(|&f| f > 2).collect();
    keep.sort_unstable();
    let mut from: u32 = 3;
    for k in keep.iter().map(|&k| k as u32).chain([u32::MAX]) {
        if k > from {
            // SAFETY: closes fds inherited from the CLI that nothing in the monitor owns (the
            // gaps between the kept ones); close_range(2) only affects the fd table.
            unsafe { libc::syscall(libc::SYS_close_range, from, k - 1, 0u32) };
        }
        from = k.saturating_add(1);
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
    spec: Option<(serde_json::Value, Vec<u8>)>,
) -> Result<(runtime::Container, Io)> {
    let root = runtime::state::StateRoot::new(paths.runtime_root());
    // A previous run's runtime state (restart, start after exit).
    if let Ok(c) = runtime::Container::load(&root, id) {
        let _ = c.delete(true);
    }
    let run_dir = paths.run_dir(id);
    // The container's /proc files: served from a thread while the init mounts them (a
    // restart's spec is the bundle's), then by the relay loop.
    let bundle_spec: serde_json::Value;
    let spec_ref = match &spec {
        Some((v, _)) => v,
        None => {
            bundle_spec = std::fs::read(run_dir.join("config.json"))
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_default();
            &bundle_spec
        }
    };
    let procfs = crate::procfs_serve::Running::start(spec_ref, id)
        .map_err(|e| Error::Other(format!("the container's /proc files: {e}")))?;
    let mut opts = runtime::CreateOptions {
        id: id.to_string(),
        bundle: run_dir.clone(),
        // Built as JSON by the starter (whose fork we are): converted here, not read back.
        preloaded: spec.and_then(|(value, bytes)| {
            let parsed = serde_json::from_value(value).ok()?;
            Some(std::sync::Arc::new((parsed, bytes)))
        }),
        // A dead monitor means a dead container (see orphan.rs).
        die_with_parent: true,
        procfs_fd: procfs.as_ref().and_then(|p| p.context_fd()),
        procfs_sysinfo: procfs.as_ref().and_then(|p| p.sysinfo_sock()),
        ..Default::default()
    };
    let mut io = Io::default();
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
    io.procfs = procfs.map(|p| p.into_relay());
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
    match pidfd_open(pid) {
        Ok(fd) => wait_pidfd(&fd, timeout_ms),
        Err(_) => true,
    }
}

/// [`wait_pid_exit`] for a process already held by a pidfd.
fn wait_pidfd(fd: &OwnedFd, timeout_ms: i32) -> bool {
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

/// One JSON line (JSON escapes newlines inside strings), in one write.
fn report(wr: &mut File, st: &Status) {
    let mut line = serde_json::to_vec(st).unwrap();
    line.push(b'\n');
    let _ = wr.write_all(&line);
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// The monitor's body; returns its exit code.
/// `<run dir>/monitor.pid`: "PID START_TIME" of the monitor of `id`.
fn monitor_pid_file(paths: &Paths, id: &str) -> std::path::PathBuf {
    paths.run_dir(id).join("monitor.pid")
}

/// This monitor's start time, reported to the starter for the record.
static MONITOR_START: AtomicU64 = AtomicU64::new(0);

/// Writes the pid file from this process's /proc `stat` text (None if it could not be read).
fn write_monitor_pid(paths: &Paths, id: &str, stat: Option<&str>) {
    let pid = std::process::id() as i32;
    let start = stat.and_then(runtime::state::stat_start_time).unwrap_or(0);
    MONITOR_START.store(start, Ordering::Relaxed);
    let file = monitor_pid_file(paths, id);
    let text = format!("{pid} {start}");
    if std::fs::write(&file, &text).is_err() {
        // The run dir is made by the starter; only a torn state lacks it.
        let _ = std::fs::create_dir_all(paths.run_dir(id));
        let _ = std::fs::write(&file, &text);
    }
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
    // Its children too: a container init still being set up is not yet where `rm` finds the
    // container's processes (its cgroups, the runtime state); it dies with the monitor
    // (PDEATHSIG), but maybe not before `rm` is done. Pidfds first, so no PID is reused.
    let children: Vec<OwnedFd> =
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|c| c.parse::<i32>().ok())
            .filter_map(|c| pidfd_open(c).ok())
            .collect();
    // SAFETY: kill(2) on a PID whose start time matched just above.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    wait_pid_exit(pid, -1);
    for c in children {
        // SAFETY: pidfd_send_signal on a pidfd we own; no siginfo.
        unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                c.as_raw_fd(),
                libc::SIGKILL,
                std::ptr::null::<libc::siginfo_t>(),
                0u32,
            )
        };
        wait_pidfd(&c, -1);
    }
}

fn run(s: Spawn, status_wr: OwnedFd) -> i32 {
    let paths = s.paths;
    let id = s.id.to_string();
    runtime::timing::mark("mon:forked");
    let mut keep = vec![status_wr.as_raw_fd(), s.record_lock];
    if let Some(c) = &s.client {
        keep.push(c.sock.as_raw_fd());
    }
    sanitize_fds(&keep);
    runtime::timing::mark("mon:sanitized");
    // Before anything else: say who we are, so `rm -f` finds (and stops) a monitor whose
    // starter died before recording it (kill -9 of `berth run` during start). Then let go of
    // the record lock (the starter still holds it until it recorded the start).
    let stat = runtime::state::read_proc_stat("/proc/self/stat");
    write_monitor_pid(paths, &id, stat.as_deref());
    // Our copy of the record lock, held until the start is recorded (start_record.rs).
    let starter = Starter {
        record: s.record.clone(),
        // SAFETY: our copy of the inherited lock fd; nothing else in this process owns it.
        lock: unsafe { OwnedFd::from_raw_fd(s.record_lock) },
    };
    runtime::timing::mark("mon:pidfile");
    // The cache dir fd inherited from the CLI was closed with the rest.
    let _ = runtime::security::set_seccomp_cache_dir(&paths.runroot.join("seccomp"));
    set_title(&id, stat.as_deref());
    // SAFETY: prctl flags on ourselves: orphans of the container (e.g. `--pid host`) are
    // reparented to us and reaped. The flag survives the execs of the handoff.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    let mut status_wr = File::from(status_wr);
    runtime::timing::mark("mon:titled");

    let sock_path = paths.socket(&id);
    let _ = std::fs::remove_file(&sock_path);
    let listener = match short_path(&sock_path, |p| UnixListener::bind(p)) {
        Ok(l) => l,
        Err(e) => {
            let error = format!("attach socket {}: {e}", sock_path.display());
            starter.failed(paths, &classify(&error));
            report(
                &mut status_wr,
                &Status {
                    ok: false,
                    pid: 0,
                    monitor: 0,
                    monitor_start: 0,
                    started_at: String::new(),
                    error,
                },
            );
            return 1;
        }
    };
    let _ = listener.set_nonblocking(true);
    runtime::timing::mark("mon:listening");
    let mut clients: Vec<Client> = Vec::new();
    if let Some(c) = s.client {
        clients.push(Client {
            sock: File::from(OwnedFd::from(c.sock)),
            stdin: c.stdin,
            stdout: c.stdout,
            stderr: c.stderr,
            hello: true,
        });
    }
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(crate::perms::LOG)
        .open(paths.log_path(&id))
        .ok();
    let log = Log {
        file: log_file,
        partial: [Vec::new(), Vec::new()],
    };
    let m = Monitor {
        paths,
        id,
        tty: s.tty,
        open_stdin: s.open_stdin,
        dns: s.dns,
        listener,
        clients,
        log,
        mnt_ns: None,
        spec: Some(s.spec),
        health: s.health.map(Sched::new),
    };
    lifecycle(m, Some((status_wr, starter)), None)
}

/// What a monitor holds between container runs.
struct Monitor<'a> {
    paths: &'a Paths,
    id: String,
    tty: bool,
    open_stdin: bool,
    /// See [`Spawn::dns`].
    dns: bool,
    listener: UnixListener,
    clients: Vec<Client>,
    log: Log,
    /// The container's mount namespace, held while it runs: when its init exits, the kernel
    /// then skips tearing down its ~50 mounts before telling us (exit_task_namespaces runs
    /// before the exit notification); we let it go once the exit is reported.
    mnt_ns: Option<File>,
    /// The first start's spec (restarts read the bundle's config.json).
    spec: Option<(serde_json::Value, Vec<u8>)>,
    /// The healthcheck timer (health/sched.rs).
    health: Option<Sched>,
}

/// How long a started container must still run before its monitor shrinks into
/// `berth-monitor`: short-lived containers (`run --rm true`) never pay for the two execs.
const IDLE_GRACE: std::time::Duration = std::time::Duration::from_millis(15);

/// The `berth-monitor` binary next to ours, if installed.
fn idle_monitor_path() -> Option<std::path::PathBuf> {
    let p = std::env::current_exe().ok()?.with_file_name(shim::NAME);
    p.is_file().then_some(p)
}

/// Starts the container (again, for restarts) and serves it until it stops for good. With
/// `resumed` the container's run already ended under `berth-monitor` with that exit code: its
/// ending (log, runtime state, restart policy, `--rm`) is done here.
fn lifecycle(
    mut m: Monitor,
    mut status_wr: Option<(File, Starter)>,
    mut resumed: Option<i32>,
) -> i32 {
    let paths = m.paths;
    let id = m.id.clone();
    let monitor_pid = std::process::id() as i32;
    loop {
        let (code, container, io, dns) = if let Some(code) = resumed.take() {
            let rt = runtime::state::StateRoot::new(paths.runtime_root());
            (code, runtime::Container::load(&rt, &id).ok(), None, None)
        } else {
            // The embedded DNS server of user networks listens in the sandbox before the
            // container's process runs (its first lookup must find it) and lives as long as
            // the container.
            let dns = m.dns.then(|| {
                crate::network::monitor_started(
                    &crate::network::NetPaths {
                        root: &paths.root,
                        runroot: &paths.runroot,
                    },
                    &id,
                    0,
                )
            });
            let dns = dns.flatten();
            if dns.is_some() {
                // A monitor with the DNS server stays for the container's life.
                crate::fork_heap::leave();
            }
            // Restarts look again (networks may have been connected meanwhile).
            m.dns = true;
            runtime::timing::mark("mon:start_container");
            let spec = m.spec.take();
            let (container, mut io) = match start_container(paths, &id, m.tty, m.open_stdin, spec) {
                Ok(x) => x,
                Err(e) => {
                    let msg = e.to_string();
                    if let Some((mut w, starter)) = status_wr.take() {
                        // Recorded before the reply: the starter may be dead already.
                        starter.failed(paths, &classify(&msg));
                        report(
                            &mut w,
                            &Status {
                                ok: false,
                                pid: 0,
                                monitor: monitor_pid,
                                monitor_start: MONITOR_START.load(Ordering::Relaxed),
                                started_at: String::new(),
                                error: msg,
                            },
                        );
                        return 1;
                    }
                    // A restart failed: record it and stop.
                    let code = crate::exit_code_of(&classify(&msg));
                    finish(
                        paths,
                        &id,
                        &mut m.clients,
                        WaitResult {
                            status_code: code,
                            oom_killed: false,
                            error: Some(msg),
                        },
                        None,
                        None,
                        None,
                    );
                    return 0;
                }
            };
            runtime::timing::mark("mon:started");
            let pid = container.pid();
            m.mnt_ns = File::open(format!("/proc/{pid}/ns/mnt")).ok();
            let started_at = now();
            if let Some(h) = m.health.as_mut() {
                h.restart();
            }
            match status_wr.take() {
                Some((mut w, starter)) => {
                    // Recorded before the reply, so a starter killed around it leaves the
                    // truth (start_record.rs).
                    let start = MONITOR_START.load(Ordering::Relaxed);
                    let recorded = starter.started(paths, pid, &started_at, monitor_pid, start);
                    if let Err(e) = recorded {
                        // Not recorded: not running either (the release's cgroup kill ends
                        // what the kill here missed).
                        let msg = format!("recording the start: {e}");
                        let _ = container.kill(nix::sys::signal::Signal::SIGKILL, true);
                        starter.failed(paths, &Error::Other(msg.clone()));
                        report(
                            &mut w,
                            &Status {
                                ok: false,
                                pid: 0,
                                monitor: monitor_pid,
                                monitor_start: start,
                                started_at: String::new(),
                                error: msg,
                            },
                        );
                        return 1;
                    }
                    // The record is final: the lock goes (the starter still holds its copy).
                    drop(starter);
                    report(
                        &mut w,
                        &Status {
                            ok: true,
                            pid,
                            monitor: monitor_pid,
                            monitor_start: MONITOR_START.load(Ordering::Relaxed),
                            started_at: started_at.clone(),
                            error: String::new(),
                        },
                    );
                    drop(w);
                    runtime::timing::mark("mon:reported");
                }
                None => {
                    // A restart: the monitor owns the record now.
                    let _ = record::update(paths, &id, |r| {
                        r.state.status = ContainerStatus::Running;
                        r.state.running = true;
                        r.state.restarting = false;
                        r.state.pid = pid as i64;
                        r.state.started_at = started_at.clone();
                        r.state.health = crate::health::on_start(
                            r.config.healthcheck.as_ref(),
                            r.state.health.take(),
                        );
                        r.restart_count += 1;
                        Ok(())
                    });
                    events::container_event(&paths.root, &id, "start");
                }
            }
            // The embedded DNS runs threads in this process: such a monitor stays as it is.
            let idle = if dns.is_none() {
                idle_monitor_path()
            } else {
                None
            };
            let code = serve_then_shrink(&mut m, pid, &mut io, idle.as_deref());
            (code, Some(container), Some(io), dns)
        };
        runtime::timing::mark("mon:exited");
        m.log.flush();
        let oom = container
            .as_ref()
            .and_then(|c| c.oom_kill_count().ok())
            .is_some_and(|n| n > 0);
        // The runtime's delete is mostly removing the cgroup directories, slow kernel work:
        // when nothing of the container is left running it goes on in a thread beside the
        // rest of the teardown, joined before a restart and before the exit is reported.
        let deleting = match container {
            // (A raw thread: this process may be a fork of a multi-threaded one; see rawthread.)
            Some(c) if c.processes().is_ok_and(|p| p.is_empty()) => {
                rawthread::spawn(rawthread::DEFAULT_STACK, move || {
                    let _ = c.delete(true);
                })
                .ok()
            }
            Some(c) => {
                let _ = c.delete(true);
                None
            }
            None => None,
        };
        runtime::timing::mark("mon:runtime_deleted");
        drop(dns);
        drop(io);
        let result = WaitResult {
            status_code: code as i64,
            oom_killed: oom,
            error: None,
        };
        // Restart policy. A `--rm` container is never restarted: its record is read once,
        // under its lock, by `finish`.
        let hc = record::load_host_config(paths, &id).ok();
        let auto_remove = hc.as_ref().is_some_and(|h| h.auto_remove);
        let rec = if auto_remove {
            None
        } else {
            record::load(paths, &id).ok()
        };
        let restart = match (&hc, &rec) {
            (Some(h), Some(r))
                if !h.auto_remove
                    && !r.has_been_manually_stopped
                    && r.state.status != ContainerStatus::Removing =>
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
            if let Some(t) = deleting {
                let _ = t.join();
            }
            let _ = record::update(paths, &id, |r| {
                r.state.status = ContainerStatus::Restarting;
                r.state.restarting = true;
                r.state.running = true;
                r.state.exit_code = code as i64;
                r.state.oom_killed = oom;
                r.state.finished_at = now();
                crate::health::on_stop(&mut r.state.health);
                Ok(())
            });
            events::container_event_with(
                &paths.root,
                &id,
                "die",
                &[("exitCode", code.to_string())],
            );
            send_exit(&mut m.clients, &result);
            // The old namespace's last put (a durable overlay's sync) off the restart's path.
            if let Some(ns) = m.mnt_ns.take() {
                crate::mnt_release::release_detached(vec![ns.into()]);
            }
            // A restarting monitor may loop for long: no more arena growth.
            crate::fork_heap::leave();
            continue;
        }
        let Monitor {
            listener,
            mut clients,
            mnt_ns,
            ..
        } = m;
        drop(listener);
        finish(
            paths,
            &id,
            &mut clients,
            result,
            hc.as_ref(),
            deleting,
            mnt_ns,
        );
        return 0;
    }
}

/// Serves the running container. With `idle` (the `berth-monitor` binary), a container still
/// running after [`IDLE_GRACE`] is handed over to it: this process image is replaced and the
/// call does not return (the ending continues in [`resume`]). Returns the init's exit code.
fn serve_then_shrink(
    m: &mut Monitor,
    pid: i32,
    io: &mut Io,
    idle: Option<&std::path::Path>,
) -> i32 {
    let pidfd = pidfd_open(pid).ok();
    let mut idle = idle.filter(|_| pidfd.is_some());
    if idle.is_none() {
        shim::shrink_idle();
    }
    loop {
        let deadline = idle.map(|_| std::time::Instant::now() + IDLE_GRACE);
        let (paths, id) = (m.paths, m.id.clone());
        let spawn = |s: &mut Sched| crate::health::spawn_from_monitor(s, paths, &id);
        let served = relay::serve(
            pid,
            pidfd.as_ref().map(|p| p.as_raw_fd()),
            io,
            m.listener.as_raw_fd(),
            &mut m.clients,
            &mut m.log,
            deadline.map_or(relay::Idle::Never, relay::Idle::Until),
            m.health.as_mut().map(|sched| relay::Probes {
                sched,
                spawn: &spawn,
            }),
        );
        let Some(code) = served else {
            if let (Some(path), Some(pidfd)) = (idle.take(), pidfd.as_ref()) {
                let e = handoff(m, pid, pidfd, io, path);
                let _ = e; // exec failed: stay the full monitor
            }
            shim::shrink_idle();
            continue;
        };
        return code;
    }
}

/// Execs `berth-monitor` with everything its serve loop needs. Returns only if that failed.
fn handoff(
    m: &Monitor,
    pid: i32,
    pidfd: &OwnedFd,
    io: &Io,
    path: &std::path::Path,
) -> std::io::Error {
    // The exact executable we run, for the way back even if its path changes meanwhile.
    // O_PATH: enough for execveat, nothing else.
    let exe = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH)
        .open("/proc/self/exe")
    {
        Ok(f) => f,
        Err(e) => return e,
    };
    let raw = |f: Option<RawFd>| f.unwrap_or(-1);
    let h = shim::Handoff {
        id: m.id.clone(),
        root: m.paths.root.clone().into_os_string(),
        runroot: m.paths.runroot.clone().into_os_string(),
        tty: m.tty,
        open_stdin: m.open_stdin,
        pid,
        pidfd: pidfd.as_raw_fd(),
        out: raw(io.out.as_ref().map(|f| f.as_raw_fd())),
        err: raw(io.err.as_ref().map(|f| f.as_raw_fd())),
        stdin: raw(io.stdin.as_ref().map(|f| f.as_raw_fd())),
        master: raw(io.master.as_ref().map(|f| f.as_raw_fd())),
        listener: m.listener.as_raw_fd(),
        log: raw(m.log.file.as_ref().map(|f| f.as_raw_fd())),
        exe: exe.as_raw_fd(),
        clients: m
            .clients
            .iter()
            .map(|c| shim::HandoffClient {
                fd: c.sock.as_raw_fd(),
                stdin: c.stdin,
                stdout: c.stdout,
                stderr: c.stderr,
                hello: c.hello,
            })
            .collect(),
        partial: m.log.partial.clone(),
        exit: None,
        procfs_fd: io.procfs.as_ref().map_or(-1, |p| p.fuse.as_raw_fd()),
        sysinfo_fd: io
            .procfs
            .as_ref()
            .and_then(|p| p.sysinfo.as_ref())
            .map_or(-1, |n| n.listener.as_raw_fd()),
        procfs: io
            .procfs
            .as_ref()
            .map(|p| p.server.config().encode())
            .unwrap_or_default(),
        health: m.health.clone(),
    };
    runtime::timing::mark("mon:handoff");
    shim::exec_handoff(shim::Program::Path(path), &h)
}

/// The monitor's ending after `berth-monitor` saw the init exit: the CLI runs this when started
/// as `berth-monitor` (argv0) with `$BERTH_MONITOR_HANDOFF`. Returns the process exit code.
pub fn resume() -> i32 {
    let h = match shim::Handoff::receive() {
        Ok(h) if h.listener >= 0 && h.exit.is_some() => h,
        Ok(_) => {
            eprintln!("{}: incomplete monitor handoff", shim::NAME);
            return 2;
        }
        Err(e) => {
            eprintln!("{}: {e}", shim::NAME);
            return 2;
        }
    };
    // Not for whatever this monitor starts later (a restarted container's hooks).
    std::env::remove_var(shim::HANDOFF_ENV);
    for fd in [
        h.pidfd,
        h.out,
        h.err,
        h.stdin,
        h.master,
        h.exe,
        h.procfs_fd,
        h.sysinfo_fd,
    ] {
        if fd >= 0 {
            // SAFETY: a handed-over fd nothing here uses: close it.
            unsafe { libc::close(fd) };
        }
    }
    set_title(&h.id, None);
    let paths = Paths {
        root: h.root.into(),
        runroot: h.runroot.into(),
    };
    let _ = runtime::security::set_seccomp_cache_dir(&paths.runroot.join("seccomp"));
    // SAFETY: the fds below were handed over to this image and are owned by nothing else.
    let (listener, clients, log_file) = unsafe {
        (
            UnixListener::from_raw_fd(h.listener),
            h.clients
                .iter()
                .map(|c| Client {
                    sock: File::from_raw_fd(c.fd),
                    stdin: c.stdin,
                    stdout: c.stdout,
                    stderr: c.stderr,
                    hello: c.hello,
                })
                .collect(),
            (h.log >= 0).then(|| File::from_raw_fd(h.log)),
        )
    };
    let m = Monitor {
        paths: &paths,
        id: h.id,
        tty: h.tty,
        open_stdin: h.open_stdin,
        // A restart looks again (networks may have been connected meanwhile).
        dns: true,
        listener,
        clients,
        log: Log {
            file: log_file,
            partial: h.partial,
        },
        mnt_ns: None,
        spec: None,
        health: h.health,
    };
    lifecycle(m, None, h.exit)
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
    hc: Option<&HostConfig>,
    deleting: Option<rawthread::JoinHandle<()>>,
    mnt_ns: Option<File>,
) {
    let auto_remove = hc.is_some_and(|h| h.auto_remove);
    // With --rm the record is about to go: no point rewriting it (each rewrite frees a block).
    let recorded = (!auto_remove).then(|| {
        record::update(paths, id, |r| {
            r.state.status = ContainerStatus::Exited;
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
            crate::health::on_stop(&mut r.state.health);
            r.monitor_pid = 0;
            r.monitor_start_time = 0;
            Ok(r.clone())
        })
    });
    let _ = std::fs::remove_file(paths.socket(id));
    let exit_code = [("exitCode", result.status_code.to_string())];
    if auto_remove {
        // Wait for whoever started us to finish recording the start (it holds the record
        // lock until then): a container that exits at once must not be removed under it.
        let _l = record::lock(&paths.dir(id), id).ok();
        let rec = record::load(paths, id).ok();
        events::container_event_of(&paths.root, id, rec.as_ref(), "die", &exit_code);
        if let Some(r) = &rec {
            events::network_events(&paths.root, id, &r.network_settings, "disconnect");
        }
        runtime::timing::mark("mon:remove");
        let hold = crate::mnt_release::hold_rootfs(&paths.root, id);
        // `--rm` removes the container's anonymous volumes too (Docker).
        let anonymous = rec.as_ref().map_or_else(Vec::new, |r| {
            crate::volume::mounts::anonymous_of(paths, &r.mount_points)
        });
        let left = crate::release_and_remove(paths, id, deleting, hc, rec);
        crate::volume::mounts::remove_unused(paths, &anonymous);
        runtime::timing::mark("mon:reply");
        // What follows the reply (the mount namespace's teardown, the deletions the removal
        // left for later) runs at the lowest CPU and I/O priority, set before the reply: the
        // woken CLI then preempts us at once instead of waiting for our time slice, and the
        // containers starting meanwhile are not slowed.
        // SAFETY: setpriority/ioprio_set on this process only (IOPRIO_WHO_PROCESS 1, class
        // IDLE 3 in the top bits); failures just leave the priority as it was.
        unsafe {
            libc::setpriority(libc::PRIO_PROCESS, 0, 19);
            libc::syscall(libc::SYS_ioprio_set, 1, 0, 3 << 13);
        }
        send_exit(clients, &result);
        drop(std::mem::take(clients));
        let held = mnt_ns.map(OwnedFd::from).into_iter().chain(hold);
        crate::mnt_release::release_detached(held.collect());
        left.finish();
        if let Some(st) = crate::open_storage(paths) {
            st.purge_tombstones_if_due();
        }
        return;
    }
    let rec = recorded.and_then(|r| r.ok());
    events::container_event_of(&paths.root, id, rec.as_ref(), "die", &exit_code);
    if let Some(r) = &rec {
        events::network_events(&paths.root, id, &r.network_settings, "disconnect");
    }
    if let Some(t) = deleting {
        let _ = t.join();
    }
    let hold = crate::mnt_release::hold_rootfs(&paths.root, id);
    crate::release_resources(paths, id);
    runtime::timing::mark("mon:reply");
    send_exit(clients, &result);
    let held = mnt_ns.map(OwnedFd::from).into_iter().chain(hold);
    crate::mnt_release::release_detached(held.collect());
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The json-file lines (written by the shim's code in both monitors) are byte for byte
    /// what serde_json writes for Docker's `{"log", "stream", "time"}`.
    #[test]
    fn log_lines_match_serde_json() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut log = Log {
            file: Some(File::create(&path).unwrap()),
            partial: [Vec::new(), Vec::new()],
        };
        let mut data: Vec<u8> = (0u8..=255).collect();
        data.extend_from_slice("é\"\\ \u{7f}\u{2028}\n".as_bytes());
        data.extend_from_slice(&[0xff, 0xc3, b'\n']);
        log.write(0, &data[..100]);
        log.write(0, &data[100..]);
        log.write(1, b"x".repeat(20_000).as_slice());
        log.write(1, b"rest");
        log.flush();
        drop(log);
        let mut want: Vec<(Vec<u8>, &str)> = data
            .split_inclusive(|&b| b == b'\n')
            .map(|l| (l.to_vec(), "stdout"))
            .collect();
        want.push((b"x".repeat(20_000), "stderr"));
        want.push((b"rest".to_vec(), "stderr"));
        let text = std::fs::read_to_string(&path).unwrap();
        let got: Vec<&str> = text.lines().collect();
        assert_eq!(got.len(), want.len(), "{text}");
        for (line, (raw, stream)) in got.iter().zip(&want) {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let time = v["time"].as_str().unwrap();
            #[derive(serde::Serialize)]
            struct L<'a> {
                log: &'a str,
                stream: &'a str,
                time: &'a str,
            }
            let expect = serde_json::to_string(&L {
                log: &String::from_utf8_lossy(raw),
                stream,
                time,
            })
            .unwrap();
            assert_eq!(*line, expect);
        }
    }

    #[test]
    fn log_time_is_chronos_rfc3339() {
        let before = chrono::Utc::now();
        let t = shim::now_rfc3339();
        let after = chrono::Utc::now();
        let parsed = chrono::DateTime::parse_from_rfc3339(&t).unwrap();
        assert_eq!(
            parsed.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            t
        );
        assert!(before <= parsed && parsed <= after, "{before} {t} {after}");
    }
}
