//! `berth run` networking end to end (root, real kernel): the default bridge of each test is
//! pre-created on a free 10.213.x.0/24 with a unique device name, so nothing touches 172.17.

mod common;

use common::Env;
use engine::network::net::{self, NetworkController};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;

/// Env + its own default `bridge` network, removed (with its device) on drop.
struct NetEnv {
    env: Env,
    bridge: String,
    gateway: String,
}

impl NetEnv {
    fn new() -> NetEnv {
        let env = Env::new();
        env.import_busybox();
        static SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let bridge = format!("bn{}x{seq}", std::process::id() % 10_000_000);
        let start = std::process::id() as usize * 3 + seq * 41;
        for i in 0..256 {
            let x = (start + i) % 256;
            let subnet = format!("10.213.{x}.0/24");
            let opt = format!("com.docker.network.bridge.name={bridge}");
            let o = env.run(&[
                "network", "create", "--subnet", &subnet, "-o", &opt, "bridge",
            ]);
            if o.status.success() {
                return NetEnv {
                    env,
                    bridge,
                    gateway: format!("10.213.{x}.1"),
                };
            }
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(err.contains("overlaps"), "{err}");
        }
        panic!("no free 10.213.x.0/24");
    }
}

impl Drop for NetEnv {
    fn drop(&mut self) {
        // Containers first (Env's drop would come too late for the network).
        if let Ok(o) = self.env.cmd(&["ps", "-aq", "--no-trunc"]).output() {
            let ids = String::from_utf8_lossy(&o.stdout).to_string();
            let ids: Vec<&str> = ids.split_whitespace().collect();
            if !ids.is_empty() {
                let mut args = vec!["rm", "-f"];
                args.extend(ids);
                let _ = self.env.cmd(&args).output();
            }
        }
        // `bridge` is pre-defined for the CLI; remove it through the controller.
        if let Ok(ctl) = NetworkController::open(&self.env.root(), &self.env.runroot()) {
            for n in ctl.list().unwrap_or_default() {
                for id in n.containers.keys() {
                    let _ = ctl.destroy_sandbox(id);
                }
                let _ = ctl.remove_network(&n.id);
            }
        }
        if Path::new("/sys/class/net").join(&self.bridge).exists() {
            let mut nl = net::netlink::Netlink::open(net::netlink::NETLINK_ROUTE).unwrap();
            let _ = nl.exec(&mut [net::netlink::del_link(&self.bridge)]);
        }
    }
}

fn http_get(port: u16) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.write_all(b"GET /index.html HTTP/1.0\r\n\r\n").ok()?;
    let mut r = String::new();
    s.read_to_string(&mut r).ok()?;
    Some(r)
}

#[test]
fn run_on_the_bridge_publishes_ports_and_rm_leaves_nothing() {
    let t = NetEnv::new();
    let e = &t.env;
    // busybox's ping needs a raw socket (no ICMP echo socket fallback in 1.35).
    e.ok(&[
        "run",
        "-d",
        "--name",
        "client",
        "--cap-add",
        "NET_RAW",
        "busybox",
        "sleep",
        "1000",
    ]);
    e.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "-p",
        "18081:80",
        "busybox",
        "sh",
        "-c",
        "echo hello-berth > /www/index.html && exec httpd -f -p 80 -h /www",
    ]);
    let ip = e.ok(&["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "web"]);
    let ip = ip.trim();
    assert!(ip.starts_with(t.gateway.trim_end_matches(".1")), "{ip}");
    let ports = e.ok(&["inspect", "-f", "{{json .NetworkSettings.Ports}}", "web"]);
    assert_eq!(
        ports.trim(),
        r#"{"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"18081"}]}"#
    );
    // Container to container by IP.
    let o = e.ok(&["exec", "client", "ping", "-c1", "-W2", ip]);
    assert!(o.contains("1 packets received"), "{o}");
    // Published port from the host's 127.0.0.1. httpd starts asynchronously inside the
    // container: retry connects (refused until it listens), bounded.
    let mut r = None;
    for _ in 0..100 {
        r = http_get(18081).filter(|r| r.contains("hello-berth"));
        if r.is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(r.is_some(), "127.0.0.1:18081 never answered");
    // From another container through the host's bridge address, and hairpin.
    let url = format!("http://{}:18081/index.html", t.gateway);
    for c in ["client", "web"] {
        let o = e.ok(&["exec", c, "wget", "-qO-", &url]);
        assert!(o.contains("hello-berth"), "{c}: {o}");
    }
    // A second container on the same host port: a clear error, exit 125.
    let (_, err) = e.code(&["run", "-d", "-p", "18081:80", "busybox", "true"], 125);
    assert!(err.contains("already allocated"), "{err}");

    let ctl = NetworkController::open(&e.root(), &e.runroot()).unwrap();
    let web_id = e
        .ok(&["inspect", "-f", "{{.Id}}", "web"])
        .trim()
        .to_string();
    let veth = ctl.endpoints(&web_id).unwrap()[0].host_ifname.clone();
    let mut events = net::netlink::Netlink::open_groups(net::netlink::NETLINK_ROUTE, 1).unwrap();
    e.ok(&["rm", "-f", "web", "client"]);
    let n = ctl.inspect("bridge").unwrap();
    assert!(n.containers.is_empty(), "{:?}", n.containers);
    let netns = e.runroot().join("netns");
    assert_eq!(std::fs::read_dir(&netns).map(|d| d.count()).unwrap_or(0), 0);
    let rules = std::process::Command::new("nft")
        .args(["list", "table", "ip", "berth"])
        .output()
        .unwrap();
    let rules = String::from_utf8_lossy(&rules.stdout);
    assert!(!rules.contains("18081") && !rules.contains(ip), "{rules}");
    // The veth goes with the namespace (kernel side, asynchronously): wait for its event.
    let mut gone = !Path::new("/sys/class/net").join(&veth).exists();
    while !gone {
        let evs = events
            .next_events(std::time::Duration::from_secs(30))
            .expect("veth not deleted within 30 s");
        gone = evs.iter().any(|(ty, p)| {
            *ty == net::netlink::RTM_DELLINK
                && net::netlink::link_name(p).as_deref() == Some(veth.as_str())
        });
    }
}

#[test]
fn none_host_and_container_modes() {
    let t = NetEnv::new();
    let e = &t.env;
    let o = e.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "ip",
        "-o",
        "link",
    ]);
    assert_eq!(o.lines().count(), 1, "{o}");
    assert!(o.contains("lo:"), "{o}");
    let o = e.ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        "busybox",
        "ip",
        "-o",
        "link",
    ]);
    assert!(
        o.contains(&format!(": {}:", t.bridge)),
        "host links visible: {o}"
    );
    e.ok(&["run", "-d", "--name", "owner", "busybox", "sleep", "1000"]);
    let a = e.ok(&["exec", "owner", "readlink", "/proc/self/ns/net"]);
    let b = e.ok(&[
        "run",
        "--rm",
        "--network",
        "container:owner",
        "busybox",
        "readlink",
        "/proc/self/ns/net",
    ]);
    assert_eq!(a, b, "container: shares the namespace");
}

#[test]
fn user_network_names_aliases_and_fixed_ip() {
    let t = NetEnv::new();
    let e = &t.env;
    // A user network on another free 10.213.x.0/24 with its own device.
    let dev = format!("{}u", t.bridge);
    let mut net = None;
    for i in 0..256u32 {
        let x = (std::process::id() * 7 + i * 13 + 101) % 256;
        let subnet = format!("10.213.{x}.0/24");
        let opt = format!("com.docker.network.bridge.name={dev}");
        let o = e.run(&[
            "network", "create", "--subnet", &subnet, "-o", &opt, "usernet",
        ]);
        if o.status.success() {
            net = Some(format!("10.213.{x}"));
            break;
        }
    }
    let prefix = net.expect("no free 10.213.x.0/24 for the user network");
    let fixed = format!("{prefix}.77");
    e.ok(&[
        "run",
        "-d",
        "--name",
        "server",
        "--network",
        "usernet",
        "--network-alias",
        "db",
        "--ip",
        &fixed,
        "busybox",
        "sleep",
        "1000",
    ]);
    let ip = e.ok(&[
        "inspect",
        "-f",
        "{{(index .NetworkSettings.Networks \"usernet\").IPAddress}}",
        "server",
    ]);
    assert_eq!(ip.trim(), fixed);
    // busybox's own resolver (nslookup) asks the embedded DNS server for name and alias.
    for name in ["server", "db"] {
        let o = e.ok(&[
            "run",
            "--rm",
            "--network",
            "usernet",
            "busybox",
            "nslookup",
            name,
        ]);
        assert!(o.contains(&fixed), "{name}: {o}");
    }
    let o = e.ok(&[
        "run",
        "--rm",
        "--network",
        "usernet",
        "--cap-add",
        "NET_RAW",
        "busybox",
        "ping",
        "-c1",
        "-W2",
        &fixed,
    ]);
    assert!(o.contains("1 packets received"), "{o}");
    // 30 parallel runs get 30 distinct addresses.
    let root = e.root();
    let runroot = e.runroot();
    let handles: Vec<_> = (0..30)
        .map(|_| {
            let (root, runroot) = (root.clone(), runroot.clone());
            std::thread::spawn(move || {
                let o = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
                    .arg("--root")
                    .arg(&root)
                    .arg("--runroot")
                    .arg(&runroot)
                    .args(["run", "--rm", "--network", "usernet", "busybox", "sh", "-c"])
                    .arg("ip -o -4 addr show eth0 | awk '{print $4}'")
                    .output()
                    .unwrap();
                assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
                String::from_utf8_lossy(&o.stdout).trim().to_string()
            })
        })
        .collect();
    let mut ips: Vec<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 30, "{ips:?}");
    e.ok(&["rm", "-f", "server"]);
    e.ok(&["network", "rm", "usernet"]);
    assert!(!Path::new("/sys/class/net").join(&dev).exists());
}
