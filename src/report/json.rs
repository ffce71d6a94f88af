//! `--format json`: one document on stdout and nothing else, streamed (no intermediate JSON tree).

use super::{Context, FindingRecord, InputDigests};
use crate::diag::Diagnostic;
use crate::gate::{ApiTestSummary, Outcome, SignoffSummary, SignoffUse, Verdict};
use crate::policy::PolicyOrigin;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Serialize)]
pub struct JsonReport<'a> {
    pub verdict: Verdict,
    pub exit_code: u8,
    pub building_block: &'a str,
    pub namespace: &'a str,
    pub image: Image<'a>,
    pub policy: &'a PolicyOrigin,
    pub decided_at: String,
    pub scan: ScanSummary<'a>,
    pub counts: BTreeMap<&'static str, usize>,
    pub findings: Vec<FindingRecord<'a>>,
    pub api_tests: &'a ApiTestSummary,
    pub signoffs: BTreeMap<&'static str, Vec<&'a str>>,
    pub signoff_details: &'a SignoffSummary,
    pub reasons: &'a [Diagnostic],
    pub warnings: Vec<&'a Diagnostic>,
    pub inputs: &'a InputDigests,
    pub acquisition: Option<&'a crate::aws::ecr::Acquisition>,
}

/// Field order alphabetical (shared with the evidence).
#[derive(Serialize)]
pub struct Image<'a> {
    pub digest: &'a str,
    pub registry: Option<&'a str>,
    pub registry_id: Option<&'a str>,
    pub repository: &'a str,
    pub tag: Option<&'a str>,
}

/// Field order alphabetical (shared with the evidence).
#[derive(Serialize)]
pub struct ScanSummary<'a> {
    pub completed_at: Option<String>,
    pub findings: usize,
    pub pages: usize,
    pub severity_counts: &'a BTreeMap<String, u64>,
    pub status: &'a str,
    pub vulnerability_source_updated_at: Option<String>,
}

pub fn image<'a>(ctx: &Context<'a>) -> Image<'a> {
    let i = &ctx.scan.image;
    Image {
        digest: &i.digest,
        registry: ctx.registry,
        registry_id: i.registry_id.as_deref(),
        repository: &i.repository,
        tag: i.tag.as_deref(),
    }
}

pub fn scan_summary<'a>(ctx: &Context<'a>) -> ScanSummary<'a> {
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

pub fn warnings<'a>(ctx: &Context<'a>) -> Vec<&'a Diagnostic> {
    ctx.input_notes.iter().chain(&ctx.decision.warnings).collect()
}

fn ids(list: &[SignoffUse]) -> Vec<&str> {
    list.iter().map(|u| u.id.as_str()).collect()
}

pub fn render<'a>(ctx: &Context<'a>, exit_code: u8) -> JsonReport<'a> {
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
