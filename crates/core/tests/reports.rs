//! GovStack API test reports as cucumber and JUnit define pass and fail: real runs from ../shared, and reports
//! built here line by line to reach every rule of the three readers.

#![allow(clippy::unwrap_used)] // a test fails loudly where it unwraps

mod common;
use common::upstream_path;

use bbgate_core::apitests::{ReportFormat, Scenario, Status, TestRun, parse_report, short_message};
use bbgate_core::error::Error;
use serde_json::{Value, json};
use std::path::Path;

fn read(rel: &str) -> TestRun {
    let path = upstream_path(rel);
    parse_report(&path, &std::fs::read(&path).unwrap()).unwrap()
}

fn run(text: &str) -> Result<TestRun, String> {
    parse_report(Path::new("r"), text.as_bytes()).map_err(|e| match e {
        Error::Invalid(p) => p.join("\n"),
        other => panic!("{other}"),
    })
}

fn statuses(r: &TestRun) -> Vec<(String, Status)> {
    r.scenarios.iter().map(|s| (s.name.clone(), s.status)).collect()
}

// ---- cucumber messages ----

#[test]
fn real_message_runs_are_judged_as_cucumber_judges_them() {
    let r = read("cucumber-cck-messages/all-statuses.ndjson");
    assert_eq!(r.format, ReportFormat::CucumberMessages);
    assert_eq!(
        r.scenarios.iter().map(|s| s.status).collect::<Vec<_>>(),
        [
            Status::Passed,
            Status::Failed,
            Status::Pending,
            Status::Skipped,
            Status::Undefined,
            Status::Ambiguous
        ]
    );
    assert!(
        r.run_failures.is_empty(),
        "a failed case explains success: false: {:?}",
        r.run_failures
    );
    assert_eq!(r.started_at.unwrap().as_millisecond(), 0);
    assert!(r.source.ends_with("all-statuses.ndjson"));
    let r = read("cucumber-cck-messages/minimal.ndjson");
    assert_eq!(r.scenarios.len(), 1);
    assert_eq!(r.scenarios[0].status, Status::Passed);
    assert_eq!(r.scenarios[0].message, None);
    let r = read("govstack-testharness-messages/example_result.message");
    assert_eq!(r.scenarios.len(), 82);
    assert_eq!(r.scenarios.iter().filter(|s| s.status == Status::Failed).count(), 11);
    assert_eq!(r.scenarios.iter().filter(|s| s.status == Status::Passed).count(), 71);
    assert!(
        r.scenarios
            .iter()
            .all(|s| !s.feature.is_empty() && !s.feature.ends_with(".feature")),
        "feature names, not uris"
    );
    assert!(
        r.scenarios
            .iter()
            .filter(|s| s.status == Status::Failed)
            .all(|s| s.message.is_some())
    );
    assert_eq!(r.started_at.unwrap().as_second() / 1000, 1_694_685);
}

/// A cucumber messages run built envelope by envelope.
struct Messages(Vec<Value>);

impl Messages {
    fn new() -> Self {
        Messages(vec![
            json!({"meta": {"protocolVersion": "27.0.0"}}),
            json!({"gherkinDocument": {"uri": "f.feature", "feature": {"name": "Feature F"}}}),
            json!({"testRunStarted": {"timestamp": {"seconds": 1_700_000_000, "nanos": 5}}}),
        ])
    }
    /// A test case `id` for pickle `p-id` named `name` with `steps` step ids.
    fn case(mut self, id: &str, name: &str, steps: &[&str]) -> Self {
        self.0
            .push(json!({"pickle": {"id": format!("p-{id}"), "uri": "f.feature", "name": name}}));
        let steps: Vec<Value> = steps.iter().map(|s| json!({"id": s})).collect();
        self.0
            .push(json!({"testCase": {"id": id, "pickleId": format!("p-{id}"), "testSteps": steps}}));
        self
    }
    fn started(mut self, id: &str, case: &str, attempt: u32) -> Self {
        self.0
            .push(json!({"testCaseStarted": {"id": id, "testCaseId": case, "attempt": attempt}}));
        self
    }
    fn step(mut self, started: &str, step: &str, status: &str, message: Option<&str>) -> Self {
        let mut result = json!({"status": status});
        if let Some(m) = message {
            result["message"] = json!(m);
        }
        self.0.push(
            json!({"testStepFinished": {"testCaseStartedId": started, "testStepId": step, "testStepResult": result}}),
        );
        self
    }
    fn finished(mut self, started: &str, retried: bool) -> Self {
        self.0
            .push(json!({"testCaseFinished": {"testCaseStartedId": started, "willBeRetried": retried}}));
        self
    }
    fn with(mut self, v: Value) -> Self {
        self.0.push(v);
        self
    }
    fn end(self, success: bool) -> Self {
        self.with(json!({"testRunFinished": {"success": success}}))
    }
    fn text(&self) -> String {
        self.0.iter().map(|v| v.to_string() + "\n").collect()
    }
    fn read(&self) -> TestRun {
        run(&self.text()).unwrap()
    }
    fn refused(&self) -> String {
        run(&self.text()).unwrap_err()
    }
}

fn one_case() -> Messages {
    Messages::new().case("c1", "S1", &["s1", "s2"]).started("a1", "c1", 0)
}

#[test]
fn a_case_passes_only_when_every_step_reported_and_passed() {
    let r = one_case()
        .step("a1", "s1", "PASSED", None)
        .step("a1", "s2", "PASSED", None)
        .finished("a1", false)
        .end(true)
        .read();
    assert_eq!(
        r.scenarios,
        [Scenario {
            feature: "Feature F".into(),
            name: "S1".into(),
            status: Status::Passed,
            message: None,
            location: None,
        }]
    );
    assert_eq!(r.started_at.unwrap().as_nanosecond(), 1_700_000_000_000_000_005);
    assert!(r.run_failures.is_empty());
    // The worst step decides, with the first failure's message.
    let r = one_case()
        .step("a1", "s1", "FAILED", Some("boom\nstack"))
        .step("a1", "s2", "SKIPPED", None)
        .finished("a1", false)
        .end(false)
        .read();
    assert_eq!(
        (r.scenarios[0].status, r.scenarios[0].message.as_deref()),
        (Status::Failed, Some("boom\nstack"))
    );
    assert!(r.run_failures.is_empty(), "the failed case explains success: false");
    let r = one_case()
        .step("a1", "s1", "FAILED", Some("first"))
        .step("a1", "s2", "FAILED", Some("second"))
        .finished("a1", false)
        .end(false)
        .read();
    assert_eq!(
        r.scenarios[0].message.as_deref(),
        Some("first"),
        "the first failure's message"
    );
    let r = one_case()
        .step("a1", "s1", "SKIPPED", Some("not a failure"))
        .step("a1", "s2", "FAILED", Some("the failure"))
        .finished("a1", false)
        .end(false)
        .read();
    assert_eq!(r.scenarios[0].message.as_deref(), Some("the failure"));
    let r = one_case()
        .step("a1", "s1", "PASSED", None)
        .step("a1", "s2", "undefined", None)
        .finished("a1", false)
        .end(true)
        .read();
    assert_eq!(
        r.scenarios[0].status,
        Status::Undefined,
        "statuses are case-insensitive"
    );
    // A step that never reported.
    let r = one_case()
        .step("a1", "s1", "PASSED", None)
        .finished("a1", false)
        .end(true)
        .read();
    assert_eq!(
        (r.scenarios[0].status, r.scenarios[0].message.as_deref()),
        (Status::Unknown, Some("1 of its 2 steps never reported a result"))
    );
    // Never finished, never started.
    let r = one_case()
        .step("a1", "s1", "PASSED", None)
        .step("a1", "s2", "PASSED", None)
        .end(true)
        .read();
    assert_eq!(
        (r.scenarios[0].status, r.scenarios[0].message.as_deref()),
        (Status::Unknown, Some("attempt 0 never finished (no testCaseFinished)"))
    );
    let r = Messages::new().case("c1", "S1", &["s1"]).end(true).read();
    assert_eq!(
        (r.scenarios[0].status, r.scenarios[0].message.as_deref()),
        (Status::Unknown, Some("the test case never started"))
    );
    // A case with no steps is no scenario.
    let r = Messages::new()
        .case("c0", "Empty", &[])
        .case("c1", "S1", &["s1"])
        .started("a1", "c1", 0)
        .step("a1", "s1", "PASSED", None)
        .finished("a1", false)
        .end(true)
        .read();
    assert_eq!(statuses(&r), [("S1".to_owned(), Status::Passed)]);
    // The feature's name comes from its document; without one, the uri.
    let mut m = one_case()
        .step("a1", "s1", "PASSED", None)
        .step("a1", "s2", "PASSED", None)
        .finished("a1", false)
        .end(true);
    m.0.remove(1);
    assert_eq!(m.read().scenarios[0].feature, "f.feature");
}

#[test]
fn the_final_attempt_counts() {
    let retried = |last: &str| {
        one_case()
            .step("a1", "s1", "FAILED", Some("first"))
            .step("a1", "s2", "SKIPPED", None)
            .finished("a1", true)
            .started("a2", "c1", 1)
            .step("a2", "s1", last, None)
            .step("a2", "s2", "PASSED", None)
            .finished("a2", false)
            .end(true)
            .read()
    };
    let r = retried("PASSED");
    assert_eq!(
        (r.scenarios[0].status, r.scenarios[0].message.as_deref()),
        (Status::Passed, None)
    );
    assert_eq!(retried("PENDING").scenarios[0].status, Status::Pending);
    // Attempts out of order in the file: the highest number still counts.
    let r = one_case()
        .started("a2", "c1", 1)
        .step("a2", "s1", "FAILED", Some("second"))
        .step("a2", "s2", "SKIPPED", None)
        .finished("a2", false)
        .step("a1", "s1", "PASSED", None)
        .step("a1", "s2", "PASSED", None)
        .finished("a1", true)
        .end(false)
        .read();
    assert_eq!(
        (r.scenarios[0].status, r.scenarios[0].message.as_deref()),
        (Status::Failed, Some("second"))
    );
    // The last attempt was to be retried, and no retry ran.
    let r = one_case()
        .step("a1", "s1", "PASSED", None)
        .step("a1", "s2", "PASSED", None)
        .finished("a1", true)
        .end(true)
        .read();
    assert_eq!(
        (r.scenarios[0].status, r.scenarios[0].message.as_deref()),
        (
            Status::Unknown,
            Some("attempt 0 was to be retried, and no later attempt ran")
        )
    );
    // Two attempts of one number.
    let m = one_case()
        .finished("a1", true)
        .started("a2", "c1", 0)
        .finished("a2", false)
        .end(true);
    assert_eq!(
        m.refused(),
        "r: test case \"c1\" has two attempts numbered 0: which one counts is ambiguous"
    );
}

#[test]
fn the_run_itself_can_fail() {
    let passing = || {
        one_case()
            .step("a1", "s1", "PASSED", None)
            .step("a1", "s2", "PASSED", None)
            .finished("a1", false)
    };
    assert_eq!(
        passing().read().run_failures,
        ["the run did not finish (no testRunFinished): it crashed or the report was cut off"]
    );
    assert_eq!(
        passing().end(false).read().run_failures,
        ["the runner reported the run as failed (testRunFinished.success: false)"]
    );
    let r = passing()
        .with(json!({"testRunFinished": {"success": false, "exception": {"type": "Error", "message": "hook broke\nat x"}}}))
        .read();
    assert_eq!(
        r.run_failures,
        ["the runner reported the run as failed (testRunFinished.success: false) (Error: hook broke)"]
    );
    let r = passing()
        .with(json!({"testRunFinished": {"success": false, "message": "  \n why "}}))
        .read();
    assert_eq!(
        r.run_failures,
        ["the runner reported the run as failed (testRunFinished.success: false) (why)"]
    );
    assert!(
        passing()
            .with(json!({"testRunFinished": {}}))
            .read()
            .run_failures
            .is_empty(),
        "no success key: not a failure"
    );
    let r = passing()
        .with(json!({"testRunHookFinished": {"result": {"status": "FAILED", "message": "db down\ntrace"}}}))
        .end(false)
        .read();
    assert_eq!(r.run_failures, ["a BeforeAll/AfterAll hook ended failed: db down"]);
    let r = passing()
        .with(json!({"testRunHookFinished": {"result": {"status": "PASSED"}}}))
        .end(true)
        .read();
    assert!(r.run_failures.is_empty());
    let r = passing()
        .with(json!({"parseError": {"message": " bad.feature: (3:1): expected ... \n"}}))
        .end(false)
        .read();
    assert_eq!(
        r.run_failures,
        ["a feature file did not parse: bad.feature: (3:1): expected ..."]
    );
    // A skipped case does not explain success: false.
    let r = one_case()
        .step("a1", "s1", "SKIPPED", None)
        .step("a1", "s2", "SKIPPED", None)
        .finished("a1", false)
        .end(false)
        .read();
    assert_eq!(r.run_failures.len(), 1);
}

#[test]
fn ambiguous_or_broken_message_files_are_refused() {
    let p = |v: Value| v.to_string() + "\n";
    assert_eq!(
        run("{}\n").unwrap_err(),
        "r: no `meta` envelope: not a cucumber messages report"
    );
    assert_eq!(
        run("\n  \n").unwrap_err(),
        "r: empty file: the test run wrote no report"
    );
    assert!(
        run(&format!("{}{{\"testCase\": 5}}\n", p(json!({"meta": {}}))))
            .unwrap_err()
            .starts_with("r: line 2: not a cucumber message envelope: ")
    );
    let twice = Messages::new()
        .with(json!({"pickle": {"id": "x"}}))
        .with(json!({"pickle": {"id": "x"}}));
    assert_eq!(twice.refused(), "r: line 5: pickle id \"x\" is used twice");
    let twice = Messages::new()
        .case("c1", "S", &["s"])
        .with(json!({"testCase": {"id": "c1", "pickleId": "p-c1"}}));
    assert_eq!(twice.refused(), "r: line 6: testCase id \"c1\" is used twice");
    assert_eq!(
        one_case().started("a1", "c1", 1).refused(),
        "r: line 7: testCaseStarted id \"a1\" is used twice: the file is ambiguous (one attempt would hide another)"
    );
    assert_eq!(
        one_case().step("zz", "s1", "PASSED", None).refused(),
        "r: line 7: testStepFinished for unknown testCaseStartedId \"zz\""
    );
    assert_eq!(
        one_case().step("a1", "s1", "GREEN", None).refused(),
        "r: line 7: unknown step status \"GREEN\""
    );
    assert_eq!(
        one_case().finished("zz", false).refused(),
        "r: line 7: testCaseFinished for unknown testCaseStartedId \"zz\""
    );
    assert_eq!(
        one_case().finished("a1", false).finished("a1", false).refused(),
        "r: line 8: testCaseStarted \"a1\" finished twice"
    );
    assert_eq!(
        one_case()
            .with(json!({"testRunHookFinished": {"result": {"status": "MEH"}}}))
            .refused(),
        "r: line 7: unknown hook status \"MEH\""
    );
    let orphan =
        Messages::new().with(json!({"testCase": {"id": "c9", "pickleId": "nope", "testSteps": [{"id": "s"}]}}));
    assert_eq!(orphan.refused(), "r: testCase c9 names unknown pickle nope");
    let stray = Messages::new()
        .case("c1", "S", &["s"])
        .started("a1", "ghost", 0)
        .end(true);
    assert_eq!(stray.refused(), "r: testCaseStarted names unknown testCase \"ghost\"");
}

// ---- JUnit ----

#[test]
fn real_junit_runs_are_read_case_by_case() {
    let r = read("govstack-testharness-junit/example_result.xml");
    assert_eq!(r.format, ReportFormat::Junit);
    assert_eq!(r.scenarios.len(), 82);
    assert_eq!(r.scenarios.iter().filter(|s| s.status == Status::Failed).count(), 11);
    assert_eq!(r.scenarios[0].feature, "API to add new open ID connect (OIDC) clients.");
    let failed = r.scenarios.iter().find(|s| s.status == Status::Failed).unwrap();
    assert!(failed.message.as_deref().is_some_and(|m| !m.trim().is_empty()));
}

fn junit(cases: &str) -> Result<TestRun, String> {
    run(&format!(
        "<?xml version=\"1.0\"?>\n<testsuites>\n<testsuite name=\"s\" timestamp=\"2026-11-01T10:00:00\">\n{cases}\n</testsuite>\n</testsuites>\n"
    ))
}

#[test]
fn junit_cases_pass_fail_and_skip_as_junit_says() {
    let r = junit(
        "<testcase classname=\"F\" name=\"ok\"/>\n\
         <testcase classname=\"F\" name=\"bad\"><failure message=\"short\">long &amp; body\nline 2</failure></testcase>\n\
         <testcase name=\"err\"><error message=\"oops\"/></testcase>\n\
         <testcase name=\"cdata\"><failure message=\"m\"><![CDATA[ the <body> ]]></failure></testcase>\n\
         <testcase name=\"blank\"><failure message=\"only attr\">   </failure></testcase>\n\
         <testcase name=\"skip\"><skipped/></testcase>\n\
         <testcase name=\"skip-then-fail\"><skipped/><failure/></testcase>\n\
         <testcase name=\"by-status\" status=\"failed\"/>\n\
         <testcase name=\"by-status-msg\" status=\"error\"><failure message=\"why\"/></testcase>\n\
         <testcase name=\"skip-status\" status=\"disabled\"/>\n\
         <testcase name=\"ok-status\" status=\"success\"><system-out>x</system-out></testcase>\n\
         <testcase name=\"pieces\"><failure>a &lt;b&gt; &#65;&#x42; <![CDATA[c]]> d</failure><failure>second</failure></testcase>",
    )
    .unwrap();
    let got: Vec<(&str, Status, Option<&str>)> = r
        .scenarios
        .iter()
        .map(|s| (s.name.as_str(), s.status, s.message.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            ("ok", Status::Passed, None),
            ("bad", Status::Failed, Some("long & body\nline 2")),
            ("err", Status::Failed, Some("oops")),
            ("cdata", Status::Failed, Some(" the <body> ")),
            ("blank", Status::Failed, Some("only attr")),
            ("skip", Status::Skipped, None),
            ("skip-then-fail", Status::Failed, None),
            ("by-status", Status::Failed, Some("status=\"failed\"")),
            ("by-status-msg", Status::Failed, Some("why")),
            ("skip-status", Status::Skipped, None),
            ("ok-status", Status::Passed, None),
            ("pieces", Status::Failed, Some("a <b> AB c d")),
        ]
    );
    assert_eq!(r.scenarios[1].feature, "F");
    assert_eq!(
        r.started_at.unwrap().to_string(),
        "2026-11-01T10:00:00Z",
        "a zone-less timestamp is UTC"
    );
    let r = run("<testsuite timestamp=\"2026-11-01T10:00:00+02:00\"><testcase name=\"a\"/></testsuite>").unwrap();
    assert_eq!(r.started_at.unwrap().to_string(), "2026-11-01T08:00:00Z");
    let r = run("<testsuite timestamp=\"last tuesday\"><testcase name=\"a\"/></testsuite>").unwrap();
    assert_eq!(r.started_at, None);
    // The first suite with a timestamp gives the run's start.
    let r = run("<testsuites><testsuite><testcase name=\"a\"/></testsuite><testsuite timestamp=\"2026-11-02T00:00:00Z\"/><testsuite timestamp=\"2026-11-03T00:00:00Z\"/></testsuites>").unwrap();
    assert_eq!(r.started_at.unwrap().to_string(), "2026-11-02T00:00:00Z");
}

#[test]
fn only_a_failures_own_body_is_its_message() {
    // Output before the failure (text, an entity, CDATA) is not part of the failure's message.
    let r = junit(
        "<testcase name=\"a\"><system-out>log &amp; more<![CDATA[ raw ]]></system-out>\
         <failure>boom &amp; x</failure></testcase>",
    )
    .unwrap();
    assert_eq!(r.scenarios[0].message.as_deref(), Some("boom & x"));
}

#[test]
fn junit_counts_must_agree_with_the_cases() {
    let suite = |attrs: &str, cases: &str| run(&format!("<testsuite name=\"s\" {attrs}>{cases}</testsuite>"));
    let cases = "<testcase name=\"a\"/><testcase name=\"b\"><failure/></testcase><testcase name=\"c\"><error/></testcase><testcase name=\"d\"><skipped/></testcase>";
    assert_eq!(
        suite("tests=\"4\" failures=\"1\" errors=\"1\" skipped=\"1\"", cases)
            .unwrap()
            .scenarios
            .len(),
        4
    );
    for (attr, claim, held) in [("tests", 5, 4), ("failures", 0, 1), ("errors", 2, 1), ("skipped", 0, 1)] {
        assert_eq!(
            suite(&format!("{attr}=\" {claim} \""), cases).unwrap_err(),
            format!(
                "r: line 1: <testsuite name=\"s\"> says {attr}=\"{claim}\" but holds {held} such test case(s): the \
                 report disagrees with itself (cases lost, or the file was edited); regenerate it"
            )
        );
    }
    assert_eq!(
        suite("tests=\"many\"", cases).unwrap_err(),
        "r: line 1: <testsuite tests=\"many\">: not a count"
    );
    // Nested suites: a case counts in every suite around it; an empty suite claims nothing.
    let nested = "<testsuites><testsuite name=\"outer\" tests=\"2\">\n<testsuite name=\"inner\" tests=\"1\"><testcase name=\"a\"/></testsuite>\n<testcase name=\"b\"/></testsuite></testsuites>";
    assert_eq!(run(nested).unwrap().scenarios.len(), 2);
    let wrong = nested.replace("outer\" tests=\"2\"", "outer\" tests=\"1\"");
    assert!(
        run(&wrong)
            .unwrap_err()
            .contains("<testsuite name=\"outer\"> says tests=\"1\" but holds 2")
    );
    assert_eq!(
        run("<testsuites><testsuite name=\"e\" tests=\"1\"/></testsuites>").unwrap_err(),
        "r: line 1: <testsuite name=\"e\"> says tests=\"1\" but holds 0 such test case(s): the report disagrees with \
         itself (cases lost, or the file was edited); regenerate it"
    );
    // A skipped case that also failed counts as failed, not skipped.
    assert!(
        suite(
            "skipped=\"0\" failures=\"1\"",
            "<testcase name=\"x\"><skipped/><failure/></testcase>"
        )
        .is_ok()
    );
}

#[test]
fn what_junit_cannot_mean_is_refused() {
    for (xml, expected) in [
        (
            "<report/>",
            "r: root element <report> is not <testsuites> or <testsuite>: not a JUnit report",
        ),
        (
            "<?xml version=\"1.0\"?>\n<!-- c -->",
            "r: no <testsuites> or <testsuite> element: not a JUnit report",
        ),
        (
            "<testsuite><testcase name=\"a\">",
            "r: truncated: <testcase> is never closed",
        ),
        (
            "<testsuite>\n<testcase name=\"a\">\n<testcase name=\"b\"/></testcase></testsuite>",
            "r: line 3: a <testcase> inside a <testcase>: not JUnit; which result counts is ambiguous",
        ),
        (
            "<testsuite>\n<testcase name=\"a\">\n<testsuite/></testcase></testsuite>",
            "r: line 3: <testsuite> inside a <testcase>",
        ),
        (
            "<testsuite>\n<failure/></testsuite>",
            "r: line 2: <failure> outside a <testcase>",
        ),
        (
            "<testsuite>\n<skipped/></testsuite>",
            "r: line 2: <skipped> outside a <testcase>",
        ),
        (
            "<testsuite><testcase name=\"a\">\n<failure>x &nbsp; y</failure></testcase></testsuite>",
            "r: line 2: unknown entity &nbsp;: JUnit reports use only XML's own entities",
        ),
        (
            "<testsuite>\n<testcase name=\"a\" status=\"flaky\"/></testsuite>",
            "r: line 2: <testcase status=\"flaky\"> is not a status this reader knows: a case must not be read as passed on a guess",
        ),
    ] {
        assert_eq!(run(xml).unwrap_err(), expected, "{xml}");
    }
    let broken = run("<testsuite>\n  <testcase name=\"a\"></testcas></testsuite>").unwrap_err();
    assert!(broken.starts_with("r: line 2, column "), "{broken}");
    assert!(broken.contains("broken XML"), "{broken}");
    // Element names are case-sensitive: <TestCase> is no test case.
    assert!(
        run("<testsuite><TestCase name=\"a\"><Failure/></TestCase></testsuite>")
            .unwrap()
            .scenarios
            .is_empty()
    );
    // Every spelling of a status attribute.
    for (status, expected) in [
        ("PASS", Status::Passed),
        ("ok", Status::Passed),
        ("run", Status::Passed),
        ("successful", Status::Passed),
        ("Fail", Status::Failed),
        ("failure", Status::Failed),
        ("errored", Status::Failed),
        ("broken", Status::Failed),
        ("skip", Status::Skipped),
        ("notrun", Status::Skipped),
        ("ignored", Status::Skipped),
        ("skipped", Status::Skipped),
    ] {
        let r = run(&format!(
            "<testsuite><testcase name=\"a\" status=\"{status}\"/></testsuite>"
        ))
        .unwrap();
        assert_eq!(r.scenarios[0].status, expected, "{status}");
    }
}

// ---- cucumber JSON ----

#[test]
fn real_cucumber_json_runs_follow_their_runners() {
    for runner in ["cucumber-js-7.3.2", "cucumber-jvm-7.2.3", "cucumber-ruby-7.1.0"] {
        let r = read(&format!(
            "real-world/reports/cucumber-json/{runner}--failing-passing-pending-scenarios.json"
        ));
        assert_eq!(r.format, ReportFormat::CucumberJson);
        // Three scenarios with empty names (so one id, `;`) at lines 2, 5 and 9; cucumber-ruby ran line 2 three
        // times (`--retry`), all failed.
        let got: Vec<Status> = r.scenarios.iter().map(|s| s.status).collect();
        assert_eq!(got, [Status::Failed, Status::Passed, Status::Pending], "{runner}");
        let r = read(&format!(
            "real-world/reports/cucumber-json/{runner}--failing-before-hook.json"
        ));
        assert!(
            r.scenarios.iter().all(|s| s.status == Status::Failed),
            "{runner}: {:?}",
            statuses(&r)
        );
        // cucumber-js's and cucumber-jvm's JSON formatters leave a failed AfterStep hook out of the file (the
        // scenario shows one passed step and nothing else): what is not in the report cannot be read, which is
        // why the README recommends the messages format. cucumber-ruby writes the hook, and it fails the case.
        let r = read(&format!(
            "real-world/reports/cucumber-json/{runner}--failing-after-step-hook.json"
        ));
        let expected = if runner.starts_with("cucumber-ruby") {
            Status::Failed
        } else {
            Status::Passed
        };
        assert_eq!(
            r.scenarios.iter().map(|s| s.status).collect::<Vec<_>>(),
            [expected],
            "{runner}"
        );
    }
}

fn step(status: &str) -> Value {
    json!({"result": {"status": status}})
}

fn cj(features: Value) -> Result<TestRun, String> {
    run(&features.to_string())
}

#[test]
fn cucumber_json_scenarios_take_the_worst_of_everything_around_them() {
    let r = cj(json!([{
        "name": "F", "uri": "f.feature",
        "elements": [
            {"type": "background", "steps": [step("passed")]},
            {"id": "f;a", "name": "A", "type": "scenario", "steps": [step("passed"), step("passed")]},
            {"type": "background", "steps": [{"result": {"status": "failed", "error_message": "bg broke"}}]},
            {"id": "f;b", "name": "B", "type": "scenario", "steps": [{"result": {"status": "skipped"}}]},
            {"id": "f;c", "name": "C", "type": "scenario", "steps": [step("passed")], "after": [{"result": {"status": "failed", "error_message": "after hook"}}]},
            {"id": "f;d", "name": "D", "type": "scenario", "before": [step("passed")], "steps": [{"result": {"status": "passed"}, "after": [{"result": {"status": "failed", "error_message": "after step"}}]}]},
            {"id": "f;e", "name": "E", "type": "scenario", "steps": []},
            {"id": "f;f", "name": "F1", "type": "scenario", "steps": [{"result": {"status": "passed"}, "before": [step("undefined")]}]},
            {"name": "Two", "steps": [
                {"result": {"status": "skipped", "error_message": "not a failure"}},
                {"result": {"status": "failed", "error_message": "first"}},
                {"result": {"status": "failed", "error_message": "second"}},
            ]},
            {"name": "G", "steps": [step("Pending")]},
        ]
    }, {"uri": "g.feature", "name": "", "elements": [{"name": "H", "steps": [step("passed")]}]}]))
    .unwrap();
    let got: Vec<(&str, &str, Status, Option<&str>)> = r
        .scenarios
        .iter()
        .map(|s| (s.feature.as_str(), s.name.as_str(), s.status, s.message.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            ("F", "A", Status::Passed, None),
            ("F", "B", Status::Failed, Some("bg broke")),
            ("F", "C", Status::Failed, Some("after hook")),
            ("F", "D", Status::Failed, Some("after step")),
            ("F", "E", Status::Unknown, None),
            ("F", "F1", Status::Undefined, None),
            ("F", "Two", Status::Failed, Some("first")),
            ("F", "G", Status::Pending, None),
            ("g.feature", "H", Status::Passed, None),
        ]
    );
}

#[test]
fn cucumber_json_retries_keep_the_last_attempt_per_feature() {
    let r = cj(json!([
        {"name": "F", "elements": [
            {"id": "x", "line": 3, "name": "first try", "steps": [step("failed")]},
            {"id": "y", "line": 7, "name": "Y", "steps": [step("passed")]},
            {"id": "x", "line": 3, "name": "second try", "steps": [step("passed")]},
            {"id": "", "line": 9, "name": "no id", "steps": [step("passed")]},
            {"id": "", "line": 9, "name": "no id", "steps": [step("failed")]},
            {"id": "z", "name": "no line", "steps": [step("failed")]},
            {"id": "z", "name": "no line", "steps": [step("passed")]},
        ]},
        {"name": "G", "elements": [{"id": "x", "line": 3, "name": "other feature", "steps": [step("failed")]}]},
    ]))
    .unwrap();
    assert_eq!(
        statuses(&r),
        [
            ("second try".to_owned(), Status::Passed),
            ("Y".into(), Status::Passed),
            ("no id".into(), Status::Passed),
            ("no id".into(), Status::Failed),
            ("no line".into(), Status::Failed),
            ("no line".into(), Status::Passed),
            ("other feature".into(), Status::Failed),
        ]
    );
    // The attack: a failing scenario and a passing one named alike share an id; they are two scenarios.
    let r = cj(json!([{"name": "F", "elements": [
        {"id": "f;same", "line": 2, "name": "same", "steps": [step("failed")]},
        {"id": "f;same", "line": 6, "name": "same", "steps": [step("passed")]},
    ]}]))
    .unwrap();
    assert_eq!(
        r.scenarios.iter().map(|s| s.status).collect::<Vec<_>>(),
        [Status::Failed, Status::Passed]
    );
    assert_eq!(
        cj(json!([{"elements": [{"steps": [{"name": "no result"}]}]}])).unwrap_err(),
        "r: feature 0, element 0: a step has no result"
    );
    assert_eq!(
        cj(json!([{"elements": [{}, {"steps": [step("green")]}]}])).unwrap_err(),
        "r: feature 0, element 1: unknown step status \"green\""
    );
    assert_eq!(
        cj(json!({"not": "a list"})).unwrap_err(),
        "r: no `meta` envelope: not a cucumber messages report"
    );
    assert!(run("[1]").unwrap_err().starts_with("r: not a cucumber JSON report: "));
}

#[test]
fn cucumber_js_7_outline_rows_count_one_by_one() {
    // The real cucumber-js 7.3.2 file: three example rows, all with the outline's id and line 2.
    let r = read("real-world/reports/cucumber-json/cucumber-js-7.3.2--scenario-outline.json");
    assert_eq!(
        r.scenarios.iter().map(|s| s.status).collect::<Vec<_>>(),
        [Status::Passed, Status::Failed, Status::Pending]
    );
    // cucumber-js 4 gave each row its own line; the same three rows.
    let r = read("real-world/reports/cucumber-json/cucumber-js-4.0.0--scenario-outline.json");
    assert_eq!(
        r.scenarios.iter().map(|s| s.status).collect::<Vec<_>>(),
        [Status::Passed, Status::Failed, Status::Pending]
    );
    // The attack: the failed row first, a passing row last. Read as retries, the run passes.
    let row = |keyword: &str, value: &str, status: &str| {
        json!({"id": "o;s", "line": 2, "keyword": keyword, "name": "S", "type": "scenario",
               "steps": [{"name": format!("the value {value}"), "line": 3, "result": {"status": status}}]})
    };
    let r = cj(json!([{"name": "O", "elements": [row("Scenario Outline", "1", "failed"), row("Scenario Outline", "2", "passed")]}])).unwrap();
    assert_eq!(
        r.scenarios.iter().map(|s| s.status).collect::<Vec<_>>(),
        [Status::Failed, Status::Passed]
    );
    // Rows whose placeholders were filled in otherwise are two scenarios under any keyword.
    let r = cj(json!([{"name": "O", "elements": [row("Scenario", "1", "failed"), row("Scenario", "2", "passed")]}]))
        .unwrap();
    assert_eq!(r.scenarios.len(), 2);
    // Positive control: the same steps under the same id and line are attempts, and the last one counts.
    let r = cj(json!([{"name": "O", "elements": [row("Scenario", "1", "failed"), row("Scenario", "1", "passed")]}]))
        .unwrap();
    assert_eq!(
        r.scenarios.iter().map(|s| s.status).collect::<Vec<_>>(),
        [Status::Passed]
    );
}

// ---- format detection and messages ----

#[test]
fn the_format_is_told_by_the_content() {
    assert_eq!(run("\u{feff}  <testsuite/>").unwrap().format, ReportFormat::Junit);
    assert_eq!(run("\n[]").unwrap().format, ReportFormat::CucumberJson);
    assert_eq!(
        run("hello").unwrap_err(),
        "r: unknown report format: expected cucumber messages NDJSON (`{…}` lines), cucumber JSON (`[…]`) or JUnit XML (`<…>`)"
    );
    assert_eq!(run("").unwrap_err(), "r: empty file: the test run wrote no report");
    let err = parse_report(Path::new("r"), b"<a>\xff</a>").unwrap_err().to_string();
    assert!(err.starts_with("r: not UTF-8 text ("), "{err}");
    assert!(
        err.ends_with("pass a cucumber messages, cucumber JSON or JUnit XML report"),
        "{err}"
    );
}

#[test]
fn statuses_order_and_spell_as_cucumber() {
    use Status::*;
    let all = [Passed, Skipped, Pending, Undefined, Ambiguous, Failed, Unknown];
    for (i, s) in all.iter().enumerate() {
        assert_eq!(Status::parse(s.as_str()), Some(*s));
        assert_eq!(Status::parse(&s.as_str().to_uppercase()), Some(*s));
        for t in &all[..i] {
            assert_eq!(s.worst(*t), *s);
            assert_eq!(t.worst(*s), *s);
        }
    }
    assert_eq!(Status::parse("pass"), None);
    let names: Vec<&str> = all.iter().map(|s| s.as_str()).collect();
    assert_eq!(
        names,
        [
            "passed",
            "skipped",
            "pending",
            "undefined",
            "ambiguous",
            "failed",
            "unknown"
        ]
    );
}

#[test]
fn short_messages_take_the_first_line_and_cut_long_ones() {
    assert_eq!(short_message("\n  \n  first line  \nsecond"), "first line");
    assert_eq!(short_message(""), "");
    let long = "é".repeat(201);
    assert_eq!(short_message(&long), "é".repeat(200) + "…");
    assert_eq!(short_message(&"x".repeat(200)), "x".repeat(200));
}
