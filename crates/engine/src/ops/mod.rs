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
mod image_archive;
mod image_history;
mod image_inspect;
pub(crate) mod image_list;
mod image_remove;
mod image_tag;
mod info;
mod inspect;
pub(crate) mod kill;
mod list;
mod logs;
mod network;
mod pause;
mod prune;
pub(crate) mod registry;
mod remove;
mod rename;
mod restart;
mod size;
mod start;
mod stats;
mod stop;
pub(crate) mod storage_info;
mod top;
mod update;
mod wait;
