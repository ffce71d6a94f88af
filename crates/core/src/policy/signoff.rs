//! Sign-offs: a recorded, approved, expiring acceptance of one finding in the sign-off band.

use super::Policy;
use crate::diag;
use crate::error::{Error, Result, collect_all};
use crate::findings::ecr::is_sha256_digest;
use jiff::civil::Date;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use toml::Spanned;

#[derive(Debug, Clone, PartialEq)]
pub struct SignOff {
    pub id: String,
    pub building_block: String,
    pub package: Option<String>,
    /// Scope to one image of the release: its ECR repository (e.g. `docker-hub/library/postgres`).
    pub repository: Option<String>,
    pub digest: Option<String>,
    pub analysis: String,
    pub mitigation: String,
    pub approved_by: String,
    pub approved_on: Date,
    pub expires: Date,
    /// `file:line` of the entry, so every message can point at it.
    pub location: String,
}

/// One sign-off file, read and checked.
#[derive(Debug, Clone)]
pub struct SignoffFile {
    pub path: PathBuf,
    pub sha256: String,
    pub signoffs: Vec<SignOff>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    signoff: Vec<Spanned<RawSignoff>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSignoff {
    id: Option<Spanned<String>>,
    building_block: Option<Spanned<String>>,
    package: Option<Spanned<String>>,
    repository: Option<Spanned<String>>,
    digest: Option<Spanned<String>>,
    analysis: Option<Spanned<String>>,
    mitigation: Option<Spanned<String>>,
    approved_by: Option<Spanned<String>>,
    approved_on: Option<Spanned<toml::Value>>,
    expires: Option<Spanned<toml::Value>>,
}

/// Read and validate sign-off files against the policy. Every problem in every file is reported at once.
pub fn load_files(paths: &[PathBuf], policy: &Policy) -> Result<Vec<SignoffFile>> {
    let files = collect_all(paths.iter().map(|path| {
        let src = crate::input::read_text(path, crate::input::SIGNOFFS)?;
        let signoffs = parse(path, &src, policy)?;
        Ok(SignoffFile {
            path: path.clone(),
            sha256: super::sha256_hex(src.as_bytes()),
            signoffs,
        })
    }))?;
    let mut problems = Vec::new();
    // The same sign-off twice, across files too, is ambiguous: which analysis holds?
    let all: Vec<&SignOff> = files.iter().flat_map(|f| &f.signoffs).collect();
    for (i, s) in all.iter().enumerate() {
        if let Some(first) = all[..i].iter().find(|o| {
            o.id == s.id
                && o.building_block == s.building_block
                && o.package == s.package
                && o.repository == s.repository
                && o.digest == s.digest
        }) {
            problems.push(format!(
                "{}: sign-off {} for {} duplicates the one at {}: keep one",
                s.location, s.id, s.building_block, first.location
            ));
        }
    }
    if problems.is_empty() {
        Ok(files)
    } else {
        Err(Error::Invalid(problems))
    }
}

pub fn parse(path: &Path, src: &str, policy: &Policy) -> Result<Vec<SignOff>> {
    let raw: RawFile = toml::from_str(src).map_err(|e| Error::invalid(diag::toml_error(path, src, &e)))?;
    let mut problems = Vec::new();
    let out: Vec<SignOff> = raw
        .signoff
        .into_iter()
        .filter_map(|entry| read_entry(path, src, entry, policy, &mut problems))
        .collect();
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(Error::Invalid(problems))
    }
}

/// One `[[signoff]]` entry, checked against the policy; its problems go to `problems`. None when its dates
/// cannot be read.
fn read_entry(
    path: &Path,
    src: &str,
    entry: Spanned<RawSignoff>,
    policy: &Policy,
    problems: &mut Vec<String>,
) -> Option<SignOff> {
    let entry_span = entry.span();
    let location = {
        let (line, _) = diag::line_col(src, entry_span.start);
        format!("{}:{line}", path.display())
    };
    let r = entry.into_inner();
    // A request (`signoffs request` writes them: no approver, no dates) is one problem, not one per missing field.
    if r.approved_by.is_none() && r.approved_on.is_none() && r.expires.is_none() {
        let id = r.id.as_ref().map_or("(no id)", |s| s.get_ref().as_str());
        let missing: Vec<&str> = [("analysis", &r.analysis), ("mitigation", &r.mitigation)]
            .into_iter()
            .filter(|(_, v)| v.as_ref().is_none_or(|s| s.get_ref().trim().is_empty()))
            .map(|(k, _)| k)
            .collect();
        let todo = if missing.is_empty() {
            "a sandbox admin approves it with `bbgate signoffs approve`".to_owned()
        } else {
            format!(
                "fill in {} first, then a sandbox admin approves it with `bbgate signoffs approve`",
                missing.join(" and ")
            )
        };
        problems.push(diag::at(
            path,
            src,
            Some(entry_span),
            format!("{id} is a sign-off request, not yet a sign-off (no approved_by, approved_on, expires): {todo}"),
        ));
        return None;
    }
    let mut bad = |span: Option<std::ops::Range<usize>>, msg: String| {
        problems.push(diag::at(path, src, span.or(Some(entry_span.clone())), msg))
    };
    let id = text(r.id.clone(), "id", &mut bad);
    if let Some(s) = &r.id
        && !s.get_ref().trim().is_empty()
        && s.get_ref().chars().any(char::is_whitespace)
    {
        bad(
            Some(s.span()),
            format!(
                "sign-off id {:?} contains white space: use the vulnerability id, e.g. CVE-2026-10004",
                s.get_ref()
            ),
        );
    }
    let bb_span = r.building_block.as_ref().map(Spanned::span);
    let building_block = text(r.building_block, "building_block", &mut bad);
    if !building_block.is_empty() && policy.building_block(&building_block).is_none() {
        bad(
            bb_span,
            format!(
                "sign-off {id}: building_block {building_block:?} is not in the policy ({}); known: {}",
                policy.origin.location,
                policy.building_block_names()
            ),
        );
    }
    let analysis = text(r.analysis, "analysis", &mut bad);
    let mitigation = text(r.mitigation, "mitigation", &mut bad);
    let approver_span = r.approved_by.as_ref().map(Spanned::span);
    let approved_by = text(r.approved_by, "approved_by", &mut bad);
    if !approved_by.is_empty() && !policy.signoffs.approvers.iter().any(|a| a == &approved_by) {
        bad(
            approver_span,
            format!(
                "sign-off {id}: approved_by {approved_by:?} is not an approver in the policy's [signoffs] approvers ({})",
                if policy.signoffs.approvers.is_empty() {
                    "none are listed".to_owned()
                } else {
                    policy.signoffs.approvers.join(", ")
                }
            ),
        );
    }
    let (package, repository, digest) = scope(r.package, r.repository, r.digest, &mut bad);
    let approved_on = date(r.approved_on, "approved_on", &mut bad);
    let expires = date(r.expires, "expires", &mut bad);
    if let (Some(on), Some(exp)) = (approved_on, expires) {
        let days = super::days_between(on, exp);
        if exp < on {
            bad(None, format!("sign-off {id}: expires {exp} is before approved_on {on}"));
        } else if days > policy.signoffs.max_validity_days {
            bad(
                None,
                format!(
                    "sign-off {id}: valid for {days} days ({on} to {exp}), more than [signoffs] max_validity_days = {}",
                    policy.signoffs.max_validity_days
                ),
            );
        }
        return Some(SignOff {
            id,
            building_block,
            package,
            repository,
            digest,
            analysis,
            mitigation,
            approved_by,
            approved_on: on,
            expires: exp,
            location,
        });
    }
    None
}

/// What a sign-off is scoped to: a package, an image repository, a digest; each optional, each checked.
fn scope(
    package: Option<Spanned<String>>,
    repository: Option<Spanned<String>>,
    digest: Option<Spanned<String>>,
    bad: &mut dyn FnMut(Option<std::ops::Range<usize>>, String),
) -> (Option<String>, Option<String>, Option<String>) {
    let package = match package {
        Some(p) if p.get_ref().trim().is_empty() => {
            bad(
                Some(p.span()),
                "sign-off `package` is empty: remove it to cover every package, or name one".into(),
            );
            None
        }
        p => p.map(Spanned::into_inner),
    };
    let repository = match repository {
        Some(p) if !crate::findings::ecr::is_repository_name(p.get_ref()) => {
            bad(
                Some(p.span()),
                format!(
                    "sign-off repository {:?} is not an ECR repository name (e.g. bb/payments/adapter or \
                     docker-hub/library/postgres)",
                    p.get_ref()
                ),
            );
            None
        }
        p => p.map(Spanned::into_inner),
    };
    let digest = match digest {
        Some(d) if !is_sha256_digest(d.get_ref()) => {
            bad(
                Some(d.span()),
                format!("sign-off digest {:?} is not sha256:<64 hex digits>", d.get_ref()),
            );
            None
        }
        d => d.map(Spanned::into_inner),
    };
    (package, repository, digest)
}

/// A required text field: present and not blank.
fn text(v: Option<Spanned<String>>, key: &str, bad: &mut dyn FnMut(Option<std::ops::Range<usize>>, String)) -> String {
    match v {
        Some(s) if !s.get_ref().trim().is_empty() => s.into_inner(),
        Some(s) => {
            bad(
                Some(s.span()),
                format!("sign-off `{key}` is empty: it is required and must say something"),
            );
            String::new()
        }
        None => {
            bad(None, format!("sign-off has no `{key}`: it is required"));
            String::new()
        }
    }
}

/// A TOML date (`2026-11-20`) or a string holding one.
fn date(
    v: Option<Spanned<toml::Value>>,
    key: &str,
    bad: &mut dyn FnMut(Option<std::ops::Range<usize>>, String),
) -> Option<Date> {
    let Some(v) = v else {
        bad(
            None,
            format!("sign-off has no `{key}`: it is required (a date like 2026-11-20)"),
        );
        return None;
    };
    let span = v.span();
    let parsed = match v.get_ref() {
        toml::Value::Datetime(dt) if dt.time.is_none() && dt.offset.is_none() => dt
            .date
            .and_then(|d| Date::new(d.year as i16, d.month as i8, d.day as i8).ok()),
        toml::Value::String(s) => s.parse::<Date>().ok(),
        _ => None,
    };
    if parsed.is_none() {
        bad(
            Some(span),
            format!("sign-off `{key}` must be a date like 2026-11-20, not {}", v.get_ref()),
        );
    }
    parsed
}
