//! `berth system check` / `system reset` for one root's networking: what a crash or a kill -9
//! leaves behind, found from this root's network state and the kernel, and removed on request.
//!
//! Only what belongs to this root is looked at: its networks' endpoints and IPAM pools, the
//! ports of its bridges, the nf_tables elements whose container address lies in one of its
//! subnets, and the namespace files under its runroot. The `ip berth` table is shared by every
//! root (see [`nft`]): other roots' elements are never touched, and the table itself is removed
//! by [`NetworkController::reset`] only when no bridge of any root is registered in it.

use super::*;
use std::process::{Command, Stdio};

/// One leftover: what it is, which object, what is wrong, what a repair does, and (after a
/// repair was asked for) how it went.
#[derive(Debug, Clone)]
pub struct Leak {
    /// "endpoint", "ipam", "veth", "nft", "netns".
    pub kind: &'static str,
    pub object: String,
    pub problem: String,
    pub action: &'static str,
    /// None: not repaired (not asked); Some(Err): the repair failed.
    pub repaired: Option<std::result::Result<(), String>>,
}

impl Leak {
    fn new(kind: &'static str, object: String, problem: String, action: &'static str) -> Leak {
        Leak {
            kind,
            object,
            problem,
            action,
            repaired: None,
        }
    }

    fn fix<E: std::fmt::Display>(&mut self, r: std::result::Result<(), E>) {
        self.repaired = Some(r.map_err(|e| e.to_string()));
    }
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

/// An element of a per-container set or map of the shared table, as `nft` spells its key.
struct NftElem {
    /// "ip" or "ip6" (`table ip6 berth` of dual-stack networks, see [`crate::nft6`]).
    family: &'static str,
    set: &'static str,
    /// The key in `nft` syntax (`a . b . c`).
    key: String,
    /// The container address it points to.
    cip: IpAddr,
}

fn json_atom(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn concat(v: &serde_json::Value) -> Vec<String> {
    match v.get("concat").and_then(|c| c.as_array()) {
        Some(a) => a.iter().filter_map(json_atom).collect(),
        None => json_atom(v).into_iter().collect(),
    }
}

/// The elements of `hairpin`, `ports_any` and `ports_ip` (read with `nft -j`: this is not on a
/// hot path, and parsing nf_tables' element dumps by hand is not worth it here).
fn container_elems() -> Vec<NftElem> {
    let mut out = Vec::new();
    for (family, kind, set) in FAMILIES.into_iter().flat_map(|f| {
        [
            (f, "set", "hairpin"),
            (f, "map", "ports_any"),
            (f, "map", "ports_ip"),
        ]
    }) {
        let Ok(o) = Command::new("nft")
            .args(["-j", "list", kind, family, nft::TABLE, set])
            .stderr(Stdio::null())
            .output()
        else {
            continue;
        };
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&o.stdout) else {
            continue;
        };
        for obj in v["nftables"].as_array().into_iter().flatten() {
            for e in obj[kind]["elem"].as_array().into_iter().flatten() {
                // A set element is its key; a map element is [key, data].
                let (key, cip) = match e.as_array() {
                    Some(kv) if kv.len() == 2 => (concat(&kv[0]), concat(&kv[1]).first().cloned()),
                    _ => {
                        let k = concat(e);
                        let c = k.first().cloned();
                        (k, c)
                    }
                };
                let Some(cip) = cip.and_then(|c| c.parse().ok()) else {
                    continue;
                };
                out.push(NftElem {
                    family,
                    set,
                    key: key.join(" . "),
                    cip,
                });
            }
        }
    }
    out
}

/// Interfaces registered in the bridge sets (`bridges`, `internal`; `same` holds `X . X`).
/// The two tables of berth: `ip berth` and `ip6 berth`.
const FAMILIES: [&str; 2] = ["ip", "ip6"];

/// Bridge registrations of both tables: (family, set, interface, key in `nft` syntax).
fn bridge_elems() -> Vec<(&'static str, &'static str, String, String)> {
    let mut out = Vec::new();
    for (family, set) in FAMILIES
        .into_iter()
        .flat_map(|f| nft::BRIDGE_SETS.map(|s| (f, s)))
    {
        let Ok(o) = Command::new("nft")
            .args(["-j", "list", "set", family, nft::TABLE, set])
            .stderr(Stdio::null())
            .output()
        else {
            continue;
        };
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&o.stdout) else {
            continue;
        };
        for obj in v["nftables"].as_array().into_iter().flatten() {
            for e in obj["set"]["elem"].as_array().into_iter().flatten() {
                let names = concat(e);
                let Some(first) = names.first().cloned() else {
                    continue;
                };
                if !nft::valid_ifname(&first) {
                    continue;
                }
                let key = names
                    .iter()
                    .map(|n| format!("\"{n}\""))
                    .collect::<Vec<_>>()
                    .join(" . ");
                out.push((family, set, first, key));
            }
        }
    }
    out
}

fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

fn nft_delete(family: &str, set: &str, key: &str) -> std::result::Result<(), String> {
    let o = Command::new("nft")
        .args([
            "delete",
            "element",
            family,
            nft::TABLE,
            set,
            &format!("{{ {key} }}"),
        ])
        .output()
        .map_err(|e| format!("running nft: {e}"))?;
    if o.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&o.stderr).trim().to_string())
    }
}

/// Host ends of veths enslaved to `bridge` (its ports, from sysfs).
fn bridge_ports(bridge: &str) -> Vec<String> {
    fs::read_dir(format!("/sys/class/net/{bridge}/brif"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

impl NetworkController {
    /// Finds (and with `repair` removes) this root's network leftovers. `owned(id)` says whether
    /// container `id` may hold network resources now (it runs, or another berth works on it);
    /// nothing of such a container is looked at twice or touched. Runs under the network lock,
    /// so no endpoint is being made or removed meanwhile.
    pub fn audit(&self, owned: &dyn Fn(&str) -> bool, repair: bool) -> Result<Vec<Leak>> {
        let _l = self.lock()?;
        let mut out = Vec::new();
        let mut all = self.load_all()?;
        for st in &mut all {
            let stale: Vec<String> = st.endpoints.keys().filter(|c| !owned(c)).cloned().collect();
            for cid in stale {
                let ep = st.endpoints[&cid].clone();
                let mut l = Leak::new(
                    "endpoint",
                    format!("{}/{}", st.name, short(&cid)),
                    format!(
                        "endpoint {} ({}, {}) of a container that is not running",
                        short(&ep.id),
                        ep.ipv4,
                        ep.host_ifname
                    ),
                    "disconnect",
                );
                if repair {
                    l.fix(self.leave_locked(st, &cid, true));
                }
                out.push(l);
            }
        }
        for st in &mut all {
            let used: BTreeSet<Ipv4Addr> = st.endpoints.values().map(|e| e.ipv4).collect();
            let stray: Vec<Ipv4Addr> = st
                .pool
                .allocated
                .iter()
                .filter(|a| !used.contains(a) && **a != st.gateway)
                .copied()
                .collect();
            for ip in stray {
                let mut l = Leak::new(
                    "ipam",
                    format!("{}/{ip}", st.name),
                    "address allocated with no endpoint".into(),
                    "release",
                );
                if repair {
                    st.pool.release(ip);
                    l.fix(self.save(st));
                }
                out.push(l);
            }
            // The same for the v6 pool of a dual-stack network.
            let used6: BTreeSet<Ipv6Addr> = st.endpoints.values().filter_map(|e| e.ipv6).collect();
            let stray6: Vec<Ipv6Addr> = st
                .v6
                .iter()
                .flat_map(|v| v.pool.allocated.iter().filter(|a| **a != v.gateway))
                .filter(|a| !used6.contains(a))
                .copied()
                .collect();
            for ip in stray6 {
                let mut l = Leak::new(
                    "ipam",
                    format!("{}/{ip}", st.name),
                    "address allocated with no endpoint".into(),
                    "release",
                );
                if repair {
                    if let Some(v) = st.v6.as_mut() {
                        v.pool.release(ip);
                    }
                    l.fix(self.save(st));
                }
                out.push(l);
            }
        }
        for st in &all {
            let known: BTreeSet<&str> = st
                .endpoints
                .values()
                .map(|e| e.host_ifname.as_str())
                .collect();
            let mut stray: Vec<String> = bridge_ports(&st.bridge)
                .into_iter()
                .filter(|p| !known.contains(p.as_str()))
                .collect();
            // A released sandbox's veths go with its namespace, which the kernel deletes in the
            // background (`release_sandbox`): give such a deletion up to two seconds.
            let mut waited = 0;
            while !stray.is_empty() && waited < 20 {
                std::thread::sleep(std::time::Duration::from_millis(100));
                waited += 1;
                let now = bridge_ports(&st.bridge);
                stray.retain(|p| now.contains(p));
            }
            for port in stray {
                let mut l = Leak::new(
                    "veth",
                    port.clone(),
                    format!("on bridge {} with no endpoint", st.bridge),
                    "delete",
                );
                if repair {
                    l.fix(self.del_link(&port));
                }
                out.push(l);
            }
        }
        let ours: Vec<(&NetState, BTreeSet<IpAddr>)> = all
            .iter()
            .map(|st| {
                let ips = st
                    .endpoints
                    .values()
                    .filter(|e| !e.ports.is_empty())
                    .flat_map(|e| std::iter::once(IpAddr::V4(e.ipv4)).chain(e.ipv6.map(IpAddr::V6)))
                    .collect();
                (st, ips)
            })
            .collect();
        let in_subnet = |st: &NetState, ip: IpAddr| match ip {
            IpAddr::V4(a) => st.subnet.contains(a),
            IpAddr::V6(a) => st.v6.as_ref().is_some_and(|v| v.subnet.contains(a)),
        };
        if !ours.is_empty() {
            for e in container_elems() {
                let Some((st, _)) = ours
                    .iter()
                    .find(|(st, ips)| in_subnet(st, e.cip) && !ips.contains(&e.cip))
                else {
                    continue;
                };
                let mut l = Leak::new(
                    "nft",
                    format!("{} {} {{ {} }}", e.family, e.set, e.key),
                    format!(
                        "element for {} on {} ({}) with no endpoint",
                        e.cip, st.name, st.bridge
                    ),
                    "delete",
                );
                if repair {
                    l.fix(nft_delete(e.family, e.set, &e.key));
                }
                out.push(l);
            }
        }
        // Bridge registrations naming a device that no longer exists (a network removal
        // killed between deleting its bridge and its elements; any root's: such an element is
        // inert). A network being made or removed right now gets a moment to finish.
        let mut gone: Vec<_> = bridge_elems()
            .into_iter()
            .filter(|(_, _, n, _)| !link_exists(n))
            .collect();
        if !gone.is_empty() {
            std::thread::sleep(std::time::Duration::from_millis(300));
            let now: BTreeSet<(&str, String)> = bridge_elems()
                .into_iter()
                .map(|(f, _, _, k)| (f, k))
                .collect();
            gone.retain(|(f, _, n, k)| !link_exists(n) && now.contains(&(*f, k.clone())));
        }
        for (family, set, name, key) in gone {
            let mut l = Leak::new(
                "nft",
                format!("{family} {set} {{ {key} }}"),
                format!("registers bridge {name}, which does not exist"),
                "delete",
            );
            if repair {
                l.fix(nft_delete(family, set, &key));
            }
            out.push(l);
        }
        let mut names: Vec<String> = fs::read_dir(&self.netns_dir)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        for n in names {
            if owned(&n) {
                continue;
            }
            let p = self.netns_dir.join(&n);
            let mut l = Leak::new(
                "netns",
                p.display().to_string(),
                "network namespace of a container that is not running".into(),
                "remove",
            );
            if repair {
                l.fix(netns::remove(&p));
            }
            out.push(l);
        }
        Ok(out)
    }

    /// `system reset`: removes every network of this root (endpoints first: their veths,
    /// elements and addresses), the namespace files, and the shared `ip berth` table when no
    /// bridge of any root is left in it. Call once no container of the root runs.
    pub fn reset(&self) -> Result<()> {
        let mut first_err = None;
        {
            let _l = self.lock()?;
            for mut st in self.load_all()? {
                let cids: Vec<String> = st.endpoints.keys().cloned().collect();
                for cid in cids {
                    if let Err(e) = self.leave_locked(&mut st, &cid, true) {
                        first_err.get_or_insert(e);
                    }
                }
                if let Err(e) = self.remove_locked(&st) {
                    first_err.get_or_insert(e);
                }
            }
        }
        for e in fs::read_dir(&self.netns_dir)
            .into_iter()
            .flatten()
            .flatten()
        {
            if let Err(err) = netns::remove(&e.path()) {
                first_err.get_or_insert(io_err(format!("removing {}", e.path().display()))(err));
            }
        }
        let _ = fs::remove_dir(&self.netns_dir);
        if let Err(e) = drop_table_if_unused() {
            first_err.get_or_insert(Error::Kernel(e));
        }
        first_err.map_or(Ok(()), Err)
    }
}

/// Deletes `table ip berth` when no root has a bridge registered in it any more (its rules are
/// inert then). Another root creating a network meanwhile reinstalls it (`ensure_table`).
pub fn drop_table_if_unused() -> std::result::Result<(), String> {
    // `ip6 berth` first (only dual-stack bridges register there), then `ip berth`.
    drop_if_unused("ip6")?;
    drop_if_unused("ip")
}

fn drop_if_unused(family: &str) -> std::result::Result<(), String> {
    let Ok(o) = Command::new("nft")
        .args(["-j", "list", "table", family, nft::TABLE])
        .stderr(Stdio::null())
        .output()
    else {
        return Ok(());
    };
    if !o.status.success() {
        return Ok(()); // no table
    }
    let v: serde_json::Value =
        serde_json::from_slice(&o.stdout).map_err(|e| format!("parsing nft output: {e}"))?;
    let registered = v["nftables"].as_array().into_iter().flatten().any(|obj| {
        let s = &obj["set"];
        nft::BRIDGE_SETS.contains(&s["name"].as_str().unwrap_or(""))
            && s["elem"].as_array().is_some_and(|a| !a.is_empty())
    });
    if registered {
        return Ok(());
    }
    let o = Command::new("nft")
        .args(["delete", "table", family, nft::TABLE])
        .output()
        .map_err(|e| format!("running nft: {e}"))?;
    if o.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&o.stderr).trim().to_string())
    }
}
