//! The shipped fixtures are exactly what scripts/gen-fixtures.py writes (seeded; it reads no third-party file).

#![allow(clippy::unwrap_used)] // a test fails loudly where it unwraps

use std::path::Path;
use std::process::Command;

const GENERATED: &[&str] = &[
    "demo/payments-emulator-scan.json",
    "ecr/paged/page-1.json",
    "ecr/paged/page-2.json",
    "ecr/paged/page-3.json",
    "api-tests/govstack-identity.cucumber.json",
    "api-tests/govstack-identity.ndjson",
    "api-tests/govstack-identity.xml",
    "api-tests/payments-adapter.cucumber.json",
    "api-tests/payments-adapter.ndjson",
    "api-tests/payments-adapter.xml",
    "ecr/enhanced-edge-cases.json",
    "demo/pass/scan-page-1.json",
    "demo/pass/scan-page-2.json",
];

#[test]
fn generated_fixtures_are_up_to_date() {
    let scratch = tempfile::tempdir().unwrap();
    let status = Command::new("python3")
        .arg("scripts/gen-fixtures.py")
        .env("BBGATE_FIXTURES_ROOT", scratch.path())
        .status()
        .expect("python3 runs");
    assert!(status.success());
    for f in GENERATED {
        let fresh = std::fs::read(scratch.path().join("fixtures").join(f)).unwrap();
        let committed = std::fs::read(Path::new("fixtures").join(f)).unwrap();
        assert!(
            fresh == committed,
            "fixtures/{f} differs from what scripts/gen-fixtures.py writes: rerun it and commit"
        );
    }
}

/// No tracked file is a byte copy of an upstream file, and no fixture carries a vulnerability id of an
/// upstream scan (which a scan derived from one would).
#[test]
fn the_project_holds_no_copy_or_derivative_of_the_upstream_files() {
    use sha2::{Digest, Sha256};
    fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() { walk(&p, out) } else { out.push(p) }
        }
    }
    let mut upstream = Vec::new();
    walk(Path::new("../shared/fixtures-upstream"), &mut upstream);
    assert!(
        upstream.len() > 50,
        "../shared/fixtures-upstream is where the real files are: {}",
        upstream.len()
    );
    let hash = |bytes: &[u8]| hex::encode(Sha256::digest(bytes));
    let upstream_hashes: std::collections::HashMap<String, std::path::PathBuf> = upstream
        .iter()
        .filter(|p| std::fs::metadata(p).unwrap().len() > 64)
        .map(|p| (hash(&std::fs::read(p).unwrap()), p.clone()))
        .collect();
    let tracked = Command::new("git").args(["ls-files", "-z"]).output().unwrap();
    let tracked: Vec<String> = String::from_utf8(tracked.stdout)
        .unwrap()
        .split('\0')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    assert!(tracked.len() > 50, "{tracked:?}");
    for f in &tracked {
        let Ok(bytes) = std::fs::read(f) else { continue };
        if let Some(up) = upstream_hashes.get(&hash(&bytes)) {
            panic!("{f} is a byte copy of {}", up.display());
        }
    }
    // Vulnerability ids of the upstream ECR scans.
    let mut upstream_ids = std::collections::BTreeSet::new();
    for p in upstream.iter().filter(|p| p.to_string_lossy().contains("ecr")) {
        upstream_ids.extend(cve_ids(&std::fs::read_to_string(p).unwrap_or_default()));
    }
    assert!(upstream_ids.len() > 100, "{}", upstream_ids.len());
    for f in tracked.iter().filter(|f| f.starts_with("fixtures/")) {
        let text = std::fs::read_to_string(f).unwrap_or_default();
        let shared: Vec<String> = cve_ids(&text)
            .into_iter()
            .filter(|i| upstream_ids.contains(i))
            .collect();
        assert!(shared.is_empty(), "{f} carries ids of the upstream scans: {shared:?}");
    }
}

/// The `CVE-YYYY-NNNN…` ids in a text.
fn cve_ids(text: &str) -> Vec<String> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(at) = text[i..].find("CVE-").map(|a| a + i) {
        let digits = |from: usize| b[from..].iter().take_while(|c| c.is_ascii_digit()).count();
        let year = digits(at + 4);
        if year == 4 && b.get(at + 8) == Some(&b'-') {
            let n = digits(at + 9);
            if n >= 4 {
                out.push(text[at..at + 9 + n].to_owned());
            }
        }
        i = at + 4;
    }
    out
}
