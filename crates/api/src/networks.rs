//! `/networks/...`: the engine's network operations with Docker's JSON shapes.

use crate::containers::typed;
use crate::error::{ApiError, ApiResult};
use crate::router::{json, read_json, status, Req, Resp};
use crate::state::{blocking, State};
use engine::networks::NetworkCreateRequest;
use hyper::StatusCode;
use serde_json::json as j;
use std::collections::BTreeMap;
use std::sync::Arc;

pub async fn list(state: Arc<State>, r: Req) -> ApiResult<Resp> {
    let f = crate::filters::parse(r.q("filters"))?;
    for (k, _) in &f {
        if !matches!(k.as_str(), "name" | "id" | "driver" | "label" | "type") {
            return Err(ApiError::bad_request(format!("invalid filter '{k}'")));
        }
    }
    let v = blocking(move || Ok(state.engine()?.network_list()?)).await?;
    let pick = |k: &str| -> Vec<&str> {
        f.iter()
            .filter(|(x, _)| x == k)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    let (names, ids, drivers, labels, types) = (
        pick("name"),
        pick("id"),
        pick("driver"),
        pick("label"),
        pick("type"),
    );
    let out: Vec<_> = v
        .into_iter()
        .filter(|n| names.is_empty() || names.iter().any(|x| n.name.contains(x)))
        .filter(|n| ids.is_empty() || ids.iter().any(|x| n.id.starts_with(x)))
        .filter(|n| drivers.is_empty() || drivers.contains(&n.driver.as_str()))
        .filter(|n| {
            labels.iter().all(|l| match l.split_once('=') {
                Some((k, v)) => n.labels.get(k).is_some_and(|x| x == v),
                None => n.labels.contains_key(*l),
            })
        })
        .filter(|n| {
            types.is_empty()
                || types.iter().any(|t| match *t {
                    "builtin" => n.is_builtin(),
                    "custom" => !n.is_builtin(),
                    _ => false,
                })
        })
        .collect();
    Ok(json(StatusCode::OK, &out))
}

pub async fn inspect(state: Arc<State>, id: String) -> ApiResult<Resp> {
    let v = blocking(move || Ok(state.engine()?.network_inspect(&id)?)).await?;
    Ok(json(StatusCode::OK, &v))
}

pub async fn remove(state: Arc<State>, id: String) -> ApiResult<Resp> {
    blocking(move || Ok(state.engine()?.network_remove(&id)?)).await?;
    Ok(status(StatusCode::NO_CONTENT))
}

pub async fn prune(state: Arc<State>) -> ApiResult<Resp> {
    let v = blocking(move || Ok(state.engine()?.network_prune()?)).await?;
    Ok(json(StatusCode::OK, &j!({ "NetworksDeleted": v })))
}

#[derive(serde::Deserialize, serde::Serialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct IpamConfig {
    subnet: String,
    gateway: String,
    #[serde(rename = "IPRange")]
    ip_range: String,
}

#[derive(serde::Deserialize, serde::Serialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Ipam {
    driver: String,
    config: Vec<IpamConfig>,
}

#[derive(serde::Deserialize, serde::Serialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct CreateBody {
    name: String,
    check_duplicate: bool,
    driver: String,
    internal: bool,
    attachable: bool,
    #[serde(rename = "EnableIPv6")]
    enable_ipv6: bool,
    #[serde(rename = "IPAM")]
    ipam: Ipam,
    options: BTreeMap<String, String>,
    labels: BTreeMap<String, String>,
}

pub async fn create(state: Arc<State>, mut r: Req) -> ApiResult<Resp> {
    let b: CreateBody = typed(read_json(&mut r.inner).await?, "network create")?;
    if b.name.is_empty() {
        return Err(ApiError::bad_request("network name is required"));
    }
    if !matches!(b.ipam.driver.as_str(), "" | "default") {
        return Err(ApiError::bad_request(format!(
            "IPAM driver {:?} is not supported by berth",
            b.ipam.driver
        )));
    }
    // One IPv4 pool and, with EnableIPv6, one IPv6 pool.
    let (v6, v4): (Vec<IpamConfig>, Vec<IpamConfig>) = b
        .ipam
        .config
        .into_iter()
        .partition(|c| c.subnet.contains(':'));
    if v4.len() > 1 || v6.len() > 1 {
        return Err(ApiError::bad_request(
            "berth networks have one IPv4 and one IPv6 IPAM pool at most",
        ));
    }
    let pool = v4.into_iter().next().unwrap_or_default();
    let pool6 = v6.into_iter().next().unwrap_or_default();
    if !pool6.ip_range.is_empty() {
        return Err(ApiError::bad_request(
            "an IPv6 IPRange is not supported by berth",
        ));
    }
    let ne = |s: String| (!s.is_empty()).then_some(s);
    let req = NetworkCreateRequest {
        name: b.name,
        driver: ne(b.driver),
        subnet: ne(pool.subnet),
        gateway: ne(pool.gateway),
        ip_range: ne(pool.ip_range),
        internal: b.internal,
        attachable: b.attachable,
        labels: b.labels,
        options: b.options,
        ipv6: b.enable_ipv6,
        subnet6: ne(pool6.subnet),
        gateway6: ne(pool6.gateway),
    };
    let id = blocking(move || Ok(state.engine()?.network_create(&req)?)).await?;
    Ok(json(StatusCode::CREATED, &j!({"Id": id, "Warning": ""})))
}

#[derive(serde::Deserialize, serde::Serialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct ConnectBody {
    container: String,
    endpoint_config: Option<engine::types::EndpointSettings>,
    force: bool,
}

pub async fn connect(state: Arc<State>, net: String, connect: bool, mut r: Req) -> ApiResult<Resp> {
    let b: ConnectBody = typed(read_json(&mut r.inner).await?, "network connect")?;
    if b.container.is_empty() {
        return Err(ApiError::bad_request("container is required"));
    }
    blocking(move || {
        let eng = state.engine()?;
        if connect {
            let ep = b.endpoint_config.unwrap_or_default();
            let ip =
                match ep.ipam_config.as_ref().map(|c| c.ipv4_address.as_str()) {
                    Some(s) if !s.is_empty() => Some(s.parse().map_err(|_| {
                        ApiError::bad_request(format!("invalid IPv4 address {s:?}"))
                    })?),
                    _ => None,
                };
            let ip6 =
                match ep.ipam_config.as_ref().map(|c| c.ipv6_address.as_str()) {
                    Some(s) if !s.is_empty() => Some(s.parse().map_err(|_| {
                        ApiError::bad_request(format!("invalid IPv6 address {s:?}"))
                    })?),
                    _ => None,
                };
            let aliases = ep.aliases.unwrap_or_default();
            eng.network_connect(&net, &b.container, &aliases, ip, ip6)?;
        } else {
            eng.network_disconnect(&net, &b.container, b.force)?;
        }
        Ok(status(StatusCode::OK))
    })
    .await
}
