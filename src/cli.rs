//! The command line (clap derive): one struct per subcommand. The orb and README invocations are
//! parsed against these definitions by the test suite, so they cannot drift.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "bbgate",
    version,
    about = "Decides whether a GovStack Building Block image may enter the sandbox, and puts it in.",
    after_help = "Exit codes: 0 pass, 1 denied by policy, 2 invalid input or configuration, 3 could not decide."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Decide on a BB image from its ECR scan, its API test reports and its sign-offs.
    Verify(VerifyArgs),
    /// Work with the policy and sign-off files.
    #[command(subcommand)]
    Policy(PolicyCommand),
}

#[derive(Subcommand, Debug)]
pub enum PolicyCommand {
    /// Validate the policy and sign-off files without deciding anything (for pre-commit hooks).
    Check(PolicyCheckArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
}

#[derive(Args, Debug, Clone)]
pub struct PolicyArgs {
    /// Policy file [default: ./policies/sandbox.toml if present, else the built-in copy].
    #[arg(long, env = "BBGATE_POLICY", value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Sign-off files (TOML, [[signoff]] entries); repeat or list several.
    #[arg(long, value_name = "FILE", num_args = 1..)]
    pub signoffs: Vec<PathBuf>,
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// Saved `aws ecr describe-image-scan-findings` outputs, one per page, or directories of them (*.json).
    #[arg(long, value_name = "FILE", num_args = 1.., required = true)]
    pub findings: Vec<PathBuf>,
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
}

#[derive(Args, Debug)]
pub struct PolicyCheckArgs {
    #[command(flatten)]
    pub policy: PolicyArgs,
}
