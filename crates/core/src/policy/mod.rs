//! The sandbox policy (TOML): thresholds, API-test rules, sign-off rules and the building blocks.
//!
//! Two phases, as in cargo-deny: deserialise (unknown keys and wrong types are errors at their line), then
//! validate, collecting every problem with its line before giving up.

pub mod peers;
pub mod registries;
pub mod signoff;

use crate::apitests::Status;
use crate::diag;
use crate::error::{Error, Result};
use crate::findings::ScoreKind;
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::ops::Range;
use std::path::Path;
use toml::Spanned;

/// The shipped default policy, used when no `--policy` (or `BBGATE_POLICY`) is given. A policy file in the
/// working directory is never picked up by itself: in CI that directory is the judged BB's own checkout.
pub const BUILTIN: &str = include_str!("../../../../policies/sandbox.toml");
pub const BUILTIN_REGO: &str = include_str!("../../../../policies/deploy.rego");
/// The admins' pin of the policy: the sha256 of the policy file (or of the built-in one), set in a context the
/// judged BB does not control.
pub const PIN_ENV: &str = "BBGATE_POLICY_SHA256";

/// What to do with a finding that has no score and no usable label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UnscoredAction {
    Allow,
    Warn,
    Signoff,
    Block,
}

impl UnscoredAction {
    pub fn as_str(self) -> &'static str {
        match self {
            UnscoredAction::Allow => "allow",
            UnscoredAction::Warn => "warn",
            UnscoredAction::Signoff => "signoff",
            UnscoredAction::Block => "block",
        }
    }
}

/// What to do with sign-offs that match no finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UnusedAction {
    Allow,
    Warn,
    Deny,
}

#[derive(Debug, Clone)]
pub struct ScanPolicy {
    pub block_from: f64,
    pub signoff_from: f64,
    pub score_preference: Vec<ScoreKind>,
    pub label_fallback: bool,
    pub unscored: UnscoredAction,
    pub max_age_days: i64,
}

#[derive(Debug, Clone)]
pub struct ApiTestsPolicy {
    pub required: bool,
    pub min_pass_ratio: f64,
    pub count_as_failed: Vec<Status>,
    pub max_age_days: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct SignoffPolicy {
    pub approvers: Vec<String>,
    pub max_validity_days: i64,
    pub warn_before_days: i64,
    pub unused: UnusedAction,
}

#[derive(Debug, Clone)]
pub struct BuildingBlock {
    pub name: String,
    pub namespace: String,
    pub repositories: Vec<String>,
    /// The namespace's ResourceQuota `hard` (`quota = { "requests.cpu" = "2", … }`), over `DEFAULT_QUOTA`.
    pub quota: std::collections::BTreeMap<String, String>,
    /// The other namespaces it talks to, on which ports, which way (`[[building_block.peers]]`).
    pub peers: Vec<peers::Peer>,
    /// Its own images kept elsewhere: a vendor's ECR, its organisation on a cached registry
    /// (`[[building_block.registries]]`).
    pub registries: Vec<registries::Registry>,
    matcher: GlobSet,
}

/// The ResourceQuota of a building block's namespace when its `quota` does not set a key: the four keys the
/// preflight requires (requests and limits of CPU and memory).
pub const DEFAULT_QUOTA: &[(&str, &str)] = &[
    ("limits.cpu", "4"),
    ("limits.memory", "8Gi"),
    ("requests.cpu", "2"),
    ("requests.memory", "4Gi"),
];

/// The API resources a BB's deploy identity manages in its namespace when `[deploy] resources` is not set
/// (`GROUP/RESOURCE`, core ones bare): what Helm charts of BBs create, helm's release Secrets included.
pub const DEFAULT_RESOURCES: &[&str] = &[
    "configmaps",
    "endpoints",
    "persistentvolumeclaims",
    "pods",
    "secrets",
    "serviceaccounts",
    "services",
    "apps/deployments",
    "apps/replicasets",
    "apps/statefulsets",
    "autoscaling/horizontalpodautoscalers",
    "batch/cronjobs",
    "batch/jobs",
    "networking.k8s.io/networkpolicies",
    "policy/poddisruptionbudgets",
];

/// A Kubernetes quantity as the API server accepts it (`500m`, `4Gi`, `1.5`, `1e3`).
pub fn is_quantity(text: &str) -> bool {
    let digits = text.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let suffix = &text[digits.len()..];
    let (mantissa, exponent) = match digits.split_once(['e', 'E']) {
        Some((m, e)) if suffix.is_empty() => (m, Some(e)),
        _ => (digits, None),
    };
    let number = |t: &str| {
        let t = t.strip_prefix(['+', '-']).unwrap_or(t);
        let (int, frac) = t.split_once('.').unwrap_or((t, ""));
        !(int.is_empty() && frac.is_empty())
            && int.bytes().all(|b| b.is_ascii_digit())
            && frac.bytes().all(|b| b.is_ascii_digit())
    };
    number(mantissa)
        && exponent.is_none_or(|e| {
            !e.is_empty()
                && e.strip_prefix(['+', '-'])
                    .unwrap_or(e)
                    .bytes()
                    .all(|b| b.is_ascii_digit())
        })
        && [
            "", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei",
        ]
        .contains(&suffix)
}

impl BuildingBlock {
    /// `*` matches within one path segment, `**` across segments.
    pub fn owns_repository(&self, repository: &str) -> bool {
        // The grammar first: `bb/im/../payments/x` is no repository, so no glob may match it.
        crate::findings::ecr::is_repository_name(repository) && self.matcher.is_match(repository)
    }

    /// Is the image `repository` (of ECR account `account`, when known) one of this building block's own: a
    /// repository of the sandbox's it owns, or one of its `[[building_block.registries]]`.
    pub fn owns_image(&self, account: Option<&str>, repository: &str) -> bool {
        self.owns_repository(repository) || self.registries.iter().any(|r| r.owns(account, repository))
    }

    /// Why an image of `repository` may not be judged as this building block's, if it may not.
    pub fn refuse_foreign(&self, repository: &str) -> Option<String> {
        (!self.owns_repository(repository)).then(|| {
            format!(
                "repository {repository} is not one of building block {}'s repositories ({}): a building block is \
                 judged on its own images only",
                self.name,
                self.repositories.join(", ")
            )
        })
    }
}

#[derive(Debug, Clone)]
pub struct RegoModule {
    pub path: String,
    pub source: String,
    pub sha256: String,
}

/// `[deploy]`: what `bbgate deploy` enforces beyond the verify decision.
#[derive(Debug, Clone)]
pub struct DeployPolicy {
    /// Evidence older than this is refused.
    pub max_evidence_age: jiff::SignedDuration,
    /// Registries images may come from; empty: only the evidence's own registry.
    pub registries: Vec<String>,
    /// Service types a chart may create (`ClusterIP` by default: no exposed interfaces).
    pub service_types: Vec<String>,
    /// CircleCI users whose approval of the hold job makes a deploy effective; empty: not checked.
    pub approvers: Vec<String>,
    /// Rego modules (conftest conventions: `deny`/`warn` in `package main`), named relative to the policy
    /// file and read with it; the built-in policy carries its own copy of `deploy.rego`.
    pub rego: Vec<RegoModule>,
    /// Rego files that could not be read (`file:line:col: …`): an error for `deploy` and `policy check`,
    /// not for `verify`, which does not use them (a policy copied without its .rego still verifies).
    pub rego_problems: Vec<String>,
    /// `helm --history-max`.
    pub history_max: u32,
    /// The Pod Security Standard the BB's namespace must enforce (`pod-security.kubernetes.io/enforce`), so the
    /// API server itself refuses what a manifest trick might slip past the guard: `restricted` or `baseline`.
    pub pod_security: String,
    /// Capabilities a container may add (restricted Pod Security allows only NET_BIND_SERVICE).
    pub capabilities: Vec<String>,
    /// ClusterRoles a chart's RoleBinding may grant inside the namespace (none by default).
    pub cluster_roles: Vec<String>,
    /// Value keys deploy may set beyond the values verify judged (`--set` of a namespace, say); none by default.
    pub settable: Vec<String>,
    /// Value keys that carry secrets: set only with `--set-secret` (or a `--set` bbgate then treats as secret),
    /// never printed or recorded.
    pub secret_keys: Vec<String>,
    /// The API resources (`GROUP/RESOURCE`, core ones bare) a BB's deploy identity may manage in its namespace:
    /// what the namespace kit's Role grants and `namespace check` asks for.
    pub resources: Vec<String>,
    /// May a chart's templates call `lookup` (read the cluster as the deploy identity sees it)? No by default.
    pub lookup: bool,
    /// What a chart's Roles may grant beyond the ordinary: `rbac`, `escalate`, `bind`, `impersonate`, `*`,
    /// `pods/exec`, `secrets` (every Secret of the namespace). None by default.
    pub grants: Vec<String>,
    /// CIDRs a chart's NetworkPolicy may open egress to (never the instance metadata service). None by default.
    pub egress: Vec<String>,
}

/// `[deploy] grants`: what a chart's Role may be allowed to grant.
pub const GRANTS: &[&str] = &["rbac", "escalate", "bind", "impersonate", "*", "pods/exec", "secrets"];

/// `[images]`: which images other than a building block's own may run in its release.
#[derive(Debug, Clone, Default)]
pub struct ImagesPolicy {
    /// Upstream registry host -> the ECR pull-through cache rule's repository prefix (`docker.io` ->
    /// `docker-hub`). A third-party image is judged, and run, as the cached copy in the sandbox's ECR.
    pub pull_through: std::collections::BTreeMap<String, String>,
    /// The sandbox's ECR account (`[images] ecr`, its registry host): a building block's own repositories and
    /// the cache's copies are judged only there (or in its `[[building_block.registries]]`); unset, in any account.
    pub ecr: Option<String>,
}

impl ImagesPolicy {
    /// The pull-through prefix a cached repository lives under (`docker-hub/library/postgres` ->
    /// `docker-hub`), when it is one.
    pub fn cache_prefix(&self, repository: &str) -> Option<&str> {
        self.pull_through
            .values()
            .map(String::as_str)
            .find(|p| repository.strip_prefix(p).is_some_and(|rest| rest.starts_with('/')))
    }
}

/// Pod Security Standards levels, weakest first.
pub const POD_SECURITY_LEVELS: [&str; 3] = ["privileged", "baseline", "restricted"];

/// Where the policy came from, for messages and the evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyOrigin {
    /// The file path, or `built-in`.
    pub location: String,
    pub sha256: String,
}

#[derive(Debug, Clone)]
pub struct Policy {
    pub deploy: DeployPolicy,
    pub images: ImagesPolicy,
    pub scan: ScanPolicy,
    pub api_tests: ApiTestsPolicy,
    pub signoffs: SignoffPolicy,
    pub building_blocks: Vec<BuildingBlock>,
    pub origin: PolicyOrigin,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(default)]
    scan: RawScan,
    #[serde(default)]
    api_tests: RawApiTests,
    #[serde(default)]
    signoffs: RawSignoffs,
    #[serde(default)]
    deploy: RawDeploy,
    #[serde(default)]
    images: RawImages,
    #[serde(default)]
    building_block: Vec<Spanned<RawBuildingBlock>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDeploy {
    max_evidence_age: Option<Spanned<String>>,
    registries: Option<Vec<String>>,
    service_types: Option<Spanned<Vec<String>>>,
    approvers: Option<Vec<String>>,
    rego: Option<Vec<Spanned<RawRego>>>,
    history_max: Option<Spanned<i64>>,
    pod_security: Option<Spanned<String>>,
    capabilities: Option<Vec<String>>,
    cluster_roles: Option<Vec<String>>,
    settable: Option<Vec<Spanned<String>>>,
    secret_keys: Option<Vec<Spanned<String>>>,
    resources: Option<Vec<Spanned<String>>>,
    lookup: Option<bool>,
    grants: Option<Vec<Spanned<String>>>,
    egress: Option<Vec<Spanned<String>>>,
}

/// A Rego module of `[deploy] rego`: a path beside the policy, or `{ path, sha256 }`, which pins its content
/// (required when the policy itself is pinned, so that a pinned policy pins everything it reads).
#[derive(Deserialize)]
#[serde(untagged)]
enum RawRego {
    Path(String),
    Pinned { path: String, sha256: String },
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawScan {
    block_from: Option<Spanned<f64>>,
    signoff_from: Option<Spanned<f64>>,
    score_preference: Option<Spanned<Vec<ScoreKind>>>,
    label_fallback: Option<bool>,
    unscored: Option<UnscoredAction>,
    max_age_days: Option<Spanned<i64>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawApiTests {
    required: Option<bool>,
    min_pass_ratio: Option<Spanned<f64>>,
    count_as_failed: Option<Spanned<Vec<Status>>>,
    max_age_days: Option<Spanned<i64>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSignoffs {
    approvers: Option<Spanned<Vec<Spanned<String>>>>,
    max_validity_days: Option<Spanned<i64>>,
    warn_before_days: Option<Spanned<i64>>,
    unused: Option<UnusedAction>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawImages {
    pull_through: Option<Spanned<std::collections::BTreeMap<String, Spanned<String>>>>,
    ecr: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBuildingBlock {
    name: Spanned<String>,
    namespace: Spanned<String>,
    repositories: Spanned<Vec<Spanned<String>>>,
    quota: Option<std::collections::BTreeMap<String, Spanned<String>>>,
    #[serde(default)]
    peers: Vec<peers::RawPeer>,
    #[serde(default)]
    registries: Vec<registries::RawRegistry>,
}

impl Policy {
    /// Load from `path`, else the built-in policy; then, when `pin` (the admins' `BBGATE_POLICY_SHA256`) is
    /// given, require the policy's sha256 to be that value.
    pub fn load(path: Option<&Path>, pin: Option<&str>) -> Result<Policy> {
        let pin = match pin.map(str::trim).filter(|p| !p.is_empty()) {
            Some(p) => Some(parse_sha256(p).ok_or_else(|| {
                Error::invalid(format!(
                    "{PIN_ENV}={p:?} is not a sha256 (64 hex digits): set it to the output of `sha256sum POLICY` or \
                     of `bbgate policy check`"
                ))
            })?),
            None => None,
        };
        let policy = match path {
            Some(p) => {
                let src = crate::input::read_text(p, crate::input::POLICY)?;
                Policy::parse_pinned(p, &src, p.display().to_string(), pin.is_some())?
            }
            None => Policy::parse(Path::new("<built-in policy>"), BUILTIN, "built-in".into())?,
        };
        if let Some(pin) = pin
            && pin != policy.origin.sha256
        {
            return Err(Error::invalid(format!(
                "policy {} has sha256 {}, but {PIN_ENV} pins {pin}: this is not the admins' policy; use the pinned \
                 policy file (or, if the admins changed the policy, update {PIN_ENV} in their context)",
                policy.origin.location, policy.origin.sha256
            )));
        }
        Ok(policy)
    }

    pub fn parse(path: &Path, src: &str, location: String) -> Result<Policy> {
        Policy::parse_pinned(path, src, location, false)
    }

    /// `pinned`: the policy is pinned by the admins, so every Rego module it reads must be pinned too.
    fn parse_pinned(path: &Path, src: &str, location: String, pinned: bool) -> Result<Policy> {
        let raw: RawPolicy = toml::from_str(src).map_err(|e| Error::invalid(diag::toml_error(path, src, &e)))?;
        let mut problems = Vec::new();
        let mut bad = |span: Range<usize>, msg: String| problems.push(diag::at(path, src, Some(span), msg));
        // Each section validates itself, collecting every problem with its place before anything is refused.
        let scan = scan_section(raw.scan, &mut bad);
        let api_tests = api_tests_section(raw.api_tests, &mut bad);
        let signoffs = signoffs_section(raw.signoffs, &mut bad);
        let deploy = deploy_section(raw.deploy, path, src, &location, pinned, &mut bad);
        let images = images_section(raw.images, &mut bad);
        let building_blocks = building_blocks(raw.building_block, &images.pull_through, &mut bad);
        if !problems.is_empty() {
            return Err(Error::Invalid(problems));
        }
        Ok(Policy {
            deploy,
            images,
            scan,
            api_tests,
            signoffs,
            building_blocks,
            origin: PolicyOrigin {
                location,
                sha256: sha256_hex(src.as_bytes()),
            },
        })
    }

    /// Why an image of `repository` may not run in `bb`'s release, if it may not: it must be one of the
    /// building block's own repositories, or the pull-through cache's copy of a third-party image.
    pub fn refuse_image(&self, bb: &BuildingBlock, account: Option<&str>, repository: &str) -> Option<String> {
        // Another account than the sandbox's: anyone can create `bb/payments/x` there and open it to the sandbox.
        if let (Some(sandbox), Some(a)) = (&self.images.ecr, account)
            && a != sandbox
            && !bb.registries.iter().any(|r| r.owns(account, repository))
        {
            return Some(format!(
                "repository {repository} is in ECR account {a}, not the sandbox's ({sandbox}; [images] ecr): a \
                 building block's own images and the cache's copies are judged there, or in a registry its \
                 [[building_block.registries]] lists"
            ));
        }
        if bb.owns_image(account, repository) {
            return None;
        }
        if crate::findings::ecr::is_repository_name(repository) && self.images.cache_prefix(repository).is_some() {
            // A cached organisation another building block owns is that building block's, not anyone's.
            return self
                .building_blocks
                .iter()
                .find(|o| o.name != bb.name && o.owns_image(account, repository))
                .map(|o| {
                    format!(
                        "repository {repository} is building block {}'s own (its [[building_block.registries]]), not \
                         a third-party image building block {} may run",
                        o.name, bb.name
                    )
                });
        }
        let caches: Vec<&str> = self.images.pull_through.values().map(String::as_str).collect();
        Some(format!(
            "repository {repository} is neither one of building block {}'s repositories ({}) nor under a pull-through \
             cache prefix ({}): a release runs only its own images and third-party images through the sandbox's \
             cache ([images] pull_through)",
            bb.name,
            bb.repositories.join(", "),
            if caches.is_empty() {
                "none configured".to_owned()
            } else {
                caches.join(", ")
            }
        ))
    }

    pub fn building_block(&self, name: &str) -> Option<&BuildingBlock> {
        self.building_blocks.iter().find(|b| b.name == name)
    }

    /// The building blocks' names, for messages that name a missing one: `a, b, c`.
    pub fn building_block_names(&self) -> String {
        self.building_blocks
            .iter()
            .map(|b| b.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The building block `name`, or why not: invalid input naming the flag and the known names.
    pub fn require_building_block(&self, flag: &str, name: &str) -> Result<&BuildingBlock> {
        self.building_block(name).ok_or_else(|| {
            Error::invalid(format!(
                "{flag} {name}: the policy ({}) has no such building block; it has: {}",
                self.origin.location,
                self.building_block_names()
            ))
        })
    }

    /// The building block a release belongs to: the named one, or the single one owning the first image of the
    /// release that is its own (third-party images, cache copies no building block owns, belong to none). Each
    /// image is `(ECR account when known, repository)`.
    pub fn select_for_release(&self, name: Option<&str>, images: &[(Option<&str>, &str)]) -> Result<&BuildingBlock> {
        if name.is_some() {
            return self.select_building_block(name, "");
        }
        let owned = |&&(account, repository): &&(Option<&str>, &str)| {
            self.images.cache_prefix(repository).is_none()
                || self.building_blocks.iter().any(|b| b.owns_image(account, repository))
        };
        let Some(&(account, first)) = images.iter().find(owned) else {
            let all: Vec<&str> = images.iter().map(|(_, r)| *r).collect();
            return Err(Error::invalid(format!(
                "every image of the release ({}) is a pull-through cache copy, so none names the building block: \
                 pass --building-block NAME (or list the building block's organisation on that registry in its \
                 [[building_block.registries]])",
                all.join(", ")
            )));
        };
        // The first own image names the building block; any other image it does not own is then denied as
        // foreign by the decision, naming that image.
        self.owner_of(account, first)
    }

    /// The building block to judge: the named one, or the single one owning `repository`.
    pub fn select_building_block(&self, name: Option<&str>, repository: &str) -> Result<&BuildingBlock> {
        if let Some(name) = name {
            return self.building_block(name).ok_or_else(|| {
                Error::invalid(format!(
                    "--building-block {name:?} is not in the policy ({}); known: {}",
                    self.origin.location,
                    self.building_blocks
                        .iter()
                        .map(|b| b.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            });
        }
        self.owner_of(None, repository)
    }

    /// The single building block owning the image `repository` of ECR account `account`.
    fn owner_of(&self, account: Option<&str>, repository: &str) -> Result<&BuildingBlock> {
        let owners: Vec<&BuildingBlock> = self
            .building_blocks
            .iter()
            .filter(|b| b.owns_image(account, repository))
            .collect();
        match owners.as_slice() {
            [one] => Ok(one),
            [] => Err(Error::invalid(format!(
                "no building block in the policy ({}) owns repository {repository:?}{}: pass --building-block NAME, \
                 or add the repository to that building block's `repositories` (or, for a registry of its own, \
                 its [[building_block.registries]])",
                self.origin.location,
                account.map(|a| format!(" of account {a}")).unwrap_or_default()
            ))),
            many => Err(Error::invalid(format!(
                "repository {repository:?} is owned by several building blocks ({}): pass --building-block NAME",
                many.iter().map(|b| b.name.as_str()).collect::<Vec<_>>().join(", ")
            ))),
        }
    }
}

/// A list of chart value keys (`a.b.c`): each dotted, no empty segment, no image key (the post-renderer pins
/// images; no value may set one).
fn value_keys(
    raw: Option<Vec<Spanned<String>>>,
    what: &str,
    bad: &mut impl FnMut(Range<usize>, String),
) -> Vec<String> {
    raw.unwrap_or_default()
        .into_iter()
        .map(|k| {
            let key = k.get_ref();
            if key.is_empty() || key.split('.').any(|p| p.is_empty() || p.contains(char::is_whitespace)) {
                bad(k.span(), format!("{what} {key:?} is not a value key like a.b.c"));
            }
            k.into_inner()
        })
        .collect()
}

/// `[images]`: the pull-through cache prefixes, each an upstream registry host mapped to a repository prefix.
fn images_section(raw: RawImages, bad: &mut impl FnMut(Range<usize>, String)) -> ImagesPolicy {
    let mut pull_through = std::collections::BTreeMap::new();
    let ecr = raw
        .ecr
        .and_then(|e| match crate::reference::parse_ecr_host(e.get_ref()) {
            Some((account, _)) => Some(account),
            None => {
                bad(
                    e.span(),
                    format!(
                        "[images] ecr = {:?} is not an ECR registry (ACCOUNT.dkr.ecr.REGION.amazonaws.com)",
                        e.get_ref()
                    ),
                );
                None
            }
        });
    let Some(table) = raw.pull_through else {
        return ImagesPolicy {
            ecr,
            ..ImagesPolicy::default()
        };
    };
    let span = table.span();
    let mut prefixes: Vec<String> = Vec::new();
    for (host, prefix) in table.into_inner() {
        if !is_registry_host(&host) {
            bad(
                span.clone(),
                format!(
                    "[images] pull_through key {host:?} is not a registry host (like \"docker.io\" or \"quay.io\")"
                ),
            );
        }
        let p = prefix.get_ref();
        if !crate::findings::ecr::is_repository_name(p) {
            bad(
                prefix.span(),
                format!(
                    "[images] pull_through.{host:?} = {p:?} is not an ECR repository prefix (lowercase path segments, \
                     like \"docker-hub\")"
                ),
            );
        }
        if prefixes
            .iter()
            .any(|q| q == p || q.starts_with(&format!("{p}/")) || p.starts_with(&format!("{q}/")))
        {
            bad(
                prefix.span(),
                format!("[images] pull_through prefix {p:?} overlaps another: each upstream needs its own prefix"),
            );
        }
        prefixes.push(p.clone());
        pull_through.insert(host, prefix.into_inner());
    }
    ImagesPolicy { pull_through, ecr }
}

/// A registry host as image references name one: DNS labels with dots, optionally `:port`.
fn is_registry_host(host: &str) -> bool {
    let (name, port) = host.split_once(':').map_or((host, None), |(h, p)| (h, Some(p)));
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    port_ok
        && (name.contains('.') || name == "localhost")
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// `[scan]`: the bands and how a score is chosen.
fn scan_section(raw: RawScan, bad: &mut impl FnMut(Range<usize>, String)) -> ScanPolicy {
    let block_from = raw.block_from.map_or(9.0, |v| {
        if !(v.get_ref().is_finite() && *v.get_ref() > 0.0 && *v.get_ref() <= 10.0) {
            bad(
                v.span(),
                format!("[scan] block_from = {} must be above 0 and at most 10", v.get_ref()),
            );
        }
        v.into_inner()
    });
    let signoff_from = raw.signoff_from.map_or(7.0, |v| {
        if !(v.get_ref().is_finite() && *v.get_ref() >= 0.0 && *v.get_ref() <= block_from) {
            bad(
                v.span(),
                format!(
                    "[scan] signoff_from = {} must be between 0 and block_from ({block_from})",
                    v.get_ref()
                ),
            );
        }
        v.into_inner()
    });
    let default_preference = vec![ScoreKind::Cvss3, ScoreKind::Cvss4, ScoreKind::Cvss2, ScoreKind::Ecr];
    let score_preference = raw.score_preference.map_or(default_preference, |v| {
        let span = v.span();
        let list = v.into_inner();
        if list.is_empty() {
            bad(
                span.clone(),
                "[scan] score_preference is empty: name at least one of cvss3, cvss4, cvss2, ecr".into(),
            );
        }
        for (i, k) in list.iter().enumerate() {
            if list[..i].contains(k) {
                bad(
                    span.clone(),
                    format!("[scan] score_preference names {} twice", k.as_str()),
                );
            }
        }
        list
    });
    let max_age_days = positive_days(raw.max_age_days, 30, "[scan] max_age_days", bad);
    ScanPolicy {
        block_from,
        signoff_from,
        score_preference,
        label_fallback: raw.label_fallback.unwrap_or(true),
        unscored: raw.unscored.unwrap_or(UnscoredAction::Warn),
        max_age_days,
    }
}

/// `[api_tests]`: which statuses fail and how many must pass.
fn api_tests_section(raw: RawApiTests, bad: &mut impl FnMut(Range<usize>, String)) -> ApiTestsPolicy {
    let min_pass_ratio = raw.min_pass_ratio.map_or(1.0, |v| {
        if !(0.0..=1.0).contains(v.get_ref()) {
            bad(
                v.span(),
                format!(
                    "[api_tests] min_pass_ratio = {} must be between 0.0 and 1.0",
                    v.get_ref()
                ),
            );
        }
        v.into_inner()
    });
    let default_failed = vec![
        Status::Failed,
        Status::Undefined,
        Status::Pending,
        Status::Ambiguous,
        Status::Unknown,
        Status::Skipped,
    ];
    let count_as_failed = raw.count_as_failed.map_or(default_failed, |v| {
        let span = v.span();
        let list = v.into_inner();
        if list.contains(&Status::Passed) {
            bad(
                span.clone(),
                "[api_tests] count_as_failed lists \"passed\": a passed scenario cannot count as failed".into(),
            );
        }
        if !list.contains(&Status::Failed) {
            bad(span, "[api_tests] count_as_failed must list \"failed\"".into());
        }
        list
    });
    let api_max_age = raw.max_age_days.map(|v| {
        if *v.get_ref() < 1 {
            bad(
                v.span(),
                format!("[api_tests] max_age_days = {} must be at least 1", v.get_ref()),
            );
        }
        v.into_inner()
    });
    ApiTestsPolicy {
        required: raw.required.unwrap_or(true),
        min_pass_ratio,
        count_as_failed,
        max_age_days: api_max_age,
    }
}

/// `[signoffs]`: who approves and for how long.
fn signoffs_section(raw: RawSignoffs, bad: &mut impl FnMut(Range<usize>, String)) -> SignoffPolicy {
    let approvers: Vec<String> = raw.approvers.map_or_else(Vec::new, |v| {
        v.into_inner()
            .into_iter()
            .map(|a| {
                if a.get_ref().trim().is_empty() {
                    bad(a.span(), "[signoffs] approvers has an empty name".into());
                }
                a.into_inner()
            })
            .collect()
    });
    let max_validity_days = positive_days(raw.max_validity_days, 90, "[signoffs] max_validity_days", bad);
    let warn_before_days = raw.warn_before_days.map_or(14, |v| {
        if *v.get_ref() < 0 {
            bad(
                v.span(),
                format!("[signoffs] warn_before_days = {} must not be negative", v.get_ref()),
            );
        }
        v.into_inner()
    });
    SignoffPolicy {
        approvers,
        max_validity_days,
        warn_before_days,
        unused: raw.unused.unwrap_or(UnusedAction::Warn),
    }
}

/// `[deploy]`: what deploy enforces; its Rego modules are read beside the policy (`path`).
fn deploy_section(
    d: RawDeploy,
    path: &Path,
    src: &str,
    location: &str,
    pinned: bool,
    bad: &mut impl FnMut(Range<usize>, String),
) -> DeployPolicy {
    let max_evidence_age = d.max_evidence_age.map_or(jiff::SignedDuration::from_hours(24), |v| {
        match v.get_ref().parse::<jiff::SignedDuration>() {
            Ok(age) if age.is_positive() => age,
            _ => {
                bad(
                    v.span(),
                    format!(
                        "[deploy] max_evidence_age = {:?} is not a positive duration like \"24h\" or \"90m\"",
                        v.get_ref()
                    ),
                );
                jiff::SignedDuration::from_hours(24)
            }
        }
    });
    let known_types = [
        "ClusterIP",
        "NodePort",
        "LoadBalancer",
        "ExternalName",
        "Ingress",
        "Gateway",
        "ExternalIPs",
    ];
    let service_types = d.service_types.map_or_else(
        || vec!["ClusterIP".to_owned()],
        |v| {
            for t in v.get_ref() {
                if !known_types.contains(&t.as_str()) {
                    bad(
                        v.span(),
                        format!("[deploy] service_types: {t:?} is not one of {}", known_types.join(", ")),
                    );
                }
            }
            v.into_inner()
        },
    );
    let base = path.parent().unwrap_or(Path::new("."));
    let mut rego = Vec::new();
    let mut rego_problems = Vec::new();
    match d.rego {
        // No key: the shipped rules, as documented. `rego = []` is the admins' explicit "none".
        None => rego.push(builtin_rego()),
        Some(list) => {
            for r in list {
                let span = r.span();
                match read_rego(base, location, r.into_inner(), pinned) {
                    Ok(module) => rego.push(module),
                    Err(msg) => rego_problems.push(diag::at(path, src, Some(span), msg)),
                }
            }
        }
    }
    let history_max = d.history_max.map_or(10, |v| {
        if !(1..=1000).contains(v.get_ref()) {
            bad(
                v.span(),
                format!("[deploy] history_max = {} must be 1 to 1000", v.get_ref()),
            );
        }
        (*v.get_ref()).clamp(1, 1000) as u32
    });
    let pod_security = d.pod_security.map_or_else(
        || "restricted".to_owned(),
        |v| {
            if !["baseline", "restricted"].contains(&v.get_ref().as_str()) {
                bad(
                    v.span(),
                    format!(
                        "[deploy] pod_security = {:?} must be \"restricted\" or \"baseline\" (\"privileged\" \
                         enforces nothing)",
                        v.get_ref()
                    ),
                );
            }
            v.into_inner()
        },
    );
    let settable = value_keys(d.settable, "[deploy] settable", bad);
    let secret_keys = value_keys(d.secret_keys, "[deploy] secret_keys", bad);
    let resources = api_resources(d.resources, bad);
    let grants = grants(d.grants, bad);
    let egress = egress_cidrs(d.egress, bad);
    DeployPolicy {
        lookup: d.lookup.unwrap_or(false),
        grants,
        egress,
        resources,
        settable,
        secret_keys,
        pod_security,
        capabilities: d.capabilities.unwrap_or_else(|| vec!["NET_BIND_SERVICE".to_owned()]),
        cluster_roles: d.cluster_roles.unwrap_or_default(),
        max_evidence_age,
        registries: d.registries.unwrap_or_default(),
        service_types,
        approvers: d.approvers.unwrap_or_default(),
        rego,
        rego_problems,
        history_max,
    }
}

/// `[deploy] grants`: each one of [`GRANTS`].
fn grants(list: Option<Vec<Spanned<String>>>, bad: &mut impl FnMut(Range<usize>, String)) -> Vec<String> {
    list.unwrap_or_default()
        .into_iter()
        .map(|g| {
            if !GRANTS.contains(&g.get_ref().as_str()) {
                bad(
                    g.span(),
                    format!("[deploy] grants: {:?} is not one of {}", g.get_ref(), GRANTS.join(", ")),
                );
            }
            g.into_inner()
        })
        .collect()
}

/// `[deploy] egress`: CIDRs (`ADDRESS/BITS`).
fn egress_cidrs(list: Option<Vec<Spanned<String>>>, bad: &mut impl FnMut(Range<usize>, String)) -> Vec<String> {
    list.unwrap_or_default()
        .into_iter()
        .map(|c| {
            let ok = c.get_ref().split_once('/').is_some_and(|(ip, bits)| {
                ip.parse::<std::net::IpAddr>().is_ok() && bits.parse::<u8>().is_ok_and(|b| b <= 128)
            });
            if !ok {
                bad(
                    c.span(),
                    format!("[deploy] egress: {:?} is not a CIDR like \"10.20.0.0/16\"", c.get_ref()),
                );
            }
            c.into_inner()
        })
        .collect()
}

/// `[deploy] resources`: GROUP/RESOURCE entries, or the default list.
fn api_resources(list: Option<Vec<Spanned<String>>>, bad: &mut impl FnMut(Range<usize>, String)) -> Vec<String> {
    list.map_or_else(
        || DEFAULT_RESOURCES.iter().map(|r| (*r).to_owned()).collect(),
        |list| {
            list.into_iter()
                .map(|r| {
                    if !is_api_resource(r.get_ref()) {
                        bad(
                            r.span(),
                            format!(
                                "[deploy] resources: {:?} is not GROUP/RESOURCE (core ones bare), e.g. \"configmaps\" \
                                 or \"apps/deployments\"",
                                r.get_ref()
                            ),
                        );
                    }
                    r.into_inner()
                })
                .collect()
        },
    )
}

/// `[[building_block]]`: names, namespaces and the repositories each owns.
fn building_blocks(
    raw: Vec<Spanned<RawBuildingBlock>>,
    pull_through: &std::collections::BTreeMap<String, String>,
    bad: &mut impl FnMut(Range<usize>, String),
) -> Vec<BuildingBlock> {
    let mut building_blocks: Vec<BuildingBlock> = Vec::new();
    if raw.is_empty() {
        problems_push_none(
            bad,
            "no [[building_block]] entries: the policy must name the building blocks it admits",
        );
    }
    for entry in raw {
        let entry_span = entry.span();
        let bb = entry.into_inner();
        let name = bb.name.get_ref().clone();
        if name.trim().is_empty() {
            bad(bb.name.span(), "[[building_block]] name is empty".into());
        }
        if building_blocks.iter().any(|b| b.name == name) {
            bad(entry_span, format!("[[building_block]] {name:?} is defined twice"));
        }
        if !is_dns_label(bb.namespace.get_ref()) {
            bad(
                bb.namespace.span(),
                format!(
                    "[[building_block]] {name:?}: namespace {:?} is not a valid Kubernetes namespace name (lowercase letters, digits and '-', at most 63)",
                    bb.namespace.get_ref()
                ),
            );
        }
        let mut set = GlobSetBuilder::new();
        let repo_span = bb.repositories.span();
        let repositories: Vec<String> = bb
            .repositories
            .into_inner()
            .into_iter()
            .map(|r| {
                match GlobBuilder::new(r.get_ref()).literal_separator(true).build() {
                    Ok(g) => {
                        set.add(g);
                    }
                    Err(e) => bad(
                        r.span(),
                        format!(
                            "[[building_block]] {name:?}: repository pattern {:?} is not a valid glob: {e}",
                            r.get_ref()
                        ),
                    ),
                }
                r.into_inner()
            })
            .collect();
        if repositories.is_empty() {
            bad(
                repo_span,
                format!(
                    "[[building_block]] {name:?}: repositories is empty: list the ECR repositories this building block owns"
                ),
            );
        }
        let matcher = set.build().unwrap_or_else(|_| GlobSet::empty());
        let mut quota: std::collections::BTreeMap<String, String> = DEFAULT_QUOTA
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        for (key, value) in bb.quota.unwrap_or_default() {
            let key_ok = !key.is_empty()
                && key.len() <= 253
                && key
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"./-".contains(&b));
            if !key_ok {
                bad(
                    value.span(),
                    format!("[[building_block]] {name:?}: quota key {key:?} is not a ResourceQuota resource name"),
                );
            }
            if !is_quantity(value.get_ref()) {
                bad(
                    value.span(),
                    format!(
                        "[[building_block]] {name:?}: quota {key} = {:?} is not a Kubernetes quantity (e.g. \"2\", \
                         \"500m\", \"4Gi\")",
                        value.get_ref()
                    ),
                );
            }
            quota.insert(key, value.into_inner());
        }
        let peers = peers::read(&name, bb.namespace.get_ref(), bb.peers, bad);
        let registries = registries::read(&name, bb.registries, pull_through, bad);
        building_blocks.push(BuildingBlock {
            name,
            namespace: bb.namespace.into_inner(),
            repositories,
            quota,
            peers,
            registries,
            matcher,
        });
    }
    building_blocks
}

/// Read one `[deploy] rego` module beside the policy, checking its pin.
fn read_rego(base: &Path, location: &str, raw: RawRego, pinned: bool) -> std::result::Result<RegoModule, String> {
    let (name, want) = match raw {
        RawRego::Path(p) => (p, None),
        RawRego::Pinned { path, sha256 } => (path, Some(sha256.to_ascii_lowercase())),
    };
    let module = if location == "built-in" && name == "deploy.rego" {
        builtin_rego()
    } else {
        let full = base.join(&name);
        let source = crate::input::read_text(&full, crate::input::REGO)
            .map_err(|e| format!("[deploy] rego: {e} (keep the .rego files beside the policy)"))?;
        RegoModule {
            path: full.display().to_string(),
            sha256: sha256_hex(source.as_bytes()),
            source,
        }
    };
    match want {
        Some(w) if w != module.sha256 => Err(format!(
            "[deploy] rego: {} has sha256 {}, but the policy pins {w}: restore the admins' file",
            module.path, module.sha256
        )),
        None if pinned && location != "built-in" => Err(format!(
            "[deploy] rego: {name:?} is not pinned, and the policy is ({PIN_ENV}): write it as \
             {{ path = \"{name}\", sha256 = \"{}\" }} so the pin covers the rules too",
            module.sha256
        )),
        _ => Ok(module),
    }
}

fn problems_push_none(bad: &mut impl FnMut(std::ops::Range<usize>, String), msg: &str) {
    bad(0..0, msg.to_owned());
}

fn positive_days(
    v: Option<Spanned<i64>>,
    default: i64,
    what: &str,
    bad: &mut impl FnMut(std::ops::Range<usize>, String),
) -> i64 {
    v.map_or(default, |v| {
        if *v.get_ref() < 1 {
            bad(v.span(), format!("{what} = {} must be at least 1", v.get_ref()));
        }
        v.into_inner()
    })
}

/// `GROUP/RESOURCE`, or a bare RESOURCE of the core group.
fn is_api_resource(text: &str) -> bool {
    let word = |w: &str| {
        !w.is_empty()
            && w.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    let group = |g: &str| !g.is_empty() && g.split('.').all(word);
    match text.split('/').collect::<Vec<_>>().as_slice() {
        [r] => word(r),
        [g, r] => group(g) && word(r),
        _ => false,
    }
}

/// RFC 1123 label: what Kubernetes accepts as a namespace name.
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// RFC 1123 subdomain: what Kubernetes accepts as most object names (dot-separated labels, at most 253).
pub fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns_label)
}

/// Whole days from `from` to `to` (negative when `to` is earlier).
pub fn days_between(from: jiff::civil::Date, to: jiff::civil::Date) -> i64 {
    from.until(to).map_or(i64::MAX, |span| i64::from(span.get_days()))
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A pinned sha256 as admins write it (`sha256sum` output or `sha256:…`), as `sha256_hex` writes it: 64
/// lowercase hex digits. None when it is not one.
pub fn parse_sha256(text: &str) -> Option<String> {
    let hex = text.strip_prefix("sha256:").unwrap_or(text).to_ascii_lowercase();
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hex)
}

/// The shipped `deploy.rego`, built into the binary.
fn builtin_rego() -> RegoModule {
    RegoModule {
        path: "built-in deploy.rego".into(),
        sha256: sha256_hex(BUILTIN_REGO.as_bytes()),
        source: BUILTIN_REGO.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(src: &str) -> Result<Policy> {
        Policy::parse(Path::new("p.toml"), src, "p.toml".into())
    }

    const BB: &str =
        "[[building_block]]\nname = \"payments\"\nnamespace = \"paymenthub\"\nrepositories = [\"bb/payments/*\"]\n";

    #[test]
    fn builtin_policy_is_valid() {
        let p = Policy::parse(Path::new("builtin"), BUILTIN, "built-in".into()).unwrap();
        assert!(p.building_block("payments").is_some());
        assert_eq!(p.scan.block_from, 9.0);
        assert_eq!(p.scan.signoff_from, 7.0);
    }

    #[test]
    fn misspelt_key_is_located() {
        let err = parse(&format!("[scan]\nblok_from = 9.0\n{BB}"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("p.toml:2:1:"), "{err}");
        assert!(err.contains("blok_from"), "{err}");
    }

    #[test]
    fn mistyped_key_is_located() {
        let err = parse(&format!("[scan]\nblock_from = \"nine\"\n{BB}"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("p.toml:2:"), "{err}");
    }

    #[test]
    fn every_problem_is_reported() {
        let err = parse("[scan]\nblock_from = 11.0\nsignoff_from = -1.0\nmax_age_days = 0\n[[building_block]]\nname = \"x\"\nnamespace = \"Bad_NS\"\nrepositories = [\"bb/[\"]\n")
            .unwrap_err();
        let Error::Invalid(problems) = err else { panic!() };
        assert_eq!(problems.len(), 5, "{problems:#?}");
        assert!(problems[0].starts_with("p.toml:2:"));
        assert!(problems.iter().any(|p| p.contains("Bad_NS")));
        assert!(problems.iter().any(|p| p.contains("not a valid glob")));
    }

    #[test]
    fn the_deploy_grants_egress_and_lookup_keys_are_read_and_checked() {
        let p = parse(&format!(
            "{BB}[deploy]\nlookup = true\ngrants = [\"secrets\", \"rbac\"]\negress = [\"10.20.0.0/16\", \"fd00::/8\"]\n"
        ))
        .unwrap();
        assert!(p.deploy.lookup);
        assert_eq!(p.deploy.grants, ["secrets", "rbac"]);
        assert_eq!(p.deploy.egress, ["10.20.0.0/16", "fd00::/8"]);
        let d = parse(BB).unwrap().deploy;
        assert!(!d.lookup && d.grants.is_empty() && d.egress.is_empty());
        assert!(
            !d.resources.iter().any(|r| r.starts_with("rbac.")),
            "the kit writes no RBAC by default"
        );
        let err = parse(&format!(
            "{BB}[deploy]\ngrants = [\"root\"]\negress = [\"10.0.0.0\", \"10.0.0.0/999\"]\n"
        ))
        .unwrap_err();
        let Error::Invalid(problems) = err else { panic!() };
        assert_eq!(problems.len(), 3, "{problems:#?}");
        assert!(
            problems[0].contains("\"root\" is not one of rbac, escalate"),
            "{problems:#?}"
        );
        assert!(problems[1].contains("not a CIDR"), "{problems:#?}");
    }

    #[test]
    fn star_stays_within_a_segment() {
        let p = parse(BB).unwrap();
        let bb = p.building_block("payments").unwrap();
        assert!(bb.owns_repository("bb/payments/emulator"));
        assert!(!bb.owns_repository("bb/payments/emulator/dev/x"));
        assert!(!bb.owns_repository("bb/payments-evil/x"));
        assert!(p.select_building_block(None, "bb/im/x").is_err());
    }

    #[test]
    fn a_building_blocks_quota_overrides_the_default_keys_and_must_be_quantities() {
        let base =
            "[[building_block]]\nname = \"payments\"\nnamespace = \"paymenthub\"\nrepositories = [\"bb/payments/*\"]\n";
        let p = parse(base).unwrap();
        let q = &p.building_block("payments").unwrap().quota;
        assert_eq!(q.len(), 4);
        assert_eq!(q["requests.memory"], "4Gi");
        assert_eq!(p.deploy.resources.len(), DEFAULT_RESOURCES.len());
        let p = parse(&format!(
            "{base}quota = {{ \"requests.cpu\" = \"500m\", pods = \"20\" }}\n"
        ))
        .unwrap();
        let q = &p.building_block("payments").unwrap().quota;
        assert_eq!(
            (q["requests.cpu"].as_str(), q["pods"].as_str(), q.len()),
            ("500m", "20", 5)
        );
        let err = parse(&format!(
            "{base}quota = {{ \"requests.cpu\" = \"two\", \"Bad Key\" = \"1\" }}\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("quota requests.cpu = \"two\" is not a Kubernetes quantity"),
            "{err}"
        );
        assert!(
            err.contains("quota key \"Bad Key\" is not a ResourceQuota resource name"),
            "{err}"
        );
        let err = parse(&format!(
            "[deploy]\nresources = [\"apps/deployments\", \"Apps/x/y\"]\n{base}"
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("[deploy] resources: \"Apps/x/y\" is not GROUP/RESOURCE"),
            "{err}"
        );
        for (q, ok) in [
            ("2", true),
            ("500m", true),
            ("4Gi", true),
            ("1.5", true),
            ("1e3", true),
            ("", false),
            ("Gi", false),
            ("4GB", false),
            ("1.2.3", false),
            ("-", false),
        ] {
            assert_eq!(is_quantity(q), ok, "{q:?}");
        }
    }
}
