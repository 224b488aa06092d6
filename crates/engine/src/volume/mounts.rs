//! A container's mounts: resolved once at create (Docker's `registerMountPoints` and the
//! image-volume step of `createContainerOSSpecificSettings`), kept in its record's
//! `MountPoints`, made ready at every start ([`prepare`]) and released at removal.
//!
//! Order as Docker: `--volumes-from` first, then `-v` binds and `--mount`s (which replace a
//! mount of the same destination from `--volumes-from`; two of them on one destination is an
//! error), then the image's and `-v /path`'s `Config.Volumes` for destinations still free
//! (anonymous volumes). Mount targets are never resolved here: the runtime opens each one
//! inside the container's root (`openat2(RESOLVE_IN_ROOT)`), so an image's symlink cannot move
//! a mount onto the host.

use super::store::{self, VolumesLock};
use super::{event, ANONYMOUS_LABEL};
use crate::record::Paths;
use crate::types::{Config, HostConfig, Map, Mount, MountPoint};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::path::Path;

/// One of a container's mounts, as its record keeps it (Docker's `MountPoint` of
/// `config.v2.json`); [`ContainerMount::to_mount_point`] is what `inspect` shows.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerMount {
    /// "bind", "volume", "tmpfs".
    #[serde(rename = "Type")]
    pub kind: String,
    /// The volume's name ("" for binds and tmpfs).
    pub name: String,
    /// Host path: the bind source, or the volume's `_data`.
    pub source: String,
    pub destination: String,
    pub driver: String,
    pub mode: String,
    #[serde(rename = "RW")]
    pub rw: bool,
    pub propagation: String,
    /// Populate the volume from the image when it is empty at start.
    pub copy_data: bool,
    /// The `--mount` it came from (tmpfs size/mode, non-recursive binds, volume subpath).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spec: Option<Mount>,
}

impl ContainerMount {
    /// `inspect`'s Mounts entry.
    pub fn to_mount_point(&self) -> MountPoint {
        MountPoint {
            kind: self.kind.clone(),
            name: self.name.clone(),
            source: self.source.clone(),
            destination: self.destination.clone(),
            driver: self.driver.clone(),
            mode: self.mode.clone(),
            rw: self.rw,
            propagation: self.propagation.clone(),
        }
    }

    fn subpath(&self) -> &str {
        self.spec
            .as_ref()
            .and_then(|s| s.volume_options.as_ref())
            .map_or("", |o| o.subpath.as_str())
    }
}

/// A container's resolved mounts; holds `volumes/.lock` (when volumes are involved) until
/// dropped, which the caller does once the record naming them is saved.
pub(crate) struct Resolved {
    pub mounts: Vec<ContainerMount>,
    /// Volumes this resolution created (removed again by [`Resolved::abort`]).
    created: Vec<String>,
    _lock: Option<VolumesLock>,
}

impl Resolved {
    /// The container's create failed: the volumes made for it go.
    pub(crate) fn abort(self, paths: &Paths) {
        for n in &self.created {
            let _ = store::remove_locked(paths, n);
        }
    }

    /// The record is saved: the volumes made for it are announced (and returned, for a
    /// create that fails after this to remove them with [`remove_unused`]).
    pub(crate) fn done(self, paths: &Paths) -> Vec<String> {
        for n in &self.created {
            event(&paths.root, n, "create");
        }
        self.created
    }
}

fn invalid(s: String) -> Error {
    Error::InvalidArgument(s)
}

/// `-v SRC:DST[:MODE]` / `-v DST` split (validated by `spec::parse_bind` at create).
fn split_bind(b: &str) -> (&str, &str, &str) {
    let p: Vec<&str> = b.splitn(3, ':').collect();
    match p.as_slice() {
        [d] => ("", d, ""),
        [s, d] => (s, d, ""),
        [s, d, m] => (s, d, m),
        _ => ("", b, ""),
    }
}

fn clean(p: &str) -> String {
    let mut out = String::new();
    for c in p.split('/').filter(|c| !c.is_empty() && *c != ".") {
        out.push('/');
        out.push_str(c);
    }
    if out.is_empty() {
        "/".into()
    } else {
        out
    }
}

/// `--volumes-from` value: `ctr[:ro|rw]` (Docker's `parseVolumesFrom`). Returns (container,
/// read-write allowed).
fn parse_volumes_from(v: &str) -> Result<(&str, bool)> {
    match v.split_once(':') {
        None => Ok((v, true)),
        Some((c, m)) => {
            let mut rw = true;
            for o in m.split(',') {
                match o {
                    "ro" => rw = false,
                    "rw" => rw = true,
                    "z" | "Z" | "nocopy" => {}
                    _ => return Err(invalid(format!("invalid mode: {m}"))),
                }
            }
            if c.is_empty() {
                return Err(invalid(format!("invalid mode: {m}")));
            }
            Ok((c, rw))
        }
    }
}

/// Resolves the mounts of a container being created. `volumes_from` gives the mounts of
/// another container (by name or ID).
pub(crate) fn resolve(
    paths: &Paths,
    config: &Config,
    host: &HostConfig,
    volumes_from: &dyn Fn(&str) -> Result<Vec<ContainerMount>>,
) -> Result<Resolved> {
    let vf = host.volumes_from.as_deref().unwrap_or(&[]);
    let binds = host.binds.as_deref().unwrap_or(&[]);
    let ms = host.mounts.as_deref().unwrap_or(&[]);
    let anon = config.volumes.as_ref().map_or(0, |v| v.len());
    let named_bind = binds.iter().any(|b| {
        let (s, _, _) = split_bind(b);
        !s.starts_with('/')
    });
    let needs_lock =
        !vf.is_empty() || anon > 0 || named_bind || ms.iter().any(|m| m.kind == "volume");
    let lock = if needs_lock {
        Some(store::lock(paths)?)
    } else {
        None
    };
    let mut r = Resolved {
        mounts: Vec::new(),
        created: Vec::new(),
        _lock: lock,
    };
    match resolve_into(paths, config, host, volumes_from, &mut r) {
        Ok(()) => {
            r.mounts.sort_by(|a, b| a.destination.cmp(&b.destination));
            Ok(r)
        }
        Err(e) => {
            r.abort(paths);
            Err(e)
        }
    }
}

fn resolve_into(
    paths: &Paths,
    config: &Config,
    host: &HostConfig,
    volumes_from: &dyn Fn(&str) -> Result<Vec<ContainerMount>>,
    r: &mut Resolved,
) -> Result<()> {
    // 1. --volumes-from: the other container's mounts, read-only if asked.
    for v in host.volumes_from.iter().flatten() {
        let (c, rw) = parse_volumes_from(v)?;
        for m in volumes_from(c)? {
            r.mounts.retain(|x| x.destination != m.destination);
            r.mounts.push(ContainerMount {
                rw: m.rw && rw,
                mode: String::new(),
                copy_data: false,
                ..m
            });
        }
    }
    // 2. -v binds and named volumes, then --mount.
    let mut mine: Vec<String> = Vec::new();
    let mut claim = |dst: &str, r: &mut Resolved| -> Result<()> {
        let d = clean(dst);
        if d == "/" {
            return Err(invalid(format!(
                "invalid mount config: destination can't be '/': {dst}"
            )));
        }
        if mine.contains(&d) {
            return Err(invalid(format!("Duplicate mount point: {d}")));
        }
        r.mounts.retain(|x| x.destination != d);
        mine.push(d);
        Ok(())
    };
    for b in host.binds.iter().flatten() {
        let (src, dst, _ro, prop, named) = crate::spec::parse_bind(b)?;
        let (_, _, mode) = split_bind(b);
        claim(&dst, r)?;
        let ro = mode.split(',').any(|o| o == "ro");
        if named || src.is_empty() {
            let name = volume_for(paths, &src, &Map::new(), &Map::new(), r)?;
            r.mounts.push(ContainerMount {
                kind: "volume".into(),
                source: store::data_dir(paths, &name).display().to_string(),
                name,
                destination: clean(&dst),
                driver: "local".into(),
                mode: if mode.is_empty() {
                    "z".into()
                } else {
                    mode.into()
                },
                rw: !ro,
                propagation: String::new(),
                copy_data: !mode.split(',').any(|o| o == "nocopy"),
                spec: None,
            });
        } else {
            r.mounts.push(ContainerMount {
                kind: "bind".into(),
                source: src,
                destination: clean(&dst),
                mode: mode.into(),
                rw: !ro,
                propagation: if prop.is_empty() {
                    "rprivate".into()
                } else {
                    prop
                },
                ..Default::default()
            });
        }
    }
    for m in host.mounts.iter().flatten() {
        claim(&m.target, r)?;
        let dst = clean(&m.target);
        match m.kind.as_str() {
            "volume" => {
                let vo = m.volume_options.clone().unwrap_or_default();
                let dc = vo.driver_config.clone().unwrap_or_default();
                if !matches!(dc.name.as_str(), "" | "local") {
                    return Err(invalid(format!(
                        "error looking up volume plugin {}: plugin \"{}\" not found",
                        dc.name, dc.name
                    )));
                }
                let labels = vo.labels.clone().unwrap_or_default();
                let opts = dc.options.clone().unwrap_or_default();
                let name = volume_for(paths, &m.source, &labels, &opts, r)?;
                r.mounts.push(ContainerMount {
                    kind: "volume".into(),
                    source: store::data_dir(paths, &name).display().to_string(),
                    name,
                    destination: dst,
                    driver: "local".into(),
                    mode: "z".into(),
                    rw: !m.read_only,
                    propagation: String::new(),
                    copy_data: !vo.no_copy && vo.subpath.is_empty(),
                    spec: Some(m.clone()),
                });
            }
            "bind" => {
                if !Path::new(&m.source).exists() {
                    return Err(invalid(format!(
                        "invalid mount config for type \"bind\": bind source path does not exist: {}",
                        m.source
                    )));
                }
                let prop = m
                    .bind_options
                    .as_ref()
                    .map(|b| b.propagation.clone())
                    .filter(|p| !p.is_empty())
                    .unwrap_or_else(|| "rprivate".into());
                r.mounts.push(ContainerMount {
                    kind: "bind".into(),
                    source: m.source.clone(),
                    destination: dst,
                    rw: !m.read_only,
                    propagation: prop,
                    spec: Some(m.clone()),
                    ..Default::default()
                });
            }
            "tmpfs" => r.mounts.push(ContainerMount {
                kind: "tmpfs".into(),
                destination: dst,
                rw: !m.read_only,
                spec: Some(m.clone()),
                ..Default::default()
            }),
            k => {
                return Err(invalid(format!(
                    "invalid mount config: mount type unknown: \"{k}\""
                )))
            }
        }
    }
    // 3. Config.Volumes (image VOLUME, -v /path) on destinations nothing else mounts.
    let tmpfs: Vec<String> = host.tmpfs.iter().flatten().map(|(d, _)| clean(d)).collect();
    for dst in config.volumes.iter().flat_map(|v| v.keys()) {
        let d = clean(dst);
        if r.mounts.iter().any(|m| m.destination == d) || tmpfs.contains(&d) {
            continue;
        }
        let name = volume_for(paths, "", &Map::new(), &Map::new(), r)?;
        r.mounts.push(ContainerMount {
            kind: "volume".into(),
            source: store::data_dir(paths, &name).display().to_string(),
            name,
            destination: d,
            driver: "local".into(),
            mode: String::new(),
            rw: true,
            propagation: String::new(),
            copy_data: true,
            spec: None,
        });
    }
    Ok(())
}

/// The volume named `name`, created when missing ("" : a new anonymous one).
fn volume_for(
    paths: &Paths,
    name: &str,
    labels: &Map<String>,
    opts: &Map<String>,
    r: &mut Resolved,
) -> Result<String> {
    let (name, labels) = if name.is_empty() {
        let mut l = labels.clone();
        l.insert(ANONYMOUS_LABEL.into(), String::new());
        (hex::encode(rand::random::<[u8; 32]>()), l)
    } else {
        if !store::valid_name(name) {
            return Err(super::VolumeError::Invalid {
                name: name.to_string(),
                why: store::invalid_name_msg(name),
            }
            .into());
        }
        (name.to_string(), labels.clone())
    };
    store::validate_options(&name, opts)?;
    if store::create_locked(paths, &name, &labels, opts)? {
        r.created.push(name.clone());
    }
    Ok(name)
}

/// Readies container `id`'s mounts for a start and returns their OCI entries: binds' missing
/// sources made (as Docker does for `-v`), `-o type=` volumes mounted, empty volumes populated
/// from the image (`rootfs`), subpaths opened inside their volume and staged (see
/// [`super::subpath`]).
pub(crate) fn prepare(
    paths: &Paths,
    id: &str,
    mounts: &[ContainerMount],
    rootfs: &Path,
) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    let names: Vec<&str> = mounts
        .iter()
        .filter(|m| m.kind == "volume" && !m.name.is_empty())
        .map(|m| m.name.as_str())
        .collect();
    if !names.is_empty() {
        // First: what a crash leaves from here on is found and released by the stop.
        let f = super::users_file(paths, id);
        let dir = f.parent().expect("has a parent");
        crate::perms::mkdir(dir, 0o700)
            .map_err(Error::io(format!("creating {}", dir.display())))?;
        std::fs::write(&f, names.join("\n"))
            .map_err(Error::io(format!("writing {}", f.display())))?;
    }
    super::subpath::release(paths, id);
    for (n, m) in mounts.iter().enumerate() {
        let ro = if m.rw { "rw" } else { "ro" };
        match m.kind.as_str() {
            "volume" => {
                let name = &m.name;
                let data = store::data_dir(paths, name);
                if !data.is_dir() {
                    // Removed behind berth's back (records survive volumes only so): made anew.
                    let _l = store::lock(paths)?;
                    store::create_locked(paths, name, &Map::new(), &Map::new())?;
                }
                store::mount_for(paths, name, id)?;
                if m.copy_data && m.subpath().is_empty() {
                    super::copyup::populate(paths, name, rootfs, &m.destination)?;
                }
                let src = if m.subpath().is_empty() {
                    data
                } else {
                    super::subpath::stage(paths, id, n, &data, m.subpath())?
                };
                let mut opts = vec!["rbind", ro, "rprivate"];
                if !m.rw {
                    // Read-only down to the submounts (Docker >= 25 asks runc for "rro" too).
                    opts.push("rro");
                }
                out.push(json!({"destination": m.destination, "type": "bind",
                    "source": src, "options": opts}));
            }
            "bind" => {
                let spec = m.spec.as_ref();
                if !Path::new(&m.source).exists() {
                    if spec.is_some() {
                        return Err(invalid(format!(
                            "invalid mount config for type \"bind\": bind source path does not exist: {}",
                            m.source
                        )));
                    }
                    // Docker creates a missing -v source as a directory.
                    std::fs::create_dir_all(&m.source)
                        .map_err(Error::io(format!("creating bind source {}", m.source)))?;
                }
                let recursive = !spec
                    .and_then(|s| s.bind_options.as_ref())
                    .is_some_and(|b| b.non_recursive);
                let prop = if m.propagation.is_empty() {
                    "rprivate"
                } else {
                    m.propagation.as_str()
                };
                let mut opts = vec![if recursive { "rbind" } else { "bind" }, ro, prop];
                if recursive && !m.rw {
                    // Read-only down to the submounts (Docker >= 25 asks runc for "rro").
                    opts.push("rro");
                }
                out.push(json!({"destination": m.destination, "type": "bind",
                    "source": m.source, "options": opts}));
            }
            "tmpfs" => {
                let mut opts: Vec<String> = vec!["nosuid".into(), "nodev".into(), "noexec".into()];
                if let Some(t) = m.spec.as_ref().and_then(|s| s.tmpfs_options.as_ref()) {
                    if t.size_bytes > 0 {
                        opts.push(format!("size={}", t.size_bytes));
                    }
                    if t.mode > 0 {
                        opts.push(format!("mode={:o}", t.mode));
                    }
                }
                if !m.rw {
                    opts.push("ro".into());
                }
                out.push(json!({"destination": m.destination, "type": "tmpfs",
                    "source": "tmpfs", "options": opts}));
            }
            k => {
                return Err(invalid(format!(
                    "invalid mount config: mount type unknown: \"{k}\""
                )))
            }
        }
    }
    for m in mounts
        .iter()
        .filter(|m| m.kind == "volume" && !m.name.is_empty())
    {
        super::event_with(
            &paths.root,
            &m.name,
            "mount",
            &[
                ("container", id.to_string()),
                ("destination", m.destination.clone()),
                ("propagation", m.propagation.clone()),
                ("read/write", m.rw.to_string()),
            ],
        );
    }
    runtime::timing::mark("vol:prepared");
    Ok(out)
}

/// The names of a container's anonymous volumes (for `rm -v` and `--rm`).
pub(crate) fn anonymous_of(paths: &Paths, mounts: &[ContainerMount]) -> Vec<String> {
    mounts
        .iter()
        .filter(|m| m.kind == "volume" && !m.name.is_empty())
        .filter(|m| store::read_meta(paths, &m.name).is_some_and(|meta| store::is_anonymous(&meta)))
        .map(|m| m.name.clone())
        .collect()
}

/// Removes these volumes unless a container still uses them (after a container's removal).
pub(crate) fn remove_unused(paths: &Paths, names: &[String]) {
    if names.is_empty() {
        return;
    }
    runtime::timing::mark("vol:remove_unused");
    let Ok(_l) = store::lock(paths) else { return };
    let users = store::users(paths);
    for n in names {
        if !users.contains_key(n) && store::remove_locked(paths, n).is_ok() {
            event(&paths.root, n, "destroy");
        }
    }
    runtime::timing::mark("vol:removed_unused");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_from_modes() {
        assert_eq!(parse_volumes_from("c").unwrap(), ("c", true));
        assert_eq!(parse_volumes_from("c:ro").unwrap(), ("c", false));
        assert_eq!(parse_volumes_from("c:rw").unwrap(), ("c", true));
        assert_eq!(
            parse_volumes_from("c:xx").unwrap_err().to_string(),
            "invalid mode: xx"
        );
    }

    #[test]
    fn destinations_are_cleaned() {
        assert_eq!(clean("/a//b/./c/"), "/a/b/c");
        assert_eq!(clean("/"), "/");
        assert_eq!(split_bind("v:/d:ro,nocopy"), ("v", "/d", "ro,nocopy"));
        assert_eq!(split_bind("/d"), ("", "/d", ""));
    }

    /// Records written before volumes were resolved at create (Docker's MountPoint fields
    /// only) still load.
    #[test]
    fn old_mount_points_load() {
        let m: ContainerMount = serde_json::from_str(
            r#"{"Type":"volume","Name":"v","Source":"/r/volumes/v/_data","Destination":"/d","Driver":"local","Mode":"z","RW":true,"Propagation":""}"#,
        )
        .unwrap();
        assert_eq!(
            (m.kind.as_str(), m.name.as_str(), m.copy_data),
            ("volume", "v", false)
        );
        let p = serde_json::to_value(m.to_mount_point()).unwrap();
        assert_eq!(p["Name"], "v");
        assert!(p.get("CopyData").is_none());
    }

    #[test]
    fn resolution_order_and_conflicts() {
        let d = tempfile::tempdir().unwrap();
        let paths = Paths {
            root: d.path().join("root"),
            runroot: d.path().join("run"),
        };
        let src = d.path().join("src");
        std::fs::create_dir_all(&src).unwrap();
        let from = vec![ContainerMount {
            kind: "volume".into(),
            name: "shared".into(),
            destination: "/data".into(),
            rw: true,
            ..Default::default()
        }];
        let config = Config {
            volumes: Some(
                [
                    ("/data".to_string(), Default::default()),
                    ("/img".to_string(), Default::default()),
                ]
                .into(),
            ),
            ..Default::default()
        };
        let host = HostConfig {
            volumes_from: Some(vec!["other:ro".into()]),
            binds: Some(vec![format!("{}:/b", src.display()), "named:/n:ro".into()]),
            ..Default::default()
        };
        let r = resolve(&paths, &config, &host, &|c| {
            assert_eq!(c, "other");
            Ok(from.clone())
        })
        .unwrap();
        let dests: Vec<(&str, &str, bool)> = r
            .mounts
            .iter()
            .map(|m| (m.destination.as_str(), m.kind.as_str(), m.rw))
            .collect();
        // /data comes from --volumes-from (read-only), so the image's VOLUME /data adds none.
        assert_eq!(
            dests,
            [
                ("/b", "bind", true),
                ("/data", "volume", false),
                ("/img", "volume", true),
                ("/n", "volume", false)
            ]
        );
        let img = &r.mounts[2];
        assert!(img.copy_data && img.name.len() == 64);
        assert!(store::read_meta(&paths, &img.name).is_some_and(|m| store::is_anonymous(&m)));
        drop(r);
        // Two mounts on one destination.
        let host = HostConfig {
            binds: Some(vec!["a1:/x".into()]),
            mounts: Some(vec![Mount {
                kind: "tmpfs".into(),
                target: "/x/".into(),
                ..Default::default()
            }]),
            ..Default::default()
        };
        let e = resolve(&paths, &Config::default(), &host, &|_| Ok(vec![]))
            .err()
            .unwrap();
        assert_eq!(e.to_string(), "Duplicate mount point: /x");
        // The volume the failed resolution made is gone again.
        assert!(store::read_meta(&paths, "a1").is_none());
    }
}
