//! Unit tests of the container commands' pure parts (columns, times, cp arguments).

use super::cp::{basename, split_cp_arg};
use super::events::event_line;
use super::ps::{display_ports, ellipsis, go_quote, ps_row, PS_HEADERS};
use super::stats::{stats_row, STATS_HEADERS};
use super::time::{parse_go_duration, parse_time};
use super::top::tabwrite_min;
use crate::format::format_rows;
use engine::PortSummary;

fn port(ip: &str, private: u16, public: Option<u16>) -> PortSummary {
    PortSummary {
        ip: ip.into(),
        private_port: private,
        public_port: public,
        kind: "tcp".into(),
    }
}

#[test]
fn ports_display() {
    assert_eq!(display_ports(&[]), "");
    assert_eq!(display_ports(&[port("", 80, None)]), "80/tcp");
    assert_eq!(
        display_ports(&[port("0.0.0.0", 80, Some(8080)), port("::", 80, Some(8080))]),
        "0.0.0.0:8080->80/tcp, [::]:8080->80/tcp"
    );
    assert_eq!(
        display_ports(&[
            port("0.0.0.0", 81, Some(8001)),
            port("0.0.0.0", 80, Some(8000)),
            port("", 443, None)
        ]),
        "443/tcp, 0.0.0.0:8000-8001->80-81/tcp"
    );
}

#[test]
fn command_column() {
    assert_eq!(go_quote(&ellipsis("sleep 1000", 20)), "\"sleep 1000\"");
    assert_eq!(
        go_quote(&ellipsis("sh -c 'while true; do echo hi; done'", 20)),
        "\"sh -c 'while true; …\""
    );
    assert_eq!(go_quote("a\"b\\"), "\"a\\\"b\\\\\"");
}

#[test]
fn ps_table_columns() {
    let c = engine::ContainerSummary {
        id: "0123456789abcdef".repeat(4),
        names: vec!["/web".into()],
        image: "busybox".into(),
        command: "sleep 1000".into(),
        created: chrono::Utc::now().timestamp() - 120,
        state: "running".into(),
        status: "Up 2 minutes".into(),
        ..Default::default()
    };
    let rows = vec![ps_row(&c, true, false)];
    let t = format_rows(
        "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}",
        &rows,
        PS_HEADERS,
    )
    .unwrap();
    let lines: Vec<&str> = t.lines().collect();
    assert_eq!(
        lines[0],
        "CONTAINER ID   IMAGE     COMMAND        CREATED         STATUS         PORTS     NAMES"
    );
    assert_eq!(
        lines[1],
        "0123456789ab   busybox   \"sleep 1000\"   2 minutes ago   Up 2 minutes             web"
    );
    let t = format_rows("{{.Names}}: {{.State}}", &rows, PS_HEADERS).unwrap();
    assert_eq!(t, "web: running\n");
    assert_eq!(ps_row(&c, false, false)["ID"], c.id);
}

#[test]
fn stats_columns() {
    let prev = engine::StatsSample {
        id: "a".repeat(64),
        name: "/web".into(),
        cpu_total_ns: 0,
        system_cpu_ns: 0,
        online_cpus: 2,
        ..Default::default()
    };
    let cur = engine::StatsSample {
        cpu_total_ns: 250_000_000,
        system_cpu_ns: 1_000_000_000,
        mem_usage: 1 << 20,
        mem_limit: 64 << 20,
        net_rx: 1234,
        net_tx: 648,
        blk_read: 0,
        blk_write: 4096,
        pids: 3,
        ..prev.clone()
    };
    let r = stats_row(&cur, Some(&prev), "web", true);
    assert_eq!(r["ID"], "aaaaaaaaaaaa");
    assert_eq!(r["Name"], "web");
    assert_eq!(r["CPUPerc"], "50.00%");
    assert_eq!(r["MemUsage"], "1MiB / 64MiB");
    assert_eq!(r["MemPerc"], "1.56%");
    assert_eq!(r["NetIO"], "1.23kB / 648B");
    assert_eq!(r["BlockIO"], "0B / 4.1kB");
    assert_eq!(r["PIDs"], "3");
    let t = format_rows(
        "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}",
        &[r],
        STATS_HEADERS,
    )
    .unwrap();
    assert!(t.starts_with(
        "CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT   MEM %     NET I/O         BLOCK I/O    PIDS\n"
    ), "{t}");
}

#[test]
fn times_and_durations() {
    let now = 1_700_000_000_000_000_000;
    assert_eq!(parse_go_duration("10m"), Some(600_000_000_000));
    assert_eq!(parse_go_duration("1h30m"), Some(5_400_000_000_000));
    assert_eq!(parse_go_duration("1.5s"), Some(1_500_000_000));
    assert_eq!(parse_go_duration("5"), None);
    assert_eq!(parse_time("10s", now).unwrap(), now - 10_000_000_000);
    assert_eq!(
        parse_time("1700000000", now).unwrap(),
        1_700_000_000_000_000_000
    );
    assert_eq!(
        parse_time("2023-11-14T22:13:20Z", now).unwrap(),
        1_700_000_000_000_000_000
    );
    assert!(parse_time("yesterday", now).is_err());
}

#[test]
fn top_alignment() {
    let rows = vec![
        vec!["UID".to_string(), "PID".to_string(), "CMD".to_string()],
        vec![
            "root".to_string(),
            "12345".to_string(),
            "sleep 1000".to_string(),
        ],
    ];
    assert_eq!(
        tabwrite_min(&rows, 20, 3),
        format!(
            "UID{}PID{}CMD\nroot{}12345{}sleep 1000\n",
            " ".repeat(17),
            " ".repeat(17),
            " ".repeat(16),
            " ".repeat(15)
        )
    );
}

#[test]
fn cp_args() {
    assert_eq!(split_cp_arg("web:/etc/hosts"), Some(("web", "/etc/hosts")));
    assert_eq!(split_cp_arg("/tmp/a:b"), None);
    assert_eq!(split_cp_arg("./a:b"), None);
    assert_eq!(split_cp_arg("file"), None);
    assert_eq!(split_cp_arg("-"), None);
    assert_eq!(basename("/a/b/"), "b");
}

#[test]
fn event_lines() {
    let mut ev = engine::Event {
        kind: "container".into(),
        action: "start".into(),
        time_nano: 1_700_000_000_123_456_789,
        ..Default::default()
    };
    ev.actor.id = "abc".into();
    ev.actor.attributes.insert("name".into(), "web".into());
    ev.actor.attributes.insert("image".into(), "busybox".into());
    let l = event_line(&ev);
    assert!(l.contains(".123456789"), "{l}");
    assert!(
        l.ends_with(" container start abc (image=busybox, name=web)"),
        "{l}"
    );
}
