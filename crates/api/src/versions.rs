//! API versions: what `/_ping` and `/version` announce and which `/vX.Y/` path prefixes are
//! accepted.

/// The newest API version served: the one the docker CLI 28 on the machine speaks.
pub const API_VERSION: &str = "1.50";
/// The oldest accepted in a path (skopeo's `docker-daemon:` sends `/v1.22/`).
pub const MIN_API_VERSION: &str = "1.22";

/// An API version (major, minor).
pub type Version = (u32, u32);

pub fn parse(v: &str) -> Option<(u32, u32)> {
    let (a, b) = v.split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Splits a `/vX.Y` prefix off `path`; an out-of-range version is Docker's 400 message.
pub fn strip(path: &str) -> Result<(Option<Version>, &str), String> {
    let Some(rest) = path.strip_prefix("/v") else {
        return Ok((None, path));
    };
    let (v, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let Some(ver) = parse(v) else {
        return Ok((None, path));
    };
    let max = parse(API_VERSION).unwrap_or((1, 50));
    let min = parse(MIN_API_VERSION).unwrap_or((1, 22));
    if ver > max {
        return Err(format!(
            "client version {v} is too new. Maximum supported API version is {API_VERSION}"
        ));
    }
    if ver < min {
        return Err(format!(
            "client version {v} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version"
        ));
    }
    Ok((Some(ver), tail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        assert_eq!(
            strip("/v1.44/containers/json"),
            Ok((Some((1, 44)), "/containers/json"))
        );
        assert_eq!(strip("/v1.22/_ping"), Ok((Some((1, 22)), "/_ping")));
        assert_eq!(strip("/_ping"), Ok((None, "/_ping")));
        assert!(strip("/v1.99/_ping").unwrap_err().contains("too new"));
        assert!(strip("/v1.12/_ping").unwrap_err().contains("too old"));
        // A path element that merely starts with v is no version.
        assert_eq!(strip("/volumes"), Ok((None, "/volumes")));
    }
}
