//! What deploy reads from verify's evidence, and whether it is good enough to look further.
//!
//! The evidence is written by the verify job, which runs the judged BB's own pipeline steps: it is a claim,
//! never a verdict deploy trusts. Deploy takes from it only *which* image and *which* inputs (their sha256),
//! then decides again itself (`redecide`). The checks here are the cheap ones that refuse early: the claimed
//! verdict, the building block, the age, this workflow, a well-formed digest.

use super::guard::PinnedImage;
use crate::policy::Policy;
use crate::report::FileDigest;
use crate::report::evidence::Body;

/// One image of the release the evidence names.
#[derive(Debug, Clone)]
pub(crate) struct AdmittedImage {
    pub(crate) image: PinnedImage,
    /// The findings pages verify decided on for this image: deploy decides on the same pages when it cannot
    /// read the scan from ECR itself.
    pub(crate) findings_pages: Vec<FileDigest>,
}

/// What a good evidence file tells the deploy.
#[derive(Debug, Clone)]
pub(crate) struct Admitted {
    pub(crate) building_block: String,
    /// Every image of the release, each pinned by digest.
    pub(crate) images: Vec<AdmittedImage>,
    /// The API reports verify decided on: deploy decides on the same reports.
    pub(crate) api_reports: Vec<FileDigest>,
    /// The chart verify judged (`verify --chart`): deploy installs only that chart, with the same values.
    pub(crate) chart: Option<crate::report::ChartRecord>,
}

impl Admitted {
    /// Every findings page the evidence names, over all images.
    pub(crate) fn findings_pages(&self) -> Vec<FileDigest> {
        self.images
            .iter()
            .flat_map(|i| i.findings_pages.iter().cloned())
            .collect()
    }
}

/// `workflow_id`: this CircleCI workflow's id, when running in CircleCI. Every reason to refuse is listed.
pub(crate) fn check(
    path: &str,
    c: &Body<'static>,
    policy: &Policy,
    now: jiff::Timestamp,
    workflow_id: Option<&str>,
) -> std::result::Result<Admitted, Vec<String>> {
    let mut problems = Vec::new();
    if c.verdict != crate::gate::Verdict::Pass {
        problems.push(format!(
            "{path}: the verdict is \"deny\": only a release bbgate verify passed may be deployed (its reasons: {})",
            c.reasons
                .iter()
                .map(|r| r.message.as_str())
                .collect::<Vec<_>>()
                .join("; ")
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
    if c.images.is_empty() {
        problems.push(format!("{path}: the evidence names no image: re-run bbgate verify"));
    }
    let mut images = Vec::with_capacity(c.images.len());
    for i in &c.images {
        if i.source.predicted() {
            problems.push(format!(
                "{path}: image {} was judged on a local {} report: that is a prediction, not the sandbox's \
                 decision; push the image and run bbgate verify on it (ECR's scan decides)",
                i.repository,
                i.source.as_str()
            ));
        }
        if !crate::image::is_sha256_digest(&i.digest) {
            problems.push(format!(
                "{path}: image {} digest {:?} is not sha256:<64 hex>",
                i.repository, i.digest
            ));
        }
        let registry = i.registry.as_deref().unwrap_or_default().to_owned();
        if registry.is_empty() {
            problems.push(format!(
                "{path}: no registry recorded for image {}: run bbgate verify with --image or --chart, or with \
                 --registry HOST",
                i.repository
            ));
        }
        images.push(AdmittedImage {
            image: PinnedImage {
                registry,
                repository: i.repository.to_string(),
                digest: i.digest.to_string(),
                tag: i.tag.as_deref().map(str::to_owned),
            },
            findings_pages: i.findings_pages.to_vec(),
        });
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Admitted {
        building_block: bb.clone(),
        images,
        api_reports: c.inputs.api_reports.clone(),
        chart: c.chart.clone(),
    })
}
