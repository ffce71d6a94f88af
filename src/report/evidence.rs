//! The evidence file: the decision bound to its inputs and to the image digest.
//!
//! Layout: `{"body": {...}, "integrity": {"body_sha256"}}`. The body's canonical form is its JSON with object
//! keys sorted and no white space (serde_json's map is ordered), so anyone can recompute the digest.
//!
//! The evidence is the record of what the BB's pipeline saw, written by a job whose steps the BB controls: a
//! claim, not a credential. The digest catches corruption, not forgery; that is why deploy decides again from
//! sources the admins and AWS control, and signs its own record with a KMS key (`crate::attest`). The HMAC
//! this file once carried is gone: its key had to sit in the verify job, where the BB could use it.

use super::{ChartRecord, Context, FileDigest, ImageRecord, InputDigests, TOOL, VERSION};
use crate::apitests::Status;
use crate::diag::Diagnostic;
use crate::error::{Error, Result};
use crate::gate::{ApiOutcome, SignoffSummary, Verdict};
use crate::policy::PolicyOrigin;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// v3: a release of one or more images (`images[]`), with the chart when verify judged one.
pub(crate) const SCHEMA: &str = "bbgate.dev/evidence/v3";
pub(crate) const VERIFIER_ID: &str = "https://govstack.global/sandbox/bbgate";

/// The evidence body: what verify writes and what deploy reads back, one type. Every struct in it lists its
/// fields in alphabetical order (by serialised name) and every map is a BTreeMap, so its compact
/// serialisation *is* the canonical form (sorted keys, no white space) that `open` recomputes from the
/// parsed file; a test holds the two equal. Written borrowed from the decision; read back owned.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Body<'a> {
    pub(crate) api_tests: ApiTests,
    pub(crate) building_block: BuildingBlockRef,
    pub(crate) chart: Option<ChartRecord>,
    pub(crate) circleci: Option<BTreeMap<String, String>>,
    pub(crate) decided_at: String,
    pub(crate) images: Vec<ImageRecord<'a>>,
    pub(crate) inputs: InputDigests,
    pub(crate) policy: PolicyOrigin,
    pub(crate) reasons: Cow<'a, [Diagnostic]>,
    pub(crate) schema: Cow<'a, str>,
    pub(crate) signoffs: Cow<'a, SignoffSummary>,
    pub(crate) tool: Tool,
    pub(crate) verdict: Verdict,
    pub(crate) warnings: Vec<Cow<'a, Diagnostic>>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ApiTests {
    pub(crate) failed: usize,
    pub(crate) failed_scenarios: Vec<FailedRecord>,
    pub(crate) outcome: ApiOutcome,
    pub(crate) passed: usize,
    pub(crate) reports: usize,
    pub(crate) total: usize,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct FailedRecord {
    pub(crate) feature: String,
    pub(crate) location: Option<String>,
    pub(crate) message: Option<String>,
    pub(crate) name: String,
    pub(crate) report: String,
    pub(crate) status: Status,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct BuildingBlockRef {
    pub(crate) name: String,
    pub(crate) namespace: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Tool {
    pub(crate) name: String,
    pub(crate) version: String,
}

pub(crate) fn body<'a>(ctx: &Context<'a>) -> Body<'a> {
    let d = ctx.decision;
    let a = &d.api_tests;
    Body {
        api_tests: ApiTests {
            failed: a.failed,
            failed_scenarios: a
                .failed_scenarios
                .iter()
                .map(|f| FailedRecord {
                    feature: f.scenario.feature.clone(),
                    location: f.scenario.location.clone(),
                    message: f.scenario.message.clone(),
                    name: f.scenario.name.clone(),
                    report: f.report.clone(),
                    status: f.scenario.status,
                })
                .collect(),
            outcome: a.outcome,
            passed: a.passed,
            reports: a.reports,
            total: a.total,
        },
        building_block: BuildingBlockRef {
            name: d.building_block.clone(),
            namespace: ctx.building_block.namespace.clone(),
        },
        chart: ctx.chart.cloned(),
        circleci: ctx.circleci.clone(),
        decided_at: ctx.now.to_string(),
        images: ctx.each().map(|(j, i)| ctx.image_record(j, i)).collect(),
        inputs: ctx.inputs.clone(),
        policy: ctx.policy.clone(),
        reasons: Cow::Borrowed(&d.reasons),
        schema: Cow::Borrowed(SCHEMA),
        signoffs: Cow::Borrowed(&d.signoffs),
        tool: Tool {
            name: TOOL.to_owned(),
            version: VERSION.to_owned(),
        },
        verdict: d.verdict,
        warnings: ctx.warnings(),
    }
}

/// Read a body (from `open`) as this version writes it. An older schema, or a body another tool wrote, is
/// refused naming the field that does not fit.
pub(crate) fn read(path: &str, body: &Value) -> Result<Body<'static>> {
    let schema = body.get("schema").and_then(Value::as_str).unwrap_or("(none)");
    if schema != SCHEMA {
        return Err(Error::invalid(format!(
            "{path}: evidence schema {schema:?} is not {SCHEMA}: this bbgate reads only evidence it writes (a \
             release of images); re-run bbgate verify with this bbgate"
        )));
    }
    Body::deserialize(body).map_err(|e| {
        Error::invalid(format!(
            "{path}: not a bbgate evidence body this version reads ({e}): re-run bbgate verify with this bbgate"
        ))
    })
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
/// admission controllers and attestation stores read. Every image of the release is a subject.
pub(crate) fn attestation(ctx: &Context, evidence_sha256: Option<&str>) -> Value {
    let d = ctx.decision;
    let subjects: Vec<Value> = ctx
        .images
        .iter()
        .map(|j| {
            let name = match &j.registry {
                Some(r) => format!("{r}/{}", j.scan.image.repository),
                None => j.scan.image.repository.clone(),
            };
            json!({ "name": name, "digest": { "sha256": j.scan.image.digest.trim_start_matches("sha256:") } })
        })
        .collect();
    let inputs: Vec<&FileDigest> = ctx
        .images
        .iter()
        .flat_map(|j| &j.pages)
        .chain(&ctx.inputs.api_reports)
        .chain(&ctx.inputs.signoff_files)
        .collect();
    json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": subjects,
        "predicateType": "https://slsa.dev/verification_summary/v1",
        "predicate": {
            "verifier": { "id": VERIFIER_ID, "version": { TOOL: VERSION } },
            "timeVerified": ctx.now.to_string(),
            "resourceUri": resource_uri(ctx),
            "policy": { "uri": ctx.policy.location, "digest": { "sha256": ctx.policy.sha256 } },
            "inputAttestations": inputs.iter().map(|f| json!({ "uri": f.path, "digest": { "sha256": f.sha256 } })).collect::<Vec<_>>(),
            "verificationResult": if d.verdict == Verdict::Pass { "PASSED" } else { "FAILED" },
            "verifiedLevels": if d.verdict == Verdict::Pass { vec!["BBGATE_SANDBOX_ADMISSION"] } else { vec![] },
            "dependencyLevels": {},
            "evidence": evidence_sha256.map(|sha| json!({ "sha256": sha })),
        }
    })
}

/// What was verified, as one URI: the image, or for a release of several the chart (`pkg:helm/NAME@VERSION`),
/// else the building block's release.
fn resource_uri(ctx: &Context) -> String {
    match (ctx.images, ctx.chart) {
        ([one], _) => one.uri(),
        (_, Some(c)) => format!("pkg:helm/{}@{}", c.name, c.version),
        _ => format!("bbgate:release/{}", ctx.decision.building_block),
    }
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
