//! Legacy cucumber JSON (`-f json` of cucumber-js, cucumber-jvm, cucumber-ruby; `--cucumberjson` of
//! pytest-bdd). A scenario's status is the worst of its steps, its background's steps, its scenario hooks
//! (`before`/`after`) and the hooks around each step (a step's own `before`/`after`, cucumber-ruby's
//! AfterStep). `--retry` writes each attempt as its own element with the same `id`: the last attempt counts, as
//! the runner counts it. Only an element with the same `id` and the same `line` is another attempt: ids are
//! made from names, so two scenarios named alike share one, and reading the second as a retry of the first
//! would hide the first one's failure. cucumber-js 7 writes every example row of a scenario outline with the
//! outline's id and line (keyword `Scenario Outline`): those rows are scenarios of their own, never attempts, and
//! two elements whose steps differ (an outline's placeholders filled in otherwise) are never attempts of one
//! another either. A retried outline row therefore counts each attempt: a stricter reading, never a looser one.

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
    id: Option<String>,
    /// The scenario's line in its feature file: with the id, what makes two elements attempts of one scenario.
    line: Option<u64>,
    name: Option<String>,
    /// `Scenario Outline` on cucumber-js 7's example rows, which share the outline's id and line.
    keyword: Option<String>,
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
    name: Option<String>,
    line: Option<u64>,
    /// Hooks around this one step (cucumber-ruby's AfterStep/BeforeStep).
    #[serde(default)]
    before: Vec<Step>,
    #[serde(default)]
    after: Vec<Step>,
}

/// Every result of a step: its hooks', then its own.
fn results<'a>(step: &'a Step, out: &mut Vec<&'a Step>) {
    for h in &step.before {
        results(h, out);
    }
    out.push(step);
    for h in &step.after {
        results(h, out);
    }
}

#[derive(Deserialize)]
struct StepResult {
    status: String,
    error_message: Option<String>,
}

/// What makes two elements attempts of one scenario: feature, id, line and the steps (name, line) they ran.
type Attempt = (usize, String, u64, Vec<(Option<String>, Option<u64>)>);

pub fn parse(text: &str) -> Result<TestRun, String> {
    let features: Vec<Feature> = serde_json::from_str(text).map_err(|e| format!("not a cucumber JSON report: {e}"))?;
    let mut scenarios = Vec::new();
    // Where each (feature, element id) stands in `scenarios`, for retries.
    let mut position: std::collections::HashMap<Attempt, usize> = std::collections::HashMap::new();
    for (fi, feature) in features.into_iter().enumerate() {
        let uri = feature.uri.clone();
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
            let outline_row = el.keyword.as_deref().map(str::trim) == Some("Scenario Outline");
            let steps: Vec<(Option<String>, Option<u64>)> = el.steps.iter().map(|s| (s.name.clone(), s.line)).collect();
            let mut all = Vec::new();
            for step in el.before.iter().chain(&el.steps).chain(&el.after) {
                results(step, &mut all);
            }
            for step in all {
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
            let scenario = Scenario {
                feature: feature_name.clone(),
                name: el.name.unwrap_or_default(),
                status,
                message: bg_message.or(message),
                location: uri.as_ref().zip(el.line).map(|(u, l)| format!("{u}:{l}")),
            };
            // A retry: the same element id at the same line, with the same steps, again in this feature replaces
            // the earlier attempt. Without a line nothing says it is the same scenario, and an outline's example
            // row is its own scenario: every such element counts.
            match el.id.filter(|id| !id.is_empty() && !outline_row).zip(el.line) {
                Some((id, line)) => match position.entry((fi, id, line, steps)) {
                    std::collections::hash_map::Entry::Occupied(e) => scenarios[*e.get()] = scenario,
                    std::collections::hash_map::Entry::Vacant(e) => {
                        e.insert(scenarios.len());
                        scenarios.push(scenario);
                    }
                },
                None => scenarios.push(scenario),
            }
        }
    }
    Ok(TestRun {
        source: String::new(),
        format: ReportFormat::CucumberJson,
        scenarios,
        started_at: None,
        run_failures: Vec::new(),
    })
}
