//! The controller: reconciling desired state with the cloud.
//!
//! - [`reconcile`]: one pass over a set of services: observe (batched), plan (pure), act.
//! - [`daemon`]: the loop around it: store watch, resync, backoff, memory, status, shutdown.
//! - [`status`]: the conditions and observations written to the store after each reconcile.
//! - [`removal`]: taking down services that left the desired state.
//! - [`metrics`]: the Prometheus metrics of design.md §6; [`metered`] counts every cloud call.

pub mod daemon;
pub mod metered;
pub mod metrics;
pub mod reconcile;
pub mod removal;
pub mod status;
