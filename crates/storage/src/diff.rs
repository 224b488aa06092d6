//! Changes of a writable layer (`docker diff`) and their export as a layer tar with AUFS whiteouts.
//!
//! overlay2: the upper dir *is* the diff: walk it, a char 0/0 device is a deletion, an opaque dir
//! hides its lowers. vfs/btrfs: compare the container dir with its parent (the init layer).
//! All reads go through dir fds with RESOLVE_IN_ROOT: a running container may plant symlinks.

use crate::fsutil::{self, list_dir, lstat_at, open_dir_in, open_file_in};
use crate::Change;
use rustix::fs::{self as rfs, FileType, Stat};
use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

fn ftype(st: &Stat) -> FileType {
    FileType::from_raw_mode(st.st_mode)
}

fn lstat_rel(root: BorrowedFd<'_>, rel: &Path) -> io::Result<Option<Stat>> {
    let parent = rel.parent().unwrap_or(Path::new(""));
    let Some(name) = rel.file_name() else {
        return Ok(Some(rfs::fstat(root)?));
    };
    match open_dir_in(root, parent) {
        Ok(p) => lstat_at(p.as_fd(), name),
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) => Ok(None),
        Err(e) => Err(e),
    }
}

fn abs(rel: &Path) -> String {
    format!("/{}", rel.display())
}

fn is_opaque(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<bool> {
    Ok(
        fsutil::lgetxattr(&fsutil::fd_path(dir, name), "trusted.overlay.opaque")?.as_deref()
            == Some(b"y"),
    )
}

/// overlay2: changes of `upper` over `lowers` (top first; the init layer included).
pub fn overlay_changes(upper: &Path, lowers: &[PathBuf]) -> io::Result<Vec<Change>> {
    let up = fsutil::open_dir(upper)?;
    let lfds = lowers
        .iter()
        .map(|l| fsutil::open_dir(l))
        .collect::<io::Result<Vec<_>>>()?;
    let mut out = Vec::new();
    ov_walk(up.as_fd(), &lfds, Path::new(""), &mut out)?;
    Ok(out)
}

fn in_lowers(lfds: &[OwnedFd], rel: &Path) -> io::Result<Option<Stat>> {
    for l in lfds {
        if let Some(st) = lstat_rel(l.as_fd(), rel)? {
            if fsutil::is_whiteout(&st) {
                return Ok(None);
            }
            return Ok(Some(st));
        }
    }
    Ok(None)
}

fn ov_walk(
    up: BorrowedFd<'_>,
    lfds: &[OwnedFd],
    rel: &Path,
    out: &mut Vec<Change>,
) -> io::Result<()> {
    let dir = open_dir_in(up, rel)?;
    for name in list_dir(dir.as_fd())? {
        let path = rel.join(&name);
        let Some(st) = lstat_at(dir.as_fd(), &name)? else {
            continue;
        };
        if fsutil::is_whiteout(&st) {
            out.push(Change {
                kind: 'D',
                path: abs(&path),
            });
            continue;
        }
        let lower = in_lowers(lfds, &path)?;
        let kind = if lower.is_some() { 'C' } else { 'A' };
        if ftype(&st) == FileType::Directory {
            let opaque = is_opaque(dir.as_fd(), &name)?;
            let mut sub = Vec::new();
            ov_walk(up, lfds, &path, &mut sub)?;
            let same = match &lower {
                Some(l) => {
                    ftype(l) == FileType::Directory
                        && l.st_mode == st.st_mode
                        && l.st_uid == st.st_uid
                        && l.st_gid == st.st_gid
                        && l.st_mtime == st.st_mtime
                        && l.st_mtime_nsec == st.st_mtime_nsec
                }
                None => false,
            };
            if opaque || !same || !sub.is_empty() {
                out.push(Change {
                    kind,
                    path: abs(&path),
                });
                out.append(&mut sub);
            }
        } else {
            out.push(Change {
                kind,
                path: abs(&path),
            });
        }
    }
    Ok(())
}

/// vfs/btrfs: changes of `new` against `old` (Docker's naive ChangesDirs).
pub fn naive_changes(new: &Path, old: Option<&Path>) -> io::Result<Vec<Change>> {
    let n = fsutil::open_dir(new)?;
    let o = match old {
        Some(o) => Some(fsutil::open_dir(o)?),
        None => None,
    };
    let mut out = Vec::new();
    naive_walk(
        n.as_fd(),
        o.as_ref().map(|o| o.as_fd()),
        Path::new(""),
        &mut out,
    )?;
    Ok(out)
}

fn all_added(n: BorrowedFd<'_>, rel: &Path, out: &mut Vec<Change>) -> io::Result<()> {
    let d = open_dir_in(n, rel)?;
    for name in list_dir(d.as_fd())? {
        let path = rel.join(&name);
        out.push(Change {
            kind: 'A',
            path: abs(&path),
        });
        if let Some(st) = lstat_at(d.as_fd(), &name)? {
            if ftype(&st) == FileType::Directory {
                all_added(n, &path, out)?;
            }
        }
    }
    Ok(())
}

fn naive_walk(
    n: BorrowedFd<'_>,
    o: Option<BorrowedFd<'_>>,
    rel: &Path,
    out: &mut Vec<Change>,
) -> io::Result<()> {
    let nd = open_dir_in(n, rel)?;
    let od = match o {
        Some(o) => match open_dir_in(o, rel) {
            Ok(d) => Some(d),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) => None,
            Err(e) => return Err(e),
        },
        None => None,
    };
    let mut names = list_dir(nd.as_fd())?;
    if let Some(od) = &od {
        names.extend(list_dir(od.as_fd())?);
        names.sort();
        names.dedup();
    }
    for name in names {
        let path = rel.join(&name);
        let ns = lstat_at(nd.as_fd(), &name)?;
        let os = match &od {
            Some(od) => lstat_at(od.as_fd(), &name)?,
            None => None,
        };
        match (ns, os) {
            (None, None) => {}
            (None, Some(_)) => out.push(Change {
                kind: 'D',
                path: abs(&path),
            }),
            (Some(s), None) => {
                out.push(Change {
                    kind: 'A',
                    path: abs(&path),
                });
                if ftype(&s) == FileType::Directory {
                    all_added(n, &path, out)?;
                }
            }
            (Some(s), Some(t)) => {
                let both_dirs =
                    ftype(&s) == FileType::Directory && ftype(&t) == FileType::Directory;
                let meta_same =
                    s.st_mode == t.st_mode && s.st_uid == t.st_uid && s.st_gid == t.st_gid;
                if both_dirs {
                    let mut sub = Vec::new();
                    naive_walk(n, o, &path, &mut sub)?;
                    if !meta_same || !sub.is_empty() {
                        out.push(Change {
                            kind: 'C',
                            path: abs(&path),
                        });
                        out.append(&mut sub);
                    }
                    continue;
                }
                let mut same = meta_same
                    && s.st_rdev == t.st_rdev
                    && s.st_size == t.st_size
                    && s.st_mtime == t.st_mtime
                    && s.st_mtime_nsec == t.st_mtime_nsec;
                if same && ftype(&s) == FileType::Symlink {
                    let a = rfs::readlinkat(&nd, &name, Vec::new())?;
                    let b = rfs::readlinkat(od.as_ref().expect("old exists"), &name, Vec::new())?;
                    same = a == b;
                }
                if !same {
                    out.push(Change {
                        kind: 'C',
                        path: abs(&path),
                    });
                    if ftype(&s) == FileType::Directory {
                        all_added(n, &path, out)?;
                    }
                }
            }
        }
    }
    Ok(())
}

/// A `Read` fed by a producer thread; an error in the producer surfaces as a read error
/// (never as a silently truncated tar).
pub struct ChanReader {
    rx: Receiver<io::Result<Vec<u8>>>,
    buf: Vec<u8>,
    off: usize,
}

impl Read for ChanReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.off >= self.buf.len() {
            match self.rx.recv() {
                Ok(Ok(b)) => {
                    self.buf = b;
                    self.off = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0),
            }
        }
        let n = (self.buf.len() - self.off).min(out.len());
        out[..n].copy_from_slice(&self.buf[self.off..self.off + n]);
        self.off += n;
        Ok(n)
    }
}

struct ChanWriter {
    tx: SyncSender<io::Result<Vec<u8>>>,
    buf: Vec<u8>,
}

impl Write for ChanWriter {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(b);
        if self.buf.len() >= 256 * 1024 {
            self.flush()?;
        }
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            let b = std::mem::take(&mut self.buf);
            self.tx
                .send(Ok(b))
                .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "tar reader dropped"))?;
        }
        Ok(())
    }
}

/// Runs `produce` on a thread and returns its tar output as a reader.
pub fn spawn_tar<F>(produce: F) -> ChanReader
where
    F: FnOnce(&mut tar::Builder<&mut ChanWriterPub>) -> io::Result<()> + Send + 'static,
{
    let (tx, rx) = sync_channel(4);
    std::thread::spawn(move || {
        let mut w = ChanWriterPub(ChanWriter {
            tx: tx.clone(),
            buf: Vec::new(),
        });
        let res = (|| {
            let mut b = tar::Builder::new(&mut w);
            b.mode(tar::HeaderMode::Complete);
            produce(&mut b)?;
            b.finish()?;
            drop(b);
            w.flush()
        })();
        if let Err(e) = res {
            let _ = tx.send(Err(e));
        }
    });
    ChanReader {
        rx,
        buf: Vec::new(),
        off: 0,
    }
}

pub struct ChanWriterPub(ChanWriter);
impl Write for ChanWriterPub {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0.write(b)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// Writes tar entries for files of one tree.
pub struct Emitter {
    root: OwnedFd,
    links: HashMap<(u64, u64), PathBuf>,
}

impl Emitter {
    pub fn new(root: &Path) -> io::Result<Emitter> {
        Ok(Emitter {
            root: fsutil::open_dir(root)?,
            links: HashMap::new(),
        })
    }

    fn header(st: &Stat) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_mode(st.st_mode & 0o7777);
        h.set_uid(st.st_uid as u64);
        h.set_gid(st.st_gid as u64);
        h.set_mtime(st.st_mtime.max(0) as u64);
        h.set_size(0);
        h
    }

    /// Emits `rel` (a file, dir, link, device...) as found in the tree.
    pub fn emit<W: Write>(&mut self, b: &mut tar::Builder<W>, rel: &Path) -> io::Result<()> {
        let parent = open_dir_in(self.root.as_fd(), rel.parent().unwrap_or(Path::new("")))?;
        let name = rel.file_name().unwrap_or_default();
        let Some(st) = lstat_at(parent.as_fd(), name)? else {
            return Ok(());
        };
        let xattrs: Vec<(String, Vec<u8>)> =
            fsutil::lxattrs(&fsutil::fd_path(parent.as_fd(), name))?
                .into_iter()
                .filter(|(k, _)| !k.starts_with("trusted.overlay."))
                .collect();
        if !xattrs.is_empty() {
            let keys: Vec<(String, Vec<u8>)> = xattrs
                .into_iter()
                .map(|(k, v)| (format!("SCHILY.xattr.{k}"), v))
                .collect();
            b.append_pax_extensions(keys.iter().map(|(k, v)| (k.as_str(), v.as_slice())))?;
        }
        let mut h = Self::header(&st);
        match ftype(&st) {
            FileType::Directory => {
                h.set_entry_type(tar::EntryType::Directory);
                let mut p = rel.as_os_str().as_bytes().to_vec();
                p.push(b'/');
                b.append_data(&mut h, Path::new(OsStr::from_bytes(&p)), io::empty())?;
            }
            FileType::RegularFile => {
                let key = (st.st_dev, st.st_ino);
                if st.st_nlink > 1 {
                    if let Some(first) = self.links.get(&key) {
                        h.set_entry_type(tar::EntryType::Link);
                        return b.append_link(&mut h, rel, first);
                    }
                    self.links.insert(key, rel.to_path_buf());
                }
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(st.st_size as u64);
                let f = File::from(open_file_in(self.root.as_fd(), rel)?);
                b.append_data(&mut h, rel, f.take(st.st_size as u64))?;
            }
            FileType::Symlink => {
                h.set_entry_type(tar::EntryType::Symlink);
                let t = rfs::readlinkat(&parent, name, Vec::new())?;
                b.append_link(&mut h, rel, Path::new(OsStr::from_bytes(t.as_bytes())))?;
            }
            t @ (FileType::CharacterDevice | FileType::BlockDevice | FileType::Fifo) => {
                h.set_entry_type(match t {
                    FileType::CharacterDevice => tar::EntryType::Char,
                    FileType::BlockDevice => tar::EntryType::Block,
                    _ => tar::EntryType::Fifo,
                });
                if t != FileType::Fifo {
                    h.set_device_major(rfs::major(st.st_rdev))?;
                    h.set_device_minor(rfs::minor(st.st_rdev))?;
                }
                b.append_data(&mut h, rel, io::empty())?;
            }
            _ => {} // sockets are not archived
        }
        Ok(())
    }

    pub fn emit_whiteout<W: Write>(
        b: &mut tar::Builder<W>,
        dir: &Path,
        name: &OsStr,
    ) -> io::Result<()> {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o600);
        h.set_size(0);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        let mut n = OsString::from(".wh.");
        n.push(name);
        b.append_data(&mut h, dir.join(n), io::empty())
    }
}

/// overlay2: the upper dir as a layer tar.
pub fn overlay_tar<W: Write>(b: &mut tar::Builder<W>, upper: &Path) -> io::Result<()> {
    let mut em = Emitter::new(upper)?;
    let up = fsutil::open_dir(upper)?;
    ov_tar_walk(b, &mut em, up.as_fd(), Path::new(""))
}

fn ov_tar_walk<W: Write>(
    b: &mut tar::Builder<W>,
    em: &mut Emitter,
    up: BorrowedFd<'_>,
    rel: &Path,
) -> io::Result<()> {
    let dir = open_dir_in(up, rel)?;
    for name in list_dir(dir.as_fd())? {
        let path = rel.join(&name);
        let Some(st) = lstat_at(dir.as_fd(), &name)? else {
            continue;
        };
        if fsutil::is_whiteout(&st) {
            Emitter::emit_whiteout(b, rel, &name)?;
            continue;
        }
        em.emit(b, &path)?;
        if ftype(&st) == FileType::Directory {
            if is_opaque(dir.as_fd(), &name)? {
                Emitter::emit_whiteout(b, &path, OsStr::new(".wh..opq"))?;
            }
            ov_tar_walk(b, em, up, &path)?;
        }
    }
    Ok(())
}

/// vfs/btrfs: a changes list exported from `new` as a layer tar.
pub fn changes_tar<W: Write>(
    b: &mut tar::Builder<W>,
    new: &Path,
    changes: &[Change],
) -> io::Result<()> {
    let mut em = Emitter::new(new)?;
    for c in changes {
        let rel = Path::new(c.path.trim_start_matches('/'));
        if c.kind == 'D' {
            Emitter::emit_whiteout(
                b,
                rel.parent().unwrap_or(Path::new("")),
                rel.file_name().unwrap_or_default(),
            )?;
        } else {
            em.emit(b, rel)?;
        }
    }
    Ok(())
}
