//! One service's plan: `plan_service(desired, observed, memory, now)` -> actions, new memory, and
//! when to look again.
//!
//! Level-triggered: the whole desired state is compared with the whole observed state every time;
//! nothing depends on having seen an event, and nothing depends on why the reconcile was woken.
//! Order of concerns: existence (register, create), the rollout, the desired count (scaler or
//! manifest), then drift of everything else. The plan also says when the next look is due (the
//! next health check of a watched rollout, the end of verification, the progress deadline, the end
//! of a cooldown), so no deadline is judged late.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::manifest::spec::{HealthCheck, LaunchType, LoadBalancerSpec, ServiceSpec};
use crate::model::aws::{
    AdvancedLoadBalancer, CreateServiceInput, DeploymentConfiguration, DeploymentController,
    FINE_CPU_PERIOD_SECONDS, HealthCheckSettings, LoadBalancerInput, NetworkInput, ServiceOptions,
    Strategy, TaskDefinitionInput, UpdateServiceInput, managed_tags,
};
use crate::model::{
    DecisionKind, ObservedService, RolloutMemory, ServiceKey, ServiceMemory, Stack,
};

use super::render::{digest, render};
use super::rollout::{self, decision};
use super::scaling::{self, Direction, ScalingInputs};

/// What the manifest wants of one service, with its task definition rendered once.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredService {
    /// The stack it belongs to (its memory is stored under it).
    pub stack: String,
    /// Cluster name.
    pub cluster: String,
    /// The service's spec.
    pub spec: ServiceSpec,
    /// Health-check settings the stack keeps on the target groups this service uses.
    pub health_checks: BTreeMap<String, HealthCheckSettings>,
    /// Deregistration delays (seconds) the stack sets on the target groups this service uses.
    pub deregistration_delays: BTreeMap<String, u32>,
    /// The digest of the task definition the spec renders to: the identity of the manifest's
    /// revision (rendered once, when the stack is read).
    pub digest: String,
    /// Why the stack last changed (`tug apply -m`), recorded with the revision it registers.
    pub change_cause: Option<String>,
    /// Where the stack's decisions are published, and which.
    pub notifications: Option<Arc<crate::manifest::spec::NotificationsSpec>>,
    /// The EC2 capacity tugboat owns on the cluster, if the stack gives it one: the service's
    /// task changes then wait for room.
    pub capacity: Option<Arc<crate::manifest::spec::CapacitySpec>>,
}

impl DesiredService {
    /// Every service of a stack.
    pub fn of_stack(stack: &Stack) -> Vec<DesiredService> {
        let name = stack.name();
        let cause = stack.change_cause();
        let notifications = stack.spec().notifications.clone().map(Arc::new);
        let capacity = stack.spec().capacity.clone().map(Arc::new);
        let stack = stack.spec();
        // By name once, not a scan of every target group per service (a stack may have hundreds).
        let checks: BTreeMap<&str, HealthCheckSettings> = stack
            .target_groups
            .iter()
            .map(|g| (g.name.as_str(), health_settings(&g.health_check)))
            .collect();
        let delays: BTreeMap<&str, u32> = stack
            .target_groups
            .iter()
            .filter_map(|g| Some((g.name.as_str(), g.deregistration_delay_seconds?)))
            .collect();
        stack
            .services
            .iter()
            .map(|spec| {
                // The alternate target group of a traffic-shifting strategy is kept like the
                // production one.
                let groups = || {
                    spec.load_balancers
                        .iter()
                        .flat_map(LoadBalancerSpec::target_groups)
                };
                let health_checks = groups()
                    .filter_map(|group| {
                        let check = checks.get(group.as_str())?;
                        Some((group.clone(), check.clone()))
                    })
                    .collect();
                let mut desired =
                    DesiredService::new(name, &stack.cluster, spec.clone(), health_checks);
                desired.change_cause = cause.map(str::to_owned);
                desired.notifications.clone_from(&notifications);
                desired.capacity.clone_from(&capacity);
                desired.deregistration_delays = groups()
                    .filter_map(|group| Some((group.clone(), *delays.get(group.as_str())?)))
                    .collect();
                desired
            })
            .collect()
    }

    /// One service of stack `stack` in `cluster`: renders and digests its task definition.
    pub fn new(
        stack: &str,
        cluster: &str,
        spec: ServiceSpec,
        health_checks: BTreeMap<String, HealthCheckSettings>,
    ) -> Self {
        let digest = digest(&render(&spec, None));
        Self {
            stack: stack.to_owned(),
            cluster: cluster.to_owned(),
            spec,
            health_checks,
            deregistration_delays: BTreeMap::new(),
            digest,
            change_cause: None,
            notifications: None,
            capacity: None,
        }
    }

    /// The task definition the spec renders to, tagged as tugboat's: what is registered (rendered
    /// again when needed, which is rarely, rather than kept for every service).
    pub fn definition(&self) -> TaskDefinitionInput {
        let mut definition = render(&self.spec, None);
        definition.tags.extend(managed_tags(&self.stack));
        definition
    }

    /// The same service with another task definition (a scheduled deployment's image, an undo).
    pub fn with_task_definition(
        &self,
        task_definition: std::sync::Arc<crate::manifest::spec::TaskDefinitionSpec>,
    ) -> Self {
        let mut spec = self.spec.clone();
        spec.task_definition = task_definition;
        let mut desired = Self::new(&self.stack, &self.cluster, spec, self.health_checks.clone());
        desired.deregistration_delays = self.deregistration_delays.clone();
        desired.capacity.clone_from(&self.capacity);
        desired
    }

    /// The key the service is known by in its cluster.
    pub fn key(&self) -> ServiceKey {
        ServiceKey {
            cluster: self.cluster.clone(),
            service: self.spec.name.clone(),
        }
    }
}

/// The ELBv2 health-check settings a manifest's health check stands for.
pub fn health_settings(check: &HealthCheck) -> HealthCheckSettings {
    HealthCheckSettings {
        path: check.path.clone(),
        interval_seconds: check.interval_seconds,
        timeout_seconds: check.timeout_seconds,
        healthy_threshold: check.healthy_threshold,
        unhealthy_threshold: check.unhealthy_threshold,
    }
}

/// One call the controller will make.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Register the manifest's task definition (its digest has no revision yet).
    RegisterTaskDefinition {
        /// The rendered definition.
        definition: TaskDefinitionInput,
        /// Its digest, for the ledger.
        digest: String,
        /// The manifest's definition it was rendered from (kept for `tug rollout undo` and to
        /// register it again if it is lost).
        source: std::sync::Arc<crate::manifest::spec::TaskDefinitionSpec>,
    },
    /// Create the service.
    CreateService(CreateServiceInput),
    /// Update the service (absolute values: safe to repeat).
    UpdateService(UpdateServiceInput),
    /// Stop a service deployment with ROLLBACK (a traffic-shifting one: traffic returns to the
    /// old tasks, none is started).
    StopServiceDeployment {
        /// The service deployment's ARN.
        arn: String,
    },
    /// Set a target group's deregistration delay.
    ModifyDeregistrationDelay {
        /// Target group name.
        target_group: String,
        /// Seconds.
        seconds: u32,
    },
    /// Put a target group's health check back.
    ModifyTargetGroup {
        /// Target group name.
        target_group: String,
        /// The settings the stack wants.
        health: HealthCheckSettings,
    },
}

/// The plan for one service.
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct Plan {
    /// Calls to make, in order.
    pub actions: Vec<Action>,
    /// Memory once they succeed (decisions included).
    pub memory: ServiceMemory,
    /// Seconds until the plan needs another look (a health check, a deadline, a cooldown's end);
    /// `None` leaves it to the periodic resync.
    pub requeue_after: Option<u64>,
}

/// The deployment configuration tugboat keeps on its services: the manifest's bounds and
/// strategy; ECS's circuit breaker (and the named alarms) stop a doomed deployment early. A rolling
/// update is not rolled back by ECS: tugboat chooses where to roll back to (the verified-good
/// revision). A traffic-shifting strategy is: ECS's rollback shifts traffic back to blue, which is
/// still running, without starting a task, and that is the point of the strategy.
pub fn deployment_configuration(spec: &ServiceSpec) -> DeploymentConfiguration {
    let deployment = &spec.deployment;
    let strategy = Strategy::of(&deployment.strategy);
    let breaker = deployment.circuit_breaker.as_ref();
    DeploymentConfiguration {
        rollback: !strategy.is_rolling(),
        strategy,
        failure_threshold: breaker.and_then(|b| {
            b.failed_tasks
                .map(|n| ("COUNT".to_owned(), n))
                .or_else(|| b.failed_percent.map(|p| ("BOUNDED_PERCENT".to_owned(), p)))
        }),
        reset_on_healthy_task: breaker.and_then(|b| b.reset_on_healthy_task),
        alarms: deployment.alarms.clone(),
        ..DeploymentConfiguration::rolling(
            deployment.minimum_healthy_percent,
            deployment.maximum_percent,
        )
    }
}

/// CreateService's load balancers for a spec, with the advanced configuration of a
/// traffic-shifting strategy.
pub fn load_balancers(spec: &ServiceSpec) -> Vec<LoadBalancerInput> {
    spec.load_balancers
        .iter()
        .map(|lb| LoadBalancerInput {
            target_group: lb.target_group.clone(),
            container_name: lb.container_name.clone(),
            container_port: lb.container_port,
            advanced: match (
                &lb.alternate_target_group,
                &lb.production_listener_rule,
                &lb.role_arn,
            ) {
                (Some(alternate), Some(rule), Some(role)) => Some(AdvancedLoadBalancer {
                    alternate_target_group: alternate.clone(),
                    production_listener_rule: rule.clone(),
                    test_listener_rule: lb.test_listener_rule.clone(),
                    role_arn: role.clone(),
                }),
                _ => None,
            },
        })
        .collect()
}

/// Records what the lifecycle policies read in this look could do to the verified-good images
/// (`tug describe` shows it).
fn registry_check(observed: &ObservedService, memory: &mut ServiceMemory, now: u64) {
    let (Some(reads), Some(good)) = (&observed.lifecycle_policies, &memory.verified_good) else {
        return;
    };
    let mut warnings = Vec::new();
    for read in reads {
        let repository = &read.repository;
        match &read.policy {
            Ok(None) => {}
            Ok(Some(policy)) => match crate::model::image::lifecycle_risks(policy, read.tag.as_deref()) {
                Ok(risks) => warnings.extend(risks.into_iter().map(|risk| {
                    format!(
                        "the lifecycle policy of ECR repository {repository} could delete an image {} was verified with: {risk}; keep it with a rule that excludes the tag, or pin the image by digest under a tag the policy keeps",
                        good.id
                    )
                })),
                Err(e) => warnings.push(format!("ECR repository {repository}: {e}")),
            },
            Err(e) => warnings.push(format!(
                "the lifecycle policy of ECR repository {repository} could not be read ({e}); whether it could delete an image {} was verified with is not known",
                good.id
            )),
        }
    }
    memory.registry = Some(crate::model::RegistryCheck {
        digest: good.digest.clone(),
        at: now,
        warnings,
    });
}

/// Plans one service.
pub fn plan_service(
    desired: &DesiredService,
    observed: &ObservedService,
    memory: &ServiceMemory,
    now: u64,
) -> Plan {
    let spec = &desired.spec;
    let mut memory = memory.clone();
    let mut actions = Vec::new();
    let digest = &desired.digest;

    health_check_drift(desired, observed, &mut memory, &mut actions, now);
    registry_check(observed, &mut memory, now);

    let Some(service) = &observed.service else {
        match memory.revision_of(digest) {
            None => actions.push(Action::RegisterTaskDefinition {
                definition: desired.definition(),
                digest: digest.clone(),
                source: spec.task_definition.clone(),
            }),
            Some(_) if wait_to_create(desired, observed, &mut memory, now) => {}
            Some(target) => {
                let wanted = initial_count(spec, None);
                let count = super::capacity::room_of(desired, observed)
                    .map_or(wanted, |room| wanted.min(room.max(1)));
                let held = if count < wanted {
                    format!(
                        " ({} more wait{} for room on cluster {}; instances are being provisioned)",
                        wanted - count,
                        if wanted - count == 1 { "s" } else { "" },
                        desired.cluster
                    )
                } else {
                    String::new()
                };
                memory.record(decision(
                    now,
                    DecisionKind::Create,
                    None,
                    format!(
                        "service {} does not exist: creating it with {} and {count} task{}{held}",
                        spec.name,
                        target.id,
                        if count == 1 { "" } else { "s" }
                    ),
                ));
                memory.desired_count = Some(count);
                let id = target.id.clone();
                memory.rollout = Some(RolloutMemory {
                    target,
                    started_at: now,
                    completed_at: None,
                    rollback: false,
                    stopped: false,
                    observed: false,
                });
                let mut input = create_input(&desired.cluster, spec, id, count);
                memory.cpu_resolution_seconds = Some(cpu_resolution(spec));
                input.tags.extend(managed_tags(&desired.stack));
                input.client_token = client_token(&input, now);
                actions.insert(0, Action::CreateService(input));
            }
        }
        let requeue_after = rollout::next_look(desired, &memory, now);
        return Plan {
            actions,
            memory,
            requeue_after,
        };
    };

    let before_step = desired.capacity.is_some().then(|| memory.clone());
    let mut step = rollout::step(spec, digest, observed, service, &mut memory, now);
    if let Some(before) = before_step
        && let Some(reason) =
            rollout_waits_for_room(desired, observed, service, &memory, &step, now)
    {
        // Not started: the instances for its surge are provisioned first.
        memory = before;
        rollout::note_hold(&mut memory, now, reason);
        step = rollout::RolloutStep::default();
    }
    if let Some(arn) = &step.stop {
        actions.push(Action::StopServiceDeployment { arn: arn.clone() });
    }
    if step.register {
        actions.push(Action::RegisterTaskDefinition {
            definition: desired.definition(),
            digest: digest.clone(),
            source: spec.task_definition.clone(),
        });
    }
    if let Some(source) = &step.pin {
        let twin = desired.with_task_definition(source.clone());
        actions.push(Action::RegisterTaskDefinition {
            definition: twin.definition(),
            digest: twin.digest.clone(),
            source: source.clone(),
        });
    }

    let previous = memory.desired_count;
    let current = previous.unwrap_or_else(|| initial_count(spec, Some(service.desired_count)));
    let mut scaling_look = None;
    let count = match &spec.scaling {
        // A service still being created has no capacity to judge yet: the load balancer's 503s
        // while its first tasks start are not a reason to scale. Scaling starts once the first
        // rollout completes, and uses only minutes from then on.
        Some(_) if memory.serving_since.is_none() => current,
        Some(scaling_spec) => {
            let since = memory.serving_since.unwrap_or(0);
            let inputs = ScalingInputs {
                cpu: since_minute(&observed.cpu, observed.metrics_anchor, since, None),
                http_5xx: since_minute(
                    &observed.http_5xx,
                    observed.metrics_anchor,
                    since,
                    Some(0.0),
                ),
                requests: since_minute(&observed.requests, observed.metrics_anchor, since, None),
                serving: since_minute(&observed.serving, observed.metrics_anchor, since, None),
                // Only one at least as new as the newest minute: a stale one (20-second CPU
                // turned off out of band, say) must not overrule newer minutes.
                cpu_fine: observed
                    .cpu_fine
                    .filter(|(start, _)| {
                        *start >= since && observed.metrics_anchor.is_none_or(|m| *start >= m)
                    })
                    .map(|(_, value)| value),
            };
            let d = scaling::decide(
                scaling_spec,
                current,
                &inputs,
                memory.scaling,
                step.in_progress,
                now,
            );
            match d.direction {
                Direction::Up => {
                    memory.scaling.last_scale_out = Some(now);
                    memory.record(decision(
                        now,
                        DecisionKind::ScaleOut,
                        Some(d.trigger.as_str()),
                        format!("{current} -> {}: {}", d.desired, d.reason),
                    ));
                }
                Direction::Down => {
                    memory.scaling.last_scale_in = Some(now);
                    memory.record(decision(
                        now,
                        DecisionKind::ScaleIn,
                        Some(d.trigger.as_str()),
                        format!("{current} -> {}: {}", d.desired, d.reason),
                    ));
                }
                Direction::None => {}
            }
            scaling_look = d.held_until.map(|t| t.saturating_sub(now).max(1));
            // A rule on 20-second datapoints looks again as each one can be published: 1 s past
            // every 20 (the publication delay is unknown; this is the best phase when it is a
            // multiple of 20 s and at most 19 s late otherwise).
            if cpu_resolution(spec) == FINE_CPU_PERIOD_SECONDS {
                let period = u64::from(FINE_CPU_PERIOD_SECONDS);
                let phase = now / period * period + 1;
                let next = if phase > now { phase } else { phase + period };
                let fine_look = next - now;
                scaling_look = Some(scaling_look.map_or(fine_look, |l| l.min(fine_look)));
            }
            d.desired
        }
        None => spec.desired_count,
    };
    let count = hold_for_room(desired, observed, service, &mut memory, count, current, now);
    memory.desired_count = Some(count);

    let mut desired_count = None;
    if service.desired_count != count {
        if previous.is_some_and(|p| p != service.desired_count) {
            memory.record(decision(now, DecisionKind::DriftCorrection, Some("desired_count"), format!(
                "desiredCount was changed out of band to {}; restored to the controller's {count}",
                service.desired_count
            )));
        }
        desired_count = Some(count);
    }
    let config = deployment_configuration(spec);
    let mut deployment_configuration = None;
    if let Some(seen) = &service.deployment_configuration
        && !config.satisfied_by(seen)
    {
        memory.record(decision(
            now,
            DecisionKind::DriftCorrection,
            Some("deployment"),
            format!(
                "deployment configuration was {}; restored to {}",
                seen.summary(),
                config.summary()
            ),
        ));
        deployment_configuration = Some(config);
    }
    let mut options = None;
    let mut option_fields = Vec::new();
    if let Some(seen) = &service.options {
        let mut want = service_options(spec);
        let drifted = want.drift(seen);
        if !drifted.is_empty() {
            // Unset means ECS's default: put that back explicitly.
            if want.platform_version.is_none() {
                want.platform_version = Some("LATEST".to_owned());
            }
            option_fields = drifted.iter().map(|f| (*f).to_owned()).collect();
            memory.record(decision(
                now,
                DecisionKind::DriftCorrection,
                Some("service_options"),
                format!("{} changed out of band; restored", drifted.join(", ")),
            ));
            options = Some(want);
        }
    }
    // DescribeServices does not report monitoringConfiguration: what was last set is remembered
    // (a service from before the field was read as ECS's default).
    let resolution = cpu_resolution(spec);
    if memory.cpu_resolution_seconds.unwrap_or(60) != resolution {
        memory.record(decision(
            now,
            DecisionKind::DriftCorrection,
            Some("monitoring"),
            format!(
                "CPU datapoints every {resolution} s (was {} s): monitoringConfiguration set",
                memory.cpu_resolution_seconds.unwrap_or(60)
            ),
        ));
        memory.cpu_resolution_seconds = Some(resolution);
        option_fields.push("monitoring".to_owned());
        options = Some(options.unwrap_or_else(|| service_options(spec)));
    }
    let task_definition = step.deploy.map(|revision| revision.id);
    if desired_count.is_some()
        || deployment_configuration.is_some()
        || task_definition.is_some()
        || options.is_some()
    {
        actions.push(Action::UpdateService(UpdateServiceInput {
            cluster: desired.cluster.clone(),
            service: spec.name.clone(),
            desired_count,
            task_definition,
            deployment_configuration,
            options,
            option_fields,
        }));
    }
    let requeue_after = [rollout::next_look(desired, &memory, now), scaling_look]
        .into_iter()
        .flatten()
        .min();
    Plan {
        actions,
        memory,
        requeue_after,
    }
}

/// On a cluster whose capacity tugboat owns, a new rollout (not a rollback) whose surge has no
/// room on the registered instances yet waits for it: why, in words. With `maximumPercent: 100`
/// a rolling deployment has no surge and never waits.
fn rollout_waits_for_room(
    desired: &DesiredService,
    observed: &ObservedService,
    service: &crate::model::aws::ServiceDescription,
    memory: &ServiceMemory,
    step: &rollout::RolloutStep,
    now: u64,
) -> Option<String> {
    let starting = step.deploy.is_some()
        && memory
            .rollout
            .as_ref()
            .is_some_and(|r| r.started_at == now && !r.rollback);
    if !starting {
        return None;
    }
    let room = super::capacity::room_of(desired, observed)?;
    let surge =
        super::capacity::ServiceDemand::of(&desired.spec, service.desired_count, true).surge;
    let unplaced = service
        .desired_count
        .saturating_sub(service.running_count + service.pending_count);
    let room = room.saturating_sub(unplaced);
    (room < surge).then(|| {
        format!(
            "the rollout of {} waits for room: its surge of {surge} task{} has room for {room} on the registered instances of cluster {}; instances are being provisioned",
            desired.spec.name,
            if surge == 1 { "" } else { "s" },
            desired.cluster
        )
    })
}

/// On a cluster whose capacity tugboat owns, a service is created only once an instance has room
/// for a task: until then the creation is held (with a reason, said once) and the count it waits
/// for is what the instances are provisioned for. `true` while it waits.
fn wait_to_create(
    desired: &DesiredService,
    observed: &ObservedService,
    memory: &mut ServiceMemory,
    now: u64,
) -> bool {
    let Some(room) = super::capacity::room_of(desired, observed) else {
        return false;
    };
    let count = initial_count(&desired.spec, None);
    if room > 0 || count == 0 {
        memory.waiting_for_room = (room < count).then_some(count);
        return false;
    }
    if memory.waiting_for_room != Some(count) {
        memory.record(decision(
            now,
            DecisionKind::Hold,
            Some("room"),
            format!(
                "creating {} waits for room: no instance of cluster {} has room for a task yet ({count} task{} wanted; the instances are being provisioned)",
                desired.spec.name,
                desired.cluster,
                if count == 1 { "" } else { "s" }
            ),
        ));
    }
    memory.waiting_for_room = Some(count);
    true
}

/// On a cluster whose capacity tugboat owns: the part of a scale-out the instances have room for
/// now goes ahead, the rest waits (remembered in `waiting_for_room`, which the capacity is
/// provisioned for, and said once). A scaling service's held count is carried over until the
/// room comes or a scale-in replaces it.
fn hold_for_room(
    desired: &DesiredService,
    observed: &ObservedService,
    service: &crate::model::aws::ServiceDescription,
    memory: &mut ServiceMemory,
    count: u32,
    current: u32,
    now: u64,
) -> u32 {
    let mut count = count;
    if desired.spec.scaling.is_some()
        && count >= current
        && let Some(wanted) = memory.waiting_for_room
    {
        count = count.max(wanted);
    }
    let room =
        super::capacity::room_of(desired, observed).filter(|_| count > service.desired_count);
    let Some(room) = room else {
        memory.waiting_for_room = None;
        return count;
    };
    // ECS's tasks of the service still waiting for an instance take room first.
    let unplaced = service
        .desired_count
        .saturating_sub(service.running_count + service.pending_count);
    let room = room.saturating_sub(unplaced);
    let extra = count - service.desired_count;
    if room >= extra {
        memory.waiting_for_room = None;
        return count;
    }
    let applied = service.desired_count + room;
    if memory.waiting_for_room != Some(count) {
        let waiting = count - applied;
        memory.record(decision(
            now,
            DecisionKind::Hold,
            Some("room"),
            format!(
                "{waiting} task{} of {} wait{} for room on cluster {}: the registered instances have room for {room} more{}; instances are being provisioned",
                if waiting == 1 { "" } else { "s" },
                desired.spec.name,
                if waiting == 1 { "s" } else { "" },
                desired.cluster,
                if applied > service.desired_count {
                    format!(" ({} -> {applied} now)", service.desired_count)
                } else {
                    String::new()
                }
            ),
        ));
    }
    memory.waiting_for_room = Some(count);
    applied
}

/// A per-minute series (newest last, the newest minute starting at `anchor`) with the minutes that
/// began before `since` replaced by `before`: missing for CPU, zero for counts.
fn since_minute(
    series: &[Option<f64>],
    anchor: Option<u64>,
    since: u64,
    before: Option<f64>,
) -> Vec<Option<f64>> {
    let Some(anchor) = anchor else {
        return series.to_vec();
    };
    let newest = series.len().saturating_sub(1);
    series
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let minute = anchor.saturating_sub(60 * (newest - i) as u64);
            if minute < since { before } else { *v }
        })
        .collect()
}

/// The count to start from: the manifest's, or, for a scaled service the controller has no memory
/// of, what is running now (so adopting a scaled-out service does not reset it), within the bounds.
pub fn initial_count(spec: &ServiceSpec, running_desired: Option<u32>) -> u32 {
    match (&spec.scaling, running_desired) {
        (Some(s), Some(observed)) => observed.clamp(s.min_tasks, s.max_tasks),
        (Some(s), None) => spec.desired_count.clamp(s.min_tasks, s.max_tasks),
        (None, _) => spec.desired_count,
    }
}

fn health_check_drift(
    desired: &DesiredService,
    observed: &ObservedService,
    memory: &mut ServiceMemory,
    actions: &mut Vec<Action>,
    now: u64,
) {
    for (group, want) in &desired.deregistration_delays {
        let Some(have) = observed.deregistration_delays.get(group) else {
            continue;
        };
        if have != want {
            memory.record(decision(
                now,
                DecisionKind::DriftCorrection,
                Some("deregistration_delay"),
                format!("target group {group} deregistration delay was {have} s; set to {want} s"),
            ));
            actions.push(Action::ModifyDeregistrationDelay {
                target_group: group.clone(),
                seconds: *want,
            });
        }
        memory.deregistration_delays.insert(group.clone(), *want);
    }
    for (group, want) in &desired.health_checks {
        let Some(have) = observed.health_checks.get(group) else {
            continue;
        };
        if have != want {
            memory.record(decision(now, DecisionKind::DriftCorrection, Some("health_check"), format!(
                "target group {group} health check was {} every {} s ({}/{}); restored to {} every {} s ({}/{})",
                have.path, have.interval_seconds, have.healthy_threshold, have.unhealthy_threshold,
                want.path, want.interval_seconds, want.healthy_threshold, want.unhealthy_threshold
            )));
            actions.push(Action::ModifyTargetGroup {
                target_group: group.clone(),
                health: want.clone(),
            });
        }
    }
}

/// CreateService's idempotency token for one decision to create: the same for every retry of
/// that call (the SDK's, or the same plan made again at the same second), different for a later
/// creation of a service of the same name (say, after it was deleted), which a token reused within
/// ECS's idempotency window would turn into a no-op.
pub fn client_token(input: &CreateServiceInput, now: u64) -> String {
    let text = format!(
        "{}/{}/{}/{now}",
        input.cluster, input.service, input.task_definition
    );
    super::render::sha256_hex(text.as_bytes())[..32].to_owned()
}

/// CreateService's input for a spec.
pub fn create_input(
    cluster: &str,
    spec: &ServiceSpec,
    task_definition: crate::model::aws::TaskDefinitionId,
    desired_count: u32,
) -> CreateServiceInput {
    CreateServiceInput {
        cluster: cluster.to_owned(),
        service: spec.name.clone(),
        task_definition,
        desired_count,
        launch_type: match spec.launch() {
            LaunchType::Fargate => "FARGATE",
            LaunchType::Ec2 => "EC2",
        }
        .to_owned(),
        options: service_options(spec),
        deployment_configuration: deployment_configuration(spec),
        deployment_controller: DeploymentController::Ecs,
        load_balancers: load_balancers(spec),
        health_check_grace_period_seconds: spec.deployment.health_check_grace_period_seconds,
        network: spec.network.as_ref().map(|n| NetworkInput {
            subnets: n.subnets.clone(),
            security_groups: n.security_groups.clone(),
            assign_public_ip: n.assign_public_ip,
        }),
        tags: spec.tags.clone(),
        client_token: String::new(),
    }
}

/// The resolution of the CPU datapoints a service's scaling reads: 20 when its CPU rule asks for
/// it, ECS's 60 otherwise.
pub fn cpu_resolution(spec: &ServiceSpec) -> u32 {
    spec.scaling
        .as_ref()
        .filter(|s| s.cpu.is_some() && s.metric_resolution_seconds == 20)
        .map_or(60, |_| 20)
}

/// The placement, platform, ECS Exec and tag-propagation settings a spec stands for.
pub fn service_options(spec: &ServiceSpec) -> ServiceOptions {
    use crate::manifest::spec::{PlacementConstraintType, PlacementStrategyType, PropagateTags};
    ServiceOptions {
        capacity_provider_strategy: spec
            .capacity_provider_strategy
            .iter()
            .map(|p| (p.capacity_provider.clone(), p.weight, p.base))
            .collect(),
        placement_strategy: spec
            .placement_strategy
            .iter()
            .map(|p| {
                let kind = match p.kind {
                    PlacementStrategyType::Random => "random",
                    PlacementStrategyType::Spread => "spread",
                    PlacementStrategyType::Binpack => "binpack",
                };
                (kind.to_owned(), p.field.clone())
            })
            .collect(),
        placement_constraints: spec
            .placement_constraints
            .iter()
            .map(|p| {
                let kind = match p.kind {
                    PlacementConstraintType::DistinctInstance => "distinctInstance",
                    PlacementConstraintType::MemberOf => "memberOf",
                };
                (kind.to_owned(), p.expression.clone())
            })
            .collect(),
        platform_version: spec.platform_version.clone(),
        cpu_resolution_seconds: Some(cpu_resolution(spec)).filter(|s| *s != 60),
        enable_execute_command: spec.enable_execute_command,
        propagate_tags: match spec.propagate_tags {
            Some(PropagateTags::Service) => "SERVICE",
            Some(PropagateTags::TaskDefinition) => "TASK_DEFINITION",
            Some(PropagateTags::None) | None => "NONE",
        }
        .to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DescribeServices' answer for the every-field example's `web`: 2 tasks of `web:1`, steady.
    fn web_described(
        web: &DesiredService,
        options: Option<ServiceOptions>,
    ) -> crate::model::aws::ServiceDescription {
        crate::model::aws::ServiceDescription {
            cluster: web.cluster.clone(),
            service: "web".into(),
            status: "ACTIVE".into(),
            desired_count: 2,
            running_count: 2,
            pending_count: 0,
            task_definition: crate::model::aws::TaskDefinitionId {
                family: "web".into(),
                revision: 1,
            },
            deployment_configuration: None,
            deployment_controller: DeploymentController::Ecs,
            deployments: Vec::new(),
            load_balancers: Vec::new(),
            current_service_deployment: None,
            options,
            tags: BTreeMap::new(),
        }
    }

    fn every_field() -> Vec<DesiredService> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/valid/every-field.yaml"
        );
        let stacks = crate::manifest::parse_sources(&[crate::manifest::Source {
            name: path.into(),
            bytes: std::fs::read(path).expect("fixture"),
        }])
        .expect("valid");
        DesiredService::of_stack(&stacks[0])
    }

    /// `metricResolutionSeconds: 20` is set at creation; DescribeServices does not report it, so a
    /// change of the manifest's value (or a service from before it was remembered) is sent once,
    /// alone, and remembered.
    #[test]
    fn the_cpu_resolution_is_set_at_creation_and_when_the_manifest_changes_it() {
        let web = &every_field()[0];
        assert_eq!(service_options(&web.spec).cpu_resolution_seconds, Some(20));
        let input = create_input(
            &web.cluster,
            &web.spec,
            crate::model::aws::TaskDefinitionId {
                family: "web".into(),
                revision: 1,
            },
            2,
        );
        assert_eq!(input.options.cpu_resolution_seconds, Some(20));

        let described = web_described(web, None);
        let observed = ObservedService {
            service: Some(described),
            deregistration_delays: BTreeMap::from([("webTargetGroup".to_owned(), 10)]),
            ..ObservedService::default()
        };
        let memory = ServiceMemory {
            desired_count: Some(2),
            ..ServiceMemory::default()
        };
        let plan = plan_service(web, &observed, &memory, 1_000);
        let update = plan.actions.iter().find_map(|a| match a {
            Action::UpdateService(u) => Some(u),
            _ => None,
        });
        assert_eq!(
            update.map(|u| (
                u.option_fields.clone(),
                u.options.as_ref().and_then(|o| o.cpu_resolution_seconds)
            )),
            Some((vec!["monitoring".to_owned()], Some(20))),
            "{:?}",
            plan.actions
        );
        assert_eq!(plan.memory.cpu_resolution_seconds, Some(20));
        assert!(
            plan.memory
                .decisions
                .iter()
                .any(|d| d.reason
                    == "CPU datapoints every 20 s (was 60 s): monitoringConfiguration set"),
            "{:?}",
            plan.memory.decisions
        );
        let again = plan_service(web, &observed, &plan.memory, 1_030);
        assert!(
            !again.actions.iter().any(|a| matches!(a, Action::UpdateService(u) if u.option_fields.contains(&"monitoring".to_owned()))),
            "sent once: {:?}",
            again.actions
        );
    }

    /// A 20-second datapoint older than the newest minute (20-second CPU turned off out of band,
    /// say) is not taken for the newest: the minutes decide.
    #[test]
    fn a_stale_twenty_second_datapoint_does_not_overrule_newer_minutes() {
        let web = &every_field()[0];
        let described = web_described(web, None);
        let observed = |fine_start: u64| ObservedService {
            service: Some(described.clone()),
            deregistration_delays: BTreeMap::from([("webTargetGroup".to_owned(), 10)]),
            cpu: vec![Some(80.0); 3],
            serving: vec![Some(2.0); 3],
            metrics_anchor: Some(900),
            cpu_fine: Some((fine_start, 20.0)),
            ..ObservedService::default()
        };
        let memory = ServiceMemory {
            desired_count: Some(2),
            serving_since: Some(0),
            cpu_resolution_seconds: Some(20),
            ..ServiceMemory::default()
        };
        let scaled = |plan: &Plan| {
            plan.memory
                .decisions
                .iter()
                .find(|d| d.kind == DecisionKind::ScaleOut)
                .map(|d| d.reason.clone())
        };
        let stale = plan_service(web, &observed(600), &memory, 1_200);
        assert!(
            scaled(&stale).is_some_and(|r| r.contains("in the newest minute")),
            "{:?}",
            stale.memory.decisions
        );
        let fresh = plan_service(web, &observed(960), &memory, 1_200);
        assert_eq!(scaled(&fresh), None, "{:?}", fresh.memory.decisions);
    }

    /// The deregistration delay is read only while unconfirmed or during a rollout, set when it
    /// differs, and confirmed in memory either way; placement and the rest are put back when
    /// changed out of band, and left alone when AWS does not report them.
    #[test]
    fn target_group_delays_and_service_options_are_kept() {
        let web = &every_field()[0];
        assert_eq!(web.deregistration_delays.get("webTargetGroup"), Some(&10));
        let mut memory = ServiceMemory::default();
        let watch =
            crate::controller::observe::Watch::new(std::sync::Arc::new(web.clone()), &memory, 0);
        assert!(watch.read_delays, "never confirmed: read");

        let mut reported = service_options(&web.spec);
        reported.enable_execute_command = false;
        reported.platform_version = Some("LATEST".into());
        let described = web_described(web, Some(reported));
        let observed = ObservedService {
            service: Some(described.clone()),
            deregistration_delays: BTreeMap::from([("webTargetGroup".to_owned(), 300)]),
            ..ObservedService::default()
        };
        memory.desired_count = Some(2);
        memory.cpu_resolution_seconds = Some(20);
        let plan = plan_service(web, &observed, &memory, 1_000);
        assert!(
            plan.actions.contains(&Action::ModifyDeregistrationDelay {
                target_group: "webTargetGroup".into(),
                seconds: 10
            }),
            "{:?}",
            plan.actions
        );
        let update = plan.actions.iter().find_map(|a| match a {
            Action::UpdateService(u) => Some(u),
            _ => None,
        });
        assert_eq!(
            update.map(|u| u.option_fields.clone()),
            Some(vec![
                "platformVersion".to_owned(),
                "enableExecuteCommand".to_owned()
            ]),
            "only what drifted is sent"
        );
        let options = update
            .and_then(|u| u.options.clone())
            .expect("options restored");
        assert!(options.enable_execute_command);
        assert_eq!(options.platform_version.as_deref(), Some("1.4.0"));
        let reasons: Vec<&str> = plan
            .memory
            .decisions
            .iter()
            .map(|d| d.reason.as_str())
            .collect();
        assert!(
            reasons
                .iter()
                .any(|r| r.contains("deregistration delay was 300 s; set to 10 s")),
            "{reasons:?}"
        );
        assert!(reasons.iter().any(|r| r.starts_with("platformVersion, enableExecuteCommand changed out of band")), "{reasons:?}");

        // Confirmed: no more reads outside rollouts, and nothing to do.
        let confirmed = plan.memory.clone();
        let watch =
            crate::controller::observe::Watch::new(std::sync::Arc::new(web.clone()), &confirmed, 0);
        assert!(!watch.read_delays);
        let quiet = ObservedService {
            service: Some(crate::model::aws::ServiceDescription {
                options: None,
                ..described
            }),
            ..ObservedService::default()
        };
        let plan = plan_service(web, &quiet, &confirmed, 1_030);
        assert!(
            !plan.actions.iter().any(|a| matches!(
                a,
                Action::ModifyDeregistrationDelay { .. } | Action::UpdateService(_)
            )),
            "{:?}",
            plan.actions
        );
    }

    #[test]
    fn client_tokens_hold_for_one_decision_and_change_for_the_next() {
        let input = CreateServiceInput {
            cluster: "c".into(),
            service: "s".into(),
            task_definition: crate::model::aws::TaskDefinitionId {
                family: "f".into(),
                revision: 1,
            },
            desired_count: 2,
            launch_type: "FARGATE".into(),
            options: ServiceOptions::default(),
            deployment_configuration: DeploymentConfiguration::rolling(50, 200),
            deployment_controller: DeploymentController::Ecs,
            load_balancers: Vec::new(),
            health_check_grace_period_seconds: 0,
            network: None,
            tags: BTreeMap::new(),
            client_token: String::new(),
        };
        let token = client_token(&input, 100);
        assert_eq!(token, client_token(&input, 100));
        assert!(token.len() <= 36, "ECS takes at most 36 characters");
        assert_ne!(
            token,
            client_token(&input, 160),
            "a later creation gets a new token"
        );
    }
}
