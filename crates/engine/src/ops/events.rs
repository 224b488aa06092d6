//! `events`.

use crate::{logs, Engine, Event, EventsOptions, Result};

impl Engine {
    /// Calls `f` for each matching event; stops when it returns false.
    pub fn events(&self, opts: &EventsOptions, f: &mut dyn FnMut(&Event) -> bool) -> Result<()> {
        logs::events(&self.paths.root, opts, f)
    }
}
