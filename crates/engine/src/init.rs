//! `berth-init`, the minimal init behind `--init`: runs its arguments as a child, forwards
//! signals to it, reaps every zombie and exits with the child's status.
//!
//! Wiring: the engine bind-mounts the running `berth` binary (/proc/self/exe at create time) at
//! `/sbin/berth-init` in the container and runs `/sbin/berth-init -- CMD...`. The CLI must call
//! [`main`] first thing when `argv[0]` ends with "berth-init".

/// Runs the init with `args` (the command after an optional "--"); never returns.
pub fn main(args: Vec<String>) -> ! {
    let _ = args;
    todo!()
}
