//! A chart's dependencies, built as GovStack's pipelines build them (`helm dependency build`), but pinned:
//! a chart that declares dependencies must carry its Chart.lock (helm itself refuses a lock out of sync with
//! Chart.yaml), unless every dependency is already vendored under `charts/`. Dependencies come from HTTP(S)
//! chart repositories and OCI registries; plain HTTP only on loopback, as for pushes. Verify builds them before
//! it hashes the chart, deploy before it compares: the files fetched are part of the chart judged.

use crate::deploy::helm::Helm;
use crate::error::{Error, Result};
use std::path::Path;

/// One dependency as Chart.yaml or Chart.lock names it.
#[derive(Debug, Clone, PartialEq)]
struct Dependency {
    name: String,
    repository: String,
}

fn dependencies(path: &Path) -> Result<Vec<Dependency>> {
    let text = crate::input::read_text(path, crate::input::CHART_FILE)?;
    let v: serde_json::Value =
        yaml_serde::from_str(&text).map_err(|e| Error::invalid(format!("{}: not YAML: {e}", path.display())))?;
    Ok(v["dependencies"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| Dependency {
            name: d["name"].as_str().unwrap_or_default().to_owned(),
            repository: d["repository"].as_str().unwrap_or_default().to_owned(),
        })
        .collect())
}

/// Is a dependency already under `charts/` (a directory of its name, or a `NAME-*.tgz`)?
fn vendored(chart: &Path, name: &str) -> bool {
    let dir = chart.join("charts");
    dir.join(name).join("Chart.yaml").is_file()
        || std::fs::read_dir(&dir).is_ok_and(|entries| {
            entries.flatten().any(|e| {
                let f = e.file_name().to_string_lossy().into_owned();
                f.strip_prefix(name)
                    .and_then(|rest| rest.strip_prefix('-'))
                    .is_some_and(|rest| rest.ends_with(".tgz") && rest.starts_with(|c: char| c.is_ascii_digit()))
            })
        })
}

fn loopback(host: &str) -> bool {
    let h = host.split(':').next().unwrap_or(host);
    h == "127.0.0.1" || h == "localhost" || host.starts_with("[::1]")
}

/// Build the dependencies of `chart` with `helm`, if it declares any. Returns what was done, for people.
pub(crate) fn build(helm: &Helm, chart: &Path) -> Result<Option<String>> {
    let declared = dependencies(&chart.join("Chart.yaml"))?;
    if declared.is_empty() {
        return Ok(None);
    }
    let lock = chart.join("Chart.lock");
    if !lock.is_file() {
        let missing: Vec<&str> = declared
            .iter()
            .filter(|d| !vendored(chart, &d.name))
            .map(|d| d.name.as_str())
            .collect();
        if missing.is_empty() {
            return Ok(Some("dependencies vendored under charts/".to_owned()));
        }
        return Err(Error::invalid(format!(
            "{}: declares dependencies ({}) and has no Chart.lock: unpinned dependencies could be anything at \
             deploy; run `helm dependency update` and commit Chart.lock (or vendor them under charts/)",
            chart.join("Chart.yaml").display(),
            missing.join(", ")
        )));
    }
    let locked = dependencies(&lock)?;
    let mut repos = Vec::new();
    let mut plain_http = false;
    for d in &locked {
        let r = d.repository.as_str();
        if r.is_empty() || r.starts_with("file://") {
            continue;
        }
        if let Some(rest) = r.strip_prefix("oci://") {
            plain_http |= loopback(rest.split('/').next().unwrap_or(""));
        } else if let Some(rest) = r.strip_prefix("http://") {
            if !loopback(rest.split('/').next().unwrap_or("")) {
                return Err(Error::invalid(format!(
                    "{}: dependency {} comes from {r} over plain HTTP: only https (or 127.0.0.1 for tests)",
                    lock.display(),
                    d.name
                )));
            }
            repos.push(r.to_owned());
        } else if r.starts_with("https://") {
            repos.push(r.to_owned());
        } else {
            return Err(Error::invalid(format!(
                "{}: dependency {} has repository {r:?}: give an https://, oci:// or file:// repository (a repository \
                 alias like @stable depends on the machine's helm settings)",
                lock.display(),
                d.name
            )));
        }
    }
    repos.sort();
    repos.dedup();
    helm.dependency_build(chart, &repos, plain_http)?;
    Ok(Some(format!(
        "{} dependenc{} built from Chart.lock",
        locked.len(),
        if locked.len() == 1 { "y" } else { "ies" }
    )))
}
