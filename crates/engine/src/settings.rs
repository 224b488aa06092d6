//! Create-time checks of settings berth applies only partly or not at all: a setting berth
//! accepts is applied exactly, or refused here with an error naming its flag (exit 125 in the
//! CLI). Messages follow Docker's where Docker refuses the same input.

use crate::types::HostConfig;
use crate::{Error, Result};
use serde_json::{json, Value};

fn refuse(msg: impl Into<String>) -> Error {
    Error::InvalidArgument(msg.into())
}

/// IPC modes Docker 20.10 knows: "", "none", "private", "shareable", "host", "container:<x>".
pub fn valid_ipc_mode(m: &str) -> bool {
    matches!(m, "" | "none" | "private" | "shareable" | "host")
        || m.strip_prefix("container:").is_some_and(|c| !c.is_empty())
}

/// Parses a `--device-cgroup-rule` (`type major:minor access`, e.g. `c 1:3 mr`, `a *:* rwm`)
/// into an OCI device cgroup rule, as Docker's CLI validates it.
pub fn device_cgroup_rule(r: &str) -> Result<Value> {
    let bad = || {
        refuse(format!(
            "invalid argument {r:?} for \"--device-cgroup-rule\" flag: invalid device cgroup format '{r}'"
        ))
    };
    let parts: Vec<&str> = r.split(' ').collect();
    let [kind, nums, access] = parts.as_slice() else {
        return Err(bad());
    };
    if !matches!(*kind, "a" | "b" | "c") {
        return Err(bad());
    }
    let (maj, min) = nums.split_once(':').ok_or_else(bad)?;
    let num = |s: &str| -> Result<Option<i64>> {
        match s {
            "*" => Ok(None),
            s if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                s.parse().map(Some).map_err(|_| bad())
            }
            _ => Err(bad()),
        }
    };
    let (maj, min) = (num(maj)?, num(min)?);
    if access.is_empty() || access.len() > 3 || !access.chars().all(|c| "rwm".contains(c)) {
        return Err(bad());
    }
    let mut rule = json!({"allow": true, "type": kind, "access": access});
    if let Some(m) = maj {
        rule["major"] = json!(m);
    }
    if let Some(m) = min {
        rule["minor"] = json!(m);
    }
    Ok(rule)
}

/// Refuses what berth would otherwise accept and drop.
pub fn validate(h: &HostConfig) -> Result<()> {
    // User namespaces are not implemented: only the host's (no remapping).
    if !matches!(h.userns_mode.as_str(), "" | "host") {
        return Err(refuse("--userns: invalid USER mode"));
    }
    if !valid_ipc_mode(&h.ipc_mode) {
        return Err(refuse(format!("Invalid IPC mode: {}", h.ipc_mode)));
    }
    if !matches!(h.isolation.as_str(), "" | "default") {
        return Err(refuse(format!(
            "Invalid isolation: {:?} - linux only supports 'default'",
            h.isolation
        )));
    }
    // berth has one runtime, its own (runc-compatible; "runc" is Docker's default name).
    if !matches!(h.runtime.as_str(), "" | "runc" | "berth") {
        return Err(refuse(format!("Unknown runtime specified {}", h.runtime)));
    }
    if !matches!(h.volume_driver.as_str(), "" | "local") {
        return Err(refuse(format!(
            "--volume-driver {}: only the local volume driver is supported",
            h.volume_driver
        )));
    }
    if h.kernel_memory != 0 || h.kernel_memory_tcp != 0 {
        return Err(refuse(
            "--kernel-memory: kernel memory limits are not supported (Linux 6.x no longer applies memory.kmem.limit_in_bytes)",
        ));
    }
    for r in h.device_cgroup_rules.iter().flatten() {
        device_cgroup_rule(r)?;
    }
    // Docker drops a seccomp profile given with --privileged; berth says so instead.
    let profile = h.security_opt.iter().flatten().any(|o| {
        o.strip_prefix("seccomp")
            .and_then(|v| v.strip_prefix(['=', ':']))
            .is_some_and(|v| v != "unconfined")
    });
    if h.privileged && profile {
        return Err(refuse(
            "--security-opt seccomp: a privileged container runs without seccomp; drop the profile or --privileged",
        ));
    }
    // The monitor writes json-file logs, unrotated.
    if !matches!(h.log_config.kind.as_str(), "" | "json-file") {
        return Err(refuse(format!(
            "--log-driver {}: only the json-file logging driver is supported by berth",
            h.log_config.kind
        )));
    }
    if let Some(k) = h.log_config.config.keys().next() {
        return Err(refuse(format!(
            "--log-opt {k}: log options are not supported by berth's json-file logs yet"
        )));
    }
    cgroup_features(h, std::path::Path::new("/sys/fs/cgroup"))
}

/// Memory settings the host's cgroups cannot apply (Docker warns and discards them).
fn cgroup_features(h: &HostConfig, root: &std::path::Path) -> Result<()> {
    let v2_only = || root.join("cgroup.controllers").exists();
    let v2_settings =
        h.memory_swappiness.is_some_and(|s| s >= 0) || h.oom_kill_disable == Some(true);
    if v2_settings && v2_only() {
        if h.memory_swappiness.is_some_and(|s| s >= 0) {
            return Err(refuse(
                "--memory-swappiness: cgroup v2 has no memory swappiness; not applied",
            ));
        }
        if h.oom_kill_disable == Some(true) {
            return Err(refuse(
                "--oom-kill-disable: cgroup v2 cannot disable the OOM killer",
            ));
        }
    } else if h.memory_swap > 0
        && !v2_only()
        && !root.join("memory/memory.memsw.limit_in_bytes").exists()
    {
        return Err(refuse(
            "--memory-swap: your kernel does not support swap limit capabilities (memory.memsw.limit_in_bytes is missing: swap accounting is off)",
        ));
    }
    Ok(())
}

/// What `--security-opt` asks for.
pub struct SecurityOpts {
    pub no_new_privs: bool,
    /// The resolved profile (None: unconfined).
    pub seccomp: Option<Value>,
    /// `systempaths=unconfined`: no masked or read-only /proc paths.
    pub unconfined_paths: bool,
    pub apparmor: Option<String>,
}

/// Parses `--security-opt` as Docker's daemon does (`parseSecurityOpt`); the seccomp value is
/// the profile's JSON (the CLI reads the file). What berth cannot apply is refused.
pub fn security_opts(h: &HostConfig, caps: &[String]) -> Result<SecurityOpts> {
    let mut out = SecurityOpts {
        no_new_privs: false,
        seccomp: None,
        unconfined_paths: false,
        apparmor: None,
    };
    let mut profile: Option<Value> = None;
    let mut seccomp_unconfined = h.privileged;
    let bad = |n: u8, o: &str| Error::InvalidArgument(format!("invalid --security-opt {n}: {o:?}"));
    for o in h.security_opt.iter().flatten() {
        if o == "no-new-privileges" {
            out.no_new_privs = true;
            continue;
        }
        let (k, v) = o.split_once(['=', ':']).ok_or_else(|| bad(1, o))?;
        match k {
            "no-new-privileges" => {
                out.no_new_privs = match v {
                    "true" | "1" | "t" | "T" | "TRUE" | "True" => true,
                    "false" | "0" | "f" | "F" | "FALSE" | "False" => false,
                    _ => return Err(bad(2, o)),
                }
            }
            "seccomp" if v == "unconfined" => seccomp_unconfined = true,
            "seccomp" => {
                let prof: Value = serde_json::from_str(v).map_err(|e| {
                    Error::InvalidArgument(format!("Decoding seccomp profile failed: {e}"))
                })?;
                profile = Some(prof);
            }
            "procfs" if crate::procfs_serve::Mode::parse(v).is_some() => {}
            "procfs" => {
                return Err(Error::InvalidArgument(format!(
                    "--security-opt {o}: procfs must be \"container\" (the container's own \
                     /proc files) or \"host\""
                )))
            }
            "systempaths" if v == "unconfined" => out.unconfined_paths = true,
            "systempaths" => return Err(bad(2, o)),
            "label" if v == "disable" => {}
            "label" => {
                return Err(Error::InvalidArgument(format!(
                    "--security-opt {o}: SELinux labels are not supported by berth (only label=disable)"
                )))
            }
            "apparmor" if v == "unconfined" => {}
            "apparmor" => {
                if !runtime::security::lsm_support().0 {
                    return Err(Error::InvalidArgument(format!(
                        "--security-opt {o}: AppArmor is not enabled on this host"
                    )));
                }
                out.apparmor = Some(v.to_string());
            }
            _ => return Err(bad(2, o)),
        }
    }
    if !seccomp_unconfined {
        let prof = match profile {
            Some(p) => p,
            None => {
                serde_json::from_str(crate::spec::SECCOMP_DEFAULT).expect("embedded profile parses")
            }
        };
        out.seccomp = Some(crate::seccomp::seccomp_for(&prof, caps)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_v2_memory_features() {
        let v2 = tempfile::tempdir().unwrap();
        std::fs::write(v2.path().join("cgroup.controllers"), "memory io").unwrap();
        let h = HostConfig {
            memory_swappiness: Some(10),
            ..Default::default()
        };
        assert!(cgroup_features(&h, v2.path())
            .unwrap_err()
            .to_string()
            .contains("--memory-swappiness"));
        let h = HostConfig {
            oom_kill_disable: Some(true),
            ..Default::default()
        };
        assert!(cgroup_features(&h, v2.path()).is_err());
        let v1 = tempfile::tempdir().unwrap();
        assert!(cgroup_features(&h, v1.path()).is_ok());
        let h = HostConfig {
            memory: 64 << 20,
            memory_swap: 128 << 20,
            ..Default::default()
        };
        assert!(cgroup_features(&h, v1.path())
            .unwrap_err()
            .to_string()
            .contains("--memory-swap"));
        std::fs::create_dir(v1.path().join("memory")).unwrap();
        std::fs::write(v1.path().join("memory/memory.memsw.limit_in_bytes"), "").unwrap();
        assert!(cgroup_features(&h, v1.path()).is_ok());
    }

    #[test]
    fn device_rules() {
        assert_eq!(
            device_cgroup_rule("c 1:3 mr").unwrap(),
            json!({"allow": true, "type": "c", "major": 1, "minor": 3, "access": "mr"})
        );
        assert_eq!(
            device_cgroup_rule("a *:* rwm").unwrap(),
            json!({"allow": true, "type": "a", "access": "rwm"})
        );
        for bad in [
            "foo",
            "c_1:3_r",
            "x 1:3 r",
            "c 1:3 rx",
            "c 1: r",
            "c 1:3 rwmr",
        ] {
            let e = device_cgroup_rule(bad).unwrap_err().to_string();
            assert!(
                e.contains(&format!("invalid device cgroup format '{bad}'")),
                "{e}"
            );
        }
    }

    #[test]
    fn refusals_name_the_setting() {
        let check = |f: &dyn Fn(&mut HostConfig), want: &str| {
            let mut h = HostConfig::default();
            f(&mut h);
            let e = validate(&h).unwrap_err().to_string();
            assert!(e.contains(want), "{e} lacks {want}");
        };
        check(&|h| h.userns_mode = "private".into(), "--userns");
        check(&|h| h.ipc_mode = "container:".into(), "Invalid IPC mode");
        check(&|h| h.isolation = "hyperv".into(), "Invalid isolation");
        check(&|h| h.runtime = "kata".into(), "Unknown runtime");
        check(&|h| h.volume_driver = "nfs".into(), "--volume-driver");
        check(&|h| h.kernel_memory = 1 << 20, "--kernel-memory");
        check(
            &|h| {
                h.privileged = true;
                h.security_opt = Some(vec!["seccomp={}".into()]);
            },
            "--security-opt seccomp: a privileged container",
        );
        check(
            &|h| h.log_config.kind = "syslog".into(),
            "--log-driver syslog",
        );
        check(
            &|h| {
                h.log_config.config.insert("max-size".into(), "10m".into());
            },
            "--log-opt max-size",
        );
        let h = HostConfig {
            userns_mode: "host".into(),
            ipc_mode: "shareable".into(),
            runtime: "runc".into(),
            ..Default::default()
        };
        validate(&h).unwrap();
    }
}
