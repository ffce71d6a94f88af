//! stdout for results: a closed pipe (`bbgate … | head`) ends the output quietly instead of panicking the way
//! `println!` does.

use crate::error::{Error, Result};
use std::io::Write;

/// Write `text` and a newline to stdout.
pub fn line(text: &str) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    written(
        out.write_all(text.as_bytes())
            .and_then(|()| out.write_all(b"\n"))
            .and_then(|()| out.flush()),
    )
}

/// Write human text: every character that could steer a terminal (control characters but newline and tab,
/// escape sequences but the colours bbgate itself paints, bidirectional overrides, line separators) shown
/// escaped instead, so a package name or reason from a scan cannot move the cursor, erase a line, hide text or
/// paint "verdict: PASS" over a denial.
pub fn human(text: &str) -> Result<()> {
    line(&terminal_safe(text))
}

/// `text` with what could steer a terminal shown as `\u{…}`; see `human`.
pub fn terminal_safe(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if c == '\x1b'
            && let Some(len) = colour_sequence(rest)
        {
            out.push_str(&rest[..len]);
            rest = &rest[len..];
            continue;
        }
        if steers(c) {
            out.push_str(&shown(c));
        } else {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// A character that could steer a terminal or a reader of the text: a control character but newline and tab,
/// a bidirectional override or mark, a line or paragraph separator.
pub(crate) fn steers(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// A character as bbgate shows one it will not write as it is: `\u{1b}`.
pub(crate) fn shown(c: char) -> String {
    format!("\\u{{{:x}}}", c as u32)
}

/// The length of an SGR sequence at the start of `s` that only sets or resets bold and a foreground colour (what
/// `paint` and the table's outcome colours emit): `ESC [ params m`. Nothing that conceals, blinks, inverts or
/// moves.
fn colour_sequence(s: &str) -> Option<usize> {
    let body = s.strip_prefix("\x1b[")?;
    let end = body.find('m')?;
    let params = &body[..end];
    if params.len() > 16 || !params.bytes().all(|b| b.is_ascii_digit() || b == b';') {
        return None;
    }
    let nums: Vec<u16> = params.split(';').map(|p| p.parse().unwrap_or(0)).collect();
    let ok = match nums.as_slice() {
        [38, 5, _] => true,
        list => list.iter().all(|n| matches!(n, 0 | 1 | 22 | 39 | 30..=37 | 90..=97)),
    };
    ok.then_some(2 + end + 1)
}

pub(crate) const RED: &str = "31";
pub(crate) const GREEN: &str = "32";
pub(crate) const YELLOW: &str = "33";

/// Colour for people: only when stdout is a terminal, and never under `NO_COLOR` (any value) or `CLICOLOR=0`;
/// `CLICOLOR_FORCE` (not 0) forces it. A CI log gets plain text.
pub(crate) fn colour() -> bool {
    use std::io::IsTerminal;
    let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
    if set("NO_COLOR") {
        return false;
    }
    if set("CLICOLOR_FORCE") && std::env::var("CLICOLOR_FORCE").is_ok_and(|v| v != "0") {
        return true;
    }
    if std::env::var("CLICOLOR").is_ok_and(|v| v == "0") {
        return false;
    }
    std::io::stdout().is_terminal()
}

/// `text` in an ANSI colour when `colour()` says so.
pub(crate) fn paint(text: &str, code: &str) -> String {
    if colour() {
        format!("\x1b[1;{code}m{text}\x1b[0m")
    } else {
        text.to_owned()
    }
}

/// `text` wrapped at spaces to `width` columns, the first line after `first`, the others after `rest`: an id, a
/// package or a URL longer than the width stays whole on its own line (textwrap, words never broken).
pub(crate) fn wrap(text: &str, width: usize, first: &str, rest: &str) -> Vec<String> {
    let options = textwrap::Options::new(width.max(first.len() + 8))
        .initial_indent(first)
        .subsequent_indent(rest)
        .break_words(false)
        .word_splitter(textwrap::WordSplitter::NoHyphenation);
    textwrap::wrap(text, options)
        .into_iter()
        .map(|l| l.into_owned())
        .collect()
}

/// `line` cut to `width` columns with `…` when it is longer.
pub(crate) fn cut(line: &str, width: usize) -> String {
    if line.chars().count() <= width {
        return line.to_owned();
    }
    let mut kept: String = line.chars().take(width.saturating_sub(1)).collect();
    kept.push('…');
    kept
}

/// How much bbgate says of its calls on stderr: 0 nothing, 1 each AWS call and helm run (`-v`, BBGATE_LOG=calls).
static LOG: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// Set from `-v` and BBGATE_LOG (`calls` or `1`; `off` or `0`): the larger wins.
pub fn set_log(verbose: u8) {
    let env = match std::env::var("BBGATE_LOG").unwrap_or_default().trim() {
        "calls" | "1" | "debug" | "2" => 1,
        _ => 0,
    };
    LOG.store(verbose.max(env), std::sync::atomic::Ordering::Relaxed);
}

/// Say one call on stderr (`bbgate[aws]: …`) when asked to; `what` carries no secret (callers pass method, host,
/// path, status and time, or helm's printable command line).
pub(crate) fn log(area: &str, what: impl std::fmt::Display) {
    if LOG.load(std::sync::atomic::Ordering::Relaxed) > 0 {
        eprintln!("bbgate[{area}]: {}", terminal_safe(&what.to_string()));
    }
}

/// The width human output fits: `COLUMNS`, else the terminal's, else 100 (a CI log).
pub(crate) fn width() -> u16 {
    if let Some(w) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<u16>().ok())
        .filter(|w| *w >= 40)
    {
        return w;
    }
    use std::io::IsTerminal;
    // comfy-table reads the terminal's columns when stdout is one. A pseudo-terminal nobody sized (`script` in a
    // CI job, `docker run -t`) says 0 columns: that is no width, not a width of 0.
    let terminal = std::io::stdout()
        .is_terminal()
        .then(|| comfy_table::Table::new().width())
        .flatten()
        .filter(|w| *w >= 40);
    terminal.unwrap_or(100)
}

/// What `--format json` prints on stdout when a command ends in an error (exit 1 before a decision was written,
/// 2 or 3): one JSON document, so CI reads every outcome the same way. The messages are the ones stderr shows.
pub fn error_document(e: &Error) -> String {
    let kind = match e {
        Error::Invalid(_) => "invalid-input",
        Error::Denied(_) => "denied",
        Error::Undecidable(_) => "could-not-decide",
    };
    let messages: Vec<String> = e.to_string().lines().map(str::to_owned).collect();
    let doc = serde_json::json!({
        "error": { "kind": kind, "exit_code": e.exit_code(), "messages": messages },
        "exit_code": e.exit_code(),
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
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
