//! `bbgate verify`: read the saved files or the scans in ECR (`online`), of one image or of every image a chart
//! runs (`chart`), call the pure core once for the release, write the outputs.

pub(crate) mod chart;
mod online;

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

/// Files given directly, and the `*.json` files of directories given and of their subdirectories (one folder
/// per image, as `--save-findings` writes a chart's), in name order.
pub(crate) fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let before = out.len();
            json_files(p, 0, &mut out)?;
            if out.len() == before {
                return Err(Error::invalid(format!(
                    "{}: directory holds no *.json findings pages",
                    p.display()
                )));
            }
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// The `*.json` files under `dir`, in name order, two levels deep at most.
fn json_files(dir: &Path, depth: u8, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::read(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for e in entries {
        if e.is_file() && e.extension().is_some_and(|x| x == "json") {
            out.push(e);
        } else if e.is_dir() && depth == 0 {
            json_files(&e, 1, out)?;
        }
    }
    Ok(())
}

/// Read, hash and parse findings pages on every core, keeping their order. Each worker reuses one
/// buffer: a fresh 1-2 MB allocation per page costs more in page faults than the parse itself.
/// `named`: the image `--image` says the pages are of (a scanner report read from a file names none).
pub(crate) fn read_page_files(paths: &[PathBuf], named: Option<&str>) -> Result<Vec<(ecr::Page, FileDigest)>> {
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
                Ok((ecr::parse_page_of(p, &buf, named)?, digest(p, &buf)))
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
    if args.chart.is_some() && args.image.is_some() {
        return Err(Error::invalid(
            "--image and --chart: give one (a chart's release judges every image the chart runs)",
        ));
    }
    if args.chart.is_none() && !args.render.is_empty() {
        return Err(Error::invalid(
            "--values, --set, --set-string and --release render a chart: give --chart DIR",
        ));
    }
    // With --findings, --image only names the image the saved reports are of: nothing is fetched.
    let online = args.findings.is_empty() && (args.image.is_some() || args.chart.is_some());
    // Every problem of the local inputs at once, before anything is fetched.
    if online && (runs_and_digests.is_err() || signoff_files.is_err()) {
        let errs = [runs_and_digests.err(), signoff_files.err()];
        return Err(merge_errors(errs.into_iter().flatten()));
    }
    let mut release_problems = Vec::new();
    let mut chart_record = None;
    let images = match (&args.image, &args.chart) {
        (Some(image), _) if online => fetch(args, &policy, image).map(|j| vec![j]),
        (None, Some(chart)) => chart::judge(args, &policy, chart).map(|r| {
            release_problems = r.release_problems;
            chart_record = Some(r.chart);
            r.images
        }),
        (named, _) => expand(&args.findings)
            .and_then(|paths| read_page_files(&paths, named.as_deref()))
            .and_then(|pages| judge_saved(pages, args.registry.as_deref())),
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
    let owners: Vec<(Option<&str>, &str)> = images
        .iter()
        .map(|j| (j.scan.image.registry_id.as_deref(), j.scan.image.repository.as_str()))
        .collect();
    let bb = policy.select_for_release(args.building_block.as_deref(), &owners)?;
    let scans: Vec<&Scan> = images.iter().map(|j| &j.scan).collect();
    let decision = gate::decide(
        &policy,
        bb,
        &Inputs {
            images: &scans,
            test_runs: &runs,
            release_problems: &release_problems,
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
        evidence_age: policy.deploy.max_evidence_age,
        circleci: crate::cli::CircleCi::from_env().context,
        chart: chart_record.as_ref(),
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

/// `--image`: a release of one image, refused before any AWS call when the building block may not run it.
fn fetch(args: &VerifyArgs, policy: &Policy, image: &str) -> Result<Judged> {
    let spec: crate::aws::ImageSpec = image.parse()?;
    let at = (spec.account.as_deref(), spec.repository.as_str());
    let bb = policy.select_for_release(args.building_block.as_deref(), &[at])?;
    if let Some(refusal) = policy.refuse_image(bb, at.0, at.1) {
        return Err(Error::Denied(refusal));
    }
    online::fetch_one(args, spec, image)
}

fn json_error(path: &Path, e: serde_json::Error) -> Error {
    Error::write(path, std::io::Error::other(e))
}

/// Write an output file and say so on stderr, with its sha256 (stdout holds the result alone).
pub(crate) fn write_output(what: &str, path: &Path, bytes: &[u8]) -> Result<String> {
    write(path, bytes)?;
    let sha = sha256_hex(bytes);
    eprintln!("bbgate: wrote the {what} {} (sha256 {sha})", path.display());
    Ok(sha)
}

/// Write the requested files, then the result on stdout.
pub(crate) fn emit(ctx: &Context, args: &VerifyArgs, code: u8) -> Result<()> {
    let mut evidence_sha256 = None;
    if let Some(path) = &args.evidence {
        let bytes = report::evidence::seal(&report::evidence::body(ctx)).map_err(|e| json_error(path, e))?;
        evidence_sha256 = Some(write_output("evidence", path, &bytes)?);
    }
    if let Some(path) = &args.attestation {
        let statement = report::evidence::attestation(ctx, evidence_sha256.as_deref());
        let bytes = serde_json::to_vec_pretty(&statement).map_err(|e| json_error(path, e))?;
        write_output("attestation", path, &bytes)?;
    }
    if let Some(path) = &args.junit {
        let bytes = report::junit::render(ctx).map_err(|e| Error::write(path, e))?;
        write_output("JUnit report", path, &bytes)?;
    }
    if let Some(path) = &args.sarif {
        let bytes = serde_json::to_vec_pretty(&report::sarif::render(ctx)).map_err(|e| json_error(path, e))?;
        write_output("SARIF log", path, &bytes)?;
    }
    if let Some(path) = &args.markdown {
        write_output(
            "Markdown summary",
            path,
            report::markdown::render(ctx, evidence_sha256.as_deref()).as_bytes(),
        )?;
    }
    if let Some(path) = &args.html {
        write_output(
            "HTML report",
            path,
            report::html::render(ctx, evidence_sha256.as_deref()).as_bytes(),
        )?;
    }
    if let Some(path) = &args.json {
        let bytes = serde_json::to_vec_pretty(&report::json::render(ctx, code)).map_err(|e| json_error(path, e))?;
        write_output("JSON decision", path, &bytes)?;
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let written = match args.format {
        Format::Human => out.write_all(crate::output::terminal_safe(&report::table::render(ctx)).as_bytes()),
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
    let now = args.now.unwrap_or_else(jiff::Timestamp::now);
    let today = now.to_zoned(jiff::tz::TimeZone::UTC).date();
    let mut dated = Vec::new();
    for s in files.iter().flat_map(|f| &f.signoffs) {
        let left = crate::policy::days_between(today, s.expires);
        let what = if s.expires < today {
            format!("expired on {} ({} days ago)", s.expires, -left)
        } else if s.approved_on > today {
            format!("not valid until {} (approved_on is in the future)", s.approved_on)
        } else if left <= policy.signoffs.warn_before_days {
            format!("expires on {} (in {left} days)", s.expires)
        } else {
            continue;
        };
        dated.push(format!("  {} ({} at {}): {what}", s.id, s.building_block, s.location));
    }
    let mut out = format!(
        "policy {} is valid: {} building block(s), block from {:.1}, sign-off from {:.1}; {} sign-off(s) in {} file(s) well-formed",
        policy.origin.location,
        policy.building_blocks.len(),
        policy.scan.block_from,
        policy.scan.signoff_from,
        n,
        files.len()
    );
    if !dated.is_empty() {
        out.push_str(&format!(
            "\nsign-offs that do not apply as of {today}, or soon will not:"
        ));
        for d in &dated {
            out.push('\n');
            out.push_str(d);
        }
    }
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
    crate::output::human(&out)?;
    Ok(exit::PASS)
}
