//! A monitor killed with SIGKILL (issue 12, "a state that never lies"): the container dies with
//! it (its init's PR_SET_PDEATHSIG), and within a second of the kill every command tells the
//! truth: `ps`/`inspect` say exited with 137 and a finish time, `stop` and `wait` agree, `start`
//! runs exactly one new copy, `logs` keeps what was written, `rm` cleans up, and a restart
//! policy still holds (the container runs again under a new monitor, RestartCount + 1). No
//! process of the container may survive in its cgroup without a monitor. See
//! crates/engine/src/orphan.rs for the design.

mod common;

use common::{alive, processes_using, settled, wait_exit, Env};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long after the monitor's death the state must be honest.
const HONEST_WITHIN: Duration = Duration::from_secs(1);

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

/// Waits (bounded) until the monitor `pid` runs the small `berth-monitor` binary.
fn wait_idle(pid: i32) {
    let want = Path::new(common::BERTH).with_file_name("berth-monitor");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
        let argv = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if exe == want && argv.starts_with(b"berth-monitor\0") {
            return;
        }
        assert!(Instant::now() < deadline, "monitor {pid} never went idle");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// SIGKILLs `pid` through a pidfd (no reuse race) and waits until it has exited.
fn kill9(pid: i32) {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    // SAFETY: pidfd_open has no memory arguments; the fd is owned below.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    assert!(fd >= 0, "pidfd_open {pid}");
    // SAFETY: a fresh fd from pidfd_open, owned only here.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    // SAFETY: a signal through a pidfd we own; no siginfo.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            libc::SIGKILL,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    assert_eq!(r, 0, "kill -9 {pid}");
    wait_exit(pid);
}

/// Live processes in the cgroup of `id` (any hierarchy).
fn cgroup_procs(id: &str) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&p| {
            std::fs::read_to_string(format!("/proc/{p}/cgroup")).is_ok_and(|c| c.contains(id))
                && alive(p)
        })
        .collect()
}

/// `f()` polled until it returns Some, at most `limit` after `since`; panics with `what`.
fn within<T>(since: Instant, limit: Duration, what: &str, f: impl Fn() -> Option<T>) -> T {
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(since.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn inspect(env: &Env, name: &str, fmt: &str) -> String {
    env.ok(&["inspect", "-f", fmt, name]).trim().to_string()
}

fn init_pid(env: &Env, name: &str) -> i32 {
    let p: i32 = inspect(env, name, "{{.State.Pid}}").parse().unwrap();
    assert!(p > 0 && alive(p), "State.Pid {p}");
    p
}

/// Checks, once the monitor of `name` died: the state is honest within a second, nothing of
/// the container runs, and stop/wait/logs/ps agree.
fn assert_honest_exit(env: &Env, name: &str, id: &str, init: i32, killed: Instant) {
    // The kernel ends the init with its monitor (PR_SET_PDEATHSIG), before any berth command
    // looks at it.
    within(
        killed,
        HONEST_WITHIN,
        "init dead without any berth command",
        || (!alive(init)).then_some(()),
    );
    let state = "{{.State.Status}} {{.State.Running}} {{.State.ExitCode}} {{.State.Pid}}";
    within(killed, HONEST_WITHIN, "inspect says exited 137", || {
        (inspect(env, name, state) == "exited false 137 0").then_some(())
    });
    assert!(!alive(init), "container init {init} outlived its monitor");
    let left = cgroup_procs(id);
    assert!(left.is_empty(), "processes without a monitor: {left:?}");
    let (started, finished) = (
        inspect(env, name, "{{.State.StartedAt}}"),
        inspect(env, name, "{{.State.FinishedAt}}"),
    );
    assert!(
        finished > started && !finished.starts_with("0001"),
        "FinishedAt {finished} after StartedAt {started}"
    );
    let ps = env.ok(&["ps", "-a", "--filter", &format!("name={name}")]);
    assert!(ps.contains("Exited (137)"), "{ps}");
    assert!(
        !env.ok(&["ps", "-q"]).contains(&id[..12]),
        "listed as running"
    );
    assert_eq!(env.ok(&["wait", name]), "137\n");
    // stop of an exited container: 0, and it stays what it is.
    env.ok(&["stop", "-t", "1", name]);
    assert_eq!(inspect(env, name, state), "exited false 137 0");
    let (_, err) = env.code(&["kill", name], 1);
    assert!(err.contains("is not running"), "{err}");
}

/// `start` after the crash runs exactly one copy, under a new monitor; rm -f then cleans up.
fn assert_restartable_then_clean(env: &Env, name: &str, id: &str) {
    env.ok(&["start", name]);
    let pid = init_pid(env, name);
    assert_eq!(inspect(env, name, "{{.State.Status}}"), "running");
    let procs = cgroup_procs(id);
    assert_eq!(procs, vec![pid], "one copy of the container");
    // A second start is a no-op, not a second copy.
    env.ok(&["start", name]);
    assert_eq!(cgroup_procs(id), vec![pid]);
    env.ok(&["rm", "-f", name]);
    assert!(!alive(pid));
    assert_clean(env, id);
}

fn assert_clean(env: &Env, id: &str) {
    let procs = settled(|| processes_using(env.dir.path(), id));
    assert!(procs.is_empty(), "processes left: {procs:?}");
    let cg: Vec<PathBuf> = std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("berth").join(id))
        .filter(|p| p.exists())
        .collect();
    assert!(cg.is_empty(), "cgroups left: {cg:?}");
    for d in [
        env.root().join("containers").join(id),
        env.runroot().join("containers").join(id),
        env.runroot().join("runtime").join(id),
    ] {
        assert!(!d.exists(), "state left: {}", d.display());
    }
}

/// (1) A plain `-d` container serving httpd, its monitor killed right after the start (full
/// or idle, whichever it is then), with a `wait` client attached to the monitor.
#[test]
fn plain_container_dies_with_its_monitor() {
    let env = setup();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "echo serving; exec httpd -f -p 8080 -h /www",
    ]);
    let id = id_of(&env, "web");
    let init = init_pid(&env, "web");
    within(Instant::now(), Duration::from_secs(10), "logged", || {
        env.ok(&["logs", "web"]).contains("serving").then_some(())
    });
    // A `wait` connected to the monitor before its death gets the truth too.
    let waiter = env
        .cmd(&["wait", "web"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    within(
        Instant::now(),
        Duration::from_secs(10),
        "wait attached",
        || {
            let id = &id;
            let n = std::fs::read_dir(format!("/proc/{}/fd", waiter.id()))
                .ok()?
                .flatten()
                .filter(|e| {
                    std::fs::read_link(e.path())
                        .is_ok_and(|t| t.to_string_lossy().contains("socket"))
                })
                .count();
            let _ = id;
            (n > 0).then_some(())
        },
    );
    let mon = monitor_pid(&env, &id);
    kill9(mon);
    let killed = Instant::now();
    let out = waiter.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "137\n");
    assert_honest_exit(&env, "web", &id, init, killed);
    assert_eq!(env.ok(&["logs", "web"]), "serving\n");
    assert_restartable_then_clean(&env, "web", &id);
}

/// (3) The monitor already handed off to `berth-monitor` (idle past the handoff delay).
#[test]
fn idle_monitor_killed() {
    let env = setup();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "idle",
        "--network",
        "none",
        "busybox",
        "sleep",
        "1000",
    ]);
    let id = id_of(&env, "idle");
    let init = init_pid(&env, "idle");
    let mon = monitor_pid(&env, &id);
    wait_idle(mon);
    kill9(mon);
    let killed = Instant::now();
    assert_honest_exit(&env, "idle", &id, init, killed);
    assert_restartable_then_clean(&env, "idle", &id);
}

/// A `--pid host` container has no PID namespace to die with its init: what its init left
/// running is killed by whoever settles the record.
#[test]
fn pid_host_leftovers_are_killed() {
    let env = setup();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "ph",
        "--pid",
        "host",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "sleep 1000 & exec sleep 1000",
    ]);
    let id = id_of(&env, "ph");
    let init = init_pid(&env, "ph");
    within(
        Instant::now(),
        Duration::from_secs(10),
        "two processes",
        || (cgroup_procs(&id).len() == 2).then_some(()),
    );
    let mon = monitor_pid(&env, &id);
    wait_idle(mon);
    kill9(mon);
    let killed = Instant::now();
    assert_honest_exit(&env, "ph", &id, init, killed);
    env.ok(&["rm", "ph"]);
    assert_clean(&env, &id);
}

/// A `--rm` container whose monitor died is removed by the first command that looks.
#[test]
fn auto_remove_container_is_removed() {
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
        "sleep",
        "1000",
    ]);
    let id = id_of(&env, "gone");
    let init = init_pid(&env, "gone");
    let mon = monitor_pid(&env, &id);
    wait_idle(mon);
    kill9(mon);
    let killed = Instant::now();
    within(killed, HONEST_WITHIN, "removed", || {
        (!env.ok(&["ps", "-aq", "--no-trunc"]).contains(&id)).then_some(())
    });
    assert!(!alive(init));
    assert_clean(&env, &id);
    // The name is free.
    env.ok(&[
        "run",
        "--rm",
        "--name",
        "gone",
        "--network",
        "none",
        "busybox",
        "true",
    ]);
}

/// (2) Restart policies hold: the container runs again (new init, new monitor, RestartCount
/// + 1) once anything looks, within a second of the kill; a later `stop` is final.
#[test]
fn restart_policies_survive_a_monitor_kill() {
    let env = setup();
    for (policy, idle) in [
        ("always", false),
        ("always", true),
        ("unless-stopped", true),
        ("on-failure", true),
        ("on-failure:5", true),
    ] {
        let name = format!("r-{}-{idle}", policy.replace(':', "-"));
        env.ok(&[
            "run",
            "-d",
            "--restart",
            policy,
            "--name",
            &name,
            "--network",
            "none",
            "busybox",
            "sh",
            "-c",
            "echo run; exec sleep 1000",
        ]);
        let id = id_of(&env, &name);
        let init = init_pid(&env, &name);
        let mon = monitor_pid(&env, &id);
        if idle {
            wait_idle(mon);
        }
        kill9(mon);
        let killed = Instant::now();
        let fmt = "{{.State.Status}} {{.RestartCount}}";
        within(killed, HONEST_WITHIN, &format!("{name} restarted"), || {
            env.ok(&["ps", "-q"]);
            (inspect(&env, &name, fmt) == "running 1").then_some(())
        });
        assert!(!alive(init), "{name}: the old init {init} still runs");
        let new = init_pid(&env, &name);
        assert_ne!(new, init);
        assert_eq!(cgroup_procs(&id), vec![new], "{name}: one copy");
        let new_mon = monitor_pid(&env, &id);
        assert!(new_mon != mon && alive(new_mon), "{name}: a new monitor");
        // The new monitor supervises: its logs, its stop.
        within(Instant::now(), Duration::from_secs(10), "logged", || {
            (env.ok(&["logs", &name]) == "run\nrun\n").then_some(())
        });
        env.ok(&["stop", "-t", "1", &name]);
        assert_eq!(
            inspect(&env, &name, "{{.State.Status}} {{.RestartCount}}"),
            "exited 1"
        );
        env.ok(&["ps", "-a"]);
        assert_eq!(inspect(&env, &name, "{{.State.Status}}"), "exited");
        assert!(cgroup_procs(&id).is_empty());
        env.ok(&["rm", &name]);
        assert_clean(&env, &id);
    }
}

/// `stop` (or `rm`) as the first command after the kill settles the record without starting
/// the container again only to stop it: exited 137, RestartCount 0, nothing running.
#[test]
fn stop_after_the_kill_settles_without_a_restart() {
    let env = setup();
    env.ok(&[
        "run",
        "-d",
        "--restart",
        "always",
        "--name",
        "st",
        "--network",
        "none",
        "busybox",
        "sleep",
        "1000",
    ]);
    let id = id_of(&env, "st");
    let init = init_pid(&env, "st");
    let mon = monitor_pid(&env, &id);
    kill9(mon);
    let killed = Instant::now();
    env.ok(&["stop", "st"]);
    assert!(
        killed.elapsed() < HONEST_WITHIN,
        "stop took {:?}",
        killed.elapsed()
    );
    assert!(!alive(init));
    assert_eq!(
        inspect(
            &env,
            "st",
            "{{.State.Status}} {{.State.ExitCode}} {{.RestartCount}}"
        ),
        "exited 137 0"
    );
    // Manually stopped: nothing restarts it later either.
    env.ok(&["ps", "-a"]);
    assert!(cgroup_procs(&id).is_empty());
    env.ok(&["rm", "st"]);
    assert_clean(&env, &id);
}

/// The spec's user: the setuid clears the init's death signal; the runtime arms it again, so a
/// non-root container dies with its monitor too.
#[test]
fn non_root_container_dies_with_its_monitor() {
    let env = setup();
    env.ok(&[
        "run",
        "-d",
        "--user",
        "1000:1000",
        "--name",
        "nr",
        "--network",
        "none",
        "busybox",
        "sleep",
        "1000",
    ]);
    let id = id_of(&env, "nr");
    let init = init_pid(&env, "nr");
    let mon = monitor_pid(&env, &id);
    wait_idle(mon);
    kill9(mon);
    let killed = Instant::now();
    assert_honest_exit(&env, "nr", &id, init, killed);
    env.ok(&["rm", "nr"]);
    assert_clean(&env, &id);
}

/// A paused container whose monitor died: its frozen processes are thawed and killed by
/// whoever looks first; it reads exited 137 and starts again.
#[test]
fn paused_container_is_settled() {
    let env = setup();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "pz",
        "--network",
        "none",
        "busybox",
        "sleep",
        "1000",
    ]);
    let id = id_of(&env, "pz");
    let init = init_pid(&env, "pz");
    let mon = monitor_pid(&env, &id);
    wait_idle(mon);
    env.ok(&["pause", "pz"]);
    kill9(mon);
    let killed = Instant::now();
    let state = "{{.State.Status}} {{.State.ExitCode}}";
    within(killed, HONEST_WITHIN, "paused container settled", || {
        (inspect(&env, "pz", state) == "exited 137").then_some(())
    });
    within(killed, HONEST_WITHIN, "frozen init killed", || {
        (!alive(init)).then_some(())
    });
    assert!(cgroup_procs(&id).is_empty());
    assert_restartable_then_clean(&env, "pz", &id);
}

/// On a user network the monitor keeps its embedded DNS server (threads of its own) and never
/// goes idle: the init, created by its main thread, still dies with it, and the endpoint is
/// released (the network can be removed after `rm`).
#[test]
fn user_network_monitor_killed() {
    let env = setup();
    let dev = format!("mc{}", std::process::id() % 10_000_000);
    let opt = format!("com.docker.network.bridge.name={dev}");
    let start = std::process::id() as usize * 7;
    let made = (0..256).any(|i| {
        let subnet = format!("10.214.{}.0/24", (start + i) % 256);
        let o = env.run(&["network", "create", "--subnet", &subnet, "-o", &opt, "un"]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success() || err.contains("overlaps"), "{err}");
        o.status.success()
    });
    assert!(made, "no free 10.214.x.0/24");
    env.ok(&[
        "run",
        "-d",
        "--name",
        "dn",
        "--network",
        "un",
        "busybox",
        "sleep",
        "1000",
    ]);
    let id = id_of(&env, "dn");
    let init = init_pid(&env, "dn");
    let mon = monitor_pid(&env, &id);
    kill9(mon);
    let killed = Instant::now();
    assert_honest_exit(&env, "dn", &id, init, killed);
    env.ok(&["rm", "dn"]);
    assert_clean(&env, &id);
    env.ok(&["network", "rm", "un"]);
    assert!(
        !Path::new("/sys/class/net").join(&dev).exists(),
        "bridge {dev} left"
    );
}

/// A foreground `run` whose monitor is killed: the CLI's attach stream ends without an exit
/// frame, and it reports the truth (137) instead of 0.
#[test]
fn foreground_run_reports_137() {
    let env = setup();
    let mut child = env
        .cmd(&[
            "run",
            "--name",
            "fg",
            "--network",
            "none",
            "busybox",
            "sh",
            "-c",
            "echo up; exec sleep 1000",
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    assert_eq!(line, "up\n");
    let id = id_of(&env, "fg");
    let init = init_pid(&env, "fg");
    kill9(monitor_pid(&env, &id));
    let killed = Instant::now();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(137));
    assert!(killed.elapsed() < HONEST_WITHIN, "{:?}", killed.elapsed());
    assert_honest_exit(&env, "fg", &id, init, killed);
    env.ok(&["rm", "fg"]);
    assert_clean(&env, &id);
}
