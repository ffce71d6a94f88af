//! bbgate verify over the real upstream fixtures and the edge cases derived from them.

#![allow(clippy::unwrap_used)] // a test fails loudly where it unwraps

mod common;
use common::*;
use serde_json::Value;

#[test]
fn real_basic_scan_blocks_by_score_not_label() {
    let (code, v) = run_json(bbgate().args([
        "verify",
        "--findings",
        "../shared/fixtures-upstream/ecr-basic-scan-cultureamp/scan-findings-example-b.json",
        "--api-report",
        "../shared/fixtures-upstream/cucumber-cck-messages/minimal.ndjson",
        "--policy",
        "fixtures/policies/upstream.toml",
        "--now",
        NOW_2021,
    ]));
    assert_eq!(code, 1);
    assert_eq!(v["verdict"], "deny");
    assert_eq!(outcome_ids(&v, "blocked"), ["CVE-2005-2541", "CVE-2019-19814"]);
    // CVE-2005-2541 is labelled INFORMATIONAL but scores CVSS2 10.0: the score decides.
    let tar = finding(&v, "CVE-2005-2541");
    assert_eq!(tar["severity"], "INFORMATIONAL");
    assert_eq!(tar["score"], 10.0);
    assert_eq!(tar["score_source"], "cvss2 CVSS2_SCORE");
    assert_eq!(finding(&v, "CVE-2019-19814")["score"], 9.3);
    assert_eq!(v["counts"]["needs_signoff"], 25);
    assert_eq!(v["counts"]["warned"], 11, "the 11 UNDEFINED findings without a score");
    assert_eq!(v["images"][0]["findings"].as_array().unwrap().len(), 257);
    // Labels disagree with scores: CVE-2016-1585 is LOW with 7.5, CVE-2020-29374 HIGH with 6.9.
    assert_eq!(finding(&v, "CVE-2016-1585")["outcome"], "needs_signoff");
    assert_eq!(finding(&v, "CVE-2020-29374")["outcome"], "allowed");
}

#[test]
fn paged_scan_decides_like_the_single_document() {
    let single = run_json(bbgate().args([
        "verify",
        "--findings",
        "fixtures/demo/payments-emulator-scan.json",
        "--api-report",
        "../shared/fixtures-upstream/cucumber-cck-messages/minimal.ndjson",
        "--now",
        NOW_2021,
    ]));
    let paged = run_json(bbgate().args([
        "verify",
        "--findings",
        "fixtures/ecr/paged/page-1.json",
        "fixtures/ecr/paged/page-2.json",
        "fixtures/ecr/paged/page-3.json",
        "--api-report",
        "../shared/fixtures-upstream/cucumber-cck-messages/minimal.ndjson",
        "--now",
        NOW_2021,
    ]));
    assert_eq!(single.0, paged.0);
    assert_eq!(single.1["images"][0]["findings"], paged.1["images"][0]["findings"]);
    assert_eq!(single.1["reasons"], paged.1["reasons"]);
    assert_eq!(paged.1["images"][0]["scan"]["pages"], 3);
    // A directory of pages is read in name order.
    let dir = run_json(bbgate().args([
        "verify",
        "--findings",
        "fixtures/ecr/paged",
        "--api-report",
        "../shared/fixtures-upstream/cucumber-cck-messages/minimal.ndjson",
        "--now",
        NOW_2021,
    ]));
    assert_eq!(dir.1["images"][0]["findings"], paged.1["images"][0]["findings"]);
}

#[test]
fn a_missing_page_is_invalid_input_not_a_smaller_scan() {
    let (code, out, err) = run(bbgate().args([
        "verify",
        "--findings",
        "fixtures/ecr/paged/page-1.json",
        "fixtures/ecr/paged/page-3.json",
        "--api-report",
        "../shared/fixtures-upstream/cucumber-cck-messages/minimal.ndjson",
        "--now",
        NOW_2021,
    ]));
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("counts 257 findings") && err.contains("hold 157"), "{err}");
    let (code, _, err) = run(bbgate().args([
        "verify",
        "--findings",
        "fixtures/ecr/paged/page-1.json",
        "--api-report",
        "../shared/fixtures-upstream/cucumber-cck-messages/minimal.ndjson",
        "--now",
        NOW_2021,
    ]));
    assert_eq!(code, 2);
    assert!(err.contains("nextToken"), "{err}");
}

#[test]
fn pages_of_several_images_are_a_release_and_each_image_must_be_complete() {
    let args = |pages: &[&str]| {
        let mut c = bbgate();
        c.arg("verify").arg("--findings").args(pages).args([
            "--signoffs",
            "fixtures/demo/pass/signoffs.toml",
            "--api-report",
            "../shared/fixtures-upstream/cucumber-cck-messages/minimal.ndjson",
            "--now",
            NOW_2026,
        ]);
        c
    };
    // Both pages of the passing image and the one-page edge-case image: two images, each judged on its own pages.
    let (code, v) = run_json(&mut args(&[
        "fixtures/demo/pass",
        "fixtures/ecr/enhanced-edge-cases.json",
    ]));
    assert_eq!(code, 1, "the edge cases deny: {}", v["reasons"]);
    let images = v["images"].as_array().unwrap();
    assert_eq!(images.len(), 2);
    assert_eq!(images[0]["verdict"], "pass");
    assert_eq!(images[0]["scan"]["pages"], 2);
    assert_eq!(images[1]["verdict"], "deny");
    assert_eq!(
        images[1]["findings_pages"][0]["path"],
        "fixtures/ecr/enhanced-edge-cases.json"
    );
    assert!(
        v["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["location"] == format!("bb/payments/adapter@{}", images[1]["digest"].as_str().unwrap())),
        "only the second image denies: {}",
        v["reasons"]
    );

    // The passing image's last page missing: refused, naming that image, whatever the other image says.
    let (code, _, err) = run(&mut args(&[
        "fixtures/demo/pass/scan-page-1.json",
        "fixtures/ecr/enhanced-edge-cases.json",
    ]));
    assert_eq!(code, 2);
    assert!(
        err.contains(&format!(
            "image bb/payments/adapter@{}",
            images[0]["digest"].as_str().unwrap()
        )) && err.contains("nextToken"),
        "{err}"
    );
}

/// The passing demo scan judged with `report`, which must hold 82 scenarios of which 11 failed: a deny.
fn judged_with_82_scenarios_11_failed(report: &str) -> Value {
    let (code, v) = run_json(&mut verify_passing_scan_with(report));
    assert_eq!(code, 1, "{report}");
    let a = &v["api_tests"];
    assert_eq!(
        (a["total"].as_u64(), a["passed"].as_u64(), a["failed"].as_u64()),
        (Some(82), Some(71), Some(11)),
        "{report}"
    );
    v
}

#[test]
fn govstack_run_reads_the_same_in_every_format() {
    for report in [
        "../shared/fixtures-upstream/govstack-testharness-messages/example_result.message",
        "../shared/fixtures-upstream/govstack-testharness-junit/example_result.xml",
    ] {
        let v = judged_with_82_scenarios_11_failed(report);
        let a = &v["api_tests"];
        assert_eq!(a["outcome"], "fail");
        let scenarios = a["failed_scenarios"].as_array().unwrap();
        assert!(scenarios.iter().all(|s| s["status"] == "failed"), "{report}");
        assert!(
            scenarios
                .iter()
                .any(|s| s["message"].as_str().unwrap_or("").contains("Header value '2137'")),
            "{report}"
        );
        // The only reason is the tests: the scan passes with its sign-offs.
        assert_eq!(v["reasons"].as_array().unwrap().len(), 1, "{report}: {}", v["reasons"]);
        assert_eq!(v["reasons"][0]["code"], "api-tests-failed", "{report}");
        assert_eq!(v["reasons"][0]["severity"], "error", "{report}");
        assert!(
            v["reasons"][0]["message"].as_str().unwrap().contains("71 of 82"),
            "{report}"
        );
    }
}

/// The generated run (scripts/gen-fixtures.py) in its three formats: the same totals, and the same failed
/// scenarios with the same first line of their messages, in every format.
#[test]
fn the_generated_govstack_run_reads_the_same_in_all_three_formats() {
    let mut seen: Vec<Value> = Vec::new();
    for report in [
        "fixtures/api-tests/govstack-identity.ndjson",
        "fixtures/api-tests/govstack-identity.xml",
        "fixtures/api-tests/govstack-identity.cucumber.json",
    ] {
        let v = judged_with_82_scenarios_11_failed(report);
        let a = &v["api_tests"];
        let failed: Vec<Value> = a["failed_scenarios"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                serde_json::json!([
                    s["feature"],
                    s["name"],
                    s["status"],
                    s["message"].as_str().unwrap_or("").lines().next().unwrap_or("")
                ])
            })
            .collect();
        assert!(
            failed
                .iter()
                .all(|f| f[3].as_str().unwrap().starts_with("AssertionError")),
            "{report}: {failed:?}"
        );
        seen.push(Value::Array(failed));
    }
    assert_eq!(seen[0], seen[1], "messages and JUnit");
    assert_eq!(seen[0], seen[2], "messages and cucumber JSON");
}

#[test]
fn cucumber_compatibility_kit_statuses() {
    let (code, v) = run_json(&mut verify_passing_scan_with(
        "../shared/fixtures-upstream/cucumber-cck-messages/all-statuses.ndjson",
    ));
    assert_eq!(code, 1);
    let a = &v["api_tests"];
    assert_eq!(
        (a["total"].as_u64(), a["passed"].as_u64(), a["failed"].as_u64()),
        (Some(6), Some(1), Some(5))
    );
    let mut statuses: Vec<&str> = a["failed_scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    statuses.sort();
    assert_eq!(statuses, ["ambiguous", "failed", "pending", "skipped", "undefined"]);

    let (code, v) = run_json(&mut verify_passing_scan_with(
        "../shared/fixtures-upstream/cucumber-cck-messages/stack-traces.ndjson",
    ));
    assert_eq!(code, 1);
    assert_eq!(v["api_tests"]["failed_scenarios"][0]["message"], "BOOM");
}

#[test]
fn enhanced_edge_cases() {
    let (code, v) = run_json(bbgate().args([
        "verify",
        "--findings",
        "fixtures/ecr/enhanced-edge-cases.json",
        "--api-report",
        "../shared/fixtures-upstream/cucumber-cck-messages/minimal.ndjson",
        "--now",
        NOW_2026,
    ]));
    assert_eq!(code, 1);
    assert_eq!(
        v["building_block"], "payments",
        "picked by the repository glob bb/payments/*"
    );
    let check = |id: &str, outcome: &str, score: Option<f64>, source: Option<&str>| {
        let f = finding(&v, id);
        assert_eq!(f["outcome"], outcome, "{id}: {f}");
        assert_eq!(f["score"].as_f64(), score, "{id}: {f}");
        assert_eq!(f["score_source"].as_str(), source, "{id}: {f}");
    };
    // Label LOW, CVSS 9.8: blocked.
    check("CVE-2026-10001", "blocked", Some(9.8), Some("cvss3 NVD"));
    assert_eq!(finding(&v, "CVE-2026-10001")["severity"], "LOW");
    // Several cvss3 entries: the highest (the distro's 8.1).
    check("CVE-2026-10002", "needs_signoff", Some(8.1), Some("cvss3 DEBIAN_CVE"));
    // v2 10.0 and v3 5.3: cvss3 is preferred.
    check("CVE-2026-10003", "allowed", Some(5.3), Some("cvss3 NVD"));
    // UNTRIAGED, score 0.0, empty cvss[]: no score, policy `unscored = "warn"`.
    check("CVE-2026-10004", "warned", None, None);
    // Vector only: computed.
    check("CVE-2026-10005", "needs_signoff", Some(7.5), Some("cvss3 NVD"));
    // Published 5.0 against a 9.8 vector: reported, and the higher decides.
    check("GHSA-aaaa-bbbb-cccc", "blocked", Some(9.8), Some("cvss3 GITHUB"));
    let notes = finding(&v, "GHSA-aaaa-bbbb-cccc")["notes"].to_string();
    assert!(notes.contains("disagrees with its vector"), "{notes}");
    check("CVE-2026-10007", "allowed", Some(6.9), Some("cvss4 NVD"));
    check(
        "CVE-2026-10008",
        "needs_signoff",
        Some(7.8),
        Some("ecr ecr score (NVD)"),
    );
}

#[test]
fn score_preference_changes_which_score_decides() {
    let dir = tempfile::tempdir().unwrap();
    let policy = std::fs::read_to_string("policies/sandbox.toml").unwrap().replace(
        r#"score_preference = ["cvss3", "cvss4", "cvss2", "ecr"]"#,
        r#"score_preference = ["cvss2", "cvss3"]"#,
    );
    let path = dir.path().join("p.toml");
    std::fs::write(&path, policy).unwrap();
    let (_, v) = run_json(
        bbgate()
            .args([
                "verify",
                "--findings",
                "fixtures/ecr/enhanced-edge-cases.json",
                "--now",
                NOW_2026,
            ])
            .arg("--policy")
            .arg(&path),
    );
    let f = finding(&v, "CVE-2026-10003");
    assert_eq!(
        (f["outcome"].as_str(), f["score"].as_f64()),
        (Some("blocked"), Some(10.0))
    );
    // ECR's own score is not in this preference: that finding has no score, and its HIGH label decides.
    let f = finding(&v, "CVE-2026-10008");
    assert_eq!(
        (f["outcome"].as_str(), f["basis"].as_str()),
        (Some("needs_signoff"), Some("no score; label HIGH"))
    );
}

#[test]
fn tolerant_reader_of_the_hand_edited_aws_sample() {
    // Stray key, `+1100` offsets, and counts (1) lower than the findings listed (3): all judged, with a warning.
    let (code, v) = run_json(bbgate().args([
        "verify",
        "--findings",
        "../shared/fixtures-upstream/ecr-basic-scan-cultureamp/scan-findings-example-a.json",
        "--api-report",
        "../shared/fixtures-upstream/cucumber-cck-messages/minimal.ndjson",
        "--policy",
        "fixtures/policies/upstream.toml",
        "--now",
        "2020-01-25T00:00:00Z",
    ]));
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["images"][0]["findings"].as_array().unwrap().len(), 3);
    assert_eq!(v["images"][0]["scan"]["completed_at"], "2020-01-24T04:11:45Z");
    assert!(
        v["warnings"].to_string().contains("findingSeverityCounts sums to 1"),
        "{}",
        v["warnings"]
    );
}

#[test]
fn demo_signoffs_applied_expired_expiring_rejected() {
    let (code, v) = run_json(bbgate().args([
        "verify",
        "--findings",
        "fixtures/demo/payments-emulator-scan.json",
        "--api-report",
        "../shared/fixtures-upstream/cucumber-cck-messages/minimal.ndjson",
        "--signoffs",
        "fixtures/demo/signoffs.toml",
        "--now",
        NOW_2021,
    ]));
    assert_eq!(code, 1);
    let s = &v["signoffs"];
    assert_eq!(s["applied"], serde_json::json!(["CVE-2013-90003", "CVE-2021-90004"]));
    assert_eq!(s["expired"], serde_json::json!(["CVE-2019-90005"]));
    assert_eq!(s["expiring"], serde_json::json!(["CVE-2021-90004"]));
    assert_eq!(s["rejected"], serde_json::json!(["CVE-2005-90001"]));
    assert_eq!(s["unused"], serde_json::json!([]));
    assert_eq!(finding(&v, "CVE-2013-90003")["outcome"], "signed_off");
    assert_eq!(
        finding(&v, "CVE-2005-90001")["outcome"],
        "blocked",
        "a sign-off never waives the blocked band"
    );
    assert_eq!(
        finding(&v, "CVE-2019-90005")["outcome"],
        "needs_signoff",
        "an expired sign-off does not apply"
    );
    assert_eq!(v["counts"]["needs_signoff"], 23);
}

#[test]
fn the_passing_demo_passes_and_a_day_later_it_would_not() {
    let args = PASSING_DEMO;
    let (code, v) = run_json(bbgate().args(args).args(["--now", NOW_2026]));
    assert_eq!(code, 0, "{}", v["reasons"]);
    assert_eq!(v["verdict"], "pass");
    assert_eq!(v["reasons"], serde_json::json!([]));
    // The glibc sign-off expires on 2026-12-05: on the 6th it no longer applies.
    let (code, v) = run_json(bbgate().args(args).args(["--now", "2026-12-06T00:00:00Z"]));
    assert_eq!(code, 1);
    assert_eq!(finding(&v, "CVE-2026-10008")["outcome"], "needs_signoff");
    assert_eq!(v["signoffs"]["expired"], serde_json::json!(["CVE-2026-10008"]));
}

#[test]
fn failed_scenarios_of_one_name_are_told_apart_by_where_they_are_written() {
    // The GovStack test harness's real run: a scenario outline whose four example rows fail alike.
    let args = [
        "verify",
        "--findings",
        "fixtures/demo/pass",
        "--api-report",
        "../shared/fixtures-upstream/govstack-testharness-messages/example_result.message",
        "--now",
        NOW_2026,
    ];
    let (_, v) = run_json(bbgate().args(args));
    let same: Vec<&str> = v["api_tests"]["failed_scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["name"] == "The user successfully receives the id and access token")
        .map(|f| f["location"].as_str().unwrap())
        .collect();
    assert_eq!(
        same,
        [
            "features/oauth_token.feature:28",
            "features/oauth_token.feature:29",
            "features/oauth_token.feature:30",
            "features/oauth_token.feature:31"
        ],
        "one per example row"
    );
    // Wide enough that each failed scenario is one line.
    let (_, human, _) = run(bbgate().args(args).env("COLUMNS", "300"));
    assert!(
        human.contains("The user successfully receives the id and access token (features/oauth_token.feature:29)"),
        "{human}"
    );
}
