//! berth-runtime root filesystem: spec mounts, symlink escapes, masked/read-only paths,
//! read-only root, devices, /dev symlinks, --no-pivot — each checked from inside the container
//! (its output) and from outside (the host is unchanged, no mount left behind).

mod common;
use common::*;
use serde_json::json;
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt};
use std::path::Path;

/// No mount under the bundle is left in the host's mount table.
fn assert_no_mounts_left(b: &Bundle) {
    let mi = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let p = b.path();
    assert!(
        !mi.contains(p.to_str().unwrap()),
        "mounts left on the host under {}:\n{mi}",
        p.display()
    );
}

fn is_mount_point(p: &Path) -> bool {
    fs::metadata(p).unwrap().dev() != fs::metadata(p.parent().unwrap()).unwrap().dev()
}

/// Runs the bundle to completion and returns (stdout, stderr), asserting exit code 0.
fn run_ok(rt: &Runtime, b: &Bundle, name: &str) -> String {
    let o = rt.run_bundle(b, &unique_name(name));
    assert_eq!(
        o.status.code(),
        Some(0),
        "stdout: {}\nstderr: {}",
        stdout(&o),
        stderr(&o)
    );
    stdout(&o)
}

#[test]
fn tmpfs_bind_ro_bind_and_rbind_mounts() {
    let rt = Runtime::new();
    let host = tempfile::Builder::new()
        .prefix("berth-rootfs-src")
        .tempdir()
        .unwrap();
    fs::write(host.path().join("hello"), "from host\n").unwrap();
    let src = host.path().to_str().unwrap().to_string();
    let mut b = Bundle::new(&[
        "sh",
        "-c",
        "echo tmpfs=$(stat -f -c %T /mnt/t) mode=$(stat -c %a /mnt/t); \
         echo t > /mnt/t/x && echo tmpfs-writable; \
         echo rw=$(cat /rw/hello); echo new > /rw/new && echo rw-writable; \
         echo ro=$(cat /ro/hello); echo new > /ro/new2 || echo ro-refused; \
         echo file=$(cat /etc/hostfile); \
         test -f /hostcg/memory/memory.limit_in_bytes && echo rbind-submount; \
         grep ' /hostcg/memory ' /proc/self/mountinfo | cut -d' ' -f6",
    ]);
    b.edit(|s| {
        let m = s["mounts"].as_array_mut().unwrap();
        m.push(
            json!({"destination": "/mnt/t", "type": "tmpfs", "source": "tmpfs",
                      "options": ["nosuid", "nodev", "mode=1777", "size=1m"]}),
        );
        m.push(json!({"destination": "/rw", "type": "bind", "source": src,
                      "options": ["bind"]}));
        m.push(json!({"destination": "/ro", "type": "bind", "source": src,
                      "options": ["bind", "ro"]}));
        m.push(json!({"destination": "/etc/hostfile", "type": "bind",
                      "source": format!("{src}/hello"), "options": ["rbind", "ro"]}));
        // The host's cgroup tree has a mount per controller: rbind brings them along, and
        // "rro" makes every one of them read-only ("ro" alone: the top one, as runc).
        m.push(
            json!({"destination": "/hostcg", "type": "bind", "source": "/sys/fs/cgroup",
                      "options": ["rbind", "ro", "rro", "nosuid", "nodev", "noexec"]}),
        );
    });
    let out = run_ok(&rt, &b, "mounts");
    for want in [
        "tmpfs=tmpfs mode=1777",
        "tmpfs-writable",
        "rw=from host",
        "rw-writable",
        "ro=from host",
        "ro-refused",
        "file=from host",
        "rbind-submount",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    let flags = out.lines().last().unwrap();
    assert!(
        flags.split(',').any(|f| f == "ro"),
        "rbind submount not ro: {out}"
    );
    // Outside: the writable bind wrote through, the read-only one did not.
    assert_eq!(
        fs::read_to_string(host.path().join("new")).unwrap(),
        "new\n"
    );
    assert!(!host.path().join("new2").exists());
    assert_no_mounts_left(&b);
}

#[test]
fn symlinks_in_the_image_cannot_redirect_mounts_to_the_host() {
    let rt = Runtime::new();
    let target = tempfile::Builder::new()
        .prefix("berth-rootfs-escape")
        .tempdir()
        .unwrap();
    let target2 = tempfile::Builder::new()
        .prefix("berth-rootfs-escape")
        .tempdir()
        .unwrap();
    let t = target.path().to_str().unwrap().to_string();
    let t2 = target2.path().to_str().unwrap().to_string();
    let mut b = Bundle::new(&[
        "sh",
        "-c",
        "echo a > /mnt/planted && echo b > /rel/planted && stat -f -c %T /mnt /rel",
    ]);
    // Absolute and relative symlinks pointing at the host directory.
    symlink(&t, b.rootfs().join("mnt")).unwrap();
    symlink(
        format!("../../../../../../../..{t2}"),
        b.rootfs().join("rel"),
    )
    .unwrap();
    b.edit(|s| {
        let m = s["mounts"].as_array_mut().unwrap();
        m.push(json!({"destination": "/mnt", "type": "tmpfs", "source": "tmpfs"}));
        m.push(json!({"destination": "/rel", "type": "tmpfs", "source": "tmpfs"}));
    });
    let out = run_ok(&rt, &b, "escape");
    assert_eq!(out, "tmpfs\ntmpfs\n");
    // The host directories saw nothing; the mount points were created inside the rootfs.
    for (host, path) in [(&target, &t), (&target2, &t2)] {
        assert!(fs::read_dir(host.path()).unwrap().next().is_none());
        assert!(!is_mount_point(host.path()));
        assert!(b.rootfs().join(path.trim_start_matches('/')).is_dir());
    }
    assert_no_mounts_left(&b);
}

#[test]
fn masked_paths_readonly_paths_and_readonly_root() {
    let rt = Runtime::new();
    let b = Bundle::new(&[
        "sh",
        "-c",
        "echo keys=$(wc -c < /proc/keys); echo timers=$(wc -c < /proc/timer_list); \
         echo fw=$(ls -A /sys/firmware | wc -l); \
         (echo x > /proc/sys/kernel/hostname) 2>&1; \
         touch /newfile 2>&1; touch /etc/newfile 2>&1; \
         echo ok > /dev/shm/w && echo shm-writable",
    ]);
    let out = run_ok(&rt, &b, "mask");
    assert!(out.contains("keys=0\n"), "{out}");
    assert!(out.contains("timers=0\n"), "{out}");
    assert!(out.contains("fw=0\n"), "{out}");
    assert!(
        out.contains("/proc/sys/kernel/hostname: Read-only file system"),
        "{out}"
    );
    assert!(out.contains("/newfile: Read-only file system"), "{out}");
    assert!(out.contains("/etc/newfile: Read-only file system"), "{out}");
    assert!(out.contains("shm-writable"), "{out}");
    // Outside: the host's files are intact and the rootfs got nothing.
    assert!(!fs::read_to_string("/proc/timer_list").unwrap().is_empty());
    assert!(!b.rootfs().join("newfile").exists());
    assert_no_mounts_left(&b);
}

#[test]
fn writable_root_when_not_readonly() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["sh", "-c", "echo data > /newfile && cat /newfile"]);
    b.edit(|s| s["root"]["readonly"] = json!(false));
    assert_eq!(run_ok(&rt, &b, "rw"), "data\n");
    assert_eq!(
        fs::read_to_string(b.rootfs().join("newfile")).unwrap(),
        "data\n"
    );
    assert_no_mounts_left(&b);
}

#[test]
fn default_and_spec_devices_and_dev_symlinks() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&[
        "sh",
        "-c",
        "for d in null zero full random urandom tty mydev; do \
           echo $d=$(stat -c '%F %t:%T %a %u:%g' /dev/$d); done; \
         for l in fd stdin stdout stderr ptmx; do echo $l=$(readlink /dev/$l); done; \
         test -e /dev/pts/ptmx && echo devpts; \
         head -c 4 /dev/zero | wc -c",
    ]);
    b.edit(|s| {
        s["linux"]["devices"] = json!([{"path": "/dev/mydev", "type": "c", "major": 1,
            "minor": 7, "fileMode": 0o640, "uid": 1000, "gid": 1001}]);
        // Let the container use it (the device cgroup denies everything else).
        s["linux"]["resources"]["devices"]
            .as_array_mut()
            .unwrap()
            .push(json!({"allow": true, "type": "c", "major": 1, "minor": 7, "access": "rwm"}));
    });
    let out = run_ok(&rt, &b, "dev");
    for want in [
        "null=character special file 1:3 666 0:0",
        "zero=character special file 1:5 666 0:0",
        "full=character special file 1:7 666 0:0",
        "random=character special file 1:8 666 0:0",
        "urandom=character special file 1:9 666 0:0",
        "tty=character special file 5:0 666 0:0",
        "mydev=character special file 1:7 640 1000:1001",
        "fd=/proc/self/fd",
        "stdin=/proc/self/fd/0",
        "stdout=/proc/self/fd/1",
        "stderr=/proc/self/fd/2",
        "ptmx=pts/ptmx",
        "devpts",
    ] {
        assert!(
            out.contains(&format!("{want}\n")),
            "missing {want:?} in:\n{out}"
        );
    }
    assert!(out.ends_with("4\n"), "{out}");
    // The nodes live in the container's /dev tmpfs, not in the image.
    assert!(!b.rootfs().join("dev/null").exists());
    assert_no_mounts_left(&b);
}

#[test]
fn no_pivot_chroots_into_the_rootfs() {
    let rt = Runtime::new();
    let b = Bundle::new(&[
        "sh",
        "-c",
        "cat /www/index.html; echo pid=$$; test -e /work && echo host-visible; \
         stat -c %F /dev/null",
    ]);
    let o = rt.run(&[
        "run",
        "--no-pivot",
        "--bundle",
        b.path().to_str().unwrap(),
        &unique_name("nopivot"),
    ]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out} {}", stderr(&o));
    assert_eq!(out, "hello\npid=1\ncharacter special file\n");
    assert_no_mounts_left(&b);
}

#[test]
fn mount_over_proc_files_is_refused_cleanly() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&["true"]);
    b.edit(|s| {
        s["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": "/proc/sys", "type": "tmpfs", "source": "tmpfs"}));
    });
    let id = unique_name("procmnt");
    let o = rt.run_bundle(&b, &id);
    assert_ne!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("/proc/sys"), "{}", stderr(&o));
    assert!(!rt.state_dir(&id).exists());
    assert_no_mounts_left(&b);
}

#[test]
fn cgroup_mount_shows_the_containers_own_cgroup() {
    let rt = Runtime::new();
    let b = Bundle::new(&[
        "sh",
        "-c",
        "cat /sys/fs/cgroup/memory/cgroup.procs | wc -l; \
         mkdir /sys/fs/cgroup/memory/x 2>&1; stat -f -c %T /sys/fs/cgroup",
    ]);
    let out = run_ok(&rt, &b, "cg");
    let n: usize = out.lines().next().unwrap().trim().parse().unwrap();
    // With a cgroup namespace the hierarchy's root is the container's cgroup: only its own
    // processes (sh, cat, wc) are there, not the host's.
    assert!((1..=3).contains(&n), "{out}");
    assert!(out.contains("Read-only file system"), "{out}");
    assert!(out.ends_with("tmpfs\n"), "{out}");
    assert_no_mounts_left(&b);
}

#[test]
fn user_namespace_binds_devices_and_keeps_locked_flags() {
    let rt = Runtime::new();
    let mut b = Bundle::new(&[
        "sh",
        "-c",
        "for d in null zero tty; do echo $d=$(stat -c '%F %t:%T' /dev/$d); done; \
         echo x > /dev/null && echo null-writable; \
         echo keys=$(wc -c < /proc/keys); \
         (echo x > /proc/sys/kernel/hostname) 2>&1; touch /newfile 2>&1; \
         test -f /sys/fs/cgroup/memory/memory.limit_in_bytes && echo cgroup-ok",
    ]);
    // The rootfs must be owned by the mapped root to be usable.
    let status = std::process::Command::new("chown")
        .args(["-R", "100000:100000"])
        .arg(b.rootfs())
        .status()
        .unwrap();
    assert!(status.success());
    b.edit(|s| {
        s["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        s["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        s["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    });
    let out = run_ok(&rt, &b, "userns");
    for want in [
        "null=character special file 1:3",
        "zero=character special file 1:5",
        "tty=character special file 5:0",
        "null-writable",
        "keys=0",
        "/proc/sys/kernel/hostname: Read-only file system",
        "/newfile: Read-only file system",
        "cgroup-ok",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    assert_no_mounts_left(&b);
}
