//! A deadline around every call: a call with no answer after [`CALL_TIMEOUT_MS`] of the
//! controller's clock is abandoned and reported as [`CloudError::Timeout`] (retryable). This is
//! the outer bound; the AWS adapter also sets the SDK's connect, read and per-attempt timeouts
//! ([`crate::cloud::aws::timeouts`]), so a hung endpoint never holds a worker, `/healthz` or
//! shutdown for longer than this.

use std::future::Future;

use super::{Clock, CloudError, Layer, Operation};

/// How long one call (SDK retries included) may take, in milliseconds of the controller's clock.
pub const CALL_TIMEOUT_MS: u64 = 20_000;

/// The deadline layer.
#[derive(Debug, Clone)]
pub struct Deadline {
    /// Whose milliseconds the deadline counts.
    clock: Clock,
    /// The deadline of each call, in milliseconds.
    limit_ms: u64,
}

impl Deadline {
    /// Calls abandoned after `limit_ms` milliseconds of `clock`.
    pub fn new(clock: Clock, limit_ms: u64) -> Self {
        Self { clock, limit_ms }
    }
}

impl Layer for Deadline {
    async fn around<T: Send>(
        &self,
        operation: Operation,
        call: impl Future<Output = Result<T, CloudError>> + Send,
    ) -> Result<T, CloudError> {
        let limit = self.clock.tokio_duration(self.limit_ms);
        match tokio::time::timeout(limit, call).await {
            Ok(result) => result,
            Err(_) => Err(CloudError::Timeout {
                operation,
                seconds: self.limit_ms.div_ceil(1000),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_call_that_never_answers_times_out() {
        let layer = Deadline::new(Clock::scaled(0, 1.0), 5_000);
        let hung = std::future::pending::<Result<(), CloudError>>();
        let result = layer.around(Operation::DescribeServices, hung).await;
        assert_eq!(
            result,
            Err(CloudError::Timeout {
                operation: Operation::DescribeServices,
                seconds: 5
            })
        );
        let quick = async { Ok::<u32, CloudError>(7) };
        assert_eq!(layer.around(Operation::UpdateService, quick).await, Ok(7));
    }
}
