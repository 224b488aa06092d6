//! The local event log (`<root>/events.log`, JSON lines in Docker's event shape) behind
//! `docker events`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One event, as Docker prints it with `--format '{{json .}}'`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Event {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub from: String,
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "Action")]
    pub action: String,
    #[serde(rename = "Actor")]
    pub actor: Actor,
    pub scope: String,
    pub time: i64,
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Actor {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Attributes")]
    pub attributes: BTreeMap<String, String>,
}

/// `<root>/events.log`
pub fn log_path(root: &std::path::Path) -> std::path::PathBuf {
    root.join("events.log")
}

/// Appends one event (a single O_APPEND write, so concurrent writers never interleave).
pub fn append(root: &std::path::Path, ev: &Event) {
    use std::io::Write;
    let mut line = serde_json::to_vec(ev).unwrap_or_default();
    line.push(b'\n');
    use std::os::unix::fs::OpenOptionsExt;
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .open(log_path(root))
    {
        let _ = f.write_all(&line);
    }
}

/// A container event with Docker's attributes (name, image, labels) from its record.
pub fn container_event(root: &std::path::Path, id: &str, action: &str) {
    container_event_with(root, id, action, &[]);
}

pub fn container_event_with(
    root: &std::path::Path,
    id: &str,
    action: &str,
    extra: &[(&str, String)],
) {
    let rec: Option<crate::Record> =
        std::fs::read(root.join("containers").join(id).join("config.v2.json"))
            .ok()
            .and_then(|d| serde_json::from_slice(&d).ok());
    container_event_of(root, id, rec.as_ref(), action, extra);
}

/// Like [`container_event`], with the record already in hand (no re-read).
pub fn container_event_rec(root: &std::path::Path, rec: &crate::Record, action: &str) {
    container_event_of(root, &rec.id, Some(rec), action, &[]);
}

/// A container event from a record already read (None: attributes unknown).
pub fn container_event_of(
    root: &std::path::Path,
    id: &str,
    rec: Option<&crate::Record>,
    action: &str,
    extra: &[(&str, String)],
) {
    let mut attrs = BTreeMap::new();
    let mut from = String::new();
    if let Some(r) = rec {
        from = r.config.image.clone();
        attrs.insert("name".to_string(), r.short_name().to_string());
        attrs.insert("image".to_string(), from.clone());
        for (k, v) in &r.config.labels {
            attrs.insert(k.clone(), v.clone());
        }
    }
    for (k, v) in extra {
        attrs.insert(k.to_string(), v.clone());
    }
    let now = chrono::Utc::now();
    let nanos = now.timestamp_nanos_opt().unwrap_or(0);
    append(
        root,
        &Event {
            status: action.to_string(),
            id: id.to_string(),
            from,
            kind: "container".into(),
            action: action.to_string(),
            actor: Actor {
                id: id.to_string(),
                attributes: attrs,
            },
            scope: "local".into(),
            time: nanos / 1_000_000_000,
            time_nano: nanos,
        },
    );
}

/// Docker's `network connect`/`disconnect` events of a container, one per network it is on:
/// `{"Type": "network", "Action": ..., "Actor": {"ID": <network id>, "Attributes":
/// {"container", "name", "type"}}}` (no status/id/from).
pub fn network_events(
    root: &std::path::Path,
    container: &str,
    settings: &crate::types::NetworkSettings,
    action: &str,
) {
    for (name, ep) in &settings.networks {
        let driver = match name.as_str() {
            "none" => "null",
            "host" => "host",
            _ => "bridge",
        };
        let attributes = BTreeMap::from([
            ("container".to_string(), container.to_string()),
            ("name".to_string(), name.clone()),
            ("type".to_string(), driver.to_string()),
        ]);
        let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
        append(
            root,
            &Event {
                kind: "network".into(),
                action: action.into(),
                actor: Actor {
                    id: ep.network_id.clone(),
                    attributes,
                },
                scope: "local".into(),
                time: nanos / 1_000_000_000,
                time_nano: nanos,
                ..Default::default()
            },
        );
    }
}

/// Whether `ev` passes Docker's event filters (same key ORs, different keys AND).
pub fn matches(ev: &Event, filters: &[(String, String)]) -> bool {
    let mut keys: Vec<&str> = filters.iter().map(|(k, _)| k.as_str()).collect();
    keys.dedup();
    keys.iter().all(|key| {
        filters
            .iter()
            .filter(|(k, _)| k == key)
            .any(|(_, v)| match *key {
                "container" => {
                    ev.actor.id.starts_with(v.as_str())
                        || ev.actor.attributes.get("name").is_some_and(|n| n == v)
                }
                "event" => ev.action == *v || ev.action.split(':').next() == Some(v.as_str()),
                "image" => {
                    ev.from == *v || ev.actor.attributes.get("image").is_some_and(|i| i == v)
                }
                "type" => ev.kind == *v,
                "label" => match v.split_once('=') {
                    Some((lk, lv)) => ev.actor.attributes.get(lk).is_some_and(|x| x == lv),
                    None => ev.actor.attributes.contains_key(v.as_str()),
                },
                _ => true,
            })
    })
}
