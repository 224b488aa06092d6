//! Readers that verify what passes through them against a digest and a size.

use sha2::{Digest as _, Sha256};
use std::io::{self, Read};

/// Hashes everything read; past `size` bytes or at EOF with the wrong digest it fails with
/// an `InvalidData` error naming both digests, so a consumer cannot mistake a corrupt or
/// truncated blob for a complete one.
pub struct VerifyingReader<R> {
    inner: R,
    hasher: Sha256,
    expected: String,
    size: Option<u64>,
    read: u64,
    done: bool,
}

impl<R: Read> VerifyingReader<R> {
    /// `expected` must be `sha256:<hex>`; other algorithms are refused up front.
    pub fn new(inner: R, expected: &str, size: Option<u64>) -> io::Result<Self> {
        if !expected.starts_with("sha256:") {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("unsupported digest algorithm in {expected} (only sha256 is supported)"),
            ));
        }
        Ok(VerifyingReader {
            inner,
            hasher: Sha256::new(),
            expected: expected.to_string(),
            size,
            read: 0,
            done: false,
        })
    }

    pub fn bytes_read(&self) -> u64 {
        self.read
    }

    /// Reads the rest of the stream and checks it (for consumers that stop early).
    pub fn finish(&mut self) -> io::Result<()> {
        io::copy(self, &mut io::sink())?;
        Ok(())
    }

    fn check(&mut self) -> io::Result<()> {
        let actual = format!("sha256:{}", hex::encode(self.hasher.clone().finalize()));
        if actual != self.expected {
            return Err(mismatch(&self.expected, &actual));
        }
        if let Some(s) = self.size {
            if self.read != s {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("size mismatch: expected {s} bytes, got {}", self.read),
                ));
            }
        }
        Ok(())
    }
}

/// The error for a digest mismatch; [`is_mismatch`] recognizes it.
pub fn mismatch(expected: &str, actual: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("digest mismatch: expected {expected}, got {actual}"),
    )
}

pub fn is_mismatch(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::InvalidData && e.to_string().contains("mismatch")
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done {
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        if n == 0 {
            self.check()?;
            self.done = true;
            return Ok(0);
        }
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        if let Some(s) = self.size {
            if self.read > s {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "size mismatch: blob {} is larger than {s} bytes",
                        self.expected
                    ),
                ));
            }
        }
        Ok(n)
    }
}

/// Reads `r` to the end (at most `limit` bytes) and verifies it.
pub fn read_verified(r: impl Read, expected: &str, limit: u64) -> io::Result<Vec<u8>> {
    let mut v = VerifyingReader::new(r.take(limit + 1), expected, None)?;
    let mut out = Vec::new();
    v.read_to_end(&mut out)?;
    if out.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{expected} is larger than the {limit} bytes allowed"),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(b: &[u8]) -> String {
        format!("sha256:{}", hex::encode(Sha256::digest(b)))
    }

    #[test]
    fn accepts_matching_and_rejects_others() {
        let data = b"hello world".to_vec();
        let good = d(&data);
        assert_eq!(read_verified(&data[..], &good, 100).unwrap(), data);
        let e = read_verified(&b"hello worle"[..], &good, 100).unwrap_err();
        assert!(is_mismatch(&e), "{e}");
        assert!(e.to_string().contains(&good));
        // Too long for the declared size.
        let mut r = VerifyingReader::new(&data[..], &good, Some(5)).unwrap();
        assert!(r.finish().is_err());
        // Truncated: right prefix, wrong size/digest.
        let mut r = VerifyingReader::new(&data[..5], &good, Some(11)).unwrap();
        assert!(r.finish().is_err());
        assert!(read_verified(&data[..], &good, 3).is_err());
        assert!(VerifyingReader::new(&data[..], "md5:abc", None).is_err());
    }
}
