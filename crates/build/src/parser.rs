//! The Dockerfile parser: lines, continuations, comments, parser directives (`syntax`,
//! `escape`, `check`), heredocs, and per-instruction argument parsing into BuildKit's AST
//! (`Node`), whose [`Node::dump`] is the format of BuildKit's parser test vectors.
//!
//! Hand-written after BuildKit's `frontend/dockerfile/parser` (its behaviour, including quirks,
//! is what the vectors pin down); the `parse-dockerfile` crate was not adopted because its AST
//! is typed per instruction and does not expose BuildKit's word/flag split, so it cannot be
//! checked against the vectors' dumps.

use crate::lex::Lex;
use crate::line_parsers::{dispatch, split_command};
use regex::Regex;

/// One node of the AST. The root's `children` are the instructions; an instruction's `value` is
/// its keyword as written, `next` its arguments in order (an ONBUILD's single `next` holds the
/// nested instruction in `children`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Node {
    pub value: String,
    pub next: Vec<Node>,
    pub children: Vec<Node>,
    pub heredocs: Vec<Heredoc>,
    /// The arguments were a JSON array (exec form).
    pub json: bool,
    /// The instruction's text as read (continuations joined).
    pub original: String,
    /// `--flag[=value]` words before the arguments.
    pub flags: Vec<String>,
    /// 1-based first and last line of the instruction in the Dockerfile.
    pub start_line: usize,
    pub end_line: usize,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Heredoc {
    pub name: String,
    pub content: String,
    /// Variables in the content are expanded (the delimiter was not quoted).
    pub expand: bool,
    /// `<<-`: leading tabs are stripped.
    pub chomp: bool,
    pub file_descriptor: u32,
}

/// A parse error with the 1-based line it points at (0: no particular line).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl ParseError {
    pub(crate) fn new(message: impl Into<String>) -> ParseError {
        ParseError {
            line: 0,
            message: message.into(),
        }
    }
    fn at(mut self, line: usize) -> ParseError {
        if self.line == 0 {
            self.line = line;
        }
        self
    }
}

/// A parsed Dockerfile.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub ast: Node,
    pub escape: char,
    /// The `# syntax=` directive, if any (berth implements the 1.x frontend itself).
    pub syntax: Option<String>,
}

impl Node {
    /// BuildKit's `Node.Dump()`: the format of the parser vectors' `result` files.
    pub fn dump(&self) -> String {
        let mut s = self.value.to_lowercase();
        if !self.flags.is_empty() {
            let q: Vec<String> = self.flags.iter().map(|f| go_quote(f)).collect();
            s.push_str(&format!(" [{}]", q.join(" ")));
        }
        for c in &self.children {
            s.push('(');
            s.push_str(&c.dump());
            s.push_str(")\n");
        }
        for n in &self.next {
            s.push(' ');
            if n.children.is_empty() {
                s.push_str(&go_quote(&n.value));
            } else {
                s.push_str(&n.dump());
            }
        }
        s.trim().to_string()
    }

    /// The argument values in order.
    pub fn args(&self) -> Vec<String> {
        self.next.iter().map(|n| n.value.clone()).collect()
    }

    fn can_contain_heredoc(&self) -> bool {
        let mut node = self;
        if node.value.eq_ignore_ascii_case("onbuild") {
            if let Some(c) = node.next.first().and_then(|n| n.children.first()) {
                node = c;
            }
        }
        let v = node.value.to_ascii_lowercase();
        matches!(v.as_str(), "add" | "copy" | "run") && !node.json
    }
}

/// Go's `strconv.Quote`.
pub fn go_quote(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\x07' => o.push_str("\\a"),
            '\x08' => o.push_str("\\b"),
            '\x0c' => o.push_str("\\f"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            '\x0b' => o.push_str("\\v"),
            c if c == ' ' || (!c.is_control() && !c.is_whitespace()) => o.push(c),
            c if (c as u32) < 0x80 => o.push_str(&format!("\\x{:02x}", c as u32)),
            c if (c as u32) < 0x10000 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    o.push('"');
    o
}

/// Parser state: the escape token and the directives seen so far.
pub(crate) struct Directives {
    pub escape: char,
    continuation: Regex,
    re: Regex,
    seen: Vec<String>,
    done: bool,
    syntax: Option<String>,
}

impl Directives {
    fn new() -> Directives {
        let mut d = Directives {
            escape: '\\',
            continuation: Regex::new("x").unwrap(),
            re: Regex::new(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$").unwrap(),
            seen: Vec::new(),
            done: false,
            syntax: None,
        };
        d.set_escape("\\").unwrap();
        d
    }

    fn set_escape(&mut self, s: &str) -> Result<(), ParseError> {
        if s != "`" && s != "\\" {
            return Err(ParseError::new(format!(
                "invalid escape token '{s}' does not match ` or \\"
            )));
        }
        self.escape = s.chars().next().unwrap();
        let e = regex::escape(s);
        self.continuation = Regex::new(&format!(r"([^{e}]){e}[ \t]*$|^{e}[ \t]*$")).unwrap();
        Ok(())
    }

    fn possible_directive(&mut self, line: &str) -> Result<(), ParseError> {
        if self.done {
            return Ok(());
        }
        let Some(m) = self.re.captures(line) else {
            self.done = true;
            return Ok(());
        };
        let k = m[1].to_ascii_lowercase();
        if !matches!(k.as_str(), "escape" | "syntax" | "check") {
            self.done = true;
            return Ok(());
        }
        if self.seen.contains(&k) {
            return Err(ParseError::new(format!(
                "only one {k} parser directive can be used"
            )));
        }
        self.seen.push(k.clone());
        match k.as_str() {
            "escape" => self.set_escape(&m[2])?,
            "syntax" => self.syntax = Some(m[2].to_string()),
            _ => {}
        }
        Ok(())
    }

    fn trim_continuation(&self, line: &str) -> (String, bool) {
        if self.continuation.is_match(line) {
            (self.continuation.replace(line, "$1").into_owned(), false)
        } else {
            (line.to_string(), true)
        }
    }
}

fn trim_newline(s: &str) -> &str {
    s.trim_end_matches(['\r', '\n'])
}

fn is_comment(s: &str) -> bool {
    s.trim_start().starts_with('#')
}

/// Splits after each '\n', keeping it (BuildKit's scanLines).
fn scan_lines(src: &str) -> Vec<&str> {
    src.split_inclusive('\n').collect()
}

fn process_line<'a>(
    d: &mut Directives,
    tok: &'a str,
    strip_left: bool,
) -> Result<&'a str, ParseError> {
    let mut t = trim_newline(tok);
    if strip_left {
        t = t.trim_start();
    }
    d.possible_directive(t)?;
    Ok(if is_comment(t) { "" } else { t })
}

/// Parses a Dockerfile.
pub fn parse(src: &str) -> Result<Parsed, ParseError> {
    let src = src.strip_prefix('\u{feff}').unwrap_or(src);
    let mut d = Directives::new();
    let lines = scan_lines(src);
    let mut i = 0;
    let mut current = 0usize;
    let mut root = Node::default();
    while i < lines.len() {
        let raw = lines[i];
        i += 1;
        let first = process_line(&mut d, raw, true).map_err(|e| e.at(current + 1))?;
        current += 1;
        let start = current;
        let (line, mut eol) = d.trim_continuation(first);
        if eol && line.is_empty() {
            continue;
        }
        let mut buf = line.clone();
        while !eol && i < lines.len() {
            let raw = lines[i];
            i += 1;
            let b = process_line(&mut d, raw, false).map_err(|e| e.at(current + 1))?;
            current += 1;
            if is_comment(raw) {
                continue;
            }
            if trim_newline(b).trim_start().is_empty() {
                continue;
            }
            let (cont, e) = d.trim_continuation(b);
            eol = e;
            buf.push_str(&cont);
        }
        let mut child = node_from_line(&buf, &mut d).map_err(|e| e.at(start))?;
        if child.can_contain_heredoc() && line.contains("<<") {
            for mut h in heredocs_from_line(&line).map_err(|e| e.at(start))? {
                let mut terminated = false;
                while i < lines.len() {
                    let raw = lines[i];
                    i += 1;
                    current += 1;
                    let mut possible = trim_newline(raw);
                    if h.chomp {
                        possible = possible.trim_start_matches('\t');
                    }
                    if possible == h.name {
                        terminated = true;
                        break;
                    }
                    h.content.push_str(raw);
                }
                if !terminated {
                    return Err(ParseError {
                        line: start,
                        message: "unterminated heredoc".into(),
                    });
                }
                child.heredocs.push(h);
            }
        }
        child.start_line = start;
        child.end_line = current;
        root.children.push(child);
    }
    if root.children.is_empty() {
        return Err(ParseError {
            line: current,
            message: "file with no instructions".into(),
        });
    }
    Ok(Parsed {
        ast: root,
        escape: d.escape,
        syntax: d.syntax,
    })
}

pub(crate) fn node_from_line(line: &str, d: &mut Directives) -> Result<Node, ParseError> {
    let (cmd, flags, args) = split_command(line)?;
    let (next, json) = dispatch(&cmd, &args, d)?;
    Ok(Node {
        value: cmd,
        original: line.to_string(),
        flags,
        next,
        json,
        ..Default::default()
    })
}

/// The heredocs (`<<EOF`, `<<-EOF`, `3<<"EOF"`) named on an instruction's first line.
fn heredocs_from_line(line: &str) -> Result<Vec<Heredoc>, ParseError> {
    let mut lex = Lex::new('\\');
    lex.raw_quotes = true;
    lex.raw_escapes = true;
    let words = lex.process_words(line, &|_| None).unwrap_or_default();
    let mut docs = Vec::new();
    for w in words {
        if let Some(h) = parse_heredoc(&w)? {
            docs.push(h);
        }
    }
    Ok(docs)
}

/// One word as a heredoc marker, if it is one.
pub fn parse_heredoc(word: &str) -> Result<Option<Heredoc>, ParseError> {
    let re = Regex::new(r"^(\d*)<<(-?)([^<]*)$").unwrap();
    let Some(m) = re.captures(word) else {
        return Ok(None);
    };
    let fd: u32 = m[1].parse().unwrap_or(0);
    let chomp = &m[2] == "-";
    let rest = &m[3];
    if rest.is_empty() {
        return Ok(None);
    }
    let mut lex = Lex::new('\\');
    lex.skip_unset_env = true;
    let err = |e: crate::lex::LexError| ParseError::new(e.to_string());
    let words = lex.process_words(rest, &|_| None).map_err(err)?;
    if words.len() != 1 {
        return Ok(None);
    }
    lex.raw_quotes = true;
    let raw = lex.process_words(rest, &|_| None).map_err(err)?;
    if raw.len() != words.len() {
        return Err(ParseError::new(format!(
            "internal lexing of heredoc produced inconsistent results: {rest}"
        )));
    }
    let quotes = |s: &str| s.matches(['\'', '"']).count();
    Ok(Some(Heredoc {
        name: words[0].clone(),
        expand: quotes(&words[0]) == quotes(&raw[0]),
        chomp,
        file_descriptor: fd,
        content: String::new(),
    }))
}

/// `<<-` heredoc content: leading tabs removed from every line.
pub fn chomp_heredoc_content(src: &str) -> String {
    src.split_inclusive('\n')
        .map(|l| l.trim_start_matches('\t'))
        .collect()
}
