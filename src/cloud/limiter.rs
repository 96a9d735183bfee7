//! A shared rate limit around any [`Cloud`](super::Cloud): one token bucket per AWS throttling
//! category, sized at [`SHARE`] of what AWS allows an account, so the controller slows itself down
//! before AWS throttles it, and leaves room for everything else calling the same account (consoles,
//! CI, other tools). A call that finds its bucket empty waits for the next token; nothing is
//! dropped.
//!
//! Buckets refill on the controller's [`Clock`]: wall time on AWS, simulated time on the simulator,
//! so `--speed 60` paces calls as AWS would, sixty times faster.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use super::limits::Category;
use super::{Clock, CloudError, Layer, Operation};

/// The share of each documented bucket (burst and refill) the controller allows itself.
pub const SHARE: f64 = 0.8;

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    burst: f64,
    /// Tokens per millisecond.
    rate: f64,
    last_ms: u64,
}

impl Bucket {
    fn new(category: Category, now_ms: u64) -> Self {
        let (burst, rate) = category.bucket();
        let burst = (burst * SHARE).max(1.0);
        Self {
            tokens: burst,
            burst,
            rate: rate * SHARE / 1000.0,
            last_ms: now_ms,
        }
    }

    /// Takes a token, or says how many milliseconds until one is there.
    fn take(&mut self, now_ms: u64) -> Option<u64> {
        let elapsed = now_ms.saturating_sub(self.last_ms) as f64;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.last_ms = self.last_ms.max(now_ms);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            None
        } else {
            Some((((1.0 - self.tokens) / self.rate).ceil() as u64).max(1))
        }
    }
}

/// The rate limit: per-category token buckets, shared by every clone.
#[derive(Debug, Clone)]
pub struct RateLimit {
    clock: Clock,
    buckets: Arc<Mutex<BTreeMap<Category, Bucket>>>,
}

impl RateLimit {
    /// Buckets refilling on `clock`.
    pub fn new(clock: Clock) -> Self {
        Self {
            clock,
            buckets: Arc::default(),
        }
    }

    /// Waits until `operation`'s bucket has a token, and takes it.
    pub async fn admit(&self, operation: Operation) {
        let category = operation.category();
        loop {
            let now = self.clock.now_ms();
            let wait = {
                let mut buckets = self
                    .buckets
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                buckets
                    .entry(category)
                    .or_insert_with(|| Bucket::new(category, now))
                    .take(now)
            };
            match wait {
                None => return,
                Some(ms) => self.clock.sleep_until_ms(now + ms).await,
            }
        }
    }
}

impl Layer for RateLimit {
    async fn around<T: Send>(
        &self,
        operation: Operation,
        call: impl Future<Output = Result<T, CloudError>> + Send,
    ) -> Result<T, CloudError> {
        self.admit(operation).await;
        call.await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_gives_its_burst_then_one_token_per_refill_interval() {
        let mut bucket = Bucket::new(Category::ServiceModify, 0);
        // ServiceModify: 50 burst, 5/s at AWS; 40 and 4/s here.
        for _ in 0..40 {
            assert_eq!(bucket.take(0), None);
        }
        assert_eq!(bucket.take(0), Some(250));
        assert_eq!(bucket.take(250), None);
        // A long pause refills to the burst, not beyond.
        for _ in 0..40 {
            assert_eq!(bucket.take(3_600_000), None);
        }
        assert!(bucket.take(3_600_000).is_some());
    }

    #[test]
    fn every_category_stays_below_what_aws_allows() {
        for category in [
            Category::ServiceRead,
            Category::ServiceModify,
            Category::ClusterRead,
            Category::ClusterModify,
            Category::TaskDefinitionModify,
            Category::TaskDefinitionRead,
            Category::Elb,
            Category::CloudWatch,
            Category::CloudWatchAlarms,
            Category::Ecr,
            Category::AutoScaling,
            Category::Sns,
        ] {
            let (burst, rate) = category.bucket();
            let ours = Bucket::new(category, 0);
            assert!(
                ours.burst < burst && ours.rate * 1000.0 < rate,
                "{category:?}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn calls_beyond_the_burst_wait_on_the_clock_they_are_given() {
        // Sixty clock seconds per tokio second: 4 UpdateService per clock second is 240 per tokio
        // second, so 80 calls beyond the burst take a third of a tokio second, not 20 seconds.
        let limit = RateLimit::new(Clock::scaled(0, 60.0));
        let start = tokio::time::Instant::now();
        for _ in 0..120 {
            limit.admit(Operation::UpdateService).await;
        }
        let waited = start.elapsed().as_secs_f64();
        assert!((0.3..0.4).contains(&waited), "{waited}");
    }
}
