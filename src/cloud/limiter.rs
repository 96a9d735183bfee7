//! A shared rate limit in front of any [`Cloud`]: one token bucket per AWS throttling category,
//! sized at [`SHARE`] of what AWS allows an account, so the controller slows itself down before AWS
//! throttles it, and leaves room for everything else calling the same account (consoles, CI, other
//! tools). A call that finds its bucket empty waits for the next token; nothing is dropped.
//!
//! Buckets refill on tokio's clock (wall time), so the limiter belongs in front of a cloud whose
//! clock is wall time: the AWS adapter, or the simulator as the daemon runs it. Virtual-time
//! simulations leave it out; the simulator throttles them itself.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::limits::Category;
use super::types::{
    CreateServiceInput, HealthCheckSettings, MetricId, MetricSeries, ServiceDescription,
    TargetGroupDescription, TargetHealth, TaskDefinitionId, TaskDefinitionInput,
    UpdateServiceInput,
};
use super::{Cloud, CloudError};

/// The share of each documented bucket (burst and refill) the controller allows itself.
pub const SHARE: f64 = 0.8;

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    burst: f64,
    rate: f64,
    last: Instant,
}

impl Bucket {
    fn new(category: Category, now: Instant) -> Self {
        let (burst, rate) = category.bucket();
        let burst = (burst * SHARE).max(1.0);
        Self {
            tokens: burst,
            burst,
            rate: rate * SHARE,
            last: now,
        }
    }

    /// Takes a token, or says how long until one is there.
    fn take(&mut self, now: Instant) -> Option<Duration> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            None
        } else {
            Some(Duration::from_secs_f64((1.0 - self.tokens) / self.rate))
        }
    }
}

/// A cloud whose calls are paced by per-category token buckets, shared by every clone.
#[derive(Debug, Clone)]
pub struct Limited<C> {
    inner: C,
    buckets: Arc<Mutex<BTreeMap<Category, Bucket>>>,
}

impl<C> Limited<C> {
    /// Paces `inner`'s calls.
    pub fn new(inner: C) -> Self {
        Self {
            inner,
            buckets: Arc::default(),
        }
    }

    /// Waits until `operation`'s bucket has a token, and takes it.
    async fn admit(&self, operation: &str) {
        let category = Category::of(operation);
        loop {
            let wait = {
                let mut buckets = self
                    .buckets
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let now = Instant::now();
                buckets
                    .entry(category)
                    .or_insert_with(|| Bucket::new(category, now))
                    .take(now)
            };
            match wait {
                None => return,
                Some(wait) => tokio::time::sleep(wait).await,
            }
        }
    }
}

impl<C: Cloud> Cloud for Limited<C> {
    async fn register_task_definition(
        &self,
        input: TaskDefinitionInput,
    ) -> Result<TaskDefinitionId, CloudError> {
        self.admit("RegisterTaskDefinition").await;
        self.inner.register_task_definition(input).await
    }
    async fn describe_latest_task_definition(
        &self,
        family: &str,
    ) -> Result<Option<(TaskDefinitionId, TaskDefinitionInput)>, CloudError> {
        self.admit("DescribeTaskDefinition").await;
        self.inner.describe_latest_task_definition(family).await
    }
    async fn create_service(
        &self,
        input: CreateServiceInput,
    ) -> Result<ServiceDescription, CloudError> {
        self.admit("CreateService").await;
        self.inner.create_service(input).await
    }
    async fn update_service(
        &self,
        input: UpdateServiceInput,
    ) -> Result<ServiceDescription, CloudError> {
        self.admit("UpdateService").await;
        self.inner.update_service(input).await
    }
    async fn delete_service(
        &self,
        cluster: &str,
        service: &str,
    ) -> Result<ServiceDescription, CloudError> {
        self.admit("DeleteService").await;
        self.inner.delete_service(cluster, service).await
    }
    async fn describe_services(
        &self,
        cluster: &str,
        names: &[String],
    ) -> Result<Vec<ServiceDescription>, CloudError> {
        self.admit("DescribeServices").await;
        self.inner.describe_services(cluster, names).await
    }
    async fn describe_target_health(
        &self,
        target_group: &str,
    ) -> Result<Vec<TargetHealth>, CloudError> {
        self.admit("DescribeTargetHealth").await;
        self.inner.describe_target_health(target_group).await
    }
    async fn modify_target_group(
        &self,
        target_group: &str,
        health: HealthCheckSettings,
    ) -> Result<(), CloudError> {
        self.admit("ModifyTargetGroup").await;
        self.inner.modify_target_group(target_group, health).await
    }
    async fn describe_target_groups(
        &self,
        names: &[String],
    ) -> Result<BTreeMap<String, TargetGroupDescription>, CloudError> {
        self.admit("DescribeTargetGroups").await;
        self.inner.describe_target_groups(names).await
    }
    async fn get_metric_data(
        &self,
        queries: &[MetricId],
        start_s: u64,
        end_s: u64,
    ) -> Result<MetricSeries, CloudError> {
        self.admit("GetMetricData").await;
        self.inner.get_metric_data(queries, start_s, end_s).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_gives_its_burst_then_one_token_per_refill_interval() {
        let start = Instant::now();
        let mut bucket = Bucket::new(Category::ServiceModify, start);
        // ServiceModify: 50 burst, 5/s at AWS; 40 and 4/s here.
        for _ in 0..40 {
            assert_eq!(bucket.take(start), None);
        }
        let wait = bucket.take(start).expect("empty");
        assert!((wait.as_secs_f64() - 0.25).abs() < 1e-9, "{wait:?}");
        assert_eq!(bucket.take(start + Duration::from_millis(250)), None);
        // A long pause refills to the burst, not beyond.
        let later = start + Duration::from_secs(3600);
        for _ in 0..40 {
            assert_eq!(bucket.take(later), None);
        }
        assert!(bucket.take(later).is_some());
    }

    #[test]
    fn every_category_stays_below_what_aws_allows() {
        let now = Instant::now();
        for category in [
            Category::ServiceRead,
            Category::ServiceModify,
            Category::ClusterRead,
            Category::ClusterModify,
            Category::TaskDefinitionModify,
            Category::TaskDefinitionRead,
            Category::Elb,
            Category::CloudWatch,
        ] {
            let (burst, rate) = category.bucket();
            let ours = Bucket::new(category, now);
            assert!(ours.burst < burst && ours.rate < rate, "{category:?}");
        }
    }
}
