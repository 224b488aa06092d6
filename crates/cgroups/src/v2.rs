//! cgroup v2 (unified hierarchy). All file writes take the cgroup directory, so unit tests point
//! them at a temp dir.

use crate::fsutil::{self, keyed, read_opt, read_u64, write};
use crate::mounts::{self, CgroupMount};
use crate::{ebpf, CgroupPath, Error, FreezerState, Join, Manager, Result, Stats};
use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxResources};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct V2Manager {
    /// The cgroup2 mount point.
    root: PathBuf,
    /// This cgroup's directory under `root`.
    dir: PathBuf,
    /// Pure v2 mode: enable controllers in ancestors and enforce device rules with eBPF. Off for
    /// the unified half of a hybrid host, where the v1 controllers do the work.
    full: bool,
}

impl V2Manager {
    pub fn new(root: &Path, dir: &Path, full: bool) -> Self {
        V2Manager {
            root: root.to_path_buf(),
            dir: dir.to_path_buf(),
            full,
        }
    }

    pub(crate) fn for_mount(mount: &CgroupMount, path: &CgroupPath, full: bool) -> Result<Self> {
        let dir = match path {
            CgroupPath::Absolute(p) => mounts::resolve(mount, p, None),
            CgroupPath::Relative(p) => mounts::resolve(mount, p, Some(&mounts::own_cgroup("")?)),
        };
        Ok(Self::new(&mount.mount_point, &dir, full))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The cgroup2 mount point this manager works under.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Creates the cgroup (mkdir -p) and, in full mode, delegates the available controllers down
    /// to it (each ancestor's cgroup.subtree_control; never the leaf, which holds processes).
    pub fn create(&self) -> Result<()> {
        fsutil::mkdir_p(&self.dir)?;
        if self.full {
            let rel = self.dir.strip_prefix(&self.root).unwrap_or(Path::new(""));
            let mut level = self.root.clone();
            for comp in rel.components() {
                enable_controllers(&level)?;
                level.push(comp);
            }
        }
        Ok(())
    }

    /// Writes the resources in the order runc uses. Realtime CPU has no v2 equivalent.
    pub fn set_resources(&self, r: &LinuxResources) -> Result<()> {
        let d = &self.dir;
        if let Some(cpu) = r.cpu() {
            set_cpuset(d, cpu)?;
            set_cpu(d, cpu)?;
        }
        if let Some(mem) = r.memory() {
            set_memory(d, mem)?;
        }
        if let Some(p) = r.pids() {
            write(d, "pids.max", &pids_value(p.limit()))?;
        }
        if let Some(io) = r.block_io() {
            set_io(d, io)?;
        }
        if let Some(h) = r.hugepage_limits() {
            set_hugetlb(d, h)?;
        }
        if let Some(u) = r.unified() {
            set_unified(d, u)?;
        }
        if r.rdma().as_ref().is_some_and(|r| !r.is_empty()) {
            return Err(Error::Unsupported(
                "rdma limits are not supported by berth".into(),
            ));
        }
        if let Some(devs) = r.devices() {
            if self.full {
                ebpf::apply_device_rules(d, devs)?;
            }
        }
        if r.network().as_ref().is_some_and(|n| {
            n.class_id().is_some() || n.priorities().as_ref().is_some_and(|p| !p.is_empty())
        }) {
            return Err(Error::Unsupported(
                "network (net_cls/net_prio) limits cannot be applied on cgroup v2".into(),
            ));
        }
        Ok(())
    }
}

/// Writes "+ctrl" to `dir/cgroup.subtree_control` for every available controller not yet on.
fn enable_controllers(dir: &Path) -> Result<()> {
    let avail = fsutil::read(dir, "cgroup.controllers")?;
    let on = fsutil::read(dir, "cgroup.subtree_control")?;
    let missing: Vec<String> = avail
        .split_whitespace()
        .filter(|c| !on.split_whitespace().any(|o| o == *c))
        .map(|c| format!("+{c}"))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    write(dir, "cgroup.subtree_control", &missing.join(" "))
}

pub(crate) fn pids_value(limit: i64) -> String {
    if limit <= 0 {
        "max".into()
    } else {
        limit.to_string()
    }
}

/// runc's shares (2..262144) -> weight (1..10000) mapping.
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    let shares = shares.clamp(2, 262144);
    1 + ((shares - 2) * 9999) / 262142
}

/// blkio weight (10..1000) -> io.weight (1..10000), as runc converts it.
pub fn blkio_weight_to_io(weight: u16) -> u64 {
    let w = u64::from(weight.clamp(10, 1000));
    1 + (w - 10) * 9999 / 990
}

fn set_cpuset(d: &Path, cpu: &LinuxCpu) -> Result<()> {
    if let Some(cpus) = cpu.cpus().as_deref().filter(|s| !s.is_empty()) {
        write(d, "cpuset.cpus", cpus)?;
    }
    if let Some(mems) = cpu.mems().as_deref().filter(|s| !s.is_empty()) {
        write(d, "cpuset.mems", mems)?;
    }
    Ok(())
}

pub(crate) fn set_cpu(d: &Path, cpu: &LinuxCpu) -> Result<()> {
    if let Some(shares) = cpu.shares().filter(|&s| s != 0) {
        write(d, "cpu.weight", &shares_to_weight(shares).to_string())?;
    }
    let quota = cpu.quota().filter(|&q| q != 0);
    let period = cpu.period().filter(|&p| p != 0);
    if quota.is_some() || period.is_some() {
        let q = match quota {
            Some(q) if q < 0 => "max".to_string(),
            Some(q) => q.to_string(),
            // `update --cpu-period` alone must keep the current quota.
            None => read_opt(d, "cpu.max")?
                .and_then(|s| s.split_whitespace().next().map(str::to_string))
                .unwrap_or_else(|| "max".into()),
        };
        let v = match period {
            Some(p) => format!("{q} {p}"),
            None => q,
        };
        write(d, "cpu.max", &v)?;
    }
    if let Some(burst) = cpu.burst() {
        write(d, "cpu.max.burst", &burst.to_string())?;
    }
    if let Some(idle) = cpu.idle() {
        write(d, "cpu.idle", &idle.to_string())?;
    }
    if cpu.realtime_runtime().is_some_and(|v| v != 0)
        || cpu.realtime_period().is_some_and(|v| v != 0)
    {
        return Err(Error::Unsupported(
            "realtime cpu (cpu.rt_runtime/rt_period) is not supported by cgroup v2".into(),
        ));
    }
    Ok(())
}

/// OCI swap is memory+swap; v2's memory.swap.max is swap alone.
pub fn swap_to_v2(limit: Option<i64>, swap: i64) -> Result<String> {
    if swap == -1 {
        return Ok("max".into());
    }
    match limit {
        None | Some(0) | Some(-1) => Err(Error::Invalid(format!(
            "memory swap {swap} needs a memory limit as well (swap is memory+swap)"
        ))),
        Some(l) if l > swap => Err(Error::Invalid(format!(
            "memory+swap limit {swap} must be at least the memory limit {l}"
        ))),
        Some(l) => Ok((swap - l).to_string()),
    }
}

fn mem_value(v: i64) -> String {
    if v < 0 {
        "max".into()
    } else {
        v.to_string()
    }
}

pub(crate) fn set_memory(d: &Path, mem: &LinuxMemory) -> Result<()> {
    crate::check_memory(mem)?;
    let limit = mem.limit().filter(|&l| l != 0);
    if let Some(swap) = mem.swap().filter(|&s| s != 0) {
        let v = swap_to_v2(limit, swap)?;
        // Without swap accounting swap is unlimited: "max" holds, a limit cannot be applied.
        if !fsutil::write_if_exists(d, "memory.swap.max", &v)? && v != "max" {
            return Err(crate::Error::Unsupported(format!(
                "swap limit {v} cannot be applied: memory.swap.max is missing in {} (no swap \
                 accounting)",
                d.display()
            )));
        }
    }
    if let Some(l) = limit {
        write(d, "memory.max", &mem_value(l))?;
    }
    if let Some(r) = mem.reservation().filter(|&r| r != 0) {
        write(d, "memory.low", &mem_value(r))?;
    }
    if mem.swappiness().is_some() {
        crate::warn("memory swappiness is not supported by cgroup v2; skipped");
    }
    if mem.disable_oom_killer() == Some(true) {
        crate::warn("disabling the OOM killer is not supported by cgroup v2; skipped");
    }
    Ok(())
}

pub(crate) fn set_io(d: &Path, io: &LinuxBlockIo) -> Result<()> {
    if let Some(w) = io.weight().filter(|&w| w != 0) {
        set_io_weight(d, "default", w)?;
    }
    for wd in io.weight_device().iter().flatten() {
        if let Some(w) = wd.weight() {
            set_io_weight(d, &format!("{}:{}", wd.major(), wd.minor()), w)?;
        }
    }
    let throttles = [
        (io.throttle_read_bps_device(), "rbps"),
        (io.throttle_write_bps_device(), "wbps"),
        (io.throttle_read_iops_device(), "riops"),
        (io.throttle_write_iops_device(), "wiops"),
    ];
    for (devs, key) in throttles {
        for t in devs.iter().flatten() {
            let rate = if t.rate() == 0 {
                "max".to_string()
            } else {
                t.rate().to_string()
            };
            write(
                d,
                "io.max",
                &format!("{}:{} {key}={rate}", t.major(), t.minor()),
            )?;
        }
    }
    Ok(())
}

/// io.weight when the io controller offers it, else BFQ's io.bfq.weight (which takes blkio's
/// 1..1000 scale directly).
fn set_io_weight(d: &Path, target: &str, w: u16) -> Result<()> {
    if fsutil::write_if_exists(
        d,
        "io.weight",
        &format!("{target} {}", blkio_weight_to_io(w)),
    )? {
        return Ok(());
    }
    let v = if target == "default" {
        w.to_string()
    } else {
        format!("{target} {w}")
    };
    if !fsutil::write_if_exists(d, "io.bfq.weight", &v)? {
        // As in runc: an error, not a weight silently dropped.
        return Err(crate::Error::Unsupported(format!(
            "io weight {target} {w} cannot be applied: neither io.weight nor io.bfq.weight exists in {}",
            d.display()
        )));
    }
    Ok(())
}

pub(crate) fn set_hugetlb(
    d: &Path,
    limits: &[oci_spec::runtime::LinuxHugepageLimit],
) -> Result<()> {
    for h in limits {
        write(
            d,
            &format!("hugetlb.{}.max", h.page_size()),
            &mem_value(h.limit()),
        )?;
    }
    Ok(())
}

pub(crate) fn set_unified(d: &Path, u: &std::collections::HashMap<String, String>) -> Result<()> {
    for (k, v) in u {
        if k.contains('/') || k.starts_with('.') {
            return Err(Error::Invalid(format!(
                "unified key {k:?} is not a cgroup file name"
            )));
        }
        write(d, k, v)?;
    }
    Ok(())
}

/// Writes cgroup.freeze and waits for cgroup.events to report the new state. cgroup.events
/// signals changes with POLLPRI, so this blocks in poll(2) rather than sleeping.
pub(crate) fn freeze(d: &Path, state: FreezerState) -> Result<()> {
    let want = match state {
        FreezerState::Frozen => 1,
        FreezerState::Thawed => 0,
    };
    write(d, "cgroup.freeze", &want.to_string())?;
    let events = d.join("cgroup.events");
    let file = std::fs::File::open(&events).map_err(|e| fsutil::io_err(&events, e))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut buf = [0u8; 256];
        // SAFETY: pread into a local buffer of the given length on an fd we own.
        let n = unsafe { libc::pread(file.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            return Err(fsutil::io_err(&events, std::io::Error::last_os_error()));
        }
        let text = String::from_utf8_lossy(&buf[..n as usize]);
        if keyed(&text, "frozen") == Some(want) {
            return Ok(());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Error::Io {
                path: events.display().to_string(),
                source: std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("cgroup did not reach frozen={want} within 10s"),
                ),
            });
        }
        let mut pfd = libc::pollfd {
            fd: file.as_raw_fd(),
            events: libc::POLLPRI,
            revents: 0,
        };
        // SAFETY: one valid pollfd; the timeout bounds the wait.
        let r = unsafe { libc::poll(&mut pfd, 1, left.as_millis().min(1000) as i32) };
        if r < 0 && std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return Err(fsutil::io_err(&events, std::io::Error::last_os_error()));
        }
    }
}

pub(crate) fn freezer_state(d: &Path) -> Result<FreezerState> {
    let f = fsutil::read(d, "cgroup.freeze")?;
    Ok(if f.trim() == "1" {
        FreezerState::Frozen
    } else {
        FreezerState::Thawed
    })
}

pub(crate) fn stats(d: &Path) -> Result<Stats> {
    let mut s = Stats::default();
    if let Some(cpu) = read_opt(d, "cpu.stat")? {
        s.cpu_usage_total_ns = keyed(&cpu, "usage_usec").unwrap_or(0) * 1000;
        s.cpu_usage_user_ns = keyed(&cpu, "user_usec").unwrap_or(0) * 1000;
        s.cpu_usage_kernel_ns = keyed(&cpu, "system_usec").unwrap_or(0) * 1000;
    }
    s.memory_usage = read_u64(d, "memory.current")?.unwrap_or(0);
    s.memory_limit = read_u64(d, "memory.max")?.unwrap_or(0);
    s.memory_max_usage = read_u64(d, "memory.peak")?.unwrap_or(0);
    if let Some(ms) = read_opt(d, "memory.stat")? {
        s.memory_cache = keyed(&ms, "file").unwrap_or(0);
    }
    if let Some(ev) = read_opt(d, "memory.events")? {
        s.oom_kill_count = keyed(&ev, "oom_kill").unwrap_or(0);
    }
    s.pids_current = read_u64(d, "pids.current")?.unwrap_or(0);
    s.pids_limit = read_u64(d, "pids.max")?.unwrap_or(0);
    if let Some(io) = read_opt(d, "io.stat")? {
        for field in io.split_whitespace() {
            if let Some(v) = field.strip_prefix("rbytes=") {
                s.blkio_read_bytes += v.parse::<u64>().unwrap_or(0);
            } else if let Some(v) = field.strip_prefix("wbytes=") {
                s.blkio_write_bytes += v.parse::<u64>().unwrap_or(0);
            }
        }
    }
    Ok(s)
}

impl Manager for V2Manager {
    fn apply(&self, pid: i32) -> Result<()> {
        self.create()?;
        write(&self.dir, "cgroup.procs", &pid.to_string())
    }

    fn prepare_join(&self) -> Result<Join> {
        self.create()?;
        Ok(Join {
            tasks: Vec::new(),
            v2_dir: Some(crate::open_dir(&self.dir)?),
        })
    }

    fn set(&self, resources: &LinuxResources) -> Result<()> {
        self.set_resources(resources)
    }

    fn freeze(&self, state: FreezerState) -> Result<()> {
        freeze(&self.dir, state)
    }

    fn freezer_state(&self) -> Result<FreezerState> {
        freezer_state(&self.dir)
    }

    fn pids(&self) -> Result<Vec<i32>> {
        let mut v = Vec::new();
        fsutil::walk_procs(&self.dir, &mut v)?;
        Ok(v)
    }

    fn stats(&self) -> Result<Stats> {
        stats(&self.dir)
    }

    fn destroy(&self) -> Result<()> {
        fsutil::remove_tree(&self.dir)
    }

    fn oom_kill_count(&self) -> Result<u64> {
        Ok(read_opt(&self.dir, "memory.events")?
            .and_then(|ev| keyed(&ev, "oom_kill"))
            .unwrap_or(0))
    }

    fn path(&self, controller: &str) -> Option<PathBuf> {
        // Every v2 controller lives in the one directory.
        let _ = controller;
        Some(self.dir.clone())
    }

    fn exists(&self) -> bool {
        self.dir.exists()
    }

    fn kill_all(&self, signal: i32) -> Result<()> {
        if signal == libc::SIGKILL && fsutil::write_if_exists(&self.dir, "cgroup.kill", "1")? {
            return Ok(());
        }
        crate::signal_pids(&self.pids()?, signal);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{
        LinuxBlockIoBuilder, LinuxCpuBuilder, LinuxHugepageLimitBuilder, LinuxMemoryBuilder,
        LinuxPidsBuilder, LinuxResourcesBuilder, LinuxThrottleDeviceBuilder,
        LinuxWeightDeviceBuilder,
    };

    /// A fake cgroup dir holding the given (empty) files, so a write to a misspelt file fails.
    fn fake(files: &[&str]) -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        for f in files {
            std::fs::write(t.path().join(f), "").unwrap();
        }
        t
    }

    fn get(t: &tempfile::TempDir, f: &str) -> String {
        std::fs::read_to_string(t.path().join(f)).unwrap()
    }

    #[test]
    fn conversions_match_runc() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262144), 10000);
        assert_eq!(blkio_weight_to_io(10), 1);
        assert_eq!(blkio_weight_to_io(1000), 10000);
        assert_eq!(blkio_weight_to_io(500), 4950);
        assert_eq!(swap_to_v2(Some(100), 300).unwrap(), "200");
        assert_eq!(swap_to_v2(Some(100), -1).unwrap(), "max");
        assert!(swap_to_v2(None, 300).is_err());
        assert!(swap_to_v2(Some(400), 300).is_err());
        assert_eq!(pids_value(0), "max");
        assert_eq!(pids_value(-1), "max");
        assert_eq!(pids_value(7), "7");
    }

    #[test]
    fn writes_cpu_memory_pids_files() {
        let t = fake(&[
            "cpu.weight",
            "cpu.max",
            "cpu.max.burst",
            "cpu.idle",
            "cpuset.cpus",
            "cpuset.mems",
            "memory.max",
            "memory.low",
            "memory.swap.max",
            "pids.max",
        ]);
        let r = LinuxResourcesBuilder::default()
            .cpu(
                LinuxCpuBuilder::default()
                    .shares(1024u64)
                    .quota(50000i64)
                    .period(100000u64)
                    .burst(1000u64)
                    .idle(0i64)
                    .cpus("0-1")
                    .mems("0")
                    .build()
                    .unwrap(),
            )
            .memory(
                LinuxMemoryBuilder::default()
                    .limit(64i64 << 20)
                    .swap(128i64 << 20)
                    .reservation(32i64 << 20)
                    .build()
                    .unwrap(),
            )
            .pids(LinuxPidsBuilder::default().limit(42i64).build().unwrap())
            .build()
            .unwrap();
        let m = V2Manager::new(t.path(), t.path(), false);
        m.set_resources(&r).unwrap();
        assert_eq!(get(&t, "cpu.weight"), "39");
        assert_eq!(get(&t, "cpu.max"), "50000 100000");
        assert_eq!(get(&t, "cpu.max.burst"), "1000");
        assert_eq!(get(&t, "cpu.idle"), "0");
        assert_eq!(get(&t, "cpuset.cpus"), "0-1");
        assert_eq!(get(&t, "cpuset.mems"), "0");
        assert_eq!(get(&t, "memory.max"), (64u64 << 20).to_string());
        assert_eq!(get(&t, "memory.swap.max"), (64u64 << 20).to_string());
        assert_eq!(get(&t, "memory.low"), (32u64 << 20).to_string());
        assert_eq!(get(&t, "pids.max"), "42");

        // update semantics: only present fields are written; -1 means unlimited.
        std::fs::write(t.path().join("cpu.max"), "50000 100000").unwrap();
        let upd = LinuxResourcesBuilder::default()
            .cpu(
                LinuxCpuBuilder::default()
                    .period(200000u64)
                    .build()
                    .unwrap(),
            )
            .memory(LinuxMemoryBuilder::default().limit(-1i64).build().unwrap())
            .pids(LinuxPidsBuilder::default().limit(-1i64).build().unwrap())
            .build()
            .unwrap();
        m.set_resources(&upd).unwrap();
        assert_eq!(get(&t, "cpu.max"), "50000 200000");
        assert_eq!(get(&t, "memory.max"), "max");
        assert_eq!(get(&t, "memory.low"), (32u64 << 20).to_string());
        assert_eq!(get(&t, "pids.max"), "max");
        let q = LinuxResourcesBuilder::default()
            .cpu(LinuxCpuBuilder::default().quota(-1i64).build().unwrap())
            .build()
            .unwrap();
        m.set_resources(&q).unwrap();
        assert_eq!(get(&t, "cpu.max"), "max");

        let rt = LinuxResourcesBuilder::default()
            .cpu(
                LinuxCpuBuilder::default()
                    .realtime_runtime(1000i64)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        assert!(matches!(m.set_resources(&rt), Err(Error::Unsupported(_))));
    }

    #[test]
    fn writes_io_hugetlb_unified_files() {
        let t = fake(&["io.weight", "io.max", "hugetlb.2MB.max", "memory.high"]);
        let dev = |maj, min, rate| {
            vec![LinuxThrottleDeviceBuilder::default()
                .major(maj)
                .minor(min)
                .rate(rate)
                .build()
                .unwrap()]
        };
        let r = LinuxResourcesBuilder::default()
            .block_io(
                LinuxBlockIoBuilder::default()
                    .weight(500u16)
                    .throttle_write_iops_device(dev(8, 0, 300u64))
                    .build()
                    .unwrap(),
            )
            .hugepage_limits(vec![LinuxHugepageLimitBuilder::default()
                .page_size("2MB")
                .limit(4i64 << 20)
                .build()
                .unwrap()])
            .unified(std::collections::HashMap::from([(
                "memory.high".to_string(),
                "1000000".to_string(),
            )]))
            .build()
            .unwrap();
        V2Manager::new(t.path(), t.path(), false)
            .set_resources(&r)
            .unwrap();
        assert_eq!(get(&t, "io.weight"), "default 4950");
        assert_eq!(get(&t, "io.max"), "8:0 wiops=300");
        assert_eq!(get(&t, "hugetlb.2MB.max"), (4u64 << 20).to_string());
        assert_eq!(get(&t, "memory.high"), "1000000");

        // Without io.weight, BFQ's file takes the blkio scale; per-device weights too.
        let t = fake(&["io.bfq.weight"]);
        let r = LinuxBlockIoBuilder::default()
            .weight_device(vec![LinuxWeightDeviceBuilder::default()
                .major(8i64)
                .minor(16i64)
                .weight(300u16)
                .build()
                .unwrap()])
            .build()
            .unwrap();
        set_io(t.path(), &r).unwrap();
        assert_eq!(get(&t, "io.bfq.weight"), "8:16 300");

        let bad = [("../x".to_string(), "1".to_string())].into();
        assert!(set_unified(t.path(), &bad).is_err());
    }

    #[test]
    fn stats_parse_v2_files() {
        let t = tempfile::tempdir().unwrap();
        let w = |f: &str, c: &str| std::fs::write(t.path().join(f), c).unwrap();
        w("cpu.stat", "usage_usec 10\nuser_usec 7\nsystem_usec 3\n");
        w("memory.current", "4096\n");
        w("memory.max", "max\n");
        w("memory.peak", "8192\n");
        w("memory.stat", "anon 1\nfile 2048\n");
        w("memory.events", "low 0\noom 1\noom_kill 2\n");
        w("pids.current", "3\n");
        w("pids.max", "10\n");
        w(
            "io.stat",
            "8:0 rbytes=100 wbytes=200 rios=1\n8:16 rbytes=1 wbytes=2\n",
        );
        let s = stats(t.path()).unwrap();
        assert_eq!(s.cpu_usage_total_ns, 10_000);
        assert_eq!(s.cpu_usage_user_ns, 7_000);
        assert_eq!(s.cpu_usage_kernel_ns, 3_000);
        assert_eq!(s.memory_usage, 4096);
        assert_eq!(s.memory_limit, u64::MAX);
        assert_eq!(s.memory_max_usage, 8192);
        assert_eq!(s.memory_cache, 2048);
        assert_eq!(s.oom_kill_count, 2);
        assert_eq!((s.pids_current, s.pids_limit), (3, 10));
        assert_eq!((s.blkio_read_bytes, s.blkio_write_bytes), (101, 202));
    }

    #[test]
    fn create_enables_available_controllers_in_ancestors_only() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        std::fs::write(root.join("cgroup.controllers"), "cpu memory pids").unwrap();
        std::fs::write(root.join("cgroup.subtree_control"), "memory").unwrap();
        std::fs::create_dir(root.join("berth")).unwrap();
        std::fs::write(root.join("berth/cgroup.controllers"), "cpu").unwrap();
        std::fs::write(root.join("berth/cgroup.subtree_control"), "").unwrap();
        let m = V2Manager::new(root, &root.join("berth/c1"), true);
        m.create().unwrap();
        assert!(root.join("berth/c1").is_dir());
        assert_eq!(get(&t, "cgroup.subtree_control"), "+cpu +pids");
        assert_eq!(get(&t, "berth/cgroup.subtree_control"), "+cpu");
        assert!(!root.join("berth/c1/cgroup.subtree_control").exists());
    }
}
