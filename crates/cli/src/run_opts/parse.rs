//! Parsers of single flag values (`--memory`, `--cpus`, `--restart`, `--ulimit`, `--device`,
//! `-p`, `--expose`, `-v`, `--mount`, `--env-file`, `-e`, `--security-opt`, throttles), with
//! Docker's wording.

use super::Res;
use engine::types::{
    BindOptions, DeviceMapping, Mount, PortBinding, RestartPolicy, ThrottleDevice, TmpfsOptions,
    Ulimit,
};

pub(super) fn flag_err(v: &str, flag: &str, why: impl std::fmt::Display) -> String {
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

pub(super) fn mem_flag(v: &Option<String>, flag: &str) -> Res<i64> {
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

pub(super) fn parse_security_opt(s: &str) -> Res<String> {
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
        | "unmask" | "procfs" => Ok(s.into()),
        _ => Err(format!("Invalid --security-opt: {s:?}")),
    }
}

pub(super) fn parse_throttle(v: &[String], flag: &str, bytes: bool) -> Res<Vec<ThrottleDevice>> {
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
