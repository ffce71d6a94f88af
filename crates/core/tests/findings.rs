//! ECR scan pages as AWS writes them: real upstream pages from ../shared, and pages built here to probe every
//! rule the reader applies. Each refusal is checked by its message, each accepted value by its value.

#![allow(clippy::unwrap_used)] // a test fails loudly where it unwraps

mod common;
use common::{Msgs, upstream_path};

use bbgate_core::error::Error;
use bbgate_core::findings::ecr::{Page, is_repository_name, is_sha256_digest, merge, parse_page};
use bbgate_core::findings::{Finding, ScanType, ScoreCandidate, ScoreKind, Severity, cvss};
use serde_json::{Value, json};
use std::path::Path;

fn upstream(rel: &str) -> Page {
    let path = upstream_path(rel);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parse_page(&path, &bytes).unwrap()
}

const DIGEST: &str = "sha256:abababababababababababababababababababababababababababababababab";

fn page(findings: Value) -> Value {
    json!({
        "registryId": "123456789012",
        "repositoryName": "bb/payments/api",
        "imageId": {"imageDigest": DIGEST, "imageTag": "1.0"},
        "imageScanStatus": {"status": "COMPLETE", "description": "done"},
        "imageScanFindings": {
            "imageScanCompletedAt": 1_700_000_000.5,
            "vulnerabilitySourceUpdatedAt": "2023-11-14T22:13:20Z",
            "findingSeverityCounts": {"HIGH": 1},
            "findings": findings,
        }
    })
}

fn parse(v: &Value) -> Result<Page, Error> {
    parse_page(Path::new("page.json"), v.to_string().as_bytes())
}

fn refused(v: &Value) -> String {
    match parse(v) {
        Err(Error::Invalid(p)) => p.join("\n"),
        Err(e) => panic!("not invalid input: {e}"),
        Ok(p) => panic!("accepted: {:?}", p.scan.findings),
    }
}

fn one(v: &Value) -> Finding {
    let mut p = parse(v).unwrap();
    assert_eq!(p.scan.findings.len(), 1);
    p.scan.findings.remove(0)
}

fn basic(attrs: Value) -> Value {
    page(json!([{"name": "CVE-1", "severity": "HIGH", "attributes": attrs}]))
}

fn enhanced(f: Value) -> Value {
    let mut p = page(json!(null));
    let s = p["imageScanFindings"].as_object_mut().unwrap();
    s.remove("findings");
    s.insert("enhancedFindings".into(), json!([f]));
    p["imageScanStatus"]["status"] = json!("ACTIVE");
    p
}

fn cand(kind: ScoreKind, value: f64, source: &str) -> ScoreCandidate {
    ScoreCandidate {
        kind,
        value,
        source: source.to_owned().into(),
    }
}

#[test]
fn a_real_basic_scan_reads_every_field() {
    let p = upstream("ecr-basic-scan-cultureamp/scan-findings-example-a.json");
    let s = &p.scan;
    assert_eq!(s.image.repository, "sample-repo");
    assert_eq!(s.image.registry_id.as_deref(), Some("123456789012"));
    assert_eq!(
        s.image.digest,
        "sha256:74b2c688c700ec95a93e478cdb959737c148df3fbf5ea706abe0318726e885e6"
    );
    assert_eq!(s.image.tag, None);
    assert_eq!(
        (s.status.as_str(), s.status_description.as_deref()),
        ("COMPLETE", Some("The scan was completed successfully."))
    );
    assert_eq!(
        s.completed_at.unwrap().to_string(),
        "2020-01-24T04:11:45Z",
        "+1100 offsets are read"
    );
    assert_eq!(s.source_updated_at.unwrap().to_string(), "2020-01-23T20:25:17Z");
    assert_eq!(s.severity_counts.get("MEDIUM"), Some(&1));
    assert!(!p.has_next_token);
    let ids: Vec<(&str, Severity, &str, &str)> = s
        .findings
        .iter()
        .map(|f| {
            (
                f.id.as_str(),
                f.severity,
                f.package.as_str(),
                f.package_version.as_str(),
            )
        })
        .collect();
    assert_eq!(
        ids,
        [
            ("CVE-2019-5188", Severity::Medium, "e2fsprogs", "1.44.1-1ubuntu1.1"),
            ("CVE-2019-9923", Severity::Informational, "tar", "1.30+dfsg-6"),
            ("CVE-2021-22876", Severity::Undefined, "curl", "7.64.0-4+deb10u1"),
        ]
    );
    assert_eq!(s.findings[0].candidates, [cand(ScoreKind::Cvss2, 4.6, "CVSS2_SCORE")]);
    assert_eq!(s.findings[1].candidates, [cand(ScoreKind::Cvss2, 5.0, "CVSS2_SCORE")]);
    assert!(s.findings[2].candidates.is_empty());
    assert!(
        s.findings
            .iter()
            .all(|f| f.scan_type == ScanType::Basic && f.notes.is_empty() && !f.unreadable_score)
    );
    // Its counts say 1 but it holds 3: a single page, so every finding held is judged, with a note.
    let (scan, notes) = merge(vec![p]).unwrap();
    assert_eq!(scan.findings.len(), 3);
    assert_eq!(
        notes.msgs(),
        ["the pages hold 3 findings but findingSeverityCounts sums to 1; every finding held is judged"]
    );
}

#[test]
fn a_real_enhanced_scan_reads_every_score() {
    let p = upstream("real-world/ecr/aws-apiref-enhanced-sample.trailing-commas-removed.json");
    assert_eq!(p.scan.status, "ACTIVE");
    let f = &p.scan.findings[0];
    assert_eq!(
        (f.id.as_str(), f.package.as_str(), f.package_version.as_str()),
        ("CVE-2022-49043", "libxml2", "2.9.14+dfsg")
    );
    assert_eq!(f.scan_type, ScanType::Enhanced);
    assert_eq!(f.severity, Severity::High);
    assert_eq!(
        f.candidates,
        [
            cand(ScoreKind::Cvss3, 8.1, "NVD"),
            cand(ScoreKind::Ecr, 8.1, "ecr score (NVD)")
        ]
    );
    let b = upstream("ecr-basic-scan-cultureamp/scan-findings-example-b.json");
    assert_eq!(b.scan.findings.len(), 257);
    let (scan, notes) = merge(vec![b]).unwrap();
    assert_eq!(
        (scan.findings.len(), notes.len()),
        (257, 0),
        "the counts add up to the findings held"
    );
    // The AWS documentation's sample as published has trailing commas: not JSON, and said so.
    let path = upstream_path("real-world/ecr/aws-apiref-enhanced-sample.as-published.json");
    let err = parse_page(&path, &std::fs::read(&path).unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(
            "not a describe-image-scan-findings response: at `imageScanFindings.enhancedFindings`: trailing comma"
        ),
        "{err}"
    );
    // A failed scan has no findings and says why.
    let failed = upstream("real-world/ecr/strongjz-golang-0.1.21-scratch-failed-cliv1.json");
    assert_eq!(failed.scan.status, "FAILED");
    assert!(failed.scan.findings.is_empty());
}

#[test]
fn basic_attributes_become_scores() {
    let f = one(&basic(json!([
        {"key": "package_name", "value": "openssl"},
        {"key": "package_version", "value": "3.0"},
        {"key": "CVSS3_SCORE", "value": "9.8"},
        {"key": "CVSS3_VECTOR", "value": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"},
        {"key": "CVSS2_SCORE", "value": " 7.5 "},
        {"key": "CVSS2_VECTOR", "value": "AV:N/AC:L/Au:N/C:P/I:P/A:P"},
        {"key": "other", "value": "ignored"},
        {"key": "CVSS3_SCORE"},
    ])));
    assert_eq!(
        (f.id.as_str(), f.package.as_str(), f.package_version.as_str()),
        ("CVE-1", "openssl", "3.0")
    );
    assert_eq!(
        f.candidates,
        [
            cand(ScoreKind::Cvss2, 7.5, "CVSS2_SCORE"),
            cand(ScoreKind::Cvss3, 9.8, "CVSS3_SCORE")
        ]
    );
    assert!(f.notes.is_empty(), "{:?}", f.notes);
    // A score that disagrees with its vector: the higher one, with a note.
    let f = one(&basic(json!([
        {"key": "CVSS3_SCORE", "value": "5.0"},
        {"key": "CVSS3_VECTOR", "value": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"},
    ])));
    assert_eq!(f.candidates, [cand(ScoreKind::Cvss3, 9.8, "CVSS3_SCORE")]);
    assert_eq!(
        f.notes,
        ["cvss3 (CVSS3_SCORE): published score 5 disagrees with its vector (computes to 9.8); using 9.8"]
    );
    // Within 0.1 the published score stands.
    let f = one(&basic(json!([
        {"key": "CVSS3_SCORE", "value": "9.7"},
        {"key": "CVSS3_VECTOR", "value": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"},
    ])));
    assert_eq!((f.candidates[0].value, f.notes.len()), (9.7, 0));
    // A vector alone is a score; an unreadable vector alone is an unreadable score.
    let f = one(&basic(
        json!([{"key": "CVSS2_VECTOR", "value": "(AV:N/AC:L/Au:N/C:C/I:C/A:C)"}]),
    ));
    assert_eq!(f.candidates, [cand(ScoreKind::Cvss2, 10.0, "CVSS2_SCORE")]);
    let f = one(&basic(json!([{"key": "CVSS3_VECTOR", "value": "CVSS:3.1/AV:X"}])));
    assert!(f.candidates.is_empty() && f.unreadable_score);
    assert_eq!(
        f.notes,
        ["cvss3 (CVSS3_SCORE): vector \"CVSS:3.1/AV:X\" does not parse and no score is published"]
    );
    let f = one(&basic(json!([{"key": "CVSS3_VECTOR", "value": "  "}])));
    assert!(
        f.candidates.is_empty() && !f.unreadable_score && f.notes.is_empty(),
        "a blank vector is no vector"
    );
    let f = one(&basic(json!([
        {"key": "CVSS3_SCORE", "value": "6.1"},
        {"key": "CVSS3_VECTOR", "value": "nonsense"},
    ])));
    assert_eq!(f.candidates, [cand(ScoreKind::Cvss3, 6.1, "CVSS3_SCORE")]);
    assert_eq!(
        f.notes,
        ["cvss3 (CVSS3_SCORE): vector \"nonsense\" does not parse; using the published score 6.1"]
    );
    assert!(!f.unreadable_score);
}

#[test]
fn bad_basic_findings_are_refused_by_index() {
    for (attrs, expected) in [
        (
            json!([{"key": "CVSS3_SCORE", "value": "high"}]),
            "page.json: findings[0]: CVE-1: CVSS3_SCORE \"high\" is not a score between 0 and 10",
        ),
        (
            json!([{"key": "CVSS2_SCORE", "value": "10.1"}]),
            "page.json: findings[0]: CVE-1: CVSS2_SCORE \"10.1\" is not a score between 0 and 10",
        ),
        (
            json!([{"key": "CVSS2_SCORE", "value": ""}]),
            "page.json: findings[0]: CVE-1: CVSS2_SCORE \"\" is not a score between 0 and 10",
        ),
        (
            json!([{"key": "CVSS3_SCORE", "value": "NaN"}]),
            "page.json: findings[0]: CVE-1: CVSS3_SCORE \"NaN\" is not a score between 0 and 10",
        ),
        (
            json!([{"key": "CVSS3_SCORE", "value": "1.0"}, {"key": "CVSS3_SCORE", "value": "9.9"}]),
            "page.json: findings[0]: CVE-1: attribute CVSS3_SCORE appears twice: which value counts is ambiguous",
        ),
        (
            json!([{"key": "package_name", "value": "a"}, {"key": "package_name", "value": "b"}]),
            "page.json: findings[0]: CVE-1: attribute package_name appears twice: which value counts is ambiguous",
        ),
    ] {
        assert_eq!(refused(&basic(attrs.clone())), expected, "{attrs}");
    }
    let cases = [
        (
            json!({"severity": "HIGH"}),
            "page.json: findings[0]: no `name` (the vulnerability id)",
        ),
        (
            json!({"name": "", "severity": "HIGH"}),
            "page.json: findings[0]: no `name` (the vulnerability id)",
        ),
        (json!({"name": "CVE-1"}), "page.json: findings[0]: no `severity`"),
        (
            json!({"name": "CVE-1", "severity": "high"}),
            "page.json: findings[0]: unknown severity \"high\" (known: INFORMATIONAL, LOW, MEDIUM, HIGH, CRITICAL, \
             UNDEFINED, UNTRIAGED)",
        ),
    ];
    for (f, expected) in cases {
        assert_eq!(
            refused(&page(json!([{"name": "CVE-0", "severity": "LOW"}, f]))),
            expected.replace("[0]", "[1]")
        );
    }
    // Every label ECR uses is known.
    for label in [
        "INFORMATIONAL",
        "LOW",
        "MEDIUM",
        "HIGH",
        "CRITICAL",
        "UNDEFINED",
        "UNTRIAGED",
    ] {
        let f = one(&page(json!([{"name": "X", "severity": label}])));
        assert_eq!(f.severity.as_str(), label);
        assert_eq!(Severity::parse(label), Some(f.severity));
    }
}

#[test]
fn enhanced_findings_read_ids_packages_and_every_score() {
    let vector31 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H";
    let f = one(&enhanced(json!({
        "title": "CVE-2 - a, b",
        "severity": "CRITICAL",
        "score": 9.8,
        "scoreDetails": {"cvss": {"score": 9.8, "scoringVector": vector31, "scoreSource": "NVD"}},
        "packageVulnerabilityDetails": {
            "vulnerabilityId": "CVE-2",
            "vulnerablePackages": [{"name": "a", "version": "1"}, {"name": "b"}],
            "cvss": [
                {"baseScore": 9.8, "scoringVector": vector31, "source": "NVD", "version": "3.1"},
                {"baseScore": 7.5, "scoringVector": "AV:N/AC:L/Au:N/C:P/I:P/A:P", "source": "NVD", "version": "2.0"},
                {"baseScore": 9.3, "scoringVector": "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", "source": "GHSA", "version": "4.0"},
            ]
        }
    })));
    assert_eq!(
        (f.id.as_str(), f.package.as_str(), f.package_version.as_str()),
        ("CVE-2", "a, b", "1, ")
    );
    assert_eq!(
        f.candidates,
        [
            cand(ScoreKind::Cvss3, 9.8, "NVD"),
            cand(ScoreKind::Cvss2, 7.5, "NVD"),
            cand(ScoreKind::Cvss4, 9.3, "GHSA"),
            cand(ScoreKind::Ecr, 9.8, "ecr score (NVD)"),
        ]
    );
    assert!(f.notes.is_empty(), "{:?}", f.notes);
    // The id falls back to the title's first word; the version to the vector's prefix.
    let f = one(&enhanced(json!({
        "title": "GHSA-xxxx-yyyy - pkg",
        "severity": "HIGH",
        "packageVulnerabilityDetails": {"cvss": [{"baseScore": 7.5, "scoringVector": "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"}]}
    })));
    assert_eq!(f.id, "GHSA-xxxx-yyyy");
    assert_eq!(f.candidates, [cand(ScoreKind::Cvss3, 7.5, "cvss[]")]);
    let f = one(&enhanced(json!({
        "title": "CVE-2026-7 - pkg",
        "severity": "LOW",
        "packageVulnerabilityDetails": {"vulnerabilityId": ""}
    })));
    assert_eq!(f.id, "CVE-2026-7", "an empty vulnerabilityId is no id: the title's");
    // ECR's score without details: 0.0 is what UNTRIAGED carries, and is no score; anything else is one.
    let f = one(&enhanced(
        json!({"title": "CVE-3", "severity": "UNTRIAGED", "score": 0.0}),
    ));
    assert!(f.candidates.is_empty());
    let f = one(&enhanced(json!({"title": "CVE-3", "severity": "HIGH", "score": 7.2})));
    assert_eq!(f.candidates, [cand(ScoreKind::Ecr, 7.2, "ecr score")]);
    let f = one(&enhanced(
        json!({"title": "CVE-3", "severity": "HIGH", "scoreDetails": {"cvss": {"score": 7.3}}}),
    ));
    assert_eq!(f.candidates, [cand(ScoreKind::Ecr, 7.3, "ecr score")]);
    let f = one(&enhanced(
        json!({"title": "CVE-3", "severity": "HIGH", "score": 0.0, "scoreDetails": {"cvss": {"score": 0.0}}}),
    ));
    assert_eq!(
        f.candidates,
        [cand(ScoreKind::Ecr, 0.0, "ecr score")],
        "with details, 0.0 is a score"
    );
    // Version spellings seen in feeds.
    for (version, kind) in [
        ("3.1", ScoreKind::Cvss3),
        ("CVSS:3.0", ScoreKind::Cvss3),
        ("v2", ScoreKind::Cvss2),
        ("cvssv4.0", ScoreKind::Cvss4),
        ("4", ScoreKind::Cvss4),
    ] {
        let f = one(&enhanced(
            json!({"title": "CVE-4", "severity": "LOW", "packageVulnerabilityDetails": {"cvss": [{"baseScore": 1.0, "version": version}]}}),
        ));
        assert_eq!(f.candidates[0].kind, kind, "{version}");
    }
    // An entry of unknown version: with a score it is refused (a score would be dropped), without one it is noted.
    assert_eq!(
        refused(&enhanced(
            json!({"title": "CVE-5", "severity": "LOW", "packageVulnerabilityDetails": {"cvss": [{"baseScore": 9.9, "version": "5.0"}]}})
        )),
        "page.json: enhancedFindings[0]: CVE-5: a cvss entry of unknown version \"5.0\" carries baseScore 9.9: bbgate \
         cannot tell which kind of score it is, and will not drop it"
    );
    let f = one(&enhanced(
        json!({"title": "CVE-5", "severity": "LOW", "packageVulnerabilityDetails": {"cvss": [{"version": "3.x"}]}}),
    ));
    assert!(f.unreadable_score);
    assert_eq!(f.notes, ["cvss entry with unknown version \"3.x\" and no score"]);
    for (f, expected) in [
        (
            json!({"title": "CVE-6", "severity": "LOW", "score": 11.0}),
            "page.json: enhancedFindings[0]: CVE-6: score 11 is not between 0 and 10",
        ),
        (
            json!({"title": "CVE-6", "severity": "LOW", "score": -1.0, "scoreDetails": {"cvss": {}}}),
            "page.json: enhancedFindings[0]: CVE-6: score -1 is not between 0 and 10",
        ),
        (
            json!({"title": "CVE-6", "severity": "LOW", "packageVulnerabilityDetails": {"cvss": [{"baseScore": 10.5, "version": "3.1"}]}}),
            "page.json: enhancedFindings[0]: CVE-6: cvss baseScore 10.5 is not between 0 and 10",
        ),
        (
            json!({"severity": "LOW"}),
            "page.json: enhancedFindings[0]: no `packageVulnerabilityDetails.vulnerabilityId` and no `title`",
        ),
        (
            json!({"title": "CVE-6", "severity": "SEVERE"}),
            "page.json: enhancedFindings[0]: unknown severity \"SEVERE\" (known: INFORMATIONAL, LOW, MEDIUM, HIGH, \
             CRITICAL, UNDEFINED, UNTRIAGED)",
        ),
        (json!({"title": "CVE-6", "severity": "LOW", "score": "7.5"}), ""),
    ] {
        let msg = refused(&enhanced(f.clone()));
        if expected.is_empty() {
            assert!(
                msg.starts_with(
                    "page.json: not a describe-image-scan-findings response: at \
                     `imageScanFindings.enhancedFindings[0].score`: invalid type: string"
                ),
                "{msg}"
            );
        } else {
            assert_eq!(msg, expected, "{f}");
        }
    }
}

#[test]
fn the_page_itself_must_be_a_scan_of_one_image() {
    let good = page(json!([]));
    let mut v = good.clone();
    v.as_object_mut().unwrap().remove("repositoryName");
    assert_eq!(
        refused(&v),
        "page.json: no `repositoryName`: bbgate judges a BB by its own repositories and must know which one this is"
    );
    v["repositoryName"] = json!("");
    assert!(refused(&v).contains("no `repositoryName`"));
    v["repositoryName"] = json!("bb/../x");
    assert_eq!(
        refused(&v),
        "page.json: repositoryName \"bb/../x\" is not an ECR repository name (lowercase path segments of letters and \
         digits joined by . _ -, 2 to 256 characters): no real scan carries it"
    );
    let mut v = good.clone();
    v.as_object_mut().unwrap().remove("imageId");
    assert_eq!(
        refused(&v),
        "page.json: no `imageId`: the evidence must bind to an image digest"
    );
    for d in [
        json!(null),
        json!("sha256:abc"),
        json!(DIGEST.replace("sha256", "sha512")),
    ] {
        let mut v = good.clone();
        v["imageId"]["imageDigest"] = d;
        assert_eq!(
            refused(&v),
            "page.json: no valid `imageId.imageDigest` (sha256:<64 hex>): query the scan by digest, or save output that includes it"
        );
    }
    let mut v = good.clone();
    v.as_object_mut().unwrap().remove("imageScanStatus");
    assert_eq!(refused(&v), "page.json: no `imageScanStatus`");
    let mut v = good.clone();
    v["imageScanStatus"]["status"] = json!("");
    assert_eq!(refused(&v), "page.json: `imageScanStatus.status` is missing");
    for status in ["COMPLETE", "ACTIVE"] {
        let mut v = good.clone();
        v.as_object_mut().unwrap().remove("imageScanFindings");
        v["imageScanStatus"]["status"] = json!(status);
        assert_eq!(
            refused(&v),
            format!("page.json: status {status} but no `imageScanFindings`: the output is cut short")
        );
    }
    let mut v = good.clone();
    v.as_object_mut().unwrap().remove("imageScanFindings");
    v["imageScanStatus"]["status"] = json!("IN_PROGRESS");
    let p = parse(&v).unwrap();
    assert_eq!(
        (p.scan.status.as_str(), p.scan.findings.len(), p.scan.completed_at),
        ("IN_PROGRESS", 0, None)
    );
    // Times: epoch seconds with a fraction, ISO text; anything else is named.
    let p = parse(&good).unwrap();
    assert_eq!(p.scan.completed_at.unwrap().to_string(), "2023-11-14T22:13:20.5Z");
    assert_eq!(p.scan.source_updated_at.unwrap().as_second(), 1_700_000_000);
    assert_eq!(p.scan.image.tag.as_deref(), Some("1.0"));
    let mut v = good.clone();
    v["imageScanFindings"]["imageScanCompletedAt"] = json!("yesterday");
    assert_eq!(
        refused(&v),
        "page.json: imageScanCompletedAt: \"yesterday\" is not an ISO-8601 timestamp with an offset"
    );
    v["imageScanFindings"]["imageScanCompletedAt"] = json!("2023-11-14T22:13:20");
    assert!(refused(&v).contains("is not an ISO-8601 timestamp with an offset"));
    let mut v = good.clone();
    v["imageScanFindings"]["vulnerabilitySourceUpdatedAt"] = json!(1e300);
    assert!(
        refused(&v).starts_with("page.json: vulnerabilitySourceUpdatedAt: epoch 1e300 out of range"),
        "{}",
        refused(&v)
    );
    let mut v = good.clone();
    v["imageScanFindings"]["imageScanCompletedAt"] = json!("2020-01-24T15:11:45-0130");
    assert_eq!(
        parse(&v).unwrap().scan.completed_at.unwrap().to_string(),
        "2020-01-24T16:41:45Z"
    );
    // nextToken: present and non-empty means more pages.
    let mut v = good.clone();
    v["nextToken"] = json!("t");
    assert!(parse(&v).unwrap().has_next_token);
    v["nextToken"] = json!("");
    assert!(!parse(&v).unwrap().has_next_token);
}

#[test]
fn what_the_file_is_when_it_is_not_a_scan_page() {
    let err = |bytes: &[u8]| parse_page(Path::new("f.json"), bytes).unwrap_err().to_string();
    assert!(err(b"\xFF\xFE{\0}\0").starts_with("f.json: UTF-16 text (PowerShell's `>` writes it)"));
    assert!(err(b"\xFE\xFF\0{\0}").starts_with("f.json: UTF-16 text"));
    assert_eq!(
        err(b"\xEF\xBB\xBF{}"),
        "f.json: the file starts with a UTF-8 byte-order mark, which JSON does not allow: save it without one"
    );
    assert_eq!(
        err(b"{\0\"\0"),
        "f.json: UTF-16 text without a byte-order mark: save the page as UTF-8"
    );
    assert_eq!(
        err(b"\0{"),
        "f.json: UTF-16 text without a byte-order mark: save the page as UTF-8"
    );
    assert_eq!(
        err(b"{\"a\": \"\xC3\x28\"}"),
        "f.json: not UTF-8 at byte 7 (a damaged or re-encoded file): save the page as AWS wrote it"
    );
    assert!(err(b"{\"imageScanStatus\": {").starts_with("f.json: truncated JSON ("));
    assert!(err(b"{} x").starts_with("f.json: not a describe-image-scan-findings response: trailing characters"));
    let tail = ". bbgate reads the output of `aws ecr describe-image-scan-findings --repository-name R --image-id \
                imageDigest=D`, one page per file";
    for (doc, what) in [
        (
            json!([{"imageScanFindings": {}}]),
            "an array of describe-image-scan-findings responses (as some tools wrap them): save each element as its own page file",
        ),
        (
            json!([{"Target": "x", "Vulnerabilities": []}]),
            "a Trivy report from before schema version 2 (a bare list of targets); bbgate reads ECR's scan",
        ),
        (
            json!([{"SchemaVersion": "2018-10-08"}]),
            "AWS Security Hub findings (ASFF); bbgate reads ECR's own scan output",
        ),
        (
            json!([{"Id": "x", "ProductArn": "y"}]),
            "AWS Security Hub findings (ASFF); bbgate reads ECR's own scan output",
        ),
        (
            json!([{"severity": "x", "related": [], "created": "t"}]),
            "vulnerabilities of `aws inspector-scan scan-sbom` (Inspector's SBOM scan, not ECR's image scan)",
        ),
        (
            json!([1]),
            "a JSON array, not one describe-image-scan-findings response",
        ),
        (
            json!([{"Target": "x"}]),
            "a JSON array, not one describe-image-scan-findings response",
        ),
        (
            json!([{"Vulnerabilities": []}]),
            "a JSON array, not one describe-image-scan-findings response",
        ),
        (
            json!([{"Id": "x"}]),
            "a JSON array, not one describe-image-scan-findings response",
        ),
        (
            json!([{"ProductArn": "x"}]),
            "a JSON array, not one describe-image-scan-findings response",
        ),
        (
            json!([{"severity": "x", "related": []}]),
            "a JSON array, not one describe-image-scan-findings response",
        ),
        (
            json!([{"severity": "x", "created": "t"}]),
            "a JSON array, not one describe-image-scan-findings response",
        ),
        (
            json!([{"related": [], "created": "t"}]),
            "a JSON array, not one describe-image-scan-findings response",
        ),
        (
            json!([{"imageScanStatus": {}}]),
            "an array of describe-image-scan-findings responses (as some tools wrap them): save each element as its own page file",
        ),
    ] {
        assert_eq!(
            err(doc.to_string().as_bytes()),
            format!("f.json: the file holds {what}{tail}"),
            "{doc}"
        );
    }
    let tail = " bbgate reads the output of `aws ecr describe-image-scan-findings --repository-name R --image-id imageDigest=D`";
    for (doc, what) in [
        (
            json!({"findings": [], "nextToken": "x"}),
            "[findings, nextToken]). It looks like Inspector2 ListFindings output;",
        ),
        (
            json!({"findings": [], "filterCriteria": {}}),
            "[filterCriteria, findings]). It looks like Inspector2 ListFindings output;",
        ),
        (
            json!({"SchemaVersion": 2}),
            "[SchemaVersion]). It looks like a Trivy report;",
        ),
        (json!({"Results": []}), "[Results]). It looks like a Trivy report;"),
        (json!({"matches": []}), "[matches]). It looks like a Grype report;"),
        (
            json!({"runs": [], "version": "2.1.0"}),
            "[runs, version]). It looks like a SARIF log;",
        ),
        (
            json!({"runs": [], "$schema": "s"}),
            "[$schema, runs]). It looks like a SARIF log;",
        ),
        (
            json!({"Findings": []}),
            "[Findings]). It looks like AWS Security Hub findings (ASFF);",
        ),
        (
            json!({"sbom": {}}),
            "[sbom]). It looks like `aws inspector-scan scan-sbom` output;",
        ),
        (
            json!({"scan": {}}),
            "[scan]). It looks like `aws inspector-scan scan-sbom` output;",
        ),
        (json!({"findings": []}), "[findings])."),
        (json!({"nextToken": "x"}), "[nextToken])."),
        (json!({"version": "2.1.0"}), "[version])."),
        (json!({"runs": []}), "[runs])."),
    ] {
        assert_eq!(
            err(doc.to_string().as_bytes()),
            format!(
                "f.json: unknown JSON shape: no `imageScanStatus` or `imageScanFindings` (top-level keys: {what}{tail}"
            ),
            "{doc}"
        );
    }
    // Counts must be a map of counts.
    let not_a_map = br#"{"repositoryName":"a/b","imageId":{"imageDigest":"sha256:abababababababababababababababababababababababababababababababab"},"imageScanStatus":{"status":"COMPLETE"},"imageScanFindings":{"findingSeverityCounts":[1]}}"#;
    assert!(
        err(not_a_map).contains("expected a map of severity to count"),
        "{}",
        err(not_a_map)
    );
    // Counts: a key twice is ambiguous.
    let counts = br#"{"repositoryName":"a/b","imageId":{"imageDigest":"sha256:abababababababababababababababababababababababababababababababab"},"imageScanStatus":{"status":"COMPLETE"},"imageScanFindings":{"findingSeverityCounts":{"CRITICAL":1,"CRITICAL":0}}}"#;
    assert!(
        err(counts).contains("findingSeverityCounts names CRITICAL twice: which count is meant is ambiguous"),
        "{}",
        err(counts)
    );
}

#[test]
fn repository_names_and_digests_follow_their_grammar() {
    for ok in ["ab", "bb/payments/api", "a.b_c-d/e1", "0a", &"a".repeat(256)] {
        assert!(is_repository_name(ok), "{ok}");
    }
    for bad in [
        "a",
        "",
        "A/b",
        "a//b",
        "/a",
        "a/",
        "a..b",
        "a._b",
        "-a",
        "a-",
        "a/.b",
        "a/b.",
        "a b",
        &"a".repeat(257),
    ] {
        assert!(!is_repository_name(bad), "{bad}");
    }
    assert!(is_sha256_digest(DIGEST));
    assert!(is_sha256_digest(&DIGEST.to_uppercase().replace("SHA256", "sha256")));
    for bad in [
        &DIGEST[..70],
        "sha256:",
        &DIGEST.replace('a', "g"),
        &format!("{DIGEST}0"),
        &DIGEST[7..],
    ] {
        assert!(!is_sha256_digest(bad), "{bad}");
    }
}

fn page_of(name: &str, ids: &[&str], next: bool, counts: Value) -> Page {
    let findings: Vec<Value> = ids.iter().map(|id| json!({"name": id, "severity": "HIGH"})).collect();
    let mut v = page(json!(findings));
    v["imageScanFindings"]["findingSeverityCounts"] = counts;
    if next {
        v["nextToken"] = json!("more");
    }
    parse_page(Path::new(name), v.to_string().as_bytes()).unwrap()
}

fn merge_err(pages: Vec<Page>) -> Vec<String> {
    match merge(pages) {
        Err(Error::Invalid(p)) => p,
        other => panic!("{other:?}"),
    }
}

#[test]
fn pages_merge_only_when_they_are_one_complete_read() {
    let counts = json!({"HIGH": 3});
    let (scan, notes) = merge(vec![
        page_of("1.json", &["A", "B"], true, counts.clone()),
        page_of("2.json", &["C"], false, counts.clone()),
    ])
    .unwrap();
    assert_eq!(scan.pages, 2);
    assert_eq!(
        scan.findings.iter().map(|f| f.id.as_str()).collect::<Vec<_>>(),
        ["A", "B", "C"]
    );
    assert!(notes.msgs().is_empty());
    assert_eq!(merge_err(vec![]), ["no findings pages given: pass --findings FILE…"]);
    assert_eq!(
        merge_err(vec![page_of("1.json", &["A", "B"], true, counts.clone())]),
        ["every findings page given carries a nextToken: the last page is missing (1 pages given); save every page"]
    );
    assert_eq!(
        merge_err(vec![
            page_of("1.json", &["A", "B"], false, counts.clone()),
            page_of("2.json", &["C"], false, counts.clone()),
        ]),
        [
            "2 of the 2 pages given carry no nextToken, but only a scan's last page ends without one: these are pages of \
          different reads, or one page given twice"
        ]
    );
    assert_eq!(
        merge_err(vec![page_of("1.json", &["A", "B"], false, counts.clone())]),
        [
            "the scan counts 3 findings (findingSeverityCounts) but the 1 page(s) given hold 2: pages are missing; pass every page"
        ]
    );
    assert_eq!(
        merge_err(vec![
            page_of("1.json", &["A", "B"], true, json!({"HIGH": 2})),
            page_of("2.json", &["C"], false, json!({"HIGH": 2})),
        ]),
        [
            "the 2 pages given hold 3 findings, but findingSeverityCounts says 2: pages of other reads are mixed in; pass \
          the pages of one read"
        ]
    );
    assert_eq!(
        merge_err(vec![
            page_of("1.json", &["A"], true, json!({"HIGH": 2})),
            page_of("2.json", &["A"], false, json!({"HIGH": 2})),
        ]),
        [
            "2.json: holds the same findings as 1.json: a page given twice (a copy cannot stand in for a missing page); pass each page once"
        ]
    );
    assert_eq!(
        merge_err(vec![
            page_of("1.json", &["A"], true, json!({"HIGH": 2})),
            page_of("2.json", &["B"], false, json!({"HIGH": 3})),
        ]),
        [
            "2.json: status, completion time or severity counts differ from 1.json's: the pages come from different reads of the scan; save one read's pages"
        ]
    );
    // Each of the three alone tells another read: the status, the completion time.
    for (key, value) in [
        ("status", json!("ACTIVE")),
        ("completed", json!("2023-11-14T22:13:21Z")),
    ] {
        let mut other = page(json!([{"name": "B", "severity": "HIGH"}]));
        other["imageScanFindings"]["findingSeverityCounts"] = json!({"HIGH": 2});
        if key == "status" {
            other["imageScanStatus"]["status"] = value;
        } else {
            other["imageScanFindings"]["imageScanCompletedAt"] = value;
        }
        let other = parse_page(Path::new("2.json"), other.to_string().as_bytes()).unwrap();
        let problems = merge_err(vec![page_of("1.json", &["A"], true, json!({"HIGH": 2})), other]);
        assert!(
            problems[0].contains("come from different reads of the scan"),
            "{key}: {problems:?}"
        );
    }
    assert_eq!(
        merge_err(vec![page_of(
            "1.json",
            &["A"],
            false,
            json!({"HIGH": u64::MAX, "LOW": 1})
        )]),
        ["findingSeverityCounts adds up past 2^64: not counts a scan can have"]
    );
    // Another image's page.
    let mut other = page(json!([{"name": "B", "severity": "HIGH"}]));
    other["repositoryName"] = json!("bb/payments/web");
    other["imageScanFindings"]["findingSeverityCounts"] = json!({"HIGH": 2});
    let other = parse_page(Path::new("2.json"), other.to_string().as_bytes()).unwrap();
    assert_eq!(
        merge_err(vec![page_of("1.json", &["A"], true, json!({"HIGH": 2})), other]),
        [format!(
            "2.json: is a scan of bb/payments/web@{DIGEST} but 1.json is of bb/payments/api@{DIGEST}: pass the pages of one image only"
        )]
    );
    let mut other = page(json!([{"name": "B", "severity": "HIGH"}]));
    other["registryId"] = json!("999999999999");
    other["imageScanFindings"]["findingSeverityCounts"] = json!({"HIGH": 2});
    let other = parse_page(Path::new("2.json"), other.to_string().as_bytes()).unwrap();
    assert_eq!(
        merge_err(vec![page_of("1.json", &["A"], true, json!({"HIGH": 2})), other]),
        ["2.json: registryId differs from 1.json's"]
    );
    // Empty pages are not duplicates of each other; a scan that is not done is not counted.
    let mut v = page(json!([]));
    v["imageScanStatus"]["status"] = json!("IN_PROGRESS");
    v["imageScanFindings"]["findingSeverityCounts"] = json!({"HIGH": 9});
    let p = parse_page(Path::new("1.json"), v.to_string().as_bytes()).unwrap();
    assert_eq!(merge(vec![p]).unwrap().0.findings.len(), 0);
    // The tag is taken from a later page when the first has none.
    let mut first = page(json!([{"name": "A", "severity": "HIGH"}]));
    first["imageId"].as_object_mut().unwrap().remove("imageTag");
    first["nextToken"] = json!("t");
    first["imageScanFindings"]["findingSeverityCounts"] = json!({"HIGH": 2});
    let first = parse_page(Path::new("1.json"), first.to_string().as_bytes()).unwrap();
    let (scan, _) = merge(vec![first, page_of("2.json", &["B"], false, json!({"HIGH": 2}))]).unwrap();
    assert_eq!(scan.image.tag.as_deref(), Some("1.0"));
}

#[test]
fn cvss_scores_are_read_strictly_and_disagreements_resolved_upwards() {
    assert_eq!(cvss::parse_score("7.5"), Some(7.5));
    assert_eq!(cvss::parse_score(" 0 "), Some(0.0));
    assert_eq!(cvss::parse_score("10"), Some(10.0));
    for bad in ["", " ", "10.01", "-0.1", "inf", "NaN", "7,5"] {
        assert_eq!(cvss::parse_score(bad), None, "{bad:?}");
    }
    assert_eq!(
        cvss::base_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"),
        Some(9.8)
    );
    assert_eq!(cvss::base_score(" AV:N/AC:L/Au:N/C:P/I:P/A:P "), Some(7.5));
    assert_eq!(cvss::base_score("(AV:N/AC:L/Au:N/C:P/I:P/A:P)"), Some(7.5));
    assert_eq!(cvss::base_score("(AV:N/AC:L/Au:N/C:P/I:P/A:P"), None);
    let v = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H";
    assert_eq!(cvss::reconcile(Some(9.7), Some(v)), (Some(9.7), None));
    assert_eq!(cvss::reconcile(Some(9.9), Some(v)), (Some(9.9), None));
    assert_eq!(
        cvss::reconcile(Some(10.0), Some(v)),
        (
            Some(10.0),
            Some("published score 10 disagrees with its vector (computes to 9.8); using 10".into())
        )
    );
    assert_eq!(cvss::reconcile(None, Some(v)), (Some(9.8), None));
    assert_eq!(cvss::reconcile(Some(3.0), None), (Some(3.0), None));
    assert_eq!(cvss::reconcile(None, None), (None, None));
}

#[test]
fn score_kinds_and_preference() {
    for (v, k) in [
        ("2.0", Some(ScoreKind::Cvss2)),
        ("3", Some(ScoreKind::Cvss3)),
        ("CVSS 3.1", Some(ScoreKind::Cvss3)),
        ("cvss:4.0", Some(ScoreKind::Cvss4)),
        ("V3.1", Some(ScoreKind::Cvss3)),
        ("3.1.x", None),
        ("5.0", None),
        ("", None),
        ("three", None),
    ] {
        assert_eq!(ScoreKind::from_cvss_version(v), k, "{v:?}");
    }
    let names: Vec<&str> = [ScoreKind::Cvss3, ScoreKind::Cvss4, ScoreKind::Cvss2, ScoreKind::Ecr]
        .iter()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(names, ["cvss3", "cvss4", "cvss2", "ecr"]);
    let f = Finding {
        id: "X".into(),
        package: String::new(),
        package_version: String::new(),
        severity: Severity::Low,
        scan_type: ScanType::Enhanced,
        candidates: vec![
            cand(ScoreKind::Ecr, 5.0, "e"),
            cand(ScoreKind::Cvss2, 6.0, "a"),
            cand(ScoreKind::Cvss2, 6.5, "b"),
        ],
        notes: vec![],
        unreadable_score: false,
        fixed_in: None,
        advisory: None,
    };
    let pick = |pref: &[ScoreKind]| f.select_score(pref).map(|s| (s.kind, s.value, s.source.to_string()));
    assert_eq!(
        pick(&[ScoreKind::Cvss3, ScoreKind::Cvss2]),
        Some((ScoreKind::Cvss2, 6.5, "b".into()))
    );
    assert_eq!(
        pick(&[ScoreKind::Ecr, ScoreKind::Cvss2]),
        Some((ScoreKind::Ecr, 5.0, "e".into()))
    );
    assert_eq!(pick(&[ScoreKind::Cvss3]), None);
    assert_eq!(f.select_score(&[ScoreKind::Cvss2]).unwrap().to_string(), "cvss2 b");
}

#[test]
fn the_fix_and_the_advisory_are_read_as_the_scans_give_them() {
    // Basic: the finding's `uri`.
    let basic = upstream("ecr-basic-scan-cultureamp/scan-findings-example-a.json");
    let f = basic.scan.findings.iter().find(|f| f.id == "CVE-2019-5188").unwrap();
    assert_eq!(
        f.advisory.as_deref(),
        Some("http://people.ubuntu.com/~ubuntu-security/cve/CVE-2019-5188")
    );
    assert_eq!(f.fixed_in, None, "basic scans say no fixed version");
    // Enhanced, AWS's own sample: sourceUrl; "NotAvailable" and "None Provided" are no fix.
    let enhanced = upstream("real-world/ecr/aws-apiref-enhanced-sample.trailing-commas-removed.json");
    let f = enhanced
        .scan
        .findings
        .iter()
        .find(|f| f.id == "CVE-2022-49043")
        .unwrap();
    assert_eq!(
        f.advisory.as_deref(),
        Some("https://security-tracker.debian.org/tracker/CVE-2022-49043")
    );
    assert_eq!(f.fixed_in, None);
    // Enhanced with fixes: every package's fixedInVersion, else the remediation's text and url.
    let mut v = page(json!([]));
    v["imageScanFindings"]["enhancedFindings"] = json!([
        {"severity": "HIGH", "packageVulnerabilityDetails": {"vulnerabilityId": "CVE-1",
            "vulnerablePackages": [{"name": "a", "version": "1", "fixedInVersion": "1.1"},
                                   {"name": "b", "version": "2", "fixedInVersion": "2.4"}]}},
        {"severity": "HIGH", "remediation": {"recommendation": {"text": "Upgrade to 3.0", "url": "https://example.org/adv"}},
            "packageVulnerabilityDetails": {"vulnerabilityId": "CVE-2", "vulnerablePackages": [{"name": "c", "version": "2"}]}}
    ]);
    v["imageScanFindings"]["findingSeverityCounts"] = json!({"HIGH": 2});
    let p = parse(&v).unwrap();
    assert_eq!(p.scan.findings[0].fixed_in.as_deref(), Some("1.1, 2.4"));
    assert_eq!(p.scan.findings[0].advisory, None);
    assert_eq!(p.scan.findings[1].fixed_in.as_deref(), Some("Upgrade to 3.0"));
    assert_eq!(p.scan.findings[1].advisory.as_deref(), Some("https://example.org/adv"));
}
