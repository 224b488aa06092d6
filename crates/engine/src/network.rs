//! Container networking for the engine (issue 5): turns a container's NetworkMode, PortBindings,
//! PublishAllPorts, Dns*, ExtraHosts and NetworkingConfig into a network sandbox, using the
//! `network` crate (Network / Endpoint / Sandbox).
//!
//! STATUS: interface stub — being implemented. Until then only `none` and `host` work.

use crate::types::{Config, HostConfig, NetworkSettings, NetworkingConfig};
use std::path::{Path, PathBuf};

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

/// Sets up the sandbox of container `id` for NetworkMode "none", "host", "bridge"/"default" or a
/// user network name ("container:<x>" is resolved by the engine before this call: it joins the
/// other container's namespace and never calls attach).
pub fn attach(
    paths: &NetPaths,
    id: &str,
    name: &str,
    hostname: &str,
    config: &Config,
    host: &HostConfig,
    net: &NetworkingConfig,
) -> Result<NetAttachment, network::Error> {
    let _ = (paths, id, name, config, net);
    let hosts = format!(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
    );
    match host.network_mode.as_str() {
        "host" => Ok(NetAttachment {
            netns: None,
            hosts: std::fs::read_to_string("/etc/hosts").unwrap_or(hosts),
            resolv_conf: std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
            ..Default::default()
        }),
        _ => {
            let _ = hostname;
            todo!("bridge/none networking")
        }
    }
}

/// Tears down everything `attach` made for `id` (veth, nft elements, IPAM, netns). Idempotent:
/// also used by `rm -f` after a crash.
pub fn detach(paths: &NetPaths, id: &str) -> Result<(), network::Error> {
    let _ = (paths, id);
    Ok(())
}
