//! The status the controller writes to the store after a reconcile: per service, the conditions
//! Ready, Progressing and Degraded with a reason and a message, the last observation, and the most
//! recent decisions; per stack, the generation reconciled.
//!
//! Conditions follow Kubernetes: each is always present, true or false, with a CamelCase reason
//! stable enough to alert on, and the time its truth last changed. Nothing is reported Ready or
//! verified that was not observed: Ready needs the service seen running the verified revision.

use crate::cloud::CloudError;
use crate::model::aws::{RolloutState, ServiceDescription, TargetState};
use crate::model::{
    ConditionType, DecisionKind, ObservedService, STATUS_DECISIONS, ServiceMemory, ServiceStatus,
    StatusCondition,
};
use crate::plan::DesiredService;
use crate::plan::rollout::{Condition, VERIFY_SECONDS, condition};

use super::error_policy::PARK_RECHECK_MS;

/// RFC 3339 for a time on the controller's clock (seconds since the epoch).
pub fn timestamp(seconds: u64) -> String {
    humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(seconds),
    )
    .to_string()
}

/// A service's status after a reconcile that saw `live` (or nothing) and ended with `error` (or
/// none); times of unchanged conditions are kept from `previous`.
pub fn service_status(
    desired: &DesiredService,
    memory: &ServiceMemory,
    live: Option<ServiceDescription>,
    observed: &ObservedService,
    error: Option<&CloudError>,
    previous: Option<&ServiceStatus>,
    now: u64,
) -> ServiceStatus {
    let rollout = condition(&desired.digest, memory);
    let last = |kinds: &[DecisionKind]| {
        memory
            .decisions
            .iter()
            .rev()
            .find(|d| kinds.contains(&d.kind))
    };
    let verified_running = |s: &ServiceDescription| {
        memory
            .verified_good
            .as_ref()
            .is_some_and(|g| g.id == s.task_definition && g.digest == desired.digest)
    };

    let ready = match (live.as_ref(), rollout) {
        (None, _) => (
            false,
            "NotCreated",
            "the service does not exist (or was not observed)".to_owned(),
        ),
        (Some(_), Condition::Degraded) => (
            false,
            "RolloutFailed",
            "the manifest's revision failed its rollout".to_owned(),
        ),
        (Some(s), Condition::Ready) if !verified_running(s) => (
            false,
            "RollingOut",
            format!(
                "the service runs {}, not the verified revision of the manifest",
                s.task_definition
            ),
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

    let progressing = match (&memory.rollout, live.as_ref()) {
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
            format!(
                "rolling out {} (started {})",
                r.target.id,
                timestamp(r.started_at)
            ),
        ),
        (None, None) => (true, "Creating", "creating the service".to_owned()),
        (None, Some(_)) => (false, "Idle", "no rollout in progress".to_owned()),
    };

    let degraded = match (error, rollout) {
        (Some(e), _) if e.is_retryable() => {
            (true, "CallsFailing", format!("{e}; retrying with backoff"))
        }
        (Some(e), _) => (
            true,
            "CallRefused",
            format!(
                "{e}; not retried until the stack changes (looked at again every {} minutes)",
                PARK_RECHECK_MS / 60_000
            ),
        ),
        (None, Condition::Degraded) => match last(&[DecisionKind::Rollback, DecisionKind::Hold]) {
            Some(d) if d.kind == DecisionKind::Rollback => (
                true,
                "RolledBack",
                format!("{}; not retried until the manifest changes", d.reason),
            ),
            Some(d) => (
                true,
                "RolloutFailed",
                format!("{}; not retried until the manifest changes", d.reason),
            ),
            None => (
                true,
                "RolloutFailed",
                "the manifest's revision failed; not retried until the manifest changes".to_owned(),
            ),
        },
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
    let mut health_checks = observed.health_checks.clone();
    if error.is_none() {
        for (group, want) in &desired.health_checks {
            if let Some(have) = health_checks.get_mut(group) {
                have.clone_from(want);
            }
        }
    } else if let Some(p) = previous.filter(|_| health_checks.is_empty()) {
        health_checks.clone_from(&p.health_checks);
    }
    let skip = memory.decisions.len().saturating_sub(STATUS_DECISIONS);
    ServiceStatus {
        conditions,
        live,
        health_checks,
        recent_decisions: memory.decisions[skip..].to_vec(),
    }
}

/// The healthy-task count of a service as observed: from target health where it was read (during
/// rollouts); otherwise the newest HealthyHostCount of its target groups (the least healthy one);
/// for a service behind no load balancer, every running task once ECS reports one COMPLETED
/// deployment.
pub fn healthy_tasks(observed: &ObservedService) -> Option<u32> {
    let service = observed.service.as_ref()?;
    match &observed.targets {
        Some(groups) => groups
            .values()
            .map(|targets| {
                targets
                    .iter()
                    .filter(|t| t.state == TargetState::Healthy)
                    .count()
            })
            .min()
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
        None if !observed.healthy_hosts.is_empty() => observed
            .healthy_hosts
            .values()
            .copied()
            .reduce(f64::min)
            .map(|n| n.round().max(0.0) as u32),
        None => (service.deployments.len() == 1
            && service.deployments[0].rollout_state == RolloutState::Completed)
            .then_some(service.running_count),
    }
}
