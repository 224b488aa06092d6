//! The probe process: `berth` started by a container's monitor as `berth-health <id> <root>
//! <runroot> <fd>` (see sched.rs). It runs the healthcheck's test in the container through the
//! runtime's exec (the sealed, non-dumpable exec stage `berth exec` uses: SECURITY.md, "joining
//! a container"), with the container's process settings (env, user, cwd) and stdout+stderr on
//! one pipe, kills it at the timeout, records the result in `State.Health` under the record
//! lock (Docker's `handleProbeResult`), writes Docker's `exec_*` and `health_status` events,
//! and tells the monitor the resulting status with one byte on `fd`.

use super::sched::{V_HEALTHY, V_STARTING, V_UNHEALTHY};
use super::{go_duration, go_time, HealthResult, Test, HEALTHY, MAX_OUTPUT, STARTING};
use crate::events;
use crate::record::{self, Paths};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// The probe process's body; `args` are the arguments after argv[0]. Returns its exit code.
pub fn main(args: &[String]) -> i32 {
    let [id, root, runroot, fd] = args else {
        eprintln!("usage: berth-health ID ROOT RUNROOT FD");
        return 2;
    };
    let Ok(fd) = fd.parse::<RawFd>() else {
        return 2;
    };
    // Nothing started from here (the runtime's helpers, the probe) may hold the monitor's pipe.
    // SAFETY: fcntl on the fd handed to us.
    unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    let paths = Paths {
        root: root.into(),
        runroot: runroot.into(),
    };
    let verdict = run(&paths, id);
    if let Some(v) = verdict {
        // SAFETY: one-byte write to the monitor's pipe.
        unsafe { libc::write(fd, [v].as_ptr().cast(), 1) };
    }
    0
}

fn run(paths: &Paths, id: &str) -> Option<u8> {
    let rec = record::load(paths, id).ok()?;
    let cfg = rec.config.healthcheck.clone()?;
    let test = cfg.test()?;
    if !rec.state.running
        || rec.state.paused
        || !rec.monitor_alive()
        || rec.has_been_manually_stopped
    {
        return None;
    }
    let started_at = rec.state.started_at.clone();
    let start = chrono::Utc::now();
    let argv = match &test {
        Test::Exec(a) => a.clone(),
        // Docker's getShell: the image's SHELL, else /bin/sh -c.
        Test::Shell(cmd) => {
            let mut v = rec
                .config
                .shell
                .clone()
                .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()]);
            v.push(cmd.clone());
            v
        }
    };
    let exec_id = hex::encode(rand::random::<[u8; 32]>());
    let line = argv.join(" ");
    let ev = |action: String, extra: &[(&str, String)]| {
        let mut a = vec![("execID", exec_id.clone())];
        a.extend(extra.iter().cloned());
        events::container_event_of(&paths.root, id, Some(&rec), &action, &a);
    };
    let (code, output) = {
        ev(format!("exec_create: {line}"), &[]);
        ev(format!("exec_start: {line}"), &[]);
        let (code, output, died) = match exec(paths, id, &argv, cfg.timeout_ns()) {
            Ok(Outcome::Exited(code, out)) => (code, out, Some(code)),
            Ok(Outcome::TimedOut(status)) => (
                -1,
                format!(
                    "Health check exceeded timeout ({})",
                    go_duration(cfg.timeout_ns())
                ),
                Some(status),
            ),
            Err(e) => (-1, e, None),
        };
        if let Some(c) = died {
            ev("exec_die".into(), &[("exitCode", c.to_string())]);
        }
        (code, output)
    };
    let end = chrono::Utc::now();
    let result = HealthResult {
        start: go_time(start),
        end: go_time(end),
        exit_code: code,
        output,
    };
    let since_start = chrono::DateTime::parse_from_rfc3339(&started_at)
        .map(|t| (start - t.with_timezone(&chrono::Utc)).num_nanoseconds())
        .ok()
        .flatten()
        .unwrap_or(0);
    let (changed, status) = record::update(paths, id, |r| {
        // Only for the run it probed: a container restarted meanwhile starts afresh.
        // Nor while it is being stopped or paused (Docker stops the probes first).
        if r.state.started_at != started_at
            || !r.state.running
            || r.state.paused
            || r.has_been_manually_stopped
        {
            return Ok(None);
        }
        let h = r.state.health.get_or_insert_with(|| super::Health {
            status: STARTING.into(),
            ..Default::default()
        });
        let changed = h.record(&cfg, result, since_start);
        Ok(Some((changed, h.status.clone())))
    })
    .ok()
    .flatten()?;
    if let Some(s) = changed {
        events::container_event(&paths.root, id, &format!("health_status: {s}"));
    }
    Some(match status.as_str() {
        STARTING => V_STARTING,
        HEALTHY => V_HEALTHY,
        _ => V_UNHEALTHY,
    })
}

enum Outcome {
    /// Exit code and output.
    Exited(i64, String),
    /// Killed at the timeout; its wait status as an exit code.
    TimedOut(i64),
}

fn check(r: libc::c_int, what: &str) -> Result<libc::c_int, String> {
    if r < 0 {
        Err(format!("{what}: {}", std::io::Error::last_os_error()))
    } else {
        Ok(r)
    }
}

/// Runs `argv` in the container with the init's process settings; output capped at
/// [`MAX_OUTPUT`] bytes (stdout and stderr interleaved as written).
fn exec(paths: &Paths, id: &str, argv: &[String], timeout_ns: i64) -> Result<Outcome, String> {
    let spec: serde_json::Value = std::fs::read(paths.run_dir(id).join("config.json"))
        .ok()
        .and_then(|d| serde_json::from_slice(&d).ok())
        .ok_or_else(|| format!("Container {id} is not running"))?;
    let mut p = spec["process"].clone();
    p["args"] = serde_json::json!(argv);
    p["terminal"] = serde_json::json!(false);
    let process: oci_spec::runtime::Process =
        serde_json::from_value(p).map_err(|e| format!("exec process: {e}"))?;
    let _ = runtime::security::set_seccomp_cache_dir(&paths.runroot.join("seccomp"));
    let rt = runtime::state::StateRoot::new(paths.runtime_root());
    let c = runtime::Container::load(&rt, id).map_err(|e| e.to_string())?;
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two fds we own right below.
    check(
        unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) },
        "pipe",
    )?;
    // SAFETY: fresh fds from pipe2.
    let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: open of a constant path; owned right below.
    let null = check(
        unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) },
        "/dev/null",
    )?;
    // SAFETY: a fresh fd.
    let null = unsafe { OwnedFd::from_raw_fd(null) };
    let res = c.exec(&runtime::ExecOptions {
        process,
        pid_file: None,
        console_socket: None,
        preserve_fds: 0,
        stdio: Some([null.as_raw_fd(), wr.as_raw_fd(), wr.as_raw_fd()]),
    });
    drop(wr);
    drop(null);
    // dockerd 20.10 (with runc 1.1) records this text for a probe that cannot start.
    let pid = res.map_err(|e| {
        format!(
            "OCI runtime exec failed: exec failed: unable to start container process: {e}: unknown"
        )
    })?;
    // SAFETY: pidfd_open of our own child (not yet reaped, so the pid is its).
    let pfd = check(
        unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as libc::c_int,
        "pidfd_open",
    );
    // SAFETY: a fresh fd (when Ok).
    let pidfd = pfd.ok().map(|f| unsafe { OwnedFd::from_raw_fd(f) });
    let deadline = std::time::Instant::now() + std::time::Duration::from_nanos(timeout_ns as u64);
    let mut out = Vec::new();
    let mut rd = Some(rd);
    let mut exited: Option<i64> = None;
    let mut buf = [0u8; 4096];
    loop {
        if exited.is_some() && rd.is_none() {
            break;
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if exited.is_none() && left.is_zero() {
            // SAFETY: SIGKILL to our own unreaped child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            // A process in a frozen cgroup (v1 freezer) dies only when thawed: wait a little,
            // then leave it to the monitor, the subreaper that gets it when we exit.
            if let Some(p) = &pidfd {
                let mut pf = libc::pollfd {
                    fd: p.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: poll on one valid pollfd.
                if unsafe { libc::poll(&mut pf, 1, 2000) } == 0 {
                    return Ok(Outcome::TimedOut(128 + libc::SIGKILL as i64));
                }
            }
            return Ok(Outcome::TimedOut(wait(pid)));
        }
        let mut pfds = [
            libc::pollfd {
                fd: rd.as_ref().map_or(-1, |f| f.as_raw_fd()),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: match (&pidfd, exited) {
                    (Some(p), None) => p.as_raw_fd(),
                    _ => -1,
                },
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // After the exit, what is left in the pipe is read without waiting for processes
        // the probe left behind that still hold it.
        let t = match exited {
            Some(_) => 0,
            None if pidfd.is_none() => left.as_millis().min(50) as i32,
            None => left.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32,
        };
        // SAFETY: poll over two valid pollfds.
        let n = unsafe { libc::poll(pfds.as_mut_ptr(), 2, t) };
        if n < 0 {
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            break;
        }
        if n == 0 && exited.is_some() {
            break;
        }
        if pfds[0].revents != 0 {
            if let Some(f) = &rd {
                // SAFETY: read into our buffer from our pipe end.
                let r = unsafe { libc::read(f.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
                if r > 0 {
                    let room = MAX_OUTPUT.saturating_sub(out.len());
                    out.extend_from_slice(&buf[..(r as usize).min(room)]);
                } else if r == 0
                    || std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR)
                {
                    rd = None;
                }
            }
        }
        let reaped = if pidfd.is_some() {
            pfds[1].revents != 0
        } else {
            // No pidfd: poll the child.
            let mut st = 0;
            // SAFETY: non-blocking wait for our own child.
            let r = unsafe { libc::waitpid(pid, &mut st, libc::WNOHANG) };
            if r == pid {
                exited = Some(status_code(st));
            }
            false
        };
        if reaped && exited.is_none() {
            exited = Some(wait(pid));
            if let Some(f) = &rd {
                // SAFETY: fcntl on our pipe end.
                unsafe {
                    let fl = libc::fcntl(f.as_raw_fd(), libc::F_GETFL);
                    libc::fcntl(f.as_raw_fd(), libc::F_SETFL, fl | libc::O_NONBLOCK);
                }
            }
        }
    }
    Ok(Outcome::Exited(
        exited.unwrap_or_else(|| wait(pid)),
        String::from_utf8_lossy(&out).into_owned(),
    ))
}

fn status_code(st: libc::c_int) -> i64 {
    if libc::WIFEXITED(st) {
        libc::WEXITSTATUS(st) as i64
    } else if libc::WIFSIGNALED(st) {
        128 + libc::WTERMSIG(st) as i64
    } else {
        255
    }
}

fn wait(pid: i32) -> i64 {
    let mut st = 0;
    loop {
        // SAFETY: waiting for our own child.
        let r = unsafe { libc::waitpid(pid, &mut st, 0) };
        if r == pid {
            return status_code(st);
        }
        if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return 255;
        }
    }
}
