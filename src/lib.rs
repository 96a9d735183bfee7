//! tugboat: a Kubernetes-style reconciling controller for AWS ECS.
//!
//! # Layout
//!
//! - [`manifest`]: YAML manifests to validated stacks: parsing with located errors, the JSON Schema,
//!   structural checks and cross-field rules. Pure: no network, no clock.
//! - [`model`]: the types shared by every other module: [`model::Stack`], ids, the controller's
//!   memory of a service, the status it reports, pending removals.
//! - [`store`]: where desired state, memory and status live between commands and across controller
//!   restarts; the [`store::Store`] trait, its file implementation (the embedded default), the
//!   DynamoDB one shared by every `tug` and controller, and an in-memory one for simulations.
//! - [`cloud`]: the AWS operations tugboat performs, behind the [`cloud::Cloud`] trait;
//!   [`cloud::aws`] is the real adapter (aws-sdk-*), [`cloud::sim`] the simulated AWS (ECS, target
//!   groups, CloudWatch, EC2 capacity) in virtual time, [`cloud::limiter`] the shared rate limit.
//! - [`plan`]: the pure planner (no I/O, no clock, no async): drift, scaling, rollouts, rendering.
//! - [`controller`]: reconciling (observe through the cloud, plan, act), the daemon loop, status,
//!   taking down removed services, metrics, leader election on the store.
//! - [`simulate`]: the daemon against the simulated AWS in virtual time, for `tug simulate`,
//!   `tug demo` and the scenario tests.
//! - [`http`]: `/metrics`, `/healthz`, `/readyz`.
//! - [`cli`]: one module per verb of `tug`; `main.rs` only parses arguments and calls in here.

#![forbid(unsafe_code)]

pub mod cli;
pub mod cloud;
pub mod controller;
pub mod http;
pub mod manifest;
pub mod model;
pub mod plan;
pub mod simulate;
pub mod store;
