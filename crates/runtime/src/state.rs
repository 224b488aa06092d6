//! Runtime state (in progress).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status { Creating, Created, Running, Paused, Stopped }
pub struct State;
