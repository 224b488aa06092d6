//! Volume commands like Docker's local driver (issue 13): `volume create|ls|inspect|rm|prune`,
//! `system df [-v]`, `system prune --volumes`. Mounts of volumes into containers are
//! `volume_mounts.rs`.
//!
//! The expected outputs were taken from the docker CLI 28.x against Debian's dockerd
//! 20.10.24 (a private daemon on a private socket and data root, run once) with the same
//! commands; where the two differ on purpose it is said at the assertion (CLI 28 semantics
//! for `volume prune`, as the CLI 28 against a ≥ 23 daemon behaves).

mod common;
mod volumes_common;

use common::{sh, Env};
use serde_json::Value;
use volumes_common::*;

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
