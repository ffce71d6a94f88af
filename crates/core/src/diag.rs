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

/// A TOML parse or type error, located and without toml's own multi-line snippet.
pub fn toml_error(path: &Path, src: &str, err: &toml::de::Error) -> String {
    let message = err.message().trim_end();
    at(path, src, err.span(), message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        let src = "a = 1\nbb = 2\n";
        assert_eq!(line_col(src, 0), (1, 1));
        assert_eq!(line_col(src, 6), (2, 1));
        assert_eq!(line_col(src, 9), (2, 4));
    }
}
