//! `logs` (the reader is crate::logs).

use crate::{logs, Engine, LogsOptions, Result};
use std::io::Write;

impl Engine {
    pub fn logs(
        &self,
        id: &str,
        opts: &LogsOptions,
        stdout: &mut dyn Write,
        stderr: &mut dyn Write,
    ) -> Result<()> {
        let (id, _) = self.record(id)?;
        logs::read(&self.paths, &id, opts, stdout, stderr)
    }
}
