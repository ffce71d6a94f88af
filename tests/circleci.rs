//! The orb, the project's CircleCI config and the example pipeline: valid against the CircleCI schema, every
//! `bbgate …` invocation in them and in the README parsed by the real clap definition, and the orb's verify and
//! dry-run steps run for real against the moto peer.

#![allow(clippy::unwrap_used)] // a test fails loudly where it unwraps

mod common;
use bbgate::cli::Cli;
use clap::Parser;
use common::peer::{self, Moto};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            yaml_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "yml" || x == "yaml") {
            out.push(p);
        }
    }
}

fn check_jsonschema(files: &[PathBuf]) -> (bool, String) {
    let tool = std::env::var("BBGATE_TEST_CHECK_JSONSCHEMA")
        .expect("BBGATE_TEST_CHECK_JSONSCHEMA is not set: run the suite with scripts/test");
    let out = std::process::Command::new(tool)
        .args(["--builtin-schema", "vendor.circle-ci"])
        .args(files)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn every_file_under_circleci_validates_against_the_circleci_schema() {
    let mut files = Vec::new();
    yaml_files(Path::new(".circleci"), &mut files);
    files.sort();
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    for expected in [
        ".circleci/config.yml",
        ".circleci/orb.yml",
        ".circleci/examples/bb-pipeline.yml",
    ] {
        assert!(
            names.contains(&expected.to_owned()),
            "{expected} missing from {names:?}"
        );
    }
    let (ok, out) = check_jsonschema(&files);
    assert!(ok, "{out}");
    // The validator is not vacuous: a job whose steps are not a list is rejected.
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.yml");
    std::fs::write(&bad, "version: 2.1\njobs:\n  x:\n    docker: [{image: cimg/base:current}]\n    steps: 5\nworkflows:\n  w:\n    jobs: [x]\n").unwrap();
    assert!(!check_jsonschema(&[bad]).0, "a broken config must fail");
}

fn orb() -> Value {
    yaml_serde::from_str(&std::fs::read_to_string(".circleci/orb.yml").unwrap()).unwrap()
}

/// A parameter's value for the checks: its default, else a sample of the right shape.
fn sample(name: &str, spec: &Value) -> String {
    if let Some(d) = spec.get("default") {
        return d.as_str().map_or_else(|| d.to_string(), str::to_owned);
    }
    match name {
        n if n.contains("timeout") => "5m".into(),
        "image" => "bb/payments/emulator:1.0".into(),
        n => format!("sample-{n}"),
    }
}

/// `<< parameters.x >>` replaced by the parameter's value.
fn substitute(text: &str, params: &BTreeMap<String, String>) -> String {
    let mut out = text.to_owned();
    for (k, v) in params {
        out = out.replace(&format!("<< parameters.{k} >>"), v);
    }
    out
}

/// Shell words of one command line, as bash would split them, with variables expanded from `env` (unknown
/// ones become "sample"). Handles quotes, `$VAR`, `${VAR}`, `${VAR:+words}`, `${VAR:-x}`, `${!VAR}`,
/// `${arr[@]}` and `$(…)`; stops at a redirection, pipe or `;`.
fn words(line: &str, env: &BTreeMap<String, String>) -> Vec<String> {
    let chars: Vec<char> = line.chars().collect();
    let mut out: Vec<String> = Vec::new();
    let mut cur: Option<String> = None;
    let mut i = 0;
    let lookup = |name: &str| env.get(name).cloned().unwrap_or_else(|| "sample".into());
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' => {
                if let Some(w) = cur.take() {
                    out.push(w);
                }
                i += 1;
            }
            '#' if cur.is_none() => break,
            '>' | '<' | '|' | ';' | '&' => break,
            '\'' => {
                let end = chars[i + 1..].iter().position(|&c| c == '\'').unwrap() + i + 1;
                cur.get_or_insert_with(String::new).extend(&chars[i + 1..end]);
                i = end + 1;
            }
            '"' => {
                let mut j = i + 1;
                let w = cur.get_or_insert_with(String::new);
                while chars[j] != '"' {
                    if chars[j] == '$' {
                        let (text, next) = expansion(&chars, j, &lookup);
                        let is_array = chars[j..next].ends_with(&['@', ']', '}']);
                        if is_array && text.len() > 1 {
                            // "${arr[@]}": one word per element.
                            w.push_str(&text[0]);
                            for t in &text[1..] {
                                out.push(std::mem::take(w));
                                w.push_str(t);
                            }
                        } else {
                            w.push_str(&text.join(" "));
                        }
                        j = next;
                    } else {
                        if chars[j] == '\\' {
                            j += 1;
                        }
                        w.push(chars[j]);
                        j += 1;
                    }
                }
                i = j + 1;
            }
            '$' => {
                let (ws, next) = expansion(&chars, i, &lookup);
                let nested = chars.get(i + 1) == Some(&'{') && chars[i..next].contains(&':');
                if nested {
                    // ${X:+--flag "$X"}: its own words, checked as if X were set (so optional flags are
                    // checked too).
                    if let Some(w) = cur.take() {
                        out.push(w);
                    }
                    let name: String = chars[i + 2..next].iter().take_while(|c| **c != ':').collect();
                    let mut set = env.clone();
                    if set.get(&name).is_none_or(|v| v.is_empty()) {
                        set.insert(name, "sample".into());
                    }
                    for inner in ws {
                        out.extend(words(&inner, &set));
                    }
                } else {
                    cur.get_or_insert_with(String::new).push_str(&ws.join(" "));
                }
                i = next;
            }
            '\\' => {
                cur.get_or_insert_with(String::new).push(chars[i + 1]);
                i += 2;
            }
            c => {
                cur.get_or_insert_with(String::new).push(c);
                i += 1;
            }
        }
    }
    if let Some(w) = cur {
        out.push(w);
    }
    out
}

/// One `$…` expansion at `i`: its text (for `${X:+words}`, the unexpanded words) and where it ends.
fn expansion(chars: &[char], i: usize, lookup: &dyn Fn(&str) -> String) -> (Vec<String>, usize) {
    match chars.get(i + 1) {
        Some('(') => {
            let mut depth = 0;
            let mut j = i + 1;
            loop {
                match chars[j] {
                    '(' => depth += 1,
                    ')' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            (vec!["sample".into()], j + 1)
        }
        Some('{') => {
            let mut depth = 0;
            let mut j = i + 1;
            loop {
                match chars[j] {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            let body: String = chars[i + 2..j].iter().collect();
            let text = if let Some((name, word)) = body.split_once(":+") {
                let _ = name;
                vec![word.to_owned()]
            } else if let Some((name, default)) = body.split_once(":-") {
                let v = lookup(name.trim_start_matches('!'));
                vec![if v.is_empty() { default.to_owned() } else { v }]
            } else if body.ends_with("[@]") {
                // An array: two words, so a flag that takes one value is caught.
                vec!["sample-1".into(), "sample-2".into()]
            } else if body.contains('[') || body.starts_with('!') {
                vec!["sample".into()]
            } else {
                vec![lookup(&body)]
            };
            (text, j + 1)
        }
        _ => {
            let mut j = i + 1;
            while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '_') {
                j += 1;
            }
            let name: String = chars[i + 1..j].iter().collect();
            (vec![lookup(&name)], j)
        }
    }
}

/// Logical lines (continuations joined) that start with `bbgate ` or `cargo run -- `.
fn invocations(script: &str) -> Vec<String> {
    let mut joined = Vec::new();
    let mut acc = String::new();
    for line in script.lines() {
        let t = line.trim();
        if let Some(stripped) = t.strip_suffix('\\') {
            acc.push_str(stripped);
            acc.push(' ');
            continue;
        }
        acc.push_str(t);
        joined.push(std::mem::take(&mut acc));
    }
    joined
        .into_iter()
        .filter_map(|l| {
            l.strip_prefix("bbgate ")
                .or_else(|| l.strip_prefix("cargo run -- "))
                .map(|rest| format!("bbgate {rest}"))
        })
        .collect()
}

fn parse(words: &[String]) -> Result<Cli, String> {
    Cli::try_parse_from(words).map_err(|e| e.to_string())
}

/// Every run step of the orb with the parameters of the command or job it is in.
fn orb_runs(orb: &Value) -> Vec<(String, String, BTreeMap<String, String>)> {
    let mut out = Vec::new();
    for section in ["commands", "jobs"] {
        for (name, def) in orb[section].as_object().unwrap() {
            let params: BTreeMap<String, String> = def["parameters"]
                .as_object()
                .map(|p| p.iter().map(|(k, v)| (k.clone(), sample(k, v))).collect())
                .unwrap_or_default();
            for step in def["steps"].as_array().into_iter().flatten() {
                let Some(run) = step.get("run") else { continue };
                let env: BTreeMap<String, String> = run["environment"]
                    .as_object()
                    .map(|e| {
                        e.iter()
                            .map(|(k, v)| (k.clone(), substitute(v.as_str().unwrap_or(""), &params)))
                            .collect()
                    })
                    .unwrap_or_default();
                out.push((
                    format!("{section}.{name}"),
                    run["command"].as_str().unwrap_or("").to_owned(),
                    env,
                ));
            }
        }
    }
    out
}

#[test]
fn every_bbgate_invocation_in_the_orb_and_the_readme_parses_with_the_real_command_line() {
    let orb = orb();
    let mut checked = 0;
    let mut problems = Vec::new();
    for (where_, script, env) in orb_runs(&orb) {
        for inv in invocations(&script) {
            let w = words(&inv, &env);
            checked += 1;
            if let Err(e) = parse(&w) {
                problems.push(format!("{where_}: {w:?}: {e}"));
            }
        }
    }
    assert!(
        checked >= 4,
        "the orb's verify, replay, deploy and dry-run invocations were found: {checked}"
    );

    let readme = std::fs::read_to_string("README.md").unwrap();
    let mut in_block = false;
    let mut block = String::new();
    let mut readme_checked = 0;
    for line in readme.lines() {
        if line.starts_with("```") {
            if in_block {
                for inv in invocations(&block) {
                    // A synopsis (`[--flag VALUE]...`) is checked with its optional parts in.
                    let w: Vec<String> = words(&inv, &BTreeMap::new())
                        .into_iter()
                        .map(|w| {
                            w.trim_start_matches('[')
                                .trim_end_matches("...")
                                .trim_end_matches(']')
                                .to_owned()
                        })
                        .filter(|w| !w.is_empty())
                        .collect();
                    readme_checked += 1;
                    if let Err(e) = parse(&w) {
                        problems.push(format!("README: {w:?}: {e}"));
                    }
                }
                block.clear();
            }
            in_block = !in_block;
            continue;
        }
        if in_block {
            block.push_str(line);
            block.push('\n');
        }
    }
    assert!(readme_checked >= 6, "README invocations found: {readme_checked}");
    assert!(
        problems.is_empty(),
        "invocations the binary would reject:\n{}",
        problems.join("\n")
    );

    // The check is real: a renamed flag is caught, and so is a missing value.
    assert!(parse(&words("bbgate verify --findings x --no-such-flag", &BTreeMap::new())).is_err());
    assert!(parse(&words("bbgate deploy --evidence e --chart c", &BTreeMap::new())).is_err());
    let w = words(
        r#"bbgate verify --image "$IMG" ${ROLE:+--role-arn "$ROLE"} ${list[0]:+--api-report "${list[@]}"} > out"#,
        &BTreeMap::from([("IMG".to_owned(), "r:1".to_owned())]),
    );
    assert_eq!(
        w,
        [
            "bbgate",
            "verify",
            "--image",
            "r:1",
            "--role-arn",
            "sample",
            "--api-report",
            "sample-1",
            "sample-2"
        ]
    );
}

#[test]
fn every_parameter_the_orb_uses_is_declared_where_it_is_used() {
    let orb = orb();
    let text = std::fs::read_to_string(".circleci/orb.yml").unwrap();
    assert!(
        !text.contains("set -x"),
        "no tracing around anything that may hold a secret"
    );
    for section in ["commands", "jobs"] {
        for (name, def) in orb[section].as_object().unwrap() {
            let declared: Vec<&String> = def["parameters"]
                .as_object()
                .map(|p| p.keys().collect())
                .unwrap_or_default();
            let body = serde_json::to_string(&def["steps"]).unwrap();
            for used in body.split("<< parameters.").skip(1) {
                let p = used.split(" >>").next().unwrap();
                assert!(
                    declared.iter().any(|d| *d == p),
                    "{section}.{name} uses undeclared parameter {p}"
                );
            }
            // Parameters reach scripts through `environment:`, never spliced into the script text.
            for step in def["steps"].as_array().into_iter().flatten() {
                if let Some(cmd) = step["run"]["command"].as_str() {
                    assert!(
                        !cmd.contains("<< parameters.") && !cmd.contains("<< pipeline."),
                        "{section}.{name}: a parameter is interpolated into the script"
                    );
                }
            }
        }
    }
}

fn step_script(orb: &Value, command: &str) -> (String, BTreeMap<String, String>) {
    let run = &orb["commands"][command]["steps"][0]["run"];
    let env = run["environment"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    (run["command"].as_str().unwrap().to_owned(), env)
}

/// Run an orb step's shell with `params` for its `<< parameters.x >>`, bbgate from this tree on PATH.
fn run_step(orb: &Value, command: &str, params: &[(&str, &str)], moto: &Moto) -> (i32, String, String) {
    run_step_with(orb, command, params, moto, &[])
}

fn run_step_with(
    orb: &Value,
    command: &str,
    params: &[(&str, &str)],
    moto: &Moto,
    extra_env: &[(&str, &str)],
) -> (i32, String, String) {
    let (script, env) = step_script(orb, command);
    let params: BTreeMap<String, String> = params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let bin = Path::new(env!("CARGO_BIN_EXE_bbgate")).parent().unwrap().to_owned();
    let mut cmd = std::process::Command::new("bash");
    cmd.arg("-c").arg(&script);
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") || k.starts_with("BBGATE_") || k.starts_with("CIRCLE") {
            cmd.env_remove(k);
        }
    }
    for (k, v) in env {
        cmd.env(k, substitute(&v, &params));
    }
    cmd.env("PATH", format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()))
        .env("AWS_ENDPOINT_URL", &moto.url)
        .env("AWS_REGION", peer::REGION)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ACCESS_KEY_ID", "AKIDSTATICTEST")
        .env("AWS_SECRET_ACCESS_KEY", peer::STATIC_SECRET);
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_orbs_verify_and_dry_run_steps_run_against_the_peer_and_write_their_artifacts() {
    let moto = Moto::get();
    let orb = orb();
    let repo = format!("bb/payments/{}", peer::unique("orb"));
    moto.create_repository(&repo);
    moto.put_image(&repo, "v1", &Moto::image_manifest(&repo));
    moto.queue_scans(
        &repo,
        vec![peer::scan_result(
            "COMPLETE",
            peer::low_basic_findings(1200),
            vec![],
            json!({"MEDIUM": 1200}),
        )],
    );
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().join("bbgate-out");
    // As GovStack's contexts set it: only AWS_DEFAULT_REGION (and an empty AWS_REGION), the region parameter empty.
    let image = format!("{repo}:v1");
    let (code, stdout, stderr) = run_step_with(
        &orb,
        "verify",
        &[
            ("image", image.as_str()),
            ("chart", ""),
            ("values", ""),
            ("set", ""),
            ("set_string", ""),
            ("release", ""),
            ("role_arn_env_var", "BBGATE_ROLE_ARN"),
            ("region", ""),
            ("push_from", ""),
            ("policy", ""),
            ("signoffs", ""),
            (
                "api_reports",
                "../shared/fixtures-upstream/cucumber-cck-messages/*.ndjson",
            ),
            ("building_block", ""),
            ("scan_timeout", "2m"),
            ("output_dir", out_dir.to_str().unwrap()),
        ],
        &moto,
        &[("AWS_REGION", ""), ("AWS_DEFAULT_REGION", peer::REGION)],
    );
    // cck-all-statuses holds failed scenarios: the gate denies, and the step fails with bbgate's exit code.
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("bbgate verify exited 1"), "{stdout}");
    let pages: Vec<_> = std::fs::read_dir(out_dir.join("findings")).unwrap().collect();
    assert_eq!(pages.len(), 2, "1200 findings in two saved pages");
    for report in ["report.html", "bbgate.sarif", "summary.md"] {
        assert!(out_dir.join(report).is_file(), "the verify step writes {report}");
    }
    let json: Value = serde_json::from_slice(&std::fs::read(out_dir.join("verify.json")).unwrap()).unwrap();
    assert_eq!(json["verdict"], "deny");
    let ev: Value = serde_json::from_slice(&std::fs::read(out_dir.join("evidence.json")).unwrap()).unwrap();
    assert_eq!(ev["body"]["verdict"], "deny");
    assert_eq!(
        ev["body"]["inputs"]["api_reports"].as_array().unwrap().len(),
        3,
        "the glob expanded to 3 reports"
    );
    let junit = std::fs::read_to_string(out_dir.join("junit/bbgate.xml")).unwrap();
    assert!(junit.starts_with("<?xml") && junit.contains("<testsuite"), "{junit}");
    assert!(out_dir.join("attestation.intoto.json").is_file());
    assert!(stdout.contains("DENY"), "the human replay is printed: {stdout}");
    assert!(!format!("{stdout}{stderr}").contains(peer::STATIC_SECRET));

    // The dry run: the saved pages, offline, with only the passing report: the same scan passes.
    let dry = tmp.path().join("dry");
    let (code, stdout, stderr) = run_step(
        &orb,
        "dry_run",
        &[
            ("findings", out_dir.join("findings").to_str().unwrap()),
            (
                "api_reports",
                "../shared/fixtures-upstream/cucumber-cck-messages/minimal.ndjson",
            ),
            ("signoffs", ""),
            ("policy", ""),
            ("building_block", ""),
            ("output_dir", dry.to_str().unwrap()),
        ],
        &moto,
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    let ev: Value = serde_json::from_slice(&std::fs::read(dry.join("evidence.json")).unwrap()).unwrap();
    assert_eq!(ev["body"]["verdict"], "pass");
    assert_eq!(ev["body"]["images"][0]["scan"]["findings"], 1200);
    assert!(dry.join("junit/bbgate.xml").is_file());
}

/// Serve one file over HTTP on 127.0.0.1 at any path (the release download the install step fetches): the base
/// URL, and the paths asked for.
fn serve_file(bytes: Vec<u8>) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/releases", listener.local_addr().unwrap());
    let requested = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = requested.clone();
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            let mut req = [0u8; 4096];
            let n = s.read(&mut req).unwrap_or(0);
            let line = String::from_utf8_lossy(&req[..n])
                .lines()
                .next()
                .unwrap_or("")
                .to_owned();
            let path = line
                .split(' ')
                .nth(1)
                .unwrap_or("")
                .trim_start_matches("/releases")
                .to_owned();
            seen.lock().unwrap().push(path);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                bytes.len()
            );
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(&bytes);
        }
    });
    (base, requested)
}

#[test]
fn the_orbs_install_step_checks_the_download_against_the_checksum_it_carries() {
    use sha2::{Digest, Sha256};
    let moto = Moto::get();
    let orb = orb();
    // A small stand-in for the release binary (the debug build is 400 MB): the step's job is the download,
    // the checksum, the install and PATH.
    let binary = b"#!/bin/sh\necho \"bbgate stand-in $*\"\n".to_vec();
    let sha = hex::encode(Sha256::digest(&binary));
    let (base, requested) = serve_file(binary);
    let version = env!("CARGO_PKG_VERSION");
    let run = |version: &str, sum: &str| {
        let home = tempfile::tempdir().unwrap();
        let bash_env = home.path().join("bash_env");
        let home_str = home.path().to_str().unwrap().to_owned();
        let (code, out, err) = run_step_with(
            &orb,
            "install",
            &[
                ("version", version),
                ("sha256", sum),
                ("download_base", &base),
                ("helm_version", ""),
                ("helm_sha256", ""),
                ("install_dir", "~/.local/bin"),
            ],
            &moto,
            &[("HOME", &home_str), ("BASH_ENV", bash_env.to_str().unwrap())],
        );
        let installed = home.path().join(".local/bin/bbgate").is_file();
        let path_line = std::fs::read_to_string(&bash_env).unwrap_or_default();
        (code, format!("{out}{err}"), installed, path_line)
    };

    // A build of one's own, with its sha256: downloaded from BASE/vVERSION/FILE, checked, installed, on PATH.
    let (code, out, installed, path_line) = run(version, &sha);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("bbgate stand-in --version"),
        "the installed binary runs: {out}"
    );
    assert!(path_line.contains(".local/bin"), "PATH for later steps");
    assert!(installed);
    assert_eq!(
        requested.lock().unwrap().last().unwrap(),
        &format!("/v{version}/bbgate-{version}-x86_64-linux-musl")
    );

    // The version alone: the orb's own checksum of the release decides, and the stand-in is not that release.
    let (code, out, installed, _) = run(version, "");
    assert_ne!(code, 0, "the carried checksum must refuse another binary: {out}");
    assert!(out.contains("FAILED"), "sha256sum says why: {out}");
    assert!(!installed, "nothing installed from an unverified download");

    // A wrong sha256 given by hand fails the same way.
    let (code, out, installed, _) = run(version, &"0".repeat(64));
    assert_ne!(code, 0, "{out}");
    assert!(!installed);

    // A version the orb carries no checksum for, without sha256: refused before any download, saying what to do.
    let before = requested.lock().unwrap().len();
    let (code, out, installed, _) = run("9.9.9", "");
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("no checksum for bbgate-9.9.9-x86_64-linux-musl"), "{out}");
    assert!(!installed);
    assert_eq!(requested.lock().unwrap().len(), before, "nothing downloaded");
}

/// A helm release tarball as get.helm.sh lays it out (linux-amd64/helm), holding `binary`.
fn helm_tarball(binary: &[u8]) -> Vec<u8> {
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    let mut head = tar::Header::new_gnu();
    head.set_size(binary.len() as u64);
    head.set_mode(0o755);
    head.set_cksum();
    tar.append_data(&mut head, "linux-amd64/helm", binary).unwrap();
    tar.into_inner().unwrap().finish().unwrap()
}

#[test]
fn the_deploy_job_installs_only_what_the_admins_context_names() {
    use sha2::{Digest, Sha256};
    let orb = orb();
    let job = &orb["jobs"]["deploy"];
    // Nothing the BB's config passes picks the code the job runs.
    for p in [
        "executor",
        "install",
        "version",
        "bbgate_sha256",
        "helm_version",
        "helm_sha256",
    ] {
        assert!(job["parameters"].get(p).is_none(), "jobs.deploy takes {p}");
    }
    assert_eq!(job["executor"], "default", "the orb's own executor");
    let step = job["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|s| {
            s["run"]["command"]
                .as_str()
                .filter(|c| c.contains("BBGATE_HELM_SHA256"))
        })
        .expect("the deploy job installs from the context")
        .to_owned();
    assert!(
        job["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["run"].get("environment").is_none()
                || !s["run"]["environment"]
                    .as_object()
                    .unwrap()
                    .contains_key("BBGATE_VERSION")),
        "no parameter sets the version"
    );
    let bbgate = b"#!/bin/sh\necho \"bbgate stand-in $*\"\n".to_vec();
    let helm = b"#!/bin/sh\necho helm stand-in\n".to_vec();
    let (bbgate_base, _) = serve_file(bbgate.clone());
    let (helm_base, _) = serve_file(helm_tarball(&helm));
    let sum = |b: &[u8]| hex::encode(Sha256::digest(b));
    let run = |context: &[(&str, &str)]| {
        let home = tempfile::tempdir().unwrap();
        let bash_env = home.path().join("bash_env");
        let mut cmd = std::process::Command::new("bash");
        cmd.arg("-c").arg(&step).env_clear();
        cmd.env("PATH", std::env::var("PATH").unwrap())
            .env("HOME", home.path())
            .env("BASH_ENV", &bash_env)
            .envs(context.iter().copied());
        let out = cmd.output().unwrap();
        let installed = ["bbgate", "helm"].map(|b| home.path().join(".local/bin").join(b).is_file());
        (
            out.status.code().unwrap_or(-1),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
            installed,
        )
    };
    let context = [
        ("BBGATE_VERSION", "9.9.9"),
        ("BBGATE_SHA256", &sum(&bbgate)),
        ("BBGATE_DOWNLOAD_BASE", &bbgate_base),
        ("BBGATE_HELM_VERSION", "v3.18.0"),
        ("BBGATE_HELM_SHA256", &sum(&helm)),
        ("HELM_DOWNLOAD_BASE", helm_base.trim_end_matches("/releases")),
    ];
    let (code, out, installed) = run(&context);
    assert_eq!(code, 0, "{out}");
    assert_eq!(installed, [true, true], "{out}");
    assert!(out.contains("bbgate stand-in --version"), "{out}");

    // A context without one of the three names it and installs nothing.
    for missing in ["BBGATE_VERSION", "BBGATE_HELM_VERSION", "BBGATE_HELM_SHA256"] {
        let partial: Vec<_> = context.iter().copied().filter(|(k, _)| *k != missing).collect();
        let (code, out, installed) = run(&partial);
        assert_eq!(code, 2, "{missing}: {out}");
        assert!(out.contains(&format!("{missing} is not set")), "{out}");
        assert_eq!(installed, [false, false]);
    }
    // A helm binary that is not the pinned one is not installed.
    let mut wrong = context.to_vec();
    let other = "0".repeat(64);
    wrong[4] = ("BBGATE_HELM_SHA256", &other);
    let (code, out, installed) = run(&wrong);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("FAILED"), "{out}");
    assert!(!installed[1], "{out}");
    // Downloads from anywhere but the releases' hosts (or a loopback mirror) are refused.
    let mut away = context.to_vec();
    away[2] = ("BBGATE_DOWNLOAD_BASE", "https://bb.example/releases");
    let (code, out, installed) = run(&away);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("BBGATE_DOWNLOAD_BASE is set"), "{out}");
    assert_eq!(installed, [false, false]);
}

#[test]
fn the_orb_installs_the_version_it_was_packed_with_and_carries_its_checksums() {
    let orb = orb();
    assert_eq!(
        orb["commands"]["install"]["parameters"]["version"]["default"],
        env!("CARGO_PKG_VERSION"),
        "install's default version is this crate's version"
    );
    for job in ["verify", "audit"] {
        assert_eq!(
            orb["jobs"][job]["parameters"]["version"]["default"],
            env!("CARGO_PKG_VERSION"),
            "jobs.{job}"
        );
    }
    let script = orb["commands"]["install"]["steps"][0]["run"]["command"]
        .as_str()
        .unwrap();
    let line = format!("bbgate-{}-x86_64-linux-musl) echo ", env!("CARGO_PKG_VERSION"));
    let carried = script
        .lines()
        .find_map(|l| l.trim().strip_prefix(&line))
        .unwrap_or_else(|| panic!("the packed install script carries no checksum for {line}"));
    let sum = carried.split_whitespace().next().unwrap();
    assert!(
        sum.len() == 64 && sum.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
        "{sum}"
    );
}

#[test]
fn the_packed_orb_is_what_its_sources_pack_to_and_its_scripts_are_shellcheck_clean() {
    let out = std::process::Command::new("python3")
        .args(["scripts/pack-orb", "--check"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The check is real: a changed source no longer matches the committed file.
    let tmp = tempfile::tempdir().unwrap();
    let copy = tmp.path().join("repo");
    for dir in [
        "orb/src/commands",
        "orb/src/jobs",
        "orb/src/executors",
        "orb/src/examples",
        "orb/src/scripts",
        "scripts",
        ".circleci",
    ] {
        std::fs::create_dir_all(copy.join(dir)).unwrap();
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            if e.path().is_file() {
                std::fs::copy(e.path(), copy.join(dir).join(e.file_name())).unwrap();
            }
        }
    }
    std::fs::copy("orb/src/@orb.yml", copy.join("orb/src/@orb.yml")).unwrap();
    let check = |root: &Path| {
        std::process::Command::new("python3")
            .args(["scripts/pack-orb", "--check"])
            .current_dir(root)
            .output()
            .unwrap()
            .status
            .success()
    };
    assert!(check(&copy), "the copy packs like the tree");
    let lib = copy.join("orb/src/scripts/lib.sh");
    let text = std::fs::read_to_string(&lib).unwrap();
    std::fs::write(&lib, text.replace("exit 2", "exit 0")).unwrap();
    assert!(!check(&copy), "an edited script no longer matches the packed orb");

    // Every script lints clean, with the files it sources followed.
    let shellcheck = std::env::var("BBGATE_TEST_SHELLCHECK")
        .expect("BBGATE_TEST_SHELLCHECK is not set: run the suite with scripts/test");
    let scripts: Vec<PathBuf> = std::fs::read_dir("orb/src/scripts")
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "sh"))
        .collect();
    assert!(scripts.len() >= 5, "{scripts:?}");
    let lint = |files: &[PathBuf], dir: &Path| {
        std::process::Command::new(&shellcheck)
            .args(["-x", "-s", "bash"])
            .args(files.iter().map(|f| f.file_name().unwrap()))
            .current_dir(dir)
            .output()
            .unwrap()
    };
    let out = lint(&scripts, Path::new("orb/src/scripts"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    // And shellcheck is not vacuous: an unquoted expansion is reported.
    std::fs::write(
        copy.join("orb/src/scripts/bad.sh"),
        "#!/usr/bin/env bash
rm $1
",
    )
    .unwrap();
    assert!(
        !lint(&[copy.join("orb/src/scripts/bad.sh")], &copy.join("orb/src/scripts"))
            .status
            .success()
    );
}

/// Values an attacker (or a careless pipeline author) might put in any orb parameter.
const HOSTILE: &[&str] = &[
    "$(touch PWNED)",
    "`touch PWNED`",
    "\"; touch PWNED; echo \"",
    "'; touch PWNED; '",
    "ok\ntouch PWNED",
    "x; touch PWNED",
    "a[$(touch PWNED)]",
    "--policy weak.toml",
    "--policy=weak.toml",
    "a.toml\n--policy weak.toml",
    "bin$(touch PWNED)",
];

/// Every run step a command or job executes, with its environment for `params` (the rest at their samples):
/// a job's steps that call a command are resolved through the values the job passes on.
fn executed_steps(
    orb: &Value,
    section: &str,
    name: &str,
    params: &BTreeMap<String, String>,
) -> Vec<(String, BTreeMap<String, String>)> {
    let def = &orb[section][name];
    let mut out = Vec::new();
    for step in def["steps"].as_array().into_iter().flatten() {
        if let Some(run) = step.get("run") {
            let env = run["environment"]
                .as_object()
                .map(|e| {
                    e.iter()
                        .map(|(k, v)| (k.clone(), substitute(v.as_str().unwrap_or(""), params)))
                        .collect()
                })
                .unwrap_or_default();
            out.push((run["command"].as_str().unwrap().to_owned(), env));
        } else if let Some((cmd, args)) = step.as_object().and_then(|m| m.iter().next())
            && orb["commands"].get(cmd).is_some()
        {
            let mut inner: BTreeMap<String, String> = orb["commands"][cmd]["parameters"]
                .as_object()
                .map(|p| p.iter().map(|(k, v)| (k.clone(), sample(k, v))).collect())
                .unwrap_or_default();
            for (k, v) in args.as_object().into_iter().flatten() {
                inner.insert(k.clone(), substitute(v.as_str().unwrap_or(""), params));
            }
            out.extend(executed_steps(orb, "commands", cmd, &inner));
        }
    }
    out
}

/// Run `script` in a scratch directory with stub `bbgate` and `curl` first on PATH: the stub bbgate records its
/// arguments one per NUL. Then source what the step appended to $BASH_ENV, as the next step would. Returns
/// (whether PWNED appeared, the recorded bbgate invocations).
fn run_hostile(script: &str, env: &BTreeMap<String, String>) -> (bool, Vec<Vec<String>>) {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("stub-bin");
    std::fs::create_dir(&bin).unwrap();
    let log = dir.path().join("argv.log");
    std::fs::write(
        bin.join("bbgate"),
        format!(
            "#!/bin/bash\nfor a in \"$@\"; do printf '%s\\0' \"$a\"; done >> {:?}\nprintf '\\n\\0' >> {:?}\n",
            log, log
        ),
    )
    .unwrap();
    std::fs::write(
        bin.join("curl"),
        "#!/bin/bash\nwhile [ $# -gt 0 ]; do [ \"$1\" = -o ] && echo stub > \"$2\"; shift; done\n",
    )
    .unwrap();
    for f in ["bbgate", "curl"] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(bin.join(f), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let home = dir.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let bash_env = dir.path().join("bash_env");
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    // What an earlier step of the job wrote (verify's summary, for pr_comment).
    std::fs::create_dir(work.join("bbgate-out")).unwrap();
    std::fs::write(work.join("bbgate-out/summary.md"), "## bbgate\n").unwrap();
    let mut cmd = std::process::Command::new("bash");
    cmd.arg("-c").arg(script).current_dir(&work);
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") || k.starts_with("BBGATE_") || k.starts_with("CIRCLE") {
            cmd.env_remove(k);
        }
    }
    cmd.envs(env)
        .env("PATH", format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()))
        .env("HOME", &home)
        .env("BASH_ENV", &bash_env)
        .env("EKS_CLUSTER", "sandbox")
        .env("CIRCLE_PULL_REQUEST", "https://github.com/o/r/pull/7")
        .env("BBGATE_ROLE_ARN", "arn:aws:iam::123456789012:role/bb")
        .env("AWS_REGION", "eu-central-1");
    let _ = cmd.output().unwrap();
    // The next step sources $BASH_ENV.
    let _ = std::process::Command::new("bash")
        .arg("-c")
        .arg("[ -f \"$F\" ] && source \"$F\"; true")
        .env("F", &bash_env)
        .current_dir(&work)
        .output()
        .unwrap();
    let pwned = walk_for(dir.path(), "PWNED");
    let text = std::fs::read(&log).unwrap_or_default();
    let mut calls = Vec::new();
    let mut cur = Vec::new();
    for a in text.split(|b| *b == 0).filter(|a| !a.is_empty()) {
        if a == b"\n" {
            calls.push(std::mem::take(&mut cur));
        } else {
            cur.push(String::from_utf8_lossy(a).into_owned());
        }
    }
    (pwned, calls)
}

fn walk_for(dir: &Path, name: &str) -> bool {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .any(|e| e.file_name() == name || (e.file_type().unwrap().is_dir() && walk_for(&e.path(), name)))
}

#[test]
fn no_orb_parameter_value_runs_as_code_or_becomes_a_flag() {
    // The probe sees an injection when there is one: the old install step's PATH line, with a hostile directory.
    let (pwned, _) = run_hostile(
        "dir=\"$D\"; echo \"export PATH=\\\"$dir:\\$PATH\\\"\" >> \"$BASH_ENV\"",
        &BTreeMap::from([("D".to_owned(), "bin$(touch PWNED)".to_owned())]),
    );
    assert!(pwned, "positive control: the unquoted PATH line executes the value");
    // And it sees a flag injected by word splitting.
    let (_, calls) = run_hostile(
        "bbgate verify --signoffs $S",
        &BTreeMap::from([("S".to_owned(), "a.toml --policy weak.toml".to_owned())]),
    );
    assert!(calls[0].contains(&"--policy".to_owned()), "positive control: {calls:?}");

    let orb = orb();
    let mut checked = 0;
    let mut problems = Vec::new();
    for section in ["commands", "jobs"] {
        for (name, def) in orb[section].as_object().unwrap() {
            let specs = def["parameters"].as_object().cloned().unwrap_or_default();
            let defaults: BTreeMap<String, String> = specs.iter().map(|(k, v)| (k.clone(), sample(k, v))).collect();
            // Baseline: the samples reach bbgate (so the probe below can see what the hostile values do).
            let steps = executed_steps(&orb, section, name, &defaults);
            for (p, spec) in &specs {
                if spec["type"] == "boolean" {
                    continue; // CircleCI admits only true/false, and no run step reads it.
                }
                for hostile in HOSTILE {
                    let mut params = defaults.clone();
                    params.insert(p.clone(), (*hostile).to_owned());
                    for (script, env) in executed_steps(&orb, section, name, &params) {
                        checked += 1;
                        let (pwned, calls) = run_hostile(&script, &env);
                        if pwned {
                            problems.push(format!("{section}.{name}: {p} = {hostile:?} executed code"));
                        }
                        for call in &calls {
                            if call.iter().any(|a| a == "--policy" || a == "weak.toml") {
                                problems.push(format!("{section}.{name}: {p} = {hostile:?} injected a flag: {call:?}"));
                            }
                        }
                    }
                }
            }
            assert!(!steps.is_empty(), "{section}.{name} runs steps");
            if name != "install" {
                let called = steps.iter().any(|(script, env)| !run_hostile(script, env).1.is_empty());
                assert!(called, "{section}.{name}: with sample values the step calls bbgate");
            }
        }
    }
    eprintln!("{checked} step runs with hostile values");
    assert!(
        checked > 200,
        "every parameter of every command and job was tried: {checked}"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_orb_parameter_is_described_and_the_bbs_jobs_take_an_executor_a_resource_class_and_a_no_output_timeout() {
    let orb = orb();
    let mut undescribed = Vec::new();
    for section in ["commands", "jobs"] {
        for (name, def) in orb[section].as_object().unwrap() {
            for (p, spec) in def["parameters"].as_object().into_iter().flatten() {
                if spec["description"].as_str().is_none_or(|d| d.trim().is_empty()) {
                    undescribed.push(format!("{section}.{name}.{p}"));
                }
            }
        }
    }
    assert!(
        undescribed.is_empty(),
        "parameters without a description: {undescribed:?}"
    );
    for job in ["verify", "deploy", "audit"] {
        let def = &orb["jobs"][job];
        for p in ["resource_class", "no_output_timeout"] {
            assert!(def["parameters"][p].is_object(), "jobs.{job} has no {p} parameter");
        }
        assert_eq!(def["parameters"]["no_output_timeout"]["default"], "30m");
        // The deploy job runs in the orb's executor (the_deploy_job_installs_only_what_the_admins_context_names).
        if job != "deploy" {
            assert_eq!(def["executor"], "<< parameters.executor >>");
        }
    }
    // The long steps carry the timeout (CircleCI's default of 10 minutes can kill a deploy before helm rolls back).
    for cmd in ["verify", "deploy_release", "audit"] {
        let steps = orb["commands"][cmd]["steps"].as_array().unwrap();
        assert!(
            steps
                .iter()
                .any(|s| s["run"]["no_output_timeout"] == "<< parameters.no_output_timeout >>"),
            "commands.{cmd}"
        );
    }
}

#[test]
fn the_orbs_audit_step_reads_the_cluster_through_eks_and_stores_json_and_junit() {
    use common::fake_kube::FakeKube;
    let moto = Moto::get();
    let orb = orb();
    let repo = format!("bb/payments/{}", peer::unique("orb-audit"));
    let digest = moto.image_with_scan(&repo, "1.0", peer::low_basic_findings(3), json!({"MEDIUM": 3}));
    let fake = FakeKube::start(true);
    fake.sandbox_namespace("paymenthub");
    let image = format!(
        "{}.dkr.ecr.{}.amazonaws.com/{repo}@{digest}",
        peer::ACCOUNT,
        peer::REGION
    );
    fake.put(
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "api-0", "namespace": "paymenthub"},
        "spec": {"containers": [{"name": "api", "image": image}]}, "status": {"phase": "Running"}}),
    );
    let cluster = peer::unique("orb-audit-cluster");
    moto.eks_cluster(&cluster, &fake.url);
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().join("bbgate-audit");
    let (code, stdout, stderr) = run_step_with(
        &orb,
        "audit",
        &[
            ("policy", ""),
            ("signoffs", "signoffs/*.toml"),
            ("building_blocks", "payments"),
            ("evidence", ""),
            ("eks_cluster_env_var", "EKS_CLUSTER"),
            ("role_arn_env_var", "BBGATE_AUDIT_ROLE_ARN"),
            ("region", ""),
            ("scan_timeout", "1m"),
            ("output_dir", out_dir.to_str().unwrap()),
            ("no_output_timeout", "30m"),
        ],
        &moto,
        &[("EKS_CLUSTER", cluster.as_str())],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("AUDIT PASS") && stdout.contains("bbgate audit exited 0"),
        "{stdout}"
    );
    let json: Value = serde_json::from_slice(&std::fs::read(out_dir.join("audit.json")).unwrap()).unwrap();
    assert_eq!(json["verdict"], "pass");
    assert_eq!(json["namespaces"][0]["images"][0]["digest"], digest.as_str());
    assert!(out_dir.join("junit/bbgate-audit.xml").is_file());
    // The job stores both, and runs from a scheduled pipeline in the orb's example.
    let steps = serde_json::to_string(&orb["commands"]["audit"]["steps"]).unwrap();
    assert!(
        steps.contains("store_test_results") && steps.contains("store_artifacts"),
        "{steps}"
    );
    assert!(
        serde_json::to_string(&orb["examples"]["scheduled_audit"])
            .unwrap()
            .contains("scheduled_pipeline"),
        "the example runs on CircleCI's scheduled trigger"
    );
}

/// Parameters may hold `${VAR}` (CircleCI expands no variable in a parameter): the orb's steps substitute them,
/// evaluating nothing, refuse a variable that is not set, and in the admins' deploy job (whose parameters the
/// BB's config sets) substitute only CircleCI's pipeline variables, never the deploy context's. bbgate itself
/// never takes a literal placeholder for a tag.
#[test]
fn parameters_may_name_variables_substituted_without_evaluation_and_only_pipeline_ones_at_deploy() {
    let moto = Moto::get();
    let repo = format!("bb/payments/{}", peer::unique("orb-subst"));
    let digest = moto.image_with_scan(&repo, "c0ffee1", peer::low_basic_findings(2), json!({"MEDIUM": 2}));
    let tmp = tempfile::tempdir().unwrap();
    let mut aws = moto.env().to_vec();
    aws.push(("CIRCLE_SHA1", "c0ffee1"));
    let report = std::fs::canonicalize("../shared/fixtures-upstream/cucumber-cck-messages/minimal.ndjson").unwrap();
    let image = format!("{repo}:${{CIRCLE_SHA1}}");
    let verify = |image: &str, out: &str| {
        common::orb_step(
            "verify",
            &[
                ("image", image),
                ("api_reports", report.to_str().unwrap()),
                ("output_dir", out),
                ("scan_timeout", "1m"),
            ],
            tmp.path(),
            &[],
            &aws,
        )
    };
    let (code, out, err) = verify(&image, "out");
    assert_eq!(code, 0, "{out}{err}");
    let v: Value = serde_json::from_slice(&std::fs::read(tmp.path().join("out/verify.json")).unwrap()).unwrap();
    assert_eq!(
        (v["images"][0]["tag"].as_str(), v["images"][0]["digest"].as_str()),
        (Some("c0ffee1"), Some(digest.as_str()))
    );
    // Nothing is evaluated: a command substitution stays text, and bbgate refuses it as a tag.
    let (code, out, err) = verify(&format!("{repo}:$(touch PWNED)"), "out2");
    assert_eq!(code, 2, "{out}{err}");
    assert!(!tmp.path().join("PWNED").exists());
    // A variable the job does not have is refused, not read as empty.
    let (code, out, err) = verify(&format!("{repo}:${{CIRCLE_TAG}}"), "out3");
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("refers to ${CIRCLE_TAG}, which is not set in this job"),
        "{err}"
    );
    // Without the orb, the literal placeholder is named and no AWS call is made.
    let (code, out, err) = common::run(
        common::bbgate()
            .args(["verify", "--image", &image, "--api-report", report.to_str().unwrap()])
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .env("AWS_ACCESS_KEY_ID", "AKIDSTATICTEST")
            .env("AWS_SECRET_ACCESS_KEY", peer::STATIC_SECRET),
    );
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("holds a placeholder nothing expanded"), "{err}");

    // The admins' deploy job: a value naming the deploy context's variable is refused; a pipeline variable is
    // substituted (bbgate then runs, and stops at the chart this test never wrote).
    let deploy = |set: &str| {
        common::orb_step(
            "deploy_release",
            &[
                ("evidence", "out/evidence.json"),
                ("chart", "chart"),
                ("release", "pay"),
                ("set", set),
            ],
            tmp.path(),
            &[],
            &[
                ("BBGATE_HELM_SHA256", "f00d"),
                ("CIRCLE_SHA1", "c0ffee1"),
                ("EKS_CLUSTER", "sandbox"),
            ],
        )
    };
    let (code, out, err) = deploy("leak=${BBGATE_HELM_SHA256}");
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("refers to ${BBGATE_HELM_SHA256}: this job substitutes only CircleCI's pipeline variables"),
        "{err}"
    );
    let (code, out, err) = deploy("image.tag=${CIRCLE_SHA1}");
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("bbgate: invalid input: --chart chart") && !err.contains("refers to"),
        "{err}"
    );
}

/// A loopback stand-in of GitHub's issue-comments API: lists (pages of `per_page`), creates and edits comments
/// of pull request 42 of o/r, recording each call (method, path, Authorization).
type Comments = std::sync::Arc<std::sync::Mutex<(Vec<(u64, String)>, Vec<(String, String, String)>)>>;

fn github_stand_in(seed: usize) -> (String, Comments) {
    use std::io::{BufRead, BufReader, Read, Write};
    let state: Comments = Default::default();
    state.lock().unwrap().0 = (1..=seed as u64)
        .map(|i| (i, format!("a reviewer's comment {i}")))
        .collect();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let shared = state.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(&stream);
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let (mut length, mut auth) = (0usize, String::new());
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                if h.trim().is_empty() {
                    break;
                }
                let (k, v) = h.split_once(':').unwrap_or_default();
                match k.to_ascii_lowercase().as_str() {
                    "content-length" => length = v.trim().parse().unwrap(),
                    "authorization" => auth = v.trim().to_owned(),
                    _ => {}
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let mut words = line.split_whitespace();
            let (method, target) = (words.next().unwrap().to_owned(), words.next().unwrap().to_owned());
            let (path, query) = target.split_once('?').unwrap_or((&target, ""));
            let mut s = shared.lock().unwrap();
            s.1.push((method.clone(), path.to_owned(), auth));
            let text = |b: &[u8]| {
                serde_json::from_slice::<Value>(b).unwrap()["body"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            };
            let item = |id: u64, b: &str| json!({"id": id, "body": b, "html_url": format!("https://github.com/o/r/pull/42#issuecomment-{id}")});
            let answer = match (method.as_str(), path) {
                ("GET", "/repos/o/r/issues/42/comments") => {
                    let q = |k: &str| {
                        query
                            .split('&')
                            .find_map(|p| p.strip_prefix(&format!("{k}=")))
                            .unwrap()
                            .parse::<usize>()
                            .unwrap()
                    };
                    let (per, page) = (q("per_page"), q("page"));
                    Value::Array(
                        s.0.iter()
                            .skip(per * (page - 1))
                            .take(per)
                            .map(|(i, b)| item(*i, b))
                            .collect(),
                    )
                }
                ("POST", "/repos/o/r/issues/42/comments") => {
                    let id = 1000 + s.0.len() as u64;
                    s.0.push((id, text(&body)));
                    item(id, &text(&body))
                }
                ("PATCH", p) if p.starts_with("/repos/o/r/issues/comments/") => {
                    let id: u64 = p.rsplit('/').next().unwrap().parse().unwrap();
                    let b = text(&body);
                    s.0.iter_mut().find(|(i, _)| *i == id).unwrap().1 = b.clone();
                    item(id, &b)
                }
                _ => json!({"message": "Not Found"}),
            };
            let bytes = answer.to_string();
            let _ = write!(
                &stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{bytes}",
                bytes.len()
            );
        }
    });
    (url, state)
}

/// The verdict where reviewers look: the orb's pr_comment step puts verify's summary on the pull request, edits
/// the same comment on the next run (found past the first page of comments), and never adds a second.
#[test]
fn the_summary_goes_on_the_pull_request_as_one_comment_edited_in_place() {
    let tmp = tempfile::tempdir().unwrap();
    let summary = tmp.path().join("bbgate-out/summary.md");
    std::fs::create_dir_all(summary.parent().unwrap()).unwrap();
    let (code, _, err) = common::run(
        common::bbgate()
            .args(common::DENIED_DEMO)
            .args(["--markdown", summary.to_str().unwrap()]),
    );
    assert_eq!(code, 1, "{err}");
    let (api, state) = github_stand_in(130);
    let token = "ghp_0123456789abcdefNEVERPRINTED";
    let step = |pr: &str, key: &str| {
        common::orb_step(
            "pr_comment",
            &[("github_api_url", api.as_str()), ("key", key)],
            tmp.path(),
            &[],
            &[("CIRCLE_PULL_REQUEST", pr), ("GITHUB_TOKEN", token)],
        )
    };
    let pr = "https://github.com/o/r/pull/42";
    let (code, out, err) = step(pr, "verify");
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("bbgate comment: created comment 1130 on o/r#42"), "{out}");
    let ours = |s: &Comments| -> Vec<(u64, String)> {
        s.lock()
            .unwrap()
            .0
            .iter()
            .filter(|(_, b)| b.starts_with("<!-- bbgate:summary:"))
            .cloned()
            .collect()
    };
    let first = ours(&state);
    assert_eq!(first.len(), 1);
    assert!(
        first[0].1.contains(&std::fs::read_to_string(&summary).unwrap()),
        "the summary, whole"
    );
    // The next run (a new commit, a new summary) edits the same comment, found on the second page.
    std::fs::write(&summary, "## bbgate: PASS\n").unwrap();
    let (code, out, err) = step(pr, "verify");
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("bbgate comment: updated comment 1130 on o/r#42"), "{out}");
    let second = ours(&state);
    assert_eq!((second.len(), second[0].0), (1, 1130), "one comment, the same");
    assert!(second[0].1.ends_with("## bbgate: PASS\n"), "{second:?}");
    assert_eq!(state.lock().unwrap().0.len(), 131, "no duplicate");
    let calls = state.lock().unwrap().1.clone();
    assert!(
        calls
            .iter()
            .any(|(m, p, _)| m == "PATCH" && p == "/repos/o/r/issues/comments/1130")
    );
    assert!(
        calls.iter().all(|(_, _, a)| a == &format!("Bearer {token}")),
        "{calls:?}"
    );
    assert!(!format!("{out}{err}").contains(token));
    // Control: another key is another comment (the marker is what finds it).
    let (code, out, err) = step(pr, "im");
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(ours(&state).len(), 2);
    // A build that is not of a pull request posts nothing.
    let before = state.lock().unwrap().1.len();
    let (code, out, _) = step("", "verify");
    assert_eq!(code, 0);
    assert!(out.contains("not a pull request build"), "{out}");
    assert_eq!(state.lock().unwrap().1.len(), before);
    // No token: invalid configuration, named.
    let (code, _, err) = common::run(
        common::bbgate()
            .args([
                "comment",
                "--markdown",
                summary.to_str().unwrap(),
                "--repository",
                "o/r",
                "--pull-request",
                "42",
            ])
            .args(["--github-api-url", &api])
            .env_remove("GITHUB_TOKEN"),
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("GITHUB_TOKEN is not set"), "{err}");
}

/// orb-tools' review (RC010): every component and parameter name is snake_case.
#[test]
fn every_orb_component_and_parameter_name_is_snake_case() {
    let orb = orb();
    let snake = |n: &str| {
        n.starts_with(|c: char| c.is_ascii_lowercase())
            && n.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    };
    let mut bad = Vec::new();
    let mut seen = 0;
    for section in ["commands", "jobs", "executors", "examples"] {
        for (name, def) in orb[section].as_object().unwrap() {
            seen += 1;
            if !snake(name) {
                bad.push(format!("{section}.{name}"));
            }
            for p in def["parameters"].as_object().into_iter().flatten().map(|(k, _)| k) {
                if !snake(p) {
                    bad.push(format!("{section}.{name}.parameters.{p}"));
                }
            }
        }
    }
    assert!(seen > 15, "{seen}");
    assert!(bad.is_empty(), "not snake_case: {bad:?}");
    // The rule sees a kebab-case name (positive control).
    assert!(!snake("dry-run") && snake("dry_run"));
}
