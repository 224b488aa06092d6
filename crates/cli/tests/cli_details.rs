//! Details scripts depend on (issue 13), each checked against docker CLI 28 + dockerd 20.10
//! (or, where 20.10 lacks the feature, Docker >= 22's documented behaviour, said so below).

mod common;

use common::Env;
use serde_json::Value;

fn setup() -> Env {
    let env = Env::new();
    env.import_busybox();
    env
}

fn events(env: &Env, filter: &str, format: &str) -> Vec<String> {
    let until = (chrono::Utc::now().timestamp() + 1).to_string();
    env.ok(&[
        "events", "--since", "0", "--until", &until, "--filter", filter, "--format", format,
    ])
    .lines()
    .map(String::from)
    .collect()
}

/// `stop -s` / `restart -s` (API 1.42, Docker >= 22; dockerd 20.10 ignores the flag): the
/// signal replaces the StopSignal; stop's events are Docker's kill(signal), die, stop.
#[test]
fn stop_and_restart_with_a_signal() {
    let env = setup();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "sg",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 5' USR1; touch /dev/shm/ready; sleep 1000 & wait",
    ]);
    // The signal must find the trap set (else USR1's default action ends the shell).
    let ready = || {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        // /dev/shm is a fresh tmpfs at each start.
        while !env
            .run(&["exec", "sg", "test", "-e", "/dev/shm/ready"])
            .status
            .success()
        {
            assert!(std::time::Instant::now() < deadline, "trap never set");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    };
    ready();
    assert_eq!(env.ok(&["stop", "-s", "USR1", "-t", "20", "sg"]), "sg\n");
    assert_eq!(
        env.ok(&["inspect", "-f", "{{.State.ExitCode}}", "sg"]),
        "5\n"
    );
    let ev = events(
        &env,
        "container=sg",
        "{{.Status}} {{index .Actor.Attributes \"signal\"}}",
    );
    let tail: Vec<&str> = ev.iter().rev().take(3).rev().map(String::as_str).collect();
    assert_eq!(tail, vec!["kill 10", "die ", "stop "], "{ev:?}");
    env.ok(&["start", "sg"]);
    ready();
    assert_eq!(
        env.ok(&["restart", "--signal", "SIGUSR1", "-t", "20", "sg"]),
        "sg\n"
    );
    assert_eq!(
        env.ok(&[
            "inspect",
            "-f",
            "{{.State.Running}} {{.RestartCount}}",
            "sg"
        ]),
        "true 0\n"
    );
    let (_, err) = env.code(&["stop", "-s", "FOO", "sg"], 1);
    assert!(err.contains("Invalid signal: FOO"), "{err}");
    assert_eq!(
        env.ok(&["inspect", "-f", "{{.State.Running}}", "sg"]),
        "true\n"
    );
    env.ok(&["rm", "-f", "sg"]);
}

/// Templates: `--format json` (Docker >= 23: `{{json .}}` per row), `{{.Label "k"}}`, and the
/// events' Go field names.
#[test]
fn format_json_label_and_event_fields() {
    let env = setup();
    env.ok(&[
        "create", "--name", "lb", "--label", "a=1", "--label", "b", "busybox", "true",
    ]);
    let row: Value = serde_json::from_str(&env.ok(&["ps", "-a", "--format", "json"])).unwrap();
    assert_eq!(row["Names"], "lb");
    assert_eq!(row["Labels"], "a=1,b=");
    assert!(row
        .as_object()
        .unwrap()
        .keys()
        .all(|k| !k.starts_with('\u{0}')));
    assert_eq!(
        env.ok(&[
            "ps",
            "-a",
            "--format",
            "{{.Label \"a\"}}|{{.Label \"zz\"}}|{{.Label \"b\"}}"
        ]),
        "1||\n"
    );
    let (_, err) = env.code(&["ps", "-a", "--format", "{{.Label}}"], 1);
    assert!(
        err.contains("wrong number of args for Label: want 1 got 0"),
        "{err}"
    );
    let img: Value = serde_json::from_str(
        env.ok(&["images", "--format", "json"])
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(img["Repository"], "busybox");
    let id = env
        .ok(&["inspect", "-f", "{{.Id}}", "lb"])
        .trim()
        .to_string();
    // inspect --format json: the whole list as one compact array (docker CLI 28).
    let out = env.ok(&["inspect", "--format", "json", "lb", "lb"]);
    assert_eq!(out.lines().count(), 1);
    let arr: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(arr.as_array().unwrap().len(), 2);
    assert_eq!(arr[0]["Id"], id.as_str());
    let out = env.ok(&["image", "inspect", "--format", "json", "busybox"]);
    assert!(out.starts_with("[{") && out.lines().count() == 1, "{out}");
    let out = env.ok(&["network", "inspect", "--format", "json", "none"]);
    assert!(out.starts_with("[{") && out.lines().count() == 1, "{out}");
    let ev = events(
        &env,
        "event=create",
        "{{.Status}}|{{.ID}}|{{.From}}|{{.Type}}|{{.Scope}}",
    );
    assert_eq!(ev, vec![format!("create|{id}|busybox|container|local")]);
    let j: Value = serde_json::from_str(&events(&env, "event=create", "{{json .}}")[0]).unwrap();
    assert_eq!(j["status"], "create");
    assert!(j.get("\u{0}aliases").is_none());
}

/// `images --filter` with dockerd 20.10's answers (same images made the same way there).
#[test]
fn images_filters_as_dockerd() {
    let env = setup();
    let tar = env.busybox_tar();
    let tar = tar.to_str().unwrap();
    env.ok(&["import", "-c", "LABEL a=1", tar, "lab:x"]);
    env.ok(&["tag", "lab:x", "other/lab:y"]);
    for t in ["hc:1", "hc:2", "hc:3"] {
        env.ok(&["import", tar, t]);
    }
    let list = |f: &str| -> Vec<String> {
        let mut v: Vec<String> = env
            .ok(&[
                "images",
                "--filter",
                f,
                "--format",
                "{{.Repository}}:{{.Tag}}",
            ])
            .lines()
            .map(String::from)
            .collect();
        v.sort();
        v
    };
    assert_eq!(list("reference=hc:?"), ["hc:1", "hc:2", "hc:3"]);
    assert_eq!(list("reference=h*"), ["hc:1", "hc:2", "hc:3"]);
    assert_eq!(list("reference=*/lab"), ["other/lab:y"]);
    assert_eq!(list("reference=lab"), ["lab:x"]);
    assert_eq!(list("reference=[hl]*:[12x]"), ["hc:1", "hc:2", "lab:x"]);
    assert_eq!(list("label=a"), ["lab:x", "other/lab:y"]);
    assert_eq!(list("label=a=1"), ["lab:x", "other/lab:y"]);
    assert!(list("label=a=2").is_empty());
    assert_eq!(
        list("before=hc:2"),
        ["busybox:latest", "hc:1", "lab:x", "other/lab:y"]
    );
    assert_eq!(list("since=hc:2"), ["hc:3"]);
    for (f, msg) in [
        ("foo=1", "Invalid filter 'foo'"),
        ("before=nope:1", "No such image: nope:1"),
        ("dangling=maybe", "Invalid filter 'dangling=[maybe]'"),
        ("reference=[", "syntax error in pattern"),
    ] {
        let (_, err) = env.code(&["images", "--filter", f], 1);
        assert!(err.contains(msg), "{f}: {err}");
    }
}

/// `ps --filter` with dockerd 20.10's answers.
#[test]
fn ps_filters_as_dockerd() {
    let env = setup();
    for (n, extra) in [
        ("h1", vec!["--expose", "80"]),
        ("h2", vec!["-p", "127.0.0.1::81"]),
        ("h3", vec![]),
    ] {
        let mut a = vec!["create", "--name", n];
        a.extend(extra);
        a.extend(["busybox", "true"]);
        env.ok(&a);
    }
    let names = |f: &str| -> Vec<String> {
        let mut v: Vec<String> = env
            .ok(&["ps", "-a", "--filter", f, "--format", "{{.Names}}"])
            .lines()
            .map(String::from)
            .collect();
        v.sort();
        v
    };
    assert_eq!(names("name=^h[12]$"), ["h1", "h2"]);
    assert_eq!(names("name=h"), ["h1", "h2", "h3"]);
    assert_eq!(names("name=^/h3$"), ["h3"]);
    assert_eq!(names("expose=80"), ["h1"]);
    assert_eq!(names("expose=79-81/tcp"), ["h1", "h2"]);
    assert_eq!(names("publish=81"), ["h2"]);
    assert!(names("publish=80").is_empty());
    assert!(names("is-task=true").is_empty());
    assert_eq!(names("is-task=false"), ["h1", "h2", "h3"]);
    assert_eq!(names("before=h3"), ["h1", "h2"]);
    assert_eq!(names("since=h1"), ["h2", "h3"]);
    assert_eq!(names("health=none"), ["h1", "h2", "h3"]);
    for (f, msg) in [
        ("foo=1", "Invalid filter 'foo'"),
        ("status=bogus", "Invalid filter 'status=bogus'"),
        ("is-task=maybe", "Invalid filter 'is-task=[maybe]'"),
        ("exited=x", "strconv.Atoi: parsing \"x\": invalid syntax"),
        (
            "publish=abc",
            "error while looking up for publish abc: strconv.ParseUint: parsing \"abc\": invalid syntax",
        ),
        ("before=nope", "no such container nope"),
        ("since=nope", "no such container nope"),
    ] {
        let (_, err) = env.code(&["ps", "-a", "--filter", f], 1);
        assert!(err.contains(msg), "{f}: {err}");
    }
}

/// Events of a container's life as dockerd 20.10 writes them: attach (foreground run),
/// network connect before start, kill/die/network disconnect/stop on stop.
#[test]
fn lifecycle_events_with_attach_and_networks() {
    let env = setup();
    env.ok(&[
        "run",
        "--name",
        "fg",
        "--network",
        "none",
        "busybox",
        "true",
    ]);
    env.ok(&[
        "run",
        "-d",
        "--name",
        "bg",
        "--network",
        "none",
        "busybox",
        "sleep",
        "1000",
    ]);
    env.ok(&["stop", "-t", "0", "bg"]);
    let fg = env
        .ok(&["inspect", "-f", "{{.Id}}", "fg"])
        .trim()
        .to_string();
    let bg = env
        .ok(&["inspect", "-f", "{{.Id}}", "bg"])
        .trim()
        .to_string();
    let none = env
        .ok(&["network", "inspect", "-f", "{{.Id}}", "none"])
        .trim()
        .to_string();
    let all = events(
        &env,
        "type=container",
        "{{.Type}} {{.Action}} {{.Actor.ID}}",
    );
    let net = events(
        &env,
        "type=network",
        "{{.Type}} {{.Action}} {{.Actor.ID}} {{.Actor.Attributes.container}} {{.Actor.Attributes.name}} {{.Actor.Attributes.type}}",
    );
    let c = |a: &str, id: &str| format!("container {a} {id}");
    assert_eq!(
        all,
        vec![
            c("create", &fg),
            c("attach", &fg),
            c("start", &fg),
            c("die", &fg),
            c("create", &bg),
            c("start", &bg),
            c("kill", &bg),
            c("die", &bg),
            c("stop", &bg),
        ]
    );
    let n = |a: &str, id: &str| format!("network {a} {none} {id} none null");
    assert_eq!(
        net,
        vec![
            n("connect", &fg),
            n("disconnect", &fg),
            n("connect", &bg),
            n("disconnect", &bg),
        ]
    );
    // The network events carry no status/id/from, as Docker's.
    let j: Value = serde_json::from_str(&events(&env, "type=network", "{{json .}}")[0]).unwrap();
    assert!(j.get("status").is_none() && j.get("id").is_none(), "{j}");
    assert_eq!(j["Type"], "network");
    assert_eq!(
        events(&env, "type=network", "[{{.Status}}|{{.ID}}|{{.From}}]")[0],
        "[||]"
    );
}
