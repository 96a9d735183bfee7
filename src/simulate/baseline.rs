//! What a team runs today, derived from a stack for comparison: the Application Auto Scaling
//! policies a user would configure from its `scaling` section, and the CreateService they would
//! send (tugboat's, except that ECS's own circuit breaker rolls back). The simulated world only
//! sees the plain values.

use crate::cloud::sim::aas::{ScalingPolicy, Trigger};
use crate::manifest::spec::{Http5xxSource, ScalingStep, ServiceSpec};
use crate::model::Stack;
use crate::model::aws::{CreateServiceInput, MetricId, TaskDefinitionId};

/// The policies of every scaled service of `stack`.
pub fn policies(stack: &Stack) -> Vec<ScalingPolicy> {
    let cluster = &stack.spec().cluster;
    stack
        .spec()
        .services
        .iter()
        .filter_map(|s| policy(cluster, stack.name(), s))
        .collect()
}

/// The policy of one service, if it scales. The load balancer of a stack is named after the stack
/// in the simulated account (one load balancer per stack).
fn policy(cluster: &str, stack: &str, service: &ServiceSpec) -> Option<ScalingPolicy> {
    let scaling = service.scaling.as_ref()?;
    let mut triggers = Vec::new();
    if let Some(cpu) = &scaling.cpu {
        match cpu.target_percent {
            Some(target) => triggers.push(Trigger::TargetCpu {
                target: f64::from(target),
            }),
            None => triggers.push(Trigger::StepCpu {
                out_above: f64::from(cpu.scale_out_above_percent.unwrap_or(100)),
                in_below: cpu.scale_in_below_percent.map(f64::from),
                periods: cpu.evaluation_periods.unwrap_or(1) as usize,
                out_step: ScalingStep::or_one(cpu.scale_out_step.as_ref()),
                in_step: ScalingStep::or_one(cpu.scale_in_step.as_ref()),
            }),
        }
    }
    if let (Some(http), Some(lb)) = (&scaling.http5xx, service.load_balancers.first()) {
        let metric = match http.source {
            Http5xxSource::Target => MetricId::Target5xx {
                target_group: lb.target_group.clone(),
            },
            Http5xxSource::LoadBalancer => MetricId::Elb5xx {
                load_balancer: stack.to_owned(),
            },
        };
        triggers.push(Trigger::Http5xx {
            metric,
            threshold: f64::from(http.threshold),
            periods: http.evaluation_periods as usize,
            factor: http.scale_out_factor,
        });
    }
    Some(ScalingPolicy {
        cluster: cluster.to_owned(),
        service: service.name.clone(),
        min: scaling.min_tasks,
        max: scaling.max_tasks,
        scale_out_cooldown_s: u64::from(scaling.scale_out_cooldown_seconds),
        scale_in_cooldown_s: u64::from(scaling.scale_in_cooldown_seconds),
        triggers,
    })
}

/// CreateService's input for the baseline: tugboat's, except that ECS's own circuit breaker rolls
/// back (to the last COMPLETED deployment), as teams run it today.
pub fn create_input(
    cluster: &str,
    service: &ServiceSpec,
    task_definition: TaskDefinitionId,
) -> CreateServiceInput {
    let mut input = crate::plan::service::create_input(
        cluster,
        service,
        task_definition,
        service.desired_count,
    );
    input.deployment_configuration.rollback = service.deployment.rollback.on_unhealthy_targets;
    input
}
