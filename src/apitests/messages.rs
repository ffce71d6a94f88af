//! Cucumber messages NDJSON (`--format message`): protocol 20 (cucumber-js 8, GovStack) and newer.

use super::{ReportFormat, Scenario, Status, TestRun};
use serde::Deserialize;
use std::collections::HashMap;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    meta: Option<serde::de::IgnoredAny>,
    pickle: Option<Pickle>,
    gherkin_document: Option<GherkinDocument>,
    test_case: Option<TestCase>,
    test_case_started: Option<TestCaseStarted>,
    test_step_finished: Option<TestStepFinished>,
    test_case_finished: Option<TestCaseFinished>,
    test_run_started: Option<TestRunStarted>,
    test_run_finished: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct Pickle {
    id: String,
    uri: Option<String>,
    name: Option<String>,
}

#[derive(Deserialize)]
struct GherkinDocument {
    uri: Option<String>,
    feature: Option<Feature>,
}

#[derive(Deserialize)]
struct Feature {
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TestCase {
    id: String,
    pickle_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TestCaseStarted {
    id: String,
    test_case_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TestStepFinished {
    test_case_started_id: String,
    test_step_result: StepResult,
}

#[derive(Deserialize)]
struct StepResult {
    status: String,
    message: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TestCaseFinished {
    test_case_started_id: String,
    #[serde(default)]
    will_be_retried: bool,
}

#[derive(Deserialize)]
struct TestRunStarted {
    timestamp: Option<Timestamp>,
}

#[derive(Deserialize)]
struct Timestamp {
    seconds: i64,
    #[serde(default)]
    nanos: i32,
}

struct Attempt {
    test_case: String,
    status: Option<Status>,
    message: Option<String>,
    retried: bool,
}

pub fn parse(text: &str) -> Result<TestRun, String> {
    let mut feature_names: HashMap<String, String> = HashMap::new();
    let mut pickles: HashMap<String, (String, String)> = HashMap::new(); // id -> (uri, name)
    let mut test_cases: Vec<(String, String)> = Vec::new(); // (id, pickle id), in order
    let mut attempts: HashMap<String, Attempt> = HashMap::new();
    let mut started_at = None;
    let mut saw_meta = false;
    let mut saw_any = false;

    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let env: Envelope =
            serde_json::from_str(line).map_err(|e| format!("line {}: not a cucumber message envelope: {e}", n + 1))?;
        saw_any = true;
        saw_meta |= env.meta.is_some();
        if let Some(p) = env.pickle {
            pickles.insert(p.id, (p.uri.unwrap_or_default(), p.name.unwrap_or_default()));
        }
        if let Some(d) = env.gherkin_document
            && let (Some(uri), Some(name)) = (d.uri, d.feature.and_then(|f| f.name))
        {
            feature_names.insert(uri, name);
        }
        if let Some(tc) = env.test_case {
            test_cases.push((tc.id, tc.pickle_id));
        }
        if let Some(s) = env.test_case_started {
            attempts.insert(
                s.id,
                Attempt {
                    test_case: s.test_case_id,
                    status: None,
                    message: None,
                    retried: false,
                },
            );
        }
        if let Some(f) = env.test_step_finished {
            let a = attempts.get_mut(&f.test_case_started_id).ok_or_else(|| {
                format!(
                    "line {}: testStepFinished for unknown testCaseStartedId {:?}",
                    n + 1,
                    f.test_case_started_id
                )
            })?;
            let status = Status::parse(&f.test_step_result.status)
                .ok_or_else(|| format!("line {}: unknown step status {:?}", n + 1, f.test_step_result.status))?;
            if a.message.is_none() && status == Status::Failed {
                a.message = f.test_step_result.message;
            }
            a.status = Some(a.status.map_or(status, |s| s.worst(status)));
        }
        if let Some(f) = env.test_case_finished
            && let Some(a) = attempts.get_mut(&f.test_case_started_id)
        {
            a.retried = f.will_be_retried;
        }
        if let Some(s) = env.test_run_started {
            started_at = s.timestamp.and_then(|t| jiff::Timestamp::new(t.seconds, t.nanos).ok());
        }
        let _ = env.test_run_finished;
    }
    if !saw_any {
        return Err("no messages in the file".into());
    }
    if !saw_meta {
        return Err("no `meta` envelope: not a cucumber messages report".into());
    }
    // The final attempt of each test case decides (attempts with willBeRetried=true are superseded).
    let mut final_attempt: HashMap<&str, &Attempt> = HashMap::new();
    for a in attempts.values().filter(|a| !a.retried) {
        final_attempt.insert(a.test_case.as_str(), a);
    }
    let mut scenarios = Vec::with_capacity(test_cases.len());
    for (id, pickle_id) in &test_cases {
        let (uri, name) = pickles
            .get(pickle_id)
            .cloned()
            .ok_or_else(|| format!("testCase {id} names unknown pickle {pickle_id}"))?;
        let feature = feature_names.get(&uri).cloned().unwrap_or(uri);
        let (status, message) = match final_attempt.get(id.as_str()) {
            Some(a) => (a.status.unwrap_or(Status::Unknown), a.message.clone()),
            None => (Status::Unknown, Some("the test case never ran to completion".into())),
        };
        scenarios.push(Scenario {
            feature,
            name,
            status,
            message,
        });
    }
    Ok(TestRun {
        source: String::new(),
        format: ReportFormat::CucumberMessages,
        scenarios,
        started_at,
    })
}
