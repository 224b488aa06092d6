//! `berth volume create|ls|inspect|rm|prune`: Docker's flags, output and exit codes (1 for a
//! command's errors, as the docker CLI exits on a daemon error). The work is the engine's
//! (`engine::volume`); this file only translates flags and prints.

use crate::format::{format_rows, Template};
use crate::human::human_size;
use crate::{CmdResult, Failure, Global};
use clap::Subcommand;
use engine::volume::{CreateVolumeRequest, PruneVolumesRequest, Volume, VolumeFilters};
use serde_json::{json, Value};
use std::io::Write;

#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum VolumeCmd {
    /// Create a volume
    Create {
        /// Specify volume driver name
        #[arg(short = 'd', long, default_value = "local")]
        driver: String,
        /// Set metadata for a volume
        #[arg(long)]
        label: Vec<String>,
        /// Set driver specific options
        #[arg(short = 'o', long = "opt")]
        opt: Vec<String>,
        /// Specify volume name (the docker CLI's hidden flag)
        #[arg(long = "name", hide = true)]
        name_flag: Option<String>,
        name: Option<String>,
    },
    /// List volumes
    #[command(visible_alias = "list")]
    Ls {
        /// Only display volume names
        #[arg(short, long)]
        quiet: bool,
        /// Format output using a custom template ('table', 'table TEMPLATE', 'json', 'TEMPLATE')
        #[arg(long)]
        format: Option<String>,
        /// Provide filter values (e.g. "dangling=true")
        #[arg(short, long)]
        filter: Vec<String>,
    },
    /// Display detailed information on one or more volumes
    Inspect {
        /// Format output using a custom template ('json', 'TEMPLATE')
        #[arg(short, long)]
        format: Option<String>,
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove one or more volumes
    #[command(visible_alias = "remove")]
    Rm {
        /// Force the removal of one or more volumes
        #[arg(short, long)]
        force: bool,
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove unused local volumes
    Prune {
        /// Remove all unused volumes, not just anonymous ones
        #[arg(short, long)]
        all: bool,
        /// Provide filter values (e.g. "label=<label>")
        #[arg(long)]
        filter: Vec<String>,
        /// Do not prompt for confirmation
        #[arg(short, long)]
        force: bool,
    },
}

fn fail(e: engine::Error) -> Failure {
    Failure::new(e.to_string(), 1)
}

/// `K=V` pairs (`--label`, `-o`); a label without `=` has an empty value.
fn kv_map(items: &[String], need_eq: bool) -> Result<engine::types::Map<String>, Failure> {
    let mut m = engine::types::Map::new();
    for i in items {
        match i.split_once('=') {
            Some((k, v)) => m.insert(k.to_string(), v.to_string()),
            None if !need_eq => m.insert(i.to_string(), String::new()),
            None => {
                return Err(Failure::new(
                    format!(
                        "invalid argument \"{i}\" for \"-o, --opt\" flag: bad format for opt: {i}"
                    ),
                    125,
                ))
            }
        };
    }
    Ok(m)
}

pub fn run(g: &Global, cmd: VolumeCmd) -> CmdResult {
    let e = crate::container_cmds::open_engine(g)?;
    let mut out = std::io::stdout().lock();
    match cmd {
        VolumeCmd::Create {
            driver,
            label,
            opt,
            name_flag,
            name,
        } => {
            let name = match (name_flag, name) {
                (Some(a), Some(b)) if a != b => {
                    return Err(Failure::new(
                        "conflicting options: either specify --name or provide positional arg, not both",
                        1,
                    ))
                }
                (a, b) => b.or(a),
            };
            let v = e
                .volume_create(&CreateVolumeRequest {
                    name,
                    driver,
                    labels: kv_map(&label, false)?,
                    options: kv_map(&opt, true)?,
                })
                .map_err(fail)?;
            writeln!(out, "{}", v.name)?;
        }
        VolumeCmd::Ls {
            quiet,
            format,
            filter,
        } => {
            let f = VolumeFilters::parse(&filter).map_err(fail)?;
            let vols = e.volume_list(&f).map_err(fail)?;
            ls(&vols, quiet, format.as_deref(), &mut out)?;
        }
        VolumeCmd::Inspect { format, names } => {
            let tmpl = match format.as_deref() {
                None | Some("") => None,
                Some("json") => None,
                Some(f) => Some(
                    Template::parse(f)
                        .map_err(|e| Failure::new(format!("template parsing error: {e}"), 1))?,
                ),
            };
            let mut found = Vec::new();
            let mut errors = Vec::new();
            for n in &names {
                match e.volume_inspect(n) {
                    Ok(v) => found.push(v),
                    Err(err) => errors.push(err.to_string()),
                }
            }
            match &tmpl {
                Some(t) => {
                    for v in &found {
                        let val = serde_json::to_value(v).expect("serializable");
                        writeln!(out, "{}", t.execute(&val).map_err(|e| Failure::new(e, 1))?)?;
                    }
                }
                None => writeln!(out, "{}", pretty(&found))?,
            }
            return last_error(errors);
        }
        VolumeCmd::Rm { force, names } => {
            let mut errors = Vec::new();
            for n in &names {
                match e.volume_remove(n, force) {
                    Ok(()) => writeln!(out, "{n}")?,
                    Err(err) => errors.push(err.to_string()),
                }
            }
            return last_error(errors);
        }
        VolumeCmd::Prune { all, filter, force } => {
            let mut req = prune_request(&filter)?;
            req.all |= all;
            if !force {
                let what = if req.all {
                    "all local volumes"
                } else {
                    "anonymous local volumes"
                };
                drop(out);
                if !confirm(&format!(
                    "WARNING! This will remove {what} not used by at least one container."
                ))? {
                    return Ok(());
                }
                out = std::io::stdout().lock();
            }
            drop(out);
            let space = prune_and_print(&e, &req)?;
            println!("Total reclaimed space: {}", human_size(space));
            return Ok(());
        }
    }
    Ok(())
}

/// `volume prune --filter`: label=, label!=, all= (Docker's keys for volumes).
fn prune_request(filters: &[String]) -> Result<PruneVolumesRequest, Failure> {
    let mut req = PruneVolumesRequest::default();
    for f in filters {
        let Some((k, v)) = f.split_once('=') else {
            return Err(Failure::new(
                format!("bad format of filter (expected name=value): {f}"),
                1,
            ));
        };
        match k.trim().to_ascii_lowercase().as_str() {
            "label" => req.label.push(v.to_string()),
            "label!" => req.not_label.push(v.to_string()),
            "all" => req.all = matches!(v, "true" | "1"),
            k => return Err(Failure::new(format!("Invalid filter '{k}'"), 1)),
        }
    }
    Ok(req)
}

/// `system prune --volumes`: the anonymous unused volumes matching the label filters (the
/// docker CLI 28 refuses `until` there, other keys are the containers' and images').
pub fn system_prune_request(filters: &[String]) -> Result<PruneVolumesRequest, Failure> {
    let mut req = PruneVolumesRequest::default();
    for f in filters {
        match f
            .split_once('=')
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v))
        {
            Some((k, _)) if k == "until" => {
                return Err(Failure::new(
                    "ERROR: The \"until\" filter is not supported with \"--volumes\"",
                    125,
                ))
            }
            Some((k, v)) if k == "label" => req.label.push(v.to_string()),
            Some((k, v)) if k == "label!" => req.not_label.push(v.to_string()),
            _ => {}
        }
    }
    Ok(req)
}

/// Prunes and prints Docker's "Deleted Volumes:" block; returns the space reclaimed.
pub fn prune_and_print(e: &engine::Engine, req: &PruneVolumesRequest) -> Result<u64, Failure> {
    let r = e.volume_prune(req).map_err(fail)?;
    if !r.volumes_deleted.is_empty() {
        println!("Deleted Volumes:");
        for n in &r.volumes_deleted {
            println!("{n}");
        }
        println!();
    }
    Ok(r.space_reclaimed)
}

fn confirm(warning: &str) -> Result<bool, Failure> {
    print!("{warning}\nAre you sure you want to continue? [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

/// Every error but the last goes to stderr; the last is the command's (exit 1).
fn last_error(mut errors: Vec<String>) -> CmdResult {
    match errors.pop() {
        None => Ok(()),
        Some(last) => {
            for e in errors {
                eprintln!("Error: {e}");
            }
            Err(Failure::new(last, 1))
        }
    }
}

/// Docker's inspect JSON: 4-space indent, fields in Docker's order.
fn pretty<T: serde::Serialize>(v: &T) -> String {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    serde::Serialize::serialize(v, &mut ser).expect("serializable");
    String::from_utf8(buf).expect("utf8")
}

/// `volume ls` and `system df -v`'s row of one volume (the docker CLI's volume context: fields
/// without a value print "N/A").
pub fn row(v: &Volume) -> Value {
    let labels: Vec<String> = v
        .labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let (links, size) = match &v.usage_data {
        Some(u) => (u.ref_count.to_string(), human_size(u.size.max(0) as u64)),
        None => ("N/A".into(), "N/A".into()),
    };
    json!({
        "Availability": "N/A",
        "Driver": v.driver,
        "Group": "N/A",
        "Labels": labels.join(","),
        "Links": links,
        "Mountpoint": v.mountpoint,
        "Name": v.name,
        "Scope": v.scope,
        "Size": size,
        "Status": "N/A",
    })
}

pub const HEADERS: &[(&str, &str)] = &[
    ("Name", "VOLUME NAME"),
    ("Driver", "DRIVER"),
    ("Scope", "SCOPE"),
    ("Mountpoint", "MOUNTPOINT"),
    ("Labels", "LABELS"),
    ("Links", "LINKS"),
    ("Size", "SIZE"),
    ("Group", "GROUP"),
    ("Availability", "AVAILABILITY"),
    ("Status", "STATUS"),
];

/// The docker CLI's `sortorder.NaturalLess`: runs of digits compare as numbers (`v2` < `v10`).
fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].is_ascii_digit() && b[j].is_ascii_digit() {
            let (si, sj) = (i, j);
            while i < a.len() && a[i].is_ascii_digit() {
                i += 1;
            }
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            let na = std::str::from_utf8(&a[si..i])
                .unwrap_or("")
                .trim_start_matches('0');
            let nb = std::str::from_utf8(&b[sj..j])
                .unwrap_or("")
                .trim_start_matches('0');
            let o = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
            if o != Ordering::Equal {
                return o;
            }
            // Equal numbers: fewer leading zeros first.
            let o = (i - si).cmp(&(j - sj));
            if o != Ordering::Equal {
                return o;
            }
        } else {
            if a[i] != b[j] {
                return a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
    }
    (a.len() - i).cmp(&(b.len() - j))
}

fn ls(vols: &[Volume], quiet: bool, format: Option<&str>, out: &mut dyn Write) -> CmdResult {
    let mut vols: Vec<&Volume> = vols.iter().collect();
    vols.sort_by(|a, b| natural_cmp(&a.name, &b.name));
    let format = match format {
        _ if quiet => "{{.Name}}",
        Some("json") => "{{json .}}",
        Some(f) if !f.is_empty() && f != "table" => f,
        _ => "table {{.Driver}}\t{{.Name}}",
    };
    let rows: Vec<Value> = vols.iter().map(|v| row(v)).collect();
    let s = format_rows(format, &rows, HEADERS).map_err(|e| Failure::new(e, 1))?;
    out.write_all(s.as_bytes())?;
    Ok(())
}

/// `system df`'s Local Volumes row: (total, active, size, reclaimable) of every volume.
pub fn df_totals(vols: &[Volume]) -> (usize, usize, u64, u64) {
    let (mut active, mut size, mut reclaim) = (0, 0u64, 0u64);
    for v in vols {
        let u = v.usage_data.clone().unwrap_or_default();
        size += u.size.max(0) as u64;
        if u.ref_count > 0 {
            active += 1;
        } else {
            reclaim += u.size.max(0) as u64;
        }
    }
    (vols.len(), active, size, reclaim)
}

#[cfg(test)]
mod tests {
    use super::natural_cmp;

    #[test]
    fn natural_order_as_the_docker_cli() {
        let mut v = vec!["v10", "v2", "a", "v1", "b01", "b1", "v02x"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(v, ["a", "b1", "b01", "v1", "v2", "v02x", "v10"]);
    }
}
