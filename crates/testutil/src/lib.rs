//! Shared test fixtures: a busybox root filesystem built from Debian's `busybox-static`
//! (`/bin/busybox`), and OCI bundles around it. Integration tests run as root on the real kernel.

use serde_json::{json, Value};
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// Where Debian's busybox-static installs its binary.
pub const BUSYBOX: &str = "/bin/busybox";

/// Panics with a clear message unless the test runs as root with busybox-static installed.
pub fn require_root() {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "integration tests must run as root"
    );
    assert!(
        Path::new(BUSYBOX).exists(),
        "{BUSYBOX} missing: apt-get install busybox-static"
    );
}

/// A unique name for containers, cgroups and networks made by one test.
pub fn unique_name(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Fills `dir` with a minimal busybox root filesystem: /bin/busybox, one symlink per applet,
/// /etc/passwd and /etc/group (root and nobody), and the usual empty mount points.
pub fn make_busybox_rootfs(dir: &Path) {
    for d in [
        "bin", "etc", "proc", "sys", "dev", "tmp", "root", "home", "var", "run", "www",
    ] {
        fs::create_dir_all(dir.join(d)).unwrap();
    }
    fs::copy(BUSYBOX, dir.join("bin/busybox")).expect("copy busybox");
    let out = std::process::Command::new(BUSYBOX)
        .arg("--list")
        .output()
        .expect("busybox --list");
    for applet in String::from_utf8_lossy(&out.stdout).lines() {
        if applet != "busybox" && !applet.is_empty() {
            let _ = symlink("busybox", dir.join("bin").join(applet));
        }
    }
    fs::write(
        dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n",
    )
    .unwrap();
    fs::write(dir.join("etc/group"), "root:x:0:\nnobody:x:65534:\n").unwrap();
    fs::write(dir.join("www/index.html"), "hello\n").unwrap();
}

/// The default OCI config, like `runc spec` but without a terminal and with busybox's PATH.
pub fn default_spec(args: &[&str]) -> Value {
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {
                "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "berth",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [
                {"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}
            ],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
                "/proc/scsi"
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
            ]
        }
    })
}

/// An OCI bundle in a temporary directory: `config.json` + `rootfs/` (busybox).
pub struct Bundle {
    pub dir: tempfile::TempDir,
    pub spec: Value,
}

impl Bundle {
    /// A bundle running `args` with the default spec.
    pub fn new(args: &[&str]) -> Bundle {
        let dir = tempfile::Builder::new()
            .prefix("berth-test-bundle")
            .tempdir()
            .unwrap();
        make_busybox_rootfs(&dir.path().join("rootfs"));
        let b = Bundle {
            dir,
            spec: default_spec(args),
        };
        b.write();
        b
    }

    /// Changes the spec with `f` and rewrites config.json.
    pub fn edit(&mut self, f: impl FnOnce(&mut Value)) -> &mut Self {
        f(&mut self.spec);
        self.write();
        self
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    fn write(&self) {
        fs::write(
            self.dir.path().join("config.json"),
            serde_json::to_vec_pretty(&self.spec).unwrap(),
        )
        .unwrap();
    }
}

/// Source of the session-keyring escape probe: `probe SERIAL DESCRIPTION` exits 1 (printing
/// LEAK) if it can read key SERIAL or find a "user" key DESCRIPTION from its session keyring,
/// else prints its session keyring's description and exits 0.
const KEYRING_PROBE_C: &str = r#"
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/keyctl.h>
int main(int argc, char **argv) {
    char buf[512];
    if (argc < 3) return 3;
    long n = syscall(SYS_keyctl, KEYCTL_READ, atol(argv[1]), buf, sizeof buf, 0);
    if (n >= 0) { printf("LEAK read %.*s\n", (int)(n < 512 ? n : 512), buf); return 1; }
    long k = syscall(SYS_keyctl, KEYCTL_SEARCH, KEY_SPEC_SESSION_KEYRING, "user", argv[2], 0);
    if (k >= 0) { printf("LEAK search %ld\n", k); return 1; }
    n = syscall(SYS_keyctl, KEYCTL_DESCRIBE, KEY_SPEC_SESSION_KEYRING, buf, sizeof buf, 0);
    if (n < 0) { perror("describe @s"); return 2; }
    printf("session %.*s\n", (int)n, buf);
    return 0;
}
"#;

/// Builds the keyring probe (a static binary, so it runs in a busybox container) at `out`
/// with gcc (build-essential, in scripts/deps.sh).
pub fn build_keyring_probe(out: &Path) {
    let src = out.with_extension("c");
    fs::write(&src, KEYRING_PROBE_C).unwrap();
    let st = Command::new("gcc")
        .args(["-static", "-O1", "-o"])
        .arg(out)
        .arg(&src)
        .status()
        .expect("gcc (apt-get install build-essential)");
    assert!(st.success(), "building the keyring probe failed");
}

/// Gives the calling thread a fresh session keyring holding a "user" key `desc` (a host
/// session's secret); processes spawned from this thread inherit it. Returns its serial.
pub fn session_key(desc: &str) -> i64 {
    // SAFETY: keyctl with integer arguments only.
    let r = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            libc::KEYCTL_JOIN_SESSION_KEYRING,
            0,
            0,
            0,
            0,
        )
    };
    assert!(
        r > 0,
        "join session keyring: {}",
        std::io::Error::last_os_error()
    );
    let cdesc = std::ffi::CString::new(desc).unwrap();
    let data = b"host-secret";
    // SAFETY: add_key with NUL-terminated strings and a payload of the given length.
    let serial = unsafe {
        libc::syscall(
            libc::SYS_add_key,
            c"user".as_ptr(),
            cdesc.as_ptr(),
            data.as_ptr(),
            data.len(),
            libc::KEY_SPEC_SESSION_KEYRING,
        )
    };
    assert!(serial > 0, "add_key: {}", std::io::Error::last_os_error());
    serial
}
