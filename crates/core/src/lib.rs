//! bbgate's pure core. Everything here is a function of its arguments and of files the caller names: no
//! network, no cluster, no process, no clock (the caller passes `now`). The binary crate (`bbgate`) acquires
//! inputs at the edges (ECR, files, helm, Kubernetes) and hands them to [`gate::decide`].
//!
//! The flow: read and validate ([`findings`], [`apitests`], [`policy`]) → decide ([`gate::decide`]).

pub mod apitests;
pub mod diag;
pub mod error;
pub mod findings;
pub mod gate;
pub mod input;
pub mod policy;
pub mod reference;
