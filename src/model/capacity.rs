//! What the controller knows and reports of the EC2 capacity it owns for a cluster (a stack's
//! `capacity`): its memory between passes, and the status `tug get capacity` reads.

use std::collections::{BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};

use super::DecisionRecord;

/// Capacity decisions kept per cluster.
pub const CAPACITY_DECISIONS_KEPT: usize = 20;

/// What the controller remembers of a cluster's capacity between passes (in the process: what
/// matters after a restart is on the group and the instances themselves; a restart starts the
/// scale-in cooldown again, which only delays a scale-in).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CapacityMemory {
    /// When the group was last scaled out (seconds).
    pub last_scale_out: Option<u64>,
    /// Since when the tasks have needed fewer instances than are kept (seconds).
    pub fewer_since: Option<u64>,
    /// The instances tugboat set DRAINING, to terminate once empty.
    pub drained: BTreeSet<String>,
    /// The last hold said, so it is said once.
    pub last_hold: Option<String>,
    /// The newest decisions, oldest first.
    pub decisions: VecDeque<DecisionRecord>,
    /// Container instances ACTIVE at the last look (a rise wakes the services waiting for room).
    pub active: u32,
}

impl CapacityMemory {
    /// Records a decision, keeping the newest [`CAPACITY_DECISIONS_KEPT`].
    pub fn record(&mut self, decision: DecisionRecord) {
        self.decisions.push_back(decision);
        while self.decisions.len() > CAPACITY_DECISIONS_KEPT {
            self.decisions.pop_front();
        }
    }
}

/// A cluster's capacity as last observed, in a stack's status.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CapacityStatus {
    /// The cluster.
    pub cluster: String,
    /// The Auto Scaling group.
    pub auto_scaling_group: String,
    /// The group's desired capacity.
    pub desired: u32,
    /// Instances registered and ACTIVE.
    pub running: u32,
    /// Instances launched, not registered yet.
    pub launching: u32,
    /// Instances DRAINING.
    pub draining: u32,
    /// Instances the tasks need, with the spares, within the bounds.
    pub needed: u32,
    /// CPU units reserved by tasks, of those registered (ACTIVE and DRAINING instances).
    pub cpu_reserved: u64,
    /// CPU units registered.
    pub cpu_registered: u64,
    /// MiB reserved.
    pub memory_reserved: u64,
    /// MiB registered.
    pub memory_registered: u64,
    /// Tasks the services want that wait for room.
    pub tasks_waiting: u32,
    /// Why the count is what it is.
    pub reason: String,
    /// The last pass's failure, if it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The newest decisions, newest last.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub decisions: Vec<DecisionRecord>,
    /// When it was observed (seconds).
    pub observed_at: u64,
}
