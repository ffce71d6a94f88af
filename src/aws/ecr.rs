//! ECR: resolve the image to the digest ECR scans, wait for the scan with bounded backoff, and read every page.
//!
//! Waiting costs few calls: status probes ask for one finding (`maxResults=1`), and the full read, at 1000 a
//! page, happens once, after two probes agree on status, completion time and counts (ECR has been seen to
//! report COMPLETE before all findings exist). The full read must agree with them too, and its findings must
//! add up to the counts; otherwise nothing is decided (exit 3).

use super::CallCounter;
use crate::error::{Error, Result};
use crate::findings::ecr::{Page, parse_page};
use aws_sdk_ecr::Client;
use aws_sdk_ecr::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ecr::types::{ImageIdentifier, ScanType};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::AfterDeserializationInterceptorContextRef;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::image::MANIFEST_TYPES;

/// The raw body of the last response, as AWS sent it: the page that is parsed, saved and hashed.
#[derive(Debug, Clone, Default)]
struct CaptureBody(Arc<Mutex<Option<Vec<u8>>>>);

impl CaptureBody {
    fn take(&self) -> Option<Vec<u8>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

impl Intercept for CaptureBody {
    fn name(&self) -> &'static str {
        "bbgate::CaptureBody"
    }

    fn read_after_deserialization(
        &self,
        ctx: &AfterDeserializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> std::result::Result<(), BoxError> {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = ctx.response().body().bytes().map(<[u8]>::to_vec);
        Ok(())
    }
}

/// How to wait.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Wait {
    pub(crate) timeout: Duration,
    /// First delay between probes, doubled up to 30 s; also the settle delay before the confirming probe.
    pub(crate) poll_interval: Duration,
}

/// One page read from ECR: its raw bytes, their sha256, and what they parse to.
pub(crate) struct RawPage {
    pub(crate) bytes: Vec<u8>,
    pub(crate) sha256: String,
    pub(crate) page: Page,
}

pub(crate) struct Scanned {
    pub(crate) pages: Vec<RawPage>,
    pub(crate) probes: u32,
    pub(crate) scan_started: bool,
    pub(crate) registry_scan_type: Option<String>,
    pub(crate) waited: Duration,
}

/// Where bbgate looked for credentials, for the message when it found none.
pub(crate) const NO_CREDENTIALS: &str = "no AWS credentials: bbgate looked for --role-arn / BBGATE_ROLE_ARN with \
     CircleCI's OIDC token (CIRCLE_OIDC_TOKEN_V2), then the SDK's standard chain: AWS_ACCESS_KEY_ID and \
     AWS_SECRET_ACCESS_KEY, AWS_PROFILE and ~/.aws, web identity (AWS_ROLE_ARN with AWS_WEB_IDENTITY_TOKEN_FILE), \
     and the container credentials endpoint (the instance metadata service is never asked); in CircleCI, give \
     the job a context holding BBGATE_ROLE_ARN";

/// A transport or SDK failure in words (never the request, which may carry credentials).
pub(crate) fn describe_sdk_error<E: std::error::Error + 'static, R: std::fmt::Debug>(e: &SdkError<E, R>) -> String {
    // Credentials are resolved before a request is sent: only then is a credential failure "no credentials"
    // (a service's own answer that mentions credentials is that service's error, said as such).
    if !matches!(e, SdkError::ServiceError(_)) {
        let chain = aws_smithy_types::error::display::DisplayErrorContext(e).to_string();
        if chain.contains("credentials")
            && ["no credentials", "failed to load", "not loaded", "identity"]
                .iter()
                .any(|s| chain.contains(s))
        {
            return NO_CREDENTIALS.to_owned();
        }
    }
    match e {
        SdkError::TimeoutError(_) => "timed out".into(),
        SdkError::DispatchFailure(d) => {
            if d.is_io() {
                "connection failed (I/O)".into()
            } else if d.is_timeout() {
                "connection timed out".into()
            } else {
                "could not send the request".into()
            }
        }
        SdkError::ResponseError(_) => "unreadable response".into(),
        SdkError::ConstructionFailure(_) => "could not build the request".into(),
        _ => aws_smithy_types::error::display::DisplayErrorContext(e).to_string(),
    }
}

fn ecr_error<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    what: &str,
    e: SdkError<E, R>,
) -> Error {
    match &e {
        SdkError::ServiceError(s) => {
            let Some(code) = s.err().code() else {
                return Error::Undecidable(format!("ECR {what}: unexpected answer: {}", describe_sdk_error(&e)));
            };
            let message = s.err().message().unwrap_or("");
            let hint = match code {
                "AccessDeniedException" | "AccessDenied" => {
                    ": the role lacks this ECR permission (the sandbox's pipeline roles have AmazonEC2ContainerRegistryPowerUser)"
                }
                "ThrottlingException" => ": still throttled after the SDK's retries; rerun later",
                _ => "",
            };
            Error::Undecidable(format!("ECR {what}: {code}: {message}{hint}"))
        }
        _ => Error::Undecidable(format!("ECR {what}: {}", describe_sdk_error(&e))),
    }
}

pub(crate) fn client(conf: &aws_config::SdkConfig, calls: &CallCounter) -> Client {
    client_in(conf, calls, None)
}

/// An ECR client of another region than the credentials' (a vendor's registry elsewhere), same identity.
pub(crate) fn client_in(conf: &aws_config::SdkConfig, calls: &CallCounter, region: Option<&str>) -> Client {
    let mut builder = aws_sdk_ecr::config::Builder::from(conf).interceptor(calls.clone());
    if let Some(r) = region {
        builder = builder.region(aws_sdk_ecr::config::Region::new(r.to_owned()));
    }
    Client::from_conf(builder.build())
}

/// Resolve a tag (or a digest) to the digest ECR scans: an image index resolves to its linux/amd64 manifest.
pub(crate) async fn resolve(
    ecr: &Client,
    registry_id: Option<&str>,
    repository: &str,
    tag: Option<&str>,
    digest: Option<&str>,
) -> Result<String> {
    let id = match (digest, tag) {
        (Some(d), _) => ImageIdentifier::builder().image_digest(d).build(),
        (None, Some(t)) => ImageIdentifier::builder().image_tag(t).build(),
        (None, None) => return Err(Error::invalid("no tag or digest to resolve")),
    };
    let what = digest.map_or_else(
        || format!("{repository}:{}", tag.unwrap_or("")),
        |d| format!("{repository}@{d}"),
    );
    let mut req = ecr.batch_get_image().repository_name(repository).image_ids(id);
    for t in MANIFEST_TYPES {
        req = req.accepted_media_types(t);
    }
    if let Some(r) = registry_id {
        req = req.registry_id(r);
    }
    let out = req.send().await.map_err(|e| match e.code() {
        Some("RepositoryNotFoundException") => {
            Error::invalid(format!("ECR has no repository {repository}: check --image"))
        }
        _ => ecr_error(&format!("BatchGetImage {what}"), e),
    })?;
    if let Some(f) = out.failures().first() {
        let code = f.failure_code().map(|c| c.as_str().to_owned()).unwrap_or_default();
        return Err(Error::invalid(format!(
            "ECR has no image {what}: {code}: {}",
            f.failure_reason().unwrap_or("")
        )));
    }
    let image = out
        .images()
        .first()
        .ok_or_else(|| Error::Undecidable(format!("ECR BatchGetImage {what}: no image and no failure")))?;
    let found = image
        .image_id()
        .and_then(|i| i.image_digest())
        .ok_or_else(|| Error::Undecidable(format!("ECR BatchGetImage {what}: no digest")))?;
    let manifest: serde_json::Value = serde_json::from_str(image.image_manifest().unwrap_or("{}"))
        .map_err(|e| Error::Undecidable(format!("ECR BatchGetImage {what}: the manifest is not JSON: {e}")))?;
    let media_type = image
        .image_manifest_media_type()
        .or_else(|| manifest["mediaType"].as_str())
        .unwrap_or("");
    let is_index =
        media_type.contains("index") || media_type.contains("manifest.list") || manifest.get("manifests").is_some();
    if !is_index {
        return Ok(found.to_owned());
    }
    let child = manifest["manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["platform"]["os"] == "linux" && m["platform"]["architecture"] == "amd64");
    let child = child
        .and_then(|m| m["digest"].as_str())
        .filter(|d| crate::image::is_sha256_digest(d))
        .ok_or_else(|| {
            Error::invalid(format!(
                "{what} is an image index with no linux/amd64 manifest: the sandbox runs linux/amd64"
            ))
        })?;
    eprintln!("bbgate: {what} is an image index; judging its linux/amd64 manifest {child}");
    Ok(child.to_owned())
}

#[derive(Debug, Clone, PartialEq)]
struct Probe {
    status: String,
    description: Option<String>,
    completed_at: Option<aws_smithy_types::DateTime>,
    counts: BTreeMap<String, i32>,
}

/// DescribeImageScanFindings for one digest, `max` findings a page.
fn findings_request(
    ecr: &Client,
    registry_id: Option<&str>,
    repository: &str,
    digest: &str,
    max: i32,
) -> aws_sdk_ecr::operation::describe_image_scan_findings::builders::DescribeImageScanFindingsFluentBuilder {
    ecr.describe_image_scan_findings()
        .set_registry_id(registry_id.map(str::to_owned))
        .repository_name(repository)
        .image_id(ImageIdentifier::builder().image_digest(digest).build())
        .max_results(max)
}

/// One `maxResults=1` read: the scan's status and counts. None: there is no scan (ScanNotFoundException).
async fn probe(ecr: &Client, registry_id: Option<&str>, repository: &str, digest: &str) -> Result<Option<Probe>> {
    let out = findings_request(ecr, registry_id, repository, digest, 1).send().await;
    let out = match out {
        Ok(o) => o,
        Err(e) if e.code() == Some("ScanNotFoundException") => return Ok(None),
        Err(e) if e.code() == Some("ImageNotFoundException") => {
            return Err(Error::invalid(format!("ECR has no image {repository}@{digest}")));
        }
        Err(e) => return Err(ecr_error("DescribeImageScanFindings", e)),
    };
    let status = out.image_scan_status();
    let findings = out.image_scan_findings();
    Ok(Some(Probe {
        status: status
            .and_then(|s| s.status())
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        description: status.and_then(|s| s.description()).map(str::to_owned),
        completed_at: findings.and_then(|f| f.image_scan_completed_at()).copied(),
        counts: findings
            .and_then(|f| f.finding_severity_counts())
            .map(|m| m.iter().map(|(k, v)| (k.as_str().to_owned(), *v)).collect())
            .unwrap_or_default(),
    }))
}

/// Every page of the scan at 1000 a page, each read once; the raw bytes parsed (by the offline parser) and
/// hashed on a blocking thread while the next page is fetched.
async fn read_pages(ecr: &Client, registry_id: Option<&str>, repository: &str, digest: &str) -> Result<Vec<RawPage>> {
    let capture = CaptureBody::default();
    let mut parsing = Vec::new();
    let mut token: Option<String> = None;
    let mut seen_tokens = std::collections::HashSet::new();
    loop {
        let n = parsing.len() + 1;
        let out = findings_request(ecr, registry_id, repository, digest, 1000)
            .set_next_token(token.clone())
            .customize()
            .interceptor(capture.clone())
            .send()
            .await
            .map_err(|e| ecr_error(&format!("DescribeImageScanFindings page {n}"), e))?;
        let bytes = capture
            .take()
            .ok_or_else(|| Error::Undecidable(format!("ECR page {n}: the response body was not captured")))?;
        let label = format!("ecr:DescribeImageScanFindings/{repository}@{digest}/page-{n}");
        parsing.push(tokio::task::spawn_blocking(move || {
            let page = parse_page(Path::new(&label), &bytes)
                .map_err(|e| Error::Undecidable(format!("ECR answered a page bbgate cannot read: {e}")))?;
            let sha256 = crate::policy::sha256_hex(&bytes);
            Ok::<_, Error>(RawPage { bytes, sha256, page })
        }));
        match out.next_token().filter(|t| !t.is_empty()) {
            None => break,
            Some(t) if !seen_tokens.insert(t.to_owned()) => {
                return Err(Error::Undecidable(format!(
                    "ECR returned the nextToken of an earlier page again at page {n}: the pages would repeat"
                )));
            }
            Some(_) if n >= 10_000 => {
                return Err(Error::Undecidable("more than 10,000 pages: refusing to read on".into()));
            }
            Some(t) => token = Some(t.to_owned()),
        }
    }
    let mut pages = Vec::with_capacity(parsing.len());
    for task in parsing {
        pages.push(
            task.await
                .map_err(|e| Error::Undecidable(format!("parsing a page failed: {e}")))??,
        );
    }
    Ok(pages)
}

fn total(counts: &BTreeMap<String, i32>) -> i64 {
    counts.values().map(|v| i64::from(*v)).sum()
}

/// An image in ECR to read: its registry host (`ACCOUNT.dkr.ecr.REGION.amazonaws.com`; None: the sandbox's,
/// from the region), repository and digest.
pub(crate) struct ImageAt<'a> {
    pub(crate) host: Option<&'a str>,
    pub(crate) repository: &'a str,
    pub(crate) digest: &'a str,
}

/// The scans of `images` with one identity: one client (one credential resolution) per region, `at_once` images
/// read at a time, each by [`acquire`] (the fail-closed wait, every page, the completeness checks); the results
/// in the order given. Deploy and audit read what runs this way.
pub(crate) async fn acquire_all(
    images: &[ImageAt<'_>],
    identity: &crate::cli::AwsIdentity,
    wait: Wait,
    at_once: usize,
) -> Result<Vec<Scanned>> {
    use futures_util::StreamExt;
    let calls = CallCounter::default();
    let mut clients: Vec<(String, Client)> = Vec::new();
    let mut jobs = Vec::with_capacity(images.len());
    for image in images {
        let host = image.host.and_then(super::parse_ecr_host);
        let region = super::region(host.as_ref().map(|(_, r)| r.as_str()))?;
        let client = match clients.iter().find(|(r, _)| *r == region) {
            Some((_, c)) => c.clone(),
            None => {
                let (c, _) = super::ecr_client(
                    &region,
                    identity.role_arn.as_deref(),
                    identity.session_name.as_deref(),
                    &calls,
                )
                .await?;
                clients.push((region, c.clone()));
                c
            }
        };
        jobs.push((image, client, host.map(|(account, _)| account)));
    }
    let read: Vec<Result<Scanned>> =
        futures_util::stream::iter(jobs.into_iter().map(|(image, client, account)| async move {
            acquire(&client, account.as_deref(), image.repository, image.digest, wait).await
        }))
        .buffered(at_once.max(1))
        .collect()
        .await;
    read.into_iter().collect()
}

/// Wait for the scan and read it. Statuses that cannot be decided on exit 3; FAILED and its kin are handed to
/// the core, which denies naming them.
pub(crate) async fn acquire(
    ecr: &Client,
    registry_id: Option<&str>,
    repository: &str,
    digest: &str,
    wait: Wait,
) -> Result<Scanned> {
    let started = Instant::now();
    let mut delay = wait.poll_interval;
    let mut probes = 0u32;
    let mut scan_started = false;
    let mut registry_scan_type = None;
    let mut last_status: String;
    loop {
        probes += 1;
        let p = probe(ecr, registry_id, repository, digest).await?;
        match p {
            None if !scan_started && registry_scan_type.is_none() => {
                let conf = ecr.get_registry_scanning_configuration().send().await;
                let scan_type = conf
                    .ok()
                    .and_then(|c| c.scanning_configuration().and_then(|s| s.scan_type().cloned()));
                registry_scan_type = Some(scan_type.as_ref().map_or("unknown", |t| t.as_str()).to_owned());
                if scan_type != Some(ScanType::Enhanced) {
                    // BASIC scanning: start a scan. LimitExceeded means one exists today: use it.
                    match ecr
                        .start_image_scan()
                        .set_registry_id(registry_id.map(str::to_owned))
                        .repository_name(repository)
                        .image_id(ImageIdentifier::builder().image_digest(digest).build())
                        .send()
                        .await
                    {
                        Ok(_) => {
                            scan_started = true;
                            eprintln!("bbgate: started a basic scan of {repository}@{digest}");
                        }
                        Err(e) if e.code() == Some("LimitExceededException") => {}
                        Err(e) => return Err(ecr_error("StartImageScan", e)),
                    }
                }
                continue;
            }
            None => last_status = "no scan yet".into(),
            Some(p) => {
                last_status = format!(
                    "{}{}",
                    p.status,
                    p.description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default()
                );
                match p.status.as_str() {
                    "COMPLETE" | "ACTIVE" => {
                        // Read every page now, then confirm with a second status read at least a settle delay
                        // after the first: all three must agree (ECR has said COMPLETE before all findings
                        // existed). The full read usually outlasts the settle delay, so it costs no wall time.
                        let first_seen = Instant::now();
                        let pages = read_pages(ecr, registry_id, repository, digest).await?;
                        let agrees = check_read(&pages, &p);
                        if let Some(rest) = wait.poll_interval.checked_sub(first_seen.elapsed()) {
                            tokio::time::sleep(rest).await;
                        }
                        probes += 1;
                        let confirm = probe(ecr, registry_id, repository, digest).await?;
                        if confirm.as_ref() == Some(&p) {
                            // The scan held still: pages that contradict its counts are a hard failure, not a
                            // reason to read again.
                            agrees?;
                            return Ok(Scanned {
                                pages,
                                probes,
                                scan_started,
                                registry_scan_type,
                                waited: started.elapsed(),
                            });
                        }
                        if started.elapsed() + wait.poll_interval > wait.timeout {
                            return Err(timeout(wait, "the scan kept changing while it was read"));
                        }
                        eprintln!("bbgate: the scan changed while it was read; reading it again");
                        continue;
                    }
                    "IN_PROGRESS" | "PENDING" => {}
                    "FAILED" | "UNSUPPORTED_IMAGE" | "SCAN_ELIGIBILITY_EXPIRED" | "IMAGE_ARCHIVED" => {
                        let pages = read_pages(ecr, registry_id, repository, digest).await?;
                        return Ok(Scanned {
                            pages,
                            probes,
                            scan_started,
                            registry_scan_type,
                            waited: started.elapsed(),
                        });
                    }
                    "FINDINGS_UNAVAILABLE" | "LIMIT_EXCEEDED" => {
                        return Err(Error::Undecidable(format!(
                            "the scan of {repository}@{digest} is {last_status}: no findings to decide on; rerun later"
                        )));
                    }
                    other => {
                        return Err(Error::Undecidable(format!(
                            "the scan status {other:?} is unknown to bbgate: nothing decided"
                        )));
                    }
                }
            }
        }
        let nap = next_look(
            wait,
            started.elapsed(),
            delay,
            &last_status,
            &format!("{repository}@{digest}"),
        )?;
        tokio::time::sleep(nap).await;
        delay = (delay * 2).min(Duration::from_secs(30));
    }
}

/// How long to wait before the next look, said with how long has passed and how long is left: until
/// --scan-timeout really ends (the last look comes at the deadline, not a back-off early).
fn next_look(wait: Wait, elapsed: Duration, delay: Duration, last_status: &str, image: &str) -> Result<Duration> {
    let Some(left) = wait.timeout.checked_sub(elapsed).filter(|l| !l.is_zero()) else {
        return Err(timeout(wait, last_status));
    };
    let nap = delay.min(left);
    eprintln!(
        "bbgate: scan of {image}: {last_status}; waited {:.0} s of {} s (--scan-timeout), {:.0} s left; next look \
         in {:.1} s",
        elapsed.as_secs_f64(),
        wait.timeout.as_secs(),
        left.as_secs_f64(),
        nap.as_secs_f64()
    );
    Ok(nap)
}

fn timeout(wait: Wait, last_status: &str) -> Error {
    Error::Undecidable(format!(
        "the scan did not finish within --scan-timeout {} s (last status: {last_status}): nothing decided",
        wait.timeout.as_secs()
    ))
}

/// The full read must agree with the confirming probes and hold exactly the findings they count.
fn check_read(pages: &[RawPage], probe: &Probe) -> Result<()> {
    let first = &pages[0].page.scan;
    let status_ok = pages.iter().all(|p| p.page.scan.status == probe.status);
    let counts: BTreeMap<String, i32> = first
        .severity_counts
        .iter()
        .map(|(k, v)| (k.clone(), i32::try_from(*v).unwrap_or(i32::MAX)))
        .collect();
    if !status_ok || counts != probe.counts {
        return Err(Error::Undecidable(
            "the scan changed while it was being read (status or counts differ from the confirming probe): rerun"
                .into(),
        ));
    }
    let held: usize = pages.iter().map(|p| p.page.scan.findings.len()).sum();
    let counted = total(&probe.counts);
    if held as i64 != counted {
        return Err(Error::Undecidable(format!(
            "ECR's pages hold {held} findings but its findingSeverityCounts sum to {counted}: the read is incomplete; nothing decided"
        )));
    }
    Ok(())
}
