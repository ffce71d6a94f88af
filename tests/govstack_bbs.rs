//! Real GovStack building blocks as they are written, through verify and deploy: charts this file writes in the
//! shapes of the real ones (never copies): several tags of one repository in one release, image values given
//! with `--set-string` as GovStack pipelines give them, chart names helm refuses as release names. The real helm
//! 3 and 4, against the project's fake Kubernetes API server.

#![allow(clippy::unwrap_used)] // a test fails loudly where it unwraps

mod common;
use common::fake_kube::FakeKube;
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

const NS: &str = "paymenthub";
const REGISTRY: &str = "123456789012.dkr.ecr.eu-central-1.amazonaws.com";
const REPORT: &str = "../shared/fixtures-upstream/cucumber-cck-messages/minimal.ndjson";

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A workload of the chart: a StatefulSet named `name` whose image is made of `values.<key>.image`'s
/// repository and tag, as GovStack charts build it (`{{ .Values.x.image.repository }}:{{ .Values.x.image.tag }}`).
fn workload(name: &str, key: &str, registry: bool) -> String {
    let prefix = if registry { "{{ .Values.global.registry }}/" } else { "" };
    format!(
        r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: {{{{ .Release.Name }}}}-{name}
  labels: {{app.kubernetes.io/name: {name}}}
spec:
  serviceName: {{{{ .Release.Name }}}}-{name}
  replicas: 1
  selector:
    matchLabels: {{app.kubernetes.io/name: {name}}}
  template:
    metadata:
      labels: {{app.kubernetes.io/name: {name}}}
    spec:
      securityContext: {{runAsNonRoot: true, runAsUser: 10001}}
      containers:
        - name: {name}
          image: "{prefix}{{{{ .Values.{key}.image.repository }}}}:{{{{ .Values.{key}.image.tag }}}}"
          resources: {{{{ toJson .Values.global.resources }}}}
"#
    )
}

/// The payments emulator as its team writes it: chart name `PaymentBBEmulator` (no DNS label), two security
/// servers from one of the BB's repositories at two tags (X-Road's ss1 and ss2), and two databases from one
/// Docker Hub repository at two tags (postgres 12 and 14 side by side). Tags left empty in values.yaml: the
/// pipeline gives them with `--set-string`.
fn emulator_chart(dir: &Path) -> PathBuf {
    let chart = dir.join("PaymentBBEmulator");
    write(
        &chart.join("Chart.yaml"),
        "apiVersion: v2\nname: PaymentBBEmulator\nversion: 0.1.0\nappVersion: \"1.0.0\"\n",
    );
    write(
        &chart.join("values.yaml"),
        &format!(
            "global:\n  registry: {REGISTRY}\n  resources:\n    requests: {{cpu: 50m, memory: 64Mi}}\n    limits: {{cpu: 200m, memory: 128Mi}}\n\
             ss1:\n  image: {{repository: bb/payments/emulator, tag: \"\"}}\n\
             ss2:\n  image: {{repository: bb/payments/emulator, tag: \"\"}}\n\
             db12:\n  image: {{repository: postgres, tag: \"\"}}\n\
             db14:\n  image: {{repository: postgres, tag: \"\"}}\n"
        ),
    );
    for (name, key, own) in [
        ("ss1", "ss1", true),
        ("ss2", "ss2", true),
        ("db12", "db12", false),
        ("db14", "db14", false),
    ] {
        write(&chart.join(format!("templates/{name}.yaml")), &workload(name, key, own));
    }
    chart
}

/// (repository, tag, digest) of every image the emulator's release runs, as the sandbox's ECR holds them.
fn emulator_images() -> Vec<(&'static str, &'static str, String)> {
    let d = |c: &str| format!("sha256:{}", c.repeat(32));
    vec![
        ("bb/payments/emulator", "1.0.0", d("e1")),
        ("bb/payments/emulator", "1.1.0", d("e2")),
        ("docker-hub/library/postgres", "12", d("a2")),
        ("docker-hub/library/postgres", "14", d("a4")),
    ]
}

/// The tags as the pipeline gives them.
const TAGS: [&str; 4] = [
    "ss1.image.tag=1.0.0",
    "ss2.image.tag=1.1.0",
    "db12.image.tag=12",
    "db14.image.tag=14",
];

fn pages(dir: &Path) -> PathBuf {
    let pages = dir.join("pages");
    std::fs::create_dir_all(&pages).unwrap();
    for (i, (repo, tag, digest)) in emulator_images().into_iter().enumerate() {
        let page = scan_page(repo, &digest, tag, peer::low_basic_findings(1), 1);
        std::fs::write(pages.join(format!("{i}.json")), serde_json::to_vec(&page).unwrap()).unwrap();
    }
    pages
}

fn verify(chart: &Path, pages: &Path, ev: &Path, major: u8, values: &[&str]) -> (i32, String, String) {
    run(bbgate()
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
        .args(values))
}

fn deploy(fake: &FakeKube, dir: &Path, major: u8, chart: &Path, pages: &Path, release: &str) -> assert_cmd::Command {
    let mut cmd = bbgate();
    cmd.args(["deploy", "--evidence", dir.join("evidence.json").to_str().unwrap()])
        .args([
            "--chart",
            chart.to_str().unwrap(),
            "--release",
            release,
            "--building-block",
            "payments",
        ])
        .args([
            "--findings",
            pages.to_str().unwrap(),
            "--api-report",
            REPORT,
            "--timeout",
            "60s",
        ])
        .args(["--helm", &helm(major), "--helm-sha256", &helm_pin(major)])
        .args(["--kubeconfig", fake.kubeconfig(dir).to_str().unwrap()])
        .env("HELM_CACHE_HOME", dir.join("helm-cache"))
        .env("HELM_CONFIG_HOME", dir.join("helm-config"))
        .env("HELM_DATA_HOME", dir.join("helm-data"));
    cmd
}

fn with(flag: &str, kvs: &[&str]) -> Vec<String> {
    kvs.iter().flat_map(|kv| [flag.to_owned(), (*kv).to_owned()]).collect()
}

fn image_of(fake: &FakeKube, name: &str) -> String {
    let o = fake
        .get("StatefulSet", NS, name)
        .unwrap_or_else(|| panic!("StatefulSet {name} installed"));
    o["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn several_tags_of_one_repository_given_with_set_string_verify_and_deploy_each_to_its_own_digest() {
    for major in [3, 4] {
        let tmp = tempfile::tempdir().unwrap();
        let chart = emulator_chart(tmp.path());
        let pages = pages(tmp.path());
        let ev = tmp.path().join("evidence.json");
        let set_string = with("--set-string", &TAGS);
        let set_string: Vec<&str> = set_string.iter().map(String::as_str).collect();
        // No release name given: the chart's own name, made one helm takes.
        let (code, out, err) = verify(&chart, &pages, &ev, major, &set_string);
        assert_eq!(code, 0, "helm {major}: {out}{err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["images"].as_array().unwrap().len(), 4, "each tag judged: {v}");

        let images = emulator_images();
        let pinned = |i: usize| format!("{REGISTRY}/{}@{}", images[i].0, images[i].2);
        for (form, release) in [("--set-string", "paymentbbemulator"), ("--set", "payments-emulator")] {
            let fake = FakeKube::start(true);
            fake.sandbox_namespace(NS);
            // The same values in either form: each reference pins to the digest judged under its tag.
            let (code, out, err) =
                run(deploy(&fake, tmp.path(), major, &chart, &pages, release).args(with(form, &TAGS)));
            assert_eq!(code, 0, "helm {major} {form}: {out}{err}");
            for (i, name) in ["ss1", "ss2", "db12", "db14"].iter().enumerate() {
                assert_eq!(
                    image_of(&fake, &format!("{release}-{name}")),
                    pinned(i),
                    "helm {major} {form} {name}"
                );
            }
        }

        // The attack: the pipeline swaps the database's tag at deploy to run another judged image where verify
        // judged this one. Refused, naming the value; nothing installed.
        let fake = FakeKube::start(true);
        fake.sandbox_namespace(NS);
        let swapped = [
            "ss1.image.tag=1.0.0",
            "ss2.image.tag=1.1.0",
            "db12.image.tag=14",
            "db14.image.tag=14",
        ];
        let (code, out, err) =
            run(deploy(&fake, tmp.path(), major, &chart, &pages, "pay").args(with("--set-string", &swapped)));
        assert_eq!(code, 2, "helm {major}: {out}{err}");
        assert!(err.contains("--set-string db12.image.tag: a key of an image"), "{err}");
        assert!(fake.get("StatefulSet", NS, "pay-db12").is_none());
        // Values verify judged and deploy leaves out are refused too, each named.
        let (code, out, err) =
            run(deploy(&fake, tmp.path(), major, &chart, &pages, "pay").args(with("--set-string", &TAGS[..3])));
        assert_eq!(code, 1, "helm {major}: {out}{err}");
        assert!(
            err.contains("--set-string db14.image.tag: verify judged the chart with this value"),
            "{err}"
        );
    }
}
