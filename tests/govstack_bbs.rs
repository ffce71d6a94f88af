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
    statefulset(
        name,
        &format!("{prefix}{{{{ .Values.{key}.image.repository }}}}:{{{{ .Values.{key}.image.tag }}}}"),
        "{{ toJson .Values.global.resources }}",
    )
}

/// A StatefulSet named `name` (after the release) running `image` (template text) with `resources`.
fn statefulset(name: &str, image: &str, resources: &str) -> String {
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
      securityContext: {{runAsNonRoot: true, runAsUser: 10001, seccompProfile: {{type: RuntimeDefault}}}}
      containers:
        - name: {name}
          image: "{image}"
          securityContext: {{allowPrivilegeEscalation: false, capabilities: {{drop: [ALL]}}}}
          resources: {resources}
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

/// `key` of every element of the JSON list `list`.
fn each<'v>(list: &'v Value, key: &str) -> Vec<&'v str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|e| e[key].as_str().unwrap())
        .collect()
}

/// (code, message) of every diagnostic of the JSON list `list`.
fn diagnostics(list: &Value) -> Vec<(&str, &str)> {
    each(list, "code").into_iter().zip(each(list, "message")).collect()
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

const RESOURCES: &str = "{requests: {cpu: 50m, memory: 64Mi}, limits: {cpu: 200m, memory: 128Mi}}";

/// `helm` 3 with its homes in `dir`, for what a BB team does by hand.
fn helm_in(dir: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(helm(3));
    cmd.env("HELM_CACHE_HOME", dir.join("h-cache"))
        .env("HELM_CONFIG_HOME", dir.join("h-config"))
        .env("HELM_DATA_HOME", dir.join("h-data"));
    cmd
}

fn ok(cmd: &mut std::process::Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A chart `name` at `version` in `dir`, with one StatefulSet running `image`, and `extra` Chart.yaml lines.
fn small_chart(dir: &Path, name: &str, version: &str, image: &str, extra: &str) {
    write(
        &dir.join("Chart.yaml"),
        &format!("apiVersion: v2\nname: {name}\nversion: {version}\n{extra}"),
    );
    write(&dir.join("values.yaml"), "{}\n");
    write(
        &dir.join(format!("templates/{name}.yaml")),
        &statefulset(name, image, RESOURCES),
    );
}

/// A chart repository served on loopback from `dir/repo`, holding chart `name` at `version` (one StatefulSet
/// running `image`), packaged and indexed by helm: its URL and directory.
fn chart_repository(dir: &Path, name: &str, version: &str, image: &str) -> (String, PathBuf) {
    let repo = dir.join("repo");
    let src = dir.join(format!("{name}-src"));
    small_chart(&src, name, version, image, "");
    ok(helm_in(dir).args(["package", src.to_str().unwrap(), "-d", repo.to_str().unwrap()]));
    let url = serve_dir(repo.clone());
    ok(helm_in(dir).args(["repo", "index", repo.to_str().unwrap(), "--url", &url]));
    (url, repo)
}

/// The Information Mediator's umbrella as GovStack writes it: subcharts vendored under `charts/` in directories
/// named otherwise than the charts (`charts/security-server` holds chart `xroad-ss`), declared in Chart.yaml
/// without a lock; and, like early-warnings, a vendored `charts/events` (chart `kafka-wrapper`) that locks its
/// own broker from a chart repository, which `helm dependency build` at the top never fetches.
fn umbrella(dir: &Path) -> PathBuf {
    umbrella_of(
        dir,
        &format!("{REGISTRY}/bb/payments/emulator:1.0.0"),
        "bitnami/kafka:3.7",
    )
}

/// `umbrella` whose security server runs `own` and whose broker runs `broker`.
fn umbrella_of(dir: &Path, own: &str, broker: &str) -> PathBuf {
    // The chart repository the broker comes from.
    let (url, _) = chart_repository(dir, "broker", "3.7.0", broker);

    let chart = dir.join("im-umbrella");
    write(
        &chart.join("Chart.yaml"),
        "apiVersion: v2\nname: im-umbrella\nversion: 1.0.0\ndependencies:\n  - name: xroad-ss\n    version: 0.1.0\n  - name: kafka-wrapper\n    version: 0.2.0\n",
    );
    write(&chart.join("values.yaml"), "{}\n");
    small_chart(&chart.join("charts/security-server"), "xroad-ss", "0.1.0", own, "");
    let events = chart.join("charts/events");
    write(
        &events.join("Chart.yaml"),
        &format!(
            "apiVersion: v2\nname: kafka-wrapper\nversion: 0.2.0\ndependencies:\n  - name: broker\n    version: 3.7.0\n    repository: {url}\n"
        ),
    );
    write(&events.join("values.yaml"), "{}\n");
    ok(helm_in(dir).args(["dependency", "update", events.to_str().unwrap()]));
    assert!(events.join("Chart.lock").is_file());
    // Committed as GovStack commits it: the lock, not the fetched archive.
    std::fs::remove_dir_all(events.join("charts")).unwrap();
    chart
}

fn umbrella_pages(dir: &Path) -> PathBuf {
    let pages = dir.join("pages");
    std::fs::create_dir_all(&pages).unwrap();
    for (i, (repo, tag)) in [("bb/payments/emulator", "1.0.0"), ("docker-hub/bitnami/kafka", "3.7")]
        .iter()
        .enumerate()
    {
        let page = scan_page(
            repo,
            &format!("sha256:{}", format!("b{i}").repeat(32)),
            tag,
            peer::low_basic_findings(1),
            1,
        );
        std::fs::write(pages.join(format!("{i}.json")), serde_json::to_vec(&page).unwrap()).unwrap();
    }
    pages
}

#[test]
fn vendored_subcharts_are_known_by_their_own_names_and_nested_dependencies_are_built_and_judged() {
    let tmp = tempfile::tempdir().unwrap();
    let chart = umbrella(tmp.path());
    let pages = umbrella_pages(tmp.path());
    let ev = tmp.path().join("evidence.json");
    for major in [3, 4] {
        let (code, out, err) = verify(&chart, &pages, &ev, major, &["--release", "im"]);
        assert_eq!(code, 0, "helm {major}: {out}{err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        let refs = each(&v["images"], "ref");
        assert!(
            refs.contains(&"bitnami/kafka:3.7"),
            "the nested broker is part of the release judged: {refs:?}"
        );
        assert!(
            refs.contains(&format!("{REGISTRY}/bb/payments/emulator:1.0.0").as_str()),
            "{refs:?}"
        );
        let files = v["chart"]["files"].as_object().unwrap();
        assert!(
            files.contains_key("charts/events/charts/broker-3.7.0.tgz"),
            "the fetched broker is hashed: {files:?}"
        );
    }
    // Deploy installs what was judged, the broker included.
    let fake = FakeKube::start(true);
    fake.sandbox_namespace(NS);
    let (code, out, err) = run(&mut deploy(&fake, tmp.path(), 4, &chart, &pages, "im"));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        image_of(&fake, "im-broker"),
        format!("{REGISTRY}/docker-hub/bitnami/kafka@sha256:{}", "b1".repeat(32))
    );

    // A subchart archive that declares a dependency it does not carry: refused naming it, where helm would
    // install the release without it.
    let bare = tmp.path().join("bare");
    copy(&chart, &bare);
    std::fs::remove_file(bare.join("charts/events/Chart.lock")).unwrap();
    // helm package refuses to pack it so; a tar does not.
    let staging = tmp.path().join("staging");
    std::fs::create_dir_all(&staging).unwrap();
    std::fs::rename(bare.join("charts/events"), staging.join("kafka-wrapper")).unwrap();
    ok(std::process::Command::new("tar").args([
        "czf",
        bare.join("charts/kafka-wrapper-0.2.0.tgz").to_str().unwrap(),
        "-C",
        staging.to_str().unwrap(),
        "kafka-wrapper",
    ]));
    let (code, out, err) = verify(&bare, &pages, &tmp.path().join("ev2.json"), 3, &[]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains(
            "charts/kafka-wrapper-0.2.0.tgz: chart kafka-wrapper declares dependencies it does not carry (broker)"
        ),
        "{err}"
    );
    // Positive control: helm itself renders that chart without complaint, and without the broker.
    let out = helm_in(tmp.path())
        .args(["template", "im", bare.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let rendered = String::from_utf8_lossy(&out.stdout);
    assert!(
        rendered.contains("xroad-ss") && !rendered.contains("bitnami/kafka"),
        "{rendered}"
    );
}

fn copy(from: &Path, to: &Path) {
    assert!(
        std::process::Command::new("cp")
            .args(["-r", from.to_str().unwrap(), to.to_str().unwrap()])
            .status()
            .unwrap()
            .success()
    );
}

/// `bbgate chart check CHART` of building block payments with helm 3, helm's cache in `dir`.
fn chart_check(dir: &Path, chart: &Path) -> (i32, String, String) {
    run(bbgate()
        .args(["chart", "check", chart.to_str().unwrap(), "--helm", &helm(3)])
        .args(["--building-block", "payments"])
        .env("HELM_CACHE_HOME", dir.join("c")))
}

/// open-imis' shape: a database chart from a chart repository, locked by `helm dependency update` with its
/// archive committed under charts/, then the repository gone. `dependencies` is Chart.yaml's list.
fn openimis(dir: &Path, dependencies: &str) -> (PathBuf, String) {
    let (url, repo) = chart_repository(dir, "postgresql", "16.4.0", "postgres:16.4");
    let chart = dir.join("openimis");
    small_chart(
        &chart,
        "openimis",
        "1.0.0",
        &format!("{REGISTRY}/bb/payments/emulator:1.0.0"),
        &format!("dependencies:\n{}", dependencies.replace("URL", &url)),
    );
    ok(helm_in(dir).args(["dependency", "update", chart.to_str().unwrap()]));
    assert!(chart.join("charts/postgresql-16.4.0.tgz").is_file());
    std::fs::remove_dir_all(&repo).unwrap();
    (chart, url)
}

#[test]
fn a_lock_whose_every_dependency_is_vendored_needs_no_network() {
    let tmp = tempfile::tempdir().unwrap();
    let (chart, url) = openimis(
        tmp.path(),
        "  - name: postgresql\n    version: 16.4.0\n    repository: URL\n",
    );
    let (code, out, err) = chart_check(tmp.path(), &chart);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("docker-hub/library/postgres:16.4"), "{out}");
    assert!(err.contains("1 dependencies vendored as Chart.lock pins them"), "{err}");
    // Positive control: the committed archive at another version than the lock pins, and bbgate must fetch the
    // locked one: the repository that is gone leaves nothing decided.
    let other = tmp.path().join("other");
    copy(&chart, &other);
    std::fs::remove_file(other.join("charts/postgresql-16.4.0.tgz")).unwrap();
    small_chart(&tmp.path().join("db-next"), "postgresql", "16.5.0", "postgres:16.5", "");
    ok(helm_in(tmp.path()).args([
        "package",
        tmp.path().join("db-next").to_str().unwrap(),
        "-d",
        other.join("charts").to_str().unwrap(),
    ]));
    let (code, out, err) = chart_check(tmp.path(), &other);
    assert_eq!(code, 3, "{out}{err}");
    assert!(err.contains(&url), "{err}");
}

/// helm refuses to build from a Chart.lock whose digest of both dependency lists differs from Chart.yaml's; bbgate
/// computes that digest as helm does (differential: helm's own `dependency build` agrees on each chart) and
/// refuses naming what differs, where helm's refusal names nothing (and a moved `file://` path reads as
/// "directory not found").
#[test]
fn a_lock_out_of_sync_with_chart_yaml_is_refused_naming_what_differs_as_helm_refuses_it() {
    let tmp = tempfile::tempdir().unwrap();
    // Every field helm hashes, and a constraint Go's JSON escapes (`<`, `>`).
    let (chart, url) = openimis(
        tmp.path(),
        "  - name: postgresql\n    version: \">=16.0.0 <17.0.0\"\n    repository: URL\n    alias: db\n    condition: db.enabled\n    tags: [storage]\n",
    );
    let (code, out, err) = chart_check(tmp.path(), &chart);
    assert_eq!(code, 0, "in sync as helm wrote it: {out}{err}");
    let helm_builds = |chart: &Path| {
        let out = helm_in(tmp.path())
            .args(["dependency", "build", chart.to_str().unwrap()])
            .output()
            .unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    // helm agrees the lock is in sync: it goes on to fetch from the repository that is gone.
    let (built, said) = helm_builds(&chart);
    assert!(!built && !said.contains("out of sync"), "{said}");

    let yaml = std::fs::read_to_string(chart.join("Chart.yaml")).unwrap();
    for (what, from, to, named) in [
        (
            "alias",
            "alias: db",
            "alias: database",
            "a field other than name, version and repository",
        ),
        (
            "version",
            "\">=16.0.0 <17.0.0\"",
            "16.5.0",
            "postgresql: Chart.yaml asks 16.5.0 from URL, the lock pins 16.4.0 from URL",
        ),
        (
            "a dependency added",
            "    tags: [storage]\n",
            "    tags: [storage]\n  - name: redis\n    version: 7.0.0\n    repository: URL\n",
            "redis is declared but not locked",
        ),
    ] {
        let edited = tmp.path().join(format!("edited-{}", what.replace(' ', "-")));
        copy(&chart, &edited);
        assert!(yaml.contains(from), "{what}");
        std::fs::write(edited.join("Chart.yaml"), yaml.replace(from, &to.replace("URL", &url))).unwrap();
        let (code, out, err) = chart_check(tmp.path(), &edited);
        assert_eq!(code, 2, "{what}: {out}{err}");
        assert!(
            err.contains(&format!(
                "{}/Chart.lock is out of sync with the dependencies of {}/Chart.yaml",
                edited.display(),
                edited.display()
            )),
            "{what}: {err}"
        );
        assert!(err.contains(&named.replace("URL", &url)), "{what}: {err}");
        assert!(err.contains("run `helm dependency update"), "{err}");
        assert!(!err.contains("bbgate-room"), "the user's paths, not the room's: {err}");
        // helm refuses it too.
        let (built, said) = helm_builds(&edited);
        assert!(!built && said.contains("out of sync"), "{what}: {said}");
    }
}

#[test]
fn verify_chart_judges_what_deploy_would_refuse_the_pod_security_level_included() {
    let tmp = tempfile::tempdir().unwrap();
    let pages = pages(tmp.path());
    let set_string = with("--set-string", &TAGS);
    let set_string: Vec<&str> = set_string.iter().map(String::as_str).collect();
    // As GovStack writes its workloads: a pod user, no per-container security context, no resources.
    let chart = emulator_chart(tmp.path());
    for name in ["ss1", "ss2", "db12", "db14"] {
        let path = chart.join(format!("templates/{name}.yaml"));
        let text = std::fs::read_to_string(&path).unwrap();
        let text = text.replace(", seccompProfile: {type: RuntimeDefault}", "").replace(
            "          securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}\n",
            "",
        );
        let text = if name == "db14" {
            text.replace("          resources: {{ toJson .Values.global.resources }}\n", "")
        } else {
            text
        };
        std::fs::write(&path, text).unwrap();
    }
    let (code, out, err) = verify(&chart, &pages, &tmp.path().join("ev.json"), 3, &set_string);
    assert_eq!(code, 1, "{out}{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let reasons = diagnostics(&v["reasons"]);
    let security: Vec<&&str> = reasons
        .iter()
        .filter(|(c, _)| *c == "pod-security")
        .map(|(_, m)| m)
        .collect();
    assert_eq!(security.len(), 4, "{reasons:?}");
    assert!(
        security[0].contains("the namespace enforces Pod Security \"restricted\" ([deploy] pod_security)")
            && security[0].contains("must set securityContext.allowPrivilegeEscalation: false")
            && security[0].contains("must drop ALL capabilities"),
        "{security:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|(c, m)| *c == "resources-undeclared" && m.contains("StatefulSet/paymentbbemulator-db14")),
        "{reasons:?}"
    );
    // Every image was judged and passed: the chart alone is what denies the release.
    assert!(
        v["images"].as_array().unwrap().iter().all(|i| i["verdict"] == "pass"),
        "{v}"
    );
    // `chart check` (deploy's guard without a cluster) finds the very same problems.
    let mut check = bbgate();
    check
        .args([
            "chart",
            "check",
            chart.to_str().unwrap(),
            "--helm",
            &helm(3),
            "--release",
            "paymentbbemulator",
        ])
        .args(&set_string);
    let (code, c) = run_json(&mut check);
    assert_eq!(code, 1, "{c}");
    let mut from_check = diagnostics(&c["problems"]);
    let mut from_verify = reasons.clone();
    from_check.sort();
    from_verify.sort();
    assert_eq!(from_check, from_verify);
}

/// The shipped policy with `[[building_block.peers]]` for payments (the Information Mediator's namespace,
/// `im-xroad`, on 8080 and 8443 both ways), written with its Rego beside it.
/// The payments building block talks to the Information Mediator's namespace both ways, on its two ports.
const PEERS: &str = "[[building_block.peers]]\nnamespace = \"im-xroad\"\nports = [8080, 8443]\ndirection = \"both\"\n";

fn policy_with_peers(dir: &Path) -> PathBuf {
    sandbox_policy(dir, "peers", PEERS, "[]")
}

/// policies/sandbox.toml with `extra` after the payments building block's lines and `[deploy] registries` as
/// given, its Rego pinned (deploy reads a policy file only at the admins' pin, and the pin covers the rules).
fn sandbox_policy(dir: &Path, name: &str, extra: &str, registries: &str) -> PathBuf {
    let text = std::fs::read_to_string("policies/sandbox.toml").unwrap();
    let own = "namespace = \"paymenthub\"\nrepositories = [\"bb/payments/*\"]\n";
    assert!(text.contains(own) && text.contains("registries = []") && text.contains("rego = [\"deploy.rego\"]"));
    let rego = format!(
        "rego = [{{ path = \"deploy.rego\", sha256 = \"{}\" }}]",
        sha256_file(Path::new("policies/deploy.rego"))
    );
    let text = text
        .replace(own, &format!("{own}{extra}"))
        .replace("registries = []", &format!("registries = {registries}"))
        .replace("rego = [\"deploy.rego\"]", &rego);
    let path = dir.join(format!("sandbox-{name}.toml"));
    std::fs::write(&path, text).unwrap();
    std::fs::copy("policies/deploy.rego", dir.join("deploy.rego")).unwrap();
    path
}

/// A NetworkPolicy of the chart: the IM's namespace may reach the BB on `port`, and the BB the IM on 8443.
fn peer_policy(port: u16) -> String {
    format!(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: {{{{ .Release.Name }}}}-from-im\nspec:\n  \
         podSelector: {{}}\n  policyTypes: [Ingress, Egress]\n  ingress:\n    - from:\n        - namespaceSelector: \
         {{matchLabels: {{kubernetes.io/metadata.name: im-xroad}}}}\n      ports: [{{port: {port}}}]\n  egress:\n    - to:\n        \
         - namespaceSelector: {{matchLabels: {{kubernetes.io/metadata.name: im-xroad}}}}\n      ports: [{{port: 8443}}]\n"
    )
}

#[test]
fn a_bb_serving_other_bbs_admits_its_named_peers_on_their_ports_only() {
    let tmp = tempfile::tempdir().unwrap();
    let pages = pages(tmp.path());
    let policy = policy_with_peers(tmp.path());
    let set_string = with("--set-string", &TAGS);
    let chart = emulator_chart(tmp.path());
    write(&chart.join("templates/peers.yaml"), &peer_policy(8080));
    let verify_with = |chart: &Path, policy: Option<&Path>| {
        let mut cmd = bbgate();
        cmd.args(["verify", "--chart", chart.to_str().unwrap(), "--helm", &helm(3)])
            .args([
                "--findings",
                pages.to_str().unwrap(),
                "--api-report",
                REPORT,
                "--registry",
                REGISTRY,
            ])
            .args(&set_string);
        if let Some(p) = policy {
            cmd.arg("--policy").arg(p);
        }
        run_json(&mut cmd)
    };
    let codes = |v: &Value| -> Vec<String> { each(&v["reasons"], "code").into_iter().map(str::to_owned).collect() };
    // Without the policy's entry, the IM's namespace let in and reached is refused, both ways.
    let (code, v) = verify_with(&chart, None);
    assert_eq!(code, 1, "{v}");
    assert_eq!(codes(&v), ["network-policy-leak", "network-policy-egress"], "{v}");
    // With it, the same chart passes.
    let (code, v) = verify_with(&chart, Some(&policy));
    assert_eq!(code, 0, "{v}");
    // A port the entry does not list (ssh from the IM) is still refused, naming the port and what is listed.
    write(&chart.join("templates/peers.yaml"), &peer_policy(22));
    let (code, v) = verify_with(&chart, Some(&policy));
    assert_eq!(code, 1, "{v}");
    let msg = v["reasons"][0]["message"].as_str().unwrap();
    assert!(
        msg.contains("admits pods of namespace im-xroad on port(s) [22], which the policy does not list for it"),
        "{msg}"
    );

    // The namespace kit renders the peers' NetworkPolicy; applied, `namespace check` finds the namespace ready
    // under the policy that lists them, and names the opening under one that does not.
    let (code, out, err) = run(bbgate()
        .args(["namespace", "render", "--building-block", "payments", "--policy"])
        .arg(&policy));
    assert_eq!(code, 0, "{err}");
    let docs: Vec<Value> = yaml_serde::Deserializer::from_str(&out)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .filter(|v: &Value| !v.is_null())
        .collect();
    let peers = docs
        .iter()
        .find(|d| d["metadata"]["name"] == "bbgate-peers")
        .expect("the peers' NetworkPolicy");
    assert_eq!(
        peers["spec"]["ingress"][0],
        serde_json::json!({"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "im-xroad"}}}],
                           "ports": [{"protocol": "TCP", "port": 8080}, {"protocol": "TCP", "port": 8443}]})
    );
    let fake = FakeKube::start(true);
    for d in &docs {
        fake.put(d.clone());
    }
    let kc = fake.kubeconfig(tmp.path());
    let check = |policy: Option<&Path>| {
        let mut cmd = bbgate();
        cmd.args(["namespace", "check", "--building-block", "payments", "--kubeconfig"])
            .arg(&kc);
        if let Some(p) = policy {
            cmd.arg("--policy").arg(p);
        }
        run_json(&mut cmd)
    };
    let (code, v) = check(Some(&policy));
    assert_eq!(code, 0, "{v}");
    let (code, v) = check(None);
    assert_eq!(code, 1, "{v}");
    let problems = each(&v["problems"], "message");
    assert!(
        problems
            .iter()
            .any(|p| p.contains("NetworkPolicy bbgate-peers: ingress rule 1 admits pods of namespace im-xroad")),
        "{problems:?}"
    );
}

#[test]
fn an_object_another_release_owns_is_a_refusal_naming_it_not_a_cluster_failure() {
    let tmp = tempfile::tempdir().unwrap();
    let chart = emulator_chart(tmp.path());
    let pages = pages(tmp.path());
    let set_string = with("--set-string", &TAGS);
    let set_string: Vec<&str> = set_string.iter().map(String::as_str).collect();
    let (code, out, err) = verify(&chart, &pages, &tmp.path().join("evidence.json"), 3, &set_string);
    assert_eq!(code, 0, "{out}{err}");
    for (major, owner, said) in [
        (3, None, "(no release owns it)"),
        (4, Some("payments-old"), "(it belongs to release \"payments-old\")"),
    ] {
        let fake = FakeKube::start(true);
        fake.sandbox_namespace(NS);
        // What an earlier install left: the StatefulSet of the same name, not this release's.
        let mut meta = serde_json::json!({"name": "pay-db12", "namespace": NS});
        if let Some(o) = owner {
            meta["labels"] = serde_json::json!({"app.kubernetes.io/managed-by": "Helm"});
            meta["annotations"] =
                serde_json::json!({"meta.helm.sh/release-name": o, "meta.helm.sh/release-namespace": NS});
        }
        fake.put(serde_json::json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": meta,
            "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": []}}}}));
        let (code, out, err) = run(deploy(&fake, tmp.path(), major, &chart, &pages, "pay").args(&set_string));
        assert_eq!(code, 1, "helm {major}: {out}{err}");
        let all = format!("{out}{err}");
        assert!(
            all.contains(&format!(
                "StatefulSet \"pay-db12\" in namespace \"{NS}\" already exists and is not release \"pay\"'s {said}"
            )),
            "helm {major}: {all}"
        );
        assert!(all.contains("delete it"), "{all}");
    }
}

/// The payment hub's vendor account, where Mifos keeps its images, and the policy entry that makes them the
/// payments building block's own, with the building block's organisation on ghcr.io.
const VENDOR: &str = "419830066942.dkr.ecr.us-east-1.amazonaws.com";

fn policy_with_registries(dir: &Path, entries: bool) -> PathBuf {
    let extra = if entries {
        format!(
            "[[building_block.registries]]\nregistry = \"{VENDOR}\"\nrepositories = [\"phee/*\"]\n\
             [[building_block.registries]]\nregistry = \"ghcr.io\"\nrepositories = [\"mifos/*\"]\n"
        )
    } else {
        String::new()
    };
    sandbox_policy(
        dir,
        &format!("registries-{entries}"),
        &extra,
        &format!("[\"{REGISTRY}\"]"),
    )
}

/// The payment hub as Mifos ships it: a connector from the vendor's own ECR account and the operations app from
/// the organisation's ghcr.io, no image in the sandbox's ECR at all. `account` is the account the connector's scan
/// says it is in.
fn payment_hub(dir: &Path, account: &str) -> (PathBuf, PathBuf) {
    let chart = dir.join("ph-ee");
    write(
        &chart.join("Chart.yaml"),
        "apiVersion: v2\nname: ph-ee\nversion: 1.0.0\n",
    );
    write(&chart.join("values.yaml"), "{}\n");
    let host = VENDOR.replace("419830066942", account);
    write(
        &chart.join("templates/connector.yaml"),
        &statefulset("connector", &format!("{host}/phee/connector-bulk:1.2.0"), RESOURCES),
    );
    write(
        &chart.join("templates/operations.yaml"),
        &statefulset("operations", "ghcr.io/mifos/ph-ee-operations-app:1.3.0", RESOURCES),
    );
    let pages = dir.join("ph-pages");
    std::fs::create_dir_all(&pages).unwrap();
    let mut connector = scan_page(
        "phee/connector-bulk",
        &format!("sha256:{}", "c1".repeat(32)),
        "1.2.0",
        peer::low_basic_findings(1),
        1,
    );
    connector["registryId"] = Value::from(account);
    let operations = scan_page(
        "github/mifos/ph-ee-operations-app",
        &format!("sha256:{}", "c2".repeat(32)),
        "1.3.0",
        peer::low_basic_findings(1),
        1,
    );
    for (i, page) in [connector, operations].iter().enumerate() {
        std::fs::write(pages.join(format!("{i}.json")), serde_json::to_vec(page).unwrap()).unwrap();
    }
    (chart, pages)
}

#[test]
fn images_kept_in_a_vendors_ecr_or_the_bbs_own_ghcr_organisation_are_judged_and_deployed_as_its_own() {
    let tmp = tempfile::tempdir().unwrap();
    let with_entries = policy_with_registries(tmp.path(), true);
    let without = policy_with_registries(tmp.path(), false);
    let verify = |chart: &Path, pages: &Path, policy: &Path, extra: &[&str]| {
        run_json(
            bbgate()
                .args(["verify", "--chart", chart.to_str().unwrap(), "--helm", &helm(4)])
                .args(["--findings", pages.to_str().unwrap(), "--api-report", REPORT])
                .args(["--evidence", tmp.path().join("evidence.json").to_str().unwrap()])
                .args(["--registry", REGISTRY, "--policy"])
                .arg(policy)
                .args(extra),
        )
    };
    let (chart, pages) = payment_hub(tmp.path(), "419830066942");
    // No --building-block: the vendor's connector names it; both images are the payments building block's own.
    let (code, v) = verify(&chart, &pages, &with_entries, &[]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["building_block"], "payments", "{v}");
    assert_eq!(each(&v["images"], "registry"), [VENDOR, REGISTRY], "{v}");
    // Pages of the connector's repository from another account are not its pages.
    let other = tmp.path().join("other-account");
    copy(&pages, &other);
    let page = std::fs::read_to_string(other.join("0.json")).unwrap();
    std::fs::write(
        other.join("0.json"),
        page.replace("\"419830066942\"", "\"999999999999\""),
    )
    .unwrap();
    let (code, v) = verify(&chart, &other, &with_entries, &[]);
    assert_eq!(code, 2, "{v}");
    assert!(
        v.to_string()
            .contains("no saved findings pages of repository phee/connector-bulk in account 419830066942"),
        "{v}"
    );
    // Positive control: without the entries, nothing names the building block, and named, both are foreign.
    let (code, v) = verify(&chart, &pages, &without, &[]);
    assert_eq!(code, 2, "{v}");
    assert!(
        v.to_string().contains("no building block in the policy") && v.to_string().contains("of account 419830066942"),
        "{v}"
    );
    let (code, v) = verify(&chart, &pages, &without, &["--building-block", "payments"]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(each(&v["reasons"], "code"), ["foreign-repository"], "{v}");

    // The attack: the same repository name in an account the policy does not list (anyone can create one, and
    // open its repository policy to the sandbox). Not the building block's.
    let evil = tmp.path().join("evil");
    let (evil_chart, evil_pages) = payment_hub(&evil, "999999999999");
    let (code, v) = verify(
        &evil_chart,
        &evil_pages,
        &with_entries,
        &["--building-block", "payments"],
    );
    assert_eq!(code, 1, "{v}");
    let reasons = diagnostics(&v["reasons"]);
    assert_eq!(reasons.len(), 1, "{v}");
    assert_eq!(reasons[0].0, "foreign-repository");
    assert!(reasons[0].1.contains("repository phee/connector-bulk"), "{v}");
    // Another building block's release may not run payments' own organisation's images.
    let im = tmp.path().join("im");
    let (im_chart, im_pages) = payment_hub(&im, "419830066942");
    std::fs::remove_file(im_chart.join("templates/connector.yaml")).unwrap();
    std::fs::remove_file(im_pages.join("0.json")).unwrap();
    let (code, v) = verify(
        &im_chart,
        &im_pages,
        &with_entries,
        &["--building-block", "information-mediator"],
    );
    assert_eq!(code, 1, "{v}");
    assert!(
        v["reasons"][0]["message"]
            .as_str()
            .unwrap()
            .contains("is building block payments's own"),
        "{v}"
    );

    // Deployed as judged: the connector from the vendor's registry (which [deploy] registries does not list: the
    // building block's entry admits it), the operations app as the cache's copy, each pinned.
    let (code, v) = verify(&chart, &pages, &with_entries, &[]);
    assert_eq!(code, 0, "{v}");
    let fake = FakeKube::start(true);
    fake.sandbox_namespace(NS);
    let (code, out, err) = run(deploy(&fake, tmp.path(), 4, &chart, &pages, "ph")
        .arg("--policy")
        .arg(&with_entries)
        .env("BBGATE_POLICY_SHA256", sha256_file(&with_entries)));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        image_of(&fake, "ph-connector"),
        format!("{VENDOR}/phee/connector-bulk@sha256:{}", "c1".repeat(32))
    );
    assert_eq!(
        image_of(&fake, "ph-operations"),
        format!(
            "{REGISTRY}/github/mifos/ph-ee-operations-app@sha256:{}",
            "c2".repeat(32)
        )
    );
}

/// The README's walk-through, run as the orb runs it: a GovStack-shaped BB (two images from one repository at two
/// tags given with `--set-string`, an umbrella with a vendored subchart and a nested dependency, a peer namespace)
/// goes through the orb's `verify` step online (the local AWS peer's ECR) and its `deploy_release` step (EKS
/// through the peer, the fake API server, helm from PATH at the admins' pin), each step's own shell.
#[test]
fn the_readmes_govstack_walk_through_runs_through_the_orbs_steps() {
    let moto = peer::Moto::get();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // The BB's two images in one repository, and the broker's cached copy, each scanned.
    let repo = peer::unique("bb/payments/walk");
    moto.create_repository(&repo);
    let d1 = moto.put_image(&repo, "1.0.0", &peer::Moto::image_manifest(&format!("{repo}-1")));
    let d2 = moto.put_image(&repo, "1.1.0", &peer::Moto::image_manifest(&format!("{repo}-2")));
    let low = || {
        vec![peer::scan_result(
            "COMPLETE",
            peer::low_basic_findings(2),
            vec![],
            serde_json::json!({"MEDIUM": 2}),
        )]
    };
    moto.queue_scans(&repo, low());
    let broker = peer::unique("walk-broker");
    let cached = format!("docker-hub/bitnami/{broker}");
    moto.create_repository(&cached);
    let d3 = moto.put_image(&cached, "3.7", &peer::Moto::image_manifest(&cached));
    moto.queue_scans(&cached, low());

    // The chart: the IM-shaped umbrella, with the emulator's two security servers and the peer's NetworkPolicy.
    let chart = umbrella_of(
        dir,
        &format!("{REGISTRY}/{repo}:1.0.0"),
        &format!("bitnami/{broker}:3.7"),
    );
    write(
        &chart.join("values.yaml"),
        &format!(
            "global:\n  registry: {REGISTRY}\n  resources: {RESOURCES}\n\
             ss1:\n  image: {{repository: {repo}, tag: \"\"}}\nss2:\n  image: {{repository: {repo}, tag: \"\"}}\n"
        ),
    );
    write(&chart.join("templates/ss1.yaml"), &workload("ss1", "ss1", true));
    write(&chart.join("templates/ss2.yaml"), &workload("ss2", "ss2", true));
    write(&chart.join("templates/peers.yaml"), &peer_policy(8080));
    let policy = sandbox_policy(dir, "walk", PEERS, "[]");
    // helm on PATH, as the orb's executor has it. And one shim: the AWS peer is reached through
    // AWS_ENDPOINT_URL, which deploy refuses unless the admins allow it by name (no orb parameter can, since the
    // BB's config sets those); the shim adds that allowance to deploy and runs this tree's bbgate otherwise as is.
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(helm(3), bin.join("helm")).unwrap();
    let real = env!("CARGO_BIN_EXE_bbgate");
    write(
        &bin.join("bbgate"),
        &format!(
            "#!/bin/sh\nif [ \"$1\" = deploy ]; then shift; exec {real} deploy --allow-env AWS_ENDPOINT_URL \"$@\"; fi\nexec {real} \"$@\"\n"
        ),
    );
    std::fs::set_permissions(bin.join("bbgate"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let tags = "ss1.image.tag=1.0.0\nss2.image.tag=1.1.0";
    let (report, chart_dir, policy_file) = (
        std::fs::canonicalize(REPORT).unwrap(),
        chart.display().to_string(),
        policy.display().to_string(),
    );
    let mut aws = moto.env().to_vec();
    aws.extend([
        ("HELM_CACHE_HOME", "h-cache"),
        ("HELM_CONFIG_HOME", "h-config"),
        ("HELM_DATA_HOME", "h-data"),
    ]);
    let common = [
        ("chart", chart_dir.as_str()),
        ("set_string", tags),
        ("release", "payment-hub"),
        ("policy", policy_file.as_str()),
        ("api_reports", report.to_str().unwrap()),
    ];

    // The BB's verify job.
    let mut params = common.to_vec();
    params.extend([("scan_timeout", "1m")]);
    let (code, out, err) = orb_step("verify", &params, dir, &[&bin], &aws);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("bbgate verify exited 0"), "{out}");
    let v: Value = serde_json::from_slice(&std::fs::read(dir.join("bbgate-out/verify.json")).unwrap()).unwrap();
    let mut judged: Vec<String> = each(&v["images"], "digest").into_iter().map(str::to_owned).collect();
    judged.sort();
    let mut want = vec![d1.clone(), d2.clone(), d3.clone()];
    want.sort();
    assert_eq!(judged, want, "each tag and the nested broker judged: {v}");

    // The admins' deploy job, after the approval: the same values, the cluster found through EKS.
    let fake = FakeKube::start(true);
    fake.sandbox_namespace(NS);
    let cluster = peer::unique("walk-cluster");
    moto.eks_cluster(&cluster, &fake.url);
    let (helm_pin, policy_pin) = (helm_pin(3), sha256_file(&policy));
    let mut env = aws.to_vec();
    env.extend([
        ("EKS_CLUSTER", cluster.as_str()),
        ("BBGATE_HELM_SHA256", helm_pin.as_str()),
        ("BBGATE_POLICY_SHA256", policy_pin.as_str()),
        ("BBGATE_BUILDING_BLOCK", "payments"),
    ]);
    let mut params = common.to_vec();
    params.extend([
        ("evidence", "bbgate-out/evidence.json"),
        ("eks_cluster_env_var", "EKS_CLUSTER"),
        ("timeout", "60s"),
    ]);
    let (code, out, err) = orb_step("deploy_release", &params, dir, &[&bin], &env);
    assert_eq!(code, 0, "{out}{err}");
    let pinned = |repository: &str, digest: &str| format!("{REGISTRY}/{repository}@{digest}");
    assert_eq!(image_of(&fake, "payment-hub-ss1"), pinned(&repo, &d1));
    assert_eq!(image_of(&fake, "payment-hub-ss2"), pinned(&repo, &d2));
    assert_eq!(image_of(&fake, "payment-hub-xroad-ss"), pinned(&repo, &d1));
    assert_eq!(image_of(&fake, "payment-hub-broker"), pinned(&cached, &d3));
    assert!(
        fake.get("NetworkPolicy", NS, "payment-hub-from-im").is_some(),
        "the peer's NetworkPolicy is installed"
    );
    let record: Value =
        serde_json::from_slice(&std::fs::read(dir.join("bbgate-out/deploy-record.json")).unwrap()).unwrap();
    assert_eq!(record["status"], "deployed", "{record}");
    assert!(!format!("{out}{err}").contains(peer::STATIC_SECRET));
}

/// No helm where it was looked for is the machine's configuration (exit 2, with where to get helm), not a failure a
/// re-run mends (exit 3).
#[test]
fn a_missing_helm_is_invalid_configuration_with_the_install_hint() {
    let tmp = tempfile::tempdir().unwrap();
    let chart = emulator_chart(tmp.path());
    let (code, out, err) = run(bbgate()
        .args([
            "chart",
            "check",
            chart.to_str().unwrap(),
            "--building-block",
            "payments",
        ])
        .args(["--helm", tmp.path().join("no-helm-here").to_str().unwrap()]));
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("Install helm 3 or 4 (https://helm.sh/docs/intro/install/"),
        "{err}"
    );
    // Control: the same command with helm renders.
    let (code, out, err) = run(bbgate()
        .args([
            "chart",
            "check",
            chart.to_str().unwrap(),
            "--building-block",
            "payments",
        ])
        .args(["--helm", &helm(3)])
        .args(with("--set-string", &TAGS)));
    assert_eq!(code, 0, "{out}{err}");
}

/// The sandbox's own ECR (`[images] ecr`): a building block's repository name in another account (which anyone
/// can create and open to the sandbox) is not its image. Positive control: without the key, it is taken as one.
#[test]
fn a_bbs_repository_name_in_another_account_is_foreign_once_the_sandbox_names_its_ecr() {
    let tmp = tempfile::tempdir().unwrap();
    let other = "999999999999.dkr.ecr.eu-central-1.amazonaws.com";
    let chart = tmp.path().join("clean-looking");
    small_chart(
        &chart,
        "clean-looking",
        "1.0.0",
        &format!("{other}/bb/payments/emulator:1.0.0"),
        "",
    );
    let pages = tmp.path().join("pages");
    std::fs::create_dir_all(&pages).unwrap();
    let mut page = scan_page(
        "bb/payments/emulator",
        &format!("sha256:{}", "9e".repeat(32)),
        "1.0.0",
        vec![],
        1,
    );
    page["registryId"] = Value::from("999999999999");
    std::fs::write(pages.join("0.json"), serde_json::to_vec(&page).unwrap()).unwrap();
    let verify = |policy: &Path| {
        run_json(
            bbgate()
                .args(["verify", "--chart", chart.to_str().unwrap(), "--helm", &helm(3)])
                .args([
                    "--findings",
                    pages.to_str().unwrap(),
                    "--api-report",
                    REPORT,
                    "--policy",
                ])
                .arg(policy),
        )
    };
    let open = sandbox_policy(tmp.path(), "any-account", "", "[]");
    let (code, v) = verify(&open);
    assert_eq!(code, 0, "without [images] ecr, any account passes: {v}");
    let named = tmp.path().join("sandbox-named.toml");
    let text = std::fs::read_to_string(&open).unwrap();
    std::fs::write(&named, text.replace("# ecr = ", "ecr = ")).unwrap();
    let (code, v) = verify(&named);
    assert_eq!(code, 1, "{v}");
    let reasons = diagnostics(&v["reasons"]);
    assert_eq!(reasons.len(), 1, "{v}");
    assert_eq!(reasons[0].0, "foreign-repository");
    assert!(
        reasons[0]
            .1
            .contains("is in ECR account 999999999999, not the sandbox's (123456789012; [images] ecr)"),
        "{v}"
    );
}
