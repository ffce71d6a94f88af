//! Predicting the gate from the scanners BB developers run: Trivy (SchemaVersion 2) and Grype JSON, read with
//! the ECR scoring rules, marked as predictions, and refused by deploy. Real reports from
//! ../shared/fixtures-upstream/real-world/{trivy,grype}, and reports of our own covering every CVSS source shape.

#![allow(clippy::unwrap_used)] // a test fails loudly where it unwraps

mod common;
use common::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

const TRIVY: &str = "../shared/fixtures-upstream/real-world/trivy";
const GRYPE: &str = "../shared/fixtures-upstream/real-world/grype";

/// A policy whose building blocks own the repositories the real reports name, and ours.
fn policy(dir: &Path) -> PathBuf {
    let p = dir.join("policy.toml");
    std::fs::write(
        &p,
        r#"
[scan]
block_from = 9.0
signoff_from = 7.0
score_preference = ["cvss3", "cvss4", "cvss2"]
label_fallback = true
unscored = "warn"
max_age_days = 30
[api_tests]
required = false
[signoffs]
approvers = ["sandbox-admin@govstack.global"]
unused = "allow"
[[building_block]]
name = "trivy-tests"
namespace = "trivy-tests"
repositories = ["aquasecurity/*"]
[[building_block]]
name = "grype-tests"
namespace = "grype-tests"
repositories = ["user-input"]
[[building_block]]
name = "payments"
namespace = "paymenthub"
repositories = ["bb/payments/*"]
"#,
    )
    .unwrap();
    p
}

fn verify(dir: &Path, files: &[&Path], now: &str) -> (i32, Value) {
    let mut cmd = bbgate();
    cmd.args(["verify", "--format", "json", "--now", now, "--policy"])
        .arg(policy(dir))
        .arg("--findings")
        .args(files);
    run_json(&mut cmd)
}

/// `verify --findings FILE`, which must be refused as invalid input (2): its stderr.
fn refused(dir: &Path, file: &Path, now: &str) -> String {
    let (code, out, err) = run(bbgate()
        .args(["verify", "--now", now, "--policy"])
        .arg(policy(dir))
        .arg("--findings")
        .arg(file));
    assert_eq!(code, 2, "{out}{err}");
    err
}

fn ids(v: &Value, outcome: &str) -> Vec<String> {
    let mut ids = outcome_ids(v, outcome);
    ids.sort();
    ids
}

#[test]
fn the_real_trivy_and_grype_reports_are_read_with_the_ecr_scoring_rules_and_marked_as_predictions() {
    let tmp = tempfile::tempdir().unwrap();
    // debian-buster: bash is LOW by its label but NVD scores it 7.8 (the label never decides when a score
    // exists); libidn2 is 9.8 by NVD, 5.6 by Red Hat: the policy's kind (cvss3) and the highest of it.
    let (code, v) = verify(
        tmp.path(),
        &[Path::new(&format!("{TRIVY}/debian-buster.json.golden"))],
        "2021-08-26T00:00:00Z",
    );
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["predicted"], true);
    let image = &v["images"][0];
    assert_eq!(image["source"], "trivy");
    assert_eq!(image["repository"], "aquasecurity/trivy-test-images");
    assert_eq!(image["tag"], "debian-buster");
    assert_eq!(image["scan"]["findings"], 2);
    assert_eq!(ids(&v, "blocked"), ["CVE-2019-18224"]);
    assert_eq!(ids(&v, "needs_signoff"), ["CVE-2019-18276"]);
    let idn = finding(&v, "CVE-2019-18224");
    assert_eq!(idn["score"], 9.8);
    assert_eq!(idn["fixed_in"], "2.0.5-1+deb10u1");
    assert_eq!(idn["advisory"], "https://avd.aquasec.com/nvd/cve-2019-18224");

    // alpine-310: four MEDIUM 5.3 findings (two CVEs in two packages each): a pass.
    let (code, v) = verify(
        tmp.path(),
        &[Path::new(&format!("{TRIVY}/alpine-310.json.golden"))],
        "2021-08-26T00:00:00Z",
    );
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["images"][0]["scan"]["findings"], 4);
    assert!(all_findings(&v).all(|f| f["score"] == 5.3), "{v}");

    // Grype: two matches scored 8.2 and 8.5 (CVSS 3.1 from cvss[]), both in the sign-off band; its report has
    // no timestamp, so the scan's age cannot be checked: the gate fails closed on that too.
    let (code, v) = verify(
        tmp.path(),
        &[Path::new(&format!("{GRYPE}/TestJsonImgsPresenter.golden"))],
        "2026-11-30T00:00:00Z",
    );
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["images"][0]["source"], "grype");
    assert_eq!(
        v["images"][0]["digest"],
        "sha256:ca738abb87a8d58f112d3400ebb079b61ceae7dc290beb34bda735be4b1941d5"
    );
    assert_eq!(ids(&v, "needs_signoff"), ["CVE-1999-0001", "CVE-1999-0002"]);
    assert_eq!(finding(&v, "CVE-1999-0001")["fixed_in"], "1.2.1, 2.1.3, 3.4.0");
    let codes: Vec<&str> = v["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"scan-undated"), "{codes:?}");

    // For people: the table says it is a prediction.
    let (_, out, _) = run(bbgate()
        .args(["verify", "--now", "2021-08-26T00:00:00Z", "--policy"])
        .arg(policy(tmp.path()))
        .arg("--findings")
        .arg(format!("{TRIVY}/debian-buster.json.golden")));
    assert!(
        out.contains("PREDICTED from a Trivy report: the sandbox decides on ECR's scan"),
        "{out}"
    );
}

/// One vulnerability, described as each scanner would: (id, package, version, CVSS 3.1 score, vector, fixed).
struct Vuln {
    id: &'static str,
    package: &'static str,
    score: f64,
    severity: &'static str,
}

const SAME: &[Vuln] = &[
    Vuln {
        id: "CVE-2026-1000",
        package: "openssl",
        score: 9.8,
        severity: "CRITICAL",
    },
    Vuln {
        id: "CVE-2026-1001",
        package: "zlib",
        score: 7.5,
        severity: "HIGH",
    },
    Vuln {
        id: "CVE-2026-1002",
        package: "curl",
        score: 5.3,
        severity: "MEDIUM",
    },
    Vuln {
        id: "CVE-2026-1003",
        package: "libxml2",
        score: 8.1,
        severity: "LOW",
    },
    Vuln {
        id: "CVE-2026-1004",
        package: "bash",
        score: 3.1,
        severity: "CRITICAL",
    },
];

fn digest() -> String {
    format!("sha256:{}", "c3".repeat(32))
}

fn trivy_report(vulns: &[Value]) -> Value {
    json!({"SchemaVersion": 2, "CreatedAt": hours_ago(1), "ArtifactName": "bb/payments/emulator:dev",
        "ArtifactType": "container_image",
        "Metadata": {"RepoTags": ["bb/payments/emulator:dev"], "RepoDigests": [format!("bb/payments/emulator@{}", digest())],
                     "ImageID": format!("sha256:{}", "d4".repeat(32))},
        "Results": [{"Target": "bb/payments/emulator:dev (debian 12.5)", "Class": "os-pkgs", "Type": "debian",
                     "Vulnerabilities": vulns}]})
}

fn grype_report(matches: &[Value]) -> Value {
    json!({"matches": matches,
        "source": {"type": "image", "target": {"userInput": "bb/payments/emulator:dev", "manifestDigest": digest(),
                    "imageID": format!("sha256:{}", "d4".repeat(32)), "tags": ["bb/payments/emulator:dev"]}},
        "descriptor": {"name": "grype", "version": "0.80.0", "timestamp": hours_ago(1)}})
}

fn write(dir: &Path, name: &str, v: &Value) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_vec_pretty(v).unwrap()).unwrap();
    p
}

/// What a decision says: verdict, blocked ids, ids needing a sign-off, and every finding's score.
type Said = (String, Vec<String>, Vec<String>, Vec<(String, Value)>);

fn decision(v: &Value) -> Said {
    let mut scores: Vec<(String, Value)> = all_findings(v)
        .map(|f| (f["id"].as_str().unwrap().to_owned(), f["score"].clone()))
        .collect();
    scores.sort_by(|a, b| a.0.cmp(&b.0));
    (
        v["verdict"].as_str().unwrap().to_owned(),
        ids(v, "blocked"),
        ids(v, "needs_signoff"),
        scores,
    )
}

#[test]
fn trivy_grype_and_ecr_reports_of_the_same_vulnerabilities_decide_alike() {
    let tmp = tempfile::tempdir().unwrap();
    let ecr = scan_page(
        "bb/payments/emulator",
        &digest(),
        "dev",
        SAME.iter()
            .map(|v| basic_finding(v.id, v.package, &v.score.to_string(), v.severity))
            .collect(),
        1,
    );
    let trivy = trivy_report(
        &SAME
            .iter()
            .map(|v| {
                json!({"VulnerabilityID": v.id, "PkgName": v.package, "InstalledVersion": "1.0-1", "Severity": v.severity,
                       "CVSS": {"nvd": {"V3Score": v.score}}})
            })
            .collect::<Vec<_>>(),
    );
    let grype = grype_report(
        &SAME
            .iter()
            .map(|v| {
                // Grype spells its labels in title case.
                let severity = format!("{}{}", &v.severity[..1], v.severity[1..].to_ascii_lowercase());
                json!({"vulnerability": {"id": v.id, "severity": severity, "dataSource": "https://nvd.nist.gov",
                        "cvss": [{"source": "nvd", "type": "Primary", "version": "3.1", "metrics": {"baseScore": v.score}}],
                        "fix": {"versions": [], "state": "not-fixed"}},
                       "relatedVulnerabilities": [],
                       "artifact": {"name": v.package, "version": "1.0-1", "type": "deb"}})
            })
            .collect::<Vec<_>>(),
    );
    let now = jiff::Timestamp::now().to_string();
    let (c1, from_ecr) = verify(tmp.path(), &[&write(tmp.path(), "ecr.json", &ecr)], &now);
    let (c2, from_trivy) = verify(tmp.path(), &[&write(tmp.path(), "trivy.json", &trivy)], &now);
    let (c3, from_grype) = verify(tmp.path(), &[&write(tmp.path(), "grype.json", &grype)], &now);
    assert_eq!(c1, 1, "{from_ecr}");
    assert_eq!(
        (c1, decision(&from_ecr)),
        (c2, decision(&from_trivy)),
        "Trivy decides as ECR"
    );
    assert_eq!(
        (c1, decision(&from_ecr)),
        (c3, decision(&from_grype)),
        "Grype decides as ECR"
    );
    assert_eq!(from_ecr["predicted"], false);
    assert_eq!(from_ecr["images"][0]["source"], "ecr");
    assert_eq!(ids(&from_ecr, "blocked"), ["CVE-2026-1000"]);
    assert_eq!(ids(&from_ecr, "needs_signoff"), ["CVE-2026-1001", "CVE-2026-1003"]);
}

#[test]
fn every_cvss_source_shape_is_scored_by_the_policys_kind_then_the_highest_of_it() {
    let tmp = tempfile::tempdir().unwrap();
    let now = jiff::Timestamp::now().to_string();
    let v31 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"; // 9.8
    let trivy = trivy_report(&[
        // Several sources of one kind: the highest (GHSA's 8.8 over NVD's 7.5).
        json!({"VulnerabilityID": "CVE-1", "PkgName": "a", "InstalledVersion": "1", "Severity": "LOW",
               "CVSS": {"nvd": {"V3Score": 7.5, "V2Score": 9.3}, "ghsa": {"V3Score": 8.8}}}),
        // A vector alone: computed (9.8).
        json!({"VulnerabilityID": "CVE-2", "PkgName": "b", "InstalledVersion": "1", "Severity": "LOW",
               "CVSS": {"redhat": {"V3Vector": v31}}}),
        // A published score the vector contradicts: the higher of the two (fail closed).
        json!({"VulnerabilityID": "CVE-3", "PkgName": "c", "InstalledVersion": "1", "Severity": "LOW",
               "CVSS": {"debian": {"V3Score": 5.0, "V3Vector": v31}}}),
        // CVSS 2 only: the third kind of the preference.
        json!({"VulnerabilityID": "CVE-4", "PkgName": "d", "InstalledVersion": "1", "Severity": "LOW",
               "CVSS": {"nvd": {"V2Score": 7.2, "V2Vector": "AV:L/AC:L/Au:N/C:C/I:C/A:C"}}}),
        // CVSS 4 only (V40Score), before CVSS 2 in the preference.
        json!({"VulnerabilityID": "CVE-5", "PkgName": "e", "InstalledVersion": "1", "Severity": "LOW",
               "CVSS": {"ghsa": {"V40Score": 9.3, "V2Score": 4.0}}}),
        // No CVSS at all: the label decides (CRITICAL is blocked under label_fallback).
        json!({"VulnerabilityID": "CVE-6", "PkgName": "f", "InstalledVersion": "1", "Severity": "CRITICAL"}),
    ]);
    let (code, v) = verify(tmp.path(), &[&write(tmp.path(), "trivy.json", &trivy)], &now);
    assert_eq!(code, 1, "{v}");
    let score = |id: &str| finding(&v, id)["score"].clone();
    assert_eq!(score("CVE-1"), 8.8);
    assert_eq!(score("CVE-2"), 9.8);
    assert_eq!(score("CVE-3"), 9.8);
    assert_eq!(score("CVE-4"), 7.2);
    assert_eq!(score("CVE-5"), 9.3);
    assert_eq!(ids(&v, "blocked"), ["CVE-2", "CVE-3", "CVE-5", "CVE-6"]);
    assert_eq!(ids(&v, "needs_signoff"), ["CVE-1", "CVE-4"]);

    let grype = grype_report(&[
        // A GHSA match whose related CVE record carries the NVD score: both are candidates, the highest wins.
        json!({"vulnerability": {"id": "GHSA-xxxx-yyyy-zzzz", "severity": "Medium",
                "cvss": [{"source": "ghsa", "version": "3.1", "metrics": {"baseScore": 5.3}}]},
               "relatedVulnerabilities": [{"id": "CVE-7", "namespace": "nvd:cpe",
                 "cvss": [{"source": "nvd", "version": "3.1", "vector": v31, "metrics": {"baseScore": 9.8}}]}],
               "artifact": {"name": "g", "version": "1"}}),
        // CVSS 2.0 and 4.0 entries: the policy's order (cvss4 before cvss2).
        json!({"vulnerability": {"id": "CVE-8", "severity": "High",
                "cvss": [{"source": "nvd", "version": "2.0", "metrics": {"baseScore": 9.0}},
                         {"source": "ghsa", "version": "4.0", "metrics": {"baseScore": 6.9}}]},
               "artifact": {"name": "h", "version": "1"}}),
        // Negligible and unscored: allowed (below the sign-off band by its label).
        json!({"vulnerability": {"id": "CVE-9", "severity": "Negligible", "cvss": []},
               "artifact": {"name": "i", "version": "1"}}),
    ]);
    let (code, v) = verify(tmp.path(), &[&write(tmp.path(), "grype.json", &grype)], &now);
    assert_eq!(code, 1, "{v}");
    assert_eq!(finding(&v, "GHSA-xxxx-yyyy-zzzz")["score"], 9.8);
    assert_eq!(finding(&v, "CVE-8")["score"], 6.9);
    assert_eq!(ids(&v, "blocked"), ["GHSA-xxxx-yyyy-zzzz"]);
    assert_eq!(finding(&v, "CVE-9")["outcome"], "allowed");

    // A shape bbgate does not know is refused, naming where (fail closed, never a clean scan).
    let bad = trivy_report(&[json!({"VulnerabilityID": "CVE-1", "CVSS": {"nvd": {"V3Score": "high"}}})]);
    let mut cmd = bbgate();
    cmd.args(["verify", "--now", &now, "--policy"])
        .arg(policy(tmp.path()))
        .arg("--findings")
        .arg(write(tmp.path(), "bad.json", &bad));
    let (code, _, err) = run(&mut cmd);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("bad.json") && err.contains("Results[0].Vulnerabilities[0]") && err.contains("not a number"),
        "{err}"
    );
}

#[test]
fn deploy_refuses_evidence_decided_on_a_prediction() {
    let tmp = tempfile::tempdir().unwrap();
    let now = jiff::Timestamp::now().to_string();
    let trivy = trivy_report(&[
        json!({"VulnerabilityID": "CVE-2026-1002", "PkgName": "curl", "InstalledVersion": "1",
                                       "Severity": "MEDIUM", "CVSS": {"nvd": {"V3Score": 5.3}}}),
    ]);
    let evidence = tmp.path().join("evidence.json");
    let mut cmd = bbgate();
    cmd.args(["verify", "--format", "json", "--now", &now, "--policy"])
        .arg(policy(tmp.path()))
        .arg("--findings")
        .arg(write(tmp.path(), "trivy.json", &trivy))
        .arg("--evidence")
        .arg(&evidence);
    let (code, v) = run_json(&mut cmd);
    assert_eq!(code, 0, "a clean prediction passes: {v}");
    let (code, out, err) = run(bbgate()
        .args([
            "deploy",
            "--dry-run",
            "--chart",
            "fixtures/charts/payments-emulator",
            "--release",
            "emulator",
            "--building-block",
            "payments",
            "--kubeconfig",
            "/nonexistent",
            "--evidence",
        ])
        .arg(&evidence));
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        format!("{out}{err}").contains("was judged on a local trivy report: that is a prediction"),
        "{out}{err}"
    );
}

fn python(args: &[&Path]) -> (bool, String) {
    let py =
        std::env::var("BBGATE_TEST_PYTHON").expect("BBGATE_TEST_PYTHON is not set: run the suite with scripts/test");
    let out = std::process::Command::new(py)
        .arg("tests/peers/openvex_check.py")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn signoffs_export_as_openvex_that_a_vex_reader_applies_as_the_gate_does_and_requests_are_never_approved() {
    let tmp = tempfile::tempdir().unwrap();
    let now = jiff::Timestamp::now().to_string();
    let day = |d: i64| (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * d)).to_string()[..10].to_owned();
    let trivy = write(
        tmp.path(),
        "trivy.json",
        &trivy_report(
            &SAME
                .iter()
                .filter(|v| v.score < 9.0)
                .map(|v| {
                    json!({"VulnerabilityID": v.id, "PkgName": v.package, "InstalledVersion": "1.0-1", "Severity": v.severity,
                           "CVSS": {"nvd": {"V3Score": v.score}}})
                })
                .collect::<Vec<_>>(),
        ),
    );
    // CVE-2026-1001 (zlib, 7.5) is signed off until next month; CVE-2026-1003's sign-off expired last week.
    let signoffs = tmp.path().join("signoffs.toml");
    let entry = |id: &str, package: &str, on: i64, until: i64| {
        format!(
            "[[signoff]]\nid = \"{id}\"\nbuilding_block = \"payments\"\npackage = \"{package}\"\n\
             analysis = \"Only reachable with local access, which the pod does not grant.\"\n\
             mitigation = \"Read-only root filesystem; upgrade in the next release.\"\n\
             approved_by = \"sandbox-admin@govstack.global\"\napproved_on = {}\nexpires = {}\n\n",
            day(on),
            day(until)
        )
    };
    std::fs::write(
        &signoffs,
        entry("CVE-2026-1001", "zlib", -1, 30) + &entry("CVE-2026-1003", "libxml2", -40, -7),
    )
    .unwrap();
    let decision = tmp.path().join("verify.json");
    let mut cmd = bbgate();
    cmd.args(["verify", "--format", "json", "--now", &now, "--policy"])
        .arg(policy(tmp.path()))
        .arg("--findings")
        .arg(&trivy)
        .arg("--signoffs")
        .arg(&signoffs);
    let (code, v) = run_json(&mut cmd);
    assert_eq!(code, 1, "{v}");
    std::fs::write(&decision, serde_json::to_vec(&v).unwrap()).unwrap();
    assert_eq!(ids(&v, "signed_off"), ["CVE-2026-1001"]);
    assert_eq!(ids(&v, "needs_signoff"), ["CVE-2026-1003"]);

    let vex = tmp.path().join("payments.openvex.json");
    let (code, _, err) = run(bbgate()
        .args(["signoffs", "export", "--format", "openvex", "--now", &now, "--policy"])
        .arg(policy(tmp.path()))
        .arg("--signoffs")
        .arg(&signoffs)
        .args(["--image", "bb/payments/emulator:dev"])
        .arg("--out")
        .arg(&vex));
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("1 sign-off(s) valid") && err.contains("1 expired or not yet valid left out"),
        "{err}"
    );
    let doc: Value = serde_json::from_slice(&std::fs::read(&vex).unwrap()).unwrap();
    let st = &doc["statements"][0];
    assert_eq!(st["vulnerability"]["name"], "CVE-2026-1001");
    assert_eq!(st["status"], "not_affected");
    assert_eq!(
        st["products"][0]["@id"],
        "pkg:oci/emulator?repository_url=bb/payments/emulator"
    );
    let notes = st["status_notes"].as_str().unwrap();
    assert!(
        notes.contains("sandbox-admin@govstack.global") && notes.contains(&day(30)) && notes.contains("Read-only root"),
        "{notes}"
    );

    // The independent reader: valid OpenVEX, and applied to the Trivy report it leaves exactly what the gate
    // did not waive.
    let (ok, out) = python(&[&vex, &trivy]);
    assert!(ok, "{out}");
    let read: Value = serde_json::from_str(out.trim()).unwrap();
    let mut unwaived: Vec<String> = all_findings(&v)
        .filter(|f| f["outcome"] != "signed_off")
        .map(|f| f["id"].as_str().unwrap().to_owned())
        .collect();
    unwaived.sort();
    assert_eq!(read["remaining"], json!(unwaived));
    // The reader is not vacuous: a statement without its impact statement is refused.
    let mut broken = doc.clone();
    broken["statements"][0]
        .as_object_mut()
        .unwrap()
        .remove("impact_statement");
    let broken_path = write(tmp.path(), "broken.openvex.json", &broken);
    let (ok, out) = python(&[&broken_path]);
    assert!(
        !ok && out.contains("not_affected needs a justification or an impact_statement"),
        "{out}"
    );

    // Requests: stubs for what needs a sign-off, from the decision and from a VEX document; none is approved.
    for (args, expect) in [
        (
            vec!["--decision".to_owned(), decision.display().to_string()],
            "CVE-2026-1003",
        ),
        (
            vec![
                "--vex".to_owned(),
                vex.display().to_string(),
                "--building-block".to_owned(),
                "payments".to_owned(),
            ],
            "CVE-2026-1001",
        ),
    ] {
        let stubs = tmp.path().join("requested.toml");
        let (code, _, err) = run(bbgate().args(["signoffs", "request", "--out"]).arg(&stubs).args(&args));
        assert_eq!(code, 0, "{err}");
        let text = std::fs::read_to_string(&stubs).unwrap();
        assert!(
            text.contains(&format!("id = \"{expect}\"")) && text.contains("analysis = \"\""),
            "{text}"
        );
        let (code, _, err) = run(bbgate()
            .args(["policy", "check", "--policy"])
            .arg(policy(tmp.path()))
            .arg("--signoffs")
            .arg(&stubs));
        assert_eq!(code, 2, "a request is not a sign-off: {err}");
        assert!(err.contains("approved_by"), "{err}");
    }
}

#[test]
fn a_report_of_an_image_read_from_a_file_is_judged_as_the_image_given_by_image() {
    let tmp = tempfile::tempdir().unwrap();
    let critical = json!({"VulnerabilityID": "CVE-2026-2000", "PkgName": "openssl", "InstalledVersion": "3.0.1-1",
                          "Severity": "CRITICAL", "CVSS": {"nvd": {"V3Score": 9.8}}});
    // `trivy image --input emulator.tar`: the file's path as the artifact, no tags, no repository digests.
    let mut trivy = trivy_report(&[critical]);
    trivy["ArtifactName"] = json!("emulator.tar");
    trivy["Metadata"] = json!({"ImageID": format!("sha256:{}", "d4".repeat(32)), "DiffIDs": []});
    let trivy = write(tmp.path(), "trivy-input.json", &trivy);
    // `grype docker-archive:emulator.tar`.
    let mut grype = grype_report(&[]);
    grype["source"]["target"] = json!({"userInput": "docker-archive:emulator.tar", "tags": [],
                                       "imageID": format!("sha256:{}", "d4".repeat(32))});
    let grype = write(tmp.path(), "grype-input.json", &grype);
    let now = jiff::Timestamp::now().to_string();
    let verify_as = |file: &Path, image: Option<&str>| {
        let mut cmd = bbgate();
        cmd.args(["verify", "--now", &now, "--policy"])
            .arg(policy(tmp.path()))
            .arg("--findings")
            .arg(file);
        if let Some(image) = image {
            cmd.args(["--image", image]);
        }
        cmd
    };
    for file in [&trivy, &grype] {
        // Without --image the report says nothing of whose image it is: refused, with the way out.
        let (code, _, stderr) = run(&mut verify_as(file, None));
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains("names no image (scanned from a file?)"), "{stderr}");
        assert!(stderr.contains("--image REPO"), "{stderr}");
        // The file's name is never taken for a repository.
        assert!(!stderr.contains("emulator.tar\" does not name"), "{stderr}");
    }
    // Given --image (with the digest pushed), the report is that image's: judged, and nothing is fetched.
    let named = format!("bb/payments/emulator@{}", digest());
    let (code, v) = run_json(&mut verify_as(&trivy, Some(&named)));
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["images"][0]["repository"], "bb/payments/emulator");
    assert_eq!(
        v["images"][0]["digest"],
        digest().as_str(),
        "the digest --image names, not the config's"
    );
    assert_eq!(v["images"][0]["source"], "trivy");
    assert_eq!(ids(&v, "blocked"), ["CVE-2026-2000"]);
    let (code, v) = run_json(&mut verify_as(&grype, Some(&named)));
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["images"][0]["repository"], "bb/payments/emulator");
    // A report that names its image is checked against --image: another building block's report is refused.
    let own = write(tmp.path(), "trivy-named.json", &trivy_report(&[]));
    let (code, _, stderr) = run(&mut verify_as(&own, Some("bb/identity/api:1.0")));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("Trivy report is of \"bb/payments/emulator@")
            && stderr.contains("not of --image \"bb/identity/api:1.0\""),
        "{stderr}"
    );
    // An ECR page likewise.
    let page = write(
        tmp.path(),
        "ecr.json",
        &scan_page("bb/payments/emulator", &digest(), "dev", vec![], 1),
    );
    let (code, _, stderr) = run(&mut verify_as(&page, Some("bb/identity/api:1.0")));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("not of --image \"bb/identity/api:1.0\""), "{stderr}");
    // Positive control: the same report and page with their own image are read.
    let (code, v) = run_json(&mut verify_as(&own, Some("bb/payments/emulator:dev")));
    assert_eq!(code, 0, "{v}");
    let (code, v) = run_json(&mut verify_as(&page, Some("bb/payments/emulator")));
    assert_eq!(code, 0, "{v}");
}

#[test]
fn scanner_reports_are_read_strictly_keys_once_labels_of_their_vocabulary_scores_on_a_known_scale() {
    let tmp = tempfile::tempdir().unwrap();
    let now = jiff::Timestamp::now().to_string();
    let vuln = |severity: &str| {
        json!({"VulnerabilityID": "CVE-2026-3000", "PkgName": "openssl", "InstalledVersion": "3.0.1-1",
               "Severity": severity, "CVSS": {"nvd": {"V3Score": 5.3}}})
    };
    // A key given twice: serde_json would keep the last ("LOW"), another reader the first ("CRITICAL").
    let twice = serde_json::to_string(&trivy_report(&[vuln("CRITICAL")]))
        .unwrap()
        .replace(
            "\"Severity\":\"CRITICAL\"",
            "\"Severity\":\"CRITICAL\",\"Severity\":\"LOW\"",
        );
    assert!(twice.contains("\"Severity\":\"CRITICAL\",\"Severity\":\"LOW\""));
    let path = tmp.path().join("twice.json");
    std::fs::write(&path, &twice).unwrap();
    let err = refused(tmp.path(), &path, &now);
    assert!(err.contains("duplicate field `Severity`"), "{err}");
    // Trivy's map of CVSS sources with one source twice: 9.8 or 5.3?
    let sources = serde_json::to_string(&trivy_report(&[vuln("LOW")])).unwrap().replace(
        "\"CVSS\":{\"nvd\":{\"V3Score\":5.3}}",
        "\"CVSS\":{\"nvd\":{\"V3Score\":9.8},\"nvd\":{\"V3Score\":5.3}}",
    );
    assert!(sources.contains("\"nvd\":{\"V3Score\":9.8},\"nvd\""), "{sources}");
    std::fs::write(&path, &sources).unwrap();
    let err = refused(tmp.path(), &path, &now);
    assert!(err.contains("key \"nvd\" is given twice in one object"), "{err}");
    assert!(
        err.contains("at `Results[0].Vulnerabilities[0].CVSS`: key \"nvd\" is given twice"),
        "where it is: {err}"
    );
    // A value of the wrong shape is refused naming where it is, in both scanners' reports.
    let mut shape = trivy_report(&[vuln("LOW")]);
    shape["Results"][0]["Vulnerabilities"][0]["CVSS"]["nvd"] = json!("9.8");
    let shaped = write(tmp.path(), "shape.json", &shape);
    let err = refused(tmp.path(), &shaped, &now);
    assert!(
        err.contains("not a Trivy report bbgate knows how to read: at `Results[0].Vulnerabilities[0].CVSS.nvd`: invalid type: string \"9.8\", expected one source's CVSS scores"),
        "{err}"
    );
    let grype_shape = write(
        tmp.path(),
        "gshape.json",
        &grype_report(&[
            json!({"vulnerability": {"id": ["CVE-2026-3001"]}, "artifact": {"name": "zlib", "version": "1.0"}}),
        ]),
    );
    let err = refused(tmp.path(), &grype_shape, &now);
    assert!(
        err.contains(
            "not a Grype report bbgate knows how to read: at `matches[0].vulnerability.id`: invalid type: sequence"
        ),
        "{err}"
    );
    // Positive control: the same report with the key once is read.
    let once = write(tmp.path(), "once.json", &trivy_report(&[vuln("CRITICAL")]));
    assert_eq!(verify(tmp.path(), &[&once], &now).0, 0);

    // A label outside the scanner's vocabulary is refused, naming it and the vocabulary.
    let bogus = write(tmp.path(), "bogus.json", &trivy_report(&[vuln("SEVERE")]));
    let err = refused(tmp.path(), &bogus, &now);
    assert!(
        err.contains("Results[0].Vulnerabilities[0]: severity \"SEVERE\" is not one Trivy writes (UNKNOWN, LOW, MEDIUM, HIGH, CRITICAL)"),
        "{err}"
    );

    // Grype: an entry of an unknown CVSS version that carries a score is refused; without a score it is noted.
    let m = |version: &str, score: Option<f64>| {
        let mut cvss = json!({"source": "nvd", "type": "Primary", "version": version, "vector": "X"});
        if let Some(s) = score {
            cvss["metrics"] = json!({"baseScore": s});
        }
        json!({"vulnerability": {"id": "CVE-2026-3001", "severity": "High", "cvss": [cvss], "fix": {"versions": [], "state": "not-fixed"}},
               "relatedVulnerabilities": [], "artifact": {"name": "zlib", "version": "1.0", "type": "deb"}})
    };
    let scored = write(tmp.path(), "g1.json", &grype_report(&[m("5.0", Some(9.8))]));
    let err = refused(tmp.path(), &scored, &now);
    assert!(
        err.contains("CVSS version \"5.0\" is not 2, 3 or 4, and the entry carries a score"),
        "{err}"
    );
    let unscored = write(tmp.path(), "g2.json", &grype_report(&[m("5.0", None)]));
    let (code, v) = verify(tmp.path(), &[&unscored], &now);
    assert_eq!(code, 1, "High with no usable score needs a sign-off: {v}");
    let notes = all_findings(&v).next().unwrap()["notes"].to_string();
    assert!(notes.contains("carries no score; entry ignored"), "{notes}");
}

#[test]
fn sign_off_requests_are_toml_whatever_the_names_in_the_decision_hold() {
    let tmp = tempfile::tempdir().unwrap();
    let now = jiff::Timestamp::now().to_string();
    let names = [
        "ca\rrier",
        "esc\u{1b}[2Kape",
        "del\u{7f}",
        "new\nline",
        "quote\"s and \\ slashes",
    ];
    let vulns: Vec<Value> = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            json!({"VulnerabilityID": format!("CVE-2026-400{i}"), "PkgName": n, "InstalledVersion": "1",
                   "Severity": "HIGH", "CVSS": {"nvd": {"V3Score": 7.5}}})
        })
        .collect();
    let report = write(tmp.path(), "t.json", &trivy_report(&vulns));
    let (code, _) = verify(tmp.path(), &[&report], &now);
    assert_eq!(code, 1);
    let decision = tmp.path().join("decision.json");
    let out = bbgate()
        .args(["verify", "--format", "json", "--now", &now, "--policy"])
        .arg(policy(tmp.path()))
        .arg("--findings")
        .arg(&report)
        .output()
        .unwrap();
    std::fs::write(&decision, &out.stdout).unwrap();
    let stubs = tmp.path().join("requests.toml");
    let (code, _, err) = run(bbgate()
        .args(["signoffs", "request", "--out"])
        .arg(&stubs)
        .arg("--decision")
        .arg(&decision));
    assert_eq!(code, 0, "{err}");
    // A standard TOML reader (Python's tomllib) reads every request, the names exact.
    let read = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, tomllib, json; print(json.dumps(tomllib.load(open(sys.argv[1], 'rb'))))",
        ])
        .arg(&stubs)
        .output()
        .unwrap();
    assert!(
        read.status.success(),
        "not TOML: {}",
        String::from_utf8_lossy(&read.stderr)
    );
    let doc: Value = serde_json::from_slice(&read.stdout).unwrap();
    let mut packages: Vec<&str> = doc["signoff"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["package"].as_str().unwrap())
        .collect();
    packages.sort_unstable();
    let mut want = names.to_vec();
    want.sort_unstable();
    assert_eq!(packages, want);
}

#[test]
fn a_trivy_report_near_the_size_limit_is_read_whole() {
    // About 60 MiB (the limit of a findings file is 64 MiB), in Trivy's shape: most bytes in fields that do not
    // decide. Memory is measured by scripts/bench; here, that every finding is read and decided.
    let tmp = tempfile::tempdir().unwrap();
    let filler = "x".repeat(1200);
    let n = 39_000;
    let vulns: Vec<Value> = (0..n)
        .map(|i| {
            json!({"VulnerabilityID": format!("CVE-2026-{}", 100_000 + i), "PkgName": format!("pkg{}", i % 300),
                   "InstalledVersion": "1.0-1", "Severity": if i == 7 { "CRITICAL" } else { "LOW" },
                   "Description": filler, "References": ["https://example.org/a", "https://example.org/b"],
                   "CVSS": {"nvd": {"V3Score": if i == 7 { 9.8 } else { 3.1 }}}})
        })
        .collect();
    let path = write(tmp.path(), "big.json", &trivy_report(&vulns));
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(size > 56 << 20 && size < 64 << 20, "{size} bytes");
    let (code, v) = verify(tmp.path(), &[&path], &jiff::Timestamp::now().to_string());
    assert_eq!(code, 1, "the one critical denies");
    assert_eq!(v["images"][0]["scan"]["findings"], n);
    assert_eq!(ids(&v, "blocked"), ["CVE-2026-100007"]);
}

#[test]
fn signoffs_export_reads_image_as_the_developer_scans_it() {
    let tmp = tempfile::tempdir().unwrap();
    let day = |d: i64| (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * d)).to_string()[..10].to_owned();
    let signoffs = tmp.path().join("s.toml");
    let one = |id: &str, repo: &str| {
        format!(
            "[[signoff]]\nid = \"{id}\"\nbuilding_block = \"payments\"\nrepository = \"{repo}\"\nanalysis = \"a\"\n\
             mitigation = \"m\"\napproved_by = \"sandbox-admin@govstack.global\"\napproved_on = {}\nexpires = {}\n\n",
            day(-1),
            day(30)
        )
    };
    std::fs::write(
        &signoffs,
        one("CVE-2026-5000", "bb/payments/emulator") + &one("CVE-2026-5001", "docker-hub/library/postgres"),
    )
    .unwrap();
    // The scanning policy, and the sandbox's pull-through cache of Docker Hub.
    let with_cache = policy(tmp.path());
    let text = std::fs::read_to_string(&with_cache).unwrap();
    std::fs::write(
        &with_cache,
        format!("{text}[images]\npull_through = {{ \"docker.io\" = \"docker-hub\" }}\n"),
    )
    .unwrap();
    let export = |images: &[&str]| {
        let mut cmd = bbgate();
        cmd.args(["signoffs", "export", "--policy"])
            .arg(&with_cache)
            .arg("--signoffs")
            .arg(&signoffs);
        for i in images {
            cmd.args(["--image", i]);
        }
        run(&mut cmd)
    };
    // `postgres:16` is the pull-through cache's docker-hub/library/postgres: the database's sign-off is its, and
    // the emulator's sign-off is left out (it was refused, naming the wrong cause).
    let (code, out, err) = export(&["postgres:16"]);
    assert_eq!(code, 0, "{out}{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    let names: Vec<&str> = doc["statements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["vulnerability"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["CVE-2026-5001"]);
    assert_eq!(
        doc["statements"][0]["products"][0]["@id"],
        "pkg:oci/postgres?repository_url=postgres"
    );
    assert!(err.contains("1 of other images than --image left out"), "{err}");
    // Both images: both sign-offs.
    let (code, out, _) = export(&["postgres:16", "bb/payments/emulator:dev"]);
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["statements"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // An image no sign-off covers: invalid input naming it.
    let (code, _, err) = export(&["redis:7"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--image redis:7: none of the 2 sign-off(s)"), "{err}");
}
