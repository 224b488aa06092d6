//! berth's layer store and graph drivers (overlay2, vfs, btrfs), Docker's on-disk layout.
//!
//! Two halves:
//! - the **layer store** (`layerdb`): read-only image layers by chain ID, reference counted,
//!   registered from (compressed) layer tars and streamed back out as tars with AUFS whiteouts;
//! - the **snapshotter** API for containers: `prepare` an `<id>-init` and an `<id>` layer on top of an
//!   image's top layer, get them back as mount specs, `diff`/`changes` of the writable layer, `remove`.
//!
//! Drivers only return mount specs; whoever runs the container performs the mount.
//!
//! STATUS: interface stub — being implemented (see crate docs in each module as they land).

use std::io::Read;
use std::path::{Path, PathBuf};

pub type Result<T> = std::result::Result<T, Error>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("layer {0} not found")]
    LayerNotFound(String),
    #[error("invalid layer: {0}")]
    InvalidLayer(String),
    #[error("layer digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch { expected: String, actual: String },
    #[error("storage driver {0} is not supported on this host")]
    DriverUnsupported(String),
    #[error("{0}")]
    Other(String),
}

/// A content digest, always in the `sha256:<64 hex>` form.
pub type Digest = String;

/// One read-only image layer, as recorded in `image/<driver>/layerdb/sha256/<chain-id>/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// sha256(parent chain id + " " + diff id), or the diff id for a base layer.
    pub chain_id: Digest,
    /// sha256 of the uncompressed layer tar.
    pub diff_id: Digest,
    pub parent: Option<Digest>,
    /// The driver's directory name for this layer (`overlay2/<cache-id>`).
    pub cache_id: String,
    /// Bytes of file content in this layer alone.
    pub size: u64,
}

/// A mount the caller performs (like containerd's `mount.Mount`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// "overlay", "bind", "btrfs"...
    pub kind: String,
    pub source: String,
    pub target: Option<PathBuf>,
    pub options: Vec<String>,
}

/// One entry of `docker diff`: kind is 'A', 'C' or 'D'.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub kind: char,
    pub path: String,
}

/// Files the engine puts into a container's `-init` layer.
#[derive(Debug, Clone, Default)]
pub struct InitLayerSpec {
    pub hostname: String,
    pub hosts: String,
    pub resolv_conf: String,
}

/// The layer store + graph driver under one `--root`.
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// Opens (creating if needed) the store under `root` (`--root`, default /var/lib/berth).
    /// `driver` = None auto-detects (btrfs root -> btrfs, overlay available -> overlay2, else vfs).
    pub fn open(root: &Path, driver: Option<&str>) -> Result<Store> {
        let _ = driver;
        Ok(Store {
            root: root.to_path_buf(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// "overlay2", "vfs" or "btrfs".
    pub fn driver_name(&self) -> &str {
        todo!()
    }

    /// Driver status lines for `berth info` (e.g. ("Backing Filesystem", "extfs")).
    pub fn driver_status(&self) -> Vec<(String, String)> {
        todo!()
    }

    /// Applies a layer tar (plain, gzip or zstd: sniffed) on top of `parent` as a streamed unpack,
    /// converting `.wh.` whiteouts, refusing path escapes, verifying `expected_diff_id` if given.
    /// Atomic: on any error nothing is left. If the resulting chain exists already, the new copy is
    /// discarded. Either way the returned layer carries one new reference owned by the caller.
    pub fn register(
        &self,
        tar: &mut dyn Read,
        parent: Option<&str>,
        expected_diff_id: Option<&str>,
    ) -> Result<Layer> {
        let _ = (tar, parent, expected_diff_id);
        todo!()
    }

    /// Takes one more reference on an existing layer.
    pub fn retain(&self, chain_id: &str) -> Result<Layer> {
        let _ = chain_id;
        todo!()
    }

    /// Looks a layer up by chain ID.
    pub fn get(&self, chain_id: &str) -> Result<Layer> {
        let _ = chain_id;
        todo!()
    }

    /// Drops one reference; a layer with none left is deleted, and releases its parent.
    /// Returns the chain IDs deleted.
    pub fn release(&self, chain_id: &str) -> Result<Vec<Digest>> {
        let _ = chain_id;
        todo!()
    }

    /// The layer's own content as an uncompressed tar with AUFS whiteouts (for save/push).
    pub fn layer_tar(&self, chain_id: &str) -> Result<Box<dyn Read + Send>> {
        let _ = chain_id;
        todo!()
    }

    /// Creates `<id>-init` (from `init`) and the writable `<id>` layer over `parent` (an image's top
    /// chain ID, or none for an empty rootfs). Returns the mounts that assemble the rootfs.
    pub fn prepare(
        &self,
        id: &str,
        parent: Option<&str>,
        init: &InitLayerSpec,
    ) -> Result<Vec<Mount>> {
        let _ = (id, parent, init);
        todo!()
    }

    /// The mounts of a prepared container layer.
    pub fn mounts(&self, id: &str) -> Result<Vec<Mount>> {
        let _ = id;
        todo!()
    }

    /// Driver data for inspect's GraphDriver.Data (LowerDir, UpperDir, WorkDir, MergedDir).
    pub fn metadata(&self, id: &str) -> Result<Vec<(String, String)>> {
        let _ = id;
        todo!()
    }

    /// The merged directory where the engine mounts the container's rootfs.
    pub fn merged_dir(&self, id: &str) -> PathBuf {
        let _ = id;
        todo!()
    }

    /// `docker diff`: changes of the writable layer `<id>` against its parents (init layer excluded).
    pub fn changes(&self, id: &str) -> Result<Vec<Change>> {
        let _ = id;
        todo!()
    }

    /// The writable layer's changes as a layer tar with AUFS whiteouts (for commit).
    pub fn diff_tar(&self, id: &str) -> Result<Box<dyn Read + Send>> {
        let _ = id;
        todo!()
    }

    /// Removes a container's `<id>` and `<id>-init` layers (unmounting first if needed).
    pub fn remove(&self, id: &str) -> Result<()> {
        let _ = id;
        todo!()
    }
}
