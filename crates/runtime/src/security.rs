//! Process security and attributes applied by the container's init just before execve:
//! rlimits, ioPriority, scheduler, personality, oomScoreAdj, capabilities (all five sets),
//! user switch (uid, gid, additionalGids), umask, noNewPrivileges, seccomp, apparmor/selinux
//! (accepted, warned about when unsupported), sysctl.
//!
//! STATUS: interface stub — being implemented.

use crate::Result;
use oci_spec::runtime::{LinuxSeccomp, Process};
use std::collections::HashMap;

/// A compiled seccomp filter, ready to load.
pub struct SeccompFilter {
    _private: (),
}

/// Compiles the spec's seccomp profile ahead of time (before privileges are dropped).
pub fn compile_seccomp(seccomp: &LinuxSeccomp) -> Result<SeccompFilter> {
    let _ = seccomp;
    todo!()
}

/// Writes `linux.sysctl` under /proc/sys (after pivot_root, before /proc/sys turns read-only).
pub fn apply_sysctl(sysctl: &HashMap<String, String>) -> Result<()> {
    let _ = sysctl;
    Ok(())
}

/// Everything about the process that is set from inside, in runc's order: rlimits, oomScoreAdj,
/// ioPriority, scheduler, personality, drop bounding set, keep caps across the user switch,
/// setgroups/setgid/setuid, set effective/permitted/inheritable/ambient, umask,
/// no_new_privs, then the seccomp filter last (only execve follows).
/// Does not chdir and does not exec: the caller does both.
pub fn finalize_process(process: &Process, seccomp: Option<SeccompFilter>) -> Result<()> {
    let _ = (process, seccomp);
    Ok(())
}
