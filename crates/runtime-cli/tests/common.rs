//! Helpers shared by the berth-runtime integration tests (root, real kernel).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub use testutil::{require_root, unique_name, Bundle};

/// A private state root for one test, removed (with anything left in it) on drop.
pub struct Runtime {
    pub root: tempfile::TempDir,
}

impl Default for Runtime {
    fn default() -> Self {
        Self::new()
    }
}

impl Runtime {
    pub fn new() -> Runtime {
        require_root();
        Runtime {
            root: tempfile::Builder::new()
                .prefix("berth-rt-state")
                .tempdir()
                .unwrap(),
        }
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_berth-runtime"));
        c.arg("--root").arg(self.root.path());
        c
    }

    /// Runs berth-runtime with `args`; stdin closed, output captured.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("spawn berth-runtime")
    }

    /// Runs berth-runtime for a command that leaves a container behind (create, run -d): the
    /// container inherits stdio, so output goes to a file instead of a pipe that would stay open.
    pub fn run_detached(&self, args: &[&str]) -> Output {
        let log = tempfile::NamedTempFile::new().unwrap();
        let status = self
            .cmd()
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log.reopen().unwrap())
            .status()
            .expect("spawn berth-runtime");
        Output {
            status,
            stdout: Vec::new(),
            stderr: std::fs::read(log.path()).unwrap(),
        }
    }

    /// `run --bundle B ID`: output of a container that runs to completion.
    pub fn run_bundle(&self, b: &Bundle, id: &str) -> Output {
        let bundle = b.path();
        self.run(&["run", "--bundle", bundle.to_str().unwrap(), id])
    }

    pub fn state(&self, id: &str) -> serde_json::Value {
        let o = self.run(&["state", id]);
        assert!(o.status.success(), "state {id}: {}", stderr(&o));
        serde_json::from_slice(&o.stdout).unwrap()
    }

    pub fn state_dir(&self, id: &str) -> PathBuf {
        self.root.path().join(id)
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // Leave nothing behind even when a test failed half-way.
        if let Ok(rd) = std::fs::read_dir(self.root.path()) {
            for e in rd.flatten() {
                let id = e.file_name().to_string_lossy().into_owned();
                let _ = self.run(&["delete", "--force", &id]);
            }
        }
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The container's cgroup directory in a v1 controller hierarchy (runtime default path).
pub fn cgroup_dir(controller: &str, id: &str) -> PathBuf {
    Path::new("/sys/fs/cgroup")
        .join(controller)
        .join("berth")
        .join(id)
}

pub fn set_args(b: &mut Bundle, args: &[&str]) {
    b.edit(|s| s["process"]["args"] = serde_json::json!(args));
}
