//! berth's networking: libnetwork's Container Network Model with a bridge driver.
//!
//! * **Network** — a Linux bridge with the gateway address, a subnet, persistent IPAM. The
//!   default network `bridge` (device `berth0`) is created on first use with the first of
//!   Docker's default pools (172.17–31.0.0/16, then 192.168.x.0/20) that overlaps no route of
//!   the host's main table and no other berth network. [`Network`] serialises exactly like
//!   `docker network inspect`.
//! * **Sandbox** — a network namespace bind-mounted at `<runroot>/netns/<container id>`,
//!   created by a helper thread (`unshare(CLONE_NEWNET)` + bind mount of
//!   `/proc/thread-self/ns/net`), with `lo` up. A sandbox with no endpoint is `--network none`.
//! * **Endpoint** — a veth pair: the host end (`vethXXXXXXX`) enslaved to the bridge and up,
//!   the peer created *directly inside the sandbox* as `eth0` (one RTM_NEWLINK, no move or
//!   rename), then address + default route in one batch over a netlink socket living in the
//!   sandbox. MAC defaults to 02:42:<ipv4>, like Docker.
//!
//! ```no_run
//! use network::*;
//! # fn main() -> network::Result<()> {
//! let ctl = NetworkController::open("/var/lib/berth".as_ref(), "/run/berth".as_ref())?;
//! ctl.ensure_default_network()?;
//! let sb = ctl.create_sandbox("0123abcd")?;            // sb.path() goes into the OCI spec
//! let ep = ctl.join(&sb, "bridge", EndpointOptions {
//!     name: "web".into(),
//!     port_bindings: parse_publish("8080:80")?,
//!     ..Default::default()
//! })?;
//! let hosts = files::hosts("0123abcd", Some(ep.ipv4), &[], &[]);
//! let resolv = files::resolv_conf(&files::ResolvConf::host(), ep.dns, &[], &[], &[]);
//! // ... run the container in sb.path() ...
//! ctl.destroy_sandbox("0123abcd")?;                    // veths, NAT elements, IPs, netns
//! # Ok(()) }
//! ```
//!
//! Modes: `bridge`/user networks = `create_sandbox` + `join`; `none` = `create_sandbox` only;
//! `host` = no sandbox (the engine keeps the host namespace); `container:<id>` = the engine
//! reuses the other container's `sandbox_path`.
//!
//! ## Kernel interfaces and speed
//! Links, addresses and routes go through one rtnetlink socket per controller (plus one inside
//! each sandbox), requests are batched into one datagram and completion is the kernel's ACK —
//! no `ip` subprocess, no sleeps. Per container that is 4 round trips (link lookup, veth,
//! `eth0` lookup, address+route) plus one nf_tables batch for published ports.
//!
//! ## NAT and published ports
//! One table, `table ip berth`, whose rules never change per container: they look up sets and
//! maps whose *elements* berth adds and removes over nf_tables netlink (see [`nft`]).
//! The rules are installed by a single idempotent `nft -f -` when a network is created (the
//! only subprocess; not on the container path). DNAT happens in prerouting and output, so a
//! published port answers on every host address, on 127.0.0.1 (`route_localnet=1` on the
//! bridge, 127.0.0.0/8 sources masqueraded into the bridge), and hairpin (bridge ports in
//! hairpin mode, a container's traffic to itself masqueraded). Traffic leaving a bridge for elsewhere is
//! masqueraded. Networks are isolated from each other as in Docker: a connection enters a bridge
//! from elsewhere only as a reply or DNAT'd to a published port (so another network reaches a
//! published port through a host address, never a container directly); `--internal` bridges
//! keep all traffic on the bridge (no default route, no NAT, `-p` refused) and reach only their
//! own gateway address on the host. Multiple roots share the table, so isolation holds between
//! their networks too. Every sandbox namespace gets `net.ipv4.ping_group_range` "0 2147483647"
//! (Docker's default), so ping sockets work without CAP_NET_RAW. The table coexists with
//! Docker's iptables/nftables rules (separate table, standard hook priorities) but note that
//! a DROP policy in another table's forward chain (Docker sets one) still applies to routed
//! traffic. A port already bound on the host (checked by binding it) or already published is
//! a [`Error::Conflict`]; `-p CPORT` gets a free port from the kernel.
//!
//! ## Embedded DNS — design choice
//! berth has no daemon, so there is no natural long-lived process per *network*. The choice is
//! Docker's own model: a responder per *container*, on 127.0.0.11:53 inside the container's
//! namespace, hosted by the container's monitor (which lives exactly as long as the container):
//! `dns::DnsServer::start(sandbox_path, upstreams, lookup)`. Its listening socket is created by
//! a thread that joined the sandbox, while the forwarding socket is created in the monitor's
//! own namespace, so upstream resolvers that only exist on the host (127.0.0.53) keep working.
//! The lookup closure reads [`NetworkController::dns_records`] (names, aliases and short ids
//! of the network's endpoints), so new containers are visible at once with no notification.
//! The resolver logic itself is the pure function [`dns::answer`]. On user-defined networks
//! the container's resolv.conf therefore says `nameserver 127.0.0.11` ([`files::resolv_conf`]
//! with `embedded_dns = ep.dns`); the default `bridge` network has no DNS, like Docker.
//!
//! ## State and concurrency
//! `<root>/network/networks/<id>.json` holds a network's config, IPAM pool and endpoints,
//! written atomically (temp + rename). Every change happens under `flock(<root>/network/lock)`,
//! so any number of berth processes can join concurrently. An endpoint is recorded *before*
//! the kernel objects are made, so `destroy_sandbox` can clean up after a crash at any point.
//!
//! ## IPv6
//! `--ipv6` networks are dual stack: a v6 subnet next to the v4 one ([`ipam6`]), the bridge
//! holds both gateways, endpoints get both addresses and both default routes, the embedded
//! DNS answers AAAA, and `table ip6 berth` ([`nft6`]) does NAT66, v6 published ports and v6
//! isolation. `[::1]` bindings cannot be DNAT'd by the kernel; [`proxy6`] serves them.
//!
//! Not implemented: `--link`, macvlan/overlay drivers.

mod controller;
pub mod dns;
pub mod files;
pub mod ipam;
pub mod ipam6;
pub mod netlink;
pub mod netlink6;
pub mod netns;
pub mod nft;
pub mod nft6;
pub mod ports;
pub mod proxy6;

pub use controller::{
    default_bridge_for, drop_table_if_unused, Endpoint, EndpointOptions, Ipam, IpamConfig, Leak,
    Network, NetworkContainer, NetworkController, NetworkOptions, PendingSandbox, Sandbox,
    DEFAULT_BRIDGE, DEFAULT_NETWORK,
};
pub use ipam::Ipv4Net;
pub use ipam6::Ipv6Net;
pub use ports::{parse_publish, PortBinding, Proto};

/// Errors of the network crate; messages are meant to be shown to users as they are.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("network {0} not found")]
    NotFound(String),
    #[error("network with name {0} already exists")]
    Exists(String),
    /// Subnet overlap, port or address already in use, endpoints still attached.
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Kernel(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl From<String> for Error {
    fn from(s: String) -> Self {
        Error::Invalid(s)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
