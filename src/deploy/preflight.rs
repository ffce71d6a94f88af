//! Preflight of the BB's namespace with the `kube` crate, before helm runs: it exists (bbgate never creates
//! it), a NetworkPolicy isolates it, a ResourceQuota reserves its capacity, the pipeline may do what the
//! chart needs there, and the release is not stuck half-way. Every failure names what is missing.

use super::guard::{Resources, quantity};
use super::manifest::Manifest;
use crate::diag::Diagnostic;
use crate::error::{Error, Result};
use crate::policy::peers::Peer;
use futures_util::StreamExt;
use k8s_openapi::api::authorization::v1::SelfSubjectAccessReview;
use k8s_openapi::api::core::v1::{Namespace, ResourceQuota, Secret};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::api::{Api, ApiResource, ListParams, PostParams};
use kube::discovery::ApiCapabilities;
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// What helm does to the objects of a release (helm 4 adds watch for its waiter).
pub(crate) const VERBS: &[&str] = &["get", "list", "watch", "create", "update", "patch", "delete"];

pub(crate) struct Outcome {
    pub(crate) problems: Vec<Diagnostic>,
    /// The quota with the least left, and what it has left.
    pub(crate) quota_left: Option<(String, Resources)>,
    /// The release's latest revision, if it exists.
    pub(crate) revision: Option<u32>,
}

/// A cluster failure: nothing could be decided (exit 3).
pub(crate) fn cluster_error(what: &str, e: kube::Error) -> Error {
    let detail = match &e {
        kube::Error::Api(s) => format!("{} {}: {}", s.code, s.reason, s.message),
        other => crate::error::chain(other),
    };
    Error::Undecidable(format!("the cluster failed while {what}: {detail}"))
}

/// Does this NetworkPolicy select every pod and admit ingress only from the namespace itself?
/// Returns (isolates, leaks): `isolates` when it selects all pods for Ingress; `leaks` names a rule that
/// admits traffic from outside the namespace.
pub(crate) fn network_policy(ns: &str, np: &NetworkPolicy, peers: &[Peer]) -> (bool, Vec<String>) {
    let name = np.metadata.name.as_deref().unwrap_or("?");
    let Some(spec) = &np.spec else {
        return (false, Vec::new());
    };
    // `podSelector: {}` selects every pod; an absent one is not counted (fail closed).
    let selects_all = spec.pod_selector.as_ref().is_some_and(|sel| {
        sel.match_labels.as_ref().is_none_or(|m| m.is_empty())
            && sel.match_expressions.as_ref().is_none_or(|m| m.is_empty())
    });
    // With no policyTypes, Ingress is implied (the API's default).
    let ingress_type = spec
        .policy_types
        .as_ref()
        .is_none_or(|t| t.is_empty() || t.iter().any(|t| t == "Ingress"));
    let mut leaks = Vec::new();
    if ingress_type {
        for (i, rule) in spec.ingress.iter().flatten().enumerate() {
            let from = rule.from.as_deref().unwrap_or_default();
            if from.is_empty() {
                leaks.push(format!(
                    "NetworkPolicy {name}: ingress rule {} has no `from`, so it admits traffic from anywhere",
                    i + 1
                ));
                continue;
            }
            for peer in from {
                if let Some(other) = other_namespace(peer, ns) {
                    if let Err(why) = peer_admitted(peers, other, true, rule.ports.as_deref()) {
                        leaks.push(format!("NetworkPolicy {name}: ingress rule {} {why}", i + 1));
                    }
                    continue;
                }
                if peer.ip_block.is_some() {
                    leaks.push(format!(
                        "NetworkPolicy {name}: ingress rule {} admits an ipBlock (traffic from outside the namespace)",
                        i + 1
                    ));
                }
                if let Some(sel) = &peer.namespace_selector
                    && !selects_only(sel, ns)
                {
                    leaks.push(format!(
                        "NetworkPolicy {name}: ingress rule {} admits pods of other namespaces (namespaceSelector {})",
                        i + 1,
                        serde_json::to_string(sel).unwrap_or_default()
                    ));
                }
            }
        }
    }
    (selects_all && ingress_type, leaks)
}

/// Does a namespaceSelector select the namespace `ns` and nothing else (its `kubernetes.io/metadata.name` label
/// alone)?
fn selects_only(sel: &k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector, ns: &str) -> bool {
    only_namespace(sel) == Some(ns)
}

/// The one namespace a namespaceSelector selects by its `kubernetes.io/metadata.name` label alone, if it does.
fn only_namespace(sel: &k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector) -> Option<&str> {
    let labels = sel.match_labels.as_ref()?;
    (labels.len() == 1 && sel.match_expressions.as_ref().is_none_or(|e| e.is_empty()))
        .then(|| labels.get("kubernetes.io/metadata.name").map(String::as_str))
        .flatten()
}

/// The one other namespace a rule's peer names by its name label alone (and no ipBlock): what
/// `[[building_block.peers]]` may admit.
fn other_namespace<'p>(peer: &'p k8s_openapi::api::networking::v1::NetworkPolicyPeer, ns: &str) -> Option<&'p str> {
    peer.namespace_selector
        .as_ref()
        .and_then(only_namespace)
        .filter(|o| *o != ns && peer.ip_block.is_none())
}

/// Is traffic with the peer namespace `other`, this way, on the rule's ports, one the building block's
/// `[[building_block.peers]]` lists? The reason when it is not, for the leak's message.
fn peer_admitted(
    peers: &[Peer],
    other: &str,
    ingress: bool,
    ports: Option<&[k8s_openapi::api::networking::v1::NetworkPolicyPort]>,
) -> std::result::Result<(), String> {
    let way = if ingress {
        "admits pods of namespace"
    } else {
        "lets the BB reach pods of namespace"
    };
    let listed = || {
        peers
            .iter()
            .filter(|p| p.namespace == other)
            .map(|p| format!("{:?} on {:?}", p.direction, p.ports))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let mut numbers = Vec::new();
    for p in ports.unwrap_or_default() {
        let proto = p.protocol.as_deref().unwrap_or("TCP");
        let port = match &p.port {
            Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(n)) => u16::try_from(*n).ok(),
            _ => None,
        };
        let Some(port) = port.filter(|_| proto == "TCP" && p.end_port.is_none()) else {
            return Err(format!(
                "{way} {other} on a port that is not one TCP port number (a named port, a range or {proto}): list \
                 the peer's ports by number"
            ));
        };
        numbers.push(port);
    }
    if numbers.is_empty() {
        return Err(format!(
            "{way} {other} on every port: name the ports ([[building_block.peers]] lists {})",
            if listed().is_empty() {
                "none for it".to_owned()
            } else {
                listed()
            }
        ));
    }
    if crate::policy::peers::admits(peers, other, ingress, &numbers) {
        return Ok(());
    }
    Err(format!(
        "{way} {other} on port(s) {numbers:?}, which the policy does not list for it ([[building_block.peers]]: {})",
        if listed().is_empty() {
            "none".to_owned()
        } else {
            listed()
        }
    ))
}

/// The instance metadata service (IPv4 and IPv6): the node's AWS credentials, whatever the policy allows.
const METADATA: &[&str] = &["169.254.169.254", "fd00:ec2::254"];

/// What a NetworkPolicy's egress rules open beyond the namespace: an empty `to` (anywhere), an ipBlock that
/// reaches the instance metadata service (always refused) or that the policy's `[deploy] egress` CIDRs do not
/// list, a namespaceSelector other than the namespace's own. With no `Egress` in policyTypes (and no egress
/// rules), egress is not restricted by this policy and nothing is opened by it.
pub(crate) fn network_policy_egress(ns: &str, np: &NetworkPolicy, allowed: &[String], peers: &[Peer]) -> Vec<String> {
    let name = np.metadata.name.as_deref().unwrap_or("?");
    let Some(spec) = &np.spec else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, rule) in spec.egress.iter().flatten().enumerate() {
        let n = i + 1;
        let to = rule.to.as_deref().unwrap_or_default();
        if to.is_empty() {
            out.push(format!(
                "NetworkPolicy {name}: egress rule {n} has no `to`, so the BB's pods may reach anywhere (other \
                 namespaces, the node's metadata service at 169.254.169.254)"
            ));
            continue;
        }
        for peer in to {
            if let Some(other) = other_namespace(peer, ns) {
                if let Err(why) = peer_admitted(peers, other, false, rule.ports.as_deref()) {
                    out.push(format!("NetworkPolicy {name}: egress rule {n} {why}"));
                }
                continue;
            }
            if let Some(block) = &peer.ip_block {
                let excepted = |ip: &str| {
                    block
                        .except
                        .iter()
                        .flatten()
                        .any(|e| cidr_contains(e, ip).unwrap_or(false))
                };
                if let Some(ip) = METADATA
                    .iter()
                    .find(|ip| cidr_contains(&block.cidr, ip).unwrap_or(true) && !excepted(ip))
                {
                    out.push(format!(
                        "NetworkPolicy {name}: egress rule {n} opens {} to the BB, which includes the instance \
                         metadata service {ip} (the node's AWS credentials): except it",
                        block.cidr
                    ));
                } else if !allowed.iter().any(|a| a == &block.cidr) {
                    out.push(format!(
                        "NetworkPolicy {name}: egress rule {n} opens {} to the BB, which the policy does not list \
                         ([deploy] egress)",
                        block.cidr
                    ));
                }
            }
            if let Some(sel) = &peer.namespace_selector
                && !selects_only(sel, ns)
            {
                out.push(format!(
                    "NetworkPolicy {name}: egress rule {n} lets the BB reach pods of other namespaces \
                     (namespaceSelector {})",
                    serde_json::to_string(sel).unwrap_or_default()
                ));
            }
        }
    }
    out
}

/// Does CIDR `cidr` contain address `ip` (both IPv4 or both IPv6)? None when either does not parse.
pub(crate) fn cidr_contains(cidr: &str, ip: &str) -> Option<bool> {
    let (net, bits) = cidr.split_once('/')?;
    let bits: u32 = bits.parse().ok()?;
    let net: std::net::IpAddr = net.parse().ok()?;
    let ip: std::net::IpAddr = ip.parse().ok()?;
    let (n, a, width) = match (net, ip) {
        (std::net::IpAddr::V4(n), std::net::IpAddr::V4(a)) => (u128::from(u32::from(n)), u128::from(u32::from(a)), 32),
        (std::net::IpAddr::V6(n), std::net::IpAddr::V6(a)) => (u128::from(n), u128::from(a), 128),
        _ => return Some(false),
    };
    if bits > width {
        return None;
    }
    if bits == 0 {
        return Some(true);
    }
    let shift = width - bits;
    Some((n >> shift) == (a >> shift))
}

/// Quota keys that must be set, with the alternative spelling Kubernetes accepts for requests.
const QUOTA_KEYS: &[(&str, &str)] = &[
    ("requests.cpu", "cpu"),
    ("requests.memory", "memory"),
    ("limits.cpu", "limits.cpu"),
    ("limits.memory", "limits.memory"),
];

/// What a quota has left (hard - used), if it sets all four keys.
pub(crate) fn quota_left(q: &ResourceQuota) -> std::result::Result<Resources, Vec<&'static str>> {
    let hard = q.spec.as_ref().and_then(|s| s.hard.as_ref());
    let used = q.status.as_ref().and_then(|s| s.used.as_ref());
    let get = |map: Option<&std::collections::BTreeMap<String, Quantity>>, key: &str| {
        map.and_then(|m| m.get(key))
            .and_then(|q| quantity(&Value::String(q.0.clone())))
    };
    let mut missing = Vec::new();
    let mut left = [0.0; 4];
    for (i, (key, alt)) in QUOTA_KEYS.iter().enumerate() {
        let h = get(hard, key).or_else(|| get(hard, alt));
        let u = get(used, key).or_else(|| get(used, alt)).unwrap_or(0.0);
        match h {
            Some(h) => left[i] = h - u,
            None => missing.push(*key),
        }
    }
    if missing.is_empty() {
        Ok(Resources {
            requests_cpu: left[0],
            requests_memory: left[1],
            limits_cpu: left[2],
            limits_memory: left[3],
        })
    } else {
        Err(missing)
    }
}

/// Where the cluster serves `api_version` `kind`. The inner `Err` says it does not serve it (a refusal naming
/// the kind, not a failure to decide): the group is unknown (404), or served without this kind (kube-rs's
/// Discovery error). The outer `Err` is discovery itself failing.
async fn served(
    client: &Client,
    api_version: &str,
    kind: &str,
) -> Result<std::result::Result<(ApiResource, ApiCapabilities), String>> {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let gvk = kube::api::GroupVersionKind::gvk(group, version, kind);
    match kube::discovery::pinned_kind(client, &gvk).await {
        Ok(found) => Ok(Ok(found)),
        Err(kube::Error::Api(s)) if s.code == 404 => {
            Ok(Err(format!("the cluster does not serve {api_version} {kind}")))
        }
        Err(kube::Error::Discovery(e)) => Ok(Err(format!("the cluster does not serve {api_version} {kind} ({e})"))),
        Err(e) => Err(cluster_error(&format!("discovering {api_version} {kind}"), e)),
    }
}

/// Every object as the API server would store it: a server-side apply with `dryRun=All` (defaults and
/// mutating admission applied, nothing kept), 8 at a time, each kind discovered once. The guard judges these,
/// not the text helm rendered. An object the API server refuses (invalid, or denied by admission) is a
/// problem naming it.
pub(crate) async fn as_stored(
    client: &Client,
    ns: &str,
    manifests: Vec<Manifest>,
) -> Result<(Vec<Manifest>, Vec<Diagnostic>)> {
    use kube::api::{DynamicObject, Patch, PatchParams};
    use kube::discovery::Scope;
    let mut kinds = std::collections::BTreeMap::new();
    for m in &manifests {
        if let std::collections::btree_map::Entry::Vacant(e) =
            kinds.entry((m.api_version().to_owned(), m.kind().to_owned()))
        {
            let found = served(client, &e.key().0, &e.key().1).await?;
            e.insert(found);
        }
    }
    let kinds = &kinds;
    let one = |m: Manifest| async move {
        let name = m.name().to_owned();
        if name.is_empty() {
            return Ok((Some(m), None));
        }
        let (ar, caps) = match &kinds[&(m.api_version().to_owned(), m.kind().to_owned())] {
            Ok(found) => found,
            Err(why) => return Ok((None, Some(format!("{}: {why}", m.label())))),
        };
        let api: Api<DynamicObject> = if caps.scope == Scope::Namespaced {
            Api::namespaced_with(client.clone(), ns, ar)
        } else {
            Api::all_with(client.clone(), ar)
        };
        let mut object = m.object.clone();
        if caps.scope == Scope::Namespaced {
            object["metadata"]["namespace"] = json!(ns);
        }
        let params = PatchParams::apply("bbgate-guard").force().dry_run();
        match api.patch(&name, &params, &Patch::Apply(&object)).await {
            Ok(stored) => {
                let object = serde_json::to_value(stored)
                    .map_err(|e| Error::Undecidable(format!("{}: the stored object is not JSON: {e}", m.label())))?;
                Ok((
                    Some(Manifest {
                        source: m.source.clone(),
                        object,
                    }),
                    None,
                ))
            }
            Err(kube::Error::Api(s)) if (400..500).contains(&s.code) && s.code != 401 && s.code != 429 => Ok((
                None,
                Some(format!(
                    "{}: the API server refuses it: {} {}",
                    m.label(),
                    s.code,
                    s.message
                )),
            )),
            Err(e) => Err(cluster_error(&format!("a dry run of {}", m.label()), e)),
        }
    };
    let results: Vec<Result<(Option<Manifest>, Option<String>)>> =
        futures_util::stream::iter(manifests.into_iter().map(one))
            .buffered(8)
            .collect()
            .await;
    let mut stored = Vec::new();
    let mut problems = Vec::new();
    for r in results {
        let (m, p) = r?;
        stored.extend(m);
        problems.extend(p.map(|p| Diagnostic::error("api-server-refused", p)));
    }
    Ok((stored, problems))
}

const PSA_ENFORCE: &str = "pod-security.kubernetes.io/enforce";

/// The namespace must enforce at least `required` (a Pod Security Standards level): then the API server itself
/// refuses host namespaces, privileged containers, added capabilities and the like, whatever the guard missed.
pub(crate) fn pod_security(ns: &str, enforce: Option<&str>, required: &str) -> Option<String> {
    let rank = |l: &str| crate::policy::POD_SECURITY_LEVELS.iter().position(|x| *x == l);
    let fix = format!(
        "the sandbox admins label it: `kubectl label namespace {ns} {PSA_ENFORCE}={required}` (README, \
         \"Namespace prerequisites\")"
    );
    match enforce {
        None => Some(format!(
            "namespace {ns} has no {PSA_ENFORCE} label: the API server enforces no Pod Security Standard there; {fix}"
        )),
        Some(level) => match (rank(level), rank(required)) {
            (Some(have), Some(want)) if have >= want => None,
            (Some(_), _) => Some(format!(
                "namespace {ns} enforces Pod Security level {level:?}, weaker than the policy's {required:?} \
                 ([deploy] pod_security); {fix}"
            )),
            (None, _) => Some(format!(
                "namespace {ns}: {PSA_ENFORCE}={level:?} is not a Pod Security level (privileged, baseline, \
                 restricted); {fix}"
            )),
        },
    }
}

pub(crate) async fn run(
    client: &Client,
    ns: &str,
    release: &str,
    manifests: &[Manifest],
    pod_security_level: &str,
    peers: &[Peer],
) -> Result<Outcome> {
    let mut problems = Vec::new();
    if !namespace(client, ns, pod_security_level, &mut problems).await? {
        return Ok(Outcome {
            problems,
            quota_left: None,
            revision: None,
        });
    }
    isolation(client, ns, peers, &mut problems).await?;
    let quota_left = capacity(client, ns, &mut problems).await?;
    access(client, ns, manifests, &mut problems).await?;
    breadth(client, ns, &mut problems).await?;
    let revision = release_state(client, ns, release, &mut problems).await?;
    Ok(Outcome {
        problems,
        quota_left,
        revision,
    })
}

/// The namespace exists and enforces the policy's Pod Security level. Returns whether it exists (nothing else
/// can be checked in a namespace that does not).
pub(crate) async fn namespace(
    client: &Client,
    ns: &str,
    pod_security_level: &str,
    problems: &mut Vec<Diagnostic>,
) -> Result<bool> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let exists = namespaces
        .get_opt(ns)
        .await
        .map_err(|e| cluster_error(&format!("reading namespace {ns}"), e))?;
    let Some(namespace) = &exists else {
        problems.push(Diagnostic::error(
            "namespace-missing",
            format!(
                "namespace {ns} does not exist: the sandbox admins create it, with its NetworkPolicy and \
             ResourceQuota (bbgate never creates namespaces; `bbgate namespace render` writes the kit; see README, \
             \"Namespace prerequisites\")"
            ),
        ));
        return Ok(false);
    };
    let enforce = namespace
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(PSA_ENFORCE))
        .map(String::as_str);
    problems
        .extend(pod_security(ns, enforce, pod_security_level).map(|p| Diagnostic::error("namespace-pod-security", p)));
    Ok(true)
}

/// NetworkPolicy: the namespace is isolated from other namespaces, and no policy lets them in.
pub(crate) async fn isolation(client: &Client, ns: &str, peers: &[Peer], problems: &mut Vec<Diagnostic>) -> Result<()> {
    let nps = Api::<NetworkPolicy>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await
        .map_err(|e| cluster_error(&format!("listing NetworkPolicies in {ns}"), e))?;
    let mut isolated = false;
    for np in &nps.items {
        let (isolates, leaks) = network_policy(ns, np, peers);
        isolated |= isolates;
        problems.extend(
            leaks
                .into_iter()
                .map(|l| Diagnostic::error("network-policy-leak", format!("namespace {ns}: {l}"))),
        );
    }
    if !isolated {
        problems.push(Diagnostic::error(
            "namespace-not-isolated",
            format!(
                "namespace {ns} has no NetworkPolicy that selects all its pods (podSelector: {{}}) for Ingress: \
             without one, pods of other namespaces can reach the BB; the sandbox admins add it (README, \
             \"Namespace prerequisites\")"
            ),
        ));
    }

    Ok(())
}

/// ResourceQuota: capacity reserved for requests and limits; returns what is left (the tightest of several
/// quotas), with the quotas' names.
pub(crate) async fn capacity(
    client: &Client,
    ns: &str,
    problems: &mut Vec<Diagnostic>,
) -> Result<Option<(String, Resources)>> {
    let quotas = Api::<ResourceQuota>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await
        .map_err(|e| cluster_error(&format!("listing ResourceQuotas in {ns}"), e))?;
    let mut best: Option<(String, Resources)> = None;
    let mut incomplete = Vec::new();
    for q in &quotas.items {
        match quota_left(q) {
            Ok(left) => {
                // Several quotas all apply: the tightest of each key binds.
                best = Some(match best {
                    None => (q.name_any(), left),
                    Some((n, b)) => (
                        format!("{n}+{}", q.name_any()),
                        Resources {
                            requests_cpu: b.requests_cpu.min(left.requests_cpu),
                            requests_memory: b.requests_memory.min(left.requests_memory),
                            limits_cpu: b.limits_cpu.min(left.limits_cpu),
                            limits_memory: b.limits_memory.min(left.limits_memory),
                        },
                    ),
                });
            }
            Err(missing) => incomplete.push(format!("{} (no {})", q.name_any(), missing.join(", "))),
        }
    }
    if best.is_none() {
        problems.push(Diagnostic::error(
            "namespace-no-quota",
            format!(
                "namespace {ns} has no ResourceQuota setting requests.cpu, requests.memory, limits.cpu and \
             limits.memory{}: capacity must be reserved per namespace; the sandbox admins add it",
                if incomplete.is_empty() {
                    String::new()
                } else {
                    format!(" (incomplete: {})", incomplete.join("; "))
                }
            ),
        ));
    }

    Ok(best)
}

/// SelfSubjectAccessReviews: may the pipeline do what helm will do, for each kind of the chart?
async fn access(client: &Client, ns: &str, manifests: &[Manifest], problems: &mut Vec<Diagnostic>) -> Result<()> {
    let mut kinds: BTreeSet<(String, String)> = manifests
        .iter()
        .map(|m| (m.api_version().to_owned(), m.kind().to_owned()))
        .collect();
    kinds.insert(("v1".into(), "Secret".into())); // helm's release storage
    let mut asks: Vec<Ask> = Vec::new();
    for (api_version, kind) in &kinds {
        match served(client, api_version, kind).await? {
            Ok((ar, _)) => asks.extend(VERBS.iter().map(|verb| Ask {
                group: ar.group.clone(),
                resource: ar.plural.clone(),
                verb: (*verb).to_owned(),
            })),
            Err(why) => problems.push(Diagnostic::error(
                "api-not-served",
                format!("{why}: the chart uses an API this cluster lacks"),
            )),
        }
    }
    let denied = review(client, ns, &asks, &Reviewer::Caller).await?;
    if !denied.is_empty() {
        problems.push(Diagnostic::error(
            "pipeline-not-allowed",
            format!(
                "in namespace {ns}, the pipeline's identity may not: {} (SelfSubjectAccessReview); the sandbox \
             admins' RoleBinding for the deploy role must grant them",
                denied.join(", ")
            ),
        ));
    }
    Ok(())
}

/// What the deploy identity must not be able to do, where: read Secrets or write in another namespace, write
/// cluster-scoped RBAC or namespaces, read Secrets cluster-wide, impersonate, escalate or bind roles. A chart's
/// `lookup` reads what this identity reads, and helm acts with all of it.
const TOO_BROAD: &[(&str, &str, &str, &str)] = &[
    ("kube-system", "get", "", "secrets"),
    ("kube-system", "create", "apps", "deployments"),
    ("kube-system", "create", "rbac.authorization.k8s.io", "rolebindings"),
    ("", "list", "", "secrets"),
    ("", "create", "rbac.authorization.k8s.io", "clusterrolebindings"),
    ("", "create", "", "namespaces"),
    ("", "impersonate", "", "users"),
    ("*", "escalate", "rbac.authorization.k8s.io", "roles"),
    ("*", "bind", "rbac.authorization.k8s.io", "roles"),
];

/// The deploy identity reaches no further than its namespace: each question of [`TOO_BROAD`] asked by
/// SelfSubjectAccessReview (`*` is the BB's own namespace), every yes a problem.
async fn breadth(client: &Client, ns: &str, problems: &mut Vec<Diagnostic>) -> Result<()> {
    let mut allowed = Vec::new();
    // One batch of reviews per place asked about (`review` asks a batch concurrently).
    for place in ["kube-system", "", "*"] {
        let at = if place == "*" { ns } else { place };
        let asks: Vec<Ask> = TOO_BROAD
            .iter()
            .filter(|(p, ..)| *p == place)
            .map(|(_, verb, group, resource)| Ask {
                group: (*group).to_owned(),
                resource: (*resource).to_owned(),
                verb: (*verb).to_owned(),
            })
            .collect();
        let denied = review(client, at, &asks, &Reviewer::Caller).await?;
        let where_ = if at.is_empty() {
            "cluster-wide".to_owned()
        } else {
            format!("in namespace {at}")
        };
        for what in asks.iter().map(Ask::label).filter(|w| !denied.contains(w)) {
            allowed.push(format!("{what} {where_}"));
        }
    }
    if !allowed.is_empty() {
        problems.push(Diagnostic::error(
            "deploy-identity-too-broad",
            format!(
                "the deploy identity reaches beyond namespace {ns}: it may {} (SelfSubjectAccessReview); helm acts \
                 with all of it and a chart's lookup reads it: bind the deploy role to the namespace kit's Role only",
                allowed.join(", ")
            ),
        ));
    }
    Ok(())
}

/// One access question: may the identity do VERB on GROUP/RESOURCE in the namespace?
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Ask {
    pub(crate) group: String,
    pub(crate) resource: String,
    pub(crate) verb: String,
}

impl Ask {
    /// `verb resource[.group]`, as reviews report what is denied.
    pub(crate) fn label(&self) -> String {
        if self.group.is_empty() {
            format!("{} {}", self.verb, self.resource)
        } else {
            format!("{} {}.{}", self.verb, self.resource, self.group)
        }
    }
}

/// Whose access is reviewed: the caller's own (SelfSubjectAccessReview, the pipeline in deploy), or another
/// identity's (SubjectAccessReview: an admin checking what the deploy identity's groups may do).
pub(crate) enum Reviewer {
    Caller,
    Subject { user: String, groups: Vec<String> },
}

/// The answers to `asks`, 8 reviews at a time (against a remote cluster each is a round trip): what is denied,
/// as `verb resource[.group]`, in the order asked.
pub(crate) async fn review(client: &Client, ns: &str, asks: &[Ask], who: &Reviewer) -> Result<Vec<String>> {
    use k8s_openapi::api::authorization::v1::{
        ResourceAttributes, SelfSubjectAccessReviewSpec, SubjectAccessReview, SubjectAccessReviewSpec,
    };
    let answers: Vec<std::result::Result<(usize, bool, String), Error>> =
        futures_util::stream::iter(asks.iter().enumerate().map(|(i, ask)| async move {
            // Built as typed values: nothing to parse, nothing that could fail before the request.
            let attributes = Some(ResourceAttributes {
                namespace: Some(ns.to_owned()),
                verb: Some(ask.verb.clone()),
                group: Some(ask.group.clone()),
                resource: Some(ask.resource.clone()),
                ..Default::default()
            });
            let allowed = match who {
                Reviewer::Caller => {
                    let review = SelfSubjectAccessReview {
                        spec: SelfSubjectAccessReviewSpec {
                            resource_attributes: attributes,
                            ..Default::default()
                        },
                        ..Default::default()
                    };
                    Api::<SelfSubjectAccessReview>::all(client.clone())
                        .create(&PostParams::default(), &review)
                        .await
                        .map_err(|e| cluster_error("asking SelfSubjectAccessReview", e))?
                        .status
                        .is_some_and(|s| s.allowed)
                }
                Reviewer::Subject { user, groups } => {
                    let review = SubjectAccessReview {
                        spec: SubjectAccessReviewSpec {
                            resource_attributes: attributes,
                            user: Some(user.clone()),
                            groups: Some(groups.clone()),
                            ..Default::default()
                        },
                        ..Default::default()
                    };
                    Api::<SubjectAccessReview>::all(client.clone())
                        .create(&PostParams::default(), &review)
                        .await
                        .map_err(|e| cluster_error("asking SubjectAccessReview", e))?
                        .status
                        .is_some_and(|s| s.allowed)
                }
            };
            Ok((i, allowed, ask.label()))
        }))
        .buffer_unordered(8)
        .collect()
        .await;
    let mut answers = answers.into_iter().collect::<Result<Vec<_>>>()?;
    answers.sort_by_key(|(i, _, _)| *i);
    Ok(answers
        .into_iter()
        .filter(|(_, ok, _)| !ok)
        .map(|(_, _, w)| w)
        .collect())
}

/// The release: not stuck in pending-* (a helm run killed half-way blocks every later one). Returns its latest
/// revision.
/// A release's history as helm stores it (one Secret per revision, labelled `owner=helm`, `name`, `version`,
/// `status`): (revision, status), oldest first. The one reader of it: the preflight and the record use it.
pub(crate) async fn release_history(client: &Client, ns: &str, release: &str) -> Result<Vec<(u32, String)>> {
    let secrets = Api::<Secret>::namespaced(client.clone(), ns)
        .list(&ListParams::default().labels(&format!("owner=helm,name={release}")))
        .await
        .map_err(|e| cluster_error(&format!("reading release {release}'s history"), e))?;
    let mut history: Vec<(u32, String)> = secrets
        .items
        .iter()
        .filter_map(|s| {
            let l = s.labels();
            Some((
                l.get("version")?.parse::<u32>().ok()?,
                l.get("status").cloned().unwrap_or_default(),
            ))
        })
        .collect();
    history.sort();
    Ok(history)
}

async fn release_state(
    client: &Client,
    ns: &str,
    release: &str,
    problems: &mut Vec<Diagnostic>,
) -> Result<Option<u32>> {
    let latest = release_history(client, ns, release).await?.pop();
    if let Some((rev, status)) = &latest
        && status.starts_with("pending-")
    {
        let fix = match status.as_str() {
            "pending-install" => format!("`helm uninstall {release} -n {ns}`"),
            _ if *rev > 1 => format!("`helm rollback {release} {} -n {ns}`", rev - 1),
            _ => format!("`helm uninstall {release} -n {ns}`"),
        };
        problems.push(Diagnostic::error(
            "release-stuck",
            format!(
                "release {release} is stuck in {status} at revision {rev} (a helm run was interrupted): helm refuses \
             another operation until it is cleared; a sandbox admin recovers it with {fix}, then re-runs the deploy"
            ),
        ));
    }
    Ok(latest.map(|(v, _)| v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_namespace_must_enforce_the_policys_pod_security_level() {
        assert_eq!(pod_security("bb", Some("restricted"), "restricted"), None);
        assert_eq!(pod_security("bb", Some("restricted"), "baseline"), None);
        let missing = pod_security("bb", None, "restricted").unwrap();
        assert!(
            missing.contains("has no pod-security.kubernetes.io/enforce label"),
            "{missing}"
        );
        assert!(missing.contains("kubectl label namespace bb pod-security.kubernetes.io/enforce=restricted"));
        let weak = pod_security("bb", Some("baseline"), "restricted").unwrap();
        assert!(
            weak.contains("enforces Pod Security level \"baseline\", weaker"),
            "{weak}"
        );
        assert!(pod_security("bb", Some("privileged"), "baseline").is_some());
        assert!(
            pod_security("bb", Some("Restricted"), "baseline")
                .unwrap()
                .contains("is not a Pod Security level")
        );
    }

    fn np(v: Value) -> NetworkPolicy {
        serde_json::from_value(v).unwrap()
    }

    fn quota(v: Value) -> ResourceQuota {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn network_policies() {
        let iso = json!({"metadata": {"name": "a"}, "spec": {"podSelector": {}, "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"podSelector": {}}]}]}});
        assert_eq!(network_policy("ns", &np(iso.clone()), &[]), (true, vec![]));
        let deny_all = json!({"metadata": {"name": "a"}, "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}});
        assert_eq!(network_policy("ns", &np(deny_all.clone()), &[]), (true, vec![]));
        let open = json!({"metadata": {"name": "b"}, "spec": {"podSelector": {}, "ingress": [{}]}});
        assert!(!network_policy("ns", &np(open.clone()), &[]).1.is_empty());
        let other = json!({"metadata": {"name": "c"}, "spec": {"podSelector": {"matchLabels": {"a": "b"}},
            "ingress": [{"from": [{"namespaceSelector": {}}]}]}});
        let (isolates, leaks) = network_policy("ns", &np(other.clone()), &[]);
        assert!(!isolates && leaks.len() == 1, "{leaks:?}");
        let own = json!({"metadata": {"name": "d"}, "spec": {"podSelector": {},
            "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ns"}}}]}]}});
        assert_eq!(network_policy("ns", &np(own.clone()), &[]), (true, vec![]));
        let egress_only = json!({"metadata": {"name": "e"}, "spec": {"podSelector": {}, "policyTypes": ["Egress"]}});
        assert!(!network_policy("ns", &np(egress_only.clone()), &[]).0);
    }

    #[test]
    fn a_peer_namespace_is_admitted_only_on_the_ports_and_the_way_the_policy_lists() {
        use crate::policy::peers::{Direction, Peer};
        let peers = [Peer {
            namespace: "im".into(),
            ports: vec![8080, 8443],
            direction: Direction::Ingress,
        }];
        let from_im = |ports: Value| {
            np(
                json!({"metadata": {"name": "p"}, "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"],
                "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "im"}}}],
                             "ports": ports.clone()}],
                "egress": [{"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "im"}}}],
                            "ports": ports}]}}),
            )
        };
        let listed = from_im(json!([{"port": 8080}, {"port": 8443, "protocol": "TCP"}]));
        assert_eq!(network_policy("ns", &listed, &peers), (true, vec![]));
        // The attack's control: without the policy's entry the same rule is a leak.
        assert_eq!(network_policy("ns", &listed, &[]).1.len(), 1);
        // Listed for ingress only: the egress rule to it is not admitted.
        let egress = network_policy_egress("ns", &listed, &[], &peers);
        assert!(
            egress[0].contains("lets the BB reach pods of namespace im on port(s) [8080, 8443]"),
            "{egress:?}"
        );
        let both = [Peer {
            direction: Direction::Both,
            ..peers[0].clone()
        }];
        assert!(network_policy_egress("ns", &listed, &[], &both).is_empty());
        for (ports, why) in [
            (
                json!([{"port": 22}]),
                "on port(s) [22], which the policy does not list for it",
            ),
            (json!([{"port": 8080}, {"port": 22}]), "on port(s) [8080, 22]"),
            (json!([]), "on every port"),
            (json!([{"port": "http"}]), "a named port"),
            (json!([{"port": 8080, "endPort": 9000}]), "a range"),
            (json!([{"port": 8080, "protocol": "UDP"}]), "UDP"),
        ] {
            let leaks = network_policy("ns", &from_im(ports), &peers).1;
            assert!(leaks.len() == 1 && leaks[0].contains(why), "{why}: {leaks:?}");
        }
        // Another namespace than the peer, or a selector that is not the name alone, stays a leak.
        let other = np(json!({"metadata": {"name": "o"}, "spec": {"podSelector": {},
            "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "im", "x": "y"}}}],
                         "ports": [{"port": 8080}]}]}}));
        assert_eq!(network_policy("ns", &other, &peers).1.len(), 1);
    }

    #[test]
    fn quotas() {
        let q = json!({"spec": {"hard": {"requests.cpu": "2", "memory": "4Gi", "limits.cpu": "4", "limits.memory": "8Gi"}},
                       "status": {"used": {"requests.cpu": "500m"}}});
        let left = quota_left(&quota(q.clone())).unwrap();
        assert_eq!(left.requests_cpu, 1.5);
        assert_eq!(left.requests_memory, 4.0 * 1024f64.powi(3));
        let partial = json!({"spec": {"hard": {"pods": "10", "requests.cpu": "1"}}});
        assert_eq!(
            quota_left(&quota(partial.clone())).unwrap_err(),
            vec!["requests.memory", "limits.cpu", "limits.memory"]
        );
    }
}
