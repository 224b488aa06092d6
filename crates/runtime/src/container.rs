//! Container lifecycle (in progress).
pub struct Container;
pub struct CreateOptions;
pub struct ExecOptions;
