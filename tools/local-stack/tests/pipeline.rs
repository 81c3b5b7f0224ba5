//! The whole pipeline on one machine, with the real function binaries: an upload's
//! events (duplicated, in any order) become exactly one import job, the tracker
//! follows it to Completed, and the completion alert arrives.

use std::time::Duration;

use ferry_local_lambda::Outcome;
use ferry_local_stack::{LocalStack, Options};
use serde_json::json;

const CALL: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_becomes_one_completed_import_and_its_alert() {
    let stack = LocalStack::start(Options::default()).await.unwrap();
    let model = tempfile::tempdir().unwrap();
    let family = ferry_testkit::families::family("llama-3.1");
    ferry_testkit::fixtures::write_model(model.path(), &family, 2).unwrap();
    let objects = stack
        .upload_model("llama-demo", model.path())
        .await
        .unwrap();
    assert!(objects.len() >= 4, "{objects:?}");

    let mut importer = stack.start_importer(&[]).await.unwrap();

    // At least once, in any order: every event twice, the second time reversed.
    let mut reversed = objects.clone();
    reversed.reverse();
    let mut decisions = Vec::new();
    for batch in [&objects, &reversed] {
        let outcome = importer
            .invoke(stack.upload_events(batch), CALL)
            .await
            .unwrap();
        let Outcome::Response(response) = outcome else {
            panic!("importer: {outcome:?}");
        };
        assert_eq!(response["batchItemFailures"], json!([]), "{response}");
        for d in response["decisions"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            decisions.push(d["decision"].as_str().unwrap_or("").to_owned());
        }
    }
    assert_eq!(
        decisions.iter().filter(|d| *d == "started").count(),
        1,
        "{decisions:?}"
    );
    let jobs = stack.emulator.jobs();
    assert_eq!(jobs.len(), 1, "exactly one job: {jobs:?}");
    // The importer's own count of its API calls (its ApiCalls EMF lines) agrees.
    let calls = ferry_core::track::metrics::sum_api_call_lines(
        importer
            .stop_and_take_logs()
            .await
            .iter()
            .map(String::as_str),
    );
    let create = (
        "ferry-importer".to_owned(),
        "Bedrock".to_owned(),
        "CreateModelImportJob".to_owned(),
    );
    assert_eq!(calls.get(&create).map(|c| c.0), Some(1), "{calls:?}");
    assert!(
        calls.keys().any(|(_, service, _)| service == "S3"),
        "{calls:?}"
    );

    let mut tracker = stack.start_tracker(&[]).await.unwrap();
    let mut completed = false;
    for _ in 0..40 {
        let outcome = tracker
            .invoke(json!({"action": "sweep"}), CALL)
            .await
            .unwrap();
        let Outcome::Response(report) = outcome else {
            panic!("tracker: {outcome:?}");
        };
        // The sweep that recorded the end (not merely a job that ended meanwhile).
        if report["completed"]
            .as_array()
            .is_some_and(|c| !c.is_empty())
        {
            completed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        completed,
        "the job never completed: {:?}",
        stack.emulator.jobs()
    );
    assert_eq!(stack.emulator.imported_models().len(), 1);
    let alerts = stack.alerts().await.unwrap();
    assert!(
        alerts
            .iter()
            .any(|a| a.to_lowercase().contains("completed")),
        "{alerts:#?}"
    );
}
