//! `logs --details`: each line is prefixed with the container's log attributes, as dockerd's
//! json-file driver does: the labels named by `--log-opt labels=` and the variables named by
//! `--log-opt env=` that the container has, `k=v` sorted and joined by `,`, then a space (an
//! empty prefix when there are none, so every line starts with a space).

use std::io::{self, Write};

/// The details prefix of a container (without the trailing space).
pub fn attributes(c: &engine::types::ContainerJson) -> String {
    let opts = &c.host_config.log_config.config;
    let names = |k: &str| -> Vec<String> {
        opts.get(k)
            .map(|v| v.split(',').map(|s| s.trim().to_string()).collect())
            .unwrap_or_default()
    };
    let mut attrs: Vec<String> = Vec::new();
    for l in names("labels") {
        if let Some(v) = c.config.labels.get(&l) {
            attrs.push(format!("{l}={v}"));
        }
    }
    for n in names("env") {
        let prefix = format!("{n}=");
        if let Some(e) = c.config.env.iter().find(|e| e.starts_with(&prefix)) {
            attrs.push(e.clone());
        }
    }
    attrs.sort();
    attrs.dedup();
    attrs.join(",")
}

/// A writer that puts `prefix` and a space before every line.
pub struct Prefixed<'a> {
    inner: &'a mut dyn Write,
    prefix: Vec<u8>,
    at_start: bool,
}

impl<'a> Prefixed<'a> {
    pub fn new(inner: &'a mut dyn Write, attrs: &str) -> Prefixed<'a> {
        Prefixed {
            inner,
            prefix: format!("{attrs} ").into_bytes(),
            at_start: true,
        }
    }
}

impl Write for Prefixed<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut out = Vec::with_capacity(buf.len() + self.prefix.len());
        for &b in buf {
            if self.at_start {
                out.extend_from_slice(&self.prefix);
            }
            out.push(b);
            self.at_start = b == b'\n';
        }
        self.inner.write_all(&out)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_every_line_across_writes() {
        let mut v = Vec::new();
        {
            let mut p = Prefixed::new(&mut v, "a=1");
            p.write_all(b"one\ntw").unwrap();
            p.write_all(b"o\nthree\n").unwrap();
        }
        assert_eq!(
            String::from_utf8(v).unwrap(),
            "a=1 one\na=1 two\na=1 three\n"
        );
        let mut v = Vec::new();
        Prefixed::new(&mut v, "").write_all(b"x\n").unwrap();
        assert_eq!(v, b" x\n");
    }
}
