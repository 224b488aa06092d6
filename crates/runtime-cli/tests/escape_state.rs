//! Escape probe (issue 11, item 3) for berth-runtime: its state (a bundle's config.json, with
//! the container's environment) is root's only, as runc's: the state root 0700, a container's
//! dir 0711, state.json 0600; a root an earlier version made 0755 is tightened on next use.

mod common;

use common::{stderr, unique_name, Bundle, Runtime};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

#[test]
fn state_is_root_only_and_an_old_open_root_is_tightened() {
    let rt = Runtime::new();
    // What an earlier version left: an open state root.
    std::fs::set_permissions(rt.root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let b = Bundle::new(&["sleep", "100"]);
    let id = unique_name("state-modes");
    let o = rt.run_detached(&["run", "-d", "--bundle", b.path().to_str().unwrap(), &id]);
    assert!(o.status.success(), "run -d: {}", stderr(&o));
    assert_eq!(mode(rt.root.path()), 0o700);
    assert_eq!(mode(&rt.state_dir(&id)), 0o711);
    assert_eq!(mode(&rt.state_dir(&id).join("state.json")), 0o600);
    let o = rt.run(&["delete", "--force", &id]);
    assert!(o.status.success(), "delete: {}", stderr(&o));
}
