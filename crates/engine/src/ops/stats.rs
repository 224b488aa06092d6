//! `stats`.

use crate::types::ContainerStatus;
use crate::{Engine, Result, StatsSample};

impl Engine {
    pub fn stats(&self, id: &str) -> Result<StatsSample> {
        let (id, rec) = self.record(id)?;
        let mut s = StatsSample {
            id: id.clone(),
            name: rec.short_name().to_string(),
            online_cpus: std::thread::available_parallelism()
                .map(|n| n.get() as u32)
                .unwrap_or(1),
            ..Default::default()
        };
        // /proc/stat's cpu line, in ns (USER_HZ = 100).
        if let Ok(t) = std::fs::read_to_string("/proc/stat") {
            if let Some(l) = t.lines().next() {
                let ticks: u64 = l
                    .split_whitespace()
                    .skip(1)
                    .take(7)
                    .filter_map(|x| x.parse::<u64>().ok())
                    .sum();
                s.system_cpu_ns = ticks * 10_000_000;
            }
        }
        if rec.effective_status() != ContainerStatus::Running
            && rec.effective_status() != ContainerStatus::Paused
        {
            return Ok(s);
        }
        let rt = runtime::state::StateRoot::new(self.paths.runtime_root());
        let st = runtime::Container::load(&rt, &id)?.stats()?;
        s.cpu_total_ns = st.cpu_usage_total_ns;
        s.mem_usage = st.memory_usage.saturating_sub(st.memory_cache);
        s.mem_limit = if st.memory_limit == 0 || st.memory_limit >= i64::MAX as u64 / 2 {
            host_memory()
        } else {
            st.memory_limit.min(host_memory())
        };
        s.blk_read = st.blkio_read_bytes;
        s.blk_write = st.blkio_write_bytes;
        s.pids = st.pids_current;
        if let Ok(t) = std::fs::read_to_string(format!("/proc/{}/net/dev", rec.state.pid)) {
            for l in t.lines().skip(2) {
                let Some((ifc, rest)) = l.split_once(':') else {
                    continue;
                };
                if ifc.trim() == "lo" {
                    continue;
                }
                let f: Vec<u64> = rest
                    .split_whitespace()
                    .filter_map(|x| x.parse().ok())
                    .collect();
                if f.len() >= 9 {
                    s.net_rx += f[0];
                    s.net_tx += f[8];
                }
            }
        }
        Ok(s)
    }
}

fn host_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}
