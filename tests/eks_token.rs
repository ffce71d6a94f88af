//! `bbgate eks-token` against an independent reference: the token `aws eks get-token` builds, made by
//! botocore (from the moto peer's venv) with the same keys and a fixed signing time.

#![allow(clippy::unwrap_used)] // a test fails loudly where it unwraps

mod common;
use common::*;
use serde_json::Value;

fn reference(cluster: &str, at: &str, session_token: Option<&str>) -> String {
    reference_in(cluster, "eu-central-1", at, session_token)
}

fn reference_in(cluster: &str, region: &str, at: &str, session_token: Option<&str>) -> String {
    let python =
        std::env::var("BBGATE_TEST_PYTHON").expect("BBGATE_TEST_PYTHON is not set: run the suite with scripts/test");
    let mut cmd = std::process::Command::new(python);
    cmd.args(["tests/peers/eks_reference_token.py", cluster, region, at]);
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
    if let Some(t) = session_token {
        cmd.env("AWS_SESSION_TOKEN", t);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn bbgate_token(cluster: &str, at: &str, session_token: Option<&str>) -> (Value, String) {
    bbgate_token_in(cluster, "eu-central-1", at, session_token)
}

fn bbgate_token_in(cluster: &str, region: &str, at: &str, session_token: Option<&str>) -> (Value, String) {
    let mut cmd = bbgate();
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
        .env("AWS_REGION", region)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .args(["eks-token", "--cluster", cluster, "--at", at]);
    if let Some(t) = session_token {
        cmd.env("AWS_SESSION_TOKEN", t);
    }
    let (code, out, err) = run(&mut cmd);
    assert_eq!(code, 0, "{err}");
    (serde_json::from_str(&out).unwrap(), err)
}

#[test]
fn the_token_is_the_one_aws_eks_get_token_builds() {
    let at = "2026-11-28T12:00:00Z";
    let (cred, err) = bbgate_token("govstack-sandbox", at, None);
    assert_eq!(cred["kind"], "ExecCredential");
    assert_eq!(cred["apiVersion"], "client.authentication.k8s.io/v1beta1");
    assert_eq!(cred["status"]["expirationTimestamp"], "2026-11-28T12:14:00Z");
    assert_eq!(
        cred["status"]["token"].as_str().unwrap(),
        reference("govstack-sandbox", at, None)
    );
    assert!(
        !err.contains("k8s-aws-v1."),
        "the token is printed only as the credential: {err}"
    );
    // Another cluster or another second is another token.
    assert_ne!(
        bbgate_token("other", at, None).0["status"]["token"],
        cred["status"]["token"]
    );
    assert_ne!(
        bbgate_token("govstack-sandbox", "2026-11-28T12:00:01Z", None).0["status"]["token"],
        cred["status"]["token"]
    );
}

#[test]
fn with_session_credentials_the_security_token_is_signed_as_the_cli_signs_it() {
    let at = "2026-11-28T12:00:00Z";
    let session = "FwoGZXIvYXdzEXAMPLE-session-token";
    let (cred, _) = bbgate_token("govstack-sandbox", at, Some(session));
    assert_eq!(
        cred["status"]["token"].as_str().unwrap(),
        reference("govstack-sandbox", at, Some(session))
    );
}

#[test]
fn the_exec_credential_version_is_the_one_kubernetes_exec_info_asks_for() {
    let run_with = |info: Option<&str>| {
        let mut cmd = bbgate();
        for (k, _) in std::env::vars() {
            if k.starts_with("AWS_") || k == "KUBERNETES_EXEC_INFO" {
                cmd.env_remove(k);
            }
        }
        cmd.env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
            .env("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
            .env("AWS_REGION", "eu-central-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .args(["eks-token", "--cluster", "c"]);
        if let Some(i) = info {
            cmd.env("KUBERNETES_EXEC_INFO", i);
        }
        let (code, out, err) = run(&mut cmd);
        assert_eq!(code, 0, "{err}");
        serde_json::from_str::<Value>(&out).unwrap()
    };
    let v1 = run_with(Some(
        r#"{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"interactive":false}}"#,
    ));
    assert_eq!(v1["apiVersion"], "client.authentication.k8s.io/v1");
    let default = run_with(None);
    assert_eq!(default["apiVersion"], "client.authentication.k8s.io/v1beta1");
    assert!(default["status"]["token"].as_str().unwrap().starts_with("k8s-aws-v1."));
}

#[test]
fn every_region_cluster_name_time_and_session_token_signs_as_botocore_signs_it() {
    // Names at the edges of EKS's grammar, regions of three partitions' formats, times across a day and a year
    // boundary, and session tokens with the characters that must be percent-encoded in a presigned URL.
    let cases = [
        ("a", "us-east-1", "2026-12-31T23:59:59Z", None),
        (
            "govstack_sandbox-2",
            "ap-southeast-2",
            "2027-01-01T00:00:00Z",
            Some("IQoJb3JpZ2luX2VjEA/+token=="),
        ),
        (
            &"c".repeat(100) as &str,
            "eu-central-1",
            "2026-02-28T12:34:56Z",
            Some("a b&c=d%e"),
        ),
        ("Sandbox", "us-gov-west-1", "2026-06-15T08:00:00Z", None),
    ];
    for (cluster, region, at, session) in cases {
        let (cred, _) = bbgate_token_in(cluster, region, at, session);
        assert_eq!(
            cred["status"]["token"].as_str().unwrap(),
            reference_in(cluster, region, at, session),
            "{cluster} {region} {at} {session:?}"
        );
    }
}
