//! `berth network create|ls|inspect|rm|prune|connect|disconnect`, with Docker's flags, output
//! and exit codes (1 for command errors; clap's usage errors are 125 in main). The work is done
//! by the engine's network operations (bridge networks plus the pre-defined `host` and `none`).

mod v6;

use crate::format::{format_rows, Template};
use clap::Subcommand;
use engine::networks::{NetworkCreateRequest, NetworkResource};
use engine::{Engine, EngineOptions};
use serde_json::json;
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::net::Ipv4Addr;
use std::path::Path;

#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum NetworkCmd {
    /// Create a network
    Create {
        /// Driver to manage the Network
        #[arg(short = 'd', long, default_value = "bridge")]
        driver: String,
        /// Subnet in CIDR format that represents a network segment
        #[arg(long)]
        subnet: Vec<String>,
        /// IPv4 Gateway for the master subnet
        #[arg(long)]
        gateway: Vec<String>,
        /// Allocate container ip from a sub-range
        #[arg(long = "ip-range")]
        ip_range: Vec<String>,
        /// Set driver specific options (e.g. com.docker.network.bridge.name=br0)
        #[arg(short = 'o', long = "opt")]
        opt: Vec<String>,
        /// Restrict external access to the network
        #[arg(long)]
        internal: bool,
        /// Enable manual container attachment
        #[arg(long)]
        attachable: bool,
        /// Set metadata on a network
        #[arg(long)]
        label: Vec<String>,
        /// Enable IPv6 networking
        #[arg(long)]
        ipv6: bool,
        name: String,
    },
    /// List networks
    #[command(visible_alias = "list")]
    Ls {
        /// Only display network IDs
        #[arg(short, long)]
        quiet: bool,
        /// Pretty-print networks using a Go template
        #[arg(long)]
        format: Option<String>,
        /// Do not truncate the output
        #[arg(long = "no-trunc")]
        no_trunc: bool,
        /// Provide filter values (e.g. 'driver=bridge')
        #[arg(short, long)]
        filter: Vec<String>,
    },
    /// Display detailed information on one or more networks
    Inspect {
        /// Format the output using the given Go template
        #[arg(short, long)]
        format: Option<String>,
        /// Verbose output for diagnostics (accepted, no extra output)
        #[arg(short, long)]
        verbose: bool,
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove one or more networks
    #[command(visible_alias = "remove")]
    Rm {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove all unused networks
    Prune {
        /// Do not prompt for confirmation
        #[arg(short, long)]
        force: bool,
        /// Provide filter values (accepted, not implemented)
        #[arg(long)]
        filter: Vec<String>,
    },
    /// Connect a container to a network
    Connect {
        /// Add network-scoped alias for the container
        #[arg(long)]
        alias: Vec<String>,
        /// IPv4 address (e.g., 172.30.100.104)
        #[arg(long)]
        ip: Option<String>,
        /// IPv6 address (e.g., 2001:db8::33)
        #[arg(long)]
        ip6: Option<String>,
        network: String,
        container: String,
    },
    /// Disconnect a container from a network
    Disconnect {
        /// Force the container to disconnect from a network
        #[arg(short, long)]
        force: bool,
        network: String,
        container: String,
    },
}

/// Runs a network command, printing to stdout/stderr; returns the exit code.
pub fn run(cmd: NetworkCmd, root: &Path, runroot: &Path) -> anyhow::Result<i32> {
    let stdin = std::io::stdin();
    let mut stdin = stdin.lock();
    Ok(run_with(
        cmd,
        root,
        runroot,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
        &mut stdin,
    ))
}

/// A command failure: Docker prints `Error: <msg>` and exits 1.
struct Fail(String);

impl From<engine::Error> for Fail {
    fn from(e: engine::Error) -> Fail {
        Fail(e.to_string())
    }
}

impl From<std::io::Error> for Fail {
    fn from(e: std::io::Error) -> Fail {
        // A closed pipe (`berth network ls | head`) is not worth a message.
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            return Fail(String::new());
        }
        Fail(e.to_string())
    }
}

/// [`run`] with explicit streams (tests).
pub fn run_with(
    cmd: NetworkCmd,
    root: &Path,
    runroot: &Path,
    out: &mut dyn Write,
    err: &mut dyn Write,
    input: &mut dyn BufRead,
) -> i32 {
    let opened = Engine::open(EngineOptions {
        root: root.to_path_buf(),
        runroot: runroot.to_path_buf(),
        storage_driver: None,
    });
    let paths = match opened {
        Ok(e) => e,
        Err(e) => {
            let _ = writeln!(err, "Error: {e}");
            return 1;
        }
    };
    let r = match cmd {
        NetworkCmd::Create {
            driver,
            subnet,
            gateway,
            ip_range,
            opt,
            internal,
            attachable,
            label,
            ipv6,
            name,
        } => create(
            &paths,
            CreateArgs {
                driver,
                subnet,
                gateway,
                ip_range,
                opt,
                internal,
                attachable,
                label,
                ipv6,
                name,
            },
            out,
        ),
        NetworkCmd::Ls {
            quiet,
            format,
            no_trunc,
            filter,
        } => ls(&paths, quiet, format, no_trunc, &filter, out),
        NetworkCmd::Inspect { format, names, .. } => inspect(&paths, format, &names, out, err),
        NetworkCmd::Rm { names } => rm(&paths, &names, out, err),
        NetworkCmd::Prune { force, .. } => prune(&paths, force, out, input),
        NetworkCmd::Connect {
            alias,
            ip,
            ip6,
            network,
            container,
        } => connect(
            &paths,
            &network,
            &container,
            &alias,
            ip.as_deref(),
            ip6.as_deref(),
        ),
        NetworkCmd::Disconnect {
            force,
            network,
            container,
        } => disconnect(&paths, &network, &container, force),
    };
    match r {
        Ok(()) => 0,
        Err(Fail(m)) => {
            if !m.is_empty() {
                let _ = writeln!(err, "Error: {m}");
            }
            1
        }
    }
}

struct CreateArgs {
    driver: String,
    subnet: Vec<String>,
    gateway: Vec<String>,
    ip_range: Vec<String>,
    opt: Vec<String>,
    internal: bool,
    attachable: bool,
    label: Vec<String>,
    ipv6: bool,
    name: String,
}

fn one<'a>(v: &'a [String], flag: &str) -> Result<Option<&'a str>, Fail> {
    match v {
        [] => Ok(None),
        [x] => Ok(Some(x)),
        _ => Err(Fail(format!(
            "berth supports one IPv4 pool per network: pass {flag} once"
        ))),
    }
}

fn kv(list: &[String], what: &str) -> Result<BTreeMap<String, String>, Fail> {
    list.iter()
        .map(|s| match s.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            None if !s.is_empty() && what == "label" => Ok((s.clone(), String::new())),
            _ => Err(Fail(format!("invalid {what} {s:?}: expected KEY=VALUE"))),
        })
        .collect()
}

fn create(paths: &Engine, mut a: CreateArgs, out: &mut dyn Write) -> Result<(), Fail> {
    // A dual-stack network takes one v4 and one v6 --subnet (and --gateway).
    let (subnet6, gateway6) = v6::split_v6(&mut a.subnet, &mut a.gateway)?;
    let subnet = one(&a.subnet, "--subnet")?.map(String::from);
    let gateway = one(&a.gateway, "--gateway")?.map(String::from);
    let ip_range = one(&a.ip_range, "--ip-range")?.map(String::from);
    let options = kv(&a.opt, "option")?;
    let id = paths.network_create(&NetworkCreateRequest {
        name: a.name,
        driver: Some(a.driver),
        subnet,
        gateway,
        ip_range,
        internal: a.internal,
        attachable: a.attachable,
        labels: kv(&a.label, "label")?,
        options,
        ipv6: a.ipv6,
        subnet6,
        gateway6,
    })?;
    writeln!(out, "{id}")?;
    Ok(())
}

/// Docker's `network ls` filters: driver, id, label, name, scope, type, dangling.
fn matches(n: &NetworkResource, filters: &[(String, String)]) -> Result<bool, Fail> {
    let mut by_key: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (k, v) in filters {
        by_key.entry(k.as_str()).or_default().push(v.as_str());
    }
    for (k, vals) in by_key {
        // Values of one key are alternatives; different keys must all match.
        let ok = vals.iter().any(|v| match k {
            "driver" => n.driver == *v,
            "id" => n.id.starts_with(v),
            "name" => n.name.contains(v),
            "scope" => n.scope == *v,
            "type" => (*v == "builtin") == n.is_builtin(),
            "dangling" => {
                (*v == "true" || *v == "1") == (n.containers.is_empty() && !n.is_builtin())
            }
            "label" => match v.split_once('=') {
                Some((lk, lv)) => n.labels.get(lk).is_some_and(|x| x == lv),
                None => n.labels.contains_key(*v),
            },
            _ => false,
        });
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

fn parse_filters(filter: &[String]) -> Result<Vec<(String, String)>, Fail> {
    filter
        .iter()
        .map(|f| {
            let (k, v) = f
                .split_once('=')
                .ok_or_else(|| Fail(format!("bad format of filter (expected name=value): {f}")))?;
            let known = ["driver", "id", "label", "name", "scope", "type", "dangling"];
            if !known.contains(&k) {
                return Err(Fail(format!("Invalid filter '{k}'")));
            }
            if k == "type" && v != "custom" && v != "builtin" {
                return Err(Fail(format!(
                    "invalid filter: 'type' must be one of 'builtin' or 'custom' (got {v:?})"
                )));
            }
            if k == "dangling" && !["true", "false", "1", "0"].contains(&v) {
                return Err(Fail(format!("invalid filter 'dangling={v}'")));
            }
            Ok((k.to_string(), v.to_string()))
        })
        .collect()
}

/// `2021-06-01 10:00:00.123456789 +0000 UTC`, Go's time.Time String() as Docker prints it.
fn created_at(rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .format("%Y-%m-%d %H:%M:%S%.f +0000 UTC")
                .to_string()
        })
        .unwrap_or_default()
}

fn ls(
    paths: &Engine,
    quiet: bool,
    format: Option<String>,
    no_trunc: bool,
    filter: &[String],
    out: &mut dyn Write,
) -> Result<(), Fail> {
    let filters = parse_filters(filter)?;
    let mut nets = paths.network_list()?;
    // Docker's CLI sorts by name.
    nets.sort_by(|a, b| a.name.cmp(&b.name));
    let mut rows = Vec::new();
    for n in nets {
        if !matches(&n, &filters)? {
            continue;
        }
        let id = if no_trunc {
            n.id.clone()
        } else {
            n.id.chars().take(12).collect()
        };
        if quiet {
            writeln!(out, "{id}")?;
            continue;
        }
        let labels: Vec<String> = n.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        rows.push(json!({
            "ID": id,
            "Name": n.name,
            "Driver": n.driver,
            "Scope": n.scope,
            "IPv6": n.enable_ipv6.to_string(),
            "Internal": n.internal.to_string(),
            "Labels": labels.join(","),
            "CreatedAt": created_at(&n.created),
            crate::format::METHODS: {"Label": n.labels},
        }));
    }
    if quiet {
        return Ok(());
    }
    let format = format
        .filter(|f| !f.is_empty() && f != "table")
        .unwrap_or_else(|| "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}".into());
    let headers = [
        ("ID", "NETWORK ID"),
        ("Name", "NAME"),
        ("Driver", "DRIVER"),
        ("Scope", "SCOPE"),
        ("IPv6", "IPV6"),
        ("Internal", "INTERNAL"),
        ("Labels", "LABELS"),
        ("CreatedAt", "CREATED AT"),
    ];
    let s = format_rows(&format, &rows, &headers).map_err(Fail)?;
    out.write_all(s.as_bytes())?;
    if !s.is_empty() && !s.ends_with('\n') {
        writeln!(out)?;
    }
    Ok(())
}

/// Docker's inspect JSON: 4-space indent, fields in Docker's order (the typed struct's).
fn pretty<T: serde::Serialize>(v: &T) -> String {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    serde::Serialize::serialize(v, &mut ser).expect("serializable");
    String::from_utf8(buf).expect("utf8")
}

fn inspect(
    paths: &Engine,
    format: Option<String>,
    names: &[String],
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), Fail> {
    let tmpl = format
        .as_deref()
        .filter(|f| !f.is_empty())
        .map(|f| Template::parse(f).map_err(|e| Fail(format!("template parsing error: {e}"))))
        .transpose()?;
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for n in names {
        match paths.network_inspect(n) {
            Ok(net) => found.push(net),
            Err(e) => errors.push(Fail::from(e).0),
        }
    }
    match &tmpl {
        Some(_) if crate::format::is_json(format.as_deref()) => writeln!(
            out,
            "{}",
            serde_json::to_string(&found).expect("serializable")
        )?,
        Some(t) => {
            for n in &found {
                let v = serde_json::to_value(n).expect("serializable");
                writeln!(out, "{}", t.execute(&v).map_err(Fail)?)?;
            }
        }
        None => writeln!(out, "{}", pretty(&found))?,
    }
    // Every missing name is reported; the last one is the command's error.
    match errors.pop() {
        None => Ok(()),
        Some(last) => {
            for e in errors {
                writeln!(err, "Error: {e}")?;
            }
            Err(Fail(last))
        }
    }
}

fn rm(
    paths: &Engine,
    names: &[String],
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), Fail> {
    let mut failed = false;
    for n in names {
        match paths.network_remove(n) {
            // Docker echoes the argument as given.
            Ok(_) => writeln!(out, "{n}")?,
            Err(e) => {
                failed = true;
                writeln!(err, "Error: {}", Fail::from(e).0)?;
            }
        }
    }
    if failed {
        Err(Fail(String::new()))
    } else {
        Ok(())
    }
}

fn prune(
    paths: &Engine,
    force: bool,
    out: &mut dyn Write,
    input: &mut dyn BufRead,
) -> Result<(), Fail> {
    if !force {
        write!(
            out,
            "WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue? [y/N] "
        )?;
        out.flush()?;
        let mut answer = String::new();
        input.read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes" | "Yes") {
            return Ok(());
        }
    }
    let removed = paths.network_prune()?;
    if !removed.is_empty() {
        writeln!(out, "Deleted Networks:")?;
        for n in removed {
            writeln!(out, "{n}")?;
        }
        writeln!(out)?;
    }
    Ok(())
}

fn connect(
    paths: &Engine,
    network: &str,
    container: &str,
    aliases: &[String],
    ip: Option<&str>,
    ip6: Option<&str>,
) -> Result<(), Fail> {
    let ip6 = ip6
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<std::net::Ipv6Addr>()
                .map_err(|_| Fail(format!("invalid IPv6 address: {s}")))
        })
        .transpose()?;
    let ip = ip
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<Ipv4Addr>()
                .map_err(|_| Fail(format!("invalid IPv4 address: {s}")))
        })
        .transpose()?;
    paths.network_connect(network, container, aliases, ip, ip6)?;
    Ok(())
}

fn disconnect(paths: &Engine, network: &str, container: &str, force: bool) -> Result<(), Fail> {
    // -f: the container may be gone; its endpoint is cleaned by the id given.
    paths.network_disconnect(network, container, force)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    //! Real-kernel tests (root) through `run_with`, on throw-away roots and 10.213.x.0/24.
    use super::*;
    use clap::Parser;
    // Test scaffolding only (as the integration tests): a container endpoint without a
    // container record, and the cleanup of what a failed test left.
    use engine::network::net as network;
    use serde_json::Value;

    #[derive(Parser)]
    struct T {
        #[command(subcommand)]
        cmd: NetworkCmd,
    }

    struct Env {
        root: std::path::PathBuf,
        runroot: std::path::PathBuf,
        _tmp: tempfile::TempDir,
    }

    impl Env {
        fn new() -> Env {
            testutil::require_root();
            let tmp = tempfile::tempdir().unwrap();
            Env {
                root: tmp.path().join("root"),
                runroot: tmp.path().join("run"),
                _tmp: tmp,
            }
        }

        /// (exit code, stdout, stderr) of `berth network ARGS`.
        fn run(&self, args: &[&str]) -> (i32, String, String) {
            self.run_in(args, "")
        }

        fn run_in(&self, args: &[&str], stdin: &str) -> (i32, String, String) {
            let t = T::try_parse_from(std::iter::once("network").chain(args.iter().copied()))
                .unwrap_or_else(|e| panic!("{args:?}: {e}"));
            let (mut o, mut e) = (Vec::new(), Vec::new());
            let code = run_with(
                t.cmd,
                &self.root,
                &self.runroot,
                &mut o,
                &mut e,
                &mut stdin.as_bytes(),
            );
            (
                code,
                String::from_utf8(o).unwrap(),
                String::from_utf8(e).unwrap(),
            )
        }

        /// `network create` on the first free 10.213.x.0/24 with a unique bridge name.
        fn create(&self, name: &str, extra: &[&str]) -> (String, String, String) {
            let bridge = format!("bc{}x{}", std::process::id() % 100_000, seq());
            let start = std::process::id() as usize * 5 + seq() as usize * 29;
            for i in 0..256 {
                let subnet = format!("10.213.{}.0/24", (start + i) % 256);
                let opt = format!("com.docker.network.bridge.name={bridge}");
                let mut args = vec!["create", "--subnet", &subnet, "-o", &opt];
                args.extend_from_slice(extra);
                args.push(name);
                let (code, out, err) = self.run(&args);
                if code == 0 {
                    return (out.trim().to_string(), subnet, bridge);
                }
                assert!(err.contains("overlaps"), "{err}");
            }
            panic!("no free 10.213.x.0/24");
        }
    }

    impl Drop for Env {
        fn drop(&mut self) {
            if let Ok(ctl) = network::NetworkController::open(&self.root, &self.runroot) {
                for n in ctl.list().unwrap_or_default() {
                    let _ = ctl.remove_network(&n.id);
                }
            }
        }
    }

    fn seq() -> u32 {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    fn link_exists(n: &str) -> bool {
        Path::new("/sys/class/net").join(n).exists()
    }

    #[test]
    fn create_ls_inspect_rm_like_docker() {
        let env = Env::new();
        let (id, subnet, bridge) = env.create("web-net", &["--label", "team=a", "--internal"]);
        assert_eq!(id.len(), 64, "create prints the full id: {id}");
        assert!(link_exists(&bridge));

        let (code, out, _) = env.run(&["ls"]);
        assert_eq!(code, 0);
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].starts_with("NETWORK ID     NAME"), "{out}");
        assert!(
            lines[0].contains("DRIVER") && lines[0].ends_with("SCOPE"),
            "{out}"
        );
        // host and none are pre-defined; sorted by name.
        let names: Vec<&str> = lines[1..]
            .iter()
            .map(|l| l.split_whitespace().nth(1).unwrap())
            .collect();
        assert_eq!(names, vec!["host", "none", "web-net"], "{out}");
        assert!(
            lines[3].starts_with(&id[..12]) && lines[3].contains("bridge"),
            "{out}"
        );
        assert!(out.contains("null") && lines[1].ends_with("local"), "{out}");

        let (_, out, _) = env.run(&["ls", "-q", "--no-trunc", "-f", "type=custom"]);
        assert_eq!(out, format!("{id}\n"));
        let (_, out, _) = env.run(&[
            "ls",
            "-f",
            "label=team=a",
            "--format",
            "{{.Name}} {{.Internal}}",
        ]);
        assert_eq!(out, "web-net true\n");
        let (_, out, _) = env.run(&["ls", "-q", "-f", "driver=host"]);
        assert_eq!(out.lines().count(), 1);
        let (code, _, err) = env.run(&["ls", "-f", "colour=red"]);
        assert_eq!(
            (code, err.as_str()),
            (1, "Error: Invalid filter 'colour'\n")
        );

        let (code, out, _) = env.run(&["inspect", "web-net", &id[..8]]);
        assert_eq!(code, 0);
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v.as_array().unwrap().len(), 2);
        assert_eq!(v[0]["Id"], id.as_str());
        assert_eq!(v[0]["IPAM"]["Config"][0]["Subnet"], subnet.as_str());
        assert_eq!(
            v[0]["Options"]["com.docker.network.bridge.name"],
            bridge.as_str()
        );
        assert_eq!(v[0]["Labels"]["team"], "a");
        assert_eq!(v[0]["Internal"], true);
        assert!(
            out.starts_with("[\n    {\n        \"Name\": \"web-net\""),
            "{out}"
        );
        let (_, out, _) = env.run(&["inspect", "-f", "{{.Driver}} {{.Name}}", "host", "none"]);
        assert_eq!(out, "host host\nnull none\n");
        let (code, out, err) = env.run(&["inspect", "nope1", "web-net", "nope2"]);
        assert_eq!(code, 1);
        assert_eq!(
            err,
            "Error: No such network: nope1\nError: No such network: nope2\n"
        );
        assert!(out.contains("web-net"));

        let (code, out, err) = env.run(&["rm", "host", "web-net", "ghost"]);
        assert_eq!(code, 1);
        assert_eq!(out, "web-net\n");
        assert!(
            err.contains("host is a pre-defined network and cannot be removed"),
            "{err}"
        );
        assert!(err.contains("No such network: ghost"), "{err}");
        assert!(!link_exists(&bridge), "bridge removed");
        let (_, out, _) = env.run(&["ls", "-q", "-f", "type=custom"]);
        assert_eq!(out, "");
    }

    #[test]
    fn create_errors_are_clear_and_leave_nothing() {
        let env = Env::new();
        let (_, subnet, bridge) = env.create("first", &[]);
        // Same name.
        let (code, _, err) = env.run(&["create", "first"]);
        assert_eq!(code, 1);
        assert_eq!(err, "Error: network with name first already exists\n");
        // Same subnet: a collision.
        let other = format!("bc{}y{}", std::process::id() % 100_000, seq());
        let opt = format!("com.docker.network.bridge.name={other}");
        let (code, _, err) = env.run(&["create", "--subnet", &subnet, "-o", &opt, "second"]);
        assert_eq!(code, 1);
        assert!(err.contains("overlaps"), "{err}");
        assert!(!link_exists(&other));
        // A bridge name already taken, bad flags, unsupported driver.
        let opt = format!("com.docker.network.bridge.name={bridge}");
        let (code, _, err) = env.run(&["create", "-o", &opt, "third"]);
        assert_eq!(code, 1);
        assert!(err.contains(&bridge), "{err}");
        for (args, want) in [
            (vec!["create", "--subnet", "10.213.0.0/33", "x"], "--subnet"),
            (
                vec!["create", "--gateway", "10.213.0.1", "x"],
                "need a --subnet",
            ),
            (vec!["create", "-d", "overlay", "x"], "not supported"),
            (
                vec!["create", "--ipv6", "x"],
                "could not find an available, non-overlapping IPv6 address pool",
            ),
            (vec!["create", "bad/name"], "invalid network name"),
            (vec!["create", "host"], "pre-defined"),
        ] {
            let (code, _, err) = env.run(&args);
            assert_eq!(code, 1, "{args:?}");
            assert!(err.contains(want), "{args:?}: {err}");
        }
        let (_, out, _) = env.run(&["ls", "-q", "-f", "type=custom"]);
        assert_eq!(out.lines().count(), 1, "{out}");
    }

    #[test]
    fn prune_asks_and_keeps_networks_in_use() {
        let env = Env::new();
        let (_, _, b1) = env.create("p1", &[]);
        let (_, _, b2) = env.create("p2", &[]);
        // p2 has a (fake) container endpoint: prune keeps it.
        let ctl = network::NetworkController::open(&env.root, &env.runroot).unwrap();
        let cid = format!("prune{}x{}", std::process::id(), seq());
        let sb = ctl.create_sandbox(&cid).unwrap();
        ctl.join(&sb, "p2", Default::default()).unwrap();
        drop(sb);

        let (code, out, _) = env.run_in(&["prune"], "n\n");
        assert_eq!(code, 0);
        assert!(
            out.starts_with("WARNING! This will remove all custom networks"),
            "{out}"
        );
        assert!(link_exists(&b1));
        let (code, out, _) = env.run(&["prune", "-f"]);
        assert_eq!(code, 0);
        assert_eq!(out, "Deleted Networks:\np1\n\n");
        assert!(!link_exists(&b1) && link_exists(&b2));

        // disconnect -f of a container without a record still removes its endpoint.
        let (code, _, err) = env.run(&["disconnect", "p2", &cid]);
        assert_eq!(
            (code, err.as_str()),
            (1, format!("Error: No such container: {cid}\n").as_str())
        );
        let (code, _, err) = env.run(&["disconnect", "-f", "p2", &cid]);
        assert_eq!(code, 0, "{err}");
        ctl.destroy_sandbox(&cid).unwrap();
        let (_, out, _) = env.run(&["prune", "-f"]);
        assert_eq!(out, "Deleted Networks:\np2\n\n");
        let (_, out, _) = env.run(&["prune", "-f"]);
        assert_eq!(out, "");
    }
}
