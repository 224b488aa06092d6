//! Engine errors and their Docker exit codes.

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
    Network(String),
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
        match self {
            Error::CommandNotFound(_) => 127,
            Error::CannotInvoke(_) => 126,
            _ => 125,
        }
    }
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }
}

impl From<::network::Error> for Error {
    fn from(e: ::network::Error) -> Self {
        Error::Network(e.to_string())
    }
}
