//! Image references with Docker's normalization rules (distribution/reference):
//! `busybox` → `docker.io/library/busybox:latest`, `host:port/repo:tag`, `name@sha256:…`.

use crate::{Error, Result};
use std::fmt;

pub const DEFAULT_DOMAIN: &str = "docker.io";
const LEGACY_DOMAIN: &str = "index.docker.io";
const OFFICIAL_PREFIX: &str = "library/";
pub const DEFAULT_TAG: &str = "latest";
const NAME_TOTAL_MAX: usize = 255;

/// A fully normalized reference: `domain/path[:tag][@digest]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    pub domain: String,
    pub path: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

fn invalid(why: &str) -> Error {
    if why.is_empty() {
        Error::InvalidReference("invalid reference format".into())
    } else {
        Error::InvalidReference(format!("invalid reference format: {why}"))
    }
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*`
fn valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() {
        return false;
    }
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        // A separator run: ".", "_", "__" or any number of "-".
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// `host(.host)*(:port)?` where host is `[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?`, or `[ipv6](:port)?`.
fn valid_domain(d: &str) -> bool {
    let (host, port) = if let Some(rest) = d.strip_prefix('[') {
        match rest.split_once(']') {
            Some((ip, tail)) => {
                if ip.is_empty() || !ip.chars().all(|c| c.is_ascii_hexdigit() || c == ':') {
                    return false;
                }
                match tail {
                    "" => return true,
                    t => return t.strip_prefix(':').is_some_and(valid_port),
                }
            }
            None => return false,
        }
    } else {
        match d.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (d, None),
        }
    };
    if let Some(p) = port {
        if !valid_port(p) {
            return false;
        }
    }
    !host.is_empty()
        && host.split('.').all(|c| {
            let b = c.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|x| x.is_ascii_alphanumeric() || *x == b'-')
        })
}

fn valid_port(p: &str) -> bool {
    !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())
}

/// `[\w][\w.-]{0,127}`
fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    let word = |x: u8| x.is_ascii_alphanumeric() || x == b'_';
    !b.is_empty()
        && b.len() <= 128
        && word(b[0])
        && b.iter().all(|x| word(*x) || *x == b'.' || *x == b'-')
}

/// `algorithm:hex` with sha256 requiring 64 lowercase hex digits.
pub fn valid_digest(d: &str) -> bool {
    match d.split_once(':') {
        Some(("sha256", hex)) => is_hex64(hex),
        Some((alg, hex)) => {
            !alg.is_empty()
                && alg.as_bytes()[0].is_ascii_alphabetic()
                && alg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_+.".contains(&b))
                && hex.len() >= 32
                && hex.bytes().all(|b| b.is_ascii_hexdigit())
        }
        None => false,
    }
}

pub fn is_hex64(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl Reference {
    /// Parses and normalizes like Docker's `ParseNormalizedNamed` (no default tag added).
    pub fn parse_normalized(s: &str) -> Result<Reference> {
        if s.is_empty() {
            return Err(invalid(""));
        }
        if is_hex64(s) {
            return Err(Error::InvalidReference(format!(
                "invalid repository name ({s}), cannot specify 64-byte hexadecimal strings"
            )));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((n, d)) => {
                if !valid_digest(d) {
                    return Err(invalid(""));
                }
                (n, Some(d.to_string()))
            }
            None => (s, None),
        };
        // A tag is a ':' after the last '/' (a ':' before it belongs to host:port).
        let last_slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let t = &rest[last_slash + i + 1..];
                if !valid_tag(t) {
                    return Err(invalid(""));
                }
                (&rest[..last_slash + i], Some(t.to_string()))
            }
            None => (rest, None),
        };
        if name.is_empty() {
            return Err(invalid(""));
        }
        // splitDockerDomain: the first component is a domain if it has '.' or ':', is
        // "localhost", or contains upper case (then it cannot be a path component).
        let (mut domain, mut path) = match name.split_once('/') {
            Some((first, remainder))
                if first.contains(['.', ':'])
                    || first == "localhost"
                    || first.to_lowercase() != first =>
            {
                (first.to_string(), remainder.to_string())
            }
            _ => (DEFAULT_DOMAIN.to_string(), name.to_string()),
        };
        if domain == LEGACY_DOMAIN {
            domain = DEFAULT_DOMAIN.to_string();
        }
        if domain == DEFAULT_DOMAIN && !path.contains('/') {
            path = format!("{OFFICIAL_PREFIX}{path}");
        }
        if path.to_lowercase() != path {
            return Err(invalid("repository name must be lowercase"));
        }
        if !valid_domain(&domain) || !path.split('/').all(valid_path_component) {
            return Err(invalid(""));
        }
        if domain.len() + 1 + path.len() > NAME_TOTAL_MAX {
            return Err(invalid(
                "repository name must not be more than 255 characters",
            ));
        }
        Ok(Reference {
            domain,
            path,
            tag,
            digest,
        })
    }

    /// Like `parse_normalized`, then `TagNameOnly`: adds `:latest` when neither tag nor digest.
    pub fn parse(s: &str) -> Result<Reference> {
        let mut r = Reference::parse_normalized(s)?;
        if r.tag.is_none() && r.digest.is_none() {
            r.tag = Some(DEFAULT_TAG.to_string());
        }
        Ok(r)
    }

    /// `docker.io/library/busybox`
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The short repository name Docker shows: `busybox`, `user/repo`, `localhost:5000/x`.
    pub fn familiar_name(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            match self.path.strip_prefix(OFFICIAL_PREFIX) {
                Some(rest) if !rest.contains('/') => rest.to_string(),
                _ => self.path.clone(),
            }
        } else {
            self.name()
        }
    }

    /// `busybox:latest`, `busybox@sha256:…`, `localhost:5000/x:1`.
    pub fn familiar_string(&self) -> String {
        self.render(self.familiar_name())
    }

    fn render(&self, mut s: String) -> String {
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d);
        }
        s
    }

    /// This reference without its digest (for tag keys) or without its tag (for digest keys).
    pub fn with_tag_only(&self) -> Reference {
        Reference {
            digest: None,
            ..self.clone()
        }
    }
    pub fn with_digest_only(&self) -> Reference {
        Reference {
            tag: None,
            ..self.clone()
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(self.name()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> String {
        Reference::parse(s).unwrap().to_string()
    }
    fn fam(s: &str) -> String {
        Reference::parse(s).unwrap().familiar_string()
    }
    fn err(s: &str) -> String {
        Reference::parse(s).unwrap_err().to_string()
    }

    #[test]
    fn normalizes_like_docker() {
        assert_eq!(n("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(n("busybox:1.36"), "docker.io/library/busybox:1.36");
        assert_eq!(n("user/repo"), "docker.io/user/repo:latest");
        assert_eq!(
            n("index.docker.io/busybox"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(
            n("docker.io/library/busybox"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(n("localhost:5000/x:1"), "localhost:5000/x:1");
        assert_eq!(n("localhost/x"), "localhost/x:latest");
        assert_eq!(n("quay.io/a/b/c:v1.2_3-x"), "quay.io/a/b/c:v1.2_3-x");
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            n(&format!("busybox@{d}")),
            format!("docker.io/library/busybox@{d}")
        );
        assert_eq!(
            n(&format!("busybox:1@{d}")),
            format!("docker.io/library/busybox:1@{d}")
        );
        assert_eq!(n("a__b-c---d/f_g.h"), "docker.io/a__b-c---d/f_g.h:latest");
        assert!(Reference::parse("a_b.c/x").is_err());
    }

    #[test]
    fn familiar_forms() {
        assert_eq!(fam("docker.io/library/busybox"), "busybox:latest");
        assert_eq!(fam("docker.io/user/repo:2"), "user/repo:2");
        assert_eq!(fam("docker.io/library/a/b"), "library/a/b:latest");
        assert_eq!(fam("localhost:5000/x:1"), "localhost:5000/x:1");
        assert_eq!(
            Reference::parse("busybox").unwrap().familiar_name(),
            "busybox"
        );
    }

    #[test]
    fn rejects_invalid() {
        assert_eq!(
            err("Busybox"),
            "invalid reference format: repository name must be lowercase"
        );
        assert_eq!(
            err("user/Repo"),
            "invalid reference format: repository name must be lowercase"
        );
        assert_eq!(err("busybox:"), "invalid reference format");
        assert_eq!(err(":tag"), "invalid reference format");
        assert_eq!(err("a//b"), "invalid reference format");
        assert_eq!(err("-a"), "invalid reference format");
        assert_eq!(err("a-"), "invalid reference format");
        assert_eq!(err("a@sha256:123"), "invalid reference format");
        assert_eq!(err("a:b:c"), "invalid reference format");
        assert_eq!(err(""), "invalid reference format");
        assert_eq!(err("a b"), "invalid reference format");
        assert!(err(&"a".repeat(64)).contains("64-byte hexadecimal"));
        assert!(err(&"a".repeat(256)).contains("255"));
        // Upper case in the first component makes it a domain: valid hostname.
        assert_eq!(n("Host.io/x"), "Host.io/x:latest");
        assert_eq!(err("busybox:-x"), "invalid reference format");
    }
}
