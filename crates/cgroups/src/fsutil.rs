//! Small, syscall-frugal helpers for cgroupfs files. Every error names the file (and the value
//! for writes), so a rejected limit tells the user exactly what the kernel refused.

use crate::{Error, Result};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Writes `value` to `dir/file` in a single write(2) (cgroupfs writes are all-or-nothing).
pub(crate) fn write(dir: &Path, file: &str, value: &str) -> Result<()> {
    let path = dir.join(file);
    let res = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(&path)
        .and_then(|mut f| f.write_all(value.as_bytes()));
    res.map_err(|source| Error::Write {
        path: path.display().to_string(),
        value: value.to_string(),
        source: if source.kind() == ErrorKind::NotFound && !dir.exists() {
            source
        } else if source.kind() == ErrorKind::NotFound {
            std::io::Error::new(
                source.kind(),
                format!("{source} (is the controller available and enabled for this cgroup?)"),
            )
        } else {
            source
        },
    })
}

/// Like `write`, but a missing file is reported as `Ok(false)` (optional controller features).
pub(crate) fn write_if_exists(dir: &Path, file: &str, value: &str) -> Result<bool> {
    match write(dir, file, value) {
        Ok(()) => Ok(true),
        Err(Error::Write { source, .. }) if source.kind() == ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

pub(crate) fn read(dir: &Path, file: &str) -> Result<String> {
    read_path(&dir.join(file))
}

pub(crate) fn read_path(path: &Path) -> Result<String> {
    let mut s = String::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_string(&mut s))
        .map_err(|source| io_err(path, source))?;
    Ok(s)
}

/// Reads a file that may legitimately be absent (controller or kernel feature missing).
pub(crate) fn read_opt(dir: &Path, file: &str) -> Result<Option<String>> {
    match read(dir, file) {
        Ok(s) => Ok(Some(s)),
        Err(Error::Io { source, .. }) if source.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Parses a single-number file; "max" (v2) reads as u64::MAX.
pub(crate) fn read_u64(dir: &Path, file: &str) -> Result<Option<u64>> {
    Ok(read_opt(dir, file)?.map(|s| parse_u64(s.trim())))
}

pub(crate) fn parse_u64(s: &str) -> u64 {
    if s == "max" {
        u64::MAX
    } else {
        s.parse().unwrap_or(0)
    }
}

/// Looks up `key value` in flat-keyed files (memory.stat, cpu.stat, memory.events, ...).
pub(crate) fn keyed(content: &str, key: &str) -> Option<u64> {
    content.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| parse_u64(v.trim()))
    })
}

pub(crate) fn io_err(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        source,
    }
}

/// `mkdir -p`, returning the directories it actually created (top-down), so callers can
/// initialise only new levels (v1 cpuset). The common case (parent exists) is one mkdir(2).
pub(crate) fn mkdir_p(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut created = Vec::new();
    mkdir_p_inner(dir, &mut created)?;
    Ok(created)
}

fn mkdir_p_inner(dir: &Path, created: &mut Vec<PathBuf>) -> Result<()> {
    match std::fs::create_dir(dir) {
        Ok(()) => {
            created.push(dir.to_path_buf());
            Ok(())
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            let parent = dir.parent().ok_or_else(|| io_err(dir, e))?;
            mkdir_p_inner(parent, created)?;
            match std::fs::create_dir(dir) {
                Ok(()) => {
                    created.push(dir.to_path_buf());
                    Ok(())
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
                Err(e) => Err(io_err(dir, e)),
            }
        }
        Err(e) => Err(io_err(dir, e)),
    }
}

/// Removes a cgroup directory and its descendants leaf-first. cgroup dirs only contain
/// kernel files, which rmdir(2) takes along. EBUSY (tasks still exiting) is retried a few
/// times with a short back-off; ENOENT counts as done.
pub(crate) fn remove_tree(dir: &Path) -> Result<()> {
    // The common case (no child cgroups, no tasks left) is one rmdir.
    match std::fs::remove_dir(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(_) => {}
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err(dir, e)),
    };
    for entry in entries.flatten() {
        if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            remove_tree(&entry.path())?;
        }
    }
    let mut delay = Duration::from_millis(1);
    for attempt in 0.. {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && attempt < 7 => {
                std::thread::sleep(delay);
                delay *= 2;
            }
            Err(e) => {
                return Err(Error::Io {
                    path: dir.display().to_string(),
                    source: if e.raw_os_error() == Some(libc::EBUSY) {
                        std::io::Error::new(
                            e.kind(),
                            format!("{e}: processes are still in the cgroup (kill them first)"),
                        )
                    } else {
                        e
                    },
                });
            }
        }
    }
    unreachable!()
}

/// PIDs listed in `cgroup.procs` of `dir` and of every descendant.
pub(crate) fn walk_procs(dir: &Path, out: &mut Vec<i32>) -> Result<()> {
    match read(dir, "cgroup.procs") {
        Ok(s) => out.extend(s.lines().filter_map(|l| l.trim().parse::<i32>().ok())),
        Err(Error::Io { source, .. }) if source.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                walk_procs(&entry.path(), out)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mkdir_p_reports_created_levels_and_remove_tree_cleans() {
        let t = tempfile::tempdir().unwrap();
        let leaf = t.path().join("a/b/c");
        let created = mkdir_p(&leaf).unwrap();
        assert_eq!(
            created,
            vec![t.path().join("a"), t.path().join("a/b"), leaf.clone()]
        );
        assert!(mkdir_p(&leaf).unwrap().is_empty());
        std::fs::create_dir(leaf.join("d")).unwrap();
        remove_tree(&t.path().join("a")).unwrap();
        assert!(!t.path().join("a").exists());
        remove_tree(&t.path().join("a")).unwrap();
    }

    #[test]
    fn write_names_file_and_value_and_keyed_parses() {
        let t = tempfile::tempdir().unwrap();
        let err = write(t.path(), "nope", "42").unwrap_err().to_string();
        assert!(err.contains("nope") && err.contains("42"), "{err}");
        assert!(!write_if_exists(t.path(), "nope", "1").unwrap());
        assert_eq!(keyed("a 1\nusage_usec 77\n", "usage_usec"), Some(77));
        assert_eq!(keyed("max_x max\n", "max_x"), Some(u64::MAX));
        assert_eq!(keyed("a 1\n", "b"), None);
    }
}
