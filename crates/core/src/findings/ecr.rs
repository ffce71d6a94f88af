//! Reading `aws ecr describe-image-scan-findings` output (API JSON, AWS CLI v1 and v2), basic and enhanced.
//!
//! Tolerant of keys it does not need, strict about the ones it does: a document that is not a scan-findings
//! response, a finding without an id or with an unknown severity, or a score that is not a number is an error,
//! never an empty (clean-looking) scan.

use super::{Finding, ImageRef, Scan, ScanType, ScoreCandidate, ScoreKind, Severity, cvss, intern_source};
use crate::error::{Error, Result};
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPage<'a> {
    registry_id: Option<String>,
    repository_name: Option<String>,
    image_id: Option<RawImageId>,
    image_scan_status: Option<RawStatus>,
    #[serde(borrow)]
    image_scan_findings: Option<RawScanFindings<'a>>,
    next_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawImageId {
    image_digest: Option<String>,
    image_tag: Option<String>,
}

#[derive(Deserialize)]
struct RawStatus {
    status: Option<String>,
    description: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawScanFindings<'a> {
    image_scan_completed_at: Option<RawTime>,
    vulnerability_source_updated_at: Option<RawTime>,
    finding_severity_counts: Option<UniqueCounts>,
    #[serde(borrow)]
    findings: Option<Vec<RawBasic<'a>>>,
    #[serde(borrow)]
    enhanced_findings: Option<Vec<RawEnhanced<'a>>>,
}

/// `findingSeverityCounts`, refusing a severity given twice.
type UniqueCounts = super::UniqueMap<u64, SeverityCounts>;

struct SeverityCounts;

impl super::MapOf for SeverityCounts {
    const EXPECTING: &'static str = "a map of severity to count";
    fn twice(key: &str) -> String {
        format!("findingSeverityCounts names {key} twice: which count is meant is ambiguous")
    }
}

/// Epoch seconds (API, CLI v1) or an ISO-8601 string (CLI v2).
#[derive(Deserialize)]
#[serde(untagged)]
enum RawTime {
    Epoch(f64),
    Text(String),
}

#[derive(Deserialize)]
struct RawBasic<'a> {
    #[serde(borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow)]
    uri: Option<Cow<'a, str>>,
    #[serde(borrow)]
    severity: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    attributes: Vec<RawAttribute<'a>>,
}

#[derive(Deserialize)]
struct RawAttribute<'a> {
    #[serde(borrow)]
    key: Cow<'a, str>,
    #[serde(borrow)]
    value: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEnhanced<'a> {
    #[serde(borrow)]
    title: Option<Cow<'a, str>>,
    #[serde(borrow)]
    severity: Option<Cow<'a, str>>,
    score: Option<f64>,
    #[serde(borrow)]
    score_details: Option<RawScoreDetails<'a>>,
    #[serde(borrow)]
    package_vulnerability_details: Option<RawPackageDetails<'a>>,
    #[serde(borrow)]
    remediation: Option<RawRemediation<'a>>,
}

#[derive(Deserialize)]
struct RawRemediation<'a> {
    #[serde(borrow)]
    recommendation: Option<RawRecommendation<'a>>,
}

#[derive(Deserialize)]
struct RawRecommendation<'a> {
    #[serde(borrow)]
    text: Option<Cow<'a, str>>,
    #[serde(borrow)]
    url: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct RawScoreDetails<'a> {
    #[serde(borrow)]
    cvss: Option<RawScoreDetailsCvss<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawScoreDetailsCvss<'a> {
    score: Option<f64>,
    #[serde(borrow)]
    scoring_vector: Option<Cow<'a, str>>,
    #[serde(borrow)]
    score_source: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPackageDetails<'a> {
    #[serde(borrow)]
    vulnerability_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    source_url: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    cvss: Vec<RawCvss<'a>>,
    #[serde(default, borrow)]
    vulnerable_packages: Vec<RawPackage<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCvss<'a> {
    base_score: Option<f64>,
    #[serde(borrow)]
    scoring_vector: Option<Cow<'a, str>>,
    #[serde(borrow)]
    source: Option<Cow<'a, str>>,
    #[serde(borrow)]
    version: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct RawPackage<'a> {
    #[serde(borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow)]
    version: Option<Cow<'a, str>>,
    #[serde(rename = "fixedInVersion", borrow)]
    fixed_in_version: Option<Cow<'a, str>>,
}

/// One page, read and normalised, not yet merged with its siblings: a scan of one page.
#[derive(Debug)]
pub struct Page {
    pub path: PathBuf,
    pub scan: Scan,
    pub has_next_token: bool,
}

/// Read one page from its bytes. `path` is only for messages.
pub fn parse_page(path: &Path, bytes: &[u8]) -> Result<Page> {
    parse_page_of(path, bytes, None)
}

/// Read one page said to be of the image `named` (`verify --image REF --findings FILE`): a scanner report that
/// names no image (read from a file) is of that image; a page that names another repository is refused.
pub fn parse_page_of(path: &Path, bytes: &[u8], named: Option<&str>) -> Result<Page> {
    let here = |msg: String| Error::invalid(format!("{}: {msg}", path.display()));
    // Checked once here; serde_json then reads the text without validating it again.
    let text = utf8_json(bytes).map_err(here)?;
    if text.trim_start().starts_with('[') {
        return Err(here(top_level_array_hint(text)));
    }
    let raw: RawPage = super::read_json(text).map_err(|(e, eof)| {
        if eof {
            here(format!(
                "truncated JSON ({e}); save the complete `aws ecr describe-image-scan-findings` output"
            ))
        } else {
            here(format!("not a describe-image-scan-findings response: {e}"))
        }
    })?;
    if raw.image_scan_status.is_none() && raw.image_scan_findings.is_none() {
        // Not ECR's shape: a local scanner's report (read only when it is one, so ECR pages are parsed once).
        if let Some(page) = super::local::parse_local(path, text, named) {
            return page;
        }
        return Err(here(unknown_shape_hint(bytes)));
    }
    let repository = raw.repository_name.filter(|r| !r.is_empty()).ok_or_else(|| {
        here("no `repositoryName`: bbgate judges a BB by its own repositories and must know which one this is".into())
    })?;
    if !is_repository_name(&repository) {
        return Err(here(format!(
            "repositoryName {repository:?} is not an ECR repository name (lowercase path segments of letters and \
             digits joined by . _ -, 2 to 256 characters): no real scan carries it"
        )));
    }
    if let Some(named) = named {
        let want = crate::reference::Reference::parse(named).path;
        if want != repository {
            return Err(here(format!(
                "this page is of repository {repository:?}, not of --image {named:?}: give the pages of that image, \
                 or leave --image out"
            )));
        }
    }
    let image_id = raw
        .image_id
        .ok_or_else(|| here("no `imageId`: the evidence must bind to an image digest".into()))?;
    let digest = image_id
        .image_digest
        .filter(|d| is_sha256_digest(d))
        .ok_or_else(|| here("no valid `imageId.imageDigest` (sha256:<64 hex>): query the scan by digest, or save output that includes it".into()))?;
    let status = raw
        .image_scan_status
        .ok_or_else(|| here("no `imageScanStatus`".into()))?;
    let status_text = status
        .status
        .filter(|s| !s.is_empty())
        .ok_or_else(|| here("`imageScanStatus.status` is missing".into()))?;

    let mut page = Page {
        path: path.to_path_buf(),
        scan: Scan {
            image: ImageRef {
                registry_id: raw.registry_id,
                repository,
                digest,
                tag: image_id.image_tag,
            },
            status: status_text,
            status_description: status.description,
            completed_at: None,
            source_updated_at: None,
            severity_counts: BTreeMap::new(),
            findings: Vec::new(),
            pages: 1,
            source: super::ScanSource::Ecr,
        },
        has_next_token: raw.next_token.is_some_and(|t| !t.is_empty()),
    };
    let Some(scan) = raw.image_scan_findings else {
        if page.scan.status == "COMPLETE" || page.scan.status == "ACTIVE" {
            return Err(here(format!(
                "status {} but no `imageScanFindings`: the output is cut short",
                page.scan.status
            )));
        }
        return Ok(page);
    };
    let out = &mut page.scan;
    out.completed_at = scan
        .image_scan_completed_at
        .map(|t| parse_time(&t))
        .transpose()
        .map_err(|m| here(format!("imageScanCompletedAt: {m}")))?;
    out.source_updated_at = scan
        .vulnerability_source_updated_at
        .map(|t| parse_time(&t))
        .transpose()
        .map_err(|m| here(format!("vulnerabilitySourceUpdatedAt: {m}")))?;
    out.severity_counts = scan.finding_severity_counts.map(|c| c.0).unwrap_or_default();

    let basic = scan.findings.unwrap_or_default();
    let enhanced = scan.enhanced_findings.unwrap_or_default();
    out.findings.reserve(basic.len() + enhanced.len());
    let mut cache = VectorScores::default();
    for (i, f) in basic.into_iter().enumerate() {
        out.findings
            .push(basic_finding(f, &mut cache).map_err(|m| here(format!("findings[{i}]: {m}")))?);
    }
    for (i, f) in enhanced.into_iter().enumerate() {
        out.findings
            .push(enhanced_finding(f, &mut cache).map_err(|m| here(format!("enhancedFindings[{i}]: {m}")))?);
    }
    Ok(page)
}

/// Pages are UTF-8 JSON, as AWS writes them: the text, or what else the file is, said plainly.
fn utf8_json(bytes: &[u8]) -> std::result::Result<&str, String> {
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return Err(
            "UTF-16 text (PowerShell's `>` writes it): save the page as UTF-8, e.g. `aws ecr \
             describe-image-scan-findings … | Out-File -Encoding utf8 page.json`"
                .into(),
        );
    }
    if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
        return Err(
            "the file starts with a UTF-8 byte-order mark, which JSON does not allow: save it without one".into(),
        );
    }
    if bytes.len() >= 2 && (bytes[0] == 0 || bytes[1] == 0) {
        return Err("UTF-16 text without a byte-order mark: save the page as UTF-8".into());
    }
    std::str::from_utf8(bytes).map_err(|e| {
        format!(
            "not UTF-8 at byte {} (a damaged or re-encoded file): save the page as AWS wrote it",
            e.valid_up_to()
        )
    })
}

/// A JSON array at the top: name what it probably is.
fn top_level_array_hint(text: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
    let first = v.get(0);
    let looks_like =
        if first.is_some_and(|f| f.get("imageScanFindings").is_some() || f.get("imageScanStatus").is_some()) {
            "an array of describe-image-scan-findings responses (as some tools wrap them): save each element as its \
         own page file"
        } else if first.is_some_and(|f| f.get("Target").is_some() && f.get("Vulnerabilities").is_some()) {
            "a Trivy report from before schema version 2 (a bare list of targets); bbgate reads ECR's scan"
        } else if first
            .is_some_and(|f| f.get("SchemaVersion").is_some() || f.get("Id").is_some() && f.get("ProductArn").is_some())
        {
            "AWS Security Hub findings (ASFF); bbgate reads ECR's own scan output"
        } else if first
            .is_some_and(|f| f.get("severity").is_some() && f.get("related").is_some() && f.get("created").is_some())
        {
            "vulnerabilities of `aws inspector-scan scan-sbom` (Inspector's SBOM scan, not ECR's image scan)"
        } else {
            "a JSON array, not one describe-image-scan-findings response"
        };
    format!(
        "the file holds {looks_like}. bbgate reads the output of `aws ecr describe-image-scan-findings \
         --repository-name R --image-id imageDigest=D`, one page per file"
    )
}

/// ECR's repository-name grammar: `(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*`, 2 to 256
/// characters. `..`, empty segments and leading or trailing separators are not names, so no glob can be
/// tricked into matching one (`bb/im/../payments/adapter`).
pub fn is_repository_name(name: &str) -> bool {
    (2..=256).contains(&name.len())
        && name.split('/').all(|segment| {
            let b = segment.as_bytes();
            !b.is_empty()
                && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
                && (b[b.len() - 1].is_ascii_lowercase() || b[b.len() - 1].is_ascii_digit())
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"._-".contains(c))
                && !b.windows(2).any(|w| b"._-".contains(&w[0]) && b"._-".contains(&w[1]))
        })
}

fn unknown_shape_hint(bytes: &[u8]) -> String {
    let keys: Vec<String> = serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(bytes)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    let looks_like =
        if keys.iter().any(|k| k == "findings") && keys.iter().any(|k| k == "nextToken" || k == "filterCriteria") {
            " It looks like Inspector2 ListFindings output;"
        } else if keys.iter().any(|k| k == "SchemaVersion" || k == "Results") {
            " It looks like a Trivy report;"
        } else if keys.iter().any(|k| k == "matches") {
            " It looks like a Grype report;"
        } else if keys.iter().any(|k| k == "runs") && keys.iter().any(|k| k == "version" || k == "$schema") {
            " It looks like a SARIF log;"
        } else if keys.iter().any(|k| k == "Findings") {
            " It looks like AWS Security Hub findings (ASFF);"
        } else if keys.iter().any(|k| k == "sbom" || k == "scan") {
            " It looks like `aws inspector-scan scan-sbom` output;"
        } else {
            ""
        };
    format!(
        "unknown JSON shape: no `imageScanStatus` or `imageScanFindings` (top-level keys: [{}]).{looks_like} bbgate reads the output of `aws ecr describe-image-scan-findings --repository-name R --image-id imageDigest=D`",
        keys.join(", ")
    )
}

pub fn is_sha256_digest(d: &str) -> bool {
    d.strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn parse_time(t: &RawTime) -> std::result::Result<jiff::Timestamp, String> {
    match t {
        RawTime::Epoch(secs) => {
            let whole = secs.trunc() as i64;
            let nanos = ((secs - secs.trunc()) * 1e9).round() as i32;
            jiff::Timestamp::new(whole, nanos).map_err(|e| format!("epoch {secs:?} out of range: {e}"))
        }
        RawTime::Text(s) => {
            parse_text_time(s).ok_or_else(|| format!("{s:?} is not an ISO-8601 timestamp with an offset"))
        }
    }
}

/// ISO-8601 with an offset. CLI v2 prints `+11:00`; some saved files carry `+1100`, which jiff reads too.
fn parse_text_time(s: &str) -> Option<jiff::Timestamp> {
    s.parse::<jiff::Timestamp>().ok()
}

fn severity(label: Option<&str>) -> std::result::Result<Severity, String> {
    let label = label.ok_or("no `severity`")?;
    Severity::parse(label).ok_or_else(|| {
        format!("unknown severity {label:?} (known: INFORMATIONAL, LOW, MEDIUM, HIGH, CRITICAL, UNDEFINED, UNTRIAGED)")
    })
}

/// Base scores of the vectors seen on this page: a scan repeats a few hundred vectors over thousands of findings.
#[derive(Default)]
struct VectorScores(HashMap<String, Option<f64>>);

impl VectorScores {
    fn reconcile(&mut self, published: Option<f64>, vector: Option<&str>) -> (Option<f64>, Option<String>) {
        let Some(v) = vector.filter(|v| !v.trim().is_empty()) else {
            return cvss::reconcile(published, None);
        };
        let computed = match self.0.get(v) {
            Some(c) => *c,
            None => {
                let c = cvss::base_score(v);
                self.0.insert(v.to_owned(), c);
                c
            }
        };
        cvss::reconcile_computed(published, v, computed)
    }
}

fn basic_finding(f: RawBasic, cache: &mut VectorScores) -> std::result::Result<Finding, String> {
    let id = f
        .name
        .filter(|n| !n.is_empty())
        .ok_or("no `name` (the vulnerability id)")?
        .into_owned();
    let severity = severity(f.severity.as_deref())?;
    let mut package = String::new();
    let mut package_version = String::new();
    let (mut v2_score, mut v2_vector, mut v3_score, mut v3_vector) = (None, None, None, None);
    let mut seen: Vec<&str> = Vec::new();
    for a in &f.attributes {
        let Some(value) = a.value.as_deref() else {
            continue;
        };
        if seen.contains(&a.key.as_ref()) {
            return Err(format!(
                "{id}: attribute {} appears twice: which value counts is ambiguous",
                a.key
            ));
        }
        seen.push(a.key.as_ref());
        match a.key.as_ref() {
            "package_name" => package = value.to_owned(),
            "package_version" => package_version = value.to_owned(),
            "CVSS2_SCORE" => v2_score = Some(score_attr(&id, "CVSS2_SCORE", value)?),
            "CVSS3_SCORE" => v3_score = Some(score_attr(&id, "CVSS3_SCORE", value)?),
            "CVSS2_VECTOR" => v2_vector = Some(value),
            "CVSS3_VECTOR" => v3_vector = Some(value),
            _ => {}
        }
    }
    let mut finding = Finding {
        id,
        package,
        package_version,
        severity,
        scan_type: ScanType::Basic,
        candidates: Vec::new(),
        notes: Vec::new(),
        unreadable_score: false,
        fixed_in: None,
        advisory: f.uri.filter(|u| !u.is_empty()).map(Cow::into_owned),
    };
    add_candidate(
        &mut finding,
        cache,
        ScoreKind::Cvss2,
        "CVSS2_SCORE",
        v2_score,
        v2_vector,
    );
    add_candidate(
        &mut finding,
        cache,
        ScoreKind::Cvss3,
        "CVSS3_SCORE",
        v3_score,
        v3_vector,
    );
    Ok(finding)
}

fn score_attr(id: &str, key: &str, value: &str) -> std::result::Result<f64, String> {
    cvss::parse_score(value).ok_or_else(|| format!("{id}: {key} {value:?} is not a score between 0 and 10"))
}

fn check_range(id: &str, what: &str, score: Option<f64>) -> std::result::Result<(), String> {
    match score {
        Some(s) if !(s.is_finite() && (0.0..=10.0).contains(&s)) => {
            Err(format!("{id}: {what} {s} is not between 0 and 10"))
        }
        _ => Ok(()),
    }
}

fn enhanced_finding(f: RawEnhanced, cache: &mut VectorScores) -> std::result::Result<Finding, String> {
    let details = f.package_vulnerability_details;
    let id = details
        .as_ref()
        .and_then(|d| d.vulnerability_id.as_deref())
        .filter(|v| !v.is_empty())
        .or_else(|| f.title.as_deref().and_then(|t| t.split_whitespace().next()))
        .ok_or("no `packageVulnerabilityDetails.vulnerabilityId` and no `title`")?
        .to_owned();
    let severity = severity(f.severity.as_deref())?;
    let (mut package, mut package_version) = (String::new(), String::new());
    if let Some(d) = &details {
        for (i, p) in d.vulnerable_packages.iter().enumerate() {
            if i > 0 {
                package.push_str(", ");
                package_version.push_str(", ");
            }
            package.push_str(p.name.as_deref().unwrap_or(""));
            package_version.push_str(p.version.as_deref().unwrap_or(""));
        }
    }
    let recommendation = f.remediation.and_then(|r| r.recommendation);
    // "NotAvailable" is what Inspector writes when no fix exists.
    let fixed: Vec<&str> = details
        .iter()
        .flat_map(|d| &d.vulnerable_packages)
        .filter_map(|p| p.fixed_in_version.as_deref())
        .filter(|v| !v.is_empty() && *v != "NotAvailable")
        .collect();
    let fixed_in = if fixed.is_empty() {
        recommendation
            .as_ref()
            .and_then(|r| r.text.as_deref())
            .filter(|t| !t.is_empty() && *t != "None Provided")
            .map(str::to_owned)
    } else {
        Some(fixed.join(", "))
    };
    let advisory = details
        .as_ref()
        .and_then(|d| d.source_url.as_deref())
        .or_else(|| recommendation.as_ref().and_then(|r| r.url.as_deref()))
        .filter(|u| !u.is_empty())
        .map(str::to_owned);
    let mut finding = Finding {
        id,
        package,
        package_version,
        severity,
        scan_type: ScanType::Enhanced,
        candidates: Vec::new(),
        notes: Vec::new(),
        unreadable_score: false,
        fixed_in,
        advisory,
    };
    if let Some(d) = &details {
        for c in &d.cvss {
            let version = c.version.as_deref().unwrap_or("");
            let kind =
                ScoreKind::from_cvss_version(version).or_else(|| c.scoring_vector.as_deref().and_then(kind_of_vector));
            let Some(kind) = kind else {
                if c.base_score.is_some() {
                    return Err(format!(
                        "{}: a cvss entry of unknown version {version:?} carries baseScore {}: bbgate cannot tell \
                         which kind of score it is, and will not drop it",
                        finding.id,
                        c.base_score.unwrap_or_default()
                    ));
                }
                finding.unreadable_score = true;
                finding
                    .notes
                    .push(format!("cvss entry with unknown version {version:?} and no score"));
                continue;
            };
            check_range(&finding.id, "cvss baseScore", c.base_score)?;
            let source = c.source.as_deref().unwrap_or("cvss[]");
            add_candidate(
                &mut finding,
                cache,
                kind,
                source,
                c.base_score,
                c.scoring_vector.as_deref(),
            );
        }
    }
    // ECR's own score: 0.0 without scoreDetails is what UNTRIAGED findings carry, and is no score.
    let details_cvss = f.score_details.and_then(|d| d.cvss);
    let ecr_score = match (&details_cvss, f.score) {
        (Some(_), Some(s)) => Some(s),
        (None, Some(s)) if s != 0.0 => Some(s),
        (Some(d), None) => d.score,
        _ => None,
    };
    check_range(&finding.id, "score", ecr_score)?;
    match &details_cvss {
        Some(d) => {
            let source = d
                .score_source
                .as_deref()
                .map_or(Cow::Borrowed("ecr score"), |s| Cow::Owned(format!("ecr score ({s})")));
            add_candidate(
                &mut finding,
                cache,
                ScoreKind::Ecr,
                &source,
                ecr_score,
                d.scoring_vector.as_deref(),
            );
        }
        None => add_candidate(&mut finding, cache, ScoreKind::Ecr, "ecr score", ecr_score, None),
    }
    Ok(finding)
}

fn kind_of_vector(v: &str) -> Option<ScoreKind> {
    if v.starts_with("CVSS:3") {
        Some(ScoreKind::Cvss3)
    } else if v.starts_with("CVSS:4") {
        Some(ScoreKind::Cvss4)
    } else if v.contains("Au:") {
        Some(ScoreKind::Cvss2)
    } else {
        None
    }
}

fn add_candidate(
    finding: &mut Finding,
    cache: &mut VectorScores,
    kind: ScoreKind,
    source: &str,
    published: Option<f64>,
    vector: Option<&str>,
) {
    let (value, note) = cache.reconcile(published, vector);
    if let Some(note) = note {
        finding.notes.push(format!("{} ({source}): {note}", kind.as_str()));
    }
    if value.is_none() && vector.is_some_and(|v| !v.trim().is_empty()) {
        finding.unreadable_score = true;
    }
    if let Some(value) = value {
        finding.candidates.push(ScoreCandidate {
            kind,
            value,
            source: intern_source(source),
        });
    }
}

/// Merge the pages of one scan. Pages of different images, or of different reads of one image, are an error;
/// so are missing pages, detected by the severity counts (which cover all pages) and by `nextToken`.
/// Split items holding pages (a page, or a page with its file digest) by image: `repositoryName` and
/// `imageDigest`, in the order each image first appears. Each group is one image's scan, to `merge`.
pub fn by_image<T>(items: Vec<T>, page: impl Fn(&T) -> &Page) -> Vec<Vec<T>> {
    let mut groups: Vec<Vec<T>> = Vec::new();
    for item in items {
        let image = &page(&item).scan.image;
        let same = |g: &Vec<T>| {
            let first = &page(&g[0]).scan.image;
            first.repository == image.repository && first.digest == image.digest
        };
        match groups.iter_mut().position(|g| same(g)) {
            Some(i) => groups[i].push(item),
            None => groups.push(vec![item]),
        }
    }
    groups
}

pub fn merge(pages: Vec<Page>) -> Result<(Scan, Vec<crate::diag::Diagnostic>)> {
    let mut notes = Vec::new();
    let mut iter = pages.into_iter();
    let first = iter
        .next()
        .ok_or_else(|| Error::invalid("no findings pages given: pass --findings FILE…"))?;
    let mut problems = Vec::new();
    let mut scan = first.scan;
    let mut last_pages_without_token = usize::from(!first.has_next_token);
    let first_path = first.path;
    // Each page's findings, by content, to refuse a page given twice (a copy standing in for a missing one).
    let fingerprint = |findings: &[Finding]| -> Vec<(String, String, String)> {
        findings
            .iter()
            .map(|f| (f.id.clone(), f.package.clone(), f.package_version.clone()))
            .collect()
    };
    let mut seen_pages = vec![(first_path.clone(), fingerprint(&scan.findings))];
    for Page {
        path,
        scan: page,
        has_next_token,
    } in iter
    {
        let p = path.display();
        if page.image.repository != scan.image.repository || page.image.digest != scan.image.digest {
            problems.push(format!(
                "{p}: is a scan of {}@{} but {} is of {}@{}: pass the pages of one image only",
                page.image.repository,
                page.image.digest,
                first_path.display(),
                scan.image.repository,
                scan.image.digest
            ));
            continue;
        }
        if page.image.registry_id.is_some()
            && scan.image.registry_id.is_some()
            && page.image.registry_id != scan.image.registry_id
        {
            problems.push(format!("{p}: registryId differs from {}'s", first_path.display()));
        }
        if page.status != scan.status
            || page.completed_at != scan.completed_at
            || page.severity_counts != scan.severity_counts
        {
            problems.push(format!(
                "{p}: status, completion time or severity counts differ from {}'s: the pages come from different reads of the scan; save one read's pages",
                first_path.display()
            ));
        }
        let print = fingerprint(&page.findings);
        if !print.is_empty()
            && let Some((other, _)) = seen_pages.iter().find(|(_, p)| *p == print)
        {
            problems.push(format!(
                "{p}: holds the same findings as {}: a page given twice (a copy cannot stand in for a missing \
                 page); pass each page once",
                other.display()
            ));
            continue;
        }
        seen_pages.push((path.clone(), print));
        if scan.image.tag.is_none() {
            scan.image.tag = page.image.tag;
        }
        last_pages_without_token += usize::from(!has_next_token);
        scan.findings.extend(page.findings);
        scan.pages += 1;
    }
    if !problems.is_empty() {
        return Err(Error::Invalid(problems));
    }
    if last_pages_without_token == 0 {
        return Err(Error::invalid(format!(
            "every findings page given carries a nextToken: the last page is missing ({} pages given); save every page",
            scan.pages
        )));
    }
    if last_pages_without_token > 1 {
        return Err(Error::invalid(format!(
            "{last_pages_without_token} of the {} pages given carry no nextToken, but only a scan's last page ends \
             without one: these are pages of different reads, or one page given twice",
            scan.pages
        )));
    }
    if scan.status == "COMPLETE" || scan.status == "ACTIVE" {
        let counted = scan
            .severity_counts
            .values()
            .try_fold(0u64, |sum, n| sum.checked_add(*n))
            .ok_or_else(|| Error::invalid("findingSeverityCounts adds up past 2^64: not counts a scan can have"))?;
        let held = scan.findings.len() as u64;
        if held > counted && scan.pages > 1 {
            return Err(Error::invalid(format!(
                "the {} pages given hold {held} findings, but findingSeverityCounts says {counted}: pages of other \
                 reads are mixed in; pass the pages of one read",
                scan.pages
            )));
        }
        if held < counted {
            return Err(Error::invalid(format!(
                "the scan counts {counted} findings (findingSeverityCounts) but the {} page(s) given hold {held}: pages are missing; pass every page",
                scan.pages
            )));
        }
        if held > counted {
            notes.push(crate::diag::Diagnostic::warning(
                "scan-counts-exceed",
                format!(
                    "the pages hold {held} findings but findingSeverityCounts sums to {counted}; every finding held \
                     is judged"
                ),
            ));
        }
    }
    Ok((scan, notes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_without_colon_parse() {
        let a = parse_text_time("2020-01-24T15:11:45+1100").unwrap();
        let b = parse_text_time("2020-01-24T15:11:45+11:00").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.as_second(), 1579839105);
        assert!(parse_text_time("yesterday").is_none());
        assert!(
            parse_text_time("2020-01-24T15:11:45").is_none(),
            "no offset: ambiguous, refused"
        );
    }

    #[test]
    fn epoch_times_parse() {
        assert_eq!(
            parse_time(&RawTime::Epoch(1579839105.0)).unwrap().as_second(),
            1579839105
        );
    }

    #[test]
    fn untriaged_zero_score_is_no_score() {
        let json = br#"{"repositoryName":"bb/x","imageId":{"imageDigest":"sha256:0000000000000000000000000000000000000000000000000000000000000000"},
          "imageScanStatus":{"status":"ACTIVE"},"imageScanFindings":{"findingSeverityCounts":{"UNTRIAGED":1},
          "enhancedFindings":[{"title":"CVE-2026-1 - x","severity":"UNTRIAGED","score":0.0,
            "packageVulnerabilityDetails":{"vulnerabilityId":"CVE-2026-1","cvss":[],"vulnerablePackages":[{"name":"x","version":"1"}]}}]}}"#;
        let page = parse_page(Path::new("p.json"), json).unwrap();
        assert_eq!(page.scan.findings.len(), 1);
        assert!(page.scan.findings[0].candidates.is_empty());
        assert_eq!(page.scan.findings[0].severity, Severity::Untriaged);
    }
}
