//! The FUSE server against the real kernel (root): mounted on a temporary directory, read by
//! whole files and a byte at a time, then unmounted.

use procfs::fuse::{mount_options, Handled, Server, MIN_BUFFER};
use procfs::Config;
use std::ffi::CString;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[test]
fn serves_files_through_the_page_cache() {
    assert_eq!(unsafe { libc::geteuid() }, 0, "this test needs root");
    let dir = tempfile::tempdir().unwrap();
    let dev = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/fuse")
        .expect("/dev/fuse");
    let target = CString::new(dir.path().as_os_str().as_bytes()).unwrap();
    let opts = CString::new(mount_options(dev.as_raw_fd())).unwrap();
    // SAFETY: mount(2) with valid strings.
    let r = unsafe {
        libc::mount(
            c"berth-procfs".as_ptr(),
            target.as_ptr(),
            c"fuse".as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC | libc::MS_RDONLY,
            opts.as_ptr().cast(),
        )
    };
    assert_eq!(r, 0, "mount: {}", std::io::Error::last_os_error());
    let stop = Arc::new(AtomicBool::new(false));
    let fd = dev.as_raw_fd();
    let st = stop.clone();
    let mut cfg = Config::new();
    cfg.start_ns = procfs::config::boottime_ns();
    let server = std::thread::spawn(move || {
        let mut s = Server::new(cfg);
        let mut buf = vec![0u8; MIN_BUFFER];
        while !st.load(Ordering::Relaxed) {
            let mut p = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: poll on one pollfd.
            if unsafe { libc::poll(&mut p, 1, 100) } <= 0 {
                continue;
            }
            if s.handle(fd, &mut buf) == Handled::Gone {
                break;
            }
        }
        s.counts
    });
    let meminfo = std::fs::read_to_string(dir.path().join("meminfo")).unwrap();
    let host = std::fs::read_to_string("/proc/meminfo").unwrap();
    // No cgroup: the host's values (MemFree moves between the two reads).
    assert_eq!(meminfo.lines().next(), host.lines().next(), "{meminfo}");
    assert_eq!(meminfo.lines().count(), host.lines().count());
    let uptime = std::fs::read_to_string(dir.path().join("uptime")).unwrap();
    assert!(
        uptime.ends_with('\n') && uptime.split(' ').count() == 2,
        "{uptime:?}"
    );
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "cpuinfo",
            "diskstats",
            "loadavg",
            "meminfo",
            "online",
            "stat",
            "swaps",
            "uptime"
        ]
    );
    assert!(std::fs::OpenOptions::new()
        .write(true)
        .open(dir.path().join("stat"))
        .is_err());
    // A byte at a time: served from the page cache, not one request per byte.
    let mut f = std::fs::File::open(dir.path().join("cpuinfo")).unwrap();
    let mut one = [0u8; 1];
    let mut bytes = Vec::new();
    while f.read(&mut one).unwrap() == 1 {
        bytes.push(one[0]);
    }
    drop(f);
    assert_eq!(
        String::from_utf8(bytes).unwrap(),
        std::fs::read_to_string(dir.path().join("cpuinfo")).unwrap()
    );
    // sendfile (busybox cat): no read(2), so no size refresh by the read path.
    let mut out = tempfile::tempfile().unwrap();
    let f = std::fs::File::open(dir.path().join("uptime")).unwrap();
    let n = unsafe { libc::sendfile(out.as_raw_fd(), f.as_raw_fd(), std::ptr::null_mut(), 65536) };
    assert!(n > 3, "sendfile copied {n} bytes");
    let _ = &mut out;
    // SAFETY: umount2 of our own mount.
    let r = unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
    assert_eq!(r, 0);
    stop.store(true, Ordering::Relaxed);
    let (all, reads) = server.join().unwrap();
    assert!(reads < 10, "{reads} READ requests of {all}");
    eprintln!("{all} requests, {reads} reads");
}
