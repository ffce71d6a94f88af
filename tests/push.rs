//! `bbgate push` against Debian's docker-registry (open and htpasswd), images built by umoci, read back by skopeo,
//! and the ECR auth path against the moto peer.

#![allow(clippy::unwrap_used)] // a test fails loudly where it unwraps

mod common;
use common::peer::{self, Moto};
use common::registry::{self, DroppingProxy, RacingTagProxy};
use common::*;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::path::Path;

fn push(from: &str, to: &str) -> assert_cmd::Command {
    let mut cmd = bbgate();
    cmd.env("DOCKER_CONFIG", "/nonexistent-bbgate-test")
        .args(["push", "--plain-http", "--from", from, "--to", to]);
    cmd
}

fn repo(name: &str) -> String {
    format!("bb/payments/{}", peer::unique(name))
}

#[test]
fn an_oci_layout_is_pushed_with_the_digest_the_registry_serves_and_a_second_push_uploads_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = registry::oci_layout(tmp.path(), &["1.0"], 300_000);
    let reference = format!("{}/{}:1.0", registry::open(), repo("oci"));
    let from = format!("oci:{}:1.0", layout.display());

    let (code, first) = run_json(&mut push(&from, &reference));
    assert_eq!(code, 0, "{first}");
    let digest = first["digest"].as_str().unwrap().to_owned();
    assert_eq!(
        digest,
        registry::skopeo_digest(&reference, None),
        "skopeo reads what bbgate reported"
    );
    assert_eq!(first["blobs_uploaded"], 2, "config and layer: {first}");
    assert_eq!(first["blobs_skipped"], 0);
    assert!(first["bytes_uploaded"].as_u64().unwrap() > 300_000, "{first}");
    assert!(first["reference"].as_str().unwrap().ends_with(&format!("@{digest}")));

    // Each blob is said as its upload ends: its digest, size and rate.
    let (_, _, err) = run(&mut push(
        &from,
        &format!("{}/{}:1.0", registry::open(), repo("oci-lines")),
    ));
    let uploaded: Vec<&str> = err.lines().filter(|l| l.contains(" uploaded in ")).collect();
    assert_eq!(uploaded.len(), 2, "{err}");
    assert!(
        uploaded
            .iter()
            .all(|l| l.starts_with("bbgate: blob sha256:") && l.ends_with("/s)")),
        "{err}"
    );

    let (code, second) = run_json(&mut push(&from, &reference));
    assert_eq!(code, 0, "{second}");
    assert_eq!(second["digest"], first["digest"]);
    assert_eq!(
        (second["blobs_uploaded"].as_u64(), second["blobs_skipped"].as_u64()),
        (Some(0), Some(2))
    );
    assert_eq!(second["bytes_uploaded"], 0);
}

#[test]
fn a_docker_archive_keeps_its_layer_bytes_and_pushes_to_the_same_digest_every_time() {
    // 200 kB: the layer is read into memory; 3 MB: it stays in the archive and is streamed from its place.
    for size in [200_000, 3_000_000] {
        docker_archive_round_trip(size);
    }
}

fn docker_archive_round_trip(size: usize) {
    let tmp = tempfile::tempdir().unwrap();
    let layout = registry::oci_layout(tmp.path(), &["2.0"], size);
    let archive = tmp.path().join("image.tar");
    registry::docker_archive(&layout, "2.0", &archive);
    let from = format!("docker-archive:{}", archive.display());
    let r = repo("archive");
    let (a, b) = (
        format!("{}/{r}:a", registry::open()),
        format!("{}/{r}:b", registry::open()),
    );

    let (code, first) = run_json(&mut push(&from, &a));
    assert_eq!(code, 0, "{first}");
    let (code, second) = run_json(&mut push(&from, &b));
    assert_eq!(code, 0, "{second}");
    assert_eq!(
        first["digest"], second["digest"],
        "a conversion that changes nothing is stable"
    );
    assert_eq!(second["blobs_uploaded"], 0);
    assert_eq!(first["digest"].as_str().unwrap(), registry::skopeo_digest(&a, None));

    // The layer pushed is the archive's layer.tar, byte for byte: its digest is the config's diff_id.
    let manifest: Value = serde_json::from_slice(&registry::skopeo_raw_bytes(&a)).unwrap();
    let layer = manifest["layers"][0]["digest"].as_str().unwrap();
    let config: Value = serde_json::from_str(
        &String::from_utf8(
            std::process::Command::new("skopeo")
                .args(["inspect", "--config", "--tls-verify=false", &format!("docker://{a}")])
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(config["rootfs"]["diff_ids"][0].as_str(), Some(layer));
}

#[test]
fn a_multi_platform_index_pushes_every_manifest_then_the_index() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = registry::oci_layout(tmp.path(), &["amd64", "arm64"], 50_000);
    // Build an index over the two images, as buildx would, and name it `multi`.
    let index_path = layout.join("index.json");
    let mut index: Value = serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    let children: Vec<Value> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let arch = d["annotations"]["org.opencontainers.image.ref.name"].as_str().unwrap();
            json!({"mediaType": d["mediaType"], "digest": d["digest"], "size": d["size"],
                   "platform": {"os": "linux", "architecture": arch}})
        })
        .collect();
    let body = serde_json::to_vec(&json!({"schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": children}))
    .unwrap();
    let hex = hex::encode(Sha256::digest(&body));
    std::fs::write(layout.join("blobs/sha256").join(&hex), &body).unwrap();
    index["manifests"].as_array_mut().unwrap().push(json!({
        "mediaType": "application/vnd.oci.image.index.v1+json", "digest": format!("sha256:{hex}"),
        "size": body.len(), "annotations": {"org.opencontainers.image.ref.name": "multi"}}));
    std::fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();

    let reference = format!("{}/{}:multi", registry::open(), repo("index"));
    let (code, out) = run_json(&mut push(&format!("oci:{}:multi", layout.display()), &reference));
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["digest"].as_str().unwrap(), format!("sha256:{hex}"));
    assert_eq!(out["manifests"], 3);
    assert_eq!(
        registry::skopeo_raw_bytes(&reference),
        body,
        "the index is served as pushed"
    );
    // Each child is there by digest.
    for child in index["manifests"].as_array().unwrap().iter().take(2) {
        let by_digest = reference.replace(":multi", &format!("@{}", child["digest"].as_str().unwrap()));
        assert_eq!(registry::skopeo_raw(&by_digest)["schemaVersion"], 2);
    }
}

#[test]
fn a_layout_with_several_images_and_no_tag_named_is_refused_with_the_tags() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = registry::oci_layout(tmp.path(), &["x1", "x2"], 1000);
    let (code, _, err) = run(&mut push(
        &format!("oci:{}", layout.display()),
        &format!("{}/{}:1", registry::open(), repo("many")),
    ));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("holds 2 images") && err.contains("x1, x2"), "{err}");
}

#[test]
fn a_repository_of_another_building_block_is_refused_before_any_upload() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = registry::oci_layout(tmp.path(), &["1"], 1000);
    let r = format!("bb/im/{}", peer::unique("foreign"));
    let mut cmd = push(
        &format!("oci:{}:1", layout.display()),
        &format!("{}/{r}:1", registry::open()),
    );
    cmd.args(["--building-block", "payments"]);
    let (code, _, err) = run(&mut cmd);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not one of building block payments"), "{err}");
    let tags = std::process::Command::new("skopeo")
        .args([
            "list-tags",
            "--tls-verify=false",
            &format!("docker://{}/{r}", registry::open()),
        ])
        .output()
        .unwrap();
    assert!(!tags.status.success(), "nothing was pushed to {r}");
}

#[test]
fn plain_http_is_refused_for_a_registry_off_loopback() {
    let (code, _, err) = run(&mut push("oci:/nonexistent:1", "registry.example.org/bb/payments/x:1"));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("only for test registries on 127.0.0.1"), "{err}");
}

fn docker_config(dir: &Path, host: &str, user: &str, password: &str) {
    use base64::Engine;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    std::fs::write(
        dir.join("config.json"),
        json!({"auths": {host: {"auth": auth}}}).to_string(),
    )
    .unwrap();
}

#[test]
fn the_docker_config_login_is_used_and_wrong_credentials_exit_3_without_the_password() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = registry::oci_layout(tmp.path(), &["1"], 20_000);
    let host = registry::with_auth();
    let reference = format!("{host}/{}:1", repo("auth"));
    let from = format!("oci:{}:1", layout.display());

    let wrong = "wrong-password-never-printed";
    docker_config(tmp.path(), &host, registry::USER, wrong);
    let mut cmd = push(&from, &reference);
    cmd.env("DOCKER_CONFIG", tmp.path());
    let (code, out, err) = run(&mut cmd);
    assert_eq!(code, 3, "{out}{err}");
    assert!(
        err.contains("refused the credentials") && err.contains(registry::USER),
        "{err}"
    );
    assert!(
        !out.contains(wrong) && !err.contains(wrong),
        "the password leaked: {out}{err}"
    );

    docker_config(tmp.path(), &host, registry::USER, registry::PASSWORD);
    let mut cmd = push(&from, &reference);
    cmd.env("DOCKER_CONFIG", tmp.path());
    let (code, out) = run_json(&mut cmd);
    assert_eq!(code, 0, "{out}");
    let creds = format!("{}:{}", registry::USER, registry::PASSWORD);
    assert_eq!(
        out["digest"].as_str().unwrap(),
        registry::skopeo_digest(&reference, Some(&creds))
    );
    assert!(!out.to_string().contains(registry::PASSWORD));
}

#[test]
fn a_connection_dropped_mid_upload_exits_3_and_the_rerun_completes() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = registry::oci_layout(tmp.path(), &["1"], 2_000_000);
    let proxy = DroppingProxy::start(registry::open(), 256 * 1024);
    let r = repo("drop");
    let from = format!("oci:{}:1", layout.display());

    let (code, out, err) = run(&mut push(&from, &format!("{}/{r}:1", proxy.address)));
    assert_eq!(code, 3, "{out}{err}");
    assert!(
        !proxy.armed.load(std::sync::atomic::Ordering::SeqCst),
        "the proxy cut a connection"
    );
    assert!(err.contains("uploading blob") && err.contains("Re-run"), "{err}");

    let (code, out) = run_json(&mut push(&from, &format!("{}/{r}:1", proxy.address)));
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out["digest"].as_str().unwrap(),
        registry::skopeo_digest(&format!("{}/{r}:1", registry::open()), None)
    );
}

#[test]
fn an_ecr_reference_gets_its_login_from_get_authorization_token() {
    let moto = Moto::get();
    let tmp = tempfile::tempdir().unwrap();
    let layout = registry::oci_layout(tmp.path(), &["1"], 20_000);
    let r = repo("ecr");
    let host = format!("{}.dkr.ecr.{}.amazonaws.com", peer::ACCOUNT, peer::REGION);
    // The htpasswd registry knows user AWS with the password moto's GetAuthorizationToken hands out; the ECR
    // host name is sent to it with --registry-url, as to a VPC endpoint alias.
    let mut cmd = peer::aws_command(&moto, None);
    cmd.env("DOCKER_CONFIG", "/nonexistent-bbgate-test").args([
        "push",
        "--from",
        &format!("oci:{}:1", layout.display()),
        "--to",
        &format!("{host}/{r}:1"),
        "--registry-url",
        &format!("http://{}", registry::with_auth()),
    ]);
    let (code, out) = run_json(&mut cmd);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["auth"], "ECR authorization token");
    let calls = moto.calls("");
    assert!(calls["calls"]["GetAuthorizationToken"].as_u64() >= Some(1), "{calls}");
    let via_registry = format!("{}/{r}:1", registry::with_auth());
    assert_eq!(
        out["digest"].as_str().unwrap(),
        registry::skopeo_digest(&via_registry, Some("AWS:123456789012-auth-token"))
    );

    // The same through CircleCI OIDC: the role is assumed first, and nothing STS issued is printed.
    let role = format!("arn:aws:iam::{}:role/{}", peer::ACCOUNT, peer::unique("push-oidc"));
    let mut cmd = peer::aws_command(&moto, Some(&peer::oidc_token(3600)));
    cmd.env("DOCKER_CONFIG", "/nonexistent-bbgate-test").args([
        "push",
        "--from",
        &format!("oci:{}:1", layout.display()),
        "--to",
        &format!("{host}/{r}:2"),
        "--registry-url",
        &format!("http://{}", registry::with_auth()),
        "--role-arn",
        &role,
    ]);
    let (code, stdout, stderr) = run(&mut cmd);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(moto.calls(&role)["calls"]["AssumeRoleWithWebIdentity"], 1);
    // The registry password ECR handed out (and its base64 form) is never printed.
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode("AWS:123456789012-auth-token");
    for text in [&stdout, &stderr] {
        assert!(
            !text.contains("123456789012-auth-token") && !text.contains(&b64),
            "{text}"
        );
    }
    for secret in moto.issued_secrets() {
        assert!(
            !stdout.contains(&secret) && !stderr.contains(&secret),
            "an STS secret leaked"
        );
    }
}

#[test]
fn verify_push_from_pushes_then_judges_exactly_the_pushed_digest() {
    let moto = Moto::get();
    let tmp = tempfile::tempdir().unwrap();
    let layout = registry::oci_layout(tmp.path(), &["1"], 20_000);
    let r = repo("pushverify");
    moto.create_repository(&r);
    moto.queue_scans(
        &r,
        vec![peer::scan_result(
            "COMPLETE",
            peer::low_basic_findings(3),
            vec![],
            json!({"MEDIUM": 3}),
        )],
    );
    let evidence = tmp.path().join("evidence.json");
    let mut cmd = peer::verify_online(&moto, None);
    cmd.env("DOCKER_CONFIG", "/nonexistent-bbgate-test").args([
        "--image",
        &format!("{r}:1"),
        "--push-from",
        &format!("oci:{}:1", layout.display()),
        "--registry-url",
        &format!("http://{}", registry::with_auth()),
        "--evidence",
        evidence.to_str().unwrap(),
    ]);
    let (code, out) = run_json(&mut cmd);
    assert_eq!(code, 0, "{out}");
    let pushed = out["images"][0]["acquisition"]["push"]["digest"]
        .as_str()
        .expect("the push is reported")
        .to_owned();
    let served = registry::skopeo_digest(
        &format!("{}/{r}:1", registry::with_auth()),
        Some("AWS:123456789012-auth-token"),
    );
    assert_eq!(pushed, served);
    let ev: Value = serde_json::from_slice(&std::fs::read(&evidence).unwrap()).unwrap();
    assert_eq!(
        ev["body"]["images"][0]["digest"].as_str(),
        Some(pushed.as_str()),
        "{ev}"
    );
    // The push happened: no BatchGetImage tag lookup was needed to learn the digest.
    assert!(
        moto.calls(&r)["calls"].get("BatchGetImage").is_none(),
        "{}",
        moto.calls(&r)
    );
}

#[test]
fn a_tag_that_reads_back_as_another_digest_exits_3_and_names_both() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = registry::oci_layout(tmp.path(), &["1"], 50_000);
    let proxy = RacingTagProxy::start(registry::open(), "raced");
    let r = repo("race");
    let from = format!("oci:{}:1", layout.display());
    let to = format!("{}/{r}:raced", proxy.address);

    let (code, out, err) = run(&mut push(&from, &to));
    assert_eq!(code, 3, "{out}{err}");
    assert!(
        proxy.rewrites.load(std::sync::atomic::Ordering::SeqCst) >= 1,
        "the proxy answered with another digest"
    );
    let pushed = registry::skopeo_digest(&format!("{}/{r}:raced", registry::open()), None);
    assert!(
        err.contains(&format!(
            "registry {} holds {} under raced, not the pushed {pushed}: another push raced this one",
            proxy.address,
            registry::RACED_DIGEST
        )),
        "{err}"
    );
    assert!(
        out.trim().is_empty(),
        "no report of a push that cannot be trusted: {out}"
    );

    // The control: the same proxy, disarmed, passes the real answer through and the push succeeds.
    proxy.armed.store(false, std::sync::atomic::Ordering::SeqCst);
    let (code, out) = run_json(&mut push(&from, &to));
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["digest"].as_str(), Some(pushed.as_str()));
}

#[test]
fn on_a_terminal_push_draws_progress_and_in_a_log_it_writes_plain_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = registry::oci_layout(tmp.path(), &["1.0"], 20_000_000);
    let from = format!("oci:{}:1.0", layout.display());
    // A log: one plain line per blob, no terminal escapes.
    let (code, _, err) = run(&mut push(&from, &format!("{}/{}:1.0", registry::open(), repo("log"))));
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains('\u{1b}'), "{err:?}");
    assert_eq!(err.lines().filter(|l| l.contains(" uploaded in ")).count(), 2, "{err}");
    // A terminal (util-linux `script`): the same lines, printed above the bars, and the bars' redraws.
    let line = format!(
        "DOCKER_CONFIG=/nonexistent-bbgate-test {} push --plain-http --from {from} --to {}/{}:1.0",
        env!("CARGO_BIN_EXE_bbgate"),
        registry::open(),
        repo("tty")
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert_eq!(text.matches(" uploaded in ").count(), 2, "{text:?}");
    assert!(
        text.contains("[==============================] ") && text.contains(" MiB/s") && text.contains('\u{1b}'),
        "the bar is drawn to the end and cleared with terminal escapes: {text:?}"
    );
}

#[test]
fn the_container_image_is_built_without_docker_pushed_by_bbgate_and_read_back_by_skopeo() {
    // scripts/image with stand-ins for the release binary and helm (the real ones are 33 and 60 MB) and no Debian
    // base (that is a download): the layout it writes, the tools layer's files, and bbgate pushing it.
    let tmp = tempfile::tempdir().unwrap();
    let stand_in = |name: &str, body: &str| {
        use std::os::unix::fs::PermissionsExt;
        let p = tmp.path().join(name);
        std::fs::write(&p, body).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    };
    let binary = stand_in("bbgate-stand-in", "#!/bin/sh\necho bbgate stand-in\n");
    let helm = stand_in("helm-stand-in", "#!/bin/sh\nprintf v3.18.0\n");
    let reference = format!("{}/{}:{}", registry::open(), repo("image"), env!("CARGO_PKG_VERSION"));
    let build = |out: &Path, push: bool| {
        let mut cmd = std::process::Command::new("scripts/image");
        cmd.arg("--binary")
            .arg(&binary)
            .arg("--helm")
            .arg(&helm)
            .args(["--base", "none", "--out"])
            .arg(out)
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .env("DOCKER_CONFIG", "/nonexistent-bbgate-test");
        if push {
            cmd.arg("--push-with").arg(env!("CARGO_BIN_EXE_bbgate")).args([
                "--push",
                &reference,
                "--plain-http",
                "--format",
                "json",
            ]);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let first = tmp.path().join("image-a");
    let pushed: Value = serde_json::from_str(build(&first, true).trim()).unwrap();
    let index: Value = serde_json::from_slice(&std::fs::read(first.join("index.json")).unwrap()).unwrap();
    let digest = index["manifests"][0]["digest"].as_str().unwrap().to_owned();
    assert_eq!(
        index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(pushed["digest"], digest.as_str(), "bbgate pushed the layout's manifest");
    assert_eq!(
        registry::skopeo_digest(&reference, None),
        digest,
        "skopeo reads the same image"
    );

    // The config: labels naming the version and the helm inside, and the layer's files as the script put them.
    let blob = |d: &str| first.join("blobs/sha256").join(d.trim_start_matches("sha256:"));
    let manifest: Value = serde_json::from_slice(&std::fs::read(blob(&digest)).unwrap()).unwrap();
    let config: Value =
        serde_json::from_slice(&std::fs::read(blob(manifest["config"]["digest"].as_str().unwrap())).unwrap()).unwrap();
    assert_eq!(
        config["config"]["Labels"]["org.opencontainers.image.version"],
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(
        config["config"]["Labels"]["global.govstack.bbgate.helm-version"],
        "v3.18.0"
    );
    assert_eq!(manifest["layers"].as_array().unwrap().len(), 1);
    let layer = blob(manifest["layers"][0]["digest"].as_str().unwrap());
    let listing = std::process::Command::new("tar")
        .arg("-tzvf")
        .arg(&layer)
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout);
    for file in ["usr/local/bin/bbgate", "usr/local/bin/helm"] {
        let line = listing
            .lines()
            .find(|l| l.ends_with(file))
            .unwrap_or_else(|| panic!("{file} in {listing}"));
        assert!(line.starts_with("-rwxr-xr-x 0/0 "), "root-owned, executable: {line}");
    }
    let content = std::process::Command::new("tar")
        .arg("-xzOf")
        .arg(&layer)
        .arg("usr/local/bin/bbgate")
        .output()
        .unwrap()
        .stdout;
    assert_eq!(content, std::fs::read(&binary).unwrap());

    // Reproducible: the same inputs at the same SOURCE_DATE_EPOCH give the same image digest.
    let second = tmp.path().join("image-b");
    build(&second, false);
    let again: Value = serde_json::from_slice(&std::fs::read(second.join("index.json")).unwrap()).unwrap();
    assert_eq!(again["manifests"][0]["digest"], digest.as_str());
}
