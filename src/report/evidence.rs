//! The evidence file: the decision bound to its inputs and to the image digest.
//!
//! Layout: `{"body": {...}, "integrity": {"body_sha256", "hmac_sha256"?}}`. The body's canonical form is
//! its JSON with object keys sorted and no white space (serde_json's map is ordered), so anyone can
//! recompute the digest; with `BBGATE_EVIDENCE_KEY`, an HMAC-SHA256 over the same bytes proves who wrote it.

use super::{Context, FileDigest, TOOL, VERSION};
use crate::error::{Error, Result};
use crate::gate::Verdict;
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub const SCHEMA: &str = "bbgate.dev/evidence/v1";
pub const VERIFIER_ID: &str = "https://govstack.global/sandbox/bbgate";
pub const KEY_ENV: &str = "BBGATE_EVIDENCE_KEY";

type HmacSha256 = hmac::Hmac<Sha256>;

pub fn body(ctx: &Context) -> Value {
    let d = ctx.decision;
    json!({
        "schema": SCHEMA,
        "tool": { "name": TOOL, "version": VERSION },
        "decided_at": ctx.now.to_string(),
        "image": {
            "registry": ctx.registry,
            "registry_id": ctx.scan.image.registry_id,
            "repository": ctx.scan.image.repository,
            "digest": ctx.scan.image.digest,
            "tag": ctx.scan.image.tag,
        },
        "building_block": { "name": d.building_block, "namespace": ctx.building_block.namespace },
        "policy": ctx.policy,
        "inputs": ctx.inputs,
        "scan": {
            "status": ctx.scan.status,
            "completed_at": ctx.scan.completed_at.map(|t| t.to_string()),
            "vulnerability_source_updated_at": ctx.scan.source_updated_at.map(|t| t.to_string()),
            "pages": ctx.scan.pages,
            "severity_counts": ctx.scan.severity_counts,
        },
        "verdict": d.verdict,
        "reasons": d.reasons,
        "warnings": ctx.input_notes.iter().chain(&d.warnings).collect::<Vec<_>>(),
        "findings": d.findings.iter().map(super::json::finding_json).collect::<Vec<_>>(),
        "api_tests": {
            "outcome": d.api_tests.outcome,
            "total": d.api_tests.total,
            "passed": d.api_tests.passed,
            "failed": d.api_tests.failed,
            "failed_scenarios": d.api_tests.failed_scenarios,
        },
        "signoffs": d.signoffs,
        "circleci": ctx.circleci,
    })
}

/// Canonical bytes of a JSON value: sorted keys (serde_json's default map), compact.
pub fn canonical(v: &Value) -> Vec<u8> {
    // serde_json::Value's map is a BTreeMap (the `preserve_order` feature is deliberately off).
    serde_json::to_vec(v).unwrap_or_default()
}

fn hmac_hex(key: &[u8], bytes: &[u8]) -> String {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(bytes);
    hex::encode(mac.finalize().into_bytes())
}

/// The evidence document, sealed with its digest and, given a key, its HMAC.
pub fn seal(body: Value, key: Option<&[u8]>) -> Value {
    let bytes = canonical(&body);
    let mut integrity = json!({ "body_sha256": hex::encode(Sha256::digest(&bytes)) });
    if let Some(key) = key {
        integrity["hmac_sha256"] = Value::String(hmac_hex(key, &bytes));
    }
    json!({ "body": body, "integrity": integrity })
}

/// Check a sealed evidence document: its digest always, its HMAC when a key is given (then it is required).
/// Returns the body.
pub fn open(path: &str, bytes: &[u8], key: Option<&[u8]>) -> Result<Value> {
    let doc: Value = serde_json::from_slice(bytes).map_err(|e| Error::invalid(format!("{path}: not an evidence file: {e}")))?;
    let body = doc.get("body").ok_or_else(|| Error::invalid(format!("{path}: no `body`: not a bbgate evidence file")))?;
    let canon = canonical(body);
    let want = doc.pointer("/integrity/body_sha256").and_then(Value::as_str);
    let have = hex::encode(Sha256::digest(&canon));
    if want != Some(have.as_str()) {
        return Err(Error::invalid(format!("{path}: evidence body does not match its digest: the file was altered after bbgate wrote it")));
    }
    if let Some(key) = key {
        let mac = doc.pointer("/integrity/hmac_sha256").and_then(Value::as_str).ok_or_else(|| {
            Error::invalid(format!("{path}: evidence carries no HMAC, but {KEY_ENV} is set: it was not written by a trusted bbgate run"))
        })?;
        let mut m = <HmacSha256 as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        m.update(&canon);
        let expected = hex::decode(mac).map_err(|_| Error::invalid(format!("{path}: evidence HMAC is not hex")))?;
        m.verify_slice(&expected)
            .map_err(|_| Error::invalid(format!("{path}: evidence HMAC does not match: altered, or written with another {KEY_ENV}")))?;
    }
    Ok(body.clone())
}

/// An in-toto Statement (v1) with a SLSA verification summary predicate: the same decision, in the shape
/// admission controllers and attestation stores read.
pub fn attestation(ctx: &Context, evidence_sha256: &str) -> Value {
    let d = ctx.decision;
    let hex_digest = ctx.scan.image.digest.trim_start_matches("sha256:");
    let name = match ctx.registry {
        Some(r) => format!("{r}/{}", ctx.scan.image.repository),
        None => ctx.scan.image.repository.clone(),
    };
    let inputs: Vec<&FileDigest> = ctx.inputs.findings_pages.iter().chain(&ctx.inputs.api_reports).chain(&ctx.inputs.signoff_files).collect();
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
            "evidence": { "sha256": evidence_sha256 },
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_evidence_opens_and_tampering_is_caught() {
        let body = json!({"verdict": "pass", "image": {"digest": "sha256:aa"}, "score": 9.3});
        let doc = seal(body.clone(), Some(b"k1"));
        let bytes = serde_json::to_vec_pretty(&doc).unwrap();
        assert_eq!(open("e.json", &bytes, Some(b"k1")).unwrap(), body);
        assert_eq!(open("e.json", &bytes, None).unwrap(), body);
        assert!(open("e.json", &bytes, Some(b"k2")).unwrap_err().to_string().contains("HMAC does not match"));
        let altered = String::from_utf8(bytes).unwrap().replace("\"pass\"", "\"deny\"");
        assert!(open("e.json", altered.as_bytes(), None).unwrap_err().to_string().contains("altered"));
        let unsigned = serde_json::to_vec(&seal(body, None)).unwrap();
        assert!(open("e.json", &unsigned, Some(b"k1")).unwrap_err().to_string().contains("no HMAC"));
    }
}
