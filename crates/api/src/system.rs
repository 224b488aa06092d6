//! `/_ping`, `/version`, `/info`, `/events`, `/auth`.

use crate::body::Body;
use crate::containers::unix_nanos;
use crate::error::{ApiError, ApiResult};
use crate::router::{json, read_json, stream, Req, Resp};
use crate::state::{blocking, State};
use crate::versions::{API_VERSION, MIN_API_VERSION};
use hyper::{header, StatusCode};
use serde_json::json as j;
use std::sync::Arc;

pub fn ping(r: &Req) -> Resp {
    let mut resp = if r.method == hyper::Method::HEAD {
        Resp::new(Body::empty())
    } else {
        Resp::new(Body::full("OK"))
    };
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(
        "Docker-Experimental",
        header::HeaderValue::from_static("false"),
    );
    h.insert("Builder-Version", header::HeaderValue::from_static("1"));
    h.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    h.insert(header::PRAGMA, header::HeaderValue::from_static("no-cache"));
    resp
}

struct Uname {
    release: String,
    machine: String,
    nodename: String,
}

fn uname() -> Uname {
    // SAFETY: utsname is plain data; uname fills it and returns 0 on success.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is a valid, writable utsname.
    if unsafe { libc::uname(&mut u) } != 0 {
        return Uname {
            release: String::new(),
            machine: String::new(),
            nodename: String::new(),
        };
    }
    let s = |f: &[libc::c_char]| {
        // SAFETY: uname NUL-terminates every field within its buffer.
        unsafe { std::ffi::CStr::from_ptr(f.as_ptr()) }
            .to_string_lossy()
            .to_string()
    };
    Uname {
        release: s(&u.release),
        machine: s(&u.machine),
        nodename: s(&u.nodename),
    }
}

/// Go's GOARCH names.
fn go_arch(m: &str) -> &str {
    match m {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        m => m,
    }
}

pub async fn version(_state: Arc<State>) -> ApiResult<Resp> {
    let u = uname();
    let ver = env!("CARGO_PKG_VERSION");
    Ok(json(
        StatusCode::OK,
        &j!({
            "Platform": {"Name": "berth"},
            "Components": [{
                "Name": "Engine",
                "Version": ver,
                "Details": {
                    "ApiVersion": API_VERSION,
                    "MinAPIVersion": MIN_API_VERSION,
                    "Os": "linux",
                    "Arch": go_arch(&u.machine),
                    "KernelVersion": u.release,
                },
            }],
            "Version": ver,
            "ApiVersion": API_VERSION,
            "MinAPIVersion": MIN_API_VERSION,
            "GitCommit": "",
            "GoVersion": "",
            "Os": "linux",
            "Arch": go_arch(&u.machine),
            "KernelVersion": u.release,
            "BuildTime": "",
        }),
    ))
}

fn os_name() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("PRETTY_NAME=")
                    .map(|v| v.trim_matches('"').to_string())
            })
        })
        .unwrap_or_else(|| "Linux".into())
}

fn mem_total() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("MemTotal:")
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            })
        })
        .map(|k| k * 1024)
        .unwrap_or(0)
}

pub async fn info(state: Arc<State>) -> ApiResult<Resp> {
    let root = state.engine_opts.root.display().to_string();
    let (counts, storage) = blocking(move || {
        let eng = state.engine()?;
        Ok((eng.info()?, eng.storage_info()?))
    })
    .await?;
    let (images, driver) = (storage.images, storage.driver);
    let driver_status: Vec<Vec<String>> = storage
        .driver_status
        .into_iter()
        .map(|(k, v)| vec![k, v])
        .collect();
    let u = uname();
    let ncpu = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let cgv = if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        "2"
    } else {
        "1"
    };
    Ok(json(
        StatusCode::OK,
        &j!({
            "ID": "",
            "Containers": counts.containers,
            "ContainersRunning": counts.running,
            "ContainersPaused": counts.paused,
            "ContainersStopped": counts.stopped,
            "Images": images,
            "Driver": driver,
            "DriverStatus": driver_status,
            "Plugins": {"Volume": [], "Network": ["bridge", "host", "null"], "Authorization": null, "Log": ["json-file"]},
            "MemoryLimit": true,
            "SwapLimit": true,
            "CpuCfsPeriod": true,
            "CpuCfsQuota": true,
            "CPUShares": true,
            "CPUSet": true,
            "PidsLimit": true,
            "IPv4Forwarding": true,
            "Debug": false,
            "NFd": 0,
            "OomKillDisable": false,
            "NGoroutines": 0,
            "SystemTime": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            "LoggingDriver": "json-file",
            "CgroupDriver": "cgroupfs",
            "CgroupVersion": cgv,
            "NEventsListener": 0,
            "KernelVersion": u.release,
            "OperatingSystem": os_name(),
            "OSVersion": "",
            "OSType": "linux",
            "Architecture": u.machine,
            "IndexServerAddress": "https://index.docker.io/v1/",
            "RegistryConfig": {"AllowNondistributableArtifactsCIDRs": null, "AllowNondistributableArtifactsHostnames": null, "InsecureRegistryCIDRs": ["127.0.0.0/8"], "IndexConfigs": {}, "Mirrors": null},
            "NCPU": ncpu,
            "MemTotal": mem_total(),
            "GenericResources": null,
            "DockerRootDir": root,
            "HttpProxy": "",
            "HttpsProxy": "",
            "NoProxy": "",
            "Name": u.nodename,
            "Labels": [],
            "ExperimentalBuild": false,
            "ServerVersion": env!("CARGO_PKG_VERSION"),
            "Runtimes": {"berth": {"path": "berth-runtime"}},
            "DefaultRuntime": "berth",
            "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": false, "Error": "", "RemoteManagers": null},
            "LiveRestoreEnabled": true,
            "Isolation": "",
            "InitBinary": "",
            "ContainerdCommit": {"ID": ""},
            "RuncCommit": {"ID": ""},
            "InitCommit": {"ID": ""},
            "SecurityOptions": ["name=seccomp,profile=builtin"],
            "Warnings": null,
        }),
    ))
}

pub async fn events(state: Arc<State>, r: Req) -> ApiResult<Resp> {
    let since = unix_nanos(&r, "since")?.map(|n| n as f64 / 1e9);
    let until = unix_nanos(&r, "until")?.map(|n| n as f64 / 1e9);
    let filters = crate::filters::parse(r.q("filters"))?;
    let opts = engine::EventsOptions {
        since,
        until,
        filters,
        follow: until.is_none(),
    };
    let (tx, body) = Body::channel();
    tokio::task::spawn_blocking(move || {
        let Ok(eng) = state.engine() else { return };
        let _ = eng.events(&opts, &mut |ev| {
            let mut line = serde_json::to_vec(ev).unwrap_or_default();
            line.push(b'\n');
            tx.blocking_send(line.into()).is_ok()
        });
    });
    Ok(stream("application/json", body))
}

/// `docker login` checks credentials with the daemon; berth's registry client is not behind
/// the engine yet, so only the shape is checked and the CLI keeps the credentials.
pub async fn auth(mut r: Req) -> ApiResult<Resp> {
    let _ = read_json(&mut r.inner).await?;
    Err(ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        "login through the API is not supported by berth yet: use `berth login`",
    ))
}

/// `GET /system/df`: images (with whether a container uses them), containers with their
/// sizes; berth has no volumes or build cache yet (empty lists).
pub async fn df(state: Arc<State>) -> ApiResult<Resp> {
    let (images, containers) = blocking(move || {
        let eng = state.engine()?;
        let imgs = eng.image_list(&engine::images::ImageListOptions {
            all: true,
            ..Default::default()
        })?;
        let imgs: Vec<(engine::images::ImageSummary, bool)> = imgs
            .into_iter()
            .map(|i| {
                let used = eng.image_in_use(&i.id);
                (i, used)
            })
            .collect();
        let cs = eng.list(&engine::ListOptions {
            all: true,
            size: true,
            ..Default::default()
        })?;
        Ok((imgs, cs))
    })
    .await?;
    let layers: u64 = images.iter().map(|(i, _)| i.size).sum();
    let imgs: Vec<serde_json::Value> = images
        .iter()
        .map(|(i, used)| {
            j!({
                "Id": i.id, "ParentId": i.parent_id, "RepoTags": i.repo_tags(),
                "RepoDigests": i.repo_digests(), "Created": i.created, "Size": i.size,
                "SharedSize": 0, "VirtualSize": i.size, "Labels": i.labels,
                "Containers": if *used { 1 } else { 0 },
            })
        })
        .collect();
    Ok(json(
        StatusCode::OK,
        &j!({
            "LayersSize": layers,
            "Images": imgs,
            "Containers": containers,
            "Volumes": [],
            "BuildCache": [],
        }),
    ))
}
