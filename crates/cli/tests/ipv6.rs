//! IPv6 end to end through the CLI (root, real kernel): `network create --ipv6` with a v4 and
//! a v6 `--subnet`, containers pinging and fetching over v6, AAAA from the embedded DNS,
//! published ports answering on `[::1]`, `--ip6` on run and `network connect`, Docker's
//! inspect fields (checked against dockerd 20.10 with the docker CLI 28), refusals, and no
//! ip6 nftables elements or listeners left behind. Subnets: 10.239.x.0/24 and
//! fd39:<pid>:<seq>::/64 only.

mod common;

use common::Env;
use serde_json::Value;
use std::net::TcpListener;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

static SEQ: AtomicU32 = AtomicU32::new(0);

/// Env with a busybox image; removes its containers and networks on drop.
struct V6Env {
    env: Env,
    nets: std::cell::RefCell<Vec<String>>,
}

impl V6Env {
    fn new() -> V6Env {
        let env = Env::new();
        env.import_busybox();
        V6Env {
            env,
            nets: Default::default(),
        }
    }

    /// A dual-stack network on a free 10.239.x.0/24 and a fresh fd39:<pid>:<seq>::/64;
    /// returns the v6 subnet's prefix ("fd39:a:b::").
    fn dual_network(&self, name: &str) -> String {
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let p6 = format!("fd39:{:x}:{:x}::", std::process::id() & 0xffff, 0x100 + seq);
        let start = std::process::id() as usize * 5 + seq as usize * 17;
        for i in 0..256 {
            let x = (start + i) % 256;
            let v4 = format!("10.239.{x}.0/24");
            let v6 = format!("{p6}/64");
            let o = self.env.run(&[
                "network", "create", "--ipv6", "--subnet", &v4, "--subnet", &v6, name,
            ]);
            if o.status.success() {
                self.nets.borrow_mut().push(name.to_string());
                return p6;
            }
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(err.contains("overlaps"), "{err}");
        }
        panic!("no free 10.239.x.0/24");
    }

    fn inspect(&self, what: &[&str]) -> Value {
        let mut a = vec!["inspect"];
        a.extend_from_slice(what);
        let v: Value = serde_json::from_str(&self.env.ok(&a)).unwrap();
        v[0].clone()
    }
}

impl Drop for V6Env {
    fn drop(&mut self) {
        if let Ok(o) = self.env.cmd(&["ps", "-aq", "--no-trunc"]).output() {
            let ids = String::from_utf8_lossy(&o.stdout).to_string();
            let mut args = vec!["rm", "-f"];
            args.extend(ids.split_whitespace());
            if args.len() > 2 {
                let _ = self.env.cmd(&args).output();
            }
        }
        for n in self.nets.borrow().iter() {
            let _ = self.env.cmd(&["network", "rm", n]).output();
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("[::]:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn nft6(kind: &str, name: &str) -> String {
    let o = Command::new("nft")
        .args(["list", kind, "ip6", "berth", name])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn get(url: &str) -> String {
    let o = Command::new(testutil::BUSYBOX)
        .args(["wget", "-qO-", url])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).to_string()
}

#[test]
fn dual_stack_containers_talk_over_v6_resolve_aaaa_and_publish_on_loopback6() {
    let t = V6Env::new();
    let e = &t.env;
    let net = testutil::unique_name("n6");
    let p6 = t.dual_network(&net);
    let (hp, hp1) = (free_port(), free_port());
    let web = testutil::unique_name("web");
    e.ok(&[
        "run",
        "-d",
        "--name",
        &web,
        "--network",
        &net,
        "-p",
        &format!("{hp}:80"),
        "-p",
        &format!("[::1]:{hp1}:80"),
        "busybox",
        "httpd",
        "-f",
        "-p",
        "[::]:80",
        "-h",
        "/www",
    ]);
    let cli = testutil::unique_name("cli");
    let ip6 = format!("{p6}99");
    e.ok(&[
        "run",
        "-d",
        "--name",
        &cli,
        "--network",
        &net,
        "--ip6",
        &ip6,
        "--cap-add",
        "NET_RAW",
        "busybox",
        "sleep",
        "1000",
    ]);
    // Docker's fields: per network, and the network's view (dockerd 20.10 output).
    let w = t.inspect(&[&web]);
    let n = &w["NetworkSettings"]["Networks"][&net];
    let web6 = format!("{p6}2");
    assert_eq!(n["GlobalIPv6Address"], web6.as_str());
    assert_eq!(n["GlobalIPv6PrefixLen"], 64);
    assert_eq!(n["IPv6Gateway"], format!("{p6}1").as_str());
    assert_eq!(n["IPAMConfig"], Value::Null);
    // Like dockerd: the top-level fields are the default bridge's only.
    assert_eq!(w["NetworkSettings"]["GlobalIPv6Address"], "");
    assert_eq!(w["NetworkSettings"]["IPv6Gateway"], "");
    // -p P:C answers on every v6 address too: Docker's second, `::` binding.
    let ports = &w["NetworkSettings"]["Ports"]["80/tcp"];
    let rows: Vec<(String, String)> = ports
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["HostIp"].as_str().unwrap().into(),
                b["HostPort"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            ("0.0.0.0".into(), hp.to_string()),
            ("::".into(), hp.to_string()),
            ("::1".into(), hp1.to_string())
        ]
    );
    let c = t.inspect(&[&cli]);
    let n = &c["NetworkSettings"]["Networks"][&net];
    assert_eq!(n["GlobalIPv6Address"], ip6.as_str());
    assert_eq!(n["IPAMConfig"]["IPv6Address"], ip6.as_str());
    let ni =
        serde_json::from_str::<Value>(&e.ok(&["network", "inspect", &net])).unwrap()[0].clone();
    assert_eq!(ni["EnableIPv6"], true);
    assert_eq!(
        ni["IPAM"]["Config"][1]["Subnet"],
        format!("{p6}/64").as_str()
    );
    let cid = c["Id"].as_str().unwrap();
    assert_eq!(
        ni["Containers"][cid]["IPv6Address"],
        format!("{ip6}/64").as_str()
    );
    // ping6 and HTTP over v6 between the containers, by address and by name.
    let o = e.ok(&["exec", &cli, "ping", "-6", "-c1", "-w5", &web]);
    assert!(o.contains(&format!("from {web6}")), "{o}");
    assert_eq!(
        e.ok(&["exec", &cli, "wget", "-qO-", &format!("http://[{web6}]/")]),
        "hello\n"
    );
    // The embedded DNS answers AAAA with the v6 address.
    let o = e.ok(&["exec", &cli, "nslookup", "-type=AAAA", &web]);
    assert!(o.contains(&format!("Address: {web6}")), "{o}");
    assert!(!o.contains("Address: 10.239."), "{o}");
    // /etc/hosts has the v6 line (dockerd writes it too).
    let hosts = e.ok(&["exec", &cli, "cat", "/etc/hosts"]);
    assert!(hosts.contains(&format!("{ip6}\t")), "{hosts}");
    // Published ports answer on [::1] (userland proxy) and on 127.0.0.1.
    assert_eq!(get(&format!("http://[::1]:{hp1}/")), "hello\n");
    assert_eq!(get(&format!("http://[::1]:{hp}/")), "hello\n");
    assert_eq!(get(&format!("http://127.0.0.1:{hp}/")), "hello\n");
    assert!(nft6("map", "ports_any").contains(&format!("tcp . {hp} : {web6} . 80")));
    // network connect --ip6: a second dual-stack network.
    let net2 = testutil::unique_name("n6b");
    let q6 = t.dual_network(&net2);
    let want = format!("{q6}42");
    e.ok(&["network", "connect", "--ip6", &want, &net2, &cli]);
    // (Container inspect does not list networks joined by `network connect` yet, v4 or v6:
    // the record is not updated; see the report. The network's view is checked.)
    let n2 = serde_json::from_str::<Value>(&e.ok(&["network", "inspect", &net2])).unwrap();
    assert_eq!(
        n2[0]["Containers"][cid]["IPv6Address"],
        format!("{want}/64").as_str()
    );
    let o = e.ok(&["exec", &cli, "ip", "-6", "addr", "show", "eth1"]);
    assert!(o.contains(&format!("inet6 {want}/64")), "{o}");
    // Cleanup: no v6 elements, no listener on [::1].
    e.ok(&["rm", "-f", &web, &cli]);
    assert!(!nft6("map", "ports_any").contains(&format!(" {hp} ")));
    assert!(!nft6("set", "hairpin").contains(&web6));
    assert!(
        std::net::TcpListener::bind(("::1", hp1)).is_ok(),
        "[::1]:{hp1} still bound"
    );
    e.ok(&["network", "rm", &net, &net2]);
    t.nets.borrow_mut().clear();
    assert!(!nft6("set", "same").contains(
        &ni["Options"]["com.docker.network.bridge.name"]
            .as_str()
            .unwrap()
            .to_string()
    ));
}

#[test]
fn ipv6_refusals_exit_like_docker_and_leave_nothing() {
    let t = V6Env::new();
    let e = &t.env;
    let net = testutil::unique_name("r6");
    let p6 = t.dual_network(&net);
    // dockerd 20.10's messages for an overlapping pool and for --ipv6 without a v6 subnet.
    let (_, err) = e.code(
        &[
            "network",
            "create",
            "--ipv6",
            "--subnet",
            "10.239.251.0/24",
            "--subnet",
            &format!("{p6}/64"),
            "dup",
        ],
        1,
    );
    assert!(
        err.contains("Pool overlaps with other one on this address space"),
        "{err}"
    );
    let (_, err) = e.code(
        &[
            "network",
            "create",
            "--ipv6",
            "--subnet",
            "10.239.253.0/24",
            "nopool",
        ],
        1,
    );
    assert!(
        err.contains("could not find an available, non-overlapping IPv6 address pool among the defaults to assign to the network"),
        "{err}"
    );
    let (_, err) = e.code(
        &[
            "network",
            "create",
            "--ipv6",
            "--subnet",
            "10.239.252.0/24",
            "--subnet",
            "fd39:ffff:9::/127",
            "tiny",
        ],
        1,
    );
    assert!(err.contains("too small"), "{err}");
    let out = e.ok(&["network", "ls", "-q", "--filter", "type=custom"]);
    assert_eq!(out.lines().count(), 1, "{out}");
    // --ip6 outside the subnet; --ip6 on `none` (Docker's message).
    let (_, err) = e.code(
        &[
            "run",
            "--rm",
            "--network",
            &net,
            "--ip6",
            "fd39:ffff:9::5",
            "busybox",
            "true",
        ],
        125,
    );
    assert!(err.contains("is not in subnet"), "{err}");
    let (_, err) = e.code(
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "--ip6",
            "fd39::5",
            "busybox",
            "true",
        ],
        125,
    );
    assert!(
        err.contains("user specified IP address is supported on user defined networks only"),
        "{err}"
    );
    let (_, err) = e.code(
        &[
            "run",
            "--rm",
            "--network",
            &net,
            "--ip6",
            "nope",
            "busybox",
            "true",
        ],
        125,
    );
    assert!(err.contains("nope is not an ip address"), "{err}");
    let ps = e.ok(&["ps", "-aq"]);
    assert_eq!(ps, "", "nothing left: {ps}");
}
