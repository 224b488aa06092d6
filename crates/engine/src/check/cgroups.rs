//! cgroups of containers that do not run: `<parent>/<id>` in every v1 hierarchy and in v2
//! (the default parent `/berth` and the `--cgroup-parent`s of this root's containers).
//!
//! The `/berth` parent is shared by every root. Only cgroups named after a container of this
//! root that does not run are leftovers here: another root's (even an empty one: its container
//! may be between its runtime's steps, or that root's own check is to judge it) is never
//! touched.

use super::{claim, is_id, owned, short, Ctx, Finding};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn parents(cx: &Ctx) -> BTreeSet<String> {
    let mut s = BTreeSet::from(["/berth".to_string()]);
    for id in super::container_ids(cx.paths) {
        if let Ok(h) = crate::record::load_host_config(cx.paths, &id) {
            if !h.cgroup_parent.is_empty() {
                s.insert(h.cgroup_parent.trim_end_matches('/').to_string());
            }
        }
    }
    s
}

pub(super) fn check(cx: &mut Ctx) {
    let Ok(mounts) = ::cgroups::mounts::mounts() else {
        return;
    };
    // cgroup path -> (id, the hierarchies' dirs)
    let mut found: BTreeMap<String, (String, Vec<PathBuf>)> = BTreeMap::new();
    for parent in parents(cx) {
        for m in &mounts.all {
            let dir = PathBuf::from(&m.mount_point).join(parent.trim_start_matches('/'));
            for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if !is_id(&name) || !e.path().is_dir() {
                    continue;
                }
                found
                    .entry(format!("{parent}/{name}"))
                    .or_insert_with(|| (name.clone(), Vec::new()))
                    .1
                    .push(e.path());
            }
        }
    }
    for (cg, (id, dirs)) in found {
        if owned(cx.paths, &id) {
            continue;
        }
        if !cx.paths.dir(&id).exists() {
            continue; // not this root's
        }
        // The hierarchies by their mount's name (a v2-only host's is /sys/fs/cgroup itself).
        let rel = cg.trim_start_matches('/');
        let names: Vec<String> = dirs
            .iter()
            .filter_map(|d| {
                let s = d.to_string_lossy();
                let mp = Path::new(s.strip_suffix(rel)?.trim_end_matches('/'));
                Some(match mp.file_name() {
                    Some(n) if mp != Path::new("/sys/fs/cgroup") => {
                        n.to_string_lossy().into_owned()
                    }
                    _ => "cgroup2".to_string(),
                })
            })
            .collect();
        let whose = format!("container {} is not running", short(&id));
        let mut f = Finding::new(
            "cgroup",
            cg.clone(),
            format!("{whose} (in {})", names.join(",")),
            "remove",
        );
        if cx.repair {
            f.outcome(remove(cx, &id, &cg, &dirs));
        }
        cx.push(f);
    }
}

fn remove(cx: &Ctx, id: &str, cg: &str, dirs: &[PathBuf]) -> Result<(), String> {
    let Some(_lock) = claim(cx.paths, id) else {
        return Err("the container came alive".into());
    };
    let m = ::cgroups::manager(Some(cg), id).map_err(|e| e.to_string())?;
    let _ = m.kill_all(libc::SIGKILL);
    let _ = m.destroy();
    // Also hierarchies the manager does not manage (named ones such as name=systemd).
    for d in dirs {
        let _ = std::fs::remove_dir(d);
    }
    match dirs.iter().find(|d| d.exists()) {
        Some(d) => Err(format!("{} is still there", d.display())),
        None => Ok(()),
    }
}
