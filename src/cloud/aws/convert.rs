//! Between the SDK's types and tugboat's, in both directions. Pure functions, unit-tested: what
//! AWS reports back is normalised the way [`crate::plan::render`] renders, so that AWS-side
//! defaults never look like drift and never cause a second registration.

use std::collections::BTreeMap;

use aws_sdk_ecs::types as ecs;

use crate::model::aws::{
    AdvancedLoadBalancer, AlarmState, AlarmStateValue, CONTAINER_HEALTH_DEFAULTS,
    ContainerHealthCheckInput, ContainerInput, ContainerInstance, DeploymentConfiguration,
    DeploymentController, DeploymentDescription, LoadBalancerInput, LogConfiguration, RolloutState,
    ServiceDescription, ServiceOptions, Strategy, TaskDefinitionId, TaskDefinitionInput,
};
use crate::model::image::{TaskImages, is_digest};

/// `family:revision` from a task-definition ARN (or from `family:revision` itself).
pub fn task_definition_id(arn: &str) -> Option<TaskDefinitionId> {
    let tail = arn.rsplit_once("task-definition/").map_or(arn, |(_, t)| t);
    let (family, revision) = tail.rsplit_once(':')?;
    Some(TaskDefinitionId {
        family: family.to_owned(),
        revision: revision.parse().ok()?,
    })
}

/// The part of an ELBv2 ARN CloudWatch uses as a dimension value: `app/NAME/ID` for a load
/// balancer, `targetgroup/NAME/ID` for a target group.
pub fn dimension_of(arn: &str) -> Option<String> {
    if let Some((_, tail)) = arn.split_once(":loadbalancer/") {
        return Some(tail.to_owned());
    }
    arn.split_once(":targetgroup/")
        .map(|(_, tail)| format!("targetgroup/{tail}"))
}

/// A target group's name from its ARN, or the identifier itself when it is a name.
pub fn target_group_name(identifier: &str) -> String {
    match identifier.split_once(":targetgroup/") {
        Some((_, tail)) => tail.split('/').next().unwrap_or(tail).to_owned(),
        None => identifier.to_owned(),
    }
}

/// A deployment's rollout state. ECS reports it whenever the circuit breaker is on (tugboat always
/// turns it on); without one, a deployment with every task running counts as completed.
pub fn rollout_state(reported: Option<&str>, running: u32, desired: u32) -> RolloutState {
    match reported {
        Some("COMPLETED") => RolloutState::Completed,
        Some("FAILED") => RolloutState::Failed,
        Some(_) => RolloutState::InProgress,
        None if running >= desired => RolloutState::Completed,
        None => RolloutState::InProgress,
    }
}

fn count(n: i32) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

/// One service as ECS describes it.
pub fn service(cluster: &str, s: &ecs::Service) -> ServiceDescription {
    let status = s.status().unwrap_or("ACTIVE");
    let deployments: Vec<DeploymentDescription> = s
        .deployments()
        .iter()
        .map(|d| {
            let (running, desired) = (count(d.running_count()), count(d.desired_count()));
            DeploymentDescription {
                id: d.id().unwrap_or_default().to_owned(),
                status: d.status().unwrap_or_default().to_owned(),
                task_definition: d
                    .task_definition()
                    .and_then(task_definition_id)
                    .unwrap_or_else(unknown_revision),
                desired_count: desired,
                running_count: running,
                pending_count: count(d.pending_count()),
                failed_tasks: count(d.failed_tasks()),
                rollout_state: rollout_state(
                    d.rollout_state().map(ecs::DeploymentRolloutState::as_str),
                    running,
                    desired,
                ),
                rollout_state_reason: d.rollout_state_reason().unwrap_or_default().to_owned(),
            }
        })
        .collect();
    let config = s.deployment_configuration();
    let breaker = config.and_then(ecs::DeploymentConfiguration::deployment_circuit_breaker);
    ServiceDescription {
        cluster: cluster.to_owned(),
        service: s.service_name().unwrap_or_default().to_owned(),
        status: status.to_owned(),
        desired_count: count(s.desired_count()),
        running_count: count(s.running_count()),
        pending_count: count(s.pending_count()),
        task_definition: s
            .task_definition()
            .and_then(task_definition_id)
            .unwrap_or_else(unknown_revision),
        deployment_configuration: config.map(|c| DeploymentConfiguration {
            // ECS's defaults where a field is left out.
            minimum_healthy_percent: c.minimum_healthy_percent().map_or(100, count),
            maximum_percent: c.maximum_percent().map_or(200, count),
            circuit_breaker: breaker.is_some_and(ecs::DeploymentCircuitBreaker::enable),
            rollback: breaker.is_some_and(ecs::DeploymentCircuitBreaker::rollback),
            strategy: strategy(c),
            failure_threshold: breaker
                .and_then(ecs::DeploymentCircuitBreaker::threshold_configuration)
                .map(|t| (t.r#type().as_str().to_owned(), count(t.value()))),
            reset_on_healthy_task: breaker
                .and_then(ecs::DeploymentCircuitBreaker::reset_on_healthy_task),
            alarms: c
                .alarms()
                .filter(|a| a.enable())
                .map(|a| a.alarm_names().to_vec())
                .unwrap_or_default(),
        }),
        deployment_controller: match s.deployment_controller().map(|c| c.r#type().as_str()) {
            Some("EXTERNAL") => DeploymentController::External,
            _ => DeploymentController::Ecs,
        },
        deployments,
        load_balancers: s
            .load_balancers()
            .iter()
            .map(|lb| LoadBalancerInput {
                target_group: target_group_name(lb.target_group_arn().unwrap_or_default()),
                container_name: lb.container_name().unwrap_or_default().to_owned(),
                container_port: lb.container_port().map_or(0, count),
                advanced: lb.advanced_configuration().map(|a| AdvancedLoadBalancer {
                    alternate_target_group: target_group_name(
                        a.alternate_target_group_arn().unwrap_or_default(),
                    ),
                    production_listener_rule: a
                        .production_listener_rule()
                        .unwrap_or_default()
                        .to_owned(),
                    test_listener_rule: a.test_listener_rule().map(str::to_owned),
                    role_arn: a.role_arn().unwrap_or_default().to_owned(),
                }),
            })
            .collect(),
        current_service_deployment: s.current_service_deployment().map(str::to_owned),
        options: service_options(s),
        tags: s
            .tags()
            .iter()
            .filter_map(|t| {
                Some((
                    t.key()?.to_owned(),
                    t.value().unwrap_or_default().to_owned(),
                ))
            })
            .collect(),
    }
}

/// The strategy a reported configuration names, with its steps and bakes (ROLLING when none is
/// named, as for every service created before strategies existed).
fn strategy(c: &ecs::DeploymentConfiguration) -> Strategy {
    let minutes = |n: Option<i32>| n.and_then(|n| u32::try_from(n).ok()).unwrap_or(0);
    let bake_minutes = minutes(c.bake_time_in_minutes());
    match c.strategy().map(ecs::DeploymentStrategy::as_str) {
        Some("BLUE_GREEN") => Strategy::BlueGreen { bake_minutes },
        Some("CANARY") => {
            let canary = c.canary_configuration();
            Strategy::Canary {
                percent: canary.and_then(|k| k.canary_percent()).unwrap_or(0.0),
                canary_bake_minutes: minutes(canary.and_then(|k| k.canary_bake_time_in_minutes())),
                bake_minutes,
            }
        }
        Some("LINEAR") => {
            let linear = c.linear_configuration();
            Strategy::Linear {
                step_percent: linear.and_then(|l| l.step_percent()).unwrap_or(0.0),
                step_bake_minutes: minutes(linear.and_then(|l| l.step_bake_time_in_minutes())),
                bake_minutes,
            }
        }
        _ => Strategy::Rolling,
    }
}

fn unknown_revision() -> TaskDefinitionId {
    TaskDefinitionId {
        family: String::new(),
        revision: 0,
    }
}

/// A registered task definition as tugboat renders one, AWS's defaults normalised away.
pub fn definition(td: &ecs::TaskDefinition) -> TaskDefinitionInput {
    let network_mode = td
        .network_mode()
        .map_or("bridge", ecs::NetworkMode::as_str)
        .to_owned();
    let awsvpc = network_mode == "awsvpc";
    let positive = |n: i32| u32::try_from(n).ok().filter(|n| *n > 0);
    TaskDefinitionInput {
        family: td.family().unwrap_or_default().to_owned(),
        cpu: td.cpu().and_then(|c| c.parse().ok()),
        memory: td.memory().and_then(|m| m.parse().ok()),
        requires_compatibilities: td
            .requires_compatibilities()
            .iter()
            .map(|c| c.as_str().to_owned())
            .filter(|c| c == "FARGATE")
            .collect(),
        network_mode,
        execution_role_arn: td.execution_role_arn().map(str::to_owned),
        task_role_arn: td.task_role_arn().map(str::to_owned),
        containers: td
            .container_definitions()
            .iter()
            .map(|c| {
                let ports = c.port_mappings();
                ContainerInput {
                    name: c.name().unwrap_or_default().to_owned(),
                    image: c.image().unwrap_or_default().to_owned(),
                    essential: c.essential().unwrap_or(true),
                    ports: ports
                        .iter()
                        .filter_map(|p| p.container_port().and_then(positive))
                        .collect(),
                    host_ports: ports
                        .iter()
                        .filter_map(|p| {
                            let container = p.container_port().and_then(positive)?;
                            let host = p.host_port().and_then(positive)?;
                            (!(awsvpc && host == container)).then_some((container, host))
                        })
                        .collect(),
                    udp_ports: ports
                        .iter()
                        .filter(|p| p.protocol().map(ecs::TransportProtocol::as_str) == Some("udp"))
                        .filter_map(|p| p.container_port().and_then(positive))
                        .collect(),
                    cpu: positive(c.cpu()),
                    memory: c.memory().and_then(positive),
                    memory_reservation: c.memory_reservation().and_then(positive),
                    environment: c
                        .environment()
                        .iter()
                        .filter_map(|kv| {
                            Some((
                                kv.name()?.to_owned(),
                                kv.value().unwrap_or_default().to_owned(),
                            ))
                        })
                        .collect::<BTreeMap<_, _>>(),
                    command: Some(c.command().to_vec()).filter(|c| !c.is_empty()),
                    ..container_extras(c)
                }
            })
            .collect(),
        tags: BTreeMap::new(),
    }
}

fn secrets(list: &[ecs::Secret]) -> BTreeMap<String, String> {
    list.iter()
        .map(|s| (s.name().to_owned(), s.value_from().to_owned()))
        .collect()
}

/// The container fields beyond image, ports and resources, ECS's defaults made explicit the way
/// [`crate::plan::render`] does.
fn container_extras(c: &ecs::ContainerDefinition) -> ContainerInput {
    let (interval, timeout, retries, start_period) = CONTAINER_HEALTH_DEFAULTS;
    let value =
        |n: Option<i32>, default: u32| n.and_then(|n| u32::try_from(n).ok()).unwrap_or(default);
    ContainerInput {
        secrets: secrets(c.secrets()),
        log_configuration: c.log_configuration().map(|l| LogConfiguration {
            log_driver: l.log_driver().as_str().to_owned(),
            options: l
                .options()
                .map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
            secret_options: secrets(l.secret_options()),
        }),
        health_check: c.health_check().map(|h| ContainerHealthCheckInput {
            command: h.command().to_vec(),
            interval: value(h.interval(), interval),
            timeout: value(h.timeout(), timeout),
            retries: value(h.retries(), retries),
            start_period: value(h.start_period(), start_period),
        }),
        stop_timeout: c.stop_timeout().and_then(|n| u32::try_from(n).ok()),
        depends_on: c
            .depends_on()
            .iter()
            .map(|d| {
                (
                    d.container_name().to_owned(),
                    d.condition().as_str().to_owned(),
                )
            })
            .collect(),
        ulimits: c
            .ulimits()
            .iter()
            .map(|u| {
                let limit = |n: i32| u32::try_from(n).unwrap_or(0);
                (
                    u.name().as_str().to_owned(),
                    (limit(u.soft_limit()), limit(u.hard_limit())),
                )
            })
            .collect(),
        readonly_root_filesystem: c.readonly_root_filesystem().unwrap_or(false),
        user: c.user().filter(|u| !u.is_empty()).map(str::to_owned),
        ..ContainerInput::default()
    }
}

fn ecs_secrets(map: &BTreeMap<String, String>) -> Option<Vec<ecs::Secret>> {
    let list: Vec<ecs::Secret> = map
        .iter()
        .filter_map(|(name, from)| {
            ecs::Secret::builder()
                .name(name)
                .value_from(from)
                .build()
                .ok()
        })
        .collect();
    (!list.is_empty()).then_some(list)
}

/// Sets the fields of [`container_extras`] on a container definition being built.
fn with_extras(
    b: ecs::builders::ContainerDefinitionBuilder,
    c: &ContainerInput,
) -> ecs::builders::ContainerDefinitionBuilder {
    let signed = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
    let log = c.log_configuration.as_ref().and_then(|l| {
        ecs::LogConfiguration::builder()
            .log_driver(ecs::LogDriver::from(l.log_driver.as_str()))
            .set_options(
                Some(
                    l.options
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                )
                .filter(|o: &std::collections::HashMap<String, String>| !o.is_empty()),
            )
            .set_secret_options(ecs_secrets(&l.secret_options))
            .build()
            .ok()
    });
    let health = c.health_check.as_ref().and_then(|h| {
        ecs::HealthCheck::builder()
            .set_command(Some(h.command.clone()))
            .interval(signed(h.interval))
            .timeout(signed(h.timeout))
            .retries(signed(h.retries))
            .start_period(signed(h.start_period))
            .build()
            .ok()
    });
    let depends: Vec<ecs::ContainerDependency> = c
        .depends_on
        .iter()
        .filter_map(|(name, condition)| {
            ecs::ContainerDependency::builder()
                .container_name(name)
                .condition(ecs::ContainerCondition::from(condition.as_str()))
                .build()
                .ok()
        })
        .collect();
    let ulimits: Vec<ecs::Ulimit> = c
        .ulimits
        .iter()
        .filter_map(|(name, (soft, hard))| {
            ecs::Ulimit::builder()
                .name(ecs::UlimitName::from(name.as_str()))
                .soft_limit(signed(*soft))
                .hard_limit(signed(*hard))
                .build()
                .ok()
        })
        .collect();
    b.set_secrets(ecs_secrets(&c.secrets))
        .set_log_configuration(log)
        .set_health_check(health)
        .set_stop_timeout(c.stop_timeout.map(signed))
        .set_depends_on(Some(depends).filter(|d| !d.is_empty()))
        .set_ulimits(Some(ulimits).filter(|u| !u.is_empty()))
        .set_readonly_root_filesystem(c.readonly_root_filesystem.then_some(true))
        .set_user(c.user.clone())
}

/// RegisterTaskDefinition's container definitions for a rendered definition.
pub fn container_definitions(input: &TaskDefinitionInput) -> Vec<ecs::ContainerDefinition> {
    let signed = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
    input
        .containers
        .iter()
        .map(|c| {
            let mut b = ecs::ContainerDefinition::builder()
                .name(&c.name)
                .image(&c.image)
                .essential(c.essential)
                .set_cpu(c.cpu.map(signed))
                .set_memory(c.memory.map(signed))
                .set_memory_reservation(c.memory_reservation.map(signed))
                .set_command(c.command.clone());
            for port in &c.ports {
                b = b.port_mappings(
                    ecs::PortMapping::builder()
                        .container_port(signed(*port))
                        .set_host_port(c.host_ports.get(port).copied().map(signed))
                        .protocol(if c.udp_ports.contains(port) {
                            ecs::TransportProtocol::Udp
                        } else {
                            ecs::TransportProtocol::Tcp
                        })
                        .build(),
                );
            }
            for (name, value) in &c.environment {
                b = b.environment(ecs::KeyValuePair::builder().name(name).value(value).build());
            }
            with_extras(b, c).build()
        })
        .collect()
}

/// CreateService's and UpdateService's capacity provider strategy; `None` for none.
pub fn capacity_providers(
    options: &ServiceOptions,
) -> Option<Vec<ecs::CapacityProviderStrategyItem>> {
    let signed = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
    let items: Vec<_> = options
        .capacity_provider_strategy
        .iter()
        .filter_map(|(name, weight, base)| {
            ecs::CapacityProviderStrategyItem::builder()
                .capacity_provider(name)
                .weight(signed(*weight))
                .base(signed(*base))
                .build()
                .ok()
        })
        .collect();
    (!items.is_empty()).then_some(items)
}

/// Placement strategies; `None` for none.
pub fn placement_strategy(options: &ServiceOptions) -> Option<Vec<ecs::PlacementStrategy>> {
    let items: Vec<_> = options
        .placement_strategy
        .iter()
        .map(|(kind, field)| {
            ecs::PlacementStrategy::builder()
                .r#type(ecs::PlacementStrategyType::from(kind.as_str()))
                .set_field(field.clone())
                .build()
        })
        .collect();
    (!items.is_empty()).then_some(items)
}

/// Placement constraints; `None` for none.
pub fn placement_constraints(options: &ServiceOptions) -> Option<Vec<ecs::PlacementConstraint>> {
    let items: Vec<_> = options
        .placement_constraints
        .iter()
        .map(|(kind, expression)| {
            ecs::PlacementConstraint::builder()
                .r#type(ecs::PlacementConstraintType::from(kind.as_str()))
                .set_expression(expression.clone())
                .build()
        })
        .collect();
    (!items.is_empty()).then_some(items)
}

/// `monitoringConfiguration` for 20-second CPU, or `None` for ECS's default (60 seconds).
pub fn monitoring(options: &ServiceOptions) -> Option<ecs::MonitoringConfiguration> {
    options
        .cpu_resolution_seconds
        .filter(|s| *s != 60)
        .map(monitoring_at)
}

/// `monitoringConfiguration` with CPUUtilization at `seconds` (20 or 60).
pub fn monitoring_at(seconds: u32) -> ecs::MonitoringConfiguration {
    // Both required fields are set, so the builder cannot refuse.
    let cpu = ecs::MetricConfiguration::builder()
        .metric_names("CPUUtilization")
        .resolution_seconds(i32::try_from(seconds).unwrap_or(60))
        .build()
        .ok();
    ecs::MonitoringConfiguration::builder()
        .set_metric_configurations(cpu.map(|c| vec![c]))
        .build()
}

/// A service's options as DescribeServices reports them. `None` when the answer says nothing of
/// them (moto reports neither placement nor ECS Exec), so that absence is never taken for drift.
fn service_options(s: &ecs::Service) -> Option<ServiceOptions> {
    let count = |n: i32| u32::try_from(n).unwrap_or(0);
    s.propagate_tags.as_ref()?;
    s.placement_strategy.as_ref()?;
    Some(ServiceOptions {
        capacity_provider_strategy: s
            .capacity_provider_strategy()
            .iter()
            .map(|p| {
                (
                    p.capacity_provider().to_owned(),
                    count(p.weight()),
                    count(p.base()),
                )
            })
            .collect(),
        placement_strategy: s
            .placement_strategy()
            .iter()
            .map(|p| {
                (
                    p.r#type()
                        .map(|t| t.as_str().to_owned())
                        .unwrap_or_default(),
                    p.field().map(str::to_owned),
                )
            })
            .collect(),
        placement_constraints: s
            .placement_constraints()
            .iter()
            .map(|p| {
                (
                    p.r#type()
                        .map(|t| t.as_str().to_owned())
                        .unwrap_or_default(),
                    p.expression().map(str::to_owned),
                )
            })
            .collect(),
        platform_version: s.platform_version().map(str::to_owned),
        // Not in DescribeServices' answer (only in DescribeServiceRevisions').
        cpu_resolution_seconds: None,
        enable_execute_command: s.enable_execute_command(),
        propagate_tags: s
            .propagate_tags()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default(),
    })
}

/// The images DescribeTasks reports for the tasks of `service`: ECS sets a service's tasks'
/// `group` to `service:NAME`, so tasks of anything else (a ListTasks whose serviceName filter the
/// endpoint ignored) are left out, as are tasks without a readable revision. A digest is kept only
/// when it has a digest's shape.
pub fn task_images(service: &str, tasks: &[ecs::Task]) -> Vec<TaskImages> {
    let group = format!("service:{service}");
    tasks
        .iter()
        .filter(|t| t.group() == Some(group.as_str()))
        .filter_map(|t| {
            let task_definition = task_definition_id(t.task_definition_arn()?)?;
            let containers = t
                .containers()
                .iter()
                .filter_map(|c| {
                    let digest = c.image_digest().filter(|d| is_digest(d)).map(str::to_owned);
                    Some((c.name()?.to_owned(), digest))
                })
                .collect();
            Some(TaskImages {
                task_definition,
                containers,
            })
        })
        .collect()
}

/// ECS tags for a map.
pub fn ecs_tags(tags: &BTreeMap<String, String>) -> Vec<ecs::Tag> {
    tags.iter()
        .map(|(k, v)| ecs::Tag::builder().key(k).value(v).build())
        .collect()
}

/// One alarm of a DescribeAlarms answer; `None` without a name or a state.
pub fn alarm_state(
    name: Option<&str>,
    state: Option<&aws_sdk_cloudwatch::types::StateValue>,
    reason: Option<&str>,
    since: Option<&aws_smithy_types::DateTime>,
) -> Option<AlarmState> {
    use aws_sdk_cloudwatch::types::StateValue;
    let state = match state? {
        StateValue::Ok => AlarmStateValue::Ok,
        StateValue::Alarm => AlarmStateValue::Alarm,
        _ => AlarmStateValue::InsufficientData,
    };
    Some(AlarmState {
        name: name?.to_owned(),
        state,
        reason: reason.unwrap_or_default().to_owned(),
        since: since.map_or(0, |t| u64::try_from(t.secs()).unwrap_or(0)),
    })
}

/// A container instance: its status, and what it has registered and left (`CPU`, `MEMORY`, and
/// the host ports in use as `PORTS`; an instance with IPv6 reports `PORTS_UDP` apart).
pub fn container_instance(c: &ecs::ContainerInstance) -> ContainerInstance {
    let resource = |list: &[ecs::Resource], name: &str| {
        list.iter()
            .find(|r| r.name() == Some(name))
            .map_or(0, |r| u32::try_from(r.integer_value()).unwrap_or(0))
    };
    let remaining = c.remaining_resources();
    let registered = c.registered_resources();
    ContainerInstance {
        arn: c.container_instance_arn().unwrap_or_default().to_owned(),
        ec2_instance_id: c.ec2_instance_id().unwrap_or_default().to_owned(),
        status: c.status().unwrap_or_default().to_owned(),
        agent_connected: c.agent_connected(),
        registered_cpu: resource(registered, "CPU"),
        registered_memory: resource(registered, "MEMORY"),
        remaining_cpu: resource(remaining, "CPU"),
        remaining_memory: resource(remaining, "MEMORY"),
        reserved_ports: remaining
            .iter()
            .filter(|r| r.name() == Some("PORTS"))
            .flat_map(|r| r.string_set_value().iter())
            .filter_map(|p| p.parse().ok())
            .collect(),
        running_tasks: u32::try_from(c.running_tasks_count()).unwrap_or(0),
        pending_tasks: u32::try_from(c.pending_tasks_count()).unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{Source, parse_sources};
    use crate::plan::render::{digest, render};

    #[test]
    fn task_images_keep_the_services_tasks_and_real_digests_only() {
        let digest = format!("sha256:{}", "ab".repeat(32));
        let task = |group: &str, arn: &str, reported: Option<&str>| {
            ecs::Task::builder()
                .group(group)
                .task_definition_arn(arn)
                .containers(
                    ecs::Container::builder()
                        .name("web")
                        .set_image_digest(reported.map(str::to_owned))
                        .build(),
                )
                .build()
        };
        let arn = "arn:aws:ecs:us-east-1:123456789012:task-definition/app:3";
        let tasks = [
            task("service:web", arn, Some(&digest)),
            task("service:other", arn, Some(&digest)),
            task("family:app", arn, Some(&digest)),
            task("service:web", arn, Some("latest")),
            task("service:web", "not-an-arn", Some(&digest)),
        ];
        let images = task_images("web", &tasks);
        assert_eq!(images.len(), 2, "{images:?}");
        assert_eq!(images[0].task_definition.to_string(), "app:3");
        assert_eq!(
            images[0].containers["web"].as_deref(),
            Some(digest.as_str())
        );
        assert_eq!(images[1].containers["web"], None, "not a digest");
    }

    #[test]
    fn arns_give_revisions_and_dimensions() {
        assert_eq!(
            task_definition_id("arn:aws:ecs:us-east-1:123456789012:task-definition/web:12"),
            Some(TaskDefinitionId {
                family: "web".into(),
                revision: 12
            })
        );
        assert_eq!(task_definition_id("web:3").map(|t| t.revision), Some(3));
        assert_eq!(task_definition_id("web"), None);
        assert_eq!(
            dimension_of("arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/lb1/633f")
                .as_deref(),
            Some("app/lb1/633f")
        );
        assert_eq!(
            dimension_of("arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/tg1/597d")
                .as_deref(),
            Some("targetgroup/tg1/597d")
        );
        assert_eq!(
            target_group_name("arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/tg1/597d"),
            "tg1"
        );
        assert_eq!(target_group_name("tg1"), "tg1");
    }

    #[test]
    fn rollout_states_map_and_default_sensibly() {
        assert_eq!(
            rollout_state(Some("COMPLETED"), 0, 2),
            RolloutState::Completed
        );
        assert_eq!(rollout_state(Some("FAILED"), 2, 2), RolloutState::Failed);
        assert_eq!(
            rollout_state(Some("IN_PROGRESS"), 2, 2),
            RolloutState::InProgress
        );
        assert_eq!(rollout_state(None, 2, 2), RolloutState::Completed);
        assert_eq!(rollout_state(None, 1, 2), RolloutState::InProgress);
    }

    /// What AWS answers for a definition tugboat registered renders the same digest, with AWS's
    /// defaults filled in (container cpu 0, empty environment, host port = container port in
    /// awsvpc, explicit TCP): no second registration, no spurious rollout.
    #[test]
    fn a_registered_definition_as_aws_reports_it_renders_the_same() {
        for path in [
            "manifests/app.yaml",
            "manifests/fargate-test1.yaml",
            "manifests/todo.yaml",
            "manifests/hello-world.yaml",
            "tests/fixtures/valid/every-field.yaml",
        ] {
            let text =
                std::fs::read(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).expect("manifest");
            let stacks = parse_sources(&[Source {
                name: path.into(),
                bytes: text,
            }])
            .expect("valid");
            for stack in &stacks {
                for service in &stack.spec().services {
                    let rendered = render(service, None);
                    let awsvpc = rendered.network_mode == "awsvpc";
                    let containers = container_definitions(&rendered)
                        .into_iter()
                        .map(|c| {
                            // AWS fills in defaults on the way back.
                            let ports = c
                                .port_mappings()
                                .iter()
                                .map(|p| {
                                    let mut p = p.clone();
                                    if awsvpc && p.host_port().is_none() {
                                        p.host_port = p.container_port();
                                    }
                                    p
                                })
                                .collect();
                            let mut c = c.clone();
                            c.port_mappings = Some(ports);
                            c.environment.get_or_insert_with(Vec::new);
                            c.mount_points = Some(Vec::new());
                            // Unset is false; AWS may report either.
                            c.readonly_root_filesystem.get_or_insert(false);
                            // AWS leaves out the health check's values equal to its defaults.
                            if let Some(h) = c.health_check.as_mut() {
                                for (value, default) in [
                                    (&mut h.interval, 30),
                                    (&mut h.timeout, 5),
                                    (&mut h.retries, 3),
                                    (&mut h.start_period, 0),
                                ] {
                                    if *value == Some(default) {
                                        *value = None;
                                    }
                                }
                            }
                            c
                        })
                        .collect();
                    let reported = ecs::TaskDefinition::builder()
                        .family(&rendered.family)
                        .revision(4)
                        .set_cpu(rendered.cpu.map(|c| c.to_string()))
                        .set_memory(rendered.memory.map(|m| m.to_string()))
                        .network_mode(ecs::NetworkMode::from(rendered.network_mode.as_str()))
                        .set_requires_compatibilities(Some(
                            rendered
                                .requires_compatibilities
                                .iter()
                                .map(|c| ecs::Compatibility::from(c.as_str()))
                                .collect(),
                        ))
                        .compatibilities(ecs::Compatibility::Ec2)
                        .set_execution_role_arn(rendered.execution_role_arn.clone())
                        .set_task_role_arn(rendered.task_role_arn.clone())
                        .set_container_definitions(Some(containers))
                        .build();
                    assert_eq!(
                        digest(&definition(&reported)),
                        digest(&rendered),
                        "{path} {}: {:#?} vs {:#?}",
                        service.name,
                        definition(&reported),
                        rendered
                    );
                }
            }
        }
    }
}
