//! The files, rendered from the host's own file and the container's cgroup numbers. Pure
//! functions of their inputs (unit-tested), plus [`Renderer`] which reads the inputs.

use crate::cgroup::{self, clk_tck, Cpu, DiskIo, Memory};
use crate::config::{boottime_ns, Config};
use crate::loadavg::LoadAvg;

/// The files served, with where they go in the container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum File {
    Meminfo,
    Cpuinfo,
    Stat,
    Uptime,
    Loadavg,
    Diskstats,
    Swaps,
    CpuOnline,
}

impl File {
    pub const ALL: [File; 8] = [
        File::Meminfo,
        File::Cpuinfo,
        File::Stat,
        File::Uptime,
        File::Loadavg,
        File::Diskstats,
        File::Swaps,
        File::CpuOnline,
    ];

    /// Its name in the FUSE filesystem.
    pub fn name(self) -> &'static str {
        match self {
            File::Meminfo => "meminfo",
            File::Cpuinfo => "cpuinfo",
            File::Stat => "stat",
            File::Uptime => "uptime",
            File::Loadavg => "loadavg",
            File::Diskstats => "diskstats",
            File::Swaps => "swaps",
            File::CpuOnline => "online",
        }
    }

    /// The path in the container it is bound over.
    pub fn target(self) -> &'static str {
        match self {
            File::CpuOnline => "/sys/devices/system/cpu/online",
            File::Meminfo => "/proc/meminfo",
            File::Cpuinfo => "/proc/cpuinfo",
            File::Stat => "/proc/stat",
            File::Uptime => "/proc/uptime",
            File::Loadavg => "/proc/loadavg",
            File::Diskstats => "/proc/diskstats",
            File::Swaps => "/proc/swaps",
        }
    }

    pub fn by_name(n: &[u8]) -> Option<File> {
        File::ALL.into_iter().find(|f| f.name().as_bytes() == n)
    }
}

fn kb_line(key: &str, kb: u64) -> String {
    format!("{:<16}{:>8} kB", format!("{key}:"), kb)
}

/// A `Key: N kB` value of /proc/meminfo.
pub fn meminfo_kb(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k == key).then(|| v.split_whitespace().next()?.parse().ok())?
    })
}

/// /proc/meminfo: MemTotal is the limit, MemFree what the limit leaves of the usage,
/// MemAvailable adds the reclaimable page cache and slab, the page-cache lines come from the
/// cgroup's statistics, SwapTotal/SwapFree from the swap limit (never more than the host has).
/// Without a memory limit: the host's file.
pub fn meminfo(host: &str, m: &Memory) -> String {
    let host_total_kb = meminfo_kb(host, "MemTotal").unwrap_or(u64::MAX);
    let Some(limit) = m.limit.filter(|&l| l / 1024 < host_total_kb) else {
        return host.to_string();
    };
    let kb = |b: u64| b / 1024;
    let total = kb(limit);
    let used = kb(m.usage.min(limit));
    let free = total - used;
    let cache = kb(m.cache).min(used);
    let reclaimable = kb(m.active_file + m.inactive_file + m.slab_reclaimable);
    let available = (free + reclaimable).min(total);
    let host_swap = meminfo_kb(host, "SwapTotal").unwrap_or(0);
    let (swap_total, swap_free) = match m.swap_limit {
        _ if host_swap == 0 => (0, 0),
        Some(s) => {
            let t = kb(s).min(host_swap);
            (t, t - kb(m.swap_usage).min(t))
        }
        None => (host_swap, meminfo_kb(host, "SwapFree").unwrap_or(0)),
    };
    let mut out = String::with_capacity(host.len());
    for line in host.lines() {
        let key = line.split_once(':').map_or("", |(k, _)| k);
        let v = match key {
            "MemTotal" => Some(total),
            "MemFree" => Some(free),
            "MemAvailable" => Some(available),
            "Buffers" | "SwapCached" => Some(0),
            "Cached" => Some(cache),
            "Active" => Some(kb(m.active_anon + m.active_file)),
            "Inactive" => Some(kb(m.inactive_anon + m.inactive_file)),
            "Active(anon)" => Some(kb(m.active_anon)),
            "Inactive(anon)" => Some(kb(m.inactive_anon)),
            "Active(file)" => Some(kb(m.active_file)),
            "Inactive(file)" => Some(kb(m.inactive_file)),
            "Dirty" => Some(kb(m.dirty)),
            "Writeback" => Some(kb(m.writeback)),
            "AnonPages" => Some(kb(m.anon)),
            "Mapped" => Some(kb(m.mapped)),
            "Shmem" => Some(kb(m.shmem)),
            "Slab" => Some(kb(m.slab_reclaimable + m.slab_unreclaimable)),
            "SReclaimable" => Some(kb(m.slab_reclaimable)),
            "SUnreclaim" => Some(kb(m.slab_unreclaimable)),
            "SwapTotal" => Some(swap_total),
            "SwapFree" => Some(swap_free),
            _ => None,
        };
        match v {
            Some(v) => out.push_str(&kb_line(key, v)),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// The host's online CPUs.
fn host_online(c: &Config) -> Vec<u32> {
    std::fs::read_to_string(c.sys_root.join("devices/system/cpu/online"))
        .map(|s| cgroup::parse_cpu_list(&s))
        .unwrap_or_default()
}

/// /proc/cpuinfo: the blocks of the visible CPUs, renumbered from 0.
pub fn cpuinfo(host: &str, visible: &[u32]) -> String {
    let blocks: Vec<&str> = host
        .split("\n\n")
        .filter(|b| !b.trim().is_empty())
        .collect();
    let num = |b: &str| -> Option<u32> {
        b.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == "processor").then(|| v.trim().parse().ok())?
        })
    };
    let mut out = String::with_capacity(host.len());
    for (k, cpu) in visible.iter().enumerate() {
        let Some(b) = blocks.iter().find(|b| num(b) == Some(*cpu)) else {
            continue;
        };
        for l in b.lines() {
            match l.split_once(':') {
                Some((key, _)) if key.trim() == "processor" => {
                    out.push_str(&format!("{key}: {k}"));
                }
                _ => out.push_str(l),
            }
            out.push('\n');
        }
        out.push('\n');
    }
    // Lines outside the per-CPU blocks (arm64's trailing "Hardware", ...).
    for b in blocks.iter().filter(|b| num(b).is_none()) {
        out.push_str(b.trim_end_matches('\n'));
        out.push_str("\n\n");
    }
    out
}

/// /proc/stat: one `cpuN` line per visible CPU with the container's user and system time
/// spread evenly over them and the rest of its uptime idle, their sum as `cpu`, and the host's
/// other lines (`btime` included: process start times in the container are host-relative).
pub fn stat(host: &str, cpu: &Cpu, uptime_ns: u64, hz: u64) -> String {
    let n = cpu.count() as u64;
    let ticks = |ns: u64| (ns as u128 * hz as u128 / 1_000_000_000) as u64;
    let (user, system, up) = (ticks(cpu.user_ns), ticks(cpu.system_ns), ticks(uptime_ns));
    let share = |total: u64, k: u64| total / n + u64::from(k < total % n);
    let mut lines = Vec::new();
    let mut sum = [0u64; 3];
    for k in 0..n {
        let (u, s) = (share(user, k), share(system, k));
        let idle = up.saturating_sub(u + s);
        sum[0] += u;
        sum[1] += s;
        sum[2] += idle;
        lines.push(format!("cpu{k} {u} 0 {s} {idle} 0 0 0 0 0 0"));
    }
    let mut out = format!("cpu  {} 0 {} {} 0 0 0 0 0 0\n", sum[0], sum[1], sum[2]);
    for l in lines {
        out.push_str(&l);
        out.push('\n');
    }
    for l in host.lines().filter(|l| !l.starts_with("cpu")) {
        out.push_str(l);
        out.push('\n');
    }
    out
}

/// /proc/uptime: seconds since the container started, and its CPUs' idle seconds.
pub fn uptime(uptime_ns: u64, cpu: &Cpu) -> String {
    let up = uptime_ns as f64 / 1e9;
    let busy = (cpu.user_ns + cpu.system_ns) as f64 / 1e9;
    let idle = (up * cpu.count() as f64 - busy).max(0.0);
    format!("{up:.2} {idle:.2}\n")
}

/// /proc/loadavg: the container's averages, its active/total threads and the host's last pid.
pub fn loadavg(avg: [f64; 3], tasks: (u64, u64), host: &str) -> String {
    let last = host.split_whitespace().nth(4).unwrap_or("0");
    format!(
        "{:.2} {:.2} {:.2} {}/{} {}\n",
        avg[0], avg[1], avg[2], tasks.1, tasks.0, last
    )
}

/// /proc/swaps: one virtual line for the container's swap (none without swap).
pub fn swaps(swap_total_kb: u64, swap_free_kb: u64) -> String {
    let mut s = String::from("Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n");
    if swap_total_kb > 0 {
        s.push_str(&format!(
            "none                                    virtual\t\t{}\t\t{}\t\t0\n",
            swap_total_kb,
            swap_total_kb - swap_free_kb
        ));
    }
    s
}

/// /proc/diskstats: the host's devices the container did I/O on, with its own counts (512-byte
/// sectors; times and merges are not accounted per cgroup and read 0).
pub fn diskstats(host: &str, io: &[DiskIo]) -> String {
    let mut out = String::new();
    for l in host.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() < 14 {
            continue;
        }
        let (Ok(maj), Ok(min)) = (f[0].parse::<u32>(), f[1].parse::<u32>()) else {
            continue;
        };
        let Some(d) = io.iter().find(|d| d.dev == (maj, min)) else {
            continue;
        };
        out.push_str(&format!(
            "{maj:>4} {min:>7} {} {} 0 {} 0 {} 0 {} 0 0 0 0",
            f[2],
            d.reads,
            d.read_bytes / 512,
            d.writes,
            d.write_bytes / 512
        ));
        for _ in 14..f.len() {
            out.push_str(" 0");
        }
        out.push('\n');
    }
    out
}

/// Renders the files for one container, reading its cgroups at each call.
pub struct Renderer {
    pub config: Config,
    load: LoadAvg,
}

impl Renderer {
    pub fn new(config: Config) -> Renderer {
        Renderer {
            config,
            load: LoadAvg::default(),
        }
    }

    fn host(&self, name: &str) -> String {
        cgroup::read_kept(&self.config.proc_root.join(name)).unwrap_or_default()
    }

    fn uptime_ns(&self) -> u64 {
        boottime_ns().saturating_sub(self.config.start_ns)
    }

    /// The load averages advanced to now with the container's CPU time `cpu_ns`.
    pub fn load_now(&mut self, cpu_ns: u64) -> [f64; 3] {
        self.load
            .advance(self.config.start_ns, boottime_ns(), cpu_ns)
    }

    pub fn render(&mut self, f: File) -> Vec<u8> {
        let c = &self.config;
        match f {
            File::Meminfo => meminfo(&self.host("meminfo"), &Memory::read(c)),
            File::Cpuinfo => {
                let cpu = Cpu::read(c);
                let host = self.host("cpuinfo");
                if cpu.visible == host_online(c) {
                    host
                } else {
                    cpuinfo(&host, &cpu.visible)
                }
            }
            File::Stat => stat(
                &self.host("stat"),
                &Cpu::read(c),
                self.uptime_ns(),
                clk_tck(),
            ),
            File::Uptime => uptime(self.uptime_ns(), &Cpu::read(c)),
            File::Loadavg => {
                let cpu = Cpu::read(c);
                let (total, active, wait) = cgroup::tasks_and_wait(c);
                let busy = cpu.user_ns + cpu.system_ns + wait;
                let avg = self.load.advance(c.start_ns, boottime_ns(), busy);
                loadavg(avg, (total, active), &self.host("loadavg"))
            }
            File::Diskstats => diskstats(&self.host("diskstats"), &cgroup::disk_io(c)),
            File::Swaps => {
                let host = self.host("meminfo");
                let m = meminfo(&host, &Memory::read(c));
                if m == host {
                    self.host("swaps")
                } else {
                    swaps(
                        meminfo_kb(&m, "SwapTotal").unwrap_or(0),
                        meminfo_kb(&m, "SwapFree").unwrap_or(0),
                    )
                }
            }
            File::CpuOnline => {
                let cpu = Cpu::read(c);
                format!("{}\n", cgroup::cpu_range(cpu.count()))
            }
        }
        .into_bytes()
    }
}
