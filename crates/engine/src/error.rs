//! Engine errors: Docker's wording, and a kind front ends map to exit codes or HTTP statuses.

/// What went wrong, for front ends to map (the CLI to exit codes, an API server to HTTP
/// statuses) without reading messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// No such container, image, network... (HTTP 404)
    NotFound,
    /// The object's state or another object forbids it: name in use, running, in use by a
    /// container... (HTTP 409)
    Conflict,
    /// Bad request values: flags, references, filters, archives. (HTTP 400)
    InvalidArgument,
    /// The command exists but cannot be run (exit 126).
    NotExecutable,
    /// The command is not found in the container (exit 127).
    CommandNotFound,
    /// The user typed the detach keys: the session ended, the container runs on.
    Detached,
    /// Not implemented by berth (HTTP 501).
    Unsupported,
    /// A registry refused the credentials (HTTP 401).
    Unauthorized,
    /// A registry could not be reached or answered with an error (HTTP 502).
    Upstream,
    /// The engine failed: I/O, the kernel, the store (HTTP 500).
    Internal,
}

/// Engine errors. `Display` gives Docker's wording; [`Error::exit_code`] Docker's exit code for
/// `run`/`create`/`start`/`exec` (other commands exit 1 on any error).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// "No such container: x"
    #[error("No such container: {0}")]
    NoSuchContainer(String),
    /// "No such image: x"
    #[error("No such image: {0}")]
    NoSuchImage(String),
    /// A name already taken.
    #[error("Conflict. The container name \"/{name}\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name.")]
    NameInUse { name: String, id: String },
    /// An ID prefix that matches several containers.
    #[error("Multiple IDs found with provided prefix: {0}")]
    Ambiguous(String),
    /// The operation conflicts with the container's state ("You cannot remove a running
    /// container ...", "Container x is not running", "Container x is paused ...").
    #[error("{0}")]
    Conflict(String),
    /// Bad flag values or requests.
    #[error("{0}")]
    InvalidArgument(String),
    /// The user typed the detach keys: the session ended, the container (or exec'd process)
    /// runs on. Docker's CLI message.
    #[error("read escape sequence")]
    Detached,
    /// The command could not be found in the container (exit 127).
    #[error("{0}")]
    CommandNotFound(String),
    /// The command exists but cannot be run (exit 126).
    #[error("{0}")]
    CannotInvoke(String),
    #[error("{0}")]
    Runtime(#[from] runtime::Error),
    #[error("{0}")]
    Storage(#[from] storage::Error),
    #[error("{0}")]
    Image(#[from] image::Error),
    #[error("{0}")]
    Registry(#[from] registry::Error),
    #[error("{0}")]
    Network(#[from] ::network::Error),
    /// Something else not found, with Docker's message ("No such network: x").
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Volume(#[from] crate::volume::VolumeError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Other(String),
    /// A failed `build` (the Dockerfile line it points at, and the cause).
    #[error("{0}")]
    Build(Box<crate::build::BuildFailure>),
}

impl Error {
    /// Docker's exit code for this error at `run`/`create`/`start`/`exec`: 127 command not
    /// found, 126 cannot invoke, 125 for any other engine error.
    pub fn exit_code(&self) -> i32 {
        match self.kind() {
            ErrorKind::CommandNotFound => 127,
            ErrorKind::NotExecutable => 126,
            _ => 125,
        }
    }
    /// The kind of error, for exit codes and HTTP statuses.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NoSuchContainer(_) | Error::NoSuchImage(_) | Error::NotFound(_) => {
                ErrorKind::NotFound
            }
            Error::NameInUse { .. } | Error::Conflict(_) => ErrorKind::Conflict,
            Error::Ambiguous(_) | Error::InvalidArgument(_) => ErrorKind::InvalidArgument,
            Error::Detached => ErrorKind::Detached,
            Error::CommandNotFound(_) => ErrorKind::CommandNotFound,
            Error::CannotInvoke(_) => ErrorKind::NotExecutable,
            Error::Image(e) => image_kind(e),
            Error::Registry(e) => match e {
                registry::Error::Image(e) => image_kind(e),
                registry::Error::NotFound(_) => ErrorKind::NotFound,
                registry::Error::Unauthorized(_) => ErrorKind::Unauthorized,
                registry::Error::Transport { .. }
                | registry::Error::Registry(_)
                | registry::Error::DigestMismatch { .. } => ErrorKind::Upstream,
                registry::Error::Unsupported(_) => ErrorKind::Unsupported,
                registry::Error::Invalid(_) => ErrorKind::InvalidArgument,
                registry::Error::Storage(_) | registry::Error::Io { .. } => ErrorKind::Internal,
            },
            Error::Network(e) => match e {
                ::network::Error::NotFound(_) => ErrorKind::NotFound,
                ::network::Error::Exists(_) | ::network::Error::Conflict(_) => ErrorKind::Conflict,
                ::network::Error::Invalid(_) => ErrorKind::InvalidArgument,
                ::network::Error::Kernel(_) | ::network::Error::Io { .. } => ErrorKind::Internal,
            },
            Error::Volume(e) => match e {
                crate::volume::VolumeError::NotFound(_) => ErrorKind::NotFound,
                crate::volume::VolumeError::InUse { .. } => ErrorKind::Conflict,
                crate::volume::VolumeError::Invalid { .. }
                | crate::volume::VolumeError::InvalidFilter(_) => ErrorKind::InvalidArgument,
                crate::volume::VolumeError::UnknownDriver { .. } => ErrorKind::NotFound,
            },
            Error::Runtime(_) | Error::Storage(_) | Error::Io { .. } | Error::Other(_) => {
                ErrorKind::Internal
            }
            // A Dockerfile that does not build is the request's fault, as a bad flag is.
            Error::Build(_) => ErrorKind::InvalidArgument,
        }
    }

    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }
}

fn image_kind(e: &image::Error) -> ErrorKind {
    match e {
        image::Error::NotFound(_) => ErrorKind::NotFound,
        image::Error::Conflict(_) => ErrorKind::Conflict,
        image::Error::InvalidReference(_) | image::Error::Invalid(_) => ErrorKind::InvalidArgument,
        image::Error::Unsupported(_) => ErrorKind::Unsupported,
        image::Error::Storage(_) | image::Error::Io { .. } => ErrorKind::Internal,
    }
}
