//! Interoperability with the real Docker (Debian's docker.io 20.10) and skopeo: a private
//! dockerd (own data-root, exec-root, socket, pidfile; no bridge, no iptables) is started for
//! the test and stopped by its PID at the end.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

const DOCKER: &str = "/usr/bin/docker";

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
        loop {
            if dd.docker(&["version"]).status.success() {
                break;
            }
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

/// A read-only overlay of `layers` (top first) at `target`, unmounted on drop.
struct RoMount(PathBuf);

impl RoMount {
    fn new(layers: &[String], target: PathBuf) -> RoMount {
        std::fs::create_dir_all(&target).unwrap();
        sh(&format!(
            "mount -t overlay overlay -o ro,lowerdir={} {}",
            layers.join(":"),
            target.display()
        ));
        RoMount(target)
    }
}

impl Drop for RoMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Path, type, mode, owner, size, link target and content hash of every file.
fn tree_listing(root: &Path) -> String {
    sh(&format!(
        "cd {} && find . -printf '%p %y %m %U:%G %s %l\\n' | sort && find . -type f -print0 | sort -z | xargs -0 sha256sum",
        root.display()
    ))
}

/// The image's layer directories in the overlay2 driver of `root`, top first.
fn berth_layer_dirs(env: &Env, image: &str) -> Vec<String> {
    let data = env.ok(&[
        "image",
        "inspect",
        "-f",
        "{{.GraphDriver.Data.UpperDir}} {{.GraphDriver.Data.LowerDir}}",
        image,
    ]);
    let mut parts = data.split_whitespace();
    let mut v = vec![parts.next().unwrap().to_string()];
    if let Some(l) = parts.next() {
        v.extend(l.split(':').map(str::to_string));
    }
    v
}

#[test]
fn docker_save_load_both_ways_and_skopeo_oci() {
    let env = Env::new();
    let dd = Dockerd::start();
    let work = env.path("work");
    std::fs::create_dir_all(&work).unwrap();

    // An image with several layers, deletions, an opaque directory and hard links across layers.
    dd.ok(&[
        "import",
        env.busybox_tar().to_str().unwrap(),
        "berth-base:1",
    ]);
    std::fs::write(
        work.join("Dockerfile"),
        "FROM berth-base:1\n\
         RUN mkdir -p /d/sub && echo a > /d/sub/f && echo keep > /keep && echo gone > /gone && ln /keep /keep-hl && mkfifo /fifo\n\
         RUN rm /gone && rm -rf /d && mkdir /d && echo new > /d/n && ln /keep /keep-hl2 && ln -s /keep /keep-sym\n\
         CMD [\"sh\"]\n",
    )
    .unwrap();
    dd.ok(&[
        "build",
        "-q",
        "--network",
        "none",
        "-t",
        "berth-test/multi:1",
        work.to_str().unwrap(),
    ]);
    let docker_id = dd
        .ok(&["image", "inspect", "-f", "{{.Id}}", "berth-test/multi:1"])
        .trim()
        .to_string();

    // docker save -> berth load: same image ID (config bytes), same layers, same files.
    let a = env.path("docker-saved.tar");
    dd.ok(&["save", "-o", a.to_str().unwrap(), "berth-test/multi:1"]);
    assert_eq!(
        env.ok(&["load", "-i", a.to_str().unwrap()]),
        "Loaded image: berth-test/multi:1\n"
    );
    assert_eq!(
        env.ok(&["inspect", "-f", "{{.Id}}", "berth-test/multi:1"])
            .trim(),
        docker_id
    );
    assert_eq!(
        env.ok(&[
            "inspect",
            "-f",
            "{{json .RootFS.Layers}}",
            "berth-test/multi:1"
        ]),
        dd.ok(&[
            "image",
            "inspect",
            "-f",
            "{{json .RootFS.Layers}}",
            "berth-test/multi:1"
        ])
    );
    if env.ok(&["info", "--format", "{{.Driver}}"]).trim() == "overlay2" {
        let ours = RoMount::new(
            &berth_layer_dirs(&env, "berth-test/multi:1"),
            env.path("m-berth"),
        );
        let data = dd.ok(&[
            "image",
            "inspect",
            "-f",
            "{{.GraphDriver.Data.UpperDir}}:{{.GraphDriver.Data.LowerDir}}",
            "berth-test/multi:1",
        ]);
        let theirs_layers: Vec<String> = data.trim().split(':').map(str::to_string).collect();
        let theirs = RoMount::new(&theirs_layers, env.path("m-docker"));
        let (l1, l2) = (tree_listing(&ours.0), tree_listing(&theirs.0));
        assert_eq!(l1, l2, "unpacked rootfs differ");
        assert!(l1.contains("./d/n f") && !l1.contains("./d/sub") && !l1.contains("./gone "));
        // Hard links survive across layers.
        let ino = |p: &Path| sh(&format!("stat -c %i {}", p.display()));
        assert_eq!(ino(&ours.0.join("keep")), ino(&ours.0.join("keep-hl2")));
    }

    // berth save -> docker load -> runs there.
    let b = env.path("berth-saved.tar");
    env.ok(&["save", "-o", b.to_str().unwrap(), "berth-test/multi:1"]);
    dd.ok(&["rmi", "berth-test/multi:1"]);
    let out = dd.ok(&["load", "-i", b.to_str().unwrap()]);
    assert!(out.contains("Loaded image: berth-test/multi:1"), "{out}");
    assert_eq!(
        dd.ok(&["image", "inspect", "-f", "{{.Id}}", "berth-test/multi:1"])
            .trim(),
        docker_id
    );
    let out = dd.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "berth-test/multi:1",
        "sh",
        "-c",
        "cat /www/index.html /d/n; test ! -e /gone && test ! -e /d/sub && echo clean",
    ]);
    assert_eq!(out, "hello\nnew\nclean\n");

    // An image imported by berth runs in Docker too.
    env.ok(&[
        "import",
        "-c",
        "CMD [\"cat\", \"/www/index.html\"]",
        env.busybox_tar().to_str().unwrap(),
        "berth-made:1",
    ]);
    let c = env.path("berth-made.tar");
    env.ok(&["save", "-o", c.to_str().unwrap(), "berth-made:1"]);
    dd.ok(&["load", "-i", c.to_str().unwrap()]);
    assert_eq!(
        dd.ok(&["run", "--rm", "--network", "none", "berth-made:1"]),
        "hello\n"
    );

    // skopeo: docker-archive -> OCI layout directory -> berth load; and as an OCI archive on stdin.
    let oci = env.path("oci");
    sh(&format!(
        "skopeo copy --quiet docker-archive:{} oci:{}:v1",
        a.display(),
        oci.display()
    ));
    let env2 = Env::new();
    let out = env2.ok(&["load", "-i", oci.to_str().unwrap()]);
    assert!(out.starts_with("Loaded image ID: sha256:"), "{out}");
    let id = out
        .trim()
        .trim_start_matches("Loaded image ID: ")
        .to_string();
    assert_eq!(
        env2.ok(&["inspect", "-f", "{{json .RootFS.Layers}}", &id]),
        dd.ok(&[
            "image",
            "inspect",
            "-f",
            "{{json .RootFS.Layers}}",
            &docker_id
        ])
    );
    let env3 = Env::new();
    let oci_tar = env.path("oci.tar");
    sh(&format!(
        "tar -C {} -cf {} .",
        oci.display(),
        oci_tar.display()
    ));
    let bytes = std::fs::read(&oci_tar).unwrap();
    let o = env3.with_stdin(&["load"], &bytes);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        format!("Loaded image ID: {id}\n")
    );
}
