//! What removals and creates killed midway left (issue 12), swept by every later removal
//! once it is done with its own container ([`crate::Leftovers::finish`], after the reply):
//!
//! * a removal's: the container's record dir renamed to `containers/.removed-<id>` (the
//!   record goes first, see `remove_all_in`) and, maybe, its layers: the layers of `<id>` go,
//!   then the dir. A removal still in progress holds the record lock (`.lock`, renamed with
//!   the dir): its dir is left alone;
//! * a create's: its name reservation (`names/<name>`, flocked by the creator until the
//!   record is saved), a record dir without record, maybe layers. Unlocked with an owner that
//!   has no record, the creator died: all three go (as `create` of that name takes them
//!   over). Nothing of it was ever visible: no record, so no `ps`/`inspect`.

use crate::record::Paths;
use std::os::fd::AsRawFd;

pub(crate) fn sweep(paths: &Paths) {
    removals(paths);
    creates(paths);
}

fn removals(paths: &Paths) {
    let mut store = None;
    for e in std::fs::read_dir(paths.containers())
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = e.file_name();
        let Some(id) = name
            .to_string_lossy()
            .strip_prefix(crate::REMOVED_PREFIX)
            .map(str::to_string)
        else {
            continue;
        };
        let dir = e.path();
        let Some(_lock) = try_lock(&dir.join(".lock")) else {
            continue; // its removal is in progress
        };
        if store.is_none() {
            store = crate::open_storage(paths);
        }
        if let Some(st) = &store {
            match st.remove(&id) {
                Ok(()) | Err(storage::Error::LayerNotFound(_)) => {}
                // Kept: the next sweep (or `system check --repair`) tries again.
                Err(_) => continue,
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// The exclusive flock of `p` if nobody holds it (also when the file is missing: nobody
/// can hold it then).
fn try_lock(p: &std::path::Path) -> Option<Option<std::fs::File>> {
    let Ok(f) = std::fs::OpenOptions::new().write(true).open(p) else {
        return Some(None);
    };
    // SAFETY: flock on an fd we own.
    let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    (r == 0).then_some(Some(f))
}

fn creates(paths: &Paths) {
    let mut store = None;
    for e in std::fs::read_dir(paths.names())
        .into_iter()
        .flatten()
        .flatten()
    {
        if e.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let p = e.path();
        let Some(Some(lock)) = try_lock(&p) else {
            continue; // its creator is at work (or it is gone)
        };
        let owner = std::fs::read_to_string(&p).unwrap_or_default();
        // Empty: a creator between making the file and writing its id (or one that died
        // there: `system check` judges those by age).
        if owner.len() != 64 || !owner.bytes().all(|b| b.is_ascii_hexdigit()) {
            continue;
        }
        let dir = paths.dir(&owner);
        if dir.join("config.v2.json").exists() {
            continue;
        }
        if store.is_none() {
            store = crate::open_storage(paths);
        }
        if let Some(st) = &store {
            match st.remove(&owner) {
                Ok(()) | Err(storage::Error::LayerNotFound(_)) => {}
                Err(_) => continue,
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::remove_file(&p);
        drop(lock);
    }
}
