//! `port`.

use super::open_engine;
use crate::{CmdResult, Failure, Global};
use clap::Args;
use std::io::Write;

#[derive(Args)]
pub struct PortArgs {
    pub container: String,
    /// PRIVATE_PORT[/PROTO]
    pub private_port: Option<String>,
}

fn binding_str(b: &engine::types::PortBinding) -> String {
    let ip = if b.host_ip.is_empty() {
        "0.0.0.0"
    } else {
        &b.host_ip
    };
    if ip.contains(':') {
        format!("[{ip}]:{}", b.host_port)
    } else {
        format!("{ip}:{}", b.host_port)
    }
}

pub(super) fn port(g: &Global, a: PortArgs) -> CmdResult {
    let e = open_engine(g)?;
    let id = e.resolve(&a.container)?;
    let ports = e.port(&id)?;
    let mut out = std::io::stdout().lock();
    if let Some(p) = &a.private_port {
        let key = if p.contains('/') {
            p.clone()
        } else {
            format!("{p}/tcp")
        };
        match ports.get(&key) {
            Some(Some(bs)) if !bs.is_empty() => {
                for b in bs {
                    writeln!(out, "{}", binding_str(b))?;
                }
                Ok(())
            }
            _ => Err(Failure::new(
                format!("No public port '{key}' published for {}", a.container),
                1,
            )),
        }
    } else {
        let mut keys: Vec<&String> = ports.keys().collect();
        keys.sort_by_key(|k| {
            let (n, proto) = k.split_once('/').unwrap_or((k, ""));
            (n.parse::<u32>().unwrap_or(0), proto.to_string())
        });
        for k in keys {
            for b in ports[k].iter().flatten() {
                writeln!(out, "{k} -> {}", binding_str(b))?;
            }
        }
        Ok(())
    }
}
