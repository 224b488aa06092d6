//! `berth` container commands end to end: the real binary, the real kernel, a temporary
//! --root/--runroot per test, busybox imported from testutil's rootfs. Each Env removes the
//! containers it made (rm -f) when dropped, also after a failed assertion.

mod common;

use common::{sh, Env, Registry};
use std::process::Stdio;

fn is_full_id(s: &str) -> bool {
    s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit())
}

#[test]
fn run_exit_codes() {
    let env = Env::new();
    env.import_busybox();
    let (out, _) = env.code(
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "busybox",
            "echo",
            "hello",
            "-n",
        ],
        0,
    );
    assert_eq!(
        out, "hello -n\n",
        "flags after the image belong to the command"
    );
    env.code(
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "busybox",
            "sh",
            "-c",
            "exit 3",
        ],
        3,
    );
    // Engine / flag errors: 125.
    env.code(&["run", "--no-such-flag", "busybox", "true"], 125);
    let (_, err) = env.code(&["run", "--memory", "lots", "busybox", "true"], 125);
    assert!(err.contains("invalid size: 'lots'"), "{err}");
    let (_, err) = env.code(&["run", "--pull", "never", "nosuchimage", "true"], 125);
    assert!(err.contains("No such image"), "{err}");
    // Not executable: 126; not found: 127.
    env.code(
        &["run", "--rm", "--network", "none", "busybox", "/etc/passwd"],
        126,
    );
    env.code(
        &["run", "--rm", "--network", "none", "busybox", "nosuch"],
        127,
    );
    // --rm left nothing behind.
    let (out, _) = env.code(&["ps", "-aq"], 0);
    assert_eq!(out, "", "--rm containers are gone");
}

#[test]
fn detached_lifecycle_ps_inspect_exec_logs_stop_rm() {
    let env = Env::new();
    env.import_busybox();
    let id = env
        .ok(&[
            "run",
            "-d",
            "--name",
            "web",
            "--cgroupns",
            "private",
            "--network",
            "none",
            "-l",
            "tier=front",
            "busybox",
            "sleep",
            "1000",
        ])
        .trim()
        .to_string();
    assert!(is_full_id(&id), "run -d prints the full ID: {id:?}");

    // ps: Docker's columns and widths.
    let ps = env.ok(&["ps"]);
    let mut lines = ps.lines();
    let header = lines.next().unwrap();
    for col in [
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS",
        "NAMES",
    ] {
        assert!(header.contains(col), "{header}");
    }
    assert!(
        header.starts_with("CONTAINER ID   IMAGE     COMMAND        CREATED"),
        "{header}"
    );
    let row = lines.next().expect("one running container");
    assert!(row.starts_with(&id[..12]), "{row}");
    assert!(row.contains("\"sleep 1000\""), "{row}");
    assert!(row.contains("Up "), "{row}");
    assert!(row.ends_with("web"), "{row}");
    assert_eq!(env.ok(&["ps", "-q"]).trim(), &id[..12]);
    assert_eq!(env.ok(&["ps", "-q", "--no-trunc"]).trim(), id);
    assert_eq!(
        env.ok(&["ps", "--format", "{{.Names}} {{.State}}"]),
        "web running\n"
    );
    assert_eq!(env.ok(&["ps", "-q", "-f", "name=web"]).trim(), &id[..12]);
    assert_eq!(
        env.ok(&["ps", "-q", "-f", "label=tier=front"]).trim(),
        &id[..12]
    );
    assert_eq!(env.ok(&["ps", "-q", "-f", "name=nomatch"]), "");

    // inspect: container fields through templates.
    let pid: i32 = env
        .ok(&["inspect", "--format", "{{.State.Pid}}", "web"])
        .trim()
        .parse()
        .unwrap();
    assert!(pid > 0);
    for ns in ["pid", "mnt", "uts", "ipc", "net", "cgroup"] {
        let theirs = std::fs::read_link(format!("/proc/{pid}/ns/{ns}")).unwrap();
        let ours = std::fs::read_link(format!("/proc/self/ns/{ns}")).unwrap();
        assert_ne!(theirs, ours, "{ns} namespace is the container's own");
    }
    assert_eq!(
        env.ok(&["inspect", "-f", "{{.State.Status}} {{.Name}}", &id[..8]]),
        "running /web\n"
    );
    let cfg = env.ok(&["inspect", "-f", "{{json .Config}}", "web"]);
    let v: serde_json::Value = serde_json::from_str(&cfg).unwrap();
    assert_eq!(v["Cmd"], serde_json::json!(["sleep", "1000"]));
    assert_eq!(
        env.ok(&["inspect", "-f", "{{index .Config.Labels \"tier\"}}", "web"]),
        "front\n"
    );
    let merged = env.ok(&["inspect", "-f", "{{.GraphDriver.Data.MergedDir}}", "web"]);
    let merged = merged.trim();
    assert!(!merged.is_empty());
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(mounts.contains(merged), "MergedDir {merged} is mounted");
    let full: serde_json::Value = serde_json::from_str(&env.ok(&["inspect", "web"])).unwrap();
    assert_eq!(full[0]["Id"], id.as_str());

    // exec: only the container's processes, PID 1 first.
    let out = env.ok(&["exec", "web", "ps", "-ef"]);
    let procs: Vec<&str> = out.lines().skip(1).collect();
    assert!(
        procs[0].split_whitespace().next() == Some("1") && procs[0].contains("sleep 1000"),
        "{out}"
    );
    assert_eq!(procs.len(), 2, "sleep and ps only: {out}");
    env.code(&["exec", "web", "sh", "-c", "exit 5"], 5);
    assert_eq!(
        env.ok(&[
            "exec",
            "-e",
            "X=42",
            "-w",
            "/tmp",
            "web",
            "sh",
            "-c",
            "echo $X $PWD"
        ]),
        "42 /tmp\n"
    );
    env.code(&["exec", "web", "nosuch"], 127);

    // top
    let top = env.ok(&["top", "web"]);
    assert!(top.lines().next().unwrap().starts_with("UID"), "{top}");
    assert!(top.contains("sleep 1000"), "{top}");

    // stop, then the state shows it.
    let (_, err) = env.code(&["rm", "web"], 1);
    assert!(
        err.contains("You cannot remove a running container"),
        "{err}"
    );
    assert_eq!(env.ok(&["stop", "-t", "1", "web"]), "web\n");
    let st = env.ok(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.Running}}",
        "web",
    ]);
    assert_eq!(st, "exited false\n");
    assert_eq!(env.ok(&["ps", "-q"]), "");
    let row = env.ok(&["ps", "-a", "--format", "{{.Status}}"]);
    assert!(row.starts_with("Exited ("), "{row}");
    assert_eq!(
        env.ok(&["ps", "-aq", "-f", "status=exited"]).trim(),
        &id[..12]
    );
    assert!(env.ok(&["wait", "web"]).trim().parse::<i32>().is_ok());

    assert_eq!(env.ok(&["rm", "web"]), "web\n");
    let (_, err) = env.code(&["inspect", "web"], 1);
    assert!(err.contains("No such object: web"), "{err}");
    let (_, err) = env.code(&["rm", "web"], 1);
    assert!(err.contains("No such container: web"), "{err}");
    assert!(!mounts_contain(merged), "MergedDir unmounted after rm");
}

fn mounts_contain(p: &str) -> bool {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .contains(p)
}

#[test]
fn logs_of_a_finished_container() {
    let env = Env::new();
    env.import_busybox();
    env.ok(&[
        "run",
        "--name",
        "lg",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; echo two",
    ]);
    let o = env.run(&["logs", "lg"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "out\ntwo\n");
    assert_eq!(String::from_utf8_lossy(&o.stderr), "err\n");
    // --tail counts lines of both streams, whose relative order is the monitor's read order:
    // a stdout-only container makes it exact.
    env.ok(&[
        "run",
        "--name",
        "lg2",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "echo a; echo b; echo c",
    ]);
    assert_eq!(env.ok(&["logs", "--tail", "2", "lg2"]), "b\nc\n");
    assert_eq!(env.ok(&["logs", "-n", "0", "lg2"]), "");
    assert_eq!(env.ok(&["logs", "--since", "1h", "lg2"]), "a\nb\nc\n");
    assert_eq!(
        env.ok(&["logs", "--until", "1h", "lg2"]),
        "",
        "nothing is an hour old"
    );
    let ts = env.ok(&["logs", "-t", "lg"]);
    assert!(
        ts.lines().all(|l| l.len() > 30 && l.as_bytes()[4] == b'-'),
        "{ts}"
    );
    env.ok(&["rm", "lg", "lg2"]);
}

#[test]
fn inspect_images_and_containers() {
    let env = Env::new();
    env.import_busybox();
    // An image through the generic inspect.
    let v: serde_json::Value = serde_json::from_str(&env.ok(&["inspect", "busybox"])).unwrap();
    assert!(v[0]["RootFS"]["Layers"].is_array());
    assert_eq!(
        env.ok(&["inspect", "--type", "image", "-f", "{{.Os}}", "busybox"]),
        "linux\n"
    );
    let (_, err) = env.code(&["inspect", "--type", "container", "busybox"], 1);
    assert!(err.contains("No such container: busybox"), "{err}");
    let host_dir = env.path("bind-src");
    std::fs::create_dir(&host_dir).unwrap();
    let bind = format!("{}:/data:ro", host_dir.display());
    env.ok(&[
        "create",
        "--name",
        "c1",
        "--network",
        "none",
        "-v",
        &bind,
        "-v",
        "named:/vol",
        "--mount",
        "type=tmpfs,target=/t",
        "busybox",
        "true",
    ]);
    let both: serde_json::Value =
        serde_json::from_str(&env.ok(&["inspect", "c1", "busybox"])).unwrap();
    assert!(both[0]["State"].is_object() && both[1]["RootFS"].is_object());
    assert_eq!(
        env.ok(&["inspect", "-f", "{{.State.Status}}", "c1"]),
        "created\n"
    );
    let dests = env.ok(&[
        "inspect",
        "-f",
        "{{range .Mounts}}{{.Destination}} {{end}}",
        "c1",
    ]);
    for d in ["/data", "/vol", "/t"] {
        assert!(dests.contains(d), "{d} in {dests}");
    }
    assert_eq!(
        env.ok(&[
            "container",
            "inspect",
            "-f",
            "{{.HostConfig.NetworkMode}}",
            "c1"
        ]),
        "none\n"
    );
    let (_, err) = env.code(&["inspect", "nothing-here"], 1);
    assert!(err.contains("No such object: nothing-here"), "{err}");
    env.ok(&["container", "rm", "c1"]);
}

/// The cgroup v1 directory of `pid` for `controller` (hybrid hosts mount v1 at /sys/fs/cgroup).
fn cgroup_dir(pid: i32, controller: &str) -> std::path::PathBuf {
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    for l in cg.lines() {
        let mut f = l.splitn(3, ':');
        let (_, ctrls, path) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap());
        if ctrls.split(',').any(|c| c == controller) {
            for mnt in [
                format!("/sys/fs/cgroup/{ctrls}"),
                format!("/sys/fs/cgroup/{controller}"),
            ] {
                let p = std::path::PathBuf::from(mnt).join(path.trim_start_matches('/'));
                if p.exists() {
                    return p;
                }
            }
        }
    }
    panic!("no {controller} cgroup for {pid}: {cg}");
}

#[test]
fn cpu_quota_lands_in_the_cgroup_and_goes_with_rm() {
    let env = Env::new();
    env.import_busybox();
    let id = env.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--cpu-quota=50000",
        "--pids-limit",
        "50",
        "busybox",
        "sleep",
        "1000",
    ]);
    let id = id.trim();
    let pid: i32 = env
        .ok(&["inspect", "-f", "{{.State.Pid}}", id])
        .trim()
        .parse()
        .unwrap();
    let dir = cgroup_dir(pid, "cpu");
    assert_eq!(
        std::fs::read_to_string(dir.join("cpu.cfs_quota_us"))
            .unwrap()
            .trim(),
        "50000"
    );
    let pids = cgroup_dir(pid, "pids");
    assert_eq!(
        std::fs::read_to_string(pids.join("pids.max"))
            .unwrap()
            .trim(),
        "50"
    );
    env.ok(&["rm", "-f", id]);
    assert!(
        !dir.exists(),
        "{} removed with the container",
        dir.display()
    );
}

#[test]
fn seeds_example_run_d_then_exec_ps() {
    let env = Env::new();
    env.import_busybox();
    // --network none: the default bridge (berth0) is one host device, and every test root
    // would try to own it (see the network crate's notes).
    let id = env.ok(&["run", "-d", "--network", "none", "busybox", "sleep", "1000"]);
    let id = id.trim();
    let out = env.ok(&["exec", id, "ps", "-ef"]);
    let first = out.lines().nth(1).unwrap();
    assert_eq!(first.split_whitespace().next(), Some("1"), "{out}");
    assert!(first.contains("sleep 1000"), "{out}");
    env.ok(&["rm", "-f", id]);
}

#[test]
fn diff_commit_export_cp() {
    let env = Env::new();
    env.import_busybox();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "dd",
        "--network",
        "none",
        "busybox",
        "sleep",
        "1000",
    ]);
    env.ok(&[
        "exec",
        "dd",
        "sh",
        "-c",
        "echo new > /added && rm /www/index.html",
    ]);
    let diff = env.ok(&["diff", "dd"]);
    for l in ["A /added", "C /www", "D /www/index.html"] {
        assert!(diff.lines().any(|x| x == l), "{l} in {diff}");
    }
    // cp into and out of the container.
    let host = env.path("host.txt");
    std::fs::write(&host, "from host\n").unwrap();
    env.ok(&["cp", host.to_str().unwrap(), "dd:/tmp/"]);
    env.ok(&["cp", host.to_str().unwrap(), "dd:/tmp/renamed.txt"]);
    // A host directory owned by 1000 arrives root-owned (Docker's default without -a).
    let tree = env.path("tree");
    std::fs::create_dir_all(tree.join("sub")).unwrap();
    std::fs::write(tree.join("sub/f"), "f\n").unwrap();
    std::os::unix::fs::symlink("sub/f", tree.join("link")).unwrap();
    sh(&format!("chown -R 1000:1000 {}", tree.display()));
    env.ok(&["cp", tree.to_str().unwrap(), "dd:/"]);
    assert_eq!(
        env.ok(&["exec", "dd", "stat", "-c", "%u:%g", "/tree/sub/f"]),
        "0:0\n"
    );
    assert_eq!(env.ok(&["exec", "dd", "cat", "/tree/link"]), "f\n");
    assert_eq!(
        env.ok(&["exec", "dd", "cat", "/tmp/host.txt", "/tmp/renamed.txt"]),
        "from host\nfrom host\n"
    );
    let back = env.path("back.txt");
    env.ok(&["cp", "dd:/added", back.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&back).unwrap(), "new\n");
    let outdir = env.path("outdir");
    std::fs::create_dir(&outdir).unwrap();
    env.ok(&["cp", "dd:/www", outdir.to_str().unwrap()]);
    assert!(outdir.join("www").is_dir());
    let tar = env.run(&["cp", "dd:/added", "-"]);
    assert!(tar.status.success());
    assert!(tar.stdout.len() >= 1024 && tar.stdout.windows(5).any(|w| w == b"added"));

    // commit, then a new container of the image sees the change but not the init layer.
    let img = env.ok(&[
        "commit",
        "-m",
        "msg",
        "-a",
        "me",
        "-c",
        "ENV FOO=bar",
        "dd",
        "committed:v1",
    ]);
    assert!(img.trim().starts_with("sha256:"), "{img}");
    let out = env.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "committed:v1",
        "sh",
        "-c",
        "cat /added; echo $FOO; test -e /www/index.html || echo gone",
    ]);
    assert_eq!(out, "new\nbar\ngone\n");
    let hist = env.ok(&["inspect", "-f", "{{.Author}} {{.Comment}}", "committed:v1"]);
    assert_eq!(hist, "me msg\n");

    let exp = env.path("exp.tar");
    env.ok(&["export", "-o", exp.to_str().unwrap(), "dd"]);
    let list = sh(&format!("tar -tf {}", exp.display()));
    assert!(
        list.lines().any(|l| l.trim_start_matches("./") == "added"),
        "export has /added"
    );
    env.ok(&["rm", "-f", "dd"]);
}

#[test]
fn pause_rename_restart_kill_port() {
    let env = Env::new();
    env.import_busybox();
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
    env.ok(&["pause", "pz"]);
    assert_eq!(
        env.ok(&["inspect", "-f", "{{.State.Status}}", "pz"]),
        "paused\n"
    );
    env.ok(&["unpause", "pz"]);
    env.ok(&["rename", "pz", "qz"]);
    assert_eq!(env.ok(&["ps", "--format", "{{.Names}}"]), "qz\n");
    let pid1 = env.ok(&["inspect", "-f", "{{.State.Pid}}", "qz"]);
    env.ok(&["restart", "-t", "0", "qz"]);
    let pid2 = env.ok(&["inspect", "-f", "{{.State.Pid}}", "qz"]);
    assert_ne!(pid1, pid2, "restart runs a new process");
    env.ok(&["kill", "-s", "KILL", "qz"]);
    assert_eq!(env.ok(&["wait", "qz"]), "137\n");
    assert_eq!(env.ok(&["port", "qz"]), "");
    env.ok(&["container", "prune", "-f"]);
    assert_eq!(env.ok(&["ps", "-aq"]), "");
}

#[test]
fn events_are_logged() {
    let env = Env::new();
    env.import_busybox();
    env.ok(&[
        "run",
        "--rm",
        "--name",
        "ev",
        "--network",
        "none",
        "busybox",
        "true",
    ]);
    let until = format!("{}", chrono::Utc::now().timestamp() + 1);
    let out = env.ok(&[
        "events",
        "--since",
        "0",
        "--until",
        &until,
        "--format",
        "{{.Type}} {{.Action}}",
    ]);
    for a in [
        "container create",
        "container start",
        "container die",
        "container destroy",
    ] {
        assert!(out.lines().any(|l| l == a), "{a} in {out}");
    }
    let out = env.ok(&[
        "events",
        "--since",
        "0",
        "--until",
        &until,
        "-f",
        "event=start",
    ]);
    assert!(
        out.lines().count() >= 1 && out.lines().all(|l| l.contains(" container start ")),
        "{out}"
    );
}

#[test]
fn pull_push_and_run_pulls_a_missing_image() {
    let reg = Registry::start();
    let src = Env::new();
    src.import_busybox();
    let name = format!("{}/test/busybox:1", reg.host);
    src.ok(&["tag", "busybox", &name]);
    let out = src.ok(&["push", &name]);
    assert!(out.contains("digest: sha256:"), "{out}");

    let dst = Env::new();
    let out = dst.ok(&["pull", "-q", &name]);
    assert_eq!(out.trim(), name);
    dst.ok(&["rmi", &name]);
    let o = dst.run(&["run", "--rm", "--network", "none", &name, "echo", "pulled"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        err.contains(&format!("Unable to find image '{name}' locally")),
        "{err}"
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout), "pulled\n");
    // A repository the registry doesn't have: 125 with the registry's answer.
    let (_, err) = dst.code(
        &["run", "--rm", &format!("{}/nope/nothing", reg.host), "true"],
        125,
    );
    assert!(err.contains("Unable to find image"), "{err}");
}

#[test]
fn fifty_parallel_run_rm() {
    let env = Env::new();
    env.import_busybox();
    let children: Vec<_> = (0..50)
        .map(|i| {
            env.cmd(&[
                "run",
                "--rm",
                "--network",
                "none",
                "busybox",
                "echo",
                &i.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    for (i, c) in children.into_iter().enumerate() {
        let o = c.wait_with_output().unwrap();
        assert!(
            o.status.success(),
            "run {i}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&o.stdout), format!("{i}\n"));
    }
    assert_eq!(env.ok(&["ps", "-aq"]), "");
}

#[test]
fn start_attach_update_stats_info_prune() {
    let env = Env::new();
    env.import_busybox();
    // -it needs a terminal on stdin, like Docker.
    let (_, err) = env.code(&["run", "--rm", "-it", "busybox", "true"], 1);
    assert!(err.contains("the input device is not a TTY"), "{err}");
    // A detached run whose command is missing still says 127.
    env.code(
        &["run", "-d", "--network", "none", "busybox", "nosuch"],
        127,
    );
    // create + start -a: the output and the exit code come back.
    env.ok(&[
        "create",
        "--name",
        "sa",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "echo started; exit 4",
    ]);
    let (out, _) = env.code(&["start", "-a", "sa"], 4);
    assert_eq!(out, "started\n");
    // -i feeds our stdin to the container.
    let o = env.with_stdin(
        &[
            "run",
            "--rm",
            "-i",
            "--network",
            "none",
            "busybox",
            "tr",
            "a-z",
            "A-Z",
        ],
        b"shout\n",
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout), "SHOUT\n");

    let id = env.ok(&[
        "run",
        "-d",
        "--name",
        "up",
        "--network",
        "none",
        "-m",
        "64m",
        "busybox",
        "sleep",
        "1000",
    ]);
    let id = id.trim();
    assert_eq!(
        env.ok(&["update", "--cpu-quota", "30000", "--pids-limit", "40", "up"]),
        "up\n"
    );
    assert_eq!(
        env.ok(&[
            "inspect",
            "-f",
            "{{.HostConfig.CpuQuota}} {{.HostConfig.PidsLimit}}",
            "up"
        ]),
        "30000 40\n"
    );
    let pid: i32 = env
        .ok(&["inspect", "-f", "{{.State.Pid}}", "up"])
        .trim()
        .parse()
        .unwrap();
    let cpu = cgroup_dir(pid, "cpu");
    assert_eq!(
        std::fs::read_to_string(cpu.join("cpu.cfs_quota_us"))
            .unwrap()
            .trim(),
        "30000"
    );

    let stats = env.ok(&["stats", "--no-stream", "up"]);
    let mut lines = stats.lines();
    let header = lines.next().unwrap();
    assert!(
        header.starts_with(
            "CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT   MEM %     NET I/O"
        ),
        "{header}"
    );
    let row = lines.next().unwrap();
    assert!(
        row.starts_with(&id[..12]) && row.contains(" / 64MiB "),
        "{row}"
    );
    assert_eq!(
        env.ok(&[
            "stats",
            "--no-stream",
            "--format",
            "{{.Name}} {{.PIDs}}",
            "up"
        ]),
        "up 1\n"
    );

    let info = env.ok(&["info", "--format", "{{.Containers}} {{.ContainersRunning}}"]);
    assert_eq!(info, "3 1\n", "sa, the failed nosuch and up; one running");

    // cp of a tar stream from stdin into the container.
    let mut tar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(6);
    h.set_mode(0o644);
    h.set_cksum();
    tar.append_data(&mut h, "from-tar.txt", &b"piped\n"[..])
        .unwrap();
    let data = tar.into_inner().unwrap();
    let o = env.with_stdin(&["cp", "-", "up:/tmp"], &data);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        env.ok(&["exec", "up", "cat", "/tmp/from-tar.txt"]),
        "piped\n"
    );

    // system prune removes the stopped ones, keeps the running one.
    let out = env.ok(&["system", "prune", "-f"]);
    assert!(
        out.contains("Deleted Containers:") && out.contains("Total reclaimed space:"),
        "{out}"
    );
    assert_eq!(env.ok(&["ps", "-aq"]).trim(), &id[..12]);
}

#[test]
fn login_logout_write_the_docker_config() {
    let reg = Registry::start();
    let env = Env::new();
    let cfg_dir = env.path("docker-config");
    let run = |args: &[&str], input: &[u8]| {
        let mut c = env.cmd(args);
        c.env("DOCKER_CONFIG", &cfg_dir);
        let mut child = c
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        // A refused command may exit before reading it (EPIPE): its output tells.
        let _ = child.stdin.take().unwrap().write_all(input);
        child.wait_with_output().unwrap()
    };
    let o = run(
        &["login", "-u", "me", "--password-stdin", &reg.host],
        b"pw\n",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "Login Succeeded\n");
    let cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(cfg_dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(
        cfg["auths"][&reg.host]["auth"], "bWU6cHc=",
        "base64 of me:pw"
    );
    let o = run(&["logout", &reg.host], b"");
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        format!("Removing login credentials for {}\n", reg.host)
    );
    let o = run(
        &[
            "login",
            "-u",
            "me",
            "--password-stdin",
            "-p",
            "x",
            &reg.host,
        ],
        b"pw\n",
    );
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn attach_sees_output_and_exit_code() {
    use std::io::BufRead;
    let env = Env::new();
    env.import_busybox();
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
    let mut child = env
        .cmd(&["attach", "att"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    // Attached once a tick comes through; only then let the container finish.
    assert_eq!(lines.next().unwrap().unwrap(), "tick");
    env.ok(&["exec", "att", "touch", "/go"]);
    let rest: Vec<String> = lines.map(|l| l.unwrap()).collect();
    assert_eq!(rest.last().map(String::as_str), Some("done"), "{rest:?}");
    assert_eq!(child.wait().unwrap().code(), Some(3));
    let (_, err) = env.code(&["attach", "att"], 1);
    assert!(
        err.contains("You cannot attach to a stopped container"),
        "{err}"
    );
}

/// A static berth-init built from the same source with plain rustc (cargo builds the bin
/// target dynamically; a container can't load glibc's dynamic loader from its rootfs).
fn static_init(env: &Env) -> std::path::PathBuf {
    let deps = std::path::Path::new(common::BERTH)
        .parent()
        .unwrap()
        .join("deps");
    let libc = std::fs::read_dir(&deps)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.starts_with("liblibc-") && n.ends_with(".rlib")
        })
        .expect("libc rlib next to the test binaries");
    let out = env.path("berth-init");
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/src/bin/berth-init.rs");
    let o = std::process::Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .args([
            "--edition",
            "2021",
            "-C",
            "target-feature=+crt-static",
            "-L",
        ])
        .arg(&deps)
        .arg("--extern")
        .arg(format!("libc={}", libc.display()))
        .arg("-o")
        .arg(&out)
        .arg(src)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    out
}

#[test]
fn init_is_pid_1_and_passes_the_exit_code() {
    let env = Env::new();
    env.import_busybox();
    let init = static_init(&env);
    let run = |args: &[&str]| {
        env.cmd(args)
            .env("BERTH_INIT", &init)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let o = run(&[
        "run",
        "--rm",
        "--init",
        "--network",
        "none",
        "busybox",
        "ps",
        "-o",
        "pid,comm",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    let first = out.lines().nth(1).unwrap();
    assert_eq!(
        first.split_whitespace().collect::<Vec<_>>(),
        ["1", "berth-init"],
        "{out}"
    );
    let o = run(&[
        "run",
        "--rm",
        "--init",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "exit 9",
    ]);
    assert_eq!(o.status.code(), Some(9));
}

/// `--privileged` grants every capability this host lets us grant (our bounding set: some
/// sandboxes withhold e.g. CAP_SYS_RESOURCE even from root) and a writable cgroup mount.
#[test]
fn privileged_gets_our_bounding_set() {
    let env = Env::new();
    env.import_busybox();
    let ours = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:").map(|v| v.trim().to_string()))
        .unwrap();
    let out = env.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--privileged",
        "busybox",
        "sh",
        "-c",
        "grep CapEff /proc/self/status; mkdir /sys/fs/cgroup/memory/sub && rmdir /sys/fs/cgroup/memory/sub && echo cg-rw",
    ]);
    assert!(out.contains(&format!("CapEff:\t{ours}")), "{out}");
    if std::path::Path::new("/sys/fs/cgroup/memory").exists() {
        assert!(out.contains("cg-rw"), "{out}");
    }
}
