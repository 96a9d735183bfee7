//! The simulation harness: a simulated AWS account set up from stacks, a load trace, a scaler, and
//! what happened, second by second (the timeline) and in total (the summary). `tug simulate`,
//! `tug demo` and the scenario tests run on it.
//!
//! With tugboat as the scaler, the harness runs the daemon itself ([`crate::controller::daemon`],
//! with the same cloud layers as `tug controller`) against the simulated account and an
//! in-memory store, on tokio's paused clock: virtual time that jumps to the next timer whenever
//! everything waits, so hours pass in milliseconds and the same seed gives the same run. A
//! scheduled deployment becomes an apply of the changed stack, as a CI job would do it. With the
//! baseline, the harness creates the services as a team's templates would and lets Application
//! Auto Scaling ([`crate::cloud::sim::aas`]) scale them from inside the account.

pub mod baseline;
pub mod limit;
pub mod plot;
pub mod preview;
pub mod recorded;

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::Serialize;
use tokio::sync::watch;

use crate::cloud::sim::aas::{Baseline, ScalingAction};
use crate::cloud::sim::api::{ApiCall, Outcome};
use crate::cloud::sim::load::LoadTrace;
use crate::cloud::sim::world::World;
use crate::cloud::sim::{ServiceSample, Sim};
use crate::cloud::{Clock, Cloud, CloudError, Layered, SimCloud};
use crate::controller::daemon::{Daemon, DaemonConfig, DaemonError, Readiness, Report};
use crate::controller::metrics::Metrics;
use crate::controller::{Layers, layers};
use crate::model::{DecisionKind, DecisionRecord, ServiceMemory, Stack};
use crate::plan::render::render;
use crate::plan::service::health_settings;
use crate::store::{MemoryStore, Store};

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
    /// Of the overloaded seconds, those no scaler could avoid ([`limit`]: start-up, load beyond
    /// maxTasks).
    pub unavoidable_seconds_overloaded: u64,
    /// Seconds the reactive limit overloads on the same load ([`limit`]).
    pub reactive_limit_seconds_overloaded: u64,
    /// Seconds the reactive limit on 20-second datapoints overloads on the same load.
    pub reactive_limit_20s_seconds_overloaded: u64,
}

impl ServiceSummary {
    /// The avoidable overload as a ratio to the reactive limit's (1.0: the limit itself).
    pub fn ratio_to_limit(&self) -> Option<f64> {
        limit::ratio_to_limit(
            self.seconds_overloaded,
            self.unavoidable_seconds_overloaded,
            self.reactive_limit_seconds_overloaded,
        )
    }
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
    /// API calls by operation and outcome.
    pub api_calls: BTreeMap<String, BTreeMap<Outcome, u64>>,
    /// Calls refused by throttling.
    pub throttled_calls: u64,
    /// Tasks that stopped because they failed.
    pub failed_tasks: u64,
    /// Every scaling action, in order.
    pub actions: Vec<ScalingAction>,
    /// Controller reconciles whose observation or calls failed (retried with backoff).
    pub reconcile_errors: u64,
}

/// Who scales (and, for tugboat, deploys) during a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scaler {
    /// Nobody: desired counts stay as created.
    None,
    /// Application Auto Scaling with CloudWatch alarms (the baseline); ECS's own circuit breaker.
    Aas,
    /// The same, with CPU scaling as target tracking on the 20-second CPU metric (at the rule's
    /// target utilisation), each service's `monitoringConfiguration` publishing it: what a user
    /// would pick since 2026.
    AasHr,
    /// tugboat's controller, each service looked at again at least every `resync_seconds`.
    Tug {
        /// Seconds between a service's reconciles when nothing asks for one sooner.
        resync_seconds: u64,
    },
}

impl Scaler {
    /// The name summaries use.
    pub fn name(self) -> &'static str {
        match self {
            Scaler::None => "none",
            Scaler::Aas => "aas",
            Scaler::AasHr => "aas-hr",
            Scaler::Tug { .. } => "tug",
        }
    }
}

/// Why a simulation cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum SimulationError {
    /// A call the harness makes itself (setup, a baseline deployment) kept failing.
    #[error("{0}")]
    Cloud(#[from] CloudError),
    /// The in-memory store refused a stack (a scheduled deployment made it invalid).
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
    /// The runtime for virtual time could not start.
    #[error("cannot start the simulation's runtime: {0}")]
    Runtime(std::io::Error),
    /// A scheduled deployment names a service no stack has.
    #[error("scheduled deployment names unknown service `{0}`")]
    UnknownService(String),
}

/// The daemon running inside a simulation.
struct Running {
    handle: tokio::task::JoinHandle<Result<Report, DaemonError>>,
    stop: watch::Sender<bool>,
}

/// A simulated account set up from stacks, and a scaler.
pub struct Simulation {
    /// Virtual time: a current-thread runtime on tokio's paused clock.
    runtime: tokio::runtime::Runtime,
    /// The simulated account, as the controller sees it.
    cloud: SimCloud,
    /// The controller's store (with tugboat as the scaler).
    store: MemoryStore,
    /// Who scales.
    scaler: Scaler,
    /// Application Auto Scaling (with `Scaler::Aas`).
    baseline: Baseline,
    /// The stacks as last applied (scheduled deployments change them).
    stacks: Vec<Stack>,
    /// The daemon, while it runs.
    controller: Option<Running>,
    /// The daemon's metrics, kept across restarts.
    metrics: Metrics,
    /// (cluster, service) of every service, in order.
    services: Vec<(String, String)>,
    /// Running totals.
    summaries: BTreeMap<String, ServiceSummary>,
    /// The limits of each service, on the same load: on 1-minute and on 20-second datapoints.
    limits: BTreeMap<String, (limit::LimitTracker, limit::LimitTracker)>,
    /// The seed.
    seed: u64,
    /// The simulated second reached.
    t: u64,
}

impl std::fmt::Debug for Simulation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulation")
            .field("scaler", &self.scaler)
            .field("t", &self.t)
            .finish_non_exhaustive()
    }
}

impl Simulation {
    /// Creates the stacks' target groups (infrastructure); then either starts tugboat's
    /// controller on them, or registers the task definitions and creates the services as a
    /// team's templates would (the baseline).
    ///
    /// # Errors
    /// The runtime cannot start; a setup call keeps failing.
    pub fn new(
        stacks: &[Stack],
        world: World,
        load: LoadTrace,
        seed: u64,
        scaler: Scaler,
    ) -> Result<Self, SimulationError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .map_err(SimulationError::Runtime)?;
        let cloud = {
            let _guard = runtime.enter();
            SimCloud::new(Sim::new(world, load, seed), Clock::scaled(0, 1.0), 0)
        };
        cloud.with(|sim| provide_infrastructure(sim, stacks));
        let services: Vec<(String, String)> = stacks
            .iter()
            .flat_map(|s| {
                s.spec()
                    .services
                    .iter()
                    .map(|svc| (s.spec().cluster.clone(), svc.name.clone()))
            })
            .collect();
        let limits = cloud.with(|sim| {
            stacks
                .iter()
                .flat_map(|s| s.spec().services.iter())
                .map(|spec| {
                    let (bounds, utilisation) = spec.scaling.as_ref().map_or(
                        ((spec.desired_count, spec.desired_count), 1.0),
                        |s| {
                            (
                                (s.min_tasks, s.max_tasks),
                                crate::plan::scaling::target_utilisation(s),
                            )
                        },
                    );
                    let model = limit::LimitModel::new(
                        sim.world(),
                        spec.desired_count,
                        bounds,
                        utilisation,
                    );
                    let fine = model.fine(sim.world());
                    (
                        spec.name.clone(),
                        (
                            limit::LimitTracker::new(model),
                            limit::LimitTracker::new(fine),
                        ),
                    )
                })
                .collect()
        });
        let metrics = Metrics::new().map_err(|e| {
            SimulationError::Runtime(std::io::Error::other(format!("metrics: {e}")))
        })?;
        let mut simulation = Self {
            runtime,
            store: MemoryStore::new(),
            scaler,
            baseline: Baseline::new(match scaler {
                Scaler::Aas => stacks
                    .iter()
                    .flat_map(|s| baseline::policies(s, false))
                    .collect(),
                Scaler::AasHr => stacks
                    .iter()
                    .flat_map(|s| baseline::policies(s, true))
                    .collect(),
                Scaler::None | Scaler::Tug { .. } => Vec::new(),
            }),
            stacks: stacks.to_vec(),
            controller: None,
            metrics,
            summaries: services
                .iter()
                .map(|(_, s)| (s.clone(), ServiceSummary::default()))
                .collect(),
            limits,
            services,
            seed,
            t: 0,
            cloud,
        };
        match scaler {
            Scaler::Tug { .. } => {
                let store = simulation.store.clone();
                let stacks = stacks.to_vec();
                simulation
                    .runtime
                    .block_on(store.apply(stacks, SystemTime::UNIX_EPOCH, false))?;
                simulation.start_controller();
            }
            Scaler::Aas | Scaler::AasHr | Scaler::None => {
                let cloud = simulation.cloud.clone();
                simulation.runtime.block_on(create_services(
                    &cloud,
                    stacks,
                    scaler == Scaler::AasHr,
                ))?;
            }
        }
        Ok(simulation)
    }

    /// Starts tugboat's controller (again): a new process, with only what the store holds.
    pub fn start_controller(&mut self) {
        let Scaler::Tug { resync_seconds } = self.scaler else {
            return;
        };
        if self.controller.is_some() {
            return;
        }
        let (stop, stopped) = watch::channel(false);
        let clock = self.cloud.clock().clone();
        let daemon = Daemon {
            store: self.store.clone(),
            cloud: Layered::new(layers(&clock, &self.metrics), self.cloud.clone()),
            clock,
            metrics: self.metrics.clone(),
            readiness: std::sync::Arc::new(Readiness::default()),
            config: DaemonConfig {
                resync_ms: resync_seconds.max(1) * 1000,
                ..DaemonConfig::default()
            },
        };
        let handle = self.runtime.spawn(daemon.run(stopped));
        self.controller = Some(Running { handle, stop });
    }

    /// Runs `task` on the simulation's runtime (it makes progress while the simulation does).
    pub fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        drop(self.runtime.spawn(task));
    }

    /// Kills the controller as `kill -9` would: whatever it was doing is abandoned at once;
    /// only what it saved in the store survives.
    pub fn kill_controller(&mut self) {
        if let Some(running) = self.controller.take() {
            running.handle.abort();
            let _ = self.runtime.block_on(running.handle);
        }
    }

    /// Stops the controller as SIGTERM would, and waits for it; its report.
    pub fn stop_controller(&mut self) -> Option<Result<Report, DaemonError>> {
        let running = self.controller.take()?;
        let _ = running.stop.send(true);
        self.runtime.block_on(running.handle).ok()
    }

    /// Runs one simulated second: scheduled deployments, the world, the controller or the
    /// baseline. Returns the timeline rows of that second.
    ///
    /// # Errors
    /// A scheduled deployment that cannot be made.
    pub fn step(&mut self) -> Result<Vec<TimelineRow>, SimulationError> {
        let t = self.t + 1;
        let due: Vec<_> = self
            .cloud
            .with(|s| s.world().deployments.clone())
            .into_iter()
            .filter(|d| d.at_seconds == t)
            .collect();
        for deployment in due {
            self.deploy(&deployment.service, &deployment.image)?;
        }
        let clock = self.cloud.clock().clone();
        self.runtime
            .block_on(clock.sleep_until_ms(self.cloud.origin_ms() + t * 1000));
        self.t = t;
        let baseline = &mut self.baseline;
        let services = &self.services;
        let (samples, offered) = self.cloud.with(|sim| {
            baseline.evaluate(sim);
            let offered: Vec<f64> = services.iter().map(|k| sim.offered_rps(&k.1, t)).collect();
            (sim.samples().clone(), offered)
        });
        let mut rows = Vec::with_capacity(self.services.len());
        for (key, offered) in self.services.iter().zip(offered) {
            // A service not created yet (waiting for room, say) serves none of its load: that is
            // overload too, or a late creation would look better than an early one.
            let sample = samples.get(key).cloned().unwrap_or_else(|| ServiceSample {
                rps: offered,
                overloaded: offered > 0.0,
                ..ServiceSample::default()
            });
            let total = self.summaries.entry(key.1.clone()).or_default();
            total.task_seconds += u64::from(sample.running + sample.pending + sample.stopping);
            total.seconds_overloaded += u64::from(sample.overloaded);
            if let Some((minute, fine)) = self.limits.get_mut(&key.1) {
                minute.second(t, sample.rps);
                fine.second(t, sample.rps);
                total.unavoidable_seconds_overloaded = minute.unavoidable_seconds;
                total.reactive_limit_seconds_overloaded = minute.reactive_seconds;
                total.reactive_limit_20s_seconds_overloaded = fine.reactive_seconds;
            }
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

    /// Lets the controller and the world run to `at_ms` (simulated milliseconds, before the next
    /// whole second), without timeline rows: to kill the controller in the middle of its work.
    pub fn run_to_ms(&mut self, at_ms: u64) {
        let clock = self.cloud.clock().clone();
        let limit = (self.t + 1) * 1000 - 1;
        self.runtime
            .block_on(clock.sleep_until_ms(self.cloud.origin_ms() + at_ms.min(limit)));
    }

    /// Runs `seconds` simulated seconds, calling `check` with every row.
    ///
    /// # Errors
    /// As [`Simulation::step`].
    pub fn run(
        &mut self,
        seconds: u64,
        mut check: impl FnMut(&TimelineRow),
    ) -> Result<(), SimulationError> {
        for _ in 0..seconds {
            for row in self.step()? {
                check(&row);
            }
        }
        Ok(())
    }

    /// The simulated second reached.
    pub fn now(&self) -> u64 {
        self.t
    }

    /// A new image for a service's first essential container: with tugboat, an apply of the
    /// changed stack; with the baseline, a new revision and UpdateService, as a CI job would.
    fn deploy(&mut self, service: &str, image: &str) -> Result<(), SimulationError> {
        let found = self.stacks.iter().find_map(|stack| {
            stack
                .spec()
                .services
                .iter()
                .find(|s| s.name == service)
                .map(|s| (stack.clone(), s.clone()))
        });
        let Some((stack, spec)) = found else {
            return Err(SimulationError::UnknownService(service.to_owned()));
        };
        if matches!(self.scaler, Scaler::Tug { .. }) {
            let changed = with_image(&stack, service, image)?;
            return self.apply(vec![changed]);
        }
        let cloud = self.cloud.clone();
        let cluster = stack.spec().cluster.clone();
        self.runtime.block_on(async {
            let definition = render(&spec, Some(image));
            let registered = retrying(&cloud, || {
                cloud.register_task_definition(definition.clone())
            })
            .await?;
            let input = crate::model::aws::UpdateServiceInput {
                cluster: cluster.clone(),
                service: service.to_owned(),
                task_definition: Some(registered.id),
                ..Default::default()
            };
            retrying(&cloud, || cloud.update_service(input.clone())).await?;
            Ok::<(), CloudError>(())
        })?;
        Ok(())
    }

    /// Applies changed stacks to the controller's store, as `tug apply` would: the controller
    /// acts on them from its next look. With the baseline, nothing is applied.
    ///
    /// # Errors
    /// The store refused the stacks.
    pub fn apply(&mut self, stacks: Vec<Stack>) -> Result<(), SimulationError> {
        if !matches!(self.scaler, Scaler::Tug { .. }) {
            return Ok(());
        }
        let store = self.store.clone();
        let applied = self
            .runtime
            .block_on(store.apply(stacks, SystemTime::UNIX_EPOCH, false))?;
        for a in applied {
            self.stacks.retain(|s| s.name() != a.stack.name());
            self.stacks.push(a.stack);
        }
        Ok(())
    }

    /// Runs `f` with the simulated account, brought up to the current time: out-of-band changes
    /// and inspection in tests.
    pub fn with_sim<T>(&self, f: impl FnOnce(&mut Sim) -> T) -> T {
        self.cloud.with(f)
    }

    /// The simulated account as the controller sees it.
    pub fn cloud(&self) -> &SimCloud {
        &self.cloud
    }

    /// The controller's store.
    pub fn store(&self) -> &MemoryStore {
        &self.store
    }

    /// Every call made to the simulated account (the most recent, if there were very many).
    pub fn calls(&self) -> Vec<ApiCall> {
        self.cloud.with(|s| s.api().calls.iter().cloned().collect())
    }

    /// The controller's memory of a service (with `Scaler::Tug`), as saved.
    pub fn memory(&self, service: &str) -> Option<ServiceMemory> {
        let stack = self
            .stacks
            .iter()
            .find(|s| s.spec().services.iter().any(|svc| svc.name == service))?;
        self.store.memory_of(stack.name(), service)
    }

    /// Every decision the controller saved: (simulated second, service, decision).
    pub fn decisions(&self) -> Vec<(u64, String, DecisionRecord)> {
        self.store
            .decision_log()
            .into_iter()
            .map(|(service, d)| (self.cloud.sim_s(d.at), service, d))
            .collect()
    }

    /// The decisions of one kind, oldest first: (simulated second, reason).
    pub fn decisions_of(&self, kind: DecisionKind) -> Vec<(u64, String)> {
        self.decisions()
            .into_iter()
            .filter(|(_, _, d)| d.kind == kind)
            .map(|(t, _, d)| (t, d.reason))
            .collect()
    }

    /// The totals so far.
    pub fn summary(&self) -> Summary {
        let api_calls: BTreeMap<String, BTreeMap<Outcome, u64>> = self
            .cloud
            .with(|s| s.api().counts())
            .into_iter()
            .map(|(op, outcomes)| (op.to_owned(), outcomes))
            .collect();
        let throttled_calls = api_calls
            .values()
            .filter_map(|o| o.get(&Outcome::Throttled))
            .sum();
        let mut actions: Vec<ScalingAction> = self
            .baseline
            .actions
            .iter()
            .cloned()
            .chain(
                self.decisions()
                    .into_iter()
                    .filter_map(|(t, service, d)| scaling_action(t, service, &d)),
            )
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
            duration_seconds: self.t,
            scaler: self.scaler.name(),
            services,
            api_calls,
            throttled_calls,
            failed_tasks: self.cloud.with(|s| s.failed_task_count()),
            actions,
            reconcile_errors: self.metrics.reconciles.with_label_values(&["error"]).get(),
        }
    }
}

/// The stack with a new image for `service`'s first essential container, validated again.
fn with_image(stack: &Stack, service: &str, image: &str) -> Result<Stack, SimulationError> {
    let mut manifest = stack.manifest().clone();
    if let Some(container) = manifest
        .spec
        .services
        .iter_mut()
        .find(|s| s.name == service)
        .and_then(|s| {
            std::sync::Arc::make_mut(&mut s.task_definition)
                .containers
                .iter_mut()
                .find(|c| c.essential)
        })
    {
        container.image = image.to_owned();
    }
    crate::manifest::validate(&manifest).map_err(|issues| {
        SimulationError::Store(crate::store::StoreError::Conflict {
            message: format!(
                "the scheduled image `{image}` makes stack `{}` invalid: {}",
                stack.name(),
                issues
                    .first()
                    .map(|i| format!("{}: {}", i.path, i.message))
                    .unwrap_or_default()
            ),
        })
    })
}

/// A scale-out or scale-in decision as a scaling action: its reason starts `FROM -> TO:`.
fn scaling_action(t: u64, service: String, d: &DecisionRecord) -> Option<ScalingAction> {
    if !matches!(d.kind, DecisionKind::ScaleOut | DecisionKind::ScaleIn) {
        return None;
    }
    let (counts, reason) = d.reason.split_once(": ")?;
    let (from, to) = counts.split_once(" -> ")?;
    Some(ScalingAction {
        t_seconds: t,
        service,
        from: from.trim().parse().ok()?,
        to: to.trim().parse().ok()?,
        reason: reason.to_owned(),
    })
}

/// Creates, in the simulated account, the target groups the stacks declare (with their health
/// checks), the ones their services are attached to (with ELBv2's defaults) and the CloudWatch
/// alarms their deployments name (in OK): in a real account they exist before tugboat runs
/// (CloudFormation, say). One load balancer per stack, named after it.
pub fn provide_infrastructure(sim: &mut Sim, stacks: &[Stack]) {
    for stack in stacks {
        for service in &stack.spec().services {
            for alarm in &service.deployment.alarms {
                sim.put_alarm(alarm);
            }
        }
        if let Some(capacity) = &stack.spec().capacity {
            sim.name_group(
                &stack.spec().cluster,
                crate::controller::capacity::group_name(capacity),
            );
        }
        for group in &stack.spec().target_groups {
            sim.create_target_group(
                &group.name,
                stack.name(),
                Some(health_settings(&group.health_check)),
            );
            if let Some(seconds) = group.deregistration_delay_seconds {
                sim.set_deregistration_delay(&group.name, seconds);
            }
        }
        for service in &stack.spec().services {
            for lb in &service.load_balancers {
                sim.create_target_group(&lb.target_group, stack.name(), None);
            }
        }
    }
}

/// Registers every service's task definition and creates it, as a team's templates would (with
/// 20-second CPU for those that scale on CPU, when `fine_cpu`).
async fn create_services(
    cloud: &SimCloud,
    stacks: &[Stack],
    fine_cpu: bool,
) -> Result<(), CloudError> {
    for stack in stacks {
        for service in &stack.spec().services {
            let definition = render(service, None);
            let registered =
                retrying(cloud, || cloud.register_task_definition(definition.clone())).await?;
            let input = baseline::create_input(
                &stack.spec().cluster,
                service,
                registered.id,
                fine_cpu,
                stack.spec().capacity.as_ref(),
            );
            retrying(cloud, || cloud.create_service(input.clone())).await?;
        }
    }
    Ok(())
}

/// Calls `op` until it succeeds, one simulated second after each retryable failure.
async fn retrying<T, F: Future<Output = Result<T, CloudError>>>(
    cloud: &SimCloud,
    mut op: impl FnMut() -> F,
) -> Result<T, CloudError> {
    let mut attempt = 0;
    loop {
        match op().await {
            Err(e) if e.is_retryable() && attempt < SETUP_ATTEMPTS => {
                attempt += 1;
                cloud.clock().sleep_ms(1000).await;
            }
            other => return other,
        }
    }
}

impl Drop for Simulation {
    fn drop(&mut self) {
        self.kill_controller();
    }
}

/// The type of the cloud the harness gives its daemon: the simulated account with the
/// controller's usual layers.
pub type ControllerCloud = Layered<Layers, SimCloud>;
