//! berth's registry client: the OCI Distribution API with Docker Hub's conventions.
//!
//! - [`pull`]: manifest (Docker schema2, OCI, manifest lists / indexes with platform selection),
//!   config and layers, each byte verified against its digest; layers download in parallel and
//!   stream (sha256-verified, decompressed) straight into the layer store, unpacked concurrently
//!   and committed in order (each only after its blob digest checked out).
//! - [`push`]: HEAD before upload, cross-repository mounts, monolithic and chunked uploads,
//!   manifest PUT as Docker schema2.
//! - [`login`] / [`logout`]: credentials in `~/.docker/config.json`, shared with Docker.
//! - [`Client`]: the protocol level (ping, Bearer/Basic auth with a token cache per scope, blobs,
//!   manifests, uploads) for callers and tests that need it directly.
//!
//! Output for the CLI goes through [`progress::Progress`] (Docker-style per-layer lines).
//!
//! Wiring for a front end (`berth pull -q busybox`):
//!
//! ```no_run
//! let store = image::ImageStore::open(std::path::Path::new("/var/lib/berth"), None)?;
//! let opts = registry::PullOptions {
//!     reference: "busybox".into(),
//!     ..Default::default()
//! };
//! let pulled = registry::pull(&store, &opts, &registry::Progress::stdout(true))?;
//! println!("{}", pulled[0].image_id);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod auth;
pub mod client;
pub mod digest;
pub mod manifest;
pub mod metadata;
pub mod progress;
pub mod pull;
pub mod push;

pub use auth::{login, logout, LoginOptions};
pub use client::{Client, RegistryOptions};
pub use manifest::Platform;
pub use progress::{Event, Progress};
pub use pull::{pull, PullOptions, PullResult};
pub use push::{push, PushOptions, PushResult};

pub type Result<T> = std::result::Result<T, Error>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Image(#[from] image::Error),
    #[error(transparent)]
    Storage(#[from] storage::Error),
    /// Could not talk to the registry at all (DNS, connect, TLS, broken connection).
    #[error("{url}: {message}")]
    Transport { url: String, message: String },
    /// The registry answered with an error (Distribution's `errors` array, flattened).
    #[error("{0}")]
    Registry(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{what}: digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }
}

/// `sha256:<hex>` of `data`.
pub(crate) fn sha256_digest(data: &[u8]) -> String {
    image::sha256_digest(data)
}

/// The 12-hex short form Docker prints for layers.
pub(crate) fn short(digest: &str) -> String {
    image::short_id(digest)
}
