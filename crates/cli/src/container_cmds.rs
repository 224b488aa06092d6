//! Container commands (`run`, `create`, `start`, `ps`, `exec`, `logs`, ...), wired to the engine.
//!
//! Exit codes as Docker's CLI: `run`/`create` exit 125 when the engine fails, 126/127 when the
//! command can't be invoked / isn't found, else the container's code; other commands exit 1 on
//! errors.

use crate::detach_keys;
use crate::format::{format_rows, Template};
use crate::human::{human_duration, human_size, human_size_prec};
use crate::run_opts::{self, CreateFlags};
use crate::{CmdResult, Failure, Global};
use clap::{Args, Subcommand};
use engine::{Engine, EngineOptions};
use serde_json::{json, Value};
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

impl From<engine::Error> for Failure {
    fn from(e: engine::Error) -> Failure {
        Failure::new(e.to_string(), 1)
    }
}

/// An engine error at run/create/start/exec: Docker's 125/126/127.
fn run_failure(e: engine::Error) -> Failure {
    let code = e.exit_code();
    Failure::new(e.to_string(), code)
}

pub fn open_engine(g: &Global) -> Result<Engine, Failure> {
    Engine::open(EngineOptions {
        root: g.root.clone(),
        runroot: g.runroot.clone(),
        storage_driver: g.storage_driver.clone(),
    })
    .map_err(|e| Failure::new(e.to_string(), 125))
}

/// Commands that exist both at the top level and under `berth container`.
#[derive(Subcommand)]
#[command(defer = true)]
pub enum ContainerCmd {
    /// Create and run a new container from an image
    #[command(disable_help_flag = true)]
    Run(RunArgs),
    /// Create a new container
    #[command(disable_help_flag = true)]
    Create(CreateArgs),
    /// Start one or more stopped containers
    Start(StartArgs),
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Kill one or more running containers
    Kill(KillArgs),
    /// Restart one or more containers
    Restart(StopArgs),
    /// Remove one or more containers
    Rm(RmArgs),
    /// Fetch the logs of a container
    Logs(LogsArgs),
    /// Run a command in a running container
    Exec(ExecArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(AttachArgs),
    /// Display the running processes of a container
    Top(TopArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(StatsArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(NamesArgs),
    /// Pause all processes within one or more containers
    Pause(NamesArgs),
    /// Unpause all processes within one or more containers
    Unpause(NamesArgs),
    /// Rename a container
    Rename(RenameArgs),
    /// Update configuration of one or more containers
    Update(UpdateArgs),
    /// List port mappings or a specific mapping for the container
    Port(PortArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(DiffArgs),
    /// Create a new image from a container's changes
    Commit(CommitArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(CpArgs),
    /// Export a container's filesystem as a tar archive
    Export(ExportArgs),
}

pub fn dispatch(g: &Global, c: ContainerCmd) -> CmdResult {
    match c {
        ContainerCmd::Run(a) => run(g, a),
        ContainerCmd::Create(a) => create(g, a),
        ContainerCmd::Start(a) => start(g, a),
        ContainerCmd::Stop(a) => stop(g, a, false),
        ContainerCmd::Restart(a) => stop(g, a, true),
        ContainerCmd::Kill(a) => kill(g, a),
        ContainerCmd::Rm(a) => rm(g, a),
        ContainerCmd::Logs(a) => logs(g, a),
        ContainerCmd::Exec(a) => exec(g, a),
        ContainerCmd::Attach(a) => attach(g, a),
        ContainerCmd::Top(a) => top(g, a),
        ContainerCmd::Stats(a) => stats(g, a),
        ContainerCmd::Wait(a) => wait(g, a),
        ContainerCmd::Pause(a) => each(g, &a.containers, |e, id| e.pause(id)),
        ContainerCmd::Unpause(a) => each(g, &a.containers, |e, id| e.unpause(id)),
        ContainerCmd::Rename(a) => rename(g, a),
        ContainerCmd::Update(a) => update(g, a),
        ContainerCmd::Port(a) => port(g, a),
        ContainerCmd::Diff(a) => diff(g, a),
        ContainerCmd::Commit(a) => commit(g, a),
        ContainerCmd::Cp(a) => cp(g, a),
        ContainerCmd::Export(a) => export(g, a),
    }
}

/// Runs `f` on each named container, printing the name on success (Docker's style); the
/// errors are printed as they come and the command fails at the end.
fn each(
    g: &Global,
    names: &[String],
    mut f: impl FnMut(&Engine, &str) -> engine::Result<()>,
) -> CmdResult {
    let e = open_engine(g)?;
    let mut errors = Vec::new();
    for n in names {
        match e.resolve(n).and_then(|id| f(&e, &id)) {
            Ok(()) => println!("{n}"),
            Err(err) => errors.push(err.to_string()),
        }
    }
    finish(errors)
}

fn finish(mut errors: Vec<String>) -> CmdResult {
    let Some(last) = errors.pop() else {
        return Ok(());
    };
    for e in errors {
        eprintln!("Error: {e}");
    }
    Err(Failure::new(last, 1))
}

#[derive(Args)]
pub struct NamesArgs {
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

// ------------------------------------------------------------------------------------------
// terminal and signals

/// Restores the terminal's settings on drop.
pub struct TermGuard {
    saved: libc::termios,
}

impl TermGuard {
    fn modify(f: impl FnOnce(&mut libc::termios)) -> Option<TermGuard> {
        // SAFETY: tcgetattr fills the zeroed termios for fd 0; failure is checked.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: see above.
        if unsafe { libc::tcgetattr(0, &mut t) } != 0 {
            return None;
        }
        let saved = t;
        f(&mut t);
        // SAFETY: t is a valid termios from tcgetattr.
        if unsafe { libc::tcsetattr(0, libc::TCSANOW, &t) } != 0 {
            return None;
        }
        Some(TermGuard { saved })
    }
    /// Raw mode for `-t` sessions: keys go to the container unprocessed.
    pub fn raw() -> Option<TermGuard> {
        // SAFETY: cfmakeraw only edits the struct.
        Self::modify(|t| unsafe { libc::cfmakeraw(t) })
    }
    /// No echo (password prompts).
    pub fn no_echo() -> Option<TermGuard> {
        Self::modify(|t| t.c_lflag &= !libc::ECHO)
    }
}

impl Drop for TermGuard {
    fn drop(&mut self) {
        // SAFETY: restores the settings read in `modify`.
        unsafe { libc::tcsetattr(0, libc::TCSANOW, &self.saved) };
    }
}

fn window_size() -> Option<(u16, u16)> {
    engine::pty_relay::our_window_size()
}

static SIG_PIPE_W: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

extern "C" fn on_signal(sig: libc::c_int) {
    let fd = SIG_PIPE_W.load(std::sync::atomic::Ordering::Relaxed);
    if fd >= 0 {
        let b = sig as u8;
        // SAFETY: write(2) is async-signal-safe; the buffer is one byte on the stack.
        unsafe { libc::write(fd, &b as *const u8 as *const libc::c_void, 1) };
    }
}

/// `--sig-proxy`: the signals the CLI receives are sent to the container (Docker's set minus
/// the ones that concern the CLI's own terminal). A handler (not a blocked mask) is used so
/// nothing leaks into processes the engine starts: handlers reset to default on exec.
fn proxy_signals(g: &Global, id: &str) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills the two-element array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return;
    }
    SIG_PIPE_W.store(fds[1], std::sync::atomic::Ordering::Relaxed);
    for sig in [
        libc::SIGINT,
        libc::SIGTERM,
        libc::SIGHUP,
        libc::SIGQUIT,
        libc::SIGUSR1,
        libc::SIGUSR2,
    ] {
        // SAFETY: installs an async-signal-safe handler (it only writes to a pipe).
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
    let (g, id, rfd) = (g.clone(), id.to_string(), fds[0]);
    std::thread::spawn(move || {
        // Opened at the first signal: most runs never get one.
        let mut engine = None;
        loop {
            let mut b = 0u8;
            // SAFETY: reads one byte into a stack variable from our own pipe.
            let n = unsafe { libc::read(rfd, &mut b as *mut u8 as *mut libc::c_void, 1) };
            if n == 1 {
                if engine.is_none() {
                    engine = open_engine(&g).ok();
                }
                let Some(e) = &engine else { return };
                let _ = e.kill(&id, &b.to_string());
            } else if n < 0
                && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
            {
                continue;
            } else {
                return;
            }
        }
    });
}

// ------------------------------------------------------------------------------------------
// run / create / start / attach

#[derive(Args)]
pub struct CreateArgs {
    #[command(flatten)]
    pub flags: CreateFlags,
}

#[derive(Args)]
pub struct RunArgs {
    /// Run container in background and print container ID
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Proxy received signals to the process
    #[arg(long = "sig-proxy", default_value_t = true, action = clap::ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub sig_proxy: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    #[command(flatten)]
    pub flags: CreateFlags,
}

/// Makes sure the image is present, pulling it like Docker when missing (or `--pull always`).
fn ensure_image(g: &Global, e: &Engine, f: &CreateFlags) -> Result<(), Failure> {
    let name = &f.args[0];
    // The engine's store: opened once per command.
    let store = e
        .images()
        .map_err(|err| Failure::new(err.to_string(), 125))?;
    let have = match store.resolve(name) {
        Ok(_) => true,
        Err(image::Error::NotFound(_)) => false,
        Err(err) => return Err(Failure::new(err.to_string(), 125)),
    };
    if have && f.pull != "always" {
        return Ok(());
    }
    // Image IDs can't be pulled: Docker says "No such image" for a missing one.
    if !have && (f.pull == "never" || name.starts_with("sha256:")) {
        return Err(Failure::new(format!("No such image: {name}"), 125));
    }
    let familiar = image::Reference::parse(name)
        .map(|r| r.familiar_string())
        .map_err(|err| Failure::new(err.to_string(), 125))?;
    if !have {
        eprintln!("Unable to find image '{familiar}' locally");
    }
    crate::registry_cmds::pull_for_run(g, store, name, f.platform.clone())?;
    Ok(())
}

/// What `run` needs after create: the streams to attach and whether there is a tty.
struct Created {
    id: String,
    attach: engine::AttachOptions,
    tty: bool,
}

/// Parses the flags, pulls the image if needed and creates the container.
fn create_container(
    g: &Global,
    e: &Engine,
    f: &CreateFlags,
    detach: bool,
    start_soon: bool,
) -> Result<Created, Failure> {
    let p = run_opts::to_config(f, detach).map_err(|m| Failure::new(m, 125))?;
    let attach = engine::AttachOptions {
        stdin: p.config.attach_stdin,
        stdout: p.config.attach_stdout,
        stderr: p.config.attach_stderr,
    };
    let tty = p.config.tty;
    if !f.cidfile.is_empty() && Path::new(&f.cidfile).exists() {
        return Err(Failure::new(
            format!(
                "Container ID file found, make sure the other container isn't running or delete {}",
                f.cidfile
            ),
            125,
        ));
    }
    ensure_image(g, e, f)?;
    let req = engine::CreateRequest {
        name: p.name,
        config: p.config,
        host_config: p.host,
        networking: p.net,
    };
    let resp = if start_soon {
        e.create_to_start(req)
    } else {
        e.create(req)
    }
    .map_err(run_failure)?;
    for w in &resp.warnings {
        eprintln!("WARNING: {w}");
    }
    if !f.cidfile.is_empty() {
        std::fs::write(&f.cidfile, &resp.id).map_err(|err| {
            Failure::new(
                format!("failed to write the container ID to the file: {err}"),
                125,
            )
        })?;
    }
    Ok(Created {
        id: resp.id,
        attach,
        tty,
    })
}

pub fn create(g: &Global, a: CreateArgs) -> CmdResult {
    let e = open_engine(g)?;
    let c = create_container(g, &e, &a.flags, true, false)?;
    println!("{}", c.id);
    Ok(())
}

/// The exit code of a finished attach (or of the container, asked after the stream ended).
fn exit_of(
    e: &Engine,
    id: &str,
    res: engine::Result<Option<engine::WaitResult>>,
) -> Result<i32, Failure> {
    let w = match res.map_err(run_failure)? {
        Some(w) => w,
        None => e
            .wait(id, engine::WaitCondition::NotRunning)
            .map_err(|err| Failure::new(err.to_string(), 125))?,
    };
    if let Some(msg) = &w.error {
        return Err(Failure::new(msg.clone(), w.status_code as i32));
    }
    Ok(w.status_code as i32)
}

/// Pumps an attachment with our stdio; tty raw mode and window size when `-t` on a terminal,
/// and `keys` detach (with a tty and stdin, as Docker). The terminal is restored on return.
fn pump(att: engine::Attachment, stdin: bool, keys: &[u8]) -> engine::Result<engine::Pumped> {
    let tty = att.tty();
    let _raw = (tty && stdin && std::io::stdin().is_terminal())
        .then(TermGuard::raw)
        .flatten();
    if tty {
        if let Some((r, c)) = window_size() {
            let _ = att.resize(r, c);
        }
    }
    let input: Option<Box<dyn Read + Send>> = stdin.then(|| Box::new(std::io::stdin()) as _);
    let mut out = std::io::stdout();
    let mut err = std::io::stderr();
    att.pump_detachable(input, &mut out, &mut err, keys)
}

/// The exit code of a pumped session; None when the user detached.
fn exit_of_pumped(
    e: &Engine,
    id: &str,
    res: engine::Result<engine::Pumped>,
) -> Result<Option<i32>, Failure> {
    match res {
        Ok(engine::Pumped::Detached) => Ok(None),
        Ok(engine::Pumped::Ended(w)) => exit_of(e, id, Ok(w)).map(Some),
        Err(err) => exit_of(e, id, Err(err)).map(Some),
    }
}

/// Docker refuses `-it` when stdin is not a terminal (a pipe would be echoed by the pty).
fn check_tty(tty: bool, interactive: bool) -> CmdResult {
    if tty && interactive && !std::io::stdin().is_terminal() {
        return Err(Failure::new("the input device is not a TTY", 1));
    }
    Ok(())
}

pub fn run(g: &Global, a: RunArgs) -> CmdResult {
    let keys = if a.detach {
        Vec::new()
    } else {
        check_tty(a.flags.tty, a.flags.interactive)?;
        detach_keys::resolve(a.detach_keys.as_deref(), detach_keys::For::Attach, 125)?
    };
    let e = open_engine(g)?;
    engine::timing::mark("cli:create");
    let created = create_container(g, &e, &a.flags, a.detach, true)?;
    engine::timing::mark("cli:created");
    let id = created.id;
    let auto_remove = a.flags.rm;
    let cleanup = |e: &Engine| {
        if auto_remove {
            let _ = e.remove(
                &id,
                &engine::RemoveOptions {
                    force: true,
                    volumes: true,
                },
            );
        }
    };
    if a.detach {
        if let Err(err) = e.start(&id) {
            cleanup(&e);
            return Err(run_failure(err));
        }
        println!("{id}");
        return Ok(());
    }
    let opts = created.attach;
    let att = match e.start_attached(&id, &opts) {
        Ok(att) => att,
        Err(err) => {
            cleanup(&e);
            return Err(run_failure(err));
        }
    };
    engine::timing::mark("cli:started");
    if a.sig_proxy && !created.tty {
        proxy_signals(g, &id);
    }
    // Detached: the container runs on; Docker's `run` says nothing and exits 0.
    let Some(code) = exit_of_pumped(&e, &id, pump(att, opts.stdin, &keys))? else {
        return Ok(());
    };
    engine::timing::mark("cli:exit");
    std::io::stdout().flush()?;
    if code != 0 {
        return Err(Failure::new("", code));
    }
    Ok(())
}

#[derive(Args)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short = 'a', long)]
    pub attach: bool,
    /// Attach container's STDIN
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

pub fn start(g: &Global, a: StartArgs) -> CmdResult {
    if !(a.attach || a.interactive) {
        return each(g, &a.containers, |e, id| e.start(id));
    }
    if a.containers.len() > 1 {
        return Err(Failure::new(
            "you cannot start and attach multiple containers at once",
            1,
        ));
    }
    let keys = detach_keys::resolve(a.detach_keys.as_deref(), detach_keys::For::Attach, 1)?;
    let e = open_engine(g)?;
    let id = e.resolve(&a.containers[0])?;
    let opts = engine::AttachOptions {
        stdin: a.interactive,
        stdout: true,
        stderr: true,
    };
    let att = e.start_attached(&id, &opts).map_err(run_failure)?;
    if !att.tty() {
        proxy_signals(g, &id);
    }
    // Detached: as `run`, silent and 0.
    let Some(code) = exit_of_pumped(&e, &id, pump(att, a.interactive, &keys))? else {
        return Ok(());
    };
    if code != 0 {
        return Err(Failure::new("", code));
    }
    Ok(())
}

#[derive(Args)]
pub struct AttachArgs {
    /// Do not attach STDIN
    #[arg(long = "no-stdin")]
    pub no_stdin: bool,
    /// Proxy all received signals to the process
    #[arg(long = "sig-proxy", default_value_t = true, action = clap::ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub sig_proxy: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    pub container: String,
}

pub fn attach(g: &Global, a: AttachArgs) -> CmdResult {
    let keys = detach_keys::resolve(a.detach_keys.as_deref(), detach_keys::For::Attach, 1)?;
    let e = open_engine(g)?;
    let id = e.resolve(&a.container)?;
    let info = e.inspect(&id)?;
    if !info.state.running {
        return Err(Failure::new(
            "You cannot attach to a stopped container, start it first",
            1,
        ));
    }
    let stdin = !a.no_stdin && info.config.open_stdin;
    let att = e.attach(
        &id,
        &engine::AttachOptions {
            stdin,
            stdout: true,
            stderr: true,
        },
    )?;
    if a.sig_proxy && !att.tty() {
        proxy_signals(g, &id);
    }
    let Some(code) = exit_of_pumped(&e, &id, pump(att, stdin, &keys))? else {
        // Docker's CLI: the message on stderr, exit 1.
        eprintln!("read escape sequence");
        return Err(Failure::new("", 1));
    };
    if code != 0 {
        return Err(Failure::new("", code));
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------
// stop / kill / rm / wait / rename / update

#[derive(Args)]
pub struct StopArgs {
    /// Signal to send to the container
    #[arg(short = 's', long = "signal")]
    pub signal: Option<String>,
    /// Seconds to wait for stop before killing it
    #[arg(short = 't', long = "time", alias = "timeout")]
    pub time: Option<i64>,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

fn stop(g: &Global, a: StopArgs, restart: bool) -> CmdResult {
    each(g, &a.containers, |e, id| {
        if restart {
            e.restart_with(id, a.time, a.signal.as_deref())
        } else {
            e.stop_with(id, a.time, a.signal.as_deref())
        }
    })
}

#[derive(Args)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short = 's', long, default_value = "KILL")]
    pub signal: String,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

fn kill(g: &Global, a: KillArgs) -> CmdResult {
    each(g, &a.containers, |e, id| e.kill(id, &a.signal))
}

#[derive(Args)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short = 'v', long)]
    pub volumes: bool,
    /// Remove the specified link
    #[arg(short = 'l', long)]
    pub link: bool,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

fn rm(g: &Global, a: RmArgs) -> CmdResult {
    let opts = engine::RemoveOptions {
        force: a.force,
        volumes: a.volumes,
    };
    each(g, &a.containers, |e, id| e.remove(id, &opts))
}

fn wait(g: &Global, a: NamesArgs) -> CmdResult {
    let e = open_engine(g)?;
    let mut errors = Vec::new();
    for n in &a.containers {
        match e
            .resolve(n)
            .and_then(|id| e.wait(&id, engine::WaitCondition::NotRunning))
        {
            Ok(w) => println!("{}", w.status_code),
            Err(err) => errors.push(err.to_string()),
        }
    }
    finish(errors)
}

#[derive(Args)]
pub struct RenameArgs {
    pub container: String,
    pub new_name: String,
}

fn rename(g: &Global, a: RenameArgs) -> CmdResult {
    let e = open_engine(g)?;
    let id = e.resolve(&a.container)?;
    e.rename(&id, &a.new_name)?;
    Ok(())
}

#[derive(Args)]
pub struct UpdateArgs {
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    /// Limit CPU CFS period
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<i64>,
    /// Limit CPU CFS quota
    #[arg(long = "cpu-quota", allow_negative_numbers = true)]
    pub cpu_quota: Option<i64>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<i64>,
    /// Number of CPUs
    #[arg(long)]
    pub cpus: Option<String>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Memory limit
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation")]
    pub memory_reservation: Option<String>,
    /// Swap limit equal to memory plus swap: '-1' to enable unlimited swap
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", allow_negative_numbers = true)]
    pub pids_limit: Option<i64>,
    /// Restart policy to apply when a container exits
    #[arg(long)]
    pub restart: Option<String>,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

fn update(g: &Global, a: UpdateArgs) -> CmdResult {
    let bad = |m: String| Failure::new(m, 1);
    let mem = |v: &Option<String>, flag: &str| -> Result<Option<i64>, Failure> {
        v.as_deref()
            .map(|s| {
                run_opts::ram_in_bytes(s)
                    .map_err(|e| bad(format!("invalid argument \"{s}\" for \"{flag}\" flag: {e}")))
            })
            .transpose()
    };
    let cfg = engine::UpdateConfig {
        cpu_shares: a.cpu_shares,
        nano_cpus: a
            .cpus
            .as_deref()
            .map(run_opts::parse_cpus)
            .transpose()
            .map_err(bad)?,
        cpu_period: a.cpu_period,
        cpu_quota: a.cpu_quota,
        cpuset_cpus: a.cpuset_cpus.clone(),
        cpuset_mems: a.cpuset_mems.clone(),
        memory: mem(&a.memory, "-m, --memory")?,
        memory_swap: match a.memory_swap.as_deref() {
            Some("-1") => Some(-1),
            _ => mem(&a.memory_swap, "--memory-swap")?,
        },
        memory_reservation: mem(&a.memory_reservation, "--memory-reservation")?,
        pids_limit: a.pids_limit,
        blkio_weight: a.blkio_weight,
        restart_policy: a
            .restart
            .as_deref()
            .map(run_opts::parse_restart)
            .transpose()
            .map_err(bad)?,
    };
    if cfg.nano_cpus.is_some() && (cfg.cpu_quota.is_some() || cfg.cpu_period.is_some()) {
        return Err(bad(
            "Conflicting options: Nano CPUs cannot be updated together with CPU Period or CPU Quota"
                .into(),
        ));
    }
    each(g, &a.containers, |e, id| {
        for w in e.update(id, &cfg)? {
            eprintln!("WARNING: {w}");
        }
        Ok(())
    })
}

// ------------------------------------------------------------------------------------------
// ps

#[derive(Args)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Pretty-print containers using a Go template
    #[arg(long)]
    pub format: Option<String>,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long = "last", default_value_t = -1, allow_negative_numbers = true)]
    pub last: i64,
    /// Show the latest created container (includes all states)
    #[arg(short = 'l', long)]
    pub latest: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only display container IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Display total file sizes
    #[arg(short = 's', long)]
    pub size: bool,
}

pub fn parse_filters(v: &[String]) -> Result<Vec<(String, String)>, Failure> {
    v.iter()
        .map(|f| {
            f.split_once('=')
                .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.to_string()))
                .ok_or_else(|| {
                    Failure::new(
                        format!("bad format of filter (expected name=value): {f}"),
                        1,
                    )
                })
        })
        .collect()
}

/// Docker's `Ellipsis`: at most `max` characters, the last one "…" when cut.
pub fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Go's `strconv.Quote` for printable text (escapes quotes, backslashes and controls).
pub fn go_quote(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\t' => o.push_str("\\t"),
            '\r' => o.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                o.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// Docker's `DisplayablePorts`: "0.0.0.0:8080->80/tcp, 443/tcp", consecutive ports merged.
pub fn display_ports(ports: &[engine::PortSummary]) -> String {
    let mut ps: Vec<&engine::PortSummary> = ports.iter().collect();
    ps.sort_by(|a, b| {
        (
            a.kind.as_str(),
            &a.ip,
            a.public_port.unwrap_or(0),
            a.private_port,
        )
            .cmp(&(
                b.kind.as_str(),
                &b.ip,
                b.public_port.unwrap_or(0),
                b.private_port,
            ))
    });
    // (ip, kind, public range, private range)
    type Group = (String, String, Option<(u16, u16)>, (u16, u16));
    let mut groups: Vec<Group> = Vec::new();
    for p in ps {
        let ip = if p.public_port.is_some() {
            p.ip.clone()
        } else {
            String::new()
        };
        if let Some(last) = groups.last_mut() {
            let contiguous = last.0 == ip
                && last.1 == p.kind
                && last.3 .1 + 1 == p.private_port
                && match (last.2, p.public_port) {
                    (Some((_, e)), Some(pp)) => e + 1 == pp,
                    (None, None) => true,
                    _ => false,
                };
            if contiguous {
                last.3 .1 = p.private_port;
                if let (Some(r), Some(pp)) = (&mut last.2, p.public_port) {
                    r.1 = pp;
                }
                continue;
            }
        }
        groups.push((
            ip,
            p.kind.clone(),
            p.public_port.map(|x| (x, x)),
            (p.private_port, p.private_port),
        ));
    }
    let range = |(a, b): (u16, u16)| {
        if a == b {
            a.to_string()
        } else {
            format!("{a}-{b}")
        }
    };
    groups
        .into_iter()
        .map(|(ip, kind, public, private)| match public {
            Some(pb) => {
                let ip = if ip.contains(':') {
                    format!("[{ip}]")
                } else {
                    ip
                };
                format!("{ip}:{}->{}/{kind}", range(pb), range(private))
            }
            None => format!("{}/{kind}", range(private)),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Go's `time.Time.String()` in local time: "2024-01-02 15:04:05 +0100 CET".
fn go_local_time(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| {
            let l = t.with_timezone(&chrono::Local);
            let off = l.format("%z").to_string();
            let zone = if off == "+0000" {
                "UTC".to_string()
            } else {
                off.clone()
            };
            format!("{} {off} {zone}", l.format("%Y-%m-%d %H:%M:%S"))
        })
        .unwrap_or_default()
}

/// The values `ps --format` sees for one container (Docker's ContainerContext).
pub fn ps_row(c: &engine::ContainerSummary, trunc: bool, size: bool) -> Value {
    let id = if trunc {
        image::short_id(&c.id)
    } else {
        c.id.clone()
    };
    let image = if trunc && c.image.starts_with("sha256:") {
        image::short_id(&c.image)
    } else {
        c.image.clone()
    };
    let command = if trunc {
        ellipsis(&c.command, 20)
    } else {
        c.command.clone()
    };
    // Docker hides link names ("/other/alias") unless --no-trunc.
    let names: Vec<String> = c
        .names
        .iter()
        .filter(|n| !trunc || n.trim_start_matches('/').split('/').count() == 1)
        .map(|n| n.trim_start_matches('/').to_string())
        .collect();
    let labels: Vec<String> = c.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mounts: Vec<String> = c
        .mounts
        .iter()
        .map(|m| {
            let n = if m.name.is_empty() {
                &m.source
            } else {
                &m.name
            };
            if trunc {
                ellipsis(n, 15)
            } else {
                n.clone()
            }
        })
        .collect();
    let size_s = match (c.size_rw, c.size_root_fs) {
        (Some(rw), Some(v)) if size => format!(
            "{} (virtual {})",
            human_size_prec(rw as f64, 3),
            human_size_prec(v as f64, 3)
        ),
        (Some(rw), None) if size => human_size_prec(rw as f64, 3),
        _ => String::new(),
    };
    let now = chrono::Utc::now().timestamp();
    json!({
        "ID": id,
        "Image": image,
        "Command": go_quote(&command),
        "CreatedAt": go_local_time(c.created),
        "RunningFor": format!("{} ago", human_duration(now - c.created)),
        "Ports": display_ports(&c.ports),
        "State": c.state,
        "Status": c.status,
        "Size": size_s,
        "Names": names.join(","),
        "Labels": labels.join(","),
        "Mounts": mounts.join(","),
        "Networks": c.network_settings.networks.keys().cloned().collect::<Vec<_>>().join(","),
        "LocalVolumes": c.mounts.iter().filter(|m| m.kind == "volume").count().to_string(),
        crate::format::METHODS: {"Label": c.labels},
    })
}

pub const PS_HEADERS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("CreatedAt", "CREATED AT"),
    ("RunningFor", "CREATED"),
    ("Ports", "PORTS"),
    ("State", "STATE"),
    ("Status", "STATUS"),
    ("Size", "SIZE"),
    ("Names", "NAMES"),
    ("Labels", "LABELS"),
    ("Mounts", "MOUNTS"),
    ("Networks", "NETWORKS"),
    ("LocalVolumes", "LOCAL VOLUMES"),
];

pub fn ps(g: &Global, a: PsArgs) -> CmdResult {
    let e = open_engine(g)?;
    let opts = engine::ListOptions {
        all: a.all || a.latest || a.last > 0,
        limit: if a.latest { 1 } else { a.last.max(0) as usize },
        latest: a.latest,
        size: a.size,
        filters: parse_filters(&a.filter)?,
    };
    let list = e.list(&opts)?;
    let trunc = !a.no_trunc;
    let mut out = std::io::stdout().lock();
    if a.quiet {
        for c in &list {
            let id = if trunc {
                image::short_id(&c.id)
            } else {
                c.id.clone()
            };
            writeln!(out, "{id}")?;
        }
        return Ok(());
    }
    let format = match a.format.as_deref() {
        Some(f) if !f.is_empty() && f != "table" => f.to_string(),
        _ => {
            let mut f = String::from(
                "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}",
            );
            if a.size {
                f.push_str("\t{{.Size}}");
            }
            f
        }
    };
    let rows: Vec<Value> = list.iter().map(|c| ps_row(c, trunc, a.size)).collect();
    let text = format_rows(&format, &rows, PS_HEADERS).map_err(|m| Failure::new(m, 1))?;
    out.write_all(text.as_bytes())?;
    Ok(())
}

// ------------------------------------------------------------------------------------------
// logs / exec / top / stats

/// Docker's timestamps for `--since`/`--until`: unix seconds (with fraction), RFC 3339 (or a
/// date / date-time without zone, taken as local), or a Go duration back from now ("10m").
/// Returns unix nanoseconds.
pub fn parse_time(s: &str, now_ns: i64) -> Result<i64, String> {
    if let Ok(v) = s.parse::<f64>() {
        return Ok((v * 1e9) as i64);
    }
    if let Some(d) = parse_go_duration(s) {
        return Ok(now_ns - d);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp_nanos_opt().unwrap_or(0));
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
    ] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, f) {
            if let Some(l) = t.and_local_timezone(chrono::Local).earliest() {
                return Ok(l.timestamp_nanos_opt().unwrap_or(0));
            }
        }
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        if let Some(l) = d
            .and_hms_opt(0, 0, 0)
            .and_then(|t| t.and_local_timezone(chrono::Local).earliest())
        {
            return Ok(l.timestamp_nanos_opt().unwrap_or(0));
        }
    }
    Err(format!(
        "invalid value for \"since\"/\"until\": failed to parse value as time or duration: {s:?}"
    ))
}

/// Go's `time.ParseDuration` ("1h30m", "10s", "250ms") in nanoseconds.
pub fn parse_go_duration(s: &str) -> Option<i64> {
    let mut rest = s;
    let mut total = 0f64;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if n == 0 {
            return None;
        }
        let v: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mul = match &rest[..u] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += v * mul;
        rest = &rest[u..];
    }
    Some(total as i64)
}

fn now_ns() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
}

#[derive(Args)]
pub struct LogsArgs {
    /// Show extra details provided to logs
    #[arg(long)]
    pub details: bool,
    /// Follow log output
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m)
    #[arg(long)]
    pub since: Option<String>,
    /// Number of lines to show from the end of the logs
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Show timestamps
    #[arg(short = 't', long)]
    pub timestamps: bool,
    /// Show logs before a timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m)
    #[arg(long)]
    pub until: Option<String>,
    pub container: String,
}

fn logs(g: &Global, a: LogsArgs) -> CmdResult {
    let now = now_ns();
    let t = |v: &Option<String>| {
        v.as_deref()
            .map(|s| parse_time(s, now))
            .transpose()
            .map_err(|m| Failure::new(m, 1))
    };
    let tail = match a.tail.as_str() {
        "all" | "" => None,
        n => match n.parse::<i64>() {
            Ok(v) if v < 0 => None,
            Ok(v) => Some(v as usize),
            Err(_) => {
                return Err(Failure::new(
                    format!("invalid value for \"tail\": {n:?}"),
                    1,
                ))
            }
        },
    };
    let opts = engine::LogsOptions {
        follow: a.follow,
        tail,
        since: t(&a.since)?,
        until: t(&a.until)?,
        timestamps: a.timestamps,
        stdout: true,
        stderr: true,
    };
    let e = open_engine(g)?;
    let id = e.resolve(&a.container)?;
    let mut out = std::io::stdout();
    let mut err = std::io::stderr();
    e.logs(&id, &opts, &mut out, &mut err)?;
    Ok(())
}

#[derive(Args)]
pub struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file")]
    pub env_file: Vec<String>,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Give extended privileges to the command
    #[arg(long)]
    pub privileged: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short = 'u', long, default_value = "")]
    pub user: String,
    /// Working directory inside the container
    #[arg(short = 'w', long, default_value = "")]
    pub workdir: String,
    pub container: String,
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    pub cmd: Vec<String>,
}

fn exec(g: &Global, a: ExecArgs) -> CmdResult {
    let mut env = Vec::new();
    for f in &a.env_file {
        env.extend(run_opts::read_kv_file(f, true).map_err(|m| Failure::new(m, 125))?);
    }
    for v in &a.env {
        env.push(run_opts::parse_env(v).map_err(|m| Failure::new(m, 125))?);
    }
    let keys = if a.detach {
        Vec::new()
    } else {
        check_tty(a.tty, a.interactive)?;
        detach_keys::resolve(a.detach_keys.as_deref(), detach_keys::For::Exec, 1)?
    };
    let e = open_engine(g)?;
    let id = e.resolve(&a.container)?;
    let cfg = engine::ExecConfig {
        cmd: a.cmd,
        env,
        user: a.user,
        workdir: a.workdir,
        tty: a.tty,
        attach_stdin: a.interactive,
        detach: a.detach,
        privileged: a.privileged,
        detach_keys: if a.tty && a.interactive {
            keys
        } else {
            Vec::new()
        },
        console_size: if a.tty { window_size() } else { None },
    };
    let _raw = (a.tty && a.interactive && !a.detach && std::io::stdin().is_terminal())
        .then(TermGuard::raw)
        .flatten();
    let res = e.exec(&id, &cfg);
    drop(_raw);
    let code = res.map_err(|err| match err {
        // Docker's CLI: the message on stderr (the terminal restored first), exit 1.
        engine::Error::Detached => {
            eprintln!("read escape sequence");
            Failure::new("", 1)
        }
        engine::Error::CommandNotFound(_) | engine::Error::CannotInvoke(_) => run_failure(err),
        err => Failure::new(
            err.to_string(),
            if matches!(
                err,
                engine::Error::NoSuchContainer(_) | engine::Error::Conflict(_)
            ) {
                1
            } else {
                126
            },
        ),
    })?;
    if code != 0 {
        return Err(Failure::new("", code as i32));
    }
    Ok(())
}

#[derive(Args)]
pub struct TopArgs {
    pub container: String,
    /// ps options (default -ef)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

/// Go's tabwriter with Docker's `top` settings (minwidth 20, padding 3).
pub fn tabwrite_min(rows: &[Vec<String>], min: usize, pad: usize) -> String {
    let mut widths: Vec<usize> = Vec::new();
    for r in rows {
        for (j, c) in r.iter().enumerate().take(r.len().saturating_sub(1)) {
            let w = (c.chars().count() + pad).max(min);
            if widths.len() <= j {
                widths.push(w);
            } else {
                widths[j] = widths[j].max(w);
            }
        }
    }
    let mut out = String::new();
    for r in rows {
        for (j, c) in r.iter().enumerate() {
            out.push_str(c);
            if j + 1 < r.len() {
                out.push_str(&" ".repeat(widths[j] - c.chars().count()));
            }
        }
        out.push('\n');
    }
    out
}

fn top(g: &Global, a: TopArgs) -> CmdResult {
    let e = open_engine(g)?;
    let id = e.resolve(&a.container)?;
    let t = e.top(&id, &a.ps_args)?;
    let mut rows = vec![t.titles];
    rows.extend(t.processes);
    std::io::stdout().write_all(tabwrite_min(&rows, 20, 3).as_bytes())?;
    Ok(())
}

#[derive(Args)]
pub struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Pretty-print stats using a Go template
    #[arg(long)]
    pub format: Option<String>,
    /// Disable streaming stats and only pull the first result
    #[arg(long = "no-stream")]
    pub no_stream: bool,
    /// Do not truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    pub containers: Vec<String>,
}

pub const STATS_HEADERS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Container", "CONTAINER"),
    ("Name", "NAME"),
    ("CPUPerc", "CPU %"),
    ("MemUsage", "MEM USAGE / LIMIT"),
    ("MemPerc", "MEM %"),
    ("NetIO", "NET I/O"),
    ("BlockIO", "BLOCK I/O"),
    ("PIDs", "PIDS"),
];

/// One `stats` row from two samples (CPU % needs a delta).
pub fn stats_row(
    cur: &engine::StatsSample,
    prev: Option<&engine::StatsSample>,
    shown_as: &str,
    trunc: bool,
) -> Value {
    let cpu = prev.map(|p| cur.cpu_percent(p)).unwrap_or(0.0);
    let io = |a: u64, b: u64| {
        format!(
            "{} / {}",
            human_size_prec(a as f64, 3),
            human_size_prec(b as f64, 3)
        )
    };
    json!({
        "ID": if trunc { image::short_id(&cur.id) } else { cur.id.clone() },
        "Container": shown_as,
        "Name": cur.name.trim_start_matches('/'),
        "CPUPerc": format!("{cpu:.2}%"),
        "MemUsage": format!("{} / {}", crate::system::bytes_size(cur.mem_usage), crate::system::bytes_size(cur.mem_limit)),
        "MemPerc": format!("{:.2}%", cur.mem_percent()),
        "NetIO": io(cur.net_rx, cur.net_tx),
        "BlockIO": io(cur.blk_read, cur.blk_write),
        "PIDs": cur.pids.to_string(),
    })
}

fn stats(g: &Global, a: StatsArgs) -> CmdResult {
    let e = open_engine(g)?;
    let targets: Vec<(String, String)> = if a.containers.is_empty() {
        e.list(&engine::ListOptions {
            all: a.all,
            ..Default::default()
        })?
        .into_iter()
        .map(|c| {
            let id = c.id.clone();
            (
                if a.no_trunc {
                    id.clone()
                } else {
                    image::short_id(&id)
                },
                id,
            )
        })
        .collect()
    } else {
        let mut v = Vec::new();
        for n in &a.containers {
            v.push((n.clone(), e.resolve(n)?));
        }
        v
    };
    let format = match a.format.as_deref() {
        Some(f) if !f.is_empty() && f != "table" => f.to_string(),
        _ => "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}".to_string(),
    };
    let sample_all = |e: &Engine| -> Vec<Option<engine::StatsSample>> {
        targets.iter().map(|(_, id)| e.stats(id).ok()).collect()
    };
    let tty = std::io::stdout().is_terminal();
    let mut prev = sample_all(&e);
    loop {
        // CPU % is a rate: it needs a second sample some time after the first.
        std::thread::sleep(std::time::Duration::from_millis(if a.no_stream {
            500
        } else {
            1000
        }));
        let cur = sample_all(&e);
        let rows: Vec<Value> = targets
            .iter()
            .zip(cur.iter().zip(prev.iter()))
            .filter_map(|((shown, _), (c, p))| {
                c.as_ref()
                    .map(|c| stats_row(c, p.as_ref(), shown, !a.no_trunc))
            })
            .collect();
        if !a.containers.is_empty() && rows.len() < targets.len() && a.no_stream {
            let missing: Vec<String> = targets
                .iter()
                .zip(cur.iter())
                .filter(|(_, c)| c.is_none())
                .map(|((n, _), _)| format!("No such container: {n}"))
                .collect();
            return finish(missing);
        }
        let text = format_rows(&format, &rows, STATS_HEADERS).map_err(|m| Failure::new(m, 1))?;
        let mut out = std::io::stdout().lock();
        if tty && !a.no_stream {
            out.write_all(b"\x1b[2J\x1b[H")?;
        }
        out.write_all(text.as_bytes())?;
        out.flush()?;
        if a.no_stream {
            return Ok(());
        }
        prev = cur;
    }
}

// ------------------------------------------------------------------------------------------
// inspect (containers and images)

#[derive(serde::Serialize)]
#[serde(untagged)]
enum Inspected {
    Container(Box<engine::types::ContainerJson>),
    Image(Box<crate::image_cmds::ImageInspect>),
}

/// `inspect`: containers first, then images (Docker's order); `--type` restricts it.
pub fn inspect(g: &Global, a: crate::image_cmds::InspectArgs, container_only: bool) -> CmdResult {
    let kind = if container_only {
        Some("container".to_string())
    } else {
        a.kind.clone()
    };
    match kind.as_deref() {
        None | Some("container") | Some("image") => {}
        Some(k) => {
            return Err(Failure::new(
                format!("\"{k}\" is not a valid value for --type"),
                1,
            ))
        }
    }
    if kind.as_deref() == Some("image") {
        return crate::image_cmds::inspect(g, a, true);
    }
    let tmpl = a
        .format
        .as_deref()
        .map(|f| {
            Template::parse(f).map_err(|e| Failure::new(format!("template parsing error: {e}"), 1))
        })
        .transpose()?;
    let e = open_engine(g)?;
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for n in &a.names {
        match e.resolve(n).and_then(|id| e.inspect(&id)) {
            Ok(c) => {
                found.push(Inspected::Container(Box::new(c)));
                continue;
            }
            Err(engine::Error::NoSuchContainer(_)) => {}
            Err(err) => {
                errors.push(err.to_string());
                continue;
            }
        }
        if kind.as_deref() == Some("container") {
            errors.push(format!("No such container: {n}"));
            continue;
        }
        let store = &crate::image_cmds::open_store(g).map_err(|f| Failure::new(f.msg, 125))?;
        match store.resolve(n).and_then(|id| store.get(&id)) {
            Ok(img) => found.push(Inspected::Image(Box::new(
                crate::image_cmds::inspect_image(store, &img),
            ))),
            Err(image::Error::NotFound(_)) => errors.push(format!("No such object: {n}")),
            Err(err) => errors.push(err.to_string()),
        }
    }
    let mut out = std::io::stdout().lock();
    match &tmpl {
        Some(t) => {
            for v in &found {
                let v = serde_json::to_value(v).expect("serializable");
                let s = t.execute(&v).map_err(|e| Failure::new(e, 1))?;
                writeln!(out, "{s}")?;
            }
        }
        None => writeln!(out, "{}", crate::image_cmds::pretty(&found))?,
    }
    finish(errors)
}

// ------------------------------------------------------------------------------------------
// port / diff / commit / export / cp

#[derive(Args)]
pub struct PortArgs {
    pub container: String,
    /// PRIVATE_PORT[/PROTO]
    pub private_port: Option<String>,
}

fn binding_str(b: &engine::types::PortBinding) -> String {
    let ip = if b.host_ip.is_empty() {
        "0.0.0.0"
    } else {
        &b.host_ip
    };
    if ip.contains(':') {
        format!("[{ip}]:{}", b.host_port)
    } else {
        format!("{ip}:{}", b.host_port)
    }
}

fn port(g: &Global, a: PortArgs) -> CmdResult {
    let e = open_engine(g)?;
    let id = e.resolve(&a.container)?;
    let ports = e.port(&id)?;
    let mut out = std::io::stdout().lock();
    if let Some(p) = &a.private_port {
        let key = if p.contains('/') {
            p.clone()
        } else {
            format!("{p}/tcp")
        };
        match ports.get(&key) {
            Some(Some(bs)) if !bs.is_empty() => {
                for b in bs {
                    writeln!(out, "{}", binding_str(b))?;
                }
                Ok(())
            }
            _ => Err(Failure::new(
                format!("No public port '{key}' published for {}", a.container),
                1,
            )),
        }
    } else {
        let mut keys: Vec<&String> = ports.keys().collect();
        keys.sort_by_key(|k| {
            let (n, proto) = k.split_once('/').unwrap_or((k, ""));
            (n.parse::<u32>().unwrap_or(0), proto.to_string())
        });
        for k in keys {
            for b in ports[k].iter().flatten() {
                writeln!(out, "{k} -> {}", binding_str(b))?;
            }
        }
        Ok(())
    }
}

#[derive(Args)]
pub struct DiffArgs {
    pub container: String,
}

fn diff(g: &Global, a: DiffArgs) -> CmdResult {
    let e = open_engine(g)?;
    let id = e.resolve(&a.container)?;
    let mut out = std::io::stdout().lock();
    for c in e.changes(&id)? {
        writeln!(out, "{} {}", c.kind, c.path)?;
    }
    Ok(())
}

#[derive(Args)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short = 'a', long, default_value = "")]
    pub author: String,
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change")]
    pub change: Vec<String>,
    /// Commit message
    #[arg(short = 'm', long, default_value = "")]
    pub message: String,
    /// Pause container during commit
    #[arg(short = 'p', long, default_value_t = true, action = clap::ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub pause: bool,
    pub container: String,
    /// REPOSITORY[:TAG]
    pub reference: Option<String>,
}

fn commit(g: &Global, a: CommitArgs) -> CmdResult {
    if let Some(r) = &a.reference {
        image::Reference::parse(r)?;
    }
    let e = open_engine(g)?;
    let id = e.resolve(&a.container)?;
    let img = e.commit(
        &id,
        &engine::CommitOptions {
            reference: a.reference,
            author: a.author,
            message: a.message,
            changes: a.change,
            pause: a.pause,
        },
    )?;
    println!("{img}");
    Ok(())
}

#[derive(Args)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
    pub container: String,
}

fn export(g: &Global, a: ExportArgs) -> CmdResult {
    let e = open_engine(g)?;
    let id = e.resolve(&a.container)?;
    match &a.output {
        None => {
            if std::io::stdout().is_terminal() {
                return Err(Failure::new(
                    "cowardly refusing to save to a terminal. Use the -o flag or redirect",
                    1,
                ));
            }
            let mut w = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
            e.export(&id, &mut w)?;
            w.flush()?;
        }
        Some(path) => {
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let tmp = dir.join(format!(".berth-export-{}", std::process::id()));
            let res = (|| -> CmdResult {
                let f = std::fs::File::create(&tmp).map_err(|err| {
                    Failure::new(
                        format!("failed to export container: {}: {err}", path.display()),
                        1,
                    )
                })?;
                let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
                e.export(&id, &mut w)?;
                w.into_inner().map_err(|err| err.into_error())?.sync_all()?;
                std::fs::rename(&tmp, path)?;
                Ok(())
            })();
            if res.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            res?;
        }
    }
    Ok(())
}

#[derive(Args)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information)
    #[arg(short = 'a', long)]
    pub archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long = "follow-link")]
    pub follow_link: bool,
    /// Suppress progress output during copy
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// CONTAINER:SRC_PATH or SRC_PATH|-
    pub src: String,
    /// CONTAINER:DEST_PATH or DEST_PATH|-
    pub dest: String,
}

/// "name:path" → Some((name, path)); host paths (absolute, ./relative, or without ':') → None.
fn split_cp_arg(s: &str) -> Option<(&str, &str)> {
    if s.starts_with('/') || s.starts_with('.') {
        return None;
    }
    s.split_once(':')
        .filter(|(c, _)| !c.is_empty() && !c.contains('/'))
}

fn basename(p: &str) -> String {
    Path::new(p.trim_end_matches('/'))
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| ".".into())
}

fn cp(g: &Global, a: CpArgs) -> CmdResult {
    match (split_cp_arg(&a.src), split_cp_arg(&a.dest)) {
        (Some(_), Some(_)) => Err(Failure::new(
            "copying between containers is not supported",
            1,
        )),
        (None, None) => Err(Failure::new(
            "must specify at least one container source",
            1,
        )),
        (Some((c, path)), None) => cp_from(g, c, path, &a.dest, a.follow_link),
        (None, Some((c, path))) => cp_to(g, &a, c, path),
    }
}

/// `cp CONTAINER:path dest`; `follow` (-L) copies what a symlink `path` points to, resolved
/// inside the container (the copy is named after the link, as Docker's).
fn cp_from(g: &Global, container: &str, path: &str, dest: &str, follow: bool) -> CmdResult {
    let e = open_engine(g)?;
    let id = e.resolve(container)?;
    if dest == "-" {
        let mut w = std::io::BufWriter::new(std::io::stdout().lock());
        e.copy_from_container(&id, path, follow, &mut w)?;
        w.flush()?;
        return Ok(());
    }
    let stat = e.stat_path(&id, path, follow)?;
    let dest_p = Path::new(dest);
    let dest_is_dir = dest_p.is_dir();
    if dest_p.exists() && !dest_is_dir && stat.is_dir {
        return Err(Failure::new("cannot copy a directory to a file", 1));
    }
    if dest.ends_with('/') && !dest_is_dir {
        return Err(Failure::new(
            format!("invalid output path: directory {dest:?} does not exist"),
            1,
        ));
    }
    let parent = if dest_is_dir {
        dest_p.to_path_buf()
    } else {
        let p = dest_p
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if !p.is_dir() {
            return Err(Failure::new(
                format!(
                    "invalid output path: directory {:?} does not exist",
                    p.display().to_string()
                ),
                1,
            ));
        }
        p.to_path_buf()
    };
    // The archive goes through a scratch directory next to the target and is renamed into
    // place: the tar crate refuses ".." and absolute names, and the rename gives Docker's
    // "copy as DEST" naming.
    let scratch = parent.join(format!(".berth-cp-{}", std::process::id()));
    std::fs::create_dir(&scratch)?;
    struct Rm(PathBuf);
    impl Drop for Rm {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _guard = Rm(scratch.clone());
    let (reader, mut writer) = std::io::pipe()?;
    let dir = scratch.clone();
    let unpacker = std::thread::spawn(move || -> std::io::Result<()> {
        let mut ar = tar::Archive::new(reader);
        ar.set_preserve_permissions(true);
        ar.set_preserve_mtime(true);
        ar.set_overwrite(true);
        ar.unpack(&dir)
    });
    let res = e.copy_from_container(&id, path, follow, &mut writer);
    drop(writer);
    let unpacked = unpacker.join().expect("unpack thread");
    res?;
    unpacked.map_err(|err| Failure::new(format!("extracting archive: {err}"), 1))?;
    let top = std::fs::read_dir(&scratch)?
        .flatten()
        .next()
        .ok_or_else(|| Failure::new(format!("{path}: nothing was copied"), 1))?
        .path();
    let target = if dest_is_dir {
        dest_p.join(top.file_name().unwrap_or_default())
    } else {
        dest_p.to_path_buf()
    };
    if target.is_dir() && top.is_dir() {
        merge_dir(&top, &target)?;
    } else {
        std::fs::rename(&top, &target)?;
    }
    Ok(())
}

/// Moves `src`'s entries into the existing directory `dst` (cp -a's merge).
fn merge_dir(src: &Path, dst: &Path) -> std::io::Result<()> {
    for ent in std::fs::read_dir(src)? {
        let ent = ent?;
        let to = dst.join(ent.file_name());
        let ft = ent.file_type()?;
        if ft.is_dir() && to.is_dir() && !to.is_symlink() {
            merge_dir(&ent.path(), &to)?;
        } else {
            if to.is_dir() && !to.is_symlink() {
                std::fs::remove_dir_all(&to)?;
            }
            std::fs::rename(ent.path(), &to)?;
        }
    }
    Ok(())
}

/// Appends `src` (recursively) as `name`. Without `archive` (-a) the entries belong to root,
/// like Docker's `cp` into a container; `follow` (-L) follows a symlink given as `src` only.
fn append_tree<W: Write>(
    b: &mut tar::Builder<W>,
    src: &Path,
    name: &Path,
    follow: bool,
    archive: bool,
) -> std::io::Result<()> {
    let meta = if follow {
        std::fs::metadata(src)?
    } else {
        std::fs::symlink_metadata(src)?
    };
    let mut h = tar::Header::new_gnu();
    h.set_metadata_in_mode(&meta, tar::HeaderMode::Complete);
    if !archive {
        h.set_uid(0);
        h.set_gid(0);
        h.set_username("")?;
        h.set_groupname("")?;
    }
    let ft = meta.file_type();
    if ft.is_symlink() {
        let target = std::fs::read_link(src)?;
        b.append_link(&mut h, name, target)?;
    } else if ft.is_file() {
        b.append_data(&mut h, name, std::fs::File::open(src)?)?;
    } else if ft.is_dir() {
        b.append_data(&mut h, name, std::io::empty())?;
        let mut entries: Vec<_> = std::fs::read_dir(src)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            append_tree(b, &e.path(), &name.join(e.file_name()), false, archive)?;
        }
    } else {
        // FIFOs and device nodes: the header carries everything.
        h.set_size(0);
        b.append_data(&mut h, name, std::io::empty())?;
    }
    Ok(())
}

fn cp_to(g: &Global, a: &CpArgs, container: &str, path: &str) -> CmdResult {
    let e = open_engine(g)?;
    let id = e.resolve(container)?;
    if a.src == "-" {
        let mut input = std::io::stdin().lock();
        e.copy_to_container(&id, path, &mut input)?;
        return Ok(());
    }
    let src = PathBuf::from(&a.src);
    let meta = if a.follow_link {
        std::fs::metadata(&src)
    } else {
        std::fs::symlink_metadata(&src)
    }
    .map_err(|err| Failure::new(format!("lstat {}: {err}", src.display()), 1))?;
    // A symlink as the destination is followed once, as Docker's CLI does; the engine then
    // resolves the result inside the container.
    let mut path = path.to_string();
    let mut dst = e.stat_path(&id, &path, false);
    if let Ok(st) = &dst {
        if !st.link_target.is_empty() {
            path = if st.link_target.starts_with('/') {
                st.link_target.clone()
            } else {
                let parent = Path::new(&path).parent().unwrap_or(Path::new("/"));
                parent.join(&st.link_target).display().to_string()
            };
            dst = e.stat_path(&id, &path, false);
        }
    }
    let path = path.as_str();
    let (dir, name) = match dst {
        Ok(st) if st.is_dir => (path.to_string(), basename(&a.src)),
        Ok(_) if meta.is_dir() => return Err(Failure::new("cannot copy a directory to a file", 1)),
        _ => {
            if path.ends_with('/') {
                return Err(Failure::new(format!("no such directory: {path}"), 1));
            }
            let parent = Path::new(path)
                .parent()
                .map(|p| p.display().to_string())
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| "/".into());
            (parent, basename(path))
        }
    };
    let (mut reader, writer) = std::io::pipe()?;
    let follow = a.follow_link;
    let archive = a.archive;
    let packer = std::thread::spawn(move || -> std::io::Result<()> {
        let mut b = tar::Builder::new(writer);
        append_tree(&mut b, &src, Path::new(&name), follow, archive)?;
        b.into_inner()?.flush()
    });
    let res = e.copy_to_container(&id, &dir, &mut reader);
    drop(reader);
    let packed = packer.join().expect("pack thread");
    res?;
    packed.map_err(|err| Failure::new(format!("archiving {}: {err}", a.src), 1))?;
    Ok(())
}

// ------------------------------------------------------------------------------------------
// events / prune

#[derive(Args)]
pub struct EventsArgs {
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format the output using the given Go template
    #[arg(long)]
    pub format: Option<String>,
    /// Show all events created since timestamp
    #[arg(long)]
    pub since: Option<String>,
    /// Stream events until this timestamp
    #[arg(long)]
    pub until: Option<String>,
}

/// Docker's default event line: "2024-01-02T15:04:05.000000000+01:00 container start ID (a=b, …)".
pub fn event_line(ev: &engine::Event) -> String {
    let t = chrono::DateTime::from_timestamp(
        ev.time_nano / 1_000_000_000,
        (ev.time_nano % 1_000_000_000) as u32,
    )
    .unwrap_or_default()
    .with_timezone(&chrono::Local);
    let ts = t.format("%Y-%m-%dT%H:%M:%S%.9f").to_string();
    let off = t.format("%:z").to_string();
    let off = if off == "+00:00" {
        "Z".to_string()
    } else {
        off
    };
    let mut s = format!("{ts}{off} {} {} {}", ev.kind, ev.action, ev.actor.id);
    if !ev.actor.attributes.is_empty() {
        let attrs: Vec<String> = ev
            .actor
            .attributes
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        s.push_str(&format!(" ({})", attrs.join(", ")));
    }
    s
}

/// An event as templates see it: its JSON (what `{{json .}}` prints) where Go's field names
/// (`.Status`, `.ID`, `.From`, `.Scope`, `.Time`, `.TimeNano`) read the JSON-tagged keys.
fn event_value(ev: &engine::Event) -> Value {
    let mut v = serde_json::to_value(ev).unwrap_or_default();
    if let Value::Object(o) = &mut v {
        o.insert(
            crate::format::ALIASES.into(),
            json!({"Status": "status", "ID": "id", "From": "from", "Scope": "scope",
                   "Time": "time", "TimeNano": "timeNano"}),
        );
    }
    v
}

pub fn events(g: &Global, a: EventsArgs) -> CmdResult {
    let now = now_ns();
    let t = |v: &Option<String>| -> Result<Option<f64>, Failure> {
        v.as_deref()
            .map(|s| parse_time(s, now).map(|ns| ns as f64 / 1e9))
            .transpose()
            .map_err(|m| Failure::new(m, 1))
    };
    let opts = engine::EventsOptions {
        since: t(&a.since)?,
        until: t(&a.until)?,
        filters: parse_filters(&a.filter)?,
        follow: a.until.is_none(),
    };
    let tmpl = a
        .format
        .as_deref()
        .map(|f| {
            Template::parse(f).map_err(|e| Failure::new(format!("template parsing error: {e}"), 1))
        })
        .transpose()?;
    let e = open_engine(g)?;
    let mut out = std::io::stdout();
    let mut err = None;
    e.events(&opts, &mut |ev| {
        let line = match &tmpl {
            Some(t) => match t.execute(&event_value(ev)) {
                Ok(s) => s,
                Err(m) => {
                    err = Some(m);
                    return false;
                }
            },
            None => event_line(ev),
        };
        // A closed pipe ends the stream quietly.
        writeln!(out, "{line}").and_then(|_| out.flush()).is_ok()
    })?;
    if let Some(m) = err {
        return Err(Failure::new(m, 1));
    }
    Ok(())
}

#[derive(Args)]
pub struct ContainerPruneArgs {
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Provide filter values (e.g. 'until=<timestamp>', 'label=k=v')
    #[arg(long)]
    pub filter: Vec<String>,
}

pub(crate) fn confirm(warning: &str) -> Result<bool, Failure> {
    print!("{warning}\nAre you sure you want to continue? [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

/// Removes stopped containers; prints Docker's "Deleted Containers:" block. Returns the space.
fn prune_containers(e: &Engine, f: &crate::prune_filters::PruneFilters) -> Result<u64, Failure> {
    let r = e.prune(&|labels, created| f.matches(labels, created))?;
    if !r.containers_deleted.is_empty() {
        println!("Deleted Containers:");
        for id in &r.containers_deleted {
            println!("{id}");
        }
        println!();
    }
    Ok(r.space_reclaimed)
}

pub fn container_prune(g: &Global, a: ContainerPruneArgs) -> CmdResult {
    if !a.force && !confirm("WARNING! This will remove all stopped containers.")? {
        return Ok(());
    }
    let f =
        crate::prune_filters::PruneFilters::parse(&a.filter, crate::prune_filters::CONTAINER_KEYS)?;
    let e = open_engine(g)?;
    let space = prune_containers(&e, &f)?;
    println!("Total reclaimed space: {}", human_size(space));
    Ok(())
}

#[derive(Args)]
pub struct SystemPruneArgs {
    /// Remove all unused images not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Prune volumes (accepted; berth keeps no unused volumes yet)
    #[arg(long)]
    pub volumes: bool,
    /// Provide filter values (e.g. 'label=<key>=<value>')
    #[arg(long)]
    pub filter: Vec<String>,
}

pub fn system_prune(g: &Global, a: SystemPruneArgs) -> CmdResult {
    if !a.force {
        let images = if a.all {
            "all images without at least one container associated to them"
        } else {
            "all dangling images"
        };
        let mut w = String::from("WARNING! This will remove:\n  - all stopped containers\n");
        if a.volumes {
            w.push_str("  - all volumes not used by at least one container\n");
        }
        w.push_str(&format!("  - {images}\n"));
        if !confirm(&w)? {
            return Ok(());
        }
    }
    // Docker passes the filters to each prune in turn: the containers' keys decide.
    let f =
        crate::prune_filters::PruneFilters::parse(&a.filter, crate::prune_filters::CONTAINER_KEYS)?;
    let e = open_engine(g)?;
    let mut space = prune_containers(&e, &f)?;
    let store = &crate::image_cmds::open_store(g).map_err(|f| Failure::new(f.msg, 125))?;
    let root = g.root.clone();
    let used = move |id: &str| crate::image_cmds::container_uses(&root, id);
    let (items, reclaimed) = store.prune_matching(a.all, &used, &|img| {
        crate::image_cmds::prune_selects(&f, img)
    })?;
    if !items.is_empty() {
        println!("Deleted Images:");
        crate::image_cmds::print_items(&items, true);
        println!();
    }
    space += reclaimed;
    println!("Total reclaimed space: {}", human_size(space));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::PortSummary;

    fn port(ip: &str, private: u16, public: Option<u16>) -> PortSummary {
        PortSummary {
            ip: ip.into(),
            private_port: private,
            public_port: public,
            kind: "tcp".into(),
        }
    }

    #[test]
    fn ports_display() {
        assert_eq!(display_ports(&[]), "");
        assert_eq!(display_ports(&[port("", 80, None)]), "80/tcp");
        assert_eq!(
            display_ports(&[port("0.0.0.0", 80, Some(8080)), port("::", 80, Some(8080))]),
            "0.0.0.0:8080->80/tcp, [::]:8080->80/tcp"
        );
        assert_eq!(
            display_ports(&[
                port("0.0.0.0", 81, Some(8001)),
                port("0.0.0.0", 80, Some(8000)),
                port("", 443, None)
            ]),
            "443/tcp, 0.0.0.0:8000-8001->80-81/tcp"
        );
    }

    #[test]
    fn command_column() {
        assert_eq!(go_quote(&ellipsis("sleep 1000", 20)), "\"sleep 1000\"");
        assert_eq!(
            go_quote(&ellipsis("sh -c 'while true; do echo hi; done'", 20)),
            "\"sh -c 'while true; …\""
        );
        assert_eq!(go_quote("a\"b\\"), "\"a\\\"b\\\\\"");
    }

    #[test]
    fn ps_table_columns() {
        let c = engine::ContainerSummary {
            id: "0123456789abcdef".repeat(4),
            names: vec!["/web".into()],
            image: "busybox".into(),
            command: "sleep 1000".into(),
            created: chrono::Utc::now().timestamp() - 120,
            state: "running".into(),
            status: "Up 2 minutes".into(),
            ..Default::default()
        };
        let rows = vec![ps_row(&c, true, false)];
        let t = format_rows(
            "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}",
            &rows,
            PS_HEADERS,
        )
        .unwrap();
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(
            lines[0],
            "CONTAINER ID   IMAGE     COMMAND        CREATED         STATUS         PORTS     NAMES"
        );
        assert_eq!(
            lines[1],
            "0123456789ab   busybox   \"sleep 1000\"   2 minutes ago   Up 2 minutes             web"
        );
        let t = format_rows("{{.Names}}: {{.State}}", &rows, PS_HEADERS).unwrap();
        assert_eq!(t, "web: running\n");
        assert_eq!(ps_row(&c, false, false)["ID"], c.id);
    }

    #[test]
    fn stats_columns() {
        let prev = engine::StatsSample {
            id: "a".repeat(64),
            name: "/web".into(),
            cpu_total_ns: 0,
            system_cpu_ns: 0,
            online_cpus: 2,
            ..Default::default()
        };
        let cur = engine::StatsSample {
            cpu_total_ns: 250_000_000,
            system_cpu_ns: 1_000_000_000,
            mem_usage: 1 << 20,
            mem_limit: 64 << 20,
            net_rx: 1234,
            net_tx: 648,
            blk_read: 0,
            blk_write: 4096,
            pids: 3,
            ..prev.clone()
        };
        let r = stats_row(&cur, Some(&prev), "web", true);
        assert_eq!(r["ID"], "aaaaaaaaaaaa");
        assert_eq!(r["Name"], "web");
        assert_eq!(r["CPUPerc"], "50.00%");
        assert_eq!(r["MemUsage"], "1MiB / 64MiB");
        assert_eq!(r["MemPerc"], "1.56%");
        assert_eq!(r["NetIO"], "1.23kB / 648B");
        assert_eq!(r["BlockIO"], "0B / 4.1kB");
        assert_eq!(r["PIDs"], "3");
        let t = format_rows(
            "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}",
            &[r],
            STATS_HEADERS,
        )
        .unwrap();
        assert!(t.starts_with(
            "CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT   MEM %     NET I/O         BLOCK I/O    PIDS\n"
        ), "{t}");
    }

    #[test]
    fn times_and_durations() {
        let now = 1_700_000_000_000_000_000;
        assert_eq!(parse_go_duration("10m"), Some(600_000_000_000));
        assert_eq!(parse_go_duration("1h30m"), Some(5_400_000_000_000));
        assert_eq!(parse_go_duration("1.5s"), Some(1_500_000_000));
        assert_eq!(parse_go_duration("5"), None);
        assert_eq!(parse_time("10s", now).unwrap(), now - 10_000_000_000);
        assert_eq!(
            parse_time("1700000000", now).unwrap(),
            1_700_000_000_000_000_000
        );
        assert_eq!(
            parse_time("2023-11-14T22:13:20Z", now).unwrap(),
            1_700_000_000_000_000_000
        );
        assert!(parse_time("yesterday", now).is_err());
    }

    #[test]
    fn top_alignment() {
        let rows = vec![
            vec!["UID".to_string(), "PID".to_string(), "CMD".to_string()],
            vec![
                "root".to_string(),
                "12345".to_string(),
                "sleep 1000".to_string(),
            ],
        ];
        assert_eq!(
            tabwrite_min(&rows, 20, 3),
            format!(
                "UID{}PID{}CMD\nroot{}12345{}sleep 1000\n",
                " ".repeat(17),
                " ".repeat(17),
                " ".repeat(16),
                " ".repeat(15)
            )
        );
    }

    #[test]
    fn cp_args() {
        assert_eq!(split_cp_arg("web:/etc/hosts"), Some(("web", "/etc/hosts")));
        assert_eq!(split_cp_arg("/tmp/a:b"), None);
        assert_eq!(split_cp_arg("./a:b"), None);
        assert_eq!(split_cp_arg("file"), None);
        assert_eq!(split_cp_arg("-"), None);
        assert_eq!(basename("/a/b/"), "b");
    }

    #[test]
    fn event_lines() {
        let mut ev = engine::Event {
            kind: "container".into(),
            action: "start".into(),
            time_nano: 1_700_000_000_123_456_789,
            ..Default::default()
        };
        ev.actor.id = "abc".into();
        ev.actor.attributes.insert("name".into(), "web".into());
        ev.actor.attributes.insert("image".into(), "busybox".into());
        let l = event_line(&ev);
        assert!(l.contains(".123456789"), "{l}");
        assert!(
            l.ends_with(" container start abc (image=busybox, name=web)"),
            "{l}"
        );
    }
}
