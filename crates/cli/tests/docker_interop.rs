//! Interoperability with the real Docker (Debian's docker.io 20.10) and skopeo: a private
//! dockerd (own data-root, exec-root, socket, pidfile; its own bridge, no iptables) is started for
//! the test and stopped by its PID at the end.

mod common;
use common::dockerd::*;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A read-only overlay of `layers` (top first) at `target`, unmounted on drop.
struct RoMount(PathBuf);

impl RoMount {
    fn new(layers: &[String], target: PathBuf) -> RoMount {
        std::fs::create_dir_all(&target).unwrap();
        sh(&format!(
            "mount -t overlay overlay -o ro,lowerdir={} {}",
            layers.join(":"),
            target.display()
        ));
        RoMount(target)
    }
}

impl Drop for RoMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Path, type, mode, owner, size, link target and content hash of every file.
fn tree_listing(root: &Path) -> String {
    sh(&format!(
        "cd {} && find . -printf '%p %y %m %U:%G %s %l\\n' | sort && find . -type f -print0 | sort -z | xargs -0 sha256sum",
        root.display()
    ))
}

/// The image's layer directories in the overlay2 driver of `root`, top first.
fn berth_layer_dirs(env: &Env, image: &str) -> Vec<String> {
    let data = env.ok(&[
        "image",
        "inspect",
        "-f",
        "{{.GraphDriver.Data.UpperDir}} {{.GraphDriver.Data.LowerDir}}",
        image,
    ]);
    let mut parts = data.split_whitespace();
    let mut v = vec![parts.next().unwrap().to_string()];
    if let Some(l) = parts.next() {
        v.extend(l.split(':').map(str::to_string));
    }
    v
}

#[test]
fn docker_save_load_both_ways_and_skopeo_oci() {
    let env = Env::new();
    let dd = Dockerd::start();
    let work = env.path("work");
    std::fs::create_dir_all(&work).unwrap();

    // An image with several layers, deletions, an opaque directory and hard links across layers.
    dd.ok(&[
        "import",
        env.busybox_tar().to_str().unwrap(),
        "berth-base:1",
    ]);
    std::fs::write(
        work.join("Dockerfile"),
        "FROM berth-base:1\n\
         RUN mkdir -p /d/sub && echo a > /d/sub/f && echo keep > /keep && echo gone > /gone && ln /keep /keep-hl && mkfifo /fifo\n\
         RUN rm /gone && rm -rf /d && mkdir /d && echo new > /d/n && ln /keep /keep-hl2 && ln -s /keep /keep-sym\n\
         CMD [\"sh\"]\n",
    )
    .unwrap();
    dd.ok(&[
        "build",
        "-q",
        "--network",
        "none",
        "-t",
        "berth-test/multi:1",
        work.to_str().unwrap(),
    ]);
    let docker_id = dd
        .ok(&["image", "inspect", "-f", "{{.Id}}", "berth-test/multi:1"])
        .trim()
        .to_string();

    // docker save -> berth load: same image ID (config bytes), same layers, same files.
    let a = env.path("docker-saved.tar");
    dd.ok(&["save", "-o", a.to_str().unwrap(), "berth-test/multi:1"]);
    assert_eq!(
        env.ok(&["load", "-i", a.to_str().unwrap()]),
        "Loaded image: berth-test/multi:1\n"
    );
    assert_eq!(
        env.ok(&["inspect", "-f", "{{.Id}}", "berth-test/multi:1"])
            .trim(),
        docker_id
    );
    assert_eq!(
        env.ok(&[
            "inspect",
            "-f",
            "{{json .RootFS.Layers}}",
            "berth-test/multi:1"
        ]),
        dd.ok(&[
            "image",
            "inspect",
            "-f",
            "{{json .RootFS.Layers}}",
            "berth-test/multi:1"
        ])
    );
    if env.ok(&["info", "--format", "{{.Driver}}"]).trim() == "overlay2" {
        let ours = RoMount::new(
            &berth_layer_dirs(&env, "berth-test/multi:1"),
            env.path("m-berth"),
        );
        let data = dd.ok(&[
            "image",
            "inspect",
            "-f",
            "{{.GraphDriver.Data.UpperDir}}:{{.GraphDriver.Data.LowerDir}}",
            "berth-test/multi:1",
        ]);
        let theirs_layers: Vec<String> = data.trim().split(':').map(str::to_string).collect();
        let theirs = RoMount::new(&theirs_layers, env.path("m-docker"));
        let (l1, l2) = (tree_listing(&ours.0), tree_listing(&theirs.0));
        assert_eq!(l1, l2, "unpacked rootfs differ");
        assert!(l1.contains("./d/n f") && !l1.contains("./d/sub") && !l1.contains("./gone "));
        // Hard links survive across layers.
        let ino = |p: &Path| sh(&format!("stat -c %i {}", p.display()));
        assert_eq!(ino(&ours.0.join("keep")), ino(&ours.0.join("keep-hl2")));
    }

    // berth save -> docker load -> runs there.
    let b = env.path("berth-saved.tar");
    env.ok(&["save", "-o", b.to_str().unwrap(), "berth-test/multi:1"]);
    dd.ok(&["rmi", "berth-test/multi:1"]);
    let out = dd.ok(&["load", "-i", b.to_str().unwrap()]);
    assert!(out.contains("Loaded image: berth-test/multi:1"), "{out}");
    assert_eq!(
        dd.ok(&["image", "inspect", "-f", "{{.Id}}", "berth-test/multi:1"])
            .trim(),
        docker_id
    );
    let out = dd.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "berth-test/multi:1",
        "sh",
        "-c",
        "cat /www/index.html /d/n; test ! -e /gone && test ! -e /d/sub && echo clean",
    ]);
    assert_eq!(out, "hello\nnew\nclean\n");

    // An image imported by berth runs in Docker too.
    env.ok(&[
        "import",
        "-c",
        "CMD [\"cat\", \"/www/index.html\"]",
        env.busybox_tar().to_str().unwrap(),
        "berth-made:1",
    ]);
    let c = env.path("berth-made.tar");
    env.ok(&["save", "-o", c.to_str().unwrap(), "berth-made:1"]);
    dd.ok(&["load", "-i", c.to_str().unwrap()]);
    assert_eq!(
        dd.ok(&["run", "--rm", "--network", "none", "berth-made:1"]),
        "hello\n"
    );

    // skopeo: docker-archive -> OCI layout directory -> berth load; and as an OCI archive on stdin.
    let oci = env.path("oci");
    sh(&format!(
        "skopeo copy --quiet docker-archive:{} oci:{}:v1",
        a.display(),
        oci.display()
    ));
    let env2 = Env::new();
    let out = env2.ok(&["load", "-i", oci.to_str().unwrap()]);
    assert!(out.starts_with("Loaded image ID: sha256:"), "{out}");
    let id = out
        .trim()
        .trim_start_matches("Loaded image ID: ")
        .to_string();
    assert_eq!(
        env2.ok(&["inspect", "-f", "{{json .RootFS.Layers}}", &id]),
        dd.ok(&[
            "image",
            "inspect",
            "-f",
            "{{json .RootFS.Layers}}",
            &docker_id
        ])
    );
    let env3 = Env::new();
    let oci_tar = env.path("oci.tar");
    sh(&format!(
        "tar -C {} -cf {} .",
        oci.display(),
        oci_tar.display()
    ));
    let bytes = std::fs::read(&oci_tar).unwrap();
    let o = env3.with_stdin(&["load"], &bytes);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        format!("Loaded image ID: {id}\n")
    );
}
