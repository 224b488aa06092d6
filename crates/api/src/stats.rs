//! `GET /containers/{id}/stats`: Docker's stats JSON, one object (`stream=false`, with a
//! previous sample a second earlier for the CPU delta, or without with `one-shot=true`) or
//! one per second.

use crate::body::Body;
use crate::error::ApiResult;
use crate::router::{stream, Req, Resp};
use crate::state::{blocking, State};
use engine::StatsSample;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

fn cpu(s: &StatsSample) -> Value {
    json!({
        "cpu_usage": {
            "total_usage": s.cpu_total_ns,
            "usage_in_kernelmode": 0,
            "usage_in_usermode": 0,
        },
        "system_cpu_usage": s.system_cpu_ns,
        "online_cpus": s.online_cpus,
        "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
    })
}

pub fn to_json(s: &StatsSample, prev: Option<(&StatsSample, &str)>) -> Value {
    let (pre, preread) = match prev {
        Some((p, t)) => (cpu(p), t.to_string()),
        None => (
            json!({"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
                   "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}}),
            "0001-01-01T00:00:00Z".to_string(),
        ),
    };
    json!({
        "read": now(),
        "preread": preread,
        "pids_stats": {"current": s.pids},
        "blkio_stats": {
            "io_service_bytes_recursive": [
                {"major": 0, "minor": 0, "op": "read", "value": s.blk_read},
                {"major": 0, "minor": 0, "op": "write", "value": s.blk_write},
            ],
        },
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": cpu(s),
        "precpu_stats": pre,
        // `usage` is already net of the page cache (the CLI subtracts stats.inactive_file,
        // absent here).
        "memory_stats": {"usage": s.mem_usage, "stats": {}, "limit": s.mem_limit},
        "name": format!("/{}", s.name),
        "id": s.id,
        "networks": {
            "eth0": {"rx_bytes": s.net_rx, "rx_packets": 0, "rx_errors": 0, "rx_dropped": 0,
                     "tx_bytes": s.net_tx, "tx_packets": 0, "tx_errors": 0, "tx_dropped": 0},
        },
    })
}

pub async fn stats(state: Arc<State>, id: String, r: &Req) -> ApiResult<Resp> {
    let streaming = r.flag_or("stream", true);
    let one_shot = r.flag("one-shot");
    let st = state.clone();
    let id2 = id.clone();
    let first = blocking(move || Ok(st.engine()?.stats(&id2)?)).await?;
    let first_at = now();
    let (tx, body) = Body::channel();
    tokio::spawn(async move {
        let mut prev = (first, first_at);
        if !streaming && one_shot {
            let _ = tx.send(line(&to_json(&prev.0, None))).await;
            return;
        }
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let (st, id2) = (state.clone(), id.clone());
            let Ok(s) = blocking(move || Ok(st.engine()?.stats(&id2)?)).await else {
                return;
            };
            let v = to_json(&s, Some((&prev.0, &prev.1)));
            if tx.send(line(&v)).await.is_err() || !streaming {
                return;
            }
            prev = (s, now());
        }
    });
    Ok(stream("application/json", body))
}

fn line(v: &Value) -> bytes::Bytes {
    let mut b = serde_json::to_vec(v).unwrap_or_default();
    b.push(b'\n');
    b.into()
}
