//! `berth-runtime spec` (a default config.json like `runc spec`) and `features`.

use serde_json::{json, Value};

/// The ociVersion `runc spec` writes; kept identical so tools diffing against runc agree.
pub const DEFAULT_SPEC_OCI_VERSION: &str = "1.0.2-dev";

/// The lowest and highest runtime-spec versions this runtime accepts.
pub const OCI_VERSION_MIN: &str = "1.0.0";
pub const OCI_VERSION_MAX: &str = oci_spec::runtime::VERSION;

const DEFAULT_CAPS: [&str; 3] = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];

/// The default spec runc writes (terminal true, `sh`, default capabilities, mounts, masked paths).
/// `rootless` adds a user namespace with the caller's uid/gid mapped, like `runc spec --rootless`.
/// The one deliberate difference from runc: the hostname is "berth", not "runc".
pub fn default_spec(rootless: bool) -> Value {
    let mut spec = json!({
        "ociVersion": DEFAULT_SPEC_OCI_VERSION,
        "process": {
            "terminal": true,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm"
            ],
            "cwd": "/",
            "capabilities": {
                "bounding": DEFAULT_CAPS,
                "effective": DEFAULT_CAPS,
                "permitted": DEFAULT_CAPS,
                "ambient": DEFAULT_CAPS
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
                {"type": "uts"}, {"type": "mount"}
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
    });
    if rootless {
        make_rootless(&mut spec);
    }
    spec
}

/// What `runc spec --rootless` changes: no devpts gid (the tty group is not mapped), /sys
/// bind-mounted (sysfs cannot be mounted without a network namespace owned by the user ns),
/// no network namespace and no device cgroup rules, a user namespace mapping the caller.
fn make_rootless(spec: &mut Value) {
    // SAFETY: geteuid/getegid have no preconditions and cannot fail.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    if let Some(mounts) = spec["mounts"].as_array_mut() {
        for m in mounts.iter_mut() {
            match m["destination"].as_str() {
                Some("/dev/pts") => {
                    if let Some(opts) = m["options"].as_array_mut() {
                        opts.retain(|o| o != "gid=5");
                    }
                }
                Some("/sys") => {
                    *m = json!({
                        "destination": "/sys", "type": "none", "source": "/sys",
                        "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]
                    });
                }
                _ => {}
            }
        }
    }
    let linux = &mut spec["linux"];
    if let Some(obj) = linux.as_object_mut() {
        obj.remove("resources");
        obj.insert(
            "uidMappings".into(),
            json!([{"containerID": 0, "hostID": uid, "size": 1}]),
        );
        obj.insert(
            "gidMappings".into(),
            json!([{"containerID": 0, "hostID": gid, "size": 1}]),
        );
        obj.insert(
            "namespaces".into(),
            json!([{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "user"}]),
        );
    }
}

/// Mount options the rootfs code understands (the same list runc advertises).
const MOUNT_OPTIONS: &[&str] = &[
    "acl",
    "async",
    "atime",
    "bind",
    "defaults",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "iversion",
    "lazytime",
    "loud",
    "mand",
    "noacl",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "noiversion",
    "nolazytime",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "nosymfollow",
    "private",
    "ratime",
    "rbind",
    "rdev",
    "rdiratime",
    "relatime",
    "remount",
    "rexec",
    "rnoatime",
    "rnodev",
    "rnodiratime",
    "rnoexec",
    "rnorelatime",
    "rnostrictatime",
    "rnosuid",
    "rnosymfollow",
    "ro",
    "rprivate",
    "rrelatime",
    "rro",
    "rrw",
    "rshared",
    "rslave",
    "rstrictatime",
    "rsuid",
    "rsymfollow",
    "runbindable",
    "rw",
    "shared",
    "silent",
    "slave",
    "strictatime",
    "suid",
    "symfollow",
    "sync",
    "unbindable",
];

const SECCOMP_ARCHS: &[&str] = &[
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_RISCV64",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
];

/// Seccomp filter flags the kernel accepts: seccomp(SET_MODE_FILTER, flag, NULL) fails with
/// EFAULT (bad program pointer) for a known flag and EINVAL for an unknown one.
fn kernel_supports_seccomp_flag(flag: libc::c_ulong) -> bool {
    const SECCOMP_SET_MODE_FILTER: libc::c_ulong = 1;
    // SAFETY: a NULL program pointer is never dereferenced successfully: the kernel validates
    // the flags, then fails to copy the program and returns EFAULT. Nothing is installed.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            flag,
            std::ptr::null::<libc::c_void>(),
        )
    };
    r < 0 && nix::errno::Errno::last() == nix::errno::Errno::EFAULT
}

/// The `features` document (OCI runtime-spec features.md).
pub fn features() -> Value {
    let libseccomp_version = libseccomp::ScmpVersion::current()
        .map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro))
        .ok();
    let known_flags = [
        ("SECCOMP_FILTER_FLAG_TSYNC", 1 << 0),
        ("SECCOMP_FILTER_FLAG_LOG", 1 << 1),
        ("SECCOMP_FILTER_FLAG_SPEC_ALLOW", 1 << 2),
    ];
    let supported_flags: Vec<&str> = known_flags
        .iter()
        .filter(|(_, bit)| kernel_supports_seccomp_flag(*bit))
        .map(|(name, _)| *name)
        .collect();
    let (apparmor, selinux) = crate::security::lsm_support();
    let mut annotations = serde_json::Map::new();
    annotations.insert(
        "io.berth.runtime.version".into(),
        Value::String(env!("CARGO_PKG_VERSION").into()),
    );
    if let Some(v) = &libseccomp_version {
        annotations.insert(
            "io.github.seccomp.libseccomp.version".into(),
            Value::String(v.clone()),
        );
    }
    json!({
        "ociVersionMin": OCI_VERSION_MIN,
        "ociVersionMax": OCI_VERSION_MAX,
        "hooks": [
            "prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"
        ],
        "mountOptions": MOUNT_OPTIONS,
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": &crate::security::CAPABILITY_NAMES[..],
            "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false, "rdma": false},
            "seccomp": {
                "enabled": true,
                "actions": [
                    "SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
                    "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"
                ],
                "operators": [
                    "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
                    "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"
                ],
                "archs": SECCOMP_ARCHS,
                "knownFlags": known_flags.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
                "supportedFlags": supported_flags
            },
            "apparmor": {"enabled": apparmor},
            "selinux": {"enabled": selinux},
            "intelRdt": {"enabled": false},
            "mountExtensions": {"idmap": {"enabled": false}}
        },
        "annotations": annotations
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_spec_parses_as_oci_spec() {
        for rootless in [false, true] {
            let v = default_spec(rootless);
            let spec: oci_spec::runtime::Spec = serde_json::from_value(v).unwrap();
            let process = spec.process().as_ref().unwrap();
            assert_eq!(process.args().as_ref().unwrap(), &["sh".to_string()]);
            assert_eq!(process.terminal(), Some(true));
            assert_eq!(process.no_new_privileges(), Some(true));
        }
    }

    #[test]
    fn default_spec_matches_runc_shape() {
        let v = default_spec(false);
        assert_eq!(v["ociVersion"], "1.0.2-dev");
        assert_eq!(v["mounts"].as_array().unwrap().len(), 7);
        assert_eq!(v["mounts"][5]["type"], "sysfs");
        assert_eq!(
            v["linux"]["namespaces"],
            json!([{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}])
        );
        assert!(v["linux"].get("uidMappings").is_none());
        assert_eq!(
            v["process"]["capabilities"]["bounding"],
            json!(DEFAULT_CAPS)
        );
        assert!(v["process"]["capabilities"].get("inheritable").is_none());
    }

    /// The same documents as the installed runc's `spec` / `spec --rootless`, apart from the
    /// hostname. Skipped (with a note) where runc is not installed.
    #[test]
    fn default_spec_equals_runc_spec() {
        for rootless in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let mut cmd = std::process::Command::new("runc");
            cmd.arg("spec").current_dir(dir.path());
            if rootless {
                cmd.arg("--rootless");
            }
            match cmd.output() {
                Ok(o) if o.status.success() => {}
                _ => {
                    eprintln!("runc not installed: skipping the comparison with `runc spec`");
                    return;
                }
            }
            let text = std::fs::read_to_string(dir.path().join("config.json")).unwrap();
            let mut theirs: Value = serde_json::from_str(&text).unwrap();
            theirs["hostname"] = json!("berth");
            assert_eq!(default_spec(rootless), theirs, "rootless={rootless}");
        }
    }

    #[test]
    fn rootless_spec_maps_the_caller_and_drops_what_needs_privilege() {
        let v = default_spec(true);
        // SAFETY: geteuid cannot fail.
        let uid = unsafe { libc::geteuid() };
        assert_eq!(v["linux"]["uidMappings"][0]["hostID"], uid);
        assert_eq!(v["linux"]["uidMappings"][0]["containerID"], 0);
        assert!(v["linux"].get("resources").is_none());
        let ns: Vec<&str> = v["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap())
            .collect();
        assert_eq!(ns, ["pid", "ipc", "uts", "mount", "user"]);
        assert_eq!(v["mounts"][5]["type"], "none");
        assert_eq!(v["mounts"][5]["options"][0], "rbind");
        assert!(!v["mounts"][2]["options"]
            .as_array()
            .unwrap()
            .contains(&json!("gid=5")));
    }

    #[test]
    fn features_parses_as_oci_features() {
        let v = features();
        let f: oci_spec::runtime::Features = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(f.oci_version_min(), "1.0.0");
        let linux = f.linux().as_ref().unwrap();
        assert!(linux
            .capabilities()
            .as_ref()
            .unwrap()
            .contains(&"CAP_SYS_ADMIN".to_string()));
        assert_eq!(v["linux"]["cgroup"]["systemd"], false);
        assert_eq!(v["linux"]["seccomp"]["enabled"], true);
        // This kernel (>= 4.17) supports all three filter flags we know.
        assert_eq!(
            v["linux"]["seccomp"]["supportedFlags"],
            v["linux"]["seccomp"]["knownFlags"]
        );
        assert!(v["annotations"]
            .as_object()
            .unwrap()
            .keys()
            .all(|k| !k.starts_with("org.opencontainers.runc")));
    }
}
