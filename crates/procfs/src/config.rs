//! Where one container's numbers come from: its cgroup directories and its start time. Built
//! by the engine from the container's cgroup manager, handed to the idle monitor as text.

use std::path::PathBuf;

/// A container's cgroup directories (absolute host paths) and start time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// v1 controller directories (None where the controller is not mounted as v1).
    pub memory: Option<PathBuf>,
    pub cpu: Option<PathBuf>,
    pub cpuacct: Option<PathBuf>,
    pub cpuset: Option<PathBuf>,
    pub blkio: Option<PathBuf>,
    pub pids: Option<PathBuf>,
    /// The cgroup2 directory (the unified hierarchy, or the unified half of a hybrid host).
    /// A controller not found in v1 is read from here.
    pub unified: Option<PathBuf>,
    /// The container's start, as CLOCK_BOOTTIME nanoseconds.
    pub start_ns: u64,
    /// The host's procfs and sysfs (tests point them at fake trees).
    pub proc_root: PathBuf,
    pub sys_root: PathBuf,
}

impl Config {
    pub fn new() -> Config {
        Config {
            proc_root: "/proc".into(),
            sys_root: "/sys".into(),
            ..Default::default()
        }
    }

    fn dirs(&self) -> [(&'static str, &Option<PathBuf>); 7] {
        [
            ("memory", &self.memory),
            ("cpu", &self.cpu),
            ("cpuacct", &self.cpuacct),
            ("cpuset", &self.cpuset),
            ("blkio", &self.blkio),
            ("pids", &self.pids),
            ("unified", &self.unified),
        ]
    }

    /// One `key value` line per field (paths are whole lines: they may hold spaces, not
    /// newlines; a path with a newline is left out and its controller reads as absent).
    pub fn encode(&self) -> String {
        let mut s = String::new();
        for (k, v) in self.dirs() {
            if let Some(p) = v.as_ref().and_then(|p| p.to_str()) {
                if !p.contains('\n') {
                    s.push_str(&format!("{k} {p}\n"));
                }
            }
        }
        s.push_str(&format!("start {}\n", self.start_ns));
        for (k, p) in [("proc", &self.proc_root), ("sys", &self.sys_root)] {
            if let Some(p) = p.to_str().filter(|p| !p.contains('\n')) {
                s.push_str(&format!("{k} {p}\n"));
            }
        }
        s
    }

    pub fn decode(text: &str) -> Option<Config> {
        let mut c = Config::new();
        for line in text.lines() {
            let (k, v) = line.split_once(' ')?;
            let p = Some(PathBuf::from(v));
            match k {
                "memory" => c.memory = p,
                "cpu" => c.cpu = p,
                "cpuacct" => c.cpuacct = p,
                "cpuset" => c.cpuset = p,
                "blkio" => c.blkio = p,
                "pids" => c.pids = p,
                "unified" => c.unified = p,
                "start" => c.start_ns = v.parse().ok()?,
                "proc" => c.proc_root = v.into(),
                "sys" => c.sys_root = v.into(),
                _ => return None,
            }
        }
        Some(c)
    }
}

/// CLOCK_BOOTTIME now, in nanoseconds (what /proc/uptime counts).
pub fn boottime_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime fills the timespec we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let c = Config {
            memory: Some("/sys/fs/cgroup/memory/berth/a b".into()),
            unified: Some("/sys/fs/cgroup/unified/berth/x".into()),
            start_ns: 123,
            ..Config::new()
        };
        assert_eq!(Config::decode(&c.encode()), Some(c));
        assert_eq!(Config::decode("bogus 1\n"), None);
    }
}
