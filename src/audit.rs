//! `bbgate audit`: what runs, judged again. For every building block's namespace, every running container's
//! image by digest (the pod spec's, else the container status `imageID`), the current ECR scan of each distinct
//! digest (read once, every page, as verify reads it), decided by the same pure core under the current policy
//! and sign-offs. API tests are not judged again (they were judged at deploy, and nothing running changes them).

use crate::aws::{self, ecr as aws_ecr};
use crate::cli::{AuditArgs, Format};
use crate::deploy::preflight::cluster_error;
use crate::diag::Diagnostic;
use crate::error::{Error, Result, exit};
use crate::findings::Scan;
use crate::gate::{self, Outcome, Verdict};
use crate::policy::{BuildingBlock, Policy, signoff::SignOff};
use futures_util::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// One container as it runs.
#[derive(Debug, Clone)]
struct Running {
    pod: String,
    container: String,
    /// The pod spec's image reference.
    image: String,
    /// sha256 digest: the spec's, else the status `imageID`'s.
    digest: Option<String>,
}

/// The digest of `image`, else of the container status's `imageID` (`docker-pullable://repo@sha256:…`,
/// `repo@sha256:…`): what the kubelet actually runs.
fn running_digest(image: &str, image_id: Option<&str>) -> Option<String> {
    let after_at = |s: &str| {
        s.rsplit_once('@')
            .map(|(_, d)| d.to_owned())
            .filter(|d| crate::image::is_sha256_digest(d))
    };
    after_at(image).or_else(|| image_id.and_then(after_at))
}

/// Every container, init container and ephemeral container of a pod, with its status's imageID.
fn containers(pod: &Pod) -> Vec<Running> {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let Some(spec) = &pod.spec else { return Vec::new() };
    let status = pod.status.as_ref();
    let image_id = |statuses: Option<&Vec<k8s_openapi::api::core::v1::ContainerStatus>>, c: &str| {
        statuses
            .and_then(|s| s.iter().find(|s| s.name == c))
            .map(|s| s.image_id.clone())
            .filter(|id| !id.is_empty())
    };
    let mut out = Vec::new();
    let mut add = |c: &str, image: Option<&String>, id: Option<String>| {
        let image = image.cloned().unwrap_or_default();
        out.push(Running {
            pod: name.clone(),
            container: c.to_owned(),
            digest: running_digest(&image, id.as_deref()),
            image,
        });
    };
    for c in &spec.containers {
        add(
            &c.name,
            c.image.as_ref(),
            image_id(status.and_then(|s| s.container_statuses.as_ref()), &c.name),
        );
    }
    for c in spec.init_containers.iter().flatten() {
        add(
            &c.name,
            c.image.as_ref(),
            image_id(status.and_then(|s| s.init_container_statuses.as_ref()), &c.name),
        );
    }
    for c in spec.ephemeral_containers.iter().flatten() {
        add(
            &c.name,
            c.image.as_ref(),
            image_id(status.and_then(|s| s.ephemeral_container_statuses.as_ref()), &c.name),
        );
    }
    out
}

/// Where an image's scan is read: its ECR registry (None: the sandbox's, from the region), repository, digest.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Target {
    host: Option<String>,
    repository: String,
    digest: String,
}

impl Target {
    fn label(&self) -> String {
        match &self.host {
            Some(h) => format!("{h}/{}@{}", self.repository, self.digest),
            None => format!("{}@{}", self.repository, self.digest),
        }
    }
}

/// An image of a namespace before its scan is read: where it is judged (or why it cannot be), the reference the
/// pod spec gives, and the containers that run it.
type Planned = (std::result::Result<Target, Diagnostic>, String, Vec<Running>);

/// One image of a namespace: the containers that run it, and what became of it.
struct AuditedImage {
    target: Option<Target>,
    /// The reference as the pod spec gives it (for images that could not be located).
    reference: String,
    users: Vec<String>,
    pods: BTreeSet<String>,
    verdict: Verdict,
    blocked: Vec<Value>,
    needs_signoff: Vec<Value>,
    reasons: Vec<Diagnostic>,
    in_evidence: Option<bool>,
}

struct AuditedNamespace<'p> {
    bb: &'p BuildingBlock,
    pods: usize,
    images: Vec<AuditedImage>,
    expiring: Vec<Value>,
    warnings: Vec<Diagnostic>,
}

impl AuditedNamespace<'_> {
    fn verdict(&self) -> Verdict {
        if self.images.iter().any(|i| i.verdict == Verdict::Deny) {
            Verdict::Deny
        } else {
            Verdict::Pass
        }
    }
}

/// What earlier evidence said of each digest: the ids it blocked or sent for sign-off.
type EvidenceIndex = BTreeMap<String, BTreeSet<String>>;

fn read_evidence(paths: &[std::path::PathBuf]) -> Result<EvidenceIndex> {
    let mut index = EvidenceIndex::new();
    for path in paths {
        let shown = path.display().to_string();
        let bytes = crate::input::read(path, crate::input::EVIDENCE)?;
        let body = crate::report::evidence::open(&shown, &bytes)?;
        let body = crate::report::evidence::read(&shown, &body)?;
        for image in &body.images {
            let ids = index.entry(image.digest.to_string()).or_default();
            for f in &image.findings {
                if matches!(f.outcome, Outcome::Blocked | Outcome::NeedsSignoff) {
                    ids.insert(f.id.to_string());
                }
            }
        }
    }
    Ok(index)
}

fn signoffs(args: &AuditArgs, policy: &Policy) -> Result<Vec<SignOff>> {
    let pins =
        crate::deploy::redecide::parse_pins(std::env::var(crate::deploy::redecide::SIGNOFFS_PIN_ENV).ok().as_deref())?;
    let files = if pins.is_empty() {
        crate::policy::signoff::load_files(&args.signoffs, policy)?
    } else {
        crate::deploy::redecide::load_signoffs(&args.signoffs, &pins, policy)?
    };
    Ok(files.into_iter().flat_map(|f| f.signoffs).collect())
}

pub fn run(args: &AuditArgs) -> Result<u8> {
    let policy = Policy::load(args.policy.as_deref(), crate::cli::policy_pin().as_deref())?;
    let mut bbs: Vec<&BuildingBlock> = Vec::new();
    for name in &args.building_blocks {
        bbs.push(policy.require_building_block("--building-block", name)?);
    }
    if bbs.is_empty() {
        bbs = policy.building_blocks.iter().collect();
    }
    let signoffs = signoffs(args, &policy)?;
    let evidence = read_evidence(&args.evidence)?;
    let now = jiff::Timestamp::now();
    let rt = aws::runtime()?;
    let (namespaces, scans_read) = rt.block_on(audit(args, &policy, &bbs, &signoffs, &evidence, now))?;
    emit(args, &policy, &namespaces, scans_read, now)
}

async fn audit<'p>(
    args: &AuditArgs,
    policy: &'p Policy,
    bbs: &[&'p BuildingBlock],
    signoffs: &[SignOff],
    evidence: &EvidenceIndex,
    now: jiff::Timestamp,
) -> Result<(Vec<AuditedNamespace<'p>>, usize)> {
    let cluster = crate::deploy::connect_cluster(&args.cluster).await?;
    let client = &cluster.client;
    // The namespaces' pods, read concurrently (bounded), in the policy's order.
    let listed: Vec<Result<(usize, Vec<Pod>)>> = futures_util::stream::iter(bbs.iter().enumerate().map(|(i, bb)| {
        let client = client.clone();
        async move {
            let pods = Api::<Pod>::namespaced(client, &bb.namespace)
                .list(&ListParams::default())
                .await
                .map_err(|e| cluster_error(&format!("listing the pods of namespace {}", bb.namespace), e))?;
            Ok((i, pods.items))
        }
    }))
    .buffer_unordered(usize::from(args.concurrency))
    .collect()
    .await;
    let mut pods_by_bb: Vec<Vec<Pod>> = vec![Vec::new(); bbs.len()];
    for r in listed {
        let (i, pods) = r?;
        pods_by_bb[i] = pods;
    }

    // Each namespace's images, and the distinct digests to read.
    let mut targets: BTreeSet<Target> = BTreeSet::new();
    let planned: Vec<Vec<Planned>> = bbs
        .iter()
        .zip(&pods_by_bb)
        .map(|(bb, pods)| plan(policy, bb, pods, &mut targets))
        .collect();

    let scans = read_scans(args, &targets).await?;
    let scans_read = scans.len();

    let mut judge_policy = policy.clone();
    // What runs is judged on its images; its API tests were judged when it was deployed.
    judge_policy.api_tests.required = false;
    let basis = Basis {
        policy: judge_policy,
        scans: &scans,
        signoffs,
        evidence,
        evidence_given: !args.evidence.is_empty(),
        now,
    };
    let out = bbs
        .iter()
        .zip(planned)
        .zip(&pods_by_bb)
        .map(|((bb, images), pods)| judge(&basis, bb, images, pods.len()))
        .collect();
    Ok((out, scans_read))
}

/// What every namespace is judged by: the policy (API tests not required), the scans read, the sign-offs, the
/// evidence given, the time.
struct Basis<'a> {
    policy: Policy,
    scans: &'a BTreeMap<Target, Scan>,
    signoffs: &'a [SignOff],
    evidence: &'a EvidenceIndex,
    evidence_given: bool,
    now: jiff::Timestamp,
}

/// One namespace's running images, decided as its building block's release under the policy and sign-offs.
fn judge<'p>(basis: &Basis, bb: &'p BuildingBlock, images: Vec<Planned>, pods: usize) -> AuditedNamespace<'p> {
    let Basis {
        policy: judge_policy,
        scans,
        signoffs,
        evidence,
        evidence_given,
        now,
    } = basis;
    let judged: Vec<&Scan> = images
        .iter()
        .filter_map(|(t, _, _)| t.as_ref().ok().and_then(|t| scans.get(t)))
        .collect();
    let decision = gate::decide(
        judge_policy,
        bb,
        &gate::Inputs {
            images: &judged,
            release_problems: &[],
            test_runs: &[],
            signoffs,
        },
        *now,
    );
    let mut audited = Vec::new();
    let mut next = 0;
    for (target, reference, users) in images {
        let pods: BTreeSet<String> = users.iter().map(|u| u.pod.clone()).collect();
        let names: Vec<String> = users.iter().map(|u| format!("{}/{}", u.pod, u.container)).collect();
        match target {
            Err(reason) => audited.push(AuditedImage {
                target: None,
                reference,
                users: names,
                pods,
                verdict: Verdict::Deny,
                blocked: Vec::new(),
                needs_signoff: Vec::new(),
                reasons: vec![reason],
                in_evidence: None,
            }),
            Ok(t) => {
                let scan = judged[next];
                let d = &decision.images[next];
                next += 1;
                let known = evidence.get(&t.digest);
                let list = |outcome: Outcome| -> Vec<Value> {
                    d.findings
                        .iter()
                        .filter(|f| f.outcome == outcome)
                        .map(|f| {
                            let finding = &scan.findings[f.finding];
                            json!({
                                "id": finding.id,
                                "package": finding.package,
                                "package_version": finding.package_version,
                                "score": f.score.as_ref().map(|s| s.value),
                                "fixed_in": finding.fixed_in,
                                "new": known.map(|k| !k.contains(&finding.id)),
                                "notes": f.signoff_notes,
                            })
                        })
                        .collect()
                };
                audited.push(AuditedImage {
                    reference: t.label(),
                    blocked: list(Outcome::Blocked),
                    needs_signoff: list(Outcome::NeedsSignoff),
                    verdict: d.verdict,
                    reasons: d.reasons.clone(),
                    in_evidence: evidence_given.then_some(known.is_some()),
                    target: Some(t),
                    users: names,
                    pods,
                });
            }
        }
    }
    let warnings: Vec<Diagnostic> = decision
        .warnings
        .iter()
        .filter(|w| w.code != "signoff-unused")
        .cloned()
        .collect();
    AuditedNamespace {
        bb,
        pods,
        images: audited,
        expiring: decision
            .signoffs
            .expiring
            .iter()
            .map(|s| {
                json!({"id": s.id, "expires": s.expires.to_string(), "approved_by": s.approved_by,
                            "location": s.location})
            })
            .collect(),
        warnings,
    }
}

/// A namespace's containers grouped by the image they run (by digest), each located for judging or with the
/// reason it cannot be; the digests to read are added to `targets`.
fn plan(policy: &Policy, bb: &BuildingBlock, pods: &[Pod], targets: &mut BTreeSet<Target>) -> Vec<Planned> {
    // Each container located once: those that cannot be judged one by one (by image, pod, container), then the
    // judgeable ones grouped by the image they run.
    let mut unjudgeable: BTreeMap<String, (Diagnostic, Running)> = BTreeMap::new();
    let mut located: BTreeMap<Target, Vec<Running>> = BTreeMap::new();
    for pod in pods {
        for c in containers(pod) {
            match locate(policy, bb, &c) {
                Ok(t) => located.entry(t).or_default().push(c),
                Err(why) => {
                    unjudgeable.insert(format!("{}\u{0}{}\u{0}{}", c.image, c.pod, c.container), (why, c));
                }
            }
        }
    }
    let mut images: Vec<Planned> = unjudgeable
        .into_values()
        .map(|(why, c)| (Err(why), c.image.clone(), vec![c]))
        .collect();
    for (t, users) in located {
        targets.insert(t.clone());
        let reference = users[0].image.clone();
        images.push((Ok(t), reference, users));
    }
    images
}

/// Where the image a container runs is judged: by digest, in ECR, under the building block's repositories or
/// the pull-through cache. Anything else is a reason naming namespace, pod, container and image.
fn locate(policy: &Policy, bb: &BuildingBlock, c: &Running) -> std::result::Result<Target, Diagnostic> {
    let at = format!("namespace {}, pod {}, container {}", bb.namespace, c.pod, c.container);
    let Some(digest) = &c.digest else {
        return Err(Diagnostic::error(
            "image-without-digest",
            format!(
                "{at} runs {} by tag with no digest (neither the pod spec nor the container status names one): what \
                 runs cannot be identified, so it cannot be judged; deploy pins every image by digest",
                c.image
            ),
        ));
    };
    let located = crate::release::locate(&c.image, policy)
        .map_err(|why| Diagnostic::error("image-unjudgeable", format!("{at}: {why}")))?;
    if let Some(refusal) = policy.refuse_image(bb, located.account().as_deref(), &located.repository) {
        return Err(Diagnostic::error("foreign-repository", format!("{at}: {refusal}")));
    }
    Ok(Target {
        host: located.host,
        repository: located.repository,
        digest: digest.clone(),
    })
}

/// Scans read at once: the settle delay of each read overlaps the others' (deploy's dry runs also go 8 at a time).
const SCAN_READS: usize = 8;

/// Each distinct image's scan, read once: one identity per region, 8 images at a time, every page, with the
/// fail-closed wait verify uses.
async fn read_scans(args: &AuditArgs, targets: &BTreeSet<Target>) -> Result<BTreeMap<Target, Scan>> {
    let wait = aws_ecr::Wait {
        timeout: args.scan_timeout,
        poll_interval: args.poll_interval,
    };
    let images: Vec<aws_ecr::ImageAt> = targets
        .iter()
        .map(|t| aws_ecr::ImageAt {
            host: t.host.as_deref(),
            repository: &t.repository,
            digest: &t.digest,
        })
        .collect();
    let scanned = aws_ecr::acquire_all(&images, &args.cluster.aws, wait, SCAN_READS).await?;
    targets
        .iter()
        .zip(scanned)
        .map(|(t, scanned)| {
            let pages = scanned.pages.into_iter().map(|p| p.page).collect();
            let (scan, _) = crate::findings::ecr::merge(pages)
                .map_err(|e| Error::Undecidable(format!("the scan of {}: {e}", t.label())))?;
            Ok((t.clone(), scan))
        })
        .collect()
}

fn image_json(i: &AuditedImage) -> Value {
    json!({
        "image": i.reference,
        "repository": i.target.as_ref().map(|t| &t.repository),
        "digest": i.target.as_ref().map(|t| &t.digest),
        "pods": i.pods,
        "containers": i.users,
        "verdict": i.verdict,
        "blocked": i.blocked,
        "needs_signoff": i.needs_signoff,
        "reasons": i.reasons,
        "in_evidence": i.in_evidence,
    })
}

fn emit(
    args: &AuditArgs,
    policy: &Policy,
    namespaces: &[AuditedNamespace],
    scans_read: usize,
    now: jiff::Timestamp,
) -> Result<u8> {
    let denied = namespaces.iter().any(|n| n.verdict() == Verdict::Deny);
    let verdict = if denied { Verdict::Deny } else { Verdict::Pass };
    let code = if denied { exit::DENY } else { exit::PASS };
    if let Some(path) = &args.junit {
        let mut cases = Vec::new();
        for n in namespaces {
            for i in &n.images {
                let mut lines: Vec<String> = i.reasons.iter().map(|r| format!("{}: {}", r.code, r.message)).collect();
                lines.extend(i.needs_signoff.iter().map(|f| format!("needs a sign-off: {}", f["id"])));
                cases.push(crate::report::junit::Case {
                    classname: format!("bbgate.audit.{}", n.bb.namespace),
                    name: i.reference.clone(),
                    failure: (i.verdict == Verdict::Deny).then(|| ("deny".to_owned(), lines.join("\n"))),
                    out: Some(format!(
                        "pods: {}",
                        i.pods.iter().cloned().collect::<Vec<_>>().join(", ")
                    )),
                });
            }
            for s in &n.expiring {
                cases.push(crate::report::junit::Case {
                    classname: format!("bbgate.audit.{}.signoffs", n.bb.namespace),
                    name: format!(
                        "sign-off {} expires {}",
                        s["id"].as_str().unwrap_or(""),
                        s["expires"].as_str().unwrap_or("")
                    ),
                    failure: None,
                    out: Some(format!("approved by {}", s["approved_by"].as_str().unwrap_or(""))),
                });
            }
        }
        let bytes =
            crate::report::junit::suite("bbgate audit", &now.to_string(), &cases).map_err(|e| Error::write(path, e))?;
        crate::verify::write_output("JUnit report", path, &bytes)?;
    }
    let doc = json!({
        "verdict": verdict,
        "audited_at": now.to_string(),
        "policy": {"location": policy.origin.location, "sha256": policy.origin.sha256},
        "counts": {
            "namespaces": namespaces.len(),
            "pods": namespaces.iter().map(|n| n.pods).sum::<usize>(),
            "images": namespaces.iter().map(|n| n.images.len()).sum::<usize>(),
            "denied": namespaces.iter().flat_map(|n| &n.images).filter(|i| i.verdict == Verdict::Deny).count(),
            "scans_read": scans_read,
        },
        "namespaces": namespaces.iter().map(|n| json!({
            "building_block": n.bb.name,
            "namespace": n.bb.namespace,
            "verdict": n.verdict(),
            "pods": n.pods,
            "images": n.images.iter().map(image_json).collect::<Vec<_>>(),
            "expiring_signoffs": n.expiring,
            "warnings": n.warnings,
        })).collect::<Vec<_>>(),
        "exit_code": code,
    });
    let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    if let Some(path) = &args.json {
        crate::verify::write_output("audit JSON", path, format!("{text}\n").as_bytes())?;
    }
    match args.format {
        Format::Json => crate::output::line(&text)?,
        Format::Human => crate::output::human(&human(namespaces, scans_read, verdict))?,
    }
    Ok(code)
}

/// The table's name for an image: its repository and the first 12 hex digits of its digest (the detail lines
/// below the table give the full reference), so that no row wraps inside a reference.
fn short(i: &AuditedImage) -> String {
    match &i.target {
        Some(t) => format!("{}@{}", t.repository, &t.digest[..t.digest.len().min(19)]),
        None => i
            .reference
            .rsplit_once('/')
            .map_or(i.reference.clone(), |(_, r)| r.to_owned()),
    }
}

fn human(namespaces: &[AuditedNamespace], scans_read: usize, verdict: Verdict) -> String {
    use comfy_table::{ContentArrangement, Table, presets};
    let mut table = Table::new();
    table
        .load_style(presets::ASCII_MARKDOWN)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(crate::output::width())
        .set_header(["namespace", "image", "pods", "verdict", "blocked", "needs sign-off"]);
    let mut details = Vec::new();
    for n in namespaces {
        if n.images.is_empty() {
            table.add_row([
                n.bb.namespace.clone(),
                "(no pods)".into(),
                "0".into(),
                "pass".into(),
                "".into(),
                "".into(),
            ]);
        }
        for i in &n.images {
            table.add_row([
                n.bb.namespace.clone(),
                short(i),
                i.pods.len().to_string(),
                match i.verdict {
                    Verdict::Pass => "pass".to_owned(),
                    Verdict::Deny => "DENY".to_owned(),
                },
                i.blocked.len().to_string(),
                i.needs_signoff.len().to_string(),
            ]);
            for f in &i.blocked {
                let new = match f["new"].as_bool() {
                    Some(true) => ", new since its evidence",
                    _ => "",
                };
                details.push(format!(
                    "  {} {}: {} blocked (score {}, {} {}{new}), in pods {}",
                    n.bb.namespace,
                    i.reference,
                    f["id"].as_str().unwrap_or(""),
                    f["score"],
                    f["package"].as_str().unwrap_or(""),
                    f["package_version"].as_str().unwrap_or(""),
                    i.pods.iter().cloned().collect::<Vec<_>>().join(", ")
                ));
            }
            for f in &i.needs_signoff {
                details.push(format!(
                    "  {} {}: {} needs a sign-off (score {})",
                    n.bb.namespace,
                    i.reference,
                    f["id"].as_str().unwrap_or(""),
                    f["score"]
                ));
            }
            for r in i
                .reasons
                .iter()
                .filter(|r| r.code != "finding-blocked" && r.code != "finding-needs-signoff")
            {
                details.push(format!("  [{}] {}", r.code, r.message));
            }
            if i.in_evidence == Some(false) {
                details.push(format!(
                    "  {} {}: in no evidence given (--evidence)",
                    n.bb.namespace, i.reference
                ));
            }
        }
        for s in &n.expiring {
            details.push(format!(
                "  {}: sign-off {} expires {} ({})",
                n.bb.namespace,
                s["id"].as_str().unwrap_or(""),
                s["expires"].as_str().unwrap_or(""),
                s["location"].as_str().unwrap_or("")
            ));
        }
    }
    let mut out = format!(
        "{}: {} namespaces, {} images ({} scans read)\n{table}",
        match verdict {
            Verdict::Pass => "AUDIT PASS",
            Verdict::Deny => "AUDIT DENY",
        },
        namespaces.len(),
        namespaces.iter().map(|n| n.images.len()).sum::<usize>(),
        scans_read
    );
    if !details.is_empty() {
        out.push('\n');
        out.push_str(&details.join("\n"));
    }
    out
}
