//! Volumes, complete like Docker's `local` driver: `volume create|ls|inspect|rm|prune`, the
//! volumes of `system df`, and a container's mounts (named and anonymous volumes, image
//! `VOLUME`s, `--volumes-from`, `--mount`) resolved at create ([`mounts`]) and made ready at
//! start (copy-up from the image, `-o type=` mounts, subpaths).
//!
//! Which container uses which volume is decided from the containers' records (their
//! `MountPoints`) under `volumes/.lock`: a volume in use is never removed, a container's
//! anonymous volumes go with it on `rm -v` and `run --rm` when no other container uses them.
//! Anonymous volumes carry Docker's `com.docker.volume.anonymous` label (Docker ≥ 23): a
//! plain `volume prune` removes those only, `prune -a` every unused volume (docker CLI 28).

mod copyup;
pub(crate) mod mounts;
pub(crate) mod store;
pub(crate) mod subpath;

pub use mounts::ContainerMount;

use crate::types::Map;
use crate::{Engine, Error, Result};
use serde::{Deserialize, Serialize};

/// The label Docker (≥ 23) puts on anonymous volumes.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

/// Volume errors, with the daemon's wording.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error("get {0}: no such volume")]
    NotFound(String),
    #[error("remove {name}: volume is in use - [{}]", .ids.join(" "))]
    InUse { name: String, ids: Vec<String> },
    #[error("create {name}: {why}")]
    Invalid { name: String, why: String },
    /// Only the local driver exists.
    #[error(
        "create {name}: error looking up volume plugin {driver}: plugin \"{driver}\" not found"
    )]
    UnknownDriver { name: String, driver: String },
    #[error("Invalid filter '{0}'")]
    InvalidFilter(String),
}

/// `volume inspect` (Docker's `volume.Volume`), fields in Docker's order.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Volume {
    pub created_at: String,
    pub driver: String,
    pub labels: Option<Map<String>>,
    pub mountpoint: String,
    pub name: String,
    pub options: Option<Map<String>>,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage_data: Option<UsageData>,
}

/// `system df -v`'s per-volume usage (Docker's `volume.UsageData`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct UsageData {
    pub size: i64,
    pub ref_count: i64,
}

/// `volume create`.
#[derive(Debug, Clone, Default)]
pub struct CreateVolumeRequest {
    /// None: a generated 64-hex name.
    pub name: Option<String>,
    /// "" or "local".
    pub driver: String,
    pub labels: Map<String>,
    /// `-o`: the local driver's `type`, `device`, `o`.
    pub options: Map<String>,
}

/// `volume ls --filter` (Docker's keys: dangling, name, label, driver).
#[derive(Debug, Clone, Default)]
pub struct VolumeFilters {
    pub dangling: Option<bool>,
    /// Substrings of the name (any matches).
    pub name: Vec<String>,
    /// `K` or `K=V` (all must match).
    pub label: Vec<String>,
    pub driver: Vec<String>,
}

impl VolumeFilters {
    /// Parses `KEY=VALUE` filters; an unknown key is Docker's "Invalid filter 'KEY'".
    pub fn parse(filters: &[String]) -> Result<VolumeFilters> {
        let mut f = VolumeFilters::default();
        for s in filters {
            let Some((k, v)) = s.split_once('=') else {
                return Err(Error::InvalidArgument(format!(
                    "bad format of filter (expected name=value): {s}"
                )));
            };
            match k.trim().to_ascii_lowercase().as_str() {
                "dangling" => {
                    f.dangling = Some(match v {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        _ => {
                            return Err(Error::InvalidArgument(format!(
                                "Invalid filter 'dangling={v}'"
                            )))
                        }
                    })
                }
                "name" => f.name.push(v.to_string()),
                "label" => f.label.push(v.to_string()),
                "driver" => f.driver.push(v.to_string()),
                k => return Err(VolumeError::InvalidFilter(k.to_string()).into()),
            }
        }
        Ok(f)
    }
}

/// `volume prune`.
#[derive(Debug, Clone, Default)]
pub struct PruneVolumesRequest {
    /// `-a`: named volumes too, not only anonymous ones.
    pub all: bool,
    /// `label=K[=V]`: all must match.
    pub label: Vec<String>,
    /// `label!=K[=V]`: volumes matching all of them are kept.
    pub not_label: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PruneVolumesReport {
    pub volumes_deleted: Vec<String>,
    pub space_reclaimed: u64,
}

/// `K` or `K=V` against labels.
fn label_match(f: &str, labels: Option<&Map<String>>) -> bool {
    let Some(l) = labels else { return false };
    match f.split_once('=') {
        Some((k, v)) => l.get(k).is_some_and(|x| x == v),
        None => l.contains_key(f),
    }
}

/// A volume event in the event log (Docker's: Type volume, the name as actor, its driver).
pub(crate) fn event(root: &std::path::Path, name: &str, action: &str) {
    event_with(root, name, action, &[]);
}

/// [`event`] with more attributes (`mount`: container, destination, propagation, read/write).
pub(crate) fn event_with(
    root: &std::path::Path,
    name: &str,
    action: &str,
    extra: &[(&str, String)],
) {
    let mut attributes: std::collections::BTreeMap<String, String> =
        [("driver".to_string(), "local".to_string())].into();
    for (k, v) in extra {
        attributes.insert(k.to_string(), v.clone());
    }
    let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
    crate::events::append(
        root,
        &crate::events::Event {
            kind: "volume".into(),
            action: action.into(),
            actor: crate::events::Actor {
                id: name.into(),
                attributes,
            },
            scope: "local".into(),
            time: nanos / 1_000_000_000,
            time_nano: nanos,
            ..Default::default()
        },
    );
}

/// `<runroot>/volume-users/<id>`: the volumes a started container uses, one name a line;
/// written before they are readied, read by [`release`] when the container stops.
fn users_file(paths: &crate::record::Paths, id: &str) -> std::path::PathBuf {
    paths.runroot.join("volume-users").join(id)
}

/// Container `id` stopped (its resources are being released): its staged subpaths and the
/// `-o type=` mounts it was the last user of go, `unmount` events are logged. One failed
/// `open` for a container without volumes.
pub(crate) fn release(paths: &crate::record::Paths, id: &str) {
    let f = users_file(paths, id);
    let Ok(names) = std::fs::read_to_string(&f) else {
        return;
    };
    subpath::release(paths, id);
    store::release_mounts(paths, id);
    for n in names.lines().filter(|n| !n.is_empty()) {
        event_with(&paths.root, n, "unmount", &[("container", id.to_string())]);
    }
    let _ = std::fs::remove_file(f);
}

impl Engine {
    fn volume_of(&self, name: &str, meta: store::Meta) -> Volume {
        Volume {
            created_at: meta.created_at,
            driver: "local".into(),
            labels: meta.labels,
            mountpoint: store::data_dir(&self.paths, name).display().to_string(),
            name: name.to_string(),
            options: meta.options,
            scope: "local".into(),
            usage_data: None,
        }
    }

    /// `volume create`: a new local volume, or the existing one of that name as it is.
    pub fn volume_create(&self, req: &CreateVolumeRequest) -> Result<Volume> {
        let name = match &req.name {
            Some(n) if !n.is_empty() => n.clone(),
            _ => hex::encode(rand::random::<[u8; 32]>()),
        };
        if !matches!(req.driver.as_str(), "" | "local") {
            return Err(VolumeError::UnknownDriver {
                name,
                driver: req.driver.clone(),
            }
            .into());
        }
        if !store::valid_name(&name) {
            return Err(VolumeError::Invalid {
                why: store::invalid_name_msg(&name),
                name,
            }
            .into());
        }
        store::validate_options(&name, &req.options)?;
        let _l = store::lock(&self.paths)?;
        if store::create_locked(&self.paths, &name, &req.labels, &req.options)? {
            event(&self.paths.root, &name, "create");
        }
        self.volume_inspect(&name)
    }

    /// `volume inspect NAME`.
    pub fn volume_inspect(&self, name: &str) -> Result<Volume> {
        let meta = store::valid_name(name)
            .then(|| store::read_meta(&self.paths, name))
            .flatten()
            .ok_or_else(|| VolumeError::NotFound(name.to_string()))?;
        Ok(self.volume_of(name, meta))
    }

    /// `volume ls`: the volumes matching the filters, sorted by name.
    pub fn volume_list(&self, f: &VolumeFilters) -> Result<Vec<Volume>> {
        let users = if f.dangling.is_some() {
            store::users(&self.paths)
        } else {
            Map::new()
        };
        let mut out = Vec::new();
        for n in store::names(&self.paths) {
            let Some(meta) = store::read_meta(&self.paths, &n) else {
                continue;
            };
            if let Some(d) = f.dangling {
                if users.contains_key(&n) == d {
                    continue;
                }
            }
            if !f.name.is_empty() && !f.name.iter().any(|x| n.contains(x.as_str())) {
                continue;
            }
            if !f.driver.iter().all(|d| d == "local") {
                continue;
            }
            if !f.label.iter().all(|l| label_match(l, meta.labels.as_ref())) {
                continue;
            }
            out.push(self.volume_of(&n, meta));
        }
        Ok(out)
    }

    /// `volume rm [-f] NAME`: refuses a volume a container uses (also with `force`, as
    /// Docker); `force` makes a missing volume no error.
    pub fn volume_remove(&self, name: &str, force: bool) -> Result<()> {
        let _l = store::lock(&self.paths)?;
        if !store::valid_name(name) || store::read_meta(&self.paths, name).is_none() {
            return if force {
                Ok(())
            } else {
                Err(VolumeError::NotFound(name.to_string()).into())
            };
        }
        if let Some(ids) = store::users(&self.paths).remove(name) {
            return Err(VolumeError::InUse {
                name: name.to_string(),
                ids,
            }
            .into());
        }
        store::remove_locked(&self.paths, name)?;
        event(&self.paths.root, name, "destroy");
        Ok(())
    }

    /// `volume prune`: unused anonymous volumes (all unused ones with `all`) that match the
    /// label filters.
    pub fn volume_prune(&self, req: &PruneVolumesRequest) -> Result<PruneVolumesReport> {
        let _l = store::lock(&self.paths)?;
        let users = store::users(&self.paths);
        let mut rep = PruneVolumesReport::default();
        for n in store::names(&self.paths) {
            if users.contains_key(&n) {
                continue;
            }
            let Some(meta) = store::read_meta(&self.paths, &n) else {
                continue;
            };
            if !req.all && !store::is_anonymous(&meta) {
                continue;
            }
            let l = meta.labels.as_ref();
            if !req.label.iter().all(|f| label_match(f, l)) {
                continue;
            }
            if !req.not_label.is_empty() && req.not_label.iter().all(|f| label_match(f, l)) {
                continue;
            }
            let size = store::size(&self.paths, &n);
            if store::remove_locked(&self.paths, &n).is_ok() {
                event(&self.paths.root, &n, "destroy");
                rep.volumes_deleted.push(n);
                rep.space_reclaimed += size;
            }
        }
        Ok(rep)
    }

    /// Every volume with its size and the number of containers using it (`system df`).
    pub fn volume_usage(&self) -> Result<Vec<Volume>> {
        let users = store::users(&self.paths);
        let mut out = self.volume_list(&VolumeFilters::default())?;
        for v in &mut out {
            v.usage_data = Some(UsageData {
                size: store::size(&self.paths, &v.name) as i64,
                ref_count: users.get(&v.name).map_or(0, |u| u.len()) as i64,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_like_docker() {
        let f = VolumeFilters::parse(&[
            "dangling=true".into(),
            "name=ab".into(),
            "label=a=b".into(),
            "driver=local".into(),
        ])
        .unwrap();
        assert_eq!(f.dangling, Some(true));
        assert_eq!((f.name.len(), f.label.len(), f.driver.len()), (1, 1, 1));
        let e = VolumeFilters::parse(&["foo=bar".into()]).unwrap_err();
        assert_eq!(e.to_string(), "Invalid filter 'foo'");
        assert!(VolumeFilters::parse(&["dangling=maybe".into()]).is_err());
        assert!(VolumeFilters::parse(&["novalue".into()]).is_err());
    }

    #[test]
    fn labels_match_key_or_key_value() {
        let l: Map<String> = [("a".to_string(), "b".to_string())].into();
        assert!(label_match("a", Some(&l)));
        assert!(label_match("a=b", Some(&l)));
        assert!(!label_match("a=c", Some(&l)));
        assert!(!label_match("x", Some(&l)));
        assert!(!label_match("a", None));
    }

    #[test]
    fn errors_have_the_daemons_wording() {
        assert_eq!(
            VolumeError::InUse {
                name: "v".into(),
                ids: vec!["1".into(), "2".into()]
            }
            .to_string(),
            "remove v: volume is in use - [1 2]"
        );
        assert_eq!(
            VolumeError::NotFound("x".into()).to_string(),
            "get x: no such volume"
        );
    }

    /// Volumes of an older berth (no meta.json): 64-hex names were its anonymous volumes.
    #[test]
    fn legacy_volumes_load() {
        let d = tempfile::tempdir().unwrap();
        let paths = crate::record::Paths {
            root: d.path().to_path_buf(),
            runroot: d.path().join("run"),
        };
        let anon = "ab".repeat(32);
        for n in [anon.as_str(), "named"] {
            std::fs::create_dir_all(store::data_dir(&paths, n)).unwrap();
        }
        assert!(store::is_anonymous(
            &store::read_meta(&paths, &anon).unwrap()
        ));
        let m = store::read_meta(&paths, "named").unwrap();
        assert!(!store::is_anonymous(&m));
        chrono::DateTime::parse_from_rfc3339(&m.created_at).unwrap();
        assert_eq!(store::names(&paths), [anon.clone(), "named".into()]);
    }

    #[test]
    fn names_and_options_are_checked() {
        assert!(store::valid_name("ab") && store::valid_name("a_b.c-d") && store::valid_name("0x"));
        assert!(!store::valid_name("a") && !store::valid_name("_ab") && !store::valid_name("a/b"));
        let o = |kv: &[(&str, &str)]| -> Map<String> {
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert!(store::validate_options("v", &o(&[])).is_ok());
        assert!(
            store::validate_options("v", &o(&[("type", "tmpfs"), ("device", "tmpfs")])).is_ok()
        );
        let e = |kv| {
            store::validate_options("v", &o(kv))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(e(&[("foo", "1")]), "create v: invalid option: \"foo\"");
        assert_eq!(
            e(&[("type", "tmpfs")]),
            "create v: missing required option: \"device\""
        );
        assert_eq!(
            e(&[("device", "/x")]),
            "create v: missing required option: \"type\""
        );
        assert_eq!(
            e(&[("size", "1m")]),
            "create v: quota size requested but no quota support"
        );
    }
}
