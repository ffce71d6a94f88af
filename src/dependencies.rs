//! A chart's dependencies, built as GovStack's pipelines build them (`helm dependency build`), but pinned and to
//! any depth: a chart that declares dependencies must carry its Chart.lock (helm itself refuses a lock out of
//! sync with Chart.yaml), unless every dependency is already vendored under `charts/`. A vendored chart is
//! known by the name in its own Chart.yaml, as helm knows it (the IM umbrella vendors `xroad-ss` under
//! `charts/security-server/`), never by its directory's name. A lock whose every dependency is vendored at the
//! locked version is not built again, so `chart check` needs no network. `helm dependency build` does not
//! descend: each vendored subchart directory is built in turn (early-warnings' Kafka subchart locks its own
//! broker), and a subchart archive that declares a dependency it does not carry is refused naming it, where
//! helm would install the release without it. Dependencies come from HTTP(S) chart repositories and OCI
//! registries; plain HTTP only on loopback, as for pushes. Verify builds them before it hashes the chart,
//! deploy before it compares: the files fetched are part of the chart judged.

use crate::deploy::helm::Helm;
use crate::error::{Error, Result};
use std::path::Path;

/// How deep subcharts may nest before the chart is refused (helm has no limit; a loop has none either).
const MAX_DEPTH: usize = 8;

/// One dependency as Chart.yaml or Chart.lock names it.
#[derive(Debug, Clone, PartialEq)]
struct Dependency {
    name: String,
    version: String,
    repository: String,
}

/// A chart's own metadata: its name, version and declared dependencies.
struct Meta {
    name: String,
    version: String,
    dependencies: Vec<Dependency>,
}

fn meta_of(text: &str, label: &str) -> Result<Meta> {
    let v: serde_json::Value =
        yaml_serde::from_str(text).map_err(|e| Error::invalid(format!("{label}: not YAML: {e}")))?;
    let s = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    };
    Ok(Meta {
        name: s(&v["name"]),
        version: s(&v["version"]),
        dependencies: v["dependencies"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| Dependency {
                name: s(&d["name"]),
                version: s(&d["version"]),
                repository: s(&d["repository"]),
            })
            .collect(),
    })
}

fn read_meta(path: &Path) -> Result<Meta> {
    let text = crate::input::read_text(path, crate::input::CHART_FILE)?;
    meta_of(&text, &path.display().to_string())
}

/// A chart under `charts/`: a directory of any name, or a `.tgz`.
struct Vendored {
    /// `charts/NAME` or `charts/NAME-1.0.0.tgz`, for messages.
    label: String,
    meta: Meta,
    /// A directory (built in turn), or an archive: the names of the charts it carries under its own `charts/`.
    carried: Option<Vec<String>>,
}

/// The charts vendored under `chart/charts/`, each known by its own Chart.yaml.
fn vendored(chart: &Path) -> Result<Vec<Vendored>> {
    let dir = chart.join("charts");
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for path in crate::deploy::room::sorted_entries(&dir)? {
        let label = format!("charts/{}", path.file_name().unwrap_or_default().to_string_lossy());
        if path.is_dir() && path.join("Chart.yaml").is_file() {
            out.push(Vendored {
                label,
                meta: read_meta(&path.join("Chart.yaml"))?,
                carried: None,
            });
        } else if path.is_file() && label.ends_with(".tgz") {
            let (meta, carried) = archive_meta(&path, &label)?;
            out.push(Vendored {
                label,
                meta,
                carried: Some(carried),
            });
        }
    }
    Ok(out)
}

/// A chart archive's own Chart.yaml, and the names of the charts it carries (`TOP/charts/X/Chart.yaml`, and
/// `TOP/charts/*.tgz` by their file name, `NAME-VERSION.tgz`).
fn archive_meta(path: &Path, label: &str) -> Result<(Meta, Vec<String>)> {
    let bytes = crate::input::read(path, crate::input::CHART_FILE)?;
    let bad = |e: std::io::Error| Error::invalid(format!("{label}: not a chart archive: {e}"));
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes.as_slice()));
    let mut meta = None;
    let mut carried = Vec::new();
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let name = entry.path().map(|p| p.display().to_string()).unwrap_or_default();
        let parts: Vec<&str> = name.split('/').collect();
        match parts.as_slice() {
            [_, "Chart.yaml"] => {
                let at = format!("{label}:{name}");
                let text = crate::input::read_stream(&mut entry, &at, crate::input::CHART_FILE)?;
                meta = Some(meta_of(&String::from_utf8_lossy(&text), &at)?);
            }
            [_, "charts", _, "Chart.yaml"] => {
                let at = format!("{label}:{name}");
                let text = crate::input::read_stream(&mut entry, &at, crate::input::CHART_FILE)?;
                carried.push(meta_of(&String::from_utf8_lossy(&text), &at)?.name);
            }
            [_, "charts", file] if file.ends_with(".tgz") => {
                let stem = file.trim_end_matches(".tgz");
                // NAME-VERSION: the name is what precedes the first '-' followed by a digit.
                let cut = stem
                    .char_indices()
                    .find(|&(i, c)| c == '-' && stem[i + 1..].starts_with(|d: char| d.is_ascii_digit()))
                    .map_or(stem.len(), |(i, _)| i);
                carried.push(stem[..cut].to_owned());
            }
            _ => {}
        }
    }
    let meta = meta.ok_or_else(|| Error::invalid(format!("{label}: a chart archive without a Chart.yaml")))?;
    Ok((meta, carried))
}

fn loopback(host: &str) -> bool {
    let h = host.split(':').next().unwrap_or(host);
    h == "127.0.0.1" || h == "localhost" || host.starts_with("[::1]")
}

/// Build the dependencies of `chart` with `helm`, if it or any subchart declares any. Returns what was done,
/// for people.
pub(crate) fn build(helm: &Helm, chart: &Path) -> Result<Option<String>> {
    let mut done = Vec::new();
    build_at(helm, chart, "", 0, &mut done)?;
    Ok((!done.is_empty()).then(|| done.join("; ")))
}

fn build_at(helm: &Helm, chart: &Path, at: &str, depth: usize, done: &mut Vec<String>) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(Error::invalid(format!(
            "{at}: subcharts nest more than {MAX_DEPTH} deep: a chart that contains itself?"
        )));
    }
    let yaml = chart.join("Chart.yaml");
    let declared = read_meta(&yaml)?.dependencies;
    let here = if at.is_empty() {
        "the chart".to_owned()
    } else {
        at.to_owned()
    };
    // What `charts/` holds, read once (archives are unpacked to read them), and again only after a build.
    let mut have = vendored(chart)?;
    if !declared.is_empty() {
        let is_vendored = |have: &[Vendored], d: &Dependency, exact: bool| {
            have.iter()
                .any(|v| v.meta.name == d.name && (!exact || v.meta.version == d.version))
        };
        let lock = chart.join("Chart.lock");
        if lock.is_file() {
            let locked = read_meta(&lock)?.dependencies;
            if locked.iter().all(|d| is_vendored(&have, d, true)) {
                done.push(format!(
                    "{here}: {} dependencies vendored as Chart.lock pins them",
                    locked.len()
                ));
            } else {
                build_locked(helm, chart, &lock, &locked)?;
                done.push(format!("{here}: {} dependencies built from Chart.lock", locked.len()));
                have = vendored(chart)?;
            }
        } else {
            let missing: Vec<&str> = declared
                .iter()
                .filter(|d| !is_vendored(&have, d, false))
                .map(|d| d.name.as_str())
                .collect();
            if !missing.is_empty() {
                return Err(Error::invalid(format!(
                    "{}: declares dependencies ({}) that are neither vendored under charts/ (a chart is known by \
                     the name in its own Chart.yaml) nor locked: unpinned dependencies could be anything at deploy; \
                     run `helm dependency update` there and commit Chart.lock, or vendor them",
                    yaml.display(),
                    missing.join(", ")
                )));
            }
            done.push(format!("{here}: dependencies vendored under charts/"));
        }
    }
    // Every subchart in turn, as the release installs them: helm builds only the top level.
    for v in have {
        let sub = format!(
            "{}{}",
            if at.is_empty() { String::new() } else { format!("{at}/") },
            v.label
        );
        match &v.carried {
            None => build_at(helm, &chart.join(&v.label), &sub, depth + 1, done)?,
            Some(carried) => {
                let missing: Vec<&str> = v
                    .meta
                    .dependencies
                    .iter()
                    .filter(|d| !carried.contains(&d.name))
                    .map(|d| d.name.as_str())
                    .collect();
                if !missing.is_empty() {
                    return Err(Error::invalid(format!(
                        "{sub}: chart {} declares dependencies it does not carry ({}): helm would install the \
                         release without them; package it with its dependencies built (helm dependency build, then \
                         helm package), or vendor it as a directory with its Chart.lock",
                        v.meta.name,
                        missing.join(", ")
                    )));
                }
            }
        }
    }
    Ok(())
}

/// `helm dependency build` of one chart from its lock, from the repositories the lock names.
fn build_locked(helm: &Helm, chart: &Path, lock: &Path, locked: &[Dependency]) -> Result<()> {
    let mut repos = Vec::new();
    let mut plain_http = false;
    for d in locked {
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
    helm.dependency_build(chart, &repos, plain_http)
}
