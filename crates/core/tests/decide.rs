//! The pure core: band edges, label fallback, unscored handling, sign-off scoping. No files, no clock.

#![allow(clippy::unwrap_used)] // a test fails loudly where it unwraps

mod common;
use common::Msgs;

use bbgate_core::apitests::{ReportFormat, Scenario, Status, TestRun};
use bbgate_core::findings::{Finding, ImageRef, Scan, ScanSource, ScanType, ScoreCandidate, ScoreKind, Severity};
use bbgate_core::gate::{Decision, Inputs, Outcome, Verdict, decide};
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
        fixed_in: None,
        advisory: None,
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
        source: ScanSource::Ecr,
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
            location: None,
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
        repository: None,
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
            images: &[&s],
            test_runs: &runs,
            release_problems: &[],
            signoffs,
        },
        now(),
    );
    (d.images[0].findings.iter().map(|f| f.outcome).collect(), d.verdict)
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
            images: &[&s],
            test_runs: &passing_run(),
            release_problems: &[],
            signoffs: &[],
        },
        now(),
    );
    let score = d.images[0].findings[0].score.as_ref().unwrap();
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
        location: None,
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
            images: &[&s],
            test_runs: &runs,
            release_problems: &[],
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

fn decide_with(p: &Policy, s: &Scan, runs: &[TestRun], signoffs: &[SignOff], at: jiff::Timestamp) -> Decision {
    decide(
        p,
        p.building_block("payments").unwrap(),
        &Inputs {
            images: &[s],
            test_runs: runs,
            release_problems: &[],
            signoffs,
        },
        at,
    )
}

fn policy_src(src: &str) -> Policy {
    let full = format!(
        "{src}\n[[building_block]]\nname = \"payments\"\nnamespace = \"paymenthub\"\nrepositories = [\"bb/payments/*\"]\n"
    );
    Policy::parse(Path::new("t.toml"), &full, "t.toml".into()).unwrap()
}

#[test]
fn the_scan_must_be_complete_fresh_and_in_the_past() {
    let p = policy("max_age_days = 3");
    let runs = passing_run();
    let judge = |s: &Scan| decide_with(&p, s, &runs, &[], now());
    assert_eq!(judge(&scan(vec![])).reasons.msgs(), Vec::<String>::new());
    let mut basic = scan(vec![]);
    basic.status = "COMPLETE".into();
    assert_eq!(
        judge(&basic).verdict,
        Verdict::Pass,
        "COMPLETE is the basic scan's done"
    );
    for status in [
        "IN_PROGRESS",
        "FAILED",
        "PENDING",
        "SCAN_ELIGIBILITY_EXPIRED",
        "complete",
        "",
    ] {
        let mut s = scan(vec![]);
        s.status = status.into();
        s.status_description = Some("why not".into());
        let d = judge(&s);
        assert_eq!(d.verdict, Verdict::Deny, "{status}");
        assert_eq!(
            d.reasons.msgs(),
            [format!(
                "scan status is {status}: why not; only a COMPLETE (basic) or ACTIVE (enhanced) scan can be judged"
            )]
        );
    }
    let mut s = scan(vec![]);
    s.status = "FAILED".into();
    assert_eq!(
        judge(&s).reasons.msgs(),
        ["scan status is FAILED; only a COMPLETE (basic) or ACTIVE (enhanced) scan can be judged"]
    );
    s = scan(vec![]);
    s.completed_at = None;
    assert_eq!(
        judge(&s).reasons.msgs(),
        ["the scan has no imageScanCompletedAt: its age cannot be checked"]
    );
    // Ages in whole days: 3 days and 23 hours is 3 days, 4 days is too old; a scan from the future is refused.
    for (completed, reason) in [
        ("2026-11-25T00:00:00Z", None),
        ("2026-11-24T00:00:01Z", None),
        (
            "2026-11-24T00:00:00Z",
            Some(
                "the scan completed 4 days ago (2026-11-24T00:00:00Z), more than [scan] max_age_days = 3: rescan the image",
            ),
        ),
        ("2026-11-28T00:00:00Z", None),
        (
            "2026-11-28T00:00:01Z",
            Some(
                "the scan completed at 2026-11-28T00:00:01Z, after the decision time 2026-11-28T00:00:00Z: check --now and the clock",
            ),
        ),
    ] {
        let mut s = scan(vec![]);
        s.completed_at = Some(completed.parse().unwrap());
        let d = judge(&s);
        assert_eq!(d.reasons.msgs(), reason.into_iter().collect::<Vec<_>>(), "{completed}");
    }
    // Whole days are counted, not rounded: 40 days back is 40.
    let mut s = scan(vec![]);
    s.completed_at = Some("2026-10-19T00:00:00Z".parse().unwrap());
    assert!(
        judge(&s).reasons.msgs()[0].starts_with("the scan completed 40 days ago"),
        "{:?}",
        judge(&s).reasons.msgs()
    );
}

#[test]
fn a_foreign_repository_is_refused_with_the_owners_patterns() {
    let p = policy("");
    let mut s = scan(vec![]);
    s.image.repository = "bb/usct/api".into();
    let d = decide_with(&p, &s, &passing_run(), &[], now());
    assert_eq!(
        d.reasons.msgs(),
        [
            "repository bb/usct/api is neither one of building block payments's repositories (bb/payments/*) nor \
             under a pull-through cache prefix (none configured): a release runs only its own images and \
             third-party images through the sandbox's cache ([images] pull_through)"
        ]
    );
    assert_eq!(d.building_block, "payments");
}

#[test]
fn deny_reasons_name_the_findings_and_the_bands() {
    let p = policy("");
    let mut findings: Vec<Finding> = (0..12)
        .map(|i| finding(&format!("CVE-B{i:02}"), Severity::Low, &[(ScoreKind::Cvss3, 9.5)]))
        .collect();
    findings.push(finding("CVE-H1", Severity::Low, &[(ScoreKind::Cvss3, 7.5)]));
    let s = scan(findings);
    let d = decide_with(&p, &s, &passing_run(), &[], now());
    assert_eq!(
        d.reasons.msgs(),
        [
            "12 finding(s) blocked (score >= 9.0, or unscored and blocked by policy); they cannot be signed off, fix \
             them: CVE-B00, CVE-B01, CVE-B02, CVE-B03, CVE-B04, CVE-B05, CVE-B06, CVE-B07, CVE-B08, CVE-B09 and 2 more",
            "1 finding(s) need a valid sign-off (7.0 <= score < 9.0): CVE-H1",
        ]
    );
    assert_eq!((d.count(Outcome::Blocked), d.count(Outcome::NeedsSignoff)), (12, 1));
    assert_eq!(d.images[0].findings[12].finding, 12);
    assert_eq!(
        d.images[0].findings[12].basis.to_string(),
        "cvss3 7.5 >= 7.0",
        "the basis says which threshold was met"
    );
    assert_eq!(d.images[0].findings[0].basis.to_string(), "cvss3 9.5 >= 9.0");
    // Exactly ten ids are listed without "more".
    let ten: Vec<Finding> = (0..10)
        .map(|i| finding(&format!("CVE-{i}"), Severity::Low, &[(ScoreKind::Cvss3, 9.0)]))
        .collect();
    let s = scan(ten);
    let d = decide_with(&p, &s, &passing_run(), &[], now());
    assert!(d.reasons.msgs()[0].ends_with("CVE-8, CVE-9"), "{}", d.reasons.msgs()[0]);
}

#[test]
fn the_basis_of_each_band_is_written_out() {
    let p = policy("");
    let s = scan(vec![
        finding("A", Severity::Low, &[(ScoreKind::Cvss3, 6.95)]),
        finding("C", Severity::Critical, &[]),
        finding("U", Severity::Undefined, &[]),
    ]);
    let d = decide_with(&p, &s, &passing_run(), &[], now());
    let basis: Vec<String> = d.images[0].findings.iter().map(|f| f.basis.to_string()).collect();
    assert_eq!(
        basis,
        [
            "cvss3 7.0 < 7.0".to_owned(),
            "no score; label CRITICAL".into(),
            "no score, label UNDEFINED; [scan] unscored = \"warn\"".into()
        ],
        "6.95 prints as 7.0 yet is under 7.0: the comparison is on the score, not its rounding"
    );
    assert_eq!(d.images[0].findings[0].outcome, Outcome::Allowed);
    assert_eq!(
        d.warnings.msgs(),
        ["1 finding(s) have no score and no usable label (policy: [scan] unscored = \"warn\")"]
    );
    let json = serde_json::to_string(&d.images[0].findings[1].basis).unwrap();
    assert_eq!(json, "\"no score; label CRITICAL\"");
}

#[test]
fn an_unreadable_score_never_makes_a_label_milder_than_unscored() {
    let mut f = finding("X", Severity::Medium, &[]);
    f.unreadable_score = true;
    let (o, v) = outcomes(&policy("unscored = \"block\""), vec![f.clone()], &[]);
    assert_eq!((o, v), (vec![Outcome::Blocked], Verdict::Deny));
    let (o, _) = outcomes(&policy("unscored = \"signoff\""), vec![f.clone()], &[]);
    assert_eq!(o, [Outcome::NeedsSignoff]);
    // unscored = "warn" is milder than nothing for a MEDIUM: the label stands... but warn ranks above allow.
    let (o, _) = outcomes(&policy("unscored = \"warn\""), vec![f.clone()], &[]);
    assert_eq!(o, [Outcome::Warned]);
    let (o, _) = outcomes(&policy("unscored = \"allow\""), vec![f.clone()], &[]);
    assert_eq!(o, [Outcome::Allowed]);
    // A label worse than `unscored` stands.
    let mut c = finding("C", Severity::Critical, &[]);
    c.unreadable_score = true;
    let (o, _) = outcomes(&policy("unscored = \"signoff\""), vec![c], &[]);
    assert_eq!(o, [Outcome::Blocked]);
    let mut h = finding("H", Severity::High, &[]);
    h.unreadable_score = true;
    let (o, _) = outcomes(&policy("unscored = \"signoff\""), vec![h.clone()], &[]);
    assert_eq!(o, [Outcome::NeedsSignoff]);
    let (o, _) = outcomes(&policy("unscored = \"warn\""), vec![h], &[]);
    assert_eq!(o, [Outcome::NeedsSignoff]);
    // Without the flag the label decides.
    let (o, _) = outcomes(
        &policy("unscored = \"block\""),
        vec![finding("M", Severity::Medium, &[])],
        &[],
    );
    assert_eq!(o, [Outcome::Allowed]);
}

#[test]
fn what_became_of_each_signoff_is_reported() {
    let p = policy_src("[signoffs]\napprovers = [\"admin\"]\nwarn_before_days = 10");
    let findings = vec![
        finding("CVE-HIGH", Severity::Low, &[(ScoreKind::Cvss3, 8.0)]),
        finding("CVE-CRIT", Severity::Low, &[(ScoreKind::Cvss3, 9.8)]),
        finding("CVE-LOW", Severity::Low, &[(ScoreKind::Cvss3, 3.0)]),
        finding("CVE-HIGH2", Severity::Low, &[(ScoreKind::Cvss3, 7.0)]),
        finding("CVE-HIGH3", Severity::Low, &[(ScoreKind::Cvss3, 7.1)]),
    ];
    let mut future = signoff("CVE-HIGH2", None, None, "2026-12-31");
    future.approved_on = "2026-11-29".parse().unwrap();
    let signoffs = vec![
        signoff("CVE-HIGH", None, None, "2026-12-08"), // applied, expires in 10 days: expiring
        signoff("CVE-CRIT", None, None, "2026-12-31"), // rejected: blocked band
        signoff("CVE-LOW", None, None, "2026-12-31"),  // unused: below the band
        future,                                        // rejected: approved in the future
        signoff("CVE-HIGH3", None, None, "2026-11-27"), // expired
        signoff("CVE-NONE", None, None, "2026-12-09"), // unused: no such finding (11 days: not expiring)
    ];
    let s = scan(findings);
    let d = decide_with(&p, &s, &passing_run(), &signoffs, now());
    let ids = |v: &[bbgate_core::gate::SignoffUse]| v.iter().map(|u| u.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&d.signoffs.applied), ["CVE-HIGH"]);
    assert_eq!(ids(&d.signoffs.expiring), ["CVE-HIGH"]);
    assert_eq!(ids(&d.signoffs.expired), ["CVE-HIGH3"]);
    assert_eq!(ids(&d.signoffs.rejected), ["CVE-CRIT", "CVE-HIGH2"]);
    assert_eq!(ids(&d.signoffs.unused), ["CVE-LOW", "CVE-NONE"]);
    let reasons: Vec<Option<String>> = d
        .signoffs
        .rejected
        .iter()
        .chain(&d.signoffs.unused)
        .map(|u| u.reason.clone())
        .collect();
    assert_eq!(
        reasons,
        [
            Some("CVE-CRIT is in the blocked band (cvss3 9.8 >= 9.0); no sign-off can waive it".to_owned()),
            Some("approved_on 2026-11-29 is in the future".into()),
            Some("the finding scores below the sign-off band and needs none".into()),
            Some("matches no finding of the release's images".into()),
        ]
    );
    assert_eq!(d.signoffs.applied[0].reason, None);
    assert_eq!(d.signoffs.applied[0].approved_by, "admin");
    let outcomes: Vec<Outcome> = d.images[0].findings.iter().map(|f| f.outcome).collect();
    use Outcome::*;
    assert_eq!(outcomes, [SignedOff, Blocked, Allowed, NeedsSignoff, NeedsSignoff]);
    assert_eq!(d.images[0].findings[0].signoff, Some(0));
    assert_eq!(d.images[0].findings[1].signoff, None);
    assert_eq!(
        d.images[0].findings[3].signoff_notes,
        ["sign-off at s.toml:CVE-HIGH2 is approved on 2026-11-29, after today (2026-11-28)"]
    );
    assert_eq!(
        d.images[0].findings[4].signoff_notes,
        ["sign-off at s.toml:CVE-HIGH3 expired on 2026-11-27"]
    );
    assert_eq!(
        d.warnings.msgs(),
        [
            "2 sign-off(s) unused: CVE-LOW, CVE-NONE",
            "1 sign-off(s) expire within 10 days: CVE-HIGH"
        ]
    );
    assert_eq!(
        d.reasons.msgs(),
        [
            "1 finding(s) blocked (score >= 9.0, or unscored and blocked by policy); they cannot be signed off, fix them: CVE-CRIT",
            "2 finding(s) need a valid sign-off (7.0 <= score < 9.0): CVE-HIGH3, CVE-HIGH2",
        ]
    );
    // unused = "allow" says nothing; "deny" names them and what to do.
    let quiet = policy_src("[signoffs]\napprovers = [\"admin\"]\nunused = \"allow\"");
    let unused = [signoff("CVE-NONE", None, None, "2026-12-31")];
    let d = decide_with(&quiet, &scan(vec![]), &passing_run(), &unused, now());
    assert_eq!(
        (d.warnings.msgs().len(), d.reasons.msgs().len(), d.signoffs.unused.len()),
        (0, 0, 1)
    );
    let strict = policy_src("[signoffs]\napprovers = [\"admin\"]\nunused = \"deny\"");
    let d = decide_with(&strict, &scan(vec![]), &passing_run(), &unused, now());
    assert_eq!(
        d.reasons.msgs(),
        ["1 sign-off(s) unused: CVE-NONE (policy: [signoffs] unused = \"deny\"); remove them"]
    );
}

#[test]
fn a_signoff_is_live_from_its_approval_day_through_its_expiry_day() {
    let p = policy("");
    let high = || vec![finding("CVE-9", Severity::High, &[(ScoreKind::Cvss3, 8.0)])];
    let mut today = signoff("CVE-9", None, None, "2026-11-28");
    today.approved_on = "2026-11-28".parse().unwrap();
    assert_eq!(outcomes(&p, high(), &[today]).0, [Outcome::SignedOff]);
    // A package list "a, b" (ECR joins several) matches each name, not a substring.
    let mut f = finding("CVE-9", Severity::High, &[(ScoreKind::Cvss3, 8.0)]);
    f.package = "openssl, libssl3".into();
    for (pkg, expected) in [
        ("libssl3", Outcome::SignedOff),
        ("openssl", Outcome::SignedOff),
        ("openssl, libssl3", Outcome::SignedOff),
        ("ssl", Outcome::NeedsSignoff),
        ("libssl", Outcome::NeedsSignoff),
    ] {
        let s = signoff("CVE-9", Some(pkg), None, "2026-12-31");
        assert_eq!(outcomes(&p, vec![f.clone()], &[s]).0, [expected], "{pkg}");
    }
}

#[test]
fn expiring_counts_days_to_expiry_inclusively() {
    let p = policy_src("[signoffs]\napprovers = [\"admin\"]\nwarn_before_days = 3");
    let high = || vec![finding("CVE-9", Severity::High, &[(ScoreKind::Cvss3, 8.0)])];
    for (expires, expiring) in [("2026-11-28", true), ("2026-12-01", true), ("2026-12-02", false)] {
        let s = [signoff("CVE-9", None, None, expires)];
        let d = decide_with(&p, &scan(high()), &passing_run(), &s, now());
        assert_eq!(d.signoffs.expiring.len(), usize::from(expiring), "{expires}");
        assert_eq!(d.verdict, Verdict::Pass, "{expires}");
    }
}

fn run_of(statuses: &[Status], started: Option<&str>, failures: &[&str]) -> TestRun {
    TestRun {
        source: "api.ndjson".into(),
        format: ReportFormat::CucumberMessages,
        scenarios: statuses
            .iter()
            .enumerate()
            .map(|(i, &status)| Scenario {
                feature: "F".into(),
                name: format!("s{i}"),
                status,
                message: None,
                location: None,
            })
            .collect(),
        started_at: started.map(|t| t.parse().unwrap()),
        run_failures: failures.iter().map(|s| s.to_string()).collect(),
    }
}

#[test]
fn api_tests_are_required_counted_aged_and_never_empty() {
    use bbgate_core::gate::ApiOutcome;
    let p = policy("");
    let s = scan(vec![]);
    let d = decide_with(&p, &s, &[], &[], now());
    assert_eq!((d.api_tests.outcome, d.verdict), (ApiOutcome::Missing, Verdict::Deny));
    assert_eq!(
        d.reasons.msgs(),
        ["no API test report given: the policy requires passing GovStack API test reports (--api-report FILE)"]
    );
    let optional = policy_src("[api_tests]\nrequired = false");
    let d = decide_with(&optional, &s, &[], &[], now());
    assert_eq!(
        (d.api_tests.outcome, d.verdict),
        (ApiOutcome::NotRequired, Verdict::Pass)
    );
    // An empty run proves nothing, required or not.
    let empty = [run_of(&[], None, &[])];
    let d = decide_with(&optional, &s, &empty, &[], now());
    assert_eq!(d.api_tests.outcome, ApiOutcome::Fail);
    assert_eq!(
        d.reasons.msgs(),
        ["the API test reports hold no scenarios: an empty run proves nothing"]
    );
    // A run-level failure denies even when every scenario passed.
    let broken = [run_of(&[Status::Passed], None, &["the test run did not finish"])];
    let d = decide_with(&p, &s, &broken, &[], now());
    assert_eq!(d.api_tests.outcome, ApiOutcome::Fail);
    assert_eq!(
        d.reasons.msgs(),
        ["API test report api.ndjson: the test run did not finish"]
    );
    // The default counts everything but passed as failed, and the ratio is 1.0.
    let mixed = [run_of(
        &[
            Status::Passed,
            Status::Failed,
            Status::Skipped,
            Status::Undefined,
            Status::Failed,
        ],
        None,
        &[],
    )];
    let d = decide_with(&p, &s, &mixed, &[], now());
    assert_eq!(
        (
            d.api_tests.total,
            d.api_tests.passed,
            d.api_tests.failed,
            d.api_tests.reports
        ),
        (5, 1, 4, 1)
    );
    assert_eq!(
        d.reasons.msgs(),
        ["API tests: 1 of 5 scenarios passed (20.0%; 1 skipped, 1 undefined, 2 failed), the policy requires 100.0%"]
    );
    let names: Vec<&str> = d
        .api_tests
        .failed_scenarios
        .iter()
        .map(|f| f.scenario.name.as_str())
        .collect();
    assert_eq!(names, ["s1", "s2", "s3", "s4"]);
    assert_eq!(d.api_tests.failed_scenarios[0].report, "api.ndjson");
    // Exactly at the ratio passes; just under fails.
    let half = policy_src("[api_tests]\nmin_pass_ratio = 0.5");
    let two = [run_of(&[Status::Passed, Status::Failed], None, &[])];
    assert_eq!(
        decide_with(&half, &s, &two, &[], now()).api_tests.outcome,
        ApiOutcome::Pass
    );
    let three = [run_of(&[Status::Passed, Status::Failed, Status::Failed], None, &[])];
    let d = decide_with(&half, &s, &three, &[], now());
    assert_eq!(d.api_tests.outcome, ApiOutcome::Fail);
    assert_eq!(
        d.reasons.msgs(),
        ["API tests: 1 of 3 scenarios passed (33.3%; 2 failed), the policy requires 50.0%"]
    );
    // Two reports are summed.
    let d = decide_with(&half, &s, &[two[0].clone(), three[0].clone()], &[], now());
    assert_eq!((d.api_tests.total, d.api_tests.passed, d.api_tests.reports), (5, 2, 2));
}

#[test]
fn api_report_age_is_checked_only_when_the_policy_asks() {
    use bbgate_core::gate::ApiOutcome;
    let s = scan(vec![]);
    let aged = policy_src("[api_tests]\nmax_age_days = 2");
    for (started, reason) in [
        (Some("2026-11-26T00:00:00Z"), None),
        (Some("2026-11-25T12:00:00Z"), None),
        (
            Some("2026-11-25T00:00:00Z"),
            Some("API test report api.ndjson is from 2026-11-25T00:00:00Z, older than [api_tests] max_age_days = 2"),
        ),
        (
            None,
            Some("API test report api.ndjson has no timestamp, and [api_tests] max_age_days = 2 requires one"),
        ),
    ] {
        let runs = [run_of(&[Status::Passed], started, &[])];
        let d = decide_with(&aged, &s, &runs, &[], now());
        assert_eq!(d.reasons.msgs(), reason.into_iter().collect::<Vec<_>>(), "{started:?}");
        let expected = if d.reasons.msgs().is_empty() {
            ApiOutcome::Pass
        } else {
            ApiOutcome::Fail
        };
        assert_eq!(d.api_tests.outcome, expected);
    }
    // Without max_age_days an old or undated report is fine.
    let runs = [run_of(&[Status::Passed], Some("2020-01-01T00:00:00Z"), &[])];
    assert_eq!(decide_with(&policy(""), &s, &runs, &[], now()).verdict, Verdict::Pass);
}

#[test]
fn outcome_names_are_stable() {
    use Outcome::*;
    let names: Vec<&str> = [Blocked, NeedsSignoff, SignedOff, Warned, Allowed]
        .iter()
        .map(|o| o.as_str())
        .collect();
    assert_eq!(names, ["blocked", "needs_signoff", "signed_off", "warned", "allowed"]);
    assert_eq!(serde_json::to_string(&NeedsSignoff).unwrap(), "\"needs_signoff\"");
}

#[test]
fn a_signoff_not_yet_valid_is_named_as_such_even_on_its_expiry_day() {
    // (Sign-off files refuse expires < approved_on; the decision still names the right cause.)
    let mut s = signoff("CVE-9", None, None, "2026-11-28");
    s.approved_on = "2026-11-29".parse().unwrap();
    let high = finding("CVE-9", Severity::High, &[(ScoreKind::Cvss3, 8.0)]);
    let sc = scan(vec![high]);
    let d = decide_with(&policy(""), &sc, &passing_run(), &[s], now());
    assert_eq!(
        d.images[0].findings[0].signoff_notes,
        ["sign-off at s.toml:CVE-9 is approved on 2026-11-29, after today (2026-11-28)"]
    );
}

#[test]
fn an_unreadable_score_keeps_the_label_as_basis_when_unscored_is_no_worse() {
    let mut h = finding("H", Severity::High, &[]);
    h.unreadable_score = true;
    let s = scan(vec![h]);
    let d = decide_with(&policy("unscored = \"signoff\""), &s, &passing_run(), &[], now());
    assert_eq!(d.images[0].findings[0].basis.to_string(), "no score; label HIGH");
    let d = decide_with(&policy("unscored = \"block\""), &s, &passing_run(), &[], now());
    assert_eq!(
        d.images[0].findings[0].basis.to_string(),
        "no score, label HIGH; [scan] unscored = \"block\""
    );
}

fn codes(v: &[bbgate_core::diag::Diagnostic]) -> Vec<(&str, bbgate_core::diag::Level)> {
    v.iter().map(|d| (d.code.as_str(), d.severity)).collect()
}

#[test]
fn every_reason_and_warning_carries_its_code() {
    use bbgate_core::diag::Level::{Error, Warning};
    let p = policy_src("[signoffs]\napprovers = [\"admin\"]\n[api_tests]\nmax_age_days = 1");
    let mut s = scan(vec![
        finding("B", Severity::Low, &[(ScoreKind::Cvss3, 9.1)]),
        finding("N", Severity::Low, &[(ScoreKind::Cvss3, 7.1)]),
        finding("S", Severity::Low, &[(ScoreKind::Cvss3, 7.2)]),
        finding("U", Severity::Undefined, &[]),
    ]);
    s.image.repository = "bb/usct/x".into();
    let runs = [
        run_of(&[Status::Failed], None, &["hook failed"]),
        run_of(&[Status::Passed], Some("2026-01-01T00:00:00Z"), &[]),
    ];
    let signoffs = [
        signoff("S", None, None, "2026-11-30"),
        signoff("GONE", None, None, "2026-12-20"),
    ];
    let d = decide_with(&p, &s, &runs, &signoffs, now());
    assert_eq!(
        codes(&d.reasons),
        [
            ("foreign-repository", Error),
            ("finding-blocked", Error),
            ("finding-needs-signoff", Error),
            ("api-run-failed", Error),
            ("api-report-undated", Error),
            ("api-report-stale", Error),
            ("api-tests-failed", Error),
        ]
    );
    assert_eq!(
        codes(&d.warnings),
        [
            ("finding-unscored", Warning),
            ("signoff-unused", Warning),
            ("signoff-expiring", Warning),
        ]
    );
    let mut s = scan(vec![]);
    s.status = "FAILED".into();
    assert_eq!(
        codes(&decide_with(&p, &s, &[], &[], now()).reasons),
        [("scan-not-complete", Error), ("api-report-missing", Error)]
    );
    for (completed, code) in [
        (None, "scan-undated"),
        (Some("2026-12-01T00:00:00Z"), "scan-from-future"),
        (Some("2026-01-01T00:00:00Z"), "scan-stale"),
    ] {
        let mut s = scan(vec![]);
        s.completed_at = completed.map(|t| t.parse().unwrap());
        let fresh = [run_of(&[Status::Passed], Some("2026-11-28T00:00:00Z"), &[])];
        assert_eq!(codes(&decide_with(&p, &s, &fresh, &[], now()).reasons), [(code, Error)]);
    }
    let empty = [run_of(&[], Some("2026-11-28T00:00:00Z"), &[])];
    assert_eq!(
        codes(&decide_with(&p, &scan(vec![]), &empty, &[], now()).reasons),
        [("api-tests-empty", Error)]
    );
    let strict = policy_src("[signoffs]\napprovers = [\"admin\"]\nunused = \"deny\"");
    let d = decide_with(
        &strict,
        &scan(vec![]),
        &passing_run(),
        &[signoff("GONE", None, None, "2026-12-20")],
        now(),
    );
    assert_eq!(codes(&d.reasons), [("signoff-unused", Error)]);
    // Every code used is documented, once, in kebab-case.
    let documented: Vec<&str> = bbgate_core::diag::CODES.iter().map(|(c, _)| *c).collect();
    for (i, c) in documented.iter().enumerate() {
        assert!(c.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'), "{c}");
        assert!(!documented[..i].contains(c), "{c} twice");
    }
}

fn release_policy() -> Policy {
    let src = "[images]\npull_through = { \"docker.io\" = \"docker-hub\" }\n[signoffs]\napprovers = [\"admin\"]\n\
               [[building_block]]\nname = \"payments\"\nnamespace = \"paymenthub\"\nrepositories = [\"bb/payments/*\"]\n";
    Policy::parse(Path::new("t.toml"), src, "t.toml".into()).unwrap()
}

fn image_scan(repository: &str, digest_byte: char, findings: Vec<Finding>) -> Scan {
    let mut s = scan(findings);
    s.image.repository = repository.into();
    s.image.digest = format!("sha256:{}", digest_byte.to_string().repeat(64));
    s
}

fn decide_release(p: &Policy, images: &[Scan], signoffs: &[SignOff]) -> Decision {
    let images: Vec<&Scan> = images.iter().collect();
    decide(
        p,
        p.building_block("payments").unwrap(),
        &Inputs {
            images: &images,
            test_runs: &passing_run(),
            release_problems: &[],
            signoffs,
        },
        now(),
    )
}

#[test]
fn a_release_passes_only_if_every_image_passes_and_the_denying_image_is_named() {
    let p = release_policy();
    let clean = |repo, b| {
        image_scan(
            repo,
            b,
            vec![finding("CVE-1", Severity::Low, &[(ScoreKind::Cvss3, 3.1)])],
        )
    };
    let images = [
        clean("bb/payments/adapter", 'a'),
        clean("bb/payments/emulator", 'b'),
        clean("docker-hub/library/postgres", 'c'),
    ];
    let d = decide_release(&p, &images, &[]);
    assert_eq!(d.verdict, Verdict::Pass, "{:?}", d.reasons);
    assert_eq!(d.images.len(), 3);
    assert_eq!(d.count(Outcome::Allowed), 3);

    // A critical in the third-party database denies the release; only that image denies, and it is named.
    let mut images = images;
    images[2] = image_scan(
        "docker-hub/library/postgres",
        'c',
        vec![finding("CVE-DB", Severity::Low, &[(ScoreKind::Cvss3, 9.8)])],
    );
    let d = decide_release(&p, &images, &[]);
    assert_eq!(d.verdict, Verdict::Deny);
    let verdicts: Vec<Verdict> = d.images.iter().map(|i| i.verdict).collect();
    assert_eq!(verdicts, [Verdict::Pass, Verdict::Pass, Verdict::Deny]);
    assert_eq!(d.reasons.len(), 1);
    assert_eq!(d.reasons[0].code, "finding-blocked");
    assert_eq!(
        d.reasons[0].location.as_deref(),
        Some(format!("docker-hub/library/postgres@sha256:{}", "c".repeat(64)).as_str())
    );
    assert_eq!(d.images[2].reasons, d.reasons);
}

#[test]
fn an_image_neither_the_bbs_nor_cached_denies_the_release() {
    let p = release_policy();
    let images = [
        image_scan("bb/payments/adapter", 'a', vec![]),
        // Another building block's image, and a repository that only looks like the cache prefix.
        image_scan("bb/usct/api", 'b', vec![]),
        image_scan("docker-hubx/library/redis", 'c', vec![]),
    ];
    let d = decide_release(&p, &images, &[]);
    let foreign: Vec<usize> = d
        .images
        .iter()
        .enumerate()
        .filter(|(_, i)| i.reasons.iter().any(|r| r.code == "foreign-repository"))
        .map(|(n, _)| n)
        .collect();
    assert_eq!(foreign, [1, 2]);
    assert!(d.reasons[0].message.contains("bb/usct/api"), "{:?}", d.reasons);
    assert!(
        d.reasons[0].message.contains("docker-hub"),
        "the prefixes are listed: {:?}",
        d.reasons
    );
}

#[test]
fn an_empty_release_never_passes() {
    let d = decide_release(&release_policy(), &[], &[]);
    assert_eq!(d.verdict, Verdict::Deny);
    assert_eq!(d.reasons.len(), 1);
    assert_eq!(d.reasons[0].code, "release-empty");
}

#[test]
fn a_signoff_scoped_to_a_repository_covers_only_that_image_and_is_used_once_for_the_release() {
    let p = release_policy();
    let high = || vec![finding("CVE-H", Severity::Low, &[(ScoreKind::Cvss3, 7.5)])];
    let images = [
        image_scan("bb/payments/adapter", 'a', high()),
        image_scan("docker-hub/library/postgres", 'c', high()),
    ];
    let mut scoped = signoff("CVE-H", None, None, "2026-12-20");
    scoped.repository = Some("docker-hub/library/postgres".into());
    let d = decide_release(&p, &images, std::slice::from_ref(&scoped));
    let outcomes: Vec<Outcome> = d.images.iter().map(|i| i.findings[0].outcome).collect();
    assert_eq!(outcomes, [Outcome::NeedsSignoff, Outcome::SignedOff]);
    assert_eq!(d.verdict, Verdict::Deny);
    assert!(
        d.reasons[0]
            .location
            .as_deref()
            .unwrap()
            .starts_with("bb/payments/adapter@")
    );
    // Applied to one image: not reported unused because the other image did not match it.
    assert!(d.signoffs.unused.is_empty(), "{:?}", d.signoffs.unused);
    assert_eq!(d.signoffs.applied.len(), 1);

    // Unscoped, the same sign-off covers both images.
    let d = decide_release(&p, &images, &[signoff("CVE-H", None, None, "2026-12-20")]);
    assert_eq!(d.verdict, Verdict::Pass, "{:?}", d.reasons);
    assert_eq!(d.count(Outcome::SignedOff), 2);

    // Scoped to a repository the release does not run: unused, and the findings need their sign-off.
    let mut elsewhere = signoff("CVE-H", None, None, "2026-12-20");
    elsewhere.repository = Some("bb/payments/emulator".into());
    let d = decide_release(&p, &images, &[elsewhere]);
    assert_eq!(d.count(Outcome::NeedsSignoff), 2);
    assert_eq!(d.signoffs.unused.len(), 1);
}

#[test]
fn reason_lists_name_the_highest_scores_first_so_and_more_hides_the_least_urgent() {
    let p = policy("");
    // Scan order: low to high. Twelve findings in the sign-off band, scores 7.0 .. 8.1.
    let findings: Vec<Finding> = (0..12)
        .map(|i| {
            finding(
                &format!("CVE-S{i:02}"),
                Severity::Low,
                &[(ScoreKind::Cvss3, 7.0 + f64::from(i) * 0.1)],
            )
        })
        .collect();
    let d = decide_with(&p, &scan(findings), &passing_run(), &[], now());
    let msg = &d.reasons.msgs()[0];
    assert!(
        msg.ends_with(
            "CVE-S11, CVE-S10, CVE-S09, CVE-S08, CVE-S07, CVE-S06, CVE-S05, CVE-S04, CVE-S03, CVE-S02 and 2 more"
        ),
        "{msg}"
    );
    assert!(msg.starts_with("12 finding(s)"), "every finding is counted: {msg}");
}
