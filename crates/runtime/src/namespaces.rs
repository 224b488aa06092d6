//! Namespaces: which ones the spec creates (clone/unshare flags) and which it joins (setns by path).

use crate::{Error, Result, SysContext};
use nix::sched::{setns, CloneFlags};
use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType};
use std::fs::File;
use std::os::fd::AsFd;

pub fn flag(t: LinuxNamespaceType) -> CloneFlags {
    match t {
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
    }
}

/// /proc/<pid>/ns/<name> for a namespace type.
pub fn proc_name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Time => "time",
    }
}

/// Order in which namespaces are joined: user first (it grants the rights for the others),
/// mount last (it changes what paths mean).
pub const JOIN_ORDER: [LinuxNamespaceType; 8] = [
    LinuxNamespaceType::User,
    LinuxNamespaceType::Pid,
    LinuxNamespaceType::Time,
    LinuxNamespaceType::Ipc,
    LinuxNamespaceType::Uts,
    LinuxNamespaceType::Network,
    LinuxNamespaceType::Cgroup,
    LinuxNamespaceType::Mount,
];

/// The spec's namespaces split into "create" flags and "join" files (opened up front, in the
/// runtime's own mount namespace, so paths resolve on the host).
pub struct Plan {
    pub create: CloneFlags,
    pub join: Vec<(LinuxNamespaceType, File)>,
}

impl Plan {
    pub fn from_spec(nss: &[LinuxNamespace]) -> Result<Plan> {
        let mut create = CloneFlags::empty();
        let mut join = Vec::new();
        let mut seen = Vec::new();
        for ns in nss {
            let t = ns.typ();
            if seen.contains(&t) {
                return Err(Error::Spec(format!(
                    "namespace {} listed twice",
                    proc_name(t)
                )));
            }
            seen.push(t);
            match ns.path() {
                Some(p) if !p.as_os_str().is_empty() => {
                    let f = File::open(p).map_err(|e| {
                        Error::Spec(format!(
                            "cannot open {} namespace path {}: {e}",
                            proc_name(t),
                            p.display()
                        ))
                    })?;
                    join.push((t, f));
                }
                _ => create |= flag(t),
            }
        }
        join.sort_by_key(|(t, _)| JOIN_ORDER.iter().position(|o| o == t));
        Ok(Plan { create, join })
    }

    pub fn creates(&self, t: LinuxNamespaceType) -> bool {
        self.create.contains(flag(t))
    }

    pub fn joins(&self, t: LinuxNamespaceType) -> bool {
        self.join.iter().any(|(j, _)| *j == t)
    }

    /// Joins every namespace in `join` for which `pred` holds.
    pub fn enter(&self, pred: impl Fn(LinuxNamespaceType) -> bool) -> Result<()> {
        for (t, f) in &self.join {
            if pred(*t) {
                setns(f.as_fd(), flag(*t)).ctx(|| format!("join {} namespace", proc_name(*t)))?;
            }
        }
        Ok(())
    }
}
