//! `[deploy] approvers`: read this workflow's approval (hold) job from the CircleCI API v2 and refuse unless it
//! was approved by one of the sandbox admins. CIRCLE_TOKEN is sent as the `Circle-Token` header and never
//! printed.

use crate::error::{Error, Result};
use serde_json::Value;

pub(crate) const DEFAULT_API: &str = "https://circleci.com/api/v2";

/// `--circleci-api-url`: CircleCI's own API, or a loopback stand-in (the tests'). Never read from the
/// environment, which the judged BB's job controls: whoever chose the URL would choose who "approved", and
/// receive CIRCLE_TOKEN.
pub(crate) fn api_url(s: &str) -> std::result::Result<String, String> {
    const WHAT: &str = "the CircleCI API is https://circleci.com/api/v2 (a loopback address only for tests)";
    api_base(s, WHAT, |url| {
        url.host() == Some(url::Host::Domain("circleci.com")) && url.port().is_none()
    })
}

/// An API's base URL a token is sent to: parsed, no user name, password, query or fragment, https where
/// `https_ok` admits it, plain http only to a loopback address with a port (a test's stand-in). `what` says
/// which URL is expected.
pub(crate) fn api_base(
    s: &str,
    what: &str,
    https_ok: impl Fn(&url::Url) -> bool,
) -> std::result::Result<String, String> {
    // Parsed as a URL, its host compared: `http://127.0.0.1:@evil/api` has the host `evil`, and userinfo (which
    // would carry nothing but confusion here) is refused.
    let url = url::Url::parse(s).map_err(|e| format!("{s:?} is not a URL ({e}): {what}"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{s:?} carries a user name or password: {what}"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{s:?} carries a query or fragment: {what}"));
    }
    let ok = match (url.scheme(), url.host()) {
        ("https", Some(_)) => https_ok(&url),
        ("http", Some(url::Host::Ipv4(ip))) => ip.is_loopback() && url.port().is_some(),
        ("http", Some(url::Host::Ipv6(ip))) => ip.is_loopback() && url.port().is_some(),
        ("http", Some(url::Host::Domain("localhost"))) => url.port().is_some(),
        _ => false,
    };
    if ok {
        Ok(s.trim_end_matches('/').to_owned())
    } else {
        Err(what.into())
    }
}

async fn get(client: &reqwest::Client, url: &str, token: &str) -> Result<Value> {
    let resp = client
        .get(url)
        .header("Circle-Token", token)
        .header("Accept", "application/json")
        .send()
        .await
        .map_err(|e| Error::Undecidable(format!("cannot reach the CircleCI API: {}", e.without_url())))?;
    let status = resp.status();
    if status == 401 || status == 403 || status == 404 {
        return Err(Error::Undecidable(format!(
            "the CircleCI API answered {status} for {}: CIRCLE_TOKEN must be a token that may read this project",
            url.split('?').next().unwrap_or(url)
        )));
    }
    if !status.is_success() {
        return Err(Error::Undecidable(format!(
            "the CircleCI API answered {status}; retry the job"
        )));
    }
    resp.json().await.map_err(|e| {
        Error::Undecidable(format!(
            "the CircleCI API answered with something that is not JSON: {e}"
        ))
    })
}

/// Ok(approver login) when this workflow's approval job was approved by an allowed admin.
pub(crate) async fn check(approvers: &[String], base: &str, circleci: &crate::cli::CircleCi) -> Result<String> {
    let workflow = circleci.workflow_id.as_deref().ok_or_else(|| {
        Error::Denied(
            "[deploy] approvers is set, but CIRCLE_WORKFLOW_ID is not: deploys happen in CircleCI after an approval job"
                .into(),
        )
    })?;
    let token = circleci.token().ok_or_else(|| {
        Error::invalid(
            "[deploy] approvers is set, but CIRCLE_TOKEN is not: put a CircleCI API token in the deploy job's restricted context",
        )
    })?;
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|e| Error::Undecidable(format!("cannot start an HTTP client: {e}")))?;
    let mut approvals = Vec::new();
    let mut page: Option<String> = None;
    loop {
        let url = match &page {
            Some(p) => format!("{base}/workflow/{workflow}/job?page-token={p}"),
            None => format!("{base}/workflow/{workflow}/job"),
        };
        let v = get(&client, &url, token).await?;
        let items = v["items"]
            .as_array()
            .ok_or_else(|| Error::Undecidable("the CircleCI API's job list has no items".into()))?;
        approvals.extend(items.iter().filter(|j| j["type"] == "approval").cloned());
        match v["next_page_token"].as_str().filter(|t| !t.is_empty()) {
            Some(t) => page = Some(t.to_owned()),
            None => break,
        }
    }
    let approved: Vec<&Value> = approvals.iter().filter(|j| j["status"] == "success").collect();
    if approved.is_empty() {
        return Err(Error::Denied(format!(
            "workflow {workflow} has no approved approval job ({} found): a sandbox admin approves the hold job first",
            approvals.len()
        )));
    }
    let mut seen = Vec::new();
    for job in approved {
        let Some(user) = job["approved_by"].as_str() else {
            continue;
        };
        let who = get(&client, &format!("{base}/user/{user}"), token).await?;
        let login = who["login"].as_str().unwrap_or(user).to_owned();
        if approvers.iter().any(|a| *a == login || a == user) {
            return Ok(login);
        }
        seen.push(format!("{} by {login}", job["name"].as_str().unwrap_or("?")));
    }
    Err(Error::Denied(format!(
        "the approval ({}) was not given by a sandbox admin ([deploy] approvers: {})",
        seen.join(", "),
        approvers.join(", ")
    )))
}

#[cfg(test)]
mod url_tests {
    use super::api_url;

    #[test]
    fn the_api_url_is_parsed_and_its_host_compared() {
        assert!(api_url("https://circleci.com/api/v2").is_ok());
        assert!(api_url("http://127.0.0.1:8080/api/v2").is_ok());
        assert!(api_url("http://[::1]:8080/api/v2").is_ok());
        for bad in [
            // The attack: userinfo makes the host the part after `@`.
            "http://127.0.0.1:@evil.example/api/v2",
            "https://circleci.com@evil.example/api/v2",
            "https://user:pw@circleci.com/api/v2",
            "https://circleci.com.evil.example/api/v2",
            "http://circleci.com/api/v2",
            "https://circleci.com:8443/api/v2",
            "http://10.0.0.1:80/api/v2",
            "not a url",
        ] {
            assert!(api_url(bad).is_err(), "{bad} must be refused");
        }
    }
}
