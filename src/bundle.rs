//! The release bundle: after a pass, the BB's pipeline publishes exactly what verify judged as one OCI artifact
//! beside its image (the chart with its dependencies as Helm's OCI chart layer, so `helm pull oci://…@sha256:…`
//! works; the values files, `--set` values, API test reports, scan pages and the evidence as files), and asks
//! the admins' project to install it by digest. The admins' `deploy --bundle` pulls it by digest with the deploy
//! role, checks every blob against the digests the manifest names, and installs it as the sealed deploy does:
//! no file of the BB's repository is read.

use crate::cli::{DeployArgs, PublishArgs, RequestDeployArgs};
use crate::error::{Error, Result, exit};
use crate::policy::sha256_hex;
use crate::push::Endpoint;
use oci_client::client::Client;
use oci_client::manifest::OciDescriptor;
use oci_client::secrets::RegistryAuth;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::io::Read as _;
use std::path::{Path, PathBuf};

/// The bundle manifest's `artifactType`.
pub const ARTIFACT_TYPE: &str = "application/vnd.govstack.bbgate.bundle.v1";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Helm's OCI chart media types: the config is Chart.yaml as JSON, the layer the packaged chart.
pub const HELM_CONFIG: &str = "application/vnd.cncf.helm.config.v1+json";
pub const HELM_CHART: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
/// Every other file of the bundle, named by its role and title annotations.
pub const BUNDLE_FILE: &str = "application/vnd.govstack.bbgate.file.v1";
/// The files' manifest's `artifactType`, and the empty config OCI 1.1 gives artifacts without one.
pub const FILES_TYPE: &str = "application/vnd.govstack.bbgate.files.v1";
const EMPTY_CONFIG: &str = "application/vnd.oci.empty.v1+json";
const TITLE: &str = "org.opencontainers.image.title";
const ROLE: &str = "io.govstack.bbgate.role";
const BUILDING_BLOCK: &str = "io.govstack.bbgate.building-block";
/// A chart archive's limits: entries, and bytes unpacked.
const CHART_ENTRIES: usize = 20_000;
const CHART_BYTES: u64 = 512 << 20;

/// The roles a bundle file may have, with the most bytes each may hold.
fn role_limit(role: &str) -> Option<crate::input::Kind> {
    Some(match role {
        "evidence" => crate::input::EVIDENCE,
        "values" => crate::input::VALUES,
        "sets" => crate::input::VALUES,
        "report" => crate::input::API_REPORT,
        "page" => crate::input::FINDINGS_PAGE,
        _ => return None,
    })
}

/// One `--set`-family value verify judged, kept in the bundle so the admins' deploy gives helm the same.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SetFlag {
    pub(crate) flag: String,
    pub(crate) value: String,
}

/// A bundle reference: `HOST/REPOSITORY@sha256:HEX`, by digest only.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BundleRef {
    pub(crate) host: String,
    pub(crate) repository: String,
    pub(crate) digest: String,
}

impl std::str::FromStr for BundleRef {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad = |why: &str| Error::invalid(format!("bundle {s:?}: {why}"));
        let r = crate::image::Reference::parse(s);
        let host = r
            .host
            .ok_or_else(|| bad("give HOST/REPOSITORY@sha256:DIGEST, with the registry host"))?;
        let digest = r.digest.ok_or_else(|| {
            bad("name the bundle by digest (HOST/REPOSITORY@sha256:DIGEST): a tag can be moved after the request")
        })?;
        let hex = digest.strip_prefix("sha256:").unwrap_or("");
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
            return Err(bad("the digest must be sha256: and 64 lowercase hex digits"));
        }
        if r.tag.is_some() {
            return Err(bad("a tag and a digest: give the digest alone"));
        }
        if !crate::findings::ecr::is_repository_name(&r.path) {
            return Err(bad(&format!("{:?} is not a repository name", r.path)));
        }
        Ok(BundleRef {
            host,
            repository: r.path,
            digest,
        })
    }
}

impl std::fmt::Display for BundleRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}@{}", self.host, self.repository, self.digest)
    }
}

/// A file of the bundle before it is pushed.
struct Part {
    media_type: &'static str,
    role: &'static str,
    title: String,
    bytes: Vec<u8>,
}

impl Part {
    fn descriptor(&self) -> Value {
        described(
            self.media_type,
            &self.bytes,
            json!({TITLE: self.title, ROLE: self.role}),
        )
    }
}

/// The chart directory as a Helm chart archive: every file under `NAME/`, in name order, with fixed modes and
/// times (the same chart gives the same bytes on every machine). Regular files only (the copy holds no other).
pub(crate) fn pack_chart<'a>(dir: &Path, name: &str, files: impl Iterator<Item = &'a String>) -> Result<Vec<u8>> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for rel in files {
        let bytes = crate::input::read(&dir.join(rel), crate::input::CHART_FILE)?;
        let mut head = tar::Header::new_ustar();
        head.set_size(bytes.len() as u64);
        head.set_mode(0o644);
        head.set_mtime(0);
        head.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut head, format!("{name}/{rel}"), bytes.as_slice())
            .map_err(|e| Error::invalid(format!("{}: cannot pack {rel}: {e}", dir.display())))?;
    }
    let gz = tar
        .into_inner()
        .map_err(|e| Error::invalid(format!("packing the chart: {e}")))?;
    gz.finish()
        .map_err(|e| Error::invalid(format!("packing the chart: {e}")))
}

/// Unpack a chart archive from a bundle into `into` (its top directory stripped): regular files only, every
/// path inside one top directory with no `..`, no absolute path, no duplicate, bounded in count and size. A
/// symlink, hard link or device in the archive is refused, as in a chart directory.
pub(crate) fn unpack_chart(archive: &[u8], into: &Path, what: &str) -> Result<()> {
    let bad = |why: String| Error::Denied(format!("{what}: the chart archive {why}"));
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive));
    let (mut top, mut seen, mut total) = (None::<String>, std::collections::BTreeSet::new(), 0u64);
    for entry in tar.entries().map_err(|e| bad(format!("is not a tar.gz: {e}")))? {
        let mut entry = entry.map_err(|e| bad(format!("is not a tar.gz: {e}")))?;
        let path = entry
            .path()
            .map_err(|e| bad(format!("has an unreadable name: {e}")))?
            .into_owned();
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            continue;
        }
        if !kind.is_file() {
            return Err(bad(format!(
                "holds {} as a {kind:?}: only regular files",
                path.display()
            )));
        }
        let mut parts = Vec::new();
        for c in path.components() {
            match c {
                std::path::Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
                _ => return Err(bad(format!("holds {}: a path outside the chart", path.display()))),
            }
        }
        let [first, rest @ ..] = parts.as_slice() else {
            continue;
        };
        if rest.is_empty() || top.get_or_insert_with(|| first.clone()) != first {
            return Err(bad(format!(
                "holds {}: every file must be under one directory",
                path.display()
            )));
        }
        let rel = rest.join("/");
        if !seen.insert(rel.clone()) || seen.len() > CHART_ENTRIES {
            return Err(bad(format!("holds {rel} twice, or more than {CHART_ENTRIES} files")));
        }
        let size = entry.header().size().unwrap_or(u64::MAX);
        total = total.saturating_add(size);
        if size > crate::input::CHART_FILE.limit || total > CHART_BYTES {
            return Err(bad(format!("holds more than a chart may ({rel}: {size} bytes)")));
        }
        let dest = into.join(&rel);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::write(parent, e))?;
        }
        let mut bytes = Vec::with_capacity(size as usize);
        std::io::Read::read_to_end(&mut (&mut entry).take(size), &mut bytes)
            .map_err(|e| bad(format!("cannot be read at {rel}: {e}")))?;
        std::fs::write(&dest, bytes).map_err(|e| Error::write(&dest, e))?;
    }
    if !into.join("Chart.yaml").is_file() {
        return Err(bad("has no Chart.yaml in its top directory".to_owned()));
    }
    Ok(())
}

/// The bundle as pushed: its blobs, the chart's manifest and the files' manifest (each pushed by digest), and the
/// index over both that the bundle's digest names.
struct Packed {
    blobs: Vec<Vec<u8>>,
    manifests: [Vec<u8>; 2],
    index: Vec<u8>,
}

/// A descriptor of `bytes` as `media_type`, with the annotations given.
fn described(media_type: &str, bytes: &[u8], annotations: Value) -> Value {
    json!({
        "mediaType": media_type,
        "digest": format!("sha256:{}", sha256_hex(bytes)),
        "size": bytes.len(),
        "annotations": annotations,
    })
}

/// helm pulls only manifests of its own media types (helm 3.18 refuses any other layer), so the bundle is an
/// OCI index of two manifests: the chart exactly as `helm push` lays it out (config Chart.yaml as JSON, one
/// chart layer: `helm pull oci://REPO@sha256:CHART` works), and the files (evidence, values, `--set` values,
/// reports, pages) with the empty config. The index carries the bundle's artifactType, the building block, and
/// the image as its OCI 1.1 subject; its digest binds every byte below it.
fn pack(config: Vec<u8>, parts: Vec<Part>, subject: Option<Value>, bb: &str) -> Packed {
    let (chart, files): (Vec<Part>, Vec<Part>) = parts.into_iter().partition(|p| p.role == "chart");
    let chart_manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": described(HELM_CONFIG, &config, json!({})),
        "layers": chart.iter().map(Part::descriptor).collect::<Vec<_>>(),
    });
    let empty = b"{}".to_vec();
    let files_manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": FILES_TYPE,
        "config": described(EMPTY_CONFIG, &empty, json!({})),
        "layers": files.iter().map(Part::descriptor).collect::<Vec<_>>(),
    });
    // JSON values of strings and numbers: serialising cannot fail.
    let manifests = [chart_manifest, files_manifest].map(|m| serde_json::to_vec(&m).unwrap_or_default());
    let mut index = json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "artifactType": ARTIFACT_TYPE,
        "manifests": [
            described(OCI_MANIFEST, &manifests[0], json!({ROLE: "chart"})),
            described(OCI_MANIFEST, &manifests[1], json!({ROLE: "files"})),
        ],
        "annotations": {BUILDING_BLOCK: bb},
    });
    if let Some(s) = subject {
        index["subject"] = s;
    }
    let mut blobs = vec![config, empty];
    blobs.extend(chart.into_iter().chain(files).map(|p| p.bytes));
    Packed {
        blobs,
        manifests,
        index: serde_json::to_vec(&index).unwrap_or_default(),
    }
}

/// What publish checked and will push: the parts, the chart's Chart.yaml as JSON, and the building block.
struct Judged {
    bb: String,
    config: Vec<u8>,
    parts: Vec<Part>,
    /// The images of the evidence, `REPOSITORY -> digest`, for the subject.
    images: Vec<(String, String)>,
}

/// The files given for one role, each held to the evidence's binding (values in order; reports and pages by
/// sha256): the parts to push, and the problems found.
fn bound_files(
    role: &'static str,
    given: &[PathBuf],
    kind: crate::input::Kind,
    bound: &[crate::report::FileDigest],
    flag: &str,
) -> Result<(Vec<Part>, Vec<String>)> {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for (i, f) in given.iter().enumerate() {
        let bytes = crate::input::read(&crate::deploy::room::in_working_dir(f)?, kind)?;
        let sum = sha256_hex(&bytes);
        let named = bound.iter().find(|b| b.sha256 == sum);
        if named.is_none() || (role == "values" && bound.get(i).is_none_or(|b| b.sha256 != sum)) {
            problems.push(format!("{flag} {}: not the file the evidence binds there", f.display()));
        }
        let title = named.map_or_else(|| f.display().to_string(), |b| b.path.clone());
        out.push(Part {
            media_type: BUNDLE_FILE,
            role,
            title,
            bytes,
        });
    }
    if role != "page" && given.len() != bound.len() {
        problems.push(format!(
            "{flag}: {} file(s) given, the evidence binds {} ({})",
            given.len(),
            bound.len(),
            bound.iter().map(|b| b.path.as_str()).collect::<Vec<_>>().join(", ")
        ));
    }
    Ok((out, problems))
}

/// The files given, a directory standing for every `*.json` under it (verify's `--save-findings` layout), in
/// name order.
fn json_files(given: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for g in given {
        if g.is_dir() {
            for e in crate::deploy::room::sorted_entries(g)? {
                // A real directory only: a symlinked one could loop.
                if std::fs::symlink_metadata(&e).is_ok_and(|m| m.is_dir()) {
                    out.extend(json_files(std::slice::from_ref(&e))?);
                } else if e.extension().is_some_and(|x| x == "json") {
                    out.push(e);
                }
            }
        } else {
            out.push(g.clone());
        }
    }
    Ok(out)
}

/// Read what publish is given and hold it to the evidence: the chart (its dependencies built as verify built
/// them), values files, `--set` values, reports and pages must be the ones the evidence binds, or nothing is
/// published (exit 1, naming the difference). Secrets and `--set-file` never go into a bundle.
fn judge_inputs(args: &PublishArgs, policy: &crate::policy::Policy, repository: &str) -> Result<Judged> {
    let ev_path = args.evidence.display().to_string();
    let ev_bytes = crate::input::read(&args.evidence, crate::input::EVIDENCE)?;
    let body = crate::report::evidence::open(&ev_path, &ev_bytes)?;
    let claim = crate::report::evidence::read(&ev_path, &body)?;
    let admitted = crate::deploy::evidence::check(&ev_path, &claim, policy, jiff::Timestamp::now(), None)
        .map_err(|p| Error::Denied(p.join("\n")))?;
    let bb = policy.select_building_block(Some(&admitted.building_block), repository)?;
    if let Some(refusal) = bb.refuse_foreign(repository) {
        return Err(Error::Denied(refusal));
    }
    let chart = admitted.chart.as_ref().ok_or_else(|| {
        Error::invalid(format!(
            "{ev_path}: the evidence binds no chart (verify ran without --chart): a bundle holds the chart verify \
             judged; verify with --chart, then publish"
        ))
    })?;
    if !args.values.set_file.is_empty() || !args.values.set_secret.is_empty() {
        return Err(Error::invalid(
            "--set-file and --set-secret values are not carried in a bundle: put the value in a values file (or, \
             for a secret, give it to the admins' deploy from their context)",
        ));
    }
    let mut room = crate::deploy::room::Room::new()?;
    room.pass(crate::deploy::room::PROXIES);
    let copy = room.copy_chart(&args.chart)?;
    let helm = crate::deploy::helm::Helm::detect(&crate::deploy::helm::on_path(&args.helm), room.env(None))?;
    crate::dependencies::build(&helm, &copy, &args.chart)?;
    // The chart's files, listed once: compared with the evidence's, then packed.
    let content = crate::release::chart_content(&copy)?;
    let mut problems: Vec<String> = crate::release::chart_changes(&chart.files, &content.files)
        .into_iter()
        .map(|c| format!("--chart {}: {c} since verify judged it", args.chart.display()))
        .collect();
    let mut parts = vec![Part {
        media_type: HELM_CHART,
        role: "chart",
        title: format!("{}-{}.tgz", chart.name, chart.version),
        bytes: pack_chart(&copy, &chart.name, content.files.keys())?,
    }];
    parts.push(Part {
        media_type: BUNDLE_FILE,
        role: "evidence",
        title: "evidence.json".into(),
        bytes: ev_bytes,
    });
    let pages = admitted.findings_pages();
    let given_pages = json_files(&args.findings)?;
    for (role, given, kind, bound, flag) in [
        (
            "values",
            &args.values.values,
            crate::input::VALUES,
            &chart.values,
            "--values",
        ),
        (
            "report",
            &args.api_reports,
            crate::input::API_REPORT,
            &admitted.api_reports,
            "--api-report",
        ),
        ("page", &given_pages, crate::input::FINDINGS_PAGE, &pages, "--findings"),
    ] {
        let (more, why) = bound_files(role, given, kind, bound, flag)?;
        parts.extend(more);
        problems.extend(why);
    }
    let values = crate::values::Values::read(&args.values, &[])?;
    if values.bound != chart.sets {
        problems.push("--set values: not the ones the evidence binds (give verify's --set flags, the same)".into());
    }
    let sets: Vec<SetFlag> = values
        .flags
        .iter()
        .map(|(flag, kv)| SetFlag {
            flag: (*flag).to_owned(),
            value: kv.clone(),
        })
        .collect();
    if !sets.is_empty() {
        parts.push(Part {
            media_type: BUNDLE_FILE,
            role: "sets",
            title: "sets.json".into(),
            bytes: serde_json::to_vec_pretty(&sets).unwrap_or_default(),
        });
    }
    if !problems.is_empty() {
        return Err(Error::Denied(format!(
            "the bundle would not hold what {ev_path} judged, so nothing was published:\n{}",
            problems.join("\n")
        )));
    }
    let chart_yaml = crate::input::read_text(&copy.join("Chart.yaml"), crate::input::CHART_FILE)?;
    let meta: Value = yaml_serde::from_str(&chart_yaml)
        .map_err(|e| Error::invalid(format!("{}/Chart.yaml: not YAML: {e}", args.chart.display())))?;
    Ok(Judged {
        bb: bb.name.clone(),
        config: serde_json::to_vec(&meta).unwrap_or_default(),
        parts,
        images: admitted
            .images
            .iter()
            .map(|i| (i.image.repository.clone(), i.image.digest.clone()))
            .collect(),
    })
}

/// The subject: the evidence's image in the bundle's repository, as the registry holds it (media type and size
/// from its manifest), when it holds it.
async fn subject(
    client: &Client,
    endpoint: &Endpoint,
    repository: &str,
    j: &Judged,
    auth: &RegistryAuth,
) -> Option<Value> {
    let (_, digest) = j.images.iter().find(|(r, _)| r == repository)?;
    let by_digest = oci_client::Reference::with_digest(endpoint.address.clone(), repository.to_owned(), digest.clone());
    let accept = [
        OCI_MANIFEST,
        OCI_INDEX,
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ];
    let (bytes, _) = client.pull_manifest_raw(&by_digest, auth, &accept).await.ok()?;
    if format!("sha256:{}", sha256_hex(&bytes)) != *digest {
        return None;
    }
    // OCI leaves `mediaType` optional (umoci writes none); an OCI document without it is an index when it
    // lists manifests, else a manifest. Docker's schema 2 always names its type.
    let m = serde_json::from_slice::<Value>(&bytes).ok()?;
    let media_type = match m["mediaType"].as_str() {
        Some(t) => t.to_owned(),
        None if m["manifests"].is_array() => OCI_INDEX.to_owned(),
        None => OCI_MANIFEST.to_owned(),
    };
    Some(json!({"mediaType": media_type, "digest": digest, "size": bytes.len()}))
}

/// Without the referrers API (distribution 2.8, older registries), the OCI 1.1 tag schema: the tag
/// `sha256-HEX` of the subject holds an image index of its referrers; the bundle is added to it.
async fn tag_schema_referrer(
    client: &Client,
    endpoint: &Endpoint,
    repository: &str,
    subject: &str,
    entry: Value,
    auth: &RegistryAuth,
) -> std::result::Result<(), oci_client::errors::OciDistributionError> {
    let by_subject =
        oci_client::Reference::with_digest(endpoint.address.clone(), repository.to_owned(), subject.to_owned());
    // A registry with the referrers API lists the bundle as soon as the manifest is in (oci-client falls back
    // to the tag schema itself where the API answers 404, so a listing that names the bundle is either way
    // enough); otherwise the bundle is added to the subject's `sha256-HEX` index.
    if client
        .pull_referrers(&by_subject, Some(ARTIFACT_TYPE))
        .await
        .is_ok_and(|i| {
            i.manifests
                .iter()
                .any(|m| m.digest == entry["digest"].as_str().unwrap_or_default())
        })
    {
        return Ok(());
    }
    let tag = subject.replace(':', "-");
    let by_tag = oci_client::Reference::with_tag(endpoint.address.clone(), repository.to_owned(), tag);
    // The referrers already listed there are kept; a tag not there yet starts an empty index, and a read that
    // fails otherwise fails the publish rather than overwrite what the tag holds.
    let fresh = || json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []});
    let mut index = match client.pull_manifest_raw(&by_tag, auth, &[OCI_INDEX]).await {
        Ok((bytes, _)) => serde_json::from_slice::<Value>(&bytes)
            .ok()
            .filter(|i| i["mediaType"] == OCI_INDEX && i["manifests"].is_array())
            .unwrap_or_else(fresh),
        Err(e) if not_found(&e) => fresh(),
        Err(e) => return Err(e),
    };
    if let Some(list) = index["manifests"].as_array_mut()
        && !list.iter().any(|m| m["digest"] == entry["digest"])
    {
        list.push(entry);
    }
    let body = serde_json::to_vec(&index).unwrap_or_default();
    client
        .push_manifest_raw(&by_tag, body, http::HeaderValue::from_static(OCI_INDEX))
        .await
        .map(|_| ())
}

/// Push the bundle: blobs, then the manifest by tag, read back by digest; then its referrer entry.
async fn push(
    j: Judged,
    target: &crate::push::Target,
    endpoint: &Endpoint,
    auth: &RegistryAuth,
    label: &str,
) -> Result<Pushed> {
    let client = endpoint.client();
    let by_tag =
        oci_client::Reference::with_tag(endpoint.address.clone(), target.repository.clone(), target.tag.clone());
    let fail = |what: String, e| crate::push::registry_error(endpoint, &what, label, e);
    client
        .auth(&by_tag, auth, oci_client::RegistryOperation::Push)
        .await
        .map_err(|e| fail(format!("logging in for {}", target.repository), e))?;
    let subject = subject(&client, endpoint, &target.repository, &j, auth).await;
    let packed = pack(j.config, j.parts, subject.clone(), &j.bb);
    let files = packed.blobs.len() - 2;
    for blob in packed.blobs {
        let digest = format!("sha256:{}", sha256_hex(&blob));
        client
            .push_blob(&by_tag, blob, &digest)
            .await
            .map_err(|e| fail(format!("uploading {digest}"), e))?;
    }
    let chart = format!("sha256:{}", sha256_hex(&packed.manifests[0]));
    for m in packed.manifests {
        let d = format!("sha256:{}", sha256_hex(&m));
        let by_digest =
            oci_client::Reference::with_digest(endpoint.address.clone(), target.repository.clone(), d.clone());
        client
            .push_manifest_raw(&by_digest, m, http::HeaderValue::from_static(OCI_MANIFEST))
            .await
            .map_err(|e| fail(format!("pushing manifest {d}"), e))?;
    }
    let digest = format!("sha256:{}", sha256_hex(&packed.index));
    let size = packed.index.len();
    client
        .push_manifest_raw(&by_tag, packed.index, http::HeaderValue::from_static(OCI_INDEX))
        .await
        .map_err(|e| fail(format!("pushing the bundle as {}", target.tag), e))?;
    let read_back = client
        .fetch_manifest_digest(&by_tag, auth)
        .await
        .map_err(|e| fail(format!("reading back {}", target.tag), e))?;
    if read_back != digest {
        return Err(Error::Undecidable(format!(
            "registry {} holds {read_back} under {}, not the pushed bundle {digest}: re-run publish",
            endpoint.address, target.tag
        )));
    }
    let subject = subject.and_then(|s| s["digest"].as_str().map(str::to_owned));
    if let Some(s) = &subject {
        let entry = json!({"mediaType": OCI_INDEX, "digest": digest, "size": size, "artifactType": ARTIFACT_TYPE});
        tag_schema_referrer(&client, endpoint, &target.repository, s, entry, auth)
            .await
            .map_err(|e| fail(format!("adding the bundle to {s}'s referrers"), e))?;
    }
    Ok(Pushed {
        digest,
        chart,
        subject,
        files,
    })
}

/// What publish pushed: the bundle's digest, its chart manifest's (for `helm pull`), the subject, the files.
struct Pushed {
    digest: String,
    chart: String,
    subject: Option<String>,
    files: usize,
}

/// `bbgate publish`.
pub fn run_publish(args: &PublishArgs) -> Result<u8> {
    let target: crate::push::Target = args.to.parse()?;
    let policy = crate::policy::Policy::load(args.policy.as_deref(), crate::cli::policy_pin().as_deref())?;
    let judged = judge_inputs(args, &policy, &target.repository)?;
    let bb = judged.bb.clone();
    let reg = &args.registry;
    let endpoint = Endpoint::resolve(&target.host, reg.registry_url.as_deref(), reg.plain_http)?;
    let rt = crate::aws::runtime()?;
    let pushed = rt.block_on(async {
        let (auth, label) = crate::push::registry_auth(&target.host, reg.auth, &reg.aws).await?;
        push(judged, &target, &endpoint, &auth, &label).await
    })?;
    let reference = format!("{}/{}@{}", target.host, target.repository, pushed.digest);
    let chart = format!("{}/{}@{}", target.host, target.repository, pushed.chart);
    let doc = json!({
        "building_block": bb,
        "bundle": reference,
        "chart": chart,
        "files": pushed.files,
        "subject": pushed.subject,
        "tag": target.to_string(),
    });
    if let Some(out) = &args.out {
        let text = format!("{}\n", serde_json::to_string_pretty(&doc).unwrap_or_default());
        crate::verify::write_output("bundle reference", out, text.as_bytes())?;
    }
    let line = match args.format {
        crate::cli::Format::Json => serde_json::to_string_pretty(&doc).unwrap_or_default(),
        crate::cli::Format::Human => format!(
            "published {reference} for building block {bb}: the chart (helm pull oci://{chart}) and {} files \
             (evidence, values, reports, pages){}",
            pushed.files,
            pushed.subject.map_or_else(
                || "; the registry does not hold the image, so the bundle names no subject".to_owned(),
                |s| format!("; refers to image {s}")
            )
        ),
    };
    crate::output::human(&line)?;
    Ok(exit::PASS)
}

/// A bundle pulled for the admins' deploy: its files in a private directory (removed when `dir` is dropped).
struct Fetched {
    dir: tempfile::TempDir,
    evidence: PathBuf,
    chart: PathBuf,
    values: Vec<PathBuf>,
    reports: Vec<PathBuf>,
    pages: Vec<PathBuf>,
    sets: Vec<SetFlag>,
}

/// One blob, by the digest the manifest names: refused (exit 1) when the bytes are not those, bounded by the
/// size the manifest declares and the role's limit.
async fn blob(
    client: &Client,
    by_digest: &oci_client::Reference,
    d: &OciDescriptor,
    limit: u64,
    what: &str,
) -> Result<Vec<u8>> {
    use futures_util::StreamExt;
    let size = u64::try_from(d.size).unwrap_or(u64::MAX);
    if size > limit {
        return Err(Error::Denied(format!(
            "{what}: {} declares {size} bytes, more than the {limit} a bundle file may hold",
            d.digest
        )));
    }
    let mut stream = client
        .pull_blob_stream(by_digest, d)
        .await
        .map_err(|e| Error::Undecidable(format!("{what}: cannot pull {}: {}", d.digest, crate::error::chain(&e))))?;
    let mut bytes = Vec::with_capacity(size as usize);
    while let Some(chunk) = stream.stream.next().await {
        let chunk = chunk.map_err(|e| {
            if e.to_string().to_ascii_lowercase().contains("digest") {
                Error::Denied(format!(
                    "{what}: blob {} is not the bytes its digest names: the bundle was altered in the registry",
                    d.digest
                ))
            } else {
                Error::Undecidable(format!("{what}: pulling {} failed: {e}", d.digest))
            }
        })?;
        bytes.extend_from_slice(&chunk);
        if bytes.len() as u64 > size {
            return Err(Error::Denied(format!(
                "{what}: blob {} is longer than its declared {size} bytes",
                d.digest
            )));
        }
    }
    if format!("sha256:{}", sha256_hex(&bytes)) != d.digest {
        return Err(Error::Denied(format!(
            "{what}: blob {} is not the bytes its digest names: the bundle was altered in the registry",
            d.digest
        )));
    }
    Ok(bytes)
}

/// A client logged in to pull the bundle (the credentials `mode` picks for its host), its credentials, and the
/// bundle's reference by digest.
async fn login(
    endpoint: &Endpoint,
    r: &BundleRef,
    mode: crate::cli::RegistryAuthMode,
    identity: &crate::cli::AwsIdentity,
) -> Result<(Client, RegistryAuth, oci_client::Reference)> {
    let (auth, label) = crate::push::registry_auth(&r.host, mode, identity).await?;
    let client = endpoint.client();
    let by_digest =
        oci_client::Reference::with_digest(endpoint.address.clone(), r.repository.clone(), r.digest.clone());
    client
        .auth(&by_digest, &auth, oci_client::RegistryOperation::Pull)
        .await
        .map_err(|e| crate::push::registry_error(endpoint, &format!("logging in to pull the bundle {r}"), &label, e))?;
    Ok((client, auth, by_digest))
}

/// The registry's "no such manifest", told apart from its failures.
fn not_found(e: &oci_client::errors::OciDistributionError) -> bool {
    use oci_client::errors::{OciDistributionError as E, OciErrorCode};
    match e {
        E::ImageManifestNotFoundError(_) => true,
        E::RegistryError { envelope, .. } => envelope
            .errors
            .iter()
            .any(|e| matches!(e.code, OciErrorCode::ManifestUnknown)),
        _ => false,
    }
}

/// One manifest or index by digest, refused unless its bytes hash to that digest.
async fn by_digest(client: &Client, r: &BundleRef, digest: &str, accept: &str, auth: &RegistryAuth) -> Result<Value> {
    let at = oci_client::Reference::with_digest(r.host.clone(), r.repository.clone(), digest.to_owned());
    let (bytes, _) = client.pull_manifest_raw(&at, auth, &[accept]).await.map_err(|e| {
        if not_found(&e) {
            Error::invalid(format!(
                "bundle {r}: the registry holds no manifest {digest}: it was never published (or was deleted); \
                 publish it and request the deploy of the digest publish printed"
            ))
        } else {
            Error::Undecidable(format!("bundle {r}: cannot pull {digest}: {}", crate::error::chain(&e)))
        }
    })?;
    if bytes.len() as u64 > 4 << 20 || format!("sha256:{}", sha256_hex(&bytes)) != digest {
        return Err(Error::Denied(format!(
            "bundle {r}: the registry returned other bytes for {digest} than its digest names: the bundle was \
             altered in the registry"
        )));
    }
    serde_json::from_slice(&bytes).map_err(|e| Error::Denied(format!("bundle {r}: {digest} is not JSON: {e}")))
}

/// The bundle by digest, checked: its index (a bbgate bundle), the chart's manifest (helm's config and one chart
/// layer) and the files' manifest, each by the digest the one above names. Returns the index's annotations and
/// every layer, the chart's first.
async fn manifest(client: &Client, r: &BundleRef, auth: &RegistryAuth) -> Result<Value> {
    let index = by_digest(client, r, &r.digest, OCI_INDEX, auth).await?;
    let entries = index["manifests"].as_array().cloned().unwrap_or_default();
    let role = |e: &Value| e["annotations"][ROLE].as_str().unwrap_or_default().to_owned();
    let roles: Vec<String> = entries.iter().map(role).collect();
    if index["artifactType"] != ARTIFACT_TYPE || roles != ["chart", "files"] {
        return Err(Error::Denied(format!(
            "bundle {r}: not a bbgate release bundle (artifactType {}, manifests {roles:?}): publish it with \
             `bbgate publish`",
            index["artifactType"]
        )));
    }
    let mut layers = Vec::new();
    for e in &entries {
        let digest = e["digest"].as_str().unwrap_or_default();
        let m = by_digest(client, r, digest, OCI_MANIFEST, auth).await?;
        let (config, count) = if role(e) == "chart" {
            (HELM_CONFIG, Some(1))
        } else {
            (EMPTY_CONFIG, None)
        };
        let these = m["layers"].as_array().cloned().unwrap_or_default();
        if m["config"]["mediaType"] != config || count.is_some_and(|n| these.len() != n) {
            return Err(Error::Denied(format!(
                "bundle {r}: manifest {digest} ({}) is not laid out as publish writes it",
                role(e)
            )));
        }
        layers.extend(these);
    }
    Ok(json!({"annotations": index["annotations"], "layers": layers}))
}

/// The layer's descriptor and its role, or a refusal naming the layer.
fn layer(r: &BundleRef, i: usize, l: &Value) -> Result<(OciDescriptor, String, String)> {
    let d: OciDescriptor = serde_json::from_value(l.clone())
        .map_err(|e| Error::Denied(format!("bundle {r}: layers[{i}] is not a descriptor: {e}")))?;
    let role = l["annotations"][ROLE].as_str().unwrap_or_default().to_owned();
    let title = l["annotations"][TITLE].as_str().unwrap_or_default().to_owned();
    let known = match d.media_type.as_str() {
        HELM_CHART => role == "chart",
        BUNDLE_FILE => role_limit(&role).is_some(),
        _ => false,
    };
    if !known {
        return Err(Error::Denied(format!(
            "bundle {r}: layers[{i}] ({}, role {role:?}) is not a part of a bbgate bundle",
            d.media_type
        )));
    }
    Ok((d, role, title))
}

/// A file name for a bundle file: its title's last part, numbered so two never collide.
fn local_name(n: usize, title: &str) -> String {
    let base: String = title
        .rsplit('/')
        .next()
        .unwrap_or("file")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{n:02}-{}", base.trim_start_matches('.'))
}

/// A deploy request as a file (for a pull request to the admins' deployment repository): a building block and
/// a bundle, nothing else. Any other field (values, a namespace, a policy) is refused, never ignored.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Request {
    pub(crate) building_block: String,
    pub(crate) bundle: String,
}

/// The bundle the admins' deploy installs: `--bundle`, or the one a request file names.
fn requested(args: &DeployArgs) -> Result<Option<BundleRef>> {
    if let Some(b) = &args.bundle {
        return b.parse().map(Some);
    }
    let Some(path) = &args.request else { return Ok(None) };
    let text = crate::input::read_text(path, crate::input::POLICY)?;
    let req: Request = serde_json::from_str(&text).map_err(|e| {
        Error::invalid(format!(
            "{}: not a deploy request ({e}): a request holds building_block and bundle only; values, namespaces \
             and policies are the admins'",
            path.display()
        ))
    })?;
    if args.building_block.as_deref() != Some(req.building_block.as_str()) {
        return Err(Error::Denied(format!(
            "{}: the request is for building block {}, but the admins' deploy is for {} (--building-block, \
             BBGATE_BUILDING_BLOCK)",
            path.display(),
            req.building_block,
            args.building_block.as_deref().unwrap_or("(none)")
        )));
    }
    req.bundle.parse().map(Some)
}

/// Pull the bundle `--bundle` (or `--request`) names, by digest, into a private directory, and give back the
/// deploy's arguments with its files in place of the BB's checkout. The building block is the admins'
/// (`--building-block`): a bundle in a repository it does not own is refused before anything is pulled.
pub(crate) fn fetch(
    args: &DeployArgs,
    policy: &crate::policy::Policy,
    rt: &tokio::runtime::Runtime,
) -> Result<Option<(DeployArgs, tempfile::TempDir)>> {
    let Some(r) = requested(args)? else {
        if !args.admin_values.is_empty() {
            return Err(Error::invalid(
                "--admin-values is for the admins' deploy of a bundle (--bundle or --request); with --evidence, \
                 give the values verify judged with --values",
            ));
        }
        return Ok(None);
    };
    admin_values_settable(&args.admin_values, policy)?;
    let want = args.building_block.as_deref().ok_or_else(|| {
        Error::invalid(
            "deploy --bundle needs the building block from the admins: --building-block or BBGATE_BUILDING_BLOCK",
        )
    })?;
    let bb = policy.require_building_block("--building-block", want)?;
    if let Some(refusal) = bb.refuse_foreign(&r.repository) {
        return Err(Error::Denied(format!(
            "bundle {r}: {refusal}: a bundle of another building block is refused"
        )));
    }
    // The bundle is pulled with the deploy role's credentials, from the sandbox's ECR or a registry the admins
    // list; a host the request names is never trusted by itself (plain HTTP reaches only 127.0.0.1, for tests).
    let listed = policy.deploy.registries.contains(&r.host);
    if crate::aws::parse_ecr_host(&r.host).is_none() && !listed && !args.plain_http {
        return Err(Error::Denied(format!(
            "bundle {r}: registry {} is neither an ECR registry nor one of the policy's [deploy] registries: the \
             admins' deploy pulls bundles only from the sandbox's registries",
            r.host
        )));
    }
    let endpoint = Endpoint::resolve(&r.host, None, args.plain_http)?;
    let dir = tempfile::Builder::new()
        .prefix("bbgate-bundle-")
        .tempdir()
        .map_err(|e| Error::write(&std::env::temp_dir(), e))?;
    let fetched = rt.block_on(async {
        let (client, auth, by_digest) = login(&endpoint, &r, crate::cli::RegistryAuthMode::Auto, &args.aws).await?;
        let m = manifest(&client, &r, &auth).await?;
        unpack(&client, &by_digest, &r, &m, dir).await
    })?;
    let mut deploy = args.clone();
    deploy.evidence = Some(fetched.evidence);
    deploy.chart = Some(fetched.chart);
    deploy.values.values = fetched.values;
    // The admins' own values files last, so they win over the bundle's for the settable keys they set.
    deploy.values.values.extend(args.admin_values.iter().cloned());
    deploy.api_reports = fetched.reports;
    deploy.findings = fetched.pages;
    // The values verify judged first, then the admins' own `--set` (the policy's settable keys only).
    let (mut set, mut set_string, mut set_json) = (Vec::new(), Vec::new(), Vec::new());
    for s in &fetched.sets {
        match s.flag.as_str() {
            "--set" => set.push(s.value.clone()),
            "--set-string" => set_string.push(s.value.clone()),
            "--set-json" => set_json.push(s.value.clone()),
            other => {
                return Err(Error::Denied(format!(
                    "bundle {r}: sets.json holds {other}, not a --set flag"
                )));
            }
        }
    }
    set.extend(args.values.set.iter().cloned());
    set_string.extend(args.values.set_string.iter().cloned());
    set_json.extend(args.values.set_json.iter().cloned());
    (deploy.values.set, deploy.values.set_string, deploy.values.set_json) = (set, set_string, set_json);
    deploy.from_bundle = Some(r.to_string());
    Ok(Some((deploy, fetched.dir)))
}

/// Every key an admins' values file sets (its leaves' dotted paths, as `--set` names them) must be one of the
/// policy's `[deploy] settable` keys: their files may tune the release, never reopen what verify judged.
fn admin_values_settable(files: &[PathBuf], policy: &crate::policy::Policy) -> Result<()> {
    fn leaves(prefix: &str, v: &Value, out: &mut Vec<String>) {
        match v.as_object() {
            Some(map) if !map.is_empty() => {
                for (k, v) in map {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    leaves(&key, v, out);
                }
            }
            _ => out.push(prefix.to_owned()),
        }
    }
    let mut problems = Vec::new();
    for f in files {
        let text = crate::input::read_text(&crate::deploy::room::in_working_dir(f)?, crate::input::VALUES)?;
        let docs = crate::deploy::yaml11::parse_stream(&text)
            .map_err(|e| Error::invalid(format!("--admin-values {}: {e}", f.display())))?;
        let mut keys = Vec::new();
        for d in &docs {
            if !d.value.is_null() {
                leaves("", &d.value, &mut keys);
            }
        }
        for k in keys {
            if !policy.deploy.settable.contains(&k) {
                problems.push(format!(
                    "--admin-values {}: sets {k}, which is not one of the policy's [deploy] settable keys",
                    f.display()
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Denied(problems.join("\n")))
    }
}

/// Every layer pulled, checked and written: the chart unpacked, the files by role.
async fn unpack(
    client: &Client,
    by_digest: &oci_client::Reference,
    r: &BundleRef,
    m: &Value,
    dir: tempfile::TempDir,
) -> Result<Fetched> {
    let layers = m["layers"].as_array().cloned().unwrap_or_default();
    let (mut evidence, mut chart) = (None, None);
    let (mut values, mut reports, mut pages, mut sets) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (i, l) in layers.iter().enumerate() {
        let (d, role, title) = layer(r, i, l)?;
        let what = format!("bundle {r}: layers[{i}] ({role} {title})");
        if role == "chart" {
            let bytes = blob(client, by_digest, &d, CHART_BYTES, &what).await?;
            let into = dir.path().join("chart");
            if chart.replace(into.clone()).is_some() {
                return Err(Error::Denied(format!("bundle {r}: two charts")));
            }
            unpack_chart(&bytes, &into, &what)?;
            continue;
        }
        let limit = role_limit(&role).map_or(0, |k| k.limit);
        let bytes = blob(client, by_digest, &d, limit, &what).await?;
        let sub = dir.path().join(&role);
        std::fs::create_dir_all(&sub).map_err(|e| Error::write(&sub, e))?;
        let path = sub.join(local_name(i, &title));
        std::fs::write(&path, &bytes).map_err(|e| Error::write(&path, e))?;
        match role.as_str() {
            "evidence" if evidence.is_some() => {
                return Err(Error::Denied(format!("bundle {r}: two evidence files")));
            }
            "evidence" => evidence = Some(path),
            "values" => values.push(path),
            "report" => reports.push(path),
            "page" => pages.push(path),
            "sets" => {
                let list: Vec<SetFlag> = serde_json::from_slice(&bytes)
                    .map_err(|e| Error::Denied(format!("{what}: not a list of --set flags: {e}")))?;
                sets.extend(list);
            }
            _ => {}
        }
    }
    Ok(Fetched {
        evidence: evidence.ok_or_else(|| Error::Denied(format!("bundle {r}: holds no evidence")))?,
        chart: chart.ok_or_else(|| Error::Denied(format!("bundle {r}: holds no chart")))?,
        dir,
        values,
        reports,
        pages,
        sets,
    })
}

/// The project slug: `vcs/org/repo` (gh, bb, circleci), path-safe.
fn project_slug(s: &str) -> Result<&str> {
    let parts: Vec<&str> = s.split('/').collect();
    let ok = parts.len() == 3
        && parts.iter().all(|p| {
            !p.is_empty() && *p != ".." && p.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        });
    if ok {
        Ok(s)
    } else {
        Err(Error::invalid(format!(
            "--circleci-project {s:?}: give the admins' project slug, e.g. gh/GovStackWorkingGroup/sandbox-deploy"
        )))
    }
}

/// Trigger a pipeline of the admins' project with the two pipeline parameters, and nothing else.
async fn trigger(api: &str, slug: &str, branch: &str, req: &Request) -> Result<Value> {
    let token = std::env::var("CIRCLE_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            Error::invalid("CIRCLE_TOKEN is not set: a token that may trigger the admins' deploy project is needed")
        })?;
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| Error::Undecidable(format!("HTTP client: {e}")))?;
    let url = format!("{api}/project/{slug}/pipeline");
    let body = json!({"branch": branch, "parameters": {"building_block": req.building_block, "bundle": req.bundle}});
    let resp = client
        .post(&url)
        .header("Circle-Token", token)
        .header("Accept", "application/json")
        .json(&body)
        .send()
        .await
        .map_err(|e| Error::Undecidable(format!("cannot reach the CircleCI API: {}", e.without_url())))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(Error::Undecidable(format!(
            "the CircleCI API answered {status} to the pipeline trigger of {slug}: CIRCLE_TOKEN must be a token that \
             may trigger that project, whose config declares the pipeline parameters building_block and bundle"
        )));
    }
    resp.json().await.map_err(|e| {
        Error::Undecidable(format!(
            "the CircleCI API answered with something that is not JSON: {e}"
        ))
    })
}

/// `bbgate request-deploy`: check that the bundle is published and is this building block's, then ask.
pub fn run_request(args: &RequestDeployArgs) -> Result<u8> {
    let given = match (&args.bundle, &args.published) {
        (Some(b), _) => b.clone(),
        (None, Some(path)) => {
            let text = crate::input::read_text(path, crate::input::POLICY)?;
            let v: Value = serde_json::from_str(&text)
                .map_err(|e| Error::invalid(format!("{}: not publish's JSON: {e}", path.display())))?;
            v["bundle"].as_str().map(str::to_owned).ok_or_else(|| {
                Error::invalid(format!(
                    "{}: names no bundle (write it with `bbgate publish --out`)",
                    path.display()
                ))
            })?
        }
        (None, None) => return Err(Error::invalid("give --bundle or --published")),
    };
    let r: BundleRef = given.parse()?;
    let policy = crate::policy::Policy::load(args.policy.as_deref(), crate::cli::policy_pin().as_deref())?;
    let bb = policy.select_building_block(Some(&args.building_block), &r.repository)?;
    if let Some(refusal) = bb.refuse_foreign(&r.repository) {
        return Err(Error::Denied(format!("bundle {r}: {refusal}")));
    }
    let slug = args.circleci_project.as_deref().map(project_slug).transpose()?;
    let endpoint = Endpoint::resolve(&r.host, None, args.plain_http)?;
    let rt = crate::aws::runtime()?;
    let req = Request {
        building_block: bb.name.clone(),
        bundle: r.to_string(),
    };
    let pipeline = rt.block_on(async {
        let (client, auth, _) = login(&endpoint, &r, args.auth, &args.aws).await?;
        let m = manifest(&client, &r, &auth).await.map_err(|e| match e {
            Error::Invalid(p) => Error::Denied(p.join("\n")),
            e => e,
        })?;
        if m["annotations"][BUILDING_BLOCK] != bb.name.as_str() {
            return Err(Error::Denied(format!(
                "bundle {r}: published for building block {}, not {}",
                m["annotations"][BUILDING_BLOCK], bb.name
            )));
        }
        match slug {
            Some(slug) => trigger(&args.circleci_api_url, slug, &args.branch, &req)
                .await
                .map(Some),
            None => Ok(None),
        }
    })?;
    if let Some(out) = &args.out {
        let text = format!("{}\n", serde_json::to_string_pretty(&req).unwrap_or_default());
        crate::verify::write_output("deploy request", out, text.as_bytes())?;
    }
    let number = pipeline.as_ref().and_then(|p| p["number"].as_u64());
    let line = match args.format {
        crate::cli::Format::Json => serde_json::to_string_pretty(&json!({
            "building_block": req.building_block,
            "bundle": req.bundle,
            "pipeline": pipeline.as_ref().map(|p| json!({"id": p["id"], "number": p["number"]})),
            "request_file": args.out.as_ref().map(|p| p.display().to_string()),
        }))
        .unwrap_or_default(),
        crate::cli::Format::Human => match (slug, number) {
            (Some(slug), n) => format!(
                "requested the deploy of {} ({}) from {slug}: pipeline {}",
                req.bundle,
                req.building_block,
                n.map_or_else(|| "triggered".to_owned(), |n| format!("#{n}"))
            ),
            _ => format!("wrote the deploy request for {} ({})", req.bundle, req.building_block),
        },
    };
    crate::output::human(&line)?;
    Ok(exit::PASS)
}
