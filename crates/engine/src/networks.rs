//! The typed requests and responses of the network operations (ops/network.rs), with
//! Docker's JSON shapes (`network inspect`, `GET /networks`).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `network inspect` output, field for field like Docker's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkResource {
    pub name: String,
    pub id: String,
    pub created: String,
    pub scope: String,
    pub driver: String,
    #[serde(rename = "EnableIPv6")]
    pub enable_ipv6: bool,
    #[serde(rename = "IPAM")]
    pub ipam: NetworkIpam,
    pub internal: bool,
    pub attachable: bool,
    pub ingress: bool,
    pub containers: BTreeMap<String, NetworkContainer>,
    pub options: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkIpam {
    pub driver: String,
    pub options: BTreeMap<String, String>,
    pub config: Vec<NetworkIpamConfig>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkIpamConfig {
    pub subnet: String,
    pub gateway: String,
    #[serde(rename = "IPRange", default, skip_serializing_if = "Option::is_none")]
    pub ip_range: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkContainer {
    pub name: String,
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    pub mac_address: String,
    #[serde(rename = "IPv4Address")]
    pub ipv4_address: String,
    #[serde(rename = "IPv6Address")]
    pub ipv6_address: String,
}

impl NetworkResource {
    /// `bridge`, `host` and `none`.
    pub fn is_builtin(&self) -> bool {
        ["bridge", "host", "none"].contains(&self.name.as_str())
    }
}

impl From<::network::Network> for NetworkResource {
    fn from(n: ::network::Network) -> Self {
        NetworkResource {
            name: n.name,
            id: n.id,
            created: n.created,
            scope: n.scope,
            driver: n.driver,
            enable_ipv6: n.enable_ipv6,
            ipam: NetworkIpam {
                driver: n.ipam.driver,
                options: n.ipam.options,
                config: n
                    .ipam
                    .config
                    .into_iter()
                    .map(|c| NetworkIpamConfig {
                        subnet: c.subnet,
                        gateway: c.gateway,
                        ip_range: c.ip_range,
                    })
                    .collect(),
            },
            internal: n.internal,
            attachable: n.attachable,
            ingress: n.ingress,
            containers: n
                .containers
                .into_iter()
                .map(|(k, c)| {
                    (
                        k,
                        NetworkContainer {
                            name: c.name,
                            endpoint_id: c.endpoint_id,
                            mac_address: c.mac_address,
                            ipv4_address: c.ipv4_address,
                            ipv6_address: c.ipv6_address,
                        },
                    )
                })
                .collect(),
            options: n.options,
            labels: n.labels,
        }
    }
}

/// `network create`
#[derive(Debug, Clone, Default)]
pub struct NetworkCreateRequest {
    pub name: String,
    /// Only "bridge" (the default) can be created.
    pub driver: Option<String>,
    /// `--subnet` CIDR (one IPv4 pool per network).
    pub subnet: Option<String>,
    /// `--gateway` IPv4 address.
    pub gateway: Option<String>,
    /// `--ip-range` CIDR within the subnet.
    pub ip_range: Option<String>,
    pub internal: bool,
    pub attachable: bool,
    pub labels: BTreeMap<String, String>,
    /// `-o` driver options (e.g. com.docker.network.bridge.name).
    pub options: BTreeMap<String, String>,
    pub ipv6: bool,
    /// With `ipv6`: the IPv6 `--subnet` CIDR and `--gateway` (default: the subnet's `::1`).
    pub subnet6: Option<String>,
    pub gateway6: Option<String>,
}
