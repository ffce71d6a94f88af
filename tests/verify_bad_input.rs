//! Bad input exits 2, names the file and what is wrong, and never exits 0.

#![allow(clippy::unwrap_used)] // a test fails loudly where it unwraps

mod common;
use common::*;
use std::path::{Path, PathBuf};

struct Scratch(tempfile::TempDir);

impl Scratch {
    fn new() -> Self {
        Scratch(tempfile::tempdir().unwrap())
    }
    fn file(&self, name: &str, content: &str) -> PathBuf {
        let p = self.0.path().join(name);
        std::fs::write(&p, content).unwrap();
        p
    }
}

/// verify with a good scan and report, plus `extra` arguments.
fn verify_with(extra: &[&Path], flag: &str) -> (i32, String, String) {
    let mut cmd = bbgate();
    cmd.args([
        "verify",
        "--now",
        NOW_2026,
        "--signoffs",
        "fixtures/demo/pass/signoffs.toml",
    ]);
    let mut findings = vec![
        PathBuf::from("fixtures/demo/pass/scan-page-1.json"),
        PathBuf::from("fixtures/demo/pass/scan-page-2.json"),
    ];
    let mut reports = vec![PathBuf::from(
        "../shared/fixtures-upstream/cucumber-cck-messages/minimal.ndjson",
    )];
    let mut policy = None;
    match flag {
        "--findings" => findings = extra.iter().map(|p| p.to_path_buf()).collect(),
        "--api-report" => reports = extra.iter().map(|p| p.to_path_buf()).collect(),
        "--policy" => policy = Some(extra[0].to_path_buf()),
        "--signoffs" => {
            cmd.arg("--signoffs").args(extra);
        }
        _ => unreachable!(),
    }
    cmd.arg("--findings").args(&findings).arg("--api-report").args(&reports);
    if let Some(p) = policy {
        cmd.arg("--policy").arg(p);
    }
    run(&mut cmd)
}

fn assert_invalid(result: (i32, String, String), must_name: &[&str]) {
    let (code, out, err) = result;
    assert_eq!(code, 2, "expected exit 2, got {code}\nstdout: {out}\nstderr: {err}");
    assert!(out.is_empty(), "nothing on stdout when the input is invalid: {out}");
    for s in must_name {
        assert!(err.contains(s), "stderr should name {s:?}:\n{err}");
    }
}

#[test]
fn the_good_baseline_passes() {
    // Without this, every test below could pass for the wrong reason.
    let (code, out, err) = verify_with(
        &[Path::new(
            "../shared/fixtures-upstream/cucumber-cck-messages/minimal.ndjson",
        )],
        "--api-report",
    );
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn truncated_findings_json() {
    let s = Scratch::new();
    let full = std::fs::read_to_string("fixtures/demo/pass/scan-page-1.json").unwrap();
    let cut = s.file("cut.json", &full[..full.len() / 2]);
    assert_invalid(verify_with(&[&cut], "--findings"), &["cut.json", "truncated JSON"]);
}

#[test]
fn unknown_json_shapes_are_errors_not_clean_scans() {
    let s = Scratch::new();
    let trivy = s.file(
        "trivy.json",
        r#"{"SchemaVersion": 2, "ArtifactName": "x", "Results": []}"#,
    );
    // A Trivy report is read (a prediction), but one that names no repository of the sandbox is refused.
    assert_invalid(
        verify_with(&[&trivy], "--findings"),
        &[
            "trivy.json",
            "Trivy report's image \"x\" does not name an ECR repository",
        ],
    );
    let old = s.file(
        "trivy-v1.json",
        r#"{"SchemaVersion": 1, "ArtifactName": "bb/payments/x:1", "Results": []}"#,
    );
    assert_invalid(
        verify_with(&[&old], "--findings"),
        &["trivy-v1.json", "SchemaVersion 1 is not 2"],
    );
    let asff = s.file("asff.json", r#"{"Findings": []}"#);
    assert_invalid(
        verify_with(&[&asff], "--findings"),
        &["asff.json", "unknown JSON shape", "Security Hub findings (ASFF)"],
    );
    let inspector = s.file("inspector.json", r#"{"findings": [], "nextToken": null}"#);
    assert_invalid(
        verify_with(&[&inspector], "--findings"),
        &["inspector.json", "Inspector2 ListFindings"],
    );
    let array = s.file("array.json", "[]");
    assert_invalid(verify_with(&[&array], "--findings"), &["array.json"]);
    // A finding with a severity we do not know is not silently dropped.
    let page = std::fs::read_to_string("fixtures/demo/pass/scan-page-2.json")
        .unwrap()
        .replace("\"severity\": \"HIGH\"", "\"severity\": \"SEVERE\"");
    let odd = s.file("odd.json", &page);
    assert_invalid(
        verify_with(&[&odd], "--findings"),
        &["odd.json", "enhancedFindings[0]", "unknown severity \"SEVERE\""],
    );
    // A score that is not a number (the extenda bug: '' read as 0).
    let basic =
        std::fs::read_to_string("../shared/fixtures-upstream/ecr-basic-scan-cultureamp/scan-findings-example-a.json")
            .unwrap()
            .replace("\"value\": \"4.6\"", "\"value\": \"\"");
    let empty_score = s.file("empty-score.json", &basic);
    let (code, _, err) = run(bbgate()
        .args(["verify", "--policy", "fixtures/policies/upstream.toml", "--findings"])
        .arg(&empty_score));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("empty-score.json") && err.contains("CVSS2_SCORE \"\" is not a score"),
        "{err}"
    );
}

#[test]
fn complete_scan_without_findings_block_or_digest() {
    let s = Scratch::new();
    let no_findings = s.file("nf.json", r#"{"repositoryName":"bb/payments/x","imageId":{"imageDigest":"sha256:0000000000000000000000000000000000000000000000000000000000000000"},"imageScanStatus":{"status":"COMPLETE"}}"#);
    assert_invalid(
        verify_with(&[&no_findings], "--findings"),
        &["nf.json", "no `imageScanFindings`"],
    );
    let no_digest = s.file("nd.json", r#"{"repositoryName":"bb/payments/x","imageId":{"imageTag":"latest"},"imageScanStatus":{"status":"COMPLETE"},"imageScanFindings":{}}"#);
    assert_invalid(verify_with(&[&no_digest], "--findings"), &["nd.json", "imageDigest"]);
}

#[test]
fn missing_files_are_named() {
    assert_invalid(
        verify_with(&[Path::new("fixtures/nope.json")], "--findings"),
        &["fixtures/nope.json", "cannot read", "check the path"],
    );
    assert_invalid(
        verify_with(&[Path::new("fixtures/nope.xml")], "--api-report"),
        &["fixtures/nope.xml"],
    );
    assert_invalid(
        verify_with(&[Path::new("fixtures/nope.toml")], "--policy"),
        &["fixtures/nope.toml"],
    );
    assert_invalid(
        verify_with(&[Path::new("fixtures/nope-signoffs.toml")], "--signoffs"),
        &["fixtures/nope-signoffs.toml"],
    );
}

#[test]
fn all_bad_inputs_are_reported_at_once() {
    let s = Scratch::new();
    let bad_xml = s.file("bad.xml", "<testsuite><testcase name='a'>");
    let (code, _, err) = run(bbgate()
        .args(["verify", "--now", NOW_2026, "--findings", "fixtures/nope.json"])
        .arg("--api-report")
        .arg(&bad_xml));
    assert_eq!(code, 2);
    assert!(
        err.contains("fixtures/nope.json") && err.contains("bad.xml"),
        "both problems in one run:\n{err}"
    );
}

#[test]
fn broken_junit_reports() {
    let s = Scratch::new();
    let truncated = s.file(
        "t.xml",
        "<?xml version=\"1.0\"?>\n<testsuite tests=\"1\">\n  <testcase name=\"a\">\n",
    );
    assert_invalid(verify_with(&[&truncated], "--api-report"), &["t.xml", "truncated"]);
    let mismatched = s.file("m.xml", "<testsuite>\n<testcase name=\"a\"></testsuite>");
    assert_invalid(
        verify_with(&[&mismatched], "--api-report"),
        &["m.xml", "line 2", "broken XML"],
    );
    let html = s.file("h.xml", "<html><body>502 Bad Gateway</body></html>");
    assert_invalid(verify_with(&[&html], "--api-report"), &["h.xml", "not a JUnit report"]);
    let empty = s.file("e.message", "");
    assert_invalid(verify_with(&[&empty], "--api-report"), &["e.message", "empty file"]);
    let not_messages = s.file("n.message", "{\"hello\": 1}\n");
    assert_invalid(
        verify_with(&[&not_messages], "--api-report"),
        &["n.message", "no `meta` envelope"],
    );
}

#[test]
fn misspelt_and_mistyped_policy_keys() {
    let s = Scratch::new();
    let base = std::fs::read_to_string("policies/sandbox.toml").unwrap();
    let misspelt = s.file("misspelt.toml", &base.replace("block_from = 9.0", "blok_from = 9.0"));
    let line = base.lines().position(|l| l.starts_with("block_from")).unwrap() + 1;
    assert_invalid(
        verify_with(&[&misspelt], "--policy"),
        &[&format!("misspelt.toml:{line}:"), "unknown field `blok_from`"],
    );
    let mistyped = s.file(
        "mistyped.toml",
        &base.replace("max_age_days = 30\n", "max_age_days = \"30\"\n"),
    );
    assert_invalid(
        verify_with(&[&mistyped], "--policy"),
        // toml names the value's type, not the key: the line printed under the message shows the key.
        &["mistyped.toml:", "invalid type", "| max_age_days = \"30\"", "^^^^"],
    );
    let inverted = s.file(
        "inverted.toml",
        &base.replace("signoff_from = 7.0", "signoff_from = 9.5"),
    );
    assert_invalid(
        verify_with(&[&inverted], "--policy"),
        &["inverted.toml:", "signoff_from = 9.5 must be between 0 and block_from"],
    );
    let bad_unscored = s.file("u.toml", &base.replace("unscored = \"warn\"", "unscored = \"ignore\""));
    assert_invalid(
        verify_with(&[&bad_unscored], "--policy"),
        &["u.toml:", "unknown variant `ignore`"],
    );
}

#[test]
fn invalid_signoffs_report_every_problem_with_its_line() {
    let s = Scratch::new();
    let file = s.file(
        "bad-signoffs.toml",
        r#"[[signoff]]
id = "CVE-2026-10002"
building_block = "payments"
analysis = ""
mitigation = "none"
approved_by = "mallory@example.com"
approved_on = 2026-11-20
expires = 2027-11-20

[[signoff]]
id = "CVE-2026-10008"
building_block = "no-such-bb"
analysis = "a"
approved_by = "sandbox-admin@govstack.global"
approved_on = 2026-11-20
expires = 2026-11-01
digest = "sha256:abc"
"#,
    );
    let (code, out, err) = verify_with(&[&file], "--signoffs");
    assert_invalid((code, out, err.clone()), &[]);
    for expected in [
        "bad-signoffs.toml:4:12: sign-off `analysis` is empty",
        "bad-signoffs.toml:6:15: sign-off CVE-2026-10002: approved_by \"mallory@example.com\" is not an approver",
        "bad-signoffs.toml:1:1: sign-off CVE-2026-10002: valid for 365 days (2026-11-20 to 2027-11-20), more than [signoffs] max_validity_days = 90",
        "bad-signoffs.toml:12:18: sign-off CVE-2026-10008: building_block \"no-such-bb\" is not in the policy",
        "sign-off has no `mitigation`",
        "expires 2026-11-01 is before approved_on 2026-11-20",
        "digest \"sha256:abc\" is not sha256:<64 hex digits>",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
    let unknown_key = s.file("k.toml", "[[signoff]]\nid = \"CVE-1\"\nreason = \"x\"\n");
    assert_invalid(
        verify_with(&[&unknown_key], "--signoffs"),
        &["k.toml:3:1", "unknown field `reason`"],
    );
}

#[test]
fn duplicate_signoffs_across_files() {
    let (code, _, err) = verify_with(&[Path::new("fixtures/demo/pass/signoffs.toml")], "--signoffs");
    assert_eq!(code, 2);
    assert!(
        err.contains("duplicates the one at fixtures/demo/pass/signoffs.toml:3"),
        "{err}"
    );
}

#[test]
fn bad_command_lines_exit_2() {
    let (code, _, _) = run(bbgate().args(["verify"]));
    assert_eq!(code, 2, "--findings is required");
    let (code, _, err) = run(bbgate().args(["verify", "--findings", "fixtures/demo/pass", "--now", "yesterday"]));
    assert_eq!(code, 2, "{err}");
    let (code, _, _) = run(bbgate().args(["verify", "--findings", "fixtures/demo/pass", "--format", "xml"]));
    assert_eq!(code, 2);
    let (code, _, err) = run(bbgate().args(["verify", "--findings", "fixtures/demo/pass", "--building-block", "nope"]));
    assert_eq!(code, 2);
    assert!(err.contains("--building-block \"nope\" is not in the policy"), "{err}");
    let (code, _, err) =
        run(bbgate()
            .env("BBGATE_POLICY_SHA256", "not-a-sha")
            .args(["verify", "--findings", "fixtures/demo/pass"]));
    assert_eq!(code, 2, "a malformed policy pin is a configuration error: {err}");
    assert!(
        err.contains("BBGATE_POLICY_SHA256=\"not-a-sha\" is not a sha256"),
        "{err}"
    );
}

#[test]
fn a_repository_no_building_block_owns_is_refused() {
    let (code, _, err) = run(bbgate().args([
        "verify",
        "--findings",
        "../shared/fixtures-upstream/ecr-basic-scan-cultureamp/scan-findings-example-b.json",
        "--now",
        NOW_2021,
    ]));
    assert_eq!(code, 2);
    assert!(
        err.contains("no building block") && err.contains("development/bff-version"),
        "{err}"
    );
}

/// `bbgate verify --image` with no AWS_* of the machine, the metadata service pointed at `endpoint`, and `env`.
fn verify_image_with_metadata_at(endpoint: &str, env: &[(&str, &str)]) -> (i32, String) {
    let mut cmd = bbgate();
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("AWS_EC2_METADATA_SERVICE_ENDPOINT", endpoint)
        .envs(env.iter().copied())
        .args(["verify", "--image", "bb/payments/adapter:1"]);
    let (code, _, err) = run(&mut cmd);
    (code, err)
}

#[test]
fn the_region_never_comes_from_the_instance_metadata_service() {
    // The metadata service left on, pointed at a loopback stand-in that counts what asks it: with no region in
    // the environment, bbgate says so (exit 2) and never asks.
    let (endpoint, hits) = http_stand_in(200, b"eu-central-1".to_vec());
    let (code, err) = verify_image_with_metadata_at(
        &endpoint,
        &[
            ("AWS_ACCESS_KEY_ID", "AKIDSTATICTEST"),
            ("AWS_SECRET_ACCESS_KEY", "not-used"),
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("no AWS region: neither AWS_REGION nor AWS_DEFAULT_REGION is set"),
        "{err}"
    );
    assert_eq!(
        hits.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the metadata stand-in was asked"
    );
    // The control: with a region and no credentials, the SDK's credential chain does ask the metadata service,
    // and the same stand-in counts it (so the zero above is the probe working, not the probe deaf).
    let (endpoint, hits) = http_stand_in(404, b"{}".to_vec());
    let (code, err) = verify_image_with_metadata_at(
        &endpoint,
        &[
            ("AWS_REGION", "eu-central-1"),
            ("AWS_CONFIG_FILE", "/nonexistent-bbgate-test"),
            ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent-bbgate-test"),
        ],
    );
    assert_eq!(code, 3, "{err}");
    assert!(hits.load(std::sync::atomic::Ordering::SeqCst) > 0, "{err}");
}

#[test]
fn with_format_json_every_exit_code_prints_one_json_document() {
    // 2: invalid input (a missing report), for verify and for push.
    let (code, v) = run_json(bbgate().args([
        "verify",
        "--findings",
        "fixtures/demo/pass",
        "--api-report",
        "/nonexistent/report.ndjson",
    ]));
    assert_eq!(code, 2);
    assert_eq!(v["error"]["kind"], "invalid-input");
    assert_eq!(v["exit_code"], 2);
    assert!(
        v["error"]["messages"][0]
            .as_str()
            .unwrap()
            .contains("/nonexistent/report.ndjson"),
        "{v}"
    );
    let (code, v) = run_json(bbgate().args(["push", "--from", "oci:/nonexistent", "--to", "not a reference"]));
    assert_eq!(code, 2);
    assert_eq!(v["error"]["kind"], "invalid-input", "{v}");
    // 3: could not decide (AWS unreachable), and 1 before any decision (an image the building block may not run).
    let (code, v) = run_json(
        bbgate()
            .args([
                "verify",
                "--image",
                "bb/payments/adapter:1",
                "--api-report",
                "fixtures/api-tests/payments-adapter.ndjson",
            ])
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .env("AWS_REGION", "eu-central-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_ACCESS_KEY_ID", "AKIDTEST")
            .env("AWS_SECRET_ACCESS_KEY", "never-printed-secret")
            .env("AWS_MAX_ATTEMPTS", "1"),
    );
    assert_eq!(code, 3, "{v}");
    assert_eq!(v["error"]["kind"], "could-not-decide");
    assert!(!v.to_string().contains("never-printed-secret"));
    let (code, v) = run_json(bbgate().args([
        "verify",
        "--image",
        "bb/usct/api:1",
        "--building-block",
        "payments",
        "--api-report",
        "fixtures/api-tests/payments-adapter.ndjson",
    ]));
    assert_eq!(code, 1);
    assert_eq!(v["error"]["kind"], "denied", "{v}");
}
