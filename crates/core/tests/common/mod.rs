//! What the core's test files share.
#![allow(dead_code)] // each test crate uses some of it

use std::path::{Path, PathBuf};

/// A file of ../shared/fixtures-upstream, where the real third-party files live (BBGATE_SHARED names ../shared
/// when the tree is built elsewhere, as scripts/mutants does).
pub fn upstream_path(rel: &str) -> PathBuf {
    let base = std::env::var_os("BBGATE_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    base.join("fixtures-upstream").join(rel)
}

/// The messages of a list of diagnostics, to compare with the text a reader sees.
pub trait Msgs {
    fn msgs(&self) -> Vec<String>;
}

impl Msgs for Vec<bbgate_core::diag::Diagnostic> {
    fn msgs(&self) -> Vec<String> {
        self.iter().map(|d| d.message.clone()).collect()
    }
}
