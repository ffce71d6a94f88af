//! Issue 12: the decision is a pure function of its inputs. Every verify fixture, run 50 times, gives
//! byte-identical JSON (at 8816b73 two final attempts of one test case were chosen in HashMap order).

#![allow(clippy::unwrap_used)] // a test fails loudly where it unwraps

mod common;
use common::*;

#[test]
fn every_verify_fixture_gives_byte_identical_json_50_times() {
    let up = "../shared/fixtures-upstream";
    let with_report = |report: &str| -> Vec<String> {
        [
            "verify",
            "--findings",
            "fixtures/demo/pass",
            "--api-report",
            &format!("{up}/{report}"),
            "--now",
            NOW_2026,
        ]
        .map(str::to_owned)
        .to_vec()
    };
    let owned = |v: &[&str]| -> Vec<String> { v.iter().map(|s| s.to_string()).collect() };
    let runs: Vec<Vec<String>> = vec![
        owned(&[&DENIED_DEMO[..], &["--now", NOW_2021]].concat()),
        owned(&[&PASSING_DEMO[..], &["--now", NOW_2026]].concat()),
        owned(&[
            "verify",
            "--findings",
            "fixtures/ecr/enhanced-edge-cases.json",
            "--building-block",
            "payments",
            "--now",
            NOW_2026,
        ]),
        with_report("govstack-testharness-messages/example_result.message"),
        with_report("real-world/reports/messages/retry.ndjson"),
        with_report("real-world/reports/cucumber-json/cucumber-ruby-7.1.0--flaky-scenario.json"),
    ];
    for args in runs {
        let first = bbgate().args(&args).args(["--format", "json"]).output().unwrap();
        assert!(
            !first.stdout.is_empty(),
            "{args:?}: {}",
            String::from_utf8_lossy(&first.stderr)
        );
        for i in 1..50 {
            let again = bbgate().args(&args).args(["--format", "json"]).output().unwrap();
            assert_eq!(first.stdout, again.stdout, "{args:?}: run {i} differs");
            assert_eq!(first.status.code(), again.status.code());
        }
    }
}
