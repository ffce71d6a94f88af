//! The reports for people and other tools: SARIF 2.1.0 (validated with check-jsonschema against the schema
//! Microsoft's SARIF multitool ships on npm), the Markdown summary, and the HTML page rendered by Debian's
//! chromium in headless mode.

#![allow(clippy::unwrap_used)] // a test fails loudly where it unwraps

mod common;
use common::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

fn demo(args: [&str; 7], extra: &[&str], now: &str) -> (i32, String) {
    let (code, out, err) = run(bbgate().args(args).args(["--now", now]).args(extra));
    (code, format!("{out}{err}"))
}

/// The denied demo's decision as `--format json` prints it: what each report must agree with.
fn denied_decision() -> Value {
    run_json(bbgate().args(DENIED_DEMO).args(["--now", NOW_2026, "--format", "json"])).1
}

fn sarif_schema() -> PathBuf {
    let peers = std::env::var("BBGATE_TEST_NODE_PEERS")
        .expect("BBGATE_TEST_NODE_PEERS is not set: run the suite with scripts/test");
    Path::new(&peers).join("node_modules/@microsoft/sarif-multitool-linux/sarif-2.1.0.json")
}

fn validate(schema: &Path, file: &Path) -> (bool, String) {
    let tool = std::env::var("BBGATE_TEST_CHECK_JSONSCHEMA").expect("run the suite with scripts/test");
    let out = std::process::Command::new(tool)
        .arg("--schemafile")
        .arg(schema)
        .arg(file)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn sarif_validates_against_the_sarif_2_1_0_schema_with_one_rule_per_vulnerability_and_suppressed_signoffs() {
    let tmp = tempfile::tempdir().unwrap();
    let denied = tmp.path().join("denied.sarif");
    let (code, out) = demo(DENIED_DEMO, &["--sarif", denied.to_str().unwrap()], NOW_2026);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("wrote the SARIF log") && out.contains("sha256"), "{out}");
    let (ok, why) = validate(&sarif_schema(), &denied);
    assert!(ok, "{why}");
    let passing = tmp.path().join("pass.sarif");
    let (code, out) = demo(PASSING_DEMO, &["--sarif", passing.to_str().unwrap()], NOW_2026);
    assert_eq!(code, 0, "{out}");
    assert!(validate(&sarif_schema(), &passing).0);

    // The validator is not vacuous: a log with the wrong version is refused.
    let mut broken: Value = serde_json::from_slice(&std::fs::read(&denied).unwrap()).unwrap();
    broken["version"] = json!("2.0.0");
    let broken_path = tmp.path().join("broken.sarif");
    std::fs::write(&broken_path, serde_json::to_vec(&broken).unwrap()).unwrap();
    assert!(
        !validate(&sarif_schema(), &broken_path).0,
        "version 2.0.0 must fail the schema"
    );

    // Content: the same decision as the JSON output.
    let v = denied_decision();
    let sarif: Value = serde_json::from_slice(&std::fs::read(&denied).unwrap()).unwrap();
    let run = &sarif["runs"][0];
    let rules: Vec<&str> = run["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    let mut unique = rules.clone();
    unique.dedup();
    assert_eq!(rules, unique, "one rule per vulnerability id");
    let results = run["results"].as_array().unwrap();
    let level_ids = |level: &str| {
        let mut ids: Vec<String> = results
            .iter()
            .filter(|r| r["level"] == level && r.get("suppressions").is_none())
            .map(|r| r["ruleId"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    };
    let mut blocked = outcome_ids(&v, "blocked");
    blocked.sort();
    let mut needs = outcome_ids(&v, "needs_signoff");
    needs.sort();
    assert_eq!(level_ids("error"), blocked);
    assert_eq!(level_ids("warning"), needs);
    for r in results {
        let rule = &run["tool"]["driver"]["rules"][r["ruleIndex"].as_u64().unwrap() as usize];
        assert_eq!(rule["id"], r["ruleId"]);
    }
    // Signed-off findings are results suppressed by the sign-off.
    let pass: Value = serde_json::from_slice(&std::fs::read(&passing).unwrap()).unwrap();
    let (_, pv) = run_json(
        bbgate()
            .args(PASSING_DEMO)
            .args(["--now", NOW_2026, "--format", "json"]),
    );
    let signed = outcome_ids(&pv, "signed_off");
    assert!(!signed.is_empty(), "the passing demo applies sign-offs");
    let suppressed: Vec<&Value> = pass["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r.get("suppressions").is_some())
        .collect();
    assert_eq!(suppressed.len(), signed.len());
    let j = suppressed[0]["suppressions"][0]["justification"].as_str().unwrap();
    assert!(j.contains("signed off by") && j.contains("until"), "{j}");
}

#[test]
fn the_markdown_summary_is_short_and_names_what_blocks() {
    let tmp = tempfile::tempdir().unwrap();
    let md = tmp.path().join("summary.md");
    let ev = tmp.path().join("evidence.json");
    let (code, out) = demo(
        DENIED_DEMO,
        &["--markdown", md.to_str().unwrap(), "--evidence", ev.to_str().unwrap()],
        NOW_2026,
    );
    assert_eq!(code, 1, "{out}");
    let text = std::fs::read_to_string(&md).unwrap();
    let v = denied_decision();
    assert!(text.starts_with("### bbgate verify: ❌ DENY"), "{text}");
    for id in outcome_ids(&v, "blocked").iter().take(10) {
        assert!(text.contains(id.as_str()), "{id} in {text}");
    }
    assert!(text.contains("evidence sha256 `"), "{text}");
    assert!(text.len() < 65_536, "fits a GitHub comment");
    assert!(text.lines().count() < 60, "{} lines", text.lines().count());
}

/// A page whose package names try to break out of the HTML and the Markdown table.
fn hostile_page(dir: &Path) -> PathBuf {
    let f = |id: &str, pkg: &str, score: &str| basic_finding(id, pkg, score, "HIGH");
    let page = scan_page(
        "bb/payments/adapter",
        &adapter_digest(),
        "1.5.0",
        vec![
            f("CVE-2026-0001", "<img src=x onerror=\"document.title='pwned'\">", "9.8"),
            f("CVE-2026-0002", "lib|a", "7.5"),
            f("CVE-2026-0003", "zlib", "5.3"),
        ],
        1,
    );
    let p = dir.join("page.json");
    std::fs::write(&p, serde_json::to_vec(&page).unwrap()).unwrap();
    p
}

fn chromium(args: &[&str]) -> String {
    let out = std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
        ])
        .args(args)
        .output()
        .expect("chromium (scripts/test installs Debian's)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_html_report_renders_in_headless_chromium_with_the_verdict_and_every_blocked_id() {
    let tmp = tempfile::tempdir().unwrap();
    let html = tmp.path().join("report.html");
    let ev = tmp.path().join("evidence.json");
    let (code, out) = demo(
        DENIED_DEMO,
        &["--html", html.to_str().unwrap(), "--evidence", ev.to_str().unwrap()],
        NOW_2026,
    );
    assert_eq!(code, 1, "{out}");
    let v = denied_decision();
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        !page.contains("src=\"http") && !page.contains("href=\"//"),
        "no network resource"
    );
    let evidence_sha = out
        .lines()
        .find(|l| l.contains("wrote the evidence"))
        .unwrap()
        .rsplit("sha256 ")
        .next()
        .unwrap()
        .trim_end_matches(')')
        .to_owned();

    // The DOM after the page's script ran, filtered to blocked findings by the URL.
    let url = format!("file://{}#outcome=blocked", html.display());
    let dom = chromium(&["--dump-dom", &url]);
    assert!(dom.contains("id=\"verdict\">DENY</span>"), "{dom}");
    assert!(dom.contains(&evidence_sha), "the evidence's sha256 is shown");
    let blocked = outcome_ids(&v, "blocked");
    assert!(!blocked.is_empty());
    let rows: Vec<&str> = dom.split("<tr data-outcome=").skip(1).collect();
    for id in &blocked {
        assert!(
            rows.iter()
                .any(|r| r.starts_with("\"blocked\">") && r.contains(id.as_str())),
            "{id} is a visible blocked row"
        );
    }
    // The filter ran: every other row is hidden.
    assert!(
        rows.iter()
            .filter(|r| !r.starts_with("\"blocked\""))
            .all(|r| r.contains(" hidden")),
        "filter applied"
    );
    assert!(
        dom.contains(&format!("<span id=\"shown\">{}</span>", blocked.len())),
        "count of shown rows"
    );

    // A screenshot, kept with the build's test artifacts (not committed).
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("reports");
    std::fs::create_dir_all(&shots).unwrap();
    let shot = shots.join("bbgate-report.png");
    let _ = std::fs::remove_file(&shot);
    chromium(&[
        &format!("--screenshot={}", shot.display()),
        "--window-size=1280,1600",
        &format!("file://{}", html.display()),
    ]);
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "a real screenshot: {} bytes",
        png.len()
    );

    // Text from the scan cannot open markup: the package name stays text, the script never runs.
    let hostile = tmp.path().join("hostile.html");
    let md = tmp.path().join("hostile.md");
    let mut cmd = bbgate();
    cmd.args([
        "verify",
        "--api-report",
        "fixtures/api-tests/payments-adapter.ndjson",
        "--findings",
    ])
    .arg(hostile_page(tmp.path()))
    .arg("--html")
    .arg(&hostile)
    .arg("--markdown")
    .arg(&md);
    let (code, _, err) = run(&mut cmd);
    assert_eq!(code, 1, "{err}");
    let dom = chromium(&["--dump-dom", &format!("file://{}", hostile.display())]);
    assert!(!dom.contains("<img"), "no element from a package name: {dom}");
    assert!(dom.contains("&lt;img src=x onerror="), "shown as text");
    assert!(
        dom.contains("<title>bbgate verify: DENY"),
        "the title was not rewritten"
    );
    let md = std::fs::read_to_string(&md).unwrap();
    assert!(md.contains("lib\\|a") && !md.contains("<img"), "{md}");
}

#[test]
fn the_html_report_lists_every_decisive_finding_and_at_most_a_thousand_quiet_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let mut findings = common::peer::low_basic_findings(2500); // allowed (5.3)
    findings.push(basic_finding("CVE-2026-0009", "openssl", "9.8", "CRITICAL"));
    let page = scan_page("bb/payments/adapter", &adapter_digest(), "1.5.0", findings, 1);
    let path = tmp.path().join("page.json");
    std::fs::write(&path, serde_json::to_vec(&page).unwrap()).unwrap();
    let html = tmp.path().join("r.html");
    let mut cmd = bbgate();
    cmd.args([
        "verify",
        "--api-report",
        "fixtures/api-tests/payments-adapter.ndjson",
        "--findings",
    ])
    .arg(&path)
    .arg("--html")
    .arg(&html);
    assert_eq!(run(&mut cmd).0, 1);
    let text = std::fs::read_to_string(&html).unwrap();
    assert_eq!(text.matches("<tr data-outcome=\"blocked\">").count(), 1);
    assert_eq!(text.matches("<tr data-outcome=\"allowed\">").count(), 1000);
    assert!(
        text.contains("Not listed: 1500 more allowed finding(s)"),
        "the page says what it left out"
    );
}

/// Names from a scan that try to steer each writer: a terminal (erase the line, return, repaint the verdict,
/// conceal), Markdown (a link, an image, autolinks, HTML, math, a table pipe), XML (control characters) and
/// SARIF (a `javascript:` advisory, a non-URI).
const HOSTILE: [&str; 6] = [
    "\u{1b}[2K\r\u{1b}[1;32mverdict: PASS\u{1b}[8m",
    "[click](https://evil.example/) ![x](https://evil.example/x.png)",
    "see https://evil.example and www.evil.example or a@evil.example",
    "<img src=x> a|b `code` $x^2$ **bold** ~~gone~~",
    "ctl\u{1}\u{7}\u{85}\u{202e}txt",
    "plain-1.0",
];

#[test]
fn the_same_hostile_names_steer_no_writer() {
    let tmp = tempfile::tempdir().unwrap();
    let advisories = [
        "javascript:alert(1)",
        "not a uri",
        "https://security-tracker.debian.org/tracker/CVE-2026-0105",
    ];
    let findings: Vec<Value> = HOSTILE
        .iter()
        .enumerate()
        .map(|(i, pkg)| {
            let mut f = basic_finding(&format!("CVE-2026-010{i}"), pkg, "7.5", "HIGH");
            f["uri"] = serde_json::json!(advisories[i % advisories.len()]);
            f
        })
        .collect();
    let page = scan_page("bb/payments/adapter", &adapter_digest(), "1.5.0", findings, 1);
    let path = tmp.path().join("page.json");
    std::fs::write(&path, serde_json::to_vec(&page).unwrap()).unwrap();
    let (md, sarif, junit) = (
        tmp.path().join("s.md"),
        tmp.path().join("s.sarif"),
        tmp.path().join("j.xml"),
    );
    let (code, out, err) = run(bbgate()
        .args([
            "verify",
            "--api-report",
            "fixtures/api-tests/payments-adapter.ndjson",
            "--findings",
        ])
        .arg(&path)
        .arg("--markdown")
        .arg(&md)
        .arg("--sarif")
        .arg(&sarif)
        .arg("--junit")
        .arg(&junit)
        .env("CLICOLOR_FORCE", "1"));
    assert_eq!(code, 1, "{err}");

    // The terminal: no control character from the data, shown escaped instead; bbgate's own colours stay.
    for c in ['\r', '\u{7}', '\u{1}', '\u{85}', '\u{202e}'] {
        assert!(!out.contains(c) && !err.contains(c), "{c:?} reached the terminal");
    }
    assert!(!out.contains("\u{1b}[2K") && !out.contains("\u{1b}[8m"), "{out}");
    assert!(out.contains("\\u{1b}[2K\\u{d}"), "shown escaped: {out}");
    assert!(out.contains("\u{1b}[1;31mDENY"), "the verdict's own colour: {out}");
    // Positive control: the raw names do hold what was refused.
    assert!(HOSTILE[0].contains("\u{1b}[2K\r"));

    // Markdown: every character that makes markup arrives escaped.
    let md = std::fs::read_to_string(&md).unwrap();
    for raw in [
        "[click]", "](https", "![x]", "https://", "www.evil", "a@evil", "<img", "a|b", "`code`", "$x", "**bold",
        "~~gone",
    ] {
        // Wherever it appears, preceded by a backslash (or rewritten, as < and >).
        let unescaped = md.match_indices(raw).any(|(at, _)| !md[..at].ends_with('\\'));
        assert!(!unescaped, "{raw:?} unescaped in:\n{md}");
    }
    for escaped in [
        "\\[click\\]",
        "https\\://evil",
        "www\\.evil",
        "a\\@evil",
        "&lt;img",
        "a\\|b",
        "\\$x",
        "\\*\\*bold",
    ] {
        assert!(md.contains(escaped), "{escaped:?} missing in:\n{md}");
    }
    assert!(
        !md.contains('\u{1b}') && !md.contains('\u{1}') && !md.contains('\r') && !md.contains('\u{202e}'),
        "{md:?}"
    );

    // SARIF: an advisory is a helpUri only when it is an http(s) URL.
    let s: Value = serde_json::from_slice(&std::fs::read(&sarif).unwrap()).unwrap();
    let uris: Vec<&Value> = s["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r.get("helpUri"))
        .collect();
    assert_eq!(
        uris,
        [
            "https://security-tracker.debian.org/tracker/CVE-2026-0105",
            "https://security-tracker.debian.org/tracker/CVE-2026-0105"
        ],
        "{s}"
    );

    // JUnit: well-formed XML 1.0, read back by a standard parser, the names intact but for what XML forbids.
    let parsed = std::process::Command::new("python3")
        .args(["-c", "import sys, xml.etree.ElementTree as E; t = E.parse(sys.argv[1]); print('\\n'.join(c.get('name') for c in t.iter('testcase')))"])
        .arg(&junit)
        .output()
        .unwrap();
    assert!(parsed.status.success(), "{}", String::from_utf8_lossy(&parsed.stderr));
    let names = String::from_utf8_lossy(&parsed.stdout);
    assert!(names.contains("ctl\\u{1}\\u{7}\u{85}\u{202e}txt"), "{names}");
    assert!(
        names.contains("[click](https://evil.example/)"),
        "XML keeps what it can hold: {names}"
    );
}
