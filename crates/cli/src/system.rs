//! `info`, `system df`, `version`.

use crate::format::{format_rows, Template};
use crate::human::human_size;
use crate::image_cmds::image_failure;
use crate::{CmdResult, Failure, Global};
use clap::Args;
use serde_json::{json, Value};
use std::io::Write;

pub const API_VERSION: &str = "1.41";

#[derive(Args)]
pub struct InfoArgs {
    /// Format the output using the given Go template
    #[arg(short = 'f', long)]
    pub format: Option<String>,
}

#[derive(Args)]
pub struct DfArgs {
    /// Show detailed information on space usage
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// Pretty-print using a Go template
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Args)]
pub struct VersionArgs {
    /// Format the output using the given Go template
    #[arg(short = 'f', long)]
    pub format: Option<String>,
}

fn uname() -> (String, String, String) {
    // SAFETY: utsname is plain data; uname fills it and returns 0 on success.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is a valid, writable utsname.
    if unsafe { libc::uname(&mut u) } != 0 {
        return Default::default();
    }
    let s = |f: &[libc::c_char]| {
        // SAFETY: uname NUL-terminates every field within its buffer.
        unsafe { std::ffi::CStr::from_ptr(f.as_ptr()) }
            .to_string_lossy()
            .to_string()
    };
    (s(&u.release), s(&u.machine), s(&u.nodename))
}

fn os_name() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("PRETTY_NAME=")
                    .map(|v| v.trim_matches('"').to_string())
            })
        })
        .unwrap_or_else(|| "Linux".into())
}

fn mem_total() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("MemTotal:")
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            })
        })
        .map(|k| k * 1024)
        .unwrap_or(0)
}

/// `units.BytesSize`: binary units, 4 significant digits ("7.667GiB").
pub fn bytes_size(n: u64) -> String {
    const U: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];
    let mut s = n as f64;
    let mut i = 0;
    while s >= 1024.0 && i < U.len() - 1 {
        s /= 1024.0;
        i += 1;
    }
    let t = crate::human::human_size_prec(s, 4);
    format!("{}{}", t.trim_end_matches('B'), U[i])
}

fn cgroup_version() -> &'static str {
    // SAFETY: statfs is given a NUL-terminated path and a writable statfs buffer.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: see above.
    let r = unsafe { libc::statfs(c"/sys/fs/cgroup".as_ptr(), &mut st) };
    if r == 0 && st.f_type == libc::CGROUP2_SUPER_MAGIC {
        "2"
    } else {
        "1"
    }
}

/// Container counts from the engine (total, running, paused, stopped); zeros when it can't
/// read its state (info still describes the rest).
fn count_containers(g: &Global) -> (usize, usize, usize, usize) {
    crate::container_cmds::open_engine(g)
        .ok()
        .and_then(|e| e.info().ok())
        .map(|i| (i.containers, i.running, i.paused, i.stopped))
        .unwrap_or_default()
}

pub fn info(g: &Global, a: InfoArgs) -> CmdResult {
    let e = crate::container_cmds::open_engine(g)?;
    let storage = e.storage_info().map_err(image_failure)?;
    let images = storage.images;
    let (containers, running, paused, stopped) = count_containers(g);
    let (kernel, arch, host) = uname();
    let status: Vec<(String, String)> = storage.driver_status;
    let ncpu = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let mem = mem_total();
    let v = json!({
        "ID": "",
        "Containers": containers,
        "ContainersRunning": running,
        "ContainersPaused": paused,
        "ContainersStopped": stopped,
        "Images": images,
        "Driver": storage.driver,
        "DriverStatus": status.iter().map(|(k, v)| vec![k.clone(), v.clone()]).collect::<Vec<_>>(),
        "LoggingDriver": "json-file",
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": cgroup_version(),
        "KernelVersion": kernel,
        "OperatingSystem": os_name(),
        "OSVersion": "",
        "OSType": "linux",
        "Architecture": arch,
        "IndexServerAddress": "https://index.docker.io/v1/",
        "NCPU": ncpu,
        "MemTotal": mem,
        "DockerRootDir": g.root.display().to_string(),
        "Name": host,
        "ServerVersion": env!("CARGO_PKG_VERSION"),
        "Debug": g.debug,
        "Procfs": engine::procfs_serve::engine_setting(),
    });
    if let Some(f) = &a.format {
        let t = Template::parse(f)
            .map_err(|e| Failure::new(format!("template parsing error: {e}"), 1))?;
        println!("{}", t.execute(&v).map_err(|e| Failure::new(e, 1))?);
        return Ok(());
    }
    let mut o = String::new();
    o.push_str(&format!(
        "Client:\n Context:    default\n Debug Mode: {}\n\nServer:\n",
        g.debug
    ));
    o.push_str(&format!(
        " Containers: {containers}\n  Running: {running}\n  Paused: {paused}\n  Stopped: {stopped}\n"
    ));
    o.push_str(&format!(" Images: {images}\n"));
    o.push_str(&format!(" Server Version: {}\n", env!("CARGO_PKG_VERSION")));
    o.push_str(&format!(" Storage Driver: {}\n", storage.driver));
    for (k, v) in &status {
        o.push_str(&format!("  {k}: {v}\n"));
    }
    o.push_str(" Logging Driver: json-file\n Cgroup Driver: cgroupfs\n");
    o.push_str(&format!(" Cgroup Version: {}\n", cgroup_version()));
    o.push_str(&format!(" Kernel Version: {kernel}\n"));
    o.push_str(&format!(" Operating System: {}\n", os_name()));
    o.push_str(" OSType: linux\n");
    o.push_str(&format!(" Architecture: {arch}\n"));
    o.push_str(&format!(" CPUs: {ncpu}\n"));
    o.push_str(&format!(" Total Memory: {}\n", bytes_size(mem)));
    o.push_str(&format!(" Name: {host}\n"));
    o.push_str(&format!(" Docker Root Dir: {}\n", g.root.display()));
    o.push_str(&format!(" Debug Mode: {}\n", g.debug));
    o.push_str(&format!(
        " Procfs: {}\n",
        engine::procfs_serve::engine_setting()
    ));
    std::io::stdout().write_all(o.as_bytes())?;
    Ok(())
}

pub fn df(g: &Global, a: DfArgs) -> CmdResult {
    if a.verbose {
        return crate::df_verbose::print(g, a.format.as_deref());
    }
    let e = crate::container_cmds::open_engine(g)?;
    let du = e.image_disk_usage().map_err(image_failure)?;
    let (total, reclaimable, active) = (du.size, du.reclaimable, du.active);
    let pct = (100 * reclaimable).checked_div(total).unwrap_or(0);
    let (containers, running, _, _) = count_containers(g);
    let vols = crate::container_cmds::open_engine(g)?
        .volume_usage()
        .map_err(|e| Failure::new(e.to_string(), 1))?;
    let (vn, va, vs, vr) = crate::volume_cmds::df_totals(&vols);
    let vpct = (100 * vr).checked_div(vs).unwrap_or(0);
    let rows = vec![
        json!({"Type": "Images", "TotalCount": du.total_count, "Active": active, "Size": human_size(total),
               "Reclaimable": format!("{} ({pct}%)", human_size(reclaimable))}),
        json!({"Type": "Containers", "TotalCount": containers, "Active": running, "Size": "0B", "Reclaimable": "0B"}),
        json!({"Type": "Local Volumes", "TotalCount": vn, "Active": va, "Size": human_size(vs),
               "Reclaimable": format!("{} ({vpct}%)", human_size(vr))}),
        json!({"Type": "Build Cache", "TotalCount": 0, "Active": 0, "Size": "0B", "Reclaimable": "0B"}),
    ];
    let fmt = a.format.clone().unwrap_or_else(|| {
        "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}".into()
    });
    let out = format_rows(
        &fmt,
        &rows,
        &[("TotalCount", "TOTAL"), ("Reclaimable", "RECLAIMABLE")],
    )
    .map_err(|e| Failure::new(e, 1))?;
    std::io::stdout().write_all(out.as_bytes())?;
    Ok(())
}

pub fn version(_g: &Global, a: VersionArgs) -> CmdResult {
    let arch = engine::images::host_architecture();
    // The Go field is `APIVersion` (JSON key `ApiVersion`): templates may use either.
    let v: Value = json!({
        "Client": {"Platform": {"Name": "berth"}, "Version": env!("CARGO_PKG_VERSION"), "ApiVersion": API_VERSION,
                   "Os": "linux", "Arch": arch,
                   crate::format::ALIASES: {"APIVersion": "ApiVersion"}},
        "Server": {"Version": env!("CARGO_PKG_VERSION"), "ApiVersion": API_VERSION, "MinAPIVersion": "1.12",
                   "Os": "linux", "Arch": arch, "KernelVersion": uname().0},
    });
    if let Some(f) = &a.format {
        let t = Template::parse(f)
            .map_err(|e| Failure::new(format!("template parsing error: {e}"), 1))?;
        println!("{}", t.execute(&v).map_err(|e| Failure::new(e, 1))?);
        return Ok(());
    }
    let ver = env!("CARGO_PKG_VERSION");
    let kernel = uname().0;
    println!(
        "Client:\n Version:           {ver}\n API version:       {API_VERSION}\n OS/Arch:           linux/{arch}\n Context:           default\n\n\
         Server: berth\n Engine:\n  Version:          {ver}\n  API version:      {API_VERSION} (minimum version 1.12)\n  OS/Arch:          linux/{arch}\n  Kernel Version:   {kernel}"
    );
    Ok(())
}
