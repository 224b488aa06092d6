//! Interactive sessions through a real pty: the test opens a pty pair, runs the berth CLI on
//! its slave (as its controlling terminal, like a user's shell would) and types on the
//! master. Covers `exec -it` / `exec -t` (window size at start and on SIGWINCH, raw mode
//! restored, exit code) and detach keys for `run -it`, `start -ai`, `attach` and `exec -it`
//! (default Ctrl-P Ctrl-Q, `--detach-keys`, `detachKeys` of the Docker CLI's config.json,
//! invalid specs), checked against Docker CLI 28 + dockerd 20.10: `run`/`start` detach
//! silently with 0, `attach`/`exec` print "read escape sequence" and exit 1.

mod common;

use common::Env;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The berth CLI running on the slave of a pty the test owns.
struct Session {
    master: File,
    out: Arc<Mutex<Vec<u8>>>,
    child: Child,
}

impl Session {
    fn start(env: &Env, args: &[&str], size: (u16, u16), docker_config: Option<&str>) -> Session {
        let ws = nix::pty::Winsize {
            ws_row: size.0,
            ws_col: size.1,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let pty = nix::pty::openpty(Some(&ws), None).unwrap();
        let slave: OwnedFd = pty.slave;
        let mut cmd = env.cmd(args);
        cmd.stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        // The test's own config dir (never the machine user's).
        let cfg = env.path("docker-config");
        std::fs::create_dir_all(&cfg).unwrap();
        if let Some(c) = docker_config {
            std::fs::write(cfg.join("config.json"), c).unwrap();
        } else {
            let _ = std::fs::remove_file(cfg.join("config.json"));
        }
        cmd.env("DOCKER_CONFIG", &cfg);
        // SAFETY: setsid and TIOCSCTTY are async-signal-safe syscalls on the child's own fd 0.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().unwrap();
        drop(cmd);
        let master = File::from(pty.master);
        let out = Arc::new(Mutex::new(Vec::new()));
        let (mut r, o) = (master.try_clone().unwrap(), out.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // Ends with EIO once every slave is closed.
            while let Ok(n) = r.read(&mut buf) {
                if n == 0 {
                    break;
                }
                o.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Session { master, out, child }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().unwrap()).to_string()
    }

    /// Waits (bounded) until the output contains `needle`.
    fn expect(&self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.text().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "no {needle:?} in the session's output: {:?}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Types `keys` (one write: the keys arrive together).
    fn send(&mut self, keys: &[u8]) {
        self.master.write_all(keys).unwrap();
    }

    /// Types each key on its own with a pause, as a person does.
    fn type_keys(&mut self, keys: &[u8]) {
        for k in keys {
            std::thread::sleep(Duration::from_millis(150));
            self.send(&[*k]);
        }
    }

    fn resize(&self, rows: u16, cols: u16) {
        let ws = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ on our pty master; the kernel sends SIGWINCH to the CLI.
        assert_eq!(
            unsafe { libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &ws) },
            0
        );
    }

    /// The pty's local modes (the slave's, read through the master).
    fn lflag(&self) -> libc::tcflag_t {
        // SAFETY: tcgetattr fills a zeroed termios.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: see above.
        assert_eq!(
            unsafe { libc::tcgetattr(self.master.as_raw_fd(), &mut t) },
            0
        );
        t.c_lflag
    }

    /// Waits (bounded) until the CLI put the terminal in raw mode (keys typed before would be
    /// cooked by the line discipline: ^C a signal to the CLI).
    fn wait_raw(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.lflag() & SANE != 0 {
            assert!(Instant::now() < deadline, "the terminal never went raw");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits (bounded) for the CLI to exit; its exit code.
    fn wait(&mut self) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st.code().unwrap_or(-1);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("the CLI did not exit: {:?}", self.text());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn setup() -> Env {
    let env = Env::new();
    env.import_busybox();
    env
}

fn running(env: &Env, name: &str) -> bool {
    env.ok(&["inspect", "-f", "{{.State.Running}}", name])
        .trim()
        == "true"
}

const SANE: libc::tcflag_t = libc::ICANON | libc::ECHO;

#[test]
fn exec_it_is_an_interactive_shell_on_a_pty_berth_owns() {
    let env = setup();
    env.ok(&["run", "-d", "--name", "box", "busybox", "sleep", "1000"]);
    let mut s = Session::start(&env, &["exec", "-it", "box", "sh"], (33, 101), None);
    s.expect("# ");
    // Raw mode on our terminal while the session runs.
    assert_eq!(s.lflag() & SANE, 0, "the CLI's terminal is not raw");
    s.send(b"echo $((6*7))\n");
    s.expect("\r\n42\r\n");
    // Window size at start, then on SIGWINCH.
    s.send(b"stty size; tty\n");
    s.expect("33 101");
    s.expect("/dev/pts/");
    s.resize(40, 120);
    // SIGWINCH reaches the CLI asynchronously: ask until the new size shows (bounded).
    let deadline = Instant::now() + Duration::from_secs(20);
    while !s.text().contains("40 120") {
        assert!(Instant::now() < deadline, "no resize: {:?}", s.text());
        s.send(b"stty size\n");
        std::thread::sleep(Duration::from_millis(200));
    }
    s.send(b"exit 3\n");
    assert_eq!(s.wait(), 3, "{}", s.text());
    assert_eq!(s.lflag() & SANE, SANE, "the terminal was not restored");

    // `-t` without `-i`: a pty, no input.
    let mut s = Session::start(
        &env,
        &["exec", "-t", "box", "sh", "-c", "stty size; tty; exit 4"],
        (20, 70),
        None,
    );
    assert_eq!(s.wait(), 4, "{}", s.text());
    s.expect("20 70");
    s.expect("/dev/pts/");
    assert_eq!(s.lflag() & SANE, SANE);
}

#[test]
fn detach_keys_leave_run_start_and_attach_sessions_running() {
    let env = setup();
    // run -it: a partial sequence passes the held key on (cat -v shows it), the full one
    // detaches silently with 0.
    let mut s = Session::start(
        &env,
        &["run", "-it", "--name", "dt", "busybox", "sh"],
        (24, 80),
        None,
    );
    s.expect("# ");
    // Once "ready" is out, the shell runs the line: what is typed next is cat's input.
    s.send(b"echo rea\"\"dy; cat -v\n");
    s.expect("\r\nready\r\n");
    s.type_keys(b"\x10x\n");
    // The tty echoes the typed line, then cat prints it.
    s.expect("^Px\r\n^Px\r\n");
    s.send(b"\x03");
    s.expect("# ");
    s.type_keys(b"\x10\x11");
    assert_eq!(s.wait(), 0, "{}", s.text());
    assert!(!s.text().contains("escape sequence"), "{}", s.text());
    assert_eq!(s.lflag() & SANE, SANE);
    assert!(running(&env, "dt"));

    // attach: Docker prints "read escape sequence" and exits 1.
    let mut s = Session::start(&env, &["attach", "dt"], (24, 80), None);
    s.wait_raw();
    s.send(b"echo att$((1+1))\n");
    s.expect("att2");
    s.type_keys(b"\x10\x11");
    assert_eq!(s.wait(), 1, "{}", s.text());
    s.expect("read escape sequence");
    assert!(running(&env, "dt"));

    // --detach-keys: Ctrl-P Ctrl-Q is then just input; the flag's keys detach.
    let mut s = Session::start(
        &env,
        &["attach", "--detach-keys", "ctrl-a,a", "dt"],
        (24, 80),
        None,
    );
    s.wait_raw();
    s.type_keys(b"\x10\x11");
    s.send(b"\x03echo still$((2+3))\n");
    s.expect("still5");
    s.type_keys(b"\x01a");
    assert_eq!(s.wait(), 1, "{}", s.text());
    assert!(running(&env, "dt"));

    // config.json's detachKeys, and the flag over it.
    let cfg = Some(r#"{"detachKeys": "ctrl-x,ctrl-y"}"#);
    let mut s = Session::start(&env, &["attach", "dt"], (24, 80), cfg);
    s.wait_raw();
    s.send(b"echo cfg$((3+4))\n");
    s.expect("cfg7");
    s.type_keys(b"\x18\x19");
    assert_eq!(s.wait(), 1, "{}", s.text());
    let mut s = Session::start(
        &env,
        &["attach", "--detach-keys", "z,q", "dt"],
        (24, 80),
        cfg,
    );
    s.wait_raw();
    s.type_keys(b"\x18\x19");
    s.send(b"\x03echo z");
    s.type_keys(b"w\n");
    s.expect("\r\nzw\r\n");
    s.type_keys(b"zq");
    assert_eq!(s.wait(), 1, "{}", s.text());
    assert!(running(&env, "dt"));

    // start -ai of the stopped container: detaches silently with 0 too.
    env.ok(&["stop", "-t", "0", "dt"]);
    let mut s = Session::start(&env, &["start", "-ai", "dt"], (24, 80), None);
    s.expect("# ");
    s.send(b"echo st$((4+4))\n");
    s.expect("st8");
    s.type_keys(b"\x10\x11");
    assert_eq!(s.wait(), 0, "{}", s.text());
    assert!(!s.text().contains("escape sequence"), "{}", s.text());
    assert!(running(&env, "dt"));
}

#[test]
fn detach_from_exec_it_leaves_the_process_running_on_its_pty() {
    let env = setup();
    env.ok(&["run", "-d", "--name", "ex", "busybox", "sleep", "1000"]);
    let mut s = Session::start(&env, &["exec", "-it", "ex", "sh"], (24, 80), None);
    s.expect("# ");
    s.send(b"echo $$ > /tmp/pid; echo saved\n");
    s.expect("saved");
    s.type_keys(b"\x10\x11");
    assert_eq!(s.wait(), 1, "{}", s.text());
    s.expect("read escape sequence");
    assert_eq!(s.lflag() & SANE, SANE);
    // The shell runs on, its stdin still a pty.
    let out = env.ok(&[
        "exec",
        "ex",
        "sh",
        "-c",
        "p=$(cat /tmp/pid); kill -0 $p && echo alive; readlink /proc/$p/fd/0",
    ]);
    assert!(out.contains("alive"), "{out}");
    assert!(out.contains("/dev/pts/"), "{out}");

    // exec's own --detach-keys.
    let mut s = Session::start(
        &env,
        &["exec", "-it", "--detach-keys", "ctrl-b,b", "ex", "sh"],
        (24, 80),
        None,
    );
    s.expect("# ");
    s.type_keys(b"\x10\x11");
    s.send(b"\x03echo ok$((5+5))\n");
    s.expect("ok10");
    s.type_keys(b"\x02b");
    assert_eq!(s.wait(), 1, "{}", s.text());
}

#[test]
fn invalid_detach_keys_are_refused_with_dockers_messages() {
    let env = setup();
    let (_, err) = env.code(
        &[
            "run",
            "-t",
            "--detach-keys",
            "abc",
            "--name",
            "bad",
            "busybox",
            "true",
        ],
        125,
    );
    assert!(err.contains("Invalid detach keys (abc) provided"), "{err}");
    // Refused before anything is made.
    assert_eq!(env.ok(&["ps", "-aq"]).trim(), "");
    env.ok(&["run", "-d", "--name", "ok", "busybox", "sleep", "1000"]);
    let (_, err) = env.code(&["attach", "--detach-keys", "ctrl-0", "ok"], 1);
    assert!(
        err.contains("Invalid detach keys (ctrl-0) provided"),
        "{err}"
    );
    let (_, err) = env.code(&["exec", "-t", "--detach-keys", "foo", "ok", "true"], 1);
    assert!(err.contains("Invalid escape keys (foo) provided"), "{err}");
    env.ok(&["stop", "-t", "0", "ok"]);
    let (_, err) = env.code(&["start", "-a", "--detach-keys", "x,yy", "ok"], 1);
    assert!(err.contains("Invalid detach keys (x,yy) provided"), "{err}");
    // A bad detachKeys in config.json too; `-d` ignores it (as Docker).
    let cfg = env.path("cfg");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(cfg.join("config.json"), r#"{"detachKeys":"nope"}"#).unwrap();
    let o = env
        .cmd(&["attach", "ok"])
        .env("DOCKER_CONFIG", &cfg)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("Invalid detach keys (nope) provided"));
    let o = env
        .cmd(&["run", "-d", "--rm", "busybox", "true"])
        .env("DOCKER_CONFIG", &cfg)
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
}
