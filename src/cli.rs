//! The command line (clap derive): one struct per subcommand. The orb and README invocations are
//! parsed against these definitions by the test suite, so they cannot drift.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// The exit codes, in every command's help.
pub const EXIT_CODES: &str = "Exit codes: 0 pass, 1 denied by policy, 2 invalid input or configuration, 3 could not decide \
                              (AWS, the cluster or a tool failed: re-run). With --format json, every exit prints one JSON \
                              document on stdout.";

#[derive(Parser, Debug)]
#[command(
    name = "bbgate",
    version,
    about = "Decides whether a GovStack Building Block image may enter the sandbox, and puts it in.",
    after_help = EXIT_CODES,
    // A flag given twice takes the later value: CI steps append flags to a base command line.
    args_override_self = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Say on stderr every call bbgate makes to AWS and every helm it runs (method, host and path, status,
    /// time; never a token, key or secret value). Also BBGATE_LOG=calls.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Decide on a BB release (one image, or every image of its chart) from the ECR scans, its API test reports
    /// and its sign-offs.
    #[command(after_help = VERIFY_EXAMPLES)]
    Verify(Box<VerifyArgs>),
    /// Push an image (OCI layout or docker-archive) to a registry without Docker, and print its digest.
    #[command(after_help = PUSH_EXAMPLES)]
    Push(Box<PushArgs>),
    /// Install a BB that verify passed: evidence, namespace preflight, guarded render, helm pinned by digest.
    #[command(after_help = DEPLOY_EXAMPLES)]
    Deploy(Box<DeployArgs>),
    /// After a pass: push what verify judged (chart, values, reports, pages, evidence) as one OCI release bundle
    /// beside the image, for the admins' `deploy --bundle`.
    #[command(after_help = PUBLISH_EXAMPLES)]
    Publish(Box<PublishArgs>),
    /// Ask the admins' deploy project to install a published bundle: a CircleCI pipeline of their project, or a
    /// request file for a pull request to their deployment repository. A request selects a bundle, nothing else.
    #[command(after_help = REQUEST_EXAMPLES)]
    RequestDeploy(Box<RequestDeployArgs>),
    /// Put verify's Markdown summary on the pull request, as one comment kept up to date (GitHub).
    #[command(after_help = COMMENT_EXAMPLES)]
    Comment(Box<CommentArgs>),
    /// Print an EKS bearer token as a kubeconfig ExecCredential (like `aws eks get-token`, no AWS CLI).
    #[command(after_help = EXIT_CODES)]
    EksToken(EksTokenArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    #[command(after_help = "Example:\n  bbgate completions bash > /etc/bash_completion.d/bbgate")]
    Completions(CompletionsArgs),
    /// Write bbgate's man pages (one per command) into a directory.
    #[command(after_help = "Example:\n  bbgate man --out-dir /usr/local/share/man/man1")]
    Man(ManArgs),
    /// Work with the policy and sign-off files.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Check deploy's signed attestations.
    #[command(subcommand)]
    Attest(AttestCommand),
    /// Work with a BB's Helm chart without a cluster or AWS.
    #[command(subcommand)]
    Chart(ChartCommand),
    /// Sign-offs for other tools: export them as OpenVEX, or write unapproved requests for a pull request.
    #[command(subcommand)]
    Signoffs(SignoffsCommand),
    /// Sandbox admins: a building block's namespace kit from the policy, and its check against the cluster.
    #[command(subcommand)]
    Namespace(NamespaceCommand),
    /// Sandbox admins: judge again every image running in the building blocks' namespaces, under today's ECR
    /// scans, policy and sign-offs (a scheduled job: enhanced scanning keeps finding CVEs, sign-offs expire).
    #[command(after_help = AUDIT_EXAMPLES)]
    Audit(Box<AuditArgs>),
    /// Helm's post-renderer during deploy (helm 3 runs it, helm 4 through a plugin bbgate writes): pins every
    /// image of the rendered chart to the digest the evidence judged. Not for people.
    #[command(hide = true)]
    PostRender(PostRenderArgs),
}

const VERIFY_EXAMPLES: &str = "Examples:\n  \
    bbgate verify --findings bbgate-out/findings --api-report result.message --signoffs signoffs/payments.toml\n  \
    bbgate verify --image 123456789012.dkr.ecr.eu-central-1.amazonaws.com/bb/payments/adapter:1.5.0 \
    --api-report result.message --evidence evidence.json\n  \
    bbgate verify --chart helm/payments --values helm/values-sandbox.yaml --api-report result.message\n\n\
    Exit codes: 0 pass, 1 denied by policy, 2 invalid input or configuration, 3 could not decide (AWS, the cluster \
    or a tool failed: re-run). With --format json, every exit prints one JSON document on stdout.";

const AUDIT_EXAMPLES: &str = "Example:\n  \
    bbgate audit --eks-cluster govstack-sandbox --signoffs signoffs/*.toml --junit audit.xml --format json\n\n\
    Exit codes: 0 every running image passes, 1 an image would now be denied (or runs by tag only, or from \
    outside ECR), 2 invalid input or configuration, 3 could not decide (AWS or the cluster failed: re-run).";

const PUSH_EXAMPLES: &str = "Example:\n  \
    bbgate push --from docker-archive:image.tar --to 123456789012.dkr.ecr.eu-central-1.amazonaws.com/bb/payments/adapter:1.5.0\n\n\
    Exit codes: 0 pushed, 1 refused by policy, 2 invalid input or configuration, 3 the registry failed (re-run).";

const PUBLISH_EXAMPLES: &str = "Example:\n  \
    bbgate publish --evidence bbgate-out/evidence.json --chart helm/payments --values helm/values-sandbox.yaml \
    --api-report result.message --findings bbgate-out/findings \
    --to 123456789012.dkr.ecr.eu-central-1.amazonaws.com/bb/payments/adapter:bundle-1.5.0 --out bbgate-out/bundle.json\n\n\
    Exit codes: 0 published, 1 refused (the inputs are not what the evidence judged, or it did not pass), 2 invalid \
    input or configuration, 3 the registry failed (re-run).";

const REQUEST_EXAMPLES: &str = "Example:\n  \
    bbgate request-deploy --bundle 123456789012.dkr.ecr.eu-central-1.amazonaws.com/bb/payments/adapter@sha256:… \
    --building-block payments --circleci-project gh/GovStackWorkingGroup/sandbox-deploy\n\n\
    Exit codes: 0 requested, 1 refused (no such bundle, or not this building block's), 2 invalid input, 3 the \
    registry or CircleCI failed (re-run).";

const COMMENT_EXAMPLES: &str = "Example:\n  \
    bbgate comment --markdown bbgate-out/summary.md --repository GovStackWorkingGroup/bb-payments --pull-request 42\n\n\
    Reads the token from GITHUB_TOKEN (--token-env NAME). Exit codes: 0 posted or updated, 2 invalid input or \
    configuration, 3 GitHub failed (re-run).";

/// `bbgate comment`: where reviewers look.
#[derive(Args, Debug)]
pub struct CommentArgs {
    /// The Markdown summary `verify --markdown` wrote (the orb's bbgate-out/summary.md).
    #[arg(long, value_name = "FILE")]
    pub markdown: PathBuf,
    /// The GitHub repository, OWNER/NAME.
    #[arg(long, value_name = "OWNER/NAME")]
    pub repository: String,
    /// The pull request's number.
    #[arg(long, value_name = "N")]
    pub pull_request: String,
    /// Which of bbgate's comments on the pull request this is (one per key: a repository of several building
    /// blocks keeps one each).
    #[arg(long, value_name = "KEY", default_value = "verify")]
    pub key: String,
    /// The environment variable holding the GitHub token (never printed).
    #[arg(long, value_name = "NAME", default_value = "GITHUB_TOKEN")]
    pub token_env: String,
    /// GitHub's REST API: https://api.github.com, GitHub Enterprise's https://HOST/api/v3, or a loopback address
    /// for tests.
    #[arg(long, value_name = "URL", default_value = crate::comment::DEFAULT_API, value_parser = crate::comment::api_url)]
    pub github_api_url: String,
    /// Output on stdout: one line for people, or one JSON document.
    #[arg(long, value_enum, default_value_t = Format::Human, env = "BBGATE_FORMAT")]
    pub format: Format,
}

const DEPLOY_EXAMPLES: &str = "Example:\n  \
    bbgate deploy --evidence bbgate-out/evidence.json --chart helm/payments --building-block payments --release payments \
    --values helm/values-sandbox.yaml --eks-cluster govstack-sandbox --api-report result.message\n  \
    bbgate deploy --bundle 123456789012.dkr.ecr.eu-central-1.amazonaws.com/bb/payments/adapter@sha256:… \
    --building-block payments --release payments --eks-cluster govstack-sandbox   (the admins' project)\n\n\
    Exit codes: 0 deployed (or checked, with --dry-run), 1 refused or the rollout failed, 2 invalid input or \
    configuration, 3 could not decide (AWS, the cluster or helm failed: re-run).";

#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Args, Debug)]
pub struct ManArgs {
    /// The directory to write bbgate.1 and bbgate-COMMAND.1 into.
    #[arg(long, value_name = "DIR")]
    pub out_dir: PathBuf,
}

impl Command {
    /// The output format the command was asked for (`--format`), for commands that have one.
    pub fn format(&self) -> Format {
        match self {
            Command::Verify(a) => a.format,
            Command::Push(a) => a.format,
            Command::Deploy(a) => a.format,
            Command::Publish(a) => a.format,
            Command::RequestDeploy(a) => a.format,
            Command::Comment(a) => a.format,
            Command::Attest(AttestCommand::Verify(a)) => a.format,
            Command::Chart(ChartCommand::Check(a)) => a.format,
            Command::Namespace(NamespaceCommand::Check(a)) => a.format,
            Command::Audit(a) => a.format,
            Command::Signoffs(SignoffsCommand::Approve(a)) => a.format,
            Command::EksToken(_)
            | Command::Policy(_)
            | Command::Namespace(NamespaceCommand::Render(_))
            | Command::Signoffs(_)
            | Command::PostRender(_)
            | Command::Completions(_)
            | Command::Man(_) => Format::Human,
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum SignoffsCommand {
    /// Write the sign-offs valid at a time as an OpenVEX 0.2.0 document (status not_affected, the analysis as
    /// impact statement, approver, expiry and mitigation in the notes), for `trivy --vex` and `grype --vex`.
    #[command(after_help = "Example:\n  \
        bbgate signoffs export --format openvex --signoffs signoffs/payments.toml --out payments.openvex.json\n  \
        trivy image --vex payments.openvex.json bb/payments/emulator:dev\n\n\
        Exit codes: 0 written, 2 invalid input (a sign-off file, or a sign-off with no one repository: give --image).")]
    Export(SignoffsExportArgs),
    /// Write unapproved sign-off stubs (TOML) for every finding a verify decision says needs a sign-off, or for
    /// every not_affected statement of a VEX document: analysis and mitigation to fill in, no approver.
    #[command(after_help = "Example:\n  \
        bbgate signoffs request --decision bbgate-out/verify.json --out signoffs/requested.toml\n\n\
        Exit codes: 0 written, 2 invalid input.")]
    Request(SignoffsRequestArgs),
    /// Sandbox admins: approve the requests of a file (analysis and mitigation filled in) into the admins'
    /// sign-off file, dated today and expiring within the policy's limit, and print the file's new pin.
    #[command(after_help = "Example:\n  \
        bbgate signoffs approve --requests signoffs/requested.toml --into signoffs/payments.toml \
        --approver sandbox-admin@govstack.global\n\n\
        Exit codes: 0 approved (the new BBGATE_SIGNOFFS_SHA256 pin printed), 2 invalid input (each request \
        that cannot be approved named, nothing written).")]
    Approve(SignoffsApproveArgs),
}

#[derive(Args, Debug)]
pub struct SignoffsApproveArgs {
    /// The requests (`bbgate signoffs request` wrote them; the BB team filled in analysis and mitigation).
    #[arg(long, value_name = "FILE")]
    pub requests: PathBuf,
    /// The admins' sign-off file the approved sign-offs are added to (created when missing).
    #[arg(long, value_name = "FILE")]
    pub into: PathBuf,
    /// Who approves: one of the policy's [signoffs] approvers when it lists any.
    #[arg(long, value_name = "EMAIL")]
    pub approver: String,
    /// Days until the sign-offs expire [default and at most: the policy's [signoffs] max_validity_days].
    #[arg(long, value_name = "N")]
    pub days: Option<i64>,
    /// Approve only these ids (repeat or list several) [default: every request of the file].
    #[arg(long, value_name = "ID", num_args = 1..)]
    pub only: Vec<String>,
    /// Policy file [default: the built-in policy].
    #[arg(long, env = "BBGATE_POLICY", value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Output on stdout: lines for people, or one JSON document.
    #[arg(long, value_enum, default_value_t = Format::Human, env = "BBGATE_FORMAT")]
    pub format: Format,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum VexFormat {
    Openvex,
}

#[derive(Args, Debug)]
pub struct SignoffsExportArgs {
    /// The document's format.
    #[arg(long, value_enum, default_value_t = VexFormat::Openvex)]
    pub format: VexFormat,
    /// Policy file [default: the built-in policy].
    #[arg(long, env = "BBGATE_POLICY", value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Sign-off files (TOML); repeat or list several.
    #[arg(long, value_name = "FILE", num_args = 1.., required = true)]
    pub signoffs: Vec<PathBuf>,
    /// Export the sign-offs valid at this time (RFC 3339) [default: now].
    #[arg(long, value_name = "RFC3339")]
    pub now: Option<jiff::Timestamp>,
    /// The products: images as you scan them (REF, REF:TAG or REF@DIGEST); [default: each sign-off's repository,
    /// else its building block's repositories that are not patterns].
    #[arg(long, value_name = "REF", num_args = 1..)]
    pub image: Vec<String>,
    /// The registry host to put before repositories in product ids (e.g. the sandbox's ECR host).
    #[arg(long, value_name = "HOST")]
    pub registry: Option<String>,
    /// Write here instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("source").required(true).multiple(true).args(["decision", "vex"]))]
pub struct SignoffsRequestArgs {
    /// A decision: the output of `bbgate verify --format json` (the orb's verify.json).
    #[arg(long, value_name = "FILE")]
    pub decision: Option<PathBuf>,
    /// A VEX document (OpenVEX): a stub for each not_affected statement. Never an approved sign-off.
    #[arg(long, value_name = "FILE")]
    pub vex: Option<PathBuf>,
    /// The building block the --vex requests are for.
    #[arg(long, value_name = "NAME")]
    pub building_block: Option<String>,
    /// Write here instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum NamespaceCommand {
    /// Print, from the policy, everything deploy's preflight requires of a building block's namespace, as one
    /// multi-document YAML to apply: Namespace with its Pod Security labels, NetworkPolicy, ResourceQuota, Role
    /// and RoleBinding for the deploy identity's group. --aws also writes the IAM roles' trust and permission
    /// policies and the EKS access entry as JSON.
    #[command(after_help = "Examples:\n  \
        bbgate namespace render --building-block payments > payments-kit.yaml\n  \
        bbgate namespace render --building-block payments --aws payments-aws.json --account 123456789012 \
        --org-id 6f5a3c0e-9d4b-4e57-8a9f-1b2c3d4e5f60 --project-id 0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9 \
        --context-id 9e8d7c6b-5a49-4837-a261-5f4e3d2c1b0a --eks-cluster sandbox --region eu-central-1\n\n\
        Exit codes: 0 written, 2 invalid input or configuration.")]
    Render(NamespaceRenderArgs),
    /// Run deploy's namespace preflight alone: list every gap (exit 1) or confirm the namespace (exit 0). Access is
    /// checked for the deploy identity's group (SubjectAccessReview), or with --as-self for the caller.
    #[command(
        after_help = "Example:\n  bbgate namespace check --building-block payments --eks-cluster sandbox\n\n\
        Exit codes: 0 ready, 1 gaps listed, 2 invalid input or configuration, 3 the cluster failed (re-run)."
    )]
    Check(NamespaceCheckArgs),
}

/// Whose namespace: the building block, the policy that names it, the group its deploy role is mapped to.
#[derive(Args, Debug)]
pub struct NamespaceTarget {
    /// The policy's [[building_block]].
    #[arg(long, env = "BBGATE_BUILDING_BLOCK", value_name = "NAME")]
    pub building_block: String,
    /// Policy file [default: the built-in policy].
    #[arg(long, env = "BBGATE_POLICY", value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// The Kubernetes group the deploy role is mapped to [default: bbgate:deploy:NAME].
    #[arg(long, value_name = "GROUP")]
    pub group: Option<String>,
}

#[derive(Args, Debug)]
pub struct NamespaceRenderArgs {
    #[command(flatten)]
    pub target: NamespaceTarget,
    /// Also write the AWS side as JSON: the verify and deploy roles (trust and permission policies) and the EKS
    /// access entry (and aws-auth mapping) of the deploy role. Needs --account, --org-id, --project-id,
    /// --context-id and --eks-cluster.
    #[arg(long, value_name = "FILE", help_heading = "AWS")]
    pub aws: Option<PathBuf>,
    /// The AWS account id of the sandbox.
    #[arg(long, value_name = "ID", value_parser = crate::namespace::aws_account, help_heading = "AWS")]
    pub account: Option<String>,
    /// The CircleCI organization id (the OIDC provider's audience).
    #[arg(long, value_name = "UUID", value_parser = crate::namespace::uuid, help_heading = "AWS")]
    pub org_id: Option<String>,
    /// The BB's CircleCI project id: only its jobs may assume the roles.
    #[arg(long, value_name = "UUID", value_parser = crate::namespace::uuid, help_heading = "AWS")]
    pub project_id: Option<String>,
    /// The admins' own deploy project (the recommended mode: `deploy --bundle` from a project only they
    /// change): the deploy role trusts only its jobs, never the BB's project, and may pull the BB's bundles.
    #[arg(long, value_name = "UUID", value_parser = crate::namespace::uuid, help_heading = "AWS")]
    pub admins_project_id: Option<String>,
    /// The admins' restricted context id: only jobs with it may assume the deploy role.
    #[arg(long, value_name = "UUID", value_parser = crate::namespace::uuid, help_heading = "AWS")]
    pub context_id: Option<String>,
    /// The EKS cluster the access entry is for.
    #[arg(long, value_name = "NAME", help_heading = "AWS")]
    pub eks_cluster: Option<String>,
    /// The region of the ECR repositories and the cluster [default: AWS_REGION, else AWS_DEFAULT_REGION].
    #[arg(long, value_name = "REGION", help_heading = "AWS")]
    pub region: Option<String>,
    /// The verify role's name [default: bbgate-verify-NAME].
    #[arg(long, value_name = "ROLE", help_heading = "AWS")]
    pub verify_role: Option<String>,
    /// The deploy role's name [default: bbgate-deploy-NAME].
    #[arg(long, value_name = "ROLE", help_heading = "AWS")]
    pub deploy_role: Option<String>,
}

/// The cluster to read: a kubeconfig, or EKS by name with the AWS identity.
#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("cluster").args(["kubeconfig", "eks_cluster"]))]
pub struct ClusterArgs {
    /// Kubeconfig [default: KUBECONFIG, else ~/.kube/config].
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Reach EKS cluster NAME with the AWS identity (DescribeCluster + an EKS token; no AWS CLI).
    #[arg(long, env = "BBGATE_EKS_CLUSTER", value_name = "NAME")]
    pub eks_cluster: Option<String>,
    #[command(flatten)]
    pub aws: AwsIdentity,
}

#[derive(Args, Debug)]
pub struct NamespaceCheckArgs {
    #[command(flatten)]
    pub target: NamespaceTarget,
    /// Review the caller's own access (run as the deploy identity) instead of the group's.
    #[arg(long)]
    pub as_self: bool,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Output on stdout: lines for people, or one JSON document.
    #[arg(long, value_enum, default_value_t = Format::Human, env = "BBGATE_FORMAT")]
    pub format: Format,
}

#[derive(Args, Debug)]
pub struct AuditArgs {
    /// The admins' policy file [default: the built-in policy]; BBGATE_POLICY_SHA256, when set, must be its sha256.
    #[arg(long, env = "BBGATE_POLICY", value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// The admins' sign-off files; when BBGATE_SIGNOFFS_SHA256 is set, each must be pinned there.
    #[arg(long, value_name = "FILE", num_args = 1..)]
    pub signoffs: Vec<PathBuf>,
    /// Only these building blocks [default: every building block of the policy].
    #[arg(long = "building-block", value_name = "NAME", num_args = 1..)]
    pub building_blocks: Vec<String>,
    /// Evidence files of past verifies: an image running with no evidence naming its digest is listed, and a
    /// finding blocked now that its evidence did not block is marked new.
    #[arg(long, value_name = "FILE", num_args = 1..)]
    pub evidence: Vec<PathBuf>,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// How long to wait for an ECR scan still in progress before giving up (exit 3).
    #[arg(long, value_name = "DUR", default_value = "5m", value_parser = positive_duration)]
    pub scan_timeout: std::time::Duration,
    /// First wait between scan status reads, and the settle delay between the two agreeing reads of a scan.
    #[arg(long, value_name = "DUR", default_value = "2s", value_parser = positive_duration)]
    pub poll_interval: std::time::Duration,
    /// Namespaces read at once.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
    /// Write a JUnit report: one test case per namespace and image.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Also write the JSON document (as --format json prints it) to FILE, whatever --format is.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Output on stdout: a table for people, or one JSON document.
    #[arg(long, value_enum, default_value_t = Format::Human, env = "BBGATE_FORMAT")]
    pub format: Format,
}

#[derive(Subcommand, Debug)]
pub enum ChartCommand {
    /// Render the chart offline and run deploy's guard on it (no cluster, no AWS): the namespace is the building
    /// block's, quota checks are skipped. Lists the images the release needs, each third-party one with the
    /// pull-through reference the sandbox runs.
    #[command(
        after_help = "Example:\n  bbgate chart check helm/payments --values helm/values-sandbox.yaml\n\n\
                            Exit codes: 0 clean, 1 guard problems, 2 invalid chart or policy, 3 helm failed."
    )]
    Check(ChartCheckArgs),
}

#[derive(Args, Debug)]
pub struct ChartCheckArgs {
    /// The chart directory.
    #[arg(value_name = "DIR")]
    pub chart: PathBuf,
    #[command(flatten)]
    pub render: ChartRender,
    /// Policy file [default: the built-in policy].
    #[arg(long, env = "BBGATE_POLICY", value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// The policy's [[building_block]] the chart belongs to [default: the one owning the chart's own images].
    #[arg(long, env = "BBGATE_BUILDING_BLOCK", value_name = "NAME")]
    pub building_block: Option<String>,
    /// Output on stdout: lines for people, or one JSON document.
    #[arg(long, value_enum, default_value_t = Format::Human, env = "BBGATE_FORMAT")]
    pub format: Format,
}

/// How a chart is rendered, shared by `verify --chart` and `chart check` (deploy has its own, with the images
/// pinned).
#[derive(Args, Debug, Clone, Default)]
pub struct ChartRender {
    #[command(flatten)]
    pub values: ChartValues,
    /// The Helm release name to render with [default: the chart's name].
    #[arg(long, value_name = "NAME", value_parser = release_name)]
    pub release: Option<String>,
    /// The helm binary (3.x or 4.x).
    #[arg(long, env = "BBGATE_HELM", value_name = "PATH", default_value = "helm")]
    pub helm: PathBuf,
}

impl ChartRender {
    /// No value, no release name: nothing that only a chart render uses.
    pub(crate) fn is_empty(&self) -> bool {
        self.values.is_empty() && self.release.is_none()
    }
}

/// Chart values as helm takes them, for verify --chart, chart check and deploy alike. verify binds them (by
/// sha256) in the evidence; deploy must give the same, plus only keys the policy lets it set.
#[derive(Args, Debug, Clone, Default)]
pub struct ChartValues {
    /// Values files, as helm's --values, in order; repeat the flag or list several.
    #[arg(long = "values", short = 'f', value_name = "FILE", num_args = 1..)]
    pub values: Vec<PathBuf>,
    /// Chart values, as helm's --set KEY=VALUE; repeat the flag or list several.
    #[arg(long = "set", value_name = "KEY=VALUE", num_args = 1..)]
    pub set: Vec<String>,
    /// Chart values kept as strings, as helm's --set-string KEY=VALUE; repeat the flag or list several.
    #[arg(long = "set-string", value_name = "KEY=VALUE", num_args = 1..)]
    pub set_string: Vec<String>,
    /// Chart values read from files, as helm's --set-file KEY=PATH; repeat the flag or list several.
    #[arg(long = "set-file", value_name = "KEY=PATH", num_args = 1..)]
    pub set_file: Vec<String>,
    /// Chart values given as JSON, as helm's --set-json KEY=JSON; repeat the flag or list several.
    #[arg(long = "set-json", value_name = "KEY=JSON", num_args = 1..)]
    pub set_json: Vec<String>,
    /// A secret chart value read from the environment variable ENVVAR (KEY=ENVVAR): never printed, never in the
    /// evidence or the record, given to helm in a 0600 values file removed afterwards. At deploy, KEY must be
    /// one of the policy's [deploy] secret_keys.
    #[arg(long = "set-secret", value_name = "KEY=ENVVAR", num_args = 1..)]
    pub set_secret: Vec<String>,
}

impl ChartValues {
    pub(crate) fn is_empty(&self) -> bool {
        self.values.is_empty()
            && self.set.is_empty()
            && self.set_string.is_empty()
            && self.set_file.is_empty()
            && self.set_json.is_empty()
            && self.set_secret.is_empty()
    }
}

#[derive(Args, Debug)]
pub struct PostRenderArgs {
    /// The pins deploy wrote: the evidence's images and the admins' policy.
    #[arg(long, value_name = "FILE")]
    pub pins: PathBuf,
}

#[derive(Subcommand, Debug)]
pub enum AttestCommand {
    /// Verify a deploy attestation (a DSSE envelope signed with AWS KMS) offline, with the key's public half.
    #[command(
        after_help = "Example:\n  bbgate attest verify --key deploy-key.pem deploy-attestation.dsse.json\n\n\
                            Exit codes: 0 verified, 1 no signature verifies (altered, or another key), 2 not an \
                            attestation."
    )]
    Verify(AttestVerifyArgs),
}

#[derive(Args, Debug)]
pub struct AttestVerifyArgs {
    /// The KMS key's public key: PEM (`-----BEGIN PUBLIC KEY-----`) or the DER `aws kms get-public-key` returns.
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// The attestation file (deploy-attestation.dsse.json).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// The deploy statuses accepted as VERIFIED (deployed, checked, failed, refused); repeat for more. A signed
    /// record of a failed or refused deploy is a true record, not a deploy: exit 1 unless its status is asked for.
    #[arg(long, value_name = "STATUS", num_args = 1.., default_values_t = ["deployed".to_owned()])]
    pub status: Vec<String>,
    /// Output on stdout: lines for people, or one JSON document with the verified statement.
    #[arg(long, value_enum, default_value_t = Format::Human, env = "BBGATE_FORMAT")]
    pub format: Format,
}

#[derive(Subcommand, Debug)]
pub enum PolicyCommand {
    /// Validate the policy and sign-off files without deciding anything (for pre-commit hooks), and list the
    /// sign-offs that are expired, not yet valid or expiring soon.
    #[command(
        after_help = "Example:\n  bbgate policy check --policy policies/sandbox.toml --signoffs signoffs/*.toml\n\n\
                            Exit codes: 0 valid (expired sign-offs are listed, not refused), 2 invalid."
    )]
    Check(PolicyCheckArgs),
}

/// The admins' pin of the policy (`BBGATE_POLICY_SHA256`): read from the environment only, never from a flag,
/// because it belongs in a context the judged BB does not control.
pub fn policy_pin() -> Option<String> {
    std::env::var(crate::policy::PIN_ENV)
        .ok()
        .filter(|v| !v.trim().is_empty())
}

/// The pipeline's AWS identity, for every command that calls AWS (ECR, STS, EKS, KMS).
#[derive(Args, Debug, Clone, Default)]
pub struct AwsIdentity {
    /// Role to assume with the CircleCI OIDC token (CIRCLE_OIDC_TOKEN_V2, else CIRCLE_OIDC_TOKEN); else
    /// AWS_ROLE_ARN when AWS_WEB_IDENTITY_TOKEN_FILE is not set. Without one: the standard AWS credential chain.
    #[arg(long, env = "BBGATE_ROLE_ARN", value_name = "ARN")]
    pub role_arn: Option<String>,
    /// STS session name [default: bbgate-$CIRCLE_PROJECT_REPONAME-$CIRCLE_BUILD_NUM, cleaned, at most 64].
    #[arg(long, value_name = "NAME")]
    pub session_name: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
}

#[derive(Args, Debug, Clone)]
pub struct PolicyArgs {
    /// Policy file [default: the built-in policy; a policy file in the working directory is never used by
    /// itself]. BBGATE_POLICY_SHA256, when set, must be its sha256.
    #[arg(long, env = "BBGATE_POLICY", value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Sign-off files (TOML, [[signoff]] entries); repeat or list several.
    #[arg(long, value_name = "FILE", num_args = 1..)]
    pub signoffs: Vec<PathBuf>,
}

#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("source").required(true).multiple(true).args(["findings", "image", "chart"]))]
pub struct VerifyArgs {
    /// Judge the release a Helm chart runs: render it (helm template, dependencies included), and judge every
    /// container image (the BB's own in ECR, third-party ones through the pull-through cache). Online, or with
    /// --findings holding the saved pages of its images.
    #[arg(long, value_name = "DIR")]
    pub chart: Option<PathBuf>,
    #[command(flatten)]
    pub render: ChartRender,
    /// Saved `aws ecr describe-image-scan-findings` outputs, one per page, or directories of them (*.json); the
    /// pages of several images together are a release of several images. Trivy and Grype JSON reports too (a
    /// prediction).
    #[arg(long, value_name = "FILE", num_args = 1..)]
    pub findings: Vec<PathBuf>,
    /// Judge an image in ECR: REPO:TAG, REPO@sha256:…, or ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO:TAG. With
    /// --findings, nothing is fetched: the image the saved reports are of (a Trivy or Grype report of a file,
    /// `trivy image --input`, names none), checked against those that name one.
    #[arg(long, value_name = "REF")]
    pub image: Option<String>,
    #[command(flatten)]
    pub aws: AwsIdentity,
    /// How long to wait for the scan before giving up (exit 3), e.g. 15m, 90s.
    #[arg(long, value_name = "DUR", default_value = "15m", value_parser = positive_duration)]
    pub scan_timeout: std::time::Duration,
    /// First wait between scan status reads, doubled up to 30 s; also the settle delay before deciding.
    #[arg(long, value_name = "DUR", default_value = "2s", value_parser = positive_duration)]
    pub poll_interval: std::time::Duration,
    /// Push this image first (oci:DIR[:TAG] or docker-archive:FILE) to --image's repository and tag with ECR
    /// credentials, then judge exactly the digest pushed.
    #[arg(long, value_name = "SOURCE", requires = "image", conflicts_with = "findings")]
    pub push_from: Option<String>,
    /// With --push-from: send registry calls here instead of the ECR host (a VPC endpoint alias or mirror).
    #[arg(long, env = "BBGATE_REGISTRY_URL", value_name = "URL", requires = "push_from")]
    pub registry_url: Option<String>,
    /// Write each raw findings page of the read decided on into DIR, one folder per image for a chart (replay
    /// with --findings DIR).
    #[arg(long, value_name = "DIR", conflicts_with = "findings")]
    pub save_findings: Option<PathBuf>,
    /// GovStack API test reports: cucumber messages NDJSON, cucumber JSON or JUnit XML (detected from content).
    #[arg(long = "api-report", value_name = "FILE", num_args = 1..)]
    pub api_reports: Vec<PathBuf>,
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// The policy's [[building_block]] to judge [default: the one whose repositories match the scan's].
    #[arg(long, env = "BBGATE_BUILDING_BLOCK", value_name = "NAME")]
    pub building_block: Option<String>,
    /// Registry host recorded in the evidence, e.g. 123456789012.dkr.ecr.eu-central-1.amazonaws.com.
    #[arg(long, env = "BBGATE_REGISTRY", value_name = "HOST")]
    pub registry: Option<String>,
    /// Decision time (RFC 3339), for reproducible runs [default: now].
    #[arg(long, value_name = "RFC3339")]
    pub now: Option<jiff::Timestamp>,
    /// Output on stdout: a table for people, or one JSON document.
    #[arg(long, value_enum, default_value_t = Format::Human, env = "BBGATE_FORMAT")]
    pub format: Format,
    /// Write the evidence file (the decision bound to the image digest and every input's sha256).
    #[arg(long, value_name = "FILE")]
    pub evidence: Option<PathBuf>,
    /// Write the decision as an in-toto Statement with a SLSA verification-summary predicate.
    #[arg(long, value_name = "FILE")]
    pub attestation: Option<PathBuf>,
    /// Write a JUnit XML report (for CircleCI's store_test_results).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write SARIF 2.1.0 (GitHub code scanning): a rule per vulnerability, a result per blocked (error) or
    /// needing-sign-off (warning) finding, signed-off findings as suppressed results.
    #[arg(long, value_name = "FILE")]
    pub sarif: Option<PathBuf>,
    /// Write a Markdown summary short enough for a pull-request comment or CircleCI's job summary.
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Also write the JSON document (as --format json prints it) to FILE, whatever --format is (as audit's
    /// --json): the decision for tools and `signoffs request`, the table for people, from one run.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write a self-contained HTML report (no network resource): verdict, images, findings filterable by
    /// outcome, sign-offs, API tests, the evidence's sha256.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct PolicyCheckArgs {
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// List the sign-offs expired, not yet valid or expiring as of this time (RFC 3339) [default: now].
    #[arg(long, value_name = "RFC3339")]
    pub now: Option<jiff::Timestamp>,
}

/// How `bbgate push` authenticates to the registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RegistryAuthMode {
    /// ECR hosts: `ecr`; others: `docker-config`.
    Auto,
    /// ECR GetAuthorizationToken with the AWS credentials verify uses (CircleCI OIDC included).
    Ecr,
    /// `$DOCKER_CONFIG/config.json` or `~/.docker/config.json` (`auths` entries; anonymous when none).
    DockerConfig,
    Anonymous,
}

/// How push and publish reach a registry: the address, the credentials, and the AWS identity for ECR's.
#[derive(Args, Debug)]
pub struct RegistryAccess {
    /// Speak plain HTTP to the registry: only for test registries on 127.0.0.1.
    #[arg(long)]
    pub plain_http: bool,
    /// Send registry calls to this URL instead of the reference's host (a mirror or VPC endpoint alias;
    /// http:// only on 127.0.0.1). The reference, the policy check and the auth mode still use the host.
    #[arg(long, env = "BBGATE_REGISTRY_URL", value_name = "URL")]
    pub registry_url: Option<String>,
    /// How to authenticate.
    #[arg(long, value_enum, default_value_t = RegistryAuthMode::Auto)]
    pub auth: RegistryAuthMode,
    #[command(flatten)]
    pub aws: AwsIdentity,
}

#[derive(Args, Debug)]
pub struct PushArgs {
    /// The image: oci:DIR[:TAG] (OCI image layout) or docker-archive:FILE (`docker save` output).
    #[arg(long, value_name = "SOURCE")]
    pub from: String,
    /// Where to: HOST/REPOSITORY:TAG, e.g. 123456789012.dkr.ecr.eu-central-1.amazonaws.com/bb/payments/x:1.2.
    #[arg(long, value_name = "REF")]
    pub to: String,
    #[command(flatten)]
    pub registry: RegistryAccess,
    /// Policy file: the repository must belong to the building block [default: the built-in policy].
    #[arg(long, env = "BBGATE_POLICY", value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// The policy's [[building_block]] pushing [default: the one whose repositories match].
    #[arg(long, env = "BBGATE_BUILDING_BLOCK", value_name = "NAME")]
    pub building_block: Option<String>,
    /// Output on stdout: one line for people, or one JSON document.
    #[arg(long, value_enum, default_value_t = Format::Human, env = "BBGATE_FORMAT")]
    pub format: Format,
}

#[derive(Args, Debug)]
pub struct PublishArgs {
    /// The evidence verify wrote (it must be a pass, and bind the chart: verify with --chart).
    #[arg(long, value_name = "FILE")]
    pub evidence: PathBuf,
    /// The chart directory verify judged; its dependencies are built as verify built them.
    #[arg(long, value_name = "DIR")]
    pub chart: PathBuf,
    #[command(flatten)]
    pub values: ChartValues,
    /// The API test reports verify decided on.
    #[arg(long = "api-report", value_name = "FILE", num_args = 1..)]
    pub api_reports: Vec<PathBuf>,
    /// The findings pages verify saved (bbgate-out/findings/*.json): kept in the bundle for the record.
    #[arg(long, value_name = "FILE", num_args = 1..)]
    pub findings: Vec<PathBuf>,
    /// Where the bundle goes: HOST/REPOSITORY:TAG, a repository of the building block (beside its image).
    #[arg(long, value_name = "REF")]
    pub to: String,
    /// Also write the bundle's reference (by digest) as JSON to this file, for the request job.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// The helm binary that builds the chart's dependencies.
    #[arg(long, env = "BBGATE_HELM", value_name = "PATH", default_value = "helm")]
    pub helm: PathBuf,
    #[command(flatten)]
    pub registry: RegistryAccess,
    /// Policy file (default: the built-in policy).
    #[arg(long, env = "BBGATE_POLICY", value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Output on stdout: one line for people, or one JSON document.
    #[arg(long, value_enum, default_value_t = Format::Human, env = "BBGATE_FORMAT")]
    pub format: Format,
}

#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("to").args(["circleci_project", "out"]).required(true))]
#[command(group = clap::ArgGroup::new("which").args(["bundle", "published"]).required(true))]
pub struct RequestDeployArgs {
    /// The published bundle, by digest (HOST/REPOSITORY@sha256:DIGEST, as publish printed it).
    #[arg(long, value_name = "REF@DIGEST")]
    pub bundle: Option<String>,
    /// The bundle `bbgate publish --out` wrote (bbgate-out/bundle.json): its `bundle`, by digest.
    #[arg(long, value_name = "FILE")]
    pub published: Option<PathBuf>,
    /// The building block the bundle is for.
    #[arg(long, env = "BBGATE_BUILDING_BLOCK", value_name = "NAME")]
    pub building_block: String,
    /// The admins' deploy project (vcs/org/repo): trigger a pipeline of it with the pipeline parameters
    /// building_block and bundle, authenticated by CIRCLE_TOKEN.
    #[arg(long, value_name = "SLUG")]
    pub circleci_project: Option<String>,
    /// The branch of the admins' project whose config runs.
    #[arg(long, value_name = "BRANCH", default_value = "main")]
    pub branch: String,
    /// Write the request as a file instead (for a pull request to the admins' deployment repository).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// The CircleCI API: https://circleci.com/api/v2, or a loopback address for tests.
    #[arg(long, value_name = "URL", default_value = crate::deploy::approval::DEFAULT_API, value_parser = crate::deploy::approval::api_url)]
    pub circleci_api_url: String,
    /// Look the bundle up over plain HTTP (only on 127.0.0.1, for tests).
    #[arg(long)]
    pub plain_http: bool,
    #[arg(long, value_enum, default_value_t = RegistryAuthMode::Auto)]
    pub auth: RegistryAuthMode,
    #[command(flatten)]
    pub aws: AwsIdentity,
    /// Policy file (default: the built-in policy): the bundle's repository must be the building block's.
    #[arg(long, env = "BBGATE_POLICY", value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Output on stdout: one line for people, or one JSON document.
    #[arg(long, value_enum, default_value_t = Format::Human, env = "BBGATE_FORMAT")]
    pub format: Format,
}

#[derive(Args, Debug, Clone)]
#[command(group = clap::ArgGroup::new("cluster").args(["kubeconfig", "eks_cluster"]))]
#[command(group = clap::ArgGroup::new("source").args(["evidence", "bundle", "request"]).required(true))]
pub struct DeployArgs {
    /// The evidence `bbgate verify --evidence` wrote (from this workflow's verify job).
    #[arg(long, value_name = "FILE", requires = "chart")]
    pub evidence: Option<PathBuf>,
    /// The BB's Helm chart directory (it lives in the BB's repository).
    #[arg(long, value_name = "DIR", requires = "evidence")]
    pub chart: Option<PathBuf>,
    /// The admins' deploy: install the release bundle `bbgate publish` pushed (HOST/REPOSITORY@sha256:DIGEST,
    /// by digest), pulled with the deploy role. Its chart, values, reports, pages and evidence come from the
    /// bundle, checked against their digests; no file of the BB's repository is read.
    #[arg(long, value_name = "REF@DIGEST", conflicts_with_all = ["evidence", "chart", "values", "api_reports", "findings", "request"])]
    pub bundle: Option<String>,
    /// The admins' deploy of the bundle a request file names (`bbgate request-deploy --out`): building_block and
    /// bundle only, the building block the admins' own.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["evidence", "chart", "values", "api_reports", "findings"])]
    pub request: Option<PathBuf>,
    /// With --bundle or --request: the admins' own values files (from their repository), given to helm after
    /// the bundle's; every key they set must be one of the policy's [deploy] settable keys.
    #[arg(long = "admin-values", value_name = "FILE", num_args = 1..)]
    pub admin_values: Vec<PathBuf>,
    /// Pull the bundle over plain HTTP (only from a registry on 127.0.0.1, for tests).
    #[arg(long)]
    pub plain_http: bool,
    /// Set by deploy itself when the inputs come from a bundle (its reference): the evidence's workflow check
    /// gives way to the bundle's digest.
    #[arg(skip)]
    pub from_bundle: Option<String>,
    /// The Helm release name.
    #[arg(long, value_name = "NAME", value_parser = release_name)]
    pub release: String,
    #[command(flatten)]
    pub values: ChartValues,
    /// Create or update the Opaque Secret NAME in the namespace before helm runs, its KEY holding the bytes of
    /// PATH (NAME=KEY=PATH; repeat for more keys or Secrets): certificates a chart mounts, without kubectl. Owned
    /// by the release (helm's labels); its data is never printed.
    #[arg(long = "secret-from-file", value_name = "NAME=KEY=PATH", num_args = 1..)]
    pub secret_from_file: Vec<String>,
    /// Chart value KEY set (--set-string) to REGISTRY/REPOSITORY@DIGEST from the evidence; repeat or list several.
    #[arg(long = "set-image", value_name = "KEY", num_args = 1..)]
    pub set_image: Vec<String>,
    /// May only repeat the building block's namespace from the policy.
    #[arg(long, value_name = "NS")]
    pub namespace: Option<String>,
    /// The building block to deploy, from the admins (BBGATE_BUILDING_BLOCK in the restricted deploy context):
    /// evidence of any other is refused.
    #[arg(long, env = "BBGATE_BUILDING_BLOCK", value_name = "NAME")]
    pub building_block: Option<String>,
    /// The admins' policy file [default: the built-in policy]. A file must be pinned by BBGATE_POLICY_SHA256
    /// (set in the restricted deploy context): deploy decides again under it.
    #[arg(long, env = "BBGATE_POLICY", value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// The helm binary (3.x or 4.x) the admins installed: a bare name is looked up in /usr/local/bin, /usr/bin
    /// and /bin, never the job's PATH (and BBGATE_HELM is not read at deploy).
    #[arg(long, value_name = "PATH", default_value = "helm")]
    pub helm: PathBuf,
    /// The sha256 of that helm binary, from the restricted deploy context: deploy runs no other.
    #[arg(long, env = "BBGATE_HELM_SHA256", value_name = "HEX")]
    pub helm_sha256: Option<String>,
    /// Let a variable deploy otherwise refuses (it redirects AWS, Kubernetes or helm connections:
    /// AWS_ENDPOINT_URL*, AWS_CA_BUNDLE, AWS_CONFIG_FILE, AWS_PROFILE, KUBECONFIG, proxies, HELM_KUBE*, ...) stay
    /// set, by name; repeat for more. Proxies allowed this way reach helm too.
    #[arg(long = "allow-env", value_name = "NAME", num_args = 1..)]
    pub allow_env: Vec<String>,
    /// Kubeconfig [default: KUBECONFIG, else ~/.kube/config].
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Reach EKS cluster NAME with the pipeline's AWS identity (DescribeCluster + an EKS token; no AWS CLI).
    #[arg(long, env = "BBGATE_EKS_CLUSTER", value_name = "NAME")]
    pub eks_cluster: Option<String>,
    #[command(flatten)]
    pub aws: AwsIdentity,
    /// How long helm may take to roll out before it rolls back, e.g. 5m.
    #[arg(long, value_name = "DUR", default_value = "5m", value_parser = positive_duration)]
    pub timeout: std::time::Duration,
    /// Read the image's scan from ECR for deploy's own decision (always with --eks-cluster). Without AWS access,
    /// deploy decides on --findings, the saved pages the evidence names.
    #[arg(long)]
    pub recheck_scan: bool,
    /// With AWS access: first wait between scan status reads, and the settle delay.
    #[arg(long, value_name = "DUR", default_value = "2s", value_parser = positive_duration)]
    pub poll_interval: std::time::Duration,
    /// Without AWS access: the findings pages verify saved (files or directories); their sha256 must be the
    /// ones the evidence names.
    #[arg(long, value_name = "FILE", num_args = 1..)]
    pub findings: Vec<PathBuf>,
    /// The API test reports the evidence names (their sha256 must match): deploy decides on them again.
    #[arg(long = "api-report", value_name = "FILE", num_args = 1..)]
    pub api_reports: Vec<PathBuf>,
    /// The admins' sign-off files; each must be pinned by its sha256 in BBGATE_SIGNOFFS_SHA256 (the deploy
    /// context). A BB's own sign-off files count for nothing here.
    #[arg(long, value_name = "FILE", num_args = 1..)]
    pub signoffs: Vec<PathBuf>,
    /// Sign deploy's attestation with this AWS KMS asymmetric key (ECC_NIST_P256 or RSA; id, ARN or alias).
    #[arg(long, env = "BBGATE_KMS_KEY_ID", value_name = "KEY")]
    pub kms_key_id: Option<String>,
    /// Where to write the signed attestation [default: deploy-attestation.dsse.json beside the record].
    #[arg(long, value_name = "FILE", requires = "kms_key_id")]
    pub attestation: Option<PathBuf>,
    /// Check everything (evidence, preflight, guard) and stop before helm installs.
    #[arg(long)]
    pub dry_run: bool,
    /// The CircleCI API for the approval check ([deploy] approvers): https://circleci.com/api/v2, or a loopback
    /// address for tests. Deliberately not read from the environment.
    #[arg(long, value_name = "URL", default_value = crate::deploy::approval::DEFAULT_API, value_parser = crate::deploy::approval::api_url)]
    pub circleci_api_url: String,
    /// Where to write the deploy record [default: deploy-record.json beside the evidence].
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
    /// Output on stdout: lines for people, or one JSON document (the deploy record).
    #[arg(long, value_enum, default_value_t = Format::Human, env = "BBGATE_FORMAT")]
    pub format: Format,
}

impl DeployArgs {
    /// The evidence file (after a bundle is pulled, the bundle's).
    pub fn evidence_path(&self) -> &std::path::Path {
        self.evidence.as_deref().unwrap_or(std::path::Path::new("(bundle)"))
    }
    /// The chart directory (after a bundle is pulled, the bundle's).
    pub fn chart_path(&self) -> &std::path::Path {
        self.chart.as_deref().unwrap_or(std::path::Path::new("(bundle)"))
    }
}

#[derive(Args, Debug)]
pub struct EksTokenArgs {
    /// The EKS cluster's name (signed into the token as x-k8s-aws-id), as deploy's and audit's --eks-cluster.
    #[arg(long, visible_alias = "eks-cluster", value_name = "NAME")]
    pub cluster: String,
    /// Region [default: AWS_REGION, else AWS_DEFAULT_REGION].
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    #[command(flatten)]
    pub aws: AwsIdentity,
    /// Sign as of this time (RFC 3339) instead of now: reproduces a token byte for byte (it is valid for 15
    /// minutes from its signing time, as `aws eks get-token`'s).
    #[arg(long, value_name = "RFC3339")]
    pub at: Option<jiff::Timestamp>,
}

/// The CircleCI variables recorded in the evidence.
pub(crate) const CIRCLECI_VARS: &[&str] = &[
    "CIRCLE_PROJECT_REPONAME",
    "CIRCLE_SHA1",
    "CIRCLE_BRANCH",
    "CIRCLE_BUILD_NUM",
    "CIRCLE_BUILD_URL",
    "CIRCLE_JOB",
    "CIRCLE_WORKFLOW_ID",
    "CIRCLE_PIPELINE_ID",
];

/// CircleCI's environment, read once by the command: the build's context as the evidence records it, the
/// workflow, and the API token the approval check sends (the token is never printed: no `Debug`).
pub(crate) struct CircleCi {
    pub(crate) context: Option<std::collections::BTreeMap<String, String>>,
    pub(crate) workflow_id: Option<String>,
    token: Option<String>,
}

impl CircleCi {
    pub(crate) fn from_env() -> CircleCi {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let context: std::collections::BTreeMap<String, String> = CIRCLECI_VARS
            .iter()
            .filter_map(|&k| var(k).map(|v| (k.to_owned(), v)))
            .collect();
        CircleCi {
            context: (!context.is_empty()).then_some(context),
            workflow_id: var("CIRCLE_WORKFLOW_ID"),
            token: var("CIRCLE_TOKEN"),
        }
    }

    pub(crate) fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }
}

/// `bbgate completions SHELL`: the completion script, from the one command-line definition.
pub fn completions(shell: clap_complete::Shell) -> crate::error::Result<u8> {
    use clap::CommandFactory;
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "bbgate", &mut out);
    crate::output::written(std::io::Write::write_all(&mut std::io::stdout().lock(), &out))?;
    Ok(0)
}

/// `bbgate man --out-dir DIR`: bbgate.1 and one page per command, from the one command-line definition.
pub fn man_pages(dir: &std::path::Path) -> crate::error::Result<u8> {
    use clap::CommandFactory;
    std::fs::create_dir_all(dir).map_err(|e| crate::error::Error::write(dir, e))?;
    clap_mangen::generate_to(Cli::command(), dir).map_err(|e| crate::error::Error::write(dir, e))?;
    crate::output::line(&format!("man pages written to {}", dir.display()))?;
    Ok(0)
}

/// A flag's duration (`90s`, `5m`, `1h30m`): positive, as a std duration.
fn positive_duration(text: &str) -> std::result::Result<std::time::Duration, String> {
    let d: jiff::SignedDuration = text
        .parse()
        .map_err(|e| format!("{e}: give a duration like 90s, 5m or 1h30m"))?;
    std::time::Duration::try_from(d)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| "must be a positive duration, like 90s or 5m".to_owned())
}

/// A Helm release name: a DNS label of at most 53 characters (helm's limit).
fn release_name(text: &str) -> std::result::Result<String, String> {
    if crate::policy::is_dns_label(text) && text.len() <= 53 {
        Ok(text.to_owned())
    } else {
        Err("a release name is lowercase letters, digits and '-', at most 53 characters".to_owned())
    }
}
