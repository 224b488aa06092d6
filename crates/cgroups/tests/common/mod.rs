//! Shared helpers for the real-cgroupfs tests: unique names and a guard that kills the child and
//! removes every cgroup the test made, also when an assertion panics.

#![allow(dead_code)]

use cgroups::Manager;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A unique top-level cgroup name for this test process.
pub fn unique(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "berth-cgtest-{}-{tag}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Owns spawned children and the cgroup trees to remove.
#[derive(Default)]
pub struct Guard {
    pub children: Vec<Child>,
    pub trees: Vec<Box<dyn Manager>>,
}

impl Guard {
    pub fn spawn_sleep(&mut self) -> i32 {
        let c = Command::new("sleep")
            .arg("100")
            .spawn()
            .expect("spawn sleep");
        let pid = c.id() as i32;
        self.children.push(c);
        pid
    }

    /// A shell that runs `script` once per line it reads, printing the results.
    pub fn spawn_responder(&mut self, script: &str) -> (i32, ChildStdin, BufReader<ChildStdout>) {
        let mut c = Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("while read x; do {script}; done"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn sh");
        let pid = c.id() as i32;
        let stdin = c.stdin.take().unwrap();
        let stdout = BufReader::new(c.stdout.take().unwrap());
        self.children.push(c);
        (pid, stdin, stdout)
    }

    pub fn kill_children(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.children.clear();
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        for m in &self.trees {
            let _ = m.freeze(cgroups::FreezerState::Thawed);
        }
        self.kill_children();
        for m in &self.trees {
            let _ = m.destroy();
        }
    }
}

/// Sends one line to a responder and reads `n` lines back.
pub fn ask(stdin: &mut ChildStdin, out: &mut BufReader<ChildStdout>, n: usize) -> Vec<String> {
    writeln!(stdin, "go").unwrap();
    stdin.flush().unwrap();
    (0..n)
        .map(|_| {
            let mut l = String::new();
            out.read_line(&mut l).unwrap();
            l.trim().to_string()
        })
        .collect()
}

pub fn read(path: &std::path::Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .to_string()
}

/// The process state letter from /proc/<pid>/status.
pub fn proc_state(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("State:"))
        .unwrap()
        .trim()
        .to_string()
}
