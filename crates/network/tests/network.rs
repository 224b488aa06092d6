//! Real-kernel tests (root). Traffic stays on loopback and on bridges/namespaces made here.

mod common;

use common::*;
use network::*;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::OwnedFd;
use std::process::{Command, Stdio};
use std::sync::Arc;

fn opts(name: &str) -> EndpointOptions {
    EndpointOptions {
        name: name.into(),
        ..Default::default()
    }
}

#[test]
fn two_sandboxes_ping_each_other() {
    let t = TestNet::new();
    let a = t.ctl.create_sandbox(&testutil::unique_name("a")).unwrap();
    let b = t.ctl.create_sandbox(&testutil::unique_name("b")).unwrap();
    let ea = t.ctl.join(&a, &t.name, opts("a")).unwrap();
    let eb = t.ctl.join(&b, &t.name, opts("b")).unwrap();
    assert_ne!(ea.ipv4, eb.ipv4);
    assert!(t.subnet.contains(ea.ipv4) && t.subnet.contains(eb.ipv4));
    let o = busybox_in(a.path(), &["ping", "-c1", "-w5", &eb.ipv4.to_string()]);
    assert!(
        o.status.success(),
        "ping a->b: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    let o = busybox_in(b.path(), &["ping", "-c1", "-w5", &ea.ipv4.to_string()]);
    assert!(
        o.status.success(),
        "ping b->a: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    // eth0 carries the address and MAC we asked for; the default route goes via the gateway.
    let o = busybox_in(a.path(), &["ip", "addr", "show", "eth0"]);
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(
        s.contains(&format!("inet {}/24", ea.ipv4)) && s.contains(&ea.mac),
        "{s}"
    );
    let o = busybox_in(a.path(), &["ip", "route"]);
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(s.contains(&format!("default via {}", t.gateway())), "{s}");
    // inspect shows both, Docker-style.
    let n = t.ctl.inspect(&t.name).unwrap();
    assert_eq!(n.containers.len(), 2);
    assert_eq!(n.containers[&a.id].ipv4_address, format!("{}/24", ea.ipv4));
    let j = serde_json::to_value(&n).unwrap();
    assert_eq!(j["IPAM"]["Config"][0]["Subnet"], t.subnet.to_string());
    assert_eq!(j["Options"]["com.docker.network.bridge.name"], t.bridge);
    assert!(j["Containers"][&a.id]["EndpointID"].is_string());
}

#[test]
fn none_sandbox_has_only_lo() {
    let t = TestNet::new();
    let sb = t
        .ctl
        .create_sandbox(&testutil::unique_name("none"))
        .unwrap();
    let o = busybox_in(sb.path(), &["ip", "-o", "link"]);
    let s = String::from_utf8_lossy(&o.stdout);
    assert_eq!(s.lines().count(), 1, "{s}");
    assert!(s.contains("lo:") && s.contains("UP"), "{s}");
}

/// Accepts connections inside a sandbox and answers each with busybox httpd in inetd mode.
/// The listener is bound before this returns, so clients never race its start.
fn serve_http(
    ns: &std::path::Path,
    www: &std::path::Path,
) -> std::thread::JoinHandle<Vec<SocketAddr>> {
    let l = network::netns::run_in(ns, || TcpListener::bind("0.0.0.0:80"))
        .unwrap()
        .unwrap();
    let www = www.to_path_buf();
    std::thread::spawn(move || {
        let mut peers = Vec::new();
        for _ in 0..3 {
            let (s, peer) = l.accept().unwrap();
            peers.push(peer);
            let fd: OwnedFd = s.into();
            let out = fd.try_clone().unwrap();
            Command::new(testutil::BUSYBOX)
                .args(["httpd", "-i", "-h"])
                .arg(&www)
                .stdin(Stdio::from(fd))
                .stdout(Stdio::from(out))
                .stderr(Stdio::null())
                .status()
                .unwrap();
        }
        peers
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
fn published_port_on_localhost_gateway_and_hairpin() {
    let t = TestNet::new();
    let www = tempfile::tempdir().unwrap();
    std::fs::write(www.path().join("index.html"), "hello from berth\n").unwrap();
    let sb = t.ctl.create_sandbox(&testutil::unique_name("web")).unwrap();
    let ep = t
        .ctl
        .join(
            &sb,
            &t.name,
            EndpointOptions {
                name: "web".into(),
                port_bindings: parse_publish("80").unwrap(),
                ..Default::default()
            },
        )
        .unwrap();
    let hp = ep.ports[0].host_port;
    assert_ne!(hp, 0, "a random host port is chosen");
    assert!(nft_map("ports_any").contains(&format!("tcp . {hp} : {} . 80", ep.ipv4)));
    let server = serve_http(sb.path(), www.path());

    let r = http_get(SocketAddr::from((Ipv4Addr::LOCALHOST, hp)));
    assert!(
        r.contains("hello from berth"),
        "127.0.0.1:{hp} answered {r:?}"
    );
    let r = http_get(SocketAddr::from((t.gateway(), hp)));
    assert!(r.contains("hello from berth"), "gateway answered {r:?}");
    // Hairpin: the container reaches its own published port through a host address.
    let gw = t.gateway();
    let r =
        network::netns::run_in(sb.path(), move || http_get(SocketAddr::from((gw, hp)))).unwrap();
    assert!(r.contains("hello from berth"), "hairpin answered {r:?}");

    let peers = server.join().unwrap();
    // 127.0.0.1 and hairpin traffic arrive masqueraded behind the gateway address.
    assert!(
        peers.iter().all(|p| p.ip() == std::net::IpAddr::V4(gw)),
        "{peers:?}"
    );
}

#[test]
fn thirty_parallel_joins_get_distinct_ips() {
    let t = TestNet::new();
    let (root, runroot, name) = (t.root.clone(), t.runroot.clone(), t.name.clone());
    let handles: Vec<_> = (0..30)
        .map(|i| {
            let (root, runroot, name) = (root.clone(), runroot.clone(), name.clone());
            std::thread::spawn(move || {
                // One controller per thread, like separate berth processes.
                let ctl = NetworkController::open(&root, &runroot).unwrap();
                let sb = ctl
                    .create_sandbox(&format!("par{}-{i}", std::process::id()))
                    .unwrap();
                ctl.join(&sb, &name, opts(&format!("c{i}"))).unwrap().ipv4
            })
        })
        .collect();
    let ips: BTreeSet<Ipv4Addr> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(ips.len(), 30);
    assert!(!ips.contains(&t.gateway()));
    assert_eq!(t.ctl.inspect(&t.name).unwrap().containers.len(), 30);
}

#[test]
fn leave_and_destroy_remove_everything() {
    let t = TestNet::new();
    let id = testutil::unique_name("gone");
    let sb = t.ctl.create_sandbox(&id).unwrap();
    let ep = t
        .ctl
        .join(
            &sb,
            &t.name,
            EndpointOptions {
                name: "gone".into(),
                port_bindings: parse_publish("127.0.0.1::80/udp").unwrap(),
                ..Default::default()
            },
        )
        .unwrap();
    let hp = ep.ports[0].host_port;
    let elem = format!("127.0.0.1 . udp . {hp} : {} . 80", ep.ipv4);
    assert!(link_exists(&ep.host_ifname));
    assert!(nft_map("ports_ip").contains(&elem));

    // leave: veth, port mapping and IP go; the sandbox stays.
    t.ctl.leave(&id, &t.name).unwrap();
    assert!(!link_exists(&ep.host_ifname));
    assert!(!nft_map("ports_ip").contains(&elem));
    assert!(t.ctl.inspect(&t.name).unwrap().containers.is_empty());
    assert!(t.ctl.endpoints(&id).unwrap().is_empty());
    assert!(sb.path().exists());

    // Rejoin with the released address, then destroy from a fresh controller (as after a crash
    // of the process that made it).
    let ep2 = t
        .ctl
        .join(
            &sb,
            &t.name,
            EndpointOptions {
                ip: Some(ep.ipv4),
                port_bindings: parse_publish(&format!("127.0.0.1:{hp}:80/udp")).unwrap(),
                ..opts("gone")
            },
        )
        .unwrap();
    assert_eq!(ep2.ipv4, ep.ipv4);
    assert!(nft_map("ports_ip").contains(&elem));
    let path = sb.path().to_path_buf();
    drop(sb);
    let other = NetworkController::open(&t.root, &t.runroot).unwrap();
    other.destroy_sandbox(&id).unwrap();
    assert!(!link_exists(&ep2.host_ifname));
    assert!(!nft_map("ports_ip").contains(&elem));
    assert!(!path.exists());
    assert!(t.ctl.inspect(&t.name).unwrap().containers.is_empty());
    other.destroy_sandbox(&id).unwrap(); // idempotent

    // The network itself can now go, bridge and all.
    t.ctl.remove_network(&t.name).unwrap();
    assert!(!link_exists(&t.bridge));
    assert!(matches!(t.ctl.inspect(&t.name), Err(Error::NotFound(_))));
}

#[test]
fn release_sandbox_cleans_up_and_the_kernel_deletes_the_veth() {
    use network::netlink::{link_name, Netlink, NETLINK_ROUTE, RTM_DELLINK};
    let t = TestNet::new();
    let id = testutil::unique_name("rel");
    let sb = t.ctl.create_sandbox(&id).unwrap();
    let ep = t
        .ctl
        .join(
            &sb,
            &t.name,
            EndpointOptions {
                port_bindings: parse_publish("80").unwrap(),
                ..opts("rel")
            },
        )
        .unwrap();
    let elem = format!("tcp . {} : {} . 80", ep.ports[0].host_port, ep.ipv4);
    assert!(nft_map("ports_any").contains(&elem));
    let path = sb.path().to_path_buf();
    drop(sb); // the handle's netlink socket pins the namespace
    let mut events = Netlink::open_groups(NETLINK_ROUTE, 1 /* RTMGRP_LINK */).unwrap();
    assert!(link_exists(&ep.host_ifname));
    t.ctl.release_sandbox(&id).unwrap();
    // State is clean at once...
    assert!(!nft_map("ports_any").contains(&elem));
    assert!(t.ctl.inspect(&t.name).unwrap().containers.is_empty());
    assert!(!path.exists());
    // ...and the kernel deletes the veth with the namespace: wait for its RTM_DELLINK event.
    let mut gone = !link_exists(&ep.host_ifname);
    while !gone {
        let evs = events
            .next_events(std::time::Duration::from_secs(30))
            .expect("no RTM_DELLINK for the host veth within 30 s");
        gone = evs
            .iter()
            .any(|(ty, p)| *ty == RTM_DELLINK && link_name(p).as_deref() == Some(&ep.host_ifname));
    }
    // The kernel no longer knows the name (sysfs may lag a moment behind the event).
    let mut nl = Netlink::open(NETLINK_ROUTE).unwrap();
    let e = nl
        .query(network::netlink::get_link(&ep.host_ifname))
        .unwrap_err();
    assert_eq!(e.errno, libc::ENODEV);
}

#[test]
fn subnet_collision_is_a_clear_error_and_leaves_nothing() {
    let t = TestNet::new();
    let br = bridge_name();
    let e = t
        .ctl
        .create_network(
            "clash",
            NetworkOptions {
                subnet: Some(t.subnet),
                bridge_name: Some(br.clone()),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(matches!(e, Error::Conflict(_)), "{e}");
    assert!(e.to_string().contains("overlaps"), "{e}");
    assert!(!link_exists(&br));
    // Against a host route (another root cannot see our state, only the kernel's routes).
    let other = tempfile::tempdir().unwrap();
    let ctl2 = NetworkController::open(&other.path().join("r"), &other.path().join("rr")).unwrap();
    let e = ctl2
        .create_network(
            "clash",
            NetworkOptions {
                subnet: Some(format!("{}/16", t.subnet.addr()).parse().unwrap()),
                bridge_name: Some(br.clone()),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(e.to_string().contains("route"), "{e}");
    assert!(!link_exists(&br));
    assert!(ctl2.list().unwrap().is_empty());
    assert_eq!(t.ctl.list().unwrap().len(), 1);
}

#[test]
fn port_already_bound_is_a_clear_error_and_leaves_nothing() {
    let t = TestNet::new();
    let busy = listener_below_ephemeral_ports();
    let port = busy.local_addr().unwrap().port();
    let sb = t
        .ctl
        .create_sandbox(&testutil::unique_name("busy"))
        .unwrap();
    let e = t
        .ctl
        .join(
            &sb,
            &t.name,
            EndpointOptions {
                port_bindings: parse_publish(&format!("{port}:80")).unwrap(),
                ..opts("busy")
            },
        )
        .unwrap_err();
    assert!(matches!(e, Error::Conflict(_)), "{e}");
    assert!(e.to_string().contains("already allocated"), "{e}");
    assert!(t.ctl.inspect(&t.name).unwrap().containers.is_empty());
    let o = busybox_in(sb.path(), &["ip", "-o", "link"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).lines().count(),
        1,
        "no eth0 left"
    );
    drop(busy);
    // Processes other tests spawn meanwhile hold a copy of the listener between their fork and
    // exec: the port is free once they have exec'd.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while TcpListener::bind(("0.0.0.0", port)).is_err() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }

    // A port published by another container is taken too, even with nothing listening.
    let ep = t
        .ctl
        .join(
            &sb,
            &t.name,
            EndpointOptions {
                port_bindings: parse_publish(&format!("{port}:80")).unwrap(),
                ..opts("first")
            },
        )
        .unwrap();
    let sb2 = t
        .ctl
        .create_sandbox(&testutil::unique_name("second"))
        .unwrap();
    let e = t
        .ctl
        .join(
            &sb2,
            &t.name,
            EndpointOptions {
                port_bindings: parse_publish(&format!("127.0.0.1:{port}:81")).unwrap(),
                ..opts("second")
            },
        )
        .unwrap_err();
    assert!(e.to_string().contains("already allocated"), "{e}");
    let n = t.ctl.inspect(&t.name).unwrap();
    assert_eq!(n.containers.len(), 1);
    assert_eq!(n.containers[&sb.id].endpoint_id, ep.id);
}

#[test]
fn embedded_dns_answers_names_and_aliases_and_forwards() {
    let t = TestNet::new();
    let a = t
        .ctl
        .create_sandbox(&testutil::unique_name("dnsa"))
        .unwrap();
    let b = t
        .ctl
        .create_sandbox(&testutil::unique_name("dnsb"))
        .unwrap();
    t.ctl.join(&a, &t.name, opts("alpha")).unwrap();
    let eb = t
        .ctl
        .join(
            &b,
            &t.name,
            EndpointOptions {
                aliases: vec!["db".into()],
                ..opts("beta")
            },
        )
        .unwrap();
    assert!(eb.dns, "user-defined networks have embedded DNS");

    // A fake upstream on the host's loopback answers every forwarded query with 192.0.2.99.
    let up = UdpSocket::bind("127.0.0.1:0").unwrap();
    let up_addr = up.local_addr().unwrap();
    let upstream = std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        let (n, from) = up.recv_from(&mut buf).unwrap();
        let r = dns::answer(&buf[..n], |_| {
            Some(vec![Ipv4Addr::new(192, 0, 2, 99).into()])
        })
        .unwrap();
        up.send_to(&r, from).unwrap();
    });

    let (root, runroot, name) = (t.root.clone(), t.runroot.clone(), t.name.clone());
    let ctl = Arc::new(NetworkController::open(&root, &runroot).unwrap());
    let lookup = Arc::new(move |n: &str| ctl.dns_records(&name).ok()?.remove(n));
    let server = dns::DnsServer::start(a.path(), vec![up_addr], lookup).unwrap();

    let query = |name: &'static str| {
        network::netns::run_in(a.path(), move || {
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
                .unwrap();
            s.send_to(&dns::build_query(42, name, 1), (dns::EMBEDDED_DNS, 53))
                .unwrap();
            let mut buf = [0u8; 512];
            let n = s.recv(&mut buf).unwrap();
            dns::parse_reply(&buf[..n]).unwrap()
        })
        .unwrap()
    };
    assert_eq!(query("beta"), (0, vec![eb.ipv4]));
    assert_eq!(query("DB"), (0, vec![eb.ipv4]));
    assert_eq!(
        query("example.invalid"),
        (0, vec![Ipv4Addr::new(192, 0, 2, 99)])
    );
    upstream.join().unwrap();

    // busybox's own resolver inside the sandbox sees the same thing.
    let o = busybox_in(a.path(), &["nslookup", "db", "127.0.0.11"]);
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(s.contains(&eb.ipv4.to_string()), "nslookup: {s}");
    drop(server);
}

#[test]
fn dns_serve_on_loopback() {
    let l = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let mut p = [0i32; 2];
    // SAFETY: valid 2-int array.
    assert_eq!(unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    let stop_r = p[0];
    let th = std::thread::spawn(move || {
        dns::serve(
            &l,
            None,
            &[],
            |n| (n == "web").then(|| vec![Ipv4Addr::new(10, 213, 0, 5).into()]),
            stop_r,
        )
    });
    let c = UdpSocket::bind("127.0.0.1:0").unwrap();
    c.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 512];
    c.send_to(&dns::build_query(9, "web", 1), addr).unwrap();
    let n = c.recv(&mut buf).unwrap();
    assert_eq!(&buf[..2], &9u16.to_be_bytes());
    assert_eq!(
        dns::parse_reply(&buf[..n]),
        Some((0, vec![Ipv4Addr::new(10, 213, 0, 5)]))
    );
    // Unknown name, no upstream: SERVFAIL rather than silence.
    c.send_to(&dns::build_query(10, "nope", 1), addr).unwrap();
    let n = c.recv(&mut buf).unwrap();
    assert_eq!(dns::parse_reply(&buf[..n]), Some((2, vec![])));
    // SAFETY: closing our write end stops the server.
    unsafe { libc::close(p[1]) };
    th.join().unwrap().unwrap();
    // SAFETY: the read end is ours to close once the server returned.
    unsafe { libc::close(stop_r) };
}

/// A listener on a port below the kernel's ephemeral range: once it is dropped nothing else
/// takes the port (a port from `bind(:0)` may go to another test's outgoing connection).
fn listener_below_ephemeral_ports() -> TcpListener {
    let low: u16 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(32768);
    let start = low.saturating_sub(10000).max(1024);
    let span = low - start;
    let offset = (std::process::id() as u16) % span;
    (0..span)
        .map(|i| start + (offset + i) % span)
        .find_map(|p| TcpListener::bind(("127.0.0.1", p)).ok())
        .expect("a free port below the ephemeral range")
}
