//! berth-runtime process security, checked from inside real containers (root, real kernel):
//! capability sets, seccomp errnos, rlimits, user/groups, umask, no_new_privs, oom_score_adj,
//! sysctls, hooks, and `spec` output.

use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use testutil::{require_root, unique_name, Bundle};

/// A private state root, removed with any container left in it on drop (also on failure).
struct Runtime {
    root: tempfile::TempDir,
}

impl Runtime {
    fn new() -> Runtime {
        require_root();
        Runtime {
            root: tempfile::Builder::new()
                .prefix("berth-sec-state")
                .tempdir()
                .unwrap(),
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_berth-runtime"))
            .arg("--root")
            .arg(self.root.path())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("spawn berth-runtime")
    }

    /// `run --bundle B ID` for a container that runs to completion.
    fn run_bundle(&self, b: &Bundle) -> Output {
        let id = unique_name("sec");
        self.run(&["run", "--bundle", b.path().to_str().unwrap(), &id])
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Ok(rd) = std::fs::read_dir(self.root.path()) {
            for e in rd.flatten() {
                let id = e.file_name().to_string_lossy().into_owned();
                let _ = self.run(&["delete", "--force", &id]);
            }
        }
    }
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs `script` in a fresh container whose spec `edit` changes; returns (stdout, output).
fn run_script(edit: impl FnOnce(&mut Value), script: &str) -> (String, Output) {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["sh", "-c", script]);
    b.edit(edit);
    let o = rt.run_bundle(&b);
    (out(&o), o)
}

/// The value of `Field:` in /proc/self/status output.
fn field<'a>(text: &'a str, name: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} in {text}"))
        .trim()
}

const CAP_CHOWN: u64 = 1 << 0;
const CAP_KILL: u64 = 1 << 5;
const CAP_NET_BIND_SERVICE: u64 = 1 << 10;
const CAP_NET_RAW: u64 = 1 << 13;
const CAP_SYS_ADMIN: u64 = 1 << 21;

fn hex(mask: u64) -> String {
    format!("{mask:016x}")
}

#[test]
fn capability_sets_match_the_spec() {
    let (text, o) = run_script(
        |s| {
            s["process"]["capabilities"] = json!({
                "bounding": ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_SYS_ADMIN"],
                "effective": ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"],
                "permitted": ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"],
                "inheritable": ["CAP_NET_BIND_SERVICE"],
                "ambient": ["CAP_NET_BIND_SERVICE"]
            });
            s["process"]["noNewPrivileges"] = json!(true);
        },
        "cat /proc/self/status",
    );
    assert!(o.status.success(), "{}", err(&o));
    // uid 0 execs with full file capabilities, but no_new_privs caps the new permitted set at
    // the old one, so every set after execve is exactly the spec's.
    let prm = hex(CAP_KILL | CAP_NET_BIND_SERVICE | CAP_NET_RAW);
    assert_eq!(field(&text, "CapPrm"), prm);
    assert_eq!(field(&text, "CapEff"), prm);
    assert_eq!(
        field(&text, "CapBnd"),
        hex(CAP_KILL | CAP_NET_BIND_SERVICE | CAP_NET_RAW | CAP_SYS_ADMIN)
    );
    assert_eq!(field(&text, "CapInh"), hex(CAP_NET_BIND_SERVICE));
    assert_eq!(field(&text, "CapAmb"), hex(CAP_NET_BIND_SERVICE));
}

#[test]
fn unknown_capability_is_ignored_with_a_warning() {
    // Like runc: a capability name this build does not know is skipped, not fatal.
    let (text, o) = run_script(
        |s| {
            s["process"]["capabilities"] = json!({
                "bounding": ["CAP_KILL", "CAP_FROM_THE_FUTURE"],
                "effective": ["CAP_KILL"],
                "permitted": ["CAP_KILL"]
            });
        },
        "grep CapBnd /proc/self/status",
    );
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(field(&text, "CapBnd"), hex(CAP_KILL));
    assert!(
        err(&o).contains("CAP_FROM_THE_FUTURE"),
        "no warning: {}",
        err(&o)
    );
}

#[test]
fn non_root_capability_sets_survive_exec_exactly() {
    // For a non-root user execve recomputes: permitted = effective = ambient (no file caps).
    let (text, o) = run_script(
        |s| {
            s["process"]["user"] = json!({"uid": 1000, "gid": 1000});
            s["process"]["capabilities"] = json!({
                "bounding": ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_CHOWN"],
                "effective": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "permitted": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "inheritable": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "ambient": ["CAP_KILL", "CAP_NET_BIND_SERVICE"]
            });
        },
        "cat /proc/self/status",
    );
    assert!(o.status.success(), "{}", err(&o));
    let want = hex(CAP_KILL | CAP_NET_BIND_SERVICE);
    assert_eq!(field(&text, "CapEff"), want);
    assert_eq!(field(&text, "CapPrm"), want);
    assert_eq!(field(&text, "CapAmb"), want);
    assert_eq!(
        field(&text, "CapBnd"),
        hex(CAP_KILL | CAP_NET_BIND_SERVICE | CAP_CHOWN)
    );
}

#[test]
fn dropped_capability_is_really_gone() {
    let script = "touch /tmp/f && chown 1234 /tmp/f && echo chowned; grep CapEff /proc/self/status";
    let caps = |list: &[&str]| json!({"bounding": list, "effective": list, "permitted": list});
    let with = |s: &mut Value| {
        s["root"]["readonly"] = json!(false);
        s["process"]["capabilities"] = caps(&["CAP_KILL", "CAP_CHOWN"]);
    };
    let (text, o) = run_script(with, script);
    assert!(text.contains("chowned"), "control: {text} {}", err(&o));
    assert!(text.contains(&hex(CAP_KILL | CAP_CHOWN)), "{text}");

    let without = |s: &mut Value| {
        s["root"]["readonly"] = json!(false);
        s["process"]["capabilities"] = caps(&["CAP_KILL"]);
    };
    let (text, o) = run_script(without, script);
    assert!(
        !text.contains("chowned"),
        "chown worked without CAP_CHOWN: {text}"
    );
    assert!(
        err(&o).contains("Operation not permitted"),
        "stderr: {}",
        err(&o)
    );
}

fn seccomp_mkdir(errno: Option<u32>) -> impl FnOnce(&mut Value) {
    move |s| {
        s["root"]["readonly"] = json!(false);
        let mut rule = json!({"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"});
        if let Some(e) = errno {
            rule["errnoRet"] = json!(e);
        }
        s["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [rule, {"names": ["no_such_syscall_for_berth"], "action": "SCMP_ACT_KILL"}]
        });
    }
}

#[test]
fn seccomp_denies_mkdir_with_default_and_custom_errno() {
    let script = "mkdir /tmp/d; echo rc=$?; grep Seccomp: /proc/self/status";
    let (text, o) = run_script(seccomp_mkdir(None), script);
    assert!(text.contains("rc=1"), "{text} {}", err(&o));
    assert!(err(&o).contains("Operation not permitted"), "{}", err(&o));
    assert_eq!(field(&text, "Seccomp"), "2");

    // errnoRet 28 = ENOSPC.
    let (text, o) = run_script(seccomp_mkdir(Some(28)), script);
    assert!(text.contains("rc=1"), "{text} {}", err(&o));
    assert!(err(&o).contains("No space left on device"), "{}", err(&o));

    // Without the filter, mkdir works (the test can fail).
    let (text, o) = run_script(|s| s["root"]["readonly"] = json!(false), script);
    assert!(text.contains("rc=0"), "{text} {}", err(&o));
    assert_eq!(field(&text, "Seccomp"), "0");
}

#[test]
fn seccomp_notify_without_listener_is_a_clear_error() {
    let (_, o) = run_script(
        |s| {
            s["linux"]["seccomp"] = json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]
            })
        },
        "true",
    );
    assert!(!o.status.success());
    assert!(
        err(&o).contains("SCMP_ACT_NOTIFY needs linux.seccomp.listenerPath"),
        "{}",
        err(&o)
    );
}

#[test]
fn rlimits_user_groups_umask_nnp_and_oom_score_adj() {
    let (text, o) = run_script(
        |s| {
            s["process"]["user"] =
                json!({"uid": 1000, "gid": 1001, "additionalGids": [2000, 3000], "umask": 23});
            s["process"]["rlimits"] = json!([
                {"type": "RLIMIT_NOFILE", "soft": 321, "hard": 654},
                {"type": "RLIMIT_NPROC", "soft": 77, "hard": 77}
            ]);
            s["process"]["noNewPrivileges"] = json!(true);
            s["process"]["oomScoreAdj"] = json!(345);
        },
        "echo nofile=$(ulimit -n) hard=$(ulimit -Hn) nproc=$(ulimit -u); id; echo umask=$(umask); \
         cat /proc/self/status; echo adj=$(cat /proc/self/oom_score_adj)",
    );
    assert!(o.status.success(), "{}", err(&o));
    assert!(text.contains("nofile=321 hard=654 nproc=77"), "{text}");
    assert!(
        text.contains("uid=1000 gid=1001 groups=2000,3000"),
        "{text}"
    );
    assert!(text.contains("umask=0027"), "{text}");
    assert_eq!(field(&text, "NoNewPrivs"), "1");
    assert!(text.contains("adj=345"), "{text}");
}

#[test]
fn no_new_privileges_false_keeps_the_flag_clear_and_still_loads_seccomp() {
    // Non-root without NNP: the filter must be loaded before the capabilities are dropped.
    let (text, o) = run_script(
        |s| {
            s["process"]["noNewPrivileges"] = json!(false);
            s["process"]["user"] = json!({"uid": 65534, "gid": 65534});
            seccomp_mkdir(Some(28))(s);
        },
        "mkdir /tmp/d; cat /proc/self/status",
    );
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(field(&text, "NoNewPrivs"), "0");
    assert_eq!(field(&text, "Seccomp"), "2");
    assert!(err(&o).contains("No space left on device"), "{}", err(&o));
}

#[test]
fn sysctls_apply_in_the_containers_namespaces() {
    let host_fwd = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    let host_shm = std::fs::read_to_string("/proc/sys/kernel/shm_rmid_forced").unwrap();
    let (text, o) = run_script(
        |s| {
            s["linux"]["sysctl"] = json!({
                "net.ipv4.ip_forward": "1",
                "kernel.shm_rmid_forced": "1"
            });
        },
        "echo fwd=$(cat /proc/sys/net/ipv4/ip_forward) shm=$(cat /proc/sys/kernel/shm_rmid_forced)",
    );
    assert!(o.status.success(), "{}", err(&o));
    assert!(text.contains("fwd=1 shm=1"), "{text}");
    // The host's values are untouched.
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap(),
        host_fwd
    );
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/shm_rmid_forced").unwrap(),
        host_shm
    );
}

#[test]
fn non_namespaced_sysctl_is_refused() {
    let (_, o) = run_script(
        |s| s["linux"]["sysctl"] = json!({"vm.swappiness": "10"}),
        "true",
    );
    assert!(!o.status.success());
    assert!(err(&o).contains("vm.swappiness"), "{}", err(&o));
}

fn hook(script: &str) -> Value {
    json!({"path": "/bin/busybox", "args": ["sh", "-c", script], "timeout": 20})
}

#[test]
fn prestart_and_poststop_hooks_get_the_state() {
    let dir = tempfile::tempdir().unwrap();
    let pre = dir.path().join("prestart.json");
    let post = dir.path().join("poststop.json");
    let (_, o) = run_script(
        |s| {
            s["hooks"] = json!({
                "prestart": [hook(&format!("cat > {}", pre.display()))],
                "poststop": [hook(&format!("cat > {}", post.display()))]
            });
        },
        "true",
    );
    assert!(o.status.success(), "{}", err(&o));
    // runc reports "creating" to prestart hooks (they run inside `create`).
    for (file, status) in [(&pre, "creating"), (&post, "stopped")] {
        let text = std::fs::read_to_string(file)
            .unwrap_or_else(|e| panic!("{} not written: {e}", file.display()));
        let st: Value = serde_json::from_str(&text).unwrap();
        assert!(st["id"].as_str().unwrap().starts_with("sec-"), "{st}");
        assert_eq!(st["status"], status, "{}: {st}", file.display());
        assert!(st["bundle"].as_str().is_some(), "{st}");
        assert!(st["ociVersion"].as_str().is_some(), "{st}");
    }
}

#[test]
fn failing_prestart_hook_fails_create_and_leaves_nothing() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["sleep", "100"]);
    b.edit(|s| s["hooks"] = json!({"prestart": [hook("echo hook says no >&2; exit 5")]}));
    let id = unique_name("sec-hookfail");
    let o = rt.run(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    assert!(
        !o.status.success(),
        "create succeeded despite the failing hook"
    );
    assert!(err(&o).contains("hook says no"), "{}", err(&o));
    assert!(!rt.root.path().join(&id).exists(), "state left behind");
    let st = rt.run(&["state", &id]);
    assert!(!st.status.success(), "container still exists");
    for ctl in ["memory", "pids", "cpu"] {
        let dir = Path::new("/sys/fs/cgroup")
            .join(ctl)
            .join("berth")
            .join(&id);
        assert!(!dir.exists(), "cgroup {} left", dir.display());
    }
}

#[test]
fn spec_writes_a_valid_runc_like_config() {
    require_root();
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_berth-runtime"))
        .args(["spec", "--bundle", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", err(&o));
    let text = std::fs::read_to_string(dir.path().join("config.json")).unwrap();
    let spec: oci_spec::runtime::Spec = serde_json::from_str(&text).unwrap();
    assert_eq!(spec.root().as_ref().unwrap().path(), Path::new("rootfs"));
    let ours: Value = serde_json::from_str(&text).unwrap();

    // Same document as runc's (when runc is installed), apart from the hostname.
    let runc_dir = tempfile::tempdir().unwrap();
    match Command::new("runc")
        .arg("spec")
        .current_dir(runc_dir.path())
        .output()
    {
        Ok(r) if r.status.success() => {
            let text = std::fs::read_to_string(runc_dir.path().join("config.json")).unwrap();
            let mut theirs: Value = serde_json::from_str(&text).unwrap();
            theirs["hostname"] = json!("berth");
            assert_eq!(ours, theirs);
        }
        _ => eprintln!("runc not installed: skipping the comparison with `runc spec`"),
    }

    // A second `spec` refuses to overwrite.
    let again = Command::new(env!("CARGO_BIN_EXE_berth-runtime"))
        .args(["spec", "--bundle", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!again.status.success());
}

#[test]
fn features_document_is_valid() {
    require_root();
    let o = Command::new(env!("CARGO_BIN_EXE_berth-runtime"))
        .arg("features")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", err(&o));
    let f: oci_spec::runtime::Features = serde_json::from_slice(&o.stdout).unwrap();
    let seccomp = f.linux().as_ref().unwrap().seccomp().as_ref().unwrap();
    assert_eq!(seccomp.enabled(), &Some(true));
}

#[test]
fn io_priority_and_scheduler_apply_to_the_process() {
    let (text, o) = run_script(
        |s| {
            s["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_BE", "priority": 6});
            s["process"]["scheduler"] = json!({"policy": "SCHED_BATCH", "nice": 9});
        },
        // /proc/PID/stat: field 19 is nice, field 41 the policy (3 = SCHED_BATCH).
        "ionice -p $$; echo; cut -d' ' -f19,41 /proc/$$/stat",
    );
    assert!(o.status.success(), "{}", err(&o));
    assert!(text.contains("best-effort: prio 6"), "{text}");
    assert!(text.contains("\n9 3"), "{text}");
}

#[test]
fn personality_linux32_shows_a_32_bit_machine() {
    let (text, o) = run_script(
        |s| s["linux"]["personality"] = json!({"domain": "LINUX32"}),
        "uname -m",
    );
    assert!(o.status.success(), "{}", err(&o));
    // On x86_64 a PER_LINUX32 process sees i686; the host itself is 64-bit.
    assert_eq!(std::env::consts::ARCH, "x86_64");
    assert_eq!(text.trim(), "i686");
}

#[test]
fn user_and_capabilities_inside_a_user_namespace() {
    let (text, o) = run_script(
        |s| {
            s["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(json!({"type": "user"}));
            s["linux"]["uidMappings"] =
                json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
            s["linux"]["gidMappings"] =
                json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
            s["process"]["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [2000]});
            s["process"]["capabilities"] = json!({
                "bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"],
                "inheritable": ["CAP_KILL"], "ambient": ["CAP_KILL"]
            });
        },
        "id; cat /proc/self/status",
    );
    assert!(o.status.success(), "{}", err(&o));
    assert!(text.contains("uid=1000 gid=1000 groups=2000"), "{text}");
    // Real, effective, saved and filesystem ids all switched.
    let uids: Vec<&str> = field(&text, "Uid").split_whitespace().collect();
    assert_eq!(uids, ["1000"; 4]);
    assert_eq!(field(&text, "CapEff"), hex(CAP_KILL));
    assert_eq!(field(&text, "CapBnd"), hex(CAP_KILL));
}
