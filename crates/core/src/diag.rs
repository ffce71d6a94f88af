//! Pointing at the place in a file where a problem is.

use std::ops::Range;
use std::path::Path;

/// 1-based line and column of a byte offset in `src`.
pub fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(src.len());
    let before = &src.as_bytes()[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let col = src[line_start..offset].chars().count() + 1;
    (line, col)
}

/// `file:line:col: message` for a span in a file's text.
pub fn at(path: &Path, src: &str, span: Option<Range<usize>>, message: impl std::fmt::Display) -> String {
    match span {
        Some(span) => {
            let (line, col) = line_col(src, span.start);
            format!("{}:{line}:{col}: {message}", path.display())
        }
        None => format!("{}: {message}", path.display()),
    }
}

/// A TOML parse or type error: `file:line:col: message`, then the line it is on with the span marked (toml's
/// own messages often name the value and not the key: the line shows which key).
pub fn toml_error(path: &Path, src: &str, err: &toml::de::Error) -> String {
    let message = err.message().trim_end();
    let mut out = at(path, src, err.span(), message);
    if let Some(span) = err.span() {
        out.push('\n');
        out.push_str(&snippet(src, span));
    }
    out
}

/// The line holding `span`, numbered, with `^` under the span's first line.
pub fn snippet(src: &str, span: Range<usize>) -> String {
    let (line, col) = line_col(src, span.start);
    let text = src.lines().nth(line - 1).unwrap_or("");
    let start = span.start.min(src.len());
    let end = span.end.clamp(start, src.len());
    let width = src
        .get(start..end)
        .map_or(1, |s| s.chars().take_while(|c| *c != '\n').count().max(1));
    format!(
        "{line:>5} | {text}\n      | {}{}",
        " ".repeat(col - 1),
        "^".repeat(width)
    )
}

/// What a check found, for people and for machines: a stable kebab-case `code` (listed in [`CODES`] and in
/// the README's "Diagnostic codes"), whether it denies (`error`) or is only reported (`warning`), the message,
/// and where, when it comes from a place in a file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Diagnostic {
    // Field order alphabetical: the evidence's canonical form is its serialisation.
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    pub message: String,
    pub severity: Level,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Error,
    Warning,
}

impl Diagnostic {
    /// A finding that denies. `code` must be one of [`CODES`].
    pub fn error(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(code, Level::Error, message.into())
    }

    /// A finding that is reported and does not deny.
    pub fn warning(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(code, Level::Warning, message.into())
    }

    fn new(code: &'static str, severity: Level, message: String) -> Self {
        debug_assert!(
            CODES.iter().any(|(c, _)| *c == code),
            "undocumented diagnostic code {code}"
        );
        Diagnostic {
            code: code.to_owned(),
            location: None,
            message,
            severity,
        }
    }

    pub fn at(mut self, location: impl Into<String>) -> Self {
        self.location = Some(location.into());
        self
    }
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Every code verify and deploy give, and what it means. The README's table is checked against this list.
pub const CODES: &[(&str, &str)] = &[
    (
        "foreign-repository",
        "the image's repository is neither one of the building block's nor under a pull-through cache prefix",
    ),
    ("release-empty", "the release names no image to judge"),
    (
        "scan-not-complete",
        "the scan is not COMPLETE (basic) or ACTIVE (enhanced): failed, in progress, or unsupported",
    ),
    (
        "scan-undated",
        "the scan has no completion time, so its age cannot be checked",
    ),
    ("scan-from-future", "the scan completed after the decision time"),
    ("scan-stale", "the scan is older than [scan] max_age_days"),
    (
        "scan-counts-exceed",
        "warning: the pages hold more findings than findingSeverityCounts says; all are judged",
    ),
    (
        "finding-blocked",
        "a finding scores at or above block_from (or is unscored and blocked by policy); no sign-off can waive it",
    ),
    (
        "finding-needs-signoff",
        "a finding is in the sign-off band and no live sign-off covers it",
    ),
    (
        "finding-unscored",
        "warning: findings with no score and no usable label, under [scan] unscored = \"warn\"",
    ),
    (
        "signoff-unused",
        "sign-offs that match no finding needing one (an error under [signoffs] unused = \"deny\")",
    ),
    (
        "signoff-expiring",
        "warning: applied sign-offs that expire within [signoffs] warn_before_days",
    ),
    (
        "api-report-missing",
        "no API test report was given and the policy requires one",
    ),
    (
        "api-run-failed",
        "the test run as a whole failed (runner verdict, BeforeAll/AfterAll hook, parse error, unfinished run)",
    ),
    (
        "api-report-undated",
        "a report has no start time and [api_tests] max_age_days requires one",
    ),
    ("api-report-stale", "a report is older than [api_tests] max_age_days"),
    ("api-tests-empty", "the reports hold no scenarios"),
    (
        "api-tests-failed",
        "fewer scenarios passed than [api_tests] min_pass_ratio requires",
    ),
    // bbgate deploy: the deploy record's `problems`.
    (
        "not-admitted",
        "deploy: the evidence, or deploy's own decision on the admins' inputs, refused the image",
    ),
    (
        "namespace-missing",
        "deploy: the building block's namespace does not exist",
    ),
    (
        "namespace-pod-security",
        "deploy: the namespace does not enforce the Pod Security level [deploy] pod_security names",
    ),
    (
        "namespace-not-isolated",
        "deploy: no NetworkPolicy of the namespace selects all its pods for Ingress",
    ),
    (
        "network-policy-egress",
        "deploy: a chart's NetworkPolicy lets the BB reach the instance metadata service, other namespaces or addresses the policy does not list ([deploy] egress)",
    ),
    (
        "rbac-escalation",
        "deploy: a chart's Role or RoleBinding hands its pods RBAC, escalate, bind, impersonate, wildcards, pods/exec, every Secret, or the deploy Role ([deploy] grants)",
    ),
    (
        "lookup-not-allowed",
        "deploy: the chart's templates call lookup, which reads the cluster as the deploy identity sees it ([deploy] lookup)",
    ),
    (
        "render-differs",
        "deploy: helm's render at install is not the render bbgate judged; the post-renderer refused it and nothing was installed",
    ),
    (
        "deploy-identity-too-broad",
        "deploy: the deploy identity may read or write beyond the BB's namespace (SelfSubjectAccessReview)",
    ),
    (
        "network-policy-leak",
        "deploy: a NetworkPolicy (the namespace's or the chart's) admits other namespaces or outside addresses",
    ),
    (
        "namespace-no-quota",
        "deploy: no ResourceQuota of the namespace sets requests and limits for cpu and memory",
    ),
    (
        "pipeline-not-allowed",
        "deploy: the pipeline's identity may not do in the namespace what helm will do",
    ),
    (
        "api-not-served",
        "deploy: the chart uses an API the cluster does not serve",
    ),
    (
        "release-stuck",
        "deploy: the release is stuck in pending-install, -upgrade or -rollback",
    ),
    ("namespace-escape", "deploy: an object sets another namespace"),
    (
        "cluster-scoped-object",
        "deploy: the chart creates a cluster-scoped object",
    ),
    (
        "service-exposed",
        "deploy: a Service type the policy does not allow ([deploy] service_types)",
    ),
    (
        "ingress-exposed",
        "deploy: an Ingress, Gateway or route exposes the building block outside the cluster",
    ),
    (
        "external-ips",
        "deploy: a Service routes traffic for outside addresses (externalIPs)",
    ),
    (
        "external-name",
        "deploy: an ExternalName Service points outside the namespace",
    ),
    (
        "rbac-cluster-role",
        "deploy: a RoleBinding grants a ClusterRole the policy does not allow ([deploy] cluster_roles)",
    ),
    (
        "rbac-foreign-subject",
        "deploy: a RoleBinding grants to an identity outside the namespace",
    ),
    (
        "quota-exceeded",
        "deploy: the chart's pods need more than the namespace's quota has left",
    ),
    (
        "resources-undeclared",
        "deploy: a container declares no cpu or memory requests and limits",
    ),
    (
        "host-namespace",
        "deploy: a pod shares the node's network, PID or IPC namespace",
    ),
    ("host-path", "deploy: a pod mounts a hostPath volume"),
    ("host-port", "deploy: a container opens a port on the node"),
    (
        "ownership-conflict",
        "deploy: an object of the chart exists in the namespace and is not this release's; helm will not take it over",
    ),
    (
        "pod-security",
        "verify --chart, deploy: a pod breaks the Pod Security level the namespace enforces ([deploy] pod_security)",
    ),
    ("privileged-container", "deploy: a container is privileged"),
    (
        "privilege-escalation",
        "deploy: a container allows privilege escalation",
    ),
    (
        "capabilities-added",
        "deploy: a container adds capabilities the policy does not allow ([deploy] capabilities)",
    ),
    (
        "unconfined-profile",
        "deploy: a seccomp or AppArmor profile is unconfined",
    ),
    ("proc-mount-unmasked", "deploy: a container sets procMount: Unmasked"),
    ("image-missing", "deploy: a container has no image"),
    (
        "image-of-other-bb",
        "deploy: a container runs another building block's image",
    ),
    (
        "image-not-judged",
        "deploy: a container runs an image that is not one of the evidence's digests",
    ),
    (
        "registry-not-allowed",
        "deploy: an image comes from a registry the policy does not allow ([deploy] registries)",
    ),
    (
        "rego-deny",
        "deploy: a rule of the policy's Rego modules denies an object",
    ),
    (
        "api-server-refused",
        "deploy: the API server's dry run (validation, admission) refused an object",
    ),
    (
        "helm-install-failed",
        "deploy: helm upgrade --install failed (helm rolled back)",
    ),
    (
        "rollout-unconfirmed",
        "deploy: the workloads did not become available after the install",
    ),
    ("helm-test-failed", "deploy: the chart's helm tests failed"),
    (
        "namespace-quota-differs",
        "namespace check: the namespace's ResourceQuota does not set a key of the policy's quota to its value",
    ),
    (
        "deploy-identity-not-allowed",
        "namespace check: the deploy identity's group (or the caller, with --as-self) lacks a permission of the kit's Role",
    ),
    (
        "image-without-digest",
        "audit: a running container names its image by tag and no digest (neither the pod spec nor the container status)",
    ),
    (
        "image-unjudgeable",
        "audit: a running container's image cannot be located in ECR (no image, a malformed reference)",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_toml_error_shows_the_line_and_marks_the_span() {
        let src = "[scan]\nblock_from = \"nine\"\n";
        let err = toml::from_str::<toml::Table>("x = ").unwrap_err();
        let shown = toml_error(Path::new("p.toml"), "x = ", &err);
        assert!(shown.starts_with("p.toml:1:"), "{shown}");
        assert!(shown.contains("\n    1 | x = \n"), "{shown}");
        assert_eq!(
            snippet(src, 20..26),
            "    2 | block_from = \"nine\"\n      |              ^^^^^^"
        );
    }

    #[test]
    fn line_col_counts_from_one() {
        let src = "a = 1\nbb = 2\n";
        assert_eq!(line_col(src, 0), (1, 1));
        assert_eq!(line_col(src, 6), (2, 1));
        assert_eq!(line_col(src, 9), (2, 4));
    }
}
