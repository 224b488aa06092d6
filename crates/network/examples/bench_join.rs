//! Measures what bridge networking adds to a container start (root):
//! `cargo run --release -p network --example bench_join [N]`.
//! Prints the mean cost of a `none` sandbox, of join (veth, address, route, one published
//! port) and of teardown (`release_sandbox`, or `destroy_sandbox` with SYNC=1), on a throw-away network in 10.213.0.0/16.

use network::*;
use std::time::{Duration, Instant};

fn main() -> Result<()> {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(50);
    let tmp = std::env::temp_dir().join(format!("berth-netbench-{}", std::process::id()));
    let ctl = NetworkController::open(&tmp.join("root"), &tmp.join("run"))?;
    let name = format!("bench{}", std::process::id());
    let mut created = None;
    for x in 0..=255u32 {
        let o = NetworkOptions {
            subnet: Some(format!("10.213.{x}.0/24").parse()?),
            bridge_name: Some(format!("bb{}", std::process::id())),
            ..Default::default()
        };
        match ctl.create_network(&name, o) {
            Ok(net) => {
                created = Some(net);
                break;
            }
            Err(Error::Conflict(_)) => continue,
            Err(e) => return Err(e),
        }
    }
    created.ok_or_else(|| Error::Conflict("no free 10.213.x.0/24".into()))?;
    let (mut t_sb, mut t_join, mut t_destroy) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    for i in 0..n {
        let id = format!("bench{}-{i}", std::process::id());
        let t0 = Instant::now();
        let sb = ctl.create_sandbox(&id)?;
        let t1 = Instant::now();
        let r = ctl.join(
            &sb,
            &name,
            EndpointOptions {
                name: id.clone(),
                port_bindings: parse_publish("80")?,
                ..Default::default()
            },
        );
        let t2 = Instant::now();
        if std::env::var_os("SYNC").is_some() {
            ctl.destroy_sandbox(&id)?;
        } else {
            ctl.release_sandbox(&id)?;
        }
        let t3 = Instant::now();
        r?;
        t_sb += t1 - t0;
        t_join += t2 - t1;
        t_destroy += t3 - t2;
    }
    ctl.remove_network(&name)?;
    let _ = std::fs::remove_dir_all(&tmp);
    println!(
        "n={n}  sandbox (none): {:?}  join (bridge + -p): {:?}  destroy: {:?}",
        t_sb / n,
        t_join / n,
        t_destroy / n
    );
    Ok(())
}
