//! A whole simulated run: a world set up from stacks, a load trace, a scaler, and what happened,
//! second by second (the timeline) and in total (the summary).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::cloud::CloudError;
use crate::cloud::types::{CreateServiceInput, UpdateServiceInput};
use crate::controller::reconcile::reconcile;
use crate::manifest::spec::ServiceSpec;
use crate::model::Stack;
use crate::model::{DecisionKind, DecisionRecord, ServiceKey, ServiceMemory};
use crate::plan::DesiredService;
use crate::plan::render::render;
use crate::plan::service::health_settings;
use crate::store::FileStore;

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
    /// Controller reconciles (or services within one) whose calls failed and were retried.
    pub reconcile_errors: u64,
}

/// Who scales (and, for tugboat, deploys) during a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scaler {
    /// Nobody: desired counts stay as created.
    None,
    /// Application Auto Scaling with CloudWatch alarms (the baseline); ECS's own circuit breaker.
    Aas,
    /// tugboat's controller, reconciling every `resync_seconds`.
    Tug {
        /// Seconds between reconciles.
        resync_seconds: u64,
    },
}

impl Scaler {
    /// The name summaries use.
    pub fn name(self) -> &'static str {
        match self {
            Scaler::None => "none",
            Scaler::Aas => "aas",
            Scaler::Tug { .. } => "tug",
        }
    }
}

/// tugboat's controller inside a simulation: the manifest's services and the controller's memory.
#[derive(Debug)]
struct Controller {
    /// What the manifests say (scheduled deployments change images here, as an apply would).
    desired: Vec<DesiredService>,
    /// The controller's memory per service.
    memories: BTreeMap<ServiceKey, ServiceMemory>,
    /// Seconds between reconciles.
    resync_seconds: u64,
    /// Reconciles whose observation failed, or services whose actions failed (retried next time).
    errors: u64,
    /// Where memory is persisted after each reconcile, as the daemon does; `None` keeps it in memory.
    store: Option<FileStore>,
    /// Set to lose the next reconcile's memory: a crash after acting, before saving.
    skip_next_save: bool,
}

/// A simulated account set up from stacks, and a scaler.
#[derive(Debug)]
pub struct Simulation {
    /// The simulated account.
    pub sim: Sim,
    /// Who scales.
    scaler: Scaler,
    /// Application Auto Scaling, one per stack (with `Scaler::Aas`).
    baselines: Vec<Baseline>,
    /// tugboat's controller (with `Scaler::Tug`).
    controller: Option<Controller>,
    /// Scaling actions of the controller.
    controller_actions: Vec<ScalingAction>,
    /// Every decision of the controller: (second, service, decision).
    pub decisions: Vec<(u64, String, DecisionRecord)>,
    /// (cluster, service) of every service, in order.
    services: Vec<(String, String)>,
    /// Running totals.
    summaries: BTreeMap<String, ServiceSummary>,
    /// The seed.
    seed: u64,
}

impl Simulation {
    /// Creates the stacks' target groups (infrastructure); then, unless tugboat's controller is the
    /// scaler (it creates its services itself), registers their task definitions and creates them.
    ///
    /// # Errors
    /// A setup call that keeps failing (after retries, one simulated second apart).
    pub fn new(
        stacks: &[Stack],
        world: World,
        load: LoadTrace,
        seed: u64,
        scaler: Scaler,
    ) -> Result<Self, CloudError> {
        let mut sim = Sim::new(world, load, seed);
        let mut services = Vec::new();
        for stack in stacks {
            for group in &stack.spec().target_groups {
                sim.create_target_group(
                    &group.name,
                    stack.name(),
                    Some(health_settings(&group.health_check)),
                );
            }
            sim.provide_target_groups(stack);
            for service in &stack.spec().services {
                services.push((stack.spec().cluster.clone(), service.name.clone()));
                if matches!(scaler, Scaler::Tug { .. }) {
                    continue;
                }
                let definition = render(service, None);
                let id = retrying(&mut sim, |s| s.register_task_definition(definition.clone()))?;
                let input = create_input(&stack.spec().cluster, service, id);
                retrying(&mut sim, |s| s.create_service(input.clone()))?;
            }
        }
        let controller = match scaler {
            Scaler::Tug { resync_seconds } => Some(Controller {
                desired: stacks.iter().flat_map(DesiredService::of_stack).collect(),
                memories: BTreeMap::new(),
                resync_seconds: resync_seconds.max(1),
                errors: 0,
                store: None,
                skip_next_save: false,
            }),
            _ => None,
        };
        Ok(Self {
            sim,
            scaler,
            baselines: if scaler == Scaler::Aas {
                stacks.iter().map(Baseline::for_stack).collect()
            } else {
                Vec::new()
            },
            controller,
            controller_actions: Vec::new(),
            decisions: Vec::new(),
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
    pub fn step(&mut self, stacks: &[Stack]) -> Result<Vec<TimelineRow>, CloudError> {
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
            match self.controller.as_mut() {
                Some(controller) => controller.set_image(&deployment.service, &deployment.image),
                None => self.deploy(stacks, &deployment.service, &deployment.image)?,
            }
        }
        self.sim.advance_to(t * SECOND);
        for baseline in &mut self.baselines {
            baseline.evaluate(&mut self.sim);
        }
        if self
            .controller
            .as_ref()
            .is_some_and(|c| t == 1 || t.is_multiple_of(c.resync_seconds))
        {
            self.reconcile(t);
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

    /// One reconcile of tugboat's controller at second `t`.
    fn reconcile(&mut self, t: u64) {
        let Some(controller) = self.controller.as_mut() else {
            return;
        };
        let before: BTreeMap<ServiceKey, Option<u32>> = controller
            .memories
            .iter()
            .map(|(k, m)| (k.clone(), m.desired_count))
            .collect();
        let lent = std::sync::Mutex::new(&mut self.sim);
        let run = reconcile(&lent, &controller.desired, &controller.memories, t);
        let Some(result) = complete(run) else {
            controller.errors += 1;
            return;
        };
        let outcomes = match result {
            Ok(outcomes) => outcomes,
            Err(_) => {
                controller.errors += 1;
                return;
            }
        };
        for outcome in outcomes {
            controller.errors += u64::from(outcome.error.is_some());
            for d in outcome.memory.decisions.iter().filter(|d| d.at == t) {
                self.decisions
                    .push((t, outcome.key.service.clone(), d.clone()));
                if matches!(d.kind, DecisionKind::ScaleOut | DecisionKind::ScaleIn) {
                    self.controller_actions.push(ScalingAction {
                        t_seconds: t,
                        service: outcome.key.service.clone(),
                        from: before
                            .get(&outcome.key)
                            .copied()
                            .flatten()
                            .unwrap_or_default(),
                        to: outcome.memory.desired_count.unwrap_or_default(),
                        reason: d.reason.clone(),
                    });
                }
            }
            if let Some(store) = &controller.store
                && !controller.skip_next_save
                && store
                    .save_memory_blocking(&outcome.stack, &outcome.key.service, &outcome.memory)
                    .is_err()
            {
                controller.errors += 1;
            }
            controller.memories.insert(outcome.key, outcome.memory);
        }
        controller.skip_next_save = false;
    }

    /// Persists the controller's memory in `store` after every reconcile, as the daemon does.
    pub fn persist_memory_in(&mut self, store: FileStore) {
        if let Some(c) = self.controller.as_mut() {
            c.store = Some(store);
        }
    }

    /// Makes the next reconcile act but not save its memory: a controller killed in between.
    pub fn crash_before_next_save(&mut self) {
        if let Some(c) = self.controller.as_mut() {
            c.skip_next_save = true;
        }
    }

    /// A new controller process: all in-process memory is gone; what the store holds is read back.
    ///
    /// # Errors
    /// The store's memory cannot be read.
    pub fn restart_controller(&mut self) -> Result<(), crate::store::StoreError> {
        let Some(c) = self.controller.as_mut() else {
            return Ok(());
        };
        let Some(store) = &c.store else { return Ok(()) };
        let mut memories = BTreeMap::new();
        let stacks: std::collections::BTreeSet<&str> =
            c.desired.iter().map(|d| d.stack.as_str()).collect();
        for stack in stacks {
            for (service, memory) in store.load_memory_blocking(stack)? {
                if let Some(d) = c
                    .desired
                    .iter()
                    .find(|d| d.stack == stack && d.spec.name == service)
                {
                    memories.insert(
                        ServiceKey {
                            cluster: d.cluster.clone(),
                            service,
                        },
                        memory,
                    );
                }
            }
        }
        c.memories = memories;
        Ok(())
    }

    /// The controller's memory of a service (with `Scaler::Tug`).
    pub fn memory(&self, service: &str) -> Option<&ServiceMemory> {
        self.controller.as_ref().and_then(|c| {
            c.memories
                .iter()
                .find(|(k, _)| k.service == service)
                .map(|(_, m)| m)
        })
    }

    /// The totals so far.
    pub fn summary(&self) -> Summary {
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
        let mut actions: Vec<ScalingAction> = self
            .baselines
            .iter()
            .flat_map(|b| b.actions.clone())
            .chain(self.controller_actions.iter().cloned())
            .collect();
        actions.sort_by_key(|a| a.t_seconds);
        let mut services = self.summaries.clone();
        for action in &actions {
            if let Some(s) = services.get_mut(&action.service) {
                s.scaling_actions += 1;
            }
        }
        Summary {
            seed: self.seed,
            duration_seconds: self.sim.now_ms() / SECOND,
            scaler: self.scaler.name(),
            services,
            api_calls,
            throttled_calls,
            failed_tasks: self.sim.failed_task_count(),
            actions,
            reconcile_errors: self.controller.as_ref().map_or(0, |c| c.errors),
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

/// CreateService's input for the baseline: tugboat's, except that ECS's own circuit breaker rolls
/// back (to the last COMPLETED deployment), as teams run it today.
fn create_input(
    cluster: &str,
    service: &ServiceSpec,
    task_definition: crate::cloud::types::TaskDefinitionId,
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

impl Controller {
    /// A new image for a service's first essential container, as if its manifest were re-applied.
    fn set_image(&mut self, service: &str, image: &str) {
        if let Some(desired) = self.desired.iter_mut().find(|d| d.spec.name == service)
            && let Some(container) = desired
                .spec
                .task_definition
                .containers
                .iter_mut()
                .find(|c| c.essential)
        {
            container.image = image.to_owned();
        }
    }
}

/// Drives a future that never waits (the simulator answers at once) to completion; `None` if it
/// does wait, which would be a bug in the simulator, reported rather than hung on.
pub fn complete<F: std::future::Future>(future: F) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    for _ in 0..16 {
        if let std::task::Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return Some(output);
        }
    }
    None
}
