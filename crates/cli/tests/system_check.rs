//! `berth system check [--repair]` and `berth system reset` on the real kernel: each kind of
//! leftover a crash leaves is planted by hand next to a running container, found, repaired,
//! and the running container keeps everything it owns. Subnets 10.219.7/8.0/24.

mod common;
use common::{sh, Env};
use std::collections::BTreeSet;
use std::path::Path;

/// The tests here run one at a time: a repair of one removes what the other planted in the
/// shared nft table (a registration of a bridge that is gone is any root's to remove).
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Resets the root when the test ends, passed or not: no bridge, element, cgroup or mount of
/// a failed test is left on the host.
struct ResetOnDrop<'a>(&'a Env);

impl Drop for ResetOnDrop<'_> {
    fn drop(&mut self) {
        let _ = self.0.cmd(&["system", "reset", "-f"]).output();
    }
}

fn kinds(json_lines: &str) -> BTreeSet<String> {
    json_lines
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["Kind"].as_str().unwrap().to_string()
        })
        .collect()
}

/// Makes a created container look a minute old (a container created in the last seconds may
/// be a `run` in progress, whose things the check leaves alone).
fn backdate(root: &Path, id: &str) {
    let p = root.join("containers").join(id).join("config.v2.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    v["Created"] = "2020-01-01T00:00:00Z".into();
    std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
}

/// The check's findings, minus registrations of other roots' bridges that are gone (the check
/// reports those of any root: the `ip berth` table is shared, and other tests on this host may
/// leave some, and so does the other test here) but `mine`; asserts the exit code matches.
fn ours(env: &Env, mine: &str) -> Vec<String> {
    let o = env.run(&["system", "check", "--format", "json"]);
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    let all: Vec<String> = out.lines().map(str::to_string).collect();
    assert_eq!(
        o.status.code(),
        Some(if all.is_empty() { 0 } else { 1 }),
        "{out}"
    );
    all.into_iter()
        .filter(|l| !l.contains("registers bridge") || l.contains(mine))
        .collect()
}

fn mounted(p: &Path) -> bool {
    let want = p.to_string_lossy().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(want.as_str()))
}

fn mounts_under(p: &Path) -> Vec<String> {
    let want = p.to_string_lossy().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.split(' ').nth(4).is_some_and(|m| m.starts_with(&want)))
        .map(str::to_string)
        .collect()
}

fn bridge_ports(br: &str) -> BTreeSet<String> {
    std::fs::read_dir(format!("/sys/class/net/{br}/brif"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn nft_table() -> String {
    std::process::Command::new("nft")
        .args(["list", "table", "ip", "berth"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

#[test]
fn check_finds_and_repairs_each_leak_beside_a_running_container() {
    let _serial = serial();
    let env = Env::new();
    let _reset = ResetOnDrop(&env);
    env.import_busybox();
    let (root, run) = (env.root(), env.runroot());
    let br = "brchk2197";
    env.ok(&[
        "network",
        "create",
        "--subnet",
        "10.219.7.0/24",
        "-o",
        &format!("com.docker.network.bridge.name={br}"),
        "chk",
    ]);
    let live = env
        .ok(&[
            "run",
            "-d",
            "--name",
            "live",
            "--network",
            "chk",
            "-p",
            "127.0.0.1::80",
            "busybox",
            "sleep",
            "1000",
        ])
        .trim()
        .to_string();
    // Clean to begin with.
    assert_eq!(ours(&env, "brgone2199"), Vec::<String>::new());

    let live_ip = env
        .ok(&[
            "inspect",
            "-f",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
            "live",
        ])
        .trim()
        .to_string();
    let live_ports = bridge_ports(br);
    assert_eq!(live_ports.len(), 1);
    let live_merged = root.join("overlay2").join(&live).join("merged");
    assert!(mounted(&live_merged));
    let live_cg = format!("/sys/fs/cgroup/memory/berth/{live}");
    assert!(Path::new(&live_cg).exists());
    assert!(nft_table().contains(&format!("{live_ip} . {live_ip}")));

    // A stopped container: a stray overlay mount on its merged dir, its /dev/shm left mounted
    // in its run dir, its cgroup dirs, its netns bind mount.
    let dead = env
        .ok(&["create", "--name", "dead", "busybox", "true"])
        .trim()
        .to_string();
    backdate(&root, &dead);
    let ov = root.join("overlay2");
    sh(&format!(
        "cd {} && mount -t overlay overlay -o lowerdir=$(cat {dead}/lower),upperdir={dead}/diff,workdir={dead}/work {dead}/merged",
        ov.display()
    ));
    let shm = run.join("containers").join(&dead).join("shm");
    std::fs::create_dir_all(&shm).unwrap();
    sh(&format!("mount -t tmpfs shm {}", shm.display()));
    for h in ["memory", "pids", "unified"] {
        std::fs::create_dir_all(format!("/sys/fs/cgroup/{h}/berth/{dead}")).unwrap();
    }
    let ns = run.join("netns").join(&dead);
    std::fs::write(&ns, b"").unwrap();
    sh(&format!("unshare --net={} true", ns.display()));
    // A veth on this root's bridge with no endpoint.
    sh(&format!(
        "ip link add vethchk219 type veth peer name vethchk219p && ip link set vethchk219 master {br}"
    ));
    // nft elements for an address of this root's subnet with no endpoint.
    sh("nft add element ip berth hairpin '{ 10.219.7.99 . 10.219.7.99 }'");
    sh("nft add element ip berth ports_any '{ tcp . 39219 : 10.219.7.99 . 80 }'");
    // An IPAM address with no endpoint.
    for e in std::fs::read_dir(root.join("network/networks")).unwrap() {
        let p = e.unwrap().path();
        let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        if v["name"] == "chk" {
            v["pool"]["allocated"]
                .as_array_mut()
                .unwrap()
                .push("10.219.7.77".into());
            // An endpoint of the stopped container (as a stop killed midway leaves it): the
            // live one's, renamed.
            let mut ep = v["endpoints"][&live].clone();
            ep["id"] = "9".repeat(64).into();
            ep["container_id"] = dead.clone().into();
            ep["ipv4"] = "10.219.7.88".into();
            ep["host_ifname"] = "vethnone219".into();
            ep["ports"] = serde_json::json!([]);
            v["endpoints"][&dead] = ep;
            v["pool"]["allocated"]
                .as_array_mut()
                .unwrap()
                .push("10.219.7.88".into());
            std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
        }
    }
    // A record whose layer dir is gone.
    let nolayer = env
        .ok(&["create", "--name", "nolayer", "busybox", "true"])
        .trim()
        .to_string();
    backdate(&root, &nolayer);
    std::fs::remove_dir_all(ov.join(&nolayer)).unwrap();
    // A record dir an interrupted create left without its record, and the files of a removal
    // that was killed (both a while ago).
    let half = root.join("containers").join("c".repeat(64));
    let removed = root
        .join("containers")
        .join(format!(".removed-{}", "d".repeat(64)));
    // The run dir and runtime state of a container that is gone.
    let ghost = "b".repeat(64);
    let ghost_run = run.join("containers").join(&ghost);
    let ghost_rt = run.join("runtime").join(&ghost);
    for d in [&half, &removed, &ghost_run, &ghost_rt] {
        std::fs::create_dir_all(d).unwrap();
        sh(&format!("touch -d '1 hour ago' {}", d.display()));
    }
    // A name reserved by a create that died (its flock is free, its container has no record).
    std::fs::write(root.join("names/ghost219"), "f".repeat(64)).unwrap();
    // A bridge registration whose bridge is gone.
    sh(r#"nft add element ip berth bridges '{ "brgone2199" }'"#);
    sh(r#"nft add element ip berth same '{ "brgone2199" . "brgone2199" }'"#);
    // An image whose layer is gone.
    let tiny = env.path("tiny");
    std::fs::create_dir_all(&tiny).unwrap();
    std::fs::write(tiny.join("f"), b"x").unwrap();
    sh(&format!(
        "tar -C {} -cf {}.tar .",
        tiny.display(),
        tiny.display()
    ));
    env.ok(&["import", &format!("{}.tar", tiny.display()), "tiny"]);
    let chain = env.ok(&[
        "image",
        "inspect",
        "-f",
        "{{index .RootFS.Layers 0}}",
        "tiny",
    ]);
    let meta = root.join("image/overlay2");
    let cache = std::fs::read_to_string(
        meta.join("layerdb/sha256")
            .join(chain.trim().trim_start_matches("sha256:"))
            .join("cache-id"),
    )
    .unwrap();
    std::fs::remove_dir_all(ov.join(cache.trim())).unwrap();
    // A layer dir nothing references, a half-made layer and image operation of a pull.
    std::fs::create_dir_all(ov.join("e".repeat(64)).join("diff")).unwrap();
    std::fs::create_dir_all(ov.join(".tmp-0123456789abcdef/diff")).unwrap();
    let op = meta.join("tmp/op-1-dead");
    std::fs::create_dir_all(&op).unwrap();
    std::fs::write(op.join("lock"), b"").unwrap();
    std::fs::write(op.join("journal"), b"").unwrap();

    let (out, _) = env.code(&["system", "check", "--format", "json"], 1);
    let found = kinds(&out);
    for k in [
        "mount",
        "cgroup",
        "netns",
        "veth",
        "nft",
        "ipam",
        "container",
        "layer",
        "image",
    ] {
        assert!(found.contains(k), "no {k} in {out}");
    }
    assert!(out.contains(&format!("{dead}/merged")), "{out}");
    assert!(out.contains("vethchk219"), "{out}");
    assert!(out.contains("10.219.7.77"), "{out}");
    assert!(out.contains(&format!("chk/{}", &dead[..12])), "{out}");
    assert!(out.contains("brgone2199"), "{out}");
    assert!(out.contains(&"c".repeat(64)[..12]), "{out}");
    assert!(out.contains(".removed-"), "{out}");
    assert!(out.contains("name ghost219"), "{out}");
    assert!(
        out.contains(&format!("{} (runtime state)", &ghost[..12])),
        "{out}"
    );
    assert!(
        !out.contains(&live[..12]),
        "the live container is reported: {out}"
    );
    // The table lists them too, with Docker-like columns; nothing was repaired.
    let (table, err) = env.code(&["system", "check"], 1);
    assert!(table.starts_with("KIND"), "{table}");
    assert!(table.lines().next().unwrap().contains("ACTION"));
    assert!(err.contains("--repair"), "{err}");
    assert!(mounted(&ov.join(&dead).join("merged")));

    // A store lock left marked by a holder that died (checked on its own: opening the store
    // to repair anything sweeps it).
    std::fs::write(meta.join(".lock"), b"1").unwrap();
    let (out, _) = env.code(&["system", "check", "--format", "json"], 1);
    assert!(kinds(&out).contains("lock"), "{out}");

    let (out, _) = env.code(&["system", "check", "--repair"], 0);
    assert!(out.contains("repaired"), "{out}");
    assert!(!out.contains("failed"), "{out}");

    // Gone: every leftover.
    assert!(!mounted(&ov.join(&dead).join("merged")));
    assert!(!mounted(&shm));
    assert!(!Path::new(&format!("/sys/fs/cgroup/memory/berth/{dead}")).exists());
    assert!(!ns.exists());
    assert!(!Path::new("/sys/class/net/vethchk219").exists());
    let t = nft_table();
    assert!(!t.contains("10.219.7.99"), "{t}");
    assert!(!t.contains("brgone2199"), "{t}");
    assert!(!half.exists() && !removed.exists());
    assert!(!root.join("names/ghost219").exists());
    assert!(!ghost_run.exists() && !ghost_rt.exists());
    assert!(!ov.join("e".repeat(64)).exists());
    assert!(!ov.join(".tmp-0123456789abcdef").exists());
    assert!(!op.exists());
    assert!(!env.ok(&["ps", "-a"]).contains("nolayer"));
    assert!(!env.ok(&["images"]).contains("tiny"));
    let net = env.ok(&["network", "inspect", "chk"]);
    assert!(!net.contains("10.219.7.77"));
    assert!(
        !net.contains("10.219.7.88") && !net.contains(&dead),
        "{net}"
    );
    // Intact: the running container and all it owns.
    assert_eq!(env.ok(&["exec", "live", "echo", "hi"]), "hi\n");
    assert!(env.ok(&["ps"]).contains("live"));
    assert!(mounted(&live_merged));
    assert!(Path::new(&live_cg).exists());
    assert_eq!(bridge_ports(br), live_ports);
    assert!(run.join("netns").join(&live).exists());
    let t = nft_table();
    assert!(t.contains(&format!("{live_ip} . {live_ip}")), "{t}");
    assert!(net.contains(&live_ip));
    // The stopped container still works.
    env.ok(&["start", "dead"]);

    assert_eq!(ours(&env, "brgone2199"), Vec::<String>::new());
    env.ok(&["system", "reset", "-f"]);
}

#[test]
fn reset_leaves_nothing_of_the_root() {
    let _serial = serial();
    let env = Env::new();
    let _reset = ResetOnDrop(&env);
    env.import_busybox();
    let br = "brrst2198";
    env.ok(&[
        "network",
        "create",
        "--subnet",
        "10.219.8.0/24",
        "-o",
        &format!("com.docker.network.bridge.name={br}"),
        "rst",
    ]);
    let id = env
        .ok(&[
            "run",
            "-d",
            "--network",
            "rst",
            "-p",
            "127.0.0.1::80",
            "--shm-size",
            "8m",
            "busybox",
            "sleep",
            "1000",
        ])
        .trim()
        .to_string();
    let stopped = env.ok(&["run", "-d", "busybox", "true"]).trim().to_string();
    env.ok(&["wait", &stopped]);
    assert!(nft_table().contains("10.219.8."));
    // Without -f it asks; "n" keeps everything.
    let o = env.with_stdin(&["system", "reset"], b"n\n");
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("WARNING!"));
    assert!(env.root().exists());

    let default_br = network_default_bridge(&env.root());
    assert!(Path::new(&format!("/sys/class/net/{default_br}")).exists());
    env.ok(&["system", "reset", "-f"]);
    assert!(!Path::new(&format!("/sys/class/net/{br}")).exists());
    let t = nft_table();
    assert!(!t.contains("10.219.8."), "{t}");
    assert!(!t.contains(br), "{t}");
    assert!(!Path::new(&format!("/sys/class/net/{default_br}")).exists());
    assert!(!t.contains(&default_br), "{t}");
    for c in [&id, &stopped] {
        for h in std::fs::read_dir("/sys/fs/cgroup").unwrap() {
            let d = h.unwrap().path().join("berth").join(c);
            assert!(!d.exists(), "{}", d.display());
        }
    }
    assert_eq!(mounts_under(env.dir.path()), Vec::<String>::new());
    assert!(!env.root().exists());
    assert!(!env.runroot().exists());
}

/// The default bridge's name for a root (as the network crate derives it: FNV-1a of the
/// canonical root path).
fn network_default_bridge(root: &Path) -> String {
    let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let mut h: u32 = 0x811c_9dc5;
    for b in root.as_os_str().as_encoded_bytes() {
        h = (h ^ u32::from(*b)).wrapping_mul(0x0100_0193);
    }
    format!("berth{h:08x}0")
}

#[test]
fn check_stops_a_process_left_without_its_monitor() {
    let _serial = serial();
    let env = Env::new();
    let _reset = ResetOnDrop(&env);
    env.import_busybox();
    let id = env
        .ok(&["run", "-d", "--network", "none", "busybox", "sleep", "1000"])
        .trim()
        .to_string();
    let pid: i32 = env
        .ok(&["inspect", "-f", "{{.State.Pid}}", &id])
        .trim()
        .parse()
        .unwrap();
    let mon = std::fs::read_to_string(
        env.runroot()
            .join("containers")
            .join(&id)
            .join("monitor.pid"),
    )
    .unwrap();
    let mon: i32 = mon.split_whitespace().next().unwrap().parse().unwrap();
    // SAFETY: kill(2) on the PID of the container's monitor, read just before.
    assert_eq!(unsafe { libc::kill(mon, libc::SIGKILL) }, 0);
    common::wait_exit(mon);
    let o = env.run(&["system", "check", "--repair"]);
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    // Either the check found the process unsupervised and stopped it, or something took over
    // supervision (or stopped it) before it looked: no process may run without a monitor.
    let status = env.ok(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.ExitCode}}",
        &id,
    ]);
    if status.starts_with("running") {
        assert!(!out.contains("without a monitor"), "{out}");
    } else {
        // A record saying exited while the process runs is what the check is for: it must
        // have been stopped (by the check, or by whatever recorded the end).
        common::settled(|| {
            if common::alive(pid) {
                vec![format!("{pid} alive")]
            } else {
                vec![]
            }
        });
        assert!(
            !common::alive(pid),
            "the container's process still runs: {out}"
        );
        if out.contains("process runs without a monitor") {
            assert!(out.contains("repaired"), "{out}");
            assert_eq!(o.status.code(), Some(0), "{out}");
            assert_eq!(status.trim(), "exited 137");
        }
        env.ok(&["start", &id]);
    }
    env.ok(&["rm", "-f", &id]);
    assert_eq!(ours(&env, "(none planted)"), Vec::<String>::new());
}
