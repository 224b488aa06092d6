//! Pull and push against Debian's `docker-registry` on random loopback ports: open, htpasswd
//! basic auth and token auth; manifest lists; corrupted blobs; kill -9 mid-pull; concurrent
//! pulls. Runs as root (the layer store unpacks with real ownership and whiteouts).

mod common;

use common::*;
use image::ImageStore;
use registry::manifest::{self, Parsed};
use registry::{Client, Progress, PullOptions, PushOptions, RegistryOptions};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

struct Env {
    root: tempfile::TempDir,
    store: ImageStore,
    ro: RegistryOptions,
}

fn env() -> Env {
    testutil::require_root();
    let root = tempfile::tempdir().unwrap();
    let store = ImageStore::open(root.path(), None).unwrap();
    // A private credentials file: never the user's ~/.docker/config.json.
    let ro = RegistryOptions {
        insecure_registries: vec![],
        docker_config: Some(root.path().join("docker-config/config.json")),
    };
    Env { root, store, ro }
}

fn push(e: &Env, r: &str) -> (registry::PushResult, String) {
    let out = Captured::default();
    let opts = PushOptions {
        reference: r.into(),
        registry: e.ro.clone(),
        // Small chunks: the 300 kB layer goes up as PATCH chunks, the others in one PUT.
        chunk_size: 128 << 10,
        ..Default::default()
    };
    let res = registry::push(&e.store, &opts, &out.progress()).unwrap();
    (res, out.text())
}

fn pull(e: &Env, r: &str) -> registry::Result<(registry::PullResult, String)> {
    pull_platform(e, r, None)
}

fn pull_platform(
    e: &Env,
    r: &str,
    platform: Option<&str>,
) -> registry::Result<(registry::PullResult, String)> {
    let out = Captured::default();
    let opts = PullOptions {
        reference: r.into(),
        platform: platform.map(str::to_string),
        registry: e.ro.clone(),
        ..Default::default()
    };
    let mut res = registry::pull(&e.store, &opts, &out.progress())?;
    assert_eq!(res.len(), 1);
    Ok((res.remove(0), out.text()))
}

fn rmi(e: &Env, r: &str) {
    e.store.remove(r, false, &|_| false).unwrap();
    assert!(e.store.resolve(r).is_err());
}

/// Push, rmi (every layer gone), pull: same image ID, same files.
fn round_trip(e: &Env, r: &str) {
    let id = build_image(&e.store, r, &test_layers(300_000), "amd64");
    let files = image_files(&e.store, &id);
    let (pushed, text) = push(e, r);
    assert!(
        text.contains(&format!(
            "v1: digest: {} size: {}",
            pushed.digest, pushed.size
        )),
        "{text}"
    );
    assert_eq!(text.matches(": Pushed").count(), 3, "{text}");
    rmi(e, r);
    assert!(e.store.layers().layers().unwrap().is_empty());
    let (res, text) = pull(e, r).unwrap();
    assert_eq!(res.image_id, id);
    assert_eq!(res.digest, pushed.digest);
    assert!(res.downloaded);
    assert_eq!(image_files(&e.store, &id), files);
    assert_eq!(text.matches(": Pull complete").count(), 3, "{text}");
    assert!(
        text.contains(&format!("Digest: {}", pushed.digest)),
        "{text}"
    );
    assert!(
        text.contains(&format!("Status: Downloaded newer image for {r}")),
        "{text}"
    );
    assert_eq!(e.store.resolve(r).unwrap(), id);
}

#[test]
fn open_registry_push_pull_mount_and_errors() {
    let reg = Registry::start(Auth::Open);
    let e = env();
    let r = format!("{}/test/img:v1", reg.host);
    round_trip(&e, &r);
    let id = e.store.resolve(&r).unwrap();

    // Again: nothing to upload, nothing to download.
    let (_, text) = push(&e, &r);
    assert_eq!(text.matches(": Layer already exists").count(), 3, "{text}");
    let (res, text) = pull(&e, &r).unwrap();
    assert!(!res.downloaded);
    assert_eq!(text.matches(": Already exists").count(), 3, "{text}");
    assert!(
        text.contains(&format!("Status: Image is up to date for {r}")),
        "{text}"
    );

    // Another repository of the same registry: layers are mounted, not uploaded.
    let other = format!("{}/test/other:v1", reg.host);
    e.store
        .tag(&id, &image::Reference::parse(&other).unwrap())
        .unwrap();
    let (_, text) = push(&e, &other);
    assert_eq!(text.matches(": Mounted from test/img").count(), 3, "{text}");
    let out = Captured::default();
    let opts = PushOptions {
        reference: other.clone(),
        registry: e.ro.clone(),
        ..Default::default()
    };
    registry::push(
        &e.store,
        &opts,
        &Progress::new(Box::new(out.clone()), false, true),
    )
    .unwrap();
    assert_eq!(out.text(), format!("{other}\n"));

    // By digest, quietly: only the reference is printed.
    let out = Captured::default();
    let by_digest = format!("{}/test/other@{}", reg.host, res.digest);
    rmi(&e, &other);
    let pulled = registry::pull(
        &e.store,
        &PullOptions {
            reference: by_digest.clone(),
            registry: e.ro.clone(),
            ..Default::default()
        },
        &Progress::new(Box::new(out.clone()), false, true),
    )
    .unwrap();
    assert_eq!(pulled[0].image_id, id);
    assert_eq!(out.text(), format!("{by_digest}\n"));

    let err = pull(&e, &format!("{}/test/img:nope", reg.host))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!(
            "manifest for {}/test/img:nope not found",
            reg.host
        )),
        "{err}"
    );
    let err = pull(&e, &format!("{}/test/nothing", reg.host))
        .unwrap_err()
        .to_string();
    assert!(err.contains("not found"), "{err}");
}

#[test]
fn basic_auth_login_push_pull_logout() {
    let reg = Registry::start(Auth::Htpasswd);
    let e = env();
    let r = format!("{}/test/img:v1", reg.host);
    let err = pull(&e, &format!("{}/test/img:v1", reg.host))
        .unwrap_err()
        .to_string();
    assert!(err.contains("pull access denied"), "{err}");

    let mut login = registry::LoginOptions {
        server: Some(reg.host.clone()),
        username: USER.into(),
        password: "wrong".into(),
        registry: e.ro.clone(),
    };
    let err = registry::login(&login).unwrap_err().to_string();
    assert!(err.contains("incorrect username or password"), "{err}");
    assert!(!e.ro.config_path().exists());
    login.password = PASSWORD.into();
    assert_eq!(registry::login(&login).unwrap(), "Login Succeeded");
    assert_eq!(
        registry::auth::lookup(&e.ro.config_path(), &reg.host).unwrap(),
        Some((USER.to_string(), PASSWORD.to_string()))
    );

    round_trip(&e, &r);

    let msg = registry::logout(Some(&reg.host), &e.ro).unwrap();
    assert_eq!(msg, format!("Removing login credentials for {}", reg.host));
    rmi(&e, &r);
    assert!(pull(&e, &r).is_err());
}

#[test]
fn token_auth_login_push_pull() {
    let ts = TokenServer::start();
    let reg = Registry::start(Auth::Token {
        realm: ts.realm.clone(),
        cert: ts.cert.clone(),
    });
    let e = env();
    let r = format!("{}/test/img:v1", reg.host);
    let err = pull(&e, &r).unwrap_err().to_string();
    assert!(err.contains("authentication required"), "{err}");

    registry::login(&registry::LoginOptions {
        server: Some(reg.host.clone()),
        username: USER.into(),
        password: PASSWORD.into(),
        registry: e.ro.clone(),
    })
    .unwrap();
    round_trip(&e, &r);

    let reqs = ts.requests.lock().unwrap().clone();
    assert!(
        reqs.iter().all(|q| q.contains("service=test-registry")),
        "{reqs:?}"
    );
    // One token per scope and operation, shared by the parallel layer transfers.
    let push_scope = "scope=repository%3Atest%2Fimg%3Apull%2Cpush";
    assert_eq!(
        reqs.iter().filter(|q| q.contains(push_scope)).count(),
        1,
        "{reqs:?}"
    );
    let pull_scope = "scope=repository%3Atest%2Fimg%3Apull&";
    assert_eq!(
        reqs.iter().filter(|q| q.contains(pull_scope)).count(),
        1,
        "{reqs:?}"
    );
}

#[test]
fn manifest_list_selects_the_platform() {
    let reg = Registry::start(Auth::Open);
    let e = env();
    let amd = format!("{}/test/multi:amd64", reg.host);
    let arm = format!("{}/test/multi:arm64", reg.host);
    let amd_id = build_image(&e.store, &amd, &test_layers(1000), "amd64");
    let arm_id = build_image(
        &e.store,
        &arm,
        &[make_tar(&[("arch.txt", b"arm64\n".to_vec())])],
        "arm64",
    );
    let (amd_push, _) = push(&e, &amd);
    let (arm_push, _) = push(&e, &arm);
    let entry = |d: &registry::PushResult, arch: &str, variant: Option<&str>| {
        let mut x = manifest::Descriptor::new(manifest::DOCKER_MANIFEST, d.size as u64, &d.digest);
        x.platform = Some(manifest::PlatformDesc {
            architecture: arch.into(),
            os: "linux".into(),
            variant: variant.map(str::to_string),
            os_version: None,
        });
        x
    };
    // arm64 first: the amd64 pick is not just "the first entry".
    let list = manifest::Index {
        schema_version: 2,
        media_type: Some(manifest::DOCKER_LIST.into()),
        manifests: vec![
            entry(&arm_push, "arm64", Some("v8")),
            entry(&amd_push, "amd64", None),
        ],
    };
    let body = serde_json::to_vec(&list).unwrap();
    let client = Client::connect(&reg.host, None, &e.ro).unwrap();
    let list_digest = client
        .put_manifest("test/multi", "latest", manifest::DOCKER_LIST, &body)
        .unwrap();
    rmi(&e, &amd);
    rmi(&e, &arm);

    let r = format!("{}/test/multi:latest", reg.host);
    let (res, text) = pull_platform(&e, &r, Some("linux/amd64")).unwrap();
    assert_eq!(res.image_id, amd_id);
    assert_eq!(res.digest, list_digest);
    assert!(text.contains(&format!("Digest: {list_digest}")), "{text}");
    let (res, _) = pull_platform(&e, &r, Some("linux/arm64")).unwrap();
    assert_eq!(res.image_id, arm_id);
    let err = pull_platform(&e, &r, Some("linux/s390x"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no matching manifest for linux/s390x"),
        "{err}"
    );
    // The default is the host's platform.
    if image::import::host_architecture() == "amd64" {
        let (res, _) = pull(&e, &r).unwrap();
        assert_eq!(res.image_id, amd_id);
    }
}

#[test]
fn corrupted_blob_is_rejected_and_nothing_is_stored() {
    let reg = Registry::start(Auth::Open);
    let e = env();
    let r = format!("{}/test/img:v1", reg.host);
    build_image(&e.store, &r, &test_layers(500_000), "amd64");
    push(&e, &r);
    rmi(&e, &r);
    let client = Client::connect(&reg.host, None, &e.ro).unwrap();
    let (body, ct, _) = client.get_manifest("test/img", "v1").unwrap();
    let Parsed::Manifest(m) = manifest::parse(ct.as_deref(), &body).unwrap() else {
        panic!("not a manifest")
    };
    let big = &m.layers[2].digest;
    let path = reg.blob_path(big);
    let mut data = std::fs::read(&path).unwrap();
    let mid = data.len() / 2;
    for b in &mut data[mid..mid + 64] {
        *b ^= 0x5a;
    }
    std::fs::write(&path, &data).unwrap();

    let err = pull(&e, &r).unwrap_err().to_string();
    assert!(
        err.contains(&format!(
            "filesystem layer verification failed for digest {big}"
        )) && err.contains("digest mismatch"),
        "{err}"
    );
    assert!(e.store.resolve(&r).is_err());
    assert!(
        e.store.layers().layers().unwrap().is_empty(),
        "layers left after a failed pull"
    );
    let leftovers: Vec<_> = std::fs::read_dir(e.store.base().join("tmp"))
        .unwrap()
        .map(|d| d.unwrap().file_name())
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn concurrent_pulls_of_one_image() {
    let reg = Registry::start(Auth::Open);
    let src = env();
    let r = format!("{}/test/img:v1", reg.host);
    let id = build_image(&src.store, &r, &test_layers(2_000_000), "amd64");
    let files = image_files(&src.store, &id);
    push(&src, &r);

    let e = env();
    let root = e.root.path().to_path_buf();
    std::thread::scope(|s| {
        let hs: Vec<_> = (0..2)
            .map(|_| {
                let (root, r, ro) = (root.clone(), r.clone(), e.ro.clone());
                s.spawn(move || {
                    let store = ImageStore::open(&root, None).unwrap();
                    let opts = PullOptions {
                        reference: r,
                        registry: ro,
                        ..Default::default()
                    };
                    registry::pull(&store, &opts, &Progress::silent()).unwrap()[0]
                        .image_id
                        .clone()
                })
            })
            .collect();
        for h in hs {
            assert_eq!(h.join().unwrap(), id);
        }
    });
    assert_eq!(image_files(&e.store, &id), files);
    // Reference counts add up: removing the image removes every layer.
    rmi(&e, &r);
    assert!(e.store.layers().layers().unwrap().is_empty());
}

const CHILD_ROOT: &str = "BERTH_REGISTRY_TEST_CHILD_ROOT";
const CHILD_REF: &str = "BERTH_REGISTRY_TEST_CHILD_REF";

/// Not a test: the process `kill_during_pull_then_repull` starts and kills.
#[test]
#[ignore = "helper process for kill_during_pull_then_repull"]
fn child_pull_helper() {
    let root = PathBuf::from(std::env::var(CHILD_ROOT).expect("run by the kill test"));
    let store = ImageStore::open(&root, None).unwrap();
    let opts = PullOptions {
        reference: std::env::var(CHILD_REF).unwrap(),
        registry: RegistryOptions {
            insecure_registries: vec![],
            docker_config: Some(root.join("no-credentials.json")),
        },
        ..Default::default()
    };
    registry::pull(&store, &opts, &Progress::silent()).unwrap();
}

#[test]
fn kill_during_pull_then_repull() {
    let reg = Registry::start(Auth::Open);
    let src = env();
    let id = build_image(
        &src.store,
        &format!("{}/test/img:v1", reg.host),
        &test_layers(4_000_000),
        "amd64",
    );
    let files = image_files(&src.store, &id);
    push(&src, &format!("{}/test/img:v1", reg.host));
    let chains = image::config::chain_ids(src.store.get(&id).unwrap().config.diff_ids());

    // The child pulls through a proxy that stalls after 1 MB: it is surely mid-pull when
    // killed, with no timing involved.
    let proxy = StallingProxy::start(&reg.host, 1_000_000);
    let r = format!("{}/test/img:v1", proxy.host);
    let e = env();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "child_pull_helper",
            "--exact",
            "--ignored",
            "--test-threads=1",
        ])
        .env(CHILD_ROOT, e.root.path())
        .env(CHILD_REF, &r)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stalled = proxy.stalled.recv_timeout(Duration::from_secs(300));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    stalled.expect("the child's pull never reached the stall point");
    proxy.release();

    // Nothing half-done is visible: no image, only complete layers of this image.
    let store = ImageStore::open(e.root.path(), None).unwrap();
    assert!(store.resolve(&r).is_err());
    for l in store.layers().layers().unwrap() {
        assert!(chains.contains(&l.chain_id), "unexpected layer {l:?}");
    }
    let e = Env { store, ..e };
    let (res, _) = pull(&e, &r).unwrap();
    assert_eq!(res.image_id, id);
    assert_eq!(image_files(&e.store, &id), files);
}

/// Interop with a third-party client: skopeo reads what berth pushed (verifying every blob)
/// and re-pushes it as an OCI manifest with zstd layers, which berth pulls.
#[test]
fn skopeo_reads_our_push_and_we_pull_its_oci_zstd_push() {
    let reg = Registry::start(Auth::Open);
    let e = env();
    let r = format!("{}/test/img:v1", reg.host);
    let id = build_image(&e.store, &r, &test_layers(300_000), "amd64");
    let files = image_files(&e.store, &id);
    let diff_ids = e.store.get(&id).unwrap().config.diff_ids().to_vec();
    push(&e, &r);
    let out = Command::new("skopeo")
        .args(["--insecure-policy", "copy", "--quiet"])
        .args(["--src-tls-verify=false", "--dest-tls-verify=false"])
        .args(["--format", "oci", "--dest-compress-format", "zstd"])
        .arg(format!("docker://{r}"))
        .arg(format!("docker://{}/test/oci:v1", reg.host))
        .output()
        .expect("skopeo (apt-get install skopeo)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let client = Client::connect(&reg.host, None, &e.ro).unwrap();
    let (body, ct, _) = client.get_manifest("test/oci", "v1").unwrap();
    assert_eq!(ct.as_deref(), Some(manifest::OCI_MANIFEST));
    let Parsed::Manifest(m) = manifest::parse(ct.as_deref(), &body).unwrap() else {
        panic!("not a manifest")
    };
    assert!(
        m.layers
            .iter()
            .all(|l| l.media_type == manifest::OCI_LAYER_ZSTD),
        "{m:?}"
    );

    rmi(&e, &r);
    assert!(e.store.layers().layers().unwrap().is_empty());
    let oci = format!("{}/test/oci:v1", reg.host);
    let (res, _) = pull(&e, &oci).unwrap();
    // Same uncompressed layers whatever the compression.
    let img = e.store.get(&res.image_id).unwrap();
    assert_eq!(img.config.diff_ids(), &diff_ids[..]);
    assert_eq!(image_files(&e.store, &res.image_id), files);
}

/// A connection dropped in the middle of a blob: the download resumes with a Range request.
#[test]
fn broken_download_resumes_with_range() {
    let reg = Registry::start(Auth::Open);
    let src = env();
    let r = format!("{}/test/img:v1", reg.host);
    let id = build_image(
        &src.store,
        &r,
        &[make_tar(&[("big.bin", noise(9, 3_000_000))])],
        "amd64",
    );
    let files = image_files(&src.store, &id);
    push(&src, &r);
    let proxy = CuttingProxy::start(&reg.host, 1_000_000);
    let e = env();
    let (res, _) = pull(&e, &format!("{}/test/img:v1", proxy.host)).unwrap();
    assert!(proxy.cut.load(std::sync::atomic::Ordering::SeqCst));
    assert!(proxy.saw_range.load(std::sync::atomic::Ordering::SeqCst));
    assert_eq!(res.image_id, id);
    assert_eq!(image_files(&e.store, &id), files);
}

/// Pulled under two names (so each has a tag and a digest reference), then `rmi` by tag: with
/// a repository's last tag goes its digest reference (Docker's rule), so removing the other
/// name's tag deletes the image instead of leaving it held by a stale `repo@sha256:...`.
#[test]
fn rmi_of_a_repository_last_tag_drops_its_digest_references() {
    let reg = Registry::start(Auth::Open);
    let e = env();
    let a = format!("{}/test/img:v1", reg.host);
    let b = a.replacen("127.0.0.1", "localhost", 1);
    assert_ne!(a, b, "the registry listens on 127.0.0.1");
    let id = build_image(&e.store, &a, &test_layers(1000), "amd64");
    push(&e, &a);
    rmi(&e, &a);
    let (pa, _) = pull(&e, &a).unwrap();
    let (pb, _) = pull(&e, &b).unwrap();
    assert_eq!(
        (pa.image_id.as_str(), pb.image_id.as_str()),
        (id.as_str(), id.as_str())
    );
    let digest_b = format!("{}@{}", b.trim_end_matches(":v1"), pb.digest);
    let img = e.store.get(&id).unwrap();
    assert_eq!((img.tags.len(), img.digests.len()), (2, 2));

    let out = e.store.remove(&b, false, &|_| false).unwrap();
    let untagged: Vec<String> = out
        .iter()
        .filter_map(|d| match d {
            image::DeleteItem::Untagged(r) => Some(r.clone()),
            image::DeleteItem::Deleted(_) => None,
        })
        .collect();
    assert_eq!(untagged, vec![b.clone(), digest_b.clone()]);
    assert!(e.store.resolve(&digest_b).is_err());
    let img = e.store.get(&id).unwrap();
    assert_eq!((img.tags.len(), img.digests.len()), (1, 1), "{a} stays");

    let out = e.store.remove(&a, false, &|_| false).unwrap();
    assert!(out
        .iter()
        .any(|d| matches!(d, image::DeleteItem::Deleted(x) if *x == id)));
    assert!(e.store.get(&id).is_err());
    assert!(e.store.layers().layers().unwrap().is_empty());
}
