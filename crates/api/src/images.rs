//! `/images/...` and `/commit`: the engine's image and registry operations, with Docker's
//! JSON shapes and its JSON-lines progress stream for pull, push and load.

use crate::body::{Body, ChanReader, ChanWriter};
use crate::error::{ApiError, ApiResult};
use crate::router::{json, stream, Req, Resp};
use crate::state::{blocking, State};
use bytes::Bytes;
use engine::images::{ImageDeleteItem, ImageListOptions, ProgressEvent, PullRequest, PushRequest};
use hyper::{Method, StatusCode};
use serde_json::{json as j, Value};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Image names hold '/' and ':': `/images/<name>/<op>` is split on the last element.
pub async fn route(state: Arc<State>, r: Req) -> ApiResult<Resp> {
    let segs: Vec<String> = r.segs[1..].to_vec();
    let m = r.method.clone();
    let last = segs.last().map(|s| s.as_str()).unwrap_or("");
    let name = |n: usize| segs[..segs.len() - n].join("/");
    match (m, segs.len(), last) {
        (Method::GET, 1, "json") => list(state, r).await,
        (Method::POST, 1, "create") => create(state, r).await,
        (Method::POST, 1, "load") => load(state, r).await,
        (Method::POST, 1, "prune") => prune(state, r).await,
        (Method::GET, 1, "get") => {
            let names: Vec<String> = r
                .pairs
                .iter()
                .filter(|(k, _)| k == "names")
                .map(|(_, v)| v.clone())
                .collect();
            save(state, names).await
        }
        (Method::GET, n, "json") if n > 1 => inspect(state, name(1)).await,
        (Method::GET, n, "history") if n > 1 => history(state, name(1)).await,
        (Method::GET, n, "get") if n > 1 => save(state, vec![name(1)]).await,
        (Method::POST, n, "tag") if n > 1 => tag(state, name(1), &r).await,
        (Method::POST, n, "push") if n > 1 => push(state, name(1), &r).await,
        (Method::DELETE, n, _) if n > 0 => remove(state, name(0), &r).await,
        _ => Err(ApiError::not_found(format!(
            "page not found: {} {}",
            r.method,
            r.segs.join("/")
        ))),
    }
}

fn line(v: &Value) -> Bytes {
    let mut b = serde_json::to_vec(v).unwrap_or_default();
    b.push(b'\n');
    b.into()
}

/// Docker's JSON message for a progress event.
pub fn progress_json(e: &ProgressEvent) -> Value {
    match e {
        ProgressEvent::Message(m) | ProgressEvent::Result(m) => {
            // "latest: Pulling from library/busybox" is Docker's {"status", "id"} pair.
            match m.split_once(": ") {
                Some((id, rest)) if !id.contains(' ') && rest.starts_with("Pulling from") => {
                    j!({"status": rest, "id": id})
                }
                _ => j!({ "status": m }),
            }
        }
        ProgressEvent::Status { id, status } => {
            j!({"status": status, "progressDetail": {}, "id": id})
        }
        ProgressEvent::Bytes {
            id,
            action,
            current,
            total,
        } => {
            let mut d = j!({ "current": current });
            if let Some(t) = total {
                d["total"] = j!(t);
            }
            j!({"status": action, "progressDetail": d, "id": id})
        }
    }
}

fn error_line(msg: &str) -> Bytes {
    line(&j!({"errorDetail": {"message": msg}, "error": msg}))
}

/// Credentials in `X-Registry-Auth`: the engine's registry client takes none from a request
/// yet, so a request that carries some is refused rather than sent anonymously.
fn refuse_credentials(r: &Req) -> ApiResult<()> {
    use base64::Engine as _;
    let Some(h) = r.inner.headers().get("X-Registry-Auth") else {
        return Ok(());
    };
    let raw = h.as_bytes();
    let dec = base64::engine::general_purpose::URL_SAFE
        .decode(raw)
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(raw))
        .unwrap_or_default();
    let v: Value = serde_json::from_slice(&dec).unwrap_or(Value::Null);
    let has = |k: &str| v[k].as_str().is_some_and(|s| !s.is_empty());
    if has("username") || has("password") || has("identitytoken") || has("registrytoken") {
        return Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "credentials in X-Registry-Auth are not supported by berth yet: log in with `berth login` on the server's host",
        ));
    }
    Ok(())
}

async fn list(state: Arc<State>, r: Req) -> ApiResult<Resp> {
    let mut dangling: Option<bool> = None;
    let mut labels = Vec::new();
    for (k, v) in crate::filters::parse(r.q("filters"))? {
        match k.as_str() {
            "dangling" => dangling = Some(v == "true" || v == "1"),
            "label" => labels.push(v),
            _ => {
                return Err(ApiError::bad_request(format!(
                    "invalid filter '{k}' (berth supports dangling, label)"
                )))
            }
        }
    }
    let all = r.flag("all");
    let v = blocking(move || {
        Ok(state.engine()?.image_list(&ImageListOptions {
            all,
            ..Default::default()
        })?)
    })
    .await?;
    let out: Vec<Value> = v
        .iter()
        .filter(|i| dangling.is_none_or(|d| i.dangling == d))
        .filter(|i| {
            labels.iter().all(|l| match l.split_once('=') {
                Some((k, val)) => i.labels.get(k).is_some_and(|x| x == val),
                None => i.labels.contains_key(l),
            })
        })
        .map(|i| {
            j!({
                "Id": i.id,
                "ParentId": i.parent_id,
                "RepoTags": i.repo_tags(),
                "RepoDigests": i.repo_digests(),
                "Created": i.created,
                "Size": i.size,
                "SharedSize": -1,
                "VirtualSize": i.size,
                "Labels": i.labels,
                "Containers": -1,
            })
        })
        .collect();
    Ok(json(StatusCode::OK, &out))
}

async fn inspect(state: Arc<State>, name: String) -> ApiResult<Resp> {
    let v = blocking(move || Ok(state.engine()?.image_inspect(&name)?)).await?;
    Ok(json(StatusCode::OK, &v))
}

async fn history(state: Arc<State>, name: String) -> ApiResult<Resp> {
    let h = blocking(move || Ok(state.engine()?.image_history(&name)?)).await?;
    let n = h.items.len();
    let out: Vec<Value> = h
        .items
        .iter()
        .enumerate()
        .rev()
        .map(|(i, it)| {
            j!({
                "Id": if i + 1 == n { h.id.clone() } else { "<missing>".to_string() },
                "Created": it.created,
                "CreatedBy": it.created_by,
                "Tags": null,
                "Size": it.size,
                "Comment": it.comment,
            })
        })
        .collect();
    Ok(json(StatusCode::OK, &out))
}

async fn tag(state: Arc<State>, name: String, r: &Req) -> ApiResult<Resp> {
    let repo = r.q("repo").unwrap_or("").to_string();
    if repo.is_empty() {
        return Err(ApiError::bad_request(
            "repository name must have at least one component",
        ));
    }
    let target = match r.q("tag").filter(|t| !t.is_empty()) {
        Some(t) => format!("{repo}:{t}"),
        None => repo,
    };
    blocking(move || Ok(state.engine()?.image_tag(&name, &target)?)).await?;
    Ok(crate::router::status(StatusCode::CREATED))
}

async fn remove(state: Arc<State>, name: String, r: &Req) -> ApiResult<Resp> {
    let force = r.flag("force");
    let items = blocking(move || Ok(state.engine()?.image_remove(&name, force)?)).await?;
    let out: Vec<Value> = items.iter().map(delete_item).collect();
    Ok(json(StatusCode::OK, &out))
}

fn delete_item(i: &ImageDeleteItem) -> Value {
    match i {
        ImageDeleteItem::Untagged(t) => j!({ "Untagged": t }),
        ImageDeleteItem::Deleted(d) => j!({ "Deleted": d }),
    }
}

async fn prune(state: Arc<State>, r: Req) -> ApiResult<Resp> {
    let mut all = false;
    let mut labels = Vec::new();
    let mut until: Option<i64> = None;
    for (k, v) in crate::filters::parse(r.q("filters"))? {
        match k.as_str() {
            "dangling" => all = v == "false" || v == "0",
            "label" => labels.push(v),
            "until" => {
                until =
                    Some(v.parse().map_err(|_| {
                        ApiError::bad_request(format!("invalid until filter: {v:?}"))
                    })?)
            }
            _ => return Err(ApiError::bad_request(format!("invalid filter '{k}'"))),
        }
    }
    let rep = blocking(move || {
        let select = |l: &std::collections::BTreeMap<String, String>, created: i64| {
            until.is_none_or(|u| created < u)
                && labels.iter().all(|want| match want.split_once('=') {
                    Some((k, v)) => l.get(k).is_some_and(|x| x == v),
                    None => l.contains_key(want),
                })
        };
        Ok(state.engine()?.image_prune(all, &select)?)
    })
    .await?;
    let deleted: Vec<Value> = rep.deleted.iter().map(delete_item).collect();
    Ok(json(
        StatusCode::OK,
        &j!({"ImagesDeleted": deleted, "SpaceReclaimed": rep.space_reclaimed}),
    ))
}

async fn save(state: Arc<State>, names: Vec<String>) -> ApiResult<Resp> {
    if names.is_empty() {
        return Err(ApiError::bad_request("no image names given"));
    }
    // Every name must exist before the 200 goes out.
    let st = state.clone();
    let ns = names.clone();
    blocking(move || {
        let eng = st.engine()?;
        for n in &ns {
            eng.image_inspect(n)?;
        }
        Ok(())
    })
    .await?;
    let (tx, body) = Body::channel();
    tokio::task::spawn_blocking(move || {
        let Ok(eng) = state.engine() else { return };
        let _ = eng.image_save(&names, &mut ChanWriter::raw(tx));
    });
    Ok(stream("application/x-tar", body))
}

/// Streams the request body into a blocking reader given to `f`, which runs on the blocking
/// pool; returns what `f` returned.
async fn with_body_reader<T: Send + 'static>(
    r: &mut Req,
    f: impl FnOnce(&mut ChanReader) -> T + Send + 'static,
) -> ApiResult<T> {
    use http_body_util::BodyExt;
    let (tx, rx) = mpsc::channel::<Bytes>(16);
    let job = tokio::task::spawn_blocking(move || {
        let mut rd = ChanReader::new(rx);
        let out = f(&mut rd);
        let _ = std::io::copy(&mut rd, &mut std::io::sink());
        out
    });
    let body = r.inner.body_mut();
    while let Some(fr) = body.frame().await {
        let fr = fr.map_err(|e| ApiError::bad_request(format!("reading the body: {e}")))?;
        if let Ok(d) = fr.into_data() {
            if tx.send(d).await.is_err() {
                break;
            }
        }
    }
    drop(tx);
    job.await
        .map_err(|e| ApiError::internal(format!("engine task failed: {e}")))
}

async fn load(state: Arc<State>, mut r: Req) -> ApiResult<Resp> {
    let res = with_body_reader(&mut r, move |rd| -> ApiResult<Vec<String>> {
        Ok(state.engine()?.image_load(rd)?)
    })
    .await??;
    let mut out = Vec::new();
    for l in res {
        out.extend_from_slice(&line(&j!({ "stream": format!("{l}\n") })));
    }
    Ok(stream("application/json", Body::full(out)))
}

/// `POST /images/create`: `fromImage` pulls (progress as JSON lines), `fromSrc=-` imports
/// the body as a root filesystem tar.
async fn create(state: Arc<State>, mut r: Req) -> ApiResult<Resp> {
    if let Some(src) = r.q("fromSrc").filter(|s| !s.is_empty()) {
        if src != "-" {
            return Err(ApiError::bad_request(
                "importing from a URL is not supported by berth (fromSrc=-: the request body)",
            ));
        }
        let reference = match (
            r.q("repo").filter(|s| !s.is_empty()),
            r.q("tag").filter(|s| !s.is_empty()),
        ) {
            (Some(repo), Some(t)) => Some(format!("{repo}:{t}")),
            (Some(repo), None) => Some(repo.to_string()),
            _ => None,
        };
        let changes: Vec<String> = r
            .pairs
            .iter()
            .filter(|(k, _)| k == "changes")
            .map(|(_, v)| v.clone())
            .collect();
        let req = engine::images::ImportRequest {
            reference,
            changes,
            message: r.q("message").filter(|s| !s.is_empty()).map(String::from),
            architecture: None,
        };
        let id = with_body_reader(&mut r, move |rd| -> ApiResult<String> {
            Ok(state.engine()?.image_import(rd, &req)?)
        })
        .await??;
        return Ok(stream(
            "application/json",
            Body::full(line(&j!({ "status": id }))),
        ));
    }
    let from = r.q("fromImage").unwrap_or("").to_string();
    if from.is_empty() {
        return Err(ApiError::bad_request("fromImage or fromSrc is required"));
    }
    refuse_credentials(&r)?;
    let reference = match r.q("tag").filter(|t| !t.is_empty()) {
        Some(t) if t.starts_with("sha256:") => format!("{from}@{t}"),
        Some(t) => format!("{from}:{t}"),
        None => from.clone(),
    };
    // `docker pull -a` sends no tag: all tags. The CLI always sends one otherwise.
    let all_tags =
        r.q("tag").is_none_or(|t| t.is_empty()) && !from.contains(':') && !from.contains('@');
    let req = PullRequest {
        reference,
        platform: r.q("platform").filter(|p| !p.is_empty()).map(String::from),
        all_tags,
        quiet: false,
        registry: engine::images::RegistrySettings {
            insecure_registries: state.insecure_registries.clone(),
        },
    };
    let (tx, body) = Body::channel();
    tokio::task::spawn_blocking(move || {
        let Ok(eng) = state.engine() else { return };
        let t2 = tx.clone();
        let mut on = move |e: ProgressEvent| {
            let _ = t2.blocking_send(line(&progress_json(&e)));
        };
        if let Err(e) = eng.pull(&req, &mut on) {
            let _ = tx.blocking_send(error_line(&e.to_string()));
        }
    });
    Ok(stream("application/json", body))
}

async fn push(state: Arc<State>, name: String, r: &Req) -> ApiResult<Resp> {
    refuse_credentials(r)?;
    let reference = match r.q("tag").filter(|t| !t.is_empty()) {
        Some(t) => format!("{name}:{t}"),
        None => name.clone(),
    };
    let all_tags = r.q("tag").is_none_or(|t| t.is_empty()) && !name.contains(':');
    let req = PushRequest {
        reference,
        all_tags,
        quiet: false,
        registry: engine::images::RegistrySettings {
            insecure_registries: state.insecure_registries.clone(),
        },
    };
    let (tx, body) = Body::channel();
    tokio::task::spawn_blocking(move || {
        let Ok(eng) = state.engine() else { return };
        let t2 = tx.clone();
        let mut on = move |e: ProgressEvent| {
            let _ = t2.blocking_send(line(&progress_json(&e)));
        };
        if let Err(e) = eng.push(&req, &mut on) {
            let _ = tx.blocking_send(error_line(&e.to_string()));
        }
    });
    Ok(stream("application/json", body))
}

/// `POST /commit?container=&repo=&tag=&comment=&author=&pause=&changes=`
pub async fn commit(state: Arc<State>, mut r: Req) -> ApiResult<Resp> {
    let container = r.q("container").unwrap_or("").to_string();
    if container.is_empty() {
        return Err(ApiError::bad_request("container is required"));
    }
    // A config body (`docker commit` sends the container's config) would overwrite it:
    // berth applies only `changes`, so a non-empty one is refused.
    let body = crate::router::read_json(&mut r.inner).await?;
    if body
        .as_object()
        .is_some_and(|o| o.values().any(|v| !is_zero(v)))
    {
        return Err(ApiError::bad_request(
            "a config in the commit body is not supported by berth: use changes",
        ));
    }
    let reference = match (
        r.q("repo").filter(|s| !s.is_empty()),
        r.q("tag").filter(|s| !s.is_empty()),
    ) {
        (Some(repo), Some(t)) => Some(format!("{repo}:{t}")),
        (Some(repo), None) => Some(repo.to_string()),
        _ => None,
    };
    let opts = engine::CommitOptions {
        reference,
        author: r.q("author").unwrap_or("").to_string(),
        message: r.q("comment").unwrap_or("").to_string(),
        changes: r
            .pairs
            .iter()
            .filter(|(k, _)| k == "changes")
            .flat_map(|(_, v)| v.lines().map(String::from).collect::<Vec<_>>())
            .filter(|c| !c.is_empty())
            .collect(),
        pause: r.flag_or("pause", true),
    };
    let id = blocking(move || Ok(state.engine()?.commit(&container, &opts)?)).await?;
    Ok(json(StatusCode::CREATED, &j!({ "Id": id })))
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.values().all(is_zero),
    }
}
