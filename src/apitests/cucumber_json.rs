//! Legacy cucumber JSON (`-f json` of cucumber-js, `--cucumberjson` of pytest-bdd).

use super::{ReportFormat, Scenario, Status, TestRun};
use serde::Deserialize;

#[derive(Deserialize)]
struct Feature {
    name: Option<String>,
    uri: Option<String>,
    #[serde(default)]
    elements: Vec<Element>,
}

#[derive(Deserialize)]
struct Element {
    name: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    steps: Vec<Step>,
    #[serde(default)]
    before: Vec<Step>,
    #[serde(default)]
    after: Vec<Step>,
}

#[derive(Deserialize)]
struct Step {
    result: Option<StepResult>,
}

#[derive(Deserialize)]
struct StepResult {
    status: String,
    error_message: Option<String>,
}

pub fn parse(text: &str) -> Result<TestRun, String> {
    let features: Vec<Feature> = serde_json::from_str(text).map_err(|e| format!("not a cucumber JSON report: {e}"))?;
    let mut scenarios = Vec::new();
    for (fi, feature) in features.into_iter().enumerate() {
        let feature_name = feature
            .name
            .filter(|n| !n.is_empty())
            .or(feature.uri)
            .unwrap_or_default();
        // A background's steps belong to the scenario that follows it.
        let mut background: Option<(Status, Option<String>)> = None;
        for (ei, el) in feature.elements.into_iter().enumerate() {
            let mut status: Option<Status> = None;
            let mut message = None;
            for step in el.before.iter().chain(&el.steps).chain(&el.after) {
                let Some(r) = &step.result else {
                    return Err(format!("feature {fi}, element {ei}: a step has no result"));
                };
                let s = Status::parse(&r.status)
                    .ok_or_else(|| format!("feature {fi}, element {ei}: unknown step status {:?}", r.status))?;
                if s == Status::Failed && message.is_none() {
                    message = r.error_message.clone();
                }
                status = Some(status.map_or(s, |x: Status| x.worst(s)));
            }
            if el.kind.as_deref() == Some("background") {
                background = Some((status.unwrap_or(Status::Passed), message));
                continue;
            }
            let (bg_status, bg_message) = background.take().unwrap_or((Status::Passed, None));
            let status = status.map_or(Status::Unknown, |s| s.worst(bg_status));
            scenarios.push(Scenario {
                feature: feature_name.clone(),
                name: el.name.unwrap_or_default(),
                status,
                message: bg_message.or(message),
            });
        }
    }
    Ok(TestRun {
        source: String::new(),
        format: ReportFormat::CucumberJson,
        scenarios,
        started_at: None,
    })
}
