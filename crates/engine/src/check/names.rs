//! Name reservations (`<root>/names/<name>`: the owner's ID, flocked by its creator until the
//! record is saved) left by a process that died: unlocked, and their container has no record.
//! `create --name` takes such a name over by itself, and every removal's cleanup removes such
//! reservations with what their creates left (removed.rs); until then the check lists the
//! reservation as a dead lock.

use super::{short, try_flock, Ctx, Finding};

pub(super) fn check(cx: &mut Ctx) {
    let dir = cx.paths.names();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    for n in names {
        let p = dir.join(&n);
        let Some(lock) = try_flock(&p) else {
            continue; // its creator is at work
        };
        let owner = std::fs::read_to_string(&p).unwrap_or_default();
        let stale = if owner.is_empty() {
            // A creator between create_new and writing its id (no O_TMPFILE), or one that died.
            super::age_secs(&p) >= super::YOUNG_SECS as u64
        } else {
            !cx.paths.dir(&owner).join("config.v2.json").exists()
        };
        if !stale {
            continue;
        }
        let who = if owner.is_empty() {
            "no container".to_string()
        } else {
            format!("container {}, which has no record", short(&owner))
        };
        let mut f = Finding::new(
            "lock",
            format!("name {n}"),
            format!("reserved for {who} by a process that died"),
            "release",
        );
        if cx.repair {
            f.outcome(std::fs::remove_file(&p));
        }
        drop(lock);
        cx.push(f);
    }
}
