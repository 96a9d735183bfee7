//! The real AWS adapter: the [`Cloud`] trait over aws-sdk-ecs, -elasticloadbalancingv2,
//! -cloudwatch, -ecr (one read: a repository's lifecycle policy), -sns (publishing the
//! decisions a stack's `notifications` name) and -autoscaling (the Auto Scaling group of a stack's
//! `capacity`).
//!
//! - Configuration from aws-config's standard chain: environment, profile, the ECS task role
//!   (container credentials), `AWS_REGION`, `AWS_ENDPOINT_URL` (how the tests reach moto).
//! - The SDK's standard retries (3 attempts, backoff with jitter) for throttling and transient
//!   errors; what still fails is classified by [`error`]: retryable or terminal, the latter with
//!   the permission or resource to fix. Pacing below AWS's limits is the job of
//!   [`crate::cloud::limiter`], in front of this adapter.
//! - Batching: DescribeServices 10 names a call (checked here: moto does not enforce it),
//!   GetMetricData 500 queries a call with every page followed, DescribeTargetGroups by name or ARN.
//! - Target groups may be named by name or ARN; each is resolved once (ARN, CloudWatch dimensions,
//!   load balancer) and cached.
//! - CreateService carries the planner's client token (one per decision to create), so a retried
//!   call cannot make a second service; everything created is tagged `tugboat:stack` and
//!   `tugboat:managed-by`.
//!
//! Every AWS operation this module calls is a `self.ecs`, `self.elb`, `self.cloudwatch`,
//! `self.ecr`, `self.sns` or `self.autoscaling` fluent call; `tests/iam_policy.rs` reads them from this source and checks that the IAM policy in
//! `deploy/tugboat.yaml` grants exactly those actions.

mod convert;
pub mod error;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_sdk_cloudwatch::types as cw;
use aws_sdk_ecs::types as ecs;
use aws_sdk_elasticloadbalancingv2::types as elb;
use aws_smithy_types::DateTime;

use super::{Cloud, CloudError, Operation};
use crate::model::aws::{
    ALARMS_PER_CALL, AlarmState, AutoScalingGroup, CONTAINER_INSTANCES_PER_CALL, ContainerInstance,
    CreateServiceInput, Datapoint, FINE_CPU_PERIOD_SECONDS, GroupInstance, HealthCheckSettings,
    MetricData, MetricId, RegisteredRevision, ServiceDescription, TargetGroupDescription,
    TargetHealth, TargetState, TaskDefinitionId, TaskDefinitionInput, UpdateServiceInput,
};
use crate::model::image::{EcrRepository, TaskImages};
use error::classify;

/// DescribeServices takes at most this many services.
pub const DESCRIBE_SERVICES_MAX: usize = 10;
/// GetMetricData takes at most this many queries.
pub const METRIC_QUERIES_MAX: usize = 500;

/// Something the preflight found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// What is wrong and what to fix.
    pub message: String,
    /// What it stops.
    pub scope: Scope,
}

/// What a preflight problem stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Everything: no region, no credentials, access denied. The controller does not start.
    Account,
    /// Only the stacks naming the resource (a missing cluster or target group): they are
    /// reported Degraded with what to fix; the others go on.
    Stacks,
    /// Nothing yet: AWS did not answer (or answered with a server error); calls are retried.
    Transient,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// What is known of a target group once resolved.
#[derive(Debug, Clone)]
struct TargetGroupInfo {
    arn: String,
    /// `targetgroup/NAME/ID`, CloudWatch's dimension value.
    dimension: Option<String>,
    /// `app/NAME/ID` of its (first) load balancer.
    load_balancer: Option<String>,
}

/// The SDK's timeouts on every call: no call waits on a hung endpoint for longer than these.
pub mod timeouts {
    use std::time::Duration;

    /// Establishing a connection.
    pub const CONNECT: Duration = Duration::from_secs(3);
    /// Between bytes of an answer.
    pub const READ: Duration = Duration::from_secs(10);
    /// One attempt, from sending to the whole answer.
    pub const ATTEMPT: Duration = Duration::from_secs(10);
    /// A whole operation, retries included (below the controller's own deadline on a call).
    pub const OPERATION: Duration = Duration::from_secs(18);
}

/// The SDK configuration from the standard chain (environment, profile, the ECS task role), with
/// [`timeouts`] on every call. `retries: false` turns the SDK's retries off (tests against moto,
/// where a retried 500 would repeat a side effect).
pub async fn sdk_config(retries: bool) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest()).timeout_config(
        aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(timeouts::CONNECT)
            .read_timeout(timeouts::READ)
            .operation_attempt_timeout(timeouts::ATTEMPT)
            .operation_timeout(timeouts::OPERATION)
            .build(),
    );
    if !retries {
        loader = loader.retry_config(aws_config::retry::RetryConfig::disabled());
    }
    loader.load().await
}

/// The AWS account, through the SDK. Cheap to clone: the clients and the cache are shared.
#[derive(Debug, Clone)]
pub struct AwsCloud {
    ecs: aws_sdk_ecs::Client,
    elb: aws_sdk_elasticloadbalancingv2::Client,
    cloudwatch: aws_sdk_cloudwatch::Client,
    ecr: aws_sdk_ecr::Client,
    sns: aws_sdk_sns::Client,
    autoscaling: aws_sdk_autoscaling::Client,
    config: aws_config::SdkConfig,
    /// Target groups by the identifier the manifest uses (name or ARN).
    target_groups: Arc<Mutex<BTreeMap<String, TargetGroupInfo>>>,
}

impl AwsCloud {
    /// Loads configuration from the standard chain. `retries: false` turns the SDK's retries off
    /// (tests against moto, where a retried 500 would repeat a side effect).
    pub async fn from_env(retries: bool) -> Self {
        Self::new(sdk_config(retries).await)
    }

    /// An adapter over an SDK configuration.
    pub fn new(config: aws_config::SdkConfig) -> Self {
        Self {
            ecs: aws_sdk_ecs::Client::new(&config),
            elb: aws_sdk_elasticloadbalancingv2::Client::new(&config),
            cloudwatch: aws_sdk_cloudwatch::Client::new(&config),
            sns: aws_sdk_sns::Client::new(&config),
            ecr: aws_sdk_ecr::Client::new(&config),
            autoscaling: aws_sdk_autoscaling::Client::new(&config),
            config,
            target_groups: Arc::default(),
        }
    }

    /// Checks, before the controller starts, that it can work: a region, credentials, and every
    /// cluster and target group the stacks name. Each problem says what to fix, and whether it
    /// is one that waiting can fix (AWS not answering).
    ///
    /// # Errors
    /// Every problem found.
    pub async fn preflight(
        &self,
        clusters: &[String],
        target_groups: &[String],
    ) -> Result<(), Vec<Problem>> {
        let mut problems = Vec::new();
        let fatal = |message: String| Problem {
            message,
            scope: Scope::Account,
        };
        match self.config.region() {
            None => problems.push(fatal(
                "no AWS region: set AWS_REGION (or a region in the profile)".to_owned(),
            )),
            Some(region) => tracing::info!(region = %region, "AWS region"),
        }
        match self.config.credentials_provider() {
            None => problems.push(fatal(
                "no AWS credentials provider is configured".to_owned(),
            )),
            Some(provider) => {
                use aws_credential_types::provider::ProvideCredentials;
                if let Err(e) = provider.provide_credentials().await {
                    use aws_credential_types::provider::error::CredentialsError;
                    // The default chain's own report lists every provider it tried, over
                    // several lines: said in one phrase instead.
                    let why = match &e {
                        CredentialsError::CredentialsNotLoaded(_) => "none found (environment variables, profile, web identity, ECS task role and instance metadata tried)".to_owned(),
                        other => error::causes(other),
                    };
                    problems.push(fatal(format!(
                        "no AWS credentials: {why}; in ECS give the task a task role, elsewhere set AWS_PROFILE or AWS_ACCESS_KEY_ID"
                    )));
                }
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let failed = |e: CloudError| Problem {
            scope: if e.is_retryable() {
                Scope::Transient
            } else {
                Scope::Account
            },
            message: e.to_string(),
        };
        for batch in clusters.chunks(100) {
            match self
                .ecs
                .describe_clusters()
                .set_clusters(Some(batch.to_vec()))
                .send()
                .await
            {
                Ok(out) => {
                    for name in batch {
                        let active = out.clusters().iter().any(|c| {
                            c.cluster_name() == Some(name.as_str()) && c.status() == Some("ACTIVE")
                        });
                        if !active {
                            problems.push(Problem {
                                message: format!(
                                    "cluster `{name}` does not exist or is not ACTIVE in this account and region"
                                ),
                                scope: Scope::Stacks,
                            });
                        }
                    }
                }
                Err(e) => {
                    problems.push(failed(classify(Operation::DescribeClusters, e)));
                    break;
                }
            }
        }
        match self.describe_target_groups(target_groups).await {
            Ok(found) => {
                for name in target_groups.iter().filter(|n| !found.contains_key(*n)) {
                    problems.push(Problem {
                        message: format!("target group `{name}` does not exist"),
                        scope: Scope::Stacks,
                    });
                }
            }
            Err(e) => problems.push(failed(e)),
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// DescribeTaskDefinition of a family (its latest) or `family:revision`; `None` when ECS
    /// does not know it.
    async fn describe(&self, name: &str) -> Result<Option<ecs::TaskDefinition>, CloudError> {
        const OP: Operation = Operation::DescribeTaskDefinition;
        match self
            .ecs
            .describe_task_definition()
            .task_definition(name)
            .send()
            .await
        {
            Ok(out) => Ok(out.task_definition().cloned()),
            Err(e) => match classify(OP, e) {
                // An unknown family or revision: ECS answers ClientException.
                CloudError::Invalid { message, .. }
                    if message.starts_with("ClientException")
                        || message.contains("Unable to describe task definition") =>
                {
                    Ok(None)
                }
                other => Err(other),
            },
        }
    }

    fn cached(&self, identifier: &str) -> Option<TargetGroupInfo> {
        self.target_groups
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(identifier)
            .cloned()
    }

    /// A target group's ARN and dimensions, resolved once.
    async fn target_group(
        &self,
        identifier: &str,
        operation: Operation,
    ) -> Result<TargetGroupInfo, CloudError> {
        if let Some(info) = self.cached(identifier) {
            return Ok(info);
        }
        self.describe_target_groups(&[identifier.to_owned()])
            .await?;
        self.cached(identifier).ok_or_else(|| CloudError::Invalid {
            operation,
            message: format!(
                "target group `{identifier}` does not exist; create it, or fix its name in the manifest"
            ),
        })
    }

    /// One DescribeTargetGroups call for names or ARNs (not both: the API takes one kind).
    async fn describe_target_groups_call(
        &self,
        identifiers: &[String],
        arns: bool,
    ) -> Result<Vec<elb::TargetGroup>, CloudError> {
        let request = self.elb.describe_target_groups();
        let request = if arns {
            request.set_target_group_arns(Some(identifiers.to_vec()))
        } else {
            request.set_names(Some(identifiers.to_vec()))
        };
        match request.send().await {
            Ok(out) => Ok(out.target_groups().to_vec()),
            Err(e) => Err(classify(Operation::DescribeTargetGroups, e)),
        }
    }

    /// Metric queries for CloudWatch, each with the id `m{index}` of its place in `ids`. A query
    /// whose target group does not exist has no dimension to ask for: it is left out and
    /// reported in `unresolved`, and the others go ahead.
    async fn metric_queries(
        &self,
        ids: &[MetricId],
        unresolved: &mut BTreeMap<MetricId, String>,
    ) -> Result<Vec<cw::MetricDataQuery>, CloudError> {
        let mut queries = Vec::with_capacity(ids.len());
        for (i, id) in ids.iter().enumerate() {
            let dimension =
                |name: &str, value: &str| cw::Dimension::builder().name(name).value(value).build();
            // MetricStat.Period: 1, 5, 10, 20, 30 or multiples of 60 for high-resolution metrics,
            // while the start is under 3 hours ago (it always is here).
            let period = match id {
                MetricId::ServiceCpuFine { .. } => FINE_CPU_PERIOD_SECONDS as i32,
                _ => 60,
            };
            let (namespace, name, stat, dimensions) = match id {
                MetricId::ServiceCpu { cluster, service }
                | MetricId::ServiceCpuFine { cluster, service } => (
                    "AWS/ECS",
                    "CPUUtilization",
                    "Average",
                    vec![
                        dimension("ClusterName", cluster),
                        dimension("ServiceName", service),
                    ],
                ),
                MetricId::Elb5xx { load_balancer } => (
                    "AWS/ApplicationELB",
                    "HTTPCode_ELB_5XX_Count",
                    "Sum",
                    vec![dimension("LoadBalancer", load_balancer)],
                ),
                MetricId::Target5xx { target_group }
                | MetricId::HealthyHosts { target_group }
                | MetricId::RequestCount { target_group } => {
                    let info = match self
                        .target_group(target_group, Operation::GetMetricData)
                        .await
                    {
                        Ok(info) => info,
                        Err(CloudError::Invalid { .. }) => {
                            unresolved.insert(
                                id.clone(),
                                format!("target group `{target_group}` does not exist"),
                            );
                            continue;
                        }
                        Err(e) => return Err(e),
                    };
                    let mut dims = Vec::new();
                    if let Some(d) = &info.dimension {
                        dims.push(dimension("TargetGroup", d));
                    }
                    if let Some(lb) = &info.load_balancer {
                        dims.push(dimension("LoadBalancer", lb));
                    }
                    match id {
                        MetricId::Target5xx { .. } => (
                            "AWS/ApplicationELB",
                            "HTTPCode_Target_5XX_Count",
                            "Sum",
                            dims,
                        ),
                        MetricId::RequestCount { .. } => {
                            ("AWS/ApplicationELB", "RequestCount", "Sum", dims)
                        }
                        _ => ("AWS/ApplicationELB", "HealthyHostCount", "Average", dims),
                    }
                }
            };
            queries.push(
                cw::MetricDataQuery::builder()
                    .id(format!("m{i}"))
                    .metric_stat(
                        cw::MetricStat::builder()
                            .metric(
                                cw::Metric::builder()
                                    .namespace(namespace)
                                    .metric_name(name)
                                    .set_dimensions(Some(dimensions))
                                    .build(),
                            )
                            .period(period)
                            .stat(stat)
                            .build(),
                    )
                    .return_data(true)
                    .build(),
            );
        }
        Ok(queries)
    }
}

/// StopServiceDeployment with ROLLBACK: for a traffic-shifting deployment, ECS moves production
/// traffic back to the old tasks.
fn stop_request(request: StopDeployment, arn: &str) -> StopDeployment {
    request
        .service_deployment_arn(arn)
        .stop_type(ecs::StopServiceDeploymentStopType::Rollback)
}

type StopDeployment =
    aws_sdk_ecs::operation::stop_service_deployment::builders::StopServiceDeploymentFluentBuilder;

/// The target-group attribute holding the deregistration delay.
const DEREGISTRATION_DELAY: &str = "deregistration_delay.timeout_seconds";

/// A registered revision as the account reports it.
fn registered(td: &ecs::TaskDefinition, family: &str) -> RegisteredRevision {
    let id = TaskDefinitionId {
        family: td.family().unwrap_or(family).to_owned(),
        revision: u32::try_from(td.revision()).unwrap_or(0),
    };
    RegisteredRevision {
        arn: td
            .task_definition_arn()
            .map_or_else(|| id.to_string(), str::to_owned),
        id,
    }
}

fn signed(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn ecs_deployment_configuration(
    config: &crate::model::aws::DeploymentConfiguration,
) -> ecs::DeploymentConfiguration {
    use crate::model::aws::Strategy;
    let threshold = config.failure_threshold.as_ref().and_then(|(kind, value)| {
        ecs::ThresholdConfiguration::builder()
            .r#type(ecs::ThresholdType::from(kind.as_str()))
            .value(signed(*value))
            .build()
            .ok()
    });
    let alarms = (!config.alarms.is_empty())
        .then(|| {
            ecs::DeploymentAlarms::builder()
                .set_alarm_names(Some(config.alarms.clone()))
                .enable(true)
                .rollback(config.rollback)
                .build()
                .ok()
        })
        .flatten();
    let builder = ecs::DeploymentConfiguration::builder()
        .minimum_healthy_percent(signed(config.minimum_healthy_percent))
        .maximum_percent(signed(config.maximum_percent))
        .deployment_circuit_breaker(
            ecs::DeploymentCircuitBreaker::builder()
                .enable(config.circuit_breaker)
                .rollback(config.rollback)
                .set_threshold_configuration(threshold)
                .set_reset_on_healthy_task(config.reset_on_healthy_task)
                .build(),
        )
        .set_alarms(alarms)
        .strategy(ecs::DeploymentStrategy::from(config.strategy.ecs_name()));
    match config.strategy {
        Strategy::Rolling => builder,
        Strategy::BlueGreen { bake_minutes } => builder.bake_time_in_minutes(signed(bake_minutes)),
        Strategy::Canary {
            percent,
            canary_bake_minutes,
            bake_minutes,
        } => builder
            .bake_time_in_minutes(signed(bake_minutes))
            .canary_configuration(
                ecs::CanaryConfiguration::builder()
                    .canary_percent(percent)
                    .canary_bake_time_in_minutes(signed(canary_bake_minutes))
                    .build(),
            ),
        Strategy::Linear {
            step_percent,
            step_bake_minutes,
            bake_minutes,
        } => builder
            .bake_time_in_minutes(signed(bake_minutes))
            .linear_configuration(
                ecs::LinearConfiguration::builder()
                    .step_percent(step_percent)
                    .step_bake_time_in_minutes(signed(step_bake_minutes))
                    .build(),
            ),
    }
    .build()
}

/// The service a create, update or delete answered with.
fn described(
    operation: Operation,
    cluster: &str,
    service: Option<&ecs::Service>,
) -> Result<ServiceDescription, CloudError> {
    service
        .map(|s| convert::service(cluster, s))
        .ok_or_else(|| invalid(operation, "the answer describes no service"))
}

fn invalid(operation: Operation, e: impl std::fmt::Display) -> CloudError {
    CloudError::Invalid {
        operation,
        message: e.to_string(),
    }
}

/// Every page of a listing: `page` is called with each next token (none the first time) and gives
/// that page's items and the token of the next, until there is none.
async fn every_page<F, Fut>(mut page: F) -> Result<Vec<String>, CloudError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<(Vec<String>, Option<String>), CloudError>>,
{
    let mut items = Vec::new();
    let mut token = None;
    loop {
        let (more, next) = page(token).await?;
        items.extend(more);
        if next.is_none() {
            return Ok(items);
        }
        token = next;
    }
}

/// Whether a batch needs a call: an empty one does not, and one over the API's limit is refused
/// before it is sent (moto does not enforce the limits; AWS does).
fn batch_needs_call(
    operation: Operation,
    len: usize,
    max: usize,
    what: &str,
) -> Result<bool, CloudError> {
    if len > max {
        return Err(invalid(
            operation,
            format!("at most {max} {what} per call, got {len}"),
        ));
    }
    Ok(len > 0)
}

impl Cloud for AwsCloud {
    async fn register_task_definition(
        &self,
        input: TaskDefinitionInput,
    ) -> Result<RegisteredRevision, CloudError> {
        const OP: Operation = Operation::RegisterTaskDefinition;
        let out = self
            .ecs
            .register_task_definition()
            .family(&input.family)
            .set_cpu(input.cpu.map(|c| c.to_string()))
            .set_memory(input.memory.map(|m| m.to_string()))
            .network_mode(ecs::NetworkMode::from(input.network_mode.as_str()))
            .set_requires_compatibilities(Some(
                input
                    .requires_compatibilities
                    .iter()
                    .map(|c| ecs::Compatibility::from(c.as_str()))
                    .collect(),
            ))
            .set_execution_role_arn(input.execution_role_arn.clone())
            .set_task_role_arn(input.task_role_arn.clone())
            .set_container_definitions(Some(convert::container_definitions(&input)))
            .set_tags(Some(convert::ecs_tags(&input.tags)).filter(|t| !t.is_empty()))
            .send()
            .await
            .map_err(|e| classify(OP, e))?;
        let td = out
            .task_definition()
            .ok_or_else(|| invalid(OP, "the answer names no task definition"))?;
        Ok(registered(td, &input.family))
    }

    async fn describe_latest_task_definition(
        &self,
        family: &str,
    ) -> Result<Option<(RegisteredRevision, TaskDefinitionInput)>, CloudError> {
        // A family alone names its latest ACTIVE revision.
        Ok(self
            .describe(family)
            .await?
            .map(|td| (registered(&td, family), convert::definition(&td))))
    }

    async fn describe_task_definition(
        &self,
        id: &TaskDefinitionId,
    ) -> Result<Option<RegisteredRevision>, CloudError> {
        // An INACTIVE (deregistered) revision may not be used by a new deployment: as good as gone.
        Ok(self
            .describe(&id.to_string())
            .await?
            .filter(|td| td.status() != Some(&ecs::TaskDefinitionStatus::Inactive))
            .map(|td| registered(&td, &id.family)))
    }

    async fn create_service(
        &self,
        input: CreateServiceInput,
    ) -> Result<ServiceDescription, CloudError> {
        const OP: Operation = Operation::CreateService;
        let mut load_balancers = Vec::new();
        for lb in &input.load_balancers {
            let info = self.target_group(&lb.target_group, OP).await?;
            let advanced = match &lb.advanced {
                None => None,
                Some(a) => Some(
                    ecs::AdvancedConfiguration::builder()
                        .alternate_target_group_arn(
                            self.target_group(&a.alternate_target_group, OP).await?.arn,
                        )
                        .production_listener_rule(&a.production_listener_rule)
                        .set_test_listener_rule(a.test_listener_rule.clone())
                        .role_arn(&a.role_arn)
                        .build(),
                ),
            };
            load_balancers.push(
                ecs::LoadBalancer::builder()
                    .target_group_arn(info.arn)
                    .container_name(&lb.container_name)
                    .container_port(signed(lb.container_port))
                    .set_advanced_configuration(advanced)
                    .build(),
            );
        }
        let network = match &input.network {
            None => None,
            Some(n) => Some(
                ecs::NetworkConfiguration::builder()
                    .awsvpc_configuration(
                        ecs::AwsVpcConfiguration::builder()
                            .set_subnets(Some(n.subnets.clone()))
                            .set_security_groups(Some(n.security_groups.clone()))
                            .assign_public_ip(if n.assign_public_ip {
                                ecs::AssignPublicIp::Enabled
                            } else {
                                ecs::AssignPublicIp::Disabled
                            })
                            .build()
                            .map_err(|e| invalid(OP, e))?,
                    )
                    .build(),
            ),
        };
        let controller = ecs::DeploymentController::builder()
            .r#type(match input.deployment_controller {
                crate::model::aws::DeploymentController::Ecs => ecs::DeploymentControllerType::Ecs,
                crate::model::aws::DeploymentController::External => {
                    ecs::DeploymentControllerType::External
                }
            })
            .build()
            .map_err(|e| invalid(OP, e))?;
        let has_load_balancers = !load_balancers.is_empty();
        let options = &input.options;
        // ECS refuses a launch type beside a capacity provider strategy.
        let launch_type = options
            .capacity_provider_strategy
            .is_empty()
            .then(|| ecs::LaunchType::from(input.launch_type.as_str()));
        let out = self
            .ecs
            .create_service()
            .cluster(&input.cluster)
            .service_name(&input.service)
            .task_definition(input.task_definition.to_string())
            .desired_count(signed(input.desired_count))
            .set_launch_type(launch_type)
            .set_capacity_provider_strategy(convert::capacity_providers(options))
            .set_placement_strategy(convert::placement_strategy(options))
            .set_placement_constraints(convert::placement_constraints(options))
            .set_platform_version(options.platform_version.clone())
            .enable_execute_command(options.enable_execute_command)
            .propagate_tags(ecs::PropagateTags::from(options.propagate_tags.as_str()))
            .set_monitoring(convert::monitoring(options))
            .deployment_configuration(ecs_deployment_configuration(
                &input.deployment_configuration,
            ))
            .deployment_controller(controller)
            .set_load_balancers(Some(load_balancers).filter(|l| !l.is_empty()))
            // ECS accepts a grace period only for services behind a load balancer.
            .set_health_check_grace_period_seconds(
                has_load_balancers.then(|| signed(input.health_check_grace_period_seconds)),
            )
            .set_network_configuration(network)
            .set_client_token(Some(input.client_token.clone()).filter(|t| !t.is_empty()))
            .set_tags(Some(convert::ecs_tags(&input.tags)).filter(|t| !t.is_empty()))
            .send()
            .await
            .map_err(|e| classify(OP, e))?;
        described(OP, &input.cluster, out.service())
    }

    async fn update_service(
        &self,
        input: UpdateServiceInput,
    ) -> Result<ServiceDescription, CloudError> {
        const OP: Operation = Operation::UpdateService;
        let request = self
            .ecs
            .update_service()
            .cluster(&input.cluster)
            .service(&input.service)
            .set_desired_count(input.desired_count.map(signed))
            .set_task_definition(input.task_definition.as_ref().map(ToString::to_string))
            .set_deployment_configuration(
                input
                    .deployment_configuration
                    .as_ref()
                    .map(ecs_deployment_configuration),
            );
        let request = match &input.options {
            None => request,
            Some(options) => {
                let send = |field: &str| input.sends_option(field);
                let mut r = request;
                if send("capacityProviderStrategy") {
                    r = r.set_capacity_provider_strategy(convert::capacity_providers(options));
                }
                // Absolute values: an empty list clears what was set out of band.
                if send("placementStrategy") {
                    r = r.set_placement_strategy(Some(
                        convert::placement_strategy(options).unwrap_or_default(),
                    ));
                }
                if send("placementConstraints") {
                    r = r.set_placement_constraints(Some(
                        convert::placement_constraints(options).unwrap_or_default(),
                    ));
                }
                if send("platformVersion") {
                    r = r.set_platform_version(options.platform_version.clone());
                }
                if send("enableExecuteCommand") {
                    r = r.enable_execute_command(options.enable_execute_command);
                }
                if send("propagateTags") {
                    r = r.propagate_tags(ecs::PropagateTags::from(options.propagate_tags.as_str()));
                }
                if send("monitoring") {
                    // Absolute: 60 seconds puts ECS's default back.
                    r = r.monitoring(
                        convert::monitoring(options).unwrap_or_else(|| convert::monitoring_at(60)),
                    );
                }
                r
            }
        };
        let out = request.send().await.map_err(|e| classify(OP, e))?;
        described(OP, &input.cluster, out.service())
    }

    async fn delete_service(
        &self,
        cluster: &str,
        service: &str,
    ) -> Result<ServiceDescription, CloudError> {
        const OP: Operation = Operation::DeleteService;
        let out = self
            .ecs
            .delete_service()
            .cluster(cluster)
            .service(service)
            .send()
            .await
            .map_err(|e| classify(OP, e))?;
        // DRAINING until its tasks stop (moto answers INACTIVE at once).
        described(OP, cluster, out.service())
    }

    async fn describe_services(
        &self,
        cluster: &str,
        names: &[String],
    ) -> Result<Vec<ServiceDescription>, CloudError> {
        const OP: Operation = Operation::DescribeServices;
        if names.len() > DESCRIBE_SERVICES_MAX {
            return Err(invalid(
                OP,
                format!(
                    "{} services asked for; DescribeServices takes at most {DESCRIBE_SERVICES_MAX}",
                    names.len()
                ),
            ));
        }
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let out = self
            .ecs
            .describe_services()
            .cluster(cluster)
            .set_services(Some(names.to_vec()))
            .include(ecs::ServiceField::Tags)
            .send()
            .await
            .map_err(|e| classify(OP, e))?;
        // Unknown services come back under `failures` (reason MISSING), deleted ones as INACTIVE:
        // both left out, as absent (a new one of the same name may be created).
        Ok(out
            .services()
            .iter()
            .filter(|s| s.status() != Some("INACTIVE"))
            .map(|s| convert::service(cluster, s))
            .collect())
    }

    async fn list_tasks(&self, cluster: &str, service: &str) -> Result<Vec<String>, CloudError> {
        const OP: Operation = Operation::ListTasks;
        let out = self
            .ecs
            .list_tasks()
            .cluster(cluster)
            .service_name(service)
            .desired_status(ecs::DesiredStatus::Running)
            .max_results(i32::try_from(super::TASKS_PER_CALL).unwrap_or(100))
            .send()
            .await
            .map_err(|e| classify(OP, e))?;
        Ok(out.task_arns().to_vec())
    }

    async fn describe_tasks(
        &self,
        cluster: &str,
        service: &str,
        tasks: &[String],
    ) -> Result<Vec<TaskImages>, CloudError> {
        const OP: Operation = Operation::DescribeTasks;
        if !batch_needs_call(OP, tasks.len(), super::TASKS_PER_CALL, "tasks")? {
            return Ok(Vec::new());
        }
        let out = self
            .ecs
            .describe_tasks()
            .cluster(cluster)
            .set_tasks(Some(tasks.to_vec()))
            .send()
            .await
            .map_err(|e| classify(OP, e))?;
        Ok(convert::task_images(service, out.tasks()))
    }

    async fn get_lifecycle_policy(
        &self,
        repository: &EcrRepository,
    ) -> Result<Option<String>, CloudError> {
        const OP: Operation = Operation::GetLifecyclePolicy;
        let region_differs = self
            .config
            .region()
            .is_none_or(|r| r.as_ref() != repository.region);
        let mut call = self
            .ecr
            .get_lifecycle_policy()
            .registry_id(&repository.registry_id)
            .repository_name(&repository.name)
            .customize();
        if region_differs {
            // The repository's own region: ECR answers for its repositories only.
            call = call.config_override(
                aws_sdk_ecr::config::Builder::default()
                    .region(aws_config::Region::new(repository.region.clone())),
            );
        }
        match call.send().await {
            Ok(out) => Ok(out.lifecycle_policy_text().map(str::to_owned)),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_lifecycle_policy_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(classify(OP, e)),
        }
    }

    async fn describe_target_health(
        &self,
        target_group: &str,
    ) -> Result<Vec<TargetHealth>, CloudError> {
        const OP: Operation = Operation::DescribeTargetHealth;
        let info = self.target_group(target_group, OP).await?;
        let out = match self
            .elb
            .describe_target_health()
            .target_group_arn(info.arn)
            .send()
            .await
            .map_err(|e| classify(OP, e))
        {
            // Deleted since it was resolved: forgotten (the lookup drops it), and named.
            Err(CloudError::Invalid { message, .. })
                if message.starts_with("TargetGroupNotFound") =>
            {
                let _ = self
                    .describe_target_groups(&[target_group.to_owned()])
                    .await;
                return Err(CloudError::Invalid {
                    operation: OP,
                    message: format!(
                        "target group `{target_group}` does not exist; create it, or fix its name in the manifest"
                    ),
                });
            }
            other => other?,
        };
        Ok(out
            .target_health_descriptions()
            .iter()
            .map(|d| {
                let target = d.target();
                TargetHealth {
                    task_id: format!(
                        "{}:{}",
                        target.and_then(|t| t.id()).unwrap_or_default(),
                        target.and_then(elb::TargetDescription::port).unwrap_or(0)
                    ),
                    state: match d
                        .target_health()
                        .and_then(|h| h.state())
                        .map(elb::TargetHealthStateEnum::as_str)
                    {
                        Some("healthy") => TargetState::Healthy,
                        Some("initial") => TargetState::Initial,
                        Some("draining") => TargetState::Draining,
                        Some("unused") => TargetState::Unused,
                        _ => TargetState::Unhealthy,
                    },
                }
            })
            .collect())
    }

    async fn modify_target_group(
        &self,
        target_group: &str,
        health: HealthCheckSettings,
    ) -> Result<(), CloudError> {
        const OP: Operation = Operation::ModifyTargetGroup;
        let info = self.target_group(target_group, OP).await?;
        self.elb
            .modify_target_group()
            .target_group_arn(info.arn)
            .health_check_path(&health.path)
            .health_check_interval_seconds(signed(health.interval_seconds))
            .health_check_timeout_seconds(signed(health.timeout_seconds))
            .healthy_threshold_count(signed(health.healthy_threshold))
            .unhealthy_threshold_count(signed(health.unhealthy_threshold))
            .send()
            .await
            .map_err(|e| classify(OP, e))?;
        Ok(())
    }

    async fn describe_target_groups(
        &self,
        names: &[String],
    ) -> Result<BTreeMap<String, TargetGroupDescription>, CloudError> {
        let mut found = BTreeMap::new();
        let (arns, plain): (Vec<String>, Vec<String>) =
            names.iter().cloned().partition(|n| n.starts_with("arn:"));
        for (identifiers, by_arn) in [(arns, true), (plain, false)] {
            if identifiers.is_empty() {
                continue;
            }
            // One unknown name fails the whole call: then ask for each alone, to leave only the
            // unknown ones out.
            let groups = match self.describe_target_groups_call(&identifiers, by_arn).await {
                Ok(groups) => groups,
                Err(CloudError::Invalid { message, .. })
                    if message.starts_with("TargetGroupNotFound") =>
                {
                    let mut groups = Vec::new();
                    for one in &identifiers {
                        match self
                            .describe_target_groups_call(std::slice::from_ref(one), by_arn)
                            .await
                        {
                            Ok(g) => groups.extend(g),
                            Err(CloudError::Invalid { message, .. })
                                if message.starts_with("TargetGroupNotFound") => {}
                            Err(e) => return Err(e),
                        }
                    }
                    groups
                }
                Err(e) => return Err(e),
            };
            let mut cache = self
                .target_groups
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            // Asked for and not found: deleted since it was resolved, so forget it.
            for identifier in &identifiers {
                let found = groups.iter().any(|g| {
                    if by_arn {
                        g.target_group_arn() == Some(identifier.as_str())
                    } else {
                        g.target_group_name() == Some(identifier.as_str())
                    }
                });
                if !found {
                    cache.remove(identifier);
                }
            }
            for group in groups {
                let arn = group.target_group_arn().unwrap_or_default().to_owned();
                let name = group.target_group_name().unwrap_or_default().to_owned();
                let identifier = if by_arn { arn.clone() } else { name };
                let load_balancer = group
                    .load_balancer_arns()
                    .first()
                    .and_then(|a| convert::dimension_of(a));
                cache.insert(
                    identifier.clone(),
                    TargetGroupInfo {
                        dimension: convert::dimension_of(&arn),
                        arn,
                        load_balancer: load_balancer.clone(),
                    },
                );
                let count = |n: Option<i32>| n.and_then(|n| u32::try_from(n).ok()).unwrap_or(0);
                found.insert(
                    identifier,
                    TargetGroupDescription {
                        health_check: HealthCheckSettings {
                            path: group.health_check_path().unwrap_or("/").to_owned(),
                            interval_seconds: count(group.health_check_interval_seconds()),
                            timeout_seconds: count(group.health_check_timeout_seconds()),
                            healthy_threshold: count(group.healthy_threshold_count()),
                            unhealthy_threshold: count(group.unhealthy_threshold_count()),
                        },
                        load_balancer,
                    },
                );
            }
        }
        Ok(found)
    }

    async fn stop_service_deployment(&self, arn: &str) -> Result<(), CloudError> {
        const OP: Operation = Operation::StopServiceDeployment;
        stop_request(self.ecs.stop_service_deployment(), arn)
            .send()
            .await
            .map_err(|e| classify(OP, e))?;
        Ok(())
    }

    async fn describe_deregistration_delay(&self, target_group: &str) -> Result<u32, CloudError> {
        const OP: Operation = Operation::DescribeTargetGroupAttributes;
        let info = self.target_group(target_group, OP).await?;
        let out = self
            .elb
            .describe_target_group_attributes()
            .target_group_arn(info.arn)
            .send()
            .await
            .map_err(|e| classify(OP, e))?;
        // ELBv2's default when the attribute is not reported.
        Ok(out
            .attributes()
            .iter()
            .find(|a| a.key() == Some(DEREGISTRATION_DELAY))
            .and_then(|a| a.value()?.parse().ok())
            .unwrap_or(300))
    }

    async fn modify_deregistration_delay(
        &self,
        target_group: &str,
        seconds: u32,
    ) -> Result<(), CloudError> {
        const OP: Operation = Operation::ModifyTargetGroupAttributes;
        let info = self.target_group(target_group, OP).await?;
        self.elb
            .modify_target_group_attributes()
            .target_group_arn(info.arn)
            .attributes(
                elb::TargetGroupAttribute::builder()
                    .key(DEREGISTRATION_DELAY)
                    .value(seconds.to_string())
                    .build(),
            )
            .send()
            .await
            .map_err(|e| classify(OP, e))?;
        Ok(())
    }

    async fn get_metric_data(
        &self,
        queries: &[MetricId],
        start_s: u64,
        end_s: u64,
    ) -> Result<MetricData, CloudError> {
        const OP: Operation = Operation::GetMetricData;
        let mut data = MetricData::default();
        let seconds = |s: u64| DateTime::from_secs(i64::try_from(s).unwrap_or(i64::MAX));
        for batch in queries.chunks(METRIC_QUERIES_MAX) {
            let built = self.metric_queries(batch, &mut data.unresolved).await?;
            if built.is_empty() {
                continue;
            }
            let mut token: Option<String> = None;
            loop {
                let out = self
                    .cloudwatch
                    .get_metric_data()
                    .set_metric_data_queries(Some(built.clone()))
                    .start_time(seconds(start_s))
                    .end_time(seconds(end_s))
                    .scan_by(cw::ScanBy::TimestampAscending)
                    .set_next_token(token.take())
                    .send()
                    .await
                    .map_err(|e| classify(OP, e))?;
                for result in out.metric_data_results() {
                    let Some(index) = result
                        .id()
                        .and_then(|id| id.strip_prefix('m'))
                        .and_then(|i| i.parse::<usize>().ok())
                    else {
                        continue;
                    };
                    let Some(id) = batch.get(index) else {
                        continue;
                    };
                    let points = data.series.entry(id.clone()).or_default();
                    for (at, value) in result.timestamps().iter().zip(result.values()) {
                        points.push(Datapoint {
                            minute_start: u64::try_from(at.secs()).unwrap_or(0),
                            value: *value,
                        });
                    }
                }
                token = out.next_token().map(str::to_owned);
                if token.is_none() {
                    break;
                }
            }
        }
        for points in data.series.values_mut() {
            points.sort_by_key(|p| p.minute_start);
            points.dedup_by_key(|p| p.minute_start);
        }
        Ok(data)
    }

    async fn publish(
        &self,
        topic_arn: &str,
        subject: &str,
        message: &str,
    ) -> Result<(), CloudError> {
        const OP: Operation = Operation::Publish;
        // SNS takes a subject of at most 100 printable ASCII characters.
        let subject: String = subject
            .chars()
            .filter(|c| c.is_ascii() && !c.is_ascii_control())
            .take(100)
            .collect();
        self.sns
            .publish()
            .topic_arn(topic_arn)
            .subject(subject)
            .message(message)
            .send()
            .await
            .map_err(|e| classify(OP, e))?;
        Ok(())
    }

    async fn describe_auto_scaling_group(
        &self,
        name: &str,
    ) -> Result<Option<AutoScalingGroup>, CloudError> {
        const OP: Operation = Operation::DescribeAutoScalingGroups;
        let out = self
            .autoscaling
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(name)
            .send()
            .await
            .map_err(|e| classify(OP, e))?;
        let count = |n: Option<i32>| n.and_then(|n| u32::try_from(n).ok()).unwrap_or(0);
        Ok(out.auto_scaling_groups().first().map(|g| AutoScalingGroup {
            name: g.auto_scaling_group_name().unwrap_or(name).to_owned(),
            min_size: count(g.min_size()),
            max_size: count(g.max_size()),
            desired_capacity: count(g.desired_capacity()),
            zones: g.availability_zones().to_vec(),
            instances: g
                .instances()
                .iter()
                .map(|i| GroupInstance {
                    id: i.instance_id().unwrap_or_default().to_owned(),
                    zone: i.availability_zone().unwrap_or_default().to_owned(),
                    lifecycle_state: i
                        .lifecycle_state()
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_default(),
                    protected_from_scale_in: i.protected_from_scale_in().unwrap_or(false),
                })
                .collect(),
        }))
    }

    async fn set_desired_capacity(&self, group: &str, desired: u32) -> Result<(), CloudError> {
        const OP: Operation = Operation::SetDesiredCapacity;
        self.autoscaling
            .set_desired_capacity()
            .auto_scaling_group_name(group)
            .desired_capacity(i32::try_from(desired).unwrap_or(i32::MAX))
            .honor_cooldown(false)
            .send()
            .await
            .map_err(|e| classify(OP, e))?;
        Ok(())
    }

    async fn set_instance_protection(
        &self,
        group: &str,
        instances: &[String],
        protected: bool,
    ) -> Result<(), CloudError> {
        const OP: Operation = Operation::SetInstanceProtection;
        if instances.is_empty() {
            return Ok(());
        }
        self.autoscaling
            .set_instance_protection()
            .auto_scaling_group_name(group)
            .set_instance_ids(Some(instances.to_vec()))
            .protected_from_scale_in(protected)
            .send()
            .await
            .map_err(|e| classify(OP, e))?;
        Ok(())
    }

    async fn terminate_instance_in_auto_scaling_group(
        &self,
        instance: &str,
        decrement: bool,
    ) -> Result<(), CloudError> {
        const OP: Operation = Operation::TerminateInstanceInAutoScalingGroup;
        self.autoscaling
            .terminate_instance_in_auto_scaling_group()
            .instance_id(instance)
            .should_decrement_desired_capacity(decrement)
            .send()
            .await
            .map_err(|e| classify(OP, e))?;
        Ok(())
    }

    async fn list_container_instances(&self, cluster: &str) -> Result<Vec<String>, CloudError> {
        const OP: Operation = Operation::ListContainerInstances;
        every_page(|token| async move {
            let out = self
                .ecs
                .list_container_instances()
                .cluster(cluster)
                .max_results(i32::try_from(CONTAINER_INSTANCES_PER_CALL).unwrap_or(100))
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| classify(OP, e))?;
            Ok((
                out.container_instance_arns().to_vec(),
                out.next_token().map(str::to_owned),
            ))
        })
        .await
    }

    async fn describe_container_instances(
        &self,
        cluster: &str,
        arns: &[String],
    ) -> Result<Vec<ContainerInstance>, CloudError> {
        const OP: Operation = Operation::DescribeContainerInstances;
        if !batch_needs_call(
            OP,
            arns.len(),
            CONTAINER_INSTANCES_PER_CALL,
            "container instances",
        )? {
            return Ok(Vec::new());
        }
        let out = self
            .ecs
            .describe_container_instances()
            .cluster(cluster)
            .set_container_instances(Some(arns.to_vec()))
            .send()
            .await
            .map_err(|e| classify(OP, e))?;
        Ok(out
            .container_instances()
            .iter()
            .map(convert::container_instance)
            .collect())
    }

    async fn update_container_instances_state(
        &self,
        cluster: &str,
        arns: &[String],
        status: &str,
    ) -> Result<(), CloudError> {
        const OP: Operation = Operation::UpdateContainerInstancesState;
        if arns.is_empty() {
            return Ok(());
        }
        self.ecs
            .update_container_instances_state()
            .cluster(cluster)
            .set_container_instances(Some(arns.to_vec()))
            .status(ecs::ContainerInstanceStatus::from(status))
            .send()
            .await
            .map_err(|e| classify(OP, e))?;
        Ok(())
    }

    async fn list_instance_tasks(
        &self,
        cluster: &str,
        container_instance: &str,
    ) -> Result<Vec<String>, CloudError> {
        const OP: Operation = Operation::ListTasks;
        every_page(|token| async move {
            let out = self
                .ecs
                .list_tasks()
                .cluster(cluster)
                .container_instance(container_instance)
                .max_results(i32::try_from(super::TASKS_PER_CALL).unwrap_or(100))
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| classify(OP, e))?;
            Ok((
                out.task_arns().to_vec(),
                out.next_token().map(str::to_owned),
            ))
        })
        .await
    }

    async fn describe_task_groups(
        &self,
        cluster: &str,
        tasks: &[String],
    ) -> Result<Vec<String>, CloudError> {
        const OP: Operation = Operation::DescribeTasks;
        if !batch_needs_call(OP, tasks.len(), super::TASKS_PER_CALL, "tasks")? {
            return Ok(Vec::new());
        }
        let out = self
            .ecs
            .describe_tasks()
            .cluster(cluster)
            .set_tasks(Some(tasks.to_vec()))
            .send()
            .await
            .map_err(|e| classify(OP, e))?;
        Ok(out
            .tasks()
            .iter()
            .map(|t| t.group().unwrap_or_default().to_owned())
            .collect())
    }

    async fn describe_alarms(&self, names: &[String]) -> Result<Vec<AlarmState>, CloudError> {
        const OP: Operation = Operation::DescribeAlarms;
        let mut found = Vec::new();
        for batch in names.chunks(ALARMS_PER_CALL) {
            let mut token: Option<String> = None;
            loop {
                let out = self
                    .cloudwatch
                    .describe_alarms()
                    .set_alarm_names(Some(batch.to_vec()))
                    .alarm_types(cw::AlarmType::MetricAlarm)
                    .alarm_types(cw::AlarmType::CompositeAlarm)
                    .max_records(100)
                    .set_next_token(token.take())
                    .send()
                    .await
                    .map_err(|e| classify(OP, e))?;
                found.extend(out.metric_alarms().iter().filter_map(|a| {
                    convert::alarm_state(
                        a.alarm_name(),
                        a.state_value(),
                        a.state_reason(),
                        a.state_updated_timestamp(),
                    )
                }));
                found.extend(out.composite_alarms().iter().filter_map(|a| {
                    convert::alarm_state(
                        a.alarm_name(),
                        a.state_value(),
                        a.state_reason(),
                        a.state_updated_timestamp(),
                    )
                }));
                token = out.next_token().map(str::to_owned);
                if token.is_none() {
                    break;
                }
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::model::aws::{DeploymentConfiguration, Strategy};

    /// What moto does not keep at creation (deploymentConfiguration), checked on the request
    /// itself.
    #[test]
    fn deployment_bounds_and_the_circuit_breaker_are_sent_as_given() {
        let sent = ecs_deployment_configuration(&DeploymentConfiguration::rolling(50, 100));
        assert_eq!(sent.minimum_healthy_percent(), Some(50));
        assert_eq!(sent.maximum_percent(), Some(100));
        let breaker = sent.deployment_circuit_breaker().expect("breaker");
        assert!(breaker.enable());
        assert!(!breaker.rollback());
        assert_eq!(sent.strategy().map(|s| s.as_str()), Some("ROLLING"));
        assert!(sent.alarms().is_none() && breaker.threshold_configuration().is_none());
    }

    /// monitoringConfiguration is not kept by moto: its shape is checked here. ECS's default (60)
    /// is not sent at creation; an update back to it sends 60 explicitly.
    #[test]
    fn twenty_second_cpu_is_sent_as_monitoring_configuration() {
        let options = crate::model::aws::ServiceOptions {
            cpu_resolution_seconds: Some(20),
            ..Default::default()
        };
        let sent = convert::monitoring(&options).expect("20-second CPU");
        let metrics = sent.metric_configurations();
        assert_eq!(metrics.len(), 1);
        assert_eq!(metrics[0].metric_names(), ["CPUUtilization"]);
        assert_eq!(metrics[0].resolution_seconds(), 20);
        assert!(convert::monitoring(&crate::model::aws::ServiceOptions::default()).is_none());
        assert_eq!(
            convert::monitoring_at(60).metric_configurations()[0].resolution_seconds(),
            60
        );
    }

    /// StopServiceDeployment is not in moto: its request is checked here.
    #[test]
    fn a_deployment_is_stopped_with_rollback() {
        let config = aws_sdk_ecs::Config::builder()
            .behavior_version(aws_sdk_ecs::config::BehaviorVersion::latest())
            .region(aws_sdk_ecs::config::Region::new("us-east-1"))
            .build();
        let client = aws_sdk_ecs::Client::from_conf(config);
        let arn = "arn:aws:ecs:us-east-1:123456789012:service-deployment/c/web/abc";
        let request = stop_request(client.stop_service_deployment(), arn);
        let input = request.as_input();
        assert_eq!(input.get_service_deployment_arn().as_deref(), Some(arn));
        assert_eq!(
            input.get_stop_type().as_ref().map(|t| t.as_str()),
            Some("ROLLBACK")
        );
    }

    /// Every strategy, with its steps, bakes, alarms and circuit-breaker threshold, in the shape
    /// the SDK defines, and read back (as DescribeServices reports it) to the same configuration.
    #[test]
    fn strategies_are_sent_in_the_sdk_shape_and_read_back_unchanged() {
        let strategies = [
            Strategy::BlueGreen { bake_minutes: 10 },
            Strategy::Canary {
                percent: 10.0,
                canary_bake_minutes: 5,
                bake_minutes: 2,
            },
            Strategy::Linear {
                step_percent: 25.0,
                step_bake_minutes: 3,
                bake_minutes: 0,
            },
        ];
        for strategy in strategies {
            let config = DeploymentConfiguration {
                rollback: true,
                strategy: strategy.clone(),
                failure_threshold: Some(("COUNT".into(), 4)),
                reset_on_healthy_task: Some(false),
                alarms: vec!["web-5xx".into(), "web-latency".into()],
                ..DeploymentConfiguration::rolling(100, 200)
            };
            let sent = ecs_deployment_configuration(&config);
            assert_eq!(
                sent.strategy().map(|s| s.as_str()),
                Some(strategy.ecs_name())
            );
            match strategy {
                Strategy::Canary { .. } => {
                    let canary = sent.canary_configuration().expect("canary");
                    assert_eq!(canary.canary_percent(), Some(10.0));
                    assert_eq!(canary.canary_bake_time_in_minutes(), Some(5));
                    assert_eq!(sent.bake_time_in_minutes(), Some(2));
                }
                Strategy::Linear { .. } => {
                    let linear = sent.linear_configuration().expect("linear");
                    assert_eq!(linear.step_percent(), Some(25.0));
                    assert_eq!(linear.step_bake_time_in_minutes(), Some(3));
                }
                _ => assert_eq!(sent.bake_time_in_minutes(), Some(10)),
            }
            let alarms = sent.alarms().expect("alarms");
            assert!(alarms.enable() && alarms.rollback());
            assert_eq!(alarms.alarm_names(), ["web-5xx", "web-latency"]);
            let threshold = sent
                .deployment_circuit_breaker()
                .and_then(|b| b.threshold_configuration())
                .expect("threshold");
            assert_eq!(
                (threshold.r#type().as_str(), threshold.value()),
                ("COUNT", 4)
            );

            let reported = ecs::Service::builder()
                .service_name("web")
                .deployment_configuration(sent)
                .build();
            let read = convert::service("c", &reported)
                .deployment_configuration
                .expect("configuration");
            assert!(config.satisfied_by(&read), "{config:?}\n{read:?}");
        }
    }
}
