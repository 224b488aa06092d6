//! Malicious layers, digest mismatch and interrupted registers (error mid-stream, kill -9):
//! never a write outside the layer, never a partial layer left.

mod common;
use common::*;
use std::io::{BufRead, Read, Write};
use std::path::Path;
use storage::{Error, Store};

/// Asserts the store holds no layer and no leftover dir.
fn assert_empty(s: &Store, root: &Path) {
    assert!(s.layers().unwrap().is_empty());
    let d = root.join(s.driver_name());
    let left: Vec<String> = entries(&if s.driver_name() == "vfs" {
        d.join("dir")
    } else {
        d
    })
    .into_iter()
    .filter(|e| e != "l")
    .collect();
    assert!(left.is_empty(), "leftovers: {left:?}");
}

fn check_driver(driver: &str) {
    let t = TestRoot::new(&format!("evil-{driver}"));
    let s = t.store(Some(driver));
    let root = t.dir.join("root");
    let outside = t.dir.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let out = outside
        .to_str()
        .unwrap()
        .trim_start_matches('/')
        .to_string();

    // 1. `..` climbing out: rejected, nothing left.
    for name in [
        "../escape",
        "a/../../escape",
        "./../../../../../../tmp/escape",
    ] {
        let tar = tar_of(&[E::File(name, b"x")]);
        let r = s.register(&mut &tar[..], None, None);
        assert!(matches!(r, Err(Error::InvalidLayer(_))), "{name}: {r:?}");
        assert_empty(&s, &root);
    }
    // 2. Absolute names are contained (leading / stripped).
    let abs = format!("/{out}/abs");
    let tar = tar_of(&[E::File(&abs, b"x")]);
    let l = s.register(&mut &tar[..], None, None).unwrap();
    assert!(!outside.join("abs").exists());
    assert!(s
        .layer_dir(&l.chain_id)
        .unwrap()
        .join(&out)
        .join("abs")
        .exists());
    s.release(&l.chain_id).unwrap();

    // 3. Writing through a symlink planted earlier in the same layer (absolute and relative).
    for (target, f) in [
        (format!("/{out}"), "evil/pwned"),
        ("../../../../../../../../..".to_string(), "evil/pwned2"),
    ] {
        let tar = tar_of(&[E::Sym("evil", &target), E::File(f, b"x")]);
        match s.register(&mut &tar[..], None, None) {
            Ok(l) => {
                s.release(&l.chain_id).unwrap();
            }
            Err(Error::InvalidLayer(_)) => {}
            Err(e) => panic!("{e}"),
        }
        assert!(entries(&outside).is_empty(), "escaped via {target}");
        assert!(!Path::new("/pwned2").exists());
        assert_empty(&s, &root);
    }
    // 4. Through a symlink planted in a parent layer.
    let base = tar_of(&[
        E::Sym("evil", &format!("/{out}")),
        E::Sym("rel", "../../../../../../../.."),
    ]);
    let lb = s.register(&mut &base[..], None, None).unwrap();
    for f in ["evil/pwned".to_string(), format!("rel/{out}/pwned")] {
        let tar = tar_of(&[E::File(&f, b"x")]);
        if let Ok(l) = s.register(&mut &tar[..], Some(&lb.chain_id), None) {
            s.release(&l.chain_id).unwrap();
        }
        assert!(
            entries(&outside).is_empty(),
            "escaped via parent symlink {f}"
        );
    }
    // 5. Hard links escaping or dangling: rejected, nothing left.
    std::fs::write(outside.join("secret"), b"s").unwrap();
    for target in [
        "../../../etc/passwd".to_string(),
        format!("/{out}/secret"),
        "evil/secret".to_string(),
        "nonexistent".to_string(),
    ] {
        let tar = tar_of(&[E::File("ok", b"1"), E::Link("h", &target)]);
        let r = s.register(&mut &tar[..], Some(&lb.chain_id), None);
        assert!(matches!(r, Err(Error::InvalidLayer(_))), "{target}: {r:?}");
    }
    // 6. Bad whiteout names.
    let tar = tar_of(&[E::Empty(".wh.."), E::File("x", b"")]);
    assert!(matches!(
        s.register(&mut &tar[..], None, None),
        Err(Error::InvalidLayer(_))
    ));
    s.release(&lb.chain_id).unwrap();
    assert_empty(&s, &root);
    assert_eq!(entries(&outside), ["secret"]);
    assert_eq!(std::fs::read(outside.join("secret")).unwrap(), b"s");
}

#[test]
fn malicious_tars_overlay2() {
    check_driver("overlay2");
}

#[test]
fn malicious_tars_vfs() {
    check_driver("vfs");
}

#[test]
fn digest_mismatch_leaves_nothing() {
    let t = TestRoot::new("mismatch");
    let s = t.store(Some("overlay2"));
    let tar = tar_of(&[E::File("f", b"data")]);
    let wrong = format!("sha256:{}", "0".repeat(64));
    match s.register(&mut &tar[..], None, Some(&wrong)) {
        Err(Error::DigestMismatch { expected, actual }) => {
            assert_eq!(expected, wrong);
            assert_eq!(actual, sha(&tar));
        }
        r => panic!("{r:?}"),
    }
    assert_empty(&s, &t.dir.join("root"));
}

/// Yields `data` then fails (a broken download).
struct Failing<'a>(&'a [u8]);
impl Read for Failing<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.0.is_empty() {
            return Err(std::io::Error::other("connection reset"));
        }
        let n = self.0.len().min(buf.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

fn big_tar() -> Vec<u8> {
    let big = vec![7u8; 1 << 20];
    let names: Vec<String> = (0..8).map(|i| format!("d/f{i}")).collect();
    let entries: Vec<E> = names.iter().map(|n| E::File(n, &big)).collect();
    tar_of(&entries)
}

#[test]
fn error_mid_stream_then_clean_retry() {
    let t = TestRoot::new("midstream");
    let s = t.store(Some("overlay2"));
    let tar = big_tar();
    let r = s.register(&mut Failing(&tar[..tar.len() / 2]), None, None);
    assert!(r.is_err());
    assert_empty(&s, &t.dir.join("root"));
    let l = s.register(&mut &tar[..], None, Some(&sha(&tar))).unwrap();
    assert_eq!(s.get(&l.chain_id).unwrap().size, 8 << 20);
}

/// Child side of `kill_9_mid_register`: registers half a tar, reports, then blocks on stdin.
#[test]
fn child_register_helper() {
    let Ok(root) = std::env::var("BERTH_STORAGE_CHILD_ROOT") else {
        return;
    };
    let s = Store::open(Path::new(&root), Some("overlay2")).unwrap();
    let tar = big_tar();
    struct Half<'a>(&'a [u8], bool);
    impl Read for Half<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0.is_empty() {
                if !self.1 {
                    self.1 = true;
                    println!("READY");
                    std::io::stdout().flush()?;
                }
                let mut b = [0u8; 1];
                return std::io::stdin().read(&mut b); // blocks until killed
            }
            let n = self.0.len().min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }
    let _ = s.register(&mut Half(&tar[..tar.len() / 2], false), None, None);
}

#[test]
fn kill_9_mid_register_then_clean_retry() {
    let t = TestRoot::new("kill9");
    let root = t.dir.join("root");
    let s = t.store(Some("overlay2"));
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_register_helper",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("BERTH_STORAGE_CHILD_ROOT", &root)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    while !line.contains("READY") {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "child exited early");
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let staged: Vec<String> = entries(&root.join("overlay2"))
        .into_iter()
        .filter(|e| e.starts_with(".tmp-"))
        .collect();
    assert_eq!(
        staged.len(),
        1,
        "the killed register leaves only its staging dir"
    );
    drop(s);
    // The retry sweeps the dead staging dir (its flock died with the process).
    let s = t.store(None);
    let tar = big_tar();
    let l = s.register(&mut &tar[..], None, Some(&sha(&tar))).unwrap();
    assert_eq!(s.layers().unwrap(), vec![l]);
    let staged: Vec<String> = entries(&root.join("overlay2"))
        .into_iter()
        .filter(|e| e.starts_with(".tmp-") || e.starts_with(".new-"))
        .collect();
    assert!(
        staged.is_empty(),
        "staging left after the retry: {staged:?}"
    );
}
