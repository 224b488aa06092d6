//! `berth-init`, the minimal init behind `--init`: runs its arguments as a child, forwards
//! signals to it, reaps every zombie and exits with the child's status.
//!
//! Wiring: with `--init` the engine bind-mounts [`binary_path`] at `/sbin/berth-init` in the
//! container and runs `/sbin/berth-init -- CMD...`. The CLI must call [`main`] first thing when
//! `argv[0]` ends with "berth-init". The binary must run inside the container: it has to be
//! statically linked (a glibc-dynamic `berth` cannot run in a busybox rootfs), so the engine
//! uses `$BERTH_INIT` if set, else `berth-init` next to the running executable, else the
//! running executable itself.

use std::path::PathBuf;

/// The binary to bind-mount as the container's init.
pub fn binary_path() -> PathBuf {
    if let Some(p) = std::env::var_os("BERTH_INIT") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/proc/self/exe"));
    let sib = exe.with_file_name("berth-init");
    if sib.exists() {
        sib
    } else {
        exe
    }
}

/// Runs the init with `args` (the command after an optional "--"); never returns.
pub fn main(args: Vec<String>) -> ! {
    let args: Vec<String> = match args.iter().position(|a| a == "--") {
        Some(i) => args[i + 1..].to_vec(),
        None => args,
    };
    if args.is_empty() {
        eprintln!("berth-init: no command given");
        std::process::exit(1);
    }
    // Block the signals we forward, then start the child with the default mask.
    // SAFETY: signal-mask manipulation and fork/exec in a single-threaded init.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigprocmask(libc::SIG_SETMASK, &all, &mut old);
        let cargs: Vec<std::ffi::CString> = args
            .iter()
            .map(|a| std::ffi::CString::new(a.as_str()).unwrap_or_default())
            .collect();
        let mut argv: Vec<*const libc::c_char> = cargs.iter().map(|c| c.as_ptr()).collect();
        argv.push(std::ptr::null());
        let child = libc::fork();
        if child == 0 {
            libc::sigprocmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
            libc::setpgid(0, 0);
            libc::execvp(argv[0], argv.as_ptr());
            let e = std::io::Error::last_os_error();
            eprintln!("berth-init: exec {}: {e}", args[0]);
            libc::_exit(if e.raw_os_error() == Some(libc::ENOENT) {
                127
            } else {
                126
            });
        }
        if child < 0 {
            eprintln!("berth-init: fork: {}", std::io::Error::last_os_error());
            std::process::exit(1);
        }
        loop {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let sig = libc::sigwaitinfo(&all, &mut info);
            if sig < 0 {
                continue;
            }
            if sig == libc::SIGCHLD {
                loop {
                    let mut st = 0;
                    let p = libc::waitpid(-1, &mut st, libc::WNOHANG);
                    if p <= 0 {
                        break;
                    }
                    if p == child {
                        let code = if libc::WIFEXITED(st) {
                            libc::WEXITSTATUS(st)
                        } else {
                            128 + libc::WTERMSIG(st)
                        };
                        libc::_exit(code);
                    }
                }
            } else {
                libc::kill(child, sig);
            }
        }
    }
}
