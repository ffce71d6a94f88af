//! Issue 12: findings pages that hid findings at 8816b73, and foreign files named. Real scans are read from
//! ../shared/fixtures-upstream; the variants (split pages, edited values) are made from them here.

#![allow(clippy::unwrap_used)] // a test fails loudly where it unwraps

mod common;
use common::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

const EXAMPLE_B: &str = "../shared/fixtures-upstream/ecr-basic-scan-cultureamp/scan-findings-example-b.json";

/// The real basic scan, filed as the payments emulator's, split into pages of `sizes` findings, in scan order.
/// The first page holds its two criticals (CVE-2019-19814, 9.3) when `critical_first`.
fn pages(dir: &Path, sizes: &[usize]) -> Vec<PathBuf> {
    let mut scan: Value = serde_json::from_str(&std::fs::read_to_string(EXAMPLE_B).unwrap()).unwrap();
    scan["repositoryName"] = json!("bb/payments/emulator");
    scan["registryId"] = json!("123456789012");
    let all = scan["imageScanFindings"]["findings"].as_array().unwrap().clone();
    assert_eq!(sizes.iter().sum::<usize>(), all.len());
    let mut out = Vec::new();
    let mut at = 0;
    for (i, n) in sizes.iter().enumerate() {
        let mut page = scan.clone();
        page["imageScanFindings"]["findings"] = Value::Array(all[at..at + n].to_vec());
        if i + 1 < sizes.len() {
            page["nextToken"] = json!(format!("token-{}", i + 1));
        }
        at += n;
        let p = dir.join(format!("page-{}.json", i + 1));
        std::fs::write(&p, serde_json::to_vec_pretty(&page).unwrap()).unwrap();
        out.push(p);
    }
    out
}

fn verify(files: &[&Path]) -> (i32, String, String) {
    let mut cmd = bbgate();
    cmd.arg("verify")
        .arg("--findings")
        .args(files)
        .args(["--now", NOW_2021]);
    run(&mut cmd)
}

#[test]
fn a_page_given_twice_cannot_stand_in_for_a_missing_page() {
    let dir = tempfile::tempdir().unwrap();
    // Page 1 (57 findings) holds CVE-2019-19814 (9.3); pages 2 and 3 hold 100 each: 2 + 3 + 3 = 300 >= 257.
    let p = pages(dir.path(), &[57, 100, 100]);
    let copy = dir.path().join("page-3-copy.json");
    std::fs::copy(&p[2], &copy).unwrap();
    let (code, out, err) = verify(&[&p[1], &p[2], &copy]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("holds the same findings as") && err.contains("a page given twice"),
        "{err}"
    );
    // The same file twice.
    let (code, _, err) = verify(&[&p[1], &p[2], &p[2]]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("a page given twice"), "{err}");
    // Positive control: all three pages decide (and block the critical).
    let (code, out, err) = verify(&[&p[0], &p[1], &p[2]]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("CVE-2019-19814"), "{out}");
}

#[test]
fn two_last_pages_are_pages_of_different_reads() {
    let dir = tempfile::tempdir().unwrap();
    let p = pages(dir.path(), &[57, 100, 100]);
    // Page 3 of another read: a finding fewer, no nextToken either.
    let mut other: Value = serde_json::from_slice(&std::fs::read(&p[2]).unwrap()).unwrap();
    other["imageScanFindings"]["findings"].as_array_mut().unwrap().pop();
    let q = dir.path().join("other-read-page-3.json");
    std::fs::write(&q, serde_json::to_vec(&other).unwrap()).unwrap();
    let (code, _, err) = verify(&[&p[1], &p[2], &q]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("2 of the 3 pages given carry no nextToken"), "{err}");
}

fn one_page(dir: &Path, edit: impl FnOnce(&mut Value)) -> PathBuf {
    let p = pages(dir, &[257]).remove(0);
    let mut v: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    edit(&mut v);
    std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
    p
}

#[test]
fn severity_counts_that_wrap_or_repeat_a_key_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = one_page(dir.path(), |v| {
        v["imageScanFindings"]["findingSeverityCounts"] = json!({"HIGH": u64::MAX, "CRITICAL": 1});
    });
    let (code, _, err) = verify(&[&p]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("adds up past 2^64"), "{err}");
    // A key given twice: JSON maps keep the last one, so the text is edited directly.
    let text = std::fs::read_to_string(&p).unwrap().replace(
        "\"findingSeverityCounts\":{",
        "\"findingSeverityCounts\":{\"CRITICAL\":0,\"CRITICAL\":0,",
    );
    std::fs::write(&p, text).unwrap();
    let (code, _, err) = verify(&[&p]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("names CRITICAL twice"), "{err}");
}

#[test]
fn a_score_attribute_given_twice_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = one_page(dir.path(), |v| {
        let f = &mut v["imageScanFindings"]["findings"][0]["attributes"];
        f.as_array_mut()
            .unwrap()
            .push(json!({"key": "CVSS2_SCORE", "value": "1.0"}));
    });
    let (code, _, err) = verify(&[&p]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("CVE-2019-19814: attribute CVSS2_SCORE appears twice"),
        "{err}"
    );
}

/// A one-finding ENHANCED page of bb/payments/adapter, labelled MEDIUM, with the given cvss[] entries.
fn enhanced(dir: &Path, cvss: Value) -> PathBuf {
    let page = json!({
        "registryId": "123456789012", "repositoryName": "bb/payments/adapter",
        "imageId": {"imageDigest": adapter_digest(), "imageTag": "1"},
        "imageScanStatus": {"status": "ACTIVE", "description": "continuous scan"},
        "imageScanFindings": {
            "imageScanCompletedAt": hours_ago(1), "findingSeverityCounts": {"MEDIUM": 1},
            "enhancedFindings": [{
                "title": "CVE-2026-4242 - openssl", "severity": "MEDIUM", "type": "PACKAGE_VULNERABILITY",
                "packageVulnerabilityDetails": {"vulnerabilityId": "CVE-2026-4242", "cvss": cvss,
                    "vulnerablePackages": [{"name": "openssl", "version": "3.0.1"}]}}]}});
    let p = dir.join("enhanced.json");
    std::fs::write(&p, serde_json::to_vec(&page).unwrap()).unwrap();
    p
}

fn judge(p: &Path, extra: &[&str]) -> (i32, Value) {
    run_json(
        bbgate()
            .arg("verify")
            .arg("--findings")
            .arg(p)
            .arg("--api-report")
            .arg("../shared/fixtures-upstream/cucumber-cck-messages/minimal.ndjson")
            .args(extra),
    )
}

#[test]
fn cvss_versions_as_feeds_spell_them_are_used_and_an_unknown_one_with_a_score_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for version in ["3.1.0", "CVSSv3", "CVSS:3.1", "3.1"] {
        let p = enhanced(
            dir.path(),
            json!([{"baseScore": 9.8, "version": version, "source": "NVD"}]),
        );
        let (code, v) = judge(&p, &[]);
        assert_eq!(code, 1, "{version}: {v}");
        assert_eq!(finding(&v, "CVE-2026-4242")["outcome"], "blocked", "{version}");
    }
    let p = enhanced(
        dir.path(),
        json!([{"baseScore": 9.8, "version": "CVSS-next", "source": "NVD"}]),
    );
    let (code, out, err) = run(bbgate().arg("verify").arg("--findings").arg(&p));
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("unknown version \"CVSS-next\" carries baseScore 9.8"),
        "{err}"
    );
}

#[test]
fn an_unreadable_vector_without_a_score_is_not_judged_by_its_label_alone() {
    let dir = tempfile::tempdir().unwrap();
    let p = enhanced(
        dir.path(),
        json!([{"scoringVector": "CVSS:3.1/AV:N/garbage", "version": "3.1", "source": "NVD"}]),
    );
    // The label (MEDIUM) would allow it; the policy's unscored rule (default warn) is the worse of the two.
    let (code, v) = judge(&p, &[]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(finding(&v, "CVE-2026-4242")["outcome"], "warned", "{v}");
    // With unscored = "block", it blocks.
    let policy = dir.path().join("p.toml");
    std::fs::write(
        &policy,
        std::fs::read_to_string("policies/sandbox.toml")
            .unwrap()
            .replace("unscored = \"warn\"", "unscored = \"block\""),
    )
    .unwrap();
    let (code, v) = judge(&p, &["--policy", policy.to_str().unwrap()]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(finding(&v, "CVE-2026-4242")["outcome"], "blocked");
}

#[test]
fn text_that_is_not_utf8_json_is_refused_with_what_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let p = pages(dir.path(), &[257]).remove(0);
    let bytes = std::fs::read(&p).unwrap();
    // Invalid UTF-8 inside a string that no field reads (the description).
    let at = bytes.windows(11).position(|w| w == b"description").unwrap() + 15;
    let mut bad = bytes.clone();
    bad[at] = 0xFF;
    std::fs::write(&p, &bad).unwrap();
    let (code, _, err) = verify(&[&p]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not UTF-8 at byte"), "{err}");
    let mut bom = vec![0xEF, 0xBB, 0xBF];
    bom.extend(&bytes);
    std::fs::write(&p, &bom).unwrap();
    let (_, _, err) = verify(&[&p]);
    assert!(err.contains("byte-order mark"), "{err}");
    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(
            String::from_utf8(bytes)
                .unwrap()
                .encode_utf16()
                .flat_map(u16::to_le_bytes),
        )
        .collect();
    std::fs::write(&p, &utf16).unwrap();
    let (_, _, err) = verify(&[&p]);
    assert!(err.contains("UTF-16 text"), "{err}");
}

#[test]
fn repository_names_outside_ecrs_grammar_are_refused_before_any_glob() {
    let dir = tempfile::tempdir().unwrap();
    // `bb/im/**` would match `bb/im/../payments/adapter`.
    let p = one_page(dir.path(), |v| v["repositoryName"] = json!("bb/im/../payments/adapter"));
    let (code, _, err) = verify(&[&p]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is not an ECR repository name"), "{err}");
    let (code, _, err) = run(bbgate().args(["verify", "--image", "bb/im/../payments/adapter:1"]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is not an ECR repository name"), "{err}");
}

#[test]
fn foreign_formats_are_named() {
    let real = "../shared/fixtures-upstream/real-world";
    for (file, expected) in [
        (
            "ecr/dynatrace-doc-unguard-frontend.array-as-published.json",
            "an array of describe-image-scan-findings responses",
        ),
        (
            "ecr/inspector-scan-sbom-codebuild-log.extracted.json",
            "aws inspector-scan scan-sbom",
        ),
        (
            "trivy/alpine-310.legacy-array@aca31dff.json.golden",
            "a Trivy report from before schema version 2",
        ),
        // Trivy and Grype JSON are read (predictions); under the built-in policy their images are nobody's.
        (
            "trivy/alpine-310.json.golden",
            "no building block in the policy (built-in) owns repository \"aquasecurity/trivy-test-images\"",
        ),
        ("trivy/alpine-310.sarif.golden", "It looks like a SARIF log"),
        ("trivy/alpine-310.asff.golden", "AWS Security Hub findings (ASFF)"),
        (
            "grype/TestJsonImgsPresenter.golden",
            "no building block in the policy (built-in) owns repository \"user-input\"",
        ),
    ] {
        let (code, _, err) = verify(&[Path::new(&format!("{real}/{file}"))]);
        assert_eq!(code, 2, "{file}: {err}");
        assert!(err.contains(expected), "{file}: missing {expected:?} in {err}");
    }
}
