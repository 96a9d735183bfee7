//! The status the controller writes to the store after a reconcile: per service, the conditions
//! Ready, Progressing and Degraded with a reason and a message, the last observation, and the most
//! recent decisions; per stack, the generation reconciled.
//!
//! Conditions follow Kubernetes: each is always present, true or false, with a CamelCase reason
//! stable enough to alert on, and the time its truth last changed.

use crate::model::{
    ConditionType, DecisionKind, STATUS_DECISIONS, ServiceMemory, ServiceStatus, StatusCondition,
};
use crate::plan::DesiredService;
use crate::plan::render::{digest, render};
use crate::plan::rollout::{Condition, VERIFY_SECONDS, condition};

use super::reconcile::Outcome;

/// A service's status after `outcome`; times of unchanged conditions are kept from `previous`.
pub fn service_status(
    desired: &DesiredService,
    outcome: &Outcome,
    previous: Option<&ServiceStatus>,
    now: u64,
) -> ServiceStatus {
    let memory = &outcome.memory;
    let live = outcome.live();
    let wanted = digest(&render(&desired.spec, None));
    let rollout = condition(&wanted, memory);
    let last = |kind: DecisionKind| {
        memory
            .decisions
            .iter()
            .rev()
            .find(|d| d.kind == kind)
            .map_or_else(String::new, |d| d.reason.clone())
    };

    let ready = match (live, rollout) {
        (None, _) => (
            false,
            "NotCreated",
            "the service does not exist yet".to_owned(),
        ),
        (Some(_), Condition::Degraded) => (
            false,
            "RolloutFailed",
            "the manifest's revision failed its rollout".to_owned(),
        ),
        (Some(s), Condition::Ready) if s.running_count >= s.desired_count => (
            true,
            "RolloutVerified",
            format!(
                "{} verified; {}/{} tasks running",
                s.task_definition, s.running_count, s.desired_count
            ),
        ),
        (Some(s), Condition::Ready) => (
            false,
            "TasksStarting",
            format!("{}/{} tasks running", s.running_count, s.desired_count),
        ),
        (Some(_), Condition::Pending | Condition::Progressing) => (
            false,
            "RollingOut",
            "the manifest's revision is not deployed and verified yet".to_owned(),
        ),
    };

    let progressing = match (&memory.rollout, live) {
        (Some(r), _) if r.rollback => (
            true,
            "RollingBack",
            format!("rolling back to {}", r.target.id),
        ),
        (Some(r), _) if r.completed_at.is_some() => (
            true,
            "Verifying",
            format!(
                "{} is deployed; verifying it stays healthy for {VERIFY_SECONDS} s",
                r.target.id
            ),
        ),
        (Some(r), _) => (
            true,
            "RollingOut",
            format!("rolling out {} since t={}", r.target.id, r.started_at),
        ),
        (None, None) => (true, "Creating", "creating the service".to_owned()),
        (None, Some(_)) => (false, "Idle", "no rollout in progress".to_owned()),
    };

    let degraded = match (&outcome.error, rollout) {
        (Some(e), _) => (
            true,
            if e.is_retryable() {
                "CallsFailing"
            } else {
                "CallRefused"
            },
            format!("{e}; retrying with backoff"),
        ),
        (None, Condition::Degraded) => (
            true,
            "RolledBack",
            format!(
                "{}; not retried until the manifest changes",
                last(DecisionKind::Rollback)
            ),
        ),
        (None, _) => (false, "AsExpected", String::new()),
    };

    let conditions = [
        (ConditionType::Ready, ready),
        (ConditionType::Progressing, progressing),
        (ConditionType::Degraded, degraded),
    ]
    .into_iter()
    .map(|(kind, (status, reason, message))| StatusCondition {
        kind,
        status,
        reason: reason.to_owned(),
        message,
        last_transition_time: previous
            .and_then(|p| p.condition(kind))
            .filter(|c| c.status == status)
            .map_or(now, |c| c.last_transition_time),
    })
    .collect();

    // Health checks as observed, with the ones this reconcile put back (every call succeeded).
    let mut health_checks = outcome.observed.health_checks.clone();
    if outcome.error.is_none() {
        for (group, want) in &desired.health_checks {
            if let Some(have) = health_checks.get_mut(group) {
                have.clone_from(want);
            }
        }
    }
    ServiceStatus {
        conditions,
        live: live.cloned(),
        health_checks,
        recent_decisions: recent(memory),
    }
}

/// The last [`STATUS_DECISIONS`] decisions.
fn recent(memory: &ServiceMemory) -> Vec<crate::model::DecisionRecord> {
    let skip = memory.decisions.len().saturating_sub(STATUS_DECISIONS);
    memory.decisions[skip..].to_vec()
}
