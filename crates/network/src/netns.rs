//! Network namespaces as bind-mounted files, created without a subprocess.

use crate::netlink::{self, Netlink, NETLINK_ROUTE};
use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

fn cstr(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// Creates a new network namespace pinned by a bind mount on `path` (which must not exist), with
/// `lo` up, and returns an rtnetlink socket that lives inside it.
///
/// A short-lived thread does `unshare(CLONE_NEWNET)` so the calling thread never changes
/// namespace; the socket it opens stays bound to the new namespace after the thread exits.
pub fn create(path: &Path) -> io::Result<Netlink> {
    create_async(path)?.wait()
}

/// A namespace being created by [`create_async`]'s thread.
pub struct Pending {
    path: std::path::PathBuf,
    thread: Option<std::thread::JoinHandle<io::Result<Netlink>>>,
}

impl Pending {
    /// Waits for the namespace; on error nothing is left behind.
    pub fn wait(mut self) -> io::Result<Netlink> {
        let res = self.join();
        if res.is_err() {
            let _ = remove(&self.path);
        }
        res
    }

    fn join(&mut self) -> io::Result<Netlink> {
        match self.thread.take() {
            Some(t) => t
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("netns thread panicked"))),
            None => Err(io::Error::other("namespace already taken")),
        }
    }
}

impl Drop for Pending {
    /// Never waited for (the caller failed first): undo it.
    fn drop(&mut self) {
        if self.thread.is_some() {
            let _ = self.join();
            let _ = remove(&self.path);
        }
    }
}

/// Like [`create`], but returns at once: the namespace is made (kernel work worth ~0.5 ms)
/// while the caller goes on; [`Pending::wait`] collects it.
pub fn create_async(path: &Path) -> io::Result<Pending> {
    let target = cstr(path)?;
    let path = path.to_path_buf();
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| io::Error::new(e.kind(), format!("creating {}: {e}", path.display())))?;
    let thread =
        std::thread::Builder::new()
            .stack_size(256 << 10)
            .spawn(move || -> io::Result<Netlink> {
                // SAFETY: unshare only affects this thread, which exits right after.
                if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                    return Err(io::Error::last_os_error());
                }
                let src = c"/proc/thread-self/ns/net";
                // SAFETY: valid NUL-terminated paths; a plain bind mount.
                let r = unsafe {
                    libc::mount(
                        src.as_ptr(),
                        target.as_ptr(),
                        std::ptr::null(),
                        libc::MS_BIND,
                        std::ptr::null(),
                    )
                };
                if r != 0 {
                    return Err(io::Error::last_os_error());
                }
                let mut nl = Netlink::open(NETLINK_ROUTE)?;
                nl.exec(&mut [netlink::set_up("lo")]).map_err(|e| e.io())?;
                Ok(nl)
            });
    match thread {
        Ok(t) => Ok(Pending {
            path,
            thread: Some(t),
        }),
        Err(e) => {
            let _ = std::fs::remove_file(&path);
            Err(e)
        }
    }
}

/// Unmounts and deletes a namespace file; a missing file is not an error.
pub fn remove(path: &Path) -> io::Result<()> {
    let c = cstr(path)?;
    // SAFETY: valid path; MNT_DETACH so a busy namespace does not block cleanup.
    let r = unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    if r != 0 {
        let e = io::Error::last_os_error();
        // EINVAL: not a mount point (half-created); ENOENT: already gone.
        if !matches!(e.raw_os_error(), Some(libc::EINVAL) | Some(libc::ENOENT)) {
            return Err(e);
        }
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Runs `f` on a helper thread that has joined the network namespace at `path`, and returns its
/// result. Sockets created by `f` belong to that namespace. This is how the engine (or a test)
/// talks inside a sandbox without forking, e.g. to host the embedded DNS server.
pub fn run_in<T: Send + 'static>(
    path: &Path,
    f: impl FnOnce() -> T + Send + 'static,
) -> io::Result<T> {
    let ns = File::open(path)
        .map_err(|e| io::Error::new(e.kind(), format!("opening netns {}: {e}", path.display())))?;
    // A raw thread: the monitor, possibly a fork of a multi-threaded process, uses this.
    rawthread::spawn(512 << 10, move || {
        enter(&ns)?;
        Ok(f())
    })?
    .join()
    .unwrap_or_else(|_| Err(io::Error::other("netns thread panicked")))
}

/// Moves the calling thread into the network namespace `ns` (e.g. in a `pre_exec` hook).
pub fn enter(ns: &File) -> io::Result<()> {
    // SAFETY: setns on a namespace fd we hold open; affects only the calling thread.
    if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Opens an rtnetlink socket inside the namespace at `path`.
pub fn netlink_in(path: &Path) -> io::Result<Netlink> {
    run_in(path, || Netlink::open(NETLINK_ROUTE))?
}
