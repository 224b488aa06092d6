//! berth-runtime lifecycle: run, create/start split, state, kill, pause/resume, exec, delete,
//! namespaces, console, bad input — each checked from inside and from outside the container.

mod common;
use common::*;
use serde_json::json;
use std::os::unix::fs::MetadataExt;

#[test]
fn run_prints_and_returns_exit_code() {
    let rt = Runtime::new();
    let b = Bundle::new(&["sh", "-c", "echo hello; exit 7"]);
    let id = unique_name("run");
    let o = rt.run_bundle(&b, &id);
    assert_eq!(stdout(&o), "hello\n", "stderr: {}", stderr(&o));
    assert_eq!(o.status.code(), Some(7));
    assert!(!rt.state_dir(&id).exists(), "state left after run");
    assert!(!cgroup_dir("memory", &id).exists(), "cgroup left after run");
}

#[test]
fn container_is_pid_1_with_its_own_namespaces() {
    let rt = Runtime::new();
    let b = Bundle::new(&[
        "sh",
        "-c",
        "echo pid=$$; for n in pid net ipc uts mnt cgroup; do echo $n=$(readlink /proc/self/ns/$n); done; hostname",
    ]);
    let o = rt.run_bundle(&b, &unique_name("ns"));
    let out = stdout(&o);
    assert!(out.contains("pid=1\n"), "{out} {}", stderr(&o));
    for n in ["pid", "net", "ipc", "uts", "mnt", "cgroup"] {
        let host = std::fs::read_link(format!("/proc/self/ns/{n}")).unwrap();
        let line = out
            .lines()
            .find(|l| l.starts_with(&format!("{n}=")))
            .unwrap_or_else(|| panic!("no {n} in {out}"));
        assert_ne!(
            line[n.len() + 1..],
            *host.to_string_lossy(),
            "{n} namespace is the host's"
        );
    }
    assert!(out.ends_with("berth\n"), "hostname: {out}");
}

#[test]
fn create_start_state_delete() {
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "100"]);
    let id = unique_name("life");
    let pidfile = b.path().join("pid");
    let o = rt.run_detached(&[
        "create",
        "--bundle",
        b.path().to_str().unwrap(),
        "--pid-file",
        pidfile.to_str().unwrap(),
        &id,
    ]);
    assert!(o.status.success(), "create: {}", stderr(&o));
    let st = rt.state(&id);
    assert_eq!(st["status"], "created");
    let pid: i64 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(st["pid"], json!(pid));
    assert_eq!(st["bundle"], json!(b.path()));
    // Before start the user's program has not been executed yet.
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    assert_ne!(comm.trim(), "sleep");
    // The init sits in its cgroup already.
    let procs = std::fs::read_to_string(cgroup_dir("pids", &id).join("cgroup.procs")).unwrap();
    assert!(procs.lines().any(|l| l == pid.to_string()), "{procs}");

    let o = rt.run(&["start", &id]);
    assert!(o.status.success(), "start: {}", stderr(&o));
    assert_eq!(rt.state(&id)["status"], "running");
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    assert_eq!(comm.trim(), "sleep");

    // Deleting a running container needs --force.
    let o = rt.run(&["delete", &id]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("not stopped"), "{}", stderr(&o));

    let o = rt.run(&["kill", &id, "KILL"]);
    assert!(o.status.success(), "kill: {}", stderr(&o));
    // Our create process exited, so the init was reparented; wait until it is gone.
    while std::path::Path::new(&format!("/proc/{pid}/comm")).exists()
        && std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z"))
    {
        std::thread::yield_now();
    }
    assert_eq!(rt.state(&id)["status"], "stopped");
    let o = rt.run(&["delete", &id]);
    assert!(o.status.success(), "delete: {}", stderr(&o));
    assert!(!rt.state_dir(&id).exists());
    assert!(
        !cgroup_dir("pids", &id).exists(),
        "cgroup left after delete"
    );
    let o = rt.run(&["state", &id]);
    assert!(!o.status.success());
}

#[test]
fn pause_resume_and_exec() {
    let rt = Runtime::new();
    let b = Bundle::new(&["sleep", "100"]);
    let id = unique_name("exec");
    let o = rt.run_detached(&[
        "run",
        "--detach",
        "--bundle",
        b.path().to_str().unwrap(),
        &id,
    ]);
    assert!(o.status.success(), "run -d: {}", stderr(&o));
    assert_eq!(rt.state(&id)["status"], "running");

    let o = rt.run(&["exec", &id, "sh", "-c", "echo $$; ps -o pid,comm"]);
    assert!(o.status.success(), "exec: {}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("    1 sleep") || out.contains("1 sleep"),
        "{out}"
    );
    // exec'd process shares the container's namespaces
    let o = rt.run(&[
        "exec",
        &id,
        "sh",
        "-c",
        "readlink /proc/1/ns/pid; readlink /proc/self/ns/pid",
    ]);
    let l: Vec<_> = stdout(&o).lines().map(String::from).collect();
    assert_eq!(l.len(), 2, "{l:?} {}", stderr(&o));
    assert_eq!(l[0], l[1]);
    // exit codes come through
    let o = rt.run(&["exec", &id, "sh", "-c", "exit 5"]);
    assert_eq!(o.status.code(), Some(5));
    // a missing binary is reported
    let o = rt.run(&["exec", &id, "nosuchbinary"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("executable file not found"),
        "{}",
        stderr(&o)
    );

    let o = rt.run(&["pause", &id]);
    assert!(o.status.success(), "pause: {}", stderr(&o));
    assert_eq!(rt.state(&id)["status"], "paused");
    assert_eq!(
        std::fs::read_to_string(cgroup_dir("freezer", &id).join("freezer.state"))
            .unwrap()
            .trim(),
        "FROZEN"
    );
    let o = rt.run(&["resume", &id]);
    assert!(o.status.success(), "resume: {}", stderr(&o));
    assert_eq!(rt.state(&id)["status"], "running");

    let o = rt.run(&["ps", "--format", "json", &id]);
    let pids: Vec<i32> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(pids.len(), 1);

    let o = rt.run(&["delete", "--force", &id]);
    assert!(o.status.success(), "delete -f: {}", stderr(&o));
    assert!(!cgroup_dir("freezer", &id).exists());
}

#[test]
fn joins_namespace_by_path() {
    let rt = Runtime::new();
    let b1 = Bundle::new(&["sleep", "100"]);
    let id1 = unique_name("joinee");
    let o = rt.run_detached(&["run", "-d", "--bundle", b1.path().to_str().unwrap(), &id1]);
    assert!(o.status.success(), "{}", stderr(&o));
    let pid = rt.state(&id1)["pid"].as_i64().unwrap();
    let mut b2 = Bundle::new(&[
        "sh",
        "-c",
        "readlink /proc/self/ns/net; readlink /proc/self/ns/uts",
    ]);
    b2.edit(|s| {
        s["linux"]["namespaces"] = json!([
            {"type": "pid"}, {"type": "mount"}, {"type": "ipc"},
            {"type": "network", "path": format!("/proc/{pid}/ns/net")},
            {"type": "uts", "path": format!("/proc/{pid}/ns/uts")}
        ]);
        s.as_object_mut().unwrap().remove("hostname");
    });
    let o = rt.run_bundle(&b2, &unique_name("joiner"));
    let want = format!(
        "{}\n{}\n",
        std::fs::read_link(format!("/proc/{pid}/ns/net"))
            .unwrap()
            .display(),
        std::fs::read_link(format!("/proc/{pid}/ns/uts"))
            .unwrap()
            .display()
    );
    assert_eq!(stdout(&o), want, "{}", stderr(&o));
}

#[test]
fn user_namespace_maps_ids() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&[
        "sh",
        "-c",
        "cat /proc/self/uid_map /proc/self/gid_map; id -u",
    ]);
    // The rootfs must be owned by the mapped root to be usable.
    let status = std::process::Command::new("chown")
        .args(["-R", "100000:100000"])
        .arg(b.rootfs())
        .status()
        .unwrap();
    assert!(status.success());
    b.edit(|s| {
        s["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        s["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        s["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        // A user namespace can't mount cgroup v1 hierarchies it doesn't own; keep it simple.
        let m = s["mounts"].as_array_mut().unwrap();
        m.retain(|m| m["type"] != "cgroup");
    });
    let o = rt.run_bundle(&b, &unique_name("userns"));
    let out = stdout(&o);
    let fields: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(
        fields,
        ["0", "100000", "65536", "0", "100000", "65536", "0"],
        "{out} {}",
        stderr(&o)
    );
}

#[test]
fn time_namespace_offsets_boottime() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["cat", "/proc/uptime"]);
    b.edit(|s| {
        s["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "time"}));
        s["linux"]["timeOffsets"] = json!({"boottime": {"secs": 86400 * 365, "nanosecs": 0}});
    });
    let o = rt.run_bundle(&b, &unique_name("time"));
    let up: f64 = stdout(&o)
        .split_whitespace()
        .next()
        .unwrap_or_else(|| panic!("no output: {}", stderr(&o)))
        .parse()
        .unwrap();
    let host: f64 = std::fs::read_to_string("/proc/uptime")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        up > host + 86400.0 * 364.0,
        "container uptime {up}, host {host}"
    );
}

#[test]
fn no_host_fds_leak_into_the_container() {
    let rt = Runtime::new();
    let b = Bundle::new(&["ls", "/proc/self/fd"]);
    // An fd the caller opened without CLOEXEC must not reach the container.
    let f = std::fs::File::open("/etc/hostname").unwrap();
    use std::os::fd::AsRawFd;
    // SAFETY: clearing FD_CLOEXEC on an fd we own.
    unsafe { libc::fcntl(f.as_raw_fd(), libc::F_SETFD, 0) };
    let o = rt.run_bundle(&b, &unique_name("fds"));
    let fds: Vec<_> = stdout(&o).split_whitespace().map(String::from).collect();
    // 0,1,2 and ls's own directory fd.
    assert_eq!(fds, ["0", "1", "2", "3"], "{}", stderr(&o));
    drop(f);
}

#[test]
fn cwd_and_env_are_applied() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["sh", "-c", "pwd; echo $GREETING"]);
    b.edit(|s| {
        s["process"]["cwd"] = json!("/tmp");
        s["process"]["env"]
            .as_array_mut()
            .unwrap()
            .push(json!("GREETING=hi"));
    });
    let o = rt.run_bundle(&b, &unique_name("cwd"));
    assert_eq!(stdout(&o), "/tmp\nhi\n", "{}", stderr(&o));
}

#[test]
fn bad_input_fails_cleanly() {
    let rt = Runtime::new();
    // invalid JSON
    let b = Bundle::new(&["true"]);
    std::fs::write(b.path().join("config.json"), "{ not json").unwrap();
    let id = unique_name("bad");
    let o = rt.run_bundle(&b, &id);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("config.json"), "{}", stderr(&o));
    assert!(!rt.state_dir(&id).exists());

    // missing rootfs
    let b = Bundle::new(&["true"]);
    std::fs::remove_dir_all(b.rootfs()).unwrap();
    let o = rt.run_bundle(&b, &id);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("rootfs"), "{}", stderr(&o));
    assert!(!rt.state_dir(&id).exists());

    // unknown namespace type
    let mut b = Bundle::new(&["true"]);
    b.edit(|s| {
        s["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "bogus"}))
    });
    let o = rt.run_bundle(&b, &id);
    assert!(!o.status.success());
    assert!(!rt.state_dir(&id).exists());

    // a cgroup value the kernel refuses: nothing left behind
    let mut b = Bundle::new(&["true"]);
    b.edit(|s| s["linux"]["resources"]["cpu"] = json!({"quota": 10, "period": 100000}));
    let o = rt.run_bundle(&b, &id);
    assert!(!o.status.success(), "quota 10 was accepted");
    assert!(!rt.state_dir(&id).exists());
    for c in ["cpu", "memory", "pids", "freezer"] {
        assert!(!cgroup_dir(c, &id).exists(), "cgroup {c} left");
    }

    // missing executable: create fails like runc, with its message
    let b = Bundle::new(&["/bin/nosuch"]);
    let o = rt.run_bundle(&b, &id);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("no such file or directory"),
        "{}",
        stderr(&o)
    );
    assert!(!rt.state_dir(&id).exists());

    // --log --log-format json records the error as JSON
    let log = b.path().join("log.json");
    let o = rt
        .cmd()
        .args([
            "--log",
            log.to_str().unwrap(),
            "--log-format",
            "json",
            "state",
            "nope",
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let line = std::fs::read_to_string(&log).unwrap();
    let v: serde_json::Value = serde_json::from_str(line.lines().next().unwrap()).unwrap();
    assert_eq!(v["level"], "error");
    assert!(v["msg"].as_str().unwrap().contains("does not exist"));
}

#[test]
fn console_socket_receives_pty_master() {
    use std::os::fd::{FromRawFd, OwnedFd};
    use std::os::unix::net::UnixListener;
    let rt = Runtime::new();
    let mut b = Bundle::new(&[
        "sh",
        "-c",
        "tty; echo on-the-tty; echo to-console >/dev/console",
    ]);
    b.edit(|s| s["process"]["terminal"] = json!(true));
    let sock = b.path().join("console.sock");
    let l = UnixListener::bind(&sock).unwrap();
    let id = unique_name("tty");
    let child = rt
        .cmd()
        .args([
            "run",
            "-d",
            "--console-socket",
            sock.to_str().unwrap(),
            "--bundle",
            b.path().to_str().unwrap(),
            &id,
        ])
        .spawn()
        .unwrap();
    let (conn, _) = l.accept().unwrap();
    // Receive the master over SCM_RIGHTS.
    let mut buf = [0u8; 64];
    let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    use std::os::fd::AsRawFd;
    let msg = nix::sys::socket::recvmsg::<()>(
        conn.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        nix::sys::socket::MsgFlags::empty(),
    )
    .unwrap();
    let mut master = None;
    for c in msg.cmsgs().unwrap() {
        if let nix::sys::socket::ControlMessageOwned::ScmRights(fds) = c {
            // SAFETY: the fd was just received and is ours.
            master = Some(unsafe { OwnedFd::from_raw_fd(fds[0]) });
        }
    }
    let master = master.expect("no fd received");
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let mut f = std::fs::File::from(master);
    let mut text = String::new();
    let mut chunk = [0u8; 4096];
    use std::io::Read;
    // Read until the container closes its side (EIO on a pty master).
    while let Ok(n) = f.read(&mut chunk) {
        if n == 0 {
            break;
        }
        text.push_str(&String::from_utf8_lossy(&chunk[..n]));
    }
    assert!(text.contains("/dev/pts/0"), "{text:?}");
    assert!(text.contains("on-the-tty"), "{text:?}");
    // /dev/console is the same terminal (bind-mounted pty slave, like runc).
    assert!(text.contains("to-console"), "{text:?}");
    let _ = rt.run(&["delete", "--force", &id]);
}

#[test]
fn memory_hog_is_oom_killed() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["sh", "-c", "x=a; while true; do x=$x$x; done"]);
    b.edit(|s| {
        s["linux"]["resources"]["memory"] =
            json!({"limit": 16 * 1024 * 1024, "swap": 16 * 1024 * 1024})
    });
    let id = unique_name("oom");
    let o = rt.run_bundle(&b, &id);
    assert_eq!(o.status.code(), Some(137), "{}", stderr(&o));
}

#[test]
fn cgroup_limits_reach_the_host_files() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["sleep", "100"]);
    b.edit(|s| {
        s["linux"]["resources"]["cpu"] =
            json!({"quota": 50000, "period": 100000, "cpus": "0", "shares": 512});
        s["linux"]["resources"]["memory"] = json!({"limit": 64 * 1024 * 1024});
        s["linux"]["resources"]["pids"] = json!({"limit": 42});
    });
    let id = unique_name("cg");
    let o = rt.run_detached(&["run", "-d", "--bundle", b.path().to_str().unwrap(), &id]);
    assert!(o.status.success(), "{}", stderr(&o));
    let read = |c: &str, f: &str| {
        std::fs::read_to_string(cgroup_dir(c, &id).join(f))
            .unwrap()
            .trim()
            .to_string()
    };
    assert_eq!(read("cpu", "cpu.cfs_quota_us"), "50000");
    assert_eq!(read("cpu", "cpu.cfs_period_us"), "100000");
    assert_eq!(read("cpu", "cpu.shares"), "512");
    assert_eq!(read("cpuset", "cpuset.cpus"), "0");
    assert_eq!(
        read("memory", "memory.limit_in_bytes"),
        (64 * 1024 * 1024).to_string()
    );
    assert_eq!(read("pids", "pids.max"), "42");
    // update changes them live
    let o = rt.run(&["update", "--memory", "32m", "--pids-limit", "7", &id]);
    assert!(o.status.success(), "update: {}", stderr(&o));
    assert_eq!(
        read("memory", "memory.limit_in_bytes"),
        (32 * 1024 * 1024).to_string()
    );
    assert_eq!(read("pids", "pids.max"), "7");
    // the container sees its limit through its cgroup namespace
    let o = rt.run(&["exec", &id, "cat", "/sys/fs/cgroup/pids/pids.max"]);
    assert_eq!(stdout(&o).trim(), "7", "{}", stderr(&o));
    let dev = std::fs::metadata(cgroup_dir("pids", &id)).unwrap().dev();
    assert!(dev > 0);
    let o = rt.run(&["delete", "-f", &id]);
    assert!(o.status.success());
    assert!(!cgroup_dir("memory", &id).exists());
}
