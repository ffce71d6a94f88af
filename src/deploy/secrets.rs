//! `deploy --secret-from-file NAME=KEY=PATH`: the Opaque Secrets a chart expects to find (certificates generated
//! by the pipeline), created or updated in the BB's namespace before helm runs, so a pipeline needs no kubectl
//! with cluster credentials. Each carries helm's ownership labels for the release. Their data is read once,
//! sent to the API server, and never printed, recorded or hashed.

use crate::error::{Error, Result};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use std::collections::BTreeMap;

/// One Secret to write: its name and its keys with their bytes.
pub(crate) struct SecretFiles {
    name: String,
    data: BTreeMap<String, Vec<u8>>,
}

/// The contents of the files that are text (certificates, keys), for cutting out of what helm prints.
pub(crate) fn texts(secrets: &[SecretFiles]) -> impl Iterator<Item = String> + '_ {
    secrets
        .iter()
        .flat_map(|s| s.data.values())
        .filter_map(|b| std::str::from_utf8(b).ok().map(str::to_owned))
}

/// A Secret's data key: letters, digits, `-`, `_` and `.` (the API server's rule).
fn is_data_key(k: &str) -> bool {
    !k.is_empty() && k.len() <= 253 && k.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// Read every `NAME=KEY=PATH`, every problem at once; the same NAME twice adds keys to one Secret.
pub(crate) fn read(flags: &[String]) -> Result<Vec<SecretFiles>> {
    let mut out: Vec<SecretFiles> = Vec::new();
    let mut problems = Vec::new();
    for f in flags {
        let mut parts = f.splitn(3, '=');
        let (Some(name), Some(key), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            problems.push(format!("--secret-from-file {f:?}: give NAME=KEY=PATH"));
            continue;
        };
        if !crate::policy::is_dns_subdomain(name) {
            problems.push(format!(
                "--secret-from-file {f}: {name:?} is not a Secret name (a DNS subdomain)"
            ));
            continue;
        }
        if !is_data_key(key) {
            problems.push(format!(
                "--secret-from-file {f}: {key:?} is not a Secret key (letters, digits, -, _, .)"
            ));
            continue;
        }
        let bytes = match super::room::in_working_dir(std::path::Path::new(path))
            .and_then(|real| crate::input::read(&real, crate::input::SECRET_FILE))
        {
            Ok(b) => b,
            Err(e) => {
                problems.push(e.to_string());
                continue;
            }
        };
        match out.iter_mut().find(|s| s.name == name) {
            Some(s) if s.data.contains_key(key) => {
                problems.push(format!(
                    "--secret-from-file {name}={key}=…: key {key} of {name} given twice"
                ));
            }
            Some(s) => {
                s.data.insert(key.to_owned(), bytes);
            }
            None => out.push(SecretFiles {
                name: name.to_owned(),
                data: BTreeMap::from([(key.to_owned(), bytes)]),
            }),
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(Error::Invalid(problems))
    }
}

/// Create or update each Secret (server-side apply, bbgate's field manager), owned by the release as helm marks
/// what it manages. Returns `NAME (keys: …)` for the record.
pub(crate) async fn apply(client: &Client, ns: &str, release: &str, secrets: &[SecretFiles]) -> Result<Vec<String>> {
    let api = Api::<Secret>::namespaced(client.clone(), ns);
    let mut done = Vec::new();
    for s in secrets {
        let secret = Secret {
            metadata: kube::api::ObjectMeta {
                name: Some(s.name.clone()),
                namespace: Some(ns.to_owned()),
                labels: Some(BTreeMap::from([(
                    "app.kubernetes.io/managed-by".to_owned(),
                    "Helm".to_owned(),
                )])),
                annotations: Some(BTreeMap::from([
                    ("meta.helm.sh/release-name".to_owned(), release.to_owned()),
                    ("meta.helm.sh/release-namespace".to_owned(), ns.to_owned()),
                ])),
                ..Default::default()
            },
            type_: Some("Opaque".to_owned()),
            data: Some(s.data.iter().map(|(k, v)| (k.clone(), ByteString(v.clone()))).collect()),
            ..Default::default()
        };
        api.patch(&s.name, &PatchParams::apply("bbgate").force(), &Patch::Apply(&secret))
            .await
            .map_err(|e| super::preflight::cluster_error(&format!("writing Secret {} in {ns}", s.name), e))?;
        done.push(format!(
            "{} (keys: {})",
            s.name,
            s.data.keys().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    Ok(done)
}
