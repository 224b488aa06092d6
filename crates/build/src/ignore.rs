//! `.dockerignore` patterns with Docker's rules (moby/patternmatcher): Go `filepath.Match`
//! syntax per path element, `**` for any number of directories, `!` exceptions, the last
//! matching pattern wins, and a pattern that matches a parent directory matches what is in it.

use regex::Regex;

#[derive(Debug, Clone)]
struct Pattern {
    re: Regex,
    text: String,
    exclusion: bool,
}

/// A compiled `.dockerignore`.
#[derive(Debug, Clone, Default)]
pub struct Ignore {
    patterns: Vec<Pattern>,
}

/// Go's `filepath.Clean` for slash paths.
pub fn clean(p: &str) -> String {
    let rooted = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            c => out.push(c),
        }
    }
    let j = out.join("/");
    match (rooted, j.is_empty()) {
        (true, _) => format!("/{j}"),
        (false, true) => ".".into(),
        (false, false) => j,
    }
}

fn compile(p: &str) -> Result<Regex, String> {
    let cs: Vec<char> = p.chars().collect();
    let mut r = String::from("^");
    let mut i = 0;
    while i < cs.len() {
        let ch = cs[i];
        i += 1;
        match ch {
            '*' if cs.get(i) == Some(&'*') => {
                i += 1;
                if cs.get(i) == Some(&'/') {
                    i += 1;
                }
                if i >= cs.len() {
                    r.push_str(".*");
                } else {
                    r.push_str("(.*/)?");
                }
            }
            '*' => r.push_str("[^/]*"),
            '?' => r.push_str("[^/]"),
            '\\' => {
                if let Some(n) = cs.get(i) {
                    r.push_str(&regex::escape(&n.to_string()));
                    i += 1;
                } else {
                    r.push_str("\\\\");
                }
            }
            '[' => {
                // A character class up to ']' (Go's '^' negation is '!' or '^').
                let mut cls = String::from("[");
                if matches!(cs.get(i), Some('!') | Some('^')) {
                    cls.push('^');
                    i += 1;
                }
                let mut closed = false;
                while i < cs.len() {
                    let c = cs[i];
                    i += 1;
                    if c == ']' {
                        closed = true;
                        break;
                    }
                    if c == '\\' && i < cs.len() {
                        cls.push_str(&regex::escape(&cs[i].to_string()));
                        i += 1;
                        continue;
                    }
                    if c == '[' || c == '&' || c == '~' {
                        cls.push('\\');
                    }
                    cls.push(c);
                }
                if !closed {
                    return Err(format!("syntax error in pattern: {p}"));
                }
                cls.push(']');
                r.push_str(&cls);
            }
            c => r.push_str(&regex::escape(&c.to_string())),
        }
    }
    r.push('$');
    Regex::new(&r).map_err(|e| e.to_string())
}

impl Ignore {
    /// Parses the contents of a `.dockerignore`.
    pub fn parse(src: &str) -> Result<Ignore, String> {
        let mut patterns = Vec::new();
        for line in src.lines() {
            if line.starts_with('#') {
                continue;
            }
            let mut p = line.trim();
            if p.is_empty() {
                continue;
            }
            let mut exclusion = false;
            if let Some(r) = p.strip_prefix('!') {
                exclusion = true;
                p = r.trim();
            }
            let mut text = clean(p);
            if text.len() > 1 && text.starts_with('/') {
                text.remove(0);
            }
            let re = compile(&text)?;
            patterns.push(Pattern {
                re,
                text,
                exclusion,
            });
        }
        Ok(Ignore { patterns })
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether any pattern is an exception (a directory that matches may still hold files that
    /// are sent).
    pub fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|p| p.exclusion)
    }

    /// Whether the context path `rel` (slash-separated, relative, cleaned) is excluded.
    pub fn excluded(&self, rel: &str) -> bool {
        let parents: Vec<&str> = rel.match_indices('/').map(|(i, _)| &rel[..i]).collect();
        let mut matched = false;
        for p in &self.patterns {
            let mut m = p.re.is_match(rel);
            if !m {
                m = parents.iter().any(|d| p.re.is_match(d));
            }
            if m {
                matched = !p.exclusion;
            }
        }
        matched
    }

    /// Whether a directory `rel` that is excluded can be skipped whole: no exception pattern
    /// could match something inside it.
    pub fn skip_dir(&self, rel: &str) -> bool {
        if !self.excluded(rel) {
            return false;
        }
        !self.patterns.iter().any(|p| {
            // An exception may match inside `rel` when its elements agree with rel's so far
            // (a `**` element agrees with anything from there on).
            p.exclusion && {
                let pe: Vec<&str> = p.text.split('/').collect();
                let de: Vec<&str> = rel.split('/').collect();
                let mut possible = pe.len() > de.len();
                for (i, d) in de.iter().enumerate() {
                    match pe.get(i) {
                        Some(&"**") => {
                            possible = true;
                            break;
                        }
                        Some(pp) if compile(pp).map(|r| r.is_match(d)).unwrap_or(true) => {}
                        _ => {
                            possible = false;
                            break;
                        }
                    }
                }
                possible
            }
        })
    }
}

/// Go's `filepath.Match` of one pattern against a whole path (no `**`), for COPY sources.
pub fn path_match(pattern: &str, name: &str) -> bool {
    let pe: Vec<&str> = pattern.split('/').collect();
    let ne: Vec<&str> = name.split('/').collect();
    pe.len() == ne.len()
        && pe
            .iter()
            .zip(&ne)
            .all(|(p, n)| compile(p).map(|r| r.is_match(n)).unwrap_or(false))
}

/// Whether a COPY source has glob characters.
pub fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_rules() {
        let i = Ignore::parse(
            "# comment\n*.md\n!README.md\nbuild/\n**/*.tmp\n/secret\ndocs/**\n!docs/keep/**\n",
        )
        .unwrap();
        assert!(i.excluded("a.md"));
        assert!(!i.excluded("README.md"));
        assert!(!i.excluded("sub/a.md"), "* does not cross /");
        assert!(i.excluded("build"));
        assert!(i.excluded("build/x/y"));
        assert!(i.excluded("x.tmp"));
        assert!(i.excluded("a/b/c.tmp"));
        assert!(i.excluded("secret"));
        assert!(i.excluded("docs/a"));
        assert!(!i.excluded("docs/keep/a"));
        assert!(!i.excluded("src/main.rs"));
        assert!(i.skip_dir("build"));
        assert!(!i.skip_dir("docs"));
        let j = Ignore::parse("*\n!src\n").unwrap();
        assert!(j.excluded("a"));
        assert!(!j.excluded("src"));
        assert!(
            !j.excluded("src/x"),
            "exception on the parent dir includes its files"
        );
        let k = Ignore::parse("dir/[a-c]?.txt\n").unwrap();
        assert!(k.excluded("dir/b1.txt"));
        assert!(!k.excluded("dir/d1.txt"));
    }

    #[test]
    fn clean_paths() {
        assert_eq!(clean("./a//b/../c/"), "a/c");
        assert_eq!(clean("/../a"), "/a");
        assert_eq!(clean(""), ".");
        assert!(path_match("*.txt", "a.txt"));
        assert!(!path_match("*.txt", "d/a.txt"));
        assert!(path_match("d/*.txt", "d/a.txt"));
    }
}
