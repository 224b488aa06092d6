//! Streaming, path-safe layer unpack (tar → directory) with whiteout conversion, plus the
//! "tar-split" record that lets `layer_tar` reproduce the original byte stream (and diff ID).
//!
//! Tar-split format (berth's own, binary): a sequence of records
//! `b'M' u32le len, bytes` (raw tar bytes: headers, PAX/GNU records, padding, trailer) and
//! `b'F' u64le size, u32le len, path` (file content, read back from the layer at `path`).

use crate::fsutil::{self, clean_rel, lstat_at, open_dir_create, open_dir_in, open_file_in};
use crate::{Error, Result};
use rustix::fs::{self as rfs, AtFlags, FileType, Gid, Mode, OFlags, Timespec, Timestamps, Uid};
use sha2::{Digest as _, Sha256};
use std::cell::RefCell;
use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// How whiteouts are applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WhiteoutMode {
    /// overlay2: the layer dir holds only this layer; whiteouts become char 0/0 devices and
    /// opaque markers the `trusted.overlay.opaque` xattr.
    Overlay,
    /// vfs/btrfs: the layer dir is a copy of the parent; whiteouts delete.
    Delete,
    /// Not a layer (`cp` into a container): `.wh.` names are ordinary files, as in Docker's
    /// `Untar`, and hard links must point at entries of the same tar.
    Plain,
}

pub struct Applied {
    pub diff_id: String,
    pub size: u64,
    /// Overlay mode without known parents: hard links to files of the parent layers, created
    /// as empty placeholders; [`resolve_links`] fills them once the parents are known.
    pub deferred_links: Vec<DeferredLink>,
}

/// A hard link whose target is not in the layer itself (overlay: copied up from a parent).
#[derive(Debug, Clone)]
pub struct DeferredLink {
    /// The link's path in the layer (an empty placeholder file until resolved).
    pub path: PathBuf,
    /// The target's path, to look up in the parent layers.
    pub target: PathBuf,
    /// Inode of the placeholder: a later entry of the same tar that replaced it wins.
    ino: u64,
}

/// Wraps a reader sniffing gzip / zstd / plain from the magic bytes.
pub fn decompress<'a>(r: &'a mut dyn Read) -> Result<Box<dyn Read + 'a>> {
    let mut br = BufReader::with_capacity(256 * 1024, r);
    let magic = br.fill_buf()?;
    Ok(if magic.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::bufread::MultiGzDecoder::new(br))
    } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Box::new(zstd::stream::read::Decoder::with_buffer(br)?)
    } else if magic.starts_with(b"BZh") || magic.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        return Err(Error::InvalidLayer(
            "bzip2/xz-compressed layers are not supported; decompress the layer first".into(),
        ));
    } else {
        Box::new(br)
    })
}

struct SplitState {
    out: Option<BufWriter<File>>,
    pending: Vec<u8>,
    skip: (u64, u64),
}

impl SplitState {
    fn flush_meta(&mut self) -> io::Result<()> {
        if let Some(out) = self.out.as_mut() {
            if !self.pending.is_empty() {
                out.write_all(b"M")?;
                out.write_all(&(self.pending.len() as u32).to_le_bytes())?;
                out.write_all(&self.pending)?;
                self.pending.clear();
            }
        }
        Ok(())
    }
}

/// Hashes every uncompressed byte and records non-content bytes for the tar-split.
struct Tap<R> {
    inner: R,
    pos: u64,
    hasher: Sha256,
    st: Rc<RefCell<SplitState>>,
}

impl<R: Read> Read for Tap<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let data = &buf[..n];
        self.hasher.update(data);
        let (start, end) = (self.pos, self.pos + n as u64);
        let mut st = self.st.borrow_mut();
        if st.out.is_some() {
            let (ss, se) = st.skip;
            if ss >= se || end <= ss || start >= se {
                st.pending.extend_from_slice(data);
            } else {
                if start < ss {
                    st.pending.extend_from_slice(&data[..(ss - start) as usize]);
                }
                if end > se {
                    st.pending.extend_from_slice(&data[(se - start) as usize..]);
                }
            }
            if st.pending.len() > 1 << 20 {
                st.flush_meta()?;
            }
        }
        self.pos = end;
        Ok(n)
    }
}

/// Copy buffer for file contents (few large writes instead of many 8 KiB ones).
const COPY_BUF: usize = 1 << 20;

/// Unpacks `tar` (any supported compression) into `root`.
/// `lowers` (overlay only) are the parent layers' dirs, top first, for hard links to lower files;
/// `None` = not known yet: such links are returned in [`Applied::deferred_links`] instead.
pub fn apply(
    tar: &mut dyn Read,
    root: &Path,
    mode: WhiteoutMode,
    lowers: Option<&[PathBuf]>,
    split_out: Option<&Path>,
) -> Result<Applied> {
    apply_with(tar, root, mode, lowers, split_out, None)
}

/// Unpacks a plain tar ([`WhiteoutMode::Plain`]: `cp` into a container) into `root`. A hard link
/// whose target is not among the tar's entries may name a file already under `base` (resolved
/// inside `base`), as Docker's untar links to files already in the destination directory.
pub fn apply_plain(tar: &mut dyn Read, root: &Path, base: BorrowedFd<'_>) -> Result<()> {
    let base = base.try_clone_to_owned()?;
    apply_with(tar, root, WhiteoutMode::Plain, None, None, Some(base)).map(|_| ())
}

fn apply_with(
    tar: &mut dyn Read,
    root: &Path,
    mode: WhiteoutMode,
    lowers: Option<&[PathBuf]>,
    split_out: Option<&Path>,
    base: Option<OwnedFd>,
) -> Result<Applied> {
    let reader = decompress(tar)?;
    let out = match split_out {
        Some(p) => Some(BufWriter::with_capacity(256 * 1024, File::create(p)?)),
        None => None,
    };
    let st = Rc::new(RefCell::new(SplitState {
        out,
        pending: Vec::new(),
        skip: (0, 0),
    }));
    let tap = Tap {
        inner: reader,
        pos: 0,
        hasher: Sha256::new(),
        st: st.clone(),
    };
    let root_fd = fsutil::open_dir(root)?;
    let mut u = Unpacker {
        root: root_fd,
        mode,
        dir_times: Vec::new(),
        created: HashSet::new(),
        size: 0,
        st: st.clone(),
        buf: vec![0u8; COPY_BUF],
        umask: process_umask(),
        euid: rustix::process::geteuid().as_raw(),
        egid: rustix::process::getegid().as_raw(),
        cache: None,
        stale: false,
        deferred: Vec::new(),
        base,
    };
    let mut ar = tar::Archive::new(tap);
    for entry in ar.entries()? {
        let mut e = entry.map_err(bad_tar)?;
        u.entry(&mut e)?;
    }
    let mut tap = ar.into_inner();
    // Trailing bytes after the end-of-archive marker still count for the diff ID.
    io::copy(&mut tap, &mut io::sink())?;
    u.cache = None;
    for (rel, ts) in u.dir_times.iter().rev() {
        if let Ok(fd) = open_dir_in(u.root.as_fd(), rel) {
            rfs::futimens(&fd, ts)?;
        }
    }
    {
        let mut s = st.borrow_mut();
        s.flush_meta()?;
        if let Some(mut out) = s.out.take() {
            // No fsync: the layer's files are not synced either (like Docker); a crash
            // before commit leaves a staging dir that the next open sweeps.
            out.flush()?;
        }
    }
    let mut deferred = std::mem::take(&mut u.deferred);
    if let Some(lowers) = lowers {
        resolve_links(root, lowers, &deferred)?;
        deferred.clear();
    }
    Ok(Applied {
        diff_id: format!("sha256:{}", hex::encode(tap.hasher.finalize())),
        size: u.size,
        deferred_links: deferred,
    })
}

/// The process umask from /proc (reading it with umask(2) would change it for other threads).
fn process_umask() -> Option<u32> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let v = s.lines().find_map(|l| l.strip_prefix("Umask:"))?;
    u32::from_str_radix(v.trim(), 8).ok()
}

fn bad_tar(e: io::Error) -> Error {
    if e.kind() == io::ErrorKind::Other || e.kind() == io::ErrorKind::InvalidData {
        Error::InvalidLayer(format!("malformed tar: {e}"))
    } else {
        Error::Io(e)
    }
}

/// The directory the previous entry went into, kept open: most entries share their parent.
struct DirCache {
    rel: PathBuf,
    fd: OwnedFd,
    /// The group new files get in this directory (the directory's own if it is setgid).
    new_gid: u32,
}

struct Unpacker {
    root: OwnedFd,
    mode: WhiteoutMode,
    dir_times: Vec<(PathBuf, Timestamps)>,
    /// Paths this layer created (Delete mode: an opaque marker keeps them).
    created: HashSet<PathBuf>,
    size: u64,
    st: Rc<RefCell<SplitState>>,
    buf: Vec<u8>,
    /// None: unknown, always chmod.
    umask: Option<u32>,
    euid: u32,
    egid: u32,
    cache: Option<DirCache>,
    /// Set when an entry removed a directory or symlink: a cached directory fd may no longer
    /// be what its path resolves to.
    stale: bool,
    deferred: Vec<DeferredLink>,
    /// Plain mode: where hard-link targets missing from the tar are looked up.
    base: Option<OwnedFd>,
}

struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: Timestamps,
    xattrs: Vec<(String, Vec<u8>)>,
}

fn name_str(p: &Path) -> String {
    p.display().to_string()
}

const CREATE_FILE: OFlags = OFlags::WRONLY
    .union(OFlags::CREATE)
    .union(OFlags::EXCL)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

impl Unpacker {
    fn entry<R: Read>(&mut self, e: &mut tar::Entry<'_, R>) -> Result<()> {
        let etype = e.header().entry_type();
        if matches!(
            etype,
            tar::EntryType::XGlobalHeader
                | tar::EntryType::XHeader
                | tar::EntryType::GNULongName
                | tar::EntryType::GNULongLink
        ) {
            return Ok(());
        }
        let rel = clean_rel(&e.path_bytes())?;
        let Some(name) = rel.file_name().map(|n| n.to_os_string()) else {
            return Ok(()); // the root itself: nothing to create
        };
        let parent = rel.parent().unwrap_or(Path::new("")).to_path_buf();
        let nb = name.as_bytes();
        let whiteout = nb
            .strip_prefix(b".wh.")
            .filter(|_| self.mode != WhiteoutMode::Plain);
        if let Some(target) = whiteout {
            // Whiteouts delete (or hide) whole trees: forget the cached directory.
            self.cache = None;
            if nb == b".wh..wh..opq" {
                return self.opaque(&parent);
            }
            if target.starts_with(b".wh.") {
                return Ok(()); // AUFS metadata (.wh..wh.plnk etc.)
            }
            if target.is_empty() || target == b"." || target == b".." {
                return Err(Error::InvalidLayer(format!(
                    "bad whiteout {}",
                    name_str(&rel)
                )));
            }
            let meta = self.meta(e)?;
            return self.whiteout(&parent, OsStr::from_bytes(target), &meta);
        }
        let meta = self.meta(e)?;
        let dir = self.dir(&parent)?;
        let res = self.entry_in(&dir, e, etype, &rel, &name, &meta);
        if !std::mem::take(&mut self.stale) && res.is_ok() {
            self.cache = Some(dir);
        }
        res
    }

    /// The parent directory of an entry, from the cache or opened (created) inside the root.
    fn dir(&mut self, parent: &Path) -> Result<DirCache> {
        if let Some(c) = self.cache.take() {
            if c.rel == parent {
                return Ok(c);
            }
        }
        let fd = open_dir_create(self.root.as_fd(), parent)?;
        let st = rfs::fstat(&fd)?;
        let new_gid = if st.st_mode & libc::S_ISGID != 0 {
            st.st_gid
        } else {
            self.egid
        };
        Ok(DirCache {
            rel: parent.to_path_buf(),
            fd,
            new_gid,
        })
    }

    /// Removes whatever is at `name` (tracking removals that can invalidate the dir cache).
    fn remove(&mut self, p: BorrowedFd<'_>, name: &OsStr) -> Result<()> {
        match fsutil::remove_existing_at(p, name)? {
            None | Some(FileType::RegularFile) => {}
            Some(_) => self.stale = true,
        }
        Ok(())
    }

    /// Runs `create`; if the name exists already, removes it and runs it once more.
    fn create_at<T>(
        &mut self,
        p: BorrowedFd<'_>,
        name: &OsStr,
        mut create: impl FnMut() -> rustix::io::Result<T>,
    ) -> Result<T> {
        match create() {
            Err(rustix::io::Errno::EXIST) => {
                self.remove(p, name)?;
                Ok(create()?)
            }
            r => Ok(r?),
        }
    }

    /// chown unless a file created by us has those owners already.
    fn needs_chown(&self, dir: &DirCache, m: &Meta) -> bool {
        m.uid != self.euid || m.gid != dir.new_gid
    }

    /// chmod unless creating with `created` (minus the umask) gave the final mode.
    fn needs_chmod(&self, created: u32, m: &Meta) -> bool {
        match self.umask {
            Some(u) => m.mode & 0o7777 != created & !u,
            None => true,
        }
    }

    fn entry_in<R: Read>(
        &mut self,
        dir: &DirCache,
        e: &mut tar::Entry<'_, R>,
        etype: tar::EntryType,
        rel: &Path,
        name: &OsStr,
        meta: &Meta,
    ) -> Result<()> {
        let p = dir.fd.as_fd();
        let mode = Mode::from_raw_mode(meta.mode & 0o7777);
        match etype {
            tar::EntryType::Directory => {
                match lstat_at(p, name)? {
                    Some(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {}
                    Some(_) => {
                        self.remove(p, name)?;
                        rfs::mkdirat(p, name, Mode::from_raw_mode(0o700))?;
                    }
                    None => rfs::mkdirat(p, name, Mode::from_raw_mode(0o700))?,
                }
                let d = rfs::openat(
                    p,
                    name,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )?;
                rfs::fchown(
                    &d,
                    Some(Uid::from_raw(meta.uid)),
                    Some(Gid::from_raw(meta.gid)),
                )?;
                rfs::fchmod(&d, mode)?;
                self.xattrs(p, name, meta)?;
                self.dir_times.push((rel.to_path_buf(), meta.mtime.clone()));
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                // Created with its final permission bits where the umask allows: no chmod.
                let perm = meta.mode & 0o777;
                let f = self.create_at(p, name, || {
                    rfs::openat(p, name, CREATE_FILE, Mode::from_raw_mode(perm))
                })?;
                let size = e.size();
                if size > 0 {
                    let mut st = self.st.borrow_mut();
                    if st.out.is_some() {
                        st.flush_meta()?;
                        let start = e.raw_file_position();
                        let out = st.out.as_mut().expect("checked");
                        let pb = rel.as_os_str().as_bytes();
                        out.write_all(b"F")?;
                        out.write_all(&size.to_le_bytes())?;
                        out.write_all(&(pb.len() as u32).to_le_bytes())?;
                        out.write_all(pb)?;
                        st.skip = (start, start + size);
                    }
                }
                let mut file = File::from(f);
                let n = copy_entry(e, &mut file, &mut self.buf)?;
                if n != size {
                    return Err(Error::InvalidLayer(format!(
                        "{} is truncated",
                        name_str(rel)
                    )));
                }
                self.size += n;
                if self.needs_chown(dir, meta) {
                    rfs::fchown(
                        &file,
                        Some(Uid::from_raw(meta.uid)),
                        Some(Gid::from_raw(meta.gid)),
                    )?;
                }
                // chown clears setuid bits: chmod after it (special bits always take one).
                if self.needs_chmod(perm, meta) {
                    rfs::fchmod(&file, mode)?;
                }
                self.xattrs(p, name, meta)?;
                rfs::futimens(&file, &meta.mtime)?;
            }
            tar::EntryType::Symlink => {
                let target = e
                    .link_name_bytes()
                    .ok_or_else(|| {
                        Error::InvalidLayer(format!("symlink {} has no target", name_str(rel)))
                    })?
                    .into_owned();
                self.create_at(p, name, || {
                    rfs::symlinkat(OsStr::from_bytes(&target), p, name)
                })?;
                self.finish_nonreg(dir, name, meta, None)?;
            }
            tar::EntryType::Link => {
                let target = e.link_name_bytes().ok_or_else(|| {
                    Error::InvalidLayer(format!("hard link {} has no target", name_str(rel)))
                })?;
                let trel = clean_rel(&target)?;
                self.hardlink(p, name, rel, &trel)?;
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let ft = match etype {
                    tar::EntryType::Char => FileType::CharacterDevice,
                    tar::EntryType::Block => FileType::BlockDevice,
                    _ => FileType::Fifo,
                };
                let dev = rfs::makedev(
                    // Empty numeric fields (common for fifos) read as 0, like Go's archive/tar.
                    e.header().device_major().ok().flatten().unwrap_or(0),
                    e.header().device_minor().ok().flatten().unwrap_or(0),
                );
                let perm = meta.mode & 0o777;
                self.create_at(p, name, || {
                    rfs::mknodat(p, name, ft, Mode::from_raw_mode(perm), dev)
                })?;
                self.finish_nonreg(dir, name, meta, Some(perm))?;
            }
            tar::EntryType::GNUSparse => {
                return Err(Error::InvalidLayer(format!(
                    "{}: sparse tar entries are not supported",
                    name_str(rel)
                )))
            }
            _ => return Ok(()), // unknown types are skipped, like Docker
        }
        if self.mode == WhiteoutMode::Delete {
            self.created.insert(rel.to_path_buf());
        }
        Ok(())
    }

    fn meta<R: Read>(&self, e: &mut tar::Entry<'_, R>) -> Result<Meta> {
        let h = e.header();
        let bad = |e: io::Error| Error::InvalidLayer(format!("malformed tar header: {e}"));
        // An empty numeric field reads as 0, like Go's archive/tar (Docker's reader).
        let old = h.as_old();
        let mut m = Meta {
            mode: or_empty(h.mode().map(u64::from), &old.mode).map_err(bad)? as u32,
            uid: or_empty(h.uid(), &old.uid).map_err(bad)? as u32,
            gid: or_empty(h.gid(), &old.gid).map_err(bad)? as u32,
            mtime: ts(h.mtime().unwrap_or(0) as i64, 0),
            xattrs: Vec::new(),
        };
        if let Some(exts) = e.pax_extensions()? {
            for ext in exts {
                let ext = ext?;
                let Ok(key) = ext.key() else { continue };
                if let Some(x) = key.strip_prefix("SCHILY.xattr.") {
                    // overlay's own xattrs would let a layer forge opaque dirs or redirects.
                    if !x.starts_with("trusted.overlay.") {
                        m.xattrs.push((x.to_string(), ext.value_bytes().to_vec()));
                    }
                } else if key == "uid" || key == "gid" || key == "mtime" {
                    let v = ext.value().unwrap_or("");
                    match key {
                        "uid" => m.uid = v.parse().unwrap_or(m.uid),
                        "gid" => m.gid = v.parse().unwrap_or(m.gid),
                        _ => {
                            let (s, ns) = v.split_once('.').unwrap_or((v, ""));
                            let ns = format!("{ns:0<9}");
                            m.mtime = ts(s.parse().unwrap_or(0), ns[..9].parse().unwrap_or(0));
                        }
                    }
                }
            }
        }
        Ok(m)
    }

    fn xattrs(&self, p: BorrowedFd<'_>, name: &OsStr, m: &Meta) -> Result<()> {
        for (k, v) in &m.xattrs {
            fsutil::set_lxattr(&fsutil::fd_path(p, name), k, v)?;
        }
        Ok(())
    }

    /// Owner, mode (`created`: the mode it was created with; None = a symlink), xattrs, times.
    fn finish_nonreg(
        &self,
        dir: &DirCache,
        name: &OsStr,
        m: &Meta,
        created: Option<u32>,
    ) -> Result<()> {
        let p = dir.fd.as_fd();
        if self.needs_chown(dir, m) {
            rfs::chownat(
                p,
                name,
                Some(Uid::from_raw(m.uid)),
                Some(Gid::from_raw(m.gid)),
                AtFlags::SYMLINK_NOFOLLOW,
            )?;
        }
        if let Some(c) = created {
            if self.needs_chmod(c, m) {
                rfs::chmodat(
                    p,
                    name,
                    Mode::from_raw_mode(m.mode & 0o7777),
                    AtFlags::empty(),
                )?;
            }
        }
        self.xattrs(p, name, m)?;
        rfs::utimensat(p, name, &m.mtime, AtFlags::SYMLINK_NOFOLLOW)?;
        Ok(())
    }

    fn hardlink(&mut self, p: BorrowedFd<'_>, name: &OsStr, rel: &Path, trel: &Path) -> Result<()> {
        let bad = || link_error(rel, trel);
        let tname = trel.file_name().ok_or_else(bad)?;
        let tparent = trel.parent().unwrap_or(Path::new(""));
        if trel == rel {
            return Ok(());
        }
        let tfd = match open_dir_in(self.root.as_fd(), tparent) {
            Ok(fd) => Some(fd),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) => None,
            Err(e) => return Err(e.into()),
        };
        if let Some(tfd) = &tfd {
            if let Some(st) = lstat_at(tfd.as_fd(), tname)? {
                if FileType::from_raw_mode(st.st_mode) == FileType::Directory
                    || fsutil::is_whiteout(&st)
                {
                    return Err(bad());
                }
                self.remove(p, name)?;
                rfs::linkat(tfd, tname, p, name, AtFlags::empty())?;
                return Ok(());
            }
        }
        if let (WhiteoutMode::Plain, Some(base)) = (self.mode, &self.base) {
            let bfd = match open_dir_in(base.as_fd(), tparent) {
                Ok(fd) => fd,
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) => {
                    return Err(bad())
                }
                Err(e) => return Err(e.into()),
            };
            match lstat_at(bfd.as_fd(), tname)? {
                Some(st) if FileType::from_raw_mode(st.st_mode) != FileType::Directory => {
                    self.remove(p, name)?;
                    rfs::linkat(&bfd, tname, p, name, AtFlags::empty())?;
                    return Ok(());
                }
                _ => return Err(bad()),
            }
        }
        if self.mode != WhiteoutMode::Overlay {
            // vfs/btrfs: the parents' files are in the layer dir already.
            return Err(bad());
        }
        // overlay: the target lives in a lower layer; a cross-layer hard link is impossible, so
        // the file is copied up (what Docker does) once the lowers are known. Until then an
        // empty placeholder holds the name (later links in this layer link to it).
        let f = self.create_at(p, name, || {
            rfs::openat(p, name, CREATE_FILE, Mode::from_raw_mode(0o600))
        })?;
        self.deferred.push(DeferredLink {
            path: rel.to_path_buf(),
            target: trel.to_path_buf(),
            ino: rfs::fstat(&f)?.st_ino,
        });
        Ok(())
    }

    fn whiteout(&mut self, parent: &Path, target: &OsStr, m: &Meta) -> Result<()> {
        match self.mode {
            WhiteoutMode::Delete | WhiteoutMode::Plain => {
                match open_dir_in(self.root.as_fd(), parent) {
                    Ok(p) => Ok(fsutil::remove_all_at(p.as_fd(), target)?),
                    Err(e)
                        if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) =>
                    {
                        Ok(())
                    }
                    Err(e) => Err(e.into()),
                }
            }
            WhiteoutMode::Overlay => {
                let p = open_dir_create(self.root.as_fd(), parent)?;
                fsutil::remove_all_at(p.as_fd(), target)?;
                rfs::mknodat(&p, target, FileType::CharacterDevice, Mode::empty(), 0)?;
                rfs::chownat(
                    &p,
                    target,
                    Some(Uid::from_raw(m.uid)),
                    Some(Gid::from_raw(m.gid)),
                    AtFlags::SYMLINK_NOFOLLOW,
                )?;
                Ok(())
            }
        }
    }

    fn opaque(&mut self, dir: &Path) -> Result<()> {
        match self.mode {
            WhiteoutMode::Overlay => {
                let d = open_dir_create(self.root.as_fd(), dir)?;
                rfs::fsetxattr(&d, "trusted.overlay.opaque", b"y", rfs::XattrFlags::empty())
                    .map_err(|e| Error::Other(format!("marking {} opaque (needs root and a filesystem with trusted xattrs): {e}", dir.display())))?;
            }
            WhiteoutMode::Delete | WhiteoutMode::Plain => {
                let d = match open_dir_in(self.root.as_fd(), dir) {
                    Ok(d) => d,
                    Err(e)
                        if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) =>
                    {
                        return Ok(())
                    }
                    Err(e) => return Err(e.into()),
                };
                let created = &self.created;
                fsutil::empty_dir(d.as_fd(), |n| !created.contains(&dir.join(n)))?;
            }
        }
        Ok(())
    }
}

fn or_empty(v: io::Result<u64>, raw: &[u8]) -> io::Result<u64> {
    match v {
        Err(_) if raw.iter().all(|b| *b == 0 || *b == b' ') => Ok(0),
        v => v,
    }
}

fn link_error(rel: &Path, trel: &Path) -> Error {
    Error::InvalidLayer(format!(
        "hard link {} -> {}: target not found in the layer or its parents",
        rel.display(),
        trel.display()
    ))
}

/// Copies an entry's content with one large buffer (returns the bytes copied).
fn copy_entry(r: &mut dyn Read, w: &mut File, buf: &mut [u8]) -> io::Result<u64> {
    let mut n = 0u64;
    loop {
        let k = match r.read(buf) {
            Ok(0) => return Ok(n),
            Ok(k) => k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        w.write_all(&buf[..k])?;
        n += k as u64;
    }
}

/// Fills the placeholders of [`Applied::deferred_links`] in the layer at `root` with copies of
/// their targets from `lowers` (the parent layers' dirs, top first). A placeholder a later
/// entry of the layer replaced is left alone; a target in no lower is an error.
pub fn resolve_links(root: &Path, lowers: &[PathBuf], links: &[DeferredLink]) -> Result<()> {
    if links.is_empty() {
        return Ok(());
    }
    let rfd = fsutil::open_dir(root)?;
    let lfds = lowers
        .iter()
        .map(|l| fsutil::open_dir(l))
        .collect::<io::Result<Vec<_>>>()?;
    for l in links {
        let bad = || link_error(&l.path, &l.target);
        let mut found = None;
        for lfd in &lfds {
            match open_file_in(lfd.as_fd(), &l.target) {
                Ok(src) => {
                    found = Some((lfd, src));
                    break;
                }
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) => {}
                Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Err(bad()),
                Err(e) => return Err(e.into()),
            }
        }
        let (lfd, src) = found.ok_or_else(bad)?;
        let st = rfs::fstat(&src)?;
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            return Err(bad());
        }
        let name = l.path.file_name().ok_or_else(bad)?;
        let pdir = match open_dir_in(rfd.as_fd(), l.path.parent().unwrap_or(Path::new(""))) {
            Ok(d) => d,
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) => {
                continue
            }
            Err(e) => return Err(e.into()),
        };
        // Only our own placeholder (a regular file) is opened: never a device a later entry
        // may have put there. The staging dir is ours alone, so the check cannot race.
        match lstat_at(pdir.as_fd(), name)? {
            Some(d)
                if d.st_ino == l.ino
                    && FileType::from_raw_mode(d.st_mode) == FileType::RegularFile => {}
            _ => continue,
        }
        let dst = rfs::openat(
            &pdir,
            name,
            OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let (mut r, mut w) = (File::from(src), File::from(dst));
        io::copy(&mut r, &mut w)?;
        rfs::fchown(
            &w,
            Some(Uid::from_raw(st.st_uid)),
            Some(Gid::from_raw(st.st_gid)),
        )?;
        rfs::fchmod(&w, Mode::from_raw_mode(st.st_mode & 0o7777))?;
        let tname = l.target.file_name().ok_or_else(bad)?;
        let tp = open_dir_in(lfd.as_fd(), l.target.parent().unwrap_or(Path::new("")))?;
        for (k, v) in fsutil::lxattrs(&fsutil::fd_path(tp.as_fd(), tname))? {
            fsutil::set_lxattr(&fsutil::fd_path(pdir.as_fd(), name), &k, &v)?;
        }
        rfs::futimens(&w, &ts(st.st_mtime as i64, st.st_mtime_nsec as i64))?;
    }
    Ok(())
}

pub fn ts(sec: i64, nsec: i64) -> Timestamps {
    let t = Timespec {
        tv_sec: sec as _,
        tv_nsec: nsec as _,
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

/// Rebuilds the original layer tar from a tar-split file and the layer's files.
pub struct SplitReader {
    split: BufReader<File>,
    root: OwnedFd,
    cur: Cur,
}

enum Cur {
    Meta(Vec<u8>, usize),
    File(File, u64),
    Next,
}

impl SplitReader {
    pub fn new(split: &Path, root: &Path) -> io::Result<SplitReader> {
        Ok(SplitReader {
            split: BufReader::with_capacity(256 * 1024, File::open(split)?),
            root: fsutil::open_dir(root)?,
            cur: Cur::Next,
        })
    }
}

impl Read for SplitReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match &mut self.cur {
                Cur::Meta(v, off) => {
                    if *off < v.len() {
                        let n = (v.len() - *off).min(buf.len());
                        buf[..n].copy_from_slice(&v[*off..*off + n]);
                        *off += n;
                        return Ok(n);
                    }
                    self.cur = Cur::Next;
                }
                Cur::File(f, left) => {
                    if *left > 0 {
                        let want = (*left).min(buf.len() as u64) as usize;
                        let n = f.read(&mut buf[..want])?;
                        if n == 0 {
                            return Err(io::Error::other(
                                "layer file shrank since it was unpacked",
                            ));
                        }
                        *left -= n as u64;
                        return Ok(n);
                    }
                    self.cur = Cur::Next;
                }
                Cur::Next => {
                    let mut tag = [0u8; 1];
                    if self.split.read(&mut tag)? == 0 {
                        return Ok(0);
                    }
                    match tag[0] {
                        b'M' => {
                            let mut l = [0u8; 4];
                            self.split.read_exact(&mut l)?;
                            let mut v = vec![0u8; u32::from_le_bytes(l) as usize];
                            self.split.read_exact(&mut v)?;
                            self.cur = Cur::Meta(v, 0);
                        }
                        b'F' => {
                            let mut s = [0u8; 8];
                            self.split.read_exact(&mut s)?;
                            let mut l = [0u8; 4];
                            self.split.read_exact(&mut l)?;
                            let mut p = vec![0u8; u32::from_le_bytes(l) as usize];
                            self.split.read_exact(&mut p)?;
                            let fd =
                                open_file_in(self.root.as_fd(), Path::new(OsStr::from_bytes(&p)))?;
                            self.cur = Cur::File(File::from(fd), u64::from_le_bytes(s));
                        }
                        _ => return Err(io::Error::other("corrupt tar-split record")),
                    }
                }
            }
        }
    }
}
