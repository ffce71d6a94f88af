//! Push sources: a docker-archive's bytes (a tar holding manifest.json, a config and layers, or an OCI layout).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("bbgate-fuzz-{}.tar", std::process::id()));
    if std::fs::write(&path, data).is_ok() {
        let _ = bbgate::push::source::load(&format!("docker-archive:{}", path.display()));
    }
});
