//! `network create|ls|inspect|rm|prune|connect|disconnect` (Docker's `/networks` endpoints),
//! over crate::network (bridge networks plus the pre-defined `host` and `none`).

use crate::network::{self, net, NetPaths};
use crate::networks::{NetworkCreateRequest, NetworkResource};
use crate::{Engine, Error, Result};
use std::net::{Ipv4Addr, Ipv6Addr};

/// A network error with Docker's "No such network" wording for a missing one.
fn net_err(e: net::Error) -> Error {
    match e {
        net::Error::NotFound(n) => Error::NotFound(format!("No such network: {n}")),
        e => Error::Network(e),
    }
}

impl Engine {
    fn net_paths(&self) -> NetPaths<'_> {
        NetPaths {
            root: &self.paths.root,
            runroot: &self.paths.runroot,
        }
    }

    /// Creates a bridge network; returns its ID.
    pub fn network_create(&self, req: &NetworkCreateRequest) -> Result<String> {
        let subnet = req
            .subnet
            .as_deref()
            .map(|s| s.parse::<net::Ipv4Net>())
            .transpose()
            .map_err(|e| Error::InvalidArgument(format!("invalid --subnet: {e}")))?;
        let gateway = req
            .gateway
            .as_deref()
            .map(|g| {
                g.parse::<Ipv4Addr>().map_err(|_| {
                    Error::InvalidArgument(format!(
                        "invalid --gateway {g:?}: expected an IPv4 address"
                    ))
                })
            })
            .transpose()?;
        let ip_range = req
            .ip_range
            .as_deref()
            .map(|s| s.parse::<net::Ipv4Net>())
            .transpose()
            .map_err(|e| Error::InvalidArgument(format!("invalid --ip-range: {e}")))?;
        if subnet.is_none() && (gateway.is_some() || ip_range.is_some()) {
            return Err(Error::InvalidArgument(
                "--gateway and --ip-range need a --subnet (the pool they belong to)".into(),
            ));
        }
        let subnet6 = req
            .subnet6
            .as_deref()
            .map(|s| s.parse::<net::Ipv6Net>())
            .transpose()
            .map_err(|e| Error::InvalidArgument(format!("invalid --subnet: {e}")))?;
        let gateway6 = req
            .gateway6
            .as_deref()
            .map(|g| {
                g.parse::<Ipv6Addr>().map_err(|_| {
                    Error::InvalidArgument(format!(
                        "invalid --gateway {g:?}: expected an IPv6 address"
                    ))
                })
            })
            .transpose()?;
        if subnet6.is_none() && gateway6.is_some() {
            return Err(Error::InvalidArgument(
                "an IPv6 --gateway needs an IPv6 --subnet (the pool it belongs to)".into(),
            ));
        }
        let n = self
            .net_paths()
            .controller()
            .and_then(|c| {
                c.create_network(
                    &req.name,
                    net::NetworkOptions {
                        driver: req.driver.clone(),
                        subnet,
                        gateway,
                        ip_range,
                        bridge_name: None,
                        internal: req.internal,
                        attachable: req.attachable,
                        labels: req.labels.clone(),
                        options: req.options.clone(),
                        ipv6: req.ipv6,
                        subnet6,
                        gateway6,
                    },
                )
            })
            .map_err(net_err)?;
        Ok(n.id)
    }

    /// Every network: the bridge networks plus `host` and `none`.
    pub fn network_list(&self) -> Result<Vec<NetworkResource>> {
        let v = network::list(&self.net_paths()).map_err(net_err)?;
        Ok(v)
    }

    /// A network by name, ID or unique ID prefix.
    pub fn network_inspect(&self, key: &str) -> Result<NetworkResource> {
        network::inspect(&self.net_paths(), key).map_err(net_err)
    }

    /// Removes a network (not a pre-defined one, not one in use); returns its name.
    pub fn network_remove(&self, key: &str) -> Result<String> {
        network::remove(&self.net_paths(), key).map_err(net_err)
    }

    /// Removes the custom networks no container uses; returns their names.
    pub fn network_prune(&self) -> Result<Vec<String>> {
        self.net_paths()
            .controller()
            .and_then(|c| c.prune())
            .map_err(net_err)
    }

    /// Connects the running `container` to `network`, with `--alias`es and an `--ip`.
    pub fn network_connect(
        &self,
        network: &str,
        container: &str,
        aliases: &[String],
        ip: Option<Ipv4Addr>,
        ip6: Option<Ipv6Addr>,
    ) -> Result<()> {
        let paths = self.net_paths();
        // The network first: its error is the more useful one when both are wrong.
        network::inspect(&paths, network).map_err(net_err)?;
        let id = self.resolve(container)?;
        network::connect_dual(&paths, &id, network, aliases, ip, ip6).map_err(net_err)?;
        Ok(())
    }

    /// Disconnects `container` from `network`; with `force` a container without a record
    /// (taken as an ID) still loses its endpoint.
    pub fn network_disconnect(&self, network: &str, container: &str, force: bool) -> Result<()> {
        let paths = self.net_paths();
        network::inspect(&paths, network).map_err(net_err)?;
        let id = match self.resolve(container) {
            Ok(id) => id,
            Err(_) if force => container.to_string(),
            Err(e) => return Err(e),
        };
        network::disconnect(&paths, &id, network).map_err(net_err)
    }
}
