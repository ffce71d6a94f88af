//! `--format json`: one document on stdout and nothing else.

use super::Context;
use crate::gate::{FindingDecision, Outcome, SignoffUse};
use serde_json::{Value, json};

pub fn finding_json(f: &FindingDecision) -> Value {
    json!({
        "id": f.id,
        "package": f.package,
        "package_version": f.package_version,
        "score": f.score.as_ref().map(|s| s.value),
        "score_source": f.score.as_ref().map(|s| format!("{} {}", s.kind.as_str(), s.source)),
        "severity": f.severity,
        "outcome": f.outcome,
        "basis": f.basis,
        "signoff": f.signoff,
        "notes": f.notes,
    })
}

fn ids(list: &[SignoffUse]) -> Vec<&str> {
    list.iter().map(|u| u.id.as_str()).collect()
}

pub fn render(ctx: &Context, exit_code: u8) -> Value {
    let d = ctx.decision;
    let s = &d.signoffs;
    json!({
        "verdict": d.verdict,
        "exit_code": exit_code,
        "building_block": d.building_block,
        "namespace": ctx.building_block.namespace,
        "image": {
            "registry": ctx.registry,
            "repository": ctx.scan.image.repository,
            "digest": ctx.scan.image.digest,
            "tag": ctx.scan.image.tag,
        },
        "policy": ctx.policy,
        "decided_at": ctx.now.to_string(),
        "scan": {
            "status": ctx.scan.status,
            "completed_at": ctx.scan.completed_at.map(|t| t.to_string()),
            "pages": ctx.scan.pages,
            "findings": ctx.scan.findings.len(),
            "severity_counts": ctx.scan.severity_counts,
        },
        "counts": {
            "blocked": d.count(Outcome::Blocked),
            "needs_signoff": d.count(Outcome::NeedsSignoff),
            "signed_off": d.count(Outcome::SignedOff),
            "warned": d.count(Outcome::Warned),
            "allowed": d.count(Outcome::Allowed),
        },
        "findings": d.findings.iter().map(finding_json).collect::<Vec<_>>(),
        "api_tests": d.api_tests,
        "signoffs": {
            "applied": ids(&s.applied),
            "expired": ids(&s.expired),
            "expiring": ids(&s.expiring),
            "rejected": ids(&s.rejected),
            "unused": ids(&s.unused),
        },
        "signoff_details": s,
        "reasons": d.reasons,
        "warnings": ctx.input_notes.iter().chain(&d.warnings).collect::<Vec<_>>(),
        "inputs": ctx.inputs,
    })
}
