//! `--markdown FILE`: a summary short enough for a pull-request comment or CircleCI's job summary: the verdict,
//! one row per image, the blocked and needing-sign-off ids (highest score first, at most 10 of each), the API
//! tests, sign-offs expiring soon.

use super::Context;
use crate::gate::{Outcome, Verdict};
use std::fmt::Write;

const SHOWN: usize = 10;

/// Text from the data (ids, packages, versions, reasons, paths) as Markdown prose or a table cell: every
/// character that would make markup is escaped (links and images, emphasis, code, HTML and entities, GitHub's
/// math, strikethrough, autolinks of `http:`, `www.` and e-mail addresses, table pipes), a line break cannot
/// start a block, and control characters show as `\u{…}`.
pub(crate) fn cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' | '\r' | '\u{2028}' | '\u{2029}' => out.push(' '),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '!' | '~' | '|' | '#' | '{' | '}' | ':' | '@' | '$' => {
                out.push('\\');
                out.push(c);
            }
            '.' if out.to_ascii_lowercase().ends_with("www") => out.push_str("\\."),
            // Line breaks and separators were made spaces above; a tab too is shown.
            c if c == '\t' || crate::output::steers(c) => out.push_str(&format!("\\u\\{{{:x}\\}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Text from the data inside a code span (where backslashes are literal): no backtick ends it, no pipe splits
/// the table row, no line break.
fn code(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '`' => "'".to_owned(),
            '|' => "\\|".to_owned(),
            c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => " ".to_owned(),
            c => c.to_string(),
        })
        .collect()
}

pub(crate) fn render(ctx: &Context, evidence_sha256: Option<&str>) -> String {
    let d = ctx.decision;
    let mut out = String::new();
    let predicted = ctx.images.iter().any(|j| j.scan.source.predicted());
    let _ = writeln!(
        out,
        "### bbgate verify: {} · building block {} · {} image(s){}\n",
        match d.verdict {
            Verdict::Pass => "✅ PASS",
            Verdict::Deny => "❌ DENY",
        },
        cell(&d.building_block),
        ctx.images.len(),
        if predicted {
            " · PREDICTED from a local scanner's report (the sandbox decides on ECR's scan)"
        } else {
            ""
        }
    );
    let _ = writeln!(
        out,
        "| image | verdict | blocked | needs sign-off | signed off |\n|---|---|---|---|---|"
    );
    for (j, i) in ctx.each() {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} |",
            code(&j.uri()),
            match i.verdict {
                Verdict::Pass => "pass",
                Verdict::Deny => "**DENY**",
            },
            i.count(Outcome::Blocked),
            i.count(Outcome::NeedsSignoff),
            i.count(Outcome::SignedOff)
        );
    }
    for (outcome, title) in [
        (Outcome::Blocked, "Blocked (no sign-off can waive these: fix the image)"),
        (Outcome::NeedsSignoff, "Needs a sign-off"),
    ] {
        listed(ctx, outcome, title, &mut out);
    }
    signed_off(ctx, &mut out);
    let a = &d.api_tests;
    let _ = writeln!(
        out,
        "\n**API tests:** {:?} ({} of {} scenarios passed, {} report(s))",
        a.outcome, a.passed, a.total, a.reports
    );
    for s in &d.signoffs.expiring {
        let _ = writeln!(
            out,
            "\n⚠️ sign-off {} expires {} ({})",
            cell(&s.id),
            s.expires,
            cell(&s.location)
        );
    }
    if !d.reasons.is_empty() {
        let _ = writeln!(
            out,
            "\n<details><summary>Why ({} reason(s))</summary>\n",
            d.reasons.len()
        );
        for r in d.reasons.iter().take(SHOWN) {
            let _ = writeln!(out, "- `{}` {}", r.code, cell(&r.message));
        }
        let _ = writeln!(out, "\n</details>");
    }
    if let Some(sha) = evidence_sha256 {
        let _ = writeln!(
            out,
            "\nevidence sha256 `{sha}` · policy {} (`{}`)",
            cell(&ctx.policy.location),
            &ctx.policy.sha256[..12]
        );
    }
    out
}

/// The findings with `outcome`, highest score first, at most `SHOWN`.
/// What the admins accepted: each signed-off finding with its sign-off (where, who, until when, the analysis and
/// the mitigation), folded, at most `SHOWN`.
fn signed_off(ctx: &Context, out: &mut String) {
    let rows: Vec<String> = ctx
        .each()
        .flat_map(|(j, i)| {
            i.findings
                .iter()
                .filter(|f| f.outcome == Outcome::SignedOff)
                .map(move |f| (j, f))
        })
        .map(|(j, fd)| {
            let f = ctx.record(j, fd);
            format!(
                "- {} ({} {}): {}",
                cell(&f.id),
                cell(&f.package),
                cell(&f.package_version),
                cell(&f.signoff.map(|s| s.to_string()).unwrap_or_default())
            )
        })
        .collect();
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\n<details><summary>Signed off ({} finding(s): what the admins accepted, and why)</summary>\n",
        rows.len()
    );
    for r in rows.iter().take(SHOWN) {
        let _ = writeln!(out, "{r}");
    }
    if rows.len() > SHOWN {
        let _ = writeln!(out, "- … and {} more (see the HTML report)", rows.len() - SHOWN);
    }
    let _ = writeln!(out, "\n</details>");
}

fn listed(ctx: &Context, outcome: Outcome, title: &str, out: &mut String) {
    let mut listed: Vec<(f64, String)> = ctx
        .each()
        .flat_map(|(j, i)| {
            i.findings
                .iter()
                .filter(move |f| f.outcome == outcome)
                .map(move |f| (j, f))
        })
        .map(|(j, fd)| {
            let f = ctx.record(j, fd);
            let fixed = f
                .fixed_in
                .as_deref()
                .map(|v| format!(", fixed in {}", cell(v)))
                .unwrap_or_default();
            (
                f.score.unwrap_or(-1.0),
                format!(
                    "{} ({}, {} {}{fixed})",
                    cell(&f.id),
                    f.score.map_or("no score".to_owned(), |s| format!("{s:.1}")),
                    cell(&f.package),
                    cell(&f.package_version)
                ),
            )
        })
        .collect();
    if listed.is_empty() {
        return;
    }
    listed.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let more = listed.len().saturating_sub(SHOWN);
    let shown: Vec<String> = listed.into_iter().take(SHOWN).map(|(_, s)| s).collect();
    let _ = writeln!(
        out,
        "\n**{title}:** {}{}",
        shown.join(", "),
        if more > 0 {
            format!(", and {more} more")
        } else {
            String::new()
        }
    );
}
