//! Container networking for the engine (issue 5): turns a container's NetworkMode, PortBindings,
//! PublishAllPorts, Dns*, ExtraHosts and NetworkingConfig into a network sandbox, using the
//! `network` crate (Network / Endpoint / Sandbox).
//!
//! * [`attach`] at create/start: `bridge`/`default`/`""` join the default network `bridge`
//!   (device `berth0`, created on first use), any other name a user-defined network; `none` is
//!   a sandbox with only `lo`; `host` keeps the host's namespace. `container:<x>` never comes
//!   here: the engine joins the other container's [`sandbox_path`].
//! * [`detach`] at rm: works from persisted state only (network state files + the netns bind
//!   mount), so it is idempotent and also cleans up after a crashed monitor.
//! * [`monitor_started`]: the monitor hosts the embedded DNS (127.0.0.11 in the container's
//!   namespace) for containers on user-defined networks; see the `network` crate docs for why
//!   DNS lives in the monitor.
//! * [`connect`] / [`disconnect`] for `network connect/disconnect` of a running container, and
//!   [`settings`] to rebuild inspect's NetworkSettings from the live state after those.
//! * [`list`] / [`inspect`] / [`remove`] add Docker's pre-defined `host` and `none` networks to
//!   the bridge networks of the controller, for `berth network ls/inspect/rm`.

pub use ::network as net;

use crate::types::{
    Config, EndpointIpamConfig, EndpointSettings, HostConfig, NetworkMode, NetworkSettings,
    NetworkingConfig, PortBinding,
};
use net::{files, Endpoint, EndpointOptions, Error, NetworkController, Proto};
use sha2::Digest;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What the engine needs to start a container on its network(s).
#[derive(Debug, Clone, Default)]
pub struct NetAttachment {
    /// Network namespace for the OCI spec to join; None = the host's (NetworkMode "host").
    pub netns: Option<PathBuf>,
    /// inspect's NetworkSettings (IPAddress, Gateway, MacAddress, Networks{...}, Ports, SandboxKey).
    pub settings: NetworkSettings,
    /// Content of the container's /etc/hosts and /etc/resolv.conf.
    pub hosts: String,
    pub resolv_conf: String,
}

/// Paths the networking state lives under.
#[derive(Debug, Clone)]
pub struct NetPaths<'a> {
    /// `--root` (network state in <root>/network).
    pub root: &'a Path,
    /// `--runroot` (netns bind mounts in <runroot>/netns).
    pub runroot: &'a Path,
}

impl NetPaths<'_> {
    pub fn controller(&self) -> Result<NetworkController, Error> {
        NetworkController::open(self.root, self.runroot)
    }
}

/// The container's sandbox: the one started early by [`prefetch_sandbox`], or a new one.
fn sandbox(
    ctl: &NetworkController,
    id: &str,
    prefetched: Option<net::PendingSandbox>,
) -> Result<net::Sandbox, Error> {
    match prefetched {
        Some(p) if p.id() == id => Ok(p.wait()?),
        _ => {
            // A sandbox of a container that does not run (the caller, its starter, holds the
            // record lock): left by a start killed after it made it (issue 12). Its endpoints,
            // addresses and namespace go first, else the bind fails with "File exists".
            if ctl.sandbox_path(id).exists() {
                ctl.release_sandbox(id)?;
            }
            Ok(ctl.create_sandbox(id)?)
        }
    }
}

/// For a container about to be created and started: begins making its network namespace in
/// the background, so that kernel work overlaps the rest of create (None for modes that make
/// no namespace of their own: host, container:).
pub fn begin_netns(mode: &str) -> Option<net::netns::Unbound> {
    if matches!(
        NetworkMode::parse(mode),
        NetworkMode::Host | NetworkMode::Container(_)
    ) {
        return None;
    }
    net::netns::Unbound::start().ok()
}

/// The namespace begun by [`begin_netns`] becomes the sandbox of container `id`.
pub fn prefetch_sandbox(
    paths: &NetPaths,
    id: &str,
    ns: net::netns::Unbound,
) -> Option<net::PendingSandbox> {
    paths.controller().ok()?.pending_sandbox(id, ns).ok()
}

/// Whether a container with these settings may be on a network with the embedded DNS (user
/// networks have it; the default bridge, none and host don't).
pub fn may_have_dns(settings: &crate::types::NetworkSettings) -> bool {
    // A port on [::1] needs the monitor's userland proxy, on any network.
    let loopback6 = settings
        .ports
        .values()
        .flatten()
        .flatten()
        .any(|b| b.host_ip == "::1");
    loopback6
        || settings
            .networks
            .keys()
            .any(|n| !matches!(n.as_str(), "bridge" | "none" | "host" | "default"))
}

/// The network a NetworkMode refers to: None for host/none/container modes.
fn network_of_mode(mode: &str) -> Option<&str> {
    NetworkMode::parse(mode).network(net::DEFAULT_NETWORK)
}

/// Where the sandbox of container `id` is (or would be) bind-mounted; `container:<id>` joins it.
pub fn sandbox_path(paths: &NetPaths, id: &str) -> PathBuf {
    paths.runroot.join("netns").join(id)
}

/// Sets up the sandbox of container `id` for NetworkMode "none", "host", "bridge"/"default" or a
/// user network name ("container:<x>" is resolved by the engine before this call: it joins the
/// other container's namespace and never calls attach). Nothing is left behind on error.
#[allow(clippy::too_many_arguments)] // one container start's inputs, all distinct
pub fn attach(
    paths: &NetPaths,
    id: &str,
    name: &str,
    hostname: &str,
    config: &Config,
    host: &HostConfig,
    netcfg: &NetworkingConfig,
    prefetched: Option<net::PendingSandbox>,
) -> Result<NetAttachment, Error> {
    let mode = host.network_mode.as_str();
    if let NetworkMode::Container(_) = host.network_mode() {
        return Err(Error::Invalid(format!(
            "network mode {mode} is resolved by the engine, not attached"
        )));
    }
    let dns = parse_dns(&host.dns)?;
    let extra = host.extra_hosts.as_deref().unwrap_or_default();
    let host_resolv = files::ResolvConf::host();
    let full_hostname = if config.domainname.is_empty() {
        hostname.to_string()
    } else {
        format!("{hostname}.{}", config.domainname)
    };
    let short_alias: Vec<String> = if config.domainname.is_empty() {
        vec![]
    } else {
        vec![hostname.to_string()]
    };
    let ports = port_bindings(config, host)?;
    let exposed = exposed_keys(config, host);

    let Some(netname) = network_of_mode(mode) else {
        // Published ports mean nothing without a bridge: Docker discards them in host mode
        // (the CLI warns) and ignores them with none.
        let ctl = paths.controller()?;
        let extra = parse_extra_hosts(extra, || default_gateway(&ctl))?;
        let mut settings = NetworkSettings {
            ports: exposed.into_iter().map(|k| (k, None)).collect(),
            ..Default::default()
        };
        // Docker's inspect names the pre-defined network here too (events use it).
        settings.networks.insert(
            mode.to_string(),
            EndpointSettings {
                network_id: predefined(mode).id,
                ..Default::default()
            },
        );
        if host.network_mode() == NetworkMode::Host {
            // The host's own files, like Docker; --dns* and --add-host still apply.
            let mut hosts = std::fs::read_to_string("/etc/hosts")
                .unwrap_or_else(|_| files::hosts(&full_hostname, None, &[], &[]));
            for (n, ip) in &extra {
                hosts.push_str(&format!("{ip}\t{n}\n"));
            }
            let resolv =
                if dns.is_empty() && host.dns_search.is_empty() && host.dns_options.is_empty() {
                    std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default()
                } else {
                    custom_resolv(&host_resolv, &dns, host)
                };
            return Ok(NetAttachment {
                netns: None,
                settings,
                hosts,
                resolv_conf: resolv,
            });
        }
        // none: an empty namespace with lo.
        let sb = sandbox(&ctl, id, prefetched)?;
        settings.sandbox_key = sb.path().display().to_string();
        settings.sandbox_id = id.to_string();
        let netns = Some(sb.path().to_path_buf());
        return Ok(NetAttachment {
            netns,
            settings,
            hosts: files::hosts(&full_hostname, None, &short_alias, &extra),
            resolv_conf: files::resolv_conf(
                &host_resolv,
                false,
                &dns,
                &host.dns_search,
                &host.dns_options,
            ),
        });
    };

    let ctl = paths.controller()?;
    let network = if netname == net::DEFAULT_NETWORK {
        ctl.ensure_default_network()?
    } else {
        ctl.inspect(netname)?
    };
    let user_net = network.name != net::DEFAULT_NETWORK;
    // EndpointsConfig is keyed by what the user typed (name or id).
    let epcfg = netcfg
        .endpoints_config
        .get(mode)
        .or_else(|| netcfg.endpoints_config.get(&network.name))
        .or_else(|| netcfg.endpoints_config.get(&network.id));
    let (ip, aliases, ip6) = endpoint_request(epcfg, user_net)?;
    let gateway: Option<Ipv4Addr> = network
        .ipam
        .config
        .first()
        .and_then(|c| c.gateway.parse().ok());
    let extra = parse_extra_hosts(extra, || {
        gateway.ok_or_else(|| Error::Invalid("network has no gateway".into()))
    })?;
    let bindings = to_net_bindings(&ports)?;

    let sb = sandbox(&ctl, id, prefetched)?;
    let joined = ctl.join(
        &sb,
        &network.id,
        EndpointOptions {
            name: name.trim_start_matches('/').to_string(),
            ip,
            ip6,
            aliases: aliases.clone(),
            port_bindings: bindings,
            ..Default::default()
        },
    );
    let sandbox_key = sb.path().to_path_buf();
    // The handle's netlink socket pins the namespace; the engine must not depend on it.
    drop(sb);
    let ep = match joined {
        Ok(ep) => ep,
        Err(e) => {
            // join undid its own work; the namespace is ours to remove.
            let _ = ctl.destroy_sandbox(id);
            return Err(e);
        }
    };
    // The bridge device of this network only: no second read of every network's state.
    let bridges: BTreeMap<String, String> = network
        .options
        .get("com.docker.network.bridge.name")
        .map(|b| (network.id.clone(), b.clone()))
        .into_iter()
        .collect();
    let settings = build_settings(
        id,
        &sandbox_key,
        std::slice::from_ref(&ep),
        &exposed,
        &bridges,
        epcfg,
    );
    Ok(NetAttachment {
        netns: Some(sandbox_key),
        settings,
        hosts: with_v6_host_line(
            files::hosts(&full_hostname, Some(ep.ipv4), &short_alias, &extra),
            &ep,
            &full_hostname,
            &short_alias,
        ),
        resolv_conf: files::resolv_conf(
            &host_resolv,
            ep.dns,
            &dns,
            &host.dns_search,
            &host.dns_options,
        ),
    })
}

/// Tears down everything `attach` made for `id` (veth, nft elements, IPAM, netns). Idempotent:
/// also used by `rm -f` after a crash. Uses the fast path: the kernel deletes the veth pairs
/// together with the namespace as soon as nothing holds it any more, so call this after the
/// container's processes are gone and the monitor dropped its [`net::dns::DnsServer`].
/// `detach` for a container of NetworkMode "none": it can have no endpoint (Docker refuses
/// `network connect` for it), so only its namespace goes; no network state is read.
pub fn detach_none(paths: &NetPaths, id: &str) -> Result<(), Error> {
    if id.is_empty() || id.contains('/') {
        return Err(Error::Invalid(format!("invalid container id {id:?}")));
    }
    let p = sandbox_path(paths, id);
    net::netns::remove(&p).map_err(|e| Error::Kernel(format!("removing {}: {e}", p.display())))
}

pub fn detach(paths: &NetPaths, id: &str) -> Result<(), Error> {
    if id.is_empty() || id.contains('/') {
        return Err(Error::Invalid(format!("invalid container id {id:?}")));
    }
    // Nothing was ever set up under this root: no need to create state dirs.
    if !paths.root.join("network").exists() && !sandbox_path(paths, id).exists() {
        return Ok(());
    }
    paths.controller()?.release_sandbox(id)
}

/// For the monitor, once the container runs: starts the embedded DNS server (127.0.0.11:53 in
/// the container's namespace) when the container is on a user-defined network; None on the
/// default bridge, none, host and container: modes. Cheap: one read of the network state.
/// Drop the server when the container exits (its socket pins the namespace).
///
/// Upstream servers are the container's `--dns` (from `<root>/containers/<id>/hostconfig.json`)
/// or the host's resolvers, queried from the monitor's (host) namespace.
///
/// It also starts the userland proxy of the container's `[::1]` published ports
/// ([`net::proxy6`]: the kernel cannot DNAT the v6 loopback).
pub fn monitor_started(paths: &NetPaths, id: &str, pid: i32) -> Option<MonitorNet> {
    let _ = pid; // the sandbox path names the namespace; pid kept for the agreed interface
    let ctl = paths.controller().ok()?;
    let eps = ctl.endpoints(id).ok()?;
    let pairs: Vec<_> = eps.iter().flat_map(net::proxy6::pairs).collect();
    let proxy = (!pairs.is_empty())
        .then(|| {
            net::proxy6::Proxy6::start(&pairs)
                .map_err(|e| eprintln!("berth: [::1] port proxy for container {id}: {e}"))
                .ok()
        })
        .flatten();
    if !eps.iter().any(|e| e.dns) {
        return proxy.map(|p| MonitorNet {
            _dns: None,
            _proxy: Some(p),
        });
    }
    let upstreams = upstreams_for(paths.root, id);
    let ctl = Arc::new(ctl);
    let owned_id = id.to_string();
    let lookup: net::dns::Lookup = Arc::new(move |name: &str| lookup_name(&ctl, &owned_id, name));
    let dns = net::dns::DnsServer::start(
        &sandbox_path(paths, &eps[0].container_id),
        upstreams,
        lookup,
    )
    .map_err(|e| {
        eprintln!(
            "berth: embedded DNS for container {}: {e}",
            eps[0].container_id
        )
    })
    .ok();
    (dns.is_some() || proxy.is_some()).then_some(MonitorNet {
        _dns: dns,
        _proxy: proxy,
    })
}

/// What a container's monitor serves for its network while the container runs: the embedded
/// DNS server and the `[::1]` port proxy. Both stop when it is dropped.
pub struct MonitorNet {
    _dns: Option<net::dns::DnsServer>,
    _proxy: Option<net::proxy6::Proxy6>,
}

/// Names visible to a container: those of every DNS-enabled network it is on right now.
fn lookup_name(ctl: &NetworkController, id: &str, name: &str) -> Option<Vec<IpAddr>> {
    let name = name.trim_end_matches('.');
    let mut out: Vec<IpAddr> = Vec::new();
    for ep in ctl.endpoints(id).ok()? {
        if !ep.dns {
            continue;
        }
        if let Some(ips) = ctl
            .dns_records(&ep.network_id)
            .ok()
            .and_then(|mut r| r.remove(name))
        {
            for ip in ips {
                if !out.contains(&ip) {
                    out.push(ip);
                }
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

fn upstreams_for(root: &Path, id: &str) -> Vec<std::net::SocketAddr> {
    let hc: Option<HostConfig> =
        std::fs::read(root.join("containers").join(id).join("hostconfig.json"))
            .ok()
            .and_then(|d| serde_json::from_slice(&d).ok());
    let custom: Vec<IpAddr> = hc
        .map(|h| h.dns.iter().filter_map(|s| s.parse().ok()).collect())
        .unwrap_or_default();
    if custom.is_empty() {
        files::ResolvConf::host().upstreams()
    } else {
        custom.into_iter().map(|ip| (ip, 53).into()).collect()
    }
}

/// `network connect`: joins the running container's sandbox to `network`. `--alias` and `--ip`
/// only on user-defined networks (Docker's rule). Returns the new entry of NetworkSettings.Networks.
pub fn connect(
    paths: &NetPaths,
    id: &str,
    network: &str,
    aliases: &[String],
    ip: Option<Ipv4Addr>,
) -> Result<(String, EndpointSettings), Error> {
    connect_dual(paths, id, network, aliases, ip, None)
}

/// [`connect`] with `--ip6` too (dual-stack networks).
pub fn connect_dual(
    paths: &NetPaths,
    id: &str,
    network: &str,
    aliases: &[String],
    ip: Option<Ipv4Addr>,
    ip6: Option<Ipv6Addr>,
) -> Result<(String, EndpointSettings), Error> {
    let ctl = paths.controller()?;
    let (name, mode) = container_record(paths.root, id);
    match mode.as_str() {
        "host" | "none" => {
            return Err(Error::Invalid(format!(
                "container {} uses --network {mode} and cannot be connected to other networks",
                display_name(&name, id)
            )))
        }
        m if m.starts_with("container:") => {
            return Err(Error::Invalid(format!(
                "container {} shares the network namespace of another container and cannot be connected to networks",
                display_name(&name, id)
            )))
        }
        _ => {}
    }
    let network = if network_of_mode(network) == Some(net::DEFAULT_NETWORK) {
        ctl.ensure_default_network()?
    } else {
        ctl.inspect(network)?
    };
    if network.name == net::DEFAULT_NETWORK
        && (ip.is_some() || ip6.is_some() || !aliases.is_empty())
    {
        return Err(Error::Invalid(
            "network-scoped aliases and user specified IP addresses are supported only on user defined networks".into(),
        ));
    }
    let sb = ctl.open_sandbox(id).map_err(|_| {
        Error::Invalid(format!(
            "container {} is not running: connect works on running containers",
            display_name(&name, id)
        ))
    })?;
    let ep = ctl.join(
        &sb,
        &network.id,
        EndpointOptions {
            name: name.clone(),
            ip,
            ip6,
            aliases: aliases.to_vec(),
            ..Default::default()
        },
    )?;
    let cfg = (ip.is_some() || ip6.is_some()).then(|| EndpointSettings {
        ipam_config: Some(EndpointIpamConfig {
            ipv4_address: ip.map(|a| a.to_string()).unwrap_or_default(),
            ipv6_address: ip6.map(|a| a.to_string()).unwrap_or_default(),
        }),
        ..Default::default()
    });
    let settings = endpoint_settings(&ep, cfg.as_ref());
    one_network_event(paths.root, id, &ep.network_name, &settings, "connect");
    Ok((ep.network_name.clone(), settings))
}

/// Docker's network event for one endpoint of the container.
fn one_network_event(
    root: &std::path::Path,
    id: &str,
    name: &str,
    ep: &EndpointSettings,
    action: &str,
) {
    let mut s = crate::types::NetworkSettings::default();
    s.networks.insert(name.to_string(), ep.clone());
    crate::events::network_events(root, id, &s, action);
}

/// `network disconnect`: removes the container's endpoint on `network` (veth, ports, IP).
pub fn disconnect(paths: &NetPaths, id: &str, network: &str) -> Result<(), Error> {
    let ctl = paths.controller()?;
    let key = if network_of_mode(network) == Some(net::DEFAULT_NETWORK) {
        net::DEFAULT_NETWORK
    } else {
        network
    };
    let n = ctl.inspect(key)?;
    if !n.containers.contains_key(id) {
        let (name, _) = container_record(paths.root, id);
        return Err(Error::Invalid(format!(
            "container {} is not connected to network {}",
            display_name(&name, id),
            n.name
        )));
    }
    ctl.leave(id, &n.id)?;
    let ep = EndpointSettings {
        network_id: n.id.clone(),
        ..Default::default()
    };
    one_network_event(paths.root, id, &n.name, &ep, "disconnect");
    Ok(())
}

/// inspect's NetworkSettings rebuilt from the live network state (after connect/disconnect).
/// `config`/`host` supply the exposed ports; None when the container has no sandbox (host mode,
/// not running).
pub fn settings(
    paths: &NetPaths,
    id: &str,
    config: &Config,
    host: &HostConfig,
    netcfg: &NetworkingConfig,
) -> Result<NetworkSettings, Error> {
    let ctl = paths.controller()?;
    let eps = ctl.endpoints(id)?;
    let exposed = exposed_keys(config, host);
    let sb = sandbox_path(paths, id);
    let mut s = build_settings(id, &sb, &eps, &exposed, &bridge_names(&ctl), None);
    for ep in &eps {
        let cfg = netcfg
            .endpoints_config
            .get(&ep.network_name)
            .and_then(|c| c.ipam_config.clone());
        if let (Some(n), Some(c)) = (s.networks.get_mut(&ep.network_name), cfg) {
            n.ipam_config = Some(c);
        }
    }
    if eps.is_empty() {
        if let Some(m) = ["host", "none"]
            .into_iter()
            .find(|m| *m == host.network_mode)
        {
            // Docker's inspect names the pre-defined network here too (events use it).
            s.networks.insert(
                m.into(),
                EndpointSettings {
                    network_id: predefined(m).id,
                    ..Default::default()
                },
            );
        }
        if host.network_mode() == NetworkMode::Host {
            s.sandbox_key.clear();
        }
    }
    Ok(s)
}

// ---------- networks for `berth network ...` ----------

/// Deterministic ids for the pre-defined host and none networks (they have no state).
fn predefined(name: &str) -> net::Network {
    let id = hex::encode(sha2::Sha256::digest(format!(
        "berth predefined network {name}"
    )));
    net::Network {
        name: name.into(),
        id,
        created: "0001-01-01T00:00:00Z".into(),
        scope: "local".into(),
        driver: if name == "host" { "host" } else { "null" }.into(),
        enable_ipv6: false,
        ipam: net::Ipam {
            driver: "default".into(),
            options: BTreeMap::new(),
            config: vec![],
        },
        internal: false,
        attachable: false,
        ingress: false,
        containers: BTreeMap::new(),
        options: BTreeMap::new(),
        labels: BTreeMap::new(),
    }
}

/// Every network, like `docker network ls`: the bridge networks plus `host` and `none`.
pub fn list(paths: &NetPaths) -> Result<Vec<net::Network>, Error> {
    let mut v = paths.controller()?.list()?;
    v.push(predefined("host"));
    v.push(predefined("none"));
    Ok(v)
}

/// A network by name, id or unique id prefix (including `host` and `none`).
pub fn inspect(paths: &NetPaths, key: &str) -> Result<net::Network, Error> {
    match paths.controller()?.inspect(key) {
        Err(Error::NotFound(_)) => {}
        r => return r,
    }
    let m: Vec<net::Network> = ["host", "none"]
        .into_iter()
        .map(predefined)
        .filter(|n| n.name == key || (!key.is_empty() && n.id.starts_with(key)))
        .collect();
    m.into_iter()
        .next()
        .ok_or_else(|| Error::NotFound(key.to_string()))
}

/// `network rm`: the pre-defined networks cannot be removed (Docker's message).
pub fn remove(paths: &NetPaths, key: &str) -> Result<String, Error> {
    let n = inspect(paths, key)?;
    if ["bridge", "host", "none"].contains(&n.name.as_str()) {
        return Err(Error::Invalid(format!(
            "{} is a pre-defined network and cannot be removed",
            n.name
        )));
    }
    paths.controller()?.remove_network(&n.id)?;
    Ok(n.name)
}

// ---------- helpers ----------

fn display_name(name: &str, id: &str) -> String {
    if name.is_empty() {
        id.chars().take(12).collect()
    } else {
        name.to_string()
    }
}

/// (name without '/', NetworkMode) from the engine's records, best effort.
fn container_record(root: &Path, id: &str) -> (String, String) {
    let dir = root.join("containers").join(id);
    let name = std::fs::read(dir.join("config.v2.json"))
        .ok()
        .and_then(|d| serde_json::from_slice::<serde_json::Value>(&d).ok())
        .and_then(|v| v.get("Name").and_then(|n| n.as_str()).map(String::from))
        .unwrap_or_default();
    let mode = std::fs::read(dir.join("hostconfig.json"))
        .ok()
        .and_then(|d| serde_json::from_slice::<HostConfig>(&d).ok())
        .map(|h| h.network_mode)
        .unwrap_or_default();
    (name.trim_start_matches('/').to_string(), mode)
}

fn parse_dns(dns: &[String]) -> Result<Vec<IpAddr>, Error> {
    dns.iter()
        .map(|s| {
            s.parse()
                .map_err(|_| Error::Invalid(format!("{s} is not an IP address (--dns)")))
        })
        .collect()
}

fn custom_resolv(host_resolv: &files::ResolvConf, dns: &[IpAddr], host: &HostConfig) -> String {
    // Host mode: the host's loopback resolvers are reachable, so keep them.
    let mut r = host_resolv.clone();
    if !dns.is_empty() {
        r.nameservers = dns.to_vec();
    }
    if !host.dns_search.is_empty() {
        r.search = host.dns_search.clone();
    }
    if !host.dns_options.is_empty() {
        r.options = host.dns_options.clone();
    }
    r.render()
}

fn default_gateway(ctl: &NetworkController) -> Result<Ipv4Addr, Error> {
    let n = ctl.ensure_default_network()?;
    n.ipam
        .config
        .first()
        .and_then(|c| c.gateway.parse().ok())
        .ok_or_else(|| Error::Invalid("default network has no gateway".into()))
}

/// `--add-host name:ip` entries; `host-gateway` is the network's gateway (a host address).
fn parse_extra_hosts(
    extra: &[String],
    gateway: impl Fn() -> Result<Ipv4Addr, Error>,
) -> Result<Vec<(String, IpAddr)>, Error> {
    extra
        .iter()
        .map(|e| {
            let (n, ip) = e.split_once(':').ok_or_else(|| {
                Error::Invalid(format!("invalid extra host {e:?}: expected NAME:IP"))
            })?;
            let ip = if ip == "host-gateway" {
                IpAddr::V4(gateway()?)
            } else {
                ip.trim_matches(['[', ']']).parse().map_err(|_| {
                    Error::Invalid(format!("invalid IP address {ip:?} in extra host {e:?}"))
                })?
            };
            Ok((n.to_string(), ip))
        })
        .collect()
}

/// Normalises a port key: "80" → "80/tcp".
fn port_key(k: &str) -> String {
    if k.contains('/') {
        k.to_string()
    } else {
        format!("{k}/tcp")
    }
}

/// Ports to show in NetworkSettings.Ports: exposed (image EXPOSE / --expose) and published.
fn exposed_keys(config: &Config, host: &HostConfig) -> Vec<String> {
    let mut v: Vec<String> = config
        .exposed_ports
        .iter()
        .flat_map(|m| m.keys())
        .chain(host.port_bindings.keys())
        .map(|k| port_key(k))
        .collect();
    v.sort();
    v.dedup();
    v
}

/// PortBindings plus, with PublishAllPorts (-P), a random host port for every exposed port
/// that has no binding yet.
fn port_bindings(
    config: &Config,
    host: &HostConfig,
) -> Result<Vec<(String, Vec<PortBinding>)>, Error> {
    let mut m: BTreeMap<String, Vec<PortBinding>> = BTreeMap::new();
    for (k, v) in &host.port_bindings {
        m.entry(port_key(k)).or_default().extend(v.iter().cloned());
    }
    if host.publish_all_ports {
        for k in config.exposed_ports.iter().flat_map(|m| m.keys()) {
            let e = m.entry(port_key(k)).or_default();
            if e.is_empty() {
                e.push(PortBinding::default());
            }
        }
    }
    Ok(m.into_iter().collect())
}

fn to_net_bindings(ports: &[(String, Vec<PortBinding>)]) -> Result<Vec<net::PortBinding>, Error> {
    let mut out = Vec::new();
    for (key, list) in ports {
        let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
        let proto = match proto {
            "tcp" => Proto::Tcp,
            "udp" => Proto::Udp,
            p => {
                return Err(Error::Invalid(format!(
                    "unsupported protocol {p:?} in published port {key}: use tcp or udp"
                )))
            }
        };
        let container_port: u16 = port
            .parse()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| Error::Invalid(format!("invalid container port {key:?}")))?;
        for b in list {
            let host_ip = match b.host_ip.as_str() {
                "" | "0.0.0.0" => None,
                ip => Some(
                    ip.trim_start_matches('[')
                        .trim_end_matches(']')
                        .parse::<IpAddr>()
                        .map_err(|_| {
                            Error::Invalid(format!(
                                "invalid host IP {ip:?} for published port {key}"
                            ))
                        })?,
                ),
            };
            if matches!(host_ip, Some(IpAddr::V6(a)) if a.is_loopback()) && proto == Proto::Udp {
                // [::1] is served by a userland TCP proxy (the kernel cannot DNAT it).
                return Err(Error::Invalid(format!(
                    "publishing UDP port {key} on [::1] is not supported by berth (TCP only on the IPv6 loopback)"
                )));
            }
            let host_port = host_port(&b.host_port, host_ip, proto, key)?;
            out.push(net::PortBinding {
                host_ip,
                host_port,
                container_port,
                proto,
            });
        }
    }
    Ok(out)
}

/// HostPort: "" or "0" = random; "N"; or a range "A-B" = the first free port in it.
fn host_port(s: &str, host_ip: Option<IpAddr>, proto: Proto, key: &str) -> Result<u16, Error> {
    let bad = || Error::Invalid(format!("invalid host port {s:?} for published port {key}"));
    if s.is_empty() {
        return Ok(0);
    }
    let Some((a, b)) = s.split_once('-') else {
        return s.parse().map_err(|_| bad());
    };
    let (a, b): (u16, u16) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
    if a == 0 || b < a {
        return Err(bad());
    }
    (a..=b)
        .find(|p| {
            net::ports::reserve_host_port(&net::PortBinding {
                host_ip,
                host_port: *p,
                container_port: 1,
                proto,
            })
            .is_ok()
        })
        .ok_or_else(|| {
            let ip = host_ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
            let ip = if ip.is_ipv6() {
                format!("[{ip}]")
            } else {
                ip.to_string()
            };
            Error::Conflict(format!(
                "Bind for {ip}:{s} failed: every port in the range is already allocated"
            ))
        })
}

/// What `endpoint_request` found: `--ip`, `--network-alias`es, `--ip6`.
type EndpointRequest = (Option<Ipv4Addr>, Vec<String>, Option<Ipv6Addr>);

/// `--ip` and `--network-alias` from NetworkingConfig; Docker allows both only on user networks.
fn endpoint_request(
    epcfg: Option<&EndpointSettings>,
    user_net: bool,
) -> Result<EndpointRequest, Error> {
    let Some(c) = epcfg else {
        return Ok((None, vec![], None));
    };
    let ip6 = match c.ipam_config.as_ref().map(|i| i.ipv6_address.as_str()) {
        None | Some("") => None,
        Some(s) => Some(
            s.parse::<Ipv6Addr>()
                .map_err(|_| Error::Invalid(format!("invalid IPv6 address {s:?} (--ip6)")))?,
        ),
    };
    let ip = match c.ipam_config.as_ref().map(|i| i.ipv4_address.as_str()) {
        None | Some("") => None,
        Some(s) => Some(
            s.parse::<Ipv4Addr>()
                .map_err(|_| Error::Invalid(format!("invalid IPv4 address {s:?} (--ip)")))?,
        ),
    };
    let aliases = c.aliases.clone().unwrap_or_default();
    if !user_net && (ip.is_some() || ip6.is_some()) {
        return Err(Error::Invalid(
            "user specified IP address is supported on user defined networks only".into(),
        ));
    }
    if !user_net && !aliases.is_empty() {
        return Err(Error::Invalid(
            "network-scoped alias is supported only for containers in user defined networks".into(),
        ));
    }
    Ok((ip, aliases, ip6))
}

/// Network id → bridge device, for NetworkSettings.Bridge.
fn bridge_names(ctl: &NetworkController) -> BTreeMap<String, String> {
    ctl.list()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|n| {
            let b = n.options.get("com.docker.network.bridge.name")?.clone();
            Some((n.id, b))
        })
        .collect()
}

fn endpoint_settings(ep: &Endpoint, cfg: Option<&EndpointSettings>) -> EndpointSettings {
    let dns = ep.dns;
    EndpointSettings {
        ipam_config: cfg.and_then(|c| c.ipam_config.clone()),
        links: None,
        // Docker lists the user's aliases plus the short id on user-defined networks.
        aliases: dns.then(|| {
            let mut a = ep.aliases.clone();
            let short: String = ep.container_id.chars().take(12).collect();
            if !a.contains(&short) {
                a.push(short);
            }
            a
        }),
        network_id: ep.network_id.clone(),
        endpoint_id: ep.id.clone(),
        gateway: ep.gateway.to_string(),
        ip_address: ep.ipv4.to_string(),
        ip_prefix_len: ep.prefix_len,
        ipv6_gateway: ep.ipv6_gateway.map(|g| g.to_string()).unwrap_or_default(),
        global_ipv6_address: ep.ipv6.map(|a| a.to_string()).unwrap_or_default(),
        global_ipv6_prefix_len: if ep.ipv6.is_some() {
            ep.ipv6_prefix_len
        } else {
            0
        },
        mac_address: ep.mac.clone(),
        ..Default::default()
    }
}

/// Docker's /etc/hosts has the container's v6 address too on a dual-stack network.
fn with_v6_host_line(
    mut hosts: String,
    ep: &Endpoint,
    hostname: &str,
    aliases: &[String],
) -> String {
    if let Some(a) = ep.ipv6 {
        hosts.push_str(&format!("{a}\t{hostname}"));
        for x in aliases.iter().filter(|x| x.as_str() != hostname) {
            hosts.push(' ');
            hosts.push_str(x);
        }
        hosts.push('\n');
    }
    hosts
}

fn build_settings(
    id: &str,
    sandbox: &Path,
    eps: &[Endpoint],
    exposed: &[String],
    bridges: &BTreeMap<String, String>,
    epcfg: Option<&EndpointSettings>,
) -> NetworkSettings {
    let mut s = NetworkSettings {
        sandbox_id: id.to_string(),
        sandbox_key: sandbox.display().to_string(),
        ..Default::default()
    };
    for k in exposed {
        s.ports.insert(k.clone(), None);
    }
    for ep in eps {
        for p in &ep.ports {
            let mut ips = vec![p.host_ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))];
            // A dual-stack endpoint also answers on every v6 host address: Docker's `::` row.
            if p.host_ip.is_none() && ep.ipv6.is_some() {
                ips.push(IpAddr::V6(Ipv6Addr::UNSPECIFIED));
            }
            for ip in ips {
                let b = PortBinding {
                    host_ip: ip.to_string(),
                    host_port: p.host_port.to_string(),
                };
                s.ports
                    .entry(format!("{}/{}", p.container_port, p.proto))
                    .or_insert(None)
                    .get_or_insert_with(Vec::new)
                    .push(b);
            }
        }
        // Docker fills the top-level fields from the default bridge's endpoint only.
        if ep.network_name == net::DEFAULT_NETWORK {
            s.bridge = bridges.get(&ep.network_id).cloned().unwrap_or_default();
            s.endpoint_id = ep.id.clone();
            s.gateway = ep.gateway.to_string();
            s.ip_address = ep.ipv4.to_string();
            s.ip_prefix_len = ep.prefix_len;
            s.mac_address = ep.mac.clone();
            if let Some(a) = ep.ipv6 {
                s.global_ipv6_address = a.to_string();
                s.global_ipv6_prefix_len = ep.ipv6_prefix_len;
                s.ipv6_gateway = ep.ipv6_gateway.map(|g| g.to_string()).unwrap_or_default();
            }
        }
        s.networks
            .insert(ep.network_name.clone(), endpoint_settings(ep, epcfg));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Empty;

    #[test]
    fn publish_all_adds_random_ports_for_unbound_exposed_ports() {
        let config = Config {
            exposed_ports: Some(
                [
                    ("80/tcp".to_string(), Empty::new()),
                    ("53/udp".into(), Empty::new()),
                ]
                .into_iter()
                .collect(),
            ),
            ..Default::default()
        };
        let mut host = HostConfig {
            publish_all_ports: true,
            ..Default::default()
        };
        host.port_bindings.insert(
            "80/tcp".into(),
            vec![PortBinding {
                host_ip: "127.0.0.1".into(),
                host_port: "18080".into(),
            }],
        );
        let b = to_net_bindings(&port_bindings(&config, &host).unwrap()).unwrap();
        assert_eq!(b.len(), 2);
        let udp = b.iter().find(|b| b.proto == Proto::Udp).unwrap();
        assert_eq!(
            (udp.container_port, udp.host_port, udp.host_ip),
            (53, 0, None)
        );
        let tcp = b.iter().find(|b| b.proto == Proto::Tcp).unwrap();
        assert_eq!(
            (tcp.container_port, tcp.host_port, tcp.host_ip),
            (80, 18080, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)))
        );
        assert_eq!(exposed_keys(&config, &host), vec!["53/udp", "80/tcp"]);
    }

    #[test]
    fn bad_port_specs_are_rejected() {
        let bad = |key: &str, ip: &str, port: &str| {
            let v = vec![(
                key.to_string(),
                vec![PortBinding {
                    host_ip: ip.into(),
                    host_port: port.into(),
                }],
            )];
            to_net_bindings(&v).unwrap_err().to_string()
        };
        assert!(bad("80/sctp", "", "1").contains("protocol"));
        assert!(bad("x/tcp", "", "1").contains("container port"));
        assert!(bad("80/tcp", "fd39::zz", "1").contains("invalid host IP"));
        // [::1] is served by the monitor's TCP proxy: UDP there is refused, TCP accepted.
        assert!(bad("53/udp", "::1", "53").contains("UDP port 53/udp on [::1]"));
        let v = vec![(
            "80/tcp".to_string(),
            vec![PortBinding {
                host_ip: "::1".into(),
                host_port: "8080".into(),
            }],
        )];
        assert_eq!(
            to_net_bindings(&v).unwrap()[0].host_ip,
            Some("::1".parse().unwrap())
        );
        assert!(bad("80/tcp", "", "9-8").contains("host port"));
    }

    #[test]
    fn ip_and_alias_only_on_user_networks() {
        let c = EndpointSettings {
            aliases: Some(vec!["web".into()]),
            ..Default::default()
        };
        assert!(endpoint_request(Some(&c), false).is_err());
        assert_eq!(endpoint_request(Some(&c), true).unwrap().1, vec!["web"]);
        let c = EndpointSettings {
            ipam_config: Some(EndpointIpamConfig {
                ipv4_address: "10.213.9.9".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(endpoint_request(Some(&c), false).is_err());
        assert_eq!(
            endpoint_request(Some(&c), true).unwrap().0,
            Some(Ipv4Addr::new(10, 213, 9, 9))
        );
    }

    #[test]
    fn extra_hosts_parse_like_docker() {
        let v = parse_extra_hosts(
            &[
                "db:10.0.0.5".into(),
                "gw:host-gateway".into(),
                "v6:[::1]".into(),
            ],
            || Ok(Ipv4Addr::new(10, 0, 0, 1)),
        )
        .unwrap();
        assert_eq!(v[0], ("db".into(), "10.0.0.5".parse().unwrap()));
        assert_eq!(v[1].1, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(v[2].1, "::1".parse::<IpAddr>().unwrap());
        assert!(parse_extra_hosts(&["nocolon".into()], || unreachable!()).is_err());
    }
}
