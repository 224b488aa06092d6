//! `inspect` of containers (and of images, for the top-level `inspect`).

use super::{finish, open_engine};
use crate::format::Template;
use crate::{CmdResult, Failure, Global};
use std::io::Write;

#[derive(serde::Serialize)]
#[serde(untagged)]
enum Inspected {
    Container(Box<engine::types::ContainerJson>),
    Image(Box<engine::images::ImageInspect>),
}

/// `inspect`: containers first, then images (Docker's order); `--type` restricts it.
pub fn inspect(g: &Global, a: crate::image_cmds::InspectArgs, container_only: bool) -> CmdResult {
    let kind = if container_only {
        Some("container".to_string())
    } else {
        a.kind.clone()
    };
    match kind.as_deref() {
        None | Some("container") | Some("image") => {}
        Some(k) => {
            return Err(Failure::new(
                format!("\"{k}\" is not a valid value for --type"),
                1,
            ))
        }
    }
    if kind.as_deref() == Some("image") {
        return crate::image_cmds::inspect(g, a, true);
    }
    let tmpl = a
        .format
        .as_deref()
        .map(|f| Template::parse(f).map_err(Failure::template_parse))
        .transpose()?;
    let e = open_engine(g)?;
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for n in &a.names {
        match e.resolve(n).and_then(|id| e.inspect(&id)) {
            Ok(c) => {
                found.push(Inspected::Container(Box::new(c)));
                continue;
            }
            Err(err) if err.kind() == engine::ErrorKind::NotFound => {}
            Err(err) => {
                errors.push(err.to_string());
                continue;
            }
        }
        if kind.as_deref() == Some("container") {
            errors.push(format!("No such container: {n}"));
            continue;
        }
        match e.image_inspect(n) {
            Ok(img) => found.push(Inspected::Image(Box::new(img))),
            Err(err) if err.kind() == engine::ErrorKind::NotFound => {
                errors.push(format!("No such object: {n}"))
            }
            Err(err) => errors.push(err.to_string()),
        }
    }
    let mut out = std::io::stdout().lock();
    match &tmpl {
        Some(_) if crate::format::is_json(a.format.as_deref()) => {
            let all: Vec<_> = found.iter().map(|v| with_sizes(&e, a.size, v)).collect();
            writeln!(
                out,
                "{}",
                serde_json::to_string(&all).expect("serializable")
            )?
        }
        Some(t) => {
            for v in &found {
                let v = with_sizes(&e, a.size, v);
                let s = t.execute(&v).map_err(|e| Failure::new(e, 1))?;
                writeln!(out, "{s}")?;
            }
        }
        None if a.size => {
            let all: Vec<_> = found.iter().map(|v| with_sizes(&e, true, v)).collect();
            writeln!(out, "{}", crate::image_cmds::pretty(&all))?
        }
        None => writeln!(out, "{}", crate::image_cmds::pretty(&found))?,
    }
    finish(errors)
}

/// A container's inspect JSON, with Docker's `SizeRw` and `SizeRootFs` when `-s` is given.
fn with_sizes(e: &engine::Engine, size: bool, v: &Inspected) -> serde_json::Value {
    let mut j = serde_json::to_value(v).expect("serializable");
    if let (true, Inspected::Container(c)) = (size, v) {
        let (rw, root) = e.container_sizes(&c.id, &c.image);
        j["SizeRw"] = rw.into();
        j["SizeRootFs"] = root.into();
    }
    j
}
