//! Pointing at the place in a file where a problem is.

use std::ops::Range;
use std::path::Path;

/// 1-based line and column of a byte offset in `src`.
pub fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(src.len());
    let before = &src.as_bytes()[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let col = src[line_start..offset].chars().count() + 1;
    (line, col)
}

/// `file:line:col: message` for a span in a file's text.
pub fn at(path: &Path, src: &str, span: Option<Range<usize>>, message: impl std::fmt::Display) -> String {
    match span {
        Some(span) => {
            let (line, col) = line_col(src, span.start);
            format!("{}:{line}:{col}: {message}", path.display())
        }
        None => format!("{}: {message}", path.display()),
    }
}

/// A TOML parse or type error: `file:line:col: message`, then the line it is on with the span marked (toml's
/// own messages often name the value and not the key: the line shows which key).
pub fn toml_error(path: &Path, src: &str, err: &toml::de::Error) -> String {
    let message = err.message().trim_end();
    let mut out = at(path, src, err.span(), message);
    if let Some(span) = err.span() {
        out.push('\n');
        out.push_str(&snippet(src, span));
    }
    out
}

/// The line holding `span`, numbered, with `^` under the span's first line.
pub fn snippet(src: &str, span: Range<usize>) -> String {
    let (line, col) = line_col(src, span.start);
    let text = src.lines().nth(line - 1).unwrap_or("");
    let start = span.start.min(src.len());
    let end = span.end.clamp(start, src.len());
    let width = src
        .get(start..end)
        .map_or(1, |s| s.chars().take_while(|c| *c != '\n').count().max(1));
    format!(
        "{line:>5} | {text}\n      | {}{}",
        " ".repeat(col - 1),
        "^".repeat(width)
    )
}

/// What a check found, for people and for machines: a stable kebab-case `code` (listed in [`CODES`] and in
/// the README's "Diagnostic codes"), whether it denies (`error`) or is only reported (`warning`), the message,
/// and where, when it comes from a place in a file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Diagnostic {
    // Field order alphabetical: the evidence's canonical form is its serialisation.
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    pub message: String,
    pub severity: Level,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Error,
    Warning,
}

impl Diagnostic {
    /// A finding that denies. `code` must be one of [`CODES`].
    pub fn error(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(code, Level::Error, message.into())
    }

    /// A finding that is reported and does not deny.
    pub fn warning(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(code, Level::Warning, message.into())
    }

    fn new(code: &'static str, severity: Level, message: String) -> Self {
        debug_assert!(
            CODES.iter().any(|(c, _)| *c == code),
            "undocumented diagnostic code {code}"
        );
        Diagnostic {
            code: code.to_owned(),
            location: None,
            message,
            severity,
        }
    }

    pub fn at(mut self, location: impl Into<String>) -> Self {
        self.location = Some(location.into());
        self
    }
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Every code the decision gives, and what it means. The README's table is checked against this list.
pub const CODES: &[(&str, &str)] = &[
    (
        "foreign-repository",
        "the image's repository is not one of the building block's",
    ),
    (
        "scan-not-complete",
        "the scan is not COMPLETE (basic) or ACTIVE (enhanced): failed, in progress, or unsupported",
    ),
    (
        "scan-undated",
        "the scan has no completion time, so its age cannot be checked",
    ),
    ("scan-from-future", "the scan completed after the decision time"),
    ("scan-stale", "the scan is older than [scan] max_age_days"),
    (
        "scan-counts-exceed",
        "warning: the pages hold more findings than findingSeverityCounts says; all are judged",
    ),
    (
        "finding-blocked",
        "a finding scores at or above block_from (or is unscored and blocked by policy); no sign-off can waive it",
    ),
    (
        "finding-needs-signoff",
        "a finding is in the sign-off band and no live sign-off covers it",
    ),
    (
        "finding-unscored",
        "warning: findings with no score and no usable label, under [scan] unscored = \"warn\"",
    ),
    (
        "signoff-unused",
        "sign-offs that match no finding needing one (an error under [signoffs] unused = \"deny\")",
    ),
    (
        "signoff-expiring",
        "warning: applied sign-offs that expire within [signoffs] warn_before_days",
    ),
    (
        "api-report-missing",
        "no API test report was given and the policy requires one",
    ),
    (
        "api-run-failed",
        "the test run as a whole failed (runner verdict, BeforeAll/AfterAll hook, parse error, unfinished run)",
    ),
    (
        "api-report-undated",
        "a report has no start time and [api_tests] max_age_days requires one",
    ),
    ("api-report-stale", "a report is older than [api_tests] max_age_days"),
    ("api-tests-empty", "the reports hold no scenarios"),
    (
        "api-tests-failed",
        "fewer scenarios passed than [api_tests] min_pass_ratio requires",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_toml_error_shows_the_line_and_marks_the_span() {
        let src = "[scan]\nblock_from = \"nine\"\n";
        let err = toml::from_str::<toml::Table>("x = ").unwrap_err();
        let shown = toml_error(Path::new("p.toml"), "x = ", &err);
        assert!(shown.starts_with("p.toml:1:"), "{shown}");
        assert!(shown.contains("\n    1 | x = \n"), "{shown}");
        assert_eq!(
            snippet(src, 20..26),
            "    2 | block_from = \"nine\"\n      |              ^^^^^^"
        );
    }

    #[test]
    fn line_col_counts_from_one() {
        let src = "a = 1\nbb = 2\n";
        assert_eq!(line_col(src, 0), (1, 1));
        assert_eq!(line_col(src, 6), (2, 1));
        assert_eq!(line_col(src, 9), (2, 4));
    }
}
