//! JUnit XML (cucumber's junit-xml-formatter, cucumber-js `--format junit`, pytest, and other JUnit writers),
//! read as JUnit defines pass and fail: a `<testcase>` with a `<failure>` or `<error>` failed, one with
//! `<skipped>` was skipped, and a `status` attribute that says failed counts too. Element names are
//! case-sensitive (`<TestCase>` is not a test case). What the file cannot mean is refused, not guessed: a
//! `<testcase>` inside a `<testcase>`, and a suite whose `tests`/`failures`/`errors`/`skipped` attributes
//! disagree with the cases it holds (a writer that lost cases, or a hand-edited file).

use super::{ReportFormat, Scenario, Status, TestRun};
use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

fn attr(e: &BytesStart, name: &str) -> Option<String> {
    e.attributes().flatten().find(|a| a.key.as_ref() == name).and_then(|a| {
        a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .ok()
            .map(|v| v.into_owned())
    })
}

/// A `<testsuite>` being read: what its attributes claim and what its cases show.
struct Suite {
    line: usize,
    name: String,
    claims: [(&'static str, Option<usize>); 4],
    /// tests, failures, errors, skipped, as counted.
    counted: [usize; 4],
}

const TESTS: usize = 0;
const FAILURES: usize = 1;
const ERRORS: usize = 2;
const SKIPPED: usize = 3;

impl Suite {
    fn open(e: &BytesStart, line: usize) -> Result<Suite, String> {
        let mut claims = [("tests", None), ("failures", None), ("errors", None), ("skipped", None)];
        for (name, value) in claims.iter_mut() {
            if let Some(v) = attr(e, name) {
                *value = Some(
                    v.trim()
                        .parse::<usize>()
                        .map_err(|_| format!("line {line}: <testsuite {name}=\"{v}\">: not a count"))?,
                );
            }
        }
        Ok(Suite {
            line,
            name: attr(e, "name").unwrap_or_default(),
            claims,
            counted: [0; 4],
        })
    }

    fn close(&self) -> Result<(), String> {
        for (i, (name, claim)) in self.claims.iter().enumerate() {
            if let Some(c) = claim
                && *c != self.counted[i]
            {
                return Err(format!(
                    "line {}: <testsuite name=\"{}\"> says {name}=\"{c}\" but holds {} such test case(s): the \
                     report disagrees with itself (cases lost, or the file was edited); regenerate it",
                    self.line, self.name, self.counted[i]
                ));
            }
        }
        Ok(())
    }
}

/// A `status` attribute (some writers use it instead of child elements).
fn status_attr(value: &str, line: usize) -> Result<Option<Status>, String> {
    Ok(match value.to_ascii_lowercase().as_str() {
        "passed" | "pass" | "success" | "successful" | "ok" | "run" => None,
        "failed" | "fail" | "failure" | "error" | "errored" | "broken" => Some(Status::Failed),
        "skipped" | "skip" | "disabled" | "notrun" | "ignored" => Some(Status::Skipped),
        other => {
            return Err(format!(
                "line {line}: <testcase status=\"{other}\"> is not a status this reader knows: a case must not \
                 be read as passed on a guess"
            ));
        }
    })
}

struct Case {
    scenario: Scenario,
    failed: bool,
    errored: bool,
    skipped: bool,
    /// Failed by its `status` attribute: the message says so unless a `<failure>` or `<error>` says more.
    failed_by_status: bool,
}

/// The reader's state between events.
#[derive(Default)]
struct State {
    stack: Vec<String>,
    suites: Vec<Suite>,
    scenarios: Vec<Scenario>,
    current: Option<Case>,
    in_failure: bool,
    /// The failure's body (assertion and stack) says more than its `message` attribute (cucumber-js writes
    /// "A hook or step failed" there), so the case's first non-blank body wins.
    body_taken: bool,
    body: String,
    started_at: Option<jiff::Timestamp>,
    saw_root: bool,
}

pub fn parse(text: &str) -> Result<TestRun, String> {
    let mut reader = Reader::from_str(text);
    let mut st = State::default();
    loop {
        let pos = reader.buffer_position();
        let event = reader.read_event().map_err(|e| {
            let (line, col) = crate::diag::line_col(text, reader.error_position() as usize);
            format!("line {line}, column {col}: broken XML: {e}")
        })?;
        let line = || crate::diag::line_col(text, pos as usize).0;
        match event {
            Event::Start(ref e) => st.start(e, false, line())?,
            Event::Empty(ref e) => st.start(e, true, line())?,
            Event::End(e) => st.end(e.name().as_ref())?,
            // The body arrives in pieces: text, entity references (`&amp;`, `&#10;`) and CDATA sections.
            Event::CData(c) if st.in_failure => st.body.push_str(&c.xml10_content()),
            Event::Text(t) if st.in_failure => st.body.push_str(&t.xml10_content()),
            Event::GeneralRef(r) if st.in_failure => match r.resolve_char_ref() {
                Ok(Some(c)) => st.body.push(c),
                _ => match quick_xml::escape::resolve_predefined_entity(&r) {
                    Some(text) => st.body.push_str(text),
                    None => {
                        return Err(format!(
                            "line {}: unknown entity &{};: JUnit reports use only XML's own entities",
                            line(),
                            &*r
                        ));
                    }
                },
            },
            Event::Eof => break,
            _ => {}
        }
    }
    if !st.saw_root {
        return Err("no <testsuites> or <testsuite> element: not a JUnit report".into());
    }
    if let Some(open) = st.stack.last() {
        return Err(format!("truncated: <{open}> is never closed"));
    }
    Ok(TestRun {
        source: String::new(),
        format: ReportFormat::Junit,
        scenarios: st.scenarios,
        started_at: st.started_at,
        run_failures: Vec::new(),
    })
}

impl State {
    fn start(&mut self, e: &BytesStart, empty: bool, line: usize) -> Result<(), String> {
        let name = e.name().as_ref().to_owned();
        if self.stack.is_empty() {
            if name != "testsuites" && name != "testsuite" {
                return Err(format!(
                    "root element <{name}> is not <testsuites> or <testsuite>: not a JUnit report"
                ));
            }
            self.saw_root = true;
        }
        match name.as_str() {
            "testsuite" => {
                if self.current.is_some() {
                    return Err(format!("line {line}: <testsuite> inside a <testcase>"));
                }
                if self.started_at.is_none() {
                    self.started_at = attr(e, "timestamp").and_then(|t| parse_time(&t));
                }
                let suite = Suite::open(e, line)?;
                if empty {
                    suite.close()?;
                } else {
                    self.suites.push(suite);
                }
            }
            "testcase" => self.open_case(e, empty, line)?,
            "failure" | "error" | "skipped" => {
                let Some(case) = self.current.as_mut() else {
                    return Err(format!("line {line}: <{name}> outside a <testcase>"));
                };
                let sc = &mut case.scenario;
                if name == "skipped" {
                    case.skipped = true;
                    sc.status = sc.status.worst(Status::Skipped);
                } else {
                    if name == "failure" {
                        case.failed = true;
                    } else {
                        case.errored = true;
                    }
                    sc.status = Status::Failed;
                    if sc.message.is_none() {
                        sc.message = attr(e, "message");
                    }
                    self.in_failure = !empty;
                }
            }
            _ => {}
        }
        if !empty {
            self.stack.push(name);
        }
        Ok(())
    }

    fn open_case(&mut self, e: &BytesStart, empty: bool, line: usize) -> Result<(), String> {
        if self.current.is_some() {
            return Err(format!(
                "line {line}: a <testcase> inside a <testcase>: not JUnit; which result counts is ambiguous"
            ));
        }
        self.body_taken = false;
        let mut case = Case {
            scenario: Scenario {
                feature: attr(e, "classname").unwrap_or_default(),
                name: attr(e, "name").unwrap_or_default(),
                status: Status::Passed,
                message: None,
                location: None,
            },
            failed: false,
            errored: false,
            skipped: false,
            failed_by_status: false,
        };
        match attr(e, "status").map(|s| status_attr(&s, line)).transpose()?.flatten() {
            Some(Status::Failed) => {
                case.scenario.status = Status::Failed;
                case.failed_by_status = true;
            }
            Some(s) => {
                case.skipped = true;
                case.scenario.status = s;
            }
            None => {}
        }
        if empty {
            self.finish(case);
        } else {
            self.current = Some(case);
        }
        Ok(())
    }

    fn end(&mut self, name: &str) -> Result<(), String> {
        match name {
            "testcase" => {
                if let Some(case) = self.current.take() {
                    self.finish(case);
                }
            }
            "testsuite" => {
                if let Some(s) = self.suites.pop() {
                    s.close()?;
                }
            }
            "failure" | "error" => {
                if self.in_failure
                    && !self.body_taken
                    && !self.body.trim().is_empty()
                    && let Some(case) = self.current.as_mut()
                {
                    case.scenario.message = Some(std::mem::take(&mut self.body));
                    self.body_taken = true;
                }
                self.body.clear();
                self.in_failure = false;
            }
            _ => {}
        }
        self.stack.pop();
        Ok(())
    }

    /// A finished case counts in every suite around it.
    fn finish(&mut self, mut case: Case) {
        if case.failed_by_status && case.scenario.message.is_none() {
            case.scenario.message = Some("status=\"failed\"".into());
        }
        for s in self.suites.iter_mut() {
            s.counted[TESTS] += 1;
            s.counted[FAILURES] += usize::from(case.failed);
            s.counted[ERRORS] += usize::from(case.errored);
            s.counted[SKIPPED] += usize::from(case.skipped && !case.failed && !case.errored);
        }
        self.scenarios.push(case.scenario);
    }
}

/// JUnit timestamps: RFC 3339, or the zone-less ISO form many writers use (read as UTC).
fn parse_time(t: &str) -> Option<jiff::Timestamp> {
    t.parse::<jiff::Timestamp>().ok().or_else(|| {
        t.parse::<jiff::civil::DateTime>()
            .ok()
            .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok())
            .map(|z| z.timestamp())
    })
}
