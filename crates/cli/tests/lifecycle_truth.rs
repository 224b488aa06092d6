//! Issue 12's Docker semantics, end to end on the real kernel: durable container layers
//! (`--storage-opt volatile=true` opts out), `run --rm`/`stop`/`kill`+`wait` return once the
//! container is gone (also under CPU load), `--entrypoint ""`, prune filters applied or
//! refused, and a root that keeps its storage driver.

mod common;

use common::{Env, BERTH};
use std::process::{Child, Command};

/// The container layer's mount line (the rootfs `/` of the container's own mountinfo).
const ROOT_LINE: &str = "grep ' / / ' /proc/self/mountinfo";

#[test]
fn container_layer_is_durable_unless_volatile_is_asked() {
    let env = Env::new();
    env.import_busybox();
    // Durable: no `volatile` among the overlay's options, and an fsync'ed write succeeds.
    let script = format!("{ROOT_LINE} && dd if=/dev/zero of=/f bs=1M count=4 conv=fsync 2>&1");
    let out = env.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        &script,
    ]);
    let line = out.lines().next().unwrap_or_default();
    assert!(line.contains(" - overlay "), "not an overlay root: {out}");
    assert!(
        !line.contains("volatile"),
        "durable layer mounted volatile: {line}"
    );
    assert!(out.contains("4+0 records out"), "dd: {out}");
    // The fsync'ed write reaches the disk from the container: its block-I/O stats count it
    // (with `volatile` the fsync does nothing and the stats stay at 0B).
    assert_ne!(fsynced_bytes(&env, "false"), "0B");
    assert_eq!(fsynced_bytes(&env, "true"), "0B");

    // Opted in: the option is there, and recorded in the HostConfig.
    let out = env.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--storage-opt",
        "volatile=true",
        "busybox",
        "sh",
        "-c",
        ROOT_LINE,
    ]);
    assert!(out.contains("volatile"), "volatile=true not applied: {out}");
    env.ok(&[
        "create",
        "--name",
        "vol",
        "--storage-opt",
        "volatile=true",
        "busybox",
        "true",
    ]);
    let (out, _) = env.code(
        &["inspect", "-f", "{{json .HostConfig.StorageOpt}}", "vol"],
        0,
    );
    assert_eq!(out.trim(), r#"{"volatile":"true"}"#);
    env.ok(&["rm", "vol"]);

    // Options berth does not apply are refused, naming the option (exit 125).
    for (opt, says) in [
        ("size=10G", "--storage-opt size"),
        ("foo=1", "--storage-opt foo"),
        ("volatile=maybe", "volatile=maybe"),
    ] {
        let (_, err) = env.code(
            &["run", "--rm", "--storage-opt", opt, "busybox", "true"],
            125,
        );
        assert!(err.contains(says), "{opt}: {err}");
    }
    let (out, _) = env.code(&["ps", "-aq"], 0);
    assert!(
        out.trim().is_empty(),
        "a refused run left a container: {out}"
    );
}

/// Block-I/O bytes written (`stats`' BlockIO column, after " / ") by a container that wrote
/// 4 MiB with `dd conv=fsync`, its layer volatile or not.
fn fsynced_bytes(env: &Env, volatile: &str) -> String {
    let opt = format!("volatile={volatile}");
    // Many small fsync'ed writes: each fsync writes its pages from the container's own context
    // at once, so the kernel's flusher (which, under cgroup v1, charges the root group) cannot
    // take them all first on a busy host. With `volatile` every fsync is a no-op.
    let script = "i=0; while [ $i -lt 64 ]; do \
                  dd if=/dev/zero of=/f bs=64k count=1 seek=$i conv=fsync,notrunc 2>/dev/null; \
                  i=$((i+1)); done; echo written; sleep 100";
    env.ok(&[
        "run",
        "-d",
        "--name",
        "bio",
        "--network",
        "none",
        "--storage-opt",
        &opt,
    ]
    .into_iter()
    .chain(["busybox", "sh", "-c", script])
    .collect::<Vec<_>>());
    let written = (0..100).any(|_| {
        let (out, _) = env.code(&["logs", "bio"], 0);
        out.contains("written") || {
            std::thread::sleep(std::time::Duration::from_millis(100));
            false
        }
    });
    assert!(written, "dd did not finish");
    let (out, _) = env.code(
        &["stats", "--no-stream", "--format", "{{.BlockIO}}", "bio"],
        0,
    );
    env.ok(&["rm", "-f", "bio"]);
    let w = out
        .trim()
        .rsplit(" / ")
        .next()
        .unwrap_or_default()
        .to_string();
    assert!(!w.is_empty(), "stats: {out}");
    w
}

/// `sh -c 'while :; do :; done'`, killed by PID on drop.
struct Busy(Child);

impl Busy {
    fn start() -> Busy {
        Busy(
            Command::new("sh")
                .args(["-c", "while :; do :; done"])
                .spawn()
                .unwrap(),
        )
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn run_rm_stop_and_wait_return_after_the_container_is_gone_under_load() {
    let env = Env::new();
    let tar = env.busybox_tar();
    let tar = tar.to_str().unwrap();
    let _busy = [Busy::start(), Busy::start()];
    for i in 0..20 {
        // A fresh image each round (import stamps a new creation time: a new ID), whose only
        // tag `rmi` removes: refused while any container record still names it.
        env.ok(&["import", tar, "img"]);
        env.code(
            &[
                "run",
                "--rm",
                "--name",
                "reused",
                "--network",
                "none",
                "img",
                "true",
            ],
            0,
        );
        let (out, _) = env.code(&["ps", "-aq"], 0);
        assert!(out.trim().is_empty(), "round {i}: ps -a lists {out}");
        let o = env.run(&["rmi", "img"]);
        assert!(
            o.status.success(),
            "round {i}: rmi after run --rm: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    env.import_busybox();
    // stop of a -d --rm container: returns once it is removed.
    env.ok(&[
        "run",
        "-d",
        "--rm",
        "--name",
        "drm",
        "--network",
        "none",
        "busybox",
        "sleep",
        "100",
    ]);
    env.ok(&["stop", "-t", "0", "drm"]);
    let (out, _) = env.code(&["ps", "-aq"], 0);
    assert!(out.trim().is_empty(), "stop returned before removal: {out}");
    // kill + wait: wait returns once it is removed.
    env.ok(&[
        "run",
        "-d",
        "--rm",
        "--name",
        "drm",
        "--network",
        "none",
        "busybox",
        "sleep",
        "100",
    ]);
    env.ok(&["kill", "drm"]);
    let _ = env.run(&["wait", "drm"]);
    let (out, _) = env.code(&["ps", "-aq"], 0);
    assert!(out.trim().is_empty(), "wait returned before removal: {out}");
    // -d --rm of a container that exits by itself is removed too (bounded wait).
    env.ok(&[
        "run",
        "-d",
        "--rm",
        "--name",
        "drm",
        "--network",
        "none",
        "busybox",
        "true",
    ]);
    let gone = (0..100).any(|_| {
        let (out, _) = env.code(&["ps", "-aq"], 0);
        out.trim().is_empty() || {
            std::thread::sleep(std::time::Duration::from_millis(100));
            false
        }
    });
    assert!(gone, "-d --rm container not removed after its exit");
    env.ok(&[
        "run",
        "--rm",
        "--name",
        "drm",
        "--network",
        "none",
        "busybox",
        "true",
    ]);
}

#[test]
fn empty_entrypoint_clears_the_images() {
    let env = Env::new();
    let tar = env.busybox_tar();
    env.ok(&[
        "import",
        "--change",
        r#"ENTRYPOINT ["/bin/false"]"#,
        "--change",
        r#"CMD ["x"]"#,
        tar.to_str().unwrap(),
        "ep",
    ]);
    env.code(&["run", "--rm", "--network", "none", "ep"], 1);
    let (out, _) = env.code(
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "--entrypoint",
            "",
            "ep",
            "echo",
            "hi",
        ],
        0,
    );
    assert_eq!(out, "hi\n");
    // As Docker: the image's Cmd goes with its entrypoint.
    let (_, err) = env.code(
        &["run", "--rm", "--network", "none", "--entrypoint", "", "ep"],
        125,
    );
    assert!(err.contains("No command specified"), "{err}");
    env.ok(&[
        "create",
        "--name",
        "cleared",
        "--entrypoint",
        "",
        "ep",
        "echo",
        "hi",
    ]);
    let (out, _) = env.code(
        &[
            "inspect",
            "-f",
            "{{json .Config.Entrypoint}} {{json .Config.Cmd}} {{.Path}}",
            "cleared",
        ],
        0,
    );
    assert_eq!(out.trim(), r#"null ["echo","hi"] echo"#);
}

fn images(env: &Env) -> Vec<String> {
    let (out, _) = env.code(&["images", "--format", "{{.Repository}}"], 0);
    let mut v: Vec<String> = out.lines().map(String::from).collect();
    v.sort();
    v
}

#[test]
fn prune_filters_are_applied_or_refused() {
    let env = Env::new();
    let tar = env.busybox_tar();
    let tar = tar.to_str().unwrap();
    env.ok(&["import", "--change", "LABEL old=yes", tar, "old"]);
    env.ok(&["import", "--change", "LABEL team=a", tar, "team"]);
    env.ok(&["import", tar, "plain"]);
    // Unknown keys: Docker's message and exit code, nothing removed.
    let (_, err) = env.code(&["image", "prune", "-a", "-f", "--filter", "foo=bar"], 1);
    assert!(err.contains("Invalid filter 'foo'"), "{err}");
    let (_, err) = env.code(
        &["image", "prune", "-a", "-f", "--filter", "until=bogus"],
        1,
    );
    assert!(
        err.contains(r#"failed to parse value as time or duration: "bogus""#),
        "{err}"
    );
    let (_, err) = env.code(
        &["container", "prune", "-f", "--filter", "dangling=true"],
        1,
    );
    assert!(err.contains("Invalid filter 'dangling'"), "{err}");
    let (_, err) = env.code(&["system", "prune", "-a", "-f", "--filter", "foo=bar"], 1);
    assert!(err.contains("Invalid filter 'foo'"), "{err}");
    assert_eq!(images(&env), ["old", "plain", "team"]);
    // until: all three were made just now, so nothing was created an hour ago.
    env.ok(&["image", "prune", "-a", "-f", "--filter", "until=1h"]);
    assert_eq!(images(&env), ["old", "plain", "team"]);
    // label=: only the labelled one.
    env.ok(&["image", "prune", "-a", "-f", "--filter", "label=old=yes"]);
    assert_eq!(images(&env), ["plain", "team"]);
    // label!=: all but the labelled one.
    env.ok(&["image", "prune", "-a", "-f", "--filter", "label!=team"]);
    assert_eq!(images(&env), ["team"]);

    // Containers: label, label!, until (a unix time in the future selects all).
    env.ok(&["create", "--name", "c-a", "--label", "k=a", "team", "true"]);
    env.ok(&["create", "--name", "c-b", "--label", "k=b", "team", "true"]);
    env.ok(&["create", "--name", "c-none", "team", "true"]);
    let names = |env: &Env| {
        let (out, _) = env.code(&["ps", "-a", "--format", "{{.Names}}"], 0);
        let mut v: Vec<String> = out.lines().map(String::from).collect();
        v.sort();
        v
    };
    env.ok(&["container", "prune", "-f", "--filter", "until=10m"]);
    assert_eq!(names(&env), ["c-a", "c-b", "c-none"]);
    env.ok(&["container", "prune", "-f", "--filter", "label=k=a"]);
    assert_eq!(names(&env), ["c-b", "c-none"]);
    env.ok(&["container", "prune", "-f", "--filter", "label!=k"]);
    assert_eq!(names(&env), ["c-b"]);
    // system prune: the containers' filter, then the images' (team is used until c-b goes).
    let future = (chrono_now() + 3600).to_string();
    env.ok(&["system", "prune", "-a", "-f", "--filter", "label=other"]);
    assert_eq!(names(&env), ["c-b"]);
    assert_eq!(images(&env), ["team"]);
    env.ok(&[
        "system",
        "prune",
        "-a",
        "-f",
        "--filter",
        &format!("until={future}"),
    ]);
    assert!(names(&env).is_empty());
    assert!(images(&env).is_empty());
}

fn chrono_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn a_root_keeps_its_storage_driver() {
    let env = Env::new();
    let tar = env.busybox_tar();
    let with = |driver: Option<&str>, args: &[&str]| {
        let mut c = Command::new(BERTH);
        c.arg("--root")
            .arg(env.root())
            .arg("--runroot")
            .arg(env.runroot());
        if let Some(d) = driver {
            c.args(["--storage-driver", d]);
        }
        c.args(args).output().unwrap()
    };
    let o = with(Some("vfs"), &["import", tar.to_str().unwrap(), "bb"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = with(Some("overlay2"), &["images"]);
    assert_eq!(o.status.code(), Some(125));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--storage-driver overlay2") && err.contains("vfs"),
        "{err}"
    );
    assert!(
        !env.root().join("image/overlay2").exists(),
        "a second store was laid out"
    );
    // Plain commands (and the same driver) still find the image.
    for d in [None, Some("vfs")] {
        let o = with(d, &["images", "-q"]);
        assert_eq!(
            String::from_utf8_lossy(&o.stdout).lines().count(),
            1,
            "{d:?}"
        );
    }
    let o = with(None, &["run", "--rm", "--network", "none", "bb", "true"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}
