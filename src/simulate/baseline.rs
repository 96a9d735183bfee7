//! What a team runs today, derived from a stack for comparison: the Application Auto Scaling
//! policies a user would configure from its `scaling` section, and the CreateService they would
//! send (tugboat's, except that ECS's own circuit breaker rolls back). The simulated world only
//! sees the plain values.

use crate::cloud::sim::aas::{ScalingPolicy, Trigger};
use crate::manifest::spec::{Http5xxSource, ScalingStep, ServiceSpec};
use crate::model::Stack;
use crate::model::aws::{CreateServiceInput, FINE_CPU_PERIOD_SECONDS, MetricId, TaskDefinitionId};

/// The policies of every scaled service of `stack`; with `fine_cpu`, CPU rules become target
/// tracking on the 20-second metric.
pub fn policies(stack: &Stack, fine_cpu: bool) -> Vec<ScalingPolicy> {
    let cluster = &stack.spec().cluster;
    stack
        .spec()
        .services
        .iter()
        .filter_map(|s| policy(cluster, stack.name(), s, fine_cpu))
        .collect()
}

/// The policy of one service, if it scales. The load balancer of a stack is named after the stack
/// in the simulated account (one load balancer per stack). With `fine_cpu`, a CPU rule (target
/// tracking or thresholds) becomes target tracking on the 20-second metric at the rule's target
/// utilisation, the CPU tugboat sizes to.
fn policy(
    cluster: &str,
    stack: &str,
    service: &ServiceSpec,
    fine_cpu: bool,
) -> Option<ScalingPolicy> {
    let scaling = service.scaling.as_ref()?;
    let mut triggers = Vec::new();
    if scaling.cpu.is_some() && fine_cpu {
        triggers.push(Trigger::TargetCpuFine {
            target: crate::plan::scaling::target_utilisation(scaling) * 100.0,
        });
    } else if let Some(cpu) = &scaling.cpu {
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
/// back (to the last COMPLETED deployment), as teams run it today; with `fine_cpu`, a service that
/// scales on CPU publishes it every 20 seconds. On a stack whose `capacity` gives tugboat the
/// Auto Scaling group, the baseline's EC2 services go through a capacity provider of that group
/// instead, with ECS's managed scaling: what a team runs without tugboat.
pub fn create_input(
    cluster: &str,
    service: &ServiceSpec,
    task_definition: TaskDefinitionId,
    fine_cpu: bool,
    capacity: Option<&crate::manifest::spec::CapacitySpec>,
) -> CreateServiceInput {
    let mut input = crate::plan::service::create_input(
        cluster,
        service,
        task_definition,
        service.desired_count,
    );
    input.deployment_configuration.rollback = service.deployment.rollback.on_unhealthy_targets;
    if let Some(capacity) = capacity
        && service.launch() == crate::manifest::spec::LaunchType::Ec2
        && input.options.capacity_provider_strategy.is_empty()
    {
        input.options.capacity_provider_strategy = vec![(
            format!(
                "{}-provider",
                crate::controller::capacity::group_name(capacity)
            ),
            1,
            0,
        )];
    }
    if fine_cpu && service.scaling.as_ref().is_some_and(|s| s.cpu.is_some()) {
        input.options.cpu_resolution_seconds = Some(FINE_CPU_PERIOD_SECONDS);
    }
    input
}
