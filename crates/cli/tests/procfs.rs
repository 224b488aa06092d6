//! A container's truthful /proc (issue 16), as root against the real kernel (this machine is
//! hybrid: the v1 controllers; v2's files are covered by crates/procfs/tests/fake_trees.rs).
//! Each number is checked against the limit that makes it, with a control run with
//! `--security-opt procfs=host` (Docker's behaviour) where the test could otherwise not fail.

mod common;

use common::{alive, wait_exit, Env};
use std::path::Path;
use std::time::{Duration, Instant};

fn setup() -> Env {
    let env = Env::new();
    env.import_busybox();
    env
}

fn host_kb(key: &str) -> u64 {
    kb(&std::fs::read_to_string("/proc/meminfo").unwrap(), key)
}

fn kb(text: &str, key: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("{key} in {text}"))
}

fn host_cpus() -> usize {
    std::fs::read_to_string("/proc/cpuinfo")
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count()
}

/// `free`'s "Mem:" (total, free) and "Swap:" total, in KiB (busybox: sysinfo(2)).
fn free(out: &str) -> (u64, u64, u64) {
    let nums = |p: &str| -> Vec<u64> {
        out.lines()
            .find(|l| l.starts_with(p))
            .unwrap_or_else(|| panic!("{p} in {out}"))
            .split_whitespace()
            .skip(1)
            .map(|x| x.parse().unwrap())
            .collect()
    };
    let (m, s) = (nums("Mem:"), nums("Swap:"));
    (m[0], m[2], s[0])
}

fn section<'a>(out: &'a str, name: &str) -> &'a str {
    let start = out
        .find(&format!("=={name}\n"))
        .unwrap_or_else(|| panic!("{name} in {out}"))
        + name.len()
        + 3;
    let end = out[start..]
        .find("\n==")
        .map_or(out.len(), |e| start + e + 1);
    &out[start..end]
}

/// The probe: every file and the sysinfo(2) users, in named sections.
const PROBE: &str = "echo ==meminfo; cat /proc/meminfo; echo ==free; free; \
    echo ==processors; grep -c ^processor /proc/cpuinfo; echo ==online; \
    cat /sys/devices/system/cpu/online; echo ==stat; grep ^cpu /proc/stat; \
    echo ==uptime; cat /proc/uptime; echo ==loadavg; cat /proc/loadavg; \
    echo ==busybox-uptime; uptime; echo ==swaps; cat /proc/swaps; echo ==nproc; nproc; \
    echo ==readloop; n=0; while read -r l; do n=$((n+1)); done < /proc/meminfo; echo $n; \
    echo ==end";

fn probe(env: &Env, opts: &[&str]) -> String {
    let mut args = vec!["run", "--rm", "--network", "none"];
    args.extend_from_slice(opts);
    args.extend_from_slice(&["busybox", "sh", "-c", PROBE]);
    env.ok(&args)
}

#[test]
fn memory_limit_in_meminfo_free_and_sysinfo() {
    let env = setup();
    let out = probe(&env, &["--memory", "64m", "--memory-swap", "96m"]);
    let mi = section(&out, "meminfo");
    assert_eq!(kb(mi, "MemTotal"), 65536, "{out}");
    assert!(
        kb(mi, "MemFree") <= 65536 && kb(mi, "MemFree") > 32768,
        "{mi}"
    );
    assert!(kb(mi, "MemAvailable") >= kb(mi, "MemFree"), "{mi}");
    // 32 MB of swap on top, never more than the host has.
    let swap = 32768.min(host_kb("SwapTotal"));
    assert_eq!(kb(mi, "SwapTotal"), swap, "{mi}");
    let (total, free_kb, swap_total) = free(section(&out, "free"));
    assert_eq!((total, swap_total), (65536, swap), "sysinfo(2): {out}");
    assert!(free_kb > 32768 && free_kb <= 65536, "{out}");
    let swaps = section(&out, "swaps");
    assert!(swaps.starts_with("Filename"), "{swaps}");
    assert_eq!(swaps.lines().count(), 1 + usize::from(swap > 0), "{swaps}");
    // A shell reading a byte at a time gets every line.
    let lines: usize = section(&out, "readloop").trim().parse().unwrap();
    assert_eq!(lines, mi.lines().count(), "{out}");
    // inspect says so.
    env.ok(&[
        "create", "--name", "pm", "--memory", "64m", "busybox", "true",
    ]);
    assert_eq!(
        env.ok(&["inspect", "-f", "{{.Procfs}}", "pm"]).trim(),
        "container"
    );
    // Docker's behaviour on request: the host's numbers.
    let out = probe(&env, &["--memory", "64m", "--security-opt", "procfs=host"]);
    assert_eq!(
        kb(section(&out, "meminfo"), "MemTotal"),
        host_kb("MemTotal")
    );
    assert_eq!(free(section(&out, "free")).0, host_kb("MemTotal"), "{out}");
    let (_, err) = env.code(
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "--security-opt",
            "procfs=lxcfs",
            "busybox",
            "true",
        ],
        125,
    );
    assert!(err.contains("procfs must be"), "{err}");
}

fn cpu_lines(out: &str) -> usize {
    section(out, "stat").lines().count()
}

#[test]
fn cpus_and_cpuset_make_the_cpu_count() {
    let env = setup();
    let n = host_cpus();
    assert!(n >= 2, "this test needs 2 CPUs");
    // --cpus 1: one CPU in cpuinfo, stat and online (nproc counts the cpuset: all of them).
    let out = probe(&env, &["--cpus", "1"]);
    assert_eq!(section(&out, "processors").trim(), "1", "{out}");
    assert_eq!(section(&out, "online").trim(), "0", "{out}");
    assert_eq!(cpu_lines(&out), 2, "cpu + cpu0: {out}");
    assert_eq!(section(&out, "nproc").trim(), n.to_string(), "{out}");
    // --cpus 1.5 rounds up to 2.
    let out = probe(&env, &["--cpus", "1.5"]);
    assert_eq!(section(&out, "processors").trim(), "2", "{out}");
    assert_eq!(section(&out, "online").trim(), "0-1", "{out}");
    assert_eq!(cpu_lines(&out), 3, "{out}");
    // --cpuset-cpus 1: one CPU, renumbered 0; nproc agrees (sched_getaffinity).
    let out = probe(&env, &["--cpuset-cpus", "1"]);
    assert_eq!(section(&out, "processors").trim(), "1", "{out}");
    assert_eq!(section(&out, "online").trim(), "0", "{out}");
    assert_eq!(section(&out, "nproc").trim(), "1", "{out}");
    let info = env.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--cpuset-cpus",
        "1",
        "busybox",
        "head",
        "-1",
        "/proc/cpuinfo",
    ]);
    assert_eq!(info.trim().replace(' ', ""), "processor\t:0", "{info}");
    // Shares never reduce the count (and alone are no limit).
    let out = probe(&env, &["--cpu-shares", "2", "--memory", "64m"]);
    assert_eq!(section(&out, "processors").trim(), n.to_string(), "{out}");
}

#[test]
fn without_limits_the_hosts_values() {
    let env = setup();
    let out = probe(&env, &[]);
    let mi = section(&out, "meminfo");
    assert_eq!(kb(mi, "MemTotal"), host_kb("MemTotal"));
    assert_eq!(section(&out, "processors").trim(), host_cpus().to_string());
    assert_eq!(free(section(&out, "free")).0, host_kb("MemTotal"), "{out}");
    let host_up: f64 = std::fs::read_to_string("/proc/uptime")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let up: f64 = section(&out, "uptime")
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        up >= host_up - 5.0,
        "host uptime without limits: {up} vs {host_up}"
    );
    env.ok(&["create", "--name", "ph", "busybox", "true"]);
    assert_eq!(
        env.ok(&["inspect", "-f", "{{.Procfs}}", "ph"]).trim(),
        "host"
    );
    // Asked for: the container's files with no limit show the host's numbers (and its uptime).
    let out = probe(&env, &["--security-opt", "procfs=container"]);
    assert_eq!(
        kb(section(&out, "meminfo"), "MemTotal"),
        host_kb("MemTotal")
    );
    let up: f64 = section(&out, "uptime")
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(up < 30.0, "{out}");
    // The engine's setting.
    let o = env
        .cmd(&[
            "run",
            "--rm",
            "--network",
            "none",
            "--memory",
            "64m",
            "busybox",
            "head",
            "-1",
            "/proc/meminfo",
        ])
        .env("BERTH_PROCFS", "host")
        .output()
        .unwrap();
    assert_eq!(
        kb(&String::from_utf8_lossy(&o.stdout), "MemTotal"),
        host_kb("MemTotal")
    );
    let o = env
        .cmd(&["info", "--format", "{{.Procfs}}"])
        .env("BERTH_PROCFS", "host")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "host");
    assert_eq!(env.ok(&["info", "--format", "{{.Procfs}}"]).trim(), "auto");
}

#[test]
fn uptime_and_loadavg_are_the_containers() {
    let env = setup();
    let out = probe(&env, &["--memory", "64m"]);
    let up: Vec<f64> = section(&out, "uptime")
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    assert!(up[0] < 30.0, "container uptime: {out}");
    assert!(up[1] <= up[0] * host_cpus() as f64 + 0.01, "{out}");
    // busybox uptime (sysinfo(2)): "up 0 min", and the container's loads.
    let bu = section(&out, "busybox-uptime");
    assert!(bu.contains("up 0 min"), "{bu}");
    let la: Vec<&str> = section(&out, "loadavg").split_whitespace().collect();
    let (_, total) = la[3].split_once('/').unwrap();
    let total: u32 = total.parse().unwrap();
    assert!((1..10).contains(&total), "the container's threads: {la:?}");
    // A busy container's load rises; the host's load is not the container's.
    let out = env.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--memory",
        "64m",
        "busybox",
        "sh",
        "-c",
        "sh -c 'while :; do :; done' & sleep 3; cat /proc/loadavg; kill $!",
    ]);
    let l1: f64 = out.split_whitespace().next().unwrap().parse().unwrap();
    assert!(l1 > 0.02 && l1 < 1.5, "{out}");
}

fn id_of(env: &Env, name: &str) -> String {
    env.ok(&["inspect", "-f", "{{.Id}}", name])
        .trim()
        .to_string()
}

fn monitor_pid(env: &Env, id: &str) -> i32 {
    let s = std::fs::read_to_string(
        env.runroot()
            .join("containers")
            .join(id)
            .join("monitor.pid"),
    )
    .unwrap();
    s.split_whitespace().next().unwrap().parse().unwrap()
}

/// Waits until the monitor of `id` is the idle `berth-monitor`.
fn wait_idle(env: &Env, id: &str) -> i32 {
    let pid = monitor_pid(env, id);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let argv = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
        if argv.starts_with(b"berth-monitor\0")
            && exe
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("berth-monitor"))
        {
            return pid;
        }
        assert!(Instant::now() < deadline, "monitor {pid} never became idle");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn status_kb(pid: i32, key: &str) -> u64 {
    kb(
        &std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap(),
        key,
    )
}

#[test]
fn values_follow_update_and_the_idle_monitor_stays_small() {
    let env = setup();
    env.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "pu",
        "--memory",
        "64m",
        "--cpus",
        "1",
        "busybox",
        "sleep",
        "1000",
    ]);
    let id = id_of(&env, "pu");
    let mon = wait_idle(&env, &id);
    let read = |f: &str| env.ok(&["exec", "pu", "cat", f]);
    assert_eq!(kb(&read("/proc/meminfo"), "MemTotal"), 65536);
    assert_eq!(read("/sys/devices/system/cpu/online").trim(), "0");
    env.ok(&[
        "update",
        "--memory",
        "128m",
        "--memory-swap",
        "256m",
        "--cpus",
        "2",
        "pu",
    ]);
    assert_eq!(kb(&read("/proc/meminfo"), "MemTotal"), 131072);
    assert_eq!(read("/sys/devices/system/cpu/online").trim(), "0-1");
    // sysinfo(2) of the container's own processes (its init's children) follows too.
    env.ok(&["exec", "pu", "true"]);
    // Served by the idle monitor all along, which gives its memory back when quiet.
    assert_eq!(monitor_pid(&env, &id), mon);
    for f in [
        "/proc/stat",
        "/proc/cpuinfo",
        "/proc/uptime",
        "/proc/loadavg",
        "/proc/diskstats",
    ] {
        read(f);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let rss = loop {
        let rss = status_kb(mon, "VmRSS");
        if rss < 1024 || Instant::now() > deadline {
            break rss;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        rss < 1024,
        "idle monitor VmRSS {rss} kB after serving /proc"
    );
    env.ok(&["rm", "-f", "pu"]);
}

#[test]
fn jvm_like_reader_sizes_itself_and_is_not_oom_killed() {
    let env = setup();
    // Read MemTotal, then take 75% of it in tmpfs pages (charged to the container's memory
    // cgroup, never reclaimable without swap).
    let jvm = "t=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo); \
               head -c $((t * 1024 / 4 * 3)) /dev/zero > /dev/shm/heap && echo allocated $t";
    let args = |extra: &'static [&'static str]| {
        let mut a = vec![
            "run",
            "--rm",
            "--network",
            "none",
            "--memory",
            "64m",
            "--memory-swap",
            "64m",
            "--shm-size",
            "64g",
        ];
        a.extend_from_slice(extra);
        a.extend_from_slice(&["busybox", "sh", "-c", jvm]);
        a
    };
    let out = env.ok(&args(&[]));
    assert_eq!(out.trim(), "allocated 65536");
    // The control: sized for the host, it is OOM-killed (137) or dies trying.
    let o = env.run(&args(&["--security-opt", "procfs=host"]));
    assert_ne!(o.status.code(), Some(0), "{o:?}");
}

#[test]
fn kill_9_of_the_monitor_leaves_no_container_with_a_broken_proc() {
    let env = setup();
    env.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "pk",
        "--memory",
        "64m",
        "busybox",
        "sleep",
        "1000",
    ]);
    let id = id_of(&env, "pk");
    let mon = wait_idle(&env, &id);
    let init: i32 = env
        .ok(&["inspect", "-f", "{{.State.Pid}}", "pk"])
        .trim()
        .parse()
        .unwrap();
    // SAFETY: kill(2) of the monitor we just found.
    unsafe { libc::kill(mon, libc::SIGKILL) };
    wait_exit(mon);
    // The container died with the server of its files: nothing runs with a dead /proc.
    wait_exit(init);
    assert!(!alive(init));
    assert!(env
        .ok(&["ps", "-a", "--format", "{{.Status}}"])
        .contains("Exited (137)"));
    // Started again, with a new server.
    env.ok(&["start", "pk"]);
    let out = env.ok(&["exec", "pk", "cat", "/proc/meminfo"]);
    assert_eq!(kb(&out, "MemTotal"), 65536);
    env.ok(&["rm", "-f", "pk"]);
}

#[test]
fn upgrading_the_binaries_leaves_running_containers_readable() {
    let env = setup();
    // berth, berth-monitor and berth-init installed in a directory of their own.
    let bin = env.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let src = Path::new(common::BERTH).parent().unwrap();
    for b in ["berth", "berth-monitor", "berth-init"] {
        std::fs::copy(src.join(b), bin.join(b)).unwrap();
    }
    let berth = |args: &[&str]| {
        let o = std::process::Command::new(bin.join("berth"))
            .arg("--root")
            .arg(env.root())
            .arg("--runroot")
            .arg(env.runroot())
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{args:?}: {o:?}");
        String::from_utf8(o.stdout).unwrap()
    };
    berth(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "up",
        "--memory",
        "64m",
        "busybox",
        "sleep",
        "1000",
    ]);
    let id = id_of(&env, "up");
    let mon = wait_idle(&env, &id);
    // The upgrade: new files renamed over the old ones (as dpkg does), the old ones deleted.
    for b in ["berth", "berth-monitor", "berth-init"] {
        let tmp = bin.join(format!(".{b}.new"));
        std::fs::copy(src.join(b), &tmp).unwrap();
        std::fs::rename(&tmp, bin.join(b)).unwrap();
    }
    let out = berth(&["exec", "up", "cat", "/proc/meminfo"]);
    assert_eq!(kb(&out, "MemTotal"), 65536);
    assert_eq!(
        monitor_pid(&env, &id),
        mon,
        "the running monitor was not touched"
    );
    // The old monitor still records the end through the berth it was started from.
    berth(&["stop", "-t", "1", "up"]);
    assert!(berth(&["ps", "-a", "--format", "{{.Status}}"]).contains("Exited"));
    berth(&["rm", "up"]);
}
