//! Unit tests of the `run`/`create` flag parsing.

use super::parse::{parse_device, parse_mount, parse_publish, parse_ulimit, parse_volume};
use super::*;
use clap::Parser;

#[derive(Parser)]
#[command(disable_help_flag = true)]
struct T {
    #[command(flatten)]
    f: CreateFlags,
}

fn parse(args: &[&str]) -> Res<Parsed> {
    let mut v = vec!["run"];
    v.extend_from_slice(args);
    let t = T::try_parse_from(v).map_err(|e| e.to_string())?;
    to_config(&t.f, false)
}

#[test]
fn image_and_command_stop_flag_parsing() {
    let p = parse(&["-e", "A=1", "busybox", "ls", "-l", "-d", "--rm"]).unwrap();
    assert_eq!(p.config.image, "busybox");
    assert_eq!(
        p.config.cmd,
        Some(vec!["ls".into(), "-l".into(), "-d".into(), "--rm".into()])
    );
    assert!(!p.host.auto_remove);
    assert_eq!(p.config.env, vec!["A=1"]);
    assert!(p.config.attach_stdout && p.config.attach_stderr && !p.config.attach_stdin);
    let p = parse(&["busybox"]).unwrap();
    assert_eq!(p.config.cmd, None);
    assert_eq!(p.host.network_mode, "default");
    assert_eq!(p.host.restart_policy.name, "no");
}

#[test]
fn sizes() {
    assert_eq!(ram_in_bytes("64m").unwrap(), 64 << 20);
    assert_eq!(ram_in_bytes("64M").unwrap(), 64 << 20);
    assert_eq!(ram_in_bytes("64mb").unwrap(), 64 << 20);
    assert_eq!(ram_in_bytes("64MiB").unwrap(), 64 << 20);
    assert_eq!(ram_in_bytes("1.5g").unwrap(), 3 << 29);
    assert_eq!(ram_in_bytes("1024").unwrap(), 1024);
    assert_eq!(ram_in_bytes("10k").unwrap(), 10240);
    for bad in ["", "m", "abc", "64x", "-1", "1..5m"] {
        assert!(ram_in_bytes(bad).is_err(), "{bad}");
    }
    let e = parse(&["-m", "lots", "busybox"]).unwrap_err();
    assert_eq!(
        e,
        "invalid argument \"lots\" for \"-m, --memory\" flag: invalid size: 'lots'"
    );
    let p = parse(&[
        "-m",
        "64m",
        "--memory-swap",
        "-1",
        "--shm-size",
        "128m",
        "busybox",
    ])
    .unwrap();
    assert_eq!((p.host.memory, p.host.memory_swap), (64 << 20, -1));
    assert_eq!(p.host.shm_size, 128 << 20);
    assert!(parse(&["--memory-swap", "128m", "busybox"]).is_err());
    assert!(parse(&["-m", "128m", "--memory-swap", "64m", "busybox"]).is_err());
    assert!(parse(&["-m", "1m", "busybox"]).is_err());
}

#[test]
fn cpus() {
    let p = parse(&["--cpus", "0.5", "--cpuset-cpus", "0", "busybox"]).unwrap();
    assert_eq!(p.host.nano_cpus, 500_000_000);
    assert_eq!(p.host.cpuset_cpus, "0");
    assert_eq!(parse_cpus("1.5").unwrap(), 1_500_000_000);
    assert!(parse(&["--cpus", "x", "busybox"]).is_err());
    assert!(parse(&["--cpus", "0.5", "--cpu-quota", "50000", "busybox"]).is_err());
    assert!(parse(&["--cpus", "100000", "busybox"]).is_err());
    let p = parse(&[
        "--cpu-quota=50000",
        "--cpu-period",
        "100000",
        "-c",
        "512",
        "busybox",
    ])
    .unwrap();
    assert_eq!(
        (p.host.cpu_quota, p.host.cpu_period, p.host.cpu_shares),
        (50000, 100000, 512)
    );
    let p = parse(&["--pids-limit", "20", "--blkio-weight", "300", "busybox"]).unwrap();
    assert_eq!(p.host.pids_limit, Some(20));
    assert_eq!(p.host.blkio_weight, 300);
    assert!(parse(&["--blkio-weight", "5", "busybox"]).is_err());
}

#[test]
fn restart_policies() {
    let r = parse_restart("on-failure:3").unwrap();
    assert_eq!((r.name.as_str(), r.maximum_retry_count), ("on-failure", 3));
    assert_eq!(parse_restart("always").unwrap().name, "always");
    assert_eq!(
        parse_restart("unless-stopped").unwrap().name,
        "unless-stopped"
    );
    assert_eq!(parse_restart("on-failure").unwrap().maximum_retry_count, 0);
    assert!(parse_restart("always:3").is_err());
    assert!(parse_restart("sometimes").is_err());
    assert!(parse_restart("on-failure:x").is_err());
    assert_eq!(
        parse(&["--rm", "--restart", "always", "busybox"]).unwrap_err(),
        "conflicting options: cannot specify both --restart and --rm"
    );
}

#[test]
fn ulimits_and_devices() {
    let u = parse_ulimit("nofile=1024:2048").unwrap();
    assert_eq!((u.name.as_str(), u.soft, u.hard), ("nofile", 1024, 2048));
    let u = parse_ulimit("nproc=10").unwrap();
    assert_eq!((u.soft, u.hard), (10, 10));
    assert!(parse_ulimit("nofile").is_err());
    assert!(parse_ulimit("bogus=1").is_err());
    assert!(parse_ulimit("nofile=2048:1024").is_err());
    let d = parse_device("/dev/fuse").unwrap();
    assert_eq!(
        (d.path_in_container.as_str(), d.cgroup_permissions.as_str()),
        ("/dev/fuse", "rwm")
    );
    let d = parse_device("/dev/sda:/dev/xvdc:r").unwrap();
    assert_eq!(
        (d.path_in_container.as_str(), d.cgroup_permissions.as_str()),
        ("/dev/xvdc", "r")
    );
    let d = parse_device("/dev/null:rw").unwrap();
    assert_eq!(
        (d.path_in_container.as_str(), d.cgroup_permissions.as_str()),
        ("/dev/null", "rw")
    );
    assert!(parse_device("/dev/sda:/dev/b:x").is_err());
}

#[test]
fn ports() {
    let p = parse_publish("8080:80").unwrap();
    assert_eq!(p[0].0, "80/tcp");
    assert_eq!(p[0].1.host_port, "8080");
    let p = parse_publish("127.0.0.1:8080:80/udp").unwrap();
    assert_eq!(
        (p[0].0.as_str(), p[0].1.host_ip.as_str()),
        ("80/udp", "127.0.0.1")
    );
    let p = parse_publish("[::1]:8080:80").unwrap();
    assert_eq!(p[0].1.host_ip, "::1");
    let p = parse_publish("80").unwrap();
    assert_eq!(p[0].1.host_port, "");
    let p = parse_publish("127.0.0.1::80").unwrap();
    assert_eq!(
        (p[0].1.host_ip.as_str(), p[0].1.host_port.as_str()),
        ("127.0.0.1", "")
    );
    let p = parse_publish("8000-8002:80-82").unwrap();
    assert_eq!(p.len(), 3);
    assert_eq!(
        (p[2].0.as_str(), p[2].1.host_port.as_str()),
        ("82/tcp", "8002")
    );
    let p = parse_publish("8000-8010:80").unwrap();
    assert_eq!(p[0].1.host_port, "8000-8010");
    assert!(parse_publish("8000-8001:80-90").is_err());
    assert!(parse_publish("x:80").is_err());
    assert!(parse_publish("1.2.3:80:80").is_err());
    assert!(parse_publish("80/icmp").is_err());
    let c = parse(&["-p", "8080:80", "--expose", "90-91", "-P", "busybox"]).unwrap();
    let exp: Vec<_> = c.config.exposed_ports.unwrap().keys().cloned().collect();
    assert_eq!(exp, ["80/tcp", "90/tcp", "91/tcp"]);
    assert_eq!(c.host.port_bindings["80/tcp"][0].host_port, "8080");
    assert!(c.host.publish_all_ports);
}

#[test]
fn volumes_mounts_tmpfs() {
    let c = parse(&[
        "-v",
        "/data",
        "-v",
        "/host:/c:ro",
        "-v",
        "named:/n",
        "--tmpfs",
        "/run:size=64m",
        "--tmpfs",
        "/x",
        "busybox",
    ])
    .unwrap();
    assert_eq!(
        c.host.binds,
        Some(vec!["/host:/c:ro".into(), "named:/n".into()])
    );
    assert!(c.config.volumes.unwrap().contains_key("/data"));
    let t = c.host.tmpfs.unwrap();
    assert_eq!(t["/run"], "size=64m");
    assert_eq!(t["/x"], "");
    assert!(parse_volume("/a:relative").is_err());
    assert!(parse_volume("/a:/b:bogus").is_err());
    assert!(parse_volume("bad name:/b").is_err());
    let m = parse_mount("type=bind,source=/a,target=/b,readonly").unwrap();
    assert_eq!(
        (
            m.kind.as_str(),
            m.source.as_str(),
            m.target.as_str(),
            m.read_only
        ),
        ("bind", "/a", "/b", true)
    );
    let m = parse_mount("type=bind,src=/a,dst=/b,bind-propagation=rshared,ro=false").unwrap();
    assert_eq!(m.bind_options.unwrap().propagation, "rshared");
    assert!(!m.read_only);
    let m = parse_mount("type=tmpfs,destination=/t,tmpfs-size=1m,tmpfs-mode=1770").unwrap();
    let o = m.tmpfs_options.unwrap();
    assert_eq!((o.size_bytes, o.mode), (1 << 20, 0o1770));
    let m = parse_mount("target=/v").unwrap();
    assert_eq!(m.kind, "volume");
    assert!(parse_mount("type=bind,source=/a").is_err());
    assert!(parse_mount("type=bind,target=/a").is_err());
    assert!(parse_mount("type=weird,target=/a").is_err());
    assert!(parse_mount("type=bind,source=/a,target=/b,foo=bar").is_err());
    assert!(parse_mount("type=tmpfs,target=rel").is_err());
}

#[test]
fn env_and_labels() {
    std::env::set_var("BERTH_TEST_FROM_ENV", "yes");
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("env");
    std::fs::write(
        &f,
        "# comment\n\n  A=1\nBERTH_TEST_FROM_ENV\nUNSET_BERTH_VAR\nB=x=y\n",
    )
    .unwrap();
    let l = dir.path().join("labels");
    std::fs::write(&l, "a=from-file\nflag\n").unwrap();
    let c = parse(&[
        "--env-file",
        f.to_str().unwrap(),
        "-e",
        "C=3",
        "-e",
        "BERTH_TEST_FROM_ENV",
        "--label-file",
        l.to_str().unwrap(),
        "-l",
        "a=b",
        "--label",
        "k=v=w",
        "busybox",
    ])
    .unwrap();
    assert_eq!(
        c.config.env,
        [
            "A=1",
            "BERTH_TEST_FROM_ENV=yes",
            "UNSET_BERTH_VAR",
            "B=x=y",
            "C=3",
            "BERTH_TEST_FROM_ENV=yes"
        ]
    );
    assert_eq!(c.config.labels["a"], "b");
    assert_eq!(c.config.labels["flag"], "");
    assert_eq!(c.config.labels["k"], "v=w");
    std::fs::write(&f, "BAD VAR=1\n").unwrap();
    assert!(parse(&["--env-file", f.to_str().unwrap(), "busybox"]).is_err());
    assert!(parse(&["-e", "=x", "busybox"]).is_err());
}

#[test]
fn namespaces_security_and_misc() {
    let c = parse(&[
        "--pid",
        "host",
        "--ipc",
        "container:x",
        "--uts",
        "host",
        "--cap-add",
        "NET_ADMIN",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        "--security-opt",
        "seccomp=unconfined",
        "--privileged",
        "--read-only",
        "--init",
        "-w",
        "/tmp",
        "-u",
        "1000:1000",
        "--entrypoint",
        "",
        "--hostname",
        "h",
        "--name",
        "web-1",
        "-it",
        "--stop-timeout",
        "3",
        "--sysctl",
        "net.ipv4.ip_forward=1",
        "busybox",
    ]);
    assert!(c.is_err(), "--uts host with --hostname conflicts");
    let c = parse(&[
        "--pid",
        "host",
        "--ipc",
        "container:x",
        "--cap-add",
        "NET_ADMIN",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        "--security-opt",
        "seccomp=unconfined",
        "--privileged",
        "--read-only",
        "--init",
        "-w",
        "/tmp",
        "-u",
        "1000:1000",
        "--entrypoint",
        "",
        "-h",
        "h",
        "--name",
        "web-1",
        "-it",
        "--stop-timeout",
        "3",
        "--sysctl",
        "net.ipv4.ip_forward=1",
        "busybox",
    ])
    .unwrap();
    assert_eq!(
        (c.host.pid_mode.as_str(), c.host.ipc_mode.as_str()),
        ("host", "container:x")
    );
    assert_eq!(c.host.cap_add, Some(vec!["NET_ADMIN".into()]));
    assert_eq!(c.host.security_opt.as_ref().unwrap().len(), 2);
    assert!(c.host.privileged && c.host.readonly_rootfs);
    assert_eq!(c.host.init, Some(true));
    assert_eq!(c.config.entrypoint, Some(vec![String::new()]));
    assert_eq!(c.config.hostname, "h");
    assert_eq!(c.name.as_deref(), Some("web-1"));
    assert!(c.config.tty && c.config.open_stdin && c.config.attach_stdin && c.config.stdin_once);
    assert_eq!(c.config.stop_timeout, Some(3));
    assert_eq!(c.host.sysctls.unwrap()["net.ipv4.ip_forward"], "1");
    assert!(parse(&["--pid", "bogus", "busybox"]).is_err());
    assert!(parse(&["--security-opt", "bogus", "busybox"]).is_err());
    assert!(parse(&["--security-opt", "seccomp=/nonexistent.json", "busybox"]).is_err());
    assert!(parse(&["--name", "bad name", "busybox"]).is_err());
    assert!(parse(&["-w", "relative", "busybox"]).is_err());
    assert!(parse(&["--pull", "sometimes", "busybox"]).is_err());
    let c = parse(&["--entrypoint", "/bin/sh", "busybox", "-c", "true"]).unwrap();
    assert_eq!(c.config.entrypoint, Some(vec!["/bin/sh".into()]));
    assert_eq!(c.config.cmd, Some(vec!["-c".into(), "true".into()]));
}

#[test]
fn networks() {
    let c = parse(&[
        "--network",
        "mynet",
        "--network-alias",
        "db",
        "--ip",
        "10.1.0.5",
        "--dns",
        "1.1.1.1",
        "--add-host",
        "h:10.0.0.1",
        "busybox",
    ])
    .unwrap();
    assert_eq!(c.host.network_mode, "mynet");
    let ep = &c.net.endpoints_config["mynet"];
    assert_eq!(ep.aliases, Some(vec!["db".into()]));
    assert_eq!(ep.ipam_config.as_ref().unwrap().ipv4_address, "10.1.0.5");
    assert_eq!(c.host.dns, ["1.1.1.1"]);
    assert_eq!(c.host.extra_hosts, Some(vec!["h:10.0.0.1".into()]));
    assert!(parse(&["--network-alias", "x", "busybox"]).is_err());
    assert!(parse(&["--ip", "10.0.0.1", "--network", "bridge", "busybox"]).is_err());
    assert!(parse(&["--dns", "nope", "busybox"]).is_err());
    assert!(parse(&["--add-host", "nohost", "busybox"]).is_err());
    assert!(parse(&["--add-host", "h:notanip", "busybox"]).is_err());
    let c = parse(&["--add-host", "h6:::1", "--network", "none", "busybox"]).unwrap();
    assert_eq!(c.host.network_mode, "none");
    assert!(parse(&["--network", "container:x", "-p", "80", "busybox"]).is_err());
}

#[test]
fn attach_streams() {
    let c = parse(&["-a", "stdout", "busybox"]).unwrap();
    assert!(c.config.attach_stdout && !c.config.attach_stderr && !c.config.attach_stdin);
    assert!(parse(&["-a", "bogus", "busybox"]).is_err());
    let t = T::try_parse_from(["run", "-a", "stdout", "busybox"]).unwrap();
    assert!(to_config(&t.f, true).is_err());
    let t = T::try_parse_from(["run", "-i", "busybox"]).unwrap();
    let c = to_config(&t.f, true).unwrap();
    assert!(c.config.open_stdin && !c.config.attach_stdin && !c.config.attach_stdout);
}
