//! The typed requests and responses of the image and registry operations (ops/image_*.rs,
//! ops/registry.rs): what front ends build and render, with Docker's field names where they
//! are serialized.

use std::collections::BTreeMap;

/// One `repo:tag` or `repo@digest` of an image, split for display.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepoRef {
    /// The familiar repository name (`busybox`, `localhost:5000/x`).
    pub repository: String,
    /// The full normalized name (`docker.io/library/busybox`): equal for the tag and digest
    /// references of one repository.
    pub name: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
    /// The familiar text (`busybox:latest`, `busybox@sha256:...`).
    pub familiar: String,
}

/// One image of `images` (Docker's `image.Summary`, with the references split).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImageSummary {
    /// `sha256:<hex>`
    pub id: String,
    pub parent_id: String,
    /// Tag references, sorted.
    pub tags: Vec<RepoRef>,
    /// Digest references, sorted.
    pub digests: Vec<RepoRef>,
    /// Unix seconds.
    pub created: i64,
    /// The config's `created` time as stored (RFC 3339, nanoseconds), if any.
    pub created_at: Option<String>,
    pub size: u64,
    /// Bytes of its layers that other images hold too (with
    /// [`ImageListOptions::shared_size`], Docker's `shared-size=1`).
    pub shared_size: Option<u64>,
    pub labels: BTreeMap<String, String>,
    /// No tag and no digest.
    pub dangling: bool,
}

impl ImageSummary {
    /// Docker's `RepoTags`.
    pub fn repo_tags(&self) -> Vec<String> {
        self.tags.iter().map(|r| r.familiar.clone()).collect()
    }
    /// Docker's `RepoDigests`.
    pub fn repo_digests(&self) -> Vec<String> {
        self.digests.iter().map(|r| r.familiar.clone()).collect()
    }
}

/// `images` options.
#[derive(Debug, Clone, Copy, Default)]
pub struct ImageListOptions {
    /// `-a`: intermediate images too.
    pub all: bool,
    /// Compute each image's [`ImageSummary::shared_size`] (`system df -v`).
    pub shared_size: bool,
}

/// Docker's image inspect object; a struct so that JSON output keeps Docker's field order.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageInspect {
    pub id: String,
    pub repo_tags: Vec<String>,
    pub repo_digests: Vec<String>,
    pub parent: String,
    pub comment: String,
    pub created: String,
    pub container: String,
    pub container_config: image::ContainerConfig,
    pub docker_version: String,
    pub author: String,
    pub config: Option<image::ContainerConfig>,
    pub architecture: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub variant: String,
    pub os: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os_version: Option<serde_json::Value>,
    pub size: u64,
    pub virtual_size: u64,
    pub graph_driver: ImageGraphDriver,
    #[serde(rename = "RootFS")]
    pub root_fs: ImageRootFs,
    pub metadata: ImageMetadata,
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageGraphDriver {
    pub data: Option<OverlayData>,
    pub name: String,
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct OverlayData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lower_dir: Option<String>,
    pub merged_dir: String,
    pub upper_dir: String,
    pub work_dir: String,
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageRootFs {
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageMetadata {
    pub last_tag_time: String,
}

/// One `history` entry (oldest first), with the size of the layer it made.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HistoryItem {
    /// Unix seconds (0: unknown).
    pub created: i64,
    pub created_by: String,
    pub comment: String,
    pub size: u64,
    pub empty_layer: bool,
}

/// An image's history: its ID and entries, oldest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImageHistory {
    pub id: String,
    pub items: Vec<HistoryItem>,
}

/// What `rmi`/`image prune` did, in Docker's order and wording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageDeleteItem {
    Untagged(String),
    Deleted(String),
}

/// `image prune` results.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImagePruneReport {
    pub deleted: Vec<ImageDeleteItem>,
    pub space_reclaimed: u64,
}

/// `import` of a root filesystem tar.
#[derive(Debug, Clone, Default)]
pub struct ImportRequest {
    /// `repo[:tag]` to tag the image with.
    pub reference: Option<String>,
    /// `-c` Dockerfile instructions.
    pub changes: Vec<String>,
    /// `-m`
    pub message: Option<String>,
    /// `--platform` architecture ("amd64"...); None = the host's.
    pub architecture: Option<String>,
}

/// Where registries are reached and credentials kept.
#[derive(Debug, Clone, Default)]
pub struct RegistrySettings {
    /// Registries (`host[:port]`) reached over plain HTTP when HTTPS fails.
    pub insecure_registries: Vec<String>,
}

/// `pull`
#[derive(Debug, Clone, Default)]
pub struct PullRequest {
    /// `NAME[:TAG|@DIGEST]`
    pub reference: String,
    /// `--platform os/arch[/variant]`; None = the host's.
    pub platform: Option<String>,
    /// `-a`
    pub all_tags: bool,
    /// `-q` (hides messages and statuses; results are reported either way).
    pub quiet: bool,
    pub registry: RegistrySettings,
}

/// One image a pull brought (or found up to date).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PullResult {
    /// `docker.io/library/busybox:latest`
    pub reference: String,
    pub image_id: String,
    pub digest: String,
    pub downloaded: bool,
}

/// `push`
#[derive(Debug, Clone, Default)]
pub struct PushRequest {
    /// `NAME[:TAG]`
    pub reference: String,
    /// `-a`: every tag of the repository.
    pub all_tags: bool,
    /// `-q`: the pushed references are reported as results.
    pub quiet: bool,
    pub registry: RegistrySettings,
}

/// `login`
#[derive(Debug, Clone, Default)]
pub struct LoginRequest {
    /// None = Docker Hub.
    pub server: Option<String>,
    pub username: String,
    pub password: String,
    pub registry: RegistrySettings,
}

/// What a pull or push reports while it runs (front ends render them, e.g. as Docker's
/// per-layer lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProgressEvent {
    /// A line such as "latest: Pulling from library/busybox" (not shown with `-q`).
    Message(String),
    /// The operation's result line (shown with `-q` too).
    Result(String),
    /// A layer's status change: "Pulling fs layer", "Download complete", "Pull complete"...
    Status { id: String, status: String },
    /// Transfer progress of a layer.
    Bytes {
        id: String,
        action: String,
        current: u64,
        total: Option<u64>,
    },
}

impl From<registry::Event> for ProgressEvent {
    fn from(e: registry::Event) -> Self {
        match e {
            registry::Event::Message(m) => ProgressEvent::Message(m),
            registry::Event::Result(m) => ProgressEvent::Result(m),
            registry::Event::Status { id, status } => ProgressEvent::Status { id, status },
            registry::Event::Bytes {
                id,
                action,
                current,
                total,
            } => ProgressEvent::Bytes {
                id,
                action,
                current,
                total,
            },
        }
    }
}

/// The storage facts `info` and `system df` show.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StorageInfo {
    /// `overlay2`, `vfs`...
    pub driver: String,
    /// The driver's `DriverStatus` pairs.
    pub driver_status: Vec<(String, String)>,
    pub images: usize,
}

/// The short (12 hex digits) form of an ID, without `sha256:`.
pub fn short_id(id: &str) -> String {
    image::short_id(id)
}

/// Docker's name for the host architecture (`amd64`, `arm64`...).
pub fn host_architecture() -> &'static str {
    image::import::host_architecture()
}
