//! The online edge of verify: one set of credentials (CircleCI OIDC -> STS, or the standard chain), then for
//! each image of the release its digest (a tag resolved, or the digest pushed), its scan waited for and every
//! page read, the images concurrently (bounded). What comes back is the raw pages, read by the same parser and
//! decided by the same core as saved files.

use super::write;
use crate::aws::{self, CallCounter, ImageSpec, ecr as aws_ecr};
use crate::cli::VerifyArgs;
use crate::error::{Error, Result, collect_all};
use crate::findings::ecr;
use crate::report::acquisition::{Acquisition, Identity, PushReport};
use crate::report::{FileDigest, Judged};
use futures_util::StreamExt;
use std::path::{Path, PathBuf};

/// How many images are read from ECR at once: enough to overlap the waits, few enough not to be throttled.
const CONCURRENT_IMAGES: usize = 4;

/// One image to read: how the release named it and where it is in ECR.
pub(super) struct Wanted {
    pub(super) reference: String,
    pub(super) spec: ImageSpec,
    /// Where its raw pages are saved (`--save-findings`), when asked.
    pub(super) save_to: Option<PathBuf>,
}

/// `--image`: the release of one image, pushed first with `--push-from`.
pub(super) fn fetch_one(args: &VerifyArgs, spec: ImageSpec, reference: &str) -> Result<Judged> {
    // The image to push is read and checked before any AWS call; it needs a tag to push to.
    let pushing = match &args.push_from {
        Some(source) if spec.tag.is_none() || spec.digest.is_some() => {
            return Err(Error::invalid(format!(
                "--push-from {source}: give --image as REPO:TAG (the tag pushed to); the digest comes from the push"
            )));
        }
        Some(source) => Some(crate::push::source::load(source)?),
        None => None,
    };
    let wanted = Wanted {
        reference: reference.to_owned(),
        spec,
        save_to: args.save_findings.clone(),
    };
    let mut judged = fetch(args, vec![wanted], pushing.as_ref())?;
    judged
        .pop()
        .ok_or_else(|| Error::Undecidable("no image was read".into()))
}

/// Read every wanted image with one identity, at most `CONCURRENT_IMAGES` at a time; the results in order.
pub(super) fn fetch(
    args: &VerifyArgs,
    wanted: Vec<Wanted>,
    pushing: Option<&crate::push::source::Image>,
) -> Result<Vec<Judged>> {
    let region = aws::region(wanted.iter().find_map(|w| w.spec.region.as_deref()))?;
    let wait = aws_ecr::Wait {
        timeout: args.scan_timeout,
        poll_interval: args.poll_interval,
    };
    let runtime = aws::runtime()?;
    let credential_calls = CallCounter::default();
    runtime.block_on(async {
        let (conf, identity) = aws::config(
            &region,
            args.aws.role_arn.as_deref(),
            args.aws.session_name.as_deref(),
            &credential_calls,
        )
        .await?;
        let (conf, identity, credential_calls, region) = (&conf, &identity, &credential_calls, &region);
        let reads = wanted.iter().map(|w| async move {
            // Each image counts its own ECR calls; the credential calls are shared by every image.
            let calls = CallCounter::default();
            // An image of a registry in another region (a vendor's ECR) is read there, with the same identity.
            let client = aws_ecr::client_in(conf, &calls, w.spec.region.as_deref().filter(|r| r != region));
            let read = read_image(args, &client, w, pushing, wait).await?;
            let mut all = credential_calls.snapshot();
            for (op, n) in calls.snapshot() {
                *all.entry(op).or_default() += n;
            }
            judge(args, w, read, region, identity.clone(), all)
        });
        let results: Vec<Result<Judged>> = futures_util::stream::iter(reads)
            .buffered(CONCURRENT_IMAGES)
            .collect()
            .await;
        collect_all(results)
    })
}

/// What reading one image took.
struct Read {
    scanned: aws_ecr::Scanned,
    pushed: Option<PushReport>,
}

/// Resolve (or push) one image and read its scan.
async fn read_image(
    args: &VerifyArgs,
    client: &aws_sdk_ecr::Client,
    w: &Wanted,
    pushing: Option<&crate::push::source::Image>,
    wait: aws_ecr::Wait,
) -> Result<Read> {
    let spec = &w.spec;
    let (digest, pushed) = match pushing {
        Some(image) => {
            let (auth, own_host) = crate::push::ecr_auth(client).await?;
            let host = spec.registry.clone().unwrap_or(own_host);
            let target = crate::push::Target {
                host: host.clone(),
                repository: spec.repository.clone(),
                tag: spec.tag.clone().unwrap_or_default(),
            };
            let endpoint = crate::push::Endpoint::resolve(&host, args.registry_url.as_deref(), false)?;
            let report = crate::push::push_image(image, &target, &endpoint, &auth, "ECR authorization token").await?;
            eprintln!(
                "bbgate: pushed {} ({} blobs uploaded)",
                report.reference, report.blobs_uploaded
            );
            (report.digest.clone(), Some(report))
        }
        None => (
            aws_ecr::resolve(
                client,
                spec.account.as_deref(),
                &spec.repository,
                spec.tag.as_deref(),
                spec.digest.as_deref(),
            )
            .await
            .map_err(|e| e.within(&w.reference))?,
            None,
        ),
    };
    let scanned = aws_ecr::acquire(client, spec.account.as_deref(), &spec.repository, &digest, wait)
        .await
        .map_err(|e| e.within(&w.reference))?;
    Ok(Read { scanned, pushed })
}

/// The pages read, saved when asked and merged into the image's scan.
fn judge(
    args: &VerifyArgs,
    w: &Wanted,
    read: Read,
    region: &str,
    identity: Identity,
    calls: std::collections::BTreeMap<String, u32>,
) -> Result<Judged> {
    let Read { scanned, pushed } = read;
    let spec = &w.spec;
    if let Some(dir) = &w.save_to {
        std::fs::create_dir_all(dir).map_err(|e| Error::write(dir, e))?;
    }
    // The registry host: the one named in the reference, else the account ECR answered with.
    let account = scanned
        .pages
        .first()
        .and_then(|p| p.page.scan.image.registry_id.clone())
        .or(spec.account.clone());
    // The host the reference names (a vendor's registry), else `--registry`, else the account ECR answered with.
    let region = spec.region.as_deref().unwrap_or(region);
    let registry = spec
        .registry
        .clone()
        .or_else(|| args.registry.clone())
        .or_else(|| account.map(|a| format!("{a}.dkr.ecr.{region}.amazonaws.com")));
    let mut pages = Vec::with_capacity(scanned.pages.len());
    let mut digests = Vec::with_capacity(scanned.pages.len());
    for (i, raw) in scanned.pages.into_iter().enumerate() {
        let label = match &w.save_to {
            Some(dir) => save(dir, i, &raw.bytes)?,
            None => raw.page.path.display().to_string(),
        };
        pages.push(raw.page);
        digests.push(FileDigest {
            path: label,
            sha256: raw.sha256,
        });
    }
    if let Some(dir) = &w.save_to {
        eprintln!(
            "bbgate: saved {} findings page(s) of {} in {}",
            digests.len(),
            w.reference,
            dir.display()
        );
    }
    let (mut scan, notes) = ecr::merge(pages).map_err(|e| e.within(&w.reference))?;
    // The tag the pipeline asked for, not whatever tag the scan response carries.
    if spec.tag.is_some() {
        scan.image.tag = spec.tag.clone();
    }
    Ok(Judged {
        reference: w.reference.clone(),
        scan,
        registry,
        pages: digests,
        notes,
        acquisition: Some(Acquisition {
            calls,
            identity,
            probes: scanned.probes,
            push: pushed,
            registry_scan_type: scanned.registry_scan_type,
            scan_started: scanned.scan_started,
            scan_wait_seconds: (scanned.waited.as_secs_f64() * 1000.0).round() / 1000.0,
            source: "ecr".into(),
        }),
    })
}

fn save(dir: &Path, i: usize, bytes: &[u8]) -> Result<String> {
    let path = dir.join(format!("page-{:04}.json", i + 1));
    write(&path, bytes)?;
    Ok(path.display().to_string())
}
