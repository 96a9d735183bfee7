//! tugboat: a Kubernetes-style reconciling controller for AWS ECS.
//!
//! # Layout
//!
//! - [`manifest`]: YAML manifests to validated stacks: parsing with located errors, the JSON Schema,
//!   structural checks and cross-field rules. Pure: no network, no clock.
//! - [`model`]: the desired-state types shared by every other module ([`model::Stack`], ids).
//! - [`store`]: where desired state lives between commands and across controller restarts; the
//!   [`store::Store`] trait and its file implementation (the embedded default).
//! - [`cloud`]: the AWS operations tugboat performs, behind the [`cloud::Cloud`] trait; [`cloud::sim`]
//!   is the simulated AWS (ECS, target groups, CloudWatch, EC2 capacity) in virtual time.
//! - [`plan`]: the pure planner (no I/O, no clock, no async): scaling decisions so far.
//! - [`controller`]: reconciling: observe through the cloud, plan, act.
//! - [`http`]: `/metrics`, `/healthz`, `/readyz`.
//! - [`cli`]: one module per verb of `tug`; `main.rs` only parses arguments and calls in here.
//!
//! Still to come, in the places design.md reserves for them: the rest of `plan/` (drift, rollouts),
//! `cloud/aws` (the AWS adapter), the daemon in `controller/` (queue, resync, store, shutdown) and
//! `http` (metrics).

#![forbid(unsafe_code)]

pub mod cli;
pub mod cloud;
pub mod controller;
pub mod http;
pub mod manifest;
pub mod model;
pub mod plan;
pub mod store;
