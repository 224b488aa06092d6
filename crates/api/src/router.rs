//! Request routing: version prefix, path segments, query, and the response helpers.

use crate::body::Body;
use crate::error::{ApiError, ApiResult};
use crate::state::State;
use crate::{containers, execs, hijack, images, networks, system, versions, volumes};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{header, Method, Request, Response, StatusCode};
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

pub type Resp = Response<Body>;

/// A parsed request.
pub struct Req {
    pub method: Method,
    /// Path after the version prefix, split on '/' (no empty elements).
    pub segs: Vec<String>,
    pub query: HashMap<String, String>,
    /// Every query pair in order (for repeated keys such as `names`).
    pub pairs: Vec<(String, String)>,
    pub inner: Request<Incoming>,
}

impl Req {
    pub fn q(&self, k: &str) -> Option<&str> {
        self.query.get(k).map(|s| s.as_str())
    }
    /// Docker's boolean query values: "1", "true", "True" (anything else, or absent: false).
    pub fn flag(&self, k: &str) -> bool {
        matches!(self.q(k), Some("1" | "true" | "True" | "TRUE"))
    }
    /// A boolean with a default when absent.
    pub fn flag_or(&self, k: &str, dflt: bool) -> bool {
        match self.q(k) {
            None | Some("") => dflt,
            Some(_) => self.flag(k),
        }
    }
    pub fn int(&self, k: &str) -> ApiResult<Option<i64>> {
        match self.q(k) {
            None | Some("") => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| ApiError::bad_request(format!("invalid value for {k}: {v:?}"))),
        }
    }
}

/// Reads the whole body of a request.
pub async fn read_body(req: &mut Request<Incoming>) -> ApiResult<Bytes> {
    let b = req
        .body_mut()
        .collect()
        .await
        .map_err(|e| ApiError::bad_request(format!("reading the request body: {e}")))?;
    Ok(b.to_bytes())
}

/// The body as JSON (an empty body is `{}`), nulls removed so absent and null mean the same
/// (Go clients send `null` for nil slices and maps).
pub async fn read_json(req: &mut Request<Incoming>) -> ApiResult<serde_json::Value> {
    let b = read_body(req).await?;
    if b.iter().all(|c| c.is_ascii_whitespace()) {
        return Ok(serde_json::json!({}));
    }
    let mut v: serde_json::Value = serde_json::from_slice(&b)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?;
    strip_nulls(&mut v);
    Ok(v)
}

pub fn strip_nulls(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            m.values_mut().for_each(strip_nulls);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

pub fn json<T: serde::Serialize + ?Sized>(status: StatusCode, v: &T) -> Resp {
    let b = serde_json::to_vec(v).unwrap_or_default();
    let mut r = Response::new(Body::full(b));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    r
}

pub fn status(status: StatusCode) -> Resp {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status;
    r
}

pub fn error(e: ApiError) -> Resp {
    json(e.status, &serde_json::json!({ "message": e.message }))
}

/// A streamed response.
pub fn stream(content_type: &'static str, body: Body) -> Resp {
    let mut r = Response::new(body);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    r
}

fn with_common_headers(mut r: Resp) -> Resp {
    let h = r.headers_mut();
    h.insert(
        "Api-Version",
        header::HeaderValue::from_static(versions::API_VERSION),
    );
    h.insert("Ostype", header::HeaderValue::from_static("linux"));
    h.insert(
        header::SERVER,
        header::HeaderValue::from_static("berth (linux)"),
    );
    r
}

pub async fn handle(state: Arc<State>, req: Request<Incoming>) -> Result<Resp, Infallible> {
    let path = req.uri().path().to_string();
    let (_version, rest) = match versions::strip(&path) {
        Ok(v) => v,
        Err(m) => return Ok(with_common_headers(error(ApiError::bad_request(m)))),
    };
    let segs: Vec<String> = rest
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    let pairs: Vec<(String, String)> = req
        .uri()
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let query: HashMap<String, String> = pairs.iter().cloned().collect();
    let r = Req {
        method: req.method().clone(),
        segs,
        query,
        pairs,
        inner: req,
    };
    let resp = match route(state, r).await {
        Ok(r) => r,
        Err(e) => error(e),
    };
    Ok(with_common_headers(resp))
}

fn percent_decode(s: &str) -> String {
    // form_urlencoded would turn '+' into ' ': paths keep '+'.
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let h = |c: u8| (c as char).to_digit(16);
            if let (Some(x), Some(y)) = (h(b[i + 1]), h(b[i + 2])) {
                out.push((x * 16 + y) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn route(state: Arc<State>, r: Req) -> ApiResult<Resp> {
    let segs: Vec<&str> = r.segs.iter().map(|s| s.as_str()).collect();
    let m = r.method.clone();
    match (m, segs.as_slice()) {
        (Method::GET | Method::HEAD, ["_ping"]) => Ok(system::ping(&r)),
        (Method::GET, ["version"]) => system::version(state).await,
        (Method::GET, ["info"]) => system::info(state).await,
        (Method::GET, ["events"]) => system::events(state, r).await,
        (Method::POST, ["auth"]) => system::auth(r).await,
        (Method::GET, ["system", "df"]) => system::df(state).await,

        (Method::GET, ["containers", "json"]) => containers::list(state, r).await,
        (Method::POST, ["containers", "create"]) => containers::create(state, r).await,
        (Method::POST, ["containers", "prune"]) => containers::prune(state, r).await,
        (Method::GET, ["containers", id, "json"]) => {
            containers::inspect(state, id.to_string()).await
        }
        (Method::POST, ["containers", id, "start"]) => {
            containers::start(state, id.to_string()).await
        }
        (Method::POST, ["containers", id, op @ ("stop" | "restart")]) => {
            containers::stop_restart(state, id.to_string(), op == &"restart", &r).await
        }
        (Method::POST, ["containers", id, "kill"]) => {
            containers::kill(state, id.to_string(), &r).await
        }
        (Method::POST, ["containers", id, op @ ("pause" | "unpause")]) => {
            containers::pause(state, id.to_string(), op == &"pause").await
        }
        (Method::POST, ["containers", id, "rename"]) => {
            containers::rename(state, id.to_string(), &r).await
        }
        (Method::POST, ["containers", id, "wait"]) => {
            containers::wait(state, id.to_string(), &r).await
        }
        (Method::DELETE, ["containers", id]) => containers::remove(state, id.to_string(), &r).await,
        (Method::GET, ["containers", id, "logs"]) => {
            containers::logs(state, id.to_string(), &r).await
        }
        (Method::GET, ["containers", id, "top"]) => {
            containers::top(state, id.to_string(), &r).await
        }
        (Method::GET, ["containers", id, "changes"]) => {
            containers::changes(state, id.to_string()).await
        }
        (Method::GET, ["containers", id, "stats"]) => {
            crate::stats::stats(state, id.to_string(), &r).await
        }
        (Method::GET, ["containers", id, "export"]) => {
            containers::export(state, id.to_string()).await
        }
        (Method::POST, ["containers", id, "resize"]) => {
            containers::resize(state, id.to_string(), &r).await
        }
        (Method::POST, ["containers", id, "update"]) => {
            containers::update(state, id.to_string(), r).await
        }
        (Method::HEAD | Method::GET | Method::PUT, ["containers", id, "archive"]) => {
            let id = id.to_string();
            containers::archive(state, id, r).await
        }
        (Method::POST, ["containers", id, "attach"]) => {
            let id = id.to_string();
            hijack::attach(state, id, r).await
        }
        (Method::POST, ["containers", id, "exec"]) => {
            let id = id.to_string();
            execs::create(state, id, r).await
        }
        (Method::POST, ["exec", id, "start"]) => {
            let id = id.to_string();
            execs::start(state, id, r).await
        }
        (Method::POST, ["exec", id, "resize"]) => execs::resize(state, id.to_string(), &r).await,
        (Method::GET, ["exec", id, "json"]) => execs::inspect(state, id.to_string()).await,
        (Method::POST, ["commit"]) => images::commit(state, r).await,

        (Method::GET, ["networks"]) => networks::list(state, r).await,
        (Method::POST, ["networks", "create"]) => networks::create(state, r).await,
        (Method::POST, ["networks", "prune"]) => networks::prune(state).await,
        (Method::GET, ["networks", id]) => networks::inspect(state, id.to_string()).await,
        (Method::DELETE, ["networks", id]) => networks::remove(state, id.to_string()).await,
        (Method::POST, ["networks", id, op @ ("connect" | "disconnect")]) => {
            let (id, connect) = (id.to_string(), op == &"connect");
            networks::connect(state, id, connect, r).await
        }
        (_, ["images", ..]) => images::route(state, r).await,
        (_, ["volumes", ..]) => volumes::route(state, r).await,
        _ => Err(ApiError::not_found(format!(
            "page not found: {} {}",
            r.method,
            r.segs.join("/")
        ))),
    }
}
