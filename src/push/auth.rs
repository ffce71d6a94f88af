//! Registry credentials: ECR's GetAuthorizationToken (the same AWS credentials as verify, OIDC included), or
//! the standard Docker config file. Passwords stay inside `RegistryAuth` and are never formatted.

use crate::error::{Error, Result};
use base64::Engine;
use oci_client::secrets::RegistryAuth;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, DockerAuth>,
    #[serde(default)]
    creds_store: Option<String>,
    #[serde(default)]
    cred_helpers: BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
struct DockerAuth {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    identitytoken: Option<String>,
    registrytoken: Option<String>,
}

/// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub(crate) fn docker_config_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker").join("config.json"))
}

/// The credentials the Docker config file holds for `host`, or anonymous when it holds none.
pub(crate) fn from_docker_config(host: &str) -> Result<(RegistryAuth, String)> {
    let Some(path) = docker_config_path().filter(|p| p.is_file()) else {
        return Ok((RegistryAuth::Anonymous, "anonymous (no Docker config file)".into()));
    };
    let text = crate::input::read(&path, crate::input::POLICY)?;
    let conf: DockerConfig = serde_json::from_slice(&text).map_err(|e| {
        Error::invalid(format!(
            "{}: not a Docker config file: {e} (line {}, column {})",
            path.display(),
            e.line(),
            e.column()
        ))
    })?;
    let entry = conf.auths.iter().find(|(k, _)| {
        let k = k.trim_start_matches("https://").trim_start_matches("http://");
        k == host || k.strip_suffix("/v1/").or_else(|| k.strip_suffix("/v2/")) == Some(host)
    });
    let named = format!("{} for {host}", path.display());
    let helper = conf.cred_helpers.get(host).or(conf.creds_store.as_ref());
    let Some((_, a)) = entry else {
        if let Some(helper) = conf.cred_helpers.get(host) {
            return Err(Error::invalid(format!(
                "{}: credHelpers sends {host} to docker-credential-{helper}, which bbgate does not run; \
                 for a local registry, store the login in `auths` (docker login with no helper), or use ECR auth",
                path.display()
            )));
        }
        return Ok((
            RegistryAuth::Anonymous,
            format!("anonymous (no entry in {})", path.display()),
        ));
    };
    if let Some(token) = a.registrytoken.as_ref().filter(|t| !t.is_empty()) {
        return Ok((
            RegistryAuth::Bearer(token.clone()),
            format!("bearer token from {named}"),
        ));
    }
    if a.identitytoken.as_ref().is_some_and(|t| !t.is_empty()) {
        return Err(Error::invalid(format!(
            "{named}: holds an OAuth identity token, which bbgate does not exchange; log in with a username and \
             password or token instead"
        )));
    }
    let (user, pass) = match (&a.username, &a.password, &a.auth) {
        (Some(u), Some(p), _) if !u.is_empty() => (u.clone(), p.clone()),
        (_, _, Some(b64)) if !b64.is_empty() => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .ok()
                .and_then(|d| String::from_utf8(d).ok())
                .ok_or_else(|| Error::invalid(format!("{named}: `auth` is not base64 of user:password")))?;
            let (u, p) = decoded
                .split_once(':')
                .ok_or_else(|| Error::invalid(format!("{named}: `auth` is not base64 of user:password")))?;
            (u.to_owned(), p.to_owned())
        }
        _ => {
            return Err(Error::invalid(match helper {
                Some(h) => format!(
                    "{named}: the password is kept by docker-credential-{h}, which bbgate does not run; \
                     store the login in the file (a config without credsStore) or use ECR auth"
                ),
                None => format!("{named}: the entry holds no credentials (no auth, username/password or token)"),
            }));
        }
    };
    Ok((
        RegistryAuth::Basic(user.clone(), pass),
        format!("user {user} from {named}"),
    ))
}

/// ECR's `AWS:PASSWORD` token (base64), as Basic credentials.
pub(crate) fn from_ecr_token(token: &str) -> Result<RegistryAuth> {
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .ok()
        .and_then(|d| String::from_utf8(d).ok())
        .ok_or_else(|| Error::Undecidable("ECR returned an authorization token that is not base64 text".into()))?;
    let (user, pass) = decoded
        .split_once(':')
        .ok_or_else(|| Error::Undecidable("ECR returned an authorization token without user:password".into()))?;
    Ok(RegistryAuth::Basic(user.to_owned(), pass.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecr_tokens_decode_to_basic() {
        let t = base64::engine::general_purpose::STANDARD.encode("AWS:secret");
        assert!(matches!(from_ecr_token(&t).unwrap(), RegistryAuth::Basic(u, p) if u == "AWS" && p == "secret"));
        assert!(from_ecr_token("%%%").is_err());
    }
}
