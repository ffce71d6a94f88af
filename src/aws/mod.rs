//! The AWS edge of `bbgate verify --image`: credentials (CircleCI OIDC -> STS), and ECR (resolve the image,
//! wait for its scan, read every page). What it returns is the raw page bytes, which go through the very
//! same parser and core as saved files.

pub(crate) mod credentials;
pub(crate) mod ecr;

use crate::error::{Error, Result};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

/// Every HTTP attempt to AWS, by operation: recorded in the JSON output and the evidence.
#[derive(Debug, Clone, Default)]
pub(crate) struct CallCounter(Arc<Mutex<BTreeMap<String, u32>>>);

impl CallCounter {
    pub(crate) fn snapshot(&self) -> BTreeMap<String, u32> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn record(&self, op: &str) {
        *self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(op.to_owned())
            .or_default() += 1;
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "bbgate::CallCounter"
    }

    fn read_before_attempt(
        &self,
        _ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> std::result::Result<(), BoxError> {
        if let Some(m) = cfg.load::<Metadata>() {
            self.record(m.name());
        }
        Ok(())
    }

    fn read_before_transmit(
        &self,
        ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> std::result::Result<(), BoxError> {
        // Method, host and path only: a query could carry a presigned credential.
        let r = ctx.request();
        let uri = r.uri();
        let at = uri.split('?').next().unwrap_or(uri).to_owned();
        cfg.interceptor_state()
            .store_put(Sent(format!("{} {at}", r.method()), std::time::Instant::now()));
        Ok(())
    }

    fn read_after_attempt(
        &self,
        ctx: &FinalizerInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> std::result::Result<(), BoxError> {
        let op = cfg
            .load::<Metadata>()
            .map(|m| format!("{} {}", m.service(), m.name()))
            .unwrap_or_default();
        let status = ctx
            .response()
            .map_or_else(|| "no answer".to_owned(), |r| r.status().as_u16().to_string());
        if let Some(Sent(call, at)) = cfg.load::<Sent>() {
            crate::output::log(
                "aws",
                format!("{op}: {call} -> {status} in {} ms", at.elapsed().as_millis()),
            );
        }
        Ok(())
    }
}

/// One attempt's request, as logged, and when it left.
#[derive(Debug, Clone)]
struct Sent(String, std::time::Instant);

impl Storable for Sent {
    type Storer = StoreReplace<Self>;
}

/// The async runtime of the network edges (two workers: the machine's size).
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Undecidable(format!("cannot start the async runtime: {e}")))
}

/// The ECR client for the pipeline's identity: CircleCI OIDC -> STS when a role is given (the flag, else
/// AWS_ROLE_ARN), else the standard chain. The token's life is measured on the real clock.
pub(crate) async fn ecr_client(
    region: &str,
    role_flag: Option<&str>,
    session: Option<&str>,
    calls: &CallCounter,
) -> Result<(aws_sdk_ecr::Client, credentials::Identity)> {
    let (conf, identity) = config(region, role_flag, session, calls).await?;
    Ok((ecr::client(&conf, calls), identity))
}

/// The SDK config for the pipeline's identity (the role flag, else AWS_ROLE_ARN, with CircleCI OIDC; else the
/// standard chain), the token's life measured on the real clock.
pub(crate) async fn config(
    region: &str,
    role_flag: Option<&str>,
    session: Option<&str>,
    calls: &CallCounter,
) -> Result<(aws_config::SdkConfig, credentials::Identity)> {
    let role = credentials::role_arn(role_flag);
    credentials::sdk_config(
        region,
        role.as_deref(),
        session,
        calls,
        jiff::Timestamp::now().as_second(),
    )
    .await
}

/// `REPO:TAG`, `REPO@sha256:…`, or `ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO[:TAG|@DIGEST]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImageSpec {
    /// From a full URI: the registry host, its account and region.
    pub(crate) registry: Option<String>,
    pub(crate) account: Option<String>,
    pub(crate) region: Option<String>,
    pub(crate) repository: String,
    pub(crate) tag: Option<String>,
    pub(crate) digest: Option<String>,
}

impl std::str::FromStr for ImageSpec {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad = |why: &str| Error::invalid(format!("--image {s:?}: {why}"));
        let r = crate::image::Reference::parse(s);
        if r.digest.as_deref().is_some_and(|d| !crate::image::is_sha256_digest(d)) {
            return Err(bad("the digest must be sha256:<64 hex digits>"));
        }
        let (tag, digest) = (r.tag, r.digest);
        if tag.is_none() && digest.is_none() {
            return Err(bad(
                "name a tag or a digest (REPO:TAG or REPO@sha256:…); bbgate does not assume :latest",
            ));
        }
        // The grammar push holds a tag to: a literal `${CIRCLE_SHA1}` is named, never sent to ECR.
        if let Some(why) = tag.as_deref().and_then(bbgate_core::reference::tag_problem) {
            return Err(bad(&why));
        }
        let (registry, account, region, repository) = match r.host {
            Some(host) => {
                let (account, region) = parse_ecr_host(&host).ok_or_else(|| {
                    bad(&format!(
                        "{host} is not an ECR registry (ACCOUNT.dkr.ecr.REGION.amazonaws.com)"
                    ))
                })?;
                (Some(host), Some(account), Some(region), r.path)
            }
            None => (None, None, None, r.path),
        };
        if !crate::findings::ecr::is_repository_name(&repository) {
            return Err(bad(&format!("{repository:?} is not an ECR repository name")));
        }
        Ok(ImageSpec {
            registry,
            account,
            region,
            repository,
            tag,
            digest,
        })
    }
}

pub(crate) use bbgate_core::reference::{is_region, parse_ecr_host};

/// The region to call: the image URI's (authoritative for ECR), else AWS_REGION / AWS_DEFAULT_REGION.
/// Never the instance metadata service: with no region, this is a configuration error.
pub(crate) fn region(from_uri: Option<&str>) -> Result<String> {
    // An empty variable is unset (CircleCI contexts and the orb can pass one empty).
    let var = |k: &str| std::env::var(k).ok().filter(|r| !r.trim().is_empty());
    let env = var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION"));
    let region = from_uri.map(str::to_owned).or(env).ok_or_else(|| {
        Error::invalid(
            "no AWS region: neither AWS_REGION nor AWS_DEFAULT_REGION is set; set one, or give the full image URI \
             (ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO:TAG)",
        )
    })?;
    if !is_region(&region) {
        return Err(Error::invalid(format!(
            "AWS region {region:?} is not a region name like eu-central-1 (an empty region makes STS calls go to `sts..amazonaws.com`)"
        )));
    }
    Ok(region)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references() {
        let s: ImageSpec = "bb/payments/emulator:1.2".parse().unwrap();
        assert_eq!(
            (s.repository.as_str(), s.tag.as_deref(), s.digest),
            ("bb/payments/emulator", Some("1.2"), None)
        );
        let d = format!("sha256:{}", "ab".repeat(32));
        let s: ImageSpec = format!("123456789012.dkr.ecr.eu-central-1.amazonaws.com/bb/payments/x@{d}")
            .parse()
            .unwrap();
        assert_eq!(s.account.as_deref(), Some("123456789012"));
        assert_eq!(s.region.as_deref(), Some("eu-central-1"));
        assert_eq!(s.repository, "bb/payments/x");
        assert_eq!(s.digest.as_deref(), Some(d.as_str()));
        assert!("bb/payments/x".parse::<ImageSpec>().is_err(), "no tag and no digest");
        assert!("bb/payments/x@sha256:12".parse::<ImageSpec>().is_err());
        assert!("docker.io/library/nginx:1".parse::<ImageSpec>().is_err(), "not ECR");
        assert!("BB/Payments:1".parse::<ImageSpec>().is_err());
    }

    #[test]
    fn regions() {
        assert!(is_region("eu-central-1") && is_region("us-gov-west-1"));
        assert!(!is_region("") && !is_region("eu-central") && !is_region("EU-central-1"));
    }
}
