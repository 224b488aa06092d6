//! Per-instruction argument parsing (BuildKit's `line_parsers.go` and `split_command.go`).

use crate::parser::{node_from_line, Directives, Node, ParseError};

fn leaf(v: impl Into<String>) -> Node {
    Node {
        value: v.into(),
        ..Default::default()
    }
}

fn is_ws(c: char) -> bool {
    matches!(c, '\t' | '\x0b' | '\x0c' | '\r' | ' ')
}

/// Go's `regexp("[\t\v\f\r ]+").Split(s, n)` (n < 0: all).
fn split_ws(s: &str, n: isize) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s;
    loop {
        if n > 0 && out.len() as isize == n - 1 {
            out.push(rest.to_string());
            return out;
        }
        match rest.find(is_ws) {
            Some(i) => {
                out.push(rest[..i].to_string());
                let after = &rest[i..];
                let skip = after.len() - after.trim_start_matches(is_ws).len();
                rest = &after[skip..];
            }
            None => {
                out.push(rest.to_string());
                return out;
            }
        }
    }
}

/// Splits an instruction line into keyword, `--flags` and the rest.
pub(crate) fn split_command(line: &str) -> Result<(String, Vec<String>, String), ParseError> {
    let parts = split_ws(line.trim(), 2);
    let mut flags = Vec::new();
    let mut args = String::new();
    if parts.len() == 2 {
        let (a, f) = extract_builder_flags(&parts[1]);
        args = a;
        flags = f;
    }
    Ok((parts[0].clone(), flags, args.trim().to_string()))
}

fn extract_builder_flags(line: &str) -> (String, Vec<String>) {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let b = line.as_bytes();
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word: Vec<u8> = Vec::new();
    let mut quote = 0u8;
    let mut blank_ok = false;
    let mut ch = 0u8;
    let mut pos = 0;
    while pos <= b.len() {
        if pos != b.len() {
            ch = b[pos];
        }
        if phase == Phase::Spaces {
            if pos == b.len() {
                break;
            }
            if (ch as char).is_ascii_whitespace() || ch == 0x0b {
                pos += 1;
                continue;
            }
            if ch != b'-' || pos + 1 == b.len() || b[pos + 1] != b'-' {
                return (line[pos..].to_string(), words);
            }
            phase = Phase::Word;
        }
        if phase != Phase::Spaces && pos == b.len() {
            if word != b"--" && (blank_ok || !word.is_empty()) {
                words.push(String::from_utf8_lossy(&word).into_owned());
            }
            break;
        }
        if phase == Phase::Word {
            if (ch as char).is_ascii_whitespace() || ch == 0x0b {
                phase = Phase::Spaces;
                if word == b"--" {
                    return (line[pos..].to_string(), words);
                }
                if blank_ok || !word.is_empty() {
                    words.push(String::from_utf8_lossy(&word).into_owned());
                }
                word.clear();
                blank_ok = false;
                pos += 1;
                continue;
            }
            if ch == b'\'' || ch == b'"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
                pos += 1;
                continue;
            }
            if ch == b'\\' {
                if pos + 1 == b.len() {
                    pos += 1;
                    continue;
                }
                pos += 1;
                ch = b[pos];
            }
            word.push(ch);
            pos += 1;
            continue;
        }
        if phase == Phase::Quote {
            if ch == quote {
                phase = Phase::Word;
                pos += 1;
                continue;
            }
            if ch == b'\\' {
                if pos + 1 == b.len() {
                    phase = Phase::Word;
                    pos += 1;
                    continue;
                }
                pos += 1;
                ch = b[pos];
            }
            word.push(ch);
        }
        pos += 1;
    }
    (String::new(), words)
}

/// Dispatches the arguments to the instruction's parser: (argument nodes, json form).
pub(crate) fn dispatch(
    cmd: &str,
    rest: &str,
    d: &mut Directives,
) -> Result<(Vec<Node>, bool), ParseError> {
    match cmd.to_ascii_lowercase().as_str() {
        "add" | "copy" | "volume" => maybe_json_to_list(rest),
        "arg" => Ok((words(rest, d.escape).into_iter().map(leaf).collect(), false)),
        "cmd" | "entrypoint" | "run" | "shell" => maybe_json(rest),
        "env" => Ok((name_val(rest, "ENV", d.escape)?, false)),
        "label" => Ok((name_val(rest, "LABEL", d.escape)?, false)),
        "expose" | "from" => Ok((strings_ws(rest), false)),
        "healthcheck" => health(rest),
        "maintainer" | "stopsignal" | "user" | "workdir" => Ok((string(rest), false)),
        "onbuild" => {
            if rest.is_empty() {
                return Ok((vec![], false));
            }
            let child = node_from_line(rest, d)?;
            Ok((
                vec![Node {
                    children: vec![child],
                    ..Default::default()
                }],
                false,
            ))
        }
        _ => Ok((vec![], false)),
    }
}

/// Words as written (quotes kept, escapes kept), split on unquoted whitespace.
pub(crate) fn words(rest: &str, escape: char) -> Vec<String> {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let chars: Vec<char> = rest.chars().collect();
    let mut out = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut pos = 0;
    let n = chars.len();
    while pos <= n {
        let mut ch = if pos < n { chars[pos] } else { '\0' };
        if phase == Phase::Spaces {
            if pos == n {
                break;
            }
            if ch.is_whitespace() {
                pos += 1;
                continue;
            }
            phase = Phase::Word;
        }
        if phase != Phase::Spaces && pos == n {
            if blank_ok || !word.is_empty() {
                out.push(word.clone());
            }
            break;
        }
        if phase == Phase::Word {
            if ch.is_whitespace() {
                phase = Phase::Spaces;
                if blank_ok || !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
                word.clear();
                blank_ok = false;
                pos += 1;
                continue;
            }
            if ch == '\'' || ch == '"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
            }
            if ch == escape {
                if pos + 1 == n {
                    pos += 1;
                    continue;
                }
                word.push(ch);
                pos += 1;
                ch = chars[pos];
            }
            word.push(ch);
            pos += 1;
            continue;
        }
        if phase == Phase::Quote {
            if ch == quote {
                phase = Phase::Word;
            }
            if ch == escape && quote != '\'' {
                if pos + 1 == n {
                    phase = Phase::Word;
                    pos += 1;
                    continue;
                }
                pos += 1;
                word.push(ch);
                ch = chars[pos];
            }
            word.push(ch);
        }
        pos += 1;
    }
    out
}

fn kv(key: &str, value: &str, sep: &str) -> Vec<Node> {
    vec![leaf(key), leaf(value), leaf(sep)]
}

fn name_val(rest: &str, key: &str, escape: char) -> Result<Vec<Node>, ParseError> {
    let ws = words(rest, escape);
    if ws.is_empty() {
        return Ok(vec![]);
    }
    if !ws[0].contains('=') {
        let parts = split_ws(rest, 2);
        if parts.len() < 2 {
            return Err(ParseError::new(format!("{key} must have two arguments")));
        }
        return Ok(kv(&parts[0], &parts[1], ""));
    }
    let mut out = Vec::new();
    for w in ws {
        let Some((k, v)) = w.split_once('=') else {
            return Err(ParseError::new(format!(
                "Syntax error - can't find = in {}. Must be of the form: name=value",
                crate::parser::go_quote(&w)
            )));
        };
        out.extend(kv(k, v, "="));
    }
    Ok(out)
}

fn strings_ws(rest: &str) -> Vec<Node> {
    if rest.is_empty() {
        return vec![];
    }
    split_ws(rest, -1).into_iter().map(leaf).collect()
}

fn string(rest: &str) -> Vec<Node> {
    if rest.is_empty() {
        vec![]
    } else {
        vec![leaf(rest)]
    }
}

enum JsonErr {
    NotArray,
    NotStrings,
}

fn json(rest: &str) -> Result<Vec<Node>, JsonErr> {
    let rest = rest.trim_start();
    if !rest.starts_with('[') {
        return Err(JsonErr::NotArray);
    }
    let v: Vec<serde_json::Value> = serde_json::from_str(rest).map_err(|_| JsonErr::NotArray)?;
    v.into_iter()
        .map(|x| match x {
            serde_json::Value::String(s) => Ok(leaf(s)),
            _ => Err(JsonErr::NotStrings),
        })
        .collect()
}

const NOT_STRINGS: &str = "when using JSON array syntax, arrays must be comprised of strings only";

fn maybe_json(rest: &str) -> Result<(Vec<Node>, bool), ParseError> {
    if rest.is_empty() {
        return Ok((vec![], false));
    }
    match json(rest) {
        Ok(n) => Ok((n, true)),
        Err(JsonErr::NotStrings) => Err(ParseError::new(NOT_STRINGS)),
        Err(JsonErr::NotArray) => Ok((vec![leaf(rest)], false)),
    }
}

fn maybe_json_to_list(rest: &str) -> Result<(Vec<Node>, bool), ParseError> {
    match json(rest) {
        Ok(n) => Ok((n, true)),
        Err(JsonErr::NotStrings) => Err(ParseError::new(NOT_STRINGS)),
        Err(JsonErr::NotArray) => Ok((strings_ws(rest), false)),
    }
}

fn health(rest: &str) -> Result<(Vec<Node>, bool), ParseError> {
    let sep = rest.find(char::is_whitespace).unwrap_or(rest.len());
    if sep == 0 {
        return Ok((vec![], false));
    }
    let typ = &rest[..sep];
    let after = rest[sep..].trim_start();
    let (mut cmd, json) = maybe_json(after)?;
    let mut out = vec![leaf(typ)];
    out.append(&mut cmd);
    Ok((out, json))
}
