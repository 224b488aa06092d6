//! Build progress in BuildKit's `plain` format: `#N title`, `#N <secs> <output line>`,
//! `#N CACHED`, `#N DONE 0.3s`, `#N ERROR: ...`. Lines of parallel stages interleave whole.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// `--progress`: plain (also what `auto` and `tty` give), or quiet (`-q`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProgressMode {
    #[default]
    Plain,
    Quiet,
}

pub(crate) struct Progress {
    out: Arc<Mutex<Box<dyn Write + Send>>>,
    next: AtomicUsize,
    mode: ProgressMode,
}

pub(crate) struct Step {
    out: Arc<Mutex<Box<dyn Write + Send>>>,
    n: usize,
    start: Instant,
    quiet: bool,
}

impl Progress {
    pub fn new(out: Box<dyn Write + Send>, mode: ProgressMode) -> Progress {
        Progress {
            out: Arc::new(Mutex::new(out)),
            next: AtomicUsize::new(1),
            mode,
        }
    }

    pub fn step(&self, title: &str) -> Step {
        let n = self.next.fetch_add(1, Ordering::SeqCst);
        let s = Step {
            out: self.out.clone(),
            n,
            start: Instant::now(),
            quiet: self.mode == ProgressMode::Quiet,
        };
        s.write(&format!("#{n} {title}\n"));
        s
    }

    /// An `[internal]` step that is done at once.
    pub fn internal(&self, what: &str) {
        self.step(&format!("[internal] {what}")).done();
    }
}

impl Step {
    fn write(&self, s: &str) {
        if self.quiet {
            return;
        }
        let mut o = self.out.lock().unwrap();
        let _ = o.write_all(s.as_bytes());
        let _ = o.flush();
    }

    pub fn log(&self, line: &str) {
        self.write(&format!("#{} {line}\n", self.n));
    }

    /// One line of a RUN's output, with the time since the step began.
    pub fn output(&self, line: &[u8]) {
        let t = self.start.elapsed().as_secs_f64();
        let line = String::from_utf8_lossy(line);
        self.write(&format!(
            "#{} {t:.3} {}\n",
            self.n,
            line.trim_end_matches('\n')
        ));
    }

    pub fn cached(self) {
        self.write(&format!("#{} CACHED\n\n", self.n));
    }

    pub fn done(self) {
        let t = self.start.elapsed().as_secs_f64();
        self.write(&format!("#{} DONE {t:.1}s\n\n", self.n));
    }

    pub fn error(self, msg: &str) {
        let t = self.start.elapsed().as_secs_f64();
        self.write(&format!(
            "#{} ERROR: {msg}\n#{} DONE {t:.1}s (failed)\n\n",
            self.n, self.n
        ));
    }

    /// A writer that turns a RUN's output into `output` lines.
    pub fn writer(&self) -> LineWriter<'_> {
        LineWriter {
            step: self,
            buf: Vec::new(),
        }
    }
}

pub(crate) struct LineWriter<'a> {
    step: &'a Step,
    buf: Vec<u8>,
}

impl Write for LineWriter<'_> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        while let Some(i) = self.buf.iter().position(|c| *c == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=i).collect();
            self.step.output(&line);
        }
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter<'_> {
    fn drop(&mut self) {
        if !self.buf.is_empty() {
            let b = std::mem::take(&mut self.buf);
            self.step.output(&b);
        }
    }
}
