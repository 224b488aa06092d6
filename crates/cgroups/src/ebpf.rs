//! cgroup v2 device control: the OCI device rules compiled to a BPF_PROG_TYPE_CGROUP_DEVICE
//! program (the same idea as runc's devicefilter), loaded and attached with raw bpf(2).
//!
//! The program sees `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }`
//! where `access_type = access << 16 | type`. Rules are checked last to first and the first
//! match decides (so later spec rules override earlier ones); nothing matching means deny.

use crate::{fsutil, Error, Result};
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

/// One `struct bpf_insn` (8 bytes): opcode, dst:4|src:4, off, imm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct Insn {
    pub code: u8,
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: dst | (src << 4),
        off,
        imm,
    }
}

// Opcodes (linux/bpf_common.h, linux/bpf.h).
const LDX_MEM_W: u8 = 0x61; // dst = *(u32 *)(src + off)
const ALU64_AND_K: u8 = 0x57;
const ALU64_RSH_K: u8 = 0x77;
const ALU64_MOV_K: u8 = 0xb7;
const ALU64_MOV_X: u8 = 0xbf;
const JMP_JEQ_K: u8 = 0x15;
const JMP_JNE_K: u8 = 0x55;
const JMP_EXIT: u8 = 0x95;

const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;
const ACC_MKNOD: i32 = 1;
const ACC_READ: i32 = 2;
const ACC_WRITE: i32 = 4;

fn access_bits(access: &str) -> i32 {
    let mut bits = 0;
    for ch in access.chars() {
        bits |= match ch {
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            'm' => ACC_MKNOD,
            _ => 0,
        };
    }
    if bits == 0 {
        ACC_READ | ACC_WRITE | ACC_MKNOD
    } else {
        bits
    }
}

/// Compiles the rules. Registers after the prologue: r2 = type, r3 = access, r4 = major,
/// r5 = minor.
pub fn program(rules: &[LinuxDeviceCgroup]) -> Vec<Insn> {
    let mut prog = vec![
        insn(LDX_MEM_W, 2, 1, 0, 0),
        insn(ALU64_AND_K, 2, 0, 0, 0xffff),
        insn(LDX_MEM_W, 3, 1, 0, 0),
        insn(ALU64_RSH_K, 3, 0, 0, 16),
        insn(LDX_MEM_W, 4, 1, 4, 0),
        insn(LDX_MEM_W, 5, 1, 8, 0),
    ];
    for rule in rules.iter().rev() {
        let typ = match rule.typ().unwrap_or_default() {
            LinuxDeviceType::A => None,
            LinuxDeviceType::B => Some(DEV_BLOCK),
            LinuxDeviceType::C | LinuxDeviceType::U => Some(DEV_CHAR),
            LinuxDeviceType::P => continue, // FIFOs are not device-controlled.
        };
        let acc = access_bits(rule.access().as_deref().unwrap_or(""));
        // (instruction, jumps to the next rule when taken)
        let mut block: Vec<(Insn, bool)> = Vec::new();
        if let Some(t) = typ {
            block.push((insn(JMP_JNE_K, 2, 0, 0, t), true));
        }
        if acc != ACC_READ | ACC_WRITE | ACC_MKNOD {
            block.push((insn(ALU64_MOV_X, 1, 3, 0, 0), false));
            if rule.allow() {
                // allow matches only if every requested access is granted by the rule
                block.push((insn(ALU64_AND_K, 1, 0, 0, !acc & 7), false));
                block.push((insn(JMP_JNE_K, 1, 0, 0, 0), true));
            } else {
                // deny matches if any requested access is denied by the rule
                block.push((insn(ALU64_AND_K, 1, 0, 0, acc), false));
                block.push((insn(JMP_JEQ_K, 1, 0, 0, 0), true));
            }
        }
        if let Some(maj) = rule.major().filter(|&m| m >= 0) {
            block.push((insn(JMP_JNE_K, 4, 0, 0, maj as i32), true));
        }
        if let Some(min) = rule.minor().filter(|&m| m >= 0) {
            block.push((insn(JMP_JNE_K, 5, 0, 0, min as i32), true));
        }
        block.push((insn(ALU64_MOV_K, 0, 0, 0, i32::from(rule.allow())), false));
        block.push((insn(JMP_EXIT, 0, 0, 0, 0), false));
        let len = block.len();
        let catch_all = !block.iter().any(|(_, to_next)| *to_next);
        for (i, (mut ins, to_next)) in block.into_iter().enumerate() {
            if to_next {
                ins.off = (len - i - 1) as i16;
            }
            prog.push(ins);
        }
        // Nothing after an unconditional rule is reachable (the verifier rejects dead code).
        if catch_all {
            return prog;
        }
    }
    prog.push(insn(ALU64_MOV_K, 0, 0, 0, 0));
    prog.push(insn(JMP_EXIT, 0, 0, 0, 0));
    prog
}

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_PROG_QUERY: libc::c_long = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

#[repr(C)]
#[derive(Default)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

#[repr(C)]
#[derive(Default)]
struct QueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    _pad: u32,
    prog_attach_flags: u64,
}

#[repr(C)]
#[derive(Default)]
struct GetFdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> std::io::Result<libc::c_long> {
    // SAFETY: `attr` is a live, initialised repr(C) prefix of `union bpf_attr`; the kernel reads
    // (and for queries writes) at most size_of::<T>() bytes of it.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn owned(fd: libc::c_long) -> OwnedFd {
    // SAFETY: the kernel just returned this fd to us and nothing else owns it.
    unsafe { OwnedFd::from_raw_fd(fd as i32) }
}

fn load(prog: &[Insn]) -> std::io::Result<OwnedFd> {
    let license = b"Apache\0";
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: prog.len() as u32,
        insns: prog.as_ptr() as u64,
        license: license.as_ptr() as u64,
        ..Default::default()
    };
    attr.prog_name[..12].copy_from_slice(b"berth_device");
    match bpf(BPF_PROG_LOAD, &mut attr) {
        Ok(fd) => Ok(owned(fd)),
        Err(e) => {
            // Load again with the verifier log so the error says why.
            let mut log = vec![0u8; 16384];
            attr.log_level = 1;
            attr.log_size = log.len() as u32;
            attr.log_buf = log.as_mut_ptr() as u64;
            let _ = bpf(BPF_PROG_LOAD, &mut attr);
            let end = log.iter().position(|&b| b == 0).unwrap_or(0);
            let msg = String::from_utf8_lossy(&log[..end]);
            Err(std::io::Error::new(
                e.kind(),
                format!("loading the device eBPF program: {e}: {}", msg.trim()),
            ))
        }
    }
}

/// Replaces the cgroup's device program: the new one is attached next to the old ones (which
/// only narrows access for a moment), then the old ones are detached.
pub fn apply_device_rules(dir: &Path, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    let err = |e: std::io::Error| fsutil::io_err(dir, e);
    let cg = std::fs::File::open(dir).map_err(err)?;
    let cg_fd = cg.as_raw_fd() as u32;

    let mut ids = [0u32; 64];
    let mut q = QueryAttr {
        target_fd: cg_fd,
        attach_type: BPF_CGROUP_DEVICE,
        prog_ids: ids.as_mut_ptr() as u64,
        prog_cnt: ids.len() as u32,
        ..Default::default()
    };
    let old: Vec<u32> = match bpf(BPF_PROG_QUERY, &mut q) {
        Ok(_) => ids[..(q.prog_cnt as usize).min(ids.len())].to_vec(),
        Err(e) => return Err(err(e)),
    };

    let prog = load(&program(rules)).map_err(err)?;
    let mut a = AttachAttr {
        target_fd: cg_fd,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        ..Default::default()
    };
    if let Err(e) = bpf(BPF_PROG_ATTACH, &mut a) {
        // A program attached without BPF_F_ALLOW_MULTI (e.g. by another manager) can only be
        // replaced by a plain attach.
        if old.is_empty() {
            return Err(err(e));
        }
        a.attach_flags = 0;
        bpf(BPF_PROG_ATTACH, &mut a).map_err(err)?;
        return Ok(());
    }
    for id in old {
        let mut g = GetFdAttr {
            prog_id: id,
            ..Default::default()
        };
        let Ok(fd) = bpf(BPF_PROG_GET_FD_BY_ID, &mut g) else {
            continue; // already gone
        };
        let old_fd = owned(fd);
        let mut d = AttachAttr {
            target_fd: cg_fd,
            attach_bpf_fd: old_fd.as_raw_fd() as u32,
            attach_type: BPF_CGROUP_DEVICE,
            ..Default::default()
        };
        bpf(BPF_PROG_DETACH, &mut d).map_err(|e| Error::Io {
            path: dir.display().to_string(),
            source: std::io::Error::new(
                e.kind(),
                format!("detaching the previous device program {id}: {e}"),
            ),
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxDeviceCgroupBuilder;

    fn rule(allow: bool, typ: LinuxDeviceType, maj: i64, min: i64, acc: &str) -> LinuxDeviceCgroup {
        LinuxDeviceCgroupBuilder::default()
            .allow(allow)
            .typ(typ)
            .major(maj)
            .minor(min)
            .access(acc)
            .build()
            .unwrap()
    }

    /// Interprets the generated program for one access, so the semantics are tested without
    /// a kernel (the kernel path is tested in tests/v2_real.rs).
    fn run(prog: &[Insn], typ: u32, acc: u32, major: u32, minor: u32) -> i64 {
        let ctx = [(acc << 16) | typ, major, minor];
        let mut r = [0i64; 11];
        let mut pc = 0usize;
        loop {
            let i = prog[pc];
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            pc += 1;
            match i.code {
                LDX_MEM_W => {
                    assert_eq!(src, 1);
                    r[dst] = i64::from(ctx[i.off as usize / 4]);
                }
                ALU64_AND_K => r[dst] &= i64::from(i.imm),
                ALU64_RSH_K => r[dst] = ((r[dst] as u64) >> i.imm) as i64,
                ALU64_MOV_K => r[dst] = i64::from(i.imm),
                ALU64_MOV_X => r[dst] = r[src],
                JMP_JEQ_K if r[dst] == i64::from(i.imm) => pc += i.off as usize,
                JMP_JNE_K if r[dst] != i64::from(i.imm) => pc += i.off as usize,
                JMP_JEQ_K | JMP_JNE_K => {}
                JMP_EXIT => return r[0],
                c => panic!("unexpected opcode {c:#x}"),
            }
        }
    }

    #[test]
    fn last_matching_rule_wins_and_default_denies() {
        use LinuxDeviceType::*;
        let rules = vec![
            rule(false, A, -1, -1, "rwm"),
            rule(true, C, 1, 3, "rw"),     // /dev/null
            rule(true, C, 136, -1, "rwm"), // pts
            rule(false, C, 136, 5, "w"),
        ];
        let p = program(&rules);
        let (r, w, m) = (ACC_READ as u32, ACC_WRITE as u32, ACC_MKNOD as u32);
        let c = DEV_CHAR as u32;
        assert_eq!(run(&p, c, r | w, 1, 3), 1);
        assert_eq!(run(&p, c, m, 1, 3), 0, "mknod not granted");
        assert_eq!(run(&p, c, r, 1, 5), 0, "/dev/zero not allowed");
        assert_eq!(run(&p, DEV_BLOCK as u32, r, 1, 3), 0, "type must match");
        assert_eq!(run(&p, c, r, 136, 7), 1);
        assert_eq!(run(&p, c, r, 136, 5), 1, "partial deny leaves read");
        assert_eq!(run(&p, c, r | w, 136, 5), 0, "partial deny blocks write");
        assert_eq!(run(&program(&[]), c, r, 1, 3), 0);
        let all = program(&[rule(true, A, -1, -1, "rwm")]);
        assert_eq!(run(&all, DEV_BLOCK as u32, r | w | m, 8, 0), 1);
        // No dead code after a catch-all rule: the last instruction is its exit.
        assert_eq!(all.len(), 6 + 2);
        // prologue 6 + "c 1:3 rw" block 8 + deny-all block 2, no default tail
        assert_eq!(program(&rules[..2]).len(), 16);
    }
}
