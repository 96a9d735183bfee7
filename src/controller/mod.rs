//! The controller: reconciling desired state with the cloud, one service at a time.
//!
//! - [`daemon`]: the loop: a keyed work queue fed by resyncs, store changes, requeues and
//!   backoff; workers; store watch; status; shutdown. The same loop on wall time and on a virtual
//!   clock.
//! - [`scheduler`]: the work queue (deduplicated by service, earliest due time wins, never two
//!   reconciles of one service at once).
//! - [`observe`]: reading the services due together, batched, failures confined per service.
//! - [`reconcile`]: one service: plan (pure), act, save memory, say when to look again.
//! - [`error_policy`]: backoff for retryable errors, parking for terminal ones.
//! - [`registry`]: what the daemon knows of each service and stack, each service by number.
//! - [`status`]: the conditions and observations written to the store.
//! - [`removal`]: taking down services that left the desired state.
//! - [`capacity`]: the capacity key: one pass over the Auto Scaling group tugboat owns for a
//!   cluster (a stack's `capacity`), a unit of work of the same queue's loop, keyed by cluster.
//! - [`metrics`]: the Prometheus metrics of design.md §6; [`metered`] counts every cloud call.

pub mod capacity;
pub mod daemon;
pub mod error_policy;
pub mod lease;
pub mod metered;
pub mod metrics;
pub mod notify;
pub mod observe;
pub mod reconcile;
pub mod registry;
pub mod removal;
pub mod scheduler;
pub mod status;

use crate::cloud::Clock;
use crate::cloud::limiter::RateLimit;
use crate::cloud::timeout::{CALL_TIMEOUT_MS, Deadline};

/// The layers every cloud call of the controller goes through, outermost first: counted, paced
/// below AWS's rate limits, and abandoned when it takes too long.
pub type Layers = (metered::Metering, (RateLimit, Deadline));

/// The controller's layers on `clock`, counting into `metrics`.
pub fn layers(clock: &Clock, metrics: &metrics::Metrics) -> Layers {
    (
        metered::Metering::new(metrics.clone()),
        (
            RateLimit::new(clock.clone()),
            Deadline::new(clock.clone(), CALL_TIMEOUT_MS),
        ),
    )
}
