//! `bbgate verify` offline: read the saved files, call the pure core, write the outputs.

use crate::apitests::{self, TestRun};
use crate::cli::{Format, VerifyArgs};
use crate::error::{Error, Result, collect_all, exit, merge_errors};
use crate::findings::ecr;
use crate::gate::{self, Inputs, Verdict};
use crate::policy::signoff::{self, SignOff};
use crate::policy::{Policy, sha256_hex};
use crate::report::{self, Context, FileDigest, InputDigests};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The CircleCI variables recorded in the evidence.
pub const CIRCLECI_VARS: &[&str] = &[
    "CIRCLE_PROJECT_REPONAME",
    "CIRCLE_SHA1",
    "CIRCLE_BRANCH",
    "CIRCLE_BUILD_NUM",
    "CIRCLE_BUILD_URL",
    "CIRCLE_JOB",
    "CIRCLE_WORKFLOW_ID",
    "CIRCLE_PIPELINE_ID",
];

/// Files given directly, and the `*.json` files of directories given, in name order.
fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
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
fn read_pages(paths: &[PathBuf]) -> Result<Vec<(ecr::Page, FileDigest)>> {
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
                buf.clear();
                std::fs::File::open(p)
                    .and_then(|mut f| std::io::Read::read_to_end(&mut f, &mut buf))
                    .map_err(|e| Error::read(p, e))?;
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

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::read(path, e))
}

fn digest(path: &Path, bytes: &[u8]) -> FileDigest {
    FileDigest {
        path: path.display().to_string(),
        sha256: sha256_hex(bytes),
    }
}

pub fn evidence_key() -> Result<Option<Vec<u8>>> {
    match std::env::var_os(report::evidence::KEY_ENV) {
        None => Ok(None),
        Some(k) if k.is_empty() => Err(Error::invalid(format!(
            "{} is set but empty: unset it, or set the shared key",
            report::evidence::KEY_ENV
        ))),
        Some(k) => Ok(Some(k.into_encoded_bytes())),
    }
}

fn circleci_context() -> Option<BTreeMap<String, String>> {
    let ctx: BTreeMap<String, String> = CIRCLECI_VARS
        .iter()
        .filter_map(|&k| {
            std::env::var(k)
                .ok()
                .filter(|v| !v.is_empty())
                .map(|v| (k.to_owned(), v))
        })
        .collect();
    (!ctx.is_empty()).then_some(ctx)
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|e| Error::write(path, e))
}

pub fn run(args: &VerifyArgs) -> Result<u8> {
    let policy = Policy::load(args.policy.policy.as_deref())?;
    let key = evidence_key()?;
    let now = args.now.unwrap_or_else(jiff::Timestamp::now);

    // Read every input and report every problem before deciding.
    let page_paths = expand(&args.findings)?;
    let mut inputs = InputDigests::default();
    let pages_and_digests = read_pages(&page_paths);
    let runs_and_digests = collect_all(args.api_reports.iter().map(|p| {
        let bytes = read(p)?;
        Ok((apitests::parse_report(p, &bytes)?, digest(p, &bytes)))
    }));
    let signoff_files = signoff::load_files(&args.policy.signoffs, &policy);
    // Every problem of every input at once, before anything is decided.
    let (pages_and_digests, runs_and_digests, signoff_files) =
        match (pages_and_digests, runs_and_digests, signoff_files) {
            (Ok(p), Ok(r), Ok(s)) => (p, r, s),
            (p, r, s) => return Err(merge_errors([p.err(), r.err(), s.err()].into_iter().flatten())),
        };
    let (pages, page_digests): (Vec<_>, Vec<_>) = pages_and_digests.into_iter().unzip();
    let (runs, run_digests): (Vec<TestRun>, Vec<_>) = runs_and_digests.into_iter().unzip();

    inputs.findings_pages = page_digests;
    inputs.api_reports = run_digests;
    inputs.signoff_files = signoff_files
        .iter()
        .map(|f| FileDigest {
            path: f.path.display().to_string(),
            sha256: f.sha256.clone(),
        })
        .collect();
    let signoffs: Vec<SignOff> = signoff_files.into_iter().flat_map(|f| f.signoffs).collect();

    let (scan, input_notes) = ecr::merge(pages)?;
    let bb = policy.select_building_block(args.building_block.as_deref(), &scan.image.repository)?;
    let decision = gate::decide(
        &policy,
        bb,
        &Inputs {
            scan: &scan,
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
        scan: &scan,
        signoffs: &signoffs,
        registry: args.registry.as_deref(),
        policy: &policy.origin,
        building_block: bb,
        inputs: &inputs,
        now,
        circleci: circleci_context(),
        input_notes: &input_notes,
    };
    emit(&ctx, args, key.as_deref(), code)?;
    Ok(code)
}

fn json_error(path: &Path, e: serde_json::Error) -> Error {
    Error::write(path, std::io::Error::other(e))
}

/// Write the requested files, then the result on stdout.
pub fn emit(ctx: &Context, args: &VerifyArgs, key: Option<&[u8]>, code: u8) -> Result<()> {
    let mut evidence_sha256 = None;
    if let Some(path) = &args.evidence {
        let bytes = report::evidence::seal(&report::evidence::body(ctx), key).map_err(|e| json_error(path, e))?;
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
            .map_err(std::io::Error::other)
            .and_then(|()| out.write_all(b"\n")),
    };
    // A closed stdout (a pipe to `head`) must not turn a decision into a crash.
    written
        .and_then(|()| out.flush())
        .map_err(|e| Error::Undecidable(format!("cannot write the result to stdout: {e}")))
}

/// `bbgate policy check`: load and validate, decide nothing.
pub fn policy_check(args: &crate::cli::PolicyCheckArgs) -> Result<u8> {
    let policy = Policy::load(args.policy.policy.as_deref())?;
    let files = signoff::load_files(&args.policy.signoffs, &policy)?;
    let n: usize = files.iter().map(|f| f.signoffs.len()).sum();
    println!(
        "policy {} is valid: {} building block(s), block from {:.1}, sign-off from {:.1}; {} sign-off(s) in {} file(s) valid",
        policy.origin.location,
        policy.building_blocks.len(),
        policy.scan.block_from,
        policy.scan.signoff_from,
        n,
        files.len()
    );
    Ok(exit::PASS)
}
