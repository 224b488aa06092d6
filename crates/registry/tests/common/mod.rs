//! Fixtures for the registry tests: Debian's `docker-registry` on a random loopback port
//! (open, htpasswd or token auth), a token server signing RS256 JWTs with a key made by the
//! `openssl` CLI, a stalling TCP proxy, and small test images built from synthetic tars.

#![allow(dead_code)]

use base64::Engine as _;
use image::{ImageStore, Reference};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};

pub const USER: &str = "berth";
pub const PASSWORD: &str = "s3cret-pass";

pub enum Auth {
    Open,
    Htpasswd,
    Token { realm: String, cert: PathBuf },
}

/// A running `docker-registry`, killed (by PID) and its storage removed on drop.
pub struct Registry {
    child: Child,
    pub dir: tempfile::TempDir,
    pub host: String,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Registry {
    pub fn start(auth: Auth) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let host = format!("127.0.0.1:{port}");
        let auth_yaml = match &auth {
            Auth::Open => String::new(),
            Auth::Htpasswd => {
                let h = bcrypt::hash_with_result(PASSWORD, 4)
                    .unwrap()
                    .format_for_version(bcrypt::Version::TwoY);
                let p = dir.path().join("htpasswd");
                std::fs::write(&p, format!("{USER}:{h}\n")).unwrap();
                format!(
                    "auth:\n  htpasswd:\n    realm: basic-realm\n    path: {}\n",
                    p.display()
                )
            }
            Auth::Token { realm, cert } => format!(
                "auth:\n  token:\n    realm: {realm}\n    service: test-registry\n    issuer: test-issuer\n    rootcertbundle: {}\n",
                cert.display()
            ),
        };
        let cfg = format!(
            "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {host}\n{auth_yaml}",
            dir.path().join("data").display()
        );
        let cfg_path = dir.path().join("config.yml");
        std::fs::write(&cfg_path, cfg).unwrap();
        let mut child = Command::new("docker-registry")
            .arg("serve")
            .arg(&cfg_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("docker-registry (apt-get install docker-registry)");
        // Ready once it says so; the rest of its log is drained so it never blocks.
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut log = String::new();
        loop {
            match lines.next() {
                Some(Ok(l)) => {
                    log.push_str(&l);
                    log.push('\n');
                    if l.contains("listening on") {
                        break;
                    }
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("docker-registry did not start:\n{log}");
                }
            }
        }
        std::thread::spawn(move || for _ in lines {});
        Registry { child, dir, host }
    }

    /// The blob's data file in the registry's storage.
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap();
        self.dir
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn b64url(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// A token server: checks Basic credentials, grants exactly the scopes asked for.
pub struct TokenServer {
    pub realm: String,
    pub cert: PathBuf,
    pub requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    addr: String,
    _dir: tempfile::TempDir,
}

impl TokenServer {
    pub fn start() -> TokenServer {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key.pem");
        let cert = dir.path().join("cert.pem");
        let st = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args(["-subj", "/CN=berth-test-token"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stderr(Stdio::null())
            .status()
            .expect("openssl");
        assert!(st.success());
        let der = Command::new("openssl")
            .args(["x509", "-outform", "DER", "-in"])
            .arg(&cert)
            .output()
            .unwrap();
        assert!(der.status.success());
        let x5c = base64::engine::general_purpose::STANDARD.encode(&der.stdout);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let realm = format!("http://{addr}/token");
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (stop2, req2, key2) = (stop.clone(), requests.clone(), key.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let _ = serve_token(conn, &key2, &x5c, &req2);
            }
        });
        TokenServer {
            realm,
            cert,
            requests,
            stop,
            addr,
            _dir: dir,
        }
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.addr);
    }
}

fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(if b[i] == b'+' { b' ' } else { b[i] });
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

fn serve_token(
    mut conn: TcpStream,
    key: &Path,
    x5c: &str,
    log: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let mut r = BufReader::new(conn.try_clone()?);
    let mut first = String::new();
    r.read_line(&mut first)?;
    let mut authz = None;
    loop {
        let mut l = String::new();
        r.read_line(&mut l)?;
        let l = l.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            if k.eq_ignore_ascii_case("authorization") {
                authz = Some(v.trim().to_string());
            }
        }
    }
    let target = first.split_whitespace().nth(1).unwrap_or("").to_string();
    log.lock().unwrap().push(target.clone());
    let want = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
    );
    if authz.as_deref() != Some(want.as_str()) {
        let body = r#"{"details":"incorrect username or password"}"#;
        write!(
            conn,
            "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )?;
        return Ok(());
    }
    let query = target.split_once('?').map(|x| x.1).unwrap_or("");
    let mut access = Vec::new();
    for kv in query.split('&') {
        if let Some(("scope", v)) = kv.split_once('=') {
            let v = unescape(v);
            let (kind, rest) = v.split_once(':').unwrap();
            let (name, actions) = rest.rsplit_once(':').unwrap();
            access.push(serde_json::json!({
                "type": kind, "name": name,
                "actions": actions.split(',').collect::<Vec<_>>(),
            }));
        }
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    static JTI: AtomicU64 = AtomicU64::new(0);
    let header = serde_json::json!({"typ": "JWT", "alg": "RS256", "x5c": [x5c]});
    let claims = serde_json::json!({
        "iss": "test-issuer", "sub": USER, "aud": "test-registry",
        "exp": now + 600, "nbf": now - 60, "iat": now - 60,
        "jti": format!("t{}", JTI.fetch_add(1, Ordering::SeqCst)),
        "access": access,
    });
    let signing_input = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let mut p = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    p.stdin
        .take()
        .unwrap()
        .write_all(signing_input.as_bytes())?;
    let out = p.wait_with_output()?;
    assert!(out.status.success());
    let token = format!("{signing_input}.{}", b64url(&out.stdout));
    let body = serde_json::json!({"token": token, "expires_in": 600}).to_string();
    write!(
        conn,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// A TCP proxy to `target` that stops forwarding server bytes after `limit` of them (until
/// released), and says so once on `stalled`.
pub struct StallingProxy {
    pub host: String,
    release: Arc<AtomicBool>,
    pub stalled: mpsc::Receiver<()>,
    gate: Arc<(Mutex<bool>, std::sync::Condvar)>,
}

impl StallingProxy {
    pub fn start(target: &str, limit: u64) -> StallingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let release = Arc::new(AtomicBool::new(false));
        let gate = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
        let (tx, stalled) = mpsc::channel();
        let total = Arc::new(AtomicU64::new(0));
        let target = target.to_string();
        let (rel, g) = (release.clone(), gate.clone());
        std::thread::spawn(move || {
            for c in listener.incoming() {
                let Ok(client) = c else { continue };
                let Ok(server) = TcpStream::connect(&target) else {
                    continue;
                };
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || pipe(c2, s2));
                let (rel, g, tx, total) = (rel.clone(), g.clone(), tx.clone(), total.clone());
                std::thread::spawn(move || {
                    let mut server = server;
                    let mut client = client;
                    let mut buf = [0u8; 16384];
                    loop {
                        if !rel.load(Ordering::SeqCst) && total.load(Ordering::SeqCst) >= limit {
                            let _ = tx.send(());
                            let (m, cv) = &*g;
                            let mut open = m.lock().unwrap();
                            while !*open {
                                open = cv.wait(open).unwrap();
                            }
                            return;
                        }
                        let n = match server.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        total.fetch_add(n as u64, Ordering::SeqCst);
                        if client.write_all(&buf[..n]).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        StallingProxy {
            host,
            release,
            stalled,
            gate,
        }
    }

    /// Forward everything from now on (stalled connections are dropped).
    pub fn release(&self) {
        self.release.store(true, Ordering::SeqCst);
        let (m, cv) = &*self.gate;
        *m.lock().unwrap() = true;
        cv.notify_all();
    }
}

impl Drop for StallingProxy {
    fn drop(&mut self) {
        self.release();
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let _ = std::io::copy(&mut from, &mut to);
    let _ = to.shutdown(std::net::Shutdown::Write);
}

/// Deterministic incompressible bytes.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    v
}

/// A tar with regular files (path, content) and directories (path ending in '/').
pub fn make_tar(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(1_700_000_000);
        h.set_uid(0);
        h.set_gid(0);
        if path.ends_with('/') {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o755);
            h.set_size(0);
            b.append_data(&mut h, path, &[][..]).unwrap();
        } else {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_mode(0o644);
            h.set_size(data.len() as u64);
            b.append_data(&mut h, path, &data[..]).unwrap();
        }
    }
    b.into_inner().unwrap()
}

/// Builds an image from layer tars, tags it `reference`; returns its ID.
pub fn build_image(store: &ImageStore, reference: &str, tars: &[Vec<u8>], arch: &str) -> String {
    let mut op = store.begin().unwrap();
    let mut parent: Option<String> = None;
    let mut diff_ids = Vec::new();
    for t in tars {
        let l = store
            .layers()
            .register(&mut &t[..], parent.as_deref(), None)
            .unwrap();
        op.took(&l.chain_id).unwrap();
        diff_ids.push(l.diff_id.clone());
        parent = Some(l.chain_id);
    }
    let cfg = serde_json::json!({
        "architecture": arch, "os": "linux",
        "created": "2024-01-01T00:00:00Z",
        "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"], "Labels": {"arch": arch}},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": diff_ids.iter().map(|_| serde_json::json!({"created_by": "test"})).collect::<Vec<_>>(),
    });
    let raw = serde_json::to_vec(&cfg).unwrap();
    let lock = store.lock().unwrap();
    let (id, _) = store.create_locked(&lock, &mut op, &raw, None).unwrap();
    store
        .tag_locked(&lock, &id, &Reference::parse(reference).unwrap())
        .unwrap();
    drop(lock);
    op.release_all().unwrap();
    id
}

/// The standard three-layer test image: small files, a whiteout, a bigger random file.
pub fn test_layers(big: usize) -> Vec<Vec<u8>> {
    vec![
        make_tar(&[
            ("etc/", vec![]),
            ("etc/hello.txt", b"hello from berth\n".to_vec()),
            ("etc/gone.txt", b"deleted above\n".to_vec()),
            ("data/", vec![]),
            ("data/small.bin", noise(1, 100_000)),
        ]),
        make_tar(&[
            ("etc/", vec![]),
            ("etc/.wh.gone.txt", vec![]),
            ("etc/second.txt", b"layer two\n".to_vec()),
        ]),
        make_tar(&[("data/", vec![]), ("data/big.bin", noise(3, big))]),
    ]
}

/// Every file of every layer of an image: "<layer index>/<path>" → sha256 (or kind).
pub fn image_files(store: &ImageStore, id: &str) -> BTreeMap<String, String> {
    use std::os::unix::fs::FileTypeExt;
    let img = store.get(id).unwrap();
    let mut out = BTreeMap::new();
    for (i, chain) in image::config::chain_ids(img.config.diff_ids())
        .iter()
        .enumerate()
    {
        let root = store.layers().layer_dir(chain).unwrap();
        let mut stack = vec![root.clone()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let e = e.unwrap();
                let p = e.path();
                let rel = p.strip_prefix(&root).unwrap().display().to_string();
                let ft = e.file_type().unwrap();
                let v = if ft.is_dir() {
                    stack.push(p.clone());
                    "dir".to_string()
                } else if ft.is_char_device() {
                    "whiteout".to_string()
                } else {
                    hex::encode(Sha256::digest(std::fs::read(&p).unwrap()))
                };
                out.insert(format!("{i}/{rel}"), v);
            }
        }
    }
    out
}

/// A Write that collects output for assertions.
#[derive(Clone, Default)]
pub struct Captured(pub Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).to_string()
    }
    pub fn progress(&self) -> registry::Progress<'static> {
        registry::Progress::new(Box::new(self.clone()), false, false)
    }
}

/// A TCP proxy to `target` that breaks one connection after `limit` bytes from the server,
/// and records whether a later request asked for a byte range.
pub struct CuttingProxy {
    pub host: String,
    pub cut: Arc<AtomicBool>,
    pub saw_range: Arc<AtomicBool>,
}

impl CuttingProxy {
    pub fn start(target: &str, limit: u64) -> CuttingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let cut = Arc::new(AtomicBool::new(false));
        let saw_range = Arc::new(AtomicBool::new(false));
        let target = target.to_string();
        let (cut2, range2) = (cut.clone(), saw_range.clone());
        std::thread::spawn(move || {
            for c in listener.incoming() {
                let Ok(client) = c else { continue };
                let Ok(server) = TcpStream::connect(&target) else {
                    continue;
                };
                let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let range = range2.clone();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16384];
                    while let Ok(n) = c2.read(&mut buf) {
                        if n == 0 || s2.write_all(&buf[..n]).is_err() {
                            break;
                        }
                        if String::from_utf8_lossy(&buf[..n])
                            .to_ascii_lowercase()
                            .contains("range: bytes=")
                        {
                            range.store(true, Ordering::SeqCst);
                        }
                    }
                    let _ = s2.shutdown(std::net::Shutdown::Write);
                });
                let cut = cut2.clone();
                std::thread::spawn(move || {
                    let (mut server, mut client) = (server, client);
                    let mut buf = [0u8; 16384];
                    let mut sent = 0u64;
                    loop {
                        let n = match server.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if client.write_all(&buf[..n]).is_err() {
                            break;
                        }
                        sent += n as u64;
                        if sent >= limit && !cut.swap(true, Ordering::SeqCst) {
                            let _ = client.shutdown(std::net::Shutdown::Both);
                            let _ = server.shutdown(std::net::Shutdown::Both);
                            return;
                        }
                    }
                    let _ = client.shutdown(std::net::Shutdown::Write);
                });
            }
        });
        CuttingProxy {
            host,
            cut,
            saw_range,
        }
    }
}
