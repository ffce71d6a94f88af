//! `--format json`: one document on stdout and nothing else, streamed (no intermediate JSON tree).

use super::{ChartRecord, Context, ImageRecord, InputDigests};
use crate::diag::Diagnostic;
use crate::gate::{ApiTestSummary, SignoffSummary, SignoffUse, Verdict};
use crate::policy::PolicyOrigin;
use serde::Serialize;
use std::borrow::Cow;
use std::collections::BTreeMap;

/// The release's verdict first, then each image (`images[]`), then what the release shares: its API tests and
/// sign-offs.
#[derive(Serialize)]
pub(crate) struct JsonReport<'a> {
    pub(crate) verdict: Verdict,
    pub(crate) exit_code: u8,
    /// Decided on a local scanner's report (Trivy, Grype): what the gate would say; the sandbox decides on ECR.
    pub(crate) predicted: bool,
    pub(crate) building_block: &'a str,
    pub(crate) namespace: &'a str,
    pub(crate) policy: &'a PolicyOrigin,
    pub(crate) decided_at: String,
    /// Findings by outcome, over every image.
    pub(crate) counts: BTreeMap<Cow<'a, str>, usize>,
    pub(crate) images: Vec<ImageRecord<'a>>,
    pub(crate) chart: Option<&'a ChartRecord>,
    pub(crate) api_tests: &'a ApiTestSummary,
    pub(crate) signoffs: BTreeMap<&'static str, Vec<&'a str>>,
    pub(crate) signoff_details: &'a SignoffSummary,
    /// Every reason, each image's located at the image.
    pub(crate) reasons: &'a [Diagnostic],
    pub(crate) warnings: Vec<Cow<'a, Diagnostic>>,
    pub(crate) inputs: &'a InputDigests,
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
        predicted: ctx.images.iter().any(|j| j.scan.source.predicted()),
        building_block: &d.building_block,
        namespace: &ctx.building_block.namespace,
        policy: ctx.policy,
        decided_at: ctx.now.to_string(),
        counts: ctx.counts(),
        images: ctx.each().map(|(j, i)| ctx.image_record(j, i)).collect(),
        chart: ctx.chart,
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
        warnings: ctx.warnings(),
        inputs: ctx.inputs,
    }
}
