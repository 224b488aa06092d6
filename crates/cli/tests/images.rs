//! End-to-end image commands with the real `berth` binary on a temporary root.

mod common;
use common::*;
use std::io::Write;
use std::process::Stdio;

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

#[test]
fn import_images_inspect_tag_history_rmi() {
    let env = Env::new();
    let tar = env.busybox_tar();
    let id = env.ok(&[
        "import",
        "-c",
        "ENV PATH=/bin",
        "-c",
        r#"CMD ["sh"]"#,
        "-c",
        "EXPOSE 80",
        "-m",
        "my message",
        tar.to_str().unwrap(),
        "busybox:latest",
    ]);
    let id = id.trim().to_string();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");

    // Docker's table layout.
    let out = env.ok(&["images"]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("REPOSITORY   TAG       IMAGE ID       CREATED"),
        "{out}"
    );
    assert!(
        lines[1].starts_with(&format!("busybox      latest    {}   ", &id[7..19])),
        "{out}"
    );
    assert!(lines[1].ends_with("MB"), "{out}");

    let inspect: serde_json::Value =
        serde_json::from_str(&env.ok(&["image", "inspect", "busybox"])).unwrap();
    let i = &inspect[0];
    assert_eq!(i["Id"], id.as_str());
    assert_eq!(i["RepoTags"][0], "busybox:latest");
    assert_eq!(i["Comment"], "my message");
    assert_eq!(i["Config"]["Env"][0], "PATH=/bin");
    assert_eq!(i["Config"]["Cmd"][0], "sh");
    assert!(i["Config"]["ExposedPorts"]["80/tcp"].is_object());
    assert_eq!(i["Os"], "linux");
    assert_eq!(i["RootFS"]["Type"], "layers");
    assert_eq!(i["RootFS"]["Layers"].as_array().unwrap().len(), 1);
    assert!(i["Size"].as_u64().unwrap() > 1_000_000);
    assert_eq!(
        i["GraphDriver"]["Name"],
        env.ok(&["info", "--format", "{{.Driver}}"]).trim()
    );
    // Docker's field order.
    let raw = env.ok(&["image", "inspect", "busybox"]);
    let pos = |k: &str| raw.find(&format!("\"{k}\"")).unwrap();
    assert!(
        pos("Id") < pos("RepoTags")
            && pos("Config") < pos("Architecture")
            && pos("GraphDriver") < pos("RootFS")
    );

    // --format templates.
    assert_eq!(
        env.ok(&[
            "inspect",
            "-f",
            "{{.Id}} {{json .Config.Cmd}} {{index .RepoTags 0}}",
            "busybox"
        ])
        .trim(),
        format!("{id} [\"sh\"] busybox:latest")
    );
    assert_eq!(
        env.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]),
        "busybox:latest\n"
    );

    // tag, then lookup by tag, short ID and full ID.
    env.ok(&["tag", "busybox", "localhost:5000/x/y:1"]);
    assert_eq!(env.ok(&["images", "-q"]).lines().count(), 2);
    for name in ["localhost:5000/x/y:1", &id[7..19], &id] {
        assert_eq!(env.ok(&["inspect", "-f", "{{.Id}}", name]).trim(), id);
    }
    let out = env.ok(&[
        "images",
        "--no-trunc",
        "--format",
        "{{.ID}} {{.Repository}}",
    ]);
    assert!(out.contains(&format!("{id} localhost:5000/x/y")), "{out}");

    // history: one row, Docker's columns.
    let h = env.ok(&["history", "busybox"]);
    assert!(h.starts_with("IMAGE          CREATED"), "{h}");
    assert!(h.contains("my message"), "{h}");

    // rmi of a tag only untags while another tag remains.
    assert_eq!(
        env.ok(&["rmi", "localhost:5000/x/y:1"]),
        "Untagged: localhost:5000/x/y:1\n"
    );
    assert_eq!(env.layers(&driver(&env)).len(), 1);
    let out = env.ok(&["rmi", "busybox"]);
    assert!(
        out.starts_with(&format!(
            "Untagged: busybox:latest\nDeleted: {id}\nDeleted: sha256:"
        )),
        "{out}"
    );
    assert!(
        env.layers(&driver(&env)).is_empty(),
        "layers left after rmi"
    );
    assert_eq!(env.ok(&["images", "-q"]), "");
}

fn driver(env: &Env) -> String {
    env.ok(&["info", "--format", "{{.Driver}}"])
        .trim()
        .to_string()
}

#[test]
fn errors_and_exit_codes() {
    let env = Env::new();
    let o = env.run(&["rmi", "nosuch"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o), "Error: No such image: nosuch\n");
    let o = env.run(&["image", "inspect", "nosuch"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "[]\n");
    assert!(stderr(&o).contains("No such image: nosuch"));
    let o = env.run(&["tag", "nosuch", "Bad"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("invalid reference format: repository name must be lowercase"));
    let o = env.run(&["images", "--bogus-flag"]);
    assert_eq!(o.status.code(), Some(125));
    let o = env.run(&["load", "-i", env.busybox_tar().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("manifest.json or index.json not found"),
        "{}",
        stderr(&o)
    );
    let o = env.run(&[
        "import",
        "-c",
        "RUN true",
        env.busybox_tar().to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("not a valid change command"));
    // Nothing half-made by the failures.
    assert_eq!(env.ok(&["images", "-aq"]), "");
    assert!(env.layers(&driver(&env)).is_empty());
    let o = env.run(&["images", "--format", "{{.Nope"]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn save_load_roundtrip_with_shared_layers() {
    let env = Env::new();
    let tar = env.busybox_tar();
    let id = env
        .ok(&["import", tar.to_str().unwrap(), "busybox:1"])
        .trim()
        .to_string();
    // The same tar twice: one layer, two images (different created time => different IDs).
    let id2 = env
        .ok(&[
            "import",
            "-c",
            "USER nobody",
            tar.to_str().unwrap(),
            "other/img:2",
        ])
        .trim()
        .to_string();
    assert_ne!(id, id2);
    let d = driver(&env);
    assert_eq!(env.layers(&d).len(), 1, "a shared layer is stored once");
    env.ok(&["tag", "busybox:1", "busybox:also"]);

    let archive = env.path("both.tar");
    env.ok(&[
        "save",
        "-o",
        archive.to_str().unwrap(),
        "busybox",
        "other/img:2",
    ]);
    let manifest = sh(&format!("tar -xOf {} manifest.json", archive.display()));
    let m: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    assert_eq!(m.as_array().unwrap().len(), 2);
    let tags: Vec<String> = m[0]["RepoTags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect();
    assert_eq!(tags, ["busybox:1", "busybox:also"]);
    assert_eq!(m[0]["Config"], format!("{}.json", &id[7..]));

    // Remove everything, then load back: same IDs and tags, layer shared again.
    env.ok(&["rmi", "-f", &id, &id2]);
    assert!(env.layers(&d).is_empty());
    let out = env.ok(&["load", "-i", archive.to_str().unwrap()]);
    assert_eq!(
        out,
        "Loaded image: busybox:1\nLoaded image: busybox:also\nLoaded image: other/img:2\n"
    );
    assert_eq!(
        env.ok(&["inspect", "-f", "{{.Id}}", "busybox:also"]).trim(),
        id
    );
    assert_eq!(
        env.ok(&["inspect", "-f", "{{.Config.User}}", "other/img:2"])
            .trim(),
        "nobody"
    );
    assert_eq!(env.layers(&d).len(), 1);

    // A second save is byte-identical in its layer (tar-split reproduces the original tar).
    let again = env.path("again.tar");
    env.ok(&["save", "-o", again.to_str().unwrap(), "busybox:1"]);
    let layer_of = |a: &std::path::Path| {
        let m: serde_json::Value =
            serde_json::from_str(&sh(&format!("tar -xOf {} manifest.json", a.display()))).unwrap();
        sh(&format!(
            "tar -xOf {} {} | sha256sum",
            a.display(),
            m[0]["Layers"][0].as_str().unwrap()
        ))
    };
    assert_eq!(layer_of(&archive), layer_of(&again));
    assert_eq!(
        format!(
            "sha256:{}",
            layer_of(&again).split_whitespace().next().unwrap()
        ),
        env.ok(&["inspect", "-f", "{{index .RootFS.Layers 0}}", "busybox:1"])
            .trim()
    );

    // Streamed load from stdin (gzip-compressed), into a fresh root.
    let env2 = Env::new();
    let gz = sh(&format!("gzip -c {} | base64 -w0", archive.display()));
    let gz = base64_decode(&gz);
    let o = env2.with_stdin(&["load"], &gz);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        env2.ok(&["inspect", "-f", "{{.Id}}", "other/img:2"]).trim(),
        id2
    );

    // Loading again moves nothing and takes no extra layer reference.
    env.ok(&["load", "-q", "-i", archive.to_str().unwrap()]);
    env.ok(&["rmi", "busybox:1", "busybox:also"]);
    assert_eq!(env.layers(&d).len(), 1, "layer still used by other/img:2");
    env.ok(&["rmi", "other/img:2"]);
    assert!(
        env.layers(&d).is_empty(),
        "refcounts: the last image released the layer"
    );

    // prune: dangling images only.
    env.ok(&["load", "-i", archive.to_str().unwrap()]);
    env.ok(&["rmi", "busybox:also"]);
    env.ok(&["rmi", "busybox:1"]); // last tag: deleted
    env.ok(&["tag", "other/img:2", "keep:me"]);
    env.ok(&["rmi", "other/img:2"]);
    let out = env.ok(&["image", "prune", "-f"]);
    assert_eq!(out, "Total reclaimed space: 0B\n");
    let out = env.ok(&["image", "prune", "-a", "-f"]);
    assert!(
        out.starts_with("Deleted Images:\nuntagged: keep:me\ndeleted: sha256:"),
        "{out}"
    );
    assert!(env.layers(&d).is_empty());
}

fn base64_decode(s: &str) -> Vec<u8> {
    let mut child = std::process::Command::new("base64")
        .arg("-d")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let data = s.as_bytes().to_vec();
    let t = std::thread::spawn(move || stdin.write_all(&data).unwrap());
    let out = child.wait_with_output().unwrap();
    t.join().unwrap();
    out.stdout
}

#[test]
fn interrupted_load_then_clean_retry() {
    let env = Env::new();
    let d = {
        // A big first layer (random data does not compress) and a busybox one.
        let rootfs = env.path("big");
        std::fs::create_dir_all(&rootfs).unwrap();
        sh(&format!(
            "head -c 48000000 /dev/urandom > {}/blob",
            rootfs.display()
        ));
        sh(&format!(
            "tar -C {} -cf {} .",
            rootfs.display(),
            env.path("big.tar").display()
        ));
        env.ok(&["import", env.path("big.tar").to_str().unwrap(), "big:1"]);
        env.ok(&["import", env.busybox_tar().to_str().unwrap(), "small:1"]);
        driver(&env)
    };
    let archive = env.path("a.tar");
    env.ok(&["save", "-o", archive.to_str().unwrap(), "big:1", "small:1"]);
    env.ok(&["rmi", "big:1", "small:1"]);
    assert!(env.layers(&d).is_empty());
    let bytes = std::fs::read(&archive).unwrap();

    // Feed all but the tail, wait until the big layer is registered (journaled), kill -9.
    let mut child = env
        .cmd(&["load"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&bytes[..bytes.len() - 600_000]).unwrap();
    let tmp = env.root().join("image").join(&d).join("tmp");
    let journaled = || {
        std::fs::read_dir(&tmp)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| {
                std::fs::read_to_string(e.path().join("journal")).is_ok_and(|j| j.contains("took "))
            })
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !journaled() {
        assert!(
            std::time::Instant::now() < deadline,
            "load never registered the first layer"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    drop(stdin);
    // The killed load left a held reference and its spool dir behind.
    assert_eq!(env.layers(&d).len(), 1);

    // The next command releases it: nothing visible, nothing leaked.
    assert_eq!(env.ok(&["images", "-aq"]), "");
    assert!(
        env.layers(&d).is_empty(),
        "the killed load's layer reference was not released"
    );
    assert_eq!(
        std::fs::read_dir(&tmp).unwrap().count(),
        0,
        "spool dir left behind"
    );

    // A clean retry works and the refcounts are right.
    let o = env.with_stdin(&["load"], &bytes);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(env.ok(&["images", "-q"]).lines().count(), 2);
    env.ok(&["rmi", "big:1", "small:1"]);
    assert!(env.layers(&d).is_empty());
}

#[test]
fn concurrent_loads_and_rmi_keep_the_store_consistent() {
    let env = Env::new();
    let tar = env.busybox_tar();
    for i in 0..4 {
        env.ok(&[
            "import",
            "-c",
            &format!("ENV N={i}"),
            tar.to_str().unwrap(),
            &format!("img:{i}"),
        ]);
    }
    let archive = env.path("all.tar");
    env.ok(&["save", "-o", archive.to_str().unwrap(), "img"]);
    let d = driver(&env);
    for _ in 0..3 {
        let a = archive.to_str().unwrap();
        let kids: Vec<_> = [
            vec!["load", "-i", a],
            vec!["load", "-i", a],
            vec!["rmi", "img:0"],
            vec!["tag", "img:1", "extra:1"],
        ]
        .into_iter()
        .map(|args| {
            env.cmd(&args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
        for mut k in kids {
            k.wait().unwrap();
        }
        // repositories.json stays valid JSON and every tag points at a stored image.
        let repos: serde_json::Value = serde_json::from_slice(
            &std::fs::read(env.root().join("image").join(&d).join("repositories.json")).unwrap(),
        )
        .unwrap();
        for (_, tags) in repos["Repositories"].as_object().unwrap() {
            for (tag, id) in tags.as_object().unwrap() {
                assert_eq!(
                    env.ok(&["inspect", "-f", "{{.Id}}", tag]).trim(),
                    id.as_str().unwrap()
                );
            }
        }
    }
    // Remove all: the single shared layer goes with the last image.
    let ids = env.ok(&["images", "-q", "--no-trunc"]);
    let mut ids: Vec<&str> = ids.lines().collect();
    ids.sort();
    ids.dedup();
    let mut args = vec!["rmi", "-f"];
    args.extend(ids.iter().copied());
    env.ok(&args);
    assert!(env.layers(&d).is_empty(), "{:?}", env.layers(&d));
}
