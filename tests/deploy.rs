//! `bbgate deploy` against the project's fake Kubernetes API server (tests/common/fake_kube.rs) and the real
//! helm 3.18.0 and 4.1.4 binaries that scripts/test installs.

#![allow(clippy::unwrap_used)] // a test fails loudly where it unwraps

mod common;
use common::fake_kube::{FakeKube, Handle};
use common::peer;
use common::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

const NS: &str = "paymenthub";
const REGISTRY: &str = "123456789012.dkr.ecr.eu-central-1.amazonaws.com";
const TOKEN: &str = "fake-bearer-token-never-printed";
const CHART: &str = "fixtures/charts/payments-emulator";

const REPORT: &str = "../shared/fixtures-upstream/cucumber-cck-messages/minimal.ndjson";

/// Evidence from an offline verify of a fresh, clean scan of bb/payments/adapter (decided now, so deploy's
/// real clock finds it current); its pages sit in `dir/pages`.
fn evidence(dir: &Path) -> PathBuf {
    evidence_with(dir, &[])
}

fn evidence_with(dir: &Path, extra: &[&str]) -> PathBuf {
    let pages = fresh_scan(dir, peer::low_basic_findings(2));
    let path = dir.join("evidence.json");
    let (code, out, err) = run(bbgate()
        .args(["verify", "--findings", pages.to_str().unwrap(), "--api-report", REPORT])
        .args(["--registry", REGISTRY, "--evidence", path.to_str().unwrap()])
        .args(extra));
    assert_eq!(code, 0, "{out}{err}");
    path
}

/// The shipped policy with one edit, written with its Rego into `dir`.
fn policy_with(dir: &Path, from: &str, to: &str) -> PathBuf {
    let policy = dir.join("sandbox.toml");
    let text = std::fs::read_to_string("policies/sandbox.toml").unwrap();
    assert!(text.contains(from), "the shipped policy has {from:?}");
    // A pinned policy pins its Rego too.
    let rego_sha = sha256_file(Path::new("policies/deploy.rego"));
    let text = text.replace(from, to).replace(
        "rego = [\"deploy.rego\"]",
        &format!("rego = [{{ path = \"deploy.rego\", sha256 = \"{rego_sha}\" }}]"),
    );
    std::fs::write(&policy, text).unwrap();
    std::fs::copy("policies/deploy.rego", dir.join("deploy.rego")).unwrap();
    policy
}

/// A fresh fake cluster with the BB's namespace ready, a scratch directory, and evidence in it.
fn ready() -> (Handle, tempfile::TempDir, PathBuf) {
    let fake = FakeKube::start(true);
    fake.sandbox_namespace(NS);
    let tmp = tempfile::tempdir().unwrap();
    let ev = evidence(tmp.path());
    (fake, tmp, ev)
}

/// `ready()` with evidence of a repository of its own: tests that queue scans on the shared moto peer never
/// see each other's.
fn ready_for(name: &str) -> (Handle, tempfile::TempDir, PathBuf, String) {
    let fake = FakeKube::start(true);
    fake.sandbox_namespace(NS);
    let tmp = tempfile::tempdir().unwrap();
    let repo = peer::unique(&format!("bb/payments/{name}"));
    let pages = fresh_scan_of(tmp.path(), &repo, peer::low_basic_findings(2));
    let ev = tmp.path().join("evidence.json");
    let (code, out, err) = run(bbgate()
        .args(["verify", "--findings", pages.to_str().unwrap(), "--api-report", REPORT])
        .args(["--registry", REGISTRY, "--evidence", ev.to_str().unwrap()]));
    assert_eq!(code, 0, "{out}{err}");
    (fake, tmp, ev, repo)
}

fn pinned(ev: &Path) -> String {
    let v: Value = serde_json::from_slice(&std::fs::read(ev).unwrap()).unwrap();
    let i = &v["body"]["images"][0];
    format!(
        "{}/{}@{}",
        i["registry"].as_str().unwrap(),
        i["repository"].as_str().unwrap(),
        i["digest"].as_str().unwrap()
    )
}

/// `bbgate deploy` at the fake with helm `major`, an hour after the evidence was made.
fn deploy(fake: &FakeKube, dir: &Path, major: u8, ev: &Path, chart: &str) -> assert_cmd::Command {
    let mut cmd = deploy_of(ev, chart);
    cmd.env("HELM_CACHE_HOME", dir.join("helm-cache"))
        .env("HELM_CONFIG_HOME", dir.join("helm-config"))
        .env("HELM_DATA_HOME", dir.join("helm-data"))
        .args(["--set-image", "image.ref", "--timeout", "60s"])
        .args([
            "--findings",
            dir.join("pages").to_str().unwrap(),
            "--api-report",
            REPORT,
        ])
        .args([
            "--helm",
            &helm(major),
            "--helm-sha256",
            &helm_pin(major),
            "--kubeconfig",
            fake.kubeconfig(dir).to_str().unwrap(),
        ]);
    cmd
}

/// `bbgate deploy --evidence EV --chart CHART --release emu`, nothing else yet.
fn deploy_of(ev: &Path, chart: &str) -> assert_cmd::Command {
    let mut cmd = bbgate();
    cmd.args([
        "deploy",
        "--evidence",
        ev.to_str().unwrap(),
        "--chart",
        chart,
        "--release",
        "emu",
        "--building-block",
        "payments",
    ]);
    cmd
}

fn deploy_cmd(ev: &Path) -> assert_cmd::Command {
    deploy_of(ev, CHART)
}

/// `bbgate deploy --dry-run` of the emulator chart with helm 4 at the fake, and no scan or report inputs yet.
fn bare_deploy(fake: &FakeKube, dir: &Path, ev: &Path) -> assert_cmd::Command {
    let mut cmd = deploy_cmd(ev);
    cmd.args([
        "--dry-run",
        "--helm",
        &helm(4),
        "--helm-sha256",
        &helm_pin(4),
        "--kubeconfig",
        fake.kubeconfig(dir).to_str().unwrap(),
    ]);
    cmd
}

/// `deploy(…)` with a values file holding `yaml`.
fn deploy_with_values(fake: &FakeKube, dir: &Path, major: u8, ev: &Path, yaml: &str) -> assert_cmd::Command {
    let values = dir.join("values.yaml");
    std::fs::write(&values, yaml).unwrap();
    let mut cmd = deploy(fake, dir, major, ev, CHART);
    cmd.args(["--values", values.to_str().unwrap()]);
    cmd
}

fn no_token(text: &str) {
    assert!(!text.contains(TOKEN), "the bearer token leaked: {text}");
}

fn release_versions(fake: &FakeKube) -> Vec<(u64, String)> {
    let mut v: Vec<(u64, String)> = fake
        .list("Secret", NS)
        .iter()
        .filter(|s| s["metadata"]["labels"]["owner"] == "helm")
        .map(|s| {
            let l = &s["metadata"]["labels"];
            (
                l["version"].as_str().unwrap().parse().unwrap(),
                l["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn first_install_and_upgrade_are_pinned_to_the_evidence_digest_with_helm_3_and_4() {
    for major in [3, 4] {
        let (fake, tmp, ev) = ready();

        let (code, out, err) = run(&mut deploy(&fake, tmp.path(), major, &ev, CHART));
        assert_eq!(code, 0, "helm {major}: {out}{err}");
        assert!(out.contains("DEPLOYED: release emu revision 1 in paymenthub"), "{out}");
        no_token(&format!("{out}{err}"));
        // helm's own output is shown as it comes, on stderr, each line marked.
        assert!(
            err.lines().any(|l| l.starts_with("helm: ") && l.contains("emu")),
            "helm {major}: {err}"
        );
        let d = fake
            .get("Deployment", NS, "emu-emulator")
            .expect("the Deployment was installed");
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][0]["image"],
            json!(pinned(&ev))
        );
        // helm installs the chart bbgate wrote from the render it judged: no value, no image on its command line.
        assert!(
            err.contains("judged-chart/payments-emulator") && !err.contains("--set-string"),
            "{err}"
        );
        // The positive control for every "nothing written" check: the same probe sees an install's writes.
        let writes: Vec<String> = fake
            .writes()
            .iter()
            .map(|w| format!("{} {}", w.method, w.path))
            .collect();
        // (helm 3 creates with POST; helm 4 applies server-side with PATCH.)
        for wanted in [
            format!("/apis/apps/v1/namespaces/{NS}/deployments"),
            format!("POST /api/v1/namespaces/{NS}/secrets"),
        ] {
            assert!(
                writes.iter().any(|w| w.contains(&wanted)),
                "helm {major}: no {wanted} in {writes:#?}"
            );
        }

        // Upgrade with a values file: revision 2, still pinned; the record says so.
        let mut cmd = deploy_with_values(&fake, tmp.path(), major, &ev, "replicaCount: 2\n");
        cmd.args(["--format", "json"]);
        let (code, out, err) = run(&mut cmd);
        assert_eq!(code, 0, "helm {major}: {out}{err}");
        let record: Value = serde_json::from_str(&out).unwrap();
        eprintln!("helm {major} upgrade timings (ms): {}", record["timings_ms"]);
        assert!(
            record["rego"][0]
                .as_str()
                .unwrap()
                .starts_with("built-in deploy.rego sha256:"),
            "{record}"
        );
        assert_eq!(
            (record["status"].as_str(), record["revision"].as_u64()),
            (Some("deployed"), Some(2))
        );
        // The chart's test hook ran and passed (the control for the failing-test case).
        assert_eq!(record["tests"], "passed");
        let d = fake.get("Deployment", NS, "emu-emulator").unwrap();
        assert_eq!(d["spec"]["replicas"], 2);
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][0]["image"],
            json!(pinned(&ev))
        );
        let on_disk: Value =
            serde_json::from_slice(&std::fs::read(tmp.path().join("deploy-record.json")).unwrap()).unwrap();
        assert_eq!(on_disk, record, "the record beside the evidence is the one printed");
        assert!(record["helm"].as_str().unwrap().starts_with(&format!("v{major}.")));
        let ev_sha = record["evidence_sha256"].as_str().unwrap();
        let latest = fake.get("Secret", NS, "sh.helm.release.v1.emu.v2").unwrap();
        assert_eq!(latest["metadata"]["labels"]["status"], "deployed");
        no_token(&out);
        assert_eq!(release_versions(&fake).last().map(|v| v.0), Some(2));
        assert_eq!(
            ev_sha,
            sha256_file(&ev),
            "the record names the evidence file it deployed"
        );
    }
}

#[test]
fn a_chart_that_escapes_its_namespace_is_refused_whole_with_every_problem_named_and_nothing_written() {
    let (fake, tmp, ev) = ready();
    let (code, out, err) = run(&mut deploy(
        &fake,
        tmp.path(),
        4,
        &ev,
        "fixtures/charts/escapes-namespace",
    ));
    assert_eq!(code, 1, "{out}{err}");
    for expected in [
        "Namespace/backdoor (escapes-namespace/templates/all.yaml): Namespace is cluster-scoped",
        "ClusterRoleBinding/emu-admin (escapes-namespace/templates/all.yaml): ClusterRoleBinding is cluster-scoped",
        "ConfigMap/emu-elsewhere (escapes-namespace/templates/all.yaml): sets namespace \"kube-system\"",
        "Service/emu-exposed (escapes-namespace/templates/all.yaml): Service type NodePort",
        "Deployment/emu-worker (escapes-namespace/templates/all.yaml): hostNetwork: true",
        "volume \"host\" is a hostPath",
        "container \"main\" is privileged",
        "container \"sidecar\" pulls docker.io/library/busybox:1.36 from docker.io, which the policy does not allow",
        "container \"sidecar\" sets no requests.cpu, requests.memory, limits.cpu, limits.memory",
        "container \"stale\" runs 123456789012.dkr.ecr.eu-central-1.amazonaws.com/bb/payments/emulator:latest, which is not an image the evidence judged",
        "rego deny: Deployment emu-worker: container \"main\" must set securityContext.runAsNonRoot: true",
        "Deployment/emu-worker (escapes-namespace/templates/all.yaml): the namespace enforces Pod Security \"restricted\" ([deploy] pod_security), which refuses its pods: container \"main\" must set securityContext.allowPrivilegeEscalation: false",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    // The three containers each miss runAsNonRoot: 11 guard problems (one the Pod Security level the namespace
    // enforces) and 3 from the policy's Rego.
    assert!(out.starts_with("REFUSED: 14 problem(s)"), "{out}");
    // Each problem carries its code.
    for code in [
        "[cluster-scoped-object]",
        "[namespace-escape]",
        "[service-exposed]",
        "[host-namespace]",
        "[host-path]",
        "[privileged-container]",
        "[pod-security]",
        "[registry-not-allowed]",
        "[resources-undeclared]",
        "[image-not-judged]",
        "[rego-deny]",
    ] {
        assert!(out.contains(code), "missing {code} in:\n{out}");
    }
    assert!(out.contains("warning: Deployment/emu-worker (escapes-namespace/templates/all.yaml): rego warn: Deployment emu-worker has no app.kubernetes.io/name label"), "{out}");
    assert_eq!(fake.writes().len(), 0, "nothing may be written: {:?}", fake.writes());
    assert!(!tmp.path().join("deploy-record.json").exists());
}

#[test]
fn a_namespace_that_is_not_ready_is_refused_before_helm_runs() {
    type Setup = fn(&FakeKube);
    let cases: [(&str, Setup, &str); 6] = [
        ("missing", |_f| {}, "namespace paymenthub does not exist"),
        (
            "no Pod Security label",
            |f| {
                f.sandbox_namespace(NS);
                f.put(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}));
            },
            "namespace paymenthub has no pod-security.kubernetes.io/enforce label: the API server enforces no Pod \
             Security Standard there; the sandbox admins label it: `kubectl label namespace paymenthub \
             pod-security.kubernetes.io/enforce=restricted`",
        ),
        (
            "a weaker Pod Security level",
            |f| {
                f.sandbox_namespace(NS);
                f.put(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS,
                    "labels": {"pod-security.kubernetes.io/enforce": "privileged"}}}));
            },
            "namespace paymenthub enforces Pod Security level \"privileged\", weaker than the policy's \"restricted\"",
        ),
        (
            "no NetworkPolicy",
            |f| {
                f.put(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}));
                f.put(json!({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q", "namespace": NS},
                    "spec": {"hard": {"requests.cpu": "2", "requests.memory": "4Gi", "limits.cpu": "4", "limits.memory": "8Gi"}}}));
            },
            "has no NetworkPolicy that selects all its pods",
        ),
        (
            "no ResourceQuota",
            |f| {
                f.sandbox_namespace(NS);
                f.put(json!({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "bb-quota", "namespace": NS},
                    "spec": {"hard": {"pods": "10"}}}));
            },
            "has no ResourceQuota setting requests.cpu, requests.memory, limits.cpu and limits.memory (incomplete: bb-quota",
        ),
        (
            "SSAR denies",
            |f| {
                f.sandbox_namespace(NS);
                f.deny("create/deployments");
                f.deny("delete/secrets");
            },
            "the pipeline's identity may not: create deployments.apps, delete secrets",
        ),
    ];
    for (what, setup, expected) in cases {
        let fake = FakeKube::start(true);
        setup(&fake);
        let tmp = tempfile::tempdir().unwrap();
        let ev = evidence(tmp.path());
        let (code, out, err) = run(&mut deploy(&fake, tmp.path(), 3, &ev, CHART));
        assert_eq!(code, 1, "{what}: {out}{err}");
        assert!(out.contains(expected), "{what}: missing {expected:?} in {out}");
        assert_eq!(fake.writes().len(), 0, "{what}: helm ran: {:?}", fake.writes());
        assert!(!err.contains("upgrade --install"), "{what}: {err}");
    }
}

#[test]
fn a_network_policy_that_admits_other_namespaces_is_named() {
    let fake = FakeKube::start(true);
    fake.sandbox_namespace(NS);
    fake.put(json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "allow-monitoring", "namespace": NS},
        "spec": {"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"team": "ops"}}}]}]}}));
    let tmp = tempfile::tempdir().unwrap();
    let ev = evidence(tmp.path());
    let (code, out, _) = run(&mut deploy(&fake, tmp.path(), 4, &ev, CHART));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("NetworkPolicy allow-monitoring: ingress rule 1 admits pods of other namespaces"),
        "{out}"
    );
}

#[test]
fn a_hanging_rollout_is_rolled_back_and_exits_1_with_the_pods_events() {
    for major in [3, 4] {
        let (fake, tmp, ev) = ready();
        let (code, out, err) = run(&mut deploy(&fake, tmp.path(), major, &ev, CHART));
        assert_eq!(code, 0, "helm {major}: {out}{err}");

        fake.set_autoready(false);
        let mut cmd = deploy_with_values(&fake, tmp.path(), major, &ev, "replicaCount: 3\n");
        cmd.args(["--timeout", "3s"]);
        let (code, out, err) = run(&mut cmd);
        assert_eq!(code, 1, "helm {major}: {out}{err}");
        assert!(
            out.starts_with("FAILED: release emu in paymenthub did not roll out"),
            "{out}"
        );
        assert!(
            out.contains("FailedScheduling: 0/3 nodes are available: 3 Insufficient memory."),
            "{out}"
        );
        // helm rolled back to revision 1's configuration.
        let d = fake.get("Deployment", NS, "emu-emulator").unwrap();
        assert_eq!(d["spec"]["replicas"], 1, "helm {major} rolled back");
        let versions = release_versions(&fake);
        assert!(
            versions.iter().any(|(v, s)| *v == 2 && s == "failed"),
            "helm {major}: {versions:?}"
        );
        let record: Value =
            serde_json::from_slice(&std::fs::read(tmp.path().join("deploy-record.json")).unwrap()).unwrap();
        assert_eq!(record["status"], "failed");
        no_token(&format!("{out}{err}"));
    }
}

#[test]
fn evidence_that_is_altered_expired_failed_foreign_or_of_another_policy_is_refused_before_the_cluster() {
    let (fake, tmp, ev) = ready();
    let refused = |cmd: &mut assert_cmd::Command, expected: &str| {
        let (code, out, err) = run(cmd);
        assert_eq!(code, 1, "{expected}: {out}{err}");
        assert!(err.contains(expected), "missing {expected:?} in {err}");
    };

    // Altered: one finding count changed after sealing.
    let altered = tmp.path().join("altered.json");
    let text = std::fs::read_to_string(&ev)
        .unwrap()
        .replacen("\"verdict\": \"pass\"", "\"verdict\": \"pass\" ", 1);
    let mut v: Value = serde_json::from_str(&text).unwrap();
    v["body"]["images"][0]["digest"] = json!(format!("sha256:{}", "b".repeat(64)));
    std::fs::write(&altered, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    refused(
        &mut deploy(&fake, tmp.path(), 4, &altered, CHART),
        "evidence body does not match its digest",
    );

    // With --format json the refusal is one JSON document on stdout.
    let (code, v) = run_json(&mut deploy(&fake, tmp.path(), 4, &altered, CHART));
    assert_eq!(code, 1);
    assert_eq!(v["status"], "refused");
    assert_eq!(v["problems"][0]["code"], "not-admitted", "{v}");
    assert!(
        v["problems"][0]["message"]
            .as_str()
            .unwrap()
            .contains("evidence body does not match its digest"),
        "{v}"
    );

    // Expired: decided 25 hours ago; the policy allows 24 h (deploy's clock is the system's).
    let old_dir = tmp.path().join("old");
    std::fs::create_dir_all(&old_dir).unwrap();
    let pages = scan_completed(&old_dir, "bb/payments/adapter", peer::low_basic_findings(2), 26);
    let old = old_dir.join("evidence.json");
    let (code, out, err) = run(bbgate()
        .args(["verify", "--findings", pages.to_str().unwrap(), "--api-report", REPORT])
        .args([
            "--registry",
            REGISTRY,
            "--evidence",
            old.to_str().unwrap(),
            "--now",
            &hours_ago(25),
        ]));
    assert_eq!(code, 0, "{out}{err}");
    refused(
        &mut deploy(&fake, &old_dir, 4, &old, CHART),
        "25.0 h ago; the policy accepts evidence up to 24.0 h old",
    );
    // Positive control: the same inputs decided now pass the same check.
    let fresh = evidence_with(&old_dir, &[]);
    let other = FakeKube::start(true);
    other.sandbox_namespace(NS);
    let mut cmd = deploy(&other, &old_dir, 4, &fresh, CHART);
    cmd.arg("--dry-run");
    let (code, out, err) = run(&mut cmd);
    assert_eq!(code, 0, "{out}{err}");

    // Failed: the README's denied demo.
    let denied = tmp.path().join("denied.json");
    let (code, _, _) = run(bbgate().args(DENIED_DEMO).args([
        "--now",
        NOW_2026,
        "--registry",
        REGISTRY,
        "--evidence",
        denied.to_str().unwrap(),
    ]));
    assert_eq!(code, 1);
    refused(
        &mut deploy(&fake, tmp.path(), 4, &denied, CHART),
        "the verdict is \"deny\"",
    );

    // Another BB's deploy.
    let mut cmd = deploy(&fake, tmp.path(), 4, &ev, CHART);
    cmd.args(["--building-block", "information-mediator"]);
    refused(
        &mut cmd,
        "the evidence is for building block payments, but the admins' deploy is for information-mediator",
    );

    // Another policy (pinned by the admins): the same rules with one value changed.
    let policy = policy_with(tmp.path(), "max_validity_days = 90", "max_validity_days = 60");
    let mut cmd = deploy(&fake, tmp.path(), 4, &ev, CHART);
    cmd.env("BBGATE_POLICY_SHA256", sha256_file(&policy))
        .args(["--policy", policy.to_str().unwrap()]);
    refused(&mut cmd, "verify must judge under the same rules");

    // Another workflow's evidence, in CircleCI.
    let mut cmd = deploy(&fake, tmp.path(), 4, &ev, CHART);
    cmd.env("CIRCLE_WORKFLOW_ID", "5a1c7b6e-0000-4000-8000-000000000001");
    refused(&mut cmd, "written by workflow (none recorded), not this one");

    assert!(fake.log().is_empty(), "the cluster was contacted: {:?}", fake.log());
}

#[test]
fn the_namespace_is_the_building_blocks_and_a_different_one_is_refused() {
    let fake = FakeKube::start(true);
    let tmp = tempfile::tempdir().unwrap();
    let ev = evidence(tmp.path());
    let mut cmd = deploy(&fake, tmp.path(), 4, &ev, CHART);
    cmd.args(["--namespace", "default"]);
    let (code, _, err) = run(&mut cmd);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("deploys only into its namespace paymenthub"), "{err}");
}

#[test]
fn dry_run_checks_everything_and_writes_nothing() {
    let (fake, tmp, ev) = ready();
    let mut cmd = deploy(&fake, tmp.path(), 3, &ev, CHART);
    cmd.arg("--dry-run");
    let (code, out, err) = run(&mut cmd);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.starts_with("CHECKED: release emu in paymenthub may be installed"),
        "{out}"
    );
    assert!(fake.writes().is_empty(), "{:?}", fake.writes());
}

#[test]
fn recheck_scan_stops_a_deploy_when_the_digest_has_a_critical_finding_verify_did_not_see() {
    use common::peer::Moto;
    let moto = Moto::get();
    let (fake, tmp, ev, repo) = ready_for("recheck");
    let with_aws = |cmd: &mut assert_cmd::Command| {
        peer::with_moto(cmd, &moto);
        cmd.args(["--recheck-scan", "--poll-interval", "100ms", "--dry-run"]);
    };

    // Still clean: the deploy goes on.
    moto.queue_scans(
        &repo,
        vec![peer::scan_result(
            "COMPLETE",
            peer::low_basic_findings(2),
            vec![],
            json!({"MEDIUM": 2}),
        )],
    );
    let mut cmd = deploy(&fake, tmp.path(), 4, &ev, CHART);
    with_aws(&mut cmd);
    let (code, out, err) = run(&mut cmd);
    assert_eq!(code, 0, "{out}{err}");

    // A critical CVE was published against the image since verify.
    let mut findings = peer::low_basic_findings(2);
    findings.push(peer::critical_basic_finding("CVE-2026-999999"));
    moto.queue_scans(
        &repo,
        vec![peer::scan_result(
            "COMPLETE",
            findings,
            vec![],
            json!({"MEDIUM": 2, "CRITICAL": 1}),
        )],
    );
    let mut cmd = deploy(&fake, tmp.path(), 4, &ev, CHART);
    with_aws(&mut cmd);
    let (code, out, err) = run(&mut cmd);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("deploy decided again under the admins' policy (scan from ecr) and denies")
            && err.contains("CVE-2026-999999"),
        "{err}"
    );
    assert!(!format!("{out}{err}").contains(peer::STATIC_SECRET));
    assert!(fake.writes().is_empty());
}

/// A stand-in for the CircleCI API v2 (no peer exists for it): one workflow with a hold job approved by
/// `approver_id`, and users by id. It records the Circle-Token it was sent.
fn circleci_api(approver_id: &'static str) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use axum::extract::{Path as P, Request};
    let tokens = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = tokens.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}/api/v2", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let record = move |req: &Request| {
                let t = req
                    .headers()
                    .get("circle-token")
                    .map(|v| v.to_str().unwrap().to_owned());
                seen.lock().unwrap().push(t.unwrap_or_default());
            };
            let r1 = record.clone();
            let app = axum::Router::new()
                .route(
                    "/api/v2/workflow/{id}/job",
                    axum::routing::get(move |P(_id): P<String>, req: Request| async move {
                        r1(&req);
                        let body = json!({"next_page_token": null, "items": [
                            {"name": "verify", "type": "build", "status": "success"},
                            {"name": "hold-deploy", "type": "approval", "status": "success",
                             "approved_by": approver_id, "approval_request_id": "a1"}]});
                        ([("content-type", "application/json")], body.to_string())
                    }),
                )
                .route(
                    "/api/v2/user/{id}",
                    axum::routing::get(move |P(id): P<String>, req: Request| async move {
                        record(&req);
                        let login = if id == "u-admin" {
                            "sandbox-admin"
                        } else {
                            "bb-developer"
                        };
                        let body = json!({"id": id, "login": login, "name": login});
                        ([("content-type", "application/json")], body.to_string())
                    }),
                );
            let l = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(l, app).await.unwrap();
        });
    });
    (url, tokens)
}

/// A policy with `[deploy] approvers = ["sandbox-admin"]`, and evidence verified under it by CircleCI workflow
/// `workflow` from the scan in `dir/pages` (made here when missing). Returns (policy, evidence).
fn approvers_evidence(dir: &Path, workflow: &str) -> (PathBuf, PathBuf) {
    let policy = policy_with(dir, "approvers = []", "approvers = [\"sandbox-admin\"]");
    let pages = dir.join("pages");
    if !pages.is_dir() {
        fresh_scan(dir, peer::low_basic_findings(2));
    }
    let ev = dir.join("wf-evidence.json");
    let (code, out, err) = run(bbgate()
        .env("CIRCLE_WORKFLOW_ID", workflow)
        .args(["verify", "--findings", pages.to_str().unwrap(), "--api-report", REPORT])
        .args(["--registry", REGISTRY])
        .args(["--policy", policy.to_str().unwrap(), "--evidence", ev.to_str().unwrap()]));
    assert_eq!(code, 0, "{out}{err}");
    (policy, ev)
}

#[test]
fn with_approvers_in_the_policy_only_an_admins_approval_lets_the_deploy_in() {
    let tmp = tempfile::tempdir().unwrap();
    let workflow = "5a1c7b6e-0000-4000-8000-000000000042";
    let (policy, ev) = approvers_evidence(tmp.path(), workflow);
    let circle_token = "circle-token-never-printed";

    for (approver, expected_code) in [("u-dev", 1), ("u-admin", 0)] {
        let fake = FakeKube::start(true);
        fake.sandbox_namespace(NS);
        let (api, tokens) = circleci_api(approver);
        let mut cmd = deploy(&fake, tmp.path(), 4, &ev, CHART);
        cmd.env("CIRCLE_WORKFLOW_ID", workflow)
            .env("CIRCLE_TOKEN", circle_token)
            .args(["--circleci-api-url", &api])
            .env("BBGATE_POLICY_SHA256", sha256_file(&policy))
            .args(["--policy", policy.to_str().unwrap()]);
        let (code, out, err) = run(&mut cmd);
        assert_eq!(code, expected_code, "{approver}: {out}{err}");
        if expected_code == 1 {
            assert!(
                err.contains("the approval (hold-deploy by bb-developer) was not given by a sandbox admin"),
                "{err}"
            );
            assert!(
                fake.writes().is_empty(),
                "nothing installed without an admin's approval"
            );
        } else {
            assert!(out.contains("DEPLOYED"), "{out}");
            let record: Value =
                serde_json::from_slice(&std::fs::read(tmp.path().join("deploy-record.json")).unwrap()).unwrap();
            assert_eq!(record["approved_by"], "sandbox-admin");
        }
        assert!(
            tokens.lock().unwrap().iter().all(|t| t == circle_token),
            "the API got the token"
        );
        assert!(!format!("{out}{err}").contains(circle_token), "CIRCLE_TOKEN leaked");
    }
}

#[test]
fn an_api_server_that_refuses_a_write_or_fails_a_read_exits_3() {
    // helm's create of the Deployment is refused (a 403 from the API, as an admission webhook would).
    let fake = FakeKube::start(true);
    fake.sandbox_namespace(NS);
    fake.fault("POST", "deployments", 403, 1);
    let tmp = tempfile::tempdir().unwrap();
    let ev = evidence(tmp.path());
    let (code, out, err) = run(&mut deploy(&fake, tmp.path(), 3, &ev, CHART));
    assert_eq!(code, 3, "{out}{err}");
    assert!(
        out.contains("injected 403 for POST deployments"),
        "helm's reason is shown: {out}"
    );
    // helm 3's --atomic removed the failed first install.
    assert!(fake.get("Deployment", NS, "emu-emulator").is_none());
    let record: Value = serde_json::from_slice(&std::fs::read(tmp.path().join("deploy-record.json")).unwrap()).unwrap();
    assert_eq!(record["status"], "failed");

    // A conflict on helm's release record (409) is the same kind of failure.
    let fake = FakeKube::start(true);
    fake.sandbox_namespace(NS);
    fake.fault("POST", "secrets", 409, 1);
    let (code, out, err) = run(&mut deploy(&fake, tmp.path(), 4, &ev, CHART));
    assert_eq!(code, 3, "{out}{err}");

    // The preflight cannot read the namespace: nothing is decided, helm never runs.
    let fake = FakeKube::start(true);
    fake.sandbox_namespace(NS);
    fake.fault("GET", "namespaces", 500, 1);
    let (code, out, err) = run(&mut deploy(&fake, tmp.path(), 4, &ev, CHART));
    assert_eq!(code, 3, "{out}{err}");
    assert!(
        err.contains("the cluster failed while reading namespace paymenthub: 500"),
        "{err}"
    );
    assert!(fake.writes().is_empty());
}

#[test]
fn without_set_image_the_charts_own_tag_is_refused_as_not_the_judged_digest() {
    let (fake, tmp, ev) = ready();
    let (code, out, err) = run(bbgate()
        .env("HELM_CACHE_HOME", tmp.path().join("helm-cache"))
        .args(["deploy", "--evidence", ev.to_str().unwrap(), "--chart", CHART])
        .args(["--release", "emu", "--helm", &helm(3), "--helm-sha256", &helm_pin(3)])
        .args(["--building-block", "payments"])
        .args([
            "--findings",
            tmp.path().join("pages").to_str().unwrap(),
            "--api-report",
            REPORT,
        ])
        .args(["--kubeconfig", fake.kubeconfig(tmp.path()).to_str().unwrap()]));
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("container \"emulator\" runs 123456789012.dkr.ecr.eu-central-1.amazonaws.com/bb/payments/emulator:1.0.0, which is not an image the evidence judged"),
        "{out}"
    );
    assert!(fake.writes().is_empty());
}

#[test]
fn what_helm_would_apply_is_judged_not_only_the_offline_render() {
    // Offline, `lookup` finds nothing and the chart renders the pinned image; against the cluster it finds
    // this ConfigMap and would run another image.
    let (fake, tmp, ev, policy) = ready_with_policy("[deploy]\n", "[deploy]\nlookup = true\n");
    fake.put(
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "image-override", "namespace": NS},
        "data": {"image": "docker.io/library/nginx:latest"}}),
    );
    let allowed = |cmd: &mut assert_cmd::Command| under(cmd, &policy);
    let mut cmd = deploy(&fake, tmp.path(), 3, &ev, "fixtures/charts/lookup-swap");
    allowed(&mut cmd);
    let (code, out, err) = run(&mut cmd);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("Deployment/emu-swap (lookup-swap/templates/deployment.yaml): container \"main\" pulls docker.io/library/nginx:latest from docker.io, which the policy does not allow"),
        "{out}"
    );
    assert!(
        fake.writes().is_empty(),
        "the server-side render writes nothing: {:?}",
        fake.writes()
    );
    assert!(fake.get("Deployment", NS, "emu-swap").is_none());

    // Without the override the same chart goes in (the policy allowing lookup).
    let fake = FakeKube::start(true);
    fake.sandbox_namespace(NS);
    let mut cmd = deploy(&fake, tmp.path(), 4, &ev, "fixtures/charts/lookup-swap");
    allowed(&mut cmd);
    let (code, out, err) = run(&mut cmd);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn eks_cluster_access_describes_the_cluster_and_authenticates_with_eks_tokens() {
    use common::peer::Moto;
    let moto = Moto::get();
    for major in [3, 4] {
        let (fake, tmp, ev, repo) = ready_for(&format!("eks{major}"));
        let cluster = peer::unique(&format!("sandbox-helm{major}"));
        moto.eks_cluster(&cluster, &fake.url);
        let temp = tmp.path().join("tmp");
        std::fs::create_dir(&temp).unwrap();
        let mut cmd = deploy_cmd(&ev);
        for (k, _) in std::env::vars() {
            if k.starts_with("AWS_") || k == "KUBECONFIG" {
                cmd.env_remove(k);
            }
        }
        cmd.env("AWS_ENDPOINT_URL", &moto.url)
            .env("AWS_REGION", peer::REGION)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_ACCESS_KEY_ID", "AKIDSTATICTEST")
            .env("AWS_SECRET_ACCESS_KEY", peer::STATIC_SECRET)
            .env("TMPDIR", &temp)
            .env("HELM_CACHE_HOME", tmp.path().join("helm-cache"))
            .args([
                "--set-image",
                "image.ref",
                "--helm",
                &helm(major),
                "--helm-sha256",
                &helm_pin(major),
                "--allow-env",
                "AWS_ENDPOINT_URL",
                "--api-report",
                REPORT,
            ])
            .args(["--eks-cluster", &cluster, "--poll-interval", "100ms", "--dry-run"])
            // Every AWS call and helm run said on stderr: the EKS token and the keys must stay out of that too.
            .arg("-v");
        // --eks-cluster also re-reads the scan: a clean one.
        moto.queue_scans(
            &repo,
            vec![peer::scan_result(
                "COMPLETE",
                peer::low_basic_findings(1),
                vec![],
                json!({"MEDIUM": 1}),
            )],
        );
        let (code, out, err) = run(&mut cmd);
        assert_eq!(code, 0, "helm {major}: {out}{err}");
        assert_eq!(moto.calls(&cluster)["calls"]["DescribeCluster"], 1);
        let log = fake.log();
        assert!(!log.is_empty());
        // bbgate's kube client sent EKS tokens. (client-go, inside helm, sends no credentials at all over
        // plain HTTP, which is all the fake speaks; helm's exec kubeconfig is checked in src/deploy/eks.rs.)
        let (helm_calls, ours): (Vec<_>, Vec<_>) = log.iter().partition(|l| l.user_agent.starts_with("Helm"));
        assert!(
            !helm_calls.is_empty() && !ours.is_empty(),
            "both helm and bbgate talked to the cluster"
        );
        assert!(
            ours.iter().all(|l| l.authorization.starts_with("Bearer k8s-aws-v1.")),
            "helm {major}: bbgate requests without an EKS token: {:?}",
            ours.iter()
                .filter(|l| !l.authorization.starts_with("Bearer k8s-aws-v1."))
                .map(|l| &l.path)
                .collect::<Vec<_>>()
        );
        assert!(
            log.iter()
                .any(|l| l.path.contains("dryRun") || l.method == "GET" && l.path.contains("/secrets"))
        );
        assert!(
            err.contains("bbgate[aws]: ") && err.contains("DescribeCluster: "),
            "{err}"
        );
        assert!(
            err.contains("bbgate[helm]: ") && err.contains(" -> exit 0 in "),
            "{err}"
        );
        assert!(
            err.contains("bbgate[kubernetes]: GET /api") && err.contains(" -> 200 in "),
            "{err}"
        );
        let text = format!("{out}{err}");
        assert!(
            !text.contains("k8s-aws-v1.") && !text.contains(peer::STATIC_SECRET),
            "a secret leaked"
        );
        let left: Vec<_> = std::fs::read_dir(&temp)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert!(left.is_empty(), "the temporary kubeconfig was removed: {left:?}");
    }
}

#[test]
fn a_release_stuck_in_pending_upgrade_is_refused_with_the_command_that_clears_it() {
    let (fake, tmp, ev) = ready();
    fake.put(
        json!({"apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1",
        "metadata": {"name": "sh.helm.release.v1.emu.3", "namespace": NS,
            "labels": {"owner": "helm", "name": "emu", "status": "pending-upgrade", "version": "3"}},
        "data": {"release": ""}}),
    );
    let (code, out, err) = run(&mut deploy(&fake, tmp.path(), 4, &ev, CHART));
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("release emu is stuck in pending-upgrade at revision 3")
            && out.contains("`helm rollback emu 2 -n paymenthub`"),
        "{out}"
    );
    assert!(fake.writes().is_empty());
}

#[test]
fn pods_that_need_more_than_the_quota_has_left_are_refused() {
    let (fake, tmp, ev) = ready();
    // 30 replicas of 100m/128Mi requests and 500m/256Mi limits, plus the test hook's pod: 3.1 cpu requested
    // where the quota has 2 left, and 15.5 cpu of limits where it has 4.
    let (code, out, err) = run(&mut deploy_with_values(&fake, tmp.path(), 3, &ev, "replicaCount: 30\n"));
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("the chart's pods need requests.cpu 3100m in all, but ResourceQuota bb-quota has 2000m left"),
        "{out}"
    );
    assert!(
        out.contains("limits.cpu 15500m in all, but ResourceQuota bb-quota has 4000m left"),
        "{out}"
    );
    assert!(
        out.starts_with("REFUSED: 2 problem(s)"),
        "memory (3968Mi of 4096Mi) still fits: {out}"
    );
    assert!(fake.writes().is_empty());
}

/// The attack of issue 11: verify denied (a critical, and a finding needing a sign-off), then the BB's own job
/// rewrote verdict, outcomes and reasons to a pass and recomputed `body_sha256` itself (serde_json + sha2 here,
/// not bbgate's code). Returns the forged evidence; the denied scan's pages are in `dir/pages`.
fn forged_pass(dir: &Path, repository: &str) -> PathBuf {
    use sha2::{Digest, Sha256};
    let pages = fresh_scan_of(
        dir,
        repository,
        vec![
            basic_finding("CVE-2026-0001", "openssl", "9.8", "CRITICAL"),
            basic_finding("CVE-2026-0002", "glibc", "7.5", "HIGH"),
        ],
    );
    let ev = dir.join("evidence.json");
    let (code, out, err) = run(bbgate()
        .args(["verify", "--findings", pages.to_str().unwrap(), "--api-report", REPORT])
        .args(["--registry", REGISTRY, "--evidence", ev.to_str().unwrap()]));
    assert_eq!(code, 1, "the honest decision is a deny: {out}{err}");
    let mut doc: Value = serde_json::from_slice(&std::fs::read(&ev).unwrap()).unwrap();
    assert_eq!(doc["body"]["verdict"], "deny");
    let body = &mut doc["body"];
    body["verdict"] = json!("pass");
    body["reasons"] = json!([]);
    for f in body["images"][0]["findings"].as_array_mut().unwrap() {
        f["outcome"] = json!("allowed");
    }
    let canonical = serde_json::to_vec(&doc["body"]).unwrap();
    doc["integrity"]["body_sha256"] = json!(hex::encode(Sha256::digest(&canonical)));
    std::fs::write(&ev, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    ev
}

#[test]
fn a_deny_rewritten_to_a_pass_and_resealed_is_refused_by_deploys_own_decision() {
    let fake = FakeKube::start(true);
    fake.sandbox_namespace(NS);
    let tmp = tempfile::tempdir().unwrap();
    let ev = forged_pass(tmp.path(), "bb/payments/adapter");
    for extra in [&[][..], &["--dry-run"][..]] {
        let mut cmd = deploy(&fake, tmp.path(), 4, &ev, CHART);
        cmd.args(extra);
        let (code, out, err) = run(&mut cmd);
        assert_eq!(code, 1, "{extra:?}: {out}{err}");
        // The forgery is consistent (its digest matches): what refuses it is deploy's own decision.
        assert!(!err.contains("does not match its digest"), "{err}");
        assert!(
            err.contains("deploy decided again under the admins' policy (scan from saved-pages) and denies"),
            "{err}"
        );
        assert!(err.contains("CVE-2026-0001") && err.contains("CVE-2026-0002"), "{err}");
    }
    assert!(fake.log().is_empty(), "refused before the cluster: {:?}", fake.log());

    // With AWS access the scan comes from ECR (the moto peer), whatever pages the job saved: the same refusal.
    let moto = peer::Moto::get();
    let repo = peer::unique("bb/payments/forged");
    let dir = tmp.path().join("aws");
    std::fs::create_dir_all(&dir).unwrap();
    let ev = forged_pass(&dir, &repo);
    moto.queue_scans(
        &repo,
        vec![peer::scan_result(
            "COMPLETE",
            vec![
                basic_finding("CVE-2026-0001", "openssl", "9.8", "CRITICAL"),
                basic_finding("CVE-2026-0002", "glibc", "7.5", "HIGH"),
            ],
            vec![],
            json!({"CRITICAL": 1, "HIGH": 1}),
        )],
    );
    let mut cmd = deploy(&fake, &dir, 4, &ev, CHART);
    peer::with_moto(&mut cmd, &moto);
    cmd.args(["--recheck-scan", "--poll-interval", "100ms", "--dry-run"]);
    let (code, out, err) = run(&mut cmd);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("deploy decided again under the admins' policy (scan from ecr) and denies")
            && err.contains("CVE-2026-0001"),
        "{err}"
    );
    assert!(fake.log().is_empty(), "refused before the cluster: {:?}", fake.log());
}

#[test]
fn only_the_admins_pinned_signoffs_count_at_deploy() {
    let fake = FakeKube::start(true);
    fake.sandbox_namespace(NS);
    let tmp = tempfile::tempdir().unwrap();
    let pages = fresh_scan(tmp.path(), vec![basic_finding("CVE-2026-0002", "glibc", "7.5", "HIGH")]);
    // The BB writes its own sign-off, naming an admin as approver: verify (the BB's job) passes with it.
    let own = tmp.path().join("bb-signoffs.toml");
    signoff_file(&own, "CVE-2026-0002", "glibc");
    let ev = tmp.path().join("evidence.json");
    let (code, out, err) = run(bbgate()
        .args(["verify", "--findings", pages.to_str().unwrap(), "--api-report", REPORT])
        .args(["--signoffs", own.to_str().unwrap()])
        .args(["--registry", REGISTRY, "--evidence", ev.to_str().unwrap()]));
    assert_eq!(code, 0, "{out}{err}");

    // Deploy without the admins' sign-offs: the finding needs one, so it denies.
    let mut cmd = deploy(&fake, tmp.path(), 4, &ev, CHART);
    cmd.arg("--dry-run");
    let (code, out, err) = run(&mut cmd);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("and denies") && err.contains("CVE-2026-0002"), "{err}");

    // The BB's file handed to deploy, unpinned: refused as input.
    let mut cmd = deploy(&fake, tmp.path(), 4, &ev, CHART);
    cmd.args(["--dry-run", "--signoffs", own.to_str().unwrap()]);
    let (code, out, err) = run(&mut cmd);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("is not pinned by BBGATE_SIGNOFFS_SHA256"), "{err}");

    // The admins' reviewed file, pinned in their context: the deploy goes on (the positive control).
    let admins = tmp.path().join("admins-signoffs.toml");
    std::fs::copy(&own, &admins).unwrap();
    let mut cmd = deploy(&fake, tmp.path(), 4, &ev, CHART);
    cmd.env("BBGATE_SIGNOFFS_SHA256", sha256_file(&admins))
        .args(["--dry-run", "--signoffs", admins.to_str().unwrap()]);
    let (code, out, err) = run(&mut cmd);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("CHECKED"), "{out}");
}

#[test]
fn deploy_refuses_an_unpinned_policy_file_and_inputs_other_than_the_evidences() {
    let (fake, tmp, ev) = ready();
    // A policy file the job chose, not pinned by the admins.
    let weak = policy_with(
        tmp.path(),
        "service_types = [\"ClusterIP\"]",
        "service_types = [\"ClusterIP\", \"LoadBalancer\"]",
    );
    let mut cmd = deploy(&fake, tmp.path(), 4, &ev, CHART);
    cmd.args(["--dry-run", "--policy", weak.to_str().unwrap()]);
    let (code, _, err) = run(&mut cmd);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("a policy file must be pinned: set BBGATE_POLICY_SHA256"),
        "{err}"
    );
    // Pinned to another file: both hashes named.
    let mut cmd = deploy(&fake, tmp.path(), 4, &ev, CHART);
    cmd.env("BBGATE_POLICY_SHA256", "ab".repeat(32))
        .args(["--dry-run", "--policy", weak.to_str().unwrap()]);
    let (code, _, err) = run(&mut cmd);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!(
            "has sha256 {}, but BBGATE_POLICY_SHA256 pins {}",
            sha256_file(&weak),
            "ab".repeat(32)
        )),
        "{err}"
    );

    // Another API report than the one the evidence names.
    let pages = tmp.path().join("pages");
    let (code, _, err) = run(bare_deploy(&fake, tmp.path(), &ev).args([
        "--findings",
        pages.to_str().unwrap(),
        "--api-report",
        "../shared/fixtures-upstream/cucumber-cck-messages/all-statuses.ndjson",
    ]));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--api-report ../shared/fixtures-upstream/cucumber-cck-messages/all-statuses.ndjson: sha256"),
        "{err}"
    );
    assert!(
        err.contains(
            "the evidence names API test reports ../shared/fixtures-upstream/cucumber-cck-messages/minimal.ndjson"
        ),
        "{err}"
    );

    // Pages other than the evidence's (another scan of the same image).
    let other = fresh_scan(&tmp.path().join("other"), peer::low_basic_findings(3));
    let (code, _, err) =
        run(bare_deploy(&fake, tmp.path(), &ev).args(["--findings", other.to_str().unwrap(), "--api-report", REPORT]));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("is not one of the findings pages the evidence names"),
        "{err}"
    );

    // No scan source at all.
    let (code, _, err) = run(bare_deploy(&fake, tmp.path(), &ev).args(["--api-report", REPORT]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("deploy decides again and needs the image's scan"), "{err}");
    assert!(fake.log().is_empty(), "{:?}", fake.log());
}

/// The independent DSSE check: Python's `cryptography` (in the moto peer's venv) with the PAE written here.
const DSSE_CHECK: &str = r#"
import base64, json, sys
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives import hashes
env = json.load(open(sys.argv[1]))
key = load_pem_public_key(open(sys.argv[2], "rb").read())
payload = base64.b64decode(env["payload"])
t = env["payloadType"].encode()
pae = b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)
key.verify(base64.b64decode(env["signatures"][0]["sig"]), pae, ec.ECDSA(hashes.SHA256()))
st = json.loads(payload)
print(st["predicate"]["status"], st["subject"][0]["digest"]["sha256"], st["predicate"]["record"]["sha256"])
"#;

#[test]
fn deploys_attestation_is_signed_with_kms_and_verifies_offline_with_bbgate_and_an_independent_verifier() {
    use base64::Engine;
    let moto = peer::Moto::get();
    let key = moto.kms(
        "CreateKey",
        json!({"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY", "Description": "bbgate deploy attestations"}),
    );
    let key_id = key["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
    let public = moto.kms("GetPublicKey", json!({"KeyId": key_id}));
    let der = base64::engine::general_purpose::STANDARD
        .decode(public["PublicKey"].as_str().unwrap())
        .unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(&der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    let (fake, tmp, ev) = ready();
    let pem = tmp.path().join("deploy-key.pem");
    std::fs::write(
        &pem,
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            lines.join("\n")
        ),
    )
    .unwrap();

    let mut cmd = deploy(&fake, tmp.path(), 4, &ev, CHART);
    peer::with_moto(&mut cmd, &moto);
    cmd.args(["--kms-key-id", &key_id]);
    let (code, out, err) = run(&mut cmd);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!format!("{out}{err}").contains(peer::STATIC_SECRET));
    let att = tmp.path().join("deploy-attestation.dsse.json");
    let record_path = tmp.path().join("deploy-record.json");
    let record: Value = serde_json::from_slice(&std::fs::read(&record_path).unwrap()).unwrap();
    assert_eq!(record["attestation"], json!(att.display().to_string()));
    assert_eq!(record["decision"]["verdict"], "pass");
    assert_eq!(record["decision"]["scan_source"], "saved-pages");

    // bbgate's own check.
    let verify = |file: &Path| {
        run(bbgate().args([
            "attest",
            "verify",
            "--key",
            pem.to_str().unwrap(),
            file.to_str().unwrap(),
        ]))
    };
    let (code, out, err) = verify(&att);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with(&format!("VERIFIED: {}", att.display())), "{out}");
    assert!(
        out.contains("predicate: https://govstack.global/sandbox/bbgate/deploy/v1") && out.contains("status: deployed"),
        "{out}"
    );

    // The independent check, which also ties the statement to the image and to the record's bytes.
    let python = std::env::var("BBGATE_TEST_PYTHON").expect("BBGATE_TEST_PYTHON: run the suite with scripts/test");
    let independent = |file: &Path| {
        std::process::Command::new(&python)
            .args(["-c", DSSE_CHECK, file.to_str().unwrap(), pem.to_str().unwrap()])
            .output()
            .unwrap()
    };
    let out = independent(&att);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("deployed {} {}", "a1".repeat(32), sha256_file(&record_path))
    );

    // One byte of the signed statement changed: both checks fail.
    let mut envelope: Value = serde_json::from_slice(&std::fs::read(&att).unwrap()).unwrap();
    let mut payload = base64::engine::general_purpose::STANDARD
        .decode(envelope["payload"].as_str().unwrap())
        .unwrap();
    let at = payload.windows(8).position(|w| w == b"deployed").unwrap();
    payload[at] = b'D';
    envelope["payload"] = json!(base64::engine::general_purpose::STANDARD.encode(&payload));
    let altered = tmp.path().join("altered.dsse.json");
    std::fs::write(&altered, serde_json::to_vec_pretty(&envelope).unwrap()).unwrap();
    let (code, out, err) = verify(&altered);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("no signature verifies with this key"), "{err}");
    let out = independent(&altered);
    assert!(
        !out.status.success(),
        "the independent verifier accepted an altered statement"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("InvalidSignature"));
}

/// A chart written as an attacker would, to slip past a guard that read YAML 1.2 or missed a kind: each
/// document a case of issue 12 that gave CHECKED at 8816b73.
const TRICKS: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: yaml11, labels: {app.kubernetes.io/name: t}}
spec:
  replicas: 1_000
  selector: {matchLabels: {app: yaml11}}
  template:
    metadata: {labels: {app: yaml11}}
    spec:
      hostNetwork: yes
      hostPID: Y
      securityContext: {runAsNonRoot: true}
      containers:
      - name: main
        image: {{ .Values.image.ref | quote }}
        securityContext: {privileged: On}
        ports: [{containerPort: 80, hostPort: 8_080}]
        resources: {requests: {cpu: 100m, memory: 64Mi}, limits: {cpu: 100m, memory: 64Mi}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: merged, labels: {app.kubernetes.io/name: t}}
spec:
  selector: {matchLabels: {app: merged}}
  template:
    metadata: {labels: {app: merged}}
    spec:
      <<: {hostNetwork: true}
      securityContext: {runAsNonRoot: true}
      containers:
      - name: main
        image: {{ .Values.image.ref | quote }}
        resources: {requests: {cpu: 10m, memory: 16Mi}, limits: {cpu: 10m, memory: 16Mi}}
---
apiVersion: v1
kind: Pod
metadata:
  name: hook-test
  annotations: {helm.sh/hook: test}
spec:
  hostNetwork: on
  securityContext: {runAsNonRoot: true}
  restartPolicy: Never
  containers:
  - name: probe
    image: {{ .Values.image.ref | quote }}
    resources: {requests: {cpu: 10m, memory: 16Mi}, limits: {cpu: 10m, memory: 16Mi}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-all}
spec:
  podSelector: {}
  ingress: [{}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: ports-only}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress: [{ports: [{port: 5432}]}]
---
apiVersion: v1
kind: Service
metadata: {name: exposed}
spec:
  type: ClusterIP
  externalIPs: [203.0.113.10]
  ports: [{port: 80}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: god-mode}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{kind: ServiceAccount, name: default, namespace: paymenthub}, {kind: ServiceAccount, name: spy, namespace: im-xroad}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: caps, labels: {app.kubernetes.io/name: t}}
spec:
  selector: {matchLabels: {app: caps}}
  template:
    metadata: {labels: {app: caps}}
    spec:
      securityContext: {runAsNonRoot: true, seccompProfile: {type: Unconfined}}
      containers:
      - name: main
        image: {{ .Values.image.ref | quote }}
        securityContext:
          allowPrivilegeEscalation: true
          capabilities: {add: [SYS_ADMIN, NET_ADMIN, SYS_PTRACE]}
          procMount: Unmasked
        resources: {requests: {cpu: 10m, memory: 16Mi}, limits: {cpu: 10m, memory: 16Mi}}
      - name: sidecar
        image: 123456789012.dkr.ecr.eu-central-1.amazonaws.com/bb/im/xroad-security-server@sha256:b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2
        securityContext: {runAsNonRoot: true}
        resources: {requests: {cpu: 10m, memory: 16Mi}, limits: {cpu: 10m, memory: 16Mi}}
---
apiVersion: elbv2.k8s.aws/v1beta1
kind: TargetGroupBinding
metadata: {name: public}
spec:
  serviceRef: {name: exposed, port: 80}
  targetGroupARN: arn:aws:elasticloadbalancing:eu-central-1:123456789012:targetgroup/bb/0123456789abcdef
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly, labels: {app.kubernetes.io/name: t}}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          initContainers:
          - name: as-root
            image: {{ .Values.image.ref | quote }}
            resources: {requests: {cpu: 10m, memory: 16Mi}, limits: {cpu: 10m, memory: 16Mi}}
          containers:
          - name: job
            image: {{ .Values.image.ref | quote }}
            securityContext: {runAsNonRoot: true}
            resources: {requests: {cpu: 10m, memory: 16Mi}, limits: {cpu: 10m, memory: 16Mi}}
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMapList
  items:
  - {apiVersion: v1, kind: ConfigMap, metadata: {name: smuggled, namespace: kube-system}}
"#;

#[test]
fn a_chart_of_yaml_1_1_spellings_and_isolation_gaps_is_refused_with_each_named() {
    let (fake, tmp, ev) = ready();
    let chart = tmp.path().join("tricks");
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    std::fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: tricks\nversion: 0.1.0\n",
    )
    .unwrap();
    std::fs::write(chart.join("values.yaml"), "image: {ref: \"\"}\n").unwrap();
    std::fs::write(chart.join("templates/all.yaml"), TRICKS).unwrap();
    for major in [3, 4] {
        let mut cmd = deploy(&fake, tmp.path(), major, &ev, chart.to_str().unwrap());
        cmd.arg("--dry-run");
        let (code, out, err) = run(&mut cmd);
        assert_eq!(code, 1, "helm {major}: {out}{err}");
        assert!(!out.contains("CHECKED"), "{out}");
        for expected in [
            "Deployment/yaml11 (tricks/templates/all.yaml): hostNetwork: true",
            "Deployment/yaml11 (tricks/templates/all.yaml): hostPID: true",
            "Deployment/yaml11 (tricks/templates/all.yaml): container \"main\" is privileged",
            "container \"main\" opens hostPort 8080",
            "the chart's pods need requests.cpu",
            "Deployment/merged (tricks/templates/all.yaml): hostNetwork: true",
            "Pod/hook-test (tricks/templates/all.yaml): hostNetwork: true",
            "NetworkPolicy/allow-all (tricks/templates/all.yaml): NetworkPolicy allow-all: ingress rule 1 has no `from`",
            "NetworkPolicy/ports-only (tricks/templates/all.yaml): NetworkPolicy ports-only: ingress rule 1 has no `from`",
            "Service/exposed (tricks/templates/all.yaml): externalIPs route traffic",
            "RoleBinding/god-mode (tricks/templates/all.yaml): binds ClusterRole \"cluster-admin\"",
            "grants to ServiceAccount im-xroad/spy, of another namespace",
            "container \"main\" sets allowPrivilegeEscalation: true",
            "container \"main\" adds capabilities SYS_ADMIN, NET_ADMIN, SYS_PTRACE",
            "the pod's seccompProfile is Unconfined",
            "sets procMount: Unmasked",
            "container \"sidecar\" runs 123456789012.dkr.ecr.eu-central-1.amazonaws.com/bb/im/xroad-security-server@sha256:b2b2",
            "an image of building block information-mediator",
            "TargetGroupBinding/public (tricks/templates/all.yaml): a TargetGroupBinding exposes the BB",
            "CronJob nightly: container \"as-root\" must set securityContext.runAsNonRoot: true",
            "ConfigMap/smuggled (tricks/templates/all.yaml): sets namespace \"kube-system\"",
        ] {
            assert!(out.contains(expected), "helm {major}: missing {expected:?} in:\n{out}");
        }
        assert!(fake.writes().is_empty(), "{:?}", fake.writes());
    }
}

/// Lists nested deeper than helm's builder is trusted to flatten are refused by what they are, at deploy as in
/// `chart check`: before the cluster's render, which would fail on the list kind and hide the cause.
#[test]
fn lists_nested_too_deep_are_refused_as_such_at_deploy_not_as_a_kind_the_cluster_lacks() {
    let (fake, tmp, ev) = ready();
    let chart = tmp.path().join("deep");
    copy_dir(Path::new(CHART), &chart);
    let mut deep = "{apiVersion: v1, kind: ConfigMap, metadata: {name: x}}".to_owned();
    for _ in 0..17 {
        deep = format!("{{apiVersion: v1, kind: List, items: [{deep}]}}");
    }
    std::fs::write(chart.join("templates/deep.yaml"), format!("{deep}\n")).unwrap();
    for major in [3, 4] {
        let mut cmd = deploy(&fake, tmp.path(), major, &ev, chart.to_str().unwrap());
        cmd.arg("--dry-run");
        let (code, out, err) = run(&mut cmd);
        assert_eq!(code, 2, "helm {major}: {out}{err}");
        assert!(
            err.contains("templates/deep.yaml: lists nested deeper than 16 levels"),
            "helm {major}: {out}{err}"
        );
        assert!(!format!("{out}{err}").contains("does not serve"), "{out}{err}");
    }
    // Control: 16 levels are flattened and the ConfigMap at the bottom is judged like any other.
    let mut ok = "{apiVersion: v1, kind: ConfigMap, metadata: {name: x}}".to_owned();
    for _ in 0..16 {
        ok = format!("{{apiVersion: v1, kind: List, items: [{ok}]}}");
    }
    std::fs::write(chart.join("templates/deep.yaml"), format!("{ok}\n")).unwrap();
    let mut cmd = deploy(&fake, tmp.path(), 4, &ev, chart.to_str().unwrap());
    cmd.arg("--dry-run");
    let (code, out, err) = run(&mut cmd);
    assert!(!err.contains("nested deeper"), "{out}{err}");
    assert!(!format!("{out}{err}").contains("does not serve"), "{code} {out}{err}");
}

#[test]
fn what_the_api_server_would_store_is_judged_admission_included() {
    // A mutating admission stand-in puts every Deployment's pods on the node's network: the rendered text is
    // clean, what would be stored is not.
    let (fake, tmp, ev) = ready();
    fake.set_admission(
        "Deployment",
        json!({"spec": {"template": {"spec": {"hostNetwork": true}}}}),
    );
    let mut cmd = deploy(&fake, tmp.path(), 4, &ev, CHART);
    cmd.arg("--dry-run");
    let (code, out, err) = run(&mut cmd);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("Deployment/emu-emulator (payments-emulator/templates/deployment.yaml): hostNetwork: true"),
        "{out}"
    );
    // The dry runs were sent (the probe sees them) and wrote nothing.
    assert!(
        fake.log()
            .iter()
            .any(|l| l.method == "PATCH" && l.path.contains("dryRun=All")),
        "{:?}",
        fake.log()
    );
    assert!(fake.writes().is_empty(), "{:?}", fake.writes());
    assert!(fake.get("Deployment", NS, "emu-emulator").is_none());

    // Without the mutation the same chart is CHECKED, through the same dry runs.
    let (fake, tmp, ev) = ready();
    let mut cmd = deploy(&fake, tmp.path(), 4, &ev, CHART);
    cmd.arg("--dry-run");
    let (code, out, err) = run(&mut cmd);
    assert_eq!(code, 0, "{out}{err}");
    assert!(fake.log().iter().any(|l| l.path.contains("dryRun=All")));
}

#[test]
fn the_test_doors_are_shut_no_clock_flag_and_no_api_url_from_the_environment() {
    let (fake, tmp, ev) = ready();
    // deploy takes the system clock: there is no --now to make old evidence look fresh.
    let mut cmd = deploy(&fake, tmp.path(), 4, &ev, CHART);
    cmd.args(["--dry-run", "--now", "2026-01-01T00:00:00Z"]);
    let (code, _, err) = run(&mut cmd);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("unexpected argument '--now'"), "{err}");

    // The approval check's API: an environment variable naming a stand-in that "approves" is ignored, and the
    // stand-in never receives CIRCLE_TOKEN; the flag accepts only CircleCI's host or loopback.
    let (api, tokens) = circleci_api("u-admin");
    let workflow = "5a1c7b6e-0000-4000-8000-000000000077";
    let (policy, ev) = approvers_evidence(tmp.path(), workflow);
    let mut cmd = deploy(&fake, tmp.path(), 4, &ev, CHART);
    cmd.env("CIRCLE_WORKFLOW_ID", workflow)
        .env("CIRCLE_TOKEN", "circle-token-never-sent-elsewhere")
        .env("CIRCLECI_API_URL", &api)
        .env("BBGATE_POLICY_SHA256", sha256_file(&policy))
        .args([
            "--policy",
            policy.to_str().unwrap(),
            "--circleci-api-url",
            "http://127.0.0.1:1/api/v2",
        ]);
    let (code, out, err) = run(&mut cmd);
    assert_eq!(code, 3, "{out}{err}");
    assert!(err.contains("cannot reach the CircleCI API"), "{err}");
    assert!(tokens.lock().unwrap().is_empty(), "the environment's URL was used");
    let mut cmd = deploy(&fake, tmp.path(), 4, &ev, CHART);
    cmd.args(["--circleci-api-url", "http://collector.example/api/v2"]);
    let (code, _, err) = run(&mut cmd);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("the CircleCI API is https://circleci.com/api/v2"), "{err}");
}

/// A stand-in for the CircleCI API that answers every request with `status` and `body`, and counts them.
fn api_answering(status: u16, body: Value) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let (base, hits) = http_stand_in(status, body.to_string().into_bytes());
    (format!("{base}/api/v2"), hits)
}

#[test]
fn every_way_the_approval_check_can_fail_refuses_the_deploy_with_its_reason() {
    let (fake, tmp, _) = ready();
    let workflow = "5a1c7b6e-0000-4000-8000-000000000099";
    let (policy, ev) = approvers_evidence(tmp.path(), workflow);
    let attempt = |env: &[(&str, &str)], api: &str| {
        let mut cmd = deploy(&fake, tmp.path(), 4, &ev, CHART);
        cmd.env("BBGATE_POLICY_SHA256", sha256_file(&policy)).args([
            "--policy",
            policy.to_str().unwrap(),
            "--circleci-api-url",
            api,
        ]);
        for (k, v) in env {
            cmd.env(k, v);
        }
        run(&mut cmd)
    };
    let in_ci = [("CIRCLE_WORKFLOW_ID", workflow), ("CIRCLE_TOKEN", "tok-never-printed")];
    // No CIRCLE_TOKEN: invalid configuration, before any call.
    let (api, hits) = api_answering(200, json!({}));
    let (code, _, err) = attempt(&[("CIRCLE_WORKFLOW_ID", workflow)], &api);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("[deploy] approvers is set, but CIRCLE_TOKEN is not"),
        "{err}"
    );
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 0);
    // Outside CircleCI (no workflow id): refused, before any call.
    let (code, _, err) = attempt(&[("CIRCLE_TOKEN", "tok-never-printed")], &api);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("but CIRCLE_WORKFLOW_ID is not"), "{err}");
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 0);
    // The API refuses the token, or is down: could not decide (3), nothing installed.
    for status in [401, 403, 404, 500, 503] {
        let (api, _) = api_answering(status, json!({"message": "no"}));
        let (code, out, err) = attempt(&in_ci, &api);
        assert_eq!(code, 3, "{status}: {out}{err}");
        assert!(
            err.contains(&format!("the CircleCI API answered {status}")),
            "{status}: {err}"
        );
        assert!(!format!("{out}{err}").contains("tok-never-printed"));
    }
    // No approved approval job.
    let (api, _) = api_answering(
        200,
        json!({"items": [{"name": "hold-deploy", "type": "approval", "status": "on_hold"}], "next_page_token": null}),
    );
    let (code, _, err) = attempt(&in_ci, &api);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("has no approved approval job (1 found)"), "{err}");
    // An answer that is not the job list.
    let (api, _) = api_answering(200, json!({"unexpected": true}));
    let (code, _, err) = attempt(&in_ci, &api);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("job list has no items"), "{err}");
    assert!(fake.writes().is_empty(), "{:?}", fake.writes());
}

#[test]
fn a_failing_helm_test_fails_the_deploy_and_the_record_says_so() {
    for major in [3, 4] {
        let (fake, tmp, ev) = ready();
        fake.fail_tests();
        let (code, out, err) = run(&mut deploy(&fake, tmp.path(), major, &ev, CHART));
        assert_eq!(code, 1, "helm {major}: {out}{err}");
        assert!(out.contains("helm test emu failed"), "helm {major}: {out}");
        let record: Value =
            serde_json::from_slice(&std::fs::read(tmp.path().join("deploy-record.json")).unwrap()).unwrap();
        assert_eq!(
            (record["status"].as_str(), record["tests"].as_str()),
            (Some("failed"), Some("failed"))
        );
    }
}

// ---- Releases of several images: verify --chart, the post-renderer, chart check ----

const RELEASE_CHART: &str = "fixtures/charts/payments-release";

/// The five images the release chart runs, as the sandbox's ECR holds them: (repository, tag).
const RELEASE_IMAGES: [(&str, &str); 5] = [
    ("bb/payments/adapter", "1.5.0"),
    ("docker-hub/library/busybox", "1.36"),
    ("bb/payments/emulator", "1.0.0"),
    ("docker-hub/library/postgres", "16.4"),
    ("bb/payments/db-migrate", "2.0.1"),
];

fn release_digest(i: usize) -> String {
    format!("sha256:{}", format!("{:02x}", 0xc0 + i).repeat(32))
}

/// Saved pages of every image of the release chart in `dir/release-pages`, each clean but for `extra`'s
/// findings on the image of repository `extra.0`.
fn release_pages(dir: &Path, extra: Option<(&str, Vec<Value>)>) -> PathBuf {
    let pages = dir.join("release-pages");
    std::fs::create_dir_all(&pages).unwrap();
    for (i, (repo, tag)) in RELEASE_IMAGES.iter().enumerate() {
        let mut findings = peer::low_basic_findings(1);
        if let Some((r, f)) = &extra
            && r == repo
        {
            findings.extend(f.iter().cloned());
        }
        let page = scan_page(repo, &release_digest(i), tag, findings, 1);
        std::fs::write(
            pages.join(format!("{i}.json")),
            serde_json::to_vec_pretty(&page).unwrap(),
        )
        .unwrap();
    }
    pages
}

fn verify_release(pages: &Path, evidence: &Path, extra: &[&str]) -> (i32, Value) {
    run_json(
        bbgate()
            .args(["verify", "--chart", RELEASE_CHART, "--helm", &helm(3)])
            .args(["--findings", pages.to_str().unwrap(), "--api-report", REPORT])
            .args(["--registry", REGISTRY, "--evidence", evidence.to_str().unwrap()])
            .args(extra),
    )
}

/// `bbgate deploy` of the release chart as `pay`, deciding again on `pages`, at the fake with helm `major`.
fn deploy_release(fake: &FakeKube, dir: &Path, major: u8, ev: &Path, pages: &Path) -> assert_cmd::Command {
    deploy_chart(fake, dir, major, ev, pages, RELEASE_CHART)
}

/// `deploy_release` of another chart.
fn deploy_chart(fake: &FakeKube, dir: &Path, major: u8, ev: &Path, pages: &Path, chart: &str) -> assert_cmd::Command {
    let mut cmd = deploy_of(ev, chart);
    cmd.args(["--release", "pay"])
        .env("HELM_CACHE_HOME", dir.join("helm-cache"))
        .env("HELM_CONFIG_HOME", dir.join("helm-config"))
        .env("HELM_DATA_HOME", dir.join("helm-data"))
        .args([
            "--findings",
            pages.to_str().unwrap(),
            "--api-report",
            REPORT,
            "--timeout",
            "60s",
        ])
        .args([
            "--helm",
            &helm(major),
            "--helm-sha256",
            &helm_pin(major),
            "--kubeconfig",
            fake.kubeconfig(dir).to_str().unwrap(),
        ]);
    cmd
}

/// A fresh fake cluster with the BB's namespace ready, a scratch directory, and the release's saved pages in it.
fn release_scene() -> (Handle, tempfile::TempDir, PathBuf) {
    let fake = FakeKube::start(true);
    fake.sandbox_namespace(NS);
    let tmp = tempfile::tempdir().unwrap();
    let pages = release_pages(tmp.path(), None);
    (fake, tmp, pages)
}

#[test]
fn a_chart_release_verifies_to_one_evidence_and_deploys_every_container_pinned_with_helm_3_and_4() {
    for major in [3, 4] {
        let fake = FakeKube::start(true);
        fake.sandbox_namespace(NS);
        let tmp = tempfile::tempdir().unwrap();
        let pages = release_pages(tmp.path(), None);
        let ev = tmp.path().join("evidence.json");
        let (code, v) = verify_release(&pages, &ev, &[]);
        assert_eq!(code, 0, "{v}");
        let refs: Vec<&str> = v["images"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["ref"].as_str().unwrap())
            .collect();
        assert_eq!(
            refs,
            [
                format!("{REGISTRY}/bb/payments/adapter:1.5.0").as_str(),
                "busybox:1.36",
                &format!("{REGISTRY}/bb/payments/emulator:1.0.0"),
                "postgres:16.4",
                &format!("{REGISTRY}/bb/payments/db-migrate:2.0.1"),
            ]
        );
        assert_eq!(v["chart"]["name"], "payments-release");
        let body: Value = serde_json::from_slice(&std::fs::read(&ev).unwrap()).unwrap();
        let judged: Vec<String> = body["body"]["images"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                format!(
                    "{}/{}@{}",
                    i["registry"].as_str().unwrap(),
                    i["repository"].as_str().unwrap(),
                    i["digest"].as_str().unwrap()
                )
            })
            .collect();
        let want: Vec<String> = RELEASE_IMAGES
            .iter()
            .enumerate()
            .map(|(i, (r, _))| format!("{REGISTRY}/{r}@{}", release_digest(i)))
            .collect();
        assert_eq!(judged, want, "the evidence names every digest");

        // Deploy with no --set-image: the post-renderer pins every container, the hook's and the init's too.
        // helm 3 runs no post-renderer on hooks; bbgate pins the hooks itself and installs them as judged, so
        // helm 3 needs no --set-image for the hook's image either.
        let mut cmd = deploy_release(&fake, tmp.path(), major, &ev, &pages);
        let (code, out, err) = run(&mut cmd);
        assert_eq!(code, 0, "helm {major}: {out}{err}");
        let mut stored = fake.images(NS);
        stored.sort();
        stored.dedup();
        let mut want_stored = want.clone();
        want_stored.sort();
        // Every container stored, the hook's Job and the init container included, runs a judged digest.
        assert_eq!(stored, want_stored, "helm {major}");
    }
}

#[test]
fn a_critical_in_the_third_party_database_denies_the_release_naming_that_image() {
    let tmp = tempfile::tempdir().unwrap();
    let critical = basic_finding("CVE-2026-777", "libpq5", "9.8", "CRITICAL");
    let pages = release_pages(tmp.path(), Some(("docker-hub/library/postgres", vec![critical])));
    let (code, v) = verify_release(&pages, &tmp.path().join("ev.json"), &[]);
    assert_eq!(code, 1, "{v}");
    let denying: Vec<&str> = v["images"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["verdict"] == "deny")
        .map(|i| i["ref"].as_str().unwrap())
        .collect();
    assert_eq!(denying, ["postgres:16.4"]);
    assert_eq!(v["reasons"][0]["code"], "finding-blocked");
    assert_eq!(
        v["reasons"][0]["location"],
        format!("docker-hub/library/postgres@{}", release_digest(3))
    );
    // Wide enough that the reason with its image stays on one line.
    let (_, human, _) = run(bbgate()
        .args(["verify", "--chart", RELEASE_CHART, "--helm", &helm(3)])
        .args(["--findings", pages.to_str().unwrap(), "--api-report", REPORT])
        .env("COLUMNS", "240"));
    assert!(
        human.contains(&format!("DENY docker-hub/library/postgres@{}", release_digest(3)))
            && human.contains(&format!(
                "- docker-hub/library/postgres@{}: 1 finding(s) blocked",
                release_digest(3)
            )),
        "{human}"
    );
}

#[test]
fn the_saved_pages_of_a_release_replay_to_the_identical_decision_and_must_cover_every_image() {
    let tmp = tempfile::tempdir().unwrap();
    let pages = release_pages(tmp.path(), None);
    let now = ["--now", &jiff::Timestamp::now().to_string()];
    let (code, a) = verify_release(&pages, &tmp.path().join("a.json"), &now);
    let (code2, b) = verify_release(&pages, &tmp.path().join("b.json"), &now);
    assert_eq!((code, code2), (0, 0));
    assert_eq!(a, b);
    assert_eq!(
        std::fs::read(tmp.path().join("a.json")).unwrap(),
        std::fs::read(tmp.path().join("b.json")).unwrap(),
        "the evidence is byte-identical"
    );

    // One image's pages missing: refused naming the chart's image and the repository it needs.
    std::fs::remove_file(pages.join("3.json")).unwrap();
    let (code, out, err) = run(bbgate()
        .args(["verify", "--chart", RELEASE_CHART, "--helm", &helm(3)])
        .args(["--findings", pages.to_str().unwrap(), "--api-report", REPORT]));
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("postgres:16.4: no saved findings pages of repository docker-hub/library/postgres"),
        "{err}"
    );
}

#[test]
fn an_image_added_after_verify_is_refused_at_deploy_naming_object_and_container() {
    let (fake, tmp, pages) = release_scene();
    // Evidence of the release's images judged without the chart: the chart is judged by deploy's guard alone.
    let ev = tmp.path().join("evidence.json");
    let (code, out, err) = run(bbgate()
        .args(["verify", "--findings", pages.to_str().unwrap(), "--api-report", REPORT])
        .args(["--registry", REGISTRY, "--evidence", ev.to_str().unwrap()]));
    assert_eq!(code, 0, "{out}{err}");
    // The BB switches on the metrics sidecar at deploy: an image no one judged.
    let values = tmp.path().join("metrics.yaml");
    std::fs::write(
        &values,
        "global:\n  metricsImage: docker.io/prom/statsd-exporter:v0.26.0\n",
    )
    .unwrap();
    for major in [3, 4] {
        let mut cmd = deploy_release(&fake, tmp.path(), major, &ev, &pages);
        cmd.args(["--values", values.to_str().unwrap()])
            .args(["--set-image", "migrations.image=bb/payments/db-migrate"]);
        let (code, out, err) = run(&mut cmd);
        assert_eq!(code, 1, "helm {major}: {out}{err}");
        assert!(
            out.contains("Deployment/pay-adapter (payments-release/charts/adapter/templates/deployment.yaml): container \"metrics\" pulls docker.io/prom/statsd-exporter:v0.26.0 from docker.io, which the policy does not allow (allowed: 123456789012.dkr.ecr.eu-central-1.amazonaws.com; [deploy] registries), and is not an image the evidence judged"),
            "helm {major}: {out}"
        );
        assert!(out.contains("the evidence binds no chart"), "{out}");
        assert!(fake.writes().is_empty(), "nothing written");
    }
}

#[test]
fn a_template_values_file_or_subchart_changed_after_verify_is_refused_naming_the_file() {
    let fake = FakeKube::start(true);
    fake.sandbox_namespace(NS);
    let tmp = tempfile::tempdir().unwrap();
    let chart = tmp.path().join("payments-release");
    assert!(
        std::process::Command::new("cp")
            .args(["-r", RELEASE_CHART, chart.to_str().unwrap()])
            .status()
            .unwrap()
            .success()
    );
    let pages = release_pages(tmp.path(), None);
    let ev = tmp.path().join("evidence.json");
    let values = tmp.path().join("sandbox.yaml");
    std::fs::write(
        &values,
        "global:\n  resources:\n    requests: {cpu: 50m, memory: 64Mi}\n    limits: {cpu: 200m, memory: 128Mi}\n",
    )
    .unwrap();
    let (code, out, err) = run(bbgate()
        .args(["verify", "--chart", chart.to_str().unwrap(), "--helm", &helm(3)])
        .args(["--values", values.to_str().unwrap()])
        .args(["--findings", pages.to_str().unwrap(), "--api-report", REPORT])
        .args(["--registry", REGISTRY, "--evidence", ev.to_str().unwrap()]));
    assert_eq!(code, 0, "{out}{err}");
    let deploy = |extra: &[&str]| {
        let mut cmd = deploy_of(&ev, chart.to_str().unwrap());
        cmd.args(["--release", "pay", "--dry-run"])
            .env("HELM_CACHE_HOME", tmp.path().join("helm-cache"))
            .args(["--findings", pages.to_str().unwrap(), "--api-report", REPORT])
            .args([
                "--helm",
                &helm(4),
                "--helm-sha256",
                &helm_pin(4),
                "--kubeconfig",
                fake.kubeconfig(tmp.path()).to_str().unwrap(),
            ])
            .args(extra);
        run(&mut cmd)
    };
    // The control: the same chart and values pass.
    let (code, out, err) = deploy(&["--values", values.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("CHECKED"), "{out}");

    // Without the values file, or with another one: refused, naming what verify judged.
    let (code, _, err) = deploy(&[]);
    assert_eq!(code, 1);
    assert!(
        err.contains("--values: deploy was given 0 values file(s)") && err.contains("sandbox.yaml"),
        "{err}"
    );

    // A template edited, a subchart's values edited and a file added: each named.
    let template = chart.join("charts/adapter/templates/deployment.yaml");
    let edited = std::fs::read_to_string(&template)
        .unwrap()
        .replace("replicas: 1", "replicas: 2");
    std::fs::write(&template, edited).unwrap();
    std::fs::write(chart.join("charts/postgresql/values.yaml"), "image: postgres:17\n").unwrap();
    std::fs::write(chart.join("templates/extra.yaml"), "").unwrap();
    let (code, out, err) = deploy(&["--values", values.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}{err}");
    for named in [
        "charts/adapter/templates/deployment.yaml changed since verify judged it",
        "charts/postgresql/values.yaml changed since verify judged it",
        "templates/extra.yaml was added since verify judged it",
    ] {
        assert!(err.contains(named), "{named}: {err}");
    }
    assert!(fake.writes().is_empty(), "nothing written");
}

#[test]
fn chart_check_finds_what_deploy_dry_run_finds_without_a_cluster() {
    // Every chart of the suite that needs no cluster to render: every problem that does not need the cluster,
    // with the same code and message (the escaping chart has eleven; the other two none).
    let (fake, tmp, ev) = ready();
    let cluster_only = [
        "quota-exceeded",
        "api-server-refused",
        "namespace-missing",
        "release-stuck",
    ];
    let pick = |list: &Value, with_images: bool| -> Vec<String> {
        let mut v: Vec<String> = list
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| !cluster_only.contains(&p["code"].as_str().unwrap()))
            // chart check judges no digests: it lists the images instead of holding them to an evidence.
            .filter(|p| {
                with_images || !["image-not-judged", "registry-not-allowed"].contains(&p["code"].as_str().unwrap())
            })
            .map(|p| format!("{} {}", p["code"].as_str().unwrap(), p["message"].as_str().unwrap()))
            .collect();
        v.sort();
        v
    };
    for (chart, problems) in [
        ("fixtures/charts/escapes-namespace", 12),
        (CHART, 0),
        (RELEASE_CHART, 0),
    ] {
        let (_, out, err) = run(deploy(&fake, tmp.path(), 3, &ev, chart).args(["--dry-run", "--format", "json"]));
        let record: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{chart}: {e}: {out}{err}"));
        let (code, check) = run_json(bbgate().args(["chart", "check", chart, "--release", "emu", "--helm", &helm(3)]));
        assert_eq!(code, i32::from(problems > 0), "{chart}: {check}");
        assert_eq!(
            pick(&check["problems"], true),
            pick(&record["problems"], false),
            "{chart}"
        );
        assert_eq!(pick(&check["problems"], true).len(), problems, "{chart}");
    }

    // The release chart is clean and lists each third-party image with the reference the sandbox pulls.
    let (code, clean) = run_json(bbgate().args(["chart", "check", RELEASE_CHART, "--helm", &helm(4)]));
    assert_eq!(code, 0, "{clean}");
    let pg = clean["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["ref"] == "postgres:16.4")
        .unwrap();
    assert_eq!(pg["sandbox"], "docker-hub/library/postgres:16.4");
    assert_eq!(pg["upstream"], "docker.io/library/postgres");
    // An image from a registry the cache does not serve is named.
    let (code, out, _) = run(bbgate()
        .args(["chart", "check", RELEASE_CHART, "--helm", &helm(3)])
        .args(["--set", "global.metricsImage=registry.example.org/tools/exporter:1"]));
    assert_eq!(code, 1);
    assert!(
        out.contains("registry.example.org/tools/exporter:1: registry.example.org/tools/exporter:1 comes from registry.example.org, which is neither the sandbox's ECR nor a registry the pull-through cache serves"),
        "{out}"
    );
}

#[test]
fn a_subchart_vendored_as_a_tgz_is_rendered_and_its_images_listed() {
    let tmp = tempfile::tempdir().unwrap();
    let chart = tmp.path().join("payments-release");
    let copy = std::process::Command::new("cp")
        .args(["-r", RELEASE_CHART, chart.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(copy.success());
    let charts = chart.join("charts");
    let packaged = std::process::Command::new(helm(3))
        .args([
            "package",
            charts.join("postgresql").to_str().unwrap(),
            "-d",
            charts.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(packaged.status.success(), "{packaged:?}");
    std::fs::remove_dir_all(charts.join("postgresql")).unwrap();
    assert!(charts.join("postgresql-16.4.0.tgz").is_file());
    for major in [3, 4] {
        let (code, v) = run_json(bbgate().args(["chart", "check", chart.to_str().unwrap(), "--helm", &helm(major)]));
        assert_eq!(code, 0, "helm {major}: {v}");
        let refs: Vec<&str> = v["images"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["ref"].as_str().unwrap())
            .collect();
        assert!(refs.contains(&"postgres:16.4"), "helm {major}: {refs:?}");
        assert_eq!(refs.len(), 5, "helm {major}: {refs:?}");
    }
}

#[test]
fn a_secret_value_is_installed_and_never_printed_recorded_or_left_in_a_file() {
    let secret = "pw-3b9e1f0c-never-printed";
    let (fake, tmp, pages) = release_scene();
    let scratch = tmp.path().join("tmp");
    std::fs::create_dir_all(&scratch).unwrap();
    let policy = policy_with(tmp.path(), "secret_keys = []", "secret_keys = [\"db.password\"]");
    let ev = tmp.path().join("evidence.json");
    let (code, v) = verify_release(&pages, &ev, &["--policy", policy.to_str().unwrap()]);
    assert_eq!(code, 0, "{v}");
    let record = tmp.path().join("record.json");
    for (major, how) in [
        (3, ["--set-secret", "db.password=DB_PASSWORD"]),
        (4, ["--set-string", &format!("db.password={secret}")]),
    ] {
        let mut cmd = deploy_release(&fake, tmp.path(), major, &ev, &pages);
        cmd.args([
            "--policy",
            policy.to_str().unwrap(),
            "--record",
            record.to_str().unwrap(),
        ])
        .args(["--set-image", "migrations.image=bb/payments/db-migrate"])
        .args(how)
        .env("BBGATE_POLICY_SHA256", sha256_file(&policy))
        .env("DB_PASSWORD", secret)
        .env("TMPDIR", &scratch);
        let (code, out, err) = run(&mut cmd);
        assert_eq!(code, 0, "helm {major}: {out}{err}");
        // Installed: the chart's Secret holds it.
        let s = fake
            .get("Secret", NS, "pay-db")
            .expect("the chart's Secret was installed");
        let stored = s["stringData"]["password"].as_str().map(str::to_owned).or_else(|| {
            use base64::Engine;
            let b = base64::engine::general_purpose::STANDARD
                .decode(s["data"]["password"].as_str()?)
                .ok()?;
            String::from_utf8(b).ok()
        });
        assert_eq!(stored.as_deref(), Some(secret), "helm {major}");
        // Never printed, never recorded, no file left behind.
        assert!(!out.contains(secret) && !err.contains(secret), "helm {major}: printed");
        for file in [&record, &ev] {
            assert!(
                !std::fs::read_to_string(file).unwrap().contains(secret),
                "helm {major}: {}",
                file.display()
            );
        }
        let left: Vec<_> = walk_files(&scratch);
        assert!(
            left.iter().all(|f| !std::fs::read(f)
                .unwrap_or_default()
                .windows(secret.len())
                .any(|w| w == secret.as_bytes())),
            "helm {major}: a temporary file holds the secret: {left:?}"
        );
    }
}

fn walk_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk_files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn values_deploy_may_not_give_are_refused_an_image_key_a_stray_secret_and_a_value_verify_did_not_judge() {
    let (fake, tmp, pages) = release_scene();
    let ev = tmp.path().join("evidence.json");
    let (code, v) = verify_release(&pages, &ev, &[]);
    assert_eq!(code, 0, "{v}");
    let try_with = |extra: &[&str]| {
        let mut cmd = deploy_release(&fake, tmp.path(), 4, &ev, &pages);
        cmd.args(["--dry-run"]).args(extra).env("SOME_VAR", "x");
        run(&mut cmd)
    };
    let (code, _, err) = try_with(&["--set", "adapter.image.tag=1.6.0"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--set adapter.image.tag: a key of an image"), "{err}");
    let (code, _, err) = try_with(&["--set-secret", "db.password=SOME_VAR"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--set-secret db.password: not one of the policy's [deploy] secret_keys"),
        "{err}"
    );
    let (code, _, err) = try_with(&["--set", "global.resources.limits.cpu=4"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("--set global.resources.limits.cpu: not a value verify judged the chart with"),
        "{err}"
    );
    assert!(fake.writes().is_empty());
}

#[test]
fn a_secret_from_a_file_is_created_before_the_release_and_its_data_never_printed() {
    let cert = "-----BEGIN CERTIFICATE-----\nMIIB-not-a-real-cert-7f3a\n-----END CERTIFICATE-----\n";
    let (fake, tmp, pages) = release_scene();
    let ev = tmp.path().join("evidence.json");
    let (code, v) = verify_release(&pages, &ev, &[]);
    assert_eq!(code, 0, "{v}");
    let crt = tmp.path().join("tls.crt");
    std::fs::write(&crt, cert).unwrap();
    let flag = format!("pay-certs=tls.crt={}", crt.display());
    // A dry run writes nothing, the Secret included.
    let mut dry = deploy_release(&fake, tmp.path(), 4, &ev, &pages);
    dry.args(["--dry-run", "--secret-from-file", &flag]);
    let (code, out, err) = run(&mut dry);
    assert_eq!(code, 0, "{out}{err}");
    assert!(fake.get("Secret", NS, "pay-certs").is_none());
    // A missing file is invalid input, named, before anything.
    let mut missing = deploy_release(&fake, tmp.path(), 4, &ev, &pages);
    missing.args(["--secret-from-file", "pay-certs=ca.crt=/nonexistent/ca.crt"]);
    let (code, _, err) = run(&mut missing);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("/nonexistent/ca.crt"), "{err}");

    let mut cmd = deploy_release(&fake, tmp.path(), 3, &ev, &pages);
    cmd.args([
        "--set-image",
        "migrations.image=bb/payments/db-migrate",
        "--secret-from-file",
        &flag,
    ]);
    let (code, out, err) = run(&mut cmd);
    assert_eq!(code, 0, "{out}{err}");
    let s = fake.get("Secret", NS, "pay-certs").expect("the Secret was created");
    use base64::Engine;
    let data = base64::engine::general_purpose::STANDARD
        .decode(s["data"]["tls.crt"].as_str().unwrap())
        .unwrap();
    assert_eq!(data, cert.as_bytes());
    assert_eq!(s["metadata"]["annotations"]["meta.helm.sh/release-name"], "pay");
    assert_eq!(s["metadata"]["labels"]["app.kubernetes.io/managed-by"], "Helm");
    assert!(
        out.contains("secret created before the install: pay-certs (keys: tls.crt)"),
        "{out}"
    );
    let record = std::fs::read_to_string(tmp.path().join("deploy-record.json")).unwrap();
    for text in [&out, &err, &record] {
        assert!(!text.contains("not-a-real-cert"), "the data was printed or recorded");
    }
    // Written before helm ran: the Secret's write comes before the release's first write.
    let writes: Vec<String> = fake.writes().iter().map(|w| w.path.clone()).collect();
    let secret_at = writes.iter().position(|p| p.contains("/secrets/pay-certs")).unwrap();
    let release_at = writes.iter().position(|p| p.contains("/deployments")).unwrap();
    assert!(secret_at < release_at, "{writes:#?}");
}

/// The release chart as an umbrella whose database comes from a repository (`repository`), locked with
/// `helm dependency update` as a BB team would, its fetched .tgz not committed. Returns the chart's path.
fn umbrella_from(dir: &Path, repository: &str, plain_http: bool) -> PathBuf {
    let chart = dir.join("umbrella");
    assert!(
        std::process::Command::new("cp")
            .args(["-r", RELEASE_CHART, chart.to_str().unwrap()])
            .status()
            .unwrap()
            .success()
    );
    std::fs::remove_dir_all(chart.join("charts/postgresql")).unwrap();
    let yaml = std::fs::read_to_string(chart.join("Chart.yaml")).unwrap();
    std::fs::write(
        chart.join("Chart.yaml"),
        format!("{yaml}dependencies:\n  - name: postgresql\n    version: 16.4.0\n    repository: {repository}\n"),
    )
    .unwrap();
    let mut update = std::process::Command::new(helm(3));
    update
        .args(["dependency", "update", chart.to_str().unwrap()])
        .env("HELM_CACHE_HOME", dir.join("helm-cache"))
        .env("HELM_CONFIG_HOME", dir.join("helm-config"));
    if plain_http {
        update.arg("--plain-http");
    }
    let out = update.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(chart.join("Chart.lock").is_file());
    std::fs::remove_file(chart.join("charts/postgresql-16.4.0.tgz")).unwrap();
    chart
}

/// The postgresql subchart packaged into `dir` (with `values` as its values.yaml), as its repository serves it.
fn package_postgresql(dir: &Path, values: &str) -> PathBuf {
    let src = dir.join("pg-src");
    let _ = std::fs::remove_dir_all(&src);
    assert!(
        std::process::Command::new("cp")
            .args([
                "-r",
                &format!("{RELEASE_CHART}/charts/postgresql"),
                src.to_str().unwrap()
            ])
            .status()
            .unwrap()
            .success()
    );
    std::fs::write(src.join("values.yaml"), values).unwrap();
    let out_dir = dir.join("pkg");
    let out = std::process::Command::new(helm(3))
        .args(["package", src.to_str().unwrap(), "-d", out_dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    out_dir.join("postgresql-16.4.0.tgz")
}

#[test]
fn an_umbrella_chart_with_locked_dependencies_from_a_chart_repository_and_an_oci_registry_verifies_and_deploys() {
    let tmp = tempfile::tempdir().unwrap();
    // The HTTP chart repository: a directory `helm repo index` describes, served on loopback.
    let repo_dir = tmp.path().join("repo");
    std::fs::create_dir_all(&repo_dir).unwrap();
    let tgz = package_postgresql(tmp.path(), "image: postgres:16.4\n");
    std::fs::copy(&tgz, repo_dir.join("postgresql-16.4.0.tgz")).unwrap();
    let url = serve_dir(repo_dir.clone());
    let index = std::process::Command::new(helm(3))
        .args(["repo", "index", repo_dir.to_str().unwrap(), "--url", &url])
        .output()
        .unwrap();
    assert!(index.status.success());
    // The OCI registry: Debian's docker-registry, the chart pushed with helm.
    let oci = format!("oci://{}/charts-{}", common::registry::open(), peer::unique("deps"));
    let push = std::process::Command::new(helm(3))
        .args(["push", tgz.to_str().unwrap(), &oci, "--plain-http"])
        .env("HELM_CONFIG_HOME", tmp.path().join("helm-config"))
        .output()
        .unwrap();
    assert!(push.status.success(), "{push:?}");

    for (kind, repository, plain) in [("http", url.as_str(), false), ("oci", oci.as_str(), true)] {
        let dir = tmp.path().join(kind);
        std::fs::create_dir_all(&dir).unwrap();
        let chart = umbrella_from(&dir, repository, plain);
        let pages = release_pages(&dir, None);
        let ev = dir.join("evidence.json");
        for major in [3, 4] {
            let (code, out, err) = run(bbgate()
                .args(["verify", "--chart", chart.to_str().unwrap(), "--helm", &helm(major)])
                .args(["--findings", pages.to_str().unwrap(), "--api-report", REPORT])
                .args([
                    "--registry",
                    REGISTRY,
                    "--evidence",
                    ev.to_str().unwrap(),
                    "--format",
                    "json",
                ])
                .env("HELM_CACHE_HOME", dir.join("helm-cache")));
            assert_eq!(code, 0, "{kind} helm {major}: {out}{err}");
            let v: Value = serde_json::from_str(&out).unwrap();
            assert!(
                v["chart"]["files"]["charts/postgresql-16.4.0.tgz"].is_string(),
                "{kind}: the fetched dependency is part of the chart judged: {}",
                v["chart"]["files"]
            );
            let fake = FakeKube::start(true);
            fake.sandbox_namespace(NS);
            let mut cmd = deploy_chart(&fake, &dir, major, &ev, &pages, chart.to_str().unwrap());
            cmd.args(["--set-image", "migrations.image=bb/payments/db-migrate"]);
            let (code, out, err) = run(&mut cmd);
            assert_eq!(code, 0, "{kind} helm {major}: {out}{err}");
            let db = fake
                .get("StatefulSet", NS, "pay-postgresql")
                .expect("the dependency's objects are installed");
            assert_eq!(
                db["spec"]["template"]["spec"]["containers"][0]["image"],
                format!("{REGISTRY}/docker-hub/library/postgres@{}", release_digest(3))
            );
        }
    }

    // The repository republishes the same version with other contents after verify: deploy fetches it again,
    // and refuses, naming the dependency's file.
    let dir = tmp.path().join("http");
    let chart = dir.join("umbrella");
    let ev = dir.join("evidence.json");
    let changed = package_postgresql(tmp.path(), "image: postgres:16.4\nextra: true\n");
    std::fs::copy(&changed, repo_dir.join("postgresql-16.4.0.tgz")).unwrap();
    let fake = FakeKube::start(true);
    fake.sandbox_namespace(NS);
    let mut cmd = deploy_of(&ev, chart.to_str().unwrap());
    cmd.args(["--release", "pay", "--dry-run"])
        .env("HELM_CACHE_HOME", dir.join("helm-cache-2"))
        .args([
            "--findings",
            dir.join("release-pages").to_str().unwrap(),
            "--api-report",
            REPORT,
        ])
        .args([
            "--helm",
            &helm(4),
            "--helm-sha256",
            &helm_pin(4),
            "--kubeconfig",
            fake.kubeconfig(&dir).to_str().unwrap(),
        ]);
    let (code, out, err) = run(&mut cmd);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("charts/postgresql-16.4.0.tgz changed since verify judged it"),
        "{err}"
    );

    // A Chart.yaml changed after its lock: helm's own check, invalid input.
    let yaml = std::fs::read_to_string(chart.join("Chart.yaml")).unwrap();
    std::fs::write(
        chart.join("Chart.yaml"),
        yaml.replace("version: 16.4.0", "version: 16.4.1"),
    )
    .unwrap();
    let (code, _, err) = run(bbgate().args(["chart", "check", chart.to_str().unwrap(), "--helm", &helm(4)]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("out of sync"), "{err}");
    std::fs::write(chart.join("Chart.yaml"), yaml).unwrap();

    // A chart (a fresh checkout: nothing fetched) that declares its dependencies without a Chart.lock is invalid
    // input.
    std::fs::remove_file(chart.join("Chart.lock")).unwrap();
    // bbgate builds dependencies in its own copy of the chart: the BB's checkout never gained the archive.
    assert!(!chart.join("charts/postgresql-16.4.0.tgz").exists());
    let (code, _, err) = run(bbgate().args(["chart", "check", chart.to_str().unwrap(), "--helm", &helm(3)]));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("declares dependencies (postgresql) that are neither vendored under charts/"),
        "{err}"
    );
}

#[test]
fn deploy_may_set_a_key_the_policy_lists_as_settable_and_the_record_says_so() {
    let (fake, tmp, pages) = release_scene();
    let policy = policy_with(tmp.path(), "settable = []", "settable = [\"global.note\"]");
    let ev = tmp.path().join("evidence.json");
    let (code, v) = verify_release(&pages, &ev, &["--policy", policy.to_str().unwrap()]);
    assert_eq!(code, 0, "{v}");
    let mut cmd = deploy_release(&fake, tmp.path(), 4, &ev, &pages);
    cmd.args(["--dry-run", "--format", "json", "--policy", policy.to_str().unwrap()])
        .args(["--set", "global.note=deployed-by-the-admins"])
        .env("BBGATE_POLICY_SHA256", sha256_file(&policy));
    let (code, out, err) = run(&mut cmd);
    assert_eq!(code, 0, "{out}{err}");
    let record: Value = serde_json::from_str(&out).unwrap();
    assert!(
        record["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w == "values set at deploy beyond the ones verify judged ([deploy] settable): --set global.note"),
        "{record}"
    );
}

#[test]
fn evidence_of_an_older_schema_is_refused_naming_both_schemas() {
    use sha2::{Digest, Sha256};
    let (fake, tmp, ev) = ready();
    let mut doc: Value = serde_json::from_slice(&std::fs::read(&ev).unwrap()).unwrap();
    assert_eq!(doc["body"]["schema"], "bbgate.dev/evidence/v3");
    // A v2 body (one image, no images[]), consistently sealed: read by this bbgate, it is refused by its schema.
    let body = &mut doc["body"];
    body["schema"] = json!("bbgate.dev/evidence/v2");
    body["image"] = body["images"][0].clone();
    body.as_object_mut().unwrap().remove("images");
    let canonical = serde_json::to_vec(&doc["body"]).unwrap();
    doc["integrity"]["body_sha256"] = json!(hex::encode(Sha256::digest(&canonical)));
    std::fs::write(&ev, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    let (code, _, err) = run(&mut deploy(&fake, tmp.path(), 3, &ev, CHART));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("evidence schema \"bbgate.dev/evidence/v2\" is not bbgate.dev/evidence/v3")
            && err.contains("re-run bbgate verify with this bbgate"),
        "{err}"
    );
    assert!(fake.log().is_empty());
}

// Issue 25: the deploy path the judged BB cannot walk around. Each attack runs for real against the fake API
// server with helm 3 and 4, and each has a positive control: the same chart installed by plain helm (no bbgate),
// which the attack gets through.

/// The emulator chart copied into `dir/NAME`, with one more template the attacker wrote.
fn attack_chart(dir: &Path, name: &str, template: &str) -> PathBuf {
    let chart = dir.join(name);
    copy_dir(Path::new(CHART), &chart);
    std::fs::write(chart.join("templates").join("attack.yaml"), template).unwrap();
    chart
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// The positive control: plain `helm upgrade --install` of `chart` at the fake, as a deploy job without bbgate
/// would run it, with `env` added to helm's environment. Returns (success, output).
fn plain_helm(fake: &FakeKube, dir: &Path, major: u8, chart: &Path, env: &[(&str, &str)]) -> (bool, String) {
    let mut cmd = std::process::Command::new(helm(major));
    cmd.args([
        "upgrade",
        "--install",
        "emu",
        chart.to_str().unwrap(),
        "--namespace",
        NS,
    ])
    .args(["--kubeconfig", fake.kubeconfig(dir).to_str().unwrap()])
    .args([
        "--set-string",
        &format!("image.ref={REGISTRY}/bb/payments/adapter@sha256:{}", "a1".repeat(32)),
    ])
    .env("HELM_CACHE_HOME", dir.join("plain-cache"))
    .env("HELM_CONFIG_HOME", dir.join("plain-config"))
    .env("HELM_DATA_HOME", dir.join("plain-data"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

const HIDDEN_IN_ITEMS: &str = r#"apiVersion: v1
kind: ConfigMap
metadata: {name: harmless}
items:
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: hidden}
  spec:
    selector: {matchLabels: {app: hidden}}
    template:
      metadata: {labels: {app: hidden}}
      spec:
        hostNetwork: true
        containers: [{name: c, image: "busybox:1"}]
- apiVersion: networking.k8s.io/v1
  kind: NetworkPolicy
  metadata: {name: allow-all}
  spec: {podSelector: {}, ingress: [{}], policyTypes: [Ingress]}
"#;

#[test]
fn objects_hidden_in_items_are_judged_as_helms_builder_installs_them_with_helm_3_and_4() {
    for major in [3, 4] {
        let (fake, tmp, ev) = ready();
        let chart = attack_chart(tmp.path(), "items", HIDDEN_IN_ITEMS);
        let (code, out, err) = run(&mut deploy(&fake, tmp.path(), major, &ev, chart.to_str().unwrap()));
        assert_eq!(code, 1, "helm {major}: {out}{err}");
        assert!(
            out.contains("Deployment/hidden") && out.contains("hostNetwork: true"),
            "helm {major}: {out}"
        );
        assert!(out.contains("NetworkPolicy allow-all"), "helm {major}: {out}");
        assert!(fake.writes().is_empty(), "helm {major}: nothing written");
        // The control: plain helm installs what the ConfigMap carried, a hostNetwork Deployment.
        let (ok, said) = plain_helm(&fake, tmp.path(), major, &chart, &[]);
        assert!(ok, "helm {major}: {said}");
        let hidden = fake
            .get("Deployment", NS, "hidden")
            .expect("plain helm installed the hidden Deployment");
        assert_eq!(hidden["spec"]["template"]["spec"]["hostNetwork"], json!(true));
        assert!(
            fake.get("ConfigMap", NS, "harmless").is_none(),
            "helm installs the items, not the ConfigMap"
        );
    }
}

/// A NetworkPolicy that opens the namespace exists only when a Secret exists: the Secret deploy creates from
/// a file after the guard ran. Rendered once and installed as judged, it never appears.
const LATER: &str = r#"{{- if lookup "v1" "Secret" .Release.Namespace "later" }}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: opened-later}
spec: {podSelector: {}, ingress: [{}], policyTypes: [Ingress]}
{{- end }}
"#;

#[test]
fn a_lookup_is_refused_naming_its_template_and_when_allowed_the_install_is_the_render_judged() {
    for major in [3, 4] {
        let (fake, tmp, ev) = ready();
        let chart = attack_chart(tmp.path(), "later", LATER);
        let secret = tmp.path().join("later.pem");
        std::fs::write(&secret, "not really a certificate").unwrap();
        let (code, out, err) = run(&mut deploy(&fake, tmp.path(), major, &ev, chart.to_str().unwrap()));
        assert_eq!(code, 1, "helm {major}: {out}{err}");
        assert!(
            out.contains("templates/attack.yaml:1") && out.contains("[lookup-not-allowed]"),
            "helm {major}: {out}"
        );
        assert!(fake.writes().is_empty());
        // Allowed by the admins' policy: deploy installs the render it judged, in which the Secret did not exist.
        let (fake, tmp, ev, policy) = ready_with_policy("[deploy]\n", "[deploy]\nlookup = true\n");
        let chart = attack_chart(tmp.path(), "later", LATER);
        let secret = tmp.path().join("later.pem");
        std::fs::write(&secret, "not really a certificate").unwrap();
        let mut cmd = deploy(&fake, tmp.path(), major, &ev, chart.to_str().unwrap());
        under(&mut cmd, &policy);
        let (code, out, err) = run(cmd.args(["--secret-from-file", &format!("later=tls.crt={}", secret.display())]));
        assert_eq!(code, 0, "helm {major}: {out}{err}");
        assert!(fake.get("Secret", NS, "later").is_some());
        assert!(
            fake.get("NetworkPolicy", NS, "opened-later").is_none(),
            "helm {major}: installed what the render judged, not a second render"
        );
        // The control: helm renders again at install, sees the Secret, and opens the namespace.
        let (ok, said) = plain_helm(&fake, tmp.path(), major, &chart, &[]);
        assert!(ok, "helm {major}: {said}");
        assert!(fake.get("NetworkPolicy", NS, "opened-later").is_some(), "helm {major}");
    }
}

#[test]
fn a_chart_symlink_to_the_jobs_environment_is_refused_and_helm_sees_none_of_it() {
    const MARKER: &str = "BBGATE_TEST_MARKER_SECRET";
    const LEAK: &str =
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: leak}\ndata:\n  env: {{ .Files.Get \"environ\" | quote }}\n";
    for major in [3, 4] {
        let (fake, tmp, ev) = ready();
        let chart = attack_chart(tmp.path(), "leak", LEAK);
        std::os::unix::fs::symlink("/proc/self/environ", chart.join("environ")).unwrap();
        let (code, out, err) =
            run(deploy(&fake, tmp.path(), major, &ev, chart.to_str().unwrap()).env(MARKER, "s3cr3t-in-env"));
        assert_eq!(code, 2, "helm {major}: {out}{err}");
        assert!(err.contains("environ: leads into /proc"), "helm {major}: {err}");
        assert!(!format!("{out}{err}").contains("s3cr3t-in-env"));
        assert!(fake.writes().is_empty());
        // chart check and verify read the chart the same way.
        let (code, _, err) = run(bbgate()
            .args(["chart", "check", chart.to_str().unwrap(), "--helm", &helm(major)])
            .env(MARKER, "s3cr3t-in-env"));
        assert_eq!(code, 2, "{err}");
        assert!(err.contains("leads into /proc"), "{err}");
        // The control: plain helm follows the link and installs the job's environment into the BB's namespace.
        let (ok, said) = plain_helm(&fake, tmp.path(), major, &chart, &[(MARKER, "s3cr3t-in-env")]);
        assert!(ok, "helm {major}: {said}");
        let leaked = fake.get("ConfigMap", NS, "leak").unwrap();
        assert!(
            leaked["data"]["env"].as_str().unwrap().contains("s3cr3t-in-env"),
            "helm {major}"
        );
    }
}

#[test]
fn a_symlink_out_of_the_checkout_is_refused_for_values_and_secret_files() {
    let (fake, tmp, ev) = ready();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("creds"), "aws_secret_access_key = x\n").unwrap();
    // The working directory is the checkout; the link leaves it.
    let checkout = tmp.path().join("checkout");
    std::fs::create_dir_all(&checkout).unwrap();
    std::os::unix::fs::symlink(outside.path().join("creds"), checkout.join("cert.pem")).unwrap();
    let mut cmd = deploy(&fake, tmp.path(), 4, &ev, CHART);
    cmd.args([
        "--secret-from-file",
        &format!("tls=tls.crt={}", checkout.join("cert.pem").display()),
    ]);
    let (code, out, err) = run(&mut cmd);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("cert.pem: a symlink that leaves the working directory"),
        "{err}"
    );
    assert!(fake.writes().is_empty());
}

#[test]
fn variables_that_redirect_deploys_connections_or_helm_are_refused_before_anything_is_read() {
    let (fake, tmp, ev) = ready();
    for (var, value) in [
        ("AWS_ENDPOINT_URL_ECR", "http://127.0.0.1:9"),
        ("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9"),
        ("BBGATE_HELM", "/bin/true"),
        ("HELM_KUBEAPISERVER", "http://127.0.0.1:9"),
        ("HTTPS_PROXY", "http://127.0.0.1:9"),
    ] {
        let (code, out, err) = run(deploy(&fake, tmp.path(), 4, &ev, CHART).env(var, value));
        assert_eq!(code, 2, "{var}: {out}{err}");
        assert!(
            err.contains(&format!("{var} is set")) && err.contains(&format!("--allow-env {var}")),
            "{err}"
        );
    }
    assert!(fake.writes().is_empty());
    // The control: helm itself obeys HELM_KUBEAPISERVER (a dead address: it cannot reach the cluster).
    let (ok, said) = plain_helm(
        &fake,
        tmp.path(),
        4,
        Path::new(CHART),
        &[("HELM_KUBEAPISERVER", "http://127.0.0.1:9")],
    );
    assert!(!ok && said.contains("127.0.0.1:9"), "{said}");
    // Allowed by name, the variable stays set, and still never reaches helm: its environment is the room's.
    let (code, out, err) = run(deploy(&fake, tmp.path(), 4, &ev, CHART)
        .env("HELM_KUBEAPISERVER", "http://127.0.0.1:9")
        .args(["--allow-env", "HELM_KUBEAPISERVER"]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("DEPLOYED"), "{out}");
}

#[test]
fn deploy_runs_only_the_helm_the_admins_pinned() {
    let (fake, tmp, ev) = ready();
    let wrong = "0".repeat(64);
    let (code, out, err) = run(deploy(&fake, tmp.path(), 4, &ev, CHART).args(["--helm-sha256", &wrong]));
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains(&format!("not the pinned {wrong}")), "{err}");
    // helm 3's binary under helm 4's pin: refused too.
    let (code, _, err) = run(deploy(&fake, tmp.path(), 3, &ev, CHART).args(["--helm-sha256", &helm_pin(4)]));
    assert_eq!(code, 2, "{err}");
    // No pin at all.
    let mut cmd = deploy_of(&ev, CHART);
    cmd.args([
        "--helm",
        &helm(4),
        "--kubeconfig",
        fake.kubeconfig(tmp.path()).to_str().unwrap(),
    ])
    .args([
        "--findings",
        tmp.path().join("pages").to_str().unwrap(),
        "--api-report",
        REPORT,
    ]);
    let (code, _, err) = run(&mut cmd);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("BBGATE_HELM_SHA256"), "{err}");
    assert!(fake.writes().is_empty());
}

#[test]
fn the_building_block_comes_from_the_admins_and_evidence_of_another_is_refused() {
    let (fake, tmp, ev) = ready();
    let mut cmd = deploy(&fake, tmp.path(), 4, &ev, CHART);
    cmd.args(["--building-block", "identity"]);
    let (code, out, err) = run(&mut cmd);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("the evidence is for building block payments, but the admins' deploy is for identity"),
        "{err}"
    );
    assert!(fake.writes().is_empty());
}

/// `ready()` with the shipped policy edited (`from` -> `to`): the evidence decided under it, as deploy requires.
fn ready_with_policy(from: &str, to: &str) -> (Handle, tempfile::TempDir, PathBuf, PathBuf) {
    let fake = FakeKube::start(true);
    fake.sandbox_namespace(NS);
    let tmp = tempfile::tempdir().unwrap();
    let policy = policy_with(tmp.path(), from, to);
    let ev = evidence_with(tmp.path(), &["--policy", policy.to_str().unwrap()]);
    (fake, tmp, ev, policy)
}

/// A deploy command under that pinned policy.
fn under(cmd: &mut assert_cmd::Command, policy: &Path) {
    cmd.args(["--policy", policy.to_str().unwrap()])
        .env("BBGATE_POLICY_SHA256", sha256_file(policy));
}

const ESCALATIONS: &str = r#"apiVersion: v1
kind: ServiceAccount
metadata: {name: bb}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: borrow-deploy}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: bbgate-deploy}
subjects: [{kind: ServiceAccount, name: bb}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: own}
rules:
- {apiGroups: [""], resources: [secrets], verbs: [get, list]}
- {apiGroups: [rbac.authorization.k8s.io], resources: [rolebindings], verbs: [create]}
- {apiGroups: [""], resources: [pods/exec], verbs: [create]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: out}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
  - to: [{ipBlock: {cidr: 0.0.0.0/0}}]
  - to: [{namespaceSelector: {}}]
"#;

#[test]
fn roles_bindings_and_egress_that_outlive_the_install_are_refused_each_named() {
    let tmp = tempfile::tempdir().unwrap();
    let chart = attack_chart(tmp.path(), "escalate", ESCALATIONS);
    for major in [3, 4] {
        let (code, v) = run_json(bbgate().args(["chart", "check", chart.to_str().unwrap(), "--helm", &helm(major)]));
        assert_eq!(code, 1, "{v}");
        let text = v["problems"].to_string();
        for want in [
            "binds the sandbox's deploy Role \\\"bbgate-deploy\\\"",
            "every Secret of the namespace",
            "RBAC objects",
            "pods/exec",
            "instance metadata service 169.254.169.254",
            "pods of other namespaces",
        ] {
            assert!(text.contains(want), "helm {major}: {want} in {text}");
        }
    }
    // Allowed by the admins, the same grants pass (the metadata service never does).
    let policy = policy_with(
        tmp.path(),
        "[deploy]\n",
        "[deploy]\ngrants = [\"secrets\", \"rbac\", \"pods/exec\"]\n",
    );
    let (code, v) = run_json(
        bbgate()
            .args(["chart", "check", chart.to_str().unwrap(), "--helm", &helm(4)])
            .args(["--policy", policy.to_str().unwrap()]),
    );
    assert_eq!(code, 1, "{v}");
    let text = v["problems"].to_string();
    assert!(
        !text.contains("every Secret") && !text.contains("RBAC objects") && text.contains("169.254.169.254"),
        "{text}"
    );
    // The control: plain helm installs the binding to the deploy Role.
    let fake = FakeKube::start(true);
    fake.sandbox_namespace(NS);
    let (ok, said) = plain_helm(&fake, tmp.path(), 4, &chart, &[]);
    assert!(ok, "{said}");
    assert!(fake.get("RoleBinding", NS, "borrow-deploy").is_some());
}

#[test]
fn a_deploy_identity_that_reaches_beyond_its_namespace_is_refused() {
    let (fake, tmp, ev) = ready();
    fake.grant_wide();
    let (code, out, err) = run(&mut deploy(&fake, tmp.path(), 4, &ev, CHART));
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("[deploy-identity-too-broad]") && out.contains("get secrets in namespace kube-system"),
        "{out}"
    );
    assert!(fake.writes().is_empty());
}

#[test]
fn a_secret_value_echoed_by_a_template_never_reaches_the_output() {
    const ECHO: &str = "{{- if .Values.password }}{{ fail (printf \"rejected %s\" .Values.password) }}{{ end }}\n";
    let (fake, tmp, ev, policy) = ready_with_policy("secret_keys = []", "secret_keys = [\"password\"]");
    let chart = attack_chart(tmp.path(), "echo", ECHO);
    let mut cmd = deploy(&fake, tmp.path(), 4, &ev, chart.to_str().unwrap());
    under(&mut cmd, &policy);
    let (code, out, err) = run(cmd
        .args(["--set-secret", "password=DB_PASSWORD"])
        .env("DB_PASSWORD", "hunter2-never-shown"));
    assert_ne!(code, 0, "{out}{err}");
    assert!(!format!("{out}{err}").contains("hunter2-never-shown"), "{out}{err}");
    assert!(err.contains("rejected <secret>"), "{err}");
    // The control: helm itself prints it.
    let out = std::process::Command::new(helm(4))
        .args([
            "template",
            "x",
            chart.to_str().unwrap(),
            "--set",
            "password=hunter2-never-shown",
        ])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("hunter2-never-shown"));
}
