//! What Ferry's two Lambda functions share at their edge, between `ferry-core`'s
//! errors and the Lambda Runtime API:
//!
//! - [`ErrorType`]: the stable `errorType` of every failure Lambda reports (in the
//!   invocation result, in CloudWatch Logs, and to `cargo lambda invoke`), one per
//!   failure an operator filters or alarms on;
//! - [`FunctionError`]: a handler's error, built from `ImportError` or `TrackError`, which
//!   `lambda_runtime` turns into a [`Diagnostic`] with that type;
//! - [`report_init_error`]: a failure before the runtime starts (an invalid
//!   configuration) sent to the Runtime API's `init/error` endpoint, so that Lambda and
//!   `cargo lambda` show it instead of waiting for a function that already exited;
//! - [`print_metrics`]: an invocation's metrics, printed as the EMF line CloudWatch
//!   Logs turns into metrics (ferry-core returns them and never prints).

use std::fmt;

use ferry_core::import::ImportError;
use ferry_core::track::metrics::{emf_line, Metric};
use ferry_core::track::TrackError;
use lambda_runtime::Diagnostic;

/// The `errorType`s Ferry's functions report. Stable: alarms, metric filters and
/// subscriptions match on them (see the README's "Errors" section).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorType {
    /// At init: the `FERRY_*` configuration is invalid; the message lists every problem.
    InvalidConfig,
    /// The invocation's payload is not an event the function accepts.
    MalformedEvent,
    /// The importer could not read the model folder in the research bucket (listing,
    /// a small file, a safetensors header): missing, refused or unreachable.
    SourceRead,
    /// A call to the hosting account failed: assuming the automation role, the ledger,
    /// Bedrock, the alert topic. Throttling and 5xx are retried by Lambda or SQS.
    HostingAccess,
    /// The importer: every message of an SQS batch failed (each is logged with its
    /// cause); SQS delivers them again.
    BatchFailed,
    /// The tracker's cleanup went through every model but some calls failed.
    CleanupIncomplete,
    /// The tracker's sweep got none of its work done (every call it made failed).
    SweepFailed,
}

impl ErrorType {
    pub const ALL: [ErrorType; 7] = [
        ErrorType::InvalidConfig,
        ErrorType::MalformedEvent,
        ErrorType::SourceRead,
        ErrorType::HostingAccess,
        ErrorType::BatchFailed,
        ErrorType::CleanupIncomplete,
        ErrorType::SweepFailed,
    ];

    /// The `errorType` string, `Ferry.<Name>`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorType::InvalidConfig => "Ferry.InvalidConfig",
            ErrorType::MalformedEvent => "Ferry.MalformedEvent",
            ErrorType::SourceRead => "Ferry.SourceRead",
            ErrorType::HostingAccess => "Ferry.HostingAccess",
            ErrorType::BatchFailed => "Ferry.BatchFailed",
            ErrorType::CleanupIncomplete => "Ferry.CleanupIncomplete",
            ErrorType::SweepFailed => "Ferry.SweepFailed",
        }
    }
}

impl fmt::Display for ErrorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed invocation or init, as Lambda reports it: an [`ErrorType`] and the message.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FunctionError {
    pub error_type: ErrorType,
    pub message: String,
}

/// `Ferry.Type: message`: what `main`'s `Err` prints on stderr when init fails.
impl fmt::Debug for FunctionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error_type, self.message)
    }
}

impl FunctionError {
    pub fn new(error_type: ErrorType, message: impl Into<String>) -> Self {
        Self {
            error_type,
            message: message.into(),
        }
    }

    /// An invalid configuration found at cold start.
    pub fn config(error: impl fmt::Display) -> Self {
        Self::new(ErrorType::InvalidConfig, error.to_string())
    }
}

impl From<FunctionError> for Diagnostic {
    fn from(error: FunctionError) -> Diagnostic {
        Diagnostic {
            error_type: error.error_type.as_str().to_owned(),
            error_message: error.message,
        }
    }
}

impl From<ImportError> for FunctionError {
    fn from(error: ImportError) -> Self {
        let error_type = match &error {
            ImportError::Event(_) => ErrorType::MalformedEvent,
            ImportError::Source(_) => ErrorType::SourceRead,
            ImportError::Hosting(_) => ErrorType::HostingAccess,
            ImportError::Batch(_) => ErrorType::BatchFailed,
        };
        Self::new(error_type, error.to_string())
    }
}

impl From<TrackError> for FunctionError {
    fn from(error: TrackError) -> Self {
        let error_type = match &error {
            TrackError::Invocation(_) => ErrorType::MalformedEvent,
            TrackError::Port(_) => ErrorType::HostingAccess,
            TrackError::Partial(_) => ErrorType::CleanupIncomplete,
            TrackError::Sweep(_) => ErrorType::SweepFailed,
        };
        Self::new(error_type, error.to_string())
    }
}

/// Prints an invocation's metrics on stdout as one EMF line stamped `now_secs`; nothing
/// when there are none.
pub fn print_metrics(metrics: &[Metric], now_secs: u64) {
    if !metrics.is_empty() {
        println!("{}", emf_line(metrics, now_secs * 1000));
    }
}

/// Where an init failure could not be sent (it is logged either way).
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("AWS_LAMBDA_RUNTIME_API is not set: not running under a Lambda Runtime API")]
    NoRuntimeApi,
    #[error("AWS_LAMBDA_RUNTIME_API {0:?} is not a valid address")]
    BadAddress(String),
    #[error("posting to the Runtime API's init/error: {0}")]
    Post(String),
}

/// Reports an init failure as Lambda expects it: `POST /2018-06-01/runtime/init/error`
/// with the error's type in the `Lambda-Runtime-Function-Error-Type` header and the
/// `{errorType, errorMessage}` document in the body. Lambda then fails the pending
/// invocation with that error (and `cargo lambda invoke` prints it) instead of
/// waiting for a process that exits. Logs the error too; the caller then exits.
pub async fn report_init_error(error: &FunctionError) -> Result<(), ReportError> {
    lambda_runtime::tracing::error!(error_type = %error.error_type, error = %error.message, "init failed");
    let address = std::env::var("AWS_LAMBDA_RUNTIME_API").map_err(|_| ReportError::NoRuntimeApi)?;
    let endpoint = if address.contains("://") {
        address.clone()
    } else {
        format!("http://{address}")
    };
    let client = lambda_runtime_api_client::PooledClient::builder()
        .with_endpoint(
            endpoint
                .parse()
                .map_err(|_| ReportError::BadAddress(address))?,
        )
        .build();
    // The same `{errorType, errorMessage}` document an invocation's error becomes.
    let body = serde_json::to_string(&Diagnostic::from(error.clone()))
        .map_err(|e| ReportError::Post(e.to_string()))?;
    let request = lambda_runtime_api_client::build_request()
        .method("POST")
        .uri("/2018-06-01/runtime/init/error")
        .header(
            "lambda-runtime-function-error-type",
            error.error_type.as_str(),
        )
        .header("content-type", "application/json")
        .body(lambda_runtime_api_client::body::Body::from(body))
        .map_err(|e| ReportError::Post(e.to_string()))?;
    let response = client
        .call(request)
        .await
        .map_err(|e| ReportError::Post(e.to_string()))?;
    if !response.status().is_success() {
        return Err(ReportError::Post(format!(
            "the Runtime API answered {}",
            response.status()
        )));
    }
    Ok(())
}

/// Reports `error` as an init failure ([`report_init_error`]) and returns it for `main`
/// to return, so the process exits non-zero with the message.
pub async fn fail_init(error: FunctionError) -> FunctionError {
    if let Err(report) = report_init_error(&error).await {
        lambda_runtime::tracing::error!(%report, "the init failure could not be reported");
    }
    error
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::import::{PortError, PortErrorKind};
    use ferry_core::validate::source::{SourceError, SourceErrorKind};

    #[test]
    fn every_type_is_ferry_dot_name_and_distinct() {
        let names: std::collections::BTreeSet<&str> =
            ErrorType::ALL.iter().map(|t| t.as_str()).collect();
        assert_eq!(names.len(), ErrorType::ALL.len());
        for name in names {
            let rest = name.strip_prefix("Ferry.").unwrap();
            assert!(rest.chars().all(|c| c.is_ascii_alphanumeric()), "{name}");
        }
    }

    #[test]
    fn importer_errors_map_to_their_types() {
        let port = PortError::new(PortErrorKind::Denied, "sts:AssumeRole", "AccessDenied");
        let source = SourceError::new(SourceErrorKind::AccessDenied, "could not list", "denied");
        let event = ferry_core::import::events::EventError {
            field: "Records[0].s3.object.key".into(),
            problem: "missing".into(),
        };
        for (error, expected) in [
            (ImportError::Event(event), "Ferry.MalformedEvent"),
            (ImportError::Source(source), "Ferry.SourceRead"),
            (ImportError::Hosting(port), "Ferry.HostingAccess"),
            (
                ImportError::Batch("all 2 failed".into()),
                "Ferry.BatchFailed",
            ),
        ] {
            let message = error.to_string();
            let diagnostic = Diagnostic::from(FunctionError::from(error));
            assert_eq!(diagnostic.error_type, expected);
            assert_eq!(diagnostic.error_message, message);
        }
    }

    #[test]
    fn tracker_errors_map_to_their_types() {
        let port = PortError::new(PortErrorKind::Retryable, "dynamodb:Query", "timeout");
        for (error, expected) in [
            (
                TrackError::Invocation("no \"action\"".into()),
                "Ferry.MalformedEvent",
            ),
            (TrackError::Port(port), "Ferry.HostingAccess"),
            (
                TrackError::Partial(vec!["bedrock:DeleteImportedModel: x".into()]),
                "Ferry.CleanupIncomplete",
            ),
            (
                TrackError::Sweep(vec!["dynamodb:Query: unreachable".into()]),
                "Ferry.SweepFailed",
            ),
        ] {
            let diagnostic = Diagnostic::from(FunctionError::from(error));
            assert_eq!(diagnostic.error_type, expected);
        }
    }

    #[test]
    fn config_errors_are_invalid_config() {
        let diagnostic =
            Diagnostic::from(FunctionError::config("invalid configuration (1 problem)"));
        assert_eq!(diagnostic.error_type, "Ferry.InvalidConfig");
        assert_eq!(
            diagnostic.error_message,
            "invalid configuration (1 problem)"
        );
    }
}
