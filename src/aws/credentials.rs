//! Credentials for the AWS calls: a CircleCI OIDC token exchanged at STS (AssumeRoleWithWebIdentity), or the
//! standard AWS chain (a developer's profile). The token and the credentials never reach any output.

use super::CallCounter;
use crate::error::{Error, Result};
use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_credential_types::Credentials;
use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
use base64::Engine;
use serde::Deserialize;
use std::time::Duration;

pub(crate) const TOKEN_VARS: [&str; 2] = ["CIRCLE_OIDC_TOKEN_V2", "CIRCLE_OIDC_TOKEN"];

/// The claims that explain an STS failure (decoded, not verified: STS verifies).
#[derive(Debug, Default, Deserialize, PartialEq)]
pub(crate) struct Claims {
    pub(crate) aud: Option<serde_json::Value>,
    pub(crate) sub: Option<String>,
    pub(crate) exp: Option<i64>,
    #[serde(rename = "oidc.circleci.com/project-id")]
    pub(crate) project_id: Option<String>,
    #[serde(rename = "oidc.circleci.com/vcs-origin")]
    pub(crate) vcs_origin: Option<String>,
    #[serde(rename = "oidc.circleci.com/vcs-ref")]
    pub(crate) vcs_ref: Option<String>,
}

pub(crate) fn decode_claims(token: &str) -> std::result::Result<Claims, String> {
    let mut parts = token.split('.');
    let (Some(_), Some(payload), Some(_), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err("the token is not a JWT (three dot-separated parts)".into());
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| "the token's claims are not base64url".to_owned())?;
    serde_json::from_slice(&bytes).map_err(|_| "the token's claims are not JSON".to_owned())
}

impl Claims {
    /// One line for stderr: what a trust policy is matched against.
    pub(crate) fn describe(&self, now: i64) -> String {
        let aud = match &self.aud {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
            None => "-".into(),
        };
        let expiry = match self.exp {
            Some(exp) if exp <= now => format!("EXPIRED {} min ago", (now - exp) / 60),
            Some(exp) => format!("expires in {} min", (exp - now) / 60),
            None => "no expiry".into(),
        };
        let o = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        format!(
            "OIDC token: org (aud) {aud}, project-id {}, vcs-origin {}, vcs-ref {}, {expiry}",
            o(&self.project_id),
            o(&self.vcs_origin),
            o(&self.vcs_ref)
        )
    }
}

/// `arn:aws:iam::123456789012:role/Name` (partitions aws, aws-cn, aws-us-gov; paths allowed).
pub(crate) fn validate_role_arn(arn: &str) -> std::result::Result<(), String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "iam"
        && parts[3].is_empty()
        && parts[4].len() == 12
        && parts[4].bytes().all(|b| b.is_ascii_digit())
        && parts[5]
            .strip_prefix("role/")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-/".contains(&b)))
        && arn.len() >= 20
        && arn.len() <= 2048;
    if ok {
        Ok(())
    } else {
        Err(format!(
            "role ARN {arn:?} is not arn:aws:iam::ACCOUNT:role/NAME (a context variable that is unset or \
             misspelt often arrives as an empty or short string)"
        ))
    }
}

/// `bbgate-<repo>-<build>` cleaned to STS's alphabet `[A-Za-z0-9=,.@_-]`, at most 64 characters.
pub(crate) fn session_name(explicit: Option<&str>) -> String {
    let raw = match explicit {
        Some(s) => s.to_owned(),
        None => {
            let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
            match (var("CIRCLE_PROJECT_REPONAME"), var("CIRCLE_BUILD_NUM")) {
                (Some(r), Some(n)) => format!("bbgate-{r}-{n}"),
                (Some(r), None) => format!("bbgate-{r}"),
                _ => "bbgate".into(),
            }
        }
    };
    let cleaned: String = raw
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "=,.@_-".contains(*c))
        .take(64)
        .collect();
    if cleaned.len() < 2 { "bbgate".into() } else { cleaned }
}

/// Retries with jittered backoff for throttling and 5xx (the SDK's standard mode), and bounded attempts.
pub(crate) fn retry_config() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(500))
}

pub(crate) fn timeout_config() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(10))
        .operation_attempt_timeout(Duration::from_secs(60))
        .operation_timeout(Duration::from_secs(180))
        .build()
}

pub(crate) use crate::report::acquisition::Identity;

/// The role to assume with CircleCI's OIDC token: the flag (or BBGATE_ROLE_ARN), else AWS_ROLE_ARN, unless
/// AWS_WEB_IDENTITY_TOKEN_FILE is set: then AWS_ROLE_ARN belongs to the SDK's standard web-identity chain
/// (IRSA, self-hosted runners) and bbgate leaves it to the SDK. None means the standard chain.
pub(crate) fn role_arn(explicit: Option<&str>) -> Option<String> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    explicit.map(str::to_owned).filter(|r| !r.is_empty()).or_else(|| {
        var("AWS_WEB_IDENTITY_TOKEN_FILE")
            .is_none()
            .then(|| var("AWS_ROLE_ARN"))
            .flatten()
    })
}

/// Build the SDK config: OIDC -> STS when a role ARN is given, else the standard chain.
pub(crate) async fn sdk_config(
    region: &str,
    role_arn: Option<&str>,
    session: Option<&str>,
    calls: &CallCounter,
    now: i64,
) -> Result<(aws_config::SdkConfig, Identity)> {
    let base = || {
        aws_config::defaults(BehaviorVersion::latest())
            .region(aws_config::Region::new(region.to_owned()))
            .retry_config(retry_config())
            .timeout_config(timeout_config())
    };
    let Some(role_arn) = role_arn else {
        let conf = base().load().await;
        return Ok((
            conf,
            Identity {
                assumed_role: None,
                method: "aws-credential-chain".into(),
                role_arn: None,
                session_name: None,
            },
        ));
    };
    validate_role_arn(role_arn).map_err(Error::invalid)?;
    let token = TOKEN_VARS
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|t| !t.is_empty()))
        .ok_or_else(|| {
            Error::invalid(format!(
                "a role ARN is set ({role_arn}) but there is no OIDC token in {}: CircleCI sets it only in jobs \
                 that use a context; add `context:` to the job, or mint one with `circleci run oidc get`",
                TOKEN_VARS.join(" or ")
            ))
        })?;
    match decode_claims(&token) {
        Ok(claims) => {
            eprintln!("bbgate: {}", claims.describe(now));
            if let Some(exp) = claims.exp.filter(|&e| e <= now) {
                return Err(Error::Undecidable(format!(
                    "the OIDC token expired {} min ago (CircleCI tokens live one hour): rerun the job for a fresh one",
                    (now - exp) / 60
                )));
            }
        }
        Err(why) => eprintln!("bbgate: cannot show the OIDC token's claims: {why}"),
    }
    let session = session_name(session);
    let sts_conf = base().no_credentials().load().await;
    let sts = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::config::Builder::from(&sts_conf)
            .interceptor(calls.clone())
            .build(),
    );
    let out = sts
        .assume_role_with_web_identity()
        .role_arn(role_arn)
        .role_session_name(&session)
        .web_identity_token(token)
        .duration_seconds(3600)
        .send()
        .await
        .map_err(|e| sts_error(role_arn, e))?;
    let c = out
        .credentials()
        .ok_or_else(|| Error::Undecidable("STS answered without credentials".into()))?;
    let expiry = std::time::SystemTime::try_from(*c.expiration()).ok();
    let creds = Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_owned()),
        expiry,
        "bbgate-oidc",
    );
    let assumed = out.assumed_role_user().map(|u| u.arn().to_owned());
    eprintln!("bbgate: assumed {}", assumed.as_deref().unwrap_or(role_arn));
    let conf = base().credentials_provider(creds).load().await;
    Ok((
        conf,
        Identity {
            assumed_role: assumed,
            method: "circleci-oidc".into(),
            role_arn: Some(role_arn.to_owned()),
            session_name: Some(session),
        },
    ))
}

/// STS's answer in plain words, with the likely fix. Exit 3: nothing could be decided.
fn sts_error<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    role: &str,
    e: SdkError<E, R>,
) -> Error {
    let (code, message) = match &e {
        SdkError::ServiceError(s) => (
            s.err().code().unwrap_or("").to_owned(),
            s.err().message().unwrap_or("").to_owned(),
        ),
        other => {
            return Error::Undecidable(format!(
                "could not reach STS to assume {role}: {}",
                crate::aws::ecr::describe_sdk_error(other)
            ));
        }
    };
    let hint = match code.as_str() {
        "InvalidIdentityToken" => {
            "the role's trust policy does not accept this token: its OIDC provider must be \
             https://oidc.circleci.com/org/<org-id>, its `aud` condition the org id, and its `sub` pattern \
             org/<org-id>/project/<project-id>/user/* (compare with the claims above)"
        }
        "ExpiredToken" | "ExpiredTokenException" => {
            "the OIDC token has expired (one hour after it was issued): rerun the job"
        }
        "AccessDenied" => {
            "the role's trust policy does not allow sts:AssumeRoleWithWebIdentity for this token: check its \
             Principal (the CircleCI OIDC provider) and its conditions on aud and sub"
        }
        "IDPRejectedClaim" => {
            "the identity provider rejected a claim: check the trust policy's conditions against the claims above"
        }
        "RegionDisabled" => {
            "STS is not activated in this region: activate it in IAM account settings, or use another region"
        }
        "IDPCommunicationError" => "STS could not reach CircleCI's OIDC endpoint to check the token: retry later",
        _ => "see AWS's message",
    };
    Error::Undecidable(format!("STS refused to assume {role}: {code}: {message}: {hint}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_decode_without_verifying() {
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
            br#"{"aud":"org-1","sub":"org/org-1/project/p/user/u","exp":1000,"oidc.circleci.com/project-id":"p","oidc.circleci.com/vcs-ref":"refs/heads/main"}"#,
        );
        let c = decode_claims(&format!("h.{payload}.sig")).unwrap();
        assert_eq!(c.project_id.as_deref(), Some("p"));
        assert!(c.describe(1000 + 120).contains("EXPIRED 2 min ago"));
        assert!(decode_claims("not-a-jwt").is_err());
    }

    #[test]
    fn role_arns() {
        assert!(validate_role_arn("arn:aws:iam::123456789012:role/CICDPipeline_sandbox-bb-payments_Role_dev").is_ok());
        assert!(validate_role_arn("arn:aws:iam::123456789012:role/path/x").is_ok());
        assert!(validate_role_arn("").is_err());
        assert!(validate_role_arn("AWS_CIRCLECI_ROLE").is_err());
        assert!(validate_role_arn("arn:aws:iam::1234:role/x").is_err());
        assert!(validate_role_arn("arn:aws:iam::123456789012:user/x").is_err());
    }

    #[test]
    fn session_names_are_cleaned_and_cut() {
        assert_eq!(session_name(Some("a b/c:d")), "abcd");
        assert_eq!(session_name(Some(&"x".repeat(100))).len(), 64);
        assert_eq!(session_name(Some("!")), "bbgate");
    }
}
