//! Volumes in containers (issue 13): copy-up from the image (modes, owners, xattrs),
//! anonymous volumes (`-v /path`, image `VOLUME`) and their removal by `rm -v` and `run --rm`,
//! `--volumes-from`, in-use refusal, `--mount` volume/bind/tmpfs options, a hostile image whose
//! volume path is a symlink to the host, and concurrent first uses.
//!
//! The expected `inspect` shapes were taken from the docker CLI 28.x against Debian's dockerd
//! 20.10.24 (a private daemon, run once) with the same commands.

mod common;
mod volumes_common;

use common::sh;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use volumes_common::*;

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
    // A volume name the local driver refuses (dockerd's message).
    let (_, e) = env.code(
        &["create", "--mount", "type=volume,src=a,dst=/x", "vimg"],
        125,
    );
    assert!(
        e.contains("create a: \"a\" includes invalid characters for a local volume name"),
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
fn volume_events_as_dockerd_logs_them() {
    let (env, _host) = setup();
    let since = chrono::Utc::now().timestamp().to_string();
    env.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--name",
        "evc",
        "-v",
        "evn:/data:ro",
        "vimg",
        "true",
    ]);
    let until = (chrono::Utc::now().timestamp() + 1).to_string();
    let events = |filter: &str, format: &str| {
        env.ok(&[
            "events",
            "--since",
            &since,
            "--until",
            &until,
            "--filter",
            "type=volume",
            "--filter",
            filter,
            "--format",
            format,
        ])
    };
    // dockerd 20.10: create, mount (with container, destination, propagation, read/write),
    // unmount (with container) for each volume; --rm destroys the anonymous one.
    let out = events(
        "type=volume",
        "{{.Action}} {{.Actor.ID}} {{.Actor.Attributes.driver}}",
    );
    let lines: Vec<&str> = out.lines().collect();
    let named: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.contains(" evn "))
        .collect();
    assert_eq!(
        named,
        ["create evn local", "mount evn local", "unmount evn local"],
        "{out}"
    );
    let anon: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| !l.contains(" evn "))
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    assert_eq!(anon, ["create", "mount", "unmount", "destroy"], "{out}");
    let id = env.ok(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "event=create",
        "--filter",
        "type=container",
        "--format",
        "{{.Actor.ID}}",
    ]);
    let mounts = events(
        "event=mount",
        "{{.Actor.ID}} {{.Actor.Attributes.container}} {{.Actor.Attributes.destination}} {{index .Actor.Attributes \"read/write\"}}",
    );
    assert!(
        mounts.contains(&format!("evn {} /data false\n", id.trim())),
        "{mounts}"
    );
    assert!(
        mounts.contains(&format!(" {} /link true\n", id.trim())),
        "{mounts}"
    );
    let unmounts = events("event=unmount", "{{.Actor.Attributes.container}}");
    assert_eq!(unmounts, format!("{0}\n{0}\n", id.trim()));
}
