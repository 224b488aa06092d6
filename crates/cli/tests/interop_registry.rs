//! Registry interop with the real Docker (Debian's docker.io 20.10): one private dockerd (own
//! data-root, exec-root, socket, pidfile; no bridge, no iptables) and one `docker-registry` on a
//! random loopback port. An image built by berth goes berth push -> docker pull -> docker run,
//! and one built by dockerd goes docker push -> berth pull -> berth run; file checksums compared.
//! Docker treats 127.0.0.0/8 as insecure (plain HTTP) by default, berth does so for 127.0.0.1.

mod common;
use common::*;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

const DOCKER: &str = "/usr/bin/docker";

/// A private dockerd, stopped by its PID (and its leftover mounts removed) on drop.
struct Dockerd {
    dir: tempfile::TempDir,
    child: Child,
    _bridge: TestBridge,
}
/// A bridge of the test's own for its private dockerd: `--bridge=none` would make dockerd delete
/// the host's docker0 (moby removes the default bridge when bridging is disabled), breaking any
/// other Docker on the machine. Removed on drop.
struct TestBridge(String);

impl TestBridge {
    fn new() -> TestBridge {
        use std::sync::atomic::{AtomicU32, Ordering};
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let name = format!("bdk{}x{seq}", std::process::id() % 1_000_000);
        let octet = 200 + (std::process::id() + seq * 7) % 50;
        let ok = Command::new("ip")
            .args(["link", "add", &name, "type", "bridge"])
            .status()
            .is_ok_and(|s| s.success())
            && Command::new("ip")
                .args(["addr", "add", &format!("10.213.{octet}.1/24"), "dev", &name])
                .status()
                .is_ok_and(|s| s.success());
        assert!(ok, "cannot create test bridge {name}");
        TestBridge(name)
    }
}

impl Drop for TestBridge {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.0]).status();
    }
}

impl Dockerd {
    fn start() -> Dockerd {
        let dir = tempfile::Builder::new()
            .prefix("berth-dockerd")
            .tempdir_in("/var/tmp")
            .unwrap();
        let d = dir.path();
        let log = std::fs::File::create(d.join("dockerd.log")).unwrap();
        let bridge = TestBridge::new();
        let child = Command::new("/usr/sbin/dockerd")
            .arg("--data-root")
            .arg(d.join("data"))
            .arg("--exec-root")
            .arg(d.join("exec"))
            .arg("-H")
            .arg(format!("unix://{}", d.join("docker.sock").display()))
            .arg("--pidfile")
            .arg(d.join("docker.pid"))
            .args([
                &format!("--bridge={}", bridge.0),
                "--iptables=false",
                "--ip6tables=false",
                "--storage-driver=overlay2",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start dockerd");
        let dd = Dockerd {
            dir,
            child,
            _bridge: bridge,
        };
        // Startup takes a few seconds; a bounded wait for the API to answer.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
        while !dd.docker(&["version"]).status.success() {
            assert!(
                std::time::Instant::now() < deadline,
                "dockerd did not come up: {}",
                std::fs::read_to_string(dd.dir.path().join("dockerd.log")).unwrap_or_default()
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        dd
    }

    fn docker(&self, args: &[&str]) -> Output {
        Command::new(DOCKER)
            .arg("-H")
            .arg(format!(
                "unix://{}",
                self.dir.path().join("docker.sock").display()
            ))
            .args(args)
            // Its own client config dir: no credentials of the machine's user are used or written.
            .env("DOCKER_CONFIG", self.dir.path().join("client"))
            .env("DOCKER_BUILDKIT", "0")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.docker(args);
        assert!(
            o.status.success(),
            "docker {args:?}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        // SAFETY: kill on our own child's PID.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
        unmount_under(self.dir.path());
    }
}

/// Lazily unmounts whatever is still mounted below `dir` (deepest first).
fn unmount_under(dir: &Path) {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let prefix = dir.display().to_string();
    let mut targets: Vec<&str> = mounts
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter(|t| t.starts_with(&prefix))
        .collect();
    targets.sort_by_key(|t| std::cmp::Reverse(t.len()));
    for t in targets {
        let _ = Command::new("umount").arg("-l").arg(t).status();
    }
}

/// berth with its own client config dir (no login of the machine's user is read).
fn berth(env: &Env, args: &[&str]) -> String {
    let o = env
        .cmd(args)
        .env("DOCKER_CONFIG", env.path("client"))
        .env("HOME", env.path("home"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "berth {args:?} failed ({:?}): {}{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// A script printing checksums, listings and contents the image's files must have, run by
/// both engines: the outputs must be equal byte for byte.
const PROBE: &str = "cd / && sha256sum big small www/index.html bin/busybox && \
     find d big small -exec stat -c '%n %F %a %s %u:%g %Y' {} \\; | sort && cat small && test ! -e gone && test ! -e d/old && echo clean";

#[test]
fn berth_push_docker_pull_run() {
    let env = Env::new();
    let reg = Registry::start();
    let dd = Dockerd::start();
    env.import_busybox();

    // Three layers: base, a change with a big random file, then deletions and an opaque dir.
    berth(
        &env,
        &[
            "run",
            "--name",
            "c1",
            "--network",
            "none",
            "busybox",
            "sh",
            "-c",
            "head -c 3000000 /dev/urandom > /big && echo small-1 > /small && echo x > /gone \
             && mkdir -p /d && echo old > /d/old && ln -s /small /d/link",
        ],
    );
    berth(&env, &["commit", "c1", "step:1"]);
    berth(
        &env,
        &[
            "run",
            "--name",
            "c2",
            "--network",
            "none",
            "step:1",
            "sh",
            "-c",
            "rm /gone /d/old && echo new > /d/new && echo small-2 >> /small && chmod 640 /small",
        ],
    );
    let image = format!("{}/berth/interop:v1", reg.host);
    berth(
        &env,
        &["commit", "-c", "CMD [\"cat\", \"/small\"]", "c2", &image],
    );
    let layers = berth(&env, &["inspect", "-f", "{{json .RootFS.Layers}}", &image]);
    assert_eq!(
        layers.matches("sha256:").count(),
        3,
        "expected three layers: {layers}"
    );
    let id = berth(&env, &["inspect", "-f", "{{.Id}}", &image]);
    let probe_berth = berth(
        &env,
        &[
            "run",
            "--rm",
            "--network",
            "none",
            &image,
            "sh",
            "-c",
            PROBE,
        ],
    );
    assert!(
        probe_berth.ends_with("small-1\nsmall-2\nclean\n"),
        "{probe_berth}"
    );

    let out = berth(&env, &["push", &image]);
    assert!(out.contains("digest: sha256:"), "{out}");

    // Docker pulls it: same image ID (the config bytes), same layers, same files, runs the CMD.
    dd.ok(&["pull", "-q", &image]);
    assert_eq!(dd.ok(&["image", "inspect", "-f", "{{.Id}}", &image]), id);
    assert_eq!(
        dd.ok(&["image", "inspect", "-f", "{{json .RootFS.Layers}}", &image]),
        layers
    );
    assert_eq!(
        dd.ok(&["run", "--rm", "--network", "none", &image]),
        "small-1\nsmall-2\n"
    );
    let probe_docker = dd.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        &image,
        "sh",
        "-c",
        PROBE,
    ]);
    assert_eq!(probe_docker, probe_berth);

    // The digest berth printed is the one docker recorded.
    let digest = out
        .split_whitespace()
        .find(|w| w.starts_with("sha256:"))
        .unwrap()
        .to_string();
    let repo_digests = dd.ok(&["image", "inspect", "-f", "{{json .RepoDigests}}", &image]);
    assert!(repo_digests.contains(&digest), "{repo_digests} vs {digest}");
}

#[test]
fn docker_push_berth_pull_run() {
    let env = Env::new();
    let reg = Registry::start();
    let dd = Dockerd::start();

    // Made by dockerd: import + a commit of a container change (random data, deletions,
    // an opaque directory) + a second commit, so three layers.
    dd.ok(&[
        "import",
        env.busybox_tar().to_str().unwrap(),
        "interop-base:1",
    ]);
    dd.ok(&[
        "run",
        "--name",
        "d1",
        "--network",
        "none",
        "interop-base:1",
        "sh",
        "-c",
        "head -c 3000000 /dev/urandom > /big && echo small-1 > /small && echo x > /gone \
         && mkdir -p /d && echo old > /d/old && ln -s /small /d/link",
    ]);
    dd.ok(&["commit", "d1", "interop-step:1"]);
    dd.ok(&[
        "run",
        "--name",
        "d2",
        "--network",
        "none",
        "interop-step:1",
        "sh",
        "-c",
        "rm /gone /d/old && echo new > /d/new && echo small-2 >> /small && chmod 640 /small",
    ]);
    let image = format!("{}/docker/interop:v1", reg.host);
    dd.ok(&["commit", "-c", "CMD [\"cat\", \"/small\"]", "d2", &image]);
    let probe_docker = dd.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        &image,
        "sh",
        "-c",
        PROBE,
    ]);
    assert!(
        probe_docker.ends_with("small-1\nsmall-2\nclean\n"),
        "{probe_docker}"
    );
    let out = dd.ok(&["push", &image]);
    let digest = out
        .split_whitespace()
        .find(|w| w.starts_with("sha256:"))
        .expect("docker push prints the digest")
        .to_string();
    let docker_id = dd.ok(&["image", "inspect", "-f", "{{.Id}}", &image]);
    let docker_layers = dd.ok(&["image", "inspect", "-f", "{{json .RootFS.Layers}}", &image]);

    // berth pulls it by tag: same ID and layers; runs the CMD and sees the same files.
    berth(&env, &["pull", "-q", &image]);
    assert_eq!(
        berth(&env, &["inspect", "-f", "{{.Id}}", &image]),
        docker_id
    );
    assert_eq!(
        berth(&env, &["inspect", "-f", "{{json .RootFS.Layers}}", &image]),
        docker_layers
    );
    assert_eq!(
        berth(&env, &["run", "--rm", "--network", "none", &image]),
        "small-1\nsmall-2\n"
    );
    let probe_berth = berth(
        &env,
        &[
            "run",
            "--rm",
            "--network",
            "none",
            &image,
            "sh",
            "-c",
            PROBE,
        ],
    );
    assert_eq!(probe_berth, probe_docker);

    // And by the digest docker printed, into a fresh root.
    let env2 = Env::new();
    let by_digest = format!("{}/docker/interop@{digest}", reg.host);
    berth(&env2, &["pull", "-q", &by_digest]);
    assert_eq!(
        berth(&env2, &["inspect", "-f", "{{.Id}}", &by_digest]),
        docker_id
    );
    assert_eq!(
        berth(
            &env2,
            &[
                "run",
                "--rm",
                "--network",
                "none",
                &by_digest,
                "sh",
                "-c",
                PROBE
            ],
        ),
        probe_docker
    );

    dd.ok(&["rm", "d1", "d2"]);
}
