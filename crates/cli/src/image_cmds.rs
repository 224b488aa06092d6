//! Image commands: import, save, load, images, inspect, history, tag, rmi, image prune.

use crate::format::{format_rows, Template};
use crate::human::{human_size, human_size_prec, since};
use crate::{CmdResult, Failure, Global};
use clap::Args;
use engine::images::{ImageDeleteItem, ImageListOptions, ImportRequest};
use engine::{Engine, ErrorKind};
use serde_json::json;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

/// The engine, for the image commands.
pub fn open_store(g: &Global) -> Result<Engine, Failure> {
    crate::container_cmds::open_engine(g)
}

/// An engine error at an image or registry command: 125 when the engine itself failed (I/O,
/// the store), else 1 (Docker's CLI).
pub fn image_failure(e: engine::Error) -> Failure {
    let code = match e.kind() {
        ErrorKind::Internal => 125,
        _ => 1,
    };
    Failure::new(e.to_string(), code)
}

// ------------------------------------------------------------------------------------------

#[derive(Args)]
pub struct ImportArgs {
    /// Tarball path, "-" for STDIN, or URL
    pub source: String,
    /// Repository name (and optional tag) for the image
    pub reference: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change")]
    pub change: Vec<String>,
    /// Set commit message for imported image
    #[arg(short = 'm', long = "message")]
    pub message: Option<String>,
    /// Set platform (os/arch) of the image
    #[arg(long)]
    pub platform: Option<String>,
}

pub fn import(g: &Global, a: ImportArgs) -> CmdResult {
    if let Some(r) = &a.reference {
        engine::parse_reference(r).map_err(image_failure)?;
    }
    let architecture = match a.platform.as_deref() {
        None => None,
        Some(p) => match p.split('/').collect::<Vec<_>>()[..] {
            ["linux", arch] | ["linux", arch, _] => Some(arch.to_string()),
            _ => {
                return Err(Failure::new(
                    format!("invalid platform {p:?}: expected linux/ARCH"),
                    125,
                ))
            }
        },
    };
    // A file, "-" or an http(s) URL; xz/bzip2 undone here, gzip/zstd by the unpacker.
    let mut input = engine::import_source::open(&a.source).map_err(|e| match e {
        // Docker's CLI prints a file it cannot open without a prefix.
        engine::Error::InvalidArgument(m) => Failure {
            msg: m,
            code: 1,
            bare: true,
        },
        e => Failure::new(e.to_string(), 1),
    })?;
    let e = open_store(g)?;
    let req = ImportRequest {
        reference: a.reference,
        changes: a.change,
        message: a.message,
        architecture,
    };
    let id = e.image_import(&mut input, &req).map_err(image_failure)?;
    println!("{id}");
    Ok(())
}

// ------------------------------------------------------------------------------------------

#[derive(Args)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
    #[arg(required = true)]
    pub images: Vec<String>,
}

pub fn save(g: &Global, a: SaveArgs) -> CmdResult {
    let e = open_store(g)?;
    match &a.output {
        None => {
            if std::io::stdout().is_terminal() {
                return Err(Failure::new(
                    "cowardly refusing to save to a terminal. Use the -o flag or redirect",
                    1,
                ));
            }
            let out = std::io::stdout();
            let mut w = std::io::BufWriter::with_capacity(1 << 20, out.lock());
            e.image_save(&a.images, &mut w).map_err(image_failure)?;
            w.flush()?;
        }
        Some(path) => {
            // Written next to the target and renamed: a failed save leaves no partial file.
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let tmp = dir.join(format!(
                ".{}.berth-{}",
                path.file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default(),
                std::process::id()
            ));
            let res = (|| -> CmdResult {
                let f = std::fs::File::create(&tmp).map_err(|e| {
                    Failure::new(format!("failed to save image: {}: {e}", path.display()), 1)
                })?;
                let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
                e.image_save(&a.images, &mut w).map_err(image_failure)?;
                w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
                std::fs::rename(&tmp, path)?;
                Ok(())
            })();
            if res.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            res?;
        }
    }
    Ok(())
}

#[derive(Args)]
pub struct LoadArgs {
    /// Read from tar archive file (or OCI layout directory), instead of STDIN
    #[arg(short = 'i', long = "input")]
    pub input: Option<PathBuf>,
    /// Suppress the load output
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
}

pub fn load(g: &Global, a: LoadArgs) -> CmdResult {
    let e = open_store(g)?;
    let lines = match &a.input {
        Some(p) if p.as_os_str() != "-" => e.image_load_path(p).map_err(image_failure)?,
        _ => {
            if std::io::stdin().is_terminal() {
                return Err(Failure::new(
                    "requested load from stdin, but stdin is empty",
                    1,
                ));
            }
            e.image_load(&mut std::io::stdin().lock())
                .map_err(image_failure)?
        }
    };
    // Like Docker: -q only hides progress; the result lines are printed either way.
    let _ = a.quiet;
    for l in lines {
        println!("{l}");
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------

#[derive(Args)]
pub struct ImagesArgs {
    /// Show only images of this repository (REPOSITORY[:TAG])
    pub repository: Option<String>,
    /// Show all images (default hides intermediate images)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only show image IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Show digests
    #[arg(long)]
    pub digests: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Pretty-print images using a Go template
    #[arg(long)]
    pub format: Option<String>,
    /// Filter output based on conditions provided (dangling=true|false, reference=PATTERN)
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
}

/// Go's `time.Time.String()` for UTC times: "2006-01-02 15:04:05 +0000 UTC".
fn go_time(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S +0000 UTC").to_string())
        .unwrap_or_default()
}

fn display_id(id: &str, no_trunc: bool) -> String {
    if no_trunc {
        id.to_string()
    } else {
        engine::images::short_id(id)
    }
}

pub fn images(g: &Global, a: ImagesArgs) -> CmdResult {
    let e = open_store(g)?;
    let imgs = e
        .image_list(&ImageListOptions {
            all: a.all,
            ..Default::default()
        })
        .map_err(image_failure)?;
    let filters = crate::image_filters::ImageFilters::parse(&a.filter, &|r| {
        let img = e
            .image_inspect(r)
            .map_err(|_| format!("No such image: {r}"))?;
        Ok(crate::image_filters::created_ns(Some(&img.created)))
    })
    .map_err(|m| Failure::new(m, 1))?;
    let repo_filter = a
        .repository
        .as_deref()
        .map(engine::parse_reference_normalized)
        .transpose()
        .map_err(image_failure)?;
    let mut rows = Vec::new();
    for img in &imgs {
        let labels = &img.labels;
        let created_ns = crate::image_filters::created_ns(img.created_at.as_deref());
        if !filters.keep_image(labels, created_ns, img.dangling) {
            continue;
        }
        let size = img.size;
        let created = img.created;
        let base = json!({
            "ID": display_id(&img.id, a.no_trunc),
            "CreatedSince": since(created),
            "CreatedAt": go_time(created),
            "Size": human_size_prec(size as f64, 3),
            "VirtualSize": human_size_prec(size as f64, 3),
            "SharedSize": "N/A",
            "UniqueSize": "N/A",
            "Containers": "N/A",
            crate::format::METHODS: {"Label": labels},
        });
        let mut pairs: Vec<(String, String, String)> = Vec::new(); // repo, tag, digest
        for t in &img.tags {
            let digest = img
                .digests
                .iter()
                .find(|d| d.name == t.name)
                .and_then(|d| d.digest.clone())
                .unwrap_or_else(|| "<none>".into());
            pairs.push((
                t.repository.clone(),
                t.tag.clone().unwrap_or_default(),
                digest,
            ));
        }
        for d in &img.digests {
            if !img.tags.iter().any(|t| t.name == d.name) {
                pairs.push((
                    d.repository.clone(),
                    "<none>".into(),
                    d.digest.clone().unwrap_or_default(),
                ));
            }
        }
        if pairs.is_empty() {
            pairs.push(("<none>".into(), "<none>".into(), "<none>".into()));
        }
        for (repo, tag, digest) in pairs {
            if let Some(r) = &repo_filter {
                if repo != r.repository || r.tag.as_ref().is_some_and(|t| *t != tag) {
                    continue;
                }
            }
            if !filters.keep_ref(&repo, &tag) {
                continue;
            }
            let mut row = base.clone();
            row["Repository"] = repo.into();
            row["Tag"] = tag.into();
            row["Digest"] = digest.into();
            rows.push(row);
        }
    }
    let fmt = match (&a.format, a.quiet) {
        (_, true) => "{{.ID}}".to_string(),
        (Some(f), _) => f.clone(),
        (None, _) if a.digests => {
            "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
                .into()
        }
        (None, _) => {
            "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}".into()
        }
    };
    let out = format_rows(
        &fmt,
        &rows,
        &[
            ("ID", "IMAGE ID"),
            ("CreatedSince", "CREATED"),
            ("CreatedAt", "CREATED AT"),
        ],
    )
    .map_err(|e| Failure::new(e, 1))?;
    std::io::stdout().write_all(out.as_bytes())?;
    Ok(())
}

// ------------------------------------------------------------------------------------------

#[derive(Args)]
pub struct InspectArgs {
    /// Format the output using the given Go template
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    /// Return JSON for specified type (container or image)
    #[arg(long = "type")]
    pub kind: Option<String>,
    /// Display total file sizes (ignored for images)
    #[arg(short = 's', long)]
    pub size: bool,
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Args)]
pub struct ImageInspectArgs {
    /// Format the output using the given Go template
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    #[arg(required = true)]
    pub names: Vec<String>,
}

impl From<ImageInspectArgs> for InspectArgs {
    fn from(a: ImageInspectArgs) -> Self {
        InspectArgs {
            format: a.format,
            kind: Some("image".into()),
            size: false,
            names: a.names,
        }
    }
}

/// Docker's `json.MarshalIndent(v, "", "    ")`.
pub fn pretty<T: serde::Serialize>(v: &T) -> String {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    serde::Serialize::serialize(v, &mut ser).expect("serializable");
    String::from_utf8(buf).expect("utf8")
}

pub fn inspect(g: &Global, a: InspectArgs, image_only: bool) -> CmdResult {
    if let Some(k) = &a.kind {
        if k != "image" {
            return Err(Failure::new(
                format!(
                    "\"{k}\" is not a valid value for --type (berth knows images only for now)"
                ),
                1,
            ));
        }
    }
    let e = open_store(g)?;
    let tmpl = a
        .format
        .as_deref()
        .map(|f| Template::parse(f).map_err(Failure::template_parse))
        .transpose()?;
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for n in &a.names {
        match e.image_inspect(n) {
            Ok(img) => found.push(img),
            Err(err) if err.kind() == ErrorKind::NotFound => errors.push(if image_only {
                format!("No such image: {n}")
            } else {
                format!("No such object: {n}")
            }),
            Err(err) => errors.push(err.to_string()),
        }
    }
    let mut out = std::io::stdout().lock();
    match &tmpl {
        Some(_) if crate::format::is_json(a.format.as_deref()) => writeln!(
            out,
            "{}",
            serde_json::to_string(&found).expect("serializable")
        )?,
        Some(t) => {
            for v in &found {
                let v = serde_json::to_value(v).expect("serializable");
                let s = t.execute(&v).map_err(|e| Failure::new(e, 1))?;
                writeln!(out, "{s}")?;
            }
        }
        None => writeln!(out, "{}", pretty(&found))?,
    }
    if errors.is_empty() {
        Ok(())
    } else {
        let last = errors.pop().unwrap();
        for e in errors {
            eprintln!("Error: {e}");
        }
        Err(Failure::new(last, 1))
    }
}

// ------------------------------------------------------------------------------------------

#[derive(Args)]
pub struct HistoryArgs {
    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long = "human", default_value_t = true, action = clap::ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub human: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Pretty-print history using a Go template
    #[arg(long)]
    pub format: Option<String>,
    pub image: String,
}

pub fn history(g: &Global, a: HistoryArgs) -> CmdResult {
    let e = open_store(g)?;
    let img = e.image_history(&a.image).map_err(image_failure)?;
    let mut rows = Vec::new();
    let n = img.items.len();
    for (i, h) in img.items.iter().enumerate() {
        let (size, created) = (h.size, h.created);
        let mut created_by = h.created_by.replace('\t', " ");
        if !a.no_trunc && created_by.chars().count() > 45 {
            created_by = created_by.chars().take(44).collect::<String>() + "…";
        }
        let row_id = if i + 1 == n {
            display_id(&img.id, a.no_trunc)
        } else {
            "<missing>".to_string()
        };
        rows.push(json!({
            "ID": row_id,
            "CreatedSince": if a.human { since(created) } else {
                chrono::DateTime::from_timestamp(created, 0).map(|t| t.to_rfc3339()).unwrap_or_default()
            },
            "CreatedAt": chrono::DateTime::from_timestamp(created, 0).map(|t| t.to_rfc3339()).unwrap_or_default(),
            "CreatedBy": created_by,
            "Size": if a.human { human_size_prec(size as f64, 3) } else { size.to_string() },
            "Comment": h.comment,
        }));
    }
    rows.reverse();
    let fmt = match (&a.format, a.quiet) {
        (_, true) => "{{.ID}}".to_string(),
        (Some(f), _) => f.clone(),
        (None, _) => {
            "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}".into()
        }
    };
    let out = format_rows(
        &fmt,
        &rows,
        &[
            ("ID", "IMAGE"),
            ("CreatedSince", "CREATED"),
            ("CreatedAt", "CREATED AT"),
            ("CreatedBy", "CREATED BY"),
        ],
    )
    .map_err(|e| Failure::new(e, 1))?;
    std::io::stdout().write_all(out.as_bytes())?;
    Ok(())
}

// ------------------------------------------------------------------------------------------

#[derive(Args)]
pub struct TagArgs {
    pub source: String,
    pub target: String,
}

pub fn tag(g: &Global, a: TagArgs) -> CmdResult {
    // The target is checked before the store is opened (a bad one never touches it).
    let target = engine::parse_reference(&a.target).map_err(image_failure)?;
    if target.digest.is_some() {
        return Err(Failure::new(
            "refusing to create a tag with a digest reference",
            1,
        ));
    }
    let e = open_store(g)?;
    e.image_tag(&a.source, &a.target).map_err(image_failure)?;
    Ok(())
}

#[derive(Args)]
pub struct RmiArgs {
    /// Force removal of the image
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Do not delete untagged parents (accepted for compatibility)
    #[arg(long = "no-prune")]
    pub no_prune: bool,
    #[arg(required = true)]
    pub images: Vec<String>,
}

pub fn print_items(items: &[ImageDeleteItem], lower: bool) {
    for it in items {
        match (it, lower) {
            (ImageDeleteItem::Untagged(r), false) => println!("Untagged: {r}"),
            (ImageDeleteItem::Deleted(d), false) => println!("Deleted: {d}"),
            (ImageDeleteItem::Untagged(r), true) => println!("untagged: {r}"),
            (ImageDeleteItem::Deleted(d), true) => println!("deleted: {d}"),
        }
    }
}

pub fn rmi(g: &Global, a: RmiArgs) -> CmdResult {
    let e = open_store(g)?;
    let mut last: Option<Failure> = None;
    for name in &a.images {
        match e.image_remove(name, a.force) {
            Ok(items) => print_items(&items, false),
            Err(err) => {
                if let Some(f) = last.take() {
                    eprintln!("Error: {}", f.msg);
                }
                last = Some(image_failure(err));
            }
        }
    }
    match last {
        Some(f) => Err(Failure::new(f.msg, 1)),
        None => Ok(()),
    }
}

#[derive(Args)]
pub struct PruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Provide filter values (e.g. "until=<timestamp>", "label=k=v", "label!=k")
    #[arg(long)]
    pub filter: Vec<String>,
}

pub fn prune(g: &Global, a: PruneArgs) -> CmdResult {
    let f = crate::prune_filters::PruneFilters::parse(&a.filter, crate::prune_filters::IMAGE_KEYS)?;
    // Docker's CLI sends -a as dangling=false; an explicit dangling filter decides otherwise.
    let all = f.dangling.map_or(a.all, |d| !d);
    if !a.force {
        let warning = if all {
            "WARNING! This will remove all images without at least one container associated to them."
        } else {
            "WARNING! This will remove all dangling images."
        };
        print!("{warning}\nAre you sure you want to continue? [y/N] ");
        std::io::stdout().flush()?;
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
            return Ok(());
        }
    }
    let e = open_store(g)?;
    let rep = e
        .image_prune(all, &|labels, created| f.matches(labels, created))
        .map_err(image_failure)?;
    if !rep.deleted.is_empty() {
        println!("Deleted Images:");
        print_items(&rep.deleted, true);
        println!();
    }
    println!("Total reclaimed space: {}", human_size(rep.space_reclaimed));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_and_times() {
        let m = |p, n| crate::image_filters::path_match(p, n).unwrap();
        assert!(m("busy*", "busybox"));
        assert!(m("*box:latest", "busybox:latest"));
        assert!(!m("busy", "busybox"));
        assert_eq!(go_time(0), "1970-01-01 00:00:00 +0000 UTC");
    }
}
