//! `/volumes/...`: the engine's volume operations with Docker's JSON shapes.

use crate::containers::typed;
use crate::error::{ApiError, ApiResult};
use crate::router::{json, read_json, status, Req, Resp};
use crate::state::{blocking, State};
use engine::volume::{CreateVolumeRequest, PruneVolumesRequest, VolumeFilters};
use hyper::{Method, StatusCode};
use serde_json::json as j;
use std::collections::BTreeMap;
use std::sync::Arc;

pub async fn route(state: Arc<State>, r: Req) -> ApiResult<Resp> {
    let segs: Vec<&str> = r.segs[1..].iter().map(|s| s.as_str()).collect();
    match (r.method.clone(), segs.as_slice()) {
        (Method::GET, []) => list(state, r).await,
        (Method::POST, ["create"]) => create(state, r).await,
        (Method::POST, ["prune"]) => prune(state, r).await,
        (Method::GET, [name]) => {
            let name = name.to_string();
            let v = blocking(move || Ok(state.engine()?.volume_inspect(&name)?)).await?;
            Ok(json(StatusCode::OK, &v))
        }
        (Method::DELETE, [name]) => {
            let (name, force) = (name.to_string(), r.flag("force"));
            blocking(move || Ok(state.engine()?.volume_remove(&name, force)?)).await?;
            Ok(status(StatusCode::NO_CONTENT))
        }
        _ => Err(ApiError::not_found(format!(
            "page not found: {} {}",
            r.method,
            r.segs.join("/")
        ))),
    }
}

fn pairs(r: &Req) -> ApiResult<Vec<String>> {
    Ok(crate::filters::parse(r.q("filters"))?
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect())
}

async fn list(state: Arc<State>, r: Req) -> ApiResult<Resp> {
    let f = VolumeFilters::parse(&pairs(&r)?)?;
    let v = blocking(move || Ok(state.engine()?.volume_list(&f)?)).await?;
    Ok(json(StatusCode::OK, &j!({"Volumes": v, "Warnings": []})))
}

#[derive(serde::Deserialize, serde::Serialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct CreateBody {
    name: String,
    driver: String,
    driver_opts: BTreeMap<String, String>,
    labels: BTreeMap<String, String>,
}

async fn create(state: Arc<State>, mut r: Req) -> ApiResult<Resp> {
    let b: CreateBody = typed(read_json(&mut r.inner).await?, "volume create")?;
    let req = CreateVolumeRequest {
        name: (!b.name.is_empty()).then_some(b.name),
        driver: b.driver,
        labels: b.labels,
        options: b.driver_opts,
    };
    let v = blocking(move || Ok(state.engine()?.volume_create(&req)?)).await?;
    Ok(json(StatusCode::CREATED, &v))
}

async fn prune(state: Arc<State>, r: Req) -> ApiResult<Resp> {
    let mut req = PruneVolumesRequest::default();
    for (k, v) in crate::filters::parse(r.q("filters"))? {
        match k.as_str() {
            "all" => req.all = v == "true" || v == "1",
            "label" => req.label.push(v),
            "label!" => req.not_label.push(v),
            _ => return Err(ApiError::bad_request(format!("invalid filter '{k}'"))),
        }
    }
    let rep = blocking(move || Ok(state.engine()?.volume_prune(&req)?)).await?;
    Ok(json(StatusCode::OK, &rep))
}
