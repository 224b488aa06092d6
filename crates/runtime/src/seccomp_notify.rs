//! Seccomp user notification (`SCMP_ACT_NOTIFY` with `linux.seccomp.listenerPath`): the
//! container's init loads its filter with SECCOMP_FILTER_FLAG_NEW_LISTENER before it reports
//! READY and passes the notify fd to the runtime over the sync socket; the runtime connects to
//! the listener socket (a seccomp agent's, on the host) and sends it the container process
//! state of the runtime-spec (`ContainerProcessState`: ociVersion, fds ["seccompFd"], pid,
//! metadata, state) with the fd (SCM_RIGHTS), as runc and youki do. The agent then answers
//! the container's notified syscalls.
//!
//! The filter is loaded before `start` (runc does so without noNewPrivileges, youki always):
//! an agent learns about the container when it is created. The rest of the init (waiting for
//! start, the startContainer hooks, dropping privileges) then runs under the filter.

use crate::sync::{self, SyncPipe};
use crate::{Error, Result};
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use oci_spec::runtime::LinuxSeccomp;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;

/// The profile asks for a seccomp agent: a listener path is set.
pub(crate) fn wants_listener(seccomp: &LinuxSeccomp) -> bool {
    seccomp
        .listener_path()
        .as_ref()
        .is_some_and(|p| !p.as_os_str().is_empty())
}

/// In the init: sends the notify fd to the runtime (which forwards it to the agent).
pub(crate) fn send_to_runtime(sync: &SyncPipe, fd: OwnedFd) -> Result<()> {
    sync.send_fd(sync::SECCOMP_FD, fd.as_fd())
}

/// In the runtime: connects to the spec's listener and sends it the container process state
/// and the notify fd. `state` is the container's OCI state (status "creating").
pub(crate) fn forward_to_agent(
    seccomp: &LinuxSeccomp,
    state: &serde_json::Value,
    fd: &OwnedFd,
) -> Result<()> {
    let path = seccomp
        .listener_path()
        .as_ref()
        .ok_or_else(|| Error::Spec("seccomp notify fd without a listenerPath".into()))?;
    let msg = serde_json::json!({
        "ociVersion": state["ociVersion"],
        "fds": ["seccompFd"],
        "pid": state["pid"],
        "metadata": seccomp.listener_metadata().clone().unwrap_or_default(),
        "state": state,
    });
    let body = serde_json::to_vec(&msg).map_err(|e| Error::other(e.to_string()))?;
    let sock = UnixStream::connect(path).map_err(|e| {
        Error::other(format!(
            "connect to the seccomp listener {}: {e}",
            path.display()
        ))
    })?;
    let fds = [fd.as_raw_fd()];
    let iov = [std::io::IoSlice::new(&body)];
    sendmsg::<()>(
        sock.as_raw_fd(),
        &iov,
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .map_err(|e| Error::Sys {
        context: format!("send the seccomp notify fd to {}", path.display()),
        source: e,
    })?;
    Ok(())
}
