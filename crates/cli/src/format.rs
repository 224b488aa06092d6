//! A small Go `text/template` evaluator for Docker's `--format` over `serde_json::Value`:
//! fields (`.A.B`), variables (`$`, `$x := …`), pipelines (`{{.X | json}}`), parentheses,
//! `if`/`else if`/`else`, `range` (with `$i, $v :=`), `with`, trim markers (`{{-`, `-}}`), and
//! Docker's functions: json, join, split, lower, upper, title, len, index, print, printf,
//! println, pad, truncate, eq/ne/lt/le/gt/ge, and/or/not. Plus Docker's `table` prefix with
//! column headers, aligned like Go's tabwriter (minwidth 10, padding 3).

use serde_json::Value;
use std::collections::BTreeMap;

pub type Result<T> = std::result::Result<T, String>;

#[derive(Debug, Clone)]
enum Arg {
    /// `.A.B` relative to dot (empty chain = dot itself).
    Field(Vec<String>),
    /// `$x.A` (`$` alone is the root).
    Var(String, Vec<String>),
    Str(String),
    Num(f64),
    Bool(bool),
    Nil,
    Func(String),
    Sub(Box<Pipe>, Vec<String>),
}

#[derive(Debug, Clone)]
struct Pipe {
    decl: Vec<String>,
    cmds: Vec<Vec<Arg>>,
}

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Action(Pipe),
    If(Pipe, Vec<Node>, Vec<Node>),
    Range(Pipe, Vec<Node>, Vec<Node>),
    With(Pipe, Vec<Node>, Vec<Node>),
}

#[derive(Debug, Clone)]
pub struct Template {
    nodes: Vec<Node>,
}

const FUNCS: &[&str] = &[
    "json", "join", "split", "lower", "upper", "title", "len", "index", "print", "printf",
    "println", "pad", "truncate", "eq", "ne", "lt", "le", "gt", "ge", "and", "or", "not", "slice",
];

// ------------------------------------------------------------------------------------------
// lexing and parsing

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Field(Vec<String>),
    Var(String, Vec<String>),
    Str(String),
    Num(f64),
    Ident(String),
    LParen,
    RParen(Vec<String>),
    Pipe,
    Decl,
    Assign,
    Comma,
}

fn lex_fields(s: &[char], i: &mut usize) -> Vec<String> {
    let mut out = Vec::new();
    while *i < s.len() && s[*i] == '.' {
        *i += 1;
        let start = *i;
        while *i < s.len() && (s[*i].is_alphanumeric() || s[*i] == '_') {
            *i += 1;
        }
        if *i == start {
            break;
        }
        out.push(s[start..*i].iter().collect());
    }
    out
}

fn lex(action: &str) -> Result<Vec<Tok>> {
    let s: Vec<char> = action.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < s.len() {
        let c = s[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '.' => {
                if i + 1 < s.len() && (s[i + 1].is_alphanumeric() || s[i + 1] == '_') {
                    out.push(Tok::Field(lex_fields(&s, &mut i)));
                } else {
                    i += 1;
                    out.push(Tok::Field(vec![]));
                }
            }
            '$' => {
                i += 1;
                let start = i;
                while i < s.len() && (s[i].is_alphanumeric() || s[i] == '_') {
                    i += 1;
                }
                let name: String = s[start..i].iter().collect();
                let f = lex_fields(&s, &mut i);
                out.push(Tok::Var(name, f));
            }
            '"' => {
                i += 1;
                let mut v = String::new();
                loop {
                    match s.get(i) {
                        None => return Err("unterminated quoted string".into()),
                        Some('"') => {
                            i += 1;
                            break;
                        }
                        Some('\\') => {
                            i += 1;
                            match s.get(i) {
                                Some('n') => v.push('\n'),
                                Some('t') => v.push('\t'),
                                Some(c) => v.push(*c),
                                None => return Err("unterminated quoted string".into()),
                            }
                            i += 1;
                        }
                        Some(c) => {
                            v.push(*c);
                            i += 1;
                        }
                    }
                }
                out.push(Tok::Str(v));
            }
            '`' => {
                let end = s[i + 1..]
                    .iter()
                    .position(|c| *c == '`')
                    .ok_or("unterminated raw quoted string")?;
                out.push(Tok::Str(s[i + 1..i + 1 + end].iter().collect()));
                i += end + 2;
            }
            '(' => {
                out.push(Tok::LParen);
                i += 1;
            }
            ')' => {
                i += 1;
                let f = lex_fields(&s, &mut i);
                out.push(Tok::RParen(f));
            }
            '|' => {
                out.push(Tok::Pipe);
                i += 1;
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1;
            }
            ':' if s.get(i + 1) == Some(&'=') => {
                out.push(Tok::Decl);
                i += 2;
            }
            '=' => {
                out.push(Tok::Assign);
                i += 1;
            }
            c if c.is_ascii_digit() || c == '-' || c == '+' => {
                let start = i;
                i += 1;
                while i < s.len() && (s[i].is_ascii_alphanumeric() || s[i] == '.') {
                    i += 1;
                }
                let t: String = s[start..i].iter().collect();
                out.push(Tok::Num(
                    t.parse().map_err(|_| format!("bad number syntax: {t:?}"))?,
                ));
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while i < s.len() && (s[i].is_alphanumeric() || s[i] == '_') {
                    i += 1;
                }
                out.push(Tok::Ident(s[start..i].iter().collect()));
            }
            c => return Err(format!("unexpected {c:?} in command")),
        }
    }
    Ok(out)
}

fn parse_pipe(toks: &[Tok], pos: &mut usize) -> Result<Pipe> {
    let mut decl = Vec::new();
    // `$x :=` or `$i, $v :=`
    let save = *pos;
    while let Some(Tok::Var(n, f)) = toks.get(*pos) {
        if !f.is_empty() {
            break;
        }
        decl.push(n.clone());
        *pos += 1;
        match toks.get(*pos) {
            Some(Tok::Comma) => *pos += 1,
            Some(Tok::Decl) | Some(Tok::Assign) => {
                *pos += 1;
                break;
            }
            _ => {
                decl.clear();
                *pos = save;
                break;
            }
        }
    }
    let mut cmds = Vec::new();
    let mut cur = Vec::new();
    loop {
        match toks.get(*pos) {
            None | Some(Tok::RParen(_)) => break,
            Some(Tok::Pipe) => {
                if cur.is_empty() {
                    return Err("missing command in pipeline".into());
                }
                cmds.push(std::mem::take(&mut cur));
                *pos += 1;
            }
            Some(t) => {
                *pos += 1;
                cur.push(match t {
                    Tok::Field(f) => Arg::Field(f.clone()),
                    Tok::Var(n, f) => Arg::Var(n.clone(), f.clone()),
                    Tok::Str(s) => Arg::Str(s.clone()),
                    Tok::Num(n) => Arg::Num(*n),
                    Tok::Ident(i) => match i.as_str() {
                        "true" => Arg::Bool(true),
                        "false" => Arg::Bool(false),
                        "nil" => Arg::Nil,
                        f if FUNCS.contains(&f) => Arg::Func(f.to_string()),
                        f => return Err(format!("function {f:?} not defined")),
                    },
                    Tok::LParen => {
                        let p = parse_pipe(toks, pos)?;
                        match toks.get(*pos) {
                            Some(Tok::RParen(f)) => {
                                *pos += 1;
                                Arg::Sub(Box::new(p), f.clone())
                            }
                            _ => return Err("unclosed left paren".into()),
                        }
                    }
                    t => return Err(format!("unexpected {t:?} in operand")),
                });
            }
        }
    }
    if !cur.is_empty() {
        cmds.push(cur);
    }
    if cmds.is_empty() {
        return Err("missing value for command".into());
    }
    Ok(Pipe { decl, cmds })
}

fn pipe_of(action: &str) -> Result<Pipe> {
    let toks = lex(action)?;
    let mut pos = 0;
    let p = parse_pipe(&toks, &mut pos)?;
    if pos != toks.len() {
        return Err("unexpected \")\" in command".into());
    }
    Ok(p)
}

/// Splits text and actions, applying trim markers.
fn tokenize(src: &str) -> Result<Vec<(bool, String)>> {
    let mut out: Vec<(bool, String)> = Vec::new();
    let mut rest = src;
    let mut trim_next = false;
    while let Some(start) = rest.find("{{") {
        let mut text = &rest[..start];
        if trim_next {
            text = text.trim_start();
        }
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or("unclosed action")?;
        let mut inner = &after[..end];
        if let Some(x) = inner.strip_prefix("- ") {
            text = text.trim_end();
            inner = x;
        } else if inner.starts_with('-') && inner[1..].starts_with(char::is_whitespace) {
            text = text.trim_end();
            inner = &inner[1..];
        }
        trim_next = false;
        if let Some(x) = inner.strip_suffix(" -") {
            trim_next = true;
            inner = x;
        }
        if !text.is_empty() {
            out.push((false, text.to_string()));
        }
        let inner = inner.trim();
        if !inner.starts_with("/*") {
            out.push((true, inner.to_string()));
        }
        rest = &after[end + 2..];
    }
    let text = if trim_next { rest.trim_start() } else { rest };
    if !text.is_empty() {
        out.push((false, text.to_string()));
    }
    Ok(out)
}

enum Stop {
    Eof,
    End,
    Else(Option<String>),
}

fn parse_list(toks: &[(bool, String)], pos: &mut usize) -> Result<(Vec<Node>, Stop)> {
    let mut nodes = Vec::new();
    while let Some((is_action, s)) = toks.get(*pos) {
        *pos += 1;
        if !is_action {
            nodes.push(Node::Text(s.clone()));
            continue;
        }
        let (kw, rest) = match s.split_once(char::is_whitespace) {
            Some((k, r)) => (k, r.trim()),
            None => (s.as_str(), ""),
        };
        match kw {
            "end" => return Ok((nodes, Stop::End)),
            "else" => {
                let cond = rest.strip_prefix("if").map(|r| r.trim().to_string());
                return Ok((nodes, Stop::Else(cond)));
            }
            "if" | "range" | "with" => nodes.push(parse_block(kw, rest, toks, pos)?),
            _ => nodes.push(Node::Action(pipe_of(s)?)),
        }
    }
    Ok((nodes, Stop::Eof))
}

fn parse_block(kw: &str, cond: &str, toks: &[(bool, String)], pos: &mut usize) -> Result<Node> {
    let pipe = pipe_of(cond)?;
    let (body, end) = parse_list(toks, pos)?;
    let alt = match end {
        Stop::Eof => return Err(format!("unexpected EOF: missing {{{{end}}}} for {kw}")),
        Stop::End => Vec::new(),
        Stop::Else(None) => match parse_list(toks, pos)? {
            (alt, Stop::End) => alt,
            _ => return Err(format!("expected {{{{end}}}} after {{{{else}}}} of {kw}")),
        },
        // `else if X` is an `if` nested in the else branch that shares this block's end.
        Stop::Else(Some(c)) => vec![parse_block("if", &c, toks, pos)?],
    };
    Ok(match kw {
        "if" => Node::If(pipe, body, alt),
        "range" => Node::Range(pipe, body, alt),
        _ => Node::With(pipe, body, alt),
    })
}

/// Keys starting with this character are not data: [`ALIASES`] and [`METHODS`] tables that
/// rows carry, invisible to `json`, `%v` and `range`.
const HIDDEN: char = '\u{0}';
/// A row's `{"GoName": "jsonKey"}` table: `.Status` of an event reads its `status` (Go's
/// struct fields and their JSON tags differ there).
pub const ALIASES: &str = "\u{0}aliases";
/// A row's methods taking one string key: `{"Label": {"k": "v"}}` makes `{{.Label "k"}}`.
pub const METHODS: &str = "\u{0}methods";

/// Whether a `--format` is Docker's `json` (>= 23): `inspect` then prints its whole list as one
/// compact JSON array.
pub fn is_json(format: Option<&str>) -> bool {
    format.is_some_and(|f| f.trim() == "json")
}

/// `v` without its hidden keys (at every depth).
pub fn visible(v: &Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.iter()
                .filter(|(k, _)| !k.starts_with(HIDDEN))
                .map(|(k, v)| (k.clone(), visible(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(visible).collect()),
        v => v.clone(),
    }
}

impl Template {
    pub fn parse(src: &str) -> Result<Template> {
        // Docker >= 23: `--format json` is `{{json .}}`.
        let src = if src.trim() == "json" {
            "{{json .}}"
        } else {
            src
        };
        let toks = tokenize(src).map_err(|e| format!("template: :1: {e}"))?;
        let mut pos = 0;
        match parse_list(&toks, &mut pos).map_err(|e| format!("template: :1: {e}"))? {
            (nodes, Stop::Eof) => Ok(Template { nodes }),
            (_, Stop::End) => Err("template: :1: unexpected {{end}}".into()),
            (_, Stop::Else(_)) => Err("template: :1: unexpected {{else}}".into()),
        }
    }

    pub fn execute(&self, data: &Value) -> Result<String> {
        let mut out = String::new();
        let mut vars = vec![("".to_string(), data.clone())];
        exec(&self.nodes, data, &mut vars, &mut out).map_err(|e| format!("template: :1: {e}"))?;
        Ok(out)
    }
}

// ------------------------------------------------------------------------------------------
// evaluation

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// Go's `%v` of a decoded JSON value.
pub fn to_text(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.to_string()
            } else if let Some(u) = n.as_u64() {
                u.to_string()
            } else {
                let f = n.as_f64().unwrap_or(0.0);
                if f.fract() == 0.0 && f.abs() < 1e21 {
                    if f.abs() >= 1e6 {
                        format!("{f:e}").replace('e', "e+")
                    } else {
                        format!("{f}")
                    }
                } else {
                    format!("{f}")
                }
            }
        }
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(to_text).collect::<Vec<_>>().join(" ")),
        Value::Object(o) => {
            let sorted: BTreeMap<_, _> = o.iter().filter(|(k, _)| !k.starts_with(HIDDEN)).collect();
            format!(
                "map[{}]",
                sorted
                    .iter()
                    .map(|(k, v)| format!("{k}:{}", to_text(v)))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        }
    }
}

fn field(v: &Value, chain: &[String]) -> Result<Value> {
    let mut cur = v.clone();
    for f in chain {
        cur = match cur {
            Value::Object(mut o) => match o.remove(f) {
                Some(v) => v,
                None => {
                    let alias = o
                        .get(ALIASES)
                        .and_then(|a| a.get(f))
                        .and_then(Value::as_str);
                    match alias.map(String::from) {
                        Some(k) => o.remove(&k).unwrap_or(Value::Null),
                        None => Value::Null,
                    }
                }
            },
            Value::Null => Value::Null,
            other => {
                return Err(format!(
                    "can't evaluate field {f} in type {}",
                    match other {
                        Value::String(_) => "string",
                        Value::Array(_) => "[]interface {}",
                        Value::Bool(_) => "bool",
                        _ => "float64",
                    }
                ))
            }
        };
    }
    Ok(cur)
}

fn arg_value(a: &Arg, dot: &Value, vars: &mut Vec<(String, Value)>) -> Result<Value> {
    Ok(match a {
        Arg::Field(f) => field(dot, f)?,
        Arg::Var(n, f) => {
            let v = vars
                .iter()
                .rev()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.clone())
                .ok_or_else(|| format!("undefined variable: ${n}"))?;
            field(&v, f)?
        }
        Arg::Str(s) => Value::String(s.clone()),
        Arg::Num(n) => serde_json::Number::from_f64(*n)
            .map(|x| {
                if n.fract() == 0.0 {
                    Value::from(*n as i64)
                } else {
                    Value::Number(x)
                }
            })
            .unwrap_or(Value::Null),
        Arg::Bool(b) => Value::Bool(*b),
        Arg::Nil => Value::Null,
        Arg::Func(f) => call(f, &[])?,
        Arg::Sub(p, f) => field(&eval_pipe(p, dot, vars)?, f)?,
    })
}

fn eval_pipe(p: &Pipe, dot: &Value, vars: &mut Vec<(String, Value)>) -> Result<Value> {
    let mut prev: Option<Value> = None;
    for cmd in &p.cmds {
        let v = match &cmd[0] {
            Arg::Func(f) => {
                let mut args = Vec::new();
                for a in &cmd[1..] {
                    args.push(arg_value(a, dot, vars)?);
                }
                if let Some(p) = prev.take() {
                    args.push(p);
                }
                call(f, &args)?
            }
            Arg::Field(chain) if method(dot, chain).is_some() => {
                let (table, name) = method(dot, chain).unwrap_or_default();
                let mut args = Vec::new();
                for a in &cmd[1..] {
                    args.push(arg_value(a, dot, vars)?);
                }
                args.extend(prev.take());
                if args.len() != 1 {
                    return Err(format!(
                        "executing \"\" at <.{name}>: wrong number of args for {name}: want 1 got {}",
                        args.len()
                    ));
                }
                table
                    .get(str_of(&args[0]))
                    .cloned()
                    .unwrap_or(Value::String(String::new()))
            }
            a => {
                if cmd.len() > 1 || prev.is_some() {
                    return Err(format!("can't give argument to non-function {a:?}"));
                }
                arg_value(a, dot, vars)?
            }
        };
        prev = Some(v);
    }
    let v = prev.unwrap_or(Value::Null);
    if let Some(n) = p.decl.first() {
        vars.push((n.clone(), v.clone()));
    }
    Ok(v)
}

/// A method `.A.Name` of the row (its [`METHODS`] table) and its name.
fn method(dot: &Value, chain: &[String]) -> Option<(Value, String)> {
    let (name, base) = chain.split_last()?;
    let obj = field(dot, base).ok()?;
    let t = obj.get(METHODS)?.get(name)?;
    Some((t.clone(), name.clone()))
}

fn num(v: &Value) -> Result<f64> {
    match v {
        Value::Number(n) => Ok(n.as_f64().unwrap_or(0.0)),
        Value::String(s) => s.parse().map_err(|_| format!("not a number: {s:?}")),
        Value::Bool(b) => Ok(*b as i64 as f64),
        _ => Err(format!("not a number: {}", to_text(v))),
    }
}

fn str_of(v: &Value) -> String {
    to_text(v)
}

fn want(args: &[Value], n: usize, f: &str) -> Result<()> {
    if args.len() != n {
        return Err(format!(
            "wrong number of args for {f}: want {n} got {}",
            args.len()
        ));
    }
    Ok(())
}

fn compare(a: &Value, b: &Value) -> Result<std::cmp::Ordering> {
    match (a, b) {
        (Value::String(x), Value::String(y)) => Ok(x.cmp(y)),
        _ => num(a)?
            .partial_cmp(&num(b)?)
            .ok_or_else(|| "incomparable values".into()),
    }
}

fn title(s: &str) -> String {
    let mut out = String::new();
    let mut prev_letter = false;
    for c in s.chars() {
        if !prev_letter && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_letter = c.is_alphanumeric() || c == '_' || c == '\'';
    }
    out
}

/// `%s %d %v %q` and width flags of Go's printf, enough for templates.
fn printf(args: &[Value]) -> Result<String> {
    let fmt = args.first().map(str_of).unwrap_or_default();
    let mut rest = args.iter().skip(1);
    let mut out = String::new();
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = String::new();
        while let Some(&d) = chars.peek() {
            if d.is_ascii_digit() || d == '-' || d == '.' {
                spec.push(d);
                chars.next();
            } else {
                break;
            }
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let v = rest.next().cloned().unwrap_or(Value::Null);
        let s = match verb {
            'q' => serde_json::to_string(&str_of(&v)).unwrap(),
            'd' => format!("{}", num(&v)? as i64),
            _ => str_of(&v),
        };
        let left = spec.starts_with('-');
        let width: usize = spec
            .trim_start_matches('-')
            .split('.')
            .next()
            .unwrap_or("")
            .parse()
            .unwrap_or(0);
        if left {
            out.push_str(&format!("{s:<width$}"));
        } else {
            out.push_str(&format!("{s:>width$}"));
        }
    }
    Ok(out)
}

fn call(f: &str, a: &[Value]) -> Result<Value> {
    Ok(match f {
        "json" => {
            want(a, 1, f)?;
            Value::String(serde_json::to_string(&visible(&a[0])).map_err(|e| e.to_string())?)
        }
        "join" => {
            want(a, 2, f)?;
            let items = match &a[0] {
                Value::Array(x) => x.iter().map(str_of).collect::<Vec<_>>(),
                Value::Null => vec![],
                v => vec![str_of(v)],
            };
            Value::String(items.join(&str_of(&a[1])))
        }
        "split" => {
            want(a, 2, f)?;
            Value::Array(
                str_of(&a[0])
                    .split(&str_of(&a[1]))
                    .map(|s| Value::String(s.to_string()))
                    .collect(),
            )
        }
        "lower" => {
            want(a, 1, f)?;
            Value::String(str_of(&a[0]).to_lowercase())
        }
        "upper" => {
            want(a, 1, f)?;
            Value::String(str_of(&a[0]).to_uppercase())
        }
        "title" => {
            want(a, 1, f)?;
            Value::String(title(&str_of(&a[0])))
        }
        "len" => {
            want(a, 1, f)?;
            Value::from(match &a[0] {
                Value::Array(x) => x.len(),
                Value::Object(o) => o.len(),
                Value::String(s) => s.len(),
                Value::Null => 0,
                v => return Err(format!("len of type {}", to_text(v))),
            })
        }
        "index" => {
            if a.is_empty() {
                return Err("wrong number of args for index".into());
            }
            let mut cur = a[0].clone();
            for k in &a[1..] {
                cur = match (&cur, k) {
                    // A missing key gives the zero value of the map's element: "" in the
                    // string maps (labels, attributes, options) Docker indexes most.
                    (Value::Object(o), k) => o.get(&str_of(k)).cloned().unwrap_or_else(|| {
                        if o.values().all(Value::is_string) {
                            Value::String(String::new())
                        } else {
                            Value::Null
                        }
                    }),
                    (Value::Array(x), k) => {
                        let i = num(k)? as usize;
                        x.get(i)
                            .cloned()
                            .ok_or_else(|| format!("index out of range: {i}"))?
                    }
                    (Value::Null, _) => Value::Null,
                    _ => return Err("can't index item".into()),
                };
            }
            cur
        }
        "print" => {
            // Go's Sprint: spaces only between operands when neither is a string.
            let mut s = String::new();
            for (i, v) in a.iter().enumerate() {
                if i > 0 && !v.is_string() && !a[i - 1].is_string() {
                    s.push(' ');
                }
                s.push_str(&str_of(v));
            }
            Value::String(s)
        }
        "println" => Value::String(format!(
            "{}\n",
            a.iter().map(str_of).collect::<Vec<_>>().join(" ")
        )),
        "printf" => Value::String(printf(a)?),
        "pad" => {
            want(a, 3, f)?;
            let (l, r) = (num(&a[1])? as usize, num(&a[2])? as usize);
            Value::String(format!(
                "{}{}{}",
                " ".repeat(l),
                str_of(&a[0]),
                " ".repeat(r)
            ))
        }
        "truncate" => {
            want(a, 2, f)?;
            let n = num(&a[1])? as usize;
            Value::String(str_of(&a[0]).chars().take(n).collect())
        }
        "slice" => {
            if a.is_empty() {
                return Err("wrong number of args for slice".into());
            }
            let s = str_of(&a[0]);
            let from = a.get(1).map(num).transpose()?.unwrap_or(0.0) as usize;
            let to = a
                .get(2)
                .map(num)
                .transpose()?
                .map(|x| x as usize)
                .unwrap_or(s.len());
            Value::String(
                s.get(from..to)
                    .ok_or("slice index out of range")?
                    .to_string(),
            )
        }
        "eq" => {
            if a.len() < 2 {
                return Err("missing argument for comparison".into());
            }
            Value::Bool(a[1..].iter().any(|b| {
                b == &a[0] || (a[0].is_number() && b.is_number() && num(&a[0]).ok() == num(b).ok())
            }))
        }
        "ne" => {
            want(a, 2, f)?;
            Value::Bool(
                compare(&a[0], &a[1])
                    .map(|o| o.is_ne())
                    .unwrap_or(a[0] != a[1]),
            )
        }
        "lt" => Value::Bool({
            want(a, 2, f)?;
            compare(&a[0], &a[1])?.is_lt()
        }),
        "le" => Value::Bool({
            want(a, 2, f)?;
            compare(&a[0], &a[1])?.is_le()
        }),
        "gt" => Value::Bool({
            want(a, 2, f)?;
            compare(&a[0], &a[1])?.is_gt()
        }),
        "ge" => Value::Bool({
            want(a, 2, f)?;
            compare(&a[0], &a[1])?.is_ge()
        }),
        "and" => a
            .iter()
            .find(|v| !truthy(v))
            .or(a.last())
            .cloned()
            .unwrap_or(Value::Null),
        "or" => a
            .iter()
            .find(|v| truthy(v))
            .or(a.last())
            .cloned()
            .unwrap_or(Value::Null),
        "not" => {
            want(a, 1, f)?;
            Value::Bool(!truthy(&a[0]))
        }
        _ => return Err(format!("function {f:?} not defined")),
    })
}

fn exec(
    nodes: &[Node],
    dot: &Value,
    vars: &mut Vec<(String, Value)>,
    out: &mut String,
) -> Result<()> {
    for n in nodes {
        let depth = vars.len();
        match n {
            Node::Text(t) => out.push_str(t),
            Node::Action(p) => {
                let v = eval_pipe(p, dot, vars)?;
                if p.decl.is_empty() {
                    out.push_str(&to_text(&v));
                }
                // A declaration lives until the end of the enclosing block.
                continue;
            }
            Node::If(p, body, alt) => {
                let v = eval_pipe(p, dot, vars)?;
                exec(if truthy(&v) { body } else { alt }, dot, vars, out)?;
            }
            Node::With(p, body, alt) => {
                let v = eval_pipe(p, dot, vars)?;
                if truthy(&v) {
                    exec(body, &v, vars, out)?;
                } else {
                    exec(alt, dot, vars, out)?;
                }
            }
            Node::Range(p, body, alt) => {
                let decl = p.decl.clone();
                let inner = Pipe {
                    decl: vec![],
                    cmds: p.cmds.clone(),
                };
                let v = eval_pipe(&inner, dot, vars)?;
                let items: Vec<(Value, Value)> = match v {
                    Value::Array(a) => a
                        .into_iter()
                        .enumerate()
                        .map(|(i, x)| (Value::from(i), x))
                        .collect(),
                    Value::Object(o) => {
                        let sorted: BTreeMap<String, Value> = o.into_iter().collect();
                        sorted
                            .into_iter()
                            .map(|(k, x)| (Value::String(k), x))
                            .collect()
                    }
                    Value::Null => vec![],
                    Value::Number(n) => (0..n.as_u64().unwrap_or(0))
                        .map(|i| (Value::from(i), Value::from(i)))
                        .collect(),
                    other => return Err(format!("range can't iterate over {}", to_text(&other))),
                };
                if items.is_empty() {
                    exec(alt, dot, vars, out)?;
                }
                for (k, x) in items {
                    let d = vars.len();
                    match decl.len() {
                        0 => {}
                        1 => vars.push((decl[0].clone(), x.clone())),
                        _ => {
                            vars.push((decl[0].clone(), k));
                            vars.push((decl[1].clone(), x.clone()));
                        }
                    }
                    exec(body, &x, vars, out)?;
                    vars.truncate(d);
                }
            }
        }
        vars.truncate(depth);
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------
// Docker's list formatting

/// Aligns tab-separated cells like Go's `tabwriter.NewWriter(w, 10, 1, 3, ' ', 0)`: every
/// tab-terminated cell is padded to its column's width (max cell + 3, at least 10).
pub fn tabwrite(text: &str) -> String {
    let lines: Vec<Vec<&str>> = text.split('\n').map(|l| l.split('\t').collect()).collect();
    let mut widths: Vec<usize> = Vec::new();
    for l in &lines {
        for (j, c) in l.iter().enumerate().take(l.len().saturating_sub(1)) {
            let w = (c.chars().count() + 3).max(10);
            if widths.len() <= j {
                widths.push(w);
            } else {
                widths[j] = widths[j].max(w);
            }
        }
    }
    let mut out = String::new();
    for (i, l) in lines.iter().enumerate() {
        for (j, c) in l.iter().enumerate() {
            out.push_str(c);
            if j + 1 < l.len() {
                out.push_str(&" ".repeat(widths[j] - c.chars().count()));
            }
        }
        if i + 1 < lines.len() {
            out.push('\n');
        }
    }
    out
}

/// Docker's header for a field name when none is given: `CreatedSince` → `CREATED SINCE`.
fn default_header(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if i > 0 && c.is_uppercase() {
            out.push(' ');
        }
        out.extend(c.to_uppercase());
    }
    out
}

fn collect_fields(nodes: &[Node], out: &mut Vec<String>) {
    fn from_pipe(p: &Pipe, out: &mut Vec<String>) {
        for c in &p.cmds {
            for a in c {
                match a {
                    Arg::Field(f) if !f.is_empty() => out.push(f[0].clone()),
                    Arg::Sub(p, _) => from_pipe(p, out),
                    _ => {}
                }
            }
        }
    }
    for n in nodes {
        match n {
            Node::Action(p) => from_pipe(p, out),
            Node::If(p, a, b) | Node::Range(p, a, b) | Node::With(p, a, b) => {
                from_pipe(p, out);
                collect_fields(a, out);
                collect_fields(b, out);
            }
            Node::Text(_) => {}
        }
    }
}

/// Formats list rows (`images`, `history`, …) with a user `--format` or the default table.
/// `headers` maps field names to column titles (`ID` → `IMAGE ID`).
pub fn format_rows(format: &str, rows: &[Value], headers: &[(&str, &str)]) -> Result<String> {
    let format = format.trim();
    let (is_table, body) = match format.strip_prefix("table") {
        Some(rest) => (true, rest.trim()),
        None => (false, format),
    };
    let body = body.replace("\\t", "\t").replace("\\n", "\n");
    let tmpl = Template::parse(&body).map_err(|e| format!("template parsing error: {e}"))?;
    let mut out = String::new();
    if is_table {
        let mut fields = Vec::new();
        collect_fields(&tmpl.nodes, &mut fields);
        let mut hdr = serde_json::Map::new();
        for f in fields {
            let h = headers
                .iter()
                .find(|(k, _)| *k == f)
                .map(|(_, h)| h.to_string())
                .unwrap_or_else(|| default_header(&f));
            hdr.insert(f, Value::String(h));
        }
        out.push_str(&tmpl.execute(&Value::Object(hdr)).unwrap_or_default());
        out.push('\n');
    }
    for r in rows {
        out.push_str(&tmpl.execute(r)?);
        out.push('\n');
    }
    Ok(if is_table { tabwrite(&out) } else { out })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(t: &str, v: &Value) -> String {
        Template::parse(t).unwrap().execute(v).unwrap()
    }

    #[test]
    fn fields_and_functions() {
        let v = json!({"Id":"sha256:abc","Config":{"Env":["A=1","B=2"],"Labels":{"k":"v","a b":"c"},"Cmd":null},
            "RepoTags":["busybox:latest"],"Size":4857344,"Os":"Linux"});
        assert_eq!(run("{{.Id}}", &v), "sha256:abc");
        assert_eq!(run("{{.Config.Env}}", &v), "[A=1 B=2]");
        assert_eq!(run("{{json .Config.Env}}", &v), r#"["A=1","B=2"]"#);
        assert_eq!(run("{{.Config.Env | json}}", &v), r#"["A=1","B=2"]"#);
        assert_eq!(run("{{join .Config.Env \",\"}}", &v), "A=1,B=2");
        assert_eq!(run(r#"{{index .Config.Labels "a b"}}"#, &v), "c");
        assert_eq!(run("{{index .RepoTags 0}}", &v), "busybox:latest");
        assert_eq!(run("{{len .Config.Env}}", &v), "2");
        assert_eq!(
            run("{{lower .Os}} {{upper .Os}} {{title \"hello world\"}}", &v),
            "linux LINUX Hello World"
        );
        assert_eq!(run("{{.Size}}", &v), "4857344");
        assert_eq!(run("{{.Config.Cmd}}", &v), "<nil>");
        assert_eq!(run("{{.Config.Labels}}", &v), "map[a b:c k:v]");
        assert_eq!(run("{{println .Os}}", &v), "Linux\n");
        assert_eq!(run("{{printf \"%-5s|\" .Os}}", &v), "Linux|");
        assert_eq!(run("{{(index .RepoTags 0) | upper}}", &v), "BUSYBOX:LATEST");
        assert_eq!(run("{{.Missing}}", &v), "<nil>");
        assert_eq!(run("{{json .}}", &json!({"a":[1,"x"]})), r#"{"a":[1,"x"]}"#);
    }

    #[test]
    fn control_flow() {
        let v = json!({"L":["a","b"],"M":{"y":2,"x":1},"E":[],"T":true,"N":"n"});
        assert_eq!(run("{{range .L}}<{{.}}>{{end}}", &v), "<a><b>");
        assert_eq!(
            run("{{range $i, $e := .L}}{{$i}}={{$e}};{{end}}", &v),
            "0=a;1=b;"
        );
        assert_eq!(
            run("{{range $k, $v := .M}}{{$k}}:{{$v}} {{end}}", &v),
            "x:1 y:2 "
        );
        assert_eq!(run("{{range .E}}x{{else}}empty{{end}}", &v), "empty");
        assert_eq!(run("{{if .T}}yes{{else}}no{{end}}", &v), "yes");
        assert_eq!(run("{{if .E}}1{{else if .N}}2{{else}}3{{end}}", &v), "2");
        assert_eq!(run("{{if eq .N \"n\" \"m\"}}eq{{end}}", &v), "eq");
        assert_eq!(run("{{if and .T (not .E)}}ok{{end}}", &v), "ok");
        assert_eq!(run("{{with .M}}{{.x}}{{end}}", &v), "1");
        assert_eq!(run("{{range .L}}{{$.N}}{{end}}", &v), "nn");
        assert_eq!(run("a  {{- .N -}}  b", &v), "anb");
        assert_eq!(run("{{$x := .N}}{{$x}}{{$x}}", &v), "nn");
        assert_eq!(run("{{if gt (len .L) 1}}many{{end}}", &v), "many");
    }

    #[test]
    fn errors() {
        assert!(Template::parse("{{foo}}")
            .unwrap_err()
            .contains("not defined"));
        assert!(Template::parse("{{if .A}}x").is_err());
        assert!(Template::parse("{{end}}").is_err());
        assert!(Template::parse("{{.A").is_err());
        assert!(Template::parse("{{\"x}}").is_err());
        assert!(Template::parse("{{.A.B}}")
            .unwrap()
            .execute(&json!({"A":"s"}))
            .is_err());
    }

    #[test]
    fn tables() {
        let rows = vec![
            json!({"Repository":"busybox","Tag":"latest","ID":"0123456789ab"}),
            json!({"Repository":"localhost:5000/some/long","Tag":"1","ID":"ba9876543210"}),
        ];
        let out = format_rows(
            "table {{.Repository}}\\t{{.Tag}}\\t{{.ID}}",
            &rows,
            &[("ID", "IMAGE ID")],
        )
        .unwrap();
        assert_eq!(
            out,
            "REPOSITORY                 TAG       IMAGE ID\n\
             busybox                    latest    0123456789ab\n\
             localhost:5000/some/long   1         ba9876543210\n"
        );
        let out = format_rows("{{.Repository}}:{{.Tag}}", &rows, &[]).unwrap();
        assert_eq!(out, "busybox:latest\nlocalhost:5000/some/long:1\n");
        assert_eq!(default_header("CreatedSince"), "CREATED SINCE");
    }
}
