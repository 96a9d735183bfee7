//! The cloud: the operations tugboat performs on AWS, behind one trait, so the controller runs
//! unchanged against the simulator ([`sim`]) or the real adapter ([`aws`]).
//!
//! The trait speaks AWS's operations (CreateService, DescribeServices, GetMetricData...) in the
//! shared vocabulary of [`crate::model::aws`], never SDK types. Every method may fail with a
//! [`CloudError`] that says whether trying again can help.
//!
//! What every call needs whatever the cloud (a rate limit, a timeout, metering) is a [`Layer`]:
//! one function around a call, told which [`Operation`] it is. [`Layered`] is the one place that
//! forwards each method of the trait through a layer.

pub mod aws;
pub mod clock;
pub mod limiter;
pub mod limits;
pub mod operation;
pub mod sim;
pub mod timeout;

use std::collections::BTreeMap;
use std::future::Future;

pub use clock::Clock;
pub use operation::Operation;
pub use sim::SimCloud;

use crate::model::aws::{
    AlarmState, AutoScalingGroup, ContainerInstance, CreateServiceInput, HealthCheckSettings,
    MetricData, MetricId, RegisteredRevision, ServiceDescription, TargetGroupDescription,
    TargetHealth, TaskDefinitionId, TaskDefinitionInput, UpdateServiceInput,
};
use crate::model::image::{EcrRepository, TaskImages};

/// Why a cloud call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CloudError {
    /// The API's rate limit refused the call (ThrottlingException).
    #[error("{operation}: throttled")]
    Throttled {
        /// The operation.
        operation: Operation,
    },
    /// AWS failed (HTTP 5xx, a connection that broke).
    #[error("{operation}: server error: {message}")]
    Server {
        /// The operation.
        operation: Operation,
        /// What AWS said.
        message: String,
    },
    /// No answer in time: the call was abandoned.
    #[error("{operation}: no answer within {seconds} s")]
    Timeout {
        /// The operation.
        operation: Operation,
        /// How long it was given.
        seconds: u64,
    },
    /// The request was refused as invalid or about something that does not exist, or the caller
    /// may not make it. Trying again does not help until something changes.
    #[error("{operation}: {message}")]
    Invalid {
        /// The operation.
        operation: Operation,
        /// What AWS said, and what to fix.
        message: String,
    },
    /// A mutating call that this controller may not make: it does not hold the lease.
    #[error("{operation}: not sent: this controller no longer holds the lease")]
    NotLeader {
        /// The operation.
        operation: Operation,
    },
}

impl CloudError {
    /// Whether the same call may succeed later (throttling, server errors, timeouts), as opposed
    /// to a request that will be refused again until something changes.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, CloudError::Invalid { .. })
    }

    /// The operation that failed.
    pub fn operation(&self) -> Operation {
        match self {
            CloudError::Throttled { operation }
            | CloudError::Server { operation, .. }
            | CloudError::Timeout { operation, .. }
            | CloudError::Invalid { operation, .. }
            | CloudError::NotLeader { operation } => *operation,
        }
    }

    /// The `outcome` label of `tug_aws_requests_total`.
    pub fn outcome(&self) -> &'static str {
        match self {
            CloudError::Throttled { .. } => "throttled",
            CloudError::Server { .. } => "server_error",
            CloudError::Timeout { .. } => "timeout",
            CloudError::Invalid { .. } => "client_error",
            CloudError::NotLeader { .. } => "not_leader",
        }
    }
}

/// The AWS operations tugboat uses. Implemented by the simulator and by the AWS adapter.
pub trait Cloud: Send + Sync {
    /// RegisterTaskDefinition (always a new revision).
    fn register_task_definition(
        &self,
        input: TaskDefinitionInput,
    ) -> impl Future<Output = Result<RegisteredRevision, CloudError>> + Send;

    /// DescribeTaskDefinition of a family's latest ACTIVE revision; `None` when it has none.
    fn describe_latest_task_definition(
        &self,
        family: &str,
    ) -> impl Future<Output = Result<Option<(RegisteredRevision, TaskDefinitionInput)>, CloudError>> + Send;

    /// DescribeTaskDefinition of one revision; `None` when it does not exist or is INACTIVE (no
    /// new deployment may use it).
    fn describe_task_definition(
        &self,
        id: &TaskDefinitionId,
    ) -> impl Future<Output = Result<Option<RegisteredRevision>, CloudError>> + Send;

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

    /// StopServiceDeployment with ROLLBACK, by service-deployment ARN.
    fn stop_service_deployment(
        &self,
        arn: &str,
    ) -> impl Future<Output = Result<(), CloudError>> + Send;

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
    ) -> impl Future<Output = Result<BTreeMap<String, TargetGroupDescription>, CloudError>> + Send;

    /// DescribeTargetGroupAttributes: the deregistration delay in seconds
    /// (`deregistration_delay.timeout_seconds`). One call per target group.
    fn describe_deregistration_delay(
        &self,
        target_group: &str,
    ) -> impl Future<Output = Result<u32, CloudError>> + Send;

    /// ModifyTargetGroupAttributes: sets the deregistration delay.
    fn modify_deregistration_delay(
        &self,
        target_group: &str,
        seconds: u32,
    ) -> impl Future<Output = Result<(), CloudError>> + Send;

    /// ListTasks of a service's RUNNING tasks: one page, at most [`TASKS_PER_CALL`] ARNs (the
    /// images of a revision are the same on all its tasks, so a sample of that size says it).
    fn list_tasks(
        &self,
        cluster: &str,
        service: &str,
    ) -> impl Future<Output = Result<Vec<String>, CloudError>> + Send;

    /// DescribeTasks of at most [`TASKS_PER_CALL`] task ARNs of `service`: each one's revision and
    /// the image digest of each container. Tasks of other services (ListTasks' serviceName
    /// filter is not enforced everywhere) and tasks gone since are left out.
    fn describe_tasks(
        &self,
        cluster: &str,
        service: &str,
        tasks: &[String],
    ) -> impl Future<Output = Result<Vec<TaskImages>, CloudError>> + Send;

    /// GetLifecyclePolicy of an ECR repository: the policy text, `None` when it has none.
    fn get_lifecycle_policy(
        &self,
        repository: &EcrRepository,
    ) -> impl Future<Output = Result<Option<String>, CloudError>> + Send;

    /// DescribeAlarms of at most [`crate::model::aws::ALARMS_PER_CALL`] names (metric and
    /// composite alarms): the state of each that exists; a name with no alarm is left out.
    fn describe_alarms(
        &self,
        names: &[String],
    ) -> impl Future<Output = Result<Vec<AlarmState>, CloudError>> + Send;

    /// SNS Publish of a message (with a subject of at most 100 characters) to a topic.
    fn publish(
        &self,
        topic_arn: &str,
        subject: &str,
        message: &str,
    ) -> impl Future<Output = Result<(), CloudError>> + Send;

    /// DescribeAutoScalingGroups of one group by name; `None` when there is none.
    fn describe_auto_scaling_group(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<AutoScalingGroup>, CloudError>> + Send;

    /// SetDesiredCapacity of a group (honouring its cooldown is not asked: tugboat keeps its own).
    fn set_desired_capacity(
        &self,
        group: &str,
        desired: u32,
    ) -> impl Future<Output = Result<(), CloudError>> + Send;

    /// SetInstanceProtection (from the group's own scale-in) of at most 50 instances.
    fn set_instance_protection(
        &self,
        group: &str,
        instances: &[String],
        protected: bool,
    ) -> impl Future<Output = Result<(), CloudError>> + Send;

    /// TerminateInstanceInAutoScalingGroup, with the desired capacity decremented or not.
    fn terminate_instance_in_auto_scaling_group(
        &self,
        instance: &str,
        decrement: bool,
    ) -> impl Future<Output = Result<(), CloudError>> + Send;

    /// ListContainerInstances of a cluster: every ARN, all pages.
    fn list_container_instances(
        &self,
        cluster: &str,
    ) -> impl Future<Output = Result<Vec<String>, CloudError>> + Send;

    /// DescribeContainerInstances of at most
    /// [`crate::model::aws::CONTAINER_INSTANCES_PER_CALL`] ARNs; one gone since is left out.
    fn describe_container_instances(
        &self,
        cluster: &str,
        arns: &[String],
    ) -> impl Future<Output = Result<Vec<ContainerInstance>, CloudError>> + Send;

    /// UpdateContainerInstancesState of at most 10 container instances to `DRAINING` or `ACTIVE`.
    fn update_container_instances_state(
        &self,
        cluster: &str,
        arns: &[String],
        status: &str,
    ) -> impl Future<Output = Result<(), CloudError>> + Send;

    /// ListTasks of one container instance: its tasks' ARNs (RUNNING and PENDING), all pages.
    fn list_instance_tasks(
        &self,
        cluster: &str,
        container_instance: &str,
    ) -> impl Future<Output = Result<Vec<String>, CloudError>> + Send;

    /// DescribeTasks of at most [`TASKS_PER_CALL`] tasks: each one's `group` (`service:NAME` for
    /// a service's task, `family:...` for a standalone one).
    fn describe_task_groups(
        &self,
        cluster: &str,
        tasks: &[String],
    ) -> impl Future<Output = Result<Vec<String>, CloudError>> + Send;

    /// GetMetricData for minutes starting in [start_s, end_s), at most 500 queries per call. A
    /// query that cannot be asked (a target group that does not exist) is reported in
    /// [`MetricData::unresolved`] and fails nothing else.
    fn get_metric_data(
        &self,
        queries: &[MetricId],
        start_s: u64,
        end_s: u64,
    ) -> impl Future<Output = Result<MetricData, CloudError>> + Send;
}

/// ListTasks' `maxResults` and DescribeTasks' most tasks per call.
pub const TASKS_PER_CALL: usize = 100;

/// Something done around every call: told the operation, it may wait before, refuse, time out or
/// count the call.
pub trait Layer: Send + Sync {
    /// Runs `call` (the inner cloud's answer to `operation`) with this layer's work around it.
    fn around<T: Send>(
        &self,
        operation: Operation,
        call: impl Future<Output = Result<T, CloudError>> + Send,
    ) -> impl Future<Output = Result<T, CloudError>> + Send;
}

/// A cloud with a layer around each of its calls.
#[derive(Debug, Clone)]
pub struct Layered<L, C> {
    /// What is done around each call.
    layer: L,
    /// The cloud doing the work.
    inner: C,
}

impl<L, C> Layered<L, C> {
    /// Puts `layer` around every call of `inner`.
    pub fn new(layer: L, inner: C) -> Self {
        Self { layer, inner }
    }

    /// The layer.
    pub fn layer(&self) -> &L {
        &self.layer
    }

    /// The wrapped cloud.
    pub fn inner(&self) -> &C {
        &self.inner
    }
}

impl<L: Layer, C: Cloud> Cloud for Layered<L, C> {
    async fn register_task_definition(
        &self,
        input: TaskDefinitionInput,
    ) -> Result<RegisteredRevision, CloudError> {
        let call = self.inner.register_task_definition(input);
        self.layer
            .around(Operation::RegisterTaskDefinition, call)
            .await
    }
    async fn describe_latest_task_definition(
        &self,
        family: &str,
    ) -> Result<Option<(RegisteredRevision, TaskDefinitionInput)>, CloudError> {
        let call = self.inner.describe_latest_task_definition(family);
        self.layer
            .around(Operation::DescribeTaskDefinition, call)
            .await
    }
    async fn describe_task_definition(
        &self,
        id: &TaskDefinitionId,
    ) -> Result<Option<RegisteredRevision>, CloudError> {
        let call = self.inner.describe_task_definition(id);
        self.layer
            .around(Operation::DescribeTaskDefinition, call)
            .await
    }
    async fn create_service(
        &self,
        input: CreateServiceInput,
    ) -> Result<ServiceDescription, CloudError> {
        let call = self.inner.create_service(input);
        self.layer.around(Operation::CreateService, call).await
    }
    async fn update_service(
        &self,
        input: UpdateServiceInput,
    ) -> Result<ServiceDescription, CloudError> {
        let call = self.inner.update_service(input);
        self.layer.around(Operation::UpdateService, call).await
    }
    async fn delete_service(
        &self,
        cluster: &str,
        service: &str,
    ) -> Result<ServiceDescription, CloudError> {
        let call = self.inner.delete_service(cluster, service);
        self.layer.around(Operation::DeleteService, call).await
    }
    async fn describe_services(
        &self,
        cluster: &str,
        names: &[String],
    ) -> Result<Vec<ServiceDescription>, CloudError> {
        let call = self.inner.describe_services(cluster, names);
        self.layer.around(Operation::DescribeServices, call).await
    }
    async fn describe_target_health(
        &self,
        target_group: &str,
    ) -> Result<Vec<TargetHealth>, CloudError> {
        let call = self.inner.describe_target_health(target_group);
        self.layer
            .around(Operation::DescribeTargetHealth, call)
            .await
    }
    async fn modify_target_group(
        &self,
        target_group: &str,
        health: HealthCheckSettings,
    ) -> Result<(), CloudError> {
        let call = self.inner.modify_target_group(target_group, health);
        self.layer.around(Operation::ModifyTargetGroup, call).await
    }
    async fn stop_service_deployment(&self, arn: &str) -> Result<(), CloudError> {
        let call = self.inner.stop_service_deployment(arn);
        self.layer
            .around(Operation::StopServiceDeployment, call)
            .await
    }
    async fn describe_deregistration_delay(&self, target_group: &str) -> Result<u32, CloudError> {
        let call = self.inner.describe_deregistration_delay(target_group);
        self.layer
            .around(Operation::DescribeTargetGroupAttributes, call)
            .await
    }
    async fn modify_deregistration_delay(
        &self,
        target_group: &str,
        seconds: u32,
    ) -> Result<(), CloudError> {
        let call = self
            .inner
            .modify_deregistration_delay(target_group, seconds);
        self.layer
            .around(Operation::ModifyTargetGroupAttributes, call)
            .await
    }
    async fn describe_target_groups(
        &self,
        names: &[String],
    ) -> Result<BTreeMap<String, TargetGroupDescription>, CloudError> {
        let call = self.inner.describe_target_groups(names);
        self.layer
            .around(Operation::DescribeTargetGroups, call)
            .await
    }
    async fn get_metric_data(
        &self,
        queries: &[MetricId],
        start_s: u64,
        end_s: u64,
    ) -> Result<MetricData, CloudError> {
        let call = self.inner.get_metric_data(queries, start_s, end_s);
        self.layer.around(Operation::GetMetricData, call).await
    }
    async fn list_tasks(&self, cluster: &str, service: &str) -> Result<Vec<String>, CloudError> {
        let call = self.inner.list_tasks(cluster, service);
        self.layer.around(Operation::ListTasks, call).await
    }
    async fn describe_tasks(
        &self,
        cluster: &str,
        service: &str,
        tasks: &[String],
    ) -> Result<Vec<TaskImages>, CloudError> {
        let call = self.inner.describe_tasks(cluster, service, tasks);
        self.layer.around(Operation::DescribeTasks, call).await
    }
    async fn get_lifecycle_policy(
        &self,
        repository: &EcrRepository,
    ) -> Result<Option<String>, CloudError> {
        let call = self.inner.get_lifecycle_policy(repository);
        self.layer.around(Operation::GetLifecyclePolicy, call).await
    }
    async fn describe_alarms(&self, names: &[String]) -> Result<Vec<AlarmState>, CloudError> {
        let call = self.inner.describe_alarms(names);
        self.layer.around(Operation::DescribeAlarms, call).await
    }
    async fn publish(
        &self,
        topic_arn: &str,
        subject: &str,
        message: &str,
    ) -> Result<(), CloudError> {
        let call = self.inner.publish(topic_arn, subject, message);
        self.layer.around(Operation::Publish, call).await
    }
    async fn describe_auto_scaling_group(
        &self,
        name: &str,
    ) -> Result<Option<AutoScalingGroup>, CloudError> {
        let call = self.inner.describe_auto_scaling_group(name);
        self.layer
            .around(Operation::DescribeAutoScalingGroups, call)
            .await
    }
    async fn set_desired_capacity(&self, group: &str, desired: u32) -> Result<(), CloudError> {
        let call = self.inner.set_desired_capacity(group, desired);
        self.layer.around(Operation::SetDesiredCapacity, call).await
    }
    async fn set_instance_protection(
        &self,
        group: &str,
        instances: &[String],
        protected: bool,
    ) -> Result<(), CloudError> {
        let call = self
            .inner
            .set_instance_protection(group, instances, protected);
        self.layer
            .around(Operation::SetInstanceProtection, call)
            .await
    }
    async fn terminate_instance_in_auto_scaling_group(
        &self,
        instance: &str,
        decrement: bool,
    ) -> Result<(), CloudError> {
        let call = self
            .inner
            .terminate_instance_in_auto_scaling_group(instance, decrement);
        self.layer
            .around(Operation::TerminateInstanceInAutoScalingGroup, call)
            .await
    }
    async fn list_container_instances(&self, cluster: &str) -> Result<Vec<String>, CloudError> {
        let call = self.inner.list_container_instances(cluster);
        self.layer
            .around(Operation::ListContainerInstances, call)
            .await
    }
    async fn describe_container_instances(
        &self,
        cluster: &str,
        arns: &[String],
    ) -> Result<Vec<ContainerInstance>, CloudError> {
        let call = self.inner.describe_container_instances(cluster, arns);
        self.layer
            .around(Operation::DescribeContainerInstances, call)
            .await
    }
    async fn update_container_instances_state(
        &self,
        cluster: &str,
        arns: &[String],
        status: &str,
    ) -> Result<(), CloudError> {
        let call = self
            .inner
            .update_container_instances_state(cluster, arns, status);
        self.layer
            .around(Operation::UpdateContainerInstancesState, call)
            .await
    }
    async fn list_instance_tasks(
        &self,
        cluster: &str,
        container_instance: &str,
    ) -> Result<Vec<String>, CloudError> {
        let call = self.inner.list_instance_tasks(cluster, container_instance);
        self.layer.around(Operation::ListTasks, call).await
    }
    async fn describe_task_groups(
        &self,
        cluster: &str,
        tasks: &[String],
    ) -> Result<Vec<String>, CloudError> {
        let call = self.inner.describe_task_groups(cluster, tasks);
        self.layer.around(Operation::DescribeTasks, call).await
    }
}

/// Two layers: the first around the second, around the call.
impl<A: Layer, B: Layer> Layer for (A, B) {
    async fn around<T: Send>(
        &self,
        operation: Operation,
        call: impl Future<Output = Result<T, CloudError>> + Send,
    ) -> Result<T, CloudError> {
        self.0
            .around(operation, self.1.around(operation, call))
            .await
    }
}
