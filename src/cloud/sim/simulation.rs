//! A whole simulated run: a world set up from stacks, a load trace, a scaler, and what happened,
//! second by second (the timeline) and in total (the summary).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::cloud::CloudError;
use crate::cloud::types::{
    ContainerInput, CreateServiceInput, DeploymentConfiguration, DeploymentController,
    HealthCheckSettings, LoadBalancerInput, TaskDefinitionInput, UpdateServiceInput,
};
use crate::manifest::rules::effective_network_mode;
use crate::manifest::spec::{LaunchType, NetworkMode, ServiceSpec};
use crate::model::Stack;

use super::aas::{Baseline, ScalingAction};
use super::api::Outcome;
use super::load::LoadTrace;
use super::world::World;
use super::{SECOND, ServiceSample, Sim};

/// How many times a setup call is retried (one simulated second apart) when throttled or failing.
const SETUP_ATTEMPTS: u32 = 600;

/// One row of the timeline: one service at one simulated second.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineRow {
    /// Simulated seconds.
    pub t_seconds: u64,
    /// Service name.
    pub service: String,
    /// The counts and traffic of that second.
    pub sample: ServiceSample,
}

/// Totals per service over a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ServiceSummary {
    /// Sum over seconds of tasks billed (pending, running and stopping).
    pub task_seconds: u64,
    /// Seconds during which offered load exceeded healthy capacity.
    pub seconds_overloaded: u64,
    /// 5XX responses (load balancer and targets).
    pub http_5xx_total: f64,
    /// Most RUNNING tasks at once.
    pub max_tasks: u32,
    /// Fewest healthy tasks while a deployment (other than the first) was in progress.
    pub min_healthy_during_rollouts: Option<u32>,
    /// Seconds with such a deployment in progress.
    pub rollout_seconds: u64,
    /// Scaling actions taken.
    pub scaling_actions: u64,
}

/// What a run produced.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// The seed.
    pub seed: u64,
    /// Simulated seconds.
    pub duration_seconds: u64,
    /// Which scaler ran.
    pub scaler: &'static str,
    /// Per service.
    pub services: BTreeMap<String, ServiceSummary>,
    /// API calls by operation and outcome (setup and scheduled deployments).
    pub api_calls: BTreeMap<String, BTreeMap<Outcome, u64>>,
    /// Calls refused by throttling.
    pub throttled_calls: u64,
    /// Tasks that stopped because they failed.
    pub failed_tasks: u64,
    /// Every scaling action, in order.
    pub actions: Vec<ScalingAction>,
}

/// A simulated account set up from stacks, and the baseline scaler.
#[derive(Debug)]
pub struct Simulation {
    /// The simulated account.
    pub sim: Sim,
    /// Application Auto Scaling, one per stack.
    baselines: Vec<Baseline>,
    /// (cluster, service) of every service, in order.
    services: Vec<(String, String)>,
    /// Running totals.
    summaries: BTreeMap<String, ServiceSummary>,
    /// The seed.
    seed: u64,
}

impl Simulation {
    /// Registers the stacks' task definitions, creates their target groups and services.
    ///
    /// # Errors
    /// A setup call that keeps failing (after retries, one simulated second apart).
    pub fn new(
        stacks: &[Stack],
        world: World,
        load: LoadTrace,
        seed: u64,
    ) -> Result<Self, CloudError> {
        let mut sim = Sim::new(world, load, seed);
        let mut services = Vec::new();
        for stack in stacks {
            for group in &stack.spec().target_groups {
                let hc = &group.health_check;
                sim.create_target_group(
                    &group.name,
                    stack.name(),
                    Some(HealthCheckSettings {
                        path: hc.path.clone(),
                        interval_seconds: hc.interval_seconds,
                        timeout_seconds: hc.timeout_seconds,
                        healthy_threshold: hc.healthy_threshold,
                        unhealthy_threshold: hc.unhealthy_threshold,
                    }),
                );
            }
            for service in &stack.spec().services {
                for lb in &service.load_balancers {
                    sim.create_target_group(&lb.target_group, stack.name(), None);
                }
                let definition = render(service, None);
                let id = retrying(&mut sim, |s| s.register_task_definition(definition.clone()))?;
                let input = create_input(&stack.spec().cluster, service, id);
                retrying(&mut sim, |s| s.create_service(input.clone()))?;
                services.push((stack.spec().cluster.clone(), service.name.clone()));
            }
        }
        Ok(Self {
            sim,
            baselines: stacks.iter().map(Baseline::for_stack).collect(),
            summaries: services
                .iter()
                .map(|(_, s)| (s.clone(), ServiceSummary::default()))
                .collect(),
            services,
            seed,
        })
    }

    /// Runs one simulated second: scheduled deployments, the world, the scaler. Returns the
    /// timeline rows of that second.
    ///
    /// # Errors
    /// A scheduled deployment whose calls keep failing.
    pub fn step(
        &mut self,
        stacks: &[Stack],
        with_scaler: bool,
    ) -> Result<Vec<TimelineRow>, CloudError> {
        let t = self.sim.now_ms() / SECOND + 1;
        let due: Vec<_> = self
            .sim
            .world()
            .deployments
            .iter()
            .filter(|d| d.at_seconds == t)
            .cloned()
            .collect();
        for deployment in due {
            self.deploy(stacks, &deployment.service, &deployment.image)?;
        }
        self.sim.advance_to(t * SECOND);
        if with_scaler {
            for baseline in &mut self.baselines {
                baseline.evaluate(&mut self.sim);
            }
        }
        let mut rows = Vec::with_capacity(self.services.len());
        for key in &self.services {
            let sample = self.sim.samples().get(key).cloned().unwrap_or_default();
            let total = self.summaries.entry(key.1.clone()).or_default();
            total.task_seconds += u64::from(sample.running + sample.pending + sample.stopping);
            total.seconds_overloaded += u64::from(sample.overloaded);
            total.http_5xx_total += sample.http_5xx;
            total.max_tasks = total.max_tasks.max(sample.running);
            if sample.rolling_out {
                total.rollout_seconds += 1;
                total.min_healthy_during_rollouts = Some(
                    total
                        .min_healthy_during_rollouts
                        .map_or(sample.healthy, |m| m.min(sample.healthy)),
                );
            }
            rows.push(TimelineRow {
                t_seconds: t,
                service: key.1.clone(),
                sample,
            });
        }
        Ok(rows)
    }

    /// Starts a deployment of a new image for a service, as a CI job would: a new revision, then
    /// UpdateService.
    fn deploy(&mut self, stacks: &[Stack], service: &str, image: &str) -> Result<(), CloudError> {
        let found = stacks.iter().find_map(|stack| {
            stack
                .spec()
                .services
                .iter()
                .find(|s| s.name == service)
                .map(|s| (stack.spec().cluster.clone(), s.clone()))
        });
        let Some((cluster, spec)) = found else {
            return Err(CloudError::Invalid {
                operation: "UpdateService",
                message: format!("scheduled deployment names unknown service `{service}`"),
            });
        };
        let definition = render(&spec, Some(image));
        let id = retrying(&mut self.sim, |s| {
            s.register_task_definition(definition.clone())
        })?;
        let input = UpdateServiceInput {
            cluster,
            service: service.to_owned(),
            task_definition: Some(id),
            ..UpdateServiceInput::default()
        };
        retrying(&mut self.sim, |s| s.update_service(input.clone()))?;
        Ok(())
    }

    /// The totals so far.
    pub fn summary(&self, with_scaler: bool) -> Summary {
        let api_calls: BTreeMap<String, BTreeMap<Outcome, u64>> = self
            .sim
            .api()
            .counts()
            .into_iter()
            .map(|(op, outcomes)| (op.to_owned(), outcomes))
            .collect();
        let throttled_calls = api_calls
            .values()
            .filter_map(|o| o.get(&Outcome::Throttled))
            .sum();
        let actions: Vec<ScalingAction> = self
            .baselines
            .iter()
            .flat_map(|b| b.actions.clone())
            .collect();
        let mut services = self.summaries.clone();
        for action in &actions {
            if let Some(s) = services.get_mut(&action.service) {
                s.scaling_actions += 1;
            }
        }
        Summary {
            seed: self.seed,
            duration_seconds: self.sim.now_ms() / SECOND,
            scaler: if with_scaler { "aas" } else { "none" },
            services,
            api_calls,
            throttled_calls,
            failed_tasks: self.sim.failed_task_count(),
            actions,
        }
    }
}

/// Calls `op` until it succeeds, waiting out each call's latency, and one simulated second more
/// after each retryable failure.
fn retrying<T>(
    sim: &mut Sim,
    mut op: impl FnMut(&mut Sim) -> Result<T, CloudError>,
) -> Result<T, CloudError> {
    let mut attempt = 0;
    loop {
        let result = op(sim);
        let answered = sim.now_ms() + sim.api().last_latency_ms();
        sim.advance_to(answered);
        match result {
            Err(e) if e.is_retryable() && attempt < SETUP_ATTEMPTS => {
                attempt += 1;
                let next = sim.now_ms() + SECOND;
                sim.advance_to(next);
            }
            other => return other,
        }
    }
}

/// The task definition a service's spec renders to; `image` replaces the first essential container's.
pub fn render(service: &ServiceSpec, image: Option<&str>) -> TaskDefinitionInput {
    let task = &service.task_definition;
    let mut replaced = false;
    TaskDefinitionInput {
        family: task.family.clone(),
        cpu: task.cpu,
        memory: task.memory,
        network_mode: match effective_network_mode(service) {
            NetworkMode::Awsvpc => "awsvpc",
            NetworkMode::Bridge => "bridge",
            NetworkMode::Host => "host",
            NetworkMode::None => "none",
        }
        .to_owned(),
        containers: task
            .containers
            .iter()
            .map(|c| {
                let image = match image {
                    Some(new) if c.essential && !replaced => {
                        replaced = true;
                        new.to_owned()
                    }
                    _ => c.image.clone(),
                };
                ContainerInput {
                    name: c.name.clone(),
                    image,
                    essential: c.essential,
                    ports: c.port_mappings.iter().map(|p| p.container_port).collect(),
                }
            })
            .collect(),
    }
}

fn create_input(
    cluster: &str,
    service: &ServiceSpec,
    task_definition: crate::cloud::types::TaskDefinitionId,
) -> CreateServiceInput {
    CreateServiceInput {
        cluster: cluster.to_owned(),
        service: service.name.clone(),
        task_definition,
        desired_count: service.desired_count,
        launch_type: match service.launch_type {
            LaunchType::Fargate => "FARGATE",
            LaunchType::Ec2 => "EC2",
        }
        .to_owned(),
        deployment_configuration: DeploymentConfiguration {
            minimum_healthy_percent: service.deployment.minimum_healthy_percent,
            maximum_percent: service.deployment.maximum_percent,
            // What teams run today: ECS's circuit breaker with rollback.
            circuit_breaker: true,
            rollback: service.deployment.rollback.on_unhealthy_targets,
        },
        deployment_controller: DeploymentController::Ecs,
        load_balancers: service
            .load_balancers
            .iter()
            .map(|lb| LoadBalancerInput {
                target_group: lb.target_group.clone(),
                container_name: lb.container_name.clone(),
                container_port: lb.container_port,
            })
            .collect(),
        health_check_grace_period_seconds: service.deployment.health_check_grace_period_seconds,
    }
}
