//! GovStack API test-harness reports: cucumber messages NDJSON, legacy cucumber JSON and JUnit XML,
//! each reduced to scenarios with one status.

pub mod cucumber_json;
pub mod junit;
pub mod messages;

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// A scenario's status: the worst of its steps', in cucumber's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    // Order matters: later is worse (cucumber's getWorstTestStepResult).
    Passed,
    Skipped,
    Pending,
    Undefined,
    Ambiguous,
    Failed,
    /// No result at all: a scenario that never ran, or one with no steps.
    Unknown,
}

impl Status {
    /// Case-insensitive: messages use PASSED, cucumber JSON and JUnit use passed.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "passed" => Status::Passed,
            "skipped" => Status::Skipped,
            "pending" => Status::Pending,
            "undefined" => Status::Undefined,
            "ambiguous" => Status::Ambiguous,
            "failed" => Status::Failed,
            "unknown" => Status::Unknown,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::Skipped => "skipped",
            Status::Pending => "pending",
            Status::Undefined => "undefined",
            Status::Ambiguous => "ambiguous",
            Status::Failed => "failed",
            Status::Unknown => "unknown",
        }
    }

    /// Worst of two, where an unknown result counts as worse than a failure only when nothing else is known.
    pub fn worst(self, other: Status) -> Status {
        self.max(other)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scenario {
    /// Feature (or JUnit classname) the scenario belongs to.
    pub feature: String,
    pub name: String,
    pub status: Status,
    /// The first failure message, if the report carries one.
    pub message: Option<String>,
    /// Where it is written: `features/x.feature:12`, the example row's line for a scenario outline's example
    /// (cucumber messages and JSON give it; JUnit does not). It tells apart scenarios of the same name.
    pub location: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportFormat {
    CucumberMessages,
    CucumberJson,
    Junit,
}

/// One report file, read.
#[derive(Debug, Clone, PartialEq)]
pub struct TestRun {
    /// The file it was read from, for messages.
    pub source: String,
    pub format: ReportFormat,
    pub scenarios: Vec<Scenario>,
    /// When the run started, if the report says (messages: testRunStarted; JUnit: testsuite timestamp).
    pub started_at: Option<jiff::Timestamp>,
    /// Why the run as a whole failed, whatever its scenarios say: the runner's own verdict
    /// (`testRunFinished.success: false`), a failed BeforeAll/AfterAll hook, a run that never finished.
    pub run_failures: Vec<String>,
}

/// Detect the format from the content (not the file name) and read it.
pub fn parse_report(path: &Path, bytes: &[u8]) -> Result<TestRun> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        Error::invalid(format!(
            "{}: not UTF-8 text ({e}); pass a cucumber messages, cucumber JSON or JUnit XML report",
            path.display()
        ))
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let run = match text.trim_start().bytes().next() {
        Some(b'<') => junit::parse(text),
        Some(b'[') => cucumber_json::parse(text),
        Some(b'{') => messages::parse(text),
        Some(_) => Err("unknown report format: expected cucumber messages NDJSON (`{…}` lines), cucumber JSON (`[…]`) or JUnit XML (`<…>`)".to_owned()),
        None => Err("empty file: the test run wrote no report".to_owned()),
    };
    let mut run = run.map_err(|m| Error::invalid(format!("{}: {m}", path.display())))?;
    run.source = path.display().to_string();
    Ok(run)
}

/// A failure message's first non-empty line, cut to 200 characters, for tables and summaries.
pub fn short_message(message: &str) -> String {
    let first = message.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
    if first.chars().count() > 200 {
        first.chars().take(200).collect::<String>() + "…"
    } else {
        first.to_owned()
    }
}
