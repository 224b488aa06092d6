//! cgroup v1 (legacy), plus the unified half of hybrid hosts. Writes take the controller
//! directory, so unit tests point them at temp dirs.

use crate::fsutil::{self, keyed, read_opt, read_u64, write, write_if_exists};
use crate::mounts::{self, Mounts};
use crate::v2::{self, V2Manager};
use crate::{CgroupPath, Error, FreezerState, Join, Manager, Result, Stats};
use oci_spec::runtime::{
    LinuxBlockIo, LinuxCpu, LinuxDeviceCgroup, LinuxMemory, LinuxNetwork, LinuxResources,
};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct V1Manager {
    /// (controller, directory) for every mounted v1 controller, in runc's set order.
    dirs: Vec<(String, PathBuf)>,
    /// Hybrid hosts: the same cgroup in the unified hierarchy (created and joined only).
    unified: Option<V2Manager>,
}

impl V1Manager {
    pub fn new(dirs: Vec<(String, PathBuf)>, unified: Option<V2Manager>) -> Self {
        V1Manager { dirs, unified }
    }

    pub(crate) fn for_mounts(m: &Mounts, path: &CgroupPath) -> Result<Self> {
        // /proc/self/cgroup is only needed (and read once) for relative paths.
        let own = match path {
            CgroupPath::Relative(_) => Some(fsutil::read_path(Path::new("/proc/self/cgroup"))?),
            CgroupPath::Absolute(_) => None,
        };
        let (p, rel) = match path {
            CgroupPath::Absolute(p) => (p.as_str(), false),
            CgroupPath::Relative(p) => (p.as_str(), true),
        };
        let mut dirs = Vec::new();
        // The controllers, then the named hierarchies (name=systemd): joined, never written.
        let named = m.named.iter().map(|n| (n.controllers[0].as_str(), n));
        let wanted = mounts::V1_CONTROLLERS
            .iter()
            .filter_map(|c| Some((*c, m.v1_mount(c)?)))
            .chain(named);
        for (ctrl, mount) in wanted {
            let own_cg = match &own {
                Some(text) if rel => Some(mounts::own_cgroup_in(text, ctrl).ok_or_else(|| {
                    Error::Unsupported(format!("no {ctrl} entry in /proc/self/cgroup"))
                })?),
                _ => None,
            };
            dirs.push((
                ctrl.to_string(),
                mounts::resolve(mount, p, own_cg.as_deref()),
            ));
        }
        let unified = match &m.v2 {
            Some(mount) => Some(V2Manager::for_mount(mount, path, false)?),
            None => None,
        };
        Ok(Self::new(dirs, unified))
    }

    pub fn dir(&self, controller: &str) -> Option<&Path> {
        self.dirs
            .iter()
            .find(|(c, _)| c == controller)
            .map(|(_, d)| d.as_path())
    }

    /// Distinct directories (co-mounted controllers such as cpu,cpuacct share one).
    fn unique_dirs(&self) -> Vec<(&str, &Path)> {
        let mut out: Vec<(&str, &Path)> = Vec::with_capacity(self.dirs.len());
        for (c, d) in &self.dirs {
            if !out.iter().any(|(_, o)| *o == d.as_path()) {
                out.push((c.as_str(), d.as_path()));
            }
        }
        out
    }

    fn need(&self, controller: &str, what: &str) -> Result<&Path> {
        self.dir(controller).ok_or_else(|| {
            Error::Unsupported(format!(
                "{what} requested, but the {controller} cgroup controller is not mounted"
            ))
        })
    }

    /// The hierarchy `pids()`/`exists()` look at: any controller holds every task.
    fn primary(&self) -> Option<&Path> {
        ["pids", "freezer", "memory", "cpu"]
            .iter()
            .find_map(|c| self.dir(c))
            .or_else(|| self.dirs.first().map(|(_, d)| d.as_path()))
    }

    pub fn set_resources(&self, r: &LinuxResources) -> Result<()> {
        if let Some(cpu) = r.cpu() {
            let cpus = cpu.cpus().as_deref().filter(|s| !s.is_empty());
            let mems = cpu.mems().as_deref().filter(|s| !s.is_empty());
            if cpus.is_some() || mems.is_some() {
                let d = self.need("cpuset", "cpuset")?;
                if let Some(c) = cpus {
                    write(d, "cpuset.cpus", c)?;
                }
                if let Some(m) = mems {
                    write(d, "cpuset.mems", m)?;
                }
            }
        }
        if let Some(devs) = r.devices() {
            set_devices(self.need("devices", "device rules")?, devs)?;
        }
        if let Some(mem) = r.memory() {
            if mem_has_settings(mem) {
                set_memory(self.need("memory", "a memory limit")?, mem)?;
            }
        }
        if let Some(cpu) = r.cpu() {
            if cpu_has_settings(cpu) {
                set_cpu(self.need("cpu", "a cpu limit")?, cpu)?;
            }
        }
        if let Some(p) = r.pids() {
            write(
                self.need("pids", "a pids limit")?,
                "pids.max",
                &v2::pids_value(p.limit()),
            )?;
        }
        if let Some(io) = r.block_io() {
            set_blkio(self.need("blkio", "a blkio limit")?, io)?;
        }
        if let Some(h) = r.hugepage_limits().as_deref().filter(|h| !h.is_empty()) {
            match (self.dir("hugetlb"), &self.unified) {
                (Some(d), _) => set_hugetlb(d, h)?,
                // This kernel may offer hugetlb only on the unified side of a hybrid host.
                (None, Some(u)) => {
                    enable_v2_controller(u, "hugetlb")?;
                    v2::set_hugetlb(u.dir(), h)?;
                }
                (None, None) => {
                    return Err(Error::Unsupported(
                        "hugetlb limits requested, but no hugetlb cgroup controller is mounted"
                            .into(),
                    ))
                }
            }
        }
        if let Some(n) = r.network() {
            set_network(self.dir("net_cls"), self.dir("net_prio"), n)?;
        }
        if let Some(u) = r.unified().as_ref().filter(|u| !u.is_empty()) {
            match &self.unified {
                Some(m) => v2::set_unified(m.dir(), u)?,
                None => {
                    return Err(Error::Unsupported(
                        "unified (cgroup v2) resources need a cgroup2 mount".into(),
                    ))
                }
            }
        }
        if r.rdma().as_ref().is_some_and(|r| !r.is_empty()) {
            return Err(Error::Unsupported(
                "rdma limits are not supported by berth".into(),
            ));
        }
        Ok(())
    }
}

/// Turns `controller` on along the unified path (root .. parent of the leaf), if the hierarchy
/// offers it. Only hybrid hugetlb needs this, so it is not done on every apply.
fn enable_v2_controller(u: &V2Manager, controller: &str) -> Result<()> {
    let root = u.root();
    let rel = u.dir().strip_prefix(root).unwrap_or(Path::new(""));
    let mut level = root.to_path_buf();
    for comp in rel.components() {
        let avail = fsutil::read(&level, "cgroup.controllers")?;
        if !avail.split_whitespace().any(|c| c == controller) {
            return Err(Error::Unsupported(format!(
                "{controller} is not available in {} (cgroup.controllers: {:?})",
                level.display(),
                avail.trim()
            )));
        }
        let on = fsutil::read(&level, "cgroup.subtree_control")?;
        if !on.split_whitespace().any(|c| c == controller) {
            write(&level, "cgroup.subtree_control", &format!("+{controller}"))?;
        }
        level.push(comp);
    }
    Ok(())
}

fn mem_has_settings(m: &LinuxMemory) -> bool {
    m.limit().is_some()
        || m.swap().is_some()
        || m.reservation().is_some()
        || m.swappiness().is_some()
        || m.disable_oom_killer().is_some()
        || m.kernel().is_some()
        || m.kernel_tcp().is_some()
}

fn cpu_has_settings(c: &LinuxCpu) -> bool {
    c.shares().is_some()
        || c.quota().is_some()
        || c.period().is_some()
        || c.burst().is_some()
        || c.idle().is_some()
        || c.realtime_runtime().is_some()
        || c.realtime_period().is_some()
}

/// Makes `dir` usable for tasks: the kernel refuses tasks in a cpuset with empty cpus or mems,
/// and v1 creates cpusets empty. Walks up to the nearest initialised ancestor (a concurrent
/// runtime may have just created a shared parent such as /berth) and copies values down.
fn ensure_cpuset(dir: &Path) -> Result<()> {
    let mut chain = Vec::new();
    let mut cur = dir.to_path_buf();
    let (mut cpus, mut mems) = loop {
        let c = fsutil::read(&cur, "cpuset.cpus")?;
        let m = fsutil::read(&cur, "cpuset.mems")?;
        if !c.trim().is_empty() && !m.trim().is_empty() {
            break (c, m);
        }
        chain.push(cur.clone());
        match cur.parent() {
            Some(p) if p.join("cpuset.cpus").exists() => cur = p.to_path_buf(),
            // The mount root always has values; stop rather than walk out of the hierarchy.
            _ => return Ok(()),
        }
    };
    for d in chain.iter().rev() {
        let here_c = fsutil::read(d, "cpuset.cpus")?;
        if here_c.trim().is_empty() {
            write(d, "cpuset.cpus", cpus.trim())?;
        } else {
            cpus = here_c;
        }
        let here_m = fsutil::read(d, "cpuset.mems")?;
        if here_m.trim().is_empty() {
            write(d, "cpuset.mems", mems.trim())?;
        } else {
            mems = here_m;
        }
    }
    Ok(())
}

/// v1 device rules in spec order ("a" = all types; absent major/minor = "*").
pub fn device_rule(d: &LinuxDeviceCgroup) -> String {
    let num = |n: Option<i64>| match n {
        Some(n) if n >= 0 => n.to_string(),
        _ => "*".into(),
    };
    let access = d
        .access()
        .as_deref()
        .filter(|a| !a.is_empty())
        .unwrap_or("rwm");
    format!(
        "{} {}:{} {}",
        d.typ().unwrap_or_default().as_str(),
        num(d.major()),
        num(d.minor()),
        access
    )
}

pub(crate) fn set_devices(d: &Path, devs: &[LinuxDeviceCgroup]) -> Result<()> {
    use std::io::Write;
    // One open of each file: the kernel takes one rule per write(2).
    let mut files: [Option<std::fs::File>; 2] = [None, None];
    for dev in devs {
        let rule = device_rule(dev);
        // The v1 file grammar only knows a/b/c; runc maps "u" (unbuffered char) to "c".
        let rule = rule.replacen("u ", "c ", 1);
        if rule.starts_with("p ") {
            continue; // FIFOs are not device-controlled.
        }
        let (slot, file) = if dev.allow() {
            (0, "devices.allow")
        } else {
            (1, "devices.deny")
        };
        if files[slot].is_none() {
            files[slot] = std::fs::OpenOptions::new()
                .write(true)
                .open(d.join(file))
                .ok();
        }
        let written = files[slot]
            .as_mut()
            .is_some_and(|f| f.write_all(rule.as_bytes()).is_ok());
        if !written {
            // Redone the plain way for its error (with the path and value in it).
            write(d, file, &rule)?;
        }
    }
    Ok(())
}

fn num_or_unlimited(v: i64) -> String {
    if v < 0 {
        "-1".into()
    } else {
        v.to_string()
    }
}

pub(crate) fn set_memory(d: &Path, mem: &LinuxMemory) -> Result<()> {
    crate::check_memory(mem)?;
    // 0 means "unset" for limit and swap, as in runc.
    let limit = mem.limit().filter(|&l| l != 0);
    let mut swap = mem.swap().filter(|&s| s != 0);
    if let Some(s) = swap.filter(|_| !d.join("memory.memsw.limit_in_bytes").exists()) {
        // Without swap accounting swap is unlimited: -1 holds, a limit cannot be applied.
        if s != -1 {
            return Err(Error::Unsupported(format!(
                "memory+swap limit {s} cannot be applied: memory.memsw.limit_in_bytes is \
                 missing (swap accounting is off)"
            )));
        }
        swap = None;
    }
    match (limit, swap) {
        (Some(l), Some(s)) => {
            // The kernel keeps limit <= memsw at every step: when raising, memsw goes first;
            // when lowering, the limit goes first.
            let cur = read_u64(d, "memory.limit_in_bytes")?.unwrap_or(0);
            if s < 0 || cur < s as u64 {
                write(d, "memory.memsw.limit_in_bytes", &num_or_unlimited(s))?;
                write(d, "memory.limit_in_bytes", &num_or_unlimited(l))?;
            } else {
                write(d, "memory.limit_in_bytes", &num_or_unlimited(l))?;
                write(d, "memory.memsw.limit_in_bytes", &num_or_unlimited(s))?;
            }
        }
        (Some(l), None) => write(d, "memory.limit_in_bytes", &num_or_unlimited(l))?,
        (None, Some(s)) => write(d, "memory.memsw.limit_in_bytes", &num_or_unlimited(s))?,
        (None, None) => {}
    }
    if let Some(r) = mem.reservation().filter(|&r| r != 0) {
        write(d, "memory.soft_limit_in_bytes", &num_or_unlimited(r))?;
    }
    if let Some(sw) = mem.swappiness() {
        if sw > 100 {
            return Err(Error::Invalid(format!(
                "memory swappiness {sw} is out of range (0-100)"
            )));
        }
        write(d, "memory.swappiness", &sw.to_string())?;
    }
    if let Some(dis) = mem.disable_oom_killer() {
        write(d, "memory.oom_control", if dis { "1" } else { "0" })?;
    }
    Ok(())
}

pub(crate) fn set_cpu(d: &Path, cpu: &LinuxCpu) -> Result<()> {
    if let Some(s) = cpu.shares().filter(|&s| s != 0) {
        write(d, "cpu.shares", &s.to_string())?;
    }
    let quota = cpu.quota().filter(|&q| q != 0);
    if let Some(p) = cpu.period().filter(|&p| p != 0) {
        // A new period can make the old quota invalid (and vice versa); try the other order.
        if let Err(e) = write(d, "cpu.cfs_period_us", &p.to_string()) {
            match quota {
                Some(q) => {
                    write(d, "cpu.cfs_quota_us", &q.to_string())?;
                    write(d, "cpu.cfs_period_us", &p.to_string())?;
                }
                None => return Err(e),
            }
        }
    }
    if let Some(q) = quota {
        write(d, "cpu.cfs_quota_us", &num_or_unlimited(q))?;
    }
    if let Some(b) = cpu.burst() {
        // runc: a missing file is fine only for a burst of 0 (the kernel's default).
        if !write_if_exists(d, "cpu.cfs_burst_us", &b.to_string())? && b != 0 {
            return Err(Error::Unsupported(format!(
                "cpu burst {b} cannot be applied: cpu.cfs_burst_us is missing on this kernel"
            )));
        }
    }
    if let Some(i) = cpu.idle() {
        if !write_if_exists(d, "cpu.idle", &i.to_string())? && i != 0 {
            return Err(Error::Unsupported(format!(
                "cpu idle {i} cannot be applied: cpu.idle is missing on this kernel"
            )));
        }
    }
    // Period before runtime: the runtime must fit in the period.
    if let Some(p) = cpu.realtime_period().filter(|&p| p != 0) {
        write(d, "cpu.rt_period_us", &p.to_string())?;
    }
    if let Some(r) = cpu.realtime_runtime().filter(|&r| r != 0) {
        write(d, "cpu.rt_runtime_us", &r.to_string())?;
    }
    Ok(())
}

pub(crate) fn set_blkio(d: &Path, io: &LinuxBlockIo) -> Result<()> {
    // CFQ's blkio.weight is gone from modern kernels; BFQ offers blkio.bfq.weight when loaded.
    // Neither: an error, as in runc (a weight silently dropped would fail open).
    let missing = |what: &str, v: &str| {
        Error::Unsupported(format!(
            "blkio {what} {v:?} cannot be applied: no such file in {} (no CFQ/BFQ I/O \
             scheduler weights on this kernel)",
            d.display()
        ))
    };
    let weight_file = |plain: &str, bfq: &str, v: &str| -> Result<()> {
        if write_if_exists(d, plain, v)? || write_if_exists(d, bfq, v)? {
            return Ok(());
        }
        Err(missing(plain, v))
    };
    if let Some(w) = io.weight().filter(|&w| w != 0) {
        weight_file("blkio.weight", "blkio.bfq.weight", &w.to_string())?;
    }
    if let Some(w) = io.leaf_weight().filter(|&w| w != 0) {
        if !write_if_exists(d, "blkio.leaf_weight", &w.to_string())? {
            return Err(missing("blkio.leaf_weight", &w.to_string()));
        }
    }
    for wd in io.weight_device().iter().flatten() {
        if let Some(w) = wd.weight() {
            let v = format!("{}:{} {w}", wd.major(), wd.minor());
            weight_file("blkio.weight_device", "blkio.bfq.weight_device", &v)?;
        }
        if let Some(w) = wd.leaf_weight() {
            let v = format!("{}:{} {w}", wd.major(), wd.minor());
            if !write_if_exists(d, "blkio.leaf_weight_device", &v)? {
                return Err(missing("blkio.leaf_weight_device", &v));
            }
        }
    }
    let throttles = [
        (
            io.throttle_read_bps_device(),
            "blkio.throttle.read_bps_device",
        ),
        (
            io.throttle_write_bps_device(),
            "blkio.throttle.write_bps_device",
        ),
        (
            io.throttle_read_iops_device(),
            "blkio.throttle.read_iops_device",
        ),
        (
            io.throttle_write_iops_device(),
            "blkio.throttle.write_iops_device",
        ),
    ];
    for (devs, file) in throttles {
        for t in devs.iter().flatten() {
            write(
                d,
                file,
                &format!("{}:{} {}", t.major(), t.minor(), t.rate()),
            )?;
        }
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
            &format!("hugetlb.{}.limit_in_bytes", h.page_size()),
            &num_or_unlimited(h.limit()),
        )?;
    }
    Ok(())
}

fn set_network(cls: Option<&Path>, prio: Option<&Path>, n: &LinuxNetwork) -> Result<()> {
    if let Some(id) = n.class_id() {
        match cls {
            Some(d) => write(d, "net_cls.classid", &id.to_string())?,
            None => {
                return Err(Error::Unsupported(format!(
                    "network classID {id} cannot be applied: the net_cls controller is not mounted"
                )))
            }
        }
    }
    for p in n.priorities().iter().flatten() {
        match prio {
            Some(d) => write(
                d,
                "net_prio.ifpriomap",
                &format!("{} {}", p.name(), p.priority()),
            )?,
            None => return Err(Error::Unsupported(
                "interface priorities cannot be applied: the net_prio controller is not mounted"
                    .into(),
            )),
        }
    }
    Ok(())
}

pub(crate) fn freeze(d: &Path, state: FreezerState) -> Result<()> {
    let want = match state {
        FreezerState::Frozen => "FROZEN",
        FreezerState::Thawed => "THAWED",
    };
    // v1 has no change notification: re-request and poll until the state reads back. Tasks
    // in uninterruptible sleep can keep the cgroup FREEZING for a while.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut spins = 0u32;
    loop {
        write(d, "freezer.state", want)?;
        let cur = fsutil::read(d, "freezer.state")?;
        if cur.trim() == want {
            return Ok(());
        }
        if Instant::now() > deadline {
            // Do not leave a half-frozen container behind.
            if state == FreezerState::Frozen {
                let _ = write(d, "freezer.state", "THAWED");
            }
            return Err(Error::Io {
                path: d.join("freezer.state").display().to_string(),
                source: std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("still {} after 10s waiting for {want}", cur.trim()),
                ),
            });
        }
        spins += 1;
        if spins < 10 {
            std::thread::yield_now();
        } else {
            std::thread::sleep(Duration::from_micros(100 * u64::from(spins.min(100))));
        }
    }
}

pub(crate) fn stats(m: &V1Manager) -> Result<Stats> {
    let mut s = Stats::default();
    if let Some(d) = m.dir("cpuacct") {
        s.cpu_usage_total_ns = read_u64(d, "cpuacct.usage")?.unwrap_or(0);
        s.cpu_usage_user_ns = read_u64(d, "cpuacct.usage_user")?.unwrap_or(0);
        s.cpu_usage_kernel_ns = read_u64(d, "cpuacct.usage_sys")?.unwrap_or(0);
    }
    if let Some(d) = m.dir("memory") {
        s.memory_usage = read_u64(d, "memory.usage_in_bytes")?.unwrap_or(0);
        s.memory_max_usage = read_u64(d, "memory.max_usage_in_bytes")?.unwrap_or(0);
        s.memory_limit = read_u64(d, "memory.limit_in_bytes")?.unwrap_or(0);
        if let Some(st) = read_opt(d, "memory.stat")? {
            s.memory_cache = keyed(&st, "total_cache")
                .or_else(|| keyed(&st, "cache"))
                .unwrap_or(0);
        }
        if let Some(oc) = read_opt(d, "memory.oom_control")? {
            s.oom_kill_count = keyed(&oc, "oom_kill").unwrap_or(0);
        }
    }
    if let Some(d) = m.dir("pids") {
        s.pids_current = read_u64(d, "pids.current")?.unwrap_or(0);
        s.pids_limit = read_u64(d, "pids.max")?.unwrap_or(0);
    }
    if let Some(d) = m.dir("blkio") {
        let text = match read_opt(d, "blkio.io_service_bytes_recursive")? {
            Some(t) if !t.trim().is_empty() && !t.starts_with("Total 0") => Some(t),
            _ => read_opt(d, "blkio.throttle.io_service_bytes_recursive")?,
        };
        for line in text.iter().flat_map(|t| t.lines()) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if let [_dev, op, v] = f[..] {
                let v: u64 = v.parse().unwrap_or(0);
                match op {
                    "Read" => s.blkio_read_bytes += v,
                    "Write" => s.blkio_write_bytes += v,
                    _ => {}
                }
            }
        }
    }
    Ok(s)
}

impl Manager for V1Manager {
    fn apply(&self, pid: i32) -> Result<()> {
        let pid = pid.to_string();
        for (ctrl, dir) in self.unique_dirs() {
            let created = fsutil::mkdir_p(dir)?;
            if ctrl == "cpuset" && !created.is_empty() {
                ensure_cpuset(dir)?;
            }
            write(dir, "cgroup.procs", &pid)?;
        }
        if let Some(u) = &self.unified {
            u.create()?;
            write(u.dir(), "cgroup.procs", &pid)?;
        }
        Ok(())
    }

    fn prepare_join(&self) -> Result<Join> {
        let mut tasks = Vec::new();
        for (ctrl, dir) in self.unique_dirs() {
            // Usually made already (the engine makes them in a thread while it prepares the
            // start): open first, make only what is missing.
            if let Ok(fd) = crate::open_tasks(dir) {
                // A cpuset dir made by a starter killed before it filled cpus/mems (issue 12,
                // kill -9 of `start`) is empty: joining it fails with ENOSPC. Two small reads
                // when they are set.
                if ctrl == "cpuset" {
                    ensure_cpuset(dir)?;
                }
                tasks.push(fd);
                continue;
            }
            let created = fsutil::mkdir_p(dir)?;
            if ctrl == "cpuset" && !created.is_empty() {
                ensure_cpuset(dir)?;
            }
            tasks.push(crate::open_tasks(dir)?);
        }
        let v2_dir = match &self.unified {
            Some(u) => {
                u.create()?;
                Some(crate::open_dir(u.dir())?)
            }
            None => None,
        };
        Ok(Join { tasks, v2_dir })
    }

    fn set(&self, resources: &LinuxResources) -> Result<()> {
        self.set_resources(resources)
    }

    fn freeze(&self, state: FreezerState) -> Result<()> {
        freeze(self.need("freezer", "pause/resume")?, state)
    }

    fn freezer_state(&self) -> Result<FreezerState> {
        let d = self.need("freezer", "the freezer state")?;
        Ok(
            match read_opt(d, "freezer.state")?.as_deref().map(str::trim) {
                Some("FROZEN") => FreezerState::Frozen,
                _ => FreezerState::Thawed,
            },
        )
    }

    fn pids(&self) -> Result<Vec<i32>> {
        let mut v = Vec::new();
        if let Some(d) = self.primary() {
            fsutil::walk_procs(d, &mut v)?;
        } else if let Some(u) = &self.unified {
            fsutil::walk_procs(u.dir(), &mut v)?;
        }
        Ok(v)
    }

    fn stats(&self) -> Result<Stats> {
        stats(self)
    }

    fn oom_kill_count(&self) -> Result<u64> {
        let Some(d) = self.dir("memory") else {
            return Ok(0);
        };
        Ok(read_opt(d, "memory.oom_control")?
            .and_then(|oc| keyed(&oc, "oom_kill"))
            .unwrap_or(0))
    }

    fn destroy(&self) -> Result<()> {
        // Try every hierarchy even if one fails, then report the first error.
        let mut first = None;
        for (_, d) in self.unique_dirs() {
            if let Err(e) = fsutil::remove_tree(d) {
                first.get_or_insert(e);
            }
        }
        if let Some(u) = &self.unified {
            if let Err(e) = fsutil::remove_tree(u.dir()) {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }

    fn path(&self, controller: &str) -> Option<PathBuf> {
        if controller.is_empty() {
            return self.unified.as_ref().map(|u| u.dir().to_path_buf());
        }
        self.dir(controller).map(Path::to_path_buf)
    }

    fn exists(&self) -> bool {
        self.primary()
            .or(self.unified.as_ref().map(|u| u.dir()))
            .is_some_and(Path::exists)
    }

    fn kill_all(&self, signal: i32) -> Result<()> {
        // Freezing first means nothing can fork between listing and signalling.
        let frozen = signal == libc::SIGKILL
            && self.dir("freezer").is_some()
            && self.freeze(FreezerState::Frozen).is_ok();
        let res = self.pids().map(|p| crate::signal_pids(&p, signal));
        if frozen {
            self.freeze(FreezerState::Thawed)?;
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{
        LinuxBlockIoBuilder, LinuxCpuBuilder, LinuxDeviceCgroupBuilder, LinuxDeviceType,
        LinuxMemoryBuilder, LinuxThrottleDeviceBuilder,
    };

    fn fake(files: &[(&str, &str)]) -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        for (f, c) in files {
            std::fs::write(t.path().join(f), c).unwrap();
        }
        t
    }

    fn get(t: &tempfile::TempDir, f: &str) -> String {
        std::fs::read_to_string(t.path().join(f)).unwrap()
    }

    #[test]
    fn cpuset_is_filled_from_nearest_initialised_ancestor() {
        let t = fake(&[("cpuset.cpus", "0-3\n"), ("cpuset.mems", "0\n")]);
        let mid = t.path().join("berth");
        let leaf = mid.join("c");
        std::fs::create_dir_all(&leaf).unwrap();
        for d in [&mid, &leaf] {
            std::fs::write(d.join("cpuset.cpus"), "").unwrap();
            std::fs::write(d.join("cpuset.mems"), "").unwrap();
        }
        ensure_cpuset(&leaf).unwrap();
        for d in [&mid, &leaf] {
            assert_eq!(
                std::fs::read_to_string(d.join("cpuset.cpus")).unwrap(),
                "0-3"
            );
            assert_eq!(std::fs::read_to_string(d.join("cpuset.mems")).unwrap(), "0");
        }
    }

    #[test]
    fn device_rules_format() {
        let r = LinuxDeviceCgroupBuilder::default()
            .allow(false)
            .access("rwm")
            .build()
            .unwrap();
        assert_eq!(device_rule(&r), "a *:* rwm");
        let r = LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .typ(LinuxDeviceType::C)
            .major(1i64)
            .minor(-1i64)
            .access("rw")
            .build()
            .unwrap();
        assert_eq!(device_rule(&r), "c 1:* rw");
    }

    #[test]
    fn memory_swap_order_follows_kernel_invariant() {
        // The write order itself is checked against the real kernel in tests/v1_real.rs.
        let t = fake(&[
            ("memory.limit_in_bytes", "104857600"),
            ("memory.memsw.limit_in_bytes", "209715200"),
            ("memory.soft_limit_in_bytes", ""),
            ("memory.swappiness", ""),
            ("memory.oom_control", ""),
        ]);
        let mem = LinuxMemoryBuilder::default()
            .limit(300i64 << 20)
            .swap(400i64 << 20)
            .reservation(-1i64)
            .swappiness(10u64)
            .disable_oom_killer(true)
            .build()
            .unwrap();
        set_memory(t.path(), &mem).unwrap();
        assert_eq!(get(&t, "memory.limit_in_bytes"), (300u64 << 20).to_string());
        assert_eq!(
            get(&t, "memory.memsw.limit_in_bytes"),
            (400u64 << 20).to_string()
        );
        assert_eq!(get(&t, "memory.soft_limit_in_bytes"), "-1");
        assert_eq!(get(&t, "memory.swappiness"), "10");
        assert_eq!(get(&t, "memory.oom_control"), "1");
        let bad = LinuxMemoryBuilder::default()
            .swappiness(101u64)
            .build()
            .unwrap();
        assert!(set_memory(t.path(), &bad).is_err());
    }

    #[test]
    fn cpu_and_blkio_files() {
        let t = fake(&[
            ("cpu.shares", ""),
            ("cpu.cfs_period_us", ""),
            ("cpu.cfs_quota_us", ""),
            ("cpu.rt_period_us", ""),
            ("cpu.rt_runtime_us", ""),
        ]);
        let cpu = LinuxCpuBuilder::default()
            .shares(512u64)
            .quota(-1i64)
            .period(50000u64)
            .realtime_period(1000000u64)
            .realtime_runtime(5000i64)
            .build()
            .unwrap();
        set_cpu(t.path(), &cpu).unwrap();
        assert_eq!(get(&t, "cpu.shares"), "512");
        assert_eq!(get(&t, "cpu.cfs_quota_us"), "-1");
        assert_eq!(get(&t, "cpu.cfs_period_us"), "50000");
        assert_eq!(get(&t, "cpu.rt_period_us"), "1000000");
        assert_eq!(get(&t, "cpu.rt_runtime_us"), "5000");

        // Only throttle files exist (as on this kernel): throttles apply, a weight is refused.
        let t = fake(&[
            ("blkio.throttle.read_bps_device", ""),
            ("blkio.throttle.write_iops_device", ""),
        ]);
        let dev = |rate| {
            vec![LinuxThrottleDeviceBuilder::default()
                .major(8i64)
                .minor(0i64)
                .rate(rate)
                .build()
                .unwrap()]
        };
        let io = LinuxBlockIoBuilder::default()
            .throttle_read_bps_device(dev(1048576u64))
            .throttle_write_iops_device(dev(100u64))
            .build()
            .unwrap();
        set_blkio(t.path(), &io).unwrap();
        assert_eq!(get(&t, "blkio.throttle.read_bps_device"), "8:0 1048576");
        assert_eq!(get(&t, "blkio.throttle.write_iops_device"), "8:0 100");
        let weight = LinuxBlockIoBuilder::default()
            .weight(300u16)
            .build()
            .unwrap();
        let e = set_blkio(t.path(), &weight).unwrap_err().to_string();
        assert!(e.contains("blkio.weight \"300\" cannot be applied"), "{e}");
        assert!(!t.path().join("blkio.weight").exists());

        // A negative memory value other than -1 is refused, not made "unlimited".
        let t = fake(&[("memory.limit_in_bytes", "")]);
        let neg = LinuxMemoryBuilder::default().limit(-5i64).build().unwrap();
        assert!(set_memory(t.path(), &neg).is_err());
        assert_eq!(get(&t, "memory.limit_in_bytes"), "");
        let unlimited = LinuxMemoryBuilder::default().limit(-1i64).build().unwrap();
        set_memory(t.path(), &unlimited).unwrap();
        assert_eq!(get(&t, "memory.limit_in_bytes"), "-1");
        // No memsw file (swap accounting off): a swap limit is refused, -1 holds as it is.
        let swap = |s: i64| {
            LinuxMemoryBuilder::default()
                .limit(64i64 << 20)
                .swap(s)
                .build()
                .unwrap()
        };
        let e = set_memory(t.path(), &swap(128 << 20)).unwrap_err();
        assert!(e.to_string().contains("swap accounting is off"), "{e}");
        set_memory(t.path(), &swap(-1)).unwrap();
        assert_eq!(get(&t, "memory.limit_in_bytes"), (64u64 << 20).to_string());
    }

    #[test]
    fn stats_parse_v1_files() {
        let t = fake(&[
            ("cpuacct.usage", "100\n"),
            ("cpuacct.usage_user", "60\n"),
            ("cpuacct.usage_sys", "40\n"),
            ("memory.usage_in_bytes", "4096\n"),
            ("memory.max_usage_in_bytes", "8192\n"),
            ("memory.limit_in_bytes", "9223372036854771712\n"),
            ("memory.stat", "cache 5\nrss 1\ntotal_cache 7\n"),
            (
                "memory.oom_control",
                "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n",
            ),
            ("pids.current", "2\n"),
            ("pids.max", "max\n"),
            (
                "blkio.throttle.io_service_bytes_recursive",
                "8:0 Read 10\n8:0 Write 20\n8:0 Total 30\nTotal 30\n",
            ),
        ]);
        let dirs = ["cpuacct", "memory", "pids", "blkio"]
            .iter()
            .map(|c| (c.to_string(), t.path().to_path_buf()))
            .collect();
        let s = stats(&V1Manager::new(dirs, None)).unwrap();
        assert_eq!(
            (
                s.cpu_usage_total_ns,
                s.cpu_usage_user_ns,
                s.cpu_usage_kernel_ns
            ),
            (100, 60, 40)
        );
        assert_eq!((s.memory_usage, s.memory_max_usage), (4096, 8192));
        assert_eq!(s.memory_cache, 7);
        assert_eq!(s.oom_kill_count, 3);
        assert_eq!((s.pids_current, s.pids_limit), (2, u64::MAX));
        assert_eq!((s.blkio_read_bytes, s.blkio_write_bytes), (10, 20));
    }
}
