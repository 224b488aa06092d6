//! `system df -v`: Docker's four sections (images with their shared and unique sizes and
//! container counts, containers, local volumes, build cache), or with `--format json` one
//! object of the four lists, as the docker CLI 28 prints them.

use crate::format::format_rows;
use crate::human::{human_size, human_size_prec, since};
use crate::image_cmds::{image_failure, open_store};
use crate::{CmdResult, Failure, Global};
use engine::images::ImageListOptions;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::Write;

const IMAGES: &str = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}";
const CONTAINERS: &str = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}";
const VOLUMES: &str = "table {{.Name}}\t{{.Links}}\t{{.Size}}";

fn image_rows(g: &Global, uses: &HashMap<String, usize>) -> Result<Vec<Value>, Failure> {
    let e = open_store(g)?;
    let imgs = e
        .image_list(&ImageListOptions {
            all: true,
            shared_size: true,
        })
        .map_err(image_failure)?;
    let mut rows = Vec::new();
    for img in &imgs {
        let size = img.size;
        let shared = img.shared_size.unwrap_or(0);
        // Docker shows the first tag only.
        let (repo, tag) = match img.tags.first() {
            Some(t) => (t.repository.clone(), t.tag.clone().unwrap_or_default()),
            None => ("<none>".into(), "<none>".into()),
        };
        let created = img.created;
        rows.push(json!({
            "Containers": uses.get(&img.id).copied().unwrap_or(0).to_string(),
            "CreatedAt": chrono::DateTime::from_timestamp(created, 0)
                .map(|t| t.format("%Y-%m-%d %H:%M:%S +0000 UTC").to_string())
                .unwrap_or_default(),
            "CreatedSince": since(created),
            "Digest": "",
            "ID": engine::images::short_id(&img.id),
            "Repository": repo,
            "SharedSize": human_size(shared),
            "Size": human_size_prec(size as f64, 3),
            "Tag": tag,
            "UniqueSize": human_size(size.saturating_sub(shared)),
            "VirtualSize": human_size(size),
        }));
    }
    Ok(rows)
}

pub fn print(g: &Global, format: Option<&str>) -> CmdResult {
    let json_out = match format {
        None | Some("") | Some("table") => false,
        Some("json") => true,
        Some(_) => {
            return Err(Failure::new(
                "system df -v takes --format json or no format (a template applies to the summary only)",
                125,
            ))
        }
    };
    let e = crate::container_cmds::open_engine(g)?;
    let cs = e
        .list(&engine::ListOptions {
            all: true,
            size: true,
            ..Default::default()
        })
        .map_err(|e| Failure::new(e.to_string(), 1))?;
    let mut uses: HashMap<String, usize> = HashMap::new();
    for c in &cs {
        *uses.entry(c.image_id.clone()).or_default() += 1;
    }
    let images = image_rows(g, &uses)?;
    let containers: Vec<Value> = cs
        .iter()
        .map(|c| {
            let mut r = crate::container_cmds::ps_row(c, true, false);
            r["Size"] = human_size(c.size_rw.unwrap_or(0).max(0) as u64).into();
            r
        })
        .collect();
    let vols: Vec<Value> = e
        .volume_usage()
        .map_err(|e| Failure::new(e.to_string(), 1))?
        .iter()
        .map(crate::volume_cmds::row)
        .collect();
    let mut out = std::io::stdout().lock();
    if json_out {
        // Docker's key order (its struct's), not sorted.
        writeln!(
            out,
            "{{\"Images\":{},\"Containers\":{},\"Volumes\":{},\"BuildCache\":[]}}",
            Value::from(images),
            Value::from(containers),
            Value::from(vols)
        )?;
        return Ok(());
    }
    let table = |f: &str, rows: &[Value], h: &[(&str, &str)]| {
        format_rows(f, rows, h).map_err(|e| Failure::new(e, 1))
    };
    let img_headers = [
        ("Repository", "REPOSITORY"),
        ("Tag", "TAG"),
        ("ID", "IMAGE ID"),
        ("CreatedSince", "CREATED"),
        ("Size", "SIZE"),
        ("SharedSize", "SHARED SIZE"),
        ("UniqueSize", "UNIQUE SIZE"),
        ("Containers", "CONTAINERS"),
    ];
    write!(
        out,
        "Images space usage:\n\n{}\n",
        table(IMAGES, &images, &img_headers)?
    )?;
    write!(
        out,
        "Containers space usage:\n\n{}\n",
        table(CONTAINERS, &containers, crate::container_cmds::PS_HEADERS)?
    )?;
    write!(
        out,
        "Local Volumes space usage:\n\n{}\n",
        table(VOLUMES, &vols, crate::volume_cmds::HEADERS)?
    )?;
    write!(
        out,
        "Build cache usage: 0B\n\nCACHE ID   CACHE TYPE   SIZE      CREATED   LAST USED   USAGE     SHARED\n"
    )?;
    Ok(())
}
