//! The probe of scripts/bench_procfs.sh, run inside a container (static, std only).
//! `procfs_probe N`: prints one line per measure, ns per operation over N operations:
//!   whole   open + read to EOF (64 KiB buffer) + close of /proc/meminfo
//!   lines   1000 lines of /proc/meminfo read a byte at a time (a shell `read` loop's
//!           syscalls), reopening at EOF; ns per line
//!   sysinfo sysinfo(2)
//!   getppid getppid(2) (any syscall: the cost of a stacked seccomp filter)
//! `procfs_probe time CMD ARGS...`: runs CMD and prints its wall time in microseconds.
use std::io::Read;
use std::time::Instant;

extern "C" {
    fn sysinfo(info: *mut u8) -> i32;
    fn getppid() -> i32;
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("time") {
        let t = Instant::now();
        let st = std::process::Command::new(&args[2]).args(&args[3..]).status().unwrap();
        assert!(st.success(), "{:?}", st);
        println!("{}", t.elapsed().as_micros());
        return;
    }
    let n: u32 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(2000);
    let mut buf = vec![0u8; 65536];
    let t = Instant::now();
    for _ in 0..n {
        let mut f = std::fs::File::open("/proc/meminfo").unwrap();
        while f.read(&mut buf).unwrap() > 0 {}
    }
    println!("whole {}", t.elapsed().as_nanos() / n as u128);
    let t = Instant::now();
    let mut lines = 0;
    let mut f = std::fs::File::open("/proc/meminfo").unwrap();
    let mut b = [0u8; 1];
    while lines < 1000 {
        match f.read(&mut b).unwrap() {
            0 => f = std::fs::File::open("/proc/meminfo").unwrap(),
            _ if b[0] == b'\n' => lines += 1,
            _ => {}
        }
    }
    println!("lines {}", t.elapsed().as_nanos() / 1000);
    let mut si = [0u8; 256];
    let t = Instant::now();
    for _ in 0..n {
        // SAFETY: a buffer larger than struct sysinfo.
        unsafe { sysinfo(si.as_mut_ptr()) };
    }
    println!("sysinfo {}", t.elapsed().as_nanos() / n as u128);
    let t = Instant::now();
    for _ in 0..n * 10 {
        // SAFETY: no arguments.
        unsafe { getppid() };
    }
    println!("getppid {}", t.elapsed().as_nanos() / (n as u128 * 10));
}
