//! What a container's cgroups say, read the same way from v1 and v2 files: memory (limit,
//! usage, statistics, swap), CPUs (cpuset, CFS quota, usage), tasks and block I/O.

use crate::config::Config;
use std::path::{Path, PathBuf};

/// v1 "unlimited" is a huge page-aligned number; anything at or above this is no limit.
const UNLIMITED: u64 = 1 << 62;

fn read(dir: &Path, file: &str) -> Option<String> {
    read_kept(&dir.join(file))
}

std::thread_local! {
    /// Files read at every rendering, kept open: a `pread` from offset 0 regenerates a
    /// cgroup or procfs file (seq_file), and saves the path walk, open and close that cost
    /// more than the read itself. Per thread, a few fds per container; all close-on-exec.
    static KEPT: std::cell::RefCell<Vec<(PathBuf, std::fs::File)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Most files a thread keeps open (the rest are opened per read).
const MAX_KEPT: usize = 32;

fn pread_all(f: &std::fs::File) -> Option<String> {
    use std::os::unix::fs::FileExt;
    let mut out = Vec::with_capacity(4096);
    let mut buf = [0u8; 4096];
    loop {
        let n = f.read_at(&mut buf, out.len() as u64).ok()?;
        if n == 0 {
            return String::from_utf8(out).ok();
        }
        out.extend_from_slice(&buf[..n]);
    }
}

/// The whole text of `path`, through a kept fd (reopened if its file went away: a cgroup
/// removed and made again by a restart).
pub fn read_kept(path: &Path) -> Option<String> {
    KEPT.with(|k| {
        let mut k = k.borrow_mut();
        if let Some(i) = k.iter().position(|(p, _)| p == path) {
            if let Some(s) = pread_all(&k[i].1) {
                return Some(s);
            }
            k.swap_remove(i);
        }
        let f = std::fs::File::open(path).ok()?;
        let s = pread_all(&f)?;
        if k.len() < MAX_KEPT {
            k.push((path.to_path_buf(), f));
        }
        Some(s)
    })
}

fn read_u64(dir: &Path, file: &str) -> Option<u64> {
    read(dir, file)?.trim().parse().ok()
}

/// A v2 limit file: "max" or a number.
fn read_max(dir: &Path, file: &str) -> Option<Option<u64>> {
    let s = read(dir, file)?;
    let s = s.trim();
    if s == "max" {
        return Some(None);
    }
    s.parse().ok().map(|v: u64| (v < UNLIMITED).then_some(v))
}

/// `key value` lines (memory.stat, cpu.stat, cpuacct.stat).
pub fn kv(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok())?
    })
}

/// Memory numbers in bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Memory {
    /// None: no limit.
    pub limit: Option<u64>,
    pub usage: u64,
    /// The swap the container may use on top of `limit` (None: no swap limit).
    pub swap_limit: Option<u64>,
    pub swap_usage: u64,
    pub cache: u64,
    pub active_anon: u64,
    pub inactive_anon: u64,
    pub active_file: u64,
    pub inactive_file: u64,
    pub shmem: u64,
    pub mapped: u64,
    pub dirty: u64,
    pub writeback: u64,
    pub anon: u64,
    pub slab_reclaimable: u64,
    pub slab_unreclaimable: u64,
}

impl Memory {
    pub fn read(c: &Config) -> Memory {
        if let Some(d) = &c.memory {
            return Memory::read_v1(d);
        }
        match &c.unified {
            Some(d) if d.join("memory.max").exists() => Memory::read_v2(d),
            _ => Memory::default(),
        }
    }

    fn read_v1(d: &Path) -> Memory {
        let stat = read(d, "memory.stat").unwrap_or_default();
        let s = |k: &str| kv(&stat, k).unwrap_or(0);
        let limit = read_u64(d, "memory.limit_in_bytes").filter(|&v| v < UNLIMITED);
        let usage = read_u64(d, "memory.usage_in_bytes").unwrap_or(0);
        let memsw = read_u64(d, "memory.memsw.limit_in_bytes").filter(|&v| v < UNLIMITED);
        let memsw_usage = read_u64(d, "memory.memsw.usage_in_bytes").unwrap_or(usage);
        Memory {
            limit,
            usage,
            swap_limit: match (memsw, limit) {
                (Some(sw), Some(l)) => Some(sw.saturating_sub(l)),
                (Some(sw), None) => Some(sw),
                _ => None,
            },
            swap_usage: memsw_usage.saturating_sub(usage),
            cache: s("total_cache"),
            active_anon: s("total_active_anon"),
            inactive_anon: s("total_inactive_anon"),
            active_file: s("total_active_file"),
            inactive_file: s("total_inactive_file"),
            shmem: s("total_shmem"),
            mapped: s("total_mapped_file"),
            dirty: s("total_dirty"),
            writeback: s("total_writeback"),
            anon: s("total_rss"),
            // v1's memory.stat has no slab lines (kmem is in usage).
            slab_reclaimable: 0,
            slab_unreclaimable: 0,
        }
    }

    fn read_v2(d: &Path) -> Memory {
        let stat = read(d, "memory.stat").unwrap_or_default();
        let s = |k: &str| kv(&stat, k).unwrap_or(0);
        Memory {
            limit: read_max(d, "memory.max").flatten(),
            usage: read_u64(d, "memory.current").unwrap_or(0),
            swap_limit: read_max(d, "memory.swap.max").flatten(),
            swap_usage: read_u64(d, "memory.swap.current").unwrap_or(0),
            cache: s("file"),
            active_anon: s("active_anon"),
            inactive_anon: s("inactive_anon"),
            active_file: s("active_file"),
            inactive_file: s("inactive_file"),
            shmem: s("shmem"),
            mapped: s("file_mapped"),
            dirty: s("file_dirty"),
            writeback: s("file_writeback"),
            anon: s("anon"),
            slab_reclaimable: s("slab_reclaimable"),
            slab_unreclaimable: s("slab_unreclaimable"),
        }
    }
}

/// Parses a cpu list ("0-3,5,7-8") into sorted CPU numbers.
pub fn parse_cpu_list(s: &str) -> Vec<u32> {
    let mut v = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.trim().parse::<u32>(), b.trim().parse::<u32>()) {
                    if b >= a && b - a < 65536 {
                        v.extend(a..=b);
                    }
                }
            }
            None => v.extend(part.trim().parse::<u32>().ok()),
        }
    }
    v.sort_unstable();
    v.dedup();
    v
}

/// Formats CPU numbers 0..n as a list ("0", "0-3").
pub fn cpu_range(n: usize) -> String {
    match n {
        0 | 1 => "0".into(),
        n => format!("0-{}", n - 1),
    }
}

/// CPU numbers in nanoseconds and the CPUs the container may use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cpu {
    /// Host CPU numbers the container sees, in order (its CPU k is host CPU `visible[k]`).
    pub visible: Vec<u32>,
    pub user_ns: u64,
    pub system_ns: u64,
}

/// The CPU count rule: `min(cpuset size, ceil(quota / period))`, at least 1; shares never
/// reduce it.
pub fn cpu_count(cpuset: usize, quota: Option<(u64, u64)>) -> usize {
    let by_quota = match quota {
        Some((q, p)) if q > 0 && p > 0 => q.div_ceil(p) as usize,
        _ => usize::MAX,
    };
    cpuset.min(by_quota).max(1)
}

impl Cpu {
    pub fn read(c: &Config) -> Cpu {
        let unified = c.unified.as_deref();
        let cpuset = match (&c.cpuset, unified) {
            (Some(d), _) => read(d, "cpuset.effective_cpus"),
            (None, Some(u)) => read(u, "cpuset.cpus.effective"),
            _ => None,
        }
        .map(|s| parse_cpu_list(&s))
        .filter(|v| !v.is_empty())
        .or_else(|| {
            std::fs::read_to_string(c.sys_root.join("devices/system/cpu/online"))
                .ok()
                .map(|s| parse_cpu_list(&s))
        })
        .unwrap_or_else(|| vec![0]);
        let quota = match (&c.cpu, unified) {
            (Some(d), _) => {
                let q = read(d, "cpu.cfs_quota_us").and_then(|s| s.trim().parse::<i64>().ok());
                let p = read_u64(d, "cpu.cfs_period_us");
                match (q, p) {
                    (Some(q), Some(p)) if q > 0 => Some((q as u64, p)),
                    _ => None,
                }
            }
            (None, Some(u)) => read(u, "cpu.max").and_then(|s| {
                let (q, p) = s.trim().split_once(' ')?;
                Some((q.parse().ok()?, p.parse().ok()?))
            }),
            _ => None,
        };
        let n = cpu_count(cpuset.len(), quota);
        let (user_ns, system_ns) = match (&c.cpuacct, unified) {
            (Some(d), _) => {
                // cpuacct.stat counts USER_HZ ticks; cpuacct.usage is the exact total.
                let st = read(d, "cpuacct.stat").unwrap_or_default();
                let hz = 1_000_000_000 / clk_tck();
                let u = kv(&st, "user").unwrap_or(0) * hz;
                let s = kv(&st, "system").unwrap_or(0) * hz;
                let total = read_u64(d, "cpuacct.usage").unwrap_or(u + s);
                // Split the exact total in the ticks' proportion.
                match u + s {
                    0 => (total, 0),
                    t => {
                        let uu = (total as u128 * u as u128 / t as u128) as u64;
                        (uu, total - uu)
                    }
                }
            }
            (None, Some(d)) => {
                let st = read(d, "cpu.stat").unwrap_or_default();
                (
                    kv(&st, "user_usec").unwrap_or(0) * 1000,
                    kv(&st, "system_usec").unwrap_or(0) * 1000,
                )
            }
            _ => (0, 0),
        };
        Cpu {
            visible: cpuset.into_iter().take(n).collect(),
            user_ns,
            system_ns,
        }
    }

    pub fn count(&self) -> usize {
        self.visible.len().max(1)
    }
}

/// USER_HZ (ticks per second in /proc/stat).
pub fn clk_tck() -> u64 {
    // SAFETY: sysconf has no memory effects.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

/// The container's threads: how many, and how many are runnable (state R) or in
/// uninterruptible sleep (D), as the kernel's load average counts them.
pub fn tasks(c: &Config) -> (u64, u64) {
    let (total, active, _) = tasks_and_wait(c);
    (total, active)
}

/// [`tasks`], and the nanoseconds its threads spent runnable but waiting for a CPU (the
/// second field of each /proc/<tid>/schedstat).
pub fn tasks_and_wait(c: &Config) -> (u64, u64, u64) {
    let list = match (&c.pids, &c.cpu, &c.memory, &c.unified) {
        (Some(d), _, _, _) | (None, Some(d), _, _) | (None, None, Some(d), _) => read(d, "tasks"),
        (None, None, None, Some(u)) => read(u, "cgroup.threads"),
        _ => None,
    }
    .unwrap_or_default();
    let mut total = 0;
    let mut active = 0;
    let mut wait = 0u64;
    for tid in list.lines().filter(|l| !l.is_empty()) {
        total += 1;
        let ss =
            std::fs::read_to_string(c.proc_root.join(tid).join("schedstat")).unwrap_or_default();
        wait += ss
            .split_whitespace()
            .nth(1)
            .and_then(|w| w.parse::<u64>().ok())
            .unwrap_or(0);
        let stat = std::fs::read_to_string(c.proc_root.join(tid).join("stat")).unwrap_or_default();
        let state = stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].trim_start().chars().next());
        if matches!(state, Some('R') | Some('D')) {
            active += 1;
        }
    }
    (total, active, wait)
}

/// Block I/O per device (`major:minor`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiskIo {
    pub dev: (u32, u32),
    pub read_bytes: u64,
    pub write_bytes: u64,
    pub reads: u64,
    pub writes: u64,
}

fn dev_of(s: &str) -> Option<(u32, u32)> {
    let (a, b) = s.split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

fn entry(v: &mut Vec<DiskIo>, dev: (u32, u32)) -> &mut DiskIo {
    match v.iter().position(|d| d.dev == dev) {
        Some(i) => &mut v[i],
        None => {
            v.push(DiskIo {
                dev,
                ..Default::default()
            });
            v.last_mut().expect("just pushed")
        }
    }
}

pub fn disk_io(c: &Config) -> Vec<DiskIo> {
    let mut v: Vec<DiskIo> = Vec::new();
    if let Some(d) = &c.blkio {
        for (file, bytes) in [
            ("blkio.throttle.io_service_bytes_recursive", true),
            ("blkio.throttle.io_serviced_recursive", false),
        ] {
            let text = read(d, file)
                .or_else(|| read(d, file.trim_end_matches("_recursive")))
                .unwrap_or_default();
            for l in text.lines() {
                let f: Vec<&str> = l.split_whitespace().collect();
                let (Some(dev), Some(op), Some(n)) = (
                    f.first().and_then(|s| dev_of(s)),
                    f.get(1),
                    f.get(2).and_then(|s| s.parse::<u64>().ok()),
                ) else {
                    continue;
                };
                let e = entry(&mut v, dev);
                match (*op, bytes) {
                    ("Read", true) => e.read_bytes = n,
                    ("Write", true) => e.write_bytes = n,
                    ("Read", false) => e.reads = n,
                    ("Write", false) => e.writes = n,
                    _ => {}
                }
            }
        }
    } else if let Some(text) = c.unified.as_deref().and_then(|u| read(u, "io.stat")) {
        for l in text.lines() {
            let mut f = l.split_whitespace();
            let Some(dev) = f.next().and_then(dev_of) else {
                continue;
            };
            let e = entry(&mut v, dev);
            for kv in f {
                let Some((k, n)) = kv.split_once('=') else {
                    continue;
                };
                let n = n.parse().unwrap_or(0);
                match k {
                    "rbytes" => e.read_bytes = n,
                    "wbytes" => e.write_bytes = n,
                    "rios" => e.reads = n,
                    "wios" => e.writes = n,
                    _ => {}
                }
            }
        }
    }
    v
}

/// For tests and callers: the directory a config names for `controller`.
pub fn dir<'a>(c: &'a Config, controller: &str) -> Option<&'a PathBuf> {
    match controller {
        "memory" => c.memory.as_ref(),
        "cpu" => c.cpu.as_ref(),
        "cpuacct" => c.cpuacct.as_ref(),
        "cpuset" => c.cpuset.as_ref(),
        "blkio" => c.blkio.as_ref(),
        "pids" => c.pids.as_ref(),
        _ => c.unified.as_ref(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_and_count_rule() {
        assert_eq!(parse_cpu_list("0-3,5,7-8\n"), vec![0, 1, 2, 3, 5, 7, 8]);
        assert_eq!(parse_cpu_list(""), Vec::<u32>::new());
        assert_eq!(cpu_count(4, None), 4);
        assert_eq!(
            cpu_count(4, Some((150_000, 100_000))),
            2,
            "1.5 CPUs round up"
        );
        assert_eq!(cpu_count(4, Some((100_000, 100_000))), 1);
        assert_eq!(
            cpu_count(1, Some((300_000, 100_000))),
            1,
            "cpuset bounds quota"
        );
        assert_eq!(cpu_count(2, Some((1_000, 100_000))), 1, "at least one");
        assert_eq!(cpu_range(1), "0");
        assert_eq!(cpu_range(3), "0-2");
    }
}
