//! The API-call counter sees every call once and every attempt, retries included.

use std::time::Duration;

use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use aws_smithy_types::retry::RetryConfig;
use ferry_aws::ApiCallCounter;
use ferry_core::track::metrics::ApiCallCount;

#[tokio::test]
async fn counts_calls_by_service_and_operation_and_attempts_with_retries() {
    let head = mock!(aws_sdk_s3::Client::head_object)
        .sequence()
        .http_status(503, None)
        .output(|| HeadObjectOutput::builder().content_length(8).build())
        .output(|| HeadObjectOutput::builder().content_length(9).build())
        .build();
    let list = mock!(aws_sdk_s3::Client::list_objects_v2)
        .then_output(|| ListObjectsV2Output::builder().build());
    let counter = ApiCallCounter::default();
    let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&head, &list], |b| b
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(1))
        )
        .interceptor(counter.clone()));

    for key in ["a", "b"] {
        client
            .head_object()
            .bucket("b")
            .key(key)
            .send()
            .await
            .expect("head");
    }
    client
        .list_objects_v2()
        .bucket("b")
        .send()
        .await
        .expect("list");

    let count = |operation: &str, calls, attempts| ApiCallCount {
        service: "S3".into(),
        operation: operation.into(),
        calls,
        attempts,
    };
    assert_eq!(
        counter.take(),
        vec![count("HeadObject", 2, 3), count("ListObjectsV2", 1, 1)]
    );
    assert!(counter.take().is_empty(), "take starts afresh");
}

#[tokio::test]
async fn the_process_counter_is_shared_by_every_clone() {
    let a = ApiCallCounter::process();
    let b = ApiCallCounter::process();
    let s3 = mock_client!(
        aws_sdk_s3,
        RuleMode::MatchAny,
        [&mock!(aws_sdk_s3::Client::list_objects_v2)
            .then_output(|| ListObjectsV2Output::builder().build())],
        |c| c.interceptor(a.clone())
    );
    s3.list_objects_v2().bucket("x").send().await.expect("list");
    let counts = b.take();
    assert!(
        counts
            .iter()
            .any(|c| c.operation == "ListObjectsV2" && c.calls >= 1),
        "{counts:?}"
    );
}
