//! The Distribution API over HTTP: ping, authentication, manifests, blobs, uploads.

use crate::auth::{parse_challenge, Challenge};
use crate::digest::read_verified;
use crate::manifest;
use crate::{sha256_digest, Error, Result};
use base64::Engine as _;
use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// Where `docker.io` images are served from.
pub const DOCKER_HUB_HOST: &str = "registry-1.docker.io";

/// Settings shared by every registry operation.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// Registries (`host[:port]`) reached over plain HTTP when HTTPS fails (loopback hosts
    /// always use plain HTTP).
    pub insecure_registries: Vec<String>,
    /// The credentials file; None = `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`.
    pub docker_config: Option<PathBuf>,
}

impl RegistryOptions {
    pub fn config_path(&self) -> PathBuf {
        self.docker_config
            .clone()
            .unwrap_or_else(crate::auth::default_config_path)
    }
}

/// The API host for a reference's domain (`docker.io` → `registry-1.docker.io`).
pub fn registry_host(domain: &str) -> String {
    match domain {
        "docker.io" | "index.docker.io" => DOCKER_HUB_HOST.to_string(),
        d => d.to_string(),
    }
}

fn is_loopback(host: &str) -> bool {
    let h = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host)
    };
    h == "localhost" || h == "::1" || h.starts_with("127.")
}

/// Percent-encodes a query value (everything but RFC 3986's unreserved characters).
pub(crate) fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `scheme://host` and the host of an absolute URL.
fn split_url(url: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    Some((scheme, rest.split(['/', '?']).next().unwrap_or("")))
}

/// Resolves a `Location` header against the URL it came from.
fn resolve_location(base: &str, loc: &str) -> String {
    if loc.starts_with("http://") || loc.starts_with("https://") {
        return loc.to_string();
    }
    let Some((scheme, host)) = split_url(base) else {
        return loc.to_string();
    };
    if loc.starts_with('/') {
        format!("{scheme}://{host}{loc}")
    } else {
        let path = base.split('?').next().unwrap_or(base);
        match path.rsplit_once('/') {
            Some((dir, _)) if dir.len() > scheme.len() + 3 => format!("{dir}/{loc}"),
            _ => format!("{scheme}://{host}/{loc}"),
        }
    }
}

/// A request body that can be sent again (after a 401).
pub enum Body<'a> {
    Empty,
    Bytes(&'a [u8]),
    /// `len` bytes of a file from `offset`.
    File {
        path: &'a Path,
        offset: u64,
        len: u64,
    },
}

/// A connection to one registry, shared by the threads of an operation.
pub struct Client {
    agent: ureq::Agent,
    host: String,
    base: String,
    creds: Option<(String, String)>,
    challenge: Mutex<Option<Challenge>>,
    tokens: Mutex<HashMap<String, String>>,
    /// Serializes token fetches so parallel threads needing one scope fetch it once.
    fetching: Mutex<()>,
}

/// `repository:<name>:pull`
pub fn pull_scope(repo: &str) -> String {
    format!("repository:{repo}:pull")
}
/// `repository:<name>:pull,push`
pub fn push_scope(repo: &str) -> String {
    format!("repository:{repo}:pull,push")
}

impl Client {
    /// Connects to `host` (as in a reference: `localhost:5000`, `registry-1.docker.io`) and
    /// pings `/v2/` to learn how it authenticates. `creds` None = look them up in the config.
    pub fn connect(
        host: &str,
        creds: Option<(String, String)>,
        opts: &RegistryOptions,
    ) -> Result<Client> {
        let creds = match creds {
            Some(c) => Some(c),
            None => crate::auth::lookup(&opts.config_path(), host)?,
        };
        let agent = ureq::AgentBuilder::new()
            .redirects(0)
            .timeout_connect(Duration::from_secs(30))
            .timeout_read(Duration::from_secs(300))
            .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
            .build();
        let insecure = opts.insecure_registries.iter().any(|r| {
            let r = r
                .trim_start_matches("http://")
                .trim_start_matches("https://");
            r.trim_end_matches('/') == host
        });
        let mut client = Client {
            agent,
            host: host.to_string(),
            base: String::new(),
            creds,
            challenge: Mutex::new(None),
            tokens: Mutex::new(HashMap::new()),
            fetching: Mutex::new(()),
        };
        let schemes: &[&str] = if is_loopback(host) {
            &["http"]
        } else if insecure {
            &["https", "http"]
        } else {
            &["https"]
        };
        let mut last = None;
        for s in schemes {
            client.base = format!("{s}://{host}");
            match client.ping() {
                Ok(()) => return Ok(client),
                Err(e @ Error::Transport { .. }) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.expect("at least one scheme tried"))
    }

    pub fn host(&self) -> &str {
        &self.host
    }
    /// `http://host` or `https://host`.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    fn ping(&self) -> Result<()> {
        let url = format!("{}/v2/", self.base);
        let resp = self.send(self.agent.get(&url), &url, &Body::Empty)?;
        match resp.status() {
            200..=299 => Ok(()),
            401 => {
                let ch = resp.header("WWW-Authenticate").and_then(parse_challenge);
                if ch.is_none() {
                    return Err(Error::Registry(format!(
                        "{url}: 401 Unauthorized without a usable WWW-Authenticate challenge"
                    )));
                }
                *self.challenge.lock().unwrap() = ch;
                Ok(())
            }
            s => Err(Error::Registry(format!(
                "{url}: unexpected status {s}: {} is not a Distribution v2 registry",
                self.host
            ))),
        }
    }

    fn basic(&self) -> Option<String> {
        self.creds.as_ref().map(|(u, p)| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            )
        })
    }

    /// The Authorization header for a request needing `scopes`.
    fn authorization(&self, scopes: &[String]) -> Result<Option<String>> {
        let ch = self.challenge.lock().unwrap().clone();
        match ch {
            None => Ok(None),
            Some(Challenge::Basic) => Ok(self.basic()),
            Some(Challenge::Bearer { realm, service, .. }) => {
                let key = scopes.join(" ");
                if let Some(t) = self.tokens.lock().unwrap().get(&key) {
                    return Ok(Some(format!("Bearer {t}")));
                }
                let _one_at_a_time = self.fetching.lock().unwrap();
                if let Some(t) = self.tokens.lock().unwrap().get(&key) {
                    return Ok(Some(format!("Bearer {t}")));
                }
                let t = self.fetch_token(&realm, service.as_deref(), scopes)?;
                self.tokens.lock().unwrap().insert(key, t.clone());
                Ok(Some(format!("Bearer {t}")))
            }
        }
    }

    /// GET `realm?service=…&scope=…` (with Basic credentials when we have them).
    fn fetch_token(&self, realm: &str, service: Option<&str>, scopes: &[String]) -> Result<String> {
        let mut q = Vec::new();
        if let Some(s) = service {
            q.push(format!("service={}", query_escape(s)));
        }
        for s in scopes {
            q.push(format!("scope={}", query_escape(s)));
        }
        if let Some((u, _)) = &self.creds {
            q.push(format!("account={}", query_escape(u)));
        }
        let sep = if realm.contains('?') { '&' } else { '?' };
        let url = if q.is_empty() {
            realm.to_string()
        } else {
            format!("{realm}{sep}{}", q.join("&"))
        };
        let mut req = self.agent.get(&url);
        if let Some(b) = self.basic() {
            req = req.set("Authorization", &b);
        }
        let resp = self.send(req, &url, &Body::Empty)?;
        match resp.status() {
            200 => {
                let body = read_limited(resp, 1 << 20, &url)?;
                let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
                    Error::Registry(format!("token server {realm} sent invalid JSON: {e}"))
                })?;
                v["token"]
                    .as_str()
                    .or(v["access_token"].as_str())
                    .filter(|t| !t.is_empty())
                    .map(str::to_string)
                    .ok_or_else(|| Error::Registry(format!("token server {realm} sent no token")))
            }
            401 | 403 if self.creds.is_some() => Err(Error::Unauthorized(
                "unauthorized: incorrect username or password".into(),
            )),
            401 | 403 => Err(Error::Unauthorized(
                "unauthorized: authentication required".into(),
            )),
            s => Err(Error::Registry(format!(
                "token server {realm}: unexpected status {s}: {}",
                error_text(resp)
            ))),
        }
    }

    fn send(&self, req: ureq::Request, url: &str, body: &Body) -> Result<ureq::Response> {
        let transport = |e: ureq::Transport| Error::Transport {
            url: url.to_string(),
            message: e.to_string(),
        };
        let r = match body {
            Body::Empty => req.call(),
            Body::Bytes(b) => req.send_bytes(b),
            Body::File { path, offset, len } => {
                let mut f =
                    File::open(path).map_err(Error::io(format!("opening {}", path.display())))?;
                f.seek(SeekFrom::Start(*offset))
                    .map_err(Error::io(format!("reading {}", path.display())))?;
                req.set("Content-Length", &len.to_string())
                    .send(f.take(*len))
            }
        };
        match r {
            Ok(resp) => Ok(resp),
            Err(ureq::Error::Status(_, resp)) => Ok(resp),
            Err(ureq::Error::Transport(t)) => Err(transport(t)),
        }
    }

    /// Sends a request to the registry, authenticating for `scopes` and retrying once after
    /// a 401 with a fresh token. `path_or_url` is `/v2/...` or an absolute URL; absolute URLs
    /// on another host never get our credentials.
    pub fn request(
        &self,
        method: &str,
        path_or_url: &str,
        scopes: &[String],
        headers: &[(&str, &str)],
        body: Body,
    ) -> Result<ureq::Response> {
        let url = if path_or_url.starts_with("http://") || path_or_url.starts_with("https://") {
            path_or_url.to_string()
        } else {
            format!("{}{path_or_url}", self.base)
        };
        let ours = split_url(&url).map(|(s, h)| format!("{s}://{h}")) == Some(self.base.clone());
        for attempt in 0..2 {
            let mut req = self.agent.request(method, &url);
            for (k, v) in headers {
                req = req.set(k, v);
            }
            if ours {
                if let Some(a) = self.authorization(scopes)? {
                    req = req.set("Authorization", &a);
                }
            }
            let resp = self.send(req, &url, &body)?;
            if resp.status() == 401 && ours && attempt == 0 {
                // Expired token or a registry that only challenges on some paths.
                if let Some(ch) = resp.header("WWW-Authenticate").and_then(parse_challenge) {
                    *self.challenge.lock().unwrap() = Some(ch);
                }
                self.tokens.lock().unwrap().remove(&scopes.join(" "));
                continue;
            }
            return Ok(resp);
        }
        unreachable!("the loop returns on its second attempt")
    }

    /// GET following redirects (blob storage on other hosts gets no Authorization header).
    pub fn get_following(
        &self,
        path: &str,
        scopes: &[String],
        headers: &[(&str, &str)],
    ) -> Result<ureq::Response> {
        let mut url = format!("{}{path}", self.base);
        let mut resp = self.request("GET", &url, scopes, headers, Body::Empty)?;
        for _ in 0..10 {
            if !matches!(resp.status(), 301 | 302 | 303 | 307 | 308) {
                return Ok(resp);
            }
            let Some(loc) = resp.header("Location") else {
                return Err(Error::Registry(format!(
                    "{url}: redirect without a Location"
                )));
            };
            url = resolve_location(&url, loc);
            resp = self.request("GET", &url, scopes, headers, Body::Empty)?;
        }
        Err(Error::Registry(format!("{url}: too many redirects")))
    }

    /// Fetches a manifest by tag or digest. Returns (body, content type, digest), the body
    /// verified against the digest when `reference` is one (and against the registry's
    /// Docker-Content-Digest header otherwise).
    pub fn get_manifest(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<(Vec<u8>, Option<String>, String)> {
        let path = format!("/v2/{repo}/manifests/{reference}");
        let accept = manifest::accept_header();
        let resp = self.get_following(&path, &[pull_scope(repo)], &[("Accept", &accept)])?;
        if resp.status() != 200 {
            return Err(status_error(resp, &format!("manifest {repo}:{reference}")));
        }
        let ct = resp.header("Content-Type").map(str::to_string);
        let header_digest = resp.header("Docker-Content-Digest").map(str::to_string);
        let url = format!("{}{path}", self.base);
        let body = read_limited(resp, manifest::MAX_MANIFEST, &url)?;
        let actual = sha256_digest(&body);
        let expected = if reference.contains(':') {
            Some(reference.to_string())
        } else {
            header_digest.filter(|d| d.starts_with("sha256:"))
        };
        if let Some(e) = expected {
            if e != actual {
                return Err(Error::DigestMismatch {
                    what: format!("manifest {repo}:{reference}"),
                    expected: e,
                    actual,
                });
            }
        }
        Ok((body, ct, actual))
    }

    /// Starts a blob download (from byte `offset` when > 0: the response is 206 if the
    /// registry honoured the range, 200 if it sent the whole blob).
    pub fn get_blob(&self, repo: &str, digest: &str, offset: u64) -> Result<ureq::Response> {
        let path = format!("/v2/{repo}/blobs/{digest}");
        let range = format!("bytes={offset}-");
        let headers: Vec<(&str, &str)> = if offset > 0 {
            vec![("Range", &range)]
        } else {
            vec![]
        };
        let resp = self.get_following(&path, &[pull_scope(repo)], &headers)?;
        match resp.status() {
            200 | 206 => Ok(resp),
            _ => Err(status_error(resp, &format!("blob {digest}"))),
        }
    }

    /// A small blob (a config), verified.
    pub fn get_blob_bytes(&self, repo: &str, digest: &str, limit: u64) -> Result<Vec<u8>> {
        let resp = self.get_blob(repo, digest, 0)?;
        read_verified(resp.into_reader(), digest, limit).map_err(|e| {
            if crate::digest::is_mismatch(&e) {
                Error::Invalid(format!("blob {digest} from {}: {e}", self.host))
            } else {
                Error::io(format!("downloading blob {digest}"))(e)
            }
        })
    }

    /// HEAD a blob: its size if the repository has it.
    pub fn blob_exists(&self, repo: &str, digest: &str, scopes: &[String]) -> Result<Option<u64>> {
        let path = format!("/v2/{repo}/blobs/{digest}");
        let resp = self.request("HEAD", &path, scopes, &[], Body::Empty)?;
        match resp.status() {
            200 => Ok(Some(
                resp.header("Content-Length")
                    .and_then(|l| l.parse().ok())
                    .unwrap_or(0),
            )),
            404 => Ok(None),
            _ => Err(status_error(resp, &format!("blob {digest}"))),
        }
    }

    /// Cross-repository mount of `digest` from `from` (same registry). False when the
    /// registry could not mount (the upload session it opened instead is cancelled).
    pub fn mount_blob(&self, repo: &str, digest: &str, from: &str) -> Result<bool> {
        let path = format!(
            "/v2/{repo}/blobs/uploads/?mount={}&from={}",
            query_escape(digest),
            query_escape(from)
        );
        let scopes = [push_scope(repo), pull_scope(from)];
        let resp = self.request("POST", &path, &scopes, &[], Body::Empty)?;
        match resp.status() {
            201 => Ok(true),
            202 => {
                if let Some(loc) = resp.header("Location") {
                    let url = resolve_location(&format!("{}{path}", self.base), loc);
                    let _ = self.request("DELETE", &url, &scopes, &[], Body::Empty);
                }
                Ok(false)
            }
            // No access to the source repository: just upload.
            401 | 403 | 404 => Ok(false),
            _ => Err(status_error(
                resp,
                &format!("mounting blob {digest} from {from}"),
            )),
        }
    }

    /// Uploads a blob: one PUT, or PATCH chunks of `chunk_size` bytes then a closing PUT
    /// when `chunk_size` > 0 and the blob is bigger. `on_progress` gets the bytes sent so far.
    pub fn upload_blob(
        &self,
        repo: &str,
        digest: &str,
        body: Body,
        chunk_size: u64,
        on_progress: &mut dyn FnMut(u64),
    ) -> Result<()> {
        let scopes = [push_scope(repo)];
        let start = format!("/v2/{repo}/blobs/uploads/");
        let resp = self.request("POST", &start, &scopes, &[], Body::Empty)?;
        if resp.status() != 202 {
            return Err(status_error(resp, &format!("starting upload of {digest}")));
        }
        let mut loc = location(&resp, &format!("{}{start}", self.base))?;
        let len = match &body {
            Body::Empty => 0,
            Body::Bytes(b) => b.len() as u64,
            Body::File { len, .. } => *len,
        };
        let octet = ("Content-Type", "application/octet-stream");
        let last_body = if chunk_size > 0 && len > chunk_size {
            let mut off = 0;
            while off < len {
                let n = chunk_size.min(len - off);
                let range = format!("{off}-{}", off + n - 1);
                let chunk = match &body {
                    Body::Bytes(b) => Body::Bytes(&b[off as usize..(off + n) as usize]),
                    Body::File { path, offset, .. } => Body::File {
                        path,
                        offset: offset + off,
                        len: n,
                    },
                    Body::Empty => unreachable!("empty bodies are not chunked"),
                };
                let headers = [octet, ("Content-Range", range.as_str())];
                let resp = self.request("PATCH", &loc, &scopes, &headers, chunk)?;
                if resp.status() != 202 {
                    return Err(status_error(resp, &format!("uploading {digest} ({range})")));
                }
                loc = location(&resp, &loc)?;
                off += n;
                on_progress(off);
            }
            Body::Empty
        } else {
            body
        };
        let sep = if loc.contains('?') { '&' } else { '?' };
        let put = format!("{loc}{sep}digest={}", query_escape(digest));
        let resp = self.request("PUT", &put, &scopes, &[octet], last_body)?;
        if resp.status() != 201 {
            return Err(status_error(resp, &format!("uploading {digest}")));
        }
        on_progress(len);
        Ok(())
    }

    /// PUTs a manifest; returns its digest (checked against the registry's answer).
    pub fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        body: &[u8],
    ) -> Result<String> {
        let path = format!("/v2/{repo}/manifests/{reference}");
        let resp = self.request(
            "PUT",
            &path,
            &[push_scope(repo)],
            &[("Content-Type", media_type)],
            Body::Bytes(body),
        )?;
        if resp.status() != 201 {
            return Err(status_error(resp, &format!("manifest {repo}:{reference}")));
        }
        let digest = sha256_digest(body);
        if let Some(d) = resp.header("Docker-Content-Digest") {
            if d.starts_with("sha256:") && d != digest {
                return Err(Error::DigestMismatch {
                    what: format!("manifest {repo}:{reference} as stored by the registry"),
                    expected: digest,
                    actual: d.to_string(),
                });
            }
        }
        Ok(digest)
    }

    /// All tags of a repository (following `Link` pagination).
    pub fn tags(&self, repo: &str) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut path = format!("/v2/{repo}/tags/list");
        for _ in 0..1000 {
            let resp = self.request("GET", &path, &[pull_scope(repo)], &[], Body::Empty)?;
            if resp.status() != 200 {
                return Err(status_error(resp, &format!("tags of {repo}")));
            }
            let next = resp
                .header("Link")
                .and_then(|l| l.split(';').next())
                .map(|l| {
                    l.trim()
                        .trim_start_matches('<')
                        .trim_end_matches('>')
                        .to_string()
                });
            let body = read_limited(resp, 16 << 20, &path)?;
            let v: serde_json::Value = serde_json::from_slice(&body)
                .map_err(|e| Error::Registry(format!("tags of {repo}: invalid JSON: {e}")))?;
            out.extend(
                v["tags"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|t| t.as_str().map(str::to_string)),
            );
            match next {
                Some(n) if !n.is_empty() => path = n,
                _ => return Ok(out),
            }
        }
        Ok(out)
    }

    /// Checks the credentials (login): any authenticated request to `/v2/` succeeds.
    pub fn verify_login(&self) -> Result<()> {
        let resp = self.request("GET", "/v2/", &[], &[], Body::Empty)?;
        match resp.status() {
            200..=299 => Ok(()),
            401 | 403 => Err(Error::Unauthorized(
                "unauthorized: incorrect username or password".into(),
            )),
            _ => Err(status_error(resp, "login")),
        }
    }
}

fn location(resp: &ureq::Response, base: &str) -> Result<String> {
    resp.header("Location")
        .map(|l| resolve_location(base, l))
        .ok_or_else(|| Error::Registry(format!("{base}: upload response without a Location")))
}

pub(crate) fn read_limited(resp: ureq::Response, limit: u64, url: &str) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    resp.into_reader()
        .take(limit + 1)
        .read_to_end(&mut out)
        .map_err(Error::io(format!("reading {url}")))?;
    if out.len() as u64 > limit {
        return Err(Error::Registry(format!(
            "{url}: response larger than {limit} bytes"
        )));
    }
    Ok(out)
}

/// Distribution's `{"errors":[{"code","message"}]}` as `code: message` lines.
fn error_text(resp: ureq::Response) -> String {
    let status = resp.status();
    let body = read_limited(resp, 64 << 10, "").unwrap_or_default();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let msgs: Vec<String> = v["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let code = e["code"]
                .as_str()
                .unwrap_or("")
                .to_lowercase()
                .replace('_', " ");
            let msg = e["message"].as_str().unwrap_or("");
            if msg.is_empty() || code == msg {
                code
            } else {
                format!("{code}: {msg}")
            }
        })
        .collect();
    if msgs.is_empty() {
        let t = String::from_utf8_lossy(&body).trim().to_string();
        if t.is_empty() {
            format!("status {status}")
        } else {
            format!("status {status}: {t}")
        }
    } else {
        msgs.join(", ")
    }
}

fn status_error(resp: ureq::Response, what: &str) -> Error {
    let status = resp.status();
    let text = error_text(resp);
    match status {
        404 => Error::NotFound(format!("{what} not found: {text}")),
        401 | 403 => Error::Unauthorized(format!("{what}: {text}")),
        _ => Error::Registry(format!("{what}: {text}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(registry_host("docker.io"), DOCKER_HUB_HOST);
        assert_eq!(registry_host("localhost:5000"), "localhost:5000");
        assert!(is_loopback("localhost:5000"));
        assert!(is_loopback("127.0.0.1:42"));
        assert!(is_loopback("[::1]:5000"));
        assert!(!is_loopback("registry-1.docker.io"));
        assert!(!is_loopback("localhost.example.com:5000"));
        assert_eq!(
            query_escape("repository:a/b:pull,push"),
            "repository%3Aa%2Fb%3Apull%2Cpush"
        );
        assert_eq!(
            resolve_location(
                "http://h:1/v2/x/blobs/uploads/",
                "/v2/x/blobs/uploads/u?s=1"
            ),
            "http://h:1/v2/x/blobs/uploads/u?s=1"
        );
        assert_eq!(
            resolve_location("http://h:1/v2/x", "https://cdn/y"),
            "https://cdn/y"
        );
        assert_eq!(
            resolve_location("http://h:1/v2/x/y", "z"),
            "http://h:1/v2/x/z"
        );
        assert_eq!(split_url("https://a:1/b?c"), Some(("https", "a:1")));
    }
}
