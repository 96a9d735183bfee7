//! What a failed reconcile does to its key (controller-runtime's error policy): a retryable error
//! (throttling, a server error, a timeout) backs the key off, 1 s doubling to 5 minutes with
//! jitter, the count starting over once the key has succeeded for [`QUIET_MS`]; a terminal error
//! (validation, not found, access denied) parks the key until its stack's generation changes. A
//! parked key is still looked at every [`PARK_RECHECK_MS`], as controller-runtime's sync period
//! does, so a fix made in AWS itself (a permission granted, a target group created) is found
//! without an apply. Other keys are not affected either way.

use std::hash::{Hash, Hasher};

use crate::cloud::CloudError;

/// First backoff after a retryable failure, ms.
pub const BACKOFF_START_MS: u64 = 1_000;
/// Longest backoff, ms.
pub const BACKOFF_MAX_MS: u64 = 300_000;
/// A key that has succeeded for this long without a failure starts its backoff over, ms.
pub const QUIET_MS: u64 = 120_000;
/// How often a parked key is looked at anyway, ms.
pub const PARK_RECHECK_MS: u64 = 900_000;

/// A key's failure history.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorPolicy {
    /// Consecutive retryable failures (reset after a quiet period).
    failures: u32,
    /// Since when the key has succeeded without a failure, ms.
    ok_since_ms: Option<u64>,
    /// Not to be worked on before this, ms.
    not_before_ms: Option<u64>,
    /// Parked by a terminal error at this stack generation.
    parked_at: Option<u64>,
}

/// What to do with a key after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Try again after this many ms.
    RetryAfter(u64),
    /// Parked until the generation changes (looked at again after this many ms regardless).
    Parked(u64),
}

impl ErrorPolicy {
    /// Records `error` at `now_ms` for a key of stack generation `generation`, seeded by `key`
    /// for jitter; says when to look again.
    pub fn failed(
        &mut self,
        error: &CloudError,
        key: &impl Hash,
        generation: u64,
        now_ms: u64,
    ) -> Verdict {
        self.failed_with(error.is_retryable(), key, generation, now_ms)
    }

    /// As [`ErrorPolicy::failed`], for a failure that is retryable or not.
    pub fn failed_with(
        &mut self,
        retryable: bool,
        key: &impl Hash,
        generation: u64,
        now_ms: u64,
    ) -> Verdict {
        if !retryable {
            self.parked_at = Some(generation);
            self.not_before_ms = Some(now_ms + PARK_RECHECK_MS);
            return Verdict::Parked(PARK_RECHECK_MS);
        }
        if self
            .ok_since_ms
            .take()
            .is_some_and(|since| now_ms.saturating_sub(since) >= QUIET_MS)
        {
            self.failures = 0;
        }
        self.failures = self.failures.saturating_add(1);
        let delay = jittered(self.failures, key, now_ms);
        self.not_before_ms = Some(now_ms + delay);
        Verdict::RetryAfter(delay)
    }

    /// Records a reconcile that succeeded at `now_ms`: the key may run whenever it is due.
    pub fn succeeded(&mut self, now_ms: u64) {
        self.not_before_ms = None;
        self.parked_at = None;
        self.ok_since_ms.get_or_insert(now_ms);
    }

    /// The stack's generation is now `generation`: a key parked at another one is free again.
    pub fn generation_changed(&mut self, generation: u64) {
        if self.parked_at.is_some_and(|g| g != generation) {
            self.parked_at = None;
            self.not_before_ms = None;
            self.failures = 0;
        }
    }

    /// When the key may be worked on next, if it must wait.
    pub fn not_before(&self, now_ms: u64) -> Option<u64> {
        self.not_before_ms.filter(|t| *t > now_ms)
    }

    /// Whether a terminal error parked the key.
    pub fn is_parked(&self) -> bool {
        self.parked_at.is_some()
    }
}

/// "Equal jitter": between half the doubled backoff and all of it, so keys that failed together
/// do not retry together. Deterministic for a key, a failure count and a time.
fn jittered(failures: u32, key: &impl Hash, now_ms: u64) -> u64 {
    let base = (BACKOFF_START_MS << failures.clamp(1, 20).saturating_sub(1)).min(BACKOFF_MAX_MS);
    let half = base.div_ceil(2);
    let mut hasher = std::hash::DefaultHasher::new();
    (key, failures, now_ms).hash(&mut hasher);
    half + hasher.finish() % (base - half + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::Operation;

    fn server() -> CloudError {
        CloudError::Server {
            operation: Operation::DescribeServices,
            message: "boom".into(),
        }
    }

    fn denied() -> CloudError {
        CloudError::Invalid {
            operation: Operation::UpdateService,
            message: "access denied".into(),
        }
    }

    #[test]
    fn retryable_failures_back_off_doubling_to_a_cap_with_jitter() {
        let mut policy = ErrorPolicy::default();
        let bases = [
            1_000_u64, 2_000, 4_000, 8_000, 16_000, 32_000, 64_000, 128_000, 256_000, 300_000,
            300_000,
        ];
        let mut now = 0;
        for base in bases {
            let Verdict::RetryAfter(delay) = policy.failed(&server(), &"k", 1, now) else {
                panic!("retryable");
            };
            assert!(
                (base.div_ceil(2)..=base).contains(&delay),
                "{delay} for {base}"
            );
            assert_eq!(policy.not_before(now), Some(now + delay));
            now += delay;
        }
        // Keys failing at the same moment spread out.
        let spread: std::collections::BTreeSet<u64> = (0..20)
            .map(|i| {
                let mut p = ErrorPolicy::default();
                (0..6)
                    .map(|_| match p.failed(&server(), &i, 1, 0) {
                        Verdict::RetryAfter(d) | Verdict::Parked(d) => d,
                    })
                    .last()
                    .unwrap_or(0)
            })
            .collect();
        assert!(spread.len() > 5, "{spread:?}");
    }

    #[test]
    fn backoff_starts_over_after_a_quiet_period_of_success() {
        let mut policy = ErrorPolicy::default();
        for _ in 0..5 {
            let _ = policy.failed(&server(), &"k", 1, 0);
        }
        // A success followed soon by a failure: the backoff keeps growing (a flapping key).
        policy.succeeded(10_000);
        let Verdict::RetryAfter(delay) = policy.failed(&server(), &"k", 1, 20_000) else {
            panic!("retryable");
        };
        assert!(delay >= 16_000, "{delay}");
        // Quiet for a while: it starts over.
        policy.succeeded(30_000);
        let Verdict::RetryAfter(delay) = policy.failed(&server(), &"k", 1, 30_000 + QUIET_MS)
        else {
            panic!("retryable");
        };
        assert!(delay <= BACKOFF_START_MS, "{delay}");
    }

    #[test]
    fn a_terminal_error_parks_the_key_until_the_generation_changes() {
        let mut policy = ErrorPolicy::default();
        assert_eq!(
            policy.failed(&denied(), &"k", 3, 1_000),
            Verdict::Parked(PARK_RECHECK_MS)
        );
        assert!(policy.is_parked());
        assert_eq!(policy.not_before(1_000), Some(1_000 + PARK_RECHECK_MS));
        policy.generation_changed(3);
        assert!(policy.is_parked(), "the same generation keeps it parked");
        policy.generation_changed(4);
        assert!(!policy.is_parked());
        assert_eq!(policy.not_before(1_000), None);
    }
}
