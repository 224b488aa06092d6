//! Docker-style output of the engine's pull/push progress events: per-layer lines redrawn in
//! place on a terminal, plain status lines otherwise, only the results with `-q`.

use engine::images::ProgressEvent;
use std::collections::HashMap;
use std::io::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Tty,
    Plain,
    Quiet,
}

pub struct Renderer<W: Write> {
    mode: Mode,
    out: W,
    /// Layer ids in the order their lines were printed (TTY redraw positions).
    rows: Vec<String>,
    last: HashMap<String, String>,
}

impl<W: Write> Renderer<W> {
    pub fn new(out: W, tty: bool, quiet: bool) -> Renderer<W> {
        let mode = match (quiet, tty) {
            (true, _) => Mode::Quiet,
            (false, true) => Mode::Tty,
            (false, false) => Mode::Plain,
        };
        Renderer {
            mode,
            out,
            rows: Vec::new(),
            last: HashMap::new(),
        }
    }

    pub fn event(&mut self, ev: ProgressEvent) {
        match ev {
            ProgressEvent::Message(line) => {
                if self.mode == Mode::Quiet {
                    return;
                }
                self.rows.clear();
                let _ = writeln!(self.out, "{line}");
                let _ = self.out.flush();
            }
            ProgressEvent::Result(line) => {
                let _ = writeln!(self.out, "{line}");
                let _ = self.out.flush();
            }
            ProgressEvent::Status { id, status } => {
                let line = format!("{id}: {status}");
                self.draw(&id, line, true);
            }
            ProgressEvent::Bytes {
                id,
                action,
                current,
                total,
            } => {
                if self.mode != Mode::Tty {
                    return;
                }
                let line = format!("{id}: {action} {}", bar(current, total));
                self.draw(&id, line, false);
            }
        }
    }

    fn draw(&mut self, id: &str, line: String, plain_too: bool) {
        match self.mode {
            Mode::Quiet => return,
            Mode::Plain => {
                if plain_too {
                    let _ = writeln!(self.out, "{line}");
                    let _ = self.out.flush();
                }
                return;
            }
            Mode::Tty => {}
        }
        if self.last.get(id) == Some(&line) {
            return;
        }
        self.last.insert(id.to_string(), line.clone());
        match self.rows.iter().position(|r| r == id) {
            None => {
                self.rows.push(id.to_string());
                let _ = writeln!(self.out, "{line}");
            }
            Some(i) => {
                // Up to the layer's row, rewrite it, back down (like Docker's jsonmessage).
                let up = self.rows.len() - i;
                let _ = write!(self.out, "\x1b[{up}A\r\x1b[2K{line}\r\x1b[{up}B");
            }
        }
        let _ = self.out.flush();
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
fn human(n: u64) -> String {
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

    fn status(id: &str, s: &str) -> ProgressEvent {
        ProgressEvent::Status {
            id: id.into(),
            status: s.into(),
        }
    }

    #[test]
    fn plain_quiet_and_tty() {
        let mut r = Renderer::new(Vec::new(), false, false);
        r.event(ProgressEvent::Message(
            "latest: Pulling from library/x".into(),
        ));
        r.event(status("abc", "Pulling fs layer"));
        r.event(ProgressEvent::Bytes {
            id: "abc".into(),
            action: "Downloading".into(),
            current: 1,
            total: Some(2),
        });
        r.event(status("abc", "Pull complete"));
        r.event(ProgressEvent::Result("done".into()));
        assert_eq!(
            String::from_utf8(r.out).unwrap(),
            "latest: Pulling from library/x\nabc: Pulling fs layer\nabc: Pull complete\ndone\n"
        );
        let mut r = Renderer::new(Vec::new(), false, true);
        r.event(ProgressEvent::Message("x".into()));
        r.event(status("abc", "y"));
        r.event(ProgressEvent::Result("docker.io/library/x:latest".into()));
        assert_eq!(
            String::from_utf8(r.out).unwrap(),
            "docker.io/library/x:latest\n"
        );
        let mut r = Renderer::new(Vec::new(), true, false);
        r.event(status("a", "Waiting"));
        r.event(status("b", "Waiting"));
        r.event(ProgressEvent::Bytes {
            id: "a".into(),
            action: "Downloading".into(),
            current: 1,
            total: Some(2),
        });
        let t = String::from_utf8(r.out).unwrap();
        assert!(
            t.starts_with("a: Waiting\nb: Waiting\n\x1b[2A\r\x1b[2Ka: Downloading ["),
            "{t:?}"
        );
        assert_eq!(human(12_345_678), "12.3MB");
    }
}
