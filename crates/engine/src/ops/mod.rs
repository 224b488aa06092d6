//! The engine's operations, one file each (as youki's libcontainer has): each adds its
//! methods to [`crate::Engine`]. Shared plumbing stays in the crate root's modules (record,
//! monitor, teardown, spec, network, ...).

mod attach;
mod changes;
mod commit;
mod cp;
mod create;
mod events;
mod exec;
mod export;
mod info;
mod inspect;
pub(crate) mod kill;
mod list;
mod logs;
mod pause;
mod prune;
mod remove;
mod rename;
mod restart;
mod start;
mod stats;
mod stop;
mod top;
mod update;
mod wait;
