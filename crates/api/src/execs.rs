//! Exec instances: `POST /containers/{id}/exec` records the configuration (in this
//! process, as dockerd keeps them in memory), `POST /exec/{id}/start` runs it over a
//! hijacked stream (or detached), `/exec/{id}/json` and `/exec/{id}/resize`.

use crate::containers::typed;
use crate::error::{ApiError, ApiResult};
use crate::hijack::{input, outputs, parse_detach_keys, upgrade};
use crate::router::{json, read_json, status, Req, Resp};
use crate::state::{blocking, State};
use engine::exec_remote::{ExecHandle, RemoteIo};
use engine::types::ContainerStatus;
use engine::ExecConfig;
use hyper::StatusCode;
use serde_json::json as j;
use std::io::Write as _;
use std::net::Shutdown;
use std::sync::{Arc, Mutex};

#[derive(serde::Deserialize, serde::Serialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct CreateBody {
    /// docker-py repeats the path's container here.
    container: String,
    attach_stdin: bool,
    attach_stdout: bool,
    attach_stderr: bool,
    detach_keys: String,
    tty: bool,
    env: Vec<String>,
    cmd: Vec<String>,
    privileged: bool,
    user: String,
    working_dir: String,
    console_size: Option<[u16; 2]>,
}

#[derive(Default)]
pub struct Live {
    running: bool,
    exit_code: Option<i64>,
    handle: Option<ExecHandle>,
    started: bool,
}

pub struct ExecEntry {
    id: String,
    container: String,
    cfg: ExecConfig,
    stdout: bool,
    stderr: bool,
    live: Mutex<Live>,
}

fn new_id() -> String {
    let mut b = [0u8; 32];
    // SAFETY: getrandom into a live buffer of the given length.
    let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), 0) };
    if n != b.len() as isize {
        let t = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0) as u128;
        b[..16].copy_from_slice(&(t ^ (std::process::id() as u128) << 64).to_le_bytes());
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub async fn create(state: Arc<State>, container: String, mut r: Req) -> ApiResult<Resp> {
    let b: CreateBody = typed(read_json(&mut r.inner).await?, "exec config")?;
    if b.cmd.is_empty() {
        return Err(ApiError::bad_request("No exec command specified"));
    }
    let keys = if b.detach_keys.is_empty() {
        parse_detach_keys("ctrl-p,ctrl-q")?
    } else {
        parse_detach_keys(&b.detach_keys)?
    };
    let st = state.clone();
    let container = blocking(move || {
        let eng = st.engine()?;
        let c = eng.inspect(&container)?;
        match c.state.status {
            ContainerStatus::Running => Ok(c.id),
            ContainerStatus::Paused => Err(ApiError::new(
                StatusCode::CONFLICT,
                format!(
                    "Container {} is paused, unpause the container before exec",
                    c.id
                ),
            )),
            _ => Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("Container {} is not running", c.id),
            )),
        }
    })
    .await?;
    let cfg = ExecConfig {
        cmd: b.cmd,
        env: b.env,
        user: b.user,
        workdir: b.working_dir,
        tty: b.tty,
        attach_stdin: b.attach_stdin,
        detach: false,
        privileged: b.privileged,
        detach_keys: keys,
        console_size: b
            .console_size
            .filter(|s| s[0] > 0 && s[1] > 0)
            .map(|s| (s[0], s[1])),
    };
    let id = new_id();
    let e = Arc::new(ExecEntry {
        id: id.clone(),
        container,
        cfg,
        stdout: b.attach_stdout,
        stderr: b.attach_stderr,
        live: Mutex::new(Live::default()),
    });
    state
        .execs
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(id.clone(), e);
    Ok(json(StatusCode::CREATED, &j!({ "Id": id })))
}

fn entry(state: &State, id: &str) -> ApiResult<Arc<ExecEntry>> {
    state
        .execs
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(id)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("No such exec instance: {id}")))
}

#[derive(serde::Deserialize, serde::Serialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct StartBody {
    detach: bool,
    tty: bool,
    console_size: Option<[u16; 2]>,
}

/// Runs the exec to its end, recording its pid and exit code in the entry.
fn run(state: &State, e: &ExecEntry, cfg: &ExecConfig, io: RemoteIo) -> engine::Result<i64> {
    let eng = engine::Engine::open(state.engine_opts.clone())?;
    let res = eng.exec_remote(&e.container, cfg, io, &mut |h| {
        let mut l = e.live.lock().unwrap_or_else(|e| e.into_inner());
        l.running = true;
        l.handle = Some(h);
    });
    let mut l = e.live.lock().unwrap_or_else(|e| e.into_inner());
    l.running = false;
    match &res {
        Ok(code) if !cfg.detach => l.exit_code = Some(*code),
        Ok(_) => {}
        Err(engine::Error::Detached) => {}
        Err(err) => l.exit_code = Some(err.exit_code() as i64),
    }
    res
}

pub async fn start(state: Arc<State>, id: String, mut r: Req) -> ApiResult<Resp> {
    let b: StartBody = typed(read_json(&mut r.inner).await?, "exec start")?;
    let e = entry(&state, &id)?;
    {
        let mut l = e.live.lock().unwrap_or_else(|e| e.into_inner());
        if l.started {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("Error: Exec command {id} has already run"),
            ));
        }
        l.started = true;
    }
    let mut cfg = e.cfg.clone();
    if let Some([h, w]) = b.console_size.filter(|s| s[0] > 0 && s[1] > 0) {
        cfg.console_size = Some((h, w));
    }
    if b.detach {
        cfg.detach = true;
        let st = state.clone();
        let e2 = e.clone();
        // Started before we answer, as dockerd does: a start error is the answer.
        blocking(move || {
            let io = RemoteIo {
                stdin: None,
                stdout: Box::new(std::io::sink()),
                stderr: Box::new(std::io::sink()),
                on_detach: Box::new(|| {}),
            };
            run(&st, &e2, &cfg, io)?;
            Ok(())
        })
        .await?;
        return Ok(status(StatusCode::OK));
    }
    let tty = cfg.tty;
    let (want_out, want_err) = (e.stdout, e.stderr);
    upgrade(&state.clone(), &mut r, tty, move |conn, left| {
        let (Ok(inp), Ok((out, err)), Ok(closer)) =
            (input(&*conn, left), outputs(&*conn, tty), conn.clone_box())
        else {
            return;
        };
        let io = RemoteIo {
            stdin: cfg.attach_stdin.then_some(inp),
            stdout: if want_out {
                out
            } else {
                Box::new(std::io::sink())
            },
            stderr: if want_err {
                err
            } else {
                Box::new(std::io::sink())
            },
            on_detach: Box::new(move || closer.shut(Shutdown::Both)),
        };
        if let Err(err) = run(&state, &e, &cfg, io) {
            // The stream is the only channel left: the error as output, as dockerd does.
            let msg = format!("{err}\r\n");
            if let Ok((_, mut w)) = outputs(&*conn, tty) {
                let _ = w.write_all(msg.as_bytes());
            }
        }
        conn.shut(Shutdown::Both);
    })
}

pub async fn resize(state: Arc<State>, id: String, r: &Req) -> ApiResult<Resp> {
    let e = entry(&state, &id)?;
    let h = u16::try_from(r.int("h")?.unwrap_or(0))
        .map_err(|_| ApiError::bad_request("invalid value for h"))?;
    let w = u16::try_from(r.int("w")?.unwrap_or(0))
        .map_err(|_| ApiError::bad_request("invalid value for w"))?;
    let handle = e
        .live
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .handle
        .clone();
    match handle {
        Some(h2) => {
            h2.resize(h, w)?;
            Ok(status(StatusCode::OK))
        }
        None => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("Exec {id} is not running"),
        )),
    }
}

pub async fn inspect(state: Arc<State>, id: String) -> ApiResult<Resp> {
    let e = entry(&state, &id)?;
    let l = e.live.lock().unwrap_or_else(|e| e.into_inner());
    let (entrypoint, args) = match e.cfg.cmd.split_first() {
        Some((a, rest)) => (a.clone(), rest.to_vec()),
        None => (String::new(), Vec::new()),
    };
    Ok(json(
        StatusCode::OK,
        &j!({
            "ID": e.id,
            "Running": l.running,
            "ExitCode": l.exit_code,
            "ProcessConfig": {
                "tty": e.cfg.tty,
                "entrypoint": entrypoint,
                "arguments": args,
                "privileged": e.cfg.privileged,
                "user": e.cfg.user,
            },
            "OpenStdin": e.cfg.attach_stdin,
            "OpenStderr": e.stderr,
            "OpenStdout": e.stdout,
            "CanRemove": false,
            "ContainerID": e.container,
            "DetachKeys": "",
            "Pid": l.handle.as_ref().map(|h| h.pid).unwrap_or(0),
        }),
    ))
}
