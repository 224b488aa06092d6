#![recursion_limit = "256"]
//! berth's Docker Engine API server (`berth system service`).
//!
//! HTTP/1.1 (hyper) on a unix socket (or a loopback TCP port, or a socket systemd passes),
//! on a single-threaded tokio runtime; every engine call runs on the blocking pool, since
//! the engine's operations are synchronous. The server only translates HTTP <-> engine
//! calls: containers keep running when it stops (their monitors own them), and the CLI can
//! act on the same root at the same time.

mod body;
mod containers;
mod error;
mod execs;
mod filters;
mod hijack;
mod images;
mod listen;
mod networks;
mod reaper;
mod router;
mod state;
mod stats;
mod system;
mod versions;
mod volumes;
mod wait;

pub use listen::{parse_address, Address};

use std::sync::Arc;
use std::time::Duration;

/// What `berth system service` was asked for.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub engine: engine::EngineOptions,
    /// None: the default socket `<runroot>/berth.sock` (or systemd's, with `LISTEN_FDS`).
    pub address: Option<Address>,
    /// Exit after this long without a connection (None: never).
    pub idle_timeout: Option<Duration>,
    /// Registries (`host[:port]`) reached over plain HTTP (pull, push).
    pub insecure_registries: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{0}")]
    Listen(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Serves until the idle timeout passes (or forever).
pub fn serve(opts: ServeOptions) -> Result<(), ServeError> {
    // Engine calls run on up to a few hundred blocking threads under load; glibc would give
    // each its own arena and keep them. Two arenas keep the idle server small.
    // SAFETY: mallopt before any other thread exists.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, 2) };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .max_blocking_threads(256)
        .thread_keep_alive(Duration::from_secs(10))
        .build()?;
    rt.block_on(async move {
        let listener = listen::open(&opts)?;
        let state = Arc::new(state::State::new(
            opts.engine.clone(),
            opts.insecure_registries.clone(),
        ));
        reaper::spawn(state.clone());
        listen::accept_loop(listener, state, opts.idle_timeout).await
    })
}
