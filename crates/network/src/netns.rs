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

const PING_GROUP_RANGE: &str = "/proc/sys/net/ipv4/ping_group_range";

/// Creates a new network namespace pinned by a bind mount on `path` (which must not exist), with
/// `lo` up, and returns an rtnetlink socket that lives inside it.
pub fn create(path: &Path) -> io::Result<Netlink> {
    Unbound::start()?.bind(path)
}

/// A network namespace being made by a short-lived thread (`unshare(CLONE_NEWNET)`, so the
/// caller never changes namespace; `lo` up; `net.ipv4.ping_group_range` "0 2147483647"), not
/// yet pinned to a path. It lives as long as this value: dropped unbound (the caller failed, or
/// was killed), nothing is left behind. Making one is ~0.8 ms of kernel work that waits on the
/// RTNL lock, so callers start it as early as they can and [`bind`](Unbound::bind) it once they
/// know where it goes.
pub struct Unbound {
    thread: Option<std::thread::JoinHandle<io::Result<(File, Netlink)>>>,
}

impl Unbound {
    pub fn start() -> io::Result<Unbound> {
        let thread = std::thread::Builder::new().stack_size(256 << 10).spawn(
            move || -> io::Result<(File, Netlink)> {
                // SAFETY: unshare only affects this thread, which exits right after.
                if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                    return Err(io::Error::last_os_error());
                }
                // Docker's default (moby sets it in every container namespace but the host's):
                // ICMP echo sockets for every group, so ping works without CAP_NET_RAW, which
                // berth's default capabilities leave out. /proc/sys/net is the namespace of the
                // thread that opens it; a --sysctl of the container's own is applied later.
                std::fs::write(PING_GROUP_RANGE, "0 2147483647")?;
                let ns = File::open("/proc/thread-self/ns/net")?;
                let mut nl = Netlink::open(NETLINK_ROUTE)?;
                nl.exec(&mut [netlink::set_up("lo")]).map_err(|e| e.io())?;
                Ok((ns, nl))
            },
        )?;
        Ok(Unbound {
            thread: Some(thread),
        })
    }

    /// Waits for the namespace and pins it on `path` (which must not exist); returns an
    /// rtnetlink socket inside it. On error nothing is left behind.
    pub fn bind(mut self, path: &Path) -> io::Result<Netlink> {
        let target = cstr(path)?;
        let (ns, nl) = self.join()?;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| io::Error::new(e.kind(), format!("creating {}: {e}", path.display())))?;
        let src = CString::new(format!("/proc/self/fd/{}", ns.as_raw_fd())).unwrap();
        // SAFETY: valid NUL-terminated paths; a plain bind mount of the namespace file.
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
            let e = io::Error::last_os_error();
            let _ = std::fs::remove_file(path);
            return Err(e);
        }
        Ok(nl)
    }

    fn join(&mut self) -> io::Result<(File, Netlink)> {
        match self.thread.take() {
            Some(t) => t
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("netns thread panicked"))),
            None => Err(io::Error::other("namespace already taken")),
        }
    }
}

impl Drop for Unbound {
    /// Never bound: the namespace goes with the thread's fds.
    fn drop(&mut self) {
        let _ = self.join();
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
