//! Process attributes of the runtime-spec that the kernel keeps across fork and execve, set
//! by the runtime on the way into the container: `linux.memoryPolicy` (set_mempolicy(2)) and
//! `process.execCPUAffinity` (sched_setaffinity(2): `initial` as an exec'd process joins the
//! container, `final` just before it runs the program).

use crate::{Error, Result};
use oci_spec::runtime::{LinuxMemoryPolicy, MemoryPolicyFlagType, MemoryPolicyModeType};

/// The CPUs (or NUMA nodes) of a list such as "0-3,8,10-11".
pub fn parse_cpu_list(list: &str) -> Result<Vec<usize>> {
    let bad = || Error::Spec(format!("invalid CPU or node list {list:?}"));
    let mut out = Vec::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (part, part),
        };
        let (a, b): (usize, usize) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
        if a > b || b >= 1 << 20 {
            return Err(bad());
        }
        out.extend(a..=b);
    }
    Ok(out)
}

/// A bitmask of `ids` in native words (as the kernel's cpumask and nodemask arguments).
fn mask_words(ids: &[usize]) -> Vec<libc::c_ulong> {
    let bits = libc::c_ulong::BITS as usize;
    let mut words = vec![0; ids.iter().max().map_or(0, |m| m / bits + 1)];
    for &i in ids {
        words[i / bits] |= 1 << (i % bits);
    }
    words
}

/// The mask of a CPU list as one number (the runtime's debug log prints it, as runc does).
pub fn cpu_mask_hex(list: &str) -> Result<String> {
    let words = mask_words(&parse_cpu_list(list)?);
    let mut s = String::new();
    for (i, w) in words.iter().rev().enumerate() {
        if i == 0 {
            s.push_str(&format!("{w:x}"));
        } else {
            s.push_str(&format!("{w:016x}"));
        }
    }
    Ok(if s.is_empty() { "0".into() } else { s })
}

/// Pins the calling process to the CPUs of `list`.
pub(crate) fn set_cpu_affinity(list: &str) -> Result<()> {
    let cpus = parse_cpu_list(list)?;
    if cpus.is_empty() {
        return Err(Error::Spec(format!("empty CPU list {list:?}")));
    }
    let words = mask_words(&cpus);
    // SAFETY: the mask buffer outlives the call and its size in bytes is passed with it.
    let r = unsafe {
        libc::syscall(
            libc::SYS_sched_setaffinity,
            0,
            std::mem::size_of_val(words.as_slice()),
            words.as_ptr(),
        )
    };
    if r != 0 {
        return Err(Error::other(format!(
            "setting the CPU affinity to {list:?}: {}",
            std::io::Error::last_os_error()
        )));
    }
    Ok(())
}

/// linux/mempolicy.h
const MPOL_F_NUMA_BALANCING: i32 = 1 << 13;
const MPOL_F_RELATIVE_NODES: i32 = 1 << 14;
const MPOL_F_STATIC_NODES: i32 = 1 << 15;

fn mode_number(m: MemoryPolicyModeType) -> i32 {
    use MemoryPolicyModeType::*;
    match m {
        MpolDefault => 0,
        MpolPreferred => 1,
        MpolBind => 2,
        MpolInterleave => 3,
        MpolLocal => 4,
        MpolPreferredMany => 5,
        MpolWeightedInterleave => 6,
    }
}

/// Sets `linux.memoryPolicy` on the calling process (inherited by what it forks and execs).
/// What the kernel refuses (nodes that do not exist, flags the mode does not take) is an
/// error, as the runtime-spec asks.
pub(crate) fn set_memory_policy(p: &LinuxMemoryPolicy) -> Result<()> {
    let mut mode = mode_number(p.mode());
    for f in p.flags().iter().flatten() {
        mode |= match f {
            MemoryPolicyFlagType::MpolFNumaBalancing => MPOL_F_NUMA_BALANCING,
            MemoryPolicyFlagType::MpolFRelativeNodes => MPOL_F_RELATIVE_NODES,
            MemoryPolicyFlagType::MpolFStaticNodes => MPOL_F_STATIC_NODES,
        };
    }
    let nodes = parse_cpu_list(p.nodes().as_deref().unwrap_or(""))?;
    let words = mask_words(&nodes);
    // maxnode counts one more than the bits the kernel reads.
    let (ptr, maxnode) = if words.is_empty() {
        (std::ptr::null(), 0usize)
    } else {
        (
            words.as_ptr(),
            words.len() * libc::c_ulong::BITS as usize + 1,
        )
    };
    // SAFETY: the node mask (or NULL with maxnode 0) outlives the call.
    let r = unsafe { libc::syscall(libc::SYS_set_mempolicy, mode, ptr, maxnode) };
    if r != 0 {
        return Err(Error::other(format!(
            "setting linux.memoryPolicy (mode {:?}, nodes {:?}, flags {:?}): {}",
            p.mode(),
            p.nodes().as_deref().unwrap_or(""),
            p.flags().as_deref().unwrap_or_default(),
            std::io::Error::last_os_error()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_parse_into_masks() {
        assert_eq!(parse_cpu_list("0-2,5").unwrap(), vec![0, 1, 2, 5]);
        assert_eq!(parse_cpu_list("").unwrap(), Vec::<usize>::new());
        assert!(parse_cpu_list("3-1").is_err());
        assert!(parse_cpu_list("x").is_err());
        assert_eq!(cpu_mask_hex("0,1").unwrap(), "3");
        assert_eq!(cpu_mask_hex("0").unwrap(), "1");
        assert_eq!(cpu_mask_hex("1").unwrap(), "2");
        assert_eq!(cpu_mask_hex("64").unwrap(), "10000000000000000");
    }
}
