//! The compatibility test (issue 13): `scripts/compat/run.sh` runs the same ~200 commands
//! against the real docker CLI 28 (/usr/local/bin/docker) talking to a private Debian dockerd
//! 20.10, and against this berth binary (private --root/--runroot), and fails on any
//! difference not allow-listed with its reason in scripts/compat/README.md. A missing oracle
//! (docker CLI or dockerd) fails the test, it does not skip.

use std::process::Command;

#[test]
fn same_commands_same_answers_as_docker() {
    testutil::require_root();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/compat/run.sh");
    let out = Command::new("bash")
        .arg(script)
        .env("BERTH", env!("CARGO_BIN_EXE_berth"))
        .output()
        .expect("run scripts/compat/run.sh");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert!(out.status.success(), "compat differences:\n{text}");
    assert!(text.contains(" 0 unexpected differences"), "{text}");
}
