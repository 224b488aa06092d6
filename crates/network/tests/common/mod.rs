//! Fixtures: a throw-away berth root with one bridge network on a free 10.213.x.0/24, torn down
//! on drop (sandboxes, veths, NAT elements, bridge, state dirs) even when the test fails.
#![allow(dead_code)]

use network::*;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

pub struct TestNet {
    pub ctl: NetworkController,
    pub name: String,
    pub bridge: String,
    pub subnet: Ipv4Net,
    pub root: PathBuf,
    pub runroot: PathBuf,
    _tmp: tempfile::TempDir,
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A unique bridge name (≤ 15 chars) for this process.
pub fn bridge_name() -> String {
    format!(
        "bt{}x{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

impl TestNet {
    pub fn new() -> TestNet {
        Self::with(|_| {})
    }

    pub fn with(tweak: impl Fn(&mut NetworkOptions)) -> TestNet {
        testutil::require_root();
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        let runroot = tmp.path().join("run");
        let ctl = NetworkController::open(&root, &runroot).unwrap();
        let name = testutil::unique_name("net");
        let bridge = bridge_name();
        // Walk 10.213.x.0/24 from a per-process start until a free one is found: the controller
        // itself refuses subnets overlapping host routes (including other tests' bridges).
        let start =
            std::process::id() as usize * 7 + SEQ.fetch_add(1, Ordering::Relaxed) as usize * 13;
        for i in 0..256 {
            let x = (start + i) % 256;
            let subnet: Ipv4Net = format!("10.213.{x}.0/24").parse().unwrap();
            let mut o = NetworkOptions {
                subnet: Some(subnet),
                bridge_name: Some(bridge.clone()),
                ..Default::default()
            };
            tweak(&mut o);
            match ctl.create_network(&name, o) {
                Ok(_) => {
                    return TestNet {
                        ctl,
                        name,
                        bridge,
                        subnet,
                        root,
                        runroot,
                        _tmp: tmp,
                    }
                }
                Err(Error::Conflict(_)) => continue,
                Err(e) => panic!("create_network: {e}"),
            }
        }
        panic!("no free 10.213.x.0/24 subnet");
    }

    pub fn gateway(&self) -> std::net::Ipv4Addr {
        std::net::Ipv4Addr::from(u32::from(self.subnet.addr()) + 1)
    }
}

impl Drop for TestNet {
    fn drop(&mut self) {
        if let Ok(rd) = std::fs::read_dir(self.runroot.join("netns")) {
            for e in rd.flatten() {
                let _ = self.ctl.destroy_sandbox(&e.file_name().to_string_lossy());
            }
        }
        let _ = self.ctl.prune();
        // Belt and braces: if state got lost, still remove the device.
        if Path::new("/sys/class/net").join(&self.bridge).exists() {
            let mut nl = network::netlink::Netlink::open(network::netlink::NETLINK_ROUTE).unwrap();
            let _ = nl.exec(&mut [network::netlink::del_link(&self.bridge)]);
        }
    }
}

/// Runs busybox with `args` inside the network namespace at `ns`.
pub fn busybox_in(ns: &Path, args: &[&str]) -> Output {
    let f = File::open(ns).unwrap();
    let mut c = Command::new(testutil::BUSYBOX);
    c.args(args);
    // SAFETY: only async-signal-safe setns between fork and exec; f outlives the spawn.
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

pub fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

/// The elements of one of berth's nftables maps, as `nft` prints them.
pub fn nft_map(map: &str) -> String {
    let o = Command::new("nft")
        .args(["list", "map", "ip", "berth", map])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).to_string()
}
