//! `--junit FILE`: for CircleCI's `store_test_results`. One testcase per finding that blocks or needs a
//! sign-off (failed), per signed-off finding (passed, so waivers stay visible), per failed API scenario,
//! and one for the verdict.

use super::Context;
use crate::gate::{Outcome, Verdict};
use quick_xml::Writer;
use quick_xml::events::{BytesCData, BytesDecl, BytesText, Event};
use std::io;

/// One JUnit test case: failed when `failure` (type, message) is set.
pub(crate) struct Case {
    pub(crate) classname: String,
    pub(crate) name: String,
    pub(crate) failure: Option<(String, String)>,
    pub(crate) out: Option<String>,
}

pub(crate) fn render(ctx: &Context) -> io::Result<Vec<u8>> {
    let d = ctx.decision;
    let mut cases = finding_cases(ctx);
    for s in &d.api_tests.failed_scenarios {
        cases.push(Case {
            classname: format!("bbgate.api_tests.{}", s.scenario.feature),
            name: s.scenario.name.clone(),
            failure: Some((
                s.scenario.status.as_str().to_owned(),
                format!(
                    "{} ({}): {}",
                    s.scenario.status.as_str(),
                    s.report,
                    s.scenario.message.as_deref().unwrap_or("no message")
                ),
            )),
            out: None,
        });
    }
    cases.push(Case {
        classname: "bbgate".into(),
        name: match ctx.images {
            [one] => format!("verdict for {}", one.uri()),
            many => format!("verdict for the release of {} images", many.len()),
        },
        failure: (d.verdict == Verdict::Deny).then(|| {
            (
                "deny".to_owned(),
                d.reasons
                    .iter()
                    .map(|r| format!("{}: {}", r.code, r.message))
                    .collect::<Vec<_>>()
                    .join("\n"),
            )
        }),
        out: None,
    });

    suite("bbgate verify", &ctx.now.to_string(), &cases)
}

/// A JUnit document of one test suite.
pub(crate) fn suite(name: &str, timestamp: &str, cases: &[Case]) -> io::Result<Vec<u8>> {
    // What XML 1.0 forbids (most control characters) cannot be escaped, only left out: shown as text instead.
    let cases: Vec<Case> = cases
        .iter()
        .map(|c| Case {
            classname: xml_text(&c.classname),
            name: xml_text(&c.name),
            failure: c.failure.as_ref().map(|(k, m)| (xml_text(k), xml_text(m))),
            out: c.out.as_deref().map(xml_text),
        })
        .collect();
    let (name, timestamp) = (xml_text(name), xml_text(timestamp));
    let (name, timestamp, cases) = (name.as_str(), timestamp.as_str(), cases.as_slice());
    let failures = cases.iter().filter(|c| c.failure.is_some()).count();
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let tests = cases.len().to_string();
    let failures = failures.to_string();
    w.create_element("testsuites").write_inner_content(|w| {
        w.create_element("testsuite")
            .with_attributes([
                ("name", name),
                ("tests", tests.as_str()),
                ("failures", failures.as_str()),
                ("errors", "0"),
                ("timestamp", timestamp),
            ])
            .write_inner_content(|w| {
                for c in cases {
                    let el = w
                        .create_element("testcase")
                        .with_attributes([("classname", c.classname.as_str()), ("name", c.name.as_str())]);
                    if c.failure.is_none() && c.out.is_none() {
                        el.write_empty()?;
                        continue;
                    }
                    el.write_inner_content(|w| {
                        if let Some((kind, message)) = &c.failure {
                            let first = message.lines().next().unwrap_or("");
                            w.create_element("failure")
                                .with_attributes([("type", kind.as_str()), ("message", first)])
                                .write_cdata_content(BytesCData::new(cdata_safe(message)))?;
                        }
                        if let Some(out) = &c.out {
                            w.create_element("system-out").write_text_content(BytesText::new(out))?;
                        }
                        Ok(())
                    })?;
                }
                Ok(())
            })?;
        Ok(())
    })?;
    let mut bytes = w.into_inner();
    bytes.push(b'\n');
    Ok(bytes)
}

/// One case per finding that blocks or needs a sign-off (failed) and per signed-off finding (passed).
fn finding_cases(ctx: &Context) -> Vec<Case> {
    let several = ctx.images.len() > 1;
    let mut cases = Vec::new();
    for (j, image) in ctx.each() {
        for fd in &image.findings {
            if matches!(fd.outcome, Outcome::Warned | Outcome::Allowed) {
                continue;
            }
            let f = ctx.record(j, fd);
            let mut name = if f.package.is_empty() {
                f.id.to_string()
            } else {
                format!("{} in {} {}", f.id, f.package, f.package_version)
            };
            if several {
                name.push_str(&format!(" ({})", j.scan.image.repository));
            }
            match f.outcome {
                Outcome::Blocked | Outcome::NeedsSignoff => cases.push(Case {
                    classname: format!("bbgate.findings.{}", f.outcome.as_str()),
                    name,
                    failure: Some((
                        f.outcome.as_str().to_owned(),
                        format!("{}: {}", f.outcome.as_str(), f.basis),
                    )),
                    out: (!f.notes.is_empty()).then(|| f.notes.join("\n")),
                }),
                Outcome::SignedOff => cases.push(Case {
                    classname: "bbgate.findings.signed_off".into(),
                    name,
                    failure: None,
                    out: Some(format!(
                        "{}; signed off: {}",
                        f.basis,
                        f.signoff.as_ref().map(ToString::to_string).unwrap_or_default()
                    )),
                }),
                Outcome::Warned | Outcome::Allowed => {}
            }
        }
    }
    cases
}

/// CDATA cannot hold `]]>`.
fn cdata_safe(s: &str) -> String {
    s.replace("]]>", "]]]]><![CDATA[>")
}

/// `s` with every character XML 1.0 does not allow (`Char ::= #x9 | #xA | #xD | [#x20-#xD7FF] |
/// [#xE000-#xFFFD] | [#x10000-#x10FFFF]`) shown as `\u{…}`, so the document stays well-formed whatever a scan
/// or a report's names hold.
pub(crate) fn xml_text(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            // A carriage return would come back as a line feed (XML's line-end handling): shown as text too.
            '\t' | '\n' => c.to_string(),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => crate::output::shown(c),
            c => c.to_string(),
        })
        .collect()
}
