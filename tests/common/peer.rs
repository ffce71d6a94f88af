//! The moto peer from the tests' side. scripts/test starts tests/peers/moto_peer.py on 127.0.0.1, records its
//! PID, stops it by that PID, and exports BBGATE_TEST_MOTO_URL. Each test uses its own repositories and role
//! names, so tests share one peer without seeing each other.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::net::TcpStream;

pub const REGION: &str = "eu-central-1";
pub const ACCOUNT: &str = "123456789012";

pub struct Moto {
    pub url: String,
    addr: String,
}

/// A minimal HTTP/1.1 exchange (the peer closes the connection after each answer).
fn http(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("the moto peer at {addr} is not there: {e}"));
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let split = out.windows(4).position(|w| w == b"\r\n\r\n").expect("an HTTP response");
    let head = String::from_utf8_lossy(&out[..split]).into_owned();
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, out[split + 4..].to_vec())
}

impl Moto {
    /// The peer scripts/test started. Tests that need it fail loudly without it: they never pass by skipping.
    pub fn get() -> Moto {
        let url = std::env::var("BBGATE_TEST_MOTO_URL")
            .expect("BBGATE_TEST_MOTO_URL is not set: run the suite with scripts/test, which starts the moto peer");
        let addr = url.trim_start_matches("http://").trim_end_matches('/').to_owned();
        Moto { url, addr }
    }

    fn control(&self, path: &str, body: Value) -> Value {
        let (status, out) = http(
            &self.addr,
            "POST",
            path,
            &[("Content-Type", "application/json")],
            body.to_string().as_bytes(),
        );
        assert_eq!(status, 200, "peer {path}: {}", String::from_utf8_lossy(&out));
        serde_json::from_slice(&out).unwrap()
    }

    /// A JSON-protocol AWS call as the SDK makes it (moto checks no signature).
    fn json_call(&self, service: &str, target: &str, body: Value) -> Value {
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential=AKIDSEED/20260101/{REGION}/{service}/aws4_request, SignedHeaders=host, Signature=0"
        );
        let (status, out) = http(
            &self.addr,
            "POST",
            "/",
            &[
                ("X-Amz-Target", target),
                ("Content-Type", "application/x-amz-json-1.1"),
                ("Authorization", &auth),
            ],
            body.to_string().as_bytes(),
        );
        assert_eq!(status, 200, "{target}: {}", String::from_utf8_lossy(&out));
        serde_json::from_slice(&out).unwrap()
    }

    /// An ECR call.
    pub fn ecr(&self, action: &str, body: Value) -> Value {
        self.json_call("ecr", &format!("AmazonEC2ContainerRegistry_V20150921.{action}"), body)
    }

    /// A KMS call.
    pub fn kms(&self, action: &str, body: Value) -> Value {
        self.json_call("kms", &format!("TrentService.{action}"), body)
    }

    /// An EKS cluster whose DescribeCluster answers with `endpoint` (the tests' fake API server).
    pub fn eks_cluster(&self, name: &str, endpoint: &str) {
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential=AKIDSEED/20260101/{REGION}/eks/aws4_request, SignedHeaders=host, Signature=0"
        );
        let body = json!({"name": name, "roleArn": format!("arn:aws:iam::{ACCOUNT}:role/eks"),
            "resourcesVpcConfig": {"subnetIds": ["subnet-1"]}});
        let (status, out) = http(
            &self.addr,
            "POST",
            "/clusters",
            &[("Content-Type", "application/json"), ("Authorization", &auth)],
            body.to_string().as_bytes(),
        );
        assert_eq!(status, 200, "EKS CreateCluster: {}", String::from_utf8_lossy(&out));
        self.control("/bbgate/eks-endpoint", json!({"cluster": name, "endpoint": endpoint}));
    }

    /// What a process needs to reach this peer as AWS, with static keys (the standard chain), no metadata.
    pub fn env(&self) -> [(&'static str, &str); 5] {
        [
            ("AWS_ENDPOINT_URL", self.url.as_str()),
            ("AWS_REGION", REGION),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("AWS_ACCESS_KEY_ID", "AKIDSTATICTEST"),
            ("AWS_SECRET_ACCESS_KEY", STATIC_SECRET),
        ]
    }

    pub fn create_repository(&self, repo: &str) {
        self.ecr("CreateRepository", json!({"repositoryName": repo}));
    }

    /// Push a manifest under a tag with its real digest (sha256 of the bytes), as ECR computes it.
    pub fn put_image(&self, repo: &str, tag: &str, manifest: &str) -> String {
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(manifest.as_bytes())));
        self.ecr(
            "PutImage",
            json!({"repositoryName": repo, "imageTag": tag, "imageManifest": manifest, "imageDigest": digest}),
        );
        digest
    }

    /// A single-platform OCI image manifest; `seed` makes it unique.
    pub fn image_manifest(seed: &str) -> String {
        let config = hex::encode(Sha256::digest(seed.as_bytes()));
        json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": format!("sha256:{config}"), "size": 100},
            "layers": []
        })
        .to_string()
    }

    pub fn queue_scans(&self, repo: &str, results: Vec<Value>) {
        self.control(
            "/bbgate/scan-results",
            json!({"repositoryName": repo, "results": results}),
        );
    }

    /// A repository holding one image under `tag` whose scan is COMPLETE with `basic` findings; its digest.
    pub fn image_with_scan(&self, repo: &str, tag: &str, basic: Vec<Value>, counts: Value) -> String {
        self.create_repository(repo);
        let digest = self.put_image(repo, tag, &Self::image_manifest(repo));
        self.queue_scans(repo, vec![scan_result("COMPLETE", basic, vec![], counts)]);
        digest
    }

    pub fn fault(&self, action: &str, key: &str, count: u32, status: u16, code: &str, message: &str) {
        self.control(
            "/bbgate/faults",
            json!({"action": action, "key": key, "count": count, "status": status, "code": code, "message": message}),
        );
    }

    /// {"calls": {Action: n}, "access_keys": [...]} for calls made with this repository or role ARN.
    pub fn calls(&self, key: &str) -> Value {
        let (_, out) = http(&self.addr, "GET", &format!("/bbgate/calls?key={key}"), &[], b"");
        serde_json::from_slice(&out).unwrap()
    }

    /// Every secret key and session token STS has issued so far.
    pub fn issued_secrets(&self) -> Vec<String> {
        let (_, out) = http(&self.addr, "GET", "/bbgate/issued", &[], b"");
        let v: Value = serde_json::from_slice(&out).unwrap();
        v["secrets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect()
    }
}

/// A name unique to this test run, so a developer can rerun the suite against a peer that is still up.
pub fn unique(name: &str) -> String {
    format!("{name}-{}", std::process::id())
}

/// A CircleCI-shaped OIDC token (unsigned: moto, like bbgate, does not verify; STS does).
pub fn oidc_token(exp_in_secs: i64) -> String {
    use base64::Engine;
    let now = jiff::Timestamp::now().as_second();
    let claims = json!({
        "iss": "https://oidc.circleci.com/org/org-uuid-1", "aud": "org-uuid-1",
        "sub": "org/org-uuid-1/project/proj-uuid-1/user/user-1/vcs-origin/github.com/govstack/bb-payments/vcs-ref/refs/heads/main",
        "iat": now, "exp": now + exp_in_secs,
        "oidc.circleci.com/project-id": "proj-uuid-1",
        "oidc.circleci.com/vcs-origin": "github.com/govstack/bb-payments",
        "oidc.circleci.com/vcs-ref": "refs/heads/main",
    });
    let b64 = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    format!(
        "{}.{}.{}",
        b64(br#"{"alg":"RS256","typ":"JWT"}"#),
        b64(claims.to_string().as_bytes()),
        b64(b"not-a-real-signature-secret-part")
    )
}

/// A DescribeImageScanFindings result for the peer to play back.
pub fn scan_result(status: &str, basic: Vec<Value>, enhanced: Vec<Value>, counts: Value) -> Value {
    let mut findings = json!({
        "imageScanCompletedAt": super::hours_ago(1),
        "vulnerabilitySourceUpdatedAt": super::hours_ago(2),
        "findingSeverityCounts": counts,
    });
    if !basic.is_empty() {
        findings["findings"] = Value::Array(basic);
    }
    if !enhanced.is_empty() {
        findings["enhancedFindings"] = Value::Array(enhanced);
    }
    json!({"imageScanStatus": {"status": status, "description": format!("status {status}")}, "imageScanFindings": findings})
}

pub fn in_progress() -> Value {
    json!({"imageScanStatus": {"status": "IN_PROGRESS", "description": "The scan is in progress."}})
}

/// N basic findings with CVSS3 scores below the sign-off band (so a scan of them passes).
pub fn low_basic_findings(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            json!({"name": format!("CVE-2026-{}", 200_000 + i), "severity": "MEDIUM", "uri": "https://example.org",
                "attributes": [{"key": "package_name", "value": "zlib"}, {"key": "package_version", "value": "1.2"},
                    {"key": "CVSS3_SCORE", "value": "5.3"}, {"key": "CVSS3_VECTOR", "value": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L"}]})
        })
        .collect()
}

/// The findings of a committed fixture page.
pub fn fixture_findings(path: &str, key: &str) -> Vec<Value> {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["imageScanFindings"][key].as_array().unwrap().clone()
}

/// `bbgate` aimed at the peer: endpoint, region, no metadata service, and nothing from the machine's AWS or
/// CircleCI settings. With `oidc`, a CircleCI token; else static keys (the standard chain).
pub fn aws_command(moto: &Moto, oidc: Option<&str>) -> assert_cmd::Command {
    let mut cmd = super::bbgate();
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("AWS_ENDPOINT_URL", &moto.url)
        .env("AWS_REGION", REGION)
        .env("AWS_EC2_METADATA_DISABLED", "true");
    match oidc {
        Some(token) => {
            cmd.env("CIRCLE_OIDC_TOKEN_V2", token);
        }
        None => {
            cmd.env("AWS_ACCESS_KEY_ID", "AKIDSTATICTEST")
                .env("AWS_SECRET_ACCESS_KEY", STATIC_SECRET);
        }
    }
    cmd
}

/// `bbgate verify --image …` against the peer, with a passing API report.
pub fn verify_online(moto: &Moto, oidc: Option<&str>) -> assert_cmd::Command {
    let mut cmd = aws_command(moto, oidc);
    cmd.args([
        "verify",
        "--poll-interval",
        "100ms",
        "--api-report",
        "../shared/fixtures-upstream/cucumber-cck-messages/minimal.ndjson",
    ]);
    cmd
}

pub const STATIC_SECRET: &str = "static-secret-key-that-must-never-be-printed";

/// A basic-scan finding of CVSS 3.1 score 9.8 (blocked) in openssl, named `id`: published since verify ran.
pub fn critical_basic_finding(id: &str) -> Value {
    json!({"name": id, "severity": "CRITICAL", "uri": "https://example.org",
        "attributes": [{"key": "package_name", "value": "openssl"}, {"key": "package_version", "value": "3.0.1"},
            {"key": "CVSS3_SCORE", "value": "9.8"},
            {"key": "CVSS3_VECTOR", "value": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]})
}

/// A deploy command that talks to the moto peer as AWS: the job's AWS variables replaced by the peer's, and the
/// endpoint variable allowed by name (deploy refuses redirecting variables otherwise).
pub fn with_moto(cmd: &mut assert_cmd::Command, moto: &Moto) {
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("AWS_ENDPOINT_URL", &moto.url)
        .env("AWS_REGION", REGION)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ACCESS_KEY_ID", "AKIDSTATICTEST")
        .env("AWS_SECRET_ACCESS_KEY", STATIC_SECRET)
        .args(["--allow-env", "AWS_ENDPOINT_URL"]);
}
