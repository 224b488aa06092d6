//! engine::network on the real kernel (root): attach/detach for fake container ids, with
//! busybox run inside the returned namespaces. Each test has its own --root/--runroot, its own
//! default `bridge` network (unique device name, free 10.213.x.0/24) and cleans up on drop.

use engine::network::net::netlink::{self, Netlink, NETLINK_ROUTE, RTM_DELLINK};
use engine::network::net::{self, NetworkController, NetworkOptions};
use engine::network::{
    attach, begin_netns, detach, monitor_started, prefetch_sandbox, sandbox_path, NetAttachment,
    NetPaths,
};
use engine::types::{
    Config, EndpointIpamConfig, EndpointSettings, HostConfig, NetworkingConfig, PortBinding,
};
use std::collections::BTreeSet;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

static SEQ: AtomicU32 = AtomicU32::new(0);

fn short_name(prefix: &str) -> String {
    // ≤ 15 characters for a link name.
    format!(
        "{prefix}{}x{}",
        std::process::id() % 100_000,
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

/// A throw-away root with a default `bridge` network (and optionally a user network).
struct Env {
    root: PathBuf,
    runroot: PathBuf,
    ctl: NetworkController,
    bridges: Vec<String>,
    ids: std::cell::RefCell<Vec<String>>,
    _tmp: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        testutil::require_root();
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        let runroot = tmp.path().join("run");
        let ctl = NetworkController::open(&root, &runroot).unwrap();
        let mut env = Env {
            root,
            runroot,
            ctl,
            bridges: vec![],
            ids: Default::default(),
            _tmp: tmp,
        };
        env.add_network(net::DEFAULT_NETWORK);
        env
    }

    /// Creates a bridge network on a free 10.213.x.0/24 (never 172.17: another engine may own it).
    fn add_network(&mut self, name: &str) -> net::Network {
        let bridge = short_name("be");
        let start =
            std::process::id() as usize * 11 + SEQ.fetch_add(1, Ordering::Relaxed) as usize * 17;
        for i in 0..256 {
            let o = NetworkOptions {
                subnet: Some(
                    format!("10.213.{}.0/24", (start + i) % 256)
                        .parse()
                        .unwrap(),
                ),
                bridge_name: Some(bridge.clone()),
                ..Default::default()
            };
            match self.ctl.create_network(name, o) {
                Ok(n) => {
                    self.bridges.push(bridge);
                    return n;
                }
                Err(net::Error::Conflict(_)) => continue,
                Err(e) => panic!("create_network: {e}"),
            }
        }
        panic!("no free 10.213.x.0/24");
    }

    fn paths(&self) -> NetPaths<'_> {
        NetPaths {
            root: &self.root,
            runroot: &self.runroot,
        }
    }

    fn id(&self) -> String {
        let id = format!(
            "{:016x}{:048x}",
            std::process::id(),
            rand_u64() as u128 * 1_000 + SEQ.fetch_add(1, Ordering::Relaxed) as u128
        );
        self.ids.borrow_mut().push(id.clone());
        id
    }

    fn attach(&self, id: &str, name: &str, host: &HostConfig) -> NetAttachment {
        self.attach_with(
            id,
            name,
            &Config::default(),
            host,
            &NetworkingConfig::default(),
        )
        .unwrap_or_else(|e| panic!("attach {name}: {e}"))
    }

    fn attach_with(
        &self,
        id: &str,
        name: &str,
        config: &Config,
        host: &HostConfig,
        netcfg: &NetworkingConfig,
    ) -> Result<NetAttachment, net::Error> {
        attach(
            &self.paths(),
            id,
            name,
            &id[..12],
            config,
            host,
            netcfg,
            None,
        )
    }

    fn gateway(&self, net: &str) -> Ipv4Addr {
        self.ctl.inspect(net).unwrap().ipam.config[0]
            .gateway
            .parse()
            .unwrap()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        for id in self.ids.borrow().iter() {
            let _ = self.ctl.destroy_sandbox(id);
        }
        for n in self.ctl.list().unwrap_or_default() {
            for id in n.containers.keys() {
                let _ = self.ctl.destroy_sandbox(id);
            }
            let _ = self.ctl.remove_network(&n.id);
        }
        // If state got lost, still remove the devices we named.
        let mut nl = Netlink::open(NETLINK_ROUTE).unwrap();
        for b in &self.bridges {
            if link_exists(b) {
                let _ = nl.exec(&mut [netlink::del_link(b)]);
            }
        }
    }
}

fn rand_u64() -> u64 {
    let mut b = [0u8; 8];
    File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut b)
        .unwrap();
    u64::from_ne_bytes(b) >> 12
}

fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

fn mode(m: &str) -> HostConfig {
    HostConfig {
        network_mode: m.into(),
        ..Default::default()
    }
}

/// Runs busybox with `args` inside the network namespace at `ns` (what the runtime does with
/// the OCI spec's network namespace path).
fn busybox_in(ns: &Path, args: &[&str]) -> Output {
    let f = File::open(ns).unwrap();
    let mut c = Command::new(testutil::BUSYBOX);
    c.args(args);
    // SAFETY: only the async-signal-safe setns between fork and exec; f outlives the spawn.
    unsafe {
        c.pre_exec(move || {
            if libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    c.output().unwrap()
}

fn out(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn ping(from: &Path, to: &str) {
    let o = busybox_in(from, &["ping", "-c1", "-W2", to]);
    assert!(o.status.success(), "ping {to}: {}", out(&o));
}

/// Everything `attach` made for `id` on `net`: host veth, IPAM entry, nft elements, netns file.
struct Traces {
    veth: String,
    ip: Ipv4Addr,
    netns: PathBuf,
}

fn traces(env: &Env, id: &str) -> Traces {
    let eps = env.ctl.endpoints(id).unwrap();
    assert_eq!(eps.len(), 1);
    Traces {
        veth: eps[0].host_ifname.clone(),
        ip: eps[0].ipv4,
        netns: sandbox_path(&env.paths(), id),
    }
}

fn nft_ruleset() -> String {
    let o = Command::new("nft")
        .args(["list", "table", "ip", "berth"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// Detaches and checks that nothing of `t` remains: the state at once, the veth once the
/// kernel has released the namespace (waits for its RTM_DELLINK event, no polling).
fn detach_and_check(env: &Env, id: &str, t: &Traces) {
    let events = link_events();
    detach(&env.paths(), id).unwrap();
    check_gone(env, id, t, events);
}

fn link_events() -> Netlink {
    Netlink::open_groups(NETLINK_ROUTE, 1 /* RTMGRP_LINK */).unwrap()
}

fn check_gone(env: &Env, id: &str, t: &Traces, mut events: Netlink) {
    assert!(!t.netns.exists(), "netns bind mount left");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(id), "netns still mounted");
    assert!(env.ctl.endpoints(id).unwrap().is_empty(), "endpoint left");
    for n in env.ctl.list().unwrap() {
        assert!(!n.containers.contains_key(id));
    }
    // IPAM: the address is no longer allocated in any state file.
    for e in std::fs::read_dir(env.root.join("network/networks")).unwrap() {
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(e.unwrap().path()).unwrap()).unwrap();
        let allocated = &v["pool"]["allocated"];
        assert!(allocated.is_array(), "state layout changed: {v}");
        assert!(
            !allocated
                .as_array()
                .unwrap()
                .contains(&t.ip.to_string().into()),
            "IPAM entry left: {v}"
        );
    }
    assert!(
        !nft_ruleset().contains(&t.ip.to_string()),
        "nft element left: {}",
        nft_ruleset()
    );
    let mut gone = !link_exists(&t.veth);
    while !gone {
        let evs = events
            .next_events(std::time::Duration::from_secs(30))
            .expect("no RTM_DELLINK for the host veth within 30 s");
        gone = evs.iter().any(|(ty, p)| {
            *ty == RTM_DELLINK && netlink::link_name(p).as_deref() == Some(t.veth.as_str())
        });
    }
    detach(&env.paths(), id).unwrap(); // idempotent
}

#[test]
fn default_bridge_containers_reach_each_other_and_detach_leaves_nothing() {
    let env = Env::new();
    let (a, b) = (env.id(), env.id());
    let mut h = mode("bridge");
    h.extra_hosts = Some(vec!["db:10.1.2.3".into(), "gw:host-gateway".into()]);
    h.dns_search = vec!["example.test".into()];
    let na = env.attach(&a, "/alpha", &h);
    let nb = env.attach(&b, "/beta", &mode("default"));
    let (sa, sb) = (&na.settings, &nb.settings);
    assert_ne!(sa.ip_address, sb.ip_address);
    let gw = env.gateway("bridge");
    // Docker's shape: top-level fields for the default bridge, Networks{"bridge": ...}.
    assert_eq!(sa.gateway, gw.to_string());
    assert_eq!(sa.ip_prefix_len, 24);
    assert_eq!(sa.bridge, env.bridges[0]);
    assert_eq!(
        sa.sandbox_key,
        sandbox_path(&env.paths(), &a).display().to_string()
    );
    assert_eq!(
        na.netns.as_deref(),
        Some(sandbox_path(&env.paths(), &a).as_path())
    );
    let n = &sa.networks["bridge"];
    assert_eq!(n.ip_address, sa.ip_address);
    assert_eq!(n.mac_address, sa.mac_address);
    assert!(sa.mac_address.starts_with("02:42:"));
    assert_eq!(n.network_id, env.ctl.inspect("bridge").unwrap().id);
    assert!(!n.endpoint_id.is_empty() && n.endpoint_id == sa.endpoint_id);
    assert!(n.aliases.is_none(), "no aliases on the default bridge");
    let j = serde_json::to_value(sa).unwrap();
    assert!(j["Networks"]["bridge"]["IPAddress"].is_string());
    assert!(j.get("SandboxKey").is_some() && j.get("IPPrefixLen").is_some());

    // /etc/hosts: localhost, --add-host entries, the container's own address → hostname.
    assert!(
        na.hosts.starts_with("127.0.0.1\tlocalhost\n"),
        "{}",
        na.hosts
    );
    assert!(na.hosts.contains("10.1.2.3\tdb\n"), "{}", na.hosts);
    assert!(na.hosts.contains(&format!("{gw}\tgw\n")), "{}", na.hosts);
    assert!(
        na.hosts
            .ends_with(&format!("{}\t{}\n", sa.ip_address, &a[..12])),
        "{}",
        na.hosts
    );
    // No embedded DNS on the default bridge.
    assert!(!na.resolv_conf.contains("127.0.0.11"), "{}", na.resolv_conf);
    assert!(
        na.resolv_conf.contains("search example.test\n"),
        "{}",
        na.resolv_conf
    );
    assert!(na.resolv_conf.contains("nameserver "), "{}", na.resolv_conf);
    assert!(monitor_started(&env.paths(), &a, 1).is_none());

    let pa = na.netns.as_deref().unwrap();
    let pb = nb.netns.as_deref().unwrap();
    ping(pa, &sb.ip_address);
    ping(pb, &sa.ip_address);
    ping(pa, &gw.to_string());
    let o = busybox_in(pa, &["ip", "addr", "show", "eth0"]);
    assert!(
        out(&o).contains(&format!("inet {}/24", sa.ip_address)),
        "{}",
        out(&o)
    );

    let (ta, tb) = (traces(&env, &a), traces(&env, &b));
    detach_and_check(&env, &a, &ta);
    detach_and_check(&env, &b, &tb);
}

#[test]
fn user_network_by_name_and_alias_with_embedded_dns() {
    let mut env = Env::new();
    let name = testutil::unique_name("un");
    let network = env.add_network(&name);
    let (a, b, c) = (env.id(), env.id(), env.id());
    let h = mode(&name);
    let mut cfg = NetworkingConfig::default();
    cfg.endpoints_config.insert(
        name.clone(),
        EndpointSettings {
            aliases: Some(vec!["db".into(), "store".into()]),
            ..Default::default()
        },
    );
    let na = env.attach(&a, "/alpha", &h);
    let nb = env
        .attach_with(&b, "/beta", &Config::default(), &h, &cfg)
        .unwrap();
    // --ip on a user network, addressed by the network's id prefix.
    let subnet_base = network.ipam.config[0]
        .subnet
        .trim_end_matches(".0/24")
        .to_string();
    let want_ip = format!("{subnet_base}.200");
    let mut cfg_ip = NetworkingConfig::default();
    cfg_ip.endpoints_config.insert(
        network.id[..12].to_string(),
        EndpointSettings {
            ipam_config: Some(EndpointIpamConfig {
                ipv4_address: want_ip.clone(),
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    let nc = env
        .attach_with(
            &c,
            "/gamma",
            &Config::default(),
            &mode(&network.id[..12]),
            &cfg_ip,
        )
        .unwrap();
    assert_eq!(nc.settings.networks[&name].ip_address, want_ip);
    assert_eq!(
        nc.settings.networks[&name]
            .ipam_config
            .as_ref()
            .unwrap()
            .ipv4_address,
        want_ip
    );

    // User networks: top-level fields stay empty like Docker's; Networks has the details.
    assert_eq!(nb.settings.ip_address, "");
    let eb = &nb.settings.networks[&name];
    assert_eq!(eb.network_id, network.id);
    let aliases = eb.aliases.clone().unwrap();
    assert!(aliases.contains(&"db".to_string()) && aliases.contains(&b[..12].to_string()));
    assert_eq!(
        na.resolv_conf
            .lines()
            .filter(|l| l.starts_with("nameserver"))
            .count(),
        1
    );
    assert!(
        na.resolv_conf.contains("nameserver 127.0.0.11\n"),
        "{}",
        na.resolv_conf
    );

    // The monitor's DNS server answers names and aliases inside the sandbox.
    let dns = monitor_started(&env.paths(), &a, 1).expect("DNS on a user network");
    let pa = na.netns.as_deref().unwrap();
    for q in ["beta", "db", "STORE", "gamma"] {
        let o = busybox_in(pa, &["nslookup", q, "127.0.0.11"]);
        let want = if q == "gamma" {
            &want_ip
        } else {
            &eb.ip_address
        };
        assert!(out(&o).contains(want.as_str()), "nslookup {q}: {}", out(&o));
    }
    // Then connect by the resolved IP (busybox-static's getaddrinfo cannot use DNS).
    ping(pa, &eb.ip_address);
    ping(
        nb.netns.as_deref().unwrap(),
        &na.settings.networks[&name].ip_address,
    );

    // A container that left is no longer resolvable: records are read per query.
    let tc = traces(&env, &c);
    detach_and_check(&env, &c, &tc);
    let o = busybox_in(pa, &["nslookup", "gamma", "127.0.0.11"]);
    assert!(!out(&o).contains(&want_ip), "{}", out(&o));
    drop(dns); // the monitor drops it when the container exits, before rm
    let (ta, tb) = (traces(&env, &a), traces(&env, &b));
    detach_and_check(&env, &a, &ta);
    detach_and_check(&env, &b, &tb);
}

/// Accepts 3 connections inside a sandbox and answers each with busybox httpd (inetd mode);
/// the listener is bound before this returns, so clients never race the server's start.
fn serve_http(ns: &Path, www: &Path) -> std::thread::JoinHandle<()> {
    let l = net::netns::run_in(ns, || TcpListener::bind("0.0.0.0:80"))
        .unwrap()
        .unwrap();
    let www = www.to_path_buf();
    std::thread::spawn(move || {
        for _ in 0..3 {
            let (s, _) = l.accept().unwrap();
            let fd: OwnedFd = s.into();
            let o = fd.try_clone().unwrap();
            Command::new(testutil::BUSYBOX)
                .args(["httpd", "-i", "-h"])
                .arg(&www)
                .stdin(Stdio::from(fd))
                .stdout(Stdio::from(o))
                .stderr(Stdio::null())
                .status()
                .unwrap();
        }
    })
}

fn http_get(addr: SocketAddr) -> String {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.write_all(b"GET /index.html HTTP/1.0\r\n\r\n").unwrap();
    let mut r = String::new();
    s.read_to_string(&mut r).unwrap();
    r
}

#[test]
fn published_port_answers_on_localhost_bridge_address_and_hairpin() {
    let env = Env::new();
    let id = env.id();
    let mut h = mode("bridge");
    h.port_bindings.insert(
        "80/tcp".into(),
        vec![PortBinding {
            host_ip: String::new(),
            host_port: "18080".into(),
        }],
    );
    // -P: the image's EXPOSE 8080 and 53/udp get random host ports.
    h.publish_all_ports = true;
    let config = Config {
        exposed_ports: Some(
            ["8080/tcp", "53/udp", "80/tcp"]
                .into_iter()
                .map(|k| (k.to_string(), Default::default()))
                .collect(),
        ),
        ..Default::default()
    };
    let na = env
        .attach_with(&id, "/web", &config, &h, &NetworkingConfig::default())
        .unwrap();
    let ports = &na.settings.ports;
    assert_eq!(
        ports["80/tcp"],
        Some(vec![PortBinding {
            host_ip: "0.0.0.0".into(),
            host_port: "18080".into()
        }])
    );
    for k in ["8080/tcp", "53/udp"] {
        let p: u16 = ports[k].as_ref().unwrap()[0].host_port.parse().unwrap();
        assert_ne!(p, 0, "{k} got a random port");
    }
    let j = serde_json::to_value(&na.settings).unwrap();
    assert_eq!(j["Ports"]["80/tcp"][0]["HostPort"], "18080");
    assert_eq!(j["Ports"]["80/tcp"][0]["HostIp"], "0.0.0.0");

    let www = tempfile::tempdir().unwrap();
    std::fs::write(www.path().join("index.html"), "hello from berth\n").unwrap();
    let ns = na.netns.clone().unwrap();
    let server = serve_http(&ns, www.path());
    let gw = env.gateway("bridge");
    let r = http_get(SocketAddr::from((Ipv4Addr::LOCALHOST, 18080)));
    assert!(r.contains("hello from berth"), "127.0.0.1:18080: {r:?}");
    let r = http_get(SocketAddr::from((gw, 18080)));
    assert!(r.contains("hello from berth"), "{gw}:18080: {r:?}");
    let r = net::netns::run_in(&ns, move || http_get(SocketAddr::from((gw, 18080)))).unwrap();
    assert!(r.contains("hello from berth"), "hairpin: {r:?}");
    server.join().unwrap();

    // The same port again is a clear Conflict and leaves nothing behind.
    let id2 = env.id();
    let e = env
        .attach_with(
            &id2,
            "/web2",
            &Config::default(),
            &h,
            &NetworkingConfig::default(),
        )
        .unwrap_err();
    assert!(matches!(e, net::Error::Conflict(_)), "{e}");
    assert!(e.to_string().contains("already allocated"), "{e}");
    assert!(!sandbox_path(&env.paths(), &id2).exists());
    assert!(env.ctl.endpoints(&id2).unwrap().is_empty());

    let t = traces(&env, &id);
    detach_and_check(&env, &id, &t);
    assert!(!nft_ruleset().contains("18080"), "{}", nft_ruleset());
}

#[test]
fn port_bound_on_the_host_is_a_clear_error_and_leaves_nothing() {
    let env = Env::new();
    let busy = TcpListener::bind("0.0.0.0:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let before = link_names();
    let id = env.id();
    let mut h = mode("bridge");
    h.port_bindings.insert(
        "80/tcp".into(),
        vec![PortBinding {
            host_ip: String::new(),
            host_port: port.to_string(),
        }],
    );
    let e = env
        .attach_with(
            &id,
            "/busy",
            &Config::default(),
            &h,
            &NetworkingConfig::default(),
        )
        .unwrap_err();
    assert!(e.to_string().contains("already allocated"), "{e}");
    assert!(!sandbox_path(&env.paths(), &id).exists());
    assert!(env.ctl.inspect("bridge").unwrap().containers.is_empty());
    let left = new_links_of(&before, &env.bridges[0]);
    assert!(left.is_empty(), "links left: {left:?}");
    drop(busy);
}

fn link_names() -> BTreeSet<String> {
    std::fs::read_dir("/sys/class/net")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// Links made since `before` that can be this test's: on `bridge`, or a non-bridge link
/// without a master that stays so (tests running in parallel make and remove links of their
/// own, on their own bridges, unattached only for a moment).
fn new_links_of(before: &BTreeSet<String>, bridge: &str) -> Vec<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    loop {
        let left: Vec<String> = link_names()
            .into_iter()
            .filter(|n| !before.contains(n) && n != bridge)
            .filter(|n| {
                let d = Path::new("/sys/class/net").join(n);
                match std::fs::read_link(d.join("master")) {
                    Ok(m) => m.file_name().is_some_and(|m| m == bridge),
                    Err(_) => !d.join("bridge").exists(),
                }
            })
            .collect();
        if left.is_empty() || std::time::Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn prefetched_sandboxes_are_used_or_removed() {
    let env = Env::new();
    // Made in the background, then picked up by attach (none and the default bridge).
    for m in ["none", ""] {
        let id = env.id();
        let ns = begin_netns(&mode(m).network_mode).expect("begin");
        let p = prefetch_sandbox(&env.paths(), &id, ns).expect("prefetch");
        let path = sandbox_path(&env.paths(), &id);
        assert!(!path.exists(), "pinned only when attach takes it");
        let n = attach(
            &env.paths(),
            &id,
            "/pre",
            &id[..12],
            &Config::default(),
            &mode(m),
            &Default::default(),
            Some(p),
        )
        .unwrap_or_else(|e| panic!("attach {m:?}: {e}"));
        assert_eq!(n.netns.as_deref(), Some(path.as_path()));
        let links = out(&busybox_in(&path, &["ip", "-o", "link"]));
        assert!(links.contains("lo:"), "{links}");
        assert_eq!(links.contains("eth0"), m.is_empty(), "{links}");
        detach(&env.paths(), &id).unwrap();
        assert!(!path.exists());
    }
    // Never picked up (the create failed): dropping it leaves no mount, no file and no
    // namespace (nothing holds it).
    let id = env.id();
    let ns = begin_netns("none").unwrap();
    let p = prefetch_sandbox(&env.paths(), &id, ns).unwrap();
    let path = sandbox_path(&env.paths(), &id);
    drop(p);
    assert!(!path.exists());
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(&id), "{mounts}");
    // Modes without a namespace of their own prefetch nothing.
    assert!(begin_netns("host").is_none());
    assert!(begin_netns("container:abc").is_none());
}

#[test]
fn none_host_and_shared_namespace_modes() {
    let env = Env::new();
    let id = env.id();
    let n = env.attach(&id, "/quiet", &mode("none"));
    let ns = n.netns.clone().unwrap();
    let o = busybox_in(&ns, &["ip", "-o", "link"]);
    let s = out(&o);
    assert_eq!(s.lines().count(), 1, "{s}");
    assert!(s.contains("lo:"), "{s}");
    assert!(n.settings.networks.contains_key("none"));
    assert!(
        !n.hosts.contains("\tquiet"),
        "no address, no hostname line: {}",
        n.hosts
    );
    assert!(monitor_started(&env.paths(), &id, 1).is_none());

    // container:<id> mode: the engine runs the second container in the first one's sandbox
    // path; both processes see the same namespace inode.
    let ino = |p: &Path| std::fs::metadata(p).map(|m| std::os::unix::fs::MetadataExt::ino(&m));
    let o = busybox_in(
        &sandbox_path(&env.paths(), &id),
        &["readlink", "/proc/self/ns/net"],
    );
    assert_eq!(
        out(&o).trim(),
        format!("net:[{}]", ino(&ns).unwrap()),
        "shared namespace"
    );
    detach(&env.paths(), &id).unwrap();
    assert!(!ns.exists());

    // host: no namespace; the host's links and files.
    let hid = env.id();
    let mut h = mode("host");
    h.extra_hosts = Some(vec!["extra:10.9.8.7".into()]);
    h.port_bindings
        .insert("80/tcp".into(), vec![PortBinding::default()]);
    let n = env.attach(&hid, "/hosty", &h);
    assert!(n.netns.is_none());
    assert!(n.settings.networks.contains_key("host"));
    assert!(
        n.settings.ports.get("80/tcp").unwrap().is_none(),
        "discarded like Docker"
    );
    assert!(n.hosts.contains("10.9.8.7\textra\n"));
    let host_links: BTreeSet<String> = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(host_links.len() > 1 && host_links.contains(&env.bridges[0]));
    assert!(!sandbox_path(&env.paths(), &hid).exists());
    detach(&env.paths(), &hid).unwrap();
}

#[test]
fn thirty_parallel_attaches_get_distinct_ips() {
    let env = Env::new();
    let ids: Vec<String> = (0..30).map(|_| env.id()).collect();
    let (root, runroot) = (env.root.clone(), env.runroot.clone());
    let handles: Vec<_> = ids
        .iter()
        .cloned()
        .map(|id| {
            let (root, runroot) = (root.clone(), runroot.clone());
            std::thread::spawn(move || {
                let p = NetPaths {
                    root: &root,
                    runroot: &runroot,
                };
                attach(
                    &p,
                    &id,
                    &id,
                    &id[..12],
                    &Config::default(),
                    &mode(""),
                    &Default::default(),
                    None,
                )
                .unwrap()
                .settings
                .ip_address
            })
        })
        .collect();
    let ips: BTreeSet<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(ips.len(), 30);
    assert_eq!(env.ctl.inspect("bridge").unwrap().containers.len(), 30);
    for id in &ids {
        detach(&env.paths(), id).unwrap();
    }
    assert!(env.ctl.inspect("bridge").unwrap().containers.is_empty());
    assert_eq!(
        std::fs::read_dir(env.runroot.join("netns"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn detach_after_kill_9_cleans_up_from_state() {
    let env = Env::new();
    let id = env.id();
    let n = env.attach(&id, "/crashy", &mode("bridge"));
    let t = traces(&env, &id);
    // A "container" holding the namespace, killed -9 like a crashed monitor and its child.
    let f = File::open(n.netns.as_ref().unwrap()).unwrap();
    let mut c = Command::new(testutil::BUSYBOX);
    c.args(["sleep", "1000"]);
    // SAFETY: only setns between fork and exec.
    unsafe {
        c.pre_exec(move || {
            if libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = c.spawn().unwrap();
    drop(c); // the pre_exec closure owns an fd of the namespace
    child.kill().unwrap();
    child.wait().unwrap();
    // rm -f from another process: only persisted state is available.
    let events = link_events();
    let root = env.root.clone();
    let runroot = env.runroot.clone();
    let id2 = id.clone();
    std::thread::spawn(move || {
        let p = NetPaths {
            root: &root,
            runroot: &runroot,
        };
        detach(&p, &id2).unwrap();
    })
    .join()
    .unwrap();
    // (the thread stands in for a fresh process: it shares no handle with attach)
    check_gone(&env, &id, &t, events);
}

#[test]
fn ip_and_alias_are_refused_on_the_default_bridge_and_unknown_networks_fail() {
    let env = Env::new();
    let id = env.id();
    let mut cfg = NetworkingConfig::default();
    cfg.endpoints_config.insert(
        "bridge".into(),
        EndpointSettings {
            aliases: Some(vec!["x".into()]),
            ..Default::default()
        },
    );
    let e = env
        .attach_with(&id, "/x", &Config::default(), &mode("bridge"), &cfg)
        .unwrap_err();
    assert!(e.to_string().contains("user defined networks"), "{e}");
    let e = env
        .attach_with(
            &id,
            "/x",
            &Config::default(),
            &mode("nosuchnet"),
            &Default::default(),
        )
        .unwrap_err();
    assert!(matches!(e, net::Error::NotFound(_)), "{e}");
    assert!(!sandbox_path(&env.paths(), &id).exists());
}

/// Writes the engine's records that connect/disconnect read (name, network mode).
fn fake_record(env: &Env, id: &str, name: &str, mode: &str) {
    let d = env.root.join("containers").join(id);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(
        d.join("config.v2.json"),
        serde_json::json!({"ID": id, "Name": format!("/{name}")}).to_string(),
    )
    .unwrap();
    std::fs::write(
        d.join("hostconfig.json"),
        serde_json::to_vec(&HostConfig {
            network_mode: mode.into(),
            ..Default::default()
        })
        .unwrap(),
    )
    .unwrap();
}

#[test]
fn connect_and_disconnect_a_running_container() {
    use engine::network::{connect, disconnect, settings};
    let mut env = Env::new();
    let name = testutil::unique_name("cn");
    env.add_network(&name);
    let (a, b) = (env.id(), env.id());
    let na = env.attach(&a, "/first", &mode("bridge"));
    fake_record(&env, &a, "first", "bridge");
    let nb = env.attach(&b, "/second", &mode(&name));
    let pa = na.netns.clone().unwrap();

    let e = connect(&env.paths(), &a, "bridge", &[], None).unwrap_err();
    assert!(e.to_string().contains("already connected"), "{e}");
    let (net_name, ep) = connect(&env.paths(), &a, &name, &["web".into()], None).unwrap();
    assert_eq!(net_name, name);
    assert!(ep.aliases.as_ref().unwrap().contains(&"web".to_string()));
    // eth1 carries the new address; the user network's peer answers.
    let o = busybox_in(&pa, &["ip", "-o", "addr", "show", "eth1"]);
    assert!(out(&o).contains(&ep.ip_address), "{}", out(&o));
    ping(&pa, &nb.settings.networks[&name].ip_address);
    ping(nb.netns.as_deref().unwrap(), &ep.ip_address);
    // Others on the network resolve the container by name and alias.
    let dns = monitor_started(&env.paths(), &b, 1).unwrap();
    let o = busybox_in(
        nb.netns.as_deref().unwrap(),
        &["nslookup", "web", "127.0.0.11"],
    );
    assert!(out(&o).contains(&ep.ip_address), "{}", out(&o));
    drop(dns);
    // inspect's view, rebuilt from live state: both networks, top level from the bridge.
    let s = settings(
        &env.paths(),
        &a,
        &Config::default(),
        &mode("bridge"),
        &Default::default(),
    )
    .unwrap();
    assert_eq!(s.networks.len(), 2);
    assert_eq!(s.ip_address, na.settings.ip_address);

    disconnect(&env.paths(), &a, &name).unwrap();
    let o = busybox_in(&pa, &["ip", "-o", "link"]);
    assert!(!out(&o).contains("eth1"), "{}", out(&o));
    let e = disconnect(&env.paths(), &a, &name).unwrap_err();
    assert!(e.to_string().contains("is not connected"), "{e}");
    let s = settings(
        &env.paths(),
        &a,
        &Config::default(),
        &mode("bridge"),
        &Default::default(),
    )
    .unwrap();
    assert_eq!(s.networks.keys().collect::<Vec<_>>(), vec!["bridge"]);

    // host-mode containers cannot be connected.
    let h = env.id();
    fake_record(&env, &h, "hosty", "host");
    let e = connect(&env.paths(), &h, &name, &[], None).unwrap_err();
    assert!(e.to_string().contains("--network host"), "{e}");

    let (ta, tb) = (traces(&env, &a), traces(&env, &b));
    detach_and_check(&env, &a, &ta);
    detach_and_check(&env, &b, &tb);
}
