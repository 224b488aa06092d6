//! RUN: the command in a berth container of the current image (the engine's own create/start
//! path), its output streamed into the progress, its filesystem changes committed as the
//! step's layer. `--mount` types: cache (a directory under `<root>/builder/cache-mounts` kept
//! across builds), bind (read-only, from the context or a stage), tmpfs, secret.

use super::context::Tree;
use super::stage::{commit_layer, diff_layer, Snapshot, State};
use super::{cache, is_proxy_arg, step_err, Shared};
use crate::types::{Config, HostConfig, Mount};
use crate::{AttachOptions, CreateRequest, Error, RemoveOptions, Result, WaitCondition};
use build::instructions::{Command, Instruction, RunMount, Step};
use std::path::PathBuf;

/// A cache mount's directory: one per id (default: the target), kept across builds.
fn cache_dir(sh: &Shared, m: &RunMount) -> Result<PathBuf> {
    let id = if m.id.is_empty() { &m.target } else { &m.id };
    let name = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(id.as_bytes()));
    let d = sh
        .engine
        .paths
        .root
        .join("builder")
        .join("cache-mounts")
        .join(name);
    if !d.exists() {
        std::fs::create_dir_all(&d).map_err(Error::io(format!("creating {}", d.display())))?;
        use std::os::unix::fs::PermissionsExt;
        let mode = m.mode.unwrap_or(0o755);
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(mode))
            .map_err(Error::io("chmod cache mount"))?;
        if m.uid.is_some() || m.gid.is_some() {
            std::os::unix::fs::chown(&d, m.uid, m.gid).map_err(Error::io("chown cache mount"))?;
        }
    }
    Ok(d)
}

/// The final argv of a RUN, and the files (heredoc scripts) to mount for it.
fn argv(
    st: &State,
    command: &Command,
    heredocs: &[build::Heredoc],
) -> (Vec<String>, Vec<(String, String)>) {
    let mut scripts = Vec::new();
    let argv = match command {
        Command::Exec(v) => v.clone(),
        Command::Shell(s) if heredocs.is_empty() => {
            let mut v = st.shell();
            v.push(s.clone());
            v
        }
        Command::Shell(s) => {
            let content = |h: &build::Heredoc| {
                if h.chomp {
                    build::parser::chomp_heredoc_content(&h.content)
                } else {
                    h.content.clone()
                }
            };
            let lone = heredocs.len() == 1
                && build::parser::parse_heredoc(s.trim())
                    .ok()
                    .flatten()
                    .is_some_and(|h| h.name == heredocs[0].name);
            if lone {
                let body = content(&heredocs[0]);
                if body.starts_with("#!") {
                    // A script with its own interpreter runs as a file, as BuildKit does.
                    let path = format!("/dev/pipes/{}", heredocs[0].name);
                    scripts.push((path.clone(), body));
                    vec![path]
                } else {
                    let mut v = st.shell();
                    v.push(body);
                    v
                }
            } else {
                // The shell runs the heredocs itself.
                let mut script = s.clone();
                for h in heredocs {
                    script.push('\n');
                    script.push_str(&content(h));
                    script.push_str(&h.name);
                }
                let mut v = st.shell();
                v.push(script);
                v
            }
        }
    };
    (argv, scripts)
}

pub(crate) fn run_step(sh: &Shared, st: &mut State, s: &Step, title: &str) -> Result<()> {
    let Instruction::Run {
        command,
        mounts,
        network,
        heredocs,
    } = &s.instruction
    else {
        unreachable!()
    };
    let line = s.line;
    let (argv, scripts) = argv(st, command, heredocs);
    let run_args = st.run_args();
    let visible: Vec<String> = run_args
        .iter()
        .filter(|(k, _)| !is_proxy_arg(k))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let prefix = if visible.is_empty() {
        String::new()
    } else {
        format!("|{} {} ", visible.len(), visible.join(" "))
    };
    let created_by = format!("RUN {prefix}{} # buildkit", argv.join(" "));
    let network = network
        .clone()
        .or_else(|| sh.req.network.clone())
        .unwrap_or_else(|| "default".into());
    let mut mounts_x = Vec::new();
    for m in mounts {
        let mut m = m.clone();
        for f in [&mut m.target, &mut m.source, &mut m.from, &mut m.id] {
            *f = st.expand(sh, f, line)?;
        }
        mounts_x.push(m);
    }
    let mounts_key = format!("{mounts_x:?}|{network}");
    let key = cache::key(st, &created_by, &[mounts_key.as_bytes()]);
    let p = sh.progress.step(title);
    if let Some(id) = cache::lookup(sh, st, &key, &created_by) {
        super::stage::adopt(sh, st, &id)?;
        p.cached();
        return Ok(());
    }
    let res = run_container(
        sh,
        st,
        &argv,
        &scripts,
        &run_args,
        &mounts_x,
        &network,
        &created_by,
        line,
        &p,
    );
    match res {
        Ok(id) => {
            cache::store(sh, &key, &id);
            p.done();
            Ok(())
        }
        Err(e) => {
            p.error(&super::brief(&e));
            Err(match e {
                Error::Build(b) => Error::Build(b),
                e => step_err(line, e.to_string()),
            })
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn run_container(
    sh: &Shared,
    st: &mut State,
    argv: &[String],
    scripts: &[(String, String)],
    run_args: &[(String, String)],
    mounts: &[RunMount],
    network: &str,
    created_by: &str,
    line: usize,
    p: &super::progress::Step,
) -> Result<String> {
    let e = sh.engine;
    let store = e.images()?;
    let mut host = HostConfig {
        network_mode: network.to_string(),
        ..Default::default()
    };
    let mut env: Vec<String> = run_args.iter().map(|(k, v)| format!("{k}={v}")).collect();
    for (k, v) in &sh.args {
        if is_proxy_arg(k) && !run_args.iter().any(|(n, _)| n == k) {
            env.push(format!("{k}={v}"));
        }
    }
    let mut binds: Vec<Mount> = Vec::new();
    let mut tmpfs = crate::types::Map::new();
    let mut snaps = Vec::new();
    let tmp = tempfile_dir(sh)?;
    for m in mounts {
        match m.kind.as_str() {
            "cache" => binds.push(Mount {
                kind: "bind".into(),
                source: cache_dir(sh, m)?.display().to_string(),
                target: m.target.clone(),
                read_only: m.read_only.unwrap_or(false),
                ..Default::default()
            }),
            "tmpfs" => {
                let opt = m.size.map(|s| format!("size={s}")).unwrap_or_default();
                tmpfs.insert(m.target.clone(), opt);
            }
            "bind" => {
                if m.read_only == Some(false) {
                    return Err(step_err(
                        line,
                        "RUN --mount=type=bind,rw is not supported (writes would reach the context)",
                    ));
                }
                let root = if m.from.is_empty() {
                    sh.ctx.root.clone()
                } else {
                    let id = match sh.df.stage_index(&m.from) {
                        Some(j) => sh.board.wait(j)?.image.unwrap_or_default(),
                        None => store.resolve(&m.from)?,
                    };
                    let snap =
                        Snapshot::new(store.layers(), store.get(&id)?.top_layer().as_deref())?;
                    let r = snap.root.clone();
                    snaps.push(snap);
                    r
                };
                let tree = Tree {
                    root: &root,
                    ignore: m.from.is_empty().then_some(&sh.ctx.ignore),
                    exclude: None,
                };
                let src = if m.source.is_empty() { "." } else { &m.source };
                let s = tree
                    .sources(src)
                    .map_err(|e| step_err(line, format!("bind mount source: {e}")))?;
                binds.push(Mount {
                    kind: "bind".into(),
                    source: s[0].host.display().to_string(),
                    target: m.target.clone(),
                    read_only: true,
                    ..Default::default()
                });
            }
            "secret" => {
                let Some(src) = sh.req.secrets.get(&m.id) else {
                    if m.required {
                        return Err(step_err(line, format!("secret {} not found", m.id)));
                    }
                    continue;
                };
                if !m.env.is_empty() {
                    let v = std::fs::read_to_string(src)
                        .map_err(Error::io(format!("reading secret {}", m.id)))?;
                    env.push(format!("{}={}", m.env, v.trim_end_matches('\n')));
                }
                if !m.target.is_empty() {
                    // A private copy with the mount's mode: the container never sees the
                    // caller's file.
                    let copy = tmp.join(format!("secret-{}", binds.len()));
                    std::fs::copy(src, &copy)
                        .map_err(Error::io(format!("reading secret {}", m.id)))?;
                    use std::os::unix::fs::PermissionsExt;
                    std::fs::set_permissions(
                        &copy,
                        std::fs::Permissions::from_mode(m.mode.unwrap_or(0o400)),
                    )
                    .map_err(Error::io("chmod secret"))?;
                    if m.uid.is_some() || m.gid.is_some() {
                        std::os::unix::fs::chown(&copy, m.uid, m.gid)
                            .map_err(Error::io("chown secret"))?;
                    }
                    binds.push(Mount {
                        kind: "bind".into(),
                        source: copy.display().to_string(),
                        target: m.target.clone(),
                        read_only: true,
                        ..Default::default()
                    });
                }
            }
            other => {
                return Err(step_err(
                    line,
                    format!("RUN --mount=type={other} is not supported"),
                ))
            }
        }
    }
    for (i, (path, body)) in scripts.iter().enumerate() {
        let f = tmp.join(format!("script-{i}"));
        std::fs::write(&f, body).map_err(Error::io("writing heredoc script"))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755))
            .map_err(Error::io("chmod heredoc script"))?;
        binds.push(Mount {
            kind: "bind".into(),
            source: f.display().to_string(),
            target: path.clone(),
            read_only: true,
            ..Default::default()
        });
    }
    if !binds.is_empty() {
        host.mounts = Some(binds);
    }
    if !tmpfs.is_empty() {
        host.tmpfs = Some(tmpfs);
    }
    let config = Config {
        image: st.image.clone(),
        cmd: Some(argv.to_vec()),
        entrypoint: Some(vec![String::new()]),
        env,
        attach_stdout: true,
        attach_stderr: true,
        // A RUN is no service: the image's HEALTHCHECK does not probe it (as BuildKit).
        healthcheck: Some(crate::health::HealthConfig {
            test: vec!["NONE".into()],
            ..Default::default()
        }),
        labels: [(OWNER_LABEL.to_string(), owner_value())]
            .into_iter()
            .collect(),
        ..Default::default()
    };
    let created = e.create_to_start(CreateRequest {
        name: None,
        config,
        host_config: host,
        networking: Default::default(),
    })?;
    let cid = created.id;
    let remove = || {
        let _ = e.remove(
            &cid,
            &RemoveOptions {
                force: true,
                volumes: true,
            },
        );
    };
    let res = (|| -> Result<String> {
        let att = e.start_attached(
            &cid,
            &AttachOptions {
                stdin: false,
                stdout: true,
                stderr: true,
            },
        )?;
        let mut out = p.writer();
        let mut err = p.writer();
        let exit = match att.pump(None, &mut out, &mut err)? {
            Some(w) => w,
            None => e.wait(&cid, WaitCondition::NotRunning)?,
        };
        drop(out);
        drop(err);
        if exit.status_code != 0 {
            let shown: Vec<String> = argv.to_vec();
            return Err(step_err(
                line,
                format!(
                    "process \"{}\" did not complete successfully: exit code: {}",
                    shown.join(" "),
                    exit.status_code
                ),
            ));
        }
        let layers = store.layers();
        let parent = store.get(&st.image)?.top_layer();
        let mut op = store.begin()?;
        let layer = diff_layer(layers, &cid, parent.as_deref(), &mut op)?;
        let cfg = st.config.clone();
        commit_layer(sh, st, cfg, created_by.to_string(), layer, &mut op)
    })();
    remove();
    drop(snaps);
    let _ = std::fs::remove_dir_all(&tmp);
    res
}

/// A private directory for a RUN's secrets and scripts (root only).
fn tempfile_dir(sh: &Shared) -> Result<PathBuf> {
    let d = sh
        .engine
        .paths
        .root
        .join("builder")
        .join("tmp")
        .join(format!("{:016x}", rand::random::<u64>()));
    std::fs::create_dir_all(&d).map_err(Error::io(format!("creating {}", d.display())))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700))
        .map_err(Error::io("chmod builder tmp"))?;
    Ok(d)
}

/// The label that names the build a RUN container belongs to: the builder's PID and start
/// time (so a reused PID is not mistaken for it).
const OWNER_LABEL: &str = "berth.build.owner";

/// "PID STARTTIME" of a process (`/proc/PID/stat` field 22), None if it is gone.
fn proc_identity(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let start = rest.split_whitespace().nth(19)?;
    Some(format!("{pid} {start}"))
}

pub(crate) fn owner_value() -> String {
    proc_identity(std::process::id()).unwrap_or_default()
}

/// Removes the RUN containers of builds whose builder died (killed mid-RUN): they hold no
/// state anyone needs.
pub(crate) fn reap_stale(e: &crate::Engine) {
    let Ok(list) = e.list(&crate::ListOptions {
        all: true,
        filters: vec![("label".into(), OWNER_LABEL.into())],
        ..Default::default()
    }) else {
        return;
    };
    for c in list {
        let Some(owner) = c.labels.get(OWNER_LABEL) else {
            continue;
        };
        let pid: Option<u32> = owner.split_whitespace().next().and_then(|p| p.parse().ok());
        let alive = pid.and_then(proc_identity).is_some_and(|id| id == *owner);
        if !alive {
            let _ = e.remove(
                &c.id,
                &RemoveOptions {
                    force: true,
                    volumes: true,
                },
            );
        }
    }
}
