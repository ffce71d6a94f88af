//! What the decision is written as: a table for people, JSON for machines, JUnit for CircleCI, and the
//! evidence file (plus an in-toto attestation) that binds the decision to the image digest.

pub(crate) mod acquisition;
pub mod evidence;
pub(crate) mod json;
pub(crate) mod junit;
pub(crate) mod table;

use crate::findings::{Finding, Scan, Severity};
use crate::gate::{Basis, Decision, FindingDecision, Outcome};
use crate::policy::signoff::SignOff;
use crate::policy::{BuildingBlock, PolicyOrigin};
use serde::Serialize;
use std::collections::BTreeMap;

/// A file that went into the decision, by content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub(crate) struct FileDigest {
    pub(crate) path: String,
    pub(crate) sha256: String,
}

/// Field order is alphabetical: the evidence's canonical form is its serialisation (see evidence.rs).
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct InputDigests {
    pub(crate) api_reports: Vec<FileDigest>,
    pub(crate) findings_pages: Vec<FileDigest>,
    pub(crate) signoff_files: Vec<FileDigest>,
}

/// Everything an output needs besides the decision itself.
pub(crate) struct Context<'a> {
    pub(crate) decision: &'a Decision,
    pub(crate) scan: &'a Scan,
    /// The sign-offs the decision was made with (`FindingDecision::signoff` indexes these).
    pub(crate) signoffs: &'a [SignOff],
    /// The registry host (`ACCOUNT.dkr.ecr.REGION.amazonaws.com`), when known.
    pub(crate) registry: Option<&'a str>,
    pub(crate) policy: &'a PolicyOrigin,
    pub(crate) building_block: &'a BuildingBlock,
    pub(crate) inputs: &'a InputDigests,
    pub(crate) now: jiff::Timestamp,
    /// CircleCI's build context, when running in CircleCI.
    pub(crate) circleci: Option<BTreeMap<String, String>>,
    /// Notes from reading the inputs (not part of the decision).
    pub(crate) input_notes: &'a [crate::diag::Diagnostic],
    /// How the scan was fetched from ECR (online verify only).
    pub(crate) acquisition: Option<&'a crate::report::acquisition::Acquisition>,
}

impl<'a> Context<'a> {
    pub(crate) fn finding(&self, d: &FindingDecision) -> &'a Finding {
        &self.scan.findings[d.finding]
    }

    pub(crate) fn record(&self, d: &'a FindingDecision) -> FindingRecord<'a> {
        let f = self.finding(d);
        let mut notes: Vec<&'a str> = Vec::new();
        if !f.notes.is_empty() || !d.signoff_notes.is_empty() {
            notes.extend(f.notes.iter().chain(&d.signoff_notes).map(String::as_str));
        }
        FindingRecord {
            basis: &d.basis,
            id: &f.id,
            notes,
            outcome: d.outcome,
            package: &f.package,
            package_version: &f.package_version,
            score: d.score.as_ref().map(|s| s.value),
            score_source: d.score.as_ref().map(Collect),
            severity: f.severity,
            signoff: d.signoff.map(|i| Collect(SignoffRef(&self.signoffs[i]))),
        }
    }

    pub(crate) fn image_uri(&self) -> String {
        let repo = &self.scan.image.repository;
        match self.registry {
            Some(r) => format!("{r}/{repo}@{}", self.scan.image.digest),
            None => format!("{repo}@{}", self.scan.image.digest),
        }
    }
}

pub(crate) const TOOL: &str = "bbgate";
pub(crate) const VERSION: &str = env!("CARGO_PKG_VERSION");

/// One finding as every output writes it. Borrowed (no copies for 100k findings); field order is
/// alphabetical because the evidence's canonical form is its serialisation.
#[derive(Debug, Serialize)]
pub(crate) struct FindingRecord<'a> {
    pub(crate) basis: &'a Basis,
    pub(crate) id: &'a str,
    pub(crate) notes: Vec<&'a str>,
    pub(crate) outcome: Outcome,
    pub(crate) package: &'a str,
    pub(crate) package_version: &'a str,
    pub(crate) score: Option<f64>,
    pub(crate) score_source: Option<Collect<&'a crate::findings::Score>>,
    pub(crate) severity: Severity,
    pub(crate) signoff: Option<Collect<SignoffRef<'a>>>,
}

/// Serialise anything `Display` as a string without building it first.
#[derive(Debug)]
pub(crate) struct Collect<T>(pub T);

impl<T: std::fmt::Display> Serialize for Collect<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<T: std::fmt::Display> std::fmt::Display for Collect<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A sign-off as findings cite it: where it is, who approved it, until when.
#[derive(Debug)]
pub(crate) struct SignoffRef<'a>(pub &'a SignOff);

impl std::fmt::Display for SignoffRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (approved by {}, expires {})",
            self.0.location, self.0.approved_by, self.0.expires
        )
    }
}
