//! Docker's seccomp profile format, resolved into an OCI `linux.seccomp` for one container.
//!
//! The rules follow moby's `profiles/seccomp/seccomp_linux.go` (`setupSeccomp`), re-implemented
//! here: `architectures` or an `archMap` (the native architecture's entry and its
//! sub-architectures), `name` (old, single) or `names`, and per rule `includes`/`excludes`
//! conditions on capabilities (includes: all held; excludes: any held), architectures and
//! `minKernel`. `defaultAction`, `defaultErrnoRet`, `flags`, `listenerPath`, and each rule's
//! `action`, `errnoRet`, `args` pass through unchanged.

use crate::{Error, Result};
use serde_json::{json, Value};

/// The libseccomp name of the architecture this binary runs on (moby's `nativeToSeccomp`).
pub fn native_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "SCMP_ARCH_X86_64",
        "x86" => "SCMP_ARCH_X86",
        "aarch64" => "SCMP_ARCH_AARCH64",
        "arm" => "SCMP_ARCH_ARM",
        "mips64" => "SCMP_ARCH_MIPS64",
        "powerpc64" => "SCMP_ARCH_PPC64LE",
        "riscv64" => "SCMP_ARCH_RISCV64",
        "s390x" => "SCMP_ARCH_S390X",
        a => a,
    }
}

/// Go's name of this architecture (`runtime.GOARCH`), which moby's profiles use in
/// `includes`/`excludes` `arches`.
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "386",
        "aarch64" => "arm64",
        "powerpc64" => "ppc64le",
        a => a,
    }
}

/// The running kernel's (major, minor).
fn kernel_version() -> (u64, u64) {
    let rel = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    parse_version(&rel).unwrap_or((0, 0))
}

/// "6.18.0-1-amd64" or "4.8" -> (6, 18) / (4, 8).
fn parse_version(s: &str) -> Option<(u64, u64)> {
    let mut it = s.split(|c: char| !c.is_ascii_digit());
    let major = it.next()?.parse().ok()?;
    let minor = it.next().and_then(|m| m.parse().ok()).unwrap_or(0);
    Some((major, minor))
}

fn strings(v: Option<&Value>) -> Vec<&str> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn sel<'a>(cond: Option<&'a Value>, key: &str) -> Vec<&'a str> {
    strings(cond.and_then(|c| c.get(key)))
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::InvalidArgument(msg.into())
}

/// Resolves Docker's profile for a container holding capabilities `caps` on this machine.
pub fn seccomp_for(profile: &Value, caps: &[String]) -> Result<Value> {
    resolve(profile, caps, (go_arch(), native_arch()), kernel_version())
}

/// `arch`: this machine's architecture as (Go's name, libseccomp's name).
fn resolve(
    profile: &Value,
    caps: &[String],
    arch: (&str, &str),
    kernel: (u64, u64),
) -> Result<Value> {
    let is_ours = |list: &[&str]| list.iter().any(|a| *a == arch.0 || *a == arch.1);
    let obj = profile
        .as_object()
        .ok_or_else(|| invalid("Decoding seccomp profile failed: not a JSON object"))?;
    let mut out = serde_json::Map::new();
    let default_action = obj
        .get("defaultAction")
        .and_then(Value::as_str)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| invalid("seccomp profile: defaultAction is missing"))?;
    out.insert("defaultAction".into(), json!(default_action));
    for k in [
        "defaultErrnoRet",
        "flags",
        "listenerPath",
        "listenerMetadata",
    ] {
        if let Some(v) = obj.get(k).filter(|v| !v.is_null()) {
            out.insert(k.into(), v.clone());
        }
    }

    let listed = strings(obj.get("architectures"));
    let arch_map = obj.get("archMap").and_then(Value::as_array);
    if !listed.is_empty() && arch_map.is_some_and(|m| !m.is_empty()) {
        return Err(invalid(
            "'architectures' and 'archMap' were specified in the seccomp profile, use either 'architectures' or 'archMap'",
        ));
    }
    let mut arches: Vec<String> = listed.iter().map(|s| s.to_string()).collect();
    for m in arch_map.into_iter().flatten() {
        if m.get("architecture").and_then(Value::as_str) == Some(arch.1) {
            arches.push(arch.1.to_string());
            arches.extend(
                strings(m.get("subArchitectures"))
                    .into_iter()
                    .map(String::from),
            );
        }
    }
    if !arches.is_empty() {
        out.insert("architectures".into(), json!(arches));
    }

    let held = |c: &str| caps.iter().any(|k| k == c);
    let kernel_at_least = |v: Option<&Value>| -> Result<Option<bool>> {
        match v.and_then(Value::as_str).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(s) => parse_version(s)
                .map(|min| Some(kernel >= min))
                .ok_or_else(|| invalid(format!("seccomp profile: invalid minKernel {s:?}"))),
        }
    };
    let mut rules = Vec::new();
    for r in obj
        .get("syscalls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let mut names: Vec<String> = strings(r.get("names"))
            .into_iter()
            .map(String::from)
            .collect();
        if let Some(n) = r
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
        {
            if !names.is_empty() {
                return Err(invalid(
                    "'name' and 'names' were specified in the seccomp profile, use either 'name' or 'names'",
                ));
            }
            names.push(n.to_string());
        }
        let inc = r.get("includes");
        let exc = r.get("excludes");
        let inc_arches = sel(inc, "arches");
        if !inc_arches.is_empty() && !is_ours(&inc_arches) {
            continue;
        }
        if !sel(inc, "caps").iter().all(|c| held(c)) {
            continue;
        }
        if kernel_at_least(inc.and_then(|c| c.get("minKernel")))? == Some(false) {
            continue;
        }
        if is_ours(&sel(exc, "arches")) {
            continue;
        }
        if sel(exc, "caps").iter().any(|c| held(c)) {
            continue;
        }
        if kernel_at_least(exc.and_then(|c| c.get("minKernel")))? == Some(true) {
            continue;
        }
        if names.is_empty() {
            continue;
        }
        let mut rule = serde_json::Map::new();
        rule.insert("names".into(), json!(names));
        let action = r
            .get("action")
            .and_then(Value::as_str)
            .filter(|a| !a.is_empty())
            .ok_or_else(|| {
                invalid(format!(
                    "seccomp profile: the rule for {names:?} has no action"
                ))
            })?;
        rule.insert("action".into(), json!(action));
        for k in ["errnoRet", "args"] {
            if let Some(v) = r.get(k).filter(|v| !v.is_null()) {
                rule.insert(k.into(), v.clone());
            }
        }
        rules.push(Value::Object(rule));
    }
    out.insert("syscalls".into(), Value::Array(rules));
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    const X86: (&str, &str) = ("amd64", "SCMP_ARCH_X86_64");
    const ARM: (&str, &str) = ("arm64", "SCMP_ARCH_AARCH64");

    fn names(v: &Value) -> Vec<&str> {
        v["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r["names"].as_array().unwrap())
            .map(|n| n.as_str().unwrap())
            .collect()
    }

    #[test]
    fn conditions_follow_moby() {
        let p = json!({
            "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
            "archMap": [
                {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
                {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}
            ],
            "syscalls": [
                {"names": ["read"], "action": "SCMP_ACT_ALLOW", "comment": "x"},
                {"name": "write", "action": "SCMP_ACT_ALLOW"},
                {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64", "x32"]}},
                {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
                {"names": ["clone"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}],
                 "excludes": {"caps": ["CAP_SYS_ADMIN", "CAP_BPF"]}},
                {"names": ["newthing"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "7.1"}},
                {"names": ["oldthing"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38, "excludes": {"minKernel": "4.8"}}
            ]
        });
        let plain = resolve(&p, &[], X86, (6, 18)).unwrap();
        assert_eq!(names(&plain), ["read", "write", "arch_prctl", "clone"]);
        assert_eq!(
            plain["architectures"],
            json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
        );
        assert_eq!(plain["defaultErrnoRet"], 1);
        assert!(plain["syscalls"][0].get("comment").is_none());
        // excludes.caps: any one held removes the rule (moby), includes.caps: all needed.
        let bpf = resolve(&p, &["CAP_BPF".into()], X86, (4, 1)).unwrap();
        assert_eq!(names(&bpf), ["read", "write", "arch_prctl", "oldthing"]);
        let admin = resolve(&p, &["CAP_SYS_ADMIN".into()], ARM, (7, 2)).unwrap();
        assert_eq!(names(&admin), ["read", "write", "mount", "newthing"]);
        assert_eq!(
            admin["architectures"],
            json!(["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"])
        );
    }

    #[test]
    fn contradictions_are_refused() {
        let both = json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
            "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]});
        assert!(resolve(&both, &[], X86, (6, 1)).is_err());
        let names = json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"name": "a", "names": ["b"], "action": "SCMP_ACT_ERRNO"}]});
        assert!(resolve(&names, &[], X86, (6, 1)).is_err());
        assert!(resolve(&json!({"syscalls": []}), &[], X86, (6, 1)).is_err());
    }

    #[test]
    fn versions() {
        assert_eq!(parse_version("6.18.0-1-cloud-amd64"), Some((6, 18)));
        assert_eq!(parse_version("4.8"), Some((4, 8)));
        assert_eq!(parse_version("5"), Some((5, 0)));
        assert_eq!(parse_version("x"), None);
    }
}
