//! The layer and image stores: a store lock left marked by a holder that died, half-made
//! layers and image operations (an interrupted pull, load or commit), half-written layerdb
//! entries, layer dirs nothing references, container layers without container, images whose
//! layers are missing.
//!
//! Found by reading the directories (opening the store would already sweep some of them);
//! repaired through the store's own sweep under its lock (`Store::repair`), which never
//! removes what a live operation holds (their staging dirs are flocked).

use super::{is_id, short, try_flock, Ctx, Finding};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

pub(super) struct Layout {
    pub driver: &'static str,
    /// `<root>/image/<driver>`
    pub meta: PathBuf,
    /// Where layer dirs are.
    pub layers: PathBuf,
}

pub(super) fn layout(root: &Path) -> Option<Layout> {
    for (driver, layers) in [
        ("overlay2", "overlay2"),
        ("btrfs", "btrfs/subvolumes"),
        ("vfs", "vfs/dir"),
    ] {
        let meta = root.join("image").join(driver);
        if meta.join("layout-v2").exists() {
            return Some(Layout {
                driver,
                meta,
                layers: root.join(layers),
            });
        }
    }
    None
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn store_repair(cx: &Ctx, l: &Layout) -> Result<(), String> {
    let st =
        storage::Store::open_existing(&cx.paths.root, Some(l.driver)).map_err(|e| e.to_string())?;
    st.repair().map_err(|e| e.to_string())
}

/// The store's lock file holds a mark while an operation changes the store; a mark with no
/// holder means that holder died midway (its leftovers are swept by the next taker).
pub(super) fn lock(cx: &mut Ctx) {
    let Some(l) = layout(&cx.paths.root) else {
        return;
    };
    let p = l.meta.join(".lock");
    let marked = std::fs::metadata(&p).is_ok_and(|m| m.len() > 0);
    if !marked {
        return;
    }
    let Some(g) = try_flock(&p) else {
        return; // an operation is running
    };
    drop(g);
    let mut f = Finding::new(
        "lock",
        p.display().to_string(),
        "layer store lock marked by a process that died midway",
        "sweep",
    );
    if cx.repair {
        // Opening the store takes the lock and sweeps.
        f.outcome(store_repair(cx, &l));
    }
    cx.push(f);
}

pub(super) fn check(cx: &mut Ctx) {
    let Some(l) = layout(&cx.paths.root) else {
        return;
    };
    let mut sweep = Vec::new();
    // Half-made layers: staging dirs whose builder died (their flock is free).
    for n in names(&l.layers) {
        if !(n.starts_with(".tmp-") || n.starts_with(".new-")) {
            continue;
        }
        let d = l.layers.join(&n);
        if try_flock(&d).is_none() {
            continue;
        }
        sweep.push(Finding::new(
            "layer",
            d.display().to_string(),
            "half-made layer (interrupted pull, load or commit)",
            "remove",
        ));
    }
    let db = l.meta.join("layerdb");
    for sub in ["sha256", "mounts"] {
        for n in names(&db.join(sub))
            .into_iter()
            .filter(|n| n.starts_with(".tmp-"))
        {
            sweep.push(Finding::new(
                "layer",
                db.join(sub).join(n).display().to_string(),
                "half-written layer metadata",
                "remove",
            ));
        }
    }
    // Layer dirs no layer or container references.
    let mut referenced: HashSet<String> = HashSet::new();
    for n in names(&db.join("sha256")) {
        if let Ok(c) = std::fs::read_to_string(db.join("sha256").join(&n).join("cache-id")) {
            referenced.insert(c.trim().to_string());
        }
    }
    let mounts: Vec<String> = names(&db.join("mounts"))
        .into_iter()
        .filter(|n| !n.starts_with('.'))
        .collect();
    for id in &mounts {
        referenced.insert(format!("{id}-init"));
        referenced.insert(id.clone());
    }
    for n in names(&l.layers) {
        if n.starts_with('.') || n == "l" || referenced.contains(&n) {
            continue;
        }
        sweep.push(Finding::new(
            "layer",
            l.layers.join(&n).display().to_string(),
            "layer directory no layer or container references",
            "remove",
        ));
    }
    if !sweep.is_empty() {
        let r = if cx.repair {
            Some(store_repair(cx, &l).map(|()| {
                for f in &sweep {
                    // Left by the sweep only if their maker held them meanwhile.
                    let p = Path::new(&f.object);
                    if p.exists()
                        && p.file_name()
                            .is_some_and(|n| n.to_string_lossy().starts_with(".new-"))
                    {
                        let _ = std::fs::remove_dir_all(p);
                    }
                }
            }))
        } else {
            None
        };
        for mut f in sweep {
            if let Some(r) = &r {
                match r {
                    Err(e) => f.error = e.clone(),
                    Ok(()) if Path::new(&f.object).exists() => f.error = "still there".into(),
                    Ok(()) => f.repaired = true,
                }
            }
            cx.push(f);
        }
    }
    // Container layers whose container is gone.
    for id in mounts {
        if !is_id(&id) || cx.paths.dir(&id).exists() {
            continue;
        }
        let mut f = Finding::new(
            "layer",
            format!("{} (container layer)", short(&id)),
            "layers of a container that does not exist",
            "remove",
        );
        if cx.repair {
            f.outcome(
                storage::Store::open_existing(&cx.paths.root, Some(l.driver))
                    .and_then(|st| st.remove(&id))
                    .map_err(|e| e.to_string()),
            );
        }
        cx.push(f);
    }
    images(cx, &l);
}

/// Interrupted image operations (`tmp/op-*` whose lock is free) and images whose layers are
/// missing.
fn images(cx: &mut Ctx, l: &Layout) {
    let tmp = l.meta.join("tmp");
    let mut half = Vec::new();
    for n in names(&tmp) {
        if !(n.starts_with("op-") || n.starts_with(".new-")) {
            continue;
        }
        let d = tmp.join(&n);
        if d.join("lock").exists() && try_flock(&d.join("lock")).is_none() {
            continue; // alive
        }
        half.push(Finding::new(
            "image",
            d.display().to_string(),
            "half-made image (interrupted pull or load)",
            "remove",
        ));
    }
    let mut missing = Vec::new();
    let content = l.meta.join("imagedb/content/sha256");
    let db = l.meta.join("layerdb/sha256");
    for n in names(&content) {
        if !is_id(&n) {
            continue;
        }
        let Ok(raw) = std::fs::read(content.join(&n)) else {
            continue;
        };
        let Ok(cfg) = image::ImageConfig::from_bytes(&raw) else {
            continue;
        };
        let Some(top) = image::config::chain_ids(cfg.diff_ids()).pop() else {
            continue;
        };
        let hex = top.trim_start_matches("sha256:");
        let whole = std::fs::read_to_string(db.join(hex).join("cache-id"))
            .ok()
            .is_some_and(|c| l.layers.join(c.trim()).exists());
        if !whole {
            missing.push(format!("sha256:{n}"));
        }
    }
    if (half.is_empty() && missing.is_empty()) || !cx.repair {
        cx.found.extend(half);
        for id in missing {
            cx.push(Finding::new(
                "image",
                short(id.trim_start_matches("sha256:")),
                "its layers are missing",
                "remove",
            ));
        }
        return;
    }
    // Opening the image store releases what interrupted operations held and removes them.
    let store = image::ImageStore::open(&cx.paths.root, Some(l.driver));
    for mut f in half {
        match &store {
            Err(e) => f.error = e.to_string(),
            Ok(_) if Path::new(&f.object).exists() => f.error = "still there".into(),
            Ok(_) => f.repaired = true,
        }
        cx.push(f);
    }
    for id in missing {
        let mut f = Finding::new(
            "image",
            short(id.trim_start_matches("sha256:")),
            "its layers are missing",
            "remove",
        );
        match &store {
            Err(e) => f.error = e.to_string(),
            Ok(s) => f.outcome(
                s.remove(&id, true, &|_| false)
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
            ),
        }
        cx.push(f);
    }
}
