//! Vulnerability findings, normalised from ECR scan pages (basic and enhanced) into one shape.

pub mod cvss;
pub mod ecr;
pub mod local;

use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// A JSON object whose keys must be unique: a map keeps the last of two silently, so
/// `{"CRITICAL": 1, "CRITICAL": 0}` would read as no critical at all. `W` says what the object is.
pub(crate) struct UniqueMap<T, W>(pub(crate) BTreeMap<String, T>, std::marker::PhantomData<W>);

/// What a `UniqueMap` holds, for serde's message and the refusal of a key given twice.
pub(crate) trait MapOf {
    const EXPECTING: &'static str;
    fn twice(key: &str) -> String;
}

impl<'de, T: Deserialize<'de>, W: MapOf> Deserialize<'de> for UniqueMap<T, W> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V<T, W>(std::marker::PhantomData<(T, W)>);
        impl<'de, T: Deserialize<'de>, W: MapOf> serde::de::Visitor<'de> for V<T, W> {
            type Value = UniqueMap<T, W>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(W::EXPECTING)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> std::result::Result<Self::Value, A::Error> {
                let mut out = BTreeMap::new();
                while let Some((k, v)) = m.next_entry::<String, T>()? {
                    if out.contains_key(&k) {
                        return Err(serde::de::Error::custom(W::twice(&k)));
                    }
                    out.insert(k, v);
                }
                Ok(UniqueMap(out, std::marker::PhantomData))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

/// Read a scanner's JSON as typed, the one rule for ECR, Trivy and Grype: a value of the wrong shape is refused
/// naming where it is (`Results[2].Vulnerabilities[0].CVSS.nvd.V3Score: invalid type …`), not only a line and
/// column. Keys no reader needs are skipped, as AWS's and the scanners' own clients skip them; `Err.1` is true
/// when the text ended early (a truncated save).
pub(crate) fn read_json<'a, T: Deserialize<'a>>(text: &'a str) -> std::result::Result<T, (String, bool)> {
    // The fast read first: tracking the path of every value costs a third more time and memory on a big report,
    // and a report that reads is the common case. A refused one is read again, the same way, to say where.
    let err = match serde_json::from_str::<T>(text) {
        Ok(v) => return Ok(v),
        Err(e) => e,
    };
    let eof = err.is_eof();
    let mut de = serde_json::Deserializer::from_str(text);
    match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Err(e) => match e.path().to_string().as_str() {
            "." | "" => Err((e.inner().to_string(), eof)),
            at => Err((format!("at `{at}`: {}", e.inner()), eof)),
        },
        // Only the end of the text was wrong (trailing characters): serde_json's own message says where.
        Ok(_) => Err((err.to_string(), eof)),
    }
}

/// Which family a score belongs to; the policy's `score_preference` orders these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScoreKind {
    Cvss3,
    Cvss4,
    Cvss2,
    /// An enhanced finding's own `score` (Inspector's, possibly environment-adjusted).
    Ecr,
}

impl ScoreKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ScoreKind::Cvss3 => "cvss3",
            ScoreKind::Cvss4 => "cvss4",
            ScoreKind::Cvss2 => "cvss2",
            ScoreKind::Ecr => "ecr",
        }
    }

    /// The kind a CVSS `version` string ("2.0", "3.1", "4.0") names.
    /// The CVSS major version as feeds spell it: `3.1`, `3.1.0`, `CVSSv3`, `CVSS:3.1`, `v2`, `4.0`.
    pub fn from_cvss_version(version: &str) -> Option<Self> {
        let v = version.trim();
        let v = v
            .strip_prefix("CVSS")
            .or_else(|| v.strip_prefix("cvss"))
            .unwrap_or(v)
            .trim_start_matches([':', 'v', 'V', ' ']);
        let (major, rest) = v.split_once('.').unwrap_or((v, ""));
        if !rest
            .split('.')
            .all(|p| p.is_empty() || p.bytes().all(|b| b.is_ascii_digit()))
        {
            return None;
        }
        match major {
            "2" => Some(ScoreKind::Cvss2),
            "3" => Some(ScoreKind::Cvss3),
            "4" => Some(ScoreKind::Cvss4),
            _ => None,
        }
    }
}

/// One score a finding carries, before the policy picks one.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreCandidate {
    pub kind: ScoreKind,
    /// The score used: the published one, or computed from the vector, or the higher of both when they disagree.
    pub value: f64,
    /// Where it came from, e.g. `NVD`, `CVSS2_SCORE`, `ecr score` (interned: these repeat on every finding).
    pub source: Cow<'static, str>,
}

/// The score the policy chose for a finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Score {
    pub value: f64,
    pub kind: ScoreKind,
    pub source: Cow<'static, str>,
}

impl std::fmt::Display for Score {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind.as_str(), self.source)
    }
}

/// Share the score sources that occur on nearly every finding instead of allocating each.
pub fn intern_source(s: &str) -> Cow<'static, str> {
    const KNOWN: &[&str] = &[
        "NVD",
        "CVSS2_SCORE",
        "CVSS3_SCORE",
        "ecr score",
        "ecr score (NVD)",
        "DEBIAN_CVE",
        "UBUNTU_CVE",
        "REDHAT_CVE",
        "AMAZON_CVE",
        "GITHUB",
        "ALPINE_SECDB",
        "cvss[]",
    ];
    match KNOWN.iter().find(|k| **k == s) {
        Some(k) => Cow::Borrowed(k),
        None => Cow::Owned(s.to_owned()),
    }
}

/// ECR's severity label: the distro's urgency or Inspector's band, never a CVSS score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    Informational,
    Low,
    Medium,
    High,
    Critical,
    Undefined,
    Untriaged,
}

impl Severity {
    pub fn parse(label: &str) -> Option<Self> {
        Some(match label {
            "INFORMATIONAL" => Severity::Informational,
            "LOW" => Severity::Low,
            "MEDIUM" => Severity::Medium,
            "HIGH" => Severity::High,
            "CRITICAL" => Severity::Critical,
            "UNDEFINED" => Severity::Undefined,
            "UNTRIAGED" => Severity::Untriaged,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Informational => "INFORMATIONAL",
            Severity::Low => "LOW",
            Severity::Medium => "MEDIUM",
            Severity::High => "HIGH",
            Severity::Critical => "CRITICAL",
            Severity::Undefined => "UNDEFINED",
            Severity::Untriaged => "UNTRIAGED",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ScanType {
    Basic,
    Enhanced,
}

/// Who scanned: ECR (what the sandbox decides on), or a scanner on a developer's machine (a prediction).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScanSource {
    Ecr,
    Trivy,
    Grype,
}

impl ScanSource {
    pub fn as_str(self) -> &'static str {
        match self {
            ScanSource::Ecr => "ecr",
            ScanSource::Trivy => "trivy",
            ScanSource::Grype => "grype",
        }
    }

    /// The scanner's name, as its users write it.
    pub fn name(self) -> &'static str {
        match self {
            ScanSource::Ecr => "ECR",
            ScanSource::Trivy => "Trivy",
            ScanSource::Grype => "Grype",
        }
    }

    /// A local scanner's report predicts the gate's verdict; only ECR's scan decides.
    pub fn predicted(self) -> bool {
        self != ScanSource::Ecr
    }
}

/// One vulnerability in one package of the image.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// CVE-…, GHSA-…: what sign-offs name.
    pub id: String,
    /// Package name; several vulnerable packages of one enhanced finding are joined with ", ".
    pub package: String,
    pub package_version: String,
    pub severity: Severity,
    pub scan_type: ScanType,
    pub candidates: Vec<ScoreCandidate>,
    /// Things worth telling a reader about this finding's scores (a score that disagrees with its vector…).
    pub notes: Vec<String>,
    /// A score entry was present that could not be read (a vector that does not parse, and no published
    /// score): the finding's label alone may understate it, so the policy's `unscored` rule also applies.
    pub unreadable_score: bool,
    /// The version that fixes it, when the scan says (enhanced: `fixedInVersion`), or the remediation text.
    pub fixed_in: Option<String>,
    /// The advisory to read (basic: `uri`; enhanced: `sourceUrl`, else the remediation's `url`).
    pub advisory: Option<String>,
}

impl Finding {
    /// The first kind in `preference` present on this finding wins; of several of that kind, the highest.
    pub fn select_score(&self, preference: &[ScoreKind]) -> Option<Score> {
        preference.iter().find_map(|&kind| {
            self.candidates
                .iter()
                .filter(|c| c.kind == kind)
                .max_by(|a, b| a.value.total_cmp(&b.value))
                .map(|c| Score {
                    value: c.value,
                    kind,
                    source: c.source.clone(),
                })
        })
    }
}

/// The image a scan is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageRef {
    pub registry_id: Option<String>,
    pub repository: String,
    pub digest: String,
    pub tag: Option<String>,
}

/// A whole scan, merged from all its pages.
#[derive(Debug, Clone, PartialEq)]
pub struct Scan {
    pub image: ImageRef,
    pub status: String,
    pub status_description: Option<String>,
    pub completed_at: Option<jiff::Timestamp>,
    pub source_updated_at: Option<jiff::Timestamp>,
    pub severity_counts: BTreeMap<String, u64>,
    pub findings: Vec<Finding>,
    pub pages: usize,
    /// ECR, or the local scanner whose report this is (a prediction).
    pub source: ScanSource,
}
