//! `bbgate comment`: the verdict where reviewers look. Verify's Markdown summary goes on the pull request as one
//! comment bbgate keeps current: found by its marker among every page of the pull request's comments, edited in
//! place when there, created when not, so a pipeline run again never adds a second. GitHub's REST API, the token
//! read from a variable and never printed.

use crate::cli::{CommentArgs, Format};
use crate::error::{Error, Result, exit};
use serde_json::{Value, json};

pub(crate) const DEFAULT_API: &str = "https://api.github.com";

/// GitHub's comment body limit, in characters.
const BODY_LIMIT: usize = 65_536;

/// Pages of 100 comments read at most while looking for bbgate's.
const MAX_PAGES: u32 = 50;

/// `--github-api-url`: https to any host (github.com, a GitHub Enterprise server), plain http only on loopback
/// with a port, checked as the CircleCI API URL is.
pub(crate) fn api_url(s: &str) -> std::result::Result<String, String> {
    const WHAT: &str = "GitHub's API is https://api.github.com (GitHub Enterprise: https://HOST/api/v3; a loopback \
                        address only for tests)";
    crate::deploy::approval::api_base(s, WHAT, |_| true)
}

/// The marker that tells bbgate's comment (of `key`) from the others.
fn marker(key: &str) -> String {
    format!("<!-- bbgate:summary:{key} -->")
}

/// The comment's body: the marker, then the summary, cut to GitHub's limit with a line saying so.
fn body(key: &str, summary: &str) -> String {
    let head = marker(key);
    let mut text = format!("{head}\n{summary}");
    if text.chars().count() > BODY_LIMIT {
        const CUT: &str = "\n\n… cut to GitHub's comment limit: the whole summary is in the job's artifacts \
                           (bbgate-out/summary.md, report.html).";
        text = text.chars().take(BODY_LIMIT - CUT.chars().count()).collect();
        text.push_str(CUT);
    }
    text
}

fn check(args: &CommentArgs) -> Result<(String, String)> {
    let mut problems = Vec::new();
    let parts: Vec<&str> = args.repository.split('/').collect();
    let repo_ok = parts.len() == 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && *p != "."
                && *p != ".."
                && p.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        });
    if !repo_ok {
        problems.push(format!(
            "--repository {:?}: give OWNER/NAME, e.g. GovStackWorkingGroup/bb-payments",
            args.repository
        ));
    }
    if args.pull_request.parse::<u64>().map_or(true, |n| n == 0) {
        problems.push(format!(
            "--pull-request {:?}: give the pull request's number",
            args.pull_request
        ));
    }
    if args.key.is_empty()
        || !args
            .key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        problems.push(format!("--key {:?}: letters, digits, - _ . only", args.key));
    }
    let token = if args.token_env.is_empty() || !args.token_env.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        problems.push(format!("--token-env {:?} is not a variable name", args.token_env));
        String::new()
    } else {
        std::env::var(&args.token_env).unwrap_or_default()
    };
    if token.is_empty() && problems.is_empty() {
        problems.push(format!(
            "{} is not set: give a token that may comment on the pull requests of {} (the BB's context)",
            args.token_env, args.repository
        ));
    }
    let summary = match crate::input::read_text(&args.markdown, crate::input::SUMMARY) {
        Ok(s) => s,
        Err(e) => {
            problems.push(e.to_string());
            String::new()
        }
    };
    if problems.is_empty() {
        Ok((token, summary))
    } else {
        Err(Error::Invalid(problems))
    }
}

/// `bbgate comment`.
pub fn run(args: &CommentArgs) -> Result<u8> {
    let (token, summary) = check(args)?;
    let text = body(&args.key, &summary);
    let rt = crate::aws::runtime()?;
    let (action, id, url) = rt.block_on(post(args, &token, &text))?;
    match args.format {
        Format::Json => crate::output::line(
            &json!({"action": action, "comment_id": id, "url": url, "repository": args.repository,
                    "pull_request": args.pull_request})
            .to_string(),
        )?,
        Format::Human => crate::output::human(&format!(
            "bbgate comment: {action} comment {id} on {}#{}\n",
            args.repository, args.pull_request
        ))?,
    }
    Ok(exit::PASS)
}

/// Find bbgate's comment (every page), then edit it, or create one: (action, id, html_url).
async fn post(args: &CommentArgs, token: &str, text: &str) -> Result<(&'static str, u64, String)> {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("bbgate/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::Undecidable(format!("HTTP client: {e}")))?;
    let base = format!("{}/repos/{}", args.github_api_url, args.repository);
    let mark = marker(&args.key);
    let mut found = None;
    for page in 1..=MAX_PAGES {
        let url = format!("{base}/issues/{}/comments?per_page=100&page={page}", args.pull_request);
        let list = call(&client, reqwest::Method::GET, &url, token, None).await?;
        let items = list.as_array().ok_or_else(|| {
            Error::Undecidable(format!(
                "GitHub answered the comment list of {} with no list",
                args.repository
            ))
        })?;
        found = items
            .iter()
            .find(|c| c["body"].as_str().is_some_and(|b| b.starts_with(&mark)))
            .and_then(|c| c["id"].as_u64());
        if found.is_some() || items.len() < 100 {
            break;
        }
    }
    let (action, answer) = match found {
        Some(id) => {
            let url = format!("{base}/issues/comments/{id}");
            (
                "updated",
                call(&client, reqwest::Method::PATCH, &url, token, Some(text)).await?,
            )
        }
        None => {
            let url = format!("{base}/issues/{}/comments", args.pull_request);
            (
                "created",
                call(&client, reqwest::Method::POST, &url, token, Some(text)).await?,
            )
        }
    };
    let id = answer["id"]
        .as_u64()
        .ok_or_else(|| Error::Undecidable("GitHub answered without the comment's id".to_owned()))?;
    Ok((action, id, answer["html_url"].as_str().unwrap_or_default().to_owned()))
}

async fn call(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    token: &str,
    text: Option<&str>,
) -> Result<Value> {
    let mut req = client
        .request(method.clone(), url)
        .bearer_auth(token)
        .header("Accept", "application/vnd.github+json")
        .header("X-GitHub-Api-Version", "2022-11-28");
    if let Some(t) = text {
        req = req.json(&json!({"body": t}));
    }
    let resp = req
        .send()
        .await
        .map_err(|e| Error::Undecidable(format!("cannot reach GitHub's API: {}", e.without_url())))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(Error::Undecidable(format!(
            "GitHub answered {status} to {method} {}: the token must be one that may read and write the pull \
             request's comments (issues: write)",
            url.split('?').next().unwrap_or(url)
        )));
    }
    resp.json()
        .await
        .map_err(|e| Error::Undecidable(format!("GitHub answered with something that is not JSON: {e}")))
}
