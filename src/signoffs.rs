//! Sign-offs for the tools BB teams use: `signoffs export --format openvex` writes the sign-offs valid at a
//! time as an OpenVEX 0.2.0 document (so `trivy --vex` and `grype --vex` agree with the gate), and
//! `signoffs request` writes unapproved TOML stubs for what needs a sign-off (from a verify decision, or from a
//! VEX document). Nothing here approves: a stub has no approver, and the gate reads only approved files.

use crate::cli::{Format, SignoffsApproveArgs, SignoffsExportArgs, SignoffsRequestArgs};
use crate::error::{Error, Result, exit};
use crate::policy::{Policy, signoff::SignOff};
use serde_json::{Value, json};
use std::fmt::Write;

/// OpenVEX's JSON-LD context for version 0.2.0.
pub const OPENVEX_CONTEXT: &str = "https://openvex.dev/ns/v0.2.0";

/// The package URL of an OCI image (purl spec, `oci` type): `pkg:oci/NAME[@DIGEST]?repository_url=REPO`.
fn oci_purl(repository_url: &str, digest: Option<&str>) -> String {
    let name = repository_url.rsplit('/').next().unwrap_or(repository_url);
    let version = digest
        .map(|d| format!("@{}", d.replace(':', "%3A")))
        .unwrap_or_default();
    format!("pkg:oci/{name}{version}?repository_url={repository_url}")
}

/// A product of a statement: the image by purl, with its digest as a hash when known.
fn product(repository_url: &str, digest: Option<&str>) -> Value {
    let mut p =
        json!({"@id": oci_purl(repository_url, digest), "identifiers": {"purl": oci_purl(repository_url, digest)}});
    if let Some(hex) = digest.and_then(|d| d.strip_prefix("sha256:")) {
        p["hashes"] = json!({"sha-256": hex});
    }
    p
}

/// The images a sign-off covers: its own scope (repository, digest), else the building block's repositories
/// that name one repository; `--image` names the images as the developer scans them.
fn products(policy: &Policy, s: &SignOff, images: &[String], registry: Option<&str>) -> Vec<Value> {
    let with_host = |repo: &str| match registry {
        Some(h) => format!("{h}/{repo}"),
        None => repo.to_owned(),
    };
    let bb = policy.building_block(&s.building_block);
    if !images.is_empty() {
        return images
            .iter()
            .filter_map(|image| {
                let r = crate::image::Reference::parse(image);
                let repository_url = match &r.host {
                    Some(h) => format!("{h}/{}", r.path),
                    None => r.path.clone(),
                };
                // The image as the sandbox holds it: `postgres:16` is the pull-through cache's
                // docker-hub/library/postgres, the repository a sign-off of it names.
                let (account, sandbox) = crate::release::locate(image, policy)
                    .map_or_else(|_| (None, r.path.clone()), |l| (l.account(), l.repository));
                // refuse_image admits the building block's own repositories and the pull-through cache's.
                let in_scope = bb.is_some_and(|b| policy.refuse_image(b, account.as_deref(), &sandbox).is_none())
                    && s.repository.as_deref().is_none_or(|want| want == sandbox)
                    && s.digest
                        .as_deref()
                        .is_none_or(|d| r.digest.as_deref().is_none_or(|g| g == d));
                in_scope.then(|| product(&repository_url, s.digest.as_deref().or(r.digest.as_deref())))
            })
            .collect();
    }
    if let Some(repo) = &s.repository {
        return vec![product(&with_host(repo), s.digest.as_deref())];
    }
    bb.map(|b| {
        b.repositories
            .iter()
            .filter(|r| !r.contains(['*', '?', '[', '{']))
            .map(|r| product(&with_host(r), s.digest.as_deref()))
            .collect()
    })
    .unwrap_or_default()
}

/// `bbgate signoffs export --format openvex`: the sign-offs valid at `--now` as OpenVEX statements.
pub fn run_export(args: &SignoffsExportArgs) -> Result<u8> {
    let policy = Policy::load(args.policy.as_deref(), crate::cli::policy_pin().as_deref())?;
    let files = crate::policy::signoff::load_files(&args.signoffs, &policy)?;
    let now = args.now.unwrap_or_else(jiff::Timestamp::now);
    let today = now.to_zoned(jiff::tz::TimeZone::UTC).date();
    let mut statements = Vec::new();
    let mut unscoped = Vec::new();
    let mut skipped = 0;
    let mut other = 0;
    for s in files.iter().flat_map(|f| &f.signoffs) {
        if s.approved_on > today || s.expires < today {
            skipped += 1;
            continue;
        }
        let products = products(&policy, s, &args.image, args.registry.as_deref());
        if products.is_empty() && !args.image.is_empty() {
            // Not a sign-off of the images given: another image's, left out of this document.
            other += 1;
            continue;
        }
        if products.is_empty() {
            unscoped.push(format!(
                "{}: sign-off {} names no one repository (building block {}'s are patterns): give --image REF, the \
                 image as you scan it",
                s.location, s.id, s.building_block
            ));
            continue;
        }
        let package = s
            .package
            .as_deref()
            .map(|p| format!(" in package {p}"))
            .unwrap_or_default();
        statements.push(json!({
            "vulnerability": {"name": s.id},
            "products": products,
            "status": "not_affected",
            "impact_statement": s.analysis,
            "status_notes": format!(
                "Signed off{package} for building block {} by {} on {}, valid until {} (bbgate sign-off {}). \
                 Mitigation: {}",
                s.building_block, s.approved_by, s.approved_on, s.expires, s.location, s.mitigation
            ),
            "timestamp": format!("{}T00:00:00Z", s.approved_on),
        }));
    }
    if !unscoped.is_empty() {
        return Err(Error::Invalid(unscoped));
    }
    if statements.is_empty() && other > 0 {
        return Err(Error::invalid(format!(
            "--image {}: none of the {other} sign-off(s) valid at {today} covers it (by building block, repository \
             or digest): give the images as you scan them, e.g. bb/payments/emulator:dev or postgres:16",
            args.image.join(", ")
        )));
    }
    let body = serde_json::to_vec(&statements).unwrap_or_default();
    let doc = json!({
        "@context": OPENVEX_CONTEXT,
        "@id": format!("https://govstack.global/sandbox/bbgate/vex/{}", crate::policy::sha256_hex(&body)),
        "author": "GovStack sandbox admins (sign-offs exported by bbgate)",
        "role": "Sign-off approvers of the GovStack sandbox",
        "timestamp": now.to_string(),
        "version": 1,
        "tooling": format!("bbgate {}", env!("CARGO_PKG_VERSION")),
        "statements": statements,
    });
    let text = serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n";
    match &args.out {
        Some(path) => {
            crate::verify::write_output("OpenVEX document", path, text.as_bytes())?;
        }
        None => crate::output::line(text.trim_end())?,
    }
    eprintln!(
        "bbgate: {} sign-off(s) valid on {today} exported as OpenVEX statements; {skipped} expired or not yet valid \
         left out{}",
        doc["statements"].as_array().map_or(0, Vec::len),
        if other > 0 {
            format!(", {other} of other images than --image left out")
        } else {
            String::new()
        }
    );
    Ok(exit::PASS)
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// One unapproved stub: the fields a sign-off needs, analysis and mitigation to fill in, no approver.
fn stub(out: &mut String, id: &str, bb: &str, package: Option<&str>, scope: (Option<&str>, Option<&str>), notes: &str) {
    let _ = writeln!(out, "[[signoff]]");
    let _ = writeln!(out, "id = {}", toml_string(id));
    let _ = writeln!(out, "building_block = {}", toml_string(bb));
    if let Some(p) = package.filter(|p| !p.is_empty()) {
        let _ = writeln!(out, "package = {}", toml_string(p));
    }
    if let Some(r) = scope.0 {
        let _ = writeln!(out, "repository = {}", toml_string(r));
    }
    if let Some(d) = scope.1 {
        let _ = writeln!(out, "digest = {}", toml_string(d));
    }
    // A TOML comment may hold no control character but tab (a package name's CR or ESC would make the
    // whole file unreadable): shown escaped.
    for line in notes.lines() {
        let line: String = line
            .chars()
            .map(|c| {
                if c.is_control() && c != '\t' {
                    crate::output::shown(c)
                } else {
                    c.to_string()
                }
            })
            .collect();
        let _ = writeln!(out, "# {line}");
    }
    let _ = writeln!(
        out,
        "analysis = \"\"       # why the finding does not endanger the sandbox (required)"
    );
    let _ = writeln!(
        out,
        "mitigation = \"\"     # what limits it until it is fixed (required)"
    );
    let _ = writeln!(
        out,
        "# approved_by = \"\"  # a sandbox admin fills these in: the gate reads only approved sign-offs"
    );
    let _ = writeln!(out, "# approved_on = YYYY-MM-DD");
    let _ = writeln!(out, "# expires = YYYY-MM-DD\n");
}

/// `bbgate signoffs request`: stubs for every finding a decision says needs a sign-off, and for every
/// `not_affected` statement of a VEX document.
pub fn run_request(args: &SignoffsRequestArgs) -> Result<u8> {
    let mut out = String::from(
        "# Sign-off requests written by `bbgate signoffs request`. Fill in analysis and mitigation and open a pull\n\
         # request; a sandbox admin sets approved_by, approved_on and expires. Until then this file is not a valid\n\
         # sign-off file, and nothing in it waives anything.\n\n",
    );
    let mut count = 0;
    if let Some(path) = &args.decision {
        let shown = path.display().to_string();
        let bytes = crate::input::read(path, crate::input::DECISION)?;
        let v: Value = serde_json::from_slice(&bytes)
            .map_err(|e| Error::invalid(format!("{shown}: not a bbgate verify --format json document: {e}")))?;
        let bb = v["building_block"].as_str().ok_or_else(|| {
            Error::invalid(format!(
                "{shown}: no building_block: not a bbgate verify --format json document"
            ))
        })?;
        let images = v["images"].as_array().ok_or_else(|| {
            Error::invalid(format!(
                "{shown}: no images[]: not a bbgate verify --format json document"
            ))
        })?;
        for image in images {
            for f in image["findings"].as_array().into_iter().flatten() {
                if f["outcome"] != "needs_signoff" {
                    continue;
                }
                let notes = format!(
                    "{} {} · score {} ({}) · image {}@{}",
                    f["package"].as_str().unwrap_or(""),
                    f["package_version"].as_str().unwrap_or(""),
                    f["score"],
                    f["score_source"].as_str().unwrap_or("no score"),
                    image["repository"].as_str().unwrap_or(""),
                    image["digest"].as_str().unwrap_or("")
                );
                stub(
                    &mut out,
                    f["id"].as_str().unwrap_or(""),
                    bb,
                    f["package"].as_str(),
                    (image["repository"].as_str(), image["digest"].as_str()),
                    &notes,
                );
                count += 1;
            }
        }
    }
    if let Some(path) = &args.vex {
        let shown = path.display().to_string();
        let bb = args.building_block.as_deref().ok_or_else(|| {
            Error::invalid(format!(
                "--vex {shown}: give --building-block NAME, the building block the requests are for"
            ))
        })?;
        let bytes = crate::input::read(path, crate::input::VEX)?;
        let v: Value = serde_json::from_slice(&bytes).map_err(|e| Error::invalid(format!("{shown}: not JSON: {e}")))?;
        if v["@context"]
            .as_str()
            .is_none_or(|c| !c.starts_with("https://openvex.dev/ns"))
        {
            return Err(Error::invalid(format!(
                "{shown}: not an OpenVEX document (no openvex.dev @context)"
            )));
        }
        for (i, st) in v["statements"].as_array().into_iter().flatten().enumerate() {
            if st["status"] != "not_affected" {
                continue;
            }
            let id = st["vulnerability"]["name"]
                .as_str()
                .ok_or_else(|| Error::invalid(format!("{shown}: statements[{i}] has no vulnerability.name")))?;
            let said = [
                st["justification"].as_str(),
                st["impact_statement"].as_str(),
                st["action_statement"].as_str(),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" · ");
            stub(
                &mut out,
                id,
                bb,
                None,
                (None, None),
                &format!("from {shown} statements[{i}] (not_affected): {said}"),
            );
            count += 1;
        }
    }
    match &args.out {
        Some(path) => {
            crate::verify::write_output("sign-off requests", path, out.as_bytes())?;
        }
        None => crate::output::line(out.trim_end())?,
    }
    eprintln!("bbgate: {count} sign-off request(s) written, none approved");
    Ok(exit::PASS)
}

/// One request of a requests file, as `signoffs request` writes it and the BB team fills it in.
#[derive(serde::Deserialize)]
struct RawRequest {
    id: Option<String>,
    building_block: Option<String>,
    package: Option<String>,
    repository: Option<String>,
    digest: Option<String>,
    analysis: Option<String>,
    mitigation: Option<String>,
    approved_by: Option<toml::Value>,
    approved_on: Option<toml::Value>,
    expires: Option<toml::Value>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRequests {
    #[serde(default)]
    signoff: Vec<toml::Spanned<RawRequest>>,
}

/// The sign-off's scope, for telling a renewal from a new one: (id, building block, package, repository, digest).
type Key = (String, String, Option<String>, Option<String>, Option<String>);

/// The approved `[[signoff]]` block of one request.
fn approved_block(r: &RawRequest, approver: &str, on: jiff::civil::Date, until: jiff::civil::Date) -> String {
    let mut out = String::from("[[signoff]]\n");
    let mut field = |k: &str, v: Option<&String>| {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            let _ = writeln!(out, "{k} = {}", toml_string(v));
        }
    };
    field("id", r.id.as_ref());
    field("building_block", r.building_block.as_ref());
    field("package", r.package.as_ref());
    field("repository", r.repository.as_ref());
    field("digest", r.digest.as_ref());
    field("analysis", r.analysis.as_ref());
    field("mitigation", r.mitigation.as_ref());
    field("approved_by", Some(&approver.to_owned()));
    let _ = writeln!(out, "approved_on = {on}\nexpires = {until}");
    out
}

/// The requests of `src` that may be approved now, or every reason one may not (file:line each).
fn approvable<'r>(
    args: &SignoffsApproveArgs,
    src: &str,
    raw: &'r RawRequests,
    policy: &Policy,
) -> std::result::Result<Vec<&'r RawRequest>, Vec<String>> {
    let mut problems = Vec::new();
    let mut chosen = Vec::new();
    for entry in &raw.signoff {
        let r = entry.get_ref();
        let (line, _) = crate::diag::line_col(src, entry.span().start);
        let at = format!("{}:{line}", args.requests.display());
        let id = r.id.clone().unwrap_or_default();
        if !args.only.is_empty() && !args.only.contains(&id) {
            continue;
        }
        let mut bad =
            |why: String| problems.push(format!("{at}: {}: {why}", if id.is_empty() { "(no id)" } else { &id }));
        if id.trim().is_empty() {
            bad("no id".to_owned());
        }
        match r.building_block.as_deref() {
            Some(bb) if policy.building_block(bb).is_some() => {}
            Some(bb) => bad(format!(
                "building_block {bb:?} is not in the policy ({})",
                policy.building_block_names()
            )),
            None => bad("no building_block".to_owned()),
        }
        for (k, v) in [("analysis", &r.analysis), ("mitigation", &r.mitigation)] {
            if v.as_deref().is_none_or(|t| t.trim().is_empty()) {
                bad(format!(
                    "{k} is empty: the BB team fills it in before an admin approves"
                ));
            }
        }
        if r.approved_by.is_some() || r.approved_on.is_some() || r.expires.is_some() {
            bad(
                "already carries approved_by, approved_on or expires: approval is given here, not in the request"
                    .to_owned(),
            );
        }
        chosen.push(r);
    }
    for want in &args.only {
        if !raw
            .signoff
            .iter()
            .any(|e| e.get_ref().id.as_deref() == Some(want.as_str()))
        {
            problems.push(format!("--only {want}: no such request in {}", args.requests.display()));
        }
    }
    if chosen.is_empty() && problems.is_empty() {
        problems.push(format!(
            "{}: no [[signoff]] request to approve",
            args.requests.display()
        ));
    }
    if problems.is_empty() { Ok(chosen) } else { Err(problems) }
}

/// `bbgate signoffs approve`: the requests, approved today by `--approver` until the policy's limit at most,
/// appended to the admins' file (which must read as a valid sign-off file after), and the file's new pin.
pub fn run_approve(args: &SignoffsApproveArgs) -> Result<u8> {
    let policy = Policy::load(args.policy.as_deref(), None)?;
    let mut problems = Vec::new();
    let approvers = &policy.signoffs.approvers;
    if args.approver.trim().is_empty() {
        problems.push("--approver is empty: name the sandbox admin who approves".to_owned());
    } else if !approvers.is_empty() && !approvers.contains(&args.approver) {
        problems.push(format!(
            "--approver {}: not one of the policy's [signoffs] approvers ({})",
            args.approver,
            approvers.join(", ")
        ));
    }
    let max = policy.signoffs.max_validity_days;
    let days = match args.days {
        Some(d) if d < 1 => {
            problems.push(format!("--days {d}: a sign-off lasts at least a day"));
            max
        }
        Some(d) => d.min(max),
        None => max,
    };
    let src = crate::input::read_text(&args.requests, crate::input::SIGNOFFS)?;
    let raw: RawRequests =
        toml::from_str(&src).map_err(|e| Error::invalid(crate::diag::toml_error(&args.requests, &src, &e)))?;
    let chosen = match approvable(args, &src, &raw, &policy) {
        Ok(c) => c,
        Err(p) => {
            problems.extend(p);
            Vec::new()
        }
    };
    let existing = if args.into.exists() {
        crate::input::read_text(&args.into, crate::input::SIGNOFFS)?
    } else {
        String::from(
            "# The admins' sign-offs (bbgate signoffs approve adds to this file; pin its sha256 in the\n# deploy context's BBGATE_SIGNOFFS_SHA256).\n",
        )
    };
    let held = if existing.trim().is_empty() || !args.into.exists() {
        Vec::new()
    } else {
        crate::policy::signoff::parse(&args.into, &existing, &policy)?
    };
    for r in &chosen {
        let key: Key = (
            r.id.clone().unwrap_or_default(),
            r.building_block.clone().unwrap_or_default(),
            r.package.clone(),
            r.repository.clone(),
            r.digest.clone(),
        );
        if let Some(old) = held.iter().find(|s| {
            (
                s.id.clone(),
                s.building_block.clone(),
                s.package.clone(),
                s.repository.clone(),
                s.digest.clone(),
            ) == key
        }) {
            problems.push(format!(
                "{}: already signed off at {} (expires {}): remove that entry to renew it",
                key.0, old.location, old.expires
            ));
        }
    }
    if !problems.is_empty() {
        return Err(Error::Invalid(problems));
    }
    let today = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date();
    let until = today
        .checked_add(jiff::Span::new().days(days))
        .map_err(|e| Error::invalid(format!("--days {days}: {e}")))?;
    let mut text = existing;
    if !text.ends_with('\n') {
        text.push('\n');
    }
    for r in &chosen {
        text.push('\n');
        text.push_str(&approved_block(r, &args.approver, today, until));
    }
    // The file as the gate will read it: valid, or nothing is written.
    crate::policy::signoff::parse(&args.into, &text, &policy)?;
    let tmp = args.into.with_extension("toml.bbgate-tmp");
    std::fs::write(&tmp, &text).map_err(|e| Error::write(&tmp, e))?;
    std::fs::rename(&tmp, &args.into).map_err(|e| Error::write(&args.into, e))?;
    let sha = crate::policy::sha256_hex(text.as_bytes());
    let ids: Vec<&str> = chosen.iter().filter_map(|r| r.id.as_deref()).collect();
    match args.format {
        Format::Json => crate::output::line(
            &json!({"approved": ids, "approver": args.approver, "approved_on": today.to_string(),
                    "expires": until.to_string(), "into": args.into.display().to_string(), "sha256": sha})
            .to_string(),
        )?,
        Format::Human => crate::output::human(&format!(
            "bbgate signoffs approve: {} sign-off(s) approved by {} into {}, expiring {until}{}: {}\n\
             the file's new pin (the deploy context's {}): {sha}\n",
            ids.len(),
            args.approver,
            args.into.display(),
            if args.days.is_some_and(|d| d > max) {
                format!(" (capped to {max} days by [signoffs] max_validity_days)")
            } else {
                String::new()
            },
            ids.join(", "),
            crate::deploy::redecide::SIGNOFFS_PIN_ENV,
        ))?,
    }
    Ok(exit::PASS)
}
