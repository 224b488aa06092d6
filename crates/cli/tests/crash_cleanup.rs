//! kill -9 of the CLI, the monitor or the container's init, then `berth rm -f`: nothing may be
//! left (mounts, cgroups, netns, state dirs, held locks, processes, veth, nft rules, IPs), and
//! the next `berth run` works. Each case runs with `--network none` and on the test's own
//! default `bridge` (a free 10.213.x.0/24 with a unique device; never 172.17).

mod common;

use common::{alive, processes_using, settled, wait_exit, Env};
use engine::network::net::{self, NetworkController};
use std::collections::HashSet;
use std::io::BufRead;
use std::os::unix::fs::MetadataExt;
use std::os::unix::io::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// A berth root with busybox and, for `bridge`, its own default bridge network (removed with
/// its device on drop, after the containers).
struct Crash {
    env: Env,
    bridge: Option<String>,
    /// Also require that no container layer (`<id>`, `<id>-init`) is left in the driver and
    /// that the crashed container's name is free again.
    strict: bool,
}

impl Crash {
    fn new(bridge: bool) -> Crash {
        let env = Env::new();
        env.import_busybox();
        if !bridge {
            return Crash {
                env,
                bridge: None,
                strict: true,
            };
        }
        static SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dev = format!("bc{}x{seq}", std::process::id() % 10_000_000);
        let start = std::process::id() as usize * 7 + seq * 53;
        for i in 0..256 {
            let subnet = format!("10.213.{}.0/24", (start + i) % 256);
            let opt = format!("com.docker.network.bridge.name={dev}");
            let o = env.run(&[
                "network", "create", "--subnet", &subnet, "-o", &opt, "bridge",
            ]);
            if o.status.success() {
                return Crash {
                    env,
                    bridge: Some(dev),
                    strict: true,
                };
            }
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(err.contains("overlaps"), "{err}");
        }
        panic!("no free 10.213.x.0/24");
    }

    fn net_args(&self) -> Vec<&'static str> {
        if self.bridge.is_some() {
            vec![]
        } else {
            vec!["--network", "none"]
        }
    }

    /// `berth run` args: `pre` flags, the network choice, then busybox and `cmd`.
    fn run_args<'a>(&self, pre: &[&'a str], cmd: &[&'a str]) -> Vec<&'a str> {
        let mut v = vec!["run"];
        v.extend_from_slice(pre);
        v.extend(self.net_args());
        v.push("busybox");
        v.extend_from_slice(cmd);
        v
    }

    fn id(&self, name: &str) -> String {
        self.env
            .ok(&["inspect", "-f", "{{.Id}}", name])
            .trim()
            .to_string()
    }

    /// What a container holds on the network, to check it is released later.
    fn net_of(&self, id: &str) -> Option<(String, String)> {
        self.bridge.as_ref()?;
        let ctl = NetworkController::open(&self.env.root(), &self.env.runroot()).unwrap();
        let ep = ctl
            .endpoints(id)
            .unwrap()
            .into_iter()
            .next()
            .expect("an endpoint");
        Some((ep.host_ifname.clone(), ep.ipv4.to_string()))
    }

    /// Asserts nothing of container `id` is left, then that a new container runs.
    fn assert_clean(
        &self,
        id: &str,
        name: &str,
        init_pid: Option<i32>,
        net: Option<(String, String)>,
    ) {
        let e = &self.env;
        let m = mounts_under(e.dir.path());
        assert!(m.is_empty(), "mounts left: {m:?}");
        let cg = cgroup_dirs(id);
        assert!(cg.is_empty(), "cgroups left: {cg:?}");
        let netns: Vec<_> = std::fs::read_dir(e.runroot().join("netns"))
            .map(|d| d.flatten().map(|x| x.path()).collect())
            .unwrap_or_default();
        assert!(netns.is_empty(), "netns left: {netns:?}");
        for d in [
            e.root().join("containers").join(id),
            e.runroot().join("containers").join(id),
            e.runroot().join("runtime").join(id),
        ] {
            assert!(!d.exists(), "state left: {}", d.display());
        }
        let ps = e.ok(&["ps", "-aq", "--no-trunc"]);
        assert!(ps.trim().is_empty(), "containers left: {ps}");
        if let Some(pid) = init_pid {
            assert!(!alive(pid), "container init {pid} still runs");
        }
        // The monitor of the previous round's `run --rm` may still be finishing its work after
        // its reply (deleting its layers' files, a tombstone purge).
        let procs = settled(|| processes_using(e.dir.path(), id));
        assert!(procs.is_empty(), "processes left: {procs:?}");
        let locks = settled(|| held_locks_under(e.dir.path()));
        assert!(locks.is_empty(), "locks held: {locks:?}");
        if self.strict {
            let layers = container_layers(&e.root());
            assert!(layers.is_empty(), "container layers left: {layers:?}");
        }
        if let Some((veth, ip)) = net {
            let ctl = NetworkController::open(&e.root(), &e.runroot()).unwrap();
            let n = ctl.inspect("bridge").unwrap();
            assert!(
                n.containers.is_empty(),
                "endpoints left: {:?}",
                n.containers
            );
            let state = network_state(&e.root(), &n.id);
            assert_eq!(
                allocated(&state),
                vec![n.ipam.config[0].gateway.clone()],
                "IP {ip} still allocated: {state}"
            );
            let rules = std::process::Command::new("nft")
                .args(["list", "ruleset"])
                .output()
                .unwrap();
            let rules = String::from_utf8_lossy(&rules.stdout);
            assert!(
                !rules.contains(&format!("{ip} ")) && !rules.contains(&format!("{ip}\n")),
                "nft rules for {ip} left: {rules}"
            );
            wait_link_gone(&veth);
        }
        // The next run works (with the same name when strict).
        let pre: &[&str] = if self.strict {
            &["--rm", "--name", name]
        } else {
            &["--rm"]
        };
        let args = self.run_args(pre, &["echo", "again"]);
        assert_eq!(e.ok(&args), "again\n");
    }
}

impl Drop for Crash {
    fn drop(&mut self) {
        let e = &self.env;
        if let Ok(o) = e.cmd(&["ps", "-aq", "--no-trunc"]).output() {
            let ids = String::from_utf8_lossy(&o.stdout).to_string();
            let ids: Vec<&str> = ids.split_whitespace().collect();
            if !ids.is_empty() {
                let mut args = vec!["rm", "-f"];
                args.extend(ids);
                let _ = e.cmd(&args).output();
            }
        }
        let Some(dev) = &self.bridge else { return };
        if let Ok(ctl) = NetworkController::open(&e.root(), &e.runroot()) {
            for n in ctl.list().unwrap_or_default() {
                for id in n.containers.keys() {
                    let _ = ctl.destroy_sandbox(id);
                }
                let _ = ctl.remove_network(&n.id);
            }
        }
        if Path::new("/sys/class/net").join(dev).exists() {
            if let Ok(mut nl) = net::netlink::Netlink::open(net::netlink::NETLINK_ROUTE) {
                let _ = nl.exec(&mut [net::netlink::del_link(dev)]);
            }
        }
    }
}

/// Mount points at or below `dir` in this (the host's) mount namespace.
fn mounts_under(dir: &Path) -> Vec<String> {
    let prefix = dir.display().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| m.starts_with(&prefix))
        .map(String::from)
        .collect()
}

/// `/sys/fs/cgroup/*/berth/<id>` (every v1 controller and the v2 `unified` mount).
fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("berth").join(id))
        .filter(|p| p.exists())
        .collect()
}

/// Entries of /proc/locks on files below `dir` (matched by device and inode).
fn held_locks_under(dir: &Path) -> Vec<String> {
    let mut files = HashSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let Ok(md) = e.path().symlink_metadata() else {
                continue;
            };
            if md.is_dir() {
                stack.push(e.path());
            } else if md.is_file() {
                // /proc/locks shows MAJOR:MINOR:INODE with the device numbers in hex.
                let dev = md.dev();
                let key = format!(
                    "{:02x}:{:02x}:{}",
                    libc::major(dev),
                    libc::minor(dev),
                    md.ino()
                );
                files.insert(key);
            }
        }
    }
    std::fs::read_to_string("/proc/locks")
        .unwrap()
        .lines()
        .filter(|l| l.split_whitespace().any(|f| files.contains(f)))
        .map(String::from)
        .collect()
}

/// Container layer dirs (`<id>` and `<id>-init`) left in the overlay2/vfs driver dirs: image
/// layers have random cache ids, container layers are named after the container.
fn container_layers(root: &Path) -> Vec<String> {
    let images: HashSet<String> = ["overlay2", "vfs", "btrfs"]
        .iter()
        .flat_map(|drv| {
            std::fs::read_dir(root.join("image").join(drv).join("layerdb/sha256"))
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|l| std::fs::read_to_string(l.path().join("cache-id")).ok())
        })
        .collect();
    let mut out = Vec::new();
    for drv in ["overlay2", "vfs/dir", "btrfs/subvolumes"] {
        for e in std::fs::read_dir(root.join(drv))
            .into_iter()
            .flatten()
            .flatten()
        {
            let n = e.file_name().to_string_lossy().to_string();
            if n != "l" && !images.contains(&n) {
                out.push(format!("{drv}/{n}"));
            }
        }
    }
    out
}

/// The persisted state of network `id` (endpoints and the IPAM pool).
fn network_state(root: &Path, id: &str) -> String {
    std::fs::read_to_string(
        root.join("network")
            .join("networks")
            .join(format!("{id}.json")),
    )
    .unwrap_or_default()
}

/// The IPAM pool's allocated addresses in a network's state.
fn allocated(state: &str) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(state).unwrap();
    v["pool"]["allocated"]
        .as_array()
        .expect("pool.allocated in the network state")
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

/// The kernel deletes a veth with its namespace, asynchronously: wait for the link to go,
/// woken by netlink events (bounded).
fn wait_link_gone(name: &str) {
    let mut events = net::netlink::Netlink::open_groups(net::netlink::NETLINK_ROUTE, 1).unwrap();
    let mut gone = !Path::new("/sys/class/net").join(name).exists();
    while !gone {
        let evs = events
            .next_events(std::time::Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("veth {name} not deleted within 30 s: {e:?}"));
        gone = evs.iter().any(|(ty, p)| {
            *ty == net::netlink::RTM_DELLINK && net::netlink::link_name(p).as_deref() == Some(name)
        }) || !Path::new("/sys/class/net").join(name).exists();
    }
}

/// SIGKILLs `pid` (a process this test started, directly or through berth) and waits until it
/// has exited, through a pidfd (works for non-children too).
fn kill9(pid: i32) {
    // SAFETY: pidfd_open has no memory arguments; the fd is owned below.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    assert!(
        fd >= 0,
        "pidfd_open {pid}: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: a fresh fd from pidfd_open, owned only here.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    // SAFETY: sending a signal through a pidfd we own (no PID reuse race).
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            libc::SIGKILL,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    assert_eq!(r, 0, "kill -9 {pid}: {}", std::io::Error::last_os_error());
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let n = unsafe { libc::poll(&mut p, 1, 30_000) };
    assert_eq!(n, 1, "{pid} did not die within 30 s");
}

/// The monitor of `id`: MonitorPid of the record, checked against its argv.
fn monitor_pid(env: &Env, id: &str) -> i32 {
    let rec: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            env.root()
                .join("containers")
                .join(id)
                .join("config.v2.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let pid = rec["MonitorPid"].as_i64().expect("MonitorPid") as i32;
    // Some 15 ms after the start the monitor execs `berth-monitor`: inside execve its argv
    // reads empty for a moment. Bounded wait for it to read again.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let argv = loop {
        let argv = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
        if !argv.is_empty() || std::time::Instant::now() > deadline {
            break String::from_utf8_lossy(&argv).replace('\0', " ");
        }
        std::thread::yield_now();
    };
    assert!(
        argv.starts_with(&format!("berth-monitor {id}")),
        "{pid}: {argv:?}"
    );
    pid
}

fn init_pid(env: &Env, name: &str) -> i32 {
    let p = env.ok(&["inspect", "-f", "{{.State.Pid}}", name]);
    let p: i32 = p.trim().parse().unwrap();
    assert!(p > 0 && alive(p), "State.Pid {p}");
    p
}

/// `berth run` in the foreground, killed -9 while the container runs: the container stays
/// (its monitor owns it), `rm -f` removes everything.
fn kill_cli_foreground(bridge: bool) {
    let t = Crash::new(bridge);
    let args = t.run_args(
        &["--name", "victim"],
        &["sh", "-c", "echo ready; exec sleep 1000"],
    );
    let mut cli = t
        .env
        .cmd(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(cli.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "ready\n");
    kill9(cli.id() as i32);
    let _ = cli.wait();
    assert_eq!(
        t.env.ok(&["inspect", "-f", "{{.State.Running}}", "victim"]),
        "true\n"
    );
    let id = t.id("victim");
    let pid = init_pid(&t.env, "victim");
    let net = t.net_of(&id);
    t.env.ok(&["rm", "-f", "victim"]);
    t.assert_clean(&id, "victim", Some(pid), net);
}

/// `berth run` killed -9 at different points of its start (create, mounts, network, monitor
/// spawn): whatever it left is removed by `rm -f` of what `ps -a` shows.
fn kill_cli_during_start(bridge: bool, strict: bool) {
    let mut t = Crash::new(bridge);
    t.strict = strict;
    // 0..80 ms covers the whole start on this kind of machine: name, layers, spec, network,
    // monitor fork, container create, record save.
    for delay_us in (0u64..80_000).step_by(2_500) {
        // A name per round: a round that hit a stuck name must not make the next one moot.
        let name = format!("victim{delay_us}");
        let args = t.run_args(&["--name", &name], &["sleep", "1000"]);
        let mut cli = t
            .env
            .cmd(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_micros(delay_us));
        kill9(cli.id() as i32);
        let _ = cli.wait();
        let ids = t.env.ok(&["ps", "-aq", "--no-trunc"]);
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if !ids.is_empty() {
            let mut a = vec!["rm", "-f"];
            a.extend(&ids);
            t.env.ok(&a);
        }
        // The id is unknown if it was killed before the record existed: check all of them.
        t.assert_clean(
            ids.first().copied().unwrap_or("no-container"),
            &name,
            None,
            None,
        );
        if bridge {
            let ctl = NetworkController::open(&t.env.root(), &t.env.runroot()).unwrap();
            let n = ctl.inspect("bridge").unwrap();
            assert!(
                n.containers.is_empty(),
                "after {delay_us} us: {:?}",
                n.containers
            );
            let st = network_state(&t.env.root(), &n.id);
            assert_eq!(
                allocated(&st),
                vec![n.ipam.config[0].gateway.clone()],
                "after {delay_us} us, only the gateway stays allocated: {st}"
            );
        }
    }
}

/// The monitor killed -9: the container dies with it; `rm -f` cleans up.
fn kill_monitor(bridge: bool) {
    let t = Crash::new(bridge);
    let args = t.run_args(&["-d", "--name", "victim"], &["sleep", "1000"]);
    t.env.ok(&args);
    let id = t.id("victim");
    let pid = init_pid(&t.env, "victim");
    let net = t.net_of(&id);
    kill9(monitor_pid(&t.env, &id));
    // The container dies with its monitor (its init's PR_SET_PDEATHSIG): wait for it,
    // through a pidfd, bounded (monitor_crash.rs checks the rest of the truth).
    wait_exit(pid);
    assert!(!alive(pid), "the container outlived its monitor");
    t.env.ok(&["rm", "-f", "victim"]);
    t.assert_clean(&id, "victim", Some(pid), net);
}

/// The container's init killed -9: the monitor records 137; `rm -f` cleans up. With --rm the
/// monitor removes everything itself.
fn kill_init(bridge: bool) {
    let t = Crash::new(bridge);
    let args = t.run_args(&["-d", "--name", "victim"], &["sleep", "1000"]);
    t.env.ok(&args);
    let id = t.id("victim");
    let pid = init_pid(&t.env, "victim");
    let net = t.net_of(&id);
    kill9(pid);
    assert_eq!(t.env.ok(&["wait", "victim"]), "137\n");
    t.env.ok(&["rm", "-f", "victim"]);
    t.assert_clean(&id, "victim", Some(pid), net);

    let args = t.run_args(&["-d", "--rm", "--name", "victim"], &["sleep", "1000"]);
    t.env.ok(&args);
    let id = t.id("victim");
    let pid = init_pid(&t.env, "victim");
    let net = t.net_of(&id);
    let mon = monitor_pid(&t.env, &id);
    kill9(pid);
    // The monitor exits once it has removed the container: wait for that through a pidfd.
    wait_exit(mon);
    t.assert_clean(&id, "victim", Some(pid), net);
}

#[test]
fn kill_9_cli_foreground_none() {
    kill_cli_foreground(false);
}

#[test]
fn kill_9_cli_foreground_bridge() {
    kill_cli_foreground(true);
}

/// `berth run` killed -9 anywhere in its start. What made this fail once: a kill between the
/// name reservation and the record (layers nobody listed), in the middle of writing the name
/// file (an empty, unusable name), while cgroups were being made (some hierarchies left), and
/// right after the monitor's fork (a monitor `rm -f` could not find).
#[test]
fn kill_9_cli_during_start_none() {
    kill_cli_during_start(false, true);
}

#[test]
fn kill_9_cli_during_start_bridge() {
    kill_cli_during_start(true, true);
}

#[test]
fn kill_9_monitor_none() {
    kill_monitor(false);
}

#[test]
fn kill_9_monitor_bridge() {
    kill_monitor(true);
}

#[test]
fn kill_9_init_none() {
    kill_init(false);
}

#[test]
fn kill_9_init_bridge() {
    kill_init(true);
}
