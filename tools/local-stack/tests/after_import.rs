//! After an import, on the local stack with the tracker role's credentials: the state
//! changes so far reached the consumer's rule on the default bus, once each and in
//! order; the imported model answers through bedrock-runtime after the emulator's
//! not-ready calls (the SDK's retries counted as attempts); the release pointer is an
//! SSM parameter the tracker role writes and reads.

use std::collections::BTreeSet;
use std::time::Duration;

use aws_sdk_bedrockruntime::config::retry::RetryConfig;
use ferry_aws::{BedrockRuntime, SsmReleasePointer};
use ferry_core::import::ImportState;
use ferry_core::release::ReleasePointer;
use ferry_core::verify::{read_answer, InvokeErrorKind, InvokeModel, SmokeConfig, SmokeRequest};
use ferry_local_lambda::Outcome;
use ferry_local_stack::{LocalStack, Options};
use serde_json::Value;

const CALL: Duration = Duration::from_secs(60);

/// Uploads a model, imports it through the importer and sweeps until the tracker
/// records its end; the imported model's ARN.
async fn import_one(stack: &LocalStack) -> String {
    let objects = stack
        .upload_fixture("llama-smoke", "llama-3.1", 1)
        .await
        .unwrap();
    let mut importer = stack.start_importer(&[]).await.unwrap();
    let outcome = importer.invoke(stack.upload_events(&objects), CALL).await;
    assert!(matches!(outcome, Ok(Outcome::Response(_))), "{outcome:?}");
    // No smoke test and no release: this test invokes the model and moves the pointer
    // itself, as the tracker role.
    let quiet = [("FERRY_SMOKE_TEST", "off"), ("FERRY_RELEASE", "manual")];
    let mut tracker = stack.start_tracker(&quiet).await.unwrap();
    stack
        .sweep_until(&mut tracker, "llama-smoke", ImportState::Completed)
        .await
        .unwrap();
    let models = stack.emulator.imported_models();
    assert_eq!(models.len(), 1, "{models:?}");
    let item = stack.versions("llama-smoke").await.unwrap().pop().unwrap();
    item.model_arn
        .expect("a completed import has its model's ARN")
}

fn events_of(events: &[Value]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| {
            assert_eq!(e["source"], "ferry");
            (
                e["detail"]["eventId"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                e["detail"]["state"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_an_import_events_invocation_and_the_pointer_work_as_the_tracker() {
    let stack = LocalStack::start(Options {
        job_duration: Duration::from_millis(500),
        not_ready_calls: 2,
        ..Options::default()
    })
    .await
    .unwrap();
    let model_arn = import_one(&stack).await;

    let events = events_of(&stack.state_events().await.unwrap());
    let ids: BTreeSet<&String> = events.iter().map(|(id, _)| id).collect();
    assert_eq!(ids.len(), events.len(), "each change once: {events:?}");
    let states: Vec<&str> = events.iter().map(|(_, s)| s.as_str()).collect();
    assert_eq!(states[..2], ["Pending", "Submitted"], "{events:?}");

    let tracker =
        ferry_testkit::hosting::assumed(&stack.research, &stack.deployment.tracker_role_arn())
            .await
            .unwrap();
    let runtime_config = aws_sdk_bedrockruntime::config::Builder::from(&tracker)
        .endpoint_url(stack.emulator.endpoint())
        .retry_config(
            RetryConfig::standard()
                .with_initial_backoff(Duration::from_millis(10))
                .with_max_backoff(Duration::from_millis(50)),
        )
        .build();
    let runtime = BedrockRuntime::new(aws_sdk_bedrockruntime::Client::from_conf(runtime_config));
    let request = SmokeRequest::new(
        &model_arn,
        Some("LlamaForCausalLM"),
        1_900_000_000,
        &SmokeConfig::default(),
    );
    let reply = runtime.invoke(&model_arn, &request.body).await.unwrap();
    assert_eq!(
        reply.attempts, 3,
        "two ModelNotReadyException, then the answer"
    );
    let answer = read_answer(&reply.body, 200).unwrap();
    assert!(answer.text.starts_with("ready"), "{answer:?}");
    let gone = "arn:aws:bedrock:us-east-1:777788889999:imported-model/zzzzzzzzzzzz";
    let missing = runtime.invoke(gone, &request.body).await;
    assert!(
        matches!(missing, Err(ref e) if e.kind == InvokeErrorKind::NotFound),
        "{missing:?}"
    );

    let ssm = aws_sdk_ssm::Client::new(&tracker);
    let pointer = SsmReleasePointer::new(ssm, stack.deployment.release_parameter_prefix.clone());
    assert_eq!(pointer.live("llama-smoke").await.unwrap(), None);
    pointer
        .set_live("llama-smoke", &model_arn, "llama-smoke-r0")
        .await
        .unwrap();
    assert_eq!(
        pointer.live("llama-smoke").await.unwrap().as_deref(),
        Some(model_arn.as_str())
    );
}
