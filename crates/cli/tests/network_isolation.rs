//! Issue 11: isolation between networks, `--internal`, and the default capabilities without
//! NET_RAW (root, real kernel). Networks go on free 10.214.x.0/24 subnets (the other network
//! tests walk 10.213.x) with unique devices; traffic stays on the bridges made here.

mod common;

use common::Env;
use engine::network::net::{self, NetworkController};
use std::path::Path;
use std::process::Command;

/// An Env with its own default `bridge` and user networks; networks and devices removed on drop.
struct Nets {
    env: Env,
    devs: Vec<String>,
}

impl Nets {
    fn new() -> Nets {
        let env = Env::new();
        env.import_busybox();
        let mut n = Nets { env, devs: vec![] };
        n.create("bridge", &[]);
        n
    }

    /// Creates network `name` on a free 10.214.x.0/24; returns its "10.214.x" prefix.
    fn create(&mut self, name: &str, extra: &[&str]) -> String {
        static SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dev = format!("bi{}x{seq}", std::process::id() % 10_000_000);
        let start = std::process::id() as usize * 5 + seq * 37;
        for i in 0..256 {
            let x = (start + i) % 256;
            let subnet = format!("10.214.{x}.0/24");
            let opt = format!("com.docker.network.bridge.name={dev}");
            let mut args = vec!["network", "create", "--subnet", &subnet, "-o", &opt];
            args.extend(extra);
            args.push(name);
            let o = self.env.run(&args);
            if o.status.success() {
                self.devs.push(dev);
                return format!("10.214.{x}");
            }
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(err.contains("overlaps"), "{err}");
        }
        panic!("no free 10.214.x.0/24");
    }

    fn ip(&self, ctr: &str, net: &str) -> String {
        let f = format!("{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}");
        self.env.ok(&["inspect", "-f", &f, ctr]).trim().to_string()
    }

    /// A detached busybox httpd serving `text` as /index.html on `net`; waits (bounded) until
    /// the host gets the page from it. Returns its address on `net`.
    fn web(&self, name: &str, net: &str, text: &str, extra: &[&str]) -> String {
        let script = format!("echo {text} > /www/index.html && exec httpd -f -p 80 -h /www");
        let mut args = vec!["run", "-d", "--name", name, "--network", net];
        args.extend(extra);
        args.extend(["busybox", "sh", "-c", &script]);
        self.env.ok(&args);
        let ip = self.ip(name, net);
        let url = format!("http://{ip}/index.html");
        for _ in 0..100 {
            let o = Command::new(testutil::BUSYBOX)
                .args(["wget", "-q", "-O-", &url])
                .output()
                .unwrap();
            if String::from_utf8_lossy(&o.stdout).contains(text) {
                return ip;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("{name} never served {url} to the host");
    }

    /// `wget -O- url` from inside container `ctr`, cut off after 4 s (a dropped SYN would
    /// otherwise wait for TCP's own timeout). Some(page) on success.
    fn fetch(&self, ctr: &str, url: &str) -> Option<String> {
        let o = self
            .env
            .run(&["exec", ctr, "timeout", "4", "wget", "-q", "-O-", url]);
        o.status
            .success()
            .then(|| String::from_utf8_lossy(&o.stdout).to_string())
    }
}

impl Drop for Nets {
    fn drop(&mut self) {
        if let Ok(o) = self.env.cmd(&["ps", "-aq", "--no-trunc"]).output() {
            let ids = String::from_utf8_lossy(&o.stdout).to_string();
            let ids: Vec<&str> = ids.split_whitespace().collect();
            if !ids.is_empty() {
                let mut args = vec!["rm", "-f"];
                args.extend(ids);
                let _ = self.env.cmd(&args).output();
            }
        }
        if let Ok(ctl) = NetworkController::open(&self.env.root(), &self.env.runroot()) {
            for n in ctl.list().unwrap_or_default() {
                for id in n.containers.keys() {
                    let _ = ctl.destroy_sandbox(id);
                }
                let _ = ctl.remove_network(&n.id);
            }
        }
        for d in &self.devs {
            if Path::new("/sys/class/net").join(d).exists() {
                let mut nl = net::netlink::Netlink::open(net::netlink::NETLINK_ROUTE).unwrap();
                let _ = nl.exec(&mut [net::netlink::del_link(d)]);
            }
        }
    }
}

fn nft_set(set: &str) -> String {
    let o = Command::new("nft")
        .args(["list", "set", "ip", "berth", set])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).to_string()
}

#[test]
fn networks_are_isolated_published_ports_and_internal_networks() {
    let mut t = Nets::new();
    let user = t.create("usernet", &[]);
    let internal = t.create("isonet", &["--internal"]);
    let bridge_gw = {
        let o = t.env.ok(&[
            "network",
            "inspect",
            "-f",
            "{{(index .IPAM.Config 0).Gateway}}",
            "bridge",
        ]);
        o.trim().to_string()
    };
    let e = &t.env;

    let web = t.web("web", "usernet", "from-user", &["-p", "80"]);
    assert!(web.starts_with(&user), "{web}");
    let f = "{{(index (index .NetworkSettings.Ports \"80/tcp\") 0).HostPort}}";
    let hp = e.ok(&["inspect", "-f", f, "web"]).trim().to_string();
    let web0 = t.web("web0", "bridge", "from-default", &[]);
    e.ok(&["run", "-d", "--name", "client", "busybox", "sleep", "1000"]);

    // Same network: works. Across networks (default bridge -> user network): dropped.
    let page = t.fetch("client", &format!("http://{web0}/index.html"));
    assert!(page.is_some_and(|p| p.contains("from-default")));
    let page = t.fetch("client", &format!("http://{web}/index.html"));
    assert!(
        page.is_none(),
        "the default bridge reached usernet: {page:?}"
    );
    let page = t.fetch("web", &format!("http://{web0}/index.html"));
    assert!(
        page.is_none(),
        "usernet reached the default bridge: {page:?}"
    );
    // The published port: through the host's address on the client's bridge, and from the
    // host's 127.0.0.1.
    let page = t.fetch("client", &format!("http://{bridge_gw}:{hp}/index.html"));
    assert!(page.is_some_and(|p| p.contains("from-user")));
    let o = Command::new(testutil::BUSYBOX)
        .args([
            "wget",
            "-q",
            "-O-",
            &format!("http://127.0.0.1:{hp}/index.html"),
        ])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).contains("from-user"));
    // The embedded DNS of the user network still answers.
    let o = e.ok(&[
        "run",
        "--rm",
        "--network",
        "usernet",
        "busybox",
        "nslookup",
        "web",
    ]);
    assert!(o.contains(&web), "{o}");

    // --internal: -p is refused (Docker would accept it and publish nothing).
    let (_, err) = e.code(
        &[
            "run",
            "--rm",
            "--network",
            "isonet",
            "-p",
            "8080:80",
            "busybox",
            "true",
        ],
        125,
    );
    assert!(
        err.contains("-p/--publish") && err.contains("isonet"),
        "{err}"
    );
    let iweb = t.web("iweb", "isonet", "from-internal", &[]);
    assert!(iweb.starts_with(&internal), "{iweb}");
    e.ok(&[
        "run",
        "-d",
        "--name",
        "iclient",
        "--network",
        "isonet",
        "busybox",
        "sleep",
        "1000",
    ]);
    let page = t.fetch("iclient", &format!("http://{iweb}/index.html"));
    assert!(page.is_some_and(|p| p.contains("from-internal")));
    let o = e.ok(&["exec", "iclient", "ip", "route"]);
    assert!(
        !o.contains("default"),
        "an internal network has no route out: {o}"
    );
    for url in [
        format!("http://{web0}/index.html"),
        format!("http://{bridge_gw}:{hp}/index.html"),
    ] {
        let page = t.fetch("iclient", &url);
        assert!(
            page.is_none(),
            "the internal network reached {url}: {page:?}"
        );
    }
    let page = t.fetch("client", &format!("http://{iweb}/index.html"));
    assert!(
        page.is_none(),
        "the default bridge reached isonet: {page:?}"
    );

    // Removing the networks leaves none of their registrations behind.
    for c in ["web", "web0", "client", "iweb", "iclient"] {
        e.ok(&["rm", "-f", c]);
    }
    e.ok(&["network", "rm", "usernet", "isonet"]);
    let devs = t.devs[1..].to_vec();
    for set in ["bridges", "internal", "same"] {
        let s = nft_set(set);
        for d in &devs {
            assert!(!s.contains(&format!("\"{d}\"")), "{d} left in {set}: {s}");
        }
    }
}

fn cap_eff(status: &str) -> u64 {
    let v = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .unwrap_or_else(|| panic!("no CapEff in {status}"));
    u64::from_str_radix(v.trim(), 16).unwrap()
}

const NET_RAW: u64 = 1 << 13;

#[test]
fn default_capabilities_lack_net_raw_and_ping_sockets_are_allowed() {
    let t = Nets::new();
    let e = &t.env;
    let gw = e.ok(&[
        "network",
        "inspect",
        "-f",
        "{{(index .IPAM.Config 0).Gateway}}",
        "bridge",
    ]);
    let gw = gw.trim();
    let o = e.ok(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "cat /proc/self/status /proc/sys/net/ipv4/ping_group_range",
    ]);
    assert_eq!(cap_eff(&o) & NET_RAW, 0, "{o}");
    assert!(o.contains("0\t2147483647"), "{o}");
    // A raw socket is refused (busybox's ping has no ICMP echo socket fallback)...
    let o = e.run(&["run", "--rm", "busybox", "ping", "-c1", "-W2", gw]);
    assert_ne!(o.status.code(), Some(0));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("permission denied"), "{err}");
    // ... and --cap-add NET_RAW restores it.
    let o = e.ok(&[
        "run",
        "--rm",
        "--cap-add",
        "NET_RAW",
        "busybox",
        "sh",
        "-c",
        &format!("grep CapEff /proc/self/status; ping -c1 -W2 {gw}"),
    ]);
    assert_ne!(cap_eff(&o) & NET_RAW, 0, "{o}");
    assert!(o.contains("1 packets received"), "{o}");
    // --network host: the host's own setting, untouched; container: shares the owner's.
    let host = std::fs::read_to_string("/proc/sys/net/ipv4/ping_group_range").unwrap();
    let o = e.ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        "busybox",
        "cat",
        "/proc/sys/net/ipv4/ping_group_range",
    ]);
    assert_eq!(o, host);
    e.ok(&["run", "-d", "--name", "owner", "busybox", "sleep", "1000"]);
    let o = e.ok(&[
        "run",
        "--rm",
        "--network",
        "container:owner",
        "busybox",
        "cat",
        "/proc/sys/net/ipv4/ping_group_range",
    ]);
    assert_eq!(o.trim(), "0\t2147483647");
}
