//! Every cloud call counted: `tug_aws_requests_total{service,operation,outcome}` and
//! `tug_aws_throttled_total{service,operation}`, as a [`Layer`] around any cloud.

use std::future::Future;

use crate::cloud::{CloudError, Layer, Operation};

use super::metrics::Metrics;

/// The metering layer.
#[derive(Debug, Clone)]
pub struct Metering {
    /// Where the counts go.
    metrics: Metrics,
}

impl Metering {
    /// Counts calls in `metrics`.
    pub fn new(metrics: Metrics) -> Self {
        Self { metrics }
    }
}

impl Layer for Metering {
    async fn around<T: Send>(
        &self,
        operation: Operation,
        call: impl Future<Output = Result<T, CloudError>> + Send,
    ) -> Result<T, CloudError> {
        let result = call.await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => {
                if matches!(e, CloudError::Throttled { .. }) {
                    self.metrics
                        .aws_throttled
                        .with_label_values(&[operation.service(), operation.name()])
                        .inc();
                }
                e.outcome()
            }
        };
        self.metrics
            .aws_requests
            .with_label_values(&[operation.service(), operation.name(), outcome])
            .inc();
        result
    }
}
