//! `update`.

use super::each;
use crate::{run_opts, CmdResult, Failure, Global};
use clap::Args;

#[derive(Args)]
pub struct UpdateArgs {
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    /// Limit CPU CFS period
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<i64>,
    /// Limit CPU CFS quota
    #[arg(long = "cpu-quota", allow_negative_numbers = true)]
    pub cpu_quota: Option<i64>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<i64>,
    /// Number of CPUs
    #[arg(long)]
    pub cpus: Option<String>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Memory limit
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation")]
    pub memory_reservation: Option<String>,
    /// Swap limit equal to memory plus swap: '-1' to enable unlimited swap
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", allow_negative_numbers = true)]
    pub pids_limit: Option<i64>,
    /// Restart policy to apply when a container exits
    #[arg(long)]
    pub restart: Option<String>,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

pub(super) fn update(g: &Global, a: UpdateArgs) -> CmdResult {
    let bad = |m: String| Failure::new(m, 1);
    let mem = |v: &Option<String>, flag: &str| -> Result<Option<i64>, Failure> {
        v.as_deref()
            .map(|s| {
                run_opts::ram_in_bytes(s)
                    .map_err(|e| bad(format!("invalid argument \"{s}\" for \"{flag}\" flag: {e}")))
            })
            .transpose()
    };
    let cfg = engine::UpdateConfig {
        cpu_shares: a.cpu_shares,
        nano_cpus: a
            .cpus
            .as_deref()
            .map(run_opts::parse_cpus)
            .transpose()
            .map_err(bad)?,
        cpu_period: a.cpu_period,
        cpu_quota: a.cpu_quota,
        cpuset_cpus: a.cpuset_cpus.clone(),
        cpuset_mems: a.cpuset_mems.clone(),
        memory: mem(&a.memory, "-m, --memory")?,
        memory_swap: match a.memory_swap.as_deref() {
            Some("-1") => Some(-1),
            _ => mem(&a.memory_swap, "--memory-swap")?,
        },
        memory_reservation: mem(&a.memory_reservation, "--memory-reservation")?,
        pids_limit: a.pids_limit,
        blkio_weight: a.blkio_weight,
        restart_policy: a
            .restart
            .as_deref()
            .map(run_opts::parse_restart)
            .transpose()
            .map_err(bad)?,
    };
    if cfg.nano_cpus.is_some() && (cfg.cpu_quota.is_some() || cfg.cpu_period.is_some()) {
        return Err(bad(
            "Conflicting options: Nano CPUs cannot be updated together with CPU Period or CPU Quota"
                .into(),
        ));
    }
    each(g, &a.containers, |e, id| {
        for w in e.update(id, &cfg)? {
            eprintln!("WARNING: {w}");
        }
        Ok(())
    })
}
