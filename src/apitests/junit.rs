//! JUnit XML (cucumber-js `--format junit`, and any other JUnit writer).

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

pub fn parse(text: &str) -> Result<TestRun, String> {
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<String> = Vec::new();
    let mut scenarios = Vec::new();
    let mut current: Option<Scenario> = None;
    let mut in_failure = false;
    // The failure's body (assertion and stack) says more than its `message` attribute
    // (cucumber-js writes "A hook or step failed" there), so the first body wins.
    let mut body_taken = false;
    let mut started_at = None;
    let mut saw_root = false;

    loop {
        let pos = reader.buffer_position();
        let event = reader.read_event().map_err(|e| {
            let (line, col) = crate::diag::line_col(text, reader.error_position() as usize);
            format!("line {line}, column {col}: broken XML: {e}")
        })?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(event, Event::Empty(_));
                let name = e.name().as_ref().to_owned();
                if stack.is_empty() {
                    if name != "testsuites" && name != "testsuite" {
                        return Err(format!(
                            "root element <{name}> is not <testsuites> or <testsuite>: not a JUnit report"
                        ));
                    }
                    saw_root = true;
                }
                match name.as_str() {
                    "testsuite" if started_at.is_none() => {
                        started_at = attr(e, "timestamp").and_then(|t| t.parse::<jiff::Timestamp>().ok());
                    }
                    "testcase" => {
                        let sc = Scenario {
                            feature: attr(e, "classname").unwrap_or_default(),
                            name: attr(e, "name").unwrap_or_default(),
                            status: Status::Passed,
                            message: None,
                        };
                        if empty {
                            scenarios.push(sc);
                        } else {
                            current = Some(sc);
                        }
                    }
                    "failure" | "error" | "skipped" => {
                        let Some(sc) = current.as_mut() else {
                            let (line, _) = crate::diag::line_col(text, pos as usize);
                            return Err(format!("line {line}: <{name}> outside a <testcase>"));
                        };
                        if name == "skipped" {
                            sc.status = sc.status.worst(Status::Skipped);
                        } else {
                            sc.status = Status::Failed;
                            if sc.message.is_none() {
                                sc.message = attr(e, "message");
                            }
                            in_failure = !empty;
                            body_taken = false;
                        }
                    }
                    _ => {}
                }
                if !empty {
                    stack.push(name);
                }
            }
            Event::End(e) => {
                match e.name().as_ref() {
                    "testcase" => scenarios.extend(current.take()),
                    "failure" | "error" => in_failure = false,
                    _ => {}
                }
                stack.pop();
            }
            Event::CData(c) if in_failure && !body_taken => {
                let body = c.xml10_content();
                if let Some(sc) = current.as_mut().filter(|_| !body.trim().is_empty()) {
                    sc.message = Some(body.into_owned());
                    body_taken = true;
                }
            }
            Event::Text(t) if in_failure && !body_taken => {
                let raw = t.xml10_content();
                if let Some(sc) = current.as_mut().filter(|_| !raw.trim().is_empty()) {
                    sc.message = Some(
                        quick_xml::escape::unescape(&raw)
                            .map(|c| c.into_owned())
                            .unwrap_or_else(|_| raw.into_owned()),
                    );
                    body_taken = true;
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !saw_root {
        return Err("no <testsuites> or <testsuite> element: not a JUnit report".into());
    }
    if let Some(open) = stack.last() {
        return Err(format!("truncated: <{open}> is never closed"));
    }
    Ok(TestRun {
        source: String::new(),
        format: ReportFormat::Junit,
        scenarios,
        started_at,
    })
}
