//! What deploy reads from verify's evidence, and whether it is good enough to look further.
//!
//! The evidence is written by the verify job, which runs the judged BB's own pipeline steps: it is a claim,
//! never a verdict deploy trusts. Deploy takes from it only *which* image and *which* inputs (their sha256),
//! then decides again itself (`redecide`). The checks here are the cheap ones that refuse early: the claimed
//! verdict, the building block, the age, this workflow, a well-formed digest.

use super::guard::PinnedImage;
use crate::policy::Policy;
use crate::report::FileDigest;
use serde::Deserialize;

/// The fields of the evidence body deploy reads, typed: a renamed field fails here, at the parse, naming it.
#[derive(Debug, Deserialize)]
pub(crate) struct Claim {
    pub(crate) schema: String,
    pub(crate) verdict: String,
    #[serde(default)]
    pub(crate) reasons: Vec<crate::diag::Diagnostic>,
    pub(crate) decided_at: String,
    pub(crate) policy: ClaimPolicy,
    pub(crate) building_block: ClaimBuildingBlock,
    pub(crate) image: ClaimImage,
    pub(crate) inputs: ClaimInputs,
    #[serde(default)]
    pub(crate) circleci: Option<std::collections::BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ClaimPolicy {
    pub(crate) location: String,
    pub(crate) sha256: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ClaimBuildingBlock {
    pub(crate) name: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ClaimImage {
    #[serde(default)]
    pub(crate) registry: Option<String>,
    pub(crate) repository: String,
    pub(crate) digest: String,
}

/// The evidence's `inputs`, read back into the type verify wrote them with.
#[derive(Debug, Deserialize)]
pub(crate) struct ClaimInputs {
    pub(crate) api_reports: Vec<FileDigest>,
    pub(crate) findings_pages: Vec<FileDigest>,
    // The sign-off files verify named are not read: deploy counts only the admins' pinned ones.
}

/// What a good evidence file tells the deploy.
#[derive(Debug, Clone)]
pub(crate) struct Admitted {
    pub(crate) building_block: String,
    pub(crate) image: PinnedImage,
    /// The findings pages and API reports verify decided on: deploy decides on the same reports, and on the
    /// same pages when it cannot read the scan from ECR itself.
    pub(crate) findings_pages: Vec<FileDigest>,
    pub(crate) api_reports: Vec<FileDigest>,
}

/// Read the typed claim out of the sealed body.
pub(crate) fn claim(path: &str, body: &serde_json::Value) -> std::result::Result<Claim, Vec<String>> {
    Claim::deserialize(body).map_err(|e| {
        vec![format!(
            "{path}: not a bbgate evidence body this version reads ({e}): re-run bbgate verify with this bbgate"
        )]
    })
}

/// `workflow_id`: this CircleCI workflow's id, when running in CircleCI. Every reason to refuse is listed.
pub(crate) fn check(
    path: &str,
    c: &Claim,
    policy: &Policy,
    now: jiff::Timestamp,
    workflow_id: Option<&str>,
) -> std::result::Result<Admitted, Vec<String>> {
    let mut problems = Vec::new();
    if c.verdict != "pass" {
        problems.push(format!(
            "{path}: the verdict is {:?}: only an image bbgate verify passed may be deployed (its reasons: {})",
            c.verdict,
            c.reasons
                .iter()
                .map(|r| r.message.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    if c.schema != crate::report::evidence::SCHEMA {
        problems.push(format!(
            "{path}: schema {:?} is not {}: re-run bbgate verify with this bbgate",
            c.schema,
            crate::report::evidence::SCHEMA
        ));
    }
    if c.policy.sha256 != policy.origin.sha256 {
        problems.push(format!(
            "{path}: decided under policy sha256 {} ({}), but the admins' policy ({}) is {}: verify must judge \
             under the same rules; re-run bbgate verify with that policy",
            c.policy.sha256, c.policy.location, policy.origin.location, policy.origin.sha256
        ));
    }
    let bb = &c.building_block.name;
    if policy.building_block(bb).is_none() {
        problems.push(format!(
            "{path}: building block {bb:?} is not in the policy ({})",
            policy.origin.location
        ));
    }
    let decided_at = c.decided_at.parse::<jiff::Timestamp>().ok();
    match decided_at {
        None => problems.push(format!("{path}: decided_at {:?} is not a time", c.decided_at)),
        Some(at) => {
            let age = now.duration_since(at);
            let max = policy.deploy.max_evidence_age;
            if age > max {
                problems.push(format!(
                    "{path}: decided at {at}, {:.1} h ago; the policy accepts evidence up to {:.1} h old \
                     ([deploy] max_evidence_age): re-run bbgate verify",
                    age.as_secs_f64() / 3600.0,
                    max.as_secs_f64() / 3600.0
                ));
            } else if age.is_negative() && age.abs() > jiff::SignedDuration::from_mins(5) {
                problems.push(format!("{path}: decided at {at}, in the future: check the clocks"));
            }
        }
    }
    if let Some(wf) = workflow_id {
        let theirs = c.circleci.as_ref().and_then(|m| m.get("CIRCLE_WORKFLOW_ID"));
        if theirs.map(String::as_str) != Some(wf) {
            problems.push(format!(
                "{path}: written by workflow {}, not this one ({wf}): deploy the evidence of this workflow's own \
                 verify job (persist it through the workspace)",
                theirs.map_or("(none recorded)", String::as_str)
            ));
        }
    }
    if !crate::image::is_sha256_digest(&c.image.digest) {
        problems.push(format!(
            "{path}: image digest {:?} is not sha256:<64 hex>",
            c.image.digest
        ));
    }
    let registry = c.image.registry.clone().unwrap_or_default();
    if registry.is_empty() {
        problems.push(format!(
            "{path}: no image registry recorded: run bbgate verify with --image, or --registry HOST"
        ));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Admitted {
        building_block: bb.clone(),
        image: PinnedImage {
            registry,
            repository: c.image.repository.clone(),
            digest: c.image.digest.clone(),
        },
        findings_pages: c.inputs.findings_pages.clone(),
        api_reports: c.inputs.api_reports.clone(),
    })
}
