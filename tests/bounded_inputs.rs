//! Issue 12: every input bounded by construction. Each case crashed, hung or ran out of memory at 8816b73.

#![allow(clippy::unwrap_used)] // a test fails loudly where it unwraps

mod common;
use common::*;
use sha2::{Digest, Sha256};
use std::path::Path;

fn mkfifo(path: &Path) {
    let ok = std::process::Command::new("mkfifo").arg(path).status().unwrap();
    assert!(ok.success());
}

#[test]
fn fifos_and_devices_are_refused_at_once_naming_what_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("page.json");
    mkfifo(&fifo);
    let fifo = fifo.to_str().unwrap();
    for (args, expected) in [
        (vec!["verify", "--findings", fifo], "a FIFO"),
        (vec!["verify", "--findings", "/dev/zero"], "a device"),
        (
            vec![
                "verify",
                "--findings",
                "fixtures/demo/pass",
                "--api-report",
                "/dev/zero",
            ],
            "a device",
        ),
        (
            vec!["verify", "--findings", "fixtures/demo/pass", "--api-report", fifo],
            "a FIFO",
        ),
        (
            vec!["verify", "--findings", "fixtures/demo/pass", "--policy", fifo],
            "a FIFO",
        ),
        (
            vec!["verify", "--findings", "fixtures/demo/pass", "--signoffs", "/dev/zero"],
            "a device",
        ),
        (vec!["policy", "check", "--policy", "/dev/zero"], "a device"),
        (vec!["attest", "verify", "--key", "/dev/zero", fifo], "a device"),
    ] {
        let (code, out, err) = run(bbgate().args(&args).timeout(std::time::Duration::from_secs(20)));
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(err.contains(expected), "{args:?}: missing {expected:?} in {err}");
    }
    // Positive control: the same commands on regular files decide.
    let (code, _, err) = run(bbgate().args(["verify", "--findings", "fixtures/demo/pass", "--now", NOW_2026]));
    assert_eq!(code, 1, "{err}");
}

#[test]
fn a_file_larger_than_its_kind_can_be_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("huge.json");
    // Sparse: 65 MiB that take no disk.
    std::fs::File::create(&page).unwrap().set_len(65 << 20).unwrap();
    let (code, _, err) = run(bbgate().args(["verify", "--findings", page.to_str().unwrap()]));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("larger than 64 MiB, more than any findings page is"),
        "{err}"
    );
}

fn sha(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn put_blob(layout: &Path, bytes: &[u8]) -> String {
    let d = sha(bytes);
    std::fs::write(layout.join("blobs/sha256").join(d.trim_start_matches("sha256:")), bytes).unwrap();
    d
}

/// A hand-made OCI layout of one image (config + one layer), tagged `t`. Returns (dir, layer digest).
fn layout(dir: &Path) -> (std::path::PathBuf, String) {
    let l = dir.join("oci");
    std::fs::create_dir_all(l.join("blobs/sha256")).unwrap();
    std::fs::write(l.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let config = put_blob(
        &l,
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#,
    );
    let layer = put_blob(&l, b"not really a tar, never read");
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config}","size":1}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{layer}","size":1}}]}}"#
    );
    let m = put_blob(&l, manifest.as_bytes());
    std::fs::write(
        l.join("index.json"),
        format!(r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{m}","size":{},"annotations":{{"org.opencontainers.image.ref.name":"t"}}}}]}}"#, manifest.len()),
    )
    .unwrap();
    (l, layer)
}

fn push(source: &str) -> (i32, String, String) {
    run(bbgate()
        .args([
            "push",
            "--from",
            source,
            "--to",
            "127.0.0.1:9/bb/payments/adapter:1",
            "--plain-http",
        ])
        .timeout(std::time::Duration::from_secs(20)))
}

#[test]
fn a_layout_blob_linked_outside_the_layout_is_refused_before_it_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let (l, layer) = layout(dir.path());
    let blob = l.join("blobs/sha256").join(layer.trim_start_matches("sha256:"));
    std::fs::remove_file(&blob).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &blob).unwrap();
    let (code, out, err) = push(&format!("oci:{}:t", l.display()));
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("links outside the layout (to /dev/zero)"), "{err}");
}

#[test]
fn indexes_nested_without_end_are_refused_not_recursed() {
    let dir = tempfile::tempdir().unwrap();
    let (l, _) = layout(dir.path());
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(l.join("index.json")).unwrap()).unwrap();
    let mut child = index["manifests"][0]["digest"].as_str().unwrap().to_owned();
    let mut media = "application/vnd.oci.image.manifest.v1+json";
    for _ in 0..2_000 {
        let doc = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"{media}","digest":"{child}","size":1}}]}}"#
        );
        child = put_blob(&l, doc.as_bytes());
        media = "application/vnd.oci.image.index.v1+json";
    }
    std::fs::write(
        l.join("index.json"),
        format!(r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{media}","digest":"{child}","size":1,"annotations":{{"org.opencontainers.image.ref.name":"t"}}}}]}}"#),
    )
    .unwrap();
    let (code, out, err) = push(&format!("oci:{}:t", l.display()));
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("indexes nested more than 8 deep"), "{err}");
}

#[test]
fn a_tar_header_that_claims_exabytes_allocates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("image.tar");
    let mut header = tar::Header::new_gnu();
    header.set_path("manifest.json").unwrap();
    header.set_size(1 << 62);
    header.set_mode(0o644);
    header.set_cksum();
    let mut bytes = header.as_bytes().to_vec();
    bytes.extend_from_slice(&[b'x'; 1024]);
    std::fs::write(&archive, bytes).unwrap();
    let (code, out, err) = push(&format!("docker-archive:{}", archive.display()));
    assert_eq!(code, 2, "{out}{err}");
    // Read as far as the bytes go, then refused as input: no abort, no allocation of what the header claims.
    assert!(
        err.contains("image.tar") && err.starts_with("bbgate: invalid input"),
        "{err}"
    );
}
