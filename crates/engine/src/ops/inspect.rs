//! `inspect` and `port`.

use crate::teardown::open_storage;
use crate::types::{self, ContainerJson, PortBinding};
use crate::{record, Engine, Result};
use std::collections::BTreeMap;

impl Engine {
    pub fn inspect(&self, id: &str) -> Result<ContainerJson> {
        let (id, r) = self.record(id)?;
        let host = record::load_host_config(&self.paths, &id)?;
        let mut state = r.state.clone();
        let st = r.effective_status();
        if st != state.status {
            state.running = false;
            state.paused = false;
            state.restarting = false;
            state.pid = 0;
        }
        state.status = st;
        let mut gd = types::GraphDriver {
            name: r.driver.clone(),
            ..Default::default()
        };
        if let Some(s) = open_storage(&self.paths) {
            for (k, v) in s.metadata(&id).unwrap_or_default() {
                gd.data.insert(k, v);
            }
        }
        let procfs =
            crate::procfs_serve::inspect_mode(&host, &self.paths.run_dir(&id), state.running);
        Ok(ContainerJson {
            id: id.clone(),
            created: r.created.clone(),
            path: r.path.clone(),
            args: r.args.clone(),
            state,
            image: r.image.clone(),
            resolv_conf_path: r.resolv_conf_path.clone(),
            hostname_path: r.hostname_path.clone(),
            hosts_path: r.hosts_path.clone(),
            log_path: r.log_path.clone(),
            name: r.name.clone(),
            restart_count: r.restart_count,
            driver: r.driver.clone(),
            platform: "linux".into(),
            mount_label: String::new(),
            process_label: String::new(),
            app_armor_profile: String::new(),
            exec_ids: None,
            host_config: host,
            graph_driver: gd,
            mounts: r.mount_points.iter().map(|m| m.to_mount_point()).collect(),
            config: r.config.clone(),
            network_settings: r.network_settings.clone(),
            procfs: procfs.as_str().into(),
        })
    }

    /// Published ports: "80/tcp" -> bindings.
    pub fn port(&self, id: &str) -> Result<BTreeMap<String, Option<Vec<PortBinding>>>> {
        let (_, r) = self.record(id)?;
        Ok(r.network_settings.ports.clone())
    }
}
