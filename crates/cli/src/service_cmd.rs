//! `berth system service [--time SECONDS] [ADDRESS]`: the Docker Engine API server
//! (crates/api), as `podman system service`.

use crate::{CmdResult, Failure, Global};
use clap::Args;

#[derive(Args)]
pub struct ServiceArgs {
    /// Seconds without a connection before the service exits (0: never)
    #[arg(short = 't', long = "time", default_value_t = 5)]
    pub time: u64,
    /// unix:///path (default unix://<runroot>/berth.sock, or systemd's socket) or
    /// tcp://127.0.0.1:PORT
    pub address: Option<String>,
}

pub fn service(g: &Global, a: ServiceArgs) -> CmdResult {
    let address = a
        .address
        .as_deref()
        .map(api::parse_address)
        .transpose()
        .map_err(|e| Failure::new(e, 125))?;
    let opts = api::ServeOptions {
        engine: engine::EngineOptions {
            root: g.root.clone(),
            runroot: g.runroot.clone(),
            storage_driver: g.storage_driver.clone(),
        },
        address,
        idle_timeout: (a.time > 0).then(|| std::time::Duration::from_secs(a.time)),
        insecure_registries: g.insecure_registry.clone(),
    };
    api::serve(opts).map_err(|e| Failure::new(e.to_string(), 125))
}
