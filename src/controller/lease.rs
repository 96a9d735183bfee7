//! Leader election: every `tug controller` is a candidate, one holds the lease and acts.
//!
//! On a DynamoDB store the lease is one item, with the semantics of the DynamoDB lock client: it
//! lasts [`LEASE_MS`] and its holder renews it every [`RENEW_EVERY_MS`] with a new record
//! version. A candidate takes over only after the record version it saw stayed unchanged for a
//! whole lease, measured on its own monotonic clock: no clock is ever compared across hosts. A
//! leader that has not renewed within [`RENEW_DEADLINE_MS`] of its last renewal stops acting at
//! once (well before a candidate may take over) and becomes a candidate again; its store writes
//! carry a condition on the record version, so a late one is refused.
//!
//! On a file store the lease is the directory's `controller.lock`, an advisory lock the
//! operating system releases when the process dies: a second controller waits as a candidate
//! and takes over the moment the first one exits.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::cloud::{Clock, CloudError, Layer, Operation};
use crate::controller::metrics::Metrics;
use crate::store::dynamodb::LeaseRecord;
use crate::store::{DynamoDbStore, FileStore, StoreError};

/// How long a lease lasts without a renewal, ms.
pub const LEASE_MS: u64 = 15_000;
/// How often the holder renews it, ms.
pub const RENEW_EVERY_MS: u64 = 5_000;
/// A holder that has not renewed for this long stops acting, ms (below [`LEASE_MS`], so it has
/// stopped before any candidate may take over).
pub const RENEW_DEADLINE_MS: u64 = 10_000;
/// How often a candidate on a file store tries the lock, ms.
const FILE_POLL_MS: u64 = 1_000;
/// How often a candidate reads the lease item, ms: it takes over at most a lease and one of these
/// after the holder's last renewal (one strongly consistent read a second per candidate).
pub const CANDIDATE_POLL_MS: u64 = 1_000;

/// Where this process stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    /// Not holding the lease: observe nothing, act on nothing.
    Candidate,
    /// Holding it, fresh until the instant given (a renewal moves it on).
    Leader {
        /// The record version of the lease as last written by this process.
        record_version: String,
        /// When this process must stop acting unless it renews first.
        fresh_until: Instant,
    },
}

/// The current term, shared by the campaign (which writes it), the daemon's runner and the
/// fencing layer (which read it). Cheap to clone.
#[derive(Debug, Clone)]
pub struct Leadership {
    term: Arc<watch::Sender<Term>>,
}

impl Default for Leadership {
    fn default() -> Self {
        Self {
            term: Arc::new(watch::Sender::new(Term::Candidate)),
        }
    }
}

impl Leadership {
    /// A process that is a candidate.
    pub fn new() -> Self {
        Self::default()
    }

    /// A process that always leads: `tug simulate`, `tug demo`, the scenario tests, where there
    /// is one controller by construction.
    pub fn sole() -> Self {
        let leadership = Self::new();
        leadership.set(Term::Leader {
            record_version: "sole".into(),
            fresh_until: Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600),
        });
        leadership
    }

    fn set(&self, term: Term) {
        self.term.send_replace(term);
    }

    /// Whether this process holds a lease that is still fresh: the test before every mutating
    /// call.
    pub fn is_fresh(&self) -> bool {
        matches!(&*self.term.borrow(), Term::Leader { fresh_until, .. } if Instant::now() < *fresh_until)
    }

    /// Waits until this process holds a fresh lease.
    pub async fn leading(&self) {
        let mut rx = self.term.subscribe();
        while !self.is_fresh() {
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// Resolves as soon as this process stops holding a fresh lease: deposed, a renewal that
    /// did not come in time (even while the renewal call itself hangs), or released.
    pub async fn lost(&self) {
        let mut rx = self.term.subscribe();
        loop {
            let until = match &*rx.borrow_and_update() {
                Term::Leader { fresh_until, .. } => *fresh_until,
                Term::Candidate => return,
            };
            if Instant::now() >= until {
                return;
            }
            tokio::select! {
                () = tokio::time::sleep_until(until) => {}
                changed = rx.changed() => if changed.is_err() { return },
            }
        }
    }
}

/// Where the lease lives.
#[derive(Debug, Clone)]
pub enum Backend {
    /// The DynamoDB store's lease item.
    Table(DynamoDbStore),
    /// The file store's `controller.lock`.
    Directory(FileStore),
}

/// Campaigns for the lease until `stopped`, keeping `leadership` and the `tug_leader` metrics
/// true to what this process holds; on stop, gives the lease up so a candidate takes over at
/// once.
pub async fn campaign(
    backend: Backend,
    holder: String,
    leadership: Leadership,
    metrics: Metrics,
    stopped: watch::Receiver<bool>,
) {
    match backend {
        Backend::Table(table) => campaign_table(table, holder, leadership, metrics, stopped).await,
        Backend::Directory(dir) => {
            campaign_directory(dir, holder, leadership, metrics, stopped).await;
        }
    }
}

fn became(metrics: &Metrics, leader: bool) {
    metrics.leader.set(i64::from(leader));
    metrics.leader_transitions.inc();
}

async fn campaign_directory(
    dir: FileStore,
    holder: String,
    leadership: Leadership,
    metrics: Metrics,
    mut stopped: watch::Receiver<bool>,
) {
    let mut said = false;
    let _lock = loop {
        match dir.lock_controller(&holder) {
            Ok(lock) => break lock,
            Err(StoreError::ControllerRunning { holder: other, .. }) => {
                if !said {
                    tracing::info!(holder = %other, "another controller holds the store's lock: waiting as a candidate");
                    said = true;
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot take the store's controller lock"),
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(FILE_POLL_MS)) => {}
            _ = stopped.wait_for(|s| *s) => return,
        }
    };
    tracing::info!("holding the store's controller lock: this controller acts");
    leadership.set(Term::Leader {
        record_version: "controller.lock".into(),
        fresh_until: Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600),
    });
    became(&metrics, true);
    let _ = stopped.wait_for(|s| *s).await;
    leadership.set(Term::Candidate);
    metrics.leader.set(0);
}

/// This host's wall time, RFC 3339: shown to people as the last renewal, never compared.
fn wall_time() -> String {
    let at = std::time::UNIX_EPOCH + Duration::from_millis(Clock::Wall.now_ms());
    humantime::format_rfc3339_seconds(at).to_string()
}

/// A record version no other renewal anywhere will produce.
fn record_version() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = Clock::Wall.now_ms();
    format!(
        "{:x}-{:x}-{:x}",
        nanos,
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

async fn campaign_table(
    table: DynamoDbStore,
    holder: String,
    leadership: Leadership,
    metrics: Metrics,
    mut stopped: watch::Receiver<bool>,
) {
    // What a candidate saw: the record version and when (on this process's clock) it first saw it.
    let mut seen: Option<(Option<String>, Instant)> = None;
    let mut mine: Option<(String, Instant)> = None;
    // When this process took the lease, for people (`tug get controllers`).
    let mut since = String::new();
    loop {
        let now = Instant::now();
        match &mine {
            None => {
                if let Some(rv) = try_take(&table, &holder, &mut seen, now).await {
                    tracing::info!(record_version = %rv, "took the lease: this controller acts");
                    table.fence(Some(rv.clone()));
                    leadership.set(Term::Leader {
                        record_version: rv.clone(),
                        fresh_until: now + Duration::from_millis(RENEW_DEADLINE_MS),
                    });
                    became(&metrics, true);
                    since = wall_time();
                    mine = Some((rv, now));
                }
            }
            Some((rv, renewed)) => {
                let renewed = *renewed;
                let next = record_version();
                let record = LeaseRecord {
                    holder: holder.clone(),
                    record_version: next.clone(),
                    lease_ms: LEASE_MS,
                    renewed_at: wall_time(),
                    since: since.clone(),
                };
                let left = (renewed + Duration::from_millis(RENEW_DEADLINE_MS))
                    .saturating_duration_since(now);
                // The fence moves to the new version only once it is written: writes in flight
                // meanwhile carry the old one, which holds until the renewal lands. Freshness
                // counts from when the renewal was sent, never from when its answer came back:
                // a candidate may have seen the new version as early as that.
                let sent = Instant::now();
                let outcome =
                    tokio::time::timeout(left, table.write_lease(Some(rv), &record)).await;
                let now = Instant::now();
                match outcome {
                    Ok(Ok(true)) => {
                        table.fence(Some(next.clone()));
                        leadership.set(Term::Leader {
                            record_version: next.clone(),
                            fresh_until: sent + Duration::from_millis(RENEW_DEADLINE_MS),
                        });
                        mine = Some((next, sent));
                    }
                    Ok(Ok(false)) => {
                        tracing::warn!(
                            "the lease was taken by another controller: stopping at once, a candidate again"
                        );
                        step_down(&table, &leadership, &metrics);
                        mine = None;
                        seen = None;
                    }
                    Ok(Err(e)) if now < renewed + Duration::from_millis(RENEW_DEADLINE_MS) => {
                        tracing::warn!(error = %e, "cannot renew the lease; trying again before the deadline");
                    }
                    Ok(Err(_)) | Err(_) => {
                        tracing::warn!(
                            deadline_s = RENEW_DEADLINE_MS / 1000,
                            "could not renew the lease within its deadline: stopping at once, a candidate again"
                        );
                        step_down(&table, &leadership, &metrics);
                        mine = None;
                        seen = None;
                    }
                }
            }
        }
        let wait = match &mine {
            // Renew on the interval, and at once after a failed attempt with time left.
            Some((_, renewed)) => (*renewed + Duration::from_millis(RENEW_EVERY_MS))
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(500)),
            None => Duration::from_millis(CANDIDATE_POLL_MS),
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = stopped.wait_for(|s| *s) => break,
        }
    }
    if let Some((rv, _)) = mine {
        step_down(&table, &leadership, &metrics);
        match table.release_lease(&rv).await {
            Ok(()) => tracing::info!("gave the lease up"),
            Err(e) => {
                tracing::warn!(error = %e, "cannot give the lease up; a candidate takes over when it expires")
            }
        }
    }
}

fn step_down(table: &DynamoDbStore, leadership: &Leadership, metrics: &Metrics) {
    leadership.set(Term::Candidate);
    table.fence(None);
    became(metrics, false);
}

/// A candidate's turn: takes the lease if there is none, or if the version it saw has not moved
/// for a whole lease. Returns the record version written.
async fn try_take(
    table: &DynamoDbStore,
    holder: &str,
    seen: &mut Option<(Option<String>, Instant)>,
    now: Instant,
) -> Option<String> {
    let current = match table.read_lease().await {
        Ok(current) => current,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the lease");
            return None;
        }
    };
    let version = current.as_ref().map(|c| c.record_version.clone());
    let expired = match (&current, &*seen) {
        (None, _) => true,
        (Some(c), Some((v, since))) if *v == version => {
            now.saturating_duration_since(*since) >= Duration::from_millis(c.lease_ms)
        }
        _ => false,
    };
    if !expired {
        if seen.as_ref().is_none_or(|(v, _)| *v != version) {
            if let Some(c) = &current {
                tracing::info!(holder = %c.holder, "another controller holds the lease: waiting as a candidate");
            }
            *seen = Some((version, now));
        }
        return None;
    }
    let rv = record_version();
    let record = LeaseRecord {
        holder: holder.to_owned(),
        record_version: rv.clone(),
        lease_ms: LEASE_MS,
        renewed_at: wall_time(),
        since: wall_time(),
    };
    match table.write_lease(version.as_deref(), &record).await {
        Ok(true) => Some(rv),
        Ok(false) => {
            *seen = None;
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot take the lease");
            None
        }
    }
}

/// The layer that keeps a deposed leader's hands off the account: a mutating call is sent only
/// while this process holds a fresh lease, checked right before it goes out.
#[derive(Debug, Clone)]
pub struct Fence(pub Leadership);

impl Layer for Fence {
    async fn around<T: Send>(
        &self,
        operation: Operation,
        call: impl Future<Output = Result<T, CloudError>> + Send,
    ) -> Result<T, CloudError> {
        if operation.is_mutating() && !self.0.is_fresh() {
            return Err(CloudError::NotLeader { operation });
        }
        call.await
    }
}
