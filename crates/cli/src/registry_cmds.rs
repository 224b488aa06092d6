//! Registry commands: pull, push, login, logout (engine operations; progress rendered by
//! progress.rs).
//!
//! Insecure (plain HTTP) registries come from the global `--insecure-registry` flags plus the
//! `"insecure-registries"` list of `/etc/berth/daemon.json` (Docker's daemon.json key), or of the
//! file named by `$BERTH_DAEMON_CONFIG`.

use crate::image_cmds::image_failure;
use crate::progress::Renderer;
use crate::{CmdResult, Failure, Global};
use clap::Args;
use engine::images::{LoginRequest, PullRequest, PushRequest, RegistrySettings};
use engine::Engine;
use std::io::{IsTerminal, Read};

/// Registry settings from the flags and the daemon.json file.
pub fn registry_options(g: &Global) -> RegistrySettings {
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
    RegistrySettings {
        insecure_registries: insecure,
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
    let e = crate::image_cmds::open_store(g)?;
    let req = PullRequest {
        reference: a.name,
        platform: a.platform,
        all_tags: a.all_tags,
        quiet: a.quiet,
        registry: registry_options(g),
    };
    let mut out = Renderer::new(std::io::stdout(), std::io::stdout().is_terminal(), a.quiet);
    e.pull(&req, &mut |ev| out.event(ev))
        .map_err(image_failure)?;
    Ok(())
}

/// Pulls `reference` for `run`/`create`, with progress on stderr (stdout is the container's).
pub fn pull_for_run(
    g: &Global,
    e: &Engine,
    reference: &str,
    platform: Option<String>,
) -> Result<String, Failure> {
    let req = PullRequest {
        reference: reference.to_string(),
        platform,
        registry: registry_options(g),
        ..Default::default()
    };
    let mut out = Renderer::new(std::io::stderr(), std::io::stderr().is_terminal(), false);
    let res = e
        .pull(&req, &mut |ev| out.event(ev))
        .map_err(|e| Failure::new(e.to_string(), 125))?;
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
    let e = crate::image_cmds::open_store(g)?;
    let req = PushRequest {
        reference: a.name,
        all_tags: a.all_tags,
        quiet: a.quiet,
        registry: registry_options(g),
    };
    let mut out = Renderer::new(std::io::stdout(), std::io::stdout().is_terminal(), a.quiet);
    e.push(&req, &mut |ev| out.event(ev))
        .map_err(image_failure)?;
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
    let req = LoginRequest {
        server: a.server,
        username,
        password,
        registry: registry_options(g),
    };
    // Docker's CLI: any login failure exits 1.
    let msg = engine::login(&req).map_err(|e| Failure::new(e.to_string(), 1))?;
    println!("{msg}");
    Ok(())
}

#[derive(Args)]
pub struct LogoutArgs {
    /// Registry server (default Docker Hub)
    pub server: Option<String>,
}

pub fn logout(g: &Global, a: LogoutArgs) -> CmdResult {
    let msg = engine::logout(a.server.as_deref(), &registry_options(g)).map_err(image_failure)?;
    println!("{msg}");
    Ok(())
}
