//! The stage graph: which stages a target needs, and in what order they may run.

use crate::instructions::{Dockerfile, Instruction};

/// What a stage builds on and copies from, by stage index. `base_of` gives the stage's base
/// after expansion (FROM may use meta ARGs); `expand` expands `--from` values.
pub fn dependencies(
    df: &Dockerfile,
    base_of: &dyn Fn(usize) -> String,
    expand: &dyn Fn(&str) -> String,
) -> Vec<Vec<usize>> {
    df.stages
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut d = Vec::new();
            let mut add = |name: &str| {
                if let Some(j) = df.stage_index(name).filter(|j| *j < i) {
                    if !d.contains(&j) {
                        d.push(j);
                    }
                }
            };
            add(&base_of(i));
            for st in &s.steps {
                match &st.instruction {
                    Instruction::Copy(c) => {
                        if let Some(f) = &c.from {
                            add(&expand(f));
                        }
                    }
                    Instruction::Run { mounts, .. } => {
                        for m in mounts {
                            if !m.from.is_empty() {
                                add(&expand(&m.from));
                            }
                        }
                    }
                    _ => {}
                }
            }
            d
        })
        .collect()
}

/// The stages `target` needs (itself included), in index order.
pub fn needed(deps: &[Vec<usize>], target: usize) -> Vec<usize> {
    let mut seen = vec![false; deps.len()];
    let mut stack = vec![target];
    while let Some(i) = stack.pop() {
        if !std::mem::replace(&mut seen[i], true) {
            stack.extend(&deps[i]);
        }
    }
    (0..deps.len()).filter(|i| seen[*i]).collect()
}

/// A build-cache key: sha256 over the parts, each length-prefixed.
pub fn cache_key(parts: &[&[u8]]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{instructions::dockerfile, parse};

    #[test]
    fn target_skips_unneeded_stages() {
        let src = "ARG BASE=busybox\nFROM $BASE AS a\nRUN x\nFROM busybox AS b\nRUN y\nFROM a AS c\nCOPY --from=b /y /y\nFROM busybox AS unused\nRUN z\n";
        let df = dockerfile(&parse(src).unwrap()).unwrap();
        assert_eq!(
            df.meta_args,
            vec![("BASE".to_string(), Some("busybox".to_string()))]
        );
        let deps = dependencies(&df, &|i| df.stages[i].base.clone(), &|s| s.to_string());
        assert_eq!(deps, vec![vec![], vec![], vec![0, 1], vec![]]);
        assert_eq!(needed(&deps, 2), vec![0, 1, 2]);
        assert_eq!(needed(&deps, df.stage_index("b").unwrap()), vec![1]);
        assert_ne!(cache_key(&[b"ab", b"c"]), cache_key(&[b"a", b"bc"]));
    }
}
