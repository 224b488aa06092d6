//! `berth system reset`: removes everything berth made on this host for one root: its
//! containers (killed first), their cgroups, its networks (bridges, veths, nft elements,
//! addresses), the shared `ip berth` table when no other root's bridge is in it, the empty
//! cgroup parents, every mount under the root and the runroot (the runroot's tmpfs too), and
//! then the root's and the runroot's files.

use super::{container_ids, mounts::mount_points, short};
use crate::{Engine, RemoveOptions, Result};
use std::path::{Path, PathBuf};

fn canon(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

pub(super) fn reset(e: &Engine) -> Result<Vec<String>> {
    let paths = &e.paths;
    for d in [&paths.root, &paths.runroot] {
        let c = canon(d);
        if c.parent().is_none() || c.as_os_str().is_empty() {
            return Err(crate::Error::InvalidArgument(format!(
                "refusing to reset {}: not a berth root",
                d.display()
            )));
        }
    }
    let mut done = Vec::new();
    let mut parents = std::collections::BTreeSet::from(["/berth".to_string()]);
    for id in container_ids(paths) {
        if let Ok(h) = crate::record::load_host_config(paths, &id) {
            if !h.cgroup_parent.is_empty() {
                parents.insert(h.cgroup_parent.trim_end_matches('/').to_string());
            }
        }
        let opts = RemoveOptions {
            force: true,
            volumes: true,
        };
        if e.remove(&id, &opts).is_err() {
            // A record too broken for `rm -f`: released and removed from what is on disk.
            crate::release_resources(paths, &id);
            crate::remove_all(paths, &id);
        }
        done.push(format!("container {}", short(&id)));
    }
    if paths.root.join("network").exists() {
        let np = crate::network::NetPaths {
            root: &paths.root,
            runroot: &paths.runroot,
        };
        let ctl = np.controller()?;
        for n in ctl.list().unwrap_or_default() {
            done.push(format!("network {}", n.name));
        }
        ctl.reset()?;
    } else {
        let _ = ::network::drop_table_if_unused();
    }
    // Parents of cgroups, where no other root's container is left in them.
    if let Ok(m) = ::cgroups::mounts::mounts() {
        for parent in &parents {
            for mnt in &m.all {
                let d = Path::new(&mnt.mount_point).join(parent.trim_start_matches('/'));
                if std::fs::remove_dir(&d).is_ok() {
                    done.push(format!("cgroup {}", d.display()));
                }
            }
        }
    }
    // Every mount under the root and the runroot, deepest first (the runroot's tmpfs last).
    let (root, runroot) = (canon(&paths.root), canon(&paths.runroot));
    let mut ms: Vec<PathBuf> = mount_points()
        .into_iter()
        .filter(|m| m.starts_with(&root) || m.starts_with(&runroot))
        .collect();
    ms.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    ms.dedup();
    for m in ms {
        while nix::mount::umount2(&m, nix::mount::MntFlags::MNT_DETACH).is_ok() {}
        done.push(format!("mount {}", m.display()));
    }
    for d in [&runroot, &root] {
        if d.exists() {
            std::fs::remove_dir_all(d)
                .map_err(crate::Error::io(format!("removing {}", d.display())))?;
            done.push(format!("directory {}", d.display()));
        }
    }
    Ok(done)
}
