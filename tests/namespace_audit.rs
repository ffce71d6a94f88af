//! The admins' jobs after verify and deploy: the namespace kit (`namespace render`), its check against the
//! project's fake API server (`namespace check`, access decided by RBAC from the applied Role and RoleBinding),
//! and the audit of what runs (`audit`) against the fake API server's pods and the moto ECR peer.

#![allow(clippy::unwrap_used)] // a test fails loudly where it unwraps

mod common;
use common::fake_kube::FakeKube;
use common::peer::{self, Moto};
use common::*;
use serde_json::{Value, json};
use std::path::Path;

/// The kit's documents, read back as YAML.
fn render(extra: &[&str]) -> (i32, Vec<Value>, String) {
    let (code, out, err) = run(bbgate()
        .args(["namespace", "render", "--building-block", "payments"])
        .args(extra));
    let docs = yaml_serde::Deserializer::from_str(&out)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .filter(|v: &Value| !v.is_null())
        .collect();
    (code, docs, err)
}

fn check(kubeconfig: &std::path::Path) -> (i32, Value) {
    run_json(
        bbgate()
            .args([
                "namespace",
                "check",
                "--building-block",
                "payments",
                "--format",
                "json",
                "--kubeconfig",
            ])
            .arg(kubeconfig),
    )
}

fn codes(v: &Value) -> Vec<String> {
    v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["code"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn the_rendered_kit_once_applied_passes_check_and_each_piece_removed_or_weakened_is_named() {
    let (code, docs, err) = render(&[]);
    assert_eq!(code, 0, "{err}");
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "Namespace",
            "NetworkPolicy",
            "ResourceQuota",
            "Role",
            "RoleBinding",
            "NetworkPolicy"
        ]
    );
    let ns = &docs[0];
    assert_eq!(ns["metadata"]["name"], "paymenthub");
    assert_eq!(
        ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
        "restricted"
    );
    // Quantities stay strings when read as YAML ("2" is not the integer 2), as the API server needs them.
    assert_eq!(docs[2]["spec"]["hard"]["requests.cpu"], json!("2"));
    assert_eq!(docs[4]["subjects"][0]["name"], "bbgate:deploy:payments");

    let tmp = tempfile::tempdir().unwrap();
    let fake = FakeKube::start(true);
    let kc = fake.kubeconfig(tmp.path());
    // Before the kit: the namespace does not exist.
    let (code, v) = check(&kc);
    assert_eq!((code, codes(&v)), (1, vec!["namespace-missing".to_owned()]), "{v}");
    for d in &docs {
        fake.put(d.clone());
    }
    let (code, v) = check(&kc);
    assert_eq!(code, 0, "the applied kit is ready: {v}");
    assert_eq!(v["verdict"], "ready");

    // Each piece removed or weakened, then restored: check names it.
    let weakened: Vec<(&str, Value, &str, &str)> = vec![
        (
            "a NetworkPolicy that admits other namespaces",
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                   "metadata": {"name": "bbgate-isolate", "namespace": "paymenthub"},
                   "spec": {"podSelector": {}, "policyTypes": ["Ingress"],
                            "ingress": [{"from": [{"namespaceSelector": {}}]}]}}),
            "network-policy-leak",
            "admits pods of other namespaces",
        ),
        (
            "a quota without limits.memory",
            json!({"apiVersion": "v1", "kind": "ResourceQuota",
                   "metadata": {"name": "bbgate-capacity", "namespace": "paymenthub"},
                   "spec": {"hard": {"requests.cpu": "2", "requests.memory": "4Gi", "limits.cpu": "4"}}}),
            "namespace-quota-differs",
            "limits.memory is not set",
        ),
        (
            "a looser quota",
            json!({"apiVersion": "v1", "kind": "ResourceQuota",
                   "metadata": {"name": "bbgate-capacity", "namespace": "paymenthub"},
                   "spec": {"hard": {"requests.cpu": "16", "requests.memory": "4Gi", "limits.cpu": "4",
                                     "limits.memory": "8Gi"}}}),
            "namespace-quota-differs",
            "requests.cpu is 16 (the policy's 2)",
        ),
        (
            "the Role without patch",
            {
                let mut role = docs[3].clone();
                for rule in role["rules"].as_array_mut().unwrap() {
                    let verbs: Vec<Value> = rule["verbs"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter(|v| *v != "patch")
                        .cloned()
                        .collect();
                    rule["verbs"] = Value::Array(verbs);
                }
                role
            },
            "deploy-identity-not-allowed",
            "patch deployments.apps",
        ),
        (
            "the RoleBinding to another group",
            {
                let mut rb = docs[4].clone();
                rb["subjects"][0]["name"] = json!("bbgate:deploy:someone-else");
                rb
            },
            "deploy-identity-not-allowed",
            "group bbgate:deploy:payments may not: get configmaps",
        ),
        (
            "the Pod Security label removed",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "paymenthub"}}),
            "namespace-pod-security",
            "has no pod-security.kubernetes.io/enforce label",
        ),
    ];
    for (what, replacement, code_named, words) in weakened {
        let kind = replacement["kind"].as_str().unwrap().to_owned();
        fake.put(replacement);
        let (code, v) = check(&kc);
        assert_eq!(code, 1, "{what}: {v}");
        assert!(codes(&v).contains(&code_named.to_owned()), "{what}: {v}");
        assert!(v.to_string().contains(words), "{what}: {words:?} in {v}");
        let original = docs.iter().find(|d| d["kind"] == kind.as_str()).unwrap().clone();
        fake.put(original);
        assert_eq!(check(&kc).0, 0, "{what}: restored");
    }
}

#[test]
fn the_aws_kit_restricts_the_roles_to_the_project_and_the_deploy_role_to_the_context() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("aws.json");
    let ids = [
        "--account",
        "123456789012",
        "--org-id",
        "6f5a3c0e-9d4b-4e57-8a9f-1b2c3d4e5f60",
        "--project-id",
        "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9",
        "--context-id",
        "9e8d7c6b-5a49-4837-a261-5f4e3d2c1b0a",
        "--eks-cluster",
        "sandbox",
        "--region",
        "eu-central-1",
    ];
    let (code, docs, err) = render(&[&["--aws", out.to_str().unwrap()], &ids[..]].concat());
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("wrote the AWS kit") && err.contains("sha256"), "{err}");
    let aws: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let issuer = "oidc.circleci.com/org/6f5a3c0e-9d4b-4e57-8a9f-1b2c3d4e5f60";
    for role in ["verify_role", "deploy_role"] {
        let st = &aws[role]["assume_role_policy"]["Statement"][0];
        assert_eq!(st["Action"], "sts:AssumeRoleWithWebIdentity");
        assert_eq!(
            st["Principal"]["Federated"],
            format!("arn:aws:iam::123456789012:oidc-provider/{issuer}")
        );
        assert_eq!(
            st["Condition"]["StringEquals"][format!("{issuer}:aud")],
            "6f5a3c0e-9d4b-4e57-8a9f-1b2c3d4e5f60"
        );
        assert_eq!(
            st["Condition"]["StringLike"][format!("{issuer}:sub")],
            "org/6f5a3c0e-9d4b-4e57-8a9f-1b2c3d4e5f60/project/0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9/user/*"
        );
    }
    let context = &aws["deploy_role"]["assume_role_policy"]["Statement"][0]["Condition"]["ForAnyValue:StringEquals"];
    assert_eq!(
        context[format!("{issuer}:oidc.circleci.com/context-ids")],
        json!(["9e8d7c6b-5a49-4837-a261-5f4e3d2c1b0a"])
    );
    assert!(
        aws["verify_role"]["assume_role_policy"]
            .to_string()
            .find("context-ids")
            .is_none()
    );
    // The verify role pushes only the BB's own repositories.
    let push = &aws["verify_role"]["policy"]["Statement"][1];
    assert_eq!(
        push["Resource"],
        json!(["arn:aws:ecr:eu-central-1:123456789012:repository/bb/payments/*"])
    );
    // The access entry puts the deploy role in the group the kit's RoleBinding names.
    assert_eq!(
        aws["eks_access_entry"]["principal_arn"],
        "arn:aws:iam::123456789012:role/bbgate-deploy-payments"
    );
    assert_eq!(
        aws["eks_access_entry"]["kubernetes_groups"],
        json!([docs[4]["subjects"][0]["name"]])
    );
    assert_eq!(
        aws["aws_auth_map_roles"][0]["groups"],
        aws["eks_access_entry"]["kubernetes_groups"]
    );

    // What only the admins know is never guessed.
    let (code, _, err) = render(&["--aws", out.to_str().unwrap(), "--account", "123456789012"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("--org-id, --project-id, --context-id, --eks-cluster"),
        "{err}"
    );
    let (code, _, err) = render(&["--aws", out.to_str().unwrap(), "--org-id", "not-a-uuid"]);
    assert_eq!(code, 2, "{err}");

    // The recommended mode: deploy from the admins' own project. The deploy role trusts that project only (the
    // BB's project, whose config the BB writes, can no longer assume it), and may pull the BB's bundles; the
    // verify role still trusts the BB's project and pushes only its repositories (images and bundles).
    let admins = "3c4d5e6f-7081-4293-a4b5-c6d7e8f90a1b";
    let (code, _, err) = render(
        &[
            &["--aws", out.to_str().unwrap(), "--admins-project-id", admins],
            &ids[..],
        ]
        .concat(),
    );
    assert_eq!(code, 0, "{err}");
    let aws: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let sub = |role: &str| {
        aws[role]["assume_role_policy"]["Statement"][0]["Condition"]["StringLike"][format!("{issuer}:sub")].clone()
    };
    assert_eq!(
        sub("deploy_role"),
        json!(format!(
            "org/6f5a3c0e-9d4b-4e57-8a9f-1b2c3d4e5f60/project/{admins}/user/*"
        ))
    );
    assert_eq!(
        sub("verify_role"),
        json!("org/6f5a3c0e-9d4b-4e57-8a9f-1b2c3d4e5f60/project/0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9/user/*")
    );
    assert!(
        !aws["deploy_role"]
            .to_string()
            .contains("0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9"),
        "the BB's project is not trusted"
    );
    let pull = aws["deploy_role"]["policy"]["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == "PullBundles")
        .unwrap()
        .clone();
    assert_eq!(
        pull["Resource"],
        json!(["arn:aws:ecr:eu-central-1:123456789012:repository/bb/payments/*"])
    );
    assert!(!pull.to_string().contains("PutImage"), "the deploy role pushes nothing");
}

/// A running pod: its containers' images, and the imageIDs its status reports.
fn pod(ns: &str, name: &str, containers: &[(&str, &str, Option<&str>)]) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns},
        "spec": {"containers": containers.iter().map(|(c, image, _)| json!({"name": c, "image": image})).collect::<Vec<_>>()},
        "status": {"phase": "Running", "containerStatuses": containers.iter().map(|(c, image, id)|
            json!({"name": c, "image": image, "imageID": id.unwrap_or(""), "ready": true, "restartCount": 0})).collect::<Vec<_>>()}})
}

/// `audit` of payments and digital-registries as JSON, with the sign-offs.
fn audit_both(moto: &Moto, kubeconfig: &Path, signoffs: &Path) -> assert_cmd::Command {
    let mut cmd = peer::aws_command(moto, None);
    cmd.args([
        "audit",
        "--poll-interval",
        "100ms",
        "--format",
        "json",
        "--building-block",
        "payments",
    ])
    .args(["digital-registries", "--kubeconfig"])
    .arg(kubeconfig)
    .arg("--signoffs")
    .arg(signoffs);
    cmd
}

#[test]
fn audit_finds_a_running_digest_that_gained_a_critical_an_expiring_signoff_and_a_tag_only_pod() {
    let moto = Moto::get();
    let host = format!("{}.dkr.ecr.{}.amazonaws.com", peer::ACCOUNT, peer::REGION);
    // payments: one image run by three pods (by digest, and by tag with the digest in the status), now with a
    // critical CVE; a fourth pod runs a tag with no digest anywhere.
    let api = format!("bb/payments/{}", peer::unique("audit-api"));
    let api_digest = moto.image_with_scan(
        &api,
        "1.0",
        vec![basic_finding("CVE-2026-31337", "openssl", "9.8", "CRITICAL")],
        json!({"CRITICAL": 1}),
    );
    // digital-registries: a HIGH finding signed off until 5 days from now (inside the 14-day warning window).
    let reg = format!("bb/digital-registries/{}", peer::unique("audit-reg"));
    let reg_digest = moto.image_with_scan(
        &reg,
        "2.0",
        vec![basic_finding("CVE-2026-40000", "libxml2", "7.5", "HIGH")],
        json!({"HIGH": 1}),
    );
    let tmp = tempfile::tempdir().unwrap();
    let day = |d: i64| (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * d)).to_string()[..10].to_owned();
    let signoffs = tmp.path().join("signoffs.toml");
    std::fs::write(
        &signoffs,
        format!(
            "[[signoff]]\nid = \"CVE-2026-40000\"\nbuilding_block = \"digital-registries\"\npackage = \"libxml2\"\n\
             analysis = \"The parser is never given untrusted XML.\"\nmitigation = \"Upgrade with the next release.\"\n\
             approved_by = \"sandbox-admin@govstack.global\"\napproved_on = {}\nexpires = {}\n",
            day(-20),
            day(5)
        ),
    )
    .unwrap();

    let fake = FakeKube::start(true);
    fake.sandbox_namespace("paymenthub");
    fake.sandbox_namespace("digital-registries");
    let by_digest = format!("{host}/{api}@{api_digest}");
    let by_tag = format!("{host}/{api}:1.0");
    fake.put(pod(
        "paymenthub",
        "api-0",
        &[("api", &by_digest, Some(&format!("{host}/{api}@{api_digest}")))],
    ));
    fake.put(pod("paymenthub", "api-1", &[("api", &by_digest, None)]));
    fake.put(pod(
        "paymenthub",
        "api-2",
        &[(
            "api",
            &by_tag,
            Some(&format!("docker-pullable://{host}/{api}@{api_digest}")),
        )],
    ));
    fake.put(pod(
        "paymenthub",
        "legacy-0",
        &[("legacy", &format!("{host}/{api}:latest"), None)],
    ));
    fake.put(pod(
        "digital-registries",
        "registry-0",
        &[("registry", &format!("{host}/{reg}@{reg_digest}"), None)],
    ));
    let kc = fake.kubeconfig(tmp.path());
    let junit = tmp.path().join("audit.xml");
    let (code, v) = run_json(audit_both(&moto, &kc, &signoffs).arg("--junit").arg(&junit));
    assert_eq!(code, 1, "a running image would now be denied: {v}");
    assert_eq!(v["verdict"], "deny");
    // Three pods share one digest: one scan read for it, one for the registry's image.
    assert_eq!(v["counts"]["scans_read"], 2, "{v}");
    // And at the peer: the image three pods run was read as often as the image one pod runs.
    let reads = |repo: &str| moto.calls(repo)["calls"]["DescribeImageScanFindings"].as_u64().unwrap();
    assert!(reads(&api) >= 1);
    assert_eq!(reads(&api), reads(&reg), "one read of each distinct digest");

    let payments = &v["namespaces"][0];
    assert_eq!(
        (payments["namespace"].as_str(), payments["verdict"].as_str()),
        (Some("paymenthub"), Some("deny"))
    );
    let images = payments["images"].as_array().unwrap();
    let shared = images.iter().find(|i| i["digest"] == api_digest.as_str()).unwrap();
    assert_eq!(shared["pods"], json!(["api-0", "api-1", "api-2"]), "{shared}");
    assert_eq!(shared["verdict"], "deny");
    assert_eq!(shared["blocked"][0]["id"], "CVE-2026-31337");
    assert_eq!(shared["blocked"][0]["score"], 9.8);
    let tag_only = images.iter().find(|i| i["pods"] == json!(["legacy-0"])).unwrap();
    assert_eq!(tag_only["verdict"], "deny");
    assert_eq!(tag_only["reasons"][0]["code"], "image-without-digest");
    assert!(
        tag_only["reasons"][0]["message"]
            .as_str()
            .unwrap()
            .contains("namespace paymenthub, pod legacy-0, container legacy"),
        "{tag_only}"
    );

    let registries = &v["namespaces"][1];
    assert_eq!(registries["verdict"], "pass", "signed off: {registries}");
    assert_eq!(registries["expiring_signoffs"][0]["id"], "CVE-2026-40000");
    assert_eq!(registries["expiring_signoffs"][0]["expires"], day(5));

    // The JUnit report fails the denied images and lists the expiring sign-off.
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("<testsuite name=\"bbgate audit\""), "{xml}");
    assert!(
        xml.contains("finding-blocked") || xml.contains("CVE-2026-31337"),
        "{xml}"
    );
    assert!(xml.contains("sign-off CVE-2026-40000 expires"), "{xml}");

    // For people: the table, and the lines naming namespace, image, CVE and pods.
    let (code, out, _) = run(peer::aws_command(&moto, None)
        .args([
            "audit",
            "--poll-interval",
            "100ms",
            "--building-block",
            "payments",
            "--kubeconfig",
        ])
        .arg(&kc)
        .env("COLUMNS", "160"));
    assert_eq!(code, 1, "{out}");
    assert!(out.starts_with("AUDIT DENY"), "{out}");
    assert!(
        out.lines()
            .filter(|l| l.starts_with('|'))
            .all(|l| l.chars().count() <= 160),
        "the table fits COLUMNS: {out}"
    );
    assert!(
        out.lines().any(|l| l.contains("paymenthub")
            && l.contains(&api_digest)
            && l.contains("CVE-2026-31337 blocked (score 9.8, openssl")
            && l.contains("in pods api-0, api-1, api-2")),
        "{out}"
    );

    // Evidence of earlier verifies: the critical was already blocked when the payments image was verified (not
    // new), and the registry image is in no evidence given.
    let evidence = tmp.path().join("evidence.json");
    let (code, _, err) = run(peer::verify_online(&moto, None)
        .args(["--format", "json", "--image"])
        .arg(format!("{api}@{api_digest}"))
        .arg("--evidence")
        .arg(&evidence));
    assert_eq!(code, 1, "{err}");
    let (_, v) = run_json(audit_both(&moto, &kc, &signoffs).arg("--evidence").arg(&evidence));
    let shared = v["namespaces"][0]["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["digest"] == api_digest.as_str())
        .unwrap();
    assert_eq!(shared["in_evidence"], true, "{shared}");
    assert_eq!(shared["blocked"][0]["new"], false, "{shared}");
    assert_eq!(v["namespaces"][1]["images"][0]["in_evidence"], false, "{v}");

    // With nothing wrong running, the audit passes.
    let (code, v) = run_json(
        peer::aws_command(&moto, None)
            .args([
                "audit",
                "--poll-interval",
                "100ms",
                "--format",
                "json",
                "--building-block",
                "digital-registries",
                "--kubeconfig",
            ])
            .arg(&kc)
            .arg("--signoffs")
            .arg(&signoffs),
    );
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["verdict"], "pass");
}
