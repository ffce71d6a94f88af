//! Rendered manifests: the YAML 1.1 reader, then the guard on whatever objects come out.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = bbgate::deploy::manifest::parse(text);
});
