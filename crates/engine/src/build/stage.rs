//! One stage: its base, then each instruction as a cached step that makes an image.

use super::{cache, copy, is_proxy_arg, predefined_arg, run, step_err, Shared, StageOut};
use crate::{Error, Result};
use build::instructions::{Command, HealthArgs, Instruction, Step};
use image::config::{ContainerConfig, History, ImageConfig, RootFs};
use std::collections::BTreeMap;

/// The state of a stage between steps.
pub(crate) struct State {
    /// The image the last step made (every stage has one: scratch is an empty image).
    pub image: String,
    pub config: ImageConfig,
    /// ARGs declared in this stage, with their values.
    pub args: Vec<(String, String)>,
    pub done: usize,
    /// A CMD was set in this stage (an ENTRYPOINT after it keeps it).
    pub cmd_set: bool,
}

impl State {
    pub fn cc(&mut self) -> &mut ContainerConfig {
        self.config.config.get_or_insert_with(Default::default)
    }

    pub fn env_list(&self) -> Vec<String> {
        self.config
            .config
            .as_ref()
            .and_then(|c| c.env.clone())
            .unwrap_or_default()
    }

    /// The value of a variable for expansion: ENV first, then ARGs in scope.
    pub fn lookup(&self, k: &str) -> Option<String> {
        for e in self.env_list().iter().rev() {
            if let Some((n, v)) = e.split_once('=') {
                if n == k {
                    return Some(v.to_string());
                }
            }
        }
        self.args
            .iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    }

    pub fn expand(&self, sh: &Shared, w: &str, line: usize) -> Result<String> {
        let lex = build::Lex::new(sh.df.escape);
        lex.process_word(w, &|k| self.lookup(k))
            .map_err(|e| step_err(line, e.to_string()))
    }

    pub fn workdir(&self) -> String {
        let w = self
            .config
            .config
            .as_ref()
            .map(|c| c.working_dir.clone())
            .unwrap_or_default();
        if w.is_empty() {
            "/".into()
        } else {
            w
        }
    }

    pub fn shell(&self) -> Vec<String> {
        self.config
            .config
            .as_ref()
            .and_then(|c| c.shell.clone())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()])
    }

    /// Build args in scope for RUN's environment and history, ENV names excluded (ENV wins).
    pub fn run_args(&self) -> Vec<(String, String)> {
        let env = self.env_list();
        let mut out: Vec<(String, String)> = Vec::new();
        for (k, v) in &self.args {
            if env
                .iter()
                .any(|e| e.split_once('=').map(|x| x.0) == Some(k.as_str()))
            {
                continue;
            }
            out.retain(|(n, _)| n != k);
            out.push((k.clone(), v.clone()));
        }
        out
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn scratch_config() -> ImageConfig {
    ImageConfig {
        architecture: "amd64".into(),
        os: "linux".into(),
        config: Some(ContainerConfig {
            env: Some(vec![format!("PATH={DEFAULT_PATH}")]),
            ..Default::default()
        }),
        rootfs: Some(RootFs {
            kind: "layers".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Writes `cfg` as an image (child of `parent`), holding `layer`'s reference until the image
/// owns it. Returns the image ID.
pub(crate) fn write_image(
    sh: &Shared,
    cfg: &ImageConfig,
    parent: Option<&str>,
    op: &mut image::store::Op,
) -> Result<String> {
    let store = sh.engine.images()?;
    let raw = serde_json::to_vec(cfg).map_err(|e| Error::Other(e.to_string()))?;
    let lock = store.lock()?;
    let (id, _) = store.create_locked(&lock, op, &raw, parent)?;
    drop(lock);
    op.release_all()?;
    Ok(id)
}

/// Builds stage `i`.
pub(crate) fn run_stage(sh: &Shared, i: usize) -> Result<StageOut> {
    let stage = &sh.df.stages[i];
    let multi = sh.df.stages.len() > 1;
    let label = if multi {
        stage.name.clone().unwrap_or_else(|| format!("stage-{i}"))
    } else {
        String::new()
    };
    // As BuildKit, progress shows the filesystem steps only (FROM, RUN, COPY, ADD, WORKDIR).
    let is_fs = |s: &Step| {
        matches!(
            s.instruction,
            Instruction::Run { .. } | Instruction::Copy(_) | Instruction::Workdir(_)
        )
    };
    let total = stage.steps.iter().filter(|s| is_fs(s)).count() + 1;
    let prefix = |n: usize| {
        let label = &label;
        if label.is_empty() {
            format!("[{n}/{total}]")
        } else {
            format!("[{label} {n}/{total}]")
        }
    };
    let base = sh
        .expand_meta(&stage.base)
        .map_err(|e| step_err(stage.line, e))?;
    if base.is_empty() {
        return Err(step_err(
            stage.line,
            "base name (${...}) should not be blank",
        ));
    }
    if let Some(pf) = &stage.platform {
        let pf = sh.expand_meta(pf).map_err(|e| step_err(stage.line, e))?;
        let pf = if pf.is_empty() {
            "linux/amd64".to_string()
        } else {
            pf
        };
        if !matches!(pf.as_str(), "linux/amd64" | "linux/x86_64" | "amd64") {
            return Err(step_err(
                stage.line,
                format!("FROM --platform={pf}: berth builds linux/amd64 only"),
            ));
        }
    }
    let p = sh.progress.step(&format!("{} FROM {}", prefix(1), base));
    let (image, config) = match base_image(sh, i, &base, stage.line) {
        Ok(x) => x,
        Err(e) => {
            p.error(&super::brief(&e));
            return Err(e);
        }
    };
    p.done();
    let mut config = config;
    let cc = config.config.get_or_insert_with(Default::default);
    let env = cc.env.get_or_insert_with(Vec::new);
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        // BuildKit gives every stage a PATH when its base has none.
        env.insert(0, format!("PATH={DEFAULT_PATH}"));
    }
    let mut st = State {
        image,
        config,
        args: Vec::new(),
        done: 1,
        cmd_set: false,
    };
    // ONBUILD triggers of the base run first, then are cleared.
    let triggers = st.cc().on_build.take().unwrap_or_default();
    for t in triggers {
        let parsed = build::parse(&t)
            .map_err(|e| step_err(stage.line, format!("parsing ONBUILD trigger {t:?}: {e}")))?;
        for n in &parsed.ast.children {
            let mut s = build::instructions::instruction(n)
                .map_err(|e| step_err(stage.line, format!("ONBUILD trigger {t:?}: {e}")))?;
            s.line = stage.line;
            step(
                sh,
                &mut st,
                &s,
                &format!("{} ONBUILD {}", prefix(1), s.original),
            )?;
        }
    }
    let mut n = 1;
    for s in &stage.steps {
        if is_fs(s) {
            n += 1;
        }
        let title = format!("{} {}", prefix(n), s.original);
        step(sh, &mut st, s, &title)?;
        st.done = n;
    }
    Ok(StageOut {
        image: Some(st.image),
        config: st.config,
    })
}

/// The base of stage `i`: scratch, an earlier stage, or an image (pulled if missing).
fn base_image(sh: &Shared, i: usize, base: &str, line: usize) -> Result<(String, ImageConfig)> {
    if base == "scratch" {
        let cfg = scratch_config();
        let store = sh.engine.images()?;
        let mut op = store.begin()?;
        let id = write_image(sh, &cfg, None, &mut op)?;
        return Ok((id, cfg));
    }
    if let Some(j) = sh.df.stage_index(base).filter(|j| *j < i) {
        let out = sh.board.wait(j)?;
        let id = out
            .image
            .ok_or_else(|| step_err(line, format!("stage {base} has no image")))?;
        return Ok((id, out.config));
    }
    let store = sh.engine.images()?;
    let id = match store.resolve(base) {
        Ok(id) if !sh.req.pull => id,
        found => match sh.req.puller {
            Some(pull) => pull(base).map_err(|e| step_err(line, e))?,
            None => found.map_err(|_| {
                step_err(
                    line,
                    format!("{base}: failed to resolve source metadata: image not found locally"),
                )
            })?,
        },
    };
    let id = if id.is_empty() {
        store.resolve(base)?
    } else {
        id
    };
    let img = store.get(&id)?;
    Ok((id, img.config))
}

fn go_q(v: &[String]) -> String {
    let q: Vec<String> = v.iter().map(|s| build::parser::go_quote(s)).collect();
    format!("[{}]", q.join(" "))
}

fn command_argv(st: &State, c: &Command) -> Vec<String> {
    match c {
        Command::Exec(v) => v.clone(),
        Command::Shell(s) => {
            let mut v = st.shell();
            v.push(s.clone());
            v
        }
    }
}

/// Go's `time.ParseDuration` for the units HEALTHCHECK uses; nanoseconds.
fn duration_ns(s: &str) -> Option<i64> {
    let mut total = 0f64;
    let mut rest = s;
    if rest == "0" {
        return Some(0);
    }
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let mul = match &rest[..u] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += num * mul;
        rest = &rest[u..];
    }
    Some(total as i64)
}

fn healthcheck(st: &State, h: &HealthArgs, line: usize) -> Result<serde_json::Value> {
    let mut m = serde_json::Map::new();
    let test = match &h.test {
        None => vec!["NONE".to_string()],
        Some(Command::Shell(s)) => vec!["CMD-SHELL".into(), s.clone()],
        Some(Command::Exec(v)) => {
            let mut t = vec!["CMD".to_string()];
            t.extend(v.iter().cloned());
            t
        }
    };
    let _ = st;
    m.insert("Test".into(), serde_json::json!(test));
    for (k, v) in [
        ("Interval", &h.interval),
        ("Timeout", &h.timeout),
        ("StartPeriod", &h.start_period),
        ("StartInterval", &h.start_interval),
    ] {
        if let Some(v) = v {
            let ns = duration_ns(v)
                .ok_or_else(|| step_err(line, format!("time: invalid duration {v:?}")))?;
            if ns != 0 && ns < 1_000_000 {
                return Err(step_err(line, format!("{k} cannot be less than 1ms")));
            }
            m.insert(k.into(), serde_json::json!(ns));
        }
    }
    if let Some(r) = &h.retries {
        let n: i64 = r
            .parse()
            .map_err(|_| step_err(line, format!("invalid retries value {r:?}")))?;
        if n < 0 {
            return Err(step_err(line, "--retries cannot be negative"));
        }
        m.insert("Retries".into(), serde_json::json!(n));
    }
    Ok(serde_json::Value::Object(m))
}

/// Go's `time.Duration.String()`.
fn go_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    if ns < 1_000_000_000 {
        let (v, u) = if ns < 1_000 {
            (ns as f64, "ns")
        } else if ns < 1_000_000 {
            (ns as f64 / 1e3, "µs")
        } else {
            (ns as f64 / 1e6, "ms")
        };
        return format!("{}{u}", trim_float(v));
    }
    let h = ns / 3_600_000_000_000;
    let m = (ns / 60_000_000_000) % 60;
    let s = (ns % 60_000_000_000) as f64 / 1e9;
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    out.push_str(&format!("{}s", trim_float(s)));
    out
}

fn trim_float(v: f64) -> String {
    let s = format!("{v:.9}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// BuildKit's history text, Go's `%q` of the HealthConfig.
fn healthcheck_text(hc: &serde_json::Value) -> String {
    let test: Vec<String> = hc["Test"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let d = |k: &str| go_duration(hc[k].as_i64().unwrap_or(0));
    let r = hc["Retries"].as_i64().unwrap_or(0) as u32;
    let retries = match char::from_u32(r) {
        Some(c) if (' '..='~').contains(&c) && c != '\\' && c != '\'' => format!("'{c}'"),
        _ if r < 0x80 => format!("'\\x{r:02x}'"),
        _ => format!("'\\u{r:04x}'"),
    };
    format!(
        "HEALTHCHECK &{{{} \"{}\" \"{}\" \"{}\" \"{}\" {retries}}}",
        go_q(&test),
        d("Interval"),
        d("Timeout"),
        d("StartPeriod"),
        d("StartInterval")
    )
}

fn set_env(cc: &mut ContainerConfig, k: &str, v: &str) {
    let env = cc.env.get_or_insert_with(Vec::new);
    let entry = format!("{k}={v}");
    match env
        .iter()
        .position(|e| e.split_once('=').map(|x| x.0) == Some(k))
    {
        Some(i) => env[i] = entry,
        None => env.push(entry),
    }
}

/// Runs one instruction as a cached step.
pub(crate) fn step(sh: &Shared, st: &mut State, s: &Step, title: &str) -> Result<()> {
    let line = s.line;
    let ins = &s.instruction;
    // Metadata-only instructions: the new config and history text.
    let mut cfg = st.config.clone();
    let cc = cfg.config.get_or_insert_with(Default::default);
    let created_by: String;
    match ins {
        Instruction::Env(kv) => {
            let mut parts = Vec::new();
            for (k, v) in kv {
                let k = st.expand(sh, k, line)?;
                let v = st.expand(sh, v, line)?;
                set_env(cc, &k, &v);
                // Later pairs of the same ENV see earlier ones.
                set_env(st.cc(), &k, &v);
                parts.push(format!("{k}={v}"));
            }
            created_by = format!("ENV {}", parts.join(" "));
        }
        Instruction::Label(kv) => {
            let mut parts = Vec::new();
            for (k, v) in kv {
                let k = st.expand(sh, k, line)?;
                let v = st.expand(sh, v, line)?;
                cc.labels
                    .get_or_insert_with(Default::default)
                    .insert(k.clone(), v.clone());
                parts.push(format!("{k}={v}"));
            }
            created_by = format!("LABEL {}", parts.join(" "));
        }
        Instruction::Maintainer(m) => {
            let m = st.expand(sh, m, line)?;
            cfg.author = m.clone();
            created_by = format!("MAINTAINER {m}");
        }
        Instruction::Arg(list) => {
            let mut parts = Vec::new();
            for (k, d) in list {
                let k = st.expand(sh, k, line)?;
                let d = d.as_ref().map(|d| st.expand(sh, d, line)).transpose()?;
                let meta = sh
                    .meta
                    .iter()
                    .rev()
                    .find(|(n, _)| *n == k)
                    .and_then(|(_, v)| v.clone());
                let v = sh
                    .args
                    .get(&k)
                    .cloned()
                    .or(d)
                    .or(meta)
                    .or_else(|| predefined_arg(&k));
                if sh.args.contains_key(&k) {
                    sh.used_args.lock().unwrap().push(k.clone());
                }
                match v {
                    Some(v) => {
                        parts.push(format!("{k}={v}"));
                        st.args.retain(|(n, _)| *n != k);
                        st.args.push((k, v));
                    }
                    None => parts.push(k),
                }
            }
            // ARG changes no config; BuildKit still records it in the history.
            created_by = format!("ARG {}", parts.join(" "));
        }
        Instruction::Cmd(c) => {
            let v = command_argv(st, c);
            created_by = format!("CMD {}", go_q(&v));
            cc.cmd = Some(v);
            st.cmd_set = true;
        }
        Instruction::Entrypoint(c) => {
            let v = command_argv(st, c);
            created_by = format!("ENTRYPOINT {}", go_q(&v));
            cc.entrypoint = Some(v);
            // Docker: ENTRYPOINT resets a CMD inherited from the base.
            if !st.cmd_set {
                cc.cmd = None;
            }
        }
        Instruction::Expose(ports) => {
            let mut list = Vec::new();
            for p in ports {
                for p in st.expand(sh, p, line)?.split_whitespace() {
                    let p = if p.contains('/') {
                        p.to_ascii_lowercase()
                    } else {
                        format!("{p}/tcp")
                    };
                    let (num, proto) = p.split_once('/').unwrap();
                    let ok = num
                        .split('-')
                        .all(|n| n.parse::<u16>().is_ok_and(|n| n > 0))
                        && matches!(proto, "tcp" | "udp" | "sctp");
                    if !ok {
                        return Err(step_err(line, format!("invalid containerPort: {num}")));
                    }
                    cc.exposed_ports
                        .get_or_insert_with(Default::default)
                        .insert(p.clone(), serde_json::json!({}));
                    list.push(p);
                }
            }
            created_by = format!(
                "EXPOSE map[{}]",
                list.iter()
                    .map(|p| format!("{p}:{{}}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
        Instruction::Volume(vols) => {
            let mut list = Vec::new();
            for v in vols {
                let v = st.expand(sh, v, line)?;
                if v.trim().is_empty() {
                    return Err(step_err(
                        line,
                        "VOLUME specified can not be an empty string",
                    ));
                }
                cc.volumes
                    .get_or_insert_with(Default::default)
                    .insert(v.clone(), serde_json::json!({}));
                list.push(v);
            }
            created_by = format!("VOLUME [{}]", list.join(" "));
        }
        Instruction::User(u) => {
            let u = st.expand(sh, u, line)?;
            cc.user = u.clone();
            created_by = format!("USER {u}");
        }
        Instruction::StopSignal(sig) => {
            let sig = st.expand(sh, sig, line)?;
            crate::ops::kill::parse_signal(&sig).map_err(|e| step_err(line, e.to_string()))?;
            cc.stop_signal = sig.clone();
            created_by = format!("STOPSIGNAL {sig}");
        }
        Instruction::Shell(v) => {
            cc.shell = Some(v.clone());
            created_by = format!("SHELL [{}]", v.join(" "));
        }
        Instruction::Healthcheck(h) => {
            let hc = healthcheck(st, h, line)?;
            created_by = healthcheck_text(&hc);
            cc.healthcheck =
                Some(serde_json::from_value(hc).map_err(|e| step_err(line, e.to_string()))?);
        }
        Instruction::Onbuild(t) => {
            cc.on_build.get_or_insert_with(Vec::new).push(t.clone());
            created_by = format!("ONBUILD {t}");
        }
        Instruction::From { .. } => unreachable!("FROM starts a stage"),
        Instruction::Workdir(w) => {
            let w = st.expand(sh, w, line)?;
            let abs = if w.starts_with('/') {
                build::ignore::clean(&w)
            } else {
                build::ignore::clean(&format!("{}/{w}", st.workdir()))
            };
            cc.working_dir = abs.clone();
            let text = format!("WORKDIR {abs}");
            let key = cache::key(st, &text, &[]);
            return fs_step(sh, st, s, title, cfg, text, key, |sh, st, root| {
                copy::mkdir_p(sh, st, root, &abs, line).map(|_| ())
            });
        }
        Instruction::Run { .. } => return run::run_step(sh, st, s, title),
        Instruction::Copy(c) => return copy::copy_step(sh, st, s, c, title),
    }
    let key = cache::key(st, &created_by, &[]);
    if let Some(id) = cache::lookup(sh, st, &key, &created_by) {
        return adopt(sh, st, &id);
    }
    let _ = title;
    cfg.history.push(History {
        created: Some(now()),
        created_by,
        comment: "buildkit.dockerfile.v0".into(),
        empty_layer: true,
        ..Default::default()
    });
    cfg.created = Some(now());
    let store = sh.engine.images()?;
    let mut op = store.begin()?;
    let id = write_image(sh, &cfg, Some(&st.image), &mut op)?;
    cache::store(sh, &key, &id);
    st.image = id;
    st.config = cfg;
    Ok(())
}

/// Makes `id` (a cache hit) the stage's current image.
pub(crate) fn adopt(sh: &Shared, st: &mut State, id: &str) -> Result<()> {
    let img = sh.engine.images()?.get(id)?;
    st.image = id.to_string();
    st.config = img.config;
    Ok(())
}

/// A filesystem step on a snapshot of the current image: `f` changes the mounted rootfs; the
/// diff becomes the step's layer (none when empty).
#[allow(clippy::too_many_arguments)]
pub(crate) fn fs_step(
    sh: &Shared,
    st: &mut State,
    s: &Step,
    title: &str,
    cfg: ImageConfig,
    created_by: String,
    key: String,
    f: impl FnOnce(&Shared, &State, &std::path::Path) -> Result<()>,
) -> Result<()> {
    let p = sh.progress.step(title);
    if let Some(id) = cache::lookup(sh, st, &key, &created_by) {
        adopt(sh, st, &id)?;
        p.cached();
        return Ok(());
    }
    let res = (|| {
        let store = sh.engine.images()?;
        let layers = store.layers();
        let parent = store.get(&st.image)?.top_layer();
        let snap = Snapshot::new(layers, parent.as_deref())?;
        crate::timing::mark("build:fs:snapshot");
        f(sh, st, &snap.root)?;
        crate::timing::mark("build:fs:changed");
        let mut op = store.begin()?;
        let layer = snap.commit(layers, parent.as_deref(), &mut op)?;
        crate::timing::mark("build:fs:committed");
        let r = commit_layer(sh, st, cfg, created_by, layer, &mut op);
        crate::timing::mark("build:fs:image");
        r
    })();
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
                e => step_err(s.line, e.to_string()),
            })
        }
    }
}

/// Writes the step's image: `cfg` with the layer (if any) and a history entry.
pub(crate) fn commit_layer(
    sh: &Shared,
    st: &mut State,
    mut cfg: ImageConfig,
    created_by: String,
    layer: Option<storage::Layer>,
    op: &mut image::store::Op,
) -> Result<String> {
    let created = now();
    let rootfs = cfg.rootfs.get_or_insert_with(Default::default);
    rootfs.kind = "layers".into();
    if let Some(l) = &layer {
        rootfs.diff_ids.push(l.diff_id.clone());
    }
    cfg.history.push(History {
        created: Some(created.clone()),
        created_by,
        comment: "buildkit.dockerfile.v0".into(),
        empty_layer: layer.is_none(),
        ..Default::default()
    });
    cfg.created = Some(created);
    let id = write_image(sh, &cfg, Some(&st.image), op)?;
    st.image = id.clone();
    st.config = cfg;
    Ok(id)
}

/// A writable snapshot of an image's layers, mounted; removed on drop.
pub(crate) struct Snapshot<'a> {
    layers: &'a storage::Store,
    pub id: String,
    pub root: std::path::PathBuf,
}

impl<'a> Snapshot<'a> {
    pub fn new(layers: &'a storage::Store, parent: Option<&str>) -> Result<Snapshot<'a>> {
        let id = format!(
            "{:032x}{:032x}",
            rand::random::<u128>(),
            rand::random::<u128>()
        );
        layers.prepare(&id, parent, &storage::InitLayerSpec::default())?;
        let mut s = Snapshot {
            layers,
            id,
            root: Default::default(),
        };
        s.root = layers.mount(&s.id)?;
        Ok(s)
    }

    /// Registers the snapshot's changes as a layer on `parent` (None when nothing changed).
    pub fn commit(
        &self,
        layers: &storage::Store,
        parent: Option<&str>,
        op: &mut image::store::Op,
    ) -> Result<Option<storage::Layer>> {
        diff_layer(layers, &self.id, parent, op)
    }
}

/// The changes of the writable layer `id` registered as a layer (None when there are none).
pub(crate) fn diff_layer(
    layers: &storage::Store,
    id: &str,
    parent: Option<&str>,
    op: &mut image::store::Op,
) -> Result<Option<storage::Layer>> {
    if layers.changes(id)?.is_empty() {
        return Ok(None);
    }
    let mut tar = layers.diff_tar(id)?;
    let layer = layers.register(&mut tar, parent, None)?;
    op.took(&layer.chain_id)?;
    Ok(Some(layer))
}

impl Drop for Snapshot<'_> {
    fn drop(&mut self) {
        crate::timing::mark("build:snapshot:drop");
        let _ = self.layers.unmount(&self.id);
        crate::timing::mark("build:snapshot:unmounted");
        // The store forgets the snapshot now; deleting its files (slow for big COPYs) goes on
        // in the background, and what a finished build leaves behind the tombstone purge
        // deletes later.
        if let Ok(r) = self.layers.remove_deferred(&self.id) {
            std::thread::spawn(move || r.finish());
        }
        crate::timing::mark("build:snapshot:removed");
    }
}

/// The target's image, with `--label`s, tagged; prints the export step.
pub(crate) fn finish(sh: &Shared, out: StageOut) -> Result<String> {
    let p = sh.progress.step("exporting to image");
    let mut id = out.image.clone().unwrap_or_default();
    if !sh.req.labels.is_empty() {
        let mut cfg = out.config.clone();
        let cc = cfg.config.get_or_insert_with(Default::default);
        let labels = cc.labels.get_or_insert_with(BTreeMap::new);
        for (k, v) in &sh.req.labels {
            labels.insert(k.clone(), v.clone());
        }
        let store = sh.engine.images()?;
        let mut op = store.begin()?;
        id = write_image(sh, &cfg, Some(&id), &mut op)?;
    }
    p.log(&format!("writing image {id} done"));
    let store = sh.engine.images()?;
    for t in &sh.req.tags {
        let r = image::Reference::parse(t)?;
        if r.digest.is_some() {
            return Err(Error::InvalidArgument(format!(
                "invalid tag {t:?}: refusing to create a tag with a digest reference"
            )));
        }
        store.tag(&id, &r)?;
        p.log(&format!("naming to {} done", r));
    }
    p.done();
    let _ = is_proxy_arg;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_and_healthcheck_text() {
        assert_eq!(go_duration(90_000_000_000), "1m30s");
        assert_eq!(go_duration(1_500_000_000), "1.5s");
        assert_eq!(go_duration(100_000_000), "100ms");
        assert_eq!(go_duration(3_600_000_000_000), "1h0m0s");
        assert_eq!(duration_ns("1m30s"), Some(90_000_000_000));
        assert_eq!(duration_ns("1.5s"), Some(1_500_000_000));
        assert_eq!(duration_ns("5x"), None);
        let hc = serde_json::json!({"Test": ["CMD-SHELL", "curl x"], "Interval": 5_000_000_000i64, "Retries": 65});
        assert_eq!(
            healthcheck_text(&hc),
            r#"HEALTHCHECK &{["CMD-SHELL" "curl x"] "5s" "0s" "0s" "0s" 'A'}"#
        );
    }
}
