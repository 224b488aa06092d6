//! Path-safe filesystem helpers: every operation inside a layer goes through a directory fd of the
//! layer root, `openat2(RESOLVE_IN_ROOT)` for parents and `*at(.., NOFOLLOW)` for final components,
//! so a symlink planted by a (malicious) layer can never redirect a write outside the layer.

use crate::{Error, Result};
use rustix::fs::{self as rfs, openat2, AtFlags, Dir, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;
use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

const IN_ROOT: ResolveFlags = ResolveFlags::IN_ROOT.union(ResolveFlags::NO_MAGICLINKS);

/// Lexically cleans a tar member name into a relative path (leading `/` stripped, `.` dropped,
/// `..` folded). A name whose `..` climbs above the root is rejected, like Docker's breakout check.
pub fn clean_rel(name: &[u8]) -> Result<PathBuf> {
    let mut out: Vec<&[u8]> = Vec::new();
    for comp in name.split(|b| *b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => {
                if out.pop().is_none() {
                    return Err(Error::InvalidLayer(format!(
                        "path {:?} escapes the layer root",
                        String::from_utf8_lossy(name)
                    )));
                }
            }
            c => out.push(c),
        }
    }
    let mut p = PathBuf::new();
    for c in out {
        p.push(OsStr::from_bytes(c));
    }
    Ok(p)
}

/// Modes that keep the store to root (the CVE-2021-41091 class; Docker 20.10's): the root and
/// a driver's home and its layer dirs 0710, `image/` 0700. What is inside may keep its own
/// modes: nobody else can reach it.
pub const ROOT_MODE: u32 = 0o710;
pub const LAYERS_MODE: u32 = 0o710;
pub const IMAGE_MODE: u32 = 0o700;

/// Creates `dir` and its missing parents with `mode` (the umask can only take bits away); an
/// existing one is left as it is.
pub fn mkdir_mode(dir: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(dir)
}

/// Creates the one directory `dir` with `mode` (AlreadyExists if it is there).
pub fn mkdir_one(dir: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().mode(mode).create(dir)
}

pub fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    Ok(rfs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

fn dot(p: &Path) -> &Path {
    if p.as_os_str().is_empty() {
        Path::new(".")
    } else {
        p
    }
}

/// Opens directory `rel` resolved inside `root` (symlinks are contained in `root`).
pub fn open_dir_in(root: BorrowedFd<'_>, rel: &Path) -> io::Result<OwnedFd> {
    Ok(openat2(
        root,
        dot(rel),
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
        IN_ROOT,
    )?)
}

/// Opens `rel` inside `root` for reading; the final component is not followed.
pub fn open_file_in(root: BorrowedFd<'_>, rel: &Path) -> io::Result<OwnedFd> {
    Ok(openat2(
        root,
        dot(rel),
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
        IN_ROOT,
    )?)
}

/// Like [`open_dir_in`] but creates missing directories (mode 0755) on the way.
pub fn open_dir_create(root: BorrowedFd<'_>, rel: &Path) -> Result<OwnedFd> {
    match open_dir_in(root, rel) {
        Ok(fd) => return Ok(fd),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(not_dir_err(rel, e)),
    }
    let mut prefix = PathBuf::new();
    let mut fd = open_dir_in(root, Path::new(""))?;
    for comp in rel.components() {
        let Component::Normal(c) = comp else { continue };
        prefix.push(c);
        match open_dir_in(root, &prefix) {
            Ok(f) => fd = f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                match rfs::mkdirat(&fd, c, Mode::from_raw_mode(0o755)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(e.into()),
                }
                // Still missing: `c` is a symlink that points nowhere inside the layer.
                fd = open_dir_in(root, &prefix).map_err(|e| {
                    if e.kind() == io::ErrorKind::NotFound {
                        Error::InvalidLayer(format!("{} is a dangling symlink", prefix.display()))
                    } else {
                        not_dir_err(&prefix, e)
                    }
                })?;
            }
            Err(e) => return Err(not_dir_err(&prefix, e)),
        }
    }
    Ok(fd)
}

fn not_dir_err(rel: &Path, e: io::Error) -> Error {
    if e.raw_os_error() == Some(libc::ENOTDIR) || e.raw_os_error() == Some(libc::ELOOP) {
        Error::InvalidLayer(format!("{} is not a directory", rel.display()))
    } else {
        Error::Io(e)
    }
}

/// Best effort: marks `dir` FS_TOPDIR_FL (ext2/3/4: spread its subdirectories over block
/// groups). Filesystems without the flag are left alone.
pub fn set_topdir(dir: &Path) {
    let Ok(fd) = open_dir(dir) else { return };
    if let Ok(flags) = rfs::ioctl_getflags(&fd) {
        if !flags.contains(rfs::IFlags::TOPDIR) {
            let _ = rfs::ioctl_setflags(&fd, flags | rfs::IFlags::TOPDIR);
        }
    }
}

/// lstat of `name` in `dir`; None if it does not exist.
pub fn lstat_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<Option<rfs::Stat>> {
    match rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st)),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Removes `name` in `dir` recursively without following symlinks. Missing is fine.
pub fn remove_all_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    remove_existing_at(dir, name).map(|_| ())
}

/// Like [`remove_all_at`], and says what kind of file was removed (None: nothing was there).
pub fn remove_existing_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<Option<FileType>> {
    let Some(st) = lstat_at(dir, name)? else {
        return Ok(None);
    };
    let kind = FileType::from_raw_mode(st.st_mode);
    remove_stat(dir, name, &st)?;
    Ok(Some(kind))
}

fn remove_stat(dir: BorrowedFd<'_>, name: &OsStr, st: &rfs::Stat) -> io::Result<()> {
    if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
        let sub = rfs::openat(
            dir,
            name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        empty_dir(sub.as_fd(), |_| true)?;
        match rfs::unlinkat(dir, name, AtFlags::REMOVEDIR) {
            Ok(()) | Err(Errno::NOENT) => Ok(()),
            Err(e) => Err(e.into()),
        }
    } else {
        match rfs::unlinkat(dir, name, AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// Removes every child of `dir` for which `remove(name)` returns true.
pub fn empty_dir(dir: BorrowedFd<'_>, mut remove: impl FnMut(&OsStr) -> bool) -> io::Result<()> {
    for name in list_dir(dir)? {
        if remove(&name) {
            remove_all_at(dir, &name)?;
        }
    }
    Ok(())
}

/// Sorted names in a directory (without `.` and `..`).
pub fn list_dir(dir: BorrowedFd<'_>) -> io::Result<Vec<std::ffi::OsString>> {
    let mut d = Dir::read_from(dir)?;
    let mut names = Vec::new();
    while let Some(ent) = d.read() {
        let ent = ent?;
        let n = ent.file_name().to_bytes();
        if n != b"." && n != b".." {
            names.push(OsStr::from_bytes(n).to_os_string());
        }
    }
    names.sort();
    Ok(names)
}

/// `rm -rf path` (no symlink following); a missing path is fine.
pub fn remove_path(path: &Path) -> io::Result<()> {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(io::Error::other(format!(
            "refusing to remove {}",
            path.display()
        )));
    };
    match open_dir(parent) {
        Ok(p) => remove_all_at(p.as_fd(), name),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Removes every non-directory under `dir` (not following symlinks), leaving its tree of empty
/// directories. Uses the directory entries' types: no stat per file.
pub fn remove_files(dir: BorrowedFd<'_>) -> io::Result<()> {
    // A fresh open file description: reading must not move the caller's offset.
    let own = rfs::openat(
        dir,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    remove_files_owned(own)
}

/// [`remove_files`] on a directory fd it consumes (read with getdents directly: no reopen).
pub fn remove_files_owned(fd: OwnedFd) -> io::Result<()> {
    let dir = fd.as_fd();
    // On the heap: the recursion is as deep as the layer's directory tree.
    let mut buf = vec![std::mem::MaybeUninit::<u8>::uninit(); 4096];
    let mut entries = rfs::RawDir::new(dir, &mut buf);
    let mut subdirs = Vec::new();
    while let Some(ent) = entries.next() {
        let ent = ent?;
        let n = ent.file_name();
        if n.to_bytes() == b"." || n.to_bytes() == b".." {
            continue;
        }
        let is_dir = match ent.file_type() {
            FileType::Directory => true,
            FileType::Unknown => {
                FileType::from_raw_mode(rfs::statat(dir, n, AtFlags::SYMLINK_NOFOLLOW)?.st_mode)
                    == FileType::Directory
            }
            _ => false,
        };
        if is_dir {
            subdirs.push(n.to_owned());
            continue;
        }
        match rfs::unlinkat(dir, n, AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => {}
            Err(e) => return Err(e.into()),
        }
    }
    drop(buf);
    for name in subdirs {
        let sub = rfs::openat(
            dir,
            &name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        remove_files_owned(sub)?;
    }
    Ok(())
}

/// Reads a small file with one read (open, read, close: no stat); larger ones are read whole.
pub fn read_small(path: &Path) -> io::Result<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut buf = [0u8; 512];
    let n = f.read(&mut buf)?;
    let mut v = buf[..n].to_vec();
    if n == buf.len() {
        f.read_to_end(&mut v)?;
    }
    String::from_utf8(v).map_err(|_| io::Error::other(format!("{} is not UTF-8", path.display())))
}

/// Writes a small file atomically (temp + fsync + rename).
pub fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let tmp = path.with_file_name(format!(
        ".tmp-{}-{}",
        path.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(data)?;
    f.sync_data()?;
    std::fs::rename(&tmp, path)
}

/// `/proc/self/fd/N/name`: a path for the xattr calls that have no `*at` form. The parent fd is
/// trusted (opened inside the root); the final component is used with `l*xattr`, not followed.
pub fn fd_path(dir: BorrowedFd<'_>, name: &OsStr) -> PathBuf {
    use std::os::fd::AsRawFd;
    let mut p = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd()));
    p.push(name);
    p
}

/// All xattrs of `path` (not following a final symlink).
pub fn lxattrs(path: &Path) -> io::Result<Vec<(String, Vec<u8>)>> {
    let mut buf = vec![0u8; 4096];
    let n = match rfs::llistxattr(path, &mut buf[..]) {
        Ok(n) => n,
        Err(Errno::NOTSUP) => return Ok(Vec::new()),
        Err(Errno::RANGE) => {
            let need = rfs::llistxattr(path, &mut [0u8; 0][..])?;
            buf.resize(need, 0);
            rfs::llistxattr(path, &mut buf[..])?
        }
        Err(e) => return Err(e.into()),
    };
    let mut out = Vec::new();
    for name in buf[..n].split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let name = String::from_utf8_lossy(name).into_owned();
        if let Some(v) = lgetxattr(path, &name)? {
            out.push((name, v));
        }
    }
    Ok(out)
}

pub fn lgetxattr(path: &Path, name: &str) -> io::Result<Option<Vec<u8>>> {
    let mut v = vec![0u8; 256];
    loop {
        match rfs::lgetxattr(path, name, &mut v[..]) {
            Ok(n) => {
                v.truncate(n);
                return Ok(Some(v));
            }
            Err(Errno::NODATA) | Err(Errno::NOTSUP) => return Ok(None),
            Err(Errno::RANGE) => {
                let need = rfs::lgetxattr(path, name, &mut [0u8; 0][..])?;
                v.resize(need.max(v.len() * 2), 0);
            }
            Err(e) => return Err(e.into()),
        }
    }
}

pub fn is_whiteout(st: &rfs::Stat) -> bool {
    FileType::from_raw_mode(st.st_mode) == FileType::CharacterDevice && st.st_rdev == 0
}

/// Copies a tree preserving modes, owners, times, xattrs, hard links, symlinks and device nodes
/// (the vfs driver's "snapshot"). Regular files are reflinked when the filesystem can.
pub fn copy_tree(src: &Path, dst: &Path) -> io::Result<()> {
    let s = open_dir(src)?;
    std::fs::create_dir_all(dst)?;
    let d = open_dir(dst)?;
    let mut links = std::collections::HashMap::new();
    copy_dir_contents(s.as_fd(), d.as_fd(), &mut links)?;
    copy_meta(
        s.as_fd(),
        d.as_fd(),
        OsStr::new("."),
        &rfs::fstat(&s)?,
        true,
    )
}

type LinkMap = std::collections::HashMap<(u64, u64), (OwnedFd, std::ffi::OsString)>;

fn copy_dir_contents(s: BorrowedFd<'_>, d: BorrowedFd<'_>, links: &mut LinkMap) -> io::Result<()> {
    for name in list_dir(s)? {
        let st = rfs::statat(s, &name, AtFlags::SYMLINK_NOFOLLOW)?;
        let ft = FileType::from_raw_mode(st.st_mode);
        let perm = Mode::from_raw_mode(st.st_mode & 0o7777);
        match ft {
            FileType::Directory => {
                rfs::mkdirat(d, &name, Mode::from_raw_mode(0o700))?;
                let ss = rfs::openat(
                    s,
                    &name,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )?;
                let dd = rfs::openat(
                    d,
                    &name,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )?;
                copy_dir_contents(ss.as_fd(), dd.as_fd(), links)?;
            }
            FileType::RegularFile => {
                let key = (st.st_dev, st.st_ino);
                if st.st_nlink > 1 {
                    if let Some((ldir, lname)) = links.get(&key) {
                        rfs::linkat(ldir, lname, d, &name, AtFlags::empty())?;
                        continue;
                    }
                }
                let sf = rfs::openat(
                    s,
                    &name,
                    OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )?;
                let df = rfs::openat(
                    d,
                    &name,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )?;
                if rfs::ioctl_ficlone(&df, &sf).is_err() {
                    let mut r = std::fs::File::from(sf);
                    let mut w = std::fs::File::from(df);
                    io::copy(&mut r, &mut w)?;
                }
                if st.st_nlink > 1 {
                    links.insert(key, (rustix::io::dup(d)?, name.clone()));
                }
            }
            FileType::Symlink => {
                let target = rfs::readlinkat(s, &name, Vec::new())?;
                rfs::symlinkat(target.as_c_str(), d, &name)?;
            }
            FileType::CharacterDevice
            | FileType::BlockDevice
            | FileType::Fifo
            | FileType::Socket => {
                rfs::mknodat(d, &name, ft, perm, st.st_rdev)?;
            }
            _ => continue,
        }
        copy_meta(s, d, &name, &st, ft == FileType::Directory)?;
    }
    Ok(())
}

fn copy_meta(
    s: BorrowedFd<'_>,
    d: BorrowedFd<'_>,
    name: &OsStr,
    st: &rfs::Stat,
    _dir: bool,
) -> io::Result<()> {
    let ft = FileType::from_raw_mode(st.st_mode);
    rfs::chownat(
        d,
        name,
        Some(rustix::fs::Uid::from_raw(st.st_uid)),
        Some(rustix::fs::Gid::from_raw(st.st_gid)),
        AtFlags::SYMLINK_NOFOLLOW,
    )?;
    for (k, v) in lxattrs(&fd_path(s, name))? {
        set_lxattr(&fd_path(d, name), &k, &v)?;
    }
    if ft != FileType::Symlink {
        rfs::chmodat(
            d,
            name,
            Mode::from_raw_mode(st.st_mode & 0o7777),
            AtFlags::empty(),
        )?;
    }
    let ts = rfs::Timestamps {
        last_access: rfs::Timespec {
            tv_sec: st.st_atime as _,
            tv_nsec: st.st_atime_nsec as _,
        },
        last_modification: rfs::Timespec {
            tv_sec: st.st_mtime as _,
            tv_nsec: st.st_mtime_nsec as _,
        },
    };
    rfs::utimensat(d, name, &ts, AtFlags::SYMLINK_NOFOLLOW)?;
    Ok(())
}

/// Sets an xattr; filesystems without xattr support are tolerated except for file capabilities.
pub fn set_lxattr(path: &Path, key: &str, val: &[u8]) -> io::Result<()> {
    match rfs::lsetxattr(path, key, val, rfs::XattrFlags::empty()) {
        Ok(()) => Ok(()),
        Err(Errno::NOTSUP) | Err(Errno::PERM) if key != "security.capability" => Ok(()),
        Err(e) => Err(io::Error::other(format!(
            "setting xattr {key} on {}: {e}",
            path.display()
        ))),
    }
}

/// statfs magic of the filesystem holding `path`.
pub fn fs_magic(path: &Path) -> io::Result<i64> {
    Ok(rfs::statfs(path)?.f_type as i64)
}

pub const BTRFS_MAGIC: i64 = 0x9123683e;
pub const OVERLAY_MAGIC: i64 = 0x794c7630;

pub fn fs_name(magic: i64) -> &'static str {
    match magic {
        0xEF53 => "extfs",
        0x58465342 => "xfs",
        BTRFS_MAGIC => "btrfs",
        0x01021994 => "tmpfs",
        OVERLAY_MAGIC => "overlayfs",
        0x2fc12fc1 => "zfs",
        _ => "<unknown>",
    }
}
