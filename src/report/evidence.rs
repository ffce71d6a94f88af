//! The evidence file: the decision bound to its inputs and to the image digest.
//!
//! Layout: `{"body": {...}, "integrity": {"body_sha256"}}`. The body's canonical form is its JSON with object
//! keys sorted and no white space (serde_json's map is ordered), so anyone can recompute the digest.
//!
//! The evidence is the record of what the BB's pipeline saw, written by a job whose steps the BB controls: a
//! claim, not a credential. The digest catches corruption, not forgery; that is why deploy decides again from
//! sources the admins and AWS control, and signs its own record with a KMS key (`crate::attest`). The HMAC
//! this file once carried is gone: its key had to sit in the verify job, where the BB could use it.

use super::{Context, FileDigest, FindingRecord, InputDigests, TOOL, VERSION, json};
use crate::apitests::Status;
use crate::error::{Error, Result};
use crate::gate::{ApiOutcome, SignoffSummary, Verdict};
use crate::policy::PolicyOrigin;
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

pub(crate) const SCHEMA: &str = "bbgate.dev/evidence/v2";
pub(crate) const VERIFIER_ID: &str = "https://govstack.global/sandbox/bbgate";

/// The evidence body. Every struct in it lists its fields in alphabetical order and every map is a
/// BTreeMap, so its compact serialisation *is* the canonical form (sorted keys, no white space) that
/// `open` recomputes from the parsed file; a test holds the two equal.
#[derive(Serialize)]
pub(crate) struct Body<'a> {
    pub(crate) acquisition: Option<&'a crate::report::acquisition::Acquisition>,
    pub(crate) api_tests: ApiTests<'a>,
    pub(crate) building_block: BuildingBlockRef<'a>,
    pub(crate) circleci: Option<&'a BTreeMap<String, String>>,
    pub(crate) decided_at: String,
    pub(crate) findings: Vec<FindingRecord<'a>>,
    pub(crate) image: json::Image<'a>,
    pub(crate) inputs: &'a InputDigests,
    pub(crate) policy: &'a PolicyOrigin,
    pub(crate) reasons: &'a [crate::diag::Diagnostic],
    pub(crate) scan: json::ScanSummary<'a>,
    pub(crate) schema: &'static str,
    pub(crate) signoffs: &'a SignoffSummary,
    pub(crate) tool: Tool,
    pub(crate) verdict: Verdict,
    pub(crate) warnings: Vec<&'a crate::diag::Diagnostic>,
}

#[derive(Serialize)]
pub(crate) struct ApiTests<'a> {
    pub(crate) failed: usize,
    pub(crate) failed_scenarios: Vec<FailedRecord<'a>>,
    pub(crate) outcome: ApiOutcome,
    pub(crate) passed: usize,
    pub(crate) reports: usize,
    pub(crate) total: usize,
}

#[derive(Serialize)]
pub(crate) struct FailedRecord<'a> {
    pub(crate) feature: &'a str,
    pub(crate) message: Option<&'a str>,
    pub(crate) name: &'a str,
    pub(crate) report: &'a str,
    pub(crate) status: Status,
}

#[derive(Serialize)]
pub(crate) struct BuildingBlockRef<'a> {
    pub(crate) name: &'a str,
    pub(crate) namespace: &'a str,
}

#[derive(Serialize)]
pub(crate) struct Tool {
    pub(crate) name: &'static str,
    pub(crate) version: &'static str,
}

pub(crate) fn body<'a>(ctx: &'a Context<'a>) -> Body<'a> {
    let d = ctx.decision;
    let a = &d.api_tests;
    Body {
        acquisition: ctx.acquisition,
        api_tests: ApiTests {
            failed: a.failed,
            failed_scenarios: a
                .failed_scenarios
                .iter()
                .map(|f| FailedRecord {
                    feature: &f.scenario.feature,
                    message: f.scenario.message.as_deref(),
                    name: &f.scenario.name,
                    report: &f.report,
                    status: f.scenario.status,
                })
                .collect(),
            outcome: a.outcome,
            passed: a.passed,
            reports: a.reports,
            total: a.total,
        },
        building_block: BuildingBlockRef {
            name: &d.building_block,
            namespace: &ctx.building_block.namespace,
        },
        circleci: ctx.circleci.as_ref(),
        decided_at: ctx.now.to_string(),
        findings: d.findings.iter().map(|f| ctx.record(f)).collect(),
        image: json::image(ctx),
        inputs: ctx.inputs,
        policy: ctx.policy,
        reasons: &d.reasons,
        scan: json::scan_summary(ctx),
        schema: SCHEMA,
        signoffs: &d.signoffs,
        tool: Tool {
            name: TOOL,
            version: VERSION,
        },
        verdict: d.verdict,
        warnings: json::warnings(ctx),
    }
}

/// Canonical bytes of a JSON value: sorted keys (serde_json's map is a BTreeMap: the `preserve_order`
/// feature is deliberately off), compact.
pub fn canonical(v: &Value) -> Vec<u8> {
    // Serialising a Value cannot fail (its keys are strings).
    serde_json::to_vec(v).unwrap_or_default()
}

#[derive(Serialize)]
struct Integrity {
    body_sha256: String,
}

#[derive(Serialize)]
struct Sealed<'a, B: Serialize> {
    body: &'a B,
    integrity: Integrity,
}

/// The evidence file's bytes: the body, sealed with the sha256 of its canonical bytes.
pub(crate) fn seal<B: Serialize>(body: &B) -> serde_json::Result<Vec<u8>> {
    let canonical = serde_json::to_vec(body)?;
    let integrity = Integrity {
        body_sha256: hex::encode(Sha256::digest(&canonical)),
    };
    drop(canonical);
    let mut bytes = serde_json::to_vec_pretty(&Sealed { body, integrity })?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// Check a sealed evidence document's digest (corruption, not forgery: see the module's notes). Returns the body.
pub fn open(path: &str, bytes: &[u8]) -> Result<Value> {
    let doc: Value =
        serde_json::from_slice(bytes).map_err(|e| Error::invalid(format!("{path}: not an evidence file: {e}")))?;
    let body = doc
        .get("body")
        .ok_or_else(|| Error::invalid(format!("{path}: no `body`: not a bbgate evidence file")))?;
    let canon = canonical(body);
    let want = doc.pointer("/integrity/body_sha256").and_then(Value::as_str);
    let have = hex::encode(Sha256::digest(&canon));
    if want != Some(have.as_str()) {
        return Err(Error::invalid(format!(
            "{path}: evidence body does not match its digest: the file was altered after bbgate wrote it"
        )));
    }
    Ok(body.clone())
}

/// An in-toto Statement (v1) with a SLSA verification summary predicate: the same decision, in the shape
/// admission controllers and attestation stores read.
pub(crate) fn attestation(ctx: &Context, evidence_sha256: Option<&str>) -> Value {
    let d = ctx.decision;
    let hex_digest = ctx.scan.image.digest.trim_start_matches("sha256:");
    let name = match ctx.registry {
        Some(r) => format!("{r}/{}", ctx.scan.image.repository),
        None => ctx.scan.image.repository.clone(),
    };
    let inputs: Vec<&FileDigest> = ctx
        .inputs
        .findings_pages
        .iter()
        .chain(&ctx.inputs.api_reports)
        .chain(&ctx.inputs.signoff_files)
        .collect();
    json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{ "name": name, "digest": { "sha256": hex_digest } }],
        "predicateType": "https://slsa.dev/verification_summary/v1",
        "predicate": {
            "verifier": { "id": VERIFIER_ID, "version": { TOOL: VERSION } },
            "timeVerified": ctx.now.to_string(),
            "resourceUri": ctx.image_uri(),
            "policy": { "uri": ctx.policy.location, "digest": { "sha256": ctx.policy.sha256 } },
            "inputAttestations": inputs.iter().map(|f| json!({ "uri": f.path, "digest": { "sha256": f.sha256 } })).collect::<Vec<_>>(),
            "verificationResult": if d.verdict == Verdict::Pass { "PASSED" } else { "FAILED" },
            "verifiedLevels": if d.verdict == Verdict::Pass { vec!["BBGATE_SANDBOX_ADMISSION"] } else { vec![] },
            "dependencyLevels": {},
            "evidence": evidence_sha256.map(|sha| json!({ "sha256": sha })),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_evidence_opens_and_corruption_is_caught() {
        let body = json!({"verdict": "pass", "image": {"digest": "sha256:aa"}, "score": 9.3});
        let bytes = seal(&body).unwrap();
        assert_eq!(open("e.json", &bytes).unwrap(), body);
        let altered = String::from_utf8(bytes).unwrap().replace("\"pass\"", "\"deny\"");
        assert!(
            open("e.json", altered.as_bytes())
                .unwrap_err()
                .to_string()
                .contains("altered")
        );
    }
}
