//! The code's shape, kept: no function in the product's source is longer than 120 lines (issue 17).
//! A function is measured from its `fn` line to the closing brace at its own indentation, as rustfmt writes it.

#![allow(clippy::unwrap_used)] // a test fails loudly where it unwraps

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// (lines, name, first line) of every function with a body.
fn functions(text: &str) -> Vec<(usize, String, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        let rest = ["pub(crate) ", "pub ", ""]
            .iter()
            .find_map(|p| trimmed.strip_prefix(p))
            .unwrap_or(trimmed);
        let rest = rest.strip_prefix("async ").unwrap_or(rest);
        let rest = rest.strip_prefix("const ").unwrap_or(rest);
        let Some(sig) = rest.strip_prefix("fn ") else { continue };
        let name: String = sig.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        // The signature ends at the first line ending in `{` (a body) or `;` (a declaration).
        let Some(open) = (i..lines.len()).find(|&j| {
            let l = lines[j].trim_end();
            l.ends_with('{') || l.ends_with(';')
        }) else {
            continue;
        };
        if lines[open].trim_end().ends_with(';') {
            continue;
        }
        let close = (open + 1..lines.len()).find(|&j| {
            let l = lines[j];
            l.len() - l.trim_start().len() == indent && l.trim_start().starts_with('}')
        });
        if let Some(close) = close {
            out.push((close - i + 1, name, i + 1));
        }
    }
    out
}

#[test]
fn no_function_in_the_product_is_longer_than_120_lines() {
    let mut files = Vec::new();
    rust_files(Path::new("src"), &mut files);
    rust_files(Path::new("crates/core/src"), &mut files);
    assert!(files.len() > 30, "{files:?}");
    let mut long = Vec::new();
    let mut measured = 0;
    for f in &files {
        for (n, name, line) in functions(&std::fs::read_to_string(f).unwrap()) {
            measured += 1;
            if n > 120 {
                long.push(format!("{}:{line} {name}: {n} lines", f.display()));
            }
        }
    }
    assert!(measured > 300, "the measure found {measured} functions");
    assert!(long.is_empty(), "functions over 120 lines:\n{}", long.join("\n"));
}

#[test]
fn the_measure_counts_a_function_from_fn_to_its_closing_brace() {
    let text = "pub fn a() {\n    if x {\n    }\n}\n\nfn b(\n    x: u8,\n) -> u8 {\n    x\n}\nfn c();\n";
    assert_eq!(functions(text), [(4, "a".into(), 1), (5, "b".into(), 6)]);
}
