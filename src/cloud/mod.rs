//! The cloud: the operations tugboat performs on AWS, behind one trait, so the controller runs
//! unchanged against the simulator ([`sim`]) or, later, the real adapter.
//!
//! The trait speaks AWS's operations (CreateService, DescribeServices, GetMetricData...) in
//! tugboat's own [`types`], never SDK types. Every method may fail with a [`CloudError`] that says
//! whether trying again can help.

pub mod aws;
pub mod limiter;
pub mod limits;
pub mod sim;
pub mod types;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use types::{
    CreateServiceInput, HealthCheckSettings, MetricId, MetricSeries, ServiceDescription,
    TargetHealth, TaskDefinitionId, TaskDefinitionInput, UpdateServiceInput,
};

/// Why a cloud call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CloudError {
    /// The API's rate limit refused the call (ThrottlingException).
    #[error("{operation}: throttled")]
    Throttled {
        /// The operation.
        operation: &'static str,
    },
    /// AWS failed (HTTP 5xx, timeout).
    #[error("{operation}: server error: {message}")]
    Server {
        /// The operation.
        operation: &'static str,
        /// What AWS said.
        message: String,
    },
    /// The request was refused as invalid or about something that does not exist.
    #[error("{operation}: {message}")]
    Invalid {
        /// The operation.
        operation: &'static str,
        /// What AWS said.
        message: String,
    },
}

impl CloudError {
    /// Whether the same call may succeed later (throttling, server errors), as opposed to a
    /// request that will be refused again until something changes.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            CloudError::Throttled { .. } | CloudError::Server { .. }
        )
    }
}

/// The AWS operations tugboat uses. Implemented by the simulator and by the AWS adapter.
pub trait Cloud: Send + Sync {
    /// RegisterTaskDefinition (always a new revision).
    fn register_task_definition(
        &self,
        input: TaskDefinitionInput,
    ) -> impl Future<Output = Result<TaskDefinitionId, CloudError>> + Send;

    /// DescribeTaskDefinition of a family's latest revision; `None` when the family has none.
    fn describe_latest_task_definition(
        &self,
        family: &str,
    ) -> impl Future<Output = Result<Option<(TaskDefinitionId, TaskDefinitionInput)>, CloudError>> + Send;

    /// CreateService.
    fn create_service(
        &self,
        input: CreateServiceInput,
    ) -> impl Future<Output = Result<ServiceDescription, CloudError>> + Send;

    /// UpdateService (absolute values; safe to repeat).
    fn update_service(
        &self,
        input: UpdateServiceInput,
    ) -> impl Future<Output = Result<ServiceDescription, CloudError>> + Send;

    /// DeleteService (without `force`: refused while the desired count is above 0).
    fn delete_service(
        &self,
        cluster: &str,
        service: &str,
    ) -> impl Future<Output = Result<ServiceDescription, CloudError>> + Send;

    /// DescribeServices, at most 10 names per call; unknown services are left out.
    fn describe_services(
        &self,
        cluster: &str,
        names: &[String],
    ) -> impl Future<Output = Result<Vec<ServiceDescription>, CloudError>> + Send;

    /// DescribeTargetHealth of one target group.
    fn describe_target_health(
        &self,
        target_group: &str,
    ) -> impl Future<Output = Result<Vec<TargetHealth>, CloudError>> + Send;

    /// ModifyTargetGroup's health-check settings.
    fn modify_target_group(
        &self,
        target_group: &str,
        health: HealthCheckSettings,
    ) -> impl Future<Output = Result<(), CloudError>> + Send;

    /// DescribeTargetGroups by name: health check and load balancer of each; unknown names are
    /// left out.
    fn describe_target_groups(
        &self,
        names: &[String],
    ) -> impl Future<Output = Result<BTreeMap<String, types::TargetGroupDescription>, CloudError>> + Send;

    /// GetMetricData for minutes starting in [start_s, end_s), at most 500 queries per call.
    fn get_metric_data(
        &self,
        queries: &[MetricId],
        start_s: u64,
        end_s: u64,
    ) -> impl Future<Output = Result<MetricSeries, CloudError>> + Send;
}

/// Something that can lend the simulator for one call: a shared [`SimCloud`], or a simulator
/// borrowed for the length of one reconcile (`Mutex<&mut Sim>`).
pub trait SimAccess: Send + Sync {
    /// Runs `f` with the simulator.
    fn with<T>(&self, f: impl FnOnce(&mut sim::Sim) -> T) -> T;
}

/// The simulator behind the [`Cloud`] trait: shared, so a driver can advance time between calls.
#[derive(Debug, Clone)]
pub struct SimCloud {
    /// The simulated account.
    sim: Arc<Mutex<sim::Sim>>,
}

impl SimCloud {
    /// Wraps a simulator.
    pub fn new(sim: sim::Sim) -> Self {
        Self {
            sim: Arc::new(Mutex::new(sim)),
        }
    }
}

/// A poisoned lock is taken over: the simulator holds no invariant a panicking caller could break.
impl SimAccess for SimCloud {
    fn with<T>(&self, f: impl FnOnce(&mut sim::Sim) -> T) -> T {
        let mut guard = self
            .sim
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut guard)
    }
}

impl SimAccess for Mutex<&mut sim::Sim> {
    fn with<T>(&self, f: impl FnOnce(&mut sim::Sim) -> T) -> T {
        let mut guard = self
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut guard)
    }
}

impl<A: SimAccess> Cloud for A {
    async fn register_task_definition(
        &self,
        input: TaskDefinitionInput,
    ) -> Result<TaskDefinitionId, CloudError> {
        self.with(|s| s.register_task_definition(input))
    }
    async fn describe_latest_task_definition(
        &self,
        family: &str,
    ) -> Result<Option<(TaskDefinitionId, TaskDefinitionInput)>, CloudError> {
        self.with(|s| s.describe_latest_task_definition(family))
    }
    async fn create_service(
        &self,
        input: CreateServiceInput,
    ) -> Result<ServiceDescription, CloudError> {
        self.with(|s| s.create_service(input))
    }
    async fn update_service(
        &self,
        input: UpdateServiceInput,
    ) -> Result<ServiceDescription, CloudError> {
        self.with(|s| s.update_service(input))
    }
    async fn delete_service(
        &self,
        cluster: &str,
        service: &str,
    ) -> Result<ServiceDescription, CloudError> {
        self.with(|s| s.delete_service(cluster, service))
    }
    async fn describe_services(
        &self,
        cluster: &str,
        names: &[String],
    ) -> Result<Vec<ServiceDescription>, CloudError> {
        self.with(|s| s.describe_services(cluster, names))
    }
    async fn describe_target_health(
        &self,
        target_group: &str,
    ) -> Result<Vec<TargetHealth>, CloudError> {
        self.with(|s| s.describe_target_health(target_group))
    }
    async fn modify_target_group(
        &self,
        target_group: &str,
        health: HealthCheckSettings,
    ) -> Result<(), CloudError> {
        self.with(|s| s.modify_target_group(target_group, health))
    }
    async fn describe_target_groups(
        &self,
        names: &[String],
    ) -> Result<BTreeMap<String, types::TargetGroupDescription>, CloudError> {
        self.with(|s| s.describe_target_groups(names))
    }
    async fn get_metric_data(
        &self,
        queries: &[MetricId],
        start_s: u64,
        end_s: u64,
    ) -> Result<MetricSeries, CloudError> {
        self.with(|s| s.get_metric_data(queries, start_s, end_s))
    }
}
