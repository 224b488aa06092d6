//! The computations against fake cgroup trees (v1 and v2) and fake host /proc files: this
//! machine is hybrid, so v2's memory, cpu and io controllers are only checked here.

use procfs::cgroup::{Cpu, Memory};
use procfs::render::{self, File, Renderer};
use procfs::Config;
use std::fs;
use std::path::Path;

const HOST_MEMINFO: &str = "\
MemTotal:       16000000 kB
MemFree:         8000000 kB
MemAvailable:   12000000 kB
Buffers:          100000 kB
Cached:          3000000 kB
SwapCached:            0 kB
Active:          4000000 kB
Inactive:        2000000 kB
Active(anon):    1000000 kB
Inactive(anon):   500000 kB
Active(file):    3000000 kB
Inactive(file):  1500000 kB
SwapTotal:       2000000 kB
SwapFree:        1900000 kB
Dirty:               100 kB
AnonPages:       1500000 kB
Shmem:             10000 kB
HugePages_Total:       0
";

const HOST_CPUINFO: &str = "\
processor\t: 0
model name\t: Fake CPU
siblings\t: 4

processor\t: 1
model name\t: Fake CPU
siblings\t: 4

processor\t: 2
model name\t: Fake CPU
siblings\t: 4

processor\t: 3
model name\t: Fake CPU
siblings\t: 4

";

const HOST_STAT: &str = "\
cpu  100 0 100 1000 0 0 0 0 0 0
cpu0 25 0 25 250 0 0 0 0 0 0
cpu1 25 0 25 250 0 0 0 0 0 0
cpu2 25 0 25 250 0 0 0 0 0 0
cpu3 25 0 25 250 0 0 0 0 0 0
intr 12345
ctxt 999
btime 1700000000
processes 42
procs_running 1
procs_blocked 0
";

fn write(dir: &Path, files: &[(&str, &str)]) {
    fs::create_dir_all(dir).unwrap();
    for (name, text) in files {
        fs::write(dir.join(name), text).unwrap();
    }
}

/// A host /proc and /sys with 4 CPUs, 16 GB and 2 GB of swap.
fn host(root: &Path) -> Config {
    let proc_root = root.join("proc");
    write(
        &proc_root,
        &[
            ("meminfo", HOST_MEMINFO),
            ("cpuinfo", HOST_CPUINFO),
            ("stat", HOST_STAT),
            ("loadavg", "3.00 2.00 1.00 2/300 4242\n"),
            (
                "diskstats",
                "   8       0 sda 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17\n   8      16 sdb 1 2 3 4 5 6 7 8 9 10 11\n",
            ),
        ],
    );
    write(&root.join("sys/devices/system/cpu"), &[("online", "0-3\n")]);
    Config {
        proc_root,
        sys_root: root.join("sys"),
        start_ns: procfs::config::boottime_ns().saturating_sub(10_000_000_000),
        ..Config::new()
    }
}

fn kb(text: &str, key: &str) -> u64 {
    render::meminfo_kb(text, key).unwrap_or_else(|| panic!("{key} missing in\n{text}"))
}

#[test]
fn v1_memory_limit_cache_and_swap() {
    let t = tempfile::tempdir().unwrap();
    let mut c = host(t.path());
    let mem = t.path().join("memory");
    write(
        &mem,
        &[
            ("memory.limit_in_bytes", "67108864\n"),
            ("memory.usage_in_bytes", "33554432\n"),
            ("memory.memsw.limit_in_bytes", "100663296\n"),
            ("memory.memsw.usage_in_bytes", "37748736\n"),
            (
                "memory.stat",
                "cache 1\ntotal_cache 8388608\ntotal_rss 20971520\ntotal_active_file 4194304\n\
                 total_inactive_file 2097152\ntotal_active_anon 10485760\ntotal_inactive_anon 0\n\
                 total_shmem 1048576\n",
            ),
        ],
    );
    c.memory = Some(mem);
    let m = Memory::read(&c);
    assert_eq!(m.limit, Some(64 << 20));
    assert_eq!(m.swap_limit, Some(32 << 20));
    assert_eq!(m.swap_usage, 4 << 20);
    let text = render::meminfo(HOST_MEMINFO, &m);
    assert_eq!(kb(&text, "MemTotal"), 65536);
    assert_eq!(kb(&text, "MemFree"), 32768);
    assert_eq!(kb(&text, "MemAvailable"), 32768 + 6144);
    assert_eq!(kb(&text, "Cached"), 8192);
    assert_eq!(kb(&text, "Active"), 14336);
    assert_eq!(kb(&text, "AnonPages"), 20480);
    assert_eq!(kb(&text, "Shmem"), 1024);
    assert_eq!(kb(&text, "SwapTotal"), 32768);
    assert_eq!(kb(&text, "SwapFree"), 28672);
    assert!(text.contains("MemTotal:          65536 kB\n"), "{text}");
    assert!(
        text.contains("HugePages_Total:       0\n"),
        "host lines kept"
    );
    // Without a limit: the host's file, unchanged.
    fs::write(
        t.path().join("memory/memory.limit_in_bytes"),
        "9223372036854771712\n",
    )
    .unwrap();
    let mut r = Renderer::new(c);
    assert_eq!(r.render(File::Meminfo), HOST_MEMINFO.as_bytes());
}

#[test]
fn v2_memory_and_swap_max() {
    let t = tempfile::tempdir().unwrap();
    let mut c = host(t.path());
    let u = t.path().join("unified");
    write(
        &u,
        &[
            ("memory.max", "134217728\n"),
            ("memory.current", "16777216\n"),
            ("memory.swap.max", "max\n"),
            ("memory.swap.current", "0\n"),
            (
                "memory.stat",
                "anon 8388608\nfile 4194304\nactive_file 1048576\ninactive_file 2097152\n\
                 slab_reclaimable 1048576\nslab_unreclaimable 524288\nfile_mapped 4096\n",
            ),
        ],
    );
    c.unified = Some(u.clone());
    let mut r = Renderer::new(c.clone());
    let text = String::from_utf8(r.render(File::Meminfo)).unwrap();
    assert_eq!(kb(&text, "MemTotal"), 131072);
    assert_eq!(kb(&text, "MemFree"), 131072 - 16384);
    assert_eq!(kb(&text, "MemAvailable"), 131072 - 16384 + 4096);
    assert_eq!(kb(&text, "Cached"), 4096);
    // No swap limit: the host's swap.
    assert_eq!(kb(&text, "SwapTotal"), 2_000_000);
    // A swap limit bigger than the host's swap is capped; /proc/swaps agrees.
    fs::write(u.join("memory.swap.max"), "4294967296\n").unwrap();
    fs::write(u.join("memory.swap.current"), "1048576\n").unwrap();
    let text = String::from_utf8(r.render(File::Meminfo)).unwrap();
    assert_eq!(kb(&text, "SwapTotal"), 2_000_000);
    assert_eq!(kb(&text, "SwapFree"), 2_000_000 - 1024);
    let swaps = String::from_utf8(r.render(File::Swaps)).unwrap();
    assert!(swaps.starts_with("Filename"), "{swaps}");
    assert!(swaps.contains("virtual\t\t2000000\t\t1024\t\t0"), "{swaps}");
}

#[test]
fn v1_cpuset_and_quota_make_the_cpu_count() {
    let t = tempfile::tempdir().unwrap();
    let mut c = host(t.path());
    let cpuset = t.path().join("cpuset");
    let cpu = t.path().join("cpu");
    let acct = t.path().join("cpuacct");
    write(&cpuset, &[("cpuset.effective_cpus", "1-3\n")]);
    write(
        &cpu,
        &[
            ("cpu.cfs_quota_us", "150000\n"),
            ("cpu.cfs_period_us", "100000\n"),
            ("cpu.shares", "2\n"),
        ],
    );
    write(
        &acct,
        &[
            ("cpuacct.stat", "user 300\nsystem 100\n"),
            ("cpuacct.usage", "4000000000\n"),
        ],
    );
    c.cpuset = Some(cpuset.clone());
    c.cpu = Some(cpu.clone());
    c.cpuacct = Some(acct);
    let k = Cpu::read(&c);
    assert_eq!(k.visible, vec![1, 2], "1.5 CPUs of cpuset 1-3 -> 2 CPUs");
    assert_eq!((k.user_ns, k.system_ns), (3_000_000_000, 1_000_000_000));
    let mut r = Renderer::new(c.clone());
    let info = String::from_utf8(r.render(File::Cpuinfo)).unwrap();
    assert_eq!(info.matches("processor").count(), 2, "{info}");
    assert!(info.contains("processor\t: 0\n") && info.contains("processor\t: 1\n"));
    assert_eq!(r.render(File::CpuOnline), b"0-1\n");
    let stat = String::from_utf8(r.render(File::Stat)).unwrap();
    let cpus: Vec<&str> = stat.lines().filter(|l| l.starts_with("cpu")).collect();
    assert_eq!(cpus.len(), 3, "{stat}");
    let hz = procfs::cgroup::clk_tck();
    let user: u64 = cpus[1].split(' ').nth(1).unwrap().parse().unwrap();
    assert_eq!(user, 3 * hz / 2, "user time split over 2 CPUs: {stat}");
    assert!(stat.contains("btime 1700000000\n") && stat.contains("ctxt 999\n"));
    let up = String::from_utf8(r.render(File::Uptime)).unwrap();
    let f: Vec<f64> = up.split_whitespace().map(|x| x.parse().unwrap()).collect();
    assert!(f[0] >= 10.0 && f[0] < 20.0, "{up}");
    assert!(
        (f[1] - (f[0] * 2.0 - 4.0)).abs() < 0.1,
        "idle = 2 CPUs * up - busy: {up}"
    );
    // Shares never reduce the count; no quota: the cpuset.
    fs::write(cpu.join("cpu.cfs_quota_us"), "-1\n").unwrap();
    assert_eq!(Cpu::read(&c).visible, vec![1, 2, 3]);
    // Every CPU of the host: the host's cpuinfo as it is.
    fs::write(cpuset.join("cpuset.effective_cpus"), "0-3\n").unwrap();
    assert_eq!(r.render(File::Cpuinfo), HOST_CPUINFO.as_bytes());
    assert_eq!(r.render(File::CpuOnline), b"0-3\n");
}

#[test]
fn v2_cpu_max_cpu_stat_and_io() {
    let t = tempfile::tempdir().unwrap();
    let mut c = host(t.path());
    let u = t.path().join("unified");
    write(
        &u,
        &[
            ("cpuset.cpus.effective", "0-3\n"),
            ("cpu.max", "100000 100000\n"),
            (
                "cpu.stat",
                "usage_usec 5000000\nuser_usec 4000000\nsystem_usec 1000000\n",
            ),
            (
                "io.stat",
                "8:16 rbytes=1024 wbytes=4096 rios=2 wios=3 dbytes=0 dios=0\n",
            ),
            ("cgroup.threads", ""),
        ],
    );
    c.unified = Some(u.clone());
    let k = Cpu::read(&c);
    assert_eq!(k.visible, vec![0]);
    assert_eq!((k.user_ns, k.system_ns), (4_000_000_000, 1_000_000_000));
    let mut r = Renderer::new(c.clone());
    assert_eq!(r.render(File::CpuOnline), b"0\n");
    let ds = String::from_utf8(r.render(File::Diskstats)).unwrap();
    assert_eq!(ds, "   8      16 sdb 2 0 2 0 3 0 8 0 0 0 0\n");
    fs::write(u.join("cpu.max"), "max 100000\n").unwrap();
    assert_eq!(Cpu::read(&c).visible.len(), 4);
    let la = String::from_utf8(r.render(File::Loadavg)).unwrap();
    let f: Vec<&str> = la.split_whitespace().collect();
    assert_eq!(f[3], "0/0", "{la}");
    assert_eq!(f[4], "4242", "{la}");
    let l1: f64 = f[0].parse().unwrap();
    assert!(l1 > 0.0 && l1 < 1.0, "5 s of CPU in 10 s: {la}");
}

#[test]
fn v1_tasks_and_blkio() {
    let t = tempfile::tempdir().unwrap();
    let mut c = host(t.path());
    let pids = t.path().join("pids");
    write(&pids, &[("tasks", "10\n11\n12\n")]);
    for (tid, st) in [("10", "R"), ("11", "S"), ("12", "D")] {
        write(
            &c.proc_root.join(tid),
            &[("stat", &format!("{tid} (a b) c) {st} 1 2 3"))],
        );
    }
    c.pids = Some(pids);
    assert_eq!(procfs::cgroup::tasks(&c), (3, 2));
    let blk = t.path().join("blkio");
    write(
        &blk,
        &[
            (
                "blkio.throttle.io_service_bytes_recursive",
                "8:0 Read 2048\n8:0 Write 0\n8:0 Total 2048\nTotal 2048\n",
            ),
            (
                "blkio.throttle.io_serviced_recursive",
                "8:0 Read 4\n8:0 Write 0\nTotal 4\n",
            ),
        ],
    );
    c.blkio = Some(blk);
    let mut r = Renderer::new(c);
    let ds = String::from_utf8(r.render(File::Diskstats)).unwrap();
    assert_eq!(ds, "   8       0 sda 4 0 4 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n");
}
