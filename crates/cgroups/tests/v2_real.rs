//! cgroup v2 against the real kernel, on the unified mount (/sys/fs/cgroup/unified on hybrid
//! hosts, /sys/fs/cgroup on v2 hosts). Controllers are mostly absent on hybrid hosts, so this
//! covers what the hierarchy itself offers: creation, procs, freeze, eBPF device rules, kill,
//! destroy, and whatever controllers cgroup.controllers lists.

mod common;

use cgroups::{FreezerState, Manager};
use common::*;
use oci_spec::runtime::{
    LinuxDeviceCgroupBuilder, LinuxDeviceType, LinuxHugepageLimitBuilder, LinuxPidsBuilder,
    LinuxResourcesBuilder,
};
use std::path::{Path, PathBuf};

fn unified_root() -> Option<PathBuf> {
    if !is_root() {
        eprintln!("skipped: needs root");
        return None;
    }
    let m = cgroups::mounts::mounts().ok()?;
    match &m.v2 {
        Some(v2) => Some(v2.mount_point.clone()),
        None => {
            eprintln!("skipped: no cgroup2 mount");
            None
        }
    }
}

fn setup(root: &Path, tag: &str) -> (Guard, Box<dyn Manager>, String) {
    let top = unique(tag);
    let mut g = Guard::default();
    g.trees.push(cgroups::manager_v2(root, &top).unwrap());
    let m = cgroups::manager_v2(root, &format!("{top}/c")).unwrap();
    (g, m, top)
}

#[test]
fn create_join_freeze_kill_destroy() {
    let Some(root) = unified_root() else { return };
    let (mut g, m, top) = setup(&root, "life");
    let (pid, mut stdin, mut out) = g.spawn_responder("echo alive");
    m.apply(pid).unwrap();
    let dir = root.join(&top).join("c");
    assert_eq!(m.path("").unwrap(), dir);
    assert_eq!(read(&dir.join("cgroup.procs")), pid.to_string());
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(own.contains(&format!("0::/{top}/c\n")), "{own}");
    assert_eq!(m.pids().unwrap(), vec![pid]);

    m.freeze(FreezerState::Frozen).unwrap();
    assert_eq!(m.freezer_state().unwrap(), FreezerState::Frozen);
    assert!(read(&dir.join("cgroup.events")).contains("frozen 1"));
    let st = proc_state(pid);
    assert!(
        st.starts_with('D') || st.starts_with('T') || st.starts_with('S'),
        "{st}"
    );
    m.freeze(FreezerState::Thawed).unwrap();
    assert_eq!(m.freezer_state().unwrap(), FreezerState::Thawed);
    assert!(read(&dir.join("cgroup.events")).contains("frozen 0"));
    assert_eq!(ask(&mut stdin, &mut out, 1), ["alive"]);

    let s = m.stats().unwrap();
    assert!(s.cpu_usage_total_ns > 0, "cpu.stat is always there: {s:?}");

    // SIGKILL goes through cgroup.kill: the child dies without us signalling it.
    m.kill_all(libc::SIGKILL).unwrap();
    let status = g.children[0].wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    g.children.clear();

    m.destroy().unwrap();
    assert!(!dir.exists());
    assert!(
        root.join(&top).exists(),
        "only the container's cgroup is removed"
    );
    m.destroy().unwrap();
}

#[test]
fn ebpf_device_rules_are_enforced_and_replaced() {
    let Some(root) = unified_root() else { return };
    let (mut g, m, _top) = setup(&root, "bpf");
    let (pid, mut stdin, mut out) = g.spawn_responder(
        "if echo x > /dev/null; then echo null-ok; else echo null-denied; fi; \
         if head -c1 /dev/zero >/dev/null 2>&1; then echo zero-ok; else echo zero-denied; fi",
    );
    m.apply(pid).unwrap();
    assert_eq!(ask(&mut stdin, &mut out, 2), ["null-ok", "zero-ok"]);
    let rule = |allow: bool, typ, maj: i64, min: i64, acc: &str| {
        LinuxDeviceCgroupBuilder::default()
            .allow(allow)
            .typ(typ)
            .major(maj)
            .minor(min)
            .access(acc)
            .build()
            .unwrap()
    };
    let deny_zero = LinuxResourcesBuilder::default()
        .devices(vec![
            rule(false, LinuxDeviceType::A, -1, -1, "rwm"),
            rule(true, LinuxDeviceType::C, 1, 3, "rw"),
        ])
        .build()
        .unwrap();
    m.set(&deny_zero).unwrap();
    assert_eq!(ask(&mut stdin, &mut out, 2), ["null-ok", "zero-denied"]);

    // An update replaces the program (the old one is detached, not ANDed with the new one).
    let allow_all = LinuxResourcesBuilder::default()
        .devices(vec![rule(true, LinuxDeviceType::A, -1, -1, "rwm")])
        .build()
        .unwrap();
    m.set(&allow_all).unwrap();
    assert_eq!(ask(&mut stdin, &mut out, 2), ["null-ok", "zero-ok"]);
    m.set(&deny_zero).unwrap();
    assert_eq!(ask(&mut stdin, &mut out, 2), ["null-ok", "zero-denied"]);
}

#[test]
fn available_controllers_are_delegated_and_missing_ones_error_clearly() {
    let Some(root) = unified_root() else { return };
    let avail = read(&root.join("cgroup.controllers"));
    let (mut g, m, top) = setup(&root, "ctrl");
    let pid = g.spawn_sleep();
    m.apply(pid).unwrap();
    // Every controller the root offers is enabled down to the container's parent.
    let parent_on = read(&root.join(&top).join("cgroup.subtree_control"));
    for c in avail.split_whitespace() {
        assert!(
            parent_on.split_whitespace().any(|o| o == c),
            "{c} not delegated: {parent_on}"
        );
    }
    let dir = m.path("").unwrap();
    if avail.split_whitespace().any(|c| c == "hugetlb")
        && Path::new("/sys/kernel/mm/hugepages/hugepages-2048kB").exists()
    {
        let r = LinuxResourcesBuilder::default()
            .hugepage_limits(vec![LinuxHugepageLimitBuilder::default()
                .page_size("2MB")
                .limit(2i64 << 20)
                .build()
                .unwrap()])
            .build()
            .unwrap();
        m.set(&r).unwrap();
        assert_eq!(read(&dir.join("hugetlb.2MB.max")), (2u64 << 20).to_string());
    }
    let pids = LinuxResourcesBuilder::default()
        .pids(LinuxPidsBuilder::default().limit(10i64).build().unwrap())
        .build()
        .unwrap();
    if avail.split_whitespace().any(|c| c == "pids") {
        m.set(&pids).unwrap();
        assert_eq!(read(&dir.join("pids.max")), "10");
    } else {
        let e = m.set(&pids).unwrap_err().to_string();
        assert!(e.contains("pids.max") && e.contains("\"10\""), "{e}");
    }
}
