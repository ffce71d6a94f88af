//! bbgate: decides whether a GovStack Building Block image may enter the sandbox cluster.
//!
//! The flow: acquire (files, later ECR) → normalise ([`findings`], [`apitests`], [`policy`]) →
//! decide ([`gate::decide`], pure) → report ([`report`]).

pub mod apitests;
pub mod attest;
pub mod aws;
pub mod cli;
pub mod deploy;
pub mod diag;
pub mod error;
pub mod findings;
pub mod gate;
pub mod input;
pub mod output;
pub mod policy;
pub mod push;
pub mod report;
pub mod verify;
