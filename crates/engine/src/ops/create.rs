//! `create`: validates the request, merges the image's config, reserves the name, writes the
//! record, then makes the layers.

use super::kill::parse_signal;
use super::start::{cgroup_v2_only, default_hosts};
use crate::record::{self, Record};
use crate::status::now_rfc3339;
use crate::types::{self, Config, NetworkMode};
use crate::{
    blkio, events, names, network, perms, settings, spec, storage_opts, timing, CreateRequest,
    CreateResponse, Engine, Error, Result,
};

/// Merges the image's config into the container's (Docker's `merge`).
fn merge_image_config(c: &mut Config, img: &image::config::ContainerConfig) {
    if c.user.is_empty() {
        c.user = img.user.clone();
    }
    // Docker's order: the user's variables, then the image's that the user did not set.
    let key = |e: &str| e.split('=').next().unwrap_or(e).to_string();
    for ie in img.env.iter().flatten() {
        if !c.env.iter().any(|e| key(e) == key(ie)) {
            c.env.push(ie.clone());
        }
    }
    // Docker: an entrypoint of the user's (even `--entrypoint ""`, sent as [""]) replaces the
    // image's entrypoint and cmd; [""] itself means none.
    if c.entrypoint.as_deref() == Some(&[String::new()][..]) {
        c.entrypoint = None;
    } else if c.entrypoint.as_ref().is_none_or(|e| e.is_empty()) {
        if c.cmd.as_ref().is_none_or(|v| v.is_empty()) {
            c.cmd = img.cmd.clone();
        }
        if c.entrypoint.is_none() {
            c.entrypoint = img.entrypoint.clone();
        }
    }
    if c.working_dir.is_empty() {
        c.working_dir = img.working_dir.clone();
    }
    for (k, v) in img.labels.iter().flatten() {
        c.labels.entry(k.clone()).or_insert_with(|| v.clone());
    }
    if let Some(p) = &img.exposed_ports {
        let e = c.exposed_ports.get_or_insert_with(Default::default);
        for k in p.keys() {
            e.entry(k.clone()).or_default();
        }
    }
    if let Some(v) = &img.volumes {
        let e = c.volumes.get_or_insert_with(Default::default);
        for k in v.keys() {
            e.entry(k.clone()).or_default();
        }
    }
    if c.stop_signal.is_none() && !img.stop_signal.is_empty() {
        c.stop_signal = Some(img.stop_signal.clone());
    }
    if c.on_build.is_none() {
        c.on_build = img.on_build.clone();
    }
    crate::health::merge(&mut c.healthcheck, img.healthcheck.as_ref());
    if c.shell.is_none() {
        c.shell = img.shell.clone().filter(|s| !s.is_empty());
    }
}

impl Engine {
    pub fn create(&self, req: CreateRequest) -> Result<CreateResponse> {
        self.create_inner(req, false)
    }

    /// `create` for a container that is started right after (`run`): its network namespace
    /// is made in the background meanwhile and picked up by `start`.
    pub fn create_to_start(&self, req: CreateRequest) -> Result<CreateResponse> {
        self.create_inner(req, true)
    }

    fn create_inner(&self, req: CreateRequest, prefetch: bool) -> Result<CreateResponse> {
        let mut config = req.config;
        let mut host = req.host_config;
        // The container's network namespace is slow kernel work: begun first, it is made
        // while the rest of create runs (and pinned at its path once the record dir exists).
        let early_netns = prefetch
            .then(|| network::begin_netns(&host.network_mode))
            .flatten();
        let warnings = Vec::new();
        if host.auto_remove && !matches!(host.restart_policy.name.as_str(), "" | "no") {
            return Err(Error::InvalidArgument(
                "conflicting options: cannot specify both --restart and --rm".into(),
            ));
        }
        match host.restart_policy.name.as_str() {
            "" | "no" | "always" | "unless-stopped" | "on-failure" => {}
            p => {
                return Err(Error::InvalidArgument(format!(
                    "invalid restart policy '{p}'"
                )))
            }
        }
        if host.memory > 0 && host.memory < 6 * 1024 * 1024 {
            return Err(Error::InvalidArgument(
                "Minimum memory limit allowed is 6MB".into(),
            ));
        }
        if host.memory_swap > 0 && host.memory > 0 && host.memory_swap < host.memory {
            return Err(Error::InvalidArgument(
                "Minimum memoryswap limit should be larger than memory limit, see usage".into(),
            ));
        }
        if host.nano_cpus > 0 && (host.cpu_quota > 0 || host.cpu_period > 0) {
            return Err(Error::InvalidArgument(
                "Conflicting options: Nano CPUs and CPU Period cannot both be set".into(),
            ));
        }
        if host.nano_cpus > 0 {
            let ncpu = std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1) as i64;
            if host.nano_cpus > ncpu * 1_000_000_000 {
                return Err(Error::InvalidArgument(format!(
                    "Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available"
                )));
            }
        }
        // Validate mounts and capabilities now rather than at start.
        for b in host.binds.iter().flatten() {
            spec::parse_bind(b)?;
        }
        // Docker checks the stop signal at create; a bad one would only surface at stop.
        if let Some(sig) = config.stop_signal.as_deref().filter(|s| !s.is_empty()) {
            parse_signal(sig)?;
        }
        let caps = spec::capabilities(&host)?;
        if host.security_opt.as_ref().is_some_and(|o| !o.is_empty()) {
            settings::security_opts(&host, &caps)?;
        }
        blkio::validate(&host)?;
        settings::validate(&host)?;
        if let Some(h) = &config.healthcheck {
            h.validate().map_err(Error::InvalidArgument)?;
        }
        for d in &host.devices {
            if std::fs::metadata(&d.path_on_host).is_err() {
                return Err(Error::InvalidArgument(format!(
                    "error gathering device information while adding custom device \"{}\": no such file or directory",
                    d.path_on_host
                )));
            }
        }
        let images = self.images()?;
        let image_id = images.resolve(&config.image).map_err(|e| match e {
            image::Error::NotFound(_) => Error::NoSuchImage(config.image.clone()),
            e => e.into(),
        })?;
        let img = images.get(&image_id)?;
        timing::mark("eng:c_image");
        storage_opts::validate(&host, images.layers().driver_name())?;
        if let Some(ic) = &img.config.config {
            merge_image_config(&mut config, ic);
        }
        if spec::command(&config).is_empty() {
            return Err(Error::InvalidArgument("No command specified".into()));
        }
        if host.network_mode.is_empty() {
            host.network_mode = "default".into();
        }
        if host.shm_size == 0 {
            host.shm_size = 64 << 20;
        }
        if host.log_config.kind.is_empty() {
            host.log_config.kind = "json-file".into();
        }
        if host.restart_policy.name.is_empty() {
            host.restart_policy.name = "no".into();
        }
        if host.cgroupns_mode.is_empty() {
            host.cgroupns_mode = if cgroup_v2_only() { "private" } else { "host" }.into();
        }
        if host.ipc_mode.is_empty() {
            host.ipc_mode = "private".into();
        }
        let id = hex::encode(rand::random::<[u8; 32]>());
        // Docker: a container sharing another's network namespace has that one's hostname.
        if let Some(other) = host.network_mode.strip_prefix("container:") {
            if let Ok((_, r)) = self.record(other) {
                config.hostname = r.config.hostname.clone();
            }
        }
        if config.hostname.is_empty() {
            config.hostname = if host.network_mode() == NetworkMode::Host {
                nix::unistd::gethostname()
                    .ok()
                    .and_then(|h| h.into_string().ok())
                    .unwrap_or_default()
            } else {
                id[..12].to_string()
            };
        }
        // Reserve the name (locked until the record exists, see reserve_name_locked).
        let (name, name_guard) = match &req.name {
            Some(n) => {
                let n = n.trim_start_matches('/');
                if !record::valid_name(n) {
                    return Err(Error::InvalidArgument(format!(
                        "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                    )));
                }
                let guard = record::reserve_name_locked(&self.paths, n, &id)?;
                (n.to_string(), guard)
            }
            None => {
                let mut i = 0;
                loop {
                    let n = names::generate(i);
                    match record::reserve_name_locked(&self.paths, &n, &id) {
                        Ok(guard) => break (n, guard),
                        Err(Error::NameInUse { .. }) if i < 20 => i += 1,
                        Err(e) => return Err(e),
                    }
                }
            }
        };
        timing::mark("eng:c_named");
        let dir = self.paths.dir(&id);
        // Volumes made or used here stay locked against removal until the record names them.
        let vols = match crate::volume::mounts::resolve(&self.paths, &config, &host, &|c| {
            Ok(self.record(c)?.1.mount_points)
        }) {
            Ok(v) => v,
            Err(e) => {
                record::release_name(&self.paths, &name, &id);
                return Err(e);
            }
        };
        let mounts = vols.mounts.clone();
        let mut vols = Some(vols);
        let mut created_vols = Vec::new();
        let res = (|| -> Result<Record> {
            perms::mkdir(&dir, perms::CONTAINER_DIR)
                .map_err(Error::io(format!("creating {}", dir.display())))?;
            // Held until the layers exist: a `start` or `rm` of the record waits for them.
            let lock = record::lock(&dir, &id)?;
            timing::mark("eng:c_dir");
            let store = images.layers();
            let args = spec::command(&config);
            let rec = Record {
                id: id.clone(),
                created: now_rfc3339(),
                path: args[0].clone(),
                args: args[1..].to_vec(),
                config: config.clone(),
                image: image_id.clone(),
                state: record::new_state(),
                // Like Docker: the requested endpoints (aliases, --ip) wait in Networks until
                // start turns them into live endpoints.
                network_settings: types::NetworkSettings {
                    networks: req.networking.endpoints_config.clone(),
                    ..Default::default()
                },
                name: format!("/{name}"),
                driver: store.driver_name().to_string(),
                mount_points: mounts.clone(),
                hostname_path: dir.join("hostname").display().to_string(),
                hosts_path: dir.join("hosts").display().to_string(),
                resolv_conf_path: dir.join("resolv.conf").display().to_string(),
                log_path: self.paths.log_path(&id).display().to_string(),
                ..Default::default()
            };
            if std::fs::read_to_string(self.paths.root.join("engine-driver"))
                .ok()
                .as_deref()
                != Some(store.driver_name())
            {
                let _ = record::write_atomic(
                    &self.paths.root.join("engine-driver"),
                    store.driver_name().as_bytes(),
                );
            }
            // The record first, then what it owns: killed at any point after this, `ps -a`
            // lists the container and `rm -f` removes whatever of it exists.
            record::save_host_config(&self.paths, &id, &host)?;
            record::save(&self.paths, &rec)?;
            drop(name_guard);
            if let Some(v) = vols.take() {
                created_vols = v.done(&self.paths);
            }
            timing::mark("eng:c_saved");
            if prefetch {
                let np = network::NetPaths {
                    root: &self.paths.root,
                    runroot: &self.paths.runroot,
                };
                *self.prefetched.lock().unwrap_or_else(|e| e.into_inner()) =
                    early_netns.and_then(|ns| network::prefetch_sandbox(&np, &id, ns));
            }
            let hosts = default_hosts(&config.hostname, "");
            store.prepare(
                &id,
                img.top_layer().as_deref(),
                &storage::InitLayerSpec {
                    hostname: format!("{}\n", config.hostname),
                    hosts,
                    resolv_conf: String::new(),
                },
            )?;
            timing::mark("eng:c_layers");
            drop(lock);
            Ok(rec)
        })();
        let rec = match res {
            Ok(r) => r,
            Err(e) => {
                // Removes the namespace if one was started.
                drop(
                    self.prefetched
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .take(),
                );
                let _ = images.layers().remove(&id);
                let _ = std::fs::remove_dir_all(&dir);
                record::release_name(&self.paths, &name, &id);
                match vols.take() {
                    Some(v) => v.abort(&self.paths),
                    None => crate::volume::mounts::remove_unused(&self.paths, &created_vols),
                }
                return Err(e);
            }
        };
        events::container_event_rec(&self.paths.root, &rec, "create");
        Ok(CreateResponse { id, warnings })
    }
}
