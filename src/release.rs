//! A BB release as its chart runs it: every container image of the rendered chart, where the sandbox keeps
//! each one (the building block's own ECR repositories, or the ECR pull-through cache for third-party
//! images), and the post-renderer that pins every image of the rendered chart to the digest the evidence
//! judged. Verify and deploy locate an image with the same function, so what was judged is what is pinned.

use crate::deploy::manifest::Manifest;
use crate::error::{Error, Result};
use crate::image::{PinnedImage as Pin, Reference};
use crate::policy::Policy;
use serde::{Deserialize, Serialize};

/// One image the rendered chart runs, with every container that runs it (`Deployment/x container "y"`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ChartImage {
    pub(crate) reference: String,
    pub(crate) used_by: Vec<String>,
}

/// Every image of the rendered objects, in the order first seen: containers, init and ephemeral containers of
/// every workload kind (CronJob and Job templates, helm hooks and tests included).
pub(crate) fn images_of(manifests: &[Manifest]) -> Vec<ChartImage> {
    let mut out: Vec<ChartImage> = Vec::new();
    for m in manifests {
        for (group, c) in m.containers() {
            let image = c["image"].as_str().unwrap_or_default().trim().to_owned();
            let who = format!(
                "{} {} {:?}",
                m.label(),
                group.trim_end_matches('s'),
                c["name"].as_str().unwrap_or("?")
            );
            match out.iter_mut().find(|i| i.reference == image) {
                Some(i) => i.used_by.push(who),
                None => out.push(ChartImage {
                    reference: image,
                    used_by: vec![who],
                }),
            }
        }
    }
    out
}

/// Where the sandbox keeps an image of the chart: an ECR repository (the BB's own, or the pull-through cache's
/// copy), the host when the chart names one, and the tag or digest to judge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Located {
    /// The ECR host the chart names (`ACCOUNT.dkr.ecr.REGION.amazonaws.com`); None: the sandbox's registry.
    pub(crate) host: Option<String>,
    pub(crate) repository: String,
    pub(crate) tag: Option<String>,
    pub(crate) digest: Option<String>,
    /// For a third-party image: the upstream it is cached from (`docker.io/library/postgres`).
    pub(crate) upstream: Option<String>,
}

impl Located {
    /// The ECR account of the host the chart names, if it names one.
    pub(crate) fn account(&self) -> Option<String> {
        self.host
            .as_deref()
            .and_then(crate::aws::parse_ecr_host)
            .map(|(account, _)| account)
    }

    /// As `--image` takes it: `[HOST/]REPOSITORY(:TAG|@DIGEST)`.
    pub(crate) fn spec(&self) -> String {
        let mut s = match &self.host {
            Some(h) => format!("{h}/{}", self.repository),
            None => self.repository.clone(),
        };
        match (&self.digest, &self.tag) {
            (Some(d), _) => s.push_str(&format!("@{d}")),
            (None, Some(t)) => s.push_str(&format!(":{t}")),
            (None, None) => {}
        }
        s
    }
}

/// Where `reference` lives in the sandbox, or why it cannot run there:
/// - an ECR host (`ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO`), or no host and a repository a building block
///   owns: the building block's own image in ECR;
/// - any other registry (Docker Hub when none is named, as the container runtime reads it) that the policy's
///   `[images] pull_through` maps: the cache's copy, `PREFIX/PATH`;
/// - anything else: not judgeable, so the release is denied naming it.
///
/// No tag and no digest means `latest`, as the kubelet pulls it.
pub(crate) fn locate(reference: &str, policy: &Policy) -> std::result::Result<Located, String> {
    if reference.is_empty() {
        return Err("a container has no image".to_owned());
    }
    if let Some(why) = unrendered(reference) {
        return Err(why);
    }
    let r = Reference::parse(reference);
    if r.digest.as_deref().is_some_and(|d| !crate::image::is_sha256_digest(d)) {
        return Err(format!("{reference}: the digest must be sha256:<64 hex digits>"));
    }
    let tag = match (&r.tag, &r.digest) {
        (None, None) => Some("latest".to_owned()),
        (t, _) => t.clone(),
    };
    let ecr_host = r.host.as_deref().filter(|h| crate::aws::parse_ecr_host(h).is_some());
    let own = r.host.is_none() && policy.building_blocks.iter().any(|b| b.owns_repository(&r.path));
    if ecr_host.is_some() || own {
        if !crate::findings::ecr::is_repository_name(&r.path) {
            return Err(format!("{reference}: {:?} is not an ECR repository name", r.path));
        }
        return Ok(Located {
            host: ecr_host.map(str::to_owned),
            repository: r.path,
            tag,
            digest: r.digest,
            upstream: None,
        });
    }
    let n = r.normalized();
    let host = n.host.clone().unwrap_or_default();
    let Some(prefix) = policy.images.pull_through.get(&host) else {
        let cached: Vec<&str> = policy.images.pull_through.keys().map(String::as_str).collect();
        return Err(format!(
            "{reference} comes from {host}, which is neither the sandbox's ECR nor a registry the pull-through cache \
             serves ({}; [images] pull_through): use the building block's own ECR image or a cached registry",
            if cached.is_empty() {
                "none configured".to_owned()
            } else {
                cached.join(", ")
            }
        ));
    };
    let repository = format!("{prefix}/{}", n.path.to_ascii_lowercase());
    if !crate::findings::ecr::is_repository_name(&repository) {
        return Err(format!("{reference}: {repository:?} is not an ECR repository name"));
    }
    Ok(Located {
        host: None,
        repository,
        tag,
        digest: n.digest,
        upstream: Some(format!("{host}/{}", n.path)),
    })
}

/// Every file of a chart by content: each path (relative, `/`-separated) with its sha256, and one sha256 over
/// them all (`sha256  path` lines in path order, as `sha256sum` prints them), so the same files give the same
/// digest on any machine, whatever their timestamps (a packaged chart's bytes carry them).
pub(crate) struct ChartContent {
    pub(crate) sha256: String,
    pub(crate) files: std::collections::BTreeMap<String, String>,
}

/// How many files and how deep a chart may be before it is refused as no chart.
const CHART_LIMITS: (usize, usize) = (20_000, 32);

pub(crate) fn chart_content(dir: &std::path::Path) -> Result<ChartContent> {
    let mut files = std::collections::BTreeMap::new();
    walk(dir, dir, 0, &mut files)?;
    let listing: String = files.iter().map(|(p, h)| format!("{h}  {p}\n")).collect();
    Ok(ChartContent {
        sha256: crate::policy::sha256_hex(listing.as_bytes()),
        files,
    })
}

fn walk(
    root: &std::path::Path,
    dir: &std::path::Path,
    depth: usize,
    files: &mut std::collections::BTreeMap<String, String>,
) -> Result<()> {
    if depth > CHART_LIMITS.1 {
        return Err(Error::invalid(format!(
            "{}: nested deeper than {} directories: not a chart",
            dir.display(),
            CHART_LIMITS.1
        )));
    }
    for entry in std::fs::read_dir(dir).map_err(|e| Error::read(dir, e))? {
        let path = entry.map_err(|e| Error::read(dir, e))?.path();
        let meta = std::fs::symlink_metadata(&path).map_err(|e| Error::read(&path, e))?;
        let follows = if meta.file_type().is_symlink() {
            std::fs::metadata(&path).map_err(|e| Error::read(&path, e))?
        } else {
            meta
        };
        if follows.is_dir() {
            if std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
                return Err(Error::invalid(format!(
                    "{}: a symlinked directory in the chart: copy it in, so the chart judged is the chart installed",
                    path.display()
                )));
            }
            walk(root, &path, depth + 1, files)?;
        } else {
            let bytes = crate::input::read(&path, crate::input::CHART_FILE)?;
            let rel = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            files.insert(rel, crate::policy::sha256_hex(&bytes));
            if files.len() > CHART_LIMITS.0 {
                return Err(Error::invalid(format!(
                    "{}: more than {} files: not a chart",
                    root.display(),
                    CHART_LIMITS.0
                )));
            }
        }
    }
    Ok(())
}

/// The files that differ between the chart judged (`judged`) and the chart given (`given`): changed, added,
/// removed, each named.
pub(crate) fn chart_changes(
    judged: &std::collections::BTreeMap<String, String>,
    given: &std::collections::BTreeMap<String, String>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (path, sha) in given {
        match judged.get(path) {
            Some(j) if j == sha => {}
            Some(_) => out.push(format!("{path} changed")),
            None => out.push(format!("{path} was added")),
        }
    }
    out.extend(
        judged
            .keys()
            .filter(|p| !given.contains_key(*p))
            .map(|p| format!("{p} was removed")),
    );
    out
}

/// What the post-renderer pins: every image of the evidence, located under the admins' policy (the same file
/// deploy decided under, checked against its sha256 again).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Pins {
    pub(crate) images: Vec<Pin>,
    /// The policy file, None for the built-in policy.
    pub(crate) policy: Option<std::path::PathBuf>,
    pub(crate) policy_sha256: String,
    /// The documents deploy judged (as JSON): helm's install render, once pinned, must be exactly these, or the
    /// post-renderer refuses it and helm installs nothing.
    #[serde(default)]
    pub(crate) judged: Option<Vec<serde_json::Value>>,
    /// Whether helm hands hooks to the post-renderer (helm 4; helm 3.18 does not): which judged documents the
    /// post-renderer must see.
    #[serde(default)]
    pub(crate) hooks_included: bool,
    /// Where the post-renderer writes why it refused, for deploy to report (helm shows only a short error).
    #[serde(default)]
    pub(crate) refusal: Option<std::path::PathBuf>,
}

/// The annotation helm 4 (and 3.21) puts on each manifest while it passes through a post-renderer, and
/// removes afterwards.
const POSTRENDER_ANNOTATION: &str = "postrenderer.helm.sh/postrender-filename";

/// A document as compared: helm's passing annotation removed (and an annotations map it leaves empty).
pub(crate) fn comparable(mut doc: serde_json::Value) -> serde_json::Value {
    if let Some(meta) = doc.get_mut("metadata").and_then(serde_json::Value::as_object_mut) {
        if let Some(a) = meta.get_mut("annotations").and_then(serde_json::Value::as_object_mut) {
            a.remove(POSTRENDER_ANNOTATION);
        }
        if meta
            .get("annotations")
            .is_some_and(|a| a.as_object().is_some_and(serde_json::Map::is_empty))
        {
            meta.remove("annotations");
        }
    }
    doc
}

/// `Kind/name` of a document, for messages.
fn doc_label(doc: &serde_json::Value) -> String {
    format!(
        "{}/{}",
        doc["kind"].as_str().unwrap_or("?"),
        doc["metadata"]["name"].as_str().unwrap_or("?")
    )
}

/// Is the document a helm hook (its own `helm.sh/hook` annotation, as helm's manifest sorter reads it)?
pub(crate) fn is_hook(doc: &serde_json::Value) -> bool {
    doc["metadata"]["annotations"]["helm.sh/hook"].is_string()
}

/// Compare helm's install render with the judged documents, as multisets of JSON values: every difference,
/// each naming the object. Empty: identical.
pub(crate) fn render_differences(
    install: &[serde_json::Value],
    judged: &[serde_json::Value],
    hooks_included: bool,
) -> Vec<String> {
    let key = |v: &serde_json::Value| comparable(v.clone()).to_string();
    let mut want: Vec<(String, String)> = judged
        .iter()
        .filter(|d| hooks_included || !is_hook(d))
        .map(|d| (key(d), doc_label(d)))
        .collect();
    let mut out = Vec::new();
    for doc in install {
        let k = key(doc);
        match want.iter().position(|(w, _)| *w == k) {
            Some(i) => {
                want.swap_remove(i);
            }
            None => {
                let label = doc_label(doc);
                let also = if want.iter().any(|(_, l)| *l == label) {
                    "differs from the one judged"
                } else {
                    "was not in the render judged"
                };
                out.push(format!("{label}: helm's install render {also}"));
            }
        }
    }
    for (_, label) in want {
        if !out.iter().any(|o| o.starts_with(&format!("{label}:"))) {
            out.push(format!("{label}: judged, but missing from helm's install render"));
        }
    }
    out.sort();
    out
}

/// A reference the chart's values left unfinished, said as what it is rather than as a registry or repository
/// of that name: Go's mark of a missing value (`%!s(<nil>)`, `<no value>`), or a shell or template placeholder
/// nothing expanded (`${VAR}`, `$(cmd)`, `{{ … }}`).
fn unrendered(reference: &str) -> Option<String> {
    if let Some(mark) = ["%!", "<nil>", "<no value>"].iter().find(|m| reference.contains(**m)) {
        return Some(format!(
            "{reference}: {mark:?} is how the chart's template prints a value that is not set: set the value the \
             template reads there (the registry, repository or tag) with --set-string or a values file"
        ));
    }
    if let Some(mark) = ["${", "$(", "{{"].iter().find(|m| reference.contains(**m)) {
        let at = reference.find(mark).unwrap_or(0);
        let rest = &reference[at..];
        let placeholder = rest.find(['}', ')']).map_or(rest, |end| &rest[..=end]);
        return Some(format!(
            "{reference}: holds the placeholder {placeholder}, which nothing expands (helm does not expand shell \
             variables in values, and CircleCI does not expand them in orb parameters): give the value itself, e.g. \
             --set-string image.tag=\"$CIRCLE_SHA1\" expanded by the shell"
        ));
    }
    None
}

/// The pinned reference for an image of the chart: the evidence's image it locates to (same repository, the
/// registry when the chart names one, the digest when the chart names one). When the release judged several
/// digests of the repository, the one judged under the chart's tag (postgres:12 and postgres:14 side by side).
/// None when no judged image fits, or which one is meant stays ambiguous: then the reference is left as it is
/// and the guard refuses it.
pub(crate) fn pin_for<'p>(reference: &str, pins: &'p [Pin], policy: &Policy) -> Option<&'p Pin> {
    let at = locate(reference, policy).ok()?;
    let fits: Vec<&Pin> = pins
        .iter()
        .filter(|p| {
            p.repository == at.repository
                && at.host.as_deref().is_none_or(|h| h == p.registry)
                && at.digest.as_deref().is_none_or(|d| d == p.digest)
        })
        .collect();
    let one = |fits: &[&'p Pin]| -> Option<&'p Pin> {
        let first = *fits.first()?;
        fits.iter().all(|p| p.digest == first.digest).then_some(first)
    };
    one(&fits).or_else(|| {
        // Several digests: the chart's tag picks the one judged under it, or nothing does.
        let tag = at.tag.as_deref().filter(|_| at.digest.is_none())?;
        let tagged: Vec<&Pin> = fits.iter().copied().filter(|p| p.tag.as_deref() == Some(tag)).collect();
        one(&tagged)
    })
}

/// The post-renderer: every `image:` value of the rendered YAML that locates to a judged image is replaced
/// by `REGISTRY/REPOSITORY@DIGEST`; nothing else changes, byte for byte. Values it cannot pin stay, and the
/// guard refuses them naming the container.
pub(crate) fn pin_rendered(rendered: &str, pins: &[Pin], policy: &Policy) -> String {
    let mut out = String::with_capacity(rendered.len() + 256);
    for line in rendered.split_inclusive('\n') {
        match image_value(line) {
            Some((start, end, value)) => match pin_for(value, pins, policy) {
                Some(p) => {
                    out.push_str(&line[..start]);
                    out.push_str(&p.reference());
                    out.push_str(&line[end..]);
                }
                None => out.push_str(line),
            },
            None => out.push_str(line),
        }
    }
    out
}

/// The span of an `image:` mapping value on a line of block YAML (`image: x`, `- image: "x"`, `image: 'x' #c`):
/// (start, end, value), quotes excluded.
fn image_value(line: &str) -> Option<(usize, usize, &str)> {
    let body = line.trim_end_matches(['\n', '\r']);
    let indent = body.len() - body.trim_start().len();
    let mut rest = &body[indent..];
    let mut at = indent;
    if let Some(r) = rest.strip_prefix("- ") {
        let skipped = rest.len() - r.trim_start().len();
        at += skipped;
        rest = &rest[skipped..];
    }
    let after_key = ["image:", "\"image\":", "'image':"]
        .iter()
        .find_map(|k| rest.strip_prefix(k))?;
    at += rest.len() - after_key.len();
    let value_part = after_key.trim_start();
    if value_part.len() == after_key.len() && !after_key.is_empty() {
        return None; // `image:x` is a plain scalar key, not a mapping
    }
    at += after_key.len() - value_part.len();
    let (quote, inner) = match value_part.chars().next() {
        Some(q @ ('"' | '\'')) => (Some(q), &value_part[1..]),
        _ => (None, value_part),
    };
    let len = match quote {
        Some(q) => inner.find(q)?,
        None => inner.find(" #").unwrap_or(inner.len()),
    };
    let value = inner[..len].trim_end();
    if value.is_empty() || value.contains(['{', '[', '&', '*', '|', '>']) {
        return None;
    }
    let start = at + usize::from(quote.is_some());
    Some((start, start + value.len(), value))
}

/// `bbgate post-render --pins FILE`: helm's post-renderer (helm 3 runs it as an executable, helm 4 as a
/// postrenderer/v1 plugin). Reads the rendered chart on stdin, writes it pinned on stdout.
pub fn post_render(pins_path: &std::path::Path) -> Result<u8> {
    use std::io::{Read, Write};
    let text = std::fs::read_to_string(pins_path).map_err(|e| Error::read(pins_path, e))?;
    let pins: Pins = serde_json::from_str(&text)
        .map_err(|e| Error::invalid(format!("{}: not a bbgate pins file: {e}", pins_path.display())))?;
    let policy = Policy::load(pins.policy.as_deref(), Some(&pins.policy_sha256))?;
    let mut rendered = String::new();
    std::io::stdin().read_to_string(&mut rendered).map_err(|e| {
        Error::invalid(format!(
            "post-render: the rendered chart on stdin is not UTF-8 text: {e}"
        ))
    })?;
    let out = pin_rendered(&rendered, &pins.images, &policy);
    if let Some(judged) = &pins.judged {
        let install = crate::deploy::manifest::documents(&out)
            .map(|docs| docs.into_iter().map(|(_, v)| v).collect::<Vec<_>>())
            .map_err(|e| vec![format!("helm's install render cannot be read: {e}")]);
        let problems = match install {
            Ok(install) => render_differences(&install, judged, pins.hooks_included),
            Err(p) => p,
        };
        if !problems.is_empty() {
            if let Some(path) = &pins.refusal {
                let _ = std::fs::write(path, problems.join("\n"));
            }
            return Err(Error::Denied(format!(
                "post-render: helm's install render is not the render bbgate judged, so nothing is installed:\n{}",
                problems.join("\n")
            )));
        }
    }
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| Error::Undecidable(format!("post-render: cannot write to helm: {e}")))?;
    Ok(crate::error::exit::PASS)
}

/// One image of the chart as `chart check` lists it (and `--format json` writes it).
#[derive(Debug, Serialize)]
struct Listed {
    #[serde(rename = "ref")]
    reference: String,
    /// Where the sandbox keeps it: the ECR repository, with the tag or digest to judge.
    sandbox: Option<String>,
    /// For a third-party image: the upstream the pull-through cache copies.
    upstream: Option<String>,
    used_by: Vec<String>,
}

#[derive(Debug, Serialize)]
struct ChartCheck<'a> {
    building_block: &'a str,
    chart: &'a crate::report::ChartRecord,
    images: Vec<Listed>,
    namespace: &'a str,
    notes: Vec<&'static str>,
    problems: Vec<crate::diag::Diagnostic>,
    status: &'static str,
    warnings: Vec<String>,
}

/// `bbgate chart check DIR`: the chart rendered offline under the building block's namespace, deploy's guard
/// and the policy's Rego rules on every object, and the images the release needs. No cluster and no AWS: what
/// only the cluster knows (the namespace's quota, what the API server would store, the preflight) is left to
/// `deploy --dry-run`.
pub fn chart_check(args: &crate::cli::ChartCheckArgs) -> Result<u8> {
    let policy = Policy::load(args.policy.as_deref(), crate::cli::policy_pin().as_deref())?;
    if !policy.deploy.rego_problems.is_empty() {
        return Err(Error::Invalid(policy.deploy.rego_problems.clone()));
    }
    let (bb, rendered) =
        crate::verify::chart::render_for(&args.chart, &args.render, &policy, args.building_block.as_deref())?;
    let rules = crate::deploy::guard::Rules::of(&policy, bb, &bb.namespace);
    let mut found = crate::deploy::judge(&rendered.manifests, &rules, &policy)?;
    let mut images = Vec::new();
    for image in images_of(&rendered.manifests) {
        let (sandbox, upstream) = match locate(&image.reference, &policy) {
            Ok(at) => (Some(at.spec()), at.upstream),
            Err(why) => {
                found
                    .problems
                    .push(crate::diag::Diagnostic::error("foreign-repository", why).at(&image.reference));
                (None, None)
            }
        };
        images.push(Listed {
            reference: image.reference,
            sandbox,
            upstream,
            used_by: image.used_by,
        });
    }
    let report = ChartCheck {
        building_block: &bb.name,
        chart: &rendered.record,
        images,
        namespace: &bb.namespace,
        notes: vec![
            "the namespace's quota, its isolation and what the API server would store are checked by deploy \
             --dry-run against the cluster",
        ],
        status: if found.problems.is_empty() { "clean" } else { "refused" },
        problems: found.problems,
        warnings: found.warnings,
    };
    let code = if report.problems.is_empty() {
        crate::error::exit::PASS
    } else {
        crate::error::exit::DENY
    };
    match args.format {
        crate::cli::Format::Json => crate::output::line(&serde_json::to_string_pretty(&report).unwrap_or_default())?,
        crate::cli::Format::Human => crate::output::human(&human(&report))?,
    }
    Ok(code)
}

fn human(r: &ChartCheck) -> String {
    use std::fmt::Write;
    let mut out = format!(
        "bbgate chart check: {} {} for building block {} (namespace {}): {}",
        r.chart.name,
        r.chart.version,
        r.building_block,
        r.namespace,
        if r.problems.is_empty() { "CLEAN" } else { "REFUSED" }
    );
    let _ = write!(out, "\nimages the release runs ({}):", r.images.len());
    for i in &r.images {
        let at = match (&i.sandbox, &i.upstream) {
            (Some(s), Some(u)) => format!("pulled through the cache as {s} (from {u})"),
            (Some(s), None) => format!("the building block's ECR image {s}"),
            _ => "not available in the sandbox".to_owned(),
        };
        let _ = write!(out, "\n  {}: {at}; run by {}", i.reference, i.used_by.join(", "));
    }
    for p in &r.problems {
        let at = p.location.as_deref().map(|l| format!("{l}: ")).unwrap_or_default();
        let _ = write!(out, "\n  - {at}{} [{}]", p.message, p.code);
    }
    for w in &r.warnings {
        let _ = write!(out, "\n  warning: {w}");
    }
    for n in &r.notes {
        let _ = write!(out, "\nnote: {n}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy::parse(
            std::path::Path::new("p.toml"),
            "[images]\npull_through = { \"docker.io\" = \"docker-hub\", \"quay.io\" = \"quay\" }\n\
             [[building_block]]\nname = \"payments\"\nnamespace = \"paymenthub\"\nrepositories = [\"bb/payments/*\"]\n",
            "p.toml".into(),
        )
        .unwrap()
    }

    #[test]
    fn chart_images_locate_as_the_runtime_pulls_them() {
        let p = policy();
        let l = |r: &str| locate(r, &p);
        let ecr = "123456789012.dkr.ecr.eu-central-1.amazonaws.com";
        assert_eq!(
            l(&format!("{ecr}/bb/payments/adapter:1.5")).unwrap().spec(),
            format!("{ecr}/bb/payments/adapter:1.5")
        );
        assert_eq!(l("bb/payments/adapter:1.5").unwrap().spec(), "bb/payments/adapter:1.5");
        // Values a chart left unset or unexpanded are named as such, never as a registry or repository.
        let nil = l("%!s(<nil>)/bb/payments/adapter:1.5").unwrap_err();
        assert!(
            nil.contains("\"%!\" is how the chart's template prints a value that is not set"),
            "{nil}"
        );
        let var = l("bb/payments/adapter:${CIRCLE_SHA1}").unwrap_err();
        assert!(
            var.contains("holds the placeholder ${CIRCLE_SHA1}, which nothing expands"),
            "{var}"
        );
        assert!(!var.contains("circle_sha1"), "not lower-cased: {var}");
        assert!(l("docker.io/<no value>/x:1").unwrap_err().contains("\"<no value>\""));
        let pg = l("postgres:16").unwrap();
        assert_eq!(pg.spec(), "docker-hub/library/postgres:16");
        assert_eq!(pg.upstream.as_deref(), Some("docker.io/library/postgres"));
        assert_eq!(
            l("docker.io/bitnami/redis").unwrap().spec(),
            "docker-hub/bitnami/redis:latest"
        );
        assert_eq!(
            l("quay.io/minio/minio:RELEASE.2024").unwrap().spec(),
            "quay/minio/minio:RELEASE.2024"
        );
        assert!(l("ghcr.io/x/y:1").unwrap_err().contains("neither the sandbox's ECR"));
        assert!(l("busybox@sha256:abc").unwrap_err().contains("sha256:<64 hex digits>"));
        assert!(l("").is_err());
    }

    #[test]
    fn the_install_render_must_be_the_judged_documents_each_difference_named() {
        use serde_json::json;
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}});
        let hook = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "t", "annotations": {"helm.sh/hook": "test"}}});
        let judged = [cm.clone(), hook.clone()];
        // helm 4 hands hooks too, each with its passing annotation: the same documents.
        let mut passing = cm.clone();
        passing["metadata"]["annotations"] = json!({POSTRENDER_ANNOTATION: "templates/00000.yaml"});
        assert!(render_differences(&[passing, hook.clone()], &judged, true).is_empty());
        // helm 3 hands no hooks: the judged hooks are not expected.
        assert!(render_differences(std::slice::from_ref(&cm), &judged, false).is_empty());
        // Another value (a second render), an object added, one missing: each named.
        let changed = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "2"}});
        let added =
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "open"}});
        assert_eq!(
            render_differences(&[changed, added], &judged, false),
            [
                "ConfigMap/c: helm's install render differs from the one judged",
                "NetworkPolicy/open: helm's install render was not in the render judged",
            ]
        );
        assert_eq!(
            render_differences(&[], &judged, true),
            [
                "ConfigMap/c: judged, but missing from helm's install render",
                "Pod/t: judged, but missing from helm's install render",
            ]
        );
    }

    #[test]
    fn the_post_renderer_pins_every_judged_image_and_nothing_else() {
        let p = policy();
        let d = |c: char| format!("sha256:{}", c.to_string().repeat(64));
        let reg = "123456789012.dkr.ecr.eu-central-1.amazonaws.com";
        let pins = vec![
            Pin {
                registry: reg.into(),
                repository: "bb/payments/adapter".into(),
                digest: d('a'),
                tag: None,
            },
            Pin {
                registry: reg.into(),
                repository: "docker-hub/library/postgres".into(),
                digest: d('b'),
                tag: None,
            },
        ];
        let rendered = format!(
            "spec:\n  containers:\n    - name: a\n      image: {reg}/bb/payments/adapter:1.5 # app\n    - image: \"postgres:16\"\n      name: db\n  initContainers:\n  - image: 'busybox:1'\ndata:\n  note: \"image: postgres:16\"\n"
        );
        let out = pin_rendered(&rendered, &pins, &p);
        assert_eq!(
            out,
            format!(
                "spec:\n  containers:\n    - name: a\n      image: {reg}/bb/payments/adapter@{} # app\n    - image: \"{reg}/docker-hub/library/postgres@{}\"\n      name: db\n  initContainers:\n  - image: 'busybox:1'\ndata:\n  note: \"image: postgres:16\"\n",
                d('a'),
                d('b')
            )
        );
        // A digest the evidence did not judge is left for the guard to refuse.
        assert!(pin_for(&format!("postgres@{}", d('c')), &pins, &p).is_none());
        // Two judged digests of one repository and a tag: ambiguous, not pinned.
        let two = [
            pins[0].clone(),
            Pin {
                digest: d('e'),
                ..pins[0].clone()
            },
        ];
        assert!(pin_for("bb/payments/adapter:1.5", &two, &p).is_none());
        // Judged under their tags, each tag pins to its own digest; a third tag, or none, still pins nothing.
        let tagged = [
            Pin {
                tag: Some("12".into()),
                ..pins[1].clone()
            },
            Pin {
                digest: d('e'),
                tag: Some("14".into()),
                ..pins[1].clone()
            },
        ];
        assert_eq!(pin_for("postgres:12", &tagged, &p).map(|p| &p.digest), Some(&d('b')));
        assert_eq!(
            pin_for("docker.io/library/postgres:14", &tagged, &p).map(|p| &p.digest),
            Some(&d('e'))
        );
        assert!(pin_for("postgres:15", &tagged, &p).is_none());
        assert!(pin_for("postgres", &tagged, &p).is_none());
        // Two digests judged under one tag stay ambiguous.
        let same_tag = [
            tagged[0].clone(),
            Pin {
                tag: Some("12".into()),
                ..tagged[1].clone()
            },
        ];
        assert!(pin_for("postgres:12", &same_tag, &p).is_none());
    }
}
