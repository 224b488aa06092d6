//! Typed instructions from the AST, their flags checked (BuildKit's `instructions.Parse`), and
//! the stages a Dockerfile declares. Arguments stay unexpanded: expansion needs the build
//! state (ENV/ARG values at that point) and is the executor's job, with [`crate::Lex`].

use crate::parser::{Heredoc, Node, ParseError, Parsed};

/// Shell form (one string, run by the stage's SHELL) or exec form (argv).
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Shell(String),
    Exec(Vec<String>),
}

/// `RUN --mount=...` (values unexpanded).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunMount {
    /// bind (default), cache, tmpfs, secret, ssh.
    pub kind: String,
    pub target: String,
    pub source: String,
    pub from: String,
    pub id: String,
    pub read_only: Option<bool>,
    pub sharing: String,
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub required: bool,
    pub size: Option<i64>,
    pub env: String,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct CopyArgs {
    pub add: bool,
    pub sources: Vec<String>,
    pub dest: String,
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub parents: bool,
    pub excludes: Vec<String>,
    pub checksum: Option<String>,
    pub keep_git_dir: bool,
    pub heredocs: Vec<Heredoc>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct HealthArgs {
    /// None: `HEALTHCHECK NONE`.
    pub test: Option<Command>,
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub start_period: Option<String>,
    pub start_interval: Option<String>,
    pub retries: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Instruction {
    From {
        image: String,
        name: Option<String>,
        platform: Option<String>,
    },
    Run {
        command: Command,
        mounts: Vec<RunMount>,
        network: Option<String>,
        heredocs: Vec<Heredoc>,
    },
    Cmd(Command),
    Entrypoint(Command),
    Env(Vec<(String, String)>),
    Label(Vec<(String, String)>),
    /// Name and default (unexpanded).
    Arg(Vec<(String, Option<String>)>),
    Expose(Vec<String>),
    Volume(Vec<String>),
    User(String),
    Workdir(String),
    Copy(CopyArgs),
    /// The trigger instruction's text.
    Onbuild(String),
    StopSignal(String),
    Healthcheck(HealthArgs),
    Shell(Vec<String>),
    Maintainer(String),
}

/// One instruction with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub instruction: Instruction,
    /// The instruction as written (continuations joined), for progress and history.
    pub original: String,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    /// `AS name`, lowercased.
    pub name: Option<String>,
    pub base: String,
    pub platform: Option<String>,
    pub line: usize,
    pub original: String,
    pub steps: Vec<Step>,
}

/// A Dockerfile as stages, with the ARGs declared before the first FROM.
#[derive(Debug, Clone, PartialEq)]
pub struct Dockerfile {
    pub meta_args: Vec<(String, Option<String>)>,
    pub stages: Vec<Stage>,
    pub escape: char,
}

fn perr(line: usize, m: impl Into<String>) -> ParseError {
    ParseError {
        line,
        message: m.into(),
    }
}

/// `--name[=value]` flags checked against what the instruction allows.
struct Flags {
    items: Vec<(String, Option<String>)>,
}

impl Flags {
    fn new(cmd: &str, raw: &[String], allowed: &[&str], line: usize) -> Result<Flags, ParseError> {
        let mut items = Vec::new();
        for f in raw {
            let f = f.strip_prefix("--").unwrap_or(f);
            let (k, v) = match f.split_once('=') {
                Some((k, v)) => (k.to_string(), Some(v.to_string())),
                None => (f.to_string(), None),
            };
            if !allowed.contains(&k.as_str()) {
                return Err(perr(line, format!("unknown flag: {k}")));
            }
            let _ = cmd;
            items.push((k, v));
        }
        Ok(Flags { items })
    }
    fn string(&self, k: &str, line: usize) -> Result<Option<String>, ParseError> {
        let mut out = None;
        for (n, v) in &self.items {
            if n == k {
                match v {
                    Some(v) => out = Some(v.clone()),
                    None => return Err(perr(line, format!("missing a value on flag: {k}"))),
                }
            }
        }
        Ok(out)
    }
    fn strings(&self, k: &str, line: usize) -> Result<Vec<String>, ParseError> {
        let mut out = Vec::new();
        for (n, v) in &self.items {
            if n == k {
                match v {
                    Some(v) => out.push(v.clone()),
                    None => return Err(perr(line, format!("missing a value on flag: {k}"))),
                }
            }
        }
        Ok(out)
    }
    fn bool(&self, k: &str, line: usize) -> Result<bool, ParseError> {
        let mut out = false;
        for (n, v) in &self.items {
            if n == k {
                out = match v.as_deref().map(str::to_ascii_lowercase).as_deref() {
                    None | Some("true") => true,
                    Some("false") => false,
                    Some(o) => {
                        return Err(perr(
                            line,
                            format!("expecting boolean value for flag {k}, not: {o}"),
                        ))
                    }
                }
            }
        }
        Ok(out)
    }
}

fn command_of(n: &Node) -> Command {
    if n.json {
        Command::Exec(n.args())
    } else {
        Command::Shell(n.next.first().map(|a| a.value.clone()).unwrap_or_default())
    }
}

/// Parses one `--mount` value (CSV of key=value).
pub fn parse_mount(v: &str, line: usize) -> Result<RunMount, ParseError> {
    let mut m = RunMount {
        kind: "bind".into(),
        ..Default::default()
    };
    let fields: Vec<&str> = v.split(',').collect();
    for f in &fields {
        if let Some(t) = f.strip_prefix("type=") {
            m.kind = t.to_ascii_lowercase();
        }
    }
    if !matches!(
        m.kind.as_str(),
        "bind" | "cache" | "tmpfs" | "secret" | "ssh"
    ) {
        return Err(perr(line, format!("unsupported mount type {:?}", m.kind)));
    }
    for f in fields {
        let (k, val) = match f.split_once('=') {
            Some((k, v)) => (k.to_ascii_lowercase(), Some(v.to_string())),
            None => (f.to_ascii_lowercase(), None),
        };
        let num = |s: &Option<String>| -> Result<u32, ParseError> {
            let s = s.as_deref().unwrap_or("");
            let r = if let Some(o) = s.strip_prefix("0o") {
                u32::from_str_radix(o, 8)
            } else if k == "mode" {
                u32::from_str_radix(s, 8)
            } else {
                s.parse()
            };
            r.map_err(|_| perr(line, format!("invalid value for {k}: {s}")))
        };
        let boolv = |s: &Option<String>| -> Result<bool, ParseError> {
            match s.as_deref() {
                None | Some("true") | Some("1") => Ok(true),
                Some("false") | Some("0") => Ok(false),
                Some(o) => Err(perr(line, format!("invalid value for {k}: {o}"))),
            }
        };
        let s = val.clone().unwrap_or_default();
        match k.as_str() {
            "type" => {}
            "target" | "dst" | "destination" => m.target = s,
            "source" | "src" => m.source = s,
            "from" => m.from = s,
            "id" => m.id = s,
            "readonly" | "ro" => m.read_only = Some(boolv(&val)?),
            "readwrite" | "rw" => m.read_only = Some(!boolv(&val)?),
            "sharing" => {
                if !matches!(s.as_str(), "shared" | "private" | "locked") {
                    return Err(perr(line, format!("unsupported sharing value \"{s}\"")));
                }
                m.sharing = s
            }
            "mode" => m.mode = Some(num(&val)?),
            "uid" => m.uid = Some(num(&val)?),
            "gid" => m.gid = Some(num(&val)?),
            "required" => m.required = boolv(&val)?,
            "env" => m.env = s,
            "size" => {
                m.size = Some(
                    parse_size(&s)
                        .ok_or_else(|| perr(line, format!("invalid value for size: {s}")))?,
                )
            }
            _ => return Err(perr(line, format!("unexpected key '{k}' in '{f}'"))),
        }
    }
    if m.kind == "secret" || m.kind == "ssh" {
        if m.id.is_empty() && !m.target.is_empty() {
            m.id = m.target.rsplit('/').next().unwrap_or_default().to_string();
        }
        if m.kind == "secret" && m.target.is_empty() && m.env.is_empty() {
            m.target = format!("/run/secrets/{}", m.id);
        }
    } else if m.target.is_empty() {
        return Err(perr(line, "mount destination (target) not specified"));
    }
    Ok(m)
}

/// "64m", "1g", "100" (bytes).
pub fn parse_size(s: &str) -> Option<i64> {
    let s = s.trim().to_ascii_lowercase();
    let s = s.trim_end_matches('b');
    let (num, mul) = match s.chars().last()? {
        'k' => (&s[..s.len() - 1], 1i64 << 10),
        'm' => (&s[..s.len() - 1], 1 << 20),
        'g' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    num.parse::<f64>().ok().map(|n| (n * mul as f64) as i64)
}

fn pairs(n: &Node) -> Vec<(String, String)> {
    n.next
        .chunks(3)
        .map(|c| {
            (
                c[0].value.clone(),
                c.get(1).map(|v| v.value.clone()).unwrap_or_default(),
            )
        })
        .collect()
}

/// Converts one instruction node.
pub fn instruction(n: &Node) -> Result<Step, ParseError> {
    let line = n.start_line;
    let cmd = n.value.to_ascii_lowercase();
    let args = n.args();
    let f = |allowed: &[&str]| Flags::new(&cmd, &n.flags, allowed, line);
    let need = |min: usize, what: &str| -> Result<(), ParseError> {
        if args.len() < min {
            Err(perr(
                line,
                format!("{} requires {what}", cmd.to_uppercase()),
            ))
        } else {
            Ok(())
        }
    };
    let ins = match cmd.as_str() {
        "from" => {
            let fl = f(&["platform"])?;
            if !(args.len() == 1 || (args.len() == 3 && args[1].eq_ignore_ascii_case("as"))) {
                return Err(perr(line, "FROM requires either one or three arguments"));
            }
            let name = args.get(2).map(|s| s.to_ascii_lowercase());
            if let Some(nm) = &name {
                let ok = nm.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                    && nm
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
                if !ok {
                    return Err(perr(line, format!("invalid name for build stage: {nm:?}, name can't start with a number or contain symbols")));
                }
            }
            Instruction::From {
                image: args[0].clone(),
                name,
                platform: fl.string("platform", line)?,
            }
        }
        "run" => {
            let fl = f(&["mount", "network", "security"])?;
            if args.is_empty() {
                return Err(perr(line, "RUN requires at least one argument"));
            }
            if fl.string("security", line)?.is_some_and(|s| s != "sandbox") {
                return Err(perr(line, "RUN --security=insecure is not supported"));
            }
            let mounts = fl
                .strings("mount", line)?
                .iter()
                .map(|m| parse_mount(m, line))
                .collect::<Result<Vec<_>, _>>()?;
            let network = fl.string("network", line)?;
            if let Some(nw) = &network {
                if !matches!(nw.as_str(), "default" | "none" | "host") {
                    return Err(perr(line, format!("unsupported network mode {nw:?}")));
                }
            }
            Instruction::Run {
                command: command_of(n),
                mounts,
                network,
                heredocs: n.heredocs.clone(),
            }
        }
        "cmd" => {
            f(&[])?;
            Instruction::Cmd(command_of(n))
        }
        "entrypoint" => {
            f(&[])?;
            Instruction::Entrypoint(command_of(n))
        }
        "env" => {
            f(&[])?;
            need(1, "at least one argument")?;
            Instruction::Env(pairs(n))
        }
        "label" => {
            f(&[])?;
            need(1, "at least one argument")?;
            Instruction::Label(pairs(n))
        }
        "maintainer" => {
            f(&[])?;
            need(1, "exactly one argument")?;
            Instruction::Maintainer(args[0].clone())
        }
        "arg" => {
            f(&[])?;
            need(1, "at least one argument")?;
            Instruction::Arg(
                args.iter()
                    .map(|a| match a.split_once('=') {
                        Some((k, v)) => (k.to_string(), Some(v.to_string())),
                        None => (a.clone(), None),
                    })
                    .collect(),
            )
        }
        "expose" => {
            f(&[])?;
            need(1, "at least one argument")?;
            Instruction::Expose(args)
        }
        "volume" => {
            f(&[])?;
            need(1, "at least one argument")?;
            Instruction::Volume(args)
        }
        "user" => {
            f(&[])?;
            need(1, "exactly one argument")?;
            Instruction::User(args[0].clone())
        }
        "workdir" => {
            f(&[])?;
            need(1, "exactly one argument")?;
            Instruction::Workdir(args[0].clone())
        }
        "stopsignal" => {
            f(&[])?;
            need(1, "exactly one argument")?;
            Instruction::StopSignal(args[0].clone())
        }
        "shell" => {
            f(&[])?;
            if !n.json {
                return Err(perr(
                    line,
                    "SHELL requires the arguments to be in JSON form",
                ));
            }
            need(1, "at least one argument")?;
            Instruction::Shell(args)
        }
        "onbuild" => {
            f(&[])?;
            let child = n
                .next
                .first()
                .and_then(|c| c.children.first())
                .ok_or_else(|| perr(line, "ONBUILD requires at least one argument"))?;
            let t = child.value.to_ascii_uppercase();
            if t == "ONBUILD" {
                return Err(perr(
                    line,
                    "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
                ));
            }
            if t == "FROM" || t == "MAINTAINER" {
                return Err(perr(
                    line,
                    format!("{t} isn't allowed as an ONBUILD trigger"),
                ));
            }
            let orig = n.original.trim();
            let text = orig
                .get(7..)
                .map(|s| s.trim_start().to_string())
                .unwrap_or_default();
            Instruction::Onbuild(text)
        }
        "healthcheck" => {
            let fl = f(&[
                "interval",
                "timeout",
                "start-period",
                "start-interval",
                "retries",
            ])?;
            need(1, "at least one argument")?;
            let typ = args[0].to_ascii_uppercase();
            let test = match typ.as_str() {
                "NONE" => {
                    if args.len() > 1 || !n.flags.is_empty() {
                        return Err(perr(line, "HEALTHCHECK NONE takes no arguments"));
                    }
                    None
                }
                "CMD" => {
                    if args.len() < 2 {
                        return Err(perr(line, "Missing command after HEALTHCHECK CMD"));
                    }
                    Some(if n.json {
                        Command::Exec(args[1..].to_vec())
                    } else {
                        Command::Shell(args[1].clone())
                    })
                }
                o => {
                    return Err(perr(
                        line,
                        format!("Unknown type {o:?} in HEALTHCHECK (try CMD)"),
                    ))
                }
            };
            Instruction::Healthcheck(HealthArgs {
                test,
                interval: fl.string("interval", line)?,
                timeout: fl.string("timeout", line)?,
                start_period: fl.string("start-period", line)?,
                start_interval: fl.string("start-interval", line)?,
                retries: fl.string("retries", line)?,
            })
        }
        "copy" | "add" => {
            let add = cmd == "add";
            let allowed: &[&str] = if add {
                &[
                    "chown",
                    "chmod",
                    "link",
                    "exclude",
                    "checksum",
                    "keep-git-dir",
                    "parents",
                ]
            } else {
                &["from", "chown", "chmod", "link", "exclude", "parents"]
            };
            let fl = f(allowed)?;
            let mut args = args;
            let mut heredocs = Vec::new();
            if !n.heredocs.is_empty() {
                // Sources written as `<<NAME` are the heredocs of the same name.
                for a in args.iter_mut() {
                    if let Ok(Some(h)) = crate::parser::parse_heredoc(a) {
                        if let Some(hd) = n.heredocs.iter().find(|x| x.name == h.name) {
                            heredocs.push(hd.clone());
                            *a = format!("<<{}", h.name);
                        }
                    }
                }
            }
            if args.len() < 2 {
                return Err(perr(line, format!("{} requires at least two arguments, but only one was provided. Destination could not be determined", cmd.to_uppercase())));
            }
            let dest = args.pop().unwrap();
            Instruction::Copy(CopyArgs {
                add,
                sources: args,
                dest,
                from: fl.string("from", line)?,
                chown: fl.string("chown", line)?,
                chmod: fl.string("chmod", line)?,
                link: fl.bool("link", line)?,
                parents: fl.bool("parents", line)?,
                excludes: fl.strings("exclude", line)?,
                checksum: fl.string("checksum", line)?,
                keep_git_dir: fl.bool("keep-git-dir", line)?,
                heredocs,
            })
        }
        other => {
            return Err(perr(
                line,
                format!("unknown instruction: {}", other.to_uppercase()),
            ))
        }
    };
    Ok(Step {
        instruction: ins,
        original: n.original.trim().to_string(),
        line,
    })
}

/// The stages of a parsed Dockerfile.
pub fn dockerfile(p: &Parsed) -> Result<Dockerfile, ParseError> {
    let mut meta_args = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    for n in &p.ast.children {
        let step = instruction(n)?;
        match step.instruction {
            Instruction::From {
                image,
                name,
                platform,
            } => {
                if let Some(nm) = &name {
                    if stages.iter().any(|s| s.name.as_ref() == Some(nm)) {
                        return Err(perr(step.line, format!("duplicate stage name {nm:?}")));
                    }
                }
                stages.push(Stage {
                    name,
                    base: image,
                    platform,
                    line: step.line,
                    original: step.original,
                    steps: Vec::new(),
                })
            }
            Instruction::Arg(a) if stages.is_empty() => meta_args.extend(a),
            _ => match stages.last_mut() {
                Some(s) => s.steps.push(step),
                None => return Err(perr(step.line, "no build stage in current context")),
            },
        }
    }
    if stages.is_empty() {
        return Err(perr(0, "no build stage in current context"));
    }
    Ok(Dockerfile {
        meta_args,
        stages,
        escape: p.escape,
    })
}

impl Dockerfile {
    /// The index of the stage a name or number refers to (`--from`, `FROM`, `--target`).
    pub fn stage_index(&self, name: &str) -> Option<usize> {
        let l = name.to_ascii_lowercase();
        if let Some(i) = self
            .stages
            .iter()
            .position(|s| s.name.as_deref() == Some(&l))
        {
            return Some(i);
        }
        name.parse::<usize>()
            .ok()
            .filter(|i| *i < self.stages.len())
    }
}
