//! Fixtures: a temp --root/--runroot per test with the busybox image imported, removed (with any
//! containers left) on drop.

#![allow(dead_code, clippy::new_without_default)]

use engine::{CreateRequest, Engine, EngineOptions, RemoveOptions};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub fn busybox_tar() -> &'static Path {
    static TAR: OnceLock<PathBuf> = OnceLock::new();
    TAR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("berth-engine-bb-{}", std::process::id()));
        let rootfs = d.join("rootfs");
        std::fs::create_dir_all(&rootfs).unwrap();
        testutil::make_busybox_rootfs(&rootfs);
        let tar = d.join("busybox.tar");
        let st = std::process::Command::new("tar")
            .arg("-C")
            .arg(&rootfs)
            .args(["-cf"])
            .arg(&tar)
            .arg(".")
            .status()
            .unwrap();
        assert!(st.success());
        let _ = std::fs::remove_dir_all(&rootfs);
        tar
    })
}

pub struct Env {
    pub engine: Engine,
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Env {
        testutil::require_root();
        let dir = tempfile::Builder::new()
            .prefix("berth-engine-")
            .tempdir_in("/var/tmp")
            .unwrap();
        let engine = Engine::open(EngineOptions {
            root: dir.path().join("root"),
            runroot: dir.path().join("run"),
            storage_driver: None,
        })
        .unwrap();
        let mut f = std::fs::File::open(busybox_tar()).unwrap();
        engine
            .image_import(
                &mut f,
                &engine::images::ImportRequest {
                    changes: vec!["ENV PATH=/bin".into()],
                    reference: Some("busybox:latest".into()),
                    ..Default::default()
                },
            )
            .unwrap();
        Env { engine, dir }
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }
    pub fn runroot(&self) -> PathBuf {
        self.dir.path().join("run")
    }

    /// Creates a busybox container running `cmd` with host config tweaks.
    pub fn create(&self, cmd: &[&str], f: impl FnOnce(&mut CreateRequest)) -> String {
        let mut req = CreateRequest::default();
        req.config.image = "busybox".into();
        req.config.cmd = Some(cmd.iter().map(|s| s.to_string()).collect());
        req.host_config.network_mode = "none".into();
        f(&mut req);
        self.engine.create(req).unwrap().id
    }

    pub fn run_d(&self, cmd: &[&str], f: impl FnOnce(&mut CreateRequest)) -> String {
        let id = self.create(cmd, f);
        self.engine.start(&id).unwrap();
        id
    }

    /// Runs to completion attached; returns (exit code, stdout, stderr).
    pub fn run(
        &self,
        cmd: &[&str],
        f: impl FnOnce(&mut CreateRequest),
    ) -> (String, i64, String, String) {
        let id = self.create(cmd, f);
        let a = self
            .engine
            .start_attached(&id, &engine::AttachOptions::default())
            .unwrap();
        let (mut o, mut e) = (Vec::new(), Vec::new());
        let r = a.pump(None, &mut o, &mut e).unwrap().expect("exit");
        (
            id,
            r.status_code,
            String::from_utf8_lossy(&o).into_owned(),
            String::from_utf8_lossy(&e).into_owned(),
        )
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        for c in self
            .engine
            .list(&engine::ListOptions {
                all: true,
                ..Default::default()
            })
            .unwrap_or_default()
        {
            let _ = self.engine.remove(
                &c.id,
                &RemoveOptions {
                    force: true,
                    volumes: true,
                },
            );
        }
        // Image layers are plain directories; nothing is mounted once containers are gone.
        let _ = std::process::Command::new("umount")
            .arg("-R")
            .arg(self.dir.path())
            .stderr(std::process::Stdio::null())
            .status();
        // A monitor may still be finishing its work after its reply (moving an emptied layer
        // to the spares): the deletion fails while it adds entries; again until the dir is
        // gone (bounded). Once it is, the monitor's moves fail and nothing comes back.
        for _ in 0..250 {
            if std::fs::remove_dir_all(self.dir.path()).is_ok() || !self.dir.path().exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

/// The mounts currently under `p` (from /proc/self/mountinfo).
pub fn mounts_under(p: &Path) -> Vec<String> {
    let s = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let p = p.to_string_lossy();
    s.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| m.starts_with(&*p))
        .map(String::from)
        .collect()
}

/// The cgroup directories of a container (v1 controllers and the v2 mount).
pub fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        let p = e.path().join("berth").join(id);
        if p.exists() {
            out.push(p);
        }
    }
    out
}
