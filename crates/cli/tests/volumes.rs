//! Volumes like Docker's local driver (issue 13): `volume create|ls|inspect|rm|prune`, copy-up
//! from the image (modes, owners, xattrs), anonymous volumes (`-v /path`, image `VOLUME`) and
//! their removal by `rm -v` and `run --rm`, `--volumes-from`, `--mount` volume options,
//! `system df`, and a hostile image whose volume path is a symlink to the host.
//!
//! The expected outputs were taken from the docker CLI 28.x against Debian's dockerd
//! 20.10.24 (a private daemon on a private socket and data root, run once) with the same
//! commands; where the two differ on purpose it is said at the assertion (CLI 28 semantics
//! for `volume prune`, as the CLI 28 against a ≥ 23 daemon behaves).

mod common;

use common::{dockerd::unmount_under, sh, Env};
use serde_json::Value;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// An Env whose volume mounts (`-o type=tmpfs` volumes) are undone even when a test fails.
struct VEnv(Env);

impl std::ops::Deref for VEnv {
    type Target = Env;
    fn deref(&self) -> &Env {
        &self.0
    }
}

impl Drop for VEnv {
    fn drop(&mut self) {
        // Containers first (Env's drop), but the volume mounts must go before its temp dir.
        if let Ok(o) = self.0.cmd(&["ps", "-aq", "--no-trunc"]).output() {
            let ids = String::from_utf8_lossy(&o.stdout).to_string();
            let ids: Vec<&str> = ids.split_whitespace().collect();
            if !ids.is_empty() {
                let mut args = vec!["rm", "-f"];
                args.extend(ids);
                let _ = self.0.cmd(&args).output();
            }
        }
        unmount_under(&self.0.root().join("volumes"));
    }
}

fn lsetxattr(p: &Path, k: &str, v: &[u8]) {
    let cp = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    let ck = std::ffi::CString::new(k).unwrap();
    // SAFETY: valid NUL-terminated strings and a buffer of v.len() bytes.
    let r = unsafe { libc::lsetxattr(cp.as_ptr(), ck.as_ptr(), v.as_ptr().cast(), v.len(), 0) };
    assert_eq!(r, 0, "lsetxattr {k} on {}", p.display());
}

fn lgetxattr(p: &Path, k: &str) -> Option<Vec<u8>> {
    let cp = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    let ck = std::ffi::CString::new(k).unwrap();
    let mut buf = vec![0u8; 256];
    // SAFETY: valid NUL-terminated strings and a writable buffer of buf.len() bytes.
    let n =
        unsafe { libc::lgetxattr(cp.as_ptr(), ck.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    (n >= 0).then(|| buf[..n as usize].to_vec())
}

/// busybox plus `/data` (a dir 0750 owned 1234:5678 holding `f`, 0640 1234:5678 with the
/// xattr user.berth=copied, and a symlink) and `/link -> <host dir>` (the hostile part),
/// imported as `vimg` with `VOLUME /data` and `VOLUME /link`.
fn setup() -> (VEnv, PathBuf) {
    let env = VEnv(Env::new());
    let rootfs = env.path("vimg-rootfs");
    testutil::make_busybox_rootfs(&rootfs);
    let data = rootfs.join("data");
    std::fs::create_dir_all(data.join("sub")).unwrap();
    std::fs::write(data.join("f"), "hi\n").unwrap();
    std::fs::write(data.join("sub/g"), "deep\n").unwrap();
    std::os::unix::fs::symlink("f", data.join("ln")).unwrap();
    sh(&format!(
        "chown -R 1234:5678 {0} && chmod 0750 {0} && chmod 0640 {0}/f",
        data.display()
    ));
    lsetxattr(&data.join("f"), "user.berth", b"copied");
    // A host directory the image's /link points at (an absolute host path).
    let host = env.path("host-dir");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("secret"), "host\n").unwrap();
    std::os::unix::fs::symlink(&host, rootfs.join("link")).unwrap();
    std::os::unix::fs::symlink("/etc", rootfs.join("link2")).unwrap();
    let tar = env.path("vimg.tar");
    sh(&format!(
        "tar --xattrs --xattrs-include='*' -C {} -cf {} .",
        rootfs.display(),
        tar.display()
    ));
    env.ok(&[
        "import",
        "-c",
        "VOLUME /data /link",
        "-c",
        "CMD [\"sh\"]",
        tar.to_str().unwrap(),
        "vimg",
    ]);
    (env, host)
}

fn inspect_json(env: &Env, args: &[&str]) -> Value {
    let mut a = vec!["inspect"];
    a.extend_from_slice(args);
    serde_json::from_str(&env.ok(&a)).unwrap()
}

fn vol_path(env: &Env, name: &str) -> PathBuf {
    env.root().join("volumes").join(name).join("_data")
}

fn names(env: &Env) -> Vec<String> {
    env.ok(&["volume", "ls", "-q"])
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn volume_commands_print_what_docker_prints() {
    let env = VEnv(Env::new());
    assert_eq!(env.ok(&["volume", "create", "v1"]), "v1\n");
    assert_eq!(
        env.ok(&[
            "volume",
            "create",
            "--label",
            "a=b",
            "--label",
            "c",
            "-o",
            "type=tmpfs",
            "-o",
            "device=tmpfs",
            "-o",
            "o=size=10m",
            "v2"
        ]),
        "v2\n"
    );
    let gen = env.ok(&["volume", "create"]);
    let gen = gen.trim();
    assert!(
        gen.len() == 64 && gen.bytes().all(|b| b.is_ascii_hexdigit()),
        "{gen}"
    );
    // The docker CLI's hidden --name.
    assert_eq!(
        env.ok(&["volume", "create", "--name", "byflag"]),
        "byflag\n"
    );
    let (_, e) = env.code(&["volume", "create", "--name", "a1", "b1"], 1);
    assert!(
        e.contains(
            "conflicting options: either specify --name or provide positional arg, not both"
        ),
        "{e}"
    );
    env.ok(&["volume", "rm", "byflag"]);
    // Creating an existing volume again returns it (dockerd 20.10 ignores the new options).
    assert_eq!(env.ok(&["volume", "create", "v1"]), "v1\n");

    // docker: "DRIVER    VOLUME NAME" then one row per volume, sorted by name.
    let ls = env.ok(&["volume", "ls"]);
    assert_eq!(
        ls,
        format!("DRIVER    VOLUME NAME\nlocal     {gen}\nlocal     v1\nlocal     v2\n")
    );
    let root = env.root().display().to_string();
    // docker volume inspect v1 v2 (CreatedAt differs: normalized).
    let out = env.ok(&["volume", "inspect", "v1", "v2"]);
    let created: Vec<String> = serde_json::from_str::<Value>(&out)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["CreatedAt"].as_str().unwrap().to_string())
        .collect();
    for c in &created {
        chrono::DateTime::parse_from_rfc3339(c).unwrap();
        assert!(c.ends_with('Z'), "{c}");
    }
    let want = format!(
        r#"[
    {{
        "CreatedAt": "{c0}",
        "Driver": "local",
        "Labels": null,
        "Mountpoint": "{root}/volumes/v1/_data",
        "Name": "v1",
        "Options": null,
        "Scope": "local"
    }},
    {{
        "CreatedAt": "{c1}",
        "Driver": "local",
        "Labels": {{
            "a": "b",
            "c": ""
        }},
        "Mountpoint": "{root}/volumes/v2/_data",
        "Name": "v2",
        "Options": {{
            "device": "tmpfs",
            "o": "size=10m",
            "type": "tmpfs"
        }},
        "Scope": "local"
    }}
]
"#,
        c0 = created[0],
        c1 = created[1]
    );
    assert_eq!(out, want);
    // docker volume ls --format json (one object per line, keys sorted, N/A for the rest).
    let js = env.ok(&["volume", "ls", "--format", "json", "-f", "name=v2"]);
    assert_eq!(
        js,
        format!(
            "{{\"Availability\":\"N/A\",\"Driver\":\"local\",\"Group\":\"N/A\",\"Labels\":\"a=b,c=\",\"Links\":\"N/A\",\"Mountpoint\":\"{root}/volumes/v2/_data\",\"Name\":\"v2\",\"Scope\":\"local\",\"Size\":\"N/A\",\"Status\":\"N/A\"}}\n"
        )
    );
    assert_eq!(
        env.ok(&[
            "volume",
            "ls",
            "-f",
            "name=v",
            "--format",
            "{{.Name}} {{.Driver}} {{.Scope}} {{.Labels}} {{.Links}} {{.Size}}"
        ]),
        "v1 local local  N/A N/A\nv2 local local a=b,c= N/A N/A\n"
    );
    assert_eq!(
        env.ok(&[
            "volume",
            "inspect",
            "-f",
            "{{.Name}} {{.Options.type}}",
            "v2"
        ]),
        "v2 tmpfs\n"
    );

    // Filters: label, name, driver, dangling.
    assert_eq!(env.ok(&["volume", "ls", "-qf", "label=a=b"]), "v2\n");
    assert_eq!(env.ok(&["volume", "ls", "-qf", "label=c"]), "v2\n");
    assert_eq!(env.ok(&["volume", "ls", "-qf", "label=a=x"]), "");
    assert_eq!(
        env.ok(&["volume", "ls", "-qf", "driver=local"])
            .lines()
            .count(),
        3
    );
    assert_eq!(env.ok(&["volume", "ls", "-qf", "driver=nfs"]), "");
    assert_eq!(
        env.ok(&["volume", "ls", "-qf", "dangling=true"])
            .lines()
            .count(),
        3
    );
    assert_eq!(env.ok(&["volume", "ls", "-qf", "dangling=false"]), "");

    // Errors, as the docker CLI prints them after "Error response from daemon: " (exit 1).
    let (_, e) = env.code(&["volume", "ls", "-f", "foo=bar"], 1);
    assert!(e.contains("Invalid filter 'foo'"), "{e}");
    let (_, e) = env.code(&["volume", "inspect", "nope"], 1);
    assert!(e.contains("get nope: no such volume"), "{e}");
    let (o, e) = env.code(&["volume", "rm", "nope"], 1);
    assert_eq!(o, "");
    assert!(e.contains("get nope: no such volume"), "{e}");
    assert_eq!(env.ok(&["volume", "rm", "-f", "nope"]), "nope\n");
    let (_, e) = env.code(&["volume", "create", "-o", "foo=bar", "x1"], 1);
    assert!(e.contains("create x1: invalid option: \"foo\""), "{e}");
    let (_, e) = env.code(&["volume", "create", "-o", "type=tmpfs", "x2"], 1);
    assert!(
        e.contains("create x2: missing required option: \"device\""),
        "{e}"
    );
    let (_, e) = env.code(&["volume", "create", "bad/name"], 1);
    assert!(
        e.contains("create bad/name: \"bad/name\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"),
        "{e}"
    );
    assert!(!env.root().join("volumes/x1").exists());
    assert!(!env.root().join("volumes/x2").exists());

    // The tmpfs volume really is a tmpfs of 10m, shared by the containers using it while one
    // runs, and unmounted (its content gone) after the last, as Docker's local driver does.
    env.import_busybox();
    let vmounted =
        || sh("cat /proc/self/mounts").contains(&format!("{} ", vol_path(&env, "v2").display()));
    let holder = env.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "-v",
        "v2:/t",
        "busybox",
        "sleep",
        "100",
    ]);
    assert!(vmounted());
    let out = env.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        "v2:/t",
        "busybox",
        "sh",
        "-c",
        "echo shared > /t/x && grep ' /t ' /proc/mounts",
    ]);
    assert!(
        out.contains("tmpfs /t tmpfs") && out.contains("size=10240k"),
        "{out}"
    );
    assert_eq!(env.ok(&["exec", holder.trim(), "cat", "/t/x"]), "shared\n");
    assert!(vmounted(), "the holder still uses it");
    env.ok(&["rm", "-f", holder.trim()]);
    assert!(!vmounted(), "unmounted after its last user");
    assert_eq!(
        env.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "-v",
            "v2:/u",
            "busybox",
            "ls",
            "/u"
        ]),
        "",
        "a fresh tmpfs"
    );
    assert!(!vmounted());
    assert_eq!(
        env.ok(&["volume", "rm", "v1", "v2", gen]),
        format!("v1\nv2\n{gen}\n")
    );
    assert!(
        !sh("cat /proc/self/mounts").contains(&env.root().join("volumes").display().to_string()),
        "volume rm unmounted the tmpfs"
    );
    assert_eq!(env.ok(&["volume", "ls", "-q"]), "");
}

#[test]
fn new_volumes_are_populated_from_the_image() {
    let (env, _host) = setup();
    // An image VOLUME (anonymous) and a named volume on it: both copied up at first use.
    let out = env.ok(&[
        "run",
        "--network",
        "none",
        "--name",
        "pop",
        "-v",
        "named:/data",
        "vimg",
        "sh",
        "-c",
        "ls -ln /data; cat /data/f /data/sub/g",
    ]);
    assert!(out.contains("-rw-r-----    1 1234     5678"), "{out}");
    assert!(out.ends_with("hi\ndeep\n"), "{out}");
    let d = vol_path(&env, "named");
    let md = std::fs::metadata(&d).unwrap();
    assert_eq!(
        (md.mode() & 0o7777, md.uid(), md.gid()),
        (0o750, 1234, 5678)
    );
    let f = std::fs::metadata(d.join("f")).unwrap();
    assert_eq!((f.mode() & 0o7777, f.uid(), f.gid()), (0o640, 1234, 5678));
    assert_eq!(
        lgetxattr(&d.join("f"), "user.berth").as_deref(),
        Some(&b"copied"[..])
    );
    assert_eq!(std::fs::read_link(d.join("ln")).unwrap(), Path::new("f"));
    // inspect's Mounts in Docker's shape (named via -v: Mode "z"; image volume: Mode "").
    let j = inspect_json(&env, &["pop"]);
    let mounts = j[0]["Mounts"].as_array().unwrap();
    assert_eq!(mounts.len(), 2, "{mounts:?}");
    assert_eq!(
        mounts[0],
        serde_json::json!({"Type":"volume","Name":"named","Source":d.display().to_string(),
            "Destination":"/data","Driver":"local","Mode":"z","RW":true,"Propagation":""})
    );
    assert_eq!(mounts[1]["Destination"], "/link");
    assert_eq!(mounts[1]["Mode"], "");
    assert_eq!(mounts[1]["Name"].as_str().unwrap().len(), 64);

    // A volume with content is never overwritten; volume-nocopy / :nocopy leave it empty.
    std::fs::write(d.join("f"), "mine\n").unwrap();
    assert_eq!(
        env.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "-v",
            "named:/data",
            "vimg",
            "cat",
            "/data/f"
        ]),
        "mine\n"
    );
    env.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        "nc1:/data:nocopy",
        "--mount",
        "type=volume,src=nc2,dst=/x,volume-nocopy",
        "vimg",
        "true",
    ]);
    let empty = |n: &str| {
        std::fs::read_dir(vol_path(&env, n))
            .unwrap()
            .next()
            .is_none()
    };
    assert!(empty("nc1") && empty("nc2"));
    // Copy-up also from a path the image does not have: nothing, no error.
    env.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        "none1:/nowhere",
        "vimg",
        "true",
    ]);
    assert!(empty("none1"));
}

#[test]
fn anonymous_volumes_go_with_rm_v_and_run_rm() {
    let (env, _host) = setup();
    let base = names(&env);
    assert!(base.is_empty(), "{base:?}");
    // run --rm: the image's two anonymous volumes and -v /anon go, the named one stays.
    env.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        "/anon",
        "-v",
        "keep:/keep",
        "vimg",
        "sh",
        "-c",
        "echo x > /anon/x",
    ]);
    assert_eq!(names(&env), vec!["keep".to_string()]);
    // rm without -v keeps them (dangling), rm -v removes the anonymous ones only.
    let id = env.ok(&[
        "create",
        "--network",
        "none",
        "-v",
        "/anon",
        "-v",
        "keep:/keep",
        "vimg",
    ]);
    let id = id.trim();
    assert_eq!(names(&env).len(), 4);
    env.ok(&["rm", id]);
    let left = names(&env);
    assert_eq!(left.len(), 4, "{left:?}");
    assert_eq!(
        env.ok(&["volume", "ls", "-qf", "dangling=true"])
            .lines()
            .count(),
        4
    );
    let id = env.ok(&["create", "--network", "none", "vimg"]);
    assert_eq!(names(&env).len(), 6);
    env.ok(&["rm", "-v", id.trim()]);
    assert_eq!(names(&env), left);
    // An anonymous volume another container still uses (--volumes-from) survives rm -v.
    let a = env.ok(&["create", "--network", "none", "--name", "va", "vimg"]);
    env.ok(&[
        "create",
        "--network",
        "none",
        "--name",
        "vb",
        "--volumes-from",
        "va",
        "vimg",
    ]);
    let j = inspect_json(&env, &["va"]);
    let anon: Vec<String> = j[0]["Mounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["Name"].as_str().unwrap().to_string())
        .collect();
    env.ok(&["rm", "-v", a.trim()]);
    for n in &anon {
        assert!(vol_path(&env, n).is_dir(), "{n} is still used by vb");
    }
    env.ok(&["rm", "-v", "vb"]);
    for n in &anon {
        assert!(!vol_path(&env, n).exists(), "{n} went with vb's rm -v");
    }
}

#[test]
fn volumes_from_shares_mounts_ro_or_rw() {
    let (env, _host) = setup();
    let bind = env.path("bindsrc");
    std::fs::create_dir_all(&bind).unwrap();
    env.ok(&[
        "create",
        "--network",
        "none",
        "--name",
        "src",
        "-v",
        "shared:/data",
        "-v",
        "/anon",
        "-v",
        &format!("{}:/hb:ro", bind.display()),
        "vimg",
    ]);
    env.ok(&["start", "-a", "src"]);
    // Default: the source's modes (the ro bind stays ro); data shared both ways.
    let out = env.ok(&[
        "run", "--rm", "--network", "none", "--volumes-from", "src", "vimg", "sh", "-c",
        "echo w > /data/w && echo a > /anon/a && cat /data/f && (touch /hb/x 2>/dev/null || echo ro)",
    ]);
    assert_eq!(out, "hi\nro\n");
    assert_eq!(
        std::fs::read_to_string(vol_path(&env, "shared").join("w")).unwrap(),
        "w\n"
    );
    // :ro makes every mount read-only.
    let out = env.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--volumes-from",
        "src:ro",
        "vimg",
        "sh",
        "-c",
        "cat /anon/a; touch /data/y 2>/dev/null || echo ro",
    ]);
    assert_eq!(out, "a\nro\n");
    // inspect: Mode "" and RW from the source and the mode (dockerd 20.10's answer).
    let id = env.ok(&[
        "create",
        "--network",
        "none",
        "--volumes-from",
        "src:ro",
        "vimg",
    ]);
    let j = inspect_json(&env, &[id.trim()]);
    let m = j[0]["Mounts"].as_array().unwrap();
    let data = m.iter().find(|x| x["Destination"] == "/data").unwrap();
    assert_eq!(
        *data,
        serde_json::json!({"Type":"volume","Name":"shared",
            "Source":vol_path(&env, "shared").display().to_string(),"Destination":"/data",
            "Driver":"local","Mode":"","RW":false,"Propagation":""})
    );
    let hb = m.iter().find(|x| x["Destination"] == "/hb").unwrap();
    assert_eq!(
        *hb,
        serde_json::json!({"Type":"bind","Source":bind.display().to_string(),"Destination":"/hb",
            "Mode":"","RW":false,"Propagation":"rprivate"})
    );
    assert_eq!(
        j[0]["HostConfig"]["VolumesFrom"],
        serde_json::json!(["src:ro"])
    );
    // Errors as dockerd's.
    let (_, e) = env.code(&["create", "--volumes-from", "src:xx", "vimg"], 125);
    assert!(e.contains("invalid mode: xx"), "{e}");
    let (_, e) = env.code(&["create", "--volumes-from", "nosuch", "vimg"], 125);
    assert!(e.contains("No such container: nosuch"), "{e}");
}

#[test]
fn in_use_volumes_are_refused_and_outlive_containers() {
    let (env, _host) = setup();
    let id = env.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "-v",
        "busy:/data",
        "vimg",
        "sleep",
        "100",
    ]);
    let id = id.trim();
    let (_, e) = env.code(&["volume", "rm", "busy"], 1);
    assert!(
        e.contains(&format!("remove busy: volume is in use - [{id}]")),
        "{e}"
    );
    // -f does not force it either (Docker).
    let (_, e) = env.code(&["volume", "rm", "-f", "busy"], 1);
    assert!(e.contains("volume is in use"), "{e}");
    // A stopped container still holds it.
    env.ok(&["rm", "-f", id]);
    let id2 = env.ok(&["create", "--network", "none", "-v", "busy:/data", "vimg"]);
    env.code(&["volume", "rm", "busy"], 1);
    assert_eq!(
        env.ok(&["volume", "ls", "-qf", "dangling=false"])
            .lines()
            .filter(|l| *l == "busy")
            .count(),
        1
    );
    // Removing the container (rm -v too: a named volume) keeps the data.
    env.ok(&["rm", "-v", id2.trim()]);
    assert_eq!(
        std::fs::read_to_string(vol_path(&env, "busy").join("f")).unwrap(),
        "hi\n"
    );
    assert_eq!(
        env.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "-v",
            "busy:/again",
            "vimg",
            "cat",
            "/again/f"
        ]),
        "hi\n"
    );
    assert_eq!(env.ok(&["volume", "rm", "busy"]), "busy\n");
    assert!(!env.root().join("volumes/busy").exists());
}

#[test]
fn prune_takes_unused_anonymous_volumes_or_all_with_a() {
    let (env, _host) = setup();
    env.ok(&["volume", "create", "--label", "keep=1", "named1"]);
    env.ok(&["volume", "create", "named2"]);
    // Two anonymous volumes left dangling, one used by a container.
    let id = env.ok(&["create", "--network", "none", "vimg"]);
    let used: Vec<String> = inspect_json(&env, &[id.trim()])[0]["Mounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["Name"].as_str().unwrap().to_string())
        .collect();
    let gone = env.ok(&["create", "--network", "none", "vimg"]);
    let dangling: Vec<String> = inspect_json(&env, &[gone.trim()])[0]["Mounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["Name"].as_str().unwrap().to_string())
        .collect();
    env.ok(&["rm", gone.trim()]);
    // The anonymous ones carry Docker's (≥ 23) label.
    let lbl = env.ok(&["volume", "inspect", "-f", "{{json .Labels}}", &dangling[0]]);
    assert_eq!(lbl, "{\"com.docker.volume.anonymous\":\"\"}\n");
    // docker CLI 28: `volume prune` removes unused anonymous volumes only (against dockerd
    // 20.10 it sends no `all` and the old daemon removes every unused volume; berth follows
    // the CLI 28 + current daemon behaviour).
    let out = env.ok(&["volume", "prune", "-f"]);
    let mut want_deleted = dangling.clone();
    want_deleted.sort();
    assert_eq!(
        out,
        // 0B: berth populates a volume at the container's first start (dockerd 20.10 at
        // create), and these containers never ran.
        format!(
            "Deleted Volumes:\n{}\n\nTotal reclaimed space: 0B\n",
            want_deleted.join("\n")
        )
    );
    let mut now = names(&env);
    now.sort();
    let mut want: Vec<String> = used.clone();
    want.extend(["named1".to_string(), "named2".to_string()]);
    want.sort();
    assert_eq!(now, want);
    // Nothing to prune: only the total (docker's output).
    assert_eq!(
        env.ok(&["volume", "prune", "-f"]),
        "Total reclaimed space: 0B\n"
    );
    // Label filters with -a: label!=keep=1 keeps named1.
    assert_eq!(
        env.ok(&["volume", "prune", "-af", "--filter", "label!=keep=1"]),
        "Deleted Volumes:\nnamed2\n\nTotal reclaimed space: 0B\n"
    );
    assert_eq!(
        env.ok(&["volume", "prune", "-af", "--filter", "label=keep"]),
        "Deleted Volumes:\nnamed1\n\nTotal reclaimed space: 0B\n"
    );
    // The container's volumes were never candidates.
    let mut now = names(&env);
    now.sort();
    let mut u = used.clone();
    u.sort();
    assert_eq!(now, u);
    let (_, e) = env.code(&["volume", "prune", "-f", "--filter", "until=1h"], 1);
    assert!(e.contains("Invalid filter 'until'"), "{e}");
    // Without -f it asks; "n" keeps everything.
    let o = env.with_stdin(&["volume", "prune", "-a"], b"n\n");
    assert!(String::from_utf8_lossy(&o.stdout).starts_with(
        "WARNING! This will remove all local volumes not used by at least one container.\nAre you sure you want to continue? [y/N] "
    ));
    assert_eq!(names(&env).len(), u.len());
}

#[test]
fn mount_options_are_applied() {
    let (env, _host) = setup();
    env.ok(&["volume", "create", "sp"]);
    std::fs::create_dir_all(vol_path(&env, "sp").join("inner")).unwrap();
    std::fs::write(vol_path(&env, "sp").join("inner/i"), "inner\n").unwrap();
    let out = env.ok(&[
        "run", "--rm", "--network", "none",
        "--mount", "type=volume,src=sp,dst=/sub,volume-subpath=inner,readonly",
        "--mount", "type=volume,src=tv,dst=/tv,volume-opt=type=tmpfs,volume-opt=device=tmpfs,volume-opt=o=size=2m,volume-label=x=y",
        "--mount", "type=tmpfs,dst=/tt,tmpfs-size=1m,tmpfs-mode=1770",
        "vimg", "sh", "-c",
        "cat /sub/i; ls /sub; touch /sub/n 2>/dev/null || echo ro; grep -E ' /(tv|tt|sub) ' /proc/mounts; stat -c %a /tt",
    ]);
    assert!(out.starts_with("inner\ni\nro\n"), "{out}");
    assert!(
        out.contains(" /tv tmpfs rw,") && out.contains("size=2048k"),
        "{out}"
    );
    assert!(
        out.contains(" /tt tmpfs rw,") && out.contains("size=1024k"),
        "{out}"
    );
    assert!(out.ends_with("1770\n"), "{out}");
    assert_eq!(
        env.ok(&[
            "volume",
            "inspect",
            "-f",
            "{{json .Labels}} {{json .Options}}",
            "tv"
        ]),
        "{\"x\":\"y\"} {\"device\":\"tmpfs\",\"o\":\"size=2m\",\"type\":\"tmpfs\"}\n"
    );
    // A subpath that is missing, or leaves the volume through a symlink, is not mounted.
    let (_, e) = env.code(
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "--mount",
            "type=volume,src=sp,dst=/s,volume-subpath=nope",
            "vimg",
            "true",
        ],
        125,
    );
    assert!(e.contains("cannot access path"), "{e}");
    std::os::unix::fs::symlink("/etc", vol_path(&env, "sp").join("out")).unwrap();
    // A symlink in the volume resolves inside it: `out` -> /etc is the volume's missing
    // /etc (so `out/..` is missing too), never the host's.
    for sub in ["out", "out/..", "../../../../etc"] {
        let (_, e) = env.code(
            &[
                "run",
                "--rm",
                "--network",
                "none",
                "--mount",
                &format!("type=volume,src=sp,dst=/s,volume-subpath={sub}"),
                "vimg",
                "ls",
                "/s",
            ],
            125,
        );
        assert!(e.contains("cannot access path"), "{sub}: {e}");
    }
    // A file as subpath; the staged mounts go with the container (run --rm, rm -f).
    assert_eq!(
        env.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "--mount",
            "type=volume,src=sp,dst=/one,volume-subpath=inner/i",
            "vimg",
            "cat",
            "/one"
        ]),
        "inner\n"
    );
    let id = env.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--mount",
        "type=volume,src=sp,dst=/s,volume-subpath=inner",
        "vimg",
        "sleep",
        "100",
    ]);
    let staged = || {
        sh("cat /proc/self/mounts")
            .lines()
            .filter(|l| l.contains(&format!("{}/subpaths/", env.runroot().display())))
            .count()
    };
    assert_eq!(staged(), 1);
    assert_eq!(env.ok(&["exec", id.trim(), "cat", "/s/i"]), "inner\n");
    env.ok(&["rm", "-f", id.trim()]);
    assert_eq!(staged(), 0);
    assert!(
        vol_path(&env, "sp").join("inner/i").exists(),
        "the volume's data is intact"
    );
    // bind-propagation reaches the mount; volume options on a bind are refused.
    let b = env.path("b");
    std::fs::create_dir_all(&b).unwrap();
    let out = env.ok(&[
        "run",
        "--name",
        "prop",
        "--network",
        "none",
        "--mount",
        &format!(
            "type=bind,src={},dst=/b,bind-propagation=rshared",
            b.display()
        ),
        "vimg",
        "grep",
        " /b ",
        "/proc/self/mountinfo",
    ]);
    assert!(out.contains(" shared:"), "{out}");
    let j = inspect_json(&env, &["prop"]);
    assert_eq!(
        j[0]["Mounts"][0],
        serde_json::json!({"Type":"bind","Source":b.display().to_string(),"Destination":"/b",
            "Mode":"","RW":true,"Propagation":"rshared"})
    );
    let (_, e) = env.code(
        &[
            "create",
            "--mount",
            &format!("type=bind,src={},dst=/b,volume-nocopy", b.display()),
            "vimg",
        ],
        125,
    );
    assert!(
        e.contains("field VolumeOptions must not be specified"),
        "{e}"
    );
    env.ok(&["volume", "rm", "tv"]);
}

#[test]
fn a_symlink_in_the_image_never_leads_a_volume_to_the_host() {
    let (env, host) = setup();
    // The image's /link -> <host dir> is a VOLUME: copy-up resolves it inside the image (where
    // the host dir does not exist: nothing copied), the mount lands inside the rootfs.
    let out = env.ok(&[
        "run",
        "--network",
        "none",
        "--name",
        "hostile",
        "vimg",
        "sh",
        "-c",
        "ls /link; echo pwn > /link/written; cat /link/written",
    ]);
    assert_eq!(
        out, "pwn\n",
        "the volume is empty: the host's secret was not copied"
    );
    assert_eq!(
        std::fs::read_dir(&host).unwrap().count(),
        1,
        "nothing written to the host dir"
    );
    assert_eq!(
        std::fs::read_to_string(host.join("secret")).unwrap(),
        "host\n"
    );
    let j = inspect_json(&env, &["hostile"]);
    let link = j[0]["Mounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["Destination"] == "/link")
        .unwrap()
        .clone();
    let src = PathBuf::from(link["Source"].as_str().unwrap());
    assert_eq!(
        std::fs::read_to_string(src.join("written")).unwrap(),
        "pwn\n"
    );
    assert!(!src.join("secret").exists());
    // A named volume on a path that is a symlink to /etc in the image is filled from the
    // image's /etc, not the host's.
    env.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        "etcv:/link2",
        "vimg",
        "true",
    ]);
    assert_eq!(
        std::fs::read_to_string(vol_path(&env, "etcv").join("passwd")).unwrap(),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n",
        "the image's /etc, not the host's"
    );
    let mounts = sh("cat /proc/self/mounts");
    assert!(!mounts.contains(&host.display().to_string()), "{mounts}");
}

#[test]
fn system_df_counts_volumes() {
    let (env, _host) = setup();
    env.ok(&["create", "--network", "none", "-v", "dfv:/data", "vimg"]);
    env.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        "dfv:/data",
        "vimg",
        "true",
    ]);
    env.ok(&["volume", "create", "idle"]);
    std::fs::write(vol_path(&env, "idle").join("five"), "12345").unwrap();
    let out = env.ok(&[
        "system",
        "df",
        "--format",
        "{{.Type}}|{{.TotalCount}}|{{.Active}}|{{.Size}}|{{.Reclaimable}}",
    ]);
    let line = out
        .lines()
        .find(|l| l.starts_with("Local Volumes"))
        .unwrap();
    // dfv (3B, used) + 2 anonymous (/link: 0B, used) + idle (5B, unused).
    // dfv (8B copied up, used), create's anonymous /link (0B, used), idle (5B, unused); run --rm's
    // anonymous /link went with it.
    assert_eq!(line, "Local Volumes|3|2|13B|5B (38%)");
}

#[test]
fn concurrent_first_uses_populate_once_and_rm_never_races_a_create() {
    let (env, _host) = setup();
    // Six containers start on one new volume at once: each sees the image's content, none
    // fails on a half-made copy.
    let kids: Vec<_> = (0..6)
        .map(|i| {
            env.cmd(&[
                "run",
                "--rm",
                "--network",
                "none",
                "-v",
                "race:/data",
                "vimg",
                "sh",
                "-c",
                &format!("cat /data/f /data/sub/g && echo {i} > /data/w{i}"),
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    for k in kids {
        let o = k.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(String::from_utf8_lossy(&o.stdout), "hi\ndeep\n");
    }
    let mut files: Vec<String> = std::fs::read_dir(vol_path(&env, "race"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        ["f", "ln", "sub", "w0", "w1", "w2", "w3", "w4", "w5"]
    );
    // `volume rm` racing `create -v`: either the create won (rm refused, the container has
    // its volume) or the rm did (the create made the volume anew): never a container whose
    // volume is gone.
    for i in 0..4 {
        env.ok(&["volume", "create", "contested"]);
        let c = env
            .cmd(&["create", "--network", "none", "-v", "contested:/c", "vimg"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let rm = env.run(&["volume", "rm", "contested"]);
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "round {i}");
        let id = String::from_utf8_lossy(&o.stdout).trim().to_string();
        assert!(vol_path(&env, "contested").is_dir(), "round {i}: rm {rm:?}");
        env.ok(&["rm", &id]);
        env.ok(&["volume", "rm", "contested"]);
    }
}

#[test]
fn system_df_verbose_lists_images_containers_and_volumes() {
    let (env, _host) = setup();
    env.ok(&[
        "create",
        "--network",
        "none",
        "--name",
        "dfc",
        "-v",
        "dfv:/data",
        "vimg",
    ]);
    env.ok(&["start", "-a", "dfc"]);
    env.ok(&["volume", "create", "idle"]);
    let out = env.ok(&["system", "df", "-v"]);
    let sections: Vec<&str> = out.split("\n\n").collect();
    // docker CLI 28 + dockerd 20.10: these headings, tables and the empty build cache.
    assert_eq!(sections[0], "Images space usage:");
    assert!(
        sections[1].starts_with("REPOSITORY   TAG       IMAGE ID       CREATED"),
        "{out}"
    );
    assert!(
        sections[1].contains("SIZE      SHARED SIZE   UNIQUE SIZE   CONTAINERS\nvimg "),
        "{out}"
    );
    assert_eq!(sections[2], "Containers space usage:");
    assert!(
        sections[3].starts_with("CONTAINER ID   IMAGE     COMMAND   LOCAL VOLUMES   SIZE"),
        "{out}"
    );
    assert!(
        sections[3].contains("vimg      \"sh\"      2               "),
        "{out}"
    );
    assert_eq!(sections[4], "Local Volumes space usage:");
    let vols: Vec<Vec<&str>> = sections[5]
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(vols[0], ["VOLUME", "NAME", "LINKS", "SIZE"]);
    assert!(vols.contains(&vec!["dfv", "1", "8B"]), "{vols:?}");
    assert!(vols.contains(&vec!["idle", "0", "0B"]), "{vols:?}");
    assert_eq!(vols.len(), 4, "dfv, idle and the anonymous /link: {vols:?}");
    assert_eq!(sections[6], "Build cache usage: 0B");
    assert_eq!(
        sections[7],
        "CACHE ID   CACHE TYPE   SIZE      CREATED   LAST USED   USAGE     SHARED\n"
    );
    let js = env.ok(&["system", "df", "-v", "--format", "json"]);
    assert!(js.starts_with("{\"Images\":[{"), "{js}");
    let v: Value = serde_json::from_str(&js).unwrap();
    assert_eq!(v["Images"][0]["Repository"], "vimg");
    assert_eq!(v["Images"][0]["Containers"], "1");
    assert_eq!(v["Containers"][0]["Names"], "dfc");
    assert_eq!(v["Containers"][0]["LocalVolumes"], "2");
    assert_eq!(v["BuildCache"], serde_json::json!([]));
    let dfv = v["Volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["Name"] == "dfv")
        .unwrap();
    assert_eq!(
        (dfv["Links"].as_str(), dfv["Size"].as_str()),
        (Some("1"), Some("8B"))
    );
    env.code(&["system", "df", "-v", "--format", "{{.Type}}"], 125);
}

#[test]
fn system_prune_volumes_takes_anonymous_ones() {
    let (env, _host) = setup();
    env.ok(&["volume", "create", "named"]);
    let id = env.ok(&["create", "--network", "none", "-v", "named:/data", "vimg"]);
    let anon: Vec<String> = inspect_json(&env, &[id.trim()])[0]["Mounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["Name"] != "named")
        .map(|m| m["Name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(anon.len(), 1);
    let (_, e) = env.code(
        &["system", "prune", "-f", "--volumes", "--filter", "until=1h"],
        125,
    );
    assert!(
        e.contains("The \"until\" filter is not supported with \"--volumes\""),
        "{e}"
    );
    let out = env.ok(&["system", "prune", "-f", "--volumes"]);
    assert!(
        out.contains(&format!("Deleted Volumes:\n{}\n\n", anon[0])),
        "{out}"
    );
    assert_eq!(names(&env), vec!["named".to_string()]);
    // Without --volumes none goes.
    env.ok(&[
        "volume",
        "create",
        "--label",
        "com.docker.volume.anonymous=",
        "anonlike",
    ]);
    env.ok(&["system", "prune", "-f"]);
    assert_eq!(names(&env).len(), 2);
}
