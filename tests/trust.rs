//! Issue 11, as the attacker: the judged BB controls its repository (so the working directory of every CI step)
//! and every flag its own jobs pass. Nothing read from there may choose the rules.

#![allow(clippy::unwrap_used)] // a test fails loudly where it unwraps

mod common;
use common::*;
use std::path::Path;

/// The weak policy a BB could carry in its own checkout: everything that decides, turned off.
const WEAK_POLICY: &str = r#"
[scan]
block_from = 10.0
signoff_from = 10.0
score_preference = ["ecr"]
unscored = "allow"
label_fallback = false

[api_tests]
required = false

[signoffs]
approvers = ["bb-dev@example.org"]

[deploy]
service_types = ["ClusterIP", "LoadBalancer"]
rego = []

[[building_block]]
name = "payments"
namespace = "paymenthub"
repositories = ["**"]
"#;

/// A checkout of the BB's repository: its own `policies/sandbox.toml`, and the denied demo's inputs.
fn hostile_checkout() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("policies")).unwrap();
    std::fs::write(dir.path().join("policies/sandbox.toml"), WEAK_POLICY).unwrap();
    dir
}

fn abs(p: &str) -> String {
    std::fs::canonicalize(p).unwrap().display().to_string()
}

#[test]
fn a_weak_policy_in_the_working_directory_is_never_picked_up() {
    let checkout = hostile_checkout();
    let scan = abs("fixtures/demo/payments-emulator-scan.json");
    let (code, v) =
        run_json(
            bbgate()
                .current_dir(checkout.path())
                .args(["verify", "--findings", &scan, "--now", NOW_2021]),
        );
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["verdict"], "deny");
    assert_eq!(v["policy"]["location"], "built-in");
    // The built-in policy blocks the scan's two criticals, and no API report is a deny.
    assert_eq!(outcome_ids(&v, "blocked"), ["CVE-2005-90001", "CVE-2019-90002"]);
    assert!(
        v["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["code"] == "api-report-missing" && r["message"].as_str().unwrap().contains("API test")),
        "{v}"
    );

    // Positive control: the same weak policy, given explicitly, is the one used (the rules it sets are real).
    let (code, v) = run_json(bbgate().current_dir(checkout.path()).args([
        "verify",
        "--findings",
        &scan,
        "--now",
        NOW_2021,
        "--policy",
        "policies/sandbox.toml",
    ]));
    assert_eq!(v["policy"]["location"], "policies/sandbox.toml");
    assert_eq!(code, 0, "the weak policy passes the scan when it is chosen: {v}");
}

#[test]
fn the_admins_pin_refuses_any_other_policy_naming_both_hashes() {
    let checkout = hostile_checkout();
    let weak = checkout.path().join("policies/sandbox.toml");
    let shipped = sha256_file(Path::new("policies/sandbox.toml"));
    let scan = abs("fixtures/demo/payments-emulator-scan.json");
    let (code, out, err) = run(bbgate()
        .current_dir(checkout.path())
        .env("BBGATE_POLICY", &weak)
        .env("BBGATE_POLICY_SHA256", &shipped)
        .args(["verify", "--findings", &scan, "--now", NOW_2021]));
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains(&format!(
            "has sha256 {}, but BBGATE_POLICY_SHA256 pins {shipped}",
            sha256_file(&weak)
        )),
        "{err}"
    );
    // The pin of the built-in policy accepts the built-in policy (its bytes are the shipped file's).
    let (code, v) = run_json(
        bbgate()
            .current_dir(checkout.path())
            .env("BBGATE_POLICY_SHA256", &shipped)
            .args(["verify", "--findings", &scan, "--now", NOW_2021]),
    );
    assert_eq!((code, v["policy"]["sha256"].as_str()), (1, Some(shipped.as_str())));
}

#[test]
fn a_pinned_policy_pins_its_rego_too() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("sandbox.toml");
    std::fs::copy("policies/sandbox.toml", &policy).unwrap();
    std::fs::copy("policies/deploy.rego", dir.path().join("deploy.rego")).unwrap();
    let pin = sha256_file(&policy);
    let check = |extra_env: Option<&str>| {
        let mut cmd = bbgate();
        cmd.args(["policy", "check", "--policy", policy.to_str().unwrap()]);
        if let Some(p) = extra_env {
            cmd.env("BBGATE_POLICY_SHA256", p);
        }
        run(&mut cmd)
    };
    // Unpinned, the Rego beside it is read as it is.
    let (code, out, err) = check(None);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!("BBGATE_POLICY_SHA256={pin}")),
        "policy check prints the pin: {out}"
    );
    // Pinned, an unpinned Rego entry is refused with the entry to write.
    let (code, _, err) = check(Some(&pin));
    assert_eq!(code, 2, "{err}");
    let rego_sha = sha256_file(Path::new("policies/deploy.rego"));
    assert!(
        err.contains(&format!(
            "write it as {{ path = \"deploy.rego\", sha256 = \"{rego_sha}\" }}"
        )),
        "{err}"
    );
    // Written that way, and pinned anew, it passes; then a changed Rego is refused.
    let text = std::fs::read_to_string(&policy).unwrap().replace(
        "rego = [\"deploy.rego\"]",
        &format!("rego = [{{ path = \"deploy.rego\", sha256 = \"{rego_sha}\" }}]"),
    );
    std::fs::write(&policy, text).unwrap();
    let pin = sha256_file(&policy);
    let (code, out, err) = check(Some(&pin));
    assert_eq!(code, 0, "{out}{err}");
    std::fs::write(dir.path().join("deploy.rego"), "package main\n").unwrap();
    let (code, _, err) = check(Some(&pin));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("but the policy pins"), "{err}");
}

#[test]
fn a_policy_without_the_rego_key_runs_the_shipped_rules() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("p.toml");
    let text = std::fs::read_to_string("policies/sandbox.toml")
        .unwrap()
        .replace("rego = [\"deploy.rego\"]\n", "");
    std::fs::write(&policy, text).unwrap();
    let p = bbgate::policy::Policy::load(Some(&policy), None).unwrap();
    assert_eq!(p.deploy.rego.len(), 1);
    assert_eq!(p.deploy.rego[0].path, "built-in deploy.rego");
    assert!(p.deploy.rego[0].source.contains("runAsNonRoot"));
}
