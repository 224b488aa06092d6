//! Healthchecks (root, real kernel): the probes run by each container's monitor, checked
//! against what dockerd 20.10 + docker CLI 28 do for the same commands (the expected texts
//! below are the oracle's answers).

mod common;

use common::{Env, BERTH};
use serde_json::Value;
use std::time::{Duration, Instant};

fn setup() -> Env {
    let env = Env::new();
    env.import_busybox();
    env
}

fn inspect(env: &Env, name: &str) -> Value {
    let out = env.ok(&["inspect", name]);
    let v: Value = serde_json::from_str(&out).unwrap();
    v[0].clone()
}

fn health(env: &Env, name: &str) -> Value {
    inspect(env, name)["State"]["Health"].clone()
}

/// Waits (bounded) until the container's health status is `want`; returns State.Health.
fn wait_status(env: &Env, name: &str, want: &str, secs: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let h = health(env, name);
        if h["Status"] == want {
            return h;
        }
        assert!(
            Instant::now() < deadline,
            "{name} not {want} after {secs} s: {h}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn ps_status(env: &Env, name: &str) -> String {
    env.ok(&[
        "ps",
        "-a",
        "--filter",
        &format!("name=^{name}$"),
        "--format",
        "{{.Status}}",
    ])
    .trim()
    .to_string()
}

fn is_go_time(t: &Value) -> bool {
    let t = t.as_str().unwrap_or("");
    chrono::DateTime::parse_from_rfc3339(t).is_ok() && t.ends_with('Z') && !t.ends_with("0Z")
}

#[test]
fn healthy_unhealthy_transitions_ps_filter_inspect_events() {
    let env = setup();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "hc",
        "--network",
        "none",
        "--health-cmd",
        "test -e /tmp/ok && echo fine || (echo bad >&2; exit 1)",
        "--health-interval",
        "300ms",
        "--health-retries",
        "2",
        "busybox",
        "sleep",
        "1000",
    ]);
    env.ok(&[
        "run",
        "-d",
        "--name",
        "plain",
        "--network",
        "none",
        "busybox",
        "sleep",
        "1000",
    ]);
    // Before any probe (dockerd 20.10's answers).
    let c = inspect(&env, "hc");
    assert_eq!(
        serde_json::to_string(&c["Config"]["Healthcheck"]).unwrap(),
        r#"{"Interval":300000000,"Retries":2,"Test":["CMD-SHELL","test -e /tmp/ok && echo fine || (echo bad >&2; exit 1)"]}"#
    );
    assert_eq!(
        c["State"]["Health"],
        serde_json::json!({"Status": "starting", "FailingStreak": 0, "Log": []})
    );
    assert!(
        ps_status(&env, "hc").ends_with(" (health: starting)"),
        "{}",
        ps_status(&env, "hc")
    );
    assert!(inspect(&env, "plain")["State"].get("Health").is_none());
    let plain_status = ps_status(&env, "plain");
    assert!(
        plain_status.starts_with("Up ") && !plain_status.contains('('),
        "{plain_status}"
    );
    let names = |f: &str| env.ok(&["ps", "--filter", f, "--format", "{{.Names}}"]);
    assert_eq!(names("health=starting"), "hc\n");
    assert_eq!(names("health=none"), "plain\n");

    // Two failures make it unhealthy.
    let h = wait_status(&env, "hc", "unhealthy", 20);
    assert_eq!(h["FailingStreak"], 2);
    let log = h["Log"].as_array().unwrap();
    assert_eq!(log.len(), 2, "{h}");
    for r in log {
        assert_eq!(r["ExitCode"], 1);
        assert_eq!(r["Output"], "bad\n");
        assert!(is_go_time(&r["Start"]) && is_go_time(&r["End"]), "{r}");
        assert!(r["Start"].as_str() <= r["End"].as_str());
    }
    assert!(ps_status(&env, "hc").ends_with(" (unhealthy)"));
    assert_eq!(names("health=unhealthy"), "hc\n");
    assert_eq!(names("health=healthy"), "");

    // Then healthy: streak reset, the log keeps the last five results.
    env.ok(&["exec", "hc", "touch", "/tmp/ok"]);
    let h = wait_status(&env, "hc", "healthy", 20);
    assert_eq!(h["FailingStreak"], 0);
    let last = h["Log"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["ExitCode"].clone(), last["Output"].clone()),
        (0.into(), "fine\n".into())
    );
    assert!(ps_status(&env, "hc").ends_with(" (healthy)"));
    assert_eq!(names("health=healthy"), "hc\n");
    let deadline = Instant::now() + Duration::from_secs(20);
    while health(&env, "hc")["Log"].as_array().unwrap().len() < 5 {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(700));
    let h = health(&env, "hc");
    assert_eq!(h["Log"].as_array().unwrap().len(), 5, "{h}");
    assert_eq!(h["Status"], "healthy");

    // Docker's events: one health_status per change, and the probes' exec_* events.
    let ev = env.ok(&[
        "events",
        "--since",
        "0",
        "--until",
        &chrono::Utc::now().timestamp().saturating_add(1).to_string(),
        "--filter",
        "container=hc",
        "--format",
        "{{.Status}}",
    ]);
    let health_events: Vec<&str> = ev
        .lines()
        .filter(|l| l.starts_with("health_status"))
        .collect();
    assert_eq!(
        health_events,
        vec!["health_status: unhealthy", "health_status: healthy"],
        "{ev}"
    );
    let cmd = "/bin/sh -c test -e /tmp/ok && echo fine || (echo bad >&2; exit 1)";
    assert!(
        ev.lines().any(|l| l == format!("exec_create: {cmd}")),
        "{ev}"
    );
    assert!(
        ev.lines().any(|l| l == format!("exec_start: {cmd}")),
        "{ev}"
    );
    assert!(ev.lines().any(|l| l == "exec_die"), "{ev}");

    // Stopped: "unhealthy", results kept (dockerd 20.10); started again: "starting", streak 0.
    env.ok(&["stop", "-t", "1", "hc"]);
    let h = health(&env, "hc");
    assert_eq!(
        (h["Status"].clone(), h["FailingStreak"].clone()),
        ("unhealthy".into(), 0.into())
    );
    assert_eq!(h["Log"].as_array().unwrap().len(), 5);
    assert!(ps_status(&env, "hc").starts_with("Exited ("));
    env.ok(&["start", "hc"]);
    let h = health(&env, "hc");
    assert_eq!(
        (h["Status"].clone(), h["FailingStreak"].clone()),
        ("starting".into(), 0.into())
    );
    assert_eq!(h["Log"].as_array().unwrap().len(), 5);
    // /tmp/ok is in the container's layer, kept across the stop.
    wait_status(&env, "hc", "healthy", 20);
    env.ok(&["rm", "-f", "hc", "plain"]);
}

#[test]
fn timeout_kills_the_probe_and_start_period_forgives() {
    let env = setup();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "slow",
        "--network",
        "none",
        "--health-cmd",
        "sleep 30",
        "--health-timeout",
        "300ms",
        "--health-interval",
        "200ms",
        "--health-retries",
        "1",
        "busybox",
        "sleep",
        "1000",
    ]);
    env.ok(&[
        "run",
        "-d",
        "--name",
        "warm",
        "--network",
        "none",
        "--health-cmd",
        "exit 1",
        "--health-interval",
        "200ms",
        "--health-start-period",
        "60s",
        "--health-retries",
        "1",
        "busybox",
        "sleep",
        "1000",
    ]);
    let h = wait_status(&env, "slow", "unhealthy", 20);
    let r = &h["Log"][0];
    assert_eq!(r["ExitCode"], -1);
    assert_eq!(r["Output"], "Health check exceeded timeout (300ms)");
    // The timed-out probe was killed: no `sleep 30` is left in the container.
    let ps = env.ok(&["exec", "slow", "ps", "-o", "args"]);
    assert!(!ps.contains("sleep 30"), "{ps}");

    // Failures in the start period while starting do not count.
    let deadline = Instant::now() + Duration::from_secs(20);
    while health(&env, "warm")["Log"].as_array().unwrap().len() < 3 {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(50));
    }
    let h = health(&env, "warm");
    assert_eq!(
        (h["Status"].clone(), h["FailingStreak"].clone()),
        ("starting".into(), 0.into()),
        "{h}"
    );
    assert!(h["Log"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["ExitCode"] == 1));
    env.ok(&["rm", "-f", "slow", "warm"]);
}

#[test]
fn image_healthcheck_none_and_flag_errors() {
    let env = setup();
    let tar = env.busybox_tar();
    env.ok(&[
        "import",
        "-c",
        "HEALTHCHECK --interval=300ms --retries=1 CMD [\"test\", \"-e\", \"/tmp/ok\"]",
        tar.to_str().unwrap(),
        "hc:1",
    ]);
    assert_eq!(
        env.ok(&[
            "image",
            "inspect",
            "-f",
            "{{json .Config.Healthcheck}}",
            "hc:1"
        ]),
        "{\"Interval\":300000000,\"Retries\":1,\"Test\":[\"CMD\",\"test\",\"-e\",\"/tmp/ok\"]}\n"
    );
    // The image's test with the user's interval (Docker's merge).
    env.ok(&[
        "run",
        "-d",
        "--name",
        "img",
        "--network",
        "none",
        "--health-interval",
        "200ms",
        "hc:1",
        "sleep",
        "1000",
    ]);
    let c = inspect(&env, "img");
    assert_eq!(
        c["Config"]["Healthcheck"],
        serde_json::json!({"Test": ["CMD", "test", "-e", "/tmp/ok"], "Interval": 200_000_000, "Retries": 1})
    );
    let h = wait_status(&env, "img", "unhealthy", 20);
    assert_eq!(h["Log"][0]["Output"], "");
    env.ok(&["exec", "img", "touch", "/tmp/ok"]);
    wait_status(&env, "img", "healthy", 20);

    // --no-healthcheck: Test NONE, no State.Health, no probes, plain ps status.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "off",
        "--network",
        "none",
        "--no-healthcheck",
        "hc:1",
        "sleep",
        "1000",
    ]);
    let c = inspect(&env, "off");
    // Docker's merge fills the image's other fields in even then (dockerd 20.10 does).
    assert_eq!(
        c["Config"]["Healthcheck"],
        serde_json::json!({"Test": ["NONE"], "Interval": 300_000_000, "Retries": 1})
    );
    assert!(c["State"].get("Health").is_none());
    std::thread::sleep(Duration::from_millis(600));
    assert!(inspect(&env, "off")["State"].get("Health").is_none());
    assert!(!ps_status(&env, "off").contains('('));

    // Interval without a test and no image test: a Healthcheck without State.Health.
    env.ok(&[
        "create",
        "--name",
        "half",
        "--health-interval",
        "2s",
        "busybox",
        "true",
    ]);
    assert_eq!(
        inspect(&env, "half")["Config"]["Healthcheck"],
        serde_json::json!({"Interval": 2_000_000_000})
    );

    // docker CLI 28's and dockerd 20.10's refusals, exit 125, nothing created.
    for (args, msg) in [
        (vec!["--health-interval=-1s"], "--health-interval cannot be negative"),
        (
            vec!["--no-healthcheck", "--health-cmd", "true"],
            "--no-healthcheck conflicts with --health-* options",
        ),
        (
            vec!["--health-interval", "10us", "--health-cmd", "true"],
            "Interval in Healthcheck cannot be less than 1ms",
        ),
        (
            vec!["--health-interval", "abc"],
            "invalid argument \"abc\" for \"--health-interval\" flag: time: invalid duration \"abc\"",
        ),
        (vec!["--health-retries", "-1"], "--health-retries cannot be negative"),
    ] {
        let mut a = vec!["run", "--rm"];
        a.extend(args.iter().copied());
        a.extend(["busybox", "true"]);
        let (_, err) = env.code(&a, 125);
        assert!(err.contains(msg), "{a:?}: {err}");
    }
    assert_eq!(env.ok(&["ps", "-aq"]).lines().count(), 3);
    let (_, err) = env.code(&["ps", "--filter", "health=bogus"], 1);
    assert!(
        err.contains("Unrecognised filter value for health: bogus"),
        "{err}"
    );
    env.ok(&["rm", "-f", "img", "off", "half"]);
}

#[test]
fn unhealthy_does_not_restart_and_restarts_start_over() {
    let env = setup();
    // Docker restarts on exits only: an unhealthy container with --restart always stays up.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "sick",
        "--network",
        "none",
        "--restart",
        "always",
        "--health-cmd",
        "exit 1",
        "--health-interval",
        "200ms",
        "--health-retries",
        "1",
        "busybox",
        "sleep",
        "1000",
    ]);
    wait_status(&env, "sick", "unhealthy", 20);
    std::thread::sleep(Duration::from_millis(600));
    let c = inspect(&env, "sick");
    assert_eq!(c["State"]["Status"], "running");
    assert_eq!(c["RestartCount"], 0);

    // A restarted container (policy) begins again as "starting" and is probed again.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "flap",
        "--network",
        "none",
        "--restart",
        "on-failure:1",
        "--health-cmd",
        "test -e /tmp/ok",
        "--health-interval",
        "200ms",
        "--health-retries",
        "1",
        "busybox",
        "sh",
        "-c",
        "touch /tmp/ok; while [ ! -e /tmp/die ]; do sleep 0.05; done; rm /tmp/die; exit 3",
    ]);
    wait_status(&env, "flap", "healthy", 20);
    env.ok(&["exec", "flap", "touch", "/tmp/die"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let c = inspect(&env, "flap");
        if c["RestartCount"] == 1 && c["State"]["Running"] == true {
            break;
        }
        assert!(Instant::now() < deadline, "no restart: {}", c["State"]);
        std::thread::sleep(Duration::from_millis(20));
    }
    // /tmp/ok is still in the container's layer: healthy again after a probe of this run.
    let h = wait_status(&env, "flap", "healthy", 20);
    assert!(h["Log"].as_array().unwrap().len() >= 2);
    env.ok(&["rm", "-f", "sick", "flap"]);
    let _ = BERTH;
}

/// A CMD-SHELL probe runs with the image's SHELL (Docker's getShell).
#[test]
fn shell_form_uses_the_images_shell() {
    let env = setup();
    let tar = env.busybox_tar();
    env.ok(&[
        "import",
        "-c",
        "SHELL [\"/bin/echo\", \"via\"]",
        "-c",
        "HEALTHCHECK --interval=200ms CMD exit 7",
        tar.to_str().unwrap(),
        "sh:1",
    ]);
    env.ok(&[
        "run",
        "-d",
        "--name",
        "sh",
        "--network",
        "none",
        "sh:1",
        "sleep",
        "1000",
    ]);
    assert_eq!(
        inspect(&env, "sh")["Config"]["Shell"],
        serde_json::json!(["/bin/echo", "via"])
    );
    let h = wait_status(&env, "sh", "healthy", 20);
    assert_eq!(h["Log"][0]["Output"], "via exit 7\n");
    env.ok(&["rm", "-f", "sh"]);
}

/// dockerd 20.10: pausing makes the health "unhealthy" (streak kept, no event) and stops the
/// probes; after unpause they go on and the next success is a `health_status: healthy` event.
#[test]
fn pause_stops_the_probes() {
    let env = setup();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "pz",
        "--network",
        "none",
        "--health-cmd",
        "true",
        "--health-interval",
        "200ms",
        "busybox",
        "sleep",
        "1000",
    ]);
    wait_status(&env, "pz", "healthy", 20);
    env.ok(&["pause", "pz"]);
    let h = health(&env, "pz");
    assert_eq!(
        (h["Status"].clone(), h["FailingStreak"].clone()),
        ("unhealthy".into(), 0.into())
    );
    let n = h["Log"].as_array().unwrap().len();
    std::thread::sleep(Duration::from_millis(800));
    let h = health(&env, "pz");
    assert_eq!(h["Status"], "unhealthy");
    let m = h["Log"].as_array().unwrap().len();
    assert!(m == n || (n == 5 && m == 5), "probed while paused: {h}");
    assert!(ps_status(&env, "pz").ends_with("(Paused)"));
    env.ok(&["unpause", "pz"]);
    wait_status(&env, "pz", "healthy", 20);
    let until = (chrono::Utc::now().timestamp() + 1).to_string();
    let ev = env.ok(&[
        "events",
        "--since",
        "0",
        "--until",
        &until,
        "--filter",
        "container=pz",
        "--filter",
        "event=health_status",
        "--format",
        "{{.Status}}",
    ]);
    assert_eq!(ev, "health_status: healthy\nhealth_status: healthy\n");
    env.ok(&["rm", "-f", "pz"]);
}

/// A CMD probe whose program is missing: exit code -1 and dockerd 20.10's text; a CMD-SHELL one
/// gets the shell's 127 and message.
#[test]
fn probes_that_cannot_start() {
    let env = setup();
    let tar = env.busybox_tar();
    let tar = tar.to_str().unwrap();
    env.ok(&[
        "import",
        "-c",
        "HEALTHCHECK --interval=200ms --retries=1 CMD [\"nope\", \"x\"]",
        tar,
        "nope:1",
    ]);
    env.ok(&[
        "import",
        "-c",
        "HEALTHCHECK --interval=200ms --retries=1 CMD curl -f http://x/",
        tar,
        "curl:1",
    ]);
    env.ok(&[
        "run",
        "-d",
        "--name",
        "n1",
        "--network",
        "none",
        "nope:1",
        "sleep",
        "100",
    ]);
    env.ok(&[
        "run",
        "-d",
        "--name",
        "n2",
        "--network",
        "none",
        "curl:1",
        "sleep",
        "100",
    ]);
    let h = wait_status(&env, "n1", "unhealthy", 20);
    assert_eq!(h["Log"][0]["ExitCode"], -1);
    assert_eq!(
        h["Log"][0]["Output"],
        "OCI runtime exec failed: exec failed: unable to start container process: exec: \"nope\": executable file not found in $PATH: unknown"
    );
    let h = wait_status(&env, "n2", "unhealthy", 20);
    assert_eq!(h["Log"][0]["ExitCode"], 127);
    assert_eq!(h["Log"][0]["Output"], "/bin/sh: curl: not found\n");
    env.ok(&["rm", "-f", "n1", "n2"]);
}
