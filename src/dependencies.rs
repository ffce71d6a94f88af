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

/// A chart's own metadata: its name, version and declared dependencies (a Chart.lock: the locked ones, and its
/// digest).
struct Meta {
    name: String,
    version: String,
    api_version: String,
    dependencies: Vec<Dependency>,
    /// The dependencies as written, for helm's digest of them.
    raw: Vec<serde_json::Value>,
    digest: String,
}

fn meta_of(text: &str, label: &str) -> Result<Meta> {
    let v: serde_json::Value =
        yaml_serde::from_str(text).map_err(|e| Error::invalid(format!("{label}: not YAML: {e}")))?;
    let s = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    };
    let raw = v["dependencies"].as_array().cloned().unwrap_or_default();
    Ok(Meta {
        name: s(&v["name"]),
        version: s(&v["version"]),
        api_version: s(&v["apiVersion"]),
        dependencies: raw
            .iter()
            .map(|d| Dependency {
                name: s(&d["name"]),
                version: s(&d["version"]),
                repository: s(&d["repository"]),
            })
            .collect(),
        digest: s(&v["digest"]),
        raw,
    })
}

/// helm's digest of a chart's declared dependencies and its lock's (`resolver.HashReq`), which `helm dependency
/// build` compares with the lock's `digest`: the sha256 of Go's JSON of `[declared, locked]`, each dependency
/// with helm's fields in helm's order, empty ones left out, `<`, `>` and `&` escaped as Go escapes them.
fn helm_lock_digest(declared: &[serde_json::Value], locked: &[serde_json::Value]) -> String {
    use serde_json::Value;
    let go = |v: &Value| {
        serde_json::to_string(v)
            .unwrap_or_default()
            .replace('<', "\\u003c")
            .replace('>', "\\u003e")
            .replace('&', "\\u0026")
            .replace('\u{2028}', "\\u2028")
            .replace('\u{2029}', "\\u2029")
    };
    let dependency = |d: &Value| {
        let mut out = vec![format!("\"name\":{}", go(&d["name"]))];
        let present = |k: &str| match &d[k] {
            Value::Null | Value::Bool(false) => false,
            Value::String(s) => !s.is_empty(),
            Value::Array(a) => !a.is_empty(),
            _ => true,
        };
        for key in [
            "version",
            "repository",
            "condition",
            "tags",
            "enabled",
            "import-values",
            "alias",
        ] {
            if key == "repository" {
                out.push(format!(
                    "\"repository\":{}",
                    go(&Value::String(d[key].as_str().unwrap_or("").to_owned()))
                ));
            } else if present(key) {
                out.push(format!("\"{key}\":{}", go(&d[key])));
            }
        }
        format!("{{{}}}", out.join(","))
    };
    let list = |l: &[Value]| format!("[{}]", l.iter().map(dependency).collect::<Vec<_>>().join(","));
    let json = format!("[{},{}]", list(declared), list(locked));
    format!("sha256:{}", bbgate_core::policy::sha256_hex(json.as_bytes()))
}

/// Refuse a Chart.lock out of sync with its Chart.yaml, naming what differs (helm's own refusal says only that
/// they differ, and where a `file://` path moved, that a directory is not found).
fn check_in_sync(yaml: &Path, declared: &Meta, lock: &Path, locked: &Meta) -> Result<()> {
    if declared.api_version == "v1" || helm_lock_digest(&declared.raw, &locked.raw) == locked.digest {
        return Ok(());
    }
    // A range (`>=16.0.0 <17.0.0`, `16.x`) is not compared with the version it locked.
    let exact = |v: &str| {
        v.split(['.', '-', '+'])
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric()) && !matches!(p, "x" | "X"))
    };
    let mut differs = Vec::new();
    for d in &declared.dependencies {
        match locked.dependencies.iter().find(|l| l.name == d.name) {
            None => differs.push(format!("{} is declared but not locked", d.name)),
            Some(l) if (exact(&d.version) && l.version != d.version) || l.repository != d.repository => {
                differs.push(format!(
                    "{}: Chart.yaml asks {} from {}, the lock pins {} from {}",
                    d.name, d.version, d.repository, l.version, l.repository
                ))
            }
            Some(_) => {}
        }
    }
    for l in &locked.dependencies {
        if !declared.dependencies.iter().any(|d| d.name == l.name) {
            differs.push(format!("{} is locked but no longer declared", l.name));
        }
    }
    if differs.is_empty() {
        differs.push(if declared.digest.is_empty() && locked.digest.is_empty() {
            "the lock has no digest".to_owned()
        } else {
            "they differ in a field other than name, version and repository (condition, tags, alias, \
             import-values), or the lock's digest was edited"
                .to_owned()
        });
    }
    Err(Error::invalid(format!(
        "{} is out of sync with the dependencies of {} ({}): helm would refuse to build from it and the chart \
         judged would not be the one locked; run `helm dependency update {}` and commit the new Chart.lock",
        lock.display(),
        yaml.display(),
        differs.join("; "),
        yaml.parent()
            .map_or_else(|| ".".to_owned(), |p| p.display().to_string())
    )))
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
/// `shown` is the chart's directory as the user gave it, for messages (helm works on a copy in its room).
pub(crate) fn build(helm: &Helm, chart: &Path, shown: &Path) -> Result<Option<String>> {
    let mut done = Vec::new();
    build_at(helm, (chart, shown), "", 0, &mut done)?;
    Ok((!done.is_empty()).then(|| done.join("; ")))
}

fn build_at(helm: &Helm, (chart, shown): (&Path, &Path), at: &str, depth: usize, done: &mut Vec<String>) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(Error::invalid(format!(
            "{at}: subcharts nest more than {MAX_DEPTH} deep: a chart that contains itself?"
        )));
    }
    let yaml = chart.join("Chart.yaml");
    let meta = read_meta(&yaml)?;
    let declared = &meta.dependencies;
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
            let lock_meta = read_meta(&lock)?;
            check_in_sync(&shown.join("Chart.yaml"), &meta, &shown.join("Chart.lock"), &lock_meta)?;
            let locked = lock_meta.dependencies;
            if locked.iter().all(|d| is_vendored(&have, d, true)) {
                done.push(format!(
                    "{here}: {} dependencies vendored as Chart.lock pins them",
                    locked.len()
                ));
            } else {
                build_locked(helm, (chart, shown), &locked)?;
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
                    shown.join("Chart.yaml").display(),
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
            None => build_at(
                helm,
                (&chart.join(&v.label), &shown.join(&v.label)),
                &sub,
                depth + 1,
                done,
            )?,
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
fn build_locked(helm: &Helm, (chart, shown): (&Path, &Path), locked: &[Dependency]) -> Result<()> {
    let lock = shown.join("Chart.lock");
    let mut repos = Vec::new();
    let mut plain_http = false;
    for d in locked {
        let r = d.repository.as_str();
        if let Some(dir) = r.strip_prefix("file://") {
            // helm resolves the path from the chart and says only "directory … not found".
            let at = chart.join(dir);
            if !at.join("Chart.yaml").is_file() {
                return Err(Error::invalid(format!(
                    "{}: dependency {} comes from {r}, which is not a chart inside {}: helm builds in a sealed \
                     room holding the chart's own files only; vendor the dependency under charts/ at the locked \
                     version (`helm dependency build` there, then commit charts/), and nothing is built",
                    lock.display(),
                    d.name,
                    shown.display()
                )));
            }
            continue;
        }
        if r.is_empty() {
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
