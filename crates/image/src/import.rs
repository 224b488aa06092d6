//! `import`: a root filesystem tar (plain, gzip or zstd) becomes a one-layer image.

use crate::change::apply_changes;
use crate::config::{ContainerConfig, History, ImageConfig, RootFs};
use crate::store::ImageStore;
use crate::{Reference, Result};
use std::io::Read;

#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Dockerfile instructions (`-c`).
    pub changes: Vec<String>,
    /// `-m`: replaces the default "Imported from <source>" comment.
    pub message: Option<String>,
    /// Where the tar came from, for the default comment ("-" for stdin and files, like Docker).
    pub source: String,
    pub reference: Option<Reference>,
    /// "amd64" etc.; defaults to the host's.
    pub architecture: Option<String>,
}

/// Docker's name for the host architecture.
pub fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    }
}

/// The config bytes of an imported image.
pub fn import_config(diff_id: &str, opts: &ImportOptions, created: &str) -> Result<Vec<u8>> {
    let mut cfg = ContainerConfig::default();
    apply_changes(&mut cfg, &opts.changes)?;
    let comment = opts
        .message
        .clone()
        .unwrap_or_else(|| format!("Imported from {}", opts.source));
    let img = ImageConfig {
        comment: comment.clone(),
        created: Some(created.to_string()),
        container_config: Some(ContainerConfig::default()),
        docker_version: concat!("berth-", env!("CARGO_PKG_VERSION")).to_string(),
        config: Some(cfg),
        architecture: opts
            .architecture
            .clone()
            .unwrap_or_else(|| host_architecture().to_string()),
        os: "linux".into(),
        rootfs: Some(RootFs {
            kind: "layers".into(),
            diff_ids: vec![diff_id.to_string()],
            extra: Default::default(),
        }),
        history: vec![History {
            created: Some(created.to_string()),
            comment,
            ..Default::default()
        }],
        ..Default::default()
    };
    Ok(serde_json::to_vec(&img).expect("serializable"))
}

/// Imports `tar` as a new image; tags it if a reference was given. Returns the image ID.
pub fn import(store: &ImageStore, tar: &mut dyn Read, opts: &ImportOptions) -> Result<String> {
    // Validate the changes before the (possibly long) unpack.
    let mut probe = ContainerConfig::default();
    apply_changes(&mut probe, &opts.changes)?;
    let mut op = store.begin()?;
    let layer = store.layers().register(tar, None, None)?;
    op.took(&layer.chain_id)?;
    let created = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let raw = import_config(&layer.diff_id, opts, &created)?;
    let lock = store.lock()?;
    let (id, _) = store.create_locked(&lock, &mut op, &raw, None)?;
    if let Some(r) = &opts.reference {
        store.tag_locked(&lock, &id, r)?;
    }
    drop(lock);
    op.release_all()?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_of_import() {
        let opts = ImportOptions {
            changes: vec!["CMD [\"sh\"]".into(), "ENV A=1".into()],
            source: "-".into(),
            ..Default::default()
        };
        let raw = import_config("sha256:abc", &opts, "2024-01-01T00:00:00Z").unwrap();
        let v: serde_json::Value = serde_json::from_slice(&raw).unwrap();
        assert_eq!(v["comment"], "Imported from -");
        assert_eq!(v["history"][0]["comment"], "Imported from -");
        assert_eq!(v["os"], "linux");
        assert_eq!(v["config"]["Cmd"][0], "sh");
        assert_eq!(v["config"]["Env"][0], "A=1");
        assert_eq!(v["config"]["Entrypoint"], serde_json::Value::Null);
        assert_eq!(v["rootfs"]["type"], "layers");
        assert_eq!(v["rootfs"]["diff_ids"][0], "sha256:abc");
        let opts = ImportOptions {
            message: Some("msg".into()),
            changes: vec!["BOGUS x".into()],
            ..Default::default()
        };
        assert!(import_config("sha256:abc", &opts, "x").is_err());
    }
}
