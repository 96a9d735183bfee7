//! The simulated AWS: ECS, ELBv2 target groups, CloudWatch and EC2 capacity, in virtual time.
//!
//! [`Sim`] is synchronous and deterministic for a seed: time moves only when [`Sim::advance_to`] is
//! called, one simulated second at a time, and every random choice comes from one seeded stream.
//! API operations (the methods named after AWS actions) happen at the current simulated instant and
//! pass through [`api::ApiFront`] (throttling, injected faults, the call log). Each behaviour cites
//! the fact of aws-facts.md it models, in the file that implements it:
//! [`ecs`] (tasks, services, rolling deployments, circuit breaker), [`elb`] (health checks,
//! draining), [`metrics`] (traffic, CPU, 5XX, datapoints), [`aas`] (the Application Auto Scaling
//! baseline).

pub mod aas;
mod access;
mod alarms;
pub mod api;
mod ec2;
mod ecs;
mod elb;
pub mod load;
mod metrics;
mod registry;
pub mod rng;
mod strategies;
mod task_sets;
pub mod world;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use access::SimCloud;
pub use ec2::InstanceView;
pub use ecs::{circuit_breaker_threshold, maximum_total, minimum_healthy};

use crate::cloud::{CloudError, Operation};
use crate::model::aws::{
    CreateServiceInput, DeploymentConfiguration, DeploymentController, FINE_CPU_PERIOD_SECONDS,
    HealthCheckSettings, MetricData, MetricId, RegisteredRevision, RolloutState,
    ServiceDescription, TargetGroupDescription, TargetHealth, TargetState, TaskDefinitionId,
    TaskDefinitionInput, UpdateServiceInput,
};
use api::{ApiFront, Outcome};
use load::LoadTrace;
use metrics::MetricStore;
use rng::Rng;
use world::World;

/// Milliseconds in a simulated second.
const SECOND: u64 = 1000;
/// Version of the saved-account layout (2: EC2 groups with container instances).
const SAVED_FORMAT: u32 = 2;

/// What [`Sim::save`] writes.
#[derive(Serialize)]
struct Saved<'a> {
    format: u32,
    sim: &'a Sim,
}

/// A map with keys JSON cannot name (tuples, enums), saved as a list of pairs.
mod pairs {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer, K: Serialize, V: Serialize>(
        map: &BTreeMap<K, V>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(map.iter())
    }

    pub fn deserialize<
        'de,
        D: Deserializer<'de>,
        K: Deserialize<'de> + Ord,
        V: Deserialize<'de>,
    >(
        deserializer: D,
    ) -> Result<BTreeMap<K, V>, D::Error> {
        Vec::<(K, V)>::deserialize(deserializer).map(|pairs| pairs.into_iter().collect())
    }
}

/// Where a task is in its lifecycle (ECS task lastStatus).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum TaskState {
    /// Resources (ENI) being attached.
    Provisioning,
    /// Image pull and container start; waits here for EC2 capacity.
    Pending,
    /// Running.
    Running,
    /// Deregistered from its target groups, draining.
    Deactivating,
    /// SIGTERM sent, waiting for exit.
    Stopping,
}

/// The service-deployment ARN the simulator gives a deployment (DescribeServices'
/// `currentServiceDeployment`).
fn service_deployment_arn(key: &(String, String), deployment: u64) -> String {
    format!(
        "arn:aws:ecs:us-east-1:123456789012:service-deployment/{}/{}/{deployment}",
        key.0, key.1
    )
}

/// One task.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Task {
    /// Unique id, also the target id in target groups.
    id: u64,
    /// (cluster, service).
    service: (String, String),
    /// The deployment that launched it.
    deployment: u64,
    /// Its revision.
    task_definition: TaskDefinitionId,
    /// Lifecycle state.
    state: TaskState,
    /// When the current state ends; `None` while waiting (for EC2 capacity).
    next_at: Option<u64>,
    /// When it became RUNNING.
    running_since: Option<u64>,
    /// How its image fails, if it does.
    failure: Option<world::FailingImage>,
    /// The EC2 instance it is placed on (EC2 tasks, once placed).
    #[serde(default)]
    instance: Option<String>,
    /// Registered in the alternate target groups (green of a traffic-shifting deployment).
    #[serde(default)]
    alternate: bool,
    /// The digest each container runs (its deployment's).
    #[serde(default)]
    images: crate::model::image::ImageDigests,
}

/// One deployment of a service.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Deployment {
    /// Unique id.
    id: u64,
    /// What it runs.
    task_definition: TaskDefinitionId,
    /// ECS rolloutState.
    rollout: RolloutState,
    /// Why it failed, if it did.
    reason: String,
    /// Tasks of it that failed while it was in progress (circuit-breaker count).
    failed_tasks: u32,
    /// EXTERNAL task sets: percent of the service's desired count this set runs.
    scale_percent: Option<f64>,
    /// Traffic-shifting strategies: its tasks register in the alternate target groups.
    #[serde(default)]
    alternate: bool,
    /// Traffic-shifting strategies: the share of production traffic it gets while it shifts.
    #[serde(default)]
    traffic_percent: Option<f64>,
    /// Traffic-shifting strategies: the step it is at, and since when (ms).
    #[serde(default)]
    shift: Option<(usize, u64)>,
    /// An older deployment during a rolling one: tasks owed to it, started from its own revision
    /// (a failed task of it replaced, its share of a scale-out; ECS since 2025-11).
    #[serde(default)]
    owed: u32,
    /// The digest of each container's image, resolved when the deployment started: all its tasks
    /// run these, wherever the tags point later.
    #[serde(default)]
    images: crate::model::image::ImageDigests,
    /// When it started (ms): an alarm fails it only by going to ALARM after this.
    #[serde(default)]
    started_ms: u64,
}

/// One service.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Service {
    /// Cluster name.
    cluster: String,
    /// Service name.
    name: String,
    /// Desired count.
    desired_count: u32,
    /// FARGATE or EC2 (EC2 tasks need a slot on an instance).
    ec2: bool,
    /// Rolling-update bounds.
    config: DeploymentConfiguration,
    /// ECS or EXTERNAL.
    controller: DeploymentController,
    /// Target groups.
    load_balancers: Vec<crate::model::aws::LoadBalancerInput>,
    /// Grace period for ELB health checks, ms.
    grace_ms: u64,
    /// Deployments, primary first.
    deployments: Vec<Deployment>,
    /// The revision of the last COMPLETED deployment: where the circuit breaker rolls back to.
    last_completed: Option<TaskDefinitionId>,
    /// What DescribeServices showed before the last update, and until when it may still show it.
    stale: Option<(ServiceDescription, u64)>,
    /// DeleteService was called: DRAINING until its last task stops, then gone (INACTIVE).
    draining: bool,
    /// Tags given at creation.
    tags: BTreeMap<String, String>,
    /// Placement, platform version, ECS Exec, tag propagation: kept and reported, not modelled.
    #[serde(default)]
    options: crate::model::aws::ServiceOptions,
    /// Traffic-shifting strategies: whether production traffic is on the alternate target groups
    /// (they swap roles at each completed deployment).
    #[serde(default)]
    production_alternate: bool,
    /// Tasks started for it so far.
    #[serde(default)]
    launched: u64,
}

/// A target group and its targets.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct TargetGroup {
    /// The load balancer in front of it (one per stack in the simulator).
    load_balancer: String,
    /// Health-check settings.
    health: HealthCheckSettings,
    /// Draining time, ms.
    deregistration_delay_ms: u64,
    /// Targets by task id.
    targets: BTreeMap<u64, elb::Target>,
}

/// Per-second counts of one service, for timelines and invariant checks.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceSample {
    /// Desired count.
    pub desired: u32,
    /// RUNNING tasks.
    pub running: u32,
    /// PROVISIONING and PENDING tasks.
    pub pending: u32,
    /// Tasks ECS counts as healthy.
    pub healthy: u32,
    /// Tasks still billed but leaving (DEACTIVATING, STOPPING).
    pub stopping: u32,
    /// Average CPU of running tasks this second, if any run.
    pub cpu_percent: Option<f64>,
    /// Offered load.
    pub rps: f64,
    /// 5XX responses this second (ELB and target).
    pub http_5xx: f64,
    /// Whether offered load exceeded healthy capacity.
    pub overloaded: bool,
    /// Whether a deployment other than the first is in progress.
    pub rolling_out: bool,
    /// The deployment bounds in force, for invariant checks.
    pub minimum_healthy_percent: u32,
    /// The deployment bounds in force, for invariant checks.
    pub maximum_percent: u32,
    /// While a traffic-shifting deployment runs: the share of production traffic on the new
    /// tasks (green), percent.
    pub traffic_shifted_percent: Option<f64>,
    /// Tasks started for the service since it was created.
    pub launched: u64,
}

/// The simulated AWS account. It can be saved and restored whole ([`Sim::save`], [`Sim::restore`]):
/// `tug controller --cloud sim` keeps it beside its store, so stopping and starting the
/// controller finds the same account.
#[derive(Debug, Serialize, Deserialize)]
pub struct Sim {
    /// Simulated milliseconds since the start.
    now_ms: u64,
    /// The world's behaviour.
    world: World,
    /// The world's random stream (durations, noise, check offsets).
    rng: Rng,
    /// Throttling, faults and the call log.
    api: ApiFront,
    /// Registered revisions per family.
    task_definitions: BTreeMap<String, Vec<TaskDefinitionInput>>,
    /// Services by (cluster, name).
    #[serde(with = "pairs")]
    services: BTreeMap<(String, String), Service>,
    /// Live tasks (not yet STOPPED) by id.
    tasks: BTreeMap<u64, Task>,
    /// Ids of each service's live tasks: per-service work stays proportional to that service.
    #[serde(with = "pairs")]
    by_service: BTreeMap<(String, String), std::collections::BTreeSet<u64>>,
    /// Target groups by name.
    target_groups: BTreeMap<String, TargetGroup>,
    /// EC2 capacity per cluster: its Auto Scaling group and container instances.
    #[serde(default)]
    ec2: BTreeMap<String, ec2::Group>,
    /// CloudWatch.
    pub(crate) metrics: MetricStore,
    /// Offered load.
    load: LoadTrace,
    /// Latest per-second sample of each service.
    #[serde(with = "pairs")]
    samples: BTreeMap<(String, String), ServiceSample>,
    /// Tasks that stopped because they failed, for tests and summaries.
    failed_task_count: u64,
    /// Next id for tasks and deployments.
    next_id: u64,
    /// Images: tags, digests, lifecycle policies.
    #[serde(default)]
    registry: registry::Registry,
    /// CloudWatch alarms by name.
    #[serde(default)]
    alarms: BTreeMap<String, alarms::Alarm>,
    /// SNS messages published: (second, topic, subject, message).
    #[serde(default)]
    published: Vec<(u64, String, String, String)>,
}

impl Sim {
    /// A new, empty account at time 0.
    pub fn new(world: World, load: LoadTrace, seed: u64) -> Self {
        Self {
            now_ms: 0,
            rng: Rng::new(seed),
            api: ApiFront::new(world.api.clone(), seed),
            world,
            task_definitions: BTreeMap::new(),
            services: BTreeMap::new(),
            tasks: BTreeMap::new(),
            by_service: BTreeMap::new(),
            target_groups: BTreeMap::new(),
            ec2: BTreeMap::new(),
            metrics: MetricStore::default(),
            load,
            samples: BTreeMap::new(),
            failed_task_count: 0,
            next_id: 1,
            registry: registry::Registry::default(),
            alarms: BTreeMap::new(),
            published: Vec::new(),
        }
    }

    /// Simulated milliseconds since the start.
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// The load offered to a service at `t_s` (simulated seconds), whether or not it exists yet.
    pub fn offered_rps(&self, service: &str, t_s: u64) -> f64 {
        self.load.rps(service, t_s as f64)
    }

    /// The world's settings.
    pub fn world(&self) -> &World {
        &self.world
    }

    /// The API front door: call log and counts.
    pub fn api(&self) -> &ApiFront {
        &self.api
    }

    /// Latest per-second sample of every service.
    pub fn samples(&self) -> &BTreeMap<(String, String), ServiceSample> {
        &self.samples
    }

    /// Tasks that stopped because they failed (never ran, exited, failed health checks).
    pub fn failed_task_count(&self) -> u64 {
        self.failed_task_count
    }

    /// The whole account as JSON, to restore later.
    ///
    /// # Errors
    /// Only if a value cannot be encoded (a programming error, reported rather than panicking).
    pub fn save(&self) -> Result<String, String> {
        serde_json::to_string(&Saved {
            format: SAVED_FORMAT,
            sim: self,
        })
        .map_err(|e| e.to_string())
    }

    /// An account saved by [`Sim::save`].
    ///
    /// # Errors
    /// Text that is not a saved account of this version.
    pub fn restore(text: &str) -> Result<Sim, String> {
        #[derive(Deserialize)]
        struct Loaded {
            format: u32,
            sim: Sim,
        }
        let loaded: Loaded = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if loaded.format != SAVED_FORMAT {
            return Err(format!(
                "saved in format {}, this build reads format {SAVED_FORMAT}",
                loaded.format
            ));
        }
        Ok(loaded.sim)
    }

    /// Turns the documented API throttling on or off (setups that must be quick turn it off).
    pub fn set_throttling(&mut self, on: bool) {
        self.world.api.throttling = on;
        self.api.set_throttling(on);
    }

    /// How many services the account has (deleted ones still draining included).
    pub fn service_count(&self) -> usize {
        self.services.len()
    }

    /// Replaces the offered load (from now on; the trace is indexed by simulated seconds).
    pub fn set_load(&mut self, load: LoadTrace) {
        self.load = load;
    }

    /// Runs the world forward to `t_ms`: one tick at every whole simulated second on the way, so
    /// the world moves in the same steps however often it is asked to.
    pub fn advance_to(&mut self, t_ms: u64) {
        loop {
            let next = (self.now_ms / SECOND + 1) * SECOND;
            if next > t_ms {
                break;
            }
            self.now_ms = next;
            self.tick();
        }
        self.now_ms = self.now_ms.max(t_ms);
    }

    /// One simulated second: lifecycle, health checks, schedulers, traffic, metrics.
    fn tick(&mut self) {
        self.advance_ec2();
        self.advance_tasks();
        self.evaluate_managed_scaling();
        self.run_health_checks();
        let keys: Vec<(String, String)> = self.services.keys().cloned().collect();
        for key in &keys {
            self.schedule(key);
        }
        // A deleted service is INACTIVE once its last task has stopped: DescribeServices leaves it
        // out, as it does an unknown service.
        self.services.retain(|key, service| {
            !service.draining || self.by_service.get(key).is_some_and(|ids| !ids.is_empty())
        });
        self.serve_traffic();
    }

    /// Sets a target group's deregistration delay as its template would (not an API call).
    pub fn set_deregistration_delay(&mut self, name: &str, seconds: u32) {
        if let Some(group) = self.target_groups.get_mut(name) {
            group.deregistration_delay_ms = u64::from(seconds) * SECOND;
        }
    }

    /// Creates a target group (in real accounts this is infrastructure, not a controller call).
    pub fn create_target_group(
        &mut self,
        name: &str,
        load_balancer: &str,
        health: Option<HealthCheckSettings>,
    ) {
        let defaults = &self.world.target_groups;
        let health = health.unwrap_or_else(|| HealthCheckSettings {
            path: "/".to_owned(),
            interval_seconds: defaults.health_check.interval_seconds,
            timeout_seconds: defaults.health_check.timeout_seconds,
            healthy_threshold: defaults.health_check.healthy_threshold,
            unhealthy_threshold: defaults.health_check.unhealthy_threshold,
        });
        self.target_groups
            .entry(name.to_owned())
            .or_insert(TargetGroup {
                load_balancer: load_balancer.to_owned(),
                health,
                deregistration_delay_ms: defaults.deregistration_delay_seconds * SECOND,
                targets: BTreeMap::new(),
            });
    }

    /// Deletes a target group out of band (someone else's change; the controller never does):
    /// its targets are gone with it.
    pub fn delete_target_group(&mut self, name: &str) {
        self.target_groups.remove(name);
    }

    /// Admits a call through the front door; a refused one becomes the matching error.
    fn call(&mut self, operation: Operation) -> Result<(), CloudError> {
        match self.api.admit(operation, self.now_ms) {
            Outcome::Ok => Ok(()),
            Outcome::Throttled => Err(CloudError::Throttled { operation }),
            Outcome::ServerError | Outcome::ClientError => Err(CloudError::Server {
                operation,
                message: "injected server error".to_owned(),
            }),
        }
    }

    /// Refuses a batch larger than the API allows (DescribeServices 10, GetMetricData 500).
    fn check_batch(
        &mut self,
        operation: Operation,
        count: usize,
        max: usize,
        noun: &str,
    ) -> Result<(), CloudError> {
        if count > max {
            return Err(self.client_error(
                operation,
                format!("at most {max} {noun} per call, got {count}"),
            ));
        }
        Ok(())
    }

    /// Whether a service's `monitoringConfiguration` publishes 20-second CPU.
    fn fine_cpu(&self, key: &(String, String)) -> bool {
        self.services
            .get(key)
            .is_some_and(|s| s.options.cpu_resolution_seconds == Some(FINE_CPU_PERIOD_SECONDS))
    }

    /// Every target group a service's tasks may be registered in: its own, and the alternate
    /// ones of a traffic-shifting strategy.
    fn target_groups_of(&self, key: &(String, String)) -> Vec<String> {
        self.services
            .get(key)
            .map(|s| {
                s.load_balancers
                    .iter()
                    .flat_map(|lb| {
                        std::iter::once(lb.target_group.clone()).chain(
                            lb.advanced
                                .as_ref()
                                .map(|a| a.alternate_target_group.clone()),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The target groups one task is registered in: green of a traffic-shifting deployment in
    /// the alternate ones, every other task in the service's own.
    fn target_groups_of_task(&self, task: &Task) -> Vec<String> {
        self.services
            .get(&task.service)
            .map(|s| {
                s.load_balancers
                    .iter()
                    .map(|lb| match (&lb.advanced, task.alternate) {
                        (Some(a), true) => a.alternate_target_group.clone(),
                        _ => lb.target_group.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn client_error(&mut self, operation: Operation, message: String) -> CloudError {
        self.api.reject();
        CloudError::Invalid { operation, message }
    }

    /// RegisterTaskDefinition: always a new revision (the API has no idempotency token).
    ///
    /// # Errors
    /// Throttling or an injected fault.
    pub fn register_task_definition(
        &mut self,
        input: TaskDefinitionInput,
    ) -> Result<RegisteredRevision, CloudError> {
        self.call(Operation::RegisterTaskDefinition)?;
        self.api.about(input.family.clone());
        let revisions = self
            .task_definitions
            .entry(input.family.clone())
            .or_default();
        revisions.push(input.clone());
        let id = TaskDefinitionId {
            family: input.family,
            revision: u32::try_from(revisions.len()).unwrap_or(u32::MAX),
        };
        Ok(self.registered(id))
    }

    /// The ARN ECS gives a revision in this account.
    fn registered(&self, id: TaskDefinitionId) -> RegisteredRevision {
        RegisteredRevision {
            arn: format!(
                "arn:aws:ecs:{}:{}:task-definition/{id}",
                self.world.account.region, self.world.account.account_id
            ),
            id,
        }
    }

    /// DescribeTaskDefinition of one revision: `None` when it does not exist.
    ///
    /// # Errors
    /// Throttling or an injected fault.
    pub fn describe_task_definition(
        &mut self,
        id: &TaskDefinitionId,
    ) -> Result<Option<(RegisteredRevision, TaskDefinitionInput)>, CloudError> {
        self.call(Operation::DescribeTaskDefinition)?;
        self.api.about(id.to_string());
        Ok(self
            .revision(id)
            .cloned()
            .map(|definition| (self.registered(id.clone()), definition)))
    }

    /// DescribeTaskDefinition by family: its latest revision, if any.
    ///
    /// # Errors
    /// Throttling or an injected fault.
    pub fn describe_latest_task_definition(
        &mut self,
        family: &str,
    ) -> Result<Option<(RegisteredRevision, TaskDefinitionInput)>, CloudError> {
        self.call(Operation::DescribeTaskDefinition)?;
        self.api.about(family.to_owned());
        let latest = self.task_definitions.get(family).and_then(|revisions| {
            let latest = revisions.last()?;
            let revision = u32::try_from(revisions.len()).ok()?;
            Some((
                TaskDefinitionId {
                    family: family.to_owned(),
                    revision,
                },
                latest.clone(),
            ))
        });
        Ok(latest.map(|(id, definition)| (self.registered(id), definition)))
    }

    fn revision(&self, id: &TaskDefinitionId) -> Option<&TaskDefinitionInput> {
        let index = usize::try_from(id.revision).ok()?.checked_sub(1)?;
        self.task_definitions.get(&id.family)?.get(index)
    }

    /// CreateService: the first deployment starts at once.
    ///
    /// # Errors
    /// A service of that name exists, the revision or a target group is unknown, throttling, faults.
    pub fn create_service(
        &mut self,
        input: CreateServiceInput,
    ) -> Result<ServiceDescription, CloudError> {
        const OP: Operation = Operation::CreateService;
        self.call(OP)?;
        self.api
            .about(format!("{}/{}", input.cluster, input.service));
        let key = (input.cluster.clone(), input.service.clone());
        if self.services.contains_key(&key) {
            return Err(self.client_error(OP, format!("service {} already exists", input.service)));
        }
        if self.revision(&input.task_definition).is_none() {
            return Err(self.client_error(
                OP,
                format!("task definition {} does not exist", input.task_definition),
            ));
        }
        if let Some(lb) = input
            .load_balancers
            .iter()
            .find(|lb| !self.target_groups.contains_key(&lb.target_group))
        {
            return Err(self.client_error(
                OP,
                format!("target group {} does not exist", lb.target_group),
            ));
        }
        // EXTERNAL services start with no deployment: their tasks come from task sets.
        let deployments = match input.deployment_controller {
            DeploymentController::Ecs => vec![self.new_deployment(input.task_definition.clone())],
            DeploymentController::External => Vec::new(),
        };
        // EC2 tasks: the EC2 launch type, or a capacity provider that is not Fargate's.
        let ec2 = input.launch_type == "EC2"
            || input
                .options
                .capacity_provider_strategy
                .iter()
                .any(|(p, _, _)| !p.starts_with("FARGATE"));
        if ec2 {
            self.group_of(&input.cluster);
        }
        self.services.insert(
            key.clone(),
            Service {
                cluster: input.cluster,
                name: input.service,
                desired_count: input.desired_count,
                ec2,
                config: input.deployment_configuration,
                controller: input.deployment_controller,
                load_balancers: input.load_balancers,
                grace_ms: u64::from(input.health_check_grace_period_seconds) * SECOND,
                deployments,
                last_completed: None,
                stale: None,
                draining: false,
                tags: input.tags,
                options: input.options,
                production_alternate: false,
                launched: 0,
            },
        );
        Ok(self.describe(&key))
    }

    /// UpdateService: absolute values; a new task definition starts a deployment.
    ///
    /// # Errors
    /// Unknown service or revision, throttling, faults.
    pub fn update_service(
        &mut self,
        mut input: UpdateServiceInput,
    ) -> Result<ServiceDescription, CloudError> {
        const OP: Operation = Operation::UpdateService;
        self.call(OP)?;
        self.api
            .about(format!("{}/{}", input.cluster, input.service));
        let key = (input.cluster.clone(), input.service.clone());
        if !self.services.contains_key(&key) {
            return Err(self.client_error(OP, format!("service {} not found", input.service)));
        }
        if let Some(td) = &input.task_definition
            && self.revision(td).is_none()
        {
            return Err(self.client_error(OP, format!("task definition {td} does not exist")));
        }
        let external = self
            .services
            .get(&key)
            .is_some_and(|s| s.controller == DeploymentController::External);
        if external && input.task_definition.is_some() {
            return Err(self.client_error(
                OP,
                "a service with the EXTERNAL deployment controller changes task definitions through task sets".to_owned(),
            ));
        }
        let before = self.describe(&key);
        // The same task definition as the primary's starts no deployment: UpdateService with
        // absolute values is safe to repeat (aws-facts.md, "Idempotency").
        let primary = self
            .services
            .get(&key)
            .and_then(|s| s.deployments.first())
            .map(|d| d.task_definition.clone());
        let deployment = input
            .task_definition
            .clone()
            .filter(|td| Some(td) != primary.as_ref())
            .map(|td| self.new_deployment(td));
        let until = self.now_ms + self.api.consistency_delay_ms();
        let Some(service) = self.services.get_mut(&key) else {
            return Err(CloudError::Invalid {
                operation: OP,
                message: "service vanished".into(),
            });
        };
        if let Some(options) = input.options.take() {
            let send = |field: &str| input.sends_option(field);
            let kept = &mut service.options;
            if send("capacityProviderStrategy") {
                kept.capacity_provider_strategy = options.capacity_provider_strategy;
            }
            if send("placementStrategy") {
                kept.placement_strategy = options.placement_strategy;
            }
            if send("placementConstraints") {
                kept.placement_constraints = options.placement_constraints;
            }
            if send("platformVersion") {
                kept.platform_version = options.platform_version;
            }
            if send("enableExecuteCommand") {
                kept.enable_execute_command = options.enable_execute_command;
            }
            if send("propagateTags") {
                kept.propagate_tags = options.propagate_tags;
            }
            if send("monitoring") {
                kept.cpu_resolution_seconds = options.cpu_resolution_seconds;
            }
        }
        if let Some(count) = input.desired_count {
            // A scale-out during a rolling deployment applies to both revisions (ECS since
            // 2025-11): the older one's share of the new tasks, in proportion to what each runs.
            let rolling = !strategies::shifts_traffic(service)
                && service.deployments.len() > 1
                && service.deployments[0].rollout == RolloutState::InProgress;
            if rolling && count > service.desired_count {
                let counts: Vec<u32> = service
                    .deployments
                    .iter()
                    .map(|d| {
                        let n = self
                            .by_service
                            .get(&key)
                            .into_iter()
                            .flatten()
                            .filter_map(|id| self.tasks.get(id))
                            .filter(|t| t.deployment == d.id && ecs::is_active(t.state))
                            .count();
                        u32::try_from(n).unwrap_or(u32::MAX)
                    })
                    .collect();
                let total: u32 = counts.iter().sum();
                let added = count - service.desired_count;
                if total > 0 {
                    for (d, n) in service.deployments.iter_mut().zip(&counts).skip(1) {
                        d.owed +=
                            u32::try_from(u64::from(added) * u64::from(*n) / u64::from(total))
                                .unwrap_or(0);
                    }
                }
            }
            service.desired_count = count;
        }
        if let Some(config) = input.deployment_configuration {
            service.config = config;
        }
        if let Some(mut deployment) = deployment {
            // Green registers where production traffic is not.
            deployment.alternate =
                strategies::shifts_traffic(service) && !service.production_alternate;
            service.deployments.insert(0, deployment);
        }
        service.stale = (until > self.now_ms).then_some((before, until));
        Ok(self.describe(&key))
    }

    /// StopServiceDeployment with ROLLBACK: a traffic-shifting deployment sends production
    /// traffic back to blue and stops green (no task started); a rolling one starts a deployment
    /// of the last COMPLETED revision, as the circuit breaker's rollback does.
    ///
    /// # Errors
    /// Unknown deployment, one that is not in progress, throttling, faults.
    pub fn stop_service_deployment(&mut self, arn: &str) -> Result<(), CloudError> {
        const OP: Operation = Operation::StopServiceDeployment;
        self.call(OP)?;
        self.api.about(arn.to_owned());
        let found = self.services.iter().find_map(|(key, s)| {
            let primary = s.deployments.first()?;
            (service_deployment_arn(key, primary.id) == arn).then(|| {
                (
                    key.clone(),
                    primary.rollout,
                    strategies::shifts_traffic(s),
                    s.last_completed.clone(),
                )
            })
        });
        let Some((key, state, shifting, last_completed)) = found else {
            return Err(self.client_error(OP, format!("service deployment {arn} not found")));
        };
        if state != RolloutState::InProgress {
            return Err(
                self.client_error(OP, format!("service deployment {arn} is not in progress"))
            );
        }
        let reason = "stopped by StopServiceDeployment (ROLLBACK)".to_owned();
        if shifting {
            self.roll_back_shift(&key, reason);
            return Ok(());
        }
        let Some(previous) = last_completed else {
            return Err(self.client_error(
                OP,
                "the service has no completed deployment to roll back to".to_owned(),
            ));
        };
        let deployment = self.rollback_deployment(&key, previous);
        if let Some(service) = self.services.get_mut(&key) {
            service.deployments[0].rollout = RolloutState::Failed;
            service.deployments[0].reason = reason;
            service.deployments.insert(0, deployment);
        }
        Ok(())
    }

    /// DeleteService without `force`: ECS refuses while the desired count is above 0. The service is
    /// DRAINING until its tasks have stopped, then INACTIVE (left out of DescribeServices).
    ///
    /// # Errors
    /// Unknown service, desired count above 0, throttling, faults.
    pub fn delete_service(
        &mut self,
        cluster: &str,
        service: &str,
    ) -> Result<ServiceDescription, CloudError> {
        const OP: Operation = Operation::DeleteService;
        self.call(OP)?;
        self.api.about(format!("{cluster}/{service}"));
        let key = (cluster.to_owned(), service.to_owned());
        match self.services.get(&key).map(|s| s.desired_count) {
            None => Err(self.client_error(OP, format!("service {service} not found"))),
            Some(count) if count > 0 => Err(self.client_error(
                OP,
                format!(
                    "the service cannot be stopped while it is scaled above 0 (desiredCount {count})"
                ),
            )),
            Some(_) => {
                if let Some(s) = self.services.get_mut(&key) {
                    s.draining = true;
                    s.stale = None;
                }
                Ok(self.describe(&key))
            }
        }
    }

    /// DescribeServices: at most 10 services per call, as ECS allows.
    ///
    /// # Errors
    /// More than 10 names, throttling, faults. Unknown services are left out, as ECS reports them
    /// under `failures`.
    pub fn describe_services(
        &mut self,
        cluster: &str,
        names: &[String],
    ) -> Result<Vec<ServiceDescription>, CloudError> {
        const OP: Operation = Operation::DescribeServices;
        self.call(OP)?;
        self.api.about(format!("{cluster}/{}", names.join(",")));
        self.check_batch(OP, names.len(), 10, "services")?;
        Ok(names
            .iter()
            .filter_map(|name| {
                let key = (cluster.to_owned(), name.clone());
                let service = self.services.get(&key)?;
                match &service.stale {
                    Some((old, until)) if *until > self.now_ms => Some(old.clone()),
                    _ => Some(self.describe(&key)),
                }
            })
            .collect())
    }

    /// DescribeTargetHealth: one target group per call (no batching in ELBv2).
    ///
    /// # Errors
    /// Unknown target group, throttling, faults.
    pub fn describe_target_health(
        &mut self,
        target_group: &str,
    ) -> Result<Vec<TargetHealth>, CloudError> {
        const OP: Operation = Operation::DescribeTargetHealth;
        self.call(OP)?;
        self.api.about(target_group.to_owned());
        match self.target_groups.get(target_group) {
            Some(group) => Ok(group
                .targets
                .iter()
                .map(|(id, target)| TargetHealth {
                    task_id: format!("task-{id}"),
                    state: target.state,
                })
                .collect()),
            None => Err(self.client_error(OP, format!("target group {target_group} not found"))),
        }
    }

    /// ModifyTargetGroup: new health-check settings, used from the next check on.
    ///
    /// # Errors
    /// Unknown target group, throttling, faults.
    pub fn modify_target_group(
        &mut self,
        target_group: &str,
        health: HealthCheckSettings,
    ) -> Result<(), CloudError> {
        const OP: Operation = Operation::ModifyTargetGroup;
        self.call(OP)?;
        self.api.about(target_group.to_owned());
        match self.target_groups.get_mut(target_group) {
            Some(group) => {
                group.health = health;
                Ok(())
            }
            None => Err(self.client_error(OP, format!("target group {target_group} not found"))),
        }
    }

    /// DescribeTargetGroupAttributes' `deregistration_delay.timeout_seconds`.
    ///
    /// # Errors
    /// Unknown target group, throttling, faults.
    pub fn describe_deregistration_delay(&mut self, target_group: &str) -> Result<u32, CloudError> {
        const OP: Operation = Operation::DescribeTargetGroupAttributes;
        self.call(OP)?;
        self.api.about(target_group.to_owned());
        match self.target_groups.get(target_group) {
            Some(group) => {
                Ok(u32::try_from(group.deregistration_delay_ms / SECOND).unwrap_or(u32::MAX))
            }
            None => Err(self.client_error(OP, format!("target group {target_group} not found"))),
        }
    }

    /// ModifyTargetGroupAttributes: a new deregistration delay, for targets deregistered from now on.
    ///
    /// # Errors
    /// Unknown target group, throttling, faults.
    pub fn modify_deregistration_delay(
        &mut self,
        target_group: &str,
        seconds: u32,
    ) -> Result<(), CloudError> {
        const OP: Operation = Operation::ModifyTargetGroupAttributes;
        self.call(OP)?;
        self.api.about(target_group.to_owned());
        match self.target_groups.get_mut(target_group) {
            Some(group) => {
                group.deregistration_delay_ms = u64::from(seconds) * SECOND;
                Ok(())
            }
            None => Err(self.client_error(OP, format!("target group {target_group} not found"))),
        }
    }

    /// DescribeTargetGroups by name: the health check and load balancer of each that exists.
    ///
    /// # Errors
    /// Throttling or an injected fault.
    pub fn describe_target_groups(
        &mut self,
        names: &[String],
    ) -> Result<BTreeMap<String, TargetGroupDescription>, CloudError> {
        self.call(Operation::DescribeTargetGroups)?;
        self.api.about(names.join(","));
        Ok(names
            .iter()
            .filter_map(|name| {
                self.target_groups.get(name).map(|group| {
                    (
                        name.clone(),
                        TargetGroupDescription {
                            health_check: group.health.clone(),
                            load_balancer: Some(group.load_balancer.clone()),
                        },
                    )
                })
            })
            .collect())
    }

    /// GetMetricData: at most 500 queries per call; only datapoints already published. A query
    /// naming a target group that does not exist is reported unresolved: it has no CloudWatch
    /// dimension (the AWS adapter resolves target groups to dimensions the same way).
    ///
    /// # Errors
    /// More than 500 queries, throttling, faults.
    pub fn get_metric_data(
        &mut self,
        queries: &[MetricId],
        start_s: u64,
        end_s: u64,
    ) -> Result<MetricData, CloudError> {
        const OP: Operation = Operation::GetMetricData;
        self.call(OP)?;
        self.check_batch(OP, queries.len(), 500, "metric queries")?;
        let mut data = MetricData::default();
        for q in queries {
            let group = match q {
                MetricId::Target5xx { target_group }
                | MetricId::HealthyHosts { target_group }
                | MetricId::RequestCount { target_group } => Some(target_group),
                MetricId::ServiceCpu { .. }
                | MetricId::ServiceCpuFine { .. }
                | MetricId::Elb5xx { .. } => None,
            };
            if let Some(group) = group.filter(|g| !self.target_groups.contains_key(*g)) {
                data.unresolved
                    .insert(q.clone(), format!("target group `{group}` does not exist"));
                continue;
            }
            data.series.insert(
                q.clone(),
                self.metrics.visible(q, start_s, end_s, self.now_ms),
            );
        }
        Ok(data)
    }

    /// A target's state in a target group (`Unused` when not registered), for tests.
    pub fn target_state(&self, target_group: &str, task_id: u64) -> TargetState {
        self.target_groups
            .get(target_group)
            .and_then(|g| g.targets.get(&task_id))
            .map_or(TargetState::Unused, |t| t.state)
    }

    /// Ids and states of a service's live tasks, for tests.
    pub fn tasks_of(
        &self,
        cluster: &str,
        service: &str,
    ) -> Vec<(u64, TaskState, TaskDefinitionId)> {
        self.tasks_for(&(cluster.to_owned(), service.to_owned()))
            .map(|t| (t.id, t.state, t.task_definition.clone()))
            .collect()
    }

    /// A service's live tasks, through the index.
    fn tasks_for<'a>(&'a self, key: &(String, String)) -> impl Iterator<Item = &'a Task> + 'a {
        self.by_service
            .get(key)
            .into_iter()
            .flatten()
            .filter_map(|id| self.tasks.get(id))
    }

    /// The current description of a service, bypassing the API (for drivers and tests).
    pub fn peek_service(&self, cluster: &str, service: &str) -> Option<ServiceDescription> {
        let key = (cluster.to_owned(), service.to_owned());
        self.services
            .contains_key(&key)
            .then(|| self.describe(&key))
    }

    /// Sets a service's desired count directly, as Application Auto Scaling does from inside AWS.
    pub fn set_desired_count(&mut self, cluster: &str, service: &str, count: u32) {
        if let Some(s) = self
            .services
            .get_mut(&(cluster.to_owned(), service.to_owned()))
        {
            s.desired_count = count;
        }
    }

    fn new_deployment(&mut self, task_definition: TaskDefinitionId) -> Deployment {
        let id = self.next_id;
        self.next_id += 1;
        let images = self.resolve_images(&task_definition);
        Deployment {
            images,
            id,
            task_definition,
            rollout: RolloutState::InProgress,
            reason: String::new(),
            failed_tasks: 0,
            scale_percent: None,
            alternate: false,
            traffic_percent: None,
            shift: None,
            owed: 0,
            started_ms: self.now_ms,
        }
    }

    /// ECS's own rollback to `previous`: a new deployment of it that runs the digests its last
    /// deployment ran, not what its tags name now.
    fn rollback_deployment(
        &mut self,
        key: &(String, String),
        previous: TaskDefinitionId,
    ) -> Deployment {
        let ran = self.services.get(key).and_then(|s| {
            s.deployments
                .iter()
                .find(|d| d.task_definition == previous)
                .map(|d| d.images.clone())
        });
        let mut deployment = self.new_deployment(previous);
        if let Some(images) = ran.filter(|i| !i.is_empty()) {
            deployment.images = images;
        }
        deployment
    }

    /// Crashes a task (its host failed, say): it stops as a failed task, and ECS replaces it.
    pub fn crash_task(&mut self, id: u64) {
        self.begin_stop(id, true);
    }
}
