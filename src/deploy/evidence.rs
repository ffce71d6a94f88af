//! Is this evidence good for a deploy? A pure check of the sealed body against the current policy, the
//! building block and the clock: every reason to refuse is listed.

use super::guard::PinnedImage;
use crate::policy::Policy;
use serde_json::Value;

/// What a good evidence file tells the deploy.
#[derive(Debug, Clone)]
pub struct Admitted {
    pub building_block: String,
    pub image: PinnedImage,
    pub tag: Option<String>,
    pub decided_at: jiff::Timestamp,
}

/// `body` is the sealed body `report::evidence::open` returned (digest and HMAC already checked).
/// `workflow_id`: this CircleCI workflow's id, when running in CircleCI.
pub fn check(
    path: &str,
    body: &Value,
    policy: &Policy,
    now: jiff::Timestamp,
    workflow_id: Option<&str>,
) -> std::result::Result<Admitted, Vec<String>> {
    let mut problems = Vec::new();
    let s = |p: &str| body.pointer(p).and_then(Value::as_str);
    match s("/verdict") {
        Some("pass") => {}
        Some(v) => problems.push(format!(
            "{path}: the verdict is {v:?}: only an image bbgate verify passed may be deployed (its reasons: {})",
            body["reasons"]
                .as_array()
                .map(|r| r.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("; "))
                .unwrap_or_default()
        )),
        None => problems.push(format!("{path}: no verdict: not a bbgate evidence file")),
    }
    if s("/schema") != Some(crate::report::evidence::SCHEMA) {
        problems.push(format!(
            "{path}: schema {:?} is not {}: re-run bbgate verify with this bbgate",
            s("/schema").unwrap_or(""),
            crate::report::evidence::SCHEMA
        ));
    }
    let policy_sha = s("/policy/sha256").unwrap_or("");
    if policy_sha != policy.origin.sha256 {
        problems.push(format!(
            "{path}: decided under policy sha256 {policy_sha} ({}), but the current policy ({}) is {}: the \
             rules changed since verify; re-run bbgate verify",
            s("/policy/location").unwrap_or("?"),
            policy.origin.location,
            policy.origin.sha256
        ));
    }
    let bb = s("/building_block/name").unwrap_or("").to_owned();
    if policy.building_block(&bb).is_none() {
        problems.push(format!(
            "{path}: building block {bb:?} is not in the policy ({})",
            policy.origin.location
        ));
    }
    let decided_at = s("/decided_at").and_then(|t| t.parse::<jiff::Timestamp>().ok());
    match decided_at {
        None => problems.push(format!("{path}: no valid decided_at")),
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
        let theirs = s("/circleci/CIRCLE_WORKFLOW_ID");
        if theirs != Some(wf) {
            problems.push(format!(
                "{path}: written by workflow {}, not this one ({wf}): deploy the evidence of this workflow's own \
                 verify job (persist it through the workspace)",
                theirs.unwrap_or("(none recorded)")
            ));
        }
    }
    let digest = s("/image/digest").unwrap_or("").to_owned();
    if !crate::findings::ecr::is_sha256_digest(&digest) {
        problems.push(format!("{path}: image digest {digest:?} is not sha256:<64 hex>"));
    }
    let registry = s("/image/registry").unwrap_or("").to_owned();
    if registry.is_empty() {
        problems.push(format!(
            "{path}: no image registry recorded: run bbgate verify with --image, or --registry HOST"
        ));
    }
    let repository = s("/image/repository").unwrap_or("").to_owned();
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Admitted {
        building_block: bb,
        image: PinnedImage {
            registry,
            repository,
            digest,
        },
        tag: s("/image/tag").map(str::to_owned),
        decided_at: decided_at.unwrap_or(now),
    })
}
