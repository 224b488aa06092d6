//! BuildKit's own parser and lexer vectors (copied under tests/vectors, Apache-2.0; see NOTICE).

use build::{parse, Lex};
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

#[test]
fn parser_testfiles() {
    let mut n = 0;
    let mut failed = Vec::new();
    for e in std::fs::read_dir(dir().join("testfiles")).unwrap() {
        let d = e.unwrap().path();
        let src = std::fs::read_to_string(d.join("Dockerfile")).unwrap();
        let want = std::fs::read_to_string(d.join("result")).unwrap();
        n += 1;
        match parse(&src) {
            Ok(p) => {
                let got = p.ast.dump() + "\n";
                if got != want {
                    failed.push(format!("{}:\n--- got\n{got}--- want\n{want}", d.display()));
                }
            }
            Err(e) => failed.push(format!("{}: error {e}", d.display())),
        }
    }
    assert!(n >= 30, "only {n} vectors found");
    assert!(
        failed.is_empty(),
        "{} of {n} failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

#[test]
fn parser_testfiles_negative() {
    let mut n = 0;
    for e in std::fs::read_dir(dir().join("testfiles-negative")).unwrap() {
        let d = e.unwrap().path();
        let src = std::fs::read_to_string(d.join("Dockerfile")).unwrap();
        n += 1;
        assert!(parse(&src).is_err(), "{} parsed", d.display());
    }
    assert_eq!(n, 4);
}

fn env_of(list: &[(String, String)]) -> impl Fn(&str) -> Option<String> + '_ {
    move |k| {
        list.iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    }
}

#[test]
fn shell_env_var_test() {
    let src = std::fs::read_to_string(dir().join("envVarTest")).unwrap();
    let envs: Vec<(String, String)> = [
        ("PWD", "/home"),
        ("SHELL", "bash"),
        ("KOREAN", "한국어"),
        ("NULL", ""),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    let get = env_of(&envs);
    let lex = Lex::new('\\');
    let mut n = 0;
    for (i, line) in src.lines().enumerate() {
        if line.starts_with('#') {
            continue;
        }
        let line = line.trim_start_matches([' ', '\t']);
        if line.is_empty() {
            continue;
        }
        let parts: Vec<&str> = line.split('|').collect();
        assert_eq!(parts.len(), 3, "line {}", i + 1);
        let (plat, source, expected) = (parts[0].trim(), parts[1].trim(), parts[2].trim());
        if plat == "W" {
            continue;
        }
        n += 1;
        let got = lex.process_word(source, &get);
        if expected == "error" {
            assert!(got.is_err(), "line {}: {source:?} gave {got:?}", i + 1);
        } else {
            assert_eq!(got.as_deref(), Ok(expected), "line {}: {source:?}", i + 1);
        }
    }
    assert!(n > 200);
}

#[test]
fn shell_words_test() {
    let src = std::fs::read_to_string(dir().join("wordsTest")).unwrap();
    let mut envs: Vec<(String, String)> = Vec::new();
    let lex = Lex::new('\\');
    let mut n = 0;
    for (i, line) in src.lines().enumerate() {
        if line.starts_with('#') {
            continue;
        }
        if let Some(rest) = line.strip_prefix("ENV ") {
            let rest = rest.trim_start_matches(' ');
            let (k, v) = rest.split_once('=').unwrap();
            envs.push((k.into(), v.into()));
            continue;
        }
        let parts: Vec<&str> = line.split('|').collect();
        assert_eq!(parts.len(), 2, "line {}", i + 1);
        let test = parts[0].trim();
        let expected: Vec<&str> = parts[1].trim_start_matches(' ').split(',').collect();
        let got = lex
            .process_words(test, &env_of(&envs))
            .unwrap_or_else(|_| vec!["error".into()]);
        assert_eq!(got, expected, "line {}: {test:?}", i + 1);
        n += 1;
    }
    assert!(n > 20);
}
