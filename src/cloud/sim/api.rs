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

pub use crate::cloud::limits::Category;

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiCall {
    /// Operation name, as AWS spells it.
    pub operation: &'static str,
    /// Simulated milliseconds since the start.
    pub at_ms: u64,
    /// How it ended.
    pub outcome: Outcome,
}

/// A token bucket in simulated time.
#[derive(Debug, Clone)]
struct Bucket {
    tokens: f64,
    updated_ms: u64,
}

/// Buckets, faults and the call log.
#[derive(Debug)]
pub struct ApiFront {
    /// The fault settings.
    behaviour: ApiBehaviour,
    /// One bucket per category, created full on first use.
    buckets: BTreeMap<Category, Bucket>,
    /// Its own random stream, so faults do not shift the rest of the world's randomness.
    rng: Rng,
    /// Every call, in order.
    pub calls: Vec<ApiCall>,
}

impl ApiFront {
    /// A front door with these faults and this seed.
    pub fn new(behaviour: ApiBehaviour, seed: u64) -> Self {
        Self {
            behaviour,
            buckets: BTreeMap::new(),
            rng: Rng::new(seed ^ 0xA11C_E5ED),
            calls: Vec::new(),
        }
    }

    /// Admits or refuses a call at `now_ms`, and records it. A client error found later by the
    /// operation itself is recorded with [`ApiFront::reject`].
    pub fn admit(&mut self, operation: &'static str, now_ms: u64) -> Outcome {
        let category = Category::of(operation);
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
            .get(operation)
            .copied()
            .unwrap_or(self.behaviour.error_rate);
        let outcome = if throttled_by_bucket || self.rng.chance(self.behaviour.throttle_rate) {
            Outcome::Throttled
        } else if self.rng.chance(error_rate) {
            Outcome::ServerError
        } else {
            Outcome::Ok
        };
        self.calls.push(ApiCall {
            operation,
            at_ms: now_ms,
            outcome,
        });
        outcome
    }

    /// Marks the last admitted call as refused by the operation (validation, not found).
    pub fn reject(&mut self) {
        if let Some(last) = self.calls.last_mut() {
            last.outcome = Outcome::ClientError;
        }
    }

    /// Simulated milliseconds a call of `operation` takes: the caller waits this long for the answer.
    pub fn latency_ms(&self, operation: &str) -> u64 {
        self.behaviour
            .latencies_ms
            .get(operation)
            .copied()
            .unwrap_or(self.behaviour.latency_ms)
    }

    /// The latency of the last call made.
    pub fn last_latency_ms(&self) -> u64 {
        self.calls
            .last()
            .map_or(0, |c| self.latency_ms(c.operation))
    }

    /// Seconds a describe may lag behind an update.
    pub fn consistency_delay_ms(&self) -> u64 {
        self.behaviour.consistency_delay_seconds * 1000
    }

    /// Calls by operation and outcome, for summaries.
    pub fn counts(&self) -> BTreeMap<&'static str, BTreeMap<Outcome, u64>> {
        let mut counts: BTreeMap<&'static str, BTreeMap<Outcome, u64>> = BTreeMap::new();
        for call in &self.calls {
            *counts
                .entry(call.operation)
                .or_default()
                .entry(call.outcome)
                .or_default() += 1;
        }
        counts
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
            .filter(|_| api.admit("UpdateService", 0) == Outcome::Ok)
            .count();
        assert_eq!(burst, 50);
        // One second later: five more tokens.
        let refilled = (0..20)
            .filter(|_| api.admit("UpdateService", 1000) == Outcome::Ok)
            .count();
        assert_eq!(refilled, 5);
    }

    /// aws-facts.md: RegisterTaskDefinition, 20 burst and 1 per second.
    #[test]
    fn register_task_definition_refills_one_per_second() {
        let mut api = front();
        assert_eq!(
            (0..25)
                .filter(|_| api.admit("RegisterTaskDefinition", 0) == Outcome::Ok)
                .count(),
            20
        );
        assert_eq!(api.admit("RegisterTaskDefinition", 500), Outcome::Throttled);
        assert_eq!(api.admit("RegisterTaskDefinition", 1000), Outcome::Ok);
        assert_eq!(
            api.admit("RegisterTaskDefinition", 1000),
            Outcome::Throttled
        );
    }

    /// aws-facts.md: one ELB bucket for all ELBv2 actions, 40 burst, 10 per second.
    #[test]
    fn elb_actions_share_one_bucket() {
        let mut api = front();
        let ok = (0..30)
            .flat_map(|_| ["DescribeTargetHealth", "ModifyTargetGroup"])
            .filter(|op| api.admit(op, 0) == Outcome::Ok)
            .count();
        assert_eq!(ok, 40);
        assert_eq!(
            (0..20)
                .filter(|_| api.admit("DescribeTargetHealth", 1000) == Outcome::Ok)
                .count(),
            10
        );
    }

    #[test]
    fn buckets_never_exceed_their_burst() {
        let mut api = front();
        api.admit("DescribeServices", 0);
        // An hour idle refills to 100, not more.
        let ok = (0..150)
            .filter(|_| api.admit("DescribeServices", 3_600_000) == Outcome::Ok)
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
        assert_eq!(api.latency_ms("GetMetricData"), 400);
        assert_eq!(api.latency_ms("UpdateService"), 50);
        api.admit("GetMetricData", 0);
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
            .filter(|i| api.admit("DescribeServices", *i) == Outcome::ServerError)
            .count();
        assert!((800..1200).contains(&errors), "{errors}");
    }
}
