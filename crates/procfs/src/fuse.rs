//! A minimal FUSE server for the files of [`crate::render`]: one read-only directory of
//! regular files, spoken directly over `/dev/fuse` (the kernel ABI of
//! include/uapi/linux/fuse.h, protocol 7.31). Hand-written rather than `fuser`: the whole
//! protocol needed is a dozen fixed-layout messages, and this runs in the idle
//! `berth-monitor`, which links std + libc only to stay within its 1 MB resident budget.
//!
//! Reads go through the page cache (no `direct_io`), so a reader taking a byte at a time (a
//! shell `read` loop) costs one request per page, not per byte. Each `open` takes a snapshot
//! of the file (one consistent rendering per open file, as procfs' seq_file gives); the size
//! the kernel sees comes from the `GETATTR` it sends, with the open file's handle, whenever a
//! read reaches past the size it knows. Without a handle (a `stat`) the size is 0, as in
//! procfs. Open does not keep the cache, so every open reads fresh numbers.

use crate::config::Config;
use crate::render::{File, Renderer};
use std::collections::HashMap;
use std::os::fd::RawFd;

const LOOKUP: u32 = 1;
const FORGET: u32 = 2;
const GETATTR: u32 = 3;
const OPEN: u32 = 14;
const READ: u32 = 15;
const STATFS: u32 = 17;
const RELEASE: u32 = 18;
const FLUSH: u32 = 25;
const INIT: u32 = 26;
const OPENDIR: u32 = 27;
const READDIR: u32 = 28;
const RELEASEDIR: u32 = 29;
const ACCESS: u32 = 34;
const INTERRUPT: u32 = 36;
const DESTROY: u32 = 38;
const BATCH_FORGET: u32 = 42;

const GETATTR_FH: u32 = 1;
/// Open files whose snapshot is kept (a few KiB each).
const MAX_SNAPSHOTS: usize = 256;
const ROOT: u64 = 1;
const IN_HEADER: usize = 40;
/// The kernel refuses reads of /dev/fuse into smaller buffers.
pub const MIN_BUFFER: usize = 8192 + 128;

/// The mount options for the kernel, for the connection on fd `fd`.
pub fn mount_options(fd: RawFd) -> String {
    format!("fd={fd},rootmode=40000,user_id=0,group_id=0,allow_other,default_permissions")
}

fn u32_at(b: &[u8], o: usize) -> u32 {
    b.get(o..o + 4)
        .map_or(0, |s| u32::from_ne_bytes([s[0], s[1], s[2], s[3]]))
}

fn u64_at(b: &[u8], o: usize) -> u64 {
    b.get(o..o + 8).map_or(0, |s| {
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        u64::from_ne_bytes(a)
    })
}

const NOTIFY_STORE: i32 = 4;

/// Makes the kernel's size of `node` at least `data.len()` before the opener reads: a
/// `FUSE_NOTIFY_STORE` of the last byte (the kernel raises the size to the end of a store of at
/// least one byte; the partial page stays not up to date, so it is read from us as usual).
/// Readers that never ask for the size (`sendfile`, `splice`: busybox `cat`) would otherwise
/// stop at a stale one (0 after a `stat`). A size above the snapshot's is brought down by the
/// kernel itself at the short read of the last page (and by `GETATTR` with the open file's
/// handle).
fn grow_size(fd: RawFd, node: u64, data: &[u8]) {
    let Some(&last) = data.last() else { return };
    let mut m = Vec::with_capacity(48);
    m.extend_from_slice(&41u32.to_ne_bytes());
    m.extend_from_slice(&NOTIFY_STORE.to_ne_bytes());
    m.extend_from_slice(&0u64.to_ne_bytes());
    m.extend_from_slice(&node.to_ne_bytes());
    m.extend_from_slice(&(data.len() as u64 - 1).to_ne_bytes());
    m.extend_from_slice(&1u32.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.push(last);
    // SAFETY: write of our own buffer to the connection. A failure leaves the old size,
    // which readers through read(2) correct themselves.
    unsafe { libc::write(fd, m.as_ptr().cast(), m.len()) };
}

/// What one call of [`Server::handle`] saw.
#[derive(Debug, PartialEq, Eq)]
pub enum Handled {
    /// A request was answered (or needed no answer).
    Request,
    /// Nothing to read now (non-blocking fd), or an interrupted request.
    Nothing,
    /// The filesystem is gone (unmounted everywhere, or the connection aborted).
    Gone,
}

/// One container's filesystem.
pub struct Server {
    renderer: Renderer,
    open: HashMap<u64, Vec<u8>>,
    next_fh: u64,
    out: Vec<u8>,
    /// Requests answered, by kind: (all, READ).
    pub counts: (u64, u64),
}

fn attr(out: &mut Vec<u8>, ino: u64, size: u64, mtime: u64) {
    let dir = ino == ROOT;
    for v in [ino, size, size.div_ceil(512), mtime, mtime, mtime] {
        out.extend_from_slice(&v.to_ne_bytes());
    }
    let mode = if dir {
        libc::S_IFDIR | 0o555
    } else {
        libc::S_IFREG | 0o444
    };
    let nlink = if dir { 2 } else { 1 };
    // atimensec, mtimensec, ctimensec, mode, nlink, uid, gid, rdev, blksize, flags
    for v in [0u32, 0, 0, mode, nlink, 0, 0, 0, 4096, 0] {
        out.extend_from_slice(&v.to_ne_bytes());
    }
}

impl Server {
    pub fn new(config: Config) -> Server {
        Server {
            renderer: Renderer::new(config),
            open: HashMap::new(),
            next_fh: 1,
            out: Vec::new(),
            counts: (0, 0),
        }
    }

    pub fn config(&self) -> &Config {
        &self.renderer.config
    }

    /// The renderer (shared with the sysinfo notifier: one load average state).
    pub fn renderer(&mut self) -> &mut Renderer {
        &mut self.renderer
    }

    fn file(ino: u64) -> Option<File> {
        File::ALL.get(ino.checked_sub(2)? as usize).copied()
    }

    fn ino(f: File) -> u64 {
        2 + File::ALL.iter().position(|&x| x == f).unwrap_or(0) as u64
    }

    fn mtime(&self) -> u64 {
        // The container's start in wall-clock seconds is not known here; a constant mtime
        // keeps the kernel from treating a changed mtime as changed data.
        0
    }

    /// Reads one request from `fd` into `buf` (at least [`MIN_BUFFER`] bytes) and answers it.
    pub fn handle(&mut self, fd: RawFd, buf: &mut [u8]) -> Handled {
        // SAFETY: read into a buffer we own, of its length.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            return match std::io::Error::last_os_error().raw_os_error() {
                Some(libc::EINTR) | Some(libc::EAGAIN) | Some(libc::ENOENT) => Handled::Nothing,
                _ => Handled::Gone,
            };
        }
        let req = &buf[..n as usize];
        if req.len() < IN_HEADER {
            return Handled::Gone;
        }
        let opcode = u32_at(req, 4);
        let unique = u64_at(req, 8);
        let node = u64_at(req, 16);
        let body = &req[IN_HEADER..];
        self.counts.0 += 1;
        self.counts.1 += u64::from(opcode == READ);
        self.out.clear();
        self.out.resize(16, 0);
        let err = match opcode {
            FORGET | BATCH_FORGET | INTERRUPT => return Handled::Request,
            INIT => self.init(body),
            LOOKUP => self.lookup(node, body),
            GETATTR => self.getattr(node, body),
            OPEN => self.open_file(fd, node, body),
            READ => self.read(node, body),
            RELEASE => {
                self.open.remove(&u64_at(body, 0));
                if self.open.is_empty() {
                    self.open.shrink_to_fit();
                }
                0
            }
            OPENDIR => {
                if node == ROOT {
                    self.out.extend_from_slice(&[0u8; 16]);
                    0
                } else {
                    libc::ENOTDIR
                }
            }
            READDIR => self.readdir(node, body),
            RELEASEDIR | ACCESS | DESTROY => 0,
            STATFS => {
                // blocks, bfree, bavail, files, ffree; bsize, namelen, frsize, padding, spare
                for v in [0u64, 0, 0, File::ALL.len() as u64 + 1, 0] {
                    self.out.extend_from_slice(&v.to_ne_bytes());
                }
                for v in [4096u32, 255, 4096, 0, 0, 0, 0, 0, 0, 0] {
                    self.out.extend_from_slice(&v.to_ne_bytes());
                }
                0
            }
            // ENOSYS to FLUSH (and the rest) tells the kernel not to send it again.
            FLUSH => libc::ENOSYS,
            _ => libc::ENOSYS,
        };
        if err != 0 {
            self.out.truncate(16);
        }
        let len = self.out.len() as u32;
        self.out[0..4].copy_from_slice(&len.to_ne_bytes());
        self.out[4..8].copy_from_slice(&(-err).to_ne_bytes());
        self.out[8..16].copy_from_slice(&unique.to_ne_bytes());
        // SAFETY: write of our own buffer. A failed reply (ENOENT: the request was
        // interrupted meanwhile) needs nothing more.
        unsafe { libc::write(fd, self.out.as_ptr().cast(), self.out.len()) };
        if self.out.capacity() > 64 * 1024 {
            self.out = Vec::new();
        }
        Handled::Request
    }

    fn init(&mut self, body: &[u8]) -> i32 {
        let major = u32_at(body, 0);
        let max_readahead = u32_at(body, 8);
        if major != 7 {
            // Tell a newer kernel which major we speak; it answers with a new INIT or gives up.
            self.out.extend_from_slice(&7u32.to_ne_bytes());
            self.out.extend_from_slice(&31u32.to_ne_bytes());
            return 0;
        }
        let minor = u32_at(body, 4).min(31);
        let mut o = Vec::with_capacity(64);
        for v in [7u32, minor, max_readahead, 0] {
            o.extend_from_slice(&v.to_ne_bytes());
        }
        o.extend_from_slice(&1u16.to_ne_bytes()); // max_background
        o.extend_from_slice(&1u16.to_ne_bytes()); // congestion_threshold
        o.extend_from_slice(&4096u32.to_ne_bytes()); // max_write
        o.extend_from_slice(&1u32.to_ne_bytes()); // time_gran
        o.resize(64, 0);
        let size = if minor < 23 { 24 } else { 64 };
        self.out.extend_from_slice(&o[..size]);
        0
    }

    fn entry(&mut self, ino: u64, size: u64) {
        // nodeid, generation, entry_valid (the names never change), attr_valid (0: sizes do)
        for v in [ino, 0, 86400, 0] {
            self.out.extend_from_slice(&v.to_ne_bytes());
        }
        self.out.extend_from_slice(&[0u8; 8]);
        let m = self.mtime();
        attr(&mut self.out, ino, size, m);
    }

    fn lookup(&mut self, node: u64, body: &[u8]) -> i32 {
        let name = body.split(|&b| b == 0).next().unwrap_or(&[]);
        match (node, File::by_name(name)) {
            (ROOT, Some(f)) => {
                self.entry(Self::ino(f), 0);
                0
            }
            _ => libc::ENOENT,
        }
    }

    fn getattr(&mut self, node: u64, body: &[u8]) -> i32 {
        if node != ROOT && Self::file(node).is_none() {
            return libc::ENOENT;
        }
        let size = match Self::file(node) {
            Some(f) if u32_at(body, 0) & GETATTR_FH != 0 => {
                self.snapshot_len(f, u64_at(body, 8)) as u64
            }
            _ => 0,
        };
        // attr_valid 0, attr_valid_nsec 0, dummy
        self.out.extend_from_slice(&[0u8; 16]);
        let m = self.mtime();
        attr(&mut self.out, node, size, m);
        0
    }

    fn open_file(&mut self, fd: RawFd, node: u64, body: &[u8]) -> i32 {
        let Some(f) = Self::file(node) else {
            return if node == ROOT {
                libc::EISDIR
            } else {
                libc::ENOENT
            };
        };
        if u32_at(body, 0) as i32 & libc::O_ACCMODE != libc::O_RDONLY {
            return libc::EACCES;
        }
        let fh = self.next_fh;
        self.next_fh += 1;
        let data = self.renderer.render(f);
        grow_size(fd, node, &data);
        // The snapshots live in the monitor (outside the container's memory cgroup): a
        // container holding many files open gets fresh renderings past the cap instead.
        if self.open.len() < MAX_SNAPSHOTS {
            self.open.insert(fh, data);
        }
        self.out.extend_from_slice(&fh.to_ne_bytes());
        self.out.extend_from_slice(&[0u8; 8]); // open_flags 0: do not keep the page cache
        0
    }

    fn read(&mut self, node: u64, body: &[u8]) -> i32 {
        let Some(f) = Self::file(node) else {
            return libc::EISDIR;
        };
        let fh = u64_at(body, 0);
        let off = u64_at(body, 8) as usize;
        let size = u32_at(body, 16) as usize;
        let fresh;
        let data = match self.open.get(&fh) {
            Some(d) => d,
            None => {
                fresh = self.renderer.render(f);
                &fresh
            }
        };
        let start = off.min(data.len());
        let end = start.saturating_add(size).min(data.len());
        self.out.extend_from_slice(&data[start..end]);
        0
    }

    /// The size of open file `fh`'s snapshot. A handle opened by the monitor's previous image
    /// (before its exec) or past [`MAX_SNAPSHOTS`] has none: a fresh rendering stands in.
    fn snapshot_len(&mut self, f: File, fh: u64) -> usize {
        match self.open.get(&fh) {
            Some(d) => d.len(),
            None => self.renderer.render(f).len(),
        }
    }

    fn readdir(&mut self, node: u64, body: &[u8]) -> i32 {
        if node != ROOT {
            return libc::ENOTDIR;
        }
        let off = u64_at(body, 8) as usize;
        let size = u32_at(body, 16) as usize;
        let mut names: Vec<(u64, &str, u32)> = vec![(ROOT, ".", 4), (ROOT, "..", 4)];
        names.extend(File::ALL.iter().map(|&f| (Self::ino(f), f.name(), 8)));
        let start = self.out.len();
        for (i, (ino, name, typ)) in names.into_iter().enumerate().skip(off) {
            let rec = (24 + name.len()).div_ceil(8) * 8;
            if self.out.len() - start + rec > size {
                break;
            }
            self.out.extend_from_slice(&ino.to_ne_bytes());
            self.out.extend_from_slice(&(i as u64 + 1).to_ne_bytes());
            self.out
                .extend_from_slice(&(name.len() as u32).to_ne_bytes());
            self.out.extend_from_slice(&typ.to_ne_bytes());
            self.out.extend_from_slice(name.as_bytes());
            self.out.resize(self.out.len() + rec - 24 - name.len(), 0);
        }
        0
    }
}

/// A FUSE connection ready to be mounted: the `/dev/fuse` fd the server reads, and a
/// filesystem context (`fsopen("fuse")`, configured and created) that a process in another
/// mount namespace (the container's init) turns into a mount with `fsmount`. The connection
/// exists from here on (the kernel sends INIT now), so the server can poll it before any mount.
pub struct Connection {
    pub dev: std::os::fd::OwnedFd,
    pub context: std::os::fd::OwnedFd,
}

const FSOPEN_CLOEXEC: u32 = 1;
const FSCONFIG_SET_FLAG: u32 = 0;
const FSCONFIG_SET_STRING: u32 = 1;
const FSCONFIG_CMD_CREATE: u32 = 6;

fn check(what: &str, r: libc::c_long) -> std::io::Result<RawFd> {
    if r < 0 {
        let e = std::io::Error::last_os_error();
        Err(std::io::Error::new(e.kind(), format!("{what}: {e}")))
    } else {
        Ok(r as RawFd)
    }
}

fn own(fd: RawFd) -> std::os::fd::OwnedFd {
    use std::os::fd::FromRawFd;
    // SAFETY: a fresh fd a syscall just returned to us.
    unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) }
}

impl Connection {
    /// Opens `/dev/fuse` (non-blocking, close-on-exec) and creates the filesystem on it.
    pub fn open() -> std::io::Result<Connection> {
        use std::os::fd::AsRawFd;
        // SAFETY: open of a NUL-terminated path.
        let dev = own(check("open /dev/fuse", unsafe {
            libc::open(
                c"/dev/fuse".as_ptr(),
                libc::O_RDWR | libc::O_CLOEXEC | libc::O_NONBLOCK,
            ) as libc::c_long
        })?);
        // SAFETY: fsopen with a NUL-terminated fs name.
        let context = own(check("fsopen fuse", unsafe {
            libc::syscall(libc::SYS_fsopen, c"fuse".as_ptr(), FSOPEN_CLOEXEC)
        })?);
        for opt in mount_options(dev.as_raw_fd()).split(',') {
            let (k, v) = opt.split_once('=').unwrap_or((opt, ""));
            let key = std::ffi::CString::new(k).map_err(std::io::Error::other)?;
            let val = std::ffi::CString::new(v).map_err(std::io::Error::other)?;
            let (cmd, val_ptr) = if opt.contains('=') {
                (FSCONFIG_SET_STRING, val.as_ptr())
            } else {
                (FSCONFIG_SET_FLAG, std::ptr::null())
            };
            // SAFETY: fsconfig on our context with NUL-terminated strings (or null).
            check(&format!("fsconfig {k}"), unsafe {
                libc::syscall(
                    libc::SYS_fsconfig,
                    context.as_raw_fd(),
                    cmd,
                    key.as_ptr(),
                    val_ptr,
                    0,
                )
            })?;
        }
        // SAFETY: fsconfig create on our context.
        check("fsconfig create", unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                context.as_raw_fd(),
                FSCONFIG_CMD_CREATE,
                std::ptr::null::<libc::c_char>(),
                std::ptr::null::<libc::c_char>(),
                0,
            )
        })?;
        Ok(Connection { dev, context })
    }
}
