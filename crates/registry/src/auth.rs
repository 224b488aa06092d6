//! Credentials (`~/.docker/config.json`, shared with Docker), `WWW-Authenticate` challenges,
//! and `login` / `logout`.

use crate::client::{Client, RegistryOptions};
use crate::{Error, Result};
use base64::Engine as _;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The key Docker files Docker Hub credentials under.
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// Parses `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`.
pub fn parse_challenge(h: &str) -> Option<Challenge> {
    let h = h.trim();
    let (scheme, rest) = h.split_once(' ').unwrap_or((h, ""));
    let params = parse_params(rest);
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Some(Challenge::Basic),
        "bearer" => Some(Challenge::Bearer {
            realm: params.get("realm")?.clone(),
            service: params.get("service").cloned(),
            scope: params.get("scope").cloned(),
        }),
        _ => None,
    }
}

/// `k="v", k2=v2` (quoted values may contain commas and escaped quotes).
fn parse_params(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let b: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && (b[i] == ',' || b[i].is_whitespace()) {
            i += 1;
        }
        let ks = i;
        while i < b.len() && b[i] != '=' && b[i] != ',' {
            i += 1;
        }
        let key: String = b[ks..i]
            .iter()
            .collect::<String>()
            .trim()
            .to_ascii_lowercase();
        if i >= b.len() || b[i] != '=' {
            continue;
        }
        i += 1;
        let mut val = String::new();
        if i < b.len() && b[i] == '"' {
            i += 1;
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' && i + 1 < b.len() {
                    i += 1;
                }
                val.push(b[i]);
                i += 1;
            }
            i += 1;
        } else {
            while i < b.len() && b[i] != ',' {
                val.push(b[i]);
                i += 1;
            }
            val = val.trim().to_string();
        }
        if !key.is_empty() {
            out.insert(key, val);
        }
    }
    out
}

/// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub fn default_config_path() -> PathBuf {
    if let Some(d) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("config.json");
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root"));
    home.join(".docker").join("config.json")
}

/// The `auths` key for a registry host as Docker writes it.
pub fn config_key(host: &str) -> String {
    let h = strip_server(host);
    match h.as_str() {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB_KEY.to_string(),
        _ => h,
    }
}

/// `https://host:5000/v1/` → `host:5000`.
fn strip_server(s: &str) -> String {
    let s = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(s);
    s.split('/').next().unwrap_or("").to_string()
}

fn read_config(path: &Path) -> Result<serde_json::Value> {
    match std::fs::read(path) {
        Ok(b) if b.iter().all(|c| c.is_ascii_whitespace()) => Ok(serde_json::json!({})),
        Ok(b) => serde_json::from_slice(&b)
            .map_err(|e| Error::Invalid(format!("{} is not valid JSON: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(serde_json::json!({})),
        Err(e) => Err(Error::io(format!("reading {}", path.display()))(e)),
    }
}

/// Credentials stored for `host` (a registry host such as `registry-1.docker.io` or
/// `localhost:5000`), matching keys with or without scheme and path like Docker.
pub fn lookup(path: &Path, host: &str) -> Result<Option<(String, String)>> {
    let cfg = read_config(path)?;
    let want = config_key(host);
    let Some(auths) = cfg["auths"].as_object() else {
        return Ok(None);
    };
    for (k, v) in auths {
        if config_key(k) != want {
            continue;
        }
        if let Some(a) = v["auth"].as_str().filter(|a| !a.is_empty()) {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(a.trim())
                .map_err(|e| {
                    Error::Invalid(format!("invalid auth for {k} in {}: {e}", path.display()))
                })?;
            let s = String::from_utf8_lossy(&raw).to_string();
            let (u, p) = s.split_once(':').ok_or_else(|| {
                Error::Invalid(format!(
                    "invalid auth for {k} in {}: expected user:password",
                    path.display()
                ))
            })?;
            return Ok(Some((u.to_string(), p.to_string())));
        }
        if let (Some(u), Some(p)) = (v["username"].as_str(), v["password"].as_str()) {
            return Ok(Some((u.to_string(), p.to_string())));
        }
    }
    Ok(None)
}

/// Rewrites the config atomically with mode 0600, keeping every other field.
fn write_config(path: &Path, cfg: &serde_json::Value) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(Error::io(format!("creating {}", dir.display())))?;
    let tmp = dir.join(format!(".config.json.tmp-{}", std::process::id()));
    let res = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(&serde_json::to_vec_pretty(cfg).expect("serializable"))?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res.map_err(Error::io(format!("writing {}", path.display())))
}

fn store_credentials(path: &Path, key: &str, user: &str, password: &str) -> Result<()> {
    let mut cfg = read_config(path)?;
    if !cfg.is_object() {
        cfg = serde_json::json!({});
    }
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let obj = cfg.as_object_mut().expect("object");
    let auths = obj.entry("auths").or_insert_with(|| serde_json::json!({}));
    if !auths.is_object() {
        *auths = serde_json::json!({});
    }
    let auths = auths.as_object_mut().expect("object");
    // Drop equivalent spellings of the same registry so the new login wins.
    auths.retain(|k, _| config_key(k) != key);
    auths.insert(key.to_string(), serde_json::json!({ "auth": auth }));
    write_config(path, &cfg)
}

#[derive(Debug, Clone, Default)]
pub struct LoginOptions {
    /// Registry (`localhost:5000`, `https://index.docker.io/v1/`); None = Docker Hub.
    pub server: Option<String>,
    pub username: String,
    pub password: String,
    pub registry: RegistryOptions,
}

/// `berth login`: verifies the credentials against the registry, then stores them.
/// Returns Docker's message ("Login Succeeded").
pub fn login(opts: &LoginOptions) -> Result<String> {
    if opts.username.is_empty() {
        return Err(Error::Invalid(
            "Cannot perform an interactive login from a non TTY device".into(),
        ));
    }
    if opts.password.is_empty() {
        return Err(Error::Invalid("Password Required".into()));
    }
    let server = opts
        .server
        .clone()
        .unwrap_or_else(|| DOCKER_HUB_KEY.to_string());
    let key = config_key(&server);
    let host = registry_host_of_key(&key);
    let creds = (opts.username.clone(), opts.password.clone());
    let client = Client::connect(&host, Some(creds), &opts.registry)?;
    client.verify_login()?;
    store_credentials(
        &opts.registry.config_path(),
        &key,
        &opts.username,
        &opts.password,
    )?;
    Ok("Login Succeeded".into())
}

/// `berth logout`: removes stored credentials. Returns Docker's message.
pub fn logout(server: Option<&str>, registry: &RegistryOptions) -> Result<String> {
    let server = server.unwrap_or(DOCKER_HUB_KEY);
    let key = config_key(server);
    let path = registry.config_path();
    let mut cfg = read_config(&path)?;
    let removed = match cfg.get_mut("auths").and_then(|a| a.as_object_mut()) {
        Some(auths) => {
            let before = auths.len();
            auths.retain(|k, _| config_key(k) != key);
            before != auths.len()
        }
        None => false,
    };
    if !removed {
        return Ok(format!("Not logged in to {key}"));
    }
    write_config(&path, &cfg)?;
    Ok(format!("Removing login credentials for {key}"))
}

/// The host to talk to for a config key (Docker Hub's key → its API host).
pub fn registry_host_of_key(key: &str) -> String {
    if key == DOCKER_HUB_KEY {
        crate::client::DOCKER_HUB_HOST.to_string()
    } else {
        key.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/busybox:pull".into()),
            })
        );
        assert_eq!(
            parse_challenge(
                r#"bearer realm="http://127.0.0.1:1/t", scope="repository:a:pull,push""#
            ),
            Some(Challenge::Bearer {
                realm: "http://127.0.0.1:1/t".into(),
                service: None,
                scope: Some("repository:a:pull,push".into()),
            })
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(parse_challenge("Negotiate"), None);
        assert_eq!(parse_challenge("Bearer service=x"), None);
    }

    #[test]
    fn keys() {
        assert_eq!(config_key("docker.io"), DOCKER_HUB_KEY);
        assert_eq!(config_key("https://index.docker.io/v1/"), DOCKER_HUB_KEY);
        assert_eq!(config_key("registry-1.docker.io"), DOCKER_HUB_KEY);
        assert_eq!(config_key("http://localhost:5000/"), "localhost:5000");
        assert_eq!(config_key("localhost:5000"), "localhost:5000");
    }

    #[test]
    fn config_round_trip_keeps_other_fields() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("sub/config.json");
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(
            &p,
            r#"{"auths":{"https://localhost:5000":{"auth":"b2xkOm9sZA=="}},"psFormat":"x"}"#,
        )
        .unwrap();
        assert_eq!(
            lookup(&p, "localhost:5000").unwrap(),
            Some(("old".into(), "old".into()))
        );
        store_credentials(&p, "localhost:5000", "u", "p:w").unwrap();
        assert_eq!(
            lookup(&p, "localhost:5000").unwrap(),
            Some(("u".into(), "p:w".into()))
        );
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        assert_eq!(v["psFormat"], "x");
        assert_eq!(v["auths"].as_object().unwrap().len(), 1);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(lookup(&p, "other:1").unwrap(), None);
        let ro = RegistryOptions {
            docker_config: Some(p.clone()),
            ..Default::default()
        };
        assert_eq!(
            logout(Some("localhost:5000"), &ro).unwrap(),
            "Removing login credentials for localhost:5000"
        );
        assert_eq!(lookup(&p, "localhost:5000").unwrap(), None);
        assert_eq!(
            logout(Some("localhost:5000"), &ro).unwrap(),
            "Not logged in to localhost:5000"
        );
    }
}
