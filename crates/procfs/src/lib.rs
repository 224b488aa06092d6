//! A container's truthful `/proc`: the files lxcfs fakes (`meminfo`, `cpuinfo`, `stat`,
//! `uptime`, `loadavg`, `diskstats`, `swaps`, and `/sys/devices/system/cpu/online`), computed
//! at read time from the container's own cgroups (v1, v2 or hybrid), and a minimal FUSE server
//! that serves them.
//!
//! There is no daemon: each container's monitor holds the `/dev/fuse` connection of its own
//! container (see engine/src/procfs_serve.rs), and the runtime binds the files over the
//! container's `/proc` before `pivot_root` (runtime/src/procfs_mount.rs). A container dies
//! with its monitor, so nothing can leave a running container with a broken `/proc`.
//!
//! The CPU count rule: `min(cpuset size, ceil(quota / period))`; CPU shares (weights) never
//! reduce it, they only matter under contention.
//!
//! std + libc only: this crate is linked into the idle `berth-monitor` binary.

pub mod cgroup;
pub mod config;
pub mod fuse;
pub mod loadavg;
pub mod render;
pub mod sysinfo;

pub use config::Config;
