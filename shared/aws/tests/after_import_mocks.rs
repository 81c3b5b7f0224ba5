//! The adapters of issue 16 over aws-smithy-mocks: EventBridge's per-entry results
//! (a call that succeeds while entries fail), SSM's missing parameter, every kind of
//! InvokeModel error, and the attempts of one call the SDK retried.

use std::time::Duration;

use aws_sdk_bedrockruntime::operation::invoke_model::{InvokeModelError, InvokeModelOutput};
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::error as brt;
use aws_sdk_eventbridge::operation::put_events::PutEventsOutput;
use aws_sdk_eventbridge::types::PutEventsResultEntry;
use aws_sdk_ssm::operation::get_parameter::{GetParameterError, GetParameterOutput};
use aws_sdk_ssm::operation::put_parameter::PutParameterOutput;
use aws_sdk_ssm::types::{Parameter, ParameterType};
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use aws_smithy_types::retry::RetryConfig;
use ferry_aws::{BedrockRuntime, EventBridgeBus, SsmReleasePointer};
use ferry_core::import::PortErrorKind;
use ferry_core::outbox::{BusEvent, EventBus, PutResult};
use ferry_core::release::ReleasePointer;
use ferry_core::verify::{InvokeErrorKind, InvokeModel};

const MODEL: &str = "arn:aws:bedrock:us-east-1:777788889999:imported-model/abcdefabcdef";

fn event(n: u64) -> BusEvent {
    BusEvent {
        source: "ferry".into(),
        detail_type: "Ferry Import State Change".into(),
        detail: format!("{{\"eventId\":\"fp#{n}\"}}"),
        resources: vec![MODEL.into()],
        time: 1_795_000_000 + n,
    }
}

fn failed(code: &str) -> PutEventsResultEntry {
    PutEventsResultEntry::builder()
        .error_code(code)
        .error_message("no")
        .build()
}

#[tokio::test]
async fn put_events_reports_each_entry_and_sends_the_time() {
    let put = mock!(aws_sdk_eventbridge::Client::put_events)
        .match_requests(|r| {
            let entries = r.entries();
            entries.len() == 3
                && entries.iter().all(|e| {
                    e.source() == Some("ferry")
                        && e.event_bus_name().is_none()
                        && e.resources() == [MODEL]
                })
                && entries[0].time().map(|t| t.secs()) == Some(1_795_000_001)
        })
        .then_output(|| {
            PutEventsOutput::builder()
                .failed_entry_count(2)
                .entries(PutEventsResultEntry::builder().event_id("id-1").build())
                .entries(failed("ThrottlingException"))
                .entries(failed("MalformedDetail"))
                .build()
        });
    let bus = EventBridgeBus::new(mock_client!(aws_sdk_eventbridge, [&put]));
    let results = bus.put(&[event(1), event(2), event(3)]).await.unwrap();
    assert_eq!(
        results,
        [
            PutResult::Accepted("id-1".into()),
            PutResult::Refused {
                error: "ThrottlingException: no".into(),
                retryable: true
            },
            PutResult::Refused {
                error: "MalformedDetail: no".into(),
                retryable: false
            },
        ]
    );
    assert_eq!(put.num_calls(), 1);
    assert!(
        bus.put(&[]).await.unwrap().is_empty(),
        "no call for nothing"
    );
    assert_eq!(put.num_calls(), 1);
}

#[tokio::test]
async fn a_refused_put_events_call_is_a_port_error() {
    let put = mock!(aws_sdk_eventbridge::Client::put_events).then_error(|| {
        aws_sdk_eventbridge::operation::put_events::PutEventsError::InternalException(
            aws_sdk_eventbridge::types::error::InternalException::builder()
                .message("inside")
                .build(),
        )
    });
    let bus = EventBridgeBus::new(mock_client!(aws_sdk_eventbridge, [&put]));
    let err = bus.put(&[event(1)]).await.unwrap_err();
    assert_eq!(err.operation, "events:PutEvents");
}

#[tokio::test]
async fn the_pointer_reads_none_until_set_then_the_arn() {
    let name = "/team/ferry/llama-ft/live";
    let missing = mock!(aws_sdk_ssm::Client::get_parameter)
        .match_requests(move |r| r.name() == Some(name))
        .then_error(|| {
            GetParameterError::ParameterNotFound(
                aws_sdk_ssm::types::error::ParameterNotFound::builder().build(),
            )
        });
    let put = mock!(aws_sdk_ssm::Client::put_parameter)
        .match_requests(move |r| {
            r.name() == Some(name)
                && r.value() == Some(MODEL)
                && r.overwrite() == Some(true)
                && r.r#type() == Some(&ParameterType::String)
                && r.description().is_some_and(|d| d.contains("llama-ft-r1"))
        })
        .then_output(|| PutParameterOutput::builder().version(1).build());
    let found = mock!(aws_sdk_ssm::Client::get_parameter)
        .match_requests(move |r| r.name() == Some(name))
        .then_output(move || {
            GetParameterOutput::builder()
                .parameter(Parameter::builder().name(name).value(MODEL).build())
                .build()
        });
    let client = mock_client!(aws_sdk_ssm, RuleMode::Sequential, [&missing, &put, &found]);
    let pointer = SsmReleasePointer::new(client, "/team/ferry");
    assert_eq!(pointer.live("llama-ft").await.unwrap(), None);
    pointer
        .set_live("llama-ft", MODEL, "llama-ft-r1")
        .await
        .unwrap();
    assert_eq!(
        pointer.live("llama-ft").await.unwrap().as_deref(),
        Some(MODEL)
    );
}

#[tokio::test]
async fn a_denied_pointer_read_is_an_error_not_none() {
    let denied = mock!(aws_sdk_ssm::Client::get_parameter).then_http_response(|| {
        aws_smithy_runtime_api::http::Response::new(
            aws_smithy_runtime_api::http::StatusCode::try_from(400).unwrap(),
            aws_smithy_types::body::SdkBody::from(
                r#"{"__type":"AccessDeniedException","message":"not allowed"}"#,
            ),
        )
    });
    let pointer = SsmReleasePointer::new(mock_client!(aws_sdk_ssm, [&denied]), "/ferry");
    let err = pointer.live("m").await.unwrap_err();
    assert_eq!(
        (err.kind, err.operation.as_str()),
        (PortErrorKind::Denied, "ssm:GetParameter")
    );
}

fn quick_retries(attempts: u32) -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(attempts)
        .with_initial_backoff(Duration::from_millis(1))
        .with_max_backoff(Duration::from_millis(5))
}

fn answer() -> InvokeModelOutput {
    InvokeModelOutput::builder()
        .body(Blob::new(r#"{"generation":" ready"}"#))
        .content_type("application/json")
        .build()
        .unwrap()
}

fn not_ready() -> InvokeModelError {
    InvokeModelError::ModelNotReadyException(
        brt::ModelNotReadyException::builder()
            .message("Model is not ready for inference.")
            .build(),
    )
}

#[tokio::test]
async fn one_call_counts_the_attempts_the_sdk_retried() {
    let invoke = mock!(aws_sdk_bedrockruntime::Client::invoke_model)
        .match_requests(|r| {
            r.model_id() == Some(MODEL)
                && r.content_type() == Some("application/json")
                && r.accept() == Some("application/json")
                && r.body().map(|b| b.as_ref()) == Some(br#"{"prompt":"hi"}"#.as_slice())
        })
        .sequence()
        .error(not_ready)
        .times(2)
        .output(answer)
        .build();
    let client = mock_client!(
        aws_sdk_bedrockruntime,
        RuleMode::Sequential,
        [&invoke],
        |b| b.retry_config(quick_retries(3))
    );
    let runtime = BedrockRuntime::new(client);
    let reply = runtime.invoke(MODEL, br#"{"prompt":"hi"}"#).await.unwrap();
    assert_eq!(reply.body, br#"{"generation":" ready"}"#);
    assert_eq!(
        reply.attempts, 3,
        "two ModelNotReadyException, then the answer"
    );

    // Still warming after the SDK's attempts: the error says how many were made.
    let cold = mock!(aws_sdk_bedrockruntime::Client::invoke_model)
        .sequence()
        .error(not_ready)
        .times(3)
        .build();
    let client = mock_client!(aws_sdk_bedrockruntime, RuleMode::Sequential, [&cold], |b| b
        .retry_config(quick_retries(3)));
    let err = BedrockRuntime::new(client)
        .invoke(MODEL, b"{}")
        .await
        .unwrap_err();
    assert_eq!((err.kind, err.attempts), (InvokeErrorKind::NotReady, 3));
    assert!(err.message.contains("not ready"), "{err}");
}

/// Each modelled error, and the kind the smoke test decides on.
fn modelled() -> Vec<(fn() -> InvokeModelError, InvokeErrorKind)> {
    use InvokeErrorKind as K;
    vec![
        (
            || {
                InvokeModelError::ThrottlingException(
                    brt::ThrottlingException::builder()
                        .message("slow down")
                        .build(),
                )
            },
            K::Throttled,
        ),
        (
            || {
                InvokeModelError::ServiceQuotaExceededException(
                    brt::ServiceQuotaExceededException::builder()
                        .message("quota")
                        .build(),
                )
            },
            K::Throttled,
        ),
        (
            || {
                InvokeModelError::AccessDeniedException(
                    brt::AccessDeniedException::builder()
                        .message("denied")
                        .build(),
                )
            },
            K::AccessDenied,
        ),
        (
            || {
                InvokeModelError::ValidationException(
                    brt::ValidationException::builder()
                        .message("Malformed input request")
                        .build(),
                )
            },
            K::Validation,
        ),
        (
            || {
                InvokeModelError::ModelErrorException(
                    brt::ModelErrorException::builder()
                        .message("Received server error (500) from model")
                        .original_status_code(500)
                        .resource_name(MODEL)
                        .build(),
                )
            },
            K::ModelError {
                original_status: Some(500),
            },
        ),
        (
            || {
                InvokeModelError::ModelTimeoutException(
                    brt::ModelTimeoutException::builder()
                        .message("too long")
                        .build(),
                )
            },
            K::ModelTimeout,
        ),
        (
            || {
                InvokeModelError::ResourceNotFoundException(
                    brt::ResourceNotFoundException::builder()
                        .message("no model")
                        .build(),
                )
            },
            K::NotFound,
        ),
        (
            || {
                InvokeModelError::InternalServerException(
                    brt::InternalServerException::builder()
                        .message("oops")
                        .build(),
                )
            },
            K::Unavailable,
        ),
        (
            || {
                InvokeModelError::ServiceUnavailableException(
                    brt::ServiceUnavailableException::builder()
                        .message("later")
                        .build(),
                )
            },
            K::Unavailable,
        ),
    ]
}

#[tokio::test]
async fn every_modelled_error_has_its_kind() {
    for (error, kind) in modelled() {
        let message = error().to_string();
        let rule = mock!(aws_sdk_bedrockruntime::Client::invoke_model).then_error(error);
        // No retries: the kind, not the SDK's retry policy, is under test here.
        let client = mock_client!(aws_sdk_bedrockruntime, RuleMode::Sequential, [&rule], |b| b
            .retry_config(RetryConfig::disabled()));
        let err = BedrockRuntime::new(client)
            .invoke(MODEL, b"{}")
            .await
            .unwrap_err();
        assert_eq!(err.kind, kind, "{err}");
        assert_eq!(err.message, message);
        assert!(
            message.contains(": "),
            "the code and the service's message: {message}"
        );
        assert_eq!(err.attempts, 1);
    }
}

#[tokio::test]
async fn unmodelled_errors_are_judged_by_status() {
    use InvokeErrorKind as K;
    for (status, body, kind) in [
        (503, r#"{"message":"down"}"#, K::Unavailable),
        (
            429,
            r#"{"__type":"SomethingNew","message":"busy"}"#,
            K::Throttled,
        ),
        (418, r#"{"__type":"Teapot","message":"?"}"#, K::Other),
    ] {
        let rule =
            mock!(aws_sdk_bedrockruntime::Client::invoke_model).then_http_response(move || {
                aws_smithy_runtime_api::http::Response::new(
                    aws_smithy_runtime_api::http::StatusCode::try_from(status).unwrap(),
                    aws_smithy_types::body::SdkBody::from(body),
                )
            });
        let client = mock_client!(aws_sdk_bedrockruntime, RuleMode::Sequential, [&rule], |b| b
            .retry_config(RetryConfig::disabled()));
        let err = BedrockRuntime::new(client)
            .invoke(MODEL, b"{}")
            .await
            .unwrap_err();
        assert_eq!(err.kind, kind, "HTTP {status}: {err}");
    }
}
