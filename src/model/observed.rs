//! What the controller saw of one service in one sweep.

use std::collections::BTreeMap;

use crate::model::aws::{AlarmState, HealthCheckSettings, ServiceDescription, TargetHealth};
use crate::model::image::{EcrRepository, TaskImages};

/// One service as observed: read from the cloud at the start of a reconcile.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObservedService {
    /// DescribeServices' answer; `None` when the service does not exist.
    pub service: Option<ServiceDescription>,
    /// Target health per target group; read only while a rollout is watched.
    pub targets: Option<BTreeMap<String, Vec<TargetHealth>>>,
    /// Health-check settings of the stack's target groups.
    pub health_checks: BTreeMap<String, HealthCheckSettings>,
    /// Deregistration delays read (only when [`crate::controller::observe::Watch`] asked).
    pub deregistration_delays: BTreeMap<String, u32>,
    /// Published average CPU per minute, newest last (`None` for a missing minute).
    pub cpu: Vec<Option<f64>>,
    /// The newest published 20-second CPU datapoint (start, percent), for a service whose CPU rule
    /// reads 20-second datapoints.
    pub cpu_fine: Option<(u64, f64)>,
    /// Published 5XX per minute from the source the scaling section names, newest last.
    pub http_5xx: Vec<Option<f64>>,
    /// Published RequestCount of the service's first target group per minute, newest last (read
    /// for CPU scaling: the demand behind the CPU).
    pub requests: Vec<Option<f64>>,
    /// Published HealthyHostCount (average) of the service's first target group per minute,
    /// newest last: the tasks that served each minute.
    pub serving: Vec<Option<f64>>,
    /// Published HTTPCode_Target_5XX_Count of the service's first target group, newest last.
    pub target_5xx: Vec<Option<f64>>,
    /// Start (seconds) of the minute the newest element of those series stands for.
    pub metrics_anchor: Option<u64>,
    /// The newest published HealthyHostCount of each of the service's target groups: the steady
    /// state's health, read in the same GetMetricData batch instead of DescribeTargetHealth.
    pub healthy_hosts: BTreeMap<String, f64>,
    /// The running tasks' revisions and image digests (only when the watch asked).
    pub images: Option<Vec<TaskImages>>,
    /// The lifecycle policies of the verified-good images' ECR repositories (only when due).
    pub lifecycle_policies: Option<Vec<LifecyclePolicyRead>>,
    /// The alarms the deployment names that exist, with their state (only while a rollout is
    /// watched and the deployment names alarms).
    pub alarms: Option<Vec<AlarmState>>,
    /// The cluster's container instances (only for a stack with `capacity`): where the room for
    /// more tasks is.
    pub instances: Option<Vec<crate::model::aws::ContainerInstance>>,
}

/// One read of an ECR repository's lifecycle policy.
#[derive(Debug, Clone, PartialEq)]
pub struct LifecyclePolicyRead {
    /// The repository.
    pub repository: EcrRepository,
    /// The tag the verified definition names its image by, if any.
    pub tag: Option<String>,
    /// The policy text (`None`: the repository has none), or why it could not be read.
    pub policy: Result<Option<String>, String>,
}
