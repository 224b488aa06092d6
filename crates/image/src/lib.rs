//! berth's image store: references, image configs, tags (`repositories.json`), import,
//! docker-archive save/load and OCI layout load, on top of the `storage` layer store.
//!
//! On-disk layout under `--root` (Docker's): `image/<driver>/imagedb/content/sha256/<id>` (config
//! bytes), `image/<driver>/imagedb/metadata/sha256/<id>/{parent,lastUpdated}`,
//! `image/<driver>/repositories.json`. Mutations take `image/<driver>/repositories.json.lock`; every file is
//! written atomically. Layer references taken by a load/import in progress are journaled under
//! `image/<driver>/tmp/op-*/` so a killed process's references are released by the next one.

pub mod archive;
pub mod change;
pub mod config;
pub mod healthcheck;
pub mod import;
pub mod reference;
pub mod store;

pub use config::{ContainerConfig, History, ImageConfig, RootFs};
pub use reference::Reference;
pub use store::{DeleteItem, Image, ImageStore};

use sha2::{Digest as _, Sha256};

pub type Result<T> = std::result::Result<T, Error>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Docker's wording: "invalid reference format[: why]".
    #[error("{0}")]
    InvalidReference(String),
    #[error("No such image: {0}")]
    NotFound(String),
    /// Removal refused (tags in several repositories, a container uses it, child images).
    #[error("{0}")]
    Conflict(String),
    /// Bad input: archive, config, change instruction.
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Unsupported(String),
    #[error(transparent)]
    Storage(#[from] storage::Error),
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
pub fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// The 12-hex short form Docker prints for IDs.
pub fn short_id(id: &str) -> String {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    hex.chars().take(12).collect()
}
