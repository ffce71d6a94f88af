//! `bbgate verify --image` against the moto peer (STS and ECR over the wire), started by scripts/test.

#![allow(clippy::unwrap_used)] // a test fails loudly where it unwraps

mod common;
use common::peer::*;
use common::*;
use serde_json::{Value, json};

fn role(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:role/{}", unique(name))
}

/// A repository with one image tagged `v1`; returns (repository, digest).
fn seeded(moto: &Moto, name: &str) -> (String, String) {
    let repo = format!("bb/payments/{}", unique(name));
    moto.create_repository(&repo);
    let digest = moto.put_image(&repo, "v1", &Moto::image_manifest(&repo));
    (repo, digest)
}

/// A seeded image whose scan is COMPLETE with `n` findings below the sign-off band (a passing scan).
fn seeded_passing(moto: &Moto, name: &str, n: usize) -> String {
    let (repo, _) = seeded(moto, name);
    moto.queue_scans(
        &repo,
        vec![scan_result(
            "COMPLETE",
            low_basic_findings(n),
            vec![],
            json!({"MEDIUM": n}),
        )],
    );
    repo
}

fn enhanced_edge_cases() -> (Vec<Value>, Value) {
    let f = fixture_findings("fixtures/ecr/enhanced-edge-cases.json", "enhancedFindings");
    (
        f,
        json!({"CRITICAL": 0, "HIGH": 3, "MEDIUM": 3, "LOW": 1, "UNTRIAGED": 1}),
    )
}

#[test]
fn oidc_token_to_sts_to_ecr_with_the_assumed_credentials() {
    let moto = Moto::get();
    let (repo, digest) = seeded(&moto, "oidc-pass");
    moto.queue_scans(
        &repo,
        vec![scan_result(
            "COMPLETE",
            low_basic_findings(3),
            vec![],
            json!({"MEDIUM": 3}),
        )],
    );
    let token = oidc_token(3000);
    let role = role("oidc-pass");
    let dir = tempfile::tempdir().unwrap();
    let evidence = dir.path().join("evidence.json");
    let (code, out, err) = run(verify_online(&moto, Some(&token))
        .args([
            "--image",
            &format!("{repo}:v1"),
            "--role-arn",
            &role,
            "--format",
            "json",
            // Every call said on stderr: the secrets below must stay out of that too.
            "-v",
        ])
        .env("CIRCLE_PROJECT_REPONAME", "sandbox-bb-payments")
        .env("CIRCLE_BUILD_NUM", "42")
        .arg("--evidence")
        .arg(&evidence));
    assert_eq!(code, 0, "{out}\n{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["verdict"], "pass");
    assert_eq!(v["images"][0]["digest"], digest);
    assert_eq!(v["images"][0]["tag"], "v1");
    assert_eq!(
        v["images"][0]["registry"],
        format!("{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com")
    );
    let a = &v["images"][0]["acquisition"];
    assert_eq!(a["identity"]["method"], "circleci-oidc");
    assert_eq!(a["identity"]["session_name"], "bbgate-sandbox-bb-payments-42");
    assert_eq!(
        a["identity"]["assumed_role"],
        format!(
            "arn:aws:sts::{ACCOUNT}:assumed-role/{}/bbgate-sandbox-bb-payments-42",
            unique("oidc-pass")
        )
    );
    assert_eq!(a["calls"]["AssumeRoleWithWebIdentity"], 1);
    // The ECR calls were signed with the key STS issued (ASIA…), not with anything from the environment.
    let keys = moto.calls(&repo)["access_keys"].clone();
    let used: Vec<&str> = keys
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .filter(|k| *k != "AKIDSEED")
        .collect();
    assert!(!used.is_empty() && used.iter().all(|k| k.starts_with("ASIA")), "{keys}");
    assert!(
        err.contains("OIDC token: org (aud) org-uuid-1, project-id proj-uuid-1"),
        "{err}"
    );
    // `-v` says each call: the service and operation, method, host and path, status and time.
    let said: Vec<&str> = err.lines().filter(|l| l.starts_with("bbgate[aws]: ")).collect();
    assert!(
        said.iter()
            .any(|l| l.contains("AssumeRoleWithWebIdentity: POST http://127.0.0.1:") && l.contains("-> 200 in ")),
        "{err}"
    );
    assert!(
        said.iter()
            .any(|l| l.contains("DescribeImageScanFindings: POST http://127.0.0.1:")),
        "{err}"
    );
    // Neither the token nor anything STS issued reaches any output.
    let evidence_text = std::fs::read_to_string(&evidence).unwrap();
    let secrets = moto.issued_secrets();
    assert!(!secrets.is_empty());
    for text in [&out, &err, &evidence_text] {
        assert!(
            !text.contains(&token) && !text.contains(token.split('.').nth(1).unwrap()),
            "the OIDC token leaked"
        );
        for s in &secrets {
            assert!(!text.contains(s.as_str()), "an STS-issued secret leaked");
        }
    }
    assert!(evidence_text.contains("\"AssumeRoleWithWebIdentity\": 1"));
}

#[test]
fn an_image_index_resolves_to_its_linux_amd64_manifest() {
    let moto = Moto::get();
    let repo = format!("bb/payments/{}", unique("index"));
    moto.create_repository(&repo);
    let amd64 = moto.put_image(&repo, "v1-amd64", &Moto::image_manifest(&format!("{repo}-amd64")));
    let arm64 = moto.put_image(&repo, "v1-arm64", &Moto::image_manifest(&format!("{repo}-arm64")));
    let index = json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": arm64, "size": 300, "platform": {"architecture": "arm64", "os": "linux"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": amd64, "size": 300, "platform": {"architecture": "amd64", "os": "linux"}},
        ]
    });
    let index_digest = moto.put_image(&repo, "v1", &index.to_string());
    moto.queue_scans(
        &repo,
        vec![scan_result(
            "COMPLETE",
            low_basic_findings(1),
            vec![],
            json!({"MEDIUM": 1}),
        )],
    );
    for reference in [
        format!("{repo}:v1"),
        format!("{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{repo}@{index_digest}"),
    ] {
        let (code, out, err) = run(verify_online(&moto, None).args(["--image", &reference, "--format", "json"]));
        assert_eq!(code, 0, "{reference}: {err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["images"][0]["digest"], amd64, "{reference}");
        assert!(
            err.contains("is an image index; judging its linux/amd64 manifest"),
            "{err}"
        );
    }
}

#[test]
fn basic_and_enhanced_findings_decide_as_offline() {
    let moto = Moto::get();
    // The real basic scan (257 findings) served in pages of 100 by maxResults... bbgate asks for 1000.
    let (repo, _) = seeded(&moto, "real-basic");
    let real = fixture_findings(
        "../shared/fixtures-upstream/ecr-basic-scan-cultureamp/scan-findings-example-b.json",
        "findings",
    );
    let counts = json!({"CRITICAL": 1, "HIGH": 5, "MEDIUM": 32, "LOW": 25, "INFORMATIONAL": 183, "UNDEFINED": 11});
    moto.queue_scans(&repo, vec![scan_result("COMPLETE", real, vec![], counts)]);
    let (code, out, _) = run(verify_online(&moto, None).args(["--image", &format!("{repo}:v1"), "--format", "json"]));
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(outcome_ids(&v, "blocked"), ["CVE-2005-2541", "CVE-2019-19814"]);
    assert_eq!(v["counts"]["needs_signoff"], 25);

    let (repo, _) = seeded(&moto, "enhanced");
    let (findings, counts) = enhanced_edge_cases();
    moto.queue_scans(&repo, vec![scan_result("ACTIVE", vec![], findings, counts)]);
    let (code, out, _) = run(verify_online(&moto, None).args(["--image", &format!("{repo}:v1"), "--format", "json"]));
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(finding(&v, "CVE-2026-10001")["outcome"], "blocked");
    assert_eq!(finding(&v, "CVE-2026-10002")["score"], 8.1);
    assert_eq!(finding(&v, "CVE-2026-10004")["outcome"], "warned");
}

#[test]
fn in_progress_then_complete_waits_and_confirms() {
    let moto = Moto::get();
    let (repo, _) = seeded(&moto, "in-progress");
    moto.queue_scans(
        &repo,
        vec![
            in_progress(),
            in_progress(),
            scan_result("COMPLETE", low_basic_findings(2), vec![], json!({"MEDIUM": 2})),
        ],
    );
    let (code, out, err) = run(verify_online(&moto, None).args(["--image", &format!("{repo}:v1"), "--format", "json"]));
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    // Two IN_PROGRESS probes, a COMPLETE one, a confirming one, then the one-page read.
    assert_eq!(v["images"][0]["acquisition"]["probes"], 4);
    assert_eq!(v["images"][0]["acquisition"]["calls"]["DescribeImageScanFindings"], 5);
    assert!(err.contains("IN_PROGRESS"), "{err}");
}

#[test]
fn failed_and_unsupported_scans_deny_with_the_status() {
    let moto = Moto::get();
    for status in [
        "FAILED",
        "UNSUPPORTED_IMAGE",
        "SCAN_ELIGIBILITY_EXPIRED",
        "IMAGE_ARCHIVED",
    ] {
        let (repo, _) = seeded(&moto, &format!("status-{}", status.to_lowercase().replace('_', "-")));
        moto.queue_scans(&repo, vec![json!({"imageScanStatus": {"status": status, "description": "UnsupportedImageError: the OS is not supported"}})]);
        let (code, out, err) =
            run(verify_online(&moto, None).args(["--image", &format!("{repo}:v1"), "--format", "json"]));
        assert_eq!(code, 1, "{status}: {err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        assert!(
            v["reasons"][0]["code"] == "scan-not-complete"
                && v["reasons"][0]["message"]
                    .as_str()
                    .unwrap()
                    .contains(&format!("scan status is {status}: UnsupportedImageError")),
            "{}",
            v["reasons"]
        );
    }
    let (repo, _) = seeded(&moto, "status-unavailable");
    moto.queue_scans(&repo, vec![json!({"imageScanStatus": {"status": "FINDINGS_UNAVAILABLE", "description": "Inspector has no findings yet"}})]);
    let (code, _, err) = run(verify_online(&moto, None).args(["--image", &format!("{repo}:v1")]));
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("FINDINGS_UNAVAILABLE"), "{err}");
    // LIMIT_EXCEEDED and a status AWS may add later: nothing was decided (3), the status named.
    for status in ["LIMIT_EXCEEDED", "SOMETHING_NEW"] {
        let (repo, _) = seeded(&moto, &format!("status-{}", status.to_lowercase().replace('_', "-")));
        moto.queue_scans(
            &repo,
            vec![json!({"imageScanStatus": {"status": status, "description": "d"}})],
        );
        let (code, out, err) = run(verify_online(&moto, None).args(["--image", &format!("{repo}:v1")]));
        assert_eq!(code, 3, "{status}: {out}{err}");
        assert!(err.contains(status), "{status}: {err}");
    }
}

#[test]
fn a_scan_that_never_finishes_times_out_with_exit_3() {
    let moto = Moto::get();
    let (repo, _) = seeded(&moto, "timeout");
    moto.queue_scans(&repo, vec![in_progress()]);
    let started = std::time::Instant::now();
    let (code, out, err) = run(verify_online(&moto, None).args([
        "--image",
        &format!("{repo}:v1"),
        "--scan-timeout",
        "2s",
        "--poll-interval",
        "300ms",
    ]));
    assert_eq!(code, 3, "{out}{err}");
    assert!(
        err.contains("did not finish within --scan-timeout 2 s (last status: IN_PROGRESS"),
        "{err}"
    );
    assert!(out.is_empty(), "no verdict when nothing was decided");
    // Every wait says how long it has waited and how long is left, and the wait lasts the whole timeout (the
    // last look comes at the deadline, not a back-off early: 0.3 + 0.6 + 1.2 s would end at 0.9 s before).
    assert!(
        err.contains("waited 0 s of 2 s (--scan-timeout), 2 s left; next look in 0.3 s"),
        "{err}"
    );
    assert!(err.contains("s left; next look in 0.6 s"), "{err}");
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(2),
        "gave up early: {err}"
    );
}

#[test]
fn every_page_of_a_2500_finding_scan_is_read_exactly_once() {
    let moto = Moto::get();
    let repo = seeded_passing(&moto, "pages-2500", 2500);
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("pages");
    let (code, out, err) = run(verify_online(&moto, None)
        .args(["--image", &format!("{repo}:v1"), "--format", "json"])
        .arg("--save-findings")
        .arg(&saved));
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["images"][0]["findings"].as_array().unwrap().len(), 2500);
    let probes = v["images"][0]["acquisition"]["probes"].as_u64().unwrap();
    assert_eq!(probes, 2, "a COMPLETE probe and its confirmation");
    assert_eq!(
        v["images"][0]["acquisition"]["calls"]["DescribeImageScanFindings"]
            .as_u64()
            .unwrap(),
        probes + 3,
        "3 pages of 1000, each once"
    );
    assert_eq!(
        moto.calls(&repo)["calls"]["DescribeImageScanFindings"]
            .as_u64()
            .unwrap(),
        probes + 3,
        "the peer counted the same"
    );
    let mut files: Vec<_> = std::fs::read_dir(&saved)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(files, ["page-0001.json", "page-0002.json", "page-0003.json"]);

    // The saved pages replay offline to the identical decision.
    let (code2, replay) = run_json(
        bbgate()
            .args([
                "verify",
                "--api-report",
                "../shared/fixtures-upstream/cucumber-cck-messages/minimal.ndjson",
                "--findings",
            ])
            .arg(&saved),
    );
    assert_eq!(code2, code);
    assert_eq!(replay["images"][0]["findings"], v["images"][0]["findings"]);
    assert_eq!(replay["reasons"], v["reasons"]);
    assert_eq!(replay["images"][0]["digest"], v["images"][0]["digest"]);
}

#[test]
fn pages_that_disagree_with_the_severity_counts_exit_3() {
    let moto = Moto::get();
    let (repo, _) = seeded(&moto, "count-mismatch");
    moto.queue_scans(
        &repo,
        vec![scan_result(
            "COMPLETE",
            low_basic_findings(1200),
            vec![],
            json!({"MEDIUM": 1201}),
        )],
    );
    let (code, out, err) = run(verify_online(&moto, None).args(["--image", &format!("{repo}:v1")]));
    assert_eq!(code, 3, "{out}{err}");
    assert!(
        err.contains("hold 1200 findings but its findingSeverityCounts sum to 1201"),
        "{err}"
    );
}

#[test]
fn throttling_that_recovers_and_throttling_that_does_not() {
    let moto = Moto::get();
    let repo = seeded_passing(&moto, "throttle-ok", 2);
    moto.fault(
        "DescribeImageScanFindings",
        &repo,
        2,
        400,
        "ThrottlingException",
        "Rate exceeded",
    );
    let (code, out, err) = run(verify_online(&moto, None).args(["--image", &format!("{repo}:v1"), "--format", "json"]));
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["images"][0]["acquisition"]["calls"]["DescribeImageScanFindings"],
        2 + 3,
        "two throttled attempts, retried, then 2 probes and 1 page"
    );

    let repo = seeded_passing(&moto, "throttle-forever", 2);
    moto.fault(
        "DescribeImageScanFindings",
        &repo,
        1000,
        400,
        "ThrottlingException",
        "Rate exceeded",
    );
    let (code, out, err) = run(verify_online(&moto, None).args(["--image", &format!("{repo}:v1")]));
    assert_eq!(code, 3, "{out}{err}");
    assert!(
        err.contains("ThrottlingException") && err.contains("still throttled after the SDK's retries"),
        "{err}"
    );

    let repo = seeded_passing(&moto, "server-error", 2);
    moto.fault(
        "DescribeImageScanFindings",
        &repo,
        1000,
        500,
        "ServerException",
        "internal failure",
    );
    let (code, _, err) = run(verify_online(&moto, None).args(["--image", &format!("{repo}:v1")]));
    assert_eq!(code, 3, "{err}");
}

#[test]
fn an_sts_rejection_is_explained() {
    let moto = Moto::get();
    let (repo, _) = seeded(&moto, "sts-reject");
    let role = role("sts-reject");
    moto.fault(
        "AssumeRoleWithWebIdentity",
        &role,
        1,
        400,
        "InvalidIdentityToken",
        "Couldn't retrieve verification key from your identity provider",
    );
    let token = oidc_token(3000);
    let (code, out, err) =
        run(verify_online(&moto, Some(&token)).args(["--image", &format!("{repo}:v1"), "--role-arn", &role]));
    assert_eq!(code, 3, "{out}{err}");
    assert!(
        err.contains("STS refused to assume") && err.contains("InvalidIdentityToken") && err.contains("trust policy"),
        "{err}"
    );
    assert!(!err.contains(&token) && !out.contains(&token));
    let calls = moto.calls(&repo)["calls"].clone();
    assert_eq!(
        calls,
        json!({"CreateRepository": 1, "PutImage": 1}),
        "only the test's seeding: no ECR call without credentials"
    );
}

#[test]
fn bad_credentials_settings_fail_before_any_call() {
    let moto = Moto::get();
    let (repo, _) = seeded(&moto, "bad-settings");
    let token = oidc_token(3000);
    let image = format!("{repo}:v1");
    // A role ARN that is not one (an unset context variable).
    let (code, _, err) =
        run(verify_online(&moto, Some(&token)).args(["--image", &image, "--role-arn", "AWS_CIRCLECI_ROLE_ARN"]));
    assert_eq!(code, 2);
    assert!(err.contains("is not arn:aws:iam::ACCOUNT:role/NAME"), "{err}");
    // A role but no token: the job has no context.
    let (code, _, err) = run(verify_online(&moto, None).args(["--image", &image, "--role-arn", &role("x")]));
    assert_eq!(code, 2);
    assert!(err.contains("no OIDC token") && err.contains("context"), "{err}");
    // An expired token.
    let expired = oidc_token(-600);
    let (code, _, err) = run(verify_online(&moto, Some(&expired)).args(["--image", &image, "--role-arn", &role("x")]));
    assert_eq!(code, 3);
    assert!(err.contains("expired 10 min ago"), "{err}");
    // An empty region.
    let (code, _, err) = run(verify_online(&moto, None)
        .env("AWS_REGION", "")
        .args(["--image", &image]));
    assert_eq!(code, 2);
    assert!(err.contains("no AWS region"), "{err}");
    assert_eq!(moto.calls(&repo)["calls"]["DescribeImageScanFindings"], Value::Null);
}

#[test]
fn an_image_of_another_bbs_repository_is_refused_before_any_call() {
    let moto = Moto::get();
    let repo = &format!("bb/im/{}/security-server", unique("x-road"));
    moto.create_repository(repo);
    moto.put_image(repo, "v1", &Moto::image_manifest(repo));
    let (code, out, err) =
        run(verify_online(&moto, None).args(["--image", &format!("{repo}:v1"), "--building-block", "payments"]));
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("is neither one of building block payments's repositories"),
        "{err}"
    );
    assert_eq!(
        moto.calls(repo)["calls"],
        json!({"CreateRepository": 1, "PutImage": 1}),
        "only the test's seeding"
    );
}

#[test]
fn a_basic_registry_without_a_scan_gets_one_started() {
    let moto = Moto::get();
    // No queued result: moto itself answers ScanNotFound until StartImageScan, then its stock finding.
    let (repo, _) = seeded(&moto, "start-scan");
    let (code, out, err) = run(verify_online(&moto, None).args([
        "--image",
        &format!("{repo}:v1"),
        "--format",
        "json",
        "--now",
        "2099-01-01T00:00:00Z",
        "--policy",
        "policies/sandbox.toml",
    ]));
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|_| panic!("{out}{err}"));
    assert_eq!(v["images"][0]["acquisition"]["scan_started"], true, "{err}");
    assert_eq!(v["images"][0]["acquisition"]["registry_scan_type"], "BASIC");
    assert_eq!(v["images"][0]["acquisition"]["calls"]["StartImageScan"], 1);
    assert_eq!(code, 1);
    assert!(!v["images"][0]["findings"].as_array().unwrap().is_empty());
}

#[test]
fn static_credentials_never_reach_the_output() {
    let moto = Moto::get();
    let repo = seeded_passing(&moto, "static-creds", 1);
    let dir = tempfile::tempdir().unwrap();
    let (ev, junit) = (dir.path().join("e.json"), dir.path().join("j.xml"));
    let (code, out, err) = run(verify_online(&moto, None)
        .args(["--image", &format!("{repo}:v1"), "--format", "json"])
        .arg("--evidence")
        .arg(&ev)
        .arg("--junit")
        .arg(&junit));
    assert_eq!(code, 0, "{err}");
    for text in [
        out,
        err,
        std::fs::read_to_string(&ev).unwrap(),
        std::fs::read_to_string(&junit).unwrap(),
    ] {
        assert!(!text.contains(STATIC_SECRET));
    }
}

#[test]
fn findings_that_grow_after_complete_are_read_again_until_they_hold_still() {
    // ECR has said COMPLETE before all findings existed (counts 2 -> 3): decide only on the settled scan.
    let moto = Moto::get();
    let (repo, _) = seeded(&moto, "growing");
    moto.queue_scans(
        &repo,
        vec![
            scan_result("COMPLETE", low_basic_findings(2), vec![], json!({"MEDIUM": 2})),
            scan_result("COMPLETE", low_basic_findings(3), vec![], json!({"MEDIUM": 3})),
        ],
    );
    let (code, out, err) = run(verify_online(&moto, None).args(["--image", &format!("{repo}:v1"), "--format", "json"]));
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["images"][0]["findings"].as_array().unwrap().len(),
        3,
        "decided on the settled scan"
    );
    assert!(
        err.contains("the scan changed while it was read; reading it again"),
        "{err}"
    );
}

/// The release chart's five images in the peer, each in a repository of this test's own (set through the
/// chart's values; the third-party ones under the cache's `docker-hub/` prefix), each with a scan of `n` low findings; `critical_in` gets a critical too. Returns the
/// `--set` flags that point the chart at them, and (repository, digest) of each, in the chart's order.
fn seeded_release(moto: &Moto, name: &str, critical_in: Option<usize>) -> (Vec<String>, Vec<(String, String)>) {
    let u = unique(name);
    let host = format!("{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com");
    // (repository in ECR, tag, the chart value that names it, the value).
    let images = [
        (
            format!("bb/payments/adapter-{u}"),
            "1.5.0".to_owned(),
            "adapter.image.repository",
            format!("bb/payments/adapter-{u}"),
        ),
        (
            format!("docker-hub/{u}/busybox"),
            "1.36".to_owned(),
            "adapter.waitFor.image",
            format!("{u}/busybox:1.36"),
        ),
        (
            format!("bb/payments/emulator-{u}"),
            "1.0.0".to_owned(),
            "emulator.image",
            format!("bb/payments/emulator-{u}:1.0.0"),
        ),
        (
            format!("docker-hub/{u}/postgres"),
            "16.4".to_owned(),
            "postgresql.image",
            format!("docker.io/{u}/postgres:16.4"),
        ),
        (
            format!("bb/payments/migrate-{u}"),
            "2.0.1".to_owned(),
            "migrations.image",
            format!("{host}/bb/payments/migrate-{u}:2.0.1"),
        ),
    ];
    let mut sets = Vec::new();
    let mut out = Vec::new();
    for (i, (repo, tag, key, value)) in images.iter().enumerate() {
        moto.create_repository(repo);
        let digest = moto.put_image(repo, tag, &Moto::image_manifest(&format!("{repo}:{tag}")));
        let mut findings = low_basic_findings(2);
        let mut counts = json!({"MEDIUM": 2});
        if critical_in == Some(i) {
            findings.push(basic_finding("CVE-2026-7001", "libpq5", "9.8", "CRITICAL"));
            counts["CRITICAL"] = json!(1);
        }
        moto.queue_scans(repo, vec![scan_result("COMPLETE", findings, vec![], counts)]);
        sets.extend(["--set".to_owned(), format!("{key}={value}")]);
        out.push((repo.clone(), digest));
    }
    (sets, out)
}

/// `verify --chart` of the release chart against the peer, its images set by `sets`.
fn verify_release_online(moto: &Moto, sets: &[String]) -> assert_cmd::Command {
    let mut cmd = verify_online(moto, None);
    cmd.args([
        "--chart",
        "fixtures/charts/payments-release",
        "--helm",
        &test_helm(),
        "--format",
        "json",
    ])
    .args(sets);
    cmd
}

fn test_helm() -> String {
    std::env::var("BBGATE_TEST_HELM3").expect("BBGATE_TEST_HELM3 is not set: run the suite with scripts/test")
}

#[test]
fn a_chart_release_is_read_from_ecr_image_by_image_and_its_saved_pages_replay_offline() {
    let moto = Moto::get();
    let (sets, images) = seeded_release(&moto, "release", None);
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("pages");
    let (code, out, err) = run(verify_release_online(&moto, &sets).arg("--save-findings").arg(&saved));
    assert_eq!(code, 0, "{out}{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let judged: Vec<(String, String)> = v["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["repository"].as_str().unwrap().to_owned(),
                i["digest"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(judged, images, "every image of the chart, by the digest ECR holds");
    // Each image read as a release of one reads it: one resolve, a COMPLETE probe and its confirmation, one
    // page; the release costs the sum of its images, nothing more.
    for (i, img) in v["images"].as_array().unwrap().iter().enumerate() {
        let calls = &img["acquisition"]["calls"];
        assert_eq!(
            *calls,
            json!({"BatchGetImage": 1, "DescribeImageScanFindings": 3}),
            "image {i}"
        );
        let peer = &moto.calls(&images[i].0)["calls"];
        for op in ["BatchGetImage", "DescribeImageScanFindings"] {
            assert_eq!(peer[op], calls[op], "the peer counted the same {op} for image {i}");
        }
    }
    // One folder of pages per image; replayed offline with the chart, the same decision.
    let folders = std::fs::read_dir(&saved).unwrap().count();
    assert_eq!(folders, 5);
    let (code2, replay) = run_json(
        bbgate()
            .args([
                "verify",
                "--chart",
                "fixtures/charts/payments-release",
                "--helm",
                &test_helm(),
            ])
            .args(&sets)
            .args([
                "--api-report",
                "../shared/fixtures-upstream/cucumber-cck-messages/minimal.ndjson",
                "--findings",
            ])
            .arg(&saved),
    );
    assert_eq!(code2, code);
    assert_eq!(replay["reasons"], v["reasons"]);
    for (a, b) in replay["images"]
        .as_array()
        .unwrap()
        .iter()
        .zip(v["images"].as_array().unwrap())
    {
        assert_eq!(
            (&a["ref"], &a["digest"], &a["findings"]),
            (&b["ref"], &b["digest"], &b["findings"])
        );
    }
}

#[test]
fn a_critical_in_a_cached_third_party_image_read_from_ecr_denies_the_release() {
    let moto = Moto::get();
    let (sets, images) = seeded_release(&moto, "release-deny", Some(3));
    let (code, out, err) = run(&mut verify_release_online(&moto, &sets));
    assert_eq!(code, 1, "{out}{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["reasons"].as_array().unwrap().len(), 1, "{}", v["reasons"]);
    assert_eq!(v["reasons"][0]["location"], format!("{}@{}", images[3].0, images[3].1));
    assert!(v["images"][3]["ref"].as_str().unwrap().ends_with("/postgres:16.4"));
}

#[test]
fn aws_conventions_an_empty_variable_is_unset_the_default_region_counts_and_no_credentials_is_explained() {
    let moto = Moto::get();
    let repo = seeded_passing(&moto, "conventions", 3);
    let image = format!("{repo}:v1");
    // GovStack's contexts hold only AWS_DEFAULT_REGION, and the orb may pass an empty AWS_REGION: the default
    // region is used.
    let (code, out, err) = run(verify_online(&moto, None)
        .env("AWS_REGION", "")
        .env("AWS_DEFAULT_REGION", REGION)
        .args(["--image", &image]));
    assert_eq!(code, 0, "{out}{err}");
    // Neither set: both named.
    let (code, _, err) = run(verify_online(&moto, None)
        .env("AWS_REGION", "")
        .env("AWS_DEFAULT_REGION", " ")
        .args(["--image", &image]));
    assert_eq!(code, 2);
    assert!(
        err.contains("neither AWS_REGION nor AWS_DEFAULT_REGION is set"),
        "{err}"
    );
    // eks-token names its own flag.
    let (code, _, err) =
        run(aws_command(&moto, None)
            .env("AWS_REGION", "")
            .args(["eks-token", "--cluster", "sandbox"]));
    assert_eq!(code, 2);
    assert!(err.contains("pass --region"), "{err}");
    // No credentials anywhere: the chain tried is named, and nothing was decided (exit 3).
    let home = tempfile::tempdir().unwrap();
    let (code, _, err) = run(verify_online(&moto, None)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("HOME", home.path())
        .env("AWS_CONFIG_FILE", home.path().join("none"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.path().join("none"))
        .args(["--image", &image]));
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("no AWS credentials") && err.contains("AWS_WEB_IDENTITY_TOKEN_FILE"),
        "{err}"
    );
    // AWS_ROLE_ARN with AWS_WEB_IDENTITY_TOKEN_FILE is the SDK's web-identity chain (IRSA, self-hosted runners),
    // not bbgate's CircleCI flow: no CircleCI token is asked for.
    let token_file = home.path().join("token");
    std::fs::write(&token_file, oidc_token(3000)).unwrap();
    let (code, out, err) = run(verify_online(&moto, None)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("HOME", home.path())
        .env("AWS_ROLE_ARN", role("web-identity"))
        .env("AWS_WEB_IDENTITY_TOKEN_FILE", &token_file)
        .env("AWS_ROLE_SESSION_NAME", "irsa-session")
        .args(["--image", &image, "--format", "json"]));
    assert!(!err.contains("no OIDC token"), "{err}");
    assert_eq!(code, 0, "{out}{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["images"][0]["acquisition"]["identity"]["method"],
        "aws-credential-chain"
    );
}
