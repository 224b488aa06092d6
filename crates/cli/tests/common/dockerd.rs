//! A private dockerd for interop tests: own data-root, exec-root, socket, pidfile, client
//! config and bridge (`--bridge=none` would make dockerd delete the host's docker0), no
//! iptables; stopped by its PID with its leftover mounts removed.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

pub const DOCKER: &str = "/usr/bin/docker";

/// A private dockerd, stopped by its PID (and its leftover mounts removed) on drop.
pub struct Dockerd {
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
        Self::in_net("10.213")
    }

    /// A bridge with a /24 inside `net` (two octets, e.g. "10.233").
    fn in_net(net: &str) -> TestBridge {
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
                .args(["addr", "add", &format!("{net}.{octet}.1/24"), "dev", &name])
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
    pub fn start() -> Dockerd {
        Self::start_in("10.213")
    }

    /// A private dockerd whose bridge's /24 lies inside `net` (two octets: a test's own range).
    pub fn start_in(net: &str) -> Dockerd {
        let dir = tempfile::Builder::new()
            .prefix("berth-dockerd")
            .tempdir_in("/var/tmp")
            .unwrap();
        let d = dir.path();
        let log = std::fs::File::create(d.join("dockerd.log")).unwrap();
        let bridge = TestBridge::in_net(net);
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

    pub fn docker(&self, args: &[&str]) -> Output {
        self.docker_env(args, &[("DOCKER_BUILDKIT", "0")])
    }

    /// `docker` with extra environment (e.g. DOCKER_BUILDKIT=1).
    pub fn docker_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        Command::new(DOCKER)
            .arg("-H")
            .arg(format!(
                "unix://{}",
                self.dir.path().join("docker.sock").display()
            ))
            .args(args)
            // Its own client config dir: no credentials of the machine's user are used or written.
            .env("DOCKER_CONFIG", self.dir.path().join("client"))
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    pub fn ok(&self, args: &[&str]) -> String {
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
pub fn unmount_under(dir: &Path) {
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
