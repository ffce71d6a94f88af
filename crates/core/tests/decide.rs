//! The pure core: band edges, label fallback, unscored handling, sign-off scoping. No files, no clock.

use bbgate_core::apitests::{ReportFormat, Scenario, Status, TestRun};
use bbgate_core::findings::{Finding, ImageRef, Scan, ScanType, ScoreCandidate, ScoreKind, Severity};
use bbgate_core::gate::{Inputs, Outcome, Verdict, decide};
use bbgate_core::policy::Policy;
use bbgate_core::policy::signoff::SignOff;
use std::path::Path;

const DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

fn policy(extra_scan: &str) -> Policy {
    let src = format!(
        "[scan]\n{extra_scan}\n[signoffs]\napprovers = [\"admin\"]\n[[building_block]]\nname = \"payments\"\nnamespace = \"paymenthub\"\nrepositories = [\"bb/payments/*\"]\n"
    );
    Policy::parse(Path::new("t.toml"), &src, "t.toml".into()).unwrap()
}

fn finding(id: &str, severity: Severity, scores: &[(ScoreKind, f64)]) -> Finding {
    Finding {
        unreadable_score: false,
        id: id.into(),
        package: "pkg".into(),
        package_version: "1".into(),
        severity,
        scan_type: ScanType::Enhanced,
        candidates: scores
            .iter()
            .map(|&(kind, value)| ScoreCandidate {
                kind,
                value,
                source: "NVD".into(),
            })
            .collect(),
        notes: vec![],
    }
}

fn scan(findings: Vec<Finding>) -> Scan {
    Scan {
        image: ImageRef {
            registry_id: None,
            repository: "bb/payments/api".into(),
            digest: DIGEST.into(),
            tag: None,
        },
        status: "ACTIVE".into(),
        status_description: None,
        completed_at: Some("2026-11-27T00:00:00Z".parse().unwrap()),
        source_updated_at: None,
        severity_counts: Default::default(),
        findings,
        pages: 1,
    }
}

fn passing_run() -> Vec<TestRun> {
    vec![TestRun {
        source: "r".into(),
        format: ReportFormat::Junit,
        scenarios: vec![Scenario {
            feature: "f".into(),
            name: "s".into(),
            status: Status::Passed,
            message: None,
        }],
        started_at: None,
        run_failures: Vec::new(),
    }]
}

fn signoff(id: &str, package: Option<&str>, digest: Option<&str>, expires: &str) -> SignOff {
    SignOff {
        id: id.into(),
        building_block: "payments".into(),
        package: package.map(Into::into),
        digest: digest.map(Into::into),
        analysis: "a".into(),
        mitigation: "m".into(),
        approved_by: "admin".into(),
        approved_on: "2026-11-01".parse().unwrap(),
        expires: expires.parse().unwrap(),
        location: format!("s.toml:{id}"),
    }
}

fn now() -> jiff::Timestamp {
    "2026-11-28T00:00:00Z".parse().unwrap()
}

fn outcomes(p: &Policy, findings: Vec<Finding>, signoffs: &[SignOff]) -> (Vec<Outcome>, Verdict) {
    let s = scan(findings);
    let runs = passing_run();
    let d = decide(
        p,
        p.building_block("payments").unwrap(),
        &Inputs {
            scan: &s,
            test_runs: &runs,
            signoffs,
        },
        now(),
    );
    (d.findings.iter().map(|f| f.outcome).collect(), d.verdict)
}

#[test]
fn band_edges() {
    let p = policy("");
    let f = |v| finding("CVE-1", Severity::Low, &[(ScoreKind::Cvss3, v)]);
    let (o, _) = outcomes(&p, vec![f(10.0), f(9.0), f(8.9), f(7.0), f(6.9), f(0.0)], &[]);
    use Outcome::*;
    assert_eq!(o, [Blocked, Blocked, NeedsSignoff, NeedsSignoff, Allowed, Allowed]);
}

#[test]
fn a_clean_image_with_passing_tests_passes() {
    let (o, v) = outcomes(
        &policy(""),
        vec![finding("CVE-1", Severity::Critical, &[(ScoreKind::Cvss3, 6.9)])],
        &[],
    );
    assert_eq!(
        (o, v),
        (vec![Outcome::Allowed], Verdict::Pass),
        "a CRITICAL label with a 6.9 score is allowed: the score decides"
    );
    let (o, v) = outcomes(&policy(""), vec![], &[]);
    assert_eq!((o.len(), v), (0, Verdict::Pass));
}

#[test]
fn label_fallback_and_unscored_actions() {
    use Outcome::*;
    let unscored = || {
        vec![
            finding("C", Severity::Critical, &[]),
            finding("H", Severity::High, &[]),
            finding("M", Severity::Medium, &[]),
            finding("U", Severity::Undefined, &[]),
            finding("T", Severity::Untriaged, &[]),
        ]
    };
    assert_eq!(
        outcomes(&policy(""), unscored(), &[]).0,
        [Blocked, NeedsSignoff, Allowed, Warned, Warned]
    );
    assert_eq!(
        outcomes(&policy("unscored = \"block\""), unscored(), &[]).0,
        [Blocked, NeedsSignoff, Allowed, Blocked, Blocked]
    );
    assert_eq!(
        outcomes(&policy("unscored = \"signoff\""), unscored(), &[]).0,
        [Blocked, NeedsSignoff, Allowed, NeedsSignoff, NeedsSignoff]
    );
    assert_eq!(
        outcomes(&policy("label_fallback = false\nunscored = \"allow\""), unscored(), &[]).0,
        [Allowed, Allowed, Allowed, Allowed, Allowed],
        "without the label fallback every unscored finding follows `unscored`"
    );
    // A warned finding does not deny.
    assert_eq!(
        outcomes(&policy(""), vec![finding("U", Severity::Undefined, &[])], &[]).1,
        Verdict::Pass
    );
}

#[test]
fn preference_picks_kind_then_highest() {
    let p = policy("score_preference = [\"cvss2\", \"ecr\"]");
    let f = finding(
        "CVE-1",
        Severity::Low,
        &[(ScoreKind::Cvss3, 9.8), (ScoreKind::Ecr, 7.1), (ScoreKind::Ecr, 7.4)],
    );
    let s = scan(vec![f]);
    let d = decide(
        &p,
        p.building_block("payments").unwrap(),
        &Inputs {
            scan: &s,
            test_runs: &passing_run(),
            signoffs: &[],
        },
        now(),
    );
    let score = d.findings[0].score.as_ref().unwrap();
    assert_eq!((score.kind, score.value), (ScoreKind::Ecr, 7.4));
}

#[test]
fn signoffs_are_scoped_by_package_and_digest() {
    let p = policy("");
    let high = || finding("CVE-9", Severity::High, &[(ScoreKind::Cvss3, 8.0)]);
    let other_digest = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
    for (s, expected) in [
        (signoff("CVE-9", None, None, "2026-12-31"), Outcome::SignedOff),
        (
            signoff("CVE-9", Some("pkg"), Some(DIGEST), "2026-12-31"),
            Outcome::SignedOff,
        ),
        (
            signoff("CVE-9", Some("other"), None, "2026-12-31"),
            Outcome::NeedsSignoff,
        ),
        (
            signoff("CVE-9", None, Some(other_digest), "2026-12-31"),
            Outcome::NeedsSignoff,
        ),
        (signoff("CVE-8", None, None, "2026-12-31"), Outcome::NeedsSignoff),
        (signoff("CVE-9", None, None, "2026-11-27"), Outcome::NeedsSignoff),
        (signoff("CVE-9", None, None, "2026-11-28"), Outcome::SignedOff),
    ] {
        let (o, _) = outcomes(&p, vec![high()], std::slice::from_ref(&s));
        assert_eq!(o, [expected], "{s:?}");
    }
    // A sign-off of another building block never applies.
    let mut foreign = signoff("CVE-9", None, None, "2026-12-31");
    foreign.building_block = "usct".into();
    assert_eq!(outcomes(&p, vec![high()], &[foreign]).0, [Outcome::NeedsSignoff]);
}

#[test]
fn unused_signoffs_warn_or_deny_by_policy() {
    let s = [signoff("CVE-404", None, None, "2026-12-31")];
    let f = || vec![finding("CVE-1", Severity::Low, &[(ScoreKind::Cvss3, 3.0)])];
    assert_eq!(outcomes(&policy(""), f(), &s).1, Verdict::Pass);
    let deny = Policy::parse(
        Path::new("t.toml"),
        "[signoffs]\napprovers = [\"admin\"]\nunused = \"deny\"\n[[building_block]]\nname = \"payments\"\nnamespace = \"paymenthub\"\nrepositories = [\"bb/payments/*\"]\n",
        "t".into(),
    )
    .unwrap();
    assert_eq!(outcomes(&deny, f(), &s).1, Verdict::Deny);
}

#[test]
fn api_test_statuses_follow_count_as_failed() {
    let src = "[api_tests]\ncount_as_failed = [\"failed\"]\nmin_pass_ratio = 0.5\n[[building_block]]\nname = \"payments\"\nnamespace = \"paymenthub\"\nrepositories = [\"bb/payments/*\"]\n";
    let p = Policy::parse(Path::new("t.toml"), src, "t".into()).unwrap();
    let sc = |status| Scenario {
        feature: "f".into(),
        name: "s".into(),
        status,
        message: None,
    };
    let runs = vec![TestRun {
        source: "r".into(),
        format: ReportFormat::CucumberMessages,
        scenarios: vec![
            sc(Status::Passed),
            sc(Status::Skipped),
            sc(Status::Failed),
            sc(Status::Failed),
        ],
        started_at: None,
        run_failures: Vec::new(),
    }];
    let s = scan(vec![]);
    let d = decide(
        &p,
        p.building_block("payments").unwrap(),
        &Inputs {
            scan: &s,
            test_runs: &runs,
            signoffs: &[],
        },
        now(),
    );
    assert_eq!(
        (d.api_tests.passed, d.api_tests.failed, d.verdict),
        (2, 2, Verdict::Pass),
        "skipped counts as passed here; 2/4 >= 0.5"
    );
}
