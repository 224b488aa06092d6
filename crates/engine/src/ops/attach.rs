//! `attach`: a stream to a running container's monitor.

use crate::types::ContainerStatus;
use crate::{attach_io, monitor, AttachOptions, Attachment, Engine, Error, Result, WaitResult};
use std::io::{Read, Write};

impl Engine {
    /// Attaches to a running container's stdio.
    pub fn attach(&self, id: &str, opts: &AttachOptions) -> Result<Attachment> {
        let (id, rec) = self.record(id)?;
        match rec.effective_status() {
            ContainerStatus::Running | ContainerStatus::Restarting => {}
            ContainerStatus::Paused => {
                return Err(Error::Conflict(
                    "You cannot attach to a paused container, unpause it first".into(),
                ))
            }
            _ => {
                return Err(Error::Conflict(
                    "You cannot attach to a stopped container, start it first".into(),
                ))
            }
        }
        let sock = monitor::connect(&self.paths, &id, opts.stdin, opts.stdout, opts.stderr)
            .map_err(|_| {
                Error::Conflict("You cannot attach to a stopped container, start it first".into())
            })?;
        Ok(Attachment {
            sock,
            tty: rec.config.tty,
            stdin: opts.stdin,
        })
    }
}

impl Attachment {
    pub fn tty(&self) -> bool {
        self.tty
    }

    /// Relays `stdin` to the container (if attached with stdin) and its output to
    /// `stdout`/`stderr` until the output ends. Returns the container's exit when it ended
    /// while attached (None when the monitor went away without one).
    pub fn pump(
        self,
        stdin: Option<Box<dyn Read + Send>>,
        stdout: &mut dyn Write,
        stderr: &mut dyn Write,
    ) -> Result<Option<WaitResult>> {
        match self.pump_detachable(stdin, stdout, stderr, &[])? {
            attach_io::Pumped::Ended(w) => Ok(w),
            attach_io::Pumped::Detached => Err(Error::Detached),
        }
    }

    /// Resizes the container's tty (no-op without one).
    pub fn resize(&self, rows: u16, cols: u16) -> Result<()> {
        if !self.tty {
            return Ok(());
        }
        let mut d = [0u8; 4];
        d[..2].copy_from_slice(&rows.to_be_bytes());
        d[2..].copy_from_slice(&cols.to_be_bytes());
        let mut s = &self.sock;
        monitor::write_frame(&mut s, monitor::RESIZE, &d).map_err(Error::io("resize"))
    }
}
