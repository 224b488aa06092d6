//! A session keyring of the container's own (the idea is runc's `keys.JoinSessionKeyring` in
//! its standard and setns inits; the code is ours).
//!
//! A process inherits its creator's session keyring: without this, a container whose seccomp
//! profile allows keyctl (`--privileged`, `seccomp=unconfined`, an OCI bundle without seccomp)
//! possesses the keys of the session that ran berth and can read them (`keyctl print`, or
//! `/proc/keys` where it is not masked). The container's init joins a fresh keyring named
//! `_ses.<container id>` and every process `exec`'d into the container joins that same one.
//!
//! Errors: ENOSYS (a kernel without CONFIG_KEYS: there is no keyring to leak) and EPERM (berth
//! itself runs under a seccomp filter that refuses keyctl, e.g. inside another container; the
//! container inherits that filter and cannot call keyctl either) are ignored, as runc does.
//! Anything else fails the start or the exec.

use crate::{Error, Result};

/// Search permission for the keyring's owner (KEY_USR_SEARCH) and for others
/// (KEY_OTH_SEARCH), from linux/keyctl.h.
const KEY_USR_SEARCH: u32 = 0x0008_0000;
const KEY_OTH_SEARCH: u32 = 0x0000_0008;

fn keyctl(
    op: u32,
    a2: libc::c_ulong,
    a3: libc::c_ulong,
    a4: libc::c_ulong,
) -> std::io::Result<i64> {
    // SAFETY: keyctl with integer arguments, or a pointer/length pair the caller keeps valid
    // for the call.
    let r = unsafe { libc::syscall(libc::SYS_keyctl, op, a2, a3, a4, 0 as libc::c_ulong) };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn ignored(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSYS) | Some(libc::EPERM))
}

/// Joins (creating it on first use) the session keyring `_ses.<id>`. `init` also makes it
/// searchable by its owner, or by anyone when the container has a user namespace (its
/// processes are not the keyring's owner then), so that a process of the container that
/// changed its user can still use it (runc sets the same bits).
pub(crate) fn join_session(id: &str, init: bool, userns: bool) -> Result<()> {
    let name = std::ffi::CString::new(format!("_ses.{id}"))
        .map_err(|_| Error::other("container id holds a NUL byte"))?;
    let serial = match keyctl(
        libc::KEYCTL_JOIN_SESSION_KEYRING,
        name.as_ptr() as libc::c_ulong,
        0,
        0,
    ) {
        Ok(s) => s,
        Err(e) if ignored(&e) => return Ok(()),
        Err(e) => return Err(Error::other(format!("join session keyring: {e}"))),
    };
    if !init {
        return Ok(());
    }
    // "type;uid;gid;perm;description": the current permissions are the fourth field, in hex.
    let mut buf = [0u8; 256];
    let n = keyctl(
        libc::KEYCTL_DESCRIBE,
        serial as libc::c_ulong,
        buf.as_mut_ptr() as libc::c_ulong,
        buf.len() as libc::c_ulong,
    );
    let text = match n {
        Ok(n) => String::from_utf8_lossy(&buf[..(n as usize).min(buf.len())]).into_owned(),
        Err(e) => return Err(Error::other(format!("describe session keyring: {e}"))),
    };
    let perm = text
        .split(';')
        .nth(3)
        .and_then(|p| u32::from_str_radix(p, 16).ok())
        .ok_or_else(|| Error::other(format!("session keyring description {text:?}")))?;
    let add = if userns {
        KEY_OTH_SEARCH
    } else {
        KEY_USR_SEARCH
    };
    if perm & add != add {
        keyctl(
            libc::KEYCTL_SETPERM,
            serial as libc::c_ulong,
            (perm | add) as libc::c_ulong,
            0,
        )
        .map_err(|e| Error::other(format!("set session keyring permissions: {e}")))?;
    }
    Ok(())
}
