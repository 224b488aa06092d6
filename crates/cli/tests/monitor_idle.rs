//! The idle monitor: a container still running shortly after its start is served by the small
//! `berth-monitor` binary (exec'd by the full monitor), which hands back to `berth` when the
//! container exits. Everything the full monitor does must keep working across both handoffs:
//! logs (partial lines too), attach, stop's exit code, restart policies, --rm, ttys and resize,
//! and cleanup after a kill -9 of the idle monitor.

mod common;

use common::{alive, processes_using, settled, wait_exit, Env};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

fn setup() -> Env {
    let env = Env::new();
    env.import_busybox();
    env
}

fn id_of(env: &Env, name: &str) -> String {
    env.ok(&["inspect", "-f", "{{.Id}}", name])
        .trim()
        .to_string()
}

/// The monitor's pid from `<runroot>/containers/<id>/monitor.pid`.
fn monitor_pid(env: &Env, id: &str) -> i32 {
    let s = std::fs::read_to_string(
        env.runroot()
            .join("containers")
            .join(id)
            .join("monitor.pid"),
    )
    .unwrap();
    s.split_whitespace().next().unwrap().parse().unwrap()
}

/// Waits (bounded) until the monitor of `id` runs the `berth-monitor` binary; returns its pid.
fn wait_idle_monitor(env: &Env, id: &str) -> i32 {
    let pid = monitor_pid(env, id);
    let want = Path::new(common::BERTH).with_file_name("berth-monitor");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
        // Mid-exec the new image's exe shows before its argv does: wait for both.
        let argv = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if exe == want && argv.starts_with(b"berth-monitor\0") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "monitor {pid} still runs {} after 10 s",
            exe.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let argv = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&argv),
        format!("berth-monitor\0{id}\0")
    );
    pid
}

fn status_field(pid: i32, key: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("{key} in /proc/{pid}/status"))
}

#[test]
fn idle_monitor_is_small_and_logs_across_handoffs() {
    let env = setup();
    // "one" is half a line when the monitor hands over; "tail" is unterminated at the exit.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "lg",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "printf one; echo ' two'; printf 'o\\tne-'; while [ ! -e /go ]; do sleep 0.05; done; \
         echo after; echo oops >&2; printf tail",
    ]);
    let id = id_of(&env, "lg");
    let pid = wait_idle_monitor(&env, &id);
    // The new image first reads its handoff (closing the memfd), then gives its start-up memory
    // back; on a loaded machine a first sample can precede either, so wait (bounded) for both.
    let fds_of = |pid: i32| -> Vec<String> {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .flatten()
            .map(|e| {
                let t = std::fs::read_link(e.path()).unwrap_or_default();
                format!("{} -> {}", e.file_name().to_string_lossy(), t.display())
            })
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    let (rss, fds) = loop {
        let fds = fds_of(pid);
        let rss = status_field(pid, "VmRSS:");
        let received = !fds.iter().any(|f| f.contains("memfd:"));
        if (received && rss < 1024) || Instant::now() > deadline {
            break (rss, fds);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        rss < 1024,
        "idle monitor VmRSS {rss} kB:\n{}",
        std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default()
    );
    // Nothing of the full monitor's but what was handed over: the listener, the log, the pidfd,
    // the output pipes, the berth executable (to go back); 0-2 are /dev/null.
    assert!(fds.len() <= 9, "{fds:?}");
    for f in &fds {
        let t = f.split(" -> ").nth(1).unwrap();
        assert!(
            t == "/dev/null"
                || t.starts_with("socket:")
                || t.starts_with("pipe:")
                || t == "anon_inode:[pidfd]"
                || t.ends_with("-json.log")
                || Path::new(t) == Path::new(common::BERTH),
            "unexpected fd {f} in the idle monitor: {fds:?}"
        );
    }
    env.ok(&["exec", "lg", "touch", "/go"]);
    assert_eq!(env.ok(&["wait", "lg"]), "0\n");
    let (out, err) = env.code(&["logs", "lg"], 0);
    assert_eq!(out, "one two\no\tne-after\ntail");
    assert_eq!(err, "oops\n");
    // Docker's json-file lines, one per line of output, the last unterminated.
    let log = std::fs::read_to_string(
        env.root()
            .join("containers")
            .join(&id)
            .join(format!("{id}-json.log")),
    )
    .unwrap();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let logs: Vec<(&str, &str)> = lines
        .iter()
        .map(|v| (v["stream"].as_str().unwrap(), v["log"].as_str().unwrap()))
        .collect();
    assert_eq!(
        logs,
        vec![
            ("stdout", "one two\n"),
            ("stdout", "o\tne-after\n"),
            ("stderr", "oops\n"),
            ("stdout", "tail")
        ]
    );
    for v in &lines {
        let t = v["time"].as_str().unwrap();
        assert_eq!(t.len(), 30, "{t}");
        assert!(t.ends_with('Z') && t.as_bytes()[10] == b'T', "{t}");
    }
    // The monitor records the exit (what `wait` reads) and then exits: it must not linger.
    common::wait_exit(pid);
}

#[test]
fn attach_and_stop_after_the_handoff() {
    let env = setup();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "att",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "while [ ! -e /go ]; do echo tick; sleep 0.2; done; echo done; exit 3",
    ]);
    let id = id_of(&env, "att");
    wait_idle_monitor(&env, &id);
    let mut child = env
        .cmd(&["attach", "att"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "tick");
    env.ok(&["exec", "att", "touch", "/go"]);
    let rest: Vec<String> = lines.map(|l| l.unwrap()).collect();
    assert_eq!(rest.last().map(String::as_str), Some("done"), "{rest:?}");
    assert_eq!(child.wait().unwrap().code(), Some(3));
    assert_eq!(
        env.ok(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}}",
            "att"
        ]),
        "exited 3\n"
    );

    // stop: the TERM reaches the init, its exit code is recorded.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "st",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 7' TERM; sleep 1000 & wait",
    ]);
    let id = id_of(&env, "st");
    let mon = wait_idle_monitor(&env, &id);
    assert_eq!(env.ok(&["stop", "st"]), "st\n");
    assert!(!alive(mon), "stop returned before the monitor ended");
    assert_eq!(
        env.ok(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}}",
            "st"
        ]),
        "exited 7\n"
    );
    // And it starts again (and shrinks again).
    env.ok(&["start", "st"]);
    wait_idle_monitor(&env, &id);
    env.ok(&["kill", "st"]);
    assert_eq!(env.ok(&["wait", "st"]), "137\n");
}

#[test]
fn restart_policy_across_handoffs() {
    let env = setup();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "rs",
        "--network",
        "none",
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        // Restarts are started by the monitor resumed from berth-monitor: no fd of it may
        // reach them (ls's own directory fd is 3).
        "echo $(ls /proc/self/fd); sleep 0.5; exit 3",
    ]);
    let id = id_of(&env, "rs");
    let mon = wait_idle_monitor(&env, &id);
    wait_exit(mon);
    assert_eq!(
        env.ok(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}} {{.RestartCount}}",
            "rs"
        ]),
        "exited 3 2\n"
    );
    assert_eq!(env.ok(&["logs", "rs"]), "0 1 2 3\n".repeat(3));
}

#[test]
fn rm_flag_after_the_handoff() {
    let env = setup();
    env.ok(&[
        "run",
        "-d",
        "--rm",
        "--name",
        "gone",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "while [ ! -e /go ]; do sleep 0.05; done",
    ]);
    let id = id_of(&env, "gone");
    let mon = wait_idle_monitor(&env, &id);
    env.ok(&["exec", "gone", "touch", "/go"]);
    wait_exit(mon);
    assert_eq!(env.ok(&["ps", "-aq"]), "");
    assert!(!env.root().join("containers").join(&id).exists());
    assert!(!env.runroot().join("containers").join(&id).exists());

    // Foreground --rm: the CLI gets the exit code through the handoffs.
    let o = env.run(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "sleep 0.3; echo late; exit 5",
    ]);
    assert_eq!(o.status.code(), Some(5));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "late\n");
    assert_eq!(env.ok(&["ps", "-aq"]), "");
}

/// `script` gives the CLI a terminal of a known size (util-linux, essential in Debian).
fn in_terminal(env: &Env, rows: u16, cols: u16, args: &[&str]) -> std::process::Output {
    let mut cmd = format!("stty rows {rows} cols {cols}; exec {}", common::BERTH);
    for a in ["--root", env.root().to_str().unwrap()]
        .iter()
        .chain(["--runroot", env.runroot().to_str().unwrap()].iter())
        .chain(args.iter())
    {
        cmd.push_str(&format!(" '{a}'"));
    }
    std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn tty_and_resize_after_the_handoff() {
    let env = setup();
    env.ok(&[
        "run",
        "-d",
        "-t",
        "--name",
        "tt",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "while [ ! -e /go ]; do sleep 0.05; done; stty size; exit 4",
    ]);
    let id = id_of(&env, "tt");
    wait_idle_monitor(&env, &id);
    // attach sends the terminal's size first: the idle monitor resizes the pty.
    let toucher = {
        let root = env.root();
        let runroot = env.runroot();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(500));
            std::process::Command::new(common::BERTH)
                .arg("--root")
                .arg(root)
                .arg("--runroot")
                .arg(runroot)
                .args(["exec", "tt", "touch", "/go"])
                .output()
                .unwrap()
        })
    };
    let o = in_terminal(&env, 33, 77, &["attach", "tt"]);
    assert!(toucher.join().unwrap().status.success());
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("33 77"), "{out:?}");
    assert_eq!(o.status.code(), Some(4), "{out:?}");
    assert_eq!(env.ok(&["logs", "tt"]), "33 77\r\n");

    // Foreground -t: output after the handoff comes through the pty.
    let o = env.run(&[
        "run",
        "--rm",
        "-t",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "sleep 0.3; echo hi; exit 2",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "hi\r\n");
}

/// Mount points at or below `dir` in this (the host's) mount namespace.
fn mounts_under(dir: &Path) -> Vec<String> {
    let prefix = dir.display().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| m.starts_with(&prefix))
        .map(String::from)
        .collect()
}

#[test]
fn kill_9_idle_monitor_then_rm_f() {
    let env = setup();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "victim",
        "--network",
        "none",
        "busybox",
        "sleep",
        "1000",
    ]);
    let id = id_of(&env, "victim");
    let init: i32 = env
        .ok(&["inspect", "-f", "{{.State.Pid}}", "victim"])
        .trim()
        .parse()
        .unwrap();
    let mon = wait_idle_monitor(&env, &id);
    // SAFETY: kill(2) of the monitor this test started (its start time is checked by the
    // pid file and it is alive, so the pid is not recycled).
    assert_eq!(unsafe { libc::kill(mon, libc::SIGKILL) }, 0);
    wait_exit(mon);
    // The container dies with its monitor (its init's PR_SET_PDEATHSIG).
    wait_exit(init);
    assert!(!alive(init), "the container outlived its monitor");
    env.ok(&["rm", "-f", "victim"]);
    assert!(!alive(init), "container init {init} still runs");
    let m = mounts_under(env.dir.path());
    assert!(m.is_empty(), "mounts left: {m:?}");
    let cg: Vec<PathBuf> = std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("berth").join(&id))
        .filter(|p| p.exists())
        .collect();
    assert!(cg.is_empty(), "cgroups left: {cg:?}");
    for d in [
        env.root().join("containers").join(&id),
        env.runroot().join("containers").join(&id),
        env.runroot().join("runtime").join(&id),
    ] {
        assert!(!d.exists(), "state left: {}", d.display());
    }
    let procs = settled(|| processes_using(env.dir.path(), &id));
    assert!(procs.is_empty(), "processes left: {procs:?}");
    assert_eq!(
        env.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "busybox",
            "echo",
            "again"
        ]),
        "again\n"
    );
}

/// A container with a healthcheck: the idle monitor starts each probe (a `berth-health`
/// process) and stays within the 1 MB budget between probes; the probes keep coming through
/// the handoffs (the health log fills, the status is healthy).
#[test]
fn idle_monitor_with_a_healthcheck_stays_small() {
    let env = setup();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "hc",
        "--network",
        "none",
        "--health-cmd",
        "true",
        "--health-interval",
        "250ms",
        "busybox",
        "sleep",
        "1000",
    ]);
    let id = id_of(&env, "hc");
    let pid = wait_idle_monitor(&env, &id);
    let results = || -> usize {
        let v: serde_json::Value =
            serde_json::from_str(&env.ok(&["inspect", "-f", "{{json .State.Health}}", "hc"]))
                .unwrap();
        v["Log"].as_array().map_or(0, |l| l.len())
    };
    // Samples between probes: no probe child of the monitor at that moment.
    let children = |pid: i32| -> String {
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut samples = Vec::new();
    while samples.len() < 8 {
        assert!(Instant::now() < deadline, "samples {samples:?}");
        std::thread::sleep(Duration::from_millis(37));
        let kids: Vec<i32> = children(pid)
            .split_whitespace()
            .filter_map(|c| c.parse().ok())
            .collect();
        // Only the container's init is its child between probes.
        if kids.len() != 1 {
            continue;
        }
        samples.push((status_field(pid, "VmRSS:"), status_field(pid, "RssAnon:")));
    }
    eprintln!(
        "idle monitor with a healthcheck, between probes (VmRSS kB, RssAnon kB): {samples:?}"
    );
    let max = samples.iter().map(|s| s.0).max().unwrap();
    assert!(
        max < 1024,
        "idle monitor VmRSS {max} kB between probes: {samples:?}\n{}",
        std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default()
    );
    // Still the idle monitor, and the probes ran (five results kept, healthy).
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    assert_eq!(
        exe,
        Path::new(common::BERTH).with_file_name("berth-monitor")
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while results() < 5 {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        env.ok(&["inspect", "-f", "{{.State.Health.Status}}", "hc"]),
        "healthy\n"
    );
    // The monitor's exit path still works with a probe pipe handed over.
    env.ok(&["stop", "-t", "1", "hc"]);
    assert!(!alive(pid));
    assert_eq!(
        env.ok(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.Health.Status}}",
            "hc"
        ]),
        "exited unhealthy\n"
    );
}
