//! How the inputs were acquired, as the output and the evidence record it: the AWS identity used (never its
//! credentials), what reading the scan took, and what a push did. Plain data: the AWS and registry code fill it
//! in, the reports print it, and neither reaches into the other.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What acquiring the scan took, for the JSON output and the evidence (field order alphabetical).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Acquisition {
    pub(crate) calls: BTreeMap<String, u32>,
    pub(crate) identity: Identity,
    pub(crate) probes: u32,
    /// `--push-from`: what was pushed before the scan was read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) push: Option<PushReport>,
    pub(crate) registry_scan_type: Option<String>,
    pub(crate) scan_started: bool,
    pub(crate) scan_wait_seconds: f64,
    pub(crate) source: String,
}

/// Where the credentials came from, for the output (never the credentials themselves).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Identity {
    // Field order is alphabetical: it is part of the evidence's canonical form.
    pub(crate) assumed_role: Option<String>,
    pub(crate) method: String,
    pub(crate) role_arn: Option<String>,
    pub(crate) session_name: Option<String>,
}

/// What the push did, for the human line, the JSON document and the evidence (fields alphabetical: the
/// evidence's canonical form).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct PushReport {
    pub(crate) auth: String,
    pub(crate) blobs_skipped: u32,
    pub(crate) blobs_uploaded: u32,
    pub(crate) bytes_uploaded: u64,
    pub(crate) digest: String,
    pub(crate) manifests: u32,
    pub(crate) reference: String,
}
