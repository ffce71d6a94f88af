//! Reports of the scanners BB developers run on their laptops, Trivy (JSON, SchemaVersion 2) and Grype (JSON),
//! read into the same findings as an ECR scan, so that the gate can predict its verdict before the image is
//! pushed. A prediction is marked as one (`ScanSource::Trivy`/`Grype`): the sandbox decides on ECR's scan.
//!
//! Scores follow the ECR rules: every CVSS entry becomes a candidate of its version's kind (a published score
//! reconciled with its vector, upwards when they disagree), and the policy's `score_preference` picks the kind,
//! then the highest of that kind across sources (NVD, GHSA, the distro…). The severity label decides only when
//! no score exists, as for ECR.

use super::ecr::{Page, is_repository_name, is_sha256_digest};
use super::{Finding, ImageRef, Scan, ScanSource, ScanType, ScoreCandidate, ScoreKind, Severity, cvss, intern_source};
use crate::error::{Error, Result};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// Which local scanner wrote `doc`, by its content (never by file name).
pub fn detect(doc: &Value) -> Option<ScanSource> {
    let obj = doc.as_object()?;
    if obj.contains_key("SchemaVersion") && (obj.contains_key("Results") || obj.contains_key("ArtifactName")) {
        return Some(ScanSource::Trivy);
    }
    if obj.contains_key("matches") && (obj.contains_key("descriptor") || obj.contains_key("source")) {
        return Some(ScanSource::Grype);
    }
    None
}

fn here(path: &Path, msg: impl std::fmt::Display) -> Error {
    Error::invalid(format!("{}: {msg}", path.display()))
}

/// A scanner's name for what it read from a file rather than from a registry (`trivy image --input x.tar`,
/// `grype docker-archive:x.tar`): a path, not an image, so it says nothing of whose image it is.
fn names_a_file(reference: &str) -> bool {
    const SCHEMES: [&str; 7] = [
        "docker-archive:",
        "oci-archive:",
        "oci-dir:",
        "dir:",
        "file:",
        "sbom:",
        "singularity:",
    ];
    SCHEMES.iter().any(|s| reference.starts_with(s))
        || [".tar", ".tar.gz", ".tgz", ".tar.zst"]
            .iter()
            .any(|x| reference.ends_with(x))
        || reference.starts_with('/')
        || reference.starts_with("./")
        || reference.starts_with("../")
}

/// The image the report is about: its repository (as the sandbox's ECR names it), tag and digest. `named` is
/// the image the user says it is (`--image`): taken when the report names none, checked when it names one.
fn image(
    path: &Path,
    source: ScanSource,
    references: &[&str],
    digest: Option<&str>,
    named: Option<&str>,
) -> Result<ImageRef> {
    let what = source.name();
    let own = references.iter().find(|r| !r.is_empty() && !names_a_file(r)).copied();
    let reference = match (own, named) {
        (Some(own), Some(named)) => {
            let (a, b) = (
                crate::reference::Reference::parse(own).path,
                crate::reference::Reference::parse(named).path,
            );
            if a != b {
                return Err(here(
                    path,
                    format!(
                        "the {what} report is of {own:?}, not of --image {named:?}: give the report of that image, or leave --image out"
                    ),
                ));
            }
            own
        }
        (Some(own), None) => own,
        (None, Some(named)) => named,
        (None, None) => {
            return Err(here(
                path,
                format!(
                    "the {what} report names no image (scanned from a file?): say which image it is with \
                     --image REPO[:TAG|@sha256:DIGEST] (e.g. --image bb/payments/emulator@sha256:…), or scan the \
                     image by its name (`{} bb/payments/emulator:dev`)",
                    match source {
                        ScanSource::Grype => "grype -o json",
                        _ => "trivy image --format json",
                    }
                ),
            ));
        }
    };
    // The repository as ECR names it: the path, without the registry host.
    let crate::reference::Reference {
        path: repository,
        tag,
        digest: ref_digest,
        ..
    } = crate::reference::Reference::parse(reference);
    if !is_repository_name(&repository) {
        return Err(here(
            path,
            format!(
                "the {what} report's image {reference:?} does not name an ECR repository ({repository:?}): scan the \
                 image under its sandbox name, e.g. bb/payments/emulator:dev"
            ),
        ));
    }
    let digest = ref_digest
        .filter(|d| is_sha256_digest(d))
        .or_else(|| digest.filter(|d| is_sha256_digest(d)).map(str::to_owned))
        .ok_or_else(|| here(path, format!("the {what} report gives no sha256 digest of the image")))?;
    Ok(ImageRef {
        registry_id: None,
        repository,
        digest,
        tag,
    })
}

/// One CVSS entry as a candidate: the published score reconciled with the vector.
fn candidate(
    kind: ScoreKind,
    source: &str,
    score: Option<&Value>,
    vector: Option<&Value>,
    id: &str,
    notes: &mut Vec<String>,
    unreadable: &mut bool,
) -> Result<Option<ScoreCandidate>> {
    let published = match score {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => Some(
            n.as_f64()
                .filter(|v| v.is_finite() && (0.0..=10.0).contains(v))
                .ok_or_else(|| Error::invalid(format!("{id}: {source} score {n} is not between 0 and 10")))?,
        ),
        Some(other) => return Err(Error::invalid(format!("{id}: {source} score {other} is not a number"))),
    };
    let vector = match vector {
        None | Some(Value::Null) => None,
        Some(Value::String(v)) if v.is_empty() => None,
        Some(Value::String(v)) => Some(v.as_str()),
        Some(other) => return Err(Error::invalid(format!("{id}: {source} vector {other} is not a string"))),
    };
    if published.is_none() && vector.is_none() {
        return Ok(None);
    }
    let (value, note) = cvss::reconcile(published, vector);
    if let Some(n) = note {
        notes.push(format!("{source}: {n}"));
    }
    match value {
        Some(value) => Ok(Some(ScoreCandidate {
            kind,
            value,
            source: intern_source(source),
        })),
        None => {
            *unreadable = true;
            Ok(None)
        }
    }
}

/// A severity label in the scanner's own vocabulary (Trivy: UNKNOWN, LOW, MEDIUM, HIGH, CRITICAL; Grype:
/// Unknown, Negligible, Low, Medium, High, Critical). Anything else is refused: a bogus label read as
/// "unscored" would let a report decide with less than it says.
fn severity(source: ScanSource, label: Option<&str>) -> std::result::Result<Severity, String> {
    let label = label.unwrap_or("");
    let known = match source {
        ScanSource::Grype => ["Unknown", "Negligible", "Low", "Medium", "High", "Critical"].contains(&label),
        _ => ["UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL"].contains(&label),
    };
    if !known {
        return Err(format!(
            "severity {label:?} is not one {} writes ({})",
            source.name(),
            match source {
                ScanSource::Grype => "Unknown, Negligible, Low, Medium, High, Critical",
                _ => "UNKNOWN, LOW, MEDIUM, HIGH, CRITICAL",
            }
        ));
    }
    Ok(match label.to_ascii_uppercase().as_str() {
        "CRITICAL" => Severity::Critical,
        "HIGH" => Severity::High,
        "MEDIUM" => Severity::Medium,
        "LOW" => Severity::Low,
        "NEGLIGIBLE" => Severity::Informational,
        _ => Severity::Undefined,
    })
}

/// The keys the Trivy and Grype readers use, at any depth; under `CVSS` (Trivy's map of sources) every key is
/// kept. Everything else (descriptions, references, layers, SBOM details: most of a report's bytes) is skipped
/// while reading, so a report costs memory in proportion to what decides, not to its size.
const KEPT_KEYS: &[&str] = &[
    // Trivy
    "SchemaVersion",
    "ArtifactName",
    "CreatedAt",
    "Metadata",
    "RepoDigests",
    "RepoTags",
    "ImageID",
    "Results",
    "Vulnerabilities",
    "VulnerabilityID",
    "CVSS",
    "PkgName",
    "InstalledVersion",
    "Severity",
    "FixedVersion",
    "PrimaryURL",
    "V2Score",
    "V2Vector",
    "V3Score",
    "V3Vector",
    "V40Score",
    "V40Vector",
    // Grype
    "matches",
    "descriptor",
    "timestamp",
    "source",
    "target",
    "repoDigests",
    "tags",
    "userInput",
    "manifestDigest",
    "imageID",
    "vulnerability",
    "id",
    "severity",
    "cvss",
    "version",
    "vector",
    "metrics",
    "baseScore",
    "relatedVulnerabilities",
    "namespace",
    "artifact",
    "name",
    "fix",
    "state",
    "versions",
    "dataSource",
    "urls",
];

/// A scanner report read as JSON with every object's keys unique (serde_json keeps the last of two silently,
/// and which one another reader keeps is its own choice, so `{"Severity": "LOW", "Severity": "CRITICAL"}` is
/// refused, never read one way), keeping only `KEPT_KEYS`.
pub fn strict_json(text: &str) -> std::result::Result<Value, serde_json::Error> {
    use serde::de::{DeserializeSeed, IgnoredAny};
    #[derive(Clone, Copy)]
    struct Seed {
        keep_all: bool,
    }
    impl<'de> DeserializeSeed<'de> for Seed {
        type Value = Value;
        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<Value, D::Error> {
            d.deserialize_any(self)
        }
    }
    impl<'de> serde::de::Visitor<'de> for Seed {
        type Value = Value;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("JSON")
        }
        fn visit_bool<E>(self, v: bool) -> std::result::Result<Value, E> {
            Ok(Value::Bool(v))
        }
        fn visit_i64<E>(self, v: i64) -> std::result::Result<Value, E> {
            Ok(Value::from(v))
        }
        fn visit_u64<E>(self, v: u64) -> std::result::Result<Value, E> {
            Ok(Value::from(v))
        }
        fn visit_f64<E>(self, v: f64) -> std::result::Result<Value, E> {
            Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
        }
        fn visit_str<E>(self, v: &str) -> std::result::Result<Value, E> {
            Ok(Value::String(v.to_owned()))
        }
        fn visit_string<E>(self, v: String) -> std::result::Result<Value, E> {
            Ok(Value::String(v))
        }
        fn visit_unit<E>(self) -> std::result::Result<Value, E> {
            Ok(Value::Null)
        }
        fn visit_none<E>(self) -> std::result::Result<Value, E> {
            Ok(Value::Null)
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Value, A::Error> {
            let mut out = Vec::new();
            while let Some(v) = seq.next_element_seed(Seed { keep_all: false })? {
                out.push(v);
            }
            Ok(Value::Array(out))
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> std::result::Result<Value, A::Error> {
            let mut out = serde_json::Map::new();
            let mut skipped: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
            while let Some(key) = map.next_key::<String>()? {
                if out.contains_key(&key) || skipped.contains(&key) {
                    return Err(serde::de::Error::custom(format!(
                        "key {key:?} is given twice in one object: which value counts is ambiguous"
                    )));
                }
                if self.keep_all || KEPT_KEYS.contains(&key.as_str()) {
                    let v = map.next_value_seed(Seed {
                        keep_all: key == "CVSS",
                    })?;
                    out.insert(key, v);
                } else {
                    map.next_value::<IgnoredAny>()?;
                    skipped.insert(key);
                }
            }
            Ok(Value::Object(out))
        }
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let v = Seed { keep_all: false }.deserialize(&mut de)?;
    de.end()?;
    Ok(v)
}

fn text<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn array<'v>(path: &Path, v: &'v Value, key: &str, at: &str) -> Result<&'v [Value]> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(_) => Err(here(
            path,
            format!("{at}.{key} is not a list: not a report bbgate knows how to read"),
        )),
    }
}

fn timestamp(path: &Path, t: Option<&str>) -> Result<Option<jiff::Timestamp>> {
    match t {
        None => Ok(None),
        Some(t) => t
            .parse::<jiff::Timestamp>()
            .map(Some)
            .map_err(|e| here(path, format!("timestamp {t:?} is not RFC 3339: {e}"))),
    }
}

fn scan(image: ImageRef, source: ScanSource, completed_at: Option<jiff::Timestamp>, findings: Vec<Finding>) -> Scan {
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for f in &findings {
        *counts.entry(f.severity.as_str().to_owned()).or_default() += 1;
    }
    Scan {
        image,
        status: "COMPLETE".to_owned(),
        status_description: Some(format!("a local {} report (a prediction)", source.as_str())),
        completed_at,
        source_updated_at: None,
        severity_counts: counts,
        findings,
        pages: 1,
        source,
    }
}

/// A Trivy JSON report (`trivy image --format json`, SchemaVersion 2).
pub fn parse_trivy(path: &Path, doc: &Value, named: Option<&str>) -> Result<Page> {
    let version = doc.get("SchemaVersion").and_then(Value::as_i64);
    if version != Some(2) {
        return Err(here(
            path,
            format!(
                "Trivy report SchemaVersion {} is not 2: bbgate reads Trivy's current JSON (trivy 0.20 and later, \
                 `--format json`)",
                doc.get("SchemaVersion").map_or("(none)".to_owned(), Value::to_string)
            ),
        ));
    }
    let meta = doc.get("Metadata").unwrap_or(&Value::Null);
    let mut references: Vec<&str> = Vec::new();
    references.extend(
        array(path, meta, "RepoDigests", "Metadata")?
            .iter()
            .filter_map(Value::as_str),
    );
    references.extend(
        array(path, meta, "RepoTags", "Metadata")?
            .iter()
            .filter_map(Value::as_str),
    );
    references.extend(text(doc, "ArtifactName"));
    let repo_digest = array(path, meta, "RepoDigests", "Metadata")?
        .iter()
        .filter_map(Value::as_str)
        .find_map(|r| r.split_once('@').map(|(_, d)| d));
    let image = image(
        path,
        ScanSource::Trivy,
        &references,
        repo_digest.or(text(meta, "ImageID")),
        named,
    )?;
    let mut findings = Vec::new();
    for (ri, result) in array(path, doc, "Results", "")?.iter().enumerate() {
        for (vi, v) in array(path, result, "Vulnerabilities", &format!("Results[{ri}]"))?
            .iter()
            .enumerate()
        {
            let at = format!("Results[{ri}].Vulnerabilities[{vi}]");
            let id = text(v, "VulnerabilityID")
                .ok_or_else(|| here(path, format!("{at} has no VulnerabilityID")))?
                .to_owned();
            let mut notes = Vec::new();
            let mut unreadable = false;
            let mut candidates = Vec::new();
            if let Some(map) = v.get("CVSS") {
                let map = map
                    .as_object()
                    .ok_or_else(|| here(path, format!("{at}.CVSS is not a map of sources")))?;
                for (source, entry) in map {
                    for (kind, score, vector) in [
                        (ScoreKind::Cvss2, "V2Score", "V2Vector"),
                        (ScoreKind::Cvss3, "V3Score", "V3Vector"),
                        (ScoreKind::Cvss4, "V40Score", "V40Vector"),
                    ] {
                        let c = candidate(
                            kind,
                            source,
                            entry.get(score),
                            entry.get(vector),
                            &id,
                            &mut notes,
                            &mut unreadable,
                        )
                        .map_err(|e| here(path, format!("{at}: {e}")))?;
                        candidates.extend(c);
                    }
                }
            }
            findings.push(Finding {
                package: text(v, "PkgName").unwrap_or("").to_owned(),
                package_version: text(v, "InstalledVersion").unwrap_or("").to_owned(),
                severity: severity(ScanSource::Trivy, text(v, "Severity"))
                    .map_err(|e| here(path, format!("{at}: {e}")))?,
                scan_type: ScanType::Basic,
                candidates,
                notes,
                unreadable_score: unreadable,
                fixed_in: text(v, "FixedVersion").map(str::to_owned),
                advisory: text(v, "PrimaryURL").map(str::to_owned),
                id,
            });
        }
    }
    Ok(Page {
        path: path.to_path_buf(),
        scan: scan(
            image,
            ScanSource::Trivy,
            timestamp(path, text(doc, "CreatedAt"))?,
            findings,
        ),
        has_next_token: false,
    })
}

/// A Grype JSON report (`grype -o json`).
pub fn parse_grype(path: &Path, doc: &Value, named: Option<&str>) -> Result<Page> {
    let target = doc.pointer("/source/target").unwrap_or(&Value::Null);
    let mut references: Vec<&str> = Vec::new();
    references.extend(
        array(path, target, "repoDigests", "source.target")?
            .iter()
            .filter_map(Value::as_str),
    );
    references.extend(
        array(path, target, "tags", "source.target")?
            .iter()
            .filter_map(Value::as_str),
    );
    references.extend(text(target, "userInput"));
    let image = image(
        path,
        ScanSource::Grype,
        &references,
        text(target, "manifestDigest").or(text(target, "imageID")),
        named,
    )?;
    let mut findings = Vec::new();
    for (mi, m) in array(path, doc, "matches", "")?.iter().enumerate() {
        let at = format!("matches[{mi}]");
        let vuln = m
            .get("vulnerability")
            .filter(|v| v.is_object())
            .ok_or_else(|| here(path, format!("{at} has no vulnerability")))?;
        let id = text(vuln, "id")
            .ok_or_else(|| here(path, format!("{at}.vulnerability has no id")))?
            .to_owned();
        let mut notes = Vec::new();
        let mut unreadable = false;
        let mut candidates = Vec::new();
        // The match's own scores, then those of its related records (a GHSA match carries the CVE's NVD scores).
        let mut entries: Vec<(&Value, String)> = Vec::new();
        for e in array(path, vuln, "cvss", &format!("{at}.vulnerability"))? {
            entries.push((e, text(e, "source").unwrap_or("grype").to_owned()));
        }
        for (ri, related) in array(path, m, "relatedVulnerabilities", &at)?.iter().enumerate() {
            for e in array(path, related, "cvss", &format!("{at}.relatedVulnerabilities[{ri}]"))? {
                let source = text(e, "source").or(text(related, "namespace")).unwrap_or("related");
                entries.push((e, format!("{source} ({})", text(related, "id").unwrap_or("related"))));
            }
        }
        for (e, source) in entries {
            let version = text(e, "version").unwrap_or("");
            let Some(kind) = ScoreKind::from_cvss_version(version).or_else(|| {
                text(e, "vector")
                    .and_then(|v| v.split('/').next())
                    .and_then(ScoreKind::from_cvss_version)
            }) else {
                // As for ECR: an entry of an unknown version that carries a score is refused (on which scale
                // would it be read?); one without a score leaves the finding to its label and `unscored`.
                if e.pointer("/metrics/baseScore").is_some_and(|s| !s.is_null()) {
                    return Err(here(
                        path,
                        format!(
                            "{at}: {source}: CVSS version {version:?} is not 2, 3 or 4, and the entry carries a score: \
                             which scale it is on is unknown"
                        ),
                    ));
                }
                notes.push(format!(
                    "{source}: CVSS version {version:?} is not 2, 3 or 4 and carries no score; entry ignored"
                ));
                unreadable = true;
                continue;
            };
            let c = candidate(
                kind,
                &source,
                e.pointer("/metrics/baseScore"),
                e.get("vector"),
                &id,
                &mut notes,
                &mut unreadable,
            )
            .map_err(|err| here(path, format!("{at}: {err}")))?;
            candidates.extend(c);
        }
        let artifact = m.get("artifact").unwrap_or(&Value::Null);
        let fixed: Vec<&str> = if text(vuln.get("fix").unwrap_or(&Value::Null), "state") == Some("fixed") {
            array(path, vuln.get("fix").unwrap_or(&Value::Null), "versions", &at)?
                .iter()
                .filter_map(Value::as_str)
                .collect()
        } else {
            Vec::new()
        };
        findings.push(Finding {
            package: text(artifact, "name").unwrap_or("").to_owned(),
            package_version: text(artifact, "version").unwrap_or("").to_owned(),
            severity: severity(ScanSource::Grype, text(vuln, "severity"))
                .map_err(|e| here(path, format!("{at}.vulnerability: {e}")))?,
            scan_type: ScanType::Basic,
            candidates,
            notes,
            unreadable_score: unreadable,
            fixed_in: (!fixed.is_empty()).then(|| fixed.join(", ")),
            advisory: text(vuln, "dataSource")
                .or_else(|| array(path, vuln, "urls", &at).ok()?.iter().find_map(Value::as_str))
                .map(str::to_owned),
            id,
        });
    }
    let timestamp = timestamp(
        path,
        doc.pointer("/descriptor/timestamp")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty()),
    )?;
    Ok(Page {
        path: path.to_path_buf(),
        scan: scan(image, ScanSource::Grype, timestamp, findings),
        has_next_token: false,
    })
}
