//! Registry commands: pull, push, login, logout (over the `registry` crate).
//!
//! Insecure (plain HTTP) registries come from the global `--insecure-registry` flags plus the
//! `"insecure-registries"` list of `/etc/berth/daemon.json` (Docker's daemon.json key), or of the
//! file named by `$BERTH_DAEMON_CONFIG`.

use crate::{CmdResult, Failure, Global};
use clap::Args;
use std::io::{IsTerminal, Read};

impl From<registry::Error> for Failure {
    fn from(e: registry::Error) -> Failure {
        let code = match e {
            registry::Error::Storage(_) | registry::Error::Io { .. } => 125,
            _ => 1,
        };
        Failure::new(e.to_string(), code)
    }
}

/// Registry settings from the flags and the daemon.json file.
pub fn registry_options(g: &Global) -> registry::RegistryOptions {
    let mut insecure = g.insecure_registry.clone();
    let path = std::env::var("BERTH_DAEMON_CONFIG")
        .unwrap_or_else(|_| "/etc/berth/daemon.json".to_string());
    if let Ok(b) = std::fs::read(&path) {
        match serde_json::from_slice::<serde_json::Value>(&b) {
            Ok(v) => {
                if let Some(list) = v["insecure-registries"].as_array() {
                    insecure.extend(list.iter().filter_map(|x| x.as_str().map(String::from)));
                }
            }
            Err(e) => eprintln!("WARNING: ignoring {path}: {e}"),
        }
    }
    registry::RegistryOptions {
        insecure_registries: insecure,
        docker_config: None,
    }
}

#[derive(Args)]
pub struct PullArgs {
    /// Download all tagged images in the repository
    #[arg(short = 'a', long = "all-tags")]
    pub all_tags: bool,
    /// Suppress verbose output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Set platform if server is multi-platform capable (os/arch[/variant])
    #[arg(long)]
    pub platform: Option<String>,
    /// Skip image verification (accepted for compatibility; digests are always verified)
    #[arg(long = "disable-content-trust", default_value_t = true)]
    pub disable_content_trust: bool,
    /// NAME[:TAG|@DIGEST]
    pub name: String,
}

pub fn pull(g: &Global, a: PullArgs) -> CmdResult {
    let store = crate::image_cmds::open_store(g)?;
    let opts = registry::PullOptions {
        reference: a.name,
        platform: a.platform,
        all_tags: a.all_tags,
        registry: registry_options(g),
        max_concurrent_downloads: 0,
    };
    registry::pull(&store, &opts, &registry::Progress::stdout(a.quiet))?;
    Ok(())
}

/// Pulls `reference` for `run`/`create`, with progress on stderr (stdout is the container's).
pub fn pull_for_run(
    g: &Global,
    store: &image::ImageStore,
    reference: &str,
    platform: Option<String>,
) -> Result<String, Failure> {
    let opts = registry::PullOptions {
        reference: reference.to_string(),
        platform,
        all_tags: false,
        registry: registry_options(g),
        max_concurrent_downloads: 0,
    };
    let tty = std::io::stderr().is_terminal();
    let progress = registry::Progress::new(Box::new(std::io::stderr()), tty, false);
    let res =
        registry::pull(store, &opts, &progress).map_err(|e| Failure::new(e.to_string(), 125))?;
    Ok(res.first().map(|r| r.image_id.clone()).unwrap_or_default())
}

#[derive(Args)]
pub struct PushArgs {
    /// Push all tagged images in the repository (not supported yet)
    #[arg(short = 'a', long = "all-tags")]
    pub all_tags: bool,
    /// Suppress verbose output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Skip image signing (accepted for compatibility)
    #[arg(long = "disable-content-trust", default_value_t = true)]
    pub disable_content_trust: bool,
    /// NAME[:TAG]
    pub name: String,
}

pub fn push(g: &Global, a: PushArgs) -> CmdResult {
    let store = crate::image_cmds::open_store(g)?;
    let mut refs = vec![a.name.clone()];
    if a.all_tags {
        let r = image::Reference::parse_normalized(&a.name)?;
        if r.tag.is_some() || r.digest.is_some() {
            return Err(Failure::new("tag can't be used with --all-tags/-a", 1));
        }
        let name = r.familiar_name();
        refs = store
            .images()?
            .iter()
            .flat_map(|img| img.tags.iter())
            .filter(|t| t.familiar_name() == name)
            .map(|t| t.familiar_string())
            .collect();
        refs.sort();
        if refs.is_empty() {
            return Err(Failure::new(
                format!("An image does not exist locally with the tag: {name}"),
                1,
            ));
        }
    }
    let progress = registry::Progress::stdout(a.quiet);
    for reference in refs {
        let opts = registry::PushOptions {
            reference,
            registry: registry_options(g),
            max_concurrent_uploads: 0,
            chunk_size: 0,
        };
        registry::push(&store, &opts, &progress)?;
    }
    Ok(())
}

#[derive(Args)]
pub struct LoginArgs {
    /// Username
    #[arg(short = 'u', long)]
    pub username: Option<String>,
    /// Password
    #[arg(short = 'p', long)]
    pub password: Option<String>,
    /// Take the password from stdin
    #[arg(long = "password-stdin")]
    pub password_stdin: bool,
    /// Registry server (default Docker Hub)
    pub server: Option<String>,
}

fn prompt(label: &str, secret: bool) -> Result<String, Failure> {
    use std::io::Write;
    if !std::io::stdin().is_terminal() {
        return Err(Failure::new(
            "Cannot perform an interactive login from a non TTY device",
            1,
        ));
    }
    eprint!("{label}: ");
    std::io::stderr().flush()?;
    let echo_guard = secret
        .then(crate::container_cmds::TermGuard::no_echo)
        .flatten();
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    drop(echo_guard);
    if secret {
        eprintln!();
    }
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

pub fn login(g: &Global, a: LoginArgs) -> CmdResult {
    if a.password.is_some() && a.password_stdin {
        return Err(Failure::new(
            "--password and --password-stdin are mutually exclusive",
            1,
        ));
    }
    let mut password = a.password.clone().unwrap_or_default();
    if a.password_stdin {
        if a.username.is_none() {
            return Err(Failure::new(
                "Must provide --username with --password-stdin",
                1,
            ));
        }
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        password = s.trim_end_matches(['\n', '\r']).to_string();
    } else if a.password.is_some() {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
    }
    let username = match a.username {
        Some(u) => u,
        None => prompt("Username", false)?,
    };
    if password.is_empty() {
        password = prompt("Password", true)?;
    }
    let opts = registry::LoginOptions {
        server: a.server,
        username,
        password,
        registry: registry_options(g),
    };
    let msg = registry::login(&opts).map_err(|e| {
        let m = e.to_string();
        Failure::new(m.strip_prefix("Error: ").unwrap_or(&m).to_string(), 1)
    })?;
    println!("{msg}");
    Ok(())
}

#[derive(Args)]
pub struct LogoutArgs {
    /// Registry server (default Docker Hub)
    pub server: Option<String>,
}

pub fn logout(g: &Global, a: LogoutArgs) -> CmdResult {
    let msg = registry::logout(a.server.as_deref(), &registry_options(g))?;
    println!("{msg}");
    Ok(())
}
