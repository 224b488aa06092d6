//! `cp` between the host and a container's rootfs.
//!
//! Every path inside the container is resolved from a directory fd of the rootfs with
//! `openat2(RESOLVE_IN_ROOT)`, and every entry below it is opened with `*at(.., O_NOFOLLOW)` on
//! its parent's fd. A symlink (absolute, climbing with `..`, or swapped in by the running
//! container while the copy runs — the symlink-exchange race of CVE-2018-15664) therefore
//! resolves inside the container and never reaches a host file. Device nodes, FIFOs and sockets
//! are archived from their stat alone and never opened (a container may mknod the host's disk).
//!
//! Into the container, the tar goes through the storage crate's path-safe unpacker into a
//! staging directory made inside the destination (same filesystem), then its entries are renamed
//! into place: hard links resolve within the tar or the destination directory, and a bad tar (a
//! hard link to a missing or outside file, a truncated stream, a name climbing out) leaves
//! nothing behind.

use crate::{Error, PathStat, Result};
use rustix::fs::{self as rfs, FileType, Mode, OFlags, ResolveFlags};
use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use storage::fsutil;

const IN_ROOT: ResolveFlags = ResolveFlags::IN_ROOT.union(ResolveFlags::NO_MAGICLINKS);
const PATH_FLAGS: OFlags = OFlags::PATH.union(OFlags::CLOEXEC);

/// A container path lexically cleaned (`.`, `..` and repeated `/` folded, as Go's
/// `filepath.Clean` in Docker) into its components, plus whether it names a directory to
/// resolve whole ("/", "x/", "x/.": the last element is followed even when it is a symlink).
fn split(path: &str) -> (Vec<&OsStr>, bool) {
    let mut comps: Vec<&OsStr> = Vec::new();
    for c in path.as_bytes().split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                comps.pop();
            }
            c => comps.push(OsStr::from_bytes(c)),
        }
    }
    let whole = comps.is_empty() || path.ends_with('/') || path.ends_with("/.") || path == ".";
    (comps, whole)
}

fn rel_of(comps: &[&OsStr]) -> PathBuf {
    let mut p = PathBuf::from(".");
    for c in comps {
        p.push(c);
    }
    p
}

fn not_found(path: &str) -> Error {
    Error::InvalidArgument(format!("Could not find the file {path} in container"))
}

fn lookup_err(path: &str) -> impl FnOnce(rustix::io::Errno) -> Error + '_ {
    move |e| match e {
        rustix::io::Errno::NOENT | rustix::io::Errno::NOTDIR => not_found(path),
        e => Error::Io {
            context: format!("resolving {path} in the container"),
            source: e.into(),
        },
    }
}

/// An `O_PATH` fd of `path` in the container and its stat. The last element is followed only
/// with `follow` (`cp -L`) or a trailing `/`; symlinks before it always are, inside the root.
struct Node {
    fd: OwnedFd,
    st: rfs::Stat,
    /// The last element of the path as given ("." for the root).
    name: OsString,
}

fn open_node(root: BorrowedFd<'_>, path: &str, follow: bool) -> Result<Node> {
    let (comps, whole) = split(path);
    let name = comps
        .last()
        .map_or_else(|| ".".into(), |c| c.to_os_string());
    let fd = if whole || follow {
        rfs::openat2(root, rel_of(&comps), PATH_FLAGS, Mode::empty(), IN_ROOT)
            .map_err(lookup_err(path))?
    } else {
        let parent = rfs::openat2(
            root,
            rel_of(&comps[..comps.len() - 1]),
            PATH_FLAGS | OFlags::DIRECTORY,
            Mode::empty(),
            IN_ROOT,
        )
        .map_err(lookup_err(path))?;
        rfs::openat(&parent, &name, PATH_FLAGS | OFlags::NOFOLLOW, Mode::empty())
            .map_err(lookup_err(path))?
    };
    let st = rfs::fstat(&fd).map_err(lookup_err(path))?;
    Ok(Node { fd, st, name })
}

fn file_type(st: &rfs::Stat) -> FileType {
    FileType::from_raw_mode(st.st_mode)
}

/// The target of the symlink an `O_PATH|O_NOFOLLOW` fd refers to.
fn link_target(fd: BorrowedFd<'_>) -> io::Result<PathBuf> {
    let t = rfs::readlinkat(fd, "", Vec::new())?;
    Ok(PathBuf::from(OsStr::from_bytes(t.as_bytes())))
}

pub fn stat_in(root: &Path, path: &str, follow: bool) -> Result<PathStat> {
    let rootfd =
        fsutil::open_dir(root).map_err(Error::io(format!("opening {}", root.display())))?;
    let n = open_node(rootfd.as_fd(), path, follow)?;
    let ft = file_type(&n.st);
    let link_target = if ft == FileType::Symlink {
        link_target(n.fd.as_fd())
            .map(|l| l.display().to_string())
            .unwrap_or_default()
    } else {
        String::new()
    };
    Ok(PathStat {
        name: if n.name == "." {
            "/".into()
        } else {
            n.name.to_string_lossy().into_owned()
        },
        size: n.st.st_size as u64,
        mode: n.st.st_mode,
        is_dir: ft == FileType::Directory,
        link_target,
    })
}

/// Writes a tar of `path` (its last element as the top entry, like `docker cp CTR:path -`).
/// With `follow` (`-L`) a symlink given as `path` is replaced by what it points to inside the
/// container; symlinks inside a copied tree stay symlinks; files hard-linked within the tree
/// become hard-link entries.
pub fn copy_out(root: &Path, path: &str, follow: bool, w: &mut dyn Write) -> Result<PathStat> {
    let st = stat_in(root, path, follow)?;
    let rootfd =
        fsutil::open_dir(root).map_err(Error::io(format!("opening {}", root.display())))?;
    let n = open_node(rootfd.as_fd(), path, follow)?;
    let mut b = tar::Builder::new(w);
    let mut walker = Walker {
        links: HashMap::new(),
    };
    walker
        .append(&mut b, n.fd, &n.st, Path::new(&n.name))
        .map_err(Error::io(format!("archiving {path}")))?;
    b.finish().map_err(Error::io("writing tar"))?;
    Ok(st)
}

struct Walker {
    /// (dev, ino) of files with several links already archived → their name in the tar.
    links: HashMap<(u64, u64), PathBuf>,
}

impl Walker {
    fn append<W: Write>(
        &mut self,
        b: &mut tar::Builder<W>,
        fd: OwnedFd,
        st: &rfs::Stat,
        name: &Path,
    ) -> io::Result<()> {
        let mut h = tar::Header::new_gnu();
        h.set_mode(st.st_mode & 0o7777);
        h.set_uid(st.st_uid as u64);
        h.set_gid(st.st_gid as u64);
        h.set_mtime(st.st_mtime.max(0) as u64);
        h.set_size(0);
        match file_type(st) {
            FileType::Directory => {
                h.set_entry_type(tar::EntryType::Directory);
                b.append_data(&mut h, name, io::empty())?;
                let dir = rfs::openat(
                    &fd,
                    ".",
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                )?;
                for child in fsutil::list_dir(dir.as_fd())? {
                    let cfd = match rfs::openat(
                        &dir,
                        &child,
                        PATH_FLAGS | OFlags::NOFOLLOW,
                        Mode::empty(),
                    ) {
                        Ok(f) => f,
                        // Removed meanwhile by the running container.
                        Err(rustix::io::Errno::NOENT) => continue,
                        Err(e) => return Err(e.into()),
                    };
                    let cst = rfs::fstat(&cfd)?;
                    self.append(b, cfd, &cst, &name.join(&child))?;
                }
            }
            FileType::RegularFile => {
                let key = (st.st_dev, st.st_ino);
                if st.st_nlink > 1 {
                    if let Some(first) = self.links.get(&key) {
                        h.set_entry_type(tar::EntryType::Link);
                        return b.append_link(&mut h, name, first);
                    }
                    self.links.insert(key, name.to_path_buf());
                }
                // The O_PATH fd is reopened for reading through its magic link: the same inode,
                // whatever the path now names.
                let f = std::fs::File::open(format!("/proc/self/fd/{}", fd.as_raw_fd()))?;
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(st.st_size as u64);
                let size = st.st_size as u64;
                // Exactly the stat's size, even if the container writes to the file meanwhile.
                b.append_data(
                    &mut h,
                    name,
                    Exact {
                        r: f.take(size),
                        left: size,
                    },
                )?;
            }
            FileType::Symlink => {
                h.set_entry_type(tar::EntryType::Symlink);
                let target = link_target(fd.as_fd())?;
                b.append_link(&mut h, name, target)?;
            }
            ft @ (FileType::CharacterDevice | FileType::BlockDevice | FileType::Fifo) => {
                h.set_entry_type(match ft {
                    FileType::CharacterDevice => tar::EntryType::Char,
                    FileType::BlockDevice => tar::EntryType::Block,
                    _ => tar::EntryType::Fifo,
                });
                if ft != FileType::Fifo {
                    h.set_device_major(rfs::major(st.st_rdev))?;
                    h.set_device_minor(rfs::minor(st.st_rdev))?;
                }
                b.append_data(&mut h, name, io::empty())?;
            }
            // Sockets (and anything else) are skipped, as Docker's archiver does.
            _ => {}
        }
        Ok(())
    }
}

/// Reads `r` and pads with zeros up to `left` bytes (a file that shrank while archived).
struct Exact<R> {
    r: R,
    left: u64,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let max = buf.len().min(self.left.min(usize::MAX as u64) as usize);
        let n = match self.r.read(&mut buf[..max])? {
            0 => {
                buf[..max].fill(0);
                max
            }
            n => n,
        };
        self.left -= n as u64;
        Ok(n)
    }
}

/// Extracts `tar` into the directory `path` of the container (resolved inside the root; a
/// symlink there is followed within the container, as Docker does).
pub fn copy_in(root: &Path, path: &str, tar: &mut dyn Read) -> Result<()> {
    let rootfd =
        fsutil::open_dir(root).map_err(Error::io(format!("opening {}", root.display())))?;
    let (comps, _) = split(path);
    let dest = match fsutil::open_dir_in(rootfd.as_fd(), &rel_of(&comps)) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Err(not_found(path)),
        Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => {
            return Err(Error::InvalidArgument(format!(
                "extraction point is not a directory: {path}"
            )))
        }
        Err(e) => return Err(Error::io(format!("resolving {path} in the container"))(e)),
    };
    let staging = Staging::new(dest.as_fd())?;
    // The unpacker opens its root by path: the magic link names exactly the staging directory.
    let at = PathBuf::from(format!("/proc/self/fd/{}", staging.fd.as_raw_fd()));
    // Hard links resolve among the tar's entries, else to files already in the destination
    // (inside it, as Docker's breakout check requires).
    storage::unpack::apply_plain(tar, &at, dest.as_fd())
        .map_err(|e| Error::InvalidArgument(format!("extracting into {path}: {e}")))?;
    let shown = Path::new("/").join(rel_of(&comps));
    check_merge(staging.fd.as_fd(), dest.as_fd(), &shown)?;
    merge(staging.fd.as_fd(), dest.as_fd()).map_err(Error::io(format!("copying into {path}")))?;
    Ok(())
}

/// A fresh directory inside the destination, removed with whatever is left in it on drop.
struct Staging<'a> {
    parent: BorrowedFd<'a>,
    name: OsString,
    fd: OwnedFd,
}

impl<'a> Staging<'a> {
    fn new(parent: BorrowedFd<'a>) -> Result<Staging<'a>> {
        let err = Error::io("creating the staging directory for cp");
        let name: OsString = format!(".berth-cp-{:016x}", rand::random::<u64>()).into();
        rfs::mkdirat(parent, &name, Mode::from_raw_mode(0o700)).map_err(|e| err(e.into()))?;
        let fd = rfs::openat(
            parent,
            &name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        );
        match fd {
            Ok(fd) => Ok(Staging { parent, name, fd }),
            Err(e) => {
                let _ = fsutil::remove_all_at(parent, &name);
                Err(Error::io("opening the staging directory for cp")(e.into()))
            }
        }
    }
}

impl Drop for Staging<'_> {
    fn drop(&mut self) {
        let _ = fsutil::remove_all_at(self.parent, &self.name);
    }
}

fn is_dir(st: &rfs::Stat) -> bool {
    file_type(st) == FileType::Directory
}

fn open_subdir(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<OwnedFd> {
    Ok(rfs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// Refuses, before anything moves, what Docker's untar refuses midway (`cp` sends
/// NoOverwriteDirNonDir): a directory over a non-directory and the reverse.
fn check_merge(src: BorrowedFd<'_>, dst: BorrowedFd<'_>, shown: &Path) -> Result<()> {
    let io_err = |e: io::Error| Error::io(format!("checking {}", shown.display()))(e);
    for n in fsutil::list_dir(src).map_err(io_err)? {
        let s = fsutil::lstat_at(src, &n).map_err(io_err)?;
        let d = fsutil::lstat_at(dst, &n).map_err(io_err)?;
        let (Some(s), Some(d)) = (s, d) else { continue };
        let p = shown.join(&n);
        match (is_dir(&s), is_dir(&d)) {
            (true, true) => {
                let sd = open_subdir(src, &n).map_err(io_err)?;
                let dd = open_subdir(dst, &n).map_err(io_err)?;
                check_merge(sd.as_fd(), dd.as_fd(), &p)?;
            }
            (true, false) => {
                return Err(Error::InvalidArgument(format!(
                    "cannot overwrite non-directory {:?} with directory {:?}",
                    p.display().to_string(),
                    p.display().to_string()
                )))
            }
            (false, true) => {
                return Err(Error::InvalidArgument(format!(
                    "cannot overwrite directory {:?} with non-directory {:?}",
                    p.display().to_string(),
                    p.display().to_string()
                )))
            }
            (false, false) => {}
        }
    }
    Ok(())
}

/// Moves the staged entries into `dst`: existing directories are merged, anything else is
/// replaced by rename (atomic per entry).
fn merge(src: BorrowedFd<'_>, dst: BorrowedFd<'_>) -> io::Result<()> {
    for n in fsutil::list_dir(src)? {
        let s = fsutil::lstat_at(src, &n)?;
        let d = fsutil::lstat_at(dst, &n)?;
        if let (Some(s), Some(d)) = (&s, &d) {
            if is_dir(s) && is_dir(d) {
                let sd = open_subdir(src, &n)?;
                let dd = open_subdir(dst, &n)?;
                merge(sd.as_fd(), dd.as_fd())?;
                continue;
            }
        }
        rfs::renameat(src, &n, dst, &n)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_cleans_and_marks_whole_paths() {
        let s = |p: &str| {
            let (c, w) = split(p);
            (
                c.iter()
                    .map(|c| c.to_string_lossy().into_owned())
                    .collect::<Vec<_>>(),
                w,
            )
        };
        assert_eq!(s("/"), (vec![], true));
        assert_eq!(s("/a/b"), (vec!["a".into(), "b".into()], false));
        assert_eq!(s("/a/b/"), (vec!["a".into(), "b".into()], true));
        assert_eq!(s("/a/b/."), (vec!["a".into(), "b".into()], true));
        assert_eq!(
            s("../../a//./c/../b"),
            (vec!["a".into(), "b".into()], false)
        );
        assert_eq!(s("/.."), (vec![], true));
    }

    #[test]
    fn exact_pads_a_shrunk_file() {
        let mut r = Exact {
            r: &b"ab"[..],
            left: 5,
        };
        let mut v = Vec::new();
        r.read_to_end(&mut v).unwrap();
        assert_eq!(v, b"ab\0\0\0");
    }

    /// A host file the hostile paths below aim at; removed on drop.
    struct Canary(PathBuf);
    impl Canary {
        fn new() -> Canary {
            let p = PathBuf::from(format!("/tmp/berth-canary-{:016x}", rand::random::<u64>()));
            std::fs::write(&p, "HOST SECRET\n").unwrap();
            Canary(p)
        }
        fn assert_untouched(&self) {
            use std::os::unix::fs::MetadataExt;
            assert_eq!(std::fs::read_to_string(&self.0).unwrap(), "HOST SECRET\n");
            assert_eq!(
                std::fs::metadata(&self.0).unwrap().nlink(),
                1,
                "linked from elsewhere"
            );
        }
    }
    impl Drop for Canary {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn entries(tar: &[u8]) -> Vec<(String, tar::EntryType, String, Vec<u8>)> {
        let mut a = tar::Archive::new(tar);
        a.entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let name = e.path().unwrap().display().to_string();
                let link = e
                    .link_name()
                    .unwrap()
                    .map(|l| l.display().to_string())
                    .unwrap_or_default();
                let mut data = Vec::new();
                e.read_to_end(&mut data).unwrap();
                (name, e.header().entry_type(), link, data)
            })
            .collect()
    }

    fn tar_of(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        build(&mut b);
        b.into_inner().unwrap()
    }

    fn file(b: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8]) {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, data).unwrap();
    }

    fn hardlink(b: &mut tar::Builder<Vec<u8>>, name: &str, target: &str) {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Link);
        h.set_size(0);
        h.set_mode(0o644);
        b.append_link(&mut h, name, target).unwrap();
    }

    fn listing(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn copy_out_follow_resolves_the_link_inside_the_root() {
        let canary = Canary::new();
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        // /link -> the canary's absolute host path; the container has its own file there.
        std::os::unix::fs::symlink(&canary.0, root.join("link")).unwrap();
        std::fs::create_dir_all(root.join("tmp")).unwrap();
        let inside = root.join(canary.0.strip_prefix("/").unwrap());
        std::fs::write(&inside, "container's\n").unwrap();
        let mut out = Vec::new();
        copy_out(root, "/link", true, &mut out).unwrap();
        let e = entries(&out);
        assert_eq!(e.len(), 1);
        assert_eq!((e[0].0.as_str(), e[0].1), ("link", tar::EntryType::Regular));
        assert_eq!(e[0].3, b"container's\n");
        // Without -L the link itself.
        let mut out = Vec::new();
        copy_out(root, "/link", false, &mut out).unwrap();
        let e = entries(&out);
        assert_eq!(e[0].1, tar::EntryType::Symlink);
        assert_eq!(e[0].2, canary.0.display().to_string());
        // The container's file gone: not found, never the host's.
        std::fs::remove_file(&inside).unwrap();
        let err = copy_out(root, "/link", true, &mut Vec::new()).unwrap_err();
        assert!(
            err.to_string().contains("Could not find the file /link"),
            "{err}"
        );
        // A relative climb and a link in the middle resolve inside too.
        std::os::unix::fs::symlink("../../../../../../../tmp", root.join("up")).unwrap();
        std::fs::write(&inside, "again\n").unwrap();
        let name = canary.0.file_name().unwrap().to_str().unwrap();
        let mut out = Vec::new();
        copy_out(root, &format!("/up/{name}"), false, &mut out).unwrap();
        assert_eq!(entries(&out)[0].3, b"again\n");
        canary.assert_untouched();
    }

    #[test]
    fn copy_out_keeps_symlinks_and_hard_links_and_never_opens_devices() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join("dir/sub")).unwrap();
        std::fs::write(root.join("dir/a"), "a\n").unwrap();
        std::fs::hard_link(root.join("dir/a"), root.join("dir/sub/b")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", root.join("dir/l")).unwrap();
        // A block device of the host's root disk: archived from its stat, never read.
        let dev = std::fs::metadata("/")
            .map(|m| std::os::unix::fs::MetadataExt::dev(&m))
            .unwrap();
        rfs::mknodat(
            rfs::CWD,
            root.join("dir/disk"),
            FileType::BlockDevice,
            Mode::from_raw_mode(0o600),
            dev,
        )
        .unwrap();
        let mut out = Vec::new();
        copy_out(root, "/dir/", false, &mut out).unwrap();
        let e = entries(&out);
        let names: Vec<_> = e.iter().map(|e| (e.0.as_str(), e.1)).collect();
        assert_eq!(
            names,
            [
                ("dir", tar::EntryType::Directory),
                ("dir/a", tar::EntryType::Regular),
                ("dir/disk", tar::EntryType::Block),
                ("dir/l", tar::EntryType::Symlink),
                ("dir/sub", tar::EntryType::Directory),
                ("dir/sub/b", tar::EntryType::Link),
            ]
        );
        assert_eq!(e[2].3, b"", "the device's content is never read");
        assert_eq!(e[3].2, "/etc/passwd");
        assert_eq!(e[5].2, "dir/a");
    }

    #[test]
    fn copy_in_hard_links_stay_inside_and_bad_tars_leave_nothing() {
        use std::os::unix::fs::MetadataExt;
        let canary = Canary::new();
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join("dest/old")).unwrap();
        let abs = canary.0.display().to_string();
        let rel = format!("../../../../../../..{abs}");
        for target in [abs.as_str(), rel.as_str(), "missing"] {
            let t = tar_of(|b| {
                file(b, "first", b"1\n");
                hardlink(b, "evil", target);
            });
            let err = copy_in(root, "/dest", &mut &t[..]).unwrap_err();
            let msg = err.to_string();
            assert!(
                msg.contains("hard link") || msg.contains("escapes"),
                "{target}: {err}"
            );
            assert_eq!(
                listing(&root.join("dest")),
                ["old"],
                "{target}: half-extracted"
            );
        }
        // A symlink then a hard link through it: the link resolves inside the staging tree.
        let t = tar_of(|b| {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            b.append_link(&mut h, "tmp", "/tmp").unwrap();
            hardlink(
                b,
                "evil",
                &format!("tmp/{}", canary.0.file_name().unwrap().to_str().unwrap()),
            );
        });
        assert!(copy_in(root, "/dest", &mut &t[..]).is_err());
        assert_eq!(listing(&root.join("dest")), ["old"]);
        // A truncated stream.
        let mut t = tar_of(|b| {
            file(b, "x", b"x\n");
            file(b, "big", &[7u8; 5000]);
        });
        t.truncate(2048);
        assert!(copy_in(root, "/dest", &mut &t[..]).is_err());
        assert_eq!(listing(&root.join("dest")), ["old"]);
        // A directory over a file (and the reverse) is refused before anything moves.
        std::fs::write(root.join("dest/file"), "f").unwrap();
        let t = tar_of(|b| {
            file(b, "new", b"n");
            file(b, "file/x", b"x");
        });
        let err = copy_in(root, "/dest", &mut &t[..]).unwrap_err();
        assert!(
            err.to_string().contains("cannot overwrite non-directory"),
            "{err}"
        );
        let t = tar_of(|b| file(b, "old", b"x"));
        let err = copy_in(root, "/dest", &mut &t[..]).unwrap_err();
        assert!(
            err.to_string().contains("cannot overwrite directory"),
            "{err}"
        );
        assert_eq!(listing(&root.join("dest")), ["file", "old"]);
        // A link to a file already in the destination is made (Docker's untar does); one to
        // a file of the container outside the destination is not.
        std::fs::write(root.join("outside"), "o").unwrap();
        let t = tar_of(|b| hardlink(b, "bad", "../outside"));
        assert!(copy_in(root, "/dest", &mut &t[..]).is_err());
        let t = tar_of(|b| hardlink(b, "file2", "file"));
        copy_in(root, "/dest", &mut &t[..]).unwrap();
        assert_eq!(
            std::fs::metadata(root.join("dest/file2")).unwrap().ino(),
            std::fs::metadata(root.join("dest/file")).unwrap().ino()
        );
        std::fs::remove_file(root.join("dest/file2")).unwrap();
        // Internal hard links are kept as hard links, merged into an existing directory.
        let t = tar_of(|b| {
            file(b, "old/a", b"a\n");
            hardlink(b, "old/b", "old/a");
            hardlink(b, "c", "old/a");
        });
        copy_in(root, "/dest", &mut &t[..]).unwrap();
        assert_eq!(listing(&root.join("dest")), ["c", "file", "old"]);
        let ino = |p: &str| std::fs::metadata(root.join(p)).unwrap().ino();
        assert_eq!(ino("dest/old/a"), ino("dest/old/b"));
        assert_eq!(ino("dest/old/a"), ino("dest/c"));
        assert_eq!(std::fs::read_to_string(root.join("dest/c")).unwrap(), "a\n");
        canary.assert_untouched();
    }

    #[test]
    fn copy_in_resolves_the_destination_inside_the_root() {
        let canary = Canary::new();
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        let hostdir = canary.0.parent().unwrap();
        std::fs::create_dir_all(root.join("etc")).unwrap();
        // /to-etc -> /etc, /to-tmp -> the host's /tmp by absolute path, /up -> ../../..
        std::os::unix::fs::symlink("/etc", root.join("to-etc")).unwrap();
        std::os::unix::fs::symlink(hostdir, root.join("to-tmp")).unwrap();
        std::os::unix::fs::symlink("../../../../../..", root.join("up")).unwrap();
        let name = canary.0.file_name().unwrap().to_str().unwrap().to_string();
        let t = tar_of(|b| file(b, &name, b"overwritten\n"));
        copy_in(root, "/to-etc/", &mut &t[..]).unwrap();
        assert_eq!(
            std::fs::read_to_string(root.join("etc").join(&name)).unwrap(),
            "overwritten\n"
        );
        let err = copy_in(root, "/to-tmp", &mut &t[..]).unwrap_err();
        assert!(err.to_string().contains("Could not find"), "{err}");
        std::fs::create_dir_all(root.join(hostdir.strip_prefix("/").unwrap())).unwrap();
        copy_in(root, "/to-tmp", &mut &t[..]).unwrap();
        copy_in(root, "/up/tmp", &mut &t[..]).unwrap();
        assert!(root.join(canary.0.strip_prefix("/").unwrap()).is_file());
        // A symlink replacing an existing file in the tree is replaced, not written through.
        std::fs::remove_file(root.join("etc").join(&name)).unwrap();
        std::os::unix::fs::symlink(&canary.0, root.join("etc").join(&name)).unwrap();
        copy_in(root, "/etc", &mut &t[..]).unwrap();
        assert!(!root.join("etc").join(&name).is_symlink());
        canary.assert_untouched();
    }
}
