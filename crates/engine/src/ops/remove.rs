//! `rm`.

use crate::teardown::{release_resources, remove_all};
use crate::types::ContainerStatus;
use crate::{monitor, record, Engine, Error, RemoveOptions, Result};

impl Engine {
    pub fn remove(&self, id: &str, opts: &RemoveOptions) -> Result<()> {
        let (id, rec) = self.record_settled(id)?;
        let running = matches!(
            rec.effective_status(),
            ContainerStatus::Running | ContainerStatus::Paused | ContainerStatus::Restarting
        );
        if running && !opts.force {
            let what = if rec.effective_status() == ContainerStatus::Paused {
                "paused"
            } else {
                "running"
            };
            return Err(Error::Conflict(format!(
                "You cannot remove a {what} container {id}. Stop the container before attempting removal or force remove"
            )));
        }
        // "removing" with its monitor alive: an `rm -f` killed before it stopped the
        // container (issue 12), or one in progress: stop it again (harmless), never just
        // wait for a monitor nobody asked to stop.
        let removing = rec.effective_status() == ContainerStatus::Removing && rec.monitor_alive();
        if running || (removing && opts.force) {
            let rec = record::update(&self.paths, &id, |r| {
                r.state.status = ContainerStatus::Removing;
                Ok(r.clone())
            })?;
            let rt = runtime::state::StateRoot::new(self.paths.runtime_root());
            if let Ok(c) = runtime::Container::load(&rt, &id) {
                let _ = c.kill(nix::sys::signal::Signal::SIGKILL, true);
            }
            let _ = self.signal_init(&rec, libc::SIGKILL);
            if rec.monitor_alive() {
                monitor::wait_pid_exit(rec.monitor_pid as i32, -1);
            }
        } else if rec.monitor_alive() {
            // A monitor finishing up (e.g. --rm cleanup): let it.
            monitor::wait_pid_exit(rec.monitor_pid as i32, -1);
        }
        {
            let _l = record::lock(&self.paths.dir(&id), &id).ok();
            // A monitor the record doesn't know (its starter was killed before saving it)
            // would go on creating the container behind our back: stop it first.
            if !rec.monitor_alive() {
                monitor::stop_recorded_monitor(&self.paths, &id);
            }
            release_resources(&self.paths, &id);
            let anonymous = if opts.volumes {
                crate::volume::mounts::anonymous_of(&self.paths, &rec.mount_points)
            } else {
                Vec::new()
            };
            remove_all(&self.paths, &id);
            crate::volume::mounts::remove_unused(&self.paths, &anonymous);
        }
        Ok(())
    }
}
