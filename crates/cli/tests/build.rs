//! `berth build` end to end: the real binary, a temporary root, busybox from Debian's
//! busybox-static; each built image is checked from `image inspect` and from a container.

mod common;
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A context directory with `files` (path, content); returns its path.
fn context(env: &Env, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let d = env.path(name);
    std::fs::create_dir_all(&d).unwrap();
    for (p, c) in files {
        let f = d.join(p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, c).unwrap();
    }
    d
}

/// `berth build --network none ARGS CTX`: (exit code, stdout, stderr).
fn build(env: &Env, ctx: &Path, args: &[&str]) -> (i32, String, String) {
    let mut a = vec!["build", "--network", "none"];
    a.extend_from_slice(args);
    let c = ctx.to_str().unwrap();
    a.push(c);
    let o = env.run(&a);
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn build_ok(env: &Env, ctx: &Path, args: &[&str]) -> String {
    let (code, out, err) = build(env, ctx, args);
    assert_eq!(code, 0, "build failed: {out}{err}");
    err
}

fn inspect(env: &Env, image: &str) -> Value {
    let v: Value = serde_json::from_str(&env.ok(&["image", "inspect", image])).unwrap();
    v[0].clone()
}

/// Runs `sh -c script` in a container of `image`; returns stdout.
fn run_sh(env: &Env, image: &str, script: &str) -> String {
    env.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        image,
        "sh",
        "-c",
        script,
    ])
}

/// `system check` finds nothing of this root's (the host-wide nft table may hold other
/// tests' leftovers: those rows are not ours).
fn assert_clean(env: &Env) {
    let out = env.run(&["system", "check"]);
    let out = String::from_utf8_lossy(&out.stdout).into_owned();
    let ours: Vec<&str> = out
        .lines()
        .skip(1)
        .filter(|l| !l.starts_with("nft "))
        .collect();
    assert!(ours.is_empty(), "{out}");
}

/// The image's config `history` as stored (`image inspect` does not show it).
fn history(env: &Env, image: &str) -> Vec<Value> {
    let id = inspect(env, image)["Id"].as_str().unwrap()[7..].to_string();
    let drv = env.ok(&["info", "--format", "{{.Driver}}"]);
    let p = env
        .root()
        .join(format!("image/{}/imagedb/content/sha256", drv.trim()))
        .join(id);
    let cfg: Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
    cfg["history"].as_array().unwrap().clone()
}

#[test]
fn instructions_config_history_and_files() {
    let env = Env::new();
    env.import_busybox();
    let ctx = context(
        &env,
        "ctx",
        &[
            ("a.txt", "hello\n"),
            (
                "Dockerfile",
                r#"FROM busybox
MAINTAINER someone@example.com
ENV A=b C="d e"
ENV PATH=/bin:/usr/bin
ARG V=1
LABEL org.x=y "sp ace"=z
WORKDIR /app
WORKDIR sub
COPY a.txt .
RUN echo "run $A $V" > made && mkdir -p /vol && echo v > /vol/f
SHELL ["/bin/sh", "-ec"]
RUN test "$(pwd)" = /app/sub
EXPOSE 80 53/udp
VOLUME /vol
VOLUME ["/data"]
USER nobody
STOPSIGNAL SIGUSR1
HEALTHCHECK --interval=5s --timeout=2s --retries=4 CMD ["true"]
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["echo from-cmd"]
"#,
            ),
        ],
    );
    let err = build_ok(&env, &ctx, &["-t", "built:1", "-t", "other"]);
    assert!(err.contains("#3 [2/6] WORKDIR /app"), "{err}");
    assert!(
        err.contains("naming to docker.io/library/built:1 done"),
        "{err}"
    );
    let i = inspect(&env, "built:1");
    let c = &i["Config"];
    assert_eq!(
        c["Env"],
        serde_json::json!(["PATH=/bin:/usr/bin", "A=b", "C=d e"])
    );
    assert_eq!(c["Labels"]["org.x"], "y");
    assert_eq!(c["Labels"]["sp ace"], "z");
    assert_eq!(c["WorkingDir"], "/app/sub");
    assert_eq!(c["User"], "nobody");
    assert_eq!(c["StopSignal"], "SIGUSR1");
    assert!(c["ExposedPorts"]["80/tcp"].is_object() && c["ExposedPorts"]["53/udp"].is_object());
    assert!(c["Volumes"]["/vol"].is_object() && c["Volumes"]["/data"].is_object());
    assert_eq!(c["Entrypoint"], serde_json::json!(["/bin/sh", "-c"]));
    assert_eq!(c["Cmd"], serde_json::json!(["echo from-cmd"]));
    assert_eq!(i["Author"], "someone@example.com");
    assert_eq!(inspect(&env, "other")["Id"], i["Id"]);
    // busybox + WORKDIR /app + WORKDIR sub + COPY + first RUN (second RUN changes nothing).
    assert_eq!(i["RootFS"]["Layers"].as_array().unwrap().len(), 5, "{i}");
    let h = history(&env, "built:1");
    let by: Vec<&str> = h
        .iter()
        .map(|e| e["created_by"].as_str().unwrap_or(""))
        .collect();
    let empty: Vec<bool> = h
        .iter()
        .map(|e| e["empty_layer"].as_bool().unwrap_or(false))
        .collect();
    let want = [
        ("MAINTAINER someone@example.com", true),
        ("ENV A=b C=d e", true),
        ("ENV PATH=/bin:/usr/bin", true),
        ("ARG V=1", true),
        ("LABEL org.x=y sp ace=z", true),
        ("WORKDIR /app", false),
        ("WORKDIR /app/sub", false),
        ("COPY a.txt . # buildkit", false),
        (
            "RUN |1 V=1 /bin/sh -c echo \"run $A $V\" > made && mkdir -p /vol && echo v > /vol/f # buildkit",
            false,
        ),
        ("SHELL [/bin/sh -ec]", true),
        ("RUN |1 V=1 /bin/sh -ec test \"$(pwd)\" = /app/sub # buildkit", true),
    ];
    for (k, (text, e)) in want.iter().enumerate() {
        assert_eq!(by[k + 1], *text, "history {k}: {by:?}");
        assert_eq!(empty[k + 1], *e, "empty_layer of {text}");
    }
    assert!(
        by.contains(&r#"HEALTHCHECK &{["CMD" "true"] "5s" "2s" "0s" "0s" '\x04'}"#),
        "BuildKit's text: {by:?}"
    );
    let hc = &inspect(&env, "built:1")["Config"]["Healthcheck"];
    assert_eq!(hc["Test"], serde_json::json!(["CMD", "true"]));
    assert_eq!(hc["Interval"], 5_000_000_000i64);
    assert_eq!(hc["Retries"], 4);
    // From inside: files, owner, the ENTRYPOINT+CMD, the RUN's ARG not in the image env.
    let out = env.ok(&["run", "--rm", "--network", "none", "built:1"]);
    assert_eq!(out, "from-cmd\n");
    let out = env.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--entrypoint",
        "sh",
        "built:1",
        "-c",
        "id -u; pwd; cat a.txt made; stat -c '%U %a' a.txt; echo V=$V",
    ]);
    assert_eq!(out, "65534\n/app/sub\nhello\nrun b 1\nroot 644\nV=\n");
}

#[test]
fn copy_add_flags_and_sources() {
    let env = Env::new();
    env.import_busybox();
    let ctx = context(
        &env,
        "ctx",
        &[
            ("f1.txt", "one\n"),
            ("f2.txt", "two\n"),
            ("skip.bak", "no\n"),
            ("dir/a/x", "x\n"),
            ("dir/a/y.bak", "y\n"),
            ("dir/b/z", "z\n"),
            (
                "Dockerfile",
                r#"FROM busybox AS src
RUN mkdir -p /out && echo from-stage > /out/s && ln -s s /out/link
FROM busybox
COPY --chown=nobody:nobody --chmod=0640 f1.txt /o/owned
COPY *.txt /glob/
COPY --exclude=**/*.bak --exclude=b dir /ex/
COPY --exclude=f2* *.txt /ex2/
COPY --parents dir/a/x /par/
COPY --from=src /out /fromstage
COPY f1.txt /existing-dir-test/
COPY f2.txt /existing-dir-test
ADD ctx.tar.gz /unpacked/
ADD plain.tar /plain/
"#,
            ),
        ],
    );
    sh(&format!(
        "mkdir -p {d}/t/inner && echo t > {d}/t/inner/file && tar -C {d}/t -czf {d}/ctx.tar.gz inner && tar -C {d}/t -cf {d}/plain.tar inner && rm -r {d}/t",
        d = ctx.display()
    ));
    build_ok(&env, &ctx, &["-t", "cp"]);
    let out = run_sh(
        &env,
        "cp",
        "stat -c '%n %u %g %a' /o /o/owned; cat /o/owned; ls /glob; find /ex | sort; find /par | sort; \
         ls /ex2; cat /fromstage/s; readlink /fromstage/link; ls /existing-dir-test; cat /unpacked/inner/file /plain/inner/file",
    );
    assert_eq!(
        out,
        "/o 65534 65534 755\n/o/owned 65534 65534 640\none\nf1.txt\nf2.txt\n\
         /ex\n/ex/a\n/ex/a/x\n\
         /par\n/par/dir\n/par/dir/a\n/par/dir/a/x\n\
         f1.txt\nfrom-stage\ns\nf1.txt\nf2.txt\nt\nt\n"
    );
    // More than one source needs a directory destination; a missing source names itself.
    let bad = context(
        &env,
        "bad",
        &[
            ("a", "a"),
            ("b", "b"),
            ("Dockerfile", "FROM busybox\nCOPY a b /x\n"),
        ],
    );
    let (code, _, err) = build(&env, &bad, &[]);
    assert_eq!(code, 1);
    assert!(
        err.contains("the destination must be a directory and end with a /"),
        "{err}"
    );
    let bad = context(
        &env,
        "bad2",
        &[("Dockerfile", "FROM busybox\n\nCOPY nothere /x\n")],
    );
    let (code, _, err) = build(&env, &bad, &[]);
    assert_eq!(code, 1);
    assert!(
        err.contains("Dockerfile:3") && err.contains(">>> COPY nothere /x"),
        "{err}"
    );
    assert!(err.contains("\"/nothere\": not found"), "{err}");
}

#[test]
fn multi_stage_target_and_parallel_stages() {
    let env = Env::new();
    env.import_busybox();
    let ctx = context(
        &env,
        "ctx",
        &[(
            "Dockerfile",
            r#"FROM busybox AS a
RUN echo a > /a
FROM busybox AS b
RUN echo b > /b
FROM busybox AS unused
RUN echo never > /never && exit 9
FROM a AS final
COPY --from=b /b /b
RUN cat /a /b > /ab
"#,
        )],
    );
    let err = build_ok(&env, &ctx, &["-t", "ms"]);
    assert!(!err.contains("[unused"), "unneeded stage ran: {err}");
    assert!(
        err.contains("[a 2/2] RUN echo a > /a") && err.contains("[b 2/2] RUN echo b > /b"),
        "{err}"
    );
    assert_eq!(run_sh(&env, "ms", "cat /ab"), "a\nb\n");
    let id = inspect(&env, "ms")["Id"].clone();
    let again = build_ok(&env, &ctx, &["-t", "ms"]);
    assert_eq!(again.matches("CACHED").count(), 4, "{again}");
    assert_eq!(inspect(&env, "ms")["Id"], id);
    let err = build_ok(&env, &ctx, &["--target", "b", "-t", "only-b"]);
    assert!(!err.contains("[a ") && !err.contains("[final"), "{err}");
    assert_eq!(
        run_sh(&env, "only-b", "cat /b; ls /a 2>&1 || true"),
        "b\nls: /a: No such file or directory\n"
    );
    // The failing stage fails the build when targeted.
    let (code, _, err) = build(&env, &ctx, &["--target", "unused"]);
    assert_eq!(code, 1);
    assert!(err.contains("exit code: 9"), "{err}");
    let (code, _, err) = build(&env, &ctx, &["--target", "nosuch"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("failed to reach build target nosuch in Dockerfile"),
        "{err}"
    );
}

#[test]
fn cache_keyed_on_content_not_mtime() {
    let env = Env::new();
    env.import_busybox();
    let ctx = context(
        &env,
        "ctx",
        &[
            ("a.txt", "v1\n"),
            (
                "Dockerfile",
                "FROM busybox\nRUN echo first > /first\nCOPY a.txt /a\nRUN cat /a > /b\n",
            ),
        ],
    );
    let first = build_ok(&env, &ctx, &["-t", "c"]);
    assert!(!first.contains("CACHED"), "{first}");
    let id1 = inspect(&env, "c")["Id"].clone();
    let again = build_ok(&env, &ctx, &["-t", "c"]);
    assert_eq!(again.matches("CACHED").count(), 3, "{again}");
    assert_eq!(
        inspect(&env, "c")["Id"],
        id1,
        "a fully cached build gives the same image"
    );
    // A new mtime alone is no change.
    sh(&format!(
        "touch -d '2001-01-01' {}",
        ctx.join("a.txt").display()
    ));
    let touched = build_ok(&env, &ctx, &["-t", "c"]);
    assert_eq!(touched.matches("CACHED").count(), 3, "{touched}");
    // New content: COPY and what follows rebuild, the RUN before stays cached.
    std::fs::write(ctx.join("a.txt"), "v2\n").unwrap();
    let changed = build_ok(&env, &ctx, &["-t", "c"]);
    assert_eq!(changed.matches("CACHED").count(), 1, "{changed}");
    assert!(
        changed.contains("#3 CACHED"),
        "the RUN before the COPY is a hit: {changed}"
    );
    assert_eq!(run_sh(&env, "c", "cat /b"), "v2\n");
    let nocache = build_ok(&env, &ctx, &["--no-cache", "-t", "c"]);
    assert!(!nocache.contains("CACHED"), "{nocache}");
    // builder prune forgets the cache.
    env.ok(&["builder", "prune", "-f"]);
    let after = build_ok(&env, &ctx, &["-t", "c2"]);
    assert!(!after.contains("CACHED"), "{after}");
    // --cache-from: an image's own steps are hits again after the index is gone.
    env.ok(&["builder", "prune", "-f"]);
    let cf = build_ok(&env, &ctx, &["--cache-from", "c2", "-t", "c3"]);
    assert!(
        cf.contains("#3 CACHED"),
        "RUN before COPY from --cache-from: {cf}"
    );
}

#[test]
fn dockerignore_with_exceptions() {
    let env = Env::new();
    env.import_busybox();
    let ctx = context(
        &env,
        "ctx",
        &[
            (
                ".dockerignore",
                "# comment\n*.log\n!keep.log\nsecret/\n**/*.tmp\ndocs/**\n!docs/keep/**\n",
            ),
            ("a.log", "x"),
            ("keep.log", "k"),
            ("secret/key", "s"),
            ("x/y.tmp", "t"),
            ("x/z", "z"),
            ("docs/a", "a"),
            ("docs/keep/b", "b"),
            ("Dockerfile", "FROM busybox\nCOPY . /ctx/\n"),
        ],
    );
    build_ok(&env, &ctx, &["-t", "ign"]);
    let out = run_sh(&env, "ign", "cd /ctx && find . -type f | sort");
    assert_eq!(
        out,
        "./.dockerignore\n./Dockerfile\n./docs/keep/b\n./keep.log\n./x/z\n"
    );
    // An excluded file named directly is not found.
    std::fs::write(ctx.join("Dockerfile"), "FROM busybox\nCOPY a.log /\n").unwrap();
    let (code, _, err) = build(&env, &ctx, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("\"/a.log\": not found"), "{err}");
    // <Dockerfile>.dockerignore wins over the context's.
    std::fs::write(ctx.join("my.Dockerfile"), "FROM busybox\nCOPY . /ctx/\n").unwrap();
    std::fs::write(ctx.join("my.Dockerfile.dockerignore"), "*\n!x\n").unwrap();
    let f = ctx.join("my.Dockerfile");
    build_ok(&env, &ctx, &["-f", f.to_str().unwrap(), "-t", "ign2"]);
    assert_eq!(
        run_sh(&env, "ign2", "cd /ctx && find . -type f | sort"),
        "./x/y.tmp\n./x/z\n"
    );
}

#[test]
fn heredocs_in_run_and_copy() {
    let env = Env::new();
    env.import_busybox();
    let df = "FROM busybox\nENV NAME=world\n\
RUN <<EOF\necho one > /one\necho two >> /one\nEOF\n\
RUN <<EOF\n#!/bin/sh\necho script $0 > /script\nEOF\n\
RUN cat > /piped <<EOT\nfrom $NAME\nEOT\n\
COPY <<EOF /expanded\nhello $NAME\nEOF\n\
COPY <<'EOF' /literal\nhello $NAME\nEOF\n\
COPY <<-EOF /chomped\n\t\tindented\n\tEOF\n\
COPY <<A <<B /two/\nfile a\nA\nfile b\nB\n";
    let ctx = context(&env, "ctx", &[("Dockerfile", df)]);
    build_ok(&env, &ctx, &["-t", "hd"]);
    let out = run_sh(
        &env,
        "hd",
        "cat /one /script /piped /expanded /literal /chomped /two/A /two/B",
    );
    assert_eq!(
        out,
        "one\ntwo\nscript /dev/pipes/EOF\nfrom world\nhello world\nhello $NAME\nindented\nfile a\nfile b\n"
    );
}

#[test]
fn run_mounts_cache_tmpfs_secret_bind() {
    let env = Env::new();
    env.import_busybox();
    let secret = env.path("token");
    std::fs::write(&secret, "s3cret\n").unwrap();
    let ctx = context(
        &env,
        "ctx",
        &[
            ("data/in", "bound\n"),
            (
                "Dockerfile",
                "FROM busybox\n\
RUN --mount=type=cache,target=/cache echo run >> /cache/log && wc -l < /cache/log > /count\n\
RUN --mount=type=tmpfs,target=/scratch echo t > /scratch/t && grep -q ' /scratch tmpfs' /proc/mounts\n\
RUN --mount=type=secret,id=tok cat /run/secrets/tok > /seen && stat -c %a /run/secrets/tok >> /seen\n\
RUN --mount=type=bind,source=data,target=/b cat /b/in > /fromb\n",
            ),
        ],
    );
    let tok = format!("id=tok,src={}", secret.display());
    build_ok(&env, &ctx, &["--secret", &tok, "-t", "m1"]);
    assert_eq!(
        run_sh(&env, "m1", "cat /count /seen /fromb; ls /cache /scratch"),
        "1\ns3cret\n400\nbound\n/cache:\n\n/scratch:\n"
    );
    // The cache mount's content survives into the next build (and never into the image).
    build_ok(&env, &ctx, &["--no-cache", "--secret", &tok, "-t", "m2"]);
    assert_eq!(run_sh(&env, "m2", "cat /count"), "2\n");
    // A missing secret is not mounted unless required.
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nRUN --mount=type=secret,id=nope,required=true true\n",
    )
    .unwrap();
    let (code, _, err) = build(&env, &ctx, &[]);
    assert_eq!(code, 1);
    assert!(err.contains("secret nope not found"), "{err}");
}

#[test]
fn build_args_and_scoping() {
    let env = Env::new();
    env.import_busybox();
    env.ok(&["tag", "busybox", "base:v2"]);
    let ctx = context(
        &env,
        "ctx",
        &[(
            "Dockerfile",
            "ARG TAG=v1\nARG GLOBAL=g\nFROM base:${TAG}\nARG GLOBAL\nARG LOCAL=default\nARG FROMENV\nENV LOCAL_ENV=${LOCAL}-env\n\
RUN echo \"$GLOBAL $LOCAL $FROMENV $TAG $LOCAL_ENV\" > /args\n\
ARG TARGETARCH\nRUN echo $TARGETARCH > /arch\n",
        )],
    );
    let (code, _, err) = build(&env, &ctx, &[]);
    assert_eq!(code, 1, "base:v1 does not exist: {err}");
    let mut cmd = env.cmd(&[
        "build",
        "--network",
        "none",
        "--build-arg",
        "TAG=v2",
        "--build-arg",
        "LOCAL=given",
        "--build-arg",
        "FROMENV",
        "--build-arg",
        "UNUSED=1",
        "-t",
        "args",
        ctx.to_str().unwrap(),
    ]);
    let o = cmd.env("FROMENV", "fromenv").output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("[Warning] One or more build-args [UNUSED] were not consumed"),
        "{err}"
    );
    // TAG was not redeclared in the stage: empty there.
    assert_eq!(
        run_sh(&env, "args", "cat /args /arch"),
        "g given fromenv  given-env\namd64\n"
    );
    let h = history(&env, "args");
    let run = h
        .iter()
        .find(|e| e["created_by"].as_str().unwrap_or("").contains("> /args"))
        .unwrap();
    assert!(
        run["created_by"]
            .as_str()
            .unwrap()
            .starts_with("RUN |3 GLOBAL=g LOCAL=given FROMENV=fromenv /bin/sh -c"),
        "{run}"
    );
}

#[test]
fn onbuild_triggers_run_in_child() {
    let env = Env::new();
    env.import_busybox();
    let p = context(
        &env,
        "parent",
        &[(
            "Dockerfile",
            "FROM busybox\nONBUILD COPY msg /msg\nONBUILD RUN cat /msg > /seen\n",
        )],
    );
    build_ok(&env, &p, &["-t", "parent-img"]);
    let pc = inspect(&env, "parent-img");
    assert_eq!(
        pc["Config"]["OnBuild"],
        serde_json::json!(["COPY msg /msg", "RUN cat /msg > /seen"])
    );
    let c = context(
        &env,
        "child",
        &[
            ("msg", "triggered\n"),
            ("Dockerfile", "FROM parent-img\nRUN true\n"),
        ],
    );
    build_ok(&env, &c, &["-t", "child-img"]);
    assert_eq!(run_sh(&env, "child-img", "cat /seen"), "triggered\n");
    assert!(inspect(&env, "child-img")["Config"]["OnBuild"].is_null());
}

#[test]
fn failing_run_leaves_no_image_or_container() {
    let env = Env::new();
    env.import_busybox();
    let ctx = context(
        &env,
        "ctx",
        &[(
            "Dockerfile",
            "FROM busybox\nRUN echo partial > /p\nRUN echo out; exit 3\nRUN true\n",
        )],
    );
    let layers_before = env.layers("overlay2");
    let (code, _, err) = build(&env, &ctx, &["-t", "broken"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("#4 0.") && err.contains(" out\n"),
        "the RUN's output is shown: {err}"
    );
    assert!(
        err.contains("Dockerfile:3\n--------------------\n   1 |     FROM busybox\n   2 |     RUN echo partial > /p\n   3 | >>> RUN echo out; exit 3\n--------------------\nERROR: failed to solve: process \"/bin/sh -c echo out; exit 3\" did not complete successfully: exit code: 3"),
        "{err}"
    );
    assert!(env.run(&["image", "inspect", "broken"]).status.code() == Some(1));
    assert_eq!(
        env.ok(&["ps", "-aq"]),
        "",
        "the failed RUN's container is gone"
    );
    // Nothing left over: no mounts, snapshots, cgroups or half-made layers.
    assert_clean(&env);
    // Only the successful first RUN's layer was added (it stays as cache).
    assert_eq!(env.layers("overlay2").len(), layers_before.len() + 1);
    // A bad instruction points at its line.
    std::fs::write(ctx.join("Dockerfile"), "FROM busybox\nFOO bar\n").unwrap();
    let (code, _, err) = build(&env, &ctx, &[]);
    assert_eq!(code, 1);
    assert!(
        err.contains(">>> FOO bar") && err.contains("unknown instruction: FOO"),
        "{err}"
    );
}

#[test]
fn scratch_labels_iidfile_quiet_and_stdin_contexts() {
    let env = Env::new();
    env.import_busybox();
    let ctx = context(
        &env,
        "ctx",
        &[("f", "data\n"), ("Dockerfile", "FROM scratch\nCOPY f /f\n")],
    );
    let iid = env.path("iid");
    let (code, out, err) = build(
        &env,
        &ctx,
        &[
            "-q",
            "--iidfile",
            iid.to_str().unwrap(),
            "--label",
            "a=b",
            "-t",
            "scr",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(err, "", "-q prints nothing but the ID");
    let id = std::fs::read_to_string(&iid).unwrap();
    assert_eq!(out.trim(), id);
    let i = inspect(&env, "scr");
    assert_eq!(i["Id"], id.as_str());
    assert_eq!(i["RootFS"]["Layers"].as_array().unwrap().len(), 1);
    assert_eq!(i["Config"]["Labels"]["a"], "b");
    // The same context as a tar on stdin, then a Dockerfile alone on stdin.
    let tarfile = env.path("ctx.tar");
    sh(&format!(
        "tar -C {} -cf {} .",
        ctx.display(),
        tarfile.display()
    ));
    let tar = std::fs::read(&tarfile).unwrap();
    let o = env.with_stdin(&["build", "--network", "none", "-q", "-"], &tar);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = env.with_stdin(
        &["build", "--network", "none", "-t", "stdin-df", "-"],
        b"FROM busybox\nRUN echo from-stdin > /s\n",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(run_sh(&env, "stdin-df", "cat /s"), "from-stdin\n");
    // A tar file as the context, and -f - with a directory context.
    build_ok(&env, &tarfile, &["-t", "fromtar"]);
    let o = env.with_stdin(
        &[
            "build",
            "--network",
            "none",
            "-f",
            "-",
            "-t",
            "dfstdin",
            ctx.to_str().unwrap(),
        ],
        b"FROM busybox\nCOPY f /copied\n",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(run_sh(&env, "dfstdin", "cat /copied"), "data\n");
    // Unsupported platforms are refused.
    let (code, _, err) = build(&env, &ctx, &["--platform", "linux/arm64"]);
    assert_eq!(code, 125, "{err}");
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM --platform=$BUILDPLATFORM busybox\nRUN true\n",
    )
    .unwrap();
    build_ok(&env, &ctx, &[]);
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM --platform=linux/arm64 busybox\nRUN true\n",
    )
    .unwrap();
    let (code, _, err) = build(&env, &ctx, &[]);
    assert_eq!(code, 1);
    assert!(err.contains("berth builds linux/amd64 only"), "{err}");
}

#[test]
fn context_of_20000_files() {
    let env = Env::new();
    env.import_busybox();
    let ctx = context(
        &env,
        "ctx",
        &[(
            "Dockerfile",
            "FROM busybox\nCOPY . /data/\nRUN find /data -type f | wc -l > /n\n",
        )],
    );
    for d in 0..20 {
        let dir = ctx.join(format!("d{d}"));
        std::fs::create_dir_all(&dir).unwrap();
        for f in 0..1000 {
            std::fs::write(dir.join(format!("f{f}")), format!("{d}/{f}\n")).unwrap();
        }
    }
    let t = std::time::Instant::now();
    build_ok(&env, &ctx, &["-t", "big"]);
    let cold = t.elapsed();
    let t = std::time::Instant::now();
    let again = build_ok(&env, &ctx, &["-t", "big"]);
    let warm = t.elapsed();
    assert!(again.contains("CACHED"));
    eprintln!("20000-file context: first build {cold:?}, cached rebuild {warm:?}");
    assert_eq!(
        run_sh(&env, "big", "cat /n; cat /data/d19/f999"),
        "20001\n19/999\n"
    );
}

#[test]
fn killed_build_leaves_nothing_after_the_next_build() {
    let env = Env::new();
    env.import_busybox();
    let ctx = context(
        &env,
        "ctx",
        &[("Dockerfile", "FROM busybox\nRUN sleep 60\n")],
    );
    let mut child = env
        .cmd(&["build", "--network", "none", ctx.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Bounded wait for the RUN's container to run.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while env.ok(&["ps", "-q"]).trim().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "RUN container never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        env.ok(&["ps", "-aq"]).lines().count(),
        1,
        "the killed build's RUN container"
    );
    // The next build removes the dead build's container.
    std::fs::write(ctx.join("Dockerfile"), "FROM busybox\nRUN true\n").unwrap();
    build_ok(&env, &ctx, &[]);
    assert_eq!(env.ok(&["ps", "-aq"]), "");
    assert_clean(&env);
}
