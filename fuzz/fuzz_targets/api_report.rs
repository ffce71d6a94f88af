//! API test reports: cucumber messages, cucumber JSON and JUnit, detected from the content.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = bbgate::apitests::parse_report(std::path::Path::new("fuzz.report"), data);
});
