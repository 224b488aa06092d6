//! `--change` Dockerfile instructions applied to an image config (import, commit):
//! ENV, CMD, ENTRYPOINT, WORKDIR, USER, EXPOSE, LABEL, VOLUME, STOPSIGNAL, ONBUILD, SHELL.

use crate::config::ContainerConfig;
use crate::{Error, Result};
use serde_json::Value;

fn bad(msg: impl Into<String>) -> Error {
    Error::Invalid(msg.into())
}

/// Splits Dockerfile words: whitespace separated, `"…"`/`'…'` quoting, backslash escapes.
/// Quotes are removed.
pub fn split_words(s: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (Some(q), c) if c == q => quote = None,
            (Some('\''), c) => cur.push(c),
            (_, '\\') => {
                in_word = true;
                match chars.next() {
                    Some(n) => cur.push(n),
                    None => cur.push('\\'),
                }
            }
            (_, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err(bad(format!("unterminated quote in {s:?}")));
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

/// JSON form (`["a","b"]`) or shell form (wrapped in `/bin/sh -c`).
fn cmd_form(rest: &str, shell: &Option<Vec<String>>) -> Vec<String> {
    if rest.trim_start().starts_with('[') {
        if let Ok(v) = serde_json::from_str::<Vec<String>>(rest.trim()) {
            return v;
        }
    }
    let mut v = shell
        .clone()
        .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()]);
    v.push(rest.trim().to_string());
    v
}

/// `K=V K2="v 2"` pairs, or the legacy `K V with spaces` form.
fn key_values(instr: &str, rest: &str) -> Result<Vec<(String, String)>> {
    let words = split_words(rest)?;
    if words.is_empty() {
        return Err(bad(format!("{instr} requires at least one argument")));
    }
    if !words[0].contains('=') {
        // Legacy form: first word is the key, the rest of the line the value.
        let t = rest.trim();
        let (k, v) = t
            .split_once(char::is_whitespace)
            .ok_or_else(|| bad(format!("{instr} must have two arguments")))?;
        let v = split_words(v)?.join(" ");
        return Ok(vec![(k.to_string(), v)]);
    }
    words
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(bad(format!(
                "{instr} names can not be blank or must be KEY=VALUE: {w:?}"
            ))),
        })
        .collect()
}

/// Applies change instructions in order, as dockerd's builder does: an ENTRYPOINT resets the
/// CMD inherited from before, but not one set by an earlier change of the same list
/// (`-c 'CMD [...]' -c 'ENTRYPOINT [...]'` keeps both).
pub fn apply_changes<S: AsRef<str>>(cfg: &mut ContainerConfig, changes: &[S]) -> Result<()> {
    let mut cmd_set = false;
    for ch in changes {
        let ch = ch.as_ref();
        let instr = ch
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let kept = cfg.cmd.clone();
        apply_change(cfg, ch)?;
        match instr.as_str() {
            "CMD" => cmd_set = true,
            "ENTRYPOINT" if cmd_set => cfg.cmd = kept,
            _ => {}
        }
    }
    Ok(())
}

/// Applies one change instruction (`CMD ["sh"]`, `ENV A=1`, …) to `cfg`.
pub fn apply_change(cfg: &mut ContainerConfig, change: &str) -> Result<()> {
    let line = change.trim();
    let (instr, rest) = match line.split_once(char::is_whitespace) {
        Some((i, r)) => (i, r.trim_start()),
        None => (line, ""),
    };
    let upper = instr.to_ascii_uppercase();
    match upper.as_str() {
        "ENV" => {
            let env = cfg.env.get_or_insert_with(Vec::new);
            for (k, v) in key_values("ENV", rest)? {
                let kv = format!("{k}={v}");
                match env.iter_mut().find(|e| e.split('=').next() == Some(&k)) {
                    Some(e) => *e = kv,
                    None => env.push(kv),
                }
            }
        }
        "LABEL" => {
            let labels = cfg.labels.get_or_insert_with(Default::default);
            for (k, v) in key_values("LABEL", rest)? {
                labels.insert(k, v);
            }
        }
        "CMD" => {
            cfg.cmd = Some(cmd_form(rest, &cfg.shell));
        }
        "ENTRYPOINT" => {
            let v = cmd_form(rest, &cfg.shell);
            cfg.entrypoint = Some(v);
            // Like the builder: a new ENTRYPOINT resets an inherited CMD.
            cfg.cmd = None;
        }
        "WORKDIR" => {
            let w = split_words(rest)?.join(" ");
            if w.is_empty() {
                return Err(bad("WORKDIR requires exactly one argument"));
            }
            cfg.working_dir = if w.starts_with('/') || cfg.working_dir.is_empty() {
                let base = if w.starts_with('/') { String::new() } else { "/".into() };
                format!("{base}{w}")
            } else {
                format!("{}/{}", cfg.working_dir.trim_end_matches('/'), w)
            };
        }
        "USER" => {
            let u = rest.trim();
            if u.is_empty() {
                return Err(bad("USER requires exactly one argument"));
            }
            cfg.user = u.to_string();
        }
        "EXPOSE" => {
            let ports = cfg.exposed_ports.get_or_insert_with(Default::default);
            for p in split_words(rest)? {
                let (port, proto) = p.split_once('/').unwrap_or((&p, "tcp"));
                let valid = !port.is_empty()
                    && port
                        .split('-')
                        .all(|x| x.parse::<u16>().is_ok())
                    && ["tcp", "udp", "sctp"].contains(&proto.to_ascii_lowercase().as_str());
                if !valid {
                    return Err(bad(format!("invalid containerPort: {p}")));
                }
                ports.insert(
                    format!("{port}/{}", proto.to_ascii_lowercase()),
                    Value::Object(Default::default()),
                );
            }
        }
        "VOLUME" => {
            let vols: Vec<String> = if rest.trim_start().starts_with('[') {
                serde_json::from_str(rest.trim())
                    .map_err(|e| bad(format!("VOLUME: invalid JSON array: {e}")))?
            } else {
                split_words(rest)?
            };
            if vols.is_empty() || vols.iter().any(|v| v.trim().is_empty()) {
                return Err(bad("VOLUME specified can not be an empty string"));
            }
            let m = cfg.volumes.get_or_insert_with(Default::default);
            for v in vols {
                m.insert(v, Value::Object(Default::default()));
            }
        }
        "STOPSIGNAL" => {
            let s = rest.trim();
            if s.is_empty() {
                return Err(bad("STOPSIGNAL requires exactly one argument"));
            }
            cfg.stop_signal = s.to_string();
        }
        "ONBUILD" => {
            if rest.trim().is_empty() {
                return Err(bad("ONBUILD requires at least one argument"));
            }
            cfg.on_build
                .get_or_insert_with(Vec::new)
                .push(rest.trim().to_string());
        }
        "HEALTHCHECK" => {
            cfg.healthcheck = Some(crate::healthcheck::parse(rest)?);
        }
        "SHELL" => {
            let v: Vec<String> = serde_json::from_str(rest.trim())
                .map_err(|_| bad("SHELL requires the arguments to be in JSON form"))?;
            cfg.shell = Some(v);
        }
        "" => return Err(bad("empty change instruction")),
        _ => {
            return Err(bad(format!(
                "{instr} is not a valid change command (supported: CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD, SHELL, STOPSIGNAL, USER, VOLUME, WORKDIR)"
            )))
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(changes: &[&str]) -> ContainerConfig {
        let mut c = ContainerConfig::default();
        for ch in changes {
            apply_change(&mut c, ch).unwrap();
        }
        c
    }

    #[test]
    fn cmd_and_entrypoint_forms() {
        let c = apply(&[r#"CMD ["sh", "-c", "echo hi"]"#]);
        assert_eq!(c.cmd.unwrap(), ["sh", "-c", "echo hi"]);
        let c = apply(&["cmd echo hi there"]);
        assert_eq!(c.cmd.unwrap(), ["/bin/sh", "-c", "echo hi there"]);
        let c = apply(&["CMD x", r#"ENTRYPOINT ["/bin/ep"]"#]);
        assert_eq!(c.entrypoint.unwrap(), ["/bin/ep"]);
        assert_eq!(c.cmd, None);
        let mut c = ContainerConfig {
            cmd: Some(vec!["inherited".into()]),
            ..Default::default()
        };
        apply_changes(
            &mut c,
            &[r#"CMD ["echo","hi"]"#, r#"ENTRYPOINT ["/bin/sh","-c"]"#],
        )
        .unwrap();
        assert_eq!(c.cmd.unwrap(), ["echo", "hi"]);
        assert_eq!(c.entrypoint.unwrap(), ["/bin/sh", "-c"]);
        let mut c = ContainerConfig {
            cmd: Some(vec!["inherited".into()]),
            ..Default::default()
        };
        apply_changes(&mut c, &[r#"ENTRYPOINT ["/ep"]"#]).unwrap();
        assert_eq!(c.cmd, None);
        let c = apply(&[r#"SHELL ["/bin/ash","-e","-c"]"#, "CMD ls"]);
        assert_eq!(c.cmd.unwrap(), ["/bin/ash", "-e", "-c", "ls"]);
    }

    #[test]
    fn env_label_forms() {
        let c = apply(&[
            r#"ENV A=1 B="two words" C=x\ y"#,
            "ENV D some value",
            "ENV A=3",
        ]);
        assert_eq!(
            c.env.unwrap(),
            ["A=3", "B=two words", "C=x y", "D=some value"]
        );
        let c = apply(&[r#"LABEL a=b "c d"='e f'"#]);
        let l = c.labels.unwrap();
        assert_eq!(l["a"], "b");
        assert_eq!(l["c d"], "e f");
    }

    #[test]
    fn ports_volumes_misc() {
        let c = apply(&[
            "EXPOSE 80 53/udp 8000-8001/TCP",
            r#"VOLUME ["/data", "/logs"]"#,
            "VOLUME /x /y",
            "WORKDIR /app",
            "WORKDIR sub",
            "USER nobody:nogroup",
            "STOPSIGNAL SIGQUIT",
        ]);
        let p: Vec<_> = c.exposed_ports.unwrap().into_keys().collect();
        assert_eq!(p, ["53/udp", "80/tcp", "8000-8001/tcp"]);
        let v: Vec<_> = c.volumes.unwrap().into_keys().collect();
        assert_eq!(v, ["/data", "/logs", "/x", "/y"]);
        assert_eq!(c.working_dir, "/app/sub");
        assert_eq!(c.user, "nobody:nogroup");
        assert_eq!(c.stop_signal, "SIGQUIT");
    }

    #[test]
    fn errors() {
        let mut c = ContainerConfig::default();
        assert!(apply_change(&mut c, "RUN echo")
            .unwrap_err()
            .to_string()
            .contains("not a valid change command"));
        assert!(apply_change(&mut c, "EXPOSE http").is_err());
        assert!(apply_change(&mut c, "ENV").is_err());
        assert!(apply_change(&mut c, "ENV A=\"x").is_err());
        assert!(apply_change(&mut c, "ENV =x").is_err());
        assert!(apply_change(&mut c, "SHELL sh").is_err());
        assert!(apply_change(&mut c, "USER").is_err());
    }
}
