//! Escape probe (issue 11, item 4): a bundle without seccomp (keyctl allowed) must not
//! possess the caller's session keyring, in its init nor in processes exec'd into it. The
//! idea of a per-container `_ses.<id>` keyring is runc's; the probe is testutil's.

mod common;

use common::{stderr, stdout, unique_name, Bundle, Runtime};
use std::process::Command;

#[test]
fn a_bundle_without_seccomp_does_not_possess_the_callers_session_keyring() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["true"]);
    let probe = b.rootfs().join("probe");
    testutil::build_keyring_probe(&probe);
    b.edit(|s| {
        assert!(
            s["linux"]["seccomp"].is_null(),
            "the bundle must have no seccomp"
        );
    });
    let desc = format!("berth-rt-escape-{}", std::process::id());
    let serial = testutil::session_key(&desc).to_string();
    // Control: from this thread's session the probe finds the key.
    let o = Command::new(&probe)
        .args([&serial, &desc])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "control probe: {o:?}");

    let id = unique_name("keyring");
    common::set_args(&mut b, &["/probe", &serial, &desc]);
    let o = rt.run_bundle(&b, &id);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "run: {out}{}", stderr(&o));
    assert!(out.contains(&format!(";_ses.{id}")), "run: {out}");
    let _ = rt.run(&["delete", "--force", &id]);

    let id = unique_name("keyring-exec");
    common::set_args(&mut b, &["sleep", "100"]);
    let o = rt.run_detached(&["run", "-d", "--bundle", b.path().to_str().unwrap(), &id]);
    assert!(o.status.success(), "run -d: {}", stderr(&o));
    let o = rt.run(&["exec", &id, "/probe", &serial, &desc]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "exec: {out}{}", stderr(&o));
    assert!(out.contains(&format!(";_ses.{id}")), "exec: {out}");
    let _ = rt.run(&["delete", "--force", &id]);
}
