//! `--sarif FILE`: SARIF 2.1.0 for GitHub code scanning and other SARIF viewers. One rule per vulnerability id,
//! one result per blocked (error) or needing-sign-off (warning) finding of each image, and each signed-off
//! finding as a result suppressed externally, the sign-off its justification.

use super::Context;
use crate::gate::Outcome;
use serde_json::{Value, json};
use std::collections::BTreeMap;

pub(crate) fn render(ctx: &Context) -> Value {
    let mut rules: BTreeMap<String, Value> = BTreeMap::new();
    let mut results = Vec::new();
    for (j, image) in ctx.each() {
        for fd in &image.findings {
            let level = match fd.outcome {
                Outcome::Blocked => "error",
                Outcome::NeedsSignoff | Outcome::SignedOff => "warning",
                Outcome::Warned | Outcome::Allowed => continue,
            };
            let f = ctx.record(j, fd);
            let finding = &j.scan.findings[fd.finding];
            let rule = rules.entry(f.id.to_string()).or_insert_with(|| {
                let mut r = json!({
                    "id": f.id,
                    "shortDescription": {"text": format!("{} ({})", f.id, f.severity.as_str())},
                    "properties": {"tags": ["security", "vulnerability"]},
                });
                // Only a valid http(s) URL: the advisory comes from the scan, and a viewer opens it as a link.
                if let Some(url) = finding.advisory.as_deref().and_then(web_url) {
                    r["helpUri"] = json!(url);
                }
                r
            });
            // GitHub orders by security-severity: the highest score any image gave this id.
            if let Some(score) = f.score {
                let prev = rule["properties"]["security-severity"]
                    .as_str()
                    .and_then(|s| s.parse::<f64>().ok())
                    .unwrap_or(-1.0);
                if score > prev {
                    rule["properties"]["security-severity"] = json!(format!("{score:.1}"));
                }
            }
            let fixed = f
                .fixed_in
                .as_deref()
                .map(|v| format!("; fixed in {v}"))
                .unwrap_or_default();
            let mut result = json!({
                "ruleId": f.id,
                "level": level,
                "message": {"text": format!(
                    "{} in {} {} of {}: {} ({}){fixed}",
                    f.id, f.package, f.package_version, j.uri(), f.outcome.as_str(), f.basis
                )},
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": {"uri": j.scan.image.repository},
                        "region": {"startLine": 1},
                    },
                    "logicalLocations": [{"fullyQualifiedName": format!("{}/{}", j.uri(), f.package), "kind": "package"}],
                }],
                "partialFingerprints": {"bbgate/v1": format!("{}|{}|{}|{}", j.scan.image.repository, f.id, f.package, f.package_version)},
            });
            if fd.outcome == Outcome::SignedOff
                && let Some(i) = fd.signoff
            {
                let s = &ctx.signoffs[i];
                result["suppressions"] = json!([{
                    "kind": "external",
                    "status": "accepted",
                    "justification": format!(
                        "signed off by {} on {}, until {} ({}): {} Mitigation: {}",
                        s.approved_by, s.approved_on, s.expires, s.location, s.analysis, s.mitigation
                    ),
                }]);
            }
            results.push(result);
        }
    }
    let index: BTreeMap<String, usize> = rules.keys().enumerate().map(|(i, k)| (k.clone(), i)).collect();
    for r in &mut results {
        let id = r["ruleId"].as_str().unwrap_or_default().to_owned();
        r["ruleIndex"] = json!(index[&id]);
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "bbgate",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/GovStackWorkingGroup/bbgate",
                "rules": rules.into_values().collect::<Vec<_>>(),
            }},
            "results": results,
            "properties": {
                "verdict": ctx.decision.verdict,
                "building_block": ctx.decision.building_block,
                "predicted": ctx.images.iter().any(|j| j.scan.source.predicted()),
            },
        }],
    })
}

/// `text` as a URL a reader may follow: `http` or `https`, with a host, parsed as browsers parse it.
fn web_url(text: &str) -> Option<String> {
    let u = url::Url::parse(text.trim()).ok()?;
    (matches!(u.scheme(), "https" | "http") && u.host_str().is_some_and(|h| !h.is_empty())).then(|| u.to_string())
}
