//! The simulated API front door: throttling, injected faults, and a record of every call.
//!
//! Throttling follows the documented token buckets (aws-facts.md, "ECS API throttling"): one bucket
//! per category per account and Region, capacity = burst, refilled continuously at the sustained rate.
//! ELBv2 has one account-wide bucket for all its actions (40 burst, 10/s); CloudWatch GetMetricData
//! allows 50 TPS.

use std::collections::BTreeMap;

use serde::Serialize;

use super::rng::Rng;
use super::world::ApiBehaviour;
use crate::cloud::Operation;

pub use crate::cloud::limits::Category;

/// Calls kept in the log (counts are kept for every call): a long-running simulated account
/// does not grow without bound.
pub const CALLS_KEPT: usize = 20_000;

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    /// Answered.
    Ok,
    /// ThrottlingException.
    Throttled,
    /// An injected server error (HTTP 5xx).
    ServerError,
    /// A client error (validation, not found).
    ClientError,
}

/// One recorded call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiCall {
    /// The operation.
    pub operation: Operation,
    /// What it was about: `cluster/service`, a target group, a family, or empty.
    pub target: String,
    /// Simulated milliseconds since the start.
    pub at_ms: u64,
    /// How it ended.
    pub outcome: Outcome,
}

/// A token bucket in simulated time.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
struct Bucket {
    tokens: f64,
    updated_ms: u64,
}

/// Buckets, faults and the call log.
#[derive(Debug, Serialize, serde::Deserialize)]
pub struct ApiFront {
    /// The fault settings.
    behaviour: ApiBehaviour,
    /// One bucket per category, created full on first use.
    #[serde(with = "super::pairs")]
    buckets: BTreeMap<Category, Bucket>,
    /// Its own random stream, so faults do not shift the rest of the world's randomness.
    rng: Rng,
    /// The most recent calls (at most [`CALLS_KEPT`]), in order; not saved.
    #[serde(skip)]
    pub calls: std::collections::VecDeque<ApiCall>,
    /// Calls by operation and outcome, since the start.
    #[serde(with = "super::pairs")]
    counts: BTreeMap<Operation, BTreeMap<Outcome, u64>>,
}

impl ApiFront {
    /// A front door with these faults and this seed.
    pub fn new(behaviour: ApiBehaviour, seed: u64) -> Self {
        Self {
            behaviour,
            buckets: BTreeMap::new(),
            rng: Rng::new(seed ^ 0xA11C_E5ED),
            calls: std::collections::VecDeque::new(),
            counts: BTreeMap::new(),
        }
    }

    /// Admits or refuses a call at `now_ms`, and records it. A client error found later by the
    /// operation itself is recorded with [`ApiFront::reject`].
    pub fn admit(&mut self, operation: Operation, now_ms: u64) -> Outcome {
        let category = operation.category();
        let (burst, refill) = category.bucket();
        let throttled_by_bucket = self.behaviour.throttling && {
            let bucket = self.buckets.entry(category).or_insert(Bucket {
                tokens: burst,
                updated_ms: now_ms,
            });
            let elapsed = now_ms.saturating_sub(bucket.updated_ms) as f64 / 1000.0;
            bucket.tokens = (bucket.tokens + elapsed * refill).min(burst);
            bucket.updated_ms = now_ms;
            if bucket.tokens >= 1.0 {
                bucket.tokens -= 1.0;
                false
            } else {
                true
            }
        };
        let error_rate = self
            .behaviour
            .error_rates
            .get(operation.name())
            .copied()
            .unwrap_or(self.behaviour.error_rate);
        let outcome = if throttled_by_bucket || self.rng.chance(self.behaviour.throttle_rate) {
            Outcome::Throttled
        } else if self.rng.chance(error_rate) {
            Outcome::ServerError
        } else {
            Outcome::Ok
        };
        if self.calls.len() >= CALLS_KEPT {
            self.calls.pop_front();
        }
        self.calls.push_back(ApiCall {
            operation,
            target: String::new(),
            at_ms: now_ms,
            outcome,
        });
        *self
            .counts
            .entry(operation)
            .or_default()
            .entry(outcome)
            .or_default() += 1;
        outcome
    }

    /// Turns the per-category token buckets on or off.
    pub fn set_throttling(&mut self, on: bool) {
        self.behaviour.throttling = on;
    }

    /// Names what the last admitted call was about, for the call log.
    pub fn about(&mut self, target: String) {
        if let Some(last) = self.calls.back_mut() {
            last.target = target;
        }
    }

    /// Marks the last admitted call as refused by the operation (validation, not found).
    pub fn reject(&mut self) {
        if let Some(last) = self.calls.back_mut() {
            if let Some(count) = self
                .counts
                .get_mut(&last.operation)
                .and_then(|c| c.get_mut(&last.outcome))
            {
                *count = count.saturating_sub(1);
            }
            last.outcome = Outcome::ClientError;
            *self
                .counts
                .entry(last.operation)
                .or_default()
                .entry(Outcome::ClientError)
                .or_default() += 1;
        }
    }

    /// Simulated milliseconds a call of `operation` takes: the caller waits this long for the answer.
    pub fn latency_ms(&self, operation: Operation) -> u64 {
        self.behaviour
            .latencies_ms
            .get(operation.name())
            .copied()
            .unwrap_or(self.behaviour.latency_ms)
    }

    /// The latency of the last call made.
    pub fn last_latency_ms(&self) -> u64 {
        self.calls
            .back()
            .map_or(0, |c| self.latency_ms(c.operation))
    }

    /// Seconds a describe may lag behind an update.
    pub fn consistency_delay_ms(&self) -> u64 {
        self.behaviour.consistency_delay_seconds * 1000
    }

    /// Calls by operation and outcome since the start, for summaries.
    pub fn counts(&self) -> BTreeMap<&'static str, BTreeMap<Outcome, u64>> {
        self.counts
            .iter()
            .map(|(op, outcomes)| (op.name(), outcomes.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn front() -> ApiFront {
        ApiFront::new(ApiBehaviour::default(), 1)
    }

    /// aws-facts.md: service modify bucket, 50 burst and 5 per second.
    #[test]
    fn update_service_bucket_allows_a_burst_of_50_then_5_per_second() {
        let mut api = front();
        let burst = (0..60)
            .filter(|_| api.admit(Operation::UpdateService, 0) == Outcome::Ok)
            .count();
        assert_eq!(burst, 50);
        // One second later: five more tokens.
        let refilled = (0..20)
            .filter(|_| api.admit(Operation::UpdateService, 1000) == Outcome::Ok)
            .count();
        assert_eq!(refilled, 5);
    }

    /// aws-facts.md: RegisterTaskDefinition, 20 burst and 1 per second.
    #[test]
    fn register_task_definition_refills_one_per_second() {
        let mut api = front();
        assert_eq!(
            (0..25)
                .filter(|_| api.admit(Operation::RegisterTaskDefinition, 0) == Outcome::Ok)
                .count(),
            20
        );
        assert_eq!(
            api.admit(Operation::RegisterTaskDefinition, 500),
            Outcome::Throttled
        );
        assert_eq!(
            api.admit(Operation::RegisterTaskDefinition, 1000),
            Outcome::Ok
        );
        assert_eq!(
            api.admit(Operation::RegisterTaskDefinition, 1000),
            Outcome::Throttled
        );
    }

    /// aws-facts.md: one ELB bucket for all ELBv2 actions, 40 burst, 10 per second.
    #[test]
    fn elb_actions_share_one_bucket() {
        let mut api = front();
        let ok = (0..30)
            .flat_map(|_| {
                [
                    Operation::DescribeTargetHealth,
                    Operation::ModifyTargetGroup,
                ]
            })
            .filter(|op| api.admit(*op, 0) == Outcome::Ok)
            .count();
        assert_eq!(ok, 40);
        assert_eq!(
            (0..20)
                .filter(|_| api.admit(Operation::DescribeTargetHealth, 1000) == Outcome::Ok)
                .count(),
            10
        );
    }

    #[test]
    fn buckets_never_exceed_their_burst() {
        let mut api = front();
        api.admit(Operation::DescribeServices, 0);
        // An hour idle refills to 100, not more.
        let ok = (0..150)
            .filter(|_| api.admit(Operation::DescribeServices, 3_600_000) == Outcome::Ok)
            .count();
        assert_eq!(ok, 100);
    }

    #[test]
    fn latency_can_be_set_per_operation() {
        let mut behaviour = ApiBehaviour {
            latency_ms: 50,
            ..ApiBehaviour::default()
        };
        behaviour
            .latencies_ms
            .insert("GetMetricData".to_owned(), 400);
        let mut api = ApiFront::new(behaviour, 1);
        assert_eq!(api.latency_ms(Operation::GetMetricData), 400);
        assert_eq!(api.latency_ms(Operation::UpdateService), 50);
        api.admit(Operation::GetMetricData, 0);
        assert_eq!(api.last_latency_ms(), 400);
    }

    #[test]
    fn injected_errors_follow_their_rate() {
        let mut api = ApiFront::new(
            ApiBehaviour {
                throttling: false,
                error_rate: 0.1,
                ..ApiBehaviour::default()
            },
            42,
        );
        let errors = (0..10_000)
            .filter(|i| api.admit(Operation::DescribeServices, *i) == Outcome::ServerError)
            .count();
        assert!((800..1200).contains(&errors), "{errors}");
    }
}
