//! The container's truthful /proc files (crates/procfs): which containers get them, and their
//! server while the container is created.
//!
//! On by default for a container with a memory or CPU limit (`--memory`, `--memory-swap`,
//! `--cpus`, `--cpu-quota`, `--cpuset-cpus`) on a host with FUSE; `--security-opt procfs=host`
//! turns it off for one container, `--security-opt procfs=container` on for one without
//! limits, and `BERTH_PROCFS=host` (or `container`) sets the engine's default. A container
//! joining another's pid namespace keeps the host's files. The decision goes into the spec as
//! the annotation [`ANNOTATION`] = `container`, which the monitor reads.
//!
//! The monitor makes the FUSE connection before creating the container and serves it from a
//! raw thread ([`Running`]) while the init mounts and binds the files and sends the listener of
//! its sysinfo(2) filter (runtime/src/procfs_mount.rs). Then the connections go to the relay
//! loop (relay.rs), of the full monitor and, after the handoff, of the idle `berth-monitor`.
//! Requests arriving during the exec wait in the kernel's queue.

use crate::types::HostConfig;
use procfs::fuse::{Handled, Server, MIN_BUFFER};
use procfs::sysinfo::Notifier;
use procfs::Config;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// The OCI annotation: `container` (the container's own files) or `host`.
pub const ANNOTATION: &str = "org.berth.procfs";

/// The engine-wide default (`BERTH_PROCFS`).
pub const ENV: &str = "BERTH_PROCFS";

/// Where a container's /proc numbers come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Its own cgroups (the files served by its monitor).
    Container,
    /// The host's, as Docker shows them.
    Host,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Container => "container",
            Mode::Host => "host",
        }
    }

    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "container" => Some(Mode::Container),
            "host" => Some(Mode::Host),
            _ => None,
        }
    }
}

/// Whether the container has a limit its /proc should show.
pub fn has_limits(h: &HostConfig) -> bool {
    h.memory > 0
        || h.memory_swap > 0
        || h.nano_cpus > 0
        || h.cpu_quota > 0
        || !h.cpuset_cpus.is_empty()
}

/// The engine's default (None: automatic, by limits).
pub fn engine_default() -> Option<Mode> {
    std::env::var(ENV).ok().and_then(|v| Mode::parse(&v))
}

/// The mode of a container: its `--security-opt procfs=`, else the engine's setting, else by
/// its limits. A joined pid namespace (`--pid container:X`) keeps the host's files.
pub fn mode(h: &HostConfig) -> Mode {
    if h.pid_mode.starts_with("container:") {
        return Mode::Host;
    }
    let own = h
        .security_opt
        .iter()
        .flatten()
        .filter_map(|o| o.split_once(['=', ':']))
        .find_map(|(k, v)| (k == "procfs").then(|| Mode::parse(v)).flatten());
    match own.or_else(engine_default) {
        Some(m) => m,
        // A kernel without FUSE keeps the host's files unless asked (then the start fails).
        None if has_limits(h) && std::path::Path::new("/dev/fuse").exists() => Mode::Container,
        None => Mode::Host,
    }
}

/// What inspect shows: a running container's spec says how it runs; otherwise the mode its
/// next start would get.
pub fn inspect_mode(h: &HostConfig, run_dir: &std::path::Path, running: bool) -> Mode {
    if running {
        if let Some(v) = std::fs::read(run_dir.join("config.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        {
            return if v["annotations"][ANNOTATION] == "container" {
                Mode::Container
            } else {
                Mode::Host
            };
        }
    }
    mode(h)
}

/// The engine's setting as `info` shows it.
pub fn engine_setting() -> &'static str {
    engine_default().map_or("auto", Mode::as_str)
}

/// The container's cgroup directories, from the spec's cgroupsPath.
pub fn config_for(cgroups_path: Option<&str>, id: &str) -> Option<Config> {
    let m = cgroups::manager(cgroups_path, id).ok()?;
    let mut c = Config::new();
    if cgroups::hierarchy() == cgroups::Hierarchy::Unified {
        c.unified = m.path("");
    } else {
        c.memory = m.path("memory");
        c.cpu = m.path("cpu");
        c.cpuacct = m.path("cpuacct");
        c.cpuset = m.path("cpuset");
        c.blkio = m.path("blkio");
        c.pids = m.path("pids");
        c.unified = m.path("");
    }
    c.start_ns = procfs::config::boottime_ns();
    Some(c)
}

/// The files' server in the full monitor: a raw thread (the monitor may be a fork of a
/// threaded process; see rawthread) polling the connection, the sysinfo listener (once the
/// init sent it) and an eventfd that stops it.
pub struct Running {
    /// The filesystem context for the init's `fsmount` (until the container started).
    context: Option<OwnedFd>,
    /// The init's end of the socket that brings the sysinfo listener (until it started).
    init_sock: Option<OwnedFd>,
    /// Our end of it.
    sock: Option<OwnedFd>,
    fuse: OwnedFd,
    stop: OwnedFd,
    thread: Option<rawthread::JoinHandle<(Server, Option<OwnedFd>)>>,
    /// The thread's server (its open files' snapshots), once it stopped.
    server: Option<Server>,
    /// The sysinfo listener, once the thread stopped.
    listener: Option<OwnedFd>,
    pub config: Config,
}

/// The connections, once the thread stopped.
struct Parts {
    pub fuse: OwnedFd,
    pub sysinfo: Option<OwnedFd>,
    pub config: Config,
}

fn socketpair() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: socketpair fills two fds we then own.
    let r = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fresh fds from socketpair.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Receives the listener the init sent on `sock` (None: nothing there yet).
fn recv_listener(sock: RawFd, wait: bool) -> Option<OwnedFd> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let mut buf = [0u8; 8];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!([RawFd; 1]);
    let flags = if wait {
        MsgFlags::MSG_CMSG_CLOEXEC
    } else {
        MsgFlags::MSG_CMSG_CLOEXEC | MsgFlags::MSG_DONTWAIT
    };
    let msg = recvmsg::<()>(sock, &mut iov, Some(&mut cmsg), flags).ok()?;
    for c in msg.cmsgs().ok()? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            // SAFETY: the fd was just received and is ours.
            return fds.first().map(|&fd| unsafe { OwnedFd::from_raw_fd(fd) });
        }
    }
    None
}

impl Running {
    /// Opens a connection and starts serving it when `spec` asks for the container's files.
    pub fn start(spec: &serde_json::Value, id: &str) -> std::io::Result<Option<Running>> {
        if spec["annotations"][ANNOTATION].as_str() != Some("container") {
            return Ok(None);
        }
        let config = config_for(spec["linux"]["cgroupsPath"].as_str(), id)
            .ok_or_else(|| std::io::Error::other("procfs: the container's cgroups"))?;
        let conn = procfs::fuse::Connection::open()?;
        let (ours, init) = socketpair()?;
        let mut r = Running::spawn(conn.dev, Some(ours), None, config)?;
        r.context = Some(conn.context);
        r.init_sock = Some(init);
        Ok(Some(r))
    }

    fn spawn(
        fuse: OwnedFd,
        sock: Option<OwnedFd>,
        listener: Option<OwnedFd>,
        config: Config,
    ) -> std::io::Result<Running> {
        // SAFETY: eventfd returns a new fd or -1.
        let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
        if efd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: a fresh fd from eventfd.
        let stop = unsafe { OwnedFd::from_raw_fd(efd) };
        let (f, st, cfg) = (fuse.as_raw_fd(), stop.as_raw_fd(), config.clone());
        let so = sock.as_ref().map(|s| s.as_raw_fd());
        let thread = rawthread::spawn(rawthread::DEFAULT_STACK, move || {
            serve(f, st, so, listener, cfg)
        })?;
        Ok(Running {
            context: None,
            init_sock: None,
            sock,
            fuse,
            stop,
            thread: Some(thread),
            server: None,
            listener: None,
            config,
        })
    }

    /// The filesystem context for the runtime (`CreateOptions::procfs_fd`).
    pub fn context_fd(&self) -> Option<RawFd> {
        self.context.as_ref().map(|c| c.as_raw_fd())
    }

    /// The socket for the init's sysinfo listener (`CreateOptions::procfs_sysinfo`).
    pub fn sysinfo_sock(&self) -> Option<RawFd> {
        self.init_sock.as_ref().map(|c| c.as_raw_fd())
    }

    /// The container is created: the init has what it needed.
    pub fn created(&mut self) {
        self.context = None;
        self.init_sock = None;
    }

    fn halt(&mut self) {
        if let Some(t) = self.thread.take() {
            let one = 1u64;
            // SAFETY: an 8-byte write to our eventfd.
            unsafe { libc::write(self.stop.as_raw_fd(), (&one as *const u64).cast(), 8) };
            if let Ok((server, listener)) = t.join() {
                self.server = Some(server);
                self.listener = listener;
            }
        }
        if self.listener.is_none() {
            if let Some(s) = &self.sock {
                self.listener = recv_listener(s.as_raw_fd(), false);
            }
        }
    }

    /// Stops the thread (the container is created: the init mounted its files and sent its
    /// listener) and hands the connections to the relay loop (relay.rs).
    pub fn into_relay(mut self) -> crate::relay::Procfs {
        self.halt();
        let server = self.server.take();
        let p = self.into_parts();
        crate::relay::Procfs {
            fuse: p.fuse,
            server: server.unwrap_or_else(|| Server::new(p.config)),
            sysinfo: p.sysinfo.map(|listener| Notifier { listener }),
        }
    }

    /// Stops the thread (between two requests) and gives the connections to the caller.
    fn into_parts(mut self) -> Parts {
        self.halt();
        Parts {
            fuse: self.fuse.try_clone().expect("dup of the fuse fd"),
            sysinfo: self.listener.take(),
            config: self.config.clone(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.halt();
    }
}

fn serve(
    fuse: RawFd,
    stop: RawFd,
    mut sock: Option<RawFd>,
    listener: Option<OwnedFd>,
    config: Config,
) -> (Server, Option<OwnedFd>) {
    let mut server = Server::new(config);
    let mut notifier = listener.map(|listener| Notifier { listener });
    let mut buf = vec![0u8; MIN_BUFFER];
    let pfd = |fd: RawFd| libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        let mut p = [
            pfd(fuse),
            pfd(stop),
            pfd(sock.unwrap_or(-1)),
            pfd(notifier.as_ref().map_or(-1, |n| n.listener.as_raw_fd())),
        ];
        // SAFETY: poll over valid pollfds (negative fds are ignored).
        let n = unsafe { libc::poll(p.as_mut_ptr(), p.len() as libc::nfds_t, -1) };
        if n < 0 {
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            break;
        }
        if p[1].revents != 0 {
            break;
        }
        if p[2].revents != 0 {
            if let Some(l) = sock.and_then(|s| recv_listener(s, true)) {
                notifier = Some(Notifier { listener: l });
            }
            sock = None;
        }
        if p[3].revents != 0 {
            if let Some(nt) = &notifier {
                if nt.handle(server.renderer()) == Handled::Gone {
                    notifier = None;
                }
            }
        }
        if p[0].revents != 0 && server.handle(fuse, &mut buf) == Handled::Gone {
            break;
        }
    }
    (server, notifier.map(|n| n.listener))
}
