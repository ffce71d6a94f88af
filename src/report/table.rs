//! The human report: the findings that matter in a table, then tests, sign-offs and the verdict.

use super::Context;
use crate::gate::{ApiOutcome, Outcome, Verdict};
use comfy_table::{ColumnConstraint, ContentArrangement, Table, Width, presets};
use std::fmt::Write;

pub(crate) fn render(ctx: &Context) -> String {
    let mut out = String::new();
    header(ctx, &mut out);
    out.push('\n');
    findings(ctx, &mut out);
    tests_signoffs_verdict(ctx, &mut out);
    fit(&out, usize::from(crate::output::width()))
}

/// Every line but a table's wrapped to `width` at spaces, its continuation indented two more than the line (a
/// reason, a failed scenario, a sign-off); a word longer than the width (an image reference, a link) stays whole.
fn fit(text: &str, width: usize) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        // A line of two words (an advisory `ID: URL`, a verdict and its image) has nowhere to wrap.
        if line.starts_with('|')
            || textwrap::core::display_width(line) <= width
            || line.split_whitespace().nth(2).is_none()
        {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let body = line.trim_start();
        let indent = &line[..line.len() - body.len()];
        for l in crate::output::wrap(body, width, indent, &format!("{indent}  ")) {
            out.push_str(&l);
            out.push('\n');
        }
    }
    out
}

/// What was judged: one line per image with its verdict, the policy, and how each scan was fetched.
fn header(ctx: &Context, out: &mut String) {
    let d = ctx.decision;
    let _ = writeln!(
        out,
        "bbgate verify: building block {} (namespace {}) · {} image(s){}",
        d.building_block,
        ctx.building_block.namespace,
        ctx.images.len(),
        ctx.chart
            .map(|c| format!(" of chart {} {}", c.name, c.version))
            .unwrap_or_default()
    );
    for (j, i) in ctx.each() {
        let s = &j.scan;
        // The verdict and the image on a line of their own (an image reference is never wrapped), then its scan.
        let _ = writeln!(
            out,
            "  {} {}\n       scan {}, {} finding(s) in {} page(s), completed {} · {} blocked, {} need sign-off",
            match i.verdict {
                Verdict::Pass => "PASS",
                Verdict::Deny => "DENY",
            },
            j.uri(),
            s.status,
            s.findings.len(),
            s.pages,
            s.completed_at
                .map_or_else(|| "at an unknown time".to_owned(), |t| t.to_string()),
            i.count(Outcome::Blocked),
            i.count(Outcome::NeedsSignoff),
        );
        if j.reference != j.uri() && !j.reference.is_empty() {
            let _ = writeln!(out, "       named {}", j.reference);
        }
        if s.source.predicted() {
            let _ = writeln!(
                out,
                "       PREDICTED from a {} report: the sandbox decides on ECR's scan of the pushed image, which \
                 may find more or less; deploy refuses evidence from a prediction",
                s.source.name()
            );
        }
        if let Some(a) = &j.acquisition {
            let calls: Vec<String> = a.calls.iter().map(|(op, n)| format!("{op} {n}")).collect();
            let _ = writeln!(
                out,
                "       fetched from ECR as {} · waited {:.1} s for the scan ({} status reads{}) · AWS calls: {}",
                a.identity.assumed_role.as_deref().unwrap_or(&a.identity.method),
                a.scan_wait_seconds,
                a.probes,
                if a.scan_started { ", scan started by bbgate" } else { "" },
                calls.join(", ")
            );
        }
    }
    let _ = writeln!(
        out,
        "policy: {} (sha256 {})",
        ctx.policy.location,
        &ctx.policy.sha256[..12]
    );
}

/// The findings that matter, worst first, one table per image (headed by the image when there are several),
/// and the counts of all.
fn findings(ctx: &Context, out: &mut String) {
    let d = ctx.decision;
    let several = ctx.images.len() > 1;
    let mut any = false;
    for (j, i) in ctx.each() {
        let mut shown: Vec<_> = i
            .findings
            .iter()
            .filter(|f| f.outcome != Outcome::Allowed)
            .map(|f| ctx.record(j, f))
            .collect();
        if shown.is_empty() {
            continue;
        }
        any = true;
        let score_of = |r: &crate::report::FindingRecord| r.score.unwrap_or(-1.0);
        shown.sort_by(|a, b| {
            a.outcome
                .cmp(&b.outcome)
                .then_with(|| score_of(b).total_cmp(&score_of(a)))
                .then_with(|| a.id.cmp(&b.id))
        });
        if several {
            let _ = writeln!(out, "{}:", j.uri());
        }
        let width = usize::from(crate::output::width());
        if width < TABLE_WIDTH {
            finding_blocks(&shown, width, out);
        } else {
            let _ = writeln!(out, "{}", finding_table(&shown));
        }
        // The advisories of what holds the image back, one per line, whole (a link is never wrapped).
        let urgent: Vec<_> = shown
            .iter()
            .filter(|f| matches!(f.outcome, Outcome::Blocked | Outcome::NeedsSignoff))
            .filter_map(|f| f.advisory.as_ref().map(|a| (&f.id, a)))
            .collect();
        if !urgent.is_empty() {
            let _ = writeln!(out, "advisories:");
            for (id, url) in urgent.iter().take(ADVISORIES_SHOWN) {
                let _ = writeln!(out, "  {id}: {url}");
            }
            if urgent.len() > ADVISORIES_SHOWN {
                let _ = writeln!(
                    out,
                    "  … and {} more (see --format json)",
                    urgent.len() - ADVISORIES_SHOWN
                );
            }
        }
    }
    if !any {
        let _ = writeln!(
            out,
            "No finding is blocked, needs a sign-off, is signed off or warned about."
        );
    }
    let _ = writeln!(
        out,
        "findings: {} blocked · {} need sign-off · {} signed off · {} warned · {} allowed",
        d.count(Outcome::Blocked),
        d.count(Outcome::NeedsSignoff),
        d.count(Outcome::SignedOff),
        d.count(Outcome::Warned),
        d.count(Outcome::Allowed)
    );
}

/// How many advisory links are listed under a table.
const ADVISORIES_SHOWN: usize = 10;

/// Below this width the findings are blocks, not a table: a table's columns squeeze its "why" to a few letters.
const TABLE_WIDTH: usize = 100;

/// What a finding row says beyond its id: the package with the fix, and why (the score's basis and source, the
/// sign-off or the notes).
fn row_text(f: &crate::report::FindingRecord) -> (String, String, Option<String>) {
    let package = if f.package_version.is_empty() {
        f.package.to_string()
    } else {
        format!("{} {}", f.package, f.package_version)
    };
    let mut why = match &f.signoff {
        Some(s) => format!("{}; signed off: {s}", f.basis),
        None => std::iter::once(f.basis.to_string())
            .chain(f.notes.iter().map(|n| n.to_string()))
            .collect::<Vec<_>>()
            .join("; "),
    };
    if let Some(src) = &f.score_source {
        why.push_str(&format!(" (from {src})"));
    }
    // What to do about a finding that holds the image back: the fix (its advisory is listed under the findings).
    let fix = f
        .fixed_in
        .as_ref()
        .filter(|_| matches!(f.outcome, Outcome::Blocked | Outcome::NeedsSignoff))
        .map(|fix| format!("fixed in {fix}"));
    (package, why, fix)
}

/// The findings at under [`TABLE_WIDTH`] columns: a block of three lines each, the outcome, id and label, then the
/// package and its fix, then why (cut with `…` at the width; the whole is in JSON, HTML and SARIF). An id or
/// package is never split.
fn finding_blocks(shown: &[crate::report::FindingRecord], width: usize, out: &mut String) {
    for f in shown {
        let (package, why, fix) = row_text(f);
        let outcome = match f.outcome {
            Outcome::Blocked => crate::output::paint("BLOCKED", crate::output::RED),
            Outcome::NeedsSignoff => crate::output::paint("NEEDS SIGN-OFF", crate::output::YELLOW),
            Outcome::SignedOff => crate::output::paint("SIGNED OFF", crate::output::GREEN),
            Outcome::Warned => "WARNED".to_owned(),
            Outcome::Allowed => "ALLOWED".to_owned(),
        };
        let _ = writeln!(out, "{outcome} {} · {}", f.id, f.severity.as_str());
        let fix = fix.map(|f| format!(" · {f}")).unwrap_or_default();
        let _ = writeln!(out, "  package {package}{fix}");
        let _ = writeln!(out, "{}", crate::output::cut(&format!("  why: {why}"), width));
    }
}

/// One image's findings as a table that fits the output's width (`output::width`) without splitting a word: the
/// score, its kind and the threshold it met are in the last column (`cvss3 9.8 >= 9.0`, with its source).
fn finding_table(shown: &[crate::report::FindingRecord]) -> Table {
    let mut table = Table::new();
    table
        .load_style(presets::ASCII_MARKDOWN)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(crate::output::width())
        .set_header(vec![
            "outcome",
            "finding",
            "package",
            "label",
            "why (score, or sign-off)",
        ]);
    for f in shown {
        let (package, mut why, fix) = row_text(f);
        if let Some(fix) = fix {
            why.push_str(&format!("; {fix}"));
        }
        // On a terminal the outcome is coloured as the verdict is (red blocks, yellow waits for a sign-off, green
        // was signed off); comfy-table lays the table out on the text, then adds the colour.
        let outcome = comfy_table::Cell::new(f.outcome.as_str());
        let outcome = match f.outcome {
            Outcome::Blocked => outcome.fg(comfy_table::Color::Red),
            Outcome::NeedsSignoff => outcome.fg(comfy_table::Color::Yellow),
            Outcome::SignedOff => outcome.fg(comfy_table::Color::Green),
            Outcome::Warned | Outcome::Allowed => outcome,
        };
        table.add_row(vec![
            outcome,
            comfy_table::Cell::new(f.id.to_string()),
            comfy_table::Cell::new(package),
            comfy_table::Cell::new(f.severity.as_str()),
            comfy_table::Cell::new(why),
        ]);
    }
    if crate::output::colour() {
        table.enforce_styling();
    } else {
        table.force_no_tty();
    }
    // No finding id, package name or version is split across lines: each column but the last is at least as
    // wide as its longest word; the last takes the rest of the width and wraps at spaces.
    let mut longest = vec![0usize; table.column_count().saturating_sub(1)];
    for row in table.row_iter() {
        for (i, cell) in row.cell_iter().enumerate() {
            let word = cell
                .content()
                .split_whitespace()
                .map(|w| w.chars().count())
                .max()
                .unwrap_or(0);
            if let Some(l) = longest.get_mut(i) {
                *l = (*l).max(word);
            }
        }
    }
    for (c, w) in table.column_iter_mut().zip(longest) {
        // The boundary counts the cell's padding (one space each side).
        c.set_constraint(ColumnConstraint::LowerBoundary(Width::Fixed(
            u16::try_from(w + 2).unwrap_or(u16::MAX),
        )));
    }
    table
}

/// The API tests, what became of each sign-off, the warnings and the verdict with its reasons.
fn tests_signoffs_verdict(ctx: &Context, out: &mut String) {
    let d = ctx.decision;
    let a = &d.api_tests;
    let api = match a.outcome {
        ApiOutcome::Missing => "no report given".to_owned(),
        ApiOutcome::NotRequired => "not required, none given".to_owned(),
        _ => format!(
            "{} of {} scenarios passed, {} failed, in {} report(s)",
            a.passed, a.total, a.failed, a.reports
        ),
    };
    let _ = writeln!(out, "api tests: {api}");
    for f in a.failed_scenarios.iter().take(20) {
        let msg = f
            .scenario
            .message
            .as_deref()
            .map(|m| format!(": {}", crate::apitests::short_message(m)))
            .unwrap_or_default();
        // Where it is written tells apart scenarios of one name (an outline's examples, a copied scenario).
        let at = f
            .scenario
            .location
            .as_deref()
            .map(|l| format!(" ({l})"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {} · {} · {}{at}{msg}",
            f.scenario.status.as_str(),
            f.scenario.feature,
            f.scenario.name
        );
    }
    if a.failed_scenarios.len() > 20 {
        let _ = writeln!(
            out,
            "  … and {} more (see --format json or --junit)",
            a.failed_scenarios.len() - 20
        );
    }

    let s = &d.signoffs;
    let _ = writeln!(
        out,
        "sign-offs: {} applied · {} expired · {} expiring soon · {} rejected · {} unused",
        s.applied.len(),
        s.expired.len(),
        s.expiring.len(),
        s.rejected.len(),
        s.unused.len()
    );
    for (label, list) in [
        ("expired", &s.expired),
        ("expiring", &s.expiring),
        ("rejected", &s.rejected),
        ("unused", &s.unused),
    ] {
        for u in list {
            let why = u.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default();
            let _ = writeln!(
                out,
                "  {label} · {} at {} (approved by {}, expires {}){why}",
                u.id, u.location, u.approved_by, u.expires
            );
        }
    }
    for n in ctx.warnings() {
        let at = n.location.as_deref().map(|l| format!(" ({l})")).unwrap_or_default();
        let _ = writeln!(out, "warning[{}]: {}{at}", n.code, n.message);
    }
    out.push('\n');
    match d.verdict {
        Verdict::Pass => {
            let _ = writeln!(out, "verdict: {}", crate::output::paint("PASS", crate::output::GREEN));
            // Deploy refuses evidence older than the policy's limit: an approval clicked later needs a new verify.
            if let Ok(until) = ctx.now.checked_add(ctx.evidence_age) {
                let hours = ctx.evidence_age.as_secs() / 3600;
                let _ = writeln!(
                    out,
                    "deploy before {} UTC: deploy takes evidence for {hours} h ([deploy] max_evidence_age); after \
                     that, verify again",
                    until.strftime("%Y-%m-%d %H:%M")
                );
            }
        }
        Verdict::Deny => {
            let _ = writeln!(out, "verdict: {}", crate::output::paint("DENY", crate::output::RED));
            for r in &d.reasons {
                // A release of one needs no image on every line; the header names it.
                let at = match &r.location {
                    Some(l) if ctx.images.len() > 1 => format!("{l}: "),
                    _ => String::new(),
                };
                let _ = writeln!(out, "  - {at}{} [{}]", r.message, r.code);
            }
            // What to do next about the findings a sign-off may waive: the exact command that drafts them.
            let waiting = d.count(Outcome::NeedsSignoff);
            if waiting > 0 {
                let _ = writeln!(
                    out,
                    "next: draft the {waiting} sign-off(s), fill in analysis and mitigation, and ask the sandbox \
                     admins to approve them:\n  bbgate signoffs request --decision verify.json --out \
                     signoffs/requested.toml\n  (verify.json: give this run --json verify.json; the orb saves it \
                     as bbgate-out/verify.json)"
                );
            }
        }
    }
}
