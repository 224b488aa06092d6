//! Shared helpers of the volume tests (`volumes.rs`, `volume_mounts.rs`).
#![allow(dead_code)]

use crate::common::{dockerd::unmount_under, sh, Env};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// An Env whose volume mounts (`-o type=tmpfs` volumes) are undone even when a test fails.
pub struct VEnv(pub Env);

impl std::ops::Deref for VEnv {
    type Target = Env;
    fn deref(&self) -> &Env {
        &self.0
    }
}

impl Drop for VEnv {
    fn drop(&mut self) {
        // Containers first (Env's drop), but the volume mounts must go before its temp dir.
        if let Ok(o) = self.0.cmd(&["ps", "-aq", "--no-trunc"]).output() {
            let ids = String::from_utf8_lossy(&o.stdout).to_string();
            let ids: Vec<&str> = ids.split_whitespace().collect();
            if !ids.is_empty() {
                let mut args = vec!["rm", "-f"];
                args.extend(ids);
                let _ = self.0.cmd(&args).output();
            }
        }
        unmount_under(&self.0.root().join("volumes"));
    }
}

pub fn lsetxattr(p: &Path, k: &str, v: &[u8]) {
    let cp = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    let ck = std::ffi::CString::new(k).unwrap();
    // SAFETY: valid NUL-terminated strings and a buffer of v.len() bytes.
    let r = unsafe { libc::lsetxattr(cp.as_ptr(), ck.as_ptr(), v.as_ptr().cast(), v.len(), 0) };
    assert_eq!(r, 0, "lsetxattr {k} on {}", p.display());
}

pub fn lgetxattr(p: &Path, k: &str) -> Option<Vec<u8>> {
    let cp = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    let ck = std::ffi::CString::new(k).unwrap();
    let mut buf = vec![0u8; 256];
    // SAFETY: valid NUL-terminated strings and a writable buffer of buf.len() bytes.
    let n =
        unsafe { libc::lgetxattr(cp.as_ptr(), ck.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    (n >= 0).then(|| buf[..n as usize].to_vec())
}

/// busybox plus `/data` (a dir 0750 owned 1234:5678 holding `f`, 0640 1234:5678 with the
/// xattr user.berth=copied, and a symlink) and `/link -> <host dir>` (the hostile part),
/// imported as `vimg` with `VOLUME /data` and `VOLUME /link`.
pub fn setup() -> (VEnv, PathBuf) {
    let env = VEnv(Env::new());
    let rootfs = env.path("vimg-rootfs");
    testutil::make_busybox_rootfs(&rootfs);
    let data = rootfs.join("data");
    std::fs::create_dir_all(data.join("sub")).unwrap();
    std::fs::write(data.join("f"), "hi\n").unwrap();
    std::fs::write(data.join("sub/g"), "deep\n").unwrap();
    std::os::unix::fs::symlink("f", data.join("ln")).unwrap();
    sh(&format!(
        "chown -R 1234:5678 {0} && chmod 0750 {0} && chmod 0640 {0}/f",
        data.display()
    ));
    lsetxattr(&data.join("f"), "user.berth", b"copied");
    // A host directory the image's /link points at (an absolute host path).
    let host = env.path("host-dir");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("secret"), "host\n").unwrap();
    std::os::unix::fs::symlink(&host, rootfs.join("link")).unwrap();
    std::os::unix::fs::symlink("/etc", rootfs.join("link2")).unwrap();
    let tar = env.path("vimg.tar");
    sh(&format!(
        "tar --xattrs --xattrs-include='*' -C {} -cf {} .",
        rootfs.display(),
        tar.display()
    ));
    env.ok(&[
        "import",
        "-c",
        "VOLUME /data /link",
        "-c",
        "CMD [\"sh\"]",
        tar.to_str().unwrap(),
        "vimg",
    ]);
    (env, host)
}

pub fn inspect_json(env: &Env, args: &[&str]) -> Value {
    let mut a = vec!["inspect"];
    a.extend_from_slice(args);
    serde_json::from_str(&env.ok(&a)).unwrap()
}

pub fn vol_path(env: &Env, name: &str) -> PathBuf {
    env.root().join("volumes").join(name).join("_data")
}

pub fn names(env: &Env) -> Vec<String> {
    env.ok(&["volume", "ls", "-q"])
        .lines()
        .map(String::from)
        .collect()
}
