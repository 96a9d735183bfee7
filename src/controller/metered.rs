//! Every cloud call counted: `tug_aws_requests_total{service,operation,outcome}` and
//! `tug_aws_throttled_total{service,operation}`, around any [`Cloud`].

use crate::cloud::types::{
    CreateServiceInput, HealthCheckSettings, MetricId, MetricSeries, ServiceDescription,
    TargetGroupDescription, TargetHealth, TaskDefinitionId, TaskDefinitionInput,
    UpdateServiceInput,
};
use crate::cloud::{Cloud, CloudError};

use super::metrics::Metrics;

/// A cloud whose calls are counted.
#[derive(Debug, Clone)]
pub struct Metered<C> {
    /// The cloud doing the work.
    inner: C,
    /// Where the counts go.
    metrics: Metrics,
}

impl<C> Metered<C> {
    /// Counts `inner`'s calls in `metrics`.
    pub fn new(inner: C, metrics: Metrics) -> Self {
        Self { inner, metrics }
    }

    /// The wrapped cloud.
    pub fn inner(&self) -> &C {
        &self.inner
    }

    fn count<T>(
        &self,
        service: &str,
        operation: &str,
        result: Result<T, CloudError>,
    ) -> Result<T, CloudError> {
        let outcome = match &result {
            Ok(_) => "ok",
            Err(CloudError::Throttled { .. }) => {
                self.metrics
                    .aws_throttled
                    .with_label_values(&[service, operation])
                    .inc();
                "throttled"
            }
            Err(CloudError::Server { .. }) => "server_error",
            Err(CloudError::Invalid { .. }) => "client_error",
        };
        self.metrics
            .aws_requests
            .with_label_values(&[service, operation, outcome])
            .inc();
        result
    }
}

impl<C: Cloud> Cloud for Metered<C> {
    async fn register_task_definition(
        &self,
        input: TaskDefinitionInput,
    ) -> Result<TaskDefinitionId, CloudError> {
        self.count(
            "ecs",
            "RegisterTaskDefinition",
            self.inner.register_task_definition(input).await,
        )
    }
    async fn describe_latest_task_definition(
        &self,
        family: &str,
    ) -> Result<Option<(TaskDefinitionId, TaskDefinitionInput)>, CloudError> {
        self.count(
            "ecs",
            "DescribeTaskDefinition",
            self.inner.describe_latest_task_definition(family).await,
        )
    }
    async fn create_service(
        &self,
        input: CreateServiceInput,
    ) -> Result<ServiceDescription, CloudError> {
        self.count(
            "ecs",
            "CreateService",
            self.inner.create_service(input).await,
        )
    }
    async fn update_service(
        &self,
        input: UpdateServiceInput,
    ) -> Result<ServiceDescription, CloudError> {
        self.count(
            "ecs",
            "UpdateService",
            self.inner.update_service(input).await,
        )
    }
    async fn delete_service(
        &self,
        cluster: &str,
        service: &str,
    ) -> Result<ServiceDescription, CloudError> {
        self.count(
            "ecs",
            "DeleteService",
            self.inner.delete_service(cluster, service).await,
        )
    }
    async fn describe_services(
        &self,
        cluster: &str,
        names: &[String],
    ) -> Result<Vec<ServiceDescription>, CloudError> {
        self.count(
            "ecs",
            "DescribeServices",
            self.inner.describe_services(cluster, names).await,
        )
    }
    async fn describe_target_health(
        &self,
        target_group: &str,
    ) -> Result<Vec<TargetHealth>, CloudError> {
        self.count(
            "elbv2",
            "DescribeTargetHealth",
            self.inner.describe_target_health(target_group).await,
        )
    }
    async fn modify_target_group(
        &self,
        target_group: &str,
        health: HealthCheckSettings,
    ) -> Result<(), CloudError> {
        self.count(
            "elbv2",
            "ModifyTargetGroup",
            self.inner.modify_target_group(target_group, health).await,
        )
    }
    async fn describe_target_groups(
        &self,
        names: &[String],
    ) -> Result<std::collections::BTreeMap<String, TargetGroupDescription>, CloudError> {
        self.count(
            "elbv2",
            "DescribeTargetGroups",
            self.inner.describe_target_groups(names).await,
        )
    }
    async fn get_metric_data(
        &self,
        queries: &[MetricId],
        start_s: u64,
        end_s: u64,
    ) -> Result<MetricSeries, CloudError> {
        self.count(
            "cloudwatch",
            "GetMetricData",
            self.inner.get_metric_data(queries, start_s, end_s).await,
        )
    }
}
