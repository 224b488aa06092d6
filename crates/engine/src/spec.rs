//! OCI runtime spec generation from a container's (merged) Config and HostConfig with Docker's
//! defaults (moby's `oci_defaults.go` + `createSpec`): default capabilities, masked and
//! read-only /proc paths, /dev/shm of ShmSize, hostname, /etc/{hosts,hostname,resolv.conf} bind
//! mounts, the default seccomp profile, user lookup inside the rootfs, resources, namespaces.

use crate::types::{Config, HostConfig};
use crate::{Error, Result};
use oci_spec::runtime::{LinuxCpu, LinuxMemory, LinuxPids, LinuxResources};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// Docker's default PATH.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Docker's 14 default capabilities but CAP_NET_RAW (as Podman): raw and packet sockets let a
/// container forge any frame on its network (ARP/IP spoofing of its neighbours). `ping` still
/// works for root (any group, in fact) through ICMP echo sockets: every network namespace
/// berth makes has `net.ipv4.ping_group_range` "0 2147483647" (see `network::netns`); with
/// `--network host` that is the host's own setting, which berth leaves alone, and
/// `--network container:X` shares X's. `--cap-add NET_RAW` restores raw sockets.
pub const DEFAULT_CAPS: [&str; 13] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability the kernel knows (`--privileged`, `--cap-add ALL`): the runtime's table.
const ALL_CAPS: [&str; 41] = runtime::security::CAPABILITY_NAMES;

/// Every capability this host lets us grant (`--privileged`, `--cap-add ALL`): those of our
/// bounding set, like Podman: some sandboxes run even root without e.g. CAP_SYS_RESOURCE, and
/// asking the kernel for it anyway fails the container's start.
fn grantable_caps() -> Vec<String> {
    ALL_CAPS
        .iter()
        .enumerate()
        // SAFETY: PR_CAPBSET_READ only reads this thread's bounding set.
        .filter(|(i, _)| unsafe { libc::prctl(libc::PR_CAPBSET_READ, *i as libc::c_ulong, 0, 0, 0) } == 1)
        .map(|(_, s)| s.to_string())
        .collect()
}

pub const MASKED_PATHS: [&str; 11] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

pub const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Docker's default seccomp profile (moby profiles/seccomp/default.json, in its own format with
/// `includes`/`excludes` capability conditions, resolved per container by [`seccomp_for`]).
pub const SECCOMP_DEFAULT: &str = include_str!("seccomp_default.json");

/// How a namespace is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ns {
    /// A new one.
    Private,
    /// The host's (no namespace entry).
    Host,
    /// Join this path (`/proc/<pid>/ns/<x>` of another container, a netns bind mount).
    Join(PathBuf),
}

/// Everything spec generation needs besides Config/HostConfig.
pub struct SpecInput<'a> {
    pub id: &'a str,
    pub config: &'a Config,
    pub host: &'a HostConfig,
    /// The mounted rootfs (for user lookups and the workdir).
    pub rootfs: &'a Path,
    /// `<root>/containers/<id>` holding hostname, hosts, resolv.conf.
    pub container_dir: &'a Path,
    /// The OCI entries of the container's binds, volumes and `--mount`s.
    pub mounts: &'a [Value],
    pub net: Ns,
    pub pid: Ns,
    pub ipc: Ns,
    pub uts: Ns,
    /// A host directory to bind at /dev/shm (`--ipc shareable|host|container:<x>`, see
    /// [`crate::ipc`]); None: a private tmpfs, or none at all for `--ipc none`.
    pub shm: Option<PathBuf>,
    /// The cgroup hierarchy is v2-only (cgroupns private by default like Docker).
    pub cgroup_v2: bool,
    /// The binary to bind-mount at /sbin/berth-init for `--init`.
    pub init_binary: Option<PathBuf>,
}

/// Docker's init path inside the container.
pub const INIT_PATH: &str = "/sbin/berth-init";

/// The merged process args (entrypoint + cmd).
pub fn command(config: &Config) -> Vec<String> {
    let mut args = config.entrypoint.clone().unwrap_or_default();
    args.extend(config.cmd.clone().unwrap_or_default());
    args
}

/// Docker's `ReplaceOrAppendEnvValues`: later values replace earlier ones with the same key.
pub fn merge_env(base: &mut Vec<String>, over: &[String]) {
    for e in over {
        let key = e.split('=').next().unwrap_or(e);
        if let Some(slot) = base
            .iter_mut()
            .find(|b| b.split('=').next().unwrap_or(b) == key)
        {
            *slot = e.clone();
        } else {
            base.push(e.clone());
        }
    }
}

/// The container's environment: PATH (if the image has none), HOSTNAME, TERM for a tty, then
/// Config.Env.
pub fn environment(config: &Config) -> Vec<String> {
    let mut env = vec![
        format!("PATH={DEFAULT_PATH}"),
        format!("HOSTNAME={}", config.hostname),
    ];
    if config.tty {
        env.push("TERM=xterm".into());
    }
    merge_env(&mut env, &config.env);
    env
}

/// Adds `HOME` as Docker does when the environment has none: the user's home directory from
/// the container's /etc/passwd, else `/`.
pub fn with_home(mut env: Vec<String>, rootfs: &Path, uid: u32) -> Vec<String> {
    if env.iter().any(|e| e.starts_with("HOME=")) {
        return env;
    }
    let passwd = runtime::rootfs::secure_join(rootfs, Path::new("/etc/passwd"))
        .ok()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default();
    let home = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 6 && f[2].parse() == Ok(uid))
        .map(|f| f[5].to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "/".into());
    env.push(format!("HOME={home}"));
    env
}

fn normalize_cap(c: &str) -> String {
    let c = c.trim().to_ascii_uppercase();
    if c.starts_with("CAP_") || c == "ALL" {
        c
    } else {
        format!("CAP_{c}")
    }
}

/// Docker's capability rules: defaults, `--cap-add ALL`, `--cap-drop ALL`, adds after drops.
pub fn capabilities(host: &HostConfig) -> Result<Vec<String>> {
    if host.privileged {
        return Ok(grantable_caps());
    }
    let adds: Vec<String> = host
        .cap_add
        .iter()
        .flatten()
        .map(|c| normalize_cap(c))
        .collect();
    let drops: Vec<String> = host
        .cap_drop
        .iter()
        .flatten()
        .map(|c| normalize_cap(c))
        .collect();
    for c in adds.iter().chain(&drops) {
        if c != "ALL" && !ALL_CAPS.contains(&c.as_str()) {
            return Err(Error::InvalidArgument(format!(
                "invalid argument: unknown capability: \"{c}\""
            )));
        }
    }
    let mut caps: Vec<String> = if adds.iter().any(|c| c == "ALL") {
        grantable_caps()
    } else {
        DEFAULT_CAPS.iter().map(|s| s.to_string()).collect()
    };
    if drops.iter().any(|c| c == "ALL") {
        caps.clear();
    } else {
        caps.retain(|c| !drops.contains(c));
    }
    for a in adds {
        if a != "ALL" && !caps.contains(&a) {
            caps.push(a);
        }
    }
    Ok(caps)
}

pub use crate::seccomp::seccomp_for;

/// uid, gid, additional gids of `user` ("name", "uid", "uid:gid", "name:group"), looked up in
/// the container's /etc/passwd and /etc/group (paths resolved inside the rootfs).
pub fn resolve_user(
    rootfs: &Path,
    user: &str,
    group_add: &[String],
) -> Result<(u32, u32, Vec<u32>)> {
    let read = |p: &str| -> String {
        runtime::rootfs::secure_join(rootfs, Path::new(p))
            .ok()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default()
    };
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    // Docker looks the default user up as uid 0 (its name and groups come from /etc/passwd).
    let u = if u.is_empty() { "0" } else { u };
    let passwd = if u.is_empty()
        || u.parse::<u32>().is_ok() && g.is_some_and(|g| g.parse::<u32>().is_ok())
    {
        String::new()
    } else {
        read("/etc/passwd")
    };
    let mut uid = 0;
    let mut gid = 0;
    let mut uname = String::new();
    if !u.is_empty() {
        let entry = passwd
            .lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .find(|f| f.len() >= 4 && (f[0] == u || (u.parse::<u32>().is_ok() && f[2] == u)));
        match (entry, u.parse::<u32>()) {
            (Some(f), _) => {
                uid = f[2].parse().unwrap_or(0);
                gid = f[3].parse().unwrap_or(0);
                uname = f[0].to_string();
            }
            (None, Ok(n)) => uid = n,
            (None, Err(_)) => {
                return Err(Error::Other(format!(
                    "unable to find user {u}: no matching entries in passwd file"
                )))
            }
        }
    }
    let groups_txt = if g.is_some_and(|g| g.parse::<u32>().is_err())
        || !uname.is_empty()
        || group_add.iter().any(|g| g.parse::<u32>().is_err())
    {
        read("/etc/group")
    } else {
        String::new()
    };
    let groups: Vec<Vec<&str>> = groups_txt
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() >= 3)
        .collect();
    let find_group = |name: &str| -> Result<u32> {
        if let Ok(n) = name.parse() {
            return Ok(n);
        }
        groups
            .iter()
            .find(|f| f[0] == name)
            .and_then(|f| f[2].parse().ok())
            .ok_or_else(|| {
                Error::Other(format!(
                    "unable to find group {name}: no matching entries in group file"
                ))
            })
    };
    if let Some(g) = g {
        gid = find_group(g)?;
    }
    // As Docker (moby/sys/user GetExecUser): the supplementary groups are the primary gid,
    // plus, unless a group was given, every group listing the user, plus --group-add.
    let mut extra = vec![gid];
    if !uname.is_empty() && g.is_none() {
        for f in &groups {
            if f.len() >= 4 && f[3].split(',').any(|m| m == uname) {
                if let Ok(n) = f[2].parse::<u32>() {
                    if !extra.contains(&n) {
                        extra.push(n);
                    }
                }
            }
        }
    }
    for g in group_add {
        let n = find_group(g)?;
        if !extra.contains(&n) {
            extra.push(n);
        }
    }
    Ok((uid, gid, extra))
}

/// Parses Docker's `-v` bind syntax `src:dst[:opts]` into (source, destination, read-only,
/// propagation, is-named-volume).
pub fn parse_bind(b: &str) -> Result<(String, String, bool, String, bool)> {
    let parts: Vec<&str> = b.split(':').collect();
    let (src, dst, opts) = match parts.as_slice() {
        [d] => ("", *d, ""),
        [s, d] => (*s, *d, ""),
        [s, d, o] => (*s, *d, *o),
        _ => {
            return Err(Error::InvalidArgument(format!(
                "invalid volume specification: '{b}'"
            )))
        }
    };
    if !dst.starts_with('/') {
        return Err(Error::InvalidArgument(format!(
            "invalid volume specification: '{b}': invalid mount config for type \"bind\": invalid mount path: '{dst}' mount path must be absolute"
        )));
    }
    let mut ro = false;
    let mut prop = String::new();
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" => ro = true,
            "rw" => ro = false,
            "z" | "Z" | "nocopy" | "consistent" | "cached" | "delegated" => {}
            p @ ("private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave") => {
                prop = p.to_string()
            }
            _ => {
                return Err(Error::InvalidArgument(format!(
                    "invalid volume specification: '{b}': invalid mode: {o}"
                )))
            }
        }
    }
    let named = !src.is_empty() && !src.starts_with('/');
    Ok((src.to_string(), dst.to_string(), ro, prop, named))
}

fn parse_tmpfs_opts(opts: &str) -> Vec<String> {
    let mut o = vec![
        "nosuid".to_string(),
        "nodev".to_string(),
        "noexec".to_string(),
    ];
    for x in opts.split(',').filter(|x| !x.is_empty()) {
        match x {
            "exec" => o.retain(|y| y != "noexec"),
            "dev" => o.retain(|y| y != "nodev"),
            "suid" => o.retain(|y| y != "nosuid"),
            _ => o.push(x.to_string()),
        }
    }
    o
}

/// Parses `/dev/x[:/dev/y][:rwm]`.
pub fn parse_device(d: &str) -> Result<(String, String, String)> {
    let p: Vec<&str> = d.split(':').collect();
    let is_perm = |s: &str| !s.is_empty() && s.chars().all(|c| "rwm".contains(c));
    Ok(match p.as_slice() {
        [a] => (a.to_string(), a.to_string(), "rwm".into()),
        [a, b] if is_perm(b) => (a.to_string(), a.to_string(), b.to_string()),
        [a, b] => (a.to_string(), b.to_string(), "rwm".into()),
        [a, b, c] if is_perm(c) => (a.to_string(), b.to_string(), c.to_string()),
        _ => {
            return Err(Error::InvalidArgument(format!(
                "invalid device specification: {d}"
            )))
        }
    })
}

fn device_entry(host_path: &str, ctr_path: &str, perms: &str) -> Result<(Value, Value)> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let md = std::fs::metadata(host_path).map_err(|e| {
        Error::InvalidArgument(format!(
            "error gathering device information while adding custom device \"{host_path}\": {e}"
        ))
    })?;
    let ft = md.file_type();
    let kind = if ft.is_char_device() {
        "c"
    } else if ft.is_block_device() {
        "b"
    } else {
        return Err(Error::InvalidArgument(format!(
            "error gathering device information while adding custom device \"{host_path}\": not a device node"
        )));
    };
    let rdev = md.rdev();
    let (major, minor) = (libc::major(rdev) as i64, libc::minor(rdev) as i64);
    Ok((
        json!({"path": ctr_path, "type": kind, "major": major, "minor": minor,
               "fileMode": md.mode() & 0o7777, "uid": md.uid(), "gid": md.gid()}),
        json!({"allow": true, "type": kind, "major": major, "minor": minor, "access": perms}),
    ))
}

/// The Linux resources of a HostConfig (Docker's rules: --cpus → quota over a 100 ms period,
/// swap 2×memory when unset, -1 unlimited).
pub fn resources(host: &HostConfig) -> Result<LinuxResources> {
    let mut r = LinuxResources::default();
    let mut mem = LinuxMemory::default();
    if host.memory > 0 {
        mem.set_limit(Some(host.memory));
        let swap = match host.memory_swap {
            0 => host.memory * 2,
            -1 => -1,
            s => s,
        };
        mem.set_swap(Some(swap));
    }
    if host.memory_reservation > 0 {
        mem.set_reservation(Some(host.memory_reservation));
    }
    if let Some(s) = host.memory_swappiness.filter(|s| *s >= 0) {
        mem.set_swappiness(Some(s as u64));
    }
    if let Some(d) = host.oom_kill_disable {
        mem.set_disable_oom_killer(Some(d));
    }
    if mem != LinuxMemory::default() {
        r.set_memory(Some(mem));
    }
    let mut cpu = LinuxCpu::default();
    if host.nano_cpus > 0 {
        cpu.set_period(Some(100_000));
        cpu.set_quota(Some(host.nano_cpus / 10_000));
    }
    if host.cpu_period > 0 {
        cpu.set_period(Some(host.cpu_period as u64));
    }
    if host.cpu_quota != 0 {
        cpu.set_quota(Some(host.cpu_quota));
    }
    if host.cpu_shares > 0 {
        cpu.set_shares(Some(host.cpu_shares as u64));
    }
    if !host.cpuset_cpus.is_empty() {
        cpu.set_cpus(Some(host.cpuset_cpus.clone()));
    }
    if !host.cpuset_mems.is_empty() {
        cpu.set_mems(Some(host.cpuset_mems.clone()));
    }
    if host.cpu_realtime_period > 0 {
        cpu.set_realtime_period(Some(host.cpu_realtime_period as u64));
    }
    if host.cpu_realtime_runtime > 0 {
        cpu.set_realtime_runtime(Some(host.cpu_realtime_runtime));
    }
    if cpu != LinuxCpu::default() {
        r.set_cpu(Some(cpu));
    }
    if let Some(p) = host.pids_limit.filter(|p| *p != 0) {
        let mut pids = LinuxPids::default();
        pids.set_limit(if p < 0 { -1 } else { p });
        r.set_pids(Some(pids));
    }
    r.set_block_io(crate::blkio::block_io(host)?);
    Ok(r)
}

fn ns_entry(kind: &str, ns: &Ns) -> Option<Value> {
    match ns {
        Ns::Host => None,
        Ns::Private => Some(json!({"type": kind})),
        Ns::Join(p) => Some(json!({"type": kind, "path": p})),
    }
}

/// Builds the OCI spec (`config.json`) of a container. Also creates the working directory in
/// the rootfs when missing (Docker does).
pub fn build(inp: &SpecInput) -> Result<Value> {
    let c = inp.config;
    let h = inp.host;
    let mut args = command(c);
    if args.is_empty() {
        return Err(Error::InvalidArgument("No command specified".to_string()));
    }
    let init = h.init.unwrap_or(false) && inp.init_binary.is_some();
    if init {
        let mut a = vec![INIT_PATH.to_string(), "--".to_string()];
        a.append(&mut args);
        args = a;
    }
    let caps = capabilities(h)?;
    let (uid, gid, extra_gids) =
        resolve_user(inp.rootfs, &c.user, h.group_add.as_deref().unwrap_or(&[]))?;
    let cwd = if c.working_dir.is_empty() {
        "/".to_string()
    } else {
        c.working_dir.clone()
    };
    if cwd != "/" {
        if let Ok(p) = runtime::rootfs::secure_join(inp.rootfs, Path::new(&cwd)) {
            if !p.exists() {
                let _ = std::fs::create_dir_all(&p);
                use std::os::unix::fs::chown;
                let _ = chown(&p, Some(uid), Some(gid));
            }
        }
    }
    let sec = crate::settings::security_opts(h, &caps)?;
    let (no_new_privs, seccomp) = (sec.no_new_privs, sec.seccomp);

    let mut rlimits = Vec::new();
    for u in h.ulimits.iter().flatten() {
        rlimits.push(
            json!({"type": format!("RLIMIT_{}", u.name.to_ascii_uppercase()),
                            "hard": u.hard, "soft": u.soft}),
        );
    }
    let mut process = json!({
        "terminal": c.tty,
        "user": {"uid": uid, "gid": gid},
        "args": args,
        "env": with_home(environment(c), inp.rootfs, uid),
        "cwd": cwd,
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        "noNewPrivileges": no_new_privs,
    });
    if let Some(p) = sec.apparmor {
        process["apparmorProfile"] = json!(p);
    }
    if !extra_gids.is_empty() {
        process["user"]["additionalGids"] = json!(extra_gids);
    }
    if !rlimits.is_empty() {
        process["rlimits"] = Value::Array(rlimits);
    }
    if h.oom_score_adj != 0 {
        process["oomScoreAdj"] = json!(h.oom_score_adj);
    }

    // Mounts: Docker's defaults, then its files, then user mounts (which may replace defaults).
    let shm = if h.shm_size > 0 { h.shm_size } else { 64 << 20 };
    let mut mounts: Vec<Value> = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", if h.privileged {"rw"} else {"ro"}]}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", if h.privileged {"rw"} else {"ro"}]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
    ];
    if let Some(src) = &inp.shm {
        mounts.push(
            json!({"destination": "/dev/shm", "type": "bind", "source": src,
            "options": ["rbind", "rprivate"]}),
        );
    } else if !matches!(h.ipc_mode.as_str(), "none" | "host")
        && !h.ipc_mode.starts_with("container:")
    {
        mounts.push(
            json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
            "options": ["nosuid", "noexec", "nodev", "mode=1777", format!("size={shm}")]}),
        );
    }
    // The container's binds, volumes and --mount tmpfs, readied by `volume::mounts::prepare`.
    let mut user_dests: Vec<String> = Vec::new();
    let mut user_mounts: Vec<Value> = Vec::new();
    for m in inp.mounts {
        user_dests.push(m["destination"].as_str().unwrap_or_default().to_string());
        user_mounts.push(m.clone());
    }
    for (dst, opts) in h.tmpfs.iter().flatten() {
        user_dests.push(dst.clone());
        user_mounts.push(json!({"destination": dst, "type": "tmpfs", "source": "tmpfs", "options": parse_tmpfs_opts(opts)}));
    }
    mounts.retain(|m| !user_dests.iter().any(|d| m["destination"] == d.as_str()));
    for f in ["resolv.conf", "hostname", "hosts"] {
        let dst = format!("/etc/{f}");
        if user_dests.contains(&dst) {
            continue;
        }
        let src = inp.container_dir.join(f);
        let ro = h.readonly_rootfs;
        mounts.push(json!({"destination": dst, "type": "bind", "source": src,
            "options": ["rbind", "rprivate", if ro {"ro"} else {"rw"}]}));
    }
    if init {
        mounts.push(json!({"destination": INIT_PATH, "type": "bind",
            "source": inp.init_binary.as_ref().unwrap(), "options": ["bind", "ro"]}));
    }
    mounts.extend(user_mounts);

    // Namespaces.
    let mut namespaces: Vec<Value> = vec![json!({"type": "mount"})];
    namespaces.extend(ns_entry("network", &inp.net));
    namespaces.extend(ns_entry("pid", &inp.pid));
    namespaces.extend(ns_entry("ipc", &inp.ipc));
    namespaces.extend(ns_entry("uts", &inp.uts));
    let cgroupns_private = match h.cgroupns_mode.as_str() {
        "private" => true,
        "host" => false,
        _ => inp.cgroup_v2,
    };
    if cgroupns_private {
        namespaces.push(json!({"type": "cgroup"}));
    }

    let mut devices = Vec::new();
    let mut dev_rules = vec![json!({"allow": false, "access": "rwm"})];
    if h.privileged {
        dev_rules = vec![json!({"allow": true, "access": "rwm"})];
    }
    for d in &h.devices {
        let (dev, rule) = device_entry(
            &d.path_on_host,
            if d.path_in_container.is_empty() {
                &d.path_on_host
            } else {
                &d.path_in_container
            },
            if d.cgroup_permissions.is_empty() {
                "rwm"
            } else {
                &d.cgroup_permissions
            },
        )?;
        devices.push(dev);
        dev_rules.push(rule);
    }
    for r in h.device_cgroup_rules.iter().flatten() {
        dev_rules.push(crate::settings::device_cgroup_rule(r)?);
    }
    // The typed resources, as JSON for the rest of this (still untyped) spec.
    let mut res =
        serde_json::to_value(resources(h)?).map_err(|e| Error::Other(format!("resources: {e}")))?;
    res["devices"] = Value::Array(dev_rules);

    let mut linux = json!({
        "namespaces": namespaces,
        "resources": res,
        "cgroupsPath": cgroups_path(h, inp.id),
        "devices": devices,
    });
    if !h.privileged && !sec.unconfined_paths {
        let masked: Vec<String> = h
            .masked_paths
            .clone()
            .unwrap_or_else(|| MASKED_PATHS.iter().map(|s| s.to_string()).collect());
        let ro: Vec<String> = h
            .readonly_paths
            .clone()
            .unwrap_or_else(|| READONLY_PATHS.iter().map(|s| s.to_string()).collect());
        linux["maskedPaths"] = json!(masked);
        linux["readonlyPaths"] = json!(ro);
    }
    if let Some(s) = seccomp {
        linux["seccomp"] = s;
    }
    let mut sys = h.sysctls.clone().unwrap_or_default();
    // dockerd (>= 20.10): ICMP echo sockets for every group, so `ping` works without
    // CAP_NET_RAW, in any network namespace of the container's own (`--network none` too;
    // berth's bridge namespaces already have it). Not with the host's or another container's.
    let own_netns = h.network_mode != "host" && !h.network_mode.starts_with("container:");
    if own_netns && !sys.contains_key("net.ipv4.ping_group_range") {
        sys.insert("net.ipv4.ping_group_range".into(), "0 2147483647".into());
    }
    if !sys.is_empty() {
        linux["sysctl"] = json!(sys);
    }
    let mut spec = json!({
        "ociVersion": "1.0.2-dev",
        "process": process,
        "root": {"path": inp.rootfs, "readonly": h.readonly_rootfs},
        "mounts": mounts,
        "linux": linux,
    });
    if crate::procfs_serve::mode(h) == crate::procfs_serve::Mode::Container {
        spec["annotations"] = json!({ crate::procfs_serve::ANNOTATION: "container" });
    }
    if inp.uts != Ns::Host {
        spec["hostname"] = json!(c.hostname);
        if !c.domainname.is_empty() {
            spec["domainname"] = json!(c.domainname);
        }
    }
    Ok(spec)
}

/// The container's cgroupsPath: `<--cgroup-parent or /berth>/<id>`.
pub fn cgroups_path(h: &HostConfig, id: &str) -> String {
    let parent = if h.cgroup_parent.is_empty() {
        "/berth"
    } else {
        h.cgroup_parent.trim_end_matches('/')
    };
    format!("{parent}/{id}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Ulimit;

    fn input<'a>(c: &'a Config, h: &'a HostConfig, root: &'a Path) -> SpecInput<'a> {
        SpecInput {
            id: "abc",
            config: c,
            host: h,
            rootfs: root,
            container_dir: root,
            mounts: &[],
            net: Ns::Private,
            pid: Ns::Private,
            ipc: Ns::Private,
            uts: Ns::Private,
            shm: None,
            cgroup_v2: false,
            init_binary: None,
        }
    }

    #[test]
    fn docker_defaults() {
        let d = tempfile::tempdir().unwrap();
        let c = Config {
            cmd: Some(vec!["true".into()]),
            hostname: "abcdef012345".into(),
            ..Default::default()
        };
        let h = HostConfig::default();
        let s = build(&input(&c, &h, d.path())).unwrap();
        assert_eq!(
            s["process"]["capabilities"]["bounding"]
                .as_array()
                .unwrap()
                .len(),
            13
        );
        assert_eq!(s["process"]["env"][0], format!("PATH={DEFAULT_PATH}"));
        assert_eq!(s["process"]["env"][1], "HOSTNAME=abcdef012345");
        assert_eq!(s["hostname"], "abcdef012345");
        assert_eq!(s["linux"]["cgroupsPath"], "/berth/abc");
        assert!(s["linux"]["maskedPaths"]
            .as_array()
            .unwrap()
            .contains(&json!("/proc/kcore")));
        assert!(s["linux"]["seccomp"]["syscalls"].as_array().unwrap().len() > 5);
        let shm = s["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["destination"] == "/dev/shm")
            .unwrap();
        assert!(shm["options"]
            .as_array()
            .unwrap()
            .contains(&json!("size=67108864")));
        // cgroup v1 host: Docker keeps the host cgroupns.
        assert!(!s["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["type"] == "cgroup"));
    }

    #[test]
    fn caps_privileged_resources() {
        let h = HostConfig {
            cap_add: Some(vec!["NET_ADMIN".into()]),
            cap_drop: Some(vec!["chown".into(), "CAP_KILL".into()]),
            ..Default::default()
        };
        let caps = capabilities(&h).unwrap();
        assert!(caps.contains(&"CAP_NET_ADMIN".into()));
        assert!(!caps.contains(&"CAP_CHOWN".into()) && !caps.contains(&"CAP_KILL".into()));
        let h = HostConfig {
            cap_drop: Some(vec!["ALL".into()]),
            cap_add: Some(vec!["kill".into()]),
            ..Default::default()
        };
        assert_eq!(capabilities(&h).unwrap(), vec!["CAP_KILL".to_string()]);
        // No NET_RAW by default (beyond Docker, as Podman); --cap-add NET_RAW restores it.
        let def = capabilities(&HostConfig::default()).unwrap();
        assert_eq!(def.len(), 13);
        assert!(!def.contains(&"CAP_NET_RAW".into()));
        let h = HostConfig {
            cap_add: Some(vec!["NET_RAW".into()]),
            ..Default::default()
        };
        assert!(capabilities(&h).unwrap().contains(&"CAP_NET_RAW".into()));
        assert!(capabilities(&HostConfig {
            cap_add: Some(vec!["BOGUS".into()]),
            ..Default::default()
        })
        .is_err());
        let h = HostConfig {
            nano_cpus: 1_500_000_000,
            cpuset_cpus: "0,1".into(),
            memory: 64 << 20,
            pids_limit: Some(10),
            ulimits: Some(vec![Ulimit {
                name: "nofile".into(),
                soft: 10,
                hard: 20,
            }]),
            ..Default::default()
        };
        let r = serde_json::to_value(resources(&h).unwrap()).unwrap();
        assert_eq!(r["cpu"]["quota"], 150000);
        assert_eq!(r["cpu"]["period"], 100000);
        assert_eq!(r["memory"]["swap"], 128 << 20);
        assert_eq!(r["pids"]["limit"], 10);
        // Privileged: all caps, no masks, no seccomp.
        let d = tempfile::tempdir().unwrap();
        let c = Config {
            cmd: Some(vec!["sh".into()]),
            ..Default::default()
        };
        let h = HostConfig {
            privileged: true,
            ..Default::default()
        };
        let s = build(&input(&c, &h, d.path())).unwrap();
        assert!(s["linux"].get("seccomp").is_none());
        assert!(s["linux"].get("maskedPaths").is_none());
        assert!(
            s["process"]["capabilities"]["bounding"]
                .as_array()
                .unwrap()
                .len()
                > 38
        );
    }

    #[test]
    fn seccomp_conditions() {
        let prof: Value = serde_json::from_str(SECCOMP_DEFAULT).unwrap();
        let plain = seccomp_for(&prof, &DEFAULT_CAPS.map(String::from)).unwrap();
        let names = |v: &Value| -> Vec<String> {
            v["syscalls"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| r["action"] == "SCMP_ACT_ALLOW" && r.get("args").is_none())
                .flat_map(|r| {
                    r["names"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|n| n.as_str().unwrap().to_string())
                })
                .collect()
        };
        assert!(!names(&plain).contains(&"mount".to_string()));
        assert!(names(&plain).contains(&"chroot".to_string()));
        let admin = seccomp_for(&prof, &["CAP_SYS_ADMIN".to_string()]).unwrap();
        assert!(names(&admin).contains(&"mount".to_string()));
    }

    #[test]
    fn users_and_binds() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("etc")).unwrap();
        std::fs::write(
            d.path().join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\nbob:x:1000:1001::/home/bob:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            d.path().join("etc/group"),
            "root:x:0:\nbob:x:1001:\nwheel:x:10:bob\n",
        )
        .unwrap();
        assert_eq!(
            resolve_user(d.path(), "bob", &[]).unwrap(),
            (1000, 1001, vec![1001, 10])
        );
        assert_eq!(resolve_user(d.path(), "5:6", &[]).unwrap(), (5, 6, vec![6]));
        assert_eq!(
            resolve_user(d.path(), "bob:wheel", &[]).unwrap(),
            (1000, 10, vec![10])
        );
        assert!(resolve_user(d.path(), "nobody", &[]).is_err());
        assert_eq!(resolve_user(d.path(), "", &[]).unwrap(), (0, 0, vec![0]));
        assert_eq!(
            resolve_user(d.path(), "", &["10".into()]).unwrap(),
            (0, 0, vec![0, 10])
        );
        let (s, t, ro, _, named) = parse_bind("/a:/b:ro").unwrap();
        assert_eq!(
            (s.as_str(), t.as_str(), ro, named),
            ("/a", "/b", true, false)
        );
        assert!(parse_bind("vol:/data").unwrap().4);
        assert!(parse_bind("/a:rel").is_err());
        assert_eq!(parse_device("/dev/null:/dev/x:r").unwrap().2, "r");
    }
}
