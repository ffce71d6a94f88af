//! The render guard: a pure check of the rendered chart against the sandbox rules. Every problem is listed
//! (cargo-deny style), each naming the object and its template; any problem refuses the whole deploy before
//! anything is written to the cluster.

use super::manifest::Manifest;
use crate::diag::Diagnostic;
use crate::error::{Error, Result};
use crate::policy::{BuildingBlock, RegoModule};
use serde_json::Value;

/// Kinds that live outside any namespace: a BB may not create them.
pub(crate) const CLUSTER_SCOPED: &[&str] = &[
    "Namespace",
    "Node",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PersistentVolume",
    "StorageClass",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "PriorityClass",
    "APIService",
    "CSIDriver",
    "CSINode",
    "IngressClass",
    "RuntimeClass",
    "PodSecurityPolicy",
    "VolumeAttachment",
    "CertificateSigningRequest",
    "FlowSchema",
    "PriorityLevelConfiguration",
    "ClusterIssuer",
];

pub(crate) use crate::image::PinnedImage;

/// cpu in cores, memory in bytes: what the quota has left for requests and limits.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Resources {
    pub(crate) requests_cpu: f64,
    pub(crate) requests_memory: f64,
    pub(crate) limits_cpu: f64,
    pub(crate) limits_memory: f64,
}

pub(crate) struct Rules<'a> {
    pub(crate) namespace: &'a str,
    pub(crate) building_block: &'a BuildingBlock,
    /// Every building block of the policy: an image of another BB's repositories is never this BB's to run.
    pub(crate) all_building_blocks: &'a [BuildingBlock],
    /// Capabilities a container may add (`[deploy] capabilities`).
    pub(crate) capabilities: &'a [String],
    /// ClusterRoles a RoleBinding may grant in the namespace (`[deploy] cluster_roles`).
    pub(crate) cluster_roles: &'a [String],
    /// Every image of the release the evidence names: each container must run one of them, by digest. None
    /// (`chart check`, before anything is judged): the images are listed, not held to digests.
    pub(crate) images: Option<&'a [super::evidence::AdmittedImage]>,
    /// Registries images may come from (never empty: the evidence's registry by default).
    pub(crate) registries: &'a [String],
    pub(crate) service_types: &'a [String],
    /// What a chart's Roles may grant beyond the ordinary (`[deploy] grants`: `rbac`, `escalate`, `bind`,
    /// `impersonate`, `*`, `pods/exec`, `secrets`).
    pub(crate) grants: &'a [String],
    /// Where a chart's NetworkPolicy may open egress to beyond its own namespace (`[deploy] egress`: CIDRs).
    pub(crate) egress: &'a [String],
    /// What the namespace's quota has left; None when it could not be read (then not checked).
    pub(crate) quota_left: Option<(String, Resources)>,
    /// The Pod Security level the namespace enforces (`[deploy] pod_security`): every pod template is held to it.
    pub(crate) pod_security: &'a str,
}

impl<'a> Rules<'a> {
    /// The rules of the admins' policy for one building block, before anything is judged (no images held to
    /// digests, any registry the policy lists, the quota not known).
    pub(crate) fn of(policy: &'a crate::policy::Policy, bb: &'a BuildingBlock, namespace: &'a str) -> Rules<'a> {
        Rules {
            namespace,
            building_block: bb,
            all_building_blocks: &policy.building_blocks,
            capabilities: &policy.deploy.capabilities,
            cluster_roles: &policy.deploy.cluster_roles,
            images: None,
            registries: &policy.deploy.registries,
            service_types: &policy.deploy.service_types,
            grants: &policy.deploy.grants,
            egress: &policy.deploy.egress,
            quota_left: None,
            pod_security: &policy.deploy.pod_security,
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Findings {
    pub(crate) problems: Vec<Diagnostic>,
    pub(crate) warnings: Vec<String>,
    pub(crate) requested: Resources,
}

impl Findings {
    fn problem(&mut self, code: &'static str, message: String) {
        self.problems.push(Diagnostic::error(code, message));
    }
}

/// A Kubernetes quantity (`100m`, `0.5`, `128Mi`, `1G`, `1e3`) in base units.
pub(crate) fn quantity(q: &Value) -> Option<f64> {
    if let Some(n) = q.as_f64() {
        return Some(n);
    }
    let s = q.as_str()?.trim();
    let suffixes: &[(&str, f64)] = &[
        ("Ki", 1024.0),
        ("Mi", 1024f64.powi(2)),
        ("Gi", 1024f64.powi(3)),
        ("Ti", 1024f64.powi(4)),
        ("Pi", 1024f64.powi(5)),
        ("Ei", 1024f64.powi(6)),
        ("n", 1e-9),
        ("u", 1e-6),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("E", 1e18),
    ];
    for (suffix, factor) in suffixes {
        if let Some(n) = s.strip_suffix(suffix) {
            return n.parse::<f64>().ok().filter(|v| v.is_finite()).map(|v| v * factor);
        }
    }
    s.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// `registry/path/name:tag@digest` -> (registry, repository, tag, digest), Docker's defaults applied.
pub(crate) fn parse_image(image: &str) -> (String, String, Option<String>, Option<String>) {
    let r = crate::image::Reference::parse(image).normalized();
    (r.host.unwrap_or_default(), r.path, r.tag, r.digest)
}

fn fmt_cpu(v: f64) -> String {
    format!("{}m", (v * 1000.0).round())
}

fn fmt_mem(v: f64) -> String {
    format!("{}Mi", (v / 1024.0 / 1024.0).round())
}

/// Check every rendered object. Pure: the same manifests and rules give the same findings.
pub(crate) fn check(manifests: &[Manifest], rules: &Rules) -> Findings {
    let mut f = Findings::default();
    for m in manifests {
        let label = m.label();
        let kind = m.kind();
        if let Some(ns) = m.object["metadata"]["namespace"].as_str()
            && ns != rules.namespace
        {
            f.problem(
                "namespace-escape",
                format!(
                    "{label}: sets namespace {ns:?}; a building block deploys only into its own namespace {:?} \
                 (drop metadata.namespace, or use {{{{ .Release.Namespace }}}})",
                    rules.namespace
                ),
            );
        }
        if CLUSTER_SCOPED.contains(&kind) {
            f.problem(
                "cluster-scoped-object",
                format!(
                    "{label}: {kind} is cluster-scoped; a building block may create only namespaced objects \
                 (the sandbox admins own cluster-wide resources)"
                ),
            );
        }
        if kind == "Service" {
            let t = m.object["spec"]["type"].as_str().unwrap_or("ClusterIP");
            if !rules.service_types.iter().any(|a| a == t) {
                f.problem(
                    "service-exposed",
                    format!(
                        "{label}: Service type {t} exposes the BB outside the cluster; the policy allows {} \
                     ([deploy] service_types)",
                        rules.service_types.join(", ")
                    ),
                );
            }
        }
        if kind == "Service" {
            check_service(&label, &m.object, rules, &mut f);
        }
        check_exposure(&label, m, rules, &mut f);
        if kind == "NetworkPolicy" {
            // The chart's own policies are judged as the preflight judges the namespace's: once installed,
            // a policy that admits other namespaces would open the BB to them, and one that lets it reach the
            // node's metadata service or other namespaces would open them to the BB.
            match serde_json::from_value::<k8s_openapi::api::networking::v1::NetworkPolicy>(m.object.clone()) {
                Ok(np) => {
                    let peers = &rules.building_block.peers;
                    let (_, leaks) = super::preflight::network_policy(rules.namespace, &np, peers);
                    f.problems.extend(
                        leaks
                            .into_iter()
                            .map(|l| Diagnostic::error("network-policy-leak", format!("{label}: {l}"))),
                    );
                    for l in super::preflight::network_policy_egress(rules.namespace, &np, rules.egress, peers) {
                        f.problem("network-policy-egress", format!("{label}: {l}"));
                    }
                }
                // Fail closed: a policy that cannot be read cannot be shown to keep other namespaces out.
                Err(e) => f.problem(
                    "network-policy-leak",
                    format!("{label}: not a NetworkPolicy the API server reads ({e}): it cannot be judged"),
                ),
            }
        }
        if kind == "RoleBinding" {
            check_role_binding(&label, &m.object, manifests, rules, &mut f);
        }
        if kind == "Role" {
            for why in role_grants(&m.object, rules) {
                f.problem("rbac-escalation", format!("{label}: {why}"));
            }
        }
        if let Some(spec) = m.pod_spec() {
            check_pod(&label, m, spec, rules, &mut f);
        }
    }
    if let Some((quota, left)) = &rules.quota_left {
        let r = &f.requested;
        let over = [
            (
                "requests.cpu",
                r.requests_cpu,
                left.requests_cpu,
                fmt_cpu as fn(f64) -> String,
            ),
            ("requests.memory", r.requests_memory, left.requests_memory, fmt_mem),
            ("limits.cpu", r.limits_cpu, left.limits_cpu, fmt_cpu),
            ("limits.memory", r.limits_memory, left.limits_memory, fmt_mem),
        ];
        for (what, want, have, fmt) in over {
            if want > have + 1e-9 {
                f.problem("quota-exceeded", format!(
                    "the chart's pods need {what} {} in all, but ResourceQuota {quota} has {} left in namespace {}: \
                     lower replicas or resources, or ask the sandbox admins for more",
                    fmt(want),
                    fmt(have.max(0.0)),
                    rules.namespace
                ));
            }
        }
    }
    f
}

/// Kinds that put the BB behind an address outside the cluster: Ingress, Gateway API, and the load-balancer
/// CRDs of the controllers EKS clusters run. Allowed only when the policy's `service_types` names the exposure.
const EXPOSING_KINDS: &[(&str, &str, &str)] = &[
    ("Ingress", "networking.k8s.io", "Ingress"),
    ("Gateway", "gateway.networking.k8s.io", "Gateway"),
    ("HTTPRoute", "gateway.networking.k8s.io", "Gateway"),
    ("GRPCRoute", "gateway.networking.k8s.io", "Gateway"),
    ("TCPRoute", "gateway.networking.k8s.io", "Gateway"),
    ("TLSRoute", "gateway.networking.k8s.io", "Gateway"),
    ("UDPRoute", "gateway.networking.k8s.io", "Gateway"),
    ("TargetGroupBinding", "elbv2.k8s.aws", "LoadBalancer"),
    ("IngressRoute", "traefik", "Ingress"),
    ("IngressRouteTCP", "traefik", "Ingress"),
    ("VirtualService", "networking.istio.io", "Ingress"),
    ("HTTPProxy", "projectcontour.io", "Ingress"),
];

fn check_exposure(label: &str, m: &Manifest, rules: &Rules, f: &mut Findings) {
    let group = m.api_version().split('/').next().unwrap_or("");
    if let Some((kind, _, allowed_by)) = EXPOSING_KINDS
        .iter()
        .find(|(k, g, _)| *k == m.kind() && (group == *g || group.ends_with(&format!(".{g}")) || group.starts_with(g)))
        && !rules.service_types.iter().any(|a| a == allowed_by)
    {
        f.problem(
            "ingress-exposed",
            format!(
                "{label}: a {kind} exposes the BB outside the cluster; add \"{allowed_by}\" to [deploy] \
             service_types to allow it"
            ),
        );
    }
}

fn check_service(label: &str, svc: &Value, rules: &Rules, f: &mut Findings) {
    let spec = &svc["spec"];
    if spec["externalIPs"].as_array().is_some_and(|a| !a.is_empty())
        && !rules.service_types.iter().any(|a| a == "ExternalIPs")
    {
        f.problem(
            "external-ips",
            format!(
                "{label}: externalIPs route traffic for outside addresses to the BB; add \"ExternalIPs\" to [deploy] \
             service_types to allow it"
            ),
        );
    }
    if spec["type"].as_str() == Some("ExternalName") {
        let target = spec["externalName"].as_str().unwrap_or("");
        let own = [
            format!(".{}.svc", rules.namespace),
            format!(".{}.svc.cluster.local", rules.namespace),
        ];
        if !own
            .iter()
            .any(|suffix| target.trim_end_matches('.').ends_with(suffix.as_str()))
        {
            f.problem(
                "external-name",
                format!(
                    "{label}: ExternalName {target:?} points outside the namespace; an ExternalName may only name a \
                 Service of {}",
                    rules.namespace
                ),
            );
        }
    }
}

/// What a Role grants that the release's own ServiceAccounts must not hold unless the policy says so
/// (`[deploy] grants`): control of RBAC (which lets it grant itself anything the deploy identity holds),
/// `escalate`, `bind`, `impersonate`, wildcards, `pods/exec`, and Secrets beyond the release's own (a rule on
/// secrets without resourceNames reads every Secret of the namespace, the deploy's and other releases').
fn role_grants(role: &Value, rules: &Rules) -> Vec<String> {
    let allowed = |g: &str| rules.grants.iter().any(|a| a == g);
    let mut out = Vec::new();
    let mut said: Vec<&str> = Vec::new();
    for (i, rule) in role["rules"].as_array().into_iter().flatten().enumerate() {
        let list = |k: &str| -> Vec<&str> {
            rule[k]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect()
        };
        let (groups, resources, verbs) = (list("apiGroups"), list("resources"), list("verbs"));
        let mut say = |grant: &'static str, what: String| {
            if !allowed(grant) && !said.contains(&grant) {
                said.push(grant);
                out.push(format!("rule {} grants {what} ([deploy] grants \"{grant}\")", i + 1));
            }
        };
        if groups.contains(&"*") || resources.contains(&"*") || verbs.contains(&"*") {
            say(
                "*",
                "a wildcard (every group, resource or verb, RBAC and Secrets included)".to_owned(),
            );
        }
        if groups.contains(&"rbac.authorization.k8s.io") {
            say(
                "rbac",
                "RBAC objects: whoever holds it can grant itself what the deploy identity holds".to_owned(),
            );
        }
        for v in ["escalate", "bind", "impersonate"] {
            if verbs.contains(&v) {
                say(v, format!("the verb {v}"));
            }
        }
        let core = groups.is_empty() || groups.contains(&"");
        if core && resources.iter().any(|r| matches!(*r, "pods/exec" | "pods/attach")) {
            say(
                "pods/exec",
                "pods/exec (running commands in any pod of the namespace)".to_owned(),
            );
        }
        if core && resources.contains(&"secrets") && rule["resourceNames"].as_array().is_none_or(Vec::is_empty) {
            say(
                "secrets",
                "every Secret of the namespace (name the release's own Secrets in resourceNames)".to_owned(),
            );
        }
    }
    out
}

fn check_role_binding(label: &str, rb: &Value, manifests: &[Manifest], rules: &Rules, f: &mut Findings) {
    let role = &rb["roleRef"];
    let name = role["name"].as_str().unwrap_or("");
    if role["kind"].as_str() == Some("Role") {
        // The Role the sandbox's namespace kit gives the deploy identity: no chart may bind it.
        let deploy_role = crate::namespace::ROLE;
        let defined = manifests.iter().any(|m| m.kind() == "Role" && m.name() == name);
        if name == deploy_role {
            f.problem(
                "rbac-escalation",
                format!(
                    "{label}: binds the sandbox's deploy Role {deploy_role:?}: the BB's pods would hold what the \
                     deploy identity holds (write its RBAC, delete its NetworkPolicy)"
                ),
            );
        } else if !defined && !rules.grants.iter().any(|g| g == "rbac") {
            f.problem(
                "rbac-escalation",
                format!(
                    "{label}: binds Role {name:?}, which the chart does not define: what it grants cannot be judged; \
                     define the Role in the chart"
                ),
            );
        }
    }
    if role["kind"].as_str() == Some("ClusterRole") && !rules.cluster_roles.iter().any(|r| r == name) {
        let why = match name {
            "cluster-admin" | "admin" | "edit" => " (it grants control of the namespace's RBAC, Secrets or more)",
            _ => "",
        };
        f.problem(
            "rbac-cluster-role",
            format!(
                "{label}: binds ClusterRole {name:?}{why}; the policy allows {} ([deploy] cluster_roles): grant a \
             Role of the namespace instead",
                if rules.cluster_roles.is_empty() {
                    "none".to_owned()
                } else {
                    rules.cluster_roles.join(", ")
                }
            ),
        );
    }
    for s in rb["subjects"].as_array().into_iter().flatten() {
        let kind = s["kind"].as_str().unwrap_or("");
        let ns = s["namespace"].as_str();
        let subject = s["name"].as_str().unwrap_or("");
        match kind {
            "ServiceAccount" if ns.is_some_and(|n| n != rules.namespace) => f.problem("rbac-foreign-subject", format!(
                "{label}: grants to ServiceAccount {}/{subject}, of another namespace",
                ns.unwrap_or("")
            )),
            "ServiceAccount" => {}
            other => f.problem("rbac-foreign-subject", format!(
                "{label}: grants to {other} {subject:?}, an identity outside the namespace; bind ServiceAccounts of \
                 {} only",
                rules.namespace
            )),
        }
    }
}

/// A seccomp or AppArmor profile of type Unconfined, at the container's or the pod's level.
fn unconfined(who: &str, what: &str, security_context: &Value, f: &mut Findings) {
    for profile in ["seccompProfile", "appArmorProfile"] {
        if security_context[profile]["type"].as_str() == Some("Unconfined") {
            f.problem(
                "unconfined-profile",
                format!("{who}: the {what}'s {profile} is Unconfined; use RuntimeDefault"),
            );
        }
    }
}

/// Privilege a container may not take, whatever the namespace's Pod Security level would also refuse.
/// `annotations`: the pod's and the object's, where the AppArmor annotation may stand.
fn check_container_security(who: &str, c: &Value, annotations: &[&Value], rules: &Rules, f: &mut Findings) {
    let sc = &c["securityContext"];
    if sc["allowPrivilegeEscalation"].as_bool() == Some(true) {
        f.problem(
            "privilege-escalation",
            format!("{who} sets allowPrivilegeEscalation: true; set it false"),
        );
    }
    let added: Vec<&str> = sc["capabilities"]["add"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|cap| {
            let bare = cap.trim_start_matches("CAP_");
            !rules
                .capabilities
                .iter()
                .any(|a| a.trim_start_matches("CAP_").eq_ignore_ascii_case(bare))
        })
        .collect();
    if !added.is_empty() {
        f.problem(
            "capabilities-added",
            format!(
                "{who} adds capabilities {}; the policy allows {} ([deploy] capabilities)",
                added.join(", "),
                if rules.capabilities.is_empty() {
                    "none".to_owned()
                } else {
                    rules.capabilities.join(", ")
                }
            ),
        );
    }
    unconfined(who, "container", sc, f);
    let name = c["name"].as_str().unwrap_or("");
    let key = format!("container.apparmor.security.beta.kubernetes.io/{name}");
    if annotations
        .iter()
        .any(|a| a[key.as_str()].as_str() == Some("unconfined"))
    {
        f.problem(
            "unconfined-profile",
            format!("{who}: its AppArmor annotation says unconfined; use runtime/default"),
        );
    }
    if sc["procMount"].as_str() == Some("Unmasked") {
        f.problem(
            "proc-mount-unmasked",
            format!("{who} sets procMount: Unmasked, which exposes the host's /proc paths"),
        );
    }
}

fn check_pod(label: &str, m: &Manifest, spec: &Value, rules: &Rules, f: &mut Findings) {
    for flag in ["hostNetwork", "hostPID", "hostIPC"] {
        if spec[flag].as_bool() == Some(true) {
            f.problem(
                "host-namespace",
                format!("{label}: {flag}: true shares the node's namespaces with the pod; not allowed in the sandbox"),
            );
        }
    }
    for v in spec["volumes"].as_array().into_iter().flatten() {
        if v.get("hostPath").is_some() {
            f.problem(
                "host-path",
                format!(
                    "{label}: volume {:?} is a hostPath, which reaches the node's files; use a PVC or emptyDir",
                    v["name"].as_str().unwrap_or("")
                ),
            );
        }
    }
    unconfined(label, "pod", &spec["securityContext"], f);
    let broken = super::pod_security::violations(rules.pod_security, spec);
    if !broken.is_empty() {
        f.problem(
            "pod-security",
            format!(
                "{label}: the namespace enforces Pod Security {:?} ([deploy] pod_security), which refuses its pods: {}",
                rules.pod_security,
                broken.join("; ")
            ),
        );
    }
    let annotations = [&m.object["metadata"]["annotations"], &m.pod_metadata()["annotations"]];
    let pods = m.pod_count();
    for (group, c) in m.containers() {
        let cname = c["name"].as_str().unwrap_or("?");
        let who = format!("{label}: container {cname:?}");
        if c["securityContext"]["privileged"].as_bool() == Some(true) {
            f.problem(
                "privileged-container",
                format!("{who} is privileged: it would own the node; not allowed in the sandbox"),
            );
        }
        for p in c["ports"].as_array().into_iter().flatten() {
            if let Some(hp) = p["hostPort"].as_u64() {
                f.problem(
                    "host-port",
                    format!("{who} opens hostPort {hp} on the node: an exposed interface; use a ClusterIP Service"),
                );
            }
        }
        check_image(&who, c["image"].as_str().unwrap_or(""), rules, f);
        check_container_security(&who, c, &annotations, rules, f);
        let res = &c["resources"];
        let mut missing = Vec::new();
        let mut get = |path: [&str; 2]| {
            let q = quantity(&res[path[0]][path[1]]);
            if q.is_none() {
                missing.push(format!("{}.{}", path[0], path[1]));
            }
            q.unwrap_or(0.0)
        };
        let (rc, rm, lc, lm) = (
            get(["requests", "cpu"]),
            get(["requests", "memory"]),
            get(["limits", "cpu"]),
            get(["limits", "memory"]),
        );
        if !missing.is_empty() {
            f.problem(
                "resources-undeclared",
                format!(
                    "{who} sets no {}: every container declares cpu and memory requests and limits, so the \
                     namespace's quota can hold it",
                    missing.join(", ")
                ),
            );
        }
        // Init and ephemeral containers do not run beside the pod's containers for its whole life.
        if group == "containers" {
            let n = pods as f64;
            f.requested.requests_cpu += rc * n;
            f.requested.requests_memory += rm * n;
            f.requested.limits_cpu += lc * n;
            f.requested.limits_memory += lm * n;
        }
    }
}

fn check_image(who: &str, image: &str, rules: &Rules, f: &mut Findings) {
    if image.is_empty() {
        f.problem("image-missing", format!("{who} has no image"));
        return;
    }
    let (registry, repository, _tag, digest) = parse_image(image);
    let account = crate::aws::parse_ecr_host(&registry).map(|(a, _)| a);
    let judged = rules.images.unwrap_or_default().iter().any(|i| {
        let p = &i.image;
        registry == p.registry && repository == p.repository && digest.as_deref() == Some(p.digest.as_str())
    });
    if judged {
        return;
    }
    if let Some(other) = rules
        .all_building_blocks
        .iter()
        .find(|b| b.name != rules.building_block.name && b.owns_image(account.as_deref(), &repository))
        && !rules.building_block.owns_image(account.as_deref(), &repository)
    {
        f.problem(
            "image-of-other-bb",
            format!(
                "{who} runs {image}, an image of building block {}: a BB runs only its own images and the ones the \
             policy admits",
                other.name
            ),
        );
        return;
    }
    let Some(images) = rules.images else {
        return;
    };
    if !rules.registries.contains(&registry) {
        f.problem("registry-not-allowed", format!(
            "{who} pulls {image} from {registry}, which the policy does not allow (allowed: {}; [deploy] registries), \
             and is not an image the evidence judged",
            rules.registries.join(", ")
        ));
        return;
    }
    let judged: Vec<String> = images.iter().map(|i| i.image.reference()).collect();
    f.problem(
        "image-not-judged",
        format!(
            "{who} runs {image}, which is not an image the evidence judged ({}): verify the release with this \
             image (bbgate verify --chart), or pin the chart's value to a judged digest",
            judged.join(", ")
        ),
    );
}

/// Run the policy's Rego modules (conftest conventions: `deny` and `warn` sets in `package main`) on every
/// manifest. A module that does not compile, or a rule that fails, is an error: it never passes silently.
pub(crate) fn rego(modules: &[RegoModule], manifests: &[Manifest], f: &mut Findings) -> Result<()> {
    if modules.is_empty() {
        return Ok(());
    }
    let mut engine = regorus::Engine::new();
    for m in modules {
        engine
            .add_policy(m.path.clone(), m.source.clone())
            .map_err(|e| Error::invalid(format!("{}: Rego does not compile: {e}", m.path)))?;
    }
    for m in manifests {
        let to_rego = |v: &Value| {
            regorus::Value::from_json_str(&v.to_string())
                .map_err(|e| Error::invalid(format!("{}: cannot pass to Rego: {e}", m.label())))
        };
        engine.set_input(to_rego(&m.object)?);
        // The workload model, so rules see every pod template and every container (init and ephemeral too)
        // without knowing where each kind keeps them: data.bbgate.pod_spec and data.bbgate.containers.
        let containers: Vec<Value> = m
            .containers()
            .into_iter()
            .map(|(group, c)| serde_json::json!({"group": group, "container": c}))
            .collect();
        let model = serde_json::json!({"bbgate": {"pod_spec": m.pod_spec(), "containers": containers}});
        engine.clear_data();
        engine
            .add_data(to_rego(&model)?)
            .map_err(|e| Error::invalid(format!("{}: cannot pass to Rego: {e}", m.label())))?;
        for (rule, into_problems) in [("deny", true), ("warn", false)] {
            let results = engine
                .eval_query(format!("data.main.{rule}"), false)
                .map_err(|e| Error::invalid(format!("Rego data.main.{rule} failed on {}: {e}", m.label())))?;
            for r in results.result {
                for e in r.expressions {
                    let json = e.value.to_json_str().unwrap_or_default();
                    let v: Value = serde_json::from_str(&json).unwrap_or(Value::Null);
                    for msg in v.as_array().into_iter().flatten() {
                        let text = msg.as_str().map_or_else(|| msg.to_string(), str::to_owned);
                        let line = format!("{}: rego {rule}: {text}", m.label());
                        if into_problems {
                            f.problems.push(Diagnostic::error("rego-deny", line));
                        } else {
                            f.warnings.push(line);
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quantities() {
        assert_eq!(quantity(&json!("100m")), Some(0.1));
        assert_eq!(quantity(&json!("128Mi")), Some(128.0 * 1024.0 * 1024.0));
        assert_eq!(quantity(&json!("1G")), Some(1e9));
        assert_eq!(quantity(&json!(2)), Some(2.0));
        assert_eq!(quantity(&json!("0.5")), Some(0.5));
        assert_eq!(quantity(&json!("lots")), None);
    }

    #[test]
    fn images() {
        assert_eq!(
            parse_image("busybox"),
            ("docker.io".into(), "library/busybox".into(), None, None)
        );
        let (r, p, t, d) = parse_image("123456789012.dkr.ecr.eu-central-1.amazonaws.com/bb/payments/x@sha256:ab");
        assert_eq!(
            (r.as_str(), p.as_str(), t, d.as_deref()),
            (
                "123456789012.dkr.ecr.eu-central-1.amazonaws.com",
                "bb/payments/x",
                None,
                Some("sha256:ab")
            )
        );
        assert_eq!(parse_image("localhost:5000/a/b:1").2.as_deref(), Some("1"));
    }
}
