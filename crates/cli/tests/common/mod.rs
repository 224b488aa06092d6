//! Helpers for running the real `berth` binary against a temporary `--root`.
#![allow(dead_code)]

pub mod dockerd;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const BERTH: &str = env!("CARGO_BIN_EXE_berth");

/// A temporary berth root (and scratch space), removed on drop.
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Env {
        testutil::require_root();
        // Not /tmp: it may be a tmpfs without the xattrs overlay2 needs.
        std::fs::create_dir_all("/var/tmp").unwrap();
        let dir = tempfile::Builder::new()
            .prefix("berth-cli-test")
            .tempdir_in("/var/tmp")
            .unwrap();
        Env { dir }
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn runroot(&self) -> PathBuf {
        self.dir.path().join("run")
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BERTH);
        c.arg("--root")
            .arg(self.root())
            .arg("--runroot")
            .arg(self.runroot())
            .args(args);
        c
    }

    /// Runs berth; asserts it exits with `code`; returns (stdout, stderr).
    pub fn code(&self, args: &[&str], code: i32) -> (String, String) {
        let o = self.run(args);
        let (out, err) = (
            String::from_utf8_lossy(&o.stdout).to_string(),
            String::from_utf8_lossy(&o.stderr).to_string(),
        );
        assert_eq!(o.status.code(), Some(code), "berth {args:?}: {out}{err}");
        (out, err)
    }

    /// Imports the busybox fixture as `busybox:latest`.
    pub fn import_busybox(&self) {
        let tar = self.busybox_tar();
        self.ok(&["import", tar.to_str().unwrap(), "busybox"]);
    }

    /// Runs berth; returns the output whatever the exit code.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).stdin(Stdio::null()).output().unwrap()
    }

    /// Runs berth and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "berth {args:?} failed ({:?}): {}{}",
            o.status.code(),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    /// Runs berth with `input` on stdin.
    pub fn with_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        let mut child = self
            .cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let data = input.to_vec();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&data);
        });
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap();
        out
    }

    /// A busybox rootfs tar (testutil's fixture: /www/index.html = "hello").
    pub fn busybox_tar(&self) -> PathBuf {
        let rootfs = self.path("busybox-rootfs");
        if !rootfs.exists() {
            testutil::make_busybox_rootfs(&rootfs);
        }
        let tar = self.path("busybox.tar");
        if !tar.exists() {
            sh(&format!(
                "tar -C {} -cf {} .",
                rootfs.display(),
                tar.display()
            ));
        }
        tar
    }

    /// Chain IDs in the layer store.
    pub fn layers(&self, driver: &str) -> Vec<String> {
        let d = self
            .root()
            .join("image")
            .join(driver)
            .join("layerdb/sha256");
        let mut v: Vec<String> = std::fs::read_dir(d)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().to_string())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }
}

impl Drop for Env {
    /// Removes every container the test left (mounts, cgroups, monitors) before the temp dir,
    /// and waits (bounded) for the monitors still finishing their work after a reply: files
    /// they move while the dir is deleted would make the deletion fail and leave it behind.
    fn drop(&mut self) {
        if !self.root().join("containers").exists() {
            return;
        }
        // Everything of this root on the host: containers, and the networks' bridges, nft
        // elements and addresses (deleting the temp dir alone left a bridge per root behind).
        let reset = self.cmd(&["system", "reset", "-f"]).output();
        if reset.is_ok_and(|o| o.status.success()) {
            let dir = self.dir.path().to_path_buf();
            settled(|| processes_using(&dir, &dir.to_string_lossy()));
            return;
        }
        if let Ok(o) = self.cmd(&["ps", "-aq", "--no-trunc"]).output() {
            let ids = String::from_utf8_lossy(&o.stdout).to_string();
            let ids: Vec<&str> = ids.split_whitespace().collect();
            if !ids.is_empty() {
                let mut args = vec!["rm", "-f"];
                args.extend(ids);
                let _ = self.cmd(&args).output();
            }
        }
        let dir = self.dir.path().to_path_buf();
        settled(|| processes_using(&dir, &dir.to_string_lossy()));
    }
}

/// A `docker-registry` on a random loopback port (open, no auth), killed by PID on drop.
pub struct Registry {
    child: std::process::Child,
    _dir: tempfile::TempDir,
    pub host: String,
}

impl Registry {
    pub fn start() -> Registry {
        use std::io::BufRead;
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let host = format!("127.0.0.1:{port}");
        let cfg = format!(
            "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {host}\n",
            dir.path().join("data").display()
        );
        let cfg_path = dir.path().join("config.yml");
        std::fs::write(&cfg_path, cfg).unwrap();
        let mut child = Command::new("docker-registry")
            .arg("serve")
            .arg(&cfg_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("docker-registry (apt-get install docker-registry)");
        // Ready once it says it listens; the rest of its log is drained so it never blocks.
        let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
        for l in lines.by_ref() {
            if l.unwrap_or_default().contains("listening on") {
                break;
            }
        }
        std::thread::spawn(move || for _ in lines {});
        Registry {
            child,
            _dir: dir,
            host,
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a shell command, asserting success; returns stdout.
pub fn sh(cmd: &str) -> String {
    let o = Command::new("sh").arg("-c").arg(cmd).output().unwrap();
    assert!(
        o.status.success(),
        "{cmd}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

pub fn sha256_file(p: &Path) -> String {
    sh(&format!("sha256sum {}", p.display()))
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// True while `pid` exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(')')
            .is_some_and(|(_, r)| !r.starts_with(" Z"))
    })
}

/// Waits (bounded, through a pidfd) for a process that is not our child to exit.
pub fn wait_exit(pid: i32) {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    // SAFETY: pidfd_open has no memory arguments; the fd is owned below.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return; // already gone
    }
    // SAFETY: a fresh fd from pidfd_open, owned only here.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let n = unsafe { libc::poll(&mut p, 1, 30_000) };
    assert_eq!(n, 1, "{pid} did not exit within 30 s");
}

/// `f()` once it is empty, or after 10 s what it still returns: for leftovers that a process
/// finishing its work (a monitor after its reply) may still hold for a moment, while a leak stays.
pub fn settled(f: impl Fn() -> Vec<String>) -> Vec<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let v = f();
        if v.is_empty() || std::time::Instant::now() > deadline {
            return v;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Other processes whose argv names `id`, whose root or open files are below `dir`, or that
/// sit in `id`'s cgroup (a monitor, a container init, a stuck CLI).
pub fn processes_using(dir: &Path, id: &str) -> Vec<String> {
    let me = std::process::id().to_string();
    let mut out = Vec::new();
    for p in std::fs::read_dir("/proc").unwrap().flatten() {
        let pid = p.file_name().to_string_lossy().to_string();
        if !pid.bytes().all(|b| b.is_ascii_digit()) || pid == me || !alive(pid.parse().unwrap()) {
            continue;
        }
        let cmd = std::fs::read(p.path().join("cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        // State and parent, for the failure message.
        let status = std::fs::read_to_string(p.path().join("status")).unwrap_or_default();
        let cmd = format!(
            "{} [{}]",
            cmd.trim_end(),
            status
                .lines()
                .filter(|l| l.starts_with("State:") || l.starts_with("PPid:"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        if cmd.contains(id) {
            out.push(format!("{pid}: {cmd}"));
            continue;
        }
        // A container init whose rootfs is one of ours, or that sits in a berth cgroup of ours.
        if std::fs::read_link(p.path().join("root")).is_ok_and(|r| r.starts_with(dir)) {
            out.push(format!("{pid}: {cmd} (root in {})", dir.display()));
            continue;
        }
        let cg = std::fs::read_to_string(p.path().join("cgroup")).unwrap_or_default();
        if id.len() == 64 && cg.contains(id) {
            out.push(format!("{pid}: {cmd} (cgroup of {id})"));
            continue;
        }
        for fd in std::fs::read_dir(p.path().join("fd"))
            .into_iter()
            .flatten()
            .flatten()
        {
            if let Ok(t) = std::fs::read_link(fd.path()) {
                if t.starts_with(dir) {
                    out.push(format!("{pid}: {cmd} holds {}", t.display()));
                    break;
                }
            }
        }
    }
    out
}
