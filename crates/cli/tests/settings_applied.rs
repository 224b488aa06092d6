//! Every setting `berth run` accepts is applied exactly, or refused with exit 125 and a
//! message naming it (issue 11, item 5). Each applied setting is checked from the host side:
//! cgroup files, the Seccomp line of /proc/PID/status, /proc/PID/mountinfo, namespace links.
//! Docker 20.10's messages and behaviour (asked of a private dockerd) are the reference.

mod common;

use common::Env;
use std::path::{Path, PathBuf};

fn env() -> Env {
    let env = Env::new();
    env.import_busybox();
    env
}

/// `run -d --network none <flags> busybox <cmd>`, a command that ends up in `sleep`; returns
/// the container's host PID once it is that sleep.
fn run_d(env: &Env, flags: &[&str], cmd: &[&str]) -> i32 {
    let mut args = vec!["run", "-d", "--network", "none"];
    args.extend_from_slice(flags);
    args.push("busybox");
    args.extend_from_slice(cmd);
    let id = env.ok(&args);
    let pid: i32 = env
        .ok(&["inspect", "-f", "{{.State.Pid}}", id.trim()])
        .trim()
        .parse()
        .unwrap();
    // `run -d` may return before the container's init has exec'd the command (until then the
    // process is not dumpable and its filter not loaded): wait for the exec (bounded).
    let comm = Path::new(&format!("/proc/{pid}/comm")).to_path_buf();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::fs::read_to_string(&comm).unwrap_or_default().trim() != "sleep" {
        assert!(
            std::time::Instant::now() < deadline,
            "{pid} never became sleep"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    pid
}

/// `run --rm --network none <flags> busybox <cmd>` must fail with 125 and `want` in stderr.
fn refused(env: &Env, flags: &[&str], want: &str) {
    let mut args = vec!["run", "--rm", "--network", "none"];
    args.extend_from_slice(flags);
    args.extend_from_slice(&["busybox", "true"]);
    let (_, err) = env.code(&args, 125);
    assert!(err.contains(want), "{flags:?}: {err:?} lacks {want:?}");
}

/// The cgroup v1 directory of `pid` for `controller` (this hybrid host mounts v1 there).
fn cgroup_dir(pid: i32, controller: &str) -> PathBuf {
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    for l in cg.lines() {
        let mut f = l.splitn(3, ':');
        let (_, ctrls, path) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap());
        if ctrls.split(',').any(|c| c == controller) {
            let p = Path::new("/sys/fs/cgroup")
                .join(ctrls)
                .join(path.trim_start_matches('/'));
            assert!(p.exists(), "{}", p.display());
            return p;
        }
    }
    panic!("no {controller} cgroup for {pid}: {cg}");
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .to_string()
}

/// A whole disk of this machine: (its /dev path, major, minor).
fn a_disk() -> (String, u64, u64) {
    let mut names: Vec<String> = std::fs::read_dir("/sys/block")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !["loop", "zram", "ram"].iter().any(|p| n.starts_with(p)))
        .collect();
    names.sort();
    let n = names.first().expect("a disk in /sys/block to throttle");
    let dev = read(&Path::new("/sys/block").join(n).join("dev"));
    let (a, b) = dev.split_once(':').unwrap();
    (format!("/dev/{n}"), a.parse().unwrap(), b.parse().unwrap())
}

#[test]
fn block_io_throttles_reach_the_cgroup() {
    let env = env();
    let (disk, maj, min) = a_disk();
    let f = |rate: &str| format!("{disk}:{rate}");
    let (rb, wb, ri, wi) = (f("1mb"), f("2mb"), f("100"), f("200"));
    let pid = run_d(
        &env,
        &[
            "--device-read-bps",
            &rb,
            "--device-write-bps",
            &wb,
            "--device-read-iops",
            &ri,
            "--device-write-iops",
            &wi,
        ],
        &["sleep", "1000"],
    );
    let d = cgroup_dir(pid, "blkio");
    for (file, want) in [
        ("read_bps_device", 1u64 << 20),
        ("write_bps_device", 2 << 20),
        ("read_iops_device", 100),
        ("write_iops_device", 200),
    ] {
        assert_eq!(
            read(&d.join(format!("blkio.throttle.{file}"))),
            format!("{maj}:{min} {want}"),
            "{file}"
        );
    }

    // Only block devices: major:minor comes from a stat of the path, as in Docker.
    refused(
        &env,
        &["--device-read-bps", "/dev/null:1mb"],
        "--device-read-bps: /dev/null is not a block device",
    );
    refused(
        &env,
        &["--device-write-iops", "/dev/berth-no-such-disk:10"],
        "--device-write-iops: stat /dev/berth-no-such-disk: no such file or directory",
    );

    // Weights: applied where the kernel has CFQ/BFQ weight files, refused where not
    // (Docker warns and drops them).
    let root = Path::new("/sys/fs/cgroup/blkio");
    if ["blkio.weight", "blkio.bfq.weight"]
        .iter()
        .any(|f| root.join(f).exists())
    {
        let pid = run_d(&env, &["--blkio-weight", "300"], &["sleep", "1000"]);
        let d = cgroup_dir(pid, "blkio");
        let file = ["blkio.weight", "blkio.bfq.weight"]
            .iter()
            .map(|f| d.join(f))
            .find(|p| p.exists())
            .unwrap();
        assert!(read(&file).contains("300"), "{}", read(&file));
    } else {
        refused(&env, &["--blkio-weight", "300"], "--blkio-weight:");
        // update refuses it too, instead of saving a weight that fails the next start.
        run_d(&env, &["--name", "upd"], &["sleep", "1000"]);
        let (_, err) = env.code(&["update", "--blkio-weight", "300", "upd"], 1);
        assert!(err.contains("--blkio-weight:"), "{err}");
        let saved = env.ok(&["inspect", "-f", "{{.HostConfig.BlkioWeight}}", "upd"]);
        assert_eq!(saved.trim(), "0");
        let w = format!("{disk}:300");
        refused(
            &env,
            &["--blkio-weight-device", &w],
            "--blkio-weight-device:",
        );
    }
}

fn seccomp_mode(pid: i32) -> String {
    let st = read(Path::new(&format!("/proc/{pid}/status")));
    st.lines()
        .find_map(|l| l.strip_prefix("Seccomp:"))
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn seccomp_profile_file_is_loaded() {
    let env = env();
    // Docker's format: archMap, a rule per architecture condition, errnoRet.
    let prof = env.path("deny-mkdir.json");
    std::fs::write(
        &prof,
        r#"{
  "defaultAction": "SCMP_ACT_ALLOW",
  "archMap": [
    {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
    {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}
  ],
  "syscalls": [
    {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
    {"names": ["rmdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
     "includes": {"caps": ["CAP_SYS_ADMIN"]}}
  ]
}"#,
    )
    .unwrap();
    let opt = format!("seccomp={}", prof.display());
    let pid = run_d(
        &env,
        &["--name", "sc", "--security-opt", &opt],
        &["sleep", "1000"],
    );
    assert_eq!(seccomp_mode(pid), "2");
    // An exec gets the same filter.
    let o = env.run(&["exec", "sc", "sh", "-c", "mkdir /x; echo mkdir=$?"]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("mkdir=1"),
        "{o:?}"
    );
    let o = env.run(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--security-opt",
        &opt,
        "busybox",
        "sh",
        "-c",
        "mkdir /x; echo mkdir=$?; rmdir /tmp && echo rmdir=ok",
    ]);
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(out.contains("mkdir=1"), "{out}{err}");
    assert!(err.contains("Operation not permitted"), "{err}");
    // The CAP_SYS_ADMIN-only rule is not in a default container's filter.
    assert!(out.contains("rmdir=ok"), "{out}{err}");

    // unconfined: no filter at all; the default profile: a filter.
    let pid = run_d(
        &env,
        &["--security-opt", "seccomp=unconfined"],
        &["sleep", "1000"],
    );
    assert_eq!(seccomp_mode(pid), "0");
    let pid = run_d(&env, &[], &["sleep", "1000"]);
    assert_eq!(seccomp_mode(pid), "2");

    std::fs::write(&prof, "{not json").unwrap();
    refused(&env, &["--security-opt", &opt], "parsing seccomp profile");
}

fn mountinfo(pid: i32) -> String {
    read(Path::new(&format!("/proc/{pid}/mountinfo")))
}

/// (mount point, options) of the mounts in /proc/PID/mountinfo.
fn mount_points(pid: i32) -> Vec<(String, String)> {
    mountinfo(pid)
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f[4].to_string(), f[5].to_string())
        })
        .collect()
}

#[test]
fn systempaths_unconfined_leaves_proc_unmasked() {
    let env = env();
    let masked = |pid: i32| {
        mount_points(pid)
            .into_iter()
            .filter(|(p, _)| p == "/proc/keys" || p == "/proc/sys")
            .collect::<Vec<_>>()
    };
    let pid = run_d(&env, &[], &["sleep", "1000"]);
    let m = masked(pid);
    assert!(m.iter().any(|(p, _)| p == "/proc/keys"), "{m:?}");
    assert!(
        m.iter()
            .any(|(p, o)| p == "/proc/sys" && o.starts_with("ro")),
        "{m:?}"
    );
    let pid = run_d(
        &env,
        &["--security-opt", "systempaths=unconfined"],
        &["sleep", "1000"],
    );
    assert_eq!(masked(pid), vec![], "{}", mountinfo(pid));
    refused(
        &env,
        &["--security-opt", "systempaths=foo"],
        "invalid --security-opt 2: \"systempaths=foo\"",
    );
}

fn ns(pid: i32, kind: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{kind}"))
        .unwrap()
        .display()
        .to_string()
}

/// The host's IPC namespace: this test's.
fn host_ipc() -> String {
    std::fs::read_link("/proc/self/ns/ipc")
        .unwrap()
        .display()
        .to_string()
}

fn has_shm(pid: i32) -> bool {
    mount_points(pid).iter().any(|(p, _)| p == "/dev/shm")
}

#[test]
fn ipc_modes_follow_docker() {
    let env = env();
    // private (the default): own namespace, own /dev/shm; others may not join it.
    let private = run_d(&env, &["--name", "priv"], &["sleep", "1000"]);
    assert_ne!(ns(private, "ipc"), host_ipc());
    assert!(has_shm(private));
    let id = env.ok(&["inspect", "-f", "{{.Id}}", "priv"]);
    refused(
        &env,
        &["--ipc", "container:priv"],
        &format!(
            "can't join IPC of container {}: non-shareable IPC (hint: use IpcMode:shareable for the donor container)",
            id.trim()
        ),
    );

    // none: own namespace and no /dev/shm at all.
    let none = run_d(&env, &["--ipc", "none"], &["sleep", "1000"]);
    assert_ne!(ns(none, "ipc"), host_ipc());
    assert!(!has_shm(none), "{}", mountinfo(none));

    // shareable: a joiner shares the namespace and the /dev/shm (its files, its size).
    let donor = run_d(
        &env,
        &["--name", "shr", "--ipc", "shareable", "--shm-size", "8m"],
        &["sh", "-c", "echo hi > /dev/shm/f; sleep 1000"],
    );
    let joiner = run_d(&env, &["--ipc", "container:shr"], &["sleep", "1000"]);
    assert_eq!(ns(joiner, "ipc"), ns(donor, "ipc"));
    let (out, _) = env.code(
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "--ipc",
            "container:shr",
            "busybox",
            "sh",
            "-c",
            "cat /dev/shm/f; df -k /dev/shm | tail -1",
        ],
        0,
    );
    assert!(out.starts_with("hi\n"), "{out}");
    assert!(out.contains(" 8192 "), "{out}");

    // host: the host's namespace and /dev/shm.
    let host = run_d(
        &env,
        &["--name", "hostipc", "--ipc", "host"],
        &["sleep", "1000"],
    );
    assert_eq!(ns(host, "ipc"), host_ipc());
    assert!(has_shm(host));
    // A host-IPC donor may be joined (Docker: its shm path is the host's /dev/shm).
    let joins_host = run_d(&env, &["--ipc", "container:hostipc"], &["sleep", "1000"]);
    assert_eq!(ns(joins_host, "ipc"), host_ipc());
    assert!(has_shm(joins_host));

    // The shareable tmpfs lives in the run dir and goes with the container.
    let runroot = env.runroot().display().to_string();
    let shm_mounts = || {
        read(Path::new("/proc/self/mountinfo"))
            .lines()
            .filter(|l| l.contains(&runroot) && l.contains("/shm "))
            .count()
    };
    assert_eq!(shm_mounts(), 1);
    env.ok(&["rm", "-f", "shr"]);
    assert_eq!(shm_mounts(), 0, "the shareable /dev/shm stays mounted");
    refused(&env, &["--ipc", "container:shr"], "No such container: shr");
}

#[test]
fn device_cgroup_rule_is_applied() {
    let env = env();
    let pid = run_d(
        &env,
        &["--device-cgroup-rule", "c 42:7 rm"],
        &["sleep", "1000"],
    );
    let list = read(&cgroup_dir(pid, "devices").join("devices.list"));
    assert!(list.lines().any(|l| l == "c 42:7 rm"), "{list}");
    refused(
        &env,
        &["--device-cgroup-rule", "c_1:3_r"],
        "invalid device cgroup format 'c_1:3_r'",
    );
}

#[test]
fn settings_berth_cannot_apply_are_refused() {
    let env = env();
    for (flags, want) in [
        (&["--userns", "private"][..], "--userns: invalid USER mode"),
        (&["--userns", "remap"][..], "--userns: invalid USER mode"),
        (&["--kernel-memory", "10m"][..], "--kernel-memory"),
        (&["--volume-driver", "nfs"][..], "--volume-driver"),
        (&["--runtime", "kata"][..], "Unknown runtime specified kata"),
        (
            &["--isolation", "hyperv"][..],
            "Invalid isolation: \"hyperv\" - linux only supports 'default'",
        ),
        // --ip6 is applied on dual-stack networks (cli ipv6 tests); not on `none` (Docker's error).
        (
            &["--ip6", "fd00::5"][..],
            "user specified IP address is supported on user defined networks only",
        ),
        (&["--stop-signal", "SIGFOO"][..], "Invalid signal: SIGFOO"),
        (
            &["--mac-address", "02:42:ac:11:00:02"][..],
            "conflicting options: mac-address and the network mode (none)",
        ),
        (
            &["--security-opt", "label=type:foo_t"][..],
            "--security-opt label=type:foo_t",
        ),
        (
            &["--security-opt", "no-new-privileges=maybe"][..],
            "invalid --security-opt 2",
        ),
        (
            &["-m", "-1"][..],
            "invalid argument \"-1\" for \"-m, --memory\" flag: invalid size: '-1'",
        ),
        (
            &["--memory-swap", "-2"][..],
            "invalid argument \"-2\" for \"--memory-swap\" flag",
        ),
        (
            &["--ipc", "host", "--shm-size", "8m"][..],
            "--shm-size: a container with --ipc host has no /dev/shm",
        ),
    ] {
        refused(&env, flags, want);
    }
    let allow = env.path("allow.json");
    std::fs::write(&allow, r#"{"defaultAction": "SCMP_ACT_ALLOW"}"#).unwrap();
    refused(
        &env,
        &[
            "--privileged",
            "--security-opt",
            &format!("seccomp={}", allow.display()),
        ],
        "--security-opt seccomp: a privileged container runs without seccomp",
    );
    if !Path::new("/sys/kernel/security/apparmor").exists() {
        refused(
            &env,
            &["--security-opt", "apparmor=docker-default"],
            "--security-opt apparmor=docker-default: AppArmor is not enabled",
        );
    }
    // What is applied (or is Docker's no-op) still runs.
    for flags in [
        &["--userns", "host"][..],
        &["--runtime", "runc"][..],
        &["--isolation", "default"][..],
        &["--security-opt", "label=disable"][..],
        &["--security-opt", "apparmor=unconfined"][..],
    ] {
        let mut args = vec!["run", "--rm", "--network", "none"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&["busybox", "true"]);
        env.ok(&args);
    }
}

/// Unmounts `dir` when dropped (also after a failed assertion).
struct Unmount(PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

#[test]
fn mount_options_are_applied_or_refused() {
    let env = env();
    // bind-nonrecursive: the source without the mounts under it (Docker's "bind", not "rbind").
    let src = env.path("src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    let st = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(src.join("sub"))
        .status()
        .unwrap();
    assert!(st.success());
    let _sub = Unmount(src.join("sub"));
    let points = |extra: &str| {
        let m = format!("type=bind,src={},dst=/m{extra}", src.display());
        let pid = run_d(&env, &["--mount", &m], &["sleep", "1000"]);
        mount_points(pid)
            .into_iter()
            .map(|(p, _)| p)
            .filter(|p| p.starts_with("/m"))
            .collect::<Vec<_>>()
    };
    assert_eq!(points(""), ["/m", "/m/sub"]);
    assert_eq!(points(",bind-nonrecursive"), ["/m"]);
    assert_eq!(points(",bind-nonrecursive=true"), ["/m"]);

    for (m, want) in [
        (
            "type=volume,dst=/v,volume-driver=nfs",
            "error looking up volume plugin nfs: plugin \"nfs\" not found",
        ),
        (
            "type=volume,dst=/v,volume-opt=type=tmpfs",
            "missing required option: \"device\"",
        ),
    ] {
        refused(&env, &["--mount", m], want);
    }
    refused(
        &env,
        &["--log-driver", "syslog"],
        "--log-driver syslog: only the json-file logging driver",
    );
    refused(&env, &["--log-opt", "max-size=10m"], "--log-opt max-size");
}

#[test]
fn container_network_refuses_its_own_name_settings() {
    let env = env();
    run_d(&env, &["--name", "netdonor"], &["sleep", "1000"]);
    let net = ["--network", "container:netdonor"];
    for (flag, value, want) in [
        (
            "--dns",
            "1.1.1.1",
            "conflicting options: dns and the network mode",
        ),
        (
            "--dns-search",
            "x.com",
            "conflicting options: dns and the network mode",
        ),
        (
            "--dns-option",
            "ndots:2",
            "conflicting options: dns and the network mode",
        ),
        (
            "--add-host",
            "a:1.2.3.4",
            "conflicting options: custom host-to-IP mapping and the network mode",
        ),
        (
            "--hostname",
            "foo",
            "conflicting options: hostname and the network mode",
        ),
    ] {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(&net);
        args.extend_from_slice(&[flag, value, "busybox", "true"]);
        let (_, err) = env.code(&args, 125);
        assert!(err.contains(want), "{flag}: {err}");
    }
}
