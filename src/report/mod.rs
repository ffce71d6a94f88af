//! What the decision is written as: a table for people, JSON for machines, JUnit for CircleCI, and the
//! evidence file (plus an in-toto attestation) that binds the decision to the image digest.

pub mod evidence;
pub mod json;
pub mod junit;
pub mod table;

use crate::findings::Scan;
use crate::gate::Decision;
use crate::policy::{BuildingBlock, PolicyOrigin};
use serde::Serialize;
use std::collections::BTreeMap;

/// A file that went into the decision, by content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct FileDigest {
    pub path: String,
    pub sha256: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct InputDigests {
    pub findings_pages: Vec<FileDigest>,
    pub api_reports: Vec<FileDigest>,
    pub signoff_files: Vec<FileDigest>,
}

/// Everything an output needs besides the decision itself.
pub struct Context<'a> {
    pub decision: &'a Decision,
    pub scan: &'a Scan,
    /// The registry host (`ACCOUNT.dkr.ecr.REGION.amazonaws.com`), when known.
    pub registry: Option<&'a str>,
    pub policy: &'a PolicyOrigin,
    pub building_block: &'a BuildingBlock,
    pub inputs: &'a InputDigests,
    pub now: jiff::Timestamp,
    /// CircleCI's build context, when running in CircleCI.
    pub circleci: Option<BTreeMap<String, String>>,
    /// Notes from reading the inputs (not part of the decision).
    pub input_notes: &'a [String],
}

impl Context<'_> {
    pub fn image_uri(&self) -> String {
        let repo = &self.scan.image.repository;
        match self.registry {
            Some(r) => format!("{r}/{repo}@{}", self.scan.image.digest),
            None => format!("{repo}@{}", self.scan.image.digest),
        }
    }
}

pub const TOOL: &str = "bbgate";
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
