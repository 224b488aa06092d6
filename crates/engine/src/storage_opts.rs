//! `--storage-opt` (HostConfig.StorageOpt): the per-container layer options berth applies, and
//! the refusal of every other one (a storage option is applied exactly or refused, never
//! ignored).
//!
//! Applied: `volatile=true|false` on overlay2 — the container layer is mounted with
//! overlayfs' `volatile` (no sync of the upper filesystem: `fsync` in the container returns
//! without the data on disk, lost on a host crash). Durable (false) is the default, as Docker.
//! Refused: `size` (Docker applies it only on overlay over xfs with project quotas, which
//! berth does not set up), and any other key.

use crate::types::HostConfig;
use crate::{Error, Result};

/// Checks a container's storage options against the layer driver it is created on.
pub fn validate(host: &HostConfig, driver: &str) -> Result<()> {
    for (key, value) in host.storage_opt.iter().flatten() {
        match key.to_ascii_lowercase().as_str() {
            "volatile" => {
                parse_bool(value).ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "invalid --storage-opt volatile={value}: expected true or false"
                    ))
                })?;
                if driver != "overlay2" {
                    return Err(Error::InvalidArgument(format!(
                        "--storage-opt volatile is supported only with the overlay2 storage driver (this root uses {driver})"
                    )));
                }
            }
            "size" => {
                return Err(Error::InvalidArgument(format!(
                    "--storage-opt size is not supported: berth sets no disk quota on {driver} container layers (Docker: only overlay over xfs with 'pquota')"
                )))
            }
            _ => {
                return Err(Error::InvalidArgument(format!(
                    "--storage-opt {key}: unknown option (supported: volatile=true|false on overlay2)"
                )))
            }
        }
    }
    Ok(())
}

/// Whether the container's layer is mounted volatile (`--storage-opt volatile=true`).
pub fn volatile(host: &HostConfig) -> bool {
    host.storage_opt
        .iter()
        .flatten()
        .find(|(k, _)| k.eq_ignore_ascii_case("volatile"))
        .and_then(|(_, v)| parse_bool(v))
        .unwrap_or(false)
}

/// Go's `strconv.ParseBool`, as Docker parses boolean options.
fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(opts: &[(&str, &str)]) -> HostConfig {
        HostConfig {
            storage_opt: Some(
                opts.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..Default::default()
        }
    }

    #[test]
    fn volatile_is_applied_or_refused() {
        assert!(!volatile(&HostConfig::default()));
        assert!(validate(&HostConfig::default(), "vfs").is_ok());
        let h = host(&[("volatile", "true")]);
        assert!(volatile(&h));
        assert!(validate(&h, "overlay2").is_ok());
        let e = validate(&h, "vfs").unwrap_err().to_string();
        assert!(
            e.contains("--storage-opt volatile") && e.contains("vfs"),
            "{e}"
        );
        let h = host(&[("volatile", "false")]);
        assert!(!volatile(&h) && validate(&h, "overlay2").is_ok());
        let e = validate(&host(&[("volatile", "yes")]), "overlay2").unwrap_err();
        assert!(e.to_string().contains("volatile=yes"), "{e}");
    }

    #[test]
    fn size_and_unknown_keys_are_refused() {
        let e = validate(&host(&[("size", "10G")]), "overlay2").unwrap_err();
        assert!(e.to_string().contains("--storage-opt size"), "{e}");
        assert_eq!(e.exit_code(), 125);
        let e = validate(&host(&[("foo", "1")]), "overlay2").unwrap_err();
        assert!(e.to_string().contains("--storage-opt foo"), "{e}");
    }
}
