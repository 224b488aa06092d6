//! The same Dockerfile built by Debian's dockerd (classic builder and BuildKit) and by berth:
//! the file trees (paths, types, modes, owners, contents, symlink targets, deleted files) and
//! the image configs must match. Differences that remain by design are filtered out here and
//! listed in the README.

mod common;
use common::dockerd::*;
use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

const DOCKERFILE: &str = r#"FROM bb AS tools
RUN mkdir -p /out && echo tool > /out/tool && chmod 0750 /out/tool
FROM bb
ARG WHO=nobody
ENV APP=/app GREETING="hello world"
LABEL org.example.name=demo
WORKDIR $APP
COPY files/ ./
COPY --chown=65534:65534 one.txt owned/
COPY --from=tools /out/tool /usr/local/bin/
ADD arch.tar /unpacked/
RUN echo "$GREETING" > greet && ln -s greet link && rm /etc/group && mkdir -p empty && chmod 0700 empty
RUN rm -rf /unpacked/inner/gone
EXPOSE 8080/tcp
VOLUME /data
USER $WHO
STOPSIGNAL SIGTERM
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat greet"]
"#;

/// path -> "type mode uid:gid size link sha" of an exported rootfs tar.
fn tree(tar_bytes: &[u8]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut a = tar::Archive::new(tar_bytes);
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let p = e
            .path()
            .unwrap()
            .to_string_lossy()
            .trim_end_matches('/')
            .to_string();
        let p = p.trim_start_matches("./").to_string();
        // What the engine makes per container, not the image.
        if p.is_empty()
            || [
                ".dockerenv",
                "etc/hosts",
                "etc/hostname",
                "etc/resolv.conf",
                "etc/mtab",
            ]
            .contains(&p.as_str())
            || p.starts_with("dev/")
            || p.starts_with("proc/")
            || p.starts_with("sys/")
        {
            continue;
        }
        let h = e.header().clone();
        let link = e
            .link_name()
            .ok()
            .flatten()
            .map(|l| l.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        let sum = hex_sha(&data);
        let kind = format!("{:?}", h.entry_type());
        let size = if h.entry_type().is_dir() {
            0
        } else {
            data.len()
        };
        out.insert(
            p,
            format!(
                "{kind} {:o} {}:{} {size} {link} {}",
                h.mode().unwrap() & 0o7777,
                h.uid().unwrap(),
                h.gid().unwrap(),
                &sum[..12]
            ),
        );
    }
    out
}

fn hex_sha(b: &[u8]) -> String {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut c = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(b).unwrap();
    let o = c.wait_with_output().unwrap();
    String::from_utf8_lossy(&o.stdout)[..64].to_string()
}

fn diff(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> Vec<String> {
    let mut d = Vec::new();
    for (k, v) in a {
        match b.get(k) {
            None => d.push(format!("only in first: {k} {v}")),
            Some(w) if w != v => d.push(format!("{k}: {v} != {w}")),
            _ => {}
        }
    }
    for (k, v) in b {
        if !a.contains_key(k) {
            d.push(format!("only in second: {k} {v}"));
        }
    }
    d
}

fn config_of(v: &Value) -> Value {
    let c = &v["Config"];
    serde_json::json!({
        "Env": c["Env"], "Cmd": c["Cmd"], "Entrypoint": c["Entrypoint"],
        "WorkingDir": c["WorkingDir"], "User": c["User"], "ExposedPorts": c["ExposedPorts"],
        "Volumes": c["Volumes"], "Labels": c["Labels"], "StopSignal": c["StopSignal"],
    })
}

fn write_context(dir: &Path) {
    std::fs::create_dir_all(dir.join("files/sub")).unwrap();
    std::fs::write(dir.join("files/a.txt"), "a\n").unwrap();
    std::fs::write(dir.join("files/sub/b.sh"), "#!/bin/sh\n").unwrap();
    sh(&format!(
        "chmod 0755 {0}/files/sub/b.sh && chmod 0600 {0}/files/a.txt",
        dir.display()
    ));
    std::fs::write(dir.join("one.txt"), "one\n").unwrap();
    std::fs::write(dir.join("Dockerfile"), DOCKERFILE).unwrap();
    sh(&format!(
        "mkdir -p {0}/t/inner/gone && echo k > {0}/t/inner/keep && echo g > {0}/t/inner/gone/g && \
         tar -C {0}/t --owner=1:1 -cf {0}/arch.tar inner && rm -r {0}/t",
        dir.display()
    ));
}

#[test]
fn same_tree_and_config_as_docker_classic_and_buildkit() {
    let env = Env::new();
    let ctx = env.path("ctx");
    write_context(&ctx);
    let bb = env.busybox_tar();
    let d = Dockerd::start_in("10.233");
    d.ok(&[
        "import",
        "-c",
        "ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin",
        bb.to_str().unwrap(),
        "bb",
    ]);
    env.ok(&[
        "import",
        "-c",
        "ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin",
        bb.to_str().unwrap(),
        "bb",
    ]);
    let c = ctx.to_str().unwrap();
    // berth
    let b = env.run(&["build", "--network", "none", "-t", "cmp", c]);
    assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
    let bcid = env.ok(&["create", "cmp"]).trim().to_string();
    let berth_tar = env.cmd(&["export", &bcid]).output().unwrap().stdout;
    let berth_tree = tree(&berth_tar);
    let berth_inspect: Value = serde_json::from_str(&env.ok(&["image", "inspect", "cmp"])).unwrap();
    // The comparison is of real trees: what the Dockerfile made and deleted.
    assert!(berth_tree.len() > 250, "{}", berth_tree.len());
    for p in [
        "app/greet",
        "app/link",
        "app/owned/one.txt",
        "app/sub/b.sh",
        "unpacked/inner/keep",
        "usr/local/bin/tool",
        "app/empty",
    ] {
        assert!(berth_tree.contains_key(p), "{p} missing");
    }
    for p in ["etc/group", "unpacked/inner/gone"] {
        assert!(!berth_tree.contains_key(p), "{p} not deleted");
    }
    for (name, kit) in [("classic", "0"), ("buildkit", "1")] {
        let tag = format!("cmp-{name}");
        let o = d.docker_env(
            &["build", "--network", "none", "-t", &tag, c],
            &[("DOCKER_BUILDKIT", kit)],
        );
        assert!(
            o.status.success(),
            "docker build ({name}): {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        let cid = d.ok(&["create", &tag]).trim().to_string();
        let dtar = d.docker(&["export", &cid]).stdout;
        let dtree = tree(&dtar);
        let differences = diff(&dtree, &berth_tree);
        assert!(
            differences.is_empty(),
            "file trees differ from docker {name}:\n{}",
            differences.join("\n")
        );
        let di: Value = serde_json::from_str(&d.ok(&["image", "inspect", &tag])).unwrap();
        assert_eq!(
            config_of(&di[0]),
            config_of(&berth_inspect[0]),
            "config vs docker {name}"
        );
        if name == "buildkit" {
            assert_eq!(
                di[0]["RootFS"]["Layers"].as_array().unwrap().len(),
                berth_inspect[0]["RootFS"]["Layers"]
                    .as_array()
                    .unwrap()
                    .len(),
                "layer count vs BuildKit"
            );
        }
        let dh = d.ok(&[
            "history",
            "--no-trunc",
            "--format",
            "{{.CreatedBy}}|{{.Size}}",
            &tag,
        ]);
        let bh = env.ok(&[
            "history",
            "--no-trunc",
            "--format",
            "{{.CreatedBy}}|{{.Size}}",
            "cmp",
        ]);
        eprintln!("--- docker {name} history:\n{dh}--- berth history:\n{bh}");
        if name == "buildkit" {
            assert_eq!(dh, bh, "history vs BuildKit");
        }
        d.ok(&["rm", &cid]);
    }
    env.ok(&["rm", &bcid]);
}
