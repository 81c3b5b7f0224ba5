//! Bedrock's runtime as the smoke test sees it: one InvokeModel call. `ferry-aws` will
//! implement it with `aws-sdk-bedrockruntime`.

use std::future::Future;

/// What the runtime answered to one InvokeModel call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvokeReply {
    /// The response body as it came (JSON from the model's server).
    pub body: Vec<u8>,
    /// HTTP attempts the SDK made for this call (1 when it did not retry): the SDK
    /// retries `ModelNotReadyException` by itself, so one call may be several attempts.
    pub attempts: u32,
    /// How long the call took, retries included, as the adapter timed it.
    pub latency_ms: u64,
}

/// A failed InvokeModel call, classified by the error code the runtime sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bedrock:InvokeModel: {kind:?}: {message}")]
pub struct InvokeError {
    /// What kind of failure it was, which decides between waiting and alerting.
    pub kind: InvokeErrorKind,
    /// The service's message, as it came (echo it through `crate::text`).
    pub message: String,
    /// HTTP attempts the SDK made before giving up (see [`InvokeReply::attempts`]).
    pub attempts: u32,
}

impl InvokeError {
    /// An error of `kind` after `attempts` attempts.
    pub fn new(kind: InvokeErrorKind, message: impl Into<String>, attempts: u32) -> Self {
        Self {
            kind,
            message: message.into(),
            attempts,
        }
    }
}

/// InvokeModel's modelled errors, in the terms the smoke test decides on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvokeErrorKind {
    /// `ModelNotReadyException` (HTTP 429): the model is being restored; try again later.
    NotReady,
    /// `ThrottlingException` or `ServiceQuotaExceededException`: too many requests now.
    Throttled,
    /// `AccessDeniedException`: the caller's policy lacks `bedrock:InvokeModel`.
    AccessDenied,
    /// `ValidationException`: the request (usually its body) was refused.
    Validation,
    /// `ModelErrorException`: the model's server failed; `original_status` is the
    /// status it returned (the exception's `originalStatusCode`), when given.
    ModelError {
        /// The model server's own HTTP status.
        original_status: Option<u16>,
    },
    /// `ModelTimeoutException`: the model took too long to answer.
    ModelTimeout,
    /// `ResourceNotFoundException`: no such model (deleted, or a wrong ARN).
    NotFound,
    /// `InternalServerException`, `ServiceUnavailableException`, 5xx, timeouts and
    /// connection failures: nothing is known to be wrong with the model.
    Unavailable,
    /// Anything else.
    Other,
}

/// Bedrock's runtime, one call: `model_arn` is the imported model's ARN (InvokeModel is
/// documented with the ARN for imported models), `body` the JSON request.
pub trait InvokeModel: Sync {
    /// InvokeModel with `contentType` and `accept` `application/json`.
    fn invoke(
        &self,
        model_arn: &str,
        body: &[u8],
    ) -> impl Future<Output = Result<InvokeReply, InvokeError>> + Send;
}
