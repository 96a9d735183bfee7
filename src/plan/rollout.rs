//! Rollouts: start one when the manifest's revision is not the one running, watch it through ECS's
//! own deployment, verify it, or roll back to the last verified-good revision.
//!
//! Triggers for a rollback (issue 4): new targets turning unhealthy (`onUnhealthyTargets`), more 5XX
//! per minute than `max5xxPerMinute`, tasks failing to start (ECS's failed-task count reaching the
//! circuit-breaker threshold, or the deployment FAILED), and the progress deadline. A rollback goes
//! to the verified-good revision (one that completed a rollout and then stayed healthy for
//! [`VERIFY_SECONDS`]), never blindly to the previous one; the failed digest is not retried until the
//! manifest renders a different one.

use std::sync::Arc;

use crate::manifest::spec::{ServiceSpec, TaskDefinitionSpec};
use crate::model::aws::{AlarmStateValue, RolloutState, ServiceDescription, TargetState};
use crate::model::image::{ImageDigests, describe_digests, digests_of};
use crate::model::{
    DecisionKind, DecisionRecord, ObservedService, Revision, RolloutMemory, ServiceMemory,
};
use crate::plan::DesiredService;
use crate::plan::render::{digest as render_digest, pinned, render, short};

/// How long a completed rollout must stay healthy before its revision is verified good.
pub const VERIFY_SECONDS: u64 = 60;
/// How often a watched rollout is looked at when its target groups' health-check interval is not
/// known (a target group the stack does not declare): ELBv2's shortest useful interval.
pub const WATCH_SECONDS: u64 = 15;

/// The circuit-breaker threshold of a service with `desired` tasks: the manifest's
/// `circuitBreaker`, or ECS's default, ceil(0.5 x desired) within [3, 200].
pub fn failure_threshold(spec: &ServiceSpec, desired: u32) -> u32 {
    super::service::deployment_configuration(spec).failure_threshold_for(desired)
}

/// How long a completed rollout must still stay healthy to be verified: [`VERIFY_SECONDS`], less
/// the final bake of a traffic-shifting strategy (all traffic on the new tasks, the old ones kept
/// for an instant rollback, every gate watched: that is verification already).
pub fn verify_seconds(spec: &ServiceSpec) -> u64 {
    let bake = crate::model::aws::Strategy::of(&spec.deployment.strategy)
        .steps()
        .last()
        .map_or(0, |(_, minutes)| u64::from(*minutes) * 60);
    VERIFY_SECONDS.saturating_sub(bake)
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
    /// Stop this service deployment (its ARN) with ROLLBACK: ECS sends the traffic back to the old
    /// tasks of a traffic-shifting deployment, which are still running.
    pub stop: Option<String>,
    /// Register this definition first: the verified-good revision with its images pinned to the
    /// digests it was verified with, which the rollback then deploys.
    pub pin: Option<Arc<TaskDefinitionSpec>>,
}

/// What deploying the verified-good revision `good` means: the revision to deploy (`good` itself
/// when its images are pinned already or no digest is known; otherwise its pinned twin, the same
/// definition with each tag replaced by the digest it was verified with), or the twin's definition
/// to register first.
///
/// # Errors
/// The pinned definition, when it has no revision yet.
pub fn deployable(
    spec: &ServiceSpec,
    memory: &ServiceMemory,
    good: &Revision,
) -> Result<Revision, Arc<TaskDefinitionSpec>> {
    let Some(source) = memory.sources.get(&good.digest) else {
        return Ok(good.clone());
    };
    let Some(twin) = pinned(source, &good.images) else {
        return Ok(good.clone());
    };
    let mut twin_spec = spec.clone();
    twin_spec.task_definition = Arc::new(twin);
    match memory.revision_of(&render_digest(&render(&twin_spec, None))) {
        Some(revision) => Ok(Revision {
            images: good.images.clone(),
            ..revision
        }),
        None => Err(twin_spec.task_definition),
    }
}

/// How deploying `good` as `target` is said in a decision: ` as app:7, its images pinned to web
/// sha256:…` when `target` is its pinned twin.
fn pinned_words(good: &Revision, target: &Revision) -> String {
    if target.id == good.id {
        String::new()
    } else {
        format!(
            " as {}, its images pinned to the digests it was verified with ({})",
            target.id,
            describe_digests(&target.images)
        )
    }
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
        // What deploying it means (itself or its pinned twin), worked out once: whether the
        // service runs it already, and what to deploy if not.
        let deploy = good.as_ref().map(|g| deployable(spec, memory, g));
        let running_good = good.as_ref().is_some_and(|g| {
            g.id == service.task_definition
                || matches!(&deploy, Some(Ok(r)) if r.id == service.task_definition)
        });
        if !running_good && let (Some(good), Some(deploy)) = (good, deploy) {
            let target = match deploy {
                Ok(target) => target,
                Err(source) => {
                    return RolloutStep {
                        pin: Some(source),
                        in_progress: true,
                        ..RolloutStep::default()
                    };
                }
            };
            memory.record(decision(
                now,
                DecisionKind::DriftCorrection,
                Some("task_definition"),
                format!(
                    "running {} but the manifest's revision failed: back to verified-good {}{}",
                    service.task_definition,
                    good.id,
                    pinned_words(&good, &target)
                ),
            ));
            return RolloutStep {
                deploy: Some(target),
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
            stopped: false,
            observed: false,
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
        stopped: false,
        observed: false,
    });
    RolloutStep {
        deploy: Some(target),
        in_progress: true,
        ..RolloutStep::default()
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
    // ECS rolled the target's deployment back itself (a traffic-shifting strategy's circuit
    // breaker or alarm): the service runs the old revision again. That is this rollout failing,
    // not drift to correct.
    let failed_deployment = service.deployments.iter().find(|d| {
        d.task_definition == rollout.target.id && d.rollout_state == RolloutState::Failed
    });
    // The failed deployment may be gone from DescribeServices by the time the controller looks
    // (ECS drops it once its tasks have stopped): a traffic-shifting service that ran the target
    // and now runs something else, with no new deployment of the controller's, was rolled back.
    let left_target = !on_target
        && rollout.observed
        && !rollout.rollback
        && !spec.deployment.strategy.is_rolling()
        && !ecs_rolling(service);
    let rolled_back_by_ecs = failed_deployment
        .map(|d| d.rollout_state_reason.clone())
        .or_else(|| {
            left_target.then(|| {
                // ECS's reason left with the deployment; the alarms, if one tripped, say it.
                let alarm = alarm_breach(spec, observed, rollout)
                    .map(|a| format!(" ({a})"))
                    .unwrap_or_default();
                format!(
                    "the service runs {} again: ECS rolled the {} deployment back{alarm}",
                    service.task_definition,
                    spec.deployment.strategy.ecs_name()
                )
            })
        });
    if on_target
        && !rollout.observed
        && let Some(r) = memory.rollout.as_mut()
    {
        r.observed = true;
    }
    // The digests the target's tasks run, where this look read them.
    let seen = observed
        .images
        .as_ref()
        .map(|tasks| digests_of(tasks, &rollout.target.id));
    if let Some(Ok(images)) = &seen {
        memory.saw_images(&rollout.target.digest, images);
    }
    if !on_target && rollout.stopped {
        let overdue =
            now >= rollout.started_at + u64::from(spec.deployment.progress_deadline_seconds);
        if ecs_rolling(service) && !overdue {
            // ECS is shifting traffic back: wait for it rather than start another deployment
            // (until the progress deadline: then the rollback's target is deployed after all).
            return RolloutStep {
                in_progress: true,
                ..RolloutStep::default()
            };
        }
        // ECS settled on the old revision, which is not the rollback's target: deploy that, with
        // the digests it was verified with.
        return match deployable(spec, memory, &rollout.target) {
            Ok(target) => {
                if let Some(r) = memory.rollout.as_mut() {
                    r.target = target.clone();
                }
                RolloutStep {
                    deploy: Some(target),
                    in_progress: true,
                    ..RolloutStep::default()
                }
            }
            Err(source) => RolloutStep {
                pin: Some(source),
                in_progress: true,
                ..RolloutStep::default()
            },
        };
    }
    if !on_target && rolled_back_by_ecs.is_none() {
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
    let why = rolled_back_by_ecs
        .filter(|_| !on_target)
        .map(|reason| format!("ECS rolled the deployment back: {reason}"))
        .or_else(|| rollback_trigger(spec, observed, service, rollout))
        .or_else(|| {
        overdue.then(|| {
            // The new revision's own tasks, not the old ones still draining beside them.
            let running = service
                .deployments
                .first()
                .map_or(service.running_count, |d| d.running_count);
            format!(
                "not complete after the {} s progress deadline ({running} of {} tasks of {} running)",
                spec.deployment.progress_deadline_seconds, service.desired_count, rollout.target.id
            )
        })
    });
    if let Some(why) = why {
        if !rollout.rollback {
            memory.fail(&rollout.target.digest);
        }
        // A traffic-shifting deployment still in progress is stopped with ROLLBACK: the old
        // tasks are running, and taking the traffic back starts none.
        let stop = (!spec.deployment.strategy.is_rolling() && on_target)
            .then_some(())
            .and_then(|()| service.deployments.first())
            .filter(|d| d.rollout_state == RolloutState::InProgress)
            .and_then(|_| service.current_service_deployment.clone());
        return roll_back(
            memory,
            rollout,
            &why,
            now,
            stop,
            spec,
            &service.task_definition,
        );
    }
    if let Some(gaps) = alarm_gaps(spec, observed, rollout) {
        // Said once per rollout, not at every look.
        let said = memory
            .decisions
            .iter()
            .rev()
            .take_while(|d| d.at >= rollout.started_at)
            .any(|d| d.reason == gaps);
        if !said {
            note_hold(memory, now, gaps);
        }
    }
    let mixed = match &seen {
        Some(Err(reason)) => Some(reason.clone()),
        _ => None,
    };
    match rollout.completed_at {
        None if steady => {
            let verify = verify_seconds(spec);
            memory.record(decision(
                now,
                DecisionKind::RolloutComplete,
                None,
                if verify < VERIFY_SECONDS {
                    format!(
                        "{} reached steady state: {} tasks running; the strategy's final bake counts toward verification, {verify} s to go",
                        rollout.target.id, service.running_count
                    )
                } else {
                    format!(
                        "{} reached steady state: {} tasks running; verifying for {verify} s",
                        rollout.target.id, service.running_count
                    )
                },
            ));
            if let Some(r) = memory.rollout.as_mut() {
                r.completed_at = Some(now);
            }
            memory.serving_since.get_or_insert(now);
            if verify == 0 {
                return verified(memory, rollout, mixed, now);
            }
        }
        Some(done) if steady && now >= done + verify_seconds(spec) => {
            return verified(memory, rollout, mixed, now);
        }
        _ => {}
    }
    RolloutStep {
        in_progress: true,
        ..RolloutStep::default()
    }
}

/// The rollout's revision is verified good, with the image digests its tasks run; or not yet,
/// while its tasks run more than one image for a container (`mixed`): which of them would be the
/// verified one is not known.
fn verified(
    memory: &mut ServiceMemory,
    rollout: &RolloutMemory,
    mixed: Option<String>,
    now: u64,
) -> RolloutStep {
    if let Some(reason) = mixed {
        note_hold(
            memory,
            now,
            format!(
                "{} is not verified yet: {reason}; waiting until they run one",
                rollout.target.id
            ),
        );
        return RolloutStep {
            in_progress: true,
            ..RolloutStep::default()
        };
    }
    let images: ImageDigests = memory
        .images
        .get(&rollout.target.digest)
        .cloned()
        .unwrap_or_else(|| rollout.target.images.clone());
    let ran = if images.is_empty() {
        "; ECS reported no image digests, so a rollback to it deploys its tags as they stand then"
            .to_owned()
    } else {
        format!(", running {}", describe_digests(&images))
    };
    memory.record(decision(
        now,
        DecisionKind::RolloutVerified,
        None,
        format!(
            "{} stayed healthy for {VERIFY_SECONDS} s after completing: verified good{ran}",
            rollout.target.id
        ),
    ));
    memory.verified_good = Some(Revision {
        images,
        ..rollout.target.clone()
    });
    memory.rollout = None;
    RolloutStep::default()
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
        let threshold = failure_threshold(spec, service.desired_count);
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
    alarm_breach(spec, observed, rollout)
}

/// The first named alarm that went into ALARM since the rollout started, in words. The alarms
/// gate the rollout for as long as it is watched: through ECS's deployment and bake, and through
/// tugboat's verification after it, which ECS does not watch.
fn alarm_breach(
    spec: &ServiceSpec,
    observed: &ObservedService,
    rollout: &RolloutMemory,
) -> Option<String> {
    let alarms = observed.alarms.as_ref()?;
    spec.deployment.alarms.iter().find_map(|name| {
        let a = alarms.iter().find(|a| &a.name == name)?;
        (a.state == AlarmStateValue::Alarm && a.since >= rollout.started_at).then(|| {
            format!(
                "alarm {name} went into ALARM {} s into the rollout: {}",
                a.since - rollout.started_at,
                a.reason
            )
        })
    })
}

/// What the rollout's alarm gate cannot use, if anything: named alarms that do not exist, and
/// alarms in ALARM since before the rollout started (ECS ignores those for the deployment, and so
/// does the gate until they change state again).
fn alarm_gaps(
    spec: &ServiceSpec,
    observed: &ObservedService,
    rollout: &RolloutMemory,
) -> Option<String> {
    let alarms = observed.alarms.as_ref()?;
    let mut gaps = Vec::new();
    for name in &spec.deployment.alarms {
        match alarms.iter().find(|a| &a.name == name) {
            None => gaps.push(format!(
                "alarm {name} of deployment.alarms does not exist: it gates nothing"
            )),
            Some(a) if a.state == AlarmStateValue::Alarm && a.since < rollout.started_at => {
                gaps.push(format!(
                    "alarm {name} has been in ALARM since {} s before the rollout started: it gates the rollout once it leaves ALARM and enters it again, as ECS does",
                    rollout.started_at - a.since
                ));
            }
            Some(_) => {}
        }
    }
    (!gaps.is_empty()).then(|| gaps.join("; "))
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
        Some(done) => done + verify_seconds(&desired.spec),
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
    stop: Option<String>,
    spec: &ServiceSpec,
    running: &crate::model::aws::TaskDefinitionId,
) -> RolloutStep {
    let good = memory
        .verified_good
        .clone()
        .filter(|g| !g.same(&rollout.target));
    let strategy = spec.deployment.strategy.ecs_name();
    match good {
        Some(good) if !rollout.rollback => {
            let stopped = stop.is_some();
            // ECS is sending the traffic back to its tasks, or runs it already (it rolled back on
            // its own): nothing to deploy. Otherwise it is deployed with the digests it was
            // verified with (its pinned twin, registered first if need be).
            let target = if stopped || good.id == *running {
                good.clone()
            } else {
                match deployable(spec, memory, &good) {
                    Ok(target) => target,
                    Err(source) => {
                        return RolloutStep {
                            pin: Some(source),
                            in_progress: true,
                            stop,
                            ..RolloutStep::default()
                        };
                    }
                }
            };
            memory.record(decision(
                now,
                DecisionKind::Rollback,
                None,
                if stopped {
                    format!(
                        "rolling {} back to verified-good {}: stopping the {strategy} deployment with ROLLBACK, traffic returns to the tasks still running, none is started: {why}",
                        rollout.target.id, good.id
                    )
                } else {
                    format!(
                        "rolling {} back to verified-good {}{}: {why}",
                        rollout.target.id,
                        good.id,
                        pinned_words(&good, &target)
                    )
                },
            ));
            memory.rollout = Some(RolloutMemory {
                target: target.clone(),
                started_at: now,
                completed_at: None,
                rollback: true,
                stopped,
                observed: false,
            });
            let deploy = (!stopped && target.id != *running).then_some(target);
            RolloutStep {
                deploy,
                in_progress: true,
                stop,
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
            let message = match &stop {
                Some(_) => format!(
                    "{message}; the {strategy} deployment is stopped with ROLLBACK, so traffic returns to the tasks still running"
                ),
                None => message,
            };
            note_hold(memory, now, message);
            memory.rollout = None;
            RolloutStep {
                in_progress: true,
                stop,
                ..RolloutStep::default()
            }
        }
    }
}

/// Records a hold unless the last decision already says the same.
pub fn note_hold(memory: &mut ServiceMemory, now: u64, reason: String) {
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

#[cfg(test)]
mod tests {
    //! The rollout state machine, one table row per transition: the memory it starts from, what
    //! ECS and the target groups report, the time; then what it asks for and the memory it leaves.

    use std::sync::Arc;

    use super::*;
    use crate::manifest::{Source, parse_sources};
    use crate::model::aws::TaskDefinitionId;
    use crate::model::aws::{DeploymentController, DeploymentDescription, TargetHealth};

    const STACK: &str = "
apiVersion: tugboat/v1
kind: Stack
metadata: {name: app}
spec:
  cluster: c
  targetGroups:
    - {name: tg, healthCheck: {path: /, intervalSeconds: 10}}
  services:
    - name: web
      launchType: FARGATE
      desiredCount: 4
      taskDefinition:
        family: app
        cpu: 256
        memory: 512
        containers: [{name: web, image: 'web:1', portMappings: [{containerPort: 80}]}]
      network: {subnets: [subnet-0123abcd]}
      loadBalancers: [{targetGroup: tg, containerName: web, containerPort: 80}]
      deployment: {progressDeadlineSeconds: 600, rollback: {max5xxPerMinute: 10}}
";

    fn desired() -> DesiredService {
        let stacks = parse_sources(&[Source {
            name: "app.yaml".into(),
            bytes: STACK.as_bytes().to_vec(),
        }])
        .expect("the test's stack is valid");
        DesiredService::of_stack(&stacks[0]).remove(0)
    }

    fn id(revision: u32) -> TaskDefinitionId {
        TaskDefinitionId {
            family: "app".into(),
            revision,
        }
    }

    fn revision(digest: &str, number: u32) -> Revision {
        Revision {
            digest: digest.into(),
            id: id(number),
            arn: Some(format!(
                "arn:aws:ecs:us-east-1:123456789012:task-definition/app:{number}"
            )),
            images: ImageDigests::new(),
        }
    }

    /// Memory that knows digests d1 (revision 1) and d2 (revision 2), verified good as given,
    /// watching the given rollout, with these digests failed.
    fn memory(
        verified: Option<(&str, u32)>,
        rollout: Option<(&str, u32, u64, Option<u64>, bool)>,
        failed: &[&str],
    ) -> ServiceMemory {
        let mut m = ServiceMemory::default();
        for (digest, number) in [("d1", 1), ("d2", 2)] {
            Arc::make_mut(&mut m.ledger).insert(digest.into(), id(number));
            let r = revision(digest, number);
            Arc::make_mut(&mut m.arns).insert(r.id.to_string(), r.arn.unwrap_or_default());
        }
        m.verified_good = verified.map(|(d, n)| revision(d, n));
        m.rollout = rollout.map(|(d, n, started_at, completed_at, rollback)| RolloutMemory {
            target: revision(d, n),
            started_at,
            completed_at,
            rollback,
            stopped: false,
            observed: false,
        });
        for digest in failed {
            m.fail(digest);
        }
        m
    }

    /// What ECS reports: the primary deployment's revision, its state, tasks running of desired,
    /// whether an older deployment is still draining, failed tasks.
    #[derive(Clone, Copy)]
    struct Ecs {
        on: u32,
        state: RolloutState,
        running: u32,
        draining_old: bool,
        failed_tasks: u32,
    }

    const STEADY_ON_1: Ecs = Ecs {
        on: 1,
        state: RolloutState::Completed,
        running: 4,
        draining_old: false,
        failed_tasks: 0,
    };
    const STEADY_ON_2: Ecs = Ecs {
        on: 2,
        ..STEADY_ON_1
    };
    const ROLLING_TO_2: Ecs = Ecs {
        on: 2,
        state: RolloutState::InProgress,
        running: 2,
        draining_old: true,
        failed_tasks: 0,
    };

    fn described(ecs: Ecs) -> ServiceDescription {
        let deployment = |on: u32, state, running| DeploymentDescription {
            id: format!("ecs-svc/{on}"),
            status: if on == ecs.on { "PRIMARY" } else { "ACTIVE" }.into(),
            task_definition: id(on),
            desired_count: 4,
            running_count: running,
            pending_count: 0,
            failed_tasks: if on == ecs.on { ecs.failed_tasks } else { 0 },
            rollout_state: state,
            rollout_state_reason: if state == RolloutState::Failed {
                "tasks failed to start".into()
            } else {
                String::new()
            },
        };
        let mut deployments = vec![deployment(ecs.on, ecs.state, ecs.running)];
        if ecs.draining_old {
            deployments.push(deployment(ecs.on - 1, RolloutState::Completed, 2));
        }
        ServiceDescription {
            cluster: "c".into(),
            service: "web".into(),
            status: "ACTIVE".into(),
            desired_count: 4,
            running_count: ecs.running + if ecs.draining_old { 2 } else { 0 },
            pending_count: 0,
            task_definition: id(ecs.on),
            deployment_configuration: None,
            deployment_controller: DeploymentController::Ecs,
            deployments,
            load_balancers: Vec::new(),
            current_service_deployment: None,
            options: None,
            tags: Default::default(),
        }
    }

    /// Targets' states and the newest minute's target 5XX.
    fn observed(targets: &[TargetState], target_5xx: Option<f64>) -> ObservedService {
        ObservedService {
            targets: (!targets.is_empty()).then(|| {
                [(
                    "tg".to_owned(),
                    targets
                        .iter()
                        .enumerate()
                        .map(|(i, &state)| TargetHealth {
                            task_id: format!("t{i}"),
                            state,
                        })
                        .collect(),
                )]
                .into()
            }),
            target_5xx: target_5xx.map(Some).into_iter().collect(),
            ..ObservedService::default()
        }
    }

    struct Case {
        name: &'static str,
        /// The manifest's digest.
        digest: &'static str,
        memory: ServiceMemory,
        ecs: Ecs,
        targets: &'static [TargetState],
        target_5xx: Option<f64>,
        now: u64,
        // What it asks for.
        deploy: Option<u32>,
        register: bool,
        in_progress: bool,
        /// The decision it records, and words its reason must contain.
        decided: &'static [(DecisionKind, &'static str)],
        // The memory it leaves: the rollout (target revision, completed at, rollback), the
        // verified-good revision, the failed digests.
        rollout: Option<(u32, Option<u64>, bool)>,
        verified: Option<u32>,
        failed: &'static [&'static str],
    }

    /// The same service deploying with ECS's CANARY strategy.
    fn canary() -> DesiredService {
        let text = STACK
            .replace(
                "    - {name: tg, healthCheck: {path: /, intervalSeconds: 10}}",
                "    - {name: tg, healthCheck: {path: /, intervalSeconds: 10}}\n    - {name: tg2}",
            )
            .replace(
                "loadBalancers: [{targetGroup: tg, containerName: web, containerPort: 80}]",
                "loadBalancers: [{targetGroup: tg, containerName: web, containerPort: 80, alternateTargetGroup: tg2, productionListenerRule: 'arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/a/1/2/3', roleArn: 'arn:aws:iam::123456789012:role/lb'}]",
            )
            .replace(
                "deployment: {progressDeadlineSeconds: 600,",
                "deployment: {strategy: {canary: {percent: 10, bakeMinutes: 4}}, progressDeadlineSeconds: 600,",
            );
        let stacks = parse_sources(&[Source {
            name: "canary.yaml".into(),
            bytes: text.into_bytes(),
        }])
        .expect("the test's canary stack is valid");
        DesiredService::of_stack(&stacks[0]).remove(0)
    }

    /// The named alarms gate the rollout for as long as it is watched, verification included: an
    /// alarm that goes into ALARM after the rollout started rolls it back and fails the digest; one
    /// in ALARM since before it started, or one that does not exist, gates nothing and is said.
    #[test]
    fn an_alarm_that_goes_into_alarm_during_the_rollout_or_its_verification_rolls_it_back() {
        use crate::model::aws::AlarmState;
        let mut desired = desired();
        desired.spec.deployment.alarms = vec!["web-5xx".into(), "web-latency".into()];
        let spec = &desired.spec;
        let alarms = |state: AlarmStateValue, since: u64| ObservedService {
            alarms: Some(vec![AlarmState {
                name: "web-5xx".into(),
                state,
                reason: "Threshold Crossed: 1 datapoint [42.0] was greater than 10.0".into(),
                since,
            }]),
            ..ObservedService::default()
        };
        // Completed at 900, verifying: ECS watches no alarm any more, tugboat does.
        let verifying = || memory(Some(("d1", 1)), Some(("d2", 2, 800, Some(900), false)), &[]);
        let mut m = verifying();
        let service = described(STEADY_ON_2);
        super::step(
            spec,
            "d2",
            &alarms(AlarmStateValue::Ok, 100),
            &service,
            &mut m,
            950,
        );
        assert!(m.rollout.as_ref().is_some_and(|r| !r.rollback));
        let gap = &m.decisions.last().expect("a hold").reason;
        assert!(
            gap.contains("alarm web-latency of deployment.alarms does not exist"),
            "{gap}"
        );
        let step = super::step(
            spec,
            "d2",
            &alarms(AlarmStateValue::Alarm, 940),
            &service,
            &mut m,
            960,
        );
        assert_eq!(
            step.deploy.map(|r| r.id),
            Some(id(1)),
            "back to verified good"
        );
        assert!(m.failed_digests.contains("d2"));
        let rollback = m.decisions.last().expect("rollback");
        assert_eq!(rollback.kind, DecisionKind::Rollback);
        assert!(
            rollback.reason.contains(
                "alarm web-5xx went into ALARM 140 s into the rollout: Threshold Crossed"
            ),
            "{}",
            rollback.reason
        );
        // In ALARM since before the rollout started: not a breach, and said.
        let mut m = verifying();
        super::step(
            spec,
            "d2",
            &alarms(AlarmStateValue::Alarm, 700),
            &service,
            &mut m,
            950,
        );
        assert!(m.rollout.as_ref().is_some_and(|r| !r.rollback) && m.failed_digests.is_empty());
        let gap = &m.decisions.last().expect("a hold").reason;
        assert!(
            gap.contains("alarm web-5xx has been in ALARM since 100 s before the rollout started"),
            "{gap}"
        );
    }

    /// The digests a verified rollout's tasks run are recorded with it; tasks running two images of
    /// one container hold verification; a rollback to a revision that names its image by tag
    /// registers the definition pinned to the verified digest first, then deploys that.
    #[test]
    fn verified_digests_are_recorded_and_a_rollback_deploys_them_pinned() {
        use crate::model::image::TaskImages;
        let desired = desired();
        let spec = &desired.spec;
        let a = format!("sha256:{}", "a".repeat(64));
        let b = format!("sha256:{}", "b".repeat(64));
        let tasks = |digests: &[&str]| ObservedService {
            images: Some(
                digests
                    .iter()
                    .map(|d| TaskImages {
                        task_definition: id(2),
                        containers: [("web".to_owned(), Some((*d).to_owned()))].into(),
                    })
                    .collect(),
            ),
            ..ObservedService::default()
        };
        // Completed at 900; at 1 000 its tasks run two images: not verified.
        let mut m = memory(Some(("d1", 1)), Some(("d2", 2, 800, Some(900), false)), &[]);
        let service = described(STEADY_ON_2);
        super::step(spec, "d2", &tasks(&[&a, &b]), &service, &mut m, 1_000);
        assert!(m.rollout.is_some(), "not verified while mixed");
        assert!(
            m.decisions
                .last()
                .is_some_and(|d| d.reason.contains("run 2 images of container web")),
            "{:?}",
            m.decisions
        );
        // One image: verified, with it.
        super::step(spec, "d2", &tasks(&[&a, &a]), &service, &mut m, 1_010);
        let good = m.verified_good.clone().expect("verified");
        assert_eq!(good.id, id(2));
        assert_eq!(good.images.get("web"), Some(&a));
        assert_eq!(m.images.get("d2").and_then(|i| i.get("web")), Some(&a));

        // A later rollout of d3 fails: the rollback needs d2's definition pinned to `a`.
        Arc::make_mut(&mut m.sources).insert("d2".into(), spec.task_definition.clone());
        Arc::make_mut(&mut m.ledger).insert("d3".into(), id(3));
        m.rollout = Some(RolloutMemory {
            target: Revision {
                digest: "d3".into(),
                ..revision("d3", 3)
            },
            started_at: 2_000,
            completed_at: None,
            rollback: false,
            stopped: false,
            observed: false,
        });
        let mut failing = described(STEADY_ON_1);
        failing.task_definition = id(3);
        failing.deployments[0].task_definition = id(3);
        failing.deployments[0].rollout_state = RolloutState::Failed;
        let look = |m: &mut ServiceMemory| {
            super::step(spec, "d3", &ObservedService::default(), &failing, m, 2_100)
        };
        let step = look(&mut m);
        let pin = step.pin.expect("the pinned definition is registered first");
        assert_eq!(pin.containers[0].image, format!("web@{a}"));
        assert_eq!(step.deploy, None);
        // Registered as revision 4: the rollback deploys it, and says so.
        let mut twin_spec = spec.clone();
        twin_spec.task_definition = pin;
        let twin = render_digest(&render(&twin_spec, None));
        Arc::make_mut(&mut m.ledger).insert(twin, id(4));
        let step = look(&mut m);
        assert_eq!(step.deploy.as_ref().map(|r| r.id.clone()), Some(id(4)));
        assert_eq!(step.deploy.map(|r| r.images), Some(good.images));
        assert!(
            m.decisions.last().is_some_and(|d| d
                .reason
                .contains("back to verified-good app:2 as app:4, its images pinned")),
            "{:?}",
            m.decisions.last()
        );
    }

    /// A traffic-shifting rollout: a breach stops ECS's deployment with ROLLBACK (no new
    /// deployment), the controller waits for ECS while it moves the traffic back (until the
    /// deadline), and a service ECS returned to the old revision itself is a failed rollout.
    #[test]
    fn traffic_shifting_rollouts_are_stopped_waited_for_and_never_redeployed() {
        let spec = canary().spec;
        let arn = "arn:aws:ecs:us-east-1:123456789012:service-deployment/c/web/2";
        let mut service = described(ROLLING_TO_2);
        service.current_service_deployment = Some(arn.into());

        // A breach during the canary: stop with ROLLBACK, nothing deployed.
        let mut m = memory(Some(("d1", 1)), Some(("d2", 2, 900, None, false)), &[]);
        let breach = observed(&[Healthy, Unhealthy], None);
        let step = super::step(&spec, "d2", &breach, &service, &mut m, 1_000);
        assert_eq!(step.stop.as_deref(), Some(arn));
        assert_eq!(step.deploy, None, "no new deployment for the rollback");
        let rollout = m.rollout.clone().expect("the rollback is watched");
        assert!(rollout.rollback && rollout.stopped && rollout.target.id == id(1));
        assert!(m.failed_digests.contains("d2"));
        assert!(
            m.decisions
                .last()
                .is_some_and(|d| d.reason.contains("with ROLLBACK"))
        );

        // ECS still moving the traffic back (the old revision not primary yet): wait.
        let step = super::step(&spec, "d2", &observed(&[], None), &service, &mut m, 1_030);
        assert_eq!((step.deploy.is_none(), step.stop.is_none()), (true, true));
        // Past the deadline ECS has not settled: deploy the rollback's target after all.
        let step = super::step(
            &spec,
            "d2",
            &observed(&[], None),
            &service,
            &mut m,
            1_000 + 601,
        );
        assert_eq!(step.deploy.map(|r| r.id), Some(id(1)));

        // ECS rolled the canary back on its own, and its failed deployment is already gone:
        // the service runs revision 1 again, steadily. A failure, not drift to undo.
        let mut m = memory(Some(("d1", 1)), Some(("d2", 2, 900, None, false)), &[]);
        if let Some(r) = m.rollout.as_mut() {
            r.observed = true;
        }
        let step = super::step(
            &spec,
            "d2",
            &observed(&[], None),
            &described(STEADY_ON_1),
            &mut m,
            1_200,
        );
        assert_eq!(
            step.deploy, None,
            "a deployment while ECS already runs verified-good"
        );
        assert!(m.failed_digests.contains("d2"));
        assert!(
            m.decisions.iter().any(|d| d.kind == DecisionKind::Rollback
                && d.reason.contains("ECS rolled the deployment back")),
            "{:?}",
            m.decisions
        );
        // A rolling service in the same position is drift: pointed back at its target.
        let rolling = desired().spec;
        let mut m = memory(Some(("d1", 1)), Some(("d2", 2, 900, None, false)), &[]);
        if let Some(r) = m.rollout.as_mut() {
            r.observed = true;
        }
        let step = super::step(
            &rolling,
            "d2",
            &observed(&[], None),
            &described(STEADY_ON_1),
            &mut m,
            1_200,
        );
        assert_eq!(step.deploy.map(|r| r.id), Some(id(2)));
    }

    use RolloutState::Failed;
    use TargetState::{Healthy, Initial, Unhealthy};

    fn cases() -> Vec<Case> {
        let row = |name, digest, memory, ecs| Case {
            name,
            digest,
            memory,
            ecs,
            targets: &[],
            target_5xx: None,
            now: 1_000,
            deploy: None,
            register: false,
            in_progress: false,
            decided: &[],
            rollout: None,
            verified: None,
            failed: &[],
        };
        vec![
            Case {
                register: true,
                verified: Some(1),
                ..row(
                    "a new digest is registered before anything else",
                    "d3",
                    memory(Some(("d1", 1)), None, &[]),
                    STEADY_ON_1,
                )
            },
            Case {
                deploy: Some(2),
                in_progress: true,
                decided: &[(DecisionKind::RolloutStart, "running app:1")],
                rollout: Some((2, None, false)),
                verified: Some(1),
                ..row(
                    "a registered digest not running starts a rollout",
                    "d2",
                    memory(Some(("d1", 1)), None, &[]),
                    STEADY_ON_1,
                )
            },
            Case {
                verified: Some(2),
                ..row(
                    "the verified revision running steady needs nothing",
                    "d2",
                    memory(Some(("d2", 2)), None, &[]),
                    STEADY_ON_2,
                )
            },
            Case {
                in_progress: true,
                decided: &[
                    (
                        DecisionKind::RolloutStart,
                        "already deployed but not yet verified",
                    ),
                    (DecisionKind::RolloutComplete, "verifying for 60 s"),
                ],
                rollout: Some((2, Some(1_000), false)),
                ..row(
                    "an adopted, unverified revision is watched and completes when steady",
                    "d2",
                    memory(None, None, &[]),
                    STEADY_ON_2,
                )
            },
            Case {
                in_progress: true,
                decided: &[(DecisionKind::RolloutStart, "not yet verified")],
                rollout: Some((1, None, false)),
                verified: Some(1),
                ..row(
                    "verified good is the digest's, not the number's: a reset account's app:1 is not verified",
                    "d2",
                    {
                        let mut m = memory(None, None, &[]);
                        // The old d1 was verified as app:1; after a reset d2 registered as app:1.
                        Arc::make_mut(&mut m.ledger).insert("d2".into(), id(1));
                        m.verified_good = Some(revision("d1", 1));
                        m
                    },
                    Ecs {
                        on: 1,
                        ..ROLLING_TO_2
                    },
                )
            },
            Case {
                in_progress: true,
                targets: &[Healthy, Healthy, Initial],
                rollout: Some((2, None, false)),
                verified: Some(1),
                ..row(
                    "a rollout still replacing tasks is waited for",
                    "d2",
                    memory(Some(("d1", 1)), Some(("d2", 2, 900, None, false)), &[]),
                    ROLLING_TO_2,
                )
            },
            Case {
                in_progress: true,
                decided: &[(DecisionKind::RolloutComplete, "4 tasks running")],
                rollout: Some((2, Some(1_000), false)),
                verified: Some(1),
                ..row(
                    "a steady rollout completes",
                    "d2",
                    memory(Some(("d1", 1)), Some(("d2", 2, 900, None, false)), &[]),
                    STEADY_ON_2,
                )
            },
            Case {
                in_progress: true,
                decided: &[(DecisionKind::RolloutComplete, "reached steady state")],
                rollout: Some((2, Some(1_000), false)),
                verified: Some(1),
                ..row(
                    "steady when looked at after the deadline: complete, not failed",
                    "d2",
                    memory(Some(("d1", 1)), Some(("d2", 2, 100, None, false)), &[]),
                    STEADY_ON_2,
                )
            },
            Case {
                in_progress: true,
                rollout: Some((2, Some(970), false)),
                verified: Some(1),
                ..row(
                    "a completed rollout is verified only after 60 s",
                    "d2",
                    memory(Some(("d1", 1)), Some(("d2", 2, 900, Some(970), false)), &[]),
                    STEADY_ON_2,
                )
            },
            Case {
                decided: &[(DecisionKind::RolloutVerified, "verified good")],
                verified: Some(2),
                ..row(
                    "60 s healthy after completing: verified good, the rollout ends",
                    "d2",
                    memory(Some(("d1", 1)), Some(("d2", 2, 900, Some(940), false)), &[]),
                    STEADY_ON_2,
                )
            },
            Case {
                deploy: Some(1),
                in_progress: true,
                decided: &[(
                    DecisionKind::Rollback,
                    "600 s progress deadline (2 of 4 tasks of app:2 running)",
                )],
                rollout: Some((1, None, true)),
                verified: Some(1),
                failed: &["d2"],
                ..row(
                    "not steady at the progress deadline: back to verified good",
                    "d2",
                    memory(Some(("d1", 1)), Some(("d2", 2, 400, None, false)), &[]),
                    ROLLING_TO_2,
                )
            },
            Case {
                deploy: Some(1),
                in_progress: true,
                decided: &[(
                    DecisionKind::Rollback,
                    "ECS marked the deployment FAILED: tasks failed to start",
                )],
                rollout: Some((1, None, true)),
                verified: Some(1),
                failed: &["d2"],
                ..row(
                    "ECS's deployment FAILED rolls back",
                    "d2",
                    memory(Some(("d1", 1)), Some(("d2", 2, 900, None, false)), &[]),
                    Ecs {
                        state: Failed,
                        ..ROLLING_TO_2
                    },
                )
            },
            Case {
                deploy: Some(1),
                in_progress: true,
                decided: &[(DecisionKind::Rollback, "3 tasks of app:2 failed")],
                rollout: Some((1, None, true)),
                verified: Some(1),
                failed: &["d2"],
                ..row(
                    "failed tasks at the circuit-breaker threshold roll back",
                    "d2",
                    memory(Some(("d1", 1)), Some(("d2", 2, 900, None, false)), &[]),
                    Ecs {
                        failed_tasks: 3,
                        ..ROLLING_TO_2
                    },
                )
            },
            Case {
                in_progress: true,
                rollout: Some((2, None, false)),
                verified: Some(1),
                ..row(
                    "failed tasks below the threshold are tolerated",
                    "d2",
                    memory(Some(("d1", 1)), Some(("d2", 2, 900, None, false)), &[]),
                    Ecs {
                        failed_tasks: 2,
                        ..ROLLING_TO_2
                    },
                )
            },
            Case {
                deploy: Some(1),
                in_progress: true,
                targets: &[Healthy, Unhealthy],
                decided: &[(
                    DecisionKind::Rollback,
                    "1 target unhealthy during the rollout",
                )],
                rollout: Some((1, None, true)),
                verified: Some(1),
                failed: &["d2"],
                ..row(
                    "an unhealthy new target rolls back",
                    "d2",
                    memory(Some(("d1", 1)), Some(("d2", 2, 900, None, false)), &[]),
                    ROLLING_TO_2,
                )
            },
            Case {
                deploy: Some(1),
                in_progress: true,
                target_5xx: Some(25.0),
                decided: &[(
                    DecisionKind::Rollback,
                    "25 target 5XX in the last minute, above max5xxPerMinute 10",
                )],
                rollout: Some((1, None, true)),
                verified: Some(1),
                failed: &["d2"],
                ..row(
                    "5XX above the limit rolls back, even after completing",
                    "d2",
                    memory(Some(("d1", 1)), Some(("d2", 2, 900, Some(950), false)), &[]),
                    STEADY_ON_2,
                )
            },
            Case {
                in_progress: true,
                target_5xx: Some(10.0),
                rollout: Some((2, None, false)),
                verified: Some(1),
                ..row(
                    "5XX at the limit is tolerated",
                    "d2",
                    memory(Some(("d1", 1)), Some(("d2", 2, 900, None, false)), &[]),
                    ROLLING_TO_2,
                )
            },
            Case {
                in_progress: true,
                targets: &[Unhealthy],
                decided: &[(
                    DecisionKind::Hold,
                    "no verified-good revision to roll back to; holding",
                )],
                failed: &["d2"],
                ..row(
                    "a failure with nothing verified to go back to holds",
                    "d2",
                    memory(None, Some(("d2", 2, 900, None, false)), &[]),
                    ROLLING_TO_2,
                )
            },
            Case {
                in_progress: true,
                targets: &[Unhealthy],
                decided: &[(DecisionKind::Hold, "the rollback to app:1 is failing too")],
                verified: Some(1),
                failed: &["d2"],
                ..row(
                    "a failing rollback holds for an operator and fails no more digests",
                    "d2",
                    memory(Some(("d1", 1)), Some(("d1", 1, 900, None, true)), &["d2"]),
                    Ecs {
                        on: 1,
                        ..ROLLING_TO_2
                    },
                )
            },
            Case {
                deploy: Some(1),
                in_progress: true,
                decided: &[(DecisionKind::DriftCorrection, "back to verified-good app:1")],
                verified: Some(1),
                failed: &["d2"],
                ..row(
                    "a failed digest found running (set out of band) goes back to verified good",
                    "d2",
                    memory(Some(("d1", 1)), None, &["d2"]),
                    STEADY_ON_2,
                )
            },
            Case {
                decided: &[(DecisionKind::Hold, "not retried until the manifest changes")],
                verified: Some(1),
                failed: &["d2"],
                ..row(
                    "a failed digest is not retried",
                    "d2",
                    memory(Some(("d1", 1)), None, &["d2"]),
                    STEADY_ON_1,
                )
            },
            Case {
                deploy: Some(2),
                in_progress: true,
                rollout: Some((2, None, false)),
                verified: Some(1),
                ..row(
                    "a rollout's service pointed elsewhere out of band is pointed back",
                    "d2",
                    memory(Some(("d1", 1)), Some(("d2", 2, 900, None, false)), &[]),
                    STEADY_ON_1,
                )
            },
            Case {
                register: true,
                in_progress: true,
                verified: Some(1),
                ..row(
                    "a manifest changed mid-rollout starts over toward the new digest",
                    "d3",
                    memory(Some(("d1", 1)), Some(("d2", 2, 900, None, false)), &[]),
                    ROLLING_TO_2,
                )
            },
            Case {
                in_progress: true,
                rollout: Some((1, None, true)),
                verified: Some(1),
                failed: &["d2"],
                ..row(
                    "a manifest changed mid-rollback lets the rollback finish first",
                    "d3",
                    memory(Some(("d1", 1)), Some(("d1", 1, 900, None, true)), &["d2"]),
                    Ecs {
                        on: 1,
                        ..ROLLING_TO_2
                    },
                )
            },
        ]
    }

    #[test]
    fn rollout_state_machine() {
        let desired = desired();
        for case in cases() {
            let mut memory = case.memory.clone();
            let decisions_before = memory.decisions.len();
            let step = step(
                &desired.spec,
                case.digest,
                &observed(case.targets, case.target_5xx),
                &described(case.ecs),
                &mut memory,
                case.now,
            );
            let name = case.name;
            assert_eq!(
                step.deploy.as_ref().map(|r| r.id.revision),
                case.deploy,
                "{name}: deploy"
            );
            assert_eq!(step.register, case.register, "{name}: register");
            assert_eq!(step.in_progress, case.in_progress, "{name}: in progress");
            let new: Vec<&DecisionRecord> = memory.decisions[decisions_before..].iter().collect();
            assert_eq!(new.len(), case.decided.len(), "{name}: decisions {new:?}");
            for (record, (kind, words)) in new.iter().zip(case.decided) {
                assert_eq!(record.kind, *kind, "{name}: decision kind");
                assert!(
                    record.reason.contains(words),
                    "{name}: reason {:?} should say {words:?}",
                    record.reason
                );
                assert!(
                    !record.reason.contains(": ;") && !record.reason.ends_with(": "),
                    "{name}: no empty reason after a colon"
                );
            }
            assert_eq!(
                memory
                    .rollout
                    .as_ref()
                    .map(|r| (r.target.id.revision, r.completed_at, r.rollback)),
                case.rollout,
                "{name}: rollout left"
            );
            assert_eq!(
                memory.verified_good.as_ref().map(|r| r.id.revision),
                case.verified,
                "{name}: verified good"
            );
            let failed: Vec<&str> = memory.failed_digests.iter().map(String::as_str).collect();
            assert_eq!(failed, case.failed, "{name}: failed digests");
        }
    }

    #[test]
    fn a_hold_is_recorded_once_while_nothing_changes() {
        let desired = desired();
        let mut memory = memory(Some(("d1", 1)), None, &["d2"]);
        for now in [1_000, 1_030, 1_060] {
            step(
                &desired.spec,
                "d2",
                &observed(&[], None),
                &described(STEADY_ON_1),
                &mut memory,
                now,
            );
        }
        let holds = memory
            .decisions
            .iter()
            .filter(|d| d.kind == DecisionKind::Hold)
            .count();
        assert_eq!(holds, 1);
    }

    #[test]
    fn the_next_look_is_the_next_health_check_or_the_deadline_whichever_is_first() {
        let desired = desired();
        // (rollout started, completed, now) -> seconds until the next look; the target group
        // checks every 10 s, the progress deadline is 600 s, verification 60 s.
        type Started = Option<(u64, Option<u64>)>;
        let table: [(Started, u64, Option<u64>); 6] = [
            (None, 1_000, None),
            (Some((1_000, None)), 1_000, Some(10)),
            (Some((1_000, None)), 1_595, Some(5)),
            (Some((1_000, None)), 1_700, Some(1)),
            (Some((1_000, Some(1_200))), 1_255, Some(5)),
            (Some((1_000, Some(1_200))), 1_210, Some(10)),
        ];
        for (rollout, now, expected) in table {
            let memory = memory(
                None,
                rollout.map(|(started, completed)| ("d2", 2, started, completed, false)),
                &[],
            );
            assert_eq!(
                next_look(&desired, &memory, now),
                expected,
                "rollout {rollout:?} at {now}"
            );
        }
    }

    #[test]
    fn the_condition_follows_memory() {
        let table = [
            (memory(None, None, &[]), "d2", Condition::Pending),
            (memory(Some(("d2", 2)), None, &[]), "d2", Condition::Ready),
            (
                memory(Some(("d2", 2)), Some(("d2", 2, 1, None, false)), &[]),
                "d2",
                Condition::Progressing,
            ),
            (
                memory(Some(("d1", 1)), None, &["d2"]),
                "d2",
                Condition::Degraded,
            ),
        ];
        for (mut memory, digest, expected) in table {
            if expected == Condition::Progressing {
                memory.record(decision(1, DecisionKind::RolloutStart, None, "x".into()));
            }
            assert_eq!(
                condition(digest, &memory),
                expected,
                "{digest} {expected:?}"
            );
        }
    }
}
