//! `--detach-keys` and `detachKeys` of the Docker CLI's config.json: Docker's key-sequence
//! format (moby/term `ToBytes`: comma-separated `ctrl-<value>` or single characters) and
//! Docker's precedence (the flag, else the config file, else Ctrl-P Ctrl-Q).

use crate::Failure;

/// moby/term's `ctrl-` names, in code order (ctrl-@ = 0 ... ctrl-_ = 31).
const CTRL: [&str; 32] = [
    "ctrl-@", "ctrl-a", "ctrl-b", "ctrl-c", "ctrl-d", "ctrl-e", "ctrl-f", "ctrl-g", "ctrl-h",
    "ctrl-i", "ctrl-j", "ctrl-k", "ctrl-l", "ctrl-m", "ctrl-n", "ctrl-o", "ctrl-p", "ctrl-q",
    "ctrl-r", "ctrl-s", "ctrl-t", "ctrl-u", "ctrl-v", "ctrl-w", "ctrl-x", "ctrl-y", "ctrl-z",
    "ctrl-[", "ctrl-\\", "ctrl-]", "ctrl-^", "ctrl-_",
];

/// Parses a key sequence; None when a key is unknown.
pub fn parse(spec: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for key in spec.split(',') {
        if key.len() == 1 {
            out.push(key.as_bytes()[0]);
        } else if let Some(code) = CTRL.iter().position(|c| *c == key) {
            out.push(code as u8);
        } else if key == "DEL" {
            out.push(127);
        } else {
            return None;
        }
    }
    Some(out)
}

/// The Docker CLI's config dir: $DOCKER_CONFIG, else ~/.docker.
fn config_file() -> Option<std::path::PathBuf> {
    match std::env::var_os("DOCKER_CONFIG") {
        Some(d) if !d.is_empty() => Some(std::path::PathBuf::from(d).join("config.json")),
        _ => std::env::var_os("HOME")
            .map(|h| std::path::PathBuf::from(h).join(".docker/config.json")),
    }
}

/// `detachKeys` of the config file ("" when absent or unreadable).
fn from_config() -> String {
    config_file()
        .and_then(|p| std::fs::read(p).ok())
        .and_then(|d| serde_json::from_slice::<serde_json::Value>(&d).ok())
        .and_then(|v| v["detachKeys"].as_str().map(String::from))
        .unwrap_or_default()
}

/// Which command asks: Docker's daemon words the error differently for `exec`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum For {
    Attach,
    Exec,
}

/// The detach sequence for a session: `flag`, else the config file's, else Ctrl-P Ctrl-Q.
/// An invalid spec fails with Docker's daemon message and `code`.
pub fn resolve(flag: Option<&str>, what: For, code: i32) -> Result<Vec<u8>, Failure> {
    let spec = match flag {
        Some(f) if !f.is_empty() => f.to_string(),
        _ => from_config(),
    };
    if spec.is_empty() {
        return Ok(engine::detach::DEFAULT_KEYS.to_vec());
    }
    parse(&spec).ok_or_else(|| {
        let word = if what == For::Exec {
            "escape"
        } else {
            "detach"
        };
        Failure::new(format!("Invalid {word} keys ({spec}) provided"), code)
    })
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn docker_key_format() {
        assert_eq!(parse("ctrl-p,ctrl-q"), Some(vec![16, 17]));
        assert_eq!(parse("ctrl-a,a"), Some(vec![1, b'a']));
        assert_eq!(parse("ctrl-@,ctrl-_,ctrl-\\,DEL,,"), None);
        assert_eq!(
            parse("ctrl-@,ctrl-_,ctrl-\\,DEL"),
            Some(vec![0, 31, 28, 127])
        );
        assert_eq!(parse("abc"), None);
        assert_eq!(parse("ctrl-0"), None);
        assert_eq!(parse("ctrl-P"), None);
        assert_eq!(parse("x,yy"), None);
    }
}
