//! README promises that had no test checking their output (issue 18's list): each with its message.

#![allow(clippy::unwrap_used)] // a test fails loudly where it unwraps

mod common;
use common::*;

#[test]
fn a_signoff_approved_in_the_future_does_not_apply() {
    let dir = tempfile::tempdir().unwrap();
    let pages = fresh_scan(dir.path(), vec![basic_finding("CVE-2026-0002", "glibc", "7.5", "HIGH")]);
    let day = |d: i64| (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * d)).to_string()[..10].to_owned();
    let future = dir.path().join("future.toml");
    std::fs::write(
        &future,
        format!(
            "[[signoff]]\nid = \"CVE-2026-0002\"\nbuilding_block = \"payments\"\nanalysis = \"a\"\nmitigation = \"m\"\n\
             approved_by = \"sandbox-admin@govstack.global\"\napproved_on = {}\nexpires = {}\n",
            day(2),
            day(30)
        ),
    )
    .unwrap();
    let verify = |signoffs: &std::path::Path| {
        run_json(bbgate().args([
            "verify",
            "--findings",
            pages.to_str().unwrap(),
            "--api-report",
            "../shared/fixtures-upstream/cucumber-cck-messages/minimal.ndjson",
            "--signoffs",
            signoffs.to_str().unwrap(),
        ]))
    };
    let (code, v) = verify(&future);
    assert_eq!(code, 1, "{v}");
    assert_eq!(finding(&v, "CVE-2026-0002")["outcome"], "needs_signoff");
    let text = v.to_string();
    assert!(text.contains("is in the future"), "{text}");
    // Positive control: approved yesterday, it applies.
    let today = dir.path().join("today.toml");
    signoff_file(&today, "CVE-2026-0002", "glibc");
    let (code, v) = verify(&today);
    assert_eq!(code, 0, "{v}");
    assert_eq!(finding(&v, "CVE-2026-0002")["outcome"], "signed_off");
}

#[test]
fn an_empty_api_report_is_invalid_input() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.xml");
    std::fs::write(&empty, "").unwrap();
    let (code, _, err) = run(bbgate().args([
        "verify",
        "--findings",
        "fixtures/demo/pass",
        "--api-report",
        empty.to_str().unwrap(),
    ]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("empty file: the test run wrote no report"), "{err}");
}

#[test]
fn api_tests_max_age_days_denies_an_old_or_undated_report() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("p.toml");
    let text = std::fs::read_to_string("policies/sandbox.toml").unwrap();
    assert!(text.contains("[api_tests]"));
    std::fs::write(
        &policy,
        text.replace("[api_tests]\n", "[api_tests]\nmax_age_days = 7\n"),
    )
    .unwrap();
    let pages = fresh_scan(dir.path(), vec![]);
    let check = |report: &str| {
        run_json(bbgate().args([
            "verify",
            "--findings",
            pages.to_str().unwrap(),
            "--api-report",
            report,
            "--policy",
            policy.to_str().unwrap(),
        ]))
    };
    // The CCK minimal run started at the epoch: too old.
    let (code, v) = check("../shared/fixtures-upstream/cucumber-cck-messages/minimal.ndjson");
    assert_eq!(code, 1, "{v}");
    assert!(
        v["reasons"]
            .to_string()
            .contains("older than [api_tests] max_age_days = 7"),
        "{v}"
    );
    // A JUnit file with no timestamp: the policy requires one.
    let undated = dir.path().join("undated.xml");
    std::fs::write(
        &undated,
        "<testsuite tests=\"1\"><testcase classname=\"c\" name=\"ok\"/></testsuite>",
    )
    .unwrap();
    let (code, v) = check(undated.to_str().unwrap());
    assert_eq!(code, 1, "{v}");
    assert!(
        v["reasons"]
            .to_string()
            .contains("has no timestamp, and [api_tests] max_age_days = 7 requires one"),
        "{v}"
    );
    // Positive control: dated today, it passes.
    let dated = dir.path().join("dated.xml");
    std::fs::write(
        &dated,
        format!(
            "<testsuite tests=\"1\" timestamp=\"{}\"><testcase classname=\"c\" name=\"ok\"/></testsuite>",
            hours_ago(1)
        ),
    )
    .unwrap();
    let (code, v) = check(dated.to_str().unwrap());
    assert_eq!(code, 0, "{v}");
}

/// A closed stdout (`bbgate … | head -0`) ends the output quietly: the exit code is the decision's, and
/// nothing panics.
#[test]
fn a_closed_stdout_never_panics_and_keeps_the_exit_code() {
    let run_closed = |args: &[&str], env: &[(&str, &str)]| {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let bin = assert_cmd::cargo::cargo_bin("bbgate");
        let mut cmd = std::process::Command::new(bin);
        for (k, _) in std::env::vars() {
            if k.starts_with("BBGATE_") || k.starts_with("CIRCLE") || k.starts_with("AWS_") {
                cmd.env_remove(k);
            }
        }
        cmd.args(args).envs(env.iter().copied()).stdout(writer);
        let out = cmd.stderr(std::process::Stdio::piped()).output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let mut demo: Vec<&str> = PASSING_DEMO.to_vec();
    demo.extend(["--now", NOW_2026]);
    for (args, env, code) in [
        (demo.clone(), vec![], 0),
        ([&demo[..], &["--format", "json"]].concat(), vec![], 0),
        (
            DENIED_DEMO
                .iter()
                .copied()
                .chain(["--now", NOW_2021])
                .collect::<Vec<_>>(),
            vec![],
            1,
        ),
        (vec!["policy", "check"], vec![], 0),
        (
            vec!["eks-token", "--cluster", "c"],
            vec![
                ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
                ("AWS_SECRET_ACCESS_KEY", "secret"),
                ("AWS_REGION", "eu-central-1"),
                ("AWS_EC2_METADATA_DISABLED", "true"),
            ],
            0,
        ),
    ] {
        let (got, err) = run_closed(&args, &env);
        assert_eq!(got, Some(code), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

/// Flags are checked where they are read, by the command line itself: a bad value is invalid input (2),
/// named with the flag, before any file is read.
#[test]
fn bad_flag_values_are_refused_by_the_command_line_with_the_flag_named() {
    let deploy = |extra: &[&'static str]| [&["deploy", "--evidence", "e.json", "--chart", "c"][..], extra].concat();
    for (args, flag, why) in [
        (
            deploy(&["--release", "Bad_Name"]),
            "--release <NAME>",
            "a release name is lowercase letters, digits and '-', at most 53 characters",
        ),
        (
            deploy(&["--release", "r", "--timeout", "0s"]),
            "--timeout <DUR>",
            "must be a positive duration, like 90s or 5m",
        ),
        (
            vec!["verify", "--image", "bb/payments/x:1", "--scan-timeout", "soon"],
            "--scan-timeout <DUR>",
            "give a duration like 90s, 5m or 1h30m",
        ),
        (
            vec!["verify", "--image", "bb/payments/x:1", "--poll-interval=-2s"],
            "--poll-interval <DUR>",
            "must be a positive duration",
        ),
    ] {
        let (code, out, err) = run(bbgate().args(&args));
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(err.contains(flag) && err.contains(why), "{args:?}: {err}");
    }
    // The control: a good value passes the command line (and fails later, on the missing evidence file).
    let (code, _, err) = run(bbgate().args([
        "deploy",
        "--evidence",
        "/nonexistent/e.json",
        "--chart",
        "c",
        "--release",
        "r",
        "--building-block",
        "payments",
        "--timeout",
        "90s",
    ]));
    assert_eq!(code, 2, "{err}");
    assert!(!err.contains("--timeout"), "{err}");
}
