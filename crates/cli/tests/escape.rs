//! The escape suite (issue 11): real default containers (busybox plus a static probe, see
//! tests/probe/escape_probe.rs) try the usual ways out, and every attempt must be blocked.
//!
//! Borrowed ideas, named where used:
//! - moby contrib/syscall-test (acct.c, ns.c, userns.c) and integration-cli
//!   docker_cli_run_unix_test.go (TestRunSeccompDefaultProfileAcct / ...NS,
//!   TestRunSeccompProfileDenyUnshare, TestRunNoNewPrivSetuid): syscalls run in a default
//!   container must fail with EPERM;
//! - moby integration/container/mounts_linux_test.go (TestContainerBindMountRecursivelyReadOnly,
//!   moby 25): a read-only bind's submounts are read-only too;
//! - runc tests/integration/cwd.bats (CVE-2024-21626: a cwd of /proc/self/fd/N with a leaked host
//!   fd), mask.bats (masked paths read empty), dev.bats (mknod'd devices cannot be opened),
//!   mounts.bats (mount destinations through symlinks stay in the rootfs, CVE-2021-30465);
//! - moby's archive tests for CVE-2018-15664 / CVE-2019-14271 (docker cp through symlinks).
//!
//! Probes are safe for the host: files are opened for writing and closed unwritten; syscalls
//! get arguments that fail even when permitted, so that EPERM (blocked) is told apart from
//! EINVAL/EFAULT/EBADF/EOPNOTSUPP (permitted). Never a valid reboot magic, never a write.

mod common;

use common::{sh, Env};
use std::collections::HashMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// Builds the probe static with plain rustc (as containers.rs's `static_init` does for
/// berth-init: cargo builds test helpers dynamically, and a busybox rootfs has no glibc).
fn build_probe(env: &Env) -> PathBuf {
    let deps = Path::new(common::BERTH).parent().unwrap().join("deps");
    let libc = std::fs::read_dir(&deps)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.starts_with("liblibc-") && n.ends_with(".rlib")
        })
        .expect("libc rlib next to the test binaries");
    let out = env.path("escape_probe");
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/probe/escape_probe.rs");
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

/// An Env with the image `busybox` (testutil's rootfs plus /probe).
fn setup() -> Env {
    let env = Env::new();
    let probe = build_probe(&env);
    let rootfs = env.path("probe-rootfs");
    testutil::make_busybox_rootfs(&rootfs);
    std::fs::create_dir_all(rootfs.join("mnt")).unwrap();
    std::fs::copy(&probe, rootfs.join("probe")).unwrap();
    let tar = env.path("probe.tar");
    sh(&format!(
        "tar -C {} -cf {} .",
        rootfs.display(),
        tar.display()
    ));
    env.ok(&["import", tar.to_str().unwrap(), "busybox"]);
    env
}

/// Parses the probe's `<probe> <result>` lines.
fn results(out: &str) -> HashMap<String, String> {
    out.lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `berth run --rm <args> busybox /probe <probes>`: the results by probe.
fn run_probes(env: &Env, args: &[&str], probes: &[&str]) -> HashMap<String, String> {
    let mut a = vec!["run", "--rm"];
    a.extend_from_slice(args);
    a.extend(["busybox", "/probe"]);
    a.extend_from_slice(probes);
    let r = results(&env.ok(&a));
    assert_eq!(r.len(), probes.len(), "{r:?}");
    r
}

fn expect(r: &HashMap<String, String>, probe: &str, allowed: &[&str]) {
    let got = r.get(probe).map(String::as_str).unwrap_or("<missing>");
    assert!(
        allowed.contains(&got),
        "{probe}: got {got}, expected one of {allowed:?} (all: {r:?})"
    );
}

/// major:minor of the host's root filesystem device (from mountinfo; a filesystem on an
/// anonymous device, major 0, is looked up by its source device's rdev).
fn host_root_disk() -> (u64, u64) {
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let line = mi
        .lines()
        .rev()
        .find(|l| l.split(' ').nth(4) == Some("/"))
        .expect("/ in mountinfo");
    let f: Vec<&str> = line.split(' ').collect();
    let (maj, min) = f[2].split_once(':').unwrap();
    let (maj, min): (u64, u64) = (maj.parse().unwrap(), min.parse().unwrap());
    if maj != 0 {
        return (maj, min);
    }
    let dash = f.iter().position(|x| *x == "-").unwrap();
    let src = f[dash + 2];
    let rdev = std::os::unix::fs::MetadataExt::rdev(&std::fs::metadata(src).unwrap());
    (libc::major(rdev) as u64, libc::minor(rdev) as u64)
}

/// Docker's default capability set (CapEff 0x00000000a80425fb): berth's may only be smaller.
const DOCKER_DEFAULT_CAPS: u64 = 0xa80425fb;

#[test]
fn default_container_blocks_the_usual_escapes() {
    let env = setup();
    let (maj, min) = host_root_disk();
    let disk = format!("mknod=b:{maj}:{min}");
    let probes = [
        "mount-tmpfs",
        "mount-bind",
        "fsopen",
        "open_tree",
        disk.as_str(),
        "mknod=c:1:1",  // /dev/mem
        "mknod=b:7:0",  // /dev/loop0
        "mknod=c:1:11", // /dev/kmsg
        "open-write=/proc/sysrq-trigger",
        "open-write=/proc/sys/kernel/core_pattern",
        "open-write=/proc/sys/vm/drop_caches",
        "open-write=/sys/kernel/uevent_helper",
        "access-write=/sys/kernel",
        "statvfs=/sys",
        "statvfs=/proc/sys",
        "release-agents",
        "read-len=/proc/kcore",
        "read-len=/proc/keys",
        "read-len=/proc/timer_list",
        "init_module",
        "finit_module",
        "reboot",
        "kexec_load",
        "acct",
        "keyctl",
        "add_key",
        "bpf",
        "perf_event_open",
        "open_by_handle_at",
        "unshare-user",
        "unshare-mnt",
        "status",
    ];
    // --network none throughout: the network is not what these probes try (network isolation
    // has its own tests), and parallel tests may hold every default address pool.
    {
        let r = run_probes(&env, &["--network", "none"], &probes);
        for p in ["mount-tmpfs", "mount-bind", "fsopen", "open_tree"] {
            expect(&r, p, &["EPERM"]);
        }
        // CAP_MKNOD is a default (as Docker's): the node is made, the devices cgroup refuses
        // to open it (runc dev.bats, Docker's default device rules).
        expect(&r, &disk, &["mknod=OK,open=EPERM"]);
        // (This VM's host cannot open its root disk either: loop0 and kmsg, which root on the
        // host and a --privileged container can open, are the telling ones here.)
        for p in ["mknod=c:1:1", "mknod=b:7:0", "mknod=c:1:11"] {
            expect(&r, p, &["mknod=OK,open=EPERM"]);
        }
        // Read-only /proc/sys, /proc/sysrq-trigger, /sys; ENOENT only where the host's kernel
        // has no such file (this VM's kernel has no sysrq-trigger, uevent_helper nor kcore).
        for (p, host) in [
            ("open-write=/proc/sysrq-trigger", "/proc/sysrq-trigger"),
            (
                "open-write=/sys/kernel/uevent_helper",
                "/sys/kernel/uevent_helper",
            ),
        ] {
            if Path::new(host).exists() {
                expect(&r, p, &["EROFS", "EACCES"]);
            } else {
                expect(&r, p, &["ENOENT"]);
            }
        }
        expect(&r, "open-write=/proc/sys/kernel/core_pattern", &["EROFS"]);
        expect(&r, "open-write=/proc/sys/vm/drop_caches", &["EROFS"]);
        expect(&r, "access-write=/sys/kernel", &["EROFS"]);
        expect(&r, "statvfs=/sys", &["RO"]);
        expect(&r, "statvfs=/proc/sys", &["RO"]);
        // CVE-2022-0492: no release_agent is writable (the cgroup mounts are read-only).
        expect(&r, "release-agents", &["EROFS", "NONE"]);
        // Masked paths read empty (/dev/null over them; runc mask.bats).
        for (p, host) in [
            ("read-len=/proc/kcore", "/proc/kcore"),
            ("read-len=/proc/keys", "/proc/keys"),
            ("read-len=/proc/timer_list", "/proc/timer_list"),
        ] {
            if Path::new(host).exists() {
                expect(&r, p, &["len=0"]);
            } else {
                expect(&r, p, &["ENOENT"]);
            }
        }
        for p in [
            "init_module",
            "finit_module",
            "reboot",
            "kexec_load",
            "acct",
            "keyctl",
            "add_key",
            "bpf",
            "perf_event_open",
            "open_by_handle_at",
            "unshare-user",
            "unshare-mnt",
        ] {
            expect(&r, p, &["EPERM"]);
        }
        let st = &r["status"];
        let f = |k: &str| {
            st.split(',')
                .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
                .unwrap()
                .to_string()
        };
        let eff = u64::from_str_radix(&f("CapEff"), 16).unwrap();
        assert_eq!(eff & !DOCKER_DEFAULT_CAPS, 0, "caps beyond Docker's: {st}");
        assert_eq!(f("CapBnd"), f("CapEff"), "{st}");
        // CVE-2022-29162: nothing inheritable or ambient.
        assert_eq!(u64::from_str_radix(&f("CapInh"), 16).unwrap(), 0, "{st}");
        assert_eq!(u64::from_str_radix(&f("CapAmb"), 16).unwrap(), 0, "{st}");
        assert_eq!(f("Seccomp"), "2", "{st}");
        assert_eq!(f("NoNewPrivs"), "0", "Docker's default: {st}");
    }
    // The control: with --privileged (no seccomp, all capabilities, all devices) the same
    // probes are permitted and answer the harmless errors their arguments provoke, so the
    // EPERMs above come from berth's confinement, not from the probes or this kernel.
    let r = run_probes(&env, &["--network", "none", "--privileged"], &probes);
    for (p, permitted) in [
        ("mount-tmpfs", "OK"),
        ("fsopen", "OK"),
        ("unshare-user", "OK"),
        ("reboot", "EINVAL"),
        ("acct", "ENOENT"),
        ("keyctl", "EOPNOTSUPP"),
        ("add_key", "EFAULT"),
        ("bpf", "EINVAL"),
        ("perf_event_open", "EFAULT"),
        ("open_by_handle_at", "EFAULT"),
        ("open-write=/proc/sys/vm/drop_caches", "OK"),
        ("statvfs=/sys", "RW"),
    ] {
        expect(&r, p, &[permitted]);
    }
    expect(
        &r,
        "mknod=b:7:0",
        &["mknod=OK,open=OK", "mknod=OK,open=ENXIO"],
    );
    expect(&r, "mknod=c:1:11", &["mknod=OK,open=OK"]);
    let r = run_probes(
        &env,
        &["--network", "none", "--security-opt", "no-new-privileges"],
        &["status"],
    );
    assert!(r["status"].contains("NoNewPrivs=1"), "{r:?}");

    // The chroot escape (a separate run: it changes the probe's root) and ptrace.
    let r = run_probes(&env, &["--network", "none"], &["chroot"]);
    expect(&r, "chroot", &["CONTAINED"]);
    // A host process is not even visible (its pid names nothing in the container's pid
    // namespace). Tracing the container's own processes is allowed, as in Docker (its seccomp
    // profile permits ptrace on kernels >= 4.8; same uid and capabilities).
    let me = std::process::id().to_string();
    let r = run_probes(&env, &["--network", "none"], &[&format!("ptrace={me}")]);
    expect(&r, &format!("ptrace={me}"), &["ESRCH"]);

    // The same from `exec` into a running container.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "ex",
        "--network",
        "none",
        "busybox",
        "sleep",
        "1000",
    ]);
    let out = env.ok(&[
        "exec",
        "ex",
        "/probe",
        "mount-tmpfs",
        "unshare-user",
        "keyctl",
        "bpf",
        "reboot",
        "init_module",
        &disk,
        "status",
    ]);
    let r = results(&out);
    for p in [
        "mount-tmpfs",
        "unshare-user",
        "keyctl",
        "bpf",
        "reboot",
        "init_module",
    ] {
        expect(&r, p, &["EPERM"]);
    }
    expect(&r, &disk, &["mknod=OK,open=EPERM"]);
    assert!(r["status"].contains("Seccomp=2"), "{r:?}");
    assert!(r["status"].contains("CapAmb=0000000000000000"), "{r:?}");
    env.ok(&["rm", "-f", "ex"]);
}

/// The container sees only its own fds (0, 1, 2 and the probe's directory fd), even when the
/// berth process was handed a host directory fd without CLOEXEC (CVE-2024-21626's leak); a
/// cwd never points outside the rootfs (`-w` with `..`, `-w /proc/self/fd/N`).
#[test]
fn no_host_fd_or_cwd_reaches_the_container() {
    let env = setup();
    let hostdir = std::fs::File::open(env.dir.path()).unwrap();
    let run_leaky = |args: &[&str]| {
        let mut c = env.cmd(args);
        let fd = std::os::fd::AsRawFd::as_raw_fd(&hostdir);
        // SAFETY: only async-signal-safe dup2 between fork and exec; fd 7 without CLOEXEC.
        unsafe {
            c.pre_exec(move || {
                if libc::dup2(fd, 7) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let o = c.stdin(Stdio::null()).output().unwrap();
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        results(&String::from_utf8_lossy(&o.stdout))
    };
    let only_own_fds = |r: &HashMap<String, String>| {
        let fds: Vec<&str> = r["fds"].split(',').collect();
        let nums: Vec<&str> = fds.iter().map(|f| f.split('=').next().unwrap()).collect();
        assert_eq!(nums, ["0", "1", "2", "3"], "{fds:?}");
        assert!(
            fds[3].ends_with("/fd") && fds[3].starts_with("3=/proc/"),
            "{fds:?}"
        );
        for f in &fds[..3] {
            let t = f.split_once('=').unwrap().1;
            assert!(
                t == "/dev/null" || t.starts_with("pipe:") || t.starts_with("/dev/pts/"),
                "a host file as stdio: {fds:?}"
            );
        }
    };
    let r = run_leaky(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "/probe",
        "fds",
        "cwd",
    ]);
    only_own_fds(&r);
    expect(&r, "cwd", &["getcwd=/,link=/"]);
    env.ok(&[
        "run",
        "-d",
        "--name",
        "fdx",
        "--network",
        "none",
        "busybox",
        "sleep",
        "1000",
    ]);
    let r = run_leaky(&["exec", "fdx", "/probe", "fds", "cwd"]);
    only_own_fds(&r);
    expect(&r, "cwd", &["getcwd=/,link=/"]);
    let r = run_leaky(&[
        "exec",
        "-w",
        "/../../../tmp/..//tmp",
        "fdx",
        "/probe",
        "cwd",
    ]);
    expect(&r, "cwd", &["getcwd=/tmp,link=/tmp"]);
    env.ok(&["rm", "-f", "fdx"]);

    // `-w` climbing with `..` stays in the rootfs; `-w /proc/self/fd/N` (runc cwd.bats) either
    // fails to start or leaves the cwd inside the container, never at a host directory.
    let r = run_probes(
        &env,
        &["--network", "none", "-w", "/../../../../tmp"],
        &["cwd"],
    );
    expect(&r, "cwd", &["getcwd=/tmp,link=/tmp"]);
    // Up to fd 100: berth's own seccomp cache directory fd (dup'ed to >= 60) was such a host
    // directory in the container's init and in exec, until the runtime checked its cwd.
    env.ok(&[
        "run",
        "-d",
        "-i",
        "--name",
        "fdw",
        "--network",
        "none",
        "busybox",
        "cat",
    ]);
    for n in 3..=100 {
        let w = format!("/proc/self/fd/{n}");
        for args in [
            &[
                "run",
                "--rm",
                "--network",
                "none",
                "-w",
                &w,
                "busybox",
                "/probe",
                "cwd",
            ][..],
            &["exec", "-w", &w, "fdw", "/probe", "cwd"][..],
        ] {
            let mut c = env.cmd(args);
            let fd = std::os::fd::AsRawFd::as_raw_fd(&hostdir);
            // SAFETY: as above.
            unsafe {
                c.pre_exec(move || {
                    if libc::dup2(fd, 7) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
            let o = c.stdin(Stdio::null()).output().unwrap();
            let err = String::from_utf8_lossy(&o.stderr);
            if !o.status.success() {
                assert!(
                    err.contains("not a directory")
                        || err.contains("no such file")
                        || err.contains("outside of the container's root"),
                    "{args:?}: {err}"
                );
                continue;
            }
            let r = results(&String::from_utf8_lossy(&o.stdout));
            let cwd = &r["cwd"];
            assert!(
                cwd.starts_with("getcwd=/")
                    && cwd.contains(",link=/")
                    && !cwd.contains("berth-cli-test"),
                "{args:?}: {cwd}"
            );
        }
    }
    env.ok(&["rm", "-f", "fdw"]);
}

/// A container whose /data (a volume target) and /wd (the workdir) are symlinks to absolute
/// host paths gets the mount and the directory inside its rootfs (runc mounts.bats,
/// CVE-2021-30465's class); `-v dir:/host:ro` is read-only down to the host's submounts
/// (Docker >= 25 and runc's rro; Docker 20.10 left submounts writable).
#[test]
fn volume_targets_and_ro_submounts() {
    let env = setup();
    let target = env.path("host-target");
    let wdtarget = env.path("host-wd");
    std::fs::create_dir_all(&target).unwrap();
    std::fs::create_dir_all(&wdtarget).unwrap();
    let src = env.path("volsrc");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("file"), "volume\n").unwrap();
    let id = env
        .ok(&[
            "create",
            "--network",
            "none",
            "-v",
            &format!("{}:/data", src.display()),
            "-w",
            "/wd/sub",
            "busybox",
            "sh",
            "-c",
            "cat /data/file && touch /data/new && pwd && touch here",
        ])
        .trim()
        .to_string();
    // The hostile image part, planted with `cp -` (symlinks to the host's absolute paths).
    let mut b = tar::Builder::new(Vec::new());
    for (name, to) in [("data", &target), ("wd", &wdtarget)] {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        b.append_link(&mut h, name, to).unwrap();
    }
    let tar = b.into_inner().unwrap();
    let o = env.with_stdin(&["cp", "-", &format!("{id}:/")], &tar);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = env.ok(&["start", "-a", &id]);
    assert_eq!(out, format!("volume\n{}/sub\n", wdtarget.display()));
    assert!(
        src.join("new").exists(),
        "the volume is mounted at the link's target inside"
    );
    let empty = |d: &Path| std::fs::read_dir(d).unwrap().next().is_none();
    assert!(
        empty(&target),
        "nothing was mounted or written on the host's target"
    );
    assert!(
        empty(&wdtarget),
        "the workdir was made inside the rootfs, not on the host"
    );

    // A tmpfs submount of the bound directory is read-only through the ro bind, and so is
    // it through `-v /:/host:ro`.
    let vol = env.path("rovol");
    std::fs::create_dir_all(vol.join("sub")).unwrap();
    sh(&format!(
        "mount -t tmpfs -o size=1m tmpfs {}",
        vol.join("sub").display()
    ));
    struct Umount(PathBuf);
    impl Drop for Umount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _u = Umount(vol.join("sub"));
    std::fs::write(vol.join("sub/f"), "x").unwrap();
    std::fs::write(vol.join("top"), "y").unwrap();
    let r = run_probes(
        &env,
        &[
            "--network",
            "none",
            "-v",
            &format!("{}:/host:ro", vol.display()),
        ],
        &[
            "statvfs=/host",
            "statvfs=/host/sub",
            "access-write=/host/sub",
            "open-write=/host/sub/f",
            "open-write=/host/top",
        ],
    );
    expect(&r, "statvfs=/host", &["RO"]);
    expect(&r, "statvfs=/host/sub", &["RO"]);
    for p in [
        "access-write=/host/sub",
        "open-write=/host/sub/f",
        "open-write=/host/top",
    ] {
        expect(&r, p, &["EROFS"]);
    }
    let inhost = format!("/host{}", vol.join("sub").display());
    let r = run_probes(
        &env,
        &["--network", "none", "-v", "/:/host:ro"],
        &[
            &format!("statvfs={inhost}"),
            &format!("open-write={inhost}/f"),
            "access-write=/host/tmp",
        ],
    );
    expect(&r, &format!("statvfs={inhost}"), &["RO"]);
    expect(&r, &format!("open-write={inhost}/f"), &["EROFS"]);
    expect(&r, "access-write=/host/tmp", &["EROFS"]);
    assert_eq!(std::fs::read_to_string(vol.join("sub/f")).unwrap(), "x");
}

/// `cp` never follows a container's link on the host's side (CVE-2019-14271 / CVE-2018-15664
/// class): `-L` resolves in the container, hard links of a `cp -` tar stay inside the
/// destination, a bad tar leaves nothing, and a symlinked destination resolves inside.
#[test]
fn cp_links_resolve_inside_the_container() {
    let env = setup();
    // The host canary the container's links aim at (same absolute path).
    let canary = env.path("canary");
    std::fs::write(&canary, "HOST SECRET\n").unwrap();
    let c = canary.display().to_string();
    let hostdir = env.dir.path().display().to_string();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "hostile",
        "--network",
        "none",
        "busybox",
        "sleep",
        "1000",
    ]);
    env.ok(&[
        "exec", "hostile", "sh", "-c",
        &format!("ln -s {c} /link && ln -s {hostdir} /dirlink && ln -s /etc /to-etc && mkdir /dest && echo kept > /dest/old"),
    ]);
    let out = env.path("out");
    std::fs::create_dir_all(&out).unwrap();
    let o = env.path("out/link");
    // -L: the container has no such file: not found, never the host's canary.
    let r = env.run(&["cp", "-L", "hostile:/link", o.to_str().unwrap()]);
    assert!(!r.status.success());
    assert!(
        String::from_utf8_lossy(&r.stderr).contains("Could not find the file /link"),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    assert!(!o.exists() && !o.is_symlink());
    let r = env.run(&["cp", "-L", "hostile:/link", "-"]);
    assert!(!r.status.success());
    assert!(!r.stdout.windows(11).any(|w| w == b"HOST SECRET"));
    // With the file made inside the container, -L copies the container's file.
    env.ok(&[
        "exec",
        "hostile",
        "sh",
        "-c",
        &format!("mkdir -p {hostdir} && echo container > {c}"),
    ]);
    env.ok(&["cp", "-L", "hostile:/link", o.to_str().unwrap()]);
    assert!(!o.is_symlink());
    assert_eq!(std::fs::read_to_string(&o).unwrap(), "container\n");
    // Without -L the link itself; through a directory link the container's path.
    env.ok(&["cp", "hostile:/link", env.path("out/l2").to_str().unwrap()]);
    assert!(env.path("out/l2").is_symlink());
    env.ok(&[
        "cp",
        "hostile:/dirlink/canary",
        env.path("out/c2").to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read_to_string(env.path("out/c2")).unwrap(),
        "container\n"
    );

    // Host → container through a symlinked destination: lands in the container's /etc.
    let f = env.path("hostfile");
    std::fs::write(&f, "into etc\n").unwrap();
    env.ok(&["cp", f.to_str().unwrap(), "hostile:/to-etc/"]);
    assert_eq!(
        env.ok(&["exec", "hostile", "cat", "/etc/hostfile"]),
        "into etc\n"
    );
    // Onto the link to the canary: replaces the container's file, not the host's.
    env.ok(&["cp", f.to_str().unwrap(), "hostile:/link"]);
    assert_eq!(env.ok(&["exec", "hostile", "cat", &c]), "into etc\n");

    // Hard links in a `cp -` stream (made with python3's tarfile): to the host canary by
    // absolute and climbing paths they fail and leave nothing; internal ones are kept.
    let mk = |name: &str, link: &str| {
        let p = env.path(name);
        sh(&format!(
            "python3 -c \"import tarfile,io\nt=tarfile.open('{}','w')\ni=tarfile.TarInfo('first'); d=b'1\\n'; i.size=len(d); t.addfile(i, io.BytesIO(d))\nl=tarfile.TarInfo('evil'); l.type=tarfile.LNKTYPE; l.linkname='{link}'; t.addfile(l)\nt.close()\"",
            p.display()
        ));
        std::fs::read(p).unwrap()
    };
    for (i, link) in [c.clone(), format!("../../../../../..{c}"), "nosuch".into()]
        .iter()
        .enumerate()
    {
        let t = mk(&format!("bad{i}.tar"), link);
        let r = env.with_stdin(&["cp", "-", "hostile:/dest"], &t);
        assert!(!r.status.success(), "{link}");
        assert_eq!(
            env.ok(&["exec", "hostile", "ls", "-a", "/dest"]),
            ".\n..\nold\n",
            "{link}"
        );
    }
    let t = mk("good.tar", "first");
    let r = env.with_stdin(&["cp", "-", "hostile:/dest"], &t);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let inodes = env.ok(&[
        "exec",
        "hostile",
        "stat",
        "-c",
        "%i %h",
        "/dest/first",
        "/dest/evil",
    ]);
    let l: Vec<&str> = inodes.lines().collect();
    assert_eq!(l[0], l[1]);
    assert!(l[0].ends_with(" 2"), "{inodes}");
    // And back out: the hard link stays a hard link on the host.
    env.ok(&["cp", "hostile:/dest", out.to_str().unwrap()]);
    use std::os::unix::fs::MetadataExt;
    let ino = |p: &str| std::fs::metadata(out.join(p)).unwrap().ino();
    assert_eq!(ino("dest/first"), ino("dest/evil"));
    assert_eq!(
        std::fs::read_to_string(out.join("dest/old")).unwrap(),
        "kept\n"
    );

    assert_eq!(std::fs::read_to_string(&canary).unwrap(), "HOST SECRET\n");
    assert_eq!(std::fs::metadata(&canary).unwrap().nlink(), 1);
    env.ok(&["rm", "-f", "hostile"]);
}
