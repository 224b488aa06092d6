//! cgroup v1 / hybrid against the real kernel (run as root on a v1 or hybrid host).

mod common;

use cgroups::{FreezerState, Hierarchy, Manager};
use common::*;
use oci_spec::runtime::{
    LinuxBlockIoBuilder, LinuxCpuBuilder, LinuxDeviceCgroupBuilder, LinuxDeviceType,
    LinuxHugepageLimitBuilder, LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResources,
    LinuxResourcesBuilder, LinuxThrottleDeviceBuilder,
};
use std::path::{Path, PathBuf};

/// Skips (with a note) unless root on a v1/hybrid host.
fn v1_host() -> bool {
    if !is_root() {
        eprintln!("skipped: needs root");
        return false;
    }
    match cgroups::hierarchy() {
        Hierarchy::Unified => {
            eprintln!("skipped: host is cgroup v2 only");
            false
        }
        _ => true,
    }
}

/// A manager for `<top>/c` plus a guard that removes the whole `<top>` tree.
fn setup(tag: &str) -> (Guard, Box<dyn Manager>, String) {
    let top = format!("/{}", unique(tag));
    let mut g = Guard::default();
    g.trees
        .push(cgroups::manager(Some(&top), "unused").unwrap());
    let m = cgroups::manager(Some(&format!("{top}/c")), "unused").unwrap();
    (g, m, top)
}

fn mem(limit: i64, swap: i64) -> LinuxResources {
    LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(limit)
                .swap(swap)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
}

fn first_disk() -> (i64, i64) {
    // vda/sda-like devices are throttleable; loop/zram too, but prefer a real disk.
    let mut devs: Vec<PathBuf> = std::fs::read_dir("/sys/block")
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    devs.sort_by_key(|p| p.file_name().unwrap().to_string_lossy().starts_with("loop"));
    let d = read(&devs[0].join("dev"));
    let (a, b) = d.split_once(':').unwrap();
    (a.parse().unwrap(), b.parse().unwrap())
}

#[test]
fn apply_set_update_freeze_stats_destroy() {
    if !v1_host() {
        return;
    }
    let (mut g, m, top) = setup("main");
    let (pid, mut stdin, mut out) = g.spawn_responder("head -c 4000000 /dev/zero | wc -c");
    m.apply(pid).unwrap();

    // Joined in every v1 controller and (hybrid) in the unified tree.
    for ctrl in [
        "memory", "cpu", "cpuacct", "cpuset", "pids", "freezer", "devices", "blkio",
    ] {
        let dir = m.path(ctrl).unwrap_or_else(|| panic!("no {ctrl} path"));
        assert_eq!(
            dir,
            Path::new("/sys/fs/cgroup")
                .join(ctrl)
                .join(&top[1..])
                .join("c")
        );
        assert!(
            read(&dir.join("cgroup.procs"))
                .lines()
                .any(|l| l == pid.to_string()),
            "{ctrl}"
        );
    }
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(own.contains(&format!(":memory:{top}/c\n")), "{own}");
    if cgroups::hierarchy() == Hierarchy::Hybrid {
        assert!(own.contains(&format!("0::{top}/c\n")), "{own}");
        assert_eq!(
            m.path("").unwrap(),
            Path::new("/sys/fs/cgroup/unified")
                .join(&top[1..])
                .join("c")
        );
    }
    // cpuset was initialised from the parent, else the kernel would have refused the pid.
    let cpuset = m.path("cpuset").unwrap();
    assert_eq!(
        read(&cpuset.join("cpuset.cpus")),
        read(Path::new("/sys/fs/cgroup/cpuset/cpuset.cpus"))
    );

    let (maj, min) = first_disk();
    let r = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(64i64 << 20)
                .swap(128i64 << 20)
                .reservation(32i64 << 20)
                .swappiness(10u64)
                .build()
                .unwrap(),
        )
        .cpu(
            LinuxCpuBuilder::default()
                .shares(512u64)
                .quota(50000i64)
                .period(100000u64)
                .realtime_period(500000u64)
                .cpus("0")
                .mems("0")
                .build()
                .unwrap(),
        )
        .pids(LinuxPidsBuilder::default().limit(20i64).build().unwrap())
        .block_io(
            LinuxBlockIoBuilder::default()
                .throttle_read_bps_device(vec![LinuxThrottleDeviceBuilder::default()
                    .major(maj)
                    .minor(min)
                    .rate(1048576u64)
                    .build()
                    .unwrap()])
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    m.set(&r).unwrap();
    let f = |ctrl: &str, file: &str| read(&m.path(ctrl).unwrap().join(file));
    assert_eq!(
        f("memory", "memory.limit_in_bytes"),
        (64u64 << 20).to_string()
    );
    assert_eq!(
        f("memory", "memory.memsw.limit_in_bytes"),
        (128u64 << 20).to_string()
    );
    assert_eq!(
        f("memory", "memory.soft_limit_in_bytes"),
        (32u64 << 20).to_string()
    );
    assert_eq!(f("memory", "memory.swappiness"), "10");
    assert_eq!(f("cpu", "cpu.shares"), "512");
    assert_eq!(f("cpu", "cpu.cfs_quota_us"), "50000");
    assert_eq!(f("cpu", "cpu.cfs_period_us"), "100000");
    assert_eq!(f("cpu", "cpu.rt_period_us"), "500000");
    assert_eq!(f("cpuset", "cpuset.cpus"), "0");
    assert_eq!(f("cpuset", "cpuset.mems"), "0");
    assert_eq!(f("pids", "pids.max"), "20");
    assert_eq!(
        f("blkio", "blkio.throttle.read_bps_device"),
        format!("{maj}:{min} 1048576")
    );

    // update: raising both needs memsw first, lowering needs the limit first; the kernel
    // rejects the wrong order with EINVAL.
    m.set(&mem(256 << 20, 512 << 20)).unwrap();
    assert_eq!(
        f("memory", "memory.limit_in_bytes"),
        (256u64 << 20).to_string()
    );
    assert_eq!(
        f("memory", "memory.memsw.limit_in_bytes"),
        (512u64 << 20).to_string()
    );
    m.set(&mem(32 << 20, 48 << 20)).unwrap();
    assert_eq!(
        f("memory", "memory.limit_in_bytes"),
        (32u64 << 20).to_string()
    );
    assert_eq!(
        f("memory", "memory.memsw.limit_in_bytes"),
        (48u64 << 20).to_string()
    );
    // Absent fields stay: a pids-only update keeps memory and cpu; -1 means unlimited.
    let pids_only = LinuxResourcesBuilder::default()
        .pids(LinuxPidsBuilder::default().limit(-1i64).build().unwrap())
        .build()
        .unwrap();
    m.set(&pids_only).unwrap();
    assert_eq!(f("pids", "pids.max"), "max");
    assert_eq!(
        f("memory", "memory.limit_in_bytes"),
        (32u64 << 20).to_string()
    );
    assert_eq!(f("cpu", "cpu.cfs_quota_us"), "50000");
    m.set(&mem(-1, -1)).unwrap();
    assert!(f("memory", "memory.limit_in_bytes").parse::<u64>().unwrap() > 1 << 60);

    assert_eq!(m.pids().unwrap(), vec![pid]);
    // Work done inside the cgroup is accounted to it.
    assert_eq!(ask(&mut stdin, &mut out, 1), ["4000000"]);
    let s = m.stats().unwrap();
    assert!(s.pids_current >= 1, "{s:?}"); // pipeline children may still be exiting
    assert_eq!(s.pids_limit, u64::MAX);
    assert!(s.memory_usage > 0, "{s:?}");
    assert!(s.cpu_usage_total_ns > 0, "{s:?}");
    assert_eq!(s.oom_kill_count, 0);

    m.freeze(FreezerState::Frozen).unwrap();
    assert_eq!(m.freezer_state().unwrap(), FreezerState::Frozen);
    assert_eq!(f("freezer", "freezer.state"), "FROZEN");
    // Frozen tasks show as D on kernels >= 6.1 (TASK_FROZEN), T on older ones.
    let st = proc_state(pid);
    assert!(
        st.starts_with('D') || st.starts_with('T'),
        "frozen task state {st}"
    );
    m.freeze(FreezerState::Thawed).unwrap();
    assert_eq!(m.freezer_state().unwrap(), FreezerState::Thawed);
    // Thawed for real: it answers again.
    assert_eq!(ask(&mut stdin, &mut out, 1), ["4000000"]);

    // destroy with a live process fails (after the short EBUSY retries) and says why.
    let err = m.destroy().unwrap_err().to_string();
    assert!(err.contains("still in the cgroup"), "{err}");
    m.kill_all(libc::SIGKILL).unwrap();
    g.kill_children();
    assert!(m.pids().unwrap().is_empty());
    m.destroy().unwrap();
    for ctrl in [
        "memory", "cpu", "cpuset", "pids", "freezer", "devices", "blkio", "",
    ] {
        if let Some(p) = m.path(ctrl) {
            assert!(!p.exists(), "{} left behind", p.display());
            assert!(p.parent().unwrap().exists(), "parent must stay");
        }
    }
    assert!(!m.exists());
    m.destroy().unwrap(); // idempotent: ENOENT is fine
}

#[test]
fn kernel_rejections_name_file_and_value() {
    if !v1_host() {
        return;
    }
    let (mut g, m, _top) = setup("bad");
    let pid = g.spawn_sleep();
    m.apply(pid).unwrap();
    let quota = LinuxResourcesBuilder::default()
        .cpu(LinuxCpuBuilder::default().quota(500i64).build().unwrap())
        .build()
        .unwrap();
    let e = m.set(&quota).unwrap_err().to_string();
    assert!(
        e.contains("cpu.cfs_quota_us") && e.contains("\"500\""),
        "{e}"
    );
    let cpus = LinuxResourcesBuilder::default()
        .cpu(LinuxCpuBuilder::default().cpus("99").build().unwrap())
        .build()
        .unwrap();
    let e = m.set(&cpus).unwrap_err().to_string();
    assert!(e.contains("cpuset.cpus") && e.contains("\"99\""), "{e}");
    // swap below the memory limit violates the kernel's limit <= memsw invariant
    let e = m.set(&mem(64 << 20, 32 << 20)).unwrap_err().to_string();
    assert!(e.contains("memory"), "{e}");
}

#[test]
fn device_rules_are_enforced() {
    if !v1_host() {
        return;
    }
    let (mut g, m, _top) = setup("dev");
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
    let r = LinuxResourcesBuilder::default()
        .devices(vec![
            rule(false, LinuxDeviceType::A, -1, -1, "rwm"),
            rule(true, LinuxDeviceType::C, 1, 3, "rw"),
        ])
        .build()
        .unwrap();
    m.set(&r).unwrap();
    assert_eq!(
        read(&m.path("devices").unwrap().join("devices.list")),
        "c 1:3 rw"
    );
    assert_eq!(ask(&mut stdin, &mut out, 2), ["null-ok", "zero-denied"]);
}

#[test]
fn hugetlb_limit_is_written() {
    if !v1_host() {
        return;
    }
    if !Path::new("/sys/kernel/mm/hugepages/hugepages-2048kB").exists() {
        eprintln!("skipped: no 2MB huge pages");
        return;
    }
    let (mut g, m, _top) = setup("huge");
    let pid = g.spawn_sleep();
    m.apply(pid).unwrap();
    let r = LinuxResourcesBuilder::default()
        .hugepage_limits(vec![LinuxHugepageLimitBuilder::default()
            .page_size("2MB")
            .limit(4i64 << 20)
            .build()
            .unwrap()])
        .build()
        .unwrap();
    m.set(&r).unwrap();
    // v1 hugetlb if mounted, else (this kernel) the unified side of the hybrid host.
    let file = match m.path("hugetlb") {
        Some(d) => d.join("hugetlb.2MB.limit_in_bytes"),
        None => m.path("").unwrap().join("hugetlb.2MB.max"),
    };
    assert_eq!(read(&file), (4u64 << 20).to_string());
}

#[test]
fn relative_and_default_paths_resolve_without_touching_cgroupfs() {
    if !v1_host() {
        return;
    }
    let name = unique("rel");
    let m = cgroups::manager(Some(&name), "x").unwrap();
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    for ctrl in ["memory", "pids"] {
        let mine = own
            .lines()
            .find_map(|l| {
                l.split_once(&format!(":{ctrl}:"))
                    .map(|(_, p)| p.to_string())
            })
            .unwrap();
        let want = Path::new("/sys/fs/cgroup")
            .join(ctrl)
            .join(mine.trim_start_matches('/'))
            .join(&name);
        assert_eq!(m.path(ctrl).unwrap(), want);
        assert!(!want.exists(), "building a manager must not create cgroups");
    }
    let d = cgroups::manager(None, "abc123").unwrap();
    assert_eq!(
        d.path("pids").unwrap(),
        Path::new("/sys/fs/cgroup/pids/berth/abc123")
    );
    let e = cgroups::manager(Some("system.slice:berth:abc"), "abc")
        .err()
        .unwrap();
    assert!(matches!(e, cgroups::Error::Unsupported(_)));
}

#[test]
fn memory_hog_is_oom_killed_and_counted() {
    if !v1_host() {
        return;
    }
    let (mut g, m, _top) = setup("oom");
    // tail -n1 must keep the whole newline-free input in memory.
    let (pid, mut stdin, mut out) =
        g.spawn_responder("head -c 200000000 /dev/zero | tail -n1 >/dev/null; echo $?");
    m.apply(pid).unwrap();
    // memsw == limit: no swap to escape into.
    m.set(&mem(16 << 20, 16 << 20)).unwrap();
    assert_eq!(m.oom_kill_count().unwrap(), 0);
    assert_eq!(
        ask(&mut stdin, &mut out, 1),
        ["137"],
        "SIGKILLed by the OOM killer"
    );
    assert!(m.oom_kill_count().unwrap() >= 1);
    assert!(m.stats().unwrap().memory_max_usage >= 15 << 20);

    // disableOOMKiller is written through to memory.oom_control.
    let r = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .disable_oom_killer(true)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    m.set(&r).unwrap();
    let oc = read(&m.path("memory").unwrap().join("memory.oom_control"));
    assert!(oc.contains("oom_kill_disable 1"), "{oc}");
}
