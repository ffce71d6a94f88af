//! Cucumber messages NDJSON (`--format message`), protocols 19 to 33, read as cucumber itself reads a run
//! (`@cucumber/query`): each test case is judged by its final attempt (the highest `attempt`, which must not
//! be marked `willBeRetried`), and by every earlier attempt not marked `willBeRetried` either (cucumber counts
//! each attempt that was not to be retried, so a FAILED attempt "not to be retried" followed by a PASSED one is
//! one failure and one pass, never a pass), a case is passed only if every one of its steps reported and none is worse than
//! passed, and the run as a whole failed when the runner says so (`testRunFinished.success: false`), when a
//! BeforeAll/AfterAll hook failed (`testRunHookFinished`, protocol 31+), when a Gherkin file did not parse, or
//! when the run never finished. Ids that are reused make the file ambiguous: invalid input, never a guess.

use super::{ReportFormat, Scenario, Status, TestRun};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    meta: Option<serde::de::IgnoredAny>,
    pickle: Option<Pickle>,
    gherkin_document: Option<GherkinDocument>,
    parse_error: Option<ParseError>,
    test_case: Option<TestCase>,
    test_case_started: Option<TestCaseStarted>,
    test_step_finished: Option<TestStepFinished>,
    test_case_finished: Option<TestCaseFinished>,
    test_run_started: Option<TestRunStarted>,
    test_run_hook_finished: Option<TestRunHookFinished>,
    test_run_finished: Option<TestRunFinished>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Pickle {
    id: String,
    uri: Option<String>,
    name: Option<String>,
    /// The Gherkin nodes it comes from: its scenario, and for an outline's example, the example row.
    #[serde(default)]
    ast_node_ids: Vec<String>,
}

#[derive(Deserialize)]
struct GherkinDocument {
    uri: Option<String>,
    feature: Option<Feature>,
}

#[derive(Deserialize)]
struct Feature {
    name: Option<String>,
    #[serde(default)]
    children: Vec<Child>,
}

/// A feature's or a rule's child: what carries a line that a pickle can name.
#[derive(Deserialize)]
struct Child {
    scenario: Option<Node>,
    rule: Option<Rule>,
}

#[derive(Deserialize)]
struct Rule {
    #[serde(default)]
    children: Vec<Child>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Node {
    id: Option<String>,
    location: Option<Location>,
    #[serde(default)]
    examples: Vec<Examples>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Examples {
    #[serde(default)]
    table_body: Vec<Row>,
}

#[derive(Deserialize)]
struct Row {
    id: Option<String>,
    location: Option<Location>,
}

#[derive(Deserialize)]
struct Location {
    line: Option<u64>,
}

/// Every Gherkin node's line by id: scenarios and example rows, in rules too.
fn node_lines(children: &[Child], out: &mut BTreeMap<String, u64>) {
    for c in children {
        if let Some(s) = &c.scenario {
            if let (Some(id), Some(line)) = (&s.id, s.location.as_ref().and_then(|l| l.line)) {
                out.insert(id.clone(), line);
            }
            for row in s.examples.iter().flat_map(|e| &e.table_body) {
                if let (Some(id), Some(line)) = (&row.id, row.location.as_ref().and_then(|l| l.line)) {
                    out.insert(id.clone(), line);
                }
            }
        }
        if let Some(r) = &c.rule {
            node_lines(&r.children, out);
        }
    }
}

#[derive(Deserialize)]
struct ParseError {
    message: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TestCase {
    id: String,
    pickle_id: String,
    #[serde(default)]
    test_steps: Vec<TestStep>,
}

#[derive(Deserialize)]
struct TestStep {
    id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TestCaseStarted {
    id: String,
    test_case_id: String,
    #[serde(default)]
    attempt: u32,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TestStepFinished {
    test_case_started_id: String,
    #[serde(default)]
    test_step_id: Option<String>,
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
struct TestRunHookFinished {
    result: StepResult,
}

#[derive(Deserialize)]
struct TestRunFinished {
    success: Option<bool>,
    message: Option<String>,
    exception: Option<Exception>,
}

#[derive(Deserialize)]
struct Exception {
    #[serde(rename = "type")]
    kind: Option<String>,
    message: Option<String>,
}

#[derive(Deserialize)]
struct Timestamp {
    seconds: i64,
    #[serde(default)]
    nanos: i32,
}

struct Attempt {
    test_case: String,
    number: u32,
    status: Option<Status>,
    message: Option<String>,
    steps_reported: BTreeSet<String>,
    /// `None`: no testCaseFinished (the attempt never completed).
    will_be_retried: Option<bool>,
}

/// What the whole file said, before it is reduced to scenarios.
#[derive(Default)]
struct Read {
    feature_names: BTreeMap<String, String>,
    pickles: BTreeMap<String, (String, String)>,    // id -> (uri, name)
    pickle_nodes: BTreeMap<String, Vec<String>>,    // id -> the Gherkin node ids it comes from
    node_lines: BTreeMap<String, u64>,              // Gherkin node id -> its line
    test_cases: Vec<(String, String, Vec<String>)>, // (id, pickle id, step ids), in order
    test_case_ids: BTreeSet<String>,
    attempts: BTreeMap<String, Attempt>,
    started_at: Option<jiff::Timestamp>,
    run_failures: Vec<String>,
    finished: bool,
    saw_meta: bool,
    /// `testRunFinished.success: false`, with its reason: a run failure unless a case already explains it.
    success_false: Option<String>,
}

fn at(n: usize, msg: String) -> String {
    format!("line {}: {msg}", n + 1)
}

impl Read {
    fn envelope(&mut self, n: usize, env: Envelope) -> Result<(), String> {
        self.saw_meta |= env.meta.is_some();
        if let Some(p) = env.pickle {
            let id = p.id.clone();
            self.pickle_nodes.insert(p.id.clone(), p.ast_node_ids.clone());
            if self
                .pickles
                .insert(p.id, (p.uri.unwrap_or_default(), p.name.unwrap_or_default()))
                .is_some()
            {
                return Err(at(n, format!("pickle id {id:?} is used twice")));
            }
        }
        if let Some(d) = env.gherkin_document
            && let (Some(uri), Some(feature)) = (d.uri, d.feature)
        {
            node_lines(&feature.children, &mut self.node_lines);
            if let Some(name) = feature.name {
                self.feature_names.insert(uri, name);
            }
        }
        if let Some(e) = env.parse_error {
            self.run_failures.push(format!(
                "a feature file did not parse: {}",
                e.message.unwrap_or_default().trim()
            ));
        }
        if let Some(tc) = env.test_case {
            if !self.test_case_ids.insert(tc.id.clone()) {
                return Err(at(n, format!("testCase id {:?} is used twice", tc.id)));
            }
            let steps = tc.test_steps.into_iter().map(|s| s.id).collect();
            self.test_cases.push((tc.id, tc.pickle_id, steps));
        }
        if let Some(s) = env.test_case_started {
            self.case_started(n, s)?;
        }
        if let Some(f) = env.test_step_finished {
            self.step_finished(n, f)?;
        }
        if let Some(f) = env.test_case_finished {
            self.case_finished(n, f)?;
        }
        if let Some(s) = env.test_run_started {
            self.started_at = s.timestamp.and_then(|t| jiff::Timestamp::new(t.seconds, t.nanos).ok());
        }
        if let Some(h) = env.test_run_hook_finished {
            let status = Status::parse(&h.result.status)
                .ok_or_else(|| at(n, format!("unknown hook status {:?}", h.result.status)))?;
            if status != Status::Passed {
                self.run_failures.push(format!(
                    "a BeforeAll/AfterAll hook ended {}: {}",
                    status.as_str(),
                    h.result
                        .message
                        .as_deref()
                        .map(super::short_message)
                        .unwrap_or_default()
                ));
            }
        }
        if let Some(f) = env.test_run_finished {
            self.finished = true;
            if f.success == Some(false) {
                let why = f
                    .exception
                    .map(|e| format!("{}: {}", e.kind.unwrap_or_default(), e.message.unwrap_or_default()))
                    .or(f.message)
                    .map(|m| format!(" ({})", super::short_message(&m)))
                    .unwrap_or_default();
                self.success_false = Some(format!(
                    "the runner reported the run as failed (testRunFinished.success: false){why}"
                ));
            }
        }
        Ok(())
    }

    fn case_started(&mut self, n: usize, s: TestCaseStarted) -> Result<(), String> {
        if self.attempts.contains_key(&s.id) {
            return Err(at(
                n,
                format!(
                    "testCaseStarted id {:?} is used twice: the file is ambiguous (one attempt would hide another)",
                    s.id
                ),
            ));
        }
        self.attempts.insert(
            s.id,
            Attempt {
                test_case: s.test_case_id,
                number: s.attempt,
                status: None,
                message: None,
                steps_reported: BTreeSet::new(),
                will_be_retried: None,
            },
        );
        Ok(())
    }

    fn step_finished(&mut self, n: usize, f: TestStepFinished) -> Result<(), String> {
        let a = self.attempts.get_mut(&f.test_case_started_id).ok_or_else(|| {
            at(
                n,
                format!(
                    "testStepFinished for unknown testCaseStartedId {:?}",
                    f.test_case_started_id
                ),
            )
        })?;
        let status = Status::parse(&f.test_step_result.status)
            .ok_or_else(|| at(n, format!("unknown step status {:?}", f.test_step_result.status)))?;
        if a.message.is_none() && status == Status::Failed {
            a.message = f.test_step_result.message;
        }
        a.status = Some(a.status.map_or(status, |s| s.worst(status)));
        if let Some(step) = f.test_step_id {
            a.steps_reported.insert(step);
        }
        Ok(())
    }

    fn case_finished(&mut self, n: usize, f: TestCaseFinished) -> Result<(), String> {
        let a = self.attempts.get_mut(&f.test_case_started_id).ok_or_else(|| {
            at(
                n,
                format!(
                    "testCaseFinished for unknown testCaseStartedId {:?}",
                    f.test_case_started_id
                ),
            )
        })?;
        if a.will_be_retried.is_some() {
            return Err(at(
                n,
                format!("testCaseStarted {:?} finished twice", f.test_case_started_id),
            ));
        }
        a.will_be_retried = Some(f.will_be_retried);
        Ok(())
    }

    /// The final attempt of each test case, in one pass: the highest attempt number; two attempts of that
    /// number are ambiguous.
    fn final_attempts(&self) -> Result<BTreeMap<&str, &Attempt>, String> {
        let mut best: BTreeMap<&str, &Attempt> = BTreeMap::new();
        for a in self.attempts.values() {
            match best.entry(a.test_case.as_str()) {
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(a);
                }
                std::collections::btree_map::Entry::Occupied(mut e) => {
                    let b = *e.get();
                    if b.number == a.number {
                        return Err(format!(
                            "test case {:?} has two attempts numbered {}: which one counts is ambiguous",
                            a.test_case, a.number
                        ));
                    }
                    if a.number > b.number {
                        e.insert(a);
                    }
                }
            }
        }
        Ok(best)
    }
}

/// The status and message of a test case, from its final attempt.
fn judge(attempt: Option<&Attempt>, steps: &[String]) -> (Status, Option<String>) {
    let Some(a) = attempt else {
        return (Status::Unknown, Some("the test case never started".into()));
    };
    match a.will_be_retried {
        None => {
            return (
                Status::Unknown,
                Some(format!("attempt {} never finished (no testCaseFinished)", a.number)),
            );
        }
        Some(true) => {
            return (
                Status::Unknown,
                Some(format!(
                    "attempt {} was to be retried, and no later attempt ran",
                    a.number
                )),
            );
        }
        Some(false) => {}
    }
    let missing = steps.iter().filter(|s| !a.steps_reported.contains(*s)).count();
    if missing > 0 {
        return (
            Status::Unknown,
            Some(format!(
                "{missing} of its {} steps never reported a result",
                steps.len()
            )),
        );
    }
    (a.status.unwrap_or(Status::Unknown), a.message.clone())
}

pub fn parse(text: &str) -> Result<TestRun, String> {
    let mut read = Read::default();
    let mut saw_any = false;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let env: Envelope =
            serde_json::from_str(line).map_err(|e| at(n, format!("not a cucumber message envelope: {e}")))?;
        saw_any = true;
        read.envelope(n, env)?;
    }
    if !saw_any {
        return Err("no messages in the file".into());
    }
    if !read.saw_meta {
        return Err("no `meta` envelope: not a cucumber messages report".into());
    }
    if !read.finished {
        read.run_failures
            .push("the run did not finish (no testRunFinished): it crashed or the report was cut off".into());
    }
    let finals = read.final_attempts()?;
    // Every attempt of each test case, in attempt order (one pass: a run may hold many thousands).
    let mut earlier: BTreeMap<&str, Vec<&Attempt>> = BTreeMap::new();
    for a in read.attempts.values() {
        earlier.entry(a.test_case.as_str()).or_default().push(a);
    }
    for list in earlier.values_mut() {
        list.sort_by_key(|a| a.number);
    }
    let mut scenarios = Vec::with_capacity(read.test_cases.len());
    // A test case with no steps has no result (cucumber counts none): it is neither a pass nor a scenario.
    for (id, pickle_id, steps) in read.test_cases.iter().filter(|(_, _, steps)| !steps.is_empty()) {
        let (uri, name) = read
            .pickles
            .get(pickle_id)
            .cloned()
            .ok_or_else(|| format!("testCase {id} names unknown pickle {pickle_id}"))?;
        // The example row's line when it has one, else the scenario's.
        let line = read
            .pickle_nodes
            .get(pickle_id)
            .into_iter()
            .flatten()
            .rev()
            .find_map(|n| read.node_lines.get(n));
        let location = line.filter(|_| !uri.is_empty()).map(|l| format!("{uri}:{l}"));
        let feature = read.feature_names.get(&uri).cloned().unwrap_or(uri);
        let last = finals.get(id.as_str()).copied();
        // Earlier attempts that said they would not be retried count on their own, in attempt order.
        let settled = earlier
            .get(id.as_str())
            .into_iter()
            .flatten()
            .filter(|a| last.is_some_and(|l| a.number < l.number) && a.will_be_retried != Some(true));
        for a in settled {
            let (status, message) = judge(Some(a), steps);
            let said = format!("attempt {} was not to be retried, yet a later attempt ran", a.number);
            scenarios.push(Scenario {
                feature: feature.clone(),
                name: name.clone(),
                status,
                message: Some(message.map_or(said.clone(), |m| format!("{said}: {m}"))),
                location: location.clone(),
            });
        }
        let (status, message) = judge(last, steps);
        scenarios.push(Scenario {
            feature,
            name,
            status,
            message,
            location,
        });
    }
    // The runner's own verdict counts whenever no case explains it (a failed hook, an exception, a parse error).
    if let Some(why) = read.success_false.take()
        && scenarios
            .iter()
            .all(|s| matches!(s.status, Status::Passed | Status::Skipped))
        && read.run_failures.is_empty()
    {
        read.run_failures.push(why);
    }
    if let Some(a) = read
        .attempts
        .values()
        .find(|a| !read.test_case_ids.contains(&a.test_case))
    {
        return Err(format!("testCaseStarted names unknown testCase {:?}", a.test_case));
    }
    Ok(TestRun {
        source: String::new(),
        format: ReportFormat::CucumberMessages,
        scenarios,
        started_at: read.started_at,
        run_failures: read.run_failures,
    })
}
