//! `POST /containers/{id}/wait?condition=not-running|next-exit|removed`.
//!
//! The status line goes out at once (the docker CLI sends its wait before the start and
//! blocks until the headers come), the JSON body when the condition is met. A container not
//! running yet (`docker run` waits before it starts) is first waited for through the event
//! log, read from the time of the request on so a start in between is not missed.

use crate::body::Body;
use crate::error::{ApiError, ApiResult};
use crate::router::{stream, Req, Resp};
use crate::state::{blocking, State};
use engine::{EventsOptions, WaitCondition, WaitResult};
use serde_json::json;
use std::sync::Arc;

pub async fn wait(state: Arc<State>, id: String, r: &Req) -> ApiResult<Resp> {
    let cond = match r.q("condition") {
        None | Some("") | Some("not-running") => WaitCondition::NotRunning,
        Some("next-exit") => WaitCondition::NextExit,
        Some("removed") => WaitCondition::Removed,
        Some(c) => return Err(ApiError::bad_request(format!("invalid condition: {c:?}"))),
    };
    let t0 = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0) as f64 / 1e9;
    let st = state.clone();
    let (id, status) = blocking(move || {
        let (id, status, _) = crate::containers::status_of(&st.engine()?, &id)?;
        Ok((id, status))
    })
    .await?;
    let (tx, body) = Body::channel();
    tokio::task::spawn_blocking(move || {
        let closed = || tx.is_closed();
        let res = wait_blocking(&state, &id, status, cond, t0, &closed);
        let v = match res {
            Ok(Some(w)) => json!({
                "StatusCode": w.status_code,
                "Error": w.error.map(|m| json!({"Message": m})),
            }),
            Ok(None) => return,
            Err(e) => json!({"StatusCode": -1, "Error": {"Message": e.message}}),
        };
        let _ = tx.blocking_send(format!("{v}\n").into());
    });
    Ok(stream("application/json", body))
}

fn wait_blocking(
    state: &State,
    id: &str,
    status: engine::types::ContainerStatus,
    cond: WaitCondition,
    t0: f64,
    closed: &dyn Fn() -> bool,
) -> ApiResult<Option<WaitResult>> {
    let eng = state.engine()?;
    let running = status.is_up();
    if cond != WaitCondition::NotRunning && !running {
        let mut seen = String::new();
        eng.events(
            &EventsOptions {
                since: Some(t0),
                until: None,
                filters: Vec::new(),
                follow: true,
            },
            &mut |ev| {
                if closed() {
                    return false;
                }
                if ev.kind == "container"
                    && ev.actor.id == id
                    && matches!(ev.action.as_str(), "start" | "destroy")
                {
                    seen = ev.action.clone();
                    return false;
                }
                true
            },
        )?;
        if closed() {
            return Ok(None);
        }
        if seen == "destroy" {
            return Ok(Some(last_exit(&eng, id, t0).unwrap_or_default()));
        }
    }
    match eng.wait(id, cond) {
        // Removed (`--rm`): its end is in the event log (the engine may only have had the
        // record it read before the end).
        Ok(w) if cond == WaitCondition::Removed && eng.resolve(id).is_err() => {
            Ok(Some(last_exit(&eng, id, t0).unwrap_or(w)))
        }
        Ok(w) => Ok(Some(w)),
        Err(engine::Error::NoSuchContainer(_)) => {
            Ok(Some(last_exit(&eng, id, t0).unwrap_or_default()))
        }
        Err(e) => Err(e.into()),
    }
}

/// The exit code of the container's last `die` event since `t0`.
fn last_exit(eng: &engine::Engine, id: &str, t0: f64) -> Option<WaitResult> {
    let mut code = None;
    let _ = eng.events(
        &EventsOptions {
            since: Some(t0),
            until: None,
            filters: Vec::new(),
            follow: false,
        },
        &mut |ev| {
            if ev.kind == "container" && ev.actor.id == id && ev.action == "die" {
                code = ev
                    .actor
                    .attributes
                    .get("exitCode")
                    .and_then(|c| c.parse().ok());
            }
            true
        },
    );
    code.map(|status_code| WaitResult {
        status_code,
        ..Default::default()
    })
}
