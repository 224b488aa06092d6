//! Engine lifecycle on the real kernel (root): run, logs, exec, namespaces, cgroups, rm.
#![allow(clippy::field_reassign_with_default)]

mod common;
use common::*;
use engine::{ExecConfig, LogsOptions, RemoveOptions, WaitCondition};

#[test]
fn run_attached_output_exit_code_and_logs() {
    let env = Env::new();
    let (id, code, out, err) = env.run(&["sh", "-c", "echo out; echo err >&2; exit 3"], |_| {});
    assert_eq!(code, 3);
    assert_eq!(out, "out\n");
    assert_eq!(err, "err\n");
    let j = env.engine.inspect(&id).unwrap();
    assert_eq!(j.state.status, "exited");
    assert_eq!(j.state.exit_code, 3);
    assert_eq!(j.config.hostname, &id[..12]);
    let (mut o, mut e) = (Vec::new(), Vec::new());
    env.engine
        .logs(
            &id,
            &LogsOptions {
                stdout: true,
                stderr: true,
                ..Default::default()
            },
            &mut o,
            &mut e,
        )
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&o), "out\n");
    assert_eq!(String::from_utf8_lossy(&e), "err\n");
    let raw = std::fs::read_to_string(
        env.root()
            .join("containers")
            .join(&id)
            .join(format!("{id}-json.log")),
    )
    .unwrap();
    let first: serde_json::Value = serde_json::from_str(raw.lines().next().unwrap()).unwrap();
    assert!(first["time"].as_str().unwrap().ends_with('Z'));
    assert!(first["log"].as_str().unwrap().ends_with('\n'));
    env.engine.remove(&id, &RemoveOptions::default()).unwrap();
    assert!(!env.root().join("containers").join(&id).exists());
    assert!(env.engine.inspect(&id).is_err());
}

#[test]
fn command_not_found_is_127() {
    let env = Env::new();
    let id = env.create(&["nonexistent-cmd"], |_| {});
    let e = env.engine.start(&id).unwrap_err();
    assert_eq!(e.exit_code(), 127, "{e}");
    assert!(e.to_string().contains("executable file not found"), "{e}");
    assert!(
        mounts_under(env.dir.path()).is_empty(),
        "{:?}",
        mounts_under(env.dir.path())
    );
}

#[test]
fn exec_ps_sees_only_the_container_pid1_first() {
    let env = Env::new();
    let id = env.run_d(&["sleep", "1000"], |_| {});
    let out = std::process::Command::new("true").output().unwrap();
    let _ = out;
    let top = env.engine.top(&id, &[]).unwrap();
    assert_eq!(top.processes.len(), 1, "{top:?}");
    // exec writes to our stdout: redirect it to a file for the check.
    let f = tempfile::NamedTempFile::new().unwrap();
    let code = with_stdout(f.path(), || {
        env.engine
            .exec(
                &id,
                &ExecConfig {
                    cmd: vec!["ps".into(), "-o".into(), "pid,args".into()],
                    ..Default::default()
                },
            )
            .unwrap()
    });
    assert_eq!(code, 0);
    let text = std::fs::read_to_string(f.path()).unwrap();
    // fd 1 is process-wide: the test harness may print its own lines in between.
    let rows: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("PID"))
        .skip(1)
        .filter(|l| !l.starts_with("test "))
        .collect();
    assert_eq!(rows.len(), 2, "{text}");
    assert!(
        rows[0].trim().starts_with("1 ") && rows[0].contains("sleep 1000"),
        "{text}"
    );
    assert!(rows[1].contains("ps -o"), "{text}");
    let code = env
        .engine
        .exec(
            &id,
            &ExecConfig {
                cmd: vec!["sh".into(), "-c".into(), "exit 7".into()],
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(code, 7);
    let e = env
        .engine
        .exec(
            &id,
            &ExecConfig {
                cmd: vec!["nope".into()],
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(e.exit_code(), 127);
    env.engine
        .remove(
            &id,
            &RemoveOptions {
                force: true,
                volumes: false,
            },
        )
        .unwrap();
}

fn with_stdout<T>(p: &std::path::Path, f: impl FnOnce() -> T) -> T {
    use std::os::fd::AsRawFd;
    let file = std::fs::File::create(p).unwrap();
    // SAFETY: swap fd 1 for the duration of `f` (tests in this file don't print meanwhile).
    let saved = unsafe { libc::dup(1) };
    unsafe { libc::dup2(file.as_raw_fd(), 1) };
    let r = f();
    unsafe {
        libc::dup2(saved, 1);
        libc::close(saved);
    }
    r
}

#[test]
fn namespaces_differ_and_cgroups_are_removed() {
    let env = Env::new();
    let id = env.run_d(&["sleep", "1000"], |r| {
        r.host_config.cpu_quota = 50000;
    });
    let j = env.engine.inspect(&id).unwrap();
    assert_eq!(j.state.status, "running");
    let pid = j.state.pid;
    assert!(pid > 0);
    for ns in ["pid", "mnt", "uts", "ipc", "net"] {
        let a = std::fs::read_link(format!("/proc/{pid}/ns/{ns}")).unwrap();
        let b = std::fs::read_link(format!("/proc/self/ns/{ns}")).unwrap();
        assert_ne!(a, b, "{ns} namespace is shared with the host");
    }
    let dirs = cgroup_dirs(&id);
    assert!(!dirs.is_empty());
    let quota = dirs
        .iter()
        .find_map(|d| std::fs::read_to_string(d.join("cpu.cfs_quota_us")).ok())
        .expect("cpu.cfs_quota_us");
    assert_eq!(quota.trim(), "50000");
    // MergedDir is mounted while running.
    let merged = j.graph_driver.data.get("MergedDir").cloned().unwrap();
    assert!(mounts_under(std::path::Path::new(&merged)).contains(&merged));
    env.engine.stop(&id, Some(1)).unwrap();
    let j = env.engine.inspect(&id).unwrap();
    assert_eq!(j.state.status, "exited");
    // PID 1 ignores SIGTERM without a handler (as with Docker): killed after the timeout.
    assert_eq!(j.state.exit_code, 137);
    env.engine.remove(&id, &RemoveOptions::default()).unwrap();
    assert!(cgroup_dirs(&id).is_empty());
    assert!(mounts_under(env.dir.path()).is_empty());
}

#[test]
fn auto_remove_removes_everything() {
    let env = Env::new();
    let (id, code, out, _) = env.run(&["echo", "hi"], |r| r.host_config.auto_remove = true);
    assert_eq!(code, 0);
    assert_eq!(out, "hi\n");
    assert!(env.engine.inspect(&id).is_err());
    assert!(!env.root().join("containers").join(&id).exists());
    assert!(!env.runroot().join("containers").join(&id).exists());
    assert!(cgroup_dirs(&id).is_empty());
    assert!(mounts_under(env.dir.path()).is_empty());
    assert!(env
        .engine
        .list(&engine::ListOptions {
            all: true,
            ..Default::default()
        })
        .unwrap()
        .is_empty());
}

#[test]
fn wait_stop_kill_list_names() {
    let env = Env::new();
    let id = env.run_d(&["sleep", "1000"], |r| r.name = Some("web1".into()));
    assert_eq!(env.engine.resolve("web1").unwrap(), id);
    assert_eq!(env.engine.resolve(&id[..8]).unwrap(), id);
    let dup = env.engine.create({
        let mut r = engine::CreateRequest::default();
        r.name = Some("web1".into());
        r.config.image = "busybox".into();
        r.config.cmd = Some(vec!["true".into()]);
        r
    });
    assert!(matches!(dup, Err(engine::Error::NameInUse { .. })));
    let l = env.engine.list(&Default::default()).unwrap();
    assert_eq!(l.len(), 1);
    assert_eq!(l[0].names, vec!["/web1".to_string()]);
    assert!(l[0].status.starts_with("Up "), "{}", l[0].status);
    env.engine.kill(&id, "KILL").unwrap();
    let w = env.engine.wait(&id, WaitCondition::NotRunning).unwrap();
    assert_eq!(w.status_code, 137);
    assert!(env.engine.list(&Default::default()).unwrap().is_empty());
    let l = env
        .engine
        .list(&engine::ListOptions {
            all: true,
            ..Default::default()
        })
        .unwrap();
    assert!(l[0].status.starts_with("Exited (137)"), "{}", l[0].status);
    env.engine.rename("web1", "web2").unwrap();
    assert_eq!(env.engine.resolve("web2").unwrap(), id);
    assert!(env.engine.resolve("web1").is_err());
    let info = env.engine.info().unwrap();
    assert_eq!((info.containers, info.stopped), (1, 1));
}

/// Our zombie children (pid, NSpid line): a failed exec's final process is our child
/// (CLONE_PARENT) and must be reaped, or the container's pid namespace never dies and
/// removing it hangs with its init in exit.
fn zombie_children() -> Vec<(i32, String)> {
    let me = std::process::id().to_string();
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let st = std::fs::read_to_string(e.path().join("status")).unwrap_or_default();
        let field = |k: &str| {
            st.lines()
                .find_map(|l| l.strip_prefix(k).map(|v| v.trim().to_string()))
                .unwrap_or_default()
        };
        if field("PPid:") == me && field("State:").starts_with('Z') {
            out.push((pid, field("NSpid:")));
        }
    }
    out
}

#[test]
fn failed_execs_leave_no_zombie_in_the_container() {
    let env = Env::new();
    let id = env.run_d(&["sleep", "1000"], |_| {});
    for _ in 0..30 {
        let e = env
            .engine
            .exec(
                &id,
                &ExecConfig {
                    cmd: vec!["nope".into()],
                    ..Default::default()
                },
            )
            .unwrap_err();
        assert_eq!(e.exit_code(), 127);
    }
    // Zombies of other tests' execs in this process come and go; a leaked one stays.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    loop {
        let z: Vec<_> = zombie_children()
            .into_iter()
            .filter(|(_, ns)| ns.split_whitespace().count() > 1)
            .collect();
        if z.is_empty() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "zombies left: {z:?}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    env.engine
        .remove(
            &id,
            &RemoveOptions {
                force: true,
                volumes: true,
            },
        )
        .unwrap();
}
