//! What the controller reports back through the store: per stack, the generation it last acted on
//! and, per service, Kubernetes-style conditions, the last observation and recent decisions. And
//! the services it still has to take down after a stack (or a pruned service) left the store.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::aws::{HealthCheckSettings, ServiceDescription};

use super::DecisionRecord;

/// Decisions copied into a service's status (the most recent).
pub const STATUS_DECISIONS: usize = 5;

/// The three conditions every managed service reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ConditionType {
    /// The manifest's revision is deployed, verified, and every desired task runs.
    Ready,
    /// A rollout (or a rollback) is under way, or the service is being created.
    Progressing,
    /// A rollout failed and was rolled back, or the controller's calls fail.
    Degraded,
}

impl ConditionType {
    /// The name, as `tug describe` prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            ConditionType::Ready => "Ready",
            ConditionType::Progressing => "Progressing",
            ConditionType::Degraded => "Degraded",
        }
    }
}

/// One condition, as Kubernetes reports them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusCondition {
    /// Which condition.
    #[serde(rename = "type")]
    pub kind: ConditionType,
    /// Whether it holds.
    pub status: bool,
    /// A CamelCase word, stable for alerting.
    pub reason: String,
    /// Why, in words.
    pub message: String,
    /// When `status` last changed (seconds, on the controller's clock).
    pub last_transition_time: u64,
}

/// One service's status.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceStatus {
    /// Ready, Progressing, Degraded, in that order.
    pub conditions: Vec<StatusCondition>,
    /// DescribeServices' answer at the last reconcile; `None` when the service did not exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live: Option<ServiceDescription>,
    /// Health-check settings of its target groups at the last reconcile.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub health_checks: BTreeMap<String, HealthCheckSettings>,
    /// The most recent decisions, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent_decisions: Vec<DecisionRecord>,
}

impl ServiceStatus {
    /// A condition by type.
    pub fn condition(&self, kind: ConditionType) -> Option<&StatusCondition> {
        self.conditions.iter().find(|c| c.kind == kind)
    }
}

/// One stack's status, written by the controller after a reconcile that changed it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StackStatus {
    /// The stack generation the controller last reconciled.
    pub observed_generation: u64,
    /// When this status last changed (seconds, on the controller's clock).
    pub updated_at: u64,
    /// Per service, by name.
    pub services: BTreeMap<String, ServiceStatus>,
    /// The EC2 capacity the controller owns for the stack's cluster (a stack with `capacity`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<super::CapacityStatus>,
}

/// A service the controller still has to take down: its stack was deleted, or it left a stack
/// with `spec.prune: true`. Scaled to 0 first; deleted only when `delete` (the stack's `prune`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Removal {
    /// The stack it belonged to.
    pub stack: String,
    /// Its cluster.
    pub cluster: String,
    /// Its name.
    pub service: String,
    /// Delete it once scaled to 0 (the stack had `prune: true`); otherwise leave it at 0.
    pub delete: bool,
    /// When it was requested (RFC 3339).
    pub requested_at: String,
}
