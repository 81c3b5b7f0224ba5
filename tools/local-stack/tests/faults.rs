//! Three models uploaded together, under injected throttling and 500s from Bedrock, with
//! the importer killed in the middle of an event: every model is imported exactly once,
//! one after the other (one job at a time, within the quota), and every ledger item
//! ends Completed.

use std::collections::BTreeSet;
use std::time::Duration;

use ferry_bedrock_emulator::{Fault, FaultKind};
use ferry_local_lambda::{LocalLambda, Outcome};
use ferry_local_stack::{LocalStack, Options, Uploaded};
use serde_json::{json, Value};

const CALL: Duration = Duration::from_secs(60);

/// Delivers `objects` until the importer has taken them all, as SQS does: a failed
/// batch item, or a batch whose process died, comes back.
async fn deliver(
    importer: &mut LocalLambda,
    stack: &LocalStack,
    objects: &[Uploaded],
) -> Vec<String> {
    let mut pending = objects.to_vec();
    let mut decisions = Vec::new();
    for _ in 0..20 {
        if pending.is_empty() {
            return decisions;
        }
        match importer.invoke(stack.upload_events(&pending), CALL).await {
            Ok(Outcome::Response(response)) => {
                for d in response["decisions"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                {
                    decisions.push(d["decision"].as_str().unwrap_or("?").to_owned());
                }
                let failed: BTreeSet<usize> = response["batchItemFailures"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|f| {
                        f["itemIdentifier"]
                            .as_str()?
                            .strip_prefix("msg-")?
                            .parse()
                            .ok()
                    })
                    .collect();
                if !failed.is_empty() {
                    decisions.push(format!("redelivered {}", failed.len()));
                }
                pending = pending
                    .iter()
                    .enumerate()
                    .filter(|(n, _)| failed.contains(n))
                    .map(|(_, o)| o.clone())
                    .collect();
            }
            Ok(Outcome::Error(error)) => {
                decisions.push(format!("error: {error}"));
            }
            Err(_) => {
                // The process died mid-batch: a new one gets the whole batch again.
                decisions.push("killed".into());
                importer.respawn().unwrap();
                importer.wait_ready(Duration::from_secs(30)).await.unwrap();
            }
        }
    }
    panic!("events still failing after 20 deliveries: {decisions:?}");
}

async fn ledger_states(stack: &LocalStack) -> Vec<(String, String)> {
    let scan = aws_sdk_dynamodb::Client::new(&stack.hosting)
        .scan()
        .table_name(&stack.deployment.names.ledger_table)
        .send()
        .await
        .unwrap();
    let mut states: Vec<(String, String)> = scan
        .items()
        .iter()
        .map(|item| {
            let get = |k: &str| {
                item.get(k)
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default()
            };
            (get("source_uri"), get("state"))
        })
        .collect();
    states.sort();
    states
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_models_under_faults_and_a_crash_are_each_imported_exactly_once() {
    let stack = LocalStack::start(Options {
        job_duration: Duration::from_millis(500),
        ..Options::default()
    })
    .await
    .unwrap();
    let family = ferry_testkit::families::family("llama-3.1");
    let mut objects = Vec::new();
    let mut dirs = Vec::new();
    for (n, name) in ["alpha", "beta", "gamma"].iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        ferry_testkit::fixtures::write_model(dir.path(), &family, n + 1).unwrap();
        objects.extend(stack.upload_model(name, dir.path()).await.unwrap());
        dirs.push(dir);
    }
    // Uploads of three folders interleave.
    objects.sort_by(|a, b| a.0.rsplit('/').next().cmp(&b.0.rsplit('/').next()));

    stack.emulator.set_faults(vec![
        Fault {
            kind: FaultKind::Throttling,
            every: 5,
        },
        Fault {
            kind: FaultKind::Internal,
            every: 7,
        },
    ]);

    // One attempt per call: the faults reach Ferry's own handling (batch item
    // failures, the next sweep) instead of being absorbed by the SDK's retries.
    let mut importer = stack
        .start_importer(&[("AWS_MAX_ATTEMPTS", "1")])
        .await
        .unwrap();

    // First delivery: the process is killed while it handles the batch.
    // Early in the batch (validation), before any start lease is claimed.
    importer.kill_after(Duration::from_millis(40)).unwrap();
    let decisions = deliver(&mut importer, &stack, &objects).await;
    // And the whole burst once more, later (at-least-once delivery).
    let again = deliver(&mut importer, &stack, &objects).await;

    let mut tracker = stack
        .start_tracker(&[("AWS_MAX_ATTEMPTS", "1")])
        .await
        .unwrap();
    let mut finished = false;
    let mut reports: Vec<Value> = Vec::new();
    for _ in 0..120 {
        if let Ok(Outcome::Response(report)) =
            tracker.invoke(json!({"action": "sweep"}), CALL).await
        {
            reports.push(report);
        }
        let states = ledger_states(&stack).await;
        // Completed, smoke-tested and released (each folder is a model of its own).
        if states.len() == 3 && states.iter().all(|(_, s)| s == "Released") {
            finished = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let jobs = stack.emulator.jobs();
    assert!(
        finished,
        "ledger {:?}\njobs {jobs:?}\ndecisions {decisions:?} then {again:?}",
        ledger_states(&stack).await
    );
    assert_eq!(jobs.len(), 3, "one job per model: {jobs:?}");
    assert!(
        jobs.iter().all(|(_, status)| status == "Completed"),
        "{jobs:?}"
    );
    let names: BTreeSet<&str> = jobs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.len(), 3);
    assert_eq!(stack.emulator.imported_models().len(), 3);
    let faults = stack
        .emulator
        .counters()
        .0
        .get("fault")
        .copied()
        .unwrap_or(0);
    assert!(
        faults > 0,
        "no fault was injected: {:?}",
        stack.emulator.counters()
    );
    eprintln!("first delivery: {decisions:?}\nsecond: {again:?}\nfaults: {faults}");
    // The faults reached Ferry: a batch item came back, or a sweep reported an error.
    let handled = decisions
        .iter()
        .chain(&again)
        .any(|d| d.starts_with("redelivered") || d.starts_with("error"))
        || reports
            .iter()
            .any(|r| r["errors"].as_array().is_some_and(|e| !e.is_empty()));
    assert!(handled, "no fault reached Ferry's own handling");
    assert!(
        decisions.contains(&"killed".to_owned()),
        "the crash did not happen mid-batch: {decisions:?}"
    );
}
