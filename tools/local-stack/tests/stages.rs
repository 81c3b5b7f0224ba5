//! Issue 17 end to end, with the real binaries on three hosting accounts (dev, staging,
//! prod): an upload imported and verified in dev is promoted to staging by dev's
//! forwarded event, waits for prod until `ferry promote` (the CLI binary), one job per
//! stage however often and in whatever order the events come; a policy mistake for prod
//! alone blocks prod alone, explained in prod's alert; a crash between a stage's ledger
//! write and its Create loses nothing.

use std::time::Duration;

use ferry_core::import::ImportState;
use ferry_local_lambda::{LocalLambda, Outcome};
use ferry_local_stack::{started_stages as started, LocalStack, Options, HOSTING, PROD, STAGING};
use serde_json::Value;

const CALL: Duration = Duration::from_secs(60);
const MODEL: &str = "llama-stages";

async fn stack() -> LocalStack {
    LocalStack::start(Options {
        stages: true,
        job_duration: Duration::from_millis(200),
        ..Options::default()
    })
    .await
    .unwrap()
}

/// Hands every batch of the upload queue to the importer, then once more reversed
/// (delivery is at least once, in any order); every decision.
async fn deliver(stack: &LocalStack, importer: &mut LocalLambda) -> Vec<Value> {
    let mut batches = Vec::new();
    while let Some(batch) = stack
        .next_upload_batch(Duration::from_millis(300))
        .await
        .unwrap()
    {
        let response = invoke(importer, batch.event.clone()).await;
        stack.acknowledge(&batch, &response).await.unwrap();
        batches.push((batch.event, response));
    }
    let mut decisions = Vec::new();
    for (mut event, response) in batches {
        decisions.extend(
            response["decisions"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
        );
        if let Some(records) = event["Records"].as_array_mut() {
            records.reverse();
        }
        let again = invoke(importer, event).await;
        decisions.extend(again["decisions"].as_array().cloned().unwrap_or_default());
    }
    decisions
}

async fn invoke(importer: &mut LocalLambda, event: Value) -> Value {
    match importer.invoke(event, CALL).await.unwrap() {
        Outcome::Response(response) => {
            assert_eq!(
                response["batchItemFailures"],
                serde_json::json!([]),
                "{response}"
            );
            response
        }
        Outcome::Error(e) => panic!("importer: {e}"),
    }
}

/// Sweeps stage `name` until the model is released, then relays what its account
/// forwarded; the states relayed.
async fn release_and_forward(
    stack: &LocalStack,
    name: &str,
    tracker: &mut LocalLambda,
) -> Vec<String> {
    let stage = stack.stage(name).unwrap();
    stage
        .sweep_until(tracker, MODEL, ImportState::Released)
        .await
        .unwrap();
    let relayed = stack.relay_promotions().await.unwrap();
    relayed
        .iter()
        .map(|e| {
            assert_eq!(e["account"], stage.account.as_str(), "{e}");
            assert_eq!(e["detail"]["stage"], name, "{e}");
            e["detail"]["state"].as_str().unwrap_or("?").to_owned()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_verifies_staging_follows_prod_waits_for_ferry_promote_one_job_each() {
    let stack = stack().await;
    let mut importer = stack
        .start_importer(&[("FERRY_POLICY_CACHE_SECONDS", "0")])
        .await
        .unwrap();
    let mut trackers = Vec::new();
    for name in ["dev", "staging", "prod"] {
        trackers.push(stack.start_stage_tracker(name, &[]).await.unwrap());
    }
    stack.upload_fixture(MODEL, "llama-3.1", 2).await.unwrap();
    let decisions = deliver(&stack, &mut importer).await;
    assert_eq!(started(&decisions), ["dev"], "{decisions:#?}");

    // dev's Verified and Released events both wake the importer, each twice: one job.
    let forwarded = release_and_forward(&stack, "dev", &mut trackers[0]).await;
    assert_eq!(forwarded, ["Verified", "Released"]);
    let decisions = deliver(&stack, &mut importer).await;
    assert_eq!(started(&decisions), ["staging"], "{decisions:#?}");
    assert!(
        decisions.iter().all(|d| d["stage"] != "prod"),
        "prod waits for ferry promote: {decisions:#?}"
    );

    let forwarded = release_and_forward(&stack, "staging", &mut trackers[1]).await;
    assert_eq!(forwarded, ["Verified", "Released"]);
    let decisions = deliver(&stack, &mut importer).await;
    assert_eq!(started(&decisions), Vec::<&str>::new(), "{decisions:#?}");
    assert!(stack.emulator.jobs_in(PROD).is_empty());

    let (code, decision) = stack
        .promote_with_cli(MODEL, "prod", "release train 42")
        .await
        .unwrap();
    assert_eq!(
        (code, started(std::slice::from_ref(&decision))),
        (0, vec!["prod"]),
        "{decision:#}"
    );
    stack
        .stage("prod")
        .unwrap()
        .sweep_until(&mut trackers[2], MODEL, ImportState::Released)
        .await
        .unwrap();
    // Once more: the prod ledger has it.
    let (code, again) = stack
        .promote_with_cli(MODEL, "prod", "again")
        .await
        .unwrap();
    assert_eq!(
        (code, again["decision"].as_str()),
        (0, Some("duplicate")),
        "{again:#}"
    );

    let mut contents = Vec::new();
    for (stage, account) in stack.stages.iter().zip([HOSTING, STAGING, PROD]) {
        assert_eq!(stack.emulator.jobs_in(account).len(), 1, "{}", stage.name);
        assert_eq!(stack.emulator.imported_models_in(account).len(), 1);
        let versions = stage.versions(MODEL).await.unwrap();
        assert_eq!(versions.len(), 1, "{}: {versions:?}", stage.name);
        assert_eq!(versions[0].stage.as_deref(), Some(stage.name.as_str()));
        assert_eq!(versions[0].smoke.passed, Some(true));
        assert!(versions[0]
            .model_arn
            .as_deref()
            .is_some_and(|arn| arn.contains(account)));
        contents.push(versions[0].fingerprint.clone());
    }
    assert!(contents.iter().all(|f| *f == contents[0]), "{contents:?}");
    let prod = stack.stage("prod").unwrap().versions(MODEL).await.unwrap();
    let history = format!("{:?}", prod[0].history);
    assert!(history.contains("release train 42"), "{history}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_mistake_for_prod_alone_blocks_prod_alone_with_its_alert() {
    let stack = stack().await;
    // The research team's bucket policy forgot prod's execution role.
    stack
        .put_bucket_policy_for(&["dev", "staging"])
        .await
        .unwrap();
    let mut importer = stack
        .start_importer(&[("FERRY_POLICY_CACHE_SECONDS", "0")])
        .await
        .unwrap();
    let mut dev = stack.start_stage_tracker("dev", &[]).await.unwrap();
    let mut staging = stack.start_stage_tracker("staging", &[]).await.unwrap();
    stack.upload_fixture(MODEL, "llama-3.1", 1).await.unwrap();
    assert_eq!(started(&deliver(&stack, &mut importer).await), ["dev"]);
    release_and_forward(&stack, "dev", &mut dev).await;
    assert_eq!(started(&deliver(&stack, &mut importer).await), ["staging"]);
    release_and_forward(&stack, "staging", &mut staging).await;

    let (code, decision) = stack
        .promote_with_cli(MODEL, "prod", "release train 43")
        .await
        .unwrap();
    assert_eq!(
        (code, decision["decision"].as_str()),
        (1, Some("access_denied")),
        "{decision:#}"
    );
    assert_eq!(decision["stage"], "prod");
    assert!(stack.emulator.jobs_in(PROD).is_empty());

    let alerts = stack.stage("prod").unwrap().alerts().await.unwrap();
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert!(
        alerts[0].subject.starts_with("Ferry [prod]:"),
        "{alerts:#?}"
    );
    assert!(
        alerts[0].message.contains("s3-list"),
        "{}",
        alerts[0].message
    );
    for name in ["dev", "staging"] {
        let stage = stack.stage(name).unwrap();
        let alerts = stage.alerts().await.unwrap();
        assert!(
            alerts.iter().all(|a| !a.message.contains("denied")),
            "{name}: {alerts:#?}"
        );
        let versions = stage.versions(MODEL).await.unwrap();
        assert_eq!(
            versions.last().map(|i| i.state),
            Some(ImportState::Released),
            "{name}"
        );
    }
    assert_eq!(stack.emulator.jobs_in(HOSTING).len(), 1);
    assert_eq!(stack.emulator.jobs_in(STAGING).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_mid_promotion_loses_nothing_and_the_redelivery_starts_one_job() {
    let stack = stack().await;
    let mut importer = stack
        .start_importer(&[("FERRY_POLICY_CACHE_SECONDS", "0")])
        .await
        .unwrap();
    let mut dev_tracker = stack.start_stage_tracker("dev", &[]).await.unwrap();
    stack.upload_fixture(MODEL, "llama-3.1", 2).await.unwrap();
    assert_eq!(started(&deliver(&stack, &mut importer).await), ["dev"]);
    release_and_forward(&stack, "dev", &mut dev_tracker).await;

    // An importer that dies between staging's ledger write and its Create (Bedrock out
    // of reach): the write stays, the messages are not deleted.
    let mut failing = stack
        .start_importer(&[
            ("FERRY_POLICY_CACHE_SECONDS", "0"),
            ("AWS_ENDPOINT_URL_BEDROCK", "http://127.0.0.1:9"),
        ])
        .await
        .unwrap();
    let batch = stack
        .next_upload_batch(Duration::from_secs(2))
        .await
        .unwrap()
        .expect("the forwarded events");
    match failing.invoke(batch.event.clone(), CALL).await.unwrap() {
        Outcome::Error(_) => {}
        Outcome::Response(r) => assert_ne!(r["batchItemFailures"], serde_json::json!([]), "{r}"),
    }
    let staging = stack.stage("staging").unwrap();
    let items = staging.versions(MODEL).await.unwrap();
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0].state, ImportState::Pending);
    assert!(stack.emulator.jobs_in(STAGING).is_empty());

    // SQS delivers the batch again, to a healthy importer: one job in staging.
    let response = invoke(&mut importer, batch.event).await;
    let decisions = response["decisions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(started(&decisions).contains(&"staging"), "{decisions:#?}");
    assert_eq!(stack.emulator.jobs_in(STAGING).len(), 1);
    assert_eq!(staging.versions(MODEL).await.unwrap().len(), 1);
}
