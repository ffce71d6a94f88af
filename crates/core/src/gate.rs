//! The decision: a pure function of (policy, building block, scan, test runs, sign-offs, now).
//! No I/O here; the offline dry run and the CI run call this same function on the same types.

use crate::apitests::{Scenario, Status, TestRun};
use crate::diag::Diagnostic;
use crate::findings::{Finding, Scan, Score, ScoreKind, Severity};
use crate::policy::signoff::SignOff;
use crate::policy::{BuildingBlock, Policy, UnscoredAction, UnusedAction};
use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    // Order: most severe first, for sorting tables.
    Blocked,
    NeedsSignoff,
    SignedOff,
    Warned,
    Allowed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Blocked => "blocked",
            Outcome::NeedsSignoff => "needs_signoff",
            Outcome::SignedOff => "signed_off",
            Outcome::Warned => "warned",
            Outcome::Allowed => "allowed",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Deny,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Band {
    Block,
    Signoff,
    Allow,
    Warn,
}

/// Why a finding landed in its band.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Basis {
    /// The score compared with the threshold it met (`>=`) or stayed under (`<`).
    Score {
        kind: ScoreKind,
        value: f64,
        threshold: f64,
        at_or_above: bool,
    },
    /// No score; the label decided (policy `label_fallback`).
    Label(Severity),
    /// No score and no usable label; policy `unscored` decided.
    Unscored(Severity, UnscoredAction),
}

impl std::fmt::Display for Basis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Basis::Score {
                kind,
                value,
                threshold,
                at_or_above,
            } => {
                write!(
                    f,
                    "{} {value:.1} {} {threshold:.1}",
                    kind.as_str(),
                    if at_or_above { ">=" } else { "<" }
                )
            }
            Basis::Label(sev) => write!(f, "no score; label {}", sev.as_str()),
            Basis::Unscored(sev, action) => write!(
                f,
                "no score, label {}; [scan] unscored = \"{}\"",
                sev.as_str(),
                action.as_str()
            ),
        }
    }
}

impl Serialize for Basis {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// What the gate decided about one finding. It refers to the scan's finding and the sign-off by index,
/// so deciding 100k findings copies no strings.
#[derive(Debug, Clone, PartialEq)]
pub struct FindingDecision {
    /// Index into `Scan::findings`.
    pub finding: usize,
    pub score: Option<Score>,
    pub outcome: Outcome,
    pub basis: Basis,
    /// Index into the sign-offs given to `decide`, when one was applied.
    pub signoff: Option<usize>,
    /// Matching sign-offs that did not apply (expired, not yet valid).
    pub signoff_notes: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiOutcome {
    Pass,
    Fail,
    Missing,
    NotRequired,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiTestSummary {
    pub outcome: ApiOutcome,
    pub total: usize,
    pub passed: usize,
    pub failed: usize,
    pub reports: usize,
    /// Scenarios that count as failed under the policy, with the report they came from.
    pub failed_scenarios: Vec<FailedScenario>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailedScenario {
    pub report: String,
    #[serde(flatten)]
    pub scenario: Scenario,
}

/// A sign-off and what became of it in this decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignoffUse {
    // Field order is alphabetical: the evidence's canonical form is its serialisation.
    pub approved_by: String,
    pub expires: Date,
    pub id: String,
    pub location: String,
    pub package: Option<String>,
    /// For rejected and unused sign-offs: why.
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SignoffSummary {
    pub applied: Vec<SignoffUse>,
    pub expired: Vec<SignoffUse>,
    pub expiring: Vec<SignoffUse>,
    pub rejected: Vec<SignoffUse>,
    pub unused: Vec<SignoffUse>,
}

/// What the gate decided about one image of the release.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageDecision {
    pub verdict: Verdict,
    pub findings: Vec<FindingDecision>,
    /// Why this image denies the release; each located at the image (`repository@digest`).
    pub reasons: Vec<Diagnostic>,
    pub warnings: Vec<Diagnostic>,
}

impl ImageDecision {
    pub fn count(&self, outcome: Outcome) -> usize {
        self.findings.iter().filter(|f| f.outcome == outcome).count()
    }
}

/// The decision on a release: every image it runs, its API test runs, its sign-offs. A single image is a
/// release of one.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Pass only if every image passes and the release's own checks (API tests, sign-offs) pass.
    pub verdict: Verdict,
    pub building_block: String,
    /// One per image, in the order of `Inputs::images`.
    pub images: Vec<ImageDecision>,
    pub api_tests: ApiTestSummary,
    pub signoffs: SignoffSummary,
    /// Why the verdict is deny (every image's reasons, then the release's); empty on pass.
    pub reasons: Vec<Diagnostic>,
    /// Things a reader should know that did not change the verdict.
    pub warnings: Vec<Diagnostic>,
}

impl Decision {
    /// Findings with this outcome, over every image.
    pub fn count(&self, outcome: Outcome) -> usize {
        self.images.iter().map(|i| i.count(outcome)).sum()
    }
}

/// Everything the decision is made from. Each scan's pages are already merged and checked for completeness.
pub struct Inputs<'a> {
    /// The release's images, one scan each.
    pub images: &'a [&'a Scan],
    /// What denies the release beside its scans, each a reason naming its object: images it runs that cannot be
    /// judged (a registry neither the sandbox's ECR nor its pull-through cache serves), and the chart's objects
    /// deploy's guard would refuse (`verify --chart`).
    pub release_problems: &'a [Diagnostic],
    pub test_runs: &'a [TestRun],
    pub signoffs: &'a [SignOff],
}

fn fmt_score(v: f64) -> String {
    format!("{v:.1}")
}

fn list_ids(ids: &[&str]) -> String {
    const SHOWN: usize = 10;
    let mut s = ids.iter().take(SHOWN).copied().collect::<Vec<_>>().join(", ");
    if ids.len() > SHOWN {
        s.push_str(&format!(" and {} more", ids.len() - SHOWN));
    }
    s
}

/// Where an image's diagnostics point: `repository@digest`.
pub fn image_location(scan: &Scan) -> String {
    format!("{}@{}", scan.image.repository, scan.image.digest)
}

pub fn decide(policy: &Policy, bb: &BuildingBlock, inputs: &Inputs, now: Timestamp) -> Decision {
    let today: Date = now.to_zoned(jiff::tz::TimeZone::UTC).date();
    let mut reasons = Vec::new();
    let mut warnings = Vec::new();
    reasons.extend(inputs.release_problems.iter().cloned());
    if inputs.images.is_empty() && inputs.release_problems.is_empty() {
        reasons.push(Diagnostic::error(
            "release-empty",
            "the release names no image: nothing was judged, so nothing may pass",
        ));
    }

    // Sign-offs for this building block; what becomes of each is gathered over every image.
    let mine: Vec<usize> = (0..inputs.signoffs.len())
        .filter(|&i| inputs.signoffs[i].building_block == bb.name)
        .collect();
    let mut uses = vec![Use::default(); inputs.signoffs.len()];
    let images: Vec<ImageDecision> = inputs
        .images
        .iter()
        .map(|scan| judge_image(policy, bb, scan, inputs.signoffs, &mine, &mut uses, now))
        .collect();
    for image in &images {
        reasons.extend(image.reasons.iter().cloned());
        warnings.extend(image.warnings.iter().cloned());
    }
    let signoffs = signoff_summary(
        policy,
        inputs.signoffs,
        &mine,
        &uses,
        today,
        &mut reasons,
        &mut warnings,
    );
    let api_tests = judge_api_tests(policy, inputs.test_runs, now, &mut reasons);
    Decision {
        verdict: verdict(&reasons),
        building_block: bb.name.clone(),
        images,
        api_tests,
        signoffs,
        reasons,
        warnings,
    }
}

fn verdict(reasons: &[Diagnostic]) -> Verdict {
    if reasons.is_empty() {
        Verdict::Pass
    } else {
        Verdict::Deny
    }
}

/// One image: may it run in this building block's release, is its scan usable, and its findings' bands.
fn judge_image(
    policy: &Policy,
    bb: &BuildingBlock,
    scan: &Scan,
    signoffs: &[SignOff],
    mine: &[usize],
    uses: &mut [Use],
    now: Timestamp,
) -> ImageDecision {
    let today: Date = now.to_zoned(jiff::tz::TimeZone::UTC).date();
    let mut reasons = Vec::new();
    let mut warnings = Vec::new();
    // A release runs its building block's own images and third-party images through the pull-through cache.
    reasons.extend(
        policy
            .refuse_image(bb, scan.image.registry_id.as_deref(), &scan.image.repository)
            .map(|m| Diagnostic::error("foreign-repository", m)),
    );
    check_scan(policy, scan, now, &mut reasons);
    let findings = judge_findings(policy, scan, signoffs, mine, today, uses);
    band_reasons(policy, scan, &findings, &mut reasons);
    let warned = findings.iter().filter(|f| f.outcome == Outcome::Warned).count();
    if warned > 0 {
        warnings.push(Diagnostic::warning(
            "finding-unscored",
            format!("{warned} finding(s) have no score and no usable label (policy: [scan] unscored = \"warn\")"),
        ));
    }
    let at = image_location(scan);
    for d in reasons.iter_mut().chain(warnings.iter_mut()) {
        d.location.get_or_insert_with(|| at.clone());
    }
    ImageDecision {
        verdict: verdict(&reasons),
        findings,
        reasons,
        warnings,
    }
}

/// What became of one sign-off while the findings were judged.
#[derive(Default, Clone)]
struct Use {
    applied: bool,
    rejected: Option<String>,
    below_band: bool,
}

fn live(s: &SignOff, today: Date) -> bool {
    s.approved_on <= today && s.expires >= today
}

/// Each finding's band and outcome, applying this building block's sign-offs (`mine`, indexes into
/// `signoffs`); what became of each sign-off is added to `uses`.
fn judge_findings(
    policy: &Policy,
    scan: &Scan,
    signoffs: &[SignOff],
    mine: &[usize],
    today: Date,
    uses: &mut [Use],
) -> Vec<FindingDecision> {
    let mut by_id: HashMap<&str, Vec<usize>> = HashMap::new();
    for &i in mine {
        by_id.entry(signoffs[i].id.as_str()).or_default().push(i);
    }
    let mut findings = Vec::with_capacity(scan.findings.len());
    for (index, f) in scan.findings.iter().enumerate() {
        let score = f.select_score(&policy.scan.score_preference);
        let (band, basis) = band(policy, f, score.as_ref());
        let matching: Vec<usize> = by_id
            .get(f.id.as_str())
            .map(|v| v.iter().copied().filter(|&i| matches(&signoffs[i], f, scan)).collect())
            .unwrap_or_default();
        let mut signoff = None;
        let mut signoff_notes = Vec::new();
        let outcome = match band {
            Band::Block => {
                for &i in &matching {
                    uses[i].rejected = Some(format!(
                        "{} is in the blocked band ({basis}); no sign-off can waive it",
                        f.id
                    ));
                }
                Outcome::Blocked
            }
            Band::Signoff => match matching.iter().copied().find(|&i| live(&signoffs[i], today)) {
                Some(i) => {
                    uses[i].applied = true;
                    signoff = Some(i);
                    Outcome::SignedOff
                }
                None => {
                    for &i in &matching {
                        let s = &signoffs[i];
                        if s.expires < today {
                            signoff_notes.push(format!("sign-off at {} expired on {}", s.location, s.expires));
                        } else {
                            signoff_notes.push(format!(
                                "sign-off at {} is approved on {}, after today ({today})",
                                s.location, s.approved_on
                            ));
                            uses[i].rejected = Some(format!("approved_on {} is in the future", s.approved_on));
                        }
                    }
                    Outcome::NeedsSignoff
                }
            },
            Band::Allow | Band::Warn => {
                for &i in &matching {
                    uses[i].below_band = true;
                }
                if band == Band::Warn {
                    Outcome::Warned
                } else {
                    Outcome::Allowed
                }
            }
        };
        findings.push(FindingDecision {
            finding: index,
            score,
            outcome,
            basis,
            signoff,
            signoff_notes,
        });
    }
    findings
}

/// Blocked and needing sign-off findings deny; each kind named once, with ids.
fn band_reasons(policy: &Policy, scan: &Scan, findings: &[FindingDecision], reasons: &mut Vec<Diagnostic>) {
    // Highest score first, so that "and N more" hides the least urgent; unscored last; then by id.
    let ids_with = |o: Outcome| -> Vec<&str> {
        let mut hits: Vec<(f64, &str)> = findings
            .iter()
            .filter(|f| f.outcome == o)
            .map(|f| {
                (
                    f.score.as_ref().map_or(-1.0, |s| s.value),
                    scan.findings[f.finding].id.as_str(),
                )
            })
            .collect();
        hits.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
        hits.into_iter().map(|(_, id)| id).collect()
    };
    let blocked = ids_with(Outcome::Blocked);
    if !blocked.is_empty() {
        reasons.push(Diagnostic::error(
            "finding-blocked",
            format!(
                "{} finding(s) blocked (score >= {}, or unscored and blocked by policy); they cannot be signed off, \
                 fix them: {}",
                blocked.len(),
                fmt_score(policy.scan.block_from),
                list_ids(&blocked)
            ),
        ));
    }
    let needs = ids_with(Outcome::NeedsSignoff);
    if !needs.is_empty() {
        reasons.push(Diagnostic::error(
            "finding-needs-signoff",
            format!(
                "{} finding(s) need a valid sign-off ({} <= score < {}): {}",
                needs.len(),
                fmt_score(policy.scan.signoff_from),
                fmt_score(policy.scan.block_from),
                list_ids(&needs)
            ),
        ));
    }
}

/// What became of each of this building block's sign-offs, and the reasons and warnings that follow.
fn signoff_summary(
    policy: &Policy,
    signoffs: &[SignOff],
    mine: &[usize],
    uses: &[Use],
    today: Date,
    reasons: &mut Vec<Diagnostic>,
    warnings: &mut Vec<Diagnostic>,
) -> SignoffSummary {
    let mut summary = SignoffSummary::default();
    for &i in mine {
        let s = &signoffs[i];
        let entry = |reason: Option<String>| SignoffUse {
            id: s.id.clone(),
            package: s.package.clone(),
            location: s.location.clone(),
            approved_by: s.approved_by.clone(),
            expires: s.expires,
            reason,
        };
        let u = &uses[i];
        if u.applied {
            summary.applied.push(entry(None));
        }
        if s.expires < today {
            summary.expired.push(entry(None));
            continue;
        }
        if live(s, today) && crate::policy::days_between(today, s.expires) <= policy.signoffs.warn_before_days {
            summary.expiring.push(entry(None));
        }
        if let Some(r) = &u.rejected {
            summary.rejected.push(entry(Some(r.clone())));
        } else if !u.applied {
            let why = if u.below_band {
                "the finding scores below the sign-off band and needs none".to_owned()
            } else {
                "matches no finding of the release's images".to_owned()
            };
            summary.unused.push(entry(Some(why)));
        }
    }
    if !summary.unused.is_empty() {
        let ids: Vec<&str> = summary.unused.iter().map(|u| u.id.as_str()).collect();
        let msg = format!("{} sign-off(s) unused: {}", ids.len(), list_ids(&ids));
        match policy.signoffs.unused {
            UnusedAction::Deny => reasons.push(Diagnostic::error(
                "signoff-unused",
                format!("{msg} (policy: [signoffs] unused = \"deny\"); remove them"),
            )),
            UnusedAction::Warn => warnings.push(Diagnostic::warning("signoff-unused", msg)),
            UnusedAction::Allow => {}
        }
    }
    if !summary.expiring.is_empty() {
        let ids: Vec<&str> = summary.expiring.iter().map(|u| u.id.as_str()).collect();
        warnings.push(Diagnostic::warning(
            "signoff-expiring",
            format!(
                "{} sign-off(s) expire within {} days: {}",
                ids.len(),
                policy.signoffs.warn_before_days,
                list_ids(&ids)
            ),
        ));
    }
    summary
}

/// Whole days from `then` to `now` (how old a scan or a report is).
fn age_days(now: Timestamp, then: Timestamp) -> i64 {
    (now.as_second() - then.as_second()) / 86_400
}

/// Does the sign-off cover this finding of this image (its package, repository and digest, when scoped)?
fn matches(s: &SignOff, f: &Finding, scan: &Scan) -> bool {
    let package_ok = match &s.package {
        None => true,
        Some(p) => f.package == *p || f.package.split(", ").any(|name| name == p),
    };
    package_ok
        && s.repository.as_deref().is_none_or(|r| r == scan.image.repository)
        && s.digest.as_deref().is_none_or(|d| d == scan.image.digest)
}

fn band(policy: &Policy, f: &Finding, score: Option<&Score>) -> (Band, Basis) {
    let p = &policy.scan;
    if let Some(s) = score {
        let (band, threshold, at_or_above) = if s.value >= p.block_from {
            (Band::Block, p.block_from, true)
        } else if s.value >= p.signoff_from {
            (Band::Signoff, p.signoff_from, true)
        } else {
            (Band::Allow, p.signoff_from, false)
        };
        return (
            band,
            Basis::Score {
                kind: s.kind,
                value: s.value,
                threshold,
                at_or_above,
            },
        );
    }
    let unscored_band = match p.unscored {
        UnscoredAction::Allow => Band::Allow,
        UnscoredAction::Warn => Band::Warn,
        UnscoredAction::Signoff => Band::Signoff,
        UnscoredAction::Block => Band::Block,
    };
    if p.label_fallback {
        let by_label = match f.severity {
            Severity::Critical => Some(Band::Block),
            Severity::High => Some(Band::Signoff),
            Severity::Medium | Severity::Low | Severity::Informational => Some(Band::Allow),
            Severity::Undefined | Severity::Untriaged => None,
        };
        if let Some(b) = by_label {
            // A score entry that could not be read may be higher than the label says: the worse of the two.
            if f.unreadable_score && severity_rank(unscored_band) > severity_rank(b) {
                return (unscored_band, Basis::Unscored(f.severity, p.unscored));
            }
            return (b, Basis::Label(f.severity));
        }
    }
    (unscored_band, Basis::Unscored(f.severity, p.unscored))
}

/// How much a band holds an image back (Warn passes, like Allow, but is reported).
fn severity_rank(b: Band) -> u8 {
    match b {
        Band::Allow => 0,
        Band::Warn => 1,
        Band::Signoff => 2,
        Band::Block => 3,
    }
}

fn check_scan(policy: &Policy, scan: &Scan, now: Timestamp, reasons: &mut Vec<Diagnostic>) {
    if scan.status != "COMPLETE" && scan.status != "ACTIVE" {
        let desc = scan
            .status_description
            .as_deref()
            .map(|d| format!(": {d}"))
            .unwrap_or_default();
        reasons.push(Diagnostic::error(
            "scan-not-complete",
            format!(
                "scan status is {}{desc}; only a COMPLETE (basic) or ACTIVE (enhanced) scan can be judged",
                scan.status
            ),
        ));
        return;
    }
    match scan.completed_at {
        None => reasons.push(Diagnostic::error(
            "scan-undated",
            "the scan has no imageScanCompletedAt: its age cannot be checked",
        )),
        Some(t) if t > now => reasons.push(Diagnostic::error(
            "scan-from-future",
            format!("the scan completed at {t}, after the decision time {now}: check --now and the clock"),
        )),
        Some(t) => {
            let age_days = age_days(now, t);
            if age_days > policy.scan.max_age_days {
                reasons.push(Diagnostic::error(
                    "scan-stale",
                    format!(
                        "the scan completed {age_days} days ago ({t}), more than [scan] max_age_days = {}: rescan \
                         the image",
                        policy.scan.max_age_days
                    ),
                ));
            }
        }
    }
}

fn judge_api_tests(policy: &Policy, runs: &[TestRun], now: Timestamp, reasons: &mut Vec<Diagnostic>) -> ApiTestSummary {
    let p = &policy.api_tests;
    let mut summary = ApiTestSummary {
        outcome: ApiOutcome::Pass,
        total: 0,
        passed: 0,
        failed: 0,
        reports: runs.len(),
        failed_scenarios: Vec::new(),
    };
    if runs.is_empty() {
        if p.required {
            summary.outcome = ApiOutcome::Missing;
            reasons.push(Diagnostic::error(
                "api-report-missing",
                "no API test report given: the policy requires passing GovStack API test reports (--api-report FILE)",
            ));
        } else {
            summary.outcome = ApiOutcome::NotRequired;
        }
        return summary;
    }
    let mut ok = true;
    for run in runs {
        for why in &run.run_failures {
            ok = false;
            reasons.push(Diagnostic::error(
                "api-run-failed",
                format!("API test report {}: {why}", run.source),
            ));
        }
        for sc in &run.scenarios {
            summary.total += 1;
            if p.count_as_failed.contains(&sc.status) {
                summary.failed += 1;
                summary.failed_scenarios.push(FailedScenario {
                    report: run.source.clone(),
                    scenario: sc.clone(),
                });
            } else {
                summary.passed += 1;
            }
        }
        if let Some(max) = p.max_age_days {
            match run.started_at {
                None => {
                    ok = false;
                    reasons.push(Diagnostic::error(
                        "api-report-undated",
                        format!(
                            "API test report {} has no timestamp, and [api_tests] max_age_days = {max} requires one",
                            run.source
                        ),
                    ));
                }
                Some(t) if age_days(now, t) > max => {
                    ok = false;
                    reasons.push(Diagnostic::error(
                        "api-report-stale",
                        format!(
                            "API test report {} is from {t}, older than [api_tests] max_age_days = {max}",
                            run.source
                        ),
                    ));
                }
                Some(_) => {}
            }
        }
    }
    if summary.total == 0 {
        ok = false;
        reasons.push(Diagnostic::error(
            "api-tests-empty",
            "the API test reports hold no scenarios: an empty run proves nothing",
        ));
    } else {
        let ratio = summary.passed as f64 / summary.total as f64;
        if ratio < p.min_pass_ratio {
            ok = false;
            let by_status = count_by_status(&summary.failed_scenarios);
            reasons.push(Diagnostic::error(
                "api-tests-failed",
                format!(
                    "API tests: {} of {} scenarios passed ({:.1}%; {by_status}), the policy requires {:.1}%",
                    summary.passed,
                    summary.total,
                    ratio * 100.0,
                    p.min_pass_ratio * 100.0
                ),
            ));
        }
    }
    summary.outcome = if ok { ApiOutcome::Pass } else { ApiOutcome::Fail };
    summary
}

fn count_by_status(failed: &[FailedScenario]) -> String {
    let mut counts: Vec<(Status, usize)> = Vec::new();
    for f in failed {
        match counts.iter_mut().find(|(s, _)| *s == f.scenario.status) {
            Some((_, n)) => *n += 1,
            None => counts.push((f.scenario.status, 1)),
        }
    }
    counts.sort();
    counts
        .iter()
        .map(|(s, n)| format!("{n} {}", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}
