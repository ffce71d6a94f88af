//! Issue 12: what the fuzzers found stays found. Every file under fuzz/regressions/<target>/ (crashes that
//! scripts/fuzz kept) and, when present, the local fuzz corpus under fuzz/corpus/<target>/, replayed through
//! the same readers on stable: none may panic (each returns a value or an error).

#![allow(clippy::unwrap_used)] // a test fails loudly where it unwraps

use std::path::Path;

fn files(target: &str) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for root in ["fuzz/regressions", "fuzz/corpus"] {
        if let Ok(dir) = std::fs::read_dir(Path::new(root).join(target)) {
            out.extend(dir.flatten().map(|e| e.path()).filter(|p| p.is_file()));
        }
    }
    out.sort();
    out
}

fn replay(target: &str, f: impl Fn(&[u8]) + std::panic::RefUnwindSafe) -> usize {
    let inputs = files(target);
    for p in &inputs {
        let bytes = std::fs::read(p).unwrap();
        if std::panic::catch_unwind(|| f(&bytes)).is_err() {
            panic!("{target}: {} panics", p.display());
        }
    }
    inputs.len()
}

#[test]
fn fuzz_findings_replay_without_a_panic() {
    let mut n = replay("ecr_page", |b| {
        if let Ok(page) = bbgate::findings::ecr::parse_page(Path::new("r.json"), b) {
            let _ = bbgate::findings::ecr::merge(vec![page]);
        }
    });
    n += replay("scanner_report", |b| {
        let _ = bbgate::findings::ecr::parse_page(Path::new("r.json"), b);
    });
    n += replay("writer_round_trip", |b| {
        if let Ok(text) = std::str::from_utf8(b) {
            let t = bbgate::output::terminal_safe(text);
            assert_eq!(bbgate::output::terminal_safe(&t), t);
            assert!(!bbgate::report::escape::markdown(text).contains(['\n', '\r', '<', '>']));
            assert!(!bbgate::report::escape::xml(text).contains(|c: char| (c as u32) < 0x20 && c != '\t' && c != '\n'));
        }
    });
    n += replay("api_report", |b| {
        let _ = bbgate::apitests::parse_report(Path::new("r"), b);
    });
    let policy = bbgate::policy::Policy::parse(Path::new("b"), bbgate::policy::BUILTIN, "built-in".into()).unwrap();
    n += replay("policy_signoffs", |b| {
        let Ok(text) = std::str::from_utf8(b) else { return };
        match text.strip_prefix("policy\n") {
            Some(p) => drop(bbgate::policy::Policy::parse(Path::new("f"), p, "f".into())),
            None => drop(bbgate::policy::signoff::parse(Path::new("f"), text, &policy)),
        }
    });
    n += replay("manifest", |b| {
        if let Ok(text) = std::str::from_utf8(b) {
            let _ = bbgate::deploy::manifest::parse(text);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("a.tar");
    n += replay("push_source", |b| {
        std::fs::write(&tar, b).unwrap();
        let _ = bbgate::push::source::load(&format!("docker-archive:{}", tar.display()));
    });
    eprintln!("{n} fuzz inputs replayed");
}
