//! Rollouts: start one when the manifest's revision is not the one running, watch it through ECS's
//! own deployment, verify it, or roll back to the last verified-good revision.
//!
//! Triggers for a rollback (issue 4): new targets turning unhealthy (`onUnhealthyTargets`), more 5XX
//! per minute than `max5xxPerMinute`, tasks failing to start (ECS's failed-task count reaching the
//! circuit-breaker threshold, or the deployment FAILED), and the progress deadline. A rollback goes
//! to the verified-good revision (one that completed a rollout and then stayed healthy for
//! [`VERIFY_SECONDS`]), never blindly to the previous one; the failed digest is not retried until the
//! manifest renders a different one.

use crate::manifest::spec::ServiceSpec;
use crate::model::aws::{RolloutState, ServiceDescription, TargetState};
use crate::model::{
    DecisionKind, DecisionRecord, ObservedService, Revision, RolloutMemory, ServiceMemory,
};
use crate::plan::DesiredService;
use crate::plan::render::short;

/// How long a completed rollout must stay healthy before its revision is verified good.
pub const VERIFY_SECONDS: u64 = 60;
/// How often a watched rollout is looked at when its target groups' health-check interval is not
/// known (a target group the stack does not declare): ELBv2's shortest useful interval.
pub const WATCH_SECONDS: u64 = 15;

/// ECS's circuit-breaker threshold for a desired count: ceil(0.5 x desired) within [3, 200].
pub fn failure_threshold(desired: u32) -> u32 {
    desired.div_ceil(2).clamp(3, 200)
}

/// What the rollout logic wants done.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RolloutStep {
    /// Point the service at this revision (UpdateService taskDefinition).
    pub deploy: Option<Revision>,
    /// Register the manifest's definition first: its digest has no revision yet.
    pub register: bool,
    /// Whether a rollout is in progress (scale-in is frozen).
    pub in_progress: bool,
}

/// Whether ECS is still replacing tasks.
pub fn ecs_rolling(service: &ServiceDescription) -> bool {
    service.deployments.len() > 1
        || service
            .deployments
            .first()
            .is_some_and(|d| d.rollout_state == RolloutState::InProgress)
}

/// The rollout decision for one service that exists. Updates `memory` and records decisions.
pub fn step(
    spec: &ServiceSpec,
    digest: &str,
    observed: &ObservedService,
    service: &ServiceDescription,
    memory: &mut ServiceMemory,
    now: u64,
) -> RolloutStep {
    let desired_revision = memory.revision_of(digest);
    if let Some(rollout) = memory.rollout.clone() {
        // A manifest changed mid-rollout starts over toward the new revision (unless that is the
        // rollback's own target, or a digest that already failed).
        let superseded = rollout.target.digest != digest
            && !rollout.rollback
            && !memory.failed_digests.contains(digest);
        if !superseded {
            return watch(spec, observed, service, memory, &rollout, now);
        }
        memory.rollout = None;
    }
    if memory.failed_digests.contains(digest) {
        let good = memory.verified_good.clone();
        let running_good = good
            .as_ref()
            .is_some_and(|g| g.id == service.task_definition);
        if !running_good && let Some(good) = good {
            memory.record(decision(
                now,
                DecisionKind::DriftCorrection,
                Some("task_definition"),
                format!(
                    "running {} but the manifest's revision failed: back to verified-good {}",
                    service.task_definition, good.id
                ),
            ));
            return RolloutStep {
                deploy: Some(good),
                in_progress: true,
                ..RolloutStep::default()
            };
        }
        note_hold(
            memory,
            now,
            format!(
                "manifest digest {} failed its rollout; not retried until the manifest changes",
                short(digest)
            ),
        );
        return RolloutStep {
            in_progress: ecs_rolling(service),
            ..RolloutStep::default()
        };
    }
    let Some(target) = desired_revision else {
        return RolloutStep {
            register: true,
            in_progress: ecs_rolling(service),
            ..RolloutStep::default()
        };
    };
    if target.id == service.task_definition {
        if memory
            .verified_good
            .as_ref()
            .is_some_and(|g| g.same(&target))
        {
            return RolloutStep {
                in_progress: ecs_rolling(service),
                ..RolloutStep::default()
            };
        }
        // Running the manifest's revision, but it was never verified: a rollout this controller (or
        // a predecessor that died before saving) started, or a service it adopts. Watch it like one.
        memory.record(decision(
            now,
            DecisionKind::RolloutStart,
            None,
            format!(
                "{} is already deployed but not yet verified: watching it",
                target.id
            ),
        ));
        let rollout = RolloutMemory {
            target,
            started_at: now,
            completed_at: None,
            rollback: false,
        };
        memory.rollout = Some(rollout.clone());
        return watch(spec, observed, service, memory, &rollout, now);
    }
    memory.record(decision(
        now,
        DecisionKind::RolloutStart,
        None,
        format!(
            "task definition differs: running {}, the manifest renders {} ({})",
            service.task_definition,
            target.id,
            short(digest)
        ),
    ));
    memory.rollout = Some(RolloutMemory {
        target: target.clone(),
        started_at: now,
        completed_at: None,
        rollback: false,
    });
    RolloutStep {
        deploy: Some(target),
        in_progress: true,
        register: false,
    }
}

/// Watching a rollout: trigger a rollback, verify, or keep waiting.
fn watch(
    spec: &ServiceSpec,
    observed: &ObservedService,
    service: &ServiceDescription,
    memory: &mut ServiceMemory,
    rollout: &RolloutMemory,
    now: u64,
) -> RolloutStep {
    let on_target = service.task_definition == rollout.target.id;
    if !on_target {
        // Changed out of band, or not yet visible (eventual consistency): point it back; repeating
        // UpdateService with the same revision is harmless.
        return RolloutStep {
            deploy: Some(rollout.target.clone()),
            in_progress: true,
            ..RolloutStep::default()
        };
    }
    let steady = !ecs_rolling(service) && service.running_count == service.desired_count;
    // Judged on what ECS reports now: a rollout that is steady when looked at has completed, even
    // if the look comes after its progress deadline.
    let overdue = rollout.completed_at.is_none()
        && !steady
        && now >= rollout.started_at + u64::from(spec.deployment.progress_deadline_seconds);
    let why = rollback_trigger(spec, observed, service, rollout).or_else(|| {
        overdue.then(|| {
            format!(
                "not complete after the {} s progress deadline ({} of {} tasks running)",
                spec.deployment.progress_deadline_seconds,
                service.running_count,
                service.desired_count
            )
        })
    });
    if let Some(why) = why {
        if !rollout.rollback {
            memory.fail(&rollout.target.digest);
        }
        return roll_back(memory, rollout, &why, now);
    }
    match rollout.completed_at {
        None if steady => {
            memory.record(decision(
                now,
                DecisionKind::RolloutComplete,
                None,
                format!(
                    "{} reached steady state: {} tasks running; verifying for {VERIFY_SECONDS} s",
                    rollout.target.id, service.running_count
                ),
            ));
            if let Some(r) = memory.rollout.as_mut() {
                r.completed_at = Some(now);
            }
            memory.serving_since.get_or_insert(now);
        }
        Some(done) if steady && now >= done + VERIFY_SECONDS => {
            memory.record(decision(
                now,
                DecisionKind::RolloutVerified,
                None,
                format!(
                    "{} stayed healthy for {VERIFY_SECONDS} s after completing: verified good",
                    rollout.target.id
                ),
            ));
            memory.verified_good = Some(rollout.target.clone());
            memory.rollout = None;
            return RolloutStep::default();
        }
        _ => {}
    }
    RolloutStep {
        in_progress: true,
        ..RolloutStep::default()
    }
}

/// Why the watched rollout must be abandoned, if it must (the progress deadline aside, which the
/// caller judges against the steady state).
fn rollback_trigger(
    spec: &ServiceSpec,
    observed: &ObservedService,
    service: &ServiceDescription,
    rollout: &RolloutMemory,
) -> Option<String> {
    let deployment = &spec.deployment;
    let primary = service.deployments.first();
    if let Some(p) = primary {
        if p.rollout_state == RolloutState::Failed {
            return Some(format!(
                "ECS marked the deployment FAILED: {}",
                p.rollout_state_reason
            ));
        }
        let threshold = failure_threshold(service.desired_count);
        if p.failed_tasks >= threshold {
            return Some(format!(
                "{} tasks of {} failed to start or stay up (threshold {threshold})",
                p.failed_tasks, rollout.target.id
            ));
        }
    }
    if deployment.rollback.on_unhealthy_targets
        && let Some(targets) = &observed.targets
    {
        let unhealthy: usize = targets
            .values()
            .flatten()
            .filter(|t| t.state == TargetState::Unhealthy)
            .count();
        if unhealthy > 0 {
            return Some(format!(
                "{unhealthy} target{} unhealthy during the rollout",
                if unhealthy == 1 { "" } else { "s" }
            ));
        }
    }
    if let Some(max) = deployment.rollback.max5xx_per_minute
        && let Some(Some(latest)) = observed.target_5xx.last()
        && *latest > f64::from(max)
    {
        return Some(format!(
            "{latest:.0} target 5XX in the last minute, above max5xxPerMinute {max}"
        ));
    }
    None
}

/// When a service with this memory needs looking at again, in seconds from `now`: the next
/// health check of a watched rollout's target groups, the end of its verification, its progress
/// deadline; `None` when no rollout is watched.
pub fn next_look(desired: &DesiredService, memory: &ServiceMemory, now: u64) -> Option<u64> {
    let rollout = memory.rollout.as_ref()?;
    let health_check = desired
        .health_checks
        .values()
        .map(|h| u64::from(h.interval_seconds))
        .min()
        .unwrap_or(WATCH_SECONDS)
        .clamp(5, 30);
    let deadline = match rollout.completed_at {
        Some(done) => done + VERIFY_SECONDS,
        None => rollout.started_at + u64::from(desired.spec.deployment.progress_deadline_seconds),
    };
    let until_deadline = deadline.saturating_sub(now).max(1);
    Some(health_check.min(until_deadline))
}

fn roll_back(
    memory: &mut ServiceMemory,
    rollout: &RolloutMemory,
    why: &str,
    now: u64,
) -> RolloutStep {
    let good = memory
        .verified_good
        .clone()
        .filter(|g| !g.same(&rollout.target));
    match good {
        Some(good) if !rollout.rollback => {
            memory.record(decision(
                now,
                DecisionKind::Rollback,
                None,
                format!(
                    "rolling {} back to verified-good {}: {why}",
                    rollout.target.id, good.id
                ),
            ));
            memory.rollout = Some(RolloutMemory {
                target: good.clone(),
                started_at: now,
                completed_at: None,
                rollback: true,
            });
            RolloutStep {
                deploy: Some(good),
                in_progress: true,
                ..RolloutStep::default()
            }
        }
        _ => {
            let message = if rollout.rollback {
                format!(
                    "the rollback to {} is failing too: {why}; holding for an operator",
                    rollout.target.id
                )
            } else {
                format!(
                    "{} failed ({why}) and there is no verified-good revision to roll back to; holding",
                    rollout.target.id
                )
            };
            note_hold(memory, now, message);
            memory.rollout = None;
            RolloutStep {
                in_progress: true,
                ..RolloutStep::default()
            }
        }
    }
}

/// Records a hold unless the last decision already says the same.
fn note_hold(memory: &mut ServiceMemory, now: u64, reason: String) {
    if memory
        .decisions
        .last()
        .is_some_and(|d| d.kind == DecisionKind::Hold && d.reason == reason)
    {
        return;
    }
    memory.record(decision(now, DecisionKind::Hold, None, reason));
}

/// A decision record.
pub fn decision(
    at: u64,
    kind: DecisionKind,
    field: Option<&str>,
    reason: String,
) -> DecisionRecord {
    DecisionRecord {
        at,
        kind,
        field: field.map(str::to_owned),
        reason,
    }
}

/// Where a service stands with respect to its manifest, from the controller's memory: the state
/// `tug get services` shows and `tug rollout status` exits with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// The controller has not acted on it yet.
    Pending,
    /// The manifest's revision is being rolled out, verified, or waited for.
    Progressing,
    /// The manifest's revision is deployed and verified good.
    Ready,
    /// The manifest's revision failed and was rolled back; not retried until the manifest changes.
    Degraded,
}

impl Condition {
    /// The word shown to people.
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::Pending => "Pending",
            Condition::Progressing => "Progressing",
            Condition::Ready => "Ready",
            Condition::Degraded => "Degraded",
        }
    }
}

/// The condition of a service whose manifest renders `manifest_digest`.
pub fn condition(manifest_digest: &str, memory: &ServiceMemory) -> Condition {
    if memory.failed_digests.contains(manifest_digest) {
        Condition::Degraded
    } else if memory
        .verified_good
        .as_ref()
        .is_some_and(|g| g.digest == manifest_digest)
        && memory.rollout.is_none()
    {
        Condition::Ready
    } else if memory.decisions.is_empty() {
        Condition::Pending
    } else {
        Condition::Progressing
    }
}
