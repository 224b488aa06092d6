//! `export`.

use super::open_engine;
use crate::{CmdResult, Failure, Global};
use clap::Args;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
    pub container: String,
}

pub(super) fn export(g: &Global, a: ExportArgs) -> CmdResult {
    let e = open_engine(g)?;
    let id = e.resolve(&a.container)?;
    match &a.output {
        None => {
            if std::io::stdout().is_terminal() {
                return Err(Failure::new(
                    "cowardly refusing to save to a terminal. Use the -o flag or redirect",
                    1,
                ));
            }
            let mut w = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
            e.export(&id, &mut w)?;
            w.flush()?;
        }
        Some(path) => {
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let tmp = dir.join(format!(".berth-export-{}", std::process::id()));
            let res = (|| -> CmdResult {
                let f = std::fs::File::create(&tmp).map_err(|err| {
                    Failure::new(
                        format!("failed to export container: {}: {err}", path.display()),
                        1,
                    )
                })?;
                let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
                e.export(&id, &mut w)?;
                w.into_inner().map_err(|err| err.into_error())?.sync_all()?;
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
