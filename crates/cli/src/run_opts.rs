//! `run`/`create` flags, parsed with Docker's rules into the API's Config + HostConfig +
//! NetworkingConfig. Value checks that Docker's CLI (or its daemon, before anything is created)
//! makes happen here, with Docker's wording, so a bad flag exits 125 before any state exists.

use clap::Args;
use engine::types::{
    BindOptions, Config, DeviceMapping, EndpointIpamConfig, EndpointSettings, HostConfig,
    LogConfig, Map, Mount, NetworkingConfig, PortBinding, RestartPolicy, ThrottleDevice,
    TmpfsOptions, Ulimit, WeightDevice,
};
use std::collections::BTreeMap;

type Res<T> = Result<T, String>;

// The flags `create` and `run` share (Docker's `containerOptions`).
#[derive(Args, Debug, Clone, Default)]
pub struct CreateFlags {
    /// Attach to STDIN, STDOUT or STDERR
    #[arg(short = 'a', long = "attach")]
    pub attach: Vec<String>,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host")]
    pub add_host: Vec<String>,
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable
    #[arg(long = "blkio-weight", default_value_t = 0)]
    pub blkio_weight: u16,
    /// Block IO weight (relative device weight), DEVICE:WEIGHT
    #[arg(long = "blkio-weight-device")]
    pub blkio_weight_device: Vec<String>,
    /// Add Linux capabilities
    #[arg(long = "cap-add")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long = "cap-drop")]
    pub cap_drop: Vec<String>,
    /// Optional parent cgroup for the container
    #[arg(long = "cgroup-parent", default_value = "")]
    pub cgroup_parent: String,
    /// Cgroup namespace to use (host|private)
    #[arg(long = "cgroupns", default_value = "")]
    pub cgroupns: String,
    /// Write the container ID to the file
    #[arg(long = "cidfile", default_value = "")]
    pub cidfile: String,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long = "cpu-period", default_value_t = 0)]
    pub cpu_period: i64,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long = "cpu-quota", default_value_t = 0, allow_negative_numbers = true)]
    pub cpu_quota: i64,
    /// Limit CPU real-time period in microseconds
    #[arg(long = "cpu-rt-period", default_value_t = 0)]
    pub cpu_rt_period: i64,
    /// Limit CPU real-time runtime in microseconds
    #[arg(long = "cpu-rt-runtime", default_value_t = 0)]
    pub cpu_rt_runtime: i64,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares", default_value_t = 0)]
    pub cpu_shares: i64,
    /// Number of CPUs
    #[arg(long = "cpus")]
    pub cpus: Option<String>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus", default_value = "")]
    pub cpuset_cpus: String,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems", default_value = "")]
    pub cpuset_mems: String,
    /// Add a host device to the container
    #[arg(long = "device")]
    pub device: Vec<String>,
    /// Add a rule to the cgroup allowed devices list
    #[arg(long = "device-cgroup-rule")]
    pub device_cgroup_rule: Vec<String>,
    /// Limit read rate (bytes per second) from a device
    #[arg(long = "device-read-bps")]
    pub device_read_bps: Vec<String>,
    /// Limit read rate (IO per second) from a device
    #[arg(long = "device-read-iops")]
    pub device_read_iops: Vec<String>,
    /// Limit write rate (bytes per second) to a device
    #[arg(long = "device-write-bps")]
    pub device_write_bps: Vec<String>,
    /// Limit write rate (IO per second) to a device
    #[arg(long = "device-write-iops")]
    pub device_write_iops: Vec<String>,
    /// Set custom DNS servers
    #[arg(long = "dns")]
    pub dns: Vec<String>,
    /// Set DNS options
    #[arg(long = "dns-option", alias = "dns-opt")]
    pub dns_option: Vec<String>,
    /// Set custom DNS search domains
    #[arg(long = "dns-search")]
    pub dns_search: Vec<String>,
    /// Container NIS domain name
    #[arg(long = "domainname", default_value = "")]
    pub domainname: String,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long = "entrypoint")]
    pub entrypoint: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file")]
    pub env_file: Vec<String>,
    /// Expose a port or a range of ports
    #[arg(long = "expose")]
    pub expose: Vec<String>,
    /// Add additional groups to join
    #[arg(long = "group-add")]
    pub group_add: Vec<String>,
    /// Container host name
    #[arg(short = 'h', long = "hostname", default_value = "")]
    pub hostname: String,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long = "init")]
    pub init: bool,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long = "interactive")]
    pub interactive: bool,
    /// IPv4 address (e.g., 172.30.100.104)
    #[arg(long = "ip", default_value = "")]
    pub ip: String,
    /// IPv6 address (e.g., 2001:db8::33)
    #[arg(long = "ip6", default_value = "")]
    pub ip6: String,
    /// IPC mode to use
    #[arg(long = "ipc", default_value = "")]
    pub ipc: String,
    /// Container isolation technology
    #[arg(long = "isolation", default_value = "")]
    pub isolation: String,
    /// Kernel memory limit
    #[arg(long = "kernel-memory", allow_hyphen_values = true)]
    pub kernel_memory: Option<String>,
    /// Set meta data on a container
    #[arg(short = 'l', long = "label")]
    pub label: Vec<String>,
    /// Read in a line delimited file of labels
    #[arg(long = "label-file")]
    pub label_file: Vec<String>,
    /// Add link to another container
    #[arg(long = "link")]
    pub link: Vec<String>,
    /// Logging driver for the container
    #[arg(long = "log-driver", default_value = "")]
    pub log_driver: String,
    /// Log driver options
    #[arg(long = "log-opt")]
    pub log_opt: Vec<String>,
    /// Container MAC address (e.g., 92:d0:c6:0a:29:33)
    #[arg(long = "mac-address", default_value = "")]
    pub mac_address: String,
    /// Memory limit
    #[arg(short = 'm', long = "memory", allow_hyphen_values = true)]
    pub memory: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation", allow_hyphen_values = true)]
    pub memory_reservation: Option<String>,
    /// Swap limit equal to memory plus swap: '-1' to enable unlimited swap
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Tune container memory swappiness (0 to 100)
    #[arg(long = "memory-swappiness", allow_negative_numbers = true)]
    pub memory_swappiness: Option<i64>,
    /// Attach a filesystem mount to the container
    #[arg(long = "mount")]
    pub mount: Vec<String>,
    /// Assign a name to the container
    #[arg(long = "name")]
    pub name: Option<String>,
    /// Connect a container to a network
    #[arg(long = "network", alias = "net")]
    pub network: Vec<String>,
    /// Add network-scoped alias for the container
    #[arg(long = "network-alias", alias = "net-alias")]
    pub network_alias: Vec<String>,
    /// Disable OOM Killer
    #[arg(long = "oom-kill-disable")]
    pub oom_kill_disable: bool,
    /// Tune host's OOM preferences (-1000 to 1000)
    #[arg(
        long = "oom-score-adj",
        default_value_t = 0,
        allow_negative_numbers = true
    )]
    pub oom_score_adj: i64,
    /// PID namespace to use
    #[arg(long = "pid", default_value = "")]
    pub pid: String,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", allow_negative_numbers = true)]
    pub pids_limit: Option<i64>,
    /// Set platform if server is multi-platform capable
    #[arg(long = "platform")]
    pub platform: Option<String>,
    /// Give extended privileges to this container
    #[arg(long = "privileged")]
    pub privileged: bool,
    /// Publish a container's port(s) to the host
    #[arg(short = 'p', long = "publish")]
    pub publish: Vec<String>,
    /// Publish all exposed ports to random ports
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// Pull image before creating ("always"|"missing"|"never")
    #[arg(long = "pull", default_value = "missing")]
    pub pull: String,
    /// Mount the container's root filesystem as read only
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Restart policy to apply when a container exits
    #[arg(long = "restart", default_value = "no")]
    pub restart: String,
    /// Automatically remove the container when it exits
    #[arg(long = "rm")]
    pub rm: bool,
    /// Runtime to use for this container
    #[arg(long = "runtime", default_value = "")]
    pub runtime: String,
    /// Security Options
    #[arg(long = "security-opt")]
    pub security_opt: Vec<String>,
    /// Size of /dev/shm
    #[arg(long = "shm-size", allow_hyphen_values = true)]
    pub shm_size: Option<String>,
    /// Signal to stop a container
    #[arg(long = "stop-signal")]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container
    #[arg(long = "stop-timeout", allow_negative_numbers = true)]
    pub stop_timeout: Option<i64>,
    /// Sysctl options
    #[arg(long = "sysctl")]
    pub sysctl: Vec<String>,
    /// Mount a tmpfs directory
    #[arg(long = "tmpfs")]
    pub tmpfs: Vec<String>,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long = "tty")]
    pub tty: bool,
    /// Ulimit options
    #[arg(long = "ulimit")]
    pub ulimit: Vec<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short = 'u', long = "user", default_value = "")]
    pub user: String,
    /// User namespace to use
    #[arg(long = "userns", default_value = "")]
    pub userns: String,
    /// UTS namespace to use
    #[arg(long = "uts", default_value = "")]
    pub uts: String,
    /// Storage driver options for the container (volatile=true: overlay2 layer without syncs)
    #[arg(long = "storage-opt")]
    pub storage_opt: Vec<String>,
    /// Bind mount a volume
    #[arg(short = 'v', long = "volume")]
    pub volume: Vec<String>,
    /// Optional volume driver for the container
    #[arg(long = "volume-driver", default_value = "")]
    pub volume_driver: String,
    /// Mount volumes from the specified container(s)
    #[arg(long = "volumes-from")]
    pub volumes_from: Vec<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir", default_value = "")]
    pub workdir: String,
    #[command(flatten)]
    pub health: crate::health_opts::HealthFlags,
    /// Print usage
    #[arg(long = "help", action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// IMAGE [COMMAND] [ARG...]
    #[arg(value_name = "IMAGE", required = true, trailing_var_arg = true, num_args = 1..)]
    pub args: Vec<String>,
}

/// The parsed request (plus the CLI-only bits).
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    pub name: Option<String>,
    pub config: Config,
    pub host: HostConfig,
    pub net: NetworkingConfig,
}

fn flag_err(v: &str, flag: &str, why: impl std::fmt::Display) -> String {
    format!("invalid argument \"{v}\" for \"{flag}\" flag: {why}")
}

/// Docker's `units.RAMInBytes`: "64m", "1.5g", "512MiB", "100" (bytes); 1024-based.
pub fn ram_in_bytes(s: &str) -> Res<i64> {
    let bad = || format!("invalid size: '{s}'");
    let t = s.trim_end_matches(['b', 'B']);
    let t = t.trim_end_matches(['i', 'I']);
    let (num, unit) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&t[..i], Some(c.to_ascii_lowercase())),
        _ => (t, None),
    };
    // "64mi" without the b is not a size; neither is "ib" alone.
    if t.len() != s.len() && unit.is_none() && s.len() - t.len() > 1 {
        return Err(bad());
    }
    let num = num.trim_end_matches(' ');
    if num.is_empty() || !num.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(bad());
    }
    let v: f64 = num.parse().map_err(|_| bad())?;
    let mul: f64 = match unit {
        None => 1.0,
        Some('k') => 1024.0,
        Some('m') => 1024.0 * 1024.0,
        Some('g') => 1024.0f64.powi(3),
        Some('t') => 1024.0f64.powi(4),
        Some('p') => 1024.0f64.powi(5),
        _ => return Err(bad()),
    };
    Ok((v * mul) as i64)
}

fn mem_flag(v: &Option<String>, flag: &str) -> Res<i64> {
    match v {
        None => Ok(0),
        Some(s) => ram_in_bytes(s).map_err(|e| flag_err(s, flag, e)),
    }
}

/// `--cpus 1.5` → NanoCpus.
pub fn parse_cpus(s: &str) -> Res<i64> {
    let v: f64 = s.parse().map_err(|_| {
        flag_err(
            s,
            "--cpus",
            format!("failed to parse {s} as a rational number"),
        )
    })?;
    if !v.is_finite() || v < 0.0 {
        return Err(flag_err(
            s,
            "--cpus",
            format!("failed to parse {s} as a rational number"),
        ));
    }
    Ok((v * 1e9).round() as i64)
}

/// `--restart no|always|unless-stopped|on-failure[:N]`.
pub fn parse_restart(s: &str) -> Res<RestartPolicy> {
    let (name, count) = match s.split_once(':') {
        Some((n, c)) => (n, Some(c)),
        None => (s, None),
    };
    let max = match count {
        None => 0,
        Some(c) => c.parse::<i64>().map_err(|_| {
            format!("invalid restart policy format: maximum retry count must be an integer: {s}")
        })?,
    };
    match name {
        "" | "no" => {
            if count.is_some() {
                return Err(format!(
                    "invalid restart policy format: maximum retry count cannot be used with restart policy '{name}'"
                ));
            }
        }
        "always" | "unless-stopped" => {
            if count.is_some() {
                return Err(format!(
                    "maximum retry count cannot be used with restart policy '{name}'"
                ));
            }
        }
        "on-failure" => {
            if max < 0 {
                return Err("maximum retry count cannot be negative".into());
            }
        }
        _ => return Err(format!("invalid restart policy '{name}'")),
    }
    Ok(RestartPolicy {
        name: if name.is_empty() { "no" } else { name }.to_string(),
        maximum_retry_count: max,
    })
}

const ULIMITS: &[&str] = &[
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
];

/// `--ulimit nofile=1024:2048` (one value sets both limits).
pub fn parse_ulimit(s: &str) -> Res<Ulimit> {
    let (name, vals) = s
        .split_once('=')
        .ok_or_else(|| flag_err(s, "--ulimit", format!("invalid ulimit argument: {s}")))?;
    if !ULIMITS.contains(&name) {
        return Err(flag_err(
            s,
            "--ulimit",
            format!("invalid ulimit type: {name}"),
        ));
    }
    let num = |v: &str| {
        v.parse::<i64>()
            .map_err(|_| flag_err(s, "--ulimit", format!("invalid ulimit argument: {s}")))
    };
    let (soft, hard) = match vals.split_once(':') {
        Some((a, b)) => (num(a)?, num(b)?),
        None => {
            let v = num(vals)?;
            (v, v)
        }
    };
    if soft > hard && hard != -1 {
        return Err(flag_err(
            s,
            "--ulimit",
            format!("ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"),
        ));
    }
    Ok(Ulimit {
        name: name.into(),
        soft,
        hard,
    })
}

fn valid_device_mode(m: &str) -> bool {
    !m.is_empty() && m.len() <= 3 && m.chars().all(|c| "rwm".contains(c)) && {
        let mut v: Vec<char> = m.chars().collect();
        v.sort();
        v.dedup();
        v.len() == m.len()
    }
}

/// `--device /dev/a[:/dev/b][:rwm]`.
pub fn parse_device(s: &str) -> Res<DeviceMapping> {
    let parts: Vec<&str> = s.split(':').collect();
    let bad = || flag_err(s, "--device", format!("bad format for path: {s}"));
    let (src, mut dst, mut perms) = (parts[0], "", "rwm");
    match parts.len() {
        1 => {}
        2 => {
            if valid_device_mode(parts[1]) {
                perms = parts[1];
            } else {
                dst = parts[1];
            }
        }
        3 => {
            if !valid_device_mode(parts[2]) {
                return Err(flag_err(
                    s,
                    "--device",
                    format!("invalid device mode: {}", parts[2]),
                ));
            }
            perms = parts[2];
            dst = parts[1];
        }
        _ => return Err(bad()),
    }
    if src.is_empty() {
        return Err(bad());
    }
    if dst.is_empty() {
        dst = src;
    }
    if !dst.starts_with('/') {
        return Err(flag_err(
            s,
            "--device",
            format!("{dst} is not an absolute path"),
        ));
    }
    Ok(DeviceMapping {
        path_on_host: src.into(),
        path_in_container: dst.into(),
        cgroup_permissions: perms.into(),
    })
}

/// `-p [ip:][hostPort:]containerPort[/proto]` with ranges; returns ("80/tcp", binding) pairs.
pub fn parse_publish(s: &str) -> Res<Vec<(String, PortBinding)>> {
    let bad = |why: String| flag_err(s, "-p, --publish", why);
    let (raw, proto) = match s.rsplit_once('/') {
        Some((r, p)) => (r, p.to_ascii_lowercase()),
        None => (s, "tcp".to_string()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(bad(format!("invalid proto: {proto}")));
    }
    let parts: Vec<&str> = raw.split(':').collect();
    let n = parts.len();
    let (ip, host, cont) = match n {
        1 => (String::new(), "", parts[0]),
        2 => (String::new(), parts[0], parts[1]),
        3 => (parts[0].to_string(), parts[1], parts[2]),
        _ => (parts[..n - 2].join(":"), parts[n - 2], parts[n - 1]),
    };
    let ip = ip
        .strip_prefix('[')
        .and_then(|i| i.strip_suffix(']'))
        .map(str::to_string)
        .unwrap_or(ip);
    if !ip.is_empty() && ip.parse::<std::net::IpAddr>().is_err() {
        return Err(bad(format!("invalid IP address: {ip}")));
    }
    let range = |r: &str, what: &str| -> Res<(u16, u16)> {
        let p = |x: &str| {
            x.parse::<u16>()
                .map_err(|_| bad(format!("invalid {what}port: {x}")))
        };
        match r.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (p(a)?, p(b)?);
                if b < a {
                    return Err(bad(format!("invalid range specified for {what}port: {r}")));
                }
                Ok((a, b))
            }
            None => {
                let v = p(r)?;
                Ok((v, v))
            }
        }
    };
    if cont.is_empty() {
        return Err(bad(format!("no port specified: {s}<empty>")));
    }
    let (cs, ce) = range(cont, "container")?;
    let hr = if host.is_empty() {
        None
    } else {
        Some(range(host, "host")?)
    };
    let mut out = Vec::new();
    let count = ce - cs;
    if let Some((hs, he)) = hr {
        if he - hs != count && count != 0 {
            return Err(bad(format!(
                "invalid ranges specified for container and host Ports: {cont} and {host}"
            )));
        }
    }
    for i in 0..=count {
        let host_port = match hr {
            None => String::new(),
            // One container port, several host ports: the engine picks one of the range.
            Some((hs, he)) if count == 0 && he != hs => format!("{hs}-{he}"),
            Some((hs, _)) => (hs + i).to_string(),
        };
        out.push((
            format!("{}/{proto}", cs + i),
            PortBinding {
                host_ip: ip.clone(),
                host_port,
            },
        ));
    }
    Ok(out)
}

/// `--expose 80[-90][/proto]`.
pub fn parse_expose(s: &str) -> Res<Vec<String>> {
    let (r, proto) = s.rsplit_once('/').unwrap_or((s, "tcp"));
    let p = |x: &str| {
        x.parse::<u16>().map_err(|_| {
            flag_err(
                s,
                "--expose",
                format!("invalid range format for --expose: {s}"),
            )
        })
    };
    let (a, b) = match r.split_once('-') {
        Some((a, b)) => (p(a)?, p(b)?),
        None => (p(r)?, p(r)?),
    };
    Ok((a..=b).map(|x| format!("{x}/{proto}")).collect())
}

const VOLUME_MODES: &[&str] = &[
    "ro",
    "rw",
    "z",
    "Z",
    "shared",
    "rshared",
    "slave",
    "rslave",
    "private",
    "rprivate",
    "nocopy",
    "consistent",
    "cached",
    "delegated",
];

/// `-v`: "dst" (anonymous volume) or "src:dst[:mode]". Returns (bind spec for Binds, or None and
/// the anonymous volume's destination).
pub fn parse_volume(s: &str) -> Res<(Option<String>, String)> {
    let bad = |why: &str| format!("invalid volume specification: '{s}': {why}");
    let parts: Vec<&str> = s.split(':').collect();
    let (src, dst, mode) = match parts.len() {
        1 => ("", parts[0], None),
        2 => (parts[0], parts[1], None),
        3 => (parts[0], parts[1], Some(parts[2])),
        _ => return Err(format!("invalid volume specification: '{s}'")),
    };
    if !dst.starts_with('/') {
        return Err(bad(&format!(
            "invalid mount config for type \"volume\": invalid mount path: '{dst}' mount path must be absolute"
        )));
    }
    if let Some(m) = mode {
        for o in m.split(',') {
            if !VOLUME_MODES.contains(&o) {
                return Err(format!("invalid mode: {m}"));
            }
        }
    }
    if src.is_empty() {
        return Ok((None, dst.to_string()));
    }
    // A relative host path (./x, ../x) is made absolute, like newer Docker CLIs do.
    let src = if src.starts_with('.') {
        std::env::current_dir()
            .map_err(|e| bad(&e.to_string()))?
            .join(src)
            .display()
            .to_string()
    } else if !src.starts_with('/')
        && !src
            .chars()
            .enumerate()
            .all(|(i, c)| c.is_ascii_alphanumeric() || (i > 0 && "_.-".contains(c)))
    {
        return Err(format!(
            "{src} includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
        ));
    } else {
        src.to_string()
    };
    let spec = match mode {
        Some(m) => format!("{src}:{dst}:{m}"),
        None => format!("{src}:{dst}"),
    };
    Ok((Some(spec), dst.to_string()))
}

fn parse_bool(v: &str, s: &str) -> Res<bool> {
    match v.to_ascii_lowercase().as_str() {
        "" | "1" | "true" => Ok(true),
        "0" | "false" => Ok(false),
        _ => Err(flag_err(s, "--mount", format!("invalid value for {v}"))),
    }
}

/// `--mount type=bind,source=/a,target=/b,readonly` (Docker's CSV syntax).
pub fn parse_mount(s: &str) -> Res<Mount> {
    let mut m = Mount {
        kind: "volume".into(),
        ..Default::default()
    };
    let mut propagation = None;
    let mut nonrecursive = false;
    let (mut size, mut mode) = (0i64, 0u32);
    let mut vo = engine::types::VolumeOptions::default();
    let mut driver = engine::types::VolumeDriver::default();
    for field in s.split(',') {
        let (k, v) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), v.trim()),
            None => {
                let k = field.trim().to_ascii_lowercase();
                if k == "readonly" || k == "ro" {
                    m.read_only = true;
                    continue;
                }
                if k == "volume-nocopy" {
                    vo.no_copy = true;
                    continue;
                }
                if k == "bind-nonrecursive" {
                    nonrecursive = true;
                    continue;
                }
                return Err(flag_err(
                    s,
                    "--mount",
                    format!("invalid field '{field}' must be a key=value pair"),
                ));
            }
        };
        match k.as_str() {
            "type" => {
                if !matches!(v, "bind" | "volume" | "tmpfs") {
                    return Err(flag_err(s, "--mount", format!("invalid mount type: {v}")));
                }
                m.kind = v.into();
            }
            "source" | "src" => m.source = v.into(),
            "target" | "dst" | "destination" => m.target = v.into(),
            "readonly" | "ro" => m.read_only = parse_bool(v, s)?,
            "bind-propagation" => propagation = Some(v.to_string()),
            "tmpfs-size" => size = ram_in_bytes(v).map_err(|e| flag_err(s, "--mount", e))?,
            "tmpfs-mode" => {
                mode = u32::from_str_radix(v, 8)
                    .map_err(|_| flag_err(s, "--mount", format!("invalid value for {k}: {v}")))?
            }
            "bind-nonrecursive" => nonrecursive = parse_bool(v, s)?,
            "volume-driver" => driver.name = v.into(),
            "volume-label" => {
                let (lk, lv) = v.split_once('=').unwrap_or((v, ""));
                vo.labels
                    .get_or_insert_with(Default::default)
                    .insert(lk.into(), lv.into());
            }
            "volume-opt" => {
                let Some((ok, ov)) = v.split_once('=') else {
                    return Err(flag_err(
                        s,
                        "--mount",
                        format!("invalid value for {k}: {v}"),
                    ));
                };
                driver
                    .options
                    .get_or_insert_with(Default::default)
                    .insert(ok.into(), ov.into());
            }
            "volume-nocopy" => vo.no_copy = parse_bool(v, s)?,
            "volume-subpath" => vo.subpath = v.into(),
            // Docker ignores consistency on Linux too.
            "consistency" => {}
            _ => {
                return Err(flag_err(
                    s,
                    "--mount",
                    format!("unexpected key '{k}' in '{field}'"),
                ))
            }
        }
    }
    if m.target.is_empty() {
        return Err(flag_err(s, "--mount", "target is required"));
    }
    let has_vo = vo != engine::types::VolumeOptions::default()
        || driver != engine::types::VolumeDriver::default();
    if has_vo && m.kind != "volume" {
        return Err(format!(
            "invalid mount config for type \"{}\": field VolumeOptions must not be specified",
            m.kind
        ));
    }
    match m.kind.as_str() {
        "bind" => {
            if m.source.is_empty() {
                return Err(
                    "invalid mount config for type \"bind\": field Source must not be empty".into(),
                );
            }
            if propagation.is_some() || nonrecursive {
                m.bind_options = Some(BindOptions {
                    propagation: propagation.unwrap_or_default(),
                    non_recursive: nonrecursive,
                });
            }
        }
        "tmpfs" => {
            if !m.source.is_empty() {
                return Err(
                    "invalid mount config for type \"tmpfs\": field Source must be empty".into(),
                );
            }
            if size != 0 || mode != 0 {
                m.tmpfs_options = Some(TmpfsOptions {
                    size_bytes: size,
                    mode,
                });
            }
        }
        _ => {
            if propagation.is_some() || nonrecursive {
                return Err(
                    "invalid mount config for type \"volume\": field BindOptions must not be specified"
                        .into(),
                );
            }
            if driver != engine::types::VolumeDriver::default() {
                vo.driver_config = Some(driver.clone());
            }
            if vo != engine::types::VolumeOptions::default() {
                m.volume_options = Some(vo.clone());
            }
        }
    }
    if !m.target.starts_with('/') {
        return Err(format!(
            "invalid mount config for type \"{}\": invalid mount path: '{}' mount path must be absolute",
            m.kind, m.target
        ));
    }
    Ok(m)
}

/// Docker's `--env-file` / `--label-file` reader: comments and blank lines skipped, `KEY` alone
/// takes the value from our environment when set.
pub fn read_kv_file(path: &str, from_env: bool) -> Res<Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("open {path}: {e}"))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (k, has_eq) = match line.split_once('=') {
            Some((k, _)) => (k, true),
            None => (line, false),
        };
        if k.is_empty() {
            return Err(format!(
                "no variable name on line '{line}' ({path}:{})",
                n + 1
            ));
        }
        if k.contains(char::is_whitespace) {
            return Err(format!("variable '{k}' contains whitespaces"));
        }
        if !has_eq && from_env {
            if let Ok(v) = std::env::var(k) {
                out.push(format!("{k}={v}"));
                continue;
            }
        }
        out.push(line.to_string());
    }
    Ok(out)
}

/// `-e KEY=VAL`, or `-e KEY` (value from our environment when set).
pub fn parse_env(s: &str) -> Res<String> {
    let (k, has_eq) = match s.split_once('=') {
        Some((k, _)) => (k, true),
        None => (s, false),
    };
    if k.is_empty() {
        return Err(format!("invalid environment variable: {s}"));
    }
    if !has_eq {
        if let Ok(v) = std::env::var(k) {
            return Ok(format!("{k}={v}"));
        }
    }
    Ok(s.to_string())
}

fn parse_security_opt(s: &str) -> Res<String> {
    if s == "no-new-privileges" {
        return Ok(s.into());
    }
    let (k, v) = s
        .split_once('=')
        .or_else(|| s.split_once(':'))
        .ok_or_else(|| format!("Invalid --security-opt: {s:?}"))?;
    match k {
        "seccomp" if v != "unconfined" => {
            // Like Docker's CLI: the profile's content travels, not its path.
            let body = std::fs::read(v)
                .map_err(|e| format!("opening seccomp profile ({v}) failed: {e}"))?;
            let json: serde_json::Value = serde_json::from_slice(&body)
                .map_err(|e| format!("parsing seccomp profile ({v}) failed: {e}"))?;
            Ok(format!("seccomp={json}"))
        }
        "seccomp" | "no-new-privileges" | "label" | "apparmor" | "systempaths" | "mask"
        | "unmask" => Ok(s.into()),
        _ => Err(format!("Invalid --security-opt: {s:?}")),
    }
}

fn parse_throttle(v: &[String], flag: &str, bytes: bool) -> Res<Vec<ThrottleDevice>> {
    v.iter()
        .map(|s| {
            let (p, r) = s
                .rsplit_once(':')
                .ok_or_else(|| flag_err(s, flag, format!("bad format: {s}")))?;
            if !p.starts_with("/dev/") {
                return Err(flag_err(
                    s,
                    flag,
                    format!("bad format for device path: {s}"),
                ));
            }
            let rate = if bytes {
                ram_in_bytes(r).map_err(|e| flag_err(s, flag, e))? as u64
            } else {
                r.parse()
                    .map_err(|_| flag_err(s, flag, format!("invalid rate for device: {s}")))?
            };
            Ok(ThrottleDevice {
                path: p.into(),
                rate,
            })
        })
        .collect()
}

fn valid_name(n: &str) -> bool {
    let n = n.strip_prefix('/').unwrap_or(n);
    let mut it = n.chars();
    matches!(it.next(), Some(c) if c.is_ascii_alphanumeric())
        && n.len() >= 2
        && it.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

fn is_user_network(mode: &str) -> bool {
    !matches!(mode, "" | "default" | "bridge" | "host" | "none") && !mode.starts_with("container:")
}

fn opt_vec(v: &[String]) -> Option<Vec<String>> {
    (!v.is_empty()).then(|| v.to_vec())
}

/// Parses the flags into the API's request shape. `detach` is `run -d` (create: false).
pub fn to_config(f: &CreateFlags, detach: bool) -> Res<Parsed> {
    let mut c = Config::default();
    let mut h = HostConfig::default();
    let mut net = NetworkingConfig::default();

    c.image = f.args[0].clone();
    if f.args.len() > 1 {
        c.cmd = Some(f.args[1..].to_vec());
    }
    if let Some(n) = &f.name {
        if !valid_name(n) {
            return Err(format!(
                "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            ));
        }
    }

    // stdio
    let mut attach = (false, false, false);
    for a in &f.attach {
        match a.to_ascii_lowercase().as_str() {
            "stdin" => attach.0 = true,
            "stdout" => attach.1 = true,
            "stderr" => attach.2 = true,
            _ => {
                return Err(flag_err(
                    a,
                    "-a, --attach",
                    "valid streams are STDIN, STDOUT and STDERR",
                ))
            }
        }
    }
    if detach && !f.attach.is_empty() {
        return Err("Conflicting options: -a and -d".into());
    }
    if !detach {
        if f.attach.is_empty() {
            attach = (f.interactive, true, true);
        }
        c.attach_stdin = attach.0;
        c.attach_stdout = attach.1;
        c.attach_stderr = attach.2;
        c.stdin_once = f.interactive && attach.0;
    }
    c.open_stdin = f.interactive;
    c.tty = f.tty;

    // process
    c.hostname = f.hostname.clone();
    c.domainname = f.domainname.clone();
    c.user = f.user.clone();
    if !f.workdir.is_empty() && !f.workdir.starts_with('/') {
        return Err(format!(
            "the working directory '{}' is invalid, it needs to be an absolute path",
            f.workdir
        ));
    }
    c.working_dir = f.workdir.clone();
    c.entrypoint = match f.entrypoint.as_deref() {
        None => None,
        // `--entrypoint ""` resets the image's entrypoint (Docker sends [""]).
        Some("") => Some(vec![String::new()]),
        Some(e) => Some(vec![e.to_string()]),
    };
    for file in &f.env_file {
        c.env.extend(read_kv_file(file, true)?);
    }
    for e in &f.env {
        c.env.push(parse_env(e)?);
    }
    let mut labels = Vec::new();
    for file in &f.label_file {
        labels.extend(read_kv_file(file, false)?);
    }
    labels.extend(f.label.iter().cloned());
    for l in labels {
        let (k, v) = l.split_once('=').unwrap_or((&l, ""));
        c.labels.insert(k.to_string(), v.to_string());
    }
    c.stop_signal = f.stop_signal.clone();
    c.stop_timeout = f.stop_timeout;
    c.healthcheck = crate::health_opts::to_health(&f.health)?;
    h.init = f.init.then_some(true);
    h.readonly_rootfs = f.read_only;
    h.privileged = f.privileged;
    h.auto_remove = f.rm;
    h.cap_add = opt_vec(&f.cap_add);
    h.cap_drop = opt_vec(&f.cap_drop);
    h.group_add = opt_vec(&f.group_add);
    h.security_opt = match f.security_opt.is_empty() {
        true => None,
        false => Some(
            f.security_opt
                .iter()
                .map(|s| parse_security_opt(s))
                .collect::<Res<_>>()?,
        ),
    };
    if !f.sysctl.is_empty() {
        let mut m = Map::new();
        for s in &f.sysctl {
            let (k, v) = s.split_once('=').ok_or_else(|| {
                flag_err(s, "--sysctl", format!("sysctl '{s}' is not whitelisted"))
            })?;
            m.insert(k.to_string(), v.to_string());
        }
        h.sysctls = Some(m);
    }
    if !f.ulimit.is_empty() {
        h.ulimits = Some(
            f.ulimit
                .iter()
                .map(|u| parse_ulimit(u))
                .collect::<Res<_>>()?,
        );
    }
    h.devices = f
        .device
        .iter()
        .map(|d| parse_device(d))
        .collect::<Res<_>>()?;
    for r in &f.device_cgroup_rule {
        engine::settings::device_cgroup_rule(r).map_err(|e| e.to_string())?;
    }
    h.device_cgroup_rules = opt_vec(&f.device_cgroup_rule);

    // namespaces
    match f.pid.as_str() {
        "" | "host" => {}
        p if p.starts_with("container:") && p.len() > 10 => {}
        p => return Err(format!("--pid: invalid PID mode: {p}")),
    }
    match f.ipc.as_str() {
        "" | "none" | "private" | "shareable" | "host" => {}
        p if p.starts_with("container:") && p.len() > 10 => {}
        p => return Err(format!("--ipc: invalid IPC mode: {p}")),
    }
    // User namespaces are not implemented yet: Docker's CLI message for what berth refuses.
    if !matches!(f.userns.as_str(), "" | "host") {
        return Err("--userns: invalid USER mode".into());
    }
    match f.uts.as_str() {
        "" | "host" => {}
        p => return Err(format!("--uts: invalid UTS mode: {p}")),
    }
    if f.uts == "host" && !f.hostname.is_empty() {
        return Err("Conflicting options: hostname and the UTS mode".into());
    }
    match f.cgroupns.as_str() {
        "" | "host" | "private" => {}
        p => return Err(format!("--cgroupns: invalid CGROUP mode: {p}")),
    }
    h.pid_mode = f.pid.clone();
    h.ipc_mode = f.ipc.clone();
    h.uts_mode = f.uts.clone();
    h.cgroupns_mode = f.cgroupns.clone();
    h.userns_mode = f.userns.clone();

    // resources
    h.memory = mem_flag(&f.memory, "-m, --memory")?;
    h.memory_reservation = mem_flag(&f.memory_reservation, "--memory-reservation")?;
    h.kernel_memory = mem_flag(&f.kernel_memory, "--kernel-memory")?;
    h.memory_swap = match f.memory_swap.as_deref() {
        Some("-1") => -1,
        _ => mem_flag(&f.memory_swap, "--memory-swap")?,
    };
    if h.memory > 0 && h.memory < 6 * 1024 * 1024 {
        return Err("Minimum memory limit allowed is 6MB".into());
    }
    if h.memory_swap > 0 {
        if h.memory == 0 {
            return Err(
                "You should always set the Memory limit when using Memoryswap limit, see usage"
                    .into(),
            );
        }
        if h.memory_swap < h.memory {
            return Err(
                "Minimum memoryswap limit should be larger than memory limit, see usage".into(),
            );
        }
    }
    if let Some(s) = f.memory_swappiness {
        if !(-1..=100).contains(&s) {
            return Err(format!(
                "Invalid value: {s}, valid memory swappiness range is 0-100"
            ));
        }
        h.memory_swappiness = Some(s);
    }
    h.oom_kill_disable = f.oom_kill_disable.then_some(true);
    if !(-1000..=1000).contains(&f.oom_score_adj) {
        return Err(format!(
            "Invalid value {}, range for oom score adj is [-1000, 1000]",
            f.oom_score_adj
        ));
    }
    h.oom_score_adj = f.oom_score_adj;
    h.shm_size = mem_flag(&f.shm_size, "--shm-size")?;
    // Only a container's own /dev/shm has a size to set.
    if f.shm_size.is_some()
        && (matches!(f.ipc.as_str(), "none" | "host") || f.ipc.starts_with("container:"))
    {
        return Err(format!(
            "--shm-size: a container with --ipc {} has no /dev/shm of its own to size",
            f.ipc
        ));
    }
    h.cpu_shares = f.cpu_shares;
    h.cpu_period = f.cpu_period;
    h.cpu_quota = f.cpu_quota;
    h.cpu_realtime_period = f.cpu_rt_period;
    h.cpu_realtime_runtime = f.cpu_rt_runtime;
    h.cpuset_cpus = f.cpuset_cpus.clone();
    h.cpuset_mems = f.cpuset_mems.clone();
    if let Some(cpus) = &f.cpus {
        h.nano_cpus = parse_cpus(cpus)?;
        if h.cpu_period != 0 || h.cpu_quota != 0 {
            return Err(if h.cpu_period != 0 {
                "Conflicting options: Nano CPUs and CPU Period cannot both be set"
            } else {
                "Conflicting options: Nano CPUs and CPU Quota cannot both be set"
            }
            .into());
        }
        let online = online_cpus();
        if h.nano_cpus > 0 && (h.nano_cpus < 10_000_000 || h.nano_cpus > online * 1_000_000_000) {
            return Err(format!(
                "Range of CPUs is from 0.01 to {online}.00, as there are only {online} CPUs available"
            ));
        }
    }
    if h.cpu_period != 0 && !(1000..=1_000_000).contains(&h.cpu_period) {
        return Err(
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"
                .into(),
        );
    }
    if h.cpu_quota > 0 && h.cpu_quota < 1000 {
        return Err("CPU cfs quota can not be less than 1ms (i.e. 1000)".into());
    }
    h.pids_limit = f.pids_limit;
    if f.blkio_weight != 0 && !(10..=1000).contains(&f.blkio_weight) {
        return Err("Range of blkio weight is from 10 to 1000".into());
    }
    h.blkio_weight = f.blkio_weight;
    h.blkio_weight_device = f
        .blkio_weight_device
        .iter()
        .map(|s| {
            let (p, w) = s
                .rsplit_once(':')
                .ok_or_else(|| flag_err(s, "--blkio-weight-device", format!("bad format: {s}")))?;
            let weight: u16 = w.parse().map_err(|_| {
                flag_err(
                    s,
                    "--blkio-weight-device",
                    format!("invalid weight for device: {s}"),
                )
            })?;
            Ok(WeightDevice {
                path: p.into(),
                weight,
            })
        })
        .collect::<Res<_>>()?;
    h.blkio_device_read_bps = parse_throttle(&f.device_read_bps, "--device-read-bps", true)?;
    h.blkio_device_write_bps = parse_throttle(&f.device_write_bps, "--device-write-bps", true)?;
    h.blkio_device_read_iops = parse_throttle(&f.device_read_iops, "--device-read-iops", false)?;
    h.blkio_device_write_iops = parse_throttle(&f.device_write_iops, "--device-write-iops", false)?;
    h.cgroup_parent = f.cgroup_parent.clone();

    // restart
    h.restart_policy = parse_restart(&f.restart)?;
    if f.rm && h.restart_policy.name != "no" {
        return Err("Conflicting options: --restart and --rm".into());
    }

    // storage
    if !f.storage_opt.is_empty() {
        let mut opts = Map::new();
        for o in &f.storage_opt {
            // Docker's parseStorageOpts: KEY=VALUE, checked by the engine against its driver.
            let Some((k, v)) = o.split_once('=') else {
                return Err("invalid storage option".into());
            };
            opts.insert(k.to_string(), v.to_string());
        }
        h.storage_opt = Some(opts);
    }
    let mut binds = Vec::new();
    let mut volumes = Map::new();
    for v in &f.volume {
        match parse_volume(v)? {
            (Some(b), _) => binds.push(b),
            (None, dst) => {
                volumes.insert(dst, Default::default());
            }
        }
    }
    h.binds = opt_vec(&binds);
    c.volumes = (!volumes.is_empty()).then_some(volumes);
    if !f.mount.is_empty() {
        h.mounts = Some(f.mount.iter().map(|m| parse_mount(m)).collect::<Res<_>>()?);
    }
    if !f.tmpfs.is_empty() {
        let mut m = Map::new();
        for t in &f.tmpfs {
            let (dst, opts) = t.split_once(':').unwrap_or((t, ""));
            if !dst.starts_with('/') {
                return Err(flag_err(
                    t,
                    "--tmpfs",
                    format!("invalid mount path: '{dst}' mount path must be absolute"),
                ));
            }
            m.insert(dst.to_string(), opts.to_string());
        }
        h.tmpfs = Some(m);
    }
    h.volume_driver = f.volume_driver.clone();
    h.volumes_from = opt_vec(&f.volumes_from);

    // network
    if f.network.len() > 1 {
        return Err(
            "conflicting options: cannot attach more than one network at create time (use 'berth network connect' after)".into(),
        );
    }
    h.network_mode = f
        .network
        .first()
        .cloned()
        .unwrap_or_else(|| "default".into());
    let mode = h.network_mode.clone();
    if (mode == "host" || mode.starts_with("container:"))
        && (!f.publish.is_empty() || f.publish_all)
    {
        // Docker only warns for host; for container: it is an error.
        if mode != "host" {
            return Err(
                "conflicting options: port publishing and the container type network mode".into(),
            );
        }
    }
    if mode.starts_with("container:") && !f.hostname.is_empty() {
        return Err("conflicting options: hostname and the network mode".into());
    }
    // The other container's resolv.conf and hosts are used: Docker's conflicts, in its order.
    if mode.starts_with("container:")
        && (!f.dns.is_empty() || !f.dns_search.is_empty() || !f.dns_option.is_empty())
    {
        return Err("conflicting options: dns and the network mode".into());
    }
    if mode.starts_with("container:") && !f.add_host.is_empty() {
        return Err("conflicting options: custom host-to-IP mapping and the network mode".into());
    }
    for d in &f.dns {
        if d.parse::<std::net::IpAddr>().is_err() {
            return Err(flag_err(d, "--dns", format!("{d} is not an ip address")));
        }
    }
    h.dns = f.dns.clone();
    h.dns_search = f.dns_search.clone();
    h.dns_options = f.dns_option.clone();
    for a in &f.add_host {
        let (host, ip) = a
            .split_once(':')
            .filter(|(h, _)| !h.is_empty())
            .ok_or_else(|| flag_err(a, "--add-host", format!("bad format for add-host: {a:?}")))?;
        let _ = host;
        if ip != "host-gateway" && ip.parse::<std::net::IpAddr>().is_err() {
            return Err(flag_err(
                a,
                "--add-host",
                format!("invalid IP address in add-host: {ip:?}"),
            ));
        }
    }
    h.extra_hosts = opt_vec(&f.add_host);
    h.links = opt_vec(&f.link);
    let mut ports = BTreeMap::new();
    for p in &f.publish {
        for (k, b) in parse_publish(p)? {
            ports.entry(k).or_insert_with(Vec::new).push(b);
        }
    }
    let mut exposed = Map::new();
    for e in &f.expose {
        for k in parse_expose(e)? {
            exposed.insert(k, Default::default());
        }
    }
    for k in ports.keys() {
        exposed.insert(k.clone(), Default::default());
    }
    c.exposed_ports = (!exposed.is_empty()).then_some(exposed);
    h.port_bindings = ports;
    h.publish_all_ports = f.publish_all;
    if !f.ip.is_empty() && f.ip.parse::<std::net::Ipv4Addr>().is_err() {
        return Err(flag_err(
            &f.ip,
            "--ip",
            format!("{} is not an ip address", f.ip),
        ));
    }
    if !f.ip6.is_empty() && f.ip6.parse::<std::net::Ipv6Addr>().is_ok() {
        // berth's networks have no IPv6 yet: the address would be dropped.
        return Err(format!(
            "--ip6 {}: IPv6 addresses are not supported by berth's networks yet",
            f.ip6
        ));
    }
    if !f.ip6.is_empty() && f.ip6.parse::<std::net::Ipv6Addr>().is_err() {
        return Err(flag_err(
            &f.ip6,
            "--ip6",
            format!("{} is not an ip address", f.ip6),
        ));
    }
    // No interface of its own: a MAC address would be dropped.
    if !f.mac_address.is_empty()
        && (matches!(mode.as_str(), "none" | "host") || mode.starts_with("container:"))
    {
        return Err(format!(
            "conflicting options: mac-address and the network mode ({mode})"
        ));
    }
    let has_ep = !f.network_alias.is_empty()
        || !f.ip.is_empty()
        || !f.ip6.is_empty()
        || !f.mac_address.is_empty();
    if has_ep {
        if !is_user_network(&mode) {
            if !f.network_alias.is_empty() {
                return Err(
                    "network-scoped alias is supported only for containers in user defined networks"
                        .into(),
                );
            }
            if !f.ip.is_empty() || !f.ip6.is_empty() {
                return Err(
                    "user specified IP address is supported on user defined networks only".into(),
                );
            }
        }
        let ep = EndpointSettings {
            aliases: opt_vec(&f.network_alias),
            ipam_config: (!f.ip.is_empty() || !f.ip6.is_empty()).then(|| EndpointIpamConfig {
                ipv4_address: f.ip.clone(),
                ipv6_address: f.ip6.clone(),
            }),
            mac_address: f.mac_address.clone(),
            ..Default::default()
        };
        let key = if mode == "default" {
            "bridge".to_string()
        } else {
            mode.clone()
        };
        net.endpoints_config.insert(key, ep);
    }

    // logging and the rest
    let mut log_opts = Map::new();
    for o in &f.log_opt {
        let (k, v) = o.split_once('=').ok_or_else(|| {
            flag_err(
                o,
                "--log-opt",
                format!("invalid key value pair format: {o}"),
            )
        })?;
        log_opts.insert(k.to_string(), v.to_string());
    }
    h.log_config = LogConfig {
        kind: f.log_driver.clone(),
        config: log_opts,
    };
    h.container_id_file = f.cidfile.clone();
    h.runtime = f.runtime.clone();
    h.isolation = f.isolation.clone();
    if !matches!(f.pull.as_str(), "missing" | "always" | "never") {
        return Err(format!(
            "invalid pull option: '{}': must be one of \"always\", \"missing\" or \"never\"",
            f.pull
        ));
    }
    Ok(Parsed {
        name: f.name.clone(),
        config: c,
        host: h,
        net,
    })
}

fn online_cpus() -> i64 {
    // SAFETY: sysconf only reads a system value.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    n.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    #[command(disable_help_flag = true)]
    struct T {
        #[command(flatten)]
        f: CreateFlags,
    }

    fn parse(args: &[&str]) -> Res<Parsed> {
        let mut v = vec!["run"];
        v.extend_from_slice(args);
        let t = T::try_parse_from(v).map_err(|e| e.to_string())?;
        to_config(&t.f, false)
    }

    #[test]
    fn image_and_command_stop_flag_parsing() {
        let p = parse(&["-e", "A=1", "busybox", "ls", "-l", "-d", "--rm"]).unwrap();
        assert_eq!(p.config.image, "busybox");
        assert_eq!(
            p.config.cmd,
            Some(vec!["ls".into(), "-l".into(), "-d".into(), "--rm".into()])
        );
        assert!(!p.host.auto_remove);
        assert_eq!(p.config.env, vec!["A=1"]);
        assert!(p.config.attach_stdout && p.config.attach_stderr && !p.config.attach_stdin);
        let p = parse(&["busybox"]).unwrap();
        assert_eq!(p.config.cmd, None);
        assert_eq!(p.host.network_mode, "default");
        assert_eq!(p.host.restart_policy.name, "no");
    }

    #[test]
    fn sizes() {
        assert_eq!(ram_in_bytes("64m").unwrap(), 64 << 20);
        assert_eq!(ram_in_bytes("64M").unwrap(), 64 << 20);
        assert_eq!(ram_in_bytes("64mb").unwrap(), 64 << 20);
        assert_eq!(ram_in_bytes("64MiB").unwrap(), 64 << 20);
        assert_eq!(ram_in_bytes("1.5g").unwrap(), 3 << 29);
        assert_eq!(ram_in_bytes("1024").unwrap(), 1024);
        assert_eq!(ram_in_bytes("10k").unwrap(), 10240);
        for bad in ["", "m", "abc", "64x", "-1", "1..5m"] {
            assert!(ram_in_bytes(bad).is_err(), "{bad}");
        }
        let e = parse(&["-m", "lots", "busybox"]).unwrap_err();
        assert_eq!(
            e,
            "invalid argument \"lots\" for \"-m, --memory\" flag: invalid size: 'lots'"
        );
        let p = parse(&[
            "-m",
            "64m",
            "--memory-swap",
            "-1",
            "--shm-size",
            "128m",
            "busybox",
        ])
        .unwrap();
        assert_eq!((p.host.memory, p.host.memory_swap), (64 << 20, -1));
        assert_eq!(p.host.shm_size, 128 << 20);
        assert!(parse(&["--memory-swap", "128m", "busybox"]).is_err());
        assert!(parse(&["-m", "128m", "--memory-swap", "64m", "busybox"]).is_err());
        assert!(parse(&["-m", "1m", "busybox"]).is_err());
    }

    #[test]
    fn cpus() {
        let p = parse(&["--cpus", "0.5", "--cpuset-cpus", "0", "busybox"]).unwrap();
        assert_eq!(p.host.nano_cpus, 500_000_000);
        assert_eq!(p.host.cpuset_cpus, "0");
        assert_eq!(parse_cpus("1.5").unwrap(), 1_500_000_000);
        assert!(parse(&["--cpus", "x", "busybox"]).is_err());
        assert!(parse(&["--cpus", "0.5", "--cpu-quota", "50000", "busybox"]).is_err());
        assert!(parse(&["--cpus", "100000", "busybox"]).is_err());
        let p = parse(&[
            "--cpu-quota=50000",
            "--cpu-period",
            "100000",
            "-c",
            "512",
            "busybox",
        ])
        .unwrap();
        assert_eq!(
            (p.host.cpu_quota, p.host.cpu_period, p.host.cpu_shares),
            (50000, 100000, 512)
        );
        let p = parse(&["--pids-limit", "20", "--blkio-weight", "300", "busybox"]).unwrap();
        assert_eq!(p.host.pids_limit, Some(20));
        assert_eq!(p.host.blkio_weight, 300);
        assert!(parse(&["--blkio-weight", "5", "busybox"]).is_err());
    }

    #[test]
    fn restart_policies() {
        let r = parse_restart("on-failure:3").unwrap();
        assert_eq!((r.name.as_str(), r.maximum_retry_count), ("on-failure", 3));
        assert_eq!(parse_restart("always").unwrap().name, "always");
        assert_eq!(
            parse_restart("unless-stopped").unwrap().name,
            "unless-stopped"
        );
        assert_eq!(parse_restart("on-failure").unwrap().maximum_retry_count, 0);
        assert!(parse_restart("always:3").is_err());
        assert!(parse_restart("sometimes").is_err());
        assert!(parse_restart("on-failure:x").is_err());
        assert_eq!(
            parse(&["--rm", "--restart", "always", "busybox"]).unwrap_err(),
            "Conflicting options: --restart and --rm"
        );
    }

    #[test]
    fn ulimits_and_devices() {
        let u = parse_ulimit("nofile=1024:2048").unwrap();
        assert_eq!((u.name.as_str(), u.soft, u.hard), ("nofile", 1024, 2048));
        let u = parse_ulimit("nproc=10").unwrap();
        assert_eq!((u.soft, u.hard), (10, 10));
        assert!(parse_ulimit("nofile").is_err());
        assert!(parse_ulimit("bogus=1").is_err());
        assert!(parse_ulimit("nofile=2048:1024").is_err());
        let d = parse_device("/dev/fuse").unwrap();
        assert_eq!(
            (d.path_in_container.as_str(), d.cgroup_permissions.as_str()),
            ("/dev/fuse", "rwm")
        );
        let d = parse_device("/dev/sda:/dev/xvdc:r").unwrap();
        assert_eq!(
            (d.path_in_container.as_str(), d.cgroup_permissions.as_str()),
            ("/dev/xvdc", "r")
        );
        let d = parse_device("/dev/null:rw").unwrap();
        assert_eq!(
            (d.path_in_container.as_str(), d.cgroup_permissions.as_str()),
            ("/dev/null", "rw")
        );
        assert!(parse_device("/dev/sda:/dev/b:x").is_err());
    }

    #[test]
    fn ports() {
        let p = parse_publish("8080:80").unwrap();
        assert_eq!(p[0].0, "80/tcp");
        assert_eq!(p[0].1.host_port, "8080");
        let p = parse_publish("127.0.0.1:8080:80/udp").unwrap();
        assert_eq!(
            (p[0].0.as_str(), p[0].1.host_ip.as_str()),
            ("80/udp", "127.0.0.1")
        );
        let p = parse_publish("[::1]:8080:80").unwrap();
        assert_eq!(p[0].1.host_ip, "::1");
        let p = parse_publish("80").unwrap();
        assert_eq!(p[0].1.host_port, "");
        let p = parse_publish("127.0.0.1::80").unwrap();
        assert_eq!(
            (p[0].1.host_ip.as_str(), p[0].1.host_port.as_str()),
            ("127.0.0.1", "")
        );
        let p = parse_publish("8000-8002:80-82").unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(
            (p[2].0.as_str(), p[2].1.host_port.as_str()),
            ("82/tcp", "8002")
        );
        let p = parse_publish("8000-8010:80").unwrap();
        assert_eq!(p[0].1.host_port, "8000-8010");
        assert!(parse_publish("8000-8001:80-90").is_err());
        assert!(parse_publish("x:80").is_err());
        assert!(parse_publish("1.2.3:80:80").is_err());
        assert!(parse_publish("80/icmp").is_err());
        let c = parse(&["-p", "8080:80", "--expose", "90-91", "-P", "busybox"]).unwrap();
        let exp: Vec<_> = c.config.exposed_ports.unwrap().keys().cloned().collect();
        assert_eq!(exp, ["80/tcp", "90/tcp", "91/tcp"]);
        assert_eq!(c.host.port_bindings["80/tcp"][0].host_port, "8080");
        assert!(c.host.publish_all_ports);
    }

    #[test]
    fn volumes_mounts_tmpfs() {
        let c = parse(&[
            "-v",
            "/data",
            "-v",
            "/host:/c:ro",
            "-v",
            "named:/n",
            "--tmpfs",
            "/run:size=64m",
            "--tmpfs",
            "/x",
            "busybox",
        ])
        .unwrap();
        assert_eq!(
            c.host.binds,
            Some(vec!["/host:/c:ro".into(), "named:/n".into()])
        );
        assert!(c.config.volumes.unwrap().contains_key("/data"));
        let t = c.host.tmpfs.unwrap();
        assert_eq!(t["/run"], "size=64m");
        assert_eq!(t["/x"], "");
        assert!(parse_volume("/a:relative").is_err());
        assert!(parse_volume("/a:/b:bogus").is_err());
        assert!(parse_volume("bad name:/b").is_err());
        let m = parse_mount("type=bind,source=/a,target=/b,readonly").unwrap();
        assert_eq!(
            (
                m.kind.as_str(),
                m.source.as_str(),
                m.target.as_str(),
                m.read_only
            ),
            ("bind", "/a", "/b", true)
        );
        let m = parse_mount("type=bind,src=/a,dst=/b,bind-propagation=rshared,ro=false").unwrap();
        assert_eq!(m.bind_options.unwrap().propagation, "rshared");
        assert!(!m.read_only);
        let m = parse_mount("type=tmpfs,destination=/t,tmpfs-size=1m,tmpfs-mode=1770").unwrap();
        let o = m.tmpfs_options.unwrap();
        assert_eq!((o.size_bytes, o.mode), (1 << 20, 0o1770));
        let m = parse_mount("target=/v").unwrap();
        assert_eq!(m.kind, "volume");
        assert!(parse_mount("type=bind,source=/a").is_err());
        assert!(parse_mount("type=bind,target=/a").is_err());
        assert!(parse_mount("type=weird,target=/a").is_err());
        assert!(parse_mount("type=bind,source=/a,target=/b,foo=bar").is_err());
        assert!(parse_mount("type=tmpfs,target=rel").is_err());
    }

    #[test]
    fn env_and_labels() {
        std::env::set_var("BERTH_TEST_FROM_ENV", "yes");
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("env");
        std::fs::write(
            &f,
            "# comment\n\n  A=1\nBERTH_TEST_FROM_ENV\nUNSET_BERTH_VAR\nB=x=y\n",
        )
        .unwrap();
        let l = dir.path().join("labels");
        std::fs::write(&l, "a=from-file\nflag\n").unwrap();
        let c = parse(&[
            "--env-file",
            f.to_str().unwrap(),
            "-e",
            "C=3",
            "-e",
            "BERTH_TEST_FROM_ENV",
            "--label-file",
            l.to_str().unwrap(),
            "-l",
            "a=b",
            "--label",
            "k=v=w",
            "busybox",
        ])
        .unwrap();
        assert_eq!(
            c.config.env,
            [
                "A=1",
                "BERTH_TEST_FROM_ENV=yes",
                "UNSET_BERTH_VAR",
                "B=x=y",
                "C=3",
                "BERTH_TEST_FROM_ENV=yes"
            ]
        );
        assert_eq!(c.config.labels["a"], "b");
        assert_eq!(c.config.labels["flag"], "");
        assert_eq!(c.config.labels["k"], "v=w");
        std::fs::write(&f, "BAD VAR=1\n").unwrap();
        assert!(parse(&["--env-file", f.to_str().unwrap(), "busybox"]).is_err());
        assert!(parse(&["-e", "=x", "busybox"]).is_err());
    }

    #[test]
    fn namespaces_security_and_misc() {
        let c = parse(&[
            "--pid",
            "host",
            "--ipc",
            "container:x",
            "--uts",
            "host",
            "--cap-add",
            "NET_ADMIN",
            "--cap-drop",
            "ALL",
            "--security-opt",
            "no-new-privileges",
            "--security-opt",
            "seccomp=unconfined",
            "--privileged",
            "--read-only",
            "--init",
            "-w",
            "/tmp",
            "-u",
            "1000:1000",
            "--entrypoint",
            "",
            "--hostname",
            "h",
            "--name",
            "web-1",
            "-it",
            "--stop-timeout",
            "3",
            "--sysctl",
            "net.ipv4.ip_forward=1",
            "busybox",
        ]);
        assert!(c.is_err(), "--uts host with --hostname conflicts");
        let c = parse(&[
            "--pid",
            "host",
            "--ipc",
            "container:x",
            "--cap-add",
            "NET_ADMIN",
            "--cap-drop",
            "ALL",
            "--security-opt",
            "no-new-privileges",
            "--security-opt",
            "seccomp=unconfined",
            "--privileged",
            "--read-only",
            "--init",
            "-w",
            "/tmp",
            "-u",
            "1000:1000",
            "--entrypoint",
            "",
            "-h",
            "h",
            "--name",
            "web-1",
            "-it",
            "--stop-timeout",
            "3",
            "--sysctl",
            "net.ipv4.ip_forward=1",
            "busybox",
        ])
        .unwrap();
        assert_eq!(
            (c.host.pid_mode.as_str(), c.host.ipc_mode.as_str()),
            ("host", "container:x")
        );
        assert_eq!(c.host.cap_add, Some(vec!["NET_ADMIN".into()]));
        assert_eq!(c.host.security_opt.as_ref().unwrap().len(), 2);
        assert!(c.host.privileged && c.host.readonly_rootfs);
        assert_eq!(c.host.init, Some(true));
        assert_eq!(c.config.entrypoint, Some(vec![String::new()]));
        assert_eq!(c.config.hostname, "h");
        assert_eq!(c.name.as_deref(), Some("web-1"));
        assert!(
            c.config.tty && c.config.open_stdin && c.config.attach_stdin && c.config.stdin_once
        );
        assert_eq!(c.config.stop_timeout, Some(3));
        assert_eq!(c.host.sysctls.unwrap()["net.ipv4.ip_forward"], "1");
        assert!(parse(&["--pid", "bogus", "busybox"]).is_err());
        assert!(parse(&["--security-opt", "bogus", "busybox"]).is_err());
        assert!(parse(&["--security-opt", "seccomp=/nonexistent.json", "busybox"]).is_err());
        assert!(parse(&["--name", "bad name", "busybox"]).is_err());
        assert!(parse(&["-w", "relative", "busybox"]).is_err());
        assert!(parse(&["--pull", "sometimes", "busybox"]).is_err());
        let c = parse(&["--entrypoint", "/bin/sh", "busybox", "-c", "true"]).unwrap();
        assert_eq!(c.config.entrypoint, Some(vec!["/bin/sh".into()]));
        assert_eq!(c.config.cmd, Some(vec!["-c".into(), "true".into()]));
    }

    #[test]
    fn networks() {
        let c = parse(&[
            "--network",
            "mynet",
            "--network-alias",
            "db",
            "--ip",
            "10.1.0.5",
            "--dns",
            "1.1.1.1",
            "--add-host",
            "h:10.0.0.1",
            "busybox",
        ])
        .unwrap();
        assert_eq!(c.host.network_mode, "mynet");
        let ep = &c.net.endpoints_config["mynet"];
        assert_eq!(ep.aliases, Some(vec!["db".into()]));
        assert_eq!(ep.ipam_config.as_ref().unwrap().ipv4_address, "10.1.0.5");
        assert_eq!(c.host.dns, ["1.1.1.1"]);
        assert_eq!(c.host.extra_hosts, Some(vec!["h:10.0.0.1".into()]));
        assert!(parse(&["--network-alias", "x", "busybox"]).is_err());
        assert!(parse(&["--ip", "10.0.0.1", "--network", "bridge", "busybox"]).is_err());
        assert!(parse(&["--dns", "nope", "busybox"]).is_err());
        assert!(parse(&["--add-host", "nohost", "busybox"]).is_err());
        assert!(parse(&["--add-host", "h:notanip", "busybox"]).is_err());
        let c = parse(&["--add-host", "h6:::1", "--network", "none", "busybox"]).unwrap();
        assert_eq!(c.host.network_mode, "none");
        assert!(parse(&["--network", "container:x", "-p", "80", "busybox"]).is_err());
    }

    #[test]
    fn attach_streams() {
        let c = parse(&["-a", "stdout", "busybox"]).unwrap();
        assert!(c.config.attach_stdout && !c.config.attach_stderr && !c.config.attach_stdin);
        assert!(parse(&["-a", "bogus", "busybox"]).is_err());
        let t = T::try_parse_from(["run", "-a", "stdout", "busybox"]).unwrap();
        assert!(to_config(&t.f, true).is_err());
        let t = T::try_parse_from(["run", "-i", "busybox"]).unwrap();
        let c = to_config(&t.f, true).unwrap();
        assert!(c.config.open_stdin && !c.config.attach_stdin && !c.config.attach_stdout);
    }
}
