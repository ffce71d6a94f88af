//! Criterion benches of the offline core: `decide` alone (the pure function) and parse + merge + decide from
//! page bytes, for 1k, 10k and 100k ENHANCED findings shaped like scripts/gen-scan.py's (pages of 1000).
//! The parsers of the API test reports are benched on the real GovStack run.

#![allow(clippy::unwrap_used)] // a test fails loudly where it unwraps

use bbgate::apitests::parse_report;
use bbgate::findings::ecr;
use bbgate::gate::{Inputs, decide};
use bbgate::policy::Policy;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use std::path::Path;

const POLICY: &str = "[api_tests]\nrequired = false\n[signoffs]\napprovers = [\"a\"]\n[[building_block]]\nname = \"payments\"\nnamespace = \"paymenthub\"\nrepositories = [\"bb/payments/*\"]\n";
const DIGEST: &str = "sha256:5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e";

fn finding(i: usize) -> serde_json::Value {
    // The same spread as scripts/gen-scan.py: mostly low, a few in the sign-off and blocked bands, 5% unscored.
    let (score, vector, sev) = match i % 1000 {
        0..=1 => (9.8, "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "CRITICAL"),
        2..=9 => (8.1, "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H", "HIGH"),
        10..=29 => (7.5, "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N", "HIGH"),
        30..=449 => (5.3, "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L", "MEDIUM"),
        450..=949 => (3.7, "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:N/A:L", "LOW"),
        _ => (0.0, "", "UNTRIAGED"),
    };
    let id = format!("CVE-2026-{}", 100_000 + i);
    let pkg = ["openssl", "glibc", "zlib", "curl", "libxml2"][i % 5];
    let mut f = json!({
        "awsAccountId": "123456789012",
        "description": format!("Synthetic vulnerability {i} in {pkg}: a buffer over-read in a parser reachable from untrusted input."),
        "findingArn": format!("arn:aws:inspector2:eu-central-1:123456789012:finding/{i:032x}"),
        "firstObservedAt": "2026-11-20T08:00:00+00:00", "lastObservedAt": "2026-11-27T08:00:00+00:00",
        "title": format!("{id} - {pkg}"), "type": "PACKAGE_VULNERABILITY", "status": "ACTIVE", "severity": sev,
        "resources": [{"id": DIGEST, "type": "AWS_ECR_CONTAINER_IMAGE", "details": {"awsEcrContainerImage": {"imageHash": DIGEST, "repositoryName": "bb/payments/bench"}}}],
        "packageVulnerabilityDetails": {
            "vulnerabilityId": id, "source": "NVD", "referenceUrls": [format!("https://example.org/advisories/{i}")],
            "cvss": [], "vulnerablePackages": [{"name": pkg, "version": format!("1.{}.{}", i % 50, i % 7), "packageManager": "OS"}]
        },
        "score": score,
    });
    if !vector.is_empty() {
        f["packageVulnerabilityDetails"]["cvss"] =
            json!([{"baseScore": score, "scoringVector": vector, "source": "NVD", "version": "3.1"}]);
        f["scoreDetails"] =
            json!({"cvss": {"score": score, "scoreSource": "NVD", "scoringVector": vector, "version": "3.1"}});
    }
    f
}

fn pages(n: usize) -> Vec<Vec<u8>> {
    let count = n.div_ceil(1000);
    (0..count)
        .map(|p| {
            let chunk: Vec<_> = (p * 1000..((p + 1) * 1000).min(n)).map(finding).collect();
            let mut doc = json!({
                "registryId": "123456789012", "repositoryName": "bb/payments/bench",
                "imageId": {"imageDigest": DIGEST, "imageTag": "bench"},
                "imageScanStatus": {"status": "ACTIVE"},
                "imageScanFindings": {"imageScanCompletedAt": "2026-11-27T08:00:00+00:00", "findingSeverityCounts": {"HIGH": n}, "enhancedFindings": chunk},
            });
            if p + 1 < count {
                doc["nextToken"] = json!(format!("t{p}"));
            }
            serde_json::to_vec(&doc).unwrap()
        })
        .collect()
}

fn parse_all(pages: &[Vec<u8>]) -> bbgate::findings::Scan {
    let parsed = pages
        .iter()
        .map(|b| ecr::parse_page(Path::new("page.json"), b).unwrap())
        .collect();
    ecr::merge(parsed).unwrap().0
}

fn benches(c: &mut Criterion) {
    let policy = Policy::parse(Path::new("bench.toml"), POLICY, "bench".into()).unwrap();
    let bb = policy.building_block("payments").unwrap();
    let now: jiff::Timestamp = "2026-11-28T00:00:00Z".parse().unwrap();
    let mut g = c.benchmark_group("offline");
    g.sample_size(10);
    for n in [1_000usize, 10_000, 100_000] {
        let bytes = pages(n);
        let scan = parse_all(&bytes);
        assert_eq!(scan.findings.len(), n);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("decide", n), &scan, |b, scan| {
            b.iter(|| {
                decide(
                    &policy,
                    bb,
                    &Inputs {
                        images: &[scan],
                        test_runs: &[],
                        release_problems: &[],
                        signoffs: &[],
                    },
                    now,
                )
            })
        });
        g.bench_with_input(BenchmarkId::new("parse_merge_decide", n), &bytes, |b, bytes| {
            b.iter(|| {
                let scan = parse_all(bytes);
                decide(
                    &policy,
                    bb,
                    &Inputs {
                        images: &[&scan],
                        test_runs: &[],
                        release_problems: &[],
                        signoffs: &[],
                    },
                    now,
                )
                .verdict
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("api_reports");
    // The real GovStack run, read where it is kept (never copied into the project), and the project's own
    // cucumber JSON rendering of it.
    for file in [
        "../shared/fixtures-upstream/govstack-testharness-messages/example_result.message",
        "../shared/fixtures-upstream/govstack-testharness-junit/example_result.xml",
        "fixtures/api-tests/govstack-identity.cucumber.json",
    ] {
        let path = Path::new(file);
        let bytes = std::fs::read(path).unwrap();
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_function(file, |b| b.iter(|| parse_report(path, &bytes).unwrap().scenarios.len()));
    }
    g.finish();
}

criterion_group!(offline, benches);
criterion_main!(offline);
