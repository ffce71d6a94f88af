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
use serde::Deserialize;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

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
    let Some(reference) = own.or(named) else {
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
    };
    // The repository as ECR names it: the path, without the registry host.
    let crate::reference::Reference {
        path: repository,
        tag,
        digest: ref_digest,
        ..
    } = crate::reference::Reference::parse(reference);
    // A report that names its image must name the one --image says.
    if let Some(named) = named.filter(|n| crate::reference::Reference::parse(n).path != repository) {
        return Err(here(
            path,
            format!(
                "the {what} report is of {reference:?}, not of --image {named:?}: give the report of that image, or \
                 leave --image out"
            ),
        ));
    }
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

/// A text field: borrowed from the report when it holds no escape, empty read as absent.
type Text<'a> = Option<Cow<'a, str>>;

fn some<'t>(t: &'t Text<'_>) -> Option<&'t str> {
    t.as_deref().filter(|s| !s.is_empty())
}

/// Trivy's `CVSS` map of sources, refusing a source given twice.
struct CvssSources;

impl super::MapOf for CvssSources {
    const EXPECTING: &'static str = "a map of sources";
    fn twice(key: &str) -> String {
        format!("key {key:?} is given twice in one object: which value counts is ambiguous")
    }
}

/// What says which scanner wrote a report: its top-level keys, read without keeping anything.
#[derive(Deserialize)]
struct Probe {
    #[serde(rename = "SchemaVersion")]
    schema_version: Option<serde::de::IgnoredAny>,
    #[serde(rename = "Results")]
    results: Option<serde::de::IgnoredAny>,
    #[serde(rename = "ArtifactName")]
    artifact_name: Option<serde::de::IgnoredAny>,
    matches: Option<serde::de::IgnoredAny>,
    descriptor: Option<serde::de::IgnoredAny>,
    source: Option<serde::de::IgnoredAny>,
}

/// Read a local scanner's report, if `text` is one (None: it is not): Trivy or Grype, told by content.
/// Both are read typed and borrowed: only the fields that decide are kept (descriptions, references, layers
/// and SBOM details, most of a report's bytes, are skipped as they are read), and a field given twice in one
/// object is refused (serde_json's map would keep the last silently).
pub fn parse_local(path: &Path, text: &str, named: Option<&str>) -> Option<Result<Page>> {
    let probe: Probe = serde_json::from_str(text).ok()?;
    if probe.schema_version.is_some() && (probe.results.is_some() || probe.artifact_name.is_some()) {
        return Some(parse_trivy(path, text, named));
    }
    if probe.matches.is_some() && (probe.descriptor.is_some() || probe.source.is_some()) {
        return Some(parse_grype(path, text, named));
    }
    None
}

fn read_report<'a, T: Deserialize<'a>>(path: &Path, text: &'a str, what: &str) -> Result<T> {
    super::read_json(text).map_err(|(e, _)| here(path, format!("not a {what} report bbgate knows how to read: {e}")))
}

#[derive(Deserialize)]
struct TrivyDoc<'a> {
    #[serde(rename = "SchemaVersion")]
    schema_version: Option<Value>,
    #[serde(rename = "ArtifactName", borrow)]
    artifact_name: Text<'a>,
    #[serde(rename = "CreatedAt", borrow)]
    created_at: Text<'a>,
    #[serde(rename = "Metadata", borrow)]
    metadata: Option<TrivyMeta<'a>>,
    #[serde(rename = "Results", borrow)]
    results: Option<Vec<TrivyResult<'a>>>,
}

#[derive(Deserialize)]
struct TrivyMeta<'a> {
    #[serde(rename = "RepoDigests", borrow)]
    repo_digests: Option<Vec<Cow<'a, str>>>,
    #[serde(rename = "RepoTags", borrow)]
    repo_tags: Option<Vec<Cow<'a, str>>>,
    #[serde(rename = "ImageID", borrow)]
    image_id: Text<'a>,
}

#[derive(Deserialize)]
#[serde(expecting = "a Trivy result (an object with `Vulnerabilities`)")]
struct TrivyResult<'a> {
    #[serde(rename = "Vulnerabilities", borrow)]
    vulnerabilities: Option<Vec<TrivyVuln<'a>>>,
}

#[derive(Deserialize)]
#[serde(expecting = "a Trivy vulnerability (an object)")]
struct TrivyVuln<'a> {
    #[serde(rename = "VulnerabilityID", borrow)]
    id: Text<'a>,
    #[serde(rename = "PkgName", borrow)]
    package: Text<'a>,
    #[serde(rename = "InstalledVersion", borrow)]
    installed: Text<'a>,
    #[serde(rename = "FixedVersion", borrow)]
    fixed: Text<'a>,
    #[serde(rename = "PrimaryURL", borrow)]
    url: Text<'a>,
    #[serde(rename = "Severity", borrow)]
    severity: Text<'a>,
    #[serde(rename = "CVSS")]
    cvss: Option<super::UniqueMap<TrivyCvss, CvssSources>>,
}

/// One source's scores; the values are kept as JSON, so a score that is not a number is named, not skipped.
#[derive(Deserialize)]
#[serde(expecting = "one source's CVSS scores (an object of V2Score, V3Score, V40Score and vectors)")]
struct TrivyCvss {
    #[serde(rename = "V2Score")]
    v2_score: Option<Value>,
    #[serde(rename = "V2Vector")]
    v2_vector: Option<Value>,
    #[serde(rename = "V3Score")]
    v3_score: Option<Value>,
    #[serde(rename = "V3Vector")]
    v3_vector: Option<Value>,
    #[serde(rename = "V40Score")]
    v40_score: Option<Value>,
    #[serde(rename = "V40Vector")]
    v40_vector: Option<Value>,
}

/// A Trivy JSON report (`trivy image --format json`, SchemaVersion 2).
fn parse_trivy(path: &Path, text: &str, named: Option<&str>) -> Result<Page> {
    let doc: TrivyDoc = read_report(path, text, "Trivy")?;
    if doc.schema_version.as_ref().and_then(Value::as_i64) != Some(2) {
        return Err(here(
            path,
            format!(
                "Trivy report SchemaVersion {} is not 2: bbgate reads Trivy's current JSON (trivy 0.20 and later, \
                 `--format json`)",
                doc.schema_version
                    .as_ref()
                    .map_or("(none)".to_owned(), Value::to_string)
            ),
        ));
    }
    let (digests, tags, image_id) = match &doc.metadata {
        Some(m) => (
            m.repo_digests.as_deref().unwrap_or_default(),
            m.repo_tags.as_deref().unwrap_or_default(),
            some(&m.image_id),
        ),
        None => (&[][..], &[][..], None),
    };
    let mut references: Vec<&str> = digests.iter().chain(tags).map(|r| r.as_ref()).collect();
    references.extend(some(&doc.artifact_name));
    let repo_digest = digests.iter().find_map(|r| r.split_once('@').map(|(_, d)| d));
    let image = image(path, ScanSource::Trivy, &references, repo_digest.or(image_id), named)?;
    let mut findings = Vec::new();
    for (ri, result) in doc.results.iter().flatten().enumerate() {
        for (vi, v) in result.vulnerabilities.iter().flatten().enumerate() {
            let at = format!("Results[{ri}].Vulnerabilities[{vi}]");
            let id = some(&v.id)
                .ok_or_else(|| here(path, format!("{at} has no VulnerabilityID")))?
                .to_owned();
            let mut notes = Vec::new();
            let mut unreadable = false;
            let mut candidates = Vec::new();
            for (source, entry) in v.cvss.iter().flat_map(|m| m.0.iter()) {
                for (kind, score, vector) in [
                    (ScoreKind::Cvss2, &entry.v2_score, &entry.v2_vector),
                    (ScoreKind::Cvss3, &entry.v3_score, &entry.v3_vector),
                    (ScoreKind::Cvss4, &entry.v40_score, &entry.v40_vector),
                ] {
                    let c = candidate(
                        kind,
                        source,
                        score.as_ref(),
                        vector.as_ref(),
                        &id,
                        &mut notes,
                        &mut unreadable,
                    )
                    .map_err(|e| here(path, format!("{at}: {e}")))?;
                    candidates.extend(c);
                }
            }
            findings.push(Finding {
                package: some(&v.package).unwrap_or("").to_owned(),
                package_version: some(&v.installed).unwrap_or("").to_owned(),
                severity: severity(ScanSource::Trivy, some(&v.severity))
                    .map_err(|e| here(path, format!("{at}: {e}")))?,
                scan_type: ScanType::Basic,
                candidates,
                notes,
                unreadable_score: unreadable,
                fixed_in: some(&v.fixed).map(str::to_owned),
                advisory: some(&v.url).map(str::to_owned),
                id,
            });
        }
    }
    Ok(Page {
        path: path.to_path_buf(),
        scan: scan(
            image,
            ScanSource::Trivy,
            timestamp(path, some(&doc.created_at))?,
            findings,
        ),
        has_next_token: false,
    })
}

#[derive(Deserialize)]
struct GrypeDoc<'a> {
    #[serde(borrow)]
    matches: Option<Vec<GrypeMatch<'a>>>,
    #[serde(borrow)]
    source: Option<GrypeSource<'a>>,
    #[serde(borrow)]
    descriptor: Option<GrypeDescriptor<'a>>,
}

#[derive(Deserialize)]
struct GrypeSource<'a> {
    #[serde(borrow)]
    target: Option<GrypeTarget<'a>>,
}

/// `source.target`: an image's description, or a string (a directory or file scanned), which names no image.
#[derive(Deserialize)]
#[serde(untagged)]
enum GrypeTarget<'a> {
    Image {
        #[serde(rename = "userInput", borrow)]
        user_input: Text<'a>,
        #[serde(borrow)]
        tags: Option<Vec<Cow<'a, str>>>,
        #[serde(rename = "repoDigests", borrow)]
        repo_digests: Option<Vec<Cow<'a, str>>>,
        #[serde(rename = "manifestDigest", borrow)]
        manifest_digest: Text<'a>,
        #[serde(rename = "imageID", borrow)]
        image_id: Text<'a>,
    },
    Other(serde::de::IgnoredAny),
}

#[derive(Deserialize)]
struct GrypeDescriptor<'a> {
    #[serde(borrow)]
    timestamp: Text<'a>,
}

#[derive(Deserialize)]
#[serde(expecting = "a Grype match (an object with `vulnerability` and `artifact`)")]
struct GrypeMatch<'a> {
    #[serde(borrow)]
    vulnerability: Option<GrypeVuln<'a>>,
    #[serde(rename = "relatedVulnerabilities", borrow)]
    related: Option<Vec<GrypeRelated<'a>>>,
    #[serde(borrow)]
    artifact: Option<GrypeArtifact<'a>>,
}

#[derive(Deserialize)]
#[serde(expecting = "a Grype vulnerability (an object)")]
struct GrypeVuln<'a> {
    #[serde(borrow)]
    id: Text<'a>,
    #[serde(borrow)]
    severity: Text<'a>,
    #[serde(rename = "dataSource", borrow)]
    data_source: Text<'a>,
    #[serde(borrow)]
    urls: Option<Vec<Cow<'a, str>>>,
    #[serde(borrow)]
    cvss: Option<Vec<GrypeCvss<'a>>>,
    #[serde(borrow)]
    fix: Option<GrypeFix<'a>>,
}

#[derive(Deserialize)]
struct GrypeRelated<'a> {
    #[serde(borrow)]
    id: Text<'a>,
    #[serde(borrow)]
    namespace: Text<'a>,
    #[serde(borrow)]
    cvss: Option<Vec<GrypeCvss<'a>>>,
}

#[derive(Deserialize)]
struct GrypeCvss<'a> {
    #[serde(borrow)]
    source: Text<'a>,
    #[serde(borrow)]
    version: Text<'a>,
    vector: Option<Value>,
    metrics: Option<GrypeMetrics>,
}

#[derive(Deserialize)]
struct GrypeMetrics {
    #[serde(rename = "baseScore")]
    base_score: Option<Value>,
}

#[derive(Deserialize)]
struct GrypeFix<'a> {
    #[serde(borrow)]
    versions: Option<Vec<Cow<'a, str>>>,
    #[serde(borrow)]
    state: Text<'a>,
}

#[derive(Deserialize)]
struct GrypeArtifact<'a> {
    #[serde(borrow)]
    name: Text<'a>,
    #[serde(borrow)]
    version: Text<'a>,
}

/// A Grype JSON report (`grype -o json`).
fn parse_grype(path: &Path, text: &str, named: Option<&str>) -> Result<Page> {
    let doc: GrypeDoc = read_report(path, text, "Grype")?;
    let mut references: Vec<&str> = Vec::new();
    let mut digest = None;
    if let Some(GrypeTarget::Image {
        user_input,
        tags,
        repo_digests,
        manifest_digest,
        image_id,
    }) = doc.source.as_ref().and_then(|s| s.target.as_ref())
    {
        references.extend(repo_digests.iter().flatten().map(|r| r.as_ref()));
        references.extend(tags.iter().flatten().map(|r| r.as_ref()));
        references.extend(some(user_input));
        digest = some(manifest_digest).or(some(image_id));
    }
    let image = image(path, ScanSource::Grype, &references, digest, named)?;
    let mut findings = Vec::new();
    for (mi, m) in doc.matches.iter().flatten().enumerate() {
        let at = format!("matches[{mi}]");
        let vuln = m
            .vulnerability
            .as_ref()
            .ok_or_else(|| here(path, format!("{at} has no vulnerability")))?;
        let id = some(&vuln.id)
            .ok_or_else(|| here(path, format!("{at}.vulnerability has no id")))?
            .to_owned();
        let mut notes = Vec::new();
        let mut unreadable = false;
        let mut candidates = Vec::new();
        // The match's own scores, then those of its related records (a GHSA match carries the CVE's NVD scores).
        let mut entries: Vec<(&GrypeCvss, String)> = Vec::new();
        for e in vuln.cvss.iter().flatten() {
            entries.push((e, some(&e.source).unwrap_or("grype").to_owned()));
        }
        for related in m.related.iter().flatten() {
            for e in related.cvss.iter().flatten() {
                let source = some(&e.source).or(some(&related.namespace)).unwrap_or("related");
                entries.push((e, format!("{source} ({})", some(&related.id).unwrap_or("related"))));
            }
        }
        for (e, source) in entries {
            let version = some(&e.version).unwrap_or("");
            let score = e.metrics.as_ref().and_then(|m| m.base_score.as_ref());
            let Some(kind) = ScoreKind::from_cvss_version(version).or_else(|| {
                e.vector
                    .as_ref()
                    .and_then(Value::as_str)
                    .and_then(|v| v.split('/').next())
                    .and_then(ScoreKind::from_cvss_version)
            }) else {
                // As for ECR: an entry of an unknown version that carries a score is refused (on which scale
                // would it be read?); one without a score leaves the finding to its label and `unscored`.
                if score.is_some_and(|s| !s.is_null()) {
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
                score,
                e.vector.as_ref(),
                &id,
                &mut notes,
                &mut unreadable,
            )
            .map_err(|err| here(path, format!("{at}: {err}")))?;
            candidates.extend(c);
        }
        let fixed: Vec<&str> = match &vuln.fix {
            Some(f) if some(&f.state) == Some("fixed") => f.versions.iter().flatten().map(|v| v.as_ref()).collect(),
            _ => Vec::new(),
        };
        let (package, version) = match &m.artifact {
            Some(a) => (some(&a.name), some(&a.version)),
            None => (None, None),
        };
        findings.push(Finding {
            package: package.unwrap_or("").to_owned(),
            package_version: version.unwrap_or("").to_owned(),
            severity: severity(ScanSource::Grype, some(&vuln.severity))
                .map_err(|e| here(path, format!("{at}.vulnerability: {e}")))?,
            scan_type: ScanType::Basic,
            candidates,
            notes,
            unreadable_score: unreadable,
            fixed_in: (!fixed.is_empty()).then(|| fixed.join(", ")),
            advisory: some(&vuln.data_source)
                .or_else(|| vuln.urls.iter().flatten().map(|u| u.as_ref()).find(|u| !u.is_empty()))
                .map(str::to_owned),
            id,
        });
    }
    let completed = timestamp(path, doc.descriptor.as_ref().and_then(|d| some(&d.timestamp)))?;
    Ok(Page {
        path: path.to_path_buf(),
        scan: scan(image, ScanSource::Grype, completed, findings),
        has_next_token: false,
    })
}
