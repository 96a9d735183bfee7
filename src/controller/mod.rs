//! The controller: reconciling desired state with the cloud.
//!
//! - [`reconcile`]: one pass over a set of services: observe (batched), plan (pure), act.
//! - [`daemon`]: the loop around it: store watch, resync, backoff, memory, shutdown.
//! - [`metrics`]: the Prometheus metrics of design.md §6; [`metered`] counts every cloud call.

pub mod daemon;
pub mod metered;
pub mod metrics;
pub mod reconcile;
