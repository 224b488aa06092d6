//! `images --filter` as dockerd 20.10 applies it: `dangling=`, `label=k[=v]` (all must
//! match), `before=`/`since=` (creation time, to the nanosecond, of another image) and
//! `reference=` (Go `path.Match` globs over "repo:tag" and "repo"). Unknown keys and bad
//! values are refused with the daemon's messages.

use std::collections::BTreeMap;

#[derive(Default)]
pub struct ImageFilters {
    pub dangling: Option<bool>,
    pub refs: Vec<String>,
    labels: Vec<String>,
    before: Option<i128>,
    since: Option<i128>,
}

/// An image's config `created` (RFC 3339) in nanoseconds.
pub fn created_ns(created: Option<&str>) -> i128 {
    created
        .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
        .and_then(|t| t.timestamp_nanos_opt())
        .unwrap_or(0) as i128
}

impl ImageFilters {
    /// `created_of` resolves an image reference for before/since (its error is the message).
    pub fn parse(
        filters: &[String],
        created_of: &dyn Fn(&str) -> Result<i128, String>,
    ) -> Result<ImageFilters, String> {
        let mut f = ImageFilters::default();
        for s in filters {
            let Some((k, v)) = s.split_once('=') else {
                return Err(format!("bad format of filter (expected name=value): {s}"));
            };
            match k.trim().to_ascii_lowercase().as_str() {
                "dangling" => {
                    f.dangling = Some(match v.to_ascii_lowercase().as_str() {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        _ => return Err(format!("Invalid filter 'dangling=[{v}]'")),
                    })
                }
                "reference" => {
                    path_match(v, "")?;
                    f.refs.push(v.to_string());
                }
                "label" => f.labels.push(v.to_string()),
                "before" => f.before = Some(created_of(v)?),
                "since" => f.since = Some(created_of(v)?),
                k => return Err(format!("Invalid filter '{k}'")),
            }
        }
        Ok(f)
    }

    /// Whether an image (its labels, creation time, dangling) passes the image-wide filters.
    pub fn keep_image(
        &self,
        labels: &BTreeMap<String, String>,
        created: i128,
        dangling: bool,
    ) -> bool {
        self.dangling.is_none_or(|d| d == dangling)
            && self.before.is_none_or(|b| created < b)
            && self.since.is_none_or(|s| created > s)
            && self.labels.iter().all(|l| match l.split_once('=') {
                Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
                None => labels.contains_key(l.as_str()),
            })
    }

    /// Whether the reference `repo:tag` passes the `reference=` globs (moby's FamiliarMatch:
    /// the whole reference, else the repository alone).
    pub fn keep_ref(&self, repo: &str, tag: &str) -> bool {
        self.refs.is_empty()
            || self.refs.iter().any(|p| {
                path_match(p, &format!("{repo}:{tag}")).unwrap_or(false)
                    || path_match(p, repo).unwrap_or(false)
            })
    }
}

/// Go's `path.Match`: `*` (any run of non-'/'), `?` (one non-'/'), `[...]` classes with
/// ranges and `^`, `\` escapes. A malformed pattern is an error ("syntax error in pattern").
pub fn path_match(pattern: &str, name: &str) -> Result<bool, String> {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    check(&p)?;
    Ok(matches(&p, &n))
}

const BAD: &str = "syntax error in pattern";

fn check(p: &[char]) -> Result<(), String> {
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '\\' => {
                if i + 1 >= p.len() {
                    return Err(BAD.into());
                }
                i += 2;
            }
            '[' => i = class_end(p, i).ok_or(BAD)?,
            _ => i += 1,
        }
    }
    Ok(())
}

/// The index after the class starting at `p[i] == '['`, None if malformed.
fn class_end(p: &[char], mut i: usize) -> Option<usize> {
    i += 1;
    if p.get(i) == Some(&'^') {
        i += 1;
    }
    let mut first = true;
    loop {
        let c = *p.get(i)?;
        if c == ']' && !first {
            return Some(i + 1);
        }
        first = false;
        let lo = if c == '\\' {
            i += 1;
            *p.get(i)?
        } else {
            c
        };
        let _ = lo;
        i += 1;
        if p.get(i) == Some(&'-') && p.get(i + 1).is_some_and(|&c| c != ']') {
            i += 1;
            if p[i] == '\\' {
                i += 1;
                p.get(i)?;
            }
            i += 1;
        }
    }
}

/// Whether `c` is in the class `p[i..end]` (from its '[').
fn in_class(p: &[char], i: usize, c: char) -> bool {
    let mut j = i + 1;
    let negate = p.get(j) == Some(&'^');
    if negate {
        j += 1;
    }
    let mut hit = false;
    let mut first = true;
    while j < p.len() && (p[j] != ']' || first) {
        first = false;
        let mut lo = p[j];
        if lo == '\\' {
            j += 1;
            lo = p[j];
        }
        j += 1;
        let mut hi = lo;
        if p.get(j) == Some(&'-') && p.get(j + 1).is_some_and(|&c| c != ']') {
            j += 1;
            hi = p[j];
            if hi == '\\' {
                j += 1;
                hi = p[j];
            }
            j += 1;
        }
        if lo <= c && c <= hi {
            hit = true;
        }
    }
    hit != negate
}

fn matches(p: &[char], n: &[char]) -> bool {
    match p.first() {
        None => n.is_empty(),
        Some('*') => (0..=n.len())
            .take_while(|&k| k == 0 || n[k - 1] != '/')
            .any(|k| matches(&p[1..], &n[k..])),
        Some('?') => n.first().is_some_and(|&c| c != '/') && matches(&p[1..], &n[1..]),
        Some('[') => {
            let end = class_end(p, 0).unwrap_or(p.len());
            n.first().is_some_and(|&c| c != '/' && in_class(p, 0, c)) && matches(&p[end..], &n[1..])
        }
        Some('\\') => n.first() == p.get(1) && matches(&p[2..], &n[1..]),
        Some(&c) => n.first() == Some(&c) && matches(&p[1..], &n[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_path_match() {
        let m = |p: &str, n: &str| path_match(p, n).unwrap();
        assert!(m("hc:?", "hc:1"));
        assert!(!m("hc:?", "hc:12"));
        assert!(m("h*", "hc"));
        assert!(!m("*", "other/lab"));
        assert!(m("*/lab", "other/lab"));
        assert!(m("[hl]*:[12x]", "lab:x"));
        assert!(!m("[hl]*:[12x]", "hc:3"));
        assert!(m("[^a]c", "hc"));
        assert!(m("[a-z]c", "hc"));
        assert!(m("\\*", "*"));
        assert_eq!(path_match("[", "x").unwrap_err(), "syntax error in pattern");
        assert_eq!(
            path_match("a\\", "a").unwrap_err(),
            "syntax error in pattern"
        );
    }

    /// dockerd 20.10's answers for the same filters.
    #[test]
    fn filters_as_dockerd() {
        let created = |r: &str| match r {
            "hc:2" => Ok(20),
            _ => Err(format!("No such image: {r}")),
        };
        let f = |s: &[&str]| {
            ImageFilters::parse(
                &s.iter().map(|x| x.to_string()).collect::<Vec<_>>(),
                &created,
            )
        };
        assert_eq!(f(&["foo=1"]).err().unwrap(), "Invalid filter 'foo'");
        assert_eq!(
            f(&["dangling=maybe"]).err().unwrap(),
            "Invalid filter 'dangling=[maybe]'"
        );
        assert_eq!(
            f(&["before=nope:1"]).err().unwrap(),
            "No such image: nope:1"
        );
        assert_eq!(
            f(&["reference=["]).err().unwrap(),
            "syntax error in pattern"
        );
        let before = f(&["before=hc:2"]).unwrap();
        let none = BTreeMap::new();
        assert!(before.keep_image(&none, 10, false));
        assert!(!before.keep_image(&none, 20, false));
        let since = f(&["since=hc:2"]).unwrap();
        assert!(since.keep_image(&none, 21, false) && !since.keep_image(&none, 20, false));
        let labels: BTreeMap<String, String> = [("a".to_string(), "1".to_string())].into();
        assert!(f(&["label=a"]).unwrap().keep_image(&labels, 0, false));
        assert!(f(&["label=a=1"]).unwrap().keep_image(&labels, 0, false));
        assert!(!f(&["label=a=2"]).unwrap().keep_image(&labels, 0, false));
        let r = f(&["reference=lab"]).unwrap();
        assert!(r.keep_ref("lab", "x") && !r.keep_ref("other/lab", "y"));
    }
}
