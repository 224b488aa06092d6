//! Manifest media types, documents and platform selection.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
pub const SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const DOCKER_FOREIGN_LAYER: &str = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

/// The Accept header of a manifest GET: everything we understand, plus schema1 so that the
/// registry answers with it (and we can say it is unsupported) instead of a 404.
pub fn accept_header() -> String {
    [
        DOCKER_MANIFEST,
        DOCKER_LIST,
        OCI_MANIFEST,
        OCI_INDEX,
        SCHEMA1_SIGNED,
        SCHEMA1,
    ]
    .join(", ")
}

/// Largest manifest accepted (Docker's limit).
pub const MAX_MANIFEST: u64 = 4 << 20;
/// Largest image config accepted.
pub const MAX_CONFIG: u64 = 8 << 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub size: u64,
    pub digest: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<PlatformDesc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

impl Descriptor {
    pub fn new(media_type: &str, size: u64, digest: &str) -> Descriptor {
        Descriptor {
            media_type: media_type.into(),
            size,
            digest: digest.into(),
            urls: None,
            platform: None,
            annotations: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PlatformDesc {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
}

/// An image manifest (Docker schema2 or OCI).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

/// A manifest list or OCI index.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Index {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub manifests: Vec<Descriptor>,
}

pub enum Parsed {
    Manifest(Box<Manifest>),
    Index(Index),
}

/// Parses a manifest body using the Content-Type, else its `mediaType`, else its shape.
pub fn parse(content_type: Option<&str>, body: &[u8]) -> Result<Parsed> {
    let v: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| Error::Invalid(format!("invalid manifest: {e}")))?;
    let ct = content_type
        .map(|c| c.split(';').next().unwrap_or("").trim().to_string())
        .filter(|c| !c.is_empty() && c != "application/json" && c != "text/plain");
    let mt = ct.or_else(|| v["mediaType"].as_str().map(str::to_string));
    let schema1 = || {
        Error::Unsupported(
            "schema1 manifests are not supported; the image must be pushed again with a current client"
                .into(),
        )
    };
    if v["schemaVersion"].as_u64() == Some(1) {
        return Err(schema1());
    }
    let bad = |e: serde_json::Error| Error::Invalid(format!("invalid manifest: {e}"));
    match mt.as_deref() {
        Some(SCHEMA1) | Some(SCHEMA1_SIGNED) => Err(schema1()),
        Some(DOCKER_LIST) | Some(OCI_INDEX) => {
            Ok(Parsed::Index(serde_json::from_value(v).map_err(bad)?))
        }
        Some(DOCKER_MANIFEST) | Some(OCI_MANIFEST) => Ok(Parsed::Manifest(Box::new(
            serde_json::from_value(v).map_err(bad)?,
        ))),
        Some(other) if v.get("manifests").is_none() && v.get("config").is_none() => Err(
            Error::Unsupported(format!("unsupported manifest media type {other}")),
        ),
        _ if v.get("manifests").is_some() => {
            Ok(Parsed::Index(serde_json::from_value(v).map_err(bad)?))
        }
        _ if v.get("config").is_some() => Ok(Parsed::Manifest(Box::new(
            serde_json::from_value(v).map_err(bad)?,
        ))),
        _ => Err(Error::Invalid(
            "invalid manifest: neither an image manifest nor an index".into(),
        )),
    }
}

/// A requested platform: `os/arch[/variant]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    /// The host's platform (linux/<arch>, arm64 → variant v8).
    pub fn host() -> Platform {
        let arch = image::import::host_architecture().to_string();
        let variant = match arch.as_str() {
            "arm64" => Some("v8".to_string()),
            _ => None,
        };
        Platform {
            os: "linux".into(),
            architecture: arch,
            variant,
        }
    }

    /// Parses `os[/arch[/variant]]` like `--platform`.
    pub fn parse(s: &str) -> Result<Platform> {
        let parts: Vec<&str> = s.split('/').collect();
        let bad = || {
            Error::Invalid(format!(
                "invalid platform \"{s}\": expected os/arch[/variant], e.g. linux/amd64"
            ))
        };
        if parts.is_empty() || parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
            return Err(bad());
        }
        let host = Platform::host();
        let os = parts[0].to_lowercase();
        let (architecture, variant) = match parts.len() {
            1 => (host.architecture, host.variant),
            _ => {
                let (a, v) = normalize_arch(
                    &parts[1].to_lowercase(),
                    parts.get(2).map(|v| v.to_lowercase()),
                );
                (a, v)
            }
        };
        Ok(Platform {
            os,
            architecture,
            variant,
        })
    }

    fn matches(&self, p: &PlatformDesc) -> bool {
        let (arch, variant) = normalize_arch(&p.architecture.to_lowercase(), p.variant.clone());
        if p.os.to_lowercase() != self.os || arch != self.architecture {
            return false;
        }
        match (&self.variant, &variant) {
            (None, _) => true,
            (Some(a), Some(b)) => a == b,
            // An arm64 entry without a variant is v8.
            (Some(a), None) => self.architecture == "arm64" && a == "v8",
        }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// containerd's normalization: aarch64 → arm64, x86_64 → amd64, arm64 variant 8 → v8.
fn normalize_arch(arch: &str, variant: Option<String>) -> (String, Option<String>) {
    match arch {
        "x86_64" | "x86-64" => ("amd64".into(), None),
        "i386" => ("386".into(), None),
        "aarch64" | "arm64" => {
            let v = match variant.as_deref() {
                Some("8") | Some("v8") | None => Some("v8".to_string()),
                Some(o) => Some(o.to_string()),
            };
            ("arm64".into(), v)
        }
        "armhf" => ("arm".into(), Some("v7".into())),
        "armel" => ("arm".into(), Some("v6".into())),
        "arm" => (
            "arm".into(),
            variant.map(|v| {
                if v.starts_with('v') {
                    v
                } else {
                    format!("v{v}")
                }
            }),
        ),
        a => (a.to_string(), variant),
    }
}

/// The entry of an index for `want` (the first match, like containerd's default matcher).
pub fn select<'a>(index: &'a Index, want: &Platform) -> Result<&'a Descriptor> {
    index
        .manifests
        .iter()
        .find(|d| d.platform.as_ref().is_some_and(|p| want.matches(p)))
        .ok_or_else(|| {
            Error::NotFound(format!(
                "no matching manifest for {want} in the manifest list entries"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(os: &str, arch: &str, variant: Option<&str>, d: &str) -> Descriptor {
        let mut x = Descriptor::new(DOCKER_MANIFEST, 1, d);
        x.platform = Some(PlatformDesc {
            architecture: arch.into(),
            os: os.into(),
            variant: variant.map(str::to_string),
            os_version: None,
        });
        x
    }

    #[test]
    fn selects_platform() {
        let idx = Index {
            schema_version: 2,
            media_type: Some(DOCKER_LIST.into()),
            manifests: vec![
                desc("linux", "arm", Some("v7"), "a"),
                desc("linux", "arm64", None, "b"),
                desc("windows", "amd64", None, "c"),
                desc("linux", "amd64", None, "d"),
                desc("linux", "arm", Some("v6"), "e"),
            ],
        };
        let amd = Platform::parse("linux/amd64").unwrap();
        assert_eq!(select(&idx, &amd).unwrap().digest, "d");
        assert_eq!(
            select(&idx, &Platform::parse("linux/arm64/v8").unwrap())
                .unwrap()
                .digest,
            "b"
        );
        assert_eq!(
            select(&idx, &Platform::parse("linux/aarch64").unwrap())
                .unwrap()
                .digest,
            "b"
        );
        assert_eq!(
            select(&idx, &Platform::parse("linux/arm/v6").unwrap())
                .unwrap()
                .digest,
            "e"
        );
        assert_eq!(
            select(&idx, &Platform::parse("windows/amd64").unwrap())
                .unwrap()
                .digest,
            "c"
        );
        let e = select(&idx, &Platform::parse("linux/s390x").unwrap()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no matching manifest for linux/s390x in the manifest list entries"
        );
        assert!(Platform::parse("linux//x").is_err());
        assert!(Platform::parse("a/b/c/d").is_err());
    }

    #[test]
    fn parses_kinds() {
        let m = br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
            "config":{"mediaType":"x","size":1,"digest":"sha256:aa"},"layers":[]}"#;
        assert!(matches!(parse(None, m).unwrap(), Parsed::Manifest(_)));
        assert!(matches!(
            parse(Some(OCI_MANIFEST), m).unwrap(),
            Parsed::Manifest(_)
        ));
        let i = br#"{"schemaVersion":2,"manifests":[]}"#;
        assert!(matches!(
            parse(Some("application/json"), i).unwrap(),
            Parsed::Index(_)
        ));
        let s1 = br#"{"schemaVersion":1,"name":"x","fsLayers":[]}"#;
        let e = parse(Some(SCHEMA1_SIGNED), s1).err().unwrap();
        assert!(e
            .to_string()
            .contains("schema1 manifests are not supported"));
        assert!(parse(None, b"nope").is_err());
    }
}
