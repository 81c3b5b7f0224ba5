//! Bedrock's runtime for the smoke test: one InvokeModel call on an imported model's
//! ARN, its HTTP attempts counted (the SDK retries ModelNotReadyException by itself),
//! its errors classified into the kinds the smoke test decides on.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use aws_config::SdkConfig;
use aws_sdk_bedrockruntime::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_bedrockruntime::operation::invoke_model::InvokeModelError;
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use ferry_core::verify::{InvokeError, InvokeErrorKind, InvokeModel, InvokeReply};

use crate::config::OnFirstUse;

const JSON: &str = "application/json";

/// bedrock-runtime in the hosting account.
#[derive(Clone)]
pub struct BedrockRuntime {
    client: OnFirstUse<aws_sdk_bedrockruntime::Client>,
}

impl BedrockRuntime {
    /// With `client`, built already.
    pub fn new(client: aws_sdk_bedrockruntime::Client) -> Self {
        Self {
            client: OnFirstUse::ready(client),
        }
    }

    /// With a client built from `config` on the first call
    /// ([`crate::config::bedrock_runtime_client`]: bounded in time).
    pub fn on_first_use(config: &SdkConfig) -> Self {
        Self {
            client: OnFirstUse::new(config, crate::config::bedrock_runtime_client),
        }
    }
}

/// Counts the HTTP attempts of one call: the SDK's retries happen inside `send`.
#[derive(Debug, Clone, Default)]
struct Attempts(Arc<AtomicU32>);

impl Attempts {
    fn count(&self) -> u32 {
        self.0.load(Ordering::Relaxed)
    }
}

impl Intercept for Attempts {
    fn name(&self) -> &'static str {
        "FerryInvokeAttempts"
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

impl InvokeModel for BedrockRuntime {
    async fn invoke(&self, model_arn: &str, body: &[u8]) -> Result<InvokeReply, InvokeError> {
        let attempts = Attempts::default();
        let started = std::time::Instant::now();
        let result = self
            .client
            .get()
            .invoke_model()
            .model_id(model_arn)
            .content_type(JSON)
            .accept(JSON)
            .body(Blob::new(body))
            .customize()
            .interceptor(attempts.clone())
            .send()
            .await;
        match result {
            Ok(out) => Ok(InvokeReply {
                body: out.body().as_ref().to_vec(),
                attempts: attempts.count(),
                latency_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            }),
            Err(e) => {
                let (kind, message) = classify(&e);
                Err(InvokeError::new(kind, message, attempts.count()))
            }
        }
    }
}

/// The kind of a failed InvokeModel and the service's message (or what went wrong
/// before an answer).
pub fn classify(error: &SdkError<InvokeModelError, HttpResponse>) -> (InvokeErrorKind, String) {
    use InvokeErrorKind as K;
    let service = match error {
        SdkError::ServiceError(service) => service.err(),
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            return (K::Unavailable, DisplayErrorContext(error).to_string());
        }
        _ => return (K::Other, DisplayErrorContext(error).to_string()),
    };
    let kind = match service {
        InvokeModelError::ModelNotReadyException(_) => K::NotReady,
        InvokeModelError::ThrottlingException(_)
        | InvokeModelError::ServiceQuotaExceededException(_) => K::Throttled,
        InvokeModelError::AccessDeniedException(_) => K::AccessDenied,
        InvokeModelError::ValidationException(_) => K::Validation,
        InvokeModelError::ModelErrorException(e) => K::ModelError {
            original_status: e.original_status_code().and_then(|s| u16::try_from(s).ok()),
        },
        InvokeModelError::ModelTimeoutException(_) => K::ModelTimeout,
        InvokeModelError::ResourceNotFoundException(_) => K::NotFound,
        InvokeModelError::InternalServerException(_)
        | InvokeModelError::ServiceUnavailableException(_) => K::Unavailable,
        _ => unmodelled(service.code(), status_of(error)),
    };
    // The modelled exceptions display as `Code: message`.
    let message = match service.message() {
        Some(message) if !message.is_empty() => message.to_owned(),
        _ => service.to_string(),
    };
    (kind, message)
}

/// An error the SDK does not model (a newer code, or a bare HTTP status), by its code
/// or status.
fn unmodelled(code: Option<&str>, status: Option<u16>) -> InvokeErrorKind {
    use InvokeErrorKind as K;
    match (code.unwrap_or_default(), status) {
        (c, _) if c.contains("Throttl") => K::Throttled,
        (c, _) if c.contains("AccessDenied") => K::AccessDenied,
        (_, Some(429)) => K::Throttled,
        (_, Some(401 | 403)) => K::AccessDenied,
        (_, Some(404)) => K::NotFound,
        (_, Some(500..=599)) => K::Unavailable,
        _ => K::Other,
    }
}

fn status_of(error: &SdkError<InvokeModelError, HttpResponse>) -> Option<u16> {
    error.raw_response().map(|r| r.status().as_u16())
}
