//! The wire form of a `tugboat/v1` Stack manifest: what users write, what `tug schema` prints.
//!
//! These types are the single source of truth for three things at once: serde (names, defaults),
//! the JSON Schema (schemars reads the same attributes), and structural validation (the validator in
//! [`super::structure`] walks the document against that schema). Cross-field rules live in
//! [`super::rules`]. A value of these types is not yet known to be valid: the only way to obtain a
//! checked stack is [`crate::model::Stack`], built by [`super::parse`].
//!
//! Field names mirror the ECS API (camelCase). Defaults are ECS's own where ECS has one, so that the
//! effective spec printed by `tug apply --dry-run -o yaml` matches what ECS would do.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The only API version this build understands.
pub use crate::model::API_VERSION;
/// The only kind this build understands.
pub const KIND_STACK: &str = "Stack";

/// One Stack document: a set of ECS services in one cluster, kept where this manifest says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(title = "tugboat Stack")]
pub struct StackManifest {
    /// Must be `tugboat/v1`.
    #[schemars(extend("const" = "tugboat/v1"))]
    pub api_version: String,
    /// Must be `Stack`.
    #[schemars(extend("const" = "Stack"))]
    pub kind: String,
    /// Name and store-maintained bookkeeping.
    pub metadata: Metadata,
    /// The desired state.
    pub spec: StackSpec,
}

/// The annotation that says why a stack last changed (kubectl's `change-cause`).
pub const CHANGE_CAUSE: &str = "tugboat/change-cause";

/// Identity of a stack. `generation` and the timestamps are written by the store and ignored on apply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Metadata {
    /// Stack name: lowercase letters, digits and `-`, 1 to 63 characters, starting and ending with a
    /// letter or digit.
    #[schemars(
        length(min = 1, max = 63),
        regex(pattern = r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
    )]
    pub name: String,
    /// Free-form labels, shown by `tug get` and carried into the store.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Free-form annotations, carried into the store. `tugboat/change-cause` is why the stack
    /// last changed: what `tug apply -m` sets and `tug rollout history` shows per revision.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Set by the store: increments each time the spec changes. Ignored on apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<u64>,
    /// Set by the store: when the stack was first applied (RFC 3339). Ignored on apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<String>,
    /// Set by the store: when the spec last changed (RFC 3339). Ignored on apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_timestamp: Option<String>,
}

/// What the stack holds: services in one cluster, and the target groups whose health checks it keeps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StackSpec {
    /// ECS cluster name or ARN.
    #[schemars(length(min = 1, max = 2048))]
    pub cluster: String,
    /// Delete services that leave the manifest (only services this stack created).
    #[serde(default)]
    pub prune: bool,
    /// Target groups whose health-check settings the controller keeps in place.
    #[serde(default)]
    #[schemars(length(max = 5000))]
    pub target_groups: Vec<TargetGroupSpec>,
    /// The services of this stack.
    #[schemars(length(min = 1, max = 5000))]
    pub services: Vec<ServiceSpec>,
    /// Decisions to publish to an SNS topic for people (the seeds send their alarms to one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notifications: Option<NotificationsSpec>,
    /// The Auto Scaling group behind the cluster's EC2 instances, given to tugboat: it sets the
    /// group's desired capacity before the tasks that need the room, and drains and terminates
    /// instances the tasks no longer need.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<CapacitySpec>,
}

/// The EC2 capacity tugboat owns for a stack's cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CapacitySpec {
    /// The Auto Scaling group: its name, or its ARN.
    #[schemars(length(min = 1, max = 1600))]
    pub auto_scaling_group: String,
    /// Never fewer instances (within the group's own MinSize and MaxSize).
    #[serde(default)]
    pub min_instances: u32,
    /// Never more instances.
    #[schemars(range(min = 1, max = 1000))]
    pub max_instances: u32,
    /// Instances kept running beyond what the tasks need: room for the next scale-out at once.
    #[serde(default)]
    pub spare_instances: u32,
    /// CPU units one instance offers to tasks. Read from the registered container instances
    /// when there are any; needed when the group can be empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 128, max = 1_000_000))]
    pub instance_cpu: Option<u32>,
    /// MiB one instance offers to tasks (what the ECS agent registers, less than the instance
    /// type's memory). Read from the registered container instances when there are any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 128, max = 100_000_000))]
    pub instance_memory: Option<u32>,
    /// Seconds the tasks must have needed fewer instances before any is drained, and since the
    /// last scale-out.
    #[serde(default = "defaults::capacity_scale_in_cooldown")]
    #[schemars(range(max = 86_400))]
    pub scale_in_cooldown_seconds: u32,
    /// Whether tugboat may terminate the instances it drained (with the group's desired capacity
    /// decremented). With `false` it drains them and leaves the termination to you.
    #[serde(default = "defaults::yes")]
    pub terminate: bool,
}

/// Where and which of the controller's decisions are published.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NotificationsSpec {
    /// The SNS topic (`arn:aws:sns:REGION:ACCOUNT:NAME`).
    #[schemars(length(min = 1, max = 2048))]
    pub sns_topic_arn: String,
    /// Which decisions: by default rollbacks, holds, failing AWS calls and scaling stopped at a
    /// limit.
    #[serde(default = "defaults::notification_kinds")]
    #[schemars(length(min = 1, max = 12))]
    pub kinds: Vec<NotificationKind>,
}

/// A kind of decision worth telling a person about.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum NotificationKind {
    /// A rollout rolled back.
    Rollback,
    /// The controller chose not to act, and said why.
    Hold,
    /// AWS calls for a service failing (its first failure after working ones).
    CallsFailing,
    /// A scaling decision stopped at minTasks or maxTasks.
    ScalingLimit,
    /// Any scale-out.
    ScaleOut,
    /// Any scale-in.
    ScaleIn,
    /// A rollout started.
    RolloutStart,
    /// A revision verified good.
    RolloutVerified,
    /// Drift put back.
    DriftCorrection,
    /// A service taken down.
    Remove,
}

/// A target group's health check, kept in place by the controller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TargetGroupSpec {
    /// Target group name (1 to 32 letters, digits, `-`) or ARN.
    #[schemars(length(min = 1, max = 2048))]
    pub name: String,
    /// Health-check settings; ELBv2 defaults apply to omitted fields.
    #[serde(default)]
    pub health_check: HealthCheck,
    /// Seconds a deregistered target keeps serving in-flight requests before it is removed
    /// (ELBv2: 0 to 3600, default 300). Every rollout and scale-in waits this long per task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = 3600))]
    pub deregistration_delay_seconds: Option<u32>,
}

/// ELBv2 target-group health-check settings, with ELBv2's defaults and ranges.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HealthCheck {
    /// HTTP path probed on each target.
    #[serde(default = "defaults::health_path")]
    #[schemars(length(min = 1, max = 1024))]
    pub path: String,
    /// Probe protocol.
    #[serde(default)]
    pub protocol: HealthCheckProtocol,
    /// Seconds between probes (ELBv2: 5 to 300, default 30).
    #[serde(default = "defaults::interval")]
    #[schemars(range(min = 5, max = 300))]
    pub interval_seconds: u32,
    /// Seconds without a response that count as a failed probe (ELBv2: 2 to 120, default 5).
    #[serde(default = "defaults::timeout")]
    #[schemars(range(min = 2, max = 120))]
    pub timeout_seconds: u32,
    /// Consecutive successes to become healthy again (ELBv2: 2 to 10, default 5).
    #[serde(default = "defaults::healthy_threshold")]
    #[schemars(range(min = 2, max = 10))]
    pub healthy_threshold: u32,
    /// Consecutive failures to become unhealthy (ELBv2: 2 to 10, default 2).
    #[serde(default = "defaults::unhealthy_threshold")]
    #[schemars(range(min = 2, max = 10))]
    pub unhealthy_threshold: u32,
    /// HTTP codes that count as success, e.g. `200` or `200-299`.
    #[serde(default = "defaults::matcher")]
    #[schemars(length(min = 1, max = 64))]
    pub matcher: String,
}

impl Default for HealthCheck {
    fn default() -> Self {
        Self {
            path: defaults::health_path(),
            protocol: HealthCheckProtocol::default(),
            interval_seconds: defaults::interval(),
            timeout_seconds: defaults::timeout(),
            healthy_threshold: defaults::healthy_threshold(),
            unhealthy_threshold: defaults::unhealthy_threshold(),
            matcher: defaults::matcher(),
        }
    }
}

/// Health-check probe protocol.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum HealthCheckProtocol {
    /// Plain HTTP.
    #[default]
    #[serde(rename = "HTTP")]
    Http,
    /// HTTPS (certificate not verified by ELBv2).
    #[serde(rename = "HTTPS")]
    Https,
}

/// One ECS service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceSpec {
    /// Service name: 1 to 255 letters, digits, `-` and `_`, unique in the cluster.
    #[schemars(length(min = 1, max = 255))]
    pub name: String,
    /// Where tasks run. ECS's default is EC2. Not with `capacityProviderStrategy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_type: Option<LaunchType>,
    /// Capacity providers the tasks are placed through, instead of a launch type.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub capacity_provider_strategy: Vec<CapacityProviderStrategyItem>,
    /// How tasks are spread over container instances (EC2 only), applied in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 5))]
    pub placement_strategy: Vec<PlacementStrategySpec>,
    /// Rules every placement must obey (EC2 only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10))]
    pub placement_constraints: Vec<PlacementConstraintSpec>,
    /// Fargate platform version, e.g. `1.4.0`; ECS's default is `LATEST`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 32))]
    pub platform_version: Option<String>,
    /// Allow `aws ecs execute-command` into the tasks.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub enable_execute_command: bool,
    /// Copy the service's or the task definition's tags onto each task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propagate_tags: Option<PropagateTags>,
    /// Tags put on the service (beside tugboat's own `tugboat:` tags).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// The starting task count; with `scaling`, the controller owns the count afterwards.
    #[serde(default = "defaults::desired_count")]
    #[schemars(range(max = 5000))]
    pub desired_count: u32,
    /// The task definition the controller registers (a new revision only when it changes).
    pub task_definition: std::sync::Arc<TaskDefinitionSpec>,
    /// awsvpc networking; required for FARGATE and for the `awsvpc` network mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkSpec>,
    /// Target groups the service's tasks are registered in.
    #[serde(default)]
    #[schemars(length(max = 5))]
    pub load_balancers: Vec<LoadBalancerSpec>,
    /// Rolling-deployment bounds and rollback triggers.
    #[serde(default)]
    pub deployment: DeploymentSpec,
    /// Automatic scaling; without it the count stays at `desiredCount`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scaling: Option<ScalingSpec>,
}

impl ServiceSpec {
    /// Where the tasks run: the launch type, or what the capacity providers stand for (the
    /// `FARGATE` and `FARGATE_SPOT` providers are Fargate; any other is an Auto Scaling group's EC2).
    pub fn launch(&self) -> LaunchType {
        match self.launch_type {
            Some(launch) => launch,
            None if self
                .capacity_provider_strategy
                .iter()
                .any(|p| p.capacity_provider.starts_with("FARGATE")) =>
            {
                LaunchType::Fargate
            }
            None => LaunchType::Ec2,
        }
    }
}

/// One capacity provider of a service's strategy (ECS's semantics: `base` tasks first, the rest
/// split by `weight`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CapacityProviderStrategyItem {
    /// Capacity provider name: `FARGATE`, `FARGATE_SPOT`, or one of the cluster's.
    #[schemars(length(min = 1, max = 255))]
    pub capacity_provider: String,
    /// Relative share of the tasks beyond the bases (0 to 1000, ECS default 0).
    #[serde(default)]
    #[schemars(range(max = 1000))]
    pub weight: u32,
    /// Tasks placed on this provider before any weight applies (0 to 100000; one provider only).
    #[serde(default)]
    #[schemars(range(max = 100000))]
    pub base: u32,
}

/// One placement strategy (ECS's `type` and `field`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlacementStrategySpec {
    /// `random`, `spread` (over `field`) or `binpack` (on `field`: `cpu` or `memory`).
    #[serde(rename = "type")]
    pub kind: PlacementStrategyType,
    /// `spread`: `instanceId`, `host` or `attribute:NAME` (e.g. `attribute:ecs.availability-zone`);
    /// `binpack`: `cpu` or `memory`; `random`: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub field: Option<String>,
}

/// ECS placement strategy types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PlacementStrategyType {
    /// Anywhere that fits.
    Random,
    /// Evenly over the values of `field`.
    Spread,
    /// On as few instances as possible, by the least remaining `field`.
    Binpack,
}

/// One placement constraint (ECS's `type` and `expression`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlacementConstraintSpec {
    /// `distinctInstance` (one task per instance) or `memberOf` (instances matching `expression`).
    #[serde(rename = "type")]
    pub kind: PlacementConstraintType,
    /// `memberOf`: a cluster query expression, e.g. `attribute:ecs.instance-type =~ t3.*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2000))]
    pub expression: Option<String>,
}

/// ECS placement constraint types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum PlacementConstraintType {
    /// Every task on a different instance.
    DistinctInstance,
    /// Only instances the expression matches.
    MemberOf,
}

/// Whose tags ECS copies onto the tasks it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum PropagateTags {
    /// The service's tags.
    #[serde(rename = "SERVICE")]
    Service,
    /// The task definition's tags.
    #[serde(rename = "TASK_DEFINITION")]
    TaskDefinition,
    /// None (ECS's default).
    #[serde(rename = "NONE")]
    None,
}

/// ECS launch type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum LaunchType {
    /// Tasks on EC2 container instances (ECS's default).
    #[default]
    #[serde(rename = "EC2")]
    Ec2,
    /// Tasks on AWS Fargate.
    #[serde(rename = "FARGATE")]
    Fargate,
}

/// The task definition the controller renders and registers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TaskDefinitionSpec {
    /// Family name: 1 to 255 letters, digits, `-` and `_`.
    #[schemars(length(min = 1, max = 255))]
    pub family: String,
    /// Task CPU units (1024 = 1 vCPU). Required for FARGATE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 128, max = 196608))]
    pub cpu: Option<u32>,
    /// Task memory in MiB. Required for FARGATE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 128, max = 1048576))]
    pub memory: Option<u32>,
    /// Docker network mode. Defaults to `awsvpc` for FARGATE and `bridge` for EC2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<NetworkMode>,
    /// Role ECS uses to pull images and write logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_role_arn: Option<String>,
    /// Role the task's containers assume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_role_arn: Option<String>,
    /// The containers (1 to 10).
    #[schemars(length(min = 1, max = 10))]
    pub containers: Vec<ContainerSpec>,
    /// Tags put on each registered revision (beside tugboat's own `tugboat:` tags); with
    /// `propagateTags: TASK_DEFINITION` they reach the tasks too.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

/// Docker network mode of a task definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    /// One ENI per task (required by FARGATE).
    Awsvpc,
    /// Docker's bridge network (EC2 default).
    Bridge,
    /// The host's network.
    Host,
    /// No networking.
    None,
}

/// One container of a task definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContainerSpec {
    /// Container name: 1 to 255 letters, digits, `-` and `_`.
    #[schemars(length(min = 1, max = 255))]
    pub name: String,
    /// Image reference.
    #[schemars(length(min = 1, max = 1024))]
    pub image: String,
    /// Whether the task stops when this container stops.
    #[serde(default = "defaults::yes")]
    pub essential: bool,
    /// CPU units reserved for the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = 196608))]
    pub cpu: Option<u32>,
    /// Hard memory limit in MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 6, max = 1048576))]
    pub memory: Option<u32>,
    /// Soft memory limit in MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 6, max = 1048576))]
    pub memory_reservation: Option<u32>,
    /// Ports the container listens on.
    #[serde(default)]
    #[schemars(length(max = 100))]
    pub port_mappings: Vec<PortMapping>,
    /// Environment variables.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, String>,
    /// Overrides the image's command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// Environment variables read from Secrets Manager or SSM Parameter Store when the task
    /// starts: never in the manifest, the store or the revision in plain text.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    pub secrets: Vec<SecretSpec>,
    /// Where the container's output goes (every seed sends it to CloudWatch Logs with `awslogs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_configuration: Option<LogConfigurationSpec>,
    /// Docker health check run inside the container; ECS replaces a task whose essential
    /// container turns unhealthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<ContainerHealthCheck>,
    /// Seconds between SIGTERM and SIGKILL when the container is stopped (ECS default 30;
    /// Fargate at most 120).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 3600))]
    pub stop_timeout: Option<u32>,
    /// Containers that must reach a condition before this one starts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10))]
    pub depends_on: Vec<ContainerDependency>,
    /// Resource limits (`nofile` and the like).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub ulimits: Vec<UlimitSpec>,
    /// Mount the root filesystem read-only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub readonly_root_filesystem: bool,
    /// User (and group) the container runs as: `user`, `user:group`, `uid`, `uid:gid`...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub user: Option<String>,
}

impl ContainerSpec {
    /// The memory this container reserves on an instance: its hard limit where set, else its soft
    /// reservation (as ECS places it).
    pub fn reserved_memory(&self) -> Option<u32> {
        self.memory.or(self.memory_reservation)
    }
}

/// One secret: an environment variable whose value ECS reads from `valueFrom` at start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretSpec {
    /// The variable's name.
    #[schemars(length(min = 1, max = 255))]
    pub name: String,
    /// A Secrets Manager secret ARN (optionally with `:json-key:version-stage:version-id`) or an
    /// SSM Parameter Store parameter ARN.
    #[schemars(length(min = 20, max = 2048))]
    pub value_from: String,
}

/// A container's log configuration (ECS's `logDriver`, `options`, `secretOptions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LogConfigurationSpec {
    /// The log driver.
    pub log_driver: LogDriver,
    /// The driver's options (for `awslogs`: `awslogs-group`, `awslogs-region`,
    /// `awslogs-stream-prefix`...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
    /// Options whose values come from Secrets Manager or SSM (a Splunk token, say).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub secret_options: Vec<SecretSpec>,
}

/// Log drivers ECS accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum LogDriver {
    /// CloudWatch Logs.
    #[serde(rename = "awslogs")]
    Awslogs,
    /// FireLens (Fluent Bit or Fluentd as a sidecar).
    #[serde(rename = "awsfirelens")]
    Awsfirelens,
    /// Splunk HTTP Event Collector.
    #[serde(rename = "splunk")]
    Splunk,
    /// Fluentd (EC2 only).
    #[serde(rename = "fluentd")]
    Fluentd,
    /// Graylog Extended Log Format (EC2 only).
    #[serde(rename = "gelf")]
    Gelf,
    /// systemd journal (EC2 only).
    #[serde(rename = "journald")]
    Journald,
    /// Docker's JSON files on the instance (EC2 only).
    #[serde(rename = "json-file")]
    JsonFile,
    /// syslog (EC2 only).
    #[serde(rename = "syslog")]
    Syslog,
}

impl LogDriver {
    /// ECS's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Awslogs => "awslogs",
            Self::Awsfirelens => "awsfirelens",
            Self::Splunk => "splunk",
            Self::Fluentd => "fluentd",
            Self::Gelf => "gelf",
            Self::Journald => "journald",
            Self::JsonFile => "json-file",
            Self::Syslog => "syslog",
        }
    }
}

/// A container health check (Docker's HEALTHCHECK, as ECS runs it), with ECS's defaults and ranges.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContainerHealthCheck {
    /// `["CMD", "executable", "arg"...]` or `["CMD-SHELL", "command line"]`.
    #[schemars(length(min = 2, max = 100))]
    pub command: Vec<String>,
    /// Seconds between checks (ECS: 5 to 300, default 30).
    #[serde(default = "defaults::interval")]
    #[schemars(range(min = 5, max = 300))]
    pub interval: u32,
    /// Seconds a check may take (ECS: 2 to 60, default 5).
    #[serde(default = "defaults::timeout")]
    #[schemars(range(min = 2, max = 60))]
    pub timeout: u32,
    /// Consecutive failures that make the container unhealthy (ECS: 1 to 10, default 3).
    #[serde(default = "defaults::retries")]
    #[schemars(range(min = 1, max = 10))]
    pub retries: u32,
    /// Seconds after start during which failures do not count (ECS: 0 to 300, default 0).
    #[serde(default)]
    #[schemars(range(max = 300))]
    pub start_period: u32,
}

/// One container dependency (ECS's `containerName` and `condition`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContainerDependency {
    /// Another container of the task.
    #[schemars(length(min = 1, max = 255))]
    pub container_name: String,
    /// What it must have done first.
    pub condition: DependencyCondition,
}

/// ECS container dependency conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DependencyCondition {
    /// Started.
    Start,
    /// Ran to completion (any exit code); not for an essential container.
    Complete,
    /// Exited 0; not for an essential container.
    Success,
    /// Passed its health check (it needs one).
    Healthy,
}

impl DependencyCondition {
    /// ECS's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Start => "START",
            Self::Complete => "COMPLETE",
            Self::Success => "SUCCESS",
            Self::Healthy => "HEALTHY",
        }
    }
}

/// One resource limit (ECS's `name`, `softLimit`, `hardLimit`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UlimitSpec {
    /// The limit.
    pub name: UlimitName,
    /// The soft limit (at most `hardLimit`).
    #[schemars(range(max = 2147483647))]
    pub soft_limit: u32,
    /// The hard limit.
    #[schemars(range(max = 2147483647))]
    pub hard_limit: u32,
}

/// ulimit names ECS accepts.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum UlimitName {
    Core,
    Cpu,
    Data,
    Fsize,
    Locks,
    Memlock,
    Msgqueue,
    Nice,
    Nofile,
    Nproc,
    Rss,
    Rtprio,
    Rttime,
    Sigpending,
    Stack,
}

impl UlimitName {
    /// ECS's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Core => "core",
            Self::Cpu => "cpu",
            Self::Data => "data",
            Self::Fsize => "fsize",
            Self::Locks => "locks",
            Self::Memlock => "memlock",
            Self::Msgqueue => "msgqueue",
            Self::Nice => "nice",
            Self::Nofile => "nofile",
            Self::Nproc => "nproc",
            Self::Rss => "rss",
            Self::Rtprio => "rtprio",
            Self::Rttime => "rttime",
            Self::Sigpending => "sigpending",
            Self::Stack => "stack",
        }
    }
}

/// One port mapping of a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PortMapping {
    /// Port inside the container.
    #[schemars(range(min = 1, max = 65535))]
    pub container_port: u32,
    /// Port on the host (awsvpc: equal to `containerPort` or omitted; bridge: 0 for a dynamic port).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = 65535))]
    pub host_port: Option<u32>,
    /// Transport protocol.
    #[serde(default)]
    pub protocol: PortProtocol,
}

/// Transport protocol of a port mapping.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PortProtocol {
    /// TCP.
    #[default]
    Tcp,
    /// UDP.
    Udp,
}

/// awsvpc network configuration of a service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetworkSpec {
    /// Subnet ids (1 to 16).
    #[schemars(length(min = 1, max = 16))]
    pub subnets: Vec<String>,
    /// Security group ids (up to 5).
    #[serde(default)]
    #[schemars(length(max = 5))]
    pub security_groups: Vec<String>,
    /// Give each task a public IP (needed in public subnets without a NAT gateway).
    #[serde(default)]
    pub assign_public_ip: bool,
}

/// One load-balancer attachment: which container port is registered in which target group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoadBalancerSpec {
    /// Target group name or ARN.
    #[schemars(length(min = 1, max = 2048))]
    pub target_group: String,
    /// A container of the task definition.
    #[schemars(length(min = 1, max = 255))]
    pub container_name: String,
    /// A port that container maps.
    #[schemars(range(min = 1, max = 65535))]
    pub container_port: u32,
    /// Blue/green, canary and linear: the target group the new revision's tasks (green) are
    /// registered in while the old ones (blue) keep `targetGroup`; declared in the stack's
    /// `targetGroups` too, so its health check is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    pub alternate_target_group: Option<String>,
    /// Blue/green, canary and linear: the listener rule (ALB) or listener (NLB) whose forward
    /// weights ECS shifts from `targetGroup` to `alternateTargetGroup`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 20, max = 2048))]
    pub production_listener_rule: Option<String>,
    /// Optional: a listener rule that sends test traffic to green before production is shifted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 20, max = 2048))]
    pub test_listener_rule: Option<String>,
    /// The IAM role ECS assumes to change the listener rules (the
    /// `AmazonECSInfrastructureRolePolicyForLoadBalancers` managed policy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 20, max = 2048))]
    pub role_arn: Option<String>,
}

impl LoadBalancerSpec {
    /// The target groups its tasks are registered in: its own, and a traffic-shifting
    /// strategy's alternate one.
    pub fn target_groups(&self) -> impl Iterator<Item = &String> {
        std::iter::once(&self.target_group).chain(&self.alternate_target_group)
    }
}

/// Rolling-deployment bounds (ECS's semantics and defaults) and tugboat's rollback triggers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeploymentSpec {
    /// Lower bound on healthy tasks during a deployment, percent of desired, rounded up (ECS default 100).
    #[serde(default = "defaults::minimum_healthy_percent")]
    #[schemars(range(max = 100))]
    pub minimum_healthy_percent: u32,
    /// Upper bound on running + pending tasks, percent of desired, rounded down (ECS default 200).
    #[serde(default = "defaults::maximum_percent")]
    #[schemars(range(min = 100, max = 1000))]
    pub maximum_percent: u32,
    /// Seconds after a task starts during which failing load-balancer health checks are ignored.
    #[serde(default)]
    #[schemars(range(max = 2147483647))]
    pub health_check_grace_period_seconds: u32,
    /// A rollout that has not completed after this many seconds is rolled back.
    #[serde(default = "defaults::progress_deadline")]
    #[schemars(range(min = 30, max = 86400))]
    pub progress_deadline_seconds: u32,
    /// What makes a rollout roll back.
    #[serde(default)]
    pub rollback: RollbackSpec,
    /// How ECS replaces tasks: `rolling` (the default), or shifting traffic from the old tasks
    /// (blue) to a full set of new ones (green) with `canary`, `linear` or `blueGreen`.
    #[serde(default, skip_serializing_if = "DeploymentStrategy::is_rolling")]
    pub strategy: DeploymentStrategy,
    /// ECS's deployment circuit breaker: how many failed tasks fail a deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub circuit_breaker: Option<CircuitBreakerSpec>,
    /// CloudWatch alarms that fail the deployment when they go to ALARM (ECS's
    /// `deploymentConfiguration.alarms`, and tugboat's gate through verification after it):
    /// rolled back by ECS for a traffic-shifting strategy, by tugboat to the verified-good
    /// revision for a rolling one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10))]
    pub alarms: Vec<String>,
}

impl Default for DeploymentSpec {
    fn default() -> Self {
        Self {
            minimum_healthy_percent: defaults::minimum_healthy_percent(),
            maximum_percent: defaults::maximum_percent(),
            health_check_grace_period_seconds: 0,
            progress_deadline_seconds: defaults::progress_deadline(),
            rollback: RollbackSpec::default(),
            strategy: DeploymentStrategy::default(),
            circuit_breaker: None,
            alarms: Vec::new(),
        }
    }
}

/// ECS's deployment strategies (`deploymentConfiguration.strategy`), one key each.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum DeploymentStrategy {
    /// Replace tasks in batches within minimumHealthyPercent and maximumPercent.
    #[default]
    Rolling,
    /// Start green at full size, send `percent` of production traffic to it for `bakeMinutes`,
    /// then all of it.
    Canary(CanaryStrategy),
    /// Start green at full size, shift `stepPercent` more of production traffic every
    /// `stepBakeMinutes`.
    Linear(LinearStrategy),
    /// Start green at full size, shift all production traffic at once, keep blue for `bakeMinutes`.
    BlueGreen(BlueGreenStrategy),
}

impl DeploymentStrategy {
    /// Whether this is ECS's rolling update.
    pub fn is_rolling(&self) -> bool {
        matches!(self, Self::Rolling)
    }

    /// ECS's name for it.
    pub fn ecs_name(&self) -> &'static str {
        crate::model::aws::Strategy::of(self).ecs_name()
    }
}

/// A canary deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CanaryStrategy {
    /// Percent of production traffic green gets first (ECS: 0.1 to 100).
    #[schemars(range(min = 0.1, max = 100.0))]
    pub percent: f64,
    /// Minutes at that percent before the rest shifts (ECS: 0 to 1440).
    #[schemars(range(max = 1440))]
    pub bake_minutes: u32,
    /// Minutes blue is kept after all traffic is on green, for an instant rollback (ECS: 0 to 1440).
    #[serde(default)]
    #[schemars(range(max = 1440))]
    pub final_bake_minutes: u32,
}

/// A linear deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LinearStrategy {
    /// Percent of production traffic shifted per step (ECS: 3 to 100).
    #[schemars(range(min = 3.0, max = 100.0))]
    pub step_percent: f64,
    /// Minutes between steps (ECS: 0 to 1440).
    #[schemars(range(max = 1440))]
    pub step_bake_minutes: u32,
    /// Minutes blue is kept after the last step (ECS: 0 to 1440).
    #[serde(default)]
    #[schemars(range(max = 1440))]
    pub final_bake_minutes: u32,
}

/// A blue/green deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BlueGreenStrategy {
    /// Minutes blue is kept after all traffic is on green, for an instant rollback (ECS: 0 to 1440).
    #[schemars(range(max = 1440))]
    pub bake_minutes: u32,
}

/// The circuit breaker's threshold (ECS's `thresholdConfiguration`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CircuitBreakerSpec {
    /// Fail the deployment after this many failed tasks (ECS's default: half the desired count,
    /// at least 3, at most 200).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 200))]
    pub failed_tasks: Option<u32>,
    /// Or after this percent of the desired count has failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub failed_percent: Option<u32>,
    /// Start the count again each time a task turns healthy (ECS's `resetOnHealthyTask`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_on_healthy_task: Option<bool>,
}

/// Rollback triggers of a rollout (the progress deadline is one too).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RollbackSpec {
    /// Roll back when new tasks' targets turn unhealthy.
    #[serde(default = "defaults::yes")]
    pub on_unhealthy_targets: bool,
    /// Roll back when the new revision's targets serve more 5XX per minute than this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000000000))]
    pub max5xx_per_minute: Option<u32>,
}

impl Default for RollbackSpec {
    fn default() -> Self {
        Self {
            on_unhealthy_targets: true,
            max5xx_per_minute: None,
        }
    }
}

/// Automatic scaling. With it, the controller is the one writer of the desired count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScalingSpec {
    /// Never fewer tasks than this.
    #[schemars(range(max = 5000))]
    pub min_tasks: u32,
    /// Never more tasks than this.
    #[schemars(range(min = 1, max = 5000))]
    pub max_tasks: u32,
    /// Seconds after a scale-out before another scale-out (ECS default 300).
    #[serde(default = "defaults::cooldown")]
    #[schemars(range(max = 86400))]
    pub scale_out_cooldown_seconds: u32,
    /// Seconds after any scaling before a scale-in (ECS default 300).
    #[serde(default = "defaults::cooldown")]
    #[schemars(range(max = 86400))]
    pub scale_in_cooldown_seconds: u32,
    /// Scale-outs are sized to the measured demand: the tasks the newest datapoint's load needs at
    /// the rule's target utilisation (80 % CPU for a 5XX rule), in one step, as soon as one
    /// datapoint is above the threshold. `false` keeps the rules as written: `evaluationPeriods`
    /// datapoints above, then `scaleOutStep` tasks; a 5XX breach multiplies by `scaleOutFactor`.
    #[serde(default = "defaults::yes")]
    pub proportional_scale_out: bool,
    /// Resolution of the CPU datapoints the rule reads: 60 (ECS's default) or 20, which makes
    /// tugboat set the service's `monitoringConfiguration` to publish CPUUtilization every 20
    /// seconds and scale out on the newest 20-second datapoint (ALB metrics stay 1-minute).
    #[serde(default = "defaults::minute")]
    #[schemars(range(min = 20, max = 60))]
    pub metric_resolution_seconds: u32,
    /// Scale on the service's average CPU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<CpuScaling>,
    /// Scale out on HTTP 5XX responses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http5xx: Option<Http5xxScaling>,
}

/// CPU scaling: either thresholds (`scaleOutAbovePercent`, optional `scaleInBelowPercent`, steps)
/// or target tracking (`targetPercent`: desired = ceil(current x cpu / target)). Not both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CpuScaling {
    /// Target tracking: keep average CPU near this percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub target_percent: Option<u32>,
    /// Thresholds: add `scaleOutStep` tasks when CPU stays above this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub scale_out_above_percent: Option<u32>,
    /// Thresholds: remove `scaleInStep` tasks when CPU stays below this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = 99))]
    pub scale_in_below_percent: Option<u32>,
    /// Thresholds: consecutive 1-minute datapoints needed (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 60))]
    pub evaluation_periods: Option<u32>,
    /// Thresholds: tasks added per scale-out: a count (default 1) or a percentage of the
    /// current count such as `25%`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_out_step: Option<ScalingStep>,
    /// Thresholds: tasks removed per scale-in: a count (default 1) or a percentage such as `25%`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_in_step: Option<ScalingStep>,
}

/// Tasks per threshold-scaling step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ScalingStep {
    /// This many tasks (1 to 5000).
    Tasks(#[schemars(range(min = 1, max = 5000))] u32),
    /// This percentage of the current count (`1%` to `1000%`), rounded toward zero and at least
    /// one task: Application Auto Scaling's PercentChangeInCapacity with MinAdjustmentMagnitude 1.
    Percent(String),
}

impl ScalingStep {
    /// A step field as an adjustment: one task when it is unset (or malformed, which the rules
    /// refuse).
    pub fn or_one(step: Option<&ScalingStep>) -> crate::model::aws::StepAdjustment {
        step.and_then(ScalingStep::adjustment)
            .unwrap_or(crate::model::aws::StepAdjustment::ChangeInCapacity(1))
    }

    /// The step as Application Auto Scaling's adjustment; `None` for a malformed percentage (the
    /// rules refuse it).
    pub fn adjustment(&self) -> Option<crate::model::aws::StepAdjustment> {
        use crate::model::aws::StepAdjustment;
        match self {
            Self::Tasks(n) => Some(StepAdjustment::ChangeInCapacity(*n)),
            Self::Percent(text) => {
                let digits = text.strip_suffix('%')?;
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                let percent: u32 = digits.parse().ok().filter(|p| (1..=1000).contains(p))?;
                Some(StepAdjustment::PercentChangeInCapacity(percent))
            }
        }
    }
}

/// Scale out when HTTP 5XX responses reach a threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Http5xxScaling {
    /// Which count: the service's target groups, or their load balancer.
    #[serde(default)]
    pub source: Http5xxSource,
    /// 5XX responses per minute that count as a breach.
    #[schemars(range(min = 1, max = 1000000000))]
    pub threshold: u32,
    /// Consecutive breaching minutes needed (default 1).
    #[serde(default = "defaults::one")]
    #[schemars(range(min = 1, max = 60))]
    pub evaluation_periods: u32,
    /// Multiply the task count by this on a breach (e.g. 2 doubles it), where the breach is not
    /// sized to demand: with `proportionalScaleOut: false`, or without CPU datapoints.
    #[serde(default = "defaults::scale_out_factor")]
    #[schemars(range(min = 1.1, max = 10.0))]
    pub scale_out_factor: f64,
    /// Scale in when the demand fits fewer tasks: no breach for 5 minutes, and the highest demand
    /// of those minutes (the tasks' CPU, at 80 %) fits fewer tasks. A 5XX rule alone otherwise
    /// never scales in.
    #[serde(default)]
    pub scale_in_when_demand_fits: bool,
}

/// Where 5XX responses are counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Http5xxSource {
    /// `HTTPCode_Target_5XX_Count` of the service's target groups.
    #[default]
    Target,
    /// `HTTPCode_ELB_5XX_Count` of the load balancer in front of them.
    LoadBalancer,
}

/// Default values, one function each so serde and the schema share them.
pub(crate) mod defaults {
    pub fn health_path() -> String {
        "/".to_owned()
    }
    pub fn capacity_scale_in_cooldown() -> u32 {
        300
    }
    pub fn notification_kinds() -> Vec<super::NotificationKind> {
        use super::NotificationKind::{CallsFailing, Hold, Rollback, ScalingLimit};
        vec![Rollback, Hold, CallsFailing, ScalingLimit]
    }
    pub fn interval() -> u32 {
        30
    }
    pub fn timeout() -> u32 {
        5
    }
    pub fn healthy_threshold() -> u32 {
        5
    }
    pub fn unhealthy_threshold() -> u32 {
        2
    }
    pub fn matcher() -> String {
        "200".to_owned()
    }
    pub fn desired_count() -> u32 {
        1
    }
    pub fn yes() -> bool {
        true
    }
    pub fn one() -> u32 {
        1
    }
    pub fn retries() -> u32 {
        3
    }
    pub fn minimum_healthy_percent() -> u32 {
        100
    }
    pub fn maximum_percent() -> u32 {
        200
    }
    pub fn progress_deadline() -> u32 {
        600
    }
    pub fn cooldown() -> u32 {
        300
    }
    pub fn minute() -> u32 {
        60
    }
    pub fn scale_out_factor() -> f64 {
        2.0
    }
    /// Threshold scaling: consecutive datapoints when `evaluationPeriods` is omitted.
    pub const EVALUATION_PERIODS: u32 = 3;
    /// Threshold scaling: tasks per step when a step is omitted.
    pub const STEP: u32 = 1;
}
