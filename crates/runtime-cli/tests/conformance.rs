//! Regressions of the OCI conformance suite (youki's contest, `../shared/conformance`): what it
//! found berth-runtime doing differently from runc and youki, checked here on the real kernel
//! (root) the way the suite checks it (stderr words, exit codes, what a process sees).

mod common;

use common::{stderr, stdout, unique_name, Bundle, Runtime};
use serde_json::{json, Value};
use std::fs;
use std::io::IoSliceMut;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::Duration;

/// `run` of a bundle that runs to completion: (exit code, stdout, stderr).
fn run(rt: &Runtime, b: &Bundle) -> (i32, String, String) {
    let id = unique_name("conf");
    let o = rt.run_bundle(b, &id);
    (o.status.code().unwrap_or(-1), stdout(&o), stderr(&o))
}

fn create(rt: &Runtime, b: &Bundle, id: &str) -> std::process::Output {
    rt.run_detached(&["create", "--bundle", b.path().to_str().unwrap(), id])
}

fn run_detached(rt: &Runtime, b: &Bundle, id: &str) {
    let o = rt.run_detached(&[
        "run",
        "--detach",
        "--bundle",
        b.path().to_str().unwrap(),
        id,
    ]);
    assert!(o.status.success(), "run -d: {}", stderr(&o));
}

fn status_field(status: &str, name: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:\t")))
        .unwrap_or_else(|| panic!("no {name} in:\n{status}"))
        .to_string()
}

#[test]
fn refusals_say_error_on_stderr() {
    let rt = Runtime::new();
    let missing = unique_name("missing");
    for args in [
        vec!["kill", missing.as_str(), "9"],
        vec!["delete", missing.as_str()],
        vec!["kill", "", "9"],
        vec!["state", missing.as_str()],
    ] {
        let o = rt.run(&args);
        assert!(!o.status.success(), "{args:?} succeeded");
        assert!(stderr(&o).contains("error"), "{args:?}: {}", stderr(&o));
    }
    // A stopped container: kill is refused, with "error", and changes nothing.
    let b = Bundle::new(&["true"]);
    let id = unique_name("stopped");
    run_detached(&rt, &b, &id);
    for _ in 0..200 {
        if rt.state(&id)["status"] == "stopped" {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let before = rt.state(&id);
    assert_eq!(before["status"], "stopped");
    let o = rt.run(&["kill", &id, "9"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("error"), "{}", stderr(&o));
    assert_eq!(rt.state(&id), before);
    let o = rt.run(&["delete", &id]);
    assert!(o.status.success(), "delete: {}", stderr(&o));
}

#[test]
fn unknown_capability_is_a_warning_in_runcs_words() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["sh", "-c", "echo ran"]);
    b.edit(|s| {
        s["process"]["capabilities"]["bounding"] = json!(["TEST_CAP", "CAP_KILL"]);
        s["process"]["capabilities"]["effective"] = json!(["TEST_CAP"]);
    });
    let (code, out, err) = run(&rt, &b);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out, "ran\n");
    assert!(
        err.contains("ignoring unknown or unavailable capabilities: [TEST_CAP]"),
        "{err}"
    );
    assert!(!err.contains("error"), "{err}");
}

#[test]
fn invalid_rlimit_fails_create_itself() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["sleep", "100"]);
    b.edit(|s| {
        s["process"]["rlimits"] =
            json!([{"type": "RLIMIT_NOFILE", "hard": u64::MAX, "soft": u64::MAX}]);
    });
    let id = unique_name("rlimit");
    let o = create(&rt, &b, &id);
    assert!(
        !o.status.success(),
        "create with an impossible rlimit succeeded"
    );
    assert!(stderr(&o).contains("RLIMIT_NOFILE"), "{}", stderr(&o));
    assert!(
        !rt.state_dir(&id).exists(),
        "state left after a failed create"
    );
}

#[test]
fn no_ambient_capability_warnings() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["sh", "-c", "grep CapAmb /proc/self/status"]);
    // Ambient capabilities that are not inheritable cannot be raised: left out quietly.
    b.edit(|s| {
        s["process"]["capabilities"]["ambient"] = json!(["CAP_KILL", "CAP_AUDIT_WRITE"]);
        s["process"]["capabilities"]["inheritable"] = json!(["CAP_KILL"]);
    });
    let (code, out, err) = run(&rt, &b);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(err, "", "stderr must stay empty");
    // CAP_KILL (5) is permitted and inheritable: raised.
    assert_eq!(out.trim(), "CapAmb:\t0000000000000020");
}

#[test]
fn start_container_hooks_inherit_the_process_env() {
    let rt = Runtime::new();
    let hook = |cond: &str, env: Option<Value>| {
        let mut h = json!({"path": "/bin/sh",
            "args": ["sh", "-c", format!("if {cond}; then exit 0; else exit 1; fi")]});
        if let Some(e) = env {
            h["env"] = e;
        }
        h
    };
    // No env of its own: the container process's.
    let mut b = Bundle::new(&["true"]);
    b.edit(|s| {
        s["process"]["env"]
            .as_array_mut()
            .unwrap()
            .extend([json!("ONE=two"), json!("FOO=bar")]);
        s["hooks"] = json!({"startContainer": [
            hook(r#"test "$ONE" = two && test "$FOO" = bar"#, None)]});
    });
    let (code, out, err) = run(&rt, &b);
    assert_eq!(code, 0, "inheriting hook failed: {out}{err}");
    // Its own env: only that.
    b.edit(|s| {
        s["process"]["env"]
            .as_array_mut()
            .unwrap()
            .push(json!("PROC_VAR=no"));
        s["hooks"] = json!({"startContainer": [
            hook(r#"test "$HOOK_VAR" = yes && test -z "$PROC_VAR""#, Some(json!(["HOOK_VAR=yes"])))]});
    });
    let (code, out, err) = run(&rt, &b);
    assert_eq!(code, 0, "explicit-env hook failed: {out}{err}");
    // And a failing check fails the container (the hooks really run).
    b.edit(|s| {
        s["hooks"] = json!({"startContainer": [hook(r#"test -n "$PROC_VAR""#, Some(json!([])))]});
    });
    let (code, _, _) = run(&rt, &b);
    assert_ne!(code, 0, "a failing startContainer hook went unnoticed");
}

/// A host directory with a tmpfs mounted at `sub/`, unmounted on drop.
struct HostTree {
    dir: tempfile::TempDir,
}

impl HostTree {
    fn new() -> HostTree {
        let dir = tempfile::Builder::new()
            .prefix("berth-conf-tree")
            .tempdir()
            .unwrap();
        fs::create_dir(dir.path().join("sub")).unwrap();
        nix::mount::mount(
            Some("tmpfs"),
            &dir.path().join("sub"),
            Some("tmpfs"),
            nix::mount::MsFlags::empty(),
            Some("size=1m"),
        )
        .expect("mount tmpfs");
        HostTree { dir }
    }
}

impl Drop for HostTree {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(
            &self.dir.path().join("sub"),
            nix::mount::MntFlags::MNT_DETACH,
        );
    }
}

#[test]
fn rbind_ro_is_read_only_on_top_only_unless_rro() {
    let rt = Runtime::new();
    let tree = HostTree::new();
    let src = tree.dir.path().to_str().unwrap().to_string();
    let script = "echo x > /m/top && echo top-writable || echo top-ro; \
                  echo x > /m/sub/f && echo sub-writable || echo sub-ro";
    let mut b = Bundle::new(&["sh", "-c", script]);
    for (opts, want) in [
        (json!(["rbind", "ro"]), "top-ro\nsub-writable\n"),
        (json!(["rbind", "ro", "rro"]), "top-ro\nsub-ro\n"),
        (json!(["rbind", "rro"]), "top-ro\nsub-ro\n"),
    ] {
        b.edit(|s| {
            s["mounts"]
                .as_array_mut()
                .unwrap()
                .retain(|m| m["destination"] != "/m");
            s["mounts"]
                .as_array_mut()
                .unwrap()
                .push(json!({"destination": "/m", "type": "bind", "source": src, "options": opts}));
        });
        let (code, out, err) = run(&rt, &b);
        assert_eq!(code, 0, "{err}");
        assert_eq!(out, want, "options {opts}: {err}");
    }
}

#[test]
fn spec_without_mount_namespace_runs_in_the_callers() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["sleep", "100"]);
    b.edit(|s| {
        s["linux"]["namespaces"] = json!([]);
        s["linux"]["maskedPaths"] = json!([]);
        s["linux"]["readonlyPaths"] = json!([]);
        s["hostname"] = Value::Null;
        s["root"]["readonly"] = json!(false);
    });
    let id = unique_name("nomnt");
    let o = create(&rt, &b, &id);
    let rootfs = b.rootfs();
    let cleanup = || {
        let _ = nix::mount::umount2(&rootfs, nix::mount::MntFlags::MNT_DETACH);
    };
    if !o.status.success() {
        cleanup();
        panic!("create: {}", stderr(&o));
    }
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    for ns in ["mnt", "pid", "net", "uts", "ipc"] {
        let theirs = fs::read_link(format!("/proc/{pid}/ns/{ns}")).unwrap();
        let ours = fs::read_link(format!("/proc/self/ns/{ns}")).unwrap();
        if theirs != ours {
            cleanup();
            panic!("{ns} namespace is not the caller's");
        }
    }
    // The container's root is the rootfs (a chroot), not the host's /.
    let root = fs::read_link(format!("/proc/{pid}/root")).unwrap();
    cleanup();
    assert_eq!(root, fs::canonicalize(b.rootfs()).unwrap());
    let o = rt.run(&["delete", "--force", &id]);
    assert!(o.status.success(), "delete: {}", stderr(&o));

    // Masks need a mount namespace: refused, as runc does.
    b.edit(|s| s["linux"]["maskedPaths"] = json!(["/proc/kcore"]));
    let o = create(&rt, &b, &unique_name("nomnt"));
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("without a private MNT namespace"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn proc_or_sys_as_symlink_in_the_rootfs_is_refused() {
    let rt = Runtime::new();
    for dir in ["proc", "sys"] {
        let b = Bundle::new(&["true"]);
        let p = b.rootfs().join(dir);
        fs::remove_dir(&p).unwrap();
        std::os::unix::fs::symlink(&p, &p).unwrap();
        let id = unique_name("symlink");
        let o = create(&rt, &b, &id);
        assert!(!o.status.success(), "/{dir} as a symlink was followed");
        assert!(
            stderr(&o).contains("must be mounted on ordinary directory"),
            "{}",
            stderr(&o)
        );
        assert!(!rt.state_dir(&id).exists());
    }
}

#[test]
fn seccomp_notify_fd_goes_to_the_listener() {
    let rt = Runtime::new();
    let sockdir = tempfile::tempdir().unwrap();
    let sock = sockdir.path().join("agent.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let mut b = Bundle::new(&["sleep", "100"]);
    b.edit(|s| {
        s["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64"],
            "listenerPath": sock,
            "listenerMetadata": "opaque metadata",
            "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_NOTIFY"}]
        });
    });
    let id = unique_name("notify");
    // create returns once the state and fd are queued on the agent's socket.
    let o = create(&rt, &b, &id);
    assert!(o.status.success(), "create: {}", stderr(&o));
    listener.set_nonblocking(true).unwrap();
    let (conn, _) = listener.accept().expect("the runtime never connected");
    conn.set_nonblocking(false).unwrap();
    let mut buf = vec![0u8; 8192];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let mut iov = [IoSliceMut::new(&mut buf)];
    let msg = nix::sys::socket::recvmsg::<()>(
        conn.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        nix::sys::socket::MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .unwrap();
    let mut fds = Vec::new();
    for c in msg.cmsgs().unwrap() {
        if let nix::sys::socket::ControlMessageOwned::ScmRights(f) = c {
            fds.extend(f);
        }
    }
    let n = msg.bytes;
    assert_eq!(fds.len(), 1, "one seccomp fd expected");
    let state: Value = serde_json::from_slice(&buf[..n]).unwrap();
    let pid = rt.state(&id)["pid"].clone();
    assert_eq!(state["pid"], pid, "{state}");
    assert_eq!(state["state"]["id"], json!(id), "{state}");
    assert_eq!(state["metadata"], "opaque metadata");
    assert_eq!(state["fds"], json!(["seccompFd"]));
    // The fd is a seccomp notify fd: its link names it.
    let link = fs::read_link(format!("/proc/self/fd/{}", fds[0])).unwrap();
    assert!(link.to_string_lossy().contains("seccomp"), "{link:?}");
    // SAFETY: closing the fd we received and own.
    unsafe { libc::close(fds[0]) };
    let o = rt.run(&["delete", "--force", &id]);
    assert!(o.status.success(), "delete: {}", stderr(&o));
}

#[test]
fn exec_cap_names_ignore_paused_and_personality() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["sleep", "100"]);
    b.edit(|s| {
        s["process"]["capabilities"] =
            json!({"bounding": [], "effective": [], "permitted": [], "inheritable": []});
        s["process"]["noNewPrivileges"] = json!(false);
        s["linux"]["personality"] = json!({"domain": "LINUX32"});
    });
    let id = unique_name("exec");
    run_detached(&rt, &b, &id);
    let o = rt.run(&[
        "exec",
        "--cap",
        "CAP_KILL",
        "--cap=CAP_AUDIT_WRITE",
        &id,
        "cat",
        "/proc/self/status",
    ]);
    assert!(o.status.success(), "exec --cap: {}", stderr(&o));
    let st = stdout(&o);
    assert_eq!(status_field(&st, "CapBnd"), "0000000020000020");
    assert_eq!(status_field(&st, "CapEff"), "0000000020000020");
    assert_eq!(status_field(&st, "CapPrm"), "0000000020000020");
    assert_eq!(status_field(&st, "CapInh"), "0000000000000000");
    // The spec's personality holds for exec'd processes too.
    let o = rt.run(&["exec", &id, "uname", "-m"]);
    assert_eq!(stdout(&o), "i686\n", "{}", stderr(&o));

    let o = rt.run(&["pause", &id]);
    assert!(o.status.success(), "pause: {}", stderr(&o));
    let o = rt.run(&["exec", &id, "echo", "no"]);
    assert!(
        !o.status.success(),
        "exec into a paused container without the flag"
    );
    let resumer = {
        let root = rt.root.path().to_path_buf();
        let id = id.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(500));
            std::process::Command::new(env!("CARGO_BIN_EXE_berth-runtime"))
                .arg("--root")
                .arg(root)
                .args(["resume", &id])
                .status()
                .unwrap()
        })
    };
    let o = rt.run(&["exec", "--ignore-paused", &id, "echo", "ran while paused"]);
    assert!(resumer.join().unwrap().success());
    assert!(o.status.success(), "exec --ignore-paused: {}", stderr(&o));
    assert_eq!(stdout(&o), "ran while paused\n");
    let o = rt.run(&["delete", "--force", &id]);
    assert!(o.status.success(), "delete: {}", stderr(&o));
}

#[test]
fn exec_cpu_affinity_initial_and_final() {
    let cpus = std::thread::available_parallelism().unwrap().get();
    assert!(cpus >= 2, "this test needs 2 CPUs, the machine has {cpus}");
    let rt = Runtime::new();
    let mut b = Bundle::new(&["sleep", "100"]);
    b.edit(|s| s["process"]["execCPUAffinity"] = json!({"initial": "0", "final": "1"}));
    let id = unique_name("affinity");
    run_detached(&rt, &b, &id);
    let o = rt.run(&[
        "--debug",
        "exec",
        &id,
        "grep",
        "Cpus_allowed_list",
        "/proc/self/status",
    ]);
    assert!(o.status.success(), "exec: {}", stderr(&o));
    assert_eq!(
        stdout(&o).split_whitespace().last(),
        Some("1"),
        "{}",
        stdout(&o)
    );
    assert!(stderr(&o).contains("affinity: 0x1"), "{}", stderr(&o));
    // From a process.json: initial only.
    let p = b.path().join("process.json");
    let mut proc_json = b.spec["process"].clone();
    proc_json["args"] = json!(["grep", "Cpus_allowed_list", "/proc/self/status"]);
    proc_json["execCPUAffinity"] = json!({"initial": "0,1"});
    fs::write(&p, serde_json::to_vec(&proc_json).unwrap()).unwrap();
    let o = rt.run(&["--debug", "exec", "--process", p.to_str().unwrap(), &id]);
    assert!(o.status.success(), "exec --process: {}", stderr(&o));
    assert!(stderr(&o).contains("affinity: 0x3"), "{}", stderr(&o));
    let o = rt.run(&["delete", "--force", &id]);
    assert!(o.status.success(), "delete: {}", stderr(&o));
}

#[test]
fn memory_policy_is_applied_or_refused() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["sh", "-c", "head -n1 /proc/self/numa_maps"]);
    b.edit(|s| s["linux"]["memoryPolicy"] = json!({"mode": "MPOL_INTERLEAVE", "nodes": "0"}));
    let (code, out, err) = run(&rt, &b);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("interleave:0"), "{out}");
    // Nodes with MPOL_DEFAULT: the kernel refuses, and so does create.
    b.edit(|s| {
        s["linux"]["memoryPolicy"] = json!({"mode": "MPOL_DEFAULT", "nodes": "0-7",
            "flags": ["MPOL_F_STATIC_NODES", "MPOL_F_RELATIVE_NODES"]})
    });
    let id = unique_name("mempol");
    let o = create(&rt, &b, &id);
    assert!(
        !o.status.success(),
        "an impossible memory policy was accepted"
    );
    assert!(stderr(&o).contains("memoryPolicy"), "{}", stderr(&o));
    // A mode that does not exist: the spec is refused.
    b.edit(|s| s["linux"]["memoryPolicy"] = json!({"mode": "INTERLEAVE", "nodes": "0"}));
    let o = create(&rt, &b, &unique_name("mempol"));
    assert!(!o.status.success());
}

#[test]
fn rootfs_propagation_unbindable() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["awk", "$5 == \"/\"", "/proc/self/mountinfo"]);
    b.edit(|s| s["linux"]["rootfsPropagation"] = json!("unbindable"));
    let (code, out, err) = run(&rt, &b);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("unbindable"), "{out}");
}

#[test]
fn invalid_oci_version_is_refused() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["true"]);
    for v in ["invalid", "2.0.0", "1.0"] {
        b.edit(|s| s["ociVersion"] = json!(v));
        let o = create(&rt, &b, &unique_name("ver"));
        assert!(!o.status.success(), "ociVersion {v} accepted");
        assert!(stderr(&o).contains("ociVersion"), "{}", stderr(&o));
    }
    for v in ["1.0.2-dev", "1.2.0", "1.1.0+build"] {
        b.edit(|s| s["ociVersion"] = json!(v));
        let (code, _, err) = run(&rt, &b);
        assert_eq!(code, 0, "ociVersion {v}: {err}");
    }
    assert!(Path::new(env!("CARGO_BIN_EXE_berth-runtime")).exists());
}

#[test]
fn events_stats_in_runcs_schema() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["sleep", "100"]);
    b.edit(|s| s["linux"]["resources"]["memory"] = json!({"limit": 64 << 20}));
    let id = unique_name("events");
    run_detached(&rt, &b, &id);
    let o = rt.run(&["events", "--stats", &id]);
    assert!(o.status.success(), "events: {}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["type"], "stats");
    assert_eq!(v["id"], json!(id));
    assert_eq!(
        v["data"]["memory"]["usage"]["limit"],
        json!(64 << 20),
        "{v}"
    );
    assert!(
        v["data"]["memory"]["usage"]["usage"].as_u64().unwrap() > 0,
        "{v}"
    );
    assert!(v["data"]["pids"]["current"].as_u64().unwrap() >= 1, "{v}");
    // Without --stats: samples until the container stops.
    let child = rt
        .cmd()
        .args(["events", "--interval", "100ms", &id])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(350));
    let o = rt.run(&["kill", &id, "KILL"]);
    assert!(o.status.success(), "kill: {}", stderr(&o));
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.len() >= 2, "{lines:?}");
    assert!(lines.iter().all(|l| l["type"] == "stats"));
    let o = rt.run(&["delete", &id]);
    assert!(o.status.success(), "delete: {}", stderr(&o));
}

#[test]
fn symlinked_root_path_is_refused() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["true"]);
    std::os::unix::fs::symlink("rootfs", b.path().join("link")).unwrap();
    b.edit(|s| s["root"]["path"] = json!("link"));
    let id = unique_name("rootlink");
    let o = create(&rt, &b, &id);
    assert!(!o.status.success(), "a symlinked root.path was followed");
    assert!(stderr(&o).contains("invalid rootfs"), "{}", stderr(&o));
    assert!(!rt.state_dir(&id).exists());
}

#[test]
fn impossible_capability_sets_fail_create_itself() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["sleep", "100"]);
    // No bounding set (all dropped), yet SYS_ADMIN inheritable: the kernel refuses.
    b.edit(|s| {
        s["process"]["capabilities"] = json!({"effective": ["CAP_SYS_ADMIN"],
            "inheritable": ["CAP_SYS_ADMIN"], "permitted": ["CAP_SYS_ADMIN"]});
    });
    let id = unique_name("caps");
    let o = create(&rt, &b, &id);
    assert!(
        !o.status.success(),
        "create succeeded with impossible capabilities"
    );
    assert!(
        stderr(&o).contains("Operation not permitted") || stderr(&o).contains("EPERM"),
        "{}",
        stderr(&o)
    );
    assert!(!rt.state_dir(&id).exists());
}

#[test]
fn create_start_as_a_non_root_user() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["sh", "-c", "id -u; id -G"]);
    b.edit(|s| s["process"]["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [5]}));
    let id = unique_name("user");
    let log = b.path().join("out");
    let o = rt
        .cmd()
        .args(["create", "--bundle", b.path().to_str().unwrap(), &id])
        .stdin(std::process::Stdio::null())
        .stdout(fs::File::create(&log).unwrap())
        .stderr(fs::File::create(b.path().join("err")).unwrap())
        .status()
        .unwrap();
    assert!(
        o.success(),
        "create: {}",
        fs::read_to_string(b.path().join("err")).unwrap()
    );
    let o = rt.run(&["start", &id]);
    assert!(o.status.success(), "start: {}", stderr(&o));
    for _ in 0..200 {
        if rt.state(&id)["status"] == "stopped" {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let err = fs::read_to_string(b.path().join("err")).unwrap();
    assert_eq!(err, "", "the container failed after start");
    assert_eq!(fs::read_to_string(&log).unwrap(), "1000\n1000 5\n");
    let o = rt.run(&["delete", &id]);
    assert!(o.status.success(), "delete: {}", stderr(&o));
}
