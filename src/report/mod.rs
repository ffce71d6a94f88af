//! What the decision is written as: a table for people, JSON for machines, JUnit for CircleCI, and the
//! evidence file (plus an in-toto attestation) that binds the decision to the image digest.

pub(crate) mod acquisition;
pub mod evidence;
pub(crate) mod html;
pub(crate) mod json;
pub(crate) mod junit;
pub(crate) mod markdown;
pub(crate) mod sarif;
pub(crate) mod table;

/// The writers' escaping of text that comes from the data, public for the fuzz targets' round trips.
pub mod escape {
    /// Markdown prose or a table cell (the summary's).
    pub fn markdown(s: &str) -> String {
        super::markdown::cell(s)
    }
    /// Text XML 1.0 can hold (JUnit's).
    pub fn xml(s: &str) -> String {
        super::junit::xml_text(s)
    }
}

use crate::diag::Diagnostic;
use crate::findings::{Finding, Scan, Severity};
use crate::gate::{Basis, Decision, FindingDecision, ImageDecision, Outcome, Verdict};
use crate::policy::signoff::SignOff;
use crate::policy::{BuildingBlock, PolicyOrigin};
use acquisition::Acquisition;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// A file that went into the decision, by content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FileDigest {
    pub(crate) path: String,
    pub(crate) sha256: String,
}

/// The release's own inputs (each image's findings pages are with the image). Field order is alphabetical:
/// the evidence's canonical form is its serialisation (see evidence.rs).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct InputDigests {
    pub(crate) api_reports: Vec<FileDigest>,
    pub(crate) signoff_files: Vec<FileDigest>,
}

/// One image of the release as verify read it: how it was named, its merged scan, where it lives and the
/// pages its scan was read from.
#[derive(Debug)]
pub(crate) struct Judged {
    /// The reference as the chart or `--image` named it; offline, `repository@digest`.
    pub(crate) reference: String,
    pub(crate) scan: Scan,
    /// The registry host (`ACCOUNT.dkr.ecr.REGION.amazonaws.com`), when known.
    pub(crate) registry: Option<String>,
    pub(crate) pages: Vec<FileDigest>,
    /// Notes from reading the pages (not part of the decision).
    pub(crate) notes: Vec<Diagnostic>,
    /// How the scan was fetched from ECR (online verify only).
    pub(crate) acquisition: Option<Acquisition>,
}

impl Judged {
    /// `REGISTRY/REPOSITORY@DIGEST`, or `REPOSITORY@DIGEST` when the registry is not known.
    pub(crate) fn uri(&self) -> String {
        let i = &self.scan.image;
        match &self.registry {
            Some(r) => format!("{r}/{}@{}", i.repository, i.digest),
            None => format!("{}@{}", i.repository, i.digest),
        }
    }
}

/// What the chart release verify judged was, when it judged a chart (`verify --chart`). Field order
/// alphabetical (evidence).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ChartRecord {
    /// sha256 over every file of the chart (`release::chart_content`): what deploy must be given again.
    pub(crate) content_sha256: String,
    /// Each file of the chart, relative to it, with its sha256: deploy names the files that changed.
    pub(crate) files: BTreeMap<String, String>,
    /// sha256 of the rendered manifests, as `helm template` printed them.
    pub(crate) manifests_sha256: String,
    pub(crate) name: String,
    pub(crate) path: String,
    /// The `--set`-family values, each by sha256 (secrets are never here).
    pub(crate) sets: Vec<crate::values::SetRecord>,
    pub(crate) values: Vec<FileDigest>,
    pub(crate) version: String,
}

/// Everything an output needs besides the decision itself.
pub(crate) struct Context<'a> {
    pub(crate) decision: &'a Decision,
    /// One per `decision.images`, in the same order.
    pub(crate) images: &'a [Judged],
    /// The sign-offs the decision was made with (`FindingDecision::signoff` indexes these).
    pub(crate) signoffs: &'a [SignOff],
    pub(crate) policy: &'a PolicyOrigin,
    pub(crate) building_block: &'a BuildingBlock,
    pub(crate) inputs: &'a InputDigests,
    pub(crate) now: jiff::Timestamp,
    /// How long deploy takes evidence made now (`[deploy] max_evidence_age`).
    pub(crate) evidence_age: jiff::SignedDuration,
    /// CircleCI's build context, when running in CircleCI.
    pub(crate) circleci: Option<BTreeMap<String, String>>,
    pub(crate) chart: Option<&'a ChartRecord>,
}

impl<'a> Context<'a> {
    /// Each image with its decision.
    pub(crate) fn each(&self) -> impl Iterator<Item = (&'a Judged, &'a ImageDecision)> + use<'a> {
        self.images.iter().zip(&self.decision.images)
    }

    pub(crate) fn record(&self, image: &'a Judged, d: &'a FindingDecision) -> FindingRecord<'a> {
        let f: &'a Finding = &image.scan.findings[d.finding];
        FindingRecord {
            advisory: f.advisory.as_deref().map(Cow::Borrowed),
            basis: Shown::Basis(&d.basis),
            fixed_in: f.fixed_in.as_deref().map(Cow::Borrowed),
            id: Cow::Borrowed(&f.id),
            notes: f
                .notes
                .iter()
                .chain(&d.signoff_notes)
                .map(|n| Cow::Borrowed(n.as_str()))
                .collect(),
            outcome: d.outcome,
            package: Cow::Borrowed(&f.package),
            package_version: Cow::Borrowed(&f.package_version),
            score: d.score.as_ref().map(|s| s.value),
            score_source: d.score.as_ref().map(Shown::Score),
            severity: f.severity,
            signoff: d.signoff.map(|i| Shown::Signoff(&self.signoffs[i])),
        }
    }

    pub(crate) fn image_record(&self, image: &'a Judged, d: &'a ImageDecision) -> ImageRecord<'a> {
        let i = &image.scan.image;
        let s = &image.scan;
        ImageRecord {
            acquisition: image.acquisition.as_ref().map(Cow::Borrowed),
            counts: OUTCOMES
                .iter()
                .map(|&o| (Cow::Borrowed(o.as_str()), d.count(o)))
                .collect(),
            digest: Cow::Borrowed(&i.digest),
            findings: d.findings.iter().map(|f| self.record(image, f)).collect(),
            findings_pages: Cow::Borrowed(&image.pages),
            reasons: Cow::Borrowed(&d.reasons),
            reference: Cow::Borrowed(&image.reference),
            registry: image.registry.as_deref().map(Cow::Borrowed),
            registry_id: i.registry_id.as_deref().map(Cow::Borrowed),
            repository: Cow::Borrowed(&i.repository),
            scan: ScanSummary {
                completed_at: s.completed_at.map(|t| t.to_string()),
                findings: s.findings.len(),
                pages: s.pages,
                severity_counts: Cow::Borrowed(&s.severity_counts),
                status: Cow::Borrowed(&s.status),
                vulnerability_source_updated_at: s.source_updated_at.map(|t| t.to_string()),
            },
            source: s.source,
            tag: i.tag.as_deref().map(Cow::Borrowed),
            verdict: d.verdict,
            warnings: image.notes.iter().chain(&d.warnings).map(Cow::Borrowed).collect(),
        }
    }

    /// Every warning: each image's reading notes, then the decision's.
    pub(crate) fn warnings(&self) -> Vec<Cow<'a, Diagnostic>> {
        self.images
            .iter()
            .flat_map(|i| &i.notes)
            .chain(&self.decision.warnings)
            .map(Cow::Borrowed)
            .collect()
    }

    /// The release's findings counted by outcome, over every image.
    pub(crate) fn counts(&self) -> BTreeMap<Cow<'a, str>, usize> {
        OUTCOMES
            .iter()
            .map(|&o| (Cow::Borrowed(o.as_str()), self.decision.count(o)))
            .collect()
    }
}

pub(crate) const OUTCOMES: [Outcome; 5] = [
    Outcome::Blocked,
    Outcome::NeedsSignoff,
    Outcome::SignedOff,
    Outcome::Warned,
    Outcome::Allowed,
];

pub(crate) const TOOL: &str = "bbgate";
pub(crate) const VERSION: &str = env!("CARGO_PKG_VERSION");

/// One image of the release as the JSON output and the evidence write it, and as deploy reads it back.
/// Borrowed when written (no copies for 100k findings), owned when read. Field order is alphabetical by
/// serialised name: the evidence's canonical form is its serialisation.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ImageRecord<'a> {
    pub(crate) acquisition: Option<Cow<'a, Acquisition>>,
    pub(crate) counts: BTreeMap<Cow<'a, str>, usize>,
    pub(crate) digest: Cow<'a, str>,
    pub(crate) findings: Vec<FindingRecord<'a>>,
    pub(crate) findings_pages: Cow<'a, [FileDigest]>,
    pub(crate) reasons: Cow<'a, [Diagnostic]>,
    #[serde(rename = "ref")]
    pub(crate) reference: Cow<'a, str>,
    pub(crate) registry: Option<Cow<'a, str>>,
    pub(crate) registry_id: Option<Cow<'a, str>>,
    pub(crate) repository: Cow<'a, str>,
    pub(crate) scan: ScanSummary<'a>,
    /// Who scanned: `ecr`, or `trivy`/`grype` for a prediction from a developer's report (deploy refuses those).
    #[serde(default = "ecr_source")]
    pub(crate) source: crate::findings::ScanSource,
    pub(crate) tag: Option<Cow<'a, str>>,
    pub(crate) verdict: Verdict,
    pub(crate) warnings: Vec<Cow<'a, Diagnostic>>,
}

fn ecr_source() -> crate::findings::ScanSource {
    crate::findings::ScanSource::Ecr
}

/// The scan an image was judged on (field order alphabetical).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ScanSummary<'a> {
    pub(crate) completed_at: Option<String>,
    pub(crate) findings: usize,
    pub(crate) pages: usize,
    pub(crate) severity_counts: Cow<'a, BTreeMap<String, u64>>,
    pub(crate) status: Cow<'a, str>,
    pub(crate) vulnerability_source_updated_at: Option<String>,
}

/// One finding as every output writes it (field order alphabetical, see `ImageRecord`).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct FindingRecord<'a> {
    /// The advisory to read (ECR basic `uri`, enhanced `sourceUrl`).
    pub(crate) advisory: Option<Cow<'a, str>>,
    pub(crate) basis: Shown<'a>,
    /// The version that fixes it (enhanced `fixedInVersion`), or the remediation's text.
    pub(crate) fixed_in: Option<Cow<'a, str>>,
    pub(crate) id: Cow<'a, str>,
    pub(crate) notes: Vec<Cow<'a, str>>,
    pub(crate) outcome: Outcome,
    pub(crate) package: Cow<'a, str>,
    pub(crate) package_version: Cow<'a, str>,
    pub(crate) score: Option<f64>,
    pub(crate) score_source: Option<Shown<'a>>,
    pub(crate) severity: Severity,
    pub(crate) signoff: Option<Shown<'a>>,
}

/// A value written as its text: the decision's own value when verify writes (no string is built until it is
/// serialised), the text when the record is read back.
pub(crate) enum Shown<'a> {
    Basis(&'a Basis),
    Score(&'a crate::findings::Score),
    /// A sign-off as findings cite it: where it is, who approved it, until when, its analysis and mitigation.
    Signoff(&'a SignOff),
    Text(String),
}

impl std::fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Shown::Basis(b) => b.fmt(f),
            Shown::Score(s) => s.fmt(f),
            // What the admins accepted and why, wherever the finding is shown (table, JSON, Markdown, HTML, SARIF).
            Shown::Signoff(s) => write!(
                f,
                "{} (approved by {}, expires {}): {}; mitigation: {}",
                s.location, s.approved_by, s.expires, s.analysis, s.mitigation
            ),
            Shown::Text(t) => f.write_str(t),
        }
    }
}

impl std::fmt::Debug for Shown<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.to_string())
    }
}

impl Serialize for Shown<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Shown<'_> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Shown::Text)
    }
}
