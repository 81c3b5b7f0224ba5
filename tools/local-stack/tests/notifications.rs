//! The deployed delivery path, for real: S3's EventBridge notifications in moto, the
//! research stack's rule (from infra/research.yaml), its SQS queue, then the real
//! importer binary; one job for the folder, and the queue drained.

use std::time::Duration;

use ferry_local_lambda::Outcome;
use ferry_local_stack::{LocalStack, Options};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_reach_the_importer_through_the_stacks_rule_and_queue() {
    let stack = LocalStack::start(Options::default()).await.unwrap();
    let model = tempfile::tempdir().unwrap();
    let family = ferry_testkit::families::family("llama-3.1");
    ferry_testkit::fixtures::write_model(model.path(), &family, 2).unwrap();
    let objects = stack
        .upload_model("llama-notified", model.path())
        .await
        .unwrap();

    // An object outside the watched prefix: the rule must not deliver it.
    ferry_testkit::s3::s3_client(&stack.research)
        .put_object()
        .bucket(ferry_local_stack::BUCKET)
        .key("scratch/notes.txt")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();

    let mut importer = stack.start_importer(&[]).await.unwrap();
    let mut delivered = 0;
    let mut started = 0;
    while let Some(batch) = stack
        .next_upload_batch(Duration::from_secs(3))
        .await
        .unwrap()
    {
        let records = batch.event["Records"].as_array().map_or(0, Vec::len);
        for record in batch.event["Records"].as_array().unwrap() {
            assert!(
                record["body"]
                    .as_str()
                    .unwrap()
                    .contains("models/llama-notified/"),
                "the rule delivered an object outside the prefix: {record}"
            );
        }
        let Outcome::Response(response) = importer
            .invoke(batch.event.clone(), Duration::from_secs(60))
            .await
            .unwrap()
        else {
            panic!("importer failed");
        };
        started += response["decisions"].as_array().map_or(0, |d| {
            d.iter().filter(|d| d["decision"] == "started").count()
        });
        delivered += stack.acknowledge(&batch, &response).await.unwrap();
        assert!(records > 0);
    }
    assert_eq!(delivered, objects.len(), "every upload's event, once");
    assert_eq!(started, 1);
    assert_eq!(stack.emulator.jobs().len(), 1);
}
