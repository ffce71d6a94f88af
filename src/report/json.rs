//! `--format json`: one document on stdout and nothing else, streamed (no intermediate JSON tree).

use super::{Context, FindingRecord, InputDigests};
use crate::diag::Diagnostic;
use crate::gate::{ApiTestSummary, Outcome, SignoffSummary, SignoffUse, Verdict};
use crate::policy::PolicyOrigin;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Serialize)]
pub(crate) struct JsonReport<'a> {
    pub(crate) verdict: Verdict,
    pub(crate) exit_code: u8,
    pub(crate) building_block: &'a str,
    pub(crate) namespace: &'a str,
    pub(crate) image: Image<'a>,
    pub(crate) policy: &'a PolicyOrigin,
    pub(crate) decided_at: String,
    pub(crate) scan: ScanSummary<'a>,
    pub(crate) counts: BTreeMap<&'static str, usize>,
    pub(crate) findings: Vec<FindingRecord<'a>>,
    pub(crate) api_tests: &'a ApiTestSummary,
    pub(crate) signoffs: BTreeMap<&'static str, Vec<&'a str>>,
    pub(crate) signoff_details: &'a SignoffSummary,
    pub(crate) reasons: &'a [Diagnostic],
    pub(crate) warnings: Vec<&'a Diagnostic>,
    pub(crate) inputs: &'a InputDigests,
    pub(crate) acquisition: Option<&'a crate::report::acquisition::Acquisition>,
}

/// Field order alphabetical (shared with the evidence).
#[derive(Serialize)]
pub(crate) struct Image<'a> {
    pub(crate) digest: &'a str,
    pub(crate) registry: Option<&'a str>,
    pub(crate) registry_id: Option<&'a str>,
    pub(crate) repository: &'a str,
    pub(crate) tag: Option<&'a str>,
}

/// Field order alphabetical (shared with the evidence).
#[derive(Serialize)]
pub(crate) struct ScanSummary<'a> {
    pub(crate) completed_at: Option<String>,
    pub(crate) findings: usize,
    pub(crate) pages: usize,
    pub(crate) severity_counts: &'a BTreeMap<String, u64>,
    pub(crate) status: &'a str,
    pub(crate) vulnerability_source_updated_at: Option<String>,
}

pub(crate) fn image<'a>(ctx: &Context<'a>) -> Image<'a> {
    let i = &ctx.scan.image;
    Image {
        digest: &i.digest,
        registry: ctx.registry,
        registry_id: i.registry_id.as_deref(),
        repository: &i.repository,
        tag: i.tag.as_deref(),
    }
}

pub(crate) fn scan_summary<'a>(ctx: &Context<'a>) -> ScanSummary<'a> {
    let s = ctx.scan;
    ScanSummary {
        completed_at: s.completed_at.map(|t| t.to_string()),
        findings: s.findings.len(),
        pages: s.pages,
        severity_counts: &s.severity_counts,
        status: &s.status,
        vulnerability_source_updated_at: s.source_updated_at.map(|t| t.to_string()),
    }
}

pub(crate) fn warnings<'a>(ctx: &Context<'a>) -> Vec<&'a Diagnostic> {
    ctx.input_notes.iter().chain(&ctx.decision.warnings).collect()
}

fn ids(list: &[SignoffUse]) -> Vec<&str> {
    list.iter().map(|u| u.id.as_str()).collect()
}

pub(crate) fn render<'a>(ctx: &Context<'a>, exit_code: u8) -> JsonReport<'a> {
    let d = ctx.decision;
    let s = &d.signoffs;
    JsonReport {
        verdict: d.verdict,
        exit_code,
        building_block: &d.building_block,
        namespace: &ctx.building_block.namespace,
        image: image(ctx),
        policy: ctx.policy,
        decided_at: ctx.now.to_string(),
        scan: scan_summary(ctx),
        counts: [
            Outcome::Blocked,
            Outcome::NeedsSignoff,
            Outcome::SignedOff,
            Outcome::Warned,
            Outcome::Allowed,
        ]
        .into_iter()
        .map(|o| (o.as_str(), d.count(o)))
        .collect(),
        findings: d.findings.iter().map(|f| ctx.record(f)).collect(),
        api_tests: &d.api_tests,
        signoffs: [
            ("applied", ids(&s.applied)),
            ("expired", ids(&s.expired)),
            ("expiring", ids(&s.expiring)),
            ("rejected", ids(&s.rejected)),
            ("unused", ids(&s.unused)),
        ]
        .into_iter()
        .collect(),
        signoff_details: s,
        reasons: &d.reasons,
        warnings: warnings(ctx),
        inputs: ctx.inputs,
        acquisition: ctx.acquisition,
    }
}
