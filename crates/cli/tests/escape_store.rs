//! Escape probes (issue 11, items 3, 4 and 6), each tried for real against the kernel:
//! - the store from an unprivileged host user (the CVE-2021-41091 class: moby's fix made the
//!   data root 0710 and its tests stat the modes; these also try the reads and the setuid
//!   binary a container wrote, as user 65534 through setpriv);
//! - the host's session keyring from containers whose seccomp allows keyctl (runc's
//!   per-container `_ses.<id>` keyring; the probe is testutil's static C program);
//! - the host's cgroup tree through the `name=systemd` and unified hierarchies.
//!
//! Probes only read (or exec a copy of busybox): nothing on the host is written. Containers
//! run with `--network none`: none of this needs a bridge, and each root would leave one.

mod common;

use common::{sh, Env};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("stat {}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// Runs `script` with sh as uid/gid 65534 (no supplementary groups): (exit code, output).
fn as_nobody(script: &str) -> (i32, String) {
    let o = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "/bin/sh",
            "-c",
            script,
        ])
        .output()
        .expect("setpriv (util-linux)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.code().unwrap_or(-1), text)
}

/// An Env whose own temp dir does not protect the store: traversable by everyone, as
/// /var/lib is, so only berth's modes stand between user 65534 and the root.
fn open_env() -> Env {
    let env = Env::new();
    std::fs::set_permissions(env.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    // The probe user can run things and read a file here: the denials below are berth's.
    std::fs::write(env.path("control"), "readable").unwrap();
    let (code, out) = as_nobody(&format!("cat {}", env.path("control").display()));
    assert_eq!((code, out.as_str()), (0, "readable"), "control read failed");
    env
}

/// The container's rw layer dir (overlay2/<cache-id> holding the file `rel` in its diff).
fn layer_with(env: &Env, rel: &str) -> PathBuf {
    for e in std::fs::read_dir(env.root().join("overlay2"))
        .unwrap()
        .flatten()
    {
        if e.path().join("diff").join(rel).exists() {
            return e.path();
        }
    }
    panic!("no layer holds {rel}");
}

/// Waits (bounded) until the container's log holds `needle`.
fn wait_log(env: &Env, id: &str, needle: &str) {
    for _ in 0..200 {
        if env.ok(&["logs", id]).contains(needle) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    panic!("log of {id} never showed {needle:?}");
}

/// Asserts user 65534 cannot do `script` (a read or an exec): it fails with a permission error.
fn denied(script: &str) {
    let (code, out) = as_nobody(script);
    assert!(
        code != 0 && out.contains("ermission denied"),
        "user 65534 was not denied `{script}`: exit {code}: {out}"
    );
}

fn check_safe_modes(env: &Env, id: &str) {
    let root = env.root();
    let c = root.join("containers").join(id);
    for (p, want) in [
        (root.clone(), 0o710),
        (root.join("containers"), 0o710),
        (c.clone(), 0o710),
        (c.join("config.v2.json"), 0o600),
        (c.join(format!("{id}-json.log")), 0o640),
        (root.join("overlay2"), 0o710),
        (root.join("image"), 0o700),
        (root.join("network"), 0o750),
        (env.runroot(), 0o700),
    ] {
        assert_eq!(mode(&p), want, "mode of {}", p.display());
    }
    assert_eq!(mode(&layer_with(env, "suid")), 0o710);
}

fn check_denied(env: &Env, id: &str) {
    let c = env.root().join("containers").join(id);
    denied(&format!("cat {}", c.join("config.v2.json").display()));
    denied(&format!(
        "cat {}",
        c.join(format!("{id}-json.log")).display()
    ));
    denied(&format!("ls {}", env.root().display()));
    denied(&format!("ls {}", env.root().join("overlay2").display()));
    denied(&format!("ls {}", env.runroot().display()));
    let layer = layer_with(env, "suid");
    denied(&format!("cat {}", layer.join("diff/secret-file").display()));
    // The setuid-root busybox the container wrote: exec must fail (before the fix it ran
    // with euid 0).
    denied(&format!("{} id", layer.join("diff/suid").display()));
}

/// Starts the probe container: a secret in its environment and its log, a setuid-root copy
/// of busybox and a private file in its layer.
fn start_victim(env: &Env, umask: Option<&str>) -> String {
    let args = [
        "run",
        "-d",
        "--network",
        "none",
        "-e",
        "SECRET=hunter2-env",
        "busybox",
        "sh",
        "-c",
        "cp /bin/busybox /suid && chmod 4755 /suid && echo hunter2 > /secret-file && \
         echo hunter2-log; exec sleep 1000",
    ];
    let id = match umask {
        // An engine running under umask 000 must not create anything looser.
        Some(u) => {
            let c = env.cmd(&args);
            let o = Command::new("/bin/sh")
                .args(["-c", &format!("umask {u}; exec \"$@\""), "sh"])
                .arg(c.get_program())
                .args(c.get_args())
                .output()
                .unwrap();
            assert!(o.status.success(), "{o:?}");
            String::from_utf8(o.stdout).unwrap()
        }
        None => env.ok(&args),
    };
    let id = id.trim().to_string();
    wait_log(env, &id, "hunter2-log");
    id
}

#[test]
fn store_is_closed_to_other_users_even_under_umask_000() {
    let env = open_env();
    let u = format!(
        "umask 000; exec {} --root {} --runroot {} import {} busybox",
        common::BERTH,
        env.root().display(),
        env.runroot().display(),
        env.busybox_tar().display()
    );
    sh(&u);
    let id = start_victim(&env, Some("000"));
    check_safe_modes(&env, &id);
    check_denied(&env, &id);
    // Nothing that runs the container needs more: a non-root container user, exec as one,
    // logs, a one-off run.
    assert_eq!(
        env.ok(&["exec", "--user", "65534", &id, "cat", "/etc/hostname"])
            .trim(),
        &id[..12]
    );
    let out = env.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--user",
        "65534:65534",
        "busybox",
        "sh",
        "-c",
        "id -u; stat -c %a /",
    ]);
    // The container's "/" (the upper dir's mode) is not loosened by the umask either.
    assert_eq!(out, "65534\n755\n");
    env.ok(&["rm", "-f", &id]);
}

/// What earlier versions made: dirs 0755, records and logs 0644, an open runroot.
fn loosen(env: &Env, id: &str) {
    let c = env.root().join("containers").join(id);
    for d in [
        env.root(),
        env.root().join("containers"),
        c.clone(),
        env.root().join("overlay2"),
        layer_with(env, "suid"),
        env.root().join("image"),
        env.root().join("network"),
        env.runroot(),
    ] {
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    for f in [c.join("config.v2.json"), c.join(format!("{id}-json.log"))] {
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
}

#[test]
fn a_root_left_open_by_an_older_berth_is_repaired_on_next_use() {
    let env = open_env();
    env.import_busybox();
    let id = start_victim(&env, None);
    // Any command repairs it: a container command or an image command.
    for cmd in ["ps", "images"] {
        loosen(&env, &id);
        // The probe works against such a root: the reads succeed.
        let c = env.root().join("containers").join(&id);
        let (code, out) = as_nobody(&format!("cat {}", c.join("config.v2.json").display()));
        assert!(code == 0 && out.contains("hunter2-env"), "{code}: {out}");
        env.ok(&[cmd]);
        check_safe_modes(&env, &id);
        check_denied(&env, &id);
    }
    env.ok(&["rm", "-f", &id]);
}

// ---- item 4: session keyring ----

#[test]
fn containers_do_not_possess_the_callers_session_keyring() {
    let env = Env::new();
    env.import_busybox();
    let probe = env.path("probe");
    testutil::build_keyring_probe(&probe);
    // A fresh session keyring for this thread (berth is spawned from it and inherits it),
    // holding a secret as a host session's would.
    let desc = format!("berth-escape-{}", std::process::id());
    let serial = testutil::session_key(&desc).to_string();
    // Control: the probe finds the key from this thread's session.
    let o = Command::new(&probe)
        .args([&serial, &desc])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "control probe: {o:?}");

    let vol = format!("{}:/probe:ro", probe.display());
    let check = |what: &str, out: std::process::Output, id_hint: &str| {
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(0), "{what}: {text}");
        assert!(
            text.contains("session keyring;") && text.contains(&format!(";_ses.{id_hint}")),
            "{what}: not in the container's keyring: {text}"
        );
        assert!(!text.contains(&desc), "{what}: {text}");
    };
    for opts in [
        &["--privileged"][..],
        &["--security-opt", "seccomp=unconfined"][..],
    ] {
        // run: the init's keyring.
        let mut args = vec!["run", "--rm", "--network", "none", "-v", &vol];
        args.extend_from_slice(opts);
        args.extend_from_slice(&["busybox", "/probe", &serial, &desc]);
        let o = env.cmd(&args).output().unwrap();
        check(&format!("run {opts:?}"), o, "");
        // exec: the exec'd process joins the container's keyring, not the caller's.
        let mut args = vec!["run", "-d", "--network", "none", "-v", &vol];
        args.extend_from_slice(opts);
        args.extend_from_slice(&["busybox", "sleep", "1000"]);
        let id = env.ok(&args).trim().to_string();
        let o = env
            .cmd(&["exec", &id, "/probe", &serial, &desc])
            .output()
            .unwrap();
        check(&format!("exec {opts:?}"), o, &id);
        if opts[0] == "--privileged" {
            // /proc/keys is not masked there. It lists every key uid 0 may view (the key's
            // owner-view bit: any root process of the host sees its description, in Docker's
            // privileged containers too), but not as possessed: no read, as the probe showed.
            let keys = env.ok(&["exec", &id, "cat", "/proc/keys"]);
            assert!(keys.contains(&format!("_ses.{id}")), "{keys}");
        }
        env.ok(&["rm", "-f", &id]);
    }
}

// ---- item 6: cgroup hierarchies ----

/// The root of the cgroup mount at `mp` as the container sees it (mountinfo field 4).
fn mount_root(mountinfo: &str, mp: &str) -> Option<String> {
    mountinfo.lines().find_map(|l| {
        let f: Vec<&str> = l.split(' ').collect();
        (f.len() > 4 && f[4] == mp).then(|| f[3].to_string())
    })
}

#[test]
fn named_and_unified_hierarchies_show_only_the_containers_cgroup() {
    let env = Env::new();
    env.import_busybox();
    let host_systemd = Path::new("/sys/fs/cgroup/systemd/cgroup.procs").exists();
    let host_unified = Path::new("/sys/fs/cgroup/unified/cgroup.procs").exists();
    assert!(
        host_systemd || host_unified,
        "this test wants a hybrid host (name=systemd or unified mounts)"
    );
    for ns in ["host", "private"] {
        let id = env
            .ok(&[
                "run",
                "-d",
                "--network",
                "none",
                "--cgroupns",
                ns,
                "busybox",
                "sleep",
                "1000",
            ])
            .trim()
            .to_string();
        let mi = env.ok(&["exec", &id, "cat", "/proc/self/mountinfo"]);
        for (present, mp) in [
            (host_systemd, "/sys/fs/cgroup/systemd"),
            (host_unified, "/sys/fs/cgroup/unified"),
        ] {
            if !present {
                continue;
            }
            let root = mount_root(&mi, mp).unwrap_or_else(|| panic!("{mp} not mounted: {mi}"));
            // Without a cgroup namespace the container's own group is bound; with one the
            // kernel shows the namespace root. Never the host's root.
            let want = if ns == "host" {
                format!("/berth/{id}")
            } else {
                "/".to_string()
            };
            assert_eq!(root, want, "{ns} cgroupns: root of {mp}");
            let ls = env.ok(&["exec", &id, "ls", "-a", mp]);
            assert!(!ls.contains("release_agent"), "{mp} ({ns}): {ls}");
            assert!(
                !ls.contains("berth"),
                "{mp} ({ns}) shows other groups: {ls}"
            );
            // Only the container's processes are in it (its sleep and this cat).
            let procs = env.ok(&["exec", &id, "cat", &format!("{mp}/cgroup.procs")]);
            assert!(
                procs.split_whitespace().count() <= 3,
                "{mp} ({ns}) lists others: {procs}"
            );
            let host_dir = Path::new(mp).join("berth").join(&id);
            assert!(host_dir.exists(), "{} was not made", host_dir.display());
        }
        env.ok(&["rm", "-f", &id]);
        for mp in ["/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified"] {
            let d = Path::new(mp).join("berth").join(&id);
            assert!(!d.exists(), "{} left behind", d.display());
        }
    }
}
