//! The controller: networks, sandboxes and endpoints, with state under `<root>/network`.

use crate::dns::Records;
use crate::ipam::{self, Ipv4Net, Pool};
use crate::netlink::{self, Netlink, NlError, NETLINK_ROUTE};
use crate::nft::{self, Elem};
use crate::ports::{self, PortBinding};
use crate::{netns, Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

mod audit;
mod v6;
pub use audit::{drop_table_if_unused, Leak};

/// Name of the default network and its bridge device.
pub const DEFAULT_NETWORK: &str = "bridge";
pub const DEFAULT_BRIDGE: &str = "berth0";

/// The default bridge's device for `root`: [`DEFAULT_BRIDGE`] for /var/lib/berth, else
/// "berth" + 8 hex digits of an FNV-1a hash of the root path + "0" (14 characters).
pub fn default_bridge_for(root: &Path) -> String {
    let root = fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    if root == Path::new("/var/lib/berth") {
        return DEFAULT_BRIDGE.to_string();
    }
    let mut h: u32 = 0x811c_9dc5;
    for b in root.as_os_str().as_encoded_bytes() {
        h = (h ^ u32::from(*b)).wrapping_mul(0x0100_0193);
    }
    format!("berth{h:08x}0")
}
const BRIDGE_NAME_OPT: &str = "com.docker.network.bridge.name";

// ---------- public data types (Docker's JSON shapes) ----------

/// `network inspect` output, field for field like Docker's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Network {
    pub name: String,
    pub id: String,
    pub created: String,
    pub scope: String,
    pub driver: String,
    #[serde(rename = "EnableIPv6")]
    pub enable_ipv6: bool,
    #[serde(rename = "IPAM")]
    pub ipam: Ipam,
    pub internal: bool,
    pub attachable: bool,
    pub ingress: bool,
    pub containers: BTreeMap<String, NetworkContainer>,
    pub options: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
}

impl Network {
    /// `bridge`, `host` and `none`.
    pub fn is_builtin(&self) -> bool {
        ["bridge", "host", "none"].contains(&self.name.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Ipam {
    pub driver: String,
    pub options: BTreeMap<String, String>,
    pub config: Vec<IpamConfig>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IpamConfig {
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

/// `network create` options (`--subnet`, `--gateway`, `--ip-range`, `--internal`, `-o`, `--label`).
#[derive(Debug, Clone, Default)]
pub struct NetworkOptions {
    /// Only "bridge" (the default) can be created; host/none are modes of the engine.
    pub driver: Option<String>,
    pub subnet: Option<Ipv4Net>,
    pub gateway: Option<Ipv4Addr>,
    pub ip_range: Option<Ipv4Net>,
    /// Bridge device; also read from `-o com.docker.network.bridge.name=`. Default `br-<id12>`.
    pub bridge_name: Option<String>,
    pub internal: bool,
    pub attachable: bool,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
    /// `--ipv6`: dual stack; needs `subnet6` (there is no default v6 pool, as in dockerd 20.10).
    pub ipv6: bool,
    /// The IPv6 `--subnet` and `--gateway` (default: the subnet's `::1`).
    pub subnet6: Option<crate::ipam6::Ipv6Net>,
    pub gateway6: Option<Ipv6Addr>,
}

/// Per-endpoint options of `run`/`network connect`.
#[derive(Debug, Clone, Default)]
pub struct EndpointOptions {
    /// Container name: answers DNS on user-defined networks and is shown in `network inspect`.
    pub name: String,
    /// `--ip`.
    pub ip: Option<Ipv4Addr>,
    /// `--ip6` (dual-stack networks only).
    pub ip6: Option<Ipv6Addr>,
    /// `--network-alias` / `--alias`.
    pub aliases: Vec<String>,
    /// `--mac-address` ("aa:bb:..."); default 02:42 followed by the IPv4 address, like Docker.
    pub mac: Option<String>,
    /// `-p` bindings (host_port 0 = pick a free port).
    pub port_bindings: Vec<PortBinding>,
    /// Interface name inside the sandbox; default the first free `ethN`.
    pub ifname: Option<String>,
}

/// One container's attachment to one network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Endpoint {
    pub id: String,
    pub network_id: String,
    pub network_name: String,
    pub container_id: String,
    pub name: String,
    pub aliases: Vec<String>,
    /// Inside the sandbox (eth0...).
    pub ifname: String,
    /// Host end of the veth pair, on the bridge.
    pub host_ifname: String,
    pub mac: String,
    pub ipv4: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Ipv4Addr,
    /// On dual-stack networks: the v6 address, its prefix length and the v6 gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<Ipv6Addr>,
    #[serde(default)]
    pub ipv6_prefix_len: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6_gateway: Option<Ipv6Addr>,
    /// Resolved bindings: random host ports are filled in.
    pub ports: Vec<PortBinding>,
    /// Whether the network has embedded DNS (user-defined networks).
    pub dns: bool,
}

/// A container's network namespace, bind-mounted at `<runroot>/netns/<container id>`.
/// A sandbox whose namespace is still being made; dropping it without [`wait`](Self::wait)
/// removes it.
pub struct PendingSandbox {
    id: String,
    path: PathBuf,
    pending: netns::Unbound,
}

impl PendingSandbox {
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn wait(self) -> Result<Sandbox> {
        let nl = self.pending.bind(&self.path).map_err(io_err(format!(
            "creating network namespace {}",
            self.path.display()
        )))?;
        Ok(Sandbox {
            id: self.id,
            path: self.path,
            nl: Mutex::new(Some(nl)),
        })
    }
}

pub struct Sandbox {
    pub id: String,
    pub path: PathBuf,
    nl: Mutex<Option<Netlink>>,
}

impl Sandbox {
    /// Path for the OCI spec's `network` namespace, `setns` by exec, and `container:` mode.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

// ---------- persisted state ----------

#[derive(Debug, Clone, Serialize, Deserialize)]
struct NetState {
    name: String,
    id: String,
    created: String,
    driver: String,
    bridge: String,
    subnet: Ipv4Net,
    gateway: Ipv4Addr,
    ip_range: Option<Ipv4Net>,
    internal: bool,
    attachable: bool,
    /// Embedded DNS: user-defined networks only (Docker's behaviour).
    dns: bool,
    labels: BTreeMap<String, String>,
    options: BTreeMap<String, String>,
    pool: Pool,
    /// Keyed by container id.
    endpoints: BTreeMap<String, Endpoint>,
    /// [`nft::REV`] of the rules this network was registered under (0: before isolation).
    #[serde(default)]
    nft_rev: u32,
    /// Dual stack (`--ipv6`): the v6 subnet, gateway and pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    v6: Option<v6::V6>,
}

impl NetState {
    fn to_network(&self) -> Network {
        Network {
            name: self.name.clone(),
            id: self.id.clone(),
            created: self.created.clone(),
            scope: "local".into(),
            driver: self.driver.clone(),
            enable_ipv6: self.v6.is_some(),
            ipam: Ipam {
                driver: "default".into(),
                options: BTreeMap::new(),
                config: std::iter::once(IpamConfig {
                    subnet: self.subnet.to_string(),
                    gateway: self.gateway.to_string(),
                    ip_range: self.ip_range.map(|r| r.to_string()),
                })
                .chain(self.v6.as_ref().map(|v| IpamConfig {
                    subnet: v.subnet.to_string(),
                    gateway: v.gateway.to_string(),
                    ip_range: None,
                }))
                .collect(),
            },
            internal: self.internal,
            attachable: self.attachable,
            ingress: false,
            containers: self
                .endpoints
                .iter()
                .map(|(cid, e)| {
                    (
                        cid.clone(),
                        NetworkContainer {
                            name: e.name.clone(),
                            endpoint_id: e.id.clone(),
                            mac_address: e.mac.clone(),
                            ipv4_address: format!("{}/{}", e.ipv4, e.prefix_len),
                            ipv6_address: e
                                .ipv6
                                .map(|a| format!("{a}/{}", e.ipv6_prefix_len))
                                .unwrap_or_default(),
                        },
                    )
                })
                .collect(),
            options: self.options.clone(),
            labels: self.labels.clone(),
        }
    }

    fn records(&self) -> Records {
        let mut r = Records::new();
        for e in self.endpoints.values() {
            let ips: Vec<IpAddr> = std::iter::once(IpAddr::V4(e.ipv4))
                .chain(e.ipv6.map(IpAddr::V6))
                .collect();
            let names = std::iter::once(&e.name).chain(e.aliases.iter());
            for n in names.filter(|n| !n.is_empty()) {
                r.entry(n.to_ascii_lowercase()).or_default().extend(&ips);
            }
            // Docker also resolves the short container id.
            if e.container_id.len() >= 12 {
                r.entry(e.container_id[..12].to_ascii_lowercase())
                    .or_default()
                    .extend(&ips);
            }
        }
        r
    }
}

fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
    let context = context.into();
    move |source| Error::Io { context, source }
}

fn kernel(context: impl std::fmt::Display) -> impl FnOnce(NlError) -> Error {
    let context = context.to_string();
    move |e| Error::Kernel(format!("{context}: {e}"))
}

fn random_id() -> String {
    hex32(rand::random::<[u8; 32]>())
}

fn hex32(b: [u8; 32]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn parse_mac(s: &str) -> Result<[u8; 6]> {
    let bad = || Error::Invalid(format!("invalid MAC address {s:?}"));
    let v: Vec<u8> = s
        .split(':')
        .map(|p| u8::from_str_radix(p, 16).map_err(|_| bad()))
        .collect::<Result<_>>()?;
    v.try_into().map_err(|_| bad())
}

fn fmt_mac(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn sysctl(path: &str, value: &str) -> Result<()> {
    fs::write(path, value).map_err(io_err(format!("setting {path}={value}")))
}

fn valid_name(n: &str) -> bool {
    let mut c = n.chars();
    matches!(c.next(), Some(f) if f.is_ascii_alphanumeric())
        && c.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

struct Lock(#[allow(dead_code)] File);

// ---------- the controller ----------

/// Entry point of the crate; cheap to open, safe to share between threads, and safe to use
/// from many processes at once (state changes happen under `<root>/network/lock`).
pub struct NetworkController {
    /// Device of the default `bridge` network: berth0 for the default root, a name derived from
    /// the root otherwise, so engines on different roots (tests, side-by-side installs) never
    /// share or tear down each other's default bridge.
    default_bridge: String,
    dir: PathBuf,
    netns_dir: PathBuf,
    rt: Mutex<Option<Netlink>>,
    nf: Mutex<Option<Netlink>>,
}

impl NetworkController {
    /// `root` is berth's `--root` (state goes to `<root>/network`), `runroot` its `--runroot`
    /// (namespaces are bind-mounted under `<runroot>/netns`).
    pub fn open(root: &Path, runroot: &Path) -> Result<NetworkController> {
        let dir = root.join("network");
        let netns_dir = runroot.join("netns");
        // <root>/network is root's and its group's only (Docker's 0750).
        use std::os::unix::fs::DirBuilderExt;
        for (d, mode) in [(dir.join("networks"), 0o750), (netns_dir.clone(), 0o755)] {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(mode)
                .create(&d)
                .map_err(io_err(format!("creating {}", d.display())))?;
        }
        Ok(NetworkController {
            default_bridge: default_bridge_for(root),
            dir,
            netns_dir,
            rt: Mutex::new(None),
            nf: Mutex::new(None),
        })
    }

    fn lock(&self) -> Result<Lock> {
        let p = self.dir.join("lock");
        let f = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(io_err(format!("opening {}", p.display())))?;
        loop {
            // SAFETY: flock on an fd we own; released when the file is closed.
            if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } == 0 {
                return Ok(Lock(f));
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(io_err(format!("locking {}", p.display()))(e));
            }
        }
    }

    fn with_rt<T>(&self, f: impl FnOnce(&mut Netlink) -> Result<T>) -> Result<T> {
        let mut g = self.rt.lock().unwrap();
        if g.is_none() {
            *g = Some(Netlink::open(NETLINK_ROUTE).map_err(io_err("opening rtnetlink socket"))?);
        }
        f(g.as_mut().unwrap())
    }

    fn with_nf<T>(&self, f: impl FnOnce(&mut Netlink) -> Result<T>) -> Result<T> {
        let mut g = self.nf.lock().unwrap();
        if g.is_none() {
            *g = Some(nft::open().map_err(io_err("opening nf_tables netlink socket"))?);
        }
        f(g.as_mut().unwrap())
    }

    /// Adds or deletes set elements; on a missing table (e.g. `nft flush ruleset`) reinstalls
    /// it, re-registers this network's bridge and retries once. Deleting ignores ENOENT.
    fn nft_apply(&self, add: bool, st: &NetState, elems: &[Elem]) -> Result<()> {
        let res = self.with_nf(|nl| nft::apply(nl, add, elems).map_err(kernel("nftables")))?;
        let missing = res
            .iter()
            .any(|r| matches!(r, Err(e) if e.errno == libc::ENOENT));
        if add && missing {
            nft::ensure_table().map_err(Error::Kernel)?;
            let mut all = nft::bridge_elems(st.internal, &st.bridge);
            if st.v6.is_some() {
                crate::nft6::ensure_table6().map_err(Error::Kernel)?;
                all.extend(crate::nft6::bridge_elems6(st.internal, &st.bridge));
            }
            all.extend(
                elems
                    .iter()
                    .filter(|e| !nft::BRIDGE_SETS.contains(&e.set))
                    .cloned(),
            );
            // Elements of this call would otherwise be lost with the old table; others' are
            // restored by their own next change (or `berth system check`).
            let r = self.with_nf(|nl| nft::apply(nl, true, &all).map_err(kernel("nftables")))?;
            return check_elems(&all, r);
        }
        if add {
            return check_elems(elems, res);
        }
        for (e, r) in elems.iter().zip(res) {
            if let Err(err) = r {
                if err.errno != libc::ENOENT {
                    return Err(Error::Kernel(format!(
                        "removing nftables element from {}: {err}",
                        e.set
                    )));
                }
            }
        }
        Ok(())
    }

    fn state_path(&self, id: &str) -> PathBuf {
        self.dir.join("networks").join(format!("{id}.json"))
    }

    fn load_all(&self) -> Result<Vec<NetState>> {
        let d = self.dir.join("networks");
        let mut out = Vec::new();
        for ent in fs::read_dir(&d).map_err(io_err(format!("reading {}", d.display())))? {
            let p = ent.map_err(io_err("reading network dir"))?.path();
            if p.extension().is_some_and(|e| e == "json") {
                let data = match fs::read(&p) {
                    Ok(d) => d,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(io_err(format!("reading {}", p.display()))(e)),
                };
                let st: NetState = serde_json::from_slice(&data).map_err(|e| {
                    Error::Invalid(format!("corrupt network state {}: {e}", p.display()))
                })?;
                out.push(st);
            }
        }
        out.sort_by(|a, b| a.created.cmp(&b.created).then(a.name.cmp(&b.name)));
        Ok(out)
    }

    /// Finds a network by exact name, full id, or unique id prefix (Docker's rules).
    fn find(&self, all: &[NetState], key: &str) -> Result<NetState> {
        if let Some(n) = all.iter().find(|n| n.name == key || n.id == key) {
            return Ok(n.clone());
        }
        let m: Vec<_> = all
            .iter()
            .filter(|n| !key.is_empty() && n.id.starts_with(key))
            .collect();
        match m.len() {
            1 => Ok(m[0].clone()),
            0 => Err(Error::NotFound(key.to_string())),
            _ => Err(Error::Invalid(format!(
                "network {key} is ambiguous ({} matches)",
                m.len()
            ))),
        }
    }

    fn save(&self, st: &NetState) -> Result<()> {
        let p = self.state_path(&st.id);
        let tmp = p.with_extension("json.tmp");
        let data = serde_json::to_vec_pretty(st).expect("serialising network state");
        fs::write(&tmp, data).map_err(io_err(format!("writing {}", tmp.display())))?;
        fs::rename(&tmp, &p).map_err(io_err(format!("writing {}", p.display())))
    }

    fn host_routes(&self) -> Result<Vec<Ipv4Net>> {
        let r =
            self.with_rt(|nl| netlink::ipv4_routes(nl).map_err(kernel("listing host routes")))?;
        Ok(r.into_iter()
            .filter_map(|(a, p)| Ipv4Net::new(a, p).ok())
            .collect())
    }

    fn link_index(&self, name: &str) -> Result<Option<u32>> {
        self.with_rt(|nl| match nl.query(netlink::get_link(name)) {
            Ok(v) => Ok(v.first().and_then(|(_, p)| netlink::link_index(p))),
            Err(e) if e.errno == libc::ENODEV => Ok(None),
            Err(e) => Err(kernel(format!("looking up link {name}"))(e)),
        })
    }

    fn del_link(&self, name: &str) -> Result<()> {
        self.with_rt(|nl| match nl.exec(&mut [netlink::del_link(name)]) {
            Err(e) if e.errno != libc::ENODEV => Err(kernel(format!("deleting link {name}"))(e)),
            _ => Ok(()),
        })
    }

    // ----- networks -----

    /// Creates a bridge network: bridge device with the gateway address, ip_forward and
    /// route_localnet on, bridge registered for NAT. Nothing is left behind on error.
    pub fn create_network(&self, name: &str, opts: NetworkOptions) -> Result<Network> {
        if !valid_name(name) {
            return Err(Error::Invalid(format!(
                "invalid network name {name:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        if name == "host" || name == "none" {
            return Err(Error::Invalid(format!(
                "{name} is a pre-defined network mode and cannot be created"
            )));
        }
        let driver = opts.driver.clone().unwrap_or_else(|| "bridge".into());
        if driver != "bridge" {
            return Err(Error::Invalid(format!(
                "network driver {driver:?} is not supported: only \"bridge\" networks can be created"
            )));
        }
        check_driver_options(&opts.options)?;
        let _l = self.lock()?;
        let all = self.load_all()?;
        if all.iter().any(|n| n.name == name) {
            return Err(Error::Exists(name.to_string()));
        }
        let id = random_id();
        let bridge = opts
            .bridge_name
            .clone()
            .or_else(|| opts.options.get(BRIDGE_NAME_OPT).cloned())
            .unwrap_or_else(|| {
                if name == DEFAULT_NETWORK {
                    self.default_bridge.clone()
                } else {
                    format!("br-{}", &id[..12])
                }
            });
        if bridge.is_empty()
            || bridge.len() > 15
            || bridge.contains('/')
            || bridge.contains(char::is_whitespace)
        {
            return Err(Error::Invalid(format!(
                "invalid bridge name {bridge:?}: 1 to 15 characters, no '/' or spaces"
            )));
        }
        if let Some(n) = all.iter().find(|n| n.bridge == bridge) {
            return Err(Error::Conflict(format!(
                "bridge {bridge} is already used by network {}",
                n.name
            )));
        }
        if name == DEFAULT_NETWORK
            && bridge == self.default_bridge
            && self.link_index(&bridge)?.is_some()
        {
            // Our own default bridge outliving its state (state wiped, crash): no network of
            // this root uses it, so it has no live endpoints of ours. Recreate it.
            self.del_link(&bridge)?;
        }
        if self.link_index(&bridge)?.is_some() {
            return Err(Error::Conflict(format!(
                "a network device named {bridge} already exists on the host; choose another -o {BRIDGE_NAME_OPT}="
            )));
        }
        let v6 = if opts.ipv6 || opts.subnet6.is_some() || opts.gateway6.is_some() {
            let r6 = self.with_rt(|nl| {
                crate::netlink6::ipv6_routes(nl).map_err(kernel("listing host IPv6 routes"))
            })?;
            v6::plan(&opts, &all, &r6)?
        } else {
            None
        };
        let in_use: Vec<Ipv4Net> = all.iter().map(|n| n.subnet).collect();
        let routes = self.host_routes()?;
        let subnet = match opts.subnet {
            Some(s) => {
                if let Some(n) = all.iter().find(|n| n.subnet.overlaps(&s)) {
                    return Err(Error::Conflict(format!(
                        "subnet {s} overlaps with network {} ({})",
                        n.name, n.subnet
                    )));
                }
                if let Some(r) = routes.iter().find(|r| r.overlaps(&s)) {
                    return Err(Error::Conflict(format!(
                        "subnet {s} overlaps with a route to {r} on the host; choose another --subnet"
                    )));
                }
                if s.prefix() > 30 {
                    return Err(Error::Invalid(format!("subnet {s} is too small (at most /30)")));
                }
                s
            }
            None => ipam::pick_subnet(&routes, &in_use).ok_or_else(|| {
                Error::Conflict(
                    "all default address pools (172.17-31.0.0/16, 192.168.0.0/20 steps) overlap existing routes or networks; pass --subnet".into(),
                )
            })?,
        };
        let gateway = match opts.gateway {
            Some(g) if !subnet.contains(g) || g == subnet.addr() || g == subnet.broadcast() => {
                return Err(Error::Invalid(format!(
                    "gateway {g} is not a host address of subnet {subnet}"
                )))
            }
            Some(g) => g,
            None => Ipv4Addr::from(subnet.first() + 1),
        };
        if let Some(r) = &opts.ip_range {
            if !subnet.contains_net(r) {
                return Err(Error::Invalid(format!(
                    "ip-range {r} is not inside subnet {subnet}"
                )));
            }
        }
        let mut options = opts.options.clone();
        options.insert(BRIDGE_NAME_OPT.into(), bridge.clone());
        if name == DEFAULT_NETWORK {
            options.insert(
                "com.docker.network.bridge.default_bridge".into(),
                "true".into(),
            );
            options.insert(
                "com.docker.network.bridge.enable_ip_masquerade".into(),
                "true".into(),
            );
        }
        let mut pool = Pool::default();
        pool.allocated.insert(gateway);
        let st = NetState {
            name: name.to_string(),
            id: id.clone(),
            created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            driver,
            bridge: bridge.clone(),
            subnet,
            gateway,
            ip_range: opts.ip_range,
            internal: opts.internal,
            attachable: opts.attachable,
            dns: name != DEFAULT_NETWORK,
            labels: opts.labels.clone(),
            options,
            pool,
            endpoints: BTreeMap::new(),
            nft_rev: nft::REV,
            v6,
        };
        if let Err(e) = self.setup_bridge(&st) {
            let _ = self.del_link(&bridge);
            let _ = self.nft_apply(false, &st, &self.bridge_registration(&st));
            return Err(e);
        }
        if let Err(e) = self.save(&st) {
            let _ = self.teardown_bridge(&st);
            return Err(e);
        }
        Ok(st.to_network())
    }

    fn setup_bridge(&self, st: &NetState) -> Result<()> {
        nft::ensure_table().map_err(Error::Kernel)?;
        let mut mac: [u8; 6] = rand::random();
        mac[0] = (mac[0] & 0xfe) | 0x02; // unicast, locally administered
        self.with_rt(|nl| {
            nl.exec(&mut [netlink::new_bridge(&st.bridge, mac)])
                .map_err(kernel(format!("creating bridge {}", st.bridge)))
        })?;
        let idx = self.link_index(&st.bridge)?.ok_or_else(|| {
            Error::Kernel(format!("bridge {} vanished after creation", st.bridge))
        })?;
        self.with_rt(|nl| {
            nl.exec(&mut [netlink::new_addr(idx, st.gateway, st.subnet.prefix())])
                .map_err(kernel(format!("adding {} to {}", st.gateway, st.bridge)))
        })?;
        // 127.0.0.1:hostPort DNAT'd towards the bridge must be routable out of it.
        sysctl(
            &format!("/proc/sys/net/ipv4/conf/{}/route_localnet", st.bridge),
            "1",
        )?;
        if !st.internal {
            sysctl("/proc/sys/net/ipv4/ip_forward", "1")?;
        }
        if let Some(v) = &st.v6 {
            self.setup_bridge6(st, v, idx)?;
        }
        self.nft_apply(true, st, &self.bridge_registration(st))
    }

    /// The v6 side of a dual-stack bridge: IPv6 on, the v6 gateway address (no DAD, usable at
    /// once), forwarding on (as dockerd does for IPv6 networks: note the kernel then ignores
    /// router advertisements on interfaces with accept_ra=1), and the v6 table's rules.
    fn setup_bridge6(&self, st: &NetState, v: &v6::V6, idx: u32) -> Result<()> {
        sysctl(
            &format!("/proc/sys/net/ipv6/conf/{}/disable_ipv6", st.bridge),
            "0",
        )?;
        self.with_rt(|nl| {
            nl.exec(&mut [crate::netlink6::new_addr6(
                idx,
                v.gateway,
                v.subnet.prefix(),
            )])
            .map_err(kernel(format!("adding {} to {}", v.gateway, st.bridge)))
        })?;
        if !st.internal {
            sysctl("/proc/sys/net/ipv6/conf/all/forwarding", "1")?;
        }
        crate::nft6::ensure_table6().map_err(Error::Kernel)
    }

    /// A network's bridge elements: in the v4 table, and in the v6 table when dual-stack.
    fn bridge_registration(&self, st: &NetState) -> Vec<Elem> {
        let mut v = nft::bridge_elems(st.internal, &st.bridge);
        if st.v6.is_some() {
            v.extend(crate::nft6::bridge_elems6(st.internal, &st.bridge));
        }
        v
    }

    fn teardown_bridge(&self, st: &NetState) -> Result<()> {
        self.del_link(&st.bridge)?;
        self.nft_apply(false, st, &self.bridge_registration(st))
    }

    /// The default `bridge` network (device berth0), created on first use with the first
    /// default pool that overlaps no host route.
    pub fn ensure_default_network(&self) -> Result<Network> {
        match self.inspect(DEFAULT_NETWORK) {
            Err(Error::NotFound(_)) => {
                match self.create_network(DEFAULT_NETWORK, NetworkOptions::default()) {
                    Err(Error::Exists(_)) => self.inspect(DEFAULT_NETWORK),
                    r => r,
                }
            }
            r => r,
        }
    }

    /// Removes a network without endpoints: bridge device, NAT registration, state.
    pub fn remove_network(&self, key: &str) -> Result<()> {
        let _l = self.lock()?;
        let st = self.find(&self.load_all()?, key)?;
        self.remove_locked(&st)
    }

    fn remove_locked(&self, st: &NetState) -> Result<()> {
        if !st.endpoints.is_empty() {
            let names: Vec<_> = st.endpoints.values().map(|e| e.name.as_str()).collect();
            return Err(Error::Conflict(format!(
                "error while removing network: network {} has active endpoints ({})",
                st.name,
                names.join(", ")
            )));
        }
        self.teardown_bridge(st)?;
        let p = self.state_path(&st.id);
        fs::remove_file(&p).map_err(io_err(format!("removing {}", p.display())))
    }

    pub fn list(&self) -> Result<Vec<Network>> {
        Ok(self.load_all()?.iter().map(NetState::to_network).collect())
    }

    pub fn inspect(&self, key: &str) -> Result<Network> {
        Ok(self.find(&self.load_all()?, key)?.to_network())
    }

    /// Removes every user-defined network without endpoints; returns their names.
    pub fn prune(&self) -> Result<Vec<String>> {
        let _l = self.lock()?;
        let mut out = Vec::new();
        for st in self.load_all()? {
            if st.name != DEFAULT_NETWORK && st.endpoints.is_empty() {
                self.remove_locked(&st)?;
                out.push(st.name);
            }
        }
        Ok(out)
    }

    /// DNS records of a network: container names, aliases and short ids → addresses.
    pub fn dns_records(&self, key: &str) -> Result<Records> {
        Ok(self.find(&self.load_all()?, key)?.records())
    }

    // ----- sandboxes and endpoints -----

    pub fn sandbox_path(&self, container_id: &str) -> PathBuf {
        self.netns_dir.join(container_id)
    }

    /// Creates the container's network namespace (only `lo`, up): this alone is `--network none`.
    pub fn create_sandbox(&self, container_id: &str) -> Result<Sandbox> {
        self.begin_sandbox(container_id)?.wait()
    }

    /// Starts creating the sandbox in the background (see [`netns::Unbound`]).
    pub fn begin_sandbox(&self, container_id: &str) -> Result<PendingSandbox> {
        let unbound =
            netns::Unbound::start().map_err(io_err("creating a network namespace".to_string()))?;
        self.pending_sandbox(container_id, unbound)
    }

    /// The sandbox of `container_id` will be `ns`, a namespace started earlier (before the
    /// container's ID was known); it is pinned at its path by [`PendingSandbox::wait`].
    pub fn pending_sandbox(
        &self,
        container_id: &str,
        ns: netns::Unbound,
    ) -> Result<PendingSandbox> {
        if container_id.is_empty() || container_id.contains('/') {
            return Err(Error::Invalid(format!(
                "invalid container id {container_id:?}"
            )));
        }
        Ok(PendingSandbox {
            id: container_id.to_string(),
            path: self.sandbox_path(container_id),
            pending: ns,
        })
    }

    /// Opens an existing sandbox (e.g. in `network connect`, from another process).
    pub fn open_sandbox(&self, container_id: &str) -> Result<Sandbox> {
        let path = self.sandbox_path(container_id);
        if !path.exists() {
            return Err(Error::NotFound(format!(
                "sandbox of container {container_id}"
            )));
        }
        Ok(Sandbox {
            id: container_id.to_string(),
            path,
            nl: Mutex::new(None),
        })
    }

    /// Endpoints of a container on all networks.
    pub fn endpoints(&self, container_id: &str) -> Result<Vec<Endpoint>> {
        Ok(self
            .load_all()?
            .into_iter()
            .filter_map(|mut n| n.endpoints.remove(container_id))
            .collect())
    }

    /// Connects a sandbox to a network: IP from IPAM, veth pair (host end on the bridge, the
    /// other created directly in the sandbox as `ethN`), address, default route (first network
    /// only), published ports. On error everything done so far is undone.
    pub fn join(&self, sb: &Sandbox, network: &str, opts: EndpointOptions) -> Result<Endpoint> {
        let _l = self.lock()?;
        let all = self.load_all()?;
        let mut st = self.find(&all, network)?;
        if st.endpoints.contains_key(&sb.id) {
            return Err(Error::Conflict(format!(
                "container {} is already connected to network {}",
                sb.id, st.name
            )));
        }
        if st.internal && !opts.port_bindings.is_empty() {
            // Docker accepts and silently drops them (an internal network is never a
            // container's gateway); berth refuses what it would not apply.
            return Err(Error::Invalid(format!(
                "cannot publish ports (-p/--publish, -P/--publish-all) on internal network {}: it has no connectivity outside its bridge",
                st.name
            )));
        }
        v6::check_bindings(&st, &opts.port_bindings)?;
        if st.nft_rev < nft::REV {
            self.upgrade_nft(&all)?;
            st.nft_rev = nft::REV;
        }
        let mine: Vec<&Endpoint> = all.iter().filter_map(|n| n.endpoints.get(&sb.id)).collect();
        let ifname = opts.ifname.clone().unwrap_or_else(|| {
            (0..)
                .map(|i| format!("eth{i}"))
                .find(|n| !mine.iter().any(|e| &e.ifname == n))
                .unwrap()
        });
        // Published ports: our own mappings first (the kernel check below only sees sockets).
        let used: BTreeSet<(Option<IpAddr>, u16, ports::Proto)> = all
            .iter()
            .flat_map(|n| n.endpoints.values())
            .flat_map(|e| e.ports.iter().map(|p| (p.host_ip, p.host_port, p.proto)))
            .collect();
        let clash = |b: &PortBinding, port: u16| {
            used.iter().any(|(ip, p, proto)| {
                *p == port
                    && *proto == b.proto
                    && (ip.is_none() || b.host_ip.is_none() || *ip == b.host_ip)
            })
        };
        let mut ports = Vec::new();
        for b in &opts.port_bindings {
            let mut r = *b;
            if b.host_port != 0
                && (clash(b, b.host_port)
                    || ports
                        .iter()
                        .any(|p: &PortBinding| p.host_port == b.host_port && p.proto == b.proto))
            {
                let addr = std::net::SocketAddr::new(
                    b.host_ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
                    b.host_port,
                );
                return Err(Error::Conflict(format!(
                    "Bind for {addr} failed: port is already allocated"
                )));
            }
            r.host_port = (0..64)
                .map(|_| ports::reserve_host_port(b))
                .find(|p| !matches!(p, Ok(p) if b.host_port == 0 && (clash(b, *p) || ports.iter().any(|x: &PortBinding| x.host_port == *p))))
                .unwrap_or_else(|| Err("no free host port found".into()))
                .map_err(Error::Conflict)?;
            ports.push(r);
        }
        v6::check_loopback6(&st, &ports)?;
        if opts.ip6.is_some() && st.v6.is_none() {
            return Err(Error::Invalid(format!(
                "--ip6 needs a network with IPv6 enabled: network {} was created without --ipv6",
                st.name
            )));
        }
        let ipv6 = match st.v6.as_mut() {
            Some(v) => Some(
                v.pool
                    .allocate(&v.subnet, v.gateway, opts.ip6)
                    .map_err(|e| Error::Conflict(format!("network {}: {e}", st.name)))?,
            ),
            None => None,
        };
        let ipv4 = match st
            .pool
            .allocate(&st.subnet, st.ip_range.as_ref(), st.gateway, opts.ip)
        {
            Ok(ip) => ip,
            Err(e) => {
                if let (Some(v), Some(a)) = (st.v6.as_mut(), ipv6) {
                    v.pool.release(a);
                }
                return Err(Error::Conflict(format!("network {}: {e}", st.name)));
            }
        };
        let mac = match &opts.mac {
            Some(m) => parse_mac(m)?,
            None => {
                let o = ipv4.octets();
                [0x02, 0x42, o[0], o[1], o[2], o[3]]
            }
        };
        let id = random_id();
        let ep = Endpoint {
            host_ifname: format!("veth{}", &id[..7]),
            id,
            network_id: st.id.clone(),
            network_name: st.name.clone(),
            container_id: sb.id.clone(),
            name: opts.name.clone(),
            aliases: opts.aliases.clone(),
            ifname,
            mac: fmt_mac(mac),
            ipv4,
            prefix_len: st.subnet.prefix(),
            gateway: st.gateway,
            ipv6,
            ipv6_prefix_len: st.v6.as_ref().map_or(0, |v| v.subnet.prefix()),
            ipv6_gateway: st.v6.as_ref().map(|v| v.gateway),
            ports,
            dns: st.dns,
        };
        // Record first, so a crash in the middle leaves something destroy_sandbox can clean.
        st.endpoints.insert(sb.id.clone(), ep.clone());
        self.save(&st)?;
        if let Err(e) = self.plumb(sb, &st, &ep, mac, mine.is_empty()) {
            let _ = self.unplumb(&st, &ep, true);
            st.endpoints.remove(&sb.id);
            st.pool.release(ipv4);
            if let (Some(v), Some(a)) = (st.v6.as_mut(), ipv6) {
                v.pool.release(a);
            }
            let _ = self.save(&st);
            return Err(e);
        }
        Ok(ep)
    }

    /// Networks made under older rules: reinstalls the rules (which also registers every
    /// bridge already in the kernel's sets for the isolation rules) and re-registers this
    /// root's networks, once. Called under the lock.
    fn upgrade_nft(&self, all: &[NetState]) -> Result<()> {
        nft::ensure_table().map_err(Error::Kernel)?;
        for n in all.iter().filter(|n| n.nft_rev < nft::REV) {
            self.nft_apply(true, n, &self.bridge_registration(n))?;
            let mut n = n.clone();
            n.nft_rev = nft::REV;
            self.save(&n)?;
        }
        Ok(())
    }

    fn port_elems(ep: &Endpoint) -> Vec<Elem> {
        let mut v: Vec<Elem> = ep
            .ports
            .iter()
            .filter_map(|p| match p.host_ip {
                None => Some((None, p)),
                Some(IpAddr::V4(h)) => Some((Some(h), p)),
                Some(IpAddr::V6(_)) => None,
            })
            .map(|(h, p)| {
                nft::port_elem(h, p.proto.number(), p.host_port, ep.ipv4, p.container_port)
            })
            .collect();
        if !v.is_empty() {
            v.push(nft::hairpin_elem(ep.ipv4));
        }
        v.extend(v6::port_elems6(ep));
        v
    }

    fn plumb(
        &self,
        sb: &Sandbox,
        st: &NetState,
        ep: &Endpoint,
        mac: [u8; 6],
        default_route: bool,
    ) -> Result<()> {
        // A bridge can vanish under its record (host reboot, `ip link del`): re-create it
        // from the record, as dockerd does for docker0 at start.
        let br = match self.link_index(&st.bridge)? {
            Some(i) => i,
            None => {
                self.setup_bridge(st)?;
                self.link_index(&st.bridge)?.ok_or_else(|| {
                    Error::Kernel(format!(
                        "bridge {} of network {} is missing",
                        st.bridge, st.name
                    ))
                })?
            }
        };
        let ns = File::open(&sb.path).map_err(io_err(format!("opening {}", sb.path.display())))?;
        self.with_rt(|nl| {
            nl.exec(&mut [netlink::new_veth(
                &ep.host_ifname,
                br,
                &ep.ifname,
                mac,
                ns.as_raw_fd(),
            )])
            .map_err(kernel(format!(
                "creating veth pair {}/{}",
                ep.host_ifname, ep.ifname
            )))
        })?;
        // With br_netfilter loaded, hairpin DNAT (container -> host:port -> same container) is
        // bridged straight back out of the port it came in on, which needs hairpin mode.
        sysctl(
            &format!("/sys/class/net/{}/brport/hairpin_mode", ep.host_ifname),
            "1",
        )?;
        let mut g = sb.nl.lock().unwrap();
        if g.is_none() {
            *g = Some(
                netns::netlink_in(&sb.path).map_err(io_err("opening netlink in the sandbox"))?,
            );
        }
        let nl = g.as_mut().unwrap();
        let idx = nl
            .query(netlink::get_link(&ep.ifname))
            .map_err(kernel(format!("looking up {} in the sandbox", ep.ifname)))?
            .first()
            .and_then(|(_, p)| netlink::link_index(p))
            .ok_or_else(|| Error::Kernel(format!("{} missing in the sandbox", ep.ifname)))?;
        let mut msgs = vec![
            netlink::set_up(&ep.ifname),
            netlink::new_addr(idx, ep.ipv4, ep.prefix_len),
        ];
        if default_route && !st.internal {
            msgs.push(netlink::new_default_route(ep.gateway, idx));
        }
        if let Some(a) = ep.ipv6 {
            msgs.push(crate::netlink6::new_addr6(idx, a, ep.ipv6_prefix_len));
            if let (true, false, Some(g)) = (default_route, st.internal, ep.ipv6_gateway) {
                msgs.push(crate::netlink6::new_default_route6(g, idx));
            }
        }
        nl.exec(&mut msgs)
            .map_err(kernel(format!("configuring {} in the sandbox", ep.ifname)))?;
        drop(g);
        if !st.internal {
            self.nft_apply(true, st, &Self::port_elems(ep))?;
        }
        Ok(())
    }

    fn unplumb(&self, st: &NetState, ep: &Endpoint, delete_link: bool) -> Result<()> {
        // Deleting the host end removes the peer inside the sandbox too.
        let a = if delete_link {
            self.del_link(&ep.host_ifname)
        } else {
            Ok(())
        };
        let b = self.nft_apply(false, st, &Self::port_elems(ep));
        a.and(b)
    }

    /// Disconnects a container from a network: veth, port mappings, IP released.
    pub fn leave(&self, container_id: &str, network: &str) -> Result<()> {
        let _l = self.lock()?;
        let mut st = self.find(&self.load_all()?, network)?;
        self.leave_locked(&mut st, container_id, true)
    }

    fn leave_locked(&self, st: &mut NetState, container_id: &str, delete_link: bool) -> Result<()> {
        let ep = st.endpoints.get(container_id).cloned().ok_or_else(|| {
            Error::NotFound(format!(
                "container {container_id} is not connected to network {}",
                st.name
            ))
        })?;
        self.unplumb(st, &ep, delete_link)?;
        st.endpoints.remove(container_id);
        st.pool.release(ep.ipv4);
        if let (Some(v), Some(a)) = (st.v6.as_mut(), ep.ipv6) {
            v.pool.release(a);
        }
        self.save(st)
    }

    /// Leaves every network and removes the namespace, synchronously: when it returns, the
    /// veths, NAT elements, IPs and the namespace file are gone. Idempotent, and works after a
    /// crash (state on disk says what to remove). Deleting a veth costs the kernel ~20-30 ms
    /// (RCU grace periods); see [`release_sandbox`](Self::release_sandbox) for the fast path.
    pub fn destroy_sandbox(&self, container_id: &str) -> Result<()> {
        self.teardown_sandbox(container_id, true)
    }

    /// Fast teardown for `rm`/`run --rm`: NAT elements and IPs are removed and the namespace is
    /// unmounted at once, and the kernel deletes the veth pairs together with the namespace in
    /// the background (milliseconds later). Only valid once nothing else holds the namespace
    /// (container processes gone, [`Sandbox`] handles dropped); otherwise the veths live on
    /// until it is released. Reusing the address right away is harmless in any case because
    /// IPAM hands out addresses round-robin.
    pub fn release_sandbox(&self, container_id: &str) -> Result<()> {
        self.teardown_sandbox(container_id, false)
    }

    fn teardown_sandbox(&self, container_id: &str, sync: bool) -> Result<()> {
        let mut first_err = None;
        {
            let _l = self.lock()?;
            for mut st in self.load_all()? {
                if st.endpoints.contains_key(container_id) {
                    if let Err(e) = self.leave_locked(&mut st, container_id, sync) {
                        first_err.get_or_insert(e);
                    }
                }
            }
        }
        let p = self.sandbox_path(container_id);
        if let Err(e) = netns::remove(&p) {
            first_err.get_or_insert(io_err(format!("removing {}", p.display()))(e));
        }
        first_err.map_or(Ok(()), Err)
    }
}

/// Bridge driver options berth does not implement are refused rather than ignored when they ask
/// for something other than Docker's default: `enable_icc=false` (no traffic between the
/// containers of one network) and `enable_ip_masquerade=false`. Unknown keys are kept, as
/// Docker keeps them.
fn check_driver_options(options: &BTreeMap<String, String>) -> Result<()> {
    for key in [
        "com.docker.network.bridge.enable_icc",
        "com.docker.network.bridge.enable_ip_masquerade",
    ] {
        let Some(v) = options.get(key) else { continue };
        match v.to_ascii_lowercase().as_str() {
            "1" | "t" | "true" => {}
            "0" | "f" | "false" => {
                return Err(Error::Invalid(format!(
                    "-o {key}={v} is not supported by berth: only the default (true) is implemented"
                )))
            }
            _ => {
                return Err(Error::Invalid(format!(
                    "failed to parse {key} value: {v} (use true or false)"
                )))
            }
        }
    }
    Ok(())
}

fn check_elems(elems: &[Elem], res: Vec<crate::netlink::NlResult<()>>) -> Result<()> {
    for (e, r) in elems.iter().zip(res) {
        match r {
            Ok(()) => {}
            // A leftover registration of the same bridge is what we wanted anyway.
            Err(err) if err.errno == libc::EEXIST && nft::BRIDGE_SETS.contains(&e.set) => {}
            Err(err) if err.errno == libc::EEXIST => {
                return Err(Error::Conflict(
                    "Bind for published port failed: port is already allocated (mapped by another berth instance)".into(),
                ))
            }
            Err(err) => {
                return Err(Error::Kernel(format!("adding nftables element to {}: {err}", e.set)))
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod default_bridge_tests {
    use super::*;

    #[test]
    fn default_bridge_depends_on_the_root() {
        assert_eq!(default_bridge_for(Path::new("/var/lib/berth")), "berth0");
        let a = default_bridge_for(Path::new("/tmp/x-root-a"));
        let b = default_bridge_for(Path::new("/tmp/x-root-b"));
        assert_ne!(a, b);
        assert!(a.starts_with("berth") && a.len() <= 15, "{a}");
    }
}
