//! berth's engine: containers and their lifecycle, composed from the runtime, storage, image and
//! network crates. No daemon: every call works on the store under `--root`/`--runroot`, and a
//! small per-container monitor owns each running container.
//!
//! STATUS: being built (issue 4). `types` holds Docker's API shapes.

pub mod network;
pub mod types;
