//! `kill` and signalling a container's init.

use crate::record::Record;
use crate::types::ContainerStatus;
use crate::{events, Engine, Error, Result};

pub(crate) fn parse_signal(s: &str) -> Result<i32> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(libc::SIGKILL);
    }
    if let Ok(n) = s.parse::<i32>() {
        if n > 0 && n < 65 {
            return Ok(n);
        }
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    let sig: std::result::Result<nix::sys::signal::Signal, _> = format!("SIG{name}").parse();
    sig.map(|s| s as i32)
        .map_err(|_| Error::InvalidArgument(format!("Invalid signal: {s}")))
}

impl Engine {
    pub(crate) fn signal_init(&self, rec: &Record, sig: i32) -> Result<()> {
        if rec.state.pid <= 0 || !rec.monitor_alive() {
            return Err(Error::Conflict(format!(
                "Container {} is not running",
                rec.id
            )));
        }
        // SAFETY: kill(2) on the container's init PID; its monitor (its parent) is alive so the
        // PID cannot have been reused.
        if unsafe { libc::kill(rec.state.pid as i32, sig) } != 0 {
            return Err(Error::io("kill")(std::io::Error::last_os_error()));
        }
        if sig == libc::SIGKILL {
            // A frozen process cannot die: thaw it (Docker resumes a paused container it
            // SIGKILLs). Also undoes a freeze an `rm -f` killed inside its kill-all left
            // (issue 12): `stop` then waited forever for a container that could not exit.
            let rt = runtime::state::StateRoot::new(self.paths.runtime_root());
            if let Ok(c) = runtime::Container::load(&rt, &rec.id) {
                if c.status() == runtime::state::Status::Paused {
                    let _ = c.resume();
                }
            }
        }
        Ok(())
    }

    /// `kill -s SIG` (name like "KILL"/"SIGKILL" or a number; "" = KILL).
    pub fn kill(&self, id: &str, signal: &str) -> Result<()> {
        let sig = parse_signal(signal)?;
        let (_, rec) = self.record(id)?;
        if rec.effective_status() != ContainerStatus::Running
            && rec.effective_status() != ContainerStatus::Paused
        {
            return Err(Error::Conflict(format!(
                "Cannot kill container: {}: Container {} is not running",
                id, rec.id
            )));
        }
        self.signal_init(&rec, sig)?;
        if sig == libc::SIGKILL {
            self.wait_not_running(&rec);
        }
        events::container_event_with(
            &self.paths.root,
            &rec.id,
            "kill",
            &[("signal", sig.to_string())],
        );
        Ok(())
    }

    /// As dockerd's kill with SIGKILL: return once the container is no longer running (its
    /// monitor recorded the exit, or restarted it: a new PID). Bounded: a process stuck in
    /// the kernel (D state) does not hang the command.
    fn wait_not_running(&self, rec: &Record) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            match self.record(&rec.id) {
                Ok((_, r))
                    if r.effective_status() == ContainerStatus::Running
                        && r.state.pid == rec.state.pid =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(5))
                }
                _ => return,
            }
        }
    }
}
