//! The admins' deploy from a registry bundle (issue 26): a BB pipeline verifies, pushes its image and publishes
//! the bundle to Debian's docker-registry, and asks for a deploy through a loopback stand-in of the CircleCI
//! API; the admins' deploy, run from a directory holding no file of the BB's, pulls the bundle by digest and
//! installs it into the fake API server with the real helm 3 and helm 4. Then the attacks on that path.

#![allow(clippy::unwrap_used)] // a test fails loudly where it unwraps

mod common;
use common::fake_kube::FakeKube;
use common::peer;
use common::registry;
use common::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

const NS: &str = "paymenthub";
const REGISTRY: &str = "123456789012.dkr.ecr.eu-central-1.amazonaws.com";
const REPORT: &str = "../shared/fixtures-upstream/cucumber-cck-messages/minimal.ndjson";
const CHART: &str = "fixtures/charts/payments-release";
/// The release chart's images: (repository, tag). The emulator is the image the pipeline pushes.
const IMAGES: [(&str, &str); 5] = [
    ("bb/payments/adapter", "1.5.0"),
    ("docker-hub/library/busybox", "1.36"),
    ("bb/payments/emulator", "1.0.0"),
    ("docker-hub/library/postgres", "16.4"),
    ("bb/payments/db-migrate", "2.0.1"),
];
const BUNDLE_REPO: &str = "bb/payments/emulator";

fn sha256(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}

/// What the BB's pipeline leaves: the workspace it ran in, the emulator image's digest, the evidence, the
/// pages, and the bundle publish printed.
struct Published {
    workspace: tempfile::TempDir,
    image: String,
    bundle: String,
    publish: Value,
}

/// The BB pipeline, as the orb's steps run it: build and push the image, verify the release chart on its saved
/// scan pages, publish the bundle.
fn pipeline() -> Published {
    pipeline_under(None)
}

/// `pipeline()` under a policy file (verify and publish both use it, as the admins' deploy must).
fn pipeline_under(policy: Option<&Path>) -> Published {
    let policy_args: Vec<String> = policy.map_or_else(Vec::new, |p| vec!["--policy".into(), p.display().to_string()]);
    let ws = tempfile::tempdir().unwrap();
    let dir = ws.path();
    let layout = registry::oci_layout(dir, &["v1"], 2048);
    // A tag of its own per pipeline (the tests of this file run at once against one registry).
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let tag = format!("{}-{n}", peer::unique("v1"));
    let (code, pushed) = run_json(
        bbgate()
            .env("DOCKER_CONFIG", "/nonexistent-bbgate-test")
            .args(["push", "--plain-http", "--format", "json"])
            .args(["--from", &format!("oci:{}:v1", layout.display())])
            .args(["--to", &format!("{}/{BUNDLE_REPO}:{tag}", registry::open())]),
    );
    assert_eq!(code, 0, "{pushed}");
    let image = pushed["digest"].as_str().unwrap().to_owned();
    // The scan pages of every image of the release, the emulator's of the digest pushed.
    let pages = dir.join("bbgate-out/findings");
    std::fs::create_dir_all(&pages).unwrap();
    for (i, (repo, t)) in IMAGES.iter().enumerate() {
        let digest = if *repo == BUNDLE_REPO {
            image.clone()
        } else {
            format!("sha256:{}", format!("{:02x}", 0xc0 + i).repeat(32))
        };
        let page = scan_page(repo, &digest, t, peer::low_basic_findings(1), 1);
        std::fs::write(pages.join(format!("{i}.json")), serde_json::to_vec(&page).unwrap()).unwrap();
    }
    let ev = dir.join("bbgate-out/evidence.json");
    let (code, v) = run_json(
        bbgate()
            .args(["verify", "--chart", CHART, "--helm", &helm(3), "--format", "json"])
            .args(["--findings", pages.to_str().unwrap(), "--api-report", REPORT])
            .args(["--registry", REGISTRY, "--evidence", ev.to_str().unwrap()])
            .args(&policy_args),
    );
    assert_eq!(code, 0, "{v}");
    let policy_param = policy.map_or_else(String::new, |p| p.display().to_string());
    // The orb's publish step, as its shell runs in the job (the registry named by BBGATE_REGISTRY_URL, as a
    // mirror would be), writing bbgate-out/bundle.json.
    let (code, out, err) = orb_step(
        "publish",
        &[
            ("chart", &abs(CHART)),
            ("to", &format!("{}/{BUNDLE_REPO}:bundle-{tag}", registry::open())),
            ("api_reports", &abs(REPORT)),
            ("policy", &policy_param),
        ],
        dir,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("published "), "{out}");
    let publish: Value = serde_json::from_slice(&std::fs::read(dir.join("bbgate-out/bundle.json")).unwrap()).unwrap();
    Published {
        bundle: publish["bundle"].as_str().unwrap().to_owned(),
        workspace: ws,
        image,
        publish,
    }
}

fn abs(p: &str) -> String {
    std::fs::canonicalize(p).unwrap().display().to_string()
}

/// The orb's command `command` as its step's shell runs in the BB's job (the registry named by
/// BBGATE_REGISTRY_URL, as a mirror would be).
fn orb_step(command: &str, params: &[(&str, &str)], cwd: &Path) -> (i32, String, String) {
    let url = format!("http://{}", registry::open());
    let helm = helm(3);
    common::orb_step(
        command,
        params,
        cwd,
        &[],
        &[
            ("BBGATE_REGISTRY_URL", url.as_str()),
            ("BBGATE_HELM", helm.as_str()),
            ("DOCKER_CONFIG", "/nonexistent-bbgate-test"),
            ("AWS_REGION", peer::REGION),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ],
    )
}

/// `bbgate publish` of the workspace's evidence with `chart`, to tag `tag` of the bundle repository.
fn publish(dir: &Path, tag: &str, chart: &str) -> assert_cmd::Command {
    let mut pages: Vec<String> = std::fs::read_dir(dir.join("bbgate-out/findings"))
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .collect();
    pages.sort();
    let mut cmd = bbgate();
    cmd.env("DOCKER_CONFIG", "/nonexistent-bbgate-test")
        .args(["publish", "--plain-http", "--format", "json", "--helm", &helm(3)])
        .args([
            "--evidence",
            dir.join("bbgate-out/evidence.json").to_str().unwrap(),
            "--chart",
            chart,
        ])
        .args(["--api-report", REPORT, "--findings"])
        .args(&pages)
        .args(["--to", &format!("{}/{BUNDLE_REPO}:{tag}", registry::open())])
        .args(["--out", dir.join("bundle.json").to_str().unwrap()]);
    cmd
}

/// The admins' deploy of `bundle` with helm `major`, run in `cwd` (which holds no file of the BB's).
fn admins_deploy(fake: &common::fake_kube::Handle, cwd: &Path, major: u8, bundle: &str) -> assert_cmd::Command {
    let helm_path = helm(major);
    let pin = sha256(&std::fs::read(&helm_path).unwrap());
    let mut cmd = bbgate();
    cmd.current_dir(cwd)
        .env("DOCKER_CONFIG", "/nonexistent-bbgate-test")
        .env("HELM_CACHE_HOME", cwd.join("helm-cache"))
        .env("HELM_CONFIG_HOME", cwd.join("helm-config"))
        .env("HELM_DATA_HOME", cwd.join("helm-data"))
        .args([
            "deploy",
            "--bundle",
            bundle,
            "--plain-http",
            "--building-block",
            "payments",
        ])
        .args(["--release", "pay", "--timeout", "60s"])
        .args(["--helm", &helm_path, "--helm-sha256", &pin])
        .args(["--kubeconfig", fake.kubeconfig(cwd).to_str().unwrap()]);
    cmd
}

/// A loopback stand-in of CircleCI's API v2 pipeline trigger: records (path, Circle-Token, body) and answers
/// as CircleCI does (201, the new pipeline's id and number).
type Triggers = Arc<Mutex<Vec<(String, String, Value)>>>;

fn circleci_stand_in() -> (String, Triggers) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/api/v2", listener.local_addr().unwrap());
    let seen: Triggers = Arc::default();
    let record = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let path = line.split(' ').nth(1).unwrap_or("").to_owned();
            let (mut length, mut token) = (0usize, String::new());
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                if h.trim().is_empty() {
                    break;
                }
                let (k, v) = h.split_once(':').unwrap();
                match k.trim().to_ascii_lowercase().as_str() {
                    "content-length" => length = v.trim().parse().unwrap(),
                    "circle-token" => token = v.trim().to_owned(),
                    _ => {}
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            record
                .lock()
                .unwrap()
                .push((path, token, serde_json::from_slice(&body).unwrap_or(Value::Null)));
            let answer = r#"{"id":"5034460f-c7c4-4c43-9457-de07e2029e7b","number":42,"state":"created"}"#;
            let mut s = stream;
            let _ = write!(
                s,
                "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    (base, seen)
}

/// The registry's own view: GET a manifest of the open registry (Accept: OCI manifest and index).
fn registry_get(path: &str) -> (u16, Vec<u8>) {
    let out = std::process::Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}", "-H"])
        .arg("Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json")
        .arg(format!("http://{}/v2/{path}", registry::open()))
        .output()
        .unwrap();
    let text = out.stdout;
    let cut = text.iter().rposition(|b| *b == b'\n').unwrap();
    (
        String::from_utf8_lossy(&text[cut + 1..]).parse().unwrap(),
        text[..cut].to_vec(),
    )
}

/// A manifest or index of the bundle repository, by digest, as JSON.
fn registry_json(digest: &str) -> Value {
    let (code, raw) = registry_get(&format!("{BUNDLE_REPO}/manifests/{digest}"));
    assert_eq!(code, 200, "{digest}");
    serde_json::from_slice(&raw).unwrap()
}

/// The files' manifest of the bundle whose index is `digest`.
fn files_manifest(digest: &str) -> Value {
    registry_json(registry_json(digest)["manifests"][1]["digest"].as_str().unwrap())
}

#[test]
fn a_published_bundle_is_requested_and_the_admins_deploy_installs_it_pinned_from_an_empty_directory_with_helm_3_and_4()
{
    let p = pipeline();
    let digest = p.bundle.rsplit('@').next().unwrap().to_owned();
    assert!(
        p.bundle
            .starts_with(&format!("{}/{BUNDLE_REPO}@sha256:", registry::open())),
        "{}",
        p.publish
    );
    assert_eq!(
        p.publish["subject"],
        json!(p.image),
        "the bundle refers to the image beside it"
    );
    assert_eq!(p.publish["building_block"], "payments");
    let written: Value =
        serde_json::from_slice(&std::fs::read(p.workspace.path().join("bbgate-out/bundle.json")).unwrap()).unwrap();
    assert_eq!(written["bundle"], json!(p.bundle));

    // What the registry holds: an OCI 1.1 index whose subject is the image, over the chart as helm lays it out
    // and the files; and (docker-registry has no referrers API) the image's tag-schema index `sha256-HEX`
    // listing the bundle.
    let (code, raw) = registry_get(&format!("{BUNDLE_REPO}/manifests/{digest}"));
    assert_eq!(code, 200);
    assert_eq!(
        format!("sha256:{}", sha256(&raw)),
        digest,
        "served by the digest publish printed"
    );
    let index: Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(index["artifactType"], "application/vnd.govstack.bbgate.bundle.v1");
    assert_eq!(index["subject"]["digest"], json!(p.image));
    assert_eq!(index["annotations"]["io.govstack.bbgate.building-block"], "payments");
    let chart = registry_json(index["manifests"][0]["digest"].as_str().unwrap());
    assert_eq!(chart["config"]["mediaType"], "application/vnd.cncf.helm.config.v1+json");
    assert_eq!(
        chart["layers"][0]["mediaType"],
        "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
    );
    let chart_ref = format!(
        "{}/{BUNDLE_REPO}@{}",
        registry::open(),
        index["manifests"][0]["digest"].as_str().unwrap()
    );
    assert_eq!(p.publish["chart"], json!(chart_ref));
    let roles: Vec<String> = files_manifest(&digest)["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["annotations"]["io.govstack.bbgate.role"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(roles, ["evidence", "report", "page", "page", "page", "page", "page"]);
    let (code, raw) = registry_get(&format!("{BUNDLE_REPO}/manifests/{}", p.image.replace(':', "-")));
    assert_eq!(code, 200, "the referrers tag of the image");
    let referrers: Value = serde_json::from_slice(&raw).unwrap();
    assert!(
        referrers["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["digest"] == json!(digest) && d["artifactType"] == "application/vnd.govstack.bbgate.bundle.v1"),
        "{referrers}"
    );

    // helm itself pulls the chart from the bundle, by digest.
    for major in [3, 4] {
        let out_dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new(helm(major))
            .args([
                "pull",
                &format!("oci://{}", p.publish["chart"].as_str().unwrap()),
                "--plain-http",
                "-d",
            ])
            .arg(out_dir.path())
            .env("HELM_CONFIG_HOME", out_dir.path().join("cfg"))
            .env("HELM_CACHE_HOME", out_dir.path().join("cache"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "helm {major} pull: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let pulled: Vec<_> = std::fs::read_dir(out_dir.path())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tgz"))
            .collect();
        assert_eq!(pulled.len(), 1, "helm {major} wrote the chart archive");
    }

    // The request: only a pointer, sent to the admins' project as its two pipeline parameters.
    let (api, triggers) = circleci_stand_in();
    let (code, out, err) = run(bbgate()
        .env("CIRCLE_TOKEN", "bb-trigger-token-never-printed")
        .env("DOCKER_CONFIG", "/nonexistent-bbgate-test")
        .args([
            "request-deploy",
            "--plain-http",
            "--bundle",
            &p.bundle,
            "--building-block",
            "payments",
        ])
        .args([
            "--circleci-project",
            "gh/GovStackWorkingGroup/sandbox-deploy",
            "--circleci-api-url",
            &api,
        ]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("pipeline #42"), "{out}");
    assert!(!format!("{out}{err}").contains("bb-trigger-token-never-printed"));
    let seen = triggers.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].0,
        "/api/v2/project/gh/GovStackWorkingGroup/sandbox-deploy/pipeline"
    );
    assert_eq!(seen[0].1, "bb-trigger-token-never-printed");
    assert_eq!(
        seen[0].2,
        json!({"branch": "main", "parameters": {"building_block": "payments", "bundle": p.bundle}})
    );

    // The admins' deploy, from an empty directory, with the bundle the request names: every container pinned
    // to the digest judged, the emulator to the image the pipeline pushed.
    for major in [3, 4] {
        let fake = FakeKube::start(true);
        fake.sandbox_namespace(NS);
        let admins = tempfile::tempdir().unwrap();
        let (code, out, err) = run(&mut admins_deploy(&fake, admins.path(), major, &p.bundle));
        assert_eq!(code, 0, "helm {major}: {out}{err}");
        let images = fake.images(NS);
        assert!(
            images.contains(&format!("{REGISTRY}/{BUNDLE_REPO}@{}", p.image)),
            "{images:?}"
        );
        assert!(
            images.iter().all(|i| i.contains("@sha256:")),
            "every container by digest: {images:?}"
        );
        let record: Value =
            serde_json::from_slice(&std::fs::read(admins.path().join("deploy-record.json")).unwrap()).unwrap();
        assert_eq!(
            record["bundle"],
            json!(p.bundle),
            "the record names the bundle installed"
        );
        assert_eq!(record["status"], "deployed");
        let left: Vec<_> = std::fs::read_dir(admins.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert!(
            left.iter()
                .all(|f| !["evidence.json", "chart", "pages"].contains(&f.to_str().unwrap())),
            "nothing of the bundle is left behind: {left:?}"
        );
    }
}

#[test]
fn a_bundle_of_another_building_block_altered_or_never_published_is_refused_and_a_request_sets_nothing() {
    let p = pipeline();
    let fake = FakeKube::start(true);
    fake.sandbox_namespace(NS);
    let admins = tempfile::tempdir().unwrap();
    // Positive control: the same bundle, dry run, as the admins' building block.
    let (code, out, err) = run(admins_deploy(&fake, admins.path(), 4, &p.bundle).arg("--dry-run"));
    assert_eq!(code, 0, "{out}{err}");

    // Another building block's admins: the bundle's repository is not theirs.
    let (code, _, err) = run(admins_deploy(&fake, admins.path(), 4, &p.bundle).args(["--building-block", "usct"]));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("is not one of building block usct's repositories"),
        "{err}"
    );

    // A bundle in a registry that is not the sandbox's (the request names the host): refused before any pull.
    let elsewhere = p.bundle.replacen(&registry::open(), "registry.bb-team.example", 1);
    let cmd = admins_deploy(&fake, admins.path(), 4, &elsewhere);
    let args: Vec<String> = cmd
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .filter(|a| a != "--plain-http")
        .collect();
    let mut cmd = bbgate();
    cmd.current_dir(admins.path()).args(&args).arg("--dry-run");
    let (code, _, err) = run(&mut cmd);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("is neither an ECR registry nor one of the policy's [deploy] registries"),
        "{err}"
    );

    // A request naming a bundle that was never published: refused before anything is triggered, and by deploy.
    let never = format!("{}/{BUNDLE_REPO}@sha256:{}", registry::open(), "ab".repeat(32));
    let (api, triggers) = circleci_stand_in();
    let (code, _, err) = run(bbgate()
        .env("CIRCLE_TOKEN", "t")
        .env("DOCKER_CONFIG", "/nonexistent-bbgate-test")
        .args([
            "request-deploy",
            "--plain-http",
            "--bundle",
            &never,
            "--building-block",
            "payments",
        ])
        .args(["--circleci-project", "gh/o/sandbox-deploy", "--circleci-api-url", &api]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("never published"), "{err}");
    assert!(triggers.lock().unwrap().is_empty(), "no pipeline was triggered");
    let (code, _, err) = run(admins_deploy(&fake, admins.path(), 4, &never).arg("--dry-run"));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("never published"), "{err}");

    // A request that tries to set values: request-deploy has no such flag, and a request file with more than
    // the building block and the bundle is refused by the admins' deploy.
    let (code, _, err) = run(bbgate()
        .args(["request-deploy", "--bundle", &p.bundle, "--building-block", "payments"])
        .args(["--out", "r.json", "--set", "networkPolicy.enabled=false"]));
    assert_eq!(code, 2, "{err}");
    let request = admins.path().join("request.json");
    std::fs::write(
        &request,
        json!({"building_block": "payments", "bundle": p.bundle, "values": {"networkPolicy": {"enabled": false}}})
            .to_string(),
    )
    .unwrap();
    let cmd = admins_deploy(&fake, admins.path(), 4, &p.bundle);
    let args: Vec<String> = cmd.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
    let at = args.iter().position(|a| a == "--bundle").unwrap();
    let mut cmd2 = bbgate();
    cmd2.current_dir(admins.path())
        .env("DOCKER_CONFIG", "/nonexistent-bbgate-test");
    cmd2.args(&args[..at])
        .args(["--request", request.to_str().unwrap()])
        .args(&args[at + 2..]);
    let (code, _, err) = run(&mut cmd2);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("unknown field `values`"), "{err}");
    // The same file without the extra field deploys (dry run): the refusal was the field.
    std::fs::write(
        &request,
        json!({"building_block": "payments", "bundle": p.bundle}).to_string(),
    )
    .unwrap();
    let mut cmd3 = bbgate();
    cmd3.current_dir(admins.path())
        .env("DOCKER_CONFIG", "/nonexistent-bbgate-test");
    cmd3.args(&args[..at])
        .args(["--request", request.to_str().unwrap(), "--dry-run"])
        .args(&args[at + 2..]);
    let (code, out, err) = run(&mut cmd3);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn a_bundle_whose_chart_differs_from_its_evidence_is_refused_at_publish_and_at_deploy() {
    let p = pipeline();
    // At publish: a chart changed after verify is not published.
    let changed = tempfile::tempdir().unwrap();
    let copy = changed.path().join("payments-release");
    copy_dir(Path::new(CHART), &copy);
    std::fs::write(
        copy.join("templates/extra.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n",
    )
    .unwrap();
    let (code, v) = run_json(&mut publish(
        p.workspace.path(),
        "bundle-changed",
        copy.to_str().unwrap(),
    ));
    assert_eq!(code, 1, "{v}");
    assert!(v.to_string().contains("templates/extra.yaml"), "{v}");

    // At deploy: someone with push access rewrites the bundle's chart layer (a new manifest, so a new digest the
    // request could name): the chart is compared with what the evidence judged and refused.
    let fake = FakeKube::start(true);
    fake.sandbox_namespace(NS);
    let admins = tempfile::tempdir().unwrap();
    let tgz = changed.path().join("chart.tgz");
    let out = std::process::Command::new("tar")
        .args([
            "-czf",
            tgz.to_str().unwrap(),
            "-C",
            changed.path().to_str().unwrap(),
            "payments-release",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let digest = p.bundle.rsplit('@').next().unwrap();
    let rewritten = rewrite(digest, "chart", &tgz, "bundle-rewritten");
    let other = format!("{}/{BUNDLE_REPO}@{rewritten}", registry::open());
    let (code, out, err) = run(admins_deploy(&fake, admins.path(), 4, &other).arg("--dry-run"));
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("templates/extra.yaml"), "{err}");
    assert!(err.contains("not the chart the evidence judged"), "{err}");
    // The same with the bundle's test report swapped for another run (one where steps fail): the report is not
    // the one the evidence names, and deploy decides only on those.
    let other_report = Path::new("../shared/fixtures-upstream/cucumber-cck-messages/all-statuses.ndjson");
    let swapped = rewrite(digest, "report", other_report, "bundle-report-swapped");
    let other = format!("{}/{BUNDLE_REPO}@{swapped}", registry::open());
    let (code, out, err) = run(admins_deploy(&fake, admins.path(), 4, &other).arg("--dry-run"));
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("is not one of the API test reports the evidence names"),
        "{err}"
    );
    // Positive control: the untouched bundle passes the same dry run.
    let (code, out, err) = run(admins_deploy(&fake, admins.path(), 4, &p.bundle).arg("--dry-run"));
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn a_bundle_altered_in_the_registry_is_refused_by_its_digest() {
    let p = pipeline();
    let fake = FakeKube::start(true);
    fake.sandbox_namespace(NS);
    let admins = tempfile::tempdir().unwrap();
    let (code, out, err) = run(admins_deploy(&fake, admins.path(), 4, &p.bundle).arg("--dry-run"));
    assert_eq!(code, 0, "positive control: {out}{err}");
    // Behind the registry's back, the evidence blob's bytes change (a compromised registry, or storage): the
    // manifest still names the old digest.
    let evidence = files_manifest(p.bundle.rsplit('@').next().unwrap())["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["annotations"]["io.govstack.bbgate.role"] == "evidence")
        .unwrap()["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_owned();
    let root = std::env::var("BBGATE_TEST_REGISTRY_ROOT").expect("scripts/test exports the registry's storage");
    let data = PathBuf::from(root).join(format!(
        "docker/registry/v2/blobs/sha256/{}/{evidence}/data",
        &evidence[..2]
    ));
    let mut bytes = std::fs::read(&data).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    std::fs::write(&data, bytes).unwrap();
    let (code, out, err) = run(admins_deploy(&fake, admins.path(), 4, &p.bundle).arg("--dry-run"));
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("altered in the registry"), "{err}");
}

/// Rewrite the layer of `role` of the open registry's bundle `digest` with `file`, pushed under `tag`: the new
/// manifest's digest (tests/peers/oci_rewrite.py, as anyone with push access could).
fn rewrite(digest: &str, role: &str, file: &Path, tag: &str) -> String {
    let out = std::process::Command::new("python3")
        .arg("tests/peers/oci_rewrite.py")
        .args([
            &registry::open(),
            BUNDLE_REPO,
            digest,
            role,
            file.to_str().unwrap(),
            tag,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// The shipped policy with one edit, its Rego pinned, written into `dir`; and its sha256 (the admins' pin).
fn policy_with(dir: &Path, from: &str, to: &str) -> (PathBuf, String) {
    let policy = dir.join("sandbox.toml");
    let text = std::fs::read_to_string("policies/sandbox.toml").unwrap();
    assert!(text.contains(from), "the shipped policy has {from:?}");
    let rego_sha = sha256(&std::fs::read("policies/deploy.rego").unwrap());
    let text = text.replace(from, to).replace(
        "rego = [\"deploy.rego\"]",
        &format!("rego = [{{ path = \"deploy.rego\", sha256 = \"{rego_sha}\" }}]"),
    );
    std::fs::write(&policy, &text).unwrap();
    std::fs::copy("policies/deploy.rego", dir.join("deploy.rego")).unwrap();
    (policy, sha256(text.as_bytes()))
}

#[test]
fn the_admins_values_files_may_set_only_settable_keys_on_top_of_the_bundle() {
    let admins = tempfile::tempdir().unwrap();
    let (policy, pin) = policy_with(
        admins.path(),
        "settable = []",
        "settable = [\"global.resources.requests.cpu\"]",
    );
    let p = pipeline_under(Some(&policy));
    let fake = FakeKube::start(true);
    fake.sandbox_namespace(NS);
    let tuned = admins.path().join("payments.yaml");
    std::fs::write(&tuned, "global:\n  resources:\n    requests:\n      cpu: 75m\n").unwrap();
    let (code, out, err) = run(admins_deploy(&fake, admins.path(), 4, &p.bundle)
        .env("BBGATE_POLICY_SHA256", &pin)
        .args([
            "--policy",
            policy.to_str().unwrap(),
            "--admin-values",
            tuned.to_str().unwrap(),
        ]));
    assert_eq!(code, 0, "{out}{err}");
    let cpus: Vec<String> = fake
        .list("Deployment", NS)
        .iter()
        .flat_map(|d| d["spec"]["template"]["spec"]["containers"].as_array().unwrap().clone())
        .filter_map(|c| c["resources"]["requests"]["cpu"].as_str().map(str::to_owned))
        .collect();
    assert!(
        cpus.iter().any(|c| c == "75m"),
        "the admins' value reached the release: {cpus:?}"
    );

    // A key the policy does not let deploy set is refused, naming the file and the key, before the cluster.
    let wider = admins.path().join("wider.yaml");
    std::fs::write(&wider, "global:\n  resources:\n    limits:\n      cpu: \"64\"\n").unwrap();
    let (code, _, err) = run(admins_deploy(&fake, admins.path(), 4, &p.bundle)
        .env("BBGATE_POLICY_SHA256", &pin)
        .args([
            "--policy",
            policy.to_str().unwrap(),
            "--admin-values",
            wider.to_str().unwrap(),
            "--dry-run",
        ]));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("sets global.resources.limits.cpu, which is not one of the policy's [deploy] settable keys"),
        "{err}"
    );
    // And outside a bundle deploy, --admin-values is not taken at all.
    let (code, _, err) = run(bbgate()
        .args(["deploy", "--evidence", "e.json", "--chart", "c", "--release", "r"])
        .args([
            "--building-block",
            "payments",
            "--admin-values",
            wider.to_str().unwrap(),
            "--kubeconfig",
            "k",
        ]));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--admin-values is for the admins' deploy of a bundle"),
        "{err}"
    );
}

#[test]
fn the_admins_deploy_of_a_bundle_reads_the_scan_from_ecr_and_a_critical_found_since_publish_stops_it() {
    use common::peer::Moto;
    let moto = Moto::get();
    let p = pipeline();
    let fake = FakeKube::start(true);
    fake.sandbox_namespace(NS);
    let admins = tempfile::tempdir().unwrap();
    // ECR (the moto peer) holds each image's scan: clean at first.
    let clean = || peer::scan_result("COMPLETE", peer::low_basic_findings(1), vec![], json!({"MEDIUM": 1}));
    for (repo, _) in IMAGES {
        moto.queue_scans(repo, vec![clean()]);
    }
    let with_ecr = |cmd: &mut assert_cmd::Command| {
        peer::with_moto(cmd, &moto);
        cmd.args(["--recheck-scan", "--poll-interval", "100ms", "--dry-run"]);
    };
    let mut cmd = admins_deploy(&fake, admins.path(), 4, &p.bundle);
    with_ecr(&mut cmd);
    let (code, out, err) = run(&mut cmd);
    assert_eq!(code, 0, "positive control, the scan read from ECR: {out}{err}");

    // A critical CVE published against the emulator since the bundle was: its clean pages in the bundle do not
    // count, the scan ECR holds now does.
    let mut findings = peer::low_basic_findings(1);
    findings.push(peer::critical_basic_finding("CVE-2026-424242"));
    moto.queue_scans(
        BUNDLE_REPO,
        vec![peer::scan_result(
            "COMPLETE",
            findings,
            vec![],
            json!({"MEDIUM": 1, "CRITICAL": 1}),
        )],
    );
    let mut cmd = admins_deploy(&fake, admins.path(), 4, &p.bundle);
    with_ecr(&mut cmd);
    let (code, out, err) = run(&mut cmd);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("(scan from ecr)") && err.contains("CVE-2026-424242"),
        "{err}"
    );
    assert!(!format!("{out}{err}").contains(peer::STATIC_SECRET));
}
