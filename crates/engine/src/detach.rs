//! Detach keys: the key sequence that ends an interactive session (`run -it`, `start -ai`,
//! `attach`, `exec -it`) and leaves the container (or the exec'd process) running.
//!
//! Matching follows moby/term's `EscapeProxy` (the idea, not its code): keys that match the
//! start of the sequence are held back; once the whole sequence is typed the session detaches
//! (what was typed after it in the same read is dropped); a key that breaks the sequence sends
//! the held keys and itself on to the container. Unlike moby, a sequence is also recognised
//! inside a multi-byte read (moby only matches reads of one byte).

/// Docker's default sequence: Ctrl-P Ctrl-Q.
pub const DEFAULT_KEYS: [u8; 2] = [0x10, 0x11];

/// The matcher's state over one input stream.
#[derive(Debug, Clone, Default)]
pub struct EscapeProxy {
    keys: Vec<u8>,
    pos: usize,
}

impl EscapeProxy {
    /// A matcher for `keys` (empty: never detaches).
    pub fn new(keys: &[u8]) -> EscapeProxy {
        EscapeProxy {
            keys: keys.to_vec(),
            pos: 0,
        }
    }

    /// Appends to `out` what of `input` goes on to the container; true when the sequence was
    /// completed (then the session ends).
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> bool {
        if self.keys.is_empty() {
            out.extend_from_slice(input);
            return false;
        }
        for &b in input {
            if b == self.keys[self.pos] {
                self.pos += 1;
                if self.pos == self.keys.len() {
                    self.pos = 0;
                    return true;
                }
                continue;
            }
            // A broken sequence: the held keys go through, then this one (which does not
            // start a new match, as in moby).
            out.extend_from_slice(&self.keys[..self.pos]);
            self.pos = 0;
            out.push(b);
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(keys: &[u8], reads: &[&[u8]]) -> (Vec<u8>, bool) {
        let mut p = EscapeProxy::new(keys);
        let mut out = Vec::new();
        for r in reads {
            if p.feed(r, &mut out) {
                return (out, true);
            }
        }
        (out, false)
    }

    #[test]
    fn default_sequence_detaches_across_reads_and_within_one() {
        assert_eq!(
            run(&DEFAULT_KEYS, &[b"ls\r", b"\x10", b"\x11"]),
            (b"ls\r".to_vec(), true)
        );
        assert_eq!(
            run(&DEFAULT_KEYS, &[b"ab\x10\x11cd"]),
            (b"ab".to_vec(), true)
        );
    }

    #[test]
    fn a_broken_sequence_passes_the_held_keys_through() {
        assert_eq!(
            run(&DEFAULT_KEYS, &[b"\x10", b"x", b"\x11"]),
            (b"\x10x\x11".to_vec(), false)
        );
        // moby: the breaking key does not start a new match.
        assert_eq!(
            run(&DEFAULT_KEYS, &[b"\x10", b"\x10", b"\x11"]),
            (b"\x10\x10\x11".to_vec(), false)
        );
        assert_eq!(run(b"\x01a", &[b"\x01", b"a"]), (Vec::new(), true));
        assert_eq!(run(b"", &[b"\x10\x11"]), (b"\x10\x11".to_vec(), false));
    }
}
