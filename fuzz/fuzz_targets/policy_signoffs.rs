//! The policy and the sign-off files: the input's first line decides which, the rest is the TOML.
#![no_main]
use bbgate::policy::Policy;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Some(policy) = text.strip_prefix("policy\n") {
        let _ = Policy::parse(Path::new("fuzz.toml"), policy, "fuzz".into());
    } else if let Ok(builtin) = Policy::parse(Path::new("builtin"), bbgate::policy::BUILTIN, "built-in".into()) {
        let _ = bbgate::policy::signoff::parse(Path::new("fuzz.toml"), text, &builtin);
    }
});
