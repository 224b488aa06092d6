//! The shell-word lexer and variable expansion of Dockerfile arguments (BuildKit's
//! `frontend/dockerfile/shell`): quotes, escapes, `$x`, `${x}`, `${x:-w}`, `${x-w}`,
//! `${x:+w}`, `${x+w}`, `${x:?w}`, `${x?w}`, `${x#p}`, `${x##p}`, `${x%p}`, `${x%%p}`,
//! `${x/p/r}`, `${x//p/r}`.

use regex::Regex;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct LexError(pub String);

fn err<T>(m: impl Into<String>) -> Result<T, LexError> {
    Err(LexError(m.into()))
}

/// Looks a variable up: `Some(value)` when set (possibly empty).
pub type EnvGetter<'a> = &'a dyn Fn(&str) -> Option<String>;

#[derive(Debug, Clone)]
pub struct Lex {
    pub escape: char,
    /// Keep quote characters in the result.
    pub raw_quotes: bool,
    /// Keep escape characters in the result.
    pub raw_escapes: bool,
    /// Leave references to unset variables as written.
    pub skip_unset_env: bool,
}

impl Lex {
    pub fn new(escape: char) -> Lex {
        Lex {
            escape,
            raw_quotes: false,
            raw_escapes: false,
            skip_unset_env: false,
        }
    }

    /// Expands one word (quotes removed, whitespace kept).
    pub fn process_word(&self, word: &str, env: EnvGetter) -> Result<String, LexError> {
        self.run(word, env).map(|r| r.0)
    }

    /// Expands and splits into words, as a shell would (unquoted expansions split).
    pub fn process_words(&self, word: &str, env: EnvGetter) -> Result<Vec<String>, LexError> {
        self.run(word, env).map(|r| r.1)
    }

    fn run(&self, src: &str, env: EnvGetter) -> Result<(String, Vec<String>), LexError> {
        let mut sw = ShellWord {
            chars: src.chars().collect(),
            pos: 0,
            lex: self,
            env,
        };
        sw.process_stop_on(&[], self.raw_escapes)
            .map_err(|e| LexError(format!("failed to process \"{src}\": {}", e.0)))
    }
}

struct ShellWord<'a> {
    chars: Vec<char>,
    pos: usize,
    lex: &'a Lex,
    env: EnvGetter<'a>,
}

#[derive(Default)]
struct Words {
    word: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, c: char) {
        if c.is_whitespace() && self.in_word {
            if !self.word.is_empty() {
                self.words.push(std::mem::take(&mut self.word));
                self.in_word = false;
            }
        } else if !c.is_whitespace() {
            self.add_raw_char(c);
        }
    }
    fn add_raw_char(&mut self, c: char) {
        self.word.push(c);
        self.in_word = true;
    }
    fn add_string(&mut self, s: &str) {
        for c in s.chars() {
            self.add_char(c);
        }
    }
    fn add_raw_string(&mut self, s: &str) {
        self.word.push_str(s);
        self.in_word = true;
    }
    fn get(mut self) -> Vec<String> {
        if !self.word.is_empty() {
            self.words.push(std::mem::take(&mut self.word));
        }
        self.words
    }
}

impl ShellWord<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }
    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn process_stop_on(
        &mut self,
        stops: &[char],
        raw_escapes: bool,
    ) -> Result<(String, Vec<String>), LexError> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(ch) = self.peek() {
            if stops.contains(&ch) {
                self.next();
                return Ok((result, words.get()));
            }
            match ch {
                '\'' => {
                    let t = self.single_quote()?;
                    result.push_str(&t);
                    words.add_raw_string(&t);
                }
                '"' => {
                    let t = self.double_quote()?;
                    result.push_str(&t);
                    words.add_raw_string(&t);
                }
                '$' => {
                    let t = self.dollar()?;
                    result.push_str(&t);
                    words.add_string(&t);
                }
                _ => {
                    let mut ch = self.next().unwrap();
                    if ch == self.lex.escape {
                        if raw_escapes {
                            words.add_raw_char(ch);
                            result.push(ch);
                        }
                        match self.next() {
                            None => break,
                            Some(c) => ch = c,
                        }
                        words.add_raw_char(ch);
                    } else {
                        words.add_char(ch);
                    }
                    result.push(ch);
                }
            }
        }
        if !stops.is_empty() {
            return err(format!(
                "unexpected end of statement while looking for matching {}",
                stops[0]
            ));
        }
        Ok((result, words.get()))
    }

    fn single_quote(&mut self) -> Result<String, LexError> {
        let mut r = String::new();
        let q = self.next().unwrap();
        if self.lex.raw_quotes {
            r.push(q);
        }
        loop {
            match self.next() {
                None => {
                    return err(
                        "unexpected end of statement while looking for matching single-quote",
                    )
                }
                Some('\'') => {
                    if self.lex.raw_quotes {
                        r.push('\'');
                    }
                    return Ok(r);
                }
                Some(c) => r.push(c),
            }
        }
    }

    fn double_quote(&mut self) -> Result<String, LexError> {
        let mut r = String::new();
        let q = self.next().unwrap();
        if self.lex.raw_quotes {
            r.push(q);
        }
        loop {
            match self.peek() {
                None => {
                    return err(
                        "unexpected end of statement while looking for matching double-quote",
                    )
                }
                Some('"') => {
                    self.next();
                    if self.lex.raw_quotes {
                        r.push('"');
                    }
                    return Ok(r);
                }
                Some('$') => {
                    let v = self.dollar()?;
                    r.push_str(&v);
                }
                Some(_) => {
                    let mut ch = self.next().unwrap();
                    if ch == self.lex.escape {
                        match self.peek() {
                            None => continue,
                            Some(c) if c == '"' || c == '$' || c == self.lex.escape => {
                                if self.lex.raw_escapes {
                                    r.push(ch);
                                }
                                ch = self.next().unwrap();
                            }
                            _ => {}
                        }
                    }
                    r.push(ch);
                }
            }
        }
    }

    fn get_env(&self, name: &str) -> Option<String> {
        (self.env)(name)
    }

    fn dollar(&mut self) -> Result<String, LexError> {
        self.next();
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(match self.get_env(&name) {
                Some(v) => v,
                None if self.lex.skip_unset_env => format!("${name}"),
                None => String::new(),
            });
        }
        self.next();
        match self.peek() {
            None => return err("syntax error: missing '}'"),
            Some('{') | Some('}') | Some(':') => return err("syntax error: bad substitution"),
            _ => {}
        }
        let name = self.name();
        let Some(mut ch) = self.next() else {
            return err("syntax error: missing '}'");
        };
        let mut chs = ch.to_string();
        let mut null_is_unset = false;
        match ch {
            '}' => Ok(match self.get_env(&name) {
                Some(v) => v,
                None if self.lex.skip_unset_env => format!("${{{name}}}"),
                None => String::new(),
            }),
            ':' | '+' | '-' | '?' | '#' | '%' => {
                if ch == ':' {
                    null_is_unset = true;
                    match self.next() {
                        Some(c) => ch = c,
                        None => return err("syntax error: missing '}'"),
                    }
                    chs.push(ch);
                }
                let raw = ch == '#' || ch == '%';
                if null_is_unset && raw {
                    return err(format!("unsupported modifier ({chs}) in substitution"));
                }
                let (word, _) = self.process_stop_on(&['}'], raw).map_err(|e| {
                    if self.peek().is_none() {
                        LexError("syntax error: missing '}'".into())
                    } else {
                        e
                    }
                })?;
                let value = self.get_env(&name);
                if self.lex.skip_unset_env && value.is_none() {
                    return Ok(format!("${{{name}{chs}{word}}}"));
                }
                let empty = value
                    .as_deref()
                    .is_none_or(|v| null_is_unset && v.is_empty());
                match ch {
                    '-' => Ok(if empty { word } else { value.unwrap() }),
                    '+' => Ok(if empty { String::new() } else { word }),
                    '?' => match value {
                        None => {
                            let m = if word.is_empty() {
                                "is not allowed to be unset".into()
                            } else {
                                word
                            };
                            err(format!("{name}: {m}"))
                        }
                        Some(v) if null_is_unset && v.is_empty() => {
                            let m = if word.is_empty() {
                                "is not allowed to be empty".into()
                            } else {
                                word
                            };
                            err(format!("{name}: {m}"))
                        }
                        Some(v) => Ok(v),
                    },
                    '#' | '%' => {
                        let value = value.unwrap_or_default();
                        let (greedy, pat) = match word.strip_prefix(ch) {
                            Some(p) => (true, p.to_string()),
                            None => (false, word),
                        };
                        if ch == '%' {
                            trim_suffix(&pat, &value, greedy)
                        } else {
                            trim_prefix(&pat, &value, greedy)
                        }
                    }
                    _ => err(format!("unsupported modifier ({chs}) in substitution")),
                }
            }
            '/' => {
                let all = self.peek() == Some('/');
                if all {
                    self.next();
                }
                let start = self.pos;
                let (pattern, _) = self.process_stop_on(&['/', '}'], true).map_err(|e| {
                    if self.peek().is_none() {
                        LexError("syntax error: missing '}'".into())
                    } else {
                        e
                    }
                })?;
                // Which stop ended the pattern: the char just consumed.
                let ended = self.chars.get(self.pos.wrapping_sub(1)).copied();
                let _ = start;
                let replacement = if ended == Some('/') {
                    self.process_stop_on(&['}'], true)
                        .map_err(|_| LexError("syntax error: missing '}'".into()))?
                        .0
                } else {
                    String::new()
                };
                let value = self.get_env(&name);
                if self.lex.skip_unset_env && value.is_none() {
                    return Ok(format!("${{{name}/{pattern}/{replacement}}}"));
                }
                let value = value.unwrap_or_default();
                let re = shell_pattern_regex(&pattern, true, false).map_err(|e| {
                    LexError(format!("invalid pattern ({pattern}) in substitution: {e}"))
                })?;
                Ok(if all {
                    re.replace_all(&value, regex::NoExpand(&replacement))
                        .into_owned()
                } else {
                    re.replace(&value, regex::NoExpand(&replacement))
                        .into_owned()
                })
            }
            _ => err(format!("unsupported modifier ({chs}) in substitution")),
        }
    }

    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && ch.is_ascii_digit() {
                while let Some(c) = self.peek().filter(|c| c.is_ascii_digit()) {
                    name.push(c);
                    self.next();
                }
                return name;
            }
            if name.is_empty() && matches!(ch, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.next();
                return ch.to_string();
            }
            if !ch.is_alphanumeric() && ch != '_' {
                break;
            }
            name.push(ch);
            self.next();
        }
        name
    }
}

/// A shell glob (`*`, `?`, `\` escapes) as a regex.
fn shell_pattern_regex(pattern: &str, greedy: bool, anchored: bool) -> Result<Regex, String> {
    let mut out = String::new();
    if anchored {
        out.push('^');
    }
    let star = if greedy { ".*" } else { ".*?" };
    let cs: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < cs.len() {
        let t = cs[i];
        i += 1;
        match t {
            '*' => out.push_str(star),
            '?' => out.push('.'),
            '\\' => {
                if cs.get(i) == Some(&'}') {
                    continue;
                }
                let n = cs.get(i).copied();
                i += 1;
                match n {
                    Some(c @ ('*' | '?' | '\\')) => {
                        out.push('\\');
                        out.push(c);
                    }
                    Some(c) => return Err(format!("invalid escape '\\{c}'")),
                    None => return Err("invalid escape '\\'".into()),
                }
            }
            c => out.push_str(&regex::escape(&c.to_string())),
        }
    }
    Regex::new(&out).map_err(|e| e.to_string())
}

fn trim_prefix(pattern: &str, value: &str, greedy: bool) -> Result<String, LexError> {
    let re = shell_pattern_regex(pattern, greedy, true)
        .map_err(|e| LexError(format!("invalid pattern ({pattern}) in substitution: {e}")))?;
    Ok(match re.find(value) {
        Some(m) => value[m.end()..].to_string(),
        None => value.to_string(),
    })
}

/// Reverses a pattern keeping escapes before the char they escape.
fn reverse_pattern(p: &str) -> String {
    let cs: Vec<char> = p.chars().collect();
    let mut out = vec!['\0'; cs.len()];
    let last = cs.len().wrapping_sub(1);
    let mut i = 0;
    while i < cs.len() {
        let o = last - i;
        if cs[i] == '\\' && i != last {
            out[o - 1] = '\\';
            out[o] = cs[i + 1];
            i += 2;
        } else {
            out[o] = cs[i];
            i += 1;
        }
    }
    out.into_iter().collect()
}

fn trim_suffix(pattern: &str, value: &str, greedy: bool) -> Result<String, LexError> {
    let rp = reverse_pattern(pattern);
    let rv: String = value.chars().rev().collect();
    let r = trim_prefix(&rp, &rv, greedy)?;
    Ok(r.chars().rev().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(n: &str) -> Option<String> {
        match n {
            "FILE" => Some("dir/sub/file.tar.gz".into()),
            "E" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn pattern_modifiers() {
        let l = Lex::new('\\');
        let w = |s: &str| l.process_word(s, &env).unwrap();
        assert_eq!(w("${FILE#*/}"), "sub/file.tar.gz");
        assert_eq!(w("${FILE##*/}"), "file.tar.gz");
        assert_eq!(w("${FILE%.*}"), "dir/sub/file.tar");
        assert_eq!(w("${FILE%%.*}"), "dir/sub/file");
        assert_eq!(w("${FILE/sub/X}"), "dir/X/file.tar.gz");
        assert_eq!(w("${FILE//[.]/_}"), "dir/sub/file.tar.gz");
        assert_eq!(w("${FILE//./_}"), "dir/sub/file_tar_gz");
        assert_eq!(w("${FILE/./}"), "dir/sub/filetar.gz");
        assert_eq!(w("${E-x}"), "");
        assert_eq!(w("${E:-x}"), "x");
        assert_eq!(w("${E+x}"), "x");
        assert_eq!(w("${U+x}"), "");
        assert!(l.process_word("${U?oops}", &env).is_err());
        assert!(l.process_word("${FILE:#x}", &env).is_err());
    }
}
