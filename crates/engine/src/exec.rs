//! `exec`: a new process in a running container, started by the runtime library from this
//! process (so we are its parent) with pipes we relay to our stdio, or through a pty for `-t`.

use crate::record::{Paths, Record};
use crate::stdio_relay::ExecIo;
use crate::{spec, Error, ExecConfig, Result};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;

/// A started exec'd process: our child, with its pty master (`tty`) or our ends of its pipes.
pub(crate) struct Spawned {
    pub pid: i32,
    pub master: Option<OwnedFd>,
    pub relay: Option<crate::stdio_relay::Relay>,
}

pub fn run(paths: &Paths, id: &str, rec: &Record, cfg: &ExecConfig) -> Result<i64> {
    let Spawned { pid, master, relay } = spawn(paths, id, rec, cfg)?;
    if cfg.detach {
        // Our child: reap it in a detached thread-free way by leaving it to a double fork is
        // not possible after the fact; a short-lived CLI exits and the process is reparented.
        std::mem::forget(master);
        return Ok(0);
    }
    if let Some(m) = master {
        if crate::pty_relay::relay(m, cfg.attach_stdin, &cfg.detach_keys)
            == crate::pty_relay::Outcome::Detached
        {
            // The process keeps running (its pty is held by the holder); it is reaped by
            // whoever inherits it when we exit.
            return Err(Error::Detached);
        }
    }
    if let Some(r) = relay {
        r.run(pid);
    }
    Ok(reap(pid))
}

/// Waits for our child `pid`; its exit code as a shell reports it (128+signal).
pub(crate) fn reap(pid: i32) -> i64 {
    let mut st = 0;
    loop {
        // SAFETY: waiting for our own child.
        let r = unsafe { libc::waitpid(pid, &mut st, 0) };
        if r == pid {
            break;
        }
        if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return 255;
        }
    }
    if libc::WIFEXITED(st) {
        libc::WEXITSTATUS(st) as i64
    } else if libc::WIFSIGNALED(st) {
        128 + libc::WTERMSIG(st) as i64
    } else {
        255
    }
}

/// Starts the process (see [`run`]) without relaying anything yet.
pub(crate) fn spawn(paths: &Paths, id: &str, rec: &Record, cfg: &ExecConfig) -> Result<Spawned> {
    if cfg.cmd.is_empty() {
        return Err(Error::InvalidArgument("No exec command specified".into()));
    }
    let run_dir = paths.run_dir(id);
    let spec: serde_json::Value = std::fs::read(run_dir.join("config.json"))
        .ok()
        .and_then(|d| serde_json::from_slice(&d).ok())
        .ok_or_else(|| Error::Conflict(format!("Container {id} is not running")))?;
    let mut p = spec["process"].clone();
    p["args"] = serde_json::json!(cfg.cmd);
    p["terminal"] = serde_json::json!(cfg.tty);
    if let (true, Some((rows, cols))) = (cfg.tty, cfg.console_size) {
        // Set on the pty before the process starts (the runtime applies it).
        p["consoleSize"] = serde_json::json!({"height": rows, "width": cols});
    }
    let mut env: Vec<String> = p["env"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    if cfg.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".into());
    }
    spec::merge_env(&mut env, &cfg.env);
    p["env"] = serde_json::json!(env);
    if !cfg.workdir.is_empty() {
        p["cwd"] = serde_json::json!(cfg.workdir);
    }
    let rootfs = std::path::PathBuf::from(spec["root"]["path"].as_str().unwrap_or("/"));
    if !cfg.user.is_empty() {
        let (uid, gid, extra) = spec::resolve_user(&rootfs, &cfg.user, &[])?;
        p["user"] = serde_json::json!({"uid": uid, "gid": gid, "additionalGids": extra});
    }
    if cfg.privileged {
        let h = crate::types::HostConfig {
            privileged: true,
            ..Default::default()
        };
        let caps = spec::capabilities(&h)?;
        p["capabilities"] =
            serde_json::json!({"bounding": caps, "effective": caps, "permitted": caps});
    }
    let process: oci_spec::runtime::Process =
        serde_json::from_value(p).map_err(|e| Error::Other(format!("exec process: {e}")))?;
    // Compiled seccomp filters, shared by container inits and execs (best effort).
    let _ = runtime::security::set_seccomp_cache_dir(&paths.runroot.join("seccomp"));
    let rt = runtime::state::StateRoot::new(paths.runtime_root());
    let c = runtime::Container::load(&rt, id)?;
    let _ = rec;

    // Console socket for -t: the runtime sends us the pty master.
    let console = if cfg.tty {
        let p = run_dir.join(format!("exec-console-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&p);
        let (d, short) = crate::monitor::short_dir(&p).map_err(Error::io("console socket"))?;
        let l = UnixListener::bind(&short).map_err(Error::io("console socket"))?;
        Some((p, l, d, short))
    } else {
        None
    };
    // The process never gets our own fds (a container could reopen /proc/self/fd/0 of the
    // exec and reach the caller's file): pipes we relay, the pty, or /dev/null.
    let io = ExecIo::new(cfg.tty, cfg.attach_stdin && !cfg.detach, cfg.detach)?;
    let res = c.exec(&runtime::ExecOptions {
        process,
        pid_file: None,
        console_socket: console.as_ref().map(|c| c.3.clone()),
        preserve_fds: 0,
        stdio: Some(io.child_fds()),
    });
    let relay = io.into_relay();
    let pid = match res {
        Ok(pid) => pid,
        Err(e) => {
            if let Some(c) = &console {
                let _ = std::fs::remove_file(&c.0);
            }
            let msg = e.to_string();
            let full = format!("OCI runtime exec failed: {msg}: unknown");
            return Err(
                if msg.contains("executable file not found") || msg.contains("no such file") {
                    Error::CommandNotFound(full)
                } else if msg.contains("permission denied") {
                    Error::CannotInvoke(full)
                } else {
                    Error::Other(full)
                },
            );
        }
    };
    let master = match &console {
        Some((p, l, _, _)) => {
            let (s, _) = l.accept().map_err(Error::io("console accept"))?;
            let _ = std::fs::remove_file(p);
            Some(recv_master(&s)?)
        }
        None => None,
    };
    Ok(Spawned { pid, master, relay })
}

fn recv_master(s: &std::os::unix::net::UnixStream) -> Result<OwnedFd> {
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
    .map_err(|e| Error::Other(format!("receiving the pty master: {e}")))?;
    for c in msg.cmsgs().map_err(|e| Error::Other(e.to_string()))? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(fd) = fds.first() {
                // SAFETY: the fd was just received and is ours.
                return Ok(unsafe { OwnedFd::from_raw_fd(*fd) });
            }
        }
    }
    Err(Error::Other("no pty master received".into()))
}
