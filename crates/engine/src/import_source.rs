//! Where `import` reads its tar from: a file, stdin (`-`) or an http(s) URL (as dockerd's
//! `import URL`), and xz or bzip2 compression undone by the system's `xz`/`bzip2` (dockerd
//! itself runs `xz -d` for xz streams; a child process keeps a codec out of the engine).
//! gzip and zstd are left to the layer unpacker, which reads them in-process.

use crate::{Error, Result};
use std::io::{self, Read};
use std::process::{Child, ChildStdout, Command, Stdio};

/// The tar stream of `source`, decompressed from xz/bzip2 if it is.
pub fn open(source: &str) -> Result<Box<dyn Read + Send>> {
    let raw: Box<dyn Read + Send> =
        if source == "-" {
            Box::new(io::stdin())
        } else if source.starts_with("http://") || source.starts_with("https://") {
            let resp = ureq::get(source)
                .call()
                .map_err(|e| Error::Other(format!("Get {source:?}: {e}")))?;
            Box::new(resp.into_reader())
        } else {
            Box::new(std::fs::File::open(source).map_err(|e| {
                Error::InvalidArgument(format!("open {source}: {}", go_message(&e)))
            })?)
        };
    undo_external_compression(raw)
}

/// An io error as Go words it: `no such file or directory` (no `(os error 2)`).
fn go_message(e: &io::Error) -> String {
    let s = e.to_string();
    let s = s.split(" (os error").next().unwrap_or(&s);
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

const XZ_MAGIC: &[u8] = &[0xfd, b'7', b'z', b'X', b'Z', 0];

fn undo_external_compression(mut r: Box<dyn Read + Send>) -> Result<Box<dyn Read + Send>> {
    let mut head = Vec::with_capacity(6);
    while head.len() < 6 {
        let mut b = [0u8; 6];
        let n = r
            .read(&mut b[..6 - head.len()])
            .map_err(|e| Error::Other(format!("reading the import source: {e}")))?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&b[..n]);
    }
    let tool = if head.starts_with(b"BZh") {
        "bzip2"
    } else if head.starts_with(XZ_MAGIC) {
        "xz"
    } else {
        return Ok(Box::new(io::Cursor::new(head).chain(r)));
    };
    let mut child = Command::new(tool)
        .args(["-d", "-c", "-q"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| Error::Other(format!("{tool}-compressed input needs `{tool}`: {e}")))?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    let out = child.stdout.take().expect("piped stdout");
    let mut input = io::Cursor::new(head).chain(r);
    // The feeder ends when the input does or the decompressor exits (broken pipe).
    std::thread::spawn(move || {
        let _ = io::copy(&mut input, &mut stdin);
    });
    Ok(Box::new(Decompressed { tool, child, out }))
}

/// The decompressor's output; its exit status is checked at end of stream.
struct Decompressed {
    tool: &'static str,
    child: Child,
    out: ChildStdout,
}

impl Read for Decompressed {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.out.read(buf)?;
        if n == 0 && !buf.is_empty() {
            let st = self.child.wait()?;
            if !st.success() {
                return Err(io::Error::other(format!(
                    "{} -d: corrupt or truncated input ({st})",
                    self.tool
                )));
            }
        }
        Ok(n)
    }
}

impl Drop for Decompressed {
    fn drop(&mut self) {
        // Stopped early (an error downstream): end the child we started and reap it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xz_and_bzip2_are_undone_plain_passes() {
        let d = tempfile::tempdir().unwrap();
        let plain = d.path().join("p");
        std::fs::write(&plain, b"hello tar bytes\n").unwrap();
        for (tool, ext) in [("xz", "xz"), ("bzip2", "bz2")] {
            let st = Command::new(tool).arg("-kf").arg(&plain).status().unwrap();
            assert!(st.success(), "{tool} missing (scripts/deps.sh installs it)");
            let mut s = String::new();
            open(d.path().join(format!("p.{ext}")).to_str().unwrap())
                .unwrap()
                .read_to_string(&mut s)
                .unwrap();
            assert_eq!(s, "hello tar bytes\n");
        }
        let mut s = String::new();
        open(plain.to_str().unwrap())
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, "hello tar bytes\n");
        let e = open(d.path().join("nosuch").to_str().unwrap())
            .err()
            .unwrap();
        assert!(
            e.to_string().ends_with("nosuch: no such file or directory"),
            "{e}"
        );
    }
}
