//! Docker-style output of pull/push: per-layer lines redrawn in place on a terminal, plain
//! status lines otherwise, only the result with `-q`.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Tty,
    Plain,
    Quiet,
}

struct Inner {
    mode: Mode,
    out: Box<dyn Write + Send>,
    /// Layer ids in the order their lines were printed (TTY redraw positions).
    rows: Vec<String>,
    last: HashMap<String, String>,
}

/// Thread-safe progress sink shared by the download/upload threads.
pub struct Progress {
    inner: Mutex<Inner>,
}

impl Progress {
    /// Standard output, redrawn in place when it is a terminal; `quiet` prints results only.
    pub fn stdout(quiet: bool) -> Progress {
        // SAFETY: isatty only inspects the descriptor.
        let tty = unsafe { libc::isatty(1) } == 1;
        Progress::new(Box::new(std::io::stdout()), tty, quiet)
    }

    pub fn new(out: Box<dyn Write + Send>, tty: bool, quiet: bool) -> Progress {
        let mode = match (quiet, tty) {
            (true, _) => Mode::Quiet,
            (false, true) => Mode::Tty,
            (false, false) => Mode::Plain,
        };
        Progress {
            inner: Mutex::new(Inner {
                mode,
                out,
                rows: Vec::new(),
                last: HashMap::new(),
            }),
        }
    }

    /// Prints nothing at all.
    pub fn silent() -> Progress {
        Progress::new(Box::new(std::io::sink()), false, true)
    }

    /// A line such as "latest: Pulling from library/busybox" (not in quiet mode).
    pub fn message(&self, line: &str) {
        let mut g = self.inner.lock().unwrap();
        if g.mode == Mode::Quiet {
            return;
        }
        g.rows.clear();
        let _ = writeln!(g.out, "{line}");
        let _ = g.out.flush();
    }

    /// True with `-q`.
    pub fn is_quiet(&self) -> bool {
        self.inner.lock().unwrap().mode == Mode::Quiet
    }

    /// The command's result (printed in quiet mode too).
    pub fn result(&self, line: &str) {
        let mut g = self.inner.lock().unwrap();
        let _ = writeln!(g.out, "{line}");
        let _ = g.out.flush();
    }

    /// A layer's status change: "Pulling fs layer", "Download complete", "Pull complete"...
    pub fn status(&self, id: &str, status: &str) {
        let line = format!("{id}: {status}");
        self.draw(id, line, true);
    }

    /// Transfer progress of a layer (terminal only), e.g. "Downloading [==>  ]  1.2MB/4.5MB".
    pub fn bytes(&self, id: &str, action: &str, current: u64, total: Option<u64>) {
        if self.inner.lock().unwrap().mode != Mode::Tty {
            return;
        }
        let line = format!("{id}: {action} {}", bar(current, total));
        self.draw(id, line, false);
    }

    fn draw(&self, id: &str, line: String, plain_too: bool) {
        let mut g = self.inner.lock().unwrap();
        match g.mode {
            Mode::Quiet => return,
            Mode::Plain => {
                if plain_too {
                    let _ = writeln!(g.out, "{line}");
                    let _ = g.out.flush();
                }
                return;
            }
            Mode::Tty => {}
        }
        if g.last.get(id) == Some(&line) {
            return;
        }
        g.last.insert(id.to_string(), line.clone());
        match g.rows.iter().position(|r| r == id) {
            None => {
                g.rows.push(id.to_string());
                let _ = writeln!(g.out, "{line}");
            }
            Some(i) => {
                // Up to the layer's row, rewrite it, back down (like Docker's jsonmessage).
                let up = g.rows.len() - i;
                let _ = write!(g.out, "\x1b[{up}A\r\x1b[2K{line}\r\x1b[{up}B");
            }
        }
        let _ = g.out.flush();
    }
}

/// `[=====>      ]  12.3MB/45.6MB`
fn bar(current: u64, total: Option<u64>) -> String {
    match total.filter(|t| *t > 0) {
        Some(t) => {
            const W: u64 = 50;
            let done = (current.min(t) * W / t) as usize;
            let mut b = "=".repeat(done);
            if done < W as usize {
                b.push('>');
                b.push_str(&" ".repeat(W as usize - done - 1));
            }
            format!("[{b}]  {}/{}", human(current), human(t))
        }
        None => human(current),
    }
}

/// Decimal units with three significant digits, like Docker's `units.HumanSize`.
pub fn human(n: u64) -> String {
    const U: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1000.0 && i < U.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    let s = if v >= 100.0 || i == 0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    };
    format!("{s}{}", U[i])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    impl Buf {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    #[test]
    fn units() {
        assert_eq!(human(999), "999B");
        assert_eq!(human(12_345_678), "12.3MB");
        assert_eq!(human(45_600_000), "45.6MB");
        assert_eq!(human(1_500), "1.50kB");
        assert!(bar(5, Some(10)).starts_with("[=========================>"));
        assert!(bar(10, Some(10)).ends_with("10B/10B"));
    }

    #[test]
    fn plain_and_quiet_and_tty() {
        let b = Buf::default();
        let p = Progress::new(Box::new(b.clone()), false, false);
        p.message("latest: Pulling from library/x");
        p.status("abc", "Pulling fs layer");
        p.bytes("abc", "Downloading", 1, Some(2));
        p.status("abc", "Pull complete");
        p.result("done");
        assert_eq!(
            b.text(),
            "latest: Pulling from library/x\nabc: Pulling fs layer\nabc: Pull complete\ndone\n"
        );
        let b = Buf::default();
        let p = Progress::new(Box::new(b.clone()), false, true);
        p.message("x");
        p.status("abc", "y");
        p.result("docker.io/library/x:latest");
        assert_eq!(b.text(), "docker.io/library/x:latest\n");
        let b = Buf::default();
        let p = Progress::new(Box::new(b.clone()), true, false);
        p.status("a", "Waiting");
        p.status("b", "Waiting");
        p.bytes("a", "Downloading", 1, Some(2));
        let t = b.text();
        assert!(
            t.starts_with("a: Waiting\nb: Waiting\n\x1b[2A\r\x1b[2Ka: Downloading ["),
            "{t:?}"
        );
    }
}
