//! The derived fixtures are exactly what scripts/derive-fixtures.py writes from the real ones.

#![allow(clippy::unwrap_used)] // a test fails loudly where it unwraps

use std::path::Path;
use std::process::Command;

const DERIVED: &[&str] = &[
    "demo/payments-emulator-scan.json",
    "ecr/paged/page-1.json",
    "ecr/paged/page-2.json",
    "ecr/paged/page-3.json",
    "api-tests/govstack-identity.cucumber.json",
    "ecr/enhanced-edge-cases.json",
    "demo/pass/scan-page-1.json",
    "demo/pass/scan-page-2.json",
];

#[test]
fn derived_fixtures_are_up_to_date() {
    let scratch = tempfile::tempdir().unwrap();
    // The real inputs are read from ../shared (never copied into the project); the outputs go to scratch.
    let status = Command::new("python3")
        .arg("scripts/derive-fixtures.py")
        .env("BBGATE_FIXTURES_ROOT", scratch.path())
        .status()
        .expect("python3 runs");
    assert!(status.success());
    for f in DERIVED {
        let fresh = std::fs::read(scratch.path().join("fixtures").join(f)).unwrap();
        let committed = std::fs::read(Path::new("fixtures").join(f)).unwrap();
        assert!(
            fresh == committed,
            "fixtures/{f} differs from what scripts/derive-fixtures.py writes: rerun it and commit"
        );
    }
}
