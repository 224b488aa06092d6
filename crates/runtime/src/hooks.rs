//! OCI hooks (prestart, createRuntime, createContainer, startContainer, poststart, poststop):
//! each runs with the container's state JSON on stdin and its own timeout.
//!
//! No threads (hooks may run inside the container's init): the state is handed over in a
//! memfd (so a hook that never reads stdin cannot block us), and one poll loop collects the
//! hook's stdout/stderr and waits for its exit on a pidfd, with the hook's timeout.

use crate::{Error, Result, SysContext};
use nix::errno::Errno;
use oci_spec::runtime::Hook;
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How much of a hook's stdout/stderr is kept for the error message.
const OUTPUT_LIMIT: usize = 8 * 1024;

/// Runs `hooks` in order; the first failure (non-zero exit, timeout, spawn error) stops them.
pub fn run_hooks(hooks: &[Hook], state_json: &[u8]) -> Result<()> {
    for hook in hooks {
        run_hook(hook, state_json, &[])?;
    }
    Ok(())
}

/// Like [`run_hooks`], for the startContainer hooks: a hook without an `env` of its own gets
/// the container process's environment (`process_env`), as runc and youki run them (they are
/// executed in the container, just before its process).
pub fn run_hooks_inheriting_env(
    hooks: &[Hook],
    state_json: &[u8],
    process_env: &[String],
) -> Result<()> {
    for hook in hooks {
        run_hook(hook, state_json, process_env)?;
    }
    Ok(())
}

fn memfd_with(data: &[u8]) -> Result<File> {
    // SAFETY: a valid NUL-terminated name; the returned fd is owned below.
    let fd = unsafe { libc::memfd_create(c"berth-hook-state".as_ptr(), libc::MFD_CLOEXEC) };
    let fd = Errno::result(fd).ctx(|| "memfd_create for the hook's stdin".to_string())?;
    // SAFETY: `fd` was just created and is owned by nobody else.
    let mut file = unsafe { File::from_raw_fd(fd) };
    file.write_all(data)?;
    file.rewind()?;
    Ok(file)
}

fn pidfd_open(pid: u32) -> Result<OwnedFd> {
    // SAFETY: pidfd_open takes integers; the returned fd is owned below.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    let fd = Errno::result(fd).ctx(|| format!("pidfd_open({pid})"))?;
    // SAFETY: a fresh fd returned by the kernel, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
}

fn set_nonblocking(fd: &impl AsRawFd) -> Result<()> {
    let raw = fd.as_raw_fd();
    // SAFETY: fcntl on an fd we own, integer arguments only.
    let flags = unsafe { libc::fcntl(raw, libc::F_GETFL) };
    let flags = Errno::result(flags).ctx(|| "fcntl(F_GETFL)".to_string())?;
    // SAFETY: as above.
    let r = unsafe { libc::fcntl(raw, libc::F_SETFL, flags | libc::O_NONBLOCK) };
    Errno::result(r).ctx(|| "fcntl(F_SETFL, O_NONBLOCK)".to_string())?;
    Ok(())
}

/// Reads what is available without blocking; returns false at EOF.
fn drain(src: &mut impl Read, buf: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 4096];
    loop {
        match src.read(&mut chunk) {
            Ok(0) => return false,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                // Keep the tail: that is where the error usually is.
                if buf.len() > 2 * OUTPUT_LIMIT {
                    buf.drain(..buf.len() - OUTPUT_LIMIT);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return true,
            Err(_) => return false,
        }
    }
}

fn tail(buf: &[u8]) -> String {
    let start = buf.len().saturating_sub(OUTPUT_LIMIT);
    String::from_utf8_lossy(&buf[start..]).trim().to_string()
}

fn run_hook(hook: &Hook, state_json: &[u8], default_env: &[String]) -> Result<()> {
    let path = hook.path();
    let name = path.display().to_string();
    let mut cmd = Command::new(path);
    // args[0] is argv[0] (like execve); without args argv[0] is the path.
    if let Some(args) = hook.args() {
        if let Some((argv0, rest)) = args.split_first() {
            std::os::unix::process::CommandExt::arg0(&mut cmd, argv0);
            cmd.args(rest);
        }
    }
    cmd.env_clear();
    for kv in hook.env().as_deref().unwrap_or(default_env) {
        match kv.split_once('=') {
            Some((k, v)) => cmd.env(k, v),
            None => cmd.env(kv, ""),
        };
    }
    let stdin = memfd_with(state_json)?;
    cmd.stdin(Stdio::from(stdin))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let timeout = match hook.timeout() {
        Some(t) if t <= 0 => {
            return Err(Error::Spec(format!(
                "hook {name}: timeout must be positive, got {t}"
            )))
        }
        Some(t) => Some(Duration::from_secs(t as u64)),
        None => None,
    };

    let mut child = cmd
        .spawn()
        .map_err(|e| Error::other(format!("running hook {name}: {e}")))?;
    // Never leave a hook behind: on timeout or an internal error, kill and reap it.
    let kill = |child: &mut Child| {
        let _ = child.kill();
        let _ = child.wait();
    };
    let (status, out, err) = match wait_hook(&mut child, timeout) {
        Ok(Waited::Exited(status, out, err)) => (status, out, err),
        Ok(Waited::TimedOut(t)) => {
            kill(&mut child);
            return Err(Error::other(format!(
                "hook {name} timed out after {}s and was killed",
                t.as_secs()
            )));
        }
        Err(e) => {
            kill(&mut child);
            return Err(e);
        }
    };
    if status.success() {
        return Ok(());
    }
    let mut msg = format!("hook {name} failed ({status})");
    let (out, err) = (tail(&out), tail(&err));
    if !err.is_empty() {
        msg.push_str(&format!(": stderr: {err}"));
    }
    if !out.is_empty() {
        msg.push_str(&format!("; stdout: {out}"));
    }
    Err(Error::other(msg))
}

enum Waited {
    Exited(std::process::ExitStatus, Vec<u8>, Vec<u8>),
    TimedOut(Duration),
}

fn wait_hook(child: &mut Child, timeout: Option<Duration>) -> Result<Waited> {
    let pidfd = pidfd_open(child.id())?;
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    for f in stdout.iter() {
        set_nonblocking(f)?;
    }
    for f in stderr.iter() {
        set_nonblocking(f)?;
    }
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        let wait_ms: libc::c_int = match deadline {
            None => -1,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Ok(Waited::TimedOut(timeout.unwrap_or_default()));
                }
                // Round up so we never wake just before the deadline and spin.
                left.as_millis().saturating_add(1).min(i32::MAX as u128) as libc::c_int
            }
        };
        let mut fds = vec![libc::pollfd {
            fd: pidfd.as_fd().as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        for p in [
            stdout.as_ref().map(|s| s.as_raw_fd()),
            stderr.as_ref().map(|s| s.as_raw_fd()),
        ]
        .into_iter()
        .flatten()
        {
            fds.push(libc::pollfd {
                fd: p,
                events: libc::POLLIN,
                revents: 0,
            });
        }
        // SAFETY: `fds` is a valid array of pollfd of the given length.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, wait_ms) };
        if r < 0 {
            if Errno::last() == Errno::EINTR {
                continue;
            }
            return Err(Error::Sys {
                context: "poll on the hook".into(),
                source: Errno::last(),
            });
        }
        if let Some(s) = stdout.as_mut() {
            if !drain(s, &mut out) {
                stdout = None;
            }
        }
        if let Some(s) = stderr.as_mut() {
            if !drain(s, &mut err) {
                stderr = None;
            }
        }
        if fds[0].revents != 0 {
            // Exited. A grandchild may still hold the pipes open: take what is there, no more.
            if let Some(s) = stdout.as_mut() {
                drain(s, &mut out);
            }
            if let Some(s) = stderr.as_mut() {
                drain(s, &mut err);
            }
            let status = child.wait()?;
            return Ok(Waited::Exited(status, out, err));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(path: &str, args: &[&str], env: &[&str], timeout: Option<i64>) -> Hook {
        let mut h = Hook::default();
        h.set_path(path.into());
        h.set_args(Some(args.iter().map(|s| s.to_string()).collect()));
        h.set_env(Some(env.iter().map(|s| s.to_string()).collect()));
        h.set_timeout(timeout);
        h
    }

    #[test]
    fn hook_gets_state_on_stdin_args_and_exact_env() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let script = format!(
            "cat > {o}; echo \"argv0=$0 arg1=$1\" >> {o}; env | sort >> {o}",
            o = out.display()
        );
        let h = hook(
            "/bin/busybox",
            &["sh", "-c", &script, "myhook", "first"],
            &["FOO=bar"],
            Some(10),
        );
        run_hooks(&[h], br#"{"id":"c1","status":"creating"}"#).unwrap();
        let got = std::fs::read_to_string(&out).unwrap();
        assert!(
            got.starts_with(r#"{"id":"c1","status":"creating"}"#),
            "{got}"
        );
        assert!(got.contains("argv0=myhook arg1=first"), "{got}");
        assert!(got.contains("FOO=bar"), "{got}");
        // Only the hook's env (busybox sh adds PATH/PWD/SHLVL itself), nothing from ours:
        // cargo runs tests with CARGO_* variables set.
        assert!(std::env::var_os("CARGO_PKG_NAME").is_some());
        assert!(!got.contains("CARGO"), "{got}");
    }

    #[test]
    fn failing_hook_reports_stderr_and_stops_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("second-ran");
        let bad = hook(
            "/bin/busybox",
            &["sh", "-c", "echo something broke >&2; exit 3"],
            &[],
            None,
        );
        let second = hook(
            "/bin/busybox",
            &["touch", marker.to_str().unwrap()],
            &[],
            None,
        );
        let err = run_hooks(&[bad, second], b"{}").unwrap_err().to_string();
        assert!(err.contains("something broke"), "{err}");
        assert!(err.contains("exit status: 3"), "{err}");
        assert!(!marker.exists(), "hooks after a failing one must not run");
    }

    #[test]
    fn hook_timeout_kills_it() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let script = format!("echo $$ > {}; exec sleep 30", pidfile.display());
        let h = hook("/bin/busybox", &["sh", "-c", &script], &[], Some(1));
        let err = run_hooks(&[h], b"{}").unwrap_err().to_string();
        assert!(err.contains("timed out"), "{err}");
        // On a very loaded machine the hook may be killed before it wrote its pid.
        if let Ok(pid) = std::fs::read_to_string(&pidfile) {
            // Killed and reaped: the pid is gone (or reused by something that is not our sleep).
            let cmdline = std::fs::read_to_string(format!("/proc/{}/cmdline", pid.trim()))
                .unwrap_or_default();
            assert!(!cmdline.contains("sleep"), "hook still running: {cmdline}");
        }
    }

    #[test]
    fn hook_that_ignores_large_stdin_does_not_block() {
        let state = vec![b'x'; 1 << 20];
        let h = hook("/bin/busybox", &["true"], &[], Some(10));
        run_hooks(&[h], &state).unwrap();
    }

    #[test]
    fn missing_hook_binary_is_an_error() {
        let h = hook("/nonexistent/hook", &[], &[], None);
        let err = run_hooks(&[h], b"{}").unwrap_err().to_string();
        assert!(err.contains("/nonexistent/hook"), "{err}");
    }
}
