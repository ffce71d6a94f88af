//! stdout for results: a closed pipe (`bbgate … | head`) ends the output quietly instead of panicking the way
//! `println!` does.

use crate::error::{Error, Result};
use std::io::Write;

/// Write `text` and a newline to stdout.
pub(crate) fn line(text: &str) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    written(
        out.write_all(text.as_bytes())
            .and_then(|()| out.write_all(b"\n"))
            .and_then(|()| out.flush()),
    )
}

/// The outcome of writing a result to stdout: a closed pipe (the reader went away) is no failure, so the exit
/// code stays the decision's; any other error is.
pub(crate) fn written(result: std::io::Result<()>) -> Result<()> {
    match result {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Error::Undecidable(format!("cannot write the result to stdout: {e}")))
        }
        _ => Ok(()),
    }
}
