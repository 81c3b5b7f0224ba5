//! The unmodified aws-sdk-bedrockruntime client against the emulator's InvokeModel:
//! a model not ready for its first calls, then answering the smoke request Ferry's core
//! builds in the shape core reads; the SDK's own retries of ModelNotReadyException,
//! counted by the emulator; a broken model; an unknown model.

use std::time::Duration;

use aws_sdk_bedrock::types::{ModelDataSource, S3DataSource};
use aws_sdk_bedrockruntime::config::retry::RetryConfig;
use aws_sdk_bedrockruntime::operation::invoke_model::InvokeModelError;
use aws_sdk_bedrockruntime::primitives::Blob;
use ferry_bedrock_emulator::{Config, Emulator, NOT_READY_MESSAGE};
use ferry_core::verify::{read_answer, Shape, SmokeConfig, SmokeRequest};

mod common;

const ROLE: &str = "arn:aws:iam::777788889999:role/FerryBedrockImportExecution";

fn control_plane(emulator: &Emulator) -> aws_sdk_bedrock::Client {
    aws_sdk_bedrock::Client::new(&common::sdk_config(emulator))
}

/// A runtime client with `retry` (the SDK's default is standard with 3 attempts);
/// back-off shortened so retried tests take milliseconds.
fn runtime(emulator: &Emulator, retry: RetryConfig) -> aws_sdk_bedrockruntime::Client {
    let config = aws_sdk_bedrockruntime::config::Builder::from(&common::sdk_config(emulator))
        .retry_config(retry)
        .build();
    aws_sdk_bedrockruntime::Client::from_conf(config)
}

fn quick_retries(attempts: u32) -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(attempts)
        .with_initial_backoff(Duration::from_millis(5))
        .with_max_backoff(Duration::from_millis(20))
}

/// Imports a model named `name` and waits for it; its ARN.
async fn import(emulator: &Emulator, name: &str) -> String {
    let client = control_plane(emulator);
    let source = S3DataSource::builder()
        .s3_uri(format!("s3://model-artifacts-111122223333/models/{name}/"))
        .build()
        .unwrap();
    let job = client
        .create_model_import_job()
        .job_name(format!("job-{name}"))
        .imported_model_name(name)
        .role_arn(ROLE)
        .model_data_source(ModelDataSource::S3DataSource(source))
        .send()
        .await
        .unwrap();
    for _ in 0..1000 {
        let out = client
            .get_model_import_job()
            .job_identifier(job.job_arn())
            .send()
            .await
            .unwrap();
        if let Some(arn) = out.imported_model_arn() {
            return arn.to_owned();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the import of {name} did not end");
}

fn emulator_config(not_ready_calls: u64) -> Config {
    Config {
        job_duration: Duration::from_millis(20),
        not_ready_calls,
        broken_models: Some("^broken-".into()),
        ..Config::default()
    }
}

/// The smoke request core builds for a Llama import made now.
fn smoke(arn: &str) -> SmokeRequest {
    SmokeRequest::new(
        arn,
        Some("LlamaForCausalLM"),
        1_900_000_000,
        &SmokeConfig::default(),
    )
}

async fn invoke(
    client: &aws_sdk_bedrockruntime::Client,
    model_id: &str,
    body: &[u8],
) -> Result<Vec<u8>, InvokeModelError> {
    client
        .invoke_model()
        .model_id(model_id)
        .content_type("application/json")
        .accept("application/json")
        .body(Blob::new(body))
        .send()
        .await
        .map(|out| out.body().as_ref().to_vec())
        .map_err(|e| e.into_service_error())
}

#[tokio::test]
async fn not_ready_for_the_first_calls_then_the_smoke_answer_core_reads() {
    let emulator = Emulator::start(emulator_config(2), 0).await.unwrap();
    let arn = import(&emulator, "llama-ft").await;
    let client = runtime(&emulator, RetryConfig::disabled());
    let request = smoke(&arn);
    for call in 1..=2 {
        let error = invoke(&client, &arn, &request.body).await.unwrap_err();
        let InvokeModelError::ModelNotReadyException(not_ready) = &error else {
            panic!("call {call}: {error:?}");
        };
        assert_eq!(not_ready.message(), Some(NOT_READY_MESSAGE));
    }
    let body = invoke(&client, &arn, &request.body).await.unwrap();
    let answer = read_answer(&body, 200).unwrap();
    assert_eq!(answer.shape, Shape::Generation);
    assert!(answer.text.starts_with("ready"), "{}", answer.text);
    assert_eq!(emulator.invocations(&arn), Some(3));
    assert_eq!(emulator.counters().0.get("InvokeModel"), Some(&3));
    // By name too, and the chat format answers in the chat shape.
    let chat = SmokeRequest::new(
        &arn,
        Some("Qwen3ForCausalLM"),
        1_900_000_000,
        &SmokeConfig::default(),
    );
    let body = invoke(&client, "llama-ft", &chat.body).await.unwrap();
    assert_eq!(read_answer(&body, 200).unwrap().shape, Shape::ChatMessage);
}

#[tokio::test]
async fn the_sdk_retries_model_not_ready_by_itself_and_the_emulator_counts_each_attempt() {
    let emulator = Emulator::start(emulator_config(2), 0).await.unwrap();
    let arn = import(&emulator, "llama-warm").await;
    // Standard retries, 3 attempts (the SDK's default count): one call, three attempts.
    let body = invoke(
        &runtime(&emulator, quick_retries(3)),
        &arn,
        &smoke(&arn).body,
    )
    .await
    .unwrap();
    assert!(read_answer(&body, 200).is_ok());
    assert_eq!(emulator.invocations(&arn), Some(3));

    // Longer than the SDK's attempts: the call fails after exactly 3 of them.
    let emulator = Emulator::start(emulator_config(5), 0).await.unwrap();
    let arn = import(&emulator, "llama-cold").await;
    let error = invoke(
        &runtime(&emulator, quick_retries(3)),
        &arn,
        &smoke(&arn).body,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(error, InvokeModelError::ModelNotReadyException(_)),
        "{error:?}"
    );
    assert_eq!(emulator.invocations(&arn), Some(3));
}

#[tokio::test]
async fn a_broken_model_fails_with_model_error_and_an_unknown_one_is_not_found() {
    let emulator = Emulator::start(emulator_config(0), 0).await.unwrap();
    let arn = import(&emulator, "broken-gpt-oss").await;
    let client = runtime(&emulator, RetryConfig::disabled());
    let error = invoke(&client, &arn, &smoke(&arn).body).await.unwrap_err();
    let InvokeModelError::ModelErrorException(model_error) = &error else {
        panic!("{error:?}");
    };
    assert_eq!(model_error.original_status_code(), Some(500));
    assert_eq!(model_error.resource_name(), Some(arn.as_str()));
    assert!(model_error
        .message()
        .unwrap_or("")
        .contains("generation_config.json"));

    let unknown = "arn:aws:bedrock:us-east-1:777788889999:imported-model/zzzzzzzzzzzz";
    let error = invoke(&client, unknown, &smoke(unknown).body)
        .await
        .unwrap_err();
    assert!(
        matches!(error, InvokeModelError::ResourceNotFoundException(_)),
        "{error:?}"
    );
    assert_eq!(emulator.invocations(unknown), None);

    let good = import(&emulator, "llama-ok").await;
    let error = invoke(&client, &good, b"{\"text\": 1}").await.unwrap_err();
    assert!(
        matches!(error, InvokeModelError::ValidationException(_)),
        "{error:?}"
    );
}
