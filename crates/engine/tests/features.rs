//! Resource limits, OOM, filesystem changes, commit/export, restart policies, crash cleanup and
//! concurrency (root, real kernel).

mod common;
use common::*;
use engine::{CommitOptions, RemoveOptions};
use std::sync::Arc;

#[test]
fn cpus_and_cpuset() {
    let env = Env::new();
    let id = env.run_d(&["sleep", "1000"], |r| {
        r.host_config.nano_cpus = 1_500_000_000;
        r.host_config.cpuset_cpus = "0,1".into();
    });
    let dirs = cgroup_dirs(&id);
    let read = |f: &str| {
        dirs.iter()
            .find_map(|d| std::fs::read_to_string(d.join(f)).ok())
            .unwrap()
    };
    assert_eq!(read("cpu.cfs_quota_us").trim(), "150000");
    assert_eq!(read("cpu.cfs_period_us").trim(), "100000");
    assert_eq!(read("cpuset.cpus").trim(), "0-1");
    env.engine
        .remove(
            &id,
            &RemoveOptions {
                force: true,
                volumes: false,
            },
        )
        .unwrap();
    assert!(cgroup_dirs(&id).is_empty());
}

#[test]
fn memory_hog_is_oom_killed() {
    let env = Env::new();
    let (id, code, _, _) = env.run(&["sh", "-c", "x=a; while true; do x=$x$x$x$x; done"], |r| {
        r.host_config.memory = 16 << 20;
        r.host_config.memory_swap = 16 << 20;
    });
    assert_eq!(code, 137);
    assert!(env.engine.inspect(&id).unwrap().state.oom_killed);
}

#[test]
fn diff_commit_export() {
    let env = Env::new();
    let (id, code, _, _) = env.run(
        &[
            "sh",
            "-c",
            "echo new > /added; echo x >> /etc/passwd; rm /www/index.html",
        ],
        |_| {},
    );
    assert_eq!(code, 0);
    let ch: Vec<(char, String)> = env
        .engine
        .changes(&id)
        .unwrap()
        .into_iter()
        .map(|c| (c.kind, c.path))
        .collect();
    assert!(ch.contains(&('A', "/added".into())), "{ch:?}");
    assert!(ch.contains(&('C', "/etc/passwd".into())), "{ch:?}");
    assert!(ch.contains(&('D', "/www/index.html".into())), "{ch:?}");
    assert!(
        !ch.iter()
            .any(|(_, p)| p == "/etc/hosts" || p == "/etc/hostname"),
        "{ch:?}"
    );

    let img = env
        .engine
        .commit(
            &id,
            &CommitOptions {
                reference: Some("committed:1".into()),
                ..Default::default()
            },
        )
        .unwrap();
    assert!(img.starts_with("sha256:"));
    let (_, code, out, _) = env.run(
        &[
            "sh",
            "-c",
            "cat /added; test -e /www/index.html || echo gone; cat /etc/hostname",
        ],
        |r| r.config.image = "committed:1".into(),
    );
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "new");
    assert_eq!(lines[1], "gone");
    // The new container's own hostname, not the committed one's.
    assert_ne!(lines[2], &id[..12]);

    let mut tar = Vec::new();
    env.engine.export(&id, &mut tar).unwrap();
    let mut a = tar::Archive::new(&tar[..]);
    let mut found = false;
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap().to_string_lossy().trim_start_matches("./") == "added" {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut e, &mut s).unwrap();
            assert_eq!(s, "new\n");
            found = true;
        }
    }
    assert!(found, "export lacks /added");
    assert!(mounts_under(env.dir.path()).is_empty());
}

#[test]
fn pid_host_sees_host_processes() {
    let env = Env::new();
    let me = std::process::id();
    let (_, code, out, _) = env.run(
        &["sh", "-c", &format!("test -d /proc/{me} && echo seen")],
        |r| {
            r.host_config.pid_mode = "host".into();
        },
    );
    assert_eq!(code, 0);
    assert_eq!(out, "seen\n");
}

#[test]
fn restart_on_failure_twice() {
    let env = Env::new();
    let id = env.create(&["sh", "-c", "echo run; exit 2"], |r| {
        r.host_config.restart_policy.name = "on-failure".into();
        r.host_config.restart_policy.maximum_retry_count = 2;
    });
    env.engine.start(&id).unwrap();
    // Wait until the monitor is gone (it runs the restarts itself).
    let j = env.engine.wait(&id, engine::WaitCondition::Removed);
    let _ = j;
    let mut rec = env.engine.inspect(&id).unwrap();
    for _ in 0..3 {
        if rec.state.status == "exited" {
            break;
        }
        env.engine
            .wait(&id, engine::WaitCondition::NotRunning)
            .unwrap();
        rec = env.engine.inspect(&id).unwrap();
    }
    assert_eq!(rec.state.status, "exited");
    assert_eq!(rec.restart_count, 2);
    assert_eq!(rec.state.exit_code, 2);
    let (mut o, mut e) = (Vec::new(), Vec::new());
    env.engine
        .logs(
            &id,
            &engine::LogsOptions {
                stdout: true,
                stderr: true,
                ..Default::default()
            },
            &mut o,
            &mut e,
        )
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&o), "run\nrun\nrun\n");
}

#[test]
fn kill_9_monitor_then_rm_f_leaves_nothing() {
    let env = Env::new();
    let id = env.run_d(&["sleep", "1000"], |_| {});
    let j = env.engine.inspect(&id).unwrap();
    let pid = j.state.pid as i32;
    let rec: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            env.root()
                .join("containers")
                .join(&id)
                .join("config.v2.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let mpid = rec["MonitorPid"].as_i64().unwrap() as i32;
    assert!(mpid > 0);
    let cmdline = std::fs::read_to_string(format!("/proc/{mpid}/cmdline")).unwrap();
    assert!(cmdline.starts_with("berth-monitor"), "{cmdline:?}");
    // SAFETY: killing the monitor this test started.
    unsafe { libc::kill(mpid, libc::SIGKILL) };
    while std::path::Path::new(&format!("/proc/{mpid}/cmdline")).exists()
        && std::fs::read_to_string(format!("/proc/{mpid}/stat")).is_ok_and(|s| !s.contains(") Z"))
    {
        std::thread::yield_now();
    }
    env.engine
        .remove(
            &id,
            &RemoveOptions {
                force: true,
                volumes: false,
            },
        )
        .unwrap();
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|s| s.contains(") Z"))
    );
    assert!(cgroup_dirs(&id).is_empty());
    assert!(
        mounts_under(env.dir.path()).is_empty(),
        "{:?}",
        mounts_under(env.dir.path())
    );
    assert!(!env.root().join("containers").join(&id).exists());
    assert!(!env.runroot().join("containers").join(&id).exists());
    assert!(!env.runroot().join("runtime").join(&id).exists());
}

#[test]
fn fifty_parallel_run_rm() {
    let env = Arc::new(Env::new());
    let mut hs = Vec::new();
    for i in 0..50 {
        let env = env.clone();
        hs.push(std::thread::spawn(move || {
            let (_, code, out, _) = env.run(&["echo", &format!("c{i}")], |r| {
                r.host_config.auto_remove = true
            });
            (code, out)
        }));
    }
    for (i, h) in hs.into_iter().enumerate() {
        let (code, out) = h.join().unwrap();
        assert_eq!(code, 0);
        assert_eq!(out, format!("c{i}\n"));
    }
    assert!(env
        .engine
        .list(&engine::ListOptions {
            all: true,
            ..Default::default()
        })
        .unwrap()
        .is_empty());
    assert!(mounts_under(env.dir.path()).is_empty());
    // No record is left; the removed ones' files are renamed aside (`.removed-<id>`) and
    // deleted by their monitors right after they reported the exit.
    let entries = || -> Vec<String> {
        std::fs::read_dir(env.root().join("containers"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    };
    assert!(
        entries().iter().all(|n| n.starts_with(".removed-")),
        "{:?}",
        entries()
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !entries().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(entries(), Vec::<String>::new());
}

#[test]
fn cpus_half_measures_near_half_a_cpu() {
    let env = Env::new();
    let id = env.run_d(&["sh", "-c", "while :; do :; done"], |r| {
        r.host_config.nano_cpus = 500_000_000
    });
    let dirs = cgroup_dirs(&id);
    let usage = || -> u64 {
        dirs.iter()
            .find_map(|d| std::fs::read_to_string(d.join("cpuacct.usage")).ok())
            .or_else(|| {
                dirs.iter()
                    .find_map(|d| std::fs::read_to_string(d.join("cpu.stat")).ok())
                    .map(|s| {
                        s.lines()
                            .find(|l| l.starts_with("usage_usec"))
                            .unwrap()
                            .split(' ')
                            .nth(1)
                            .unwrap()
                            .parse::<u64>()
                            .unwrap()
                            .to_string()
                            + "000"
                    })
            })
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let t0 = std::time::Instant::now();
    let u0 = usage();
    std::thread::sleep(std::time::Duration::from_secs(2));
    let u1 = usage();
    let ratio = (u1 - u0) as f64 / t0.elapsed().as_nanos() as f64;
    // The quota caps the loop at half a CPU whatever else runs.
    assert!(ratio < 0.6, "cpu share {ratio} above the --cpus 0.5 quota");
    // It reaches that half only when the machine has CPU to spare (tests run in parallel on 2
    // cores): check the lower bound when the load average leaves room for it.
    let load: f64 = std::fs::read_to_string("/proc/loadavg")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    if load + 1.0 < cpus {
        assert!(ratio > 0.3, "cpu share {ratio} (load {load})");
    } else {
        eprintln!("cpu share {ratio}; load {load} on {cpus} CPUs: lower bound not checked");
    }
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
