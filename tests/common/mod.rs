#![allow(dead_code)]
//! Shared helpers for the CLI tests: run the real binary with a clean environment.

pub mod fake_kube;
pub mod peer;
pub mod registry;

use assert_cmd::Command;
use serde_json::Value;

/// The real helm `major` (3 or 4) scripts/test installed.
pub fn helm(major: u8) -> String {
    let var = format!("BBGATE_TEST_HELM{major}");
    std::env::var(&var).unwrap_or_else(|_| panic!("{var} is not set: run the suite with scripts/test"))
}

/// The sha256 of helm `major`: deploy runs helm only at the admins' pin (BBGATE_HELM_SHA256).
pub fn helm_pin(major: u8) -> String {
    sha256_file(std::path::Path::new(&helm(major)))
}

pub fn sha256_file(path: &std::path::Path) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

pub const NOW_2021: &str = "2021-04-10T00:00:00Z";
pub const NOW_2026: &str = "2026-11-28T12:00:00Z";

/// The README's passing demo (passes at NOW_2026): `verify` and its inputs.
pub const PASSING_DEMO: [&str; 7] = [
    "verify",
    "--findings",
    "fixtures/demo/pass",
    "--api-report",
    "fixtures/api-tests/payments-adapter.ndjson",
    "--signoffs",
    "fixtures/demo/pass/signoffs.toml",
];

/// The README's denied demo: `verify` and its inputs.
pub const DENIED_DEMO: [&str; 7] = [
    "verify",
    "--findings",
    "fixtures/demo/payments-emulator-scan.json",
    "--api-report",
    "fixtures/api-tests/govstack-identity.ndjson",
    "--signoffs",
    "fixtures/demo/signoffs.toml",
];

/// `verify` of the passing demo scan, with its sign-offs, against the API test report `report`.
pub fn verify_passing_scan_with(report: &str) -> Command {
    let mut cmd = bbgate();
    cmd.args([
        "verify",
        "--findings",
        "fixtures/demo/pass",
        "--signoffs",
        "fixtures/demo/pass/signoffs.toml",
        "--api-report",
        report,
        "--now",
        NOW_2026,
    ]);
    cmd
}

/// The bbgate binary, with no BBGATE_* or CIRCLE_* variables leaking in from the machine.
pub fn bbgate() -> Command {
    let mut cmd = Command::cargo_bin("bbgate").unwrap();
    for (k, _) in std::env::vars() {
        // And nothing of the machine's that deploy refuses as a redirect (this machine sets AWS_CA_BUNDLE);
        // the tests talk to loopback peers only.
        let redirect = matches!(
            k.as_str(),
            "AWS_CA_BUNDLE" | "AWS_CONFIG_FILE" | "AWS_SHARED_CREDENTIALS_FILE" | "AWS_PROFILE" | "KUBECONFIG"
        ) || k.to_ascii_lowercase().ends_with("_proxy")
            || k.starts_with("AWS_ENDPOINT_URL")
            || k.starts_with("HELM_");
        if k.starts_with("BBGATE_") || k.starts_with("CIRCLE") || redirect {
            cmd.env_remove(k);
        }
    }
    cmd
}

/// Run, and return (exit code, stdout, stderr).
pub fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Run with --format json and parse stdout as exactly one JSON document.
pub fn run_json(cmd: &mut Command) -> (i32, Value) {
    cmd.args(["--format", "json"]);
    let (code, stdout, stderr) = run(cmd);
    let v: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}); stderr: {stderr}\n{stdout}"));
    (code, v)
}

/// Every finding of every image of a verify JSON document.
pub fn all_findings(v: &Value) -> impl Iterator<Item = &Value> {
    v["images"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|i| i["findings"].as_array().unwrap())
}

pub fn outcome_ids(v: &Value, outcome: &str) -> Vec<String> {
    let mut ids: Vec<String> = all_findings(v)
        .filter(|f| f["outcome"] == outcome)
        .map(|f| f["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

pub fn finding<'a>(v: &'a Value, id: &str) -> &'a Value {
    all_findings(v)
        .find(|f| f["id"] == id)
        .unwrap_or_else(|| panic!("no finding {id}"))
}

/// The digest of the passing demo's image (bb/payments/adapter).
pub fn adapter_digest() -> String {
    format!("sha256:{}", "a1".repeat(32))
}

/// An RFC 3339 time `hours` before now (the real clock: deploy has no other).
pub fn hours_ago(hours: i64) -> String {
    (jiff::Timestamp::now() - jiff::SignedDuration::from_hours(hours)).to_string()
}

/// A fresh one-page BASIC scan of bb/payments/adapter@sha256:a1…, completed an hour ago, holding `findings`
/// (basic findings as ECR writes them), written as `DIR/pages/page-0001.json`. Returns the pages directory.
pub fn fresh_scan(dir: &std::path::Path, findings: Vec<Value>) -> std::path::PathBuf {
    fresh_scan_of(dir, "bb/payments/adapter", findings)
}

/// `fresh_scan` of another repository (the same digest).
pub fn fresh_scan_of(dir: &std::path::Path, repository: &str, findings: Vec<Value>) -> std::path::PathBuf {
    scan_completed(dir, repository, findings, 1)
}

/// A one-page scan like `fresh_scan_of`, completed `hours` ago.
pub fn scan_completed(dir: &std::path::Path, repository: &str, findings: Vec<Value>, hours: i64) -> std::path::PathBuf {
    let page = scan_page(repository, &adapter_digest(), "1.5.0", findings, hours);
    let pages = dir.join("pages");
    std::fs::create_dir_all(&pages).unwrap();
    std::fs::write(pages.join("page-0001.json"), serde_json::to_vec_pretty(&page).unwrap()).unwrap();
    pages
}

/// One complete page of ECR's describe-image-scan-findings for an image, completed `hours` ago.
pub fn scan_page(repository: &str, digest: &str, tag: &str, findings: Vec<Value>, hours: i64) -> Value {
    let mut counts = serde_json::Map::new();
    for f in &findings {
        let sev = f["severity"].as_str().unwrap().to_owned();
        let n = counts.get(&sev).and_then(Value::as_u64).unwrap_or(0);
        counts.insert(sev, Value::from(n + 1));
    }
    serde_json::json!({
        "registryId": "123456789012",
        "repositoryName": repository,
        "imageId": {"imageDigest": digest, "imageTag": tag},
        "imageScanStatus": {"status": "COMPLETE", "description": "The scan was completed successfully."},
        "imageScanFindings": {
            "imageScanCompletedAt": hours_ago(hours),
            "vulnerabilitySourceUpdatedAt": hours_ago(hours + 1),
            "findingSeverityCounts": counts,
            "findings": findings,
        },
    })
}

/// A basic finding as ECR writes it, with a CVSS3 score.
pub fn basic_finding(id: &str, package: &str, score: &str, severity: &str) -> Value {
    serde_json::json!({"name": id, "severity": severity, "uri": format!("https://security-tracker.debian.org/tracker/{id}"),
        "attributes": [{"key": "package_name", "value": package}, {"key": "package_version", "value": "1.0-1"},
            {"key": "CVSS3_SCORE", "value": score}]})
}

/// A sign-off file approved yesterday by a listed admin, valid for 30 days, for `id` in `package`.
pub fn signoff_file(path: &std::path::Path, id: &str, package: &str) {
    let day = |d: i64| (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * d)).to_string()[..10].to_owned();
    std::fs::write(
        path,
        format!(
            "[[signoff]]\nid = \"{id}\"\nbuilding_block = \"payments\"\npackage = \"{package}\"\n\
             analysis = \"The vulnerable path is not reachable in this image.\"\n\
             mitigation = \"Network policy and a fixed base image next release.\"\n\
             approved_by = \"sandbox-admin@govstack.global\"\napproved_on = {}\nexpires = {}\n",
            day(-1),
            day(30)
        ),
    )
    .unwrap();
}

/// An HTTP stand-in on 127.0.0.1 that answers every request with `status` and `body`, and counts the requests.
/// Returns its base URL (`http://127.0.0.1:PORT`) and the count.
pub fn http_stand_in(status: u16, body: Vec<u8>) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{Read, Write};
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = hits.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut req = [0u8; 8192];
            let _ = s.read(&mut req);
            let head = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(&body);
        }
    });
    (url, hits)
}

/// A static HTTP server on 127.0.0.1 serving the files of `dir` (read at each request, so a test can change
/// them): a chart repository as `helm repo index` lays one out. Returns its base URL.
pub fn serve_dir(dir: std::path::PathBuf) -> String {
    use std::io::{BufRead, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for s in listener.incoming().flatten() {
            let mut reader = std::io::BufReader::new(&s);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            // Drain the headers.
            let mut h = String::new();
            while reader.read_line(&mut h).is_ok_and(|n| n > 2) {
                h.clear();
            }
            let path = line
                .split_whitespace()
                .nth(1)
                .unwrap_or("/")
                .trim_start_matches('/')
                .to_owned();
            let mut s = &s;
            match std::fs::read(dir.join(&path)) {
                Ok(body) if !path.contains("..") => {
                    let _ = write!(
                        s,
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = s.write_all(&body);
                }
                _ => {
                    let _ = write!(
                        s,
                        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    );
                }
            }
        }
    });
    url
}

/// Run the packed orb's command `command` as its step's shell runs in a job: in `cwd`, each `<< parameters.x >>`
/// of its environment from `params` (else the parameter's default), the directories of `path` first on PATH, then
/// this tree's bbgate, no AWS, bbgate or CircleCI variable of the test's own environment, then `env`.
pub fn orb_step(
    command: &str,
    params: &[(&str, &str)],
    cwd: &std::path::Path,
    path: &[&std::path::Path],
    env: &[(&str, &str)],
) -> (i32, String, String) {
    let orb: Value = yaml_serde::from_str(&std::fs::read_to_string(".circleci/orb.yml").unwrap()).unwrap();
    let def = &orb["commands"][command];
    let run_step = &def["steps"][0]["run"];
    let value = |name: &str| {
        params
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
            .unwrap_or_else(|| {
                def["parameters"][name]["default"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
    };
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_bbgate"))
        .parent()
        .unwrap()
        .to_owned();
    let mut dirs: Vec<String> = path.iter().map(|p| p.display().to_string()).collect();
    dirs.push(bin.display().to_string());
    dirs.push(std::env::var("PATH").unwrap());
    let mut cmd = std::process::Command::new("bash");
    cmd.arg("-c")
        .arg(run_step["command"].as_str().unwrap())
        .current_dir(cwd);
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") || k.starts_with("BBGATE_") || k.starts_with("CIRCLE") {
            cmd.env_remove(k);
        }
    }
    for (k, v) in run_step["environment"].as_object().unwrap() {
        let v = v.as_str().unwrap();
        let v = match v.strip_prefix("<< parameters.").and_then(|r| r.strip_suffix(" >>")) {
            Some(name) => value(name),
            None => v.to_owned(),
        };
        cmd.env(k, v);
    }
    cmd.env("PATH", dirs.join(":")).envs(env.iter().copied());
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
