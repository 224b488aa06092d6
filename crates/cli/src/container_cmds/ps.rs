//! `ps`: its columns, Go-style quoting and port ranges.

use super::{open_engine, parse_filters};
use crate::format::format_rows;
use crate::human::{human_duration, human_size_prec};
use crate::{CmdResult, Failure, Global};
use clap::Args;
use serde_json::{json, Value};
use std::io::Write;

#[derive(Args)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Pretty-print containers using a Go template
    #[arg(long)]
    pub format: Option<String>,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long = "last", default_value_t = -1, allow_negative_numbers = true)]
    pub last: i64,
    /// Show the latest created container (includes all states)
    #[arg(short = 'l', long)]
    pub latest: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only display container IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Display total file sizes
    #[arg(short = 's', long)]
    pub size: bool,
}

/// Docker's `Ellipsis`: at most `max` characters, the last one "…" when cut.
pub fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Go's `strconv.Quote` for printable text (escapes quotes, backslashes and controls).
pub fn go_quote(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\t' => o.push_str("\\t"),
            '\r' => o.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                o.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// Docker's `DisplayablePorts`: "0.0.0.0:8080->80/tcp, 443/tcp", consecutive ports merged.
pub fn display_ports(ports: &[engine::PortSummary]) -> String {
    let mut ps: Vec<&engine::PortSummary> = ports.iter().collect();
    ps.sort_by(|a, b| {
        (
            a.kind.as_str(),
            &a.ip,
            a.public_port.unwrap_or(0),
            a.private_port,
        )
            .cmp(&(
                b.kind.as_str(),
                &b.ip,
                b.public_port.unwrap_or(0),
                b.private_port,
            ))
    });
    // (ip, kind, public range, private range)
    type Group = (String, String, Option<(u16, u16)>, (u16, u16));
    let mut groups: Vec<Group> = Vec::new();
    for p in ps {
        let ip = if p.public_port.is_some() {
            p.ip.clone()
        } else {
            String::new()
        };
        if let Some(last) = groups.last_mut() {
            let contiguous = last.0 == ip
                && last.1 == p.kind
                && last.3 .1 + 1 == p.private_port
                && match (last.2, p.public_port) {
                    (Some((_, e)), Some(pp)) => e + 1 == pp,
                    (None, None) => true,
                    _ => false,
                };
            if contiguous {
                last.3 .1 = p.private_port;
                if let (Some(r), Some(pp)) = (&mut last.2, p.public_port) {
                    r.1 = pp;
                }
                continue;
            }
        }
        groups.push((
            ip,
            p.kind.clone(),
            p.public_port.map(|x| (x, x)),
            (p.private_port, p.private_port),
        ));
    }
    let range = |(a, b): (u16, u16)| {
        if a == b {
            a.to_string()
        } else {
            format!("{a}-{b}")
        }
    };
    groups
        .into_iter()
        .map(|(ip, kind, public, private)| match public {
            Some(pb) => {
                let ip = if ip.contains(':') {
                    format!("[{ip}]")
                } else {
                    ip
                };
                format!("{ip}:{}->{}/{kind}", range(pb), range(private))
            }
            None => format!("{}/{kind}", range(private)),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Go's `time.Time.String()` in local time: "2024-01-02 15:04:05 +0100 CET".
fn go_local_time(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| {
            let l = t.with_timezone(&chrono::Local);
            let off = l.format("%z").to_string();
            let zone = if off == "+0000" {
                "UTC".to_string()
            } else {
                off.clone()
            };
            format!("{} {off} {zone}", l.format("%Y-%m-%d %H:%M:%S"))
        })
        .unwrap_or_default()
}

/// The values `ps --format` sees for one container (Docker's ContainerContext).
pub fn ps_row(c: &engine::ContainerSummary, trunc: bool, size: bool) -> Value {
    let id = if trunc {
        engine::images::short_id(&c.id)
    } else {
        c.id.clone()
    };
    let image = if trunc && c.image.starts_with("sha256:") {
        engine::images::short_id(&c.image)
    } else {
        c.image.clone()
    };
    let command = if trunc {
        ellipsis(&c.command, 20)
    } else {
        c.command.clone()
    };
    // Docker hides link names ("/other/alias") unless --no-trunc.
    let names: Vec<String> = c
        .names
        .iter()
        .filter(|n| !trunc || n.trim_start_matches('/').split('/').count() == 1)
        .map(|n| n.trim_start_matches('/').to_string())
        .collect();
    let labels: Vec<String> = c.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mounts: Vec<String> = c
        .mounts
        .iter()
        .map(|m| {
            let n = if m.name.is_empty() {
                &m.source
            } else {
                &m.name
            };
            if trunc {
                ellipsis(n, 15)
            } else {
                n.clone()
            }
        })
        .collect();
    let size_s = match (c.size_rw, c.size_root_fs) {
        (Some(rw), Some(v)) if size => format!(
            "{} (virtual {})",
            human_size_prec(rw as f64, 3),
            human_size_prec(v as f64, 3)
        ),
        (Some(rw), None) if size => human_size_prec(rw as f64, 3),
        _ => String::new(),
    };
    let now = chrono::Utc::now().timestamp();
    json!({
        "ID": id,
        "Image": image,
        "Command": go_quote(&command),
        "CreatedAt": go_local_time(c.created),
        "RunningFor": format!("{} ago", human_duration(now - c.created)),
        "Ports": display_ports(&c.ports),
        "State": c.state,
        "Status": c.status,
        "Size": size_s,
        "Names": names.join(","),
        "Labels": labels.join(","),
        "Mounts": mounts.join(","),
        "Networks": c.network_settings.networks.keys().cloned().collect::<Vec<_>>().join(","),
        "LocalVolumes": c.mounts.iter().filter(|m| m.kind == "volume").count().to_string(),
        // CLI >= 26: the image manifest's platform, which an engine without one leaves nil.
        "Platform": null,
        crate::format::METHODS: {"Label": c.labels},
    })
}

pub const PS_HEADERS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("CreatedAt", "CREATED AT"),
    ("RunningFor", "CREATED"),
    ("Ports", "PORTS"),
    ("State", "STATE"),
    ("Status", "STATUS"),
    ("Size", "SIZE"),
    ("Names", "NAMES"),
    ("Labels", "LABELS"),
    ("Mounts", "MOUNTS"),
    ("Networks", "NETWORKS"),
    ("LocalVolumes", "LOCAL VOLUMES"),
];

pub fn ps(g: &Global, a: PsArgs) -> CmdResult {
    let e = open_engine(g)?;
    let opts = engine::ListOptions {
        all: a.all || a.latest || a.last > 0,
        limit: if a.latest { 1 } else { a.last.max(0) as usize },
        latest: a.latest,
        size: a.size,
        filters: parse_filters(&a.filter)?,
    };
    let list = e.list(&opts)?;
    let trunc = !a.no_trunc;
    let mut out = std::io::stdout().lock();
    if a.quiet {
        for c in &list {
            let id = if trunc {
                engine::images::short_id(&c.id)
            } else {
                c.id.clone()
            };
            writeln!(out, "{id}")?;
        }
        return Ok(());
    }
    let format = match a.format.as_deref() {
        Some(f) if !f.is_empty() && f != "table" => f.to_string(),
        _ => {
            let mut f = String::from(
                "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}",
            );
            if a.size {
                f.push_str("\t{{.Size}}");
            }
            f
        }
    };
    // Docker's CLI parses ps's format up front, with a message of its own.
    let body = format.strip_prefix("table").unwrap_or(&format);
    crate::format::Template::parse(body).map_err(|e| Failure {
        msg: format!("failed to parse template: {e}"),
        code: 1,
        bare: true,
    })?;
    let rows: Vec<Value> = list.iter().map(|c| ps_row(c, trunc, a.size)).collect();
    let text = format_rows(&format, &rows, PS_HEADERS).map_err(|m| Failure::new(m, 1))?;
    out.write_all(text.as_bytes())?;
    Ok(())
}
