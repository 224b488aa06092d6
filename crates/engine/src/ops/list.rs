//! `ps`: the container list and its filters.

use crate::record::{self, Record};
use crate::status::{parse_time, status_text};
use crate::types::ContainerStatus;
use crate::types::HostConfig;
use crate::{
    orphan, ContainerSummary, Engine, Error, ListOptions, PortSummary, Result, SummaryHostConfig,
    SummaryNetworkSettings,
};

impl Engine {
    fn summary(&self, r: &Record, host: Option<&HostConfig>, size: bool) -> ContainerSummary {
        let mut ports = Vec::new();
        for (k, v) in &r.network_settings.ports {
            let (port, proto) = k.split_once('/').unwrap_or((k, "tcp"));
            let pp = port.parse().unwrap_or(0);
            match v {
                Some(bs) if !bs.is_empty() && r.effective_status() == ContainerStatus::Running => {
                    for b in bs {
                        ports.push(PortSummary {
                            ip: b.host_ip.clone(),
                            private_port: pp,
                            public_port: b.host_port.parse().ok(),
                            kind: proto.into(),
                        })
                    }
                }
                _ => ports.push(PortSummary {
                    private_port: pp,
                    kind: proto.into(),
                    ..Default::default()
                }),
            }
        }
        let (size_rw, size_root) = if size {
            let (rw, root) = self.container_sizes(&r.id, &r.image);
            (Some(rw), Some(root))
        } else {
            (None, None)
        };
        // dockerd's list: arguments containing a space are put in single quotes.
        let mut command = r.path.clone();
        for a in &r.args {
            command.push(' ');
            if a.contains(' ') {
                command.push_str(&format!("'{a}'"));
            } else {
                command.push_str(a);
            }
        }
        ContainerSummary {
            id: r.id.clone(),
            names: vec![r.name.clone()],
            image: r.config.image.clone(),
            image_id: r.image.clone(),
            command,
            created: parse_time(&r.created).map(|t| t.timestamp()).unwrap_or(0),
            ports,
            size_rw,
            size_root_fs: size_root,
            labels: r.config.labels.clone(),
            state: r.effective_status().as_str().to_string(),
            status: status_text(r),
            host_config: SummaryHostConfig {
                network_mode: host.map(|h| h.network_mode.clone()).unwrap_or_default(),
            },
            network_settings: SummaryNetworkSettings {
                networks: r.network_settings.networks.clone(),
            },
            mounts: r.mount_points.iter().map(|m| m.to_mount_point()).collect(),
        }
    }

    pub(crate) fn all_records(&self) -> Vec<Record> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(self.paths.containers())
            .into_iter()
            .flatten()
            .flatten()
        {
            let n = e.file_name();
            let n = n.to_string_lossy();
            if n.len() != 64 {
                continue;
            }
            match record::load(&self.paths, &n) {
                Ok(r) if orphan::orphaned(&r) => {
                    self.settle_orphan(&n);
                    out.extend(record::load(&self.paths, &n).ok());
                }
                Ok(r) => out.push(r),
                Err(_) => {}
            }
        }
        out.sort_by(|a, b| b.created.cmp(&a.created));
        out
    }

    pub fn list(&self, opts: &ListOptions) -> Result<Vec<ContainerSummary>> {
        crate::ps_filter::validate(&opts.filters)?;
        let mut recs = self.all_records();
        let all = opts.all || opts.limit > 0 || opts.latest;
        let f = &opts.filters;
        fn get<'a>(f: &'a [(String, String)], k: &'a str) -> impl Iterator<Item = &'a str> + 'a {
            f.iter()
                .filter(move |(fk, _)| fk == k)
                .map(|(_, v)| v.as_str())
        }
        let get = |k: &'static str| get(f, k);
        // before/since are relative to the creation order.
        let pos = |q: &str, recs: &[Record]| -> Result<usize> {
            // The daemon's wording for these filters.
            let id = self.resolve(q).map_err(|e| match e {
                Error::NoSuchContainer(_) => {
                    Error::InvalidArgument(format!("no such container {q}"))
                }
                e => e,
            })?;
            Ok(recs.iter().position(|r| r.id == id).unwrap_or(0))
        };
        if let Some(b) = get("before").next() {
            let p = pos(b, &recs)?;
            recs = recs.split_off(p + 1);
        }
        if let Some(s) = get("since").next() {
            let p = pos(s, &recs)?;
            recs.truncate(p);
        }
        let mut out = Vec::new();
        for r in &recs {
            let st = r.effective_status();
            let explicit_status = get("status").next().is_some();
            // A removal in progress (or whose `rm -f` was killed) of a container still running
            // is listed, as Docker lists it (its `State.Running`).
            let up = matches!(
                st,
                ContainerStatus::Running | ContainerStatus::Paused | ContainerStatus::Restarting
            ) || (st == ContainerStatus::Removing && r.state.running && r.monitor_alive());
            if !all && !explicit_status && !up {
                continue;
            }
            let ok = crate::ps_filter::matches(
                r,
                st.as_str(),
                f,
                &|| record::load_host_config(&self.paths, &r.id).ok(),
                &|v| {
                    r.config.image == v
                        || r.image == v
                        || r.image.trim_start_matches("sha256:").starts_with(v)
                        || self
                            .images()
                            .ok()
                            .and_then(|i| i.resolve(v).ok())
                            .is_some_and(|id| id == r.image)
                },
            );
            if !ok {
                continue;
            }
            let host = record::load_host_config(&self.paths, &r.id).ok();
            out.push(self.summary(r, host.as_ref(), opts.size));
        }
        if opts.latest {
            out.truncate(1);
        } else if opts.limit > 0 {
            out.truncate(opts.limit);
        }
        Ok(out)
    }
}
