//! OCI hooks (prestart, createRuntime, createContainer, startContainer, poststart, poststop):
//! each runs with the container's state JSON on stdin and its own timeout.
//!
//! STATUS: interface stub — being implemented.

use crate::Result;
use oci_spec::runtime::Hook;

/// Runs `hooks` in order; the first failure (non-zero exit, timeout, spawn error) stops them.
pub fn run_hooks(hooks: &[Hook], state_json: &[u8]) -> Result<()> {
    let _ = (hooks, state_json);
    Ok(())
}
