//! `container prune` and `system prune`.

use super::{confirm, open_engine};
use crate::human::human_size;
use crate::{CmdResult, Failure, Global};
use clap::Args;
use engine::Engine;

#[derive(Args)]
pub struct ContainerPruneArgs {
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Provide filter values (e.g. 'until=<timestamp>', 'label=k=v')
    #[arg(long)]
    pub filter: Vec<String>,
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
    /// Prune anonymous volumes
    #[arg(long)]
    pub volumes: bool,
    /// Provide filter values (e.g. 'label=<key>=<value>')
    #[arg(long)]
    pub filter: Vec<String>,
}

pub fn system_prune(g: &Global, a: SystemPruneArgs) -> CmdResult {
    let volumes = a
        .volumes
        .then(|| crate::volume_cmds::system_prune_request(&a.filter))
        .transpose()?;
    if !a.force {
        let images = if a.all {
            "all images without at least one container associated to them"
        } else {
            "all dangling images"
        };
        let mut w = String::from("WARNING! This will remove:\n  - all stopped containers\n");
        if a.volumes {
            w.push_str("  - all anonymous volumes not used by at least one container\n");
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
    if let Some(req) = &volumes {
        space += crate::volume_cmds::prune_and_print(&e, req)?;
    }
    let rep = e
        .image_prune(a.all, &|labels, created| f.matches(labels, created))
        .map_err(crate::image_cmds::image_failure)?;
    if !rep.deleted.is_empty() {
        println!("Deleted Images:");
        crate::image_cmds::print_items(&rep.deleted, true);
        println!();
    }
    space += rep.space_reclaimed;
    println!("Total reclaimed space: {}", human_size(space));
    Ok(())
}
