//! AWS errors classified for the controller: retryable (throttling, 5xx, timeouts, connection
//! failures) or terminal (validation, not found, access denied), with an actionable message.

use aws_sdk_ecs::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

use super::timeouts;
use crate::cloud::{CloudError, Operation};

/// Error codes AWS services use for throttling.
const THROTTLING: [&str; 7] = [
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "SlowDown",
];

/// Error codes that mean the caller lacks a permission.
const DENIED: [&str; 4] = [
    "AccessDeniedException",
    "AccessDenied",
    "UnauthorizedOperation",
    "UnrecognizedClientException",
];

/// Classifies an SDK error of `operation`.
pub fn classify<E>(operation: Operation, error: SdkError<E, HttpResponse>) -> CloudError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let text = aws_smithy_types::error::display::DisplayErrorContext(&error).to_string();
    match &error {
        SdkError::ServiceError(context) => {
            let code = context.err().code().unwrap_or("").to_owned();
            let message = context.err().message().unwrap_or("").to_owned();
            let status = context.raw().status().as_u16();
            from_code(operation, &code, &message, Some(status))
        }
        // Timeouts, connection failures and unreadable answers: transient.
        SdkError::TimeoutError(_) => CloudError::Timeout {
            operation,
            seconds: timeouts::OPERATION.as_secs(),
        },
        SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => CloudError::Server {
            operation,
            message: causes(&error),
        },
        _ => CloudError::Invalid {
            operation,
            message: text,
        },
    }
}

/// An error's chain of causes, each said once, joined with ": " (no `Debug` dumps).
pub fn causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = next {
        let text = e.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

/// Classifies by AWS's error code (and HTTP status, where known).
pub fn from_code(
    operation: Operation,
    code: &str,
    message: &str,
    status: Option<u16>,
) -> CloudError {
    if THROTTLING.contains(&code) {
        return CloudError::Throttled { operation };
    }
    if status.is_some_and(|s| s >= 500)
        || matches!(
            code,
            "ServerException"
                | "ServiceUnavailable"
                | "ServiceUnavailableException"
                | "InternalFailure"
                | "InternalError"
                | "InternalServiceError"
        )
    {
        return CloudError::Server {
            operation,
            message: format!("{code}: {message}"),
        };
    }
    if DENIED.contains(&code) {
        return CloudError::Invalid {
            operation,
            message: format!(
                "access denied ({code}): {message}; the controller's role needs {} on this resource (deploy/tugboat.yaml grants what the controller uses)",
                operation.iam_action()
            ),
        };
    }
    let hint = match code {
        "ClusterNotFoundException" => "; create the cluster, or fix `spec.cluster` in the manifest",
        "TargetGroupNotFound" | "TargetGroupNotFoundException" => {
            "; create the target group, or fix its name in the manifest"
        }
        "ServiceNotActiveException" => {
            "; the service is being deleted: wait for it to become INACTIVE, then it is recreated"
        }
        _ => "",
    };
    CloudError::Invalid {
        operation,
        message: format!("{code}: {message}{hint}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_server_errors_and_denials_are_told_apart() {
        assert!(matches!(
            from_code(
                Operation::UpdateService,
                "ThrottlingException",
                "Rate exceeded",
                Some(400)
            ),
            CloudError::Throttled { .. }
        ));
        let server = from_code(
            Operation::UpdateService,
            "ServerException",
            "oops",
            Some(500),
        );
        assert!(server.is_retryable());
        let unknown_5xx = from_code(Operation::DescribeTargetHealth, "", "", Some(503));
        assert!(unknown_5xx.is_retryable());
        let denied = from_code(
            Operation::UpdateService,
            "AccessDeniedException",
            "User: arn:aws:sts::1:assumed-role/x is not authorized to perform: ecs:UpdateService",
            Some(400),
        );
        assert!(!denied.is_retryable());
        assert!(
            denied.to_string().contains("needs ecs:UpdateService"),
            "{denied}"
        );
        let missing = from_code(
            Operation::DescribeServices,
            "ClusterNotFoundException",
            "Cluster not found.",
            Some(400),
        );
        assert!(!missing.is_retryable());
        assert!(
            missing.to_string().contains("fix `spec.cluster`"),
            "{missing}"
        );
    }
}
