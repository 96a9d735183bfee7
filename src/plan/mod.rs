//! The planner: pure functions from desired state, observed state, memory and `now` to decisions.
//!
//! Nothing here does I/O, reads a clock, awaits, or touches the store or an AWS client: every
//! input is an argument, so each rule is a table-driven unit test.
//!
//! - [`service`]: one service's plan: existence, rollout, desired count, drift.
//! - [`rollout`]: start, watch, verify, roll back to the verified-good revision.
//! - [`scaling`]: CPU thresholds, CPU target tracking, HTTP 5XX; cooldowns; the rollout freeze.
//! - [`render`]: a spec rendered to its task definition, and that definition's digest.
//! - [`capacity`] and [`group`]: the EC2 instances the tasks of a cluster need, and one pass over
//!   the Auto Scaling group tugboat owns for it.
//!
//! Rollouts will be driven through ECS's own deployment controller, watched step by step, rather
//! than through task sets under the EXTERNAL controller: ECS then enforces the minimum-healthy and
//! maximum percent bounds at every instant with its documented rounding, counts a task healthy only
//! once its target groups do, and carries a rollout on unchanged if the controller restarts; one
//! UpdateService starts a rollout (against a 5-per-second modify bucket) where task sets would need
//! a stream of UpdateTaskSet calls. The controller keeps what ECS cannot know: which revision was
//! verified good, the rollback triggers (unhealthy new targets, 5XX, failed tasks, the progress
//! deadline), and which manifest digests failed.

pub mod capacity;
pub mod group;
pub mod render;
pub mod rollout;
pub mod scaling;
pub mod service;

pub use service::{Action, DesiredService, Plan, plan_service};
