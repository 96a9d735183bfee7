//! The controller: reconciling desired state with the cloud.
//!
//! - [`reconcile`]: one pass over a set of services: observe (batched), plan (pure), act.

pub mod reconcile;
