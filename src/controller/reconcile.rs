//! One reconcile of a set of services: observe them through the [`Cloud`], plan each (pure), act.
//!
//! Reads are batched the way the APIs allow (DescribeServices 10 names a call, GetMetricData 500
//! queries a call); target health is read only for services whose rollout is being watched.
//! Memory changes are returned to the caller, who persists them; a failed call keeps what already
//! happened (a registered revision stays in the ledger) and drops the rest, to be planned again.

use std::collections::BTreeMap;

use crate::cloud::types::{Datapoint, MetricId, ServiceDescription, TargetGroupDescription};
use crate::cloud::{Cloud, CloudError};
use crate::manifest::spec::Http5xxSource;
use crate::model::{DecisionKind, ObservedService, ServiceKey, ServiceMemory};
use crate::plan::render::{digest as render_digest, short};
use crate::plan::rollout::decision;
use crate::plan::{Action, DesiredService, plan_service};

/// Target-group names per DescribeTargetGroups call. The API takes a list of names; 20 keeps each
/// request small (a choice of ours: the API documentation gives no maximum for the list).
pub const TARGET_GROUPS_PER_CALL: usize = 20;
/// Minutes of metrics read per service: enough for the longest evaluation window (15 minutes).
pub const METRIC_MINUTES: u64 = 15;
/// Without a CPU datapoint to anchor on, the newest minute assumed published is this old (CloudWatch
/// publication delay: 1 to 3 minutes observed).
pub const ASSUMED_DELAY_S: u64 = 180;

/// The result of reconciling one service.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Which service.
    pub key: ServiceKey,
    /// The stack it belongs to (its memory is stored under it).
    pub stack: String,
    /// Memory to persist (always: a registered revision must never be forgotten).
    pub memory: ServiceMemory,
    /// The call that failed, if one did; the rest of the plan was not carried out.
    pub error: Option<CloudError>,
    /// Calls made.
    pub calls: u32,
    /// What was observed of it at the start.
    pub observed: ObservedService,
    /// The service as the last CreateService or UpdateService returned it, if one was made.
    pub after: Option<ServiceDescription>,
}

impl Outcome {
    /// The freshest description of the service: after this reconcile's last call, or as observed.
    pub fn live(&self) -> Option<&ServiceDescription> {
        self.after.as_ref().or(self.observed.service.as_ref())
    }
}

/// Observes, plans and acts for `services`, at `now` (seconds on the controller's clock).
///
/// # Errors
/// Only a failed observation; failed actions are reported per service in [`Outcome::error`].
pub async fn reconcile<C: Cloud>(
    cloud: &C,
    services: &[DesiredService],
    memories: &BTreeMap<ServiceKey, ServiceMemory>,
    now: u64,
) -> Result<Vec<Outcome>, CloudError> {
    let observed = observe(cloud, services, memories, now).await?;
    let mut outcomes = Vec::with_capacity(services.len());
    for desired in services {
        let key = desired.key();
        let memory = memories.get(&key).cloned().unwrap_or_default();
        let seen = observed.get(&key).cloned().unwrap_or_default();
        outcomes.push(act(cloud, desired, &seen, memory, now).await);
    }
    Ok(outcomes)
}

/// Plans and carries out one service's actions. A registration is followed by a second plan, so a
/// new revision is created or rolled out in the same reconcile.
async fn act<C: Cloud>(
    cloud: &C,
    desired: &DesiredService,
    observed: &ObservedService,
    mut memory: ServiceMemory,
    now: u64,
) -> Outcome {
    let mut calls = 0;
    let mut after = None;
    for _ in 0..2 {
        let plan = plan_service(desired, observed, &memory, now);
        // Registrations first: the rest of the plan (create, roll out) needs their revisions, so a
        // plan that registers is carried out in two steps, registering then planning again.
        let registers = plan
            .actions
            .iter()
            .any(|a| matches!(a, Action::RegisterTaskDefinition { .. }));
        if registers {
            for action in plan.actions {
                if let Action::RegisterTaskDefinition { definition, digest } = action {
                    // RegisterTaskDefinition has no idempotency token: reuse the family's latest
                    // revision when it renders the same, so a crash between registering and saving
                    // memory never leaves a duplicate revision behind.
                    calls += 1;
                    match cloud
                        .describe_latest_task_definition(&definition.family)
                        .await
                    {
                        Ok(Some((id, latest))) if render_digest(&latest) == digest => {
                            memory.record(decision(
                                now,
                                DecisionKind::Register,
                                None,
                                format!("reusing {id}: it renders the same as the manifest"),
                            ));
                            memory.remember(digest, id, &desired.spec.task_definition);
                            continue;
                        }
                        Ok(_) => {}
                        Err(error) => {
                            return outcome(desired, memory, Some(error), calls, observed, after);
                        }
                    }
                    calls += 1;
                    match cloud.register_task_definition(definition).await {
                        Ok(id) => {
                            memory.record(decision(
                                now,
                                DecisionKind::Register,
                                None,
                                format!("registered {id} for digest {}", short(&digest)),
                            ));
                            memory.remember(digest, id, &desired.spec.task_definition);
                        }
                        Err(error) => {
                            return outcome(desired, memory, Some(error), calls, observed, after);
                        }
                    }
                }
            }
            continue;
        }
        for action in plan.actions {
            calls += 1;
            let result = match action {
                // Unreachable: a plan that registers was handled above.
                Action::RegisterTaskDefinition { .. } => Ok(()),
                Action::CreateService(input) => cloud.create_service(input).await.map(|d| {
                    after = Some(d);
                }),
                Action::UpdateService(input) => cloud.update_service(input).await.map(|d| {
                    after = Some(d);
                }),
                Action::ModifyTargetGroup {
                    target_group,
                    health,
                } => cloud.modify_target_group(&target_group, health).await,
            };
            if let Err(error) = result {
                return outcome(desired, memory, Some(error), calls, observed, after);
            }
        }
        return outcome(desired, plan.memory, None, calls, observed, after);
    }
    outcome(desired, memory, None, calls, observed, after)
}

fn outcome(
    desired: &DesiredService,
    memory: ServiceMemory,
    error: Option<CloudError>,
    calls: u32,
    observed: &ObservedService,
    after: Option<ServiceDescription>,
) -> Outcome {
    Outcome {
        key: desired.key(),
        stack: desired.stack.clone(),
        memory,
        error,
        calls,
        observed: observed.clone(),
        after,
    }
}

/// Reads what the plan needs, batched.
async fn observe<C: Cloud>(
    cloud: &C,
    services: &[DesiredService],
    memories: &BTreeMap<ServiceKey, ServiceMemory>,
    now: u64,
) -> Result<BTreeMap<ServiceKey, ObservedService>, CloudError> {
    let mut observed: BTreeMap<ServiceKey, ObservedService> = BTreeMap::new();
    let mut by_cluster: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for s in services {
        by_cluster
            .entry(&s.cluster)
            .or_default()
            .push(s.spec.name.clone());
        observed.insert(s.key(), ObservedService::default());
    }
    for (cluster, names) in &by_cluster {
        for batch in names.chunks(10) {
            for description in cloud.describe_services(cluster, batch).await? {
                let key = ServiceKey {
                    cluster: (*cluster).to_owned(),
                    service: description.service.clone(),
                };
                if let Some(o) = observed.get_mut(&key) {
                    o.service = Some(description);
                }
            }
        }
    }

    // Target groups: health checks the stack keeps, and the load balancer of LB-sourced 5XX scaling,
    // read in batches of TARGET_GROUPS_PER_CALL names.
    let mut wanted: Vec<String> = Vec::new();
    for s in services {
        let lb_sourced = s
            .spec
            .scaling
            .as_ref()
            .and_then(|sc| sc.http5xx.as_ref())
            .is_some_and(|h| h.source == Http5xxSource::LoadBalancer);
        let first = s
            .spec
            .load_balancers
            .first()
            .map(|lb| lb.target_group.clone())
            .filter(|_| lb_sourced);
        wanted.extend(s.health_checks.keys().cloned().chain(first));
    }
    wanted.sort();
    wanted.dedup();
    let mut groups: BTreeMap<String, TargetGroupDescription> = BTreeMap::new();
    for batch in wanted.chunks(TARGET_GROUPS_PER_CALL) {
        groups.extend(cloud.describe_target_groups(batch).await?);
    }
    for s in services {
        if let Some(o) = observed.get_mut(&s.key()) {
            o.health_checks = s
                .health_checks
                .keys()
                .filter_map(|g| groups.get(g).map(|d| (g.clone(), d.health_check.clone())))
                .collect();
        }
    }

    // Metrics: CPU and 5XX for scaled services, target 5XX for rollouts with a 5XX trigger, and
    // HealthyHostCount of every target group a service is behind.
    let mut queries: Vec<(ServiceKey, Series, MetricId)> = Vec::new();
    for s in services {
        let key = s.key();
        if observed.get(&key).is_none_or(|o| o.service.is_none()) {
            continue;
        }
        for lb in &s.spec.load_balancers {
            queries.push((
                key.clone(),
                Series::HealthyHosts,
                MetricId::HealthyHosts {
                    target_group: lb.target_group.clone(),
                },
            ));
        }
        let first_group = s
            .spec
            .load_balancers
            .first()
            .map(|lb| lb.target_group.clone());
        if let Some(scaling) = &s.spec.scaling {
            if scaling.cpu.is_some() {
                queries.push((
                    key.clone(),
                    Series::Cpu,
                    MetricId::ServiceCpu {
                        cluster: s.cluster.clone(),
                        service: s.spec.name.clone(),
                    },
                ));
            }
            if let (Some(http), Some(group)) = (&scaling.http5xx, &first_group) {
                let metric = match http.source {
                    Http5xxSource::Target => Some(MetricId::Target5xx {
                        target_group: group.clone(),
                    }),
                    Http5xxSource::LoadBalancer => groups
                        .get(group)
                        .and_then(|d| d.load_balancer.clone())
                        .map(|load_balancer| MetricId::Elb5xx { load_balancer }),
                };
                if let Some(metric) = metric {
                    queries.push((key.clone(), Series::Http5xx, metric));
                }
            }
        }
        let watched = memories.get(&key).is_some_and(|m| m.rollout.is_some());
        if watched
            && s.spec.deployment.rollback.max5xx_per_minute.is_some()
            && let Some(group) = &first_group
        {
            queries.push((
                key.clone(),
                Series::Target5xx,
                MetricId::Target5xx {
                    target_group: group.clone(),
                },
            ));
        }
    }
    let start = newest_publishable(now).saturating_sub(METRIC_MINUTES * 60 + 600);
    let mut results: BTreeMap<MetricId, Vec<Datapoint>> = BTreeMap::new();
    let mut unique: Vec<MetricId> = queries.iter().map(|(_, _, m)| m.clone()).collect();
    unique.sort();
    unique.dedup();
    for batch in unique.chunks(500) {
        results.extend(cloud.get_metric_data(batch, start, now).await?);
    }
    // Each service's windows end at its newest CPU minute when that is recent: the freshest the
    // data can be, whatever the real publication delay.
    let mut anchors: BTreeMap<ServiceKey, u64> = BTreeMap::new();
    for (key, series, metric) in &queries {
        if let (Series::Cpu, Some(points)) = (series, results.get(metric))
            && let Some(newest) = points.iter().map(|p| p.minute_start).max()
            && newest + 600 >= newest_publishable(now)
        {
            anchors.insert(key.clone(), newest);
        }
    }
    for (key, series, metric) in &queries {
        let points = results.get(metric).map(Vec::as_slice).unwrap_or_default();
        let anchor = anchors
            .get(key)
            .copied()
            .unwrap_or_else(|| newest_publishable(now));
        let Some(o) = observed.get_mut(key) else {
            continue;
        };
        o.metrics_anchor = Some(anchor);
        match (series, metric) {
            (Series::Cpu, _) => o.cpu = minutes(points, None, anchor),
            (Series::Http5xx, _) => o.http_5xx = minutes(points, Some(0.0), anchor),
            (Series::Target5xx, _) => o.target_5xx = minutes(points, Some(0.0), anchor),
            (Series::HealthyHosts, MetricId::HealthyHosts { target_group }) => {
                // Only a recent value: an old one says nothing about now.
                if let Some(newest) = points
                    .iter()
                    .filter(|p| p.minute_start + 600 >= newest_publishable(now))
                    .max_by_key(|p| p.minute_start)
                {
                    o.healthy_hosts.insert(target_group.clone(), newest.value);
                }
            }
            (Series::HealthyHosts, _) => {}
        }
    }

    // Target health, only where a rollout is watched.
    for s in services {
        let key = s.key();
        let watched = memories.get(&key).is_some_and(|m| m.rollout.is_some());
        let exists = observed.get(&key).is_some_and(|o| o.service.is_some());
        if watched && exists && s.spec.deployment.rollback.on_unhealthy_targets {
            let mut targets = BTreeMap::new();
            for lb in &s.spec.load_balancers {
                targets.insert(
                    lb.target_group.clone(),
                    cloud.describe_target_health(&lb.target_group).await?,
                );
            }
            if let Some(o) = observed.get_mut(&key) {
                o.targets = Some(targets);
            }
        }
    }
    Ok(observed)
}

/// Which series a metric query fills.
#[derive(Debug, Clone, Copy)]
enum Series {
    Cpu,
    Http5xx,
    Target5xx,
    HealthyHosts,
}

/// The newest minute whose datapoint can be published by `now` under the assumed delay: minute
/// [m, m + 60) closes at m + 60 and is readable from m + 60 + delay.
pub fn newest_publishable(now: u64) -> u64 {
    now.saturating_sub(60 + ASSUMED_DELAY_S) / 60 * 60
}

/// One value per minute for the [`METRIC_MINUTES`] minutes ending at `anchor`, newest last; a
/// missing minute is `None`, or `missing` for counts CloudWatch reports only when non-zero.
pub fn minutes(points: &[Datapoint], missing: Option<f64>, anchor: u64) -> Vec<Option<f64>> {
    (0..METRIC_MINUTES)
        .rev()
        .filter_map(|i| anchor.checked_sub(i * 60))
        .map(|minute| {
            points
                .iter()
                .find(|p| p.minute_start == minute)
                .map(|p| p.value)
                .or(missing)
        })
        .collect()
}
