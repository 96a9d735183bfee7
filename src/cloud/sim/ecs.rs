//! ECS in the simulator: the task lifecycle and the service scheduler.
//!
//! Facts modelled (aws-facts.md, "ECS rolling deployment"):
//! - minimumHealthyPercent bounds healthy RUNNING tasks from below, rounded UP (75 % of 2 = 2);
//!   maximumPercent bounds RUNNING + PENDING tasks from above, rounded DOWN.
//! - A task counts as healthy with a load balancer once its target is healthy in every target group;
//!   without one, 40 s after RUNNING.
//! - Circuit breaker: failure threshold = ceil(0.5 x desired) clamped to [3, 200]; stage 1 counts tasks
//!   that never reach RUNNING, stage 2 tasks that fail health checks (here also tasks whose essential
//!   container exits). On tripping, rollback goes to the last COMPLETED deployment;
//!   rolloutState IN_PROGRESS -> COMPLETED | FAILED. Only an in-progress deployment counts failures:
//!   a task that crashes after its deployment COMPLETED is replaced, and counts toward nothing.
//! - Task stop: deregistration first (DEACTIVATING for the deregistration delay), then SIGTERM
//!   (STOPPING), then STOPPED.
//! - Since 2025-11 (aws-facts.md, "What ECS and AAS added in 2024-2026"): during a rolling
//!   deployment a failed task of the old revision is replaced from the old revision, and a
//!   scale-out applies to both revisions, in proportion to what each runs.
//! - The circuit breaker's threshold is the configured one (`thresholdConfiguration`) when set.

use crate::model::aws::{
    DeploymentController, DeploymentDescription, RolloutState, ServiceDescription, TargetState,
    TaskDefinitionId,
};

use super::world::Failure;
use super::{SECOND, Service, Sim, Task, TaskState};

/// Without a load balancer, a RUNNING task counts as healthy this long after it started.
const HEALTHY_WITHOUT_LB_MS: u64 = 40 * SECOND;

/// Circuit-breaker failure threshold for a desired count.
pub fn circuit_breaker_threshold(desired: u32) -> u32 {
    crate::model::aws::default_failure_threshold(desired)
}

/// The rollout-state reason of a deployment the circuit breaker failed.
pub(super) fn breaker_reason(failed_tasks: u32, threshold: u32) -> String {
    format!("ECS deployment circuit breaker: {failed_tasks} tasks failed (threshold {threshold})")
}

/// Healthy tasks ECS must keep: ceil(desired x minimumHealthyPercent / 100).
pub fn minimum_healthy(desired: u32, percent: u32) -> u32 {
    u32::try_from((u64::from(desired) * u64::from(percent)).div_ceil(100)).unwrap_or(u32::MAX)
}

/// RUNNING + PENDING tasks ECS allows: floor(desired x maximumPercent / 100).
pub fn maximum_total(desired: u32, percent: u32) -> u32 {
    u32::try_from(u64::from(desired) * u64::from(percent) / 100).unwrap_or(u32::MAX)
}

impl Sim {
    /// Whether ECS counts this task as healthy now.
    pub(super) fn is_healthy(&self, task: &Task, service: &Service) -> bool {
        let Some(since) = task
            .running_since
            .filter(|_| task.state == TaskState::Running)
        else {
            return false;
        };
        if service.load_balancers.is_empty() {
            return self.now_ms >= since + HEALTHY_WITHOUT_LB_MS;
        }
        self.target_groups_of_task(task).iter().all(|group| {
            self.target_groups
                .get(group)
                .and_then(|g| g.targets.get(&task.id))
                .is_some_and(|t| t.state == TargetState::Healthy)
        })
    }

    /// Whether one of the task's targets is unhealthy.
    fn has_unhealthy_target(&self, task: &Task) -> bool {
        self.target_groups_of_task(task).iter().any(|group| {
            self.target_groups
                .get(group)
                .and_then(|g| g.targets.get(&task.id))
                .is_some_and(|t| t.state == TargetState::Unhealthy)
        })
    }

    /// Moves every task whose state has run its time.
    pub(super) fn advance_tasks(&mut self) {
        let now = self.now_ms;
        let ids: Vec<u64> = self.tasks.keys().copied().collect();
        for id in ids {
            let Some(task) = self.tasks.get(&id).cloned() else {
                continue;
            };
            match task.state {
                TaskState::Provisioning if task.next_at.is_some_and(|t| t <= now) => {
                    self.enter_pending(id);
                }
                TaskState::Pending if task.next_at.is_none() => self.enter_pending(id),
                TaskState::Pending if task.next_at.is_some_and(|t| t <= now) => {
                    if task
                        .failure
                        .as_ref()
                        .is_some_and(|f| f.failure == Failure::NeverRuns)
                    {
                        // Stage 1 failure: CannotPullContainerError, straight to STOPPED.
                        self.finish(id, true);
                    } else {
                        self.enter_running(id);
                    }
                }
                TaskState::Running => {
                    let exits_at = task.failure.as_ref().and_then(|f| match f.failure {
                        Failure::ExitsAfter => f.after_seconds.map(|s| s * SECOND),
                        _ => None,
                    });
                    if let (Some(after), Some(since)) = (exits_at, task.running_since)
                        && now >= since + after
                    {
                        self.begin_stop(id, true);
                    }
                }
                TaskState::Deactivating if task.next_at.is_some_and(|t| t <= now) => {
                    let stop = self.world.tasks.stop_seconds * SECOND;
                    if let Some(t) = self.tasks.get_mut(&id) {
                        t.state = TaskState::Stopping;
                        t.next_at = Some(now + stop);
                    }
                }
                TaskState::Stopping if task.next_at.is_some_and(|t| t <= now) => {
                    self.finish(id, false)
                }
                _ => {}
            }
        }
    }

    /// PENDING: for EC2, only once it is placed on an instance with room (`sim::ec2`);
    /// otherwise it waits.
    fn enter_pending(&mut self, id: u64) {
        let Some(task) = self.tasks.get(&id) else {
            return;
        };
        let ec2 = self.services.get(&task.service).is_some_and(|s| s.ec2);
        if ec2 && task.instance.is_none() && !self.place(id) {
            if let Some(t) = self.tasks.get_mut(&id) {
                t.state = TaskState::Pending;
                t.next_at = None;
            }
            return;
        }
        let behaviour = &self.world.tasks;
        let start = (behaviour.start_seconds + self.rng.between(0, behaviour.start_jitter_seconds))
            * SECOND;
        if let Some(t) = self.tasks.get_mut(&id) {
            t.state = TaskState::Pending;
            t.next_at = Some(self.now_ms + start);
        }
    }

    /// RUNNING: targets registered in every target group of the service.
    fn enter_running(&mut self, id: u64) {
        let now = self.now_ms;
        let Some(task) = self.tasks.get_mut(&id) else {
            return;
        };
        task.state = TaskState::Running;
        task.running_since = Some(now);
        task.next_at = None;
        let task = task.clone();
        for group in self.target_groups_of_task(&task) {
            self.register_target(&group, id);
        }
    }

    /// Starts stopping a task: RUNNING tasks with targets drain first (DEACTIVATING).
    pub(super) fn begin_stop(&mut self, id: u64, failed: bool) {
        let Some(task) = self.tasks.get(&id).cloned() else {
            return;
        };
        if failed {
            self.count_failure(&task);
        }
        match task.state {
            TaskState::Provisioning | TaskState::Pending => self.finish(id, false),
            TaskState::Running => {
                let groups: Vec<String> = self.target_groups_of_task(&task);
                let drain = groups
                    .iter()
                    .map(|g| self.deregister_target(g, id))
                    .max()
                    .unwrap_or(0);
                let stop = self.world.tasks.stop_seconds * SECOND;
                if let Some(t) = self.tasks.get_mut(&id) {
                    if groups.is_empty() {
                        t.state = TaskState::Stopping;
                        t.next_at = Some(self.now_ms + stop);
                    } else {
                        t.state = TaskState::Deactivating;
                        t.next_at = Some(self.now_ms + drain);
                    }
                }
            }
            TaskState::Deactivating | TaskState::Stopping => {}
        }
    }

    /// STOPPED: the task is gone; its EC2 slot is free.
    pub(super) fn finish(&mut self, id: u64, failed: bool) {
        let Some(task) = self.tasks.remove(&id) else {
            return;
        };
        if let Some(ids) = self.by_service.get_mut(&task.service) {
            ids.remove(&id);
        }
        if failed {
            self.count_failure(&task);
        }
        self.release(&task);
    }

    fn count_failure(&mut self, task: &Task) {
        self.failed_task_count += 1;
        let Some(service) = self.services.get_mut(&task.service) else {
            return;
        };
        // During a rolling deployment a failed task of an older revision is replaced from its own
        // revision (ECS since 2025-11), not from the new one.
        let rolling = service.controller == DeploymentController::Ecs
            && !super::strategies::shifts_traffic(service)
            && service
                .deployments
                .first()
                .is_some_and(|d| d.rollout == RolloutState::InProgress && d.id != task.deployment);
        if let Some(deployment) = service
            .deployments
            .iter_mut()
            .find(|d| d.id == task.deployment)
        {
            if deployment.rollout == RolloutState::InProgress {
                deployment.failed_tasks += 1;
            } else if rolling {
                deployment.owed += 1;
            }
        }
    }

    pub(super) fn launch(&mut self, key: &(String, String), deployment: u64) {
        let Some(service) = self.services.get(key) else {
            return;
        };
        let Some(d) = service.deployments.iter().find(|d| d.id == deployment) else {
            return;
        };
        let task_definition = d.task_definition.clone();
        let alternate = d.alternate;
        let images = d.images.clone();
        // How it fails is its images' doing: the digests its deployment resolved.
        let failure = self.revision(&task_definition).and_then(|def| {
            def.containers
                .iter()
                .filter(|c| c.essential)
                .filter_map(|c| images.get(&c.name))
                .find_map(|digest| self.failure_of_digest(digest))
        });
        let id = self.next_id;
        self.next_id += 1;
        if let Some(s) = self.services.get_mut(key) {
            s.launched += 1;
        }
        let provisioning = self.world.tasks.provisioning_seconds * SECOND;
        self.by_service.entry(key.clone()).or_default().insert(id);
        self.tasks.insert(
            id,
            Task {
                id,
                service: key.clone(),
                deployment,
                task_definition,
                state: TaskState::Provisioning,
                next_at: Some(self.now_ms + provisioning),
                running_since: None,
                failure,
                instance: None,
                alternate,
                images,
            },
        );
    }

    /// The service scheduler, once a second: replace unhealthy tasks, then roll toward the primary
    /// deployment within the bounds, then judge the rollout.
    pub(super) fn schedule(&mut self, key: &(String, String)) {
        self.judge_alarms(key);
        let Some(service) = self.services.get(key).cloned() else {
            return;
        };
        let now = self.now_ms;
        let mine: Vec<Task> = self.tasks_for(key).cloned().collect();

        // ECS replaces tasks whose targets turned unhealthy, once the grace period is over.
        for task in &mine {
            let unhealthy = task.state == TaskState::Running
                && task
                    .running_since
                    .is_some_and(|s| now >= s + service.grace_ms)
                && self.has_unhealthy_target(task);
            if unhealthy {
                self.begin_stop(task.id, true);
            }
        }

        if service.controller == DeploymentController::External {
            self.schedule_task_sets(key);
            return;
        }
        if super::strategies::shifts_traffic(&service) {
            self.schedule_shifting(key);
            return;
        }

        let mine: Vec<Task> = self
            .tasks_for(key)
            .filter(|t| is_active(t.state))
            .cloned()
            .collect();
        let desired = service.desired_count;
        let primary = service.deployments[0].clone();
        let max_total = maximum_total(desired, service.config.maximum_percent);
        let min_healthy = minimum_healthy(desired, service.config.minimum_healthy_percent);
        let mut active = u32::try_from(mine.len()).unwrap_or(u32::MAX);
        // Tasks on DRAINING instances are leaving: replacements start for them within the
        // maximum, and they stop while the minimum healthy allows (`sim::ec2`).
        let draining = self.on_draining(&key.0);
        let mut primary_active = count(
            mine.iter()
                .filter(|t| t.deployment == primary.id && !draining.contains(&t.id)),
        );
        let mut healthy = count(mine.iter().filter(|t| self.is_healthy(t, &service)));

        // Tasks owed to older deployments first (a failed one replaced from its own revision, its
        // share of a scale-out), within the maximum: that capacity is proven.
        for old in service.deployments.iter().skip(1).filter(|d| d.owed > 0) {
            let mut started = 0;
            while started < old.owed && active < max_total {
                self.launch(key, old.id);
                active += 1;
                started += 1;
            }
            if let Some(s) = self.services.get_mut(key)
                && let Some(d) = s.deployments.iter_mut().find(|d| d.id == old.id)
            {
                d.owed -= started;
            }
        }

        // Start tasks of the primary deployment while the maximum allows.
        if primary.rollout != RolloutState::Failed {
            while active < max_total && primary_active < desired {
                self.launch(key, primary.id);
                active += 1;
                primary_active += 1;
            }
        }

        // Stop tasks of older deployments: unhealthy ones freely, healthy ones only above the minimum.
        // A failed primary that is not rolled back launches nothing, so the old tasks stay.
        let mut old: Vec<&Task> = mine
            .iter()
            .filter(|t| t.deployment != primary.id && primary.rollout != RolloutState::Failed)
            .collect();
        old.sort_by_key(|t| {
            (
                self.is_healthy(t, &service),
                t.state == TaskState::Running,
                t.id,
            )
        });
        for task in old {
            let is_healthy = self.is_healthy(task, &service);
            // An old revision's task still starting (a replacement, its share of a scale-out) is
            // left to start; one that failed is stopped.
            let proven = service
                .deployments
                .iter()
                .any(|d| d.id == task.deployment && d.rollout == RolloutState::Completed);
            let starting = proven
                && (matches!(task.state, TaskState::Provisioning | TaskState::Pending)
                    || (task.state == TaskState::Running && !self.has_unhealthy_target(task)));
            if !is_healthy && starting {
                continue;
            }
            if !is_healthy {
                self.begin_stop(task.id, false);
            } else if healthy > min_healthy {
                self.begin_stop(task.id, false);
                healthy -= 1;
            }
        }

        // The primary's tasks on DRAINING instances: those not serving stop; healthy ones stop
        // only above the minimum.
        for task in mine
            .iter()
            .filter(|t| t.deployment == primary.id && draining.contains(&t.id))
        {
            if !self.is_healthy(task, &service) {
                self.begin_stop(task.id, false);
            } else if healthy > min_healthy {
                self.begin_stop(task.id, false);
                healthy -= 1;
            }
        }

        // Scale in: the primary has more tasks than desired. Not-yet-running ones go first.
        if primary_active > desired {
            let extra: Vec<Task> = mine
                .iter()
                .filter(|t| t.deployment == primary.id && !draining.contains(&t.id))
                .cloned()
                .collect();
            self.stop_surplus(extra, (primary_active - desired) as usize, &service);
        }

        self.judge_rollout(key);
    }

    /// Stops `surplus` of `candidates`: tasks not yet healthy first, then not yet running, then the
    /// newest, so the capacity that serves traffic goes last.
    pub(super) fn stop_surplus(
        &mut self,
        mut candidates: Vec<Task>,
        surplus: usize,
        service: &Service,
    ) {
        candidates.sort_by_key(|t| {
            (
                self.is_healthy(t, service),
                t.state == TaskState::Running,
                std::cmp::Reverse(t.id),
            )
        });
        for task in candidates.iter().take(surplus) {
            self.begin_stop(task.id, false);
        }
    }

    /// COMPLETED once only the primary runs, at the desired count, all healthy; FAILED (and maybe
    /// rolled back) once the circuit breaker's threshold of failed tasks is reached.
    fn judge_rollout(&mut self, key: &(String, String)) {
        let Some(service) = self.services.get(key).cloned() else {
            return;
        };
        let primary = &service.deployments[0];
        let tasks: Vec<&Task> = self.tasks_for(key).filter(|t| is_active(t.state)).collect();
        let others_active = tasks.iter().any(|t| t.deployment != primary.id);
        let primary_healthy = count(
            tasks
                .iter()
                .filter(|t| t.deployment == primary.id && self.is_healthy(t, &service)),
        );
        let primary_active = count(tasks.iter().filter(|t| t.deployment == primary.id));
        let live: Vec<u64> = tasks.iter().map(|t| t.deployment).collect();

        let Some(service) = self.services.get_mut(key) else {
            return;
        };
        // Deployments with no tasks left, other than the primary, are gone (INACTIVE).
        let primary_id = service.deployments[0].id;
        service
            .deployments
            .retain(|d| d.id == primary_id || live.contains(&d.id));

        let threshold = service.config.failure_threshold_for(service.desired_count);
        let desired = service.desired_count;
        let breaker = service.config.circuit_breaker;
        let primary = &mut service.deployments[0];
        if primary.rollout != RolloutState::InProgress {
            return;
        }
        if !others_active && primary_active == desired && primary_healthy == desired {
            primary.rollout = RolloutState::Completed;
            service.last_completed = Some(primary.task_definition.clone());
            return;
        }
        if breaker && primary.failed_tasks >= threshold {
            let reason = breaker_reason(primary.failed_tasks, threshold);
            self.fail_deployment(key, reason);
        }
    }

    /// Fails the primary deployment for `reason` (the circuit breaker, an alarm): FAILED, and with
    /// rollback on, ECS's rollback: traffic moved back to blue for a traffic-shifting deployment
    /// (no task started), a new deployment of the last COMPLETED revision for a rolling one.
    pub(super) fn fail_deployment(&mut self, key: &(String, String), reason: String) {
        let Some(service) = self.services.get(key) else {
            return;
        };
        let rollback = service.config.rollback;
        if rollback && super::strategies::shifts_traffic(service) {
            self.roll_back_shift(key, reason);
            return;
        }
        let rollback_to = rollback.then(|| service.last_completed.clone()).flatten();
        let Some(service) = self.services.get_mut(key) else {
            return;
        };
        let primary = &mut service.deployments[0];
        primary.rollout = RolloutState::Failed;
        primary.reason = reason;
        let failed_definition = primary.task_definition.clone();
        if let Some(good) = rollback_to.filter(|g| *g != failed_definition) {
            let deployment = self.rollback_deployment(key, good);
            if let Some(service) = self.services.get_mut(key) {
                service.deployments.insert(0, deployment);
            }
        }
    }

    /// DescribeServices' view, computed from the tasks.
    pub(super) fn describe(&self, key: &(String, String)) -> ServiceDescription {
        let Some(service) = self.services.get(key) else {
            return ServiceDescription {
                cluster: key.0.clone(),
                service: key.1.clone(),
                status: "INACTIVE".to_owned(),
                desired_count: 0,
                running_count: 0,
                pending_count: 0,
                task_definition: TaskDefinitionId {
                    family: String::new(),
                    revision: 0,
                },
                deployment_configuration: Some(crate::model::aws::DeploymentConfiguration {
                    circuit_breaker: false,
                    ..crate::model::aws::DeploymentConfiguration::rolling(100, 200)
                }),
                deployment_controller: DeploymentController::Ecs,
                deployments: Vec::new(),
                load_balancers: Vec::new(),
                current_service_deployment: None,
                options: None,
                tags: std::collections::BTreeMap::new(),
            };
        };
        let tasks: Vec<&Task> = self.tasks_for(key).collect();
        let running =
            |d: Option<u64>| {
                count(tasks.iter().filter(|t| {
                    t.state == TaskState::Running && d.is_none_or(|d| t.deployment == d)
                }))
            };
        let pending = |d: Option<u64>| {
            count(tasks.iter().filter(|t| {
                matches!(t.state, TaskState::Provisioning | TaskState::Pending)
                    && d.is_none_or(|d| t.deployment == d)
            }))
        };
        ServiceDescription {
            cluster: service.cluster.clone(),
            service: service.name.clone(),
            status: if service.draining {
                "DRAINING"
            } else {
                "ACTIVE"
            }
            .to_owned(),
            desired_count: service.desired_count,
            running_count: running(None),
            pending_count: pending(None),
            task_definition: service
                .deployments
                .first()
                .map(|d| d.task_definition.clone())
                .unwrap_or_else(|| TaskDefinitionId {
                    family: String::new(),
                    revision: 0,
                }),
            deployment_configuration: Some(service.config.clone()),
            deployment_controller: service.controller,
            deployments: service
                .deployments
                .iter()
                .enumerate()
                .map(|(i, d)| DeploymentDescription {
                    id: format!("ecs-svc/{}", d.id),
                    status: if i == 0 { "PRIMARY" } else { "ACTIVE" }.to_owned(),
                    task_definition: d.task_definition.clone(),
                    desired_count: match d.scale_percent {
                        Some(scale) => {
                            super::task_sets::computed_desired(service.desired_count, scale)
                        }
                        None if i == 0 => service.desired_count,
                        None => 0,
                    },
                    running_count: running(Some(d.id)),
                    pending_count: pending(Some(d.id)),
                    failed_tasks: d.failed_tasks,
                    rollout_state: d.rollout,
                    rollout_state_reason: d.reason.clone(),
                })
                .collect(),
            load_balancers: service.load_balancers.clone(),
            current_service_deployment: service
                .deployments
                .first()
                .map(|d| super::service_deployment_arn(key, d.id)),
            options: Some(service.options.clone()),
            tags: service.tags.clone(),
        }
    }

    /// Per-second counts of one service (before traffic is applied).
    pub(super) fn count_service(&self, key: &(String, String)) -> super::ServiceSample {
        let Some(service) = self.services.get(key) else {
            return super::ServiceSample::default();
        };
        let tasks: Vec<&Task> = self.tasks_for(key).collect();
        super::ServiceSample {
            desired: service.desired_count,
            running: count(tasks.iter().filter(|t| t.state == TaskState::Running)),
            pending: count(
                tasks
                    .iter()
                    .filter(|t| matches!(t.state, TaskState::Provisioning | TaskState::Pending)),
            ),
            healthy: count(tasks.iter().filter(|t| self.is_healthy(t, service))),
            stopping: count(
                tasks
                    .iter()
                    .filter(|t| matches!(t.state, TaskState::Deactivating | TaskState::Stopping)),
            ),
            rolling_out: service.deployments.len() > 1
                || (service.last_completed.is_some()
                    && service
                        .deployments
                        .first()
                        .is_some_and(|d| d.rollout == RolloutState::InProgress)),
            minimum_healthy_percent: service.config.minimum_healthy_percent,
            maximum_percent: service.config.maximum_percent,
            traffic_shifted_percent: self
                .traffic_shares(key)
                .and_then(|shares| shares.first().map(|(_, share)| *share)),
            launched: service.launched,
            ..super::ServiceSample::default()
        }
    }

    /// The tasks that take traffic for a service: healthy ones.
    pub(super) fn serving_tasks(&self, key: &(String, String)) -> Vec<&Task> {
        let Some(service) = self.services.get(key) else {
            return Vec::new();
        };
        self.tasks_for(key)
            .filter(|t| self.is_healthy(t, service))
            .collect()
    }

    /// RUNNING tasks of a service (they report CPU).
    pub(super) fn running_tasks(&self, key: &(String, String)) -> Vec<&Task> {
        self.tasks_for(key)
            .filter(|t| t.state == TaskState::Running)
            .collect()
    }
}

/// States that count toward maximumPercent (RUNNING + PENDING).
pub(super) fn is_active(state: TaskState) -> bool {
    matches!(
        state,
        TaskState::Provisioning | TaskState::Pending | TaskState::Running
    )
}

fn count(items: impl Iterator) -> u32 {
    u32::try_from(items.count()).unwrap_or(u32::MAX)
}
