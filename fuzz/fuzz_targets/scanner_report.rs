//! Trivy and Grype reports: read as `verify --findings` reads them (strict, typed, only what decides kept).
//! A report that reads must hold findings with ids; the reading must not depend on where a key stands.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(page) = bbgate::findings::ecr::parse_page(Path::new("fuzz.json"), data) else {
        return;
    };
    assert!(page.scan.findings.iter().all(|f| !f.id.is_empty()), "a finding without an id was read");
    // The same bytes read again give the same findings (no state, no order dependence).
    let again = bbgate::findings::ecr::parse_page(Path::new("fuzz.json"), data).expect("read once, read twice");
    assert_eq!(page.scan.findings.len(), again.scan.findings.len());
});
