//! The daemon's loop: read desired state from the store, take down services that left it,
//! reconcile every resync (or at once when the store changes), save memory and status, count and
//! log every decision, stop cleanly on request.
//!
//! Level-triggered: each pass reconciles every service against the whole observed state; a missed
//! store change is caught by the next resync. One pass at a time, so a service is never reconciled
//! twice at once. A service whose actions failed is skipped until its backoff expires (doubling
//! from 1 s to 5 minutes, with jitter); the others go on. Every call goes through a shared rate
//! limit ([`crate::cloud::limiter`]) when the daemon runs on wall time. The store is watched by
//! its revision (a cheap stat), checked every [`WATCH_INTERVAL`], so an apply is acted on within
//! about a second.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};
use std::time::Duration;

use tokio::sync::watch;

use crate::cloud::Cloud;
use crate::cloud::types::{RolloutState, TargetState};
use crate::model::{ServiceKey, ServiceMemory, ServiceStatus, Stack, StackStatus};
use crate::plan::DesiredService;
use crate::store::{Store, StoreError};

use super::metrics::Metrics;
use super::reconcile::{Outcome, reconcile};
use super::removal;
use super::status::service_status;

/// How often the store's revision is checked.
pub const WATCH_INTERVAL: Duration = Duration::from_millis(500);
/// First backoff after a failed action.
const BACKOFF_START_S: u64 = 1;
/// Longest backoff.
const BACKOFF_MAX_S: u64 = 300;

/// How the daemon runs.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// Time between passes when nothing changes.
    pub resync: Duration,
    /// One pass, then return.
    pub once: bool,
}

/// What stopped the daemon other than a request.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The store could not be read at start.
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// Per-key backoff after failures.
#[derive(Debug, Default)]
struct Backoff {
    /// (retry no earlier than, consecutive failures) per service.
    keys: BTreeMap<ServiceKey, (u64, u32)>,
}

impl Backoff {
    fn waiting(&self, key: &ServiceKey, now: u64) -> bool {
        self.keys.get(key).is_some_and(|(until, _)| now < *until)
    }

    /// Records a failure; returns the delay before the next try: "equal jitter", between half the
    /// doubled backoff and all of it, so services that failed together do not retry together.
    fn failed(&mut self, key: &ServiceKey, now: u64) -> u64 {
        let failures = self.keys.get(key).map_or(0, |(_, n)| *n) + 1;
        let base = (BACKOFF_START_S << failures.min(16).saturating_sub(1)).min(BACKOFF_MAX_S);
        let half = base.div_ceil(2);
        let mut hasher = std::hash::DefaultHasher::new();
        (key, failures, now).hash(&mut hasher);
        let delay = half + hasher.finish() % (base - half + 1);
        self.keys.insert(key.clone(), (now + delay, failures));
        delay
    }

    fn succeeded(&mut self, key: &ServiceKey) {
        self.keys.remove(key);
    }
}

/// What the daemon keeps between passes: loaded from the store once per stack, then kept in step
/// with what it writes back.
#[derive(Debug, Default)]
struct State {
    /// Memory of every service, by key.
    memories: BTreeMap<ServiceKey, ServiceMemory>,
    /// Stacks whose memory and status were loaded.
    loaded: BTreeSet<String>,
    /// The last status written per stack.
    statuses: BTreeMap<String, StackStatus>,
    /// Per-service backoff after failed calls.
    backoff: Backoff,
}

/// Runs until `shutdown` turns true (after the pass in progress), or after one pass with `once`.
/// `now` is the controller's clock in seconds (wall time on AWS, virtual time on the simulator).
///
/// # Errors
/// Only a store that cannot be read at all at start; later failures are logged, counted and
/// retried.
pub async fn run<S: Store, C: Cloud>(
    store: &S,
    cloud: &C,
    now: impl Fn() -> u64,
    metrics: &Metrics,
    on_ready: impl Fn(),
    config: &DaemonConfig,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), DaemonError> {
    metrics.leader.set(1);
    store.list().await?;
    let mut state = State::default();
    let mut ready = false;
    loop {
        let revision = store.revision().await.ok();
        pass(store, cloud, &now, metrics, &mut state).await;
        if !ready {
            ready = true;
            on_ready();
        }
        if config.once || *shutdown.borrow() {
            break;
        }
        // Wait for the resync, a store change, or the request to stop.
        let deadline = tokio::time::Instant::now() + config.resync;
        loop {
            let tick = tokio::time::sleep(WATCH_INTERVAL.min(config.resync));
            tokio::select! {
                () = tick => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() || tokio::time::Instant::now() >= deadline {
                break;
            }
            if store.revision().await.ok() != revision {
                tracing::info!("the store changed: reconciling now");
                break;
            }
        }
        if *shutdown.borrow() {
            break;
        }
    }
    metrics.leader.set(0);
    tracing::info!("controller stopped cleanly");
    Ok(())
}

/// One pass: take down removed services, then reconcile every service of every stack.
async fn pass<S: Store, C: Cloud>(
    store: &S,
    cloud: &C,
    now: &impl Fn() -> u64,
    metrics: &Metrics,
    state: &mut State,
) {
    let stacks = match store.list().await {
        Ok(stacks) => stacks,
        Err(e) => {
            metrics.reconciles.with_label_values(&["error"]).inc();
            tracing::warn!(error = %e, "cannot read desired state; keeping the services as they are");
            return;
        }
    };
    forget_deleted(store, &stacks, state).await;
    for stack in &stacks {
        if !state.loaded.contains(stack.name()) {
            load(store, stack, state).await;
        }
    }
    let t = now();
    let mut failed = take_down(store, cloud, &stacks, metrics, state, t).await;
    let desired: Vec<DesiredService> = stacks
        .iter()
        .filter(|s| state.loaded.contains(s.name()))
        .flat_map(DesiredService::of_stack)
        .filter(|d| !state.backoff.waiting(&d.key(), t))
        .collect();
    let timer = metrics.reconcile_seconds.start_timer();
    let result = reconcile(cloud, &desired, &state.memories, t).await;
    timer.observe_duration();
    let outcomes = match result {
        Ok(outcomes) => outcomes,
        Err(e) => {
            metrics.reconciles.with_label_values(&["error"]).inc();
            tracing::warn!(error = %e, retryable = e.is_retryable(), "observing the services failed; retrying at the next pass");
            return;
        }
    };
    let mut services: BTreeMap<String, BTreeMap<String, ServiceStatus>> = BTreeMap::new();
    for (desired, outcome) in desired.iter().zip(outcomes) {
        let previous = state
            .memories
            .get(&outcome.key)
            .cloned()
            .unwrap_or_default();
        record(metrics, &outcome, &previous);
        match &outcome.error {
            Some(e) => {
                failed = true;
                let delay = state.backoff.failed(&outcome.key, t);
                tracing::warn!(service = %outcome.key, error = %e, retry_in_s = delay, "a call failed; backing off this service");
            }
            None => state.backoff.succeeded(&outcome.key),
        }
        if outcome.memory != previous
            && let Err(e) = store
                .save_memory(&outcome.stack, &outcome.key.service, &outcome.memory)
                .await
        {
            tracing::warn!(service = %outcome.key, error = %e, "cannot save the controller's memory");
        }
        let before = state
            .statuses
            .get(&outcome.stack)
            .and_then(|s| s.services.get(&outcome.key.service));
        services.entry(outcome.stack.clone()).or_default().insert(
            outcome.key.service.clone(),
            service_status(desired, &outcome, before, t),
        );
        state.memories.insert(outcome.key, outcome.memory);
    }
    for stack in &stacks {
        if state.loaded.contains(stack.name()) {
            write_status(store, stack, services.remove(stack.name()), state, t).await;
        }
    }
    metrics
        .reconciles
        .with_label_values(&[if failed { "error" } else { "ok" }])
        .inc();
}

/// Loads a stack's memory and status, once.
async fn load<S: Store>(store: &S, stack: &Stack, state: &mut State) {
    let (memory, status) = (
        store.load_memory(stack.name()).await,
        store.load_status(stack.name()).await,
    );
    match (memory, status) {
        (Ok(saved), Ok(status)) => {
            for (service, memory) in saved {
                state.memories.insert(
                    ServiceKey {
                        cluster: stack.spec().cluster.clone(),
                        service,
                    },
                    memory,
                );
            }
            if let Some(status) = status {
                state.statuses.insert(stack.name().to_owned(), status);
            }
            state.loaded.insert(stack.name().to_owned());
        }
        (Err(e), _) | (_, Err(e)) => {
            tracing::warn!(stack = stack.name(), error = %e, "cannot read the controller's memory or status; skipping the stack");
        }
    }
}

/// Drops what the daemon knew of stacks no longer in the store, and their status.
async fn forget_deleted<S: Store>(store: &S, stacks: &[Stack], state: &mut State) {
    let gone: Vec<String> = state
        .loaded
        .iter()
        .filter(|name| !stacks.iter().any(|s| s.name() == name.as_str()))
        .cloned()
        .collect();
    for name in gone {
        if let Err(e) = store.save_status(&name, None).await {
            tracing::warn!(stack = %name, error = %e, "cannot remove the status of a deleted stack");
            continue;
        }
        state.loaded.remove(&name);
        state.statuses.remove(&name);
    }
}

/// Writes a stack's status when it changed (the time of writing aside). Services skipped this
/// pass (backing off) keep their previous status.
async fn write_status<S: Store>(
    store: &S,
    stack: &Stack,
    fresh: Option<BTreeMap<String, ServiceStatus>>,
    state: &mut State,
    t: u64,
) {
    let previous = state.statuses.get(stack.name());
    let mut services = fresh.unwrap_or_default();
    for spec in &stack.spec().services {
        if !services.contains_key(&spec.name)
            && let Some(old) = previous.and_then(|p| p.services.get(&spec.name))
        {
            services.insert(spec.name.clone(), old.clone());
        }
    }
    let observed_generation = stack.manifest().metadata.generation.unwrap_or(1);
    if previous
        .is_some_and(|p| p.services == services && p.observed_generation == observed_generation)
    {
        return;
    }
    let status = StackStatus {
        observed_generation,
        updated_at: t,
        services,
    };
    match store.save_status(stack.name(), Some(&status)).await {
        Ok(()) => {
            state.statuses.insert(stack.name().to_owned(), status);
        }
        Err(e) => {
            tracing::warn!(stack = stack.name(), error = %e, "cannot save the stack's status");
        }
    }
}

/// Takes down services whose stack was deleted or which left a pruned stack: scales them to 0,
/// deletes them under prune, then drops the removal. Returns whether a call failed.
async fn take_down<S: Store, C: Cloud>(
    store: &S,
    cloud: &C,
    stacks: &[Stack],
    metrics: &Metrics,
    state: &mut State,
    t: u64,
) -> bool {
    let removals = match store.removals().await {
        Ok(removals) => removals,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the services to take down");
            return true;
        }
    };
    let mut failed = false;
    for removal in removals {
        let key = ServiceKey {
            cluster: removal.cluster.clone(),
            service: removal.service.clone(),
        };
        // Applied again since (the store drops such removals; this covers a race with an apply).
        if stacks.iter().any(|s| s.services().any(|(k, _)| k == key))
            || state.backoff.waiting(&key, t)
        {
            continue;
        }
        match removal::step(cloud, &removal, t).await {
            Ok((decision, done)) => {
                state.backoff.succeeded(&key);
                if let Some(decision) = decision {
                    metrics.count(&decision);
                    tracing::info!(service = %key, kind = ?decision.kind, label = decision.field.as_deref().unwrap_or(""), reason = %decision.reason, "decision");
                }
                if done {
                    match store.finish_removal(&removal).await {
                        Ok(()) => {
                            state.memories.remove(&key);
                        }
                        Err(e) => {
                            tracing::warn!(service = %key, error = %e, "cannot record a finished removal");
                        }
                    }
                }
            }
            Err(e) => {
                failed = true;
                let delay = state.backoff.failed(&key, t);
                tracing::warn!(service = %key, error = %e, retry_in_s = delay, "taking a removed service down failed; backing off");
            }
        }
    }
    failed
}

/// Logs and counts the decisions an outcome added, and updates the task gauges.
fn record(metrics: &Metrics, outcome: &Outcome, previous: &ServiceMemory) {
    for decision in outcome
        .memory
        .decisions
        .iter()
        .filter(|d| !previous.decisions.contains(d))
    {
        metrics.count(decision);
        tracing::info!(
            service = %outcome.key,
            kind = ?decision.kind,
            label = decision.field.as_deref().unwrap_or(""),
            reason = %decision.reason,
            "decision"
        );
    }
    let Some(service) = &outcome.observed.service else {
        return;
    };
    let name = outcome.key.service.as_str();
    let gauge = |state: &str, value: u32| {
        metrics
            .service_tasks
            .with_label_values(&[name, state])
            .set(i64::from(value));
    };
    gauge("desired", service.desired_count);
    gauge("running", service.running_count);
    // Healthy: from target health where it was read (during rollouts); otherwise from the newest
    // HealthyHostCount of its target groups (the least healthy one); for a service behind no load
    // balancer, a service ECS reports COMPLETED with one deployment has every running task healthy.
    let healthy = match &outcome.observed.targets {
        Some(groups) => groups
            .values()
            .map(|targets| {
                targets
                    .iter()
                    .filter(|t| t.state == TargetState::Healthy)
                    .count()
            })
            .min()
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
        None if !outcome.observed.healthy_hosts.is_empty() => outcome
            .observed
            .healthy_hosts
            .values()
            .copied()
            .reduce(f64::min)
            .map(|n| n.round().max(0.0) as u32),
        None => (service.deployments.len() == 1
            && service.deployments[0].rollout_state == RolloutState::Completed)
            .then_some(service.running_count),
    };
    if let Some(healthy) = healthy {
        gauge("healthy", healthy);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_cap_and_resets() {
        let key = ServiceKey {
            cluster: "c".into(),
            service: "s".into(),
        };
        let mut b = Backoff::default();
        let delays: Vec<u64> = (0..12).map(|_| b.failed(&key, 0)).collect();
        // Each delay lies between half the doubled backoff and all of it, capped at 300 s.
        for (delay, base) in delays
            .iter()
            .zip([1_u64, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300])
        {
            assert!(
                (base.div_ceil(2)..=base).contains(delay),
                "{delay} for {base}"
            );
        }
        // Two services failing at the same moment do not all retry at the same moment.
        let spread: BTreeSet<u64> = (0..20)
            .map(|i| {
                let other = ServiceKey {
                    cluster: "c".into(),
                    service: format!("s{i}"),
                };
                let mut b = Backoff::default();
                (0..6).map(|_| b.failed(&other, 0)).last().unwrap_or(0)
            })
            .collect();
        assert!(spread.len() > 5, "{spread:?}");
        assert!(b.waiting(&key, 10));
        b.succeeded(&key);
        assert!(!b.waiting(&key, 10));
    }
}
