//! Isolation between networks and ICMP echo sockets (root, real kernel). Every address used
//! lives on bridges and namespaces made here. The networks of one test belong to different
//! roots, as with several berth installs (or test roots) sharing the `ip berth` table.

mod common;

use common::*;
use network::*;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn opts(name: &str) -> EndpointOptions {
    EndpointOptions {
        name: name.into(),
        ..Default::default()
    }
}

/// Answers every connection with `reply`, from a listener bound inside the namespace `ns`.
fn serve(ns: &Path, reply: &'static str) {
    let l = netns::run_in(ns, || TcpListener::bind("0.0.0.0:80"))
        .unwrap()
        .unwrap();
    std::thread::spawn(move || serve_on(l, reply));
}

fn serve_on(l: TcpListener, reply: &'static str) {
    for s in l.incoming() {
        let Ok(mut s) = s else { return };
        let _ = s.write_all(reply.as_bytes());
    }
}

/// What a connection from namespace `ns` (None: the host) to `to` reads, or the error.
fn fetch(ns: Option<&Path>, to: SocketAddr) -> Result<String, String> {
    let get = move || -> Result<String, String> {
        let mut s = TcpStream::connect_timeout(&to, Duration::from_secs(2))
            .map_err(|e| format!("connect {to}: {e}"))?;
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut r = String::new();
        s.read_to_string(&mut r)
            .map_err(|e| format!("read {to}: {e}"))?;
        Ok(r)
    };
    match ns {
        Some(ns) => netns::run_in(ns, get).unwrap(),
        None => get(),
    }
}

fn at(ip: Ipv4Addr, port: u16) -> SocketAddr {
    SocketAddr::from((ip, port))
}

fn nft_set(set: &str) -> String {
    let o = Command::new("nft")
        .args(["list", "set", "ip", "berth", set])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).to_string()
}

#[test]
fn networks_are_isolated_and_published_ports_still_cross() {
    let a = TestNet::new();
    let b = TestNet::new();
    let sa = a.ctl.create_sandbox(&testutil::unique_name("a")).unwrap();
    let sa2 = a.ctl.create_sandbox(&testutil::unique_name("a2")).unwrap();
    let sb = b.ctl.create_sandbox(&testutil::unique_name("b")).unwrap();
    a.ctl.join(&sa, &a.name, opts("a")).unwrap();
    let ea2 = a.ctl.join(&sa2, &a.name, opts("a2")).unwrap();
    let eb = b
        .ctl
        .join(
            &sb,
            &b.name,
            EndpointOptions {
                name: "b".into(),
                port_bindings: parse_publish("80").unwrap(),
                ..Default::default()
            },
        )
        .unwrap();
    let hp = eb.ports[0].host_port;
    serve(sa2.path(), "from-a2");
    serve(sb.path(), "from-b");

    // Controls: the host reaches both servers, and the same network works.
    assert_eq!(fetch(None, at(eb.ipv4, 80)).unwrap(), "from-b");
    assert_eq!(fetch(Some(sa.path()), at(ea2.ipv4, 80)).unwrap(), "from-a2");
    // Across networks (of two roots): dropped, both ways.
    let r = fetch(Some(sa.path()), at(eb.ipv4, 80));
    assert!(r.is_err(), "a reached b directly: {r:?}");
    let r = fetch(Some(sb.path()), at(ea2.ipv4, 80));
    assert!(r.is_err(), "b reached a directly: {r:?}");
    // b's published port through host addresses: from a (DNAT'd, so allowed), from the host.
    for gw in [b.gateway(), a.gateway()] {
        assert_eq!(fetch(Some(sa.path()), at(gw, hp)).unwrap(), "from-b");
    }
    assert_eq!(fetch(None, at(Ipv4Addr::LOCALHOST, hp)).unwrap(), "from-b");

    // Removing the networks removes their registrations.
    let bridges = [a.bridge.clone(), b.bridge.clone()];
    for br in &bridges {
        assert!(nft_set("same").contains(&format!("\"{br}\" . \"{br}\"")));
    }
    drop((sa, sa2, sb));
    drop((a, b));
    for set in ["bridges", "same"] {
        let s = nft_set(set);
        for br in &bridges {
            assert!(!s.contains(&format!("\"{br}\"")), "{br} left in {set}: {s}");
        }
    }
}

#[test]
fn internal_network_reaches_only_its_bridge() {
    let i = TestNet::with(|o| o.internal = true);
    let n = TestNet::new();
    let si = i.ctl.create_sandbox(&testutil::unique_name("i")).unwrap();
    let si2 = i.ctl.create_sandbox(&testutil::unique_name("i2")).unwrap();
    let sn = n.ctl.create_sandbox(&testutil::unique_name("n")).unwrap();
    let ei = i.ctl.join(&si, &i.name, opts("i")).unwrap();
    let ei2 = i.ctl.join(&si2, &i.name, opts("i2")).unwrap();
    let en = n
        .ctl
        .join(
            &sn,
            &n.name,
            EndpointOptions {
                name: "n".into(),
                port_bindings: parse_publish("80").unwrap(),
                ..Default::default()
            },
        )
        .unwrap();
    let hp = en.ports[0].host_port;
    serve(si2.path(), "from-i2");
    serve(sn.path(), "from-n");
    // A service of the host's, on every address.
    let host = TcpListener::bind("0.0.0.0:0").unwrap();
    let host_port = host.local_addr().unwrap().port();
    std::thread::spawn(move || serve_on(host, "from-host"));

    // No route out is given; a container with CAP_NET_ADMIN could add one, so add it and
    // check that the ruleset, not just the missing route, keeps the traffic in.
    let o = busybox_in(si.path(), &["ip", "route"]);
    assert!(
        !String::from_utf8_lossy(&o.stdout).contains("default"),
        "{o:?}"
    );
    let gw = i.gateway().to_string();
    let o = busybox_in(si.path(), &["ip", "route", "add", "default", "via", &gw]);
    assert!(o.status.success(), "{o:?}");

    // Same network, and the bridge's own address: allowed.
    assert_eq!(fetch(Some(si.path()), at(ei2.ipv4, 80)).unwrap(), "from-i2");
    assert_eq!(
        fetch(Some(si.path()), at(i.gateway(), host_port)).unwrap(),
        "from-host"
    );
    // Controls from the other network: the host service and n's server answer there.
    assert_eq!(
        fetch(Some(sn.path()), at(n.gateway(), host_port)).unwrap(),
        "from-host"
    );
    assert_eq!(fetch(None, at(en.ipv4, 80)).unwrap(), "from-n");
    // Out of the internal network: other host addresses, other networks' containers and
    // published ports; and into it from another network.
    for to in [
        at(n.gateway(), host_port),
        at(en.ipv4, 80),
        at(i.gateway(), hp),
        at(n.gateway(), hp),
    ] {
        let r = fetch(Some(si.path()), to);
        assert!(r.is_err(), "internal container reached {to}: {r:?}");
    }
    let r = fetch(Some(sn.path()), at(ei.ipv4, 80));
    assert!(r.is_err(), "other network reached the internal one: {r:?}");
    // The host itself still reaches containers on the internal network.
    assert_eq!(fetch(None, at(ei2.ipv4, 80)).unwrap(), "from-i2");

    // Published ports on an internal network are refused, not silently dropped.
    let s3 = i.ctl.create_sandbox(&testutil::unique_name("i3")).unwrap();
    let e = i
        .ctl
        .join(
            &s3,
            &i.name,
            EndpointOptions {
                name: "i3".into(),
                port_bindings: parse_publish("8080:80").unwrap(),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(
        matches!(&e, Error::Invalid(m) if m.contains("-p/--publish") && m.contains(&i.name)),
        "{e}"
    );
    assert!(!i
        .ctl
        .inspect(&i.name)
        .unwrap()
        .containers
        .contains_key(&s3.id));

    let br = i.bridge.clone();
    drop((si, si2, sn, s3));
    drop((i, n));
    for set in ["internal", "same"] {
        assert!(
            !nft_set(set).contains(&format!("\"{br}\"")),
            "{br} left in {set}"
        );
    }
}

#[test]
fn bridge_driver_options_berth_cannot_apply_are_refused() {
    for (k, v) in [
        ("com.docker.network.bridge.enable_icc", "false"),
        ("com.docker.network.bridge.enable_ip_masquerade", "0"),
        ("com.docker.network.bridge.enable_icc", "maybe"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let ctl = NetworkController::open(&tmp.path().join("r"), &tmp.path().join("run")).unwrap();
        let e = ctl
            .create_network(
                "opt",
                NetworkOptions {
                    subnet: Some("10.214.199.0/24".parse().unwrap()),
                    bridge_name: Some(bridge_name()),
                    options: [(k.to_string(), v.to_string())].into(),
                    ..Default::default()
                },
            )
            .unwrap_err();
        assert!(matches!(&e, Error::Invalid(m) if m.contains(k)), "{e}");
        assert!(ctl.list().unwrap().is_empty());
    }
    // The defaults, spelled out, are fine.
    let t = TestNet::with(|o| {
        o.options
            .insert("com.docker.network.bridge.enable_icc".into(), "true".into());
    });
    assert!(link_exists(&t.bridge));
}

/// Drops CAP_NET_RAW from the calling thread's effective set (capset applies per thread).
fn drop_net_raw_here() {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let mut h = Header {
        version: 0x2008_0522, // _LINUX_CAPABILITY_VERSION_3
        pid: 0,
    };
    let mut d = [Data::default(); 2];
    // SAFETY: capget/capset with a v3 header and the two data structs v3 expects.
    unsafe {
        assert_eq!(libc::syscall(libc::SYS_capget, &mut h, d.as_mut_ptr()), 0);
        d[0].effective &= !(1 << 13); // CAP_NET_RAW
        assert_eq!(libc::syscall(libc::SYS_capset, &mut h, d.as_ptr()), 0);
    }
}

#[test]
fn sandboxes_allow_icmp_echo_sockets_without_net_raw() {
    let t = TestNet::new();
    let sb = t
        .ctl
        .create_sandbox(&testutil::unique_name("ping"))
        .unwrap();
    t.ctl.join(&sb, &t.name, opts("ping")).unwrap();
    let gw = t.gateway();
    let (range, raw, reply) = netns::run_in(sb.path(), move || {
        drop_net_raw_here();
        let range = std::fs::read_to_string("/proc/sys/net/ipv4/ping_group_range").unwrap();
        // SAFETY: plain socket calls on fds this closure owns and closes.
        unsafe {
            let raw = libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP);
            let raw_err = std::io::Error::last_os_error().raw_os_error();
            if raw >= 0 {
                libc::close(raw);
            }
            let s = libc::socket(libc::AF_INET, libc::SOCK_DGRAM, libc::IPPROTO_ICMP);
            assert!(
                s >= 0,
                "ICMP echo socket: {}",
                std::io::Error::last_os_error()
            );
            let tv = libc::timeval {
                tv_sec: 5,
                tv_usec: 0,
            };
            libc::setsockopt(
                s,
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                &tv as *const _ as *const libc::c_void,
                std::mem::size_of::<libc::timeval>() as u32,
            );
            let dst = libc::sockaddr_in {
                sin_family: libc::AF_INET as u16,
                sin_port: 0,
                sin_addr: libc::in_addr {
                    s_addr: u32::from(gw).to_be(),
                },
                sin_zero: [0; 8],
            };
            // Echo request: type 8, code 0; the kernel fills in the id and the checksum.
            let req = [8u8, 0, 0, 0, 0, 0, 0, 1, b'b', b'e', b'r', b't', b'h'];
            let n = libc::sendto(
                s,
                req.as_ptr() as *const libc::c_void,
                req.len(),
                0,
                &dst as *const _ as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_in>() as u32,
            );
            assert_eq!(n, req.len() as isize, "{}", std::io::Error::last_os_error());
            let mut buf = [0u8; 64];
            let n = libc::recv(s, buf.as_mut_ptr() as *mut libc::c_void, buf.len(), 0);
            libc::close(s);
            (range, raw_err, (n > 0).then(|| buf[0]))
        }
    })
    .unwrap();
    assert_eq!(
        range.split_whitespace().collect::<Vec<_>>(),
        ["0", "2147483647"]
    );
    assert_eq!(raw, Some(libc::EPERM), "raw socket without CAP_NET_RAW");
    assert_eq!(reply, Some(0), "an echo reply from the gateway");
}

/// Networks made before the isolation rules (state without `nft_rev`, no `same` element): the
/// next join reinstalls the rules and registers every bridge already in the kernel's sets, so
/// containers on such networks keep reaching each other.
#[test]
fn networks_from_before_isolation_are_registered_on_next_join() {
    let old = TestNet::new();
    let other = TestNet::new();
    let id = old.ctl.inspect(&old.name).unwrap().id;
    let state = old.root.join("network/networks").join(format!("{id}.json"));
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    v.as_object_mut().unwrap().remove("nft_rev").unwrap();
    std::fs::write(&state, serde_json::to_vec(&v).unwrap()).unwrap();
    let pair = |br: &str| format!("\"{br}\" . \"{br}\"");
    for br in [&old.bridge, &other.bridge] {
        let o = Command::new("nft")
            .args(["delete", "element", "ip", "berth", "same"])
            .arg(format!("{{ {} }}", pair(br)))
            .output()
            .unwrap();
        assert!(o.status.success(), "{o:?}");
        // No check that it is gone: any other process installing the table meanwhile (a
        // parallel test's network create) registers every bridge again (see nft::migration).
    }

    let a = old.ctl.create_sandbox(&testutil::unique_name("a")).unwrap();
    let b = old.ctl.create_sandbox(&testutil::unique_name("b")).unwrap();
    old.ctl.join(&a, &old.name, opts("a")).unwrap();
    let eb = old.ctl.join(&b, &old.name, opts("b")).unwrap();
    let s = nft_set("same");
    assert!(s.contains(&pair(&old.bridge)), "{s}");
    // Another root's network, registered in the kernel's sets only: migrated as well.
    assert!(s.contains(&pair(&other.bridge)), "{s}");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert!(v["nft_rev"].as_u64().unwrap() >= 2, "{v}");
    serve(b.path(), "from-b");
    assert_eq!(fetch(Some(a.path()), at(eb.ipv4, 80)).unwrap(), "from-b");
}
