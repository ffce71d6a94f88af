//! `--html FILE`: one self-contained page for the admin reviewing a decision (a CircleCI artifact): the verdict,
//! the images, every finding (filterable by outcome), the sign-offs and their expiry, the API test results and
//! the evidence's sha256. No network resource: styles and the filter script are inline, and the page's
//! Content-Security-Policy allows nothing else (the script by its hash), so text from a scan or report can
//! neither load anything nor run: every such text is escaped.

use super::Context;
use crate::gate::{Outcome, SignoffUse, Verdict};
use sha2::{Digest, Sha256};
use std::fmt::Write;

/// Text as HTML: `&`, `<`, `>`, `"` and `'` escaped (quick-xml's escape, the XML writer bbgate already uses),
/// so no text from a scan or report can open markup or leave an attribute.
pub(crate) fn esc(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}\
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}\
.verdict{display:inline-block;padding:.2em .7em;border-radius:4px;color:#fff;font-weight:bold}\
.pass{background:#1a7f37}.deny{background:#cf222e}.predicted{background:#fff8c5;padding:.5em;border:1px solid #d4a72c}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #d0d7de;padding:.25em .5em;text-align:left;vertical-align:top}\
th{background:#f6f8fa}#findings td:nth-child(2){white-space:nowrap}tr[data-outcome=blocked] td.o{color:#cf222e;font-weight:bold}\
tr[data-outcome=needs_signoff] td.o{color:#9a6700;font-weight:bold}code{font-size:.95em}";

const SCRIPT: &str = "(function(){var s=document.getElementById('outcome');\
function apply(){var v=s.value,n=0;document.querySelectorAll('#findings tbody tr').forEach(function(r){\
r.hidden=(v!=='all'&&r.getAttribute('data-outcome')!==v);if(!r.hidden){n++;}});\
document.getElementById('shown').textContent=n;}\
var m=location.hash.match(/outcome=([a-z_]+)/);if(m){s.value=m[1];}\
s.addEventListener('change',apply);apply();})();";

fn signoff_rows(out: &mut String, label: &str, list: &[SignoffUse]) {
    for s in list {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(label),
            esc(&s.id),
            esc(s.package.as_deref().unwrap_or("")),
            esc(&s.approved_by),
            s.expires,
            esc(&format!(
                "{}{}",
                s.location,
                s.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default()
            ))
        );
    }
}

pub(crate) fn render(ctx: &Context, evidence_sha256: Option<&str>) -> String {
    let d = ctx.decision;
    let (verdict, class) = match d.verdict {
        Verdict::Pass => ("PASS", "pass"),
        Verdict::Deny => ("DENY", "deny"),
    };
    let script_hash = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, Sha256::digest(SCRIPT));
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; \
         script-src 'sha256-{script_hash}'\">\
         <title>bbgate verify: {verdict} · {}</title><style>{STYLE}</style></head><body>\n",
        esc(&d.building_block)
    );
    let _ = writeln!(
        out,
        "<h1>bbgate verify <span class=\"verdict {class}\" id=\"verdict\">{verdict}</span></h1>\
         <p>Building block <b>{}</b> (namespace {}) · {} image(s) · decided {} · policy {} (sha256 <code>{}</code>)</p>\
         <p>Evidence sha256: <code id=\"evidence\">{}</code></p>",
        esc(&d.building_block),
        esc(&ctx.building_block.namespace),
        ctx.images.len(),
        ctx.now,
        esc(&ctx.policy.location),
        esc(&ctx.policy.sha256),
        evidence_sha256.map_or_else(|| "(no evidence written: give --evidence)".to_owned(), esc)
    );
    if ctx.images.iter().any(|j| j.scan.source.predicted()) {
        let _ = writeln!(
            out,
            "<p class=\"predicted\">PREDICTED from a local scanner's report: the sandbox decides on ECR's scan of the \
             pushed image; deploy refuses evidence from a prediction.</p>"
        );
    }
    if !d.reasons.is_empty() {
        let _ = writeln!(out, "<h2>Why: {} reason(s)</h2><ul id=\"reasons\">", d.reasons.len());
        for r in &d.reasons {
            let _ = writeln!(out, "<li><code>{}</code> {}</li>", esc(&r.code), esc(&r.message));
        }
        let _ = writeln!(out, "</ul>");
    }
    let _ = writeln!(
        out,
        "<h2>Images</h2><table id=\"images\"><thead><tr><th>image</th><th>verdict</th><th>scan</th><th>blocked</th>\
         <th>needs sign-off</th><th>signed off</th></tr></thead><tbody>"
    );
    for (j, i) in ctx.each() {
        let _ = writeln!(
            out,
            "<tr><td><code>{}</code></td><td>{}</td><td>{} {}, {} finding(s), completed {}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&j.uri()),
            if i.verdict == Verdict::Pass { "pass" } else { "DENY" },
            esc(j.scan.source.as_str()),
            esc(&j.scan.status),
            j.scan.findings.len(),
            j.scan
                .completed_at
                .map_or_else(|| "at an unknown time".to_owned(), |t| t.to_string()),
            i.count(Outcome::Blocked),
            i.count(Outcome::NeedsSignoff),
            i.count(Outcome::SignedOff)
        );
    }
    let _ = writeln!(out, "</tbody></table>");
    findings(ctx, &mut out);
    let _ = writeln!(
        out,
        "<h2>Sign-offs</h2><table id=\"signoffs\"><thead><tr><th>state</th><th>id</th><th>package</th><th>approved by</th>\
         <th>expires</th><th>where</th></tr></thead><tbody>"
    );
    let s = &d.signoffs;
    for (label, list) in [
        ("applied", &s.applied),
        ("expiring", &s.expiring),
        ("expired", &s.expired),
        ("rejected", &s.rejected),
        ("unused", &s.unused),
    ] {
        signoff_rows(&mut out, label, list);
    }
    let _ = writeln!(out, "</tbody></table>");
    let a = &d.api_tests;
    let _ = writeln!(
        out,
        "<h2>API tests</h2><p id=\"api\">{:?}: {} of {} scenario(s) passed, {} failed, in {} report(s)</p>",
        a.outcome, a.passed, a.total, a.failed, a.reports
    );
    if !a.failed_scenarios.is_empty() {
        let _ = writeln!(
            out,
            "<table><thead><tr><th>report</th><th>feature</th><th>scenario</th><th>status</th><th>where</th><th>message</th></tr></thead><tbody>"
        );
        for f in &a.failed_scenarios {
            let sc = &f.scenario;
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&f.report),
                esc(&sc.feature),
                esc(&sc.name),
                esc(sc.status.as_str()),
                esc(sc.location.as_deref().unwrap_or("")),
                esc(sc.message.as_deref().unwrap_or(""))
            );
        }
        let _ = writeln!(out, "</tbody></table>");
    }
    let _ = writeln!(out, "<script>{SCRIPT}</script></body></html>");
    out
}

fn findings(ctx: &Context, out: &mut String) {
    let _ = writeln!(
        out,
        "<h2>Findings</h2><p><label>Outcome: <select id=\"outcome\"><option value=\"all\">all</option>\
         <option value=\"blocked\">blocked</option><option value=\"needs_signoff\">needs sign-off</option>\
         <option value=\"signed_off\">signed off</option><option value=\"warned\">warned</option>\
         <option value=\"allowed\">allowed</option></select></label> · <span id=\"shown\"></span> shown</p>\
         <table id=\"findings\"><thead><tr><th>outcome</th><th>id</th><th>score</th><th>package</th><th>version</th>\
         <th>fixed in</th><th>image</th><th>why</th></tr></thead><tbody>"
    );
    let mut rows: Vec<(Outcome, f64, String)> = Vec::new();
    for (j, i) in ctx.each() {
        for fd in &i.findings {
            let f = ctx.record(j, fd);
            let finding = &j.scan.findings[fd.finding];
            let id = match &finding.advisory {
                Some(url) if url.starts_with("https://") || url.starts_with("http://") => {
                    format!("<a href=\"{}\" rel=\"noreferrer\">{}</a>", esc(url), esc(&f.id))
                }
                _ => esc(&f.id),
            };
            rows.push((
                f.outcome,
                f.score.unwrap_or(-1.0),
                format!(
                    "<tr data-outcome=\"{}\"><td class=\"o\">{}</td><td>{id}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
                     <td><code>{}</code></td><td>{}</td></tr>",
                    f.outcome.as_str(),
                    f.outcome.as_str(),
                    f.score.map_or_else(String::new, |s| format!("{s:.1}")),
                    esc(&f.package),
                    esc(&f.package_version),
                    esc(f.fixed_in.as_deref().unwrap_or("")),
                    esc(&j.scan.image.repository),
                    esc(&match &f.signoff {
                        Some(s) => format!("{}; signed off: {s}", f.basis),
                        None => f.basis.to_string(),
                    })
                ),
            ));
        }
    }
    rows.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)));
    // Every finding that decides or was waived is listed; of those that change nothing (warned, allowed), the
    // first LISTED_QUIET of each, highest score first: a browser lays out 100k table rows in about a minute.
    let mut left_out: Vec<(Outcome, usize)> = Vec::new();
    let mut listed_of = (Outcome::Allowed, 0usize);
    for (outcome, _, row) in rows {
        if listed_of.0 != outcome {
            listed_of = (outcome, 0);
        }
        listed_of.1 += 1;
        if matches!(outcome, Outcome::Warned | Outcome::Allowed) && listed_of.1 > LISTED_QUIET {
            match left_out.last_mut() {
                Some((o, n)) if *o == outcome => *n += 1,
                _ => left_out.push((outcome, 1)),
            }
            continue;
        }
        out.push_str(&row);
        out.push('\n');
    }
    let _ = writeln!(out, "</tbody></table>");
    if !left_out.is_empty() {
        let said: Vec<String> = left_out
            .iter()
            .map(|(o, n)| format!("{n} more {}", o.as_str()))
            .collect();
        let _ = writeln!(
            out,
            "<p id=\"left-out\">Not listed: {} finding(s), lowest scores first left out; they do not change the \
             verdict. The JSON output (--format json) and the evidence hold every finding.</p>",
            said.join(" and ")
        );
    }
}

/// How many warned and how many allowed findings the page lists (the decisive ones are always all listed).
const LISTED_QUIET: usize = 1000;
