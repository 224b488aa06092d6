//! Where the cgroup hierarchies are mounted (parsed once from /proc/self/mountinfo) and which
//! cgroup this process is in (/proc/self/cgroup, read only for relative cgroupsPaths).

use crate::{fsutil, Error, Hierarchy, Result};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// One cgroup filesystem mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupMount {
    /// Where it is mounted, e.g. /sys/fs/cgroup/memory.
    pub mount_point: PathBuf,
    /// The cgroup that is the mount's root (mountinfo field 4; not "/" inside cgroup namespaces).
    pub root: String,
    /// v1 controllers on this mount (empty for cgroup2 and named hierarchies).
    pub controllers: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Mounts {
    pub v1: Vec<CgroupMount>,
    pub v2: Option<CgroupMount>,
    /// Named v1 hierarchies without controllers (`name=systemd`), `controllers` holding the
    /// one `name=...` option. A container joins them too (as runc does): otherwise its view of
    /// such a hierarchy is the host's cgroup it was started from (the root, its release_agent,
    /// every other container's group).
    pub named: Vec<CgroupMount>,
    /// Every cgroup and cgroup2 mount, named hierarchies too, in mountinfo order (the
    /// runtime's container "cgroup" mount mirrors them; the parse is shared with it because
    /// the init is a copy of a process that already made it).
    pub all: Vec<RawCgroupMount>,
}

/// A cgroup filesystem mount as mountinfo shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawCgroupMount {
    pub root: String,
    pub mount_point: String,
    /// "cgroup" or "cgroup2".
    pub fstype: String,
    pub super_opts: String,
}

/// The v1 controllers berth manages (named hierarchies like name=systemd are left alone).
pub const V1_CONTROLLERS: &[&str] = &[
    "cpuset",
    "devices",
    "memory",
    "cpu",
    "cpuacct",
    "pids",
    "blkio",
    "hugetlb",
    "net_cls",
    "net_prio",
    "perf_event",
    "freezer",
    "rdma",
    "misc",
];

impl Mounts {
    pub fn hierarchy(&self) -> Hierarchy {
        match &self.v2 {
            Some(m) if self.v1.is_empty() || m.mount_point == Path::new("/sys/fs/cgroup") => {
                Hierarchy::Unified
            }
            Some(_) => Hierarchy::Hybrid,
            None => Hierarchy::Legacy,
        }
    }

    pub fn v1_mount(&self, controller: &str) -> Option<&CgroupMount> {
        self.v1
            .iter()
            .find(|m| m.controllers.iter().any(|c| c == controller))
    }
}

/// Parses mountinfo text. Field layout (proc(5)):
/// `id parent maj:min root mount_point opts [optional...] - fstype source super_opts`.
pub fn parse_mountinfo(text: &str) -> Mounts {
    let mut mounts = Mounts::default();
    for line in text.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let mut post = post.split(' ');
        let fstype = post.next().unwrap_or("");
        if fstype != "cgroup" && fstype != "cgroup2" {
            continue;
        }
        let _source = post.next();
        let super_opts = post.next().unwrap_or("");
        let pre: Vec<&str> = pre.split(' ').collect();
        if pre.len() < 5 {
            continue;
        }
        mounts.all.push(RawCgroupMount {
            root: unescape(pre[3]),
            mount_point: unescape(pre[4]),
            fstype: fstype.to_string(),
            super_opts: super_opts.to_string(),
        });
        let mount = CgroupMount {
            mount_point: PathBuf::from(unescape(pre[4])),
            root: unescape(pre[3]),
            controllers: if fstype == "cgroup" {
                super_opts
                    .split(',')
                    .filter(|o| V1_CONTROLLERS.contains(o))
                    .map(str::to_string)
                    .collect()
            } else {
                Vec::new()
            },
        };
        if fstype == "cgroup2" {
            // Prefer the canonical location if cgroup2 is mounted more than once.
            if mounts.v2.is_none() || mount.mount_point.starts_with("/sys/fs/cgroup") {
                mounts.v2 = Some(mount);
            }
        } else if !mount.controllers.is_empty() {
            if !mounts.v1.iter().any(|m| m.controllers == mount.controllers) {
                mounts.v1.push(mount);
            }
        } else if let Some(name) = super_opts.split(',').find(|o| o.starts_with("name=")) {
            if !mounts.named.iter().any(|m| m.controllers[0] == name) {
                mounts.named.push(CgroupMount {
                    controllers: vec![name.to_string()],
                    ..mount
                });
            }
        }
    }
    mounts
}

/// mountinfo escapes space, tab, newline and backslash as \ooo octal.
fn unescape(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() {
            if let Ok(v) =
                u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 4]).unwrap_or(""), 8)
            {
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

static MOUNTS: OnceLock<Mounts> = OnceLock::new();

/// The host's cgroup mounts, read once per process.
pub fn mounts() -> Result<&'static Mounts> {
    if let Some(m) = MOUNTS.get() {
        return Ok(m);
    }
    let text = fsutil::read_path(Path::new("/proc/self/mountinfo"))?;
    let m = parse_mountinfo(&text);
    if m.v1.is_empty() && m.v2.is_none() {
        return Err(Error::Unsupported(
            "no cgroup filesystem is mounted (expected cgroup or cgroup2 under /sys/fs/cgroup)"
                .into(),
        ));
    }
    Ok(MOUNTS.get_or_init(|| m))
}

/// This process's cgroup for `controller` ("" = the v2 entry "0::"), from /proc/self/cgroup.
pub fn own_cgroup(controller: &str) -> Result<String> {
    let text = fsutil::read_path(Path::new("/proc/self/cgroup"))?;
    own_cgroup_in(&text, controller).ok_or_else(|| {
        Error::Unsupported(format!(
            "this process has no cgroup for controller {controller:?} in /proc/self/cgroup"
        ))
    })
}

pub fn own_cgroup_in(text: &str, controller: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let mut it = l.splitn(3, ':');
        let _id = it.next()?;
        let ctrls = it.next()?;
        let path = it.next()?;
        let hit = if controller.is_empty() {
            ctrls.is_empty()
        } else {
            ctrls.split(',').any(|c| c == controller)
        };
        hit.then(|| path.to_string())
    })
}

/// The directory for cgroup `path` in a hierarchy mounted at `mount`: absolute paths hang off
/// the mount point; relative ones off this process's own cgroup (like runc).
pub fn resolve(mount: &CgroupMount, path: &str, own: Option<&str>) -> PathBuf {
    match own {
        None => mount.mount_point.join(path.trim_start_matches('/')),
        Some(own) => {
            // Our cgroup is reported relative to the hierarchy root; the mount may show a subtree.
            let rel = own
                .strip_prefix(mount.root.as_str())
                .unwrap_or(own)
                .trim_start_matches('/');
            mount.mount_point.join(rel).join(path)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
50 23 0:40 / /mnt/with\\040space rw - ext4 /dev/sda rw
";

    #[test]
    fn parses_hybrid_mountinfo() {
        let m = parse_mountinfo(HYBRID);
        assert_eq!(m.hierarchy(), Hierarchy::Hybrid);
        assert_eq!(m.v1.len(), 2, "{m:?}");
        let cpu = m.v1_mount("cpuacct").unwrap();
        assert_eq!(cpu.mount_point, Path::new("/sys/fs/cgroup/cpu,cpuacct"));
        assert_eq!(cpu.controllers, vec!["cpu", "cpuacct"]);
        assert!(m.v1_mount("name=systemd").is_none());
        assert_eq!(m.named.len(), 1, "{m:?}");
        assert_eq!(m.named[0].controllers, vec!["name=systemd"]);
        assert_eq!(m.named[0].mount_point, Path::new("/sys/fs/cgroup/systemd"));
        assert_eq!(
            m.v2.as_ref().unwrap().mount_point,
            Path::new("/sys/fs/cgroup/unified")
        );
    }

    #[test]
    fn detects_unified_and_legacy() {
        let m = parse_mountinfo("1 2 0:1 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n");
        assert_eq!(m.hierarchy(), Hierarchy::Unified);
        let m = parse_mountinfo("1 2 0:1 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n");
        assert_eq!(m.hierarchy(), Hierarchy::Legacy);
    }

    #[test]
    fn unescapes_octal() {
        assert_eq!(unescape("/a\\040b"), "/a b");
        assert_eq!(unescape("/plain"), "/plain");
    }

    #[test]
    fn resolves_absolute_and_relative_paths() {
        let mount = CgroupMount {
            mount_point: "/sys/fs/cgroup/memory".into(),
            root: "/".into(),
            controllers: vec!["memory".into()],
        };
        assert_eq!(
            resolve(&mount, "/berth/x", None),
            Path::new("/sys/fs/cgroup/memory/berth/x")
        );
        assert_eq!(
            resolve(&mount, "x", Some("/user.slice/sess")),
            Path::new("/sys/fs/cgroup/memory/user.slice/sess/x")
        );
        // Inside a cgroup namespace the mount root is a subtree of the hierarchy.
        let nsmount = CgroupMount {
            root: "/outer".into(),
            ..mount
        };
        assert_eq!(
            resolve(&nsmount, "x", Some("/outer/me")),
            Path::new("/sys/fs/cgroup/memory/me/x")
        );
        let text =
            "4:memory:/process_api/abc\n1:cpu,cpuacct:/\n2:name=systemd:/u\n0::/init.scope\n";
        assert_eq!(
            own_cgroup_in(text, "memory").as_deref(),
            Some("/process_api/abc")
        );
        assert_eq!(own_cgroup_in(text, "cpuacct").as_deref(), Some("/"));
        assert_eq!(own_cgroup_in(text, "name=systemd").as_deref(), Some("/u"));
        assert_eq!(own_cgroup_in(text, "").as_deref(), Some("/init.scope"));
        assert_eq!(own_cgroup_in(text, "pids"), None);
    }
}
