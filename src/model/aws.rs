//! The shared ECS, ELBv2 and CloudWatch vocabulary: what the controller sends to and reads from AWS,
//! in tugboat's own types (no SDK types), so the planner, the simulator and the real adapter speak
//! one language. Names follow the ECS, ELBv2 and CloudWatch APIs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A task definition as registered (RegisterTaskDefinition's input, the parts tugboat manages).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskDefinitionInput {
    /// Family name.
    pub family: String,
    /// Task CPU units, if set at task level.
    pub cpu: Option<u32>,
    /// Task memory (MiB), if set at task level.
    pub memory: Option<u32>,
    /// `awsvpc`, `bridge`, `host` or `none`.
    pub network_mode: String,
    /// `FARGATE` for Fargate tasks; empty for EC2 (ECS's default).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requires_compatibilities: Vec<String>,
    /// Role ECS uses to pull images and write logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_role_arn: Option<String>,
    /// Role the containers assume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_role_arn: Option<String>,
    /// Containers.
    pub containers: Vec<ContainerInput>,
    /// Tags to put on a new revision. Not part of the definition: left out of its digest and of
    /// comparisons (serde skips it).
    #[serde(skip)]
    pub tags: BTreeMap<String, String>,
}

/// What one task takes on an EC2 instance: the room ECS's placement needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlacementNeeds {
    /// CPU units.
    pub cpu: u32,
    /// MiB (the hard limit, or the soft reservation where only that is set).
    pub memory: u32,
    /// Static host ports (bridge or host networking); dynamic ports (0) are not listed.
    pub host_ports: Vec<u32>,
}

impl TaskDefinitionInput {
    /// The room a task of this definition takes on an instance. CPU and memory are the task's, or
    /// the sum of its containers' (the hard limit where set, else the reservation). Static host
    /// ports come from bridge mode's non-zero host ports and host mode's ports (the container
    /// port where no host port is given); awsvpc tasks take none (each has its own interface).
    pub fn placement_needs(&self) -> PlacementNeeds {
        let containers = &self.containers;
        let host_ports = match self.network_mode.as_str() {
            "host" => containers
                .iter()
                .flat_map(|c| {
                    c.ports
                        .iter()
                        .map(|p| c.host_ports.get(p).copied().unwrap_or(*p))
                })
                .collect(),
            "bridge" => containers
                .iter()
                .flat_map(|c| c.host_ports.values().copied().filter(|h| *h > 0))
                .collect(),
            _ => Vec::new(),
        };
        PlacementNeeds {
            cpu: task_reservation(self.cpu, containers.iter().map(|c| c.cpu)),
            memory: task_reservation(
                self.memory,
                containers.iter().map(|c| c.memory.or(c.memory_reservation)),
            ),
            host_ports,
        }
    }
}

/// What a task reserves of one resource on an instance: the task-level figure where the task
/// definition sets one, else the sum of its containers' (those that set none count for nothing).
/// The manifest's validation and the placement read it alike. The sum saturates: containers whose
/// figures overflow a `u32` reserve more than any instance has, which validation then says.
pub fn task_reservation(
    task: Option<u32>,
    containers: impl IntoIterator<Item = Option<u32>>,
) -> u32 {
    task.unwrap_or_else(|| {
        containers
            .into_iter()
            .flatten()
            .fold(0, u32::saturating_add)
    })
}

/// A container definition, the parts tugboat manages.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerInput {
    /// Container name.
    pub name: String,
    /// Image reference: the simulator looks failing images up by it.
    pub image: String,
    /// Whether the task stops when this container stops.
    pub essential: bool,
    /// Container ports.
    pub ports: Vec<u32>,
    /// Host ports where set (bridge and host network modes), by container port.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub host_ports: BTreeMap<u32, u32>,
    /// Container ports mapped over UDP (the others are TCP).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub udp_ports: Vec<u32>,
    /// CPU units reserved for the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<u32>,
    /// Hard memory limit, MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<u32>,
    /// Soft memory limit, MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_reservation: Option<u32>,
    /// Environment variables.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, String>,
    /// Command, replacing the image's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// Secrets by variable name: the ARN ECS reads each value from.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, String>,
    /// Log driver and options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_configuration: Option<LogConfiguration>,
    /// Docker health check, ECS's defaults filled in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<ContainerHealthCheckInput>,
    /// Seconds between SIGTERM and SIGKILL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<u32>,
    /// Conditions on other containers, by container name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub depends_on: BTreeMap<String, String>,
    /// Resource limits by name: (soft, hard).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ulimits: BTreeMap<String, (u32, u32)>,
    /// Read-only root filesystem.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub readonly_root_filesystem: bool,
    /// User the container runs as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// A container's log configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogConfiguration {
    /// `awslogs`, `splunk`...
    pub log_driver: String,
    /// Driver options.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
    /// Options read from Secrets Manager or SSM, by option name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secret_options: BTreeMap<String, String>,
}

/// A container health check with every value explicit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerHealthCheckInput {
    /// `CMD` or `CMD-SHELL` and its arguments.
    pub command: Vec<String>,
    /// Seconds between checks.
    pub interval: u32,
    /// Seconds a check may take.
    pub timeout: u32,
    /// Failures before unhealthy.
    pub retries: u32,
    /// Grace seconds after start.
    pub start_period: u32,
}

/// ECS's container health-check defaults, filled in on both sides of a comparison.
pub const CONTAINER_HEALTH_DEFAULTS: (u32, u32, u32, u32) = (30, 5, 3, 0);

/// A registered revision: `family:revision`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TaskDefinitionId {
    /// Family name.
    pub family: String,
    /// Revision, from 1.
    pub revision: u32,
}

impl std::fmt::Display for TaskDefinitionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.family, self.revision)
    }
}

/// A revision as the account knows it: `family:revision` and its ARN (which names the account
/// and region too, so a revision is never confused with one of another account's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisteredRevision {
    /// `family:revision`.
    pub id: TaskDefinitionId,
    /// `arn:aws:ecs:REGION:ACCOUNT:task-definition/FAMILY:REVISION`.
    pub arn: String,
}

/// ECS deployment configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentConfiguration {
    /// Lower bound on healthy tasks, percent of desired, rounded up.
    pub minimum_healthy_percent: u32,
    /// Upper bound on running + pending tasks, percent of desired, rounded down.
    pub maximum_percent: u32,
    /// Deployment circuit breaker on.
    pub circuit_breaker: bool,
    /// With the circuit breaker: roll back to the last COMPLETED deployment when it trips.
    pub rollback: bool,
    /// ROLLING, or a traffic-shifting strategy with its steps and bakes.
    #[serde(default, skip_serializing_if = "Strategy::is_rolling")]
    pub strategy: Strategy,
    /// The circuit breaker's threshold (`COUNT`, `BOUNDED_PERCENT`... and its value); `None`
    /// for ECS's default (half the desired count, within 3 and 200).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_threshold: Option<(String, u32)>,
    /// The circuit breaker's `resetOnHealthyTask`; `None` for ECS's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_on_healthy_task: Option<bool>,
    /// CloudWatch alarms that fail (and roll back) a deployment.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alarms: Vec<String>,
}

impl DeploymentConfiguration {
    /// A rolling configuration with these bounds and the circuit breaker on, without rollback
    /// (tugboat chooses where to roll back to).
    pub fn rolling(minimum_healthy_percent: u32, maximum_percent: u32) -> Self {
        Self {
            minimum_healthy_percent,
            maximum_percent,
            circuit_breaker: true,
            rollback: false,
            strategy: Strategy::Rolling,
            failure_threshold: None,
            reset_on_healthy_task: None,
            alarms: Vec::new(),
        }
    }
}

impl DeploymentConfiguration {
    /// Whether the reported configuration `seen` is this one: unset optional fields (the
    /// circuit breaker's threshold and reset) accept ECS's defaults, whatever they are reported as.
    pub fn satisfied_by(&self, seen: &DeploymentConfiguration) -> bool {
        self.minimum_healthy_percent == seen.minimum_healthy_percent
            && self.maximum_percent == seen.maximum_percent
            && self.circuit_breaker == seen.circuit_breaker
            && self.rollback == seen.rollback
            && self.strategy == seen.strategy
            && self
                .failure_threshold
                .as_ref()
                .is_none_or(|t| seen.failure_threshold.as_ref() == Some(t))
            && self
                .reset_on_healthy_task
                .is_none_or(|r| seen.reset_on_healthy_task == Some(r))
            && self.alarms == seen.alarms
    }

    /// Failed tasks that fail a deployment of `desired` tasks: the configured threshold, or ECS's
    /// default, half the desired count rounded up within [3, 200] (`BOUNDED_PERCENT` 50).
    pub fn failure_threshold_for(&self, desired: u32) -> u32 {
        let percent_of = |p: u32| {
            u32::try_from((u64::from(desired) * u64::from(p)).div_ceil(100)).unwrap_or(u32::MAX)
        };
        match &self.failure_threshold {
            Some((kind, value)) if kind == "COUNT" => (*value).max(1),
            Some((kind, value)) if kind == "UNBOUNDED_PERCENT" => percent_of(*value).max(1),
            Some((_, value)) => percent_of(*value).clamp(3, 200),
            None => default_failure_threshold(desired),
        }
    }

    /// In a few words: `ROLLING 100%/200%`, `CANARY 10% for 5 min, bake 0 min`...
    pub fn summary(&self) -> String {
        let bounds = format!(
            "{}%/{}%",
            self.minimum_healthy_percent, self.maximum_percent
        );
        let mut text = match &self.strategy {
            Strategy::Rolling => format!("ROLLING {bounds}"),
            Strategy::BlueGreen { bake_minutes } => format!("BLUE_GREEN, bake {bake_minutes} min"),
            Strategy::Canary {
                percent,
                canary_bake_minutes,
                bake_minutes,
            } => {
                format!("CANARY {percent}% for {canary_bake_minutes} min, bake {bake_minutes} min")
            }
            Strategy::Linear {
                step_percent,
                step_bake_minutes,
                bake_minutes,
            } => format!(
                "LINEAR {step_percent}% every {step_bake_minutes} min, bake {bake_minutes} min"
            ),
        };
        if !self.circuit_breaker {
            text.push_str(", circuit breaker off");
        }
        if !self.alarms.is_empty() {
            text.push_str(&format!(", alarms {}", self.alarms.join(",")));
        }
        text
    }
}

/// ECS's default circuit-breaker threshold: half the desired count rounded up, within [3, 200].
pub fn default_failure_threshold(desired: u32) -> u32 {
    desired.div_ceil(2).clamp(3, 200)
}

/// An Application Auto Scaling step adjustment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StepAdjustment {
    /// Add or remove this many tasks.
    ChangeInCapacity(u32),
    /// Add or remove this percent of the current count, rounded toward zero, at least one task
    /// (MinAdjustmentMagnitude 1).
    PercentChangeInCapacity(u32),
}

impl StepAdjustment {
    /// Tasks this step adds or removes at `current` tasks.
    pub fn tasks(self, current: u32) -> u32 {
        match self {
            Self::ChangeInCapacity(n) => n,
            Self::PercentChangeInCapacity(p) => {
                u32::try_from(u64::from(current) * u64::from(p) / 100)
                    .unwrap_or(u32::MAX)
                    .max(1)
            }
        }
    }

    /// `+2`, `+25% (3)`: the step in a decision's reason.
    pub fn describe(self, current: u32, sign: char) -> String {
        match self {
            Self::ChangeInCapacity(n) => format!("{sign}{n}"),
            Self::PercentChangeInCapacity(p) => {
                format!("{sign}{p}% of {current} ({sign}{})", self.tasks(current))
            }
        }
    }
}

/// ECS's `deploymentConfiguration.strategy` and the fields that go with it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Strategy {
    /// Tasks replaced in batches.
    #[default]
    Rolling,
    /// All traffic shifted to green at once; blue kept `bake_minutes`.
    BlueGreen {
        /// `bakeTimeInMinutes`.
        bake_minutes: u32,
    },
    /// `percent` of traffic for `canary_bake_minutes`, then the rest; blue kept `bake_minutes`.
    Canary {
        /// `canaryConfiguration.canaryPercent`.
        percent: f64,
        /// `canaryConfiguration.canaryBakeTimeInMinutes`.
        canary_bake_minutes: u32,
        /// `bakeTimeInMinutes`.
        bake_minutes: u32,
    },
    /// `step_percent` more traffic every `step_bake_minutes`; blue kept `bake_minutes`.
    Linear {
        /// `linearConfiguration.stepPercent`.
        step_percent: f64,
        /// `linearConfiguration.stepBakeTimeInMinutes`.
        step_bake_minutes: u32,
        /// `bakeTimeInMinutes`.
        bake_minutes: u32,
    },
}

impl Strategy {
    /// The strategy a manifest's `deployment.strategy` stands for.
    pub fn of(spec: &crate::manifest::spec::DeploymentStrategy) -> Self {
        use crate::manifest::spec::DeploymentStrategy as S;
        match spec {
            S::Rolling => Self::Rolling,
            S::BlueGreen(b) => Self::BlueGreen {
                bake_minutes: b.bake_minutes,
            },
            S::Canary(c) => Self::Canary {
                percent: c.percent,
                canary_bake_minutes: c.bake_minutes,
                bake_minutes: c.final_bake_minutes,
            },
            S::Linear(l) => Self::Linear {
                step_percent: l.step_percent,
                step_bake_minutes: l.step_bake_minutes,
                bake_minutes: l.final_bake_minutes,
            },
        }
    }

    /// Whether this is the rolling update.
    pub fn is_rolling(&self) -> bool {
        matches!(self, Self::Rolling)
    }

    /// ECS's name.
    pub fn ecs_name(&self) -> &'static str {
        match self {
            Self::Rolling => "ROLLING",
            Self::BlueGreen { .. } => "BLUE_GREEN",
            Self::Canary { .. } => "CANARY",
            Self::Linear { .. } => "LINEAR",
        }
    }

    /// The production traffic share green gets, step by step, each with the minutes it is held
    /// (the last step is 100 % held for the final bake); empty for a rolling update.
    pub fn steps(&self) -> Vec<(f64, u32)> {
        match *self {
            Self::Rolling => Vec::new(),
            Self::BlueGreen { bake_minutes } => vec![(100.0, bake_minutes)],
            Self::Canary {
                percent,
                canary_bake_minutes,
                bake_minutes,
            } => {
                if percent >= 100.0 {
                    vec![(100.0, canary_bake_minutes.max(bake_minutes))]
                } else {
                    vec![(percent, canary_bake_minutes), (100.0, bake_minutes)]
                }
            }
            Self::Linear {
                step_percent,
                step_bake_minutes,
                bake_minutes,
            } => {
                let mut steps = Vec::new();
                let mut share = 0.0;
                while share + step_percent < 100.0 - 1e-9 {
                    share += step_percent;
                    steps.push((share, step_bake_minutes));
                }
                steps.push((100.0, bake_minutes));
                steps
            }
        }
    }
}

/// How a service's deployments are driven.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeploymentController {
    /// ECS's rolling update.
    Ecs,
    /// Task sets managed by the caller (CreateTaskSet, UpdateTaskSet `scale`).
    External,
}

/// Service settings beyond the count, the revision and the deployment: where and how tasks are
/// placed and tagged. Set at creation and kept in place by UpdateService.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceOptions {
    /// Capacity providers (instead of a launch type): (name, weight, base).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capacity_provider_strategy: Vec<(String, u32, u32)>,
    /// Placement strategies, in order: (type, field).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub placement_strategy: Vec<(String, Option<String>)>,
    /// Placement constraints: (type, expression).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub placement_constraints: Vec<(String, Option<String>)>,
    /// Fargate platform version; `None` for ECS's default (`LATEST`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_version: Option<String>,
    /// ECS Exec allowed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub enable_execute_command: bool,
    /// `SERVICE`, `TASK_DEFINITION` or `NONE`.
    pub propagate_tags: String,
    /// `monitoringConfiguration`'s resolution of CPUUtilization: `Some(20)` for 20-second
    /// datapoints; `None` for ECS's 60. DescribeServices does not report it, so it is not part of
    /// [`ServiceOptions::drift`]: the controller remembers what it set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_resolution_seconds: Option<u32>,
}

impl ServiceOptions {
    /// What differs between the wanted options (`self`) and the reported ones, as field names;
    /// ECS's defaults compare equal to an unset field, and a service that names no capacity
    /// provider accepts whatever the cluster's default strategy gave it.
    pub fn drift(&self, reported: &ServiceOptions) -> Vec<&'static str> {
        let mut fields = Vec::new();
        if !self.capacity_provider_strategy.is_empty()
            && self.capacity_provider_strategy != reported.capacity_provider_strategy
        {
            fields.push("capacityProviderStrategy");
        }
        if self.placement_strategy != reported.placement_strategy {
            fields.push("placementStrategy");
        }
        if self.placement_constraints != reported.placement_constraints {
            fields.push("placementConstraints");
        }
        let version = |v: &Option<String>| v.clone().filter(|v| v != "LATEST");
        if version(&self.platform_version) != version(&reported.platform_version) {
            fields.push("platformVersion");
        }
        if self.enable_execute_command != reported.enable_execute_command {
            fields.push("enableExecuteCommand");
        }
        let propagate = |p: &str| {
            if p.is_empty() {
                "NONE".to_owned()
            } else {
                p.to_owned()
            }
        };
        if propagate(&self.propagate_tags) != propagate(&reported.propagate_tags) {
            fields.push("propagateTags");
        }
        fields
    }
}

/// A service's attachment to a target group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadBalancerInput {
    /// Target group name.
    pub target_group: String,
    /// Container registered.
    pub container_name: String,
    /// Its port.
    pub container_port: u32,
    /// Blue/green, canary, linear: where green registers, and how ECS shifts traffic to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advanced: Option<AdvancedLoadBalancer>,
}

/// ECS's `loadBalancers[].advancedConfiguration`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdvancedLoadBalancer {
    /// The alternate target group (green's), by name.
    pub alternate_target_group: String,
    /// The production listener rule (or listener) ARN.
    pub production_listener_rule: String,
    /// The test listener rule ARN, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_listener_rule: Option<String>,
    /// The role ECS changes the rules with.
    pub role_arn: String,
}

/// CreateService's input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateServiceInput {
    /// Cluster name.
    pub cluster: String,
    /// Service name.
    pub service: String,
    /// Task definition revision to run.
    pub task_definition: TaskDefinitionId,
    /// Desired task count.
    pub desired_count: u32,
    /// `FARGATE` or `EC2`: where the tasks run (not sent when `options` names capacity providers).
    pub launch_type: String,
    /// Placement, platform version, ECS Exec, tag propagation.
    #[serde(default)]
    pub options: ServiceOptions,
    /// Rolling-update bounds and circuit breaker.
    pub deployment_configuration: DeploymentConfiguration,
    /// ECS or EXTERNAL.
    pub deployment_controller: DeploymentController,
    /// Target groups.
    pub load_balancers: Vec<LoadBalancerInput>,
    /// Seconds after start during which failing ELB health checks do not stop a task.
    pub health_check_grace_period_seconds: u32,
    /// awsvpc networking (required for Fargate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkInput>,
    /// Tags marking the service as tugboat's (`tugboat:stack`, `tugboat:managed-by`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// CreateService's idempotency token (at most 36 characters); empty for none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub client_token: String,
}

/// A service's awsvpc network configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkInput {
    /// Subnet ids.
    pub subnets: Vec<String>,
    /// Security group ids.
    pub security_groups: Vec<String>,
    /// Whether tasks get a public IP.
    pub assign_public_ip: bool,
}

/// UpdateService's input: absolute values, so repeating it is safe.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateServiceInput {
    /// Cluster name.
    pub cluster: String,
    /// Service name.
    pub service: String,
    /// New desired count.
    pub desired_count: Option<u32>,
    /// New task definition: starts a deployment.
    pub task_definition: Option<TaskDefinitionId>,
    /// New deployment configuration.
    pub deployment_configuration: Option<DeploymentConfiguration>,
    /// New placement, platform version, ECS Exec and tag-propagation settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<ServiceOptions>,
    /// Which of `options` to send, by field name (`placementStrategy`...); empty sends them all.
    /// Only what drifted is sent, so a Fargate service is never sent an (empty) placement list.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub option_fields: Vec<String>,
}

impl UpdateServiceInput {
    /// Whether the update sends the option `field` (`placementStrategy`...): every one when
    /// `option_fields` is empty, else those it names.
    pub fn sends_option(&self, field: &str) -> bool {
        self.option_fields.is_empty() || self.option_fields.iter().any(|f| f == field)
    }
}

/// ECS's rollout state of a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RolloutState {
    /// Still replacing tasks.
    InProgress,
    /// Reached steady state.
    Completed,
    /// The circuit breaker tripped.
    Failed,
}

/// One deployment of a service, as DescribeServices shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentDescription {
    /// Deployment id.
    pub id: String,
    /// `PRIMARY` (newest) or `ACTIVE` (being drained).
    pub status: String,
    /// Its task definition.
    pub task_definition: TaskDefinitionId,
    /// Tasks it aims for.
    pub desired_count: u32,
    /// Its RUNNING tasks.
    pub running_count: u32,
    /// Its tasks not yet RUNNING.
    pub pending_count: u32,
    /// Tasks of it that failed (circuit-breaker count).
    pub failed_tasks: u32,
    /// IN_PROGRESS, COMPLETED or FAILED.
    pub rollout_state: RolloutState,
    /// Why, when it failed.
    pub rollout_state_reason: String,
}

/// DescribeServices' view of one service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceDescription {
    /// Cluster name.
    pub cluster: String,
    /// Service name.
    pub service: String,
    /// `ACTIVE`, `DRAINING` or `INACTIVE`.
    pub status: String,
    /// Desired task count.
    pub desired_count: u32,
    /// RUNNING tasks.
    pub running_count: u32,
    /// Tasks not yet RUNNING.
    pub pending_count: u32,
    /// The primary deployment's task definition.
    pub task_definition: TaskDefinitionId,
    /// Deployment configuration in force; `None` when the answer left it out (moto does; AWS
    /// always reports it), and then it is not compared.
    pub deployment_configuration: Option<DeploymentConfiguration>,
    /// ECS or EXTERNAL.
    pub deployment_controller: DeploymentController,
    /// Deployments, primary first.
    pub deployments: Vec<DeploymentDescription>,
    /// Target groups.
    pub load_balancers: Vec<LoadBalancerInput>,
    /// The ARN of the service deployment in progress or last completed (what
    /// StopServiceDeployment takes); `None` when not reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_service_deployment: Option<String>,
    /// Placement and the rest, as reported; `None` when the answer left them out (then they are
    /// not compared).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<ServiceOptions>,
    /// The service's tags.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

/// The tag naming the stack a service or revision belongs to.
pub const TAG_STACK: &str = "tugboat:stack";
/// The tag marking what tugboat created; its value is [`MANAGED_BY`].
pub const TAG_MANAGED_BY: &str = "tugboat:managed-by";
/// The value of [`TAG_MANAGED_BY`].
pub const MANAGED_BY: &str = "tugboat";

/// The tags tugboat puts on what it creates for `stack`.
pub fn managed_tags(stack: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (TAG_STACK.to_owned(), stack.to_owned()),
        (TAG_MANAGED_BY.to_owned(), MANAGED_BY.to_owned()),
    ])
}

impl ServiceDescription {
    /// Whether tugboat created it (it carries the managed-by tag): only such services are pruned.
    pub fn managed_by_tugboat(&self) -> bool {
        self.tags.get(TAG_MANAGED_BY).map(String::as_str) == Some(MANAGED_BY)
    }
}

/// ELBv2 target-group health-check settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheckSettings {
    /// Probe path.
    pub path: String,
    /// Seconds between probes.
    pub interval_seconds: u32,
    /// Probe timeout.
    pub timeout_seconds: u32,
    /// Passes to recover from unhealthy.
    pub healthy_threshold: u32,
    /// Failures to become unhealthy.
    pub unhealthy_threshold: u32,
}

/// DescribeTargetGroups' view of one target group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetGroupDescription {
    /// Health-check settings.
    pub health_check: HealthCheckSettings,
    /// The load balancer in front of it (the `LoadBalancer` dimension of HTTPCode_ELB_5XX_Count).
    pub load_balancer: Option<String>,
}

/// A target's state, as DescribeTargetHealth reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetState {
    /// Registered, no verdict yet.
    Initial,
    /// Passing.
    Healthy,
    /// Failing.
    Unhealthy,
    /// Deregistered, finishing in-flight requests for the deregistration delay.
    Draining,
    /// Not registered (or gone).
    Unused,
}

/// One target of a target group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetHealth {
    /// The task whose IP (or instance port) is registered.
    pub task_id: String,
    /// Its health.
    pub state: TargetState,
}

/// CloudWatch metrics tugboat reads.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum MetricId {
    /// AWS/ECS CPUUtilization (Average) of a service.
    ServiceCpu {
        /// Cluster name.
        cluster: String,
        /// Service name.
        service: String,
    },
    /// AWS/ECS CPUUtilization (Average) of a service at 20-second resolution (period 20): published
    /// only for a service whose `monitoringConfiguration` asks for it. Its datapoints' start is
    /// that of their 20 seconds.
    ServiceCpuFine {
        /// Cluster name.
        cluster: String,
        /// Service name.
        service: String,
    },
    /// AWS/ApplicationELB HTTPCode_Target_5XX_Count (Sum) of a target group.
    Target5xx {
        /// Target group name.
        target_group: String,
    },
    /// AWS/ApplicationELB HTTPCode_ELB_5XX_Count (Sum) of a load balancer.
    Elb5xx {
        /// Load balancer name.
        load_balancer: String,
    },
    /// AWS/ApplicationELB HealthyHostCount (Average) of a target group.
    HealthyHosts {
        /// Target group name.
        target_group: String,
    },
    /// AWS/ApplicationELB RequestCount (Sum) of a target group: the requests for which the load
    /// balancer chose one of its targets (those it answered 502 or 504 for an overloaded target
    /// included; a 503 for want of a healthy target not).
    RequestCount {
        /// Target group name.
        target_group: String,
    },
}

/// Seconds of one datapoint of [`MetricId::ServiceCpuFine`], and the `resolutionSeconds` of a
/// service's `monitoringConfiguration` that publishes it.
pub const FINE_CPU_PERIOD_SECONDS: u32 = 20;

/// One 1-minute datapoint (or 20-second, for [`MetricId::ServiceCpuFine`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Datapoint {
    /// Start of the minute, seconds since the start of the simulation (or epoch, on AWS).
    pub minute_start: u64,
    /// The statistic's value.
    pub value: f64,
}

/// Datapoints per metric.
pub type MetricSeries = BTreeMap<MetricId, Vec<Datapoint>>;

/// The answer to a GetMetricData request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricData {
    /// Datapoints of every query that could be asked, oldest first (a metric with no datapoint in
    /// the window may be missing).
    pub series: MetricSeries,
    /// Queries that could not be asked, with why: a target group that does not exist has no
    /// CloudWatch dimension. Only the services naming it are affected.
    pub unresolved: BTreeMap<MetricId, String>,
}

/// A CloudWatch alarm's state value (DescribeAlarms' `StateValue`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlarmStateValue {
    /// Within its threshold.
    Ok,
    /// Breaching.
    Alarm,
    /// Not enough data to say.
    InsufficientData,
}

impl AlarmStateValue {
    /// CloudWatch's own word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            AlarmStateValue::Ok => "OK",
            AlarmStateValue::Alarm => "ALARM",
            AlarmStateValue::InsufficientData => "INSUFFICIENT_DATA",
        }
    }
}

/// One alarm as DescribeAlarms reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AlarmState {
    /// Its name.
    pub name: String,
    /// Its state now.
    pub state: AlarmStateValue,
    /// CloudWatch's explanation of the state (`StateReason`).
    pub reason: String,
    /// When it last changed state (`StateUpdatedTimestamp`), seconds on the controller's clock.
    pub since: u64,
}

/// Alarm names per DescribeAlarms call (the API's `AlarmNames` takes at most 100).
pub const ALARMS_PER_CALL: usize = 100;

/// DescribeContainerInstances' most instances per call (and ListContainerInstances' page).
pub const CONTAINER_INSTANCES_PER_CALL: usize = 100;

/// An EC2 Auto Scaling group, as DescribeAutoScalingGroups reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AutoScalingGroup {
    /// Its name.
    pub name: String,
    /// The group's own bounds and desired capacity.
    pub min_size: u32,
    /// Most instances.
    pub max_size: u32,
    /// Instances it keeps.
    pub desired_capacity: u32,
    /// Its availability zones.
    pub zones: Vec<String>,
    /// Its instances.
    pub instances: Vec<GroupInstance>,
}

/// One instance of an Auto Scaling group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInstance {
    /// `i-...`.
    pub id: String,
    /// Its availability zone.
    pub zone: String,
    /// `Pending`, `InService`, `Terminating`, ...
    pub lifecycle_state: String,
    /// Protected from the group's own scale-in.
    pub protected_from_scale_in: bool,
}

impl GroupInstance {
    /// Launching or in service (not leaving).
    pub fn is_live(&self) -> bool {
        self.lifecycle_state.starts_with("Pending") || self.lifecycle_state == "InService"
    }
}

/// One container instance of a cluster, as DescribeContainerInstances reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContainerInstance {
    /// Its ARN.
    pub arn: String,
    /// The EC2 instance behind it.
    pub ec2_instance_id: String,
    /// `ACTIVE`, `DRAINING`, `REGISTERING`, ...
    pub status: String,
    /// Whether its agent is connected (a disconnected one gets no task).
    pub agent_connected: bool,
    /// Registered CPU units and MiB.
    pub registered_cpu: u32,
    /// Registered MiB.
    pub registered_memory: u32,
    /// CPU units not reserved by its tasks.
    pub remaining_cpu: u32,
    /// MiB not reserved by its tasks.
    pub remaining_memory: u32,
    /// Host ports its tasks (and the agent) reserve.
    pub reserved_ports: Vec<u32>,
    /// Tasks RUNNING on it.
    pub running_tasks: u32,
    /// Tasks PENDING on it.
    pub pending_tasks: u32,
}

impl ContainerInstance {
    /// Whether ECS places new tasks on it.
    pub fn accepts_tasks(&self) -> bool {
        self.status == "ACTIVE" && self.agent_connected
    }

    /// How many tasks with `needs` fit in what it has left.
    pub fn room_for(&self, needs: &PlacementNeeds) -> u32 {
        if !self.accepts_tasks()
            || needs
                .host_ports
                .iter()
                .any(|p| self.reserved_ports.contains(p))
        {
            return 0;
        }
        let by = |left: u32, each: u32| left.checked_div(each).unwrap_or(u32::MAX);
        let fit = by(self.remaining_cpu, needs.cpu).min(by(self.remaining_memory, needs.memory));
        // A static host port is taken once per instance.
        if needs.host_ports.is_empty() {
            fit.min(1_000)
        } else {
            fit.min(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::task_reservation;

    #[test]
    fn a_task_reserves_its_own_figure_else_its_containers_sum_saturating() {
        assert_eq!(task_reservation(Some(512), [Some(1024), None]), 512);
        assert_eq!(task_reservation(None, [Some(256), None, Some(512)]), 768);
        assert_eq!(task_reservation(None, [None, None]), 0);
        // Tens of thousands of containers at the 196608-unit maximum fit in a 4 MiB manifest.
        let many = std::iter::repeat_n(Some(196_608), 30_000);
        assert_eq!(task_reservation(None, many), u32::MAX);
    }
}
