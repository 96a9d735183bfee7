//! What the controller remembers about a service between reconciles. It lives in the store, never
//! only in a process, so a restarted controller resumes where the last one stopped.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::manifest::spec::TaskDefinitionSpec;
use crate::model::aws::{RegisteredRevision, TaskDefinitionId};
use crate::model::image::ImageDigests;

/// Decisions kept per service (the most recent); older ones are dropped.
pub const DECISIONS_KEPT: usize = 50;
/// Revisions whose manifest source is kept for `tug rollout undo` (kubectl keeps 10 by default).
pub const SOURCES_KEPT: usize = 10;
/// How often the lifecycle policies of the verified-good revision's ECR repositories are read
/// again (and at once when another revision is verified): six hours, since a policy deletes by
/// the day.
pub const REGISTRY_CHECK_SECONDS: u64 = 6 * 3600;

/// When the controller last scaled, for cooldowns (seconds, on the controller's clock).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScalingClock {
    /// Last scale-out.
    pub last_scale_out: Option<u64>,
    /// Last scale-in.
    pub last_scale_in: Option<u64>,
}

/// A registered revision and the digest of the definition it was registered from. Two records
/// name the same revision only when digest, `family:revision` and (where both are known) ARN
/// agree: a number alone is never enough, since an account whose state was lost hands the same
/// numbers out again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Revision {
    /// SHA-256 of the rendered task definition.
    pub digest: String,
    /// `family:revision`.
    pub id: TaskDefinitionId,
    /// Its ARN, when the account reported one (memory from before ARNs were kept has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// The image digest of each container, as its verified tasks ran them (on the verified-good
    /// revision; empty when ECS reported none): what a rollback to it deploys, whatever its tags
    /// name by then. Not part of what makes two records the same revision.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub images: ImageDigests,
}

impl Revision {
    /// The record of `registered`, rendered from a definition with this digest.
    pub fn of(digest: String, registered: RegisteredRevision) -> Self {
        Self {
            digest,
            id: registered.id,
            arn: Some(registered.arn),
            images: ImageDigests::new(),
        }
    }

    /// Whether both records name the same revision of the same definition.
    pub fn same(&self, other: &Revision) -> bool {
        self.digest == other.digest
            && self.id == other.id
            && match (&self.arn, &other.arn) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
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
    /// A rollback ECS carries out itself (StopServiceDeployment with ROLLBACK, or its own
    /// rollback of a traffic-shifting deployment): traffic returns to the old tasks, and the
    /// controller waits for ECS instead of starting another deployment.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stopped: bool,
    /// Whether the service was seen running the target: a traffic-shifting service that leaves
    /// it afterwards, while the controller did not ask, was rolled back by ECS.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub observed: bool,
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
    /// The count the controller wants but holds back until its cluster has room for it (a stack
    /// with `capacity`): what the instances are provisioned for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_for_room: Option<u32>,
    /// Cooldown clocks.
    pub scaling: ScalingClock,
    /// When the service's first rollout completed: metric minutes before it describe a service
    /// still starting, and are not used for scaling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serving_since: Option<u64>,
    /// Revisions the controller registered or reused, by digest: a definition is registered
    /// once. A hint: a revision that no longer exists is registered again. Shared until changed.
    pub ledger: Arc<BTreeMap<String, TaskDefinitionId>>,
    /// The ARN of each revision of the ledger (by `family:revision`), where known. Shared until
    /// changed.
    #[serde(default, skip_serializing_if = "no_arns")]
    pub arns: Arc<BTreeMap<String, String>>,
    /// The last revision that completed a rollout and stayed healthy.
    pub verified_good: Option<Revision>,
    /// The rollout being watched.
    pub rollout: Option<RolloutMemory>,
    /// Digests whose rollout failed: not retried until the manifest changes. Shared until changed.
    pub failed_digests: Arc<BTreeSet<String>>,
    /// Recent decisions, oldest first. Shared until changed, so copying memory is cheap.
    pub decisions: Arc<Vec<DecisionRecord>>,
    /// The manifest's task definition behind each of the newest [`SOURCES_KEPT`] revisions, by
    /// digest: what `tug rollout undo` puts back, and what a lost revision is registered again
    /// from. Shared until changed.
    #[serde(default, skip_serializing_if = "is_empty")]
    pub sources: Arc<BTreeMap<String, Arc<TaskDefinitionSpec>>>,
    /// The deregistration delay last confirmed on each target group (read or set): while the
    /// manifest's value equals it, the attribute is read again only during a rollout (one call
    /// per target group, from the ELB bucket every other ELB call shares).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub deregistration_delays: BTreeMap<String, u32>,
    /// The CPU resolution (seconds) last set in the service's `monitoringConfiguration`, at
    /// creation or since: DescribeServices does not report it. `None` for a service from before it
    /// was recorded, taken as ECS's default (60).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_resolution_seconds: Option<u32>,
    /// The image digests each revision of the ledger was last seen running (by digest of the
    /// definition), read from its tasks during its rollout: `tug rollout history` and `undo` name
    /// them. Shared until changed.
    #[serde(default, skip_serializing_if = "no_images")]
    pub images: Arc<BTreeMap<String, ImageDigests>>,
    /// The last read of the lifecycle policies of the verified-good images' ECR repositories.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<RegistryCheck>,
    /// Why each revision of the ledger came to be (by digest): the change cause of the apply that
    /// brought its definition, or of the undo. Shared until changed.
    #[serde(default, skip_serializing_if = "no_causes")]
    pub causes: Arc<BTreeMap<String, String>>,
}

fn no_causes(causes: &Arc<BTreeMap<String, String>>) -> bool {
    causes.is_empty()
}

/// What the lifecycle policies of the verified-good images' ECR repositories could do to them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryCheck {
    /// The verified-good revision's definition digest the check was made for.
    pub digest: String,
    /// When (seconds, on the controller's clock).
    pub at: u64,
    /// One sentence per rule that could delete or archive a verified image, and per repository
    /// whose policy could not be read (the check is optional: `ecr:GetLifecyclePolicy`).
    pub warnings: Vec<String>,
}

fn no_images(images: &Arc<BTreeMap<String, ImageDigests>>) -> bool {
    images.is_empty()
}

fn is_empty(sources: &Arc<BTreeMap<String, Arc<TaskDefinitionSpec>>>) -> bool {
    sources.is_empty()
}

fn no_arns(arns: &Arc<BTreeMap<String, String>>) -> bool {
    arns.is_empty()
}

impl ServiceMemory {
    /// Records that `digest` (rendered from `source`) is `revision`, keeping the sources of the
    /// newest [`SOURCES_KEPT`] revisions. Records naming the same digest elsewhere (the
    /// verified-good revision, the rollout's target) are pointed at it too: that is the revision
    /// of that definition now.
    pub fn remember(
        &mut self,
        digest: String,
        revision: RegisteredRevision,
        source: &Arc<TaskDefinitionSpec>,
    ) {
        let record = Revision::of(digest.clone(), revision.clone());
        for slot in [
            self.verified_good.as_mut(),
            self.rollout.as_mut().map(|r| &mut r.target),
        ]
        .into_iter()
        .flatten()
        {
            if slot.digest == digest {
                *slot = record.clone();
            }
        }
        // The desired state's own copy, shared rather than kept twice (memory read back from the
        // store holds an equal, separate one until then).
        if !self
            .sources
            .get(&digest)
            .is_some_and(|kept| Arc::ptr_eq(kept, source))
        {
            Arc::make_mut(&mut self.sources).insert(digest.clone(), source.clone());
        }
        if self.ledger.get(&digest) != Some(&revision.id)
            && let Some(old) = Arc::make_mut(&mut self.ledger).insert(digest, revision.id.clone())
        {
            Arc::make_mut(&mut self.arns).remove(&old.to_string());
        }
        if self.arns.get(&revision.id.to_string()) != Some(&revision.arn) {
            Arc::make_mut(&mut self.arns).insert(revision.id.to_string(), revision.arn);
        }
        self.prune();
    }

    /// Forgets a revision the account no longer has (deleted, or the account's state was lost).
    pub fn forget_revision(&mut self, id: &TaskDefinitionId) {
        Arc::make_mut(&mut self.ledger).retain(|_, kept| kept != id);
        Arc::make_mut(&mut self.arns).remove(&id.to_string());
    }

    /// Records the image digests the revision of `digest` was seen running.
    pub fn saw_images(&mut self, digest: &str, images: &ImageDigests) {
        if images.is_empty() || self.images.get(digest) == Some(images) {
            return;
        }
        Arc::make_mut(&mut self.images).insert(digest.to_owned(), images.clone());
    }

    /// Records that the rollout of `digest` failed: it is not retried until the manifest changes.
    pub fn fail(&mut self, digest: &str) {
        if !self.failed_digests.contains(digest) {
            Arc::make_mut(&mut self.failed_digests).insert(digest.to_owned());
        }
    }

    /// The record of the ledger's revision of `digest`, if there is one.
    pub fn revision_of(&self, digest: &str) -> Option<Revision> {
        let id = self.ledger.get(digest)?;
        Some(Revision {
            digest: digest.to_owned(),
            id: id.clone(),
            arn: self.arns.get(&id.to_string()).cloned(),
            images: ImageDigests::new(),
        })
    }

    /// Keeps the sources (and ledger entries) of the newest [`SOURCES_KEPT`] revisions, and
    /// always those of the verified-good revision and of the rollout's target.
    fn prune(&mut self) {
        if self.ledger.len() <= SOURCES_KEPT {
            return;
        }
        let pinned: Vec<String> = [
            self.verified_good.as_ref(),
            self.rollout.as_ref().map(|r| &r.target),
        ]
        .into_iter()
        .flatten()
        .map(|r| r.digest.clone())
        .collect();
        let mut by_age: Vec<(u32, String)> = self
            .ledger
            .iter()
            .filter(|(d, _)| !pinned.contains(d))
            .map(|(d, id)| (id.revision, d.clone()))
            .collect();
        by_age.sort();
        let excess = self.ledger.len().saturating_sub(SOURCES_KEPT);
        for (_, old) in by_age.into_iter().take(excess) {
            if let Some(id) = Arc::make_mut(&mut self.ledger).remove(&old) {
                Arc::make_mut(&mut self.arns).remove(&id.to_string());
            }
            if self.sources.contains_key(&old) {
                Arc::make_mut(&mut self.sources).remove(&old);
            }
            if self.images.contains_key(&old) {
                Arc::make_mut(&mut self.images).remove(&old);
            }
            if self.causes.contains_key(&old) {
                Arc::make_mut(&mut self.causes).remove(&old);
            }
        }
    }

    /// Records a decision, keeping the most recent [`DECISIONS_KEPT`].
    pub fn record(&mut self, decision: DecisionRecord) {
        let decisions = Arc::make_mut(&mut self.decisions);
        decisions.push(decision);
        if decisions.len() > DECISIONS_KEPT {
            let excess = decisions.len() - DECISIONS_KEPT;
            decisions.drain(..excess);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::spec::TaskDefinitionSpec;

    /// Regression: memory keyed a map by a struct, which JSON cannot encode, so no memory was
    /// ever saved.
    #[test]
    fn memory_with_every_field_set_round_trips_through_json() {
        let mut memory = ServiceMemory::default();
        let revision = RegisteredRevision {
            id: TaskDefinitionId {
                family: "f".into(),
                revision: 3,
            },
            arn: "arn:aws:ecs:us-east-1:123456789012:task-definition/f:3".into(),
        };
        let source = TaskDefinitionSpec {
            family: "f".into(),
            cpu: None,
            memory: None,
            network_mode: None,
            execution_role_arn: None,
            task_role_arn: None,
            containers: Vec::new(),
            tags: BTreeMap::new(),
        };
        memory.remember("d1".into(), revision.clone(), &Arc::new(source));
        memory.verified_good = memory.revision_of("d1");
        memory.fail("d0");
        memory.record(DecisionRecord {
            at: 1,
            kind: DecisionKind::Register,
            field: Some("x".into()),
            reason: "because".into(),
        });
        let text = serde_json::to_string(&memory).expect("encodes");
        let back: ServiceMemory = serde_json::from_str(&text).expect("decodes");
        assert_eq!(back, memory);
        assert_eq!(
            back.revision_of("d1").and_then(|r| r.arn),
            Some(revision.arn)
        );
    }

    #[test]
    fn revisions_are_the_same_only_with_the_same_digest_and_arn() {
        let id = TaskDefinitionId {
            family: "f".into(),
            revision: 1,
        };
        let a = Revision {
            digest: "a".into(),
            id: id.clone(),
            arn: Some("arn:1".into()),
            images: ImageDigests::new(),
        };
        let other_digest = Revision {
            digest: "b".into(),
            ..a.clone()
        };
        let other_account = Revision {
            arn: Some("arn:2".into()),
            ..a.clone()
        };
        let unknown_arn = Revision {
            arn: None,
            ..a.clone()
        };
        assert!(a.same(&a));
        assert!(
            !a.same(&other_digest),
            "a new digest at the same number is another revision"
        );
        assert!(!a.same(&other_account));
        assert!(a.same(&unknown_arn), "memory from before ARNs were kept");
    }
}
