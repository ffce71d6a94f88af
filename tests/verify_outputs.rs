//! What verify writes: evidence bound to the digest and inputs, the attestation, JUnit, and deny reasons.

#![allow(clippy::unwrap_used)] // a test fails loudly where it unwraps

mod common;
use bbgate::apitests::{Status, parse_report};
use bbgate::report::evidence;
use common::*;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const KEY: &str = "s3cret-evidence-key-do-not-print";

#[test]
fn evidence_binds_decision_to_digest_and_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let (ev, att, junit) = (
        dir.path().join("evidence.json"),
        dir.path().join("att.json"),
        dir.path().join("junit.xml"),
    );
    let (code, stdout, stderr) = run(bbgate()
        .env("BBGATE_EVIDENCE_KEY", KEY)
        .env("CIRCLE_WORKFLOW_ID", "wf-1234")
        .env("CIRCLE_PROJECT_REPONAME", "sandbox-bb-payments")
        .env("CIRCLE_SHA1", "deadbeef")
        .args([
            "verify",
            "--findings",
            "fixtures/demo/pass",
            "--api-report",
            "../shared/fixtures-upstream/cucumber-cck-messages/minimal.ndjson",
            "--signoffs",
            "fixtures/demo/pass/signoffs.toml",
            "--registry",
            "123456789012.dkr.ecr.eu-central-1.amazonaws.com",
            "--now",
            NOW_2026,
        ])
        .arg("--evidence")
        .arg(&ev)
        .arg("--attestation")
        .arg(&att)
        .arg("--junit")
        .arg(&junit));
    assert_eq!(code, 0, "{stdout}{stderr}");
    let bytes = std::fs::read(&ev).unwrap();
    // Each file written is named on stderr with its sha256.
    {
        use sha2::{Digest, Sha256};
        for (what, path) in [("evidence", &ev), ("attestation", &att), ("JUnit report", &junit)] {
            let sha = hex::encode(Sha256::digest(std::fs::read(path).unwrap()));
            let line = format!("bbgate: wrote the {what} {} (sha256 {sha})", path.display());
            assert!(stderr.contains(&line), "{line}: {stderr}");
        }
    }
    for text in [
        stdout.as_str(),
        stderr.as_str(),
        &String::from_utf8_lossy(&bytes),
        &std::fs::read_to_string(&att).unwrap(),
        &std::fs::read_to_string(&junit).unwrap(),
    ] {
        assert!(!text.contains(KEY), "the evidence key leaked");
    }
    let body = evidence::open("evidence.json", &bytes).expect("the digest matches");
    assert_eq!(body["verdict"], "pass");
    assert_eq!(body["images"][0]["digest"], format!("sha256:{}", "a1".repeat(32)));
    assert_eq!(body["images"][0]["repository"], "bb/payments/adapter");
    assert_eq!(
        body["images"][0]["registry"],
        "123456789012.dkr.ecr.eu-central-1.amazonaws.com"
    );
    assert_eq!(body["images"][0]["tag"], "1.5.0");
    assert_eq!(body["building_block"]["namespace"], "paymenthub");
    assert_eq!(body["circleci"]["CIRCLE_WORKFLOW_ID"], "wf-1234");
    assert_eq!(body["decided_at"], NOW_2026);
    let policy_sha = hex::encode(Sha256::digest(std::fs::read("policies/sandbox.toml").unwrap()));
    assert_eq!(body["policy"]["sha256"], policy_sha);
    let page1_sha = hex::encode(Sha256::digest(
        std::fs::read("fixtures/demo/pass/scan-page-1.json").unwrap(),
    ));
    assert_eq!(body["images"][0]["findings_pages"][0]["sha256"], page1_sha);
    assert_eq!(
        body["inputs"]["signoff_files"][0]["path"],
        "fixtures/demo/pass/signoffs.toml"
    );
    assert_eq!(body["images"][0]["findings"].as_array().unwrap().len(), 4);

    let statement: serde_json::Value = serde_json::from_slice(&std::fs::read(&att).unwrap()).unwrap();
    assert_eq!(statement["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(statement["subject"][0]["digest"]["sha256"], "a1".repeat(32));
    assert_eq!(
        statement["subject"][0]["name"],
        "123456789012.dkr.ecr.eu-central-1.amazonaws.com/bb/payments/adapter"
    );
    assert_eq!(statement["predicateType"], "https://slsa.dev/verification_summary/v1");
    assert_eq!(statement["predicate"]["verificationResult"], "PASSED");
    assert_eq!(statement["predicate"]["policy"]["digest"]["sha256"], policy_sha);
    assert_eq!(
        statement["predicate"]["evidence"]["sha256"],
        hex::encode(Sha256::digest(&bytes))
    );
}

#[test]
fn junit_has_a_failing_case_per_blocking_finding_and_failed_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    let (code, _, _) = run(bbgate()
        .args([
            "verify",
            "--findings",
            "fixtures/ecr/enhanced-edge-cases.json",
            "--api-report",
            "../shared/fixtures-upstream/govstack-testharness-junit/example_result.xml",
            "--now",
            NOW_2026,
        ])
        .arg("--junit")
        .arg(&junit));
    assert_eq!(code, 1);
    // Read our own JUnit back with the same reader bbgate uses for test reports.
    let run = parse_report(&junit, &std::fs::read(&junit).unwrap()).expect("valid JUnit");
    let failed: Vec<_> = run.scenarios.iter().filter(|s| s.status == Status::Failed).collect();
    // 2 blocked + 3 needing sign-off + 11 failed scenarios + the verdict.
    assert_eq!(failed.len(), 2 + 3 + 11 + 1, "{failed:#?}");
    assert!(
        failed
            .iter()
            .any(|s| s.feature == "bbgate.findings.blocked" && s.name == "CVE-2026-10001 in libxml2 1.0.0")
    );
    assert!(
        failed
            .iter()
            .any(|s| s.feature == "bbgate" && s.message.as_deref().unwrap_or("").contains("blocked"))
    );
    // An independent reader (junitparser, from PyPI) sees the same failed cases.
    let mut independent: Vec<String> = python(JUNIT_READER, &[junit.to_str().unwrap()])
        .lines()
        .map(str::to_owned)
        .collect();
    let mut ours: Vec<String> = failed.iter().map(|s| format!("{}|{}", s.feature, s.name)).collect();
    independent.sort();
    ours.sort();
    assert_eq!(independent, ours);
}

/// Failed cases (`classname|name`) as junitparser reads a JUnit file.
const JUNIT_READER: &str = r#"
import sys
from junitparser import JUnitXml, TestSuite, Failure, Error
xml = JUnitXml.fromfile(sys.argv[1])
suites = [xml] if isinstance(xml, TestSuite) else list(xml)
for suite in suites:
    for case in suite:
        if any(isinstance(r, (Failure, Error)) for r in case.result):
            print(f"{case.classname}|{case.name}")
"#;

/// The evidence's body_sha256 as Python computes it: sorted keys, no white space, UTF-8.
const EVIDENCE_DIGEST: &str = r#"
import hashlib, json, sys
doc = json.load(open(sys.argv[1], encoding="utf-8"))
canonical = json.dumps(doc["body"], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
print(hashlib.sha256(canonical.encode("utf-8")).hexdigest(), doc["integrity"]["body_sha256"])
"#;

/// Run a Python snippet in the test peers' venv (PyYAML, cryptography, junitparser) and return its stdout.
fn python(code: &str, args: &[&str]) -> String {
    let py = std::env::var("BBGATE_TEST_PYTHON").expect("BBGATE_TEST_PYTHON: run the suite with scripts/test");
    let out = std::process::Command::new(py)
        .arg("-c")
        .arg(code)
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_evidence_digest_is_recomputed_by_an_independent_implementation() {
    let dir = tempfile::tempdir().unwrap();
    for (i, args) in [&PASSING_DEMO[..], &DENIED_DEMO[..]].iter().enumerate() {
        let ev = dir.path().join(format!("e{i}.json"));
        let (_, _, err) = run(bbgate()
            .args(*args)
            .args(["--now", NOW_2026, "--evidence", ev.to_str().unwrap()]));
        let out = python(EVIDENCE_DIGEST, &[ev.to_str().unwrap()]);
        let (theirs, written) = out.trim().split_once(' ').unwrap();
        assert_eq!(theirs, written, "{err}");
        // The check can fail: one byte of the body changed gives another digest.
        let text = std::fs::read_to_string(&ev)
            .unwrap()
            .replacen("\"verdict\": \"", "\"verdict\": \"x", 1);
        std::fs::write(&ev, text).unwrap();
        let out = python(EVIDENCE_DIGEST, &[ev.to_str().unwrap()]);
        let (theirs, written) = out.trim().split_once(' ').unwrap();
        assert_ne!(theirs, written);
    }
}

#[test]
fn evidence_is_written_for_a_deny_too() {
    let dir = tempfile::tempdir().unwrap();
    let ev = dir.path().join("e.json");
    let (code, _, _) = run(bbgate()
        .args([
            "verify",
            "--findings",
            "fixtures/ecr/enhanced-edge-cases.json",
            "--now",
            NOW_2026,
        ])
        .arg("--evidence")
        .arg(&ev));
    assert_eq!(code, 1);
    let body = evidence::open("e.json", &std::fs::read(&ev).unwrap()).unwrap();
    assert_eq!(body["verdict"], "deny");
    assert!(
        body["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["code"] == "api-report-missing" && r["message"].as_str().unwrap().contains("no API test report"))
    );
    assert!(body["integrity"].is_null(), "the body does not carry its own seal");
}

#[test]
fn evidence_digest_is_the_canonical_form_of_every_part() {
    // Every kind of content at once (notes, failed scenarios, every sign-off list, CircleCI context): the
    // body bbgate hashes when writing must be byte-equal to the sorted-key form `open` recomputes.
    let dir = tempfile::tempdir().unwrap();
    let ev = dir.path().join("e.json");
    let (code, _, _) = run(bbgate()
        .env("CIRCLE_BUILD_URL", "https://circleci.com/gh/x/y/1")
        .args(DENIED_DEMO)
        .args(["--now", NOW_2021])
        .arg("--evidence")
        .arg(&ev));
    assert_eq!(code, 1);
    let bytes = std::fs::read(&ev).unwrap();
    let body = evidence::open("e.json", &bytes).expect("the self-digest matches the canonical form");
    assert_eq!(body["api_tests"]["failed_scenarios"].as_array().unwrap().len(), 11);
    assert_eq!(body["signoffs"]["rejected"][0]["id"], "CVE-2005-90001");
    assert!(
        body["images"][0]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| !f["notes"].as_array().unwrap().is_empty())
    );
    let doc: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let canon = evidence::canonical(&doc["body"]);
    assert_eq!(doc["integrity"]["body_sha256"], hex::encode(Sha256::digest(&canon)));
}

#[test]
fn unfinished_failed_and_stale_scans_deny_with_the_status_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut page = std::fs::read_to_string("fixtures/demo/pass/scan-page-1.json").unwrap();
    page = page
        .replace("\"status\": \"ACTIVE\"", "\"status\": \"FAILED\"")
        .replace(
            "Continuous scan is selected for image.",
            "UnsupportedImageError: the OS is not supported",
        );
    let failed = dir.path().join("failed.json");
    std::fs::write(&failed, page.replace("\"nextToken\"", "\"_next\"")).unwrap();
    let (code, v) = run_json(
        bbgate()
            .args([
                "verify",
                "--api-report",
                "../shared/fixtures-upstream/cucumber-cck-messages/minimal.ndjson",
                "--now",
                NOW_2026,
            ])
            .arg("--findings")
            .arg(&failed),
    );
    assert_eq!(code, 1);
    assert!(
        v["reasons"][0]["code"] == "scan-not-complete"
            && v["reasons"][0]["message"]
                .as_str()
                .unwrap()
                .contains("scan status is FAILED: UnsupportedImageError"),
        "{}",
        v["reasons"]
    );

    let args = [
        "verify",
        "--findings",
        "fixtures/demo/pass",
        "--api-report",
        "../shared/fixtures-upstream/cucumber-cck-messages/minimal.ndjson",
        "--signoffs",
        "fixtures/demo/pass/signoffs.toml",
    ];
    let (code, v) = run_json(bbgate().args(args).args(["--now", "2026-12-30T00:00:00Z"]));
    assert_eq!(code, 1);
    assert!(
        v["reasons"].to_string().contains("completed 32 days ago"),
        "{}",
        v["reasons"]
    );
    let (code, v) = run_json(bbgate().args(args).args(["--now", "2026-11-01T00:00:00Z"]));
    assert_eq!(code, 1, "a scan from after the decision time is suspect");
    assert!(
        v["reasons"].to_string().contains("after the decision time"),
        "{}",
        v["reasons"]
    );
}

#[test]
fn another_building_blocks_image_is_denied() {
    let (code, v) = run_json(bbgate().args([
        "verify",
        "--findings",
        "fixtures/demo/pass",
        "--api-report",
        "../shared/fixtures-upstream/cucumber-cck-messages/minimal.ndjson",
        "--building-block",
        "information-mediator",
        "--now",
        NOW_2026,
    ]));
    assert_eq!(code, 1);
    assert!(
        v["reasons"][0]["code"] == "foreign-repository"
            && v["reasons"][0]["message"]
                .as_str()
                .unwrap()
                .contains("bb/payments/adapter is neither one of building block information-mediator's repositories"),
        "{}",
        v["reasons"]
    );
}

#[test]
fn missing_api_report_denies_when_required() {
    let (code, v) = run_json(bbgate().args([
        "verify",
        "--findings",
        "fixtures/demo/pass",
        "--signoffs",
        "fixtures/demo/pass/signoffs.toml",
        "--now",
        NOW_2026,
    ]));
    assert_eq!(code, 1);
    assert_eq!(v["api_tests"]["outcome"], "missing");
}

#[test]
fn human_output_explains_the_deny() {
    let (code, out, _) = run(bbgate().args([
        "verify",
        "--findings",
        "fixtures/demo/payments-emulator-scan.json",
        "--api-report",
        "../shared/fixtures-upstream/govstack-testharness-messages/example_result.message",
        "--signoffs",
        "fixtures/demo/signoffs.toml",
        "--now",
        NOW_2021,
    ]));
    assert_eq!(code, 1);
    assert!(out.contains("| blocked       | CVE-2005-90001 "), "{out}");
    assert!(
        out.contains("findings: 2 blocked · 23 need sign-off · 2 signed off · 11 warned · 219 allowed"),
        "{out}"
    );
    assert!(out.contains("api tests: 71 of 82 scenarios passed, 11 failed"), "{out}");
    assert!(
        out.contains("sign-offs: 2 applied · 1 expired · 1 expiring soon · 1 rejected · 0 unused"),
        "{out}"
    );
    assert!(out.contains("verdict: DENY\n  - 2 finding(s) blocked"), "{out}");
}

#[test]
fn policy_check_validates_without_deciding() {
    let (code, out, _) = run(bbgate().args([
        "policy",
        "check",
        "--signoffs",
        "fixtures/demo/signoffs.toml",
        "fixtures/demo/pass/signoffs.toml",
    ]));
    assert_eq!(code, 0);
    assert!(out.contains("6 sign-off(s) in 2 file(s) well-formed"), "{out}");
    // Long-expired sign-offs are not called valid: each is listed with how long ago it expired.
    assert!(
        out.contains("CVE-2019-90005 (payments at fixtures/demo/signoffs.toml:36): expired on 2021-04-01"),
        "{out}"
    );
    // As of a time in the demo's window: one expiring, one expired.
    let (code, out, _) = run(bbgate().args([
        "policy",
        "check",
        "--now",
        "2021-04-10T00:00:00Z",
        "--signoffs",
        "fixtures/demo/signoffs.toml",
    ]));
    assert_eq!(code, 0);
    for line in [
        "sign-offs that do not apply as of 2021-04-10, or soon will not:",
        "CVE-2021-90004 (payments at fixtures/demo/signoffs.toml:14): expires on 2021-04-20 (in 10 days)",
        "CVE-2019-90005 (payments at fixtures/demo/signoffs.toml:36): expired on 2021-04-01 (9 days ago)",
    ] {
        assert!(out.contains(line), "{line}: {out}");
    }
    assert!(
        !out.contains("CVE-2013-90003"),
        "valid for 81 more days: not listed\n{out}"
    );
    let (code, _, err) = run(bbgate().args(["policy", "check", "--policy", "fixtures/nope.toml"]));
    assert_eq!(code, 2);
    assert!(err.contains("fixtures/nope.toml"));
}

#[test]
fn built_in_policy_is_used_outside_the_project() {
    let dir = tempfile::tempdir().unwrap();
    let root = std::env::current_dir().unwrap();
    let (code, v) = run_json(
        bbgate()
            .current_dir(dir.path())
            .args(["verify", "--now", NOW_2026, "--findings"])
            .arg(root.join("fixtures/demo/pass")),
    );
    assert_eq!(code, 1, "no API report: deny");
    assert_eq!(v["policy"]["location"], "built-in");
    let file_sha = hex::encode(Sha256::digest(std::fs::read("policies/sandbox.toml").unwrap()));
    assert_eq!(v["policy"]["sha256"], file_sha, "the built-in copy is the shipped file");
}

/// The README's code table lists every diagnostic code, with its meaning, as the code defines them.
#[test]
fn the_readme_documents_every_diagnostic_code() {
    let readme = std::fs::read_to_string("README.md").unwrap();
    let table: Vec<(String, String)> = readme
        .lines()
        .skip_while(|l| *l != "| diagnostic code | meaning |")
        .skip(2)
        .take_while(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split(" | ").map(str::trim).collect();
            (cells[0].trim_matches('`').to_owned(), cells[1].to_owned())
        })
        .collect();
    let codes: Vec<(String, String)> = bbgate::diag::CODES
        .iter()
        .map(|(c, m)| ((*c).to_owned(), (*m).to_owned()))
        .collect();
    assert_eq!(table, codes);
}

#[test]
fn every_command_says_its_exit_codes_and_an_example_and_completions_and_man_pages_come_from_the_cli() {
    for cmd in [
        &["verify"][..],
        &["push"],
        &["deploy"],
        &["eks-token"],
        &["policy", "check"],
        &["attest", "verify"],
        &["chart", "check"],
    ] {
        let (code, out, _) = run(bbgate().args(cmd).arg("--help"));
        assert_eq!(code, 0, "{cmd:?}");
        assert!(out.contains("Exit code"), "{cmd:?}: {out}");
        // clap shows each variable once, as [env: NAME=]; the descriptions do not repeat it.
        assert!(!out.contains("[env: BBGATE_ROLE_ARN, else"), "{cmd:?}: {out}");
        // The options, before the examples and the exit codes.
        let options = out
            .split("\nExample")
            .next()
            .unwrap()
            .split("\nExit code")
            .next()
            .unwrap();
        for line in options.lines().filter(|l| l.trim_start().starts_with("--")) {
            let next_is_text = options
                .lines()
                .skip_while(|l| *l != line)
                .nth(1)
                .is_some_and(|n| !n.trim().is_empty() && !n.trim_start().starts_with('-'));
            assert!(
                line.split("  ").filter(|p| !p.trim().is_empty()).count() > 1 || next_is_text,
                "{cmd:?}: an option without a description: {line}"
            );
        }
    }
    for cmd in [
        &["verify"][..],
        &["push"],
        &["deploy"],
        &["policy", "check"],
        &["chart", "check"],
        &["attest", "verify"],
    ] {
        let (_, out, _) = run(bbgate().args(cmd).arg("--help"));
        assert!(out.contains("Example"), "{cmd:?}: {out}");
    }
    let (code, bash, _) = run(bbgate().args(["completions", "bash"]));
    assert_eq!(code, 0);
    assert!(
        bash.contains("_bbgate") && bash.contains("--set-secret"),
        "the completion knows the flags"
    );
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = run(bbgate().args(["man", "--out-dir", dir.path().to_str().unwrap()]));
    assert_eq!(code, 0, "{err}");
    let page = std::fs::read_to_string(dir.path().join("bbgate-verify.1")).unwrap();
    assert!(page.contains(".TH") && page.contains("\\-\\-chart"), "{page}");
}

#[test]
fn the_findings_table_fits_the_width_and_never_splits_an_id_or_a_package() {
    let args = [&DENIED_DEMO[..], &["--now", NOW_2021]].concat();
    let (_, v) = run_json(bbgate().args(&args));
    let shown: Vec<(String, String)> = all_findings(&v)
        .filter(|f| f["outcome"] != "allowed")
        .map(|f| {
            (
                f["id"].as_str().unwrap().to_owned(),
                f["package"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(shown.len() > 20, "a table worth wrapping");
    assert_eq!(
        common::finding(&v, "CVE-2005-90001")["advisory"],
        "https://security-tracker.debian.org/tracker/CVE-2005-90001",
        "the JSON carries the advisory"
    );
    // Under 100 columns, a block of at most 3 lines per finding, the id and package whole, every line within the
    // width but an advisory's URL (never cut); the verdict's reasons wrapped too.
    for width in [60usize, 80] {
        let (code, out, _) = run(bbgate().args(&args).env("COLUMNS", width.to_string()));
        assert_eq!(code, 1);
        assert!(!out.lines().any(|l| l.starts_with('|')), "no table at {width}: {out}");
        let start = out.lines().position(|l| l.starts_with("BLOCKED ")).expect("blocks");
        let end = out
            .lines()
            .position(|l| l.starts_with("advisories:"))
            .expect("advisories");
        let block_lines = end - start;
        assert!(
            block_lines <= 3 * shown.len() && block_lines >= 2 * shown.len(),
            "{width}: {block_lines} lines for {} findings:\n{out}",
            shown.len()
        );
        for (id, package) in &shown {
            assert!(
                out.lines().any(|l| l.split_whitespace().nth(1) == Some(id.as_str())
                    || l.split_whitespace().nth(2) == Some(id.as_str())),
                "{width}: {id} not at the head of its block"
            );
            assert!(out.contains(&format!("  package {package}")), "{width}: {package}");
        }
        for l in out
            .lines()
            .filter(|l| !l.contains("https://") && !l.contains("@sha256:"))
        {
            assert!(l.chars().count() <= width, "{width}: {l}");
        }
    }
    // COLUMNS, else 100 (not a terminal here).
    for (columns, width) in [(Some("100"), 100), (Some("160"), 160), (None, 100)] {
        let mut cmd = bbgate();
        cmd.args(&args).env_remove("COLUMNS");
        if let Some(c) = columns {
            cmd.env("COLUMNS", c);
        }
        let (code, out, _) = run(&mut cmd);
        assert_eq!(code, 1);
        let table: Vec<&str> = out.lines().filter(|l| l.starts_with('|')).collect();
        assert!(!table.is_empty());
        for l in &table {
            assert!(l.chars().count() <= width, "{width}: {l}");
        }
        // The advisory of each finding that holds the image back is listed whole under the table, worst first.
        assert!(
            out.contains("advisories:\n  CVE-2005-90001: https://security-tracker.debian.org/tracker/CVE-2005-90001\n"),
            "{out}"
        );
        // Each id and package is whole in its cell on one line.
        let cells: Vec<&str> = table.iter().flat_map(|l| l.split('|')).map(str::trim).collect();
        for (id, package) in &shown {
            assert!(cells.contains(&id.as_str()), "{width}: {id} split");
            assert!(
                cells
                    .iter()
                    .any(|c| c.split_whitespace().next() == Some(package.as_str())),
                "{width}: {package} split"
            );
        }
    }
}

#[test]
fn colour_only_on_a_terminal_and_never_under_no_color() {
    let bin = env!("CARGO_BIN_EXE_bbgate");
    let line = format!("{bin} {} --now {NOW_2026}", PASSING_DEMO.join(" "));
    // Through a pseudo-terminal (util-linux `script`), as a person sees it.
    let on_tty = |extra_env: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new("script");
        cmd.args(["-qec", &line, "/dev/null"])
            .env_remove("NO_COLOR")
            .env_remove("CLICOLOR");
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        String::from_utf8_lossy(&cmd.output().unwrap().stdout).into_owned()
    };
    let coloured = on_tty(&[]);
    assert!(coloured.contains("verdict: \u{1b}[1;32mPASS\u{1b}[0m"), "{coloured:?}");
    // The outcome column too: the passing demo has signed-off findings (green).
    let rows: Vec<&str> = coloured.lines().filter(|l| l.contains("signed_off")).collect();
    assert!(
        !rows.is_empty() && rows.iter().all(|l| l.contains("\u{1b}[")),
        "{coloured:?}"
    );
    // A pseudo-terminal nobody sized (0 columns, as `script` gives here) is laid out at 100 columns, not squashed.
    let table: Vec<&str> = coloured.lines().filter(|l| l.starts_with('|')).collect();
    assert!(
        table[0].contains("why (score, or sign-off)"),
        "the header is on one line: {coloured:?}"
    );
    // A terminal sized under 100 columns gets the blocks, their outcome coloured, each line within its width.
    let mut narrow = std::process::Command::new("script");
    narrow
        .args(["-qec", &format!("stty cols 70; {line}"), "/dev/null"])
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR")
        .env_remove("COLUMNS");
    let narrow = String::from_utf8_lossy(&narrow.output().unwrap().stdout).into_owned();
    assert!(narrow.contains("\u{1b}[1;32mSIGNED OFF\u{1b}[0m"), "{narrow:?}");
    assert!(!narrow.lines().any(|l| l.starts_with('|')), "{narrow:?}");
    for l in narrow.lines().filter(|l| l.split_whitespace().nth(2).is_some()) {
        let plain: String = l.replace("\u{1b}[1;32m", "").replace("\u{1b}[0m", "").replace('\r', "");
        assert!(plain.chars().count() <= 70, "{plain:?}");
    }
    for env in [("NO_COLOR", "1"), ("CLICOLOR", "0")] {
        let plain = on_tty(&[env]);
        assert!(
            plain.contains("verdict: PASS") && !plain.contains('\u{1b}'),
            "{env:?}: {plain:?}"
        );
    }
    // Not a terminal (a CI log, a pipe): plain.
    let (_, piped, _) = run(bbgate().args(PASSING_DEMO).args(["--now", NOW_2026]));
    assert!(piped.contains("verdict: PASS") && !piped.contains('\u{1b}'), "{piped}");
}

/// A DSSE envelope of `statement`, signed with a fresh P-256 key, and that key's SubjectPublicKeyInfo (DER).
fn signed_envelope(statement: &Value) -> (Vec<u8>, Vec<u8>) {
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).unwrap();
    let payload = serde_json::to_vec(statement).unwrap();
    let kind = "application/vnd.in-toto+json";
    let mut pae = format!("DSSEv1 {} {kind} {} ", kind.len(), payload.len()).into_bytes();
    pae.extend_from_slice(&payload);
    let sig = key.sign(&aws_lc_rs::rand::SystemRandom::new(), &pae).unwrap();
    let envelope = json!({
        "payloadType": kind,
        "payload": b64.encode(&payload),
        "signatures": [{"keyid": "", "sig": b64.encode(sig.as_ref())}],
    });
    let spki = key.public_key().as_der().unwrap().as_ref().to_vec();
    (serde_json::to_vec(&envelope).unwrap(), spki)
}

#[test]
fn attest_verify_says_verified_only_for_a_signed_record_of_a_deploy_that_succeeded() {
    let record = |predicate: &str, status: &str| {
        json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": "bb/payments/emulator", "digest": {"sha256": "ab".repeat(32)}}],
            "predicateType": predicate,
            "predicate": {"status": status},
        })
    };
    let deploy = "https://govstack.global/sandbox/bbgate/deploy/v1";
    let tmp = tempfile::tempdir().unwrap();
    let check = |statement: &Value, extra: &[&str]| {
        let (envelope, spki) = signed_envelope(statement);
        let (file, key) = (tmp.path().join("att.json"), tmp.path().join("key.der"));
        std::fs::write(&file, envelope).unwrap();
        std::fs::write(&key, spki).unwrap();
        let mut cmd = bbgate();
        cmd.args([
            "attest",
            "verify",
            "--key",
            key.to_str().unwrap(),
            file.to_str().unwrap(),
        ])
        .args(extra);
        run(&mut cmd)
    };
    // Positive control: a signed record of a deploy that succeeded verifies.
    let (code, out, err) = check(&record(deploy, "deployed"), &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("VERIFIED"), "{out}");
    // Signed by the same kind of key, but recording a failed deploy: not VERIFIED, exit 1, saying the status.
    let (code, out, _) = check(&record(deploy, "failed"), &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.starts_with("NOT VERIFIED") && out.contains("\"failed\""), "{out}");
    // Unless the caller asks for that status.
    let (code, out, _) = check(&record(deploy, "failed"), &["--status", "failed"]);
    assert_eq!(code, 0, "{out}");
    // Another predicate type (verify's evidence, a provenance statement) signed by the key is not a deploy record.
    let (code, out, _) = check(&record("https://slsa.dev/provenance/v1", "deployed"), &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("predicate type"), "{out}");
    // A key file that is no public key is invalid input (2) naming the file, not "no signature verifies" (1).
    let (envelope, _) = signed_envelope(&record(deploy, "deployed"));
    let file = tmp.path().join("att2.json");
    std::fs::write(&file, envelope).unwrap();
    for (name, bytes) in [
        ("garbage.der", b"\x30\x03garbage".to_vec()),
        ("text.pem", b"hello".to_vec()),
    ] {
        let key = tmp.path().join(name);
        std::fs::write(&key, bytes).unwrap();
        let (code, out, err) = run(bbgate().args(["attest", "verify", "--key"]).arg(&key).arg(&file));
        assert_eq!(code, 2, "{name}: {out}{err}");
        assert!(err.contains(&format!("{name}: not a public key")), "{err}");
    }
}

/// After a deny with findings a sign-off may waive, the human output says what to do next, and the command it
/// gives works as written on the decision it names.
#[test]
fn a_deny_ends_with_the_exact_command_that_drafts_the_sign_offs() {
    let args = [&DENIED_DEMO[..], &["--now", NOW_2021]].concat();
    let (code, out, _) = run(bbgate().args(&args).env("COLUMNS", "400"));
    assert_eq!(code, 1);
    let at = out.lines().position(|l| l.starts_with("next: ")).expect("a next step");
    let next = out.lines().nth(at).unwrap();
    let (_, v) = run_json(bbgate().args(&args));
    let waiting = all_findings(&v).filter(|f| f["outcome"] == "needs_signoff").count();
    assert!(next.contains(&format!("draft the {waiting} sign-off(s)")), "{next}");
    let command = out.lines().nth(at + 1).unwrap().trim();
    assert_eq!(
        command,
        "bbgate signoffs request --decision verify.json --out signoffs/requested.toml"
    );
    // Run as written, in a directory holding this run's decision.
    let dir = tempfile::tempdir().unwrap();
    // As the hint says: the same run with --json writes the decision beside the table.
    let (code, table, _) = run(bbgate().args(&args).arg("--json").arg(dir.path().join("verify.json")));
    assert_eq!(code, 1);
    assert!(table.contains("verdict: DENY"), "the table on stdout: {table}");
    std::fs::create_dir_all(dir.path().join("signoffs")).unwrap();
    let words: Vec<&str> = command.split_whitespace().skip(1).collect();
    let (code, _, err) = run(bbgate().args(&words).current_dir(dir.path()));
    assert_eq!(code, 0, "{err}");
    let stubs: toml::Value =
        toml::from_str(&std::fs::read_to_string(dir.path().join("signoffs/requested.toml")).unwrap()).unwrap();
    assert_eq!(stubs["signoff"].as_array().map(Vec::len), Some(waiting), "{stubs}");
    // A pass says no such thing.
    let (code, out, _) = run(bbgate().args(PASSING_DEMO).args(["--now", NOW_2026]));
    assert_eq!(code, 0);
    assert!(!out.contains("next: "), "{out}");
    // It says until when deploy takes its evidence.
    assert!(
        out.contains("deploy before ") && out.contains("([deploy] max_evidence_age)"),
        "{out}"
    );
}

/// The sign-off round trip: the BB's requests are one line each in `policy check` until filled in; an admin's
/// `signoffs approve` dates them, caps their expiry at the policy's limit, adds them to the admins' file (which
/// then reads as a valid sign-off file), prints the file's new pin, and the findings are signed off.
#[test]
fn requests_are_approved_into_the_admins_file_capped_by_the_policy_and_pinned() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    // A fresh decision of the demo's scan (today), with no sign-offs: what needs one.
    let now = jiff::Timestamp::now().to_string();
    let args = [
        "verify",
        "--findings",
        "fixtures/demo/payments-emulator-scan.json",
        "--api-report",
        "fixtures/api-tests/payments-adapter.ndjson",
    ];
    let (_, json, _) = run(bbgate().args(args).args(["--now", &now, "--format", "json"]));
    std::fs::write(p("verify.json"), &json).unwrap();
    let waiting = all_findings(&serde_json::from_str(&json).unwrap())
        .filter(|f| f["outcome"] == "needs_signoff")
        .count();
    assert!(waiting > 5, "{json}");
    let (code, _, err) = run(bbgate()
        .args(["signoffs", "request", "--decision"])
        .arg(p("verify.json"))
        .arg("--out")
        .arg(p("requested.toml")));
    assert_eq!(code, 0, "{err}");
    // Unfilled: one line per request in policy check, and approve refuses each, writing nothing.
    let (code, _, err) = run(bbgate()
        .args(["policy", "check", "--signoffs"])
        .arg(p("requested.toml")));
    assert_eq!(code, 2);
    assert_eq!(
        err.matches("is a sign-off request, not yet a sign-off").count(),
        waiting,
        "{err}"
    );
    let approve = |extra: &[&str]| {
        run(bbgate()
            .args(["signoffs", "approve", "--requests"])
            .arg(p("requested.toml"))
            .arg("--into")
            .arg(p("admins.toml"))
            .args(["--approver", "sandbox-admin@govstack.global"])
            .args(extra))
    };
    let (code, _, err) = approve(&[]);
    assert_eq!(code, 2);
    assert_eq!(err.matches("analysis is empty").count(), waiting, "{err}");
    assert!(!p("admins.toml").exists());
    // Filled in by the BB team; approved for longer than the policy allows: capped.
    let filled = std::fs::read_to_string(p("requested.toml"))
        .unwrap()
        .replace(
            "analysis = \"\"",
            "analysis = \"not reachable from the emulator's API\"",
        )
        .replace("mitigation = \"\"", "mitigation = \"fixed in the next base image\"");
    std::fs::write(p("requested.toml"), filled).unwrap();
    let (code, out, err) = approve(&["--days", "400"]);
    assert_eq!(code, 0, "{err}");
    let max = 90; // the built-in policy's [signoffs] max_validity_days
    let until = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .checked_add(jiff::Span::new().days(max))
        .unwrap();
    assert!(
        out.contains(&format!(
            "expiring {until} (capped to {max} days by [signoffs] max_validity_days)"
        )),
        "{out}"
    );
    let pin = out
        .lines()
        .find(|l| l.contains("new pin"))
        .unwrap()
        .rsplit(" ")
        .next()
        .unwrap();
    assert_eq!(
        pin,
        common::sha256_file(&p("admins.toml")),
        "the printed pin is the file's sha256"
    );
    let (code, _, err) = run(bbgate().args(["policy", "check", "--signoffs"]).arg(p("admins.toml")));
    assert_eq!(code, 0, "{err}");
    // The findings are now signed off.
    let (_, v) = run_json(
        bbgate()
            .args(args)
            .args(["--now", &now, "--signoffs", p("admins.toml").to_str().unwrap()]),
    );
    assert_eq!(
        all_findings(&v).filter(|f| f["outcome"] == "needs_signoff").count(),
        0,
        "{v}"
    );
    assert_eq!(
        all_findings(&v).filter(|f| f["outcome"] == "signed_off").count(),
        waiting
    );
    // What was accepted, and why, travels with each finding: JSON, and the table, Markdown and HTML.
    let cited = all_findings(&v).find(|f| f["outcome"] == "signed_off").unwrap()["signoff"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        cited.contains("approved by sandbox-admin@govstack.global")
            && cited.ends_with(": not reachable from the emulator's API; mitigation: fixed in the next base image"),
        "{cited}"
    );
    let (md, html) = (p("summary.md"), p("report.html"));
    let (_, table, _) = run(bbgate()
        .args(args)
        .args(["--now", &now, "--signoffs", p("admins.toml").to_str().unwrap()])
        .args(["--markdown", md.to_str().unwrap(), "--html", html.to_str().unwrap()])
        .env("COLUMNS", "80"));
    assert!(table.contains("signed off: "), "{table}");
    for (what, text) in [
        ("markdown", std::fs::read_to_string(&md).unwrap()),
        ("html", std::fs::read_to_string(&html).unwrap()),
    ] {
        assert!(
            text.contains("not reachable from the emulator") && text.contains("fixed in the next base image"),
            "{what}: {text}"
        );
    }
    // Approving the same again is refused, naming the entry that holds it.
    let (code, _, err) = approve(&[]);
    assert_eq!(code, 2);
    assert!(
        err.contains("already signed off at ") && err.contains("admins.toml:"),
        "{err}"
    );
}

/// A command line that does not parse is invalid input (exit 2), and under `--format json` (or
/// BBGATE_FORMAT=json) stdout still holds one JSON document saying so; otherwise stdout stays empty.
#[test]
fn a_usage_error_under_format_json_is_a_json_document() {
    for (args, env) in [
        (vec!["verify", "--bogus", "--format", "json"], None),
        (vec!["verify", "--format=json", "--bogus"], None),
        (vec!["deploy", "--bogus"], Some("json")),
    ] {
        let mut cmd = bbgate();
        cmd.args(&args).env_remove("BBGATE_FORMAT");
        if let Some(f) = env {
            cmd.env("BBGATE_FORMAT", f);
        }
        let (code, out, err) = run(&mut cmd);
        assert_eq!(code, 2, "{args:?}");
        let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out:?}"));
        assert_eq!(
            (v["exit_code"].as_i64(), v["error"]["kind"].as_str()),
            (Some(2), Some("invalid-input"))
        );
        assert!(v["error"]["messages"][0].as_str().unwrap().contains("'--bogus'"), "{v}");
        assert!(err.contains("'--bogus'"), "stderr says it too: {err}");
    }
    let (code, out, _) = run(bbgate().args(["verify", "--bogus"]).env_remove("BBGATE_FORMAT"));
    assert_eq!((code, out.as_str()), (2, ""));
}
