//! The daemon: one loop that keeps every service of the store's stacks in place, the same on wall
//! time against AWS and on a virtual clock against the simulator.
//!
//! kube-runtime's shape: the unit of work is one service ([`ServiceKey`]). A [`Scheduler`] keyed
//! by service (earliest due time wins) is fed by each service's own resync, store changes, each
//! plan's `requeue_after` and backoff expiry. At most `workers` services are in flight, and never
//! two reconciles of one service at once. Services due together are observed together (batched
//! reads, [`super::observe`]), then each is reconciled on its own ([`super::reconcile`]): a failed
//! read or call fails only the services it concerns, and each service's memory is saved right
//! after its calls. Retryable errors back a service off, terminal ones park it until its stack
//! changes ([`super::error_policy`]).
//!
//! Level-triggered: a reconcile compares the whole desired state with the whole observed state and
//! never depends on why it was woken; a missed store change is caught by the next resync. The
//! store is watched by its revision (a cheap read) every [`DaemonConfig::watch_ms`].
//!
//! Shutdown: no new work is taken; reconciles in flight get [`DaemonConfig::drain`] (wall time,
//! below ECS's 30 s stopTimeout) to finish and save, then are abandoned; status is written last.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::cloud::{Clock, Cloud, CloudError, Operation};
use crate::model::{
    DecisionRecord, ObservedService, Removal, ServiceKey, ServiceMemory, ServiceStatus, Stack,
    StackStatus,
};
use crate::plan::DesiredService;
use crate::store::{Store, StoreError};

use super::error_policy::{ErrorPolicy, Verdict};
use super::metrics::Metrics;
use super::observe::{Watch, observe};
use super::reconcile::{Reconciled, reconcile};
use super::removal;
use super::scheduler::Scheduler;

/// How the daemon runs.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// Time between two reconciles of a service when nothing asks for one sooner (clock ms).
    pub resync_ms: u64,
    /// Services in flight at once (observing or reconciling).
    pub workers: usize,
    /// Reconcile every service once, then return.
    pub once: bool,
    /// How often the store's revision is read (clock ms).
    pub watch_ms: u64,
    /// How long reconciles in flight may finish after a stop is asked for (wall time).
    pub drain: Duration,
    /// Status is written at most this often per stack (clock ms).
    pub status_ms: u64,
}

/// Default number of services in flight: 20 is about four seconds of ECS's service-modify refill
/// (5 per second), so a service waits at most a few seconds between its observation and its calls
/// in a mass change, and fills DescribeServices' batches of 10 exactly.
pub const DEFAULT_WORKERS: usize = 20;
/// Default drain on shutdown: below ECS's 30 s stopTimeout, with room for the status write.
pub const DEFAULT_DRAIN: Duration = Duration::from_secs(20);

impl Default for DaemonConfig {
    fn default() -> Self {
        Self {
            resync_ms: 30_000,
            workers: DEFAULT_WORKERS,
            once: false,
            watch_ms: 500,
            drain: DEFAULT_DRAIN,
            status_ms: 1_000,
        }
    }
}

/// What stopped the daemon other than a request.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The store could not be read at start.
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// How a run ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Services reconciled at least once.
    pub services: usize,
    /// Services whose last reconcile failed (a call or the observation).
    pub failed: BTreeSet<ServiceKey>,
    /// Reconciles abandoned at shutdown because the drain ran out.
    pub abandoned: usize,
}

/// Whether the daemon is ready: its first round of reconciles is done and the store answers.
#[derive(Debug, Default)]
pub struct Readiness {
    /// The first round is done.
    first_round: AtomicBool,
    /// The last read of the store failed.
    store_failing: AtomicBool,
}

impl Readiness {
    /// Whether `/readyz` should say ready.
    pub fn is_ready(&self) -> bool {
        self.first_round.load(Ordering::Relaxed) && !self.store_failing.load(Ordering::Relaxed)
    }

    /// Why not, in words (empty when ready).
    pub fn why_not(&self) -> &'static str {
        if !self.first_round.load(Ordering::Relaxed) {
            "the first round of reconciles is not done yet"
        } else if self.store_failing.load(Ordering::Relaxed) {
            "the store does not answer"
        } else {
            ""
        }
    }
}

/// What the daemon runs on. Cheap to clone (each part is).
#[derive(Debug, Clone)]
pub struct Daemon<S, C> {
    /// Desired state, memory and status.
    pub store: S,
    /// The cloud, with its layers (rate limit, deadline, metering).
    pub cloud: C,
    /// The controller's clock.
    pub clock: Clock,
    /// Where metrics go.
    pub metrics: Metrics,
    /// Readiness, for `/readyz`.
    pub readiness: Arc<Readiness>,
    /// How it runs.
    pub config: DaemonConfig,
}

/// One service the daemon knows of.
#[derive(Debug, Clone)]
struct Entry {
    /// Its stack.
    stack: String,
    /// The stack's generation when last read.
    generation: u64,
    /// What the manifest wants; `None` once it left the store.
    desired: Option<Arc<DesiredService>>,
    /// The take-down still to do, if it left the store that way.
    removal: Option<Removal>,
    /// What the controller remembers of it.
    memory: ServiceMemory,
    /// Its last status.
    status: Option<ServiceStatus>,
    /// Its failures.
    policy: ErrorPolicy,
    /// The stack generation its last successful reconcile acted on.
    reconciled_generation: Option<u64>,
}

/// One stack the daemon knows of.
#[derive(Debug, Clone, Default)]
struct StackState {
    /// Its generation.
    generation: u64,
    /// Its services, by name.
    services: Vec<String>,
    /// Its cluster.
    cluster: String,
    /// The status last written.
    written: Option<StackStatus>,
    /// A service's status changed since.
    dirty: bool,
}

/// What a task of the daemon hands back.
enum TaskOutput {
    /// A batch was observed.
    Observed(Vec<(ServiceKey, u64, Result<ObservedService, CloudError>)>),
    /// A service was reconciled (with the generation it acted on).
    Reconciled(ServiceKey, u64, Box<Reconciled>, Duration),
    /// A step of a take-down was made.
    Removed(
        ServiceKey,
        Result<(Option<DecisionRecord>, bool), CloudError>,
    ),
}

/// The loop's state.
struct Loop<S, C> {
    daemon: Daemon<S, C>,
    scheduler: Scheduler<ServiceKey>,
    entries: BTreeMap<ServiceKey, Entry>,
    stacks: BTreeMap<String, StackState>,
    tasks: JoinSet<TaskOutput>,
    /// The keys each task is working on, to fail them if it panics.
    task_keys: HashMap<tokio::task::Id, Vec<ServiceKey>>,
    /// The store revision last read.
    revision: Option<String>,
    /// Stacks whose memory could not be loaded yet: the store is read again at the next watch.
    unloaded: BTreeSet<String>,
    /// Services of the first round not yet reconciled.
    first_round: Option<BTreeSet<ServiceKey>>,
    report: Report,
}

impl<S, C> Daemon<S, C>
where
    S: Store + Clone + 'static,
    C: Cloud + Clone + 'static,
{
    /// Runs until `shutdown` turns true (then drains), or after one round with `once`.
    ///
    /// # Errors
    /// Only a store that cannot be read at all at start; later failures are logged, counted and
    /// retried.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) -> Result<Report, DaemonError> {
        let mut state = Loop {
            daemon: self,
            scheduler: Scheduler::default(),
            entries: BTreeMap::new(),
            stacks: BTreeMap::new(),
            tasks: JoinSet::new(),
            task_keys: HashMap::new(),
            revision: None,
            unloaded: BTreeSet::new(),
            first_round: None,
            report: Report::default(),
        };
        let clock = state.daemon.clock.clone();
        let metrics = state.daemon.metrics.clone();
        state.revision = state.daemon.store.revision().await.ok();
        let stacks = state.daemon.store.list().await?;
        state.refresh(stacks).await;
        state.first_round = Some(state.entries.keys().cloned().collect());
        state.check_first_round();
        let config = state.daemon.config.clone();
        let mut next_watch = clock.now_ms() + config.watch_ms;
        let mut next_status = clock.now_ms() + config.status_ms;
        let mut draining: Option<tokio::time::Instant> = None;
        loop {
            let now = clock.now_ms();
            if draining.is_none() {
                state.dispatch(now);
            }
            metrics
                .queue_depth
                .set(i64::try_from(state.scheduler.waiting()).unwrap_or(i64::MAX));
            let idle = state.tasks.is_empty();
            if idle && (draining.is_some() || (config.once && state.first_round.is_none())) {
                break;
            }
            let free = state.scheduler.running() < config.workers;
            let next_due = state
                .scheduler
                .next_due()
                .filter(|_| free && draining.is_none());
            let dirty = state.stacks.values().any(|s| s.dirty);
            tokio::select! {
                biased;
                joined = state.tasks.join_next_with_id(), if !idle => {
                    state.joined(joined).await;
                }
                changed = shutdown.changed(), if draining.is_none() => {
                    if changed.is_err() || *shutdown.borrow() {
                        tracing::info!(in_flight = state.scheduler.running(), "stop requested: finishing what is in flight");
                        draining = Some(tokio::time::Instant::now() + config.drain);
                    }
                }
                () = sleep_until_opt(draining), if draining.is_some() => {
                    let abandoned = state.scheduler.running();
                    tracing::warn!(abandoned, "the drain deadline passed: abandoning the reconciles still in flight");
                    state.report.abandoned = abandoned;
                    state.tasks.abort_all();
                    break;
                }
                () = clock.sleep_until_ms(next_watch) => {
                    next_watch = clock.now_ms() + config.watch_ms;
                    state.watch_store().await;
                }
                () = clock.sleep_until_ms(next_due.unwrap_or(u64::MAX)), if next_due.is_some() => {}
                () = clock.sleep_until_ms(next_status), if dirty => {
                    next_status = clock.now_ms() + config.status_ms;
                    state.write_statuses().await;
                }
            }
        }
        state.tasks.abort_all();
        state.write_statuses().await;
        state.report.services = state
            .entries
            .values()
            .filter(|e| e.reconciled_generation.is_some())
            .count();
        tracing::info!("controller stopped cleanly");
        Ok(state.report)
    }
}

/// Waits until `at`, or forever without one.
async fn sleep_until_opt(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl<S, C> Loop<S, C>
where
    S: Store + Clone + 'static,
    C: Cloud + Clone + 'static,
{
    /// Reads the store's revision; on a change, reads desired state again.
    async fn watch_store(&mut self) {
        match self.daemon.store.revision().await {
            Ok(revision) => {
                self.daemon
                    .readiness
                    .store_failing
                    .store(false, Ordering::Relaxed);
                if self.revision.as_ref() == Some(&revision) && self.unloaded.is_empty() {
                    return;
                }
                match self.daemon.store.list().await {
                    Ok(stacks) => {
                        self.revision = Some(revision);
                        self.refresh(stacks).await;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot read desired state; keeping the services as they are");
                    }
                }
            }
            Err(e) => {
                self.daemon
                    .readiness
                    .store_failing
                    .store(true, Ordering::Relaxed);
                tracing::warn!(error = %e, "the store does not answer");
            }
        }
    }

    /// Brings the known desired state in line with `stacks`: services of new or changed stacks
    /// are due now; services that left are due now too (to be taken down or forgotten).
    async fn refresh(&mut self, stacks: Vec<Stack>) {
        let now = self.daemon.clock.now_ms();
        let store = self.daemon.store.clone();
        let mut present: BTreeSet<String> = BTreeSet::new();
        for stack in &stacks {
            let name = stack.name().to_owned();
            present.insert(name.clone());
            let generation = stack.manifest().metadata.generation.unwrap_or(1);
            let known = self.stacks.get(&name).map(|s| s.generation);
            if known == Some(generation) && !self.unloaded.contains(&name) {
                continue;
            }
            let fresh = known.is_none() || self.unloaded.contains(&name);
            let (memories, status) = if fresh {
                match (
                    store.load_memory(&name).await,
                    store.load_status(&name).await,
                ) {
                    (Ok(m), Ok(s)) => (m, s),
                    (Err(e), _) | (_, Err(e)) => {
                        tracing::warn!(stack = %name, error = %e, "cannot read the controller's memory or status of the stack; trying again shortly");
                        self.unloaded.insert(name);
                        continue;
                    }
                }
            } else {
                (BTreeMap::new(), None)
            };
            self.unloaded.remove(&name);
            let cluster = stack.spec().cluster.clone();
            let services: Vec<String> = stack
                .spec()
                .services
                .iter()
                .map(|s| s.name.clone())
                .collect();
            // Services that left this stack (removed from it, or moved to another cluster).
            if let Some(old) = self.stacks.get(&name) {
                for gone in old
                    .services
                    .iter()
                    .filter(|s| !services.contains(s) || old.cluster != cluster)
                {
                    let key = ServiceKey {
                        cluster: old.cluster.clone(),
                        service: gone.clone(),
                    };
                    if let Some(entry) = self.entries.get_mut(&key) {
                        entry.desired = None;
                        self.scheduler.schedule(key, now);
                    }
                }
            }
            for desired in DesiredService::of_stack(stack) {
                let key = desired.key();
                let memory = memories.get(&key.service).cloned();
                let previous = status
                    .as_ref()
                    .and_then(|s| s.services.get(&key.service))
                    .cloned();
                let entry = self.entries.entry(key.clone()).or_insert_with(|| Entry {
                    stack: name.clone(),
                    generation,
                    desired: None,
                    removal: None,
                    memory: memory.clone().unwrap_or_default(),
                    status: previous.clone(),
                    policy: ErrorPolicy::default(),
                    reconciled_generation: None,
                });
                if fresh {
                    if let Some(m) = memory {
                        entry.memory = m;
                    }
                    if previous.is_some() {
                        entry.status = previous;
                    }
                }
                entry.stack.clone_from(&name);
                entry.generation = generation;
                entry.desired = Some(Arc::new(desired));
                // Applied again: a pending take-down of it is void.
                entry.removal = None;
                entry.policy.generation_changed(generation);
                self.scheduler.schedule(key, now);
            }
            let written = self
                .stacks
                .get(&name)
                .and_then(|s| s.written.clone())
                .or(status);
            self.stacks.insert(
                name,
                StackState {
                    generation,
                    services,
                    cluster,
                    written,
                    dirty: true,
                },
            );
        }
        // Stacks deleted from the store: their services leave; their status goes.
        let deleted: Vec<String> = self
            .stacks
            .keys()
            .filter(|n| !present.contains(*n))
            .cloned()
            .collect();
        for name in deleted {
            if let Some(old) = self.stacks.remove(&name) {
                for service in old.services {
                    let key = ServiceKey {
                        cluster: old.cluster.clone(),
                        service,
                    };
                    if let Some(entry) = self.entries.get_mut(&key) {
                        entry.desired = None;
                        self.scheduler.schedule(key, now);
                    }
                }
            }
            if let Err(e) = store.save_status(&name, None).await {
                tracing::warn!(stack = %name, error = %e, "cannot remove the status of a deleted stack");
            }
        }
        // Take-downs recorded with the change that implied them.
        match store.removals().await {
            Ok(removals) => {
                for removal in removals {
                    let key = ServiceKey {
                        cluster: removal.cluster.clone(),
                        service: removal.service.clone(),
                    };
                    let entry = self.entries.entry(key.clone()).or_insert_with(|| Entry {
                        stack: removal.stack.clone(),
                        generation: 0,
                        desired: None,
                        removal: None,
                        memory: ServiceMemory::default(),
                        status: None,
                        policy: ErrorPolicy::default(),
                        reconciled_generation: None,
                    });
                    if entry.desired.is_none() && entry.removal.as_ref() != Some(&removal) {
                        entry.removal = Some(removal);
                        self.scheduler.schedule(key, now);
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the services to take down"),
        }
    }

    /// Hands the services that are due to workers: observation batches, take-down steps.
    fn dispatch(&mut self, now: u64) {
        let free = self
            .daemon
            .config
            .workers
            .saturating_sub(self.scheduler.running());
        if free == 0 {
            return;
        }
        let mut batch: Vec<(Watch, u64)> = Vec::new();
        for (key, due) in self.scheduler.pop_due(now, free) {
            self.daemon
                .metrics
                .queue_latency_seconds
                .observe(now.saturating_sub(due) as f64 / 1000.0);
            let Some(entry) = self.entries.get(&key) else {
                self.scheduler.finish(&key);
                continue;
            };
            if let Some(at) = entry.policy.not_before(now) {
                self.scheduler.finish(&key);
                self.scheduler.schedule(key, at);
                continue;
            }
            match (&entry.desired, &entry.removal) {
                (Some(desired), _) => batch.push((
                    Watch {
                        key: key.clone(),
                        desired: desired.clone(),
                        rollout_watched: entry.memory.rollout.is_some(),
                    },
                    entry.generation,
                )),
                (None, Some(removal)) => {
                    let (daemon, removal, k) = (self.daemon.clone(), removal.clone(), key.clone());
                    let handle = self.tasks.spawn(async move {
                        let now = daemon.clock.now_s();
                        let result = match removal::step(&daemon.cloud, &removal, now).await {
                            Ok((decision, true)) => match daemon.store.finish_removal(&removal).await {
                                Ok(()) => Ok((decision, true)),
                                Err(e) => {
                                    tracing::warn!(service = %k, error = %e, "cannot record a finished take-down");
                                    Ok((decision, false))
                                }
                            },
                            other => other,
                        };
                        TaskOutput::Removed(k, result)
                    });
                    self.task_keys.insert(handle.id(), vec![key]);
                }
                (None, None) => self.forget(&key),
            }
        }
        if batch.is_empty() {
            return;
        }
        let keys: Vec<ServiceKey> = batch.iter().map(|(w, _)| w.key.clone()).collect();
        let daemon = self.daemon.clone();
        let handle = self.tasks.spawn(async move {
            let now = daemon.clock.now_s();
            let (watches, generations): (Vec<Watch>, Vec<u64>) = batch.into_iter().unzip();
            let observed = observe(&daemon.cloud, &watches, now).await;
            TaskOutput::Observed(
                watches
                    .into_iter()
                    .zip(generations)
                    .zip(observed)
                    .map(|((w, g), o)| (w.key, g, o))
                    .collect(),
            )
        });
        self.task_keys.insert(handle.id(), keys);
    }

    /// A service no longer in the store and with nothing left to take down: forgotten.
    fn forget(&mut self, key: &ServiceKey) {
        self.scheduler.finish(key);
        self.scheduler.cancel(key);
        if let Some(entry) = self.entries.remove(key) {
            self.daemon.metrics.forget_service(&key.service);
            if let Some(stack) = self.stacks.get_mut(&entry.stack) {
                stack.dirty = true;
            }
        }
        self.done_first(key);
    }

    /// A task ended (or panicked, or was aborted).
    async fn joined(
        &mut self,
        joined: Option<Result<(tokio::task::Id, TaskOutput), tokio::task::JoinError>>,
    ) {
        let Some(joined) = joined else { return };
        match joined {
            Ok((id, output)) => {
                self.task_keys.remove(&id);
                match output {
                    TaskOutput::Observed(results) => self.reconcile_observed(results),
                    TaskOutput::Reconciled(key, generation, reconciled, took) => {
                        self.reconciled(&key, generation, *reconciled, took);
                    }
                    TaskOutput::Removed(key, result) => self.removed(&key, result),
                }
            }
            Err(e) => {
                let keys = self.task_keys.remove(&e.id()).unwrap_or_default();
                tracing::error!(error = %e, services = keys.len(), "a reconcile task failed; retrying its services with backoff");
                let error = CloudError::Server {
                    operation: Operation::DescribeServices,
                    message: format!("internal error: {e}"),
                };
                let now = self.daemon.clock.now_ms();
                for key in keys {
                    self.failed(&key, &error, now);
                    self.scheduler.finish(&key);
                }
            }
        }
    }

    /// Starts the reconcile of each service of an observed batch.
    fn reconcile_observed(
        &mut self,
        results: Vec<(ServiceKey, u64, Result<ObservedService, CloudError>)>,
    ) {
        for (key, generation, observed) in results {
            let Some(entry) = self.entries.get(&key) else {
                self.scheduler.finish(&key);
                continue;
            };
            let Some(desired) = entry.desired.clone() else {
                // Left the store while it was being observed: due again, for its take-down.
                self.scheduler.finish(&key);
                self.scheduler.schedule(key, self.daemon.clock.now_ms());
                continue;
            };
            let (daemon, memory, previous, k) = (
                self.daemon.clone(),
                entry.memory.clone(),
                entry.status.clone(),
                key.clone(),
            );
            let handle = self.tasks.spawn(async move {
                let start = tokio::time::Instant::now();
                let now = daemon.clock.now_s();
                let result = reconcile(
                    &daemon.cloud,
                    &daemon.store,
                    &desired,
                    observed,
                    &memory,
                    previous.as_ref(),
                    now,
                )
                .await;
                TaskOutput::Reconciled(k, generation, Box::new(result), start.elapsed())
            });
            self.task_keys.insert(handle.id(), vec![key]);
        }
    }

    /// A service was reconciled: remember, report, schedule its next look.
    fn reconciled(&mut self, key: &ServiceKey, generation: u64, r: Reconciled, took: Duration) {
        let now = self.daemon.clock.now_ms();
        let metrics = self.daemon.metrics.clone();
        metrics.reconcile_seconds.observe(took.as_secs_f64());
        self.scheduler.finish(key);
        let Some(entry) = self.entries.get_mut(key) else {
            return;
        };
        log_decisions(&metrics, key, &entry.memory, &r.memory);
        if let Some(live) = &r.status.live {
            let gauge = |state: &str, value: u32| {
                metrics
                    .service_tasks
                    .with_label_values(&[&key.service, state])
                    .set(i64::from(value));
            };
            gauge("desired", live.desired_count);
            gauge("running", live.running_count);
            if let Some(healthy) = r.healthy {
                gauge("healthy", healthy);
            }
        }
        let save_error = r.save_error.clone();
        if entry.status.as_ref() != Some(&r.status)
            && let Some(stack) = self.stacks.get_mut(&entry.stack)
        {
            stack.dirty = true;
        }
        entry.status = Some(r.status);
        entry.memory = r.memory;
        let resync = self.daemon.config.resync_ms;
        match r.error {
            None if save_error.is_some() => {
                // What it did is remembered in this process only: back off and save again.
                metrics.reconciles.with_label_values(&["error"]).inc();
                self.report.failed.insert(key.clone());
                let delay = match entry.policy.failed_with(true, key, generation, now) {
                    Verdict::RetryAfter(ms) | Verdict::Parked(ms) => ms,
                };
                tracing::warn!(service = %key, error = save_error.as_deref().unwrap_or_default(), retry_in_ms = delay, "cannot save the controller's memory; trying again with backoff");
                self.scheduler.schedule(key.clone(), now + delay);
            }
            None => {
                entry.policy.succeeded(now);
                entry.reconciled_generation = Some(generation);
                self.report.failed.remove(key);
                metrics.reconciles.with_label_values(&["ok"]).inc();
                let next = r
                    .requeue_after
                    .map_or(resync, |s| s.saturating_mul(1000).min(resync));
                self.scheduler.schedule(key.clone(), now + next);
            }
            Some(e) => self.failed(key, &e, now),
        }
        self.done_first(key);
    }

    /// Backs off or parks a service whose reconcile failed.
    fn failed(&mut self, key: &ServiceKey, error: &CloudError, now: u64) {
        self.daemon
            .metrics
            .reconciles
            .with_label_values(&["error"])
            .inc();
        self.report.failed.insert(key.clone());
        let Some(entry) = self.entries.get_mut(key) else {
            return;
        };
        match entry.policy.failed(error, key, entry.generation, now) {
            Verdict::RetryAfter(ms) => {
                tracing::warn!(service = %key, error = %error, retry_in_ms = ms, "a call failed; backing this service off");
                self.scheduler.schedule(key.clone(), now + ms);
            }
            Verdict::Parked(ms) => {
                tracing::warn!(service = %key, error = %error, "a call was refused; this service waits for its stack to change");
                self.scheduler.schedule(key.clone(), now + ms);
            }
        }
        self.done_first(key);
    }

    /// A take-down step ended.
    fn removed(
        &mut self,
        key: &ServiceKey,
        result: Result<(Option<DecisionRecord>, bool), CloudError>,
    ) {
        let now = self.daemon.clock.now_ms();
        self.scheduler.finish(key);
        match result {
            Ok((decision, done)) => {
                if let Some(d) = &decision {
                    self.daemon.metrics.count(d);
                    log_decision(key, d);
                }
                let applied_again = self.entries.get_mut(key).is_some_and(|entry| {
                    entry.policy.succeeded(now);
                    if done {
                        entry.removal = None;
                    }
                    entry.desired.is_some()
                });
                if done && !applied_again {
                    self.forget(key);
                } else if done {
                    self.scheduler.schedule(key.clone(), now);
                    self.done_first(key);
                } else {
                    // Deleting waits for ECS to take the new count.
                    self.scheduler.schedule(key.clone(), now + 5_000);
                    self.done_first(key);
                }
            }
            Err(e) => self.failed(key, &e, now),
        }
    }

    /// One service of the first round is done; the last one makes the daemon ready.
    fn done_first(&mut self, key: &ServiceKey) {
        if let Some(round) = self.first_round.as_mut() {
            round.remove(key);
        }
        self.check_first_round();
    }

    fn check_first_round(&mut self) {
        if self.first_round.as_ref().is_some_and(BTreeSet::is_empty) {
            self.first_round = None;
            self.daemon
                .readiness
                .first_round
                .store(true, Ordering::Relaxed);
            tracing::info!(
                services = self.entries.len(),
                "first round of reconciles done: ready"
            );
        }
    }

    /// Writes the status of every stack whose services' status changed.
    async fn write_statuses(&mut self) {
        let now = self.daemon.clock.now_s();
        let names: Vec<String> = self
            .stacks
            .iter()
            .filter(|(_, s)| s.dirty)
            .map(|(n, _)| n.clone())
            .collect();
        for name in names {
            let Some(stack) = self.stacks.get(&name) else {
                continue;
            };
            let mut services = BTreeMap::new();
            let mut observed_generation = Some(stack.generation);
            for service in &stack.services {
                let key = ServiceKey {
                    cluster: stack.cluster.clone(),
                    service: service.clone(),
                };
                let entry = self.entries.get(&key);
                if let Some(status) = entry.and_then(|e| e.status.clone()) {
                    services.insert(service.clone(), status);
                }
                let reconciled = entry.and_then(|e| e.reconciled_generation);
                observed_generation = observed_generation.zip(reconciled).map(|(a, b)| a.min(b));
            }
            let observed_generation = observed_generation
                .or(stack.written.as_ref().map(|w| w.observed_generation))
                .unwrap_or(0);
            let unchanged = stack.written.as_ref().is_some_and(|w| {
                w.services == services && w.observed_generation == observed_generation
            });
            if unchanged {
                if let Some(s) = self.stacks.get_mut(&name) {
                    s.dirty = false;
                }
                continue;
            }
            let status = StackStatus {
                observed_generation,
                updated_at: now,
                services,
            };
            match self.daemon.store.save_status(&name, Some(&status)).await {
                Ok(()) => {
                    if let Some(s) = self.stacks.get_mut(&name) {
                        s.written = Some(status);
                        s.dirty = false;
                    }
                }
                Err(e) => {
                    tracing::warn!(stack = %name, error = %e, "cannot save the stack's status");
                }
            }
        }
    }
}

/// Logs and counts the decisions `after` added to `before`.
fn log_decisions(
    metrics: &Metrics,
    key: &ServiceKey,
    before: &ServiceMemory,
    after: &ServiceMemory,
) {
    if Arc::ptr_eq(&before.decisions, &after.decisions) {
        return;
    }
    for decision in after
        .decisions
        .iter()
        .filter(|d| !before.decisions.contains(d))
    {
        metrics.count(decision);
        log_decision(key, decision);
    }
}

/// One log line per decision; the label only where there is one.
fn log_decision(key: &ServiceKey, d: &DecisionRecord) {
    match &d.field {
        Some(label) => {
            tracing::info!(service = %key, kind = ?d.kind, label = %label, reason = %d.reason, "decision")
        }
        None => tracing::info!(service = %key, kind = ?d.kind, reason = %d.reason, "decision"),
    }
}
