//! The typed requests and responses of the network operations (ops/network.rs), with
//! Docker's JSON shapes (`network inspect`, `GET /networks`).

use std::collections::BTreeMap;

/// `network inspect` output, field for field like Docker's: the network crate's own types (its
/// controller already keeps Docker's shapes), re-exported so front ends link only the engine.
pub use ::network::{
    Ipam as NetworkIpam, IpamConfig as NetworkIpamConfig, Network as NetworkResource,
    NetworkContainer,
};

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
