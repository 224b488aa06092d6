//! `berth-runtime`: a runc-compatible OCI runtime command line over the `runtime` crate, so that
//! dockerd/containerd (`--add-runtime berth=...`), podman and berth itself can drive it.

mod events;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use nix::sys::signal::Signal;
use oci_spec::runtime::{LinuxResources, Process};
use runtime::state::StateRoot;
use runtime::{Container, CreateOptions, ExecOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Parser)]
#[command(
    name = "berth-runtime",
    version,
    about = "berth's OCI runtime (runc-compatible)"
)]
struct Cli {
    /// Directory for container state.
    #[arg(long, global = true, default_value = "/run/berth-runtime")]
    root: PathBuf,
    /// Log file (errors are also printed on stderr).
    #[arg(long, global = true)]
    log: Option<PathBuf>,
    /// Log format: text or json.
    #[arg(long, global = true, default_value = "text")]
    log_format: String,
    #[arg(long, global = true)]
    debug: bool,
    /// Use systemd to manage cgroups (not supported by berth-runtime).
    #[arg(long, global = true)]
    systemd_cgroup: bool,
    /// Accepted for runc compatibility (ignored).
    #[arg(long, global = true, num_args = 0..=1, default_missing_value = "true")]
    rootless: Option<String>,
    /// Accepted for runc compatibility (ignored).
    #[arg(long, global = true)]
    criu: Option<String>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Args, Clone)]
struct CreateArgs {
    /// Path to the bundle (default: current directory).
    #[arg(long, short = 'b', default_value = ".")]
    bundle: PathBuf,
    #[arg(long)]
    pid_file: Option<PathBuf>,
    #[arg(long)]
    console_socket: Option<PathBuf>,
    /// Use chroot instead of pivot_root.
    #[arg(long)]
    no_pivot: bool,
    /// Accepted for runc compatibility: berth never creates a session keyring.
    #[arg(long)]
    no_new_keyring: bool,
    #[arg(long, default_value_t = 0)]
    preserve_fds: i32,
    id: String,
}

#[derive(Subcommand)]
enum Cmd {
    /// Create a container (its process waits for `start`).
    Create(CreateArgs),
    /// Start a created container.
    Start { id: String },
    /// Create and start a container, wait for it, and exit with its code.
    Run {
        #[command(flatten)]
        create: CreateArgs,
        /// Detach: return once the container runs.
        #[arg(long, short = 'd')]
        detach: bool,
        #[arg(long)]
        keep: bool,
    },
    /// Print the OCI state of a container.
    State { id: String },
    /// Send a signal (default SIGTERM) to the container.
    Kill {
        #[arg(long, short = 'a')]
        all: bool,
        id: String,
        signal: Option<String>,
    },
    /// Remove a container (and its cgroup).
    Delete {
        #[arg(long, short = 'f')]
        force: bool,
        id: String,
    },
    /// Run a process in a running container.
    Exec {
        #[arg(long, short = 'p')]
        process: Option<PathBuf>,
        #[arg(long, short = 't')]
        tty: bool,
        #[arg(long, short = 'd')]
        detach: bool,
        #[arg(long)]
        pid_file: Option<PathBuf>,
        #[arg(long)]
        console_socket: Option<PathBuf>,
        #[arg(long)]
        cwd: Option<PathBuf>,
        #[arg(long, short = 'e')]
        env: Vec<String>,
        /// uid[:gid]
        #[arg(long, short = 'u')]
        user: Option<String>,
        #[arg(long = "additional-gids", short = 'g')]
        additional_gids: Vec<u32>,
        #[arg(long = "cap", short = 'c')]
        caps: Vec<String>,
        #[arg(long)]
        no_new_privs: bool,
        /// Exec also into a paused container (the process runs once it is resumed).
        #[arg(long)]
        ignore_paused: bool,
        #[arg(long, default_value_t = 0)]
        preserve_fds: i32,
        #[arg(long)]
        process_label: Option<String>,
        #[arg(long)]
        apparmor: Option<String>,
        id: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// List the processes of a container.
    Ps {
        #[arg(long, short = 'f', default_value = "table")]
        format: String,
        id: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Freeze every process of the container.
    Pause { id: String },
    /// Thaw a paused container.
    Resume { id: String },
    /// Change the container's resource limits.
    Update(UpdateArgs),
    /// List containers.
    List {
        #[arg(long, short = 'f', default_value = "table")]
        format: String,
        #[arg(long, short = 'q')]
        quiet: bool,
    },
    /// Print resource usage in runc's event schema: one sample with --stats, else every
    /// --interval (and oom events) until the container stops.
    Events {
        #[arg(long)]
        stats: bool,
        #[arg(long, default_value = "5s")]
        interval: String,
        id: String,
    },
    /// Print the features this runtime supports (OCI features document).
    Features,
    /// Write a default config.json into the bundle.
    Spec {
        #[arg(long, short = 'b', default_value = ".")]
        bundle: PathBuf,
    },
}

#[derive(Args)]
struct UpdateArgs {
    /// JSON LinuxResources from a file or - for stdin.
    #[arg(long, short = 'r')]
    resources: Option<String>,
    #[arg(long)]
    memory: Option<String>,
    #[arg(long)]
    memory_swap: Option<String>,
    #[arg(long)]
    memory_reservation: Option<String>,
    #[arg(long)]
    kernel_memory: Option<String>,
    #[arg(long)]
    cpu_shares: Option<u64>,
    #[arg(long)]
    cpu_quota: Option<i64>,
    #[arg(long)]
    cpu_period: Option<u64>,
    #[arg(long)]
    cpu_rt_runtime: Option<i64>,
    #[arg(long)]
    cpu_rt_period: Option<u64>,
    #[arg(long)]
    cpuset_cpus: Option<String>,
    #[arg(long)]
    cpuset_mems: Option<String>,
    #[arg(long)]
    pids_limit: Option<i64>,
    #[arg(long)]
    blkio_weight: Option<u16>,
    id: String,
}

fn main() {
    let cli = Cli::parse();
    // CVE-2019-5736: nothing in a container may open /proc/<runtime pid>/exe while we join it.
    // SAFETY: prctl with constant arguments.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    let log = Logger {
        path: cli.log.clone(),
        json: cli.log_format == "json",
    };
    match real_main(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            let msg = format!("{e:#}");
            log.error(&msg);
            std::process::exit(1);
        }
    }
}

struct Logger {
    path: Option<PathBuf>,
    json: bool,
}

impl Logger {
    /// Errors go to stderr and, when --log is given, to that file (JSON lines with
    /// --log-format json, which containerd reads back to explain failures).
    fn error(&self, msg: &str) {
        // "error" in the line, as runc's `level=error`: callers (and the OCI conformance
        // suite) tell a refusal from a warning by it.
        eprintln!("berth-runtime: error: {msg}");
        let Some(p) = &self.path else { return };
        let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let line = if self.json {
            serde_json::json!({"level": "error", "msg": msg, "time": time}).to_string()
        } else {
            format!("time=\"{time}\" level=error msg={msg:?}")
        };
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
        {
            let _ = writeln!(f, "{line}");
        }
    }
}

/// `--debug` messages, on stderr as runc's `level=debug` lines.
fn debug(enabled: bool, msg: &str) {
    if enabled {
        eprintln!("berth-runtime: debug: {msg}");
    }
}

fn parse_signal(s: &str) -> Result<Signal> {
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| anyhow!("invalid signal {s}"));
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    name.parse::<Signal>()
        .map_err(|_| anyhow!("invalid signal {s}"))
}

fn create_opts(a: &CreateArgs) -> CreateOptions {
    CreateOptions {
        id: a.id.clone(),
        bundle: a.bundle.clone(),
        pid_file: a.pid_file.clone(),
        console_socket: a.console_socket.clone(),
        no_pivot: a.no_pivot,
        preserve_fds: a.preserve_fds,
        preloaded: None,
        die_with_parent: false,
        // The container's own /proc files need a server that lives as long as the container
        // (berth's monitor); berth-runtime exits after create and does not serve them.
        procfs_fd: None,
        procfs_sysinfo: None,
    }
}

fn real_main(cli: Cli) -> Result<i32> {
    if cli.systemd_cgroup {
        bail!("--systemd-cgroup is not supported by berth-runtime: use the cgroupfs driver");
    }
    let root = StateRoot::new(&cli.root);
    let cli_rootless = cli.rootless.as_deref().is_some_and(|v| v == "true");
    let cli_debug = cli.debug;
    match cli.cmd {
        Cmd::Create(a) => {
            Container::create(&root, &create_opts(&a))?;
        }
        Cmd::Start { id } => Container::load(&root, &id)?.start()?,
        Cmd::Run {
            create,
            detach,
            keep,
        } => {
            let c = Container::create_and_start(&root, &create_opts(&create))?;
            if detach {
                return Ok(0);
            }
            let code = runtime::container::wait_forwarding(c.pid())?;
            if !keep {
                Container::load(&root, &create.id)?.delete(true)?;
            }
            return Ok(code);
        }
        Cmd::State { id } => {
            let c = Container::load(&root, &id)?;
            println!("{}", serde_json::to_string_pretty(&c.oci_state())?);
        }
        Cmd::Kill { all, id, signal } => {
            let sig = parse_signal(signal.as_deref().unwrap_or("SIGTERM"))?;
            Container::load(&root, &id)?.kill(sig, all)?;
        }
        Cmd::Delete { force, id } => match Container::load(&root, &id) {
            Ok(c) => c.delete(force)?,
            // runc: deleting a missing container with --force is not an error.
            Err(runtime::Error::NotFound(_)) if force => {}
            Err(e) => return Err(e.into()),
        },
        Cmd::Exec {
            process,
            tty,
            detach,
            pid_file,
            console_socket,
            cwd,
            env,
            user,
            additional_gids,
            caps,
            no_new_privs,
            ignore_paused,
            preserve_fds,
            id,
            command,
            ..
        } => {
            let c = Container::load(&root, &id)?;
            let process = match process {
                Some(p) => {
                    let b = if p == Path::new("-") {
                        let mut v = Vec::new();
                        std::io::Read::read_to_end(&mut std::io::stdin(), &mut v)?;
                        v
                    } else {
                        std::fs::read(&p).with_context(|| format!("read {}", p.display()))?
                    };
                    serde_json::from_slice::<Process>(&b).context("parse process JSON")?
                }
                None => inline_process(
                    &c,
                    command,
                    tty,
                    cwd,
                    env,
                    user,
                    additional_gids,
                    caps,
                    no_new_privs,
                )?,
            };
            if let Some(initial) = process
                .exec_cpu_affinity()
                .as_ref()
                .and_then(|a| a.initial().as_deref())
            {
                let mask = runtime::process_attrs::cpu_mask_hex(initial)?;
                debug(cli_debug, &format!("exec: initial CPU affinity: 0x{mask}"));
            }
            let opts = ExecOptions {
                process,
                pid_file,
                console_socket,
                preserve_fds,
                stdio: None,
            };
            let pid = if ignore_paused {
                c.exec_ignoring_pause(&opts)?
            } else {
                c.exec(&opts)?
            };
            if detach {
                return Ok(0);
            }
            return Ok(runtime::container::wait_forwarding(pid)?);
        }
        Cmd::Ps {
            format,
            id,
            ps_args,
        } => {
            let pids = Container::load(&root, &id)?.pids()?;
            if format == "json" {
                println!("{}", serde_json::to_string(&pids)?);
            } else {
                // Like runc: run ps(1) and keep the rows of the container's processes.
                let args = if ps_args.is_empty() {
                    vec!["-ef".to_string()]
                } else {
                    ps_args
                };
                let out = std::process::Command::new("ps").args(&args).output()?;
                let text = String::from_utf8_lossy(&out.stdout);
                let mut lines = text.lines();
                let header = lines.next().unwrap_or_default();
                let col = header
                    .split_whitespace()
                    .position(|h| h == "PID")
                    .ok_or_else(|| anyhow!("ps output has no PID column"))?;
                println!("{header}");
                for l in lines {
                    if let Some(p) = l.split_whitespace().nth(col).and_then(|p| p.parse().ok()) {
                        if pids.contains(&p) {
                            println!("{l}");
                        }
                    }
                }
            }
        }
        Cmd::Pause { id } => Container::load(&root, &id)?.pause()?,
        Cmd::Resume { id } => Container::load(&root, &id)?.resume()?,
        Cmd::Update(u) => {
            let c = Container::load(&root, &u.id)?;
            c.update(&update_resources(&u)?)?;
        }
        Cmd::List { format, quiet } => {
            let mut rows = Vec::new();
            for id in root.list()? {
                if let Ok(c) = Container::load(&root, &id) {
                    rows.push(c.oci_state());
                }
            }
            if quiet {
                for r in &rows {
                    println!("{}", r["id"].as_str().unwrap_or_default());
                }
            } else if format == "json" {
                println!("{}", serde_json::to_string(&rows)?);
            } else {
                println!(
                    "{:<12} {:<10} {:<10} {:<40} {:<30} OWNER",
                    "ID", "PID", "STATUS", "BUNDLE", "CREATED"
                );
                for r in &rows {
                    println!(
                        "{:<12} {:<10} {:<10} {:<40} {:<30} {}",
                        r["id"].as_str().unwrap_or_default(),
                        r["pid"],
                        r["status"].as_str().unwrap_or_default(),
                        r["bundle"].as_str().unwrap_or_default(),
                        r["created"].as_str().unwrap_or_default(),
                        if r["owner"].as_str().unwrap_or_default().is_empty() {
                            "root"
                        } else {
                            r["owner"].as_str().unwrap()
                        }
                    );
                }
            }
        }
        Cmd::Events {
            id,
            stats,
            interval,
        } => {
            let interval = events::parse_interval(&interval)?;
            let c = Container::load(&root, &id)?;
            events::run(&c, stats, interval)?;
        }
        Cmd::Features => {
            println!(
                "{}",
                serde_json::to_string_pretty(&runtime::spec_default::features())?
            );
        }
        Cmd::Spec { bundle } => {
            let rootless = cli_rootless;
            let path = bundle.join("config.json");
            if path.exists() {
                bail!("File {} exists. Remove it first", path.display());
            }
            let spec = runtime::spec_default::default_spec(rootless);
            std::fs::write(&path, serde_json::to_vec_pretty(&spec)?)?;
        }
    }
    Ok(0)
}

#[allow(clippy::too_many_arguments)]
fn inline_process(
    c: &Container,
    command: Vec<String>,
    tty: bool,
    cwd: Option<PathBuf>,
    env: Vec<String>,
    user: Option<String>,
    additional_gids: Vec<u32>,
    caps: Vec<String>,
    no_new_privs: bool,
) -> Result<Process> {
    if command.is_empty() {
        bail!("exec: no command given");
    }
    // Start from the container's own process (env, user, capabilities, rlimits...).
    let spec = c.spec()?;
    let mut p = spec.process().clone().unwrap_or_default();
    p.set_args(Some(command)).set_terminal(Some(tty));
    if let Some(cwd) = cwd {
        p.set_cwd(cwd);
    }
    if !env.is_empty() {
        let mut e = p.env().clone().unwrap_or_default();
        for kv in env {
            let key = kv.split('=').next().unwrap_or_default().to_string();
            e.retain(|x| x.split('=').next() != Some(key.as_str()));
            e.push(kv);
        }
        p.set_env(Some(e));
    }
    if let Some(u) = user {
        let mut parts = u.splitn(2, ':');
        let uid: u32 = parts.next().unwrap_or("0").parse().context("--user uid")?;
        let gid: u32 = parts.next().unwrap_or("0").parse().context("--user gid")?;
        let mut usr = p.user().clone();
        usr.set_uid(uid).set_gid(gid);
        p.set_user(usr);
    }
    if !additional_gids.is_empty() {
        let mut usr = p.user().clone();
        usr.set_additional_gids(Some(additional_gids));
        p.set_user(usr);
    }
    if !caps.is_empty() {
        let mut set = p.capabilities().clone().unwrap_or_default();
        for name in caps {
            // runc's names ("CAP_KILL"); the bare "KILL" is accepted too.
            let upper = name.trim().to_ascii_uppercase();
            let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
            let cap: oci_spec::runtime::Capability = bare
                .parse()
                .map_err(|_| anyhow!("unknown capability {name}"))?;
            for s in [
                set.bounding().clone(),
                set.effective().clone(),
                set.permitted().clone(),
            ]
            .iter()
            .enumerate()
            {
                let mut v = s.1.clone().unwrap_or_default();
                v.insert(cap);
                match s.0 {
                    0 => set.set_bounding(Some(v)),
                    1 => set.set_effective(Some(v)),
                    _ => set.set_permitted(Some(v)),
                };
            }
        }
        p.set_capabilities(Some(set));
    }
    if no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    Ok(p)
}

/// Docker-style sizes ("64m", "1g", "-1") for `update` flags.
fn parse_bytes(s: &str) -> Result<i64> {
    let s = s.trim();
    if s == "-1" {
        return Ok(-1);
    }
    let lower = s.to_ascii_lowercase();
    let (num, mult) = match lower.trim_end_matches('b').chars().last() {
        Some('k') => (&lower[..lower.trim_end_matches('b').len() - 1], 1i64 << 10),
        Some('m') => (&lower[..lower.trim_end_matches('b').len() - 1], 1 << 20),
        Some('g') => (&lower[..lower.trim_end_matches('b').len() - 1], 1 << 30),
        _ => (lower.trim_end_matches('b'), 1),
    };
    Ok(num
        .parse::<i64>()
        .with_context(|| format!("invalid size {s}"))?
        * mult)
}

fn update_resources(u: &UpdateArgs) -> Result<LinuxResources> {
    let mut r: LinuxResources = match &u.resources {
        Some(src) => {
            let b = if src == "-" {
                let mut v = Vec::new();
                std::io::Read::read_to_end(&mut std::io::stdin(), &mut v)?;
                v
            } else {
                std::fs::read(src)?
            };
            serde_json::from_slice(&b).context("parse resources JSON")?
        }
        None => LinuxResources::default(),
    };
    let mut mem = r.memory().unwrap_or_default();
    let mut mem_set = false;
    if let Some(m) = &u.memory {
        mem.set_limit(Some(parse_bytes(m)?));
        mem_set = true;
    }
    if let Some(m) = &u.memory_swap {
        mem.set_swap(Some(parse_bytes(m)?));
        mem_set = true;
    }
    if let Some(m) = &u.memory_reservation {
        mem.set_reservation(Some(parse_bytes(m)?));
        mem_set = true;
    }
    if mem_set {
        r.set_memory(Some(mem));
    }
    let mut cpu = r.cpu().clone().unwrap_or_default();
    let mut cpu_set = false;
    macro_rules! cpu_field {
        ($f:expr, $set:ident) => {
            if let Some(v) = $f.clone() {
                cpu.$set(Some(v));
                cpu_set = true;
            }
        };
    }
    cpu_field!(u.cpu_shares, set_shares);
    cpu_field!(u.cpu_quota, set_quota);
    cpu_field!(u.cpu_period, set_period);
    cpu_field!(u.cpu_rt_runtime, set_realtime_runtime);
    cpu_field!(u.cpu_rt_period, set_realtime_period);
    cpu_field!(u.cpuset_cpus, set_cpus);
    cpu_field!(u.cpuset_mems, set_mems);
    if cpu_set {
        r.set_cpu(Some(cpu));
    }
    if let Some(p) = u.pids_limit {
        let mut pids = oci_spec::runtime::LinuxPids::default();
        pids.set_limit(p);
        r.set_pids(Some(pids));
    }
    if let Some(w) = u.blkio_weight {
        let mut b = r.block_io().clone().unwrap_or_default();
        b.set_weight(Some(w));
        r.set_block_io(Some(b));
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_parse_like_runc() {
        assert_eq!(parse_signal("9").unwrap(), Signal::SIGKILL);
        assert_eq!(parse_signal("KILL").unwrap(), Signal::SIGKILL);
        assert_eq!(parse_signal("SIGTERM").unwrap(), Signal::SIGTERM);
        assert_eq!(parse_signal("sigusr1").unwrap(), Signal::SIGUSR1);
        assert!(parse_signal("NOPE").is_err());
    }

    #[test]
    fn sizes_parse_like_docker() {
        assert_eq!(parse_bytes("64m").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("1g").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("512").unwrap(), 512);
        assert_eq!(parse_bytes("-1").unwrap(), -1);
        assert!(parse_bytes("x").is_err());
    }
}
