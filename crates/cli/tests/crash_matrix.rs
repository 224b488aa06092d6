//! kill -9 of the CLI at many points of `create`, `start`, `run -d --rm`, `rm -f`, `commit`
//! and `load` (issue 12): after each kill every container is in a state whose every command
//! works (running and stoppable, or created/exited and startable, or gone), `ps -a` and
//! `inspect` agree, images are whole or absent (`images` and `image inspect` work, a listed
//! image runs), and `berth system check` finds nothing once everything is `rm -f`'d.
//!
//! Where the CLI writes BERTH_TIMING marks (create, start, run) a round kills it as soon as a
//! given label appears in the timing file (the test spins on it): the kill lands a little
//! after the label (a few µs with a free CPU, ms under load), so each round reads from the
//! file where it really landed, counts only the rounds its invariant covers and asserts a
//! minimum of them. `rm`, `commit`, `load` and `pull` (from Debian's docker-registry on
//! loopback) have no marks: their rounds kill after delays spread over the measured length
//! of an uninterrupted run (as crash_cleanup.rs does for `run`). Every container runs with
//! `--network none`: crash_cleanup.rs covers the bridge.
//!
//! Known failures (issue 12, still open) are `#[ignore]`d tests that reproduce them:
//! `kill_9_start_after_monitor_fork`, `kill_9_run_detached_after_record`, `kill_9_rm`,
//! `kill_9_rm_after_layers` and `kill_9_commit_paused`.

mod common;

use common::{settled, Env};
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Where a round kills the CLI.
#[derive(Clone, Copy, Debug)]
enum At {
    /// As soon as this BERTH_TIMING label appears.
    Mark(&'static str),
    /// This long after the spawn.
    After(Duration),
}

/// What a round's kill did: whether the signal killed the CLI (false: it finished first), and
/// the BERTH_TIMING labels written before (by the CLI and the monitor it forked).
struct Kill {
    killed: bool,
    marks: Vec<String>,
}

impl Kill {
    fn saw(&self, label: &str) -> bool {
        self.marks.iter().any(|m| m == label)
    }
}

/// The tests here run one at a time: each spins on its timing file while its CLI runs, and
/// on two CPUs parallel spinners would starve the CLIs they watch.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `berth args` and SIGKILLs it at `at`.
fn kill_at(env: &Env, args: &[&str], at: At) -> Kill {
    let tf = env.path("timing");
    let _ = std::fs::remove_file(&tf);
    let mut cmd = env.cmd(args);
    if let At::Mark(label) = at {
        // The CLI stops itself at its own label (see runtime's timing.rs), so the kill lands
        // there even when this thread is slow to notice on a busy host.
        cmd.env("BERTH_TIMING_STOP", label);
    }
    let mut cli = cmd
        .env("BERTH_TIMING", &tf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    match at {
        At::Mark(label) => {
            // Spins (the file's size, then its text when it grew). A label of the CLI's own
            // process stops it there; one written by the monitor it forked does not, so that
            // kill lands a little after the label (more under load). Each round reads where it
            // really landed from the file.
            let deadline = Instant::now() + Duration::from_secs(30);
            let mut len = 0;
            loop {
                let now = std::fs::metadata(&tf).map(|m| m.len()).unwrap_or(0);
                if now != len {
                    len = now;
                    let seen = std::fs::read_to_string(&tf)
                        .is_ok_and(|s| s.lines().any(|l| l.rsplit(' ').next() == Some(label)));
                    if seen {
                        break;
                    }
                }
                if cli.try_wait().unwrap().is_some() {
                    break;
                }
                assert!(Instant::now() < deadline, "{args:?}: {label} never came");
                std::thread::yield_now();
            }
        }
        At::After(d) => std::thread::sleep(d),
    }
    // Signalling an exited, unreaped child is harmless: the status tells which happened.
    let _ = cli.kill();
    let st = cli.wait().unwrap();
    let marks = std::fs::read_to_string(&tf)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.rsplit(' ').next().map(str::to_string))
        .collect();
    Kill {
        killed: st.signal() == Some(libc::SIGKILL),
        marks,
    }
}

/// (id, status, running) of every container, after `ps -q` (running) and `ps -aq` agree with
/// `inspect`. A monitor that outlived its killed CLI may still be starting or removing its
/// container: bounded retries until two `ps` around the `inspect`s see the same thing.
fn snapshot(env: &Env, ctx: &str) -> Vec<(String, String, bool)> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let running0 = env.ok(&["ps", "-q", "--no-trunc"]);
        let all = env.ok(&["ps", "-aq", "--no-trunc"]);
        let mut v = Vec::new();
        let mut gone = false;
        for id in all.split_whitespace() {
            let o = env.run(&["inspect", "-f", "{{.State.Status}} {{.State.Running}}", id]);
            if !o.status.success() {
                gone = true;
                continue;
            }
            let s = String::from_utf8_lossy(&o.stdout).to_string();
            let (status, running) = s.trim().split_once(' ').unwrap();
            v.push((id.to_string(), status.to_string(), running == "true"));
        }
        let running1 = env.ok(&["ps", "-q", "--no-trunc"]);
        let all1 = env.ok(&["ps", "-aq", "--no-trunc"]);
        let mut from_inspect: Vec<&str> = v.iter().filter(|c| c.2).map(|c| c.0.as_str()).collect();
        from_inspect.sort();
        let mut from_ps: Vec<&str> = running1.split_whitespace().collect();
        from_ps.sort();
        if running0 == running1 && all == all1 && !gone && from_inspect == from_ps {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "{ctx}: ps and inspect disagree: ps -q {from_ps:?}, inspect {v:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn running(env: &Env, id: &str) -> bool {
    env.ok(&["inspect", "-f", "{{.State.Running}}", id]).trim() == "true"
}

/// After `stop`: not running, or gone when it is an `--rm` container (removed as it stops).
fn stopped(env: &Env, id: &str, auto_remove: bool, ctx: &str) -> bool {
    let o = env.run(&["inspect", "-f", "{{.State.Running}}", id]);
    if auto_remove && o.status.code() == Some(1) {
        let ps = env.ok(&["ps", "-aq", "--no-trunc"]);
        assert!(!ps.contains(id), "{ctx}: inspect and ps -a disagree: {ps}");
        return false;
    }
    assert!(o.status.success(), "{ctx}: {o:?}");
    let up = String::from_utf8_lossy(&o.stdout).trim() == "true";
    assert!(!up, "{ctx}: still running after stop");
    true
}

/// Every container answers `stop` and `start` (in the order its state allows) and `rm -f`;
/// afterwards nothing is listed and `inspect` knows none of them.
fn exercise_and_remove(env: &Env, ctx: &str) {
    for (id, status, up) in snapshot(env, ctx) {
        let ctx = format!("{ctx}, {} was {status}", &id[..12]);
        let auto_remove = env
            .ok(&["inspect", "-f", "{{.HostConfig.AutoRemove}}", &id])
            .trim()
            == "true";
        if up {
            env.ok(&["stop", "-t", "0", &id]);
            if stopped(env, &id, auto_remove, &ctx) {
                env.ok(&["start", &id]);
                assert!(running(env, &id), "{ctx}: not running after start");
            }
        } else {
            let o = env.run(&["start", &id]);
            assert!(
                o.status.success(),
                "{ctx}: start failed: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            assert!(
                running(env, &id),
                "{ctx}: not running after start: {}",
                env.ok(&["inspect", "-f", "{{json .State}}", &id])
            );
            env.ok(&["stop", "-t", "0", &id]);
            stopped(env, &id, auto_remove, &ctx);
        }
        // `rm -f` of one an `--rm` stop removed: "No such container", like Docker.
        let o = env.run(&["rm", "-f", &id]);
        assert!(o.status.success() || auto_remove, "{ctx}: rm -f: {o:?}");
        assert_eq!(
            env.run(&["inspect", &id]).status.code(),
            Some(1),
            "{ctx}: inspect still knows it"
        );
    }
    let left = env.ok(&["ps", "-aq"]);
    assert!(left.trim().is_empty(), "{ctx}: containers left: {left}");
}

/// `system check` finds nothing of this root. Registrations of other roots' bridges that are
/// gone are left out (the `ip berth` nft table is shared with the other tests on this host; see
/// system_check.rs); with none of those the exit code must be 0.
fn check_clean(env: &Env, ctx: &str) {
    // A monitor finishing its work after its reply (an `--rm` removal, a tombstone purge) may
    // hold things for a moment; a leak stays.
    let found = settled(|| {
        let o = env.run(&["system", "check", "--format", "json"]);
        let out = String::from_utf8_lossy(&o.stdout).to_string();
        let mine: Vec<String> = out
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.contains("registers bridge"))
            .map(str::to_string)
            .collect();
        if mine.is_empty() && out.trim().is_empty() {
            assert_eq!(o.status.code(), Some(0), "{ctx}: system check: {out}");
        }
        mine
    });
    assert!(found.is_empty(), "{ctx}: system check found {found:#?}");
}

/// Every listed image can be inspected, `images` works.
fn images_whole(env: &Env, ctx: &str) -> Vec<String> {
    env.ok(&["images"]);
    let ids = env.ok(&["images", "-aq", "--no-trunc"]);
    for id in ids.split_whitespace() {
        let o = env.run(&["image", "inspect", id]);
        assert!(
            o.status.success(),
            "{ctx}: image inspect {id}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    ids.split_whitespace().map(str::to_string).collect()
}

fn env_with_busybox() -> Env {
    let env = Env::new();
    env.import_busybox();
    env
}

/// Counts the rounds whose kill landed and was checked; prints the others.
fn tally(ctx: &str, rounds: &[(String, bool)], min: usize) -> usize {
    let n = rounds.iter().filter(|r| r.1).count();
    let missed: Vec<&str> = rounds
        .iter()
        .filter(|r| !r.1)
        .map(|r| r.0.as_str())
        .collect();
    eprintln!(
        "{ctx}: {n} of {} kills landed and checked; not: {missed:?}",
        rounds.len()
    );
    assert!(n >= min, "{ctx}: only {n} kills landed: {rounds:?}");
    n
}

const CREATE_MARKS: &[&str] = &[
    "cli:parsed",
    "cli:create",
    "eng:c_image",
    "eng:c_named",
    "eng:c_dir",
    "eng:c_saved",
    "eng:c_layers",
];

/// `create` killed at each of its marks: the container is absent, or created and startable
/// (a kill between the record and its layers once left a record `start` refused: "layer ...
/// not found"); the name is free again (the next create reuses it), and then `system check`
/// finds nothing.
#[test]
fn kill_9_create() {
    let _serial = serial();
    let env = env_with_busybox();
    let mut rounds = Vec::new();
    for _ in 0..3 {
        for label in CREATE_MARKS {
            let args = [
                "create",
                "--network",
                "none",
                "--name",
                "victim",
                "busybox",
                "sleep",
                "1000",
            ];
            let k = kill_at(&env, &args, At::Mark(label));
            let ctx = format!("create killed at {label} (after {:?})", k.marks.last());
            exercise_and_remove(&env, &ctx);
            // A create killed before its record leaves its reservation of the name and its
            // dir (`system check` reports both): the next create of that name takes them over.
            env.ok(&[
                "create",
                "--network",
                "none",
                "--name",
                "victim",
                "busybox",
                "true",
            ]);
            env.ok(&["rm", "-f", "victim"]);
            check_clean(&env, &ctx);
            rounds.push((label.to_string(), k.killed));
        }
    }
    tally("create", &rounds, 15);
}

const START_MARKS: &[&str] = &[
    "cli:parsed",
    "eng:ps_store",
    "eng:ps_mounted",
    "eng:ps_files",
    "eng:ps_spec",
    "eng:prepare_start",
];

/// `start` of a created container killed at each mark of its way before the monitor runs:
/// not running and startable (or running and stoppable). Kills that landed after the
/// monitor's fork are cleaned up and not counted: see `kill_9_start_after_monitor_fork`.
#[test]
fn kill_9_start() {
    let _serial = serial();
    let env = env_with_busybox();
    let mut rounds = Vec::new();
    for _ in 0..3 {
        for label in START_MARKS {
            env.ok(&[
                "create",
                "--network",
                "none",
                "--name",
                "victim",
                "busybox",
                "sleep",
                "1000",
            ]);
            let k = kill_at(&env, &["start", "victim"], At::Mark(label));
            let ctx = format!("start killed at {label} (after {:?})", k.marks.last());
            let checked = k.killed && !k.saw("eng:spawn");
            if checked {
                exercise_and_remove(&env, &ctx);
            } else {
                env.ok(&["rm", "-f", "victim"]);
            }
            check_clean(&env, &ctx);
            rounds.push((label.to_string(), checked));
        }
    }
    tally("start", &rounds, 6);
}

/// `run -d --rm` killed in its create and start (before its record, or after its layers and
/// before the monitor's fork): the container is gone, or created and startable (never an
/// exited `--rm` container nobody removes). Kills between the record and the start's files
/// are cleaned up and not counted: see `kill_9_run_detached_after_record`.
#[test]
fn kill_9_run_detached_rm() {
    let _serial = serial();
    let env = env_with_busybox();
    let mut rounds = Vec::new();
    let marks = [
        "cli:parsed",
        "eng:c_image",
        "eng:c_named",
        "eng:ps_files",
        "eng:ps_spec",
        "eng:prepare_start",
    ];
    for _ in 0..2 {
        for label in marks {
            let args = [
                "run",
                "-d",
                "--rm",
                "--network",
                "none",
                "--name",
                "victim",
                "busybox",
                "sleep",
                "1000",
            ];
            let k = kill_at(&env, &args, At::Mark(label));
            let ctx = format!("run -d --rm killed at {label} (after {:?})", k.marks.last());
            let checked =
                k.killed && (!k.saw("eng:c_saved") || k.saw("eng:ps_files")) && !k.saw("eng:spawn");
            if checked {
                for (id, status, up) in snapshot(&env, &ctx) {
                    assert!(
                        up || status == "created",
                        "{ctx}: {id} is {status} and nobody removes it"
                    );
                }
                exercise_and_remove(&env, &ctx);
            } else {
                let ids = env.ok(&["ps", "-aq"]);
                for id in ids.split_whitespace() {
                    env.ok(&["rm", "-f", id]);
                }
            }
            env.ok(&[
                "create",
                "--network",
                "none",
                "--name",
                "victim",
                "busybox",
                "true",
            ]);
            env.ok(&["rm", "-f", "victim"]);
            check_clean(&env, &ctx);
            rounds.push((label.to_string(), checked));
        }
    }
    tally("run -d --rm", &rounds, 3);
}

/// KNOWN FAILURE (issue 12, open): `run -d` killed between its record (`eng:c_saved`) and
/// its start's files leaves the namespace it prefetched for the container: the record is
/// `created`, and `start` fails with "File exists (os error 17)".
#[test]
#[ignore = "known failure, issue 12: run -d killed after its record: start fails with File exists"]
fn kill_9_run_detached_after_record() {
    let _serial = serial();
    let env = env_with_busybox();
    for label in [
        "eng:c_saved",
        "eng:c_layers",
        "eng:ps_store",
        "eng:ps_mounted",
    ] {
        let args = [
            "run",
            "-d",
            "--network",
            "none",
            "--name",
            "victim",
            "busybox",
            "sleep",
            "1000",
        ];
        let k = kill_at(&env, &args, At::Mark(label));
        let ctx = format!("run -d killed at {label} (after {:?})", k.marks.last());
        exercise_and_remove(&env, &ctx);
        check_clean(&env, &ctx);
    }
}

/// KNOWN FAILURE (issue 12, open): `start` (or `run`) killed after the monitor's fork. The
/// monitor outlives its CLI and starts the container, but nobody records the start: the record
/// stays `created` while the container runs (`ps` does not list it, `stop` does nothing), and
/// the next `start` fails ("container ... already exists") or starts a copy that dies with
/// 137. Fix (not done): the monitor records the start itself when its starter is gone, or a
/// reader adopts a `created` record with a live monitor (as orphan.rs settles dead ones).
#[test]
#[ignore = "known failure, issue 12: a start killed after the monitor's fork is never recorded"]
fn kill_9_start_after_monitor_fork() {
    let _serial = serial();
    let env = env_with_busybox();
    for label in [
        "mon:forked",
        "mon:start_container",
        "mon:started",
        "eng:running",
    ] {
        env.ok(&[
            "create",
            "--network",
            "none",
            "--name",
            "victim",
            "busybox",
            "sleep",
            "1000",
        ]);
        let k = kill_at(&env, &["start", "victim"], At::Mark(label));
        let ctx = format!("start killed at {label} (after {:?})", k.marks.last());
        exercise_and_remove(&env, &ctx);
        check_clean(&env, &ctx);
    }
}

/// `rounds` delays spread over `[0, len)`.
fn spread(len: Duration, rounds: u32) -> Vec<Duration> {
    (0..rounds).map(|i| len * i / rounds).collect()
}

/// How long `args` takes uninterrupted (the shortest of two).
fn time_of(env: &Env, args: &[&str], undo: &[&str]) -> Duration {
    let mut best = Duration::MAX;
    for _ in 0..2 {
        let t = Instant::now();
        env.ok(args);
        best = best.min(t.elapsed());
        if !undo.is_empty() {
            env.ok(undo);
        }
    }
    best
}

/// `rm -f` of a running container killed over its length: the container is gone, or whatever
/// is left still answers `stop`/`start`/`rm -f`. What failed here first: killed after it
/// marked the record `removing` and before it stopped the container, `ps -q` hid the running
/// container that `inspect` showed running, and the next `rm -f` waited forever for a
/// monitor nobody had asked to stop (fixed in Engine::remove and ps). KNOWN FAILURES still
/// (issue 12, open), hence ignored: see `kill_9_rm_after_layers`; and `system check --repair`
/// fails on the layers a killed rm left without a record ("layer container layer ... not
/// found").
#[test]
#[ignore = "known failure, issue 12: rm -f killed late leaves layers --repair cannot remove"]
fn kill_9_rm() {
    let _serial = serial();
    let env = env_with_busybox();
    let run = [
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "victim",
        "busybox",
        "sleep",
        "1000",
    ];
    env.ok(&run);
    let len = time_of(&env, &["rm", "-f", "victim"], &run);
    let mut rounds = Vec::new();
    for d in spread(len, 8) {
        let k = kill_at(&env, &["rm", "-f", "victim"], At::After(d));
        let ctx = format!("rm -f killed after {d:?} (of {len:?})");
        // Known failure (issue 12, open; `kill_9_rm_after_layers`): killed after it removed
        // the layers and before the record, an exited record `start` refuses remains; only
        // `rm -f` works on it. Such rounds check that much and are not counted.
        let snap = snapshot(&env, &ctx);
        let layerless = snap.iter().any(|(id, st, up)| {
            !up && st == "exited" && {
                let o = env.run(&["start", id]);
                !o.status.success() && String::from_utf8_lossy(&o.stderr).contains("not found")
            }
        });
        if layerless {
            env.ok(&["rm", "-f", "victim"]);
            assert!(env.ok(&["ps", "-aq"]).trim().is_empty(), "{ctx}");
        } else {
            exercise_and_remove(&env, &ctx);
        }
        // Known failure too (issue 12, open): killed after the record went and before the
        // layers, the layers stay until `system check --repair` (which finds them).
        only_findings(&env, &ctx, "layers of a container that does not exist");
        rounds.push((format!("{d:?}"), k.killed && !layerless));
        env.ok(&run);
    }
    env.ok(&["rm", "-f", "victim"]);
    check_clean(&env, "after the rm rounds");
    tally("rm -f", &rounds, 3);
}

/// KNOWN FAILURE (issue 12, open): `rm -f` killed after it removed the container's layers
/// and before its record: an `exited` record remains that `start` refuses ("layer ... not
/// found"); `rm -f` removes it. Killed a little earlier or later, the record is gone and the
/// layers stay ("layers of a container that does not exist" until `system check --repair`).
/// Fix (not done): remove the record before the layers (a
/// killed rm then leaves layers no record names, which the store's sweep or `system check
/// --repair` collects), or mark it `dead` first as Docker does.
#[test]
#[ignore = "known failure, issue 12: rm -f killed after the layers leaves an unstartable record"]
fn kill_9_rm_after_layers() {
    let _serial = serial();
    let env = env_with_busybox();
    let run = [
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "victim",
        "busybox",
        "sleep",
        "1000",
    ];
    env.ok(&run);
    let len = time_of(&env, &["rm", "-f", "victim"], &run);
    for d in spread(len, 16) {
        kill_at(&env, &["rm", "-f", "victim"], At::After(d));
        let ctx = format!("rm -f killed after {d:?} (of {len:?})");
        exercise_and_remove(&env, &ctx);
        env.ok(&run);
    }
}

/// After a killed commit or load: every listed image inspects, at most one new image is
/// listed and it is whole (it runs and has its `/blob` of `size` bytes); it is removed.
fn images_after(env: &Env, base: &[String], size: usize, ctx: &str) {
    let ids = images_whole(env, ctx);
    let new: Vec<&String> = ids.iter().filter(|i| !base.contains(i)).collect();
    assert!(new.len() <= 1, "{ctx}: images {ids:?}");
    if let Some(id) = new.first() {
        let out = env.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            id,
            "sh",
            "-c",
            "wc -c < /blob",
        ]);
        assert_eq!(out.trim(), size.to_string(), "{ctx}");
        env.ok(&["rmi", "-f", id]);
    }
}

/// `commit --pause=false` of a running container killed over its length: the container
/// still runs and answers stop/start, no partial image is listed, a listed image is whole.
/// (A killed default commit leaves the container paused: `kill_9_commit_paused`.)
#[test]
fn kill_9_commit() {
    let _serial = serial();
    let env = env_with_busybox();
    env.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "src",
        "busybox",
        "sleep",
        "1000",
    ]);
    env.ok(&[
        "exec",
        "src",
        "sh",
        "-c",
        "head -c 4000000 /dev/urandom > /blob",
    ]);
    let base = images_whole(&env, "before commit");
    let len = time_of(
        &env,
        &["commit", "--pause=false", "src", "probe:0"],
        &["rmi", "probe:0"],
    );
    let mut rounds = Vec::new();
    for (i, d) in spread(len, 8).into_iter().enumerate() {
        let tag = format!("snap:{i}");
        let k = kill_at(
            &env,
            &["commit", "--pause=false", "src", &tag],
            At::After(d),
        );
        let ctx = format!("commit killed after {d:?} (of {len:?})");
        images_after(&env, &base, 4_000_000, &ctx);
        let snap = snapshot(&env, &ctx);
        assert_eq!(snap.len(), 1, "{ctx}: {snap:?}");
        assert!(snap[0].2 && snap[0].1 == "running", "{ctx}: {snap:?}");
        env.ok(&["exec", "src", "true"]);
        rounds.push((format!("{d:?}"), k.killed));
    }
    exercise_and_remove(&env, "after the commits");
    // A killed commit may leave its half-made layer (`system check` reports it) until the
    // next layer is written, which sweeps it: one more commit, then nothing may be left.
    env.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "src",
        "busybox",
        "sleep",
        "1000",
    ]);
    env.ok(&["commit", "src", "last:1"]);
    env.ok(&["rm", "-f", "src"]);
    env.ok(&["rmi", "last:1"]);
    check_clean(&env, "after the commits");
    tally("commit", &rounds, 4);
}

/// KNOWN FAILURE (issue 12, open): a default `commit` (which pauses the container while it
/// copies) killed mid-way leaves the container paused for good: nothing unpauses it.
#[test]
#[ignore = "known failure, issue 12: a killed commit leaves its container paused"]
fn kill_9_commit_paused() {
    let _serial = serial();
    let env = env_with_busybox();
    env.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "src",
        "busybox",
        "sleep",
        "1000",
    ]);
    env.ok(&[
        "exec",
        "src",
        "sh",
        "-c",
        "head -c 4000000 /dev/urandom > /blob",
    ]);
    let len = time_of(&env, &["commit", "src", "probe:0"], &["rmi", "probe:0"]);
    for (i, d) in spread(len, 8).into_iter().enumerate() {
        let tag = format!("snap:{i}");
        kill_at(&env, &["commit", "src", &tag], At::After(d));
        let ctx = format!("commit killed after {d:?} (of {len:?})");
        let snap = snapshot(&env, &ctx);
        assert!(snap[0].2 && snap[0].1 == "running", "{ctx}: {snap:?}");
    }
}

/// `load` of a two-layer image killed over its length: the image is listed whole (it runs)
/// or not at all; a retry loads it; then `system check` finds nothing.
#[test]
fn kill_9_load() {
    let _serial = serial();
    let env = env_with_busybox();
    env.ok(&[
        "run",
        "--network",
        "none",
        "--name",
        "fat",
        "busybox",
        "sh",
        "-c",
        "head -c 6000000 /dev/urandom > /blob",
    ]);
    env.ok(&["commit", "fat", "fat:1"]);
    env.ok(&["rm", "fat"]);
    let archive = env.path("fat.tar");
    env.ok(&["save", "-o", archive.to_str().unwrap(), "fat:1"]);
    env.ok(&["rmi", "fat:1"]);
    let base = images_whole(&env, "before load");
    let load = ["load", "-i", archive.to_str().unwrap()];
    let len = time_of(&env, &load, &["rmi", "fat:1"]);
    let mut rounds = Vec::new();
    for d in spread(len, 8) {
        let k = kill_at(&env, &load, At::After(d));
        let ctx = format!("load killed after {d:?} (of {len:?})");
        images_after(&env, &base, 6_000_000, &ctx);
        // A killed load may leave its half-made layer, and the retry does not sweep it when
        // it finds every layer registered already: `system check` reports exactly that, and
        // `--repair` removes it (finding, issue 12: left until then).
        env.ok(&load);
        images_after(&env, &base, 6_000_000, &ctx);
        only_half_made_layers(&env, &ctx);
        rounds.push((format!("{d:?}"), k.killed));
    }
    tally("load", &rounds, 4);
}

/// `system check` finds at most half-made layers (what a killed load or pull leaves until a
/// layer is written again); `--repair` removes them, then it finds nothing.
fn only_half_made_layers(env: &Env, ctx: &str) {
    only_findings(env, ctx, "half-made layer");
}

/// `system check` finds nothing but `problem`s; `--repair` removes them, then it finds nothing.
fn only_findings(env: &Env, ctx: &str, problem: &str) {
    let o = env.run(&["system", "check", "--format", "json"]);
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    for l in out.lines().filter(|l| !l.contains("registers bridge")) {
        assert!(l.contains(problem), "{ctx}: system check found {l}");
    }
    if out.contains(problem) {
        env.ok(&["system", "check", "--repair"]);
    }
    check_clean(env, ctx);
}

/// `pull` of a two-layer image from a local registry (Debian's docker-registry on loopback)
/// killed over its length: the image is listed whole (it runs) or not at all; a retry pulls
/// it; then `system check` finds nothing (after `--repair` of half-made layers, as for load).
#[test]
fn kill_9_pull() {
    let _serial = serial();
    let env = env_with_busybox();
    let reg = common::Registry::start();
    env.ok(&[
        "run",
        "--network",
        "none",
        "--name",
        "fat",
        "busybox",
        "sh",
        "-c",
        "head -c 6000000 /dev/urandom > /blob",
    ]);
    let image = format!("{}/crash/fat:1", reg.host);
    env.ok(&["commit", "fat", &image]);
    env.ok(&["rm", "fat"]);
    env.ok(&["push", &image]);
    env.ok(&["rmi", &image]);
    let base = images_whole(&env, "before pull");
    let pull = ["pull", "-q", image.as_str()];
    let len = time_of(&env, &pull, &["rmi", &image]);
    let mut rounds = Vec::new();
    for d in spread(len, 6) {
        let k = kill_at(&env, &pull, At::After(d));
        let ctx = format!("pull killed after {d:?} (of {len:?})");
        images_after(&env, &base, 6_000_000, &ctx);
        env.ok(&pull);
        images_after(&env, &base, 6_000_000, &ctx);
        only_half_made_layers(&env, &ctx);
        rounds.push((format!("{d:?}"), k.killed));
    }
    tally("pull", &rounds, 3);
}
