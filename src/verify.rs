//! `bbgate verify` offline: read the saved files, call the pure core, write the outputs.

use crate::apitests::{self, TestRun};
use crate::cli::{Format, VerifyArgs};
use crate::error::{Error, Result, collect_all, exit, merge_errors};
use crate::findings::Scan;
use crate::findings::ecr;
use crate::gate::{self, Inputs, Verdict};
use crate::policy::signoff::{self, SignOff};
use crate::policy::{Policy, sha256_hex};
use crate::report::{self, Context, FileDigest, InputDigests, Judged};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Files given directly, and the `*.json` files of directories given, in name order.
pub(crate) fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| Error::read(p, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.is_file() && f.extension().is_some_and(|x| x == "json"))
                .collect();
            if found.is_empty() {
                return Err(Error::invalid(format!(
                    "{}: directory holds no *.json findings pages",
                    p.display()
                )));
            }
            found.sort();
            out.extend(found);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// Read, hash and parse findings pages on every core, keeping their order. Each worker reuses one
/// buffer: a fresh 1-2 MB allocation per page costs more in page faults than the parse itself.
pub(crate) fn read_page_files(paths: &[PathBuf]) -> Result<Vec<(ecr::Page, FileDigest)>> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 4)
        .min(paths.len().max(1));
    let chunk = paths.len().div_ceil(workers).max(1);
    let parse_chunk = |chunk: &[PathBuf]| -> Vec<Result<(ecr::Page, FileDigest)>> {
        let mut buf = Vec::new();
        chunk
            .iter()
            .map(|p| {
                crate::input::read_into(p, crate::input::FINDINGS_PAGE, &mut buf)?;
                Ok((ecr::parse_page(p, &buf)?, digest(p, &buf)))
            })
            .collect()
    };
    let results: Vec<Result<(ecr::Page, FileDigest)>> = if workers == 1 {
        parse_chunk(paths)
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = paths.chunks(chunk).map(|c| s.spawn(move || parse_chunk(c))).collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        })
    };
    collect_all(results)
}

/// Read, hash and parse API test reports, every problem at once.
pub(crate) fn read_reports(paths: &[PathBuf]) -> Result<Vec<(TestRun, FileDigest)>> {
    collect_all(paths.iter().map(|p| {
        let bytes = read(p)?;
        Ok((apitests::parse_report(p, &bytes)?, digest(p, &bytes)))
    }))
}

fn read(path: &Path) -> Result<Vec<u8>> {
    crate::input::read(path, crate::input::API_REPORT)
}

fn digest(path: &Path, bytes: &[u8]) -> FileDigest {
    FileDigest {
        path: path.display().to_string(),
        sha256: sha256_hex(bytes),
    }
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|e| Error::write(path, e))
}

pub fn run(args: &VerifyArgs) -> Result<u8> {
    let policy = Policy::load(args.policy.policy.as_deref(), crate::cli::policy_pin().as_deref())?;
    let now = args.now.unwrap_or_else(jiff::Timestamp::now);

    // Local inputs first: a bad report or sign-off is found before any wait on ECR.
    let runs_and_digests = read_reports(&args.api_reports);
    let signoff_files = signoff::load_files(&args.policy.signoffs, &policy);
    let images = match &args.image {
        None => expand(&args.findings)
            .and_then(|paths| read_page_files(&paths))
            .and_then(|pages| judge_saved(pages, args.registry.as_deref())),
        Some(image) => {
            // Every problem of the local inputs at once, before anything is fetched.
            if runs_and_digests.is_err() || signoff_files.is_err() {
                let errs = [runs_and_digests.err(), signoff_files.err()];
                return Err(merge_errors(errs.into_iter().flatten()));
            }
            fetch(args, &policy, image).map(|j| vec![j])
        }
    };
    // Every problem of every input at once, before anything is decided.
    let (images, runs_and_digests, signoff_files) = match (images, runs_and_digests, signoff_files) {
        (Ok(i), Ok(r), Ok(s)) => (i, r, s),
        (i, r, s) => return Err(merge_errors([i.err(), r.err(), s.err()].into_iter().flatten())),
    };
    let (runs, run_digests): (Vec<TestRun>, Vec<_>) = runs_and_digests.into_iter().unzip();
    let inputs = InputDigests {
        api_reports: run_digests,
        signoff_files: signoff_files
            .iter()
            .map(|f| FileDigest {
                path: f.path.display().to_string(),
                sha256: f.sha256.clone(),
            })
            .collect(),
    };
    let signoffs: Vec<SignOff> = signoff_files.into_iter().flat_map(|f| f.signoffs).collect();
    let repositories: Vec<&str> = images.iter().map(|j| j.scan.image.repository.as_str()).collect();
    let bb = policy.select_for_release(args.building_block.as_deref(), &repositories)?;
    let scans: Vec<&Scan> = images.iter().map(|j| &j.scan).collect();
    let decision = gate::decide(
        &policy,
        bb,
        &Inputs {
            images: &scans,
            test_runs: &runs,
            signoffs: &signoffs,
        },
        now,
    );
    let code = if decision.verdict == Verdict::Pass {
        exit::PASS
    } else {
        exit::DENY
    };

    let ctx = Context {
        decision: &decision,
        images: &images,
        signoffs: &signoffs,
        policy: &policy.origin,
        building_block: bb,
        inputs: &inputs,
        now,
        circleci: crate::cli::CircleCi::from_env().context,
        chart: None,
    };
    emit(&ctx, args, code)?;
    Ok(code)
}

/// Saved pages of one or more images: grouped by image (`repositoryName` + `imageDigest`, in the order each
/// image first appears), each group merged and checked for completeness as one scan.
pub(crate) fn judge_saved(pages: Vec<(ecr::Page, FileDigest)>, registry: Option<&str>) -> Result<Vec<Judged>> {
    collect_all(ecr::by_image(pages, |(p, _)| p).into_iter().map(|group| {
        let (pages, digests): (Vec<_>, Vec<_>) = group.into_iter().unzip();
        let image = &pages[0].scan.image;
        let reference = format!("{}@{}", image.repository, image.digest);
        let (scan, notes) = ecr::merge(pages).map_err(|e| e.within(&format!("image {reference}")))?;
        Ok(Judged {
            reference,
            scan,
            registry: registry.map(str::to_owned),
            pages: digests,
            notes,
            acquisition: None,
        })
    }))
}

/// The online edge: credentials, the image's digest, the scan, every page. Refuses an image the building
/// block may not run before making any AWS call.
fn fetch(args: &VerifyArgs, policy: &Policy, image: &str) -> Result<Judged> {
    use crate::aws::{self, CallCounter, ecr as aws_ecr};
    let spec: aws::ImageSpec = image.parse()?;
    let bb = policy.select_for_release(args.building_block.as_deref(), &[spec.repository.as_str()])?;
    if let Some(refusal) = policy.refuse_image(bb, &spec.repository) {
        return Err(Error::Denied(refusal));
    }
    let region = aws::region(spec.region.as_deref())?;
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
    let wait = aws_ecr::Wait {
        timeout: args.scan_timeout,
        poll_interval: args.poll_interval,
    };
    let runtime = aws::runtime()?;
    let calls = CallCounter::default();
    let scanned = runtime.block_on(async {
        let (client, identity) =
            aws::ecr_client(&region, args.role_arn.as_deref(), args.session_name.as_deref(), &calls).await?;
        let (digest, pushed) = match &pushing {
            Some(image) => {
                let (auth, own_host) = crate::push::ecr_auth(&client).await?;
                let host = spec.registry.clone().unwrap_or(own_host);
                let target = crate::push::Target {
                    host: host.clone(),
                    repository: spec.repository.clone(),
                    tag: spec.tag.clone().unwrap_or_default(),
                };
                let endpoint = crate::push::Endpoint::resolve(&host, args.registry_url.as_deref(), false)?;
                let report =
                    crate::push::push_image(image, &target, &endpoint, &auth, "ECR authorization token").await?;
                eprintln!(
                    "bbgate: pushed {} ({} blobs uploaded)",
                    report.reference, report.blobs_uploaded
                );
                (report.digest.clone(), Some(report))
            }
            None => (
                aws_ecr::resolve(
                    &client,
                    spec.account.as_deref(),
                    &spec.repository,
                    spec.tag.as_deref(),
                    spec.digest.as_deref(),
                )
                .await?,
                None,
            ),
        };
        let scanned = aws_ecr::acquire(&client, spec.account.as_deref(), &spec.repository, &digest, wait).await?;
        Ok::<_, Error>((scanned, identity, pushed))
    });
    let (scanned, identity, pushed) = scanned?;
    if let Some(dir) = &args.save_findings {
        std::fs::create_dir_all(dir).map_err(|e| Error::write(dir, e))?;
    }
    // The registry host: the one named in --image, else the account ECR answered with.
    let account = scanned
        .pages
        .first()
        .and_then(|p| p.page.scan.image.registry_id.clone())
        .or(spec.account.clone());
    let registry = spec
        .registry
        .clone()
        .or_else(|| account.map(|a| format!("{a}.dkr.ecr.{region}.amazonaws.com")));
    let mut pages = Vec::with_capacity(scanned.pages.len());
    let mut digests = Vec::with_capacity(scanned.pages.len());
    for (i, raw) in scanned.pages.into_iter().enumerate() {
        let label = match &args.save_findings {
            Some(dir) => {
                let path = dir.join(format!("page-{:04}.json", i + 1));
                write(&path, &raw.bytes)?;
                path.display().to_string()
            }
            None => raw.page.path.display().to_string(),
        };
        pages.push(raw.page);
        digests.push(FileDigest {
            path: label,
            sha256: raw.sha256,
        });
    }
    let (mut scan, notes) = ecr::merge(pages)?;
    // The tag the pipeline asked for, not whatever tag the scan response carries.
    if spec.tag.is_some() {
        scan.image.tag = spec.tag.clone();
    }
    Ok(Judged {
        reference: image.to_owned(),
        scan,
        registry: args.registry.clone().or(registry),
        pages: digests,
        notes,
        acquisition: Some(aws_ecr::Acquisition {
            calls: calls.snapshot(),
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

fn json_error(path: &Path, e: serde_json::Error) -> Error {
    Error::write(path, std::io::Error::other(e))
}

/// Write the requested files, then the result on stdout.
pub(crate) fn emit(ctx: &Context, args: &VerifyArgs, code: u8) -> Result<()> {
    let mut evidence_sha256 = None;
    if let Some(path) = &args.evidence {
        let bytes = report::evidence::seal(&report::evidence::body(ctx)).map_err(|e| json_error(path, e))?;
        write(path, &bytes)?;
        evidence_sha256 = Some(sha256_hex(&bytes));
    }
    if let Some(path) = &args.attestation {
        let statement = report::evidence::attestation(ctx, evidence_sha256.as_deref());
        write(
            path,
            &serde_json::to_vec_pretty(&statement).map_err(|e| json_error(path, e))?,
        )?;
    }
    if let Some(path) = &args.junit {
        let bytes = report::junit::render(ctx).map_err(|e| Error::write(path, e))?;
        write(path, &bytes)?;
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let written = match args.format {
        Format::Human => out.write_all(report::table::render(ctx).as_bytes()),
        Format::Json => serde_json::to_writer_pretty(&mut out, &report::json::render(ctx, code))
            .map_err(|e| {
                e.io_error_kind()
                    .map_or_else(|| std::io::Error::other(e), std::io::Error::from)
            })
            .and_then(|()| out.write_all(b"\n")),
    };
    // A closed stdout (a pipe to `head`) must not turn a decision into a crash or change its exit code.
    crate::output::written(written.and_then(|()| out.flush()))
}

/// `bbgate policy check`: load and validate, decide nothing.
pub fn policy_check(args: &crate::cli::PolicyCheckArgs) -> Result<u8> {
    let policy = Policy::load(args.policy.policy.as_deref(), crate::cli::policy_pin().as_deref())?;
    if !policy.deploy.rego_problems.is_empty() {
        return Err(Error::Invalid(policy.deploy.rego_problems.clone()));
    }
    let files = signoff::load_files(&args.policy.signoffs, &policy)?;
    let n: usize = files.iter().map(|f| f.signoffs.len()).sum();
    let mut out = format!(
        "policy {} is valid: {} building block(s), block from {:.1}, sign-off from {:.1}; {} sign-off(s) in {} file(s) valid",
        policy.origin.location,
        policy.building_blocks.len(),
        policy.scan.block_from,
        policy.scan.signoff_from,
        n,
        files.len()
    );
    // What the admins put in their deploy context to pin these files.
    out.push_str(&format!("\n{}={}", crate::policy::PIN_ENV, policy.origin.sha256));
    if !files.is_empty() {
        let pins: Vec<&str> = files.iter().map(|f| f.sha256.as_str()).collect();
        out.push_str(&format!(
            "\n{}={}",
            crate::deploy::redecide::SIGNOFFS_PIN_ENV,
            pins.join(",")
        ));
    }
    crate::output::line(&out)?;
    Ok(exit::PASS)
}
