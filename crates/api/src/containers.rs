//! `/containers/...`: each handler maps the request onto one engine call.

use crate::body::{Body, ChanReader, ChanWriter};
use crate::error::{ApiError, ApiResult};
use crate::router::{json, read_json, status, stream, Req, Resp};
use crate::state::{blocking, State};
use crate::{filters, wait};
use engine::types::{Config, ContainerStatus, HostConfig, NetworkingConfig};
use engine::{CreateRequest, Engine, ListOptions, LogsOptions, RemoveOptions};
use hyper::StatusCode;
use serde_json::{json as j, Value};
use std::sync::Arc;

pub const MUX: &str = "application/vnd.docker.multiplexed-stream";
pub const RAW: &str = "application/vnd.docker.raw-stream";

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.values().all(is_empty),
    }
}

/// Fields of `input` set to something other than their zero value that the typed request
/// dropped: options berth does not have, refused rather than ignored.
pub fn unsupported_fields(input: &Value, typed: &Value, prefix: &str, out: &mut Vec<String>) {
    let (Value::Object(i), Value::Object(t)) = (input, typed) else {
        return;
    };
    for (k, v) in i {
        if is_empty(v) {
            continue;
        }
        match t.get(k) {
            None => out.push(format!("{prefix}{k}")),
            Some(tv) => unsupported_fields(v, tv, &format!("{prefix}{k}."), out),
        }
    }
}

/// Deserializes `v` into `T`, refusing fields `T` does not have.
pub fn typed<T: serde::de::DeserializeOwned + serde::Serialize>(
    v: Value,
    what: &str,
) -> ApiResult<T> {
    let t: T = serde_json::from_value(v.clone())
        .map_err(|e| ApiError::bad_request(format!("invalid {what}: {e}")))?;
    let back = serde_json::to_value(&t).unwrap_or(Value::Null);
    let mut bad = Vec::new();
    unsupported_fields(&v, &back, "", &mut bad);
    if !bad.is_empty() {
        return Err(ApiError::bad_request(format!(
            "{what}: not supported by berth: {}",
            bad.join(", ")
        )));
    }
    Ok(t)
}

pub async fn create(state: Arc<State>, mut r: Req) -> ApiResult<Resp> {
    let mut body = read_json(&mut r.inner).await?;
    let obj = body
        .as_object_mut()
        .ok_or_else(|| ApiError::bad_request("invalid create request: not an object"))?;
    let host = obj.remove("HostConfig").unwrap_or(j!({}));
    let net = obj.remove("NetworkingConfig").unwrap_or(j!({}));
    // Deprecated top-level fields some clients still send (their values are in HostConfig
    // or the endpoint settings).
    obj.remove("MacAddress")
        .filter(|v| !is_empty(v))
        .map_or(Ok(()), |_| {
            Err(ApiError::bad_request(
                "container config: MacAddress is not supported by berth",
            ))
        })?;
    let config: Config = typed(body, "container config")?;
    let host_config: HostConfig = typed(host, "HostConfig")?;
    let networking: NetworkingConfig = typed(net, "NetworkingConfig")?;
    if config.image.is_empty() {
        return Err(ApiError::bad_request("No image specified"));
    }
    let name = r.q("name").filter(|n| !n.is_empty()).map(String::from);
    if let Some(p) = r
        .q("platform")
        .filter(|p| !p.is_empty() && *p != "linux/amd64")
    {
        if !p.starts_with("linux") {
            return Err(ApiError::bad_request(format!(
                "platform {p:?} is not supported by berth"
            )));
        }
    }
    let resp = blocking(move || {
        let eng = state.engine()?;
        let resp = eng.create_to_start(CreateRequest {
            name,
            config,
            host_config,
            networking,
        })?;
        state.keep_prepared(&resp.id, eng);
        Ok(resp)
    })
    .await?;
    Ok(json(
        StatusCode::CREATED,
        &j!({"Id": resp.id, "Warnings": resp.warnings}),
    ))
}

pub async fn list(state: Arc<State>, r: Req) -> ApiResult<Resp> {
    let opts = ListOptions {
        all: r.flag("all"),
        limit: r.int("limit")?.filter(|n| *n > 0).unwrap_or(0) as usize,
        latest: false,
        size: r.flag("size"),
        filters: filters::parse(r.q("filters"))?,
    };
    let v = blocking(move || Ok(state.engine()?.list(&opts)?)).await?;
    Ok(json(StatusCode::OK, &v))
}

pub async fn inspect(state: Arc<State>, id: String) -> ApiResult<Resp> {
    let v = blocking(move || Ok(state.engine()?.inspect(&id)?)).await?;
    Ok(json(StatusCode::OK, &v))
}

/// The container's full ID, `State.Status` and whether it has a tty.
pub fn status_of(eng: &Engine, id: &str) -> ApiResult<(String, ContainerStatus, bool)> {
    let c = eng.inspect(id)?;
    Ok((c.id, c.state.status, c.config.tty))
}

pub async fn start(state: Arc<State>, id: String) -> ApiResult<Resp> {
    blocking(move || {
        let c = state.engine()?.inspect(&id)?;
        let eng = state.engine_for_start(&c.id)?;
        if c.state.status == ContainerStatus::Running {
            return Ok(status(StatusCode::NOT_MODIFIED));
        }
        let id = c.id;
        // The terminal size the CLI sends at create (HostConfig.ConsoleSize) is in the
        // container's spec: on its pty before its process runs.
        let res = start_with_attaches(&state, &eng, &id);
        if let Err(e) = res {
            // As dockerd: a container to remove when it ends is removed when it cannot
            // start (the CLI of `run --rm` waits for that).
            if c.host_config.auto_remove {
                let _ = eng.remove(
                    &id,
                    &RemoveOptions {
                        force: true,
                        volumes: true,
                    },
                );
            }
            return Err(e);
        }
        Ok(status(StatusCode::NO_CONTENT))
    })
    .await
}

/// Starts `id`, handing the attaches waiting for it their streams.
fn start_with_attaches(state: &State, eng: &Engine, id: &str) -> ApiResult<()> {
    let pending = state
        .pending_attach
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(id)
        .unwrap_or_default();
    let mut pending = pending.into_iter().filter(|p| !p.tx.is_closed());
    match pending.next() {
        Some(first) => match eng.start_attached(id, &first.opts) {
            Ok(a) => {
                let _ = first.tx.send(Ok(a));
                state.started(eng, id);
                for p in pending {
                    let _ = p.tx.send(eng.attach(id, &p.opts));
                }
            }
            Err(e) => {
                let msg = e.to_string();
                let _ = first.tx.send(Err(engine::Error::Other(msg)));
                return Err(e.into());
            }
        },
        None => {
            eng.start(id)?;
            state.started(eng, id);
        }
    }
    Ok(())
}

pub async fn stop_restart(
    state: Arc<State>,
    id: String,
    restart: bool,
    r: &Req,
) -> ApiResult<Resp> {
    let t = match r.int("t")? {
        Some(t) => Some(t),
        None => r.int("timeout")?,
    };
    if r.q("signal").is_some_and(|s| !s.is_empty()) {
        return Err(ApiError::bad_request(
            "the signal parameter of stop/restart is not supported by berth",
        ));
    }
    blocking(move || {
        let eng = state.engine()?;
        if restart {
            eng.restart(&id, t)?;
            state.started(&eng, &id);
            return Ok(status(StatusCode::NO_CONTENT));
        }
        let (id, st, _) = status_of(&eng, &id)?;
        if !st.is_up() {
            return Ok(status(StatusCode::NOT_MODIFIED));
        }
        eng.stop(&id, t)?;
        Ok(status(StatusCode::NO_CONTENT))
    })
    .await
}

pub async fn kill(state: Arc<State>, id: String, r: &Req) -> ApiResult<Resp> {
    let sig = r.q("signal").unwrap_or("").to_string();
    blocking(move || {
        state.engine()?.kill(&id, &sig)?;
        Ok(status(StatusCode::NO_CONTENT))
    })
    .await
}

pub async fn pause(state: Arc<State>, id: String, pause: bool) -> ApiResult<Resp> {
    blocking(move || {
        let eng = state.engine()?;
        if pause {
            eng.pause(&id)?
        } else {
            eng.unpause(&id)?
        }
        Ok(status(StatusCode::NO_CONTENT))
    })
    .await
}

pub async fn rename(state: Arc<State>, id: String, r: &Req) -> ApiResult<Resp> {
    let name = r.q("name").unwrap_or("").to_string();
    if name.is_empty() {
        return Err(ApiError::bad_request(
            "Neither old nor new names may be empty",
        ));
    }
    blocking(move || {
        state.engine()?.rename(&id, &name)?;
        Ok(status(StatusCode::NO_CONTENT))
    })
    .await
}

pub async fn remove(state: Arc<State>, id: String, r: &Req) -> ApiResult<Resp> {
    if r.flag("link") {
        return Err(ApiError::bad_request("links are not supported by berth"));
    }
    let opts = RemoveOptions {
        force: r.flag("force"),
        volumes: r.flag("v"),
    };
    blocking(move || {
        state.engine()?.remove(&id, &opts)?;
        Ok(status(StatusCode::NO_CONTENT))
    })
    .await
}

pub async fn wait(state: Arc<State>, id: String, r: &Req) -> ApiResult<Resp> {
    wait::wait(state, id, r).await
}

/// Docker's `since`/`until`: unix seconds with an optional fraction, as nanoseconds (0 or
/// absent: none).
pub fn unix_nanos(r: &Req, k: &str) -> ApiResult<Option<i64>> {
    let Some(v) = r.q(k).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let bad = || ApiError::bad_request(format!("invalid value for {k}: {v:?}"));
    let (s, frac) = v.split_once('.').unwrap_or((v, ""));
    let secs: i64 = s.parse().map_err(|_| bad())?;
    let mut nanos = 0i64;
    if !frac.is_empty() {
        let f: String = frac.chars().chain(std::iter::repeat('0')).take(9).collect();
        nanos = f.parse().map_err(|_| bad())?;
    }
    let t = secs * 1_000_000_000 + nanos;
    Ok((t != 0).then_some(t))
}

pub async fn logs(state: Arc<State>, id: String, r: &Req) -> ApiResult<Resp> {
    let tail = match r.q("tail") {
        None | Some("") | Some("all") => None,
        Some(n) => Some(
            n.parse::<i64>()
                .map_err(|_| ApiError::bad_request(format!("invalid value for tail: {n:?}")))?,
        )
        .filter(|n| *n >= 0)
        .map(|n| n as usize),
    };
    let opts = LogsOptions {
        follow: r.flag("follow"),
        tail,
        since: unix_nanos(r, "since")?,
        until: unix_nanos(r, "until")?,
        timestamps: r.flag("timestamps"),
        stdout: r.flag("stdout"),
        stderr: r.flag("stderr"),
    };
    if !opts.stdout && !opts.stderr {
        return Err(ApiError::bad_request(
            "Bad parameters: you must choose at least one stream",
        ));
    }
    let st = state.clone();
    let (id, tty) = blocking(move || {
        let (id, _, tty) = status_of(&st.engine()?, &id)?;
        Ok((id, tty))
    })
    .await?;
    let (tx, body) = Body::channel();
    tokio::task::spawn_blocking(move || {
        let Ok(eng) = state.engine() else { return };
        let (mut out, mut err) = if tty {
            (ChanWriter::raw(tx.clone()), ChanWriter::raw(tx))
        } else {
            (ChanWriter::muxed(tx.clone(), 1), ChanWriter::muxed(tx, 2))
        };
        let _ = eng.logs(&id, &opts, &mut out, &mut err);
    });
    Ok(stream(if tty { RAW } else { MUX }, body))
}

pub async fn top(state: Arc<State>, id: String, r: &Req) -> ApiResult<Resp> {
    let args: Vec<String> = r
        .q("ps_args")
        .filter(|a| !a.is_empty())
        .unwrap_or("-ef")
        .split_whitespace()
        .map(String::from)
        .collect();
    let v = blocking(move || Ok(state.engine()?.top(&id, &args)?)).await?;
    Ok(json(StatusCode::OK, &v))
}

pub async fn changes(state: Arc<State>, id: String) -> ApiResult<Resp> {
    let v = blocking(move || Ok(state.engine()?.changes(&id)?)).await?;
    let out: Vec<Value> = v
        .iter()
        .map(|c| {
            let kind = match c.kind {
                'C' => 0,
                'A' => 1,
                _ => 2,
            };
            j!({"Path": c.path, "Kind": kind})
        })
        .collect();
    Ok(json(StatusCode::OK, &out))
}

pub async fn export(state: Arc<State>, id: String) -> ApiResult<Resp> {
    let st = state.clone();
    let id = blocking(move || Ok(status_of(&st.engine()?, &id)?.0)).await?;
    let (tx, body) = Body::channel();
    tokio::task::spawn_blocking(move || {
        let Ok(eng) = state.engine() else { return };
        let _ = eng.export(&id, &mut ChanWriter::raw(tx));
    });
    Ok(stream("application/x-tar", body))
}

pub async fn resize(state: Arc<State>, id: String, r: &Req) -> ApiResult<Resp> {
    let h = r.int("h")?.unwrap_or(0);
    let w = r.int("w")?.unwrap_or(0);
    let (h, w) = (
        u16::try_from(h).map_err(|_| ApiError::bad_request("invalid value for h"))?,
        u16::try_from(w).map_err(|_| ApiError::bad_request("invalid value for w"))?,
    );
    blocking(move || {
        let eng = state.engine()?;
        let a = eng.attach(
            &id,
            &engine::AttachOptions {
                stdin: false,
                stdout: false,
                stderr: false,
            },
        )?;
        a.resize(h, w)?;
        Ok(status(StatusCode::OK))
    })
    .await
}

#[derive(serde::Deserialize, serde::Serialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct UpdateBody {
    cpu_shares: i64,
    nano_cpus: i64,
    cpu_period: i64,
    cpu_quota: i64,
    cpuset_cpus: String,
    cpuset_mems: String,
    memory: i64,
    memory_swap: i64,
    memory_reservation: i64,
    pids_limit: Option<i64>,
    blkio_weight: u16,
    restart_policy: Option<engine::types::RestartPolicy>,
}

pub async fn update(state: Arc<State>, id: String, mut r: Req) -> ApiResult<Resp> {
    let b: UpdateBody = typed(read_json(&mut r.inner).await?, "update")?;
    let nz = |v: i64| (v != 0).then_some(v);
    let ne = |s: String| (!s.is_empty()).then_some(s);
    let cfg = engine::UpdateConfig {
        cpu_shares: nz(b.cpu_shares),
        nano_cpus: nz(b.nano_cpus),
        cpu_period: nz(b.cpu_period),
        cpu_quota: nz(b.cpu_quota),
        cpuset_cpus: ne(b.cpuset_cpus),
        cpuset_mems: ne(b.cpuset_mems),
        memory: nz(b.memory),
        memory_swap: nz(b.memory_swap),
        memory_reservation: nz(b.memory_reservation),
        pids_limit: b.pids_limit.filter(|p| *p != 0),
        blkio_weight: (b.blkio_weight != 0).then_some(b.blkio_weight),
        restart_policy: b.restart_policy.filter(|p| !p.name.is_empty()),
    };
    let warnings = blocking(move || Ok(state.engine()?.update(&id, &cfg)?)).await?;
    Ok(json(StatusCode::OK, &j!({ "Warnings": warnings })))
}

pub async fn prune(state: Arc<State>, r: Req) -> ApiResult<Resp> {
    let f = filters::parse(r.q("filters"))?;
    let mut labels = Vec::new();
    let mut until: Option<i64> = None;
    for (k, v) in f {
        match k.as_str() {
            "label" => labels.push((v, true)),
            "label!" => labels.push((v, false)),
            "until" => {
                until = Some(
                    v.parse::<i64>()
                        .ok()
                        .or_else(|| {
                            chrono::DateTime::parse_from_rfc3339(&v)
                                .ok()
                                .map(|d| d.timestamp())
                        })
                        .ok_or_else(|| {
                            ApiError::bad_request(format!("invalid until filter: {v:?}"))
                        })?,
                )
            }
            _ => return Err(ApiError::bad_request(format!("invalid filter '{k}'"))),
        }
    }
    let rep = blocking(move || {
        let select = |l: &engine::types::Map<String>, created: i64| {
            until.is_none_or(|u| created < u)
                && labels.iter().all(|(want, pos)| {
                    let hit = match want.split_once('=') {
                        Some((k, v)) => l.get(k).is_some_and(|x| x == v),
                        None => l.contains_key(want),
                    };
                    hit == *pos
                })
        };
        Ok(state.engine()?.prune(&select)?)
    })
    .await?;
    Ok(json(
        StatusCode::OK,
        &j!({"ContainersDeleted": rep.containers_deleted, "SpaceReclaimed": rep.space_reclaimed}),
    ))
}

/// Go's `os.FileMode` of a unix `st_mode` (what `X-Docker-Container-Path-Stat` carries).
pub fn go_file_mode(m: u32) -> u32 {
    let mut g = m & 0o777;
    g |= match m & libc::S_IFMT {
        libc::S_IFDIR => 1 << 31,
        libc::S_IFLNK => 1 << 27,
        libc::S_IFIFO => 1 << 25,
        libc::S_IFSOCK => 1 << 24,
        libc::S_IFCHR => (1 << 26) | (1 << 21),
        libc::S_IFBLK => 1 << 26,
        _ => 0,
    };
    if m & 0o4000 != 0 {
        g |= 1 << 23;
    }
    if m & 0o2000 != 0 {
        g |= 1 << 22;
    }
    if m & 0o1000 != 0 {
        g |= 1 << 20;
    }
    g
}

fn stat_header(s: &engine::PathStat) -> String {
    use base64::Engine as _;
    let v = j!({
        "name": s.name,
        "size": s.size,
        "mode": go_file_mode(s.mode),
        "mtime": "0001-01-01T00:00:00Z",
        "linkTarget": s.link_target,
    });
    base64::engine::general_purpose::STANDARD.encode(v.to_string())
}

pub async fn archive(state: Arc<State>, id: String, mut r: Req) -> ApiResult<Resp> {
    let path = r.q("path").unwrap_or("").to_string();
    if path.is_empty() {
        return Err(ApiError::bad_request("path is required"));
    }
    match r.method {
        hyper::Method::PUT => {
            if r.flag("copyUIDGID") {
                return Err(ApiError::bad_request(
                    "copyUIDGID (cp -a) is not supported by berth",
                ));
            }
            // The body streams into the engine's extraction as it arrives.
            let (tx, rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(16);
            let st = state.clone();
            let job = tokio::task::spawn_blocking(move || -> ApiResult<()> {
                let eng = st.engine()?;
                let mut rd = ChanReader::new(rx);
                let res = eng.copy_to_container(&id, &path, &mut rd);
                // Drain what the client still sends so it sees our answer, not a reset.
                let _ = std::io::copy(&mut rd, &mut std::io::sink());
                Ok(res?)
            });
            use http_body_util::BodyExt;
            let body = r.inner.body_mut();
            while let Some(f) = body.frame().await {
                let f = f.map_err(|e| ApiError::bad_request(format!("reading the body: {e}")))?;
                if let Ok(d) = f.into_data() {
                    if tx.send(d).await.is_err() {
                        break;
                    }
                }
            }
            drop(tx);
            job.await
                .map_err(|e| ApiError::internal(format!("engine task failed: {e}")))??;
            Ok(status(StatusCode::OK))
        }
        ref m => {
            let head = m == hyper::Method::HEAD;
            let st = state.clone();
            let (p, id2) = (path.clone(), id.clone());
            let stat = blocking(move || {
                let eng = st.engine()?;
                let (full, _, _) = status_of(&eng, &id2)?;
                eng.stat_path(&full, &p, false).map_err(|e| match e.kind() {
                    engine::ErrorKind::NotFound | engine::ErrorKind::Internal => {
                        ApiError::not_found(format!(
                            "Could not find the file {p} in container {id2}"
                        ))
                    }
                    _ => e.into(),
                })
            })
            .await?;
            let hdr = stat_header(&stat);
            let mut resp = if head {
                status(StatusCode::OK)
            } else {
                let (tx, body) = Body::channel();
                tokio::task::spawn_blocking(move || {
                    let Ok(eng) = state.engine() else { return };
                    let _ = eng.copy_from_container(&id, &path, false, &mut ChanWriter::raw(tx));
                });
                stream("application/x-tar", body)
            };
            if let Ok(v) = hyper::header::HeaderValue::from_str(&hdr) {
                resp.headers_mut().insert("X-Docker-Container-Path-Stat", v);
            }
            Ok(resp)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_unknown_set_fields() {
        let v = j!({"Memory": 0, "Annotations": {"a": "b"}, "CpuShares": 2, "Foo": null,
                    "LogConfig": {"Type": "json-file", "Config": {}, "Bar": 1}});
        let h: ApiResult<HostConfig> = typed(v, "HostConfig");
        let e = h.unwrap_err();
        assert!(e.message.contains("Annotations"), "{}", e.message);
        assert!(e.message.contains("LogConfig.Bar"), "{}", e.message);
        assert!(!e.message.contains("Memory"), "{}", e.message);
        let ok: HostConfig =
            typed(j!({"Memory": 7000000, "Annotations": {}}), "HostConfig").unwrap();
        assert_eq!(ok.memory, 7000000);
    }

    #[test]
    fn go_modes() {
        assert_eq!(go_file_mode(libc::S_IFDIR | 0o755), (1 << 31) | 0o755);
        assert_eq!(go_file_mode(libc::S_IFREG | 0o644), 0o644);
        assert_eq!(go_file_mode(libc::S_IFLNK | 0o777), (1 << 27) | 0o777);
    }
}
