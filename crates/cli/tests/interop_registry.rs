//! Registry interop with the real Docker (Debian's docker.io 20.10): one private dockerd (own
//! data-root, exec-root, socket, pidfile; its own bridge, no iptables) and one `docker-registry` on a
//! random loopback port. An image built by berth goes berth push -> docker pull -> docker run,
//! and one built by dockerd goes docker push -> berth pull -> berth run; file checksums compared.
//! Docker treats 127.0.0.0/8 as insecure (plain HTTP) by default, berth does so for 127.0.0.1.

mod common;
use common::dockerd::*;
use common::*;
use std::process::Stdio;

/// berth with its own client config dir (no login of the machine's user is read).
fn berth(env: &Env, args: &[&str]) -> String {
    let o = env
        .cmd(args)
        .env("DOCKER_CONFIG", env.path("client"))
        .env("HOME", env.path("home"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "berth {args:?} failed ({:?}): {}{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// A script printing checksums, listings and contents the image's files must have, run by
/// both engines: the outputs must be equal byte for byte.
const PROBE: &str = "cd / && sha256sum big small www/index.html bin/busybox && \
     find d big small -exec stat -c '%n %F %a %s %u:%g %Y' {} \\; | sort && cat small && test ! -e gone && test ! -e d/old && echo clean";

#[test]
fn berth_push_docker_pull_run() {
    let env = Env::new();
    let reg = Registry::start();
    let dd = Dockerd::start();
    env.import_busybox();

    // Three layers: base, a change with a big random file, then deletions and an opaque dir.
    berth(
        &env,
        &[
            "run",
            "--name",
            "c1",
            "--network",
            "none",
            "busybox",
            "sh",
            "-c",
            "head -c 3000000 /dev/urandom > /big && echo small-1 > /small && echo x > /gone \
             && mkdir -p /d && echo old > /d/old && ln -s /small /d/link",
        ],
    );
    berth(&env, &["commit", "c1", "step:1"]);
    berth(
        &env,
        &[
            "run",
            "--name",
            "c2",
            "--network",
            "none",
            "step:1",
            "sh",
            "-c",
            "rm /gone /d/old && echo new > /d/new && echo small-2 >> /small && chmod 640 /small",
        ],
    );
    let image = format!("{}/berth/interop:v1", reg.host);
    berth(
        &env,
        &["commit", "-c", "CMD [\"cat\", \"/small\"]", "c2", &image],
    );
    let layers = berth(&env, &["inspect", "-f", "{{json .RootFS.Layers}}", &image]);
    assert_eq!(
        layers.matches("sha256:").count(),
        3,
        "expected three layers: {layers}"
    );
    let id = berth(&env, &["inspect", "-f", "{{.Id}}", &image]);
    let probe_berth = berth(
        &env,
        &[
            "run",
            "--rm",
            "--network",
            "none",
            &image,
            "sh",
            "-c",
            PROBE,
        ],
    );
    assert!(
        probe_berth.ends_with("small-1\nsmall-2\nclean\n"),
        "{probe_berth}"
    );

    let out = berth(&env, &["push", &image]);
    assert!(out.contains("digest: sha256:"), "{out}");

    // Docker pulls it: same image ID (the config bytes), same layers, same files, runs the CMD.
    dd.ok(&["pull", "-q", &image]);
    assert_eq!(dd.ok(&["image", "inspect", "-f", "{{.Id}}", &image]), id);
    assert_eq!(
        dd.ok(&["image", "inspect", "-f", "{{json .RootFS.Layers}}", &image]),
        layers
    );
    assert_eq!(
        dd.ok(&["run", "--rm", "--network", "none", &image]),
        "small-1\nsmall-2\n"
    );
    let probe_docker = dd.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        &image,
        "sh",
        "-c",
        PROBE,
    ]);
    assert_eq!(probe_docker, probe_berth);

    // The digest berth printed is the one docker recorded.
    let digest = out
        .split_whitespace()
        .find(|w| w.starts_with("sha256:"))
        .unwrap()
        .to_string();
    let repo_digests = dd.ok(&["image", "inspect", "-f", "{{json .RepoDigests}}", &image]);
    assert!(repo_digests.contains(&digest), "{repo_digests} vs {digest}");
}

#[test]
fn docker_push_berth_pull_run() {
    let env = Env::new();
    let reg = Registry::start();
    let dd = Dockerd::start();

    // Made by dockerd: import + a commit of a container change (random data, deletions,
    // an opaque directory) + a second commit, so three layers.
    dd.ok(&[
        "import",
        env.busybox_tar().to_str().unwrap(),
        "interop-base:1",
    ]);
    dd.ok(&[
        "run",
        "--name",
        "d1",
        "--network",
        "none",
        "interop-base:1",
        "sh",
        "-c",
        "head -c 3000000 /dev/urandom > /big && echo small-1 > /small && echo x > /gone \
         && mkdir -p /d && echo old > /d/old && ln -s /small /d/link",
    ]);
    dd.ok(&["commit", "d1", "interop-step:1"]);
    dd.ok(&[
        "run",
        "--name",
        "d2",
        "--network",
        "none",
        "interop-step:1",
        "sh",
        "-c",
        "rm /gone /d/old && echo new > /d/new && echo small-2 >> /small && chmod 640 /small",
    ]);
    let image = format!("{}/docker/interop:v1", reg.host);
    dd.ok(&["commit", "-c", "CMD [\"cat\", \"/small\"]", "d2", &image]);
    let probe_docker = dd.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        &image,
        "sh",
        "-c",
        PROBE,
    ]);
    assert!(
        probe_docker.ends_with("small-1\nsmall-2\nclean\n"),
        "{probe_docker}"
    );
    let out = dd.ok(&["push", &image]);
    let digest = out
        .split_whitespace()
        .find(|w| w.starts_with("sha256:"))
        .expect("docker push prints the digest")
        .to_string();
    let docker_id = dd.ok(&["image", "inspect", "-f", "{{.Id}}", &image]);
    let docker_layers = dd.ok(&["image", "inspect", "-f", "{{json .RootFS.Layers}}", &image]);

    // berth pulls it by tag: same ID and layers; runs the CMD and sees the same files.
    berth(&env, &["pull", "-q", &image]);
    assert_eq!(
        berth(&env, &["inspect", "-f", "{{.Id}}", &image]),
        docker_id
    );
    assert_eq!(
        berth(&env, &["inspect", "-f", "{{json .RootFS.Layers}}", &image]),
        docker_layers
    );
    assert_eq!(
        berth(&env, &["run", "--rm", "--network", "none", &image]),
        "small-1\nsmall-2\n"
    );
    let probe_berth = berth(
        &env,
        &[
            "run",
            "--rm",
            "--network",
            "none",
            &image,
            "sh",
            "-c",
            PROBE,
        ],
    );
    assert_eq!(probe_berth, probe_docker);

    // And by the digest docker printed, into a fresh root.
    let env2 = Env::new();
    let by_digest = format!("{}/docker/interop@{digest}", reg.host);
    berth(&env2, &["pull", "-q", &by_digest]);
    assert_eq!(
        berth(&env2, &["inspect", "-f", "{{.Id}}", &by_digest]),
        docker_id
    );
    assert_eq!(
        berth(
            &env2,
            &[
                "run",
                "--rm",
                "--network",
                "none",
                &by_digest,
                "sh",
                "-c",
                PROBE
            ],
        ),
        probe_docker
    );

    dd.ok(&["rm", "d1", "d2"]);
}
