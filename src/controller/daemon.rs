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
use crate::model::{DecisionRecord, ServiceKey, ServiceMemory, ServiceStatus, Stack};
use crate::plan::DesiredService;
use crate::store::{Store, StoreError};

use super::capacity::{CapacityJob, CapacityOutcome, reconcile_capacity};
use super::error_policy::{ErrorPolicy, Verdict};
use super::metrics::Metrics;
use super::notify;
use super::observe::{Watch, observe};
use super::reconcile::{Reconciled, reconcile};
use super::registry::{Entry, Id, Registry, StackState};
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

/// Default number of services in flight, and so the largest batch observed together: 50 fills
/// five DescribeServices calls of 10 exactly, and is about twelve seconds of ECS's
/// ServiceModify refill at the controller's share (4 per second), the longest a service then waits
/// between its observation and its calls in a mass change.
pub const DEFAULT_WORKERS: usize = 50;
/// While services are in flight, due ones wait until this many can be observed together (one
/// DescribeServices call's worth).
const MIN_BATCH: usize = 10;
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

    /// Back to not ready: a controller that stopped leading has reconciled nothing since, and
    /// is ready again after its next term's first round.
    pub fn reset(&self) {
        self.first_round.store(false, Ordering::Relaxed);
    }

    /// Why not, in words (empty when ready).
    pub fn why_not(&self) -> &'static str {
        if !self.first_round.load(Ordering::Relaxed) {
            "the first round of reconciles is not done yet (or this controller is a candidate)"
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

/// One service handed to a batch: what it is observed and reconciled with.
struct Job {
    id: Id,
    watch: Watch,
    /// The stack generation it is reconciled at.
    generation: u64,
    memory: Arc<ServiceMemory>,
    previous: Option<Arc<ServiceStatus>>,
}

/// What a task of the daemon hands back.
enum TaskOutput {
    /// A batch was observed, then each of its services reconciled (with the generation it acted
    /// on and how long its reconcile took).
    Reconciled(Vec<(Id, u64, Reconciled, Duration)>),
    /// A step of a take-down was made.
    Removed(Id, Result<(Option<DecisionRecord>, bool), CloudError>),
    /// A pass over a cluster's capacity was made.
    Capacity(String, Box<CapacityOutcome>),
}

/// The EC2 capacity the daemon owns for one cluster (a stack's `capacity`): the capacity key.
struct CapacityEntry {
    /// The stack that gives tugboat the group.
    stack: String,
    /// Its `capacity`.
    spec: Arc<crate::manifest::spec::CapacitySpec>,
    /// What the last pass left.
    memory: crate::model::CapacityMemory,
    /// What the last pass saw.
    status: Option<crate::model::CapacityStatus>,
    /// Its failures.
    policy: ErrorPolicy,
    /// The stack's generation.
    generation: u64,
}

/// The loop's state.
struct Loop<S, C> {
    daemon: Daemon<S, C>,
    scheduler: Scheduler<Id>,
    /// What the daemon knows of each service and stack.
    known: Registry,
    tasks: JoinSet<TaskOutput>,
    /// The services each task is working on, to fail them if it panics.
    task_keys: HashMap<tokio::task::Id, Vec<Id>>,
    /// The store revision last read.
    revision: Option<String>,
    /// Stacks whose memory could not be loaded yet: the store is read again at the next watch.
    unloaded: BTreeSet<String>,
    /// Services of the first round not yet reconciled.
    first_round: Option<BTreeSet<Id>>,
    report: Report,
    /// The capacity keys, by cluster.
    capacity: BTreeMap<String, CapacityEntry>,
    /// Their work queue (a pass per cluster at a time, earliest due time wins).
    capacity_queue: Scheduler<String>,
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
            known: Registry::default(),
            tasks: JoinSet::new(),
            task_keys: HashMap::new(),
            revision: None,
            unloaded: BTreeSet::new(),
            first_round: None,
            report: Report::default(),
            capacity: BTreeMap::new(),
            capacity_queue: Scheduler::default(),
        };
        let clock = state.daemon.clock.clone();
        let metrics = state.daemon.metrics.clone();
        state.revision = state.daemon.store.revision().await.ok();
        let stacks = state.daemon.store.list().await?;
        state.refresh(stacks).await;
        state.first_round = Some(state.known.entries().map(|(id, _)| id).collect());
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
            // Due services wait for room (a finishing task wakes the loop): never a spin.
            let next_due = state
                .scheduler
                .next_due()
                .filter(|at| draining.is_none() && (*at > now || state.room_for_a_batch(now)));
            let next_due = [
                next_due,
                state
                    .capacity_queue
                    .next_due()
                    .filter(|_| draining.is_none()),
            ]
            .into_iter()
            .flatten()
            .min();
            let dirty = state.known.stacks.values().any(|s| s.dirty);
            tokio::select! {
                biased;
                joined = state.tasks.join_next_with_id(), if !idle => {
                    state.joined(joined).await;
                    // Everything else that finished too, before dispatching again: freed slots
                    // then fill one batch rather than many small ones.
                    while let Some(more) = state.tasks.try_join_next_with_id() {
                        state.joined(Some(more)).await;
                    }
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
            .known
            .entries()
            .filter(|(_, e)| e.reconciled_generation.is_some())
            .count();
        state.report.failed = state
            .known
            .entries()
            .filter(|(_, e)| e.failing)
            .map(|(_, e)| e.key.clone())
            .collect();
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
            let known = self.known.stacks.get(&name).map(|s| s.generation);
            if known == Some(generation) && !self.unloaded.contains(&name) {
                continue;
            }
            let fresh = known.is_none() || self.unloaded.contains(&name);
            let (mut memories, mut status) = if fresh {
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
            if let Some(old) = self.known.stacks.get(&name) {
                let gone: Vec<ServiceKey> = old
                    .services
                    .iter()
                    .filter(|s| !services.contains(s) || old.cluster != cluster)
                    .map(|s| ServiceKey {
                        cluster: old.cluster.clone(),
                        service: s.clone(),
                    })
                    .collect();
                for key in gone {
                    self.leave(&key, now);
                }
            }
            let written_generation = self
                .known
                .stacks
                .get(&name)
                .and_then(|s| s.written_generation)
                .or(status.as_ref().map(|s| s.observed_generation));
            for desired in DesiredService::of_stack(stack) {
                let key = desired.key();
                let memory = memories.remove(&key.service);
                let previous = status
                    .as_mut()
                    .and_then(|s| s.services.remove(&key.service));
                let id = self.known.entry(&key, || {
                    Entry::new(key.clone(), &name, ServiceMemory::default(), None)
                });
                let Some(entry) = self.known.get_mut(id) else {
                    continue;
                };
                if fresh {
                    if let Some(m) = memory {
                        entry.memory = Arc::new(m);
                    }
                    if let Some(p) = previous {
                        entry.status = Some(Arc::new(p));
                    }
                }
                entry.stack.clone_from(&name);
                entry.generation = generation;
                entry.desired = Some(Arc::new(desired));
                // Applied again: a pending take-down of it is void.
                entry.removal = None;
                entry.policy.generation_changed(generation);
                self.scheduler.schedule(id, now);
            }
            self.keep_capacity(stack, generation, now);
            self.known.stacks.insert(
                name,
                StackState {
                    generation,
                    services,
                    cluster,
                    written_generation,
                    dirty: true,
                },
            );
        }
        // Stacks deleted from the store: their services leave; their status goes.
        let deleted: Vec<String> = self
            .known
            .stacks
            .keys()
            .filter(|n| !present.contains(*n))
            .cloned()
            .collect();
        for name in deleted {
            self.drop_capacity(&name, None);
            if let Some(old) = self.known.stacks.remove(&name) {
                for service in old.services {
                    let key = ServiceKey {
                        cluster: old.cluster.clone(),
                        service,
                    };
                    self.leave(&key, now);
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
                    let id = self.known.entry(&key, || {
                        Entry::new(key.clone(), &removal.stack, ServiceMemory::default(), None)
                    });
                    if let Some(entry) = self.known.get_mut(id)
                        && entry.desired.is_none()
                        && entry.removal.as_ref() != Some(&removal)
                    {
                        entry.removal = Some(removal);
                        self.scheduler.schedule(id, now);
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the services to take down"),
        }
    }

    /// The capacity key of `stack`'s cluster, if it has `capacity`: (re)read, due now; one it
    /// had elsewhere, or no longer has, goes.
    fn keep_capacity(&mut self, stack: &Stack, generation: u64, now: u64) {
        let name = stack.name();
        let cluster = &stack.spec().cluster;
        let Some(spec) = &stack.spec().capacity else {
            self.drop_capacity(name, None);
            return;
        };
        self.drop_capacity(name, Some(cluster));
        let entry = self
            .capacity
            .entry(cluster.clone())
            .or_insert_with(|| CapacityEntry {
                stack: name.to_owned(),
                spec: Arc::new(spec.clone()),
                memory: crate::model::CapacityMemory::default(),
                status: None,
                policy: ErrorPolicy::default(),
                generation,
            });
        if entry.stack != name {
            tracing::warn!(cluster = %cluster, stack = %name, other = %entry.stack, "two stacks give tugboat the capacity of one cluster; the last applied is followed");
            entry.stack = name.to_owned();
        }
        entry.spec = Arc::new(spec.clone());
        entry.generation = generation;
        entry.policy.generation_changed(generation);
        self.capacity_queue.schedule(cluster.clone(), now);
    }

    /// Forgets the capacity keys of `stack`, but for the one of cluster `except`.
    fn drop_capacity(&mut self, stack: &str, except: Option<&str>) {
        let gone: Vec<String> = self
            .capacity
            .iter()
            .filter(|(c, e)| e.stack == stack && Some(c.as_str()) != except)
            .map(|(c, _)| c.clone())
            .collect();
        for cluster in gone {
            self.capacity.remove(&cluster);
            self.capacity_queue.cancel(&cluster);
            self.daemon.metrics.forget_cluster(&cluster);
        }
    }

    /// Starts the passes over the clusters' capacity that are due.
    fn dispatch_capacity(&mut self, now: u64) {
        for (cluster, _) in self.capacity_queue.pop_due(now, usize::MAX) {
            let Some(entry) = self.capacity.get(&cluster) else {
                self.capacity_queue.finish(&cluster);
                continue;
            };
            if let Some(at) = entry.policy.not_before(now) {
                self.capacity_queue.finish(&cluster);
                self.capacity_queue.schedule(cluster, at);
                continue;
            }
            let job = self.capacity_job(&cluster, entry);
            let daemon = self.daemon.clone();
            self.tasks.spawn(async move {
                let outcome = reconcile_capacity(&daemon.cloud, job, daemon.clock.now_s()).await;
                TaskOutput::Capacity(cluster, Box::new(outcome))
            });
        }
    }

    /// What the services on `cluster` ask of it, from what the daemon knows of each: the count
    /// the controller keeps (or the manifest's, for one not created yet), the count it holds back
    /// for room, and a deployment's surge while one is in progress or about to start.
    fn capacity_job(&self, cluster: &str, entry: &CapacityEntry) -> CapacityJob {
        use crate::plan::capacity::ServiceDemand;
        let mut demands = Vec::new();
        let mut waiting = BTreeMap::new();
        let mut managed = BTreeSet::new();
        for (_, e) in self.known.entries() {
            let Some(desired) = &e.desired else { continue };
            if e.key.cluster != cluster {
                continue;
            }
            managed.insert(e.key.service.clone());
            if desired.spec.launch() == crate::manifest::spec::LaunchType::Fargate {
                continue;
            }
            let memory = &e.memory;
            let live = e.status.as_ref().and_then(|s| s.live.as_ref());
            let kept = memory.desired_count.unwrap_or_else(|| {
                crate::plan::service::initial_count(&desired.spec, live.map(|l| l.desired_count))
            });
            let wanted = memory.waiting_for_room.unwrap_or(0);
            // Against what ECS has been asked for (nothing, for a service not created yet).
            let asked = memory.desired_count.unwrap_or(0);
            if wanted > asked {
                waiting.insert(e.key.service.clone(), wanted - asked);
            }
            let tasks = kept.max(wanted).max(live.map_or(0, |l| l.desired_count));
            let deploying = match &memory.rollout {
                Some(r) => r.completed_at.is_none() || r.target.digest != desired.digest,
                None => memory
                    .verified_good
                    .as_ref()
                    .is_none_or(|g| g.digest != desired.digest),
            };
            demands.push(ServiceDemand::of(&desired.spec, tasks, deploying));
        }
        CapacityJob {
            cluster: cluster.to_owned(),
            stack: entry.stack.clone(),
            spec: entry.spec.clone(),
            demands,
            waiting,
            managed,
            memory: entry.memory.clone(),
        }
    }

    /// A pass over a cluster's capacity ended: its decisions logged and counted, its status kept,
    /// its next pass scheduled; services waiting for room are due now once more instances are
    /// ACTIVE.
    fn capacity_done(&mut self, cluster: String, outcome: CapacityOutcome) {
        let now = self.daemon.clock.now_ms();
        self.capacity_queue.finish(&cluster);
        let metrics = self.daemon.metrics.clone();
        let Some(entry) = self.capacity.get_mut(&cluster) else {
            return;
        };
        for d in outcome
            .memory
            .decisions
            .iter()
            .filter(|d| !entry.memory.decisions.contains(d))
        {
            metrics.count_capacity(d);
            tracing::info!(cluster = %cluster, kind = ?d.kind, label = d.field.as_deref().unwrap_or(""), reason = %d.reason, "capacity decision");
        }
        let more_active = outcome.memory.active > entry.memory.active;
        entry.memory = outcome.memory;
        if let Some(seen) = &outcome.status {
            metrics.capacity_gauges(seen);
        }
        let mut status = outcome
            .status
            .or_else(|| entry.status.clone())
            .unwrap_or_else(|| crate::model::CapacityStatus {
                cluster: cluster.clone(),
                ..crate::model::CapacityStatus::default()
            });
        status.error = outcome.error.as_ref().map(ToString::to_string);
        status.decisions = entry.memory.decisions.iter().cloned().collect();
        // Written when it changed, and at least every minute (its time says how fresh it is). The
        // entry keeps the status last marked for writing, so a pass that changed nothing within
        // the minute leaves the minute counting from that one, not from itself.
        let changed = entry.status.as_ref().is_none_or(|old| {
            let mut same = old.clone();
            same.observed_at = status.observed_at;
            same != status || status.observed_at >= old.observed_at + 60
        });
        if changed {
            entry.status = Some(status);
        }
        let stack = entry.stack.clone();
        let resync = self.daemon.config.resync_ms;
        match &outcome.error {
            None => {
                entry.policy.succeeded(now);
                let next = match outcome.requeue_after {
                    Some(s) if s.saturating_mul(1000) < resync => now + s * 1000,
                    _ => now + resync,
                };
                self.capacity_queue.schedule(cluster.clone(), next);
            }
            Some(e) => {
                let (ms, parked) = match entry.policy.failed(e, &cluster, entry.generation, now) {
                    Verdict::RetryAfter(ms) => (ms, false),
                    Verdict::Parked(ms) => (ms, true),
                };
                tracing::warn!(cluster = %cluster, error = %e, retry_in_ms = ms, parked, "a capacity pass failed");
                self.capacity_queue.schedule(cluster.clone(), now + ms);
            }
        }
        if changed {
            self.known.touch(&stack);
        }
        // More room: the services of the cluster (any may hold a count or a rollout for it) are
        // looked at now.
        if more_active {
            let waiting: Vec<Id> = self
                .known
                .entries()
                .filter(|(_, e)| e.key.cluster == cluster && e.desired.is_some())
                .map(|(id, _)| id)
                .collect();
            for id in waiting {
                self.scheduler.schedule(id, now);
            }
        }
    }

    /// A service left the desired state: due now, to be taken down or forgotten.
    fn leave(&mut self, key: &ServiceKey, now: u64) {
        if let Some(id) = self.known.id(key)
            && let Some(entry) = self.known.get_mut(id)
        {
            entry.desired = None;
            self.scheduler.schedule(id, now);
        }
    }

    /// Hands the services that are due to workers: batches observed together then reconciled each
    /// on its own, and take-down steps. While
    /// other services are in flight, it waits for room for a useful batch (a DescribeServices
    /// call's worth) rather than observing services one by one as slots free up.
    fn dispatch(&mut self, now: u64) {
        self.dispatch_capacity(now);
        if !self.room_for_a_batch(now) {
            return;
        }
        let free = self
            .daemon
            .config
            .workers
            .saturating_sub(self.scheduler.running());
        let mut batch: Vec<Job> = Vec::new();
        for (id, due) in self.scheduler.pop_due(now, free) {
            self.daemon
                .metrics
                .queue_latency_seconds
                .observe(now.saturating_sub(due) as f64 / 1000.0);
            let Some(entry) = self.known.get(id) else {
                self.scheduler.finish(&id);
                continue;
            };
            if let Some(at) = entry.policy.not_before(now) {
                self.scheduler.finish(&id);
                self.scheduler.schedule(id, at);
                continue;
            }
            match (&entry.desired, &entry.removal) {
                (Some(desired), _) => batch.push(Job {
                    id,
                    watch: Watch::new(desired.clone(), &entry.memory, now / 1000),
                    generation: entry.generation,
                    memory: entry.memory.clone(),
                    previous: entry.status.clone(),
                }),
                (None, Some(removal)) => {
                    let (daemon, removal, k) =
                        (self.daemon.clone(), removal.clone(), entry.key.clone());
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
                        TaskOutput::Removed(id, result)
                    });
                    self.task_keys.insert(handle.id(), vec![id]);
                }
                (None, None) => self.forget(id),
            }
        }
        if batch.is_empty() {
            return;
        }
        let ids: Vec<Id> = batch.iter().map(|j| j.id).collect();
        let daemon = self.daemon.clone();
        let handle = self.tasks.spawn(async move {
            let watches: Vec<Watch> = batch.iter().map(|j| j.watch.clone()).collect();
            let observed = observe(&daemon.cloud, &watches, daemon.clock.now_s()).await;
            // Each service on its own from here: its calls, its memory saved right after them.
            let reconciles = batch.into_iter().zip(observed).map(|(job, observed)| {
                let daemon = &daemon;
                async move {
                    let start = tokio::time::Instant::now();
                    let result = reconcile(
                        &daemon.cloud,
                        &daemon.store,
                        &job.watch.desired,
                        observed,
                        &job.memory,
                        job.previous.as_deref(),
                        daemon.clock.now_s(),
                    )
                    .await;
                    (job.id, job.generation, result, start.elapsed())
                }
            });
            TaskOutput::Reconciled(join_all(reconciles.collect()).await)
        });
        self.task_keys.insert(handle.id(), ids);
    }

    /// Whether due services may be handed out now: a slot is free, and either nothing is in
    /// flight or there is room for a batch worth observing together.
    fn room_for_a_batch(&self, now: u64) -> bool {
        let free = self
            .daemon
            .config
            .workers
            .saturating_sub(self.scheduler.running());
        let worth = self.scheduler.due_count(now, MIN_BATCH).max(1);
        free > 0 && (self.scheduler.running() == 0 || free >= worth)
    }

    /// A service no longer in the store and with nothing left to take down: forgotten.
    fn forget(&mut self, id: Id) {
        self.scheduler.finish(&id);
        self.scheduler.cancel(&id);
        if let Some(entry) = self.known.remove(id) {
            self.daemon.metrics.forget_service(&entry.key.service);
            self.known.touch(&entry.stack);
        }
        self.done_first(id);
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
                    TaskOutput::Reconciled(results) => {
                        for (id, generation, reconciled, took) in results {
                            self.reconciled(id, generation, reconciled, took);
                        }
                    }
                    TaskOutput::Removed(id, result) => self.removed(id, result),
                    TaskOutput::Capacity(cluster, outcome) => {
                        self.capacity_done(cluster, *outcome);
                    }
                }
            }
            Err(e) => {
                let ids = self.task_keys.remove(&e.id()).unwrap_or_default();
                tracing::error!(error = %e, services = ids.len(), "a reconcile task failed; retrying its services with backoff");
                let error = CloudError::Server {
                    operation: Operation::DescribeServices,
                    message: format!("internal error: {e}"),
                };
                let now = self.daemon.clock.now_ms();
                for id in ids {
                    self.scheduler.finish(&id);
                    self.failed(id, &error, now);
                }
            }
        }
    }

    /// A service was reconciled: remember, report, schedule its next look.
    fn reconciled(&mut self, id: Id, generation: u64, r: Reconciled, took: Duration) {
        let now = self.daemon.clock.now_ms();
        let metrics = self.daemon.metrics.clone();
        metrics.reconcile_seconds.observe(took.as_secs_f64());
        self.scheduler.finish(&id);
        let Some(entry) = self.known.get_mut(id) else {
            return;
        };
        log_decisions(&metrics, &entry.key, &entry.memory, &r.memory);
        // What the cluster's capacity is planned from changed: its pass is due now.
        let asks_capacity = (entry.memory.waiting_for_room != r.memory.waiting_for_room
            || entry.memory.desired_count != r.memory.desired_count
            || entry.memory.rollout.is_some() != r.memory.rollout.is_some())
        .then(|| entry.key.cluster.clone());
        if let Some(spec) = entry.desired.as_ref().and_then(|d| d.notifications.clone())
            && !Arc::ptr_eq(&entry.memory.decisions, &r.memory.decisions)
        {
            let messages: Vec<notify::Message> = r
                .memory
                .decisions
                .iter()
                .filter(|d| !entry.memory.decisions.contains(d))
                .filter_map(|d| notify::message(&spec, &entry.stack, &entry.key, d))
                .collect();
            publish(&self.daemon.cloud, messages);
        }
        if let Some(live) = &r.status.live {
            let counts = (live.desired_count, live.running_count, r.healthy);
            if entry.gauges != Some(counts) {
                entry.gauges = Some(counts);
                let gauge = |state: &str, value: u32| {
                    metrics
                        .service_tasks
                        .with_label_values(&[&entry.key.service, state])
                        .set(i64::from(value));
                };
                gauge("desired", counts.0);
                gauge("running", counts.1);
                if let Some(healthy) = counts.2 {
                    gauge("healthy", healthy);
                }
            }
        }
        let changed = entry.status.as_deref() != Some(&r.status);
        if changed {
            entry.status = Some(Arc::new(r.status));
        }
        entry.memory = Arc::new(r.memory);
        let stack = changed.then(|| entry.stack.clone());
        let resync = self.daemon.config.resync_ms;
        match (r.error, r.save_error) {
            (None, Some(save_error)) => {
                // What it did is remembered in this process only: back off and save again.
                metrics.reconciles_error.inc();
                entry.failing = true;
                let delay = match entry.policy.failed_with(true, &entry.key, generation, now) {
                    Verdict::RetryAfter(ms) | Verdict::Parked(ms) => ms,
                };
                tracing::warn!(service = %entry.key, error = %save_error, retry_in_ms = delay, "cannot save the controller's memory; trying again with backoff");
                self.scheduler.schedule(id, now + delay);
            }
            (None, None) => {
                entry.policy.succeeded(now);
                entry.failing = false;
                entry.reconciled_generation = Some(generation);
                metrics.reconciles_ok.inc();
                let next = match r.requeue_after {
                    Some(s) if s.saturating_mul(1000) < resync => now + s * 1000,
                    // The periodic resync, on a grid of its period: services that are steady
                    // fall due at the same moments, and so are observed together.
                    _ => (now + resync) / resync.max(1) * resync.max(1),
                };
                self.scheduler.schedule(id, next);
            }
            (Some(e), _) => self.failed(id, &e, now),
        }
        if let Some(stack) = stack {
            self.known.touch(&stack);
        }
        if let Some(cluster) = asks_capacity
            && self.capacity.contains_key(&cluster)
        {
            self.capacity_queue.schedule(cluster, now);
        }
        self.done_first(id);
    }

    /// Backs off or parks a service whose reconcile failed.
    fn failed(&mut self, id: Id, error: &CloudError, now: u64) {
        self.daemon.metrics.reconciles_error.inc();
        let Some(entry) = self.known.get_mut(id) else {
            return;
        };
        // Calls failing after working ones: tell people once, not at every retry.
        if !entry.failing
            && let Some(spec) = entry.desired.as_ref().and_then(|d| d.notifications.clone())
        {
            let message = notify::calls_failing(
                &spec,
                &entry.stack,
                &entry.key,
                now / 1000,
                &error.to_string(),
            );
            publish(&self.daemon.cloud, message.into_iter().collect());
        }
        entry.failing = true;
        match entry
            .policy
            .failed(error, &entry.key, entry.generation, now)
        {
            Verdict::RetryAfter(ms) => {
                tracing::warn!(service = %entry.key, error = %error, retry_in_ms = ms, "a call failed; backing this service off");
                self.scheduler.schedule(id, now + ms);
            }
            Verdict::Parked(ms) => {
                tracing::warn!(service = %entry.key, error = %error, "a call was refused; this service waits for its stack to change");
                self.scheduler.schedule(id, now + ms);
            }
        }
        self.done_first(id);
    }

    /// A take-down step ended.
    fn removed(&mut self, id: Id, result: Result<(Option<DecisionRecord>, bool), CloudError>) {
        let now = self.daemon.clock.now_ms();
        self.scheduler.finish(&id);
        match result {
            Ok((decision, done)) => {
                let applied_again = self.known.get_mut(id).is_some_and(|entry| {
                    if let Some(d) = &decision {
                        self.daemon.metrics.count(d);
                        log_decision(&entry.key, d);
                    }
                    entry.policy.succeeded(now);
                    entry.failing = false;
                    if done {
                        entry.removal = None;
                    }
                    entry.desired.is_some()
                });
                if done && !applied_again {
                    self.forget(id);
                } else if done {
                    self.scheduler.schedule(id, now);
                    self.done_first(id);
                } else {
                    // Deleting waits for ECS to take the new count.
                    self.scheduler.schedule(id, now + 5_000);
                    self.done_first(id);
                }
            }
            Err(e) => self.failed(id, &e, now),
        }
    }

    /// One service of the first round is done; the last one makes the daemon ready.
    fn done_first(&mut self, id: Id) {
        if let Some(round) = self.first_round.as_mut() {
            round.remove(&id);
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
                services = self.known.len(),
                "first round of reconciles done: ready"
            );
        }
    }

    /// Writes the status of every stack whose services' status changed.
    async fn write_statuses(&mut self) {
        let now = self.daemon.clock.now_s();
        let names: Vec<String> = self
            .known
            .stacks
            .iter()
            .filter(|(_, s)| s.dirty)
            .map(|(n, _)| n.clone())
            .collect();
        for name in names {
            let Some(mut status) = self.known.stack_status(&name, now) else {
                continue;
            };
            status.capacity = self
                .capacity
                .values()
                .find(|e| e.stack == name)
                .and_then(|e| e.status.clone());
            match self.daemon.store.save_status(&name, Some(&status)).await {
                Ok(()) => {
                    if let Some(s) = self.known.stacks.get_mut(&name) {
                        s.written_generation = Some(status.observed_generation);
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

/// Runs every future of `futures` at once, on the task that awaits this (no task per future), and
/// returns their outputs in order.
async fn join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut pending: Vec<Option<std::pin::Pin<Box<F>>>> =
        futures.into_iter().map(|f| Some(Box::pin(f))).collect();
    let mut outputs: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut done = true;
        for (slot, output) in pending.iter_mut().zip(outputs.iter_mut()) {
            if let Some(future) = slot {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => {
                        *output = Some(value);
                        *slot = None;
                    }
                    std::task::Poll::Pending => done = false,
                }
            }
        }
        if done {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

/// Logs and counts the decisions `after` added to `before`.
/// Publishes `messages` in the background, one after the other: a slow or failing topic never
/// holds the loop back. A failure is logged (the decision itself is in the log, the store and
/// `tug events`).
fn publish<C: Cloud + Clone + 'static>(cloud: &C, messages: Vec<notify::Message>) {
    if messages.is_empty() {
        return;
    }
    let cloud = cloud.clone();
    tokio::spawn(async move {
        for m in messages {
            if let Err(e) = cloud.publish(&m.topic, &m.subject, &m.body).await {
                tracing::warn!(topic = %m.topic, subject = %m.subject, error = %e, "cannot publish a notification");
            }
        }
    });
}

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
