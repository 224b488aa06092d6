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
    /// Every call goes to the sink as an [`Event`] (the front end renders them).
    Events {
        quiet: bool,
    },
}

/// What a pull or push reports, for a front end to render (see [`Progress::events`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A line such as "latest: Pulling from library/busybox" (hidden by `-q`).
    Message(String),
    /// The command's result (shown with `-q` too).
    Result(String),
    /// A layer's status change: "Pulling fs layer", "Download complete", "Pull complete"...
    Status { id: String, status: String },
    /// Transfer progress of a layer.
    Bytes {
        id: String,
        action: String,
        current: u64,
        total: Option<u64>,
    },
}

type Sink<'a> = Box<dyn FnMut(Event) + Send + 'a>;

struct Inner<'a> {
    mode: Mode,
    out: Box<dyn Write + Send + 'a>,
    sink: Option<Sink<'a>>,
    /// Layer ids in the order their lines were printed (TTY redraw positions).
    rows: Vec<String>,
    last: HashMap<String, String>,
}

/// Thread-safe progress sink shared by the download/upload threads: typed [`Event`]s for a
/// front end ([`Progress::events`]), or Docker's text written here (the crate's examples and
/// tests).
pub struct Progress<'a> {
    inner: Mutex<Inner<'a>>,
}

impl<'a> Progress<'a> {
    /// Every report goes to `sink` as an [`Event`]; `quiet` is `-q` (push then reports the
    /// pushed reference as its result).
    pub fn events(quiet: bool, sink: impl FnMut(Event) + Send + 'a) -> Progress<'a> {
        Progress {
            inner: Mutex::new(Inner {
                mode: Mode::Events { quiet },
                out: Box::new(std::io::sink()),
                sink: Some(Box::new(sink)),
                rows: Vec::new(),
                last: HashMap::new(),
            }),
        }
    }

    fn emit(&self, ev: impl FnOnce() -> Event) -> bool {
        let mut g = self.inner.lock().unwrap();
        match g.sink.as_mut() {
            Some(s) => {
                s(ev());
                true
            }
            None => false,
        }
    }

    /// Standard output, redrawn in place when it is a terminal; `quiet` prints results only.
    pub fn stdout(quiet: bool) -> Progress<'a> {
        // SAFETY: isatty only inspects the descriptor.
        let tty = unsafe { libc::isatty(1) } == 1;
        Progress::new(Box::new(std::io::stdout()), tty, quiet)
    }

    pub fn new(out: Box<dyn Write + Send + 'a>, tty: bool, quiet: bool) -> Progress<'a> {
        let mode = match (quiet, tty) {
            (true, _) => Mode::Quiet,
            (false, true) => Mode::Tty,
            (false, false) => Mode::Plain,
        };
        Progress {
            inner: Mutex::new(Inner {
                mode,
                out,
                sink: None,
                rows: Vec::new(),
                last: HashMap::new(),
            }),
        }
    }

    /// Prints nothing at all.
    pub fn silent() -> Progress<'a> {
        Progress::new(Box::new(std::io::sink()), false, true)
    }

    /// A line such as "latest: Pulling from library/busybox" (not in quiet mode).
    pub fn message(&self, line: &str) {
        if self.emit(|| Event::Message(line.to_string())) {
            return;
        }
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
        matches!(
            self.inner.lock().unwrap().mode,
            Mode::Quiet | Mode::Events { quiet: true }
        )
    }

    /// The command's result (printed in quiet mode too).
    pub fn result(&self, line: &str) {
        if self.emit(|| Event::Result(line.to_string())) {
            return;
        }
        let mut g = self.inner.lock().unwrap();
        let _ = writeln!(g.out, "{line}");
        let _ = g.out.flush();
    }

    /// A layer's status change: "Pulling fs layer", "Download complete", "Pull complete"...
    pub fn status(&self, id: &str, status: &str) {
        let ev = || Event::Status {
            id: id.to_string(),
            status: status.to_string(),
        };
        if self.emit(ev) {
            return;
        }
        let line = format!("{id}: {status}");
        self.draw(id, line, true);
    }

    /// Transfer progress of a layer (terminal only), e.g. "Downloading [==>  ]  1.2MB/4.5MB".
    pub fn bytes(&self, id: &str, action: &str, current: u64, total: Option<u64>) {
        let ev = || Event::Bytes {
            id: id.to_string(),
            action: action.to_string(),
            current,
            total,
        };
        if self.emit(ev) {
            return;
        }
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
            Mode::Events { .. } => return,
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
    fn events_reach_the_sink() {
        let got = Mutex::new(Vec::new());
        {
            let p = Progress::events(true, |e| got.lock().unwrap().push(e));
            assert!(p.is_quiet());
            p.message("m");
            p.status("a", "Waiting");
            p.bytes("a", "Downloading", 1, Some(2));
            p.result("r");
        }
        assert_eq!(
            got.into_inner().unwrap(),
            vec![
                Event::Message("m".into()),
                Event::Status {
                    id: "a".into(),
                    status: "Waiting".into()
                },
                Event::Bytes {
                    id: "a".into(),
                    action: "Downloading".into(),
                    current: 1,
                    total: Some(2)
                },
                Event::Result("r".into()),
            ]
        );
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
