//! Image commands: import, save, load, images, inspect, history, tag, rmi, image prune.

use crate::format::{format_rows, Template};
use crate::human::{human_size, human_size_prec, since};
use crate::{CmdResult, Failure, Global};
use clap::Args;
use image::{DeleteItem, Image, ImageStore, Reference};
use serde_json::{json, Value};
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

pub fn open_store(g: &Global) -> Result<ImageStore, Failure> {
    let s = ImageStore::open(&g.root, g.storage_driver.as_deref())?;
    // A root an earlier version left open to other users is tightened here too.
    engine::perms::check_dirs(&g.root, &g.runroot);
    Ok(s)
}

/// Whether a container uses image `id` (its `config.v2.json` names it).
pub fn container_uses(root: &Path, id: &str) -> bool {
    let Ok(rd) = std::fs::read_dir(root.join("containers")) else {
        return false;
    };
    // Only record dirs (named by a 64-hex id): a removed container's dir is renamed to
    // `.removed-<id>` before the removal replies and deleted after it; it holds no image.
    rd.flatten().any(|e| {
        let n = e.file_name();
        let n = n.as_encoded_bytes();
        if n.len() != 64 || !n.iter().all(u8::is_ascii_hexdigit) {
            return false;
        }
        std::fs::read(e.path().join("config.v2.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .is_some_and(|v| v["Image"] == id)
    })
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
    let reference = a.reference.as_deref().map(Reference::parse).transpose()?;
    if a.source.starts_with("http://") || a.source.starts_with("https://") {
        return Err(Failure::new(
            format!(
                "importing from a URL is not supported by berth yet: download it first (curl -fLo rootfs.tar {}) and import the file",
                a.source
            ),
            1,
        ));
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
    let mut input: Box<dyn Read> = if a.source == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(
            std::fs::File::open(&a.source)
                .map_err(|e| Failure::new(format!("open {}: {e}", a.source), 1))?,
        )
    };
    let store = open_store(g)?;
    let opts = image::import::ImportOptions {
        changes: a.change,
        message: a.message,
        source: "-".into(),
        reference,
        architecture,
    };
    let id = image::import::import(&store, &mut input, &opts)?;
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
    let store = open_store(g)?;
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
            image::archive::save(&store, &a.images, &mut w)?;
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
                image::archive::save(&store, &a.images, &mut w)?;
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
    let store = open_store(g)?;
    let lines = match &a.input {
        Some(p) if p.as_os_str() != "-" => image::archive::load_path(&store, p)?,
        _ => {
            if std::io::stdin().is_terminal() {
                return Err(Failure::new(
                    "requested load from stdin, but stdin is empty",
                    1,
                ));
            }
            image::archive::load_stream(&store, &mut std::io::stdin().lock())?
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
        image::short_id(id)
    }
}

pub fn images(g: &Global, a: ImagesArgs) -> CmdResult {
    let store = open_store(g)?;
    let mut imgs = store.images()?;
    imgs.sort_by_key(|i| std::cmp::Reverse(i.config.created_unix()));
    let parents: std::collections::HashSet<String> =
        imgs.iter().filter_map(|i| i.parent.clone()).collect();
    let filters = crate::image_filters::ImageFilters::parse(&a.filter, &|r| {
        let img = store
            .resolve(r)
            .and_then(|id| store.get(&id))
            .map_err(|_| format!("No such image: {r}"))?;
        Ok(crate::image_filters::created_ns(
            img.config.created.as_deref(),
        ))
    })
    .map_err(|m| Failure::new(m, 1))?;
    let repo_filter = a
        .repository
        .as_deref()
        .map(Reference::parse_normalized)
        .transpose()?;
    let mut rows = Vec::new();
    for img in &imgs {
        let has_tags = !img.tags.is_empty();
        if !a.all && !has_tags && img.digests.is_empty() && parents.contains(&img.id) {
            continue; // intermediate image
        }
        let labels = img
            .config
            .config
            .as_ref()
            .and_then(|c| c.labels.clone())
            .unwrap_or_default();
        let created_ns = crate::image_filters::created_ns(img.config.created.as_deref());
        if !filters.keep_image(&labels, created_ns, img.is_dangling()) {
            continue;
        }
        let size = store.size(img);
        let created = img.config.created_unix();
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
                .find(|d| d.name() == t.name())
                .and_then(|d| d.digest.clone())
                .unwrap_or_else(|| "<none>".into());
            pairs.push((t.familiar_name(), t.tag.clone().unwrap_or_default(), digest));
        }
        for d in &img.digests {
            if !img.tags.iter().any(|t| t.name() == d.name()) {
                pairs.push((
                    d.familiar_name(),
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
                if repo != r.familiar_name() || r.tag.as_ref().is_some_and(|t| *t != tag) {
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

/// Docker's image inspect object; a struct so that JSON output keeps Docker's field order.
#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageInspect {
    id: String,
    repo_tags: Vec<String>,
    repo_digests: Vec<String>,
    parent: String,
    comment: String,
    created: String,
    container: String,
    container_config: image::ContainerConfig,
    docker_version: String,
    author: String,
    config: Option<image::ContainerConfig>,
    architecture: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    variant: String,
    os: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    os_version: Option<Value>,
    size: u64,
    virtual_size: u64,
    graph_driver: GraphDriver,
    #[serde(rename = "RootFS")]
    root_fs: RootFsInspect,
    metadata: MetadataInspect,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct GraphDriver {
    data: Option<OverlayData>,
    name: String,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct OverlayData {
    #[serde(skip_serializing_if = "Option::is_none")]
    lower_dir: Option<String>,
    merged_dir: String,
    upper_dir: String,
    work_dir: String,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct RootFsInspect {
    #[serde(rename = "Type")]
    kind: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    layers: Vec<String>,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct MetadataInspect {
    last_tag_time: String,
}

pub fn inspect_image(store: &ImageStore, img: &Image) -> ImageInspect {
    let c = &img.config;
    let size = store.size(img);
    let chains = image::config::chain_ids(c.diff_ids());
    let data = match (store.driver(), chains.last()) {
        ("overlay2", Some(top)) => {
            let dir = |ch: &str| store.layers().layer_dir(ch).ok();
            let upper = dir(top).unwrap_or_default();
            let base = upper.parent().map(Path::to_path_buf).unwrap_or_default();
            let lowers: Vec<String> = chains[..chains.len() - 1]
                .iter()
                .rev()
                .filter_map(|ch| dir(ch))
                .map(|p| p.display().to_string())
                .collect();
            Some(OverlayData {
                lower_dir: (!lowers.is_empty()).then(|| lowers.join(":")),
                merged_dir: base.join("merged").display().to_string(),
                upper_dir: upper.display().to_string(),
                work_dir: base.join("work").display().to_string(),
            })
        }
        _ => None,
    };
    const ZERO_TIME: &str = "0001-01-01T00:00:00Z";
    ImageInspect {
        id: img.id.clone(),
        repo_tags: img.tags.iter().map(|t| t.familiar_string()).collect(),
        repo_digests: img.digests.iter().map(|t| t.familiar_string()).collect(),
        parent: img.parent.clone().unwrap_or_default(),
        comment: c.comment.clone(),
        created: c.created.clone().unwrap_or_else(|| ZERO_TIME.into()),
        container: c.container.clone(),
        container_config: c.container_config.clone().unwrap_or_default(),
        docker_version: c.docker_version.clone(),
        author: c.author.clone(),
        config: c.config.clone(),
        architecture: c.architecture.clone(),
        variant: c.variant.clone(),
        os: c.os.clone(),
        os_version: c.extra.get("os.version").cloned(),
        size,
        virtual_size: size,
        graph_driver: GraphDriver {
            data,
            name: store.driver().to_string(),
        },
        root_fs: RootFsInspect {
            kind: c
                .rootfs
                .as_ref()
                .map(|r| r.kind.clone())
                .unwrap_or_else(|| "layers".into()),
            layers: c.diff_ids().to_vec(),
        },
        metadata: MetadataInspect {
            last_tag_time: img
                .last_tag_time
                .clone()
                .unwrap_or_else(|| ZERO_TIME.into()),
        },
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
    let store = open_store(g)?;
    let tmpl = a
        .format
        .as_deref()
        .map(|f| {
            Template::parse(f).map_err(|e| Failure::new(format!("template parsing error: {e}"), 1))
        })
        .transpose()?;
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for n in &a.names {
        match store.resolve(n).and_then(|id| store.get(&id)) {
            Ok(img) => found.push(inspect_image(&store, &img)),
            Err(image::Error::NotFound(_)) => errors.push(if image_only {
                format!("No such image: {n}")
            } else {
                format!("No such object: {n}")
            }),
            Err(e) => errors.push(e.to_string()),
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
    let store = open_store(g)?;
    let id = store.resolve(&a.image)?;
    let img = store.get(&id)?;
    let sizes = store.layer_sizes(&img);
    let mut layer = 0;
    let mut rows = Vec::new();
    let n = img.config.history.len();
    for (i, h) in img.config.history.iter().enumerate() {
        let size = if h.empty_layer {
            0
        } else {
            layer += 1;
            sizes.get(layer - 1).copied().unwrap_or(0)
        };
        let created = h
            .created
            .as_deref()
            .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
            .map(|t| t.timestamp())
            .unwrap_or(0);
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
    let target = Reference::parse(&a.target)?;
    if target.digest.is_some() {
        return Err(Failure::new(
            "refusing to create a tag with a digest reference",
            1,
        ));
    }
    let store = open_store(g)?;
    let id = store.resolve(&a.source)?;
    store.tag(&id, &target)?;
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

pub fn print_items(items: &[DeleteItem], lower: bool) {
    for it in items {
        match (it, lower) {
            (DeleteItem::Untagged(r), false) => println!("Untagged: {r}"),
            (DeleteItem::Deleted(d), false) => println!("Deleted: {d}"),
            (DeleteItem::Untagged(r), true) => println!("untagged: {r}"),
            (DeleteItem::Deleted(d), true) => println!("deleted: {d}"),
        }
    }
}

pub fn rmi(g: &Global, a: RmiArgs) -> CmdResult {
    let store = open_store(g)?;
    let root = g.root.clone();
    let used = move |id: &str| container_uses(&root, id);
    let mut last: Option<Failure> = None;
    for name in &a.images {
        match store.remove(name, a.force, &used) {
            Ok(items) => print_items(&items, false),
            Err(e) => {
                if let Some(f) = last.take() {
                    eprintln!("Error: {}", f.msg);
                }
                last = Some(e.into());
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

/// Whether `image prune --filter` selects `img` (its labels and creation time).
pub fn prune_selects(f: &crate::prune_filters::PruneFilters, img: &Image) -> bool {
    let labels = img
        .config
        .config
        .as_ref()
        .and_then(|c| c.labels.clone())
        .unwrap_or_default();
    f.matches(&labels, img.config.created_unix())
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
    let store = open_store(g)?;
    let root = g.root.clone();
    let used = move |id: &str| container_uses(&root, id);
    let (items, reclaimed) = store.prune_matching(all, &used, &|img| prune_selects(&f, img))?;
    if !items.is_empty() {
        println!("Deleted Images:");
        print_items(&items, true);
        println!();
    }
    println!("Total reclaimed space: {}", human_size(reclaimed));
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
