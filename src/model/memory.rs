//! What the controller remembers about a service between reconciles. It lives in the store, never
//! only in a process, so a restarted controller resumes where the last one stopped.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::cloud::types::TaskDefinitionId;
use crate::manifest::spec::TaskDefinitionSpec;

/// Decisions kept per service (the most recent); older ones are dropped.
pub const DECISIONS_KEPT: usize = 50;
/// Revisions whose manifest source is kept for `tug rollout undo` (kubectl keeps 10 by default).
pub const SOURCES_KEPT: usize = 10;

/// When the controller last scaled, for cooldowns (seconds, on the controller's clock).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScalingClock {
    /// Last scale-out.
    pub last_scale_out: Option<u64>,
    /// Last scale-in.
    pub last_scale_in: Option<u64>,
}

/// A registered revision and the digest of the definition it was registered from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Revision {
    /// SHA-256 of the rendered task definition.
    pub digest: String,
    /// `family:revision`.
    pub id: TaskDefinitionId,
}

/// A rollout the controller started and is watching.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RolloutMemory {
    /// Where it goes.
    pub target: Revision,
    /// When it started.
    pub started_at: u64,
    /// When ECS reported it complete; it is verified good after staying healthy a while longer.
    pub completed_at: Option<u64>,
    /// Whether this rollout is itself a rollback.
    pub rollback: bool,
}

/// Kinds of decision, a bounded set for metrics labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionKind {
    /// The service did not exist: created.
    Create,
    /// A task definition revision registered.
    Register,
    /// More tasks.
    ScaleOut,
    /// Fewer tasks.
    ScaleIn,
    /// A new revision started rolling out.
    RolloutStart,
    /// ECS finished replacing tasks.
    RolloutComplete,
    /// The new revision stayed healthy: it is the one to roll back to from now on.
    RolloutVerified,
    /// A rollout failed and the controller went back to the verified-good revision.
    Rollback,
    /// Something changed out of band and was put back.
    DriftCorrection,
    /// The controller chose not to act, and why matters.
    Hold,
    /// A service that left the desired state was scaled to 0 or deleted.
    Remove,
}

/// One decision: what, when, why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DecisionRecord {
    /// When (seconds, on the controller's clock).
    pub at: u64,
    /// What kind.
    pub kind: DecisionKind,
    /// A bounded label: the field, for drift corrections; the trigger, for scaling decisions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Why, in words, with the figures used.
    pub reason: String,
}

/// Everything the controller remembers about one service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceMemory {
    /// The controller's own last decision on the desired count: the one writer of it.
    pub desired_count: Option<u32>,
    /// Cooldown clocks.
    pub scaling: ScalingClock,
    /// When the service's first rollout completed: metric minutes before it describe a service
    /// still starting, and are not used for scaling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serving_since: Option<u64>,
    /// Revisions the controller registered, by digest: a definition is registered once.
    pub ledger: BTreeMap<String, TaskDefinitionId>,
    /// The last revision that completed a rollout and stayed healthy.
    pub verified_good: Option<Revision>,
    /// The rollout being watched.
    pub rollout: Option<RolloutMemory>,
    /// Digests whose rollout failed: not retried until the manifest changes.
    pub failed_digests: BTreeSet<String>,
    /// Recent decisions, oldest first.
    pub decisions: Vec<DecisionRecord>,
    /// The manifest's task definition behind each of the newest [`SOURCES_KEPT`] revisions, by
    /// digest: what `tug rollout undo` puts back.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sources: BTreeMap<String, TaskDefinitionSpec>,
}

impl ServiceMemory {
    /// Records that `digest` (rendered from `source`) is revision `id`, keeping the sources of the
    /// newest [`SOURCES_KEPT`] revisions.
    pub fn remember(&mut self, digest: String, id: TaskDefinitionId, source: &TaskDefinitionSpec) {
        self.sources.insert(digest.clone(), source.clone());
        self.ledger.insert(digest, id);
        if self.sources.len() > SOURCES_KEPT {
            let mut by_age: Vec<(u32, String)> = self
                .sources
                .keys()
                .map(|d| (self.ledger.get(d).map_or(0, |id| id.revision), d.clone()))
                .collect();
            by_age.sort();
            for (_, old) in by_age.into_iter().take(self.sources.len() - SOURCES_KEPT) {
                self.sources.remove(&old);
            }
        }
    }

    /// Records a decision, keeping the most recent [`DECISIONS_KEPT`].
    pub fn record(&mut self, decision: DecisionRecord) {
        self.decisions.push(decision);
        if self.decisions.len() > DECISIONS_KEPT {
            let excess = self.decisions.len() - DECISIONS_KEPT;
            self.decisions.drain(..excess);
        }
    }
}
