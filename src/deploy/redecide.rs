//! Deploy decides again. Verify's evidence is written by a job whose steps the judged BB controls, so its
//! verdict, outcomes and reasons count for nothing here: deploy runs the same pure core (`gate::decide`) on
//! inputs it can vouch for, under the admins' policy (built-in, or pinned by `BBGATE_POLICY_SHA256`):
//! - the scan: read from ECR by digest when deploy has AWS access (AWS controls it); otherwise the saved pages
//!   the evidence names, byte for byte (then the record says that the scan was not read by deploy itself);
//! - the API test reports: exactly the files the evidence names (by sha256);
//! - the sign-offs: only files the admins pinned (`BBGATE_SIGNOFFS_SHA256`), never the BB's own copies.

use super::evidence::Admitted;
use crate::apitests::TestRun;
use crate::error::{Error, Result};
use crate::findings::ecr;
use crate::gate::{self, Inputs, Verdict};
use crate::policy::signoff::{self, SignOff, SignoffFile};
use crate::policy::{BuildingBlock, Policy};
use crate::report::FileDigest;
use serde::Serialize;
use std::path::PathBuf;

/// The admins' pins of the sign-off files deploy may count: sha256s, comma- or space-separated.
pub(crate) const SIGNOFFS_PIN_ENV: &str = "BBGATE_SIGNOFFS_SHA256";

/// Parse the pins (`BBGATE_SIGNOFFS_SHA256`): every one a sha256.
pub(crate) fn parse_pins(raw: Option<&str>) -> Result<Vec<String>> {
    let mut pins = Vec::new();
    for p in raw.unwrap_or("").split(|c: char| c == ',' || c.is_whitespace()) {
        if p.is_empty() {
            continue;
        }
        let hex = crate::policy::parse_sha256(p).ok_or_else(|| {
            Error::invalid(format!(
                "{SIGNOFFS_PIN_ENV}: {p:?} is not a sha256 (64 hex digits); `bbgate policy check --signoffs FILE` \
                 prints the value to set"
            ))
        })?;
        pins.push(hex);
    }
    Ok(pins)
}

/// What deploy decided, as the record keeps it.
#[derive(Debug, Serialize)]
pub(crate) struct Redecision {
    pub(crate) api_reports: Vec<FileDigest>,
    pub(crate) reasons: Vec<crate::diag::Diagnostic>,
    /// `ecr` (read by deploy itself) or `saved-pages` (the pages the evidence names).
    pub(crate) scan_source: &'static str,
    pub(crate) signoff_files: Vec<FileDigest>,
    pub(crate) verdict: Verdict,
}

/// The given files must be exactly the ones the evidence names (as a multiset of sha256).
fn same_files(what: &str, flag: &str, given: &[FileDigest], claimed: &[FileDigest]) -> Result<()> {
    let mut want: Vec<&str> = claimed.iter().map(|c| c.sha256.as_str()).collect();
    let mut problems = Vec::new();
    for g in given {
        match want.iter().position(|w| *w == g.sha256) {
            Some(i) => {
                want.swap_remove(i);
            }
            None => problems.push(format!(
                "{flag} {}: sha256 {} is not one of the {what} the evidence names: deploy decides on the inputs \
                 verify recorded, unchanged",
                g.path, g.sha256
            )),
        }
    }
    for w in want {
        let named = claimed.iter().find(|c| c.sha256 == w).map_or("?", |c| c.path.as_str());
        problems.push(format!(
            "the evidence names {what} {named} (sha256 {w}), and deploy was not given it: pass it with {flag}"
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Invalid(problems))
    }
}

/// The API test reports verify decided on, read again and checked against the evidence.
pub(crate) fn load_reports(paths: &[PathBuf], admitted: &Admitted) -> Result<(Vec<TestRun>, Vec<FileDigest>)> {
    let read = crate::verify::read_reports(paths)?;
    let (runs, digests): (Vec<_>, Vec<_>) = read.into_iter().unzip();
    same_files("API test reports", "--api-report", &digests, &admitted.api_reports)?;
    Ok((runs, digests))
}

/// The admins' sign-offs: every file must be pinned.
pub(crate) fn load_signoffs(paths: &[PathBuf], pins: &[String], policy: &Policy) -> Result<Vec<SignoffFile>> {
    let files = signoff::load_files(paths, policy)?;
    let unpinned: Vec<String> = files
        .iter()
        .filter(|f| !pins.contains(&f.sha256))
        .map(|f| {
            format!(
                "--signoffs {}: sha256 {} is not pinned by {SIGNOFFS_PIN_ENV}: deploy counts only the sign-offs the \
                 admins pinned in their context (a BB's own copy could say anything); add the sha256 there once an \
                 admin has reviewed the file",
                f.path.display(),
                f.sha256
            )
        })
        .collect();
    if unpinned.is_empty() {
        Ok(files)
    } else {
        Err(Error::Invalid(unpinned))
    }
}

/// The saved pages the evidence names, read and checked byte for byte (sha256).
pub(crate) fn load_saved_pages(paths: &[PathBuf], admitted: &Admitted) -> Result<Vec<ecr::Page>> {
    let files = crate::verify::expand(paths)?;
    let read = crate::verify::read_page_files(&files, None)?;
    let (pages, digests): (Vec<_>, Vec<_>) = read.into_iter().unzip();
    same_files("findings pages", "--findings", &digests, &admitted.findings_pages())?;
    Ok(pages)
}

/// The inputs deploy vouches for, read and checked.
pub(crate) struct Trusted {
    pub(crate) pages: Vec<ecr::Page>,
    /// `ecr` or `saved-pages`.
    pub(crate) scan_source: &'static str,
    pub(crate) reports: (Vec<TestRun>, Vec<FileDigest>),
    pub(crate) signoff_files: Vec<SignoffFile>,
}

/// The pure part: merge the pages, require them to be the evidence's image, decide.
pub(crate) fn decide_again(
    policy: &Policy,
    bb: &BuildingBlock,
    admitted: &Admitted,
    trusted: Trusted,
    now: jiff::Timestamp,
) -> Result<Redecision> {
    let Trusted {
        pages,
        scan_source,
        reports,
        signoff_files,
    } = trusted;
    // Each image's pages merged as its own scan; the images read must be exactly the evidence's.
    let mut scans = Vec::with_capacity(admitted.images.len());
    for g in ecr::by_image(pages, |p| p) {
        scans.push(ecr::merge(g)?.0);
    }
    let read: Vec<String> = scans.iter().map(gate::image_location).collect();
    let named: Vec<String> = admitted
        .images
        .iter()
        .map(|i| format!("{}@{}", i.image.repository, i.image.digest))
        .collect();
    let (mut r, mut n) = (read.clone(), named.clone());
    r.sort();
    n.sort();
    if r != n {
        return Err(Error::Denied(format!(
            "the scans read are of {}, but the evidence names {}: deploy judges exactly the evidence's images",
            read.join(", "),
            named.join(", ")
        )));
    }
    let digests = signoff_files
        .iter()
        .map(|f| FileDigest {
            path: f.path.display().to_string(),
            sha256: f.sha256.clone(),
        })
        .collect();
    let signoffs: Vec<SignOff> = signoff_files.into_iter().flat_map(|f| f.signoffs).collect();
    let decision = gate::decide(
        policy,
        bb,
        &Inputs {
            images: &scans.iter().collect::<Vec<_>>(),
            test_runs: &reports.0,
            release_problems: &[],
            signoffs: &signoffs,
        },
        now,
    );
    Ok(Redecision {
        api_reports: reports.1,
        reasons: decision.reasons,
        scan_source,
        signoff_files: digests,
        verdict: decision.verdict,
    })
}

impl Redecision {
    /// Deploy goes on only on its own pass.
    pub(crate) fn refusal(&self) -> Option<String> {
        (self.verdict != Verdict::Pass).then(|| {
            let mut msg = format!(
                "deploy decided again under the admins' policy (scan from {}) and denies:",
                self.scan_source
            );
            for r in &self.reasons {
                msg.push_str(&format!("\n  - {} [{}]", r.message, r.code));
            }
            msg
        })
    }
}
