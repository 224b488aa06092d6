//! [`to_config`]: the flags into the API's Config + HostConfig + NetworkingConfig.

use super::parse::{
    flag_err, mem_flag, parse_cpus, parse_device, parse_env, parse_expose, parse_mount,
    parse_publish, parse_restart, parse_security_opt, parse_throttle, parse_ulimit, parse_volume,
    read_kv_file,
};
use super::{CreateFlags, Parsed, Res};
use engine::types::{
    Config, EndpointIpamConfig, EndpointSettings, HostConfig, LogConfig, Map, NetworkingConfig,
    WeightDevice,
};
use std::collections::BTreeMap;

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
    // Docker checks the conflict before the policy's syntax.
    if f.rm && !f.restart.is_empty() && f.restart != "no" {
        return Err("conflicting options: cannot specify both --restart and --rm".into());
    }
    h.restart_policy = parse_restart(&f.restart)?;

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
