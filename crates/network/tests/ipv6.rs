//! Dual-stack networks (root, real kernel): v6 addresses and routes, traffic between sandboxes
//! over v6, published ports over v6 (DNAT in `table ip6 berth`), AAAA records, refusals, and
//! no leftover ip6 elements. Subnets: fd39:<pid>:<seq>::/64 (this helper's ULA range only).

mod common;

use common::*;
use network::*;
use std::net::{IpAddr, Ipv6Addr, TcpListener};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU32, Ordering};

static SEQ6: AtomicU32 = AtomicU32::new(0);

/// A v6 subnet no other test process uses: fd39:<pid>:<seq>::/64.
fn subnet6() -> Ipv6Net {
    format!(
        "fd39:{:x}:{:x}::/64",
        std::process::id() & 0xffff,
        SEQ6.fetch_add(1, Ordering::Relaxed)
    )
    .parse()
    .unwrap()
}

fn dual() -> (TestNet, Ipv6Net) {
    let s6 = subnet6();
    let t = TestNet::with(move |o| {
        o.ipv6 = true;
        o.subnet6 = Some(s6);
    });
    (t, s6)
}

fn opts(name: &str) -> EndpointOptions {
    EndpointOptions {
        name: name.into(),
        ..Default::default()
    }
}

/// Elements of a map or set of `table ip6 berth`, as `nft` prints them.
fn nft6(kind: &str, name: &str) -> String {
    let o = Command::new("nft")
        .args(["list", kind, "ip6", "berth", name])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// busybox httpd in the foreground inside `ns`, serving `dir` on [::]:80; killed on drop.
struct Httpd(Child);

impl Httpd {
    fn start(ns: &Path, dir: &Path) -> Httpd {
        let f = std::fs::File::open(ns).unwrap();
        let mut c = Command::new(testutil::BUSYBOX);
        c.args(["httpd", "-f", "-p", "[::]:80", "-h"]).arg(dir);
        // SAFETY: only async-signal-safe setns between fork and exec; f outlives the spawn.
        unsafe {
            c.pre_exec(move || {
                if libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let h = Httpd(c.spawn().unwrap());
        // Listening once the socket shows up in the namespace.
        for _ in 0..100 {
            let o = busybox_in(ns, &["netstat", "-ltn"]);
            if String::from_utf8_lossy(&o.stdout).contains(":80 ") {
                return h;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        panic!("httpd did not start listening");
    }
}

impl Drop for Httpd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn out(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn dual_stack_sandboxes_ping6_fetch_and_show_in_inspect() {
    let (t, s6) = dual();
    let a = t.ctl.create_sandbox(&testutil::unique_name("a")).unwrap();
    let b = t.ctl.create_sandbox(&testutil::unique_name("b")).unwrap();
    let ea = t.ctl.join(&a, &t.name, opts("a")).unwrap();
    let want_b: Ipv6Addr = Ipv6Addr::from(s6.first() + 0x99);
    let eb = t
        .ctl
        .join(
            &b,
            &t.name,
            EndpointOptions {
                ip6: Some(want_b),
                ..opts("b")
            },
        )
        .unwrap();
    // Docker's IPAM: gateway ::1, first container ::2; --ip6 is honoured.
    let gw6 = Ipv6Addr::from(s6.first() + 1);
    assert_eq!(ea.ipv6, Some(Ipv6Addr::from(s6.first() + 2)));
    assert_eq!(eb.ipv6, Some(want_b));
    assert_eq!((ea.ipv6_prefix_len, ea.ipv6_gateway), (64, Some(gw6)));
    let (a6, b6) = (ea.ipv6.unwrap().to_string(), want_b.to_string());
    for (ns, peer) in [(a.path(), &b6), (b.path(), &a6)] {
        let o = busybox_in(ns, &["ping", "-6", "-c1", "-w5", peer]);
        assert!(o.status.success(), "ping6 {peer}: {}", out(&o));
    }
    // The bridge holds the v6 gateway; the sandbox has the address and a v6 default route.
    let o = busybox_in(a.path(), &["ip", "-6", "addr", "show", "eth0"]);
    assert!(out(&o).contains(&format!("inet6 {a6}/64")), "{}", out(&o));
    let o = busybox_in(a.path(), &["ip", "-6", "route"]);
    assert!(
        out(&o).contains(&format!("default via {gw6}")),
        "{}",
        out(&o)
    );
    let o = busybox_in(a.path(), &["ping", "-6", "-c1", "-w5", &gw6.to_string()]);
    assert!(o.status.success(), "ping6 gateway: {}", out(&o));
    // HTTP over v6 between the sandboxes.
    let www = tempfile::tempdir().unwrap();
    std::fs::write(www.path().join("index.html"), "hello6\n").unwrap();
    let _h = Httpd::start(b.path(), www.path());
    let o = busybox_in(a.path(), &["wget", "-qO-", &format!("http://[{b6}]/")]);
    assert_eq!(out(&o), "hello6\n");
    // inspect: Docker's field names and values.
    let n = t.ctl.inspect(&t.name).unwrap();
    let j = serde_json::to_value(&n).unwrap();
    assert_eq!(j["EnableIPv6"], true);
    assert_eq!(j["IPAM"]["Config"][0]["Subnet"], t.subnet.to_string());
    assert_eq!(j["IPAM"]["Config"][1]["Subnet"], s6.to_string());
    assert_eq!(j["IPAM"]["Config"][1]["Gateway"], gw6.to_string());
    assert_eq!(j["Containers"][&b.id]["IPv6Address"], format!("{b6}/64"));
    // DNS records carry both families.
    let r = t.ctl.dns_records(&t.name).unwrap();
    assert!(r["b"].contains(&IpAddr::V6(want_b)), "{r:?}");
    assert!(r["b"].contains(&IpAddr::V4(eb.ipv4)), "{r:?}");
    // The v6 pool is persistent: a leave frees the address, others stay taken.
    t.ctl.leave(&b.id, &t.name).unwrap();
    let c = t.ctl.create_sandbox(&testutil::unique_name("c")).unwrap();
    let ec = t
        .ctl
        .join(
            &c,
            &t.name,
            EndpointOptions {
                ip6: Some(want_b),
                ..opts("c")
            },
        )
        .unwrap();
    assert_eq!(ec.ipv6, Some(want_b));
    let err = t
        .ctl
        .join(
            &b,
            &t.name,
            EndpointOptions {
                ip6: ea.ipv6,
                ..opts("b")
            },
        )
        .unwrap_err();
    assert!(err.to_string().contains("already in use"), "{err}");
}

/// A host v6 address to reach published ports on (DNAT in the output hook). The test machine
/// has one on its uplink; without any, the test cannot check v6 DNAT and says so.
fn host_v6() -> Ipv6Addr {
    let o = Command::new("ip")
        .args(["-6", "-o", "addr", "show", "scope", "global"])
        .output()
        .unwrap();
    for l in String::from_utf8_lossy(&o.stdout).lines() {
        let Some(a) = l.split_whitespace().skip_while(|w| *w != "inet6").nth(1) else {
            continue;
        };
        let ip: Ipv6Addr = a.split('/').next().unwrap().parse().unwrap();
        // Not one of berth's own bridges (fd39::/16 in these tests).
        if ip.segments()[0] != 0xfd39 {
            return ip;
        }
    }
    panic!("no global IPv6 address on the host: v6 DNAT cannot be tested here");
}

#[test]
fn published_port_answers_over_v6_and_leaves_no_elements() {
    let (t, _) = dual();
    let sb = t.ctl.create_sandbox(&testutil::unique_name("p")).unwrap();
    let hp = {
        let l = TcpListener::bind("[::]:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let ep = t
        .ctl
        .join(
            &sb,
            &t.name,
            EndpointOptions {
                port_bindings: parse_publish(&format!("{hp}:80")).unwrap(),
                ..opts("p")
            },
        )
        .unwrap();
    let c6 = ep.ipv6.unwrap();
    let elem = format!("tcp . {hp} : {c6} . 80");
    assert!(
        nft6("map", "ports_any").contains(&elem),
        "{}",
        nft6("map", "ports_any")
    );
    assert!(nft6("set", "same").contains(&t.bridge));
    let www = tempfile::tempdir().unwrap();
    std::fs::write(www.path().join("index.html"), "pub6\n").unwrap();
    let _h = Httpd::start(sb.path(), www.path());
    let h6 = host_v6();
    let o = Command::new(testutil::BUSYBOX)
        .args(["wget", "-qO-", &format!("http://[{h6}]:{hp}/")])
        .output()
        .unwrap();
    assert_eq!(out(&o), "pub6\n", "via [{h6}]:{hp}");
    // Hairpin: the container reaches itself through the host's v6 address.
    let o = busybox_in(
        sb.path(),
        &["wget", "-qO-", &format!("http://[{h6}]:{hp}/")],
    );
    assert_eq!(out(&o), "pub6\n", "hairpin via [{h6}]:{hp}");
    // NAT66: the sandbox reaches a host address outside its subnet.
    let o = busybox_in(sb.path(), &["ping", "-6", "-c1", "-w5", &h6.to_string()]);
    assert!(o.status.success(), "{}", out(&o));
    t.ctl.destroy_sandbox(&sb.id).unwrap();
    assert!(!nft6("map", "ports_any").contains(&elem));
    assert!(!nft6("set", "hairpin").contains(&c6.to_string()));
    let bridge = t.bridge.clone();
    t.ctl.remove_network(&t.name).unwrap();
    for s in ["bridges", "same"] {
        assert!(!nft6("set", s).contains(&bridge), "{s}: {}", nft6("set", s));
    }
}

#[test]
fn v6_refusals_are_clear_and_leave_nothing() {
    let (t, s6) = dual();
    let try_create = |name: &str, f: &dyn Fn(&mut NetworkOptions)| {
        let mut o = NetworkOptions {
            subnet: Some("10.239.250.0/24".parse().unwrap()),
            bridge_name: Some(bridge_name()),
            ..Default::default()
        };
        f(&mut o);
        let b = o.bridge_name.clone().unwrap();
        let r = t.ctl.create_network(name, o);
        assert!(!link_exists(&b), "{name}: bridge left behind");
        r.unwrap_err().to_string()
    };
    // Overlapping another network's v6 pool (dockerd's words first).
    let e = try_create("ov", &|o| {
        o.ipv6 = true;
        o.subnet6 = Some(format!("{}/48", s6.addr()).parse().unwrap());
    });
    assert!(
        e.contains("Pool overlaps with other one on this address space"),
        "{e}"
    );
    // --ipv6 without a v6 subnet: dockerd 20.10 has no default v6 pool either.
    let e = try_create("nopool", &|o| o.ipv6 = true);
    assert!(
        e.contains("could not find an available, non-overlapping IPv6 address pool"),
        "{e}"
    );
    // A v6 subnet without --ipv6 would be dropped: refused.
    let e = try_create("noflag", &|o| o.subnet6 = Some(subnet6()));
    assert!(e.contains("pass --ipv6"), "{e}");
    // Too small for a gateway and a container; link-local; gateway outside.
    let e = try_create("small", &|o| {
        o.ipv6 = true;
        o.subnet6 = Some("fd39:ffff:1::/127".parse().unwrap());
    });
    assert!(e.contains("too small"), "{e}");
    let e = try_create("ll", &|o| {
        o.ipv6 = true;
        o.subnet6 = Some("fe80::/64".parse().unwrap());
    });
    assert!(e.contains("cannot be used"), "{e}");
    let e = try_create("gw", &|o| {
        o.ipv6 = true;
        o.subnet6 = Some(subnet6());
        o.gateway6 = Some("fd39:ffff:2::1".parse().unwrap());
    });
    assert!(e.contains("is not a host address"), "{e}");
    assert_eq!(t.ctl.list().unwrap().len(), 1);
    // --ip6 outside the subnet, and on a v4-only network.
    let sb = t.ctl.create_sandbox(&testutil::unique_name("r")).unwrap();
    let e = t
        .ctl
        .join(
            &sb,
            &t.name,
            EndpointOptions {
                ip6: Some("fd39:ffff:3::5".parse().unwrap()),
                ..opts("r")
            },
        )
        .unwrap_err();
    assert!(e.to_string().contains("is not in subnet"), "{e}");
    assert!(t.ctl.inspect(&t.name).unwrap().containers.is_empty());
    let v4 = TestNet::new();
    let e = v4
        .ctl
        .join(
            &v4.ctl.create_sandbox(&testutil::unique_name("s")).unwrap(),
            &v4.name,
            EndpointOptions {
                ip6: Some("fd39:ffff:3::5".parse().unwrap()),
                ..opts("s")
            },
        )
        .unwrap_err();
    assert!(
        e.to_string().contains("--ip6 needs a network with IPv6"),
        "{e}"
    );
    let e = v4
        .ctl
        .join(
            &v4.ctl.create_sandbox(&testutil::unique_name("u")).unwrap(),
            &v4.name,
            EndpointOptions {
                port_bindings: parse_publish("[fd39:ffff::1]:18099:80").unwrap(),
                ..opts("u")
            },
        )
        .unwrap_err();
    assert!(e.to_string().contains("it has no IPv6"), "{e}");
}

#[test]
fn dual_stack_networks_are_isolated_over_v6() {
    let (t1, _) = dual();
    let (t2, _) = dual();
    let a = t1.ctl.create_sandbox(&testutil::unique_name("i1")).unwrap();
    let b = t2.ctl.create_sandbox(&testutil::unique_name("i2")).unwrap();
    let a2 = t1.ctl.create_sandbox(&testutil::unique_name("i3")).unwrap();
    t1.ctl.join(&a, &t1.name, opts("i1")).unwrap();
    let ea2 = t1.ctl.join(&a2, &t1.name, opts("i3")).unwrap();
    let eb = t2.ctl.join(&b, &t2.name, opts("i2")).unwrap();
    // Same network: allowed; across networks: dropped by the ip6 isolation chain.
    let o = busybox_in(
        a.path(),
        &["ping", "-6", "-c1", "-w3", &ea2.ipv6.unwrap().to_string()],
    );
    assert!(o.status.success(), "same network: {}", out(&o));
    let o = busybox_in(
        a.path(),
        &["ping", "-6", "-c1", "-w2", &eb.ipv6.unwrap().to_string()],
    );
    assert!(!o.status.success(), "crossed networks over v6: {}", out(&o));
    // The v4 side is isolated as before.
    let o = busybox_in(a.path(), &["ping", "-c1", "-w2", &eb.ipv4.to_string()]);
    assert!(!o.status.success(), "crossed networks over v4: {}", out(&o));
}

#[test]
fn audit_finds_and_removes_v6_leftovers() {
    let (t, s6) = dual();
    let sb = t.ctl.create_sandbox(&testutil::unique_name("l")).unwrap();
    let hp = TcpListener::bind("[::]:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let ep = t
        .ctl
        .join(
            &sb,
            &t.name,
            EndpointOptions {
                port_bindings: parse_publish(&format!("{hp}:80")).unwrap(),
                ..opts("l")
            },
        )
        .unwrap();
    let c6 = ep.ipv6.unwrap();
    // A stray ip6 element for an address of this network with no endpoint (a crash between
    // the kernel's and the state's updates).
    let ghost = Ipv6Addr::from(s6.first() + 0x77);
    let hp2 = hp.wrapping_add(1).max(1024);
    let st = Command::new("nft")
        .args([
            "add",
            "element",
            "ip6",
            "berth",
            "ports_any",
            &format!("{{ tcp . {hp2} : {ghost} . 80 }}"),
        ])
        .status()
        .unwrap();
    assert!(st.success());
    // The running container's endpoint is owned: only the stray element is reported.
    let owned = |id: &str| id == sb.id;
    let leaks = t.ctl.audit(&owned, false).unwrap();
    let objs: Vec<String> = leaks
        .iter()
        .map(|l| format!("{} {}: {}", l.kind, l.object, l.problem))
        .collect();
    assert!(
        objs.iter()
            .any(|o| o.starts_with("nft ip6 ports_any") && o.contains(&ghost.to_string())),
        "{objs:?}"
    );
    assert!(
        !objs.iter().any(|o| o.contains(&c6.to_string())),
        "{objs:?}"
    );
    t.ctl.audit(&owned, true).unwrap();
    assert!(!nft6("map", "ports_any").contains(&ghost.to_string()));
    assert!(nft6("map", "ports_any").contains(&c6.to_string()));
    // Once not owned, the endpoint is a leak: disconnecting it frees its v6 elements too.
    let leaks = t.ctl.audit(&|_| false, true).unwrap();
    assert!(leaks.iter().any(|l| l.kind == "endpoint"), "{leaks:?}");
    assert!(!nft6("map", "ports_any").contains(&c6.to_string()));
    assert!(!nft6("set", "hairpin").contains(&c6.to_string()));
}

#[test]
fn port_taken_on_loopback6_is_a_conflict_on_a_dual_stack_network() {
    let (t, _) = dual();
    // Something on the host holds [::1]:P (but not 0.0.0.0:P): the monitor's proxy could not
    // serve -p P:C there, so the join is refused and leaves nothing.
    let l = TcpListener::bind("[::1]:0").unwrap();
    let hp = l.local_addr().unwrap().port();
    let sb = t.ctl.create_sandbox(&testutil::unique_name("k")).unwrap();
    let e = t
        .ctl
        .join(
            &sb,
            &t.name,
            EndpointOptions {
                port_bindings: parse_publish(&format!("{hp}:80")).unwrap(),
                ..opts("k")
            },
        )
        .unwrap_err();
    assert!(matches!(e, Error::Conflict(_)), "{e}");
    assert!(e.to_string().contains(&format!("[::1]:{hp}")), "{e}");
    assert!(t.ctl.inspect(&t.name).unwrap().containers.is_empty());
    assert!(!nft6("map", "ports_any").contains(&format!(" {hp} ")));
}
