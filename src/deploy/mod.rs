//! `bbgate deploy`: install the Building Block that `bbgate verify` passed, into its own namespace and
//! nowhere else. Evidence -> render -> preflight + guard (every problem at once, nothing written) -> helm
//! `upgrade --install` pinned by digest, rolled back on failure -> confirm the rollout -> record it.

pub(crate) mod approval;
pub mod eks;
pub(crate) mod evidence;
pub(crate) mod guard;
pub(crate) mod helm;
pub mod manifest;
pub(crate) mod pod_security;
pub(crate) mod preflight;
pub(crate) mod redecide;
pub(crate) mod room;
pub(crate) mod seal;
pub(crate) mod secrets;
pub(crate) mod wire;
pub mod yaml11;

use crate::cli::{DeployArgs, Format};
use crate::diag::Diagnostic;
use crate::error::{Error, Result, exit};
use crate::policy::{BuildingBlock, Policy, sha256_hex};
use kube::Client;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The deploy record, written beside the evidence (fields alphabetical).
#[derive(Debug, Serialize)]
pub(crate) struct Record {
    pub(crate) approved_by: Option<String>,
    /// The signed attestation of this record (`--kms-key-id`), when written.
    pub(crate) attestation: Option<String>,
    pub(crate) building_block: String,
    /// The release bundle installed (`--bundle`), by digest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) bundle: Option<String>,
    /// Deploy's own decision, made again from inputs it can vouch for (never verify's verdict).
    pub(crate) decision: Option<redecide::Redecision>,
    pub(crate) evidence: String,
    pub(crate) evidence_sha256: String,
    pub(crate) finished_at: String,
    pub(crate) helm: String,
    /// Every image of the release, `REGISTRY/REPOSITORY@DIGEST`.
    pub(crate) images: Vec<String>,
    pub(crate) namespace: String,
    pub(crate) problems: Vec<Diagnostic>,
    /// The Rego modules the guard ran, with their sha256 (the policy's own sha256 covers only the TOML).
    pub(crate) rego: Vec<String>,
    pub(crate) release: String,
    pub(crate) revision: Option<u32>,
    pub(crate) rollout_events: Vec<String>,
    /// The Secrets created from files before helm ran: `NAME (keys: a, b)`, never their data.
    pub(crate) secrets: Vec<String>,
    pub(crate) started_at: String,
    pub(crate) status: Status,
    pub(crate) tests: Option<&'static str>,
    pub(crate) timings_ms: Timings,
    pub(crate) warnings: Vec<String>,
}

/// Where a deploy ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Status {
    /// A check failed: nothing was written.
    Refused,
    /// `--dry-run`: every check passed, nothing was written.
    Checked,
    /// helm or the rollout failed (helm rolled back), or the chart's tests failed.
    Failed,
    Deployed,
}

#[derive(Debug, Default, Serialize)]
pub(crate) struct Timings {
    pub(crate) confirm: u64,
    pub(crate) install: u64,
    pub(crate) preflight: u64,
    pub(crate) render: u64,
}

fn ms(since: Instant) -> u64 {
    since.elapsed().as_millis() as u64
}

/// The cluster: a kubeconfig (the flag, KUBECONFIG, ~/.kube/config), or EKS by name. helm never reads either
/// directly: deploy writes it a kubeconfig of its own in the sealed room (`seal::sealed_kubeconfig`).
pub(crate) struct Cluster {
    pub(crate) client: Client,
    reach: Reach,
}

/// How the cluster was reached, for the kubeconfig helm gets.
enum Reach {
    /// The kubeconfig bbgate's own client was built from, as kube read it (file paths made absolute).
    Kubeconfig(Box<kube::config::Kubeconfig>),
    Eks {
        cluster: String,
        region: String,
        endpoint: String,
        ca: Vec<u8>,
        creds: aws_credential_types::Credentials,
    },
}

impl Cluster {
    /// helm's kubeconfig for this cluster, written into the room (with a fresh EKS token).
    pub(crate) fn helm_kubeconfig(&self, room: &room::Room) -> Result<PathBuf> {
        match &self.reach {
            Reach::Kubeconfig(kc) => seal::sealed_kubeconfig(room, seal::Access::Kubeconfig(kc)),
            Reach::Eks {
                cluster,
                region,
                endpoint,
                ca,
                creds,
            } => {
                let token = eks::token(cluster, region, creds.clone(), std::time::SystemTime::now())?;
                seal::sealed_kubeconfig(
                    room,
                    seal::Access::Eks {
                        endpoint,
                        ca_pem: ca,
                        token: &token,
                    },
                )
            }
        }
    }

    /// A fresh EKS token (15 minutes), for helm's token file before a long step; None for a kubeconfig.
    pub(crate) fn eks_token(&self) -> Result<Option<String>> {
        match &self.reach {
            Reach::Kubeconfig(_) => Ok(None),
            Reach::Eks {
                cluster, region, creds, ..
            } => eks::token(cluster, region, creds.clone(), std::time::SystemTime::now()).map(Some),
        }
    }
}

async fn connect(args: &DeployArgs) -> Result<Cluster> {
    connect_to(args.kubeconfig.as_deref(), args.eks_cluster.as_deref(), &args.aws).await
}

/// The cluster a `ClusterArgs` names (namespace check, audit).
pub(crate) async fn connect_cluster(args: &crate::cli::ClusterArgs) -> Result<Cluster> {
    connect_to(args.kubeconfig.as_deref(), args.eks_cluster.as_deref(), &args.aws).await
}

/// The cluster from a kubeconfig (the flag, KUBECONFIG, ~/.kube/config), or EKS by name with `aws`'s identity.
pub(crate) async fn connect_to(
    kubeconfig: Option<&Path>,
    eks_cluster: Option<&str>,
    aws: &crate::cli::AwsIdentity,
) -> Result<Cluster> {
    use kube::config::{Config, KubeConfigOptions, Kubeconfig};
    if let Some(cluster) = eks_cluster {
        let region = crate::aws::region(None)?;
        let role = crate::aws::credentials::role_arn(aws.role_arn.as_deref());
        let calls = crate::aws::CallCounter::default();
        let (conf, creds) =
            eks::resolve_credentials(&region, role.as_deref(), aws.session_name.as_deref(), &calls).await?;
        let (endpoint, ca) = eks::describe(&conf, cluster).await?;
        let token = eks::token(cluster, &region, creds.clone(), std::time::SystemTime::now())?;
        let mut config = Config::new(
            endpoint
                .parse()
                .map_err(|e| Error::Undecidable(format!("EKS endpoint {endpoint:?} is not a URL: {e}")))?,
        );
        // EKS endpoints are HTTPS with the cluster's own CA; a plain-HTTP endpoint (a local test cluster)
        // has no TLS to configure.
        if endpoint.starts_with("https://") {
            config.root_cert = Some(eks::pem_to_der(&ca));
        }
        config.auth_info.token = Some(token.into());
        let client = said_client(config, "connecting to EKS")?;
        return Ok(Cluster {
            client,
            reach: Reach::Eks {
                cluster: cluster.to_owned(),
                region,
                endpoint,
                ca,
                creds,
            },
        });
    }
    let path = kubeconfig.map(Path::to_path_buf);
    let kc = match &path {
        Some(p) => Kubeconfig::read_from(p)
            .map_err(|e| Error::invalid(format!("{}: not a usable kubeconfig: {e}", p.display())))?,
        None => Kubeconfig::read().map_err(|e| {
            Error::invalid(format!(
                "no kubeconfig: {e}; pass --kubeconfig FILE or --eks-cluster NAME"
            ))
        })?,
    };
    // helm gets the very configuration bbgate's client uses, reduced and written into its room.
    let reach = Reach::Kubeconfig(Box::new(kc.clone()));
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .map_err(|e| Error::invalid(format!("the kubeconfig cannot be used: {e}")))?;
    let client = said_client(config, "connecting")?;
    Ok(Cluster { client, reach })
}

/// bbgate's kube client, each call said under `-v` (`wire::Said`).
fn said_client(config: kube::Config, what: &str) -> Result<Client> {
    let builder = kube::client::ClientBuilder::try_from(config).map_err(|e| preflight::cluster_error(what, e))?;
    Ok(builder.with_layer(&tower::layer::layer_fn(wire::Said)).build())
}

/// What the deploy says on stdout: a few lines for people, or one JSON document.
fn emit(format: Format, record: &Record, helm_output: Option<&str>) -> Result<()> {
    use std::fmt::Write;
    let mut out = String::new();
    match format {
        // Strings, numbers and string lists only: serialising cannot fail.
        Format::Json => out = serde_json::to_string_pretty(record).unwrap_or_default(),
        Format::Human => {
            let _ = match record.status {
                Status::Refused => write!(
                    out,
                    "REFUSED: {} problem(s); nothing was written to namespace {}:",
                    record.problems.len(),
                    record.namespace
                ),
                Status::Failed => write!(
                    out,
                    "FAILED: release {} in {} did not roll out; helm rolled it back (or removed a first install)",
                    record.release, record.namespace
                ),
                Status::Checked => write!(
                    out,
                    "CHECKED: release {} in {} may be installed with {} (--dry-run: nothing written)",
                    record.release,
                    record.namespace,
                    record.images.join(", ")
                ),
                Status::Deployed => write!(
                    out,
                    "DEPLOYED: release {} revision {} in {} runs {}",
                    record.release,
                    record.revision.map_or("?".into(), |r| r.to_string()),
                    record.namespace,
                    record.images.join(", ")
                ),
            };
            for s in &record.secrets {
                let _ = write!(out, "\n  secret created before the install: {s}");
            }
            for p in &record.problems {
                let _ = write!(out, "\n  - {} [{}]", p.message, p.code);
            }
            for w in &record.warnings {
                let _ = write!(out, "\n  warning: {w}");
            }
            if let Some(text) = helm_output.filter(|o| !o.trim().is_empty()) {
                out.push_str("\nhelm said:");
                for line in text.trim().lines().rev().take(15).collect::<Vec<_>>().into_iter().rev() {
                    let _ = write!(out, "\n  {line}");
                }
            }
            for e in &record.rollout_events {
                let _ = write!(out, "\n  event: {e}");
            }
        }
    }
    crate::output::human(&out)
}

/// The last warning events of the release's pods: why a rollout did not finish.
async fn pod_events(client: &Client, ns: &str, workloads: &[String]) -> Vec<String> {
    use k8s_openapi::api::core::v1::Event;
    let Ok(list) = kube::Api::<Event>::namespaced(client.clone(), ns)
        .list(&kube::api::ListParams::default())
        .await
    else {
        return Vec::new();
    };
    let mut events: Vec<(String, String)> = list
        .items
        .iter()
        .filter_map(|e| {
            let v = serde_json::to_value(e).ok()?;
            let obj = &v["involvedObject"];
            let name = obj["name"].as_str()?;
            if v["type"].as_str() != Some("Warning") || !workloads.iter().any(|w| name.starts_with(w.as_str())) {
                return None;
            }
            let when = v["lastTimestamp"]
                .as_str()
                .or(v["eventTime"].as_str())
                .unwrap_or("")
                .to_owned();
            Some((
                when,
                format!(
                    "{}/{}: {}: {}{}",
                    obj["kind"].as_str().unwrap_or("?"),
                    name,
                    v["reason"].as_str().unwrap_or(""),
                    v["message"].as_str().unwrap_or("").trim(),
                    v["count"]
                        .as_u64()
                        .filter(|c| *c > 1)
                        .map_or(String::new(), |c| format!(" (x{c})"))
                ),
            ))
        })
        .collect();
    events.sort();
    events.into_iter().rev().take(10).rev().map(|(_, e)| e).collect()
}

/// Every Deployment and StatefulSet of the release available, within `limit`.
async fn confirm(client: &Client, ns: &str, manifests: &[manifest::Manifest], limit: Duration) -> Result<()> {
    use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
    use kube::runtime::wait::{await_condition, conditions};
    for m in manifests.iter().filter(|m| m.hook().is_none()) {
        let name = m.name().to_owned();
        let wait = match m.kind() {
            "Deployment" => {
                let api = kube::Api::<Deployment>::namespaced(client.clone(), ns);
                tokio::time::timeout(limit, async {
                    await_condition(api, &name, conditions::is_deployment_completed())
                        .await
                        .map(|_| ())
                })
                .await
            }
            "StatefulSet" => {
                let api = kube::Api::<StatefulSet>::namespaced(client.clone(), ns);
                let ready = |s: Option<&StatefulSet>| {
                    let v = s.and_then(|s| serde_json::to_value(s).ok()).unwrap_or_default();
                    let want = v["spec"]["replicas"].as_i64().unwrap_or(1);
                    v["status"]["readyReplicas"].as_i64().unwrap_or(0) >= want
                        && v["status"]["observedGeneration"].as_i64() >= v["metadata"]["generation"].as_i64()
                };
                tokio::time::timeout(limit, async { await_condition(api, &name, ready).await.map(|_| ()) }).await
            }
            _ => continue,
        };
        match wait {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                return Err(Error::Undecidable(format!(
                    "the cluster failed while watching {} {name}: {e}",
                    m.kind()
                )));
            }
            Err(_) => {
                return Err(Error::Undecidable(format!(
                    "{} {name} is not available {} s after helm reported success",
                    m.kind(),
                    limit.as_secs()
                )));
            }
        }
    }
    Ok(())
}

pub fn run(args: &DeployArgs) -> Result<u8> {
    match run_checked(args) {
        // With --format json a refusal before the record exists (the evidence, the recheck) is still one JSON
        // document on stdout, so CI reads every refusal the same way.
        Err(Error::Denied(why)) if args.format == Format::Json => {
            let doc = serde_json::json!({
                "evidence": args.evidence_path().display().to_string(),
                "problems": why.lines().map(|l| Diagnostic::error("not-admitted", l)).collect::<Vec<_>>(),
                "release": args.release,
                "status": "refused",
            });
            crate::output::line(&serde_json::to_string_pretty(&doc).unwrap_or_default())?;
            Ok(exit::DENY)
        }
        other => other,
    }
}

/// The admins' policy: the built-in one, or a file pinned by `BBGATE_POLICY_SHA256`. Deploy decides under it, so
/// an unpinned file (which the BB's job could have chosen) is refused.
fn admins_policy(args: &DeployArgs) -> Result<Policy> {
    let pin = crate::cli::policy_pin();
    if let (Some(p), None) = (&args.policy, &pin) {
        return Err(Error::invalid(format!(
            "--policy {}: deploy decides under the admins' policy, so a policy file must be pinned: set {} to its \
             sha256 in the restricted deploy context (`bbgate policy check --policy FILE` prints it), or drop \
             --policy to use the built-in policy",
            p.display(),
            crate::policy::PIN_ENV
        )));
    }
    let policy = Policy::load(args.policy.as_deref(), pin.as_deref())?;
    if !policy.deploy.rego_problems.is_empty() {
        return Err(Error::Invalid(policy.deploy.rego_problems.clone()));
    }
    Ok(policy)
}

fn run_checked(args: &DeployArgs) -> Result<u8> {
    let started = jiff::Timestamp::now();
    // Nothing that decides comes from the job's environment: a variable that would redirect a client or helm
    // stops the deploy before anything is read.
    seal::refuse_redirects(std::env::vars(), &args.allow_env)?;
    let policy = admins_policy(args)?;
    // Deploy's clock is the system's: nothing on its command line can make old evidence or an expired
    // sign-off look current.
    let now = started;
    if std::env::var_os("BBGATE_EVIDENCE_KEY").is_some() {
        eprintln!(
            "bbgate: warning: BBGATE_EVIDENCE_KEY is ignored: deploy no longer trusts verify's verdict, it decides \
             again (sign deploy's record with --kms-key-id instead)"
        );
    }
    let rt = crate::aws::runtime()?;
    // The admins' deploy of a bundle: its files, pulled by digest and checked, stand in for the BB's checkout.
    let fetched = crate::bundle::fetch(args, &policy, &rt)?;
    let args = fetched.as_ref().map_or(args, |(a, _)| a);
    let timeout = check_args(args)?;
    // Read before anything else happens: a missing file is found before the evidence is.
    let secret_files = secrets::read(&args.secret_from_file)?;

    // 1. Admit: the evidence names the image and the inputs; deploy decides again on inputs it can vouch for.
    // CircleCI's environment, read once.
    let circleci = crate::cli::CircleCi::from_env();
    let (admission, bb) = admit(args, &policy, now, &circleci)?;
    let (redecision, warnings) = decide_again(args, &policy, bb, &admission, &rt, now)?;
    // 2. Bind: the BB's own namespace, never another; the chart and values verify judged, never others.
    let ns = bind(args, bb)?;
    let mut warnings = warnings;
    // The sealed room: helm pinned by sha256, its environment from an allowlist, the chart and every file it
    // reads copied in as regular files. The proxies the admins allow by name reach helm too.
    let mut room = room::Room::new()?;
    let mut helm = sealed_helm(args, &mut room)?;
    let chart = room.copy_chart(args.chart_path())?;
    // The dependencies as Chart.lock pins them, built (in the copy) before the chart is compared with the one
    // judged.
    // A bundle's chart holds them already, as verify built them (its files are compared below).
    if args.from_bundle.is_none() {
        crate::dependencies::build(&helm, &chart, args.chart_path())?;
    }
    let admitted = &admission.admitted;
    let set_image = set_image(&args.set_image, admitted)?;
    let mut values = deploy_values(args, &policy, &set_image, admitted)?;
    values.seal(&room)?;
    bind_chart(args, &chart, &values, admitted, &mut warnings)?;
    bind_sets(&values, &policy, admitted, &mut warnings)?;
    // What helm prints is shown and recorded with every secret cut out (a template's `fail` can echo one).
    helm.redact = values.secret_values.clone();
    helm.redact.extend(secrets::texts(&secret_files));
    let pins = pins(args, &policy, admitted)?;
    let description = format!(
        "bbgate evidence sha256:{} ({} image(s))",
        admission.evidence_sha256,
        admitted.images.len()
    );
    let render = helm::Install {
        release: &args.release,
        chart: &chart,
        namespace: &ns,
        values: &values,
        set_image: &set_image,
        post_renderer: None,
        timeout,
        history_max: policy.deploy.history_max,
        description: &description,
    };
    let mut record = Record::start(&admission, bb, redecision, &ns, &policy, args, started, warnings);

    // 3. Render, with the same values, every image pinned to the evidence's digests (hooks too, by bbgate).
    let t = Instant::now();
    let cluster = rt.block_on(connect(args))?;
    helm.set_kubeconfig(&cluster.helm_kubeconfig(&room)?);
    record.helm = helm.version.clone();
    let offline = crate::release::pin_rendered(&helm.template(&render)?, &pins.images, &policy);
    let manifests = manifest::parse(&offline)?;
    record.timings_ms.render = ms(t);

    // 4. Preflight and guard: every problem at once, before anything is written.
    let target = Target {
        rt: &rt,
        cluster: &cluster,
        helm: &helm,
        install: &render,
        namespace: &ns,
    };
    record.problems.extend(lookup_refusal(&policy, &chart)?);
    let judged = check_chart(args, &policy, bb, admitted, &target, manifests, &pins, &mut record)?;
    if !record.problems.is_empty() {
        record.finished_at = jiff::Timestamp::now().to_string();
        emit(args.format, &record, None)?;
        return Ok(exit::DENY);
    }
    if args.dry_run {
        record.status = Status::Checked;
        record.finished_at = jiff::Timestamp::now().to_string();
        emit(args.format, &record, None)?;
        return Ok(exit::PASS);
    }
    // The approval, when the policy names who may give it.
    if !policy.deploy.approvers.is_empty() {
        record.approved_by = Some(rt.block_on(approval::check(
            &policy.deploy.approvers,
            &args.circleci_api_url,
            &circleci,
        ))?);
    }
    // The Secrets the chart expects to find (certificates), before helm runs.
    record.secrets = rt.block_on(secrets::apply(&cluster.client, &ns, &args.release, &secret_files))?;
    // 5. Install exactly the render judged, 6. confirm.
    install_judged(args, admitted, &target, &room, judged, pins, &mut record)
}

/// helm in its sealed room: the admins' binary at its pinned sha256, the room's environment, and the proxies the
/// admins allow by name.
fn sealed_helm(args: &DeployArgs, room: &mut room::Room) -> Result<helm::Helm> {
    let proxies: Vec<&String> = args
        .allow_env
        .iter()
        .filter(|v| room::PROXIES.contains(&v.as_str()))
        .collect();
    room.pass(&proxies);
    let helm_path = seal::pinned_helm(room, &args.helm, args.helm_sha256.as_deref())?;
    helm::Helm::detect(&helm_path, room.env(None))
}

/// A chart that calls `lookup` is refused before helm renders it against the cluster (where lookup reads what
/// the deploy identity may read), unless the policy allows it.
fn lookup_refusal(policy: &Policy, chart: &Path) -> Result<Option<Diagnostic>> {
    if policy.deploy.lookup {
        return Ok(None);
    }
    let lookups = seal::lookups(chart)?;
    Ok((!lookups.is_empty()).then(|| {
        Diagnostic::error(
            "lookup-not-allowed",
            format!(
                "the chart's templates call lookup ({}): it reads the cluster as the deploy identity sees it (other \
                 Secrets, other namespaces) into the BB's objects; the policy does not allow it ([deploy] lookup)",
                lookups.join(", ")
            ),
        )
    }))
}

/// Install exactly the render judged: a chart bbgate writes from its documents, no values, and the post-renderer
/// refusing any difference between helm's install render and those documents; then confirm.
fn install_judged(
    args: &DeployArgs,
    admitted: &evidence::Admitted,
    target: &Target,
    room: &room::Room,
    judged: Judged,
    pins: Pins,
    record: &mut Record,
) -> Result<u8> {
    let chart = seal::judged_chart(room, &seal::ChartMeta::read(target.install.chart)?, &judged.documents)?;
    let post_renderer = write_pins(
        room,
        target.helm,
        Pins {
            judged: Some(judged.documents),
            ..pins
        },
    )?;
    let mut helm = target.helm.clone();
    helm.install_post_renderer(&post_renderer)?;
    let no_values = crate::values::Values::read(&Default::default(), &[])?;
    let install = helm::Install {
        chart: &chart,
        values: &no_values,
        set_image: &[],
        post_renderer: Some(&post_renderer),
        ..*target.install
    };
    // A fresh EKS token for the install (client-go rereads the token file).
    if let Some(token) = target.cluster.eks_token()? {
        seal::renew_token(room, &token)?;
    }
    let target = Target {
        install: &install,
        helm: &helm,
        ..*target
    };
    let timeout = install.timeout;
    install_and_confirm(
        args,
        admitted,
        &target,
        &judged.manifests,
        &post_renderer,
        timeout,
        record,
    )
}

/// The render deploy judged: the documents (as the API server reads them, images pinned) that it installs, and
/// the objects helm's builder makes of them, as the API server would store them.
struct Judged {
    documents: Vec<serde_json::Value>,
    manifests: Vec<manifest::Manifest>,
}

type Pins = crate::release::Pins;

impl Record {
    /// The record of a deploy that has passed admission, refused until it gets further.
    #[allow(clippy::too_many_arguments)]
    fn start(
        admission: &Admission,
        bb: &BuildingBlock,
        redecision: redecide::Redecision,
        ns: &str,
        policy: &Policy,
        args: &DeployArgs,
        started: jiff::Timestamp,
        warnings: Vec<String>,
    ) -> Record {
        let admitted = &admission.admitted;
        Record {
            approved_by: None,
            attestation: None,
            bundle: args.from_bundle.clone(),
            building_block: bb.name.clone(),
            decision: Some(redecision),
            evidence: admission.ev_path.clone(),
            evidence_sha256: admission.evidence_sha256.clone(),
            finished_at: String::new(),
            helm: String::new(),
            images: admitted.images.iter().map(|i| i.image.reference()).collect(),
            namespace: ns.to_owned(),
            problems: Vec::new(),
            rego: policy
                .deploy
                .rego
                .iter()
                .map(|m| format!("{} sha256:{}", m.path, m.sha256))
                .collect(),
            release: args.release.clone(),
            revision: None,
            rollout_events: Vec::new(),
            secrets: Vec::new(),
            started_at: started.to_string(),
            status: Status::Refused,
            tests: None,
            timings_ms: Timings::default(),
            warnings,
        }
    }
}

/// The flags deploy checks before it reads anything: returns `--timeout`.
fn check_args(args: &DeployArgs) -> Result<Duration> {
    let timeout = args.timeout;
    if !args.chart_path().join("Chart.yaml").is_file() {
        return Err(Error::invalid(format!(
            "--chart {}: no Chart.yaml there: give the BB repository's chart directory",
            args.chart_path().display()
        )));
    }
    Ok(timeout)
}

/// The evidence, read and admitted: which image, which inputs. Its verdict is a claim and must at least say
/// pass.
struct Admission {
    ev_path: String,
    evidence_sha256: String,
    admitted: evidence::Admitted,
}

fn admit<'p>(
    args: &DeployArgs,
    policy: &'p Policy,
    now: jiff::Timestamp,
    circleci: &crate::cli::CircleCi,
) -> Result<(Admission, &'p BuildingBlock)> {
    let ev_path = args.evidence_path().display().to_string();
    let bytes = crate::input::read(args.evidence_path(), crate::input::EVIDENCE)?;
    let evidence_sha256 = sha256_hex(&bytes);
    let to_denied = |e: Error| match e {
        Error::Invalid(p) => Error::Denied(p.join("\n")),
        other => other,
    };
    let body = crate::report::evidence::open(&ev_path, &bytes).map_err(to_denied)?;
    let claim = crate::report::evidence::read(&ev_path, &body).map_err(to_denied)?;
    // From a bundle the admins' own workflow deploys another workflow's evidence: the bundle's digest, which
    // the evidence is part of, binds it instead of the workflow id.
    let workflow = if args.from_bundle.is_some() {
        None
    } else {
        circleci.workflow_id.as_deref()
    };
    let admitted = evidence::check(&ev_path, &claim, policy, now, workflow).map_err(|p| Error::Denied(p.join("\n")))?;
    let bb = policy.building_block(&admitted.building_block).ok_or_else(|| {
        Error::Denied(format!(
            "building block {} is not in the policy",
            admitted.building_block
        ))
    })?;
    // The building block comes from the admins (the flag, or BBGATE_BUILDING_BLOCK of the restricted context),
    // never from the evidence the BB wrote: the namespace deploy installs into is this one's.
    let want = args.building_block.as_deref().ok_or_else(|| {
        Error::invalid(
            "deploy needs the building block from the admins: pass --building-block NAME, or set \
             BBGATE_BUILDING_BLOCK in the restricted deploy context",
        )
    })?;
    if want != bb.name {
        return Err(Error::Denied(format!(
            "{ev_path}: the evidence is for building block {}, but the admins' deploy is for {want} \
             (--building-block, BBGATE_BUILDING_BLOCK): evidence of another building block is refused",
            bb.name
        )));
    }
    Ok((
        Admission {
            ev_path,
            evidence_sha256,
            admitted,
        },
        bb,
    ))
}

/// Decide again, under the admins' policy, from the scan AWS holds (or the pages the evidence names), the
/// reports the evidence names and the admins' pinned sign-offs. Verify's verdict counts for nothing. Returns
/// the decision (a pass: anything else is refused here) and the warnings for the record.
fn decide_again(
    args: &DeployArgs,
    policy: &Policy,
    bb: &BuildingBlock,
    admission: &Admission,
    rt: &tokio::runtime::Runtime,
    now: jiff::Timestamp,
) -> Result<(redecide::Redecision, Vec<String>)> {
    let admitted = &admission.admitted;
    let pins = redecide::parse_pins(std::env::var(redecide::SIGNOFFS_PIN_ENV).ok().as_deref())?;
    let reports = redecide::load_reports(&args.api_reports, admitted)?;
    let signoff_files = redecide::load_signoffs(&args.signoffs, &pins, policy)?;
    let mut warnings = Vec::new();
    let aws_access = args.recheck_scan || args.eks_cluster.is_some();
    let (pages, scan_source) = if aws_access {
        if !args.findings.is_empty() {
            warnings.push("--findings ignored: deploy read the scan from ECR itself".to_owned());
        }
        (rt.block_on(scan_from_ecr(args, admitted))?, "ecr")
    } else if !args.findings.is_empty() {
        warnings.push(
            "the scan was taken from the saved pages the evidence names (same sha256), not read from ECR by deploy: \
             give deploy AWS access (--eks-cluster or --recheck-scan) so that the scan it decides on is AWS's"
                .to_owned(),
        );
        (redecide::load_saved_pages(&args.findings, admitted)?, "saved-pages")
    } else {
        return Err(Error::invalid(
            "deploy decides again and needs the image's scan: give it AWS access (--eks-cluster, or --recheck-scan) \
             to read the scan from ECR, or --findings with the pages the verify job saved",
        ));
    };
    let trusted = redecide::Trusted {
        pages,
        scan_source,
        reports,
        signoff_files,
    };
    let redecision = redecide::decide_again(policy, bb, admitted, trusted, now)?;
    if let Some(why) = redecision.refusal() {
        return Err(Error::Denied(why));
    }
    Ok((redecision, warnings))
}

/// `--set-image KEY` (a release of one image) or `KEY=REPOSITORY` (the evidence's image of that repository):
/// the chart value set to `REGISTRY/REPOSITORY@DIGEST`.
fn set_image(keys: &[String], admitted: &evidence::Admitted) -> Result<Vec<(String, String)>> {
    let repositories = || {
        admitted
            .images
            .iter()
            .map(|i| i.image.repository.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    keys.iter()
        .map(|k| {
            let (key, image) = match (k.split_once('='), admitted.images.as_slice()) {
                (Some((key, repo)), images) => {
                    let found = images.iter().find(|i| i.image.repository == repo).ok_or_else(|| {
                        Error::invalid(format!(
                            "--set-image {k}: the evidence has no image of repository {repo} (it has {})",
                            repositories()
                        ))
                    })?;
                    (key, found)
                }
                (None, [one]) => (k.as_str(), one),
                (None, _) => {
                    return Err(Error::invalid(format!(
                        "--set-image {k}: the release has {} images; say which with KEY=REPOSITORY (one of {}), or \
                         drop --set-image and let the post-renderer pin every image",
                        admitted.images.len(),
                        repositories()
                    )));
                }
            };
            Ok((key.to_owned(), image.image.reference()))
        })
        .collect()
}

/// What the post-renderer pins: the evidence's images, located under the admins' policy (by path and sha256).
fn pins(args: &DeployArgs, policy: &Policy, admitted: &evidence::Admitted) -> Result<Pins> {
    let policy_path = match &args.policy {
        Some(p) => Some(std::fs::canonicalize(p).map_err(|e| Error::read(p, e))?),
        None => None,
    };
    Ok(Pins {
        images: admitted.images.iter().map(|i| i.image.clone()).collect(),
        policy: policy_path,
        policy_sha256: policy.origin.sha256.clone(),
        judged: None,
        hooks_included: false,
        refusal: None,
    })
}

/// The pins file in the room, and the post-renderer: this very binary, which pins again and refuses any
/// difference from the judged documents (helm 4 hands it hooks too; helm 3.18 does not, and installs the
/// judged chart's hooks as judged).
fn write_pins(room: &room::Room, helm: &helm::Helm, pins: Pins) -> Result<helm::PostRenderer> {
    let exe = std::env::current_exe().map_err(|e| {
        Error::Undecidable(format!(
            "cannot find bbgate's own executable for helm's post-renderer: {e}"
        ))
    })?;
    let refusal = room.path().join("post-render-refusal.txt");
    let pins = Pins {
        hooks_included: helm.major >= 4,
        refusal: Some(refusal.clone()),
        ..pins
    };
    // Plain data: serialising cannot fail.
    let bytes = serde_json::to_vec_pretty(&pins).unwrap_or_default();
    let path = room.write_private("pins.json", &bytes)?;
    Ok(helm::PostRenderer {
        exe,
        pins: path,
        refusal,
    })
}

/// The chart given must be the chart verify judged, file for file, with the same values files in the same
/// order (`verify --chart` binds them in the evidence). Evidence of a release judged without its chart binds
/// none: the chart is then judged by deploy's guard alone, and the record says so.
fn bind_chart(
    args: &DeployArgs,
    copy: &Path,
    values: &crate::values::Values,
    admitted: &evidence::Admitted,
    warnings: &mut Vec<String>,
) -> Result<()> {
    let Some(judged) = &admitted.chart else {
        warnings.push(
            "the evidence binds no chart (verify ran without --chart): the chart installed was judged by deploy's \
             guard alone; verify the release with --chart to bind its files and values"
                .to_owned(),
        );
        return Ok(());
    };
    let given = crate::release::chart_content(copy)?;
    let mut problems: Vec<String> = crate::release::chart_changes(&judged.files, &given.files)
        .into_iter()
        .map(|c| format!("--chart {}: {c} since verify judged it", args.chart_path().display()))
        .collect();
    // The room's copies, which helm reads, in the order given (the admins' own files, after a bundle's, were
    // held to the settable keys when the bundle was fetched).
    let judged_count = values.given_files().count() - args.admin_values.len();
    let values: Vec<String> = values
        .given_files()
        .take(judged_count)
        .map(|v| crate::input::read(v, crate::input::VALUES).map(|b| crate::policy::sha256_hex(&b)))
        .collect::<Result<_>>()?;
    let judged_values: Vec<&str> = judged.values.iter().map(|v| v.sha256.as_str()).collect();
    if values != judged_values {
        problems.push(format!(
            "--values: deploy was given {} values file(s) ({}), but verify judged the chart with {} ({}): give the \
             same files, in the same order",
            values.len(),
            args.values
                .values
                .iter()
                .map(|v| v.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            judged.values.len(),
            judged
                .values
                .iter()
                .map(|v| v.path.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(Error::Denied(format!(
        "the chart given is not the chart the evidence judged (chart {} {}, content sha256 {}):\n{}",
        judged.name,
        judged.version,
        judged.content_sha256,
        problems.join("\n")
    )))
}

/// The values deploy gives helm: no key of an image (the post-renderer and `--set-image` pin those) but the ones
/// verify judged the chart with (GovStack pipelines set `image.tag` with `--set-string`: the reference they make
/// is pinned to the digest judged under that tag, or refused by the guard), and secrets only for the policy's
/// `[deploy] secret_keys`.
fn deploy_values(
    args: &DeployArgs,
    policy: &Policy,
    set_image: &[(String, String)],
    admitted: &evidence::Admitted,
) -> Result<crate::values::Values> {
    let mut problems = Vec::new();
    for kv in &args.values.set_secret {
        let key = kv.split_once('=').map_or(kv.as_str(), |(k, _)| k);
        if !policy.deploy.secret_keys.iter().any(|s| s == key) {
            problems.push(format!(
                "--set-secret {key}: not one of the policy's [deploy] secret_keys ({}): a secret is never bound in the \
                 evidence, so only keys the admins list may carry one",
                if policy.deploy.secret_keys.is_empty() {
                    "none".to_owned()
                } else {
                    policy.deploy.secret_keys.join(", ")
                }
            ));
        }
    }
    let values = crate::values::Values::read(&args.values, &policy.deploy.secret_keys)?;
    // Each value given, and whether verify judged the chart with it (a secret never is).
    let judged: &[crate::values::SetRecord] = admitted.chart.as_ref().map_or(&[], |c| &c.sets);
    let keys = values
        .bound
        .iter()
        .map(|b| (b.flag.as_str(), b.key.as_str(), judged.iter().any(|j| same_value(j, b))));
    let secret = values.secret_keys.iter().map(|k| ("--set-secret", k.as_str(), false));
    for (flag, key, was_judged) in keys.chain(secret) {
        let pinned_by_deploy = set_image.iter().any(|(k, _)| k == key);
        if pinned_by_deploy || (crate::values::is_image_key(key) && !was_judged) {
            problems.push(format!(
                "{flag} {key}: a key of an image: deploy pins every image to the evidence's digests (the \
                 post-renderer, --set-image), and no value may set one but the ones verify judged the chart with{}",
                if pinned_by_deploy {
                    " (this key is --set-image's)"
                } else {
                    ""
                }
            ));
        }
    }
    if problems.is_empty() {
        Ok(values)
    } else {
        Err(Error::Invalid(problems))
    }
}

/// The value verify judged, given again: same flag, key and value; or, for a key of an image, the same text
/// given with `--set` where verify had `--set-string` or the other way round (the reference it makes is pinned
/// to a judged digest, or refused, whatever its YAML type).
fn same_value(judged: &crate::values::SetRecord, given: &crate::values::SetRecord) -> bool {
    let plain = |f: &str| f == "--set" || f == "--set-string";
    judged == given
        || (judged.key == given.key
            && judged.sha256 == given.sha256
            && crate::values::is_image_key(&given.key)
            && plain(&judged.flag)
            && plain(&given.flag))
}

/// The `--set` values must be the ones verify judged (same flag, key and value sha256), beyond which deploy may
/// set only the policy's `[deploy] settable` keys; the record says which it set.
fn bind_sets(
    values: &crate::values::Values,
    policy: &Policy,
    admitted: &evidence::Admitted,
    warnings: &mut Vec<String>,
) -> Result<()> {
    let judged: &[crate::values::SetRecord] = admitted.chart.as_ref().map_or(&[], |c| &c.sets);
    let settable = |k: &str| policy.deploy.settable.iter().any(|s| s == k);
    let mut problems = Vec::new();
    let mut extra = Vec::new();
    for b in &values.bound {
        if judged.iter().any(|j| same_value(j, b)) {
            continue;
        }
        if settable(&b.key) {
            extra.push(format!("{} {}", b.flag, b.key));
        } else if admitted.chart.is_some() {
            problems.push(format!(
                "{} {}: not a value verify judged the chart with, and not one the policy lets deploy set ([deploy] \
                 settable): give verify --chart the same values",
                b.flag, b.key
            ));
        }
    }
    for j in judged {
        if !values.bound.iter().any(|b| same_value(j, b)) && !settable(&j.key) {
            problems.push(format!(
                "{} {}: verify judged the chart with this value; give deploy the same",
                j.flag, j.key
            ));
        }
    }
    if !extra.is_empty() {
        warnings.push(format!(
            "values set at deploy beyond the ones verify judged ([deploy] settable): {}",
            extra.join(", ")
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Denied(format!(
            "the values given are not the values the evidence judged:\n{}",
            problems.join("\n")
        )))
    }
}

/// The namespace: the building block's, from the policy; `--namespace` may only repeat it.
fn bind(args: &DeployArgs, bb: &BuildingBlock) -> Result<String> {
    let ns = bb.namespace.clone();
    if let Some(asked) = &args.namespace
        && *asked != ns
    {
        return Err(Error::invalid(format!(
            "--namespace {asked}: building block {} deploys only into its namespace {ns} (from the policy); \
             drop --namespace or repeat it",
            bb.name
        )));
    }
    Ok(ns)
}

/// Where the release goes and with what: the cluster, helm and the install.
struct Target<'a> {
    rt: &'a tokio::runtime::Runtime,
    cluster: &'a Cluster,
    helm: &'a helm::Helm,
    install: &'a helm::Install<'a>,
    namespace: &'a str,
}

/// Preflight the namespace, then the guard and the Rego rules on the offline render, on the render helm will
/// install, and on what the API server would store. Problems and warnings go into the record; returns the
/// render judged.
#[allow(clippy::too_many_arguments)]
fn check_chart(
    args: &DeployArgs,
    policy: &Policy,
    bb: &BuildingBlock,
    admitted: &evidence::Admitted,
    target: &Target,
    manifests: Vec<manifest::Manifest>,
    pins: &Pins,
    record: &mut Record,
) -> Result<Judged> {
    let (rt, client, ns) = (target.rt, &target.cluster.client, target.namespace);
    // Problems found before the cluster was asked anything (a `lookup` the policy refuses) count too: with any,
    // helm never renders the chart against the cluster.
    let early = std::mem::take(&mut record.problems);
    let t = Instant::now();
    let pre = rt.block_on(preflight::run(
        client,
        ns,
        &args.release,
        &manifests,
        &policy.deploy.pod_security,
        &bb.peers,
    ))?;
    record.timings_ms.preflight = ms(t);
    let registries = if policy.deploy.registries.is_empty() {
        let mut own: Vec<String> = admitted.images.iter().map(|i| i.image.registry.clone()).collect();
        own.dedup();
        own
    } else {
        // The admins' list, and the building block's own ECR registries elsewhere (a vendor's account).
        let mut allowed = policy.deploy.registries.clone();
        allowed.extend(
            bb.registries
                .iter()
                .filter(|r| matches!(r.kind, bbgate_core::policy::registries::Kind::Ecr { .. }))
                .map(|r| r.registry.clone()),
        );
        allowed
    };
    // On an upgrade the release's own pods are part of the quota's `used`: compare against the hard limit.
    let quota_left = if pre.revision.is_some() {
        None
    } else {
        pre.quota_left.clone()
    };
    let rules = guard::Rules {
        quota_left,
        images: Some(&admitted.images),
        registries: &registries,
        ..guard::Rules::of(policy, bb, ns)
    };
    // The offline render first: its problems are named even when the cluster could not render the chart (a
    // kind it does not serve, a List).
    let mut findings = judge(&manifests, &rules, policy)?;
    let mut judged = Judged {
        documents: Vec::new(),
        manifests,
    };
    // Then the one render deploy installs: helm's, against the cluster (`lookup`, capabilities, an upgrade),
    // every image pinned by bbgate (hooks included), flattened as helm's builder flattens it.
    if early.is_empty() && pre.problems.is_empty() && findings.problems.is_empty() {
        let t = Instant::now();
        let text = crate::release::pin_rendered(&target.helm.server_render(target.install)?, &pins.images, policy);
        let documents = manifest::documents(&text)?;
        let server = manifest::parse_documents(documents.clone())?;
        findings = judge(&server, &rules, policy)?;
        // And as the API server would store each object (defaults, mutating admission): judged once more.
        judged.manifests = if findings.problems.is_empty() {
            let (stored, refused) = rt.block_on(preflight::as_stored(client, ns, server))?;
            findings = judge(&stored, &rules, policy)?;
            findings.problems.extend(refused);
            stored
        } else {
            server
        };
        judged.documents = documents.into_iter().map(|(_, v)| v).collect();
        record.timings_ms.preflight += ms(t);
    }
    record.problems = early;
    record.problems.extend(pre.problems);
    record.problems.extend(findings.problems);
    record.warnings.extend(findings.warnings);
    Ok(judged)
}

/// Install the judged chart, pinned by digest (helm rolls back on failure), confirm the workloads and the
/// chart's tests, then write the record. Returns the exit code.
fn install_and_confirm(
    args: &DeployArgs,
    admitted: &evidence::Admitted,
    target: &Target,
    manifests: &[manifest::Manifest],
    post_renderer: &helm::PostRenderer,
    timeout: Duration,
    record: &mut Record,
) -> Result<u8> {
    let (rt, client, ns, helm) = (target.rt, &target.cluster.client, target.namespace, target.helm);
    let t = Instant::now();
    let install_args = helm.install_args(target.install);
    eprintln!("bbgate: {}", helm.printable(&install_args));
    let out = helm.run_live(&install_args, "install the release")?;
    record.timings_ms.install = ms(t);
    let helm_text = helm::redact(
        &format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        &helm.redact,
    );
    let workloads: Vec<String> = manifests
        .iter()
        .filter(|m| matches!(m.kind(), "Deployment" | "StatefulSet" | "DaemonSet" | "Job"))
        .map(|m| m.name().to_owned())
        .collect();
    let finish = |record: &mut Record, status: Status| -> Result<()> {
        record.status = status;
        record.finished_at = jiff::Timestamp::now().to_string();
        finish_record(args, rt, record, admitted)
    };
    // The post-renderer refused helm's install render: nothing was installed, and the record names why.
    if !out.status.success()
        && let Ok(why) = std::fs::read_to_string(&post_renderer.refusal)
    {
        for line in why.lines().filter(|l| !l.trim().is_empty()) {
            record.problems.push(Diagnostic::error(
                "render-differs",
                format!("{line}: helm's render at install is not the render judged, so nothing was installed"),
            ));
        }
        finish(record, Status::Refused)?;
        emit(args.format, record, None)?;
        return Ok(exit::DENY);
    }
    if !out.status.success()
        && let Some(why) = helm::ownership_conflict(&helm_text, &args.release)
    {
        record.problems.push(Diagnostic::error("ownership-conflict", why));
        finish(record, Status::Refused)?;
        emit(args.format, record, Some(&helm_text))?;
        return Ok(exit::DENY);
    }
    if !out.status.success() {
        record.rollout_events = rt.block_on(pod_events(client, ns, &workloads));
        record.problems.push(Diagnostic::error(
            "helm-install-failed",
            format!(
                "helm {} upgrade --install failed: {}",
                helm.version,
                helm_text.trim().lines().last().unwrap_or("(no message)")
            ),
        ));
        finish(record, Status::Failed)?;
        emit(args.format, record, Some(&helm_text))?;
        // A rollout that did not finish in time is the BB's failure (1); anything else (the API refused a
        // write, the connection failed) is the cluster's or the tool's: nothing was decided (3).
        return Ok(if rollout_timed_out(&helm_text) {
            exit::DENY
        } else {
            exit::UNDECIDABLE
        });
    }

    // Confirm: the workloads available, the chart's tests passed, then the record.
    let t = Instant::now();
    if let Err(e) = rt.block_on(confirm(client, ns, manifests, Duration::from_secs(60).min(timeout))) {
        record.rollout_events = rt.block_on(pod_events(client, ns, &workloads));
        record
            .problems
            .push(Diagnostic::error("rollout-unconfirmed", e.to_string()));
        finish(record, Status::Failed)?;
        emit(args.format, record, None)?;
        return Ok(exit::UNDECIDABLE);
    }
    if manifests.iter().any(|m| {
        m.hook()
            .is_some_and(|h| h.split(',').any(|h| h.trim().starts_with("test")))
    }) {
        let out = helm.test(&args.release, ns, timeout)?;
        record.tests = Some(if out.status.success() { "passed" } else { "failed" });
        if !out.status.success() {
            record.problems.push(Diagnostic::error(
                "helm-test-failed",
                format!(
                    "helm test {} failed: {}",
                    args.release,
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            ));
        }
    }
    record.revision = rt.block_on(latest_revision(client, ns, &args.release));
    record.timings_ms.confirm = ms(t);
    let failed_tests = record.tests == Some("failed");
    finish(record, if failed_tests { Status::Failed } else { Status::Deployed })?;
    emit(args.format, record, None)?;
    Ok(if failed_tests { exit::DENY } else { exit::PASS })
}

/// The guard and the policy's Rego rules on one reading of the chart's objects.
pub(crate) fn judge(
    manifests: &[manifest::Manifest],
    rules: &guard::Rules,
    policy: &Policy,
) -> Result<guard::Findings> {
    let mut findings = guard::check(manifests, rules);
    guard::rego(&policy.deploy.rego, manifests, &mut findings)?;
    Ok(findings)
}

/// Read the scan of every image the evidence names from ECR with the deploy's AWS identity: the same
/// acquisition as verify (the fail-closed wait, every page, the completeness checks).
async fn scan_from_ecr(args: &DeployArgs, admitted: &evidence::Admitted) -> Result<Vec<crate::findings::ecr::Page>> {
    use crate::aws::ecr as aws_ecr;
    let wait = aws_ecr::Wait {
        timeout: Duration::from_secs(300),
        poll_interval: args.poll_interval,
    };
    let images: Vec<aws_ecr::ImageAt> = admitted
        .images
        .iter()
        .map(|i| aws_ecr::ImageAt {
            host: Some(&i.image.registry),
            repository: &i.image.repository,
            digest: &i.image.digest,
        })
        .collect();
    // One identity for the release (an STS call per region, not per image), as verify reads it; one image at a
    // time, as deploy always read them.
    let scanned = aws_ecr::acquire_all(&images, &args.aws, wait, 1).await?;
    Ok(scanned
        .into_iter()
        .flat_map(|s| s.pages.into_iter().map(|p| p.page))
        .collect())
}

/// helm's words for a wait that ran out of time (helm 3's waiter, helm 4's kstatus watcher).
fn rollout_timed_out(helm_output: &str) -> bool {
    [
        "context deadline exceeded",
        "timed out waiting",
        "timed out",
        "resource not ready",
    ]
    .iter()
    .any(|s| helm_output.contains(s))
}

/// The release's latest deployed revision, for the record (None when the history cannot be read).
async fn latest_revision(client: &Client, ns: &str, release: &str) -> Option<u32> {
    let history = preflight::release_history(client, ns, release).await.ok()?;
    history
        .into_iter()
        .rev()
        .find(|(_, status)| status == "deployed")
        .map(|(v, _)| v)
}

/// `--record FILE`, else `deploy-record.json` beside the evidence.
fn record_path(args: &DeployArgs) -> PathBuf {
    args.record.clone().unwrap_or_else(|| {
        // From a bundle, the evidence is in a directory removed after the deploy: the record goes here.
        if args.from_bundle.is_some() {
            return PathBuf::from("deploy-record.json");
        }
        args.evidence_path()
            .parent()
            .unwrap_or(std::path::Path::new("."))
            .join("deploy-record.json")
    })
}

/// Write the record and, with `--kms-key-id`, deploy's signed attestation of it.
fn finish_record(
    args: &DeployArgs,
    rt: &tokio::runtime::Runtime,
    record: &mut Record,
    admitted: &evidence::Admitted,
) -> Result<()> {
    let path = record_path(args);
    let att_path = args.kms_key_id.as_ref().map(|_| {
        args.attestation
            .clone()
            .unwrap_or_else(|| path.with_file_name("deploy-attestation.dsse.json"))
    });
    record.attestation = att_path.as_ref().map(|p| p.display().to_string());
    // Strings, numbers and string lists only: serialising cannot fail.
    let mut bytes = serde_json::to_vec_pretty(record).expect("a record serialises");
    bytes.push(b'\n');
    std::fs::write(&path, &bytes).map_err(|e| Error::write(&path, e))?;
    let (Some(key), Some(att_path)) = (&args.kms_key_id, att_path) else {
        return Ok(());
    };
    let statement = statement(record, admitted, &sha256_hex(&bytes));
    // A serde_json::Value: serialising one cannot fail (its keys are strings).
    let payload = serde_json::to_vec(&statement).expect("a statement serialises");
    let envelope = rt.block_on(async {
        let region = crate::aws::region(kms_region(key).as_deref())?;
        let calls = crate::aws::CallCounter::default();
        let (conf, _) = crate::aws::config(
            &region,
            args.aws.role_arn.as_deref(),
            args.aws.session_name.as_deref(),
            &calls,
        )
        .await?;
        let kms = aws_sdk_kms::Client::from_conf(aws_sdk_kms::config::Builder::from(&conf).interceptor(calls).build());
        crate::attest::sign_kms(&kms, key, &payload).await
    })?;
    // Strings only: serialising cannot fail.
    let mut out = serde_json::to_vec_pretty(&envelope).expect("an envelope serialises");
    out.push(b'\n');
    std::fs::write(&att_path, out).map_err(|e| Error::write(&att_path, e))
}

/// The region of a KMS key ARN (`arn:aws:kms:REGION:ACCOUNT:key/…`); ids and aliases use the configured one.
fn kms_region(key: &str) -> Option<String> {
    let mut parts = key.split(':');
    (parts.next() == Some("arn"))
        .then(|| parts.nth(2).map(str::to_owned))
        .flatten()
}

/// The in-toto Statement deploy signs: what it decided and installed, bound to the record's bytes.
fn statement(record: &Record, admitted: &evidence::Admitted, record_sha256: &str) -> serde_json::Value {
    let d = record.decision.as_ref();
    serde_json::json!({
        "_type": crate::attest::STATEMENT_TYPE,
        "subject": admitted.images.iter().map(|i| serde_json::json!({
            "name": format!("{}/{}", i.image.registry, i.image.repository),
            "digest": { "sha256": i.image.digest.trim_start_matches("sha256:") },
        })).collect::<Vec<_>>(),
        "predicateType": crate::attest::DEPLOY_PREDICATE,
        "predicate": {
            "approved_by": record.approved_by,
            "building_block": record.building_block,
            "decision": d.map(|d| serde_json::json!({
                "api_reports": d.api_reports.iter().map(|f| &f.sha256).collect::<Vec<_>>(),
                "scan_source": d.scan_source,
                "signoff_files": d.signoff_files.iter().map(|f| &f.sha256).collect::<Vec<_>>(),
                "verdict": d.verdict,
            })),
            "evidence": { "sha256": record.evidence_sha256 },
            "finished_at": record.finished_at,
            "helm": record.helm,
            "namespace": record.namespace,
            "record": { "sha256": record_sha256 },
            "release": record.release,
            "revision": record.revision,
            "started_at": record.started_at,
            "status": record.status,
            "verifier": { "id": crate::report::evidence::VERIFIER_ID, "version": env!("CARGO_PKG_VERSION") },
        }
    })
}
