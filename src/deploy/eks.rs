//! EKS access without the AWS CLI: DescribeCluster for the endpoint and CA, and the bearer token `aws eks
//! get-token` makes (a presigned STS GetCallerIdentity URL carrying the `x-k8s-aws-id` header, as
//! `k8s-aws-v1.` + base64url). `bbgate eks-token` prints it as an ExecCredential for kubeconfigs.

use crate::aws::{self, CallCounter, credentials};
use crate::cli::EksTokenArgs;
use crate::error::{Error, Result, exit};
use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign};
use aws_sigv4::sign::v4;
use base64::Engine;
use std::time::{Duration, SystemTime};

pub(crate) const TOKEN_PREFIX: &str = "k8s-aws-v1.";

/// The token for `cluster`, signed at `at` (valid 15 minutes after it on the server side).
pub(crate) fn token(cluster: &str, region: &str, creds: Credentials, at: SystemTime) -> Result<String> {
    let identity = creds.into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(Duration::from_secs(60));
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("sts")
        .time(at)
        .settings(settings)
        .build()
        .map_err(|e| Error::Undecidable(format!("cannot sign the EKS token: {e}")))?
        .into();
    let url = format!("https://sts.{region}.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15");
    let request = SignableRequest::new(
        "GET",
        &url,
        std::iter::once(("x-k8s-aws-id", cluster)),
        SignableBody::Bytes(&[]),
    )
    .map_err(|e| Error::Undecidable(format!("cannot sign the EKS token: {e}")))?;
    let (instructions, _) = sign(request, &params)
        .map_err(|e| Error::Undecidable(format!("cannot sign the EKS token: {e}")))?
        .into_parts();
    let mut req = http::Request::builder()
        .method("GET")
        .uri(&url)
        .body(())
        .map_err(|e| Error::Undecidable(format!("cannot build the STS URL: {e}")))?;
    instructions.apply_to_request_http1x(&mut req);
    // Order the query as botocore (`aws eks get-token`) does, so both tools print the same token byte for
    // byte; the order is not signed and the server accepts either.
    let signed = req.uri().to_string();
    let (base, query) = signed.split_once('?').unwrap_or((&signed, ""));
    let mut pairs: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
    const ORDER: &[&str] = &[
        "Action",
        "Version",
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-Expires",
        "X-Amz-SignedHeaders",
        "X-Amz-Security-Token",
        "X-Amz-Signature",
    ];
    pairs.sort_by_key(|p| {
        let k = p.split('=').next().unwrap_or("");
        ORDER.iter().position(|o| *o == k).unwrap_or(ORDER.len())
    });
    let url = format!("{base}?{}", pairs.join("&"));
    Ok(format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(url)
    ))
}

/// The AWS credentials bbgate uses (CircleCI OIDC with a role, else the standard chain), resolved now.
pub(crate) async fn resolve_credentials(
    region: &str,
    role: Option<&str>,
    session: Option<&str>,
    calls: &CallCounter,
) -> Result<(aws_config::SdkConfig, Credentials)> {
    let (conf, _) = credentials::sdk_config(region, role, session, calls, jiff::Timestamp::now().as_second()).await?;
    // The same words as every other AWS call that finds no credentials (`ecr::NO_CREDENTIALS`).
    let provider = conf
        .credentials_provider()
        .ok_or_else(|| Error::invalid(aws::ecr::NO_CREDENTIALS))?;
    let creds = provider
        .provide_credentials()
        .await
        .map_err(|e| Error::Undecidable(format!("{} ({e})", aws::ecr::NO_CREDENTIALS)))?;
    Ok((conf, creds))
}

/// The cluster's API endpoint and CA certificate (PEM), from DescribeCluster.
pub(crate) async fn describe(conf: &aws_config::SdkConfig, cluster: &str) -> Result<(String, Vec<u8>)> {
    // Counted and, under `-v`, said like every AWS call.
    let eks = aws_sdk_eks::Client::from_conf(
        aws_sdk_eks::config::Builder::from(conf)
            .interceptor(aws::CallCounter::default())
            .build(),
    );
    let out = eks.describe_cluster().name(cluster).send().await.map_err(|e| {
        Error::Undecidable(format!(
            "EKS DescribeCluster {cluster} failed: {} (the role needs eks:DescribeCluster)",
            aws::ecr::describe_sdk_error(&e)
        ))
    })?;
    let c = out
        .cluster()
        .ok_or_else(|| Error::Undecidable(format!("EKS DescribeCluster {cluster} returned no cluster")))?;
    let endpoint = c
        .endpoint()
        .filter(|e| !e.is_empty())
        .ok_or_else(|| Error::Undecidable(format!("EKS cluster {cluster} has no endpoint yet (is it ACTIVE?)")))?
        .to_owned();
    let ca = c
        .certificate_authority()
        .and_then(|a| a.data())
        .and_then(|d| base64::engine::general_purpose::STANDARD.decode(d).ok())
        .ok_or_else(|| Error::Undecidable(format!("EKS cluster {cluster} returned no CA certificate")))?;
    Ok((endpoint, ca))
}

/// DER certificates from PEM text.
pub(crate) fn pem_to_der(pem: &[u8]) -> Vec<Vec<u8>> {
    let text = String::from_utf8_lossy(pem);
    let mut out = Vec::new();
    let mut body = String::new();
    let mut inside = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with("-----BEGIN CERTIFICATE") {
            inside = true;
            body.clear();
        } else if line.starts_with("-----END CERTIFICATE") {
            inside = false;
            if let Ok(der) = base64::engine::general_purpose::STANDARD.decode(&body) {
                out.push(der);
            }
        } else if inside {
            body.push_str(line);
        }
    }
    out
}

/// `bbgate eks-token`: an ExecCredential on stdout, for kubectl, helm or any client-go kubeconfig.
pub fn run_token(args: &EksTokenArgs) -> Result<u8> {
    let region = aws::region(args.region.as_deref()).map_err(|e| match e {
        // The image-URI hint of verify means nothing here: eks-token takes --region.
        Error::Invalid(m) if args.region.is_none() && m.iter().any(|m| m.starts_with("no AWS region")) => {
            Error::invalid("no AWS region: pass --region, or set AWS_REGION or AWS_DEFAULT_REGION")
        }
        other => other,
    })?;
    let at = args.at.map_or_else(SystemTime::now, SystemTime::from);
    let runtime = aws::runtime()?;
    let role = credentials::role_arn(args.aws.role_arn.as_deref());
    let creds = runtime.block_on(async {
        resolve_credentials(
            &region,
            role.as_deref(),
            args.aws.session_name.as_deref(),
            &CallCounter::default(),
        )
        .await
        .map(|(_, c)| c)
    })?;
    let token = token(&args.cluster, &region, creds, at)?;
    // KUBERNETES_EXEC_INFO says which apiVersion the client wants; v1beta1 otherwise.
    let api_version = std::env::var("KUBERNETES_EXEC_INFO")
        .ok()
        .and_then(|i| serde_json::from_str::<serde_json::Value>(&i).ok())
        .and_then(|v| v["apiVersion"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "client.authentication.k8s.io/v1beta1".to_owned());
    let expires = jiff::Timestamp::try_from(at)
        .ok()
        .and_then(|t| t.checked_add(jiff::SignedDuration::from_mins(14)).ok())
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default();
    let cred = serde_json::json!({
        "kind": "ExecCredential",
        "apiVersion": api_version,
        "spec": {},
        "status": {"expirationTimestamp": expires, "token": token},
    });
    crate::output::line(&cred.to_string())?;
    Ok(exit::PASS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_a_presigned_get_caller_identity() {
        let creds = Credentials::new("AKIDEXAMPLE", "secret", None, None, "test");
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let t = token("sandbox", "eu-central-1", creds.clone(), at).unwrap();
        assert_eq!(t, token("sandbox", "eu-central-1", creds, at).unwrap(), "deterministic");
        let url = String::from_utf8(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(t.strip_prefix(TOKEN_PREFIX).unwrap())
                .unwrap(),
        )
        .unwrap();
        assert!(url.starts_with("https://sts.eu-central-1.amazonaws.com/?"), "{url}");
        for part in [
            "Action=GetCallerIdentity",
            "X-Amz-Expires=60",
            "X-Amz-SignedHeaders=host%3Bx-k8s-aws-id",
            "X-Amz-Date=20231114T221320Z",
        ] {
            assert!(url.contains(part), "{part} in {url}");
        }
    }

    #[test]
    fn pem_certificates_decode() {
        let pem = b"-----BEGIN CERTIFICATE-----\nAAEC\nAw==\n-----END CERTIFICATE-----\n";
        assert_eq!(pem_to_der(pem), vec![vec![0, 1, 2, 3]]);
    }
}
