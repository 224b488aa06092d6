//! `top`.

use crate::types::ContainerStatus;
use crate::{Engine, Error, Result, TopResult};

impl Engine {
    /// `top [ps OPTIONS]` (default "-ef").
    pub fn top(&self, id: &str, ps_args: &[String]) -> Result<TopResult> {
        let (id, rec) = self.record(id)?;
        if rec.effective_status() != ContainerStatus::Running
            && rec.effective_status() != ContainerStatus::Paused
        {
            return Err(Error::Conflict(format!("Container {id} is not running")));
        }
        let rt = runtime::state::StateRoot::new(self.paths.runtime_root());
        let pids = runtime::Container::load(&rt, &id)?.pids()?;
        let args: Vec<String> = if ps_args.is_empty() {
            vec!["-ef".into()]
        } else {
            ps_args.to_vec()
        };
        let out = std::process::Command::new("ps")
            .args(&args)
            .output()
            .map_err(Error::io("running ps"))?;
        if !out.status.success() {
            return Err(Error::Other(format!(
                "Error running ps: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let mut lines = text.lines();
        let header = lines.next().unwrap_or("");
        let titles: Vec<String> = header.split_whitespace().map(String::from).collect();
        let pid_col = titles
            .iter()
            .position(|t| t == "PID")
            .ok_or_else(|| Error::Other("Couldn't find PID field in ps output".into()))?;
        let mut procs = Vec::new();
        for l in lines {
            let fields: Vec<&str> = l.split_whitespace().collect();
            if fields.len() < titles.len() {
                continue;
            }
            let Ok(p) = fields[pid_col].parse::<i32>() else {
                continue;
            };
            if !pids.contains(&p) {
                continue;
            }
            let mut row: Vec<String> = fields[..titles.len() - 1]
                .iter()
                .map(|s| s.to_string())
                .collect();
            row.push(fields[titles.len() - 1..].join(" "));
            procs.push(row);
        }
        Ok(TopResult {
            titles,
            processes: procs,
        })
    }
}
