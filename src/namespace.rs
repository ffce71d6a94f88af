//! The admins' namespace kit: everything the deploy preflight requires of a building block's namespace,
//! rendered from the policy (`bbgate namespace render`), and the preflight run alone against the cluster
//! (`bbgate namespace check`), so that what the admins apply and what deploy judges cannot drift apart.

use crate::cli::{Format, NamespaceCheckArgs, NamespaceRenderArgs};
use crate::deploy::preflight::{self, Ask, Reviewer, VERBS};
use crate::diag::Diagnostic;
use crate::error::{Error, Result, exit};
use crate::policy::{BuildingBlock, Policy};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The kit's object names: `namespace check` reads the objects whatever their names, and names these in its hints.
pub const NETWORK_POLICY: &str = "bbgate-isolate";
pub const QUOTA: &str = "bbgate-capacity";
/// The kit's NetworkPolicy that admits the policy's peer namespaces on their ports.
pub const PEERS: &str = "bbgate-peers";
pub const NO_METADATA: &str = "bbgate-no-metadata";
pub const ROLE: &str = "bbgate-deploy";

/// Resources every deploy identity reads, whatever the policy: the Events and pod logs deploy shows when a
/// rollout fails (read-only).
const READ_ONLY: &[(&str, &str)] = &[("", "events"), ("", "pods/log")];
const READ_VERBS: &[&str] = &["get", "list", "watch"];

/// The Kubernetes group the BB's deploy role is mapped to (EKS access entry or aws-auth), bound to the kit's Role.
pub fn deploy_group(bb: &BuildingBlock) -> String {
    format!("bbgate:deploy:{}", bb.name)
}

/// What the kit's Role grants, as (API group, resource, verbs): helm's verbs on the policy's resources and on
/// Secrets (helm keeps its release history in them, so they are always granted), then the read-only ones.
/// `role_rules` writes these; `namespace check` asks for exactly these.
fn grants(policy: &Policy) -> Vec<(&str, &str, &'static [&'static str])> {
    let mut grants: Vec<(&str, &str, &'static [&'static str])> = policy
        .deploy
        .resources
        .iter()
        .map(|r| {
            let (group, resource) = r.split_once('/').unwrap_or(("", r));
            (group, resource, VERBS)
        })
        .collect();
    if !grants.iter().any(|(g, r, _)| g.is_empty() && *r == "secrets") {
        grants.push(("", "secrets", VERBS));
    }
    grants.extend(READ_ONLY.iter().map(|(g, r)| (*g, *r, READ_VERBS)));
    grants
}

/// The Role's rules: the grants with the same verbs, grouped by API group.
fn role_rules(policy: &Policy) -> Vec<Value> {
    let mut rules: BTreeMap<(bool, &str), Vec<&str>> = BTreeMap::new();
    for (group, resource, verbs) in grants(policy) {
        rules.entry((verbs == READ_VERBS, group)).or_default().push(resource);
    }
    rules
        .into_iter()
        .map(|((read_only, group), mut resources)| {
            resources.sort_unstable();
            resources.dedup();
            let verbs = if read_only { READ_VERBS } else { VERBS };
            json!({"apiGroups": [group], "resources": resources, "verbs": verbs})
        })
        .collect()
}

/// The kit: Namespace (Pod Security labels), NetworkPolicy (only the namespace's own pods reach its pods, and the
/// policy's peer namespaces on their ports),
/// ResourceQuota (the policy's `quota`), Role and RoleBinding for the deploy identity's group.
pub fn kit(policy: &Policy, bb: &BuildingBlock, group: &str) -> Vec<Value> {
    let ns = bb.namespace.as_str();
    let level = policy.deploy.pod_security.as_str();
    let labels = json!({
        "app.kubernetes.io/managed-by": "bbgate",
        "govstack.global/building-block": bb.name,
    });
    let mut ns_labels = labels.clone();
    for mode in ["enforce", "audit", "warn"] {
        ns_labels[format!("pod-security.kubernetes.io/{mode}")] = json!(level);
        ns_labels[format!("pod-security.kubernetes.io/{mode}-version")] = json!("latest");
    }
    let mut kit = vec![
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": ns_labels}}),
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
               "metadata": {"name": NETWORK_POLICY, "namespace": ns, "labels": labels},
               "spec": {"podSelector": {}, "policyTypes": ["Ingress"],
                        "ingress": [{"from": [{"podSelector": {}}]}]}}),
        json!({"apiVersion": "v1", "kind": "ResourceQuota",
               "metadata": {"name": QUOTA, "namespace": ns, "labels": labels},
               "spec": {"hard": bb.quota}}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
               "metadata": {"name": ROLE, "namespace": ns, "labels": labels},
               "rules": role_rules(policy)}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": ROLE, "namespace": ns, "labels": labels},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": ROLE},
               "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group}]}),
        // The node's instance metadata service (its AWS credentials) is out of the BB's reach; everything else
        // stays reachable (DNS, the other BBs through the Information Mediator). The guard refuses a chart
        // NetworkPolicy that would open the metadata service again (policies add up).
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
               "metadata": {"name": NO_METADATA, "namespace": ns, "labels": labels},
               "spec": {"podSelector": {}, "policyTypes": ["Egress"],
                        "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}},
                                           {"ipBlock": {"cidr": "::/0", "except": ["fd00:ec2::254/128"]}}]}]}}),
    ];
    // The peer namespaces the policy admits, each on its own ports only ([[building_block.peers]]); egress to
    // them is open already (the kit closes only the metadata service).
    let ingress: Vec<Value> = bb
        .peers
        .iter()
        .filter(|p| p.direction.ingress())
        .map(|p| {
            json!({"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": p.namespace}}}],
                   "ports": p.ports.iter().map(|n| json!({"protocol": "TCP", "port": n})).collect::<Vec<_>>()})
        })
        .collect();
    if !ingress.is_empty() {
        kit.push(json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
               "metadata": {"name": PEERS, "namespace": ns, "labels": labels},
               "spec": {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": ingress}}));
    }
    kit
}

/// What only the admins know, for the AWS side of the kit.
pub struct AwsIds<'a> {
    pub account: &'a str,
    pub org_id: &'a str,
    pub project_id: &'a str,
    /// The admins' deploy project (issue 26): when given, the deploy role trusts only its jobs, and may pull the
    /// BB's bundles; the BB's own project can then never assume it, approval or not.
    pub admins_project_id: Option<&'a str>,
    pub context_id: &'a str,
    pub region: &'a str,
    pub eks_cluster: &'a str,
    pub verify_role: &'a str,
    pub deploy_role: &'a str,
}

/// The IAM trust and permission policies of the BB's verify and deploy roles, and the EKS access entry (or the
/// aws-auth mapping, for clusters still on the ConfigMap) that puts the deploy role in the kit's group.
pub fn aws_kit(policy: &Policy, bb: &BuildingBlock, group: &str, ids: &AwsIds) -> Value {
    let issuer = format!("oidc.circleci.com/org/{}", ids.org_id);
    let provider_arn = format!("arn:aws:iam::{}:oidc-provider/{issuer}", ids.account);
    let sub = |project: &str| format!("org/{}/project/{project}/user/*", ids.org_id);
    let trust = |project: &str, context: Option<&str>| {
        let mut condition = json!({
            "StringEquals": {format!("{issuer}:aud"): ids.org_id},
            // StringLike: the V2 token's longer `sub` (vcs-origin, vcs-ref) matches the trailing `*` too.
            "StringLike": {format!("{issuer}:sub"): sub(project)},
        });
        if let Some(ctx) = context {
            condition["ForAnyValue:StringEquals"] = json!({format!("{issuer}:oidc.circleci.com/context-ids"): [ctx]});
        }
        json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Federated": provider_arn},
            "Action": "sts:AssumeRoleWithWebIdentity", "Condition": condition}]})
    };
    let repos: Vec<String> = bb
        .repositories
        .iter()
        .map(|r| format!("arn:aws:ecr:{}:{}:repository/{r}", ids.region, ids.account))
        .collect();
    let caches: Vec<String> = policy
        .images
        .pull_through
        .values()
        .map(|prefix| format!("arn:aws:ecr:{}:{}:repository/{prefix}/*", ids.region, ids.account))
        .collect();
    let mut read_scans = repos.clone();
    read_scans.extend(caches);
    // The building block's repositories in a vendor's ECR: read with the same roles, which the vendor's
    // repository policy (rendered below, for the vendor to attach) must let in.
    let vendors: Vec<&bbgate_core::policy::registries::Registry> = bb
        .registries
        .iter()
        .filter(|r| matches!(r.kind, bbgate_core::policy::registries::Kind::Ecr { .. }))
        .collect();
    for v in &vendors {
        if let bbgate_core::policy::registries::Kind::Ecr { account, region } = &v.kind {
            read_scans.extend(
                v.repositories
                    .iter()
                    .map(|r| format!("arn:aws:ecr:{region}:{account}:repository/{r}")),
            );
        }
    }
    let verify_policy = json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "EcrLogin", "Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
        {"Sid": "PushOwnImages", "Effect": "Allow", "Resource": repos, "Action": [
            "ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:CompleteLayerUpload",
            "ecr:InitiateLayerUpload", "ecr:PutImage", "ecr:UploadLayerPart"]},
        {"Sid": "ReadScans", "Effect": "Allow", "Resource": read_scans, "Action": [
            "ecr:DescribeImageScanFindings", "ecr:DescribeImages", "ecr:DescribeRepositories"]}]});
    let mut deploy_policy = json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "ReadScans", "Effect": "Allow", "Resource": read_scans, "Action": [
            "ecr:DescribeImageScanFindings", "ecr:DescribeImages", "ecr:DescribeRepositories"]},
        {"Sid": "FindCluster", "Effect": "Allow", "Action": "eks:DescribeCluster",
         "Resource": format!("arn:aws:eks:{}:{}:cluster/{}", ids.region, ids.account, ids.eks_cluster)}]});
    if ids.admins_project_id.is_some() {
        // The admins' deploy pulls the BB's bundle (beside its images) by digest; it pushes nothing.
        if let Some(st) = deploy_policy["Statement"].as_array_mut() {
            st.push(
                json!({"Sid": "EcrLogin", "Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"}),
            );
            st.push(
                json!({"Sid": "PullBundles", "Effect": "Allow", "Resource": repos, "Action": [
                "ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]}),
            );
        }
    }
    let deploy_arn = format!("arn:aws:iam::{}:role/{}", ids.account, ids.deploy_role);
    let verify_arn = format!("arn:aws:iam::{}:role/{}", ids.account, ids.verify_role);
    let username = format!("bbgate-deploy-{}", bb.name);
    let vendor_policies: Vec<Value> = vendors
        .iter()
        .map(|v| {
            json!({"registry": v.registry, "repositories": v.repositories,
                "repository_policy": {"Version": "2012-10-17", "Statement": [
                    {"Sid": "BbgateReadsScans", "Effect": "Allow",
                     "Principal": {"AWS": [&verify_arn, &deploy_arn]},
                     "Action": ["ecr:DescribeImageScanFindings", "ecr:DescribeImages", "ecr:DescribeRepositories"]},
                    {"Sid": "SandboxPulls", "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{}:root", ids.account)},
                     "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]}]}})
        })
        .collect();
    json!({
        "building_block": bb.name,
        "namespace": bb.namespace,
        "oidc_provider": {"url": format!("https://{issuer}"), "client_id": ids.org_id, "arn": provider_arn},
        "verify_role": {
            "name": ids.verify_role,
            "arn": verify_arn,
            "assume_role_policy": trust(ids.project_id, None),
            "policy": verify_policy,
        },
        "deploy_role": {
            "name": ids.deploy_role,
            "arn": deploy_arn,
            "assume_role_policy": trust(ids.admins_project_id.unwrap_or(ids.project_id), Some(ids.context_id)),
            "policy": deploy_policy,
        },
        "eks_access_entry": {
            "cluster_name": ids.eks_cluster,
            "principal_arn": deploy_arn,
            "type": "STANDARD",
            "username": username,
            "kubernetes_groups": [group],
        },
        "aws_auth_map_roles": [{"rolearn": deploy_arn, "username": username, "groups": [group]}],
        "vendor_registries": vendor_policies,
    })
}

/// The building block `--building-block` names, and the group its deploy role is mapped to (`--group`, else
/// [`deploy_group`]).
fn target<'p>(policy: &'p Policy, t: &crate::cli::NamespaceTarget) -> Result<(&'p BuildingBlock, String)> {
    let bb = policy.require_building_block("--building-block", &t.building_block)?;
    Ok((bb, t.group.clone().unwrap_or_else(|| deploy_group(bb))))
}

/// `bbgate namespace render`: the kit as multi-document YAML on stdout; `--aws FILE` writes the AWS side.
pub fn run_render(args: &NamespaceRenderArgs) -> Result<u8> {
    let policy = Policy::load(args.target.policy.as_deref(), crate::cli::policy_pin().as_deref())?;
    let (bb, group) = target(&policy, &args.target)?;
    let mut out = format!(
        "# The namespace kit of building block {} (bbgate namespace render, policy {} sha256 {}).\n\
         # Apply it as a sandbox admin (kubectl apply -f); `bbgate namespace check --building-block {}` confirms it.\n",
        bb.name, policy.origin.location, policy.origin.sha256, bb.name
    );
    for doc in kit(&policy, bb, &group) {
        let text = yaml_serde::to_string(&doc)
            .map_err(|e| Error::Undecidable(format!("cannot write the kit as YAML: {e}")))?;
        out.push_str("---\n");
        out.push_str(&text);
    }
    if let Some(path) = &args.aws {
        let missing: Vec<&str> = [
            ("--account", &args.account),
            ("--org-id", &args.org_id),
            ("--project-id", &args.project_id),
            ("--context-id", &args.context_id),
            ("--eks-cluster", &args.eks_cluster),
        ]
        .into_iter()
        .filter(|(_, v)| v.is_none())
        .map(|(f, _)| f)
        .collect();
        if !missing.is_empty() {
            return Err(Error::invalid(format!(
                "--aws needs what only the admins know, never guessed: {}",
                missing.join(", ")
            )));
        }
        let region = crate::aws::region(args.region.as_deref())?;
        let verify_role = args
            .verify_role
            .clone()
            .unwrap_or_else(|| format!("bbgate-verify-{}", bb.name));
        let deploy_role = args
            .deploy_role
            .clone()
            .unwrap_or_else(|| format!("bbgate-deploy-{}", bb.name));
        let ids = AwsIds {
            account: args.account.as_deref().unwrap_or_default(),
            org_id: args.org_id.as_deref().unwrap_or_default(),
            project_id: args.project_id.as_deref().unwrap_or_default(),
            admins_project_id: args.admins_project_id.as_deref(),
            context_id: args.context_id.as_deref().unwrap_or_default(),
            region: &region,
            eks_cluster: args.eks_cluster.as_deref().unwrap_or_default(),
            verify_role: &verify_role,
            deploy_role: &deploy_role,
        };
        let doc = aws_kit(&policy, bb, &group, &ids);
        let text = serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n";
        crate::verify::write_output("AWS kit (IAM roles, EKS access entry)", path, text.as_bytes())?;
    }
    crate::output::line(out.trim_end())?;
    Ok(exit::PASS)
}

/// The identifiers `namespace render --aws` takes: account, CircleCI UUIDs. Checked so that a typo fails here,
/// not in IAM.
pub(crate) fn aws_account(text: &str) -> std::result::Result<String, String> {
    (text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.to_owned())
        .ok_or_else(|| "an AWS account id is 12 digits".to_owned())
}

pub(crate) fn uuid(text: &str) -> std::result::Result<String, String> {
    let parts: Vec<&str> = text.split('-').collect();
    let shape = [8, 4, 4, 4, 12];
    (parts.len() == 5
        && parts
            .iter()
            .zip(shape)
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit())))
    .then(|| text.to_ascii_lowercase())
    .ok_or_else(|| {
        "a CircleCI id is a UUID (Organization/Project Settings > Overview, or the context's page)".to_owned()
    })
}

/// The namespace's ResourceQuotas against the policy's `quota`: each key the policy sets must be set to that
/// value by some quota of the namespace (a looser or missing key is capacity the policy did not grant).
async fn quota_matches(client: &kube::Client, bb: &BuildingBlock, problems: &mut Vec<Diagnostic>) -> Result<()> {
    use k8s_openapi::api::core::v1::ResourceQuota;
    use kube::api::{Api, ListParams};
    let ns = &bb.namespace;
    let quotas = Api::<ResourceQuota>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await
        .map_err(|e| preflight::cluster_error(&format!("listing ResourceQuotas in {ns}"), e))?;
    let mut differs = Vec::new();
    for (key, want) in &bb.quota {
        let have: Vec<String> = quotas
            .items
            .iter()
            .filter_map(|q| q.spec.as_ref()?.hard.as_ref()?.get(key).map(|v| v.0.clone()))
            .collect();
        let same = have.iter().any(|h| {
            crate::deploy::guard::quantity(&Value::String(h.clone()))
                == crate::deploy::guard::quantity(&Value::String(want.clone()))
        });
        if !same {
            differs.push(if have.is_empty() {
                format!("{key} is not set (the policy's {want})")
            } else {
                format!("{key} is {} (the policy's {want})", have.join(" and "))
            });
        }
    }
    if !differs.is_empty() {
        problems.push(Diagnostic::error(
            "namespace-quota-differs",
            format!(
                "namespace {ns}: its ResourceQuota is not the policy's quota for building block {}: {}; re-apply \
                 ResourceQuota {QUOTA} from `bbgate namespace render`",
                bb.name,
                differs.join("; ")
            ),
        ));
    }
    Ok(())
}

/// Every question the kit's Role answers yes to: the policy's resources with helm's verbs (Secrets always),
/// and the read-only ones.
fn kit_asks(policy: &Policy) -> Vec<Ask> {
    grants(policy)
        .into_iter()
        .flat_map(|(group, resource, verbs)| {
            verbs.iter().map(move |v| Ask {
                group: group.to_owned(),
                resource: resource.to_owned(),
                verb: (*v).to_owned(),
            })
        })
        .collect()
}

/// `bbgate namespace check`: the preflight alone, plus the kit's quota and the deploy identity's access.
pub fn run_check(args: &NamespaceCheckArgs) -> Result<u8> {
    let policy = Policy::load(args.target.policy.as_deref(), crate::cli::policy_pin().as_deref())?;
    let (bb, group) = target(&policy, &args.target)?;
    let problems = crate::aws::runtime()?.block_on(async {
        let cluster = crate::deploy::connect_cluster(&args.cluster).await?;
        let client = &cluster.client;
        let ns = bb.namespace.as_str();
        let mut problems = Vec::new();
        if preflight::namespace(client, ns, &policy.deploy.pod_security, &mut problems).await? {
            preflight::isolation(client, ns, &bb.peers, &mut problems).await?;
            preflight::capacity(client, ns, &mut problems).await?;
            quota_matches(client, bb, &mut problems).await?;
            let who = if args.as_self {
                Reviewer::Caller
            } else {
                Reviewer::Subject {
                    user: format!("bbgate-deploy-{}", bb.name),
                    groups: vec![group.clone()],
                }
            };
            let denied = preflight::review(client, ns, &kit_asks(&policy), &who).await?;
            if !denied.is_empty() {
                let whom = if args.as_self {
                    "this identity".to_owned()
                } else {
                    format!("group {group}")
                };
                problems.push(Diagnostic::error(
                    "deploy-identity-not-allowed",
                    format!(
                        "in namespace {ns}, {whom} may not: {}; re-apply Role and RoleBinding {ROLE} from `bbgate \
                         namespace render`",
                        denied.join(", ")
                    ),
                ));
            }
        }
        Ok::<_, Error>(problems)
    })?;
    let ready = problems.is_empty();
    match args.format {
        Format::Json => {
            let doc = json!({
                "building_block": bb.name,
                "namespace": bb.namespace,
                "group": group,
                "verdict": if ready { "ready" } else { "gaps" },
                "problems": problems,
                "exit_code": if ready { exit::PASS } else { exit::DENY },
            });
            crate::output::line(&serde_json::to_string_pretty(&doc).unwrap_or_default())?;
        }
        Format::Human => {
            if ready {
                crate::output::human(&format!(
                    "namespace {} is ready for building block {}: Pod Security {}, isolated, quota as the policy \
                     sets it, group {group} may deploy",
                    bb.namespace, bb.name, policy.deploy.pod_security
                ))?;
            } else {
                crate::output::human(&format!(
                    "namespace {} is not ready for building block {} ({} gaps):",
                    bb.namespace,
                    bb.name,
                    problems.len()
                ))?;
                for p in &problems {
                    crate::output::human(&format!("  - [{}] {}", p.code, p.message))?;
                }
            }
        }
    }
    Ok(if ready { exit::PASS } else { exit::DENY })
}
