//! `create` (and the create half of `run`): pulls the image if missing, then creates.

use super::{open_engine, run_failure};
use crate::run_opts::{self, CreateFlags};
use crate::{CmdResult, Failure, Global};
use clap::Args;
use engine::Engine;
use std::path::Path;

#[derive(Args)]
pub struct CreateArgs {
    #[command(flatten)]
    pub flags: CreateFlags,
}

/// Makes sure the image is present, pulling it like Docker when missing (or `--pull always`).
fn ensure_image(g: &Global, e: &Engine, f: &CreateFlags) -> Result<(), Failure> {
    let name = &f.args[0];
    let have = e
        .image_exists(name)
        .map_err(|err| Failure::new(err.to_string(), 125))?;
    if have && f.pull != "always" {
        return Ok(());
    }
    // Image IDs can't be pulled: Docker says "No such image" for a missing one.
    if !have && (f.pull == "never" || name.starts_with("sha256:")) {
        return Err(Failure::new(format!("No such image: {name}"), 125));
    }
    let familiar = engine::parse_reference(name)
        .map(|r| r.familiar)
        .map_err(|err| Failure::new(err.to_string(), 125))?;
    if !have {
        eprintln!("Unable to find image '{familiar}' locally");
    }
    crate::registry_cmds::pull_for_run(g, e, name, f.platform.clone())?;
    Ok(())
}

/// What `run` needs after create: the streams to attach and whether there is a tty.
pub(super) struct Created {
    pub(super) id: String,
    pub(super) attach: engine::AttachOptions,
    pub(super) tty: bool,
}

/// Parses the flags, pulls the image if needed and creates the container.
pub(super) fn create_container(
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
