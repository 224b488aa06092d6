//! `logs` from the json-file log and `events` from the event log; `--follow` waits with inotify
//! (no polling) and ends when the container stops.

use crate::events::{self, Event};
use crate::record::{self, Paths};
use crate::types::ContainerStatus;
use crate::{Error, EventsOptions, LogsOptions, Result};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use std::io::{BufRead, BufReader, Seek, Write};
use std::path::Path;

#[derive(serde::Deserialize)]
struct Line {
    log: String,
    stream: String,
    time: String,
}

fn ts_nanos(t: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(t)
        .ok()
        .and_then(|t| t.timestamp_nanos_opt())
        .unwrap_or(0)
}

fn emit(l: &Line, opts: &LogsOptions, stdout: &mut dyn Write, stderr: &mut dyn Write) -> bool {
    let t = ts_nanos(&l.time);
    if opts.since.is_some_and(|s| t < s) {
        return true;
    }
    if opts.until.is_some_and(|u| t > u) {
        return false;
    }
    let w: &mut dyn Write = match l.stream.as_str() {
        "stderr" if opts.stderr => stderr,
        "stdout" if opts.stdout => stdout,
        _ => return true,
    };
    if opts.timestamps {
        let _ = write!(w, "{} ", l.time);
    }
    let _ = w.write_all(l.log.as_bytes());
    true
}

pub fn read(
    paths: &Paths,
    id: &str,
    opts: &LogsOptions,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<()> {
    let p = paths.log_path(id);
    let inotify = if opts.follow {
        let i = Inotify::init(InitFlags::IN_CLOEXEC)
            .map_err(|e| Error::Other(format!("inotify: {e}")))?;
        let _ = i.add_watch(&p, AddWatchFlags::IN_MODIFY);
        // Records are replaced by rename: watch the directory for the new config.v2.json.
        let _ = i.add_watch(
            &paths.dir(id),
            AddWatchFlags::IN_MOVED_TO | AddWatchFlags::IN_DELETE_SELF,
        );
        Some(i)
    } else {
        None
    };
    let f = match std::fs::File::open(&p) {
        Ok(f) => f,
        Err(_) => return Ok(()),
    };
    let mut r = BufReader::new(f);
    let mut lines: Vec<Line> = Vec::new();
    let mut buf = String::new();
    loop {
        buf.clear();
        match r.read_line(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                if let Ok(l) = serde_json::from_str::<Line>(&buf) {
                    lines.push(l);
                }
            }
        }
    }
    let start = match opts.tail {
        Some(n) => lines.len().saturating_sub(n),
        None => 0,
    };
    for l in &lines[start..] {
        if !emit(l, opts, stdout, stderr) {
            return Ok(());
        }
    }
    let _ = stdout.flush();
    let _ = stderr.flush();
    let Some(ino) = inotify else { return Ok(()) };
    let mut pending = String::new();
    loop {
        let running = record::load(paths, id)
            .map(|r| {
                matches!(
                    r.effective_status(),
                    ContainerStatus::Running
                        | ContainerStatus::Paused
                        | ContainerStatus::Restarting
                )
            })
            .unwrap_or(false);
        // Read what was appended.
        loop {
            buf.clear();
            match r.read_line(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    pending.push_str(&buf);
                    if pending.ends_with('\n') {
                        if let Ok(l) = serde_json::from_str::<Line>(&pending) {
                            if !emit(&l, opts, stdout, stderr) {
                                return Ok(());
                            }
                        }
                        pending.clear();
                    }
                }
            }
        }
        let _ = stdout.flush();
        let _ = stderr.flush();
        if !running {
            return Ok(());
        }
        let _ = ino.read_events();
        let _ = r.stream_position();
    }
}

pub fn events(root: &Path, opts: &EventsOptions, f: &mut dyn FnMut(&Event) -> bool) -> Result<()> {
    let p = events::log_path(root);
    let ino = if opts.follow {
        let i = Inotify::init(InitFlags::IN_CLOEXEC)
            .map_err(|e| Error::Other(format!("inotify: {e}")))?;
        if !p.exists() {
            let _ = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&p);
        }
        let _ = i.add_watch(&p, AddWatchFlags::IN_MODIFY);
        Some(i)
    } else {
        None
    };
    let file = match std::fs::File::open(&p) {
        Ok(f) => f,
        Err(_) => return Ok(()),
    };
    let since = opts.since.map(|s| (s * 1e9) as i64);
    let until = opts.until.map(|s| (s * 1e9) as i64);
    let mut r = BufReader::new(file);
    let mut buf = String::new();
    let mut pending = String::new();
    // Without --since and with --follow, Docker streams only new events.
    let mut skip_old = opts.follow && since.is_none();
    loop {
        loop {
            buf.clear();
            match r.read_line(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    pending.push_str(&buf);
                    if !pending.ends_with('\n') {
                        continue;
                    }
                    let line = std::mem::take(&mut pending);
                    if skip_old {
                        continue;
                    }
                    let Ok(ev) = serde_json::from_str::<Event>(&line) else {
                        continue;
                    };
                    if since.is_some_and(|s| ev.time_nano < s) {
                        continue;
                    }
                    if until.is_some_and(|u| ev.time_nano > u) {
                        return Ok(());
                    }
                    if events::matches(&ev, &opts.filters) && !f(&ev) {
                        return Ok(());
                    }
                }
            }
        }
        skip_old = false;
        let Some(i) = &ino else { return Ok(()) };
        if until.is_some_and(|u| chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0) > u) {
            return Ok(());
        }
        let _ = i.read_events();
    }
}
