//! SDK errors turned into Ferry's source errors: a kind that decides retry or not, and
//! a message that names the call, the resource and what to do.

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use ferry_core::SourceErrorKind;

/// What an SDK error means for a caller.
pub struct Classified {
    pub kind: SourceErrorKind,
    pub code: Option<String>,
    pub status: Option<u16>,
    pub detail: String,
}

pub fn classify<E, R>(err: &SdkError<E, R>) -> Classified
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + HttpStatus,
{
    match err {
        SdkError::ServiceError(service) => {
            let status = service.raw().status_code();
            let code = service.err().code().map(str::to_owned);
            let kind = match (status, code.as_deref()) {
                (_, Some("NoSuchBucket" | "NoSuchKey" | "NotFound")) | (404, _) => {
                    SourceErrorKind::NotFound
                }
                (
                    _,
                    Some(
                        "AccessDenied"
                        | "InvalidAccessKeyId"
                        | "SignatureDoesNotMatch"
                        | "ExpiredToken",
                    ),
                )
                | (401 | 403, _) => SourceErrorKind::AccessDenied,
                (
                    _,
                    Some(
                        "SlowDown"
                        | "Throttling"
                        | "ThrottlingException"
                        | "RequestTimeout"
                        | "InternalError",
                    ),
                )
                | (429 | 500..=599, _) => SourceErrorKind::Transient,
                _ => SourceErrorKind::Other,
            };
            let message = service.err().message().unwrap_or("");
            let detail = match &code {
                Some(code) if message.is_empty() => code.clone(),
                Some(code) => format!("{code}: {message}"),
                None => format!("HTTP {status}"),
            };
            Classified {
                kind,
                code,
                status: Some(status),
                detail,
            }
        }
        SdkError::TimeoutError(_) => Classified {
            kind: SourceErrorKind::Transient,
            code: None,
            status: None,
            detail: format!("timed out ({})", DisplayErrorContext(err)),
        },
        SdkError::DispatchFailure(failure) if failure.is_io() || failure.is_timeout() => {
            Classified {
                kind: SourceErrorKind::Transient,
                code: None,
                status: None,
                detail: format!("could not reach the service ({})", DisplayErrorContext(err)),
            }
        }
        SdkError::ResponseError(_) => Classified {
            kind: SourceErrorKind::Transient,
            code: None,
            status: None,
            detail: format!(
                "the response was cut off or unreadable ({})",
                DisplayErrorContext(err)
            ),
        },
        _ => Classified {
            kind: SourceErrorKind::Other,
            code: None,
            status: None,
            detail: DisplayErrorContext(err).to_string(),
        },
    }
}

/// An SDK error as a hosting-account port error.
pub fn port_error<E, R>(operation: &str, err: &SdkError<E, R>) -> ferry_core::import::PortError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + HttpStatus,
{
    use ferry_core::import::{PortError, PortErrorKind};
    let c = classify(err);
    let kind = match (c.kind, c.code.as_deref()) {
        (SourceErrorKind::Transient, _) => PortErrorKind::Retryable,
        (SourceErrorKind::AccessDenied, _) => PortErrorKind::Denied,
        (_, Some(code))
            if code.contains("AccessDenied") || code == "UnrecognizedClientException" =>
        {
            PortErrorKind::Denied
        }
        (_, Some(code))
            if code.contains("Throttl")
                || code.contains("LimitExceeded")
                || code.contains("ProvisionedThroughputExceeded")
                || code == "ServiceUnavailable" =>
        {
            PortErrorKind::Retryable
        }
        (_, Some(code)) if code.contains("Validation") || code == "ResourceNotFoundException" => {
            PortErrorKind::Invalid
        }
        _ => PortErrorKind::Other,
    };
    PortError::new(kind, operation, c.detail)
}

/// The status code of a raw response (implemented for the SDK's HTTP response).
pub trait HttpStatus {
    fn status_code(&self) -> u16;
}

impl HttpStatus for aws_sdk_s3::config::http::HttpResponse {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}
