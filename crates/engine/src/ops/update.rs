//! `update`.

use crate::types::ContainerStatus;
use crate::{blkio, events, record, spec, Engine, Error, Result, UpdateConfig};

impl Engine {
    /// Returns warnings.
    pub fn update(&self, id: &str, cfg: &UpdateConfig) -> Result<Vec<String>> {
        let (id, rec) = self.record(id)?;
        let _l = record::lock(&self.paths.dir(&id), &id)?;
        let mut h = record::load_host_config(&self.paths, &id)?;
        let set = |dst: &mut i64, v: Option<i64>| {
            if let Some(v) = v.filter(|v| *v != 0) {
                *dst = v;
            }
        };
        set(&mut h.cpu_shares, cfg.cpu_shares);
        set(&mut h.nano_cpus, cfg.nano_cpus);
        set(&mut h.cpu_period, cfg.cpu_period);
        set(&mut h.cpu_quota, cfg.cpu_quota);
        set(&mut h.memory, cfg.memory);
        set(&mut h.memory_swap, cfg.memory_swap);
        set(&mut h.memory_reservation, cfg.memory_reservation);
        if let Some(p) = cfg.pids_limit.filter(|p| *p != 0) {
            h.pids_limit = Some(p);
        }
        if let Some(w) = cfg.blkio_weight.filter(|w| *w != 0) {
            h.blkio_weight = w;
        }
        if let Some(c) = &cfg.cpuset_cpus {
            h.cpuset_cpus = c.clone();
        }
        if let Some(c) = &cfg.cpuset_mems {
            h.cpuset_mems = c.clone();
        }
        if let Some(p) = &cfg.restart_policy {
            if h.auto_remove && !matches!(p.name.as_str(), "" | "no") {
                return Err(Error::InvalidArgument(
                    "Restart policy cannot be updated because AutoRemove is enabled for the container".into(),
                ));
            }
            h.restart_policy = p.clone();
        }
        if h.memory > 0 && h.memory_swap > 0 && h.memory_swap < h.memory {
            return Err(Error::InvalidArgument(
                "Minimum memoryswap limit should be larger than memory limit, see usage".into(),
            ));
        }
        // A weight this kernel cannot apply is refused now, not saved to fail the next start.
        if cfg.blkio_weight.is_some_and(|w| w != 0) {
            blkio::validate(&h)?;
        }
        if matches!(
            rec.effective_status(),
            ContainerStatus::Running | ContainerStatus::Paused
        ) {
            let mut h2 = h.clone();
            // Swap follows memory only when the user gave memory without swap.
            if cfg.memory.is_some() && cfg.memory_swap.is_none() && h.memory_swap == 0 {
                h2.memory_swap = 0;
            }
            let res = spec::resources(&h2)?;
            let rt = runtime::state::StateRoot::new(self.paths.runtime_root());
            runtime::Container::load(&rt, &id)?.update(&res)?;
        }
        record::save_host_config(&self.paths, &id, &h)?;
        events::container_event(&self.paths.root, &id, "update");
        Ok(Vec::new())
    }
}
