//! `berth-runtime spec` (a default config.json like `runc spec`) and `features`.
//!
//! STATUS: interface stub — being implemented.

/// The default spec runc writes (terminal true, `sh`, default capabilities, mounts, masked paths).
/// `rootless` adds a user namespace with the caller's uid/gid mapped, like `runc spec --rootless`.
pub fn default_spec(rootless: bool) -> serde_json::Value {
    let _ = rootless;
    serde_json::json!({})
}

/// The `features` document (OCI runtime-spec features.md).
pub fn features() -> serde_json::Value {
    serde_json::json!({})
}
