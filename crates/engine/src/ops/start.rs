//! `start`: mounts the rootfs, attaches the network, writes /etc files and the spec, then forks
//! the monitor.

use crate::record::{self, Record};
use crate::teardown::release_resources;
use crate::types::{self, ContainerStatus, HostConfig, NetworkMode};
use crate::{
    events, init, ipc, monitor, network, orphan, spec, start_record, storage_opts, timing,
    AttachOptions, Attachment, Engine, Error, Result,
};
use std::os::unix::net::UnixStream;

fn read_host_file(p: &str) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

pub(crate) fn default_hosts(hostname: &str, ip: &str) -> String {
    let mut s = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    if !ip.is_empty() {
        s.push_str(&format!("{ip}\t{hostname}\n"));
    }
    s
}

/// The host's resolv.conf without loopback nameservers (unreachable from a private netns), or
/// Google's public resolvers when nothing is left (Docker's rule).
fn container_resolv_conf(host: &HostConfig) -> String {
    let src = read_host_file("/etc/resolv.conf");
    let mut out = String::new();
    let mut ns = 0;
    for l in src.lines() {
        let t = l.trim();
        if let Some(a) = t.strip_prefix("nameserver") {
            let a = a.trim();
            if a.starts_with("127.") || a == "::1" {
                continue;
            }
            if !host.dns.is_empty() {
                continue;
            }
            ns += 1;
        }
        if (t.starts_with("search") && !host.dns_search.is_empty())
            || (t.starts_with("options") && !host.dns_options.is_empty())
        {
            continue;
        }
        out.push_str(l);
        out.push('\n');
    }
    for d in &host.dns {
        out.push_str(&format!("nameserver {d}\n"));
        ns += 1;
    }
    if ns == 0 {
        out.push_str("nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    }
    if !host.dns_search.is_empty() {
        out.push_str(&format!("search {}\n", host.dns_search.join(" ")));
    }
    if !host.dns_options.is_empty() {
        out.push_str(&format!("options {}\n", host.dns_options.join(" ")));
    }
    out
}

pub(crate) fn cgroup_v2_only() -> bool {
    std::fs::metadata("/sys/fs/cgroup/cgroup.controllers").is_ok()
}

impl Engine {
    /// Resolves `container:<x>` to the other container's namespace path.
    fn join_ns(&self, mode: &str, kind: &str) -> Result<spec::Ns> {
        if mode == "host" {
            return Ok(spec::Ns::Host);
        }
        if let Some(other) = mode.strip_prefix("container:") {
            let (oid, r) = self.record(other)?;
            if r.effective_status() != ContainerStatus::Running
                && r.effective_status() != ContainerStatus::Paused
            {
                return Err(Error::Conflict(format!(
                    "cannot join namespace of a non running container: container {oid} is not running"
                )));
            }
            return Ok(spec::Ns::Join(
                format!("/proc/{}/ns/{kind}", r.state.pid).into(),
            ));
        }
        Ok(spec::Ns::Private)
    }

    /// Everything before the monitor: rootfs mount, network, files, spec. Returns (tty,
    /// open_stdin). On error, undoes what it did.
    fn prepare_start(
        &self,
        id: &str,
        rec: &mut Record,
        host: &HostConfig,
    ) -> Result<(serde_json::Value, Vec<u8>)> {
        let images = self.images()?;
        let store = images.layers();
        timing::mark("eng:ps_store");
        let volatile = storage_opts::volatile(host);
        let rootfs = match store.mount_with(id, volatile) {
            // A create killed between its record and its layers (the record goes first, see
            // `create`): the layers of a container that never ran are exactly what create
            // makes, so make them now. Only on this error: nothing on the usual path.
            Err(storage::Error::LayerNotFound(_)) if rec.state.started_at == record::NEVER => {
                let img = images.get(&rec.image)?;
                let hostname = &rec.config.hostname;
                store.prepare(
                    id,
                    img.top_layer().as_deref(),
                    &storage::InitLayerSpec {
                        hostname: format!("{hostname}\n"),
                        hosts: default_hosts(hostname, ""),
                        resolv_conf: String::new(),
                    },
                )?;
                store.mount_with(id, volatile)?
            }
            r => r?,
        };
        timing::mark("eng:ps_mounted");
        let res = (|| -> Result<(serde_json::Value, Vec<u8>)> {
            let dir = self.paths.dir(id);
            let mode = host.network_mode.as_str();
            let prefetched = self
                .prefetched
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
                .filter(|p| p.id() == id);
            let net_mode = host.network_mode();
            let (net, hosts, resolv, settings) =
                if net_mode == NetworkMode::None && prefetched.is_none() {
                    (
                        spec::Ns::Private,
                        default_hosts(&rec.config.hostname, ""),
                        container_resolv_conf(host),
                        types::NetworkSettings {
                            networks: [("none".to_string(), types::EndpointSettings::default())]
                                .into_iter()
                                .collect(),
                            ..Default::default()
                        },
                    )
                } else if let NetworkMode::Container(other) = net_mode {
                    let (oid, _) = self.record(other)?;
                    let ns = self.join_ns(mode, "net")?;
                    let od = self.paths.dir(&oid);
                    (
                        ns,
                        std::fs::read_to_string(od.join("hosts")).unwrap_or_default(),
                        std::fs::read_to_string(od.join("resolv.conf")).unwrap_or_default(),
                        types::NetworkSettings::default(),
                    )
                } else {
                    let np = network::NetPaths {
                        root: &self.paths.root,
                        runroot: &self.paths.runroot,
                    };
                    // Requested endpoint settings only: live ones (with an EndpointID) are the
                    // previous run's and get re-created.
                    let requested = types::NetworkingConfig {
                        endpoints_config: rec
                            .network_settings
                            .networks
                            .iter()
                            .map(|(k, v)| {
                                let mut v = v.clone();
                                if !v.endpoint_id.is_empty() {
                                    v = types::EndpointSettings {
                                        aliases: v.aliases.clone(),
                                        ipam_config: v.ipam_config.clone(),
                                        ..Default::default()
                                    };
                                }
                                (k.clone(), v)
                            })
                            .collect(),
                    };
                    let a = network::attach(
                        &np,
                        id,
                        rec.short_name(),
                        &rec.config.hostname,
                        &rec.config,
                        host,
                        &requested,
                        prefetched,
                    )?;
                    let ns = match a.netns {
                        Some(p) => spec::Ns::Join(p),
                        None => spec::Ns::Host,
                    };
                    (ns, a.hosts, a.resolv_conf, a.settings)
                };
            rec.network_settings = settings;
            events::network_events(&self.paths.root, id, &rec.network_settings, "connect");
            timing::mark("eng:ps_net");
            record::write_fresh(&dir.join("hosts"), hosts.as_bytes())?;
            record::write_fresh(&dir.join("resolv.conf"), resolv.as_bytes())?;
            record::write_fresh(
                &dir.join("hostname"),
                format!("{}\n", rec.config.hostname).as_bytes(),
            )?;
            timing::mark("eng:ps_files");
            let pid = self.join_ns(&host.pid_mode, "pid")?;
            let (ipc, shm) = match host.ipc_mode.as_str() {
                "host" => (spec::Ns::Host, Some("/dev/shm".into())),
                "shareable" => {
                    let d = ipc::mount_shareable_shm(&self.paths.run_dir(id), host.shm_size)?;
                    (spec::Ns::Private, Some(d))
                }
                m => match m.strip_prefix("container:") {
                    Some(other) => {
                        let (oid, r) = self.record(other)?;
                        let oh = record::load_host_config(&self.paths, &oid)?;
                        let running = matches!(
                            r.effective_status(),
                            ContainerStatus::Running | ContainerStatus::Paused
                        );
                        let (ns, shm) =
                            ipc::donor(&oid, r.state.pid, running, &oh, &self.paths.run_dir(&oid))?;
                        (ns, Some(shm))
                    }
                    None => (spec::Ns::Private, None),
                },
            };
            let uts = self.join_ns(&host.uts_mode, "uts")?;
            let init_binary = if host.init.unwrap_or(false) {
                Some(init::binary_path())
            } else {
                None
            };
            let spec = spec::build(&spec::SpecInput {
                id,
                config: &rec.config,
                host,
                rootfs: &rootfs,
                container_dir: &dir,
                mounts: &crate::volume::mounts::prepare(
                    &self.paths,
                    id,
                    &rec.mount_points,
                    &rootfs,
                )?,
                net,
                pid,
                ipc,
                uts,
                shm,
                cgroup_v2: cgroup_v2_only(),
                init_binary,
            })?;
            timing::mark("eng:ps_spec");
            let run_dir = self.paths.run_dir(id);
            std::fs::create_dir_all(&run_dir)
                .map_err(Error::io(format!("creating {}", run_dir.display())))?;
            let bytes = serde_json::to_vec(&spec).unwrap();
            record::write_fresh(&run_dir.join("config.json"), &bytes)?;
            Ok((spec, bytes))
        })();
        if res.is_err() {
            release_resources(&self.paths, id);
        }
        res
    }

    /// Starts the container; returns its record when this call started it (None: it was
    /// already running).
    pub(crate) fn start_inner(
        &self,
        id: &str,
        client: Option<monitor::EarlyClient>,
    ) -> Result<Option<Record>> {
        let id = self.resolve(id)?;
        // A container whose monitor died is settled (and maybe restarted) first: never a
        // second copy next to one still running.
        if record::load(&self.paths, &id).is_ok_and(|r| orphan::orphaned(&r)) {
            self.settle_orphan(&id);
        }
        let lock = record::lock(&self.paths.dir(&id), &id)?;
        let mut rec = record::load(&self.paths, &id)?;
        let host = record::load_host_config(&self.paths, &id)?;
        match rec.effective_status() {
            ContainerStatus::Running | ContainerStatus::Restarting => return Ok(None),
            ContainerStatus::Paused => {
                return Err(Error::Conflict(
                    "cannot start a paused container, try unpause instead".into(),
                ))
            }
            ContainerStatus::Removing | ContainerStatus::Dead => {
                return Err(Error::Conflict(
                    "container is marked for removal and cannot be started".into(),
                ))
            }
            _ => {}
        }
        if client.is_some() {
            // Docker's CLI attaches before it starts: its `attach` event comes first.
            events::container_event_rec(&self.paths.root, &rec, "attach");
        }
        // A monitor that died (kill -9) left resources behind.
        if rec.state.status == ContainerStatus::Running
            || rec.state.status == ContainerStatus::Paused
        {
            release_resources(&self.paths, &id);
        }
        // Creating cgroup directories is slow kernel work (~0.5 ms for a v1 host's nine
        // hierarchies): a thread does it while we mount and write the spec; the runtime then
        // finds them made. Joined before the fork of the monitor.
        let cg_path = spec::cgroups_path(&host, &id);
        let cg_id = id.clone();
        let cgroups = std::thread::Builder::new()
            .stack_size(128 << 10)
            .spawn(move || {
                if let Ok(m) = cgroups::manager(Some(&cg_path), &cg_id) {
                    let _ = m.prepare_join();
                }
            })
            .ok();
        timing::mark("eng:prepare_start");
        let prepared = self.prepare_start(&id, &mut rec, &host);
        if let Some(t) = cgroups {
            let _ = t.join();
        }
        if prepared.is_err() {
            // prepare_start cleaned up, possibly before the thread made the cgroup.
            release_resources(&self.paths, &id);
        }
        let spec = prepared?;
        timing::mark("eng:spawn");
        let started = monitor::spawn(monitor::Spawn {
            paths: &self.paths,
            id: &id,
            tty: rec.config.tty,
            open_stdin: rec.config.open_stdin,
            client,
            dns: network::may_have_dns(&rec.network_settings),
            record_lock: lock.fd(),
            record: &rec,
            spec,
            health: crate::health::timing_of(rec.config.healthcheck.as_ref()),
        });
        // The monitor recorded the start (or its failure) before its reply: our copy just
        // mirrors it (start_record.rs).
        match started {
            Ok(s) => {
                start_record::mark_started(
                    &mut rec,
                    s.pid,
                    &s.started_at,
                    s.monitor_pid,
                    s.monitor_start_time,
                );
                timing::mark("eng:running");
                timing::mark("eng:saved");
                Ok(Some(rec))
            }
            Err(monitor::SpawnError { error, recorded }) => {
                if !recorded {
                    // No monitor (fork failed) or one that died before it could tell.
                    release_resources(&self.paths, &id);
                    start_record::mark_failed(&mut rec, &error);
                    let _ = record::save(&self.paths, &rec);
                }
                Err(error)
            }
        }
    }

    /// Starts a created or stopped container (no-op if running); returns when it runs.
    pub fn start(&self, id: &str) -> Result<()> {
        self.start_inner(id, None).map(|_| ())
    }

    /// Starts the container with an attach stream set up before its process runs.
    pub fn start_attached(&self, id: &str, opts: &AttachOptions) -> Result<Attachment> {
        let (a, b) = UnixStream::pair().map_err(Error::io("socketpair"))?;
        let client = monitor::EarlyClient {
            sock: b,
            stdin: opts.stdin,
            stdout: opts.stdout,
            stderr: opts.stderr,
        };
        match self.start_inner(id, Some(client))? {
            None => self.attach(id, opts),
            Some(rec) => Ok(Attachment {
                sock: a,
                tty: rec.config.tty,
                stdin: opts.stdin,
            }),
        }
    }
}
