//! berth-runtime applies each resource setting of a spec exactly, or fails the create with a
//! clear error (root, real kernel): a negative memory limit other than -1 is refused (runc
//! writes it as given and the kernel refuses it), -1 means unlimited, a kernel memory limit
//! (no longer enforced by Linux) is refused, block I/O throttles
//! reach the cgroup files, and a block I/O weight this kernel cannot apply is an error.

mod common;

use common::{require_root, stderr, unique_name, Bundle, Runtime};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// The container's cgroup dir of controller `ctl` (cgroup v1, as on this hybrid host).
fn v1_dir(ctl: &str, pid: i64) -> PathBuf {
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let rel = cg
        .lines()
        .find_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, ctrls, path) = (f.next()?, f.next()?, f.next()?);
            ctrls.split(',').any(|c| c == ctl).then(|| path.to_string())
        })
        .unwrap_or_else(|| panic!("no {ctl} line in {cg}"));
    Path::new("/sys/fs/cgroup")
        .join(ctl)
        .join(rel.trim_start_matches('/'))
}

fn v1_host() -> bool {
    Path::new("/sys/fs/cgroup/memory/memory.limit_in_bytes").exists()
}

/// Creates a `sleep` container with `resources`; returns its bundle (keep it until the
/// container is deleted) and the create's output.
fn create(rt: &Runtime, id: &str, resources: Value) -> (Bundle, std::process::Output) {
    let mut b = Bundle::new(&["sleep", "100"]);
    b.edit(|s| s["linux"]["resources"] = resources);
    let o = rt.run_detached(&["create", "--bundle", b.path().to_str().unwrap(), id]);
    (b, o)
}

#[test]
fn negative_memory_limit_is_refused_and_minus_one_is_unlimited() {
    require_root();
    let rt = Runtime::new();
    let id = unique_name("set-negmem");
    let (_b, o) = create(&rt, &id, json!({"memory": {"limit": -5}}));
    assert!(!o.status.success(), "a memory limit of -5 was accepted");
    assert!(
        stderr(&o).contains("invalid memory limit -5"),
        "{}",
        stderr(&o)
    );
    assert!(!rt.run(&["state", &id]).status.success(), "container left");

    let id = unique_name("set-unlim");
    let (_b, o) = create(&rt, &id, json!({"memory": {"limit": -1}}));
    assert!(o.status.success(), "{}", stderr(&o));
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    if v1_host() {
        let v =
            std::fs::read_to_string(v1_dir("memory", pid).join("memory.limit_in_bytes")).unwrap();
        // "unlimited" in v1 is the page-rounded maximum.
        assert!(v.trim().parse::<u64>().unwrap() > 1 << 60, "{v}");
    }
    rt.run(&["delete", "--force", &id]);

    let id = unique_name("set-negswap");
    let (_b, o) = create(&rt, &id, json!({"memory": {"limit": 64 << 20, "swap": -2}}));
    assert!(!o.status.success(), "a swap of -2 was accepted");
    assert!(
        stderr(&o).contains("invalid memory swap -2"),
        "{}",
        stderr(&o)
    );

    // Kernel memory limits are no longer enforced by Linux: refused, not silently unapplied.
    let id = unique_name("set-kmem");
    let (_b, o) = create(&rt, &id, json!({"memory": {"kernel": 16 << 20}}));
    assert!(!o.status.success(), "a kernel memory limit was accepted");
    assert!(
        stderr(&o).contains("memory kernel limit 16777216 cannot be applied"),
        "{}",
        stderr(&o)
    );
}

/// (major, minor) of the disk the root filesystem is on (a whole disk: throttles need one).
fn a_disk() -> (u64, u64) {
    for e in std::fs::read_dir("/sys/block").unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("loop") || name.starts_with("zram") || name.starts_with("ram") {
            continue;
        }
        let dev = std::fs::read_to_string(e.path().join("dev")).unwrap();
        let (a, b) = dev.trim().split_once(':').unwrap();
        return (a.parse().unwrap(), b.parse().unwrap());
    }
    panic!("no disk in /sys/block to throttle");
}

#[test]
fn block_io_throttles_reach_the_cgroup_and_unapplicable_weights_fail() {
    require_root();
    assert!(v1_host(), "this test reads cgroup v1 blkio files");
    let rt = Runtime::new();
    let (maj, min) = a_disk();
    let dev = |rate: u64| json!([{"major": maj, "minor": min, "rate": rate}]);
    let id = unique_name("set-blkio");
    let (_b, o) = create(
        &rt,
        &id,
        json!({"blockIO": {
            "throttleReadBpsDevice": dev(1 << 20),
            "throttleWriteBpsDevice": dev(2 << 20),
            "throttleReadIOPSDevice": dev(100),
            "throttleWriteIOPSDevice": dev(200),
        }}),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let d = v1_dir("blkio", rt.state(&id)["pid"].as_i64().unwrap());
    for (file, want) in [
        ("read_bps_device", 1u64 << 20),
        ("write_bps_device", 2 << 20),
        ("read_iops_device", 100),
        ("write_iops_device", 200),
    ] {
        let got = std::fs::read_to_string(d.join(format!("blkio.throttle.{file}"))).unwrap();
        assert_eq!(got.trim(), format!("{maj}:{min} {want}"), "{file}");
    }
    rt.run(&["delete", "--force", &id]);

    let weights = ["blkio.weight", "blkio.bfq.weight"]
        .iter()
        .any(|f| Path::new("/sys/fs/cgroup/blkio").join(f).exists());
    let id = unique_name("set-weight");
    let (_b, o) = create(&rt, &id, json!({"blockIO": {"weight": 300}}));
    if weights {
        assert!(o.status.success(), "{}", stderr(&o));
        let d = v1_dir("blkio", rt.state(&id)["pid"].as_i64().unwrap());
        let got: Vec<String> = ["blkio.weight", "blkio.bfq.weight"]
            .iter()
            .filter_map(|f| std::fs::read_to_string(d.join(f)).ok())
            .collect();
        assert!(got.iter().any(|v| v.contains("300")), "{got:?}");
        rt.run(&["delete", "--force", &id]);
    } else {
        assert!(!o.status.success(), "an unapplicable weight was accepted");
        assert!(stderr(&o).contains("cannot be applied"), "{}", stderr(&o));
    }
}

#[test]
fn intel_rdt_is_refused_not_dropped() {
    require_root();
    let rt = Runtime::new();
    let mut b = Bundle::new(&["true"]);
    b.edit(|s| s["linux"]["intelRdt"] = json!({"closID": "x", "l3CacheSchema": "L3:0=f"}));
    let id = unique_name("set-rdt");
    let o = rt.run(&["run", "--bundle", b.path().to_str().unwrap(), &id]);
    assert!(!o.status.success(), "intelRdt was accepted");
    assert!(stderr(&o).contains("linux.intelRdt"), "{}", stderr(&o));
}

#[test]
fn lsm_labels_the_host_cannot_apply_are_refused() {
    require_root();
    let rt = Runtime::new();
    let (apparmor, selinux) = (
        Path::new("/sys/kernel/security/apparmor").exists(),
        Path::new("/sys/fs/selinux/enforce").exists(),
    );
    assert!(
        !apparmor || !selinux,
        "this host has both AppArmor and SELinux: nothing to refuse"
    );
    let (field, value) = if !apparmor {
        ("apparmorProfile", "docker-default")
    } else {
        ("selinuxLabel", "system_u:system_r:container_t:s0")
    };
    let mut b = Bundle::new(&["true"]);
    b.edit(|s| s["process"][field] = json!(value));
    let id = unique_name("set-lsm");
    let o = rt.run(&["run", "--bundle", b.path().to_str().unwrap(), &id]);
    assert!(!o.status.success(), "{field} was accepted");
    assert!(
        stderr(&o).contains(&format!("{field} \"{value}\" cannot be applied")),
        "{}",
        stderr(&o)
    );
}
