#![allow(dead_code)]
//! Shared helpers for the CLI tests: run the real binary with a clean environment.

pub mod fake_kube;
pub mod peer;
pub mod registry;

use assert_cmd::Command;
use serde_json::Value;

pub const NOW_2021: &str = "2021-04-10T00:00:00Z";
pub const NOW_2026: &str = "2026-11-28T12:00:00Z";

/// The README's passing demo (passes at NOW_2026): `verify` and its inputs.
pub const PASSING_DEMO: [&str; 7] = [
    "verify",
    "--findings",
    "fixtures/demo/pass",
    "--api-report",
    "fixtures/api-tests/cck-minimal.ndjson",
    "--signoffs",
    "fixtures/demo/pass/signoffs.toml",
];

/// The README's denied demo: `verify` and its inputs.
pub const DENIED_DEMO: [&str; 7] = [
    "verify",
    "--findings",
    "fixtures/demo/payments-emulator-scan.json",
    "--api-report",
    "fixtures/api-tests/govstack-identity.message",
    "--signoffs",
    "fixtures/demo/signoffs.toml",
];

/// The bbgate binary, with no BBGATE_* or CIRCLE_* variables leaking in from the machine.
pub fn bbgate() -> Command {
    let mut cmd = Command::cargo_bin("bbgate").unwrap();
    for (k, _) in std::env::vars() {
        if k.starts_with("BBGATE_") || k.starts_with("CIRCLE") {
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

pub fn outcome_ids(v: &Value, outcome: &str) -> Vec<String> {
    let mut ids: Vec<String> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["outcome"] == outcome)
        .map(|f| f["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

pub fn finding<'a>(v: &'a Value, id: &str) -> &'a Value {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == id)
        .unwrap_or_else(|| panic!("no finding {id}"))
}
