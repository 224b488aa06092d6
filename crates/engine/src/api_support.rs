//! What a long-lived front end (the API server) needs beyond the CLI's operations: typed
//! error kinds for status codes, and the pid of the monitor it forked so it can reap it.

use crate::{record, Engine, Error};

/// The class of an engine error, for a front end's status codes (HTTP 404/409/400/500).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    NotFound,
    Conflict,
    InvalidArgument,
    CommandNotFound,
    CannotInvoke,
    Detached,
    Internal,
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NoSuchContainer(_) | Error::NoSuchImage(_) => ErrorKind::NotFound,
            Error::Image(image::Error::NotFound(_)) => ErrorKind::NotFound,
            Error::NameInUse { .. } | Error::Conflict(_) => ErrorKind::Conflict,
            Error::Image(image::Error::Conflict(_)) => ErrorKind::Conflict,
            Error::Ambiguous(_) | Error::InvalidArgument(_) => ErrorKind::InvalidArgument,
            Error::Image(image::Error::InvalidReference(_) | image::Error::Invalid(_)) => {
                ErrorKind::InvalidArgument
            }
            Error::CommandNotFound(_) => ErrorKind::CommandNotFound,
            Error::CannotInvoke(_) => ErrorKind::CannotInvoke,
            Error::Detached => ErrorKind::Detached,
            _ => ErrorKind::Internal,
        }
    }
}

impl Engine {
    /// The pid of the container's monitor while it is alive (a child of this process when
    /// this process started the container).
    pub fn monitor_pid(&self, id: &str) -> Option<i32> {
        let id = self.resolve(id).ok()?;
        let r = record::load(&self.paths, &id).ok()?;
        (r.monitor_pid > 0 && r.monitor_alive()).then_some(r.monitor_pid as i32)
    }
}
