//! bbgate: decides whether a GovStack Building Block image may enter the sandbox cluster.
//!
//! The flow: acquire (files, later ECR) → normalise ([`findings`], [`apitests`], [`policy`]) →
//! decide ([`gate::decide`], pure) → report ([`report`]).

pub use bbgate_core::{apitests, diag, error, findings, gate, input, policy};

pub mod attest;
pub mod audit;
pub mod aws;
pub mod bundle;
pub mod cli;
pub mod comment;
pub(crate) mod dependencies;
pub mod deploy;
pub(crate) mod image;
pub mod namespace;
pub mod output;
pub mod push;
pub mod release;
pub mod report;
pub mod signoffs;
pub(crate) mod values;
pub mod verify;
