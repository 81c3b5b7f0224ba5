//! Issue 16 end to end, with the real importer and tracker binaries on the local stack:
//! a model not ready three times then answering ends Verified and released (the SSM
//! parameter names it); a broken model ends SmokeFailed, alerted, not released; a crash
//! between the ledger write and the event put loses no event and duplicates none;
//! `rollback` flips the parameter; cleanup keeps the live and previous versions.

use std::collections::BTreeSet;
use std::time::Duration;

use ferry_core::import::ImportState;
use ferry_local_lambda::{LocalLambda, Outcome};
use ferry_local_stack::{LocalStack, Options};
use serde_json::{json, Value};

const CALL: Duration = Duration::from_secs(60);
const DAY: Duration = Duration::from_secs(24 * 3600);

/// Writes a llama-3.1 model of `shards` shards (its content differs by count) and
/// uploads it into folder `name`; the importer takes the upload's events.
async fn upload(stack: &LocalStack, importer: &mut LocalLambda, name: &str, shards: usize) {
    let objects = stack
        .upload_fixture(name, "llama-3.1", shards)
        .await
        .unwrap();
    let outcome = importer.invoke(stack.upload_events(&objects), CALL).await;
    assert!(matches!(outcome, Ok(Outcome::Response(_))), "{outcome:?}");
}

/// (eventId, state) of the events delivered to the consumer's queue since last read.
async fn delivered(stack: &LocalStack) -> Vec<(String, String)> {
    let events = stack.state_events().await.unwrap();
    events
        .iter()
        .map(|e| {
            let id = e["detail"]["eventId"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            (
                id,
                e["detail"]["state"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn states_of(events: &[(String, String)], fingerprint: &str) -> Vec<String> {
    events
        .iter()
        .filter(|(id, _)| id.starts_with(fingerprint))
        .map(|(_, s)| s.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_ready_three_times_then_verified_and_released_and_a_broken_model_is_not() {
    let stack = LocalStack::start(Options {
        job_duration: Duration::from_millis(300),
        not_ready_calls: 3,
        broken_models: Some("^broken".into()),
        ..Options::default()
    })
    .await
    .unwrap();
    let mut importer = stack.start_importer(&[]).await.unwrap();
    // One HTTP attempt per call, so that each sweep's call sees one refusal.
    let mut tracker = stack
        .start_tracker(&[("AWS_MAX_ATTEMPTS", "1")])
        .await
        .unwrap();

    upload(&stack, &mut importer, "llama-smoke", 1).await;
    let reports = stack
        .sweep_until(&mut tracker, "llama-smoke", ImportState::Released)
        .await
        .unwrap();
    let warming: usize = reports
        .iter()
        .map(|r| r["warming"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(warming, 3, "three sweeps saw ModelNotReadyException");
    let item = stack.versions("llama-smoke").await.unwrap().pop().unwrap();
    assert_eq!(item.smoke.passed, Some(true));
    assert_eq!(item.smoke.attempts, 4);
    assert!(
        item.smoke
            .answer
            .as_deref()
            .is_some_and(|a| a.starts_with("ready")),
        "{:?}",
        item.smoke
    );
    assert!(item.smoke.latency_ms.is_some() && item.smoke.first_answer_secs.is_some());
    assert_eq!(
        stack.release_parameter("llama-smoke").await.unwrap(),
        item.model_arn
    );
    let events = delivered(&stack).await;
    let states = states_of(&events, &item.fingerprint);
    assert_eq!(
        states,
        ["Pending", "Submitted", "Completed", "Verified", "Released"],
        "{events:?}"
    );

    upload(&stack, &mut importer, "broken-model", 1).await;
    stack
        .sweep_until(&mut tracker, "broken-model", ImportState::SmokeFailed)
        .await
        .unwrap();
    let broken = stack.versions("broken-model").await.unwrap().pop().unwrap();
    assert!(broken
        .failure
        .as_deref()
        .is_some_and(|f| f.contains("Sent (InvokeModel body)")));
    assert_eq!(
        stack.release_parameter("broken-model").await.unwrap(),
        None,
        "not released"
    );
    let alerts = stack.alerts().await.unwrap();
    assert!(
        alerts
            .iter()
            .any(|a| a.contains("did not answer Ferry's smoke test") && a.contains("Came back")),
        "{alerts:#?}"
    );
    let events = delivered(&stack).await;
    assert_eq!(
        states_of(&events, &broken.fingerprint)
            .last()
            .map(String::as_str),
        Some("SmokeFailed")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_the_ledger_write_and_the_put_loses_no_event_and_duplicates_none() {
    let stack = LocalStack::start(Options {
        job_duration: Duration::from_millis(300),
        ..Options::default()
    })
    .await
    .unwrap();
    let mut importer = stack.start_importer(&[]).await.unwrap();
    upload(&stack, &mut importer, "llama-crash", 1).await;
    // The tracker's bus is unreachable: every ledger write lands, no put does; then the
    // process is gone, as if it died between the two.
    let dead_bus = [
        ("AWS_ENDPOINT_URL_EVENTBRIDGE", "http://127.0.0.1:9"),
        ("AWS_MAX_ATTEMPTS", "1"),
    ];
    let mut tracker = stack.start_tracker(&dead_bus).await.unwrap();
    stack
        .sweep_until(&mut tracker, "llama-crash", ImportState::Released)
        .await
        .unwrap();
    tracker.kill().await;
    let item = stack.versions("llama-crash").await.unwrap().pop().unwrap();
    assert_eq!(
        (item.history.len(), item.events_sent),
        (5, 2),
        "Completed, Verified and Released owed"
    );
    assert_eq!(
        states_of(&delivered(&stack).await, &item.fingerprint),
        ["Pending", "Submitted"]
    );

    let mut tracker = stack.start_tracker(&[]).await.unwrap();
    for _ in 0..3 {
        let outcome = tracker.invoke(json!({"action": "sweep"}), CALL).await;
        assert!(matches!(outcome, Ok(Outcome::Response(_))), "{outcome:?}");
    }
    let events = delivered(&stack).await;
    assert_eq!(
        states_of(&events, &item.fingerprint),
        ["Completed", "Verified", "Released"]
    );
    let ids: BTreeSet<&String> = events.iter().map(|(id, _)| id).collect();
    assert_eq!(ids.len(), events.len(), "none twice: {events:?}");
    assert_eq!(
        stack
            .versions("llama-crash")
            .await
            .unwrap()
            .pop()
            .unwrap()
            .events_sent,
        5
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_flips_the_parameter_and_cleanup_keeps_the_live_and_previous_versions() {
    let stack = LocalStack::start(Options {
        job_duration: Duration::from_millis(300),
        // Every model looks 30 days old to cleanup's age rule.
        backdate: 30 * DAY,
        ..Options::default()
    })
    .await
    .unwrap();
    let mut importer = stack.start_importer(&[]).await.unwrap();
    let mut tracker = stack.start_tracker(&[]).await.unwrap();
    // Three versions of one model, each released in turn.
    for shards in [1, 2, 3] {
        upload(&stack, &mut importer, "chat", shards).await;
        stack
            .sweep_until(&mut tracker, "chat", ImportState::Released)
            .await
            .unwrap();
    }
    let arns: Vec<String> = stack
        .versions("chat")
        .await
        .unwrap()
        .iter()
        .filter_map(|i| i.model_arn.clone())
        .collect();
    assert_eq!(arns.len(), 3);
    assert_eq!(
        stack.release_parameter("chat").await.unwrap().as_ref(),
        Some(&arns[2])
    );

    let ports = stack.release_ports().await.unwrap();
    let back = ferry_core::release::rollback(&ports.hosting, &ports.pointer, "chat", "by the test")
        .await
        .unwrap();
    assert_eq!(
        stack.release_parameter("chat").await.unwrap().as_ref(),
        Some(&arns[1]),
        "{back:?}"
    );
    let states: Vec<ImportState> = stack
        .versions("chat")
        .await
        .unwrap()
        .iter()
        .map(|i| i.state)
        .collect();
    assert_eq!(
        states,
        [
            ImportState::Retired,
            ImportState::Released,
            ImportState::Retired
        ]
    );

    // Cleanup with rules that let every idle old version go: the live version (the
    // second) and the one it replaced (the first) stay, the rolled-back third goes.
    let mut cleaner = stack
        .start_tracker(&[
            ("FERRY_CLEANUP_KEEP", "0"),
            ("FERRY_CLEANUP_MIN_AGE_DAYS", "1"),
        ])
        .await
        .unwrap();
    let outcome = cleaner.invoke(json!({"action": "cleanup"}), CALL).await;
    let Ok(Outcome::Response(report)) = outcome else {
        panic!("cleanup: {outcome:?}");
    };
    let deleted: Vec<&str> = report["deleted"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(deleted, [arns[2].as_str()], "{report:#}");
    let kept: Vec<String> = report["plan"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["delete"] == false)
        .map(|e| e["reason"].as_str().unwrap_or("").to_owned())
        .collect();
    assert!(kept.iter().any(|r| r.contains("live release")), "{kept:?}");
    assert!(
        kept.iter().any(|r| r.contains("previous release")),
        "{kept:?}"
    );
}
