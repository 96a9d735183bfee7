//! Observing the services due together, with the reads batched the way the APIs allow
//! (DescribeServices 10 names a call, DescribeTargetGroups [`TARGET_GROUPS_PER_CALL`],
//! GetMetricData 500 queries a call) and every failure confined to the services it concerns: a
//! failed DescribeServices call fails its ten services, a target group that does not exist fails
//! the services naming it, a failed GetMetricData call fails the services with a query in it.
//! Target health, and the image digests of the running tasks (ListTasks and DescribeTasks, one
//! page each), are read only for services whose rollout is being watched; the lifecycle policies
//! of the verified-good images' ECR repositories every [`REGISTRY_CHECK_SECONDS`], each
//! repository once per batch; the state of the CloudWatch alarms a watched rollout is gated on,
//! each alarm once per batch. Each call is awaited through a box, so the batch's future does not
//! carry every layer of every call inline.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::cloud::{Cloud, CloudError, Operation};
use crate::manifest::spec::Http5xxSource;
use crate::model::aws::{
    ALARMS_PER_CALL, AlarmState, Datapoint, FINE_CPU_PERIOD_SECONDS, MetricId,
    TargetGroupDescription,
};
use crate::model::image::{EcrRepository, ImageRef};
use crate::model::{ObservedService, REGISTRY_CHECK_SECONDS, ServiceKey, ServiceMemory};
use crate::plan::DesiredService;

/// Target-group names per DescribeTargetGroups call. The API takes a list of names; 20 keeps each
/// request small (a choice of ours: the API documentation gives no maximum for the list).
pub const TARGET_GROUPS_PER_CALL: usize = 20;
/// Minutes of metrics read per service: enough for the longest evaluation window (15 minutes).
pub const METRIC_MINUTES: u64 = 15;
/// Without a CPU datapoint to anchor on, the newest minute assumed published is this old (CloudWatch
/// publication delay: 1 to 3 minutes observed).
pub const ASSUMED_DELAY_S: u64 = 180;
/// Queries per GetMetricData call (the API's maximum).
pub const METRIC_QUERIES_PER_CALL: usize = 500;

/// One service to observe.
#[derive(Debug, Clone)]
pub struct Watch {
    /// Its key.
    pub key: ServiceKey,
    /// What the manifest wants of it.
    pub desired: Arc<DesiredService>,
    /// Whether a rollout of it is being watched (target health and target 5XX are read).
    pub rollout_watched: bool,
    /// Whether its target groups' deregistration delays are read: during a rollout, and while
    /// the manifest's value is not the one last confirmed.
    pub read_delays: bool,
    /// Whether the running tasks' image digests are read: during a rollout, until the target's
    /// digests are known, and while it is being verified.
    pub read_images: bool,
    /// The ECR repositories of the verified-good images whose lifecycle policy is due a read
    /// (with the tag the definition names each by, if it does).
    pub read_lifecycle: Vec<(EcrRepository, Option<String>)>,
}

impl Watch {
    /// A watch of `desired` at `now` (seconds) given what the controller remembers of it.
    pub fn new(desired: Arc<DesiredService>, memory: &ServiceMemory, now: u64) -> Self {
        let rollout_watched = memory.rollout.is_some();
        let read_images = memory.rollout.as_ref().is_some_and(|r| {
            r.completed_at.is_some() || !memory.images.contains_key(&r.target.digest)
        });
        let read_delays = !desired.deregistration_delays.is_empty()
            && (rollout_watched
                || desired
                    .deregistration_delays
                    .iter()
                    .any(|(g, s)| memory.deregistration_delays.get(g) != Some(s)));
        Self {
            key: desired.key(),
            desired,
            rollout_watched,
            read_delays,
            read_images,
            read_lifecycle: lifecycle_due(memory, now),
        }
    }
}

/// The verified-good images' ECR repositories, if their lifecycle policies are due a read: never
/// read for this revision, or last read [`REGISTRY_CHECK_SECONDS`] ago.
fn lifecycle_due(memory: &ServiceMemory, now: u64) -> Vec<(EcrRepository, Option<String>)> {
    let Some(good) = &memory.verified_good else {
        return Vec::new();
    };
    let fresh = memory
        .registry
        .as_ref()
        .is_some_and(|c| c.digest == good.digest && now < c.at + REGISTRY_CHECK_SECONDS);
    if fresh {
        return Vec::new();
    }
    let Some(source) = memory.sources.get(&good.digest) else {
        return Vec::new();
    };
    let mut repositories: Vec<(EcrRepository, Option<String>)> = source
        .containers
        .iter()
        .filter_map(|c| {
            let image = ImageRef::parse(&c.image);
            Some((image.ecr_repository()?, image.tag.map(str::to_owned)))
        })
        .collect();
    repositories.sort();
    repositories.dedup();
    repositories
}

/// Observes `batch` at `now` (seconds): one result per service, in the same order.
pub async fn observe<C: Cloud>(
    cloud: &C,
    batch: &[Watch],
    now: u64,
) -> Vec<Result<ObservedService, CloudError>> {
    let mut results: Vec<Result<ObservedService, CloudError>> = batch
        .iter()
        .map(|_| Ok(ObservedService::default()))
        .collect();
    describe_services(cloud, batch, &mut results).await;
    let groups = describe_target_groups(cloud, batch, &mut results).await;
    read_metrics(cloud, batch, &groups, &mut results, now).await;
    read_target_health(cloud, batch, &mut results).await;
    read_delays(cloud, batch, &mut results).await;
    read_images(cloud, batch, &mut results).await;
    read_lifecycle(cloud, batch, &mut results).await;
    read_alarms(cloud, batch, &mut results).await;
    read_instances(cloud, batch, &mut results).await;
    results
}

/// The container instances of the clusters whose capacity tugboat owns (a stack with
/// `capacity`), each cluster once per batch: where the room for a scale-out is. A failed read
/// fails the services on that cluster: room that cannot be read is not taken as there.
async fn read_instances<C: Cloud>(
    cloud: &C,
    batch: &[Watch],
    results: &mut [Result<ObservedService, CloudError>],
) {
    let asking = |w: &Watch| {
        w.desired.capacity.is_some()
            && w.desired.spec.launch() != crate::manifest::spec::LaunchType::Fargate
    };
    let clusters: BTreeSet<&str> = batch
        .iter()
        .zip(results.iter())
        .filter(|(w, r)| asking(w) && r.is_ok())
        .map(|(w, _)| w.desired.cluster.as_str())
        .collect();
    for cluster in clusters {
        let read = Box::pin(container_instances(cloud, cluster)).await;
        for (w, r) in batch.iter().zip(results.iter_mut()) {
            if !asking(w) || w.desired.cluster != cluster {
                continue;
            }
            match (&read, r.as_mut()) {
                (Ok(instances), Ok(observed)) => observed.instances = Some(instances.clone()),
                (Err(e), Ok(_)) => *r = Err(e.clone()),
                (_, Err(_)) => {}
            }
        }
    }
}

/// Every container instance of `cluster`: ListContainerInstances (every page), then
/// DescribeContainerInstances [`CONTAINER_INSTANCES_PER_CALL`] a call.
///
/// # Errors
/// A failed call.
pub async fn container_instances<C: Cloud>(
    cloud: &C,
    cluster: &str,
) -> Result<Vec<crate::model::aws::ContainerInstance>, CloudError> {
    let arns = Box::pin(cloud.list_container_instances(cluster)).await?;
    let mut instances = Vec::with_capacity(arns.len());
    for chunk in arns.chunks(crate::model::aws::CONTAINER_INSTANCES_PER_CALL) {
        instances.extend(Box::pin(cloud.describe_container_instances(cluster, chunk)).await?);
    }
    Ok(instances)
}

/// DescribeAlarms of the alarms the watched rollouts are gated on (`deployment.alarms`), each
/// name once per batch, [`ALARMS_PER_CALL`] a call. A failed call fails the services that name
/// one of its alarms: a gate that cannot be read is not taken as passing.
async fn read_alarms<C: Cloud>(
    cloud: &C,
    batch: &[Watch],
    results: &mut [Result<ObservedService, CloudError>],
) {
    let asking = |w: &Watch, r: &Result<ObservedService, CloudError>| {
        w.rollout_watched
            && !w.desired.spec.deployment.alarms.is_empty()
            && r.as_ref().is_ok_and(|o| o.service.is_some())
    };
    let names: BTreeSet<&String> = batch
        .iter()
        .zip(results.iter())
        .filter(|(w, r)| asking(w, r))
        .flat_map(|(w, _)| &w.desired.spec.deployment.alarms)
        .collect();
    if names.is_empty() {
        return;
    }
    let names: Vec<String> = names.into_iter().cloned().collect();
    let mut states: BTreeMap<String, AlarmState> = BTreeMap::new();
    let mut failed: Vec<(BTreeSet<String>, CloudError)> = Vec::new();
    for chunk in names.chunks(ALARMS_PER_CALL) {
        match Box::pin(cloud.describe_alarms(chunk)).await {
            Ok(found) => states.extend(found.into_iter().map(|a| (a.name.clone(), a))),
            Err(e) => failed.push((chunk.iter().cloned().collect(), e)),
        }
    }
    for (w, result) in batch.iter().zip(results.iter_mut()) {
        if !asking(w, result) {
            continue;
        }
        let alarms = &w.desired.spec.deployment.alarms;
        if let Some((_, e)) = failed
            .iter()
            .find(|(chunk, _)| alarms.iter().any(|a| chunk.contains(a)))
        {
            *result = Err(e.clone());
            continue;
        }
        if let Ok(o) = result {
            o.alarms = Some(
                alarms
                    .iter()
                    .filter_map(|name| states.get(name).cloned())
                    .collect(),
            );
        }
    }
}

/// ListTasks and DescribeTasks of the services that asked: the revision and image digests of up
/// to [`crate::cloud::TASKS_PER_CALL`] running tasks each.
async fn read_images<C: Cloud>(
    cloud: &C,
    batch: &[Watch],
    results: &mut [Result<ObservedService, CloudError>],
) {
    for (w, result) in batch.iter().zip(results.iter_mut()) {
        let exists = result.as_ref().is_ok_and(|o| o.service.is_some());
        if !exists || !w.read_images {
            continue;
        }
        let (cluster, service) = (&w.key.cluster, &w.key.service);
        let read = match Box::pin(cloud.list_tasks(cluster, service)).await {
            Ok(arns) if arns.is_empty() => Ok(Vec::new()),
            Ok(arns) => Box::pin(cloud.describe_tasks(cluster, service, &arns)).await,
            Err(e) => Err(e),
        };
        match read {
            Ok(images) => {
                if let Ok(o) = result {
                    o.images = Some(images);
                }
            }
            Err(e) => *result = Err(e),
        }
    }
}

/// GetLifecyclePolicy of the repositories the batch's watches name, each once. The check is
/// optional: a repository whose policy cannot be read (no `ecr:GetLifecyclePolicy`, no such
/// repository) is reported as such and fails nothing; one AWS did not answer is asked again at the
/// next look.
async fn read_lifecycle<C: Cloud>(
    cloud: &C,
    batch: &[Watch],
    results: &mut [Result<ObservedService, CloudError>],
) {
    let mut read: BTreeMap<EcrRepository, Result<Option<String>, CloudError>> = BTreeMap::new();
    for (w, result) in batch.iter().zip(results.iter_mut()) {
        let Ok(o) = result else {
            continue;
        };
        if w.read_lifecycle.is_empty() {
            continue;
        }
        let mut policies = Vec::new();
        for (repository, tag) in &w.read_lifecycle {
            if !read.contains_key(repository) {
                let answer = Box::pin(cloud.get_lifecycle_policy(repository)).await;
                read.insert(repository.clone(), answer);
            }
            match &read[repository] {
                Ok(policy) => policies.push(crate::model::LifecyclePolicyRead {
                    repository: repository.clone(),
                    tag: tag.clone(),
                    policy: Ok(policy.clone()),
                }),
                Err(e) if e.is_retryable() => {
                    policies.clear();
                    break;
                }
                Err(e) => policies.push(crate::model::LifecyclePolicyRead {
                    repository: repository.clone(),
                    tag: tag.clone(),
                    policy: Err(e.to_string()),
                }),
            }
        }
        if !policies.is_empty() {
            o.lifecycle_policies = Some(policies);
        }
    }
}

/// DescribeTargetGroupAttributes, one call per target group, for the services that asked.
async fn read_delays<C: Cloud>(
    cloud: &C,
    batch: &[Watch],
    results: &mut [Result<ObservedService, CloudError>],
) {
    for (w, result) in batch.iter().zip(results.iter_mut()) {
        if result.is_err() || !w.read_delays {
            continue;
        }
        let mut delays = BTreeMap::new();
        for group in w.desired.deregistration_delays.keys() {
            match Box::pin(cloud.describe_deregistration_delay(group)).await {
                Ok(seconds) => {
                    delays.insert(group.clone(), seconds);
                }
                Err(e) => {
                    *result = Err(e);
                    break;
                }
            }
        }
        if let Ok(o) = result {
            o.deregistration_delays = delays;
        }
    }
}

/// Fails result `i` with `error` unless it already failed.
fn fail(results: &mut [Result<ObservedService, CloudError>], i: usize, error: &CloudError) {
    if results[i].is_ok() {
        results[i] = Err(error.clone());
    }
}

/// DescribeServices by cluster, ten names a call.
async fn describe_services<C: Cloud>(
    cloud: &C,
    batch: &[Watch],
    results: &mut [Result<ObservedService, CloudError>],
) {
    let mut by_cluster: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, w) in batch.iter().enumerate() {
        by_cluster.entry(&w.key.cluster).or_default().push(i);
    }
    for (cluster, indexes) in by_cluster {
        for chunk in indexes.chunks(10) {
            let names: Vec<String> = chunk
                .iter()
                .map(|&i| batch[i].key.service.clone())
                .collect();
            match Box::pin(cloud.describe_services(cluster, &names)).await {
                Ok(found) => {
                    for description in found {
                        let Some(&i) = chunk
                            .iter()
                            .find(|&&i| batch[i].key.service == description.service)
                        else {
                            continue;
                        };
                        if let Ok(o) = &mut results[i] {
                            o.service = Some(description);
                        }
                    }
                }
                Err(e) => chunk.iter().for_each(|&i| fail(results, i, &e)),
            }
        }
    }
}

/// The target groups a service needs described: the ones whose health check its stack keeps,
/// the one whose load balancer its 5XX scaling reads, and, for a service still to be created,
/// every one it will be attached to (CreateService would fail on a missing one).
fn wanted_groups(w: &Watch, exists: bool) -> BTreeSet<&str> {
    let spec = &w.desired.spec;
    let lb_sourced = spec
        .scaling
        .as_ref()
        .and_then(|sc| sc.http5xx.as_ref())
        .is_some_and(|h| h.source == Http5xxSource::LoadBalancer);
    let mut wanted: BTreeSet<&str> = w.desired.health_checks.keys().map(String::as_str).collect();
    if lb_sourced && let Some(lb) = spec.load_balancers.first() {
        wanted.insert(&lb.target_group);
    }
    if !exists {
        wanted.extend(
            spec.load_balancers
                .iter()
                .map(|lb| lb.target_group.as_str()),
        );
    }
    wanted
}

/// DescribeTargetGroups for what the batch needs, [`TARGET_GROUPS_PER_CALL`] names a call. A
/// service naming a group that does not exist fails (terminal: fix the name or create it); a
/// failed call fails the services that wanted one of its groups.
async fn describe_target_groups<C: Cloud>(
    cloud: &C,
    batch: &[Watch],
    results: &mut [Result<ObservedService, CloudError>],
) -> BTreeMap<String, TargetGroupDescription> {
    let wanted: Vec<BTreeSet<&str>> = batch
        .iter()
        .zip(results.iter())
        .map(|(w, r)| match r {
            Ok(o) => wanted_groups(w, o.service.is_some()),
            Err(_) => BTreeSet::new(),
        })
        .collect();
    let all: BTreeSet<&str> = wanted.iter().flatten().copied().collect();
    let all: Vec<String> = all.into_iter().map(str::to_owned).collect();
    let mut groups: BTreeMap<String, TargetGroupDescription> = BTreeMap::new();
    for chunk in all.chunks(TARGET_GROUPS_PER_CALL) {
        match Box::pin(cloud.describe_target_groups(chunk)).await {
            Ok(found) => groups.extend(found),
            Err(e) => {
                for (i, names) in wanted.iter().enumerate() {
                    if chunk.iter().any(|g| names.contains(g.as_str())) {
                        fail(results, i, &e);
                    }
                }
            }
        }
    }
    for (i, names) in wanted.iter().enumerate() {
        if let Some(missing) = names.iter().find(|g| !groups.contains_key(**g)) {
            let error = CloudError::Invalid {
                operation: Operation::DescribeTargetGroups,
                message: format!(
                    "target group `{missing}` does not exist; create it, or fix its name in the stack"
                ),
            };
            fail(results, i, &error);
            continue;
        }
        if let Ok(o) = &mut results[i] {
            o.health_checks = batch[i]
                .desired
                .health_checks
                .keys()
                .filter_map(|g| groups.get(g).map(|d| (g.clone(), d.health_check.clone())))
                .collect();
        }
    }
    groups
}

/// Which series a metric query fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Series {
    Cpu,
    CpuFine,
    Http5xx,
    Target5xx,
    HealthyHosts,
    Requests,
}

/// The target group a service's traffic and demand are read from: its first load balancer's.
fn spec_first_group(w: &Watch) -> Option<&str> {
    w.desired
        .spec
        .load_balancers
        .first()
        .map(|lb| lb.target_group.as_str())
}

/// The metric queries of one service that exists.
fn queries_of(
    w: &Watch,
    groups: &BTreeMap<String, TargetGroupDescription>,
) -> Vec<(Series, MetricId)> {
    let spec = &w.desired.spec;
    let mut queries = Vec::new();
    for lb in &spec.load_balancers {
        queries.push((
            Series::HealthyHosts,
            MetricId::HealthyHosts {
                target_group: lb.target_group.clone(),
            },
        ));
    }
    let first_group = spec
        .load_balancers
        .first()
        .map(|lb| lb.target_group.clone());
    if let Some(scaling) = &spec.scaling {
        // CPU for every scaled service: a CPU rule reads it, and a 5XX rule sizes to the demand
        // it measures.
        queries.push((
            Series::Cpu,
            MetricId::ServiceCpu {
                cluster: w.key.cluster.clone(),
                service: w.key.service.clone(),
            },
        ));
        if crate::plan::service::cpu_resolution(spec) == FINE_CPU_PERIOD_SECONDS {
            queries.push((
                Series::CpuFine,
                MetricId::ServiceCpuFine {
                    cluster: w.key.cluster.clone(),
                    service: w.key.service.clone(),
                },
            ));
        }
        // The demand behind the CPU or the 5XX: the requests offered, by minute.
        if let Some(group) = &first_group {
            queries.push((
                Series::Requests,
                MetricId::RequestCount {
                    target_group: group.clone(),
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
                queries.push((Series::Http5xx, metric));
            }
        }
    }
    if w.rollout_watched && spec.deployment.rollback.max5xx_per_minute.is_some() {
        // A traffic-shifting deployment's green serves from the alternate target group: both are
        // read, and their counts added.
        let alternate = spec
            .load_balancers
            .first()
            .and_then(|lb| lb.alternate_target_group.clone());
        for group in first_group.into_iter().chain(alternate) {
            queries.push((
                Series::Target5xx,
                MetricId::Target5xx {
                    target_group: group,
                },
            ));
        }
    }
    queries
}

/// GetMetricData for every service that exists: CPU and 5XX for scaled services, target 5XX for
/// watched rollouts with a 5XX trigger, HealthyHostCount of every target group a service is
/// behind. Each series ends at the service's newest CPU minute when that is recent.
async fn read_metrics<C: Cloud>(
    cloud: &C,
    batch: &[Watch],
    groups: &BTreeMap<String, TargetGroupDescription>,
    results: &mut [Result<ObservedService, CloudError>],
    now: u64,
) {
    let per_service: Vec<Vec<(Series, MetricId)>> = batch
        .iter()
        .zip(results.iter())
        .map(|(w, r)| match r {
            Ok(o) if o.service.is_some() => queries_of(w, groups),
            _ => Vec::new(),
        })
        .collect();
    let unique: BTreeSet<&MetricId> = per_service.iter().flatten().map(|(_, m)| m).collect();
    let unique: Vec<MetricId> = unique.into_iter().cloned().collect();
    if unique.is_empty() {
        return;
    }
    let start = newest_publishable(now).saturating_sub(METRIC_MINUTES * 60 + 600);
    let mut series: BTreeMap<MetricId, Vec<Datapoint>> = BTreeMap::new();
    for chunk in unique.chunks(METRIC_QUERIES_PER_CALL) {
        match Box::pin(cloud.get_metric_data(chunk, start, now)).await {
            Ok(data) => {
                series.extend(data.series);
                for (metric, why) in data.unresolved {
                    let error = CloudError::Invalid {
                        operation: Operation::GetMetricData,
                        message: format!("{why}; create it, or fix its name in the stack"),
                    };
                    for (i, queries) in per_service.iter().enumerate() {
                        if queries.iter().any(|(_, m)| *m == metric) {
                            fail(results, i, &error);
                        }
                    }
                }
            }
            Err(e) => {
                for (i, queries) in per_service.iter().enumerate() {
                    if queries.iter().any(|(_, m)| chunk.contains(m)) {
                        fail(results, i, &e);
                    }
                }
            }
        }
    }
    let newest = newest_publishable(now);
    for ((queries, result), w) in per_service.iter().zip(results.iter_mut()).zip(batch) {
        let Ok(o) = result else { continue };
        if queries.is_empty() {
            continue;
        }
        // The windows end at the service's newest CPU minute when that is recent: the freshest the
        // data can be, whatever the real publication delay. Without CPU, at the newest minute of
        // its first target group's HealthyHostCount, published every minute like the 5XX counts
        // (which, published only when non-zero, cannot say how far publication has got).
        let newest_of = |wanted: Series| {
            queries
                .iter()
                .filter(|(s, m)| {
                    *s == wanted
                        && (wanted != Series::HealthyHosts
                            || matches!(m, MetricId::HealthyHosts { target_group } if spec_first_group(w) == Some(target_group.as_str())))
                })
                .filter_map(|(_, m)| series.get(m))
                .filter_map(|points| points.iter().map(|p| p.minute_start).max())
                .find(|m| m + 600 >= newest)
        };
        let anchor = newest_of(Series::Cpu)
            .or_else(|| newest_of(Series::HealthyHosts))
            .unwrap_or(newest);
        o.metrics_anchor = Some(anchor);
        for (kind, metric) in queries {
            let points = series.get(metric).map(Vec::as_slice).unwrap_or_default();
            match (kind, metric) {
                (Series::Cpu, _) => o.cpu = minutes(points, None, anchor),
                // Only a recent one: within the ten minutes a CPU minute may be late.
                (Series::CpuFine, _) => {
                    o.cpu_fine = points
                        .iter()
                        .filter(|p| p.minute_start + 600 >= newest)
                        .max_by_key(|p| p.minute_start)
                        .map(|p| (p.minute_start, p.value));
                }
                (Series::Http5xx, _) => o.http_5xx = minutes(points, Some(0.0), anchor),
                (Series::Target5xx, _) => {
                    let counts = minutes(points, Some(0.0), anchor);
                    if o.target_5xx.is_empty() {
                        o.target_5xx = counts;
                    } else {
                        for (sum, more) in o.target_5xx.iter_mut().zip(counts) {
                            *sum = match (*sum, more) {
                                (Some(a), Some(b)) => Some(a + b),
                                (a, b) => a.or(b),
                            };
                        }
                    }
                }
                (Series::Requests, _) => o.requests = minutes(points, Some(0.0), anchor),
                (Series::HealthyHosts, MetricId::HealthyHosts { target_group }) => {
                    if spec_first_group(w) == Some(target_group.as_str()) {
                        o.serving = minutes(points, None, anchor);
                    }
                    // Only a recent value: an old one says nothing about now.
                    if let Some(p) = points
                        .iter()
                        .filter(|p| p.minute_start + 600 >= newest)
                        .max_by_key(|p| p.minute_start)
                    {
                        o.healthy_hosts.insert(target_group.clone(), p.value);
                    }
                }
                (Series::HealthyHosts, _) => {}
            }
        }
    }
}

/// DescribeTargetHealth, one call per target group, for services whose rollout is watched.
async fn read_target_health<C: Cloud>(
    cloud: &C,
    batch: &[Watch],
    results: &mut [Result<ObservedService, CloudError>],
) {
    for (w, result) in batch.iter().zip(results.iter_mut()) {
        let Ok(o) = result else { continue };
        if !(w.rollout_watched
            && o.service.is_some()
            && w.desired.spec.deployment.rollback.on_unhealthy_targets)
        {
            continue;
        }
        let mut targets = BTreeMap::new();
        let groups: Vec<&String> = w
            .desired
            .spec
            .load_balancers
            .iter()
            .flat_map(crate::manifest::spec::LoadBalancerSpec::target_groups)
            .collect();
        for group in groups {
            match Box::pin(cloud.describe_target_health(group)).await {
                Ok(health) => {
                    targets.insert(group.clone(), health);
                }
                Err(e) => {
                    *result = Err(e);
                    break;
                }
            }
        }
        if let Ok(o) = result {
            o.targets = Some(targets);
        }
    }
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
