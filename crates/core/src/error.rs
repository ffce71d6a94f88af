//! The one error type at the edge. Its kind decides the exit code; a policy "deny" is not an error.

use std::path::Path;

/// Exit codes, stable for CI.
pub mod exit {
    pub const PASS: u8 = 0;
    pub const DENY: u8 = 1;
    pub const INVALID: u8 = 2;
    pub const UNDECIDABLE: u8 = 3;
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Invalid input or configuration: the user must fix a file or a flag (exit 2).
    #[error("{}", .0.join("\n"))]
    Invalid(Vec<String>),
    /// Refused by policy before anything was fetched, e.g. an image of another BB's repository (exit 1).
    #[error("{0}")]
    Denied(String),
    /// A remote service, the cluster or a tool failed: nothing was decided (exit 3).
    #[error("{0}")]
    Undecidable(String),
}

impl Error {
    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::Invalid(vec![msg.into()])
    }

    /// A file could not be read: name it and say what to do.
    pub fn read(path: &Path, err: std::io::Error) -> Self {
        let hint = match err.kind() {
            std::io::ErrorKind::NotFound => "check the path",
            std::io::ErrorKind::PermissionDenied => "check the file's permissions",
            _ => "check that it is a readable file",
        };
        Error::invalid(format!("{}: cannot read: {err} ({hint})", path.display()))
    }

    pub fn write(path: &Path, err: std::io::Error) -> Self {
        Error::invalid(format!(
            "{}: cannot write: {err} (check that the directory exists and is writable)",
            path.display()
        ))
    }

    /// The same error, each message prefixed with where it happened (`image bb/x@sha256:…`).
    pub fn within(self, place: &str) -> Self {
        match self {
            Error::Invalid(list) => Error::Invalid(list.into_iter().map(|m| format!("{place}: {m}")).collect()),
            Error::Denied(m) => Error::Denied(format!("{place}: {m}")),
            Error::Undecidable(m) => Error::Undecidable(format!("{place}: {m}")),
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Invalid(_) => exit::INVALID,
            Error::Denied(_) => exit::DENY,
            Error::Undecidable(_) => exit::UNDECIDABLE,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// An error and its causes, `outer: inner: innermost` (transport errors hide the useful part in a source).
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        msg = format!("{msg}: {s}");
        src = s.source();
    }
    msg
}

/// Merge the errors of independent steps: a remote failure wins (it is why nothing could be decided);
/// otherwise every invalid input, in order.
pub fn merge_errors(errors: impl IntoIterator<Item = Error>) -> Error {
    let mut problems = Vec::new();
    for e in errors {
        match e {
            Error::Invalid(p) => problems.extend(p),
            other => return other,
        }
    }
    Error::Invalid(problems)
}

/// Run every step and report every invalid input at once (a remote failure still stops at once).
pub fn collect_all<R>(results: impl IntoIterator<Item = Result<R>>) -> Result<Vec<R>> {
    let mut ok = Vec::new();
    let mut problems = Vec::new();
    for r in results {
        match r {
            Ok(v) => ok.push(v),
            Err(Error::Invalid(p)) => problems.extend(p),
            Err(e) => return Err(e),
        }
    }
    if problems.is_empty() {
        Ok(ok)
    } else {
        Err(Error::Invalid(problems))
    }
}
