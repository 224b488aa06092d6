//! Mounts under the root or the runroot whose container does not run: a rootfs left mounted on
//! an overlay `merged` dir, a container's /dev/shm tmpfs in its run dir, anything else under a
//! container's dirs. Network namespace files are the network check's.

use super::{claim, is_id, owned, short, Ctx, Finding};
use std::path::{Path, PathBuf};

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 4], 8) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Mount points of this process's mount namespace, in mountinfo order.
pub(crate) fn mount_points() -> Vec<PathBuf> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|m| PathBuf::from(unescape(m)))
        .collect()
}

/// The container a mount under the root or the runroot belongs to; None for what is not a
/// container's (the runroot's own tmpfs, netns files, volumes).
fn owner(root: &Path, runroot: &Path, m: &Path) -> Option<String> {
    let comps = |base: &Path| -> Option<Vec<String>> {
        let rel = m.strip_prefix(base).ok()?;
        Some(
            rel.components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect(),
        )
    };
    if let Some(c) = comps(runroot) {
        return match c.as_slice() {
            [d, id, ..] if d == "containers" && is_id(id) => Some(id.clone()),
            // A volume subpath staged for a container (`<id>-<n>`, see volume::subpath).
            [d, s] if d == "subpaths" => s
                .split_once('-')
                .map(|(id, _)| id)
                .filter(|id| is_id(id))
                .map(String::from),
            _ => None,
        };
    }
    let c = comps(root)?;
    match c.as_slice() {
        [d, id, ..] if d == "containers" && is_id(id) => Some(id.clone()),
        [drv, sub, id, ..]
            if drv == "vfs" && sub == "dir" || drv == "btrfs" && sub == "subvolumes" =>
        {
            let id = id.strip_suffix("-init").unwrap_or(id);
            is_id(id).then(|| id.to_string())
        }
        [drv, id, ..] if drv == "overlay2" => {
            let id = id.strip_suffix("-init").unwrap_or(id);
            is_id(id).then(|| id.to_string())
        }
        _ => None,
    }
}

pub(super) fn check(cx: &mut Ctx) {
    let root = std::fs::canonicalize(&cx.paths.root).unwrap_or_else(|_| cx.paths.root.clone());
    let runroot =
        std::fs::canonicalize(&cx.paths.runroot).unwrap_or_else(|_| cx.paths.runroot.clone());
    let mut stale: Vec<(PathBuf, String)> = Vec::new();
    for m in mount_points() {
        let Some(id) = owner(&root, &runroot, &m) else {
            continue;
        };
        if stale.iter().any(|(p, _)| *p == m) || owned(cx.paths, &id) {
            continue;
        }
        stale.push((m, id));
    }
    // Deepest first: a mount on top of another comes off before it.
    stale.sort_by_key(|(p, _)| std::cmp::Reverse(p.components().count()));
    for (m, id) in stale {
        let mut f = Finding::new(
            "mount",
            m.display().to_string(),
            format!("mounted for container {} which is not running", short(&id)),
            "unmount",
        );
        if cx.repair {
            f.outcome(unmount(cx, &id, &m));
        }
        cx.push(f);
    }
}

fn unmount(cx: &Ctx, id: &str, m: &Path) -> Result<(), String> {
    let Some(_lock) = claim(cx.paths, id) else {
        return Err("the container came alive".into());
    };
    // Every mount stacked at this point.
    let mut n = 0;
    while nix::mount::umount2(m, nix::mount::MntFlags::MNT_DETACH).is_ok() {
        n += 1;
    }
    if n == 0 {
        return Err(format!("unmounting {}: failed", m.display()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners() {
        let id = "a".repeat(64);
        let (root, rr) = (Path::new("/r"), Path::new("/run/b"));
        let o = |p: &str| owner(root, rr, Path::new(p));
        assert_eq!(o(&format!("/r/overlay2/{id}/merged")), Some(id.clone()));
        assert_eq!(
            o(&format!("/r/overlay2/{id}-init/merged")),
            Some(id.clone())
        );
        assert_eq!(o(&format!("/run/b/containers/{id}/shm")), Some(id.clone()));
        assert_eq!(o(&format!("/r/vfs/dir/{id}")), Some(id.clone()));
        assert_eq!(o(&format!("/run/b/netns/{id}")), None);
        assert_eq!(o("/run/b"), None);
        assert_eq!(o("/r/volumes/x/_data"), None);
        assert_eq!(o(&format!("/run/b/subpaths/{id}-3")), Some(id.clone()));
        assert_eq!(o("/run/b/subpaths/x-3"), None);
        assert_eq!(unescape("/a\\040b"), "/a b");
    }
}
